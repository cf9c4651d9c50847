#include "lexer.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "util.h"

/* Point lx at the len bytes at data, past any byte order mark. */
static void
lexer_start(struct lexer *lx, const char *data, size_t len)
{
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
		data += 3;
		len -= 3;
	}
	lx->start = lx->p = data;
	lx->end = data + len;
	lx->nul = len > 0 ? memchr(data, '\0', len) : NULL;
	lx->line = 1;
}

int
lexer_open(struct lexer *lx, const char *path, char **errp)
{
	memset(lx, 0, sizeof(*lx));
	if (file_read(path, &lx->src, errp) == -1) {
		buf_free(&lx->src);
		return -1;
	}
	if (lx->src.data == NULL)
		buf_grow(&lx->src, 0);
	lexer_start(lx, lx->src.data, lx->src.len);
	return 0;
}

void
lexer_init(struct lexer *lx, const char *data, size_t len)
{
	memset(lx, 0, sizeof(*lx));
	lexer_start(lx, data, len);
}

void
lexer_close(struct lexer *lx)
{
	buf_free(&lx->src);
	buf_free(&lx->join);
	free(lx->segs);
	memset(lx, 0, sizeof(*lx));
}

/* Cut the next physical line off the input, without classifying it. */
static int
next_raw(struct lexer *lx, struct lexline *ln)
{
	const char *s, *nl;
	size_t len;

	if (lx->p >= lx->end)
		return 0;
	s = lx->p;
	if ((nl = memchr(s, '\n', (size_t)(lx->end - s))) != NULL) {
		len = (size_t)(nl - s);
		lx->p = nl + 1;
	} else {
		len = (size_t)(lx->end - s);
		lx->p = lx->end;
	}
	if (len > 0 && s[len - 1] == '\r')
		len--;
	ln->s = s;
	ln->len = len;
	ln->line = lx->line++;
	ln->indent = 0;
	ln->joined = 0;
	return 1;
}

int
lexer_next(struct lexer *lx, struct lexline *ln)
{
	size_t i;

	if (!next_raw(lx, ln))
		return 0;
	if (ln->len == 0) {
		ln->kind = LEX_BLANK;
		return 1;
	}
	switch (ln->s[0]) {
	case '#':
		ln->kind = LEX_COMMENT;
		break;
	case ' ':
	case '\t':
		for (i = 1; i < ln->len; i++)
			if (ln->s[i] != ' ' && ln->s[i] != '\t')
				break;
		ln->indent = i;
		ln->kind = i == ln->len ? LEX_BLANK : LEX_INDENTED;
		break;
	default:
		ln->kind = LEX_TEXT;
		break;
	}
	return 1;
}

/* Whether the n bytes at s end in an odd number of backslashes. */
static int
ends_escaped(const char *s, size_t n)
{
	size_t k;

	for (k = 0; k < n && s[n - 1 - k] == '\\'; k++)
		continue;
	return k % 2 == 1;
}

int
lexer_continues(const struct lexline *ln)
{
	return ends_escaped(ln->s, ln->len);
}

/* Note that the joined line's bytes from here on start at line:col. */
static void
add_seg(struct lexer *lx, int line, int col)
{
	if (lx->nsegs == lx->segscap) {
		lx->segscap = lx->segscap ? 2 * lx->segscap : 8;
		lx->segs = xreallocarray(lx->segs, lx->segscap,
		    sizeof(*lx->segs));
	}
	lx->segs[lx->nsegs].off = lx->join.len;
	lx->segs[lx->nsegs].line = line;
	lx->segs[lx->nsegs].col = col;
	lx->nsegs++;
}

/* The length of s[0..n) without its final backslash and the unescaped
 * blanks before it. */
static size_t
trim_continuation(const char *s, size_t n)
{
	n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t') &&
	    !(n > 1 && s[n - 2] == '\\'))
		n--;
	return n;
}

void
lexer_join(struct lexer *lx, struct lexline *ln)
{
	struct lexline next;
	size_t i, n;
	int more;

	if (!lexer_continues(ln))
		return;
	lx->join.len = 0;
	lx->nsegs = 0;
	add_seg(lx, ln->line, 1);
	buf_add(&lx->join, ln->s, trim_continuation(ln->s, ln->len));
	for (more = 1; more && next_raw(lx, &next); ) {
		for (i = 0; i < next.len; i++)
			if (next.s[i] != ' ' && next.s[i] != '\t')
				break;
		n = next.len - i;
		if ((more = ends_escaped(next.s + i, n)))
			n = trim_continuation(next.s + i, n);
		if (n == 0)
			continue;
		if (lx->join.len > 0)
			buf_addc(&lx->join, ' ');
		add_seg(lx, next.line, (int)i + 1);
		buf_add(&lx->join, next.s + i, n);
	}
	if (lx->join.data == NULL)
		buf_grow(&lx->join, 0);
	ln->s = lx->join.data;
	ln->len = lx->join.len;
	ln->joined = 1;
}

void
lexer_loc(const struct lexer *lx, const struct lexline *ln, size_t off,
    struct loc *l)
{
	size_t i;

	if (!ln->joined || lx->nsegs == 0) {
		l->line = ln->line;
		l->col = (int)off + 1;
		return;
	}
	for (i = lx->nsegs - 1; i > 0 && lx->segs[i].off > off; i--)
		continue;
	l->line = lx->segs[i].line;
	l->col = lx->segs[i].col + (int)(off - lx->segs[i].off);
}

void
lexer_loc_of(const struct lexer *lx, const char *at, struct loc *l)
{
	const char *s, *nl;

	l->line = 1;
	for (s = lx->start; (nl = memchr(s, '\n', (size_t)(at - s))) != NULL;
	    s = nl + 1)
		l->line++;
	l->col = (int)(at - s) + 1;
}
