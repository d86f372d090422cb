#define _GNU_SOURCE
/* Fan-out client for `make bench`: N WebSocket and M SSE clients on one epoll
   loop, recording (CLOCK_REALTIME) when each first receives a marker: for the
   WebSocket "job_started" and "job_completed", for SSE "event: complete".
   Written in C so that the client, not the server, is not what is measured.

   usage: fanout PORT WS_COUNT SSE_COUNT JOB_ID
   prints "connected N", waits for the markers (or 60 s), then one JSON line,
   and keeps every connection open until its standard input closes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { WS = 0, SSE = 1 };
#define MARKERS 2

typedef struct {
    int fd, kind, upgraded;
    char tail[32];          /* the end of the previous read, for markers split across reads */
    size_t tail_len;
    double seen[MARKERS];   /* arrival time of each marker, 0 if not yet */
} client;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *markers[2][MARKERS] = {
    {"\"job_started\"", "\"job_completed\""},
    {"event: complete", NULL},
};

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void scan(client *c, const char *buf, size_t n, double t) {
    char joined[32 + 65536];
    memcpy(joined, c->tail, c->tail_len);
    memcpy(joined + c->tail_len, buf, n);
    size_t total = c->tail_len + n;
    joined[total] = 0;
    for (int m = 0; m < MARKERS; m++) {
        const char *mk = markers[c->kind][m];
        if (mk && c->seen[m] == 0 && memmem(joined, total, mk, strlen(mk))) c->seen[m] = t;
    }
    c->tail_len = total < 31 ? total : 31;
    memcpy(c->tail, joined + total - c->tail_len, c->tail_len);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: fanout PORT WS SSE JOB\n"); return 2; }
    int port = atoi(argv[1]), nws = atoi(argv[2]), nsse = atoi(argv[3]), job = atoi(argv[4]);
    struct rlimit rl = {65536, 65536};
    setrlimit(RLIMIT_NOFILE, &rl);
    int n = nws + nsse;
    client *cs = calloc(n, sizeof *cs);
    int ep = epoll_create1(0);
    char req[512];
    for (int i = 0; i < n; i++) {
        client *c = &cs[i];
        c->kind = i < nws ? WS : SSE;
        c->fd = connect_to(port);
        int len = c->kind == WS
            ? snprintf(req, sizeof req, "GET /ws/queue HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            : snprintf(req, sizeof req, "GET /api/jobs/%d/progress HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", job);
        if (write(c->fd, req, len) != len) { perror("write"); return 1; }
        /* Wait for the response head, so "connected" means served. */
        char head[4096];
        size_t got = 0;
        while (!memmem(head, got, "\r\n\r\n", 4)) {
            ssize_t r = read(c->fd, head + got, sizeof head - got);
            if (r <= 0) { fprintf(stderr, "client %d: no response\n", i); return 1; }
            got += r;
        }
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    }
    printf("connected %d\n", n);
    fflush(stdout);
    struct epoll_event evs[512];
    char buf[65536];
    double deadline = now() + 60;
    int pending = nws * 2 + nsse;
    while (pending > 0 && now() < deadline) {
        int k = epoll_wait(ep, evs, 512, 1000);
        double t = now();
        for (int e = 0; e < k; e++) {
            client *c = &cs[evs[e].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r <= 0) {
                    if (r == 0 || (errno != EAGAIN && errno != EINTR)) { epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL); }
                    break;
                }
                int before = (c->seen[0] != 0) + (c->seen[1] != 0);
                scan(c, buf, (size_t)r, t);
                pending -= (c->seen[0] != 0) + (c->seen[1] != 0) - before;
            }
        }
    }
    printf("{\"ws_started\":[");
    for (int i = 0, first = 1; i < nws; i++) if (cs[i].seen[0]) { printf(first ? "%.6f" : ",%.6f", cs[i].seen[0]); first = 0; }
    printf("],\"ws_completed\":[");
    for (int i = 0, first = 1; i < nws; i++) if (cs[i].seen[1]) { printf(first ? "%.6f" : ",%.6f", cs[i].seen[1]); first = 0; }
    printf("],\"sse_completed\":[");
    for (int i = nws, first = 1; i < n; i++) if (cs[i].seen[0]) { printf(first ? "%.6f" : ",%.6f", cs[i].seen[0]); first = 0; }
    printf("]}\n");
    fflush(stdout);
    /* Stay connected (the driver measures idle CPU) until stdin closes. */
    while (getchar() != EOF) {}
    return 0;
}
