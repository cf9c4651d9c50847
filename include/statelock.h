/* statelock: one planmake at a time writes a plan's state.  The writer
 * holds flock(2) on .planmake/lock, which names its pid. */
#ifndef PM_STATELOCK_H
#define PM_STATELOCK_H

struct statelock;

/* Called once when another planmake holds the lock and this one waits:
 * pid is the holder's (0 when it cannot be told). */
typedef void	(*statelock_wait_fn)(long pid, const char *path, void *arg);

/* Take the lock of statedir (creating the directory), waiting for the
 * holder unless nowait is set.  NULL and *errp on failure, or at once
 * with nowait when another planmake (named by its pid) holds it. */
struct statelock	*statelock_take(const char *statedir, int nowait,
			    statelock_wait_fn waiting, void *arg, char **errp);

/* The pid the lock file named when l was taken: that of a planmake
 * that was killed while it held the lock, or 0 after a clean end. */
long			 statelock_previous(const struct statelock *l);

/* Let go of the lock.  NULL is a no-op. */
void			 statelock_release(struct statelock *l);

#endif
