#include "parser.h"

#include <sys/stat.h>

#include <errno.h>
#include <glob.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "lexer.h"
#include "plan.h"
#include "util.h"

/* The deepest chain of files including one another. */
#define INCLUDE_DEPTH	64

/* What the lines before the current one leave open. */
enum after {
	AFTER_NOTHING,		/* an indented line is an error */
	AFTER_RULE,		/* indented lines are the open rules' prompt */
	AFTER_ERROR		/* indented lines are skipped quietly */
};

/* The directives: words in column 1 followed by a blank. */
enum directive {
	DIR_NONE,
	DIR_IFDEF,
	DIR_IFNDEF,
	DIR_IFEQ,
	DIR_IFNEQ,
	DIR_ELSE,
	DIR_ENDIF,
	DIR_DEFINE,
	DIR_ENDEF,
	DIR_INCLUDE,
	DIR_OPTINCLUDE,		/* -include, sinclude */
	DIR_ABSENT		/* make's, not offered */
};

static const struct {
	const char	*word;
	int		 dir;
} directives[] = {
	{ "ifdef", DIR_IFDEF }, { "ifndef", DIR_IFNDEF },
	{ "ifeq", DIR_IFEQ }, { "ifneq", DIR_IFNEQ },
	{ "else", DIR_ELSE }, { "endif", DIR_ENDIF },
	{ "define", DIR_DEFINE }, { "endef", DIR_ENDEF },
	{ "include", DIR_INCLUDE }, { "-include", DIR_OPTINCLUDE },
	{ "sinclude", DIR_OPTINCLUDE },
	{ "override", DIR_ABSENT }, { "export", DIR_ABSENT },
	{ "unexport", DIR_ABSENT }, { "vpath", DIR_ABSENT },
	{ "undefine", DIR_ABSENT }, { "private", DIR_ABSENT },
	{ "load", DIR_ABSENT },
};
#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))

/* make's special targets, which mean nothing to planmake. */
static const char *const special[] = {
	".DEFAULT", ".DELETE_ON_ERROR", ".EXPORT_ALL_VARIABLES", ".IGNORE",
	".INTERMEDIATE", ".LOW_RESOLUTION_TIME", ".NOTINTERMEDIATE",
	".NOTPARALLEL", ".ONESHELL", ".POSIX", ".PRECIOUS", ".SECONDARY",
	".SECONDEXPANSION", ".SILENT", ".SUFFIXES", ".WAIT",
};

/* A line of a prompt, as written; s NULL for a blank line. */
struct pline {
	const char	*s;
	size_t		 len;
	int		 line;
};

/* An open conditional. */
struct cond {
	const char	*word;		/* "ifdef", ...: static */
	struct loc	 loc;
	int		 outer;		/* the lines around it are read */
	int		 active;	/* the lines of this branch are read */
	int		 taken;		/* some branch was read */
	int		 seen_else;
};

/* A file being read, for include loops. */
struct incl {
	const char	*file;		/* interned */
	struct loc	 at;		/* its include line being read */
	dev_t		 dev;
	ino_t		 ino;
	int		 known;		/* dev and ino are set */
};

struct parser {
	struct plan	*p;
	struct lexer	*lx;		/* the file being read */
	struct lexline	 ln;		/* the line being parsed */
	const char	*file;		/* interned */
	int		 nerr0;		/* diag_nerrors() when we began */
	int		 stopped;	/* too many errors */
	int		 after;		/* enum after */
	struct rule	**open;		/* borrowed: the rules taking the
					   prompt being read */
	size_t		  nopen;
	size_t		  opencap;
	struct pline	*pl;		/* the open prompt's lines */
	size_t		 npl;
	size_t		 plcap;
	struct cond	*conds;
	size_t		 nconds;
	size_t		 condscap;
	size_t		 cbase;		/* conditionals of outer files */
	struct incl	*incs;
	size_t		 nincs;
	size_t		 incscap;
	size_t		 firstrule;	/* the first rule of this load */
	size_t		 firstpat;	/* the first pattern of this load */
	struct buf	 wbuf;		/* the bytes of the words below */
	struct buf	 pbuf;		/* a prompt being put together */
	struct pword	*w;		/* words of the line; s points into
					   the line, or is an offset into
					   wbuf until words_fix() */
	unsigned char	*wcopied;	/* per word: s is an offset */
	size_t		 nw;
	size_t		 wcap;
	/* A define ... endef being read. */
	int		 indef;
	int		 defskip;	/* in a branch not read */
	int		 defnest;
	int		 defop;
	char		*defname;
	struct loc	 defloc;
	struct buf	 defbody;
	int		 deflines;
};

/* Where a byte of an expanded piece of the current line was written:
 * raw is the piece as written, from offset base of the line; escaped
 * when the text expanded had "\#" made "#". */
struct lineloc {
	struct parser	*ps;
	size_t		 base;
	const char	*raw;
	size_t		 rawn;
	int		 escaped;
};

/* What a backslash escapes in a word of a rule header, and in a value. */
#define WORD_ESCAPES	" \t#:=\\;|"
#define VALUE_ESCAPES	"#"

static void	parse_file(struct parser *ps, struct lexer *lx,
		    const char *file);

/* The place of byte off of the current line. */
static struct loc *
at(struct parser *ps, size_t off, struct loc *l)
{
	l->file = ps->file;
	if (!ps->ln.joined) {
		l->line = ps->ln.line;
		l->col = (int)off + 1;
	} else
		lexer_loc(ps->lx, &ps->ln, off, l);
	return l;
}

/* A plan_locate_fn for pieces of the current line. */
static void
line_locate(void *arg, size_t off, struct loc *l)
{
	struct lineloc *ll = arg;
	size_t i, k;

	if (ll->escaped) {
		for (i = k = 0; k < off && i < ll->rawn; i++, k++)
			if (ll->raw[i] == '\\' && i + 1 < ll->rawn &&
			    ll->raw[i + 1] == '#')
				i++;
		off = i;
	}
	at(ll->ps, ll->base + off, l);
}

/* Expand bytes [i, i + n) of the current line as written. */
static char *
expand_piece(struct parser *ps, size_t i, size_t n, int flags)
{
	struct lineloc ll;

	ll.ps = ps;
	ll.base = i;
	ll.raw = ps->ln.s + i;
	ll.rawn = n;
	ll.escaped = 0;
	return plan_expand_at(ps->p, NULL, ps->ln.s + i, n, line_locate, &ll,
	    flags);
}

/* Whether c is a blank: a space or a tab. */
static int
blank(char c)
{
	return c == ' ' || c == '\t';
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

/* The offset of the first c1 or c2 in s[i..n), as find_top(), but by
 * memchr when the text holds no '$' and no backslash. */
static size_t
find_fast(const char *s, size_t i, size_t n, int plain, char c1, char c2)
{
	const char *a, *b;

	if (!plain)
		return find_top(s, i, n, c1, c2);
	a = memchr(s + i, c1, n - i);
	b = c2 == c1 ? NULL : memchr(s + i, c2, n - i);
	if (a == NULL || (b != NULL && b < a))
		a = b;
	return a ? (size_t)(a - s) : n;
}

/* Whether s[i..n) holds no '$' and no backslash. */
static int
plain_text(const char *s, size_t i, size_t n)
{
	return memchr(s + i, '$', n - i) == NULL &&
	    memchr(s + i, '\\', n - i) == NULL;
}

/* The length of the line without a trailing comment and the blanks
 * before it.  "\#" is no comment. */
static size_t
strip_comment(const char *s, size_t n)
{
	size_t i;

	if (memchr(s, '#', n) == NULL)
		i = n;
	else
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

/* Append the n bytes at s to b, a backslash before a byte of esc
 * dropped. */
static void
unescape_into(struct buf *b, const char *s, size_t n, const char *esc)
{
	size_t i, k;

	buf_grow(b, n);
	for (i = 0, k = b->len; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			if (strchr(esc, s[i + 1]) == NULL)
				b->data[k++] = s[i];
			i++;
		}
		b->data[k++] = s[i];
	}
	b->len = k;
	b->data[k] = '\0';
}

/* The n bytes at s as a new string, a backslash before a byte of esc
 * dropped. */
static char *
unescape(const char *s, size_t n, const char *esc)
{
	struct buf b = { 0 };

	unescape_into(&b, s, n, esc);
	return buf_detach(&b);
}

/* Where the bytes of a word come from. */
enum word_src {
	WORD_EXPANDED,		/* an expansion, freed soon: copied */
	WORD_LINE,		/* the line being parsed */
	WORD_PLAIN		/* the line, known to hold no backslash */
};

/* Add a word of n bytes at s (enum word_src src), placed at l,
 * unescaped.  A word of the line without a backslash is used where it
 * is, not copied: the line outlives the words. */
static void
word_add(struct parser *ps, const char *s, size_t n, int src,
    const struct loc *l)
{
	struct pword *w;

	if (ps->nw == ps->wcap) {
		ps->wcap = ps->wcap ? 2 * ps->wcap : 16;
		ps->w = xreallocarray(ps->w, ps->wcap, sizeof(*ps->w));
		ps->wcopied = xreallocarray(ps->wcopied, ps->wcap, 1);
	}
	ps->wcopied[ps->nw] = src == WORD_EXPANDED || (src == WORD_LINE &&
	    memchr(s, '\\', n) != NULL);
	w = &ps->w[ps->nw++];
	w->loc = *l;
	if (!ps->wcopied[ps->nw - 1]) {
		w->s = s;
		w->len = n;
		return;
	}
	w->s = (const char *)(uintptr_t)ps->wbuf.len;
	unescape_into(&ps->wbuf, s, n, WORD_ESCAPES);
	w->len = ps->wbuf.len - (size_t)(uintptr_t)w->s;
}

/* Make the copied words' offsets pointers, now that wbuf will not
 * move. */
static void
words_fix(struct parser *ps, size_t from)
{
	size_t i;

	if (ps->wbuf.data == NULL)
		buf_grow(&ps->wbuf, 0);
	for (i = from; i < ps->nw; i++)
		if (ps->wcopied[i])
			ps->w[i].s = ps->wbuf.data +
			    (size_t)(uintptr_t)ps->w[i].s;
}

/* Start collecting the words of a line. */
static void
words_reset(struct parser *ps)
{
	ps->nw = 0;
	ps->wbuf.len = 0;
}

/* Split the n expanded bytes at s into words at unescaped blanks, each
 * placed at l. */
static void
split_words(struct parser *ps, const char *s, size_t n, const struct loc *l)
{
	size_t i, j;

	for (i = 0; i < n; i = j) {
		while (i < n && (blank(s[i]) || s[i] == '\n'))
			i++;
		if (i == n)
			break;
		for (j = i; j < n && !blank(s[j]) && s[j] != '\n'; j++)
			if (s[j] == '\\' && j + 1 < n)
				j++;
		word_add(ps, s + i, j - i, WORD_EXPANDED, l);
	}
}

/* Split bytes [i, n) of the current line into words, expanding
 * variables as make does in a rule header: each word as written is
 * expanded, then split again.  plain is 1 when the bytes are known to
 * hold no '$' and no backslash, -1 when that is not known.  Returns
 * the number of words added. */
static size_t
header_words(struct parser *ps, size_t i, size_t n, int plain)
{
	const char *s;
	struct loc l;
	size_t j, nw0;
	char *x;

	s = ps->ln.s;
	nw0 = ps->nw;
	if (plain == -1)
		plain = plain_text(s, i, n);
	for (; i < n; i = j) {
		while (i < n && blank(s[i]))
			i++;
		if (i == n)
			break;
		if (plain)
			for (j = i; j < n && !blank(s[j]); j++)
				continue;
		else
			j = find_top(s, i, n, ' ', '\t');
		at(ps, i, &l);
		if (plain || memchr(s + i, '$', j - i) == NULL) {
			word_add(ps, s + i, j - i, plain ? WORD_PLAIN :
			    WORD_LINE, &l);
			continue;
		}
		x = expand_piece(ps, i, j - i, 0);
		split_words(ps, x, strlen(x), &l);
		free(x);
	}
	return ps->nw - nw0;
}

/* Check that each target is a valid UTF-8 name.  Returns 0 or -1. */
static int
check_targets(struct parser *ps, size_t nt)
{
	size_t i;
	int rc;

	rc = 0;
	for (i = 0; i < nt; i++)
		if (!utf8_valid(ps->w[i].s, ps->w[i].len, NULL)) {
			diag_error(&ps->w[i].loc,
			    "target name is not valid UTF-8");
			rc = -1;
		}
	return rc;
}

/* Report an error at byte off of the line and skip what follows it. */
static void
line_error(struct parser *ps, size_t off, const char *msg)
{
	struct loc l;

	diag_error(at(ps, off, &l), "%s", msg);
	ps->after = AFTER_ERROR;
}

/* The operator whose '=' is at eq: its kind, and in *start the offset
 * where it begins.  -1 after an error ("!=", which runs the shell). */
static int
assign_op(struct parser *ps, size_t eq, size_t min, size_t *start)
{
	const char *s = ps->ln.s;

	*start = eq;
	if (eq > min && s[eq - 1] == '+') {
		*start = eq - 1;
		return ASSIGN_APPEND;
	}
	if (eq > min && s[eq - 1] == '?') {
		*start = eq - 1;
		return ASSIGN_COND;
	}
	if (eq > min && s[eq - 1] == '!') {
		line_error(ps, eq - 1, "'!=' assignments run the shell; "
		    "planmake runs no commands");
		return -1;
	}
	if (eq > min && s[eq - 1] == ':') {
		*start = eq > min + 1 && s[eq - 2] == ':' ? eq - 2 : eq - 1;
		return ASSIGN_SIMPLE;
	}
	return ASSIGN_RECURSIVE;
}

/* NAME op value, with the operator's '=' at offset eq of a line n bytes
 * long. */
static void
parse_assignment(struct parser *ps, size_t eq, size_t n)
{
	struct lineloc ll;
	const char *s;
	char *name, *value;
	struct loc l;
	size_t e, v, opstart;
	int op;

	s = ps->ln.s;
	ps->after = AFTER_NOTHING;
	if ((op = assign_op(ps, eq, 0, &opstart)) == -1)
		return;
	for (e = opstart; e > 0 && blank(s[e - 1]); e--)
		continue;
	if (e == 0) {
		line_error(ps, 0, "expected a rule or an assignment");
		return;
	}
	if (!plan_is_name(s, e)) {
		diag_error(at(ps, 0, &l), "invalid variable name '%.*s'",
		    (int)e, s);
		ps->after = AFTER_ERROR;
		return;
	}
	for (v = eq + 1; v < n && blank(s[v]); v++)
		continue;
	name = xstrndup(s, e);
	value = unescape(s + v, n - v, VALUE_ESCAPES);
	ll.ps = ps;
	ll.base = v;
	ll.raw = s + v;
	ll.rawn = n - v;
	ll.escaped = 1;
	plan_assign(ps->p, name, op, value, strlen(value), at(ps, 0, &l),
	    line_locate, &ll);
	free(name);
	free(value);
}

/* targets: name op value, with ':' at colon and the operator's '=' at
 * eq; the targets are the first nt words. */
static void
parse_tset(struct parser *ps, size_t nt, size_t colon, size_t eq, size_t n)
{
	struct lineloc ll;
	struct tset *ts;
	const char *s;
	struct loc l;
	char *value, *x;
	size_t b, e, v, i, opstart;
	int op;

	s = ps->ln.s;
	ps->after = AFTER_NOTHING;
	if ((op = assign_op(ps, eq, colon + 1, &opstart)) == -1)
		return;
	for (b = colon + 1; b < opstart && blank(s[b]); b++)
		continue;
	for (e = opstart; e > b && blank(s[e - 1]); e--)
		continue;
	for (v = eq + 1; v < n && blank(s[v]); v++)
		continue;
	if (b == e) {
		line_error(ps, eq, "expected a setting name before '='");
		return;
	}
	at(ps, b, &l);
	value = unescape(s + v, n - v, VALUE_ESCAPES);
	if (op == ASSIGN_SIMPLE) {
		ll.ps = ps;
		ll.base = v;
		ll.raw = s + v;
		ll.rawn = n - v;
		ll.escaped = 1;
		x = plan_expand_at(ps->p, NULL, value, strlen(value),
		    line_locate, &ll, 0);
		free(value);
		value = x;
	}
	for (i = 0; i < nt; i++) {
		ts = xcalloc(1, sizeof(*ts));
		ts->target = xstrndup(ps->w[i].s, ps->w[i].len);
		ts->name = xstrndup(s + b, e - b);
		ts->value = xstrdup(value);
		ts->loc = l;
		ts->op = op;
		if (plan_add_tset(ps->p, ts) == -1) {
			/* Said once is enough for a misspelled name. */
			ps->after = AFTER_ERROR;
			break;
		}
	}
	free(value);
}

/* Open r for the prompt lines that follow. */
static void
open_rule(struct parser *ps, struct rule *r)
{
	if (ps->nopen == ps->opencap) {
		ps->opencap = ps->opencap ? 2 * ps->opencap : 4;
		ps->open = xreallocarray(ps->open, ps->opencap,
		    sizeof(*ps->open));
	}
	ps->open[ps->nopen++] = r;
	ps->after = AFTER_RULE;
}

/* Whether the first nt words name a special target of make's. */
static int
check_special(struct parser *ps, size_t nt)
{
	size_t i, k;

	for (i = 0; i < nt; i++) {
		if (ps->w[i].len == 0 || ps->w[i].s[0] != '.')
			continue;	/* each special target starts so */
		for (k = 0; k < sizeof(special) / sizeof(special[0]); k++)
			if (ps->w[i].len == strlen(special[k]) &&
			    memcmp(ps->w[i].s, special[k], ps->w[i].len) == 0) {
				diag_error(&ps->w[i].loc, "special target '%s' "
				    "has no meaning in a plan", special[k]);
				ps->after = AFTER_ERROR;
				return -1;
			}
	}
	return 0;
}

/* A static pattern rule "targets: tpat: ppat...": one rule per target,
 * the first nt words, with the stem tpat matched.  Words nt (tpat) and
 * the np after it are the patterns. */
static void
static_pattern(struct parser *ps, size_t nt, size_t np)
{
	struct pword *tp, *pp, *pr;
	struct buf b = { 0 };
	const char *stem;
	struct rule *r;
	size_t i, k, stemlen, *off;
	char *pat, *name;

	tp = &ps->w[nt];
	pp = &ps->w[nt + 1];
	pat = xstrndup(tp->s, tp->len);
	if (strchr(pat, '%') == NULL) {
		diag_error(&tp->loc, "the target pattern '%s' of a static "
		    "pattern rule has no '%%'", pat);
		ps->after = AFTER_ERROR;
		free(pat);
		return;
	}
	pr = xcalloc(np + 1, sizeof(*pr));
	off = xcalloc(np + 1, sizeof(*off));
	ps->after = AFTER_ERROR;
	for (i = 0; i < nt; i++) {
		name = xstrndup(ps->w[i].s, ps->w[i].len);
		if (!plan_match(pat, name, &stem, &stemlen)) {
			diag_error(&ps->w[i].loc, "target '%s' does not match "
			    "the pattern '%s'", name, pat);
			free(name);
			continue;
		}
		b.len = 0;
		for (k = 0; k < np; k++) {
			const char *pc = memchr(pp[k].s, '%', pp[k].len);

			off[k] = b.len;
			if (pc == NULL)
				buf_add(&b, pp[k].s, pp[k].len);
			else {
				buf_add(&b, pp[k].s, (size_t)(pc - pp[k].s));
				buf_add(&b, stem, stemlen);
				buf_add(&b, pc + 1, pp[k].len -
				    (size_t)(pc - pp[k].s) - 1);
			}
			pr[k].len = b.len - off[k];
			pr[k].loc = pp[k].loc;
		}
		buf_grow(&b, 0);
		for (k = 0; k < np; k++)
			pr[k].s = b.data + off[k];
		r = rule_new(ps->p, &ps->w[i].loc, &ps->w[i], 1, pr, np);
		r->stem = xstrndup(stem, stemlen);
		free(name);
		if (plan_add_rule(ps->p, r) == 0)
			open_rule(ps, r);
	}
	buf_free(&b);
	free(pr);
	free(off);
	free(pat);
}

/* A rule header, .PHONY or a target-specific setting, with the first
 * top-level ':' at colon of a line n bytes long. */
static void
parse_rule(struct parser *ps, size_t colon, size_t n)
{
	const char *s = ps->ln.s;
	struct rule *r;
	size_t eq, c2, nt, np, i;
	int plain;

	if (colon + 1 < n && s[colon + 1] == ':') {
		line_error(ps, colon, "double-colon rules are not supported");
		return;
	}
	words_reset(ps);
	nt = header_words(ps, 0, colon, -1);
	if (nt == 0) {
		line_error(ps, colon, "expected a target before ':'");
		return;
	}
	plain = plain_text(s, colon + 1, n);
	eq = find_fast(s, colon + 1, n, plain, '=', '=');
	if (eq < n) {
		words_fix(ps, 0);
		if (check_targets(ps, nt) == -1)
			ps->after = AFTER_ERROR;
		else
			parse_tset(ps, nt, colon, eq, n);
		return;
	}
	if ((i = find_fast(s, colon + 1, n, plain, ';', '|')) < n) {
		line_error(ps, i, s[i] == ';' ? "';' (a recipe on the rule "
		    "line) is not supported: write the prompt on the lines "
		    "below, indented" : "'|' (order-only prerequisites) is "
		    "not supported");
		return;
	}
	c2 = find_fast(s, colon + 1, n, plain, ':', ':');
	np = header_words(ps, colon + 1, c2, plain ? 1 : -1);
	if (c2 < n && np != 1) {
		line_error(ps, np == 0 ? c2 : colon + 1, "a static pattern "
		    "rule takes one target pattern");
		return;
	}
	if (c2 < n)
		np = header_words(ps, c2 + 1, n, plain ? 1 : -1);
	words_fix(ps, 0);
	if (check_targets(ps, nt) == -1) {
		ps->after = AFTER_ERROR;
		return;
	}
	if (c2 < n) {
		static_pattern(ps, nt, np);
		return;
	}
	if (nt == 1 && ps->w[0].len == 6 && memcmp(ps->w[0].s, ".PHONY", 6) ==
	    0) {
		for (i = 0; i < np; i++) {
			char *name = xstrndup(ps->w[1 + i].s, ps->w[1 + i].len);

			plan_add_phony(ps->p, name, &ps->w[1 + i].loc);
			free(name);
		}
		ps->after = AFTER_NOTHING;
		return;
	}
	if (check_special(ps, nt) == -1)
		return;
	r = rule_new(ps->p, &ps->w[0].loc, ps->w, nt, ps->w + nt, np);
	if (plan_add_rule(ps->p, r) == -1) {
		ps->after = AFTER_ERROR;
		return;
	}
	ps->after = AFTER_NOTHING;
	open_rule(ps, r);
}

/* ---- conditionals ---- */

/* The directive that the n bytes at s start with, and in *arg the
 * offset of its arguments; DIR_NONE for a rule or an assignment. */
static int
directive(const char *s, size_t n, size_t *arg)
{
	size_t w, i, k;

	for (w = 0; w < n && ((s[w] >= 'a' && s[w] <= 'z') || s[w] == '-');
	    w++)
		continue;
	if (w == 0 || (w < n && !blank(s[w]) && s[w] != '(' &&
	    s[w] != '"' && s[w] != '\''))
		return DIR_NONE;
	for (k = 0; k < NDIRECTIVES; k++)
		if (strlen(directives[k].word) == w &&
		    memcmp(directives[k].word, s, w) == 0)
			break;
	if (k == NDIRECTIVES)
		return DIR_NONE;
	if (w < n && !blank(s[w]) && directives[k].dir != DIR_IFEQ &&
	    directives[k].dir != DIR_IFNEQ)
		return DIR_NONE;
	for (i = w; i < n && blank(s[i]); i++)
		continue;
	/* "include = x" and "else: y" are an assignment and a rule. */
	if (i < n && (s[i] == '=' || s[i] == ':' || (i + 1 < n &&
	    s[i + 1] == '=' && strchr("+?!", s[i]) != NULL)))
		return DIR_NONE;
	*arg = i;
	return directives[k].dir;
}

/* Whether the lines are being skipped: a branch not taken. */
static int
skipping(const struct parser *ps)
{
	return ps->nconds > 0 && !ps->conds[ps->nconds - 1].active;
}

/* Strip blanks from both ends of s[*i..*n). */
static void
trim(const char *s, size_t *i, size_t *n)
{
	while (*i < *n && blank(s[*i]))
		(*i)++;
	while (*n > *i && blank(s[*n - 1]))
		(*n)--;
}

/* Evaluate ifdef NAME: whether NAME has a non-empty value. */
static int
eval_ifdef(struct parser *ps, const char *word, size_t i, size_t n)
{
	const char *s = ps->ln.s;
	struct var *v;
	struct loc l;
	char *x;
	size_t a, b;
	int rc;

	trim(s, &i, &n);
	x = expand_piece(ps, i, n - i, 0);
	a = 0;
	b = strlen(x);
	trim(x, &a, &b);
	x[b] = '\0';
	if (a == b || !plan_is_name(x + a, b - a)) {
		diag_error(at(ps, i, &l), "'%s' takes one variable name%s%s%s",
		    word, a == b ? "" : ", not '", x + a, a == b ? "" : "'");
		free(x);
		return -1;
	}
	v = smap_get(&ps->p->vars, x + a);
	rc = v != NULL && v->value[0] != '\0';
	free(x);
	return rc;
}

/* Expand bytes [i, n) of the line with blanks at the ends trimmed. */
static char *
expand_trimmed(struct parser *ps, size_t i, size_t n)
{
	const char *s = ps->ln.s;
	char *x;
	size_t a, b;

	trim(s, &i, &n);
	x = expand_piece(ps, i, n - i, PLAN_UNDEF_EMPTY);
	a = 0;
	b = strlen(x);
	trim(x, &a, &b);
	x[b] = '\0';
	if (a > 0)
		memmove(x, x + a, b - a + 1);
	return x;
}

/* Evaluate ifeq (A,B), ifeq "A" "B" or ifeq 'A' 'B': whether A and B
 * expand to the same text (blanks at their ends ignored). */
static int
eval_ifeq(struct parser *ps, const char *word, size_t i, size_t n)
{
	const char *s = ps->ln.s, *q;
	size_t a0, a1, b0, b1, j;
	struct loc l;
	char *x, *y;
	int depth, rc;

	a0 = a1 = b0 = b1 = n;
	if (i < n && s[i] == '(') {
		for (j = i + 1, depth = 0; j < n; j++) {
			if (s[j] == '(' || s[j] == '{')
				depth++;
			else if ((s[j] == ')' || s[j] == '}') && depth > 0)
				depth--;
			else if (s[j] == ',' && depth == 0 && a1 == n) {
				a0 = i + 1;
				a1 = j;
				b0 = j + 1;
			} else if (s[j] == ')' && depth == 0)
				break;
		}
		if (a1 == n || j == n)
			goto bad;
		b1 = j++;
	} else if (i < n && (s[i] == '"' || s[i] == '\'')) {
		if ((q = memchr(s + i + 1, s[i], n - i - 1)) == NULL)
			goto bad;
		a0 = i + 1;
		a1 = (size_t)(q - s);
		for (j = a1 + 1; j < n && blank(s[j]); j++)
			continue;
		if (j == n || (s[j] != '"' && s[j] != '\'') ||
		    (q = memchr(s + j + 1, s[j], n - j - 1)) == NULL)
			goto bad;
		b0 = j + 1;
		b1 = (size_t)(q - s);
		j = b1 + 1;
	} else
		goto bad;
	while (j < n && blank(s[j]))
		j++;
	if (j < n) {
		diag_error(at(ps, j, &l), "unexpected text after the "
		    "arguments of '%s'", word);
		return -1;
	}
	x = expand_trimmed(ps, a0, a1);
	y = expand_trimmed(ps, b0, b1);
	rc = strcmp(x, y) == 0;
	free(x);
	free(y);
	return rc;
bad:
	diag_error(at(ps, i, &l), "'%s' takes (A,B), \"A\" \"B\" or 'A' 'B'",
	    word);
	return -1;
}

/* The truth of conditional directive dir with arguments at i, or -1
 * after an error. */
static int
eval_cond(struct parser *ps, int dir, size_t i, size_t n)
{
	int rc;

	switch (dir) {
	case DIR_IFDEF:
		return eval_ifdef(ps, "ifdef", i, n);
	case DIR_IFNDEF:
		rc = eval_ifdef(ps, "ifndef", i, n);
		return rc == -1 ? -1 : !rc;
	case DIR_IFEQ:
		return eval_ifeq(ps, "ifeq", i, n);
	default:
		rc = eval_ifeq(ps, "ifneq", i, n);
		return rc == -1 ? -1 : !rc;
	}
}

/* The word of a conditional directive. */
static const char *
cond_word(int dir)
{
	switch (dir) {
	case DIR_IFDEF:
		return "ifdef";
	case DIR_IFNDEF:
		return "ifndef";
	case DIR_IFEQ:
		return "ifeq";
	default:
		return "ifneq";
	}
}

/* ifdef, ifndef, ifeq, ifneq: open a conditional. */
static void
cond_open(struct parser *ps, int dir, size_t i, size_t n)
{
	struct cond *c;
	int outer, v;

	outer = !skipping(ps);
	/* A condition inside a branch not read is not evaluated. */
	v = outer ? eval_cond(ps, dir, i, n) : 0;
	if (ps->nconds == ps->condscap) {
		ps->condscap = ps->condscap ? 2 * ps->condscap : 8;
		ps->conds = xreallocarray(ps->conds, ps->condscap,
		    sizeof(*ps->conds));
	}
	c = &ps->conds[ps->nconds++];
	c->word = cond_word(dir);
	at(ps, 0, &c->loc);
	c->outer = outer;
	c->active = outer && v == 1;
	c->taken = v != 0;	/* after an error, read no branch */
	c->seen_else = 0;
}

/* else, or else ifeq ...: the next branch. */
static void
cond_else(struct parser *ps, size_t i, size_t n)
{
	const char *s = ps->ln.s;
	struct cond *c;
	struct loc l;
	size_t j;
	int dir, v;

	if (ps->nconds <= ps->cbase) {
		line_error(ps, 0, "'else' without 'ifdef', 'ifndef', 'ifeq' "
		    "or 'ifneq'");
		return;
	}
	c = &ps->conds[ps->nconds - 1];
	if (c->seen_else) {
		diag_error(at(ps, 0, &l), "'else' after the last 'else' of "
		    "this '%s'", c->word);
		diag_note(&c->loc, "the '%s' is here", c->word);
		c->active = 0;
		return;
	}
	if (i == n) {
		c->seen_else = 1;
		c->active = c->outer && !c->taken;
		c->taken = 1;
		return;
	}
	dir = directive(s + i, n - i, &j);
	if (dir != DIR_IFDEF && dir != DIR_IFNDEF && dir != DIR_IFEQ &&
	    dir != DIR_IFNEQ) {
		diag_error(at(ps, i, &l), "unexpected text after 'else'");
		c->active = 0;
		return;
	}
	if (!c->outer || c->taken) {
		c->active = 0;
		return;
	}
	v = eval_cond(ps, dir, i + j, n);
	c->active = v == 1;
	c->taken = v != 0;
}

/* endif: close the innermost conditional. */
static void
cond_close(struct parser *ps, size_t i, size_t n)
{
	struct loc l;

	if (ps->nconds <= ps->cbase) {
		line_error(ps, 0, "'endif' without 'ifdef', 'ifndef', 'ifeq' "
		    "or 'ifneq'");
		return;
	}
	if (i < n)
		diag_error(at(ps, i, &l), "unexpected text after 'endif'");
	ps->nconds--;
}

/* ---- define ---- */

/* define NAME [op]: start reading a multi-line value. */
static void
define_open(struct parser *ps, size_t i, size_t n)
{
	const char *s = ps->ln.s;
	size_t e, o;
	char *x;

	ps->after = AFTER_NOTHING;
	for (e = i; e < n && !blank(s[e]) && s[e] != '=' && !(s[e] == ':' ||
	    ((s[e] == '?' || s[e] == '+') && e + 1 < n && s[e + 1] == '='));
	    e++)
		continue;
	for (o = e; o < n && blank(s[o]); o++)
		continue;
	ps->defop = ASSIGN_RECURSIVE;
	if (o < n) {
		if (s[o] == '=' && o + 1 == n)
			ps->defop = ASSIGN_RECURSIVE;
		else if (n - o == 2 && s[o] == ':' && s[o + 1] == '=')
			ps->defop = ASSIGN_SIMPLE;
		else if (n - o == 3 && memcmp(s + o, "::=", 3) == 0)
			ps->defop = ASSIGN_SIMPLE;
		else if (n - o == 2 && s[o] == '?' && s[o + 1] == '=')
			ps->defop = ASSIGN_COND;
		else if (n - o == 2 && s[o] == '+' && s[o + 1] == '=')
			ps->defop = ASSIGN_APPEND;
		else {
			line_error(ps, o, "unexpected text after 'define "
			    "NAME' (expected =, :=, ::=, ?= or +=)");
			ps->defop = -1;
		}
	}
	ps->indef = 1;
	ps->defskip = skipping(ps) || ps->defop == -1;
	ps->defnest = 0;
	ps->deflines = 0;
	ps->defbody.len = 0;
	at(ps, 0, &ps->defloc);
	free(ps->defname);
	ps->defname = NULL;
	if (ps->defskip)
		return;
	x = expand_piece(ps, i, e - i, 0);
	if (!plan_is_name(x, strlen(x))) {
		line_error(ps, i, *x ? "invalid variable name after 'define'" :
		    "'define' needs a variable name");
		ps->defskip = 1;
		free(x);
		return;
	}
	ps->defname = x;
}

/* Whether line s[0..n) starts with word as a directive. */
static int
starts_word(const char *s, size_t n, const char *word)
{
	size_t w = strlen(word);

	return n >= w && memcmp(s, word, w) == 0 && (n == w ||
	    blank(s[w]) || s[w] == '#');
}

/* A line of a define body, or its endef. */
static void
define_line(struct parser *ps)
{
	struct lexline *ln = &ps->ln;
	struct loc l;
	size_t n, k;

	if (starts_word(ln->s, ln->len, "define"))
		ps->defnest++;
	else if (starts_word(ln->s, ln->len, "endef") && ps->defnest-- == 0) {
		ps->indef = 0;
		n = strip_comment(ln->s, ln->len);
		for (k = 5; k < n && blank(ln->s[k]); k++)
			continue;
		if (k < n)
			diag_error(at(ps, k, &l), "unexpected text after "
			    "'endef'");
		if (!ps->defskip) {
			l = ps->defloc;
			l.line++;
			l.col = 1;
			buf_grow(&ps->defbody, 0);
			plan_assign(ps->p, ps->defname, ps->defop,
			    ps->defbody.data, ps->defbody.len, &ps->defloc,
			    NULL, &l);
		}
		free(ps->defname);
		ps->defname = NULL;
		return;
	}
	if (ps->defskip)
		return;
	if (ps->deflines++ > 0)
		buf_addc(&ps->defbody, '\n');
	buf_add(&ps->defbody, ln->s, ln->len);
}

/* ---- include ---- */

/* Report an include loop: the file at k includes itself through the
 * files above it, the last at l. */
static void
include_loop(struct parser *ps, size_t k, const char *path,
    const struct loc *l)
{
	struct buf chain = { 0 };
	size_t i;

	for (i = k; i < ps->nincs; i++)
		buf_printf(&chain, "%s -> ", ps->incs[i].file);
	buf_addstr(&chain, path);
	diag_error(l, "include loop: %s", chain.data);
	for (i = k; i + 1 < ps->nincs; i++)
		diag_note(&ps->incs[i].at, "'%s' includes '%s' here",
		    ps->incs[i].file, ps->incs[i + 1].file);
	buf_free(&chain);
}

/* Read the file at path here, as if its lines were written in place of
 * the include line at l. */
static void
include_file(struct parser *ps, const char *path, const struct loc *l,
    int optional)
{
	struct lexer lx;
	struct incl *top;
	struct stat st;
	char *err = NULL;
	size_t k;

	if (stat(path, &st) == -1) {
		if (optional && errno == ENOENT)
			return;
		diag_error(l, "cannot include %s: %s", path, strerror(errno));
		return;
	}
	for (k = 0; k < ps->nincs; k++)
		if (ps->incs[k].known && ps->incs[k].dev == st.st_dev &&
		    ps->incs[k].ino == st.st_ino) {
			include_loop(ps, k, path, l);
			return;
		}
	if (ps->nincs >= INCLUDE_DEPTH) {
		diag_error(l, "includes nested more than %d deep",
		    INCLUDE_DEPTH);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		diag_error(l, "cannot include %s: Is a directory", path);
		return;
	}
	if (lexer_open(&lx, path, &err) == -1) {
		diag_error(l, "cannot include %s", err);
		free(err);
		return;
	}
	top = &ps->incs[ps->nincs - 1];
	top->at = *l;
	if (ps->nincs == ps->incscap) {
		ps->incscap *= 2;
		ps->incs = xreallocarray(ps->incs, ps->incscap,
		    sizeof(*ps->incs));
	}
	top = &ps->incs[ps->nincs++];
	top->file = plan_intern(ps->p, path);
	top->dev = st.st_dev;
	top->ino = st.st_ino;
	top->known = 1;
	parse_file(ps, &lx, top->file);
	lexer_close(&lx);
	ps->nincs--;
}

/* Whether s holds a glob(3) pattern character. */
static int
has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* include FILE... and -include FILE... */
static void
parse_include(struct parser *ps, int optional, size_t i, size_t n)
{
	struct pword *w;
	size_t k, nw, g;
	char *dir, *name, *path;
	glob_t gl;

	ps->after = AFTER_NOTHING;
	if (skipping(ps))
		return;
	words_reset(ps);
	nw = header_words(ps, i, n, -1);
	words_fix(ps, 0);
	/* The words outlive wbuf once a nested file is read: copy. */
	w = xcalloc(nw + 1, sizeof(*w));
	if (nw > 0)
		memcpy(w, ps->w, nw * sizeof(*w));
	for (k = 0; k < nw; k++)
		w[k].s = xstrndup(w[k].s, w[k].len);
	dir = path_dirname(ps->file);
	for (k = 0; k < nw && !ps->stopped; k++) {
		name = (char *)w[k].s;
		path = path_join(dir, name);
		memset(&gl, 0, sizeof(gl));
		if (has_glob(path) && glob(path, 0, NULL, &gl) == 0) {
			for (g = 0; g < gl.gl_pathc; g++)
				include_file(ps, gl.gl_pathv[g], &w[k].loc,
				    optional);
		} else
			include_file(ps, path, &w[k].loc, optional);
		globfree(&gl);
		free(path);
	}
	for (k = 0; k < nw; k++)
		free((char *)w[k].s);
	free(w);
	free(dir);
}

/* ---- lines ---- */

/* A line that is neither blank, a comment nor indented, nor a
 * conditional. */
static void
parse_line(struct parser *ps, int dir, size_t arg)
{
	const char *s = ps->ln.s;
	struct loc l;
	size_t i, n;
	char *x;

	n = strip_comment(s, ps->ln.len);
	if (arg > n)
		arg = n;
	switch (dir) {
	case DIR_DEFINE:
		define_open(ps, arg, n);
		return;
	case DIR_ENDEF:
		line_error(ps, 0, "'endef' without 'define'");
		return;
	case DIR_INCLUDE:
	case DIR_OPTINCLUDE:
		parse_include(ps, dir == DIR_OPTINCLUDE, arg, n);
		return;
	case DIR_ABSENT:
		for (i = 0; i < n && !blank(s[i]); i++)
			continue;
		diag_error(at(ps, 0, &l), "'%.*s' is not supported in a plan",
		    (int)i, s);
		ps->after = AFTER_ERROR;
		return;
	default:
		break;
	}
	if (n == 0) {
		ps->after = AFTER_NOTHING;
		return;
	}
	i = find_top(s, 0, n, ':', '=');
	if (i < n && s[i] == ':' && i + 1 < n && s[i + 1] == '=')
		parse_assignment(ps, i + 1, n);
	else if (i < n && s[i] == ':' && i + 2 < n && s[i + 1] == ':' &&
	    s[i + 2] == '=')
		parse_assignment(ps, i + 2, n);
	else if (i < n && s[i] == '=')
		parse_assignment(ps, i, n);
	else if (i < n)
		parse_rule(ps, i, n);
	else if (memchr(s, '$', n) != NULL) {
		/* make's "$(warning ...)" alone on a line. */
		x = expand_piece(ps, 0, n, 0);
		for (i = 0; x[i] != '\0' && (blank(x[i]) || x[i] == '\n'); i++)
			continue;
		if (x[i] != '\0')
			line_error(ps, 0, "expected a rule or an assignment");
		else
			ps->after = AFTER_NOTHING;
		free(x);
	} else
		line_error(ps, 0, "expected a rule or an assignment");
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
 * text, still unexpanded, to the open rules. */
static void
end_prompt(struct parser *ps)
{
	struct pline *pl;
	struct buf *b;
	struct loc l;
	size_t i, indent, k, total;
	char *text;
	int tab, mixed;

	if (ps->after != AFTER_RULE) {
		ps->nopen = 0;
		ps->npl = 0;
		return;
	}
	ps->after = AFTER_NOTHING;
	while (ps->npl > 0 && ps->pl[ps->npl - 1].s == NULL)
		ps->npl--;
	if (ps->npl == 0 || ps->nopen == 0) {
		ps->nopen = 0;
		ps->npl = 0;
		return;
	}

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

	/* Built in a buffer used again, then kept in the plan's arena
	 * at exactly its size, once for all the open rules: 100,000
	 * prompts add up. */
	b = &ps->pbuf;
	b->len = 0;
	buf_grow(b, total);
	for (i = 0; i < ps->npl; i++) {
		pl = &ps->pl[i];
		if (i > 0)
			buf_addc(b, '\n');
		if (pl->s == NULL)
			continue;
		k = tab ? (pl->s[0] == '\t') : count_spaces(pl->s, pl->len);
		if (k > indent)
			k = indent;
		buf_add(b, pl->s + k, pl->len - k);
	}
	text = plan_strndup(ps->p, b->data, b->len);
	for (i = 0; i < ps->nopen; i++) {
		ps->open[i]->prompt = text;
		ps->open[i]->prompt_kept = 1;
		ps->open[i]->prompt_loc.file = ps->file;
		ps->open[i]->prompt_loc.line = ps->pl[0].line;
		ps->open[i]->prompt_loc.col = (int)indent + 1;
	}
	ps->nopen = 0;
	ps->npl = 0;
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
	l.file = ps->incs[0].file;
	l.line = 0;
	l.col = 0;
	diag_error(&l, "too many errors");
	ps->stopped = 1;
	return 1;
}

/* A line starting in column 1. */
static void
text_line(struct parser *ps)
{
	struct lexline *ln = &ps->ln;
	size_t arg = 0, n;
	int dir;

	lexer_join(ps->lx, ln);
	dir = DIR_NONE;
	if ((ln->s[0] >= 'a' && ln->s[0] <= 'z') || ln->s[0] == '-')
		dir = directive(ln->s, ln->len, &arg);
	switch (dir) {
	case DIR_IFDEF:
	case DIR_IFNDEF:
	case DIR_IFEQ:
	case DIR_IFNEQ:
	case DIR_ELSE:
	case DIR_ENDIF:
		/* Conditionals leave an open prompt open, as in make's
		 * recipes. */
		n = strip_comment(ln->s, ln->len);
		if (arg > n)
			arg = n;
		if (dir == DIR_ELSE)
			cond_else(ps, arg, n);
		else if (dir == DIR_ENDIF)
			cond_close(ps, arg, n);
		else
			cond_open(ps, dir, arg, n);
		return;
	default:
		break;
	}
	if (skipping(ps)) {
		if (dir == DIR_DEFINE) {
			ps->indef = 1;
			ps->defskip = 1;
			ps->defnest = 0;
			at(ps, 0, &ps->defloc);
		}
		return;
	}
	end_prompt(ps);
	parse_line(ps, dir, arg);
}

/* Read the lines of lx, the file named file, into the plan. */
static void
parse_file(struct parser *ps, struct lexer *lx, const char *file)
{
	struct lexer *olx;
	struct lexline *ln;
	const char *ofile;
	size_t cbase, ocbase;
	struct loc l;

	olx = ps->lx;
	ofile = ps->file;
	ocbase = ps->cbase;
	ps->lx = lx;
	ps->file = file;
	ps->after = AFTER_NOTHING;
	cbase = ps->cbase = ps->nconds;
	ln = &ps->ln;
	if (lx->nul != NULL) {
		l.file = file;
		lexer_loc_of(lx, lx->nul, &l);
		diag_error(&l, "unexpected NUL byte");
		goto out;
	}
	while (!too_many(ps) && lexer_next(lx, ln)) {
		if (ps->indef) {
			define_line(ps);
			continue;
		}
		if (ln->kind == LEX_TEXT) {
			text_line(ps);
			continue;
		}
		if (skipping(ps))
			continue;
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
		default:
			end_prompt(ps);
			ps->after = AFTER_NOTHING;
			break;
		}
	}
	end_prompt(ps);
	if (ps->indef && !ps->stopped) {
		diag_error(&ps->defloc, "'define' without 'endef'");
		ps->indef = 0;
	}
	for (; ps->nconds > cbase; ps->nconds--)
		if (!ps->stopped)
			diag_error(&ps->conds[ps->nconds - 1].loc, "'%s' "
			    "without 'endif'", ps->conds[ps->nconds - 1].word);
out:
	ps->nconds = cbase;
	ps->cbase = ocbase;
	ps->lx = olx;
	ps->file = ofile;
	ps->after = AFTER_NOTHING;
}

/* ---- the end of the load ---- */

/* Expand a rule's prompt line by line, so that each reference is placed
 * on its own line and column. */
static void
expand_prompt(struct parser *ps, struct rule *r, int keep)
{
	const char *s, *e, *end;
	struct buf *b;
	struct loc l;

	b = &ps->pbuf;
	b->len = 0;
	l = r->prompt_loc;
	end = r->prompt + strlen(r->prompt);
	buf_grow(b, (size_t)(end - r->prompt) + 64);
	for (s = r->prompt; ; s = e + 1, l.line++) {
		if ((e = memchr(s, '\n', (size_t)(end - s))) == NULL)
			e = end;
		if (memchr(s, '$', (size_t)(e - s)) != NULL)
			plan_expand_append(ps->p, r, b, s, (size_t)(e - s),
			    &l, 0);
		else
			buf_add(b, s, (size_t)(e - s));
		if (e == end)
			break;
		buf_addc(b, '\n');
	}
	if (keep)
		return;
	if (!r->prompt_kept)
		free(r->prompt);
	/* Exactly its size, in the arena: 100,000 prompts add up. */
	r->prompt = plan_strndup(ps->p, b->data, b->len);
	r->prompt_kept = 1;
}

/* Whether the prereqs of r hold the n bytes at s. */
static int
has_prereq(const struct pword *v, size_t nv, const char *s)
{
	size_t i, n = strlen(s);

	for (i = 0; i < nv; i++)
		if (v[i].len == n && memcmp(v[i].s, s, n) == 0)
			return 1;
	return 0;
}

/* Rebuild rule r with the targets not marked in gone and its
 * prerequisites followed by those of the rules in extra (each once).
 * NULL when no target is left. */
static struct rule *
rebuild(struct plan *p, const struct rule *r, const unsigned char *gone,
    struct rule *const *extra, size_t nextra)
{
	struct pword *t, *pr;
	struct rule *nr;
	size_t i, k, nt, np, cap;

	t = xcalloc(r->ntargets + 1, sizeof(*t));
	for (i = nt = 0; i < r->ntargets; i++)
		if (gone == NULL || !gone[i]) {
			t[nt].s = r->targets[i];
			t[nt].len = strlen(r->targets[i]);
			t[nt++].loc = rule_tloc(r, i);
		}
	if (nt == 0) {
		free(t);
		return NULL;
	}
	for (cap = r->nprereqs, k = 0; k < nextra; k++)
		cap += extra[k]->nprereqs;
	pr = xcalloc(cap + 1, sizeof(*pr));
	for (i = np = 0; i < r->nprereqs; i++) {
		pr[np].s = r->prereqs[i];
		pr[np].len = strlen(r->prereqs[i]);
		pr[np++].loc = rule_ploc(r, i);
	}
	for (k = 0; k < nextra; k++)
		for (i = 0; i < extra[k]->nprereqs; i++) {
			if (has_prereq(pr, np, extra[k]->prereqs[i]))
				continue;
			pr[np].s = extra[k]->prereqs[i];
			pr[np].len = strlen(extra[k]->prereqs[i]);
			pr[np++].loc = rule_ploc(extra[k], i);
		}
	nr = rule_new(p, &r->loc, t, nt, pr, np);
	free(t);
	free(pr);
	nr->prompt_loc = r->prompt_loc;
	nr->stem = r->stem ? xstrdup(r->stem) : NULL;
	nr->from = r->from;
	return nr;
}

/* Per rule: the targets given away and the rules whose prerequisites
 * it takes. */
struct merge {
	unsigned char	 *gone;
	struct rule	**extra;
	size_t		  nextra;
};

/* The first two bytes of name as a number below 65536. */
static size_t
head2(const char *name)
{
	size_t h = (unsigned char)name[0];

	return h == 0 ? 0 : h | (size_t)(unsigned char)name[1] << 8;
}

/* A rule without a prompt adds its prerequisites to the rule that
 * makes its target, as make's rules without a recipe do: "out: extra"
 * beside "out: in" with a prompt gives the prompted rule both.  Among
 * rules without a prompt, the first that names a target takes the
 * others' prerequisites. */
static void
merge_rules(struct parser *ps)
{
	struct plan *p = ps->p;
	struct smap owner = { 0 };	/* target -> 1 + index of its rule */
	struct merge *m;
	struct rule *r, **old;
	unsigned char *heads;		/* a bit per head2() of an owner */
	size_t *bare;			/* the rules without a prompt */
	size_t i, k, j, n, b, nbare, h;

	n = p->nrules - ps->firstrule;
	heads = NULL;
	bare = NULL;
	for (i = 0, nbare = 0; i < n; i++) {
		r = p->rules[ps->firstrule + i];
		if (r->prompt != NULL)
			continue;
		if (nbare == 0)
			heads = xcalloc(65536 / 8, 1);
		if ((nbare & (nbare - 1)) == 0)	/* 0, 1, 2, 4, ... */
			bare = xreallocarray(bare, nbare ? 2 * nbare : 1,
			    sizeof(*bare));
		bare[nbare++] = i;
		for (k = 0; k < r->ntargets; k++) {
			h = head2(r->targets[k]);
			heads[h / 8] |= 1 << (h % 8);
			if (smap_get(&owner, r->targets[k]) == NULL)
				smap_put(&owner, r->targets[k],
				    (void *)(uintptr_t)(i + 1));
		}
	}
	if (nbare == 0)
		return;
	/* Most prompted rules share no target with a rule without one:
	 * the first two bytes tell, without hashing the name. */
	for (i = 0; i < n; i++) {
		r = p->rules[ps->firstrule + i];
		if (r->prompt == NULL)
			continue;
		for (k = 0; k < r->ntargets; k++) {
			h = head2(r->targets[k]);
			if (!(heads[h / 8] & 1 << (h % 8)))
				continue;
			j = (size_t)(uintptr_t)smap_get(&owner, r->targets[k]);
			if (j > 0 && p->rules[ps->firstrule + j - 1]->prompt ==
			    NULL)
				smap_put(&owner, r->targets[k],
				    (void *)(uintptr_t)(i + 1));
		}
	}
	m = NULL;
	for (b = 0; b < nbare; b++) {
		i = bare[b];
		r = p->rules[ps->firstrule + i];
		for (k = 0; k < r->ntargets; k++) {
			j = (size_t)(uintptr_t)smap_get(&owner,
			    r->targets[k]) - 1;
			if (j == i)
				continue;
			if (m == NULL)
				m = xcalloc(n, sizeof(*m));
			if (m[i].gone == NULL)
				m[i].gone = xcalloc(r->ntargets, 1);
			m[i].gone[k] = 1;
			if (m[j].nextra == 0 || m[j].extra[m[j].nextra - 1] !=
			    r) {
				m[j].extra = xreallocarray(m[j].extra,
				    m[j].nextra + 1, sizeof(*m[j].extra));
				m[j].extra[m[j].nextra++] = r;
			}
		}
	}
	smap_free(&owner);
	free(heads);
	free(bare);
	if (m == NULL)
		return;

	/* Build every new rule before freeing any old one: the new ones
	 * copy strings from the old. */
	old = xcalloc(n, sizeof(*old));
	for (i = 0; i < n; i++) {
		if (m[i].gone == NULL && m[i].nextra == 0)
			continue;
		r = p->rules[ps->firstrule + i];
		old[i] = r;
		p->rules[ps->firstrule + i] = rebuild(p, r, m[i].gone,
		    m[i].extra, m[i].nextra);
		if (p->rules[ps->firstrule + i] != NULL) {
			p->rules[ps->firstrule + i]->prompt = r->prompt;
			p->rules[ps->firstrule + i]->prompt_kept =
			    r->prompt_kept;
			r->prompt = NULL;
		}
	}
	for (i = 0; i < n; i++) {
		rule_free(old[i]);
		free(m[i].gone);
		free(m[i].extra);
	}
	for (i = k = ps->firstrule; i < p->nrules; i++)
		if (p->rules[i] != NULL)
			p->rules[k++] = p->rules[i];
	p->nrules = k;
	free(old);
	free(m);
}

/* The work left when every line is read: merge rules without prompts,
 * then expand the prompts, now that every variable of the plan is known
 * (make expands recipes late too).  A pattern rule's prompt is expanded
 * once here, for its diagnostics, and again for each instance. */
static void
finish(struct parser *ps)
{
	struct rule *r;
	char *stem;
	size_t i;

	merge_rules(ps);
	for (i = ps->firstrule; i < ps->p->nrules && !too_many(ps); i++) {
		r = ps->p->rules[i];
		if (r->prompt != NULL && strchr(r->prompt, '$') != NULL)
			expand_prompt(ps, r, 0);
	}
	for (i = ps->firstpat; i < ps->p->npatterns && !too_many(ps); i++) {
		r = ps->p->patterns[i];
		if (r->prompt == NULL) {
			diag_error(&r->loc, "a pattern rule needs a prompt");
			continue;
		}
		if (strchr(r->prompt, '$') == NULL)
			continue;
		stem = r->stem;		/* a static pattern's, or NULL */
		r->stem = "%";
		expand_prompt(ps, r, 1);
		r->stem = stem;
	}
}

/* Parse lx, the file named name, and release what the parser holds. */
static int
parser_run(struct parser *ps, struct lexer *lx, const char *name,
    const struct stat *st)
{
	ps->firstrule = ps->p->nrules;
	ps->firstpat = ps->p->npatterns;
	ps->incscap = 8;
	ps->incs = xcalloc(ps->incscap, sizeof(*ps->incs));
	ps->incs[0].file = plan_intern(ps->p, name);
	if (st != NULL) {
		ps->incs[0].dev = st->st_dev;
		ps->incs[0].ino = st->st_ino;
		ps->incs[0].known = 1;
	}
	ps->nincs = 1;
	parse_file(ps, lx, ps->incs[0].file);
	if (!ps->stopped)
		finish(ps);
	lexer_close(lx);
	free(ps->pl);
	free(ps->open);
	free(ps->conds);
	free(ps->incs);
	free(ps->w);
	free(ps->wcopied);
	free(ps->defname);
	buf_free(&ps->defbody);
	buf_free(&ps->wbuf);
	buf_free(&ps->pbuf);
	return diag_nerrors() > ps->nerr0 ? -1 : 0;
}

int
parser_load(struct plan *p, const char *path)
{
	struct parser ps;
	struct lexer lx;
	struct loc l = { NULL, 0, 0 };
	struct stat st;
	char *err;

	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.nerr0 = diag_nerrors();
	err = NULL;
	if (lexer_open(&lx, path, &err) == -1) {
		diag_error(&l, "%s", err);
		free(err);
		return -1;
	}
	return parser_run(&ps, &lx, path, stat(path, &st) == 0 ? &st : NULL);
}

int
parser_load_mem(struct plan *p, const char *name, const char *text,
    size_t len)
{
	struct parser ps;
	struct lexer lx;

	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.nerr0 = diag_nerrors();
	lexer_init(&lx, text, len);
	return parser_run(&ps, &lx, name, NULL);
}
