#include "state.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The lock file: a header line, then one line per target, sorted:
 *	# planmake lock 1
 *	PATH<TAB>KEY<TAB>HASH
 * PATH escapes backslash, tab and newline as \\, \t and \n. */

static void
lock_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_addstr(b, "\\\\");
		else if (*s == '\t')
			buf_addstr(b, "\\t");
		else if (*s == '\n')
			buf_addstr(b, "\\n");
		else
			buf_addc(b, *s);
	}
}

/* A new entry for path, path in its block. */
static struct lock_entry *
entry_new(const char *path)
{
	struct lock_entry *e;
	size_t n = strlen(path);

	e = xcalloc(1, sizeof(*e) + n + 1);
	e->path = (char *)(e + 1);
	memcpy(e->path, path, n + 1);
	return e;
}

/* Parse one entry line (modified in place) into l.  NULL, or why the
 * line is not an entry. */
static const char *
lock_parse_line(struct lock *l, char *line)
{
	struct lock_entry *e, *old;
	char *key, *hash;
	size_t n = strlen(line);

	if (n > 0 && line[n - 1] == '\r')
		return "a carriage return ends it (CRLF line ends?)";
	if ((key = strchr(line, '\t')) == NULL ||
	    (hash = strchr(key + 1, '\t')) == NULL)
		return "not PATH<TAB>KEY<TAB>HASH";
	*key++ = '\0';
	*hash++ = '\0';
	if (line[0] == '\0')
		return "the path is empty";
	if (!hex64_valid(key))
		return "the key is not 64 lower-case hex digits";
	if (!hex64_valid(hash))
		return "the hash is not 64 lower-case hex digits";
	if (unescape_field(line) == -1)
		return "a backslash in the path escapes neither \\\\, \\t nor \\n";
	e = entry_new(line);
	memcpy(e->key, key, 64);
	memcpy(e->hash, hash, 64);
	/* One probe for the usual line. */
	if ((old = smap_put(&l->bypath, e->path, e)) != NULL) {
		smap_put(&l->bypath, old->path, old);
		free(e);
		return "its path is listed twice";
	}
	return NULL;
}

/* Whether line is the header of a lock of format version (its number
 * alone, digits only). */
static int
lock_header(const char *line, long *version)
{
	static const char head[] = "# planmake lock ";
	const char *p;

	if (strncmp(line, head, sizeof(head) - 1) != 0)
		return 0;
	p = line + sizeof(head) - 1;
	if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '\0') ||
	    strspn(p, "0123456789") != strlen(p) || strlen(p) > 9)
		return 0;
	*version = strtol(p, NULL, 10);
	return 1;
}

int
lock_load(struct lock *l, const char *path, char **errp)
{
	char *line = NULL;
	const char *why;
	size_t cap = 0;
	ssize_t n;
	int lineno, rc = -1;
	long version;
	struct stat st;
	double t0 = now_mono();
	FILE *f;

	/* Streamed a line at a time: a lock of 100,000 targets is 15 MB
	 * that need not be held whole beside the plan. */
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		xasprintf(errp, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	l->bypath.borrowed = 1;
	/* A line is some 150 bytes: room for them all at once. */
	if (fstat(fileno(f), &st) == 0 && st.st_size > 0)
		smap_reserve(&l->bypath, (size_t)st.st_size / 150 + 16);
	for (lineno = 1; (n = getline(&line, &cap, f)) != -1; lineno++) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if ((size_t)n != strlen(line)) {
			xasprintf(errp, "%s:%d: malformed lock entry: a NUL byte",
			    path, lineno);
			goto out;
		}
		if (lineno == 1) {
			if (!lock_header(line, &version)) {
				xasprintf(errp, "%s:1: not a planmake lock "
				    "file (its first line is not '# planmake "
				    "lock %d')", path, LOCK_VERSION);
				goto out;
			}
			if (version != LOCK_VERSION) {
				xasprintf(errp, "%s:1: lock format %ld is not "
				    "known to this planmake (it reads %d)",
				    path, version, LOCK_VERSION);
				goto out;
			}
		} else if (*line != '\0' && *line != '#' &&
		    (why = lock_parse_line(l, line)) != NULL) {
			xasprintf(errp, "%s:%d: malformed lock entry: %s", path,
			    lineno, why);
			goto out;
		}
	}
	if (ferror(f)) {
		xasprintf(errp, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (lineno == 1) {
		xasprintf(errp, "%s:1: not a planmake lock file (it is empty)",
		    path);
		goto out;
	}
	l->dirty = 0;
	rc = 0;
	log_debug(LOG_STATE, "%s: %zu entries, loaded in %.1f ms", path,
	    l->bypath.len, (now_mono() - t0) * 1000);
out:
	free(line);
	fclose(f);
	return rc;
}

struct lock_entry *
lock_get(struct lock *l, const char *path)
{
	struct lock_entry *e = smap_get(&l->bypath, path);

	return e != NULL && !e->removed ? e : NULL;
}

void
lock_set(struct lock *l, const char *path, const char *key,
    const char *hash)
{
	struct lock_entry *e;

	l->bypath.borrowed = 1;
	if ((e = smap_get(&l->bypath, path)) == NULL) {
		e = entry_new(path);
		smap_put(&l->bypath, e->path, e);
	} else if (!e->removed && strcmp(e->key, key) == 0 &&
	    strcmp(e->hash, hash) == 0)
		return;
	e->removed = 0;
	memcpy(e->key, key, 64);
	memcpy(e->hash, hash, 64);
	l->dirty = 1;
}

void
lock_remove(struct lock *l, const char *path)
{
	struct lock_entry *e;

	/* smap has no deletion; a removed entry is kept, marked. */
	if ((e = lock_get(l, path)) == NULL)
		return;
	e->removed = 1;
	l->dirty = 1;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct lock_entry *x = *(struct lock_entry *const *)a;
	const struct lock_entry *y = *(struct lock_entry *const *)b;

	return strcmp(x->path, y->path);
}

int
lock_save(struct lock *l, const char *path, char **errp)
{
	struct lock_entry **v;
	struct buf b = { 0 };
	size_t i, n = 0;
	int rc;

	v = xcalloc(l->bypath.len + 1, sizeof(*v));
	for (i = 0; i < l->bypath.cap; i++) {
		struct lock_entry *e = l->bypath.ents[i].val;

		if (l->bypath.ents[i].key != NULL && !e->removed)
			v[n++] = e;
	}
	qsort(v, n, sizeof(*v), entry_cmp);
	buf_printf(&b, "# planmake lock %d\n", LOCK_VERSION);
	for (i = 0; i < n; i++) {
		lock_escape(&b, v[i]->path);
		buf_printf(&b, "\t%s\t%s\n", v[i]->key, v[i]->hash);
	}
	free(v);
	rc = file_write_atomic(path, b.data, b.len, 1, errp);
	buf_free(&b);
	if (rc == 0)
		l->dirty = 0;
	return rc;
}

void
lock_free(struct lock *l)
{
	size_t i;

	for (i = 0; i < l->bypath.cap; i++) {
		struct lock_entry *e = l->bypath.ents[i].val;

		if (l->bypath.ents[i].key != NULL)
			free(e);
	}
	smap_free(&l->bypath);
}
