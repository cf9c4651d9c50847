/* http: many POSTs in flight on one libcurl multi handle. */
#ifndef PM_HTTP_H
#define PM_HTTP_H

#include <stddef.h>

struct http;

/* What came back for one request.  Valid during the callback only. */
struct http_result {
	void		*udata;		/* as given to http_post() */
	long		 status;	/* 0: no HTTP answer (see neterr) */
	const char	*body;		/* "" when a sink took the body */
	size_t		 len;
	const char	*neterr;	/* why the transfer failed, or NULL */
	int		 stalled;	/* no byte for stall_timeout seconds */
	int		 connect_failed; /* it never connected */
	double		 seconds;	/* time taken */
	const void	*xfer;		/* for http_header() */
};

/* Where the bytes of a response body go as they arrive: status is the
 * HTTP status, ctype the Content-Type or NULL.  Return 0 to go on. */
typedef int	(*http_sink_fn)(void *udata, long status, const char *ctype,
		    const char *p, size_t n);
typedef void	(*http_done_fn)(const struct http_result *res, void *arg);

struct http_opts {
	long		 connect_timeout;	/* seconds; 0: curl's */
	long		 stall_timeout;		/* s without a byte; 0: none */
	http_sink_fn	 sink;			/* NULL: keep the body */
};

/* A descriptor to wait on besides the transfers. */
struct http_waitfd {
	int		 fd;
	short		 events;		/* POLLIN, POLLOUT */
	short		 revents;		/* set by http_poll() */
};

/* A new multi handle (initialising libcurl on first use). */
struct http	*http_new(void);
/* Abort what is in flight and free everything. */
void		 http_free(struct http *h);
/* Start POSTing body to url with the NULL-terminated "Name: value"
 * headers; a GET when body is NULL.  Takes copies of everything.  -1
 * and *errp when it cannot start. */
int		 http_post(struct http *h, const char *url,
		    const char *const *headers, const char *body,
		    const struct http_opts *o, void *udata, char **errp);
/* Wait up to ms milliseconds for progress on the transfers or on the
 * nfds descriptors of fds (whose revents are set), then call done for
 * each request that ended.  Returns the number still in flight. */
int		 http_poll(struct http *h, int ms, struct http_waitfd *fds,
		    unsigned nfds, http_done_fn done, void *arg);
/* Requests in flight. */
int		 http_running(const struct http *h);
/* The Unix time of an HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT"), or
 * -1 when s is not one. */
double		 http_date(const char *s);
/* The value of response header name (any case) of the last response of
 * res, or NULL.  Valid during the callback only. */
const char	*http_header(const struct http_result *res, const char *name);

#endif
