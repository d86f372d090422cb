#ifndef JOBRUNNER_SUPERVISOR_DESCENDANTS_H
#define JOBRUNNER_SUPERVISOR_DESCENDANTS_H
/* Every process a job started, wherever it went. The supervisor is a child
   subreaper (PR_SET_CHILD_SUBREAPER): a process of the job whose parent dies is
   re-parented to the supervisor, not to init, whatever process group or session
   it moved to (setpgid, setsid, a double-forked daemon). So the job's processes
   are exactly the supervisor's descendants, and while one is alive the
   supervisor has at least one child. */
#include <signal.h>
#include <sys/types.h>

/* Sends `sig` to every live descendant of this process; with `skip_group`
   set, not to those in process group `skip_group` (they got it from a signal
   to the group). Walks /proc (every /proc/PID/stat: its parent and group), as
   /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN. Returns how many
   it signalled, or -1 when /proc cannot be read. */
int signal_descendants(int sig, pid_t skip_group);

/* Kills every descendant with SIGKILL and reaps them all, round after round
   (one that forked between a walk and its kill is caught by the next), until
   the supervisor has no child left: then none of the job's processes is. A
   child's exit status is not kept: reap the command first to learn its own.
   Needs SIGCHLD blocked (it waits for it with sigtimedwait). */
void end_descendants(void);

#endif
