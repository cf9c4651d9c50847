#!/bin/bash
# The Planfile language from the command line: each case names the rule
# of grammar/planfile.ebnf it checks; diagnostics are compared byte for
# byte, and a bad plan exits 2 with no request made.
. "$(dirname "$0")/lib.sh"

W=$T/w
mkdir -p "$W"

same() {	# same NAME FILE: ok when FILE holds exactly what stdin holds
	cat >"$T/want"
	if cmp -s "$T/want" "$2"; then
		ok "$1"
	else
		not_ok "$1" "$(diff "$T/want" "$2" | head -20 | tr '\n' '|')"
	fi
}

fresh() {	# fresh: an empty work directory
	rm -rf "$W"
	mkdir -p "$W"
}

start_fake

# ---- include_line ----
fresh
mkdir -p "$W/sub"
printf 'include sub/a.pf\n' >"$W/Planfile"
printf 'X = 1\ninclude b.pf\n' >"$W/sub/a.pf"
printf '\n-include ../Planfile\n' >"$W/sub/b.pf"
pm -t check
check "include_line: an include loop exits 2" test $? -eq 2
same "include_line: an include loop shows the chain" "$T/err" <<'EOF'
sub/b.pf:2:10: error: include loop: Planfile -> sub/a.pf -> sub/b.pf -> sub/../Planfile
Planfile:1:9: note: 'Planfile' includes 'sub/a.pf' here
sub/a.pf:2:9: note: 'sub/a.pf' includes 'sub/b.pf' here
1 error
EOF

fresh
mkdir -p "$W/parts" "$W/adir"
echo spec >"$W/spec.md"
cat >"$W/Planfile" <<'EOF'
include parts/vars.pf
-include parts/absent.pf
sinclude nothere.pf
include $(PARTS)
out.txt: $(SPEC)
	Use $(STYLE).
EOF
printf 'SPEC = spec.md\nPARTS = parts/more.pf\ninclude style.pf\n' \
    >"$W/parts/vars.pf"
printf 'STYLE = terse\n' >"$W/parts/style.pf"
printf 'all: out.txt\n' >"$W/parts/more.pf"
pm -t prompt out.txt
check "include_line: relative to the including file, -include silent" \
    grep -qx 'Use terse.' "$T/out"
same "include_line: nothing said on success" "$T/err" </dev/null

printf 'include absent.pf adir\n-include adir\n' >"$W/Planfile"
pm -t check
check "include_line: a missing include exits 2" test $? -eq 2
same "include_line: missing file and directory are errors" "$T/err" <<'EOF'
Planfile:1:9: error: cannot include absent.pf: No such file or directory
Planfile:1:19: error: cannot include adir: Is a directory
Planfile:2:10: error: cannot include adir: Is a directory
3 errors
EOF

# ---- pattern_rule: a cycle through a pattern ----
fresh
cat >"$W/Planfile" <<'EOF'
all: a.txt
a.txt: b.md
	Write a.
%.md: a.txt
	Write $@ from $<.
EOF
pm
check "pattern_rule: a cycle through a pattern exits 2" test $? -eq 2
same "pattern_rule: the cycle is shown with its pattern" "$T/err" <<'EOF'
Planfile:2:1: error: dependency cycle: a.txt -> b.md -> a.txt
Planfile:2:8: note: 'a.txt' depends on 'b.md' here
Planfile:4:7: note: 'b.md' depends on 'a.txt' here
1 error
EOF

# ---- variable_ref: a variable that refers to itself ----
fresh
cat >"$W/Planfile" <<'EOF'
A = $(A) more
B = $(C)
C = $(B)
out.txt:
	$(A) and $(B)
EOF
pm
check "variable_ref: a self-reference exits 2" test $? -eq 2
same "variable_ref: a self-reference is an error, not a hang" "$T/err" <<'EOF'
Planfile:5:2: error: variable 'A' refers to itself
Planfile:1:1: note: 'A' is assigned here
Planfile:5:11: error: variable 'B' refers to itself (B -> C -> B)
Planfile:2:1: note: 'B' is assigned here
Planfile:3:1: note: 'C' is assigned here
2 errors
EOF

# ---- rule_header: a target made by two rules ----
fresh
echo x >"$W/in.md"
echo x >"$W/extra.md"
cat >"$W/Planfile" <<'EOF'
out.txt: in.md
	One.
out.txt: in.md
	Two.
out.txt: extra.md
EOF
pm
check "rule_header: two rules for a target exit 2" test $? -eq 2
same "rule_header: two rules for a target, both named" "$T/err" <<'EOF'
Planfile:3:1: error: target 'out.txt' is made by two rules
Planfile:1:1: note: first made by the rule here
1 error
EOF

# ---- prompt: tabs and spaces mixed ----
fresh
printf 'out.txt:\n\tTabbed line.\n    Spaced line.\n\tTabbed again.\n' \
    >"$W/Planfile"
pm -t check
check "prompt: mixed indentation exits 2" test $? -eq 2
same "prompt: tabs and spaces mixed in one prompt" "$T/err" <<'EOF'
Planfile:3:1: error: prompt mixes tab and space indentation
1 error
EOF

# ---- prompt_line: a 1 MB line ----
fresh
python3 - "$W/Planfile" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("V = tail\nbig.txt:\n\t" + "0123456789abcdef" * 65536 + " $(V)\n")
PY
pm -t prompt big.txt
check "prompt_line: a 1 MB prompt line loads" test $? -eq 0
check "prompt_line: the 1 MB line is kept whole" python3 -c '
import sys
want = "0123456789abcdef" * 65536 + " tail\n"
sys.exit(want not in open(sys.argv[1]).read())' "$T/out"
pm big.txt
check "prompt_line: a 1 MB prompt line is sent" test $? -eq 0
check "prompt_line: the request holds the whole line" python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
sys.exit(r["body_bytes"] < 1048576)' "$T/fake.log"

# ---- newline: a CRLF Planfile reads as its LF twin ----
fresh
echo spec >"$W/spec.md"
cat >"$T/lf" <<'EOF'
S = spec.md # the spec
ifeq ($(S),spec.md)
T = strong
endif
define SYS
Be brief.
endef
system = $(SYS)
all: out.txt
out.txt: $(S) \
    spec.md
	Write it.

	# A heading, with $$@.
out.txt: tier = $(T)
EOF
cp "$T/lf" "$W/Planfile"
pm -t prompt out.txt
cp "$T/out" "$T/lf.out"
pm -t list
cp "$T/out" "$T/lf.list"
sed 's/$/\r/' "$T/lf" >"$W/Planfile"
pm -t prompt out.txt
check "newline: CRLF gives the same request" cmp -s "$T/out" "$T/lf.out"
check "newline: no CR reaches the request" sh -c "! grep -q \$'\\r' '$T/out'"
pm -t list
check "newline: CRLF gives the same tasks" cmp -s "$T/out" "$T/lf.list"
check "newline: the CRLF plan read its conditional" \
    grep -q "$(printf 'out.txt\tstrong')" "$T/out"
check "prompt: \$\$@ is a literal \$@" grep -qx '# A heading, with \$@.' \
    "$T/lf.out"

# ---- planfile: empty, a directory, a byte order mark ----
fresh
: >"$W/Planfile"
pm -t check
check "planfile: an empty Planfile checks" test $? -eq 0
same "planfile: an empty Planfile says nothing" "$T/err" </dev/null
pm
check "planfile: an empty Planfile builds nothing" test $? -eq 0

fresh
mkdir "$W/Planfile"
pm -t check
check "planfile: a directory exits 2" test $? -eq 2
same "planfile: a Planfile that is a directory" "$T/err" <<'EOF'
planmake: error: cannot read Planfile: Is a directory
1 error
EOF

fresh
printf '\xef\xbb\xbfbad\n' >"$W/Planfile"
pm -t check
same "planfile: a byte order mark is skipped, columns after it" \
    "$T/err" <<'EOF'
Planfile:1:1: error: expected a rule or an assignment
1 error
EOF

# ---- targets, escape: names with spaces, invalid UTF-8 ----
fresh
echo spec >"$W/my spec.md"
printf 'my\\ out.txt: my\\ spec.md\n\tWrite it.\n' >"$W/Planfile"
pm -t list
check "escape: a name with a space" \
    grep -qx "$(printf 'my out.txt\tcheap\tanthropic:claude-haiku-4-5')" \
    "$T/out"
printf 'ok.txt caf\xe9.txt: x\n\tWrite.\n' >"$W/Planfile"
pm -t check
same "targets: invalid UTF-8 in a target name" "$T/err" <<'EOF'
Planfile:1:8: error: target name is not valid UTF-8
1 error
EOF

# ---- setting_name: a misspelled target setting ----
fresh
printf 'out.txt:\n\tWrite.\nout.txt: max_token = 5\nout.txt: colour = red\n' \
    >"$W/Planfile"
pm -t check
same "setting_name: a misspelling is an error with a suggestion" \
    "$T/err" <<'EOF'
Planfile:3:10: error: unknown setting 'max_token'; did you mean 'max_tokens'?
Planfile:4:10: error: unknown setting 'colour'
2 errors
EOF

# ---- the error limit ----
fresh
for i in $(seq 1 25); do echo "garbage $i"; done >"$W/Planfile"
pm -t check
check "line: the loader stops after 20 errors" \
    test "$(grep -c 'error: expected a rule' "$T/err")" -eq 20
tail -2 "$T/err" >"$T/tail"
same "line: too many errors, then the count" "$T/tail" <<'EOF'
Planfile: error: too many errors
21 errors
EOF

# ---- conditional: planmake CI=1 ----
fresh
cat >"$W/Planfile" <<'EOF'
ifeq ($(CI),1)
tier = strong
else
tier = cheap
endif
out.txt:
	Write.
EOF
pm -t list
check "conditional: without CI=1" grep -q "$(printf '\tcheap\t')" "$T/out"
pm -t list CI=1
check "conditional: planmake CI=1 chooses the other branch" \
    grep -q "$(printf '\tstrong\t')" "$T/out"

# ---- pattern_rule, target_setting: end to end ----
fresh
mkdir -p "$W/spec"
echo 'alpha spec' >"$W/spec/alpha.md"
echo 'beta spec' >"$W/spec/beta.md"
echo 'gamma spec' >"$W/spec/gamma.md"
echo 'shared context' >"$W/CONTEXT.md"
cat >"$W/Planfile" <<'EOF'
SPECS = $(wildcard spec/*.md)
context = CONTEXT.md
.PHONY: all
all: $(filter-out src/gamma.c,$(SPECS:spec/%.md=src/%.c))
src/%.c: spec/%.md
	Write $@ from $<.
src/beta.c: tier = strong
EOF
pm -t list
same "pattern_rule: one task per needed target" "$T/out" <<'EOF'
src/alpha.c	cheap	anthropic:claude-haiku-4-5
src/beta.c	strong	anthropic:claude-sonnet-4-5
EOF
pm -t graph
check "pattern_rule: -t graph has the pattern tasks' edges" \
    grep -q '"spec/alpha.md" -> "src/alpha.c";' "$T/out"
pm -t prompt src/gamma.c
check "pattern_rule: a command-line goal makes its pattern task" \
    grep -qx 'Write src/gamma.c from spec/gamma.md.' "$T/out"
n0=$(requests)
pm
check "pattern_rule: the build exits 0" test $? -eq 0
check "pattern_rule: two requests" test "$(( $(requests) - n0 ))" -eq 2
check "pattern_rule: the targets are written" \
    test -s "$W/src/alpha.c" -a -s "$W/src/beta.c" -a ! -e "$W/src/gamma.c"
check "setting_name: context is sent after the system text, not in the user turn" python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
p = r["prompt"]
sys.exit(not (p.startswith("File spec/") and "shared context" not in p))' \
    "$T/fake.log"
pm -t prompt src/alpha.c
check "setting_name: -t prompt shows the context before the inputs" \
    awk '/^--- context ---$/ { c = NR } /^File CONTEXT.md:$/ && c { f = NR }
	/^--- user ---$/ { u = NR } END { exit !(c && f > c && u > f) }' "$T/out"
echo 'new context' >"$W/CONTEXT.md"
pm -n
check "setting_name: a changed context file makes tasks stale" \
    test "$(grep -c '^ask' "$T/out")" -eq 2

# ---- phony_rule: a phony target with a prompt writes to stdout ----
fresh
echo 'notes' >"$W/notes.md"
cat >"$W/Planfile" <<'EOF'
.PHONY: summary
summary: notes.md
	Summarise the notes.
EOF
pm summary
check "phony_rule: a phony task runs" test $? -eq 0
check "phony_rule: its answer goes to stdout" \
    grep -q '^fake answer ' "$T/out"
check "phony_rule: and to no file" test ! -e "$W/summary"

# ---- bad settings are caught by -t check ----
fresh
printf 'out.txt:\n\tWrite.\nout.txt: max_tokens = lots\n' >"$W/Planfile"
pm -t check
check "setting_name: -t check exits 2 on a bad value" test $? -eq 2
same "setting_name: -t check names a bad value" "$T/err" <<'EOF'
Planfile:3:10: error: bad max_tokens 'lots'
1 error
EOF

n0=$(requests)
fresh
printf 'all: x\nx:\n\t$(nofunc y)\n' >"$W/Planfile"
pm
check "function_name: an unknown function exits 2" test $? -eq 2
same "function_name: an unknown function, and no request" "$T/err" <<'EOF'
Planfile:3:2: error: unknown function 'nofunc' (write $$( for a literal '$(')
1 error
EOF
check "function_name: no request made" test "$(requests)" -eq "$n0"
finish
