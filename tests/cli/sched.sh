#!/bin/bash
# Scheduling: the ready queue runs the critical path first, weighted by
# recorded durations; makespan against the lower bound.
. "$(dirname "$0")/lib.sh"

# span LOG: seconds from the first request's start to the last answer.
span() {
	python3 - "$1" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%.3f" % (max(r["t"] for r in rs) - min(r["t_start"] for r in rs)))
PY
}

# first_started N LOG: the targets of the first N requests to start.
first_started() {
	python3 - "$2" "$1" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rs.sort(key=lambda r: r["t_start"])
print(" ".join(t for r in rs[:int(sys.argv[2])] for t in r["targets"]))
PY
}

mkdir -p "$T/w"
makespan_plan "$T/w"
start_fake --script "$T/script.json"
pm -j4
check "makespan plan builds" test $? -eq 0
check "36 requests" test "$(requests)" -eq 36
first=$(first_started 4 "$T/fake.log")
check "the chain's head starts in the first wave ($first)" \
    sh -c "echo '$first' | grep -qw long1.txt"
# Lower bound: max(critical path 1.8 s, total work 4.8 s / 4) = 1.8 s.
# A FIFO queue takes about 2.55 s here.  Allow a loaded machine 15 %
# and 150 ms.
ms=$(span "$T/fake.log")
ratio=$(awk "BEGIN { printf \"%.3f\", $ms / 1.8 }")
check "makespan ${ms} s is within 15 % + 150 ms of 1.8 s (ratio $ratio)" \
    awk "BEGIN { exit !($ms <= 1.8 * 1.15 + 0.15) }"
check "durations are recorded per task" \
    grep -qE '^0\.[34][0-9]*	[0-9]+	long3\.txt$' "$T/w/.planmake/durations"

# Recorded durations beat the estimate: one long task (1 s) against a
# chain of three short ones.  Without durations every task weighs the
# same, so the chain (3 deep) goes first and the long task, last in the
# plan, waits behind the short ones; with them, the long task goes first.
stop_fake
rm -rf "$T/w"
mkdir -p "$T/w"
{
	echo 'all: c3.txt big.txt x.stamp'
	echo '.PHONY: all x.stamp'
	echo 'x.stamp: x1.txt x2.txt x3.txt x4.txt'
	for i in 1 2 3 4; do
		echo "x$i.txt:"
		printf '\tExtra %s.\n' "$i"
	done
	echo 'c1.txt:'
	printf '\tChain one.\n'
	echo 'c2.txt: c1.txt'
	printf '\tChain two.\n'
	echo 'c3.txt: c2.txt'
	printf '\tChain three.\n'
	echo 'big.txt:'
	printf '\tBig one.\n'
} >"$T/w/Planfile"
cat >"$T/script.json" <<'JS'
[{"match": "Big one", "delay_ms": 1000}, {"delay_ms": 100}]
JS
start_fake --script "$T/script.json"
pm -j2
check "weights plan builds" test $? -eq 0
first=$(first_started 2 "$T/fake.log")
check "unknown durations: the deeper chain first ($first)" \
    sh -c "echo '$first' | grep -qw c1.txt && ! echo '$first' | grep -qw big.txt"
check "the long task's duration is recorded" \
    grep -qE '^1\.[0-9]+	[0-9]+	big\.txt$' "$T/w/.planmake/durations"
: >"$T/fake.log"
pm -j2 -B --refresh
check "rebuild asks all 8 again" test "$(requests)" -eq 8
first=$(first_started 2 "$T/fake.log")
check "known durations: the long task first ($first)" \
    sh -c "echo '$first' | grep -qw big.txt && echo '$first' | grep -qw c1.txt"
ms=$(span "$T/fake.log")
# Ideal 1.0 s: big on one slot, c1-c3 and x1-x4 (0.7 s) on the other.
check "weighted makespan ${ms} s near 1.0 s" \
    awk "BEGIN { exit !($ms <= 1.0 * 1.15 + 0.15) }"
finish
