#include "sse.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define SSE_MAXLINE	(64u * 1024 * 1024)

void
sse_init(struct sse *p, sse_event_fn fn, void *arg, size_t maxline)
{
	memset(p, 0, sizeof(*p));
	p->fn = fn;
	p->arg = arg;
	p->maxline = maxline ? maxline : SSE_MAXLINE;
}

void
sse_clear(struct sse *p)
{
	buf_free(&p->line);
	buf_free(&p->data);
	free(p->event);
	p->event = NULL;
}

/* A blank line: hand the event over, if it had data, and reset. */
static int
dispatch(struct sse *p)
{
	int rc = 0;

	if (p->ndata > 0)
		rc = p->fn(p->arg, p->event ? p->event : "message",
		    p->data.data ? p->data.data : "", p->data.len);
	p->data.len = 0;
	if (p->data.data)
		p->data.data[0] = '\0';
	p->ndata = 0;
	free(p->event);
	p->event = NULL;
	return rc;
}

/* One complete line (without its end): a field, a comment or a blank. */
static int
line_done(struct sse *p, const char *s, size_t n)
{
	const char *colon, *v;
	size_t k, vn;

	if (n == 0)
		return dispatch(p);
	if (s[0] == ':')
		return 0;			/* a comment, e.g. keep-alive */
	colon = memchr(s, ':', n);
	k = colon ? (size_t)(colon - s) : n;
	v = colon ? colon + 1 : s + n;
	vn = colon ? n - k - 1 : 0;
	if (vn > 0 && *v == ' ')
		v++, vn--;
	if (k == 4 && memcmp(s, "data", 4) == 0) {
		if (p->ndata++ > 0)
			buf_addc(&p->data, '\n');
		buf_add(&p->data, v, vn);
	} else if (k == 5 && memcmp(s, "event", 5) == 0) {
		free(p->event);
		p->event = xstrndup(v, vn);
	}
	/* id, retry and unknown fields are ignored */
	return 0;
}

int
sse_feed(struct sse *p, const char *buf, size_t n)
{
	const char *end = buf + n, *q;
	size_t i, run;

	if (p->stopped)
		return -1;
	if (!p->started && n > 0) {
		/* A UTF-8 byte-order mark may open the stream, possibly
		 * split across calls; it is dropped. */
		static const char bom[] = "\xEF\xBB\xBF";

		for (i = p->line.len; i < 3 && buf < end; i++) {
			if (*buf != bom[i])
				break;
			buf_addc(&p->line, *buf++);
		}
		if (i < 3 && buf < end) {
			/* not a mark after all: the bytes are text */
			p->started = 1;
		} else if (i == 3) {
			p->started = 1;
			p->line.len = 0;
		} else
			return 0;	/* still undecided */
	}
	while (buf < end) {
		if (p->cr) {
			p->cr = 0;
			if (*buf == '\n') {	/* the LF of a CRLF */
				buf++;
				continue;
			}
		}
		for (q = buf; q < end && *q != '\n' && *q != '\r'; q++)
			;
		run = (size_t)(q - buf);
		if (p->line.len + run > p->maxline) {
			p->stopped = 1;
			return -1;
		}
		if (q == end) {
			buf_add(&p->line, buf, run);
			break;
		}
		if (*q == '\r')
			p->cr = 1;
		if (p->line.len > 0) {
			buf_add(&p->line, buf, run);
			if (line_done(p, p->line.data, p->line.len) == -1)
				p->stopped = 1;
			p->line.len = 0;
		} else if (line_done(p, buf, run) == -1)
			p->stopped = 1;
		if (p->stopped)
			return -1;
		buf = q + 1;
	}
	return 0;
}
