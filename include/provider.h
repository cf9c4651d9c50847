/* provider: asking a model.  Starts requests on the endpoint's wire
 * (HTTP for Anthropic and OpenAI-compatible APIs, a child process for
 * cmd:), decodes the answers as they stream in, classifies failures,
 * and keeps each endpoint under its limits.  The scheduler sees only
 * "send" and "this request ended, with a reply or a classified error". */
#ifndef PM_PROVIDER_H
#define PM_PROVIDER_H

#include <stddef.h>

#include "cache.h"
#include "config.h"
#include "util.h"

struct provider;
struct spec;

/* How a failed request should be handled. */
enum fail_kind {
	FAIL_FATAL,		/* never retry: 4xx, a bad request */
	FAIL_RETRY,		/* retry with backoff: 429, 5xx, 529, network,
				 * a stall, a broken answer */
	FAIL_STOP		/* stop the whole build: a spend cap or an
				 * exhausted quota */
};

/* Why an answer ended. */
enum stop_kind {
	STOP_END,		/* it is whole: end_turn, stop, ... */
	STOP_LIMIT,		/* cut at max_tokens (or "length") */
	STOP_CONTEXT,		/* it filled the model's context window */
	STOP_OTHER		/* refusal, content_filter, tool_use, ... */
};

struct reply {
	char		*text;		/* owned: the text blocks, joined */
	size_t		 len;
	char		*stop;		/* owned: stop_reason/finish_reason */
	int		 stop_kind;	/* enum stop_kind */
	char		*model;		/* owned: the model that answered */
	struct usage	 usage;
	long		 write_1h;	/* of usage.cache_write, 1 h ones */
	double		 cost;		/* USD, or -1 when unknown */
	char		*warning;	/* owned: a warning, or NULL */
	char		*note;		/* owned: something to tell under -v */
	char		*reqid;		/* owned: the request id, or NULL */
};

/* How one request ended. */
struct outcome {
	void		*udata;		/* as given to provider_send() */
	int		 ok;		/* reply is filled, else err */
	struct reply	 reply;
	char		*err;		/* owned: the provider's error type,
					 * words and request id */
	int		 kind;		/* enum fail_kind */
	double		 retry_after;	/* seconds the server asks, or -1 */
	int		 throttled;	/* a rate limit of an endpoint the
					 * server or planmake holds back */
	double		 seconds;	/* time taken */
};

typedef void	(*provider_done_fn)(struct outcome *o, void *arg);

/* The transports and the endpoints' limits.  jobs is -j. */
struct provider	*provider_new(int jobs);
/* Abort every request and kill every command (SIGTERM, then SIGKILL). */
void		 provider_free(struct provider *pv);
/* Start one attempt of the request body (request_wire_body()) for s.
 * Returns 0 when it started; 1 when the endpoint is at a limit, with
 * *waitp the seconds to wait before trying again; -1 and *errp when it
 * cannot be sent at all.  udata comes back in the outcome. */
int		 provider_send(struct provider *pv, const struct spec *s,
		    const char *body, void *udata, double *waitp,
		    char **errp);
/* Wait up to ms milliseconds for progress on every request and command,
 * then call done for each that ended.  done owns nothing: the outcome
 * is freed after it returns.  Returns the number still going. */
int		 provider_poll(struct provider *pv, int ms,
		    provider_done_fn done, void *arg);
/* Requests and commands going. */
int		 provider_running(const struct provider *pv);

/* Price of usage on model in USD, of which write_1h cache-write tokens
 * had the 1 h lifetime, or -1 when the model has no price. */
double		 provider_cost(const char *model, const struct usage *u,
		    long write_1h);
void		 reply_clear(struct reply *r);
void		 outcome_clear(struct outcome *o);

/* Decoding an answer, exposed for the tests.  What the transport saw. */
struct answer_meta {
	long		 status;	/* 0: no HTTP answer */
	const char	*neterr;	/* why the transfer failed, or NULL */
	int		 stalled;
	int		 connect_failed;
	double		 seconds;
	size_t		 sent;		/* bytes of request body */
	/* The value of a response header, or NULL. */
	const char	*(*header)(const void *harg, const char *name);
	const void	*harg;
};

struct decoder;

/* A decoder for an answer on s's wire; free with decoder_free(). */
struct decoder	*decoder_new(const struct spec *s);
/* Take the next n bytes of the body (status and content type as the
 * transport has them).  Server-sent events are parsed as they come. */
void		 decoder_feed(struct decoder *d, long status,
		    const char *ctype, const char *p, size_t n);
/* The outcome, once the transfer has ended.  Fills o (zeroed first). */
void		 decoder_finish(struct decoder *d, const struct answer_meta *m,
		    struct outcome *o);
void		 decoder_free(struct decoder *d);

/* Seconds a retry-after-ms or retry-after header value asks for (a
 * number of seconds or an HTTP date), or -1. */
double		 provider_retry_after(const char *ms, const char *secs);

/* Join the continuation part (n bytes) to the answer so far, acc.  A
 * model given a prefill goes on exactly; one asked in a new user turn
 * may open the cut fence again (a header and fence line with more
 * after them), start the file over, or repeat the text before the cut:
 * those are undone.  last: the part ended the answer, so nothing but
 * white space in it is fine.  -1 and *errp (acc unchanged) when the
 * join is not clean: nothing new came (and not last), or the part
 * repeats the text at the cut (the block it fell in, or the last
 * paragraph) instead of going on. */
int		 provider_join(struct buf *acc, const char *part, size_t n,
		    int prefill, int last, char **errp);

#endif
