/* Unit tests for the streamed request key: it must be byte for byte the
 * key of the canonical JSON text that jansson dumps (members sorted, no
 * white space), for every kind of string and number. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dag.h"
#include "keyhash.h"
#include "request.h"
#include "util.h"

/* The key as planmake 0.1 computed it: a jansson tree, dumped. */
static void
reference_key(const struct spec *s, const struct task *t, char out[65])
{
	json_t *root, *params, *inputs, *targets;
	char *text;
	size_t i;

	params = json_pack("{s:I}", "max_tokens", (json_int_t)s->max_tokens);
	if (s->has_temperature)
		json_object_set_new(params, "temperature",
		    json_real(s->temperature));
	inputs = json_array();
	for (i = 0; i < t->nins; i++)
		if (!t->ins[i]->phony)
			json_array_append_new(inputs, json_pack("[s,s]",
			    t->ins[i]->path, t->ins[i]->hash));
	targets = json_array();
	for (i = 0; i < t->nouts; i++)
		json_array_append_new(targets, json_string(t->outs[i]->path));
	root = json_pack("{s:i, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:o}",
	    "format", REQUEST_FORMAT, "provider", s->provider, "base",
	    s->base, "model", s->model, "params", params, "system", s->system,
	    "inputs", inputs, "prompt", s->prompt, "targets", targets);
	assert_non_null(root);
	if (s->nctx > 0) {
		json_t *context = json_array();

		for (i = 0; i < s->nctx; i++)
			json_array_append_new(context, json_pack("[s,s]",
			    s->ctxfiles[i], s->ctxhash[i]));
		json_object_set_new(root, "context", context);
	}
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	sha256_hex(text, strlen(text), out);
	free(text);
	json_decref(root);
}

static void
same_key(struct spec *s, struct task *t)
{
	char want[65], got[65];

	reference_key(s, t, want);
	keyhash_request(s, t, got);
	assert_string_equal(got, want);
}

static void
test_streamed_key_is_the_jansson_key(void **state)
{
	static const char *texts[] = {
		"", "plain", "quote \" and backslash \\ and slash /",
		"lines\nand\ttabs\r\n", "controls \x01\x02\x1f\x7f \b\f",
		"UTF-8: \xc3\xa9t\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80",
		"a very long line that goes on and on and on and on and on "
		"and on and on and on and on and on and on and on and on and"
		" on, longer than any buffer would be by accident",
	};
	static const double temps[] = { 0, 0.5, 1, 2, 0.7, 1e-05, 0.1 + 0.2,
	    1.0 / 3 };
	struct node in1 = { 0 }, in2 = { 0 }, ph = { 0 }, o1 = { 0 },
	    o2 = { 0 };
	struct node *ins[3] = { &in1, &ph, &in2 }, *outs[2] = { &o1, &o2 };
	struct task t = { 0 };
	struct spec s = { 0 };
	char *big;
	size_t i, j;

	(void)state;
	in1.path = "PLAN.md";
	sha256_hex("a", 1, in1.hash);
	in2.path = "dir/with space/\"odd\".md";
	sha256_hex("b", 1, in2.hash);
	ph.path = "phony-name";
	ph.phony = 1;
	o1.path = "out/a.txt";
	o2.path = "out/\xc3\xa9.txt";
	t.ins = ins;
	t.nins = 3;
	t.outs = outs;
	t.nouts = 2;
	s.provider = "anthropic";
	s.base = "http://127.0.0.1:8080";
	s.model = "claude-haiku-4-5";
	s.max_tokens = 16000;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		for (j = 0; j < sizeof(texts) / sizeof(texts[0]); j++) {
			s.system = (char *)texts[i];
			s.prompt = texts[j];
			same_key(&s, &t);
		}
	s.system = "sys";
	s.prompt = "Write it.";
	for (i = 0; i < sizeof(temps) / sizeof(temps[0]); i++) {
		s.has_temperature = 1;
		s.temperature = temps[i];
		same_key(&s, &t);
	}
	s.has_temperature = 0;
	s.max_tokens = 1;
	same_key(&s, &t);

	/* No inputs, one target; a prompt larger than any buffer. */
	t.nins = 0;
	t.nouts = 1;
	big = xmalloc(100001);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	big[5000] = '"';
	s.prompt = big;
	same_key(&s, &t);
	free(big);

	/* With context files, the member sorts after "base". */
	s.prompt = "Write it.";
	{
		char *files[2] = { "CONTEXT.md", "notes/\"q\".md" };
		char hashes[2][65];

		sha256_hex("c", 1, hashes[0]);
		sha256_hex("d", 1, hashes[1]);
		s.ctxfiles = files;
		s.ctxhash = hashes;
		s.nctx = 1;
		same_key(&s, &t);
		s.nctx = 2;
		same_key(&s, &t);
		s.ctxfiles = NULL;
		s.ctxhash = NULL;
		s.nctx = 0;
	}

	/* request_key() gives the same. */
	s.prompt = "p";
	request_key(&s, &t);
	{
		char want[65];

		reference_key(&s, &t, want);
		assert_string_equal(s.key, want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_streamed_key_is_the_jansson_key),
	};

	return cmocka_run_group_tests_name("keyhash", tests, NULL, NULL);
}
