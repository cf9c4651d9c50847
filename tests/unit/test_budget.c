/* Unit tests for budget (worst cases, reservations), warm (the prompt
 * cache warm-up gate) and report (pricing and the JSON object). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "budget.h"
#include "dag.h"
#include "report.h"
#include "warm.h"

static void
test_worst_case(void **state)
{
	double w;

	(void)state;
	/* 3000 bytes: 1000 tokens at $1, 1000 out at $5 per million. */
	w = budget_worst("claude-haiku-4-5", 3000, 1000, 0, 0);
	assert_true(w > 0.005999 && w < 0.006001);
	/* Rounded up: 3001 bytes are 1001 tokens. */
	assert_true(budget_worst("claude-haiku-4-5", 3001, 1000, 0, 0) > w);
	/* Marked for caching: input at the write rate, $1.25. */
	w = budget_worst("claude-haiku-4-5", 3000, 1000, 1, 0);
	assert_true(w > 0.006249 && w < 0.006251);
	/* A batch halves it. */
	w = budget_worst("claude-sonnet-4-5", 3000, 1000, 0, 1);
	assert_true(w > 0.008999 && w < 0.009001);
	assert_true(budget_worst("no-such-model", 3000, 1000, 0, 0) < 0);
}

static void
test_admit_and_settle(void **state)
{
	struct budget b = { 1.0, 0, 0 };
	struct budget none = { -1, 0, 0 };

	(void)state;
	assert_int_equal(budget_admit(&b, 0.4), 1);
	assert_int_equal(budget_admit(&b, 0.4), 1);
	assert_int_equal(budget_admit(&b, 0.4), 0);	/* 1.2 > 1.0 */
	assert_true(b.inflight > 0.79 && b.inflight < 0.81);
	budget_settle(&b, 0.4, 0.05);			/* cost far less */
	assert_true(b.spent > 0.049 && b.spent < 0.051);
	assert_int_equal(budget_admit(&b, 0.4), 1);	/* 0.85 fits */
	assert_int_equal(budget_admit(&b, 0.2), 0);
	assert_int_equal(budget_admit(&b, -1), 1);	/* unpriced */
	assert_int_equal(budget_admit(&none, 1e9), 1);
}

static void
test_warm_gate(void **state)
{
	struct task a, b, c, d, **held;
	struct warm w = { 0 };
	size_t n;

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	memset(&d, 0, sizeof(d));
	assert_int_equal(warm_admit(&w, "p1", &a), WARM_FIRST);
	assert_int_equal(warm_admit(&w, "p1", &b), WARM_HOLD);
	assert_int_equal(warm_admit(&w, "p1", &c), WARM_HOLD);
	assert_int_equal(warm_admit(&w, "p2", &d), WARM_FIRST);
	assert_int_equal(warm_held(&w), 2);

	/* The writer failed: the prefix is cold, the next one writes. */
	held = warm_done(&w, "p1", 0, &n);
	assert_int_equal(n, 2);
	assert_ptr_equal(held[0], &b);
	assert_ptr_equal(held[1], &c);
	free(held);
	assert_int_equal(warm_admit(&w, "p1", &b), WARM_FIRST);
	assert_int_equal(warm_admit(&w, "p1", &c), WARM_HOLD);
	held = warm_done(&w, "p1", 1, &n);
	assert_int_equal(n, 1);
	free(held);
	assert_int_equal(warm_admit(&w, "p1", &c), WARM_GO);
	assert_int_equal(warm_held(&w), 0);
	warm_free(&w);
}

static void
test_report_prices(void **state)
{
	struct usage u = { 1000000, 100000, 0, 0 };
	struct report r;
	json_t *j, *t;
	char *err = NULL, *text;
	FILE *f;
	double c;
	size_t n;

	(void)state;
	report_init(&r, "claude-sonnet-4-5");
	/* Haiku: $1 in, $5 out.  Sonnet: $3, $15. */
	c = report_add(&r, "cheap", "claude-haiku-4-5", &u, 0, 0);
	assert_true(c > 1.4999 && c < 1.5001);
	c = report_add(&r, "cheap", "claude-haiku-4-5", &u, 0, 1);
	assert_true(c > 0.7499 && c < 0.7501);
	c = report_add(&r, "local", "llama3.2", &u, 0, 0);
	assert_true(c == 0);
	assert_int_equal(r.ntiers, 2);
	assert_int_equal(r.tiers[0].requests, 2);
	assert_int_equal(r.tiers[0].batched, 1);
	assert_true(r.tiers[1].unknown_cost);
	assert_true(report_total(&r) > 2.2499 && report_total(&r) < 2.2501);
	/* Strong alone, at Sonnet's rates: $4.50 a request, halved for
	 * the batched one; llama's usage is priced on Sonnet too. */
	assert_true(r.strong_only > 11.2499 && r.strong_only < 11.2501);
	report_list(&r, REPORT_FAILED, "a.txt");
	report_list(&r, REPORT_UNDONE, "b.txt");
	r.ntasks = 5;

	assert_non_null(f = tmpfile());
	assert_int_equal(report_json(&r, 1, f, &err), 0);
	n = (size_t)ftell(f);
	rewind(f);
	text = calloc(1, n + 1);
	assert_int_equal(fread(text, 1, n, f), n);
	fclose(f);
	assert_int_equal(text[n - 1], '\n');
	assert_true(strchr(text, '\n') == text + n - 1);	/* one line */
	assert_non_null(j = json_loads(text, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(j, "exit")), 1);
	assert_true(json_is_null(json_object_get(j, "total_cost_usd")));
	t = json_array_get(json_object_get(j, "tiers"), 0);
	assert_int_equal(json_integer_value(json_object_get(t,
	    "input_tokens")), 2000000);
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(j, "failed"), 0)), "a.txt");
	assert_string_equal(json_string_value(json_array_get(
	    json_object_get(j, "undone"), 0)), "b.txt");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
	    "tasks"), "undone")), 1);
	json_decref(j);
	free(text);
	report_free(&r);
}

/* Tiers are listed by name, whichever answered first. */
static void
test_report_tier_order(void **state)
{
	struct usage u = { 10, 10, 0, 0 };
	struct report r;

	(void)state;
	report_init(&r, "claude-sonnet-4-5");
	report_add(&r, "strong", "claude-sonnet-4-5", &u, 0, 0);
	report_add(&r, "local", "llama3.2", &u, 0, 0);
	report_add(&r, "cheap", "claude-haiku-4-5", &u, 0, 0);
	report_add(&r, "strong", "claude-sonnet-4-5", &u, 0, 0);
	assert_int_equal(r.ntiers, 3);
	assert_string_equal(r.tiers[0].tier, "cheap");
	assert_string_equal(r.tiers[1].tier, "local");
	assert_string_equal(r.tiers[2].tier, "strong");
	assert_int_equal(r.tiers[2].requests, 2);
	report_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worst_case),
		cmocka_unit_test(test_report_tier_order),
		cmocka_unit_test(test_admit_and_settle),
		cmocka_unit_test(test_warm_gate),
		cmocka_unit_test(test_report_prices),
	};

	return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
