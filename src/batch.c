#include "batch.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "util.h"

#define BATCH_FORMAT	1
/* Polls that may fail in a row before this run stops polling; the
 * record is kept, so a rerun collects the batch. */
#define BATCH_TRIES	5
/* The most seconds between polls that failed. */
#define BATCH_BACKOFF_MAX	600.0

enum bstate {
	B_QUEUED,		/* collecting requests */
	B_CREATING,		/* the create request is in flight */
	B_WAITING,		/* created; polled when its time comes */
	B_POLLING,		/* a poll is in flight */
	B_FETCHING,		/* the results are being fetched */
	B_STALLED,		/* polls failed: left to a rerun */
	B_DONE			/* every answer is in */
};

/* One request of a batch. */
struct bitem {
	char		 key[65];	/* its custom_id */
	struct task	*task;		/* waiting on it, or NULL */
	char		*body;		/* owned: while queued */
	char		*message;	/* owned: an answer no task took yet */
	size_t		 len;
	char		*err;		/* owned: why there is no answer */
	int		 retry;		/* err may pass if asked again */
	int		 answered;	/* message or err is in */
	int		 delivered;	/* handed to its task */
};

struct bat {
	int		 state;		/* enum bstate */
	char		*id;		/* owned, once created */
	char		*base;		/* owned */
	char		*keyvar;	/* owned */
	char		*file;		/* owned: its record, once created */
	struct bitem	*items;		/* owned */
	size_t		 nitems;
	double		 next;		/* monotonic time of the next poll */
	int		 fails;		/* polls failed in a row */
	int		 recorded;	/* made by an earlier run */
};

struct batches {
	struct bat	**v;		/* owned */
	size_t		  n;
	char		 *dir;		/* owned */
	double		  poll;
	struct http	 *http;		/* borrowed */
	batch_result_fn	  fn;
	void		 *arg;
};

static void
bat_free(struct bat *b)
{
	size_t i;

	for (i = 0; i < b->nitems; i++) {
		free(b->items[i].body);
		free(b->items[i].message);
		free(b->items[i].err);
	}
	free(b->items);
	free(b->id);
	free(b->base);
	free(b->keyvar);
	free(b->file);
	free(b);
}

static struct bat *
bat_new(struct batches *bs, const char *base, const char *keyvar)
{
	struct bat *b;

	b = xcalloc(1, sizeof(*b));
	b->base = xstrdup(base);
	b->keyvar = xstrdup(keyvar ? keyvar : "ANTHROPIC_API_KEY");
	bs->v = xreallocarray(bs->v, bs->n + 1, sizeof(*bs->v));
	bs->v[bs->n++] = b;
	return b;
}

static struct bitem *
bat_item(struct bat *b, const char *key)
{
	struct bitem *it;

	b->items = xreallocarray(b->items, b->nitems + 1, sizeof(*b->items));
	it = &b->items[b->nitems++];
	memset(it, 0, sizeof(*it));
	snprintf(it->key, sizeof(it->key), "%s", key);
	return it;
}

/* Read one record; NULL with *errp when it is damaged. */
static struct bat *
bat_load(struct batches *bs, const char *path, char **errp)
{
	const char *id, *base, *keyvar, *key;
	json_error_t jerr;
	json_t *root, *reqs, *v;
	struct bat *b;
	size_t i;
	int format;

	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		xasprintf(errp, "batch record %s is unreadable: %s", path,
		    jerr.text);
		return NULL;
	}
	if (json_unpack(root, "{s:i, s:s, s:s, s:s, s:o}", "format", &format,
	    "id", &id, "base", &base, "keyvar", &keyvar, "requests",
	    &reqs) != 0 || format != BATCH_FORMAT || !json_is_array(reqs)) {
		xasprintf(errp, "batch record %s is damaged; it is left "
		    "alone", path);
		json_decref(root);
		return NULL;
	}
	b = bat_new(bs, base, keyvar);
	b->id = xstrdup(id);
	b->file = xstrdup(path);
	b->state = B_WAITING;
	b->recorded = 1;	/* polled even when no task claims it */
	json_array_foreach(reqs, i, v)
		if ((key = json_string_value(v)) != NULL)
			bat_item(b, key);
	json_decref(root);
	return b;
}

struct batches *
batches_new(const char *dir, double poll, struct http *h, batch_result_fn fn,
    void *arg, char **warnp)
{
	struct batches *bs;
	struct dirent *de;
	char *path, *err = NULL;
	size_t n;
	DIR *d;

	bs = xcalloc(1, sizeof(*bs));
	bs->dir = xstrdup(dir);
	bs->poll = poll;
	bs->http = h;
	bs->fn = fn;
	bs->arg = arg;
	if ((d = opendir(dir)) == NULL)
		return bs;	/* none recorded */
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		path = path_join(dir, de->d_name);
		if (bat_load(bs, path, &err) == NULL && *warnp == NULL)
			*warnp = err;
		else
			free(err);
		err = NULL;
		free(path);
	}
	closedir(d);
	return bs;
}

void
batches_free(struct batches *bs)
{
	size_t i;

	if (bs == NULL)
		return;
	for (i = 0; i < bs->n; i++)
		bat_free(bs->v[i]);
	free(bs->v);
	free(bs->dir);
	free(bs);
}

/* The recorded item of key, or NULL; *bp gets its batch. */
static struct bitem *
find_item(const struct batches *bs, const char *key, struct bat **bp)
{
	struct bat *b;
	size_t i, k;

	for (i = 0; i < bs->n; i++) {
		b = bs->v[i];
		if (b->id == NULL)
			continue;
		for (k = 0; k < b->nitems; k++)
			if (!b->items[k].delivered &&
			    strcmp(b->items[k].key, key) == 0) {
				if (bp)
					*bp = b;
				return &b->items[k];
			}
	}
	return NULL;
}

int
batch_holds(const struct batches *bs, const char *key)
{
	return bs != NULL && find_item(bs, key, NULL) != NULL;
}

/* Hand it's answer to its task, once. */
static void
deliver(struct batches *bs, struct bitem *it)
{
	if (it->task == NULL || !it->answered || it->delivered)
		return;
	it->delivered = 1;
	bs->fn(bs->arg, it->task, it->key, it->message, it->len, it->err,
	    it->retry);
}

/* Forget b's record when every answer has reached its task. */
static void
bat_retire(struct bat *b)
{
	size_t i;

	for (i = 0; i < b->nitems; i++)
		if (!b->items[i].delivered)
			return;
	if (b->file != NULL && unlink(b->file) == -1 && errno != ENOENT)
		log_warning("cannot remove %s: %s", b->file, strerror(errno));
	free(b->file);
	b->file = NULL;
}

void
batch_claim(struct batches *bs, const char *key, struct task *t)
{
	struct bitem *it;
	struct bat *b;

	if ((it = find_item(bs, key, &b)) == NULL)
		return;
	it->task = t;
	if (b->state == B_WAITING && b->next == 0)
		b->next = now_mono();	/* a recorded batch: poll it now */
	deliver(bs, it);
	bat_retire(b);
}

void
batch_add(struct batches *bs, const char *base, const char *keyvar,
    const char *key, const char *body, struct task *t)
{
	struct bitem *it;
	struct bat *b = NULL;
	size_t i;

	for (i = 0; i < bs->n; i++)
		if (bs->v[i]->state == B_QUEUED &&
		    strcmp(bs->v[i]->base, base) == 0 &&
		    bs->v[i]->nitems < BATCH_MAX) {
			b = bs->v[i];
			break;
		}
	if (b == NULL)
		b = bat_new(bs, base, keyvar);
	it = bat_item(b, key);
	it->task = t;
	it->body = xstrdup(body);
}

/* Send method (a GET when body is NULL) to url for b. */
static int
bat_send(struct batches *bs, struct bat *b, const char *url,
    const char *body, char **errp)
{
	const struct http_opts opts = { 30, 300, NULL };
	const char *hdrs[4], *key;
	char *auth;
	int rc;

	key = getenv(b->keyvar);
	xasprintf(&auth, "x-api-key: %s", key ? key : "");
	hdrs[0] = auth;
	hdrs[1] = "anthropic-version: 2023-06-01";
	hdrs[2] = "content-type: application/json";
	hdrs[3] = NULL;
	rc = http_post(bs->http, url, hdrs, body, &opts, b, errp);
	memset(auth, 0, strlen(auth));	/* holds the key */
	free(auth);
	return rc;
}

/* Every item of b that has no answer yet gets err; retry when asking
 * again may pass. */
static void
bat_fail(struct batches *bs, struct bat *b, const char *err, int retry)
{
	size_t i;

	for (i = 0; i < b->nitems; i++) {
		if (b->items[i].answered)
			continue;
		b->items[i].answered = 1;
		b->items[i].err = xstrdup(err);
		b->items[i].retry = retry;
		deliver(bs, &b->items[i]);
	}
	b->state = B_DONE;
}

/* A poll of b (or the fetch of its results) failed with err: poll again
 * later, waiting twice as long each time, and after BATCH_TRIES failures
 * stop polling in this run.  The tasks keep waiting and the record is
 * kept, so a rerun collects the batch instead of paying for it again. */
static void
bat_poll_failed(struct batches *bs, struct bat *b, const char *err)
{
	double d;

	if (++b->fails >= BATCH_TRIES) {
		log_warning("%s; %d polls of batch %s failed, so this run stops "
		    "polling it; its record is kept and a rerun collects it",
		    err, b->fails, b->id);
		b->state = B_STALLED;
		return;
	}
	d = bs->poll * (1 << (b->fails - 1));
	if (d > BATCH_BACKOFF_MAX)
		d = BATCH_BACKOFF_MAX;
	log_note("%s; polling again in %.1f s", err, d);
	b->state = B_WAITING;
	b->next = now_mono() + d;
}

/* Whether an HTTP status (0: no answer) of a failed request may pass
 * when it is sent again. */
static int
status_retryable(long status)
{
	return status == 0 || status == 408 || status == 429 || status >= 500;
}

void
batch_flush(struct batches *bs)
{
	json_t *root, *reqs, *params;
	struct bat *b;
	char *url, *body, *err = NULL;
	size_t i, k;

	if (bs == NULL)
		return;
	for (i = 0; i < bs->n; i++) {
		b = bs->v[i];
		if (b->state != B_QUEUED)
			continue;
		reqs = json_array();
		for (k = 0; k < b->nitems; k++) {
			params = json_loads(b->items[k].body, 0, NULL);
			/* A batch answers whole: no stream. */
			json_object_del(params, "stream");
			json_object_del(params, "stream_options");
			json_array_append_new(reqs, json_pack("{s:s, s:o}",
			    "custom_id", b->items[k].key, "params", params));
			free(b->items[k].body);
			b->items[k].body = NULL;
		}
		root = json_pack("{s:o}", "requests", reqs);
		body = json_dumps(root, JSON_COMPACT);
		json_decref(root);
		xasprintf(&url, "%s/v1/messages/batches", b->base);
		b->state = B_CREATING;
		if (bat_send(bs, b, url, body, &err) == -1) {
			bat_fail(bs, b, err, 0);
			free(err);
			err = NULL;
		} else
			log_note("creating a batch of %zu request%s",
			    b->nitems, b->nitems == 1 ? "" : "s");
		free(url);
		free(body);
	}
}

/* Whether a task waits on an item of b that has no answer. */
static int
bat_wanted(const struct bat *b)
{
	size_t i;

	for (i = 0; i < b->nitems; i++)
		if (b->items[i].task != NULL && !b->items[i].answered)
			return 1;
	return 0;
}

int
batch_tick(struct batches *bs)
{
	struct bat *b;
	double now, next = -1;
	char *url, *err = NULL;
	size_t i;

	if (bs == NULL)
		return -1;
	now = now_mono();
	for (i = 0; i < bs->n; i++) {
		b = bs->v[i];
		if (b->state != B_WAITING || !(bat_wanted(b) || b->recorded))
			continue;
		if (b->next > now) {
			if (next < 0 || b->next - now < next)
				next = b->next - now;
			continue;
		}
		xasprintf(&url, "%s/v1/messages/batches/%s", b->base, b->id);
		if (bat_send(bs, b, url, NULL, &err) == -1) {
			bat_poll_failed(bs, b, err);
			free(err);
			err = NULL;
		} else
			b->state = B_POLLING;
		free(url);
	}
	return next < 0 ? -1 : (int)(next * 1000) + 1;
}

int
batch_owns(const struct batches *bs, const void *udata)
{
	size_t i;

	for (i = 0; i < bs->n; i++)
		if (bs->v[i] == udata)
			return 1;
	return 0;
}

/* The provider's words for a failed batch request. */
static char *
http_error(const struct bat *b, const struct http_result *res)
{
	const char *type = NULL, *msg = NULL;
	json_t *root, *e;
	char *s;

	if (res->status == 0) {
		xasprintf(&s, "anthropic: batch %s: %s", b->id ? b->id : "",
		    res->neterr ? res->neterr : "no answer");
		return s;
	}
	root = json_loadb(res->body, res->len, 0, NULL);
	e = json_object_get(root, "error");
	type = json_string_value(json_object_get(e, "type"));
	msg = json_string_value(json_object_get(e, "message"));
	xasprintf(&s, "anthropic: batch%s%s: HTTP %ld%s%s%s%s",
	    b->id ? " " : "", b->id ? b->id : "", res->status,
	    type ? " " : "", type ? type : "", msg ? ": " : "",
	    msg ? msg : "");
	json_decref(root);
	return s;
}

/* Write b's record: its id, base, key variable and request keys. */
static int
bat_record(struct batches *bs, struct bat *b, char **errp)
{
	json_t *root, *reqs;
	char *text, *name;
	size_t i;
	int rc;

	reqs = json_array();
	for (i = 0; i < b->nitems; i++)
		json_array_append_new(reqs, json_string(b->items[i].key));
	root = json_pack("{s:i, s:s, s:s, s:s, s:o}", "format", BATCH_FORMAT,
	    "id", b->id, "base", b->base, "keyvar", b->keyvar, "requests",
	    reqs);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	xasprintf(&name, "%s.json", b->id);
	b->file = path_join(bs->dir, name);
	free(name);
	rc = file_write_atomic(b->file, text, strlen(text), 1, errp);
	free(text);
	return rc;
}

/* The answer to create: the batch's id. */
static void
on_created(struct batches *bs, struct bat *b, const struct http_result *res)
{
	const char *id;
	json_t *root;
	char *err = NULL;

	root = json_loadb(res->body, res->len, 0, NULL);
	id = json_string_value(json_object_get(root, "id"));
	if (res->status != 200 || id == NULL || strchr(id, '/') != NULL ||
	    id[0] == '.') {
		err = res->status == 200 ? xstrdup("anthropic: the batch was "
		    "created without a usable id") : http_error(b, res);
		bat_fail(bs, b, err, status_retryable(res->status));
		free(err);
		json_decref(root);
		return;
	}
	b->id = xstrdup(id);
	json_decref(root);
	if (bat_record(bs, b, &err) == -1) {
		log_warning("%s; a killed run could not resume batch %s", err,
		    b->id);
		free(err);
	}
	log_note("batch %s created: %zu request%s", b->id, b->nitems,
	    b->nitems == 1 ? "" : "s");
	b->state = B_WAITING;
	b->next = now_mono() + bs->poll;
}

/* The answer to a poll: wait more, or fetch the results. */
static void
on_polled(struct batches *bs, struct bat *b, const struct http_result *res)
{
	const char *status, *url;
	json_t *root;
	char *err = NULL;

	root = json_loadb(res->body, res->len, 0, NULL);
	status = json_string_value(json_object_get(root,
	    "processing_status"));
	url = json_string_value(json_object_get(root, "results_url"));
	if (res->status == 404) {
		/* Gone (expired or deleted): its requests are asked anew. */
		err = http_error(b, res);
		bat_fail(bs, b, err, 1);
		free(err);
		if (b->file != NULL && unlink(b->file) == -1 &&
		    errno != ENOENT)
			log_warning("cannot remove %s: %s", b->file,
			    strerror(errno));
		free(b->file);
		b->file = NULL;
	} else if (res->status != 200 || status == NULL) {
		err = http_error(b, res);
		bat_poll_failed(bs, b, err);
		free(err);
	} else if (strcmp(status, "ended") != 0 || url == NULL) {
		log_debug(LOG_HTTP, "batch %s is %s", b->id, status);
		b->fails = 0;
		b->state = B_WAITING;
		b->next = now_mono() + bs->poll;
	} else if (bat_send(bs, b, url, NULL, &err) == -1) {
		bat_poll_failed(bs, b, err);
		free(err);
	} else {
		b->fails = 0;
		b->state = B_FETCHING;
	}
	json_decref(root);
}

/* The text of a result that is not an answer; *retryp is set when the
 * request may pass if asked again: it expired, was canceled, or met a
 * server error (none of which is billed). */
static char *
result_error(const struct bat *b, const char *type, json_t *result,
    int *retryp)
{
	json_t *e;
	const char *et, *msg;
	char *s;

	e = json_object_get(json_object_get(result, "error"), "error");
	et = json_string_value(json_object_get(e, "type"));
	msg = json_string_value(json_object_get(e, "message"));
	*retryp = strcmp(type, "errored") != 0 || (et != NULL &&
	    (strcmp(et, "api_error") == 0 || strcmp(et, "overloaded_error") ==
	    0 || strcmp(et, "rate_limit_error") == 0 || strcmp(et,
	    "timeout_error") == 0));
	xasprintf(&s, "anthropic: batch %s: the request %s%s%s%s%s", b->id,
	    strcmp(type, "errored") == 0 ? "failed" : type,
	    et ? ": " : "", et ? et : "", msg ? ": " : "", msg ? msg : "");
	return s;
}

/* Take one line of the results: an answer or a failure for an item. */
static void
on_result_line(struct bat *b, const char *line, size_t n)
{
	json_t *root, *result, *msg;
	const char *id, *type;
	struct bitem *it = NULL;
	size_t i;

	if ((root = json_loadb(line, n, 0, NULL)) == NULL)
		return;
	id = json_string_value(json_object_get(root, "custom_id"));
	result = json_object_get(root, "result");
	type = json_string_value(json_object_get(result, "type"));
	for (i = 0; id != NULL && i < b->nitems; i++)
		if (strcmp(b->items[i].key, id) == 0)
			it = &b->items[i];
	if (it != NULL && !it->answered && type != NULL) {
		msg = json_object_get(result, "message");
		if (strcmp(type, "succeeded") == 0 && json_is_object(msg)) {
			it->message = json_dumps(msg, JSON_COMPACT);
			it->len = strlen(it->message);
		} else
			it->err = result_error(b, type, result, &it->retry);
		it->answered = 1;
	}
	json_decref(root);
}

/* The results: JSONL, one line a request, in no particular order. */
static void
on_results(struct batches *bs, struct bat *b, const struct http_result *res)
{
	struct bitem *it;
	const char *p, *end, *eol;
	char *err;
	size_t i;

	if (res->status != 200) {
		err = http_error(b, res);
		bat_poll_failed(bs, b, err);
		free(err);
		return;
	}
	end = res->body + res->len;
	for (p = res->body; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', end - p)) == NULL)
			eol = end;
		on_result_line(b, p, eol - p);
	}
	xasprintf(&err, "anthropic: batch %s has no result for the request",
	    b->id);
	for (i = 0; i < b->nitems; i++)
		if (!b->items[i].answered) {
			b->items[i].answered = 1;
			b->items[i].err = xstrdup(err);
			b->items[i].retry = 1;
		}
	free(err);
	b->state = B_DONE;
	log_note("batch %s ended", b->id);
	for (i = 0; i < b->nitems; i++)
		deliver(bs, &b->items[i]);
	/* Answers paid for that no task claims (the plan changed since the
	 * batch was made) still go into the cache, under their keys. */
	for (i = 0; i < b->nitems; i++) {
		it = &b->items[i];
		if (it->task != NULL || it->delivered)
			continue;
		it->delivered = 1;
		if (it->message != NULL)
			bs->fn(bs->arg, NULL, it->key, it->message, it->len,
			    NULL, 0);
	}
	bat_retire(b);
}

void
batch_done(struct batches *bs, const struct http_result *res)
{
	struct bat *b = res->udata;

	switch (b->state) {
	case B_CREATING:
		on_created(bs, b, res);
		break;
	case B_POLLING:
		on_polled(bs, b, res);
		break;
	case B_FETCHING:
		on_results(bs, b, res);
		break;
	}
}

int
batch_inflight(const struct batches *bs)
{
	size_t i;
	int n = 0;

	if (bs == NULL)
		return 0;
	for (i = 0; i < bs->n; i++)
		if (bs->v[i]->state == B_CREATING ||
		    bs->v[i]->state == B_POLLING ||
		    bs->v[i]->state == B_FETCHING)
			n++;
	return n;
}

size_t
batch_waiting(const struct batches *bs)
{
	const struct bat *b;
	size_t i, k, n = 0;

	if (bs == NULL)
		return 0;
	for (i = 0; i < bs->n; i++) {
		b = bs->v[i];
		if (b->state == B_STALLED)
			continue;
		for (k = 0; k < b->nitems; k++)
			if (b->items[k].task != NULL &&
			    !b->items[k].delivered)
				n++;
	}
	return n;
}

char *
batch_pending_ids(const struct batches *bs)
{
	struct buf b = { 0 };
	size_t i;

	if (bs == NULL)
		return NULL;
	for (i = 0; i < bs->n; i++)
		if (bs->v[i]->id != NULL && bs->v[i]->file != NULL &&
		    bat_wanted(bs->v[i]))
			buf_printf(&b, "%s%s", b.len ? " " : "", bs->v[i]->id);
	return b.len ? buf_detach(&b) : (buf_free(&b), NULL);
}
