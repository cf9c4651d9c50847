#include "request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "dag.h"
#include "extract.h"
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

/* The value of setting name for t: the first of its targets that has
 * one.  The caller frees the result. */
static char *
task_setting(struct plan *p, const struct task *t, const char *name,
    struct loc *where)
{
	char *v;
	size_t i;

	for (i = 0; i < t->rule->ntargets; i++)
		if ((v = plan_setting(p, t->rule->targets[i], name,
		    where)) != NULL)
			return v;
	return NULL;
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
	size_t i;
	int rc;

	s->tier = task_setting(p, t, "tier", &l);
	if (s->tier == NULL)
		s->tier = xstrdup("cheap");
	xasprintf(&name, "tier.%s", s->tier);
	tspec = task_setting(p, t, name, &l);
	free(name);
	if (tspec == NULL && config_tier(s->tier) != NULL)
		tspec = xstrdup(config_tier(s->tier));
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
		if ((cv = config_setting(name, &l.line)) == NULL)
			return 0;
		v = xstrdup(cv);
		l.file = config_path();
		l.col = 1;
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

int
request_spec(struct spec *s, struct plan *p, const struct task *t,
    char **errp)
{
	double mt = DEFAULT_MAX_TOKENS, mi = (double)DEFAULT_MAX_INPUT;
	double re = DEFAULT_RETRIES, ct = DEFAULT_CONNECT_TIMEOUT;
	double st = DEFAULT_STALL_TIMEOUT, co = DEFAULT_CONTINUATIONS;
	struct buf b = { 0 };
	char *sys;

	s->retry_max_wait = DEFAULT_RETRY_MAX_WAIT;
	if (spec_model(s, p, t, errp) == -1 ||
	    spec_number(p, t, "max_tokens", 1, 1e7, 1, &mt, NULL, errp) ||
	    spec_number(p, t, "temperature", 0, 2, 0, &s->temperature,
	    &s->has_temperature, errp) ||
	    spec_number(p, t, "max_input_bytes", 1, 1e12, 1, &mi, NULL, errp) ||
	    spec_number(p, t, "retries", 0, 100, 1, &re, NULL, errp) ||
	    spec_number(p, t, "retry_max_wait", 0, 86400, 0,
	    &s->retry_max_wait, NULL, errp) ||
	    spec_number(p, t, "connect_timeout", 1, 3600, 1, &ct, NULL,
	    errp) ||
	    spec_number(p, t, "stall_timeout", 1, 86400, 1, &st, NULL, errp) ||
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
	return 0;
}

void
spec_clear(struct spec *s)
{
	free(s->tier);
	free(s->provider);
	free(s->model);
	free(s->base);
	free(s->system);
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
	json_t *root, *params, *inputs, *targets;
	char *text;
	size_t i;

	params = json_pack("{s:I}", "max_tokens", (json_int_t)s->max_tokens);
	if (s->has_temperature)
		json_object_set_new(params, "temperature",
		    json_real(s->temperature));
	inputs = json_array();
	for (i = 0; i < t->nins; i++)
		if (is_input(t->ins[i]))
			json_array_append_new(inputs, json_pack("[s,s]",
			    t->ins[i]->path, t->ins[i]->hash));
	targets = json_array();
	for (i = 0; i < t->nouts; i++)
		json_array_append_new(targets, json_string(t->outs[i]->path));
	root = json_pack("{s:i, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:o}",
	    "format", REQUEST_FORMAT, "provider", s->provider, "base",
	    s->base, "model", s->model, "params", params, "system", s->system,
	    "inputs", inputs, "prompt", s->prompt, "targets", targets);
	if (root == NULL)
		fatal("cannot form the key of '%s': a string is not UTF-8",
		    t->name);
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	sha256_hex(text, strlen(text), s->key);
	free(text);
	json_decref(root);
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

/* Append one input file, labelled with its path, in a fence. */
static int
add_input(struct buf *u, const struct spec *s, const char *path,
    int preview, char **errp)
{
	struct buf f = { 0 };
	size_t bad, k, fl;

	if (preview && access(path, F_OK) != 0) {
		buf_printf(u, "File %s:\n```\n(not built yet)\n```\n\n", path);
		return 0;
	}
	if (file_read(path, &f, errp) == -1)
		return -1;
	if ((long)f.len > s->max_input) {
		xasprintf(errp, "input %s is %zu bytes, over the limit of %ld "
		    "(setting max_input_bytes)", path, f.len, s->max_input);
		buf_free(&f);
		return -1;
	}
	if (!utf8_valid(f.data, f.len, &bad)) {
		xasprintf(errp, "input %s is not UTF-8 text (bad byte at "
		    "offset %zu)", path, bad);
		buf_free(&f);
		return -1;
	}
	fl = fence_len(f.data, f.len);
	buf_printf(u, "File %s:\n", path);
	for (k = 0; k < fl; k++)
		buf_addc(u, '`');
	buf_addc(u, '\n');
	buf_add(u, f.data, f.len);
	if (f.len > 0 && f.data[f.len - 1] != '\n')
		buf_addc(u, '\n');
	for (k = 0; k < fl; k++)
		buf_addc(u, '`');
	buf_addstr(u, "\n\n");
	buf_free(&f);
	return 0;
}

char *
request_user_text(const struct spec *s, const struct task *t, int preview,
    char **errp)
{
	struct buf u = { 0 };
	size_t i;

	for (i = 0; i < t->nins; i++) {
		if (is_input(t->ins[i]) &&
		    add_input(&u, s, t->ins[i]->path, preview, errp) == -1) {
			buf_free(&u);
			return NULL;
		}
	}
	buf_addstr(&u, s->prompt);
	buf_addstr(&u, "\n\nFiles to write:\n");
	for (i = 0; i < t->nouts; i++)
		buf_printf(&u, "- %s\n", t->outs[i]->path);
	return buf_detach(&u);
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
	char *text;
	int stream = s->ep ? s->ep->stream : 0;

	if (s->wire == WIRE_COMMAND) {
		xasprintf(&text, "%s\n\n%s", s->system, user);
		return text;
	}
	if (s->wire == WIRE_ANTHROPIC) {
		msgs = json_pack("[{s:s, s:s}]", "role", "user", "content",
		    user);
		if (partial != NULL)
			add_continuation(msgs, s, partial);
		root = json_pack("{s:s, s:I, s:s, s:o}", "model", s->model,
		    "max_tokens", (json_int_t)s->max_tokens, "system",
		    s->system, "messages", msgs);
	} else {
		msgs = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system",
		    "content", s->system, "role", "user", "content", user);
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
