#!/bin/sh
# make fuzz: run each libFuzzer target for SECONDS (default 30) on a
# working corpus in build/fuzz/, seeded from tests/fuzz/corpus/NAME.
# A crash, leak or timeout stops with the reproducer's name; turn it into
# a file under tests/fuzz/regress/NAME/ so that make check keeps it.
# regress/ is not a seed: its stress inputs (deep nesting, long chains)
# would slow every run down to a few hundred inputs a second.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
status=0
for name in planfile yaml; do
	bin=$top/build/fuzz/fuzz_$name
	work=$top/build/fuzz/corpus-$name
	mkdir -p "$work"
	echo "fuzz: $name for ${secs}s"
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=8192 -print_final_stats=1 \
	    -dict="$top/tests/fuzz/$name.dict" \
	    -artifact_prefix="$top/build/fuzz/$name-" \
	    "$work" "$top/tests/fuzz/corpus/$name" \
	    >"$top/build/fuzz/$name.log" 2>&1
	st=$?
	grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb):' \
	    "$top/build/fuzz/$name.log" | sed 's/^/fuzz: /'
	if [ "$st" -ne 0 ]; then
		tail -60 "$top/build/fuzz/$name.log"
		echo "fuzz: $name FAILED (exit $st); reproduce with:"
		echo "  $bin $top/build/fuzz/$name-<artifact>"
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "fuzz: no crash"
exit "$status"
