/* jobrunner-supervisor: the small program each command job runs under. The
   daemon starts it with posix_spawn (no copy of the daemon's memory), as the
   leader of a new session, stdin /dev/null, the job's stdout, stderr and
   progress pipes as fds 1-3 and its own status pipe as fd 4, every signal
   blocked, and the job's environment. It runs the command and reports how it
   ended: see cprocess_supervise in Sources/CProcess/include/CProcess.h.

   Usage (by jobrunnerd only): jobrunner-supervisor DAEMON-PID DIR PATH ARGV0 [ARG...]
   DIR is the working directory, or "" for the daemon's. */
#define _GNU_SOURCE
#include <stdlib.h>
#include "../CProcess/include/CProcess.h"

int main(int argc, char **argv, char **envp) {
    if (argc < 5) {
        static const char usage[] = "jobrunner-supervisor is started by jobrunnerd for each command job\n";
        cprocess_write_all(2, usage, sizeof usage - 1);
        return 127;
    }
    pid_t daemon = (pid_t)strtol(argv[1], NULL, 10);
    const char *cwd = argv[2][0] ? argv[2] : NULL;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    cprocess_supervise(daemon, argv[3], argv + 4, envp, cwd, &all);
    return 127;
}
