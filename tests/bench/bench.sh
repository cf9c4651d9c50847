#!/bin/bash
# make bench: planmake's scheduler against tests/fakellm's latencies.
#  1. 1,000 independent tasks at 200 ms an answer with -j64: the ideal is
#     ceil(1000 / 64) x 0.2 s = 3.2 s; pass within 10 %.  planmake's own
#     CPU time per request is reported.
#  2. The makespan case: a chain of 6 x 300 ms among 30 x 100 ms tasks at
#     -j4 against the lower bound max(critical path, work / j) = 1.8 s;
#     pass within 5 %.
# Prints each ratio; exits 1 when a case misses its bound.
top=$(cd "$(dirname "$0")/../.." && pwd)
PLANMAKE=${PLANMAKE:-$top/planmake}
FAKELLM=${FAKELLM:-$top/build/fakellm}
# A scratch directory, start_fake/stop_fake and makespan_plan come from
# the command-line tests' library (which honours PLANMAKE above).
. "$top/tests/cli/lib.sh"
fail=0

# verdict NAME RATIO LIMIT: print the ratio and whether it passed.
verdict() {
	if awk "BEGIN { exit !($2 <= $3) }"; then
		echo "ok - $1: ratio $2 (limit $3)"
	else
		echo "not ok - $1: ratio $2 (limit $3)"
		fail=1
	fi
}

# Case 1: 1,000 independent tasks.
mkdir -p "$T/wide"
{
	printf 'all:'
	for i in $(seq 1 1000); do printf ' out/t%s.txt' "$i"; done
	printf '\n.PHONY: all\n'
	for i in $(seq 1 1000); do
		echo "out/t$i.txt:"
		printf '\tWrite part %s.\n' "$i"
	done
} >"$T/wide/Planfile"
start_fake --delay-ms 200
t0=$(date +%s.%N)
(cd "$T/wide" && "$PLANMAKE" -s -j64 --json) >"$T/wide.json" 2>"$T/wide.err"
st=$?
t1=$(date +%s.%N)
stop_fake
n=$(grep -c . "$T/fake.log")
wall=$(awk "BEGIN { printf \"%.3f\", $t1 - $t0 }")
cpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cpu_seconds"])' "$T/wide.json")
[ "$st" -eq 0 ] && [ "$n" -eq 1000 ] || { echo "not ok - 1000 tasks: exit $st, $n requests"; cat "$T/wide.err" | head; fail=1; }
echo "# 1000 tasks, 200 ms each, -j64: $wall s wall (ideal 3.2 s), $n requests"
echo "# planmake CPU: $cpu s, $(awk "BEGIN { printf \"%.3f\", $cpu * 1000 / $n }") ms per request"
verdict "1000 tasks at -j64 against 3.2 s" "$(awk "BEGIN { printf \"%.3f\", $wall / 3.2 }")" 1.10

# Case 2: the makespan of a long chain among short tasks.
mkdir -p "$T/chain"
makespan_plan "$T/chain"
start_fake --script "$T/script.json"
t0=$(date +%s.%N)
(cd "$T/chain" && "$PLANMAKE" -s -j4) 2>"$T/chain.err"
st=$?
t1=$(date +%s.%N)
stop_fake
[ "$st" -eq 0 ] || { echo "not ok - makespan plan: exit $st"; fail=1; }
wall=$(awk "BEGIN { printf \"%.3f\", $t1 - $t0 }")
echo "# chain 6 x 300 ms among 30 x 100 ms at -j4: $wall s wall (bound 1.8 s)"
verdict "makespan against max(critical path, work / j) = 1.8 s" "$(awk "BEGIN { printf \"%.3f\", $wall / 1.8 }")" 1.05
exit $fail
