#!/bin/bash
# Issue 3, "How we will check it", step by step against tests/fakellm: a
# 12-task plan at -j8 with 300 ms per answer, the strong tier only for the
# review, reruns that ask nothing, a prompt edit that asks exactly the
# tasks whose inputs changed, a cycle and a persistent HTTP 500.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
printf '# Plan\nA word-count library in ten parts.\n' >PLAN.md
{
	echo 'PLAN = PLAN.md'
	echo 'all: REVIEW.md'
	echo '.PHONY: all'
	echo 'include/wc.h: $(PLAN)'
	printf '\tWrite the public header described in the plan.\n'
	for i in 1 2 3 4 5 6 7 8 9 10; do
		echo "src/p$i.c: include/wc.h \$(PLAN)"
		printf '\tImplement part %s of include/wc.h.\n' "$i"
	done
	echo 'REVIEW.md: tier = strong'
	printf 'REVIEW.md: include/wc.h'
	for i in 1 2 3 4 5 6 7 8 9 10; do printf ' src/p%s.c' "$i"; done
	printf ' $(PLAN)\n\tReview the code against the plan.\n'
} >Planfile
cd "$top"

# Part 3 always gets the same answer, whatever its prompt says.
cat >"$T/script.json" <<'JS'
[{"match": "Implement part 3 ", "answer": "src/p3.c\n```c\nint part3;\n```\n"}]
JS
start_fake --delay-ms 300 --script "$T/script.json"

# The first build: 12 tasks, -j8, well under the serial 12 x 0.3 s.
t0=$(date +%s.%N)
pm -j8
st=$?
t1=$(date +%s.%N)
el=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")
check "first build exits 0" test "$st" -eq 0
check "first build makes 12 requests" test "$(requests)" -eq 12
check "12 tasks at -j8 take $el s, well under the serial 3.6 s" \
    awk "BEGIN { exit !($el < 2.0) }"
overlap=$(python3 - "$T/fake.log" <<'PY'
import json, sys
ev = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    ev += [(r["t_start"], 1), (r["t"], -1)]
n = best = 0
for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
    n += d
    best = max(best, n)
print(best)
PY
)
check "the server saw 8 requests in flight at once (saw $overlap)" \
    test "$overlap" -eq 8
check "the strong model is asked once, for the review" \
    python3 -c 'import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
strong = [r for r in rs if r["model"] == "claude-sonnet-4-5"]
cheap = [r for r in rs if r["model"] == "claude-haiku-4-5"]
sys.exit(not (len(strong) == 1 and strong[0]["targets"] == ["REVIEW.md"]
    and len(cheap) == 11))' "$T/fake.log"
missing=
for f in include/wc.h src/p{1,2,3,4,5,6,7,8,9,10}.c REVIEW.md; do
	[ -s "$T/w/$f" ] || missing="$missing $f"
done
check "every target is written${missing:+ (missing:$missing)}" test -z "$missing"
check "a target holds its block's content" \
    grep -qx 'content for src/p7.c' "$T/w/src/p7.c"
check "the scripted answer is the file" grep -qx 'int part3;' "$T/w/src/p3.c"
check "the summary counts the run" \
    grep -q '12 tasks: 12 asked, 0 from cache, 0 up to date' "$T/err"
check "the summary gives the cost per tier" \
    grep -q 'cost: cheap (claude-haiku-4-5) \$[0-9.]*, strong (claude-sonnet-4-5) \$[0-9.]*; total \$' "$T/err"

check "planmake.lock: sorted, one line per target, key and content hash" \
    python3 -c 'import hashlib, sys
lines = open(sys.argv[1] + "/planmake.lock").read().splitlines()
assert lines[0] == "# planmake lock 1"
rows = [l.split("\t") for l in lines[1:]]
assert [r[0] for r in rows] == sorted(r[0] for r in rows) and len(rows) == 12
for path, key, h in rows:
    assert len(key) == 64 and h == hashlib.sha256(
        open(sys.argv[1] + "/" + path, "rb").read()).hexdigest(), path
' "$T/w"

# The second run asks nothing.
pm -j8
check "second run exits 0" test $? -eq 0
check "second run makes no request" test "$(requests)" -eq 12
check "second run: nothing to do" grep -q 'nothing to do: 12 tasks up to date' "$T/err"

# A deleted target comes back from the cache, with no request.
cp "$T/w/src/p5.c" "$T/p5.before"
rm "$T/w/src/p5.c"
pm -j8
check "deleted target: exits 0" test $? -eq 0
check "deleted target: no request" test "$(requests)" -eq 12
check "deleted target: restored as it was" cmp -s "$T/p5.before" "$T/w/src/p5.c"
check "deleted target: one from the cache, 11 up to date" \
    grep -q '1 from cache, 11 up to date' "$T/err"

# A prompt edit whose answer changes: that task and the review, which
# reads its output.  Nothing else.
sed -i 's/Implement part 2 of/Implement part 2, with care, of/' "$T/w/Planfile"
: >"$T/fake.log"
pm -j8
check "edited prompt: exits 0" test $? -eq 0
check "edited prompt: 2 requests" test "$(requests)" -eq 2
check "edited prompt: the edited task is asked" test "$(requests_for src/p2.c)" -eq 1
check "edited prompt: the review, downstream, is asked" \
    test "$(requests_for REVIEW.md)" -eq 1

# A prompt edit whose answer comes back byte for byte the same: only that
# task; nothing downstream, since its inputs did not change.
sed -i 's/Implement part 3 of/Implement part 3 (again) of/' "$T/w/Planfile"
: >"$T/fake.log"
pm -j8
check "same answer: exits 0" test $? -eq 0
check "same answer: 1 request" test "$(requests)" -eq 1
check "same answer: it was the edited task" test "$(requests_for src/p3.c)" -eq 1
check "same answer: the review is up to date" grep -q '1 asked, 0 from cache, 11 up to date' "$T/err"
pm
check "same answer: then nothing to do" grep -q 'nothing to do' "$T/err"
stop_fake

# A cycle exits 2 and names it; nothing is asked.
mkdir -p "$T/cyc"
cat >"$T/cyc/Planfile" <<'PF'
all: a.md
.PHONY: all
a.md: b.md
	Write a.
b.md: c.md
	Write b.
c.md: a.md
	Write c.
PF
start_fake
(cd "$T/cyc" && "$PLANMAKE") >"$T/out" 2>"$T/err"
check "a cycle exits 2" test $? -eq 2
check "a cycle is named whole" \
    grep -Eq '^Planfile:[0-9]+:1: error: dependency cycle: ([abc]\.md -> ){3}[abc]\.md$' "$T/err"
check "a cycle asks nothing" test "$(requests)" -eq 0
stop_fake

# A persistent HTTP 500 exits 1, quoting the server's message.  (A new
# server is a new base URL, which is part of every key, so this uses a
# plan of its own.)
mkdir -p "$T/e"
cat >"$T/e/Planfile" <<'PF'
all: x.md y.md z.md
.PHONY: all
x.md:
	Write x.
y.md: x.md
	Write y from x.
z.md:
	Write z.
PF
cat >"$T/script.json" <<'JS'
[{"match": "Write x.", "status": 500, "message": "overheated rack 7, try later"}]
JS
start_fake --script "$T/script.json"
(cd "$T/e" && "$PLANMAKE" -j1 retries=2 z.md x.md y.md) >"$T/out" 2>"$T/err"
check "a persistent 500 exits 1" test $? -eq 1
check "a persistent 500 quotes the server" \
    grep -q "^planmake: task 'x.md' failed: anthropic: HTTP 500 api_error: overheated rack 7, try later (request req_fake_[0-9]*) after 3 tries$" "$T/err"
check "a persistent 500 is tried 3 times (retries=2)" test "$(requests_for x.md)" -eq 3
check "a persistent 500: its dependent is skipped, not asked" \
    test "$(requests_for y.md)" -eq 0 -a ! -e "$T/e/y.md"
check "a persistent 500: the summary lists failed and skipped" \
    sh -c "grep -q '^planmake: failed: x.md$' '$T/err' && grep -q '^planmake: skipped: y.md$' '$T/err'"
finish
