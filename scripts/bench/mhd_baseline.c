/* The limit of our HTTP layer: a minimal C server on libmicrohttpd, started with
   the daemon's flags, answering the bench's GET requests with the same bytes as
   jobrunnerd (given on the command line). JobRunner's figures are reported as a
   ratio of this one's. */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *stats_body;
static const char *job_body;

static enum MHD_Result handler(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls) {
    (void)cls; (void)version; (void)upload_data; (void)method;
    static int marker;
    if (*req_cls == NULL) { /* first call: headers only, as the daemon does */
        *req_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { *upload_data_size = 0; return MHD_YES; }
    const char *body = strcmp(url, "/api/stats") == 0 ? stats_body : job_body;
    size_t len = strlen(body);
    char *copy = malloc(len);
    memcpy(copy, body, len);
    struct MHD_Response *response = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(response, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
    MHD_destroy_response(response);
    return ret;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s PORT THREADS STATS_JSON JOB_JSON\n", argv[0]);
        return 2;
    }
    stats_body = argv[3];
    job_body = argv[4];
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE,
        (uint16_t)atoi(argv[1]), NULL, NULL, &handler, NULL,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)atoi(argv[2]),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)4096,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
        MHD_OPTION_END);
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
