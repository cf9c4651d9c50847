#include "request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "dag.h"
#include "extract.h"
#include "keyhash.h"
#include "plan.h"
#include "util.h"

/* The tiers every plan has unless it says otherwise. */
static const struct {
	const char	*tier;
	const char	*spec;
} default_tiers[] = {
	{ "cheap", "anthropic:claude-haiku-4-5" },
	{ "strong", "anthropic:claude-sonnet-4-5" },
};

/* The smallest prefix, in tokens, that each model caches; matched by
 * prefix, first match wins, so dated ids find their family.  From the
 * providers' published lists; the cache_min_tokens setting overrides. */
static const struct {
	const char	*prefix;
	long		 tokens;
} cache_mins[] = {
	{ "claude-haiku-4-5", 4096 },
	{ "claude-opus-4-5", 4096 },
	{ "claude-opus-4-6", 4096 },
	{ "claude-opus-4-7", 2048 },
	{ "claude-opus-4-8", 1024 },
	{ "claude-opus-4", 1024 },
	{ "claude-sonnet-4", 1024 },
	{ "claude-sonnet-5", 1024 },
	{ "claude-opus-5", 512 },
	{ "claude-fable-5", 512 },
	{ "claude-3-5-haiku", 2048 },
	{ "claude-3-haiku", 2048 },
};
#define CACHE_MIN_DEFAULT	1024

static int	spec_context(struct spec *, struct plan *, const struct task *,
		    char **);

/* The value of setting name for t: see plan_rule_setting().  The
 * caller frees the result. */
static char *
task_setting(struct plan *p, const struct task *t, const char *name,
    struct loc *where)
{
	return plan_rule_setting(p, t->rule, name, where);
}

/* "Planfile:3:1: " or "command line: " for an error about a setting. */
static char *
where_text(const struct loc *l)
{
	char *s;

	if (l->file == NULL)
		return xstrdup("command line: ");
	xasprintf(&s, "%s:%d:%d: ", l->file, l->line, l->col);
	return s;
}

/* Fail with a message about the setting set at l. */
static int
bad_setting(char **errp, const struct loc *l, const char *fmt,
    const char *a, const char *b)
{
	char *w, *m;

	w = where_text(l);
	xasprintf(&m, fmt, a, b);
	xasprintf(errp, "%s%s", w, m);
	free(w);
	free(m);
	return -1;
}

/* Point s at provider:model: an endpoint of the config (anthropic,
 * openai, ollama and cmd are built in). */
static int
spec_provider(struct spec *s, const char *provider, const char *model,
    const struct loc *l, char **errp)
{
	const struct endpoint *ep;
	char *names;
	int rc;

	if (*model == '\0')
		return bad_setting(errp, l, "no model named after '%s:'%s",
		    provider, "");
	if ((ep = config_endpoint(provider)) == NULL) {
		names = config_endpoint_names();
		rc = bad_setting(errp, l, "unknown provider '%s' (known: %s)",
		    provider, names);
		free(names);
		return rc;
	}
	s->ep = ep;
	s->wire = ep->wire;
	s->base = xstrdup(ep->base ? ep->base : "");
	s->keyvar = ep->keyvar;
	s->provider = xstrdup(provider);
	s->model = xstrdup(model);
	s->prefill = config_prefill(ep->wire, model);
	return 0;
}

/* Resolve the tier and the model of t. */
static int
spec_model(struct spec *s, struct plan *p, const struct task *t,
    char **errp)
{
	struct loc l = { 0 }, ml = { 0 };
	char *name, *tspec, *model, *colon;
	const char *cv;
	size_t i;
	int rc;

	s->tier = task_setting(p, t, "tier", &l);
	if (s->tier == NULL)
		s->tier = xstrdup("cheap");
	xasprintf(&name, "tier.%s", s->tier);
	tspec = task_setting(p, t, name, &l);
	free(name);
	if (tspec == NULL && (cv = config_tier(s->tier, &l.line,
	    &l.col)) != NULL) {
		tspec = xstrdup(cv);
		l.file = config_path();
	}
	for (i = 0; tspec == NULL && i < sizeof(default_tiers) /
	    sizeof(default_tiers[0]); i++)
		if (strcmp(default_tiers[i].tier, s->tier) == 0)
			tspec = xstrdup(default_tiers[i].spec);
	if (tspec == NULL)
		return bad_setting(errp, &l, "unknown tier '%s' (define it: "
		    "tier.%s = PROVIDER:MODEL)", s->tier, s->tier);
	model = task_setting(p, t, "model", &ml);
	if (model != NULL && strchr(model, ':') == NULL) {
		/* A bare model name keeps the tier's provider. */
		colon = strchr(tspec, ':');
		if (colon != NULL)
			colon[1] = '\0';
		name = tspec;
		xasprintf(&tspec, "%s%s", name, model);
		free(name);
		free(model);
		model = NULL;
	}
	if (model != NULL) {
		free(tspec);
		tspec = model;
		l = ml;
	}
	if ((colon = strchr(tspec, ':')) == NULL) {
		rc = bad_setting(errp, &l, "model '%s' names no provider "
		    "(write PROVIDER:MODEL, e.g. anthropic:%s)", tspec, tspec);
		free(tspec);
		return rc;
	}
	*colon = '\0';
	rc = spec_provider(s, tspec, colon + 1, &l, errp);
	free(tspec);
	return rc;
}

char *
request_tier_model(struct plan *p, const char *tier)
{
	char *name, *spec, *colon, *model;
	size_t i;

	xasprintf(&name, "tier.%s", tier);
	spec = plan_setting(p, NULL, name, NULL);
	free(name);
	/* As the tasks resolve it: plan or command line, config, built-in. */
	if (spec == NULL && config_tier(tier, NULL, NULL) != NULL)
		spec = xstrdup(config_tier(tier, NULL, NULL));
	for (i = 0; spec == NULL && i < sizeof(default_tiers) /
	    sizeof(default_tiers[0]); i++)
		if (strcmp(default_tiers[i].tier, tier) == 0)
			spec = xstrdup(default_tiers[i].spec);
	if (spec == NULL || (colon = strchr(spec, ':')) == NULL ||
	    colon[1] == '\0') {
		free(spec);
		return NULL;
	}
	model = xstrdup(colon + 1);
	free(spec);
	return model;
}

long
request_cache_min(const char *model, long override)
{
	size_t i;

	if (override >= 0)
		return override;
	for (i = 0; i < sizeof(cache_mins) / sizeof(cache_mins[0]); i++)
		if (strncmp(model, cache_mins[i].prefix,
		    strlen(cache_mins[i].prefix)) == 0)
			return cache_mins[i].tokens;
	return CACHE_MIN_DEFAULT;
}

/* Read a numeric setting: the plan's or the command line's, else the
 * config's; absent leaves *out alone. */
static int
spec_number(struct plan *p, const struct task *t, const char *name,
    double lo, double hi, int integer, double *out, int *set, char **errp)
{
	struct loc l = { 0 };
	const char *cv;
	char *v, *end;
	double d;
	int rc = 0;

	if ((v = task_setting(p, t, name, &l)) == NULL) {
		if ((cv = config_setting(name, &l.line, &l.col)) == NULL)
			return 0;
		v = xstrdup(cv);
		l.file = config_path();
	}
	errno = 0;
	d = strtod(v, &end);
	if (*v == '\0' || *end != '\0' || errno != 0 || d < lo || d > hi ||
	    (integer && d != (double)(long)d))
		rc = bad_setting(errp, &l, "bad %s '%s'", name, v);
	else {
		*out = d;
		if (set)
			*set = 1;
	}
	free(v);
	return rc;
}

/* Fill s->prefix and decide whether to mark it for caching. */
static void
spec_prefix(struct spec *s, double cmin)
{
	struct buf b = { 0 };
	size_t n;

	buf_addstr(&b, s->model);
	buf_add(&b, "", 1);
	buf_addstr(&b, s->base);
	buf_add(&b, "", 1);
	buf_addstr(&b, s->system);
	buf_add(&b, "", 1);
	if (s->context != NULL)
		buf_addstr(&b, s->context);
	sha256_hex(b.data, b.len, s->prefix);
	buf_free(&b);
	n = strlen(s->system) + (s->context ? strlen(s->context) : 0);
	s->prefix_bytes = n;
	s->cache_min = request_cache_min(s->model, (long)cmin);
	s->cache_mark = s->wire == WIRE_ANTHROPIC &&
	    (long)(n / REQUEST_BYTES_PER_TOKEN) >= s->cache_min;
}

/* Resolve every setting of t into s.  -1 and *errp on failure. */
static int
spec_resolve(struct spec *s, struct plan *p, const struct task *t,
    char **errp)
{
	double mt = DEFAULT_MAX_TOKENS, mi = (double)DEFAULT_MAX_INPUT;
	double cmin = -1;
	double re = DEFAULT_RETRIES, ct = DEFAULT_CONNECT_TIMEOUT;
	double st = DEFAULT_STALL_TIMEOUT, co = DEFAULT_CONTINUATIONS;
	struct buf b = { 0 };
	char *sys;

	s->retry_max_wait = DEFAULT_RETRY_MAX_WAIT;
	s->max_answer = DEFAULT_MAX_ANSWER;
	if (spec_model(s, p, t, errp) == -1 ||
	    spec_number(p, t, "max_tokens", 1, 1e7, 1, &mt, NULL, errp) ||
	    spec_number(p, t, "temperature", 0, 2, 0, &s->temperature,
	    &s->has_temperature, errp) ||
	    spec_number(p, t, "max_input_bytes", 1, 1e12, 1, &mi, NULL, errp) ||
	    spec_number(p, t, "cache_min_tokens", 0, 1e9, 1, &cmin, NULL,
	    errp) ||
	    spec_number(p, t, "retries", 0, 100, 1, &re, NULL, errp) ||
	    spec_number(p, t, "retry_max_wait", 0, 86400, 0,
	    &s->retry_max_wait, NULL, errp) ||
	    spec_number(p, t, "connect_timeout", 1, 3600, 1, &ct, NULL,
	    errp) ||
	    spec_number(p, t, "stall_timeout", 1, 86400, 1, &st, NULL, errp) ||
	    spec_number(p, t, "max_answer_bytes", 1, 1e12, 1, &s->max_answer,
	    NULL, errp) ||
	    spec_number(p, t, "continuations", 0, 100, 1, &co, NULL, errp))
		return -1;
	s->max_tokens = (long)mt;
	s->max_input = (long)mi;
	s->retries = (int)re;
	s->connect_timeout = (long)ct;
	s->stall_timeout = (long)st;
	s->continuations = (int)co;

	/* planmake's instructions first; the plan's text is appended. */
	buf_addstr(&b, extract_instructions());
	if ((sys = task_setting(p, t, "system", NULL)) != NULL &&
	    *sys != '\0') {
		buf_addstr(&b, "\n\n");
		buf_addstr(&b, sys);
	}
	free(sys);
	s->system = buf_detach(&b);
	s->prompt = t->rule->prompt ? t->rule->prompt : "";
	if (!utf8_valid(s->prompt, strlen(s->prompt), NULL) ||
	    !utf8_valid(s->system, strlen(s->system), NULL)) {
		xasprintf(errp, "%s:%d: the prompt or system text of '%s' is "
		    "not UTF-8", t->rule->loc.file, t->rule->loc.line,
		    t->name);
		return -1;
	}
	if (spec_context(s, p, t, errp) == -1)
		return -1;
	spec_prefix(s, cmin);
	return 0;
}

/* The settings of the tasks that have none of their own, resolved
 * once (see request_memo()). */
static struct {
	struct plan	*p;
	struct spec	 spec;
	int		 have;
} memo;

void
request_memo(struct plan *p)
{
	if (memo.p != NULL)
		spec_clear(&memo.spec);
	memset(&memo, 0, sizeof(memo));
	memo.p = p;
}

/* Whether t's settings are those of every task without its own (none by
 * target or pattern, no global one expanded per task). */
static int
spec_common(struct plan *p, const struct task *t)
{
	return memo.p == p && plan_rule_settings_shared(p, t->rule);
}

int
request_spec(struct spec *s, struct plan *p, const struct task *t,
    char **errp)
{
	const struct spec *m = &memo.spec;
	int checking;

	if (!spec_common(p, t))
		return spec_resolve(s, p, t, errp);
	if (!memo.have) {
		if (spec_resolve(&memo.spec, p, t, errp) == -1) {
			spec_clear(&memo.spec);
			return -1;
		}
		memo.have = 1;
	}
	/* The strings and arrays stay the memo's: 100,000 tasks of one
	 * plan need no copies of the same system text. */
	checking = s->checking;
	*s = *m;
	s->checking = checking;
	s->shared = 1;
	s->prompt = t->rule->prompt ? t->rule->prompt : "";
	if (!utf8_valid(s->prompt, strlen(s->prompt), NULL)) {
		xasprintf(errp, "%s:%d: the prompt or system text of '%s' is "
		    "not UTF-8", t->rule->loc.file, t->rule->loc.line,
		    t->name);
		return -1;
	}
	return 0;
}

void
spec_clear(struct spec *s)
{
	size_t i;

	if (s->shared) {
		memset(s, 0, sizeof(*s));
		return;
	}
	free(s->tier);
	free(s->provider);
	free(s->model);
	free(s->base);
	free(s->system);
	free(s->context);
	for (i = 0; i < s->nctx; i++)
		free(s->ctxfiles[i]);
	free(s->ctxfiles);
	free(s->ctxhash);
	memset(s, 0, sizeof(*s));
}

/* Whether node n is sent as an input: files, not phony names. */
static int
is_input(const struct node *n)
{
	return !n->phony;
}

void
request_key(struct spec *s, const struct task *t)
{
	/* The canonical JSON of the members, streamed into SHA-256. */
	keyhash_request(s, t, s->key);
}

/* The shortest fence of backticks longer than any run inside text. */
static size_t
fence_len(const char *text, size_t n)
{
	size_t i, run = 0, longest = 0;

	for (i = 0; i < n; i++) {
		run = text[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest < 3 ? 3 : longest + 1;
}

/* Read the input file at path whole into f, checked: UTF-8, at most
 * s->max_input bytes.  what names it in errors ("input"). */
static int
input_read(const struct spec *s, const char *path, const char *what,
    struct buf *f, char **errp)
{
	size_t bad;

	if (file_read(path, f, errp) == -1)
		return -1;
	if ((long)f->len > s->max_input) {
		xasprintf(errp, "%s %s is %zu bytes, over the limit of %ld "
		    "(setting max_input_bytes)", what, path, f->len,
		    s->max_input);
		buf_free(f);
		return -1;
	}
	if (!utf8_valid(f->data ? f->data : "", f->len, &bad)) {
		xasprintf(errp, "%s %s is not UTF-8 text (bad byte at "
		    "offset %zu)", what, path, bad);
		buf_free(f);
		return -1;
	}
	return 0;
}

/* Append the n bytes of file path, labelled with its path, in a fence. */
static void
input_add(struct buf *u, const char *path, const char *data, size_t n)
{
	size_t k, fl;

	fl = fence_len(data, n);
	buf_printf(u, "File %s:\n", path);
	for (k = 0; k < fl; k++)
		buf_addc(u, '`');
	buf_addc(u, '\n');
	buf_add(u, data, n);
	if (n > 0 && data[n - 1] != '\n')
		buf_addc(u, '\n');
	for (k = 0; k < fl; k++)
		buf_addc(u, '`');
	buf_addstr(u, "\n\n");
}

/* Append one input file, labelled with its path, in a fence. */
static int
add_input(struct buf *u, const struct spec *s, const char *path,
    int preview, char **errp)
{
	struct buf f = { 0 };

	if (preview && access(path, F_OK) != 0) {
		buf_printf(u, "File %s:\n```\n(not built yet)\n```\n\n", path);
		return 0;
	}
	if (input_read(s, path, "input", &f, errp) == -1)
		return -1;
	input_add(u, path, f.data ? f.data : "", f.len);
	buf_free(&f);
	return 0;
}

/* Whether path is one of s's context files. */
static int
is_context(const struct spec *s, const char *path)
{
	size_t i;

	for (i = 0; i < s->nctx; i++)
		if (strcmp(s->ctxfiles[i], path) == 0)
			return 1;
	return 0;
}

/* Whether path is one of t's targets: a context file is not sent to
 * the task that makes it. */
static int
is_target(const struct task *t, const char *path)
{
	size_t i;

	for (i = 0; i < t->nouts; i++)
		if (strcmp(t->outs[i]->path, path) == 0)
			return 1;
	return 0;
}

/* Whether path is a prerequisite of t that some task makes. */
static int
made_input(const struct task *t, const char *path)
{
	size_t i;

	for (i = 0; i < t->nins; i++)
		if (t->ins[i]->producer != NULL &&
		    strcmp(t->ins[i]->path, path) == 0)
			return 1;
	return 0;
}

/* Read the "context" setting of t: a list of files, separated by white
 * space, each read, hashed and labelled into s->context. */
static int
spec_context(struct spec *s, struct plan *p, const struct task *t,
    char **errp)
{
	struct loc l = { 0 };
	struct buf ctx = { 0 }, f = { 0 };
	char *v, *word, *save = NULL, *path, *err = NULL, *w;

	if ((v = task_setting(p, t, "context", &l)) == NULL)
		return 0;
	for (word = strtok_r(v, " \t\n", &save); word != NULL;
	    word = strtok_r(NULL, " \t\n", &save)) {
		path = dag_normpath(word);
		if (is_context(s, path) || is_target(t, path) ||
		    (s->checking && (access(path, F_OK) == 0 ||
		    made_input(t, path)))) {
			free(path);
			continue;
		}
		if (input_read(s, path, "context file", &f, &err) == -1) {
			w = where_text(&l);
			xasprintf(errp, "%s%s", w, err);
			free(w);
			free(err);
			free(path);
			free(v);
			buf_free(&ctx);
			return -1;
		}
		s->ctxfiles = xreallocarray(s->ctxfiles, s->nctx + 1,
		    sizeof(*s->ctxfiles));
		s->ctxhash = xreallocarray(s->ctxhash, s->nctx + 1,
		    sizeof(*s->ctxhash));
		s->ctxfiles[s->nctx] = path;
		sha256_hex(f.data ? f.data : "", f.len, s->ctxhash[s->nctx]);
		s->nctx++;
		input_add(&ctx, path, f.data ? f.data : "", f.len);
		buf_free(&f);
	}
	free(v);
	if (s->nctx > 0)
		s->context = buf_detach(&ctx);
	return 0;
}

char *
request_user_text(const struct spec *s, const struct task *t, int preview,
    char **errp)
{
	struct buf u = { 0 };
	size_t i;

	for (i = 0; i < t->nins; i++) {
		if (is_input(t->ins[i]) && !is_context(s, t->ins[i]->path) &&
		    add_input(&u, s, t->ins[i]->path, preview, errp) == -1) {
			buf_free(&u);
			return NULL;
		}
	}
	buf_addstr(&u, s->prompt);
	if (t->phony) {
		/* A .PHONY task's answer goes to standard output as it is. */
		buf_addstr(&u, "\n\nNo file is to be written: answer in "
		    "plain text, which is shown as it is.\n");
		return buf_detach(&u);
	}
	buf_addstr(&u, "\n\nFiles to write:\n");
	for (i = 0; i < t->nouts; i++)
		buf_printf(&u, "- %s\n", t->outs[i]->path);
	return buf_detach(&u);
}

/* The "system" member of an Anthropic body: the text alone, or text
 * blocks (the system text, then the context) with the last one marked
 * for caching.  A new reference. */
static json_t *
anthropic_system(const struct spec *s)
{
	json_t *blocks, *last;

	if (s->context == NULL && !s->cache_mark)
		return json_string(s->system);
	blocks = json_array();
	json_array_append_new(blocks, last = json_pack("{s:s, s:s}", "type",
	    "text", "text", s->system));
	if (s->context != NULL)
		json_array_append_new(blocks, last = json_pack("{s:s, s:s}",
		    "type", "text", "text", s->context));
	if (s->cache_mark && s->cache_1h)
		json_object_set_new(last, "cache_control", json_pack("{s:s, "
		    "s:s}", "type", "ephemeral", "ttl", "1h"));
	else if (s->cache_mark)
		json_object_set_new(last, "cache_control", json_pack("{s:s}",
		    "type", "ephemeral"));
	return blocks;
}

const char request_continue_text[] =
    "Your answer was cut off by the output limit. Continue it from "
    "exactly where it stopped: do not repeat what you already wrote, "
    "do not start a file again, and add no comment of your own.";

/* The length of text without its trailing white space. */
static size_t
rstrip_len(const char *text)
{
	size_t n = strlen(text);

	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' ||
	    text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	return n;
}

/* Append the turns that continue partial to the array msgs. */
static void
add_continuation(json_t *msgs, const struct spec *s, const char *partial)
{
	json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role",
	    "assistant", "content", partial, rstrip_len(partial)));
	if (!s->prefill)
		json_array_append_new(msgs, json_pack("{s:s, s:s}", "role",
		    "user", "content", request_continue_text));
}

char *
request_wire_body(const struct spec *s, const char *user,
    const char *partial)
{
	json_t *root, *msgs;
	const char *field;
	char *text, *sys = NULL;
	int stream = s->ep ? s->ep->stream : 0;

	if (s->wire == WIRE_COMMAND) {
		xasprintf(&text, "%s\n\n%s%s", s->system,
		    s->context ? s->context : "", user);
		return text;
	}
	if (s->wire == WIRE_ANTHROPIC) {
		msgs = json_pack("[{s:s, s:s}]", "role", "user", "content",
		    user);
		if (partial != NULL)
			add_continuation(msgs, s, partial);
		root = json_pack("{s:s, s:I, s:o, s:o}", "model", s->model,
		    "max_tokens", (json_int_t)s->max_tokens, "system",
		    anthropic_system(s), "messages", msgs);
	} else {
		/* One system message: some servers take only one. */
		if (s->context != NULL)
			xasprintf(&sys, "%s\n\n%s", s->system, s->context);
		msgs = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system",
		    "content", sys ? sys : s->system, "role", "user",
		    "content", user);
		free(sys);
		if (partial != NULL)
			add_continuation(msgs, s, partial);
		field = s->ep && s->ep->tokens_field ? s->ep->tokens_field :
		    "max_tokens";
		root = json_pack("{s:s, s:I, s:o}", "model", s->model, field,
		    (json_int_t)s->max_tokens, "messages", msgs);
		if (root != NULL && stream)
			json_object_set_new(root, "stream_options",
			    json_pack("{s:b}", "include_usage", 1));
	}
	if (root == NULL)
		fatal("cannot encode a request: a string is not UTF-8");
	if (stream)
		json_object_set_new(root, "stream", json_true());
	if (s->has_temperature)
		json_object_set_new(root, "temperature",
		    json_real(s->temperature));
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		fatal("out of memory");
	return text;
}

char *
request_body(const struct spec *s, const struct task *t, char **errp)
{
	char *user, *text;

	if ((user = request_user_text(s, t, 0, errp)) == NULL)
		return NULL;
	text = request_wire_body(s, user, NULL);
	free(user);
	return text;
}
