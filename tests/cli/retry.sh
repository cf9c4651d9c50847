#!/bin/bash
# Failures and retries against a real-looking API: which statuses are
# tried again and how long planmake waits, what stops the whole build,
# stalls and connection failures, and what a final failure says.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
{
	echo 'all: a.txt b.txt c.txt d.txt e.txt f.txt g.txt h.txt'
	echo '.PHONY: all'
	for t in a b c d e f g h; do
		echo "$t.txt: SPEC.md"
		printf '\tWrite %s-file.\n' "$t"
	done
} >Planfile
cd "$top"

# gap TARGET [N]: seconds between request N and N+1 for TARGET (default
# the first two), from the fake's log.
gap() {
	python3 - "$T/fake.log" "$1" "${2:-1}" <<'PY'
import json, sys
ts = [r["t_start"] for r in map(json.loads, open(sys.argv[1]))
      if sys.argv[2] in r["targets"]]
n = int(sys.argv[3])
print("%.3f" % (ts[n] - ts[n - 1]) if len(ts) > n else "none")
PY
}
# between LO HI X: LO <= X < HI
between() { awk -v lo="$1" -v hi="$2" -v x="$3" 'BEGIN { exit !(x != "none" && x >= lo && x < hi) }'; }
clean() { rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/?.txt; }

# Each retryable status once, then success; the server's wait is used.
cat >"$T/script.json" <<'JS'
[{"match": "Write a-file", "times": 1, "status": 429,
  "headers": {"retry-after": "1"}},
 {"match": "Write b-file", "times": 1, "status": 529},
 {"match": "Write c-file", "times": 1, "status": 408},
 {"match": "Write d-file", "times": 1, "status": 409},
 {"match": "Write e-file", "times": 1, "status": 502,
  "headers": {"retry-after-ms": "200", "retry-after": "30"}},
 {"match": "Write f-file", "times": 1, "status": 503},
 {"match": "Write g-file", "times": 1, "status": 504},
 {"match": "Write h-file", "times": 1, "status": 500}]
JS
start_fake --script "$T/script.json"
pm -j8 -v
check "every retryable status recovers: exit 0" test $? -eq 0
for t in a b c d e f g h; do
	check "$t.txt: asked twice, then written" \
	    test "$(requests_for $t.txt)" -eq 2 -a -s "$T/w/$t.txt"
done
check "429: retry-after 1 is waited for ($(gap a.txt) s)" \
    between 1 2.5 "$(gap a.txt)"
check "retry-after-ms wins over retry-after ($(gap e.txt) s)" \
    between 0.15 2 "$(gap e.txt)"
check "no hint: backoff of about half a second ($(gap b.txt) s)" \
    between 0.3 1.5 "$(gap b.txt)"
check "a retry is a note naming the status and request id" grep -q \
    "note: 'b.txt': anthropic: HTTP 529 overloaded_error: fakellm scripted 529 (request req_fake_[0-9]*); trying again in" "$T/err"
stop_fake

# Backoff doubles, retries is the number of tries after the first, and
# the final failure quotes type, text and request id.
clean
cat >"$T/script.json" <<'JS'
[{"match": "Write a-file", "status": 529, "message": "Overloaded"}]
JS
start_fake --script "$T/script.json"
pm retries=3 a.txt
check "persistent 529 exits 1" test $? -eq 1
check "retries=3: 4 tries" test "$(requests_for a.txt)" -eq 4
check "backoff grows: 2nd wait ($(gap a.txt 2) s) > 1st ($(gap a.txt 1) s)" \
    awk "BEGIN { exit !($(gap a.txt 2) > $(gap a.txt 1) && $(gap a.txt 3) > $(gap a.txt 2)) }"
check "the failure quotes type, words, request id, tries" grep -q \
    "task 'a.txt' failed: anthropic: HTTP 529 overloaded_error: Overloaded (request req_fake_4) after 4 tries" "$T/err"
stop_fake

# A longer wait than retry_max_wait is not waited for.
cat >"$T/script.json" <<'JS'
[{"match": "Write a-file", "status": 429, "headers": {"retry-after": "600"}}]
JS
start_fake --script "$T/script.json"
t0=$(date +%s.%N)
pm retry_max_wait=5 a.txt
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
check "retry-after over retry_max_wait: exit 1 at once ($el s)" \
    sh -c "[ $st -eq 1 ] && awk 'BEGIN { exit !($el < 3) }'"
check "it says why" grep -q "the server asks to wait 600 s, longer than retry_max_wait (5 s)" "$T/err"
check "tried once" test "$(requests_for a.txt)" -eq 1
stop_fake

# Other 4xx are never retried; a retired model's 404 says so; the
# server's x-should-retry wins.
clean
cat >"$T/script.json" <<'JS'
[{"match": "Write a-file", "status": 400, "message": "messages: bad"},
 {"match": "Write b-file", "status": 401, "message": "invalid x-api-key"},
 {"match": "Write c-file", "status": 403},
 {"match": "Write d-file", "status": 404, "message": "model: claude-haiku-4-5"},
 {"match": "Write e-file", "status": 413},
 {"match": "Write f-file", "status": 422},
 {"match": "Write g-file", "status": 500,
  "headers": {"x-should-retry": "false"}},
 {"match": "Write h-file", "status": 400, "message": "prompt is too long: 250000 tokens > 200000 maximum"}]
JS
start_fake --script "$T/script.json"
pm -k -j8
check "4xx: exit 1" test $? -eq 1
for t in a b c d e f g h; do
	check "$t.txt: asked once" test "$(requests_for $t.txt)" -eq 1
done
check "400 quoted" grep -q "task 'a.txt' failed: anthropic: HTTP 400 invalid_request_error: messages: bad (request req_fake_[0-9]*)$" "$T/err"
check "404: the model may be retired" grep -q "task 'd.txt' failed: anthropic: HTTP 404 not_found_error: model: claude-haiku-4-5 (request req_fake_[0-9]*); the model 'claude-haiku-4-5' may be retired or misspelled" "$T/err"
check "context overflow names the task and its size" grep -q "task 'h.txt' failed: anthropic: HTTP 400 invalid_request_error: prompt is too long: .*; the request ([0-9]* bytes, about [0-9]* tokens) does not fit the context window of claude-haiku-4-5" "$T/err"
check "nothing written" sh -c "! ls '$T/w'/?.txt 2>/dev/null"
stop_fake

# A spend cap stops the whole build, even with -k, in the provider's
# words; what is in flight finishes and is kept.
clean
cat >"$T/script.json" <<'JS'
[{"match": "Write c-file", "status": 429, "code": "enforced_spend_limit_reached",
  "message": "You have reached your monthly spend limit."},
 {"match": "Write a-file", "delay_ms": 600},
 {"match": "Write b-file", "delay_ms": 600}]
JS
start_fake --script "$T/script.json"
pm -k -j3
check "spend cap: exit 1" test $? -eq 1
check "spend cap: not retried" test "$(requests_for c.txt)" -eq 1
check "spend cap: nothing new is sent" test "$(requests)" -eq 3
check "spend cap: the provider's words and request id" grep -q \
    "task 'c.txt' failed: anthropic: HTTP 429 rate_limit_error: You have reached your monthly spend limit. \[enforced_spend_limit_reached\] (request req_fake_[0-9]*); a spending limit or quota is used up" "$T/err"
check "spend cap: the build stops" grep -q "stopping: anthropic refuses every request until the limit is raised" "$T/err"
check "spend cap: the requests in flight are kept" test -s "$T/w/a.txt" -a -s "$T/w/b.txt"
stop_fake

clean
cat >"$T/script.json" <<'JS'
[{"match": "Write a-file", "status": 400, "message": "You have reached your specified workspace API usage limits. You will regain access on 2027-01-01 at 00:00 UTC."}]
JS
start_fake --script "$T/script.json"
pm -k -j1
check "a user's usage limit (400): exit 1" test $? -eq 1
check "a user's usage limit: one request only" test "$(requests)" -eq 1
check "a user's usage limit: the build stops" grep -q "stopping:" "$T/err"
stop_fake

# A stall (headers, then nothing) is cut after stall_timeout and tried
# again; so is a dropped connection and a 200 that is not the API's.
clean
cat >"$T/script.json" <<'JS'
[{"match": "Write a-file", "times": 1, "stall_ms": 6000},
 {"match": "Write b-file", "times": 1, "drop": true},
 {"match": "Write c-file", "times": 1, "body": "<html>captive portal</html>",
  "headers": {"content-type": "text/html"}},
 {"match": "Write d-file", "times": 1, "stall_ms": 6000, "stall_after": 5}]
JS
start_fake --script "$T/script.json"
pm -v -j4 stall_timeout=1 a.txt b.txt c.txt d.txt
check "stall, drop, bad body: exit 0" test $? -eq 0
check "a stall is cut after about stall_timeout ($(gap a.txt) s)" \
    between 1 3.5 "$(gap a.txt)"
check "the stall is named" grep -q "'a.txt': anthropic: the answer stalled: no data for 1 s (stall_timeout)" "$T/err"
check "a stall mid-stream too ($(gap d.txt) s)" between 1 3.5 "$(gap d.txt)"
check "a dropped connection is retried" test "$(requests_for b.txt)" -eq 2
check "a 200 that is not the API's is retried" \
    test "$(requests_for c.txt)" -eq 2
check "and named" grep -q "'c.txt': anthropic: the answer is neither JSON nor an event stream (27 bytes, text/html)" "$T/err"
check "all four written" sh -c "for f in a b c d; do test -s '$T/w/'\$f.txt || exit 1; done"
stop_fake

# Nothing listening: connection errors are retried, then fail clearly.
clean
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ANTHROPIC_BASE_URL=http://127.0.0.1:$port pm retries=1 a.txt
check "connection refused: exit 1" test $? -eq 1
check "connection refused: named, after 2 tries" grep -q "task 'a.txt' failed: anthropic: cannot connect to http://127.0.0.1:$port: .* after 2 tries" "$T/err"

# A server that never accepts: connect_timeout cuts it.
python3 - "$T/bh" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)
held = []
for i in range(3):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(s.getsockname())
    except BlockingIOError: pass
    held.append(c)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
time.sleep(30)
PY
bhpid=$!
for _ in $(seq 50); do [ -s "$T/bh" ] && break; sleep 0.05; done
t0=$(date +%s.%N)
ANTHROPIC_BASE_URL=http://127.0.0.1:$(cat "$T/bh") pm retries=0 connect_timeout=1 a.txt
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
kill $bhpid 2>/dev/null
wait $bhpid 2>/dev/null
check "connect_timeout=1: exit 1 in about a second ($el s)" \
    sh -c "[ $st -eq 1 ] && awk 'BEGIN { exit !($el >= 0.9 && $el < 4) }'"
check "connect timeout named" grep -q "task 'a.txt' failed: anthropic: cannot connect to http://127.0.0.1:[0-9]*: .*[Tt]imeout\|timed out" "$T/err"

# The jitter differs from run to run (rand() is seeded): eight tasks each
# fail once with a 500; the eight backoffs of two runs are not the same.
jitters() { sed -n "s/.*; trying again in \([0-9.]*\) s$/\1/p" "$T/err" | sort | tr '\n' ' '; }
cat >"$T/script.json" <<'JS'
[{"match": "Write a-file", "times": 1, "status": 500},
 {"match": "Write b-file", "times": 1, "status": 500},
 {"match": "Write c-file", "times": 1, "status": 500},
 {"match": "Write d-file", "times": 1, "status": 500},
 {"match": "Write e-file", "times": 1, "status": 500},
 {"match": "Write f-file", "times": 1, "status": 500},
 {"match": "Write g-file", "times": 1, "status": 500},
 {"match": "Write h-file", "times": 1, "status": 500}]
JS
clean
start_fake --script "$T/script.json"
pm -v -j8
j1=$(jitters)
stop_fake
clean
start_fake --script "$T/script.json"
pm -v -j8
j2=$(jitters)
stop_fake
check "jitter: eight backoffs a run ($j1)" test "$(echo $j1 | wc -w)" -eq 8
check "jitter: another run waits otherwise ($j2)" test "$j1" != "$j2"
finish
