#ifndef JOBRUNNER_SUPERVISOR_CGROUP_H
#define JOBRUNNER_SUPERVISOR_CGROUP_H
#include <sys/types.h>
/* The job's own cgroup (v2), where the daemon has a delegated one (its own
   cgroup writable, e.g. systemd's Delegate=yes): PARENT/job-DAEMON-SUPERVISOR
   (the daemon's pid and the supervisor's: daemons sharing a cgroup keep to
   their own).
   The command is moved into it as it starts, its processes are born in it
   whatever group or session they move to, and cgroup.kill ends them all in
   one write, with no fork racing the kill. (The job's user may move its own
   processes elsewhere in the daemon's cgroup: the subreaper still finds
   them.) The supervisor stays outside (it must live to reap them and
   report). Each call does nothing when there is no such cgroup: the
   subreaper (descendants.h) works alone. */

/* Creates the job's cgroup under `parent` ("" or NULL: none) for the daemon
   `daemon`. Returns 0, or -1 when it cannot be created or used (then there is
   none). */
int job_cgroup_create(const char *parent, pid_t daemon);

/* Moves the calling process into it: for the command's vfork child before
   exec (one write(2)). */
void job_cgroup_enter(void);

/* SIGKILL to every process in it (cgroup.kill, Linux 5.14+). */
void job_cgroup_kill(void);

/* Removes it once empty (after the job's processes are reaped). */
void job_cgroup_remove(void);

#endif
