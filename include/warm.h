/* warm: prompt-cache warm-up.  Of the requests that share a cached
 * prefix, the first goes alone and the others wait until it has been
 * answered, so they read the cache at the cached price instead of each
 * paying to write it. */
#ifndef PM_WARM_H
#define PM_WARM_H

#include <stddef.h>

#include "util.h"

struct task;

struct warm {
	struct smap	 byprefix;	/* prefix hash -> struct warm_prefix * */
};

/* What warm_admit() says. */
enum warm_verdict {
	WARM_HOLD,		/* wait: another request is writing it */
	WARM_GO,		/* start: the cache is warm */
	WARM_FIRST		/* start alone: this request writes it */
};

/* Whether a task whose request has prefix (its hash) may start (enum
 * warm_verdict).  A held task is kept until warm_done(). */
int		 warm_admit(struct warm *w, const char *prefix, struct task *t);
/* The request warming prefix has ended: the prefix is warm when ok, and
 * cold again (the next task warms it) when not.  Returns the tasks held
 * for it, in the order they came, and their number in *n; the caller
 * frees the array. */
struct task	**warm_done(struct warm *w, const char *prefix, int ok,
		    size_t *n);
/* The number of tasks held. */
size_t		 warm_held(const struct warm *w);
void		 warm_free(struct warm *w);

#endif
