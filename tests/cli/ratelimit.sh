#!/bin/bash
# Rate limits: a 429 halves the endpoint's concurrency and holds it as
# the server asks, so -j16 against a limited account settles instead of
# storming it; remaining-requests and remaining-tokens headers at 0 hold
# the endpoint until their reset, so no 429 comes at all.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
{
	printf 'all:'
	for i in $(seq 1 16); do printf ' t%02d.txt' $i; done
	echo
	echo '.PHONY: all'
	for i in $(seq 1 16); do
		printf 't%02d.txt: SPEC.md\n\tWrite task %02d.\n' $i $i
	done
} >Planfile
cd "$top"
clean() { rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/t*.txt; }
n429() { grep -c '"status":429' "$T/fake.log"; }
built() { ls "$T/w"/t*.txt 2>/dev/null | wc -l; }

# 4 requests a second, no headers to go by, 250 ms an answer, -j16.
cat >"$T/script.json" <<'JS'
[{"rate_limit": 4, "rate_headers": false}]
JS
start_fake --script "$T/script.json" --delay-ms 250
pm -v -j16 retries=10
check "-j16 against 4 a second: exit 0" test $? -eq 0
check "all 16 built" test "$(built)" -eq 16
cut=$(sed -n 's/.*note: anthropic: HTTP 429: \([0-9]*\) requests* at a time for now.*/\1/p' "$T/err" | head -1)
check "the first 429s halve the concurrency (to $cut)" \
    test -n "$cut" -a "${cut:-99}" -le 8
check "it settles: $(n429) 429s, far fewer than a storm" test "$(n429)" -lt 24
check "after the first 429, never more than 8 in flight" python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
first = min(r["t"] for r in rs if r["status"] == 429)
later = [(r["t_start"], r["t"]) for r in rs if r["t_start"] > first]
peak = max(sum(1 for b in later if b[0] <= a[0] < b[1]) for a in later)
assert peak <= 8, peak' "$T/fake.log"
check "and the server's retry-after holds the endpoint" python3 -c '
import json, sys
rs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["t_start"])
first = min(r["t"] for r in rs if r["status"] == 429)
nxt = min(r["t_start"] for r in rs if r["t_start"] > first)
assert nxt - first >= 0.9, nxt - first' "$T/fake.log"
stop_fake

# 3 requests a second with the headers: one at a time, planmake waits
# for the reset when none remain, and never gets a 429.
clean
cat >"$T/script.json" <<'JS'
[{"rate_limit": 3}]
JS
start_fake --script "$T/script.json"
t0=$(date +%s.%N)
pm -v -j1 t01.txt t02.txt t03.txt t04.txt t05.txt t06.txt t07.txt
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
check "remaining-requests 0: exit 0" test $st -eq 0
check "remaining-requests 0: no 429 at all" test "$(n429)" -eq 0
check "remaining-requests 0: seven in three windows ($el s)" \
    awk "BEGIN { exit !($el >= 1.8) }"
check "remaining-requests 0: the wait is a note" grep -q "note: anthropic: anthropic-ratelimit-requests-remaining is 0: nothing more is sent for" "$T/err"
stop_fake

# The same on the OpenAI wire.
clean
start_fake --script "$T/script.json"
OPENAI_API_KEY=sk-test pm -v -j1 tier.cheap=openai:gpt-test t01.txt t02.txt t03.txt t04.txt t05.txt
check "x-ratelimit-remaining-requests 0: exit 0, no 429" \
    sh -c "[ $? -eq 0 ] && [ $(n429) -eq 0 ]"
check "x-ratelimit-remaining-requests 0: noted" grep -q "note: openai: x-ratelimit-remaining-requests is 0" "$T/err"
stop_fake

# Tokens: a response saying no tokens remain holds the next request
# until the reset time it gives.
clean
reset=$(python3 -c 'import datetime, time
print(datetime.datetime.utcfromtimestamp(time.time() + 2).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))')
cat >"$T/script.json" <<JS
[{"match": "Write task 01", "headers": {
   "anthropic-ratelimit-tokens-remaining": "0",
   "anthropic-ratelimit-tokens-reset": "$reset"}}]
JS
start_fake --script "$T/script.json"
pm -j1 t01.txt t02.txt
check "remaining-tokens 0: exit 0" test $? -eq 0
check "remaining-tokens 0: the next request waits for the reset" python3 -c '
import json, sys, datetime
rs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["t_start"])
reset = datetime.datetime.strptime(sys.argv[2], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
    tzinfo=datetime.timezone.utc).timestamp()
assert len(rs) == 2 and rs[1]["t_start"] >= reset - 0.15, (rs[1]["t_start"], reset)
' "$T/fake.log" "$reset"
stop_fake
finish
