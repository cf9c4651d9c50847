#!/bin/bash
# make demo: examples/demo.sh runs examples/wc end to end, with the
# numbers of requests the tour in the README promises.
. "$(dirname "$0")/lib.sh"

(cd "$top/examples/wc" && "$PLANMAKE" -t list) >"$T/list" 2>&1
check "examples/wc has ten tasks" test "$(grep -c . "$T/list")" -eq 10
check "examples/wc has a chain: a task reads another task's output" \
    grep -q '"src/read.c" -> "Makefile.wc"' <(cd "$top/examples/wc" && "$PLANMAKE" -t graph)
check "examples/wc has a PLAN.md and a strong-tier review" \
    sh -c "test -s '$top/examples/wc/PLAN.md' && grep -q '^REVIEW.md: tier = strong$' '$top/examples/wc/Planfile'"
DEMO_DIR=$T/demo sh "$top/examples/demo.sh" >"$T/out" 2>&1
check "the demo exits 0" test $? -eq 0
check "the demo asks 10, then none, none, then 3" \
    test "$(grep '^requests so far' "$T/out" | tr -d -c '0-9\n' | tr '\n' ' ')" = "10 10 10 13 "
check "the demo's rerun has nothing to do" grep -q 'nothing to do: 10 tasks up to date' "$T/out"
check "the demo restores the deleted file from the cache" \
    grep -q 'restored from the cache: src/main.c' "$T/out"
check "the demo's edit asks the task and those reading its output" \
    sh -c "grep -q '3 asked, 0 from cache, 7 up to date' '$T/out'"
check "the review went to the strong tier" \
    grep -q 'REVIEW.md (strong, ' "$T/out"
finish
