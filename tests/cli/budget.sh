#!/bin/bash
# --budget: worst cases are reserved before a request starts; over the
# budget nothing new starts, what was left undone is listed, exit 1.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
{
	echo 'max_tokens = 1000'
	echo 'all: t1.txt t2.txt t3.txt t4.txt t5.txt t6.txt'
	echo '.PHONY: all'
	for i in 1 2 3 4 5 6; do
		echo "t$i.txt:"
		printf '\tWrite part %s.\n' "$i"
	done
} >"$T/w/Planfile"

# Each request's worst case on Haiku ($1 in, $5 out per million) is
# 1000 output tokens ($0.005) plus its input: just over $0.005.  Two fit
# in $0.012, a third does not.
start_fake --delay-ms 200
pm -j4 --json --budget 0.012
check "over budget exits 1" test $? -eq 1
check "over budget: only two requests were made" test "$(requests)" -eq 2
check "over budget: says so, with the figures" \
    grep -q "planmake: --budget: 't3.txt' could cost up to \$0.005[0-9]*; with \$0.0000 spent and \$0.010[0-9]* in flight that is over the budget of \$0.0120" "$T/err"
check "over budget: the two answers are written" \
    test -s "$T/w/t1.txt" -a -s "$T/w/t2.txt" -a ! -e "$T/w/t3.txt"
check "over budget: what was left undone is listed" \
    grep -q 'not started: t3.txt t4.txt t5.txt t6.txt' "$T/err"
check "over budget: --json lists it too" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(not (j["undone"] == ["t3.txt", "t4.txt", "t5.txt", "t6.txt"] and
    j["budget_usd"] == 0.012 and j["exit"] == 1 and j["tasks"]["asked"] == 2))' "$T/out"

# One at a time, the same budget lasts: a finished request settles at
# its real cost (far below its worst case), so all the rest fit.
: >"$T/fake.log"
pm -j1 --budget 0.012
check "settled costs free the budget: exits 0" test $? -eq 0
check "settled costs free the budget: the other four asked" test "$(requests)" -eq 4

# A budget below one request's worst case starts nothing.
sed -i 's/Write part/Write section/' "$T/w/Planfile"
: >"$T/fake.log"
pm --budget '$0.001'
check "a tiny budget exits 1" test $? -eq 1
check "a tiny budget asks nothing" test "$(requests)" -eq 0
check "a tiny budget: all six left undone" \
    grep -q 'not started: t1.txt t2.txt t3.txt t4.txt t5.txt t6.txt' "$T/err"

# Answers from the cache cost nothing and need no budget.
sed -i 's/Write section/Write part/' "$T/w/Planfile"
pm --budget 0
check "cache answers pass a zero budget" test $? -eq 0
check "cache answers: nothing asked" test "$(requests)" -eq 0

pm --budget lots
check "a bad --budget exits 2" test $? -eq 2
check "a bad --budget is named" grep -q "budget wants an amount in USD, such as 2.50, not 'lots'" "$T/err"
finish
