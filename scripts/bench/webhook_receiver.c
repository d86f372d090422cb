/* A webhook receiver for `bench webhooks`: libmicrohttpd, answers every POST with
   204 and counts them; `GET /count` answers the count and the monotonic times
   (seconds) of the first and last POST, as JSON. Usage: webhook_receiver THREADS [PORT]. */
#include <microhttpd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_long received;
static _Atomic double first_at, last_at;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls) {
    (void)cls; (void)version; (void)upload_data; (void)url;
    static int marker;
    if (*req_cls == NULL) {
        *req_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { *upload_data_size = 0; return MHD_YES; }
    struct MHD_Response *response;
    unsigned int status;
    if (strcmp(method, "POST") == 0) {
        double t = now();
        if (atomic_fetch_add(&received, 1) == 0) first_at = t;
        last_at = t;
        response = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NO_CONTENT;
    } else {
        char *body = malloc(128);
        int n = snprintf(body, 128, "{\"count\":%ld,\"first\":%.6f,\"last\":%.6f}", atomic_load(&received),
                         (double)first_at, (double)last_at);
        response = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_FREE);
        status = MHD_HTTP_OK;
    }
    enum MHD_Result ret = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return ret;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s THREADS [PORT]\n", argv[0]);
        return 2;
    }
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
                                            (uint16_t)(argc > 2 ? atoi(argv[2]) : 0), NULL, NULL, &handler, NULL,
                                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)atoi(argv[1]),
                                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024,
                                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    if (!d) { perror("MHD_start_daemon"); return 1; }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("listening on port %u\n", info ? info->port : 0);
    fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
