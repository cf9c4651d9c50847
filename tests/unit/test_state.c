/* Unit tests for planmake.lock (load, save, entries removed and set
 * again, malformed lines) and the maps and checks it is built on. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "util.h"

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"
#define KU "A111111111111111111111111111111111111111111111111111111111111111"	/* upper case */
#define HA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static int
group_setup(void **state)
{
	(void)state;
	return unit_tmpdir_enter("state");
}

static int
group_teardown(void **state)
{
	(void)state;
	return unit_tmpdir_leave();
}

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *
get_file(const char *path)
{
	struct buf b = { 0 };
	char *err = NULL;

	assert_int_equal(file_read(path, &b, &err), 0);
	return buf_detach(&b);
}

static void
test_hex64(void **state)
{
	char s[80];

	(void)state;
	assert_true(hex64_valid(K1));
	assert_true(hex64_valid("0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef"));
	/* One digit short or over, upper case, a stray byte anywhere. */
	assert_false(hex64_valid(K1 + 1));
	assert_false(hex64_valid(K1 "1"));
	assert_false(hex64_valid(KU));
	snprintf(s, sizeof(s), "%s", K1);
	s[40] = 'g';
	assert_false(hex64_valid(s));
	s[40] = '\t';
	assert_false(hex64_valid(s));
	assert_false(hex64_valid(""));
}

/* A map filled from another one's slot order (as a saved store is read
 * back) and a map whose keys are the caller's. */
static void
test_smap_reserve_and_borrowed(void **state)
{
	struct smap a = { 0 }, b = { 0 }, c = { 0 };
	char key[32], *keys[2000];
	size_t i, cap;

	(void)state;
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "out/d%zu/o%zu.txt", i / 100, i);
		smap_put(&a, key, (void *)(i + 1));
	}
	smap_reserve(&b, a.len);
	cap = b.cap;
	assert_true(cap >= a.len);
	for (i = 0; i < a.cap; i++)
		if (a.ents[i].key != NULL)
			smap_put(&b, a.ents[i].key, a.ents[i].val);
	assert_int_equal(b.cap, cap);	/* reserved: never regrown */
	assert_int_equal(b.len, 2000);
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "out/d%zu/o%zu.txt", i / 100, i);
		assert_ptr_equal(smap_get(&b, key), (void *)(i + 1));
	}
	assert_null(smap_get(&b, "out/d0/o2000.txt"));

	c.borrowed = 1;
	for (i = 0; i < 2000; i++) {
		xasprintf(&keys[i], "k%zu", i);
		smap_put(&c, keys[i], keys[i]);
	}
	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		assert_ptr_equal(smap_get(&c, key), keys[i]);
	}
	/* The keys are the caller's: the map stores the very pointer. */
	for (i = 0; i < c.cap; i++)
		if (c.ents[i].key != NULL)
			assert_ptr_equal(c.ents[i].key, c.ents[i].val);
	smap_free(&c);
	for (i = 0; i < 2000; i++)
		free(keys[i]);
	smap_free(&a);
	smap_free(&b);
}

static void
test_lock_round_trip(void **state)
{
	struct lock l = { 0 }, m = { 0 };
	struct lock_entry *e;
	char *err = NULL, *text;

	(void)state;
	put_file("a.lock", "# planmake lock 1\n"
	    "b.txt\t" K1 "\t" HA "\n"
	    "a\\tb\\\\c.txt\t" K2 "\t" HB "\n"
	    "# a comment, and an empty line\n\n");
	assert_int_equal(lock_load(&l, "a.lock", &err), 0);
	assert_null(err);
	assert_non_null(e = lock_get(&l, "b.txt"));
	assert_string_equal(e->key, K1);
	assert_string_equal(e->hash, HA);
	assert_non_null(e = lock_get(&l, "a\tb\\c.txt"));
	assert_string_equal(e->key, K2);
	assert_null(lock_get(&l, "c.txt"));
	assert_int_equal(l.dirty, 0);

	/* Removed: not seen, not saved; set again: back with new hashes. */
	lock_remove(&l, "b.txt");
	assert_null(lock_get(&l, "b.txt"));
	assert_int_equal(l.dirty, 1);
	assert_int_equal(lock_save(&l, "b.lock", &err), 0);
	text = get_file("b.lock");
	assert_string_equal(text, "# planmake lock 1\n"
	    "a\\tb\\\\c.txt\t" K2 "\t" HB "\n");
	free(text);
	lock_set(&l, "b.txt", K1, HA);
	assert_non_null(e = lock_get(&l, "b.txt"));
	assert_string_equal(e->hash, HA);
	lock_set(&l, "new.txt", K1, HB);
	assert_int_equal(lock_save(&l, "b.lock", &err), 0);
	text = get_file("b.lock");
	assert_string_equal(text, "# planmake lock 1\n"
	    "a\\tb\\\\c.txt\t" K2 "\t" HB "\n"
	    "b.txt\t" K1 "\t" HA "\n"
	    "new.txt\t" K1 "\t" HB "\n");
	free(text);

	/* What was saved loads back the same. */
	assert_int_equal(lock_load(&m, "b.lock", &err), 0);
	assert_non_null(e = lock_get(&m, "new.txt"));
	assert_string_equal(e->key, K1);
	assert_int_equal(m.bypath.len, 3);
	lock_free(&l);
	lock_free(&m);
}

/* A lock of a good line, then line (the third), must fail to load with
 * "bad.lock:3: malformed lock entry: " and why. */
static void
check_bad_line(const char *line, const char *why)
{
	struct lock l = { 0 };
	char *err = NULL, *text, *want;

	xasprintf(&text, "# planmake lock 1\nok.txt\t" K1 "\t" HA "\n%s\n",
	    line);
	put_file("bad.lock", text);
	free(text);
	assert_int_equal(lock_load(&l, "bad.lock", &err), -1);
	assert_non_null(err);
	xasprintf(&want, "bad.lock:3: malformed lock entry: %s", why);
	assert_string_equal(err, want);
	free(want);
	free(err);
	lock_free(&l);
}

/* A lock of text must fail to load with error want. */
static void
check_bad_lock(const char *text, const char *want)
{
	struct lock l = { 0 };
	char *err = NULL;

	put_file("v.lock", text);
	assert_int_equal(lock_load(&l, "v.lock", &err), -1);
	assert_non_null(err);
	assert_string_equal(err, want);
	free(err);
	lock_free(&l);
}

static void
test_lock_malformed(void **state)
{
	const char *nohead = "v.lock:1: not a planmake lock file (its first "
	    "line is not '# planmake lock 1')";

	(void)state;
	check_bad_line("x.txt\t" K1, "not PATH<TAB>KEY<TAB>HASH");
	check_bad_line("x.txt\t" K1 "1\t" HA,
	    "the key is not 64 lower-case hex digits");
	check_bad_line("x.txt\t" "1" "\t" HA,
	    "the key is not 64 lower-case hex digits");
	check_bad_line("x.txt\t" K1 "\t" HA "a",
	    "the hash is not 64 lower-case hex digits");
	check_bad_line("x.txt\t" KU "\t" HA,
	    "the key is not 64 lower-case hex digits");
	check_bad_line("\t" K1 "\t" HA, "the path is empty");
	check_bad_line("x\\q.txt\t" K1 "\t" HA, "a backslash in the path "
	    "escapes neither \\\\, \\t nor \\n");
	check_bad_line("x.txt\t" K1 "\t" HA "\r",
	    "a carriage return ends it (CRLF line ends?)");
	check_bad_line("ok.txt\t" K2 "\t" HB, "its path is listed twice");

	check_bad_lock("# planmake lock 9\n", "v.lock:1: lock format 9 is not "
	    "known to this planmake (it reads 1)");
	check_bad_lock("", "v.lock:1: not a planmake lock file (it is empty)");
	check_bad_lock("# planmake lock 1x\n", nohead);
	check_bad_lock("# planmake lock 01\n", nohead);
	check_bad_lock("# planmake lock 1.5\n", nohead);
	check_bad_lock("# planmake lock 4294967297\n", nohead);
	check_bad_lock("#planmake lock 1\n", nohead);
	check_bad_lock("# planmake lock 1\r\n", nohead);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex64),
		cmocka_unit_test(test_smap_reserve_and_borrowed),
		cmocka_unit_test(test_lock_round_trip),
		cmocka_unit_test(test_lock_malformed),
	};

	return cmocka_run_group_tests_name("state", tests, group_setup,
	    group_teardown);
}
