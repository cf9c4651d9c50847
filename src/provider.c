#include "provider.h"

#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "proc.h"
#include "request.h"
#include "sse.h"
#include "util.h"

extern char	**environ;

#define MAXRAW		(64u * 1024 * 1024)	/* bytes of a plain body */
#define SLOT_WAIT	0.05	/* poll for a free slot this often, s */
#define QUIET		60.0	/* s without a 429 before cwnd passes it */
#define CUT_WINDOW	4096	/* bytes before a cut a repeat is sought in */
#define RESET_MARGIN	0.05	/* wait this much past a limit's reset, s */

/* The limits of one endpoint, as the run has learnt them. */
struct limiter {
	char		*name;		/* owned */
	int		 inflight;
	int		 cap;		/* configured concurrency, or 0 */
	double		 cwnd;		/* requests allowed now; 0: no limit */
	double		 grow;		/* progress toward cwnd + 1 */
	double		 rpm;		/* configured requests a minute */
	double		 next_start;	/* rpm: the next start, monotonic */
	double		 hold_until;	/* nothing starts before, monotonic */
	double		 last_cut;	/* when cwnd was last halved */
	double		 ceiling;	/* cwnd at the last cut, or 0 */
	long		 advertised;	/* requests-limit header, or 0 */
	struct limiter	*next;
};

/* Why planmake killed a command. */
enum cmd_kill {
	KILL_NONE,
	KILL_STALL,		/* no byte for stall_timeout s */
	KILL_BIG,		/* printed more than max_answer_bytes */
};

/* One request or command going. */
struct preq {
	struct provider		*pv;
	const struct spec	*s;		/* borrowed from the caller */
	void			*udata;
	struct decoder		*dec;		/* HTTP: the answer so far */
	struct proc		*proc;		/* cmd: the command */
	int			 killed;	/* enum cmd_kill */
	struct limiter		*lim;
	double			 start;
	size_t			 sent;		/* bytes of body */
	struct preq		*next;		/* the list it is on */
};

struct provider {
	struct http		*http;
	struct preq		*procs;		/* commands going */
	struct preq		*reqs;		/* HTTP requests going */
	int			 nhttp;
	int			 nprocs;
	int			 jobs;
	struct limiter		*lims;
	provider_done_fn	 done;		/* during provider_poll() */
	void			*done_arg;
};

/* The answer being decoded. */
struct decoder {
	const struct spec	*s;
	int			 mode;		/* 0 unknown, 1 SSE, 2 plain */
	struct sse		 sse;
	struct buf		 raw;		/* a plain body */
	int			 rawcut;	/* it was over MAXRAW */
	struct buf		 text;
	char			*stop;
	char			*model;
	struct usage		 u;
	long			 w1h;
	int			 have_usage;
	int			 done;		/* message_stop or [DONE] */
	size_t			 nevents;
	char			*bad;		/* why the stream is bad */
	char			*etype;		/* an error event */
	char			*emsg;
	char			*ecode;
	long			 estatus;
};

/* Prices. */

double
provider_cost(const char *model, const struct usage *u, long write_1h)
{
	double r[NRATES];
	long w5;

	if (!config_price(model, r))
		return -1;
	w5 = u->cache_write - write_1h;
	if (w5 < 0)
		w5 = 0;
	return ((double)u->in * r[RATE_IN] + (double)w5 * r[RATE_WRITE_5M] +
	    (double)write_1h * r[RATE_WRITE_1H] +
	    (double)u->cache_read * r[RATE_READ] +
	    (double)u->out * r[RATE_OUT]) / 1e6;
}

void
reply_clear(struct reply *r)
{
	free(r->text);
	free(r->stop);
	free(r->model);
	free(r->warning);
	free(r->note);
	free(r->reqid);
	memset(r, 0, sizeof(*r));
}

void
outcome_clear(struct outcome *o)
{
	reply_clear(&o->reply);
	free(o->err);
	memset(o, 0, sizeof(*o));
}

/* Small helpers. */

/* Whether haystack contains needle, ignoring case. */
static int
has_words(const char *haystack, const char *needle)
{
	size_t n = strlen(needle);

	if (haystack == NULL)
		return 0;
	for (; *haystack; haystack++)
		if (strncasecmp(haystack, needle, n) == 0)
			return 1;
	return 0;
}

static long
jlong(json_t *o, const char *name, int *present)
{
	json_t *v = json_object_get(o, name);

	if (!json_is_integer(v))
		return 0;
	if (present)
		*present = 1;
	return (long)json_integer_value(v);
}

/* A JSON string or integer as text, or NULL.  The caller frees it. */
static char *
jtext(json_t *v)
{
	char *s;

	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v)) {
		xasprintf(&s, "%lld", (long long)json_integer_value(v));
		return s;
	}
	return NULL;
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

double
provider_retry_after(const char *ms, const char *secs)
{
	struct timespec ts;
	double d, t;
	char *end;

	if (ms != NULL) {
		d = strtod(ms, &end);
		if (end != ms && *end == '\0' && d >= 0 && isfinite(d))
			return d / 1000;
	}
	if (secs == NULL)
		return -1;
	d = strtod(secs, &end);
	if (end != secs && *end == '\0' && d >= 0 && isfinite(d))
		return d;
	if ((t = http_date(secs)) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	d = t - ((double)ts.tv_sec + ts.tv_nsec / 1e9);
	return d > 0 ? d : 0;
}

/* Decoding answers. */

struct decoder *
decoder_new(const struct spec *s)
{
	struct decoder *d;

	d = xcalloc(1, sizeof(*d));
	d->s = s;
	return d;
}

void
decoder_free(struct decoder *d)
{
	if (d == NULL)
		return;
	sse_clear(&d->sse);
	buf_free(&d->raw);
	buf_free(&d->text);
	free(d->stop);
	free(d->model);
	free(d->bad);
	free(d->etype);
	free(d->emsg);
	free(d->ecode);
	free(d);
}

/* Take the Anthropic usage object u: every count it has replaces ours
 * (message_delta's counts are running totals, not increments). */
static void
usage_anthropic(struct decoder *d, json_t *u)
{
	int p = 0;
	long v;

	if (!json_is_object(u))
		return;
	v = jlong(u, "input_tokens", &p);
	if (p)
		d->u.in = v;
	p = 0;
	v = jlong(u, "output_tokens", &p);
	if (p)
		d->u.out = v;
	p = 0;
	v = jlong(u, "cache_creation_input_tokens", &p);
	if (p)
		d->u.cache_write = v;
	p = 0;
	v = jlong(u, "cache_read_input_tokens", &p);
	if (p)
		d->u.cache_read = v;
	p = 0;
	v = jlong(json_object_get(u, "cache_creation"),
	    "ephemeral_1h_input_tokens", &p);
	if (p)
		d->w1h = v;
	d->have_usage = 1;
}

/* Take the OpenAI usage object u.  prompt_tokens includes the cached
 * tokens, which are moved to cache_read. */
static void
usage_openai(struct decoder *d, json_t *u)
{
	if (!json_is_object(u))
		return;
	d->u.out = jlong(u, "completion_tokens", NULL);
	d->u.cache_read = jlong(json_object_get(u, "prompt_tokens_details"),
	    "cached_tokens", NULL);
	d->u.in = jlong(u, "prompt_tokens", NULL) - d->u.cache_read;
	if (d->u.in < 0)
		d->u.in = 0;
	d->have_usage = 1;
}

/* Keep the error object e (or error string) of an answer. */
static void
take_error(struct decoder *d, json_t *e)
{
	json_t *det;

	if (json_is_string(e)) {
		set_str(&d->emsg, json_string_value(e));
		return;
	}
	set_str(&d->etype, json_string_value(json_object_get(e, "type")));
	set_str(&d->emsg, json_string_value(json_object_get(e, "message")));
	det = json_object_get(e, "details");
	free(d->ecode);
	d->ecode = jtext(json_object_get(det, "error_code"));
	if (d->ecode == NULL)
		d->ecode = jtext(json_object_get(e, "code"));
	if (json_is_integer(json_object_get(e, "code")))
		d->estatus = (long)json_integer_value(json_object_get(e,
		    "code"));
	if (d->etype == NULL && d->emsg == NULL)
		set_str(&d->emsg, "(no message)");
}

static void
add_text(struct decoder *d, json_t *v)
{
	if (json_is_string(v))
		buf_add(&d->text, json_string_value(v), json_string_length(v));
}

/* One event of an Anthropic stream. */
static void
anthropic_event(struct decoder *d, const char *event, json_t *root)
{
	const char *type;
	json_t *m, *b;

	if ((type = json_string_value(json_object_get(root, "type"))) == NULL)
		type = event;
	if (strcmp(type, "message_start") == 0) {
		m = json_object_get(root, "message");
		if (json_is_string(json_object_get(m, "model")))
			set_str(&d->model, json_string_value(json_object_get(m,
			    "model")));
		usage_anthropic(d, json_object_get(m, "usage"));
	} else if (strcmp(type, "content_block_start") == 0) {
		b = json_object_get(root, "content_block");
		type = json_string_value(json_object_get(b, "type"));
		if (type && strcmp(type, "text") == 0)
			add_text(d, json_object_get(b, "text"));
	} else if (strcmp(type, "content_block_delta") == 0) {
		b = json_object_get(root, "delta");
		type = json_string_value(json_object_get(b, "type"));
		if (type && strcmp(type, "text_delta") == 0)
			add_text(d, json_object_get(b, "text"));
		/* thinking_delta, signature_delta, input_json_delta: not
		 * part of the answer */
	} else if (strcmp(type, "message_delta") == 0) {
		b = json_object_get(root, "delta");
		if (json_is_string(json_object_get(b, "stop_reason")))
			set_str(&d->stop, json_string_value(json_object_get(b,
			    "stop_reason")));
		usage_anthropic(d, json_object_get(root, "usage"));
	} else if (strcmp(type, "message_stop") == 0)
		d->done = 1;
	else if (strcmp(type, "error") == 0)
		take_error(d, json_object_get(root, "error"));
	/* ping, content_block_stop and new types are ignored */
}

/* One chunk of an OpenAI stream. */
static void
openai_chunk(struct decoder *d, json_t *root)
{
	json_t *choice, *v;

	if ((v = json_object_get(root, "error")) != NULL) {
		take_error(d, v);
		return;
	}
	if (json_is_string(json_object_get(root, "model")))
		set_str(&d->model, json_string_value(json_object_get(root,
		    "model")));
	choice = json_array_get(json_object_get(root, "choices"), 0);
	add_text(d, json_object_get(json_object_get(choice, "delta"),
	    "content"));
	if (json_is_string(v = json_object_get(choice, "finish_reason")))
		set_str(&d->stop, json_string_value(v));
	if (json_is_object(v = json_object_get(root, "usage")))
		usage_openai(d, v);
}

/* The SSE parser's callback: one event. */
static int
on_event(void *arg, const char *event, const char *data, size_t len)
{
	struct decoder *d = arg;
	json_t *root;

	d->nevents++;
	if (d->s->wire == WIRE_OPENAI && len == 6 &&
	    memcmp(data, "[DONE]", 6) == 0) {
		d->done = 1;
		return 0;
	}
	root = json_loadb(data, len, 0, NULL);
	if (!json_is_object(root)) {
		if (d->bad == NULL)
			xasprintf(&d->bad, "event %zu ('%s') is not a JSON "
			    "object: %.60s", d->nevents, event, data);
		json_decref(root);
		return 0;
	}
	if (d->s->wire == WIRE_ANTHROPIC)
		anthropic_event(d, event, root);
	else
		openai_chunk(d, root);
	json_decref(root);
	return 0;
}

void
decoder_feed(struct decoder *d, long status, const char *ctype,
    const char *p, size_t n)
{
	if (d->mode == 0) {
		d->mode = 2;
		if (status / 100 == 2 && ctype != NULL &&
		    strncasecmp(ctype, "text/event-stream", 17) == 0) {
			d->mode = 1;
			sse_init(&d->sse, on_event, d, 0);
		}
	}
	if (d->mode == 1) {
		if (sse_feed(&d->sse, p, n) == -1 && d->bad == NULL)
			xasprintf(&d->bad, "a line of the stream is too long");
		return;
	}
	if (d->raw.len + n > MAXRAW) {
		d->rawcut = 1;
		return;
	}
	buf_add(&d->raw, p, n);
}

/* The text blocks of a whole Anthropic message. */
static int
plain_anthropic(struct decoder *d, json_t *root)
{
	json_t *content, *block;
	const char *type;
	size_t i;

	content = json_object_get(root, "content");
	if (!json_is_array(content))
		return -1;
	json_array_foreach(content, i, block) {
		type = json_string_value(json_object_get(block, "type"));
		if (type && strcmp(type, "text") == 0)
			add_text(d, json_object_get(block, "text"));
	}
	set_str(&d->stop, json_string_value(json_object_get(root,
	    "stop_reason")));
	usage_anthropic(d, json_object_get(root, "usage"));
	return 0;
}

/* The first choice of a whole OpenAI chat completion. */
static int
plain_openai(struct decoder *d, json_t *root)
{
	json_t *choice, *msg, *v;

	choice = json_array_get(json_object_get(root, "choices"), 0);
	msg = json_object_get(choice, "message");
	v = json_object_get(msg, "content");
	if (!json_is_object(msg) || !(json_is_string(v) || json_is_null(v)))
		return -1;
	add_text(d, v);
	set_str(&d->stop, json_string_value(json_object_get(choice,
	    "finish_reason")));
	usage_openai(d, json_object_get(root, "usage"));
	return 0;
}

/* Fail o with kind and a message. */
static void PM_PRINTF(3, 4)
fail(struct outcome *o, int kind, const char *fmt, ...)
{
	struct buf b = { 0 };
	va_list ap;
	char m[2048];

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	buf_addstr(&b, m);
	free(o->err);
	o->err = buf_detach(&b);
	o->kind = kind;
	o->ok = 0;
}

/* " (request ID)" or "". */
static const char *
reqid_text(const char *reqid, char *tmp, size_t n)
{
	if (reqid == NULL)
		return "";
	snprintf(tmp, n, " (request %s)", reqid);
	return tmp;
}

/* Whether the provider's words say a spending cap or a quota is used up:
 * no retry can pass until a person acts. */
static int
is_spend_cap(const struct decoder *d, long status, int has_retry_after)
{
	const char *code = d->ecode, *msg = d->emsg, *type = d->etype;

	if (code && (strstr(code, "spend_limit") != NULL ||
	    strcmp(code, "insufficient_quota") == 0))
		return 1;
	if (type && strcmp(type, "insufficient_quota") == 0)
		return 1;
	if (has_words(msg, "reached your specified") &&
	    has_words(msg, "usage limit"))
		return 1;
	if (status == 429 && d->s->wire == WIRE_ANTHROPIC && !has_retry_after &&
	    (has_words(msg, "usage limit") || has_words(msg, "spend limit")))
		return 1;
	return 0;
}

/* Whether the provider's words say the prompt is over the context. */
static int
is_overflow(const struct decoder *d)
{
	static const char *const words[] = {
		"prompt is too long", "maximum context length",
		"context length", "context size", "context window",
		"too many tokens",
	};
	size_t i;

	if (d->ecode && strcmp(d->ecode, "context_length_exceeded") == 0)
		return 1;
	if (d->etype && strcmp(d->etype, "exceed_context_size_error") == 0)
		return 1;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (has_words(d->emsg, words[i]))
			return 1;
	return 0;
}

/* The HTTP status that an error type stands for, for an error event. */
static long
etype_status(const char *type)
{
	static const struct {
		const char	*type;
		long		 status;
	} map[] = {
		{ "invalid_request_error", 400 },
		{ "authentication_error", 401 },
		{ "billing_error", 402 }, { "permission_error", 403 },
		{ "not_found_error", 404 }, { "request_too_large", 413 },
		{ "rate_limit_error", 429 }, { "api_error", 500 },
		{ "server_error", 500 }, { "timeout_error", 504 },
		{ "overloaded_error", 529 },
	};
	size_t i;

	for (i = 0; type && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].type, type) == 0)
			return map[i].status;
	return 500;
}

/* Fail o with the error the decoder holds (from the body or from an
 * event in the stream), classified. */
static void
error_outcome(struct decoder *d, const struct answer_meta *m, long status,
    const char *where, const char *reqid, struct outcome *o)
{
	const struct spec *s = d->s;
	struct buf b = { 0 };
	char tmp[128];
	int kind;

	buf_printf(&b, "%s: %s", s->provider, where);
	if (d->etype)
		buf_printf(&b, " %s", d->etype);
	if (d->emsg)
		buf_printf(&b, ": %s", d->emsg);
	else if (d->raw.len > 0 && d->mode == 2)
		buf_printf(&b, ": %.*s", (int)(d->raw.len > 200 ? 200 :
		    d->raw.len), d->raw.data);
	if (d->ecode && (d->etype == NULL || strcmp(d->ecode, d->etype) != 0))
		buf_printf(&b, " [%s]", d->ecode);
	buf_addstr(&b, reqid_text(reqid, tmp, sizeof(tmp)));

	if (is_spend_cap(d, status, o->retry_after >= 0)) {
		kind = FAIL_STOP;
		buf_addstr(&b, "; a spending limit or quota is used up, so no "
		    "request can pass until it is raised");
	} else if (status == 402) {
		kind = o->retry_after >= 0 ? FAIL_RETRY : FAIL_STOP;
		if (kind == FAIL_STOP)
			buf_addstr(&b, "; the account has no credit left");
	} else if (status >= 400 && status < 500 && status != 408 &&
	    status != 409 && status != 429 && is_overflow(d)) {
		kind = FAIL_FATAL;
		buf_printf(&b, "; the request (%zu bytes, about %zu tokens) "
		    "does not fit the context window of %s", m->sent,
		    m->sent / 4, s->model);
	} else if (status == 404) {
		kind = FAIL_FATAL;
		buf_printf(&b, "; the model '%s' may be retired or misspelled "
		    "(or the base URL %s is wrong)", s->model, s->base);
	} else if (status == 408 || status == 409 || status == 429 ||
	    status >= 500)
		kind = FAIL_RETRY;
	else
		kind = FAIL_FATAL;
	fail(o, kind, "%s", b.data);
	buf_free(&b);
}

/* Fill o's reply from what d decoded. */
static void
reply_outcome(struct decoder *d, const struct answer_meta *m,
    const char *reqid, struct outcome *o)
{
	const struct spec *s = d->s;
	struct reply *r = &o->reply;
	long reported;
	const char *st;

	o->ok = 1;
	r->len = d->text.len;
	r->text = buf_detach(&d->text);
	r->stop = d->stop ? xstrdup(d->stop) : NULL;
	st = r->stop ? r->stop : "";
	if (strcmp(st, "end_turn") == 0 || strcmp(st, "stop_sequence") == 0 ||
	    strcmp(st, "stop") == 0)
		r->stop_kind = STOP_END;
	else if (strcmp(st, "max_tokens") == 0 || strcmp(st, "length") == 0)
		r->stop_kind = STOP_LIMIT;
	else if (strcmp(st, "model_context_window_exceeded") == 0)
		r->stop_kind = STOP_CONTEXT;
	else
		r->stop_kind = STOP_OTHER;
	r->model = xstrdup(d->model ? d->model : s->model);
	r->usage = d->u;
	r->write_1h = d->w1h;
	r->cost = provider_cost(s->model, &d->u, d->w1h);
	r->reqid = reqid ? xstrdup(reqid) : NULL;
	reported = d->u.in + d->u.cache_read + d->u.cache_write;
	if (s->ep && s->ep->check_truncation && d->have_usage &&
	    m->sent / 4 >= 1000 && reported > 0 &&
	    (size_t)reported < m->sent / 8)
		xasprintf(&r->warning, "%s reported %ld prompt tokens for a "
		    "request of %zu bytes (about %zu tokens): the server may "
		    "have cut the prompt to its context window (for Ollama, "
		    "raise OLLAMA_CONTEXT_LENGTH or the model's num_ctx)",
		    s->provider, reported, m->sent, m->sent / 4);
}

/* A header of m, or NULL. */
static const char *
meta_header(const struct answer_meta *m, const char *name)
{
	return m->header ? m->header(m->harg, name) : NULL;
}

void
decoder_finish(struct decoder *d, const struct answer_meta *m,
    struct outcome *o)
{
	const struct spec *s = d->s;
	const char *reqid, *sr;
	char tmp[128];
	json_t *root;
	int rc;

	memset(o, 0, sizeof(*o));
	o->seconds = m->seconds;
	o->retry_after = provider_retry_after(meta_header(m, "retry-after-ms"),
	    meta_header(m, "retry-after"));
	if ((reqid = meta_header(m, "request-id")) == NULL)
		reqid = meta_header(m, "x-request-id");

	if (m->neterr != NULL || m->status == 0) {
		if (d->etype || d->emsg)
			error_outcome(d, m, d->estatus ? d->estatus :
			    etype_status(d->etype), "error event in the answer "
			    "stream:", reqid, o);
		else if (m->stalled)
			fail(o, FAIL_RETRY, "%s: the answer stalled: %s%s%s",
			    s->provider, m->neterr, d->nevents ? ", mid-stream"
			    : "", reqid_text(reqid, tmp, sizeof(tmp)));
		else if (m->connect_failed)
			fail(o, FAIL_RETRY, "%s: cannot connect to %s: %s",
			    s->provider, s->base, m->neterr ? m->neterr :
			    "no answer");
		else
			fail(o, FAIL_RETRY, "%s: the connection broke%s: %s%s",
			    s->provider, d->nevents || d->raw.len ?
			    " mid-answer" : "", m->neterr ? m->neterr :
			    "no answer", reqid_text(reqid, tmp, sizeof(tmp)));
		goto out;
	}
	if (m->status / 100 != 2) {
		root = json_loadb(d->raw.data ? d->raw.data : "", d->raw.len,
		    0, NULL);
		if (json_is_array(root)) {	/* Gemini wraps it in a list */
			json_t *first = json_incref(json_array_get(root, 0));

			json_decref(root);
			root = first;
		}
		if (json_is_object(root)) {
			if (json_object_get(root, "error") != NULL)
				take_error(d, json_object_get(root, "error"));
			else if (json_is_string(json_object_get(root,
			    "message")))
				take_error(d, root);
			if (reqid == NULL)
				reqid = json_string_value(json_object_get(root,
				    "request_id"));
		}
		snprintf(tmp, sizeof(tmp), "HTTP %ld", m->status);
		error_outcome(d, m, m->status, tmp, reqid, o);
		json_decref(root);
		goto out;
	}
	if (d->mode == 1) {
		if (d->etype || d->emsg)
			error_outcome(d, m, d->estatus ? d->estatus :
			    etype_status(d->etype), "error event in the answer "
			    "stream:", reqid, o);
		else if (d->bad)
			fail(o, FAIL_RETRY, "%s: the answer stream is "
			    "malformed: %s%s", s->provider, d->bad,
			    reqid_text(reqid, tmp, sizeof(tmp)));
		else if (!d->done && !(s->wire == WIRE_OPENAI && d->stop))
			fail(o, FAIL_RETRY, "%s: the answer stream ended "
			    "before its end (%zu events)%s", s->provider, d->nevents,
			    reqid_text(reqid, tmp, sizeof(tmp)));
		else
			reply_outcome(d, m, reqid, o);
		goto out;
	}
	root = d->rawcut ? NULL : json_loadb(d->raw.data ? d->raw.data : "",
	    d->raw.len, 0, NULL);
	if (root == NULL) {
		fail(o, FAIL_RETRY, "%s: the answer is neither JSON nor an "
		    "event stream (%zu bytes%s%s)%s", s->provider, d->raw.len,
		    meta_header(m, "content-type") ? ", " : "",
		    meta_header(m, "content-type") ? meta_header(m,
		    "content-type") : "", reqid_text(reqid, tmp, sizeof(tmp)));
		goto out;
	}
	if (json_is_object(json_object_get(root, "error"))) {
		take_error(d, json_object_get(root, "error"));
		error_outcome(d, m, d->estatus ? d->estatus :
		    etype_status(d->etype), "error in the answer:", reqid, o);
		json_decref(root);
		goto out;
	}
	if (json_is_string(json_object_get(root, "model")))
		set_str(&d->model, json_string_value(json_object_get(root,
		    "model")));
	rc = s->wire == WIRE_ANTHROPIC ? plain_anthropic(d, root) :
	    plain_openai(d, root);
	json_decref(root);
	if (rc == -1)
		fail(o, FAIL_RETRY, "%s: the answer has no message text%s",
		    s->provider, reqid_text(reqid, tmp, sizeof(tmp)));
	else
		reply_outcome(d, m, reqid, o);
out:
	/* The server's own word on retrying wins, but a used-up quota
	 * stops the build whatever it says. */
	sr = meta_header(m, "x-should-retry");
	if (!o->ok && sr && o->kind != FAIL_STOP) {
		if (strcmp(sr, "true") == 0)
			o->kind = FAIL_RETRY;
		else if (strcmp(sr, "false") == 0)
			o->kind = FAIL_FATAL;
	}
}

/* Endpoint limits. */

static struct limiter *
limiter_get(struct provider *pv, const struct spec *s)
{
	struct limiter *l;

	for (l = pv->lims; l; l = l->next)
		if (strcmp(l->name, s->provider) == 0)
			return l;
	l = xcalloc(1, sizeof(*l));
	l->name = xstrdup(s->provider);
	l->cap = s->ep ? s->ep->concurrency : 0;
	l->cwnd = l->cap;
	l->rpm = s->ep ? s->ep->rpm : 0;
	l->last_cut = -1;
	l->next = pv->lims;
	pv->lims = l;
	return l;
}

/* Seconds before l lets another request start, or 0 for now. */
static double
limiter_wait(const struct limiter *l)
{
	double now = now_mono();

	if (l->hold_until > now)
		return l->hold_until - now;
	if (l->rpm > 0 && l->next_start > now)
		return l->next_start - now;
	if (l->cwnd > 0 && l->inflight >= (int)l->cwnd)
		return SLOT_WAIT;
	/* More in flight than the window the server advertises can only
	 * earn 429s. */
	if (l->advertised > 0 && l->inflight >= l->advertised)
		return SLOT_WAIT;
	return 0;
}

/* Whether l is being throttled: held, or its concurrency lowered. */
static int
limiter_throttled(const struct limiter *l)
{
	return l->hold_until > now_mono() || l->cwnd > 0 ||
	    l->advertised > 0;
}

static void
limiter_start(struct limiter *l)
{
	double now = now_mono();

	l->inflight++;
	if (l->rpm > 0)
		l->next_start = (l->next_start > now ? l->next_start : now) +
		    60 / l->rpm;
}

/* Seconds in a duration such as "1s", "6m0s", "12ms" or "1.5". */
static double
duration(const char *s)
{
	double total = 0, v;
	char *end;

	while (*s) {
		v = strtod(s, &end);
		if (end == s)
			return -1;
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			v /= 1000;
			s += 2;
		} else if (*s == 's')
			s++;
		else if (*s == 'm') {
			v *= 60;
			s++;
		} else if (*s == 'h') {
			v *= 3600;
			s++;
		} else if (*s != '\0')
			return -1;
		total += v;
	}
	return total;
}

/* Unix time of an RFC 3339 timestamp ("2026-12-03T10:00:05.5Z"). */
static double
rfc3339(const char *s)
{
	int y, mo, d, h, mi, n = 0, oh, om;
	double sec, t;
	struct tm tm;
	char sign;

	if (sscanf(s, "%d-%d-%d%*[Tt ]%d:%d:%lf%n", &y, &mo, &d, &h, &mi,
	    &sec, &n) != 6 || n == 0)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	t = (double)timegm(&tm) + sec;
	s += n;
	if (*s == 'Z' || *s == 'z' || *s == '\0')
		return t;
	if (sscanf(s, "%c%d:%d", &sign, &oh, &om) != 3 ||
	    (sign != '+' && sign != '-'))
		return -1;
	return sign == '+' ? t - oh * 3600 - om * 60 : t + oh * 3600 + om * 60;
}

/* Hold l for wait seconds, as a 429 asked: no longer than maxwait (a
 * longer wait fails the task that got it and holds nothing), and one
 * status line when a hold begins. */
static void
limiter_hold(struct limiter *l, double wait, double maxwait, long status)
{
	double now = now_mono();

	if (wait > maxwait) {
		log_note("%s: HTTP %ld asks to wait %.0f s, over "
		    "retry_max_wait (%g s): the endpoint is not held",
		    l->name, status, wait, maxwait);
		return;
	}
	if (now + wait <= l->hold_until)
		return;
	if (l->hold_until <= now)
		log_status("%s: rate limited (HTTP %ld): its requests wait "
		    "%.1f s, as the server asks", l->name, status, wait);
	l->hold_until = now + wait;
}

/* Honour rate-limit headers: when one says nothing remains, nothing
 * starts on the endpoint until its reset (if that is within maxwait). */
static void
limiter_headers(struct limiter *l, const struct answer_meta *m,
    double maxwait)
{
	static const struct {
		const char	*remaining, *reset;
		int		 stamp;		/* RFC 3339, else a duration */
	} hs[] = {
		{ "anthropic-ratelimit-requests-remaining",
		    "anthropic-ratelimit-requests-reset", 1 },
		{ "anthropic-ratelimit-tokens-remaining",
		    "anthropic-ratelimit-tokens-reset", 1 },
		{ "anthropic-ratelimit-input-tokens-remaining",
		    "anthropic-ratelimit-input-tokens-reset", 1 },
		{ "anthropic-ratelimit-output-tokens-remaining",
		    "anthropic-ratelimit-output-tokens-reset", 1 },
		{ "x-ratelimit-remaining-requests",
		    "x-ratelimit-reset-requests", 0 },
		{ "x-ratelimit-remaining-tokens",
		    "x-ratelimit-reset-tokens", 0 },
	};
	static const char *const lims[] = {
		"anthropic-ratelimit-requests-limit",
		"x-ratelimit-limit-requests",
	};
	const char *rem, *reset;
	struct timespec ts;
	double wait, now = now_mono();
	size_t i;
	long v;
	char *end;

	for (i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		if ((rem = meta_header(m, lims[i])) == NULL)
			continue;
		v = strtol(rem, &end, 10);
		if (end != rem && *end == '\0' && v > 0)
			l->advertised = v;
	}
	for (i = 0; i < sizeof(hs) / sizeof(hs[0]); i++) {
		rem = meta_header(m, hs[i].remaining);
		reset = meta_header(m, hs[i].reset);
		if (rem == NULL || reset == NULL || strcmp(rem, "0") != 0)
			continue;
		if (hs[i].stamp) {
			if ((wait = rfc3339(reset)) < 0)
				continue;
			clock_gettime(CLOCK_REALTIME, &ts);
			wait -= (double)ts.tv_sec + ts.tv_nsec / 1e9;
		} else if ((wait = duration(reset)) < 0)
			continue;
		if (wait <= 0)
			continue;
		wait += RESET_MARGIN;	/* clocks and rounding differ */
		if (wait > maxwait)
			continue;	/* the 429s that follow will say */
		if (now + wait > l->hold_until) {
			l->hold_until = now + wait;
			log_note("%s: %s is 0: nothing more is sent for "
			    "%.1f s, until it resets", l->name,
			    hs[i].remaining, wait);
		}
	}
}

/* A request started at start ended: on a rate limit, halve what the
 * endpoint may have in flight (once per round of requests) and hold it
 * as long as the server asked; on success let it grow by one request
 * per round that succeeds. */
static void
limiter_done(struct limiter *l, int jobs, double start, long status,
    double maxwait, struct outcome *o)
{
	double now = now_mono(), eff;

	l->inflight--;
	if (!o->ok && o->kind == FAIL_RETRY && (status == 429 ||
	    status == 529)) {
		/* The server says when to come back, or the endpoint was
		 * already being slowed: waiting is the cure, not a sign the
		 * task is broken. */
		o->throttled = status == 429 && (o->retry_after > 0 ||
		    limiter_throttled(l));
		if (o->retry_after > 0)
			limiter_hold(l, o->retry_after, maxwait, status);
		if (start < l->last_cut)
			return;		/* sent before the last cut */
		eff = l->inflight + 1;
		if (l->cwnd > 0 && l->cwnd < eff)
			eff = l->cwnd;
		l->ceiling = eff;
		l->cwnd = floor(eff / 2);
		if (l->cwnd < 1)
			l->cwnd = 1;
		l->grow = 0;
		l->last_cut = now;
		log_note("%s: HTTP %ld: %d request%s at a time for now",
		    l->name, status, (int)l->cwnd, l->cwnd == 1 ? "" : "s");
		return;
	}
	if (!o->ok || l->cwnd <= 0)
		return;
	/* Not back to where the last 429 came until a quiet while has
	 * passed: probing it again only earns more. */
	if (l->ceiling > 0 && l->cwnd + 1 >= l->ceiling &&
	    now - l->last_cut < QUIET)
		return;
	l->grow += 1 / l->cwnd;
	if (l->grow >= 1) {
		l->grow = 0;
		l->cwnd += 1;
	}
	if (l->cap > 0 && l->cwnd > l->cap)
		l->cwnd = l->cap;
	if (l->cap == 0 && l->cwnd >= jobs)
		l->cwnd = 0;		/* back to no limit but -j */
}

/* The transports. */

struct provider *
provider_new(int jobs)
{
	struct provider *pv;

	pv = xcalloc(1, sizeof(*pv));
	pv->http = http_new();
	pv->jobs = jobs;
	return pv;
}

void
provider_free(struct provider *pv)
{
	struct limiter *l;
	struct preq *q;

	if (pv == NULL)
		return;
	http_free(pv->http);	/* aborts the transfers */
	while ((q = pv->reqs) != NULL) {
		pv->reqs = q->next;
		decoder_free(q->dec);
		free(q);
	}
	while ((q = pv->procs) != NULL) {
		pv->procs = q->next;
		proc_free(q->proc);
		free(q);
	}
	while ((l = pv->lims) != NULL) {
		pv->lims = l->next;
		free(l->name);
		free(l);
	}
	free(pv);
}

int
provider_running(const struct provider *pv)
{
	return pv != NULL ? pv->nhttp + pv->nprocs : 0;
}

static int
sink(void *udata, long status, const char *ctype, const char *p, size_t n)
{
	struct preq *q = udata;

	decoder_feed(q->dec, status, ctype, p, n);
	return 0;
}

static const char *
result_header(const void *arg, const char *name)
{
	return http_header(arg, name);
}

/* An HTTP request ended. */
static void
on_http_done(const struct http_result *res, void *arg)
{
	struct provider *pv = arg;
	struct preq *q = res->udata, **qp;
	struct answer_meta m;
	struct outcome o;

	for (qp = &pv->reqs; *qp && *qp != q; qp = &(*qp)->next)
		;
	if (*qp)
		*qp = q->next;
	memset(&m, 0, sizeof(m));
	m.status = res->status;
	m.neterr = res->neterr;
	m.stalled = res->stalled;
	m.connect_failed = res->connect_failed;
	m.seconds = res->seconds;
	m.sent = q->sent;
	m.header = result_header;
	m.harg = res;
	decoder_finish(q->dec, &m, &o);
	limiter_headers(q->lim, &m, q->s->retry_max_wait);
	limiter_done(q->lim, pv->jobs, q->start, res->status,
	    q->s->retry_max_wait, &o);
	o.udata = q->udata;
	pv->nhttp--;
	pv->done(&o, pv->done_arg);
	outcome_clear(&o);
	decoder_free(q->dec);
	free(q);
}

/* Start an HTTP request. */
static int
send_http(struct provider *pv, struct preq *q, const char *body, char **errp)
{
	const struct spec *s = q->s;
	struct http_opts ho;
	const char *hdrs[6], *key = NULL;
	char *url, *auth = NULL;
	int i = 0, rc;

	if (s->keyvar && ((key = getenv(s->keyvar)) == NULL || *key == '\0')) {
		xasprintf(errp, "%s is not set", s->keyvar);
		return -1;
	}
	if (s->wire == WIRE_ANTHROPIC) {
		xasprintf(&url, "%s/v1/messages", s->base);
		xasprintf(&auth, "x-api-key: %s", key ? key : "");
		hdrs[i++] = auth;
		hdrs[i++] = "anthropic-version: 2023-06-01";
	} else {
		xasprintf(&url, "%s/chat/completions", s->base);
		/* Local servers need no key, but clients send one. */
		xasprintf(&auth, "Authorization: Bearer %s", key ? key :
		    "planmake");
		hdrs[i++] = auth;
	}
	hdrs[i++] = "content-type: application/json";
	if (s->ep && s->ep->stream)
		hdrs[i++] = "accept: text/event-stream";
	hdrs[i] = NULL;
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = s->connect_timeout;
	ho.stall_timeout = s->stall_timeout;
	ho.sink = sink;
	q->dec = decoder_new(s);
	rc = http_post(pv->http, url, hdrs, body, &ho, q, errp);
	memset(auth, 0, strlen(auth));		/* holds the key */
	free(auth);
	free(url);
	if (rc == -1) {
		decoder_free(q->dec);
		return -1;
	}
	q->next = pv->reqs;
	pv->reqs = q;
	pv->nhttp++;
	return 0;
}

/* Whether name=value entry e is named in list. */
static int
env_listed(const char *e, char *const *list, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		k = strlen(list[i]);
		if (strncmp(e, list[i], k) == 0 && e[k] == '=')
			return 1;
	}
	return 0;
}

/* The environment of a command: ours without the credentials planmake
 * reads, unless the endpoint passes them on.  The caller frees the
 * array (not the strings). */
static char **
command_env(const struct endpoint *ep)
{
	char **env, name[256];
	size_t n = 0, i, k;

	for (i = 0; environ[i]; i++)
		;
	env = xcalloc(i + 1, sizeof(*env));
	for (i = 0; environ[i]; i++) {
		k = strcspn(environ[i], "=");
		if (k < sizeof(name)) {
			memcpy(name, environ[i], k);
			name[k] = '\0';
			if (config_is_credential(name) && !(ep &&
			    env_listed(environ[i], ep->pass_env,
			    ep->npass_env)))
				continue;
		}
		env[n++] = environ[i];
	}
	env[n] = NULL;
	return env;
}

/* Start a command. */
static int
send_command(struct provider *pv, struct preq *q, const char *body,
    char **errp)
{
	char **env;

	env = command_env(q->s->ep);
	q->proc = proc_start(q->s->model, body, strlen(body), env, errp);
	free(env);
	if (q->proc == NULL)
		return -1;
	q->next = pv->procs;
	pv->procs = q;
	pv->nprocs++;
	log_debug(LOG_HTTP, "run `%s` (%zu bytes on its input)", q->s->model,
	    strlen(body));
	return 0;
}

int
provider_send(struct provider *pv, const struct spec *s, const char *body,
    void *udata, double *waitp, char **errp)
{
	struct limiter *l;
	struct preq *q;
	double w;
	int rc;

	l = limiter_get(pv, s);
	if ((w = limiter_wait(l)) > 0) {
		*waitp = w;
		return 1;
	}
	q = xcalloc(1, sizeof(*q));
	q->pv = pv;
	q->s = s;
	q->udata = udata;
	q->lim = l;
	q->start = now_mono();
	q->sent = strlen(body);
	rc = s->wire == WIRE_COMMAND ? send_command(pv, q, body, errp) :
	    send_http(pv, q, body, errp);
	if (rc == -1) {
		free(q);
		return -1;
	}
	limiter_start(l);
	return 0;
}

/* The last line or so of a command's standard error, for a message. */
static char *
errors_tail(const struct proc *p)
{
	const char *e;
	size_t n, start;
	char *t, *c;

	e = proc_errors(p, &n);
	while (n > 0 && (e[n - 1] == '\n' || e[n - 1] == ' ' ||
	    e[n - 1] == '\r' || e[n - 1] == '\t'))
		n--;
	start = n > 300 ? n - 300 : 0;
	t = xstrndup(e + start, n - start);
	for (c = t; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
	return t;
}

/* Whether a command's complaint sounds like it would pass on a retry. */
static int
transient(const char *text)
{
	static const char *const words[] = {
		"overloaded", "rate limit", "rate_limit", "429", "529", "503",
		"timed out", "timeout", "temporarily", "try again",
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (has_words(text, words[i]))
			return 1;
	return 0;
}

/* A command ended: its status and standard error decide. */
static void
command_outcome(struct preq *q, struct outcome *o)
{
	const struct spec *s = q->s;
	const char *out;
	char *tail;
	size_t n;
	int st = proc_status(q->proc);

	memset(o, 0, sizeof(*o));
	o->retry_after = -1;
	o->seconds = proc_seconds(q->proc);
	tail = errors_tail(q->proc);
	out = proc_output(q->proc, &n);
	if (q->killed == KILL_STALL)
		fail(o, FAIL_RETRY, "%s: `%s` printed nothing for %ld s "
		    "(stall_timeout) and was killed%s%s", s->provider,
		    s->model, s->stall_timeout, *tail ? "; it said: " : "",
		    tail);
	else if (q->killed == KILL_BIG)
		fail(o, FAIL_FATAL, "%s: `%s` printed more than %.0f bytes "
		    "(max_answer_bytes) and was killed", s->provider,
		    s->model, s->max_answer);
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && n > 0) {
		o->ok = 1;
		o->reply.text = xstrndup(out, n);
		o->reply.len = n;
		o->reply.stop = xstrdup("exit 0");
		o->reply.stop_kind = STOP_END;
		o->reply.model = xstrdup(s->model);
		o->reply.cost = -1;
		if (*tail)
			xasprintf(&o->reply.note, "`%s` said on standard "
			    "error: %s", s->model, tail);
	} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		fail(o, FAIL_FATAL, "%s: `%s` printed nothing%s%s", s->provider,
		    s->model, *tail ? "; it said: " : "", tail);
	else if (WIFEXITED(st))
		fail(o, transient(tail) ? FAIL_RETRY : FAIL_FATAL, "%s: `%s` "
		    "exited with status %d%s%s", s->provider, s->model,
		    WEXITSTATUS(st), *tail ? ": " : "", tail);
	else
		fail(o, FAIL_FATAL, "%s: `%s` was killed by signal %d%s%s",
		    s->provider, s->model, WIFSIGNALED(st) ? WTERMSIG(st) : 0,
		    *tail ? ": " : "", tail);
	free(tail);
}

/* Kill a command that has printed nothing for stall_timeout seconds,
 * or more than max_answer_bytes; its outcome says which. */
static void
command_watch(struct preq *q)
{
	size_t n;

	if (q->killed != KILL_NONE)
		return;
	proc_output(q->proc, &n);
	if ((double)n > q->s->max_answer)
		q->killed = KILL_BIG;
	else if (proc_idle(q->proc) >= (double)q->s->stall_timeout)
		q->killed = KILL_STALL;
	else
		return;
	proc_signal(q->proc, SIGKILL);
}

int
provider_poll(struct provider *pv, int ms, provider_done_fn done, void *arg)
{
	struct http_waitfd fds[3 * (pv->nprocs ? pv->nprocs : 1)];
	struct preq **qp, *q;
	struct outcome o;
	unsigned n = 0;

	pv->done = done;
	pv->done_arg = arg;
	for (q = pv->procs; q; q = q->next)
		n += proc_fds(q->proc, fds + n);
	/* A pipe at its end wakes the poll without telling which; every
	 * command is stepped after it anyway. */
	http_poll(pv->http, n && ms > 50 ? 50 : ms, fds, n, on_http_done, pv);
	for (qp = &pv->procs; (q = *qp) != NULL; ) {
		if (!proc_step(q->proc)) {
			command_watch(q);
			qp = &q->next;
			continue;
		}
		*qp = q->next;
		pv->nprocs--;
		command_outcome(q, &o);
		limiter_done(q->lim, pv->jobs, q->start, 0,
		    q->s->retry_max_wait, &o);
		o.udata = q->udata;
		done(&o, arg);
		outcome_clear(&o);
		proc_free(q->proc);
		free(q);
	}
	return provider_running(pv);
}

/* Joining the parts of a continued answer. */

/* The length of text without its trailing white space. */
static size_t
rstrip_len(const char *t, size_t n)
{
	while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t' ||
	    t[n - 1] == '\n' || t[n - 1] == '\r'))
		n--;
	return n;
}

/* Whether the n bytes at p are a fence line: up to three spaces, then
 * three or more backticks or tildes.  *info: text follows the run. */
static int
fence_line(const char *p, size_t n, char *ch, size_t *len, int *info)
{
	size_t i = 0, k;

	while (i < n && i < 3 && p[i] == ' ')
		i++;
	if (i >= n || (p[i] != '`' && p[i] != '~'))
		return 0;
	for (k = i; k < n && p[k] == p[i]; k++)
		;
	if (k - i < 3)
		return 0;
	*ch = p[i];
	*len = k - i;
	while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r'))
		k++;
	*info = k < n;
	return 1;
}

/* A fence left open at the end of the n bytes at t. */
struct openfence {
	char	 ch;
	size_t	 len;
	size_t	 content;	/* where its content starts */
	size_t	 hdr, hdrlen;	/* the line before it */
};

static int
open_fence(const char *t, size_t n, struct openfence *f)
{
	size_t i = 0, eol, prev = 0, prevlen = 0, l;
	int open = 0, info;
	char c;

	while (i < n) {
		for (eol = i; eol < n && t[eol] != '\n'; eol++)
			;
		if (fence_line(t + i, eol - i, &c, &l, &info)) {
			if (!open) {
				open = 1;
				f->ch = c;
				f->len = l;
				f->content = eol < n ? eol + 1 : n;
				f->hdr = prev;
				f->hdrlen = prevlen;
			} else if (c == f->ch && l >= f->len && !info)
				open = 0;
		}
		prev = i;
		prevlen = eol - i;
		i = eol + 1;
	}
	return open;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The length of the line at p (of n bytes), without its LF. */
static size_t
line_len(const char *p, size_t n)
{
	const char *e = memchr(p, '\n', n);

	return e ? (size_t)(e - p) : n;
}

/* Where the part goes on after a fence it opened again (with the
 * block's header line before it, or an info string), or 0. */
static size_t
skip_reopen(const char *acc, const struct openfence *f, const char *p,
    size_t n)
{
	size_t i = 0, l, fl, hl;
	int info, header = 0;
	char c;

	while (i < n && (p[i] == '\n' || p[i] == '\r' || p[i] == ' '))
		i++;
	l = line_len(p + i, n - i);
	hl = rstrip_len(acc + f->hdr, f->hdrlen);
	if (hl > 0 && rstrip_len(p + i, l) == hl &&
	    memcmp(p + i, acc + f->hdr, hl) == 0) {
		header = 1;
		i += l + 1;
		if (i > n)
			return 0;
		l = line_len(p + i, n - i);
	}
	if (!fence_line(p + i, l, &c, &fl, &info) || c != f->ch ||
	    fl < f->len || !(info || header))
		return 0;
	i += l;
	/* Only with content after it: " a.txt\n```\n" may as well finish
	 * the cut line and close its block. */
	for (l = i; l < n && is_space(p[l]); l++)
		;
	if (l == n)
		return 0;
	return i < n ? i + 1 : n;
}

/* The longest repeat of the end of acc (ls bytes) at the start of p
 * that is surely a repeat: 8 bytes or more, or a whole last line of 4
 * or more.  Only a model asked in a new turn repeats itself; after a
 * prefill a match is content (think of a table of equal rows). */
static size_t
overlap(const char *acc, size_t ls, const char *p, size_t n, int prefill)
{
	size_t k;

	if (prefill)
		return 0;
	k = ls < n ? ls : n;
	if (k > 8192)
		k = 8192;
	for (; k >= 4; k--) {
		if (memcmp(acc + ls - k, p, k) != 0)
			continue;
		if (k >= 8 || ls == k || acc[ls - k - 1] == '\n')
			return k;
	}
	return 0;
}

/* Whether needle (n bytes) occurs in the h bytes at hay. */
static int
contains(const char *hay, size_t h, const char *needle, size_t n)
{
	size_t i;

	for (i = 0; n <= h && i <= h - n; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
			return 1;
	return 0;
}

/* Where the text at the cut begins in the ls bytes at acc: the content
 * of the block the cut fell in, else the last paragraph, and at most
 * CUT_WINDOW bytes back.  Text repeated from there is a repeat. */
static size_t
cut_region(const char *acc, size_t ls)
{
	struct openfence f;
	size_t i, from;

	from = ls > CUT_WINDOW ? ls - CUT_WINDOW : 0;
	memset(&f, 0, sizeof(f));
	if (open_fence(acc, ls, &f))
		return f.content > from ? f.content : from;
	for (i = ls; i > from + 1; i--)
		if (acc[i - 1] == '\n' && acc[i - 2] == '\n')
			return i;
	return from;
}

int
provider_join(struct buf *acc, const char *part, size_t n, int prefill,
    int last, char **errp)
{
	struct openfence f;
	size_t ls, i, k, skip, bl, pl, from;
	const char *q;

	if (acc->len == 0) {
		buf_add(acc, part, n);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	for (i = 0; i < n && is_space(part[i]); i++)
		;
	if (i == n && last)
		return 0;	/* the answer was complete at the cut */
	if (i == n) {
		xasprintf(errp, "the continuation brought no new text");
		return -1;
	}
	ls = rstrip_len(acc->data, acc->len);

	/* A model asked to go on may open the cut block again, and may
	 * then start the file over: keep the new start. */
	if (!prefill && open_fence(acc->data, ls, &f) &&
	    (skip = skip_reopen(acc->data, &f, part, n)) > 0) {
		part += skip;
		n -= skip;
		bl = ls - f.content;
		pl = bl < 64 ? bl : 64;
		if (pl > 0 && n >= pl && memcmp(part, acc->data + f.content,
		    pl) == 0) {
			if (f.content + rstrip_len(part, n) <= ls) {
				xasprintf(errp, "the continuation started the "
				    "block over and got no further");
				return -1;
			}
			acc->len = f.content;
			buf_add(acc, part, n);
			return 0;
		}
	}

	k = overlap(acc->data, ls, part, n, prefill);
	if (k == 0 && (k = overlap(acc->data, ls, part + i, n - i,
	    prefill)) > 0) {
		part += i;	/* the repeat came after some white space */
		n -= i;
	}
	if (k > 0) {
		acc->len = ls;
		buf_add(acc, part + k, n - k);
		return 0;
	}

	/* Text from before the cut, repeated, means the model did not go
	 * on where it stopped. */
	for (i = 0; i < n && is_space(part[i]); i++)
		;
	q = part + i;
	pl = n - i < 64 ? n - i : 64;
	from = cut_region(acc->data, ls);
	if (pl >= 24 && contains(acc->data + from, ls - from, q, pl)) {
		xasprintf(errp, "the continuation repeats earlier text "
		    "(\"%.30s...\") instead of going on", q);
		return -1;
	}

	/* The white space cut from the end of the partial answer: the
	 * model sends it again, or starts a line of its own, or it is
	 * kept. */
	for (i = 0; i < n && is_space(part[i]); i++)
		;
	if ((acc->len - ls <= n && memcmp(part, acc->data + ls,
	    acc->len - ls) == 0) || memchr(part, '\n', i) != NULL)
		acc->len = ls;
	buf_add(acc, part, n);
	return 0;
}
