/* Unit tests for the stat-keyed hash store: an unchanged file is not
 * read again, a changed or racy one is, the file round-trips and a
 * damaged one is refused. */
#include "unit.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hashdb.h"
#include "util.h"

static int
group_setup(void **state)
{
	(void)state;
	return unit_tmpdir_enter("hashdb");
}

static int
group_teardown(void **state)
{
	(void)state;
	return unit_tmpdir_leave();
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Set path's mtime to secs seconds ago (out of the racy window). */
static void
age(const char *path, int secs)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= secs;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Wait until the ctime of a file written now is out of the window. */
static void
settle(void)
{
	struct timespec d = { 1, 100000000 };

	nanosleep(&d, NULL);
}

static void
test_unchanged_file_is_not_reread(void **state)
{
	struct hashdb *db;
	char h1[65], h2[65], want[65], *err = NULL;

	(void)state;
	put("a.txt", "alpha\n");
	age("a.txt", 10);
	settle();
	sha256_hex("alpha\n", 6, want);
	db = hashdb_new();
	assert_int_equal(hashdb_hash(db, "a.txt", h1, &err), 1);
	assert_string_equal(h1, want);
	assert_int_equal(hashdb_reads(db), 1);
	assert_int_equal(hashdb_hash(db, "a.txt", h2, &err), 1);
	assert_string_equal(h2, want);
	assert_int_equal(hashdb_reads(db), 1);		/* not read again */

	/* A new content with a new stat is read and seen. */
	put("a.txt", "alpha, longer\n");
	age("a.txt", 10);
	assert_int_equal(hashdb_hash(db, "a.txt", h2, &err), 1);
	assert_int_equal(hashdb_reads(db), 2);
	assert_string_not_equal(h1, h2);

	/* Missing is 0, not an error. */
	assert_int_equal(hashdb_hash(db, "nope.txt", h2, &err), 0);
	assert_null(err);
	hashdb_free(db);
}

static void
test_racy_record_is_rehashed(void **state)
{
	struct hashdb *db;
	char h[65], *err = NULL;

	(void)state;
	put("r.txt", "racy\n");		/* mtime: now */
	db = hashdb_new();
	assert_int_equal(hashdb_hash(db, "r.txt", h, &err), 1);
	assert_int_equal(hashdb_reads(db), 1);
	/* Same stat, but written within the granularity of the moment it
	 * was hashed: an edit in that tick would not show; read again. */
	assert_int_equal(hashdb_hash(db, "r.txt", h, &err), 1);
	assert_int_equal(hashdb_reads(db), 2);
	hashdb_free(db);

	/* A record of a write the store made itself is racy as well. */
	db = hashdb_new();
	sha256_hex("racy\n", 5, h);
	hashdb_record(db, "r.txt", h);
	assert_int_equal(hashdb_hash(db, "r.txt", h, &err), 1);
	assert_int_equal(hashdb_reads(db), 1);
	hashdb_free(db);
}

static void
test_save_and_load(void **state)
{
	struct hashdb *db;
	char h[65], want[65], *err = NULL;
	int i;

	(void)state;
	db = hashdb_new();
	for (i = 0; i < 50; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%d.txt", i);
		put(name, name);
		age(name, 10);
	}
	settle();
	for (i = 0; i < 50; i++) {
		char name[32];

		snprintf(name, sizeof(name), "f%d.txt", i);
		assert_int_equal(hashdb_hash(db, name, h, &err), 1);
	}
	assert_int_equal(hashdb_save(db, "hashes", NULL, NULL, &err), 0);
	hashdb_free(db);

	db = hashdb_new();
	assert_int_equal(hashdb_load(db, "hashes", &err), 0);
	assert_int_equal(hashdb_count(db), 50);
	assert_int_equal(hashdb_hash(db, "f7.txt", h, &err), 1);
	sha256_hex("f7.txt", 6, want);
	assert_string_equal(h, want);
	assert_int_equal(hashdb_reads(db), 0);		/* from the file */
	hashdb_free(db);
}

/* The path of the first record of the store at path. */
static char *
first_path(const char *path)
{
	struct buf b = { 0 };
	char *err = NULL, *p;
	uint32_t plen;

	assert_int_equal(file_read(path, &b, &err), 0);
	assert_true(b.len > 32 + 84);
	memcpy(&plen, b.data + 32 + 80, 4);
	p = xstrndup(b.data + 32 + 84, plen);
	buf_free(&b);
	return p;
}

/* Saved in the order of the run's lookups: looked up in another order
 * the answers are the same, and the store is rewritten in the new
 * order though nothing changed; looked up in its order it is not. */
static void
test_saved_in_lookup_order(void **state)
{
	struct hashdb *db;
	struct stat before, after;
	char h[65], want[65], name[32], *err = NULL, *first;
	int i, round;

	(void)state;
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "o%d.txt", i);
		put(name, name);
		age(name, 10);
	}
	settle();
	db = hashdb_new();
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "o%d.txt", i);
		assert_int_equal(hashdb_hash(db, name, h, &err), 1);
	}
	assert_int_equal(hashdb_save(db, "ordered", NULL, NULL, &err), 0);
	hashdb_free(db);
	first = first_path("ordered");
	assert_string_equal(first, "o0.txt");
	free(first);

	for (round = 0; round < 2; round++) {
		db = hashdb_new();
		assert_int_equal(hashdb_load(db, "ordered", &err), 0);
		for (i = 299; i >= 0; i--) {
			snprintf(name, sizeof(name), "o%d.txt", i);
			assert_int_equal(hashdb_hash(db, name, h, &err), 1);
			sha256_hex(name, strlen(name), want);
			assert_string_equal(h, want);
		}
		assert_int_equal(hashdb_reads(db), 0);
		assert_int_equal(stat("ordered", &before), 0);
		assert_int_equal(hashdb_save(db, "ordered", NULL, NULL, &err),
		    0);
		assert_int_equal(stat("ordered", &after), 0);
		first = first_path("ordered");
		assert_string_equal(first, "o299.txt");
		free(first);
		if (round == 0)		/* out of order: rewritten */
			assert_true(before.st_ino != after.st_ino);
		else			/* in order now: left alone */
			assert_true(before.st_ino == after.st_ino);
		assert_int_equal(hashdb_count(db), 300);
		hashdb_free(db);
	}
}

static void
test_damaged_file_is_refused(void **state)
{
	struct hashdb *db;
	struct buf b = { 0 };
	char h[65], *err = NULL;

	(void)state;
	put("g.txt", "g\n");
	age("g.txt", 10);
	settle();
	db = hashdb_new();
	assert_int_equal(hashdb_hash(db, "g.txt", h, &err), 1);
	assert_int_equal(hashdb_save(db, "h2", NULL, NULL, &err), 0);
	hashdb_free(db);

	/* One flipped byte in a record fails the checksum. */
	assert_int_equal(file_read("h2", &b, &err), 0);
	b.data[40] ^= 1;
	assert_int_equal(file_write_atomic("h2", b.data, b.len, 0, &err), 0);
	db = hashdb_new();
	assert_int_equal(hashdb_load(db, "h2", &err), -1);
	assert_non_null(strstr(err, "damaged"));
	free(err);
	err = NULL;
	assert_int_equal(hashdb_count(db), 0);
	hashdb_free(db);

	/* Another version is refused, not misread. */
	b.data[40] ^= 1;
	b.data[8] = 9;
	assert_int_equal(file_write_atomic("h2", b.data, b.len, 0, &err), 0);
	db = hashdb_new();
	assert_int_equal(hashdb_load(db, "h2", &err), -1);
	assert_non_null(strstr(err, "another format"));
	free(err);
	hashdb_free(db);
	buf_free(&b);

	/* A missing store is empty, not an error. */
	db = hashdb_new();
	assert_int_equal(hashdb_load(db, "none", &err), 0);
	hashdb_free(db);
}

/* A large store loads fast: 100,000 records, written here in the
 * documented layout.  The optimised build takes well under 100 ms
 * (make bench measures it); under the sanitizers, on a shared machine,
 * a second is allowed, which still catches anything quadratic. */
static void
test_large_store_loads_fast(void **state)
{
	struct hashdb *db;
	struct buf b = { 0 };
	unsigned char rec[84], sum[32];
	uint32_t version = HASHDB_VERSION, order = 0x01020304, plen;
	uint64_t count = 100000, zero = 0;
	char name[64], hex[65], h[65], *err = NULL;
	double t0, t1;
	int i, k;

	(void)state;
	buf_add(&b, "PMHASHDB", 8);
	buf_add(&b, &version, 4);
	buf_add(&b, &order, 4);
	buf_add(&b, &count, 8);
	buf_add(&b, &zero, 8);
	for (i = 0; i < 100000; i++) {
		int64_t t = (int64_t)1000000000 * (1700000000 + i);

		memset(rec, 0, sizeof(rec));
		memcpy(rec + 24, &t, 8);	/* mtime */
		memcpy(rec + 32, &t, 8);	/* ctime */
		t += (int64_t)1000000000 * 100;
		memcpy(rec + 40, &t, 8);	/* hashed */
		rec[48] = (unsigned char)i;
		plen = (uint32_t)snprintf(name, sizeof(name),
		    "src/dir%d/file%d.c", i % 100, i);
		memcpy(rec + 80, &plen, 4);
		buf_add(&b, rec, sizeof(rec));
		buf_add(&b, name, plen);
	}
	sha256_hex(b.data, b.len, hex);
	for (k = 0; k < 32; k++) {
		unsigned v;

		sscanf(hex + 2 * k, "%2x", &v);
		sum[k] = (unsigned char)v;
	}
	buf_add(&b, sum, 32);
	assert_int_equal(file_write_atomic("big", b.data, b.len, 0, &err), 0);
	buf_free(&b);

	db = hashdb_new();
	t0 = now_mono();
	assert_int_equal(hashdb_load(db, "big", &err), 0);
	t1 = now_mono();
	assert_int_equal(hashdb_count(db), 100000);
	print_message("# 100,000 records loaded in %.1f ms\n",
	    (t1 - t0) * 1000);
	assert_true(t1 - t0 < 1.0);
	/* A record whose file is not there is no hit. */
	assert_int_equal(hashdb_hash(db, "src/dir5/file5.c", h, &err), 0);
	hashdb_free(db);
}

/* A stat the caller took is used as given, not taken again: an old
 * one that matches the record gives the recorded hash without a read,
 * though the file changed since; without one the store stats the file
 * itself and sees the change. */
static void
test_hash_given_stat(void **state)
{
	struct filestat fs, old;
	struct hashdb *db;
	char h[65], want[65], *err = NULL;

	(void)state;
	put("m.txt", "memo\n");
	age("m.txt", 10);
	settle();
	db = hashdb_new();
	assert_int_equal(file_stat("m.txt", &old), 0);
	assert_int_equal(old.size, 5);
	assert_int_equal(hashdb_hash_stat(db, "m.txt", &old, h, &err), 1);
	sha256_hex("memo\n", 5, want);
	assert_string_equal(h, want);
	assert_int_equal(hashdb_reads(db), 1);
	assert_int_equal(hashdb_hash_stat(db, "m.txt", &old, h, &err), 1);
	assert_int_equal(hashdb_reads(db), 1);

	put("m.txt", "edited\n");
	age("m.txt", 5);
	settle();
	assert_int_equal(hashdb_hash_stat(db, "m.txt", &old, h, &err), 1);
	assert_string_equal(h, want);		/* the stat given rules */
	assert_int_equal(hashdb_reads(db), 1);
	assert_int_equal(hashdb_hash_stat(db, "m.txt", NULL, h, &err), 1);
	sha256_hex("edited\n", 7, want);
	assert_string_equal(h, want);
	assert_int_equal(hashdb_reads(db), 2);
	assert_int_equal(file_stat("m.txt", &fs), 0);
	assert_int_equal(fs.size, 7);
	assert_true(fs.mtime != old.mtime);
	assert_int_equal(hashdb_hash_stat(db, "m.txt", &fs, h, &err), 1);
	assert_string_equal(h, want);
	assert_int_equal(hashdb_reads(db), 2);

	assert_int_equal(hashdb_hash_stat(db, "nope", NULL, h, &err), 0);
	assert_int_equal(file_stat("nope", &fs), -1);
	hashdb_free(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unchanged_file_is_not_reread),
		cmocka_unit_test(test_racy_record_is_rehashed),
		cmocka_unit_test(test_save_and_load),
		cmocka_unit_test(test_saved_in_lookup_order),
		cmocka_unit_test(test_damaged_file_is_refused),
		cmocka_unit_test(test_large_store_loads_fast),
		cmocka_unit_test(test_hash_given_stat),
	};

	return cmocka_run_group_tests_name("hashdb", tests, group_setup,
	    group_teardown);
}
