/* Unit tests for request: each component of the key on its own (it must
 * change the key), each thing that must stay out of it (it must not), the
 * canonical form byte for byte, and the parameters of the body. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dag.h"
#include "diag.h"
#include "extract.h"
#include "parser.h"
#include "plan.h"
#include "request.h"
#include "util.h"

static char	 dir[] = "/tmp/pm-request.XXXXXX";
static char	 olddir[4096];

static int
group_setup(void **state)
{
	(void)state;
	if (getcwd(olddir, sizeof(olddir)) == NULL || mkdtemp(dir) == NULL ||
	    chdir(dir) == -1)
		return -1;
	diag_set_output(tmpfile());
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("OPENAI_BASE_URL");
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	unlink("spec.md");
	unlink("other.md");
	unlink("x.md");
	unlink("y.md");
	if (chdir(olddir) == -1 || rmdir(dir) == -1)
		return -1;
	return 0;
}

static void
put(const char *path, const char *text)
{
	char *err = NULL;

	assert_int_equal(file_write_atomic(path, text, strlen(text), 0, &err),
	    0);
}

/* A loaded plan, its graph and the spec of the task making target. */
struct fixture {
	struct plan	*p;
	struct dag	*d;
	struct task	*t;
	struct spec	 sp;
};

static void
load(struct fixture *f, const char *text, const char *arg,
    const char *target)
{
	struct node *n;
	char *err = NULL;
	size_t i;

	memset(f, 0, sizeof(*f));
	f->p = plan_new();
	if (arg != NULL)
		assert_int_equal(plan_cmdline_var(f->p, arg), 0);
	assert_int_equal(parser_load_mem(f->p, "Planfile", text,
	    strlen(text)), 0);
	assert_non_null(f->d = dag_build(f->p));
	assert_non_null(n = dag_find(f->d, target));
	assert_non_null(f->t = n->producer);
	for (i = 0; i < f->t->nins; i++) {
		struct node *in = f->t->ins[i];
		struct buf b = { 0 };

		assert_int_equal(file_read(in->path, &b, &err), 0);
		sha256_hex(b.data ? b.data : "", b.len, in->hash);
		in->hashed = 1;
		buf_free(&b);
	}
	if (request_spec(&f->sp, f->p, f->t, &err) != 0)
		fail_msg("request_spec: %s", err);
}

static void
unload(struct fixture *f)
{
	spec_clear(&f->sp);
	dag_free(f->d);
	plan_free(f->p);
}

/* The key of the task writing target; arg is a command-line assignment
 * or NULL. */
static void
key_of(const char *text, const char *arg, const char *target, char key[65])
{
	struct fixture f;

	load(&f, text, arg, target);
	request_key(&f.sp, f.t);
	memcpy(key, f.sp.key, 65);
	unload(&f);
}

#define BASE	"a.md: spec.md\n\tWrite a.\n"

/* The key is the SHA-256 of the canonical form the man page describes:
 * a JSON object, keys sorted, no white space, with a format version. */
static void
test_key_canonical_form(void **state)
{
	char key[65], want[65], sum[65], *canon;

	(void)state;
	put("spec.md", "one\n");
	sha256_hex("one\n", 4, sum);
	xasprintf(&canon, "{\"base\":\"https://api.anthropic.com\","
	    "\"format\":%d,\"inputs\":[[\"spec.md\",\"%s\"]],"
	    "\"model\":\"claude-haiku-4-5\",\"params\":{\"max_tokens\":16000},"
	    "\"prompt\":\"Write a.\",\"provider\":\"anthropic\","
	    "\"system\":\"%s\",\"targets\":[\"a.md\"]}", REQUEST_FORMAT, sum,
	    extract_instructions());
	sha256_hex(canon, strlen(canon), want);
	free(canon);
	key_of(BASE, NULL, "a.md", key);
	assert_string_equal(key, want);
}

/* Each component of the request changes the key, alone. */
static void
test_key_components_in(void **state)
{
	char base[65], k[65];

	(void)state;
	put("spec.md", "one\n");
	put("other.md", "one\n");
	put("x.md", "x\n");
	put("y.md", "y\n");
	key_of(BASE, NULL, "a.md", base);

	/* The provider alone: the same model and URL on another wire. */
	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9", 1);
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:9", 1);
	key_of(BASE, NULL, "a.md", base);
	key_of(BASE, "tier.cheap=openai:claude-haiku-4-5", "a.md", k);
	assert_string_not_equal(base, k);
	/* The base URL alone. */
	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:10", 1);
	key_of(BASE, NULL, "a.md", k);
	assert_string_not_equal(base, k);
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("OPENAI_BASE_URL");
	key_of(BASE, NULL, "a.md", base);

	/* The model, through the tier, a setting or the command line. */
	key_of(BASE, "tier.cheap=anthropic:claude-haiku-4-5-20251001", "a.md",
	    k);
	assert_string_not_equal(base, k);
	key_of("a.md: model = claude-other\n" BASE, NULL, "a.md", k);
	assert_string_not_equal(base, k);
	/* Generation parameters. */
	key_of("max_tokens = 16001\n" BASE, NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of("temperature = 1\n" BASE, NULL, "a.md", k);
	assert_string_not_equal(base, k);
	/* The system text. */
	key_of("system = x\n" BASE, NULL, "a.md", k);
	assert_string_not_equal(base, k);
	/* An input's path alone (same content), and its content alone. */
	key_of("a.md: other.md\n\tWrite a.\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	put("spec.md", "one!\n");
	key_of(BASE, NULL, "a.md", k);
	assert_string_not_equal(base, k);
	put("spec.md", "one\n");
	/* The order of inputs is the order they are sent in. */
	key_of("a.md: x.md y.md\n\tWrite a.\n", NULL, "a.md", base);
	key_of("a.md: y.md x.md\n\tWrite a.\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of(BASE, NULL, "a.md", base);
	/* The prompt, by one byte. */
	key_of("a.md: spec.md\n\tWrite a!\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	/* The target list: another target, and another name. */
	key_of("a.md b.md: spec.md\n\tWrite a.\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of("c.md: spec.md\n\tWrite a.\n", NULL, "c.md", k);
	assert_string_not_equal(base, k);
}

/* What is not part of the request as sent stays out of the key. */
static void
test_key_components_out(void **state)
{
	char base[65], k[65];

	(void)state;
	put("spec.md", "one\n");
	unsetenv("ANTHROPIC_API_KEY");
	unsetenv("OPENAI_API_KEY");
	key_of(BASE, NULL, "a.md", base);
	/* Credentials. */
	setenv("ANTHROPIC_API_KEY", "sk-ant-secret", 1);
	setenv("OPENAI_API_KEY", "sk-secret", 1);
	key_of(BASE, NULL, "a.md", k);
	assert_string_equal(base, k);
	/* The tier's name: another tier with the same model. */
	key_of("tier.big = anthropic:claude-haiku-4-5\na.md: tier = big\n"
	    BASE, NULL, "a.md", k);
	assert_string_equal(base, k);
	/* The default written out, on the command line. */
	key_of(BASE, "tier.cheap=anthropic:claude-haiku-4-5", "a.md", k);
	assert_string_equal(base, k);
	key_of(BASE, "max_tokens=16000", "a.md", k);
	assert_string_equal(base, k);
	/* A trailing slash on the base URL is the same endpoint. */
	setenv("ANTHROPIC_BASE_URL", "https://api.anthropic.com/", 1);
	key_of(BASE, NULL, "a.md", k);
	assert_string_equal(base, k);
	unsetenv("ANTHROPIC_BASE_URL");
	/* The input size limit is a check, not part of what is sent. */
	key_of("max_input_bytes = 100\n" BASE, NULL, "a.md", k);
	assert_string_equal(base, k);
	/* An input's file time: rewriting the same bytes. */
	put("spec.md", "one\n");
	key_of(BASE, NULL, "a.md", k);
	assert_string_equal(base, k);
}

/* The body carries the max_tokens setting and a temperature only when
 * one is set; the key ends up in no part of it. */
static void
test_body_params(void **state)
{
	struct fixture f;
	json_t *root;
	char *err = NULL, *body;

	(void)state;
	put("spec.md", "one\n");
	load(&f, "max_tokens = 123\ntemperature = 0.25\n" BASE, NULL, "a.md");
	assert_non_null(body = request_body(&f.sp, f.t, &err));
	assert_non_null(root = json_loads(body, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(root,
	    "max_tokens")), 123);
	assert_true(json_real_value(json_object_get(root, "temperature")) ==
	    0.25);
	/* Anthropic answers stream, so a stall shows. */
	assert_true(json_is_true(json_object_get(root, "stream")));
	json_decref(root);
	free(body);
	unload(&f);

	load(&f, BASE, "max_tokens=77", "a.md");
	assert_non_null(body = request_body(&f.sp, f.t, &err));
	assert_non_null(root = json_loads(body, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(root,
	    "max_tokens")), 77);
	assert_null(json_object_get(root, "temperature"));
	assert_null(json_object_get(root, "top_p"));
	json_decref(root);
	free(body);
	unload(&f);
}

/* A model spec splits at its first colon: the model may hold colons. */
static void
test_model_colon(void **state)
{
	struct fixture f;

	(void)state;
	put("spec.md", "one\n");
	load(&f, BASE, "tier.cheap=ollama:llama3.2:3b", "a.md");
	assert_string_equal(f.sp.provider, "ollama");
	assert_string_equal(f.sp.model, "llama3.2:3b");
	unload(&f);
	load(&f, "tier.cheap = anthropic:a:b:c\n" BASE, NULL, "a.md");
	assert_string_equal(f.sp.provider, "anthropic");
	assert_string_equal(f.sp.model, "a:b:c");
	unload(&f);
	/* The command line wins over the plan. */
	load(&f, "tier.cheap = openai:plan-model\n" BASE,
	    "tier.cheap=anthropic:cli-model", "a.md");
	assert_string_equal(f.sp.provider, "anthropic");
	assert_string_equal(f.sp.model, "cli-model");
	unload(&f);
	/* The defaults. */
	load(&f, "a.md: tier = strong\n" BASE, NULL, "a.md");
	assert_string_equal(f.sp.tier, "strong");
	assert_string_equal(f.sp.provider, "anthropic");
	assert_string_equal(f.sp.model, "claude-sonnet-4-5");
	unload(&f);
	load(&f, BASE, NULL, "a.md");
	assert_string_equal(f.sp.tier, "cheap");
	assert_string_equal(f.sp.model, "claude-haiku-4-5");
	assert_int_equal(f.sp.max_tokens, 16000);
	assert_int_equal(f.sp.has_temperature, 0);
	unload(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_canonical_form),
		cmocka_unit_test(test_key_components_in),
		cmocka_unit_test(test_key_components_out),
		cmocka_unit_test(test_body_params),
		cmocka_unit_test(test_model_colon),
	};

	return cmocka_run_group_tests_name("request", tests, group_setup,
	    group_teardown);
}
