#include "warm.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* What is known of one prefix. */
struct warm_prefix {
	int		  warm;		/* an answer has written the cache */
	struct task	 *warmer;	/* the task writing it, or NULL */
	struct task	**held;		/* owned array, borrowed tasks */
	size_t		  nheld;
};

int
warm_admit(struct warm *w, const char *prefix, struct task *t)
{
	struct warm_prefix *wp;

	if ((wp = smap_get(&w->byprefix, prefix)) == NULL) {
		wp = xcalloc(1, sizeof(*wp));
		smap_put(&w->byprefix, prefix, wp);
	}
	if (wp->warm)
		return WARM_GO;
	if (wp->warmer == NULL || wp->warmer == t) {
		wp->warmer = t;
		return WARM_FIRST;
	}
	wp->held = xreallocarray(wp->held, wp->nheld + 1, sizeof(*wp->held));
	wp->held[wp->nheld++] = t;
	return WARM_HOLD;
}

struct task **
warm_done(struct warm *w, const char *prefix, int ok, size_t *n)
{
	struct warm_prefix *wp;
	struct task **held;

	*n = 0;
	if ((wp = smap_get(&w->byprefix, prefix)) == NULL)
		return NULL;
	wp->warmer = NULL;
	wp->warm = ok;
	held = wp->held;
	*n = wp->nheld;
	wp->held = NULL;
	wp->nheld = 0;
	return held;
}

size_t
warm_held(const struct warm *w)
{
	const struct warm_prefix *wp;
	size_t i, n = 0;

	for (i = 0; i < w->byprefix.cap; i++) {
		if (w->byprefix.ents[i].key == NULL)
			continue;
		wp = w->byprefix.ents[i].val;
		n += wp->nheld;
	}
	return n;
}

void
warm_free(struct warm *w)
{
	struct warm_prefix *wp;
	size_t i;

	for (i = 0; i < w->byprefix.cap; i++) {
		if (w->byprefix.ents[i].key == NULL)
			continue;
		wp = w->byprefix.ents[i].val;
		free(wp->held);
		free(wp);
	}
	smap_free(&w->byprefix);
}
