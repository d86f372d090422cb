/* The job's own cgroup: see cgroup.h. */
#define _GNU_SOURCE
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char path[PATH_MAX];
static int procs = -1;    /* its cgroup.procs, open for writing */
static int killer = -1;   /* its cgroup.kill, open for writing */

int job_cgroup_create(const char *parent, pid_t daemon) {
    if (!parent || !parent[0]) return -1;
    int n = snprintf(path, sizeof path, "%s/job-%d-%d", parent, (int)daemon, (int)getpid());
    if (n <= 0 || (size_t)n >= sizeof path) return -1;
    /* A leftover of an earlier job with this pid (its supervisor was killed)
       is taken over: it holds nothing of a living job. */
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        procs = openat(dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        killer = openat(dir, "cgroup.kill", O_WRONLY | O_CLOEXEC);
        close(dir);
    }
    if (procs < 0 || killer < 0) {
        if (procs >= 0) close(procs);
        if (killer >= 0) close(killer);
        procs = killer = -1;
        rmdir(path);
        return -1;
    }
    return 0;
}

void job_cgroup_enter(void) {
    if (procs >= 0) (void)!write(procs, "0", 1);
}

void job_cgroup_kill(void) {
    if (killer >= 0) (void)!write(killer, "1", 1);
}

void job_cgroup_remove(void) {
    if (procs < 0) return;
    close(procs);
    close(killer);
    procs = killer = -1;
    /* The kernel may count a process that was just reaped a moment longer. */
    for (int i = 0; i < 50 && rmdir(path) != 0 && errno == EBUSY; i++) {
        const struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}
