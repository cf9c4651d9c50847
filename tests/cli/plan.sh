#!/bin/bash
# The plan on the command line: -t check/list/graph, -n, errors with
# locations and exit 2, default goal, command-line variables.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
cat >Planfile <<'PF'
SPEC = SPEC.md
all: out/b.txt
.PHONY: all

out/a.txt: $(SPEC)
	Write a from the spec.

out/b.txt: out/a.txt
	Write b from a.

out/b.txt: tier = strong
PF
cd "$top"

pm -t check
check "-t check exits 0 on a sound plan" test $? -eq 0
check "-t check prints nothing" test ! -s "$T/out" -a ! -s "$T/err"
pm -t list
check "-t list shows tasks, tiers, models" \
    grep -qx "$(printf 'out/b.txt\tstrong\tanthropic:claude-sonnet-4-5')" "$T/out"
pm -t list tier.cheap=openai:gpt-test
check "command line sets a tier" \
    grep -qx "$(printf 'out/a.txt\tcheap\topenai:gpt-test')" "$T/out"
pm -t graph
check "-t graph prints dot edges" grep -q '"out/a.txt" -> "out/b.txt";' "$T/out"
pm -n
check "-n exits 0" test $? -eq 0
check "-n says a.txt would be asked" grep -q 'ask the cheap tier (anthropic:claude-haiku-4-5) for out/a.txt' "$T/out"
check "-n writes nothing" test ! -e "$T/w/out"
pm -t prompt out/b.txt
check "-t prompt shows the layout" grep -q '^Files to write:$' "$T/out"
check "-t prompt shows the model" grep -q 'claude-sonnet-4-5' "$T/out"

# Bad plans: file:line:col, every error, exit 2, nothing asked.
start_fake
cat >"$T/w/Planfile" <<'PF'
all: x y
x: y
	Write x.
y: x
	Write y.
PF
pm
check "a cycle exits 2" test $? -eq 2
check "a cycle is printed whole" grep -q "^Planfile:[0-9]*:1: error: dependency cycle: [xy] -> [xy] -> [xy]$" "$T/err"
check "a cycle's members get notes" test "$(grep -c 'note:.*depends on' "$T/err")" -eq 2
check "a bad plan asks nothing" test "$(requests)" -eq 0

cat >"$T/w/Planfile" <<'PF'
a.txt: SPEC.md
	one
a.txt: SPEC.md
	two
b.txt: nothere.md
	three
PF
pm
check "two rules for a target exit 2" test $? -eq 2
check "two rules: the second named" grep -q "^Planfile:3:1: error: target 'a.txt' is made by two rules" "$T/err"
check "two rules: the first noted" grep -q "^Planfile:1:1: note: first made by the rule here" "$T/err"
check "missing input named with its rule" grep -q "^Planfile:5:8: error: 'b.txt' needs 'nothere.md', which no rule makes" "$T/err"
check "errors are counted" grep -qx '2 errors' "$T/err"

printf 'a.txt: SPEC.md\n\tuse $(UNDEFINED) here\n' >"$T/w/Planfile"
pm -n
check "undefined variable is a warning with a place" grep -q '^Planfile:2:6: warning: undefined variable' "$T/err"

pm -f nosuch
check "a missing plan file exits 2" test $? -eq 2
(cd "$T" && "$PLANMAKE" -t check) >"$T/out" 2>"$T/err"
check "no plan at all exits 2" test $? -eq 2
check "no plan at all says so" grep -q 'no Planfile' "$T/err"
pm -j 0
check "a bad -j exits 2" test $? -eq 2
pm nosuchtarget
check "an unknown goal exits 2" test $? -eq 2
check "an unknown goal is named" grep -q "no rule to make target 'nosuchtarget'" "$T/err"
pm -t nosuchtool
check "an unknown tool exits 2" test $? -eq 2
finish
