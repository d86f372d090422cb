#ifndef CPROCESS_SHIM_H
#define CPROCESS_SHIM_H
/* Starting a job's process safely from a multi-threaded daemon. Between fork and
   exec only async-signal-safe system calls may run, so that part is C, not
   Swift: Swift's runtime may hold locks that a forked child would never see
   released. Everything else about running jobs is in Sources/ProcessRunner,
   and the supervisor each job runs under in Sources/jobrunner-supervisor
   (which shares the status codes and cprocess_write_all below). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the supervisor reports on its status pipe (two int32s): how the command
   ended (exit status, signal), or why it never started (with the errno). */
enum { CPROCESS_EXITED = 1, CPROCESS_SIGNALED = 2, CPROCESS_EXEC_FAILED = 3, CPROCESS_CHDIR_FAILED = 4 };

int pipe2(int pipefd[2], int flags);

static inline void cprocess_write_all(int fd, const void *buf, size_t n) {
    const char *p = (const char *)buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* Not declared without _GNU_SOURCE (glibc 2.26 and 2.34 have them). */
#ifndef POSIX_SPAWN_SETSID
#define POSIX_SPAWN_SETSID 0x80
#endif
int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

/* Starts the supervisor program of one job with posix_spawn (glibc's uses
   CLONE_VM|CLONE_VFORK: the daemon's memory is neither copied nor shared
   copy-on-write afterwards). The child gets stdin from /dev/null, `out`, `err`
   and `progress` as fds 1, 2 and 3, `status` as fd 4 and nothing else of the
   daemon's; its own session; every signal blocked and at its default. Call it
   from a thread that lives as long as the daemon: the supervisor's death
   signal follows the thread that started it. Returns the pid, or -errno. */
static inline pid_t cprocess_spawn_supervisor(const char *supervisor, char *const argv[], char *const envp[],
                                              int out, int err, int progress, int status) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return -rc;
    rc = posix_spawnattr_init(&attributes);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return -rc;
    }
    /* Each pipe first to a number above all four (so moving one never
       overwrites another still to be moved, however many descriptors the
       daemon has open), then into place; then the rest go. */
    int fds[4] = {out, err, progress, status};
    int high = 5;
    for (int i = 0; i < 4; i++) if (fds[i] >= high) high = fds[i] + 1;
    for (int i = 0; i < 4 && rc == 0; i++) rc = posix_spawn_file_actions_adddup2(&actions, fds[i], high + i);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    for (int i = 0; i < 4 && rc == 0; i++) rc = posix_spawn_file_actions_adddup2(&actions, high + i, i + 1);
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 5);
    sigset_t all;
    sigfillset(&all);
    /* Default dispositions for every signal (the daemon ignores SIGPIPE);
       SIGKILL and SIGSTOP cannot be named. */
    sigset_t defaults;
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attributes, &all);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (rc == 0) rc = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = 0;
    if (rc == 0) rc = posix_spawn(&pid, supervisor, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return rc == 0 ? pid : -rc;
}

/* pipe2 needs _GNU_SOURCE, which Swift's Glibc module is not built with. */
int pipe2(int pipefd[2], int flags);
static inline int cprocess_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

/* memrchr needs _GNU_SOURCE too. */
void *memrchr(const void *s, int c, size_t n);

/* pidfd_open has no glibc wrapper on Debian 12. */
static inline int cprocess_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

#endif
