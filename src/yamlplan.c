#include "yamlplan.h"

#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "diag.h"
#include "plan.h"
#include "util.h"

/* The keys of the top-level mapping, and those of a task besides the
 * settings. */
static const char *const top_keys[] = { "vars", "settings", "phony",
    "tasks" };
static const char *const task_keys[] = { "targets", "deps", "prompt",
    "phony" };
#define NKEYS(a)	(sizeof(a) / sizeof((a)[0]))

/* What a backslash escapes in a name, as in a Planfile's rule header. */
#define NAME_ESCAPES	" \t#:=\\"

struct yamlplan {
	struct plan	*p;
	const char	*file;		/* interned */
	const char	*src;		/* the text, past a byte order mark */
	size_t		 len;
	size_t		*lines;		/* where each line starts; lazily */
	size_t		 nlines;
	int		 ascii;		/* no byte over 0x7f: marks are bytes */
	yaml_document_t	 doc;
	int		 nerr0;		/* diag_nerrors() when we began */
	int		 stopped;	/* too many errors */
};

/* Names split from a string or a list, with their places. */
struct words {
	char		**v;
	struct loc	 *locs;
	size_t		  n;
	size_t		  cap;
};

/* One setting of a task: its key and value nodes. */
struct tkey {
	yaml_node_t	*key;
	yaml_node_t	*val;
};

/* Note where each line starts, counting the line breaks libyaml counts:
 * LF, CR LF, a lone CR, NEL, LS and PS. */
static void
make_lines(struct yamlplan *y)
{
	const unsigned char *s = (const unsigned char *)y->src;
	size_t i, cap, next;

	cap = 64;
	y->lines = xreallocarray(NULL, cap, sizeof(*y->lines));
	y->lines[0] = 0;
	y->nlines = 1;
	for (i = 0; i < y->len; i++) {
		if (s[i] == '\n')
			next = i + 1;
		else if (s[i] == '\r')
			next = i + 1 < y->len && s[i + 1] == '\n' ? i + 2 :
			    i + 1;
		else if (s[i] == 0xc2 && i + 1 < y->len && s[i + 1] == 0x85)
			next = i + 2;
		else if (s[i] == 0xe2 && i + 2 < y->len && s[i + 1] == 0x80 &&
		    (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))
			next = i + 3;
		else
			continue;
		if (y->nlines == cap) {
			cap *= 2;
			y->lines = xreallocarray(y->lines, cap,
			    sizeof(*y->lines));
		}
		y->lines[y->nlines++] = next;
		i = next - 1;
	}
}

/* The byte offset of a libyaml mark, whose column counts characters. */
static size_t
mark_offset(struct yamlplan *y, yaml_mark_t m)
{
	const unsigned char *s = (const unsigned char *)y->src;
	size_t off, i;

	if (y->ascii)
		return m.index < y->len ? m.index : y->len;
	if (y->lines == NULL)
		make_lines(y);
	if (m.line >= y->nlines)
		return y->len;
	off = y->lines[m.line];
	for (i = 0; i < m.column && off < y->len; i++) {
		if (s[off] < 0xc0)
			off++;
		else if (s[off] < 0xe0)
			off += 2;
		else if (s[off] < 0xf0)
			off += 3;
		else
			off += 4;
	}
	return off < y->len ? off : y->len;
}

/* The place of byte offset off. */
static struct loc *
offset_loc(struct yamlplan *y, size_t off, struct loc *l)
{
	size_t lo, hi, mid;

	if (y->lines == NULL)
		make_lines(y);
	lo = 0;
	hi = y->nlines;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (y->lines[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	l->file = y->file;
	l->line = (int)lo + 1;
	l->col = (int)(off - y->lines[lo]) + 1;
	return l;
}

/* The place of a libyaml mark: 1-based, the column in bytes. */
static struct loc *
mark_loc(struct yamlplan *y, yaml_mark_t m, struct loc *l)
{
	size_t off;

	l->file = y->file;
	l->line = (int)m.line + 1;
	l->col = (int)m.column + 1;
	if (y->ascii)
		return l;
	off = mark_offset(y, m);
	if (y->lines != NULL && m.line < y->nlines)
		l->col = (int)(off - y->lines[m.line]) + 1;
	else
		l->col = (int)m.column + 1;
	return l;
}

/* The place where node n starts. */
static struct loc *
node_loc(struct yamlplan *y, const yaml_node_t *n, struct loc *l)
{
	return mark_loc(y, n->start_mark, l);
}

/* Whether another error may be reported; once the limit is reached,
 * say so once and return 0. */
static int
room(struct yamlplan *y)
{
	struct loc l;

	if (y->stopped)
		return 0;
	if (diag_nerrors() - y->nerr0 < DIAG_MAX_ERRORS)
		return 1;
	l.file = y->file;
	l.line = 0;
	l.col = 0;
	diag_error(&l, "too many errors");
	y->stopped = 1;
	return 0;
}

/* The node with the given id. */
static yaml_node_t *
node(struct yamlplan *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

/* What a node is, for messages. */
static const char *
kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a string";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

/* Whether n is YAML's null: an empty plain scalar, ~ or null. */
static int
is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
	    strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0;
}

/* The text of scalar n, or NULL after an error: n is not a scalar, or
 * holds a NUL character.  what names the value in messages. */
static const char *
scalar(struct yamlplan *y, const yaml_node_t *n, const char *what)
{
	struct loc l;

	if (n->type != YAML_SCALAR_NODE) {
		if (room(y))
			diag_error(node_loc(y, n, &l),
			    "%s must be a string, not %s", what, kind(n));
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) !=
	    n->data.scalar.length) {
		if (room(y))
			diag_error(node_loc(y, n, &l),
			    "%s holds a NUL character", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* Where scalar n's text starts, in *l.  Returns whether its bytes are
 * the source's, one line, so that an offset in the text is a column. */
static int
scalar_place(struct yamlplan *y, const yaml_node_t *n, struct loc *l)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length, off;
	int q;

	q = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
	    n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	node_loc(y, n, l);
	l->col += q;
	off = mark_offset(y, n->start_mark) + (size_t)q;
	return off <= y->len && len <= y->len - off &&
	    memcmp(y->src + off, v, len) == 0 && memchr(v, '\n', len) == NULL;
}

/* The edit distance of a and b when it is at most 2, else 3. */
static int
distance(const char *a, const char *b)
{
	int d[24][24];
	size_t i, j, na, nb;
	int best;

	na = strlen(a);
	nb = strlen(b);
	if (na >= 24 || nb >= 24 || na > nb + 2 || nb > na + 2)
		return 3;
	for (i = 0; i <= na; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= nb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= na; i++)
		for (j = 1; j <= nb; j++) {
			best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			d[i][j] = best;
		}
	return d[na][nb] < 3 ? d[na][nb] : 3;
}

/* The key of keys closest to a misspelled name, else a setting's name,
 * else NULL. */
static const char *
suggest(const char *name, const char *const *keys, size_t nkeys)
{
	const char *best = NULL;
	size_t i;
	int d, bestd = 3;

	for (i = 0; i < nkeys; i++)
		if ((d = distance(name, keys[i])) < bestd) {
			best = keys[i];
			bestd = d;
		}
	return best;
}

/* Report an unknown key, with the closest known one. */
static void
unknown_key(struct yamlplan *y, const yaml_node_t *k, const char *name,
    const char *where, const char *guess)
{
	struct loc l;

	if (!room(y))
		return;
	if (guess != NULL)
		diag_error(node_loc(y, k, &l),
		    "unknown key '%s' %s; did you mean '%s'?", name, where,
		    guess);
	else
		diag_error(node_loc(y, k, &l), "unknown key '%s' %s", name,
		    where);
}

/* The key of pair pr of mapping map, or NULL when it is not a string or
 * repeats an earlier key (reported).  A small mapping is searched; a
 * large one keeps its keys in seen, mapped to their nodes. */
static const char *
pair_key(struct yamlplan *y, const yaml_node_t *map,
    const yaml_node_pair_t *pr, struct smap *seen)
{
	const yaml_node_pair_t *q;
	yaml_node_t *k, *qk, *first;
	const char *name;
	struct loc l;

	k = node(y, pr->key);
	if ((name = scalar(y, k, "a key")) == NULL)
		return NULL;
	first = NULL;
	if (map->data.mapping.pairs.top - map->data.mapping.pairs.start > 16) {
		if ((first = smap_get(seen, name)) == NULL)
			smap_put(seen, name, k);
	} else
		for (q = map->data.mapping.pairs.start; q < pr && !first; q++) {
			qk = node(y, q->key);
			if (qk->type == YAML_SCALAR_NODE &&
			    qk->data.scalar.length == k->data.scalar.length &&
			    memcmp(qk->data.scalar.value, name,
			    k->data.scalar.length) == 0)
				first = qk;
		}
	if (first != NULL) {
		if (room(y)) {
			diag_error(node_loc(y, k, &l), "duplicate key '%s'",
			    name);
			diag_note(node_loc(y, first, &l),
			    "'%s' first given here", name);
		}
		return NULL;
	}
	return name;
}

/* Append a name, taking ownership of it. */
static void
words_add(struct words *w, char *name, const struct loc *l)
{
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 4;
		w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
		w->locs = xreallocarray(w->locs, w->cap, sizeof(*w->locs));
	}
	w->v[w->n] = name;
	w->locs[w->n++] = *l;
}

static void
words_free(struct words *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	free(w->locs);
	memset(w, 0, sizeof(*w));
}

/* Whether c separates names. */
static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The end of the name that starts at s[i]: the next blank that is not
 * escaped or inside $(...) or ${...}. */
static size_t
word_end(const char *s, size_t i, size_t n)
{
	int depth;

	for (depth = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			i++;
			continue;
		}
		if (s[i] == '$' && i + 1 < n && (s[i + 1] == '(' ||
		    s[i + 1] == '{')) {
			depth++;
			i++;
		} else if (depth > 0) {
			if (s[i] == '(' || s[i] == '{')
				depth++;
			else if (s[i] == ')' || s[i] == '}')
				depth--;
		} else if (blank(s[i]))
			return i;
	}
	return n;
}

/* The n bytes at s, a backslash before a byte of NAME_ESCAPES dropped. */
static char *
unescape(const char *s, size_t n)
{
	char *out;
	size_t i, k;

	out = xmalloc(n + 1);
	for (i = k = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			if (strchr(NAME_ESCAPES, s[i + 1]) == NULL)
				out[k++] = s[i];
			i++;
		}
		out[k++] = s[i];
	}
	out[k] = '\0';
	return out;
}

/* Split the n bytes at s into names as a Planfile's rule header does:
 * each word as written is expanded, then split again.  A word is placed
 * at base, plus its offset when exact. */
static void
split(struct yamlplan *y, const char *s, size_t n, const struct loc *base,
    int exact, int expand, struct words *w)
{
	struct loc l;
	size_t i, j;
	char *x;

	for (i = 0; i < n; i = j) {
		while (i < n && blank(s[i]))
			i++;
		if (i == n)
			break;
		j = word_end(s, i, n);
		l = *base;
		if (exact)
			l.col += (int)i;
		if (!expand || memchr(s + i, '$', j - i) == NULL) {
			words_add(w, unescape(s + i, j - i), &l);
			continue;
		}
		x = plan_expand(y->p, s + i, j - i, &l);
		split(y, x, strlen(x), &l, 0, 0, w);
		free(x);
	}
}

/* The names n gives: a string of names, a list of them, or null.  what
 * names the value in messages.  Returns 0, or -1 after an error. */
static int
names(struct yamlplan *y, yaml_node_t *n, const char *what, struct words *w)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	const char *s;
	struct loc l;
	int exact, rc;

	if (is_null(n))
		return 0;
	if (n->type == YAML_SCALAR_NODE) {
		if ((s = scalar(y, n, what)) == NULL)
			return -1;
		exact = scalar_place(y, n, &l);
		split(y, s, strlen(s), &l, exact, 1, w);
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		if (room(y))
			diag_error(node_loc(y, n, &l), "%s must be a string "
			    "or a list of strings, not %s", what, kind(n));
		return -1;
	}
	rc = 0;
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		item = node(y, *it);
		if ((s = scalar(y, item, what)) == NULL) {
			rc = -1;
			continue;
		}
		exact = scalar_place(y, item, &l);
		split(y, s, strlen(s), &l, exact, 1, w);
	}
	return rc;
}

/* The value of a variable or setting: a string, a number, null (the
 * empty string) or, when list is set, a list of strings joined by
 * spaces, the blanks in each escaped.  The caller frees the result;
 * NULL after an error. */
static char *
value(struct yamlplan *y, yaml_node_t *n, const char *what, int list)
{
	yaml_node_item_t *it;
	struct buf b = { 0 };
	const char *s;

	if (is_null(n))
		return xstrdup("");
	if (n->type != YAML_SEQUENCE_NODE || !list)
		return (s = scalar(y, n, what)) ? xstrdup(s) : NULL;
	buf_grow(&b, 0);
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++) {
		if ((s = scalar(y, node(y, *it), what)) == NULL) {
			buf_free(&b);
			return NULL;
		}
		if (b.len > 0)
			buf_addc(&b, ' ');
		for (; *s != '\0'; s++) {
			if (blank(*s) || *s == '\\')
				buf_addc(&b, '\\');
			buf_addc(&b, *s);
		}
	}
	return buf_detach(&b);
}

/* Report a key that names no setting. */
static void
unknown_setting(struct yamlplan *y, const yaml_node_t *k, const char *name)
{
	const char *guess;
	struct loc l;

	if (!room(y))
		return;
	node_loc(y, k, &l);
	if ((guess = plan_setting_suggest(name)) != NULL)
		diag_error(&l, "unknown setting '%s'; did you mean '%s'?",
		    name, guess);
	else
		diag_error(&l, "unknown setting '%s'", name);
}

/* vars: (settings: when settings is set) NAME: value, each assigned as
 * a Planfile's "NAME = value"; a setting's name must be one planmake
 * knows, and its value applies to the whole plan. */
static void
load_assignments(struct yamlplan *y, yaml_node_t *n, int settings)
{
	struct smap seen = { 0 };
	yaml_node_pair_t *pr;
	const char *name;
	struct loc l;
	char *v;

	if (is_null(n))
		return;
	if (n->type != YAML_MAPPING_NODE) {
		if (room(y))
			diag_error(node_loc(y, n, &l), "'%s' must be a "
			    "mapping of %s to values, not %s", settings ?
			    "settings" : "vars", settings ? "settings" :
			    "names", kind(n));
		return;
	}
	for (pr = n->data.mapping.pairs.start;
	    pr < n->data.mapping.pairs.top && room(y); pr++) {
		if ((name = pair_key(y, n, pr, &seen)) == NULL)
			continue;
		node_loc(y, node(y, pr->key), &l);
		if (settings && !plan_is_setting(name)) {
			unknown_setting(y, node(y, pr->key), name);
			continue;
		}
		if (!settings && !plan_is_name(name, strlen(name))) {
			diag_error(&l, "invalid variable name '%s'", name);
			continue;
		}
		if ((v = value(y, node(y, pr->value), settings ?
		    "a setting's value" : "a variable's value", settings &&
		    strcmp(name, "context") == 0)) == NULL)
			continue;
		plan_set_var(y->p, name, v, VAR_FILE, 0, &l);
		free(v);
	}
	smap_free(&seen);
}

/* Whether the n bytes at s are only blanks. */
static int
all_blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!blank(s[i]))
			return 0;
	return 1;
}

/* Where line k of literal block scalar n's text, t (len bytes), is in
 * the source: the source line is the k-th after the header's, and ends
 * with t.  Returns 0 with *l set, or -1 when it does not fit. */
static int
literal_line(struct yamlplan *y, const yaml_node_t *n, size_t k,
    const char *t, size_t len, struct loc *l)
{
	size_t line, s, e;

	if (y->lines == NULL)
		make_lines(y);
	line = n->start_mark.line + 1 + k;
	if (line >= y->nlines)
		return -1;
	s = y->lines[line];
	for (e = s; e < y->len && y->src[e] != '\n' && y->src[e] != '\r'; e++)
		continue;
	if (e - s < len || memcmp(y->src + e - len, t, len) != 0)
		return -1;
	l->file = y->file;
	l->line = (int)line + 1;
	l->col = (int)(e - len - s) + 1;
	return 0;
}

/* Expand a prompt's text t (len bytes, the lines of scalar n from line
 * first on), each reference placed at its line and column when the
 * text is a literal block as written. */
static char *
expand_prompt(struct yamlplan *y, const yaml_node_t *n, size_t first,
    const struct rule *r, const char *t, size_t len)
{
	const char *s, *e, *end;
	struct buf b = { 0 };
	struct loc l, base;
	size_t k;
	char *x;

	if (memchr(t, '$', len) == NULL)
		return xstrndup(t, len);
	if (n->data.scalar.style != YAML_LITERAL_SCALAR_STYLE) {
		scalar_place(y, n, &l);
		return plan_expand_rule(y->p, r, t, len, &l, 0);
	}
	node_loc(y, n, &base);
	end = t + len;
	for (s = t, k = first; ; s = e + 1, k++) {
		if ((e = memchr(s, '\n', (size_t)(end - s))) == NULL)
			e = end;
		if (memchr(s, '$', (size_t)(e - s)) != NULL) {
			if (literal_line(y, n, k, s, (size_t)(e - s), &l) == -1)
				l = base;
			x = plan_expand_rule(y->p, r, s, (size_t)(e - s), &l,
			    0);
			buf_addstr(&b, x);
			free(x);
		} else
			buf_add(&b, s, (size_t)(e - s));
		if (e == end)
			break;
		buf_addc(&b, '\n');
	}
	return buf_detach(&b);
}

/* The prompt of a task as written, blank lines at either end dropped
 * as in a Planfile (so a block scalar's final line break goes too); it
 * is expanded once its rule is known (see task_rule()), and in *first
 * is the line of the scalar it starts on.  NULL when there is none;
 * *err is set after an error. */
static char *
task_prompt(struct yamlplan *y, yaml_node_t *n, struct loc *where,
    size_t *firstp, int *err)
{
	const char *v, *eol;
	size_t b, e, first, ls;

	if (is_null(n))
		return NULL;
	if ((v = scalar(y, n, "'prompt'")) == NULL) {
		*err = 1;
		return NULL;
	}
	b = 0;
	e = strlen(v);
	first = 0;
	while ((eol = memchr(v + b, '\n', e - b)) != NULL &&
	    all_blank(v + b, (size_t)(eol - v) - b)) {
		b = (size_t)(eol - v) + 1;
		first++;
	}
	while (e > b) {
		for (ls = e; ls > b && v[ls - 1] != '\n'; ls--)
			continue;
		if (!all_blank(v + ls, e - ls))
			break;
		e = ls > b ? ls - 1 : b;
	}
	if (e == b)
		return NULL;
	node_loc(y, n, where);
	if (n->data.scalar.style == YAML_LITERAL_SCALAR_STYLE) {
		eol = memchr(v + b, '\n', e - b);
		literal_line(y, n, first, v + b, eol ? (size_t)(eol - v) - b :
		    e - b, where);
	}
	*firstp = first;
	return xstrndup(v + b, e - b);
}

/* Whether scalar n is true; *err is set when it is no boolean. */
static int
boolean(struct yamlplan *y, yaml_node_t *n, const char *what, int *err)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };
	const char *s;
	struct loc l;
	size_t i;

	if ((s = scalar(y, n, what)) == NULL) {
		*err = 1;
		return 0;
	}
	for (i = 0; i < 3; i++) {
		if (strcmp(s, yes[i]) == 0)
			return 1;
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	if (room(y))
		diag_error(node_loc(y, n, &l), "%s must be true or false, "
		    "not '%s'", what, s);
	*err = 1;
	return 0;
}

/* Check that each target is a valid UTF-8 name.  Returns 0 or -1. */
static int
check_targets(struct yamlplan *y, struct words *w)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < w->n; i++)
		if (!utf8_valid(w->v[i], strlen(w->v[i]), NULL)) {
			if (room(y))
				diag_error(&w->locs[i],
				    "target name is not valid UTF-8");
			rc = -1;
		}
	return rc;
}

/* A task's setting, read, waiting for the task's targets. */
struct tvalue {
	const char	*name;		/* borrowed from the document */
	char		*value;		/* owned */
	struct loc	 loc;		/* the key */
};

/* What a task's mapping says, read key by key in the order written, so
 * that errors come in file order. */
struct taskparts {
	yaml_node_t	*targets;	/* the value of 'targets' */
	struct words	 t;
	struct words	 pre;
	char		*prompt;	/* owned, as written; NULL: none */
	struct loc	 prompt_loc;
	yaml_node_t	*pnode;		/* the value of 'prompt' */
	size_t		 pfirst;	/* its line the prompt starts on */
	int		 phony;
	struct tvalue	*sets;		/* owned */
	size_t		 nsets;
	int		 err;		/* an error was reported */
};

/* Read the pair name: v of a task. */
static void
task_pair(struct yamlplan *y, struct taskparts *tp, const char *name,
    yaml_node_t *k, yaml_node_t *v)
{
	const char *guess;
	char *val;

	if (strcmp(name, "targets") == 0) {
		tp->targets = v;
		if (names(y, v, "'targets'", &tp->t) == -1 ||
		    check_targets(y, &tp->t) == -1)
			tp->err = 1;
	} else if (strcmp(name, "deps") == 0) {
		if (names(y, v, "'deps'", &tp->pre) == -1)
			tp->err = 1;
	} else if (strcmp(name, "prompt") == 0) {
		tp->pnode = v;
		tp->prompt = task_prompt(y, v, &tp->prompt_loc, &tp->pfirst,
		    &tp->err);
	} else if (strcmp(name, "phony") == 0)
		tp->phony = boolean(y, v, "'phony'", &tp->err);
	else if (plan_is_setting(name)) {
		if ((val = value(y, v, "a setting's value",
		    strcmp(name, "context") == 0)) == NULL) {
			tp->err = 1;
			return;
		}
		tp->sets[tp->nsets].name = name;
		tp->sets[tp->nsets].value = val;
		node_loc(y, k, &tp->sets[tp->nsets++].loc);
	} else {
		if ((guess = suggest(name, task_keys,
		    NKEYS(task_keys))) == NULL)
			guess = plan_setting_suggest(name);
		unknown_key(y, k, name, "in a task", guess);
		tp->err = 1;
	}
}

/* Give each target of a task the task's settings. */
static void
task_settings(struct yamlplan *y, struct taskparts *tp)
{
	struct tset *ts;
	size_t i, j;

	for (i = 0; i < tp->nsets; i++)
		for (j = 0; j < tp->t.n; j++) {
			ts = xcalloc(1, sizeof(*ts));
			ts->target = xstrdup(tp->t.v[j]);
			ts->name = xstrdup(tp->sets[i].name);
			ts->value = xstrdup(tp->sets[i].value);
			ts->loc = tp->sets[i].loc;
			plan_add_tset(y->p, ts);
		}
}

/* The words at w as pwords.  The caller frees the array. */
static struct pword *
pwords(const struct words *w)
{
	struct pword *v;
	size_t i;

	v = xcalloc(w->n + 1, sizeof(*v));
	for (i = 0; i < w->n; i++) {
		v[i].s = w->v[i];
		v[i].len = strlen(w->v[i]);
		v[i].loc = w->locs[i];
	}
	return v;
}

/* A rule of p with copies of the targets t and prerequisites pre. */
static struct rule *
words_rule(struct plan *p, const struct words *t, const struct words *pre)
{
	struct pword *tv, *pv;
	struct rule *r;

	tv = pwords(t);
	pv = pwords(pre);
	r = rule_new(p, &t->locs[0], tv, t->n, pv, pre->n);
	free(tv);
	free(pv);
	return r;
}

/* Make the rule of a task read without error, handing it the
 * prompt. */
static void
task_rule(struct yamlplan *y, struct taskparts *tp)
{
	struct rule *r;
	size_t i;

	if (tp->phony)
		for (i = 0; i < tp->t.n; i++)
			plan_add_phony(y->p, tp->t.v[i], &tp->t.locs[i]);
	task_settings(y, tp);
	r = words_rule(y->p, &tp->t, &tp->pre);
	r->prompt = tp->prompt;
	r->prompt_loc = tp->prompt_loc;
	/* Every variable is known by now: an explicit rule's prompt is
	 * expanded for its task ($@, $<, $^); a pattern's is kept as
	 * written, for each instance to expand with its stem. */
	for (i = 0; i < r->ntargets && strchr(r->targets[i], '%') == NULL;
	    i++)
		continue;
	if (r->prompt != NULL && i == r->ntargets &&
	    strchr(r->prompt, '$') != NULL) {
		char *x = expand_prompt(y, tp->pnode, tp->pfirst, r,
		    r->prompt, strlen(r->prompt));

		free(r->prompt);
		r->prompt = x;
	}
	plan_add_rule(y->p, r);
	words_free(&tp->t);
	words_free(&tp->pre);
	tp->prompt = NULL;
}

/* One task: a rule with its targets, prerequisites, prompt, and the
 * settings of its targets. */
static void
load_task(struct yamlplan *y, yaml_node_t *n)
{
	struct smap seen = { 0 };
	struct taskparts tp;
	yaml_node_pair_t *pr;
	const char *name;
	struct loc l;
	size_t i;

	if (n->type != YAML_MAPPING_NODE) {
		if (room(y))
			diag_error(node_loc(y, n, &l), "a task must be a "
			    "mapping with targets, deps and prompt, not %s",
			    kind(n));
		return;
	}
	memset(&tp, 0, sizeof(tp));
	tp.sets = xcalloc((size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start) + 1, sizeof(*tp.sets));
	for (pr = n->data.mapping.pairs.start;
	    pr < n->data.mapping.pairs.top; pr++) {
		if ((name = pair_key(y, n, pr, &seen)) == NULL)
			tp.err = 1;
		else
			task_pair(y, &tp, name, node(y, pr->key),
			    node(y, pr->value));
	}
	smap_free(&seen);
	if (tp.targets == NULL) {
		if (room(y))
			diag_error(node_loc(y, n, &l), "a task needs "
			    "'targets'");
		tp.err = 1;
	} else if (!tp.err && tp.t.n == 0) {
		if (room(y))
			diag_error(node_loc(y, tp.targets, &l),
			    "'targets' names no target");
		tp.err = 1;
	}
	if (!tp.err)
		task_rule(y, &tp);
	words_free(&tp.t);
	words_free(&tp.pre);
	free(tp.prompt);
	for (i = 0; i < tp.nsets; i++)
		free(tp.sets[i].value);
	free(tp.sets);
}

/* phony: names that are not files, as a Planfile's .PHONY. */
static void
load_phony(struct yamlplan *y, yaml_node_t *n)
{
	struct words w = { 0 };
	size_t i;

	names(y, n, "'phony'", &w);
	for (i = 0; i < w.n; i++)
		plan_add_phony(y->p, w.v[i], &w.locs[i]);
	words_free(&w);
}

/* tasks: a list of task mappings, in order; the first task's targets
 * are the default goal. */
static void
load_tasks(struct yamlplan *y, yaml_node_t *n)
{
	yaml_node_item_t *it;
	struct loc l;

	if (is_null(n))
		return;
	if (n->type != YAML_SEQUENCE_NODE) {
		if (room(y))
			diag_error(node_loc(y, n, &l), "'tasks' must be a "
			    "list of tasks, not %s", kind(n));
		return;
	}
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top && room(y); it++)
		load_task(y, node(y, *it));
}

/* The document: a mapping of vars, settings, phony and tasks, read in
 * that order whatever order they are written in, so that every
 * variable is known before a task uses it. */
static void
load_root(struct yamlplan *y, yaml_node_t *root)
{
	struct smap seen = { 0 };
	yaml_node_t *part[NKEYS(top_keys)];
	yaml_node_pair_t *pr;
	const char *name;
	struct loc l;
	size_t i;

	if (root->type != YAML_MAPPING_NODE) {
		diag_error(node_loc(y, root, &l), "a plan must be a mapping "
		    "with vars, settings, phony and tasks, not %s",
		    kind(root));
		return;
	}
	memset(part, 0, sizeof(part));
	for (pr = root->data.mapping.pairs.start;
	    pr < root->data.mapping.pairs.top; pr++) {
		if ((name = pair_key(y, root, pr, &seen)) == NULL)
			continue;
		for (i = 0; i < NKEYS(top_keys); i++)
			if (strcmp(name, top_keys[i]) == 0)
				break;
		if (i < NKEYS(top_keys))
			part[i] = node(y, pr->value);
		else
			unknown_key(y, node(y, pr->key), name, "at the top",
			    suggest(name, top_keys, NKEYS(top_keys)));
	}
	smap_free(&seen);
	if (part[0] != NULL)
		load_assignments(y, part[0], 0);
	if (part[1] != NULL)
		load_assignments(y, part[1], 1);
	if (part[2] != NULL)
		load_phony(y, part[2]);
	if (part[3] != NULL)
		load_tasks(y, part[3]);
}

/* Report what libyaml found wrong with the text, at its place. */
static void
syntax_error(struct yamlplan *y, yaml_parser_t *ps)
{
	struct loc l;

	if (ps->error == YAML_MEMORY_ERROR)
		fatal("out of memory");
	if (!room(y))
		return;
	if (ps->error == YAML_READER_ERROR) {
		offset_loc(y, ps->problem_offset, &l);
		if (ps->problem_value != -1)
			diag_error(&l, "%s (0x%02x)", ps->problem,
			    (unsigned)ps->problem_value);
		else
			diag_error(&l, "%s", ps->problem);
		return;
	}
	diag_error(mark_loc(y, ps->problem_mark, &l), "%s", ps->problem ?
	    ps->problem : "invalid YAML");
	if (ps->context != NULL)
		diag_note(mark_loc(y, ps->context_mark, &l), "%s",
		    ps->context);
}

/* Parse the len bytes at text and load the plan they hold. */
static int
yamlplan_run(struct yamlplan *y, const char *text, size_t len)
{
	yaml_document_t second;
	yaml_parser_t ps;
	yaml_node_t *root;
	struct loc l;
	size_t i;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	y->src = text;
	y->len = len;
	y->ascii = 1;
	for (i = 0; i < len && y->ascii; i++)
		y->ascii = (unsigned char)text[i] < 0x80;
	if (!yaml_parser_initialize(&ps))
		fatal("out of memory");
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	yaml_parser_set_encoding(&ps, YAML_UTF8_ENCODING);
	if (!yaml_parser_load(&ps, &y->doc)) {
		syntax_error(y, &ps);
		goto out;
	}
	if ((root = yaml_document_get_root_node(&y->doc)) != NULL) {
		if (!yaml_parser_load(&ps, &second))
			syntax_error(y, &ps);
		else {
			if (yaml_document_get_root_node(&second) != NULL)
				diag_error(node_loc(y,
				    yaml_document_get_root_node(&second), &l),
				    "a second document; a plan is one");
			yaml_document_delete(&second);
		}
		if (diag_nerrors() == y->nerr0)
			load_root(y, root);
	}
	yaml_document_delete(&y->doc);
out:
	yaml_parser_delete(&ps);
	free(y->lines);
	y->lines = NULL;
	return diag_nerrors() > y->nerr0 ? -1 : 0;
}

int
yamlplan_load_mem(struct plan *p, const char *name, const char *text,
    size_t len)
{
	struct yamlplan y;

	memset(&y, 0, sizeof(y));
	y.p = p;
	y.file = plan_intern(p, name);
	y.nerr0 = diag_nerrors();
	return yamlplan_run(&y, text, len);
}

int
yamlplan_load(struct plan *p, const char *path)
{
	struct loc l = { NULL, 0, 0 };
	struct buf b = { 0 };
	char *err = NULL;
	int rc;

	if (file_read(path, &b, &err) == -1) {
		diag_error(&l, "%s", err);
		free(err);
		buf_free(&b);
		return -1;
	}
	rc = yamlplan_load_mem(p, path, b.data ? b.data : "", b.len);
	buf_free(&b);
	return rc;
}
