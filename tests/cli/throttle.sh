#!/bin/bash
# Throttling under load: -j64 against 4 requests a second settles instead
# of storming, and no task burns its retries while the endpoint is held
# back; an over-long retry-after fails its task without freezing the
# endpoint; a hold never puts more than -j in flight.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
N=40
{
	printf 'all:'
	for i in $(seq 1 $N); do printf ' t%02d.txt' $i; done
	echo
	echo '.PHONY: all'
	for i in $(seq 1 $N); do
		printf 't%02d.txt: SPEC.md\n\tWrite task %02d.\n' $i $i
	done
} >Planfile
cd "$top"
clean() { rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/t*.txt; }
n429() { grep -c '"status":429' "$T/fake.log"; }
built() { ls "$T/w"/t*.txt 2>/dev/null | wc -l; }
# peak FROM: the most requests in flight at once among those sent after
# Unix time FROM, from fakellm's t_start and t.
peak() {
	python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs = [(r["t_start"], r["t"]) for r in rs if r["t_start"] >= float(sys.argv[2])]
print(max(sum(1 for b in rs if b[0] <= a[0] < b[1]) for a in rs))' \
	    "$T/fake.log" "$1"
}

# 1. -j64, 40 tasks, 4 requests a second, 200 ms an answer.
cat >"$T/script.json" <<'JS'
[{"rate_limit": 4}]
JS
start_fake --script "$T/script.json" --delay-ms 200
pm -j64 retries=2
st=$?
check "-j64 against 4 a second: exit 0 ($(tail -1 "$T/err"))" test $st -eq 0
check "-j64 against 4 a second: all $N built" test "$(built)" -eq $N
check "-j64: no task fails after its tries" \
    sh -c "! grep -q 'after [0-9]* tries' '$T/err'"
# The first burst earns up to N-4 429s; after it, few.
late=$(python3 -c '
import json, sys
rs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["t_start"])
first = min(r["t"] for r in rs if r["status"] == 429)
print(sum(1 for r in rs if r["t_start"] > first + 0.5 and r["status"] == 429))' "$T/fake.log")
check "-j64: after the first burst it settles ($late late 429s of $(n429))" \
    test "$late" -le 4
stop_fake

# 3. -j2: a task back from a retry-after hold takes no slot beyond -j.
clean
cat >"$T/script.json" <<'JS'
[{"match": "task 01", "times": 1, "status": 429, "headers": {"retry-after": "1"}},
 {"match": "task 02", "times": 1, "status": 429, "headers": {"retry-after": "1"}}]
JS
start_fake --script "$T/script.json" --delay-ms 300
pm -j2 t01.txt t02.txt t03.txt t04.txt t05.txt t06.txt t07.txt t08.txt
check "-j2 with 429 holds: exit 0" test $? -eq 0
check "-j2 with 429 holds: never more than 2 in flight ($(peak 0))" \
    test "$(peak 0)" -le 2
stop_fake

# 2. A retry-after of an hour fails its task (over retry_max_wait) and
# holds nothing: the others go on at once.
clean
cat >"$T/script.json" <<'JS'
[{"match": "task 01", "times": 1, "status": 429, "headers": {"retry-after": "3600"}}]
JS
start_fake --script "$T/script.json" --delay-ms 100
t0=$(date +%s.%N)
pm -k -j1 t01.txt t02.txt t03.txt t04.txt
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
check "retry-after 3600: the task fails" \
    sh -c "[ $st -ne 0 ] && grep -q 'longer than retry_max_wait' '$T/err'"
check "retry-after 3600: the others are built" \
    test -f "$T/w/t02.txt" -a -f "$T/w/t03.txt" -a -f "$T/w/t04.txt"
check "retry-after 3600: the endpoint is not held ($el s)" \
    awk "BEGIN { exit !($el < 5) }"
stop_fake

# A retry-after within retry_max_wait holds the endpoint, and says so
# without -v.
clean
cat >"$T/script.json" <<'JS'
[{"match": "task 01", "times": 1, "status": 429, "headers": {"retry-after": "2"}}]
JS
start_fake --script "$T/script.json"
pm -j1 t01.txt t02.txt
check "retry-after 2: exit 0" test $? -eq 0
check "retry-after 2: one status line says what waits and how long" \
    test "$(grep -c 'anthropic: rate limited (HTTP 429): its requests wait 2.0 s' "$T/err")" -eq 1
check "retry-after 2: the next request waits for it" python3 -c '
import json, sys
rs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["t_start"])
assert rs[0]["status"] == 429 and rs[1]["t_start"] - rs[0]["t"] >= 1.9, rs' "$T/fake.log"
stop_fake
finish
