/* Unit tests for the key memo: the fingerprint's sensitivity, and the
 * memo found in order and out of it, saved only when it must be, and
 * refused when damaged. */
#include "unit.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keymemo.h"
#include "util.h"


static int
group_setup(void **state)
{
	(void)state;
	return unit_tmpdir_enter("keymemo");
}

static int
group_teardown(void **state)
{
	(void)state;
	return unit_tmpdir_leave();
}

static int
bits_differ(const unsigned char *a, const unsigned char *b)
{
	int i, n = 0;

	for (i = 0; i < 16; i++)
		n += __builtin_popcount((unsigned)(a[i] ^ b[i]));
	return n;
}

/* Every bit of a key-sized text counts, and about half the fingerprint's
 * bits follow each; a shorter text padded with zeros is another text. */
static void
test_fingerprint(void **state)
{
	unsigned char text[1100], base[16], fp[16], again[16], seen[64][16];
	size_t i, bit, total = 0, n = 0;

	(void)state;
	for (i = 0; i < sizeof(text); i++)
		text[i] = (unsigned char)("{\"base\":\"http://x\"}"[i % 19]);
	keymemo_fingerprint(text, sizeof(text), base);
	keymemo_fingerprint(text, sizeof(text), again);
	assert_memory_equal(base, again, 16);
	for (i = 0; i < sizeof(text); i++)
		for (bit = 0; bit < 8; bit++) {
			text[i] ^= (unsigned char)(1u << bit);
			keymemo_fingerprint(text, sizeof(text), fp);
			text[i] ^= (unsigned char)(1u << bit);
			assert_true(memcmp(fp, base, 16) != 0);
			total += (size_t)bits_differ(fp, base);
			n++;
		}
	/* 64 of 128 on average; a weak mix would show far fewer. */
	assert_true(total / n >= 56 && total / n <= 72);

	/* Lengths 0 to 63 of zero bytes: all distinct. */
	memset(text, 0, 64);
	for (i = 0; i < 64; i++) {
		keymemo_fingerprint(text, i, seen[i]);
		for (bit = 0; bit < i; bit++)
			assert_true(memcmp(seen[i], seen[bit], 16) != 0);
	}
}

/* The fingerprint and key of entry i of a test memo. */
static void
entry(size_t i, unsigned char fp[16], unsigned char key[32])
{
	char text[64];

	snprintf(text, sizeof(text), "{\"prompt\":\"task %zu\"}", i);
	keymemo_fingerprint(text, strlen(text), fp);
	memset(key, (int)(i & 0xff), 32);
	key[0] = (unsigned char)(i >> 8);
}

static void
test_found_in_and_out_of_order(void **state)
{
	struct keymemo *km;
	struct stat before, after;
	unsigned char fp[16], key[32], want[32];
	char *err = NULL;
	size_t i;

	(void)state;
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "keys", &err), 0);	/* none */
	for (i = 0; i < 500; i++) {
		entry(i, fp, key);
		assert_int_equal(keymemo_find(km, fp, key), 0);
		keymemo_add(km, fp, key);
	}
	assert_int_equal(keymemo_save(km, "keys", &err), 0);
	keymemo_free(km);

	/* Asked in the saved order: all found, the file left alone. */
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "keys", &err), 0);
	for (i = 0; i < 500; i++) {
		entry(i, fp, want);
		assert_int_equal(keymemo_find(km, fp, key), 1);
		assert_memory_equal(key, want, 32);
	}
	assert_int_equal(keymemo_hits(km), 500);
	assert_int_equal(stat("keys", &before), 0);
	assert_int_equal(keymemo_save(km, "keys", &err), 0);
	assert_int_equal(stat("keys", &after), 0);
	assert_true(before.st_ino == after.st_ino);
	keymemo_free(km);

	/* Backwards, and with an unknown text: found all the same, the
	 * unknown one missed; saved again, in the new order. */
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "keys", &err), 0);
	for (i = 500; i-- > 0;) {
		entry(i, fp, want);
		assert_int_equal(keymemo_find(km, fp, key), 1);
		assert_memory_equal(key, want, 32);
	}
	entry(9999, fp, key);
	assert_int_equal(keymemo_find(km, fp, key), 0);
	assert_int_equal(keymemo_save(km, "keys", &err), 0);
	assert_int_equal(stat("keys", &after), 0);
	assert_true(before.st_ino != after.st_ino);
	keymemo_free(km);
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "keys", &err), 0);
	for (i = 500; i-- > 0;) {
		entry(i, fp, want);
		assert_int_equal(keymemo_find(km, fp, key), 1);
		assert_memory_equal(key, want, 32);
	}
	keymemo_free(km);
}

static void
test_damaged_and_other_versions(void **state)
{
	struct keymemo *km;
	struct buf b = { 0 };
	unsigned char fp[16], key[32];
	char *err = NULL;
	size_t i;

	(void)state;
	km = keymemo_new();
	for (i = 0; i < 10; i++) {
		entry(i, fp, key);
		keymemo_add(km, fp, key);
	}
	assert_int_equal(keymemo_save(km, "k2", &err), 0);
	keymemo_free(km);
	assert_int_equal(file_read("k2", &b, &err), 0);

	/* A flipped bit in a key: refused, and the memo is empty. */
	b.data[24 + 16 + 3] ^= 4;
	assert_int_equal(file_write_atomic("k2", b.data, b.len, 0, &err), 0);
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "k2", &err), -1);
	assert_non_null(strstr(err, "k2 is damaged"));
	free(err);
	err = NULL;
	entry(0, fp, key);
	assert_int_equal(keymemo_find(km, fp, key), 0);
	keymemo_free(km);

	/* Cut short. */
	b.data[24 + 16 + 3] ^= 4;
	assert_int_equal(file_write_atomic("k2", b.data, b.len - 20, 0, &err),
	    0);
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "k2", &err), -1);
	assert_non_null(strstr(err, "damaged"));
	free(err);
	err = NULL;
	keymemo_free(km);

	/* Another version: said so. */
	b.data[8] = 9;
	assert_int_equal(file_write_atomic("k2", b.data, b.len, 0, &err), 0);
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "k2", &err), -1);
	assert_non_null(strstr(err, "another format (version 9)"));
	free(err);
	keymemo_free(km);
	buf_free(&b);
}

/* The number of entries in the memo file at path. */
static size_t
entries_in(const char *path)
{
	struct buf b = { 0 };
	char *err = NULL;
	size_t n;

	assert_int_equal(file_read(path, &b, &err), 0);
	n = (b.len - 24 - 16) / 48;
	buf_free(&b);
	return n;
}

/* A key computed twice in a run is remembered once; one that is wrong
 * (however it got so) is used until -B or --refresh verify, which mend
 * it. */
static void
test_once_and_mended(void **state)
{
	struct keymemo *km;
	unsigned char fp[16], key[32], want[32], wrong[32];
	char *err = NULL;
	size_t i;

	(void)state;
	km = keymemo_new();
	for (i = 0; i < 3; i++) {
		entry(i, fp, key);
		keymemo_add(km, fp, key);
		assert_int_equal(keymemo_find(km, fp, want), 1);
		assert_memory_equal(key, want, 32);
		keymemo_add(km, fp, key);	/* the same, again */
	}
	assert_int_equal(keymemo_added(km), 3);
	assert_int_equal(keymemo_save(km, "k3", &err), 0);
	keymemo_free(km);
	assert_int_equal(entries_in("k3"), 3);

	/* Entry 1 made wrong: believed (the memo is trusted)... */
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "k3", &err), 0);
	entry(1, fp, want);
	memset(wrong, 0x5a, sizeof(wrong));
	keymemo_add(km, fp, wrong);
	assert_int_equal(keymemo_save(km, "k3", &err), 0);
	keymemo_free(km);
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "k3", &err), 0);
	assert_int_equal(keymemo_find(km, fp, key), 1);
	assert_memory_equal(key, wrong, 32);
	keymemo_free(km);

	/* ... until verified: nothing is found, the key computed again is
	 * put back, and the file holds it afterwards. */
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "k3", &err), 0);
	keymemo_verify(km);
	assert_int_equal(keymemo_find(km, fp, key), 0);
	keymemo_add(km, fp, want);
	assert_int_equal(keymemo_save(km, "k3", &err), 0);
	keymemo_free(km);
	km = keymemo_new();
	assert_int_equal(keymemo_load(km, "k3", &err), 0);
	assert_int_equal(keymemo_find(km, fp, key), 1);
	assert_memory_equal(key, want, 32);
	keymemo_free(km);
	assert_int_equal(entries_in("k3"), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_found_in_and_out_of_order),
		cmocka_unit_test(test_damaged_and_other_versions),
		cmocka_unit_test(test_once_and_mended),
	};

	return cmocka_run_group_tests_name("keymemo", tests, group_setup,
	    group_teardown);
}
