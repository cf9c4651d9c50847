/* Unit tests for the request key and body: what enters the key, what
 * stays out of it, and what the wire body carries. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dag.h"
#include "diag.h"
#include "parser.h"
#include "plan.h"
#include "request.h"
#include "util.h"

static char	 dir[] = "/tmp/pm-key.XXXXXX";
static char	 olddir[4096];

static int
group_setup(void **state)
{
	(void)state;
	if (getcwd(olddir, sizeof(olddir)) == NULL || mkdtemp(dir) == NULL ||
	    chdir(dir) == -1)
		return -1;
	diag_set_output(tmpfile());
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	unlink("spec.md");
	unlink("ctx.md");
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

/* The key of the task writing target in plan text, with spec.md holding
 * input and the command-line assignment arg applied (or none). */
static void
key_of(const char *text, const char *input, const char *arg,
    const char *target, char key[65])
{
	struct plan *p;
	struct dag *d;
	struct node *n;
	struct spec sp;
	char *err = NULL;
	size_t i;

	put("spec.md", input);
	p = plan_new();
	if (arg != NULL)
		assert_int_equal(plan_cmdline_var(p, arg), 0);
	assert_int_equal(parser_load_mem(p, "Planfile", text, strlen(text)),
	    0);
	assert_non_null(d = dag_build(p));
	assert_non_null(n = dag_find(d, target));
	assert_non_null(n->producer);
	for (i = 0; i < n->producer->nins; i++) {
		struct node *in = n->producer->ins[i];
		struct buf b = { 0 };

		assert_int_equal(file_read(in->path, &b, &err), 0);
		sha256_hex(b.data, b.len, in->hash);
		in->hashed = 1;
		buf_free(&b);
	}
	memset(&sp, 0, sizeof(sp));
	assert_int_equal(request_spec(&sp, p, n->producer, &err), 0);
	request_key(&sp, n->producer);
	memcpy(key, sp.key, 65);
	spec_clear(&sp);
	dag_free(d);
	plan_free(p);
}

#define BASE	"a.md: spec.md\n\tWrite a.\n"

static void
test_key_is_stable_hex(void **state)
{
	char k1[65], k2[65];
	size_t i;

	(void)state;
	key_of(BASE, "one\n", NULL, "a.md", k1);
	key_of(BASE, "one\n", NULL, "a.md", k2);
	assert_string_equal(k1, k2);
	assert_int_equal(strlen(k1), 64);
	for (i = 0; i < 64; i++)
		assert_non_null(strchr("0123456789abcdef", k1[i]));
}

static void
test_key_follows_prompt_input_model(void **state)
{
	char base[65], k[65];

	(void)state;
	key_of(BASE, "one\n", NULL, "a.md", base);
	key_of("a.md: spec.md\n\tWrite a!\n", "one\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of(BASE, "two\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of(BASE, "one\n", "tier.cheap=anthropic:claude-other", "a.md", k);
	assert_string_not_equal(base, k);
	key_of("a.md: tier = strong\n" BASE, "one\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of("max_tokens = 100\n" BASE, "one\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of("temperature = 0.5\n" BASE, "one\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	key_of("system = Be terse.\n" BASE, "one\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
	/* The target list is part of what is asked. */
	key_of("a.md b.md: spec.md\n\tWrite a.\n", "one\n", NULL, "a.md", k);
	assert_string_not_equal(base, k);
}

static void
test_key_ignores_credentials_and_comments(void **state)
{
	char base[65], k[65];

	(void)state;
	setenv("ANTHROPIC_API_KEY", "first", 1);
	key_of(BASE, "one\n", NULL, "a.md", base);
	setenv("ANTHROPIC_API_KEY", "second", 1);
	key_of(BASE, "one\n", NULL, "a.md", k);
	assert_string_equal(base, k);
	/* Comments, unrelated variables and other rules do not shape it. */
	key_of("# a comment\nUNUSED = 1\nb.md:\n\tWrite b.\n" BASE, "one\n",
	    NULL, "a.md", k);
	assert_string_equal(base, k);
	/* Setting the default explicitly is the same request. */
	key_of("a.md: tier = cheap\n" BASE, "one\n", NULL, "a.md", k);
	assert_string_equal(base, k);
}

/* The Anthropic body: model and max_tokens always, temperature only
 * when set, the plan's system text after planmake's own. */
static void
test_body_fields(void **state)
{
	struct plan *p;
	struct dag *d;
	struct spec sp;
	json_t *root, *msgs;
	json_error_t jerr;
	const char *sys, *user, *text;
	char *err = NULL, *body;

	(void)state;
	put("spec.md", "the spec\n");
	text = "system = Answer in French.\n" BASE;
	p = plan_new();
	assert_int_equal(parser_load_mem(p, "Planfile", text, strlen(text)),
	    0);
	assert_non_null(d = dag_build(p));
	memset(&sp, 0, sizeof(sp));
	assert_int_equal(request_spec(&sp, p, d->tasks[0], &err), 0);
	assert_non_null(body = request_body(&sp, d->tasks[0], &err));
	assert_non_null(root = json_loads(body, 0, &jerr));
	assert_string_equal(json_string_value(json_object_get(root, "model")),
	    "claude-haiku-4-5");
	assert_int_equal(json_integer_value(json_object_get(root,
	    "max_tokens")), DEFAULT_MAX_TOKENS);
	assert_null(json_object_get(root, "temperature"));
	sys = json_string_value(json_object_get(root, "system"));
	assert_non_null(sys);
	assert_non_null(strstr(sys, "Answer in French."));
	assert_true(strstr(sys, "Answer in French.") > sys);
	msgs = json_object_get(root, "messages");
	assert_int_equal(json_array_size(msgs), 1);
	user = json_string_value(json_object_get(json_array_get(msgs, 0),
	    "content"));
	assert_non_null(user);
	/* Inputs first, labelled by path; then the prompt; then targets. */
	assert_non_null(strstr(user, "File spec.md:\n```\nthe spec\n```"));
	assert_true(strstr(user, "the spec") < strstr(user, "Write a."));
	assert_non_null(strstr(user, "Files to write:\n- a.md\n"));
	json_decref(root);
	free(body);
	spec_clear(&sp);
	dag_free(d);
	plan_free(p);
}

/* An input over the limit or not UTF-8 fails before anything is sent. */
static void
test_body_refuses_bad_inputs(void **state)
{
	struct plan *p;
	struct dag *d;
	struct spec sp;
	char *err = NULL;
	const char *text = "max_input_bytes = 4\n" BASE;

	(void)state;
	put("spec.md", "12345\n");
	p = plan_new();
	assert_int_equal(parser_load_mem(p, "Planfile", text, strlen(text)),
	    0);
	assert_non_null(d = dag_build(p));
	memset(&sp, 0, sizeof(sp));
	assert_int_equal(request_spec(&sp, p, d->tasks[0], &err), 0);
	assert_null(request_body(&sp, d->tasks[0], &err));
	assert_non_null(strstr(err, "over the limit"));
	free(err);
	err = NULL;
	put("spec.md", "\xff\n");
	assert_null(request_body(&sp, d->tasks[0], &err));
	assert_non_null(strstr(err, "not UTF-8"));
	free(err);
	spec_clear(&sp);
	dag_free(d);
	plan_free(p);
}

/* The context files enter the key by content; the cache marker does
 * not enter it at all. */
static void
test_key_follows_context_not_marker(void **state)
{
	char base[65], ctx[65], k[65];

	(void)state;
	put("ctx.md", "shared context\n");
	key_of(BASE, "one\n", NULL, "a.md", base);
	key_of("context = ctx.md\n" BASE, "one\n", NULL, "a.md", ctx);
	assert_string_not_equal(base, ctx);
	key_of("context = ./ctx.md  ctx.md\n" BASE, "one\n", NULL, "a.md", k);
	assert_string_equal(ctx, k);	/* the same file, once */
	key_of("context = ctx.md\n" BASE, "one\n", "cache_min_tokens=0",
	    "a.md", k);
	assert_string_equal(ctx, k);
	key_of("context = ctx.md\n" BASE, "one\n", "cache_min_tokens=99999",
	    "a.md", k);
	assert_string_equal(ctx, k);
	put("ctx.md", "other context\n");
	key_of("context = ctx.md\n" BASE, "one\n", NULL, "a.md", k);
	assert_string_not_equal(ctx, k);
}

/* The body of the first task of plan text: parsed JSON, and the spec
 * in *sp (cleared by the caller). */
static json_t *
body_of(const char *text, struct spec *sp, struct plan **pp,
    struct dag **dp)
{
	json_error_t jerr;
	char *err = NULL, *body;
	json_t *root;

	*pp = plan_new();
	assert_int_equal(parser_load_mem(*pp, "Planfile", text, strlen(text)),
	    0);
	assert_non_null(*dp = dag_build(*pp));
	memset(sp, 0, sizeof(*sp));
	assert_int_equal(request_spec(sp, *pp, (*dp)->tasks[0], &err), 0);
	assert_non_null(body = request_body(sp, (*dp)->tasks[0], &err));
	assert_non_null(root = json_loads(body, 0, &jerr));
	free(body);
	return root;
}

static void
test_body_context_and_cache_marker(void **state)
{
	struct plan *p;
	struct dag *d;
	struct spec sp;
	json_t *root, *sys, *b0, *b1, *cc;
	const char *user;
	char *dumped;

	(void)state;
	put("spec.md", "the spec\n");
	put("ctx.md", "shared context\n");

	/* Over the minimum: two system blocks, the last one marked. */
	root = body_of("cache_min_tokens = 10\ncontext = ctx.md\n"
	    "a.md: spec.md ctx.md\n\tWrite a.\n", &sp, &p, &d);
	assert_true(sp.cache_mark);
	assert_int_equal(sp.cache_min, 10);
	sys = json_object_get(root, "system");
	assert_true(json_is_array(sys));
	assert_int_equal(json_array_size(sys), 2);
	b0 = json_array_get(sys, 0);
	b1 = json_array_get(sys, 1);
	assert_null(json_object_get(b0, "cache_control"));
	assert_non_null(strstr(json_string_value(json_object_get(b0, "text")),
	    "fenced"));
	assert_string_equal(json_string_value(json_object_get(b1, "text")),
	    "File ctx.md:\n```\nshared context\n```\n\n");
	cc = json_object_get(b1, "cache_control");
	assert_string_equal(json_string_value(json_object_get(cc, "type")),
	    "ephemeral");
	/* A context file that is also a prerequisite is sent once. */
	user = json_string_value(json_object_get(json_array_get(
	    json_object_get(root, "messages"), 0), "content"));
	assert_null(strstr(user, "shared context"));
	assert_non_null(strstr(user, "the spec"));
	json_decref(root);
	spec_clear(&sp);
	dag_free(d);
	plan_free(p);

	/* Below the minimum (Haiku 4.5: 4096 tokens): no marker. */
	root = body_of("context = ctx.md\n" BASE, &sp, &p, &d);
	assert_false(sp.cache_mark);
	assert_int_equal(sp.cache_min, 4096);
	sys = json_object_get(root, "system");
	assert_int_equal(json_array_size(sys), 2);
	assert_null(json_object_get(json_array_get(sys, 1), "cache_control"));
	json_decref(root);
	spec_clear(&sp);
	dag_free(d);
	plan_free(p);

	/* No context, a marked system text: one block, marked. */
	root = body_of("cache_min_tokens = 0\n" BASE, &sp, &p, &d);
	sys = json_object_get(root, "system");
	assert_int_equal(json_array_size(sys), 1);
	assert_non_null(json_object_get(json_array_get(sys, 0),
	    "cache_control"));
	json_decref(root);
	spec_clear(&sp);
	dag_free(d);
	plan_free(p);

	/* OpenAI: one system message holding the context, no marker. */
	root = body_of("tier.cheap = openai:gpt-x\ncache_min_tokens = 0\n"
	    "context = ctx.md\n" BASE, &sp, &p, &d);
	assert_false(sp.cache_mark);
	sys = json_array_get(json_object_get(root, "messages"), 0);
	assert_string_equal(json_string_value(json_object_get(sys, "role")),
	    "system");
	assert_non_null(strstr(json_string_value(json_object_get(sys,
	    "content")), "shared context"));
	dumped = json_dumps(root, 0);
	assert_null(strstr(dumped, "cache_control"));
	free(dumped);
	json_decref(root);
	spec_clear(&sp);
	dag_free(d);
	plan_free(p);
}

/* A context file that cannot be read is an error at the setting: the
 * graph takes context files as inputs of every task. */
static void
test_context_errors(void **state)
{
	struct plan *p;
	const char *text = "context = nope.md\n" BASE;
	int before;

	(void)state;
	p = plan_new();
	assert_int_equal(parser_load_mem(p, "Planfile", text, strlen(text)),
	    0);
	before = diag_nerrors();
	assert_null(dag_build(p));
	assert_int_equal(diag_nerrors(), before + 1);
	plan_free(p);
}

static void
test_cache_min_table(void **state)
{
	(void)state;
	assert_int_equal(request_cache_min("claude-haiku-4-5-20251001", -1),
	    4096);
	assert_int_equal(request_cache_min("claude-sonnet-4-5", -1), 1024);
	assert_int_equal(request_cache_min("claude-opus-4-7", -1), 2048);
	assert_int_equal(request_cache_min("claude-opus-4-1", -1), 1024);
	assert_int_equal(request_cache_min("claude-opus-5", -1), 512);
	assert_int_equal(request_cache_min("something-else", -1), 1024);
	assert_int_equal(request_cache_min("claude-haiku-4-5", 300), 300);
}

/* How to ask is not what is asked: retries, timeouts and continuation
 * rounds stay out of the key; the provider and its base URL go in. */
static void
test_key_settings_and_endpoint(void **state)
{
	char base[65], k[65];

	(void)state;
	unsetenv("OPENAI_BASE_URL");
	key_of(BASE, "one\n", NULL, "a.md", base);
	key_of("retries = 9\nretry_max_wait = 1\nconnect_timeout = 3\n"
	    "stall_timeout = 5\ncontinuations = 0\n" BASE, "one\n", NULL,
	    "a.md", k);
	assert_string_equal(base, k);
	key_of(BASE, "one\n", "tier.cheap=openai:claude-haiku-4-5", "a.md",
	    base);
	key_of(BASE, "one\n", "tier.cheap=ollama:claude-haiku-4-5", "a.md", k);
	assert_string_not_equal(base, k);
	setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1", 1);
	key_of(BASE, "one\n", "tier.cheap=openai:claude-haiku-4-5", "a.md", k);
	assert_string_not_equal(base, k);
	unsetenv("OPENAI_BASE_URL");
}

/* The spec of the only task of a one-rule plan, with arg applied. */
static void
spec_of(const char *arg, struct plan **pp, struct dag **dp, struct spec *sp)
{
	char *err = NULL;

	put("spec.md", "the spec\n");
	*pp = plan_new();
	if (arg != NULL)
		assert_int_equal(plan_cmdline_var(*pp, arg), 0);
	assert_int_equal(parser_load_mem(*pp, "Planfile", BASE, strlen(BASE)),
	    0);
	assert_non_null(*dp = dag_build(*pp));
	memset(sp, 0, sizeof(*sp));
	assert_int_equal(request_spec(sp, *pp, (*dp)->tasks[0], &err), 0);
}

static void
spec_done(struct plan *p, struct dag *d, struct spec *sp)
{
	spec_clear(sp);
	dag_free(d);
	plan_free(p);
}

/* The OpenAI wire: the output limit as the endpoint wants it, a stream
 * with usage; the Anthropic wire streams without stream_options. */
static void
test_body_wires(void **state)
{
	struct plan *p;
	struct dag *d;
	struct spec sp;
	json_t *root;
	char *body;

	(void)state;
	unsetenv("OPENAI_BASE_URL");
	spec_of("tier.cheap=openai:gpt-x", &p, &d, &sp);
	body = request_wire_body(&sp, "hi", NULL);
	assert_non_null(root = json_loads(body, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(root,
	    "max_completion_tokens")), DEFAULT_MAX_TOKENS);
	assert_null(json_object_get(root, "max_tokens"));
	assert_true(json_is_true(json_object_get(root, "stream")));
	assert_true(json_is_true(json_object_get(json_object_get(root,
	    "stream_options"), "include_usage")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(root, "messages"), 0), "role")), "system");
	json_decref(root);
	free(body);
	spec_done(p, d, &sp);

	setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/", 1);
	spec_of("tier.cheap=openai:gpt-x", &p, &d, &sp);
	assert_string_equal(sp.base, "http://127.0.0.1:9/v1");
	body = request_wire_body(&sp, "hi", NULL);
	assert_non_null(root = json_loads(body, 0, NULL));
	assert_non_null(json_object_get(root, "max_tokens"));
	assert_null(json_object_get(root, "max_completion_tokens"));
	json_decref(root);
	free(body);
	spec_done(p, d, &sp);
	unsetenv("OPENAI_BASE_URL");

	spec_of(NULL, &p, &d, &sp);
	body = request_wire_body(&sp, "hi", NULL);
	assert_non_null(root = json_loads(body, 0, NULL));
	assert_true(json_is_true(json_object_get(root, "stream")));
	assert_null(json_object_get(root, "stream_options"));
	json_decref(root);
	free(body);
	spec_done(p, d, &sp);
}

/* A continuation sends the partial answer back without its trailing
 * white space, then a user turn unless the model takes a prefill. */
static void
test_body_continuation(void **state)
{
	struct plan *p;
	struct dag *d;
	struct spec sp;
	json_t *root, *msgs;
	char *body;

	(void)state;
	spec_of(NULL, &p, &d, &sp);	/* claude-haiku-4-5: prefill */
	assert_true(sp.prefill);
	body = request_wire_body(&sp, "hi", "a.md\n```\npart \n\n");
	assert_non_null(root = json_loads(body, 0, NULL));
	msgs = json_object_get(root, "messages");
	assert_int_equal(json_array_size(msgs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    msgs, 1), "role")), "assistant");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    msgs, 1), "content")), "a.md\n```\npart");
	json_decref(root);
	free(body);
	spec_done(p, d, &sp);

	spec_of("tier.cheap=anthropic:claude-sonnet-4-6", &p, &d, &sp);
	assert_false(sp.prefill);
	body = request_wire_body(&sp, "hi", "a.md\n```\npart\n");
	assert_non_null(root = json_loads(body, 0, NULL));
	msgs = json_object_get(root, "messages");
	assert_int_equal(json_array_size(msgs), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    msgs, 2), "role")), "user");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    msgs, 2), "content")), request_continue_text);
	json_decref(root);
	free(body);
	spec_done(p, d, &sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_is_stable_hex),
		cmocka_unit_test(test_key_follows_prompt_input_model),
		cmocka_unit_test(test_key_ignores_credentials_and_comments),
		cmocka_unit_test(test_body_fields),
		cmocka_unit_test(test_body_refuses_bad_inputs),
		cmocka_unit_test(test_key_follows_context_not_marker),
		cmocka_unit_test(test_body_context_and_cache_marker),
		cmocka_unit_test(test_context_errors),
		cmocka_unit_test(test_cache_min_table),
		cmocka_unit_test(test_key_settings_and_endpoint),
		cmocka_unit_test(test_body_wires),
		cmocka_unit_test(test_body_continuation),
	};

	return cmocka_run_group_tests_name("key", tests, group_setup,
	    group_teardown);
}
