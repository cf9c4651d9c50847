/* Unit tests for the server-sent events parser: the same stream fed
 * whole, byte by byte and in odd splits gives the same events. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "util.h"

/* The events seen, as "name|data\n" lines. */
struct seen {
	struct buf	 out;
	int		 n;
	int		 stop_at;	/* return -1 on this event, or 0 */
};

static int
record(void *arg, const char *event, const char *data, size_t len)
{
	struct seen *s = arg;

	assert_int_equal(strlen(data), len);
	buf_printf(&s->out, "%s|%s\n", event, data);
	s->n++;
	return s->stop_at && s->n == s->stop_at ? -1 : 0;
}

/* Feed text in pieces of step bytes (0: whole); return what was seen. */
static char *
parse(const char *text, size_t n, size_t step)
{
	struct seen s = { { 0 }, 0, 0 };
	struct sse p;
	size_t i, k;

	sse_init(&p, record, &s, 0);
	if (step == 0)
		step = n ? n : 1;
	for (i = 0; i < n; i += k) {
		k = n - i < step ? n - i : step;
		assert_int_equal(sse_feed(&p, text + i, k), 0);
	}
	sse_clear(&p);
	buf_addstr(&s.out, "");
	return buf_detach(&s.out);
}

/* Every way of cutting text gives want. */
static void
all_splits(const char *text, const char *want)
{
	size_t n = strlen(text), step;
	char *got;

	for (step = 0; step <= n + 1; step++) {
		got = parse(text, n, step);
		if (strcmp(got, want) != 0)
			fail_msg("split every %zu bytes: got\n%s\nwant\n%s",
			    step, got, want);
		free(got);
	}
}

static void
test_anthropic_shape(void **state)
{
	(void)state;
	all_splits("event: message_start\n"
	    "data: {\"type\":\"message_start\"}\n\n"
	    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
	    "event: content_block_delta\n"
	    "data: {\"delta\":{\"text\":\"a:b\"}}\n\n",
	    "message_start|{\"type\":\"message_start\"}\n"
	    "ping|{\"type\": \"ping\"}\n"
	    "content_block_delta|{\"delta\":{\"text\":\"a:b\"}}\n");
}

static void
test_line_ends(void **state)
{
	(void)state;
	/* CRLF, CR and LF alone, mixed. */
	all_splits("data: one\r\n\r\ndata: two\r\rdata: three\n\n",
	    "message|one\nmessage|two\nmessage|three\n");
	/* A CR at the end of one piece and its LF in the next is one end:
	 * no blank line between, so the two data lines are one event. */
	all_splits("data: a\r\ndata: b\r\n\r\n", "message|a\nb\n");
}

static void
test_fields(void **state)
{
	(void)state;
	/* Comments (keep-alives), id and retry fields, unknown fields and
	 * a field without a colon are ignored; only one space after the
	 * colon is dropped; the event name does not outlive its event. */
	all_splits(": keep-alive\n"
	    "id: 7\nretry: 100\nfoo: bar\nevent: x\ndata:  two spaces\n\n"
	    "data:none\n\n"
	    "data\n\n"
	    "event: y\n\n"
	    "data: after an empty event\n\n",
	    "x| two spaces\nmessage|none\nmessage|\n"
	    "message|after an empty event\n");
}

static void
test_bom_and_unfinished(void **state)
{
	char *got;

	(void)state;
	all_splits("\xEF\xBB\xBF" "data: marked\n\n", "message|marked\n");
	/* Not a mark: the bytes are kept. */
	all_splits("\xEF\xBB" "x: y\ndata: z\n\n", "message|z\n");
	/* An event without its blank line is never dispatched. */
	got = parse("data: whole\n\ndata: cut", 23, 1);
	assert_string_equal(got, "message|whole\n");
	free(got);
}

static void
test_stop_and_long_lines(void **state)
{
	struct seen s = { { 0 }, 0, 1 };
	struct sse p;
	const char *t = "data: 1\n\ndata: 2\n\n";

	(void)state;
	sse_init(&p, record, &s, 0);
	assert_int_equal(sse_feed(&p, t, strlen(t)), -1);
	assert_int_equal(s.n, 1);
	assert_int_equal(sse_feed(&p, t, strlen(t)), -1);
	assert_int_equal(s.n, 1);
	sse_clear(&p);
	buf_free(&s.out);

	s.stop_at = 0;
	s.n = 0;
	sse_init(&p, record, &s, 8);
	assert_int_equal(sse_feed(&p, "data: 1234", 10), -1);
	assert_int_equal(s.n, 0);
	sse_clear(&p);
	buf_free(&s.out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anthropic_shape),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_bom_and_unfinished),
		cmocka_unit_test(test_stop_and_long_lines),
	};

	return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
