#!/bin/bash
# The user's configuration, $XDG_CONFIG_HOME/planmake/config.yaml: named
# endpoints, default tiers and settings, prices and per-model flags, and
# what overrides it (the plan, then the command line).
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w" "$XDG_CONFIG_HOME/planmake"
CONF=$XDG_CONFIG_HOME/planmake/config.yaml
cd "$T/w"
echo 'spec' >SPEC.md
cat >Planfile <<'PF'
all: a.txt b.txt c.txt d.txt
.PHONY: all
a.txt: SPEC.md
	Write alpha.
b.txt: SPEC.md
	Write beta.
c.txt: SPEC.md
	Write gamma.
d.txt: SPEC.md
	Write delta.
PF
cd "$top"
field() {
	python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.dumps(json.loads(l).get(sys.argv[2])))' "$T/fake.log" "$1"
}
clean() { rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/?.txt; }

start_fake --delay-ms 200
cat >"$CONF" <<YML
tiers:
  cheap: fake:house-model
endpoints:
  fake:
    wire: anthropic
    base: $ANTHROPIC_BASE_URL
    key_env: FAKE_KEY
    concurrency: 1
models:
  house-model:
    in: 2
    out: 10
YML
pm -j8
check "config endpoint: its key variable is required" \
    sh -c "[ $? -eq 2 ] && grep -q 'FAKE_KEY is not set' '$T/err'"
export FAKE_KEY=fake-key-secret
t0=$(date +%s.%N)
pm -j8
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
check "config endpoint and tier: exit 0" test $st -eq 0
check "config tier: the model asked" test "$(field model | sort -u)" = '"house-model"'
check "concurrency 1 at -j8: one request at a time ($el s)" python3 -c '
import json, sys
rs = sorted((r["t_start"], r["t"]) for r in map(json.loads, open(sys.argv[1])))
assert len(rs) == 4
assert all(b[0] >= a[1] - 0.01 for a, b in zip(rs, rs[1:])), rs' "$T/fake.log"
check "config prices: the cost is shown" grep -q 'cost: cheap (house-model) \$0\.00[0-9]*; total' "$T/err"
check "the key reaches no file" sh -c "! grep -rq fake-key-secret '$T/w' '$T/err'"
check "-t list shows the config's tier" \
    sh -c "cd '$T/w' && '$PLANMAKE' -t list | grep -q '^a.txt	cheap	fake:house-model$'"

# The plan overrides the config, the command line overrides both.
clean
: >"$T/fake.log"
sed -i '1i tier.cheap = fake:plan-model' "$T/w/Planfile"
pm a.txt
check "the plan's tier wins over the config's" \
    test "$(field model | sort -u)" = '"plan-model"'
check "a model without a price: cost unknown" grep -q 'cheap (plan-model) unknown' "$T/err"
clean
: >"$T/fake.log"
pm a.txt tier.cheap=fake:line-model
check "the command line wins over the plan" \
    test "$(field model | sort -u)" = '"line-model"'
sed -i '1d' "$T/w/Planfile"

# Settings: the config gives defaults, the command line overrides them.
clean
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "status": 500}]
JS
stop_fake
start_fake --script "$T/script.json"
cat >"$CONF" <<YML
retries: 0
continuations: 0
endpoints:
  anthropic:
    base: $ANTHROPIC_BASE_URL
YML
: >"$T/fake.log"
pm a.txt
check "config retries: 0: one try" test "$(requests_for a.txt)" -eq 1
: >"$T/fake.log"
pm a.txt retries=1
check "retries=1 on the command line wins: two tries" \
    test "$(requests_for a.txt)" -eq 2

# An endpoint that does not stream; a plain body cut short is retried;
# max_tokens_field; a prefill flag for a model.
clean
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "times": 1, "cut": 40},
 {"match": "Write beta", "chunk": 40}]
JS
cat >"$CONF" <<YML
endpoints:
  plain:
    wire: anthropic
    base: $ANTHROPIC_BASE_URL
    key_env: FAKE_KEY
    stream: false
  compat:
    wire: openai
    base: $OPENAI_BASE_URL
    max_tokens_field: max_completion_tokens
models:
  claude-sonnet-4-6:
    prefill: true
YML
: >"$T/fake.log"
pm a.txt b.txt tier.cheap=plain:claude-sonnet-4-6
check "stream: false: exit 0" test $? -eq 0
check "stream: false: plain requests" test "$(field stream | sort -u)" = false
check "a plain body cut short is retried" test "$(requests_for a.txt)" -eq 2
check "prefill: true in the config: the partial answer is the last turn" \
    python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs = [r for r in rs if "b.txt" in r["targets"]]
assert len(rs) >= 2 and rs[1]["roles"] == ["user", "assistant"], rs' "$T/fake.log"
check "prefill: the file is whole" grep -qx 'content for b.txt' "$T/w/b.txt"
clean
: >"$T/fake.log"
pm a.txt tier.cheap=compat:gpt-test
check "max_tokens_field from the config" \
    test "$(field max_tokens_field | sort -u)" = '"max_completion_tokens"'
check "an endpoint without key_env needs no key" test -s "$T/w/a.txt"

# requests_per_minute spaces the starts.
clean
cat >"$CONF" <<YML
endpoints:
  slow:
    wire: anthropic
    base: $ANTHROPIC_BASE_URL
    requests_per_minute: 150
YML
: >"$T/fake.log"
pm -j4 tier.cheap=slow:claude-haiku-4-5
check "requests_per_minute 150: starts 0.4 s apart" python3 -c '
import json, sys
ts = sorted(r["t_start"] for r in map(json.loads, open(sys.argv[1])))
assert len(ts) == 4 and all(b - a >= 0.35 for a, b in zip(ts, ts[1:])), ts' "$T/fake.log"

# A bad config stops everything before anything is asked.
clean
printf 'endpoints:\n  x:\n    wire: grpc\n' >"$CONF"
: >"$T/fake.log"
pm
check "bad config: exit 2" test $? -eq 2
check "bad config: file:line:col: error:" \
    grep -qx "$CONF:3:11: error: unknown wire 'grpc' (known: anthropic, openai, command)" "$T/err"
check "bad config: nothing asked" test "$(requests)" -eq 0
printf 'tiers:\n  cheap: nowhere:model\n' >"$CONF"
pm
check "a tier on an unknown endpoint names the known ones" \
    grep -q "unknown provider 'nowhere' (known: anthropic, openai, ollama, cmd)" "$T/err"
check "a bad config tier is placed at its value" \
    grep -qx "$CONF:2:10: error: unknown provider 'nowhere' (known: anthropic, openai, ollama, cmd)" "$T/err"
printf 'tiers: {cheap: bogus:x}\n' >"$CONF"
pm
check "a bad flow-style tier: exit 2" test $? -eq 2
check "a bad flow-style tier is placed at its value" \
    grep -qx "$CONF:1:16: error: unknown provider 'bogus' (known: anthropic, openai, ollama, cmd)" "$T/err"
printf '# limits\nretries:   500\n' >"$CONF"
pm
check "a bad number in the config: exit 2" test $? -eq 2
check "a bad number in the config is placed at its value" \
    grep -qx "$CONF:2:12: error: bad retries '500'" "$T/err"
check "nothing asked for a bad config setting" test "$(requests)" -eq 0
# The example in planmake-config(5) loads, and its tiers resolve.
sed -n '/^\.Bd -literal/,/^\.Ed/p' "$top/man/planmake-config.5" | \
    sed '1d;$d' >"$CONF"
(cd "$T/w" && "$PLANMAKE" -t list tier=sub) >"$T/out" 2>"$T/err"
check "the man page's example config loads" \
    grep -q '^a.txt	sub	claude:claude -p --model haiku$' "$T/out"
rm "$CONF"
stop_fake
finish
