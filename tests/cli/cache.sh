#!/bin/bash
# Prompt caching: the system text and the context files are the shared
# prefix, marked with cache_control when long enough; the first request
# of a fan-out writes the cache alone, the others then read it.
. "$(dirname "$0")/lib.sh"

# jl EXPR: a Python expression over l, fakellm's log, and j, the JSON
# report on $T/out (when there is one).
jl() {
	python3 - "$T/fake.log" "$T/out" "$1" <<'PY'
import json, sys
l = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
try:
    j = json.loads(open(sys.argv[2]).read())
except ValueError:
    j = None
w = [r for r in l if r["usage"]["cache_creation_input_tokens"] > 0]
rd = [r for r in l if r["usage"]["cache_read_input_tokens"] > 0]
ok = eval(sys.argv[3])
if not ok:
    for r in l:
        print(r["targets"], r["t_start"], r["t"], r["usage"], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

mkdir -p "$T/w"
cd "$T/w"
# About 5,500 tokens of context at 4 bytes a token: over Haiku 4.5's
# minimum of 4,096.
for i in $(seq 1 350); do
	echo "Line $i of the shared design notes, the same for every task."
done >CONTEXT.md
echo 'tiny context' >SMALL.md
{
	echo 'context = CONTEXT.md'
	echo 'all: t1.txt t2.txt t3.txt t4.txt t5.txt t6.txt t7.txt t8.txt'
	echo '.PHONY: all'
	for i in 1 2 3 4 5 6 7 8; do
		echo "t$i.txt:"
		printf '\tWrite part %s.\n' "$i"
	done
} >Planfile
cd "$top"

start_fake --delay-ms 300
pm -j8 --json
check "a fan-out with a shared context builds" test $? -eq 0
check "8 requests" test "$(requests)" -eq 8
check "every request marks its prefix" jl 'all("cache_prefix_bytes" in r for r in l)'
check "the marked prefix is the system text and the context" \
    jl 'len(set(r["cache_prefix_bytes"] for r in l)) == 1 and l[0]["cache_prefix_bytes"] > 4096 * 4'
check "exactly one request writes the cache" jl 'len(w) == 1'
check "the other seven read it" jl 'len(rd) == 7'
check "they start only after the writer's answer" \
    jl 'all(r["t_start"] >= w[0]["t"] for r in rd)'
check "the readers still run together" \
    jl 'max(r["t_start"] for r in rd) - min(r["t_start"] for r in rd) < 0.25'
check "--json counts cache-write and cache-read tokens" \
    jl 'j["tokens"]["cache_write"] == w[0]["usage"]["cache_creation_input_tokens"] and j["tokens"]["cache_read"] == sum(r["usage"]["cache_read_input_tokens"] for r in rd)'
check "cache tokens are priced at the cache rates" \
    jl 'abs(j["total_cost_usd"] - sum((r["usage"]["input_tokens"] * 1 + r["usage"]["output_tokens"] * 5 + r["usage"]["cache_creation_input_tokens"] * 1.25 + r["usage"]["cache_read_input_tokens"] * 0.1) / 1e6 for r in l)) < 1e-9'
wr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"]["cache_write"])' "$T/out")
rdn=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"]["cache_read"])' "$T/out")
check "the summary shows cache tokens ($wr written, $rdn read)" \
    grep -q "prompt cache: $wr tokens written, $rdn read" "$T/err"
tin=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["tokens"]; print(t["input"] + t["cache_write"] + t["cache_read"])' "$T/out")
tout=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"]["output"])' "$T/out")
check "the first summary line counts all $tin input tokens, the cached ones named" \
    grep -q "skipped; tokens: $tin in ($rdn from the prompt cache, $wr written to it), $tout out\$" "$T/err"
check "the tier line counts them the same way" \
    grep -q "tier cheap (claude-haiku-4-5): 8 answers; tokens: $tin in ($rdn from the prompt cache, $wr written to it), $tout out; \\\$" "$T/err"
check "--json answers counts the answers" jl 'j["answers"] == 8 and j["tiers"][0]["answers"] == 8'
check "the context is not repeated in the user turn" \
    jl 'all("shared design notes" not in r["prompt"] for r in l)'

# Below the model's minimum: no marker, nobody waits.
sed -i 's/^context = CONTEXT.md/context = SMALL.md/' "$T/w/Planfile"
: >"$T/fake.log"
pm -j8
check "a short prefix builds" test $? -eq 0
check "a short prefix is not marked" jl 'not any("cache_prefix_bytes" in r for r in l) and len(l) == 8'
check "a short prefix holds nobody back" \
    jl 'max(r["t_start"] for r in l) - min(r["t_start"] for r in l) < 0.25'

# The marker is a transport detail: setting the minimum to 0 marks the
# same requests, and they are still up to date.
: >"$T/fake.log"
pm -j8 cache_min_tokens=0
check "the marker is not part of the key" test "$(requests)" -eq 0
sed -i 's/Write part 1\./Write part one./' "$T/w/Planfile"
pm -j8 cache_min_tokens=0
check "cache_min_tokens=0 marks a short prefix" jl 'len(l) == 1 and "cache_prefix_bytes" in l[0]'

# A context file that is missing is an error naming the setting.
sed -i 's/^context = SMALL.md/context = MISSING.md/' "$T/w/Planfile"
: >"$T/fake.log"
pm -k
check "a missing context file is a plan error" test $? -eq 2
check "a missing context file is named with its setting" \
    grep -q "Planfile:1:1: error: .*the context file 'MISSING.md'" "$T/err"
check "a missing context file asks nothing" test "$(requests)" -eq 0
finish
