#include "prio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dag.h"
#include "util.h"

#define DURATIONS_HEADER	"# planmake durations 1\n"

void
prio_durations_load(struct prio_durations *pd, const char *path)
{
	struct buf b = { 0 };
	char *err = NULL, *line, *next, *end, *tab, *tab2;
	double sec;
	long out;

	if (file_read(path, &b, &err) == -1) {
		free(err);	/* none yet: every task is estimated */
		return;
	}
	for (line = b.data; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '#' || (tab = strchr(line, '\t')) == NULL ||
		    (tab2 = strchr(tab + 1, '\t')) == NULL || tab2[1] == '\0')
			continue;
		sec = strtod(line, &end);
		if (end != tab || sec < 0)
			continue;
		out = strtol(tab + 1, &end, 10);
		if (end != tab2 || out < 0)
			continue;
		prio_durations_set(pd, tab2 + 1, sec, out);
	}
	pd->dirty = 0;
	buf_free(&b);
}

const struct prio_record *
prio_durations_get(const struct prio_durations *pd, const char *name)
{
	return smap_get(&pd->byname, name);
}

void
prio_durations_set(struct prio_durations *pd, const char *name,
    double seconds, long out)
{
	struct prio_record *r;

	if ((r = smap_get(&pd->byname, name)) == NULL) {
		r = xcalloc(1, sizeof(*r));
		smap_put(&pd->byname, name, r);
	}
	r->seconds = seconds;
	r->out = out;
	pd->dirty = 1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
prio_durations_save(struct prio_durations *pd, const char *path, char **errp)
{
	const struct prio_record *r;
	struct buf b = { 0 };
	char **names;
	size_t i, n = 0;
	int rc;

	if (!pd->dirty)
		return 0;
	names = xcalloc(pd->byname.len + 1, sizeof(*names));
	for (i = 0; i < pd->byname.cap; i++)
		if (pd->byname.ents[i].key != NULL &&
		    strpbrk(pd->byname.ents[i].key, "\t\n") == NULL)
			names[n++] = pd->byname.ents[i].key;
	qsort(names, n, sizeof(*names), cmp_str);
	buf_addstr(&b, DURATIONS_HEADER);
	for (i = 0; i < n; i++) {
		r = smap_get(&pd->byname, names[i]);
		buf_printf(&b, "%.3f\t%ld\t%s\n", r->seconds, r->out, names[i]);
	}
	free(names);
	rc = file_write_atomic(path, b.data, b.len, 0, errp);
	buf_free(&b);
	if (rc == 0)
		pd->dirty = 0;
	return rc;
}

void
prio_durations_free(struct prio_durations *pd)
{
	size_t i;

	for (i = 0; i < pd->byname.cap; i++)
		if (pd->byname.ents[i].key != NULL)
			free(pd->byname.ents[i].val);
	smap_free(&pd->byname);
	memset(pd, 0, sizeof(*pd));
}

double
prio_weight(const struct prio_durations *pd, const char *name,
    long max_tokens)
{
	const struct prio_record *r;

	if ((r = prio_durations_get(pd, name)) != NULL && r->seconds > 0)
		return r->seconds;
	if (r != NULL && r->out > 0)
		return PRIO_LATENCY + r->out / PRIO_TOKENS_PER_SEC;
	return PRIO_LATENCY + max_tokens / 4 / PRIO_TOKENS_PER_SEC;
}

void
prio_compute(const struct dag *d, const double *weight, double *prio)
{
	const struct task *t;
	double most;
	size_t i, k;

	/* d->order has dependencies first: walk it backwards, so every
	 * dependent is done before the tasks it depends on. */
	for (i = d->norder; i-- > 0; ) {
		t = d->order[i];
		most = 0;
		for (k = 0; k < t->nrdeps; k++)
			if (t->rdeps[k]->needed &&
			    prio[t->rdeps[k]->id] > most)
				most = prio[t->rdeps[k]->id];
		prio[t->id] = weight[t->id] + most;
	}
}

/* Whether a goes before b: a higher priority, or an equal one and an
 * earlier place in the plan. */
static int
heap_before(const struct prio_heap *h, const struct task *a,
    const struct task *b)
{
	if (h->prio[a->id] != h->prio[b->id])
		return h->prio[a->id] > h->prio[b->id];
	return a->id < b->id;
}

void
prio_heap_init(struct prio_heap *h, size_t cap, const double *prio)
{
	h->v = xcalloc(cap + 1, sizeof(*h->v));
	h->len = 0;
	h->cap = cap + 1;
	h->prio = prio;
}

void
prio_heap_push(struct prio_heap *h, struct task *t)
{
	size_t i, up;

	if (h->len == h->cap) {
		h->cap *= 2;
		h->v = xreallocarray(h->v, h->cap, sizeof(*h->v));
	}
	for (i = h->len++; i > 0; i = up) {
		up = (i - 1) / 2;
		if (!heap_before(h, t, h->v[up]))
			break;
		h->v[i] = h->v[up];
	}
	h->v[i] = t;
}

struct task *
prio_heap_pop(struct prio_heap *h)
{
	struct task *top, *last;
	size_t i, c;

	if (h->len == 0)
		return NULL;
	top = h->v[0];
	last = h->v[--h->len];
	for (i = 0; (c = 2 * i + 1) < h->len; i = c) {
		if (c + 1 < h->len && heap_before(h, h->v[c + 1], h->v[c]))
			c++;
		if (!heap_before(h, h->v[c], last))
			break;
		h->v[i] = h->v[c];
	}
	if (h->len > 0)
		h->v[i] = last;
	return top;
}

void
prio_heap_free(struct prio_heap *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}
