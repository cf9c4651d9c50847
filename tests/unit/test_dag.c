/* Unit tests for the graph: path spellings that name one node, and a
 * missing input reported at each reference. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dag.h"
#include "diag.h"
#include "plan.h"
#include "util.h"

/* Add the rule "target: prereqs..." (no prompt) to p, at line. */
static void
add_rule(struct plan *p, int line, const char *target, const char **pre,
    size_t npre)
{
	struct pword t, *pr;
	struct loc l = { "Planfile", 0, 1 };
	size_t i;

	l.line = line;
	t.s = target;
	t.len = strlen(target);
	t.loc = l;
	pr = xcalloc(npre + 1, sizeof(*pr));
	for (i = 0; i < npre; i++) {
		pr[i].s = pre[i];
		pr[i].len = strlen(pre[i]);
		pr[i].loc = l;
		pr[i].loc.col = (int)i + 10;
	}
	plan_add_rule(p, rule_new(p, &l, &t, 1, pr, npre));
	free(pr);
}

/* Every spelling of a path finds the node its normal form names. */
static void
test_spellings(void **state)
{
	static const char *const same[] = { "out/a.txt", "./out/a.txt",
	    "out//a.txt", "out/./a.txt", "out/a.txt/", ".//out/a.txt" };
	static const char *pre[] = { "out/./a.txt" };
	struct plan *p;
	struct dag *d;
	struct node *n;
	char *norm;
	size_t i;

	(void)state;
	p = plan_new();
	add_rule(p, 1, "./out//a.txt", NULL, 0);
	add_rule(p, 2, "b", pre, 1);
	d = dag_build(p);
	assert_non_null(d);
	n = dag_find(d, "out/a.txt");
	assert_non_null(n);
	assert_string_equal(n->path, "out/a.txt");
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		assert_ptr_equal(dag_find(d, same[i]), n);
	assert_ptr_equal(d->tasks[1]->ins[0], n);
	assert_ptr_equal(d->tasks[1]->deps[0], d->tasks[0]);
	assert_null(dag_find(d, "out/a"));
	assert_null(dag_find(d, "out"));
	norm = dag_normpath("/");
	assert_string_equal(norm, "/");
	free(norm);
	assert_ptr_equal(dag_find(d, "b/"), dag_find(d, "b"));
	dag_free(d);
	plan_free(p);
}

/* A missing input is an error at each rule that reads it, though its
 * file is looked at once. */
static void
test_missing_input_each_reference(void **state)
{
	static const char *pre[] = { "/nonexistent/planmake/x.md" };
	char line[512];
	struct plan *p;
	FILE *f;
	int n;

	(void)state;
	f = tmpfile();
	assert_non_null(f);
	diag_set_output(f);
	diag_reset();
	p = plan_new();
	add_rule(p, 1, "a", pre, 1);
	add_rule(p, 2, "b", pre, 1);
	assert_null(dag_build(p));
	assert_int_equal(diag_nerrors(), 2);
	rewind(f);
	n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		assert_non_null(strstr(line, "which no rule makes and which "
		    "cannot be read: No such file or directory"));
	}
	assert_int_equal(n, 2);
	diag_set_output(NULL);
	fclose(f);
	plan_free(p);
}

/* Errors stop at DIAG_MAX_ERRORS, then one "too many errors". */
static void
test_error_limit(void **state)
{
	static const char *pre[] = { "/nonexistent/planmake/x.md" };
	char line[512], name[16];
	struct plan *p;
	FILE *f;
	int i, n, last;

	(void)state;
	f = tmpfile();
	assert_non_null(f);
	diag_set_output(f);
	diag_reset();
	p = plan_new();
	p->file = xstrdup("Planfile");
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		add_rule(p, i + 1, name, pre, 1);
	}
	assert_null(dag_build(p));
	rewind(f);
	n = last = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		last = strcmp(line, "Planfile: error: too many errors\n") == 0;
	}
	assert_int_equal(n, DIAG_MAX_ERRORS + 1);
	assert_true(last);
	diag_set_output(NULL);
	fclose(f);
	plan_free(p);
}

/* A graph of far more files than its rules' targets regrows the node
 * table past its first size, and finds every node after. */
static void
test_table_regrows(void **state)
{
	enum { NFILES = 3000 };
	char dir[] = "/tmp/pm-dagXXXXXX", **names;
	const char **pre;
	struct plan *p;
	struct dag *d;
	struct node *n;
	FILE *f;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	names = xcalloc(NFILES, sizeof(*names));
	pre = xcalloc(NFILES, sizeof(*pre));
	for (i = 0; i < NFILES; i++) {
		xasprintf(&names[i], "%s/f%zu", dir, i);
		assert_non_null(f = fopen(names[i], "w"));
		fclose(f);
		pre[i] = names[i];
	}
	diag_reset();
	p = plan_new();
	add_rule(p, 1, "all", pre, NFILES);
	d = dag_build(p);
	assert_non_null(d);
	assert_int_equal(d->nnodes, NFILES + 1);
	assert_true(d->tablecap >= 2 * (NFILES + 1));
	for (i = 0; i < NFILES; i++) {
		n = dag_find(d, names[i]);
		assert_non_null(n);
		assert_string_equal(n->path, names[i]);
		assert_ptr_equal(d->tasks[0]->ins[i], n);
		assert_null(n->producer);
	}
	assert_ptr_equal(dag_find(d, "all"), d->tasks[0]->outs[0]);
	assert_null(dag_find(d, "f1"));
	dag_free(d);
	plan_free(p);
	for (i = 0; i < NFILES; i++) {
		unlink(names[i]);
		free(names[i]);
	}
	rmdir(dir);
	free(names);
	free(pre);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spellings),
		cmocka_unit_test(test_missing_input_each_reference),
		cmocka_unit_test(test_error_limit),
		cmocka_unit_test(test_table_regrows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
