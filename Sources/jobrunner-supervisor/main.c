/* jobrunner-supervisor: the small program each command job runs under. The
   daemon starts it with posix_spawn (no copy of the daemon's memory), as the
   leader of a new session, stdin /dev/null, the job's stdout, stderr and
   progress pipes as fds 1-3 and its own status pipe as fd 4, every signal
   blocked, and the job's environment.

   It runs the command as its child, reports how it ended on fd 4 (two int32s,
   see CPROCESS_EXITED and the rest in Sources/CProcess/include/CProcess.h),
   and exits only once every process the job started is gone (descendants.h):
   the daemon takes its exit as the job's end. What it does on each signal
   (all are blocked and taken with sigwaitinfo):
   - SIGTERM, SIGINT, SIGHUP: a stop. Sent by the daemon to the job's process
     group, they reach the command and what stayed in the group; the
     supervisor passes them on to the job's processes that left the group
     (setpgid, setsid, daemons). After a stop, processes left when the command
     ends get the rest of the kill grace to finish.
   - SIGUSR2: the kill grace is over (from the daemon): SIGKILL to every
     process of the job.
   - SIGUSR1: the daemon died (PR_SET_PDEATHSIG; kill -9 included): SIGKILL to
     every process of the job, no report.
   - SIGCHLD: the command ended: report, then SIGKILL to whatever it left
     running (unless a stop came: see above); or an orphan of the job ended.

   Usage (by jobrunnerd only):
     jobrunner-supervisor DAEMON-PID CGROUP DIR PATH ARGV0 [ARG...]
   CGROUP is the daemon's delegated cgroup v2 directory to make the job's own
   cgroup in (cgroup.h), or "" for none; DIR is the working directory, or ""
   for the daemon's. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include "../CProcess/include/CProcess.h"
#include "cgroup.h"
#include "descendants.h"

/* The command's end (or why it did not start) to the daemon. fd 4 stays open
   until the supervisor exits: without pidfds (Linux before 5.3) the daemon
   takes its end of file for the exit, which comes only once the job's last
   process is gone. */
static void report(int32_t kind, int32_t value) {
    int32_t status[2] = {kind, value};
    cprocess_write_all(4, status, sizeof status);
}

/* Every signal at its default and none blocked, for the command. glibc's
   signal() and sigaction() refuse its two internal signals (32 and 33), which
   its posix_spawn leaves ignored in the supervisor and which exec would pass
   on ignored: the kernel is asked directly. A zeroed kernel sigaction is
   SIG_DFL with no flags and an empty mask on every architecture. Only system
   calls: this runs in the vfork child. */
static void default_signals(void) {
    unsigned long action[8] = {0};
    for (int s = 1; s < _NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) syscall(SYS_rt_sigaction, s, action, NULL, (_NSIG - 1) / 8);
    }
    unsigned long none[4] = {0};
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, none, NULL, (_NSIG - 1) / 8);
}

/* Ends every process of the job, reaps them and removes the job's cgroup. */
static void end_all(void) {
    job_cgroup_kill();
    end_descendants();
    job_cgroup_remove();
}

/* Runs the command; returns its pid, or reports why it could not start and
   ends (with the job's processes, which are none). */
static pid_t start(const char *path, char *const argv[], char *const envp[], const char *cwd) {
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
        report(CPROCESS_EXEC_FAILED, EAGAIN);
        job_cgroup_remove();
        _exit(127);
    }
    if (child == 0) {
        close(4);
        close(failed[0]);
        default_signals();
        job_cgroup_enter();
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
        report(why[0], why[1]);
        end_all();
        _exit(127);
    }
    return child;
}

static int is_stop(int s) {
    return s == SIGTERM || s == SIGINT || s == SIGHUP;
}

int main(int argc, char **argv, char **envp) {
    if (argc < 6) {
        static const char usage[] = "jobrunner-supervisor is started by jobrunnerd for each command job\n";
        cprocess_write_all(2, usage, sizeof usage - 1);
        return 127;
    }
    pid_t daemon = (pid_t)strtol(argv[1], NULL, 10);
    const char *cwd = argv[3][0] ? argv[3] : NULL;
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0 || getppid() != daemon) _exit(127);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) _exit(127);
    job_cgroup_create(argv[2], daemon);
    pid_t child = start(argv[4], argv + 5, envp, cwd);
    pid_t group = getpgrp();
    /* A stop sent to the group before the command existed (a job cancelled or
       timed out as it starts) reached only the supervisor, where it waits
       blocked: pass it on, or the command runs on until SIGKILL. One sent
       after the fork reached the command too, which may then see it twice. */
    int stopping = 0;
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    const struct timespec now = {0, 0};
    for (int s; (s = sigtimedwait(&stops, NULL, &now)) > 0;) {
        kill(child, s);
        stopping = 1;
    }
    int ended = 0; /* the command has ended and its end is reported */
    for (;;) {
        siginfo_t info;
        int s = sigwaitinfo(&all, &info);
        if (s == SIGUSR1) {
            end_all();
            _exit(137);
        }
        if (s == SIGUSR2) {
            if (ended) break;
            /* The command's end is reported as it is reaped (SIGCHLD). */
            job_cgroup_kill();
            signal_descendants(SIGKILL, 0);
            stopping = 0;
            continue;
        }
        if (is_stop(s)) {
            stopping = 1;
            signal_descendants(s, group);
            continue;
        }
        if (s != SIGCHLD) continue;
        int st;
        pid_t w;
        int children = 1;
        for (;;) {
            w = waitpid(-1, &st, WNOHANG);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            if (w != child) continue;
            if (WIFEXITED(st)) report(CPROCESS_EXITED, WEXITSTATUS(st));
            else report(CPROCESS_SIGNALED, WTERMSIG(st));
            ended = 1;
        }
        if (w < 0 && errno == ECHILD) children = 0;
        /* The command's end: what it left goes at once, unless a stop came
           (then they have until SIGUSR2, or go by themselves). */
        if (ended && (!stopping || !children)) break;
    }
    end_all();
    return 0;
}
