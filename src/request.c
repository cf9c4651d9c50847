#include "request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

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

/* Point s at provider:model. */
static int
spec_provider(struct spec *s, const char *provider, const char *model,
    const struct loc *l, char **errp)
{
	const char *env;

	if (*model == '\0')
		return bad_setting(errp, l, "no model named after '%s:'%s",
		    provider, "");
	if (strcmp(provider, "anthropic") == 0) {
		s->wire = WIRE_ANTHROPIC;
		env = getenv("ANTHROPIC_BASE_URL");
		s->base = xstrdup(env && *env ? env :
		    "https://api.anthropic.com");
		s->keyvar = "ANTHROPIC_API_KEY";
	} else if (strcmp(provider, "openai") == 0) {
		s->wire = WIRE_OPENAI;
		env = getenv("OPENAI_BASE_URL");
		s->base = xstrdup(env && *env ? env :
		    "https://api.openai.com/v1");
		s->keyvar = "OPENAI_API_KEY";
	} else if (strcmp(provider, "ollama") == 0) {
		s->wire = WIRE_OPENAI;
		env = getenv("OLLAMA_BASE_URL");
		s->base = xstrdup(env && *env ? env :
		    "http://localhost:11434/v1");
		s->keyvar = NULL;
	} else
		return bad_setting(errp, l, "unknown provider '%s' (known: "
		    "anthropic, openai, ollama)%s", provider, "");
	while (s->base[0] != '\0' && s->base[strlen(s->base) - 1] == '/')
		s->base[strlen(s->base) - 1] = '\0';
	s->provider = xstrdup(provider);
	s->model = xstrdup(model);
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

/* Read a numeric setting; absent leaves *out alone. */
static int
spec_number(struct plan *p, const struct task *t, const char *name,
    double lo, double hi, int integer, double *out, int *set, char **errp)
{
	struct loc l = { 0 };
	char *v, *end;
	double d;
	int rc = 0;

	if ((v = task_setting(p, t, name, &l)) == NULL)
		return 0;
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

/* Resolve every setting of t into s.  -1 and *errp on failure. */
static int
spec_resolve(struct spec *s, struct plan *p, const struct task *t,
    char **errp)
{
	double mt = DEFAULT_MAX_TOKENS, mi = (double)DEFAULT_MAX_INPUT;
	struct buf b = { 0 };
	char *sys;

	if (spec_model(s, p, t, errp) == -1 ||
	    spec_number(p, t, "max_tokens", 1, 1e7, 1, &mt, NULL, errp) ||
	    spec_number(p, t, "temperature", 0, 2, 0, &s->temperature,
	    &s->has_temperature, errp) ||
	    spec_number(p, t, "max_input_bytes", 1, 1e12, 1, &mi, NULL, errp))
		return -1;
	s->max_tokens = (long)mt;
	s->max_input = (long)mi;

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

/* The settings of the tasks that have none of their own, resolved
 * once (see request_memo()). */
static struct {
	struct plan	*p;
	struct smap	 own;		/* targets with their own settings */
	struct spec	 spec;
	int		 have;
} memo;

void
request_memo(struct plan *p)
{
	size_t i;

	if (memo.p != NULL) {
		smap_free(&memo.own);
		spec_clear(&memo.spec);
	}
	memset(&memo, 0, sizeof(memo));
	if (p == NULL)
		return;
	memo.p = p;
	for (i = 0; i < p->ntsets; i++)
		smap_put(&memo.own, p->tsets[i]->target, p);
}

/* Whether t's settings are those of every task without its own. */
static int
spec_common(struct plan *p, const struct task *t)
{
	size_t i;

	if (memo.p != p)
		return 0;
	for (i = 0; i < t->rule->ntargets; i++)
		if (smap_get(&memo.own, t->rule->targets[i]) != NULL)
			return 0;
	return 1;
}

int
request_spec(struct spec *s, struct plan *p, const struct task *t,
    char **errp)
{
	const struct spec *m = &memo.spec;

	if (!spec_common(p, t))
		return spec_resolve(s, p, t, errp);
	if (!memo.have) {
		if (spec_resolve(&memo.spec, p, t, errp) == -1) {
			spec_clear(&memo.spec);
			return -1;
		}
		memo.have = 1;
	}
	*s = *m;
	s->tier = xstrdup(m->tier);
	s->provider = xstrdup(m->provider);
	s->model = xstrdup(m->model);
	s->base = xstrdup(m->base);
	s->system = xstrdup(m->system);
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

char *
request_body(const struct spec *s, const struct task *t, char **errp)
{
	json_t *root, *msgs;
	char *user, *text;

	if ((user = request_user_text(s, t, 0, errp)) == NULL)
		return NULL;
	if (s->wire == WIRE_ANTHROPIC) {
		msgs = json_pack("[{s:s, s:s}]", "role", "user", "content",
		    user);
		root = json_pack("{s:s, s:I, s:s, s:o}", "model", s->model,
		    "max_tokens", (json_int_t)s->max_tokens, "system",
		    s->system, "messages", msgs);
	} else {
		msgs = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system",
		    "content", s->system, "role", "user", "content", user);
		root = json_pack("{s:s, s:I, s:o}", "model", s->model,
		    "max_tokens", (json_int_t)s->max_tokens, "messages", msgs);
	}
	free(user);
	if (root == NULL) {
		xasprintf(errp, "cannot encode the request of '%s'", t->name);
		return NULL;
	}
	if (s->has_temperature)
		json_object_set_new(root, "temperature",
		    json_real(s->temperature));
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		fatal("out of memory");
	return text;
}
