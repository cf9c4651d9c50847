#!/bin/bash
# The OpenAI chat-completions wire: openai:MODEL with a bearer key, and
# ollama:MODEL with none; streamed, usage read with cached tokens apart,
# quota errors stopping the build, Ollama's silent prompt cut warned of.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
cat >Planfile <<'PF'
tier.cheap = openai:gpt-test
all: a.txt b.txt c.txt
.PHONY: all
a.txt: SPEC.md
	Write alpha.
b.txt: SPEC.md
	Write beta.
c.txt: SPEC.md
	Write gamma.
PF
cd "$top"

# field NAME: the values of NAME in the fake's log, one per line.
field() {
	python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.dumps(json.loads(l).get(sys.argv[2])))' "$T/fake.log" "$1"
}

cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "usage": {"prompt_tokens": 3000,
  "completion_tokens": 40, "prompt_tokens_details": {"cached_tokens": 2048}}},
 {"match": "Write beta", "times": 1, "stream_error": "server_error",
  "message": "upstream hiccup"},
 {"match": "Write gamma", "times": 1, "status": 429,
  "headers": {"retry-after": "0"}}]
JS
start_fake --script "$T/script.json"
pm -k
check "no OPENAI_API_KEY: exit 2" test $? -eq 2
check "no OPENAI_API_KEY: named, nothing asked" sh -c "grep -q 'OPENAI_API_KEY is not set' '$T/err' && [ \$(grep -c . '$T/fake.log') -eq 0 ]"
export OPENAI_API_KEY=sk-openai-test-not-secret
pm -v
check "openai: exit 0" test $? -eq 0
check "openai: every target written" \
    sh -c "for f in a b c; do grep -qx \"content for \$f.txt\" '$T/w/'\$f.txt || exit 1; done"
check "openai: POST /v1/chat/completions" \
    test "$(field path | sort -u)" = '"/v1/chat/completions"'
check "openai: a bearer key, no x-api-key" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    h = json.loads(l)["headers"]
    assert "authorization" in h and "x-api-key" not in h, h' "$T/fake.log"
check "openai: streamed with usage asked for" \
    test "$(field stream | sort -u)$(field include_usage | sort -u)" = truetrue
check "openai: a compatible server gets max_tokens" \
    test "$(field max_tokens_field | sort -u)" = '"max_tokens"'
check "openai: the model as given" test "$(field model | sort -u)" = '"gpt-test"'
check "openai: an error chunk in a 200 stream is retried" \
    test "$(requests_for b.txt)" -eq 2
check "openai: the error chunk is quoted" grep -q "'b.txt': openai: error event in the answer stream: server_error: upstream hiccup" "$T/err"
check "openai: a 429 is retried" test "$(requests_for c.txt)" -eq 2
check "openai: cached tokens are not counted twice" python3 -c '
import json, glob, sys
for f in glob.glob(sys.argv[1] + "/*/*.json"):
    e = json.load(open(f))
    if "content for a.txt" in e["answer"]:
        u = e["usage"]
        assert (u["input"], u["cache_read"], u["output"]) == (952, 2048, 40), u
        sys.exit(0)
sys.exit(1)' "$T/w/.planmake/cache"
check "openai: no price known: cost unknown" grep -q 'cost: cheap (gpt-test) unknown' "$T/err"
check "openai: the key reaches no file" \
    sh -c "! grep -rq sk-openai-test-not-secret '$T/w' '$T/err'"
stop_fake

# An exhausted quota stops the build.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/?.txt
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "status": 429, "code": "insufficient_quota",
  "error_type": "insufficient_quota",
  "message": "You exceeded your current quota, please check your plan and billing details."}]
JS
start_fake --script "$T/script.json"
pm -k -j1
check "insufficient_quota: exit 1" test $? -eq 1
check "insufficient_quota: one request, nothing more" test "$(requests)" -eq 1
check "insufficient_quota: the provider's words" grep -q "task 'a.txt' failed: openai: HTTP 429 insufficient_quota: You exceeded your current quota, please check your plan and billing details. (request req_fake_1); a spending limit or quota is used up" "$T/err"
check "insufficient_quota: the build stops" grep -q "stopping: openai refuses" "$T/err"
stop_fake

# Ollama: the same wire, no key, its own base URL; a prompt far larger
# than the tokens it reports is warned of.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/?.txt
python3 -c 'print("word " * 4000)' >"$T/w/SPEC.md"
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "usage": {"prompt_tokens": 2048}}]
JS
start_fake --script "$T/script.json"
export OLLAMA_BASE_URL=$OPENAI_BASE_URL
(cd "$T/w" && env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$PLANMAKE" \
    tier.cheap=ollama:llama3.2) >"$T/out" 2>"$T/err"
check "ollama: exit 0 without any key" test $? -eq 0
check "ollama: all written" sh -c "for f in a b c; do test -s '$T/w/'\$f.txt || exit 1; done"
check "ollama: the model as given" test "$(field model | sort -u)" = '"llama3.2"'
check "ollama: max_tokens" test "$(field max_tokens_field | sort -u)" = '"max_tokens"'
check "ollama: a cut prompt is warned of, once" test "$(grep -c "warning: 'a.txt': ollama reported 2048 prompt tokens for a request of [0-9]* bytes (about [0-9]* tokens): the server may have cut the prompt" "$T/err")" -eq 1
check "ollama: the others are not" sh -c "! grep -q \"warning: '[bc].txt'\" '$T/err'"
stop_fake
finish
