/*
 * fakellm: a loopback stand-in for the Anthropic Messages API and the
 * OpenAI chat-completions API, faithful enough for planmake's tests.
 *
 * Build (from the top of the tree):
 *
 *	cc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 -g \
 *	    tests/fakellm/fakellm.c -o build/fakellm \
 *	    $(pkg-config --cflags --libs libmicrohttpd jansson libcrypto)
 *
 * Usage: fakellm --port-file FILE [--log FILE] [--script FILE]
 *	      [--delay-ms N]
 *
 * The options, the script and the log are described in README.md here.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#define MAX_BODY	(64u * 1024 * 1024)	/* bytes of request body */
#define LOG_PREFIX	200		/* bytes of text in a log line */

enum api {
	API_NONE,
	API_ANTHROPIC,
	API_OPENAI
};

/* A growing byte string, always NUL-terminated once allocated. */
struct buf {
	char		*s;
	size_t		 len;
	size_t		 cap;
};

/* The times of the requests a rate_limit rule let through in the last
 * second. */
struct window {
	double		*t;
	size_t		 n;
};

/* State shared by all connection threads; guarded by lock. */
struct server {
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;		/* broadcast when stopping */
	int		 stopping;
	unsigned long	 nrequests;
	long		 cache_min;	/* tokens a cached prefix needs */
	char		(*seen)[17];	/* prefixes in the prompt cache */
	size_t		 nseen;
	long		 batch_ms;	/* how long a batch is in progress */
	struct fbatch	**batches;	/* owned, in order of creation */
	size_t		 nbatches;
	pthread_mutex_t	 batch_lock;	/* held while a batch is answered */
	unsigned	 port;
	long		 delay_ms;	/* default latency */
	FILE		*log;		/* or NULL */
	const char	*script_path;	/* or NULL */
	struct stat	 script_st;	/* of the loaded script */
	struct stat	 bad_st;	/* of the last script that failed */
	json_t		*rules;		/* new reference, an array */
	long		*left;		/* uses left per rule, -1 unlimited */
	struct window	*win;		/* per rule: recent requests */
};

/* A Message Batch.  Guarded by srv.batch_lock once created. */
struct fbatch {
	char		 id[48];
	double		 created;	/* Unix seconds */
	double		 ended;		/* 0 until its results are made */
	json_t		*requests;	/* new reference: the requests array */
	char		*results;	/* owned: JSONL, once made */
	json_int_t	 nok, nerr;
};

/* One request's body, gathered across calls of the access handler. */
struct req {
	struct buf	 body;
	int		 toolarge;
	double		 t_start;
};

/* What one complete request asks for, once parsed. */
struct call {
	enum api	 api;
	const char	*method;	/* borrowed from MHD */
	const char	*path;		/* borrowed from MHD */
	unsigned long	 n;		/* request number */
	json_t		*root;		/* new reference, or NULL */
	const char	*model;		/* borrowed from root, or NULL */
	json_t		*max_tokens;	/* borrowed from root, or NULL */
	json_t		*temperature;	/* borrowed from root, or NULL */
	json_t		*hdrnames;	/* new reference */
	json_t		*targets;	/* new reference, or NULL */
	json_t		*usage;		/* new reference: what was answered */
	const char	*batch;		/* the batch it belongs to, or NULL */
	const char	*custom_id;	/* its custom_id in that batch */
	json_int_t	 nbatch;	/* requests in a batch created */
	json_t		*roles;		/* new reference: message roles */
	json_t		*extra;		/* new reference: headers to add */
	int		 stream;	/* "stream": true */
	int		 include_usage;	/* stream_options.include_usage */
	const char	*tokens_field;	/* OpenAI: the output-limit field */
	int		 seen_assistant;
	struct buf	 system;	/* system text */
	struct buf	 all;		/* text of all non-system messages */
	struct buf	 last;		/* text of the last user message */
	struct buf	 listed;	/* the last user message with a list */
	struct buf	 assistant;	/* text of the last assistant message */
	struct buf	 hashin;	/* what the request hash covers */
	struct buf	 basein;	/* the same, up to the first assistant
					 * message: the question being
					 * continued */
	char		 basehash[17];
	struct buf	 tmp;		/* scratch */
	size_t		 nbytes;	/* bytes of system and message text */
	struct buf	 cachein;	/* the model, then each block's text */
	size_t		 prefix_len;	/* of cachein to the last marked block */
	size_t		 prefix_bytes;	/* text bytes to the last marked block */
	char		 prefix[17];	/* hash of the marked prefix, or "" */
	json_int_t	 cache_read;	/* tokens read from the prompt cache */
	json_int_t	 cache_write;	/* tokens written to it */
	int		 ttl_1h;	/* the last marker asked "ttl":"1h" */
	char		 hash[17];
	int		 status;	/* non-zero: rejected with this */
	const char	*etype;		/* error type of the rejection */
	const char	*code;		/* OpenAI error code, or NULL */
	char		 param[64];	/* OpenAI error param, or "" */
	char		 emsg[256];
};

/* A body sent only in part before the connection is dropped. */
struct cutbody {
	char		*s;
	size_t		 cut;
};

static struct server srv;

/* Print a message and exit 2; for start-up errors and out-of-memory. */
static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("fakellm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n ? n : 1)) == NULL)
		die("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

/* Append n bytes at p to b. */
static void
buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->s == NULL || b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	if (n > 0)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append printf-style output to b. */
static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("vsnprintf failed");
	buf_add(b, "", 0);
	if (b->len + n + 1 > b->cap) {
		b->cap = b->len + n + 1;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, n + 1, fmt, ap);
	va_end(ap);
	b->len += n;
}

static const char *
buf_str(const struct buf *b)
{
	return b->s != NULL ? b->s : "";
}

static void
buf_free(struct buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* Wall-clock time in seconds. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sleep ms milliseconds, waking early when the server is stopping. */
static void
sleep_ms(long ms)
{
	struct timespec until;

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&srv.lock);
	while (!srv.stopping)
		if (pthread_cond_timedwait(&srv.wake, &srv.lock,
		    &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&srv.lock);
}

/* A JSON string of at most max bytes of s, cut on a UTF-8 boundary. */
static json_t *
str_prefix(const char *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	return json_stringn(s, n);
}

/* The first 16 hex digits of the SHA-256 of b, into out. */
static void
hash_hex(const struct buf *b, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	int i;

	if (!EVP_Digest(buf_str(b), b->len, md, &mdlen, EVP_sha256(), NULL))
		die("EVP_Digest failed");
	for (i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Table of script rule keys and the JSON type each must have. */
enum ktype { K_STR, K_UINT, K_STATUS, K_BOOL, K_HEADERS, K_USAGE };

static const struct {
	const char	*key;
	enum ktype	 type;
} rule_keys[] = {
	{ "match", K_STR },		{ "path", K_STR },
	{ "times", K_UINT },		{ "delay_ms", K_UINT },
	{ "status", K_STATUS },		{ "body", K_STR },
	{ "message", K_STR },		{ "code", K_STR },
	{ "error_type", K_STR },	{ "headers", K_HEADERS },
	{ "answer", K_STR },		{ "stop_reason", K_STR },
	{ "cut", K_UINT },		{ "drop", K_BOOL },
	{ "usage", K_USAGE },		{ "stall_ms", K_UINT },
	{ "stall_after", K_UINT },	{ "stream_error", K_STR },
	{ "error_after", K_UINT },	{ "chunk", K_UINT },
	{ "overlap", K_UINT },		{ "reopen", K_BOOL },
	{ "prefill", K_BOOL },		{ "rate_limit", K_UINT },
	{ "rate_headers", K_BOOL },	{ "delta_bytes", K_UINT },
	{ "delta_ms", K_UINT },		{ "thinking", K_STR },
	{ "no_done", K_BOOL }
};

/* Whether every member of object o is a string (or, if ints, an integer
 * or, one level down, an object of integers, as in usage details). */
static int
members_are(json_t *o, int ints)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return 0;
	json_object_foreach(o, k, v) {
		if (ints == 1 && json_is_object(v) && members_are(v, 2))
			continue;
		if (ints ? !json_is_integer(v) : !json_is_string(v))
			return 0;
	}
	return 1;
}

/* Check that v has the type t wants. */
static int
key_type_ok(json_t *v, enum ktype t)
{
	switch (t) {
	case K_STR:
		return json_is_string(v);
	case K_UINT:
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case K_STATUS:
		return json_is_integer(v) && json_integer_value(v) >= 100 &&
		    json_integer_value(v) <= 599;
	case K_BOOL:
		return json_is_boolean(v);
	case K_HEADERS:
		return members_are(v, 0);
	case K_USAGE:
		return members_are(v, 1);
	}
	return 0;
}

/* Check rule number i of a script; on a fault, describe it in err. */
static int
rule_check(json_t *r, size_t i, char *err, size_t errsz)
{
	const char *k;
	json_t *v;
	size_t j, nkeys = sizeof rule_keys / sizeof rule_keys[0];

	if (!json_is_object(r)) {
		snprintf(err, errsz, "rule %zu is not an object", i);
		return -1;
	}
	json_object_foreach(r, k, v) {
		for (j = 0; j < nkeys; j++)
			if (strcmp(k, rule_keys[j].key) == 0)
				break;
		if (j == nkeys) {
			snprintf(err, errsz, "rule %zu: unknown key '%s'",
			    i, k);
			return -1;
		}
		if (!key_type_ok(v, rule_keys[j].type)) {
			snprintf(err, errsz, "rule %zu: bad value for '%s'",
			    i, k);
			return -1;
		}
	}
	return 0;
}

/* Read and check a script.  On success *rulesp is a new reference. */
static int
script_load(const char *path, json_t **rulesp, char *err, size_t errsz)
{
	json_error_t jerr;
	json_t *rules, *r;
	size_t i;

	if ((rules = json_load_file(path, 0, &jerr)) == NULL) {
		snprintf(err, errsz, "%s:%d:%d: %s", path, jerr.line,
		    jerr.column, jerr.text);
		return -1;
	}
	if (!json_is_array(rules)) {
		snprintf(err, errsz, "%s: the script must be a JSON array",
		    path);
		json_decref(rules);
		return -1;
	}
	json_array_foreach(rules, i, r) {
		if (rule_check(r, i, err, errsz) == -1) {
			json_decref(rules);
			return -1;
		}
	}
	*rulesp = rules;
	return 0;
}

/* Make rules current, resetting every use count.  Takes ownership. */
static void
script_install(json_t *rules, const struct stat *st)
{
	json_t *r, *t;
	size_t i;

	for (i = 0; srv.win != NULL && i < json_array_size(srv.rules); i++)
		free(srv.win[i].t);
	free(srv.win);
	json_decref(srv.rules);
	free(srv.left);
	srv.rules = rules;
	srv.left = xrealloc(NULL, (json_array_size(rules) + 1) *
	    sizeof srv.left[0]);
	srv.win = xrealloc(NULL, (json_array_size(rules) + 1) *
	    sizeof srv.win[0]);
	memset(srv.win, 0, (json_array_size(rules) + 1) * sizeof srv.win[0]);
	json_array_foreach(rules, i, r) {
		t = json_object_get(r, "times");
		srv.left[i] = t != NULL ? (long)json_integer_value(t) : -1;
	}
	srv.script_st = *st;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * Re-read the script if its file changed since it was loaded.  A removed
 * script means no rules; a broken one keeps the old rules.  Called with
 * srv.lock held.
 */
static void
script_refresh(void)
{
	struct stat st;
	json_t *rules;
	char err[512];

	if (srv.script_path == NULL)
		return;
	if (stat(srv.script_path, &st) == -1) {
		memset(&st, 0, sizeof st);
		if (!same_file(&st, &srv.script_st))
			script_install(json_array(), &st);
		return;
	}
	if (same_file(&st, &srv.script_st) || same_file(&st, &srv.bad_st))
		return;
	if (script_load(srv.script_path, &rules, err, sizeof err) == -1) {
		fprintf(stderr, "fakellm: %s (keeping the previous rules)\n",
		    err);
		srv.bad_st = st;
		return;
	}
	script_install(rules, &st);
}

/* Format a Unix time as RFC 3339 in UTC, with milliseconds. */
static void
rfc3339(double t, char *out, size_t n)
{
	time_t secs = (time_t)t;
	struct tm tm;

	int ms = (int)ceil((t - (double)secs) * 1000);	/* not early */

	if (ms >= 1000) {
		secs++;
		ms -= 1000;
	}
	gmtime_r(&secs, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ms);
}

/*
 * A rate_limit rule of limit requests a second: count c in window w, or
 * refuse it.  Either way put the rate-limit headers of c's API into
 * c->extra (unless rate_headers is false).  Returns 1 when c is over the
 * limit; then *wait is the seconds until a request may pass.
 */
static int
rate_check(struct call *c, json_t *rule, struct window *w, long limit,
    double *wait)
{
	double t = now(), reset;
	char v[64];
	size_t i, k;
	int over;

	for (i = k = 0; i < w->n; i++)
		if (w->t[i] > t - 1)
			w->t[k++] = w->t[i];
	w->n = k;
	if (!(over = (long)w->n >= limit)) {
		w->t = xrealloc(w->t, (w->n + 1) * sizeof w->t[0]);
		w->t[w->n++] = t;
	}
	reset = w->n > 0 ? w->t[0] + 1 : t + 1;
	*wait = reset - t;
	if (json_is_false(json_object_get(rule, "rate_headers")))
		return over;
	if (c->extra == NULL)
		c->extra = json_object();
	if (c->api == API_OPENAI) {
		snprintf(v, sizeof v, "%ld", limit);
		json_object_set_new(c->extra, "x-ratelimit-limit-requests",
		    json_string(v));
		snprintf(v, sizeof v, "%ld", limit - (long)w->n);
		json_object_set_new(c->extra, "x-ratelimit-remaining-requests",
		    json_string(v));
		snprintf(v, sizeof v, "%ldms", (long)(*wait * 1000) + 1);
		json_object_set_new(c->extra, "x-ratelimit-reset-requests",
		    json_string(v));
	} else {
		snprintf(v, sizeof v, "%ld", limit);
		json_object_set_new(c->extra,
		    "anthropic-ratelimit-requests-limit", json_string(v));
		snprintf(v, sizeof v, "%ld", limit - (long)w->n);
		json_object_set_new(c->extra,
		    "anthropic-ratelimit-requests-remaining", json_string(v));
		rfc3339(reset, v, sizeof v);
		json_object_set_new(c->extra,
		    "anthropic-ratelimit-requests-reset", json_string(v));
	}
	return over;
}

/*
 * Find the first rule that matches c and has uses left, and use it once.
 * A rate_limit rule is used only by a request over its limit; the others
 * pass on to the next rules.  Returns the rule's index and puts a deep
 * copy in *rulep, or returns -1.  Called with srv.lock held.
 */
static int
script_pick(struct call *c, json_t **rulep)
{
	const char *s;
	json_t *r, *v, *h;
	double wait;
	char ra[32];
	size_t i;

	json_array_foreach(srv.rules, i, r) {
		if (srv.left[i] == 0)
			continue;
		s = json_string_value(json_object_get(r, "path"));
		if (s != NULL && strcmp(s, c->path) != 0)
			continue;
		s = json_string_value(json_object_get(r, "match"));
		if (s != NULL && strstr(buf_str(&c->all), s) == NULL)
			continue;
		if ((v = json_object_get(r, "rate_limit")) != NULL &&
		    !rate_check(c, r, &srv.win[i], (long)json_integer_value(v),
		    &wait))
			continue;
		if (srv.left[i] > 0)
			srv.left[i]--;
		*rulep = json_deep_copy(r);
		if (v != NULL) {
			/* over the limit: a 429 that says how long to wait */
			if (json_object_get(*rulep, "status") == NULL)
				json_object_set_new(*rulep, "status",
				    json_integer(429));
			if ((h = json_object_get(*rulep, "headers")) == NULL) {
				h = json_object();
				json_object_set_new(*rulep, "headers", h);
			}
			snprintf(ra, sizeof ra, "%ld", (long)wait + 1);
			if (json_object_get(h, "retry-after") == NULL)
				json_object_set_new(h, "retry-after",
				    json_string(ra));
		}
		return (int)i;
	}
	return -1;
}

/* Reject c with an HTTP status, an error type and a message. */
static int
call_fail(struct call *c, int status, const char *etype, const char *fmt,
    ...)
{
	va_list ap;

	c->status = status;
	c->etype = etype;
	va_start(ap, fmt);
	vsnprintf(c->emsg, sizeof c->emsg, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parse the request body as a JSON object into c->root. */
static int
body_parse(struct call *c, const struct buf *body)
{
	json_error_t jerr;

	c->root = json_loadb(buf_str(body), body->len, 0, &jerr);
	if (c->root == NULL)
		return call_fail(c, 400, "invalid_request_error",
		    "request body is not valid JSON: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
	if (!json_is_object(c->root))
		return call_fail(c, 400, "invalid_request_error",
		    "request body must be a JSON object");
	return 0;
}

/*
 * Append the text of content (a string or an array of blocks, text blocks
 * joined by newlines) to dst and add its byte count to *nbytes.  With a
 * call c (Anthropic), also record each text in c->cachein and where the
 * last block marked with cache_control ends.  Returns -1 if content has
 * the wrong shape, -2 on an empty text block when strict.
 */
static int
content_text(json_t *content, struct buf *dst, size_t *nbytes, int strict,
    struct call *c)
{
	const char *type;
	json_t *b, *t;
	size_t i, n = 0;

	if (json_is_string(content)) {
		buf_add(dst, json_string_value(content),
		    json_string_length(content));
		*nbytes += json_string_length(content);
		if (c != NULL)
			buf_add(&c->cachein, json_string_value(content),
			    json_string_length(content) + 1);
		return 0;
	}
	if (!json_is_array(content))
		return -1;
	json_array_foreach(content, i, b) {
		if ((type = json_string_value(json_object_get(b, "type"))) ==
		    NULL)
			return -1;
		if (strcmp(type, "text") != 0)
			continue;	/* images and such carry no text */
		if (!json_is_string(t = json_object_get(b, "text")))
			return -1;
		if (strict && json_string_length(t) == 0)
			return -2;
		if (n++ > 0)
			buf_add(dst, "\n", 1);
		buf_add(dst, json_string_value(t), json_string_length(t));
		*nbytes += json_string_length(t);
		if (c == NULL)
			continue;
		buf_add(&c->cachein, json_string_value(t),
		    json_string_length(t) + 1);
		if (json_is_object(json_object_get(b, "cache_control"))) {
			c->prefix_len = c->cachein.len;
			c->prefix_bytes = *nbytes;
			t = json_object_get(json_object_get(b,
			    "cache_control"), "ttl");
			c->ttl_1h = json_is_string(t) &&
			    strcmp(json_string_value(t), "1h") == 0;
		}
	}
	return 0;
}

/* Record the text of one message of the given role in c. */
static void
call_add_message(struct call *c, const char *role, const struct buf *text)
{
	struct buf *to;

	json_array_append_new(c->roles, json_string(role));
	buf_adds(&c->hashin, role);
	buf_add(&c->hashin, ":", 1);
	buf_add(&c->hashin, buf_str(text), text->len);
	buf_add(&c->hashin, "", 1);
	if (strcmp(role, "assistant") == 0) {
		c->seen_assistant = 1;
		c->assistant.len = 0;
		buf_add(&c->assistant, buf_str(text), text->len);
	} else if (!c->seen_assistant) {
		buf_adds(&c->basein, role);
		buf_add(&c->basein, ":", 1);
		buf_add(&c->basein, buf_str(text), text->len);
		buf_add(&c->basein, "", 1);
	}

	if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
		to = &c->system;
	else
		to = &c->all;
	if (to->len > 0)
		buf_add(to, "\n", 1);
	buf_add(to, buf_str(text), text->len);

	if (strcmp(role, "user") == 0) {
		c->last.len = 0;
		buf_add(&c->last, buf_str(text), text->len);
		if (strstr(buf_str(text), "Files to write:\n") != NULL ||
		    c->listed.len == 0) {
			c->listed.len = 0;
			buf_add(&c->listed, buf_str(text), text->len);
		}
	}
}

/* Whether content is an empty string or an empty array. */
static int
content_empty(json_t *content)
{
	return (json_is_string(content) && json_string_length(content) == 0) ||
	    (json_is_array(content) && json_array_size(content) == 0);
}

/* Reject top-level fields the Messages API does not have, as it does. */
static int
anthropic_known(struct call *c)
{
	static const char *const known[] = {
		"model", "max_tokens", "messages", "system", "temperature",
		"top_p", "top_k", "stop_sequences", "metadata", "stream",
		"cache_control", "tools", "tool_choice", "thinking",
		"output_config", "service_tier", "inference_geo", "container",
		"mcp_servers", NULL
	};
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(c->root, k, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(k, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return call_fail(c, 400, "invalid_request_error",
			    "%s: Extra inputs are not permitted", k);
	}
	return 0;
}

/* Check the model, max_tokens, temperature and stream of an Anthropic call. */
static int
anthropic_params(struct call *c)
{
	json_t *v;

	v = json_object_get(c->root, "model");
	if (v == NULL)
		return call_fail(c, 400, "invalid_request_error",
		    "model: Field required");
	if ((c->model = json_string_value(v)) == NULL)
		return call_fail(c, 400, "invalid_request_error",
		    "model: Input should be a valid string");

	c->max_tokens = v = json_object_get(c->root, "max_tokens");
	if (v == NULL)
		return call_fail(c, 400, "invalid_request_error",
		    "max_tokens: Field required");
	if (!json_is_integer(v))
		return call_fail(c, 400, "invalid_request_error",
		    "max_tokens: Input should be a valid integer");
	if (json_integer_value(v) < 1)
		return call_fail(c, 400, "invalid_request_error",
		    "max_tokens: Input should be greater than or equal to 1");

	c->temperature = v = json_object_get(c->root, "temperature");
	if (v != NULL && (!json_is_number(v) || json_number_value(v) < 0 ||
	    json_number_value(v) > 1))
		return call_fail(c, 400, "invalid_request_error",
		    "temperature: range: 0..1");
	v = json_object_get(c->root, "stream");
	if (v != NULL && !json_is_boolean(v))
		return call_fail(c, 400, "invalid_request_error",
		    "stream: Input should be a valid boolean");
	c->stream = json_is_true(v);
	return anthropic_known(c);
}

/* Take the system text of an Anthropic call: a string or text blocks. */
static int
anthropic_system(struct call *c, json_t *sys)
{
	const char *type;
	json_t *b;
	size_t i;

	if (json_is_array(sys))
		json_array_foreach(sys, i, b) {
			type = json_string_value(json_object_get(b, "type"));
			if (type == NULL || strcmp(type, "text") != 0)
				return -1;
		}
	else if (!json_is_string(sys))
		return -1;
	return content_text(sys, &c->system, &c->nbytes, 1, c) == 0 ? 0 : -1;
}

/* Check the x-api-key and anthropic-version headers of a request. */
static int
anthropic_headers(struct call *c, struct MHD_Connection *conn)
{
	const char *v;

	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
	if (v == NULL || *v == '\0')
		return call_fail(c, 401, "authentication_error",
		    "x-api-key header is required");
	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "anthropic-version");
	if (v == NULL)
		return call_fail(c, 400, "invalid_request_error",
		    "anthropic-version: header is required");
	if (strcmp(v, "2023-06-01") != 0 && strcmp(v, "2023-01-01") != 0)
		return call_fail(c, 400, "invalid_request_error",
		    "anthropic-version: \"%.40s\" is not a valid version", v);
	return 0;
}

/* Validate an Anthropic Messages request and gather its text into c. */
static int
anthropic_parse(struct call *c, struct MHD_Connection *conn,
    const struct buf *body)
{
	const char *role;
	json_t *sys, *msgs, *m, *content;
	size_t i;
	int r;

	/* A batch's requests (conn NULL) had their headers checked when
	 * the batch was created. */
	if (conn != NULL && anthropic_headers(c, conn) == -1)
		return -1;
	if (body_parse(c, body) == -1 || anthropic_params(c) == -1)
		return -1;
	buf_adds(&c->hashin, c->model);
	buf_add(&c->hashin, "", 1);
	buf_add(&c->cachein, c->model, strlen(c->model) + 1);
	buf_adds(&c->basein, c->model);
	buf_add(&c->basein, "", 1);

	sys = json_object_get(c->root, "system");
	if (sys != NULL && anthropic_system(c, sys) == -1)
		return call_fail(c, 400, "invalid_request_error",
		    "system: Input should be a valid string or a list of "
		    "text blocks");
	buf_add(&c->hashin, buf_str(&c->system), c->system.len);
	buf_add(&c->hashin, "", 1);
	buf_add(&c->basein, buf_str(&c->system), c->system.len);
	buf_add(&c->basein, "", 1);

	msgs = json_object_get(c->root, "messages");
	if (msgs == NULL)
		return call_fail(c, 400, "invalid_request_error",
		    "messages: Field required");
	if (!json_is_array(msgs))
		return call_fail(c, 400, "invalid_request_error",
		    "messages: Input should be a valid list");
	if (json_array_size(msgs) == 0)
		return call_fail(c, 400, "invalid_request_error",
		    "messages: at least one message is required");

	json_array_foreach(msgs, i, m) {
		if (!json_is_object(m))
			return call_fail(c, 400, "invalid_request_error",
			    "messages.%zu: Input should be a valid dictionary",
			    i);
		role = json_string_value(json_object_get(m, "role"));
		if (role == NULL || (strcmp(role, "user") != 0 &&
		    strcmp(role, "assistant") != 0))
			return call_fail(c, 400, "invalid_request_error",
			    "messages.%zu.role: Input should be 'user' or "
			    "'assistant'", i);
		if (i == 0 && strcmp(role, "user") != 0)
			return call_fail(c, 400, "invalid_request_error",
			    "messages: first message must use the \"user\" "
			    "role");
		if ((content = json_object_get(m, "content")) == NULL)
			return call_fail(c, 400, "invalid_request_error",
			    "messages.%zu.content: Field required", i);
		c->tmp.len = 0;
		buf_add(&c->tmp, "", 0);
		r = content_text(content, &c->tmp, &c->nbytes, 1, c);
		if (r == -1)
			return call_fail(c, 400, "invalid_request_error",
			    "messages.%zu.content: Input should be a valid "
			    "string or a list of content blocks", i);
		if (r == -2)
			return call_fail(c, 400, "invalid_request_error",
			    "messages: text content blocks must be non-empty");
		if (content_empty(content) && !(i + 1 == json_array_size(msgs)
		    && strcmp(role, "assistant") == 0))
			return call_fail(c, 400, "invalid_request_error",
			    "messages.%zu: all messages must have non-empty "
			    "content except for the optional final assistant "
			    "message", i);
		if (i + 1 == json_array_size(msgs) &&
		    strcmp(role, "assistant") == 0 && c->tmp.len > 0 &&
		    isspace((unsigned char)c->tmp.s[c->tmp.len - 1]))
			return call_fail(c, 400, "invalid_request_error",
			    "messages: final assistant content cannot end with "
			    "trailing whitespace");
		call_add_message(c, role, &c->tmp);
	}
	return 0;
}

/* Reject an OpenAI call with a 400 naming param and code (or NULL). */
static int
openai_fail(struct call *c, const char *param, const char *code,
    const char *msg)
{
	snprintf(c->param, sizeof c->param, "%s", param);
	c->code = code;
	return call_fail(c, 400, "invalid_request_error", "%s", msg);
}

/* Check the Authorization header of an OpenAI call. */
static int
openai_auth(struct call *c, struct MHD_Connection *conn)
{
	const char *v;

	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "authorization");
	if (v == NULL)
		return call_fail(c, 401, "invalid_request_error",
		    "You didn't provide an API key. You need to provide your "
		    "API key in an Authorization header using Bearer auth "
		    "(i.e. Authorization: Bearer YOUR_KEY).");
	if (strncasecmp(v, "Bearer ", 7) != 0 || v[7] == '\0') {
		c->code = "invalid_api_key";
		return call_fail(c, 401, "invalid_request_error",
		    "Incorrect API key provided.");
	}
	return 0;
}

/* Check the model and sampling knobs of an OpenAI call. */
static int
openai_params(struct call *c)
{
	json_t *t;

	t = json_object_get(c->root, "model");
	if (t == NULL)
		return openai_fail(c, "model", NULL,
		    "you must provide a model parameter");
	if ((c->model = json_string_value(t)) == NULL)
		return openai_fail(c, "model", "invalid_type",
		    "Invalid type for 'model': expected a string.");

	c->tokens_field = "max_completion_tokens";
	c->max_tokens = json_object_get(c->root, "max_completion_tokens");
	if (c->max_tokens == NULL) {
		c->tokens_field = "max_tokens";
		c->max_tokens = json_object_get(c->root, "max_tokens");
	}
	if (c->max_tokens == NULL)
		c->tokens_field = NULL;
	if (c->max_tokens != NULL && (!json_is_integer(c->max_tokens) ||
	    json_integer_value(c->max_tokens) < 1))
		return openai_fail(c, "max_tokens", "integer_below_min_value",
		    "Invalid 'max_tokens': integer below minimum value. "
		    "Expected a value >= 1.");
	c->temperature = t = json_object_get(c->root, "temperature");
	if (t != NULL && (!json_is_number(t) || json_number_value(t) < 0 ||
	    json_number_value(t) > 2))
		return openai_fail(c, "temperature", "decimal_above_max_value",
		    "Invalid 'temperature': expected a number from 0 to 2.");
	t = json_object_get(c->root, "stream");
	if (t != NULL && !json_is_boolean(t))
		return openai_fail(c, "stream", "invalid_type",
		    "Invalid type for 'stream': expected a boolean.");
	c->stream = json_is_true(t);
	t = json_object_get(c->root, "stream_options");
	if (t != NULL && !c->stream)
		return openai_fail(c, "stream_options", "invalid_value",
		    "The 'stream_options' parameter is only allowed when "
		    "'stream' is enabled.");
	if (t != NULL && !json_is_object(t))
		return openai_fail(c, "stream_options", "invalid_type",
		    "Invalid type for 'stream_options': expected an object.");
	c->include_usage = json_is_true(json_object_get(t, "include_usage"));
	return 0;
}

/* Validate an OpenAI chat-completions request and gather its text. */
static int
openai_parse(struct call *c, struct MHD_Connection *conn,
    const struct buf *body)
{
	static const char *roles[] = {
		"system", "developer", "user", "assistant", "tool", NULL
	};
	const char *role;
	json_t *msgs, *m, *content;
	size_t i, j;
	char param[64];

	if (openai_auth(c, conn) == -1 || body_parse(c, body) == -1 ||
	    openai_params(c) == -1)
		return -1;
	buf_adds(&c->hashin, c->model);
	buf_add(&c->hashin, "", 1);
	buf_adds(&c->basein, c->model);
	buf_add(&c->basein, "", 1);

	msgs = json_object_get(c->root, "messages");
	if (msgs == NULL)
		return openai_fail(c, "messages", NULL,
		    "Missing required parameter: 'messages'.");
	if (!json_is_array(msgs))
		return openai_fail(c, "messages", "invalid_type",
		    "Invalid type for 'messages': expected an array.");
	if (json_array_size(msgs) == 0)
		return openai_fail(c, "messages", "empty_array",
		    "Invalid 'messages': empty array. Expected an array with "
		    "minimum length 1, but got an empty array instead.");

	json_array_foreach(msgs, i, m) {
		snprintf(param, sizeof param, "messages.[%zu].role", i);
		role = json_string_value(json_object_get(m, "role"));
		for (j = 0; role != NULL && roles[j] != NULL; j++)
			if (strcmp(role, roles[j]) == 0)
				break;
		if (role == NULL || roles[j] == NULL)
			return openai_fail(c, param, "invalid_value",
			    "Invalid value for 'role'. Supported values are: "
			    "'system', 'assistant', 'user', 'tool', and "
			    "'developer'.");
		snprintf(param, sizeof param, "messages.[%zu].content", i);
		content = json_object_get(m, "content");
		if (content == NULL && strcmp(role, "assistant") != 0)
			return openai_fail(c, param, NULL,
			    "Missing required parameter: 'content'.");
		c->tmp.len = 0;
		buf_add(&c->tmp, "", 0);
		if (content != NULL && !json_is_null(content) &&
		    content_text(content, &c->tmp, &c->nbytes, 0, NULL) < 0)
			return openai_fail(c, param, "invalid_type",
			    "Invalid type for 'content': expected a string or "
			    "an array of content parts.");
		call_add_message(c, role, &c->tmp);
	}
	return 0;
}

/* Collect the paths listed after the last "Files to write:" line. */
static json_t *
targets_parse(const char *text)
{
	const char *p, *eol, *start = NULL;
	json_t *a = json_array();
	size_t n;

	for (p = text; *p != '\0'; p = *eol != '\0' ? eol + 1 : eol) {
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p);
		n = eol - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 15 && memcmp(p, "Files to write:", 15) == 0)
			start = *eol != '\0' ? eol + 1 : eol;
	}
	if (start == NULL)
		return a;

	for (p = start; *p != '\0'; p = *eol != '\0' ? eol + 1 : eol) {
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p);
		n = eol - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n < 3 || p[0] != '-' || p[1] != ' ')
			break;
		json_array_append_new(a, json_stringn(p + 2, n - 2));
	}
	return a;
}

/* The default answer to c: a fenced block per target.  Caller frees. */
static char *
answer_default(const struct call *c, const char *hash)
{
	struct buf b = { NULL, 0, 0 };
	const char *path;
	json_t *t;
	size_t i;

	if (json_array_size(c->targets) == 0) {
		buf_printf(&b, "fake answer %s", hash);
		return b.s;
	}
	json_array_foreach(c->targets, i, t) {
		path = json_string_value(t);
		if (i > 0)
			buf_add(&b, "\n", 1);
		buf_printf(&b, "%s\n```\n// %s generated by fakellm\n"
		    "// request %s\ncontent for %s\n```\n",
		    path, path, hash, path);
	}
	return b.s;
}

/* Map an Anthropic stop_reason to an OpenAI finish_reason. */
static const char *
finish_reason(const char *stop)
{
	if (strcmp(stop, "end_turn") == 0 || strcmp(stop, "stop_sequence") == 0)
		return "stop";
	if (strcmp(stop, "max_tokens") == 0 ||
	    strcmp(stop, "model_context_window_exceeded") == 0)
		return "length";
	if (strcmp(stop, "refusal") == 0)
		return "content_filter";
	if (strcmp(stop, "tool_use") == 0)
		return "tool_calls";
	return stop;
}

/* Serialize o compactly and drop it.  Caller frees the result. */
static char *
dump(json_t *o)
{
	char *s;

	if (o == NULL)
		return NULL;
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* Build the success body of c in its API's shape.  Caller frees. */
static char *
ok_body(struct call *c, const char *answer, const char *stop,
    json_t *usage, const char *thinking)
{
	json_int_t in = c->nbytes / 4 + 1, out = strlen(answer) / 4 + 1;
	json_t *u, *content;
	char id[64];

	if (c->api == API_ANTHROPIC) {
		snprintf(id, sizeof id, "msg_fake_%lu", c->n);
		in -= c->cache_read + c->cache_write;
		u = json_pack("{s:I,s:I,s:I,s:I,s:{s:I,s:I}}", "input_tokens",
		    in, "output_tokens", out, "cache_creation_input_tokens",
		    c->cache_write, "cache_read_input_tokens", c->cache_read,
		    "cache_creation", "ephemeral_5m_input_tokens", c->ttl_1h ?
		    0 : c->cache_write, "ephemeral_1h_input_tokens", c->ttl_1h ?
		    c->cache_write : 0);
		if (usage != NULL)
			json_object_update(u, usage);
		c->usage = json_incref(u);
		content = json_array();
		if (thinking != NULL)
			json_array_append_new(content, json_pack("{s:s,s:s,s:s}",
			    "type", "thinking", "thinking", thinking,
			    "signature", "fakesig"));
		json_array_append_new(content, json_pack("{s:s,s:s}", "type",
		    "text", "text", answer));
		return dump(json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:o}",
		    "id", id, "type", "message", "role", "assistant", "model",
		    c->model, "content", content, "stop_reason", stop,
		    "stop_sequence", "usage", u));
	}

	snprintf(id, sizeof id, "chatcmpl-fake-%lu", c->n);
	u = json_pack("{s:I,s:I,s:I}", "prompt_tokens", in,
	    "completion_tokens", out, "total_tokens", in + out);
	if (usage != NULL) {
		json_object_update(u, usage);
		if (json_object_get(usage, "total_tokens") == NULL)
			json_object_set_new(u, "total_tokens", json_integer(
			    json_integer_value(json_object_get(u,
			    "prompt_tokens")) + json_integer_value(
			    json_object_get(u, "completion_tokens"))));
	}
	c->usage = json_incref(u);
	return dump(json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s,s:n},s:s}],"
	    "s:o}", "id", id, "object", "chat.completion", "created",
	    (json_int_t)time(NULL), "model", c->model, "choices", "index", 0,
	    "message", "role", "assistant", "content", answer, "refusal",
	    "finish_reason", finish_reason(stop), "usage", u));
}

/* The Anthropic error type for an HTTP status. */
static const char *
anthropic_etype(int status)
{
	switch (status) {
	case 401: return "authentication_error";
	case 402: return "billing_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 409: return "conflict_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 504: return "timeout_error";
	case 529: return "overloaded_error";
	}
	return status >= 500 ? "api_error" : "invalid_request_error";
}

/* The OpenAI error type for an HTTP status; sets *code if unset. */
static const char *
openai_etype(int status, const char **code)
{
	if (status == 401 && *code == NULL)
		*code = "invalid_api_key";
	if (status == 429) {
		if (*code == NULL)
			*code = "rate_limit_exceeded";
		return "requests";
	}
	return status >= 500 ? "server_error" : "invalid_request_error";
}

/* Build an error body in the shape of c's API.  Caller frees. */
static char *
error_body(const struct call *c, const char *etype, const char *msg,
    const char *param, const char *code)
{
	char id[64];

	if (c->api == API_OPENAI)
		return dump(json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error",
		    "message", msg, "type", etype, "param",
		    param != NULL && *param != '\0' ? param : NULL, "code",
		    code));
	snprintf(id, sizeof id, "req_fake_%lu", c->n);
	if (code != NULL)
		return dump(json_pack("{s:s,s:{s:s,s:s,s:{s:s}},s:s}", "type",
		    "error", "error", "type", etype, "message", msg, "details",
		    "error_code", code, "request_id", id));
	return dump(json_pack("{s:s,s:{s:s,s:s},s:s}", "type", "error",
	    "error", "type", etype, "message", msg, "request_id", id));
}

/* The body a scripted error status gets, unless the rule gives one. */
static char *
scripted_error(const struct call *c, int status, json_t *rule)
{
	const char *etype, *msg, *code;
	char dflt[64];

	snprintf(dflt, sizeof dflt, "fakellm scripted %d", status);
	if ((msg = json_string_value(json_object_get(rule, "message"))) ==
	    NULL)
		msg = dflt;
	code = json_string_value(json_object_get(rule, "code"));
	if (c->api == API_OPENAI)
		etype = openai_etype(status, &code);
	else
		etype = anthropic_etype(status);
	if (json_object_get(rule, "error_type") != NULL)
		etype = json_string_value(json_object_get(rule, "error_type"));
	return error_body(c, etype, msg, NULL, code);
}

/* Whether the prompt cache holds prefix h.  Called with srv.lock held. */
static int
cache_seen(const char *h)
{
	size_t i;

	for (i = 0; i < srv.nseen; i++)
		if (strcmp(srv.seen[i], h) == 0)
			return 1;
	return 0;
}

/* Put prefix h in the prompt cache.  Called with srv.lock held. */
static void
cache_add(const char *h)
{
	if (h[0] == '\0' || cache_seen(h))
		return;
	srv.seen = xrealloc(srv.seen, (srv.nseen + 1) * sizeof srv.seen[0]);
	memcpy(srv.seen[srv.nseen++], h, 17);
}

/*
 * Decide what c reads from the prompt cache and writes to it: a marked
 * prefix of at least --cache-min-tokens tokens (its bytes / 4) is read
 * when an earlier answer wrote it, and written otherwise.  The entry
 * appears when the answer is sent (cache_add()), so requests in flight
 * together all write it.  Called with srv.lock held.
 */
static void
cache_account(struct call *c)
{
	struct buf b = { NULL, 0, 0 };
	json_int_t tokens;

	if (c->api != API_ANTHROPIC || c->prefix_len == 0)
		return;
	tokens = c->prefix_bytes / 4;
	if (tokens == 0 || tokens < srv.cache_min)
		return;
	buf_add(&b, buf_str(&c->cachein), c->prefix_len);
	hash_hex(&b, c->prefix);
	buf_free(&b);
	if (cache_seen(c->prefix))
		c->cache_read = tokens;
	else
		c->cache_write = tokens;
}

/* Append one line describing the request to the log, if there is one. */
static void
log_request(const struct call *c, const struct req *rq, int status,
    int rule, json_int_t cut)
{
	json_t *o;
	char *s, id[64];

	if (srv.log == NULL)
		return;
	snprintf(id, sizeof id, "req_fake_%lu", c->n);
	o = json_pack("{s:f,s:f,s:s,s:s,s:s,s:s?,s:i,s:O,s:I,s:O,s:i}",
	    "t", now(), "t_start", rq->t_start, "id", id, "method", c->method,
	    "path", c->path, "model", c->model, "status", status,
	    "headers", c->hdrnames, "body_bytes", (json_int_t)rq->body.len,
	    "targets", c->targets, "rule", rule);
	if (o == NULL)
		return;
	json_object_set(o, "max_tokens",
	    c->max_tokens != NULL ? c->max_tokens : json_null());
	if (c->temperature != NULL)
		json_object_set(o, "temperature", c->temperature);
	json_object_set_new(o, "system", str_prefix(buf_str(&c->system),
	    c->system.len, LOG_PREFIX));
	json_object_set_new(o, "prompt", str_prefix(buf_str(&c->last),
	    c->last.len, LOG_PREFIX));
	if (c->usage != NULL)
		json_object_set(o, "usage", c->usage);
	if (c->prefix_len > 0)
		json_object_set_new(o, "cache_prefix_bytes",
		    json_integer((json_int_t)c->prefix_bytes));
	if (c->batch != NULL)
		json_object_set_new(o, "batch", json_string(c->batch));
	if (c->custom_id != NULL)
		json_object_set_new(o, "custom_id", json_string(c->custom_id));
	if (c->nbatch > 0)
		json_object_set_new(o, "batch_requests",
		    json_integer(c->nbatch));
	if (cut >= 0)
		json_object_set_new(o, "cut", json_integer(cut));
	if (status == 0)
		json_object_set_new(o, "dropped", json_true());
	json_object_set_new(o, "stream", json_boolean(c->stream));
	json_object_set(o, "roles", c->roles ? c->roles : json_array());
	if (c->seen_assistant)
		json_object_set_new(o, "assistant_end", json_stringn(
		    c->assistant.s + (c->assistant.len > 40 ?
		    c->assistant.len - 40 : 0), c->assistant.len > 40 ? 40 :
		    c->assistant.len));
	if (c->api == API_OPENAI) {
		json_object_set_new(o, "include_usage",
		    json_boolean(c->include_usage));
		json_object_set_new(o, "max_tokens_field", c->tokens_field ?
		    json_string(c->tokens_field) : json_null());
	}
	if ((s = dump(o)) == NULL)
		return;

	pthread_mutex_lock(&srv.lock);
	fputs(s, srv.log);
	fputc('\n', srv.log);
	fflush(srv.log);
	pthread_mutex_unlock(&srv.lock);
	free(s);
}

/* Hand out at most cut bytes of a body, then fail the connection. */
static ssize_t
cut_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct cutbody *cb = cls;
	size_t n;

	if (pos >= cb->cut)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	n = cb->cut - pos;
	if (n > max)
		n = max;
	memcpy(buf, cb->s + pos, n);
	return n;
}

static void
cut_free(void *cls)
{
	struct cutbody *cb = cls;

	free(cb->s);
	free(cb);
}

/* Add the headers of object h to r, replacing any of the same name. */
static void
add_headers(struct MHD_Response *r, json_t *h)
{
	const char *k, *old;
	json_t *v;

	json_object_foreach(h, k, v) {
		if ((old = MHD_get_response_header(r, k)) != NULL)
			MHD_del_response_header(r, k, old);
		MHD_add_response_header(r, k, json_string_value(v));
	}
}

/* Queue body (which this takes) with status, cut short when cut >= 0. */
static enum MHD_Result
respond(struct MHD_Connection *conn, const struct call *c, int status,
    char *body, json_int_t cut, json_t *headers)
{
	struct MHD_Response *r;
	struct cutbody *cb;
	enum MHD_Result ret;
	char id[64];
	size_t len = strlen(body);

	if (cut >= 0 && (size_t)cut < len) {
		cb = xrealloc(NULL, sizeof *cb);
		cb->s = body;
		cb->cut = cut;
		r = MHD_create_response_from_callback(len, 4096, cut_read, cb,
		    cut_free);
	} else
		r = MHD_create_response_from_buffer(len, body,
		    MHD_RESPMEM_MUST_FREE);
	if (r == NULL)
		die("cannot create a response");

	snprintf(id, sizeof id, "req_fake_%lu", c->n);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "request-id", id);
	if (c->api == API_OPENAI)
		MHD_add_response_header(r, "x-request-id", id);
	add_headers(r, c->extra);
	add_headers(r, headers);

	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* An answer sent as server-sent events, one event per read. */
struct stream {
	struct buf	 text;		/* every event */
	size_t		*ends;		/* where each event ends in text */
	size_t		 nev;
	size_t		 next;		/* the event being sent */
	long		 stall_ms;	/* once, before event stall_after */
	size_t		 stall_after;
	int		 stalled;
	long		 delta_ms;	/* before each event after the first */
	json_int_t	 cut;		/* send only this many bytes, or -1 */
};

/* Mark the end of the event just written. */
static void
ev_end(struct stream *st)
{
	st->ends = xrealloc(st->ends, (st->nev + 1) * sizeof st->ends[0]);
	st->ends[st->nev++] = st->text.len;
}

/* Add one event: "event: NAME" (unless name is NULL) and data, which
 * this takes. */
static void
ev_add(struct stream *st, const char *name, json_t *data)
{
	char *d = dump(data);

	if (d == NULL)
		die("cannot build an event");
	if (name != NULL)
		buf_printf(&st->text, "event: %s\n", name);
	buf_printf(&st->text, "data: %s\n\n", d);
	free(d);
	ev_end(st);
}

/* Cut the stream after n events, ending it with an error event. */
static void
ev_error(struct stream *st, const struct call *c, size_t n, const char *etype,
    const char *msg)
{
	if (n < st->nev) {
		st->text.len = n > 0 ? st->ends[n - 1] : 0;
		st->text.s[st->text.len] = '\0';
		st->nev = n;
	}
	if (c->api == API_OPENAI)
		ev_add(st, NULL, json_pack("{s:{s:s,s:s,s:n}}", "error",
		    "message", msg, "type", etype, "code"));
	else
		ev_add(st, "error", json_pack("{s:s,s:{s:s,s:s}}", "type",
		    "error", "error", "type", etype, "message", msg));
}

/* The length of the next delta of at most max bytes of s (n left), not
 * splitting a UTF-8 sequence. */
static size_t
delta_len(const char *s, size_t n, size_t max)
{
	size_t k = n < max ? n : max;

	while (k < n && ((unsigned char)s[k] & 0xC0) == 0x80)
		k++;
	return k;
}

/* The events of an Anthropic stream answering c. */
static void
stream_anthropic(struct stream *st, struct call *c, const char *answer,
    const char *stop, json_t *usage, const char *thinking, size_t dbytes)
{
	json_int_t in = c->nbytes / 4 + 1, out = strlen(answer) / 4 + 1;
	json_t *u, *v;
	size_t i, k, n = strlen(answer), idx = 0;
	char id[64];

	snprintf(id, sizeof id, "msg_fake_%lu", c->n);
	if ((v = json_object_get(usage, "output_tokens")) != NULL)
		out = json_integer_value(v);
	in -= c->cache_read + c->cache_write;
	u = json_pack("{s:I,s:I,s:I,s:i,s:{s:I,s:I}}", "input_tokens", in,
	    "cache_creation_input_tokens", c->cache_write,
	    "cache_read_input_tokens", c->cache_read, "output_tokens", 1,
	    "cache_creation", "ephemeral_5m_input_tokens", c->ttl_1h ? 0 :
	    c->cache_write, "ephemeral_1h_input_tokens", c->ttl_1h ?
	    c->cache_write : 0);
	if (usage != NULL)
		json_object_update(u, usage);
	/* The log has the usage of the whole answer. */
	c->usage = json_deep_copy(u);
	json_object_set_new(c->usage, "output_tokens", json_integer(out));
	json_object_set_new(u, "output_tokens", json_integer(1));
	ev_add(st, "message_start", json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:[],"
	    "s:n,s:n,s:o}}", "type", "message_start", "message", "id", id,
	    "type", "message", "role", "assistant", "model", c->model,
	    "content", "stop_reason", "stop_sequence", "usage", u));
	ev_add(st, "ping", json_pack("{s:s}", "type", "ping"));
	if (thinking != NULL) {
		ev_add(st, "content_block_start", json_pack("{s:s,s:i,s:{s:s,"
		    "s:s}}", "type", "content_block_start", "index", 0,
		    "content_block", "type", "thinking", "thinking", ""));
		ev_add(st, "content_block_delta", json_pack("{s:s,s:i,s:{s:s,"
		    "s:s}}", "type", "content_block_delta", "index", 0, "delta",
		    "type", "thinking_delta", "thinking", thinking));
		ev_add(st, "content_block_delta", json_pack("{s:s,s:i,s:{s:s,"
		    "s:s}}", "type", "content_block_delta", "index", 0, "delta",
		    "type", "signature_delta", "signature", "fakesig"));
		ev_add(st, "content_block_stop", json_pack("{s:s,s:i}", "type",
		    "content_block_stop", "index", 0));
		idx = 1;
	}
	ev_add(st, "content_block_start", json_pack("{s:s,s:I,s:{s:s,s:s}}",
	    "type", "content_block_start", "index", (json_int_t)idx,
	    "content_block", "type", "text", "text", ""));
	for (i = 0; i < n; i += k) {
		k = delta_len(answer + i, n - i, dbytes);
		ev_add(st, "content_block_delta", json_pack("{s:s,s:I,s:{s:s,"
		    "s:s%}}", "type", "content_block_delta", "index",
		    (json_int_t)idx, "delta", "type", "text_delta", "text",
		    answer + i, k));
	}
	ev_add(st, "content_block_stop", json_pack("{s:s,s:I}", "type",
	    "content_block_stop", "index", (json_int_t)idx));
	ev_add(st, "message_delta", json_pack("{s:s,s:{s:s,s:n},s:{s:I}}",
	    "type", "message_delta", "delta", "stop_reason", stop,
	    "stop_sequence", "usage", "output_tokens", out));
	ev_add(st, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

/* One chunk of an OpenAI stream; takes delta. */
static json_t *
oai_chunk(const struct call *c, const char *id, json_t *delta,
    const char *finish)
{
	return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s?}]}", "id", id,
	    "object", "chat.completion.chunk", "created",
	    (json_int_t)time(NULL), "model", c->model, "choices", "index", 0,
	    "delta", delta, "finish_reason", finish);
}

/* The events of an OpenAI stream answering c. */
static void
stream_openai(struct stream *st, struct call *c, const char *answer,
    const char *stop, json_t *usage, size_t dbytes)
{
	json_int_t in = c->nbytes / 4 + 1, out = strlen(answer) / 4 + 1;
	size_t i, k, n = strlen(answer);
	json_t *u;
	char id[64];

	snprintf(id, sizeof id, "chatcmpl-fake-%lu", c->n);
	ev_add(st, NULL, oai_chunk(c, id, json_pack("{s:s,s:s}", "role",
	    "assistant", "content", ""), NULL));
	for (i = 0; i < n; i += k) {
		k = delta_len(answer + i, n - i, dbytes);
		ev_add(st, NULL, oai_chunk(c, id, json_pack("{s:s%}", "content",
		    answer + i, k), NULL));
	}
	ev_add(st, NULL, oai_chunk(c, id, json_object(), finish_reason(stop)));
	if (c->include_usage) {
		u = json_pack("{s:I,s:I,s:I}", "prompt_tokens", in,
		    "completion_tokens", out, "total_tokens", in + out);
		if (usage != NULL)
			json_object_update(u, usage);
		json_object_set_new(u, "total_tokens", json_integer(
		    json_integer_value(json_object_get(u, "prompt_tokens")) +
		    json_integer_value(json_object_get(u,
		    "completion_tokens"))));
		c->usage = json_deep_copy(u);
		ev_add(st, NULL, json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id",
		    id, "object", "chat.completion.chunk", "created",
		    (json_int_t)time(NULL), "model", c->model, "choices",
		    "usage", u));
	}
	buf_printf(&st->text, "data: [DONE]\n\n");
	ev_end(st);
}

/* Hand out the stream an event at a time, stalling or cutting it as the
 * rule said. */
static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	size_t end, n;

	if (st->cut >= 0 && pos >= (uint64_t)st->cut)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= st->text.len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	while (st->next < st->nev && st->ends[st->next] <= pos)
		st->next++;
	if (pos == (st->next > 0 ? st->ends[st->next - 1] : 0)) {
		if (!st->stalled && st->stall_ms > 0 &&
		    st->next == st->stall_after) {
			st->stalled = 1;
			sleep_ms(st->stall_ms);
		} else if (st->delta_ms > 0 && st->next > 0)
			sleep_ms(st->delta_ms);
		pthread_mutex_lock(&srv.lock);
		n = srv.stopping;
		pthread_mutex_unlock(&srv.lock);
		if (n)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	end = st->ends[st->next];
	if (st->cut >= 0 && end > (size_t)st->cut)
		end = (size_t)st->cut;
	n = end - pos;
	if (n > max)
		n = max;
	memcpy(buf, st->text.s + pos, n);
	return (ssize_t)n;
}

static void
stream_free(void *cls)
{
	struct stream *st = cls;

	buf_free(&st->text);
	free(st->ends);
	free(st);
}

/* Queue st (which this takes) with status, as ctype. */
static enum MHD_Result
respond_reader(struct MHD_Connection *conn, const struct call *c,
    int status, struct stream *st, const char *ctype, json_t *headers)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char id[64];

	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
	    stream_read, st, stream_free);
	if (r == NULL)
		die("cannot create a response");
	snprintf(id, sizeof id, "req_fake_%lu", c->n);
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "request-id", id);
	if (c->api == API_OPENAI)
		MHD_add_response_header(r, "x-request-id", id);
	add_headers(r, c->extra);
	add_headers(r, headers);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Queue the event stream st (which this takes) with status 200. */
static enum MHD_Result
respond_stream(struct MHD_Connection *conn, const struct call *c,
    struct stream *st, const char *ctype, json_t *headers)
{
	return respond_reader(conn, c, MHD_HTTP_OK, st, ctype, headers);
}

/* Queue a JSON body that stalls before it is sent. */
static enum MHD_Result
respond_plain_stalled(struct MHD_Connection *conn, const struct call *c,
    int status, struct stream *st, json_t *headers)
{
	return respond_reader(conn, c, status, st, "application/json", headers);
}

/* Whether the first off bytes of t end inside an open fence of
 * backticks; then *hdr and *fence get the line before the fence and
 * the fence line. */
static int
open_block(const char *t, size_t off, struct buf *hdr, struct buf *fence)
{
	const char *p = t, *eol, *prev = NULL;
	size_t prevn = 0, n, k, flen = 0;
	int open = 0;

	while (p < t + off) {
		if ((eol = memchr(p, '\n', (size_t)(t + off - p))) == NULL)
			eol = t + off;
		n = (size_t)(eol - p);
		for (k = 0; k < n && p[k] == '`'; k++)
			;
		if (k >= 3 && !open) {
			open = 1;
			flen = k;
			hdr->len = fence->len = 0;
			buf_add(hdr, prev ? prev : "", prev ? prevn : 0);
			buf_add(fence, p, n);
		} else if (k >= flen && k >= 3 && k == n && open)
			open = 0;
		prev = p;
		prevn = n;
		p = eol + 1;
	}
	return open;
}

/* For a chunk rule: the part of the whole answer full that c gets, as a
 * model continuing its answer would send it; *stop says whether it is
 * the last part.  NULL, with c rejected, when c does not continue full.
 * The caller frees the result. */
static char *
chunk_part(struct call *c, json_t *rule, const char *full, const char **stop)
{
	struct buf b = { NULL, 0, 0 }, hdr = b, fence = b;
	size_t flen = strlen(full), off = 0, end, k;
	const char *a = buf_str(&c->assistant), *last;
	json_t *v;

	if (c->seen_assistant) {
		if (c->assistant.len > flen || memcmp(full, a,
		    c->assistant.len) != 0) {
			call_fail(c, 400, "invalid_request_error", "fakellm: "
			    "the assistant turn is not the start of the answer "
			    "being continued");
			return NULL;
		}
		off = c->assistant.len;
	}
	end = off + (size_t)json_integer_value(json_object_get(rule, "chunk"));
	if (end > flen)
		end = flen;
	while (end < flen && ((unsigned char)full[end] & 0xC0) == 0x80)
		end++;
	*stop = end < flen ? "max_tokens" : "end_turn";
	buf_add(&b, "", 0);
	last = json_string_value(json_array_get(c->roles,
	    json_array_size(c->roles) - 1));
	if (c->seen_assistant && last != NULL && strcmp(last, "user") == 0) {
		/* asked in a new turn, a model may open the block again and
		 * repeat the end of what it wrote */
		if (json_is_true(json_object_get(rule, "reopen")) &&
		    open_block(full, off, &hdr, &fence))
			buf_printf(&b, "%s\n%s\n", buf_str(&hdr),
			    buf_str(&fence));
		if ((v = json_object_get(rule, "overlap")) != NULL) {
			k = (size_t)json_integer_value(v);
			if (k > off)
				k = off;
			buf_add(&b, full + off - k, k);
		}
	}
	buf_add(&b, full + off, end - off);
	buf_free(&hdr);
	buf_free(&fence);
	return b.s;
}

/* Add the lower-cased name of a request header to the array cls. */
static enum MHD_Result
header_name(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	char name[128];
	size_t i;

	(void)kind;
	(void)value;
	for (i = 0; key[i] != '\0' && i < sizeof name - 1; i++)
		name[i] = tolower((unsigned char)key[i]);
	name[i] = '\0';
	json_array_append_new(cls, json_string(name));
	return MHD_YES;
}

/* Decide which API url names and validate the request against it. */
static void
call_parse(struct call *c, struct MHD_Connection *conn, const struct req *rq)
{
	int r;

	if (strcmp(c->method, "POST") == 0 &&
	    strcmp(c->path, "/v1/messages") == 0)
		c->api = API_ANTHROPIC;
	else if (strcmp(c->method, "POST") == 0 &&
	    strcmp(c->path, "/v1/chat/completions") == 0)
		c->api = API_OPENAI;

	if (c->api == API_NONE) {
		call_fail(c, 404, "not_found_error", "Not Found");
		return;
	}
	if (rq->toolarge) {
		call_fail(c, 413, c->api == API_OPENAI ?
		    "invalid_request_error" : "request_too_large",
		    "Request exceeds the maximum allowed number of bytes.");
		return;
	}
	if (c->api == API_ANTHROPIC)
		r = anthropic_parse(c, conn, &rq->body);
	else
		r = openai_parse(c, conn, &rq->body);
	if (r == 0) {
		c->targets = targets_parse(buf_str(&c->listed));
		hash_hex(&c->hashin, c->hash);
		hash_hex(&c->basein, c->basehash);
	}
}

static void
call_free(struct call *c)
{
	json_decref(c->root);
	json_decref(c->hdrnames);
	json_decref(c->targets);
	json_decref(c->usage);
	json_decref(c->roles);
	json_decref(c->extra);
	buf_free(&c->system);
	buf_free(&c->all);
	buf_free(&c->last);
	buf_free(&c->listed);
	buf_free(&c->assistant);
	buf_free(&c->hashin);
	buf_free(&c->basein);
	buf_free(&c->tmp);
	buf_free(&c->cachein);
}

/* Whether c's conversation ends with an assistant turn (a prefill). */
static int
ends_with_assistant(const struct call *c)
{
	const char *last = json_string_value(json_array_get(c->roles,
	    json_array_size(c->roles) - 1));

	return last != NULL && strcmp(last, "assistant") == 0;
}

/* Build the stream that answers c as rule says. */
static struct stream *
stream_build(struct call *c, json_t *rule, const char *answer,
    const char *stop, json_int_t cut)
{
	struct stream *st;
	json_t *v;
	size_t dbytes = 16;
	const char *etype, *msg;

	st = xrealloc(NULL, sizeof *st);
	memset(st, 0, sizeof *st);
	st->cut = cut;
	if ((v = json_object_get(rule, "delta_bytes")) != NULL &&
	    json_integer_value(v) > 0)
		dbytes = (size_t)json_integer_value(v);
	if (c->api == API_ANTHROPIC)
		stream_anthropic(st, c, answer, stop, json_object_get(rule,
		    "usage"), json_string_value(json_object_get(rule,
		    "thinking")), dbytes);
	else
		stream_openai(st, c, answer, stop, json_object_get(rule,
		    "usage"), dbytes);
	if ((etype = json_string_value(json_object_get(rule,
	    "stream_error"))) != NULL) {
		if ((msg = json_string_value(json_object_get(rule,
		    "message"))) == NULL)
			msg = "Overloaded";
		v = json_object_get(rule, "error_after");
		ev_error(st, c, v != NULL ? (size_t)json_integer_value(v) : 2,
		    etype, msg);
	} else if (json_is_true(json_object_get(rule, "no_done")) &&
	    st->nev > 0) {
		/* the stream ends cleanly, but before its last event */
		st->nev--;
		st->text.len = st->nev > 0 ? st->ends[st->nev - 1] : 0;
		st->text.s[st->text.len] = '\0';
	}
	if ((v = json_object_get(rule, "stall_ms")) != NULL)
		st->stall_ms = (long)json_integer_value(v);
	if ((v = json_object_get(rule, "stall_after")) != NULL)
		st->stall_after = (size_t)json_integer_value(v);
	if ((v = json_object_get(rule, "delta_ms")) != NULL)
		st->delta_ms = (long)json_integer_value(v);
	return st;
}

/* A plain body served through the stream reader, to stall it. */
static struct stream *
stream_plain(char *body, json_t *rule, json_int_t cut)
{
	struct stream *st;

	st = xrealloc(NULL, sizeof *st);
	memset(st, 0, sizeof *st);
	buf_adds(&st->text, body);
	free(body);
	ev_end(st);
	st->cut = cut;
	st->stall_ms = (long)json_integer_value(json_object_get(rule,
	    "stall_ms"));
	return st;
}

/* Answer a request whose body is complete, as the script says. */
static enum MHD_Result
handle(struct MHD_Connection *conn, const char *url, const char *method,
    const struct req *rq)
{
	struct call c;
	struct stream *st = NULL;
	json_t *rule = NULL, *v;
	json_int_t cut = -1;
	enum MHD_Result ret;
	const char *stop;
	char *body, *answer, *part;
	long delay;
	int status, idx = -1, answers;

	memset(&c, 0, sizeof c);
	c.method = method;
	c.path = url;
	c.hdrnames = json_array();
	c.roles = json_array();
	MHD_get_connection_values(conn, MHD_HEADER_KIND, header_name,
	    c.hdrnames);
	pthread_mutex_lock(&srv.lock);
	c.n = ++srv.nrequests;
	delay = srv.delay_ms;
	pthread_mutex_unlock(&srv.lock);

	call_parse(&c, conn, rq);
	if (c.status == 0) {
		pthread_mutex_lock(&srv.lock);
		script_refresh();
		idx = script_pick(&c, &rule);
		pthread_mutex_unlock(&srv.lock);
	}
	if (c.targets == NULL)
		c.targets = json_array();
	if (c.status == 0 && json_is_false(json_object_get(rule, "prefill")) &&
	    ends_with_assistant(&c))
		call_fail(&c, 400, "invalid_request_error", "This model does "
		    "not support assistant message prefill. The conversation "
		    "must end with a user message.");

	status = c.status != 0 ? c.status : 200;
	if ((v = json_object_get(rule, "delay_ms")) != NULL)
		delay = json_integer_value(v);
	if (c.status == 0 && (v = json_object_get(rule, "status")) != NULL)
		status = json_integer_value(v);
	if ((v = json_object_get(rule, "cut")) != NULL)
		cut = json_integer_value(v);
	answers = c.status == 0 && status < 400 &&
	    json_object_get(rule, "body") == NULL &&
	    !json_is_true(json_object_get(rule, "drop"));
	if (answers) {
		pthread_mutex_lock(&srv.lock);
		cache_account(&c);
		pthread_mutex_unlock(&srv.lock);
	}
	sleep_ms(delay);
	if (answers && c.cache_write > 0) {
		pthread_mutex_lock(&srv.lock);
		cache_add(c.prefix);
		pthread_mutex_unlock(&srv.lock);
	}

	if (json_is_true(json_object_get(rule, "drop"))) {
		log_request(&c, rq, 0, idx, cut);
		json_decref(rule);
		call_free(&c);
		return MHD_NO;
	}

	body = NULL;
	if (c.status == 0 && (v = json_object_get(rule, "body")) != NULL)
		body = xstrdup(json_string_value(v));
	else if (c.status == 0 && status >= 400)
		body = scripted_error(&c, status, rule);
	else if (c.status == 0) {
		v = json_object_get(rule, "answer");
		answer = v != NULL ? xstrdup(json_string_value(v)) :
		    answer_default(&c, json_object_get(rule, "chunk") ?
		    c.basehash : c.hash);
		if ((stop = json_string_value(json_object_get(rule,
		    "stop_reason"))) == NULL)
			stop = "end_turn";
		if (json_object_get(rule, "chunk") != NULL) {
			part = chunk_part(&c, rule, answer, &stop);
			free(answer);
			answer = part;
		}
		if (answer != NULL && c.stream)
			st = stream_build(&c, rule, answer, stop, cut);
		else if (answer != NULL)
			body = ok_body(&c, answer, stop, json_object_get(rule,
			    "usage"), json_string_value(json_object_get(rule,
			    "thinking")));
		free(answer);
	}
	if (c.status != 0) {
		status = c.status;
		free(body);
		body = error_body(&c, c.etype, c.emsg, c.param, c.code);
	}
	if (body == NULL && st == NULL) {
		status = 500;
		body = error_body(&c, "api_error", "fakellm cannot build the "
		    "response", NULL, NULL);
	}

	log_request(&c, rq, status, idx, cut);
	if (st != NULL)
		ret = respond_stream(conn, &c, st, "text/event-stream",
		    json_object_get(rule, "headers"));
	else if (json_object_get(rule, "stall_ms") != NULL)
		ret = respond_plain_stalled(conn, &c, status, stream_plain(body,
		    rule, cut), json_object_get(rule, "headers"));
	else
		ret = respond(conn, &c, status, body, cut,
		    json_object_get(rule, "headers"));
	json_decref(rule);
	call_free(&c);
	return ret;
}

/* An ISO 8601 UTC time for Unix seconds t. */
static json_t *
iso_time(double t)
{
	char s[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(s);
}

/* The batch called id, or NULL.  Called with srv.batch_lock held. */
static struct fbatch *
batch_find(const char *id, size_t n)
{
	size_t i;

	for (i = 0; i < srv.nbatches; i++)
		if (strlen(srv.batches[i]->id) == n &&
		    strncmp(srv.batches[i]->id, id, n) == 0)
			return srv.batches[i];
	return NULL;
}

/* Whether s is a valid custom_id: 1 to 64 of [A-Za-z0-9_-]. */
static int
custom_id_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-')
			return 0;
	return n >= 1 && n <= 64;
}

/*
 * Answer one request of a batch as POST /v1/messages would, without its
 * latency: the script's rules apply (but delay_ms, cut, drop and body),
 * and so does the prompt cache.  Returns its result line, a new object.
 */
static json_t *
batch_item(struct fbatch *b, json_t *r)
{
	struct call c;
	struct req rq;
	json_t *rule = NULL, *v, *res;
	const char *stop;
	char *body, *answer;
	int status, idx = -1;

	memset(&c, 0, sizeof c);
	memset(&rq, 0, sizeof rq);
	c.method = "POST";
	c.path = "/v1/messages";
	c.api = API_ANTHROPIC;
	c.hdrnames = json_array();
	c.batch = b->id;
	c.custom_id = json_string_value(json_object_get(r, "custom_id"));
	pthread_mutex_lock(&srv.lock);
	c.n = ++srv.nrequests;
	pthread_mutex_unlock(&srv.lock);
	rq.t_start = now();
	body = json_dumps(json_object_get(r, "params"), JSON_COMPACT);
	buf_adds(&rq.body, body);
	free(body);

	if (anthropic_parse(&c, NULL, &rq.body) == 0) {
		c.targets = targets_parse(buf_str(&c.last));
		hash_hex(&c.hashin, c.hash);
		pthread_mutex_lock(&srv.lock);
		script_refresh();
		idx = script_pick(&c, &rule);
		pthread_mutex_unlock(&srv.lock);
	}
	if (c.targets == NULL)
		c.targets = json_array();
	status = c.status != 0 ? c.status : 200;
	if ((v = json_object_get(rule, "status")) != NULL)
		status = json_integer_value(v);
	if (c.status != 0)
		body = error_body(&c, c.etype, c.emsg, c.param, c.code);
	else if (status >= 400)
		body = scripted_error(&c, status, rule);
	else {
		pthread_mutex_lock(&srv.lock);
		cache_account(&c);
		if (c.cache_write > 0)
			cache_add(c.prefix);
		pthread_mutex_unlock(&srv.lock);
		v = json_object_get(rule, "answer");
		answer = v != NULL ? xstrdup(json_string_value(v)) :
		    answer_default(&c, c.hash);
		if ((stop = json_string_value(json_object_get(rule,
		    "stop_reason"))) == NULL)
			stop = "end_turn";
		body = ok_body(&c, answer, stop, json_object_get(rule,
		    "usage"), NULL);
		free(answer);
	}
	log_request(&c, &rq, status, idx, -1);
	v = json_loads(body, 0, NULL);
	if (status < 400) {
		res = json_pack("{s:s, s:{s:s, s:o}}", "custom_id",
		    c.custom_id, "result", "type", "succeeded", "message", v);
		b->nok++;
	} else {
		res = json_pack("{s:s, s:{s:s, s:o}}", "custom_id",
		    c.custom_id, "result", "type", "errored", "error", v);
		b->nerr++;
	}
	free(body);
	json_decref(rule);
	buf_free(&rq.body);
	call_free(&c);
	return res;
}

/* Answer every request of b once its time is up, last first (results
 * come in no particular order).  Called with srv.batch_lock held. */
static void
batch_run(struct fbatch *b)
{
	struct buf out = { NULL, 0, 0 };
	json_t *line;
	size_t i;
	char *s;

	if (b->results != NULL || now() - b->created < srv.batch_ms / 1000.0)
		return;
	for (i = json_array_size(b->requests); i-- > 0; ) {
		line = batch_item(b, json_array_get(b->requests, i));
		s = dump(line);
		buf_adds(&out, s);
		buf_add(&out, "\n", 1);
		free(s);
	}
	buf_add(&out, "", 0);
	b->results = out.s;
	b->ended = now();
}

/* The batch object of b; results_url names host.  Caller frees. */
static char *
batch_object(const struct fbatch *b, const char *host)
{
	json_int_t n = json_array_size(b->requests);
	char url[256];

	snprintf(url, sizeof url, "http://%s/v1/messages/batches/%s/results",
	    host, b->id);
	return dump(json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:I, s:i, s:i}, "
	    "s:o, s:o, s:o, s:n, s:n, s:o}", "id", b->id, "type",
	    "message_batch", "processing_status", b->results ? "ended" :
	    "in_progress", "request_counts", "processing",
	    b->results ? 0 : n, "succeeded", b->nok, "errored", b->nerr,
	    "canceled", 0, "expired", 0, "created_at", iso_time(b->created),
	    "expires_at", iso_time(b->created + 86400), "ended_at",
	    b->results ? iso_time(b->ended) : json_null(),
	    "cancel_initiated_at", "archived_at", "results_url",
	    b->results ? json_string(url) : json_null()));
}

/* POST /v1/messages/batches: check the requests and keep them. */
static char *
batch_create(struct call *c, const struct req *rq, int *status,
    const char *host)
{
	struct fbatch *b;
	json_t *reqs, *r, *seen;
	const char *id;
	char *body;
	size_t i;

	*status = 400;
	if (body_parse(c, &rq->body) == -1)
		return error_body(c, c->etype, c->emsg, NULL, NULL);
	reqs = json_object_get(c->root, "requests");
	if (!json_is_array(reqs) || json_array_size(reqs) == 0)
		return error_body(c, "invalid_request_error", "requests: "
		    "Input should be a non-empty list", NULL, NULL);
	seen = json_object();
	json_array_foreach(reqs, i, r) {
		id = json_string_value(json_object_get(r, "custom_id"));
		if (id == NULL || !custom_id_ok(id) ||
		    json_object_get(seen, id) != NULL ||
		    !json_is_object(json_object_get(r, "params"))) {
			snprintf(c->emsg, sizeof c->emsg, "requests.%zu: needs "
			    "a unique custom_id of 1 to 64 letters, digits, _ "
			    "or - and an object params", i);
			json_decref(seen);
			return error_body(c, "invalid_request_error", c->emsg,
			    NULL, NULL);
		}
		json_object_set_new(seen, id, json_true());
	}
	json_decref(seen);

	b = xrealloc(NULL, sizeof *b);
	memset(b, 0, sizeof *b);
	b->created = now();
	b->requests = json_incref(reqs);
	pthread_mutex_lock(&srv.batch_lock);
	snprintf(b->id, sizeof b->id, "msgbatch_fake_%zu", srv.nbatches + 1);
	srv.batches = xrealloc(srv.batches, (srv.nbatches + 1) *
	    sizeof srv.batches[0]);
	srv.batches[srv.nbatches++] = b;
	body = batch_object(b, host);
	pthread_mutex_unlock(&srv.batch_lock);
	c->batch = b->id;
	c->nbatch = (json_int_t)json_array_size(reqs);
	*status = 200;
	return body;
}

/* The Message Batches endpoints: create, retrieve, results. */
static enum MHD_Result
batch_handle(struct MHD_Connection *conn, const char *url,
    const char *method, const struct req *rq)
{
	static const char pre[] = "/v1/messages/batches";
	struct call c;
	struct fbatch *b;
	const char *id, *slash, *host;
	char hostbuf[64], *body;
	enum MHD_Result ret;
	json_t *hdrs = NULL;
	int status = 200;

	memset(&c, 0, sizeof c);
	c.method = method;
	c.path = url;
	c.api = API_ANTHROPIC;
	c.hdrnames = json_array();
	MHD_get_connection_values(conn, MHD_HEADER_KIND, header_name,
	    c.hdrnames);
	pthread_mutex_lock(&srv.lock);
	c.n = ++srv.nrequests;
	pthread_mutex_unlock(&srv.lock);
	if ((host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "host")) == NULL) {
		snprintf(hostbuf, sizeof hostbuf, "127.0.0.1:%u", srv.port);
		host = hostbuf;
	}

	id = url + sizeof pre;		/* past "/v1/messages/batches/" */
	if (anthropic_headers(&c, conn) == -1) {
		status = c.status;
		body = error_body(&c, c.etype, c.emsg, NULL, NULL);
	} else if (strcmp(method, "POST") == 0 && strcmp(url, pre) == 0) {
		body = batch_create(&c, rq, &status, host);
	} else if (strcmp(method, "GET") == 0 && url[sizeof pre - 1] == '/') {
		slash = strchr(id, '/');
		pthread_mutex_lock(&srv.batch_lock);
		b = batch_find(id, slash ? (size_t)(slash - id) : strlen(id));
		if (b != NULL)
			batch_run(b);
		if (b == NULL || (slash && strcmp(slash, "/results") != 0)) {
			status = 404;
			body = error_body(&c, "not_found_error", "no such "
			    "batch", NULL, NULL);
		} else if (slash == NULL) {
			body = batch_object(b, host);
		} else if (b->results == NULL) {
			status = 400;
			body = error_body(&c, "invalid_request_error", "the "
			    "batch is still in progress", NULL, NULL);
		} else {
			body = xstrdup(b->results);
			hdrs = json_pack("{s:s}", "Content-Type",
			    "application/binary");
		}
		if (b != NULL)
			c.batch = b->id;
		pthread_mutex_unlock(&srv.batch_lock);
	} else {
		status = 404;
		body = error_body(&c, "not_found_error", "Not Found", NULL,
		    NULL);
	}
	if (c.targets == NULL)
		c.targets = json_array();
	log_request(&c, rq, status, -1, -1);
	ret = respond(conn, &c, status, body, -1, hdrs);
	json_decref(hdrs);
	call_free(&c);
	return ret;
}

/* MHD's access handler: gather the body, then answer. */
static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct req *rq = *con_cls;

	(void)cls;
	(void)version;
	if (rq == NULL) {
		rq = xrealloc(NULL, sizeof *rq);
		memset(rq, 0, sizeof *rq);
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (rq->body.len + *upload_size > MAX_BODY)
			rq->toolarge = 1;
		else
			buf_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	rq->t_start = now();
	if (strncmp(url, "/v1/messages/batches", 20) == 0 &&
	    (url[20] == '\0' || url[20] == '/'))
		return batch_handle(conn, url, method, rq);
	return handle(conn, url, method, rq);
}

/* MHD's completion callback: free what access_cb allocated. */
static void
completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (rq == NULL)
		return;
	buf_free(&rq->body);
	free(rq);
	*con_cls = NULL;
}

/*
 * If argv[*i] is option name, return its value, from "name=V" or the next
 * argument, advancing *i past it; otherwise return NULL.
 */
static const char *
opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		die("option %s needs a value", name);
	return argv[++*i];
}

/* Write the port to path atomically, through path.tmp and rename(2). */
static void
port_write(const char *path, unsigned port)
{
	struct buf tmp = { NULL, 0, 0 };
	FILE *f;

	buf_printf(&tmp, "%s.tmp", path);
	if ((f = fopen(tmp.s, "w")) == NULL)
		die("cannot create %s: %s", tmp.s, strerror(errno));
	fprintf(f, "%u\n", port);
	if (fclose(f) == EOF)
		die("cannot write %s: %s", tmp.s, strerror(errno));
	if (rename(tmp.s, path) == -1)
		die("cannot rename %s to %s: %s", tmp.s, path,
		    strerror(errno));
	buf_free(&tmp);
}

/* Print libmicrohttpd's own diagnostics with our prefix. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("fakellm: mhd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* Start the daemon on 127.0.0.1 with a kernel-chosen port. */
static struct MHD_Daemon *
daemon_start(unsigned *portp)
{
	struct MHD_Daemon *d;
	struct sockaddr_in sa;
	socklen_t salen = sizeof sa;
	const union MHD_DaemonInfo *info;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	    access_cb, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_NOTIFY_COMPLETED, completed_cb, NULL,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
	    MHD_OPTION_END);
	if (d == NULL)
		die("cannot start the HTTP daemon on 127.0.0.1");
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
	if (info == NULL || getsockname(info->listen_fd,
	    (struct sockaddr *)&sa, &salen) == -1)
		die("cannot find the listening port: %s", strerror(errno));
	*portp = ntohs(sa.sin_port);
	return d;
}

int
main(int argc, char **argv)
{
	const char *portfile = NULL, *logfile = NULL, *v;
	struct MHD_Daemon *d;
	struct sigaction sa;
	struct stat st;
	sigset_t set;
	json_t *rules;
	char err[512], *end;
	unsigned port;
	int i, sig;

	pthread_mutex_init(&srv.lock, NULL);
	pthread_mutex_init(&srv.batch_lock, NULL);
	pthread_cond_init(&srv.wake, NULL);
	srv.batch_ms = 1000;
	for (i = 1; i < argc; i++) {
		if ((v = opt_value(argc, argv, &i, "--port-file")) != NULL)
			portfile = v;
		else if ((v = opt_value(argc, argv, &i, "--log")) != NULL)
			logfile = v;
		else if ((v = opt_value(argc, argv, &i, "--script")) != NULL)
			srv.script_path = v;
		else if ((v = opt_value(argc, argv, &i, "--batch-ms")) !=
		    NULL) {
			errno = 0;
			srv.batch_ms = strtol(v, &end, 10);
			if (errno != 0 || *v == '\0' || *end != '\0' ||
			    srv.batch_ms < 0)
				die("bad --batch-ms '%s'", v);
		} else if ((v = opt_value(argc, argv, &i,
		    "--cache-min-tokens")) != NULL) {
			errno = 0;
			srv.cache_min = strtol(v, &end, 10);
			if (errno != 0 || *v == '\0' || *end != '\0' ||
			    srv.cache_min < 0)
				die("bad --cache-min-tokens '%s'", v);
		} else if ((v = opt_value(argc, argv, &i, "--delay-ms")) !=
		    NULL) {
			errno = 0;
			srv.delay_ms = strtol(v, &end, 10);
			if (errno != 0 || *v == '\0' || *end != '\0' ||
			    srv.delay_ms < 0)
				die("bad --delay-ms '%s'", v);
		} else
			break;
	}
	if (i < argc || portfile == NULL) {
		fputs("usage: fakellm --port-file FILE [--log FILE] "
		    "[--script FILE] [--delay-ms N]\n"
		    "               [--cache-min-tokens N] [--batch-ms N]\n",
		    stderr);
		return 2;
	}

	if (logfile != NULL && (srv.log = fopen(logfile, "a")) == NULL)
		die("cannot open %s: %s", logfile, strerror(errno));
	memset(&st, 0, sizeof st);
	if (srv.script_path != NULL) {
		if (stat(srv.script_path, &st) == -1)
			die("cannot stat %s: %s", srv.script_path,
			    strerror(errno));
		if (script_load(srv.script_path, &rules, err, sizeof err) ==
		    -1)
			die("%s", err);
	} else
		rules = json_array();
	script_install(rules, &st);

	/* Threads inherit this mask, so only sigwait() sees the signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	d = daemon_start(&port);
	srv.port = port;
	port_write(portfile, port);
	while (sigwait(&set, &sig) != 0)
		;

	pthread_mutex_lock(&srv.lock);
	srv.stopping = 1;
	pthread_cond_broadcast(&srv.wake);
	pthread_mutex_unlock(&srv.lock);
	MHD_stop_daemon(d);
	unlink(portfile);
	if (srv.log != NULL)
		fclose(srv.log);
	json_decref(srv.rules);
	free(srv.left);
	free(srv.seen);
	for (i = 0; i < (int)srv.nbatches; i++) {
		json_decref(srv.batches[i]->requests);
		free(srv.batches[i]->results);
		free(srv.batches[i]);
	}
	free(srv.batches);
	return 0;
}
