#!/bin/bash
# --batch: the cheap tier through the Message Batches API at half price;
# a run killed while its batch is in progress resumes the same batch.
. "$(dirname "$0")/lib.sh"

# jl EXPR: a Python expression over l, fakellm's log, and j, the JSON
# report on $T/out.
jl() {
	python3 - "$T/fake.log" "$T/out" "$1" <<'PY'
import json, sys
l = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
try:
    j = json.loads(open(sys.argv[2]).read())
except ValueError:
    j = None
creates = [r for r in l if r["method"] == "POST" and r["path"] == "/v1/messages/batches"]
items = [r for r in l if r.get("custom_id")]
direct = [r for r in l if r["path"] == "/v1/messages" and not r.get("batch")]
ok = eval(sys.argv[3])
if not ok:
    for r in l:
        print(r["method"], r["path"], r["status"], r["targets"], r.get("batch"), file=sys.stderr)
    print(j, file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

mkdir -p "$T/w"
cd "$T/w"
echo 'plan' >PLAN.md
{
	echo 'max_tokens = 1000'
	echo 'all: REVIEW.md'
	echo '.PHONY: all'
	for i in 1 2 3 4; do
		echo "p$i.txt: PLAN.md"
		printf '\tWrite part %s.\n' "$i"
	done
	echo 'REVIEW.md: tier = strong'
	echo 'REVIEW.md: p1.txt p2.txt p3.txt p4.txt'
	printf '\tReview the parts.\n'
} >Planfile
cd "$top"

start_fake --batch-ms 1000
pm --batch --json batch_poll=0.2
check "--batch build exits 0" test $? -eq 0
check "one batch of the four cheap tasks" \
    jl 'len(creates) == 1 and creates[0]["batch_requests"] == 4'
check "the cheap tasks were answered in the batch" \
    jl 'sorted(t for r in items for t in r["targets"]) == ["p1.txt", "p2.txt", "p3.txt", "p4.txt"]'
check "the strong tier was asked directly" \
    jl '[r["targets"] for r in direct] == [["REVIEW.md"]]'
check "the batch was polled until it ended" \
    jl 'sum(r["method"] == "GET" and r["path"].endswith(creates[0]["batch"]) for r in l) >= 2 and any(r["path"].endswith("/results") for r in l)'
check "every target written" \
    test -s "$T/w/p1.txt" -a -s "$T/w/p4.txt" -a -s "$T/w/REVIEW.md"
check "batched answers are split like any other" \
    grep -qx 'content for p3.txt' "$T/w/p3.txt"
check "--json counts the batched requests" \
    jl '[(t["tier"], t["answers"], t["batched"]) for t in j["tiers"]] == [("cheap", 4, 4), ("strong", 1, 0)]'
check "batched requests cost half" \
    jl 'abs(j["tiers"][0]["cost_usd"] - sum((r["usage"]["input_tokens"] * 1 + r["usage"]["output_tokens"] * 5) / 1e6 for r in items) / 2) < 1e-9'
check "the record of a finished batch is gone" \
    sh -c "! ls '$T/w/.planmake/batches/'*.json 2>/dev/null"
check "the summary says how many were batched" \
    grep -q 'tier cheap (claude-haiku-4-5): 4 answers (4 batched)' "$T/err"
: >"$T/fake.log"
pm --batch batch_poll=0.2
check "a rerun asks nothing" \
    sh -c "test ! -s '$T/fake.log' && grep -q 'nothing to do' '$T/err'"
rm "$T/w/p2.txt"
: >"$T/fake.log"
pm --batch batch_poll=0.2
check "a deleted target comes back from the cache, not a batch" \
    sh -c "test -s '$T/w/p2.txt' && test ! -s '$T/fake.log'"
stop_fake

# kill -9 while the batch is in progress; the rerun polls the same batch.
sed -i 's/Write part/Write section/' "$T/w/Planfile"
start_fake --batch-ms 3000
(cd "$T/w" && exec "$PLANMAKE" --batch batch_poll=0.2 p1.txt p2.txt p3.txt p4.txt) \
    >"$T/out1" 2>"$T/err1" &
pmpid=$!
for _ in $(seq 1 100); do
	ls "$T/w/.planmake/batches/"*.json >/dev/null 2>&1 && break
	sleep 0.05
done
sleep 0.5
kill -9 "$pmpid"
wait "$pmpid" 2>/dev/null
check "the killed run recorded its batch" \
    sh -c "ls '$T/w/.planmake/batches/'msgbatch_fake_*.json >/dev/null"
check "the batch was still in progress when the run was killed" \
    jl 'not any(r["path"].endswith("/results") for r in l) and len(creates) == 1'
pm --batch batch_poll=0.2 p1.txt p2.txt p3.txt p4.txt
check "the rerun exits 0" test $? -eq 0
check "exactly one batch was created, and paid for" jl 'len(creates) == 1'
check "the rerun polled the batch the killed run created" \
    jl 'all(r["batch"] == creates[0]["batch"] for r in l if r.get("batch"))'
check "each request was answered once" \
    jl 'sorted(t for r in items for t in r["targets"]) == ["p1.txt", "p2.txt", "p3.txt", "p4.txt"]'
check "every target written from the resumed batch" \
    sh -c "for f in p1 p2 p3 p4; do grep -qx \"content for \$f.txt\" \"$T/w/\$f.txt\" || exit 1; done"
check "the targets are in the lock" \
    sh -c "grep -c '^p[1-4].txt' '$T/w/planmake.lock' | grep -qx 4"
check "the resumed batch's record is gone" \
    sh -c "! ls '$T/w/.planmake/batches/'*.json 2>/dev/null"

# A request the batch could not answer fails its task, quoting the API.
cat >"$T/script.json" <<'JS'
[{"match": "Write chapter 2", "status": 400, "message": "too odd"}]
JS
stop_fake
start_fake --batch-ms 200 --script "$T/script.json"
sed -i 's/Write section/Write chapter/' "$T/w/Planfile"
pm --batch -k batch_poll=0.1 p1.txt p2.txt p3.txt p4.txt
check "an errored batch request exits 1" test $? -eq 1
check "an errored batch request names the batch and the error" \
    grep -q "task 'p2.txt' failed: anthropic: batch msgbatch_fake_1: the request failed: invalid_request_error: too odd" "$T/err"
check "the other batched tasks are built" \
    grep -q 'p4.txt (cheap, batch' "$T/err"

# The budget counts a batched request at half its worst case: a budget
# below one request's worst case, but above half of it, starts nothing
# unbatched and everything batched.
sed -i 's/Write chapter/Write verse/' "$T/w/Planfile"
: >"$T/fake.log"
pm --budget 0.0035 --json p1.txt p2.txt p3.txt p4.txt
check "unbatched, the budget takes none" jl 'j["tasks"]["asked"] == 0 and j["exit"] == 1 and not l'
sed -i 's/Write verse/Write line/' "$T/w/Planfile"
: >"$T/fake.log"
pm --batch --budget 0.0035 --json batch_poll=0.1 p1.txt p2.txt p3.txt p4.txt
check "batched, the same budget takes all four" jl 'j["tasks"]["asked"] == 4 and j["exit"] == 0 and len(creates) >= 1 and not direct'

# A batched request that met a server error was not billed: it is asked
# again in the next batch, up to the retries setting.
cat >"$T/script.json" <<'JS'
[{"match": "Write stanza 3", "times": 1, "status": 500}]
JS
stop_fake
start_fake --batch-ms 200 --script "$T/script.json"
sed -i 's/Write line/Write stanza/' "$T/w/Planfile"
pm --batch --json batch_poll=0.1 p1.txt p2.txt p3.txt p4.txt
check "a 5xx in a batch is retried and the build exits 0" test $? -eq 0
check "the failed request went into a second batch of its own" \
    jl 'len(creates) == 2 and creates[1]["batch_requests"] == 1'
check "the retried task is built" grep -qx 'content for p3.txt' "$T/w/p3.txt"
check "the retry is billed once" \
    jl 'j["tiers"][0]["answers"] == 4 and j["tasks"]["asked"] == 4'
cat >"$T/script.json" <<'JS'
[{"match": "Write strophe 3", "status": 500}]
JS
stop_fake
start_fake --batch-ms 200 --script "$T/script.json"
sed -i 's/Write stanza/Write strophe/' "$T/w/Planfile"
pm --batch -k batch_poll=0.1 retries=2 p1.txt p2.txt p3.txt p4.txt
check "a batched request failing every time fails its task" test $? -eq 1
check "it was asked retries+1 times, each in a batch" \
    jl 'len(creates) == 3 and sum("p3.txt" in r["targets"] for r in items) == 3'
check "its failure says how often it was tried" \
    grep -q "task 'p3.txt' failed: anthropic: batch msgbatch_fake_3: the request failed: api_error: .* after 3 tries" "$T/err"

# fakellm stops while the batch is in progress: polls back off, then this
# run gives up polling, keeps the record and fails no task.
stop_fake
start_fake --batch-ms 60000
sed -i 's/Write strophe/Write refrain/' "$T/w/Planfile"
(cd "$T/w" && exec "$PLANMAKE" --batch -v batch_poll=0.1 p1.txt p2.txt) \
    >"$T/out" 2>"$T/err" &
pmpid=$!
for _ in $(seq 1 100); do
	ls "$T/w/.planmake/batches/"*.json >/dev/null 2>&1 && break
	sleep 0.05
done
stop_fake
wait "$pmpid"
check "a batch that cannot be polled exits 1" test $? -eq 1
check "no task failed for it" sh -c "! grep -q 'task .* failed' '$T/err'"
check "the polls backed off" \
    sh -c "grep -q 'polling again in 0.2 s' '$T/err' && grep -q 'polling again in 0.8 s' '$T/err'"
check "it says a rerun collects the batch" \
    grep -q 'batch msgbatch_fake_1 is still in progress; run planmake again to collect its answers' "$T/err"
check "the record is kept" \
    sh -c "ls '$T/w/.planmake/batches/'msgbatch_fake_1.json >/dev/null"
rm -f "$T/w/.planmake/batches/"*.json

# --batch with a shared cached prefix: the first task writes the cache
# alone, as a plain request, with "ttl":"1h"; the others join a batch
# after it is answered and read the cache.  The 1 h write rate is billed.
for i in $(seq 1 350); do
	echo "Line $i of the shared design notes, the same for every task."
done >"$T/w/CONTEXT.md"
{
	echo 'context = CONTEXT.md'
	echo 'all: c1.txt c2.txt c3.txt c4.txt'
	echo '.PHONY: all'
	for i in 1 2 3 4; do
		echo "c$i.txt:"
		printf '\tWrite note %s.\n' "$i"
	done
} >"$T/w/Cached"
stop_fake
start_fake --batch-ms 200
pm -f Cached --batch --json batch_poll=0.1
check "a cached fan-out through --batch builds" test $? -eq 0
check "one task went alone, as a plain request" \
    jl 'len(direct) == 1 and direct[0]["usage"]["cache_creation_input_tokens"] > 0'
check "it wrote the cache with a 1 h lifetime" \
    jl 'direct[0]["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] == direct[0]["usage"]["cache_creation_input_tokens"]'
check "the other three went in one batch created after its answer" \
    jl 'len(creates) == 1 and creates[0]["batch_requests"] == 3 and creates[0]["t_start"] >= direct[0]["t"]'
check "the batched requests read the cache" \
    jl 'len(items) == 3 and all(r["usage"]["cache_read_input_tokens"] > 0 and r["usage"]["cache_creation_input_tokens"] == 0 for r in items)'
check "the 1 h write rate is in the cost" \
    jl 'abs(j["total_cost_usd"] - (sum(r["usage"]["input_tokens"] + 2 * r["usage"]["cache_creation_input_tokens"] + 5 * r["usage"]["output_tokens"] for r in direct) / 1e6 + sum(r["usage"]["input_tokens"] + 0.1 * r["usage"]["cache_read_input_tokens"] + 5 * r["usage"]["output_tokens"] for r in items) / 2e6)) < 1e-9'

# An interrupted --batch run lists its tasks as waiting in a batch; the
# plan is then edited, so no task claims the recorded batch: the rerun
# still collects it, caches its paid answers under their keys and removes
# the record, and reverting the edit costs nothing.
{
	echo 'all: o1.txt o2.txt'
	echo '.PHONY: all'
	for i in 1 2; do
		echo "o$i.txt:"
		printf '\tWrite orphan %s.\n' "$i"
	done
} >"$T/w/Orph"
stop_fake
start_fake --batch-ms 1500
(cd "$T/w" && exec "$PLANMAKE" -f Orph --batch batch_poll=0.1) \
    >"$T/out" 2>"$T/err" &
pmpid=$!
for _ in $(seq 1 100); do
	ls "$T/w/.planmake/batches/"*.json >/dev/null 2>&1 && break
	sleep 0.05
done
sleep 0.2
kill -INT "$pmpid"
wait "$pmpid"
check "an interrupted batch run lists its tasks as in a batch" \
    sh -c "grep -q '^planmake: in a batch: o1.txt o2.txt$' '$T/err' && ! grep -q 'not started' '$T/err'"
old=$(ls "$T/w/.planmake/batches/")
sleep 1.5
sed -i 's/Write orphan/Write other/' "$T/w/Orph"
: >"$T/fake.log"
pm -f Orph --batch batch_poll=0.1
check "the edited plan builds" test $? -eq 0
check "the rerun collected the batch no task claims" \
    jl 'any(r["path"].endswith("/results") and r["batch"] == "msgbatch_fake_1" for r in l)'
check "its record is removed" test ! -e "$T/w/.planmake/batches/$old"
sed -i 's/Write other/Write orphan/' "$T/w/Orph"
: >"$T/fake.log"
pm -f Orph --batch batch_poll=0.1
check "reverting the edit is answered from the cache" \
    sh -c "test ! -s '$T/fake.log' && grep -qx 'content for o2.txt' '$T/w/o2.txt' && grep -q 'restored from the cache: o1.txt' '$T/err'"

pm --batch batch_poll=never
check "a bad batch_poll exits 2" test $? -eq 2
check "a bad batch_poll is named" grep -q "command line: bad batch_poll 'never'" "$T/err"
finish
