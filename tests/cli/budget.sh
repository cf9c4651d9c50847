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
# 1000 output tokens ($0.005) plus its input: just over $0.005.  Each
# answer is scripted to cost about $0.004 (800 output tokens).  In
# $0.012 two are answered; a third would be over with nothing in
# flight, so it and the rest are left undone, at any -j: a request that
# does not fit only because of others in flight waits for them.
printf '[{"usage": {"output_tokens": 800}}]\n' >"$T/costly.json"
start_fake --delay-ms 200 --script "$T/costly.json"
for j in 4 1; do
	rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/t*.txt
	: >"$T/fake.log"
	pm -j$j --json --budget 0.012
	check "-j$j over budget exits 1" test $? -eq 1
	check "-j$j over budget: two requests were made" test "$(requests)" -eq 2
	check "-j$j over budget: says so, with the figures" \
	    grep -q "planmake: --budget: 't3.txt' could cost up to \$0.005[0-9]*; with \$0.008[0-9]* spent and \$0.0000 in flight that is over the budget of \$0.0120" "$T/err"
	check "-j$j over budget: the two answers are written" \
	    test -s "$T/w/t1.txt" -a -s "$T/w/t2.txt" -a ! -e "$T/w/t3.txt"
	check "-j$j over budget: what was left undone is listed" \
	    grep -q 'not started: t3.txt t4.txt t5.txt t6.txt' "$T/err"
	check "-j$j over budget: --json lists it too" python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(not (j["undone"] == ["t3.txt", "t4.txt", "t5.txt", "t6.txt"] and
    j["budget_usd"] == 0.012 and j["exit"] == 1 and j["tasks"]["asked"] == 2))' "$T/out"
done
stop_fake

# Answers far below their worst case: a finished request settles at its
# real cost, so the same budget lasts for all six, even at -j4, where
# the worst cases of the requests in flight alone would not fit.
start_fake --delay-ms 200
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/t*.txt
pm -j4 --budget 0.012
check "settled costs free the budget: exits 0" test $? -eq 0
check "settled costs free the budget: all six asked" test "$(requests)" -eq 6

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
