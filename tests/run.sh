#!/bin/sh
# Run the unit test programs given as arguments and every tests/cli/*.sh,
# count TAP "ok" and "not ok" lines, and end with "N passed, N failed".
# A program that dies without reporting counts as one failure, and so does
# one that runs longer than $TEST_TIMEOUT seconds (default 300).
top=$(cd "$(dirname "$0")/.." && pwd)
PLANMAKE=$top/build/san/planmake
FAKELLM=$top/build/fakellm
export PLANMAKE FAKELLM
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CMOCKA_MESSAGE_OUTPUT=TAP
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
pass=0
fail=0
log=$(mktemp)

count() {	# count NAME STATUS: tally the TAP lines in $log
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $1 exited $2 without reporting a failure"
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $1 ran no test"
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
}

for t in "$@"; do
	echo "# $t"
	timeout "$TEST_TIMEOUT" "$t" >"$log" 2>&1
	st=$?
	grep -E '^(not )?ok |^#' "$log"
	[ "$st" -ne 0 ] && grep -vE '^(not )?ok |^#|^1\.\.' "$log" | head -40
	count "$t" "$st"
done
for t in "$top"/tests/cli/*.sh; do
	[ -f "$t" ] || continue
	case $t in */lib.sh) continue ;; esac
	echo "# $t"
	(cd "$top" && timeout "$TEST_TIMEOUT" bash "$t") >"$log" 2>&1
	st=$?
	cat "$log"
	count "$t" "$st"
done
rm -f "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
