#!/bin/bash
# End to end against tests/fakellm: requests, cache, lock, reruns, edits.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
printf '# Plan\nA tiny library.\n' >PLAN.md
{
	echo 'PLAN = PLAN.md'
	echo 'all: REVIEW.md'
	echo '.PHONY: all'
	echo 'include/a.h: $(PLAN)'
	printf '\tWrite the header.\n'
	for i in 1 2 3 4 5 6 7 8 9 10; do
		echo "src/f$i.c: include/a.h \$(PLAN)"
		printf '\tImplement part %s.\n' "$i"
	done
	echo 'REVIEW.md: tier = strong'
	echo 'REVIEW.md: src/f1.c src/f2.c src/f3.c src/f4.c src/f5.c src/f6.c src/f7.c src/f8.c src/f9.c src/f10.c'
	printf '\tReview the code against the plan.\n'
} >Planfile
cd "$top"

# A 12-task plan at -j8 with 300 ms per answer.
start_fake --delay-ms 300
t0=$(date +%s.%N)
pm -j8
st=$?
t1=$(date +%s.%N)
check "first build exits 0" test "$st" -eq 0
check "12 requests on the first build" test "$(requests)" -eq 12
el=$(awk "BEGIN { print $t1 - $t0 }")
# Serial would be 12 x 0.3 = 3.6 s; the graph's depth is 3 (0.9 s).
check "-j8 overlaps requests ($el s, serial 3.6 s)" \
    awk "BEGIN { exit !($el < 2.4) }"
check "every target written" test -s "$T/w/include/a.h" -a -s "$T/w/src/f10.c" -a -s "$T/w/REVIEW.md"
check "a target holds the fenced content only" \
    grep -qx 'content for src/f3.c' "$T/w/src/f3.c"
strong=$(grep -c '"model":"claude-sonnet-4-5"' "$T/fake.log")
check "strong model asked only for the review" test "$strong" -eq 1
check "the review went to the strong model" \
    python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if "REVIEW.md" in r["targets"] and r["model"] != "claude-sonnet-4-5": sys.exit(1)
    if "REVIEW.md" not in r["targets"] and r["model"] != "claude-haiku-4-5": sys.exit(1)' "$T/fake.log"
check "requests carry the key and version headers" \
    grep -q '"headers":\[[^]]*"x-api-key"[^]]*"anthropic-version"' "$T/fake.log"
check "summary names the tiers and cost" grep -q 'cost: .*cheap.*strong.*total \$' "$T/err"
check "lock file written and sorted" \
    sh -c "head -1 '$T/w/planmake.lock' | grep -q '^# planmake lock 1' && tail -n +2 '$T/w/planmake.lock' | cut -f1 | sort -c"
check "the API key reaches no file of planmake's" \
    sh -c "! grep -rq test-key-not-secret '$T/w' '$T/err'"

# A rerun asks nothing.
pm -j8
check "rerun exits 0" test $? -eq 0
check "rerun makes no request" test "$(requests)" -eq 12
check "rerun says nothing to do" grep -q 'nothing to do' "$T/err"

# A deleted target comes back from the cache.
rm "$T/w/src/f4.c"
pm
check "deleted target restored" grep -qx 'content for src/f4.c' "$T/w/src/f4.c"
check "restoring asks nothing" test "$(requests)" -eq 12

# A prompt edit asks that task and those whose inputs changed.
sed -i 's/Implement part 2\./Implement part 2 carefully./' "$T/w/Planfile"
pm -n
check "-n names the edited task" grep -q 'src/f2.c: its request changed' "$T/out"
check "-n marks the review as dependent" grep -q 'maybe ask for REVIEW.md' "$T/out"
check "-n asks nothing" test "$(requests)" -eq 12
: >"$T/fake.log"
pm -j8
check "edit asks 2: the task and the review" test "$(requests)" -eq 2
check "edited task asked" test "$(requests_for src/f2.c)" -eq 1
check "review asked" test "$(requests_for REVIEW.md)" -eq 1

# An input edit reruns its readers; a reverted edit costs nothing.
cp "$T/w/PLAN.md" "$T/plan.bak"
echo 'More detail.' >>"$T/w/PLAN.md"
: >"$T/fake.log"
pm -j8
check "input edit asks all 12 that read it" test "$(requests)" -eq 12
cp "$T/plan.bak" "$T/w/PLAN.md"
: >"$T/fake.log"
pm -j8
check "reverting the edit is answered from the cache" test "$(requests)" -eq 0
check "the revert restored 12 from the cache" grep -q '12 from cache' "$T/err"

# -q: 0 when up to date, 1 when not; nothing asked.
pm -q
check "-q exits 0 when up to date" test $? -eq 0
rm "$T/w/src/f1.c"
pm -q
check "-q exits 1 when a target is missing" test $? -eq 1
check "-q printed nothing" test ! -s "$T/out" -a ! -s "$T/err"

# A fresh clone with the targets and the lock, but no cache, is up to date.
pm
mkdir "$T/clone"
(cd "$T/w" && tar cf - --exclude=.planmake .) | (cd "$T/clone" && tar xf -)
: >"$T/fake.log"
(cd "$T/clone" && "$PLANMAKE" -j8) >"$T/out" 2>"$T/err"
check "fresh clone with the lock asks nothing" test "$(requests)" -eq 0
check "fresh clone is up to date" grep -q 'nothing to do' "$T/err"

# --offline: a miss fails and nothing is asked.
sed -i 's/Implement part 5\./Implement part 5 twice./' "$T/w/Planfile"
: >"$T/fake.log"
pm --offline
check "--offline fails on a cache miss" test $? -eq 1
check "--offline asks nothing" test "$(requests)" -eq 0
check "--offline says why" grep -q "src/f5.c' failed: the cache has no answer" "$T/err"
finish
