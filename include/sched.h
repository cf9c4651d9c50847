/* sched: the build.  Decides what is stale, answers from the lock and
 * the cache where it can, and keeps up to -j requests in flight on one
 * event loop. */
#ifndef PM_SCHED_H
#define PM_SCHED_H

#include <stddef.h>

struct dag;
struct plan;

struct sched_opts {
	int		 jobs;		/* -j: requests in flight */
	int		 keep_going;	/* -k */
	int		 dry_run;	/* -n */
	int		 question;	/* -q */
	int		 always;	/* -B: ignore the lock */
	int		 offline;	/* a cache miss is an error */
	int		 refresh;	/* ignore the cache, replace entries */
	int		 json;		/* --json: the report on stdout */
	double		 budget;	/* --budget USD, or < 0 */
	int		 batch;		/* --batch: the cheap tier in batches */
	int		 nowait;	/* --no-wait: fail if another writes */
	int		 explain;	/* -t explain: say why, with -n */
	char *const	*force;		/* --force=TARGET: may overwrite */
	size_t		  nforce;
	const char	*lockfile;	/* planmake.lock */
	const char	*statedir;	/* .planmake */
};

/* Bring the selected tasks of d up to date.  Returns the exit status:
 * 0 built or up to date, 1 a task failed (or with -q, something is
 * stale), 2 nothing could start (no credentials, unreadable lock),
 * 130 interrupted. */
int	sched_run(struct plan *p, struct dag *d, const struct sched_opts *o);

#endif
