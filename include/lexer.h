/* lexer: a Planfile cut into lines.  The whole file is read once; lines
 * point into it, so no byte is copied unless continuation lines are
 * joined.  What a line means is the parser's business. */
#ifndef PM_LEXER_H
#define PM_LEXER_H

#include <stddef.h>

#include "diag.h"
#include "util.h"

/* What a line looks like from its first bytes alone. */
enum lex_kind {
	LEX_BLANK,		/* nothing but spaces and tabs */
	LEX_COMMENT,		/* '#' in column 1 */
	LEX_INDENTED,		/* starts with a tab or a space */
	LEX_TEXT		/* anything else */
};

/* One line, without its LF or CRLF. */
struct lexline {
	const char	*s;		/* borrowed; see lexer_next() */
	size_t		 len;
	int		 line;		/* 1-based, of its first physical line */
	int		 kind;		/* enum lex_kind */
	size_t		 indent;	/* offset of the first non-blank byte */
	int		 joined;	/* continuation lines were joined */
};

/* Where a piece of a joined line came from. */
struct lexseg {
	size_t		 off;		/* offset in the joined line */
	int		 line;
	int		 col;		/* column of the byte at off */
};

struct lexer {
	struct buf	 src;		/* the file, when read by lexer_open() */
	const char	*start;		/* the first line, past any BOM */
	const char	*p;		/* the next unread byte */
	const char	*end;
	const char	*nul;		/* the first NUL byte, or NULL */
	int		 line;		/* the number of the line at p */
	struct buf	 join;		/* the joined line */
	struct lexseg	*segs;		/* owned; pieces of the joined line */
	size_t		 nsegs;
	size_t		 segscap;
};

/* Read the file at path whole.  -1 and *errp (the caller frees it) when
 * it cannot be read. */
int	lexer_open(struct lexer *lx, const char *path, char **errp);
/* Lex the len bytes at data, which must outlive the lexer. */
void	lexer_init(struct lexer *lx, const char *data, size_t len);
void	lexer_close(struct lexer *lx);

/* The next physical line, classified; 0 at the end of the input.  ln->s
 * is valid until lexer_close(), or, for a joined line, until the next
 * call.  A UTF-8 byte order mark before the first line is skipped. */
int	lexer_next(struct lexer *lx, struct lexline *ln);
/* Whether ln ends in a continuation: an odd number of backslashes. */
int	lexer_continues(const struct lexline *ln);
/* Extend ln over its continuation lines, as make does outside recipes:
 * each backslash-newline, with the white space around it, becomes one
 * space.  A line that does not continue is left alone. */
void	lexer_join(struct lexer *lx, struct lexline *ln);
/* The line and column (1-based, in bytes) of the byte at offset off of
 * ln, the last line returned.  l->file is left alone. */
void	lexer_loc(const struct lexer *lx, const struct lexline *ln,
	    size_t off, struct loc *l);
/* The line and column of a byte of the input, found by counting. */
void	lexer_loc_of(const struct lexer *lx, const char *at, struct loc *l);

#endif
