#ifndef CPROCESS_SHIM_H
#define CPROCESS_SHIM_H
/* Starting a job's process safely from a multi-threaded daemon. Between fork and
   exec only async-signal-safe system calls may run, so that part is C, not
   Swift: Swift's runtime may hold locks that a forked child would never see
   released. Everything else about running jobs is in Sources/ProcessRunner. */
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

/* What the supervisor reports on its status pipe: how the command ended, or
   why it never started (with the errno). */
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

/* The supervisor: leader of the job's own session and process group, it runs the
   command as its child and
   - when the daemon dies (PR_SET_PDEATHSIG; kill -9 included) kills the whole
     group, so no process of the job outlives the daemon;
   - when the command ends, reports how on fd 4 and then kills what is left of
     the group (background processes the job forgot), itself included.
   SIGTERM/SIGINT/SIGHUP sent to the group reach the command (one sent before
   the command was started is passed on to it); the supervisor ignores them
   (they are blocked and consumed here). Never returns. */
static inline void cprocess_supervise(pid_t daemon, const char *path, char *const argv[],
                                      char *const envp[], const char *cwd, sigset_t *all) {
    if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0 || getppid() != daemon) _exit(127);
    /* The command's exec failure comes back on this pipe; a successful exec
       closes it (O_CLOEXEC), which the supervisor reads as end of file. */
    int failed[2];
    if (pipe2(failed, O_CLOEXEC) != 0) _exit(127);
    /* vfork: the supervisor is single-threaded and the child only resets its
       signals, changes directory and execs (each safe in a vfork child, which
       has its own descriptor table, signal table and working directory), so the
       page tables are not copied a second time for every job. */
    pid_t child = vfork();
    if (child < 0) {
        static const char msg[] = "jobrunnerd: cannot fork the job's process\n";
        cprocess_write_all(2, msg, sizeof msg - 1);
        int32_t status[2] = {CPROCESS_EXEC_FAILED, EAGAIN};
        cprocess_write_all(4, status, sizeof status);
        _exit(127);
    }
    if (child == 0) {
        close(4);
        close(failed[0]);
        for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (cwd && chdir(cwd) != 0) {
            int32_t why[2] = {CPROCESS_CHDIR_FAILED, errno};
            cprocess_write_all(failed[1], why, sizeof why);
            _exit(127);
        }
        execve(path, argv, envp);
        int32_t why[2] = {CPROCESS_EXEC_FAILED, errno};
        cprocess_write_all(failed[1], why, sizeof why);
        _exit(127);
    }
    close(failed[1]);
    int32_t why[2];
    ssize_t got;
    do got = read(failed[0], why, sizeof why); while (got < 0 && errno == EINTR);
    close(failed[0]);
    if (got == (ssize_t)sizeof why) {
        cprocess_write_all(4, why, sizeof why);
        close(4);
        kill(-getpid(), SIGKILL);
        _exit(127);
    }
    /* A stop sent to the group before the command existed (a job cancelled or
       timed out as it starts) reached only the supervisor, where it waits
       blocked: pass it on, or the command runs on until SIGKILL. One sent
       after the fork reached the command too, which may then see it twice. */
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    const struct timespec now = {0, 0};
    for (int s; (s = sigtimedwait(&stops, NULL, &now)) > 0;) kill(child, s);
    /* The command's end, reported once; then the rest of the group goes. */
    for (;;) {
        siginfo_t info;
        int s = sigwaitinfo(all, &info);
        if (s == SIGUSR1) {
            kill(-getpid(), SIGKILL);
            _exit(137);
        }
        if (s != SIGCHLD) continue;
        int st;
        pid_t w;
        while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
            if (w != child) continue;
            int32_t status[2];
            if (WIFEXITED(st)) {
                status[0] = CPROCESS_EXITED;
                status[1] = WEXITSTATUS(st);
            } else {
                status[0] = CPROCESS_SIGNALED;
                status[1] = WTERMSIG(st);
            }
            cprocess_write_all(4, status, sizeof status);
            close(4);
            kill(-getpid(), SIGKILL);
            _exit(0);
        }
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
