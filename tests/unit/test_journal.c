/* Unit tests for the build journal (records read back, torn and corrupt
 * ones skipped, versions) and for the first-difference explanation. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explain.h"
#include "journal.h"
#include "util.h"

static int
group_setup(void **state)
{
	(void)state;
	return unit_tmpdir_enter("journal");
}

static int
group_teardown(void **state)
{
	(void)state;
	return unit_tmpdir_leave();
}

/* What the reader saw: the records joined as "f1|f2|...;". */
static void
collect(char **fields, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t i;

	for (i = 0; i < n; i++)
		buf_printf(b, "%s%s", i ? "|" : "", fields[i]);
	buf_addc(b, ';');
}

static void
test_records_read_back(void **state)
{
	const char *r1[] = { "set", "a b\tc\nd\\e", "k", "h" };
	const char *r2[] = { "hit", "0123" };
	struct journal *j;
	struct buf seen = { 0 };
	size_t nbad, badline;
	char *err = NULL;

	(void)state;
	j = journal_open("j1", &err);
	assert_non_null(j);
	assert_int_equal(journal_append(j, r1, 4, &err), 0);
	assert_int_equal(journal_append(j, r2, 2, &err), 0);
	assert_int_equal(journal_close(j, &err), 0);
	assert_int_equal(journal_read("j1", collect, &seen, &nbad, &badline,
	    &err), 2);
	assert_int_equal(nbad, 0);
	assert_string_equal(seen.data, "set|a b\tc\nd\\e|k|h;hit|0123;");
	buf_free(&seen);

	/* Opening again starts a new journal. */
	j = journal_open("j1", &err);
	assert_int_equal(journal_close(j, &err), 0);
	assert_int_equal(journal_read("j1", collect, &seen, &nbad, &badline,
	    &err), 0);
	assert_null(seen.data);

	/* A missing journal has no records. */
	assert_int_equal(journal_read("none", collect, &seen, &nbad,
	    &badline, &err), 0);
}

static void
test_torn_and_corrupt_records_are_skipped(void **state)
{
	const char *r[] = { "set", "p", "k", "h" };
	struct journal *j;
	struct buf b = { 0 }, seen = { 0 };
	size_t nbad, badline, i;
	char *err = NULL, *p;

	(void)state;
	j = journal_open("j2", &err);
	for (i = 0; i < 4; i++)
		assert_int_equal(journal_append(j, r, 4, &err), 0);
	assert_int_equal(journal_close(j, &err), 0);
	assert_int_equal(file_read("j2", &b, &err), 0);

	/* Flip a byte of the second record's payload and cut the last
	 * record short, as a crash in its write would. */
	p = strchr(b.data, '\n') + 1;		/* record 1 */
	p = strchr(p, '\n') + 1;		/* record 2 */
	p[20] ^= 1;
	b.len -= 5;
	assert_int_equal(file_write_atomic("j2", b.data, b.len, 0, &err), 0);
	assert_int_equal(journal_read("j2", collect, &seen, &nbad, &badline,
	    &err), 2);
	assert_int_equal(nbad, 2);
	assert_int_equal(badline, 3);
	assert_string_equal(seen.data, "set|p|k|h;set|p|k|h;");
	buf_free(&seen);
	buf_free(&b);
}

static void
test_versions(void **state)
{
	struct buf seen = { 0 };
	size_t nbad, badline;
	char *err = NULL;

	(void)state;
	assert_int_equal(file_write_atomic("j3", "# planmake journal 7\n", 21,
	    0, &err), 0);
	assert_int_equal(journal_read("j3", collect, &seen, &nbad, &badline,
	    &err), -1);
	assert_string_equal(err, "j3:1: journal format 7 is not known to "
	    "this planmake (it reads 1)");
	free(err);
	err = NULL;
	assert_int_equal(file_write_atomic("j3", "hello\n", 6, 0, &err), 0);
	assert_int_equal(journal_read("j3", collect, &seen, &nbad, &badline,
	    &err), -1);
	assert_string_equal(err, "j3:1: not a planmake journal");
	free(err);
	err = NULL;
	/* A header torn by a crash: nothing was recorded yet. */
	assert_int_equal(file_write_atomic("j3", "# planmake jou", 14, 0,
	    &err), 0);
	assert_int_equal(journal_read("j3", collect, &seen, &nbad, &badline,
	    &err), 0);
}

/* A manifest as explain_manifest() writes it. */
static const char *base =
    "{\"base\":\"u\",\"format\":1,\"inputs\":[[\"a.md\",\"h1\"],[\"b.md\",\"h2\"]],"
    "\"key\":\"k\",\"model\":\"m\",\"params\":{\"max_tokens\":100},"
    "\"prompt\":\"one\\ntwo\\nthree\",\"provider\":\"anthropic\","
    "\"system\":\"s\",\"targets\":[\"x\"]}";

/* base with the first occurrence of from replaced by to. */
static char *
edit(const char *from, const char *to)
{
	const char *p = strstr(base, from);
	char *s;

	assert_non_null(p);
	xasprintf(&s, "%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
	return s;
}

static void
check_diff(const char *from, const char *to, const char *want)
{
	char *now = edit(from, to), *m;

	m = explain_compare(base, now);
	if (want == NULL)
		assert_null(m);
	else {
		assert_non_null(m);
		assert_string_equal(m, want);
	}
	free(m);
	free(now);
}

static void
test_first_difference(void **state)
{
	(void)state;
	check_diff("\"k\"", "\"k2\"", NULL);	/* the key alone: no part */
	check_diff("two", "TWO", "prompt line 2 changed: 'two' -> 'TWO'");
	check_diff("three\"", "three\\nfour\"",
	    "prompt line 4 was added: 'four'");
	check_diff("\\nthree", "", "prompt line 3 was removed: 'three'");
	check_diff("\"h2\"", "\"h3\"", "input 'b.md' changed");
	check_diff(",[\"b.md\",\"h2\"]", "", "input 'b.md' was removed");
	check_diff("[[\"a.md\"", "[[\"c.md\",\"h9\"],[\"a.md\"",
	    "input 'c.md' was added");
	check_diff("[[\"a.md\",\"h1\"],[\"b.md\",\"h2\"]]",
	    "[[\"b.md\",\"h2\"],[\"a.md\",\"h1\"]]", "the inputs were reordered");
	check_diff("100", "200", "setting max_tokens changed: 100 -> 200");
	check_diff("100}", "100,\"temperature\":0.5}",
	    "setting temperature changed: unset -> 0.5");
	check_diff("\"m\"", "\"m2\"",
	    "the model changed: anthropic:m -> anthropic:m2");
	check_diff("\"s\"", "\"s2\"", "the system text changed");
	check_diff("[\"x\"]", "[\"x\",\"y\"]", "the list of targets changed");
	check_diff("\"format\":1", "\"format\":2",
	    "the request format changed (a new planmake)");
	/* The model wins over a later difference. */
	check_diff("\"m\",\"params\":{\"max_tokens\":100}",
	    "\"m2\",\"params\":{\"max_tokens\":5}",
	    "the model changed: anthropic:m -> anthropic:m2");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_read_back),
		cmocka_unit_test(test_torn_and_corrupt_records_are_skipped),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_first_difference),
	};

	return cmocka_run_group_tests_name("journal", tests, group_setup,
	    group_teardown);
}
