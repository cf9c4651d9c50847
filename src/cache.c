#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

#define CACHE_FORMAT 1

/* The file of key: dir/ab/abcdef....json.  The caller frees it. */
static char *
cache_path(const char *dir, const char *key)
{
	char *s;

	xasprintf(&s, "%s/%.2s/%s.json", dir, key, key);
	return s;
}

/* Read a non-negative integer member, 0 when absent. */
static long
usage_field(json_t *u, const char *name)
{
	json_t *v;

	v = json_object_get(u, name);
	return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

int
cache_get(const char *dir, const char *key, struct cache_entry *e,
    char **warnp)
{
	const char *answer, *model, *sum, *k;
	char *path, *err = NULL, hex[65];
	struct buf b = { 0 };
	json_error_t jerr;
	json_t *root, *u;
	size_t n;

	memset(e, 0, sizeof(*e));
	path = cache_path(dir, key);
	if (file_read(path, &b, &err) == -1) {
		free(err);	/* a missing entry is an ordinary miss */
		free(path);
		return 0;
	}
	root = json_loadb(b.data, b.len, 0, &jerr);
	buf_free(&b);
	if (root == NULL || json_unpack(root, "{s:i, s:s, s:s, s:s%, s:s}",
	    "format", &(int){ 0 }, "key", &k, "model", &model, "answer",
	    &answer, &n, "checksum", &sum) != 0) {
		xasprintf(warnp, "cache entry %s is corrupt; asking again",
		    path);
		goto miss;
	}
	sha256_hex(answer, n, hex);
	if (strcmp(k, key) != 0 || strcmp(sum, hex) != 0) {
		xasprintf(warnp, "cache entry %s fails its checksum; asking "
		    "again", path);
		goto miss;
	}
	memcpy(e->key, key, 65);
	e->model = xstrdup(model);
	e->answer = xstrndup(answer, n);
	e->answerlen = n;
	u = json_object_get(root, "usage");
	e->usage.in = usage_field(u, "input");
	e->usage.out = usage_field(u, "output");
	e->usage.cache_write = usage_field(u, "cache_write");
	e->usage.cache_read = usage_field(u, "cache_read");
	json_decref(root);
	free(path);
	return 1;
miss:
	json_decref(root);
	free(path);
	return 0;
}

int
cache_put(const char *dir, const struct cache_entry *e, char **errp)
{
	char *path, *text, sum[65];
	json_t *root;
	int rc;

	sha256_hex(e->answer, e->answerlen, sum);
	root = json_pack("{s:i, s:s, s:s, s:{s:I, s:I, s:I, s:I}, s:s%, "
	    "s:s}", "format", CACHE_FORMAT, "key", e->key, "model",
	    e->model ? e->model : "", "usage", "input", (json_int_t)e->usage.in,
	    "output", (json_int_t)e->usage.out, "cache_write",
	    (json_int_t)e->usage.cache_write, "cache_read",
	    (json_int_t)e->usage.cache_read, "answer", e->answer,
	    e->answerlen, "checksum", sum);
	if (root == NULL) {
		xasprintf(errp, "cannot store the answer for %s: not UTF-8",
		    e->key);
		return -1;
	}
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (text == NULL)
		fatal("out of memory");
	path = cache_path(dir, e->key);
	rc = file_write_atomic(path, text, strlen(text), 0, errp);
	free(path);
	free(text);
	return rc;
}

void
cache_entry_clear(struct cache_entry *e)
{
	free(e->model);
	free(e->answer);
	memset(e, 0, sizeof(*e));
}
