#!/bin/bash
# The graph from the command line: where a cycle's edges are named, found
# again from the plan (a context file, a prerequisite, and one that a rule
# without a prompt adds), compared byte for byte.
. "$(dirname "$0")/lib.sh"

W=$T/w
mkdir -p "$W"
start_fake

cat >"$W/Planfile" <<'EOF'
all: a.txt c.txt
a.txt: in.md
	Write a.
a.txt: context = notes.md b.txt
b.txt: x.md a.txt
	Write b.
c.txt: d.txt
	Write c.
d.txt:
	Write d.
d.txt: e.md c.txt
EOF
touch "$W/in.md" "$W/notes.md" "$W/x.md" "$W/e.md"
n0=$(requests)
pm -t check
check "cycle: a cycle exits 2" test $? -eq 2
cat >"$T/want" <<'EOF'
Planfile:2:1: error: dependency cycle: a.txt -> b.txt -> a.txt
Planfile:4:8: note: 'a.txt' depends on 'b.txt' here
Planfile:5:13: note: 'b.txt' depends on 'a.txt' here
Planfile:7:1: error: dependency cycle: c.txt -> d.txt -> c.txt
Planfile:7:8: note: 'c.txt' depends on 'd.txt' here
Planfile:11:13: note: 'd.txt' depends on 'c.txt' here
2 errors
EOF
if cmp -s "$T/want" "$T/err"; then
	ok "cycle: each edge is named where the plan names it"
else
	not_ok "cycle: each edge is named where the plan names it" \
	    "$(diff "$T/want" "$T/err" | head -20 | tr '\n' '|')"
fi
pm
check "cycle: a build exits 2 too" test $? -eq 2
check "cycle: no request made" test "$(requests)" -eq "$n0"
finish
