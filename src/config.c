#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "util.h"

/* What the config says about one model (or a prefix of ids). */
struct model_conf {
	char		*name;		/* owned, without a trailing '*' */
	int		 prefix;	/* the name ended in '*' */
	double		 rates[NRATES];
	int		 has_price;
	int		 prefill;	/* 1, 0, or -1 when not said */
};

/* A name and a value set in the file, with the value's place. */
struct pair {
	char		*name;
	char		*value;
	int		 line;
	int		 col;
};

static struct {
	int			 ready;		/* the built-ins are in */
	char			*path;		/* the file loaded, or NULL */
	struct endpoint		*eps;
	size_t			 neps;
	int			*ep_base_set;	/* the file gave eps[i] a base */
	int			*ep_field_set;	/* and its max_tokens_field */
	struct model_conf	*models;
	size_t			 nmodels;
	struct pair		*tiers;
	size_t			 ntiers;
	struct pair		*settings;
	size_t			 nsettings;
} cf;

/* Built-in prices in USD per million tokens (in, 5m write, 1h write,
 * cache read, out), matched by the longest prefix of the model id.
 * Sources: Anthropic's pricing page as of late 2026.  The 5.x cache
 * write rates not on that page follow the 1.25x / 2x multipliers. */
static const struct {
	const char	*prefix;
	double		 rates[NRATES];
} builtin_prices[] = {
	{ "claude-3-5-haiku",	{ 0.80, 1.00, 1.60, 0.08, 4 } },
	{ "claude-haiku-4-5",	{ 1, 1.25, 2, 0.10, 5 } },
	{ "claude-sonnet-4",	{ 3, 3.75, 6, 0.30, 15 } },
	{ "claude-opus-4",	{ 15, 18.75, 30, 1.50, 75 } },
	{ "claude-opus-4-5",	{ 5, 6.25, 10, 0.50, 25 } },
	{ "claude-opus-4-6",	{ 5, 6.25, 10, 0.50, 25 } },
	{ "claude-opus-4-7",	{ 5, 6.25, 10, 0.50, 25 } },
	{ "claude-opus-4-8",	{ 5, 6.25, 10, 0.50, 25 } },
	{ "claude-opus-5",	{ 5, 6.25, 10, 0.50, 25 } },
	{ "claude-opus-5-5",	{ 4, 5, 8, 0.20, 20 } },
	{ "claude-sonnet-5",	{ 2, 2.50, 4, 0.20, 10 } },
};

/* Claude models known to continue a final assistant turn (prefill);
 * newer ones reject it.  Matched by prefix. */
static const char *const builtin_prefill[] = {
	"claude-3", "claude-haiku-4-5", "claude-sonnet-4-0",
	"claude-sonnet-4-2", "claude-sonnet-4-5", "claude-opus-4-0",
	"claude-opus-4-1", "claude-opus-4-2", "claude-opus-4-5",
};

/* The key variables planmake reads whatever the config says. */
static const char *const builtin_keyvars[] = {
	"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OLLAMA_API_KEY",
};

/* The settings a config may give a default for. */
static const char *const config_settings[] = {
	"retries", "retry_max_wait", "connect_timeout", "stall_timeout",
	"continuations", "max_tokens", "max_answer_bytes",
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define NBUILTIN	4	/* anthropic, openai, ollama, cmd */

static void
endpoint_clear(struct endpoint *e)
{
	size_t i;

	free(e->name);
	free(e->base);
	free(e->keyvar);
	free(e->tokens_field);
	for (i = 0; i < e->npass_env; i++)
		free(e->pass_env[i]);
	free(e->pass_env);
	memset(e, 0, sizeof(*e));
}

void
config_free(void)
{
	size_t i;

	for (i = 0; i < cf.neps; i++)
		endpoint_clear(&cf.eps[i]);
	free(cf.eps);
	free(cf.ep_base_set);
	free(cf.ep_field_set);
	for (i = 0; i < cf.nmodels; i++)
		free(cf.models[i].name);
	free(cf.models);
	for (i = 0; i < cf.ntiers; i++) {
		free(cf.tiers[i].name);
		free(cf.tiers[i].value);
	}
	free(cf.tiers);
	for (i = 0; i < cf.nsettings; i++) {
		free(cf.settings[i].name);
		free(cf.settings[i].value);
	}
	free(cf.settings);
	free(cf.path);
	memset(&cf, 0, sizeof(cf));
}

/* Add an endpoint called name and return it, zeroed but for the name. */
static struct endpoint *
endpoint_add(const char *name)
{
	struct endpoint *e;

	cf.eps = xreallocarray(cf.eps, cf.neps + 1, sizeof(*cf.eps));
	cf.ep_base_set = xreallocarray(cf.ep_base_set, cf.neps + 1,
	    sizeof(*cf.ep_base_set));
	cf.ep_base_set[cf.neps] = 0;
	cf.ep_field_set = xreallocarray(cf.ep_field_set, cf.neps + 1,
	    sizeof(*cf.ep_field_set));
	cf.ep_field_set[cf.neps] = 0;
	e = &cf.eps[cf.neps++];
	memset(e, 0, sizeof(*e));
	e->name = xstrdup(name);
	e->stream = 1;
	return e;
}

/* The built-in endpoints. */
static void
config_builtins(void)
{
	struct endpoint *e;

	cf.ready = 1;
	e = endpoint_add("anthropic");
	e->wire = WIRE_ANTHROPIC;
	e->keyvar = xstrdup("ANTHROPIC_API_KEY");
	e = endpoint_add("openai");
	e->wire = WIRE_OPENAI;
	e->keyvar = xstrdup("OPENAI_API_KEY");
	e = endpoint_add("ollama");
	e->wire = WIRE_OPENAI;
	e->check_truncation = 1;
	e = endpoint_add("cmd");
	e->wire = WIRE_COMMAND;
	e->stream = 0;
}

static void
ready(void)
{
	if (!cf.ready)
		config_builtins();
}

/* The base URL of a built-in endpoint the config left alone: its
 * environment variable, else the public default. */
static const char *
builtin_base(const char *name)
{
	static const struct {
		const char *name, *env, *dflt;
	} bases[] = {
		{ "anthropic", "ANTHROPIC_BASE_URL",
		    "https://api.anthropic.com" },
		{ "openai", "OPENAI_BASE_URL", "https://api.openai.com/v1" },
		{ "ollama", "OLLAMA_BASE_URL", "http://localhost:11434/v1" },
	};
	const char *v;
	size_t i;

	for (i = 0; i < NELEM(bases); i++) {
		if (strcmp(bases[i].name, name) != 0)
			continue;
		v = getenv(bases[i].env);
		return v && *v ? v : bases[i].dflt;
	}
	return NULL;
}

/* Drop the trailing slashes of a base URL. */
static void
trim_base(char *b)
{
	size_t n = strlen(b);

	while (n > 0 && b[n - 1] == '/')
		b[--n] = '\0';
}

/* Whether the host of url is api.openai.com. */
static int
is_openai_host(const char *url)
{
	const char *h = strstr(url, "://");

	h = h ? h + 3 : url;
	return strncasecmp(h, "api.openai.com", 14) == 0 &&
	    (h[14] == '\0' || h[14] == '/' || h[14] == ':');
}

const struct endpoint *
config_endpoint(const char *name)
{
	struct endpoint *e;
	const char *b;
	size_t i;

	ready();
	for (i = 0; i < cf.neps; i++) {
		e = &cf.eps[i];
		if (strcmp(e->name, name) != 0)
			continue;
		if (!cf.ep_base_set[i] && (b = builtin_base(name)) != NULL &&
		    (e->base == NULL || strcmp(e->base, b) != 0)) {
			free(e->base);
			e->base = xstrdup(b);
			trim_base(e->base);
		}
		/* OpenAI's own API wants max_completion_tokens (max_tokens
		 * is refused by its reasoning models); compatible servers
		 * (Ollama, vLLM, llama.cpp, OpenRouter) know max_tokens. */
		if (e->wire == WIRE_OPENAI && !cf.ep_field_set[i]) {
			free(e->tokens_field);
			e->tokens_field = xstrdup(e->base &&
			    is_openai_host(e->base) ? "max_completion_tokens" :
			    "max_tokens");
		}
		return e;
	}
	return NULL;
}

char *
config_endpoint_names(void)
{
	struct buf b = { 0 };
	size_t i;

	ready();
	for (i = 0; i < cf.neps; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", cf.eps[i].name);
	return buf_detach(&b);
}

/* The value of name in the n pairs at ps, with its place. */
static const char *
pair_find(const struct pair *ps, size_t n, const char *name, int *line,
    int *col)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(ps[i].name, name) == 0) {
			if (line)
				*line = ps[i].line;
			if (col)
				*col = ps[i].col;
			return ps[i].value;
		}
	return NULL;
}

const char *
config_tier(const char *tier, int *line, int *col)
{
	return pair_find(cf.tiers, cf.ntiers, tier, line, col);
}

const char *
config_setting(const char *name, int *line, int *col)
{
	return pair_find(cf.settings, cf.nsettings, name, line, col);
}

const char *
config_path(void)
{
	return cf.path;
}

/* The config's entry for model: an exact name, else the longest prefix. */
static const struct model_conf *
model_find(const char *model)
{
	const struct model_conf *best = NULL, *m;
	size_t i, n;

	for (i = 0; i < cf.nmodels; i++) {
		m = &cf.models[i];
		n = strlen(m->name);
		if (!m->prefix && strcmp(m->name, model) == 0)
			return m;
		if (m->prefix && strncmp(model, m->name, n) == 0 &&
		    (best == NULL || strlen(best->name) < n))
			best = m;
	}
	return best;
}

int
config_price(const char *model, double rates[NRATES])
{
	const struct model_conf *m;
	size_t i, n, bestn = 0;
	int best = -1;

	if ((m = model_find(model)) != NULL && m->has_price) {
		memcpy(rates, m->rates, sizeof(m->rates));
		return 1;
	}
	for (i = 0; i < NELEM(builtin_prices); i++) {
		n = strlen(builtin_prices[i].prefix);
		if (strncmp(model, builtin_prices[i].prefix, n) == 0 &&
		    n > bestn) {
			best = (int)i;
			bestn = n;
		}
	}
	if (best < 0)
		return 0;
	memcpy(rates, builtin_prices[best].rates, sizeof(double) * NRATES);
	return 1;
}

int
config_prefill(int wire, const char *model)
{
	const struct model_conf *m;
	size_t i;

	if ((m = model_find(model)) != NULL && m->prefill >= 0)
		return m->prefill;
	if (wire != WIRE_ANTHROPIC)
		return 0;
	for (i = 0; i < NELEM(builtin_prefill); i++)
		if (strncmp(model, builtin_prefill[i],
		    strlen(builtin_prefill[i])) == 0)
			return 1;
	return 0;
}

int
config_is_credential(const char *name)
{
	size_t i;

	for (i = 0; i < NELEM(builtin_keyvars); i++)
		if (strcmp(name, builtin_keyvars[i]) == 0)
			return 1;
	ready();
	for (i = 0; i < cf.neps; i++)
		if (cf.eps[i].keyvar && strcmp(cf.eps[i].keyvar, name) == 0)
			return 1;
	return 0;
}

char *
config_default_path(void)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *h = getenv("HOME");
	char *p;

	if (x && *x == '/') {
		xasprintf(&p, "%s/planmake/config.yaml", x);
		return p;
	}
	if (h && *h) {
		xasprintf(&p, "%s/.config/planmake/config.yaml", h);
		return p;
	}
	return NULL;
}

/* Reading the file. */

struct loader {
	const char	*path;
	yaml_document_t	 doc;
	char		*err;
};

/* Fail at node n with a message. */
static int PM_PRINTF(3, 4)
bad(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	char m[1024];

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (ld->err == NULL)
		xasprintf(&ld->err, "%s:%lu:%lu: error: %s", ld->path,
		    (unsigned long)n->start_mark.line + 1,
		    (unsigned long)n->start_mark.column + 1, m);
	return -1;
}

/* The text of a scalar node, or NULL after an error. */
static const char *
scalar(struct loader *ld, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		bad(ld, n, "%s should be a single value", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static int
get_number(struct loader *ld, const yaml_node_t *n, const char *what,
    double lo, double hi, double *out)
{
	const char *s;
	char *end;
	double d;

	if ((s = scalar(ld, n, what)) == NULL)
		return -1;
	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(d) ||
	    d < lo || d > hi)
		return bad(ld, n, "%s should be a number from %g to %g, not "
		    "'%s'", what, lo, hi, s);
	*out = d;
	return 0;
}

static int
get_bool(struct loader *ld, const yaml_node_t *n, const char *what, int *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	const char *s;
	size_t i;

	if ((s = scalar(ld, n, what)) == NULL)
		return -1;
	for (i = 0; i < NELEM(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return bad(ld, n, "%s should be true or false, not '%s'", what, s);
}

/* Whether s is a plausible environment variable name. */
static int
env_name_ok(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
	    *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* Whether s is a good endpoint name: what may stand before the colon. */
static int
endpoint_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

/* The mapping pairs of node n, checking it is a mapping without repeated
 * keys.  Returns the number of pairs, or -1. */
static int
mapping(struct loader *ld, yaml_node_t *n, const char *what,
    yaml_node_pair_t **pairs)
{
	yaml_node_pair_t *p, *q;
	yaml_node_t *k, *k2;

	if (n->type != YAML_MAPPING_NODE)
		return bad(ld, n, "%s should be a mapping", what);
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	    p++) {
		k = yaml_document_get_node(&ld->doc, p->key);
		if (k->type != YAML_SCALAR_NODE)
			return bad(ld, k, "a key in %s should be a name",
			    what);
		for (q = n->data.mapping.pairs.start; q < p; q++) {
			k2 = yaml_document_get_node(&ld->doc, q->key);
			if (strcmp((char *)k->data.scalar.value,
			    (char *)k2->data.scalar.value) == 0)
				return bad(ld, k, "'%s' is given twice in %s",
				    (char *)k->data.scalar.value, what);
		}
	}
	*pairs = n->data.mapping.pairs.start;
	return (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

/* Add the variable name in node x to e's pass_env list. */
static int
add_pass_env(struct loader *ld, struct endpoint *e, yaml_node_t *x)
{
	const char *s;

	if ((s = scalar(ld, x, "a pass_env entry")) == NULL)
		return -1;
	if (!env_name_ok(s))
		return bad(ld, x, "'%s' is not a variable name", s);
	e->pass_env = xreallocarray(e->pass_env, e->npass_env + 1,
	    sizeof(*e->pass_env));
	e->pass_env[e->npass_env++] = xstrdup(s);
	return 0;
}

/* Read the pass_env list of an endpoint: a name or a sequence of them. */
static int
load_pass_env(struct loader *ld, struct endpoint *e, yaml_node_t *v)
{
	yaml_node_item_t *it;

	if (v->type == YAML_SCALAR_NODE)
		return add_pass_env(ld, e, v);
	if (v->type != YAML_SEQUENCE_NODE)
		return bad(ld, v, "pass_env should be a list of variable "
		    "names");
	for (it = v->data.sequence.items.start;
	    it < v->data.sequence.items.top; it++)
		if (add_pass_env(ld, e, yaml_document_get_node(&ld->doc,
		    *it)) == -1)
			return -1;
	return 0;
}

/* Read one endpoint's mapping into e. */
static int
load_endpoint(struct loader *ld, struct endpoint *e, size_t idx,
    yaml_node_t *n, int isnew)
{
	yaml_node_pair_t *pairs;
	yaml_node_t *k, *v;
	const char *key, *s;
	int np, i, have_wire = 0;
	double d;

	if ((np = mapping(ld, n, "an endpoint", &pairs)) < 0)
		return -1;
	e->line = (int)n->start_mark.line + 1;
	for (i = 0; i < np; i++) {
		k = yaml_document_get_node(&ld->doc, pairs[i].key);
		v = yaml_document_get_node(&ld->doc, pairs[i].value);
		key = (const char *)k->data.scalar.value;
		if (strcmp(key, "pass_env") == 0) {
			if (load_pass_env(ld, e, v) == -1)
				return -1;
			continue;
		}
		if (strcmp(key, "stream") == 0) {
			if (get_bool(ld, v, key, &e->stream) == -1)
				return -1;
			continue;
		}
		if (strcmp(key, "check_truncation") == 0) {
			if (get_bool(ld, v, key, &e->check_truncation) == -1)
				return -1;
			continue;
		}
		if (strcmp(key, "concurrency") == 0) {
			if (get_number(ld, v, key, 1, 10000, &d) == -1)
				return -1;
			if (d != floor(d))
				return bad(ld, v, "concurrency should be a "
				    "whole number");
			e->concurrency = (int)d;
			continue;
		}
		if (strcmp(key, "requests_per_minute") == 0) {
			if (get_number(ld, v, key, 0.001, 1e7, &e->rpm) == -1)
				return -1;
			continue;
		}
		if ((s = scalar(ld, v, key)) == NULL)
			return -1;
		if (strcmp(key, "wire") == 0) {
			if (strcmp(s, "anthropic") == 0)
				e->wire = WIRE_ANTHROPIC;
			else if (strcmp(s, "openai") == 0)
				e->wire = WIRE_OPENAI;
			else if (strcmp(s, "command") == 0)
				e->wire = WIRE_COMMAND;
			else
				return bad(ld, v, "unknown wire '%s' (known: "
				    "anthropic, openai, command)", s);
			have_wire = 1;
		} else if (strcmp(key, "base") == 0) {
			if (strncmp(s, "http://", 7) != 0 &&
			    strncmp(s, "https://", 8) != 0)
				return bad(ld, v, "base should be an http:// "
				    "or https:// URL, not '%s'", s);
			free(e->base);
			e->base = xstrdup(s);
			trim_base(e->base);
			cf.ep_base_set[idx] = 1;
		} else if (strcmp(key, "key_env") == 0) {
			if (!env_name_ok(s))
				return bad(ld, v, "'%s' is not a variable name",
				    s);
			free(e->keyvar);
			e->keyvar = xstrdup(s);
		} else if (strcmp(key, "max_tokens_field") == 0) {
			if (strcmp(s, "max_tokens") != 0 &&
			    strcmp(s, "max_completion_tokens") != 0)
				return bad(ld, v, "max_tokens_field should be "
				    "max_tokens or max_completion_tokens");
			free(e->tokens_field);
			e->tokens_field = xstrdup(s);
			cf.ep_field_set[idx] = 1;
		} else
			return bad(ld, k, "unknown endpoint key '%s' (known: "
			    "base, wire, key_env, concurrency, "
			    "requests_per_minute, max_tokens_field, stream, "
			    "check_truncation, pass_env)", key);
	}
	if (isnew && !have_wire)
		return bad(ld, n, "endpoint '%s' needs a wire (anthropic, "
		    "openai or command)", e->name);
	if (e->wire != WIRE_COMMAND && e->base == NULL &&
	    builtin_base(e->name) == NULL)
		return bad(ld, n, "endpoint '%s' needs a base URL", e->name);
	if (e->wire == WIRE_COMMAND)
		e->stream = 0;
	return 0;
}

static int
load_endpoints(struct loader *ld, yaml_node_t *n)
{
	yaml_node_pair_t *pairs;
	yaml_node_t *k, *v;
	const char *name;
	size_t j;
	int np, i;

	if ((np = mapping(ld, n, "endpoints", &pairs)) < 0)
		return -1;
	for (i = 0; i < np; i++) {
		k = yaml_document_get_node(&ld->doc, pairs[i].key);
		v = yaml_document_get_node(&ld->doc, pairs[i].value);
		name = (const char *)k->data.scalar.value;
		if (!endpoint_name_ok(name))
			return bad(ld, k, "bad endpoint name '%s' (use "
			    "lower-case letters, digits, '-', '_', '.')",
			    name);
		for (j = 0; j < cf.neps; j++)
			if (strcmp(cf.eps[j].name, name) == 0)
				break;
		if (j == cf.neps)
			endpoint_add(name);
		if (load_endpoint(ld, &cf.eps[j], j, v, j >= NBUILTIN) == -1)
			return -1;
	}
	return 0;
}

static int
load_model(struct loader *ld, const char *name, yaml_node_t *n)
{
	static const char *const rkeys[NRATES] = {
		"in", "write_5m", "write_1h", "cache_read", "out"
	};
	yaml_node_pair_t *pairs;
	struct model_conf *m;
	yaml_node_t *k, *v;
	const char *key;
	int np, i, r, seen[NRATES] = { 0 };

	if ((np = mapping(ld, n, "a model", &pairs)) < 0)
		return -1;
	cf.models = xreallocarray(cf.models, cf.nmodels + 1,
	    sizeof(*cf.models));
	m = &cf.models[cf.nmodels++];
	memset(m, 0, sizeof(*m));
	m->name = xstrdup(name);
	m->prefill = -1;
	if ((m->prefix = name[0] != '\0' && name[strlen(name) - 1] == '*'))
		m->name[strlen(name) - 1] = '\0';
	for (i = 0; i < np; i++) {
		k = yaml_document_get_node(&ld->doc, pairs[i].key);
		v = yaml_document_get_node(&ld->doc, pairs[i].value);
		key = (const char *)k->data.scalar.value;
		if (strcmp(key, "prefill") == 0) {
			if (get_bool(ld, v, key, &m->prefill) == -1)
				return -1;
			continue;
		}
		for (r = 0; r < NRATES; r++)
			if (strcmp(key, rkeys[r]) == 0)
				break;
		if (r == NRATES)
			return bad(ld, k, "unknown model key '%s' (known: in, "
			    "write_5m, write_1h, cache_read, out, prefill)",
			    key);
		if (get_number(ld, v, key, 0, 1e6, &m->rates[r]) == -1)
			return -1;
		seen[r] = 1;
	}
	if (seen[RATE_IN] != seen[RATE_OUT])
		return bad(ld, n, "model '%s' needs both 'in' and 'out' "
		    "prices, or neither", name);
	if ((m->has_price = seen[RATE_IN]))
		for (r = 0; r < NRATES; r++)
			if (!seen[r])
				m->rates[r] = m->rates[RATE_IN];
	return 0;
}

static int
load_models(struct loader *ld, yaml_node_t *n)
{
	yaml_node_pair_t *pairs;
	yaml_node_t *k;
	int np, i;

	if ((np = mapping(ld, n, "models", &pairs)) < 0)
		return -1;
	for (i = 0; i < np; i++) {
		k = yaml_document_get_node(&ld->doc, pairs[i].key);
		if (load_model(ld, (const char *)k->data.scalar.value,
		    yaml_document_get_node(&ld->doc, pairs[i].value)) == -1)
			return -1;
	}
	return 0;
}

static int
load_tiers(struct loader *ld, yaml_node_t *n)
{
	yaml_node_pair_t *pairs;
	yaml_node_t *k, *v;
	const char *s;
	int np, i;

	if ((np = mapping(ld, n, "tiers", &pairs)) < 0)
		return -1;
	cf.tiers = xcalloc((size_t)np + 1, sizeof(*cf.tiers));
	for (i = 0; i < np; i++) {
		k = yaml_document_get_node(&ld->doc, pairs[i].key);
		v = yaml_document_get_node(&ld->doc, pairs[i].value);
		if ((s = scalar(ld, v, "a tier")) == NULL)
			return -1;
		if (strchr(s, ':') == NULL || *s == ':')
			return bad(ld, v, "tier %s should be PROVIDER:MODEL, "
			    "not '%s'", (char *)k->data.scalar.value, s);
		cf.tiers[cf.ntiers].name = xstrdup(
		    (char *)k->data.scalar.value);
		cf.tiers[cf.ntiers].value = xstrdup(s);
		cf.tiers[cf.ntiers].col = (int)v->start_mark.column + 1;
		cf.tiers[cf.ntiers++].line = (int)v->start_mark.line + 1;
	}
	return 0;
}

/* One top-level setting. */
static int
load_setting(struct loader *ld, const char *name, yaml_node_t *v)
{
	double d;

	if (get_number(ld, v, name, 0, 1e12, &d) == -1)
		return -1;
	cf.settings = xreallocarray(cf.settings, cf.nsettings + 1,
	    sizeof(*cf.settings));
	cf.settings[cf.nsettings].name = xstrdup(name);
	cf.settings[cf.nsettings].value = xstrdup(
	    (const char *)v->data.scalar.value);
	cf.settings[cf.nsettings].col = (int)v->start_mark.column + 1;
	cf.settings[cf.nsettings++].line = (int)v->start_mark.line + 1;
	return 0;
}

static int
load_root(struct loader *ld, yaml_node_t *root)
{
	yaml_node_pair_t *pairs;
	yaml_node_t *k, *v;
	const char *key;
	size_t j;
	int np, i, rc;

	if (root == NULL)
		return 0;		/* an empty file */
	if ((np = mapping(ld, root, "the configuration", &pairs)) < 0)
		return -1;
	for (i = 0; i < np; i++) {
		k = yaml_document_get_node(&ld->doc, pairs[i].key);
		v = yaml_document_get_node(&ld->doc, pairs[i].value);
		key = (const char *)k->data.scalar.value;
		if (strcmp(key, "endpoints") == 0)
			rc = load_endpoints(ld, v);
		else if (strcmp(key, "models") == 0)
			rc = load_models(ld, v);
		else if (strcmp(key, "tiers") == 0)
			rc = load_tiers(ld, v);
		else {
			for (j = 0; j < NELEM(config_settings); j++)
				if (strcmp(key, config_settings[j]) == 0)
					break;
			if (j == NELEM(config_settings))
				return bad(ld, k, "unknown key '%s' (known: "
				    "endpoints, models, tiers, retries, "
				    "retry_max_wait, connect_timeout, "
				    "stall_timeout, continuations, "
				    "max_tokens, max_answer_bytes)", key);
			rc = load_setting(ld, key, v);
		}
		if (rc == -1)
			return -1;
	}
	return 0;
}

int
config_load(const char *path, char **errp)
{
	struct loader ld;
	yaml_parser_t parser;
	char *dflt = NULL;
	FILE *f;
	int rc;

	config_free();
	config_builtins();
	if (path == NULL && (path = dflt = config_default_path()) == NULL)
		return 0;
	if ((f = fopen(path, "r")) == NULL) {
		rc = errno == ENOENT ? 0 : -1;
		if (rc == -1)
			xasprintf(errp, "cannot open %s: %s", path,
			    strerror(errno));
		free(dflt);
		return rc;
	}
	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &ld.doc)) {
		xasprintf(errp, "%s:%lu:%lu: error: %s%s%s", path,
		    (unsigned long)parser.problem_mark.line + 1,
		    (unsigned long)parser.problem_mark.column + 1,
		    parser.problem ? parser.problem : "bad YAML",
		    parser.context ? " " : "",
		    parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		fclose(f);
		free(dflt);
		return -1;
	}
	rc = load_root(&ld, yaml_document_get_root_node(&ld.doc));
	yaml_document_delete(&ld.doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (rc == -1) {
		*errp = ld.err;
		config_free();
		config_builtins();
	} else
		cf.path = xstrdup(path);
	free(dflt);
	return rc;
}
