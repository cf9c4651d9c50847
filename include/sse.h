/* sse: an incremental parser for server-sent events (text/event-stream),
 * fed the bytes of a response as they arrive, in pieces of any size. */
#ifndef PM_SSE_H
#define PM_SSE_H

#include <stddef.h>

#include "util.h"

/* Called once per complete event: its name ("message" when the stream
 * gave none) and its data lines joined with "\n" (NUL-terminated, len
 * bytes).  Both are valid during the call only.  Return 0 to go on, -1 to
 * stop the parser: sse_feed() then returns -1 at once and forever. */
typedef int	(*sse_event_fn)(void *arg, const char *event, const char *data,
		    size_t len);

struct sse {
	sse_event_fn	 fn;
	void		*arg;
	struct buf	 line;		/* the line being read */
	struct buf	 data;		/* data lines of the event so far */
	char		*event;		/* owned: its event field, or NULL */
	int		 ndata;		/* data lines seen */
	int		 cr;		/* the last byte was a CR */
	int		 started;	/* past a leading byte-order mark */
	int		 stopped;	/* fn said -1, or a line too long */
	size_t		 maxline;	/* longest line accepted */
};

/* Start a parser calling fn(arg, ...) for each event.  Lines longer than
 * maxline bytes (0: 64 MiB) stop it. */
void	sse_init(struct sse *p, sse_event_fn fn, void *arg, size_t maxline);
/* Parse n more bytes.  Returns 0, or -1 once the callback stopped the
 * parser or a line was too long. */
int	sse_feed(struct sse *p, const char *buf, size_t n);
/* Free what the parser holds.  An event without its closing blank line
 * is dropped, as the format says. */
void	sse_clear(struct sse *p);

#endif
