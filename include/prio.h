/* prio: which ready task to start first.  Each task's priority is the
 * length, in expected seconds, of the longest chain of work still behind
 * it, itself included (its critical path).  The ready queue is a binary
 * heap on that priority, ties broken by plan order. */
#ifndef PM_PRIO_H
#define PM_PRIO_H

#include <stddef.h>

#include "util.h"

struct dag;
struct task;

/* The rough model of an unknown task's duration: a fixed latency plus
 * its expected output at a fixed rate. */
#define PRIO_LATENCY		1.0	/* seconds before the first token */
#define PRIO_TOKENS_PER_SEC	100.0	/* output tokens per second */

/* What was recorded of a task's last request. */
struct prio_record {
	double	 seconds;	/* how long its answer took */
	long	 out;		/* output tokens of that answer */
};

/* The durations of the tasks' last requests, by task name, kept in
 * .planmake/durations between runs. */
struct prio_durations {
	struct smap	 byname;	/* name -> struct prio_record *, owned */
	int		 dirty;
};

/* Read the durations file at path into pd (zeroed by the caller).  A
 * missing file is empty; a malformed line is skipped. */
void	prio_durations_load(struct prio_durations *pd, const char *path);
/* The record of task name, or NULL.  Borrowed. */
const struct prio_record *prio_durations_get(const struct prio_durations *pd,
	    const char *name);
/* Record that name's request took seconds and answered out tokens. */
void	prio_durations_set(struct prio_durations *pd, const char *name,
	    double seconds, long out);
/* Write the file, sorted by name, when something changed.  -1 and *errp
 * on failure. */
int	prio_durations_save(struct prio_durations *pd, const char *path,
	    char **errp);
void	prio_durations_free(struct prio_durations *pd);

/* The expected seconds of a request for a task named name whose answer
 * may be max_tokens long: its recorded duration when there is one, else
 * PRIO_LATENCY plus its last output (or a quarter of max_tokens) at
 * PRIO_TOKENS_PER_SEC. */
double	prio_weight(const struct prio_durations *pd, const char *name,
	    long max_tokens);

/* Fill prio[t->id] for every needed task of d (d->order must be filled):
 * weight[t->id] plus the largest prio of the needed tasks that depend on
 * it.  Both arrays have d->ntasks elements; others are left alone. */
void	prio_compute(const struct dag *d, const double *weight, double *prio);

/* A max-heap of tasks on a priority array indexed by task id. */
struct prio_heap {
	struct task	**v;		/* owned array, borrowed tasks */
	size_t		  len;
	size_t		  cap;
	const double	 *prio;		/* borrowed, by task id */
};

/* An empty heap of room for cap tasks, ordered by prio. */
void		 prio_heap_init(struct prio_heap *h, size_t cap,
		    const double *prio);
void		 prio_heap_push(struct prio_heap *h, struct task *t);
/* The task of the highest priority (the lowest id among equals), taken
 * off the heap; NULL when it is empty. */
struct task	*prio_heap_pop(struct prio_heap *h);
void		 prio_heap_free(struct prio_heap *h);

#endif
