#!/bin/sh
# make demo: run examples/wc end to end against tests/fakellm (a local
# stand-in for the Anthropic API; no network, no key, no cost), then show
# that a rerun asks nothing and that an edit reruns only what it touches.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
pm=${PLANMAKE:-$top/planmake}		# the tests run it with their own build
demo=${DEMO_DIR:-$top/build/demo}
fakellm=${FAKELLM:-$top/build/fakellm}
rm -rf "$demo"
mkdir -p "$demo"
cp "$top"/examples/wc/Planfile "$top"/examples/wc/PLAN.md "$demo"/

"$fakellm" --port-file "$demo/.port" --log "$demo/.requests" \
    --delay-ms 300 &
fake=$!
trap 'kill $fake 2>/dev/null' EXIT INT TERM
i=0
while [ ! -s "$demo/.port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
ANTHROPIC_BASE_URL=http://127.0.0.1:$(cat "$demo/.port")
ANTHROPIC_API_KEY=demo-key-for-fakellm
export ANTHROPIC_BASE_URL ANTHROPIC_API_KEY
cd "$demo"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
asked() { grep -c . .requests || true; }

step "planmake -n: what would run (nothing is asked)"
"$pm" -n
step "planmake -j8: ten tasks, 300 ms per answer, cheap tier then a strong review"
"$pm" -j8
echo "requests so far: $(asked)"
step "planmake again: nothing changed, nothing asked"
"$pm" -j8
echo "requests so far: $(asked)"
step "rm src/main.c; planmake: it comes back from the cache"
rm src/main.c
"$pm" -j8
echo "requests so far: $(asked)"
step "edit the prompt of src/read.c; planmake: that task and what reads it"
sed 's/Implement wc_count_fd on top of wc_count_buf\./& Retry reads cut short by EINTR./' Planfile >Planfile.new
mv Planfile.new Planfile
"$pm" -n
"$pm" -j8
echo "requests so far: $(asked)"
step "the files (in build/demo)"
find . -type f ! -name '.*' ! -path './.planmake/*' | sort
step "planmake.lock"
cut -c1-90 planmake.lock
