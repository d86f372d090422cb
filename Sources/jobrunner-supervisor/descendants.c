/* The job's processes, found and ended: see descendants.h. */
#define _GNU_SOURCE
#include "descendants.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct proc {
    pid_t pid, ppid, pgrp;
    char state;
    char mark; /* 0: not known to descend from us; 1: does */
};

static int by_pid(const void *a, const void *b) {
    pid_t x = ((const struct proc *)a)->pid, y = ((const struct proc *)b)->pid;
    return (x > y) - (x < y);
}

/* "PID (COMM) STATE PPID PGRP ...": COMM may hold spaces and parentheses, so
   the fields after it start at the last ')'. */
static int read_stat(pid_t pid, struct proc *p) {
    char path[32], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n;
    do n = read(fd, buf, sizeof buf - 1); while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = 0;
    char *close_paren = strrchr(buf, ')');
    if (!close_paren) return -1;
    char state;
    int ppid, pgrp;
    if (sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) return -1;
    p->pid = pid;
    p->ppid = ppid;
    p->pgrp = pgrp;
    p->state = state;
    p->mark = 0;
    return 0;
}

/* Every process in /proc, sorted by pid, descendants of this one marked.
   Returns the count (*out to free), or -1. */
static int walk(struct proc **out) {
    DIR *dir = opendir("/proc");
    if (!dir) return -1;
    size_t n = 0, cap = 256;
    struct proc *all = malloc(cap * sizeof *all);
    struct dirent *e;
    while (all && (e = readdir(dir)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != 0 || pid <= 0) continue;
        if (n == cap) {
            cap *= 2;
            struct proc *more = realloc(all, cap * sizeof *all);
            if (!more) {
                free(all);
                all = NULL;
                break;
            }
            all = more;
        }
        if (read_stat((pid_t)pid, &all[n]) == 0) n++;
    }
    closedir(dir);
    if (!all) return -1;
    qsort(all, n, sizeof *all, by_pid);
    /* Mark children of marked processes (ourselves first) until nothing
       changes: one pass per generation of the job's tree. */
    pid_t self = getpid();
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (all[i].mark) continue;
            int descends = all[i].ppid == self;
            if (!descends) {
                struct proc key = {.pid = all[i].ppid};
                struct proc *parent = bsearch(&key, all, n, sizeof *all, by_pid);
                descends = parent && parent->mark;
            }
            if (descends) {
                all[i].mark = 1;
                changed = 1;
            }
        }
    }
    *out = all;
    return (int)n;
}

int signal_descendants(int sig, pid_t skip_group) {
    struct proc *all;
    int n = walk(&all);
    if (n < 0) return -1;
    int sent = 0;
    for (int i = 0; i < n; i++) {
        if (!all[i].mark || all[i].state == 'Z' || (skip_group && all[i].pgrp == skip_group)) continue;
        if (kill(all[i].pid, sig) == 0) sent++;
    }
    free(all);
    return sent;
}

/* Reaps every child that has ended; returns 0 once there is no child at all. */
static int reap_ended(void) {
    for (;;) {
        pid_t w = waitpid(-1, NULL, WNOHANG);
        if (w > 0) continue;
        if (w < 0 && errno == EINTR) continue;
        return !(w < 0 && errno == ECHILD);
    }
}

void end_descendants(void) {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    /* No child means no descendant (a live one's chain of parents ends at a
       child of ours): most jobs end here without reading /proc at all. */
    while (reap_ended()) {
        /* Without /proc (not mounted) the job's processes cannot be found:
           what stayed in the job's group goes, the supervisor with it. */
        if (signal_descendants(SIGKILL, 0) < 0) kill(-getpgrp(), SIGKILL);
        const struct timespec tick = {0, 20 * 1000 * 1000};
        sigtimedwait(&chld, NULL, &tick);
    }
}
