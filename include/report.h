/* report: what a build did and cost, as the summary on stderr and as
 * one JSON object (--json) for CI. */
#ifndef PM_REPORT_H
#define PM_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "cache.h"

/* Tokens and money for one tier. */
struct report_tier {
	char		*tier;		/* owned */
	char		*model;		/* owned: the first model it used */
	struct usage	 usage;
	double		 cost;		/* USD, of the priced requests */
	int		 unknown_cost;	/* a request of unknown price */
	int		 requests;	/* answers: each part of a continued
					 * answer counts; retried attempts do not */
	int		 batched;	/* of those, through a batch */
};

/* Which list a task goes on. */
enum report_list {
	REPORT_FAILED,
	REPORT_SKIPPED,		/* a dependency failed */
	REPORT_UNDONE,		/* never started: stopped or over budget */
	REPORT_INBATCH,		/* waiting in a batch a rerun collects */
	REPORT_NLISTS
};

struct report {
	struct report_tier	 *tiers;	/* owned, in order of use */
	size_t			  ntiers;
	char			 *strong_model;	/* owned, or NULL */
	double			  strong_only;	/* USD on the strong tier */
	int			  strong_unknown;
	/* Counts of the tasks with a prompt. */
	size_t			  ntasks, nasked, ncached, nuptodate;
	double			  budget;	/* USD, or < 0 for none */
	double			  seconds;	/* wall time of the build */
	char			**lists[REPORT_NLISTS];	/* owned copies */
	size_t			  nlists[REPORT_NLISTS];
};

/* An empty report; the strong tier's model (NULL when unknown) prices
 * the "strong tier alone" figure. */
void	report_init(struct report *r, const char *strong_model);
void	report_free(struct report *r);

/* Account one answered request of tier on model: its usage (of whose
 * cache writes write_1h had the 1 h lifetime), priced at the model's
 * rates, halved when it went through a batch.  Returns its cost in USD
 * (0 when the model has no price). */
double	report_add(struct report *r, const char *tier, const char *model,
	    const struct usage *u, long write_1h, int batched);
/* Put task name on a list.  Takes a copy. */
void	report_list(struct report *r, enum report_list which,
	    const char *name);
/* The total cost in USD of the priced requests. */
double	report_total(const struct report *r);

/* The summary, through log_status() (lists through log_error()). */
void	report_print(const struct report *r);
/* Write the report as one JSON object and a newline to f, with the
 * exit status rc.  -1 and *errp when it cannot be written. */
int	report_json(const struct report *r, int rc, FILE *f, char **errp);

#endif
