/* Unit tests for batch: the records a killed run leaves behind. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "dag.h"
#include "util.h"

static int	ncalls;

static void
on_answer(void *arg, struct task *t, const char *key, const char *message,
    size_t len, const char *err, int retry)
{
	(void)key;
	(void)arg;
	(void)t;
	(void)message;
	(void)len;
	(void)err;
	(void)retry;
	ncalls++;
}

static void
put(const char *dir, const char *name, const char *text)
{
	char *path, *err = NULL;

	path = path_join(dir, name);
	assert_int_equal(file_write_atomic(path, text, strlen(text), 0, &err),
	    0);
	free(path);
}

static void
test_records(void **state)
{
	static const char *const files[] = {
		"msgbatch_a.json", "msgbatch_b.json", "notes.txt"
	};
	char dir[] = "/tmp/pm-batch.XXXXXX", *warn = NULL, *ids, *path;
	struct batches *bs;
	size_t i;
	struct task t;
	const char *k1 = "1111111111111111111111111111111111111111111111111111"
	    "111111111111";

	(void)state;
	assert_non_null(mkdtemp(dir));
	bs = batches_new(dir, 1, NULL, on_answer, NULL, &warn);	/* empty */
	assert_null(warn);
	assert_int_equal(batch_holds(bs, k1), 0);
	batches_free(bs);

	put(dir, "msgbatch_a.json", "{\"format\":1,\"id\":\"msgbatch_a\","
	    "\"base\":\"http://127.0.0.1:1\",\"keyvar\":\"ANTHROPIC_API_KEY\","
	    "\"requests\":[\"1111111111111111111111111111111111111111111111111"
	    "111111111111111\",\"2222\"]}");
	put(dir, "msgbatch_b.json", "{\"format\":9,\"id\":\"msgbatch_b\"}");
	put(dir, "notes.txt", "not a record");
	bs = batches_new(dir, 1, NULL, on_answer, NULL, &warn);
	assert_non_null(warn);
	assert_non_null(strstr(warn, "msgbatch_b.json is damaged"));
	free(warn);
	assert_int_equal(batch_holds(bs, k1), 1);
	assert_int_equal(batch_holds(bs, "2222"), 1);
	assert_int_equal(batch_holds(bs, "3333"), 0);
	assert_int_equal(batch_waiting(bs), 0);
	assert_null(batch_pending_ids(bs));	/* nobody waits on it */

	memset(&t, 0, sizeof(t));
	batch_claim(bs, k1, &t);
	assert_int_equal(ncalls, 0);		/* no answer yet */
	assert_int_equal(batch_waiting(bs), 1);
	assert_non_null(ids = batch_pending_ids(bs));
	assert_string_equal(ids, "msgbatch_a");
	free(ids);
	assert_int_equal(batch_owns(bs, &t), 0);
	assert_int_equal(batch_inflight(bs), 0);
	batches_free(bs);

	for (i = 0; i < 3; i++) {
		path = path_join(dir, files[i]);
		unlink(path);
		free(path);
	}
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records),
	};

	return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
