#include "parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "lexer.h"
#include "plan.h"
#include "util.h"

/* What the lines before the current one leave open. */
enum after {
	AFTER_NOTHING,		/* an indented line is an error */
	AFTER_RULE,		/* indented lines are ps->rule's prompt */
	AFTER_ERROR		/* indented lines are skipped quietly */
};

/* A line of a prompt, as written; s NULL for a blank line. */
struct pline {
	const char	*s;
	size_t		 len;
	int		 line;
};

/* Names split from a rule header, with their places. */
struct words {
	char		**v;
	struct loc	 *locs;
	size_t		  n;
	size_t		  cap;
};

struct parser {
	struct plan	*p;
	struct lexer	 lx;
	struct lexline	 ln;		/* the line being parsed */
	const char	*file;		/* interned */
	int		 nerr0;		/* diag_nerrors() when we began */
	int		 stopped;	/* too many errors */
	int		 after;		/* enum after */
	struct rule	*rule;		/* borrowed from the plan */
	struct pline	*pl;		/* the open prompt's lines */
	size_t		 npl;
	size_t		 plcap;
	size_t		 firstrule;	/* the first rule of this file */
};

/* What a backslash escapes in a word of a rule header, and in a value. */
#define WORD_ESCAPES	" \t#:=\\"
#define VALUE_ESCAPES	"#"

/* The place of byte off of the current line. */
static struct loc *
at(struct parser *ps, size_t off, struct loc *l)
{
	l->file = ps->file;
	lexer_loc(&ps->lx, &ps->ln, off, l);
	return l;
}

/* Whether c is a blank: a space or a tab. */
static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether the n bytes at s are a variable name: letters, digits, '_',
 * '.' and '-'. */
static int
is_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '.' || s[i] == '-')
			continue;
		return 0;
	}
	return 1;
}

/* The offset of the first byte of s[i..n) that is c1 or c2, outside
 * $(...) and ${...} and not after a backslash; n when there is none. */
static size_t
find_top(const char *s, size_t i, size_t n, char c1, char c2)
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
		} else if (s[i] == c1 || s[i] == c2)
			return i;
	}
	return n;
}

/* The length of the line without a trailing comment and the blanks
 * before it.  "\#" is no comment. */
static size_t
strip_comment(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n)
			i++;
		else if (s[i] == '#')
			break;
	}
	while (i > 0 && blank(s[i - 1]) && !(i > 1 && s[i - 2] == '\\'))
		i--;
	return i;
}

/* The n bytes at s as a new string, a backslash before a byte of esc
 * dropped. */
static char *
unescape(const char *s, size_t n, const char *esc)
{
	char *out;
	size_t i, k;

	out = xmalloc(n + 1);
	for (i = k = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			if (strchr(esc, s[i + 1]) == NULL)
				out[k++] = s[i];
			i++;
		}
		out[k++] = s[i];
	}
	out[k] = '\0';
	return out;
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

/* Split the n bytes at s into words at unescaped blanks, each placed at
 * l. */
static void
split_words(const char *s, size_t n, const struct loc *l, struct words *w)
{
	size_t i, j;

	for (i = 0; i < n; i = j) {
		while (i < n && blank(s[i]))
			i++;
		if (i == n)
			break;
		j = find_top(s, i, n, ' ', '\t');
		words_add(w, unescape(s + i, j - i, WORD_ESCAPES), l);
	}
}

/* Split bytes [i, n) of the current line into words, expanding
 * variables as make does in a rule header: each word as written is
 * expanded, then split again. */
static void
header_words(struct parser *ps, size_t i, size_t n, struct words *w)
{
	const char *s;
	struct loc l;
	char *x;
	size_t j;

	s = ps->ln.s;
	for (; i < n; i = j) {
		while (i < n && blank(s[i]))
			i++;
		if (i == n)
			break;
		j = find_top(s, i, n, ' ', '\t');
		at(ps, i, &l);
		if (memchr(s + i, '$', j - i) == NULL) {
			words_add(w, unescape(s + i, j - i, WORD_ESCAPES), &l);
			continue;
		}
		x = plan_expand(ps->p, s + i, j - i, &l);
		split_words(x, strlen(x), &l, w);
		free(x);
	}
}

/* Check that each target is a valid UTF-8 name.  Returns 0 or -1. */
static int
check_targets(struct words *w)
{
	size_t i;
	int rc;

	rc = 0;
	for (i = 0; i < w->n; i++)
		if (!utf8_valid(w->v[i], strlen(w->v[i]), NULL)) {
			diag_error(&w->locs[i],
			    "target name is not valid UTF-8");
			rc = -1;
		}
	return rc;
}

/* Report an assignment operator of the full language. */
static void
unsupported_op(struct parser *ps, size_t i, size_t oplen)
{
	struct loc l;

	diag_error(at(ps, i, &l), "'%.*s' assignments are not supported yet",
	    (int)oplen, ps->ln.s + i);
	ps->after = AFTER_ERROR;
}

/* NAME = value, with '=' at offset eq of a line n bytes long. */
static void
parse_assignment(struct parser *ps, size_t eq, size_t n)
{
	const char *s;
	char *name, *value;
	struct loc l;
	size_t e, v;

	s = ps->ln.s;
	ps->after = AFTER_NOTHING;
	if (eq > 0 && strchr("?+!", s[eq - 1]) != NULL) {
		unsupported_op(ps, eq - 1, 2);
		return;
	}
	for (e = eq; e > 0 && blank(s[e - 1]); e--)
		continue;
	if (e == 0) {
		diag_error(at(ps, 0, &l), "expected a rule or an assignment");
		ps->after = AFTER_ERROR;
		return;
	}
	if (!is_name(s, e)) {
		diag_error(at(ps, 0, &l), "invalid variable name '%.*s'",
		    (int)e, s);
		ps->after = AFTER_ERROR;
		return;
	}
	for (v = eq + 1; v < n && blank(s[v]); v++)
		continue;
	name = xstrndup(s, e);
	value = unescape(s + v, n - v, VALUE_ESCAPES);
	plan_set_var(ps->p, name, value, VAR_FILE, 0, at(ps, 0, &l));
	free(name);
	free(value);
}

/* targets: name = value, with ':' at colon and '=' at eq. */
static void
parse_tset(struct parser *ps, struct words *targets, size_t colon,
    size_t eq, size_t n)
{
	struct tset *ts;
	const char *s;
	struct loc l;
	char *value;
	size_t b, e, v, i;

	s = ps->ln.s;
	ps->after = AFTER_NOTHING;
	if (strchr("?+!:", s[eq - 1]) != NULL) {
		unsupported_op(ps, eq - 1, 2);
		return;
	}
	for (b = colon + 1; b < eq && blank(s[b]); b++)
		continue;
	for (e = eq; e > b && blank(s[e - 1]); e--)
		continue;
	for (v = eq + 1; v < n && blank(s[v]); v++)
		continue;
	if (b == e) {
		diag_error(at(ps, eq, &l), "expected a setting name before '='");
		ps->after = AFTER_ERROR;
		return;
	}
	at(ps, b, &l);
	value = unescape(s + v, n - v, VALUE_ESCAPES);
	for (i = 0; i < targets->n; i++) {
		ts = xcalloc(1, sizeof(*ts));
		ts->target = targets->v[i];
		targets->v[i] = NULL;
		ts->name = xstrndup(s + b, e - b);
		ts->value = xstrdup(value);
		ts->loc = l;
		if (plan_add_tset(ps->p, ts) == -1) {
			/* Said once is enough for a misspelled name. */
			ps->after = AFTER_ERROR;
			break;
		}
	}
	free(value);
}

/* A rule header, .PHONY or a target-specific setting, with the first
 * top-level ':' at colon of a line n bytes long. */
static void
parse_rule(struct parser *ps, size_t colon, size_t n)
{
	struct words t, pre;
	struct rule *r;
	struct loc l;
	size_t eq, i;

	memset(&t, 0, sizeof(t));
	memset(&pre, 0, sizeof(pre));
	if (colon + 1 < n && (ps->ln.s[colon + 1] == '=' ||
	    ps->ln.s[colon + 1] == ':')) {
		if (ps->ln.s[colon + 1] == '=')
			unsupported_op(ps, colon, 2);
		else {
			diag_error(at(ps, colon, &l),
			    "double-colon rules are not supported yet");
			ps->after = AFTER_ERROR;
		}
		return;
	}
	header_words(ps, 0, colon, &t);
	if (t.n == 0) {
		diag_error(at(ps, colon, &l), "expected a target before ':'");
		ps->after = AFTER_ERROR;
		goto out;
	}
	if (check_targets(&t) == -1) {
		ps->after = AFTER_ERROR;
		goto out;
	}
	eq = find_top(ps->ln.s, colon + 1, n, '=', '=');
	if (eq < n) {
		parse_tset(ps, &t, colon, eq, n);
		goto out;
	}
	header_words(ps, colon + 1, n, &pre);
	if (t.n == 1 && strcmp(t.v[0], ".PHONY") == 0) {
		for (i = 0; i < pre.n; i++)
			plan_add_phony(ps->p, pre.v[i], &pre.locs[i]);
		ps->after = AFTER_NOTHING;
		goto out;
	}

	r = xcalloc(1, sizeof(*r));
	r->targets = t.v;
	r->tlocs = t.locs;
	r->ntargets = t.n;
	r->prereqs = pre.v;
	r->plocs = pre.locs;
	r->nprereqs = pre.n;
	r->loc = t.locs[0];
	plan_add_rule(ps->p, r);
	ps->rule = r;
	ps->after = AFTER_RULE;
	return;
out:
	words_free(&t);
	words_free(&pre);
}

/* A line that is neither blank, a comment nor indented. */
static void
parse_line(struct parser *ps)
{
	struct loc l;
	size_t i, n;

	n = strip_comment(ps->ln.s, ps->ln.len);
	if (n == 0) {
		ps->after = AFTER_NOTHING;
		return;
	}
	i = find_top(ps->ln.s, 0, n, ':', '=');
	if (i == n) {
		diag_error(at(ps, 0, &l), "expected a rule or an assignment");
		ps->after = AFTER_ERROR;
	} else if (ps->ln.s[i] == '=')
		parse_assignment(ps, i, n);
	else
		parse_rule(ps, i, n);
}

/* Keep a line of the open prompt; s NULL for a blank line. */
static void
add_pline(struct parser *ps, const char *s, size_t len, int line)
{
	if (ps->npl == ps->plcap) {
		ps->plcap = ps->plcap ? 2 * ps->plcap : 16;
		ps->pl = xreallocarray(ps->pl, ps->plcap, sizeof(*ps->pl));
	}
	ps->pl[ps->npl].s = s;
	ps->pl[ps->npl].len = len;
	ps->pl[ps->npl++].line = line;
}

/* The number of spaces that start the n bytes at s. */
static size_t
count_spaces(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i] == ' '; i++)
		continue;
	return i;
}

/* Close the open prompt, if any: take its indentation off and give the
 * text, still unexpanded, to its rule. */
static void
end_prompt(struct parser *ps)
{
	struct pline *pl;
	struct buf b;
	struct loc l;
	size_t i, indent, k, total;
	int tab, mixed;

	if (ps->after != AFTER_RULE)
		return;
	ps->after = AFTER_NOTHING;
	while (ps->npl > 0 && ps->pl[ps->npl - 1].s == NULL)
		ps->npl--;
	if (ps->npl == 0)
		return;

	tab = ps->pl[0].s[0] == '\t';
	indent = tab ? 1 : SIZE_MAX;
	mixed = 0;
	total = 0;
	for (i = 0; i < ps->npl; i++) {
		pl = &ps->pl[i];
		total += pl->len + 1;
		if (pl->s == NULL)
			continue;
		if (!utf8_valid(pl->s, pl->len, &k)) {
			l.file = ps->file;
			l.line = pl->line;
			l.col = (int)k + 1;
			diag_error(&l, "prompt is not valid UTF-8");
		}
		if ((pl->s[0] == '\t') != tab && !mixed) {
			l.file = ps->file;
			l.line = pl->line;
			l.col = 1;
			diag_error(&l,
			    "prompt mixes tab and space indentation");
			mixed = 1;
		}
		if (!tab && (k = count_spaces(pl->s, pl->len)) > 0 &&
		    k < indent)
			indent = k;
	}

	memset(&b, 0, sizeof(b));
	buf_grow(&b, total);
	for (i = 0; i < ps->npl; i++) {
		pl = &ps->pl[i];
		if (i > 0)
			buf_addc(&b, '\n');
		if (pl->s == NULL)
			continue;
		k = tab ? (pl->s[0] == '\t') : count_spaces(pl->s, pl->len);
		if (k > indent)
			k = indent;
		buf_add(&b, pl->s + k, pl->len - k);
	}
	ps->rule->prompt = buf_detach(&b);
	ps->rule->prompt_loc.file = ps->file;
	ps->rule->prompt_loc.line = ps->pl[0].line;
	ps->rule->prompt_loc.col = (int)indent + 1;
	ps->npl = 0;
}

/* Expand a rule's prompt line by line, so that each reference is placed
 * on its own line and column. */
static void
expand_prompt(struct parser *ps, struct rule *r)
{
	const char *s, *e, *end;
	struct buf b;
	struct loc l;
	char *x;

	memset(&b, 0, sizeof(b));
	l = r->prompt_loc;
	end = r->prompt + strlen(r->prompt);
	for (s = r->prompt; ; s = e + 1, l.line++) {
		if ((e = memchr(s, '\n', (size_t)(end - s))) == NULL)
			e = end;
		if (memchr(s, '$', (size_t)(e - s)) != NULL) {
			x = plan_expand(ps->p, s, (size_t)(e - s), &l);
			buf_addstr(&b, x);
			free(x);
		} else
			buf_add(&b, s, (size_t)(e - s));
		if (e == end)
			break;
		buf_addc(&b, '\n');
	}
	free(r->prompt);
	r->prompt = buf_detach(&b);
}

/* Whether the error limit is reached; if so, say so once. */
static int
too_many(struct parser *ps)
{
	struct loc l;

	if (ps->stopped)
		return 1;
	if (diag_nerrors() - ps->nerr0 < DIAG_MAX_ERRORS)
		return 0;
	l.file = ps->file;
	l.line = 0;
	l.col = 0;
	diag_error(&l, "too many errors");
	ps->stopped = 1;
	return 1;
}

/* Read every line, then expand the prompts, now that every variable of
 * the file is known (make expands recipes late too). */
static void
parse(struct parser *ps)
{
	struct lexline *ln;
	struct loc l;
	size_t i;

	ln = &ps->ln;
	ps->firstrule = ps->p->nrules;
	if (ps->lx.nul != NULL) {
		l.file = ps->file;
		lexer_loc_of(&ps->lx, ps->lx.nul, &l);
		diag_error(&l, "unexpected NUL byte");
		return;
	}
	while (lexer_next(&ps->lx, ln) && !too_many(ps)) {
		switch (ln->kind) {
		case LEX_BLANK:
			if (ps->after == AFTER_RULE && ps->npl > 0)
				add_pline(ps, NULL, 0, ln->line);
			break;
		case LEX_INDENTED:
			if (ps->after == AFTER_RULE)
				add_pline(ps, ln->s, ln->len, ln->line);
			else if (ln->s[ln->indent] == '#' ||
			    ps->after == AFTER_ERROR)
				break;
			else {
				diag_error(at(ps, ln->indent, &l),
				    "prompt line outside a rule");
				ps->after = AFTER_ERROR;
			}
			break;
		case LEX_COMMENT:
			end_prompt(ps);
			ps->after = AFTER_NOTHING;
			break;
		default:
			end_prompt(ps);
			lexer_join(&ps->lx, ln);
			parse_line(ps);
			break;
		}
	}
	end_prompt(ps);
	for (i = ps->firstrule; i < ps->p->nrules && !too_many(ps); i++)
		if (ps->p->rules[i]->prompt != NULL &&
		    strchr(ps->p->rules[i]->prompt, '$') != NULL)
			expand_prompt(ps, ps->p->rules[i]);
}

/* Parse what ps->lx holds and release it. */
static int
parser_run(struct parser *ps)
{
	parse(ps);
	lexer_close(&ps->lx);
	free(ps->pl);
	return diag_nerrors() > ps->nerr0 ? -1 : 0;
}

int
parser_load(struct plan *p, const char *path)
{
	struct parser ps;
	struct loc l = { NULL, 0, 0 };
	char *err;

	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.file = plan_intern(p, path);
	ps.nerr0 = diag_nerrors();
	err = NULL;
	if (lexer_open(&ps.lx, path, &err) == -1) {
		diag_error(&l, "%s", err);
		free(err);
		return -1;
	}
	return parser_run(&ps);
}

int
parser_load_mem(struct plan *p, const char *name, const char *text,
    size_t len)
{
	struct parser ps;

	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.file = plan_intern(p, name);
	ps.nerr0 = diag_nerrors();
	lexer_init(&ps.lx, text, len);
	return parser_run(&ps);
}
