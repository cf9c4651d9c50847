#include "http.h"

#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* libcurl is loaded when the first transfer is set up, not linked: its
 * dependencies (TLS, HTTP/2, Kerberos, LDAP and more, 30 libraries)
 * cost a run 4.5 MB of memory and 2 ms before main(), and a no-op
 * rerun asks nothing.  The calls below go through the table filled by
 * curl_load(); the header's type-checking macros would hide them. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#ifndef PM_LIBCURL
#define PM_LIBCURL	"libcurl.so.4"	/* the ABI since libcurl 7.16 */
#endif

static struct {
	CURLcode	 (*global_init)(long);
	CURLM		*(*multi_init)(void);
	CURLMcode	 (*multi_cleanup)(CURLM *);
	CURLMcode	 (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode	 (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode	 (*multi_poll)(CURLM *, struct curl_waitfd *,
			    unsigned int, int, int *);
	CURLMcode	 (*multi_perform)(CURLM *, int *);
	CURLMsg		*(*multi_info_read)(CURLM *, int *);
	const char	*(*multi_strerror)(CURLMcode);
	CURL		*(*easy_init)(void);
	void		 (*easy_cleanup)(CURL *);
	CURLcode	 (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode	 (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char	*(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void		 (*slist_free_all)(struct curl_slist *);
	time_t		 (*getdate)(const char *, const time_t *);
} pm_curl;

#undef curl_easy_setopt		/* curl.h may define these two */
#undef curl_easy_getinfo
#define curl_global_init	pm_curl.global_init
#define curl_multi_init		pm_curl.multi_init
#define curl_multi_cleanup	pm_curl.multi_cleanup
#define curl_multi_add_handle	pm_curl.multi_add_handle
#define curl_multi_remove_handle pm_curl.multi_remove_handle
#define curl_multi_poll		pm_curl.multi_poll
#define curl_multi_perform	pm_curl.multi_perform
#define curl_multi_info_read	pm_curl.multi_info_read
#define curl_multi_strerror	pm_curl.multi_strerror
#define curl_easy_init		pm_curl.easy_init
#define curl_easy_cleanup	pm_curl.easy_cleanup
#define curl_easy_setopt	pm_curl.easy_setopt
#define curl_easy_getinfo	pm_curl.easy_getinfo
#define curl_easy_strerror	pm_curl.easy_strerror
#define curl_slist_append	pm_curl.slist_append
#define curl_slist_free_all	pm_curl.slist_free_all
#define curl_getdate		pm_curl.getdate

#include "log.h"
#include "util.h"

#define HTTP_MAXHEADERS	64

struct http {
	CURLM		*multi;
	struct xfer	*head;		/* transfers in flight */
	int		 running;	/* their number */
};

/* A response header, as a name and a value. */
struct header {
	char		*name;
	char		*value;
};

/* One transfer.  Owned by the http module from post to done. */
struct xfer {
	CURL			*easy;
	struct curl_slist	*headers;
	char			*body;		/* owned copy of the request */
	struct buf		 resp;
	struct header		 hdrs[HTTP_MAXHEADERS];
	int			 nhdrs;
	http_sink_fn		 sink;
	long			 stall;		/* seconds, or 0 */
	int			 connected;
	int			 stalled;
	int			 sinkfail;
	curl_off_t		 seen;		/* bytes moved, both ways */
	double			 last;		/* when a byte last moved */
	char			 errbuf[CURL_ERROR_SIZE];
	char			 why[128];
	void			*udata;
	double			 start;
	struct xfer		*prev, *next;
};

static int	curl_ready;

/* The address of libcurl's function name into *fn. */
static void
curl_sym(void *lib, const char *name, void *fn)
{
	void *p;

	/* POSIX makes a data pointer of dlsym()'s answer; memcpy moves it
	 * into the function pointer without a cast ISO C lacks. */
	if ((p = dlsym(lib, name)) == NULL)
		fatal("cannot use %s: it has no %s (libcurl 7.66 or later is "
		    "needed)", PM_LIBCURL, name);
	memcpy(fn, &p, sizeof(p));
}

/* Load and initialise libcurl, once. */
static void
curl_load(void)
{
	char why[512];
	void *lib;

	if (curl_ready)
		return;
	/* The same API is built on GnuTLS under another name. */
	if ((lib = dlopen(PM_LIBCURL, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(why, sizeof(why), "%s", dlerror());
		if ((lib = dlopen("libcurl-gnutls.so.4", RTLD_NOW |
		    RTLD_LOCAL)) == NULL)
			fatal("cannot load libcurl: %s (make deps installs "
			    "it)", why);
	}
	curl_sym(lib, "curl_global_init", &pm_curl.global_init);
	curl_sym(lib, "curl_multi_init", &pm_curl.multi_init);
	curl_sym(lib, "curl_multi_cleanup", &pm_curl.multi_cleanup);
	curl_sym(lib, "curl_multi_add_handle", &pm_curl.multi_add_handle);
	curl_sym(lib, "curl_multi_remove_handle",
	    &pm_curl.multi_remove_handle);
	curl_sym(lib, "curl_multi_poll", &pm_curl.multi_poll);
	curl_sym(lib, "curl_multi_perform", &pm_curl.multi_perform);
	curl_sym(lib, "curl_multi_info_read", &pm_curl.multi_info_read);
	curl_sym(lib, "curl_multi_strerror", &pm_curl.multi_strerror);
	curl_sym(lib, "curl_easy_init", &pm_curl.easy_init);
	curl_sym(lib, "curl_easy_cleanup", &pm_curl.easy_cleanup);
	curl_sym(lib, "curl_easy_setopt", &pm_curl.easy_setopt);
	curl_sym(lib, "curl_easy_getinfo", &pm_curl.easy_getinfo);
	curl_sym(lib, "curl_easy_strerror", &pm_curl.easy_strerror);
	curl_sym(lib, "curl_slist_append", &pm_curl.slist_append);
	curl_sym(lib, "curl_slist_free_all", &pm_curl.slist_free_all);
	curl_sym(lib, "curl_getdate", &pm_curl.getdate);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatal("cannot initialise libcurl");
	curl_ready = 1;
}

struct http *
http_new(void)
{
	struct http *h;

	/* libcurl is loaded with the first transfer: a build the cache
	 * answers whole, or a cmd: provider, needs none. */
	h = xcalloc(1, sizeof(*h));
	return h;
}

static void
headers_clear(struct xfer *x)
{
	int i;

	for (i = 0; i < x->nhdrs; i++) {
		free(x->hdrs[i].name);
		free(x->hdrs[i].value);
	}
	x->nhdrs = 0;
}

static void
xfer_free(struct xfer *x)
{
	curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->body);
	buf_free(&x->resp);
	headers_clear(x);
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
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h);
}

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	const char *ctype = NULL;
	long status = 0;

	x->last = now_mono();
	if (x->sink == NULL) {
		buf_add(&x->resp, p, size * n);
		return size * n;
	}
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);
	if (x->sink(x->udata, status, ctype, p, size * n) != 0) {
		x->sinkfail = 1;
		return 0;
	}
	return size * n;
}

/* Keep one header line; a status line starts a new response. */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n, k, v;
	const char *colon;

	x->last = now_mono();
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		headers_clear(x);
		return len;
	}
	if ((colon = memchr(p, ':', len)) == NULL ||
	    x->nhdrs == HTTP_MAXHEADERS)
		return len;
	k = (size_t)(colon - p);
	for (v = k + 1; v < len && (p[v] == ' ' || p[v] == '\t'); v++)
		;
	while (len > v && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
	    p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	x->hdrs[x->nhdrs].name = xstrndup(p, k);
	x->hdrs[x->nhdrs].value = xstrndup(p + v, len - v);
	x->nhdrs++;
	return size * n;
}

/* The connection is up: the stall clock starts now. */
static int
on_prereq(void *arg, char *ip, char *lip, int port, int lport)
{
	struct xfer *x = arg;

	(void)ip;
	(void)lip;
	(void)port;
	(void)lport;
	x->connected = 1;
	x->last = now_mono();
	return CURL_PREREQFUNC_OK;
}

/* Called about once a second at least: abort a transfer on which no
 * byte has moved for x->stall seconds. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;
	double now = now_mono();

	(void)dltotal;
	(void)ultotal;
	if (dlnow + ulnow != x->seen) {
		x->seen = dlnow + ulnow;
		x->last = now;
		return 0;
	}
	if (x->stall > 0 && x->connected && now - x->last >= x->stall) {
		x->stalled = 1;
		return 1;
	}
	return 0;
}

const char *
http_header(const struct http_result *res, const char *name)
{
	const struct xfer *x = res->xfer;
	int i;

	for (i = x ? x->nhdrs - 1 : -1; i >= 0; i--)
		if (strcasecmp(x->hdrs[i].name, name) == 0)
			return x->hdrs[i].value;
	return NULL;
}

int
http_post(struct http *h, const char *url, const char *const *headers,
    const char *body, const struct http_opts *o, void *udata, char **errp)
{
	struct xfer *x;
	CURLMcode mc;

	if (h->multi == NULL) {
		curl_load();
		if ((h->multi = curl_multi_init()) == NULL)
			fatal("cannot initialise libcurl");
	}
	x = xcalloc(1, sizeof(*x));
	x->udata = udata;
	x->body = body ? xstrdup(body) : NULL;
	x->start = x->last = now_mono();
	x->sink = o->sink;
	x->stall = o->stall_timeout;
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
	curl_easy_setopt(x->easy, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(x->easy, CURLOPT_PREREQDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(x->easy, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(x->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	if (o->connect_timeout > 0)
		curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT,
		    o->connect_timeout);
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
	log_debug(LOG_HTTP, "%s %s (%zu bytes, stall limit %ld s, no overall "
	    "limit)", body ? "POST" : "GET", url, body ? strlen(body) : 0,
	    o->stall_timeout);
	return 0;
}

/* Fill res for the transfer x that ended with code rc. */
static void
xfer_result(struct xfer *x, CURLcode rc, struct http_result *res)
{
	memset(res, 0, sizeof(*res));
	res->udata = x->udata;
	res->xfer = x;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &res->status);
	if (rc != CURLE_OK) {
		if (x->stalled) {
			res->stalled = 1;
			snprintf(x->why, sizeof(x->why), "no data for %ld s "
			    "(stall_timeout)", x->stall);
			res->neterr = x->why;
		} else
			res->neterr = x->errbuf[0] ? x->errbuf :
			    curl_easy_strerror(rc);
		res->connect_failed = !x->connected;
	}
	res->body = x->resp.data ? x->resp.data : "";
	res->len = x->resp.len;
	res->seconds = now_mono() - x->start;
}

int
http_poll(struct http *h, int ms, struct http_waitfd *fds, unsigned nfds,
    http_done_fn done, void *arg)
{
	struct curl_waitfd wfd[nfds ? nfds : 1];
	struct http_result res;
	struct xfer *x;
	CURLMsg *msg;
	unsigned i;
	int still, left;

	if (h->multi == NULL) {
		/* No transfer yet, so no libcurl: the other descriptors are
		 * polled alone. */
		struct pollfd pfd[nfds ? nfds : 1];

		for (i = 0; i < nfds; i++) {
			pfd[i].fd = fds[i].fd;
			pfd[i].events = fds[i].events;
			pfd[i].revents = 0;
		}
		if (poll(pfd, nfds, ms) == -1)
			for (i = 0; i < nfds; i++)
				pfd[i].revents = 0;
		for (i = 0; i < nfds; i++)
			fds[i].revents = pfd[i].revents;
		return 0;
	}
	for (i = 0; i < nfds; i++) {
		wfd[i].fd = fds[i].fd;
		wfd[i].events = 0;
		if (fds[i].events & POLLIN)
			wfd[i].events |= CURL_WAIT_POLLIN;
		if (fds[i].events & POLLOUT)
			wfd[i].events |= CURL_WAIT_POLLOUT;
		wfd[i].revents = 0;
	}
	curl_multi_poll(h->multi, nfds ? wfd : NULL, nfds, ms, NULL);
	for (i = 0; i < nfds; i++) {
		fds[i].revents = 0;
		if (wfd[i].revents & CURL_WAIT_POLLIN)
			fds[i].revents |= POLLIN;
		if (wfd[i].revents & CURL_WAIT_POLLOUT)
			fds[i].revents |= POLLOUT;
		if (wfd[i].revents & CURL_WAIT_POLLPRI)
			fds[i].revents |= POLLPRI;
	}
	curl_multi_perform(h->multi, &still);
	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&x);
		xfer_result(x, msg->data.result, &res);
		log_debug(LOG_HTTP, "%ld in %.2f s%s%s", res.status,
		    res.seconds, res.neterr ? ": " : "",
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
	return h != NULL ? h->running : 0;
}

double
http_date(const char *s)
{
	time_t t;

	curl_load();
	t = curl_getdate(s, NULL);

	return t == (time_t)-1 ? -1 : (double)t;
}
