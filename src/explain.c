#include "explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dag.h"
#include "request.h"
#include "util.h"

#define QUOTE_MAX	60	/* bytes of a line quoted in a difference */

char *
explain_path(const char *statedir, const char *key)
{
	char *s;

	xasprintf(&s, "%s/manifests/%.2s/%s.json", statedir, key, key);
	return s;
}

char *
explain_manifest(const struct spec *s, const struct task *t)
{
	json_t *root, *params, *inputs, *targets;
	char sys[65], *text;
	size_t i;

	params = json_pack("{s:I}", "max_tokens", (json_int_t)s->max_tokens);
	if (s->has_temperature)
		json_object_set_new(params, "temperature",
		    json_real(s->temperature));
	inputs = json_array();
	for (i = 0; i < t->nins; i++)
		if (!t->ins[i]->phony)
			json_array_append_new(inputs, json_pack("[s,s]",
			    t->ins[i]->path, t->ins[i]->hash));
	targets = json_array();
	for (i = 0; i < t->nouts; i++)
		json_array_append_new(targets, json_string(t->outs[i]->path));
	sha256_hex(s->system, strlen(s->system), sys);
	root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:o}",
	    "format", REQUEST_FORMAT, "key", s->key, "provider", s->provider,
	    "base", s->base, "model", s->model, "params", params, "system",
	    sys, "inputs", inputs, "prompt", s->prompt, "targets", targets);
	if (root == NULL)
		return NULL;
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	return text;
}

int
explain_save(const char *statedir, const struct spec *s,
    const struct task *t, char **errp)
{
	char *text, *path;
	int rc;

	if ((text = explain_manifest(s, t)) == NULL) {
		xasprintf(errp, "cannot describe the request of '%s'",
		    t->name);
		return -1;
	}
	path = explain_path(statedir, s->key);
	rc = file_write_atomic(path, text, strlen(text), 0, errp);
	free(path);
	free(text);
	return rc;
}

/* Append s quoted, cut at QUOTE_MAX bytes (on a UTF-8 boundary). */
static void
quote(struct buf *b, const char *s, size_t n)
{
	size_t k = n;

	if (k > QUOTE_MAX) {
		k = QUOTE_MAX;
		while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
			k--;
	}
	buf_addc(b, '\'');
	buf_add(b, s, k);
	buf_addstr(b, k < n ? "...'" : "'");
}

static const char *
str(json_t *o, const char *name)
{
	const char *v = json_string_value(json_object_get(o, name));

	return v ? v : "";
}

/* The first prompt line that differs, or NULL. */
static char *
prompt_diff(const char *a, const char *b)
{
	struct buf m = { 0 };
	const char *ea, *eb;
	size_t line = 1, la, lb;

	for (;; line++) {
		ea = a ? a + strcspn(a, "\n") : NULL;
		eb = b ? b + strcspn(b, "\n") : NULL;
		la = a ? (size_t)(ea - a) : 0;
		lb = b ? (size_t)(eb - b) : 0;
		if (a == NULL && b == NULL)
			return NULL;
		if (a == NULL || b == NULL || la != lb ||
		    memcmp(a, b, la) != 0)
			break;
		a = *ea ? ea + 1 : NULL;
		b = *eb ? eb + 1 : NULL;
	}
	if (a == NULL) {
		buf_printf(&m, "prompt line %zu was added: ", line);
		quote(&m, b, lb);
	} else if (b == NULL) {
		buf_printf(&m, "prompt line %zu was removed: ", line);
		quote(&m, a, la);
	} else {
		buf_printf(&m, "prompt line %zu changed: ", line);
		quote(&m, a, la);
		buf_addstr(&m, " -> ");
		quote(&m, b, lb);
	}
	return buf_detach(&m);
}

static const char *
pair(json_t *inputs, size_t i, int k)
{
	const char *v;

	v = json_string_value(json_array_get(json_array_get(inputs, i),
	    (size_t)k));
	return v ? v : "";
}

/* The index of path among the [path, hash] pairs of inputs, or -1. */
static long
input_find(json_t *inputs, const char *path)
{
	size_t i;

	for (i = 0; i < json_array_size(inputs); i++)
		if (strcmp(pair(inputs, i, 0), path) == 0)
			return (long)i;
	return -1;
}

/* The first input added, removed or changed, or NULL. */
static char *
inputs_diff(json_t *a, json_t *b)
{
	char *m;
	size_t i;
	long k;

	for (i = 0; i < json_array_size(b); i++)
		if (input_find(a, pair(b, i, 0)) == -1) {
			xasprintf(&m, "input '%s' was added", pair(b, i, 0));
			return m;
		}
	for (i = 0; i < json_array_size(a); i++)
		if (input_find(b, pair(a, i, 0)) == -1) {
			xasprintf(&m, "input '%s' was removed", pair(a, i, 0));
			return m;
		}
	for (i = 0; i < json_array_size(b); i++) {
		k = input_find(a, pair(b, i, 0));
		if (strcmp(pair(a, (size_t)k, 1), pair(b, i, 1)) != 0) {
			xasprintf(&m, "input '%s' changed", pair(b, i, 0));
			return m;
		}
	}
	for (i = 0; i < json_array_size(b); i++)
		if (strcmp(pair(a, i, 0), pair(b, i, 0)) != 0)
			return xstrdup("the inputs were reordered");
	return NULL;
}

/* The first generation parameter that differs, or NULL. */
static char *
params_diff(json_t *a, json_t *b)
{
	const char *names[] = { "max_tokens", "temperature" };
	char *m, *va, *vb;
	json_t *x, *y;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		x = json_object_get(a, names[i]);
		y = json_object_get(b, names[i]);
		if (x == NULL && y == NULL)
			continue;
		if (x != NULL && y != NULL && json_equal(x, y))
			continue;
		va = x ? json_dumps(x, JSON_ENCODE_ANY) : xstrdup("unset");
		vb = y ? json_dumps(y, JSON_ENCODE_ANY) : xstrdup("unset");
		xasprintf(&m, "setting %s changed: %s -> %s", names[i],
		    va ? va : "?", vb ? vb : "?");
		free(va);
		free(vb);
		return m;
	}
	if (!json_equal(a, b))
		return xstrdup("the generation parameters changed");
	return NULL;
}

char *
explain_compare(const char *old, const char *now)
{
	json_t *a, *b;
	char *m = NULL;

	a = json_loads(old, 0, NULL);
	b = json_loads(now, 0, NULL);
	if (a == NULL || b == NULL)
		goto out;
	if (!json_equal(json_object_get(a, "format"),
	    json_object_get(b, "format")))
		m = xstrdup("the request format changed (a new planmake)");
	else if (strcmp(str(a, "provider"), str(b, "provider")) != 0 ||
	    strcmp(str(a, "model"), str(b, "model")) != 0)
		xasprintf(&m, "the model changed: %s:%s -> %s:%s",
		    str(a, "provider"), str(a, "model"), str(b, "provider"),
		    str(b, "model"));
	else if (strcmp(str(a, "base"), str(b, "base")) != 0)
		xasprintf(&m, "the provider's address changed: %s -> %s",
		    str(a, "base"), str(b, "base"));
	else if ((m = params_diff(json_object_get(a, "params"),
	    json_object_get(b, "params"))) != NULL)
		;
	else if (strcmp(str(a, "system"), str(b, "system")) != 0)
		m = xstrdup("the system text changed");
	else if (!json_equal(json_object_get(a, "targets"),
	    json_object_get(b, "targets")))
		m = xstrdup("the list of targets changed");
	else if ((m = inputs_diff(json_object_get(a, "inputs"),
	    json_object_get(b, "inputs"))) != NULL)
		;
	else
		m = prompt_diff(str(a, "prompt"), str(b, "prompt"));
out:
	json_decref(a);
	json_decref(b);
	return m;
}

char *
explain_diff(const char *statedir, const char *oldkey, const struct spec *s,
    const struct task *t)
{
	struct buf b = { 0 };
	char *path, *now, *m, *err = NULL;

	path = explain_path(statedir, oldkey);
	if (file_read(path, &b, &err) == -1) {
		free(err);
		free(path);
		buf_free(&b);
		return NULL;
	}
	free(path);
	if ((now = explain_manifest(s, t)) == NULL) {
		buf_free(&b);
		return NULL;
	}
	m = explain_compare(b.data, now);
	free(now);
	buf_free(&b);
	return m;
}
