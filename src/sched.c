#include "sched.h"

#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "dag.h"
#include "explain.h"
#include "extract.h"
#include "http.h"
#include "log.h"
#include "plan.h"
#include "provider.h"
#include "request.h"
#include "state.h"
#include "store.h"
#include "util.h"

/* What a task needs, as far as can be told before the build. */
enum need {
	NEED_NOTHING,		/* up to date */
	NEED_CACHE,		/* the cache has the answer */
	NEED_REQUEST,		/* a model must be asked */
	NEED_LATER,		/* depends on a task that will change */
	NEED_ERROR,		/* its request cannot be formed */
	NEED_REFUSED		/* stale, and a target was edited by hand */
};

/* The scheduler's data for one task (task->run). */
struct run {
	struct spec	 spec;
	int		 have_spec;
	int		 need;		/* enum need, from the first pass */
	char		*why;		/* owned: why it runs */
	char		*body;		/* owned: the request, while asked */
	int		 attempts;
	double		 retry_at;	/* monotonic time of the next try */
	const char	*edited;	/* a target edited by hand, or NULL */
};

/* Tokens and money for one tier. */
struct tier_stats {
	char		*tier;
	char		*model;
	struct usage	 usage;
	double		 cost;
	int		 unknown_cost;
	int		 requests;
};

struct sched {
	struct plan		 *plan;
	struct dag		 *dag;
	const struct sched_opts	 *opts;
	struct lock		  lock;
	struct store		 *store;	/* .planmake and the lock */
	struct run		 *runs;		/* each task's, in one block */
	char			 *cachedir;
	struct http		 *http;
	struct task		**ready;	/* a FIFO ring of ntasks slots */
	size_t			  rhead, rlen;
	struct task		**delayed;	/* waiting to retry */
	size_t			  ndelayed;
	int			  running;
	int			  stopping;	/* start nothing new */
	int			  fatal;	/* a failure that stops all */
	size_t			  nprompt;	/* needed tasks with a prompt */
	size_t			  nfinished;	/* of those */
	size_t			  nasked, ncached, nuptodate, nfailed;
	size_t			  nskipped;
	struct tier_stats	 *tiers;
	size_t			  ntiers;
};

static volatile sig_atomic_t	interrupted;

static void
on_signal(int sig)
{
	interrupted += sig == SIGTERM ? 2 : 1;
}

/* The content hash of n, once per run, and read only when the file's
 * stat is not the one recorded with its hash. */
static int
node_hash(struct sched *s, struct node *n, char **errp)
{
	int rc;

	if (n->hashed || n->phony)
		return 0;
	if ((rc = store_hash(s->store, n->path, n->hash, errp)) == -1)
		return -1;
	if (rc == 0) {
		xasprintf(errp, "cannot open %s: %s", n->path,
		    strerror(ENOENT));
		return -1;
	}
	n->hashed = 1;
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
	if (!r->have_spec) {
		if (request_spec(&r->spec, s->plan, t, errp) == -1)
			return -1;
		r->have_spec = 1;
	}
	request_key(&r->spec, t);
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
	int ok = 1, rc;

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
		if (e == NULL || e->path[0] == '\0') {
			if (ok)
				xasprintf(why, "'%s' is not in planmake.lock",
				    o->path);
			ok = 0;
			continue;
		}
		if (ok && strcmp(e->key, r->spec.key) != 0) {
			/* The first difference, only when it is shown: a
			 * manifest read for each of 100,000 tasks is not
			 * free. */
			diff = s->opts->dry_run || log_level >= LOG_VERBOSE ||
			    log_debugging(LOG_EXPLAIN) ? explain_diff(
			    s->opts->statedir, e->key, &r->spec, t) : NULL;
			if (diff != NULL)
				xasprintf(why, "its request changed: %s",
				    diff);
			else
				xasprintf(why, "its request changed (prompt, "
				    "settings or inputs)");
			free(diff);
			ok = 0;
		}
		if ((rc = store_hash(s->store, o->path, hash, &err)) == -1) {
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

	log_error("task '%s' failed: '%s' was edited since planmake wrote "
	    "it, and planmake does not overwrite it (--force=%s overwrites "
	    "it; -B rebuilds everything, overwriting edits)", t->name,
	    r->edited, r->edited);
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
				if (((struct run *)t->deps[k]->run)->need !=
				    NEED_NOTHING)
					r->need = NEED_LATER;
			continue;
		}
		for (k = 0; k < t->ndeps; k++) {
			if (((struct run *)t->deps[k]->run)->need ==
			    NEED_NOTHING)
				continue;
			r->need = NEED_LATER;
			xasprintf(&r->why, "it depends on '%s', which will "
			    "change", t->deps[k]->name);
			break;
		}
		if (r->need == NEED_LATER)
			continue;
		err = NULL;
		if (task_prepare(s, t, &err) == -1) {
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
			spec_clear(&r->spec);
			r->have_spec = 0;
		} else if (r->edited != NULL)
			r->need = NEED_REFUSED;
		else
			r->need = cache_has(s, r->spec.key) ? NEED_CACHE :
			    NEED_REQUEST;
		if (r->need != NEED_NOTHING)
			log_debug(LOG_EXPLAIN, "'%s' is stale: %s", t->name,
			    r->why);
	}
}

static struct tier_stats	*tier_stats(struct sched *s, const char *tier,
			    const char *model);

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
	if (!r->have_spec) {
		if (request_spec(&r->spec, s->plan, t, &err) == -1) {
			free(err);
			est->cost = -1;
			return;
		}
		r->have_spec = 1;
	}
	bytes = strlen(r->spec.system) + strlen(r->spec.prompt) + 20;
	for (i = 0; i < t->nins; i++)
		if (!t->ins[i]->phony)
			bytes += strlen(t->ins[i]->path) + 16 +
			    (stat(t->ins[i]->path, &st) == 0 ?
			    (size_t)st.st_size : 0);
	for (i = 0; i < t->nouts; i++)
		bytes += strlen(t->outs[i]->path) + 3;
	u.in = est->in = (long)(bytes / 4 + 1);
	u.out = est->out = r->spec.max_tokens;
	est->cost = provider_cost(r->spec.model, &u);
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

/* -n: say what would happen to each task, and what it would cost, on
 * stdout. */
static int
sched_dry_run(struct sched *s)
{
	struct tier_stats *ts;
	struct estimate est;
	struct buf b = { 0 };
	struct task *t;
	struct run *r;
	size_t i, n = 0, nask = 0, nlater = 0, ncache = 0;
	long in = 0, out = 0;
	double cost = 0;
	int unknown = 0;

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
			ncache++;
			break;
		case NEED_REQUEST:
		case NEED_LATER:
			estimate(s, t, &est);
			buf_printf(&b, "about %ld tokens in, at most %ld out, ",
			    est.in, est.out);
			cost_text(&b, est.cost);
			if (r->need == NEED_REQUEST)
				printf("ask the %s tier (%s:%s) for %s: %s; "
				    "%s\n", r->spec.tier, r->spec.provider,
				    r->spec.model, t->name, r->why, b.data);
			else
				printf("maybe ask for %s: %s; if asked, %s\n",
				    t->name, r->why, b.data);
			in += est.in;
			out += est.out;
			ts = tier_stats(s, r->spec.tier, r->spec.model);
			if (est.cost < 0)
				unknown = ts->unknown_cost = 1;
			else {
				cost += est.cost;
				ts->cost += est.cost;
			}
			if (r->need == NEED_REQUEST)
				nask++;
			else
				nlater++;
			break;
		case NEED_ERROR:
			printf("cannot ask for %s: %s\n", t->name, r->why);
			break;
		case NEED_REFUSED:
			printf("refuse %s: '%s' was edited by hand (%s); "
			    "--force=%s would overwrite it\n", t->name,
			    r->edited, r->why, r->edited);
			break;
		}
		n++;
	}
	buf_free(&b);
	if (n == 0) {
		log_status("nothing to do: %zu tasks up to date", s->nprompt);
		return 0;
	}
	printf("would ask %zu task%s (and %zu more if what they read "
	    "changes), restore %zu from the cache for free; about %ld tokens "
	    "in, at most %ld out, at most $%.4f%s", nask, nask == 1 ? "" :
	    "s", nlater, ncache, in, out, cost, unknown ?
	    " and some of unknown price" : "");
	for (i = 0; i < s->ntiers; i++) {
		printf("%s%s $%.4f%s", i ? ", " : " (", s->tiers[i].tier,
		    s->tiers[i].cost, s->tiers[i].unknown_cost ? "+?" : "");
	}
	printf("%s\n", s->ntiers ? ")" : "");
	return 0;
}

/* Before any request: every provider that must be asked has a key. */
static int
sched_check_keys(struct sched *s)
{
	struct task *t;
	struct run *r;
	const char *v;
	size_t i;

	if (s->opts->offline)
		return 0;
	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (r->need != NEED_REQUEST || r->spec.keyvar == NULL)
			continue;
		if ((v = getenv(r->spec.keyvar)) == NULL || *v == '\0') {
			log_error("%s is not set, and '%s' needs to ask %s "
			    "(%s tier): nothing was asked", r->spec.keyvar,
			    t->name, r->spec.provider, r->spec.tier);
			return -1;
		}
	}
	return 0;
}

/* The statistics slot of tier, created on first use. */
static struct tier_stats *
tier_stats(struct sched *s, const char *tier, const char *model)
{
	size_t i;

	for (i = 0; i < s->ntiers; i++)
		if (strcmp(s->tiers[i].tier, tier) == 0)
			return &s->tiers[i];
	s->tiers = xreallocarray(s->tiers, s->ntiers + 1, sizeof(*s->tiers));
	memset(&s->tiers[s->ntiers], 0, sizeof(*s->tiers));
	s->tiers[s->ntiers].tier = xstrdup(tier);
	s->tiers[s->ntiers].model = xstrdup(model);
	return &s->tiers[s->ntiers++];
}

static void
ready_push(struct sched *s, struct task *t)
{
	size_t n = s->dag->ntasks;

	t->state = TASK_READY;
	s->ready[(s->rhead + s->rlen++) % n] = t;
}

static struct task *
ready_pop(struct sched *s)
{
	struct task *t;

	t = s->ready[s->rhead];
	s->rhead = (s->rhead + 1) % s->dag->ntasks;
	s->rlen--;
	return t;
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

/* t has ended; release or skip what waits for it. */
static void
task_finish(struct sched *s, struct task *t, int ok)
{
	size_t i;

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
	char *targets[t->nouts ? t->nouts : 1], *err = NULL, *kept;
	size_t i;
	int rc = 0;

	if (t->phony) {
		if (e != NULL)
			sched_cache_put(s, e);
		fwrite(answer, 1, n, stdout);
		if (n > 0 && answer[n - 1] != '\n')
			putchar('\n');
		fflush(stdout);
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
	/* The journal hears of the targets before they change, so that
	 * after a kill at any moment each holds what the lock or the
	 * journal says. */
	for (i = 0; i < t->nouts; i++) {
		sha256_hex(files[i].data, files[i].len, t->outs[i]->hash);
		t->outs[i]->hashed = 1;
	}
	store_writing(s->store, t, &r->spec);
	for (i = 0; i < t->nouts && rc == 0; i++) {
		rc = file_write_atomic(t->outs[i]->path, files[i].data,
		    files[i].len, 0, errp);
		if (rc == 0)
			lock_set(&s->lock, t->outs[i]->path, r->spec.key,
			    t->outs[i]->hash);
	}
	if (rc == 0)
		store_written(s->store, t, &r->spec);
	for (i = 0; i < t->nouts; i++)
		free(files[i].data);
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

/* Send t's request (again). */
static void
task_send(struct sched *s, struct task *t)
{
	struct run *r = t->run;
	const char *hdrs[5];
	char *url, *auth = NULL, *err = NULL;
	const char *key;
	int i = 0;

	key = r->spec.keyvar ? getenv(r->spec.keyvar) : NULL;
	if (r->spec.wire == WIRE_ANTHROPIC) {
		xasprintf(&url, "%s/v1/messages", r->spec.base);
		xasprintf(&auth, "x-api-key: %s", key ? key : "");
		hdrs[i++] = auth;
		hdrs[i++] = "anthropic-version: 2023-06-01";
	} else {
		xasprintf(&url, "%s/chat/completions", r->spec.base);
		if (key != NULL) {
			xasprintf(&auth, "Authorization: Bearer %s", key);
			hdrs[i++] = auth;
		}
	}
	hdrs[i++] = "content-type: application/json";
	hdrs[i] = NULL;
	r->attempts++;
	if (http_post(s->http, url, hdrs, r->body, 900, t, &err) == -1) {
		task_fail(s, t, err);
		free(err);
	} else {
		t->state = TASK_RUNNING;
		s->running++;
	}
	if (auth != NULL) {
		memset(auth, 0, strlen(auth));	/* holds the key */
		free(auth);
	}
	free(url);
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
	if (!cache_get(s->cachedir, r->spec.key, &e, &warn)) {
		if (warn) {
			log_warning("%s", warn);
			free(warn);
		}
		return 0;
	}
	log_debug(LOG_CACHE, "hit %s for %s", r->spec.key, t->name);
	if (task_apply(s, t, e.answer, e.answerlen, NULL, &err) == -1) {
		task_fail(s, t, err);
		free(err);
		cache_entry_clear(&e);
		return -1;
	}
	cache_entry_clear(&e);
	store_hit(s->store, r->spec.key);
	task_status(s, t, "restored from the cache:");
	s->ncached++;
	task_finish(s, t, 1);
	return 1;
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
	free(why);
	if (task_from_cache(s, t) != 0)
		return;
	if (s->opts->offline) {
		task_fail(s, t, "the cache has no answer and --offline "
		    "forbids asking");
		return;
	}
	if (r->spec.keyvar && (getenv(r->spec.keyvar) == NULL ||
	    *getenv(r->spec.keyvar) == '\0')) {
		xasprintf(&err, "%s is not set", r->spec.keyvar);
		task_fail(s, t, err);
		free(err);
		return;
	}
	if ((r->body = request_body(&r->spec, t, &err)) == NULL) {
		task_fail(s, t, err);
		free(err);
		return;
	}
	task_send(s, t);
}

/* The delay before try number attempts+1: the server's retry-after when
 * given, else exponential backoff with jitter, at most 30 s. */
static double
retry_delay(const struct http_result *res, int attempts)
{
	double d;

	if (res->retry_after_ms && (d = atof(res->retry_after_ms)) > 0)
		return d / 1000;
	if (res->retry_after && (d = atof(res->retry_after)) > 0)
		return d;
	d = 0.5 * pow(2, attempts - 1);
	d *= 0.75 + 0.5 * ((double)rand() / RAND_MAX);
	return d > 30 ? 30 : d;
}

/* A request ended: retry it, fail its task, or store and apply it. */
static void
on_done(const struct http_result *res, void *arg)
{
	struct sched *s = arg;
	struct task *t = res->udata;
	struct run *r = t->run;
	struct tier_stats *ts;
	struct cache_entry e;
	struct reply rep;
	char *err = NULL;
	double cost, d;
	int kind;

	s->running--;
	if (provider_parse(&r->spec, res->status, res->body, res->len,
	    res->neterr, res->reqid, &rep, &err, &kind) == -1) {
		if (kind == FAIL_RETRY && r->attempts < s->opts->attempts &&
		    !interrupted) {
			d = retry_delay(res, r->attempts);
			log_note("'%s': %s; trying again in %.1f s", t->name,
			    err, d);
			free(err);
			r->retry_at = now_mono() + d;
			t->state = TASK_READY;
			s->delayed = xreallocarray(s->delayed,
			    s->ndelayed + 1, sizeof(*s->delayed));
			s->delayed[s->ndelayed++] = t;
			return;
		}
		if (r->attempts > 1) {
			char *m;

			xasprintf(&m, "%s after %d tries", err, r->attempts);
			free(err);
			err = m;
		}
		if (kind == FAIL_FATAL && res->status == 429) {
			s->fatal = 1;
			s->stopping = 1;
		}
		task_fail(s, t, err);
		free(err);
		return;
	}
	free(r->body);
	r->body = NULL;

	ts = tier_stats(s, r->spec.tier, r->spec.model);
	ts->requests++;
	ts->usage.in += rep.usage.in;
	ts->usage.out += rep.usage.out;
	ts->usage.cache_write += rep.usage.cache_write;
	ts->usage.cache_read += rep.usage.cache_read;
	if ((cost = provider_cost(r->spec.model, &rep.usage)) < 0)
		ts->unknown_cost = 1;
	else
		ts->cost += cost;
	s->nasked++;

	if (rep.stop == NULL || (strcmp(rep.stop, "end_turn") != 0 &&
	    strcmp(rep.stop, "stop_sequence") != 0 &&
	    strcmp(rep.stop, "stop") != 0)) {
		char *kept = keep_answer(s, t, rep.text, rep.len);

		xasprintf(&err, "%s: the answer stopped with '%s', not at "
		    "its end (max_tokens is %ld); the partial answer is kept "
		    "in %s", r->spec.provider, rep.stop ? rep.stop : "nothing",
		    r->spec.max_tokens, kept);
		free(kept);
		task_fail(s, t, err);
		free(err);
		reply_clear(&rep);
		return;
	}

	memset(&e, 0, sizeof(e));
	memcpy(e.key, r->spec.key, 65);
	e.model = rep.model;
	e.answer = rep.text;
	e.answerlen = rep.len;
	e.usage = rep.usage;
	if (task_apply(s, t, rep.text, rep.len, &e, &err) == -1) {
		task_fail(s, t, err);
		free(err);
	} else {
		log_status("[%zu/%zu] %s (%s, %.1f s, %ld+%ld tokens)",
		    s->nfinished + 1, s->nprompt, t->name, r->spec.tier,
		    res->seconds, rep.usage.in, rep.usage.out);
		task_finish(s, t, 1);
	}
	reply_clear(&rep);
}

/* Move delayed tasks whose time has come back to the wire.  Returns the
 * milliseconds until the next one, or -1 when none waits. */
static int
sched_retry(struct sched *s)
{
	double now, next = -1;
	struct task *t;
	size_t i;

	now = now_mono();
	for (i = 0; i < s->ndelayed; ) {
		t = s->delayed[i];
		if (((struct run *)t->run)->retry_at <= now || interrupted) {
			s->delayed[i] = s->delayed[--s->ndelayed];
			if (interrupted) {
				task_fail(s, t, "interrupted while waiting "
				    "to retry");
				continue;
			}
			task_send(s, t);
			continue;
		}
		if (next < 0 || ((struct run *)t->run)->retry_at - now < next)
			next = ((struct run *)t->run)->retry_at - now;
		i++;
	}
	return next < 0 ? -1 : (int)(next * 1000) + 1;
}

/* The event loop: start ready tasks up to -j, wait on the network. */
static void
sched_loop(struct sched *s)
{
	int wait;

	for (;;) {
		if (interrupted && !s->stopping) {
			log_error("interrupted: waiting for %d request%s in "
			    "flight (interrupt again to abort them)",
			    s->running, s->running == 1 ? "" : "s");
			s->stopping = 1;
		}
		if (interrupted > 1 && s->running > 0)
			break;
		while (!s->stopping && s->rlen > 0 &&
		    s->running < s->opts->jobs)
			task_start(s, ready_pop(s));
		wait = sched_retry(s);
		if (s->running == 0 && s->ndelayed == 0 &&
		    (s->rlen == 0 || s->stopping))
			break;
		if (s->running == 0 && s->ndelayed > 0 && wait > 0) {
			http_poll(s->http, wait > 100 ? 100 : wait, on_done,
			    s);
			continue;
		}
		if (s->running > 0)
			http_poll(s->http, wait > 0 && wait < 100 ? wait : 100,
			    on_done, s);
	}
}

/* Print the summary: counts, tokens, cost per tier. */
static void
sched_summary(struct sched *s)
{
	struct usage all = { 0 };
	struct buf b = { 0 };
	double total = 0;
	int unknown = 0;
	size_t i;

	if (s->nasked + s->ncached + s->nfailed + s->nskipped == 0) {
		log_status("nothing to do: %zu task%s up to date", s->nprompt,
		    s->nprompt == 1 ? "" : "s");
		return;
	}
	for (i = 0; i < s->ntiers; i++) {
		all.in += s->tiers[i].usage.in + s->tiers[i].usage.cache_write
		    + s->tiers[i].usage.cache_read;
		all.out += s->tiers[i].usage.out;
	}
	log_status("%zu task%s: %zu asked, %zu from cache, %zu up to date, "
	    "%zu failed, %zu skipped; tokens: %ld in, %ld out", s->nprompt,
	    s->nprompt == 1 ? "" : "s", s->nasked, s->ncached, s->nuptodate,
	    s->nfailed, s->nskipped, all.in, all.out);
	for (i = 0; i < s->ntiers; i++) {
		struct tier_stats *ts = &s->tiers[i];

		if (ts->unknown_cost) {
			buf_printf(&b, "%s%s (%s) unknown", i ? ", " : "",
			    ts->tier, ts->model);
			unknown = 1;
		} else
			buf_printf(&b, "%s%s (%s) $%.4f", i ? ", " : "",
			    ts->tier, ts->model, ts->cost);
		total += ts->cost;
	}
	if (s->ntiers > 0)
		log_status("cost: %s; total $%.4f%s", b.data, total,
		    unknown ? " and some of unknown price" : "");
	buf_free(&b);
}

/* Save the lock when the run changed it, with the rest of the state,
 * and let go of the state. */
static int
sched_save(struct sched *s)
{
	char *err = NULL;
	int rc;

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
		spec_clear(&r->spec);
		free(r->why);
		free(r->body);
		s->dag->tasks[i]->run = NULL;
	}
	for (i = 0; i < s->ntiers; i++) {
		free(s->tiers[i].tier);
		free(s->tiers[i].model);
	}
	free(s->tiers);
	free(s->runs);
	free(s->ready);
	free(s->delayed);
	free(s->cachedir);
	http_free(s->http);
	if (s->store != NULL)
		sched_save(s);
	lock_free(&s->lock);
	request_memo(NULL);
}

/* Prepare s: the lock, per-task data, the blocking counts. */
static int
sched_init(struct sched *s, struct plan *p, struct dag *d,
    const struct sched_opts *o)
{
	struct store_opts so;
	struct task *t;
	char *err = NULL;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->plan = p;
	s->dag = d;
	s->opts = o;
	xasprintf(&s->cachedir, "%s/cache", o->statedir);
	s->ready = xcalloc(d->ntasks + 1, sizeof(*s->ready));
	request_memo(p);
	s->runs = xcalloc(d->ntasks, sizeof(*s->runs));	/* one block */
	for (i = 0; i < d->ntasks; i++)
		d->tasks[i]->run = &s->runs[i];
	so.statedir = o->statedir;
	so.lockfile = o->lockfile;
	so.readonly = o->dry_run || o->question;
	so.nowait = o->nowait;
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
	size_t i;
	int rc = 0;

	if (sched_init(&s, p, d, o) == -1) {
		sched_free(&s);
		return 2;
	}
	sched_assess(&s);
	file_stat_forget();
	if (o->dry_run || o->question) {
		for (i = 0; i < d->norder; i++)
			if (((struct run *)d->order[i]->run)->need !=
			    NEED_NOTHING)
				rc = 1;
		if (o->explain)
			sched_explain(&s);
		else if (o->dry_run)
			sched_dry_run(&s);
		sched_free(&s);
		return o->question ? rc : 0;
	}
	if (sched_check_keys(&s) == -1) {
		sched_free(&s);
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* libcurl is set up only when something may have to be asked. */
	for (i = 0; i < d->norder && s.http == NULL; i++)
		if (((struct run *)d->order[i]->run)->need != NEED_NOTHING)
			s.http = http_new();
	for (i = 0; i < d->norder; i++)
		if (d->order[i]->nblocked == 0)
			ready_push(&s, d->order[i]);
	sched_loop(&s);

	if (sched_save(&s) == -1)
		rc = 1;
	if (interrupted) {
		log_error("interrupted: %zu of %zu tasks done; what finished "
		    "is kept", s.nasked + s.ncached + s.nuptodate, s.nprompt);
		rc = 130;
	} else if (s.nfailed > 0) {
		rc = 1;
	}
	sched_summary(&s);
	if (s.nfailed > 0 || s.nskipped > 0) {
		struct buf b = { 0 };

		for (i = 0; i < d->norder; i++) {
			struct task *t = d->order[i];

			if (t->state == TASK_FAILED)
				buf_printf(&b, " %s", t->name);
		}
		log_error("failed:%s", b.data ? b.data : " (none)");
		buf_free(&b);
		for (i = 0; i < d->norder; i++) {
			if (d->order[i]->state == TASK_SKIPPED &&
			    d->order[i]->rule->prompt)
				buf_printf(&b, " %s", d->order[i]->name);
		}
		if (b.len)
			log_error("skipped:%s", b.data);
		buf_free(&b);
	}
	sched_free(&s);
	return rc;
}
