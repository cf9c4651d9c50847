#!/bin/sh
# make bench: load and check a plan of N tasks (default 100,000) with
# planmake -t check, against ninja -n of the same graph as build.ninja,
# already built (so ninja has only to find that nothing is to do).
# Prints the times, the ratio and the peak RSS of each.
# Uses hyperfine when installed, else a loop over date +%s.%N.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-100000}
runs=${BENCHRUNS:-5}
pm=$top/planmake
dir=$top/build/bench/$n
command -v ninja >/dev/null || { echo "bench: needs ninja (ninja-build)"; exit 2; }
[ -x "$pm" ] || { echo "bench: build ./planmake first"; exit 2; }

# The graph, built once per size: ninja builds it with touch, so its log
# holds every command and ninja -n is a no-op check.
if [ ! -f "$dir/.built" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "bench: generating $n tasks in $dir"
	python3 "$top/tests/bench/gen.py" "$dir" "$n" >"$dir/.last"
	echo "bench: building them once with ninja (touch)"
	(cd "$dir" && ninja -j8 >/dev/null)
	touch "$dir/.built"
fi
last=$(cat "$dir/.last")
cd "$dir"
(ninja -n "$last" | grep -q 'no work to do') ||
    { echo "bench: ninja -n $last is not a no-op"; exit 1; }
"$pm" -t check || { echo "bench: planmake -t check failed"; exit 1; }
"$pm" -f plan.yaml -t check ||
    { echo "bench: planmake -f plan.yaml -t check failed"; exit 1; }
pfb=$(wc -c <Planfile)
njb=$(wc -c <build.ninja)
echo "bench: $n tasks; Planfile $pfb bytes, build.ninja $njb bytes" \
    "($(awk "BEGIN { printf \"%.2f\", $pfb / $njb }")x)"

# mean COMMAND: its mean time in seconds, over $runs runs after one warm-up.
mean() {
	if command -v hyperfine >/dev/null; then
		hyperfine -N --warmup 1 --runs "$runs" --export-json .hf.json \
		    "$1" >/dev/null 2>&1
		python3 -c 'import json,sys
print("%.4f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' .hf.json
		return
	fi
	sh -c "$1" >/dev/null 2>&1
	t0=$(date +%s.%N)
	i=0
	while [ $i -lt "$runs" ]; do
		sh -c "$1" >/dev/null 2>&1
		i=$((i + 1))
	done
	t1=$(date +%s.%N)
	awk "BEGIN { printf \"%.4f\n\", ($t1 - $t0) / $runs }"
}

rss() {		# rss COMMAND: peak resident set in MB
	/usr/bin/time -v sh -c "exec $1 >/dev/null 2>&1" 2>&1 |
	    awk '/Maximum resident set size/ { printf "%.0f\n", $NF / 1024 }'
}

tool=loop
command -v hyperfine >/dev/null && tool=hyperfine
echo "bench: timing with $tool, $runs runs each"
tp=$(mean "$pm -t check")
ty=$(mean "$pm -f plan.yaml -t check")
tn=$(mean "ninja -n $last")
ta=$(mean "ninja -n")
rp=$(rss "$pm -t check")
ry=$(rss "$pm -f plan.yaml -t check")
rn=$(rss "ninja -n $last")
printf 'bench: planmake -t check     %8.3f s  %5s MB\n' "$tp" "$rp"
printf 'bench: ... -f plan.yaml      %8.3f s  %5s MB\n' "$ty" "$ry"
printf 'bench: ninja -n %-13s %8.3f s  %5s MB\n' "(one target)" "$tn" "$rn"
printf 'bench: ninja -n %-13s %8.3f s\n' "(all)" "$ta"
echo "bench: ratio planmake/ninja $(awk "BEGIN { printf \"%.2f\", $tp / $tn }")" \
    "(under 1.00 is faster)"
