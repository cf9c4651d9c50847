/* Unit tests for the plan.yaml loader: the schema, expansion as in a
 * Planfile, the Planfile equivalence, and each error with its place. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "parser.h"
#include "plan.h"
#include "util.h"
#include "yamlplan.h"

static FILE	*diagf;
static char	*diagtext;
static struct plan *plan;

static int
setup(void **state)
{
	(void)state;
	diagf = tmpfile();
	assert_non_null(diagf);
	diag_set_output(diagf);
	diag_reset();
	plan = plan_new();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	diag_set_output(NULL);
	fclose(diagf);
	free(diagtext);
	diagtext = NULL;
	plan_free(plan);
	plan = NULL;
	return 0;
}

/* Load text as "plan.yaml"; the loader's result. */
static int
load(const char *text)
{
	return yamlplan_load_mem(plan, "plan.yaml", text, strlen(text));
}

/* The diagnostics since the last call. */
static const char *
diags(void)
{
	struct buf b;
	char line[4096];

	memset(&b, 0, sizeof(b));
	buf_grow(&b, 0);
	fflush(diagf);
	rewind(diagf);
	while (fgets(line, sizeof(line), diagf) != NULL)
		buf_addstr(&b, line);
	fclose(diagf);
	diagf = tmpfile();
	assert_non_null(diagf);
	diag_set_output(diagf);
	free(diagtext);
	diagtext = buf_detach(&b);
	return diagtext;
}

/* The rule at index i, which must exist. */
static struct rule *
rule_at(size_t i)
{
	assert_true(i < plan->nrules);
	return plan->rules[i];
}

/* The value of variable name as stored, or NULL. */
static const char *
var_value(const char *name)
{
	struct var *v;

	v = smap_get(&plan->vars, name);
	return v ? v->value : NULL;
}

/* Load text, expecting it to fail with exactly the diagnostics want. */
static void
fails_with(const char *text, const char *want)
{
	assert_int_equal(load(text), -1);
	assert_string_equal(diags(), want);
}

/* vars, settings, phony, tasks; names split, values expanded. */
static void
test_schema(void **state)
{
	struct rule *r;
	char *v;

	(void)state;
	assert_int_equal(load(
	    "vars:\n"
	    "  OUT: out\n"
	    "  N: 3\n"
	    "  EMPTY:\n"
	    "  SRC: a.md b.md\n"
	    "settings:\n"
	    "  tier.cheap: openai:gpt-test\n"
	    "  max_tokens: 2000\n"
	    "  context: [ctx.md, my notes.md]\n"
	    "phony: all\n"
	    "tasks:\n"
	    "  - targets: all\n"
	    "    deps: [$(OUT)/x.c, $(OUT)/y.c]\n"
	    "  - targets: $(OUT)/x.c $(OUT)/x.h\n"
	    "    deps: $(SRC) my\\ spec.md\n"
	    "    tier: strong\n"
	    "    prompt: Write x from $(SRC).\n"
	    "  - targets: [$(OUT)/y.c]\n"
	    "    phony: false\n"
	    "    prompt: |\n"
	    "\n"
	    "      Write y.\n"
	    "\n"
	    "        Indented, $(N) times.\n"
	    "\n"
	    "\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(var_value("OUT"), "out");
	assert_string_equal(var_value("N"), "3");
	assert_string_equal(var_value("EMPTY"), "");
	assert_string_equal(var_value("tier.cheap"), "openai:gpt-test");
	assert_string_equal(var_value("context"), "ctx.md my\\ notes.md");
	assert_true(plan_is_phony(plan, "all"));
	assert_false(plan_is_phony(plan, "out/y.c"));
	assert_int_equal(plan->nrules, 3);
	assert_int_equal(plan->ngoals, 1);
	assert_string_equal(plan->goals[0], "all");

	r = rule_at(0);
	assert_null(r->prompt);
	assert_int_equal(r->nprereqs, 2);
	assert_string_equal(r->prereqs[1], "out/y.c");
	assert_int_equal(rule_ploc(r, 1).line, 13);
	assert_int_equal(rule_ploc(r, 1).col, 24);

	r = rule_at(1);
	assert_int_equal(r->ntargets, 2);
	assert_string_equal(r->targets[1], "out/x.h");
	assert_int_equal(rule_tloc(r, 1).col, 25);
	assert_int_equal(r->nprereqs, 3);
	assert_string_equal(r->prereqs[0], "a.md");
	assert_string_equal(r->prereqs[1], "b.md");
	assert_string_equal(r->prereqs[2], "my spec.md");
	assert_string_equal(r->prompt, "Write x from a.md b.md.");
	v = plan_setting(plan, "out/x.h", "tier", NULL);
	assert_string_equal(v, "strong");
	free(v);
	v = plan_setting(plan, "out/y.c", "max_tokens", NULL);
	assert_string_equal(v, "2000");
	free(v);

	/* A block keeps its inner blank lines and indentation; the blank
	 * lines at either end and the final line break go, as in a
	 * Planfile. */
	r = rule_at(2);
	assert_string_equal(r->prompt, "Write y.\n\n  Indented, 3 times.");
	assert_int_equal(r->prompt_loc.line, 22);
	assert_int_equal(r->prompt_loc.col, 7);
}

/* The same plan as a Planfile and as plan.yaml: the same model. */
static void
test_same_as_planfile(void **state)
{
	static const char pf[] =
	    "SPEC = spec.md\n"
	    "system = Be brief.\n"
	    "all: a.c b.c\n"
	    ".PHONY: all\n"
	    "a.c b.h: $(SPEC) x\\ y.md\n"
	    "\tWrite a.c and b.h from $(SPEC).\n"
	    "\t\n"
	    "\t  Keep it short.\n"
	    "b.c: a.c\n"
	    "\tWrite b.c.\n"
	    "b.c: tier = strong\n";
	static const char yml[] =
	    "vars: {SPEC: spec.md}\n"
	    "settings: {system: Be brief.}\n"
	    "tasks:\n"
	    "- {targets: all, deps: a.c b.c, phony: true}\n"
	    "- targets: [a.c, b.h]\n"
	    "  deps: $(SPEC) x\\ y.md\n"
	    "  prompt: |\n"
	    "    Write a.c and b.h from $(SPEC).\n"
	    "\n"
	    "      Keep it short.\n"
	    "- targets: b.c\n"
	    "  deps: a.c\n"
	    "  prompt: Write b.c.\n"
	    "  tier: strong\n";
	struct plan *a, *b;
	struct rule *ra, *rb;
	size_t i, k;
	char *va, *vb;

	(void)state;
	a = plan_new();
	b = plan_new();
	assert_int_equal(parser_load_mem(a, "Planfile", pf, strlen(pf)), 0);
	assert_int_equal(yamlplan_load_mem(b, "plan.yaml", yml,
	    strlen(yml)), 0);
	assert_string_equal(diags(), "");
	assert_int_equal(a->nrules, b->nrules);
	for (i = 0; i < a->nrules; i++) {
		ra = a->rules[i];
		rb = b->rules[i];
		assert_int_equal(ra->ntargets, rb->ntargets);
		for (k = 0; k < ra->ntargets; k++)
			assert_string_equal(ra->targets[k], rb->targets[k]);
		assert_int_equal(ra->nprereqs, rb->nprereqs);
		for (k = 0; k < ra->nprereqs; k++)
			assert_string_equal(ra->prereqs[k], rb->prereqs[k]);
		if (ra->prompt == NULL)
			assert_null(rb->prompt);
		else
			assert_string_equal(ra->prompt, rb->prompt);
	}
	assert_string_equal(a->rules[1]->prompt,
	    "Write a.c and b.h from spec.md.\n\n  Keep it short.");
	assert_int_equal(a->ngoals, b->ngoals);
	assert_string_equal(a->goals[0], b->goals[0]);
	assert_true(plan_is_phony(b, "all"));
	va = plan_setting(a, "b.c", "tier", NULL);
	vb = plan_setting(b, "b.c", "tier", NULL);
	assert_string_equal(va, vb);
	free(va);
	free(vb);
	va = plan_setting(a, "a.c", "system", NULL);
	vb = plan_setting(b, "a.c", "system", NULL);
	assert_string_equal(va, vb);
	free(va);
	free(vb);
	plan_free(a);
	plan_free(b);
}

/* Settings and variables are expanded when read, like "NAME = value";
 * the command line wins over the file. */
static void
test_late_expansion_and_cmdline(void **state)
{
	char *v;

	(void)state;
	assert_int_equal(plan_cmdline_var(plan, "MODEL=openai:cli"), 0);
	assert_int_equal(load(
	    "settings:\n"
	    "  model: $(MODEL)\n"
	    "vars:\n"
	    "  MODEL: anthropic:file\n"
	    "  X: 1\n"
	    "tasks:\n"
	    "  - targets: a\n"
	    "    temperature: $(X)\n"), 0);
	assert_string_equal(diags(), "");
	v = plan_setting(plan, "a", "model", NULL);
	assert_string_equal(v, "openai:cli");
	free(v);
	v = plan_setting(plan, "a", "temperature", NULL);
	assert_string_equal(v, "1");
	free(v);
}

/* Warnings about references point at their line and column. */
static void
test_reference_places(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "tasks:\n"
	    "  - targets: [\"$(A)\", b]\n"
	    "    prompt: |\n"
	    "      one\n"
	    "        two $(B)\n"
	    "  - targets: c\n"
	    "    prompt: \"x $(C)\"\n"), 0);
	assert_string_equal(diags(),
	    "plan.yaml:2:16: warning: undefined variable 'A' left as "
	    "written\n"
	    "plan.yaml:5:13: warning: undefined variable 'B' left as "
	    "written\n"
	    "plan.yaml:7:16: warning: undefined variable 'C' left as "
	    "written\n");
	assert_string_equal(rule_at(0)->targets[0], "$(A)");
	assert_string_equal(rule_at(0)->prompt, "one\n  two $(B)");
}

/* Columns count bytes; a byte order mark is skipped; CR LF ends lines. */
static void
test_columns_bom_crlf(void **state)
{
	(void)state;
	fails_with("\xef\xbb\xbftasks:\r\n  - targets: \xc3\xa9t\xc3\xa9 a\r\n"
	    "    d\xc3\xa9ps: x\r\n",
	    "plan.yaml:3:5: error: unknown key 'd\xc3\xa9ps' in a task; "
	    "did you mean 'deps'?\n");
	fails_with("tasks:\r\n  - targets: a\r\n\r\n    dpes: x\r\n",
	    "plan.yaml:4:5: error: unknown key 'dpes' in a task; did you "
	    "mean 'deps'?\n");
	fails_with("tasks: [{targets: \xc3\xa9, deps: {a: b}}]\n",
	    "plan.yaml:1:29: error: 'deps' must be a string or a list of "
	    "strings, not a mapping\n");
}

/* An empty file, or one of comments, is an empty plan, as an empty
 * Planfile is. */
static void
test_empty(void **state)
{
	(void)state;
	assert_int_equal(load(""), 0);
	assert_int_equal(load("# nothing yet\n"), 0);
	assert_int_equal(load("tasks:\nvars:\n"), 0);
	assert_string_equal(diags(), "");
	assert_int_equal(plan->nrules, 0);
}

/* Wrong types: each part says what it wants and what it got. */
static void
test_wrong_types(void **state)
{
	(void)state;
	fails_with("- a\n",
	    "plan.yaml:1:1: error: a plan must be a mapping with vars, "
	    "settings, phony and tasks, not a list\n");
	fails_with("vars: [a]\n",
	    "plan.yaml:1:7: error: 'vars' must be a mapping of names to "
	    "values, not a list\n");
	fails_with("vars:\n  A: [1, 2]\n",
	    "plan.yaml:2:6: error: a variable's value must be a string, not "
	    "a list\n");
	fails_with("settings: x\n",
	    "plan.yaml:1:11: error: 'settings' must be a mapping of settings "
	    "to values, not a string\n");
	fails_with("settings:\n  model: [a, b]\n",
	    "plan.yaml:2:10: error: a setting's value must be a string, not "
	    "a list\n");
	fails_with("settings:\n  context: [a, {b: c}]\n",
	    "plan.yaml:2:16: error: a setting's value must be a string, not "
	    "a mapping\n");
	fails_with("tasks: {a: b}\n",
	    "plan.yaml:1:8: error: 'tasks' must be a list of tasks, not a "
	    "mapping\n");
	fails_with("tasks:\n  - a.txt\n",
	    "plan.yaml:2:5: error: a task must be a mapping with targets, "
	    "deps and prompt, not a string\n");
	fails_with("tasks:\n  - targets: {a: 1}\n",
	    "plan.yaml:2:14: error: 'targets' must be a string or a list of "
	    "strings, not a mapping\n");
	fails_with("tasks:\n  - targets: a\n    deps: [b, [c]]\n",
	    "plan.yaml:3:15: error: 'deps' must be a string, not a list\n");
	fails_with("tasks:\n  - targets: a\n    prompt:\n      - one\n",
	    "plan.yaml:4:7: error: 'prompt' must be a string, not a list\n");
	fails_with("tasks:\n  - targets: a\n    phony: yes\n",
	    "plan.yaml:3:12: error: 'phony' must be true or false, not "
	    "'yes'\n");
	fails_with("phony: {a: b}\n",
	    "plan.yaml:1:8: error: 'phony' must be a string or a list of "
	    "strings, not a mapping\n");
	fails_with("{[a]: b}\n",
	    "plan.yaml:1:2: error: a key must be a string, not a list\n");
	assert_int_equal(plan->nrules, 0);
}

/* Unknown keys get the closest known one. */
static void
test_unknown_keys(void **state)
{
	(void)state;
	fails_with("task:\n  - targets: a\n",
	    "plan.yaml:1:1: error: unknown key 'task' at the top; did you "
	    "mean 'tasks'?\n");
	fails_with("rules: []\n",
	    "plan.yaml:1:1: error: unknown key 'rules' at the top\n");
	fails_with("settings:\n  temprature: 1\n",
	    "plan.yaml:2:3: error: unknown setting 'temprature'; did you "
	    "mean 'temperature'?\n");
	fails_with("tasks:\n  - targets: a\n    max_token: 5\n",
	    "plan.yaml:3:5: error: unknown key 'max_token' in a task; did "
	    "you mean 'max_tokens'?\n");
	fails_with("tasks:\n  - targets: a\n    dep: b\n",
	    "plan.yaml:3:5: error: unknown key 'dep' in a task; did you mean "
	    "'deps'?\n");
	fails_with("tasks:\n  - targets: a\n    colour: red\n",
	    "plan.yaml:3:5: error: unknown key 'colour' in a task\n");
	fails_with("vars:\n  a b: 1\n",
	    "plan.yaml:2:3: error: invalid variable name 'a b'\n");
	assert_int_equal(plan->nrules, 0);
}

/* Duplicate keys: the second is the error, the first a note. */
static void
test_duplicate_keys(void **state)
{
	(void)state;
	fails_with("tasks: []\ntasks: []\n",
	    "plan.yaml:2:1: error: duplicate key 'tasks'\n"
	    "plan.yaml:1:1: note: 'tasks' first given here\n");
	fails_with("vars:\n  A: 1\n  A: 2\n",
	    "plan.yaml:3:3: error: duplicate key 'A'\n"
	    "plan.yaml:2:3: note: 'A' first given here\n");
	fails_with("vars: {A: 1, B: 1, C: 1, D: 1, E: 1, F: 1, G: 1, H: 1, "
	    "I: 1, J: 1, K: 1, L: 1, M: 1, N: 1, O: 1, P: 1, Q: 1, B: 2}\n",
	    "plan.yaml:1:110: error: duplicate key 'B'\n"
	    "plan.yaml:1:14: note: 'B' first given here\n");
	fails_with("tasks:\n  - targets: a\n    prompt: x\n    prompt: y\n",
	    "plan.yaml:4:5: error: duplicate key 'prompt'\n"
	    "plan.yaml:3:5: note: 'prompt' first given here\n");
}

/* A task needs targets. */
static void
test_missing_targets(void **state)
{
	(void)state;
	fails_with("tasks:\n  - deps: a\n    prompt: x\n",
	    "plan.yaml:2:5: error: a task needs 'targets'\n");
	fails_with("tasks:\n  - targets: []\n",
	    "plan.yaml:2:14: error: 'targets' names no target\n");
	fails_with("vars: {E: ''}\ntasks:\n  - targets: $(E)\n",
	    "plan.yaml:3:14: error: 'targets' names no target\n");
	assert_int_equal(plan->nrules, 0);
}

/* YAML syntax errors: libyaml's text at its place, 1-based. */
static void
test_syntax_errors(void **state)
{
	(void)state;
	fails_with("tasks:\n  - targets: a\n   prompt: x\n",
	    "plan.yaml:3:4: error: did not find expected '-' indicator\n"
	    "plan.yaml:2:3: note: while parsing a block collection\n");
	fails_with("vars: {A: \"x\n",
	    "plan.yaml:2:1: error: found unexpected end of stream\n"
	    "plan.yaml:1:11: note: while scanning a quoted scalar\n");
	fails_with("tasks: *nowhere\n",
	    "plan.yaml:1:8: error: found undefined alias\n");
	fails_with("tasks:\n  - targets: a\xff\n",
	    "plan.yaml:2:15: error: invalid leading UTF-8 octet (0xff)\n");
	fails_with("a: 1\n---\nb: 2\n",
	    "plan.yaml:3:1: error: a second document; a plan is one\n");
	fails_with("tasks:\n  - targets: \"a\\0b\"\n",
	    "plan.yaml:2:14: error: 'targets' holds a NUL character\n");
	assert_int_equal(plan->nrules, 0);
}

/* Errors stop at DIAG_MAX_ERRORS, then one "too many errors". */
static void
test_too_many_errors(void **state)
{
	struct buf b = { 0 };
	const char *d, *s;
	int i, n;

	(void)state;
	buf_addstr(&b, "tasks:\n");
	for (i = 0; i < 50; i++)
		buf_addstr(&b, "  - prompt: x\n");
	assert_int_equal(load(b.data), -1);
	buf_free(&b);
	d = diags();
	for (n = 0, s = d; (s = strstr(s, "error:")) != NULL; s++)
		n++;
	assert_int_equal(n, DIAG_MAX_ERRORS + 1);
	assert_non_null(strstr(d, "plan.yaml: error: too many errors\n"));
}

/* A variable that refers to itself is an error, not a hang. */
static void
test_self_reference(void **state)
{
	(void)state;
	fails_with("vars: {A: x $(A)}\ntasks:\n  - targets: $(A)\n",
	    "plan.yaml:3:14: error: variable 'A' refers to itself\n"
	    "plan.yaml:1:8: note: 'A' is assigned here\n");
}

/* plan_load() reads a .yaml or .yml file with this loader. */
static void
test_plan_load_dispatch(void **state)
{
	char path[] = "/tmp/plan-XXXXXX.yml";
	static const char text[] = "tasks:\n  - targets: a.txt\n";
	int fd;

	(void)state;
	fd = mkstemps(path, 4);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)),
	    (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(plan_load(plan, path), 0);
	unlink(path);
	assert_string_equal(diags(), "");
	assert_int_equal(plan->nrules, 1);
	assert_string_equal(rule_at(0)->targets[0], "a.txt");
	assert_int_equal(rule_tloc(rule_at(0), 0).line, 2);
	assert_string_equal(rule_tloc(rule_at(0), 0).file, path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_schema),
		T(test_same_as_planfile),
		T(test_late_expansion_and_cmdline),
		T(test_reference_places),
		T(test_columns_bom_crlf),
		T(test_empty),
		T(test_wrong_types),
		T(test_unknown_keys),
		T(test_duplicate_keys),
		T(test_missing_targets),
		T(test_syntax_errors),
		T(test_too_many_errors),
		T(test_self_reference),
		T(test_plan_load_dispatch),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
