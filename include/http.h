/* http: many POSTs in flight on one libcurl multi handle. */
#ifndef PM_HTTP_H
#define PM_HTTP_H

#include <stddef.h>

struct http;

/* What came back for one request.  Valid during the callback only. */
struct http_result {
	void		*udata;		/* as given to http_post() */
	long		 status;	/* 0: no HTTP answer (see neterr) */
	const char	*body;
	size_t		 len;
	const char	*neterr;	/* curl's words when status is 0 */
	const char	*reqid;		/* request-id header, or NULL */
	const char	*retry_after;	/* retry-after header, or NULL */
	const char	*retry_after_ms;
	double		 seconds;	/* time taken */
};

typedef void	(*http_done_fn)(const struct http_result *res, void *arg);

/* A new multi handle (initialising libcurl on first use). */
struct http	*http_new(void);
/* Abort what is in flight and free everything. */
void		 http_free(struct http *h);
/* Start POSTing body to url with the NULL-terminated "Name: value"
 * headers; a GET when body is NULL.  Takes copies of everything.  The
 * request as a whole has no time limit; it is aborted when no byte moves
 * for stall seconds.  -1 and *errp when it cannot start. */
int		 http_post(struct http *h, const char *url,
		    const char *const *headers, const char *body,
		    long stall, void *udata, char **errp);
/* Wait up to ms milliseconds for progress, then call done for each
 * request that ended.  Returns the number still in flight. */
int		 http_poll(struct http *h, int ms, http_done_fn done,
		    void *arg);
/* Requests in flight. */
int		 http_running(const struct http *h);

#endif
