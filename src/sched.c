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
#include "extract.h"
#include "log.h"
#include "plan.h"
#include "provider.h"
#include "request.h"
#include "state.h"
#include "util.h"

/* What a task needs, as far as can be told before the build. */
enum need {
	NEED_NOTHING,		/* up to date */
	NEED_CACHE,		/* the cache has the answer */
	NEED_REQUEST,		/* a model must be asked */
	NEED_LATER,		/* depends on a task that will change */
	NEED_ERROR		/* its request cannot be formed */
};

/* The scheduler's data for one task (task->run). */
struct run {
	struct spec	 spec;
	int		 have_spec;
	int		 need;		/* enum need, from the first pass */
	char		*why;		/* owned: why it runs */
	char		*user;		/* owned: the user text, while asked */
	char		*body;		/* owned: the request, while asked */
	int		 attempts;	/* of this round */
	double		 retry_at;	/* monotonic time of the next try */
	int		 holds_slot;	/* delayed by the endpoint's limits */
	struct buf	 answer;	/* the parts of a continued answer */
	int		 rounds;	/* continuations asked */
	struct usage	 usage;		/* over all rounds */
	double		 seconds;	/* over all rounds */
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
	char			 *cachedir;
	struct provider		 *prov;
	struct task		**ready;	/* a FIFO ring of ntasks slots */
	size_t			  rhead, rlen;
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
	struct tier_stats	 *tiers;
	size_t			  ntiers;
};

static volatile sig_atomic_t	interrupted;

static void
on_signal(int sig)
{
	interrupted += sig == SIGTERM ? 2 : 1;
}

/* The content hash of n, reading the file once per run. */
static int
node_hash(struct node *n, char **errp)
{
	struct buf b = { 0 };

	if (n->hashed || n->phony)
		return 0;
	if (file_read(n->path, &b, errp) == -1)
		return -1;
	sha256_hex(b.data ? b.data : "", b.len, n->hash);
	n->hashed = 1;
	buf_free(&b);
	return 0;
}

/* Resolve t's request and compute its key.  -1 and *errp on failure. */
static int
task_prepare(struct sched *s, struct task *t, char **errp)
{
	struct run *r = t->run;
	size_t i;

	for (i = 0; i < t->nins; i++)
		if (node_hash(t->ins[i], errp) == -1)
			return -1;
	if (!r->have_spec) {
		if (request_spec(&r->spec, s->plan, t, errp) == -1)
			return -1;
		r->have_spec = 1;
	}
	request_key(&r->spec, t);
	return 0;
}

/* Whether every target of t was written by this very request and is
 * still there.  Sets *why to the first reason it is not. */
static int
task_uptodate(struct sched *s, struct task *t, char **why)
{
	struct lock_entry *e;
	struct stat st;
	size_t i;

	if (t->phony) {
		xasprintf(why, "it is .PHONY");
		return 0;
	}
	if (s->opts->always) {
		xasprintf(why, "-B was given");
		return 0;
	}
	for (i = 0; i < t->nouts; i++) {
		e = lock_get(&s->lock, t->outs[i]->path);
		if (e == NULL || e->path[0] == '\0') {
			xasprintf(why, "'%s' is not in planmake.lock",
			    t->outs[i]->path);
			return 0;
		}
		if (strcmp(e->key, ((struct run *)t->run)->spec.key) != 0) {
			xasprintf(why, "its request changed (prompt, "
			    "settings or inputs)");
			return 0;
		}
		if (stat(t->outs[i]->path, &st) == -1) {
			xasprintf(why, "'%s' is missing", t->outs[i]->path);
			return 0;
		}
	}
	return 1;
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
		} else if (task_uptodate(s, t, &r->why))
			r->need = NEED_NOTHING;
		else
			r->need = cache_has(s, r->spec.key) ? NEED_CACHE :
			    NEED_REQUEST;
	}
}

/* -n: say what would happen to each task, on stdout. */
static int
sched_dry_run(struct sched *s)
{
	struct task *t;
	struct run *r;
	size_t i, n = 0;

	for (i = 0; i < s->dag->norder; i++) {
		t = s->dag->order[i];
		r = t->run;
		if (t->rule->prompt == NULL)
			continue;
		switch (r->need) {
		case NEED_NOTHING:
			log_note("'%s' is up to date", t->name);
			continue;
		case NEED_CACHE:
			printf("restore %s from the cache (free): %s\n",
			    t->name, r->why);
			break;
		case NEED_REQUEST:
			printf("ask the %s tier (%s:%s) for %s: %s\n",
			    r->spec.tier, r->spec.provider, r->spec.model,
			    t->name, r->why);
			break;
		case NEED_LATER:
			printf("maybe ask for %s: %s\n", t->name, r->why);
			break;
		case NEED_ERROR:
			printf("cannot ask for %s: %s\n", t->name, r->why);
			break;
		}
		n++;
	}
	if (n == 0)
		log_status("nothing to do: %zu tasks up to date", s->nprompt);
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
	for (i = 0; i < t->nouts && rc == 0; i++) {
		rc = file_write_atomic(t->outs[i]->path, files[i].data,
		    files[i].len, 0, errp);
		if (rc == 0) {
			sha256_hex(files[i].data, files[i].len,
			    t->outs[i]->hash);
			t->outs[i]->hashed = 1;
			lock_set(&s->lock, t->outs[i]->path, r->spec.key,
			    t->outs[i]->hash);
		}
	}
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

/* Put t aside for d seconds; holds_slot when it waits for the limits of
 * its endpoint (it then counts against -j). */
static void
task_delay(struct sched *s, struct task *t, double d, int holds_slot)
{
	struct run *r = t->run;

	r->retry_at = now_mono() + d;
	r->holds_slot = holds_slot;
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

	if (r->body == NULL)
		r->body = request_wire_body(&r->spec, r->user,
		    r->answer.len > 0 ? r->answer.data : NULL);
	rc = provider_send(s->prov, &r->spec, r->body, t, &wait, &err);
	if (rc == 1) {
		task_delay(s, t, wait, 1);
		return;
	}
	if (rc == -1) {
		task_fail(s, t, err);
		free(err);
		return;
	}
	r->attempts++;
	t->state = TASK_RUNNING;
	s->running++;
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
	if ((r->user = request_user_text(&r->spec, t, 0, &err)) == NULL) {
		task_fail(s, t, err);
		free(err);
		return;
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

/* A failed attempt: try again later, or fail t quoting the provider. */
static void
on_failure(struct sched *s, struct task *t, struct outcome *o)
{
	struct run *r = t->run;
	char *m;
	double d;

	if (o->kind == FAIL_RETRY && r->attempts <= r->spec.retries &&
	    !interrupted && !s->fatal) {
		d = retry_delay(o, r->attempts, &r->spec);
		if (d <= r->spec.retry_max_wait) {
			log_note("'%s': %s; trying again in %.1f s", t->name,
			    o->err, d);
			task_delay(s, t, d, 0);
			return;
		}
		xasprintf(&m, "%s; the server asks to wait %.0f s, longer "
		    "than retry_max_wait (%g s)", o->err, d,
		    r->spec.retry_max_wait);
	} else if (r->attempts > 1)
		xasprintf(&m, "%s after %d tries", o->err, r->attempts);
	else
		m = xstrdup(o->err);
	task_fail(s, t, m);
	free(m);
	if (o->kind == FAIL_STOP && !s->fatal) {
		s->fatal = 1;
		s->stopping = 1;
		log_error("stopping: %s refuses every request until the limit "
		    "is raised; nothing more is sent", r->spec.provider);
	}
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

/* The answer was cut at max_tokens: ask for the rest in a new round,
 * unless the rounds are used up or the parts do not join. */
static void
task_continue(struct sched *s, struct task *t, const struct reply *rep)
{
	struct run *r = t->run;
	char *err = NULL, *m;

	if (provider_join(&r->answer, rep->text, rep->len, r->spec.prefill,
	    &err) == -1) {
		xasprintf(&m, "%s: the answer was cut at max_tokens (%ld) and "
		    "its continuation does not join cleanly: %s",
		    r->spec.provider, r->spec.max_tokens, err);
		buf_add(&r->answer, rep->text, rep->len);
		fail_keeping(s, t, m, r->answer.data, r->answer.len);
		free(m);
		free(err);
		return;
	}
	if (r->answer.len == 0 || r->rounds >= r->spec.continuations) {
		xasprintf(&m, "%s: the answer was cut at max_tokens (%ld) %s",
		    r->spec.provider, r->spec.max_tokens, r->answer.len == 0 ?
		    "before any text came" : r->rounds == 0 ?
		    "and continuations is 0" : "in every round (setting "
		    "continuations)");
		fail_keeping(s, t, m, r->answer.data ? r->answer.data : "",
		    r->answer.len);
		free(m);
		return;
	}
	r->rounds++;
	r->attempts = 0;
	log_note("'%s': the answer was cut at max_tokens (%ld); asking for "
	    "the rest (continuation %d of at most %d)", t->name,
	    r->spec.max_tokens, r->rounds, r->spec.continuations);
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
	struct reply *rep = &o->reply;
	struct tier_stats *ts;
	struct cache_entry e;
	const char *text;
	char *err = NULL;
	size_t len;

	s->running--;
	if (!o->ok) {
		on_failure(s, t, o);
		return;
	}
	free(r->body);
	r->body = NULL;

	ts = tier_stats(s, r->spec.tier, r->spec.model);
	ts->requests++;
	ts->usage.in += rep->usage.in;
	ts->usage.out += rep->usage.out;
	ts->usage.cache_write += rep->usage.cache_write;
	ts->usage.cache_read += rep->usage.cache_read;
	if (rep->cost < 0)
		ts->unknown_cost = 1;
	else
		ts->cost += rep->cost;
	r->usage.in += rep->usage.in;
	r->usage.out += rep->usage.out;
	r->usage.cache_write += rep->usage.cache_write;
	r->usage.cache_read += rep->usage.cache_read;
	r->seconds += o->seconds;
	if (r->rounds == 0)
		s->nasked++;
	if (rep->warning)
		log_warning("'%s': %s", t->name, rep->warning);
	if (rep->note)
		log_note("'%s': %s", t->name, rep->note);

	switch (rep->stop_kind) {
	case STOP_LIMIT:
		task_continue(s, t, rep);
		return;
	case STOP_CONTEXT:
		xasprintf(&err, "%s: the answer filled the context window of "
		    "%s (%ld tokens in, %ld out; the request is %zu bytes): "
		    "shorten the inputs or split the task", r->spec.provider,
		    r->spec.model, rep->usage.in + rep->usage.cache_read +
		    rep->usage.cache_write, rep->usage.out,
		    strlen(r->user) + strlen(r->spec.system));
		fail_keeping(s, t, err, rep->text, rep->len);
		free(err);
		return;
	case STOP_OTHER:
		xasprintf(&err, "%s: the answer stopped with '%s', not at its "
		    "end", r->spec.provider, rep->stop ? rep->stop :
		    "nothing");
		fail_keeping(s, t, err, rep->text, rep->len);
		free(err);
		return;
	}

	text = rep->text;
	len = rep->len;
	if (r->rounds > 0) {
		if (provider_join(&r->answer, rep->text, rep->len,
		    r->spec.prefill, &err) == -1) {
			char *m;

			xasprintf(&m, "%s: the last part of a continued answer "
			    "does not join cleanly: %s", r->spec.provider, err);
			buf_add(&r->answer, rep->text, rep->len);
			fail_keeping(s, t, m, r->answer.data, r->answer.len);
			free(m);
			free(err);
			return;
		}
		text = r->answer.data;
		len = r->answer.len;
	}

	/* The cache keeps the whole answer under the first request's key. */
	memset(&e, 0, sizeof(e));
	memcpy(e.key, r->spec.key, 65);
	e.model = rep->model;
	e.answer = (char *)text;
	e.answerlen = len;
	e.usage = r->usage;
	if (task_apply(s, t, text, len, &e, &err) == -1) {
		task_fail(s, t, err);
		free(err);
	} else {
		if (r->rounds > 0)
			log_status("[%zu/%zu] %s (%s, %.1f s, %ld+%ld tokens, "
			    "%d parts)", s->nfinished + 1, s->nprompt, t->name,
			    r->spec.tier, r->seconds, r->usage.in,
			    r->usage.out, r->rounds + 1);
		else
			log_status("[%zu/%zu] %s (%s, %.1f s, %ld+%ld tokens)",
			    s->nfinished + 1, s->nprompt, t->name,
			    r->spec.tier, r->seconds, r->usage.in,
			    r->usage.out);
		task_finish(s, t, 1);
	}
	buf_free(&r->answer);
	free(r->user);
	r->user = NULL;
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
		if (r->retry_at <= now || interrupted || s->fatal) {
			s->delayed[i] = s->delayed[--s->ndelayed];
			if (r->holds_slot) {
				s->nholding--;
				r->holds_slot = 0;
			}
			if (interrupted) {
				task_fail(s, t, r->attempts > 0 ?
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
		    s->running + (int)s->nholding < s->opts->jobs)
			task_start(s, ready_pop(s));
		wait = sched_retry(s);
		if (s->running == 0 && s->ndelayed == 0 &&
		    (s->rlen == 0 || s->stopping))
			break;
		if (s->running == 0 && s->ndelayed > 0 && wait > 0) {
			provider_poll(s->prov, wait > 100 ? 100 : wait,
			    on_done, s);
			continue;
		}
		if (s->running > 0)
			provider_poll(s->prov, wait > 0 && wait < 100 ? wait :
			    100, on_done, s);
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

/* Save the lock when the run changed it. */
static int
sched_save(struct sched *s)
{
	char *err = NULL;

	if (!s->lock.dirty)
		return 0;
	if (lock_save(&s->lock, s->opts->lockfile, &err) == -1) {
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
		free(r->user);
		free(r->body);
		buf_free(&r->answer);
		free(r);
		s->dag->tasks[i]->run = NULL;
	}
	for (i = 0; i < s->ntiers; i++) {
		free(s->tiers[i].tier);
		free(s->tiers[i].model);
	}
	free(s->tiers);
	free(s->ready);
	free(s->delayed);
	free(s->cachedir);
	provider_free(s->prov);
	lock_free(&s->lock);
}

/* Prepare s: the lock, per-task data, the blocking counts. */
static int
sched_init(struct sched *s, struct plan *p, struct dag *d,
    const struct sched_opts *o)
{
	struct task *t;
	char *err = NULL;
	size_t i;

	memset(s, 0, sizeof(*s));
	s->plan = p;
	s->dag = d;
	s->opts = o;
	xasprintf(&s->cachedir, "%s/cache", o->statedir);
	s->ready = xcalloc(d->ntasks + 1, sizeof(*s->ready));
	for (i = 0; i < d->ntasks; i++)
		d->tasks[i]->run = xcalloc(1, sizeof(struct run));
	if (lock_load(&s->lock, o->lockfile, &err) == -1) {
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
	if (o->dry_run || o->question) {
		for (i = 0; i < d->norder; i++)
			if (((struct run *)d->order[i]->run)->need !=
			    NEED_NOTHING)
				rc = 1;
		if (o->dry_run)
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
	sa.sa_handler = SIG_IGN;	/* a command that stops reading */
	sigaction(SIGPIPE, &sa, NULL);
	s.prov = provider_new(o->jobs);
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
