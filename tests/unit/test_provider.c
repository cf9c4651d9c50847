/* Unit tests for the provider layer: decoding streamed and whole answers
 * of both wires, classifying failures, retry-after, prices, and joining
 * the parts of a continued answer. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "util.h"

/* A spec for provider (an endpoint name) and model. */
static void
spec_for(struct spec *s, const char *provider, const char *model)
{
	memset(s, 0, sizeof(*s));
	s->ep = config_endpoint(provider);
	assert_non_null(s->ep);
	s->provider = xstrdup(provider);
	s->model = xstrdup(model);
	s->base = xstrdup(s->ep->base ? s->ep->base : "");
	s->wire = s->ep->wire;
}

/* Response headers for a test: name, value pairs, NULL-terminated. */
static const char *
hdr(const void *arg, const char *name)
{
	const char *const *h = arg;

	for (; h && h[0]; h += 2)
		if (strcasecmp(h[0], name) == 0)
			return h[1];
	return NULL;
}

/* Decode body, fed step bytes at a time, as an answer of status. */
static void
decode(const struct spec *s, long status, const char *ctype,
    const char *body, size_t step, const char *const *headers,
    const char *neterr, struct outcome *o)
{
	struct answer_meta m;
	struct decoder *d;
	size_t n = strlen(body), i, k;

	d = decoder_new(s);
	for (i = 0; i < n; i += k) {
		k = step && n - i > step ? step : n - i;
		decoder_feed(d, status, ctype, body + i, k);
	}
	memset(&m, 0, sizeof(m));
	m.status = neterr ? 0 : status;
	m.neterr = neterr;
	m.sent = 100000;
	m.header = hdr;
	m.harg = headers;
	decoder_finish(d, &m, o);
	decoder_free(d);
}

static const char anthropic_stream[] =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"model\":"
    "\"claude-haiku-4-5-20251001\",\"usage\":{\"input_tokens\":120,"
    "\"cache_creation_input_tokens\":2048,\"cache_read_input_tokens\":512,"
    "\"cache_creation\":{\"ephemeral_1h_input_tokens\":2048},"
    "\"output_tokens\":1}}}\n\n"
    ": a comment\n\n"
    "event: ping\ndata: {\"type\":\"ping\"}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"thinking_delta\",\"thinking\":\"SECRET THOUGHTS\"}}\n\n"
    "event: content_block_stop\n"
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":1,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"Hello, \\u00e9\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\" world\\n\"}}\n\n"
    "event: new_kind_of_event\ndata: {\"type\":\"new_kind_of_event\"}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\"},\"usage\":{\"output_tokens\":5}}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{},\"usage\":"
    "{\"output_tokens\":9}}\n\n"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

static void
test_anthropic_stream(void **state)
{
	static const char *const h[] = { "request-id", "req_123", NULL };
	struct outcome o;
	struct spec s;
	size_t step;
	double cost;

	(void)state;
	spec_for(&s, "anthropic", "claude-haiku-4-5");
	for (step = 0; step < 40; step += (step < 5 ? 1 : 7)) {
		decode(&s, 200, "text/event-stream; charset=utf-8",
		    anthropic_stream, step, h, NULL, &o);
		assert_true(o.ok);
		assert_string_equal(o.reply.text, "Hello, \xc3\xa9 world\n");
		assert_null(strstr(o.reply.text, "SECRET"));
		assert_string_equal(o.reply.stop, "end_turn");
		assert_int_equal(o.reply.stop_kind, STOP_END);
		assert_string_equal(o.reply.model, "claude-haiku-4-5-20251001");
		assert_int_equal(o.reply.usage.in, 120);
		assert_int_equal(o.reply.usage.out, 9);	/* the last total */
		assert_int_equal(o.reply.usage.cache_write, 2048);
		assert_int_equal(o.reply.usage.cache_read, 512);
		assert_int_equal(o.reply.write_1h, 2048);
		assert_string_equal(o.reply.reqid, "req_123");
		/* 120 x 1 + 2048 x 2 (1 h) + 512 x 0.1 + 9 x 5, per MTok */
		cost = (120 * 1 + 2048 * 2 + 512 * 0.1 + 9 * 5) / 1e6;
		assert_true(o.reply.cost > cost - 1e-12 &&
		    o.reply.cost < cost + 1e-12);
		outcome_clear(&o);
	}
	spec_clear(&s);
}

static void
test_anthropic_stream_faults(void **state)
{
	static const char *const h[] = { "request-id", "req_9", NULL };
	char cut[sizeof(anthropic_stream)];
	struct outcome o;
	struct spec s;

	(void)state;
	spec_for(&s, "anthropic", "claude-haiku-4-5");

	/* An error event in a 200 stream is retried, in its own words. */
	decode(&s, 200, "text/event-stream", "event: message_start\n"
	    "data: {\"type\":\"message_start\",\"message\":{}}\n\n"
	    "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
	    "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", 3, h,
	    NULL, &o);
	assert_false(o.ok);
	assert_int_equal(o.kind, FAIL_RETRY);
	assert_string_equal(o.err, "anthropic: error event in the answer "
	    "stream: overloaded_error: Overloaded (request req_9)");
	outcome_clear(&o);

	/* An invalid-request error event is not. */
	decode(&s, 200, "text/event-stream", "event: error\ndata: "
	    "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
	    "\"message\":\"no\"}}\n\n", 0, h, NULL, &o);
	assert_int_equal(o.kind, FAIL_FATAL);
	outcome_clear(&o);

	/* A stream that ends before message_stop is retried. */
	memcpy(cut, anthropic_stream, sizeof(cut));
	*strstr(cut, "event: message_stop") = '\0';
	decode(&s, 200, "text/event-stream", cut, 11, h, NULL, &o);
	assert_false(o.ok);
	assert_int_equal(o.kind, FAIL_RETRY);
	assert_non_null(strstr(o.err, "ended before its end"));
	outcome_clear(&o);

	/* A broken connection mid-stream, and a stall. */
	decode(&s, 200, "text/event-stream", cut, 0, h,
	    "transfer closed with outstanding read data remaining", &o);
	assert_int_equal(o.kind, FAIL_RETRY);
	assert_non_null(strstr(o.err, "the connection broke mid-answer: "
	    "transfer closed"));
	outcome_clear(&o);

	/* Data that is not JSON. */
	decode(&s, 200, "text/event-stream", "event: message_start\n"
	    "data: {\"type\":\"message_st\n\n", 0, h, NULL, &o);
	assert_int_equal(o.kind, FAIL_RETRY);
	assert_non_null(strstr(o.err, "malformed"));
	outcome_clear(&o);

	/* A 200 that is neither JSON nor an event stream. */
	{
		static const char *const hh[] = { "content-type", "text/html",
		    NULL };

		decode(&s, 200, "text/html", "<html>proxy error</html>", 0, hh,
		    NULL, &o);
		assert_int_equal(o.kind, FAIL_RETRY);
		assert_non_null(strstr(o.err, "neither JSON nor an event "
		    "stream (24 bytes, text/html)"));
		outcome_clear(&o);
	}
	spec_clear(&s);
}

static void
test_anthropic_plain(void **state)
{
	struct outcome o;
	struct spec s;

	(void)state;
	spec_for(&s, "anthropic", "claude-haiku-4-5");
	/* A server that ignored stream:true answers with one message. */
	decode(&s, 200, "application/json", "{\"type\":\"message\",\"model\":"
	    "\"claude-haiku-4-5\",\"content\":[{\"type\":\"thinking\","
	    "\"thinking\":\"x\"},{\"type\":\"text\",\"text\":\"a\"},"
	    "{\"type\":\"tool_use\"},{\"type\":\"text\",\"text\":\"b\"}],"
	    "\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":3,"
	    "\"output_tokens\":4,\"cache_read_input_tokens\":null}}", 5, NULL,
	    NULL, &o);
	assert_true(o.ok);
	assert_string_equal(o.reply.text, "ab");
	assert_int_equal(o.reply.stop_kind, STOP_LIMIT);
	assert_int_equal(o.reply.usage.in, 3);
	assert_int_equal(o.reply.usage.cache_read, 0);
	outcome_clear(&o);
	decode(&s, 200, "application/json", "{\"type\":\"message\","
	    "\"content\":[],\"stop_reason\":\"model_context_window_exceeded\"}",
	    0, NULL, NULL, &o);
	assert_int_equal(o.reply.stop_kind, STOP_CONTEXT);
	outcome_clear(&o);
	spec_clear(&s);
}

static void
test_openai_stream(void **state)
{
	static const char *const h[] = { "x-request-id", "req_o", NULL };
	const char *body =
	    "data: {\"model\":\"gpt-x\",\"choices\":[{\"index\":0,\"delta\":"
	    "{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":"
	    "null}]}\n\n"
	    ": OPENROUTER PROCESSING\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi \"},"
	    "\"finish_reason\":null}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":"
	    "\"there\"},\"finish_reason\":null}]}\n\n"
	    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
	    "\"length\"}]}\n\n"
	    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2400,"
	    "\"completion_tokens\":180,\"prompt_tokens_details\":"
	    "{\"cached_tokens\":2048}}}\n\n"
	    "data: [DONE]\n\n";
	struct outcome o;
	struct spec s;
	size_t step;

	(void)state;
	spec_for(&s, "openai", "gpt-x");
	for (step = 0; step < 30; step += 3) {
		decode(&s, 200, "text/event-stream", body, step, h, NULL, &o);
		assert_true(o.ok);
		assert_string_equal(o.reply.text, "Hi there");
		assert_string_equal(o.reply.stop, "length");
		assert_int_equal(o.reply.stop_kind, STOP_LIMIT);
		assert_int_equal(o.reply.usage.in, 2400 - 2048);
		assert_int_equal(o.reply.usage.cache_read, 2048);
		assert_int_equal(o.reply.usage.out, 180);
		assert_true(o.reply.cost < 0);	/* no price known */
		outcome_clear(&o);
	}
	/* An error chunk inside a 200 stream (as OpenRouter sends). */
	decode(&s, 200, "text/event-stream", "data: {\"choices\":[{\"delta\":"
	    "{\"content\":\"x\"}}]}\n\ndata: {\"error\":{\"code\":502,"
	    "\"message\":\"upstream died\"}}\n\n", 0, h, NULL, &o);
	assert_int_equal(o.kind, FAIL_RETRY);
	assert_non_null(strstr(o.err, "upstream died"));
	outcome_clear(&o);
	spec_clear(&s);
}

/* The kind and the message of an error answer. */
static int
error_kind(const char *provider, long status, const char *body,
    const char *const *h, char **err)
{
	struct outcome o;
	struct spec s;
	int kind;

	spec_for(&s, provider, provider[0] == 'a' ? "claude-haiku-4-5" :
	    "gpt-x");
	decode(&s, status, "application/json", body, 0, h, NULL, &o);
	assert_false(o.ok);
	kind = o.kind;
	*err = o.err;
	o.err = NULL;
	outcome_clear(&o);
	spec_clear(&s);
	return kind;
}

static void
test_error_classes(void **state)
{
	static const char *const ra[] = { "retry-after", "3",
	    "request-id", "req_h", NULL };
	static const char *const noretry[] = { "x-should-retry", "false",
	    NULL };
	char *e;

	(void)state;
	assert_int_equal(error_kind("anthropic", 529, "{\"type\":\"error\","
	    "\"error\":{\"type\":\"overloaded_error\",\"message\":"
	    "\"Overloaded\"}}", NULL, &e), FAIL_RETRY);
	assert_string_equal(e, "anthropic: HTTP 529 overloaded_error: "
	    "Overloaded");
	free(e);
	assert_int_equal(error_kind("anthropic", 429, "{\"type\":\"error\","
	    "\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow\"}}",
	    ra, &e), FAIL_RETRY);
	assert_non_null(strstr(e, "(request req_h)"));
	free(e);
	/* The tier's monthly spend cap. */
	assert_int_equal(error_kind("anthropic", 429, "{\"type\":\"error\","
	    "\"error\":{\"type\":\"rate_limit_error\",\"message\":\"You have "
	    "reached the spend limit for your tier.\",\"details\":"
	    "{\"error_code\":\"enforced_spend_limit_reached\"}},"
	    "\"request_id\":\"req_b\"}", NULL, &e), FAIL_STOP);
	assert_non_null(strstr(e, "HTTP 429 rate_limit_error: You have "
	    "reached the spend limit for your tier. "
	    "[enforced_spend_limit_reached] (request req_b)"));
	free(e);
	/* A spend limit the user set: a 400. */
	assert_int_equal(error_kind("anthropic", 400, "{\"type\":\"error\","
	    "\"error\":{\"type\":\"invalid_request_error\",\"message\":\"You "
	    "have reached your specified workspace API usage limits. You "
	    "will regain access on 2027-01-01 at 00:00 UTC.\"}}", NULL, &e),
	    FAIL_STOP);
	free(e);
	assert_int_equal(error_kind("openai", 429, "{\"error\":{\"message\":"
	    "\"You exceeded your current quota\",\"type\":"
	    "\"insufficient_quota\",\"code\":\"insufficient_quota\"}}", NULL,
	    &e), FAIL_STOP);
	free(e);
	assert_int_equal(error_kind("openai", 429, "{\"error\":{\"message\":"
	    "\"Rate limit reached\",\"type\":\"requests\",\"code\":"
	    "\"rate_limit_exceeded\"}}", NULL, &e), FAIL_RETRY);
	free(e);
	assert_int_equal(error_kind("anthropic", 402, "{\"type\":\"error\","
	    "\"error\":{\"type\":\"billing_error\",\"message\":\"pay\"}}", NULL,
	    &e), FAIL_STOP);
	free(e);
	/* A retired or unknown model. */
	assert_int_equal(error_kind("anthropic", 404, "{\"type\":\"error\","
	    "\"error\":{\"type\":\"not_found_error\",\"message\":\"model: "
	    "claude-haiku-4-5\"}}", NULL, &e), FAIL_FATAL);
	assert_non_null(strstr(e, "the model 'claude-haiku-4-5' may be "
	    "retired or misspelled"));
	free(e);
	/* Over the context window. */
	assert_int_equal(error_kind("anthropic", 400, "{\"type\":\"error\","
	    "\"error\":{\"type\":\"invalid_request_error\",\"message\":"
	    "\"prompt is too long: 250000 tokens > 200000 maximum\"}}", NULL,
	    &e), FAIL_FATAL);
	assert_non_null(strstr(e, "the request (100000 bytes, about 25000 "
	    "tokens) does not fit the context window"));
	free(e);
	assert_int_equal(error_kind("openai", 400, "{\"error\":{\"message\":"
	    "\"too long\",\"code\":\"context_length_exceeded\"}}", NULL, &e),
	    FAIL_FATAL);
	assert_non_null(strstr(e, "context window"));
	free(e);
	/* Plain statuses; a body that is not JSON; Ollama's string error;
	 * a Gemini error list. */
	assert_int_equal(error_kind("anthropic", 401, "{}", NULL, &e),
	    FAIL_FATAL);
	free(e);
	assert_int_equal(error_kind("anthropic", 502, "<html>bad gateway"
	    "</html>", NULL, &e), FAIL_RETRY);
	assert_string_equal(e, "anthropic: HTTP 502: <html>bad gateway"
	    "</html>");
	free(e);
	assert_int_equal(error_kind("ollama", 404, "{\"error\":\"model "
	    "'llama9' not found\"}", NULL, &e), FAIL_FATAL);
	assert_non_null(strstr(e, "HTTP 404: model 'llama9' not found"));
	free(e);
	assert_int_equal(error_kind("openai", 400, "[{\"error\":{\"code\":400,"
	    "\"message\":\"Invalid JSON payload\",\"status\":"
	    "\"INVALID_ARGUMENT\"}}]", NULL, &e), FAIL_FATAL);
	assert_non_null(strstr(e, "Invalid JSON payload"));
	free(e);
	/* The server's x-should-retry wins. */
	assert_int_equal(error_kind("anthropic", 500, "{}", noretry, &e),
	    FAIL_FATAL);
	free(e);
}

static void
test_retry_after(void **state)
{
	char date[64];
	time_t t;
	double d;

	(void)state;
	assert_true(provider_retry_after("250", "7") == 0.25);
	assert_true(provider_retry_after(NULL, "7") == 7);
	assert_true(provider_retry_after(NULL, "1.5") == 1.5);
	assert_true(provider_retry_after(NULL, NULL) < 0);
	assert_true(provider_retry_after("x", "soon") < 0);
	t = time(NULL) + 30;
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&t));
	d = provider_retry_after(NULL, date);
	assert_true(d > 27 && d <= 30);
}

static void
test_cost_table(void **state)
{
	struct usage u = { 1000000, 1000000, 1000000, 1000000 };
	double c;

	(void)state;
	/* Sonnet 4.5: 3 in, 3.75 5m write, 6 1h write, 0.30 read, 15 out;
	 * half the writes are 1 h ones. */
	c = provider_cost("claude-sonnet-4-5-20250929", &u, 500000);
	assert_true(c > 3 + 3.75 / 2 + 6.0 / 2 + 0.30 + 15 - 1e-9 &&
	    c < 3 + 3.75 / 2 + 6.0 / 2 + 0.30 + 15 + 1e-9);
	/* The longest prefix wins: Opus 4.5 is not Opus 4. */
	c = provider_cost("claude-opus-4-5", &u, 0);
	assert_true(c > 5 + 6.25 + 0.5 + 25 - 1e-9 &&
	    c < 5 + 6.25 + 0.5 + 25 + 1e-9);
	c = provider_cost("claude-opus-4-1", &u, 0);
	assert_true(c > 15 + 18.75 + 1.5 + 75 - 1e-9);
	assert_true(provider_cost("llama3.2", &u, 0) < 0);
}

/* Join the parts, the first one whole, and compare. */
static void
join_ok(int prefill, const char *want, const char *first,
    const char *second)
{
	struct buf b = { 0 };
	char *err = NULL;

	assert_int_equal(provider_join(&b, first, strlen(first), prefill, 0,
	    &err), 0);
	if (provider_join(&b, second, strlen(second), prefill, 0, &err) != 0)
		fail_msg("join failed: %s", err);
	buf_addstr(&b, "");
	assert_string_equal(b.data, want);
	buf_free(&b);
}

static void
test_join(void **state)
{
	const char *file = "a.c\n```c\nint\nmain(void)\n{\n\treturn 0;\n}\n"
	    "```\n", *lic;
	struct buf b = { 0 };
	char *err = NULL;

	(void)state;
	/* Prefill: the model goes on exactly, white space first. */
	join_ok(1, file, "a.c\n```c\nint\nmain(void)\n{\n\tre",
	    "turn 0;\n}\n```\n");
	join_ok(1, file, "a.c\n```c\nint\nmain(void)\n{\n",
	    "\treturn 0;\n}\n```\n");
	/* Without prefill it may start without the cut white space. */
	join_ok(0, file, "a.c\n```c\nint\nmain(void)\n{\n",
	    "\treturn 0;\n}\n```\n");
	join_ok(0, "x = 1\ny = 2\n", "x = 1\n", "y = 2\n");
	/* It may repeat the last line, or a longer stretch. */
	join_ok(0, file, "a.c\n```c\nint\nmain(void)\n{\n\treturn",
	    "\treturn 0;\n}\n```\n");
	join_ok(0, file, "a.c\n```c\nint\nmain(void)\n{\n\treturn",
	    "main(void)\n{\n\treturn 0;\n}\n```\n");
	/* A short repeat that is not a whole line is kept: it may be new
	 * text that happens to match. */
	join_ok(0, "}\n}\n", "}\n", "}\n");
	/* It may open the cut block again, with its header line. */
	join_ok(0, file, "a.c\n```c\nint\nmain(void)\n{\n",
	    "a.c\n```c\n\treturn 0;\n}\n```\n");
	/* ... and start the file over: the new start replaces the old. */
	join_ok(0, "a.c\n```c\nint\nmain(void)\n{\n\treturn 1;\n}\n```\n",
	    "a.c\n```c\nint\nmain(void)\n{\n\tre",
	    "```c\nint\nmain(void)\n{\n\treturn 1;\n}\n```\n");
	/* With prefill the same text is content. */
	join_ok(1, "a.c\n```c\nx\na.c\n```c\ny\n```\n", "a.c\n```c\nx\n",
	    "a.c\n```c\ny\n```\n");
	join_ok(1, "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0\n",
	    "0,0,0,0,0,0,0,0,0,0", ",0,0,0,0,0,0,0,0,0,0\n");
	/* Without it, 8 bytes or more repeated mid-line are a repeat. */
	join_ok(0, "x = 12345678 + 9\n", "x = 12345678", "12345678 + 9\n");

	/* Not clean: nothing new, or earlier text repeated. */
	assert_int_equal(provider_join(&b, file, strlen(file), 0, 0, &err),
	    0);
	assert_int_equal(provider_join(&b, " \n", 2, 0, 0, &err), -1);
	assert_string_equal(err, "the continuation brought no new text");
	free(err);
	err = NULL;
	assert_int_equal(provider_join(&b, file, 30, 0, 0, &err), -1);
	assert_non_null(strstr(err, "repeats earlier text"));
	assert_int_equal(b.len, strlen(file));	/* unchanged */
	free(err);
	err = NULL;
	buf_free(&b);
	/* Starting the block over and stopping at the same place. */
	buf_addstr(&b, "a.c\n```c\nint x;\n");
	assert_int_equal(provider_join(&b, "a.c\n```c\nint x;\n", 16, 0,
	    0, &err), -1);
	assert_string_equal(err, "the continuation started the block over "
	    "and got no further");
	free(err);
	err = NULL;
	buf_free(&b);

	/* Text that occurs earlier, but not at the cut, is new text: two
	 * files with the same licence header. */
	join_ok(0, "a.txt\n```\n/* Copyright 2026 Example Ltd. All rights "
	    "reserved. */\nint a;\n```\n\nb.txt\n```\n/* Copyright 2026 "
	    "Example Ltd. All rights reserved. */\nint b;\n```\n",
	    "a.txt\n```\n/* Copyright 2026 Example Ltd. All rights "
	    "reserved. */\nint a;\n```\n\nb.txt\n```\n",
	    "/* Copyright 2026 Example Ltd. All rights reserved. */\n"
	    "int b;\n```\n");
	/* Repeated from inside the block the cut fell in, it is not. */
	buf_addstr(&b, "b.txt\n```\n/* Copyright 2026 Example Ltd. All "
	    "rights reserved. */\nint b;\nint b2;\n");
	lic = "/* Copyright 2026 Example Ltd. All rights reserved. */\n"
	    "int b;\nint c;\n";
	assert_int_equal(provider_join(&b, lic, strlen(lic), 0, 0, &err),
	    -1);
	assert_non_null(strstr(err, "repeats earlier text"));
	free(err);
	err = NULL;
	buf_free(&b);

	/* A last part of nothing but white space: the answer was whole. */
	buf_addstr(&b, file);
	assert_int_equal(provider_join(&b, " \n", 2, 0, 1, &err), 0);
	assert_int_equal(b.len, strlen(file));
	assert_int_equal(provider_join(&b, "", 0, 1, 1, &err), 0);
	assert_int_equal(b.len, strlen(file));
	buf_free(&b);

	/* A header and fence line with nothing after them finish the cut
	 * line; they do not open the block again. */
	join_ok(0, "a.txt\n```\nthis block is the content of a.txt\n```\n",
	    "a.txt\n```\nthis block is the content of", " a.txt\n```\n");
}

static void
test_truncation_warning(void **state)
{
	const char *body = "data: {\"choices\":[{\"delta\":{\"content\":"
	    "\"x\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
	    "%d,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
	char text[512];
	struct outcome o;
	struct spec s;

	(void)state;
	/* 100000 bytes sent is about 25000 tokens: 2048 is a cut. */
	spec_for(&s, "ollama", "llama3.2");
	snprintf(text, sizeof(text), body, 2048);
	decode(&s, 200, "text/event-stream", text, 0, NULL, NULL, &o);
	assert_true(o.ok);
	assert_non_null(o.reply.warning);
	assert_non_null(strstr(o.reply.warning, "reported 2048 prompt tokens "
	    "for a request of 100000 bytes"));
	outcome_clear(&o);
	snprintf(text, sizeof(text), body, 24000);
	decode(&s, 200, "text/event-stream", text, 0, NULL, NULL, &o);
	assert_null(o.reply.warning);
	outcome_clear(&o);
	spec_clear(&s);
	/* OpenAI itself does not cut prompts: no check. */
	spec_for(&s, "openai", "gpt-x");
	snprintf(text, sizeof(text), body, 2048);
	decode(&s, 200, "text/event-stream", text, 0, NULL, NULL, &o);
	assert_null(o.reply.warning);
	outcome_clear(&o);
	spec_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anthropic_stream),
		cmocka_unit_test(test_anthropic_stream_faults),
		cmocka_unit_test(test_anthropic_plain),
		cmocka_unit_test(test_openai_stream),
		cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_cost_table),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_truncation_warning),
	};

	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("OLLAMA_BASE_URL");
	return cmocka_run_group_tests_name("provider", tests, NULL, NULL);
}
