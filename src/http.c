#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "log.h"
#include "util.h"

struct http {
	CURLM		*multi;
	struct xfer	*head;		/* transfers in flight */
	int		 running;	/* their number */
};

/* One transfer.  Owned by the http module from post to done. */
struct xfer {
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;		/* owned copy of the request */
	struct buf		 resp;
	char			*reqid;
	char			*retry_after;
	char			*retry_after_ms;
	char			 errbuf[CURL_ERROR_SIZE];
	void			*udata;
	double			 start;
	struct xfer		*prev, *next;
};

static int	curl_ready;

struct http *
http_new(void)
{
	struct http *h;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			fatal("cannot initialise libcurl");
		curl_ready = 1;
	}
	h = xcalloc(1, sizeof(*h));
	if ((h->multi = curl_multi_init()) == NULL)
		fatal("cannot initialise libcurl");
	return h;
}

static void
xfer_free(struct xfer *x)
{
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	buf_free(&x->resp);
	free(x->reqid);
	free(x->retry_after);
	free(x->retry_after_ms);
	free(x);
}

/* Take x off h's list of transfers in flight. */
static void
xfer_unlink(struct http *h, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		h->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	curl_multi_remove_handle(h->multi, x->easy);
	h->running--;
}

void
http_free(struct http *h)
{
	struct xfer *x;

	if (h == NULL)
		return;
	while ((x = h->head) != NULL) {
		xfer_unlink(h, x);
		xfer_free(x);
	}
	curl_multi_cleanup(h->multi);
	free(h);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	buf_add(&x->resp, p, size * n);
	return size * n;
}

/* Keep the value of header name when line is that header. */
static void
keep_header(const char *line, size_t n, const char *name, char **dst)
{
	size_t k = strlen(name);

	if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return;
	line += k + 1;
	n -= k + 1;
	while (n > 0 && (*line == ' ' || *line == '\t'))
		line++, n--;
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' ||
	    line[n - 1] == ' '))
		n--;
	free(*dst);
	*dst = xstrndup(line, n);
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;

	keep_header(p, size * n, "request-id", &x->reqid);
	keep_header(p, size * n, "x-request-id", &x->reqid);
	keep_header(p, size * n, "retry-after", &x->retry_after);
	keep_header(p, size * n, "retry-after-ms", &x->retry_after_ms);
	return size * n;
}

int
http_post(struct http *h, const char *url, const char *const *headers,
    const char *body, long stall, void *udata, char **errp)
{
	struct xfer *x;
	CURLMcode mc;

	x = xcalloc(1, sizeof(*x));
	x->udata = udata;
	x->body = body ? xstrdup(body) : NULL;
	x->start = now_mono();
	if ((x->easy = curl_easy_init()) == NULL)
		fatal("cannot initialise libcurl");
	for (; headers && *headers; headers++)
		x->headers = curl_slist_append(x->headers, *headers);
	x->headers = curl_slist_append(x->headers, "Expect:");
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
	if (x->body != NULL) {
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(x->body));
	} else
		curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT, 30L);
	/* No limit on the whole request, which may take many minutes to
	 * generate; instead abort when nothing at all moves for stall s. */
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT, 0L);
	curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(x->easy, CURLOPT_LOW_SPEED_TIME, stall);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "planmake/0.1");
	if ((mc = curl_multi_add_handle(h->multi, x->easy)) != CURLM_OK) {
		xasprintf(errp, "cannot start a request: %s",
		    curl_multi_strerror(mc));
		xfer_free(x);
		return -1;
	}
	x->next = h->head;
	if (h->head)
		h->head->prev = x;
	h->head = x;
	h->running++;
	log_debug(LOG_HTTP, "%s %s (%zu bytes, stall limit %ld s)",
	    body ? "POST" : "GET", url, body ? strlen(body) : 0, stall);
	return 0;
}

int
http_poll(struct http *h, int ms, http_done_fn done, void *arg)
{
	struct http_result res;
	struct xfer *x;
	CURLMsg *msg;
	int still, left;

	curl_multi_poll(h->multi, NULL, 0, ms, NULL);
	curl_multi_perform(h->multi, &still);
	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&x);
		memset(&res, 0, sizeof(res));
		res.udata = x->udata;
		if (msg->data.result == CURLE_OK)
			curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE,
			    &res.status);
		else
			res.neterr = x->errbuf[0] ? x->errbuf :
			    curl_easy_strerror(msg->data.result);
		res.body = x->resp.data ? x->resp.data : "";
		res.len = x->resp.len;
		res.reqid = x->reqid;
		res.retry_after = x->retry_after;
		res.retry_after_ms = x->retry_after_ms;
		res.seconds = now_mono() - x->start;
		log_debug(LOG_HTTP, "%ld in %.2f s, %zu bytes%s%s", res.status,
		    res.seconds, res.len, res.neterr ? ": " : "",
		    res.neterr ? res.neterr : "");
		xfer_unlink(h, x);
		done(&res, arg);
		xfer_free(x);
	}
	return h->running;
}

int
http_running(const struct http *h)
{
	return h->running;
}
