/* Tests for extract: each case is something a careless extractor gets
 * wrong.  Answers are copied into buffers of their exact size, with no NUL
 * after them, so AddressSanitizer catches any read past the end. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "util.h"

/* A pointer extract never yields, to see that failures fill nothing. */
static char	 poison[] = "untouched";
#define POISON	poison

/* Run extract_answer on the len bytes at s, copied to an exact buffer. */
static int
run_n(const char *s, size_t len, char *const *targets, size_t ntargets,
    struct extract_file *out, char **errp)
{
	char *copy;
	int rc;

	copy = xmalloc(len);
	if (len > 0)
		memcpy(copy, s, len);
	rc = extract_answer(copy, len, targets, ntargets, out, errp);
	free(copy);
	return rc;
}

/* Expect the answer to give exactly the contents want[]. */
static void
expect_ok_n(const char *s, size_t len, char *const *targets, size_t n,
    const char *const *want, const size_t *wantlen)
{
	struct extract_file out[8];
	char *err = NULL;
	size_t i, wl;
	int rc;

	assert_true(n <= 8);
	rc = run_n(s, len, targets, n, out, &err);
	if (rc != 0)
		fail_msg("unexpected error: %s", err);
	assert_null(err);
	for (i = 0; i < n; i++) {
		wl = wantlen != NULL ? wantlen[i] : strlen(want[i]);
		assert_non_null(out[i].data);
		assert_int_equal(out[i].len, wl);
		assert_memory_equal(out[i].data, want[i], wl);
		assert_int_equal(out[i].data[wl], '\0');
		free(out[i].data);
	}
}

/* Expect the NUL-terminated answer to give the contents want[]. */
static void
expect_ok(const char *s, char *const *targets, size_t n,
    const char *const *want)
{
	expect_ok_n(s, strlen(s), targets, n, want, NULL);
}

/* Expect the answer to fail with a message containing part, leaving out
 * untouched. */
static void
expect_err(const char *s, char *const *targets, size_t n, const char *part)
{
	struct extract_file out[8];
	char *err = NULL;
	size_t i;

	assert_true(n <= 8);
	for (i = 0; i < 8; i++) {
		out[i].data = POISON;
		out[i].len = 12345;
	}
	assert_int_equal(run_n(s, strlen(s), targets, n, out, &err), -1);
	assert_non_null(err);
	if (strstr(err, part) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, part);
	for (i = 0; i < 8; i++) {
		assert_ptr_equal(out[i].data, POISON);
		assert_int_equal(out[i].len, 12345);
	}
	free(err);
}

/* Two targets, given in the other order, with prose around them. */
static void
test_form1_two_targets(void **state)
{
	char *targets[] = { "src/b.h", "src/a.c" };
	const char *want[] = { "#define B 1\n\nint b;\n", "int a;\n" };

	(void)state;

	expect_ok("Here are the files.\n\nsrc/a.c\n```c\nint a;\n```\n\n"
	    "src/b.h\n```\n#define B 1\n\nint b;\n```\nDone.\n",
	    targets, 2, want);
	/* No final LF after the last fence. */
	expect_ok("src/a.c\n```\nint a;\n```\nsrc/b.h\n```\n#define B 1\n\n"
	    "int b;\n```", targets, 2, want);
}

/* One layer of each markdown decoration is removed from headers. */
static void
test_decorations(void **state)
{
	(void)state;
	char *targets[] = { "src/a.c", "b.c", "c.c", "d.c", "e.c", "f.c",
	    "g.c" };
	const char *want[] = {
		"a\n", "b\n", "c\n", "d\n", "e\n", "f\n", "g\n"
	};

	expect_ok("### src/a.c\n```\na\n```\n"
	    "**b.c**\n```\nb\n```\n"
	    "`c.c`\n```\nc\n```\n"
	    "d.c:\n```\nd\n```\n"
	    "  ## `e.c`:  \n```\ne\n```\n"
	    "**f.c:**\n```\nf\n```\n"
	    "`g.c:`\n```\ng\n```\n", targets, 7, want);
}

/* Two layers of the same decoration are not removed. */
static void
test_decoration_one_layer(void **state)
{
	char *targets[] = { "a.c", "b.c" };

	(void)state;

	expect_err("****a.c****\n```\na\n```\nb.c\n```\nb\n```\n",
	    targets, 2, "answer names '**a.c**'");
}

/* A longer fence holds a shorter one, which neither closes it nor opens
 * a block of its own. */
static void
test_nested_fence(void **state)
{
	char *targets[] = { "README.md", "x.sh" };

	(void)state;
	const char *want[] = {
		"# Build\n```sh\nmake\n```\n``` \n",
		"echo hi\n"
	};

	expect_ok("README.md\n````markdown\n# Build\n```sh\nmake\n```\n"
	    "``` \n````\nx.sh\n```sh\necho hi\n```\n", targets, 2, want);
}

/* Tilde fences hold backticks; a longer closing run closes them. */
static void
test_tilde_fence(void **state)
{
	char *targets[] = { "doc.md", "b.c" };
	const char *want[] = { "```\nx\n```\n~~\n", "b\n" };

	(void)state;

	expect_ok("doc.md\n~~~\n```\nx\n```\n~~\n~~~~~\nb.c\n   ~~~~ c\nb\n"
	    "~~~~\t\n", targets, 2, want);
}

/* Info strings are allowed, but not a backtick in a backtick one; a
 * closing line may have nothing but white space after its run. */
static void
test_info_string(void **state)
{
	char *one[] = { "a.txt" };
	char *two[] = { "a.c", "b.c" };
	const char *want2[] = { "x\n``` y\n", "y\n" };
	const char *want1[] = { "```c`\nbar\n" };

	(void)state;

	expect_ok("a.c\n```c {.numberLines startFrom=\"1\"}\nx\n``` y\n```\n"
	    "b.c\n~~~ `weird` info\ny\n~~~\n", two, 2, want2);
	/* Not a fence: the whole answer is the file. */
	expect_ok("```c`\nbar\n", one, 1, want1);
}

/* Indented by four spaces, a run is content, not a fence. */
static void
test_indented_fence(void **state)
{
	char *one[] = { "a.txt" };
	const char *want[] = { "    ```\nx\n" };

	(void)state;

	expect_ok("\n    ```\nx\n\n", one, 1, want);
}

/* Every target must have a block. */
static void
test_missing_target(void **state)
{
	char *targets[] = { "src/wc.c", "src/wc.h" };

	(void)state;

	expect_err("src/wc.h\n```\nint wc(void);\n```\n", targets, 2,
	    "answer has no block for 'src/wc.c'");
}

/* Two blocks for one target fail rather than pick one. */
static void
test_duplicate_target(void **state)
{
	char *targets[] = { "a.c", "b.c" };
	char *one[] = { "a.c" };

	(void)state;

	expect_err("a.c\n```\n1\n```\nb.c\n```\n2\n```\n### a.c\n```\n3\n"
	    "```\n", targets, 2, "more than one block for 'a.c'");
	expect_err("a.c\n```\n1\n```\na.c\n```\n2\n```\n", one, 1,
	    "more than one block for 'a.c'");
}

/* A path that is not a target fails the task and is named. */
static void
test_foreign_path(void **state)
{
	char *targets[] = { "a.c" };

	(void)state;

	expect_err("a.c\n```\n1\n```\n../etc/passwd\n```\nroot\n```\n",
	    targets, 1, "answer names '../etc/passwd', which is not a target");
	expect_err("**/etc/passwd**\n```\nroot\n```\na.c\n```\n1\n```\n",
	    targets, 1, "answer names '/etc/passwd', which is not a target");
	/* Control bytes are escaped in the message. */
	expect_err("a.c\n```\n1\n```\nx\033[2J.c\n```\n2\n```\n",
	    targets, 1, "'x\\x1b[2J.c'");
}

/* A long foreign path is cut in the message, between UTF-8 characters. */
static void
test_foreign_long(void **state)
{
	struct extract_file out[1];
	struct buf b = { NULL, 0, 0 };
	char *targets[] = { "a.c" };
	char *err = NULL;
	size_t i, bad;

	(void)state;

	buf_addstr(&b, "a.c\n```\n1\n```\nx");
	for (i = 0; i < 300; i++)
		buf_addstr(&b, "\xc3\xa9");
	buf_addstr(&b, ".c\n```\n2\n```\n");
	assert_int_equal(run_n(b.data, b.len, targets, 1, out, &err), -1);
	assert_non_null(strstr(err, "x\xc3\xa9\xc3\xa9"));
	assert_non_null(strstr(err, "...'"));
	assert_true(strlen(err) < 300);
	assert_true(utf8_valid(err, strlen(err), &bad));
	free(err);
	buf_free(&b);
}

/* Prose before a block is no path: the block is ignored in form 1. */
static void
test_prose_header(void **state)
{
	char *targets[] = { "a.c", "b.c" };
	const char *want[] = { "a\n", "b\n" };

	(void)state;

	expect_ok("Here is the code:\n```\nls\n```\na.c\n```\na\n```\n"
	    "Example\n```\nx\n```\nb.c\n```\nb\n```\n", targets, 2, want);
}

/* Form 2: one block with a line of prose before and after. */
static void
test_form2(void **state)
{
	char *one[] = { "src/wc.c" };
	const char *want[] = { "int main(void)\n{\n}\n" };

	(void)state;

	expect_ok("Here is the file:\n\n```c\nint main(void)\n{\n}\n```\n\n"
	    "Hope this helps.\n", one, 1, want);
	/* The target's own path before the block is fine. */
	expect_ok("src/wc.c\n\n```c\nint main(void)\n{\n}\n```\n", one, 1,
	    want);
	/* Prose ending in a full stop is no path. */
	expect_ok("Done.\n```c\nint main(void)\n{\n}\n```\ne.g.\n", one, 1,
	    want);
	/* A header naming another file fails even with one target: the
	 * model wrote something else than what was asked. */
	expect_err("wc.c\n```c\nint main(void)\n{\n}\n```\n", one, 1,
	    "answer names 'wc.c', which is not a target");
}

/* Form 2 allows one line of prose on each side, not two. */
static void
test_form2_too_much_prose(void **state)
{
	char *one[] = { "a.c" };

	(void)state;

	expect_err("Sure thing.\nHere is the file:\n```c\nint x;\n```\n",
	    one, 1, "answer fits none of the forms");
	expect_err("```c\nint x;\n```\nThat is all.\nBye now\n",
	    one, 1, "answer fits none of the forms");
}

/* One target and two unnamed blocks: no way to choose. */
static void
test_form2_two_blocks(void **state)
{
	char *one[] = { "a.c" };

	(void)state;

	expect_err("```\n1\n```\n```\n2\n```\n", one, 1,
	    "answer has 2 fenced blocks and no file names");
}

/* Form 3: the whole answer, blank lines trimmed, one final LF. */
static void
test_form3(void **state)
{
	char *one[] = { "notes.txt" };
	const char *want[] = { "  first\n\nlast  \n" };
	const char *want2[] = { "x\n" };

	(void)state;

	expect_ok("\n \t\n  first\n\nlast  \n\n\n   \n", one, 1, want);
	expect_ok("x", one, 1, want2);
	expect_ok("x\n\n\n", one, 1, want2);
}

/* Form 3 needs a single target. */
static void
test_form3_two_targets(void **state)
{
	char *targets[] = { "a.txt", "b.txt" };

	(void)state;

	expect_err("just some text\n", targets, 2,
	    "answer does not name the targets");
	expect_err("```\n1\n```\n", targets, 2,
	    "answer does not name the targets");
}

/* A fence that never closes is an error, with its line. */
static void
test_unterminated(void **state)
{
	char *one[] = { "a.c" };
	char *two[] = { "a.c", "b.c" };

	(void)state;

	expect_err("a.c\n```\nint x;\n", one, 1,
	    "unterminated fence opened on answer line 2");
	/* A shorter run does not close a longer one. */
	expect_err("a.c\n```\n1\n```\n\nb.c\n````\n2\n```\n", two, 2,
	    "unterminated fence opened on answer line 7");
	/* Text after the run means it does not close. */
	expect_err("x\n~~~\n1\n~~~ no\n", one, 1,
	    "unterminated fence opened on answer line 2");
}

/* CRLF answers give LF files; headers and fences are still seen. */
static void
test_crlf(void **state)
{
	char *targets[] = { "a.c", "b.c" };
	const char *want[] = { "int a;\n\nx\n", "b\n" };
	char *one[] = { "t.txt" };
	const char *want1[] = { "hello\nworld\n" };

	(void)state;

	expect_ok("a.c:\r\n```c\r\nint a;\r\n\r\nx\r\n```\r\nb.c\r\n"
	    "~~~\r\nb\r\n~~~\r\n", targets, 2, want);
	expect_ok("\r\nhello\r\nworld\r\n\r\n", one, 1, want1);
}

/* Nothing but white space is an empty answer. */
static void
test_empty(void **state)
{
	char *one[] = { "a.c" };
	char *two[] = { "a.c", "b.c" };
	struct extract_file out[1];
	char *err = NULL;

	(void)state;

	expect_err("", one, 1, "answer is empty");
	expect_err(" \n\t\n\r\n\n", one, 1, "answer is empty");
	expect_err("\n\n", two, 2, "answer is empty");
	assert_int_equal(extract_answer(NULL, 0, one, 1, out, &err), -1);
	assert_string_equal(err, "answer is empty");
	free(err);
}

/* An empty block is an empty file. */
static void
test_empty_block(void **state)
{
	char *targets[] = { "empty.txt", "b.c" };
	const char *want[] = { "", "\n" };

	(void)state;

	expect_ok("empty.txt\n```\n```\nb.c\n```\n\n```\n", targets, 2, want);
}

/* Blank lines between a header and its fence keep the pair; a block
 * right after another block has no header. */
static void
test_header_blank_fence(void **state)
{
	char *two[] = { "a.c", "b.c" };
	char *one[] = { "a.c" };
	const char *want2[] = { "x\n", "y\n" };
	const char *want[] = { "x\n" };

	(void)state;

	expect_ok("a.c\n\n\n```\nx\n```\n**b.c**\n \n```\ny\n```\n", two,
	    2, want2);
	expect_ok("a.c\n\n```\nx\n```\n", one, 1, want);
	expect_err("a.c\n```\nx\n```\n\n```\ny\n```\n", two, 2,
	    "answer has no block for 'b.c'");
}

/* NUL bytes are content like any other. */
static void
test_nul_bytes(void **state)
{
	static const char ans[] = "a\0.c\n```\n\0\n```\na.c\n```\nx\0y\n```\n";
	static const char w[] = "x\0y\n";
	char *one[] = { "a.c" };
	const char *want[] = { w };
	const size_t wantlen[] = { 4 };
	struct extract_file out[1];
	char *err = NULL;

	(void)state;

	/* "a\0.c" looks like a path that is not a target. */
	assert_int_equal(run_n(ans, sizeof ans - 1, one, 1, out, &err), -1);
	assert_non_null(strstr(err, "'a\\x00.c'"));
	free(err);
	expect_ok_n(ans + 15, sizeof ans - 16, one, 1, want, wantlen);
}

/* A small fixed-seed generator, the same on every libc. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Call extract and check only that the result is sane. */
static void
sane(const char *s, size_t len, char *const *targets, size_t n)
{
	struct extract_file out[3];
	char *err = NULL;
	size_t i;
	int rc;

	for (i = 0; i < 3; i++) {
		out[i].data = POISON;
		out[i].len = 12345;
	}
	rc = run_n(s, len, targets, n, out, &err);
	if (rc == 0) {
		assert_null(err);
		for (i = 0; i < n; i++) {
			assert_true(out[i].data != POISON);
			assert_true(out[i].len <= len + 1);
			assert_int_equal(out[i].data[out[i].len], '\0');
			free(out[i].data);
		}
	} else {
		assert_int_equal(rc, -1);
		assert_non_null(err);
		assert_true(strlen(err) < 1000);
		free(err);
		for (i = 0; i < n; i++)
			assert_ptr_equal(out[i].data, POISON);
	}
}

/* Random bytes, biased to the ones that matter, never crash it. */
static void
test_random_bytes(void **state)
{
	static const char alpha[] = "```~~~\n\n\n\r  #*:/.a\0";
	char *targets[] = { "a.c", "b/c.h", "." };
	char s[256];

	(void)state;
	uint32_t seed = 2463534242u;
	size_t i, j, len;
	uint32_t r;

	for (i = 0; i < 5000; i++) {
		len = rnd(&seed) % sizeof s;
		for (j = 0; j < len; j++) {
			r = rnd(&seed);
			if (r % 4 == 0)
				s[j] = (char)(r >> 8);
			else
				s[j] = alpha[(r >> 8) % (sizeof alpha - 1)];
		}
		sane(s, len, targets, 1 + i % 3);
	}
}

/* Every prefix of a valid answer, and random one-byte changes to it. */
static void
test_truncations(void **state)
{
	(void)state;
	static const char ans[] =
	    "Here you go:\r\n\r\n### `a.c`:\n````c\n```\nint a;\n```\n````\n"
	    "b/c.h\n~~~\n#define C\n~~~\n";
	char *targets[] = { "a.c", "b/c.h" };
	char s[sizeof ans];
	uint32_t seed = 88172645u;
	size_t len, i;

	for (len = 0; len < sizeof ans; len++) {
		sane(ans, len, targets, 2);
		sane(ans, len, targets, 1);
	}
	for (i = 0; i < 2000; i++) {
		memcpy(s, ans, sizeof ans);
		s[rnd(&seed) % (sizeof ans - 1)] = (char)rnd(&seed);
		len = rnd(&seed) % sizeof ans;
		sane(s, len, targets, 2);
	}
}

/* The instructions are short, stable and mention the longer fence. */
static void
test_instructions(void **state)
{
	const char *s;

	(void)state;

	s = extract_instructions();
	assert_non_null(s);
	assert_ptr_equal(s, extract_instructions());
	assert_true(strlen(s) < 700);
	assert_non_null(strstr(s, "````"));
	assert_non_null(strstr(s, "path alone on a line"));
}

/* A target whose path ends another target's path is not confused with
 * it, in either order. */
static void
test_path_suffix(void **state)
{
	char *targets[] = { "a.c", "lib/a.c", "src/lib/a.c" };
	const char *want[] = { "top\n", "lib\n", "deep\n" };

	(void)state;

	expect_ok("src/lib/a.c\n```\ndeep\n```\na.c\n```\ntop\n```\n"
	    "lib/a.c\n```\nlib\n```\n", targets, 3, want);
}

/* "./" before a path names the same file; "../" is foreign. */
static void
test_dot_slash(void **state)
{
	char *targets[] = { "src/a.c", "Makefile" };
	char *one[] = { "src/a.c" };
	const char *want[] = { "a\n", "all:\n" };

	(void)state;

	expect_ok("./src/a.c\n```\na\n```\n`./Makefile`\n```\nall:\n```\n",
	    targets, 2, want);
	expect_ok(".//src/a.c\n```\na\n```\n", one, 1, want);
	expect_err("../src/a.c\n```\na\n```\n", one, 1,
	    "answer names '../src/a.c'");
	expect_err("src/a.c\n```\na\n```\n./b.c\n```\nb\n```\n", one, 1,
	    "answer names './b.c'");
}

/* The label planmake gives inputs, "File PATH:", is a header too. */
static void
test_file_label(void **state)
{
	char *targets[] = { "a.c", "b.h" };
	const char *want[] = { "a\n", "b\n" };

	(void)state;

	expect_ok("File a.c:\n```\na\n```\n### File: `b.h`\n```\nb\n```\n",
	    targets, 2, want);
	expect_err("File a.c:\n```\na\n```\nFile c.h:\n```\nc\n```\n",
	    targets, 2, "answer names 'c.h'");
}

/* A fence run inside a file, as long as the file's own fence, ends the
 * file early: the answer then has an unclosed fence and fails rather
 * than giving a cut file. */
static void
test_inner_fence_too_long(void **state)
{
	char *one[] = { "README.md" };
	char *two[] = { "README.md", "b.c" };

	(void)state;

	expect_err("README.md\n```\nRun:\n```sh\nmake\n```\nDone\n```\n", one,
	    1, "unterminated fence opened on answer line 8");
	expect_err("README.md\n```\nRun:\n```sh\nmake\n```\nDone\n```\nb.c\n"
	    "```\nb\n```\n", two, 2, "unterminated fence opened on answer line 12");
}

/* The same path twice fails even when the blocks agree. */
static void
test_duplicate_same(void **state)
{
	char *two[] = { "a.c", "b.c" };

	(void)state;

	expect_err("a.c\n```\n1\n```\nb.c\n```\n2\n```\n**a.c**\n```\n1\n"
	    "```\n", two, 2, "more than one block for 'a.c'");
}

/* Mixed CRLF and LF, and a header with CRLF after blank lines. */
static void
test_crlf_mixed(void **state)
{
	char *two[] = { "a.c", "b.c" };
	const char *want[] = { "x\ny\n", "z\n" };

	(void)state;

	expect_ok("### a.c\r\n\r\n```c\r\nx\ny\r\n```\r\n`b.c`:\n~~~\r\nz\n"
	    "~~~\r\n", two, 2, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form1_two_targets),
		cmocka_unit_test(test_decorations),
		cmocka_unit_test(test_decoration_one_layer),
		cmocka_unit_test(test_nested_fence),
		cmocka_unit_test(test_tilde_fence),
		cmocka_unit_test(test_info_string),
		cmocka_unit_test(test_indented_fence),
		cmocka_unit_test(test_missing_target),
		cmocka_unit_test(test_duplicate_target),
		cmocka_unit_test(test_foreign_path),
		cmocka_unit_test(test_foreign_long),
		cmocka_unit_test(test_prose_header),
		cmocka_unit_test(test_form2),
		cmocka_unit_test(test_form2_too_much_prose),
		cmocka_unit_test(test_form2_two_blocks),
		cmocka_unit_test(test_form3),
		cmocka_unit_test(test_form3_two_targets),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_empty_block),
		cmocka_unit_test(test_header_blank_fence),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_instructions),
		cmocka_unit_test(test_path_suffix),
		cmocka_unit_test(test_dot_slash),
		cmocka_unit_test(test_file_label),
		cmocka_unit_test(test_inner_fence_too_long),
		cmocka_unit_test(test_duplicate_same),
		cmocka_unit_test(test_crlf_mixed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
