#!/bin/bash
# make bench: a no-op rerun of planmake beside ninja's on the same graph.
#
# For each size (SIZES, default "1000 10000 100000") tests/bench/gennoop.py
# writes the graph twice, as a Planfile and as a build.ninja, over real
# files (one output and 3 to 5 inputs a task).  Both are built in full:
# planmake against tests/fakellm (--delay-ms 0, -j64), ninja with `cat`.
# Then each no-op rerun is timed (hyperfine when installed, else RUNS
# repeated runs) and its peak memory read from /usr/bin/time, and the
# ratios printed.  Also: a 200-task build's time with the journal
# flushed in batches against flushed at every task, and the 100,000-
# record hash store's load time.  Scratch space: BENCH_DIR (a temporary
# directory by default, removed at the end unless KEEP=1).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
PM=${PLANMAKE_BIN:-$top/planmake}
FAKE=$top/build/fakellm
SIZES=${SIZES:-1000 10000 100000}
RUNS=${RUNS:-10}
B=${BENCH_DIR:-$(mktemp -d /tmp/planmake-bench.XXXXXX)}
mkdir -p "$B"
for tool in ninja python3; do
	command -v "$tool" >/dev/null || { echo "bench: $tool is needed (apt-get install $tool)"; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is needed (apt-get install time)"; exit 2; }
[ -x "$PM" ] && [ -x "$FAKE" ] || { echo "bench: build first (make planmake build/fakellm)"; exit 2; }

fakepid=
cleanup() {
	[ -n "$fakepid" ] && kill "$fakepid" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] || rm -rf "$B"
}
trap cleanup EXIT

"$FAKE" --port-file "$B/port" --delay-ms 0 2>/dev/null &
fakepid=$!
for _ in $(seq 1 200); do [ -s "$B/port" ] && break; sleep 0.02; done
# The key holds the provider's address: it must stay the same throughout.
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$B/port")"
export ANTHROPIC_API_KEY=bench-key-not-secret

# secs CMD...: the mean wall time of a run, in seconds.
secs() {
	if command -v hyperfine >/dev/null; then
		hyperfine -N -w 2 -r "$RUNS" --export-json "$B/h.json" \
		    "$*" >/dev/null 2>&1
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$B/h.json"
	else
		"$@" >/dev/null 2>&1
		python3 - "$RUNS" "$@" <<'PY'
import subprocess, sys, time
n, cmd = int(sys.argv[1]), sys.argv[2:]
t = []
for _ in range(n):
    t0 = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.append(time.monotonic() - t0)
print(sum(t) / n)
PY
	fi
}

# kb CMD...: peak memory of one run, in KB.
kb() {
	/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1
}

printf '%-8s %12s %12s %7s %10s %10s %7s\n' tasks ninja planmake ratio \
    'ninja MB' 'pm MB' ratio >"$B/table"
for n in $SIZES; do
	echo "# $n tasks: generating"
	python3 "$top/tests/bench/gennoop.py" "$B/pm-$n" "$n"
	python3 "$top/tests/bench/gennoop.py" "$B/ninja-$n" "$n"
	rm -f "$B/pm-$n/build.ninja" "$B/ninja-$n/Planfile"
	echo "# $n tasks: building with planmake (fakellm, -j64)"
	t0=$(date +%s.%N)
	(cd "$B/pm-$n" && "$PM" -s -j64) || { echo "bench: planmake build failed"; exit 1; }
	t1=$(date +%s.%N)
	echo "# $n tasks: building with ninja"
	(cd "$B/ninja-$n" && ninja -j"$(nproc)" >/dev/null) || { echo "bench: ninja build failed"; exit 1; }
	t2=$(date +%s.%N)
	echo "# $n tasks: planmake built in $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s, ninja in $(awk "BEGIN { printf \"%.1f\", $t2 - $t1 }") s"
	# Out of the racy window of the last writes; one settling rerun.
	sleep 1.1
	(cd "$B/pm-$n" && "$PM" -d state 2>"$B/state.log") >/dev/null
	grep -q 'nothing to do' "$B/state.log" || { echo "bench: the rerun was not a no-op"; tail -3 "$B/state.log"; exit 1; }
	(cd "$B/pm-$n" && "$PM" -d state 2>"$B/state.log") >/dev/null
	reads=$(grep -c 'debug: state: \(re\)\?hash ' "$B/state.log")
	grep 'file hashes, loaded in' "$B/state.log" | sed 's/^planmake: debug: state: /# /'
	echo "# files read by a no-op rerun: $reads"
	tn=$(secs ninja -C "$B/ninja-$n")
	tp=$(secs "$PM" -s -C "$B/pm-$n")
	mn=$(kb ninja -C "$B/ninja-$n")
	mp=$(kb "$PM" -s -C "$B/pm-$n")
	awk -v n="$n" -v tn="$tn" -v tp="$tp" -v mn="$mn" -v mp="$mp" \
	    'BEGIN { printf "%-8s %10.1f ms %9.1f ms %6.2fx %10.1f %10.1f %6.2fx\n",
	    n, tn * 1000, tp * 1000, tp / tn, mn / 1024, mp / 1024, mp / mn }' \
	    >>"$B/table"
done

# Durability in batches: a 200-task build at 0 ms, the journal flushed
# every 64 tasks (and each second) against at every task.
echo "# journal: 200 tasks at 0 ms latency, -j16"
mkdir -p "$B/sync"
cc -O2 -g -std=c99 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -DJOURNAL_SYNC_EVERY=1 -I"$top/include" $(pkg-config --cflags libcurl jansson yaml-0.1 libpcre2-8 libcrypto) \
    -o "$B/planmake-sync1" "$top"/src/*.c \
    $(pkg-config --libs jansson yaml-0.1 libpcre2-8 libcrypto) -ldl -lm
synctime() {	# synctime BINARY: mean seconds of a full 200-task build
	local bin=$1 i total=0 t0 t1
	for i in 1 2 3 4 5; do
		rm -rf "$B/sync/w"
		mkdir -p "$B/sync/w"
		(cd "$B/sync/w" && echo seed >IN.md && python3 -c '
with open("Planfile", "w") as f:
    f.write("all:" + "".join(" t%d.txt" % i for i in range(200)) + "\n.PHONY: all\n")
    for i in range(200):
        f.write("t%d.txt: IN.md\n\tMake part %d, round '$i'.\n" % (i, i))')
		t0=$(date +%s.%N)
		(cd "$B/sync/w" && "$bin" -s -j16) || exit 1
		t1=$(date +%s.%N)
		total=$(awk "BEGIN { print $total + $t1 - $t0 }")
	done
	awk "BEGIN { print $total / 5 }"
}
sb=$(synctime "$PM")
s1=$(synctime "$B/planmake-sync1")

echo
echo "no-op rerun, mean of $RUNS (hyperfine when installed); peak RSS"
cat "$B/table"
awk -v b="$sb" -v o="$s1" 'BEGIN { printf "journal, 200 tasks at 0 ms: flushed in batches %.0f ms, at every task %.0f ms\n", b * 1000, o * 1000 }'
