#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "request.h"
#include "util.h"

/* Prices in USD per million tokens: input, output, cache write (5 min),
 * cache read.  Matched by prefix, so dated ids find their family. */
static const struct price {
	const char	*prefix;
	double		 in, out, write, read;
} prices[] = {
	{ "claude-haiku-4-5", 1, 5, 1.25, 0.10 },
	{ "claude-sonnet-4", 3, 15, 3.75, 0.30 },
	{ "claude-opus-4-5", 5, 25, 6.25, 0.50 },
	{ "claude-opus-4-6", 5, 25, 6.25, 0.50 },
	{ "claude-opus-4-7", 5, 25, 6.25, 0.50 },
	{ "claude-opus-4-8", 5, 25, 6.25, 0.50 },
	{ "claude-opus-4", 15, 75, 18.75, 1.50 },
	{ "claude-3-5-haiku", 0.8, 4, 1, 0.08 },
};

double
provider_cost(const char *model, const struct usage *u)
{
	const struct price *pr;
	size_t i;

	for (i = 0; i < sizeof(prices) / sizeof(prices[0]); i++) {
		pr = &prices[i];
		if (strncmp(model, pr->prefix, strlen(pr->prefix)) == 0)
			return ((double)u->in * pr->in +
			    (double)u->out * pr->out +
			    (double)u->cache_write * pr->write +
			    (double)u->cache_read * pr->read) / 1e6;
	}
	return -1;
}

void
reply_clear(struct reply *r)
{
	free(r->text);
	free(r->stop);
	free(r->model);
	memset(r, 0, sizeof(*r));
}

static long
jlong(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

/* Whether an HTTP status is worth another try. */
static int
status_retryable(long status)
{
	return status == 408 || status == 409 || status == 429 ||
	    status >= 500;
}

/* Describe an error answer in the provider's own words. */
static int
parse_error(const struct spec *s, long status, const char *body, size_t len,
    const char *reqid, char **errp, int *kind)
{
	const char *type = NULL, *msg = NULL, *code = NULL;
	json_t *root, *err, *det;
	struct buf b = { 0 };

	root = json_loadb(body, len, 0, NULL);
	err = json_object_get(root, "error");
	if (json_is_object(err)) {
		type = json_string_value(json_object_get(err, "type"));
		msg = json_string_value(json_object_get(err, "message"));
		det = json_object_get(err, "details");
		code = json_string_value(json_object_get(det, "error_code"));
		if (code == NULL)
			code = json_string_value(json_object_get(err,
			    "code"));
	}
	if (reqid == NULL)
		reqid = json_string_value(json_object_get(root, "request_id"));
	buf_printf(&b, "%s: HTTP %ld", s->provider, status);
	if (type)
		buf_printf(&b, " %s", type);
	if (msg)
		buf_printf(&b, ": %s", msg);
	else if (len > 0 && root == NULL)
		buf_printf(&b, ": %.*s", (int)(len > 200 ? 200 : len), body);
	if (reqid)
		buf_printf(&b, " (request %s)", reqid);
	if (status == 404 && type && strcmp(type, "not_found_error") == 0)
		buf_printf(&b, "; is the model '%s' retired or misspelled?",
		    s->model);
	*kind = status_retryable(status) ? FAIL_RETRY : FAIL_FATAL;
	if (code && (strstr(code, "spend_limit") || strstr(code, "quota")))
		*kind = FAIL_FATAL;
	*errp = buf_detach(&b);
	json_decref(root);
	return -1;
}

/* The text blocks of an Anthropic message, joined. */
static int
parse_anthropic(json_t *root, struct reply *r)
{
	json_t *content, *block, *u;
	struct buf b = { 0 };
	const char *type, *text;
	size_t i;

	content = json_object_get(root, "content");
	if (!json_is_array(content))
		return -1;
	json_array_foreach(content, i, block) {
		type = json_string_value(json_object_get(block, "type"));
		text = json_string_value(json_object_get(block, "text"));
		if (type && strcmp(type, "text") == 0 && text)
			buf_add(&b, text, json_string_length(
			    json_object_get(block, "text")));
	}
	r->len = b.len;
	r->text = buf_detach(&b);
	if ((type = json_string_value(json_object_get(root, "stop_reason"))))
		r->stop = xstrdup(type);
	u = json_object_get(root, "usage");
	r->usage.in = jlong(u, "input_tokens");
	r->usage.out = jlong(u, "output_tokens");
	r->usage.cache_write = jlong(u, "cache_creation_input_tokens");
	r->usage.cache_read = jlong(u, "cache_read_input_tokens");
	return 0;
}

/* The first choice of an OpenAI chat completion.  prompt_tokens
 * includes cached tokens; they are moved to cache_read. */
static int
parse_openai(json_t *root, struct reply *r)
{
	json_t *choice, *msg, *u, *v;
	const char *text, *fin;

	choice = json_array_get(json_object_get(root, "choices"), 0);
	msg = json_object_get(choice, "message");
	v = json_object_get(msg, "content");
	if (!json_is_object(msg) || !(json_is_string(v) || json_is_null(v)))
		return -1;
	text = json_is_string(v) ? json_string_value(v) : "";
	r->len = json_is_string(v) ? json_string_length(v) : 0;
	r->text = xstrndup(text, r->len);
	if ((fin = json_string_value(json_object_get(choice,
	    "finish_reason"))))
		r->stop = xstrdup(fin);
	u = json_object_get(root, "usage");
	r->usage.out = jlong(u, "completion_tokens");
	r->usage.cache_read = jlong(json_object_get(u,
	    "prompt_tokens_details"), "cached_tokens");
	r->usage.in = jlong(u, "prompt_tokens") - r->usage.cache_read;
	return 0;
}

int
provider_parse(const struct spec *s, long status, const char *body,
    size_t len, const char *neterr, const char *reqid, struct reply *r,
    char **errp, int *kind)
{
	const char *model;
	json_t *root;
	int rc;

	memset(r, 0, sizeof(*r));
	if (status == 0) {
		xasprintf(errp, "%s: %s", s->provider, neterr ? neterr :
		    "no answer");
		*kind = FAIL_RETRY;
		return -1;
	}
	if (status != 200)
		return parse_error(s, status, body, len, reqid, errp, kind);
	if ((root = json_loadb(body, len, 0, NULL)) == NULL) {
		xasprintf(errp, "%s: the answer is not JSON (%zu bytes)%s%s",
		    s->provider, len, reqid ? ", request " : "",
		    reqid ? reqid : "");
		*kind = FAIL_RETRY;
		return -1;
	}
	rc = s->wire == WIRE_ANTHROPIC ? parse_anthropic(root, r) :
	    parse_openai(root, r);
	if (rc == -1) {
		xasprintf(errp, "%s: the answer has no message text%s%s",
		    s->provider, reqid ? ", request " : "", reqid ? reqid : "");
		*kind = FAIL_RETRY;
		reply_clear(r);
	} else {
		model = json_string_value(json_object_get(root, "model"));
		r->model = xstrdup(model ? model : s->model);
	}
	json_decref(root);
	return rc;
}
