/* proc: commands run for the cmd: provider, `sh -c COMMAND` with text on
 * standard input and the answer read from standard output, each in its
 * own process group, driven by the caller's poll loop (no threads). */
#ifndef PM_PROC_H
#define PM_PROC_H

#include <stddef.h>

struct http_waitfd;
struct proc;

/* Start `sh -c cmd` with environment envp (NULL-terminated), feeding it
 * input (n bytes).  Its standard error is kept too.  NULL and *errp
 * when it cannot start.  Free with proc_free(). */
struct proc	*proc_start(const char *cmd, const char *input, size_t n,
		    char *const envp[], char **errp);
/* Put the descriptors p waits on into fds (at most 3).  Returns how
 * many. */
unsigned	 proc_fds(const struct proc *p, struct http_waitfd *fds);
/* Move what can be moved without blocking and reap the command once it
 * has exited.  Returns 1 when it is over, else 0. */
int		 proc_step(struct proc *p);
/* What it wrote on standard output and standard error (the last 64 KiB
 * of it), NUL-terminated.  Borrowed. */
const char	*proc_output(const struct proc *p, size_t *n);
const char	*proc_errors(const struct proc *p, size_t *n);
/* Its wait status, once proc_step() said it is over. */
int		 proc_status(const struct proc *p);
/* Seconds since it started. */
double		 proc_seconds(const struct proc *p);
/* Seconds since it last wrote a byte (on either output), or started. */
double		 proc_idle(const struct proc *p);
/* Send sig to its whole process group. */
void		 proc_signal(struct proc *p, int sig);
/* Free p.  A command still running is sent SIGTERM, then SIGKILL if it
 * has not ended within a second, and reaped. */
void		 proc_free(struct proc *p);

#endif
