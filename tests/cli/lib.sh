# Shared by the command-line tests: a scratch directory, a fakellm of its
# own, and TAP output.  Source it; it needs $PLANMAKE and $FAKELLM (set by
# tests/run.sh; defaults for running one test by hand).
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${PLANMAKE:=$top/build/san/planmake}"
: "${FAKELLM:=$top/build/fakellm}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
ntest=0
nfail=0
T=$(mktemp -d /tmp/planmake-test.XXXXXX)
FAKEPID=
# The user's own configuration never reaches a test.
mkdir -p "$T/config"
export XDG_CONFIG_HOME="$T/config"
unset OLLAMA_BASE_URL OPENAI_API_KEY
trap 'cleanup' EXIT

cleanup() {
	stop_fake
	if [ -n "$KEEP" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}

ok() {		# ok NAME: a passed check
	ntest=$((ntest + 1))
	echo "ok $ntest - $1"
}

not_ok() {	# not_ok NAME WHY: a failed check
	ntest=$((ntest + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntest - $1: $2"
}

check() {	# check NAME COMMAND...: ok when the command succeeds
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

# makespan_plan DIR: the makespan case, a chain of 6 tasks at 300 ms and
# 30 independent ones at 100 ms, the chain last in the plan (a FIFO
# queue would start it last): DIR/Planfile, and $T/script.json for
# start_fake --script.
makespan_plan() {
	{
		echo 'all: long6.txt short.stamp'
		echo '.PHONY: all short.stamp'
		printf 'short.stamp:'
		for i in $(seq 1 30); do printf ' s%s.txt' "$i"; done
		echo
		for i in $(seq 1 30); do
			echo "s$i.txt:"
			printf '\tShort task %s.\n' "$i"
		done
		echo 'long1.txt:'
		printf '\tLong step 1.\n'
		for i in 2 3 4 5 6; do
			echo "long$i.txt: long$((i - 1)).txt"
			printf '\tLong step %s.\n' "$i"
		done
	} >"$1/Planfile"
	cat >"$T/script.json" <<'JS'
[{"match": "Long step", "delay_ms": 300},
 {"match": "Short task", "delay_ms": 100}]
JS
}

# start_fake [fakellm options]: start a fakellm logging to $T/fake.log,
# point planmake at it and set a key.
start_fake() {
	rm -f "$T/port"
	: >"$T/fake.log"
	"$FAKELLM" --port-file "$T/port" --log "$T/fake.log" "$@" \
	    2>"$T/fake.err" &
	FAKEPID=$!
	for _ in $(seq 1 200); do
		[ -s "$T/port" ] && break
		sleep 0.02
	done
	[ -s "$T/port" ] || { echo "fakellm did not start"; cat "$T/fake.err"; exit 1; }
	export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$T/port")"
	export OPENAI_BASE_URL="$ANTHROPIC_BASE_URL/v1"
	export ANTHROPIC_API_KEY=test-key-not-secret
}

stop_fake() {
	if [ -n "$FAKEPID" ]; then
		kill "$FAKEPID" 2>/dev/null
		wait "$FAKEPID" 2>/dev/null
		FAKEPID=
	fi
}

requests() {	# requests: how many requests fakellm has logged
	grep -c . "$T/fake.log"
}

# requests_for TARGET: requests that asked for TARGET.
requests_for() {
	python3 - "$T/fake.log" "$1" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    if line.strip() and sys.argv[2] in json.loads(line).get("targets", []):
        n += 1
print(n)
PY
}

pm() {		# pm ARGS: run planmake in $T/w, output in $T/out, $T/err
	(cd "$T/w" && "$PLANMAKE" "$@") >"$T/out" 2>"$T/err"
}

finish() {	# end of a test script
	[ "$nfail" -eq 0 ]
}
