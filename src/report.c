#include "report.h"

#include <sys/resource.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "budget.h"
#include "log.h"
#include "provider.h"
#include "util.h"

static const char *const list_names[REPORT_NLISTS] = {
	"failed", "skipped", "undone", "in_batch"
};

void
report_init(struct report *r, const char *strong_model)
{
	memset(r, 0, sizeof(*r));
	r->budget = -1;
	if (strong_model != NULL)
		r->strong_model = xstrdup(strong_model);
}

void
report_free(struct report *r)
{
	size_t i, k;

	for (i = 0; i < r->ntiers; i++) {
		free(r->tiers[i].tier);
		free(r->tiers[i].model);
	}
	free(r->tiers);
	free(r->strong_model);
	for (k = 0; k < REPORT_NLISTS; k++) {
		for (i = 0; i < r->nlists[k]; i++)
			free(r->lists[k][i]);
		free(r->lists[k]);
	}
	memset(r, 0, sizeof(*r));
}

/* The slot of tier, created on first use. */
static struct report_tier *
report_tier(struct report *r, const char *tier, const char *model)
{
	struct report_tier *rt;
	size_t i;

	int c = 1;

	/* Kept sorted by name, so the summary reads the same whichever
	 * tier answered first. */
	for (i = 0; i < r->ntiers; i++)
		if ((c = strcmp(r->tiers[i].tier, tier)) >= 0)
			break;
	if (i < r->ntiers && c == 0)
		return &r->tiers[i];
	r->tiers = xreallocarray(r->tiers, r->ntiers + 1, sizeof(*r->tiers));
	memmove(&r->tiers[i + 1], &r->tiers[i], (r->ntiers - i) *
	    sizeof(*r->tiers));
	r->ntiers++;
	rt = &r->tiers[i];
	memset(rt, 0, sizeof(*rt));
	rt->tier = xstrdup(tier);
	rt->model = xstrdup(model);
	return rt;
}

double
report_add(struct report *r, const char *tier, const char *model,
    const struct usage *u, long write_1h, int batched)
{
	struct report_tier *rt;
	double f = batched ? BUDGET_BATCH_FACTOR : 1, c, mine = 0;

	rt = report_tier(r, tier, model);
	rt->requests++;
	rt->batched += batched != 0;
	rt->usage.in += u->in;
	rt->usage.out += u->out;
	rt->usage.cache_write += u->cache_write;
	rt->usage.cache_read += u->cache_read;
	if ((c = provider_cost(model, u, write_1h)) < 0)
		rt->unknown_cost = 1;
	else
		rt->cost += mine = c * f;
	if (r->strong_model == NULL ||
	    (c = provider_cost(r->strong_model, u, write_1h)) < 0)
		r->strong_unknown = 1;
	else
		r->strong_only += c * f;
	return mine;
}

void
report_list(struct report *r, enum report_list which, const char *name)
{
	r->lists[which] = xreallocarray(r->lists[which], r->nlists[which] + 1,
	    sizeof(*r->lists[which]));
	r->lists[which][r->nlists[which]++] = xstrdup(name);
}

double
report_total(const struct report *r)
{
	double total = 0;
	size_t i;

	for (i = 0; i < r->ntiers; i++)
		total += r->tiers[i].cost;
	return total;
}

/* The usage of every tier together. */
static struct usage
report_usage(const struct report *r)
{
	struct usage all = { 0 };
	size_t i;

	for (i = 0; i < r->ntiers; i++) {
		all.in += r->tiers[i].usage.in;
		all.out += r->tiers[i].usage.out;
		all.cache_write += r->tiers[i].usage.cache_write;
		all.cache_read += r->tiers[i].usage.cache_read;
	}
	return all;
}

/* Whether some tier's cost is unknown. */
static int
report_unknown(const struct report *r)
{
	size_t i;

	for (i = 0; i < r->ntiers; i++)
		if (r->tiers[i].unknown_cost)
			return 1;
	return 0;
}

/* Put the tokens of u on b: all input tokens, of which those read from
 * and written to the prompt cache, then the output tokens. */
static void
usage_text(struct buf *b, const struct usage *u)
{
	buf_printf(b, "tokens: %ld in", u->in + u->cache_read +
	    u->cache_write);
	if (u->cache_read + u->cache_write > 0)
		buf_printf(b, " (%ld from the prompt cache, %ld written to "
		    "it)", u->cache_read, u->cache_write);
	buf_printf(b, ", %ld out", u->out);
}

/* One line per tier: answers, tokens, cost. */
static void
print_tiers(const struct report *r)
{
	const struct report_tier *rt;
	struct buf b = { 0 };
	size_t i;

	for (i = 0; i < r->ntiers; i++) {
		rt = &r->tiers[i];
		b.len = 0;
		buf_printf(&b, "%d answer%s", rt->requests,
		    rt->requests == 1 ? "" : "s");
		if (rt->batched > 0)
			buf_printf(&b, " (%d batched)", rt->batched);
		buf_printf(&b, "; ");
		usage_text(&b, &rt->usage);
		if (rt->unknown_cost)
			log_status("tier %s (%s): %s; cost unknown", rt->tier,
			    rt->model, b.data);
		else
			log_status("tier %s (%s): %s; $%.4f", rt->tier,
			    rt->model, b.data, rt->cost);
	}
	buf_free(&b);
}

/* The cost line: each tier, the total, the strong tier alone. */
static void
print_cost(const struct report *r)
{
	struct buf b = { 0 }, alone = { 0 };
	double total = report_total(r);
	size_t i;

	for (i = 0; i < r->ntiers; i++) {
		if (r->tiers[i].unknown_cost)
			buf_printf(&b, "%s%s (%s) unknown", i ? ", " : "",
			    r->tiers[i].tier, r->tiers[i].model);
		else
			buf_printf(&b, "%s%s (%s) $%.4f", i ? ", " : "",
			    r->tiers[i].tier, r->tiers[i].model,
			    r->tiers[i].cost);
	}
	if (r->strong_model != NULL && !r->strong_unknown)
		buf_printf(&alone, "; on the strong tier alone (%s) $%.4f",
		    r->strong_model, r->strong_only);
	log_status("cost: %s; total $%.4f%s%s", b.data, total,
	    report_unknown(r) ? " and some of unknown price" : "",
	    alone.data ? alone.data : "");
	buf_free(&b);
	buf_free(&alone);
}

void
report_print(const struct report *r)
{
	struct usage all = report_usage(r);
	struct buf b = { 0 };
	size_t i, k;

	if (r->nasked + r->ncached + r->nlists[REPORT_FAILED] +
	    r->nlists[REPORT_SKIPPED] + r->nlists[REPORT_UNDONE] +
	    r->nlists[REPORT_INBATCH] == 0) {
		log_status("nothing to do: %zu task%s up to date", r->ntasks,
		    r->ntasks == 1 ? "" : "s");
		return;
	}
	usage_text(&b, &all);
	log_status("%zu task%s: %zu asked, %zu from cache, %zu up to date, "
	    "%zu failed, %zu skipped; %s", r->ntasks,
	    r->ntasks == 1 ? "" : "s", r->nasked, r->ncached, r->nuptodate,
	    r->nlists[REPORT_FAILED], r->nlists[REPORT_SKIPPED], b.data);
	if (r->ntiers > 0) {
		print_tiers(r);
		if (all.cache_write + all.cache_read > 0)
			log_status("prompt cache: %ld tokens written, %ld "
			    "read", all.cache_write, all.cache_read);
		print_cost(r);
	}
	for (k = 0; k < REPORT_NLISTS; k++) {
		if (r->nlists[k] == 0 && !(k == REPORT_FAILED &&
		    r->nlists[REPORT_SKIPPED] > 0))
			continue;
		b.len = 0;
		for (i = 0; i < r->nlists[k]; i++)
			buf_printf(&b, " %s", r->lists[k][i]);
		log_error("%s:%s", k == REPORT_UNDONE ? "not started" :
		    k == REPORT_INBATCH ? "in a batch" : list_names[k],
		    b.data && b.len ? b.data : " (none)");
	}
	buf_free(&b);
}

/* A price as JSON: null when unknown. */
static json_t *
jcost(double c, int unknown)
{
	return unknown ? json_null() : json_real(c);
}

/* The CPU seconds planmake has used, user and system. */
static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The report as a new JSON object. */
static json_t *
report_object(const struct report *r, int rc)
{
	const struct report_tier *rt;
	json_t *o, *tiers, *a;
	struct usage all = report_usage(r);
	size_t i, k;
	int requests = 0;

	tiers = json_array();
	for (i = 0; i < r->ntiers; i++) {
		rt = &r->tiers[i];
		requests += rt->requests;
		json_array_append_new(tiers, json_pack("{s:s, s:s, s:i, s:i, "
		    "s:I, s:I, s:I, s:I, s:o}", "tier", rt->tier, "model",
		    rt->model, "answers", rt->requests, "batched",
		    rt->batched, "input_tokens", (json_int_t)rt->usage.in,
		    "output_tokens", (json_int_t)rt->usage.out,
		    "cache_write_tokens", (json_int_t)rt->usage.cache_write,
		    "cache_read_tokens", (json_int_t)rt->usage.cache_read,
		    "cost_usd", jcost(rt->cost, rt->unknown_cost)));
	}
	o = json_pack("{s:i, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o, "
	    "s:{s:I, s:I, s:I, s:I}, s:o, s:s?, s:o, s:o, s:i, s:f, s:f}",
	    "exit", rc,
	    "tasks", "total", (json_int_t)r->ntasks,
	    "asked", (json_int_t)r->nasked,
	    "cached", (json_int_t)r->ncached,
	    "up_to_date", (json_int_t)r->nuptodate,
	    "failed", (json_int_t)r->nlists[REPORT_FAILED],
	    "skipped", (json_int_t)r->nlists[REPORT_SKIPPED],
	    "undone", (json_int_t)r->nlists[REPORT_UNDONE],
	    "tiers", tiers,
	    "tokens", "input", (json_int_t)all.in,
	    "output", (json_int_t)all.out,
	    "cache_write", (json_int_t)all.cache_write,
	    "cache_read", (json_int_t)all.cache_read,
	    "total_cost_usd", jcost(report_total(r), report_unknown(r)),
	    "strong_model", r->strong_model,
	    "strong_only_cost_usd", jcost(r->strong_only,
	    r->strong_unknown || r->strong_model == NULL),
	    "budget_usd", r->budget < 0 ? json_null() : json_real(r->budget),
	    "answers", requests,
	    "seconds", r->seconds,
	    "cpu_seconds", cpu_seconds());
	if (o == NULL)
		return NULL;
	for (k = 0; k < REPORT_NLISTS; k++) {
		a = json_array();
		for (i = 0; i < r->nlists[k]; i++)
			json_array_append_new(a, json_string(r->lists[k][i]));
		json_object_set_new(o, list_names[k], a);
	}
	return o;
}

int
report_json(const struct report *r, int rc, FILE *f, char **errp)
{
	json_t *o;
	int bad;

	if ((o = report_object(r, rc)) == NULL) {
		xasprintf(errp, "cannot encode the --json report (a name is "
		    "not UTF-8)");
		return -1;
	}
	bad = json_dumpf(o, f, JSON_COMPACT | JSON_REAL_PRECISION(10)) == -1;
	json_decref(o);
	if (bad || fputc('\n', f) == EOF || fflush(f) == EOF) {
		xasprintf(errp, "cannot write the --json report: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}
