#!/bin/bash
# A build that stops early (a failure without -k) still counts the tasks
# that were up to date as up to date, not as "not started".
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cat >"$T/w/Planfile" <<'PF'
all: a.txt b.txt c.txt d.txt
.PHONY: all
a.txt:
	Write a.
b.txt:
	Write b.
c.txt:
	Write c.
d.txt:
	Write d.
PF
cat >"$T/script.json" <<'JS'
[{"match": "Write b, again.", "status": 400, "message": "no"}]
JS
start_fake --script "$T/script.json"
pm -j1
check "the first build exits 0" test $? -eq 0
sed -i 's/Write b\./Write b, again./' "$T/w/Planfile"
pm -j1
check "a failure without -k exits 1" test $? -eq 1
check "the summary counts the three up-to-date tasks" \
    grep -q '4 tasks: 0 asked, 0 from cache, 3 up to date, 1 failed' "$T/err"
check "... and lists none of them as not started" \
    sh -c "! grep -q 'not started' '$T/err'"
finish
