/* extract: split a model's answer into the contents of a task's targets.
 *
 * The answer is read as lines.  A fenced block opens with up to 3 spaces and
 * a run of at least 3 backticks or tildes (then an info string, which for
 * backticks may hold no backtick) and closes at the first later line of up
 * to 3 spaces, a run of the same character at least as long, and only white
 * space.  Three forms are accepted, tried in order:
 *
 * 1. A header line naming a target, followed by a block (blank lines may
 *    come between).  Every target needs exactly one block.
 * 2. One target and exactly one block, with at most one non-blank line
 *    before it and one after.
 * 3. One target and no fence at all: the whole answer, blank lines trimmed.
 *
 * In every form, a block whose header looks like a path but names no target
 * fails the answer, and so does a fence that is never closed.
 */
#include "extract.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* How much of a path from the answer an error message quotes. */
#define QUOTE_MAX	120

/* One line of the answer, without its LF and without a CR before that. */
struct line {
	const char	*p;
	size_t		 len;
};

/* A fenced block: the indexes of its opening and closing lines. */
struct block {
	size_t	open;
	size_t	close;
};

/* The content chosen for a target: lines first up to (not including) end. */
struct span {
	size_t	first;
	size_t	end;
	int	set;
};

struct answer {
	struct line	*lines;
	size_t		 nlines;
	struct block	*blocks;
	size_t		 nblocks;
};

static const char instructions[] =
    "Answer with every requested file in full. "
    "Write each file's path alone on a line, exactly as given, and on the "
    "very next line open a fenced code block holding the whole file. "
    "Make each fence longer than any fence inside the file: use ```` when "
    "the file contains ```. "
    "Put no other file path on a line before a block, and give no diffs, "
    "excerpts or placeholders. "
    "Text outside the blocks is ignored and nothing in the answer is run, "
    "so give no commands to create the files.";

const char *
extract_instructions(void)
{
	return instructions;
}

/* Whether c is white space within a line. */
static int
isws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Whether a line holds only white space. */
static int
line_blank(const struct line *l)
{
	size_t i;

	for (i = 0; i < l->len; i++)
		if (!isws((unsigned char)l->p[i]))
			return 0;
	return 1;
}

/* Cut s into lines.  A final line without an LF counts; an LF at the very
 * end does not start another line. */
static void
split_lines(const char *s, size_t len, struct answer *a)
{
	const char *nl;
	size_t off, end, n;

	n = 0;
	for (off = 0; off < len; off = end + 1) {
		nl = memchr(s + off, '\n', len - off);
		end = nl != NULL ? (size_t)(nl - s) : len;
		n++;
	}
	a->lines = xreallocarray(NULL, n, sizeof *a->lines);
	a->nlines = n;

	n = 0;
	for (off = 0; off < len; off = end + 1) {
		nl = memchr(s + off, '\n', len - off);
		end = nl != NULL ? (size_t)(nl - s) : len;
		a->lines[n].p = s + off;
		a->lines[n].len = end - off;
		if (end > off && s[end - 1] == '\r')
			a->lines[n].len--;
		n++;
	}
}

/* The number of leading spaces (at most 3) before a fence run. */
static size_t
fence_indent(const struct line *l)
{
	size_t i;

	for (i = 0; i < 3 && i < l->len && l->p[i] == ' '; i++)
		;
	return i;
}

/* Whether l opens a fence; if so, set its character and run length. */
static int
fence_open(const struct line *l, char *chp, size_t *runp)
{
	size_t i, run;
	char ch;

	i = fence_indent(l);
	if (i == l->len || (l->p[i] != '`' && l->p[i] != '~'))
		return 0;
	ch = l->p[i];
	for (run = 0; i < l->len && l->p[i] == ch; i++)
		run++;
	if (run < 3)
		return 0;
	if (ch == '`' && memchr(l->p + i, '`', l->len - i) != NULL)
		return 0;
	*chp = ch;
	*runp = run;
	return 1;
}

/* Whether l closes a fence of run ch characters. */
static int
fence_close(const struct line *l, char ch, size_t run)
{
	size_t i, n;

	i = fence_indent(l);
	for (n = 0; i < l->len && l->p[i] == ch; i++)
		n++;
	if (n < run)
		return 0;
	for (; i < l->len; i++)
		if (!isws((unsigned char)l->p[i]))
			return 0;
	return 1;
}

/* Find the fenced blocks, in order.  Each line is looked at once or
 * twice, so this is linear in the answer. */
static int
find_blocks(struct answer *a, char **errp)
{
	size_t i, j, run;
	char ch;

	a->blocks = xreallocarray(NULL, a->nlines / 2 + 1, sizeof *a->blocks);
	a->nblocks = 0;
	for (i = 0; i < a->nlines; i++) {
		if (!fence_open(&a->lines[i], &ch, &run))
			continue;
		for (j = i + 1; j < a->nlines; j++)
			if (fence_close(&a->lines[j], ch, run))
				break;
		if (j == a->nlines) {
			xasprintf(errp,
			    "unterminated fence opened on answer line %zu",
			    i + 1);
			return -1;
		}
		a->blocks[a->nblocks].open = i;
		a->blocks[a->nblocks].close = j;
		a->nblocks++;
		i = j;
	}
	return 0;
}

/* Trim white space from both ends of the n bytes at *pp. */
static void
trim(const char **pp, size_t *np)
{
	while (*np > 0 && isws((unsigned char)**pp)) {
		(*pp)++;
		(*np)--;
	}
	while (*np > 0 && isws((unsigned char)(*pp)[*np - 1]))
		(*np)--;
}

/* Drop one trailing colon, unless one was dropped already. */
static void
trim_colon(const char **pp, size_t *np, int *done)
{
	if (*done || *np == 0 || (*pp)[*np - 1] != ':')
		return;
	(*np)--;
	trim(pp, np);
	*done = 1;
}

/* Drop a leading word prefix ("File ", "File: ") of the n bytes at *pp. */
static void
trim_word(const char **pp, size_t *np, const char *word)
{
	size_t k = strlen(word);

	if (*np <= k || memcmp(*pp, word, k) != 0 ||
	    !(isws((unsigned char)(*pp)[k]) || (*pp)[k] == ':'))
		return;
	*pp += k;
	*np -= k;
	if (**pp == ':') {
		(*pp)++;
		(*np)--;
	}
	trim(pp, np);
}

/* The path a header line names: the line trimmed, less one layer of each
 * markdown decoration ("## ", "**...**", "`...`", a trailing colon) and
 * a leading "File " (the label planmake gives inputs). */
static void
header_path(const struct line *l, const char **pp, size_t *np)
{
	const char *p;
	size_t i, n;
	int colon;

	p = l->p;
	n = l->len;
	colon = 0;
	trim(&p, &n);
	for (i = 0; i < n && p[i] == '#'; i++)
		;
	if (i > 0 && i < n && isws((unsigned char)p[i])) {
		p += i;
		n -= i;
		trim(&p, &n);
	}
	trim_word(&p, &n, "File");
	trim_colon(&p, &n, &colon);
	if (n >= 4 && memcmp(p, "**", 2) == 0 &&
	    memcmp(p + n - 2, "**", 2) == 0) {
		p += 2;
		n -= 4;
		trim(&p, &n);
	}
	trim_colon(&p, &n, &colon);
	if (n >= 2 && p[0] == '`' && p[n - 1] == '`') {
		p++;
		n -= 2;
		trim(&p, &n);
	}
	trim_colon(&p, &n, &colon);
	*pp = p;
	*np = n;
}

/* Whether a header names a file rather than being prose: one word, no
 * white space, with a '/' in it or a '.' followed by a letter or digit
 * ("main.c", ".gitignore", but not "Done." or "e.g."). */
static int
path_like(const char *p, size_t n)
{
	size_t i;
	int file;

	file = 0;
	for (i = 0; i < n; i++) {
		if (isws((unsigned char)p[i]))
			return 0;
		if (p[i] == '/' || (p[i] == '.' && i + 1 < n &&
		    ((p[i + 1] >= 'a' && p[i + 1] <= 'z') ||
		    (p[i + 1] >= 'A' && p[i + 1] <= 'Z') ||
		    (p[i + 1] >= '0' && p[i + 1] <= '9'))))
			file = 1;
	}
	return file && p[n - 1] != '.';
}

/* The header path of block b: the last non-blank line before its fence
 * (blank lines in between are allowed).  0 when there is none after the
 * previous block. */
static int
block_header(const struct answer *a, size_t b, const char **pp, size_t *np)
{
	size_t h, lo;

	lo = b > 0 ? a->blocks[b - 1].close + 1 : 0;
	for (h = a->blocks[b].open; h > lo; h--)
		if (!line_blank(&a->lines[h - 1]))
			break;
	if (h == lo)
		return 0;
	header_path(&a->lines[h - 1], pp, np);
	return *np > 0;
}

/* Skip leading "./" parts (and the slashes after them) of the n bytes
 * at *pp, so "./src/a.c" names "src/a.c". */
static void
skip_dot_slash(const char **pp, size_t *np)
{
	while (*np > 2 && (*pp)[0] == '.' && (*pp)[1] == '/') {
		*pp += 2;
		*np -= 2;
		while (*np > 1 && (*pp)[0] == '/') {
			(*pp)++;
			(*np)--;
		}
	}
}

/* The index of the target named by the n bytes at p, or ntargets. */
static size_t
target_index(const char *p, size_t n, char *const *targets, size_t ntargets)
{
	const char *q;
	size_t t, k;

	skip_dot_slash(&p, &n);
	for (t = 0; t < ntargets; t++) {
		q = targets[t];
		k = strlen(q);
		skip_dot_slash(&q, &k);
		if (k == n && memcmp(q, p, n) == 0)
			break;
	}
	return t;
}

/* A path from the answer, made safe to print: control bytes (and every
 * byte of invalid UTF-8) escaped, long paths cut at a character.
 * Caller frees. */
static char *
quote(const char *p, size_t n)
{
	struct buf b = { NULL, 0, 0 };
	unsigned char c;
	size_t i, bad, cut;
	int utf8;

	utf8 = utf8_valid(p, n, &bad);
	cut = n;
	if (n > QUOTE_MAX) {
		cut = QUOTE_MAX;
		while (utf8 && cut > 0 &&
		    ((unsigned char)p[cut] & 0xc0) == 0x80)
			cut--;
	}
	for (i = 0; i < cut; i++) {
		c = (unsigned char)p[i];
		if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			buf_printf(&b, "\\x%02x", c);
		else
			buf_addc(&b, c);
	}
	if (n > QUOTE_MAX)
		buf_addstr(&b, "...");
	return buf_detach(&b);
}

/* Fail when a block's header looks like a path but names no target. */
static int
foreign_header(const struct answer *a, char *const *targets,
    size_t ntargets, char **errp)
{
	const char *p;
	size_t b, n;
	char *q;

	for (b = 0; b < a->nblocks; b++) {
		if (!block_header(a, b, &p, &n) || !path_like(p, n) ||
		    target_index(p, n, targets, ntargets) < ntargets)
			continue;
		q = quote(p, n);
		xasprintf(errp, "answer names '%s', which is not a target of "
		    "this task", q);
		free(q);
		return -1;
	}
	return 0;
}

/* Form 1: headers naming targets.  Returns 1 and fills sp when the answer
 * is in this form, 0 when no header names a target, -1 on a bad answer. */
static int
form_named(const struct answer *a, char *const *targets, size_t ntargets,
    struct span *sp, char **errp)
{
	const char *p;
	size_t b, n, t;

	for (b = 0; b < a->nblocks; b++)
		if (block_header(a, b, &p, &n) &&
		    target_index(p, n, targets, ntargets) < ntargets)
			break;
	if (b == a->nblocks)
		return 0;
	if (foreign_header(a, targets, ntargets, errp) == -1)
		return -1;

	for (b = 0; b < a->nblocks; b++) {
		if (!block_header(a, b, &p, &n))
			continue;
		if ((t = target_index(p, n, targets, ntargets)) == ntargets)
			continue;
		if (sp[t].set) {
			xasprintf(errp, "answer has more than one block for "
			    "'%s'", targets[t]);
			return -1;
		}
		sp[t].first = a->blocks[b].open + 1;
		sp[t].end = a->blocks[b].close;
		sp[t].set = 1;
	}

	for (t = 0; t < ntargets; t++) {
		if (!sp[t].set) {
			xasprintf(errp, "answer has no block for '%s'",
			    targets[t]);
			return -1;
		}
	}
	return 1;
}

/* The number of non-blank lines from first up to end. */
static size_t
count_text(const struct answer *a, size_t first, size_t end)
{
	size_t i, n;

	n = 0;
	for (i = first; i < end; i++)
		if (!line_blank(&a->lines[i]))
			n++;
	return n;
}

/* Forms 2 and 3, for a single target: one block with little prose
 * around it, or no fence at all.  The answer is known not to be blank. */
static int
form_single(const struct answer *a, struct span *sp, char **errp)
{
	size_t before, after;

	if (a->nblocks == 0) {
		sp->first = 0;
		while (line_blank(&a->lines[sp->first]))
			sp->first++;
		sp->end = a->nlines;
		while (line_blank(&a->lines[sp->end - 1]))
			sp->end--;
		sp->set = 1;
		return 0;
	}
	if (a->nblocks > 1) {
		xasprintf(errp, "answer has %zu fenced blocks and no file "
		    "names; expected each target's path on a line before its "
		    "block", a->nblocks);
		return -1;
	}

	before = count_text(a, 0, a->blocks[0].open);
	after = count_text(a, a->blocks[0].close + 1, a->nlines);
	if (before > 1 || after > 1) {
		xasprintf(errp, "answer fits none of the forms: its fenced "
		    "block has %zu lines of text before it and %zu after (at "
		    "most 1 each); expected the target's path on the line "
		    "before its block", before, after);
		return -1;
	}
	sp->first = a->blocks[0].open + 1;
	sp->end = a->blocks[0].close;
	sp->set = 1;
	return 0;
}

/* Decide which lines make up each target. */
static int
choose(const struct answer *a, char *const *targets, size_t ntargets,
    struct span *sp, char **errp)
{
	int r;

	if (count_text(a, 0, a->nlines) == 0) {
		xasprintf(errp, "answer is empty");
		return -1;
	}
	if ((r = form_named(a, targets, ntargets, sp, errp)) != 0)
		return r < 0 ? -1 : 0;
	if (foreign_header(a, targets, ntargets, errp) == -1)
		return -1;
	if (ntargets > 1) {
		xasprintf(errp, "answer does not name the targets");
		return -1;
	}
	return form_single(a, sp, errp);
}

/* Copy each target's lines out, each with an LF. */
static void
fill(const struct answer *a, const struct span *sp, size_t ntargets,
    struct extract_file *out)
{
	struct buf b;
	size_t t, i;

	for (t = 0; t < ntargets; t++) {
		memset(&b, 0, sizeof b);
		for (i = sp[t].first; i < sp[t].end; i++) {
			buf_add(&b, a->lines[i].p, a->lines[i].len);
			buf_addc(&b, '\n');
		}
		out[t].len = b.len;
		out[t].data = buf_detach(&b);
	}
}

int
extract_answer(const char *answer, size_t len, char *const *targets,
    size_t ntargets, struct extract_file *out, char **errp)
{
	struct answer a;
	struct span *sp;
	int rc;

	if (ntargets == 0) {
		xasprintf(errp, "task has no targets to extract");
		return -1;
	}
	if (answer == NULL)
		len = 0;

	memset(&a, 0, sizeof a);
	split_lines(answer, len, &a);
	sp = xcalloc(ntargets, sizeof *sp);
	rc = find_blocks(&a, errp);
	if (rc == 0)
		rc = choose(&a, targets, ntargets, sp, errp);
	if (rc == 0)
		fill(&a, sp, ntargets, out);

	free(sp);
	free(a.blocks);
	free(a.lines);
	return rc;
}
