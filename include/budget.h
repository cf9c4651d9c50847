/* budget: --budget USD.  Each request's worst case is reserved before
 * it starts and settled at its real cost when it ends, so what is spent
 * and in flight never exceeds the budget. */
#ifndef PM_BUDGET_H
#define PM_BUDGET_H

#include <stddef.h>

/* Bytes per token assumed for the worst case: fewer than the usual 4,
 * so code and non-English text are not underestimated. */
#define BUDGET_BYTES_PER_TOKEN	3
/* What a request through the Message Batches API costs against one
 * sent alone. */
#define BUDGET_BATCH_FACTOR	0.5

struct budget {
	double	 limit;		/* USD; < 0 for no budget */
	double	 spent;		/* USD, of the requests answered */
	double	 inflight;	/* USD, worst cases reserved */
};

/* The most a request of bytes (its body) asking for up to max_tokens
 * can cost on model: every input token at the input rate, or at the
 * cache-write rate when cached is set, and max_tokens of output; halved
 * when batched.  -1 when model has no price. */
double	budget_worst(const char *model, size_t bytes, long max_tokens,
	    int cached, int batched);
/* Reserve worst (USD) when spent, in flight and worst fit the limit:
 * returns 1; else reserves nothing and returns 0.  Always 1 without a
 * limit. */
int	budget_admit(struct budget *b, double worst);
/* A request reserved at worst ended having cost actual (USD). */
void	budget_settle(struct budget *b, double worst, double actual);

#endif
