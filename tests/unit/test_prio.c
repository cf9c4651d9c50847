/* Unit tests for prio: critical-path priorities, the ready heap and the
 * durations file. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dag.h"
#include "diag.h"
#include "parser.h"
#include "plan.h"
#include "prio.h"
#include "util.h"

/* A graph from plan text with every rule selected; w gives the weight
 * of each task by the first letter of its name ('a' + i). */
static void
compute(const char *text, const double *w, double *prio, struct plan **pp,
    struct dag **dp)
{
	double weight[32];
	char *err = NULL;
	size_t i;

	*pp = plan_new();
	assert_int_equal(parser_load_mem(*pp, "Planfile", text, strlen(text)),
	    0);
	assert_non_null(*dp = dag_build(*pp));
	assert_int_equal(dag_select(*dp, *pp, NULL, 0, &err), 0);
	assert_true((*dp)->ntasks <= 32);
	for (i = 0; i < (*dp)->ntasks; i++)
		weight[i] = w[(*dp)->tasks[i]->name[0] - 'a'];
	prio_compute(*dp, weight, prio);
}

/* The priority of the task writing name. */
static double
prio_of(struct dag *d, const double *prio, const char *name)
{
	struct node *n = dag_find(d, name);

	assert_non_null(n);
	assert_non_null(n->producer);
	return prio[n->producer->id];
}

static void
test_critical_path(void **state)
{
	/* all <- d <- c <- b, all <- e; b is long, e is longer than c+d
	 * but shorter than b+c+d. */
	static const char text[] =
	    "all: d e\n.PHONY: all\n"
	    "b: \n\tB.\n"
	    "c: b\n\tC.\n"
	    "d: c\n\tD.\n"
	    "e: \n\tE.\n";
	/* weights by letter: all=0 (a), b, c, d, e */
	static const double w[] = { 0, 5, 1, 2, 4 };
	double prio[32];
	struct plan *p;
	struct dag *d;

	(void)state;
	compute(text, w, prio, &p, &d);
	assert_true(prio_of(d, prio, "all") == 0);
	assert_true(prio_of(d, prio, "d") == 2);
	assert_true(prio_of(d, prio, "c") == 3);
	assert_true(prio_of(d, prio, "b") == 8);
	assert_true(prio_of(d, prio, "e") == 4);
	dag_free(d);
	plan_free(p);
}

static void
test_critical_path_takes_the_longest_branch(void **state)
{
	/* b feeds both c (short) and d (long). */
	static const char text[] =
	    "all: c d\n.PHONY: all\n"
	    "b: \n\tB.\n"
	    "c: b\n\tC.\n"
	    "d: b\n\tD.\n";
	static const double w[] = { 0, 1, 2, 7 };
	double prio[32];
	struct plan *p;
	struct dag *d;

	(void)state;
	compute(text, w, prio, &p, &d);
	assert_true(prio_of(d, prio, "b") == 8);
	dag_free(d);
	plan_free(p);
}

static void
test_heap_order_and_ties(void **state)
{
	struct task tasks[8];
	struct prio_heap h;
	double prio[8] = { 1, 5, 3, 5, 0, 3, 9, 5 };
	static const size_t want[] = { 6, 1, 3, 7, 2, 5, 0, 4 };
	size_t i;

	(void)state;
	memset(tasks, 0, sizeof(tasks));
	prio_heap_init(&h, 2, prio);	/* grows past its first room */
	for (i = 8; i-- > 0; ) {
		tasks[i].id = i;
		prio_heap_push(&h, &tasks[i]);
	}
	assert_int_equal(h.len, 8);
	for (i = 0; i < 8; i++)
		assert_int_equal(prio_heap_pop(&h)->id, want[i]);
	assert_null(prio_heap_pop(&h));
	prio_heap_free(&h);
}

static void
test_durations_round_trip(void **state)
{
	struct prio_durations pd = { 0 }, back = { 0 };
	char dir[] = "/tmp/pm-prio.XXXXXX", *path, *err = NULL;
	const struct prio_record *r;
	struct buf b = { 0 };
	const char *bad;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = path_join(dir, "durations");
	prio_durations_load(&pd, path);		/* missing: empty */
	assert_int_equal(pd.byname.len, 0);
	prio_durations_set(&pd, "src/b.c", 1.25, 300);
	prio_durations_set(&pd, "a.txt", 0.5, 20);
	prio_durations_set(&pd, "a.txt", 0.75, 40);
	assert_int_equal(prio_durations_save(&pd, path, &err), 0);
	prio_durations_load(&back, path);
	assert_non_null(r = prio_durations_get(&back, "a.txt"));
	assert_true(r->seconds == 0.75 && r->out == 40);
	assert_non_null(r = prio_durations_get(&back, "src/b.c"));
	assert_true(r->seconds == 1.25 && r->out == 300);
	assert_null(prio_durations_get(&back, "c"));
	assert_int_equal(file_read(path, &b, &err), 0);
	assert_string_equal(b.data, "# planmake durations 1\n"
	    "0.750\t40\ta.txt\n1.250\t300\tsrc/b.c\n");
	buf_free(&b);

	/* A damaged line is skipped, the others kept. */
	bad = "x\t1\tbad\n2.0\t5\tok\n3.0\tzz\tbad2\n";
	assert_int_equal(file_write_atomic(path, bad, strlen(bad), 0, &err),
	    0);
	prio_durations_free(&back);
	prio_durations_load(&back, path);
	assert_int_equal(back.byname.len, 1);
	assert_non_null(prio_durations_get(&back, "ok"));

	/* The weight: recorded seconds, else the estimate. */
	assert_true(prio_weight(&back, "ok", 16000) == 2.0);
	assert_true(prio_weight(&back, "new", 4000) ==
	    PRIO_LATENCY + 1000 / PRIO_TOKENS_PER_SEC);
	assert_true(prio_weight(&back, "new", 16000) >
	    prio_weight(&back, "new", 400));
	prio_durations_free(&pd);
	prio_durations_free(&back);
	unlink(path);
	rmdir(dir);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_critical_path),
		cmocka_unit_test(test_critical_path_takes_the_longest_branch),
		cmocka_unit_test(test_heap_order_and_ties),
		cmocka_unit_test(test_durations_round_trip),
	};

	diag_set_output(tmpfile());
	return cmocka_run_group_tests_name("prio", tests, NULL, NULL);
}
