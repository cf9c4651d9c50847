/* Unit tests for the configuration file: endpoints, models and their
 * prices, tiers and settings; errors with their place. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static char	 dir[] = "/tmp/pm-config.XXXXXX";
static char	 path[4200];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/config.yaml", dir);
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("OPENAI_BASE_URL");
	unsetenv("OLLAMA_BASE_URL");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	config_free();
	unlink(path);
	return rmdir(dir);
}

/* Load text as the configuration: the return of config_load(). */
static int
load(const char *text, char **errp)
{
	char *err = NULL;

	assert_int_equal(file_write_atomic(path, text, strlen(text), 0, &err),
	    0);
	*errp = NULL;
	return config_load(path, errp);
}

static void
test_builtins(void **state)
{
	const struct endpoint *e;
	double r[NRATES];
	char *err;

	(void)state;
	assert_int_equal(config_load("/nonexistent/config.yaml", &err), 0);
	assert_null(config_path());
	e = config_endpoint("anthropic");
	assert_int_equal(e->wire, WIRE_ANTHROPIC);
	assert_string_equal(e->base, "https://api.anthropic.com");
	assert_string_equal(e->keyvar, "ANTHROPIC_API_KEY");
	assert_true(e->stream);
	e = config_endpoint("openai");
	assert_string_equal(e->base, "https://api.openai.com/v1");
	assert_string_equal(e->tokens_field, "max_completion_tokens");
	e = config_endpoint("ollama");
	assert_string_equal(e->base, "http://localhost:11434/v1");
	assert_null(e->keyvar);
	assert_string_equal(e->tokens_field, "max_tokens");
	assert_true(e->check_truncation);
	assert_int_equal(config_endpoint("cmd")->wire, WIRE_COMMAND);
	assert_null(config_endpoint("nope"));
	/* The environment moves a built-in endpoint the file left alone. */
	setenv("OLLAMA_BASE_URL", "http://gpu-box:11434/v1/", 1);
	assert_string_equal(config_endpoint("ollama")->base,
	    "http://gpu-box:11434/v1");
	unsetenv("OLLAMA_BASE_URL");
	assert_true(config_price("claude-haiku-4-5-20251001", r));
	assert_true(r[RATE_IN] == 1 && r[RATE_WRITE_5M] == 1.25 &&
	    r[RATE_WRITE_1H] == 2 && r[RATE_READ] == 0.10 && r[RATE_OUT] == 5);
	assert_false(config_price("gpt-4o", r));
	assert_true(config_prefill(WIRE_ANTHROPIC, "claude-haiku-4-5"));
	assert_false(config_prefill(WIRE_ANTHROPIC, "claude-sonnet-4-6"));
	assert_false(config_prefill(WIRE_OPENAI, "claude-haiku-4-5"));
	assert_true(config_is_credential("OPENAI_API_KEY"));
	assert_false(config_is_credential("HOME"));
}

static void
test_full_file(void **state)
{
	const struct endpoint *e;
	double r[NRATES];
	char *err;
	int line;

	(void)state;
	assert_int_equal(load(
	    "# a comment\n"
	    "tiers:\n"
	    "  cheap: local:qwen3\n"
	    "  review: anthropic:claude-opus-4-8\n"
	    "retries: 7\n"
	    "stall_timeout: 30\n"
	    "endpoints:\n"
	    "  local:\n"
	    "    wire: openai\n"
	    "    base: http://127.0.0.1:8080/v1/\n"
	    "    concurrency: 2\n"
	    "    requests_per_minute: 30\n"
	    "    stream: no\n"
	    "  router:\n"
	    "    wire: openai\n"
	    "    base: https://openrouter.ai/api/v1\n"
	    "    key_env: OPENROUTER_API_KEY\n"
	    "    max_tokens_field: max_completion_tokens\n"
	    "  claude:\n"
	    "    wire: command\n"
	    "    pass_env: [ANTHROPIC_API_KEY, CLAUDE_CONFIG_DIR]\n"
	    "  anthropic:\n"
	    "    concurrency: 4\n"
	    "models:\n"
	    "  qwen3:\n"
	    "    in: 0\n"
	    "    out: 0\n"
	    "  gpt-5*:\n"
	    "    in: 1.25\n"
	    "    cache_read: 0.125\n"
	    "    out: 10\n"
	    "  gpt-5-mini:\n"
	    "    in: 0.25\n"
	    "    out: 2\n"
	    "  claude-sonnet-4-6:\n"
	    "    prefill: true\n", &err), 0);
	assert_string_equal(config_path(), path);
	assert_string_equal(config_tier("cheap", NULL, NULL), "local:qwen3");
	assert_string_equal(config_tier("review", NULL, NULL),
	    "anthropic:claude-opus-4-8");
	assert_null(config_tier("strong", NULL, NULL));
	assert_string_equal(config_setting("retries", &line, NULL), "7");
	assert_int_equal(line, 5);
	assert_null(config_setting("continuations", &line, NULL));

	e = config_endpoint("local");
	assert_int_equal(e->wire, WIRE_OPENAI);
	assert_string_equal(e->base, "http://127.0.0.1:8080/v1");
	assert_int_equal(e->concurrency, 2);
	assert_true(e->rpm == 30);
	assert_false(e->stream);
	assert_null(e->keyvar);
	assert_string_equal(e->tokens_field, "max_tokens");
	e = config_endpoint("router");
	assert_string_equal(e->keyvar, "OPENROUTER_API_KEY");
	assert_string_equal(e->tokens_field, "max_completion_tokens");
	assert_true(config_is_credential("OPENROUTER_API_KEY"));
	e = config_endpoint("claude");
	assert_int_equal(e->wire, WIRE_COMMAND);
	assert_int_equal(e->npass_env, 2);
	assert_string_equal(e->pass_env[1], "CLAUDE_CONFIG_DIR");
	/* A built-in endpoint keeps what the file does not say. */
	e = config_endpoint("anthropic");
	assert_int_equal(e->concurrency, 4);
	assert_string_equal(e->base, "https://api.anthropic.com");
	assert_string_equal(e->keyvar, "ANTHROPIC_API_KEY");

	/* Prices: exact names, then the longest prefix; missing cache
	 * rates are the input rate; the built-ins still answer. */
	assert_true(config_price("qwen3", r) && r[RATE_OUT] == 0);
	assert_true(config_price("gpt-5-mini", r) && r[RATE_IN] == 0.25 &&
	    r[RATE_READ] == 0.25);
	assert_true(config_price("gpt-5.1", r) && r[RATE_IN] == 1.25 &&
	    r[RATE_READ] == 0.125 && r[RATE_WRITE_5M] == 1.25 &&
	    r[RATE_OUT] == 10);
	assert_false(config_price("qwen3-coder", r));
	assert_true(config_price("claude-opus-4-8", r) && r[RATE_OUT] == 25);
	assert_true(config_prefill(WIRE_ANTHROPIC, "claude-sonnet-4-6"));
	/* A model entry without prices does not hide the built-in ones. */
	assert_true(config_price("claude-sonnet-4-6", r) && r[RATE_IN] == 3);
}

/* The error for text, which must fail to load. */
static void
bad(const char *text, const char *want)
{
	char *err;

	assert_int_equal(load(text, &err), -1);
	if (strstr(err, want) == NULL)
		fail_msg("got '%s', want '%s'", err, want);
	free(err);
	/* A bad file leaves the built-ins in force. */
	assert_non_null(config_endpoint("anthropic"));
	assert_null(config_tier("cheap", NULL, NULL));
}

static void
test_errors(void **state)
{
	(void)state;
	bad("endpoints:\n  x:\n    bse: http://h\n", "unknown endpoint key "
	    "'bse'");
	bad("endpoints:\n  x:\n    wire: openai\n", "endpoint 'x' needs a "
	    "base URL");
	bad("endpoints:\n  x:\n    base: http://h\n", "endpoint 'x' needs a "
	    "wire");
	bad("endpoints:\n  x:\n    wire: grpc\n", ":3:11: error: unknown wire "
	    "'grpc'");
	bad("endpoints:\n  Bad Name:\n    wire: command\n", "bad endpoint name");
	bad("endpoints:\n  x:\n    wire: openai\n    base: ftp://h\n",
	    "base should be an http:// or https:// URL");
	bad("endpoints:\n  x:\n    wire: command\n    concurrency: 0\n",
	    ":4:18: error: concurrency should be a number from 1 to 10000");
	bad("endpoints:\n  x:\n    wire: command\n    key_env: 'A B'\n",
	    "'A B' is not a variable name");
	bad("models:\n  m:\n    in: 1\n", "model 'm' needs both 'in' and "
	    "'out' prices");
	bad("models:\n  m:\n    in: -1\n    out: 1\n", "in should be a number");
	bad("models:\n  m:\n    prefill: maybe\n", "prefill should be true "
	    "or false, not 'maybe'");
	bad("models:\n  m:\n    price: 3\n", "unknown model key 'price'");
	bad("tiers:\n  cheap: haiku\n", "tier cheap should be PROVIDER:MODEL");
	bad("retries: lots\n", ":1:10: error: retries should be a number");
	bad("tier:\n  cheap: a:b\n", ":1:1: error: unknown key 'tier'");
	bad("retries: 1\nretries: 2\n", "'retries' is given twice");
	bad("- a\n- b\n", "the configuration should be a mapping");
	bad("tiers: [\n", "error: did not find expected node content");
}

static void
test_default_path(void **state)
{
	char *p;

	(void)state;
	setenv("XDG_CONFIG_HOME", "/x/conf", 1);
	assert_non_null(p = config_default_path());
	assert_string_equal(p, "/x/conf/planmake/config.yaml");
	free(p);
	/* A relative XDG_CONFIG_HOME is to be ignored, as the spec says. */
	setenv("XDG_CONFIG_HOME", "rel", 1);
	setenv("HOME", "/home/u", 1);
	assert_non_null(p = config_default_path());
	assert_string_equal(p, "/home/u/.config/planmake/config.yaml");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	assert_non_null(p = config_default_path());
	assert_string_equal(p, "/home/u/.config/planmake/config.yaml");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtins),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_default_path),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
