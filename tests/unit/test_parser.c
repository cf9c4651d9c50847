/* Unit tests for the Planfile lexer and parser, through plan_load(). */
#include "unit.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dag.h"
#include "diag.h"
#include "lexer.h"
#include "parser.h"
#include "plan.h"
#include "util.h"

#define MAXFILES	4

static FILE	*diagf;
static char	 paths[MAXFILES][64];
static int	 npaths;
static char	*diagtext;
static struct plan *plan;
static struct dag *graph;
static char	 tdir[64];	/* a scratch directory, when in_dir() */
static char	 olddir[4096];

static int
setup(void **state)
{
	(void)state;
	diagf = tmpfile();
	assert_non_null(diagf);
	diag_set_output(diagf);
	diag_reset();
	npaths = 0;
	plan = plan_new();
	return 0;
}

static int
teardown(void **state)
{
	int i;

	(void)state;
	diag_set_output(NULL);
	fclose(diagf);
	for (i = 0; i < npaths; i++)
		unlink(paths[i]);
	free(diagtext);
	diagtext = NULL;
	dag_free(graph);
	graph = NULL;
	plan_free(plan);
	plan = NULL;
	if (tdir[0] != '\0') {
		char cmd[128];

		assert_int_equal(chdir(olddir), 0);
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
		assert_int_equal(system(cmd), 0);
		tdir[0] = '\0';
	}
	return 0;
}

/* Work in a new scratch directory, removed by teardown(). */
static void
in_dir(void)
{
	assert_non_null(getcwd(olddir, sizeof(olddir)));
	strcpy(tdir, "/tmp/pm-lang.XXXXXX");
	assert_non_null(mkdtemp(tdir));
	assert_int_equal(chdir(tdir), 0);
}

/* Write a file (and its directories) in the scratch directory. */
static void
put(const char *path, const char *text)
{
	char *err = NULL;

	assert_int_equal(file_write_atomic(path, text, strlen(text), 0, &err),
	    0);
}

/* Load text as "Planfile" from memory. */
static int
load_mem(const char *text)
{
	return parser_load_mem(plan, "Planfile", text, strlen(text));
}

/* The expanded prompt of the task making target, in the graph. */
static const char *
task_prompt(const char *target)
{
	struct node *n;

	assert_non_null(graph);
	n = dag_find(graph, target);
	assert_non_null(n);
	assert_non_null(n->producer);
	return n->producer->rule->prompt;
}

/* The setting name for target's task, as a string kept until
 * teardown ("(null)" when unset). */
static const char *
setting(const char *target, const char *name)
{
	static char keep[8][256];
	static int k;
	char *v;

	v = plan_setting(plan, target, name, NULL);
	k = (k + 1) % 8;
	snprintf(keep[k], sizeof(keep[k]), "%s", v ? v : "(null)");
	free(v);
	return keep[k];
}

/* Write len bytes to a new temporary Planfile and return its name. */
static const char *
write_plan(const char *text, size_t len)
{
	char *path;
	int fd;

	assert_true(npaths < MAXFILES);
	path = paths[npaths++];
	strcpy(path, "/tmp/Planfile.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

/* Load text as the plan's Planfile; plan_load()'s result. */
static int
load(const char *text)
{
	return plan_load(plan, write_plan(text, strlen(text)));
}

/* The diagnostics so far, each temporary file's name shown as
 * "Planfile". */
static const char *
diags(void)
{
	struct buf b;
	char line[4096], *s, *hit;
	size_t n;
	int i;

	memset(&b, 0, sizeof(b));
	fflush(diagf);
	rewind(diagf);
	while (fgets(line, sizeof(line), diagf) != NULL)
		buf_addstr(&b, line);
	for (i = 0; i < npaths && b.data != NULL; i++) {
		n = strlen(paths[i]);
		while ((hit = strstr(b.data, paths[i])) != NULL) {
			memcpy(hit, "Planfile", 8);
			memmove(hit + 8, hit + n, strlen(hit + n) + 1);
		}
	}
	s = buf_detach(&b);
	free(diagtext);
	diagtext = s;
	return s;
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

/* grammar: assignment, rule_header, reference */
static void
test_assign_and_expand(void **state)
{
	struct rule *r;

	(void)state;
	assert_int_equal(load(
	    "OUT = a.txt   \n"
	    "X=b\n"
	    "$(OUT) ${X}.md: in-$(X).txt\n"
	    "\tWrite $(X) and ${OUT}.\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(var_value("OUT"), "a.txt");
	assert_string_equal(var_value("X"), "b");
	r = rule_at(0);
	assert_int_equal(r->ntargets, 2);
	assert_string_equal(r->targets[0], "a.txt");
	assert_string_equal(r->targets[1], "b.md");
	assert_int_equal(rule_tloc(r, 1).col, 8);
	assert_int_equal(r->nprereqs, 1);
	assert_string_equal(r->prereqs[0], "in-b.txt");
	assert_int_equal(rule_ploc(r, 0).line, 3);
	assert_int_equal(rule_ploc(r, 0).col, 17);
	assert_string_equal(r->prompt, "Write b and a.txt.");
	assert_int_equal(r->prompt_loc.line, 4);
	assert_int_equal(r->prompt_loc.col, 2);
}

/* grammar: rule_header (a value holding blanks gives several words) */
static void
test_value_splits_into_words(void **state)
{
	struct rule *r;

	(void)state;
	assert_int_equal(load(
	    "SRC = a.txt b.txt\n"
	    "SRC = c.txt d.txt\n"
	    "out: $(SRC)x\n"), 0);
	r = rule_at(0);
	assert_int_equal(r->nprereqs, 2);
	assert_string_equal(r->prereqs[0], "c.txt");
	assert_string_equal(r->prereqs[1], "d.txtx");
	assert_null(r->prompt);
}

/* grammar: prompt (expanded after the whole file is read) */
static void
test_later_variable_in_prompt(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "out.txt:\n"
	    "\tUse $(STYLE), $(STYLE).\n"
	    "STYLE = terse $(MOOD)\n"
	    "MOOD = calm\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(rule_at(0)->prompt,
	    "Use terse calm, terse calm.");
}

/* grammar: rule_header (expanded at once, unlike the prompt) */
static void
test_header_expands_at_once(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "$(LATE).txt: x\n"
	    "LATE = late\n"), 0);
	assert_string_equal(diags(), "Planfile:1:1: warning: undefined "
	    "variable 'LATE' left as written\n");
	assert_string_equal(rule_at(0)->targets[0], "$(LATE).txt");
}

/* grammar: assignment (the command line wins) */
static void
test_cmdline_override(void **state)
{
	char *v;

	(void)state;
	assert_int_equal(plan_cmdline_var(plan, "MODEL=big"), 0);
	assert_int_equal(load(
	    "MODEL = small\n"
	    "out-$(MODEL):\n"
	    "\tmodel $(MODEL)\n"
	    "MODEL = smaller\n"), 0);
	assert_string_equal(rule_at(0)->targets[0], "out-big");
	assert_string_equal(rule_at(0)->prompt, "model big");
	v = plan_setting(plan, NULL, "MODEL", NULL);
	assert_string_equal(v, "big");
	free(v);
}

/* grammar: reference (undefined: left as written, warned at the "$") */
static void
test_undefined_variable_warning(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "out:\n"
	    "\tcd ${HOME} && $(X)\n"
	    "spaces:\n"
	    "  a\n"
	    "    b $(Y)\n"), 0);
	assert_string_equal(diags(),
	    "Planfile:2:5: warning: undefined variable 'HOME' left as "
	    "written\n"
	    "Planfile:2:16: warning: undefined variable 'X' left as "
	    "written\n"
	    "Planfile:5:7: warning: undefined variable 'Y' left as "
	    "written\n");
	assert_string_equal(rule_at(0)->prompt, "cd ${HOME} && $(X)");
	assert_string_equal(rule_at(1)->prompt, "a\n  b $(Y)");
	assert_int_equal(diag_nwarnings(), 3);
}

/* grammar: dollar, other_ref, text */
static void
test_dollars(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "V = v\n"
	    "out:\n"
	    "\tcost $$5, $$(V) $$@ $1 $(x+1) ${a/b} $(V)$ $(open $\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(rule_at(0)->prompt,
	    "cost $5, $(V) $@ $1 $(x+1) ${a/b} v$ $(open $");
}

/* grammar: computed_name */
static void
test_computed_name(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "B = b\n"
	    "A_b = ab\n"
	    "out:\n"
	    "\t$(A_$(B)) ${A_${B}} $(B) $(A_$(C))\n"), 0);
	assert_string_equal(diags(), "Planfile:4:31: warning: undefined "
	    "variable 'C' left as written\n"
	    "Planfile:4:27: warning: undefined variable 'A_$(C)' left as "
	    "written\n");
	assert_string_equal(rule_at(0)->prompt, "ab ab b $(A_$(C))");
}

/* grammar: reference (a variable that refers to itself) */
static void
test_self_reference(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "A = x $(A)\n"
	    "B = $(C)\n"
	    "C = 1 $(B)\n"
	    "out:\n"
	    "\tone $(A)\n"
	    "\ttwo ${B}\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:5:6: error: variable 'A' refers to itself\n"
	    "Planfile:1:1: note: 'A' is assigned here\n"
	    "Planfile:6:6: error: variable 'B' refers to itself (B -> C -> "
	    "B)\n"
	    "Planfile:2:1: note: 'B' is assigned here\n"
	    "Planfile:3:1: note: 'C' is assigned here\n");
	assert_string_equal(rule_at(0)->prompt, "one x $(A)\ntwo 1 $(B)");
}

/* grammar: prompt (tab indentation: one tab comes off) */
static void
test_prompt_tabs(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "out:\n"
	    "\tline one\n"
	    "\t\tindented  \n"
	    "\t  spaced\n"), 0);
	assert_string_equal(rule_at(0)->prompt,
	    "line one\n\tindented  \n  spaced");
}

/* grammar: prompt (space indentation: the smallest comes off) */
static void
test_prompt_spaces(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "out:\n"
	    "      deep\n"
	    "    shallow\n"
	    "        deeper\n"
	    "other:\n"
	    " one\n"), 0);
	assert_string_equal(rule_at(0)->prompt,
	    "  deep\nshallow\n    deeper");
	assert_int_equal(rule_at(0)->prompt_loc.line, 2);
	assert_int_equal(rule_at(0)->prompt_loc.col, 5);
	assert_string_equal(rule_at(1)->prompt, "one");
}

/* grammar: prompt (one block, one kind of indentation) */
static void
test_prompt_mixed_indentation(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "out:\n"
	    "\ttab\n"
	    "\n"
	    "    spaces\n"
	    "\ttab\n"
	    "  more spaces\n"
	    "ok:\n"
	    "  spaces\n"
	    "\ttab\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:4:1: error: prompt mixes tab and space indentation\n"
	    "Planfile:9:1: error: prompt mixes tab and space indentation\n");
}

/* grammar: prompt, blank_line (blank lines inside kept, at the ends
 * dropped) */
static void
test_prompt_blank_lines(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "out:\n"
	    "\n"
	    "\tfirst\n"
	    "\n"
	    "\t\n"
	    "   \n"
	    "\tsecond\n"
	    "\n"
	    "\n"
	    "next: x\n"
	    "\n"
	    "\tthird\n"
	    "\n"), 0);
	assert_string_equal(rule_at(0)->prompt, "first\n\n\n\nsecond");
	assert_int_equal(rule_at(0)->prompt_loc.line, 3);
	assert_string_equal(rule_at(1)->prompt, "third");
}

/* grammar: prompt, comment_line, trailing_comment, value */
static void
test_hash_in_prompt_and_comments(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "# a comment\n"
	    "   # an indented comment, outside any prompt\n"
	    "A = 1 # trailing\n"
	    "H = a\\#b   # c\n"
	    "out: in # the input\n"
	    "\t# Heading\n"
	    "\ttext # not a comment\n"
	    "\t  # indented heading\n"
	    "# a comment ends the prompt\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(var_value("A"), "1");
	assert_string_equal(var_value("H"), "a#b");
	assert_int_equal(rule_at(0)->nprereqs, 1);
	assert_string_equal(rule_at(0)->prereqs[0], "in");
	assert_string_equal(rule_at(0)->prompt,
	    "# Heading\ntext # not a comment\n  # indented heading");
}

/* grammar: prompt (it ends at a line that is not indented) */
static void
test_prompt_ends_at_next_line(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "a:\n"
	    "\tfirst\n"
	    "b: a\n"
	    "\tsecond \\\n"
	    "\tthird\n"
	    "# comment\n"
	    "\tstray\n"), -1);
	assert_int_equal(plan->nrules, 2);
	assert_string_equal(rule_at(0)->prompt, "first");
	assert_string_equal(rule_at(1)->prompt, "second \\\nthird");
	assert_string_equal(diags(),
	    "Planfile:7:2: error: prompt line outside a rule\n");
}

/* grammar: line (indented lines after no rule header) */
static void
test_prompt_outside_rule(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "A = 1\n"
	    "\tstray\n"
	    "\tstray again\n"
	    "out: model = m\n"
	    "    after a setting\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:2:2: error: prompt line outside a rule\n"
	    "Planfile:5:5: error: prompt line outside a rule\n");
}

/* Describe the whole plan, for comparing two loads. */
static char *
dump_plan(const struct plan *p)
{
	struct buf b;
	struct rule *r;
	struct var *v;
	size_t i, j;

	memset(&b, 0, sizeof(b));
	for (i = 0; i < p->nrules; i++) {
		r = p->rules[i];
		buf_printf(&b, "rule %d:%d\n", r->loc.line, r->loc.col);
		for (j = 0; j < r->ntargets; j++)
			buf_printf(&b, " t %s %d:%d\n", r->targets[j],
			    rule_tloc(r, j).line, rule_tloc(r, j).col);
		for (j = 0; j < r->nprereqs; j++)
			buf_printf(&b, " p %s %d:%d\n", r->prereqs[j],
			    rule_ploc(r, j).line, rule_ploc(r, j).col);
		buf_printf(&b, " prompt %d:%d [%s]\n", r->prompt_loc.line,
		    r->prompt_loc.col, r->prompt ? r->prompt : "(null)");
	}
	for (i = 0; i < p->vars.cap; i++)
		if ((v = p->vars.ents[i].val) != NULL)
			buf_printf(&b, "var %s=[%s] %d:%d\n", v->name, v->value,
			    v->loc.line, v->loc.col);
	for (i = 0; i < p->ntsets; i++)
		buf_printf(&b, "tset %s %s=[%s] %d:%d\n", p->tsets[i]->target,
		    p->tsets[i]->name, p->tsets[i]->value,
		    p->tsets[i]->loc.line, p->tsets[i]->loc.col);
	for (i = 0; i < p->ngoals; i++)
		buf_printf(&b, "goal %s\n", p->goals[i]);
	buf_printf(&b, "phony %d\n", plan_is_phony(p, "all"));
	return buf_detach(&b);
}

/* The same text with each LF made CR LF. */
static char *
to_crlf(const char *s)
{
	struct buf b;

	memset(&b, 0, sizeof(b));
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			buf_addc(&b, '\r');
		buf_addc(&b, *s);
	}
	return buf_detach(&b);
}

/* grammar: newline (CR LF reads as LF) */
static void
test_crlf_same_as_lf(void **state)
{
	static const char text[] =
	    "# comment\n"
	    "V = value \\\n"
	    "    continued\n"
	    ".PHONY: all\n"
	    "all: out.txt\n"
	    "out.txt: in\\ put.txt $(V)\n"
	    "\tSay $(V).\n"
	    "\n"
	    "\t\tdeeper\n"
	    "\n"
	    "out.txt: model = m\n"
	    "spaced:\n"
	    "   a\n"
	    "     b\n";
	struct plan *lf;
	char *crlf, *a, *b;

	(void)state;
	assert_int_equal(load(text), 0);
	lf = plan;
	plan = plan_new();
	crlf = to_crlf(text);
	assert_int_equal(load(crlf), 0);
	assert_string_equal(diags(), "");
	a = dump_plan(lf);
	b = dump_plan(plan);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "[Say value continued.\n\n\tdeeper]"));
	assert_null(strchr(a, '\r'));
	free(a);
	free(b);
	free(crlf);
	plan_free(lf);
}

/* grammar: planfile (a byte order mark is skipped) */
static void
test_bom_skipped(void **state)
{
	struct var *v;

	(void)state;
	assert_int_equal(load("\xef\xbb\xbf" "A = 1\nout: x\n"), 0);
	v = smap_get(&plan->vars, "A");
	assert_non_null(v);
	assert_int_equal(v->loc.line, 1);
	assert_int_equal(v->loc.col, 1);
	assert_string_equal(rule_at(0)->targets[0], "out");
}

/* grammar: continuation */
static void
test_line_continuation(void **state)
{
	struct rule *r;

	(void)state;
	assert_int_equal(load(
	    "SRC = a.txt   \\\n"
	    "      b.txt \\\n"
	    "\\\n"
	    "   c.txt\n"
	    "out: $(SRC) \\\n"
	    "\td.txt\\\n"
	    "  e.txt\n"
	    "\tprompt \\\n"
	    "\tstays\n"
	    "bad \\\n"
	    "  \xff: x\n"), -1);
	assert_string_equal(var_value("SRC"), "a.txt b.txt c.txt");
	r = rule_at(0);
	assert_int_equal(r->nprereqs, 5);
	assert_string_equal(r->prereqs[3], "d.txt");
	assert_int_equal(rule_ploc(r, 3).line, 6);
	assert_int_equal(rule_ploc(r, 3).col, 2);
	assert_string_equal(r->prereqs[4], "e.txt");
	assert_int_equal(rule_ploc(r, 4).line, 7);
	assert_int_equal(rule_ploc(r, 4).col, 3);
	assert_string_equal(r->prompt, "prompt \\\nstays");
	assert_string_equal(diags(),
	    "Planfile:11:3: error: target name is not valid UTF-8\n");
}

/* grammar: escape, words, word, word_char */
static void
test_escaped_space_in_target(void **state)
{
	struct rule *r;

	(void)state;
	assert_int_equal(load(
	    "my\\ file.txt other\\#1 c\\:d a\\b: in\\ put\n"
	    "\tp\n"), 0);
	r = rule_at(0);
	assert_int_equal(r->ntargets, 4);
	assert_string_equal(r->targets[0], "my file.txt");
	assert_string_equal(r->targets[1], "other#1");
	assert_string_equal(r->targets[2], "c:d");
	assert_string_equal(r->targets[3], "a\\b");
	assert_int_equal(rule_tloc(r, 1).col, 14);
	assert_string_equal(r->prereqs[0], "in put");
}

/* grammar: rule (several targets, one prompt; no prompt) */
static void
test_multiple_targets_and_aggregate(void **state)
{
	struct rule *r;

	(void)state;
	assert_int_equal(load(
	    "all: a.txt b.txt\n"
	    "\n"
	    "a.txt b.txt c.txt: src.md\n"
	    "\tWrite three files.\n"), 0);
	r = rule_at(0);
	assert_null(r->prompt);
	assert_int_equal(r->nprereqs, 2);
	r = rule_at(1);
	assert_int_equal(r->ntargets, 3);
	assert_string_equal(r->targets[2], "c.txt");
	assert_int_equal(rule_tloc(r, 2).col, 13);
	assert_string_equal(r->prompt, "Write three files.");
}

/* grammar: phony_rule */
static void
test_phony(void **state)
{
	(void)state;
	assert_int_equal(load(
	    ".PHONY: all clean\n"
	    "all: a\n"
	    ".PHONY: more\n"), 0);
	assert_true(plan_is_phony(plan, "all"));
	assert_true(plan_is_phony(plan, "clean"));
	assert_true(plan_is_phony(plan, "more"));
	assert_false(plan_is_phony(plan, "a"));
	assert_int_equal(plan->nrules, 1);
	assert_int_equal(plan->ngoals, 1);
	assert_string_equal(plan->goals[0], "all");
}

/* grammar: target_setting */
static void
test_target_setting(void **state)
{
	struct loc where;
	char *v;

	(void)state;
	assert_int_equal(load(
	    "a.txt b.txt: model = big-$(V) # comment\n"
	    "a.txt: tier.cheap = ollama:llama3.2\n"
	    "a.txt: max_tokens=100\n"
	    "a.txt: max_tokens = 200\n"
	    "V = 1\n"
	    "a.txt b.txt:\n"
	    "\tprompt\n"), 0);
	assert_string_equal(diags(), "");
	assert_int_equal(plan->ntsets, 5);
	assert_string_equal(plan->tsets[1]->target, "b.txt");
	assert_string_equal(plan->tsets[1]->name, "model");
	assert_string_equal(plan->tsets[1]->value, "big-$(V)");
	assert_int_equal(plan->tsets[1]->loc.line, 1);
	assert_int_equal(plan->tsets[1]->loc.col, 14);
	assert_string_equal(plan->tsets[2]->value, "ollama:llama3.2");
	assert_int_equal(plan->nrules, 1);
	assert_string_equal(rule_at(0)->prompt, "prompt");
	v = plan_setting(plan, "b.txt", "model", &where);
	assert_string_equal(v, "big-1");
	free(v);
	v = plan_setting(plan, "a.txt", "max_tokens", &where);
	assert_string_equal(v, "200");
	assert_int_equal(where.line, 4);
	free(v);
}

/* grammar: setting_name (a misspelling is an error, said once) */
static void
test_misspelled_setting(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "A = 1\n"
	    "\n"
	    "out.txt: max_token = 5\n"
	    "a b: colour = red\n"
	    "c: tier. = x\n"
	    "d: = x\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:3:10: error: unknown setting 'max_token'; did you "
	    "mean 'max_tokens'?\n"
	    "Planfile:4:6: error: unknown setting 'colour'\n"
	    "Planfile:5:4: error: unknown setting 'tier.'; did you mean "
	    "'tier'?\n"
	    "Planfile:6:4: error: expected a setting name before '='\n");
	assert_int_equal(plan->ntsets, 0);
}

/* grammar: line, var_name (anything else is an error) */
static void
test_garbage_line(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "A = 1\n"
	    "this is not a rule\n"
	    "\tnor is this a prompt\n"
	    "B = 2\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:2:1: error: expected a rule or an assignment\n");
	assert_string_equal(var_value("B"), "2");
}

/* grammar: line (every error is reported) */
static void
test_several_errors(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "garbage\n"
	    "out: x\n"
	    "\tok $(SELF)\n"
	    "SELF = $(SELF)\n"
	    "\tstray\n"
	    "a b = c\n"
	    "x: max_tokn = 3\n"
	    "A != 1\n"
	    "out: $(nofunc x)\n"
	    ": nothing\n"
	    "y:: z\n"
	    "\xc3\x28: z\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:1:1: error: expected a rule or an assignment\n"
	    "Planfile:5:2: error: prompt line outside a rule\n"
	    "Planfile:6:1: error: invalid variable name 'a b'\n"
	    "Planfile:7:4: error: unknown setting 'max_tokn'; did you mean "
	    "'max_tokens'?\n"
	    "Planfile:8:3: error: '!=' assignments run the shell; planmake "
	    "runs no commands\n"
	    "Planfile:9:6: error: unknown function 'nofunc' (write $$( for a "
	    "literal '$(')\n"
	    "Planfile:10:1: error: expected a target before ':'\n"
	    "Planfile:11:2: error: double-colon rules are not supported\n"
	    "Planfile:12:1: error: target name is not valid UTF-8\n"
	    "Planfile:3:5: error: variable 'SELF' refers to itself\n"
	    "Planfile:4:1: note: 'SELF' is assigned here\n");
	assert_int_equal(diag_nerrors(), 10);
	/* The rule of line 9 has no prompt: it adds to line 2's. */
	assert_int_equal(plan->nrules, 1);
	assert_int_equal(rule_at(0)->nprereqs, 3);
}

/* grammar: line (the loader stops after DIAG_MAX_ERRORS) */
static void
test_too_many_errors(void **state)
{
	struct buf b;
	const char *d, *last;
	int i, n;

	(void)state;
	memset(&b, 0, sizeof(b));
	for (i = 0; i < DIAG_MAX_ERRORS + 10; i++)
		buf_addstr(&b, "garbage\n");
	assert_int_equal(load(b.data), -1);
	buf_free(&b);
	d = diags();
	for (n = 0, last = d; (last = strchr(last, '\n')) != NULL; last++)
		n++;
	assert_int_equal(n, DIAG_MAX_ERRORS + 1);
	assert_non_null(strstr(d, "Planfile:20:1: error: expected a rule"));
	assert_null(strstr(d, "Planfile:21:1:"));
	last = d + strlen(d) - strlen("Planfile: error: too many errors\n");
	assert_string_equal(last, "Planfile: error: too many errors\n");
}

/* grammar: planfile (an empty file is an empty plan) */
static void
test_empty_file(void **state)
{
	(void)state;
	assert_int_equal(load(""), 0);
	assert_string_equal(diags(), "");
	assert_int_equal(plan->nrules, 0);
	assert_int_equal(plan->ngoals, 0);
	assert_int_equal(load("\n\n# only comments\n  \n"), 0);
	assert_int_equal(plan->nrules, 0);
}

/* A directory or a missing file is a clean error. */
static void
test_unreadable_plan(void **state)
{
	char dir[] = "/tmp/pm-dir.XXXXXX", want[256];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(plan_load(plan, dir), -1);
	snprintf(want, sizeof(want),
	    "planmake: error: cannot read %s: Is a directory\n", dir);
	assert_string_equal(diags(), want);
	rmdir(dir);
	diag_reset();
	assert_int_equal(plan_load(plan, dir), -1);
	snprintf(want, sizeof(want),
	    "planmake: error: cannot read %s: Is a directory\n"
	    "planmake: error: cannot open %s: No such file or directory\n",
	    dir, dir);
	assert_string_equal(diags(), want);
	assert_int_equal(diag_nerrors(), 1);
}

/* grammar: prompt_line (no line length limit) */
static void
test_long_prompt_line(void **state)
{
	struct buf b;
	const char *prompt;
	size_t i;

	(void)state;
	memset(&b, 0, sizeof(b));
	buf_addstr(&b, "out:\n\t");
	for (i = 0; i < 1024 * 1024; i++)
		buf_addc(&b, "abcdefgh"[i % 8]);
	buf_addstr(&b, " $(V) ${NO}\nV = end\n");
	assert_int_equal(load(b.data), 0);
	buf_free(&b);
	prompt = rule_at(0)->prompt;
	assert_int_equal(strlen(prompt), 1024 * 1024 + 10);
	assert_memory_equal(prompt + 1024 * 1024, " end ${NO}", 10);
	assert_string_equal(diags(), "Planfile:2:1048584: warning: "
	    "undefined variable 'NO' left as written\n");
}

/* grammar: targets (valid UTF-8 only) */
static void
test_invalid_utf8_target(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "ok.txt caf\xc3\xa9.txt: x\n"
	    "good.txt bad\xe9.txt: caf\xe9\n"
	    "\tprompt\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:2:10: error: target name is not valid UTF-8\n");
	assert_int_equal(plan->nrules, 1);
	assert_string_equal(rule_at(0)->targets[1], "caf\xc3\xa9.txt");
}

/* grammar: rule_header (the default goal) */
static void
test_default_goal(void **state)
{
	(void)state;
	assert_int_equal(load(
	    ".PHONY: all\n"
	    ".hidden: x\n"
	    "all other: a b\n"
	    "x: y\n"), 0);
	assert_int_equal(plan->ngoals, 2);
	assert_string_equal(plan->goals[0], "all");
	assert_string_equal(plan->goals[1], "other");
	assert_string_equal(rule_at(0)->targets[0], ".hidden");
}

/* A NUL byte is no Planfile text. */
static void
test_nul_byte(void **state)
{
	static const char text[] = "A = 1\nout: a\0b\n";

	(void)state;
	assert_int_equal(plan_load(plan, write_plan(text, sizeof(text) - 1)),
	    -1);
	assert_string_equal(diags(),
	    "Planfile:2:7: error: unexpected NUL byte\n");
}

/* The lexer hands out lines, joins only on request, and places bytes of
 * joined lines on their physical line. */
static void
test_lexer_lines(void **state)
{
	static const char text[] =
	    "a \\\n  b\r\n\t x\n  \n# c\nlast";
	struct lexer lx;
	struct lexline ln;
	struct loc l;

	(void)state;
	lexer_init(&lx, text, sizeof(text) - 1);
	assert_true(lexer_next(&lx, &ln));
	assert_int_equal(ln.kind, LEX_TEXT);
	assert_true(lexer_continues(&ln));
	lexer_join(&lx, &ln);
	assert_int_equal(ln.len, 3);
	assert_memory_equal(ln.s, "a b", 3);
	lexer_loc(&lx, &ln, 2, &l);
	assert_int_equal(l.line, 2);
	assert_int_equal(l.col, 3);
	assert_true(lexer_next(&lx, &ln));
	assert_int_equal(ln.kind, LEX_INDENTED);
	assert_int_equal(ln.line, 3);
	assert_int_equal(ln.indent, 2);
	assert_true(lexer_next(&lx, &ln));
	assert_int_equal(ln.kind, LEX_BLANK);
	assert_true(lexer_next(&lx, &ln));
	assert_int_equal(ln.kind, LEX_COMMENT);
	assert_true(lexer_next(&lx, &ln));
	assert_int_equal(ln.kind, LEX_TEXT);
	assert_int_equal(ln.len, 4);
	assert_false(lexer_next(&lx, &ln));
	lexer_close(&lx);
}

/* parser_load_mem() reads text under a name. */
static void
test_load_mem(void **state)
{
	static const char text[] = "out:\n\t$(U)\n";

	(void)state;
	assert_int_equal(parser_load_mem(plan, "mem", text, sizeof(text) - 1),
	    0);
	assert_string_equal(diags(), "mem:2:2: warning: undefined variable "
	    "'U' left as written\n");
	assert_string_equal(rule_at(0)->prompt, "$(U)");
}

/* grammar: assign_op (=, :=, ::=, ?=, += and their flavours) */
static void
test_assign_ops(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "A = $(B)\n"
	    "B = late\n"
	    "S := [$(B)]\n"
	    "B = later\n"
	    "R = r1\n"
	    "R += r2 $(B)\n"
	    "T := t1\n"
	    "T += t2 $(B)\n"
	    "B = last\n"
	    "U += u\n"
	    "Q ?= q1\n"
	    "Q ?= q2\n"
	    "E =\n"
	    "E ?= notset\n"
	    "P ::= p $(B)\n"
	    "out:\n"
	    "\tA=$(A) S=$(S) R=$(R) T=$(T) U=$(U) Q=$(Q) E=[$(E)] P=$(P)\n"),
	    0);
	assert_string_equal(diags(), "");
	assert_string_equal(var_value("S"), "[late]");
	assert_string_equal(var_value("R"), "r1 r2 $(B)");
	assert_string_equal(var_value("T"), "t1 t2 later");
	assert_string_equal(rule_at(0)->prompt, "A=last S=[late] R=r1 r2 last "
	    "T=t1 t2 later U=u Q=q1 E=[] P=p last");
}

/* grammar: assignment (the command line beats =, ?= and +=) */
static void
test_cmdline_beats_every_op(void **state)
{
	(void)state;
	assert_int_equal(plan_cmdline_var(plan, "R=cmd"), 0);
	assert_int_equal(plan_cmdline_var(plan, "Q=cmd"), 0);
	assert_int_equal(load(
	    "R += more\n"
	    "Q ?= q\n"
	    "R := plan\n"
	    "out:\n"
	    "\t$(R) $(Q)\n"), 0);
	assert_string_equal(rule_at(0)->prompt, "cmd cmd");
}

/* grammar: define_block, body_line */
static void
test_define(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "define GREETING\n"
	    "Hello $(NAME).\n"
	    "# not a comment\n"
	    "  indented \\\n"
	    "endef\n"
	    "NAME = you\n"
	    "define SIMPLE :=\n"
	    "now $(NAME)\n"
	    "endef\n"
	    "NAME = me\n"
	    "define APP +=\n"
	    "more\n"
	    "endef # a comment\n"
	    "define APP +=\n"
	    "again\n"
	    "endef\n"
	    "define OUTER =\n"
	    "define INNER\n"
	    "x\n"
	    "endef\n"
	    "endef\n"
	    "define EMPTY\n"
	    "endef\n"
	    "out:\n"
	    "\t$(GREETING)\n"
	    "\t$(SIMPLE) $(APP)[$(EMPTY)]\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(var_value("OUTER"), "define INNER\nx\nendef");
	assert_string_equal(rule_at(0)->prompt, "Hello me.\n# not a comment\n"
	    "  indented \\\nnow you more again[]");
}

/* grammar: define_line, endef_line (each error) */
static void
test_define_errors(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "define\n"
	    "endef\n"
	    "define a/b\n"
	    "endef\n"
	    "define X junk\n"
	    "endef\n"
	    "endef\n"
	    "define Y\n"
	    "endef junk\n"
	    "define Z\n"
	    "never closed\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:1:7: error: 'define' needs a variable name\n"
	    "Planfile:3:8: error: invalid variable name after 'define'\n"
	    "Planfile:5:10: error: unexpected text after 'define NAME' "
	    "(expected =, :=, ::=, ?= or +=)\n"
	    "Planfile:7:1: error: 'endef' without 'define'\n"
	    "Planfile:9:7: error: unexpected text after 'endef'\n"
	    "Planfile:10:1: error: 'define' without 'endef'\n");
}

/* grammar: conditional, if_line, ifdef_line, ifeq_line, eq_args, quoted,
 * else_line, endif_line */
static void
test_conditionals(void **state)
{
	(void)state;
	assert_int_equal(plan_cmdline_var(plan, "CI=1"), 0);
	assert_int_equal(load(
	    "X = 1\n"
	    "EMPTY =\n"
	    "ifdef X\n"
	    "A = x-defined\n"
	    "endif\n"
	    "ifdef EMPTY\n"
	    "B = wrong\n"
	    "else\n"
	    "B = empty-is-undefined\n"
	    "endif\n"
	    "ifndef NOPE\n"
	    "C = c\n"
	    "endif\n"
	    "ifeq ($(X),1)\n"
	    "D = paren\n"
	    "endif\n"
	    "ifeq \"$(X)\" '1' # a comment\n"
	    "E = quotes\n"
	    "endif\n"
	    "ifneq ( $(X) , 2 )\n"
	    "F = neq-trimmed\n"
	    "endif\n"
	    "ifeq ($(UNDEF),)\n"
	    "G = undefined-is-empty-here\n"
	    "endif\n"
	    "ifdef NOPE\n"
	    "H = no\n"
	    "else ifeq ($(X),2)\n"
	    "H = no2\n"
	    "else ifdef X\n"
	    "H = chained\n"
	    "else\n"
	    "H = no3\n"
	    "endif\n"
	    "ifdef X\n"
	    "ifdef NOPE\n"
	    "I = no\n"
	    "else\n"
	    "I = nested\n"
	    "endif\n"
	    "endif\n"
	    "ifdef NOPE\n"
	    "ifeq (not even parsed\n"
	    "endif\n"
	    "J = skipped\n"
	    "define K\n"
	    "endif\n"
	    "endef\n"
	    "endif\n"
	    "ifeq ($(CI),1)\n"
	    "L = ci\n"
	    "endif\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(var_value("A"), "x-defined");
	assert_string_equal(var_value("B"), "empty-is-undefined");
	assert_string_equal(var_value("C"), "c");
	assert_string_equal(var_value("D"), "paren");
	assert_string_equal(var_value("E"), "quotes");
	assert_string_equal(var_value("F"), "neq-trimmed");
	assert_string_equal(var_value("G"), "undefined-is-empty-here");
	assert_string_equal(var_value("H"), "chained");
	assert_string_equal(var_value("I"), "nested");
	assert_null(var_value("J"));
	assert_null(var_value("K"));
	assert_string_equal(var_value("L"), "ci");
}

/* grammar: prompt (conditional lines choose prompt lines) */
static void
test_conditional_in_prompt(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "X = 1\n"
	    "out:\n"
	    "\tfirst\n"
	    "ifdef X\n"
	    "\tx line\n"
	    "else\n"
	    "\tnot x\n"
	    "endif\n"
	    "\n"
	    "\tlast\n"
	    "ifndef X\n"
	    "\tnot this\n"
	    "endif\n"
	    "Y = after\n"
	    "\tstray\n"), -1);
	assert_string_equal(rule_at(0)->prompt, "first\nx line\n\nlast");
	assert_string_equal(diags(),
	    "Planfile:15:2: error: prompt line outside a rule\n");
}

/* grammar: conditional (each error) */
static void
test_conditional_errors(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "ifdef\n"
	    "endif\n"
	    "ifeq (a,b\n"
	    "endif\n"
	    "ifeq \"a\" x\n"
	    "endif\n"
	    "ifneq (a,b) junk\n"
	    "endif\n"
	    "else\n"
	    "endif\n"
	    "ifdef X\n"
	    "else junk\n"
	    "endif\n"
	    "ifdef X\n"
	    "else\n"
	    "else\n"
	    "endif\n"
	    "ifdef A B\n"
	    "endif junk\n"
	    "ifeq (a,a)\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:1:6: error: 'ifdef' takes one variable name\n"
	    "Planfile:3:6: error: 'ifeq' takes (A,B), \"A\" \"B\" or 'A' "
	    "'B'\n"
	    "Planfile:5:6: error: 'ifeq' takes (A,B), \"A\" \"B\" or 'A' "
	    "'B'\n"
	    "Planfile:7:13: error: unexpected text after the arguments of "
	    "'ifneq'\n"
	    "Planfile:9:1: error: 'else' without 'ifdef', 'ifndef', 'ifeq' "
	    "or 'ifneq'\n"
	    "Planfile:10:1: error: 'endif' without 'ifdef', 'ifndef', "
	    "'ifeq' or 'ifneq'\n"
	    "Planfile:12:6: error: unexpected text after 'else'\n"
	    "Planfile:16:1: error: 'else' after the last 'else' of this "
	    "'ifdef'\n"
	    "Planfile:14:1: note: the 'ifdef' is here\n"
	    "Planfile:18:7: error: 'ifdef' takes one variable name, not "
	    "'A B'\n"
	    "Planfile:19:7: error: unexpected text after 'endif'\n"
	    "Planfile:20:1: error: 'ifeq' without 'endif'\n");
}

/* grammar: function_call, function_name (each function) */
static void
test_functions(void **state)
{
	(void)state;
	in_dir();
	put("spec/a.md", "a");
	put("spec/b.md", "b");
	assert_int_equal(load_mem(
	    "SRC = spec/b.md spec/a.md  other.txt\n"
	    "out:\n"
	    "\tsubst=$(subst .md,.c,$(SRC))\n"
	    "\tpatsubst=$(patsubst spec/%.md,src/%.c,$(SRC))\n"
	    "\tstrip=[$(strip   a   b  )]\n"
	    "\tfilter=$(filter %.md,$(SRC)) out=$(filter-out %.md,$(SRC))\n"
	    "\tsort=$(sort c b a b)\n"
	    "\tdir=$(dir src/a.c b) notdir=$(notdir src/a.c b)\n"
	    "\tbasename=$(basename src/a.c b.d/e) "
	    "suffix=$(suffix src/a.c b.d/e f.g.h)\n"
	    "\taddprefix=$(addprefix x/,a b) addsuffix=$(addsuffix .c,a b)\n"
	    "\twords=$(words $(SRC)) firstword=$(firstword $(SRC)) "
	    "lastword=$(lastword $(SRC))\n"
	    "\tword=$(word 2,$(SRC)) wordlist=$(wordlist 2,3,a b c d)\n"
	    "\tfindstring=[$(findstring pec,$(SRC))][$(findstring zz,"
	    "$(SRC))] join=$(join a b c,1 2)\n"
	    "\tforeach=$(foreach f,$(SRC),<$(f)>)\n"
	    "\tif=$(if $(SRC),yes,no) $(if ,yes,no)[$(if ,yes)]\n"
	    "\twildcard=$(wildcard spec/*.md nothere*) $(wildcard spec/a.md)\n"
	    "\tnested=$(patsubst %.c,%.h,$(subst spec/,src/,$(filter %.c,"
	    "$(SRC:.md=.c))))\n"
	    "\tcommas=$(subst a,b,x,a)\n"), 0);
	assert_string_equal(diags(), "");
	assert_string_equal(rule_at(0)->prompt,
	    "subst=spec/b.c spec/a.c  other.txt\n"
	    "patsubst=src/b.c src/a.c other.txt\n"
	    "strip=[a b]\n"
	    "filter=spec/b.md spec/a.md out=other.txt\n"
	    "sort=a b c\n"
	    "dir=src/ ./ notdir=a.c b\n"
	    "basename=src/a b.d/e suffix=.c .h\n"
	    "addprefix=x/a x/b addsuffix=a.c b.c\n"
	    "words=3 firstword=spec/b.md lastword=other.txt\n"
	    "word=spec/a.md wordlist=b c\n"
	    "findstring=[pec][] join=a1 b2 c\n"
	    "foreach=<spec/b.md> <spec/a.md> <other.txt>\n"
	    "if=yes no[]\n"
	    "wildcard=spec/a.md spec/b.md spec/a.md\n"
	    "nested=src/b.h src/a.h\n"
	    "commas=x,b");
}

/* grammar: function_call, arguments (each error) */
static void
test_function_errors(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "X := $(foo bar) $(shell ls) $(word x,a b) $(word 0,a)\n"
	    "Y := $(subst a) $(wordlist 1,x,a) $(foreach a b,c,d)\n"
	    "Z := $(env HOME) $(error stop: $(words a b)) $(warning mind)\n"
	    "W := $(addprefix x/,$(NOPE))\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:1:6: error: unknown function 'foo' (write $$( for a "
	    "literal '$(')\n"
	    "Planfile:1:17: error: function 'shell' is not offered: planmake "
	    "runs no commands\n"
	    "Planfile:1:29: error: the first argument of 'word' is not a "
	    "number: 'x'\n"
	    "Planfile:1:43: error: the first argument of 'word' must be 1 or "
	    "more\n"
	    "Planfile:2:6: error: function 'subst' needs 3 arguments, not "
	    "1\n"
	    "Planfile:2:17: error: the second argument of 'wordlist' is not "
	    "a number: 'x'\n"
	    "Planfile:2:35: error: the first argument of 'foreach' is not a "
	    "variable name: 'a b'\n"
	    "Planfile:3:6: error: function 'env' is not offered: the "
	    "environment is not read into the plan\n"
	    "Planfile:3:18: error: stop: 2\n"
	    "Planfile:3:46: warning: mind\n"
	    "Planfile:4:21: warning: undefined variable 'NOPE' is empty "
	    "here\n");
	assert_string_equal(var_value("X"), "$(foo bar) $(shell ls) "
	    "$(word x,a b) $(word 0,a)");
	assert_string_equal(var_value("W"), "");
}

/* grammar: subst_ref */
static void
test_substitution_refs(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "SRC = a.md b.md c.txt\n"
	    "EXT = .md\n"
	    "out:\n"
	    "\t$(SRC:.md=.c)|$(SRC:%.md=src/%.c)|${SRC:.txt=}|$(SRC:$(EXT)=)"
	    "|$(NOPE:.a=.b)\n"), 0);
	assert_string_equal(rule_at(0)->prompt, "a.c b.c c.txt|src/a.c "
	    "src/b.c c.txt|a.md b.md c|a b c.txt|$(NOPE:.a=.b)");
	assert_string_equal(diags(), "Planfile:4:64: warning: undefined "
	    "variable 'NOPE' left as written\n");
}

/* grammar: automatic_var, auto_char, ref_body */
static void
test_automatic_vars(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "X := $@ $(<F)\n"
	    "a.txt b.txt: dir/in.md other.md dir/in.md\n"
	    "\t$@|$<|$^|$*|$(@D)|$(@F)|$(<D)|$(<F)|$(^F)|$$@|${^}\n"
	    "$@.x: y\n"), 0);
	assert_string_equal(rule_at(0)->prompt, "a.txt b.txt|dir/in.md|"
	    "dir/in.md other.md||. .|a.txt b.txt|dir|in.md|in.md other.md|"
	    "$@|dir/in.md other.md");
	assert_string_equal(var_value("X"), "$@ $(<F)");
	assert_string_equal(rule_at(1)->targets[0], "$@.x");
	assert_string_equal(diags(),
	    "Planfile:1:6: warning: automatic variable '$@' has no value "
	    "here; left as written\n"
	    "Planfile:1:9: warning: automatic variable '$<' has no value "
	    "here; left as written\n"
	    "Planfile:4:1: warning: automatic variable '$@' has no value "
	    "here; left as written\n");
}

/* grammar: reference (nesting is bounded, and a text full of unclosed
 * references costs linear time, not quadratic) */
static void
test_reference_limits(void **state)
{
	struct buf b = { 0 };
	double t0;
	int i;

	(void)state;
	buf_addstr(&b, "X := ");
	for (i = 0; i < 600; i++)
		buf_addstr(&b, "$(");
	buf_addstr(&b, "V");
	for (i = 0; i < 600; i++)
		buf_addc(&b, ')');
	buf_addstr(&b, "\nout:\n\t");
	for (i = 0; i < 300000; i++)
		buf_addstr(&b, "$(");
	buf_addstr(&b, "end\n");
	t0 = now_mono();
	assert_int_equal(load(b.data), -1);
	assert_true(now_mono() - t0 < 10);
	buf_free(&b);
	assert_string_equal(diags(), "Planfile:1:1006: error: references "
	    "nested too deeply\n");
	assert_int_equal(strlen(rule_at(0)->prompt), 600003);
}

/* grammar: variable_ref (a self-reference through a function) */
static void
test_self_reference_in_function(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "A = $(subst x,y,$(A))\n"
	    "out:\n"
	    "\t$(A)\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:3:2: error: variable 'A' refers to itself\n"
	    "Planfile:1:1: note: 'A' is assigned here\n");
}

/* grammar: variable_ref (an error inside a value is noted there) */
static void
test_error_inside_value(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "INNER = $(bogus x)\n"
	    "OUTER = <$(INNER)>\n"
	    "out:\n"
	    "\tsee $(OUTER)\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:4:6: error: unknown function 'bogus' (write $$( for a "
	    "literal '$(')\n"
	    "Planfile:1:1: note: in the value of 'INNER', assigned here\n"
	    "Planfile:2:1: note: in the value of 'OUTER', assigned here\n");
	assert_string_equal(rule_at(0)->prompt, "see <$(bogus x)>");
}

/* grammar: expansion_line */
static void
test_expansion_line(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "E =\n"
	    "W = a b\n"
	    "$(warning hello $(W))\n"
	    "$(E)\n"
	    "$(W)\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:3:1: warning: hello a b\n"
	    "Planfile:5:1: error: expected a rule or an assignment\n");
}

/* grammar: rule_line, phony_rule, pattern_rule, absent_directive (the
 * make syntax that means nothing here) */
static void
test_unsupported_syntax(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "out: a | b\n"
	    "out2: a ; b\n"
	    ".SUFFIXES: .c\n"
	    "a.c %.d: x\n"
	    "%.e: x\n"
	    "override A = 1\n"
	    "export B\n"
	    "include = not a directive\n"
	    "else: a rule\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:1:8: error: '|' (order-only prerequisites) is not "
	    "supported\n"
	    "Planfile:2:9: error: ';' (a recipe on the rule line) is not "
	    "supported: write the prompt on the lines below, indented\n"
	    "Planfile:3:1: error: special target '.SUFFIXES' has no meaning "
	    "in a plan\n"
	    "Planfile:4:5: error: a rule mixes pattern targets such as '%.d' "
	    "with plain ones\n"
	    "Planfile:6:1: error: 'override' is not supported in a plan\n"
	    "Planfile:7:1: error: 'export' is not supported in a plan\n"
	    "Planfile:5:1: error: a pattern rule needs a prompt\n");
	assert_string_equal(var_value("include"), "not a directive");
	assert_int_equal(plan->nrules, 1);
	assert_string_equal(rule_at(0)->targets[0], "else");
	assert_string_equal(rule_at(0)->prereqs[1], "rule");
}

/* grammar: static_pattern_rule */
static void
test_static_pattern(void **state)
{
	struct rule *r;

	(void)state;
	assert_int_equal(load(
	    "OBJS = x.o y.o\n"
	    "$(OBJS): %.o: %.c common.h\n"
	    "\tCompile $< into $@ ($*).\n"
	    "a b: %.z: %.y\n"
	    "c: c.x d.x: %.c\n"
	    "d: nopct: x\n"), -1);
	assert_int_equal(plan->nrules, 2);
	r = rule_at(1);
	assert_string_equal(r->targets[0], "y.o");
	assert_int_equal(r->nprereqs, 2);
	assert_string_equal(r->prereqs[0], "y.c");
	assert_string_equal(r->prereqs[1], "common.h");
	assert_string_equal(r->stem, "y");
	assert_string_equal(r->prompt, "Compile y.c into y.o (y).");
	assert_string_equal(rule_at(0)->prompt, "Compile x.c into x.o (x).");
	assert_string_equal(diags(),
	    "Planfile:4:1: error: target 'a' does not match the pattern "
	    "'%.z'\n"
	    "Planfile:4:3: error: target 'b' does not match the pattern "
	    "'%.z'\n"
	    "Planfile:5:3: error: a static pattern rule takes one target "
	    "pattern\n"
	    "Planfile:6:4: error: the target pattern 'nopct' of a static "
	    "pattern rule has no '%'\n");
}

/* grammar: pattern_rule (one task per needed target, all targets in
 * one task, the stem in the prompt, unneeded ones not made) */
static void
test_pattern_rule(void **state)
{
	(void)state;
	in_dir();
	put("spec/a.md", "a");
	put("spec/b.md", "b");
	put("spec/c.md", "c");
	put("style.md", "s");
	assert_int_equal(load_mem(
	    ".PHONY: all\n"
	    "all: src/a.c src/b.h\n"
	    "src/%.c src/%.h: spec/%.md style.md\n"
	    "\tWrite $@ from $< (stem $*, $(words $^) inputs).\n"), 0);
	assert_string_equal(diags(), "");
	assert_int_equal(plan->nrules, 1);
	assert_int_equal(plan->npatterns, 1);
	assert_non_null(graph = dag_build(plan));
	assert_int_equal(graph->ntasks, 3);
	assert_int_equal(plan->ninstances, 2);
	assert_string_equal(task_prompt("src/a.h"), "Write src/a.c src/a.h "
	    "from spec/a.md (stem a, 2 inputs).");
	assert_string_equal(task_prompt("src/b.c"), "Write src/b.c src/b.h "
	    "from spec/b.md (stem b, 2 inputs).");
	assert_true(dag_find(graph, "src/a.c")->producer ==
	    dag_find(graph, "src/a.h")->producer);
	assert_null(dag_find(graph, "src/c.c"));
	assert_int_equal(dag_find(graph, "src/a.c")->producer->nins, 2);
}

/* grammar: pattern_rule, prerequisites (shortest stem first, chains,
 * command-line goals, and a pattern whose prerequisite is missing does
 * not apply) */
static void
test_pattern_choice(void **state)
{
	char *goals[] = { "out/note.c", "src/extra.c" };

	(void)state;
	in_dir();
	put("spec/a.md", "a");
	put("spec/extra.md", "e");
	put("src/a.x", "x");
	put("note.txt", "n");
	assert_int_equal(load_mem(
	    "all: src/a.c\n"
	    "%.c: %.x\n"
	    "\tgeneric $*\n"
	    "src/%.c: spec/%.md\n"
	    "\tspecific $*\n"
	    "%.md: %.txt\n"
	    "\tmd from $<\n"
	    "out/%.c: %.md\n"
	    "\tc from $<\n"), 0);
	assert_non_null(graph = dag_build_goals(plan, goals, 2));
	assert_string_equal(task_prompt("src/a.c"), "specific a");
	assert_string_equal(task_prompt("out/note.c"), "c from note.md");
	assert_string_equal(task_prompt("note.md"), "md from note.txt");
	assert_string_equal(task_prompt("src/extra.c"), "specific extra");
	assert_int_equal(graph->ntasks, 5);
	dag_free(graph);
	graph = NULL;

	plan_free(plan);
	plan = plan_new();
	assert_int_equal(load_mem(
	    "all: gen/zz.c\n"
	    "gen/%.c: spec/%.md\n"
	    "\tgen\n"), 0);
	assert_null(graph = dag_build(plan));
	assert_string_equal(diags(),
	    "Planfile:1:6: error: 'all' needs 'gen/zz.c', which no rule "
	    "makes and which cannot be read: No such file or directory\n"
	    "Planfile:2:1: note: the pattern rule for 'gen/%.c' does not "
	    "apply: 'spec/zz.md' does not exist and no rule makes it\n");
}

/* grammar: target_setting (operators, patterns, precedence) */
static void
test_target_setting_ops(void **state)
{
	char *goals[] = { "src/a.c", "src/b.c", "src/x/y.c" };
	struct loc where;
	char *v;

	(void)state;
	in_dir();
	put("spec/a.md", "a");
	put("spec/b.md", "b");
	put("spec/x/y.md", "y");
	assert_int_equal(load_mem(
	    "system = base\n"
	    "max_tokens = 100\n"
	    "N = 5\n"
	    "src/%.c: spec/%.md\n"
	    "\tWrite $@.\n"
	    "src/%.c: tier = strong\n"
	    "src/%.c: system += pattern $*\n"
	    "src/a.c: system += own $@\n"
	    "src/b.c: tier ?= other\n"
	    "src/x/%.c: tier = deep\n"
	    "src/a.c: max_tokens := $(N)\n"
	    "N = 6\n"
	    "src/b.c: temperature ?= 0.5\n"), 0);
	assert_string_equal(diags(), "");
	assert_non_null(graph = dag_build_goals(plan, goals, 3));
	assert_string_equal(setting("src/a.c", "tier"), "strong");
	assert_string_equal(setting("src/a.c", "system"),
	    "base pattern a own src/a.c");
	assert_string_equal(setting("src/b.c", "tier"), "strong");
	assert_string_equal(setting("src/b.c", "system"), "base pattern b");
	assert_string_equal(setting("src/x/y.c", "tier"), "deep");
	assert_string_equal(setting("src/a.c", "max_tokens"), "5");
	assert_string_equal(setting("src/b.c", "max_tokens"), "100");
	assert_string_equal(setting("src/b.c", "temperature"), "0.5");
	assert_string_equal(setting("src/a.c", "temperature"), "(null)");
	v = plan_rule_setting(plan, dag_find(graph, "src/x/y.c")->producer->rule,
	    "tier", &where);
	assert_string_equal(v, "deep");
	assert_int_equal(where.line, 10);
	free(v);
	assert_int_equal(plan_cmdline_var(plan, "tier=cmd"), 0);
	assert_string_equal(setting("src/x/y.c", "tier"), "cmd");
}

/* grammar: rule_header (a rule without a prompt adds prerequisites) */
static void
test_rules_merge(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "all: out.txt\n"
	    "out.txt: in.md\n"
	    "\tWrite it from $^.\n"
	    "out.txt: extra.md in.md\n"
	    "all: more\n"
	    "more:\n"), 0);
	assert_int_equal(plan->nrules, 3);
	assert_string_equal(rule_at(0)->targets[0], "all");
	assert_int_equal(rule_at(0)->nprereqs, 2);
	assert_string_equal(rule_at(0)->prereqs[1], "more");
	assert_int_equal(rule_ploc(rule_at(0), 1).line, 5);
	assert_string_equal(rule_at(1)->prompt,
	    "Write it from in.md extra.md.");
	assert_int_equal(rule_ploc(rule_at(1), 1).line, 4);
	assert_int_equal(plan->ngoals, 1);
	assert_string_equal(plan->goals[0], "all");
}

/* A word's place is packed against its rule's when near it, and kept
 * whole when it is not: a joined line 200 lines long, a prerequisite
 * merged from an included file, one merged from a line above. */
static void
test_word_places(void **state)
{
	struct buf b = { 0 };
	struct loc l;
	struct rule *r;
	int i;

	(void)state;
	in_dir();
	put("more.pf", "far.txt: from-inc.md\n");
	buf_addstr(&b, "far.txt: up.md\n"
	    "near.txt: a.md \\\n");
	for (i = 0; i < 200; i++)
		buf_addstr(&b, "\\\n");
	buf_addstr(&b, "   b.md\n"
	    "\tNear.\n"
	    "far.txt: in.md\n"
	    "\tFar.\n"
	    "include more.pf\n");
	assert_int_equal(load_mem(b.data), 0);
	buf_free(&b);
	assert_int_equal(plan->nrules, 2);
	r = rule_at(0);
	assert_string_equal(r->targets[0], "near.txt");
	l = rule_ploc(r, 0);
	assert_int_equal(l.line, 2);
	assert_int_equal(l.col, 11);
	l = rule_ploc(r, 1);
	assert_string_equal(r->prereqs[1], "b.md");
	assert_string_equal(l.file, "Planfile");
	assert_int_equal(l.line, 203);
	assert_int_equal(l.col, 4);
	r = rule_at(1);
	assert_string_equal(r->targets[0], "far.txt");
	assert_int_equal(r->nprereqs, 3);
	assert_int_equal(r->loc.line, 205);
	l = rule_tloc(r, 0);
	assert_int_equal(l.line, 205);
	assert_int_equal(l.col, 1);
	assert_string_equal(r->prereqs[1], "up.md");
	l = rule_ploc(r, 1);
	assert_int_equal(l.line, 1);
	assert_int_equal(l.col, 10);
	assert_string_equal(r->prereqs[2], "from-inc.md");
	l = rule_ploc(r, 2);
	assert_string_equal(l.file, "more.pf");
	assert_int_equal(l.line, 1);
	assert_int_equal(l.col, 10);
}

/* grammar: setting_name (context files are sent first, once) */
static void
test_context_setting(void **state)
{
	struct task *t;

	(void)state;
	in_dir();
	put("ctx/a.md", "a");
	put("ctx/b.md", "b");
	put("ctx/c.md", "c");
	put("in.md", "i");
	assert_int_equal(load_mem(
	    "context = ctx/a.md ctx/b.md\n"
	    "out.txt: in.md ctx/b.md\n"
	    "\tWrite.\n"
	    "other.txt: in.md\n"
	    "\tOther.\n"
	    "other.txt: context += ctx/c.md\n"), 0);
	assert_non_null(graph = dag_build(plan));
	t = dag_find(graph, "out.txt")->producer;
	assert_int_equal(t->nins, 3);
	assert_string_equal(t->ins[0]->path, "ctx/a.md");
	assert_string_equal(t->ins[1]->path, "ctx/b.md");
	assert_string_equal(t->ins[2]->path, "in.md");
	t = dag_find(graph, "other.txt")->producer;
	assert_int_equal(t->nins, 4);
	assert_string_equal(t->ins[2]->path, "ctx/c.md");
	dag_free(graph);
	graph = NULL;

	plan_free(plan);
	plan = plan_new();
	assert_int_equal(load_mem(
	    "context = nope.md\n"
	    "out.txt: in.md\n"
	    "\tWrite.\n"), 0);
	assert_null(graph = dag_build(plan));
	assert_string_equal(diags(), "Planfile:1:1: error: 'out.txt' needs "
	    "the context file 'nope.md', which no rule makes and which "
	    "cannot be read: No such file or directory\n");
}

/* The graph finds a path however it is written. */
static void
test_paths_normalised(void **state)
{
	struct node *n;

	(void)state;
	in_dir();
	put("in.md", "i");
	assert_int_equal(load_mem(
	    "out/x.txt: ./in.md\n"
	    "\tWrite.\n"
	    "b: out//x.txt\n"
	    "\tB.\n"), 0);
	assert_non_null(graph = dag_build(plan));
	assert_non_null(n = dag_find(graph, "./out/x.txt"));
	assert_true(n == dag_find(graph, "out/x.txt/"));
	assert_true(n == dag_find(graph, "out/./x.txt"));
	assert_true(dag_find(graph, "in.md") == dag_find(graph, "./in.md"));
	assert_true(dag_find(graph, "b")->producer->deps[0] == n->producer);
	assert_null(dag_find(graph, "out"));
}

/* grammar: include_line, static_pattern_rule (inputs the fuzzer
 * found: an include naming no file crashed; a static pattern whose
 * target holds '%' leaked its stem) */
static void
test_fuzz_finds(void **state)
{
	(void)state;
	assert_int_equal(load(
	    "include \n"
	    "-include $(NOTHING_HERE_EITHER)\n"
	    "a%b: %b: x\n"
	    "\tp $*\n"), 0);
	assert_string_equal(diags(), "Planfile:2:10: warning: undefined "
	    "variable 'NOTHING_HERE_EITHER' left as written\n");
	assert_int_equal(plan->npatterns, 1);
	assert_string_equal(plan->patterns[0]->stem, "a%");
	assert_string_equal(plan->patterns[0]->prompt, "p $*");
}

/* grammar: variable_ref (a note names a command-line value) */
static void
test_error_in_cmdline_value(void **state)
{
	(void)state;
	assert_int_equal(plan_cmdline_var(plan, "X=$(bogus y)"), 0);
	assert_int_equal(load(
	    "out:\n"
	    "\tuse $(X)\n"), -1);
	assert_string_equal(diags(),
	    "Planfile:2:6: error: unknown function 'bogus' (write $$( for a "
	    "literal '$(')\n"
	    "planmake: note: in the value of 'X', set on the command line\n");
}

/* grammar: phony_rule (a phony prerequisite needs a rule) */
static void
test_phony_without_rule(void **state)
{
	(void)state;
	assert_int_equal(load(
	    ".PHONY: all docs\n"
	    "all: docs\n"), 0);
	assert_null(graph = dag_build(plan));
	assert_string_equal(diags(), "Planfile:2:6: error: no rule makes "
	    "'docs', which is .PHONY\n");
}

/* grammar: include_line (at most 64 files deep) */
static void
test_include_depth(void **state)
{
	char name[32], text[64];
	int i;

	(void)state;
	in_dir();
	for (i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "f%d.pf", i);
		snprintf(text, sizeof(text), "include f%d.pf\n", i + 1);
		put(name, text);
	}
	put("f70.pf", "X = deep\n");
	assert_int_equal(plan_load(plan, "f0.pf"), -1);
	assert_string_equal(diags(), "f63.pf:1:9: error: includes nested "
	    "more than 64 deep\n");
}

/* grammar: pattern_rule (the search is bounded: a dozen patterns that
 * chain into each other, tried for 300 files, would take hours) */
static void
test_pattern_search_bounded(void **state)
{
	struct buf b = { 0 };
	char name[32];
	double t0;
	int i;

	(void)state;
	in_dir();
	buf_addstr(&b, "all:");
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "s/%d.md", i);
		put(name, "x");
		buf_printf(&b, " %s", name);
	}
	buf_addstr(&b, "\n");
	for (i = 0; i < 12; i++)
		buf_printf(&b, "%%.md: %%.%c.md\n\tp\n%%: %%.%c\n\tq\n",
		    'a' + i, 'a' + i);
	assert_int_equal(load_mem(b.data), 0);
	buf_free(&b);
	t0 = now_mono();
	assert_non_null(graph = dag_build(plan));
	assert_true(now_mono() - t0 < 20);
	assert_int_equal(graph->ntasks, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_assign_and_expand),
		T(test_value_splits_into_words),
		T(test_later_variable_in_prompt),
		T(test_header_expands_at_once),
		T(test_cmdline_override),
		T(test_undefined_variable_warning),
		T(test_dollars),
		T(test_computed_name),
		T(test_self_reference),
		T(test_prompt_tabs),
		T(test_prompt_spaces),
		T(test_prompt_mixed_indentation),
		T(test_prompt_blank_lines),
		T(test_hash_in_prompt_and_comments),
		T(test_prompt_ends_at_next_line),
		T(test_prompt_outside_rule),
		T(test_crlf_same_as_lf),
		T(test_bom_skipped),
		T(test_line_continuation),
		T(test_escaped_space_in_target),
		T(test_multiple_targets_and_aggregate),
		T(test_phony),
		T(test_target_setting),
		T(test_misspelled_setting),
		T(test_garbage_line),
		T(test_several_errors),
		T(test_too_many_errors),
		T(test_empty_file),
		T(test_unreadable_plan),
		T(test_long_prompt_line),
		T(test_invalid_utf8_target),
		T(test_default_goal),
		T(test_nul_byte),
		T(test_lexer_lines),
		T(test_load_mem),
		T(test_assign_ops),
		T(test_cmdline_beats_every_op),
		T(test_define),
		T(test_define_errors),
		T(test_conditionals),
		T(test_conditional_in_prompt),
		T(test_conditional_errors),
		T(test_functions),
		T(test_function_errors),
		T(test_substitution_refs),
		T(test_automatic_vars),
		T(test_reference_limits),
		T(test_self_reference_in_function),
		T(test_error_inside_value),
		T(test_expansion_line),
		T(test_unsupported_syntax),
		T(test_static_pattern),
		T(test_pattern_rule),
		T(test_pattern_choice),
		T(test_target_setting_ops),
		T(test_rules_merge),
	T(test_word_places),
		T(test_context_setting),
		T(test_paths_normalised),
		T(test_fuzz_finds),
		T(test_error_in_cmdline_value),
		T(test_phony_without_rule),
		T(test_include_depth),
		T(test_pattern_search_bounded),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
