#!/bin/bash
# Streaming: requests ask for server-sent events on both wires; the
# answer is the text blocks only, however the stream is split; a stream
# that breaks, ends early or carries an error event is asked again.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
cat >Planfile <<'PF'
all: a.txt b.txt c.txt d.txt e.txt
.PHONY: all
a.txt: SPEC.md
	Write alpha.
b.txt: SPEC.md
	Write beta.
c.txt: SPEC.md
	Write gamma.
d.txt: SPEC.md
	Write delta.
e.txt: SPEC.md
	Write epsilon.
PF
cd "$top"

# Tiny deltas and a thinking block first; an error event mid-stream; a
# stream that ends before message_stop; one cut mid-stream.
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "delta_bytes": 1, "thinking": "SECRET PLAN"},
 {"match": "Write beta", "times": 1, "stream_error": "overloaded_error",
  "error_after": 4},
 {"match": "Write gamma", "times": 1, "no_done": true},
 {"match": "Write delta", "times": 1, "cut": 1200},
 {"match": "Write epsilon", "times": 1, "stream_error": "api_error",
  "error_after": 0, "message": "Internal server error"}]
JS
start_fake --script "$T/script.json"
pm -v retries=2
check "streamed build exits 0" test $? -eq 0
check "every request asked for a stream" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs and all(r["stream"] for r in recs), recs' "$T/fake.log"
check "one-byte deltas give the whole file" \
    grep -qx 'content for a.txt' "$T/w/a.txt"
check "the thinking block is not in the file" \
    sh -c "! grep -rq SECRET '$T/w/a.txt' '$T/w/.planmake/cache'"
check "a.txt asked once" test "$(requests_for a.txt)" -eq 1
check "an error event in a 200 stream is retried" \
    test "$(requests_for b.txt)" -eq 2
check "the error event is quoted" grep -q "'b.txt': anthropic: error event in the answer stream: overloaded_error: Overloaded (request req_fake_[0-9]*); trying again" "$T/err"
check "a stream without message_stop is retried" \
    test "$(requests_for c.txt)" -eq 2
check "the early end is named" grep -q "'c.txt': anthropic: the answer stream ended before its end" "$T/err"
check "a stream cut mid-way is retried" test "$(requests_for d.txt)" -eq 2
check "the cut is named" grep -q "'d.txt': anthropic: the connection broke mid-answer" "$T/err"
check "an api_error event first thing is retried" \
    test "$(requests_for e.txt)" -eq 2
check "every retried file is whole" sh -c "for f in b c d e; do grep -qx \"content for \$f.txt\" '$T/w/'\$f.txt || exit 1; done"
stop_fake

# A persistent error event fails the task after its tries, in the
# provider's words, and writes nothing.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/?.txt
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "stream_error": "overloaded_error"},
 {"match": "Write beta", "stream_error": "invalid_request_error",
  "message": "bad thing"}]
JS
start_fake --script "$T/script.json"
pm -k retries=1 a.txt b.txt
check "persistent error event exits 1" test $? -eq 1
check "it is tried retries+1 times" test "$(requests_for a.txt)" -eq 2
check "the final failure quotes it" grep -q "task 'a.txt' failed: anthropic: error event in the answer stream: overloaded_error: Overloaded (request req_fake_[0-9]*) after 2 tries" "$T/err"
check "a non-retryable error event is not retried" \
    test "$(requests_for b.txt)" -eq 1
check "and is quoted" grep -q "task 'b.txt' failed: anthropic: error event in the answer stream: invalid_request_error: bad thing" "$T/err"
check "nothing written" test ! -e "$T/w/a.txt" -a ! -e "$T/w/b.txt"
stop_fake
finish
