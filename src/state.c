#include "state.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Whether s is n lower-case hex digits followed by end or a tab. */
static int
is_hex64(const char *s)
{
	int i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0' || s[64] == '\t';
}

/* Parse one entry line (modified in place) into l. */
static int
lock_parse_line(struct lock *l, char *line)
{
	char *key, *hash;

	if ((key = strchr(line, '\t')) == NULL)
		return -1;
	*key++ = '\0';
	if ((hash = strchr(key, '\t')) == NULL)
		return -1;
	*hash++ = '\0';
	if (!is_hex64(key) || !is_hex64(hash) || hash[64] != '\0' ||
	    line[0] == '\0' || unescape_field(line) == -1)
		return -1;
	lock_set(l, line, key, hash);
	return 0;
}

int
lock_load(struct lock *l, const char *path, char **errp)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno, version, rc = -1;
	FILE *f;

	/* Streamed a line at a time: a lock of 100,000 targets is 15 MB
	 * that need not be held whole beside the plan. */
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return 0;
		xasprintf(errp, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	for (lineno = 1; (n = getline(&line, &cap, f)) != -1; lineno++) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if ((size_t)n != strlen(line)) {
			xasprintf(errp, "%s:%d: malformed lock entry", path,
			    lineno);
			goto out;
		}
		if (lineno == 1) {
			if (sscanf(line, "# planmake lock %d", &version) != 1) {
				xasprintf(errp, "%s:1: not a planmake lock "
				    "file", path);
				goto out;
			}
			if (version != LOCK_VERSION) {
				xasprintf(errp, "%s:1: lock format %d is not "
				    "known to this planmake (it reads %d)",
				    path, version, LOCK_VERSION);
				goto out;
			}
		} else if (*line != '\0' && *line != '#' &&
		    lock_parse_line(l, line) == -1) {
			xasprintf(errp, "%s:%d: malformed lock entry", path,
			    lineno);
			goto out;
		}
	}
	if (ferror(f)) {
		xasprintf(errp, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	l->dirty = 0;
	rc = 0;
out:
	free(line);
	fclose(f);
	return rc;
}

struct lock_entry *
lock_get(struct lock *l, const char *path)
{
	return smap_get(&l->bypath, path);
}

void
lock_set(struct lock *l, const char *path, const char *key,
    const char *hash)
{
	struct lock_entry *e;
	size_t n;

	if ((e = smap_get(&l->bypath, path)) == NULL) {
		n = strlen(path);
		e = xcalloc(1, sizeof(*e) + n + 1);	/* one block */
		e->path = (char *)(e + 1);
		memcpy(e->path, path, n + 1);
		smap_put(&l->bypath, path, e);
	} else if (e->path[0] == '\0') {
		strcpy(e->path, path);		/* removed earlier: same key */
	} else if (strcmp(e->key, key) == 0 && strcmp(e->hash, hash) == 0)
		return;
	memcpy(e->key, key, 64);
	memcpy(e->hash, hash, 64);
	l->dirty = 1;
}

void
lock_remove(struct lock *l, const char *path)
{
	struct lock_entry *e;

	/* smap has no deletion; an entry with an empty path is skipped. */
	if ((e = smap_get(&l->bypath, path)) == NULL || e->path[0] == '\0')
		return;
	e->path[0] = '\0';
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

		if (l->bypath.ents[i].key != NULL && e->path[0] != '\0')
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
