#!/bin/bash
# What goes on the wire, and what stops a run before anything does:
# headers, model, max_tokens, temperature only when set, model names with
# colons, -j overlap, missing keys, bad inputs, -s.
. "$(dirname "$0")/lib.sh"

# field NAME: the values of a field of every logged request, one a line.
field() {
	python3 - "$T/fake.log" "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps(r.get(sys.argv[2])))
PY
}

mkdir -p "$T/w"
cd "$T/w"
echo 'the spec' >SPEC.md
cat >Planfile <<'PF'
all: a.txt b.txt
.PHONY: all
a.txt: SPEC.md
	Write a.
b.txt: a.txt
	Write b.
PF
cd "$top"
start_fake

# The headers and fields of a Messages API request.
pm -d http
check "a plain build exits 0" test $? -eq 0
check "POST to {base}/v1/messages" \
    test "$(grep -c '"method":"POST","path":"/v1/messages"' "$T/fake.log")" -eq 2
check "x-api-key, anthropic-version and content-type are sent" \
    test "$(grep -c '"headers":\[[^]]*"x-api-key","anthropic-version","content-type"' "$T/fake.log")" -eq 2
check "every request was accepted (version 2023-06-01)" \
    test "$(field status | sort -u)" = 200
check "max_tokens is 16000 by default" test "$(field max_tokens | sort -u)" = 16000
check "no temperature unless the plan sets one" \
    test "$(field temperature | sort -u)" = null
check "an answer has no overall time limit, only a stall limit" \
    grep -q 'debug: http: POST .*stall limit [0-9]* s, no overall limit' "$T/err"

# max_tokens and temperature, from the plan and the command line.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/*.txt
: >"$T/fake.log"
sed -i '1i max_tokens = 321\ntemperature = 0.5' "$T/w/Planfile"
pm
check "max_tokens from the plan" test "$(field max_tokens | sort -u)" = 321
check "temperature from the plan" test "$(field temperature | sort -u)" = 0.5
: >"$T/fake.log"
pm max_tokens=99 a.txt
check "the command line overrides the plan's max_tokens" \
    test "$(field max_tokens)" = 99
sed -i '1,2d' "$T/w/Planfile"

# A model spec splits at its first colon: the model may hold colons.
: >"$T/fake.log"
pm a.txt tier.cheap=anthropic:claude:test
check "anthropic:claude:test asks for the model 'claude:test'" \
    test "$(field model)" = '"claude:test"'
export OPENAI_API_KEY=test-openai-key
: >"$T/fake.log"
pm a.txt tier.cheap=openai:llama3.2:3b
check "openai:llama3.2:3b asks chat completions for 'llama3.2:3b'" \
    sh -c "grep -q '\"path\":\"/v1/chat/completions\"' '$T/fake.log' && test '$(field model)' = '\"llama3.2:3b\"'"
pm -t list tier.cheap=ollama:llama3.2:3b
check "ollama:llama3.2:3b is provider ollama, model llama3.2:3b" \
    grep -qx "$(printf 'a.txt\tcheap\tollama:llama3.2:3b')" "$T/out"
printf 'tier.cheap = openai:from-plan\n' >"$T/w/P2"
cat "$T/w/Planfile" >>"$T/w/P2"
pm -f P2 -t list tier.cheap=anthropic:from-cli
check "tier.cheap= on the command line beats the plan's" \
    grep -qx "$(printf 'a.txt\tcheap\tanthropic:from-cli')" "$T/out"
unset OPENAI_API_KEY

# -s prints errors only: nothing on a good run, the error on a bad one.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/*.txt
pm -s
check "-s: a good run exits 0" test $? -eq 0
check "-s: a good run prints nothing" test ! -s "$T/out" -a ! -s "$T/err"
check "-s: the targets are written" test -s "$T/w/b.txt"
printf 'c.txt: SPEC.md\n\tWrite c.\n' >>"$T/w/Planfile"
cat >"$T/script.json" <<'JS'
[{"match": "Write c.", "status": 400, "message": "prompt is not allowed"}]
JS
stop_fake
start_fake --script "$T/script.json"
pm -s c.txt
check "-s: a failed task exits 1" test $? -eq 1
check "-s: only the error is printed" \
    sh -c "test \$(grep -c . '$T/err') -eq 2 && grep -q '^planmake: task .c.txt. failed: anthropic: HTTP 400 invalid_request_error: prompt is not allowed' '$T/err' && grep -q '^planmake: failed: c.txt$' '$T/err'"
stop_fake
start_fake

# No key: an error before any request, unless the cache answers.
pm a.txt b.txt
: >"$T/fake.log"
rm "$T/w/a.txt"
(cd "$T/w" && env -u ANTHROPIC_API_KEY "$PLANMAKE" a.txt b.txt) >"$T/out" 2>"$T/err"
check "no key but a cache hit: exits 0" test $? -eq 0
check "no key but a cache hit: the target is restored" test -s "$T/w/a.txt"
check "no key but a cache hit: no request" test "$(requests)" -eq 0
check "no key but a cache hit: no error" test ! -s "$T/err" -o -z "$(grep -E 'error|warning' "$T/err")"
sed -i 's/Write b\./Write b, longer./' "$T/w/Planfile"
(cd "$T/w" && ANTHROPIC_API_KEY= "$PLANMAKE" a.txt b.txt) >"$T/out" 2>"$T/err"
check "an empty key is no key: exits 2" test $? -eq 2
check "no key: says which variable and task" \
    grep -q "^planmake: ANTHROPIC_API_KEY is not set, and 'b.txt' needs to ask anthropic (cheap tier): nothing was asked$" "$T/err"
check "no key: no request" test "$(requests)" -eq 0
sed -i 's/Write a\./Write a, longer./' "$T/w/Planfile"
(cd "$T/w" && env -u ANTHROPIC_API_KEY "$PLANMAKE" a.txt b.txt) >"$T/out" 2>"$T/err"
check "no key, a task to ask first: exits 2" test $? -eq 2
check "no key: the first task to ask is named" grep -q "and 'a.txt' needs to ask" "$T/err"
check "no key, a task to ask first: no request" test "$(requests)" -eq 0

# Bad inputs stop the run before any request, every one reported.
mkdir -p "$T/in"
cd "$T/in"
echo 'fine' >good.md
printf 'caf\351\n' >latin1.md
head -c 5000 /dev/zero | tr '\0' x >big.md
cat >Planfile <<'PF'
all: a.txt b.txt c.txt d.txt
.PHONY: all
a.txt: good.md
	Write a.
b.txt: latin1.md
	Write b.
c.txt: big.md
	Write c.
d.txt: a.txt
	Write d.
c.txt: max_input_bytes = 4096
PF
cd "$top"
: >"$T/fake.log"
(cd "$T/in" && "$PLANMAKE" -k -j4) >"$T/out" 2>"$T/err"
check "bad inputs exit 2" test $? -eq 2
check "a non-UTF-8 input is named, with the offset" \
    grep -q "^planmake: task 'b.txt' cannot be asked: input latin1.md is not UTF-8 text (bad byte at offset 3)$" "$T/err"
check "an input over max_input_bytes is named, with the limit" \
    grep -q "^planmake: task 'c.txt' cannot be asked: input big.md is 5000 bytes, over the limit of 4096 (setting max_input_bytes)$" "$T/err"
check "bad inputs: nothing was sent at all, even with -k" test "$(requests)" -eq 0
check "bad inputs: nothing was written" test ! -e "$T/in/a.txt" -a ! -e "$T/in/planmake.lock"
sed -i 's/^c.txt: max_input_bytes = 4096$/c.txt: max_input_bytes = 5000/' "$T/in/Planfile"
printf 'caf\303\251\n' >"$T/in/latin1.md"
(cd "$T/in" && "$PLANMAKE" -j4) >"$T/out" 2>"$T/err"
check "at the limit and valid UTF-8: the run succeeds" test $? -eq 0
check "at the limit and valid UTF-8: 4 requests" test "$(requests)" -eq 4

# An input another task writes is checked when its reader starts: over
# the limit, it fails that reader only (exit 1), also when the input is
# missing and comes back from the cache first.
mkdir -p "$T/gen"
cat >"$T/gen/Planfile" <<'PF'
all: small.txt other.txt
.PHONY: all
big.txt:
	Write big.
small.txt: big.txt
	Summarise big.
small.txt: max_input_bytes = 10
other.txt: big.txt
	Use big.
PF
: >"$T/fake.log"
(cd "$T/gen" && "$PLANMAKE" -k) >"$T/out" 2>"$T/err"
check "a generated input over the limit exits 1, not 2" test $? -eq 1
check "a generated input over the limit fails its reader" \
    grep -q "task 'small.txt' failed: input big.txt is [0-9]* bytes, over the limit of 10" "$T/err"
check "a generated input over the limit: its reader is not sent" \
    test "$(requests_for small.txt)" -eq 0 -a "$(requests_for other.txt)" -eq 1
rm "$T/gen/big.txt"
: >"$T/fake.log"
(cd "$T/gen" && "$PLANMAKE" -k) >"$T/out" 2>"$T/err"
check "a missing generated input is restored, then checked: exit 1" test $? -eq 1
check "a missing generated input: restored from the cache" \
    grep -q 'restored from the cache: big.txt' "$T/err"
check "a missing generated input: nothing is asked" test "$(requests)" -eq 0

# stop_reason: end_turn and stop_sequence are whole answers; anything
# else fails the task and writes nothing.
stop_fake
mkdir -p "$T/stop"
cat >"$T/stop/Planfile" <<'PF'
all: seq.txt refused.txt
.PHONY: all
seq.txt:
	Write seq.
refused.txt:
	Write refused.
PF
cat >"$T/script.json" <<'JS'
[{"match": "Write seq.", "stop_reason": "stop_sequence"},
 {"match": "Write refused.", "stop_reason": "refusal"}]
JS
start_fake --script "$T/script.json"
(cd "$T/stop" && "$PLANMAKE" -k) >"$T/out" 2>"$T/err"
check "a stop_reason other than end_turn or stop_sequence exits 1" test $? -eq 1
check "stop_sequence is a whole answer" grep -qx 'content for seq.txt' "$T/stop/seq.txt"
check "refusal fails its task, naming the reason" \
    grep -q "task 'refused.txt' failed: anthropic: the answer stopped with 'refusal'" "$T/err"
check "refusal writes nothing" test ! -e "$T/stop/refused.txt"

# The summary: counts, tokens in and out, and the cost per tier at the
# list prices (Haiku 4.5: $1 in, $5 out, $1.25 cache write, $0.10 cache
# read per million tokens; Sonnet 4.5: $3, $15, $3.75, $0.30).
stop_fake
mkdir -p "$T/cost"
cat >"$T/cost/Planfile" <<'PF'
all: cheap.txt strong.txt
.PHONY: all
cheap.txt:
	Write cheaply.
strong.txt: tier = strong
strong.txt:
	Write strongly.
PF
cat >"$T/script.json" <<'JS'
[{"usage": {"input_tokens": 1000000, "output_tokens": 1000000,
  "cache_creation_input_tokens": 1000000, "cache_read_input_tokens": 1000000}}]
JS
start_fake --script "$T/script.json"
(cd "$T/cost" && "$PLANMAKE") >"$T/out" 2>"$T/err"
check "summary: tasks asked, from cache, up to date; tokens in and out" \
    grep -q '^planmake: 2 tasks: 2 asked, 0 from cache, 0 up to date, 0 failed, 0 skipped; tokens: 6000000 in (2000000 from the prompt cache, 2000000 written to it), 2000000 out$' "$T/err"
check "summary: cost per tier at list prices" \
    grep -q '^planmake: cost: cheap (claude-haiku-4-5) \$7.3500, strong (claude-sonnet-4-5) \$22.0500; total \$29.4000\(;\|$\)' "$T/err"
check "the cache holds the answer and its usage under the locked key" \
    python3 -c 'import json, sys
d = sys.argv[1]
key = [l.split("\t")[1] for l in open(d + "/planmake.lock")
       if l.startswith("cheap.txt\t")][0]
e = json.load(open("%s/.planmake/cache/%s/%s.json" % (d, key[:2], key)))
sys.exit(not (e["key"] == key and "content for cheap.txt" in e["answer"]
    and e["usage"]["input"] == 1000000 and e["usage"]["output"] == 1000000
    and e["usage"]["cache_read"] == 1000000))' "$T/cost"
rm "$T/cost/cheap.txt"
(cd "$T/cost" && "$PLANMAKE") >"$T/out" 2>"$T/err"
check "summary: a restore counts as from cache and costs nothing" \
    sh -c "grep -q '2 tasks: 0 asked, 1 from cache, 1 up to date' '$T/err' && ! grep -q 'cost:' '$T/err'"

# -j: twelve independent tasks at 300 ms overlap on one event loop.
stop_fake
mkdir -p "$T/j"
{
	printf 'all:'
	for i in $(seq 1 12); do printf ' t%s.txt' "$i"; done
	printf '\n.PHONY: all\n'
	for i in $(seq 1 12); do printf 't%s.txt:\n\tWrite number %s.\n' "$i" "$i"; done
} >"$T/j/Planfile"
start_fake --delay-ms 300
t0=$(date +%s.%N)
(cd "$T/j" && "$PLANMAKE" -j8) >"$T/out" 2>"$T/err"
t1=$(date +%s.%N)
el=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")
check "-j8: 12 independent tasks in $el s (serial 3.6 s, two waves 0.6 s)" \
    awk "BEGIN { exit !($el < 2.0) }"
check "-j8: the server had 8 requests at once before any answer" \
    python3 -c 'import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
first = min(r["t"] for r in rs)
sys.exit(sum(r["t_start"] < first for r in rs) != 8)' "$T/fake.log"
rm -rf "$T/j/.planmake" "$T/j/planmake.lock" "$T/j"/*.txt
: >"$T/fake.log"
(cd "$T/j" && "$PLANMAKE") >"$T/out" 2>"$T/err"
check "-j defaults to 4 in flight" \
    python3 -c 'import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
first = min(r["t"] for r in rs)
sys.exit(sum(r["t_start"] < first for r in rs) != 4)' "$T/fake.log"
finish
