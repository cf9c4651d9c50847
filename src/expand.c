#include "expand.h"

#include <glob.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "plan.h"
#include "util.h"

/* The deepest nesting of references and variable values. */
#define EXPAND_DEPTH	500

/* A variable whose value is being expanded, or a foreach binding; a
 * list through the C stack. */
struct frame {
	struct var		*v;
	struct frame		*up;
};

/* One expansion under way. */
struct expand {
	struct plan		*p;
	const struct rule	*task;	/* automatic variables, or NULL */
	const char		*top;	/* the text places are counted in */
	size_t			 ntop;
	const struct loc	*l;	/* where top starts, or NULL */
	plan_locate_fn		 locate;	/* or this places offsets */
	void			*arg;
	int			 quiet;	/* no warnings */
	int			 empty;	/* undefined variables are empty:
					   PLAN_UNDEF_EMPTY, or in a
					   function's arguments (warned) */
	int			 depth;	/* nested references */
	int			 failed;	/* an error in this reference */
	const char		*ref;	/* the reference of top under way */
	struct frame		*vars;	/* variables being expanded */
	struct frame		*binds;	/* foreach variables */
};

/* A word of a list, not NUL-terminated. */
struct span {
	const char	*s;
	size_t		 n;
};

/* Whether c may be part of a variable name. */
static int
name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int
plan_is_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!name_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Whether c separates words in a list. */
static int
is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

/* ---- places and messages ---- */

/* Whether at points into the text being placed. */
static int
in_top(const struct expand *e, const char *at)
{
	return e->top != NULL && at >= e->top && at < e->top + e->ntop;
}

/* The place of the byte at at: its own when it is in the top text,
 * else that of the reference of the top text being expanded.  NULL
 * when the text has no place. */
static const struct loc *
place(const struct expand *e, const char *at, struct loc *l)
{
	const char *s, *nl;
	size_t off;

	if (!in_top(e, at))
		at = e->ref;
	if (e->locate != NULL) {
		off = at != NULL && in_top(e, at) ? (size_t)(at - e->top) : 0;
		e->locate(e->arg, off, l);
		return l;
	}
	if (e->l == NULL)
		return NULL;
	*l = *e->l;
	if (at == NULL || !in_top(e, at))
		return l;
	for (s = e->top; (nl = memchr(s, '\n', (size_t)(at - s))) != NULL;
	    s = nl + 1)
		l->line++;
	l->col = s == e->top ? e->l->col + (int)(at - s) : (int)(at - s) + 1;
	return l;
}

/* Format a message into a new string. */
static char *
vformat(const char *fmt, va_list ap)
{
	va_list aq;
	char *s;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	s = xmalloc((size_t)(n < 0 ? 0 : n) + 1);
	vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
	return s;
}

/* Note each variable being expanded, innermost first. */
static void
note_vars(const struct expand *e)
{
	const struct frame *f;

	for (f = e->vars; f != NULL; f = f->up) {
		if (f->v->loc.file == NULL)
			diag_note(NULL, "in the value of '%s', set on the "
			    "command line", f->v->name);
		else
			diag_note(&f->v->loc, "in the value of '%s', "
			    "assigned here", f->v->name);
	}
}

/* Report an error at at, once per reference of the top text. */
static void PM_PRINTF(3, 4)
expand_error(struct expand *e, const char *at, const char *fmt, ...)
{
	struct loc l;
	va_list ap;
	char *msg;

	if (e->failed)
		return;
	e->failed = 1;
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	diag_error(place(e, at, &l), "%s", msg);
	free(msg);
	note_vars(e);
}

/* Report a warning at at, once per place and text. */
static void PM_PRINTF(3, 4)
expand_warning(struct expand *e, const char *at, const char *fmt, ...)
{
	struct loc l;
	va_list ap;
	char *msg;

	if (e->quiet || e->failed)
		return;		/* after an error, its echoes are noise */
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	/* No notes: under -s the warning itself is not shown. */
	plan_warn_once(e->p, place(e, at, &l), "%s", msg);
	free(msg);
}

int
plan_warn_once(struct plan *p, const struct loc *l, const char *fmt, ...)
{
	va_list ap;
	char *msg, *key;
	int said = 0;

	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	if (l != NULL && l->file != NULL)
		xasprintf(&key, "%s:%d:%d:%s", l->file, l->line, l->col, msg);
	else
		xasprintf(&key, "::%s", msg);
	if (smap_get(&p->warned, key) == NULL) {
		smap_put(&p->warned, key, p);
		diag_warning(l, "%s", msg);
		said = 1;
	}
	free(key);
	free(msg);
	return said;
}

/* ---- lists of words ---- */

/* The next word of s[*i..n), in *w; 0 when there is none. */
static int
next_word(const char *s, size_t n, size_t *i, struct span *w)
{
	size_t j;

	for (j = *i; j < n && is_ws((unsigned char)s[j]); j++)
		continue;
	if (j == n) {
		*i = n;
		return 0;
	}
	w->s = s + j;
	while (j < n && !is_ws((unsigned char)s[j]))
		j++;
	w->n = (size_t)(s + j - w->s);
	*i = j;
	return 1;
}

/* Append a word to out, after a space unless it is the first. */
static void
add_word(struct buf *out, size_t start, const char *s, size_t n)
{
	if (out->len > start)
		buf_addc(out, ' ');
	buf_add(out, s, n);
}

/* Whether the n bytes at w match pattern pat of pn bytes, one '%'
 * matching any text; the stem in *st. */
static int
match_span(const char *pat, size_t pn, const char *w, size_t n,
    struct span *st)
{
	const char *pc;
	size_t pre, suf;

	if ((pc = memchr(pat, '%', pn)) == NULL) {
		st->s = w;
		st->n = 0;
		return pn == n && memcmp(pat, w, n) == 0;
	}
	pre = (size_t)(pc - pat);
	suf = pn - pre - 1;
	if (n < pre + suf || memcmp(pat, w, pre) != 0 ||
	    memcmp(pat + pre + 1, w + n - suf, suf) != 0)
		return 0;
	st->s = w + pre;
	st->n = n - pre - suf;
	return 1;
}

/* Append replacement rep with its first '%' replaced by stem. */
static void
add_replaced(struct buf *out, const char *rep, size_t rn,
    const struct span *stem)
{
	const char *pc;

	if ((pc = memchr(rep, '%', rn)) == NULL) {
		buf_add(out, rep, rn);
		return;
	}
	buf_add(out, rep, (size_t)(pc - rep));
	buf_add(out, stem->s, stem->n);
	buf_add(out, pc + 1, rn - (size_t)(pc - rep) - 1);
}

/* patsubst: each word of text matching pat replaced by rep. */
static void
patsubst(struct buf *out, const char *pat, size_t pn, const char *rep,
    size_t rn, const char *text, size_t tn)
{
	struct span w, st;
	size_t i, start;

	start = out->len;
	for (i = 0; next_word(text, tn, &i, &w); ) {
		if (out->len > start)
			buf_addc(out, ' ');
		if (match_span(pat, pn, w.s, w.n, &st))
			add_replaced(out, rep, rn, &st);
		else
			buf_add(out, w.s, w.n);
	}
}

/* ---- brackets ---- */

/* The offset of the bracket closing the one at s[i], '(' or '{',
 * counting nested brackets of its kind; n when it is not closed. */
static size_t
ref_end(const char *s, size_t n, size_t i)
{
	char open, close;
	int depth;

	open = s[i];
	close = open == '(' ? ')' : '}';
	for (depth = 0; i < n; i++) {
		if (s[i] == open)
			depth++;
		else if (s[i] == close && --depth == 0)
			return i;
	}
	return n;
}

/* For each bracket of s, the offset of its partner (n: none), by one
 * pass with a stack per kind.  Used once a bracket is found unclosed,
 * so that a text full of them costs linear time, not quadratic. */
static size_t *
match_table(const char *s, size_t n)
{
	size_t *close, *st[2], top[2] = { 0, 0 }, i;
	int k;

	close = xcalloc(n + 1, sizeof(*close));
	st[0] = xcalloc(n + 1, sizeof(*st[0]));
	st[1] = xcalloc(n + 1, sizeof(*st[1]));
	for (i = 0; i < n; i++) {
		close[i] = n;
		k = s[i] == '(' || s[i] == ')' ? 0 : 1;
		if (s[i] == '(' || s[i] == '{')
			st[k][top[k]++] = i;
		else if ((s[i] == ')' || s[i] == '}') && top[k] > 0)
			close[st[k][--top[k]]] = i;
	}
	free(st[0]);
	free(st[1]);
	return close;
}

/* The offset of the first byte c of s[i..n) outside brackets. */
static size_t
find_top(const char *s, size_t i, size_t n, char c)
{
	int depth;

	for (depth = 0; i < n; i++) {
		if (s[i] == '(' || s[i] == '{')
			depth++;
		else if ((s[i] == ')' || s[i] == '}') && depth > 0)
			depth--;
		else if (s[i] == c && depth == 0)
			return i;
	}
	return n;
}

/* ---- expansion ---- */

static void	expand_text(struct expand *e, struct buf *out, const char *s,
		    size_t n);

/* Expand the n bytes at s into a new string, in *b. */
static void
expand_tmp(struct expand *e, struct buf *b, const char *s, size_t n)
{
	memset(b, 0, sizeof(*b));
	buf_grow(b, n);
	expand_text(e, b, s, n);
}

/* The variable name, or NULL: a binding first, then the plan's. */
static struct var *
lookup(const struct expand *e, const char *name, size_t n)
{
	const struct frame *f;

	for (f = e->binds; f != NULL; f = f->up)
		if (strlen(f->v->name) == n &&
		    memcmp(f->v->name, name, n) == 0)
			return f->v;
	return smap_getn(&e->p->vars, name, n);
}

/* Append the names of the frames from the one of v down to f, the
 * innermost, joined by " -> ". */
static void
add_chain(struct buf *b, const struct frame *f, const struct var *v)
{
	if (f == NULL)
		return;
	if (f->v != v)
		add_chain(b, f->up, v);
	if (b->len > 0)
		buf_addstr(b, " -> ");
	buf_addstr(b, f->v->name);
}

/* Note where each variable of the loop from v down to f is assigned,
 * outermost first. */
static void
note_chain(const struct frame *f, const struct var *v)
{
	if (f == NULL)
		return;
	if (f->v != v)
		note_chain(f->up, v);
	if (f->v->loc.file != NULL)
		diag_note(&f->v->loc, "'%s' is assigned here", f->v->name);
}

/* Report the variable v met again while its value is expanded. */
static void
self_reference(struct expand *e, struct var *v, const char *at)
{
	struct buf chain = { 0 };
	struct loc l;

	if (e->failed)
		return;
	e->failed = 1;
	if (e->vars != NULL && e->vars->v == v)
		diag_error(place(e, at, &l), "variable '%s' refers to itself",
		    v->name);
	else {
		add_chain(&chain, e->vars, v);
		diag_error(place(e, at, &l), "variable '%s' refers to itself "
		    "(%s -> %s)", v->name, chain.data, v->name);
		buf_free(&chain);
	}
	note_chain(e->vars, v);
}

/* Append the value of v.  0 (reported) when v refers to itself. */
static int
var_value(struct expand *e, struct buf *out, struct var *v, const char *at)
{
	struct frame f;

	if (v->simple) {
		buf_addstr(out, v->value);
		return 1;
	}
	if (v->busy) {
		self_reference(e, v, at);
		return 0;
	}
	v->busy = 1;
	f.v = v;
	f.up = e->vars;
	e->vars = &f;
	expand_text(e, out, v->value, strlen(v->value));
	e->vars = f.up;
	v->busy = 0;
	return 1;
}

/* Append the words of list, each through dir (D) or notdir (F). */
static void
add_dirpart(struct buf *out, size_t start, const char *s, size_t n,
    int part)
{
	const char *slash;
	size_t k;

	for (slash = NULL, k = n; k > 0; k--)
		if (s[k - 1] == '/') {
			slash = s + k - 1;
			break;
		}
	if (part == 'F')
		add_word(out, start, slash ? slash + 1 : s,
		    slash ? n - (size_t)(slash + 1 - s) : n);
	else if (slash == NULL)
		add_word(out, start, ".", 1);
	else
		add_word(out, start, s, slash == s ? 1 : (size_t)(slash - s));
}

/* Append the words of an automatic variable's list. */
static void
add_auto_words(struct buf *out, char *const *v, size_t n, int part,
    int unique)
{
	struct smap seen = { 0 };
	size_t i, j, start;

	start = out->len;
	for (i = 0; i < n; i++) {
		if (unique && n <= 16) {
			for (j = 0; j < i; j++)
				if (strcmp(v[i], v[j]) == 0)
					break;
			if (j < i)
				continue;
		} else if (unique) {
			if (smap_get(&seen, v[i]) != NULL)
				continue;
			smap_put(&seen, v[i], (void *)v[i]);
		}
		if (part)
			add_dirpart(out, start, v[i], strlen(v[i]), part);
		else
			add_word(out, start, v[i], strlen(v[i]));
	}
	smap_free(&seen);
}

/* $@, $<, $^, $* and their D and F forms; c is the name's first byte,
 * part 'D', 'F' or 0.  0, with a warning, when there is no task. */
static int
auto_var(struct expand *e, struct buf *out, int c, int part, const char *at)
{
	const struct rule *r = e->task;
	const char *stem;

	if (r == NULL) {
		expand_warning(e, at, "automatic variable '$%c' has no value "
		    "here; left as written", c);
		return 0;
	}
	switch (c) {
	case '@':
		add_auto_words(out, r->targets, r->ntargets, part, 0);
		break;
	case '<':
		add_auto_words(out, r->prereqs, r->nprereqs > 0 ? 1 : 0, part,
		    0);
		break;
	case '^':
		add_auto_words(out, r->prereqs, r->nprereqs, part, 1);
		break;
	default:
		stem = r->stem ? r->stem : "";
		if (part && *stem != '\0')
			add_dirpart(out, out->len, stem, strlen(stem), part);
		else if (!part)
			buf_addstr(out, stem);
		break;
	}
	return 1;
}

/* ---- functions ---- */

#define MAXARGS	3

struct func {
	const char	*name;
	int		 min;		/* arguments needed */
	int		 max;		/* the last takes any further commas */
	int		 lazy;		/* arguments left unexpanded */
	/* One of these: a function of its arguments alone, or one that
	 * needs the expansion (to report, bind or expand lazily). */
	void		(*pure)(struct buf *, const struct span *);
	void		(*fn)(struct expand *, struct buf *, struct span *,
			    int, const char *);
};

/* The first place of the n bytes at needle in the hn bytes at hay, or
 * NULL.  (memmem() is not POSIX.) */
static const char *
find_bytes(const char *hay, size_t hn, const char *needle, size_t n)
{
	const char *p, *end;

	if (n == 0)
		return hay;
	if (hn < n)
		return NULL;
	end = hay + hn - n + 1;
	for (p = hay; p < end && (p = memchr(p, needle[0], (size_t)(end -
	    p))) != NULL; p++)
		if (memcmp(p, needle, n) == 0)
			return p;
	return NULL;
}

/* subst FROM,TO,TEXT */
static void
fn_subst(struct buf *out, const struct span *a)
{
	const char *s, *end, *hit;

	s = a[2].s;
	end = a[2].s + a[2].n;
	if (a[0].n == 0) {
		buf_add(out, s, a[2].n);
		return;
	}
	while ((hit = find_bytes(s, (size_t)(end - s), a[0].s, a[0].n)) != NULL) {
		buf_add(out, s, (size_t)(hit - s));
		buf_add(out, a[1].s, a[1].n);
		s = hit + a[0].n;
	}
	buf_add(out, s, (size_t)(end - s));
}

/* patsubst PATTERN,REPLACEMENT,TEXT */
static void
fn_patsubst(struct buf *out, const struct span *a)
{
	struct span pat, rep;
	size_t i;

	/* make trims the pattern and the replacement. */
	i = 0;
	if (!next_word(a[0].s, a[0].n, &i, &pat))
		pat = a[0];
	i = 0;
	if (!next_word(a[1].s, a[1].n, &i, &rep))
		rep = a[1];
	patsubst(out, pat.s, pat.n, rep.s, rep.n, a[2].s, a[2].n);
}

/* strip TEXT */
static void
fn_strip(struct buf *out, const struct span *a)
{
	struct span w;
	size_t i, start;

	start = out->len;
	for (i = 0; next_word(a[0].s, a[0].n, &i, &w); )
		add_word(out, start, w.s, w.n);
}

/* findstring FIND,IN */
static void
fn_findstring(struct buf *out, const struct span *a)
{
	if (a[0].n == 0 || find_bytes(a[1].s, a[1].n, a[0].s, a[0].n) != NULL)
		buf_add(out, a[0].s, a[0].n);
}

/* Whether word w matches a word of the pattern list pats. */
static int
matches_any(const struct span *pats, const struct span *w)
{
	struct span p, st;
	size_t i;

	for (i = 0; next_word(pats->s, pats->n, &i, &p); )
		if (match_span(p.s, p.n, w->s, w->n, &st))
			return 1;
	return 0;
}

/* filter PATTERNS,TEXT and filter-out PATTERNS,TEXT */
static void
filter(struct buf *out, const struct span *a, int keep)
{
	struct span w;
	size_t i, start;

	start = out->len;
	for (i = 0; next_word(a[1].s, a[1].n, &i, &w); )
		if (matches_any(&a[0], &w) == keep)
			add_word(out, start, w.s, w.n);
}

static void
fn_filter(struct buf *out, const struct span *a)
{
	filter(out, a, 1);
}

static void
fn_filter_out(struct buf *out, const struct span *a)
{
	filter(out, a, 0);
}

/* Compare two words by their bytes, for qsort. */
static int
span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	int c;

	c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
	if (c != 0)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

/* The words of the n bytes at s, in a new array; *count gets their
 * number. */
static struct span *
split_list(const char *s, size_t n, size_t *count)
{
	struct span *v, w;
	size_t i, k, cap;

	v = NULL;
	for (i = 0, k = cap = 0; next_word(s, n, &i, &w); ) {
		if (k == cap) {
			cap = cap ? 2 * cap : 16;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[k++] = w;
	}
	*count = k;
	return v;
}

/* sort LIST: sorted by bytes, duplicates dropped. */
static void
fn_sort(struct buf *out, const struct span *a)
{
	struct span *v;
	size_t k, i, start;

	v = split_list(a[0].s, a[0].n, &k);
	if (k > 0)
		qsort(v, k, sizeof(*v), span_cmp);
	start = out->len;
	for (i = 0; i < k; i++)
		if (i == 0 || span_cmp(&v[i - 1], &v[i]) != 0)
			add_word(out, start, v[i].s, v[i].n);
	free(v);
}

/* The offset of the last '/' of w, or -1. */
static long
last_slash(const struct span *w)
{
	size_t k;

	for (k = w->n; k > 0; k--)
		if (w->s[k - 1] == '/')
			return (long)k - 1;
	return -1;
}

/* The offset of w's suffix (its last '.' after the last '/'), or w->n. */
static size_t
suffix_at(const struct span *w)
{
	long sl;
	size_t k;

	sl = last_slash(w);
	for (k = w->n; k > 0 && (long)k - 1 > sl; k--)
		if (w->s[k - 1] == '.')
			return k - 1;
	return w->n;
}

/* dir, notdir, suffix, basename: one part of each word. */
static void
parts(struct buf *out, const struct span *list, int which)
{
	struct span w;
	size_t i, start, k;
	long sl;

	start = out->len;
	for (i = 0; next_word(list->s, list->n, &i, &w); ) {
		sl = last_slash(&w);
		switch (which) {
		case 'd':
			if (sl < 0)
				add_word(out, start, "./", 2);
			else
				add_word(out, start, w.s, (size_t)sl + 1);
			break;
		case 'n':
			add_word(out, start, w.s + sl + 1,
			    w.n - (size_t)(sl + 1));
			break;
		case 's':
			if ((k = suffix_at(&w)) < w.n)
				add_word(out, start, w.s + k, w.n - k);
			break;
		default:
			add_word(out, start, w.s, suffix_at(&w));
			break;
		}
	}
}

static void
fn_dir(struct buf *out, const struct span *a)
{
	parts(out, &a[0], 'd');
}

static void
fn_notdir(struct buf *out, const struct span *a)
{
	parts(out, &a[0], 'n');
}

static void
fn_suffix(struct buf *out, const struct span *a)
{
	parts(out, &a[0], 's');
}

static void
fn_basename(struct buf *out, const struct span *a)
{
	parts(out, &a[0], 'b');
}

/* addprefix PREFIX,NAMES and addsuffix SUFFIX,NAMES */
static void
affix(struct buf *out, const struct span *a, int prefix)
{
	struct span w;
	size_t i, start;

	start = out->len;
	for (i = 0; next_word(a[1].s, a[1].n, &i, &w); ) {
		if (out->len > start)
			buf_addc(out, ' ');
		if (prefix)
			buf_add(out, a[0].s, a[0].n);
		buf_add(out, w.s, w.n);
		if (!prefix)
			buf_add(out, a[0].s, a[0].n);
	}
}

static void
fn_addprefix(struct buf *out, const struct span *a)
{
	affix(out, a, 1);
}

static void
fn_addsuffix(struct buf *out, const struct span *a)
{
	affix(out, a, 0);
}

/* words TEXT */
static void
fn_words(struct buf *out, const struct span *a)
{
	struct span w;
	size_t i, k;

	for (i = k = 0; next_word(a[0].s, a[0].n, &i, &w); )
		k++;
	buf_printf(out, "%zu", k);
}

/* firstword TEXT and lastword TEXT */
static void
fn_firstword(struct buf *out, const struct span *a)
{
	struct span w;
	size_t i = 0;

	if (next_word(a[0].s, a[0].n, &i, &w))
		buf_add(out, w.s, w.n);
}

static void
fn_lastword(struct buf *out, const struct span *a)
{
	struct span w, last;
	size_t i = 0;

	last.n = 0;
	last.s = NULL;
	while (next_word(a[0].s, a[0].n, &i, &w))
		last = w;
	if (last.s != NULL)
		buf_add(out, last.s, last.n);
}

/* The positive number in a, or 0 after an error naming fn. */
static size_t
word_index(struct expand *e, const struct span *a, const char *fn,
    const char *which, const char *at)
{
	struct span w, more;
	size_t i = 0, k, v;

	if (!next_word(a->s, a->n, &i, &w))
		w.n = 0;
	else if (next_word(a->s, a->n, &i, &more))
		w.n = 0;
	for (k = 0, v = 0; k < w.n && w.s[k] >= '0' && w.s[k] <= '9' &&
	    v < 100000000; k++)
		v = v * 10 + (size_t)(w.s[k] - '0');
	if (w.n == 0 || k < w.n) {
		expand_error(e, at, "the %s argument of '%s' is not a number: "
		    "'%.*s'", which, fn, (int)a->n, a->s);
		return 0;
	}
	if (v == 0)
		expand_error(e, at, "the %s argument of '%s' must be 1 or "
		    "more", which, fn);
	return v;
}

/* word N,TEXT */
static void
fn_word(struct expand *e, struct buf *out, struct span *a, int na,
    const char *at)
{
	struct span w;
	size_t i, k, n;

	(void)na;
	if ((n = word_index(e, &a[0], "word", "first", at)) == 0)
		return;
	for (i = 0, k = 0; next_word(a[1].s, a[1].n, &i, &w); )
		if (++k == n) {
			buf_add(out, w.s, w.n);
			break;
		}
}

/* wordlist S,E,TEXT */
static void
fn_wordlist(struct expand *e, struct buf *out, struct span *a, int na,
    const char *at)
{
	struct span w;
	size_t i, k, s, end, start;

	(void)na;
	if ((s = word_index(e, &a[0], "wordlist", "first", at)) == 0)
		return;
	i = 0;
	if (next_word(a[1].s, a[1].n, &i, &w) && w.n == 1 && w.s[0] == '0')
		return;
	if ((end = word_index(e, &a[1], "wordlist", "second", at)) == 0)
		return;
	start = out->len;
	for (i = 0, k = 0; next_word(a[2].s, a[2].n, &i, &w); )
		if (++k >= s && k <= end)
			add_word(out, start, w.s, w.n);
}

/* join LIST1,LIST2: word by word. */
static void
fn_join(struct buf *out, const struct span *a)
{
	struct span w1, w2;
	size_t i = 0, j = 0, start;
	int h1, h2;

	start = out->len;
	for (;;) {
		h1 = next_word(a[0].s, a[0].n, &i, &w1);
		h2 = next_word(a[1].s, a[1].n, &j, &w2);
		if (!h1 && !h2)
			break;
		if (out->len > start)
			buf_addc(out, ' ');
		if (h1)
			buf_add(out, w1.s, w1.n);
		if (h2)
			buf_add(out, w2.s, w2.n);
	}
}

/* wildcard PATTERN...: the files that match, relative to the plan's
 * directory, sorted per pattern. */
static void
fn_wildcard(struct expand *e, struct buf *out, struct span *a, int na,
    const char *at)
{
	const char *dir;
	struct span w;
	glob_t g;
	size_t i, k, start, skip;
	char *pat, *full;

	(void)na;
	(void)at;
	dir = e->p->dir != NULL ? e->p->dir : ".";
	start = out->len;
	for (i = 0; next_word(a[0].s, a[0].n, &i, &w); ) {
		pat = xstrndup(w.s, w.n);
		full = path_join(dir, pat);
		skip = strcmp(full, pat) == 0 ? 0 : strlen(dir) + 1;
		memset(&g, 0, sizeof(g));
		if (glob(full, 0, NULL, &g) == 0)
			for (k = 0; k < g.gl_pathc; k++)
				add_word(out, start, g.gl_pathv[k] + skip,
				    strlen(g.gl_pathv[k] + skip));
		globfree(&g);
		free(full);
		free(pat);
	}
}

/* Bind name (the n bytes at s) to a value for the frames above. */
static void
bind(struct expand *e, struct frame *f, struct var *v, const char *name,
    size_t n)
{
	memset(v, 0, sizeof(*v));
	v->name = xstrndup(name, n);
	v->simple = 1;
	v->value = xstrdup("");
	f->v = v;
	f->up = e->binds;
	e->binds = f;
}

static void
unbind(struct expand *e, struct frame *f)
{
	e->binds = f->up;
	free(f->v->name);
	free(f->v->value);
}

/* foreach VAR,LIST,TEXT: TEXT expanded once per word of LIST, with VAR
 * bound to the word. */
static void
fn_foreach(struct expand *e, struct buf *out, struct span *a, int na,
    const char *at)
{
	struct buf name, list;
	struct span vn, w;
	struct frame f;
	struct var v;
	size_t i = 0, start, mark;

	(void)na;
	expand_tmp(e, &name, a[0].s, a[0].n);
	if (!next_word(name.data, name.len, &i, &vn) ||
	    !plan_is_name(vn.s, vn.n) ||
	    next_word(name.data, name.len, &i, &w)) {
		expand_error(e, at, "the first argument of 'foreach' is not a "
		    "variable name: '%s'", name.data);
		buf_free(&name);
		return;
	}
	expand_tmp(e, &list, a[1].s, a[1].n);
	bind(e, &f, &v, vn.s, vn.n);
	start = out->len;
	for (i = 0; next_word(list.data, list.len, &i, &w); ) {
		free(v.value);
		v.value = xstrndup(w.s, w.n);
		mark = out->len;
		if (out->len > start)
			buf_addc(out, ' ');
		expand_text(e, out, a[2].s, a[2].n);
		if (out->len == mark + (mark > start))
			out->len = mark;	/* empty: no extra space */
	}
	unbind(e, &f);
	buf_free(&name);
	buf_free(&list);
}

/* if COND,THEN[,ELSE]: COND is true when not blank. */
static void
fn_if(struct expand *e, struct buf *out, struct span *a, int na,
    const char *at)
{
	struct buf c;
	struct span w;
	size_t i = 0;
	int yes;

	(void)at;
	expand_tmp(e, &c, a[0].s, a[0].n);
	yes = next_word(c.data, c.len, &i, &w);
	buf_free(&c);
	if (yes)
		expand_text(e, out, a[1].s, a[1].n);
	else if (na > 2)
		expand_text(e, out, a[2].s, a[2].n);
}

/* error TEXT and warning TEXT: report TEXT at the call. */
static void
fn_error(struct expand *e, struct buf *out, struct span *a, int na,
    const char *at)
{
	(void)out;
	(void)na;
	expand_error(e, at, "%.*s", (int)a[0].n, a[0].s);
}

static void
fn_warning(struct expand *e, struct buf *out, struct span *a, int na,
    const char *at)
{
	(void)out;
	(void)na;
	expand_warning(e, at, "%.*s", (int)a[0].n, a[0].s);
}

static const struct func funcs[] = {
	{ "addprefix", 2, 2, 0, fn_addprefix, NULL },
	{ "addsuffix", 2, 2, 0, fn_addsuffix, NULL },
	{ "basename", 1, 1, 0, fn_basename, NULL },
	{ "dir", 1, 1, 0, fn_dir, NULL },
	{ "error", 1, 1, 0, NULL, fn_error },
	{ "filter", 2, 2, 0, fn_filter, NULL },
	{ "filter-out", 2, 2, 0, fn_filter_out, NULL },
	{ "findstring", 2, 2, 0, fn_findstring, NULL },
	{ "firstword", 1, 1, 0, fn_firstword, NULL },
	{ "foreach", 3, 3, 1, NULL, fn_foreach },
	{ "if", 2, 3, 1, NULL, fn_if },
	{ "join", 2, 2, 0, fn_join, NULL },
	{ "lastword", 1, 1, 0, fn_lastword, NULL },
	{ "notdir", 1, 1, 0, fn_notdir, NULL },
	{ "patsubst", 3, 3, 0, fn_patsubst, NULL },
	{ "sort", 1, 1, 0, fn_sort, NULL },
	{ "strip", 1, 1, 0, fn_strip, NULL },
	{ "subst", 3, 3, 0, fn_subst, NULL },
	{ "suffix", 1, 1, 0, fn_suffix, NULL },
	{ "warning", 1, 1, 0, NULL, fn_warning },
	{ "wildcard", 1, 1, 0, NULL, fn_wildcard },
	{ "word", 2, 2, 0, NULL, fn_word },
	{ "wordlist", 3, 3, 0, NULL, fn_wordlist },
	{ "words", 1, 1, 0, fn_words, NULL },
};
#define NFUNCS	(sizeof(funcs) / sizeof(funcs[0]))

/* make's functions that planmake leaves out, and why. */
static const struct {
	const char	*name;
	const char	*why;
} absent[] = {
	{ "shell", "planmake runs no commands" },
	{ "env", "the environment is not read into the plan" },
	{ "origin", "not offered" },
	{ "flavor", "not offered" },
	{ "value", "not offered" },
	{ "eval", "not offered" },
	{ "call", "not offered" },
	{ "file", "planmake writes no files but targets" },
	{ "guile", "not offered" },
	{ "info", "not offered; use $(warning TEXT)" },
	{ "and", "not offered" },
	{ "or", "not offered" },
	{ "abspath", "paths stay relative to the plan" },
	{ "realpath", "paths stay relative to the plan" },
};

/* The function named by the n bytes at s, or NULL. */
static const struct func *
find_func(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < NFUNCS; i++)
		if (strlen(funcs[i].name) == n &&
		    memcmp(funcs[i].name, s, n) == 0)
			return &funcs[i];
	return NULL;
}

/* Call function f on the arguments in the n bytes at s.  0 (reported)
 * when they do not fit. */
static int
call_func(struct expand *e, struct buf *out, const struct func *f,
    const char *s, size_t n, const char *at)
{
	struct span a[MAXARGS];
	struct buf x[MAXARGS];
	size_t i, c;
	int na, k, failed;

	for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
		continue;
	for (na = 0; ; na++) {
		c = na + 1 < f->max ? find_top(s, i, n, ',') : n;
		a[na].s = s + i;
		a[na].n = c - i;
		if (c == n) {
			na++;
			break;
		}
		i = c + 1;
	}
	if (na < f->min) {
		expand_error(e, at, "function '%s' needs %d argument%s, not %d",
		    f->name, f->min, f->min == 1 ? "" : "s", na);
		return 0;
	}
	failed = e->failed;
	if (!f->lazy)
		for (k = 0; k < na; k++) {
			expand_tmp(e, &x[k], a[k].s, a[k].n);
			a[k].s = x[k].data;
			a[k].n = x[k].len;
		}
	if (f->pure != NULL)
		f->pure(out, a);
	else
		f->fn(e, out, a, na, at);
	if (!f->lazy)
		for (k = 0; k < na; k++)
			buf_free(&x[k]);
	/* After an error the call stays as written. */
	return failed || !e->failed;
}

/* $(NAME:FROM=TO): the words of the value with a suffix FROM, or
 * matching the pattern FROM, replaced. */
static void
subst_ref(struct buf *out, const char *v, size_t vn, const char *from,
    size_t fn, const char *to, size_t tn)
{
	struct buf pf = { 0 }, pt = { 0 };

	if (memchr(from, '%', fn) != NULL) {
		patsubst(out, from, fn, to, tn, v, vn);
		return;
	}
	buf_addc(&pf, '%');
	buf_add(&pf, from, fn);
	buf_addc(&pt, '%');
	buf_add(&pt, to, tn);
	patsubst(out, pf.data, pf.len, pt.data, pt.len, v, vn);
	buf_free(&pf);
	buf_free(&pt);
}

/* Expand a variable reference $(c) with c the n bytes between the
 * brackets: a name, perhaps computed, perhaps with :FROM=TO.  0 when
 * it stays as written. */
static int
var_ref(struct expand *e, struct buf *out, const char *c, size_t n,
    const char *at)
{
	struct buf name = { 0 }, val, from, to;
	const char *nm;
	size_t colon, eq, nn;
	struct var *v;
	int rc;

	colon = find_top(c, 0, n, ':');
	eq = colon < n ? find_top(c, colon + 1, n, '=') : n;
	if (colon < n && eq == n)
		return 0;	/* "$(a:b)" is no reference */
	nm = c;
	nn = colon;
	if (memchr(c, '$', colon) != NULL) {
		expand_tmp(e, &name, c, colon);
		nm = name.data;
		nn = name.len;
	} else if (!plan_is_name(c, colon))
		return 0;	/* shell code such as $(x+1): not ours */
	if ((v = lookup(e, nm, nn)) == NULL) {
		if (e->empty == 1)
			expand_warning(e, at, "undefined variable '%.*s' is "
			    "empty here", (int)nn, nm);
		else if (!e->empty)
			expand_warning(e, at, "undefined variable '%.*s' left "
			    "as written", (int)nn, nm);
		buf_free(&name);
		return e->empty != 0;
	}
	buf_free(&name);
	if (colon == n)
		return var_value(e, out, v, at);
	memset(&val, 0, sizeof(val));
	if ((rc = var_value(e, &val, v, at))) {
		expand_tmp(e, &from, c + colon + 1, eq - colon - 1);
		expand_tmp(e, &to, c + eq + 1, n - eq - 1);
		subst_ref(out, val.data ? val.data : "", val.len, from.data,
		    from.len, to.data, to.len);
		buf_free(&from);
		buf_free(&to);
	}
	buf_free(&val);
	return rc;
}

/* Expand the reference "$(...)" or "${...}" of len bytes at ref.  0
 * when it stays as written. */
static int
expand_ref(struct expand *e, struct buf *out, const char *ref, size_t len)
{
	const struct func *f;
	const char *c;
	size_t n, w, i;
	int empty, rc;

	c = ref + 2;
	n = len - 3;
	if ((n == 1 || (n == 2 && (c[1] == 'D' || c[1] == 'F'))) &&
	    strchr("@<^*", c[0]) != NULL)
		return auto_var(e, out, c[0], n == 2 ? c[1] : 0, ref);
	for (w = 0; w < n && name_char((unsigned char)c[w]); w++)
		continue;
	if (w == 0 || w == n || (c[w] != ' ' && c[w] != '\t'))
		return var_ref(e, out, c, n, ref);
	if ((f = find_func(c, w)) != NULL) {
		/* Text a function computes is not sent as written, so an
		 * undefined variable in it is empty, as in make. */
		empty = e->empty;
		if (!e->empty)
			e->empty = 1;
		rc = call_func(e, out, f, c + w, n - w, ref);
		e->empty = empty;
		return rc;
	}
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		if (strlen(absent[i].name) == w &&
		    memcmp(absent[i].name, c, w) == 0) {
			expand_error(e, ref, "function '%s' is not offered: "
			    "%s", absent[i].name, absent[i].why);
			return 0;
		}
	expand_error(e, ref, "unknown function '%.*s' (write $$%c for a "
	    "literal '$%c')", (int)w, c, ref[1], ref[1]);
	return 0;
}

/* Expand the n bytes at s into out. */
static void
expand_text(struct expand *e, struct buf *out, const char *s, size_t n)
{
	size_t *close = NULL, i, j, end, mark;
	const char *d;

	for (i = 0; i < n; ) {
		if ((d = memchr(s + i, '$', n - i)) == NULL) {
			buf_add(out, s + i, n - i);
			break;
		}
		j = (size_t)(d - s);
		buf_add(out, s + i, j - i);
		i = j + 2;
		if (j + 1 == n) {
			buf_addc(out, '$');
			break;
		}
		switch (s[j + 1]) {
		case '$':
			buf_addc(out, '$');
			continue;
		case '@':
		case '<':
		case '^':
		case '*':
			if (in_top(e, d) && e->vars == NULL) {
				e->ref = d;
				e->failed = 0;
			}
			if (!auto_var(e, out, s[j + 1], 0, d))
				buf_add(out, d, 2);
			continue;
		case '(':
		case '{':
			break;
		default:
			buf_addc(out, '$');
			i = j + 1;
			continue;
		}
		end = close ? close[j + 1] : ref_end(s, n, j + 1);
		if (end == n && close == NULL) {
			close = match_table(s, n);
			end = close[j + 1];
		}
		if (end == n) {
			buf_addc(out, '$');
			i = j + 1;
			continue;
		}
		i = end + 1;
		if (in_top(e, d) && e->vars == NULL) {
			e->ref = d;
			e->failed = 0;
		}
		mark = out->len;
		if (e->depth >= EXPAND_DEPTH) {
			expand_error(e, d, "references nested too deeply");
			buf_add(out, d, i - j);
			continue;
		}
		e->depth++;
		if (!expand_ref(e, out, d, i - j)) {
			out->len = mark;
			buf_add(out, d, i - j);
		}
		e->depth--;
	}
	free(close);
}

char *
plan_expand_at(struct plan *p, const struct rule *r, const char *text,
    size_t n, plan_locate_fn locate, void *arg, int quiet)
{
	struct expand e;
	struct buf out = { 0 };

	memset(&e, 0, sizeof(e));
	e.p = p;
	e.task = r;
	e.top = text;
	e.ntop = n;
	e.locate = locate;
	e.arg = arg;
	if (locate == NULL)
		e.l = arg;
	e.quiet = quiet & PLAN_QUIET;
	e.empty = quiet & PLAN_UNDEF_EMPTY ? 2 : 0;
	buf_grow(&out, n);
	expand_text(&e, &out, text, n);
	return buf_detach(&out);
}

void
plan_expand_append(struct plan *p, const struct rule *r, struct buf *out,
    const char *text, size_t n, const struct loc *l, int quiet)
{
	struct expand e;

	memset(&e, 0, sizeof(e));
	e.p = p;
	e.task = r;
	e.top = text;
	e.ntop = n;
	e.l = l;
	e.quiet = quiet & PLAN_QUIET;
	e.empty = quiet & PLAN_UNDEF_EMPTY ? 2 : 0;
	expand_text(&e, out, text, n);
}

char *
plan_expand(struct plan *p, const char *text, size_t n,
    const struct loc *l)
{
	return plan_expand_at(p, NULL, text, n, NULL, (void *)l, 0);
}

char *
plan_expand_rule(struct plan *p, const struct rule *r, const char *text,
    size_t n, const struct loc *l, int quiet)
{
	return plan_expand_at(p, r, text, n, NULL, (void *)l, quiet);
}

/* Place every problem of a stored value at the place in arg. */
static void
locate_fixed(void *arg, size_t off, struct loc *l)
{
	(void)off;
	*l = *(const struct loc *)arg;
}

char *
expand_stored(struct plan *p, const struct rule *r, const char *value,
    const struct loc *l)
{
	static const struct loc none = { NULL, 0, 0 };

	return plan_expand_at(p, r, value, strlen(value), locate_fixed,
	    (void *)(l != NULL && l->file != NULL ? l : &none), 0);
}

int
expand_match(const char *pat, size_t pn, const char *w, size_t n,
    const char **stem, size_t *stemlen)
{
	struct span st;
	int m;

	m = match_span(pat, pn, w, n, &st);
	*stem = st.s;
	*stemlen = st.n;
	return m;
}

void
expand_replace(struct buf *out, const char *rep, size_t rn,
    const char *stem, size_t stemlen)
{
	struct span st;

	st.s = stem;
	st.n = stemlen;
	add_replaced(out, rep, rn, &st);
}
