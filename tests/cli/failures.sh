#!/bin/bash
# Failed requests, bad answers, missing keys, -k: what fails, what goes
# on, what is kept.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'plan' >PLAN.md
cat >Planfile <<'PF'
all: a.txt b.txt c.txt
.PHONY: all
a.txt: PLAN.md
	Write alpha.
b.txt: PLAN.md
	Write beta.
c.txt: a.txt
	Write gamma from alpha.
PF
cd "$top"

# A persistent HTTP 500 fails the task, quoting the server, after 3 tries.
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "status": 500, "message": "the fake is broken today"}]
JS
start_fake --script "$T/script.json"
pm -k retries=2
check "persistent 500 exits 1" test $? -eq 1
check "error quotes the server's message" grep -q "task 'a.txt' failed: anthropic: HTTP 500 api_error: the fake is broken today (request req_fake_[0-9]*) after 3 tries" "$T/err"
check "500 is tried 3 times" test "$(requests_for a.txt)" -eq 3
check "-k: the independent task is built" test -s "$T/w/b.txt"
check "-k: the dependent task is skipped, not asked" test "$(requests_for c.txt)" -eq 0
check "summary lists the failed task" grep -q 'failed: a.txt' "$T/err"
check "summary lists the skipped task" grep -q 'skipped: c.txt' "$T/err"
check "nothing written for the failed task" test ! -e "$T/w/a.txt"

# One 500, then success: retried, built.
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "status": 503, "times": 1, "headers": {"retry-after": "0"}}]
JS
sleep 1.1	# a new mtime for the script
: >"$T/fake.log"
pm
check "a 503 then success exits 0" test $? -eq 0
check "the retry was made" test "$(requests_for a.txt)" -eq 2
check "retried task written" test -s "$T/w/a.txt"
stop_fake

# 401 is not retried; without -k nothing new starts after a failure.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/*.txt
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "status": 401, "message": "invalid x-api-key"}]
JS
start_fake --script "$T/script.json"
pm -j1 a.txt c.txt b.txt
check "401 exits 1" test $? -eq 1
check "401 is not retried" test "$(requests_for a.txt)" -eq 1
check "401 quotes the provider" grep -q 'authentication_error: invalid x-api-key' "$T/err"
check "without -k nothing starts after a failure" test "$(requests)" -eq 1

# No key and no cache hit: a clear error before any request.
: >"$T/fake.log"
(cd "$T/w" && env -u ANTHROPIC_API_KEY "$PLANMAKE") >"$T/out" 2>"$T/err"
check "no key exits 2" test $? -eq 2
check "no key names the variable" grep -q 'ANTHROPIC_API_KEY is not set' "$T/err"
check "no key: nothing asked" test "$(requests)" -eq 0

# An answer that fits no form fails its task, writes nothing, keeps it.
echo old >"$T/w/b.txt"
cat >"$T/script.json" <<'JS'
[{"match": "Write beta", "answer": "x.txt\n```\nnot mine\n```\n\nb.txt\n```\nbeta\n```\n"},
 {"match": "Write alpha", "stop_reason": "max_tokens", "answer": "a.txt\n```\nhalf"}]
JS
sleep 1.1
: >"$T/fake.log"
pm -k --force=b.txt
check "bad answer exits 1" test $? -eq 1
check "a path that is not a target is refused" grep -q "b.txt' failed: answer names 'x.txt', which is not a target" "$T/err"
check "the refused answer is kept" grep -q 'not mine' "$T/w/.planmake/failed/b.txt.answer"
check "the refused answer wrote nothing" test "$(cat "$T/w/b.txt")" = old -a ! -e "$T/w/x.txt"
check "max_tokens in every round fails the task" grep -q "a.txt' failed: anthropic: the answer was cut at max_tokens (16000) in every round (setting continuations); the partial answer is kept in" "$T/err"
check "max_tokens: first answer and 3 continuations" test "$(requests_for a.txt)" -eq 4
check "the cut answer wrote nothing" test ! -e "$T/w/a.txt"

# A cut body and a dropped connection are retried.
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "cut": 20, "times": 1},
 {"match": "Write beta", "drop": true, "times": 1}]
JS
sleep 1.1
: >"$T/fake.log"
pm -k --force=b.txt
check "cut body and dropped connection recover" test $? -eq 0
check "cut body retried" test "$(requests_for a.txt)" -eq 2
check "dropped connection retried" test "$(requests_for b.txt)" -eq 2

# A corrupt cache entry is a warning and a miss.
rm "$T/w/a.txt"
f=$(find "$T/w/.planmake/cache" -name '*.json' | head -1)
for f in $(find "$T/w/.planmake/cache" -name '*.json'); do
	head -c 30 "$f" >"$f.x" && mv "$f.x" "$f"
done
: >"$T/fake.log"
pm
check "corrupt cache: the run still succeeds" test $? -eq 0
check "corrupt cache: a warning" grep -q 'warning: cache entry .* is corrupt' "$T/err"
check "corrupt cache: asked again" test "$(requests_for a.txt)" -eq 1

# An input that is not UTF-8 fails before anything is sent.
printf 'bad \377 byte\n' >"$T/w/PLAN.md"
: >"$T/fake.log"
pm -k
check "non-UTF-8 input exits 2, before anything is sent" test $? -eq 2
check "non-UTF-8 input is named" grep -q 'input PLAN.md is not UTF-8' "$T/err"
check "non-UTF-8 input: nothing sent at all" test "$(requests)" -eq 0
finish
