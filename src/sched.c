#include "sched.h"

#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "batch.h"
#include "budget.h"
#include "cache.h"
#include "dag.h"
#include "explain.h"
#include "extract.h"
#include "http.h"
#include "log.h"
#include "plan.h"
#include "prio.h"
#include "provider.h"
#include "report.h"
#include "request.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "warm.h"

#define THROTTLE_TRIES	30	/* rate limits of a held endpoint per try */

/* What a task needs, as far as can be told before the build. */
enum need {
	NEED_NOTHING,		/* up to date */
	NEED_CACHE,		/* the cache has the answer */
	NEED_REQUEST,		/* a model must be asked */
	NEED_LATER,		/* depends on a task that will change */
	NEED_ERROR,		/* its request cannot be formed */
	NEED_REFUSED		/* stale, and a target was edited by hand */
};

/* What a task that is asked (or answered from the cache) carries while
 * the build runs; up-to-date tasks have none (run->ask is NULL). */
struct ask {
	char		*user;		/* owned: the user text, while asked */
	char		*body;		/* owned: the request, while asked */
	int		 attempts;	/* of this round */
	int		 throttled;	/* rate limits not counted there */
	double		 retry_at;	/* monotonic time of the next try */
	double		 worst;		/* USD reserved for its request */
	double		 cost;		/* USD its answer cost */
	int		 reserved;	/* worst is reserved in the budget */
	int		 warming;	/* it writes its prefix's cache */
	int		 batched;	/* it went through a batch */
	int		 holds_slot;	/* delayed by the endpoint's limits */
	struct buf	 answer;	/* the parts of a continued answer */
	int		 rounds;	/* continuations asked */
	struct usage	 usage;		/* over all rounds */
	double		 seconds;	/* over all rounds */
};

/* The scheduler's data for one task (task->run): small, for there is
 * one for each of 100,000 tasks that a no-op looks at. */
struct run {
	struct spec	*spec;		/* owned: its request's settings, while
					   they may be needed (NULL when
					   not); freed once it is up to date */
	struct ask	*ask;		/* owned: NULL while it is up to date */
	char		*why;		/* owned: why it runs */
	const char	*edited;	/* a target edited by hand, or NULL */
	signed char	 need;		/* enum need, from the first pass */
	unsigned char	 same_outs;	/* the cache restores the locked
					   files */
	unsigned char	 certain;	/* -n: NEED_LATER, but stale already
					   by what it reads now */
};

struct sched {
	struct plan		 *plan;
	struct dag		 *dag;
	const struct sched_opts	 *opts;
	struct lock		  lock;
	struct store		 *store;	/* .planmake and the lock */
	struct run		 *runs;		/* each task's, in one block */
	char			 *cachedir;
	struct provider		 *prov;
	struct http		 *bhttp;	/* for batches */
	struct prio_heap	  ready;	/* by critical path */
	double			 *prio;		/* by task id */
	struct prio_durations	  durations;	/* of the last requests */
	struct task		**delayed;	/* waiting to retry */
	size_t			  ndelayed;
	size_t			  nholding;	/* of those, the ones waiting
						 * for the endpoint's limits */
	int			  running;
	int			  stopping;	/* start nothing new */
	int			  fatal;	/* a failure that stops all */
	size_t			  nprompt;	/* needed tasks with a prompt */
	size_t			  nfinished;	/* of those */
	size_t			  nasked, ncached, nuptodate, nfailed;
	size_t			  nskipped;
	struct report		  report;	/* tokens and cost */
	struct budget		  budget;	/* --budget */
	int			  over_budget;	/* it stopped the build */
	int			  budget_hold;	/* wait for in-flight costs */
	int			  aborting;	/* a second interrupt came */
	int			  unpriced;	/* warned of an unknown price */
	struct warm		  warm;		/* prompt-cache warm-up */
	struct batches		 *batches;	/* --batch, and resumed ones */
	double			  batch_poll;	/* seconds between polls */
};

static volatile sig_atomic_t	interrupted;

static void
on_signal(int sig)
{
	interrupted += sig == SIGTERM || sig == SIGHUP ? 2 : 1;
}

/* The content hash of n, once per run, and read only when the file's
 * stat is not the one recorded with its hash. */
static int
node_hash(struct sched *s, struct node *n, char **errp)
{
	int rc;

	if (n->hashed || n->phony)
		return 0;
	if ((rc = store_hash_stat(s->store, n->path, dag_node_stat(n), n->hash,
	    errp)) == -1)
		return -1;
	if (rc == 0) {
		xasprintf(errp, "cannot open %s: %s", n->path,
		    strerror(ENOENT));
		return -1;
	}
	n->hashed = 1;
	return 0;
}

static void
run_spec_free(struct run *r)
{
	if (r->spec != NULL)
		spec_clear(r->spec);
	free(r->spec);
	r->spec = NULL;
}

/* Resolve t's settings into r->spec, once.  -1 and *errp on failure. */
static int
run_spec(struct sched *s, struct task *t, char **errp)
{
	struct run *r = t->run;

	if (r->spec != NULL)
		return 0;
	r->spec = xcalloc(1, sizeof(*r->spec));
	if (request_spec(r->spec, s->plan, t, errp) == -1) {
		run_spec_free(r);
		return -1;
	}
	return 0;
}

/* Resolve t's settings into its spec, once.  -1 on failure, which is
 * reported when t starts. */
static int
task_spec(struct sched *s, struct task *t)
{
	char *err = NULL;

	if (run_spec(s, t, &err) == -1) {
		free(err);
		return -1;
	}
	return 0;
}

/* Resolve t's request and compute its key.  -1 and *errp on failure. */
static int
task_prepare(struct sched *s, struct task *t, char **errp)
{
	struct run *r = t->run;
	size_t i;

	for (i = 0; i < t->nins; i++)
		if (node_hash(s, t->ins[i], errp) == -1)
			return -1;
	if (run_spec(s, t, errp) == -1)
		return -1;
	request_key(r->spec, t);
	return 0;
}

/* Whether --force names path (or the whole build is forced). */
static int
forced(struct sched *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->opts->nforce; i++)
		if (strcmp(s->opts->force[i], path) == 0)
			return 1;
	return 0;
}

/* Before path is written with the n bytes at data: a file there that
 * planmake did not write (no lock entry, other content) or that changed
 * since it did (edited by hand, perhaps while the request was in
 * flight) is not overwritten, unless -B or --force=path.  -1 and *errp
 * then; the answer is in the cache already. */
static int
target_guard(struct sched *s, const char *path, const char *data,
    size_t n, char **errp)
{
	struct lock_entry *le;
	struct buf b = { 0 };
	char now[65], new[65], *err = NULL;

	if (s->opts->always || forced(s, path))
		return 0;
	if (file_read(path, &b, &err) == -1) {
		free(err);	/* absent (or unreadable: the write says) */
		return 0;
	}
	sha256_hex(b.data ? b.data : "", b.len, now);
	buf_free(&b);
	le = lock_get(&s->lock, path);
	if (le != NULL && strcmp(now, le->hash) == 0)
		return 0;
	sha256_hex(data, n, new);
	if (strcmp(now, new) == 0)
		return 0;	/* it holds the answer already */
	xasprintf(errp, "'%s' %s; it is left as it is, and the answer is in "
	    "the cache: --force=%s (or -B) writes it", path, le == NULL ?
	    "exists, and planmake did not write it" : "was changed since "
	    "planmake wrote it (edited by hand?)", path);
	return -1;
}

static int	cache_has(struct sched *, const char *);

/* Whether every target of t was written by this very request and is
 * still there.  Sets *why to the first reason it is not, and r->edited
 * to a target whose content is not what planmake wrote there (unless
 * -B or --force lets it be overwritten). */
static int
task_uptodate(struct sched *s, struct task *t, char **why)
{
	struct run *r = t->run;
	struct lock_entry *e;
	struct node *o;
	char hash[65], *err = NULL, *diff;
	size_t i;
	int ok = 1, rc, theirs;

	r->edited = NULL;
	if (t->phony) {
		xasprintf(why, "it is .PHONY");
		return 0;
	}
	if (s->opts->always) {
		xasprintf(why, "-B was given");
		return 0;
	}
	for (i = 0; i < t->nouts; i++) {
		o = t->outs[i];
		e = lock_get(&s->lock, o->path);
		if (e == NULL) {
			/* A file there that planmake never wrote is a
			 * person's: refused before anything is asked, unless
			 * the cache holds an answer (target_guard() then
			 * compares it with the file, and -n says so). */
			theirs = r->edited == NULL && !forced(s, o->path) &&
			    store_hash_stat(s->store, o->path,
			    dag_node_stat(o), hash, &err) == 1;
			if (theirs && !cache_has(s, r->spec->key))
				r->edited = o->path;
			if (ok && theirs && r->edited == NULL)
				xasprintf(why, "'%s' is not in planmake.lock, "
				    "and a file planmake did not write is "
				    "there: it is kept unless it holds the "
				    "answer already (--force=%s writes it)",
				    o->path, o->path);
			else if (ok)
				xasprintf(why, "'%s' is not in planmake.lock",
				    o->path);
			ok = 0;
			free(err);
			err = NULL;
			continue;
		}
		if (ok && strcmp(e->key, r->spec->key) != 0) {
			/* The first difference, only when it is shown: a
			 * manifest read for each of 100,000 tasks is not
			 * free. */
			diff = s->opts->dry_run || log_level >= LOG_VERBOSE ||
			    log_debugging(LOG_EXPLAIN) ? explain_diff(
			    s->opts->statedir, e->key, r->spec, t) : NULL;
			if (diff != NULL)
				xasprintf(why, "its request changed: %s",
				    diff);
			else
				xasprintf(why, "its request changed (prompt, "
				    "settings or inputs)");
			free(diff);
			ok = 0;
		}
		if ((rc = store_hash_stat(s->store, o->path, dag_node_stat(o),
		    hash, &err)) == -1) {
			if (ok)
				*why = err;
			else
				free(err);
			err = NULL;
			ok = 0;
			continue;
		}
		if (rc == 0) {
			if (ok)
				xasprintf(why, "'%s' is missing", o->path);
			ok = 0;
			continue;
		}
		/* What its readers will see, unless t writes it anew. */
		memcpy(o->hash, hash, sizeof(hash));
		o->hashed = 1;
		if (forced(s, o->path)) {
			if (ok)
				xasprintf(why, "--force=%s was given",
				    o->path);
			ok = 0;
		} else if (strcmp(hash, e->hash) != 0 && r->edited == NULL)
			r->edited = o->path;
	}
	return ok;
}

static void	skip_dependents(struct sched *s, struct task *t);

/* Fail t, whose target r->edited was edited by hand, without asking;
 * tasks that do not depend on it go on. */
static void
task_refuse(struct sched *s, struct task *t)
{
	struct run *r = t->run;

	log_error("task '%s' failed: '%s' %s, and planmake does not "
	    "overwrite it (--force=%s overwrites it; -B rebuilds everything, "
	    "overwriting edits)", t->name, r->edited,
	    lock_get(&s->lock, r->edited) == NULL ? "exists but planmake did "
	    "not write it" : "was edited since planmake wrote it", r->edited);
	t->state = TASK_FAILED;
	s->nfailed++;
	s->nfinished++;
	skip_dependents(s, t);
}

/* Whether the cache holds an answer for key (without reading it). */
static int
cache_has(struct sched *s, const char *key)
{
	struct stat st;
	char *path;
	int rc;

	if (s->opts->refresh)
		return 0;
	xasprintf(&path, "%s/%.2s/%s.json", s->cachedir, key, key);
	rc = stat(path, &st) == 0;
	free(path);
	return rc;
}

/* Whether the inputs of a task that must be asked can be sent: each is
 * UTF-8 and within the size limit.  Checked before anything is sent, by
 * forming the user turn (and dropping it).  An input that is missing can
 * only be one the cache is about to restore; it is checked when t
 * starts. */
static int
task_check_inputs(struct run *r, const struct task *t, char **errp)
{
	char *user;

	if ((user = request_user_text(r->spec, t, 1, errp)) == NULL)
		return -1;
	free(user);
	return 0;
}

/* Whether what t writes may differ from what is on disk and locked. */
static int
outputs_change(const struct task *t)
{
	const struct run *r = t->run;

	return r->need != NEED_NOTHING && !r->same_outs;
}

/* Whether the lock holds t's current key for every target. */
static int
key_locked(struct sched *s, struct task *t)
{
	struct lock_entry *e;
	size_t i;

	for (i = 0; i < t->nouts; i++) {
		e = lock_get(&s->lock, t->outs[i]->path);
		if (e == NULL ||
		    strcmp(e->key, ((struct run *)t->run)->spec->key) != 0)
			return 0;
	}
	return 1;
}

/* For a task the cache answers: when the lock holds its current key for
 * every target, the cache gives back exactly the locked files (only some
 * are missing), so take their hashes from the lock and return 1. */
static int
locked_outputs(struct sched *s, struct task *t)
{
	struct lock_entry *e;
	size_t i;

	if (!key_locked(s, t))
		return 0;
	for (i = 0; i < t->nouts; i++) {
		e = lock_get(&s->lock, t->outs[i]->path);
		memcpy(t->outs[i]->hash, e->hash, 65);
		t->outs[i]->hashed = 1;
	}
	return 1;
}

/* -n: whether t, which reads what dependency k will change, is stale
 * already by what it reads now (its prompt, a setting or another input
 * changed); then it will be asked whatever k writes, and r->why says
 * why. */
static void
judge_now(struct sched *s, struct task *t, size_t k)
{
	struct run *r = t->run;
	char *err = NULL, *why = NULL;

	if (task_prepare(s, t, &err) == -1) {
		free(err);	/* an input yet to be made: judged later */
		return;
	}
	if (key_locked(s, t))
		return;
	r->certain = 1;
	(void)task_uptodate(s, t, &why);	/* for the first difference */
	free(r->why);
	xasprintf(&r->why, "%s (and it depends on '%s', which will change)",
	    why != NULL ? why : "its request changed", t->deps[k]->name);
	free(why);
}

/* First pass, in dependency order: what each task will need, as far as
 * it can be known before anything runs. */
static void
sched_assess(struct sched *s)
{
	struct task *t;
	struct run *r;
	char *err;
	size_t i, k;

	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (t->rule->prompt == NULL) {
			r->need = NEED_NOTHING;
			for (k = 0; k < t->ndeps; k++)
				if (outputs_change(t->deps[k]))
					r->need = NEED_LATER;
			continue;
		}
		for (k = 0; k < t->ndeps; k++) {
			if (!outputs_change(t->deps[k]))
				continue;
			r->need = NEED_LATER;
			xasprintf(&r->why, "it depends on '%s', which will "
			    "change", t->deps[k]->name);
			break;
		}
		if (r->need == NEED_LATER) {
			if (s->opts->dry_run)
				judge_now(s, t, k);
			continue;
		}
		err = NULL;
		if (task_prepare(s, t, &err) == -1) {
			/* An input the cache is about to restore cannot be
			 * read yet: the task is judged when it starts. */
			for (k = 0; k < t->ndeps; k++)
				if (((struct run *)t->deps[k]->run)->need ==
				    NEED_CACHE)
					break;
			if (k < t->ndeps) {
				r->need = NEED_LATER;
				xasprintf(&r->why, "it reads '%s', which the "
				    "cache restores first", t->deps[k]->name);
				free(err);
				continue;
			}
			r->need = NEED_ERROR;
			r->why = err;
		} else if (task_uptodate(s, t, &r->why)) {
			r->need = NEED_NOTHING;
			if (r->edited != NULL && !s->opts->question)
				log_warning("'%s' is not what planmake wrote "
				    "(edited by hand?); it is left as it is, "
				    "and what reads it sees the edit "
				    "(--force=%s rewrites it)", r->edited,
				    r->edited);
			/* Nothing more is needed of its request. */
			run_spec_free(r);
		} else if (r->edited != NULL)
			r->need = NEED_REFUSED;
		else if (cache_has(s, r->spec->key)) {
			r->need = NEED_CACHE;
			r->same_outs = locked_outputs(s, t);
		} else if (task_check_inputs(r, t, &err) == -1) {
			r->need = NEED_ERROR;
			free(r->why);
			r->why = err;
		} else
			r->need = NEED_REQUEST;
		if (r->need != NEED_NOTHING)
			log_debug(LOG_EXPLAIN, "'%s' is stale: %s", t->name,
			    r->why);
	}
}

/* What -n expects a request to cost: input tokens estimated from the
 * bytes sent (about 4 a token), output at most max_tokens. */
struct estimate {
	long	in, out;
	double	cost;		/* at most, USD; -1 when the price is unknown */
};

static void
estimate(struct sched *s, struct task *t, struct estimate *est)
{
	struct run *r = t->run;
	struct usage u = { 0 };
	struct stat st;
	size_t bytes, i;
	char *err = NULL;

	memset(est, 0, sizeof(*est));
	if (run_spec(s, t, &err) == -1) {
		free(err);
		est->cost = -1;
		return;
	}
	bytes = strlen(r->spec->system) + strlen(r->spec->prompt) + 20;
	for (i = 0; i < t->nins; i++)
		if (!t->ins[i]->phony)
			bytes += strlen(t->ins[i]->path) + 16 +
			    (stat(t->ins[i]->path, &st) == 0 ?
			    (size_t)st.st_size : 0);
	for (i = 0; i < t->nouts; i++)
		bytes += strlen(t->outs[i]->path) + 3;
	u.in = est->in = (long)(bytes / 4 + 1);
	u.out = est->out = r->spec->max_tokens;
	est->cost = provider_cost(r->spec->model, &u, 0);
}

/* " at most $X" or " price unknown". */
static void
cost_text(struct buf *b, double cost)
{
	if (cost < 0)
		buf_addstr(b, "price unknown");
	else
		buf_printf(b, "at most $%.4f", cost);
}

/* -t explain: why each selected task is stale, on stdout. */
static int
sched_explain(struct sched *s)
{
	struct task *t;
	struct run *r;
	size_t i;
	int stale = 0;

	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (t->rule->prompt == NULL)
			continue;
		if (r->need == NEED_NOTHING) {
			printf("%s: up to date\n", t->name);
			continue;
		}
		printf("%s: stale: %s\n", t->name, r->why);
		stale = 1;
	}
	return stale;
}

/* What -n expects one tier to cost. */
struct dry_tier {
	const char	*tier;		/* borrowed from a task's spec */
	double		 cost;
	int		 unknown;
};

/* The slot of tier in the n of v (room for one more), made on first
 * use. */
static struct dry_tier *
dry_tier(struct dry_tier *v, size_t *n, const char *tier)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp(v[i].tier, tier) == 0)
			return &v[i];
	memset(&v[*n], 0, sizeof(v[*n]));
	v[*n].tier = tier;
	return &v[(*n)++];
}

/* What -n adds up over the tasks. */
struct dry_totals {
	struct dry_tier	*tiers;		/* room for one per task */
	size_t		 ntiers;
	size_t		 nask, nlater, ncache;
	long		 in, out;
	double		 cost;
	int		 unknown;	/* some price is not known */
};

/* Estimate t (which may be asked) into *est and add it to the totals;
 * 1 when it will be asked, 0 when only if what it reads changes. */
static int
dry_count(struct sched *s, struct task *t, struct dry_totals *dt,
    struct estimate *est)
{
	struct run *r = t->run;
	struct dry_tier *ts;
	int sure = r->need == NEED_REQUEST || r->certain;

	estimate(s, t, est);
	dt->in += est->in;
	dt->out += est->out;
	ts = dry_tier(dt->tiers, &dt->ntiers, r->spec != NULL &&
	    r->spec->tier != NULL ? r->spec->tier : "?");
	if (est->cost < 0)
		dt->unknown = ts->unknown = 1;
	else {
		dt->cost += est->cost;
		ts->cost += est->cost;
	}
	if (sure)
		dt->nask++;
	else
		dt->nlater++;
	return sure;
}

/* -n: say what would happen to each task, and what it would cost, on
 * stdout. */
static int
sched_dry_run(struct sched *s)
{
	struct dry_totals dt = { 0 };
	struct estimate est;
	struct buf b = { 0 };
	struct task *t;
	struct run *r;
	size_t i, n = 0;
	int sure;

	dt.tiers = xcalloc(s->dag->norder + 1, sizeof(*dt.tiers));
	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (t->rule->prompt == NULL)
			continue;
		b.len = 0;
		switch (r->need) {
		case NEED_NOTHING:
			log_note("'%s' is up to date", t->name);
			continue;
		case NEED_CACHE:
			printf("restore %s from the cache (free): %s\n",
			    t->name, r->why);
			dt.ncache++;
			break;
		case NEED_REQUEST:
		case NEED_LATER:
			sure = dry_count(s, t, &dt, &est);
			buf_printf(&b, "about %ld tokens in, at most %ld out, ",
			    est.in, est.out);
			cost_text(&b, est.cost);
			if (sure)
				printf("ask the %s tier (%s:%s) for %s: %s; "
				    "%s\n", r->spec->tier, r->spec->provider,
				    r->spec->model, t->name, r->why, b.data);
			else
				printf("maybe ask for %s: %s; if asked, %s\n",
				    t->name, r->why, b.data);
			break;
		case NEED_ERROR:
			printf("cannot ask for %s: %s\n", t->name, r->why);
			break;
		case NEED_REFUSED:
			printf("refuse %s: '%s' %s (%s); --force=%s would "
			    "overwrite it\n", t->name, r->edited,
			    lock_get(&s->lock, r->edited) == NULL ?
			    "exists but planmake did not write it" :
			    "was edited by hand", r->why, r->edited);
			break;
		}
		n++;
	}
	buf_free(&b);
	if (n == 0) {
		log_status("nothing to do: %zu task%s up to date", s->nprompt,
		    s->nprompt == 1 ? "" : "s");
		free(dt.tiers);
		return 0;
	}
	printf("would ask %zu task%s (and %zu more if what they read "
	    "changes), restore %zu from the cache for free; about %ld tokens "
	    "in, at most %ld out, at most $%.4f%s", dt.nask, dt.nask == 1 ?
	    "" : "s", dt.nlater, dt.ncache, dt.in, dt.out, dt.cost,
	    dt.unknown ? " and some of unknown price" : "");
	for (i = 0; i < dt.ntiers; i++)
		printf("%s%s $%.4f%s", i ? ", " : " (", dt.tiers[i].tier,
		    dt.tiers[i].cost, dt.tiers[i].unknown ? "+?" : "");
	printf("%s\n", dt.ntiers ? ")" : "");
	free(dt.tiers);
	return 0;
}

/* -n --json: what would run, as one JSON object on stdout: each task that
 * is not up to date with its need, why, and the most it could cost, then
 * the totals and the most per tier. */
static int
sched_dry_json(struct sched *s)
{
	static const char *const needs[] = { "up_to_date", "cache",
	    "request", "later", "error", "refused" };
	struct dry_totals dt = { 0 };
	struct estimate est;
	json_t *o, *tasks, *jt, *jtiers;
	struct task *t;
	struct run *r;
	size_t i, nup = 0;
	int bad;

	dt.tiers = xcalloc(s->dag->norder + 1, sizeof(*dt.tiers));
	tasks = json_array();
	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (t->rule->prompt == NULL)
			continue;
		if (r->need == NEED_NOTHING) {
			nup++;
			continue;
		}
		jt = json_pack("{s:s, s:s, s:s?}", "name", t->name, "need",
		    r->certain ? "request" : needs[r->need], "why", r->why);
		if (r->need == NEED_CACHE)
			dt.ncache++;
		if (r->need == NEED_REQUEST || r->need == NEED_LATER) {
			dry_count(s, t, &dt, &est);
			json_object_set_new(jt, "tier",
			    json_string(r->spec->tier));
			json_object_set_new(jt, "model",
			    json_string(r->spec->model));
			json_object_set_new(jt, "input_tokens",
			    json_integer(est.in));
			json_object_set_new(jt, "max_output_tokens",
			    json_integer(est.out));
			json_object_set_new(jt, "max_cost_usd", est.cost < 0 ?
			    json_null() : json_real(est.cost));
		}
		if (r->need == NEED_REFUSED)
			json_object_set_new(jt, "edited",
			    json_string(r->edited));
		json_array_append_new(tasks, jt);
	}
	jtiers = json_array();
	for (i = 0; i < dt.ntiers; i++)
		json_array_append_new(jtiers, json_pack("{s:s, s:o}", "tier",
		    dt.tiers[i].tier, "max_cost_usd", dt.tiers[i].unknown ?
		    json_null() : json_real(dt.tiers[i].cost)));
	free(dt.tiers);
	o = json_pack("{s:b, s:b, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:o}, s:o}", "dry_run", 1, "up_to_date", json_array_size(
	    tasks) == 0, "tasks", tasks, "totals",
	    "tasks", (json_int_t)s->nprompt, "up_to_date", (json_int_t)nup,
	    "ask", (json_int_t)dt.nask, "maybe_ask", (json_int_t)dt.nlater,
	    "cached", (json_int_t)dt.ncache, "input_tokens",
	    (json_int_t)dt.in, "max_output_tokens", (json_int_t)dt.out,
	    "max_cost_usd", dt.unknown ? json_null() : json_real(dt.cost),
	    "tiers", jtiers);
	if (o == NULL) {
		log_error("cannot encode the --json report (a name is not "
		    "UTF-8)");
		return -1;
	}
	bad = json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10))
	    == -1 || fputc('\n', stdout) == EOF || fflush(stdout) == EOF;
	json_decref(o);
	if (bad) {
		log_error("cannot write the --json report: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Before any request: every task that must be asked can form its
 * request (settings, inputs) and its provider has a key.  A task that
 * asks only if something upstream changes gets a warning when its key
 * is missing: the cache or an unchanged input may yet spare it. */
static int
sched_preflight(struct sched *s)
{
	struct task *t;
	struct run *r;
	const char *v;
	size_t i;
	int rc = 0;

	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (t->rule->prompt != NULL && r->need == NEED_ERROR) {
			log_error("task '%s' cannot be asked: %s", t->name,
			    r->why);
			rc = -1;
		}
	}
	if (rc == -1) {
		log_error("nothing was asked");
		return -1;
	}
	if (s->opts->offline)
		return 0;
	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if ((r->need != NEED_REQUEST && r->need != NEED_LATER) ||
		    t->rule->prompt == NULL || task_spec(s, t) == -1 ||
		    r->spec->keyvar == NULL ||
		    ((v = getenv(r->spec->keyvar)) != NULL && *v != '\0'))
			continue;
		if (r->need == NEED_LATER) {
			log_warning("%s is not set: '%s' will fail if it has "
			    "to ask %s", r->spec->keyvar, t->name,
			    r->spec->provider);
			continue;
		}
		log_error("%s is not set, and '%s' needs to ask %s (%s "
		    "tier): nothing was asked", r->spec->keyvar, t->name,
		    r->spec->provider, r->spec->tier);
		return -1;
	}
	return 0;
}

static void
ready_push(struct sched *s, struct task *t)
{
	t->state = TASK_READY;
	prio_heap_push(&s->ready, t);
}

/* The ready task with the longest chain of work behind it. */
static struct task *
ready_pop(struct sched *s)
{
	return prio_heap_pop(&s->ready);
}

/* Give each needed task its critical-path priority: its expected
 * seconds (nothing when the lock or the cache answers it) plus the
 * longest chain of its dependents. */
static void
sched_prioritise(struct sched *s)
{
	struct task *t;
	struct run *r;
	double *w;
	size_t i;

	w = xcalloc(s->dag->ntasks + 1, sizeof(*w));
	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (t->rule->prompt == NULL || r->need == NEED_NOTHING)
			w[t->id] = 0;
		else if (r->need == NEED_CACHE)
			w[t->id] = 0.001;
		else
			w[t->id] = prio_weight(&s->durations, t->name,
			    r->spec != NULL ? r->spec->max_tokens :
			    DEFAULT_MAX_TOKENS);
	}
	prio_compute(s->dag, w, s->prio);
	free(w);
	if (log_debugging(LOG_SCHED))
		for (i = 0; i < s->dag->norder; i++)
			log_debug(LOG_SCHED, "priority %.3f s: %s",
			    s->prio[s->dag->order[i]->id],
			    s->dag->order[i]->name);
}

/* Mark everything that depends on t as skipped. */
static void
skip_dependents(struct sched *s, struct task *t)
{
	struct task **stack, *u;
	size_t top = 0, i;

	stack = xcalloc(s->dag->ntasks + 1, sizeof(*stack));
	stack[top++] = t;
	while (top > 0) {
		u = stack[--top];
		for (i = 0; i < u->nrdeps; i++) {
			if (!u->rdeps[i]->needed ||
			    u->rdeps[i]->state == TASK_SKIPPED)
				continue;
			u->rdeps[i]->state = TASK_SKIPPED;
			if (u->rdeps[i]->rule->prompt)
				s->nskipped++;
			stack[top++] = u->rdeps[i];
		}
	}
	free(stack);
}

/* t, the first request with its prefix, has ended: release the tasks
 * that waited to read the cache it wrote. */
static void
sched_warmed(struct sched *s, struct task *t, int ok)
{
	struct run *r = t->run;
	struct task **held;
	size_t i, n;

	r->ask->warming = 0;
	held = warm_done(&s->warm, r->spec->prefix, ok, &n);
	log_debug(LOG_SCHED, "'%s' %s the prompt cache; %zu task%s waited",
	    t->name, ok ? "wrote" : "did not write", n, n == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		ready_push(s, held[i]);
	free(held);
}

/* t has ended; release or skip what waits for it. */
static void
task_finish(struct sched *s, struct task *t, int ok)
{
	struct run *r = t->run;
	size_t i;

	if (r->ask != NULL) {
		budget_settle(&s->budget, r->ask->reserved ? r->ask->worst :
		    0, r->ask->cost);
		if (r->ask->reserved)
			s->budget_hold = 0;	/* what waited may fit now */
		r->ask->reserved = 0;
		r->ask->cost = 0;
		if (r->ask->warming)
			sched_warmed(s, t, ok);
	}

	if (t->rule->prompt)
		s->nfinished++;
	if (!ok) {
		t->state = TASK_FAILED;
		s->nfailed++;
		if (!s->opts->keep_going)
			s->stopping = 1;
		skip_dependents(s, t);
		return;
	}
	t->state = TASK_DONE;
	for (i = 0; i < t->nrdeps; i++)
		if (t->rdeps[i]->needed && --t->rdeps[i]->nblocked == 0 &&
		    t->rdeps[i]->state == TASK_WAITING)
			ready_push(s, t->rdeps[i]);
}

/* Fail t with a message. */
static void
task_fail(struct sched *s, struct task *t, const char *msg)
{
	log_error("task '%s' failed: %s", t->name, msg);
	task_finish(s, t, 0);
}

/* Keep a raw answer that could not be used, for a look. */
static char *
keep_answer(struct sched *s, struct task *t, const char *answer, size_t n)
{
	struct buf b = { 0 };
	char *path, *err = NULL;
	const char *p;

	for (p = t->name; *p != '\0'; p++)
		buf_addc(&b, *p == '/' ? '_' : *p);
	xasprintf(&path, "%s/failed/%s.answer", s->opts->statedir, b.data);
	buf_free(&b);
	if (file_write_atomic(path, answer, n, 0, &err) == -1) {
		log_warning("%s", err);
		free(err);
	}
	return path;
}

/* Store e in the cache; a failure is only a warning. */
static void
sched_cache_put(struct sched *s, const struct cache_entry *e)
{
	char *err = NULL;

	if (cache_put(s->cachedir, e, &err) == -1) {
		log_warning("%s", err);
		free(err);
	}
}

/* Write t's answer to its targets (or, for a phony task, to standard
 * output) and record them in the lock.  A new answer, e, goes into the
 * cache once it has been split into files and before any is written;
 * an answer that cannot be used is never cached. */
static int
task_apply(struct sched *s, struct task *t, const char *answer, size_t n,
    const struct cache_entry *e, char **errp)
{
	struct extract_file *files;
	struct run *r = t->run;
	char *targets[t->nouts ? t->nouts : 1], *err = NULL, *kept, **tmps;
	FILE *out;
	size_t i;
	int rc = 0;

	if (t->phony) {
		if (e != NULL)
			sched_cache_put(s, e);
		/* With --json, stdout holds the report alone. */
		out = s->opts->json ? stderr : stdout;
		fwrite(answer, 1, n, out);
		if (n > 0 && answer[n - 1] != '\n')
			putc('\n', out);
		fflush(out);
		return 0;
	}
	for (i = 0; i < t->nouts; i++)
		targets[i] = t->outs[i]->path;
	files = xcalloc(t->nouts, sizeof(*files));
	if (extract_answer(answer, n, targets, t->nouts, files, &err) == -1) {
		kept = keep_answer(s, t, answer, n);
		xasprintf(errp, "%s; the answer is kept in %s", err, kept);
		free(kept);
		free(err);
		free(files);
		return -1;
	}
	if (e != NULL)
		sched_cache_put(s, e);
	for (i = 0; i < t->nouts && rc == 0; i++)
		rc = target_guard(s, t->outs[i]->path, files[i].data,
		    files[i].len, errp);
	if (rc == -1) {
		for (i = 0; i < t->nouts; i++)
			free(files[i].data);
		free(files);
		return -1;
	}

	/* The journal hears of the targets before they change, so that
	 * after a kill at any moment each holds what the lock or the
	 * journal says.  Every target goes to a temporary file first, so
	 * that one that cannot be written leaves the others as they were.
	 * No fsync per file: the journal is synced in batches, and a file
	 * renamed into place is whole or absent after a kill. */
	for (i = 0; i < t->nouts; i++) {
		sha256_hex(files[i].data, files[i].len, t->outs[i]->hash);
		t->outs[i]->hashed = 1;
	}
	store_writing(s->store, t, r->spec);
	tmps = xcalloc(t->nouts, sizeof(*tmps));
	for (i = 0; i < t->nouts && rc == 0; i++)
		rc = file_stage(t->outs[i]->path, files[i].data, files[i].len,
		    0, &tmps[i], errp);
	for (i = 0; i < t->nouts; i++) {
		if (rc == 0 && file_commit(tmps[i], t->outs[i]->path,
		    errp) == -1)
			rc = -1;
		else if (rc == 0)
			lock_set(&s->lock, t->outs[i]->path, r->spec->key,
			    t->outs[i]->hash);
		else if (tmps[i] != NULL)
			unlink(tmps[i]);
		free(tmps[i]);
		free(files[i].data);
	}
	if (rc == 0)
		store_written(s->store, t, r->spec);
	free(tmps);
	free(files);
	return rc;
}

/* Print the status line of a task that has just been built. */
static void
task_status(struct sched *s, struct task *t, const char *how)
{
	log_status("[%zu/%zu] %s %s", s->nfinished + 1, s->nprompt, how,
	    t->name);
}

/* Put t aside for d seconds; holds_slot when it waits for the limits of
 * its endpoint (it then counts against -j). */
static void
task_delay(struct sched *s, struct task *t, double d, int holds_slot)
{
	struct run *r = t->run;

	r->ask->retry_at = now_mono() + d;
	r->ask->holds_slot = holds_slot;
	if (holds_slot)
		s->nholding++;
	t->state = TASK_READY;
	s->delayed = xreallocarray(s->delayed, s->ndelayed + 1,
	    sizeof(*s->delayed));
	s->delayed[s->ndelayed++] = t;
}

/* Send t's request (again), or put it aside while its endpoint is at a
 * limit. */
static void
task_send(struct sched *s, struct task *t)
{
	struct run *r = t->run;
	char *err = NULL;
	double wait = 0;
	int rc;

	if (r->ask->body == NULL)
		r->ask->body = request_wire_body(r->spec, r->ask->user,
		    r->ask->answer.len > 0 ? r->ask->answer.data : NULL);
	rc = provider_send(s->prov, r->spec, r->ask->body, t, &wait, &err);
	if (rc == 1) {
		task_delay(s, t, wait, 1);
		return;
	}
	if (rc == -1) {
		task_fail(s, t, err);
		free(err);
		return;
	}
	r->ask->attempts++;
	t->state = TASK_RUNNING;
	s->running++;
}

/* --budget: reserve the worst case of t's request, or start nothing
 * more.  Returns 1 when t may be sent. */
static int
sched_afford(struct sched *s, struct task *t, int batched)
{
	struct run *r = t->run;

	if (s->budget.limit < 0)
		return 1;
	r->ask->worst = budget_worst(r->spec->model, strlen(r->ask->body),
	    r->spec->max_tokens, r->spec->cache_mark, batched);
	if (r->ask->worst < 0 && !s->unpriced) {
		log_warning("--budget: the model %s has no price; its "
		    "requests are not counted", r->spec->model);
		s->unpriced = 1;
	}
	if (budget_admit(&s->budget, r->ask->worst)) {
		r->ask->reserved = 1;
		return 1;
	}
	free(r->ask->body);
	r->ask->body = NULL;
	if (s->budget.inflight > 0) {
		/* Requests in flight hold their worst case; most of it comes
		 * back when they are answered.  Wait for that, so the same
		 * plan and budget build the same tasks at any -j. */
		log_note("'%s' waits for requests in flight to settle the "
		    "budget", t->name);
		s->budget_hold = 1;
		ready_push(s, t);
		return 0;
	}
	log_error("--budget: '%s' could cost up to $%.4f; with $%.4f spent "
	    "and $%.4f in flight that is over the budget of $%.4f, so "
	    "nothing more is started", t->name, r->ask->worst, s->budget.spent,
	    s->budget.inflight, s->budget.limit);
	s->stopping = 1;
	s->over_budget = 1;
	return 0;
}

/* Answer t from the cache.  Returns 1 when it did, 0 on a miss, -1 when
 * the cached answer could not be applied (t has failed). */
static int
task_from_cache(struct sched *s, struct task *t)
{
	struct cache_entry e;
	struct run *r = t->run;
	char *warn = NULL, *err = NULL;

	if (s->opts->refresh)
		return 0;
	if (!cache_get(s->cachedir, r->spec->key, &e, &warn)) {
		if (warn) {
			log_warning("%s", warn);
			free(warn);
		}
		return 0;
	}
	log_debug(LOG_CACHE, "hit %s for %s", r->spec->key, t->name);
	if (task_apply(s, t, e.answer, e.answerlen, NULL, &err) == -1) {
		task_fail(s, t, err);
		free(err);
		cache_entry_clear(&e);
		return -1;
	}
	cache_entry_clear(&e);
	store_hit(s->store, r->spec->key);
	task_status(s, t, "restored from the cache:");
	s->ncached++;
	task_finish(s, t, 1);
	return 1;
}

/* --batch: queue t's request for the next batch. */
static void
sched_batch(struct sched *s, struct task *t)
{
	struct run *r = t->run;
	char *err = NULL;

	if ((r->ask->body = request_body(r->spec, t, &err)) == NULL) {
		task_fail(s, t, err);
		free(err);
		return;
	}
	if (!sched_afford(s, t, 1))
		return;
	batch_add(s->batches, r->spec->base, r->spec->keyvar, r->spec->key,
	    r->ask->body, t);
	free(r->ask->body);
	r->ask->body = NULL;
	r->ask->batched = 1;
	r->ask->attempts++;
	t->state = TASK_RUNNING;
}

/* Start t: finish it at once when it has no prompt, is up to date or
 * is in the cache; otherwise send its request. */
static void
task_start(struct sched *s, struct task *t)
{
	struct run *r = t->run;
	char *err = NULL, *why = NULL;

	if (t->rule->prompt == NULL) {
		task_finish(s, t, 1);
		return;
	}
	if (r->need == NEED_NOTHING) {
		/* So were its dependencies: nothing changed since. */
		log_note("'%s' is up to date", t->name);
		s->nuptodate++;
		task_finish(s, t, 1);
		return;
	}
	if (task_prepare(s, t, &err) == -1) {
		task_fail(s, t, err);
		free(err);
		return;
	}
	if (task_uptodate(s, t, &why)) {
		log_note("'%s' is up to date", t->name);
		s->nuptodate++;
		task_finish(s, t, 1);
		return;
	}
	if (r->edited != NULL) {
		free(why);
		task_refuse(s, t);
		return;
	}
	log_note("'%s' runs: %s", t->name, why);
	/* Judged only now that what it reads is built; the others were
	 * explained before the build. */
	if (r->need == NEED_LATER)
		log_debug(LOG_EXPLAIN, "'%s' is stale: %s", t->name, why);
	free(why);
	if (task_from_cache(s, t) != 0)
		return;
	if (s->opts->offline) {
		task_fail(s, t, "the cache has no answer and --offline "
		    "forbids asking");
		return;
	}
	if (r->spec->keyvar && (getenv(r->spec->keyvar) == NULL ||
	    *getenv(r->spec->keyvar) == '\0')) {
		xasprintf(&err, "%s is not set", r->spec->keyvar);
		task_fail(s, t, err);
		free(err);
		return;
	}
	if (batch_holds(s->batches, r->spec->key)) {
		log_note("'%s' waits on a batch that an earlier run created",
		    t->name);
		t->state = TASK_RUNNING;
		r->ask->batched = 1;
		batch_claim(s->batches, r->spec->key, t);
		return;
	}
	if (s->opts->batch && r->spec->wire == WIRE_ANTHROPIC &&
	    strcmp(r->spec->tier, "cheap") == 0) {
		/* The first task of a cached prefix goes alone, as a plain
		 * request; the others join a batch once it is answered. */
		r->spec->cache_1h = r->spec->cache_mark;
		switch (r->spec->cache_mark ? warm_admit(&s->warm,
		    r->spec->prefix, t) : WARM_GO) {
		case WARM_HOLD:
			log_note("'%s' waits for the prompt cache to be "
			    "written", t->name);
			return;
		case WARM_GO:
			sched_batch(s, t);
			return;
		}
		r->ask->warming = 1;
	}
	free(r->ask->user);		/* a task held before comes back here */
	free(r->ask->body);
	r->ask->body = NULL;
	if ((r->ask->user = request_user_text(r->spec, t, 0, &err)) == NULL) {
		task_fail(s, t, err);
		free(err);
		return;
	}
	r->ask->body = request_wire_body(r->spec, r->ask->user, NULL);
	if (!sched_afford(s, t, 0))
		return;
	if (r->spec->cache_mark && !r->ask->warming) {
		switch (warm_admit(&s->warm, r->spec->prefix, t)) {
		case WARM_HOLD:
			log_note("'%s' waits for the prompt cache to be "
			    "written", t->name);
			budget_settle(&s->budget, r->ask->reserved ?
			    r->ask->worst : 0, 0);
			r->ask->reserved = 0;
			free(r->ask->body);
			r->ask->body = NULL;
			return;
		case WARM_FIRST:
			r->ask->warming = 1;
			break;
		}
	}
	task_send(s, t);
}

/* The delay before try number attempts+1: the server's retry-after-ms
 * or retry-after when given, else exponential backoff with jitter, at
 * most retry_max_wait. */
static double
retry_delay(const struct outcome *o, int attempts, const struct spec *sp)
{
	double d;

	if (o->retry_after > 0)
		return o->retry_after;
	d = 0.5 * pow(2, attempts - 1);
	if (d > sp->retry_max_wait)
		d = sp->retry_max_wait;
	return d * (1 - 0.25 * ((double)rand() / RAND_MAX));
}

/* Fail t whose answer (n bytes) could not be used, keeping it. */
static void
fail_keeping(struct sched *s, struct task *t, const char *why,
    const char *text, size_t n)
{
	char *kept, *m;

	kept = keep_answer(s, t, text, n);
	xasprintf(&m, "%s; the partial answer is kept in %s", why, kept);
	task_fail(s, t, m);
	free(m);
	free(kept);
}

static void	task_continue(struct sched *, struct task *,
		    const struct reply *);

/* An answer came for t (seconds after it was sent, or through a batch
 * when r->ask->batched): count it, then continue it, or check it, cache it
 * and write its targets. */
static void
task_answered(struct sched *s, struct task *t, struct reply *rep,
    double seconds)
{
	struct run *r = t->run;
	struct cache_entry e;
	const char *text;
	char *err = NULL;
	size_t len;

	r->ask->cost += report_add(&s->report, r->spec->tier, r->spec->model,
	    &rep->usage, rep->write_1h, r->ask->batched);
	r->ask->usage.in += rep->usage.in;
	r->ask->usage.out += rep->usage.out;
	r->ask->usage.cache_write += rep->usage.cache_write;
	r->ask->usage.cache_read += rep->usage.cache_read;
	if (seconds >= 0)
		r->ask->seconds += seconds;
	if (r->ask->rounds == 0)
		s->nasked++;
	if (rep->warning)
		log_warning("'%s': %s", t->name, rep->warning);
	if (rep->note)
		log_note("'%s': %s", t->name, rep->note);

	switch (rep->stop_kind) {
	case STOP_LIMIT:
		if (r->ask->batched) {
			xasprintf(&err, "%s: the batched answer was cut at "
			    "max_tokens (%ld); raise max_tokens or build it "
			    "without --batch", r->spec->provider,
			    r->spec->max_tokens);
			fail_keeping(s, t, err, rep->text, rep->len);
			free(err);
			return;
		}
		task_continue(s, t, rep);
		return;
	case STOP_CONTEXT:
		xasprintf(&err, "%s: the answer filled the context window of "
		    "%s (%ld tokens in, %ld out; the request is %zu bytes): "
		    "shorten the inputs or split the task", r->spec->provider,
		    r->spec->model, rep->usage.in + rep->usage.cache_read +
		    rep->usage.cache_write, rep->usage.out,
		    (r->ask->user ? strlen(r->ask->user) : 0) +
		    strlen(r->spec->system));
		fail_keeping(s, t, err, rep->text, rep->len);
		free(err);
		return;
	case STOP_OTHER:
		xasprintf(&err, "%s: the answer stopped with '%s', not at its "
		    "end", r->spec->provider, rep->stop ? rep->stop :
		    "nothing");
		fail_keeping(s, t, err, rep->text, rep->len);
		free(err);
		return;
	}

	text = rep->text;
	len = rep->len;
	if (r->ask->rounds > 0) {
		if (provider_join(&r->ask->answer, rep->text, rep->len,
		    r->spec->prefill, 1, &err) == -1) {
			char *m;

			xasprintf(&m, "%s: the last part of a continued answer "
			    "does not join cleanly: %s", r->spec->provider,
			    err);
			buf_add(&r->ask->answer, rep->text, rep->len);
			fail_keeping(s, t, m, r->ask->answer.data,
			    r->ask->answer.len);
			free(m);
			free(err);
			return;
		}
		text = r->ask->answer.data;
		len = r->ask->answer.len;
	}

	/* The cache keeps the whole answer under the first request's key. */
	memset(&e, 0, sizeof(e));
	memcpy(e.key, r->spec->key, 65);
	e.model = rep->model;
	e.answer = (char *)text;
	e.answerlen = len;
	e.usage = r->ask->usage;
	if (task_apply(s, t, text, len, &e, &err) == -1) {
		task_fail(s, t, err);
		free(err);
	} else {
		if (r->ask->batched)
			log_status("[%zu/%zu] %s (%s, batch, %ld+%ld tokens)",
			    s->nfinished + 1, s->nprompt, t->name,
			    r->spec->tier, r->ask->usage.in, r->ask->usage.out);
		else if (r->ask->rounds > 0)
			log_status("[%zu/%zu] %s (%s, %.1f s, %ld+%ld tokens, "
			    "%d parts)", s->nfinished + 1, s->nprompt, t->name,
			    r->spec->tier, r->ask->seconds, r->ask->usage.in,
			    r->ask->usage.out, r->ask->rounds + 1);
		else
			log_status("[%zu/%zu] %s (%s, %.1f s, %ld+%ld tokens)",
			    s->nfinished + 1, s->nprompt, t->name,
			    r->spec->tier, r->ask->seconds, r->ask->usage.in,
			    r->ask->usage.out);
		if (!r->ask->batched)
			prio_durations_set(&s->durations, t->name,
			    r->ask->seconds, r->ask->usage.out);
		task_finish(s, t, 1);
	}
	buf_free(&r->ask->answer);
	free(r->ask->user);
	r->ask->user = NULL;
}

/* A whole answer of a recorded batch that no task of this plan claims
 * (the plan changed since): it was paid for, so it goes into the cache
 * under its request key. */
static void
batch_orphan(struct sched *s, const char *key, const char *message,
    size_t len)
{
	struct answer_meta m;
	struct cache_entry e;
	struct spec sp;
	struct decoder *d;
	struct outcome o;

	memset(&sp, 0, sizeof(sp));
	sp.wire = WIRE_ANTHROPIC;
	sp.provider = (char *)"anthropic";	/* not freed: sp is not */
	sp.model = (char *)"";			/* cleared */
	memset(&m, 0, sizeof(m));
	m.status = 200;
	d = decoder_new(&sp);
	decoder_feed(d, 200, "application/json", message, len);
	decoder_finish(d, &m, &o);
	decoder_free(d);
	if (o.ok && o.reply.stop_kind == STOP_END && strlen(key) == 64) {
		memset(&e, 0, sizeof(e));
		memcpy(e.key, key, 65);
		e.model = o.reply.model;
		e.answer = o.reply.text;
		e.answerlen = o.reply.len;
		e.usage = o.reply.usage;
		sched_cache_put(s, &e);
		log_note("an answer of a batch no task claims is cached "
		    "under %.12s", key);
	}
	outcome_clear(&o);
}

/* The answer to a request of a batch (a whole message), or why there is
 * none: a request that may pass when asked again (not billed) goes into
 * the next batch, up to the retries setting. */
static void
on_batch_answer(void *arg, struct task *t, const char *key,
    const char *message, size_t len, const char *err, int retry)
{
	struct answer_meta m;
	struct sched *s = arg;
	struct run *r;
	struct decoder *d;
	struct outcome o;
	char *msg;

	if (t == NULL) {
		batch_orphan(s, key, message, len);
		return;
	}
	r = t->run;
	r->ask->batched = 1;
	if (err != NULL && retry && r->ask->attempts <= r->spec->retries &&
	    !interrupted && !s->stopping) {
		log_note("'%s': %s; asking again in the next batch", t->name,
		    err);
		budget_settle(&s->budget, r->ask->reserved ? r->ask->worst :
		    0, 0);
		r->ask->reserved = 0;
		sched_batch(s, t);
		return;
	}
	if (err != NULL) {
		if (r->ask->attempts > 1) {
			xasprintf(&msg, "%s after %d tries", err,
			    r->ask->attempts);
			task_fail(s, t, msg);
			free(msg);
		} else
			task_fail(s, t, err);
		return;
	}
	memset(&m, 0, sizeof(m));
	m.status = 200;
	d = decoder_new(r->spec);
	decoder_feed(d, 200, "application/json", message, len);
	decoder_finish(d, &m, &o);
	decoder_free(d);
	if (!o.ok)
		task_fail(s, t, o.err);
	else
		task_answered(s, t, &o.reply, -1);
	outcome_clear(&o);
}

/* A failed attempt: try again later, or fail t quoting the provider. */
static void
on_failure(struct sched *s, struct task *t, struct outcome *o)
{
	struct run *r = t->run;
	char *m;
	double d;

	/* A rate limit while the endpoint is held back is the wait
	 * working, not the task failing: it has its own, larger cap. */
	if (o->kind == FAIL_RETRY && o->throttled &&
	    r->ask->throttled < THROTTLE_TRIES) {
		r->ask->throttled++;
		r->ask->attempts--;
	}
	if (o->kind == FAIL_RETRY && r->ask->attempts <= r->spec->retries &&
	    !interrupted && !s->fatal) {
		d = retry_delay(o, r->ask->attempts, r->spec);
		if (d <= r->spec->retry_max_wait) {
			log_note("'%s': %s; trying again in %.2f s", t->name,
			    o->err, d);
			/* It keeps its slot: a new start in it would put
			 * more than -j in flight when it comes back. */
			task_delay(s, t, d, 1);
			return;
		}
		xasprintf(&m, "%s; the server asks to wait %.0f s, longer "
		    "than retry_max_wait (%g s)", o->err, d,
		    r->spec->retry_max_wait);
	} else if (r->ask->attempts > 1)
		xasprintf(&m, "%s after %d tries", o->err, r->ask->attempts);
	else
		m = xstrdup(o->err);
	task_fail(s, t, m);
	free(m);
	if (o->kind == FAIL_STOP && !s->fatal) {
		s->fatal = 1;
		s->stopping = 1;
		log_error("stopping: %s refuses every request until the limit "
		    "is raised; nothing more is sent", r->spec->provider);
	}
}

/* The answer was cut at max_tokens: ask for the rest in a new round,
 * unless the rounds are used up or the parts do not join. */
static void
task_continue(struct sched *s, struct task *t, const struct reply *rep)
{
	struct run *r = t->run;
	char *err = NULL, *m;

	if (provider_join(&r->ask->answer, rep->text, rep->len,
	    r->spec->prefill, 0, &err) == -1) {
		xasprintf(&m, "%s: the answer was cut at max_tokens (%ld) and "
		    "its continuation does not join cleanly: %s",
		    r->spec->provider, r->spec->max_tokens, err);
		buf_add(&r->ask->answer, rep->text, rep->len);
		fail_keeping(s, t, m, r->ask->answer.data, r->ask->answer.len);
		free(m);
		free(err);
		return;
	}
	if (r->ask->answer.len == 0 ||
	    r->ask->rounds >= r->spec->continuations) {
		xasprintf(&m, "%s: the answer was cut at max_tokens (%ld) %s",
		    r->spec->provider, r->spec->max_tokens,
		    r->ask->answer.len == 0 ?
		    "before any text came" : r->ask->rounds == 0 ?
		    "and continuations is 0" : "in every round (setting "
		    "continuations)");
		fail_keeping(s, t, m, r->ask->answer.data ?
		    r->ask->answer.data : "", r->ask->answer.len);
		free(m);
		return;
	}
	r->ask->rounds++;
	r->ask->attempts = 0;
	log_note("'%s': the answer was cut at max_tokens (%ld); asking for "
	    "the rest (continuation %d of at most %d)", t->name,
	    r->spec->max_tokens, r->ask->rounds, r->spec->continuations);
	task_send(s, t);
}

/* A request ended: retry it, fail its task, continue it, or store and
 * apply the answer. */
static void
on_done(struct outcome *o, void *arg)
{
	struct sched *s = arg;
	struct task *t = o->udata;
	struct run *r = t->run;

	s->running--;
	if (!o->ok) {
		on_failure(s, t, o);
		return;
	}
	free(r->ask->body);
	r->ask->body = NULL;
	task_answered(s, t, &o->reply, o->seconds);
}

/* A transfer of a batch ended. */
static void
on_batch_http(const struct http_result *res, void *arg)
{
	struct sched *s = arg;

	batch_done(s->batches, res);
}

/* Move delayed tasks whose time has come back to the wire.  Returns the
 * milliseconds until the next one, or -1 when none waits. */
static int
sched_retry(struct sched *s)
{
	double now, next = -1;
	struct task *t;
	struct run *r;
	size_t i;

	now = now_mono();
	for (i = 0; i < s->ndelayed; ) {
		t = s->delayed[i];
		r = t->run;
		if (r->ask->retry_at <= now || interrupted || s->fatal) {
			s->delayed[i] = s->delayed[--s->ndelayed];
			if (r->ask->holds_slot) {
				s->nholding--;
				r->ask->holds_slot = 0;
			}
			if (interrupted) {
				task_fail(s, t, r->ask->attempts > 0 ?
				    "interrupted while waiting to retry" :
				    "interrupted before it was sent");
				continue;
			}
			if (s->fatal) {
				task_fail(s, t, "not sent: the build stopped");
				continue;
			}
			task_send(s, t);
			continue;
		}
		r = t->run;
		if (next < 0 || r->ask->retry_at - now < next)
			next = r->ask->retry_at - now;
		i++;
	}
	return next < 0 ? -1 : (int)(next * 1000) + 1;
}

/* The event loop: start ready tasks up to -j, wait on the network. */
static void
sched_loop(struct sched *s)
{
	int wait, bwait, busy, ms;

	for (;;) {
		if (interrupted == 1 && !s->stopping) {
			log_error("interrupted: waiting for %d request%s in "
			    "flight (interrupt again to abort them)",
			    s->running, s->running == 1 ? "" : "s");
			s->stopping = 1;
		} else if (interrupted > 1 && !s->aborting) {
			log_error("interrupted: aborting %d request%s in "
			    "flight", s->running, s->running == 1 ? "" : "s");
			s->stopping = 1;
			s->aborting = 1;
		}
		if (interrupted > 1 && (provider_running(s->prov) > 0 ||
		    http_running(s->bhttp) > 0))
			break;
		while (!s->stopping && !s->budget_hold && s->ready.len > 0 &&
		    s->running + (int)s->nholding < s->opts->jobs)
			task_start(s, ready_pop(s));
		batch_flush(s->batches);
		bwait = interrupted ? -1 : batch_tick(s->batches);
		wait = sched_retry(s);
		/* A batch in progress is waited for, but not after an
		 * interrupt: a rerun resumes it. */
		busy = batch_inflight(s->batches) > 0 ||
		    (batch_waiting(s->batches) > 0 && !interrupted);
		if (s->running == 0 && s->ndelayed == 0 && !busy &&
		    (s->ready.len == 0 || s->stopping))
			break;
		ms = 100;
		if (wait > 0 && wait < ms)
			ms = wait;
		if (bwait > 0 && bwait < ms)
			ms = bwait;
		/* The requests wait on the provider; a batch's few transfers
		 * are looked at in passing. */
		if (s->running > 0) {
			provider_poll(s->prov, ms, on_done, s);
			http_poll(s->bhttp, 0, NULL, 0, on_batch_http, s);
		} else if (s->bhttp != NULL)
			http_poll(s->bhttp, ms, NULL, 0, on_batch_http, s);
		else
			poll(NULL, 0, ms);
	}
}

/* Print the summary (and with --json the report on stdout): counts,
 * tokens and cost per tier, what failed, was skipped or never started. */
static void
sched_report(struct sched *s, int rc, double t0)
{
	struct report *rp = &s->report;
	struct task *t;
	char *err = NULL;
	size_t i;

	rp->ntasks = s->nprompt;
	rp->nasked = s->nasked;
	rp->ncached = s->ncached;
	rp->nuptodate = s->nuptodate;
	rp->seconds = now_mono() - t0;
	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		if (t->state == TASK_FAILED)
			report_list(rp, REPORT_FAILED, t->name);
		else if (t->state == TASK_SKIPPED && t->rule->prompt)
			report_list(rp, REPORT_SKIPPED, t->name);
		else if (t->state == TASK_RUNNING &&
		    ((struct run *)t->run)->ask->batched)
			report_list(rp, REPORT_INBATCH, t->name);
		else if (t->state != TASK_DONE && t->state != TASK_SKIPPED &&
		    t->rule->prompt) {
			/* Never started because the build stopped, but it
			 * was up to date, as were all it reads. */
			if (((struct run *)t->run)->need == NEED_NOTHING)
				rp->nuptodate++;
			else
				report_list(rp, REPORT_UNDONE, t->name);
		}
	}
	report_print(rp);
	if (s->opts->json && report_json(rp, rc, stdout, &err) == -1) {
		log_error("%s", err);
		free(err);
	}
}

/* Save the lock when the run changed it, with the rest of the state,
 * and let go of the state; and the durations (a failure to save those
 * is only a warning). */
static int
sched_save(struct sched *s)
{
	char *err = NULL, *path;
	int rc;

	xasprintf(&path, "%s/durations", s->opts->statedir);
	if (prio_durations_save(&s->durations, path, &err) == -1) {
		log_warning("%s", err);
		free(err);
		err = NULL;
	}
	free(path);
	rc = store_close(s->store, &s->lock, &err);
	s->store = NULL;
	if (rc == -1) {
		log_error("%s", err);
		free(err);
		return -1;
	}
	return 0;
}

/* Free the scheduler's data. */
static void
sched_free(struct sched *s)
{
	struct run *r;
	size_t i;

	for (i = 0; i < s->dag->ntasks; i++) {
		if ((r = s->dag->tasks[i]->run) == NULL)
			continue;
		run_spec_free(r);
		free(r->why);
		if (r->ask != NULL) {
			free(r->ask->user);
			free(r->ask->body);
			buf_free(&r->ask->answer);
			free(r->ask);
		}
		s->dag->tasks[i]->run = NULL;
	}
	report_free(&s->report);
	warm_free(&s->warm);
	batches_free(s->batches);
	prio_heap_free(&s->ready);
	free(s->prio);
	prio_durations_free(&s->durations);
	free(s->runs);
	free(s->delayed);
	free(s->cachedir);
	provider_free(s->prov);
	http_free(s->bhttp);
	if (s->store != NULL)
		sched_save(s);
	lock_free(&s->lock);
	request_memo(NULL);
}

/* The batch_poll setting: seconds between polls of a batch. */
static int
sched_batch_poll(struct sched *s, struct plan *p)
{
	struct loc l = { 0 };
	char *v, *end;

	s->batch_poll = BATCH_POLL;
	if ((v = plan_setting(p, NULL, "batch_poll", &l)) == NULL)
		return 0;
	s->batch_poll = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || !(s->batch_poll > 0) ||
	    s->batch_poll > 86400) {
		if (l.file != NULL)
			log_error("%s:%d:%d: bad batch_poll '%s' (seconds, "
			    "more than 0)", l.file, l.line, l.col, v);
		else
			log_error("command line: bad batch_poll '%s' "
			    "(seconds, more than 0)", v);
		free(v);
		return -1;
	}
	free(v);
	return 0;
}

/* Prepare s: the lock, per-task data, the blocking counts. */
static int
sched_init(struct sched *s, struct plan *p, struct dag *d,
    const struct sched_opts *o)
{
	struct store_opts so;
	struct task *t;
	char *err = NULL, *path;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->plan = p;
	s->dag = d;
	s->opts = o;
	path = request_tier_model(p, "strong");
	report_init(&s->report, path);
	free(path);
	s->report.budget = o->budget;
	s->budget.limit = o->budget;
	if (sched_batch_poll(s, p) == -1)
		return -1;
	xasprintf(&s->cachedir, "%s/cache", o->statedir);
	s->prio = xcalloc(d->ntasks + 1, sizeof(*s->prio));
	prio_heap_init(&s->ready, d->ntasks, s->prio);
	request_memo(p);
	s->runs = xcalloc(d->ntasks, sizeof(*s->runs));	/* one block */
	for (i = 0; i < d->ntasks; i++)
		d->tasks[i]->run = &s->runs[i];
	so.statedir = o->statedir;
	so.lockfile = o->lockfile;
	so.readonly = o->dry_run || o->question;
	so.nowait = o->nowait;
	so.verify_keys = o->always || o->refresh;
	if ((s->store = store_open(&so, &s->lock, &err)) == NULL) {
		log_error("%s", err);
		free(err);
		return -1;
	}
	for (i = 0; i < d->norder; i++) {
		t = d->order[i];
		t->nblocked = t->ndeps;
		t->state = TASK_WAITING;
		if (t->rule->prompt)
			s->nprompt++;
	}
	return 0;
}

int
sched_run(struct plan *p, struct dag *d, const struct sched_opts *o)
{
	struct sigaction sa;
	struct sched s;
	struct run *r;
	double t0 = now_mono();
	char *bdir, *err = NULL;
	size_t i, nstale;
	int rc = 0;

	if (sched_init(&s, p, d, o) == -1) {
		sched_free(&s);
		return 2;
	}
	sched_assess(&s);
	for (i = nstale = 0; i < d->norder; i++) {
		r = d->order[i]->run;
		if (r->need != NEED_NOTHING) {
			r->ask = xcalloc(1, sizeof(*r->ask));
			nstale++;
		}
	}
	/* The recorded durations weigh only tasks that will run: a no-op
	 * reads none.  (Only those tasks record new ones, so nothing is
	 * lost by not loading them.) */
	if (nstale > 0) {
		xasprintf(&bdir, "%s/durations", o->statedir);
		prio_durations_load(&s.durations, bdir);
		free(bdir);
		sched_prioritise(&s);
		/* Files change from now on: stats are taken anew. */
		dag_forget_stats(d);
	}
	if (o->dry_run || o->question) {
		rc = nstale > 0;
		if (o->explain)
			sched_explain(&s);
		else if (o->dry_run && o->json)
			sched_dry_json(&s);
		else if (o->dry_run)
			sched_dry_run(&s);
		else if (o->json)
			printf("{\"up_to_date\":%s}\n", rc ? "false" : "true");
		sched_free(&s);
		return o->question ? rc : 0;
	}
	if (sched_preflight(&s) == -1) {
		sched_free(&s);
		return 2;
	}

	/* The backoff's jitter differs from run to run, so runs that
	 * failed together do not retry in step. */
	srand((unsigned)getpid() ^ (unsigned)time(NULL) ^
	    (unsigned)(now_mono() * 1e6));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);	/* a closed terminal: as SIGTERM */
	sa.sa_handler = SIG_IGN;	/* a command that stops reading */
	sigaction(SIGPIPE, &sa, NULL);
	/* The provider only when something may have to be asked (a batch
	 * in progress means its tasks are not up to date either); libcurl
	 * itself is loaded with the first transfer. */
	if (nstale > 0) {
		s.prov = provider_new(o->jobs);
		xasprintf(&bdir, "%s/batches", o->statedir);
		s.bhttp = http_new();
		s.batches = batches_new(bdir, s.batch_poll, s.bhttp,
		    on_batch_answer, &s, &err);
		free(bdir);
		if (err != NULL) {
			log_warning("%s", err);
			free(err);
		}
	}
	for (i = 0; i < d->norder; i++)
		if (d->order[i]->nblocked == 0)
			ready_push(&s, d->order[i]);
	sched_loop(&s);

	if (sched_save(&s) == -1)
		rc = 1;
	if ((bdir = batch_pending_ids(s.batches)) != NULL) {
		log_error("batch %s is still in progress; run planmake again "
		    "to collect its answers", bdir);
		free(bdir);
		rc = 1;
	}
	if (interrupted) {
		log_error("interrupted: %zu of %zu tasks done; what finished "
		    "is kept", s.nasked + s.ncached + s.nuptodate, s.nprompt);
		rc = 130;
	} else if (s.nfailed > 0 || s.over_budget) {
		rc = 1;
	}
	sched_report(&s, rc, t0);
	sched_free(&s);
	return rc;
}
