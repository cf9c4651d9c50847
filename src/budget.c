#include "budget.h"

#include "cache.h"
#include "provider.h"

double
budget_worst(const char *model, size_t bytes, long max_tokens, int cached,
    int batched)
{
	struct usage u = { 0 };
	long in;
	double c;

	in = (long)((bytes + BUDGET_BYTES_PER_TOKEN - 1) /
	    BUDGET_BYTES_PER_TOKEN);
	if (cached)
		u.cache_write = in;
	else
		u.in = in;
	u.out = max_tokens;
	if ((c = provider_cost(model, &u, 0)) < 0)
		return -1;
	return batched ? c * BUDGET_BATCH_FACTOR : c;
}

int
budget_admit(struct budget *b, double worst)
{
	if (worst < 0)
		worst = 0;
	if (b->limit >= 0 && b->spent + b->inflight + worst > b->limit + 1e-12)
		return 0;
	b->inflight += worst;
	return 1;
}

void
budget_settle(struct budget *b, double worst, double actual)
{
	if (worst > 0)
		b->inflight -= worst;
	if (b->inflight < 1e-12)
		b->inflight = 0;
	if (actual > 0)
		b->spent += actual;
}
