#!/bin/bash
# cmd: limits: a command silent for stall_timeout seconds is killed and
# retried; one printing more than max_answer_bytes is killed and fails
# unretried; SIGHUP ends planmake as SIGTERM does, and its commands with
# it; a kill -9 of planmake kills the command too (Linux).
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
printf 'a.txt: SPEC.md\n\tWrite a-file.\n' >Planfile
cd "$top"
clean() { rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/a.txt "$T/runs"; }
runs() { grep -c . "$T/runs" 2>/dev/null || echo 0; }
gone() {	# gone PID: the process has ended within 3 s
	for _ in $(seq 1 30); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# A hung command: stall_timeout=1, one retry.
clean
t0=$(date +%s.%N)
pm retries=1 stall_timeout=1 "tier.cheap=cmd:echo x >>$T/runs; exec sleep 30"
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
check "stall: the task fails" test $st -ne 0
check "stall: killed after stall_timeout, not left hanging ($el s)" \
    awk "BEGIN { exit !($el < 10) }"
check "stall: retried (2 runs: $(runs))" test "$(runs)" -eq 2
check "stall: the failure says why" \
    grep -q "printed nothing for 1 s (stall_timeout) and was killed" "$T/err"

# A runaway command: max_answer_bytes=100000.
clean
t0=$(date +%s.%N)
pm retries=3 max_answer_bytes=100000 "tier.cheap=cmd:echo x >>$T/runs; exec yes"
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
check "too big: the task fails ($el s)" \
    sh -c "[ $st -ne 0 ] && awk 'BEGIN { exit !($el < 10) }'"
check "too big: not retried ($(runs) runs)" test "$(runs)" -eq 1
check "too big: the failure says why" \
    grep -q "printed more than 100000 bytes (max_answer_bytes) and was killed" "$T/err"
check "max_answer_bytes is checked" sh -c "
	cd '$T/w' && ! '$PLANMAKE' -n max_answer_bytes=0 'tier.cheap=cmd:true' 2>'$T/e2' &&
	grep -q max_answer_bytes '$T/e2'"

# SIGHUP: planmake ends, and the command with it.
clean
(cd "$T/w" && exec "$PLANMAKE" "tier.cheap=cmd:echo \$\$\$\$ >$T/pid; exec sleep 30") \
    >"$T/out" 2>"$T/err" &
pmpid=$!
for _ in $(seq 1 100); do [ -s "$T/pid" ] && break; sleep 0.05; done
kill -HUP $pmpid
check "SIGHUP: planmake ends" gone $pmpid
wait $pmpid 2>/dev/null
check "SIGHUP: its command is killed" gone "$(cat "$T/pid")"
rm -f "$T/pid"

# kill -9 of planmake: the command dies with it (PR_SET_PDEATHSIG).
clean
(cd "$T/w" && exec "$PLANMAKE" "tier.cheap=cmd:echo \$\$\$\$ >$T/pid; exec sleep 30") \
    >"$T/out" 2>"$T/err" &
pmpid=$!
for _ in $(seq 1 100); do [ -s "$T/pid" ] && break; sleep 0.05; done
kill -9 $pmpid
wait $pmpid 2>/dev/null
if [ "$(uname)" = Linux ]; then
	check "kill -9: the command dies too" gone "$(cat "$T/pid")"
fi
kill "$(cat "$T/pid")" 2>/dev/null
finish
