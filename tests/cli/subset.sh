#!/bin/bash
# The plan subset of issue 2, from the command line, byte for byte: the
# prompt text planmake would send, the tasks it makes, the default goal,
# and each diagnostic with its place, "Planfile:LINE:COL: error: text".
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
echo 'spec' >"$T/w/SPEC.md"

# plan: the Planfile from stdin, each ">" that starts a line made a tab.
plan() {
	sed 's/^>>/\t\t/; s/^>/\t/' >"$T/w/Planfile"
}

# same NAME FILE: ok when FILE holds exactly the text on stdin.
same() {
	local name=$1 file=$2
	cat >"$T/want"
	if cmp -s "$T/want" "$file"; then
		ok "$name"
	else
		not_ok "$name" "$(diff "$T/want" "$file" | head -20 |
		    tr '\n' '|')"
	fi
}

# holds NAME FILE: ok when the text on stdin (without its final newline)
# is a part of FILE.
holds() {
	local name=$1 file=$2
	cat >"$T/want"
	if python3 -c 'import sys
want = open(sys.argv[1], "rb").read()[:-1]
sys.exit(0 if want in open(sys.argv[2], "rb").read() else 1)' \
	    "$T/want" "$file"; then
		ok "$name"
	else
		not_ok "$name" "$(tr '\n' '|' <"$file" | head -c 600)"
	fi
}

# status NAME WANT: ok when the last pm exited WANT.
status() {
	if [ "$st" -eq "$2" ]; then ok "$1"; else not_ok "$1" "exit $st"; fi
}

run() {		# run ARGS: pm, keeping the exit status in $st
	pm "$@"
	st=$?
}

# asks: what -n said it would ask, without its cost estimates.
asks() {
	sed -e '/^would ask /d' -e 's/; about [0-9]* tokens in, .*$//' "$T/out" \
	    >"$T/asks"
}

start_fake

# --- the prompt text: variables, dollars, "#", blank lines, a tab off.
plan <<'PF'
# A comment.  Below, a value with a trailing comment.
WHO = the reader # not part of the value
HASH = a\#b
both = $(WHO) and ${HASH}
OUT = out.txt
$(OUT): SPEC.md
>For $(WHO), ${both}, $(LATE).
>Shell: $$HOME and ${HOME} and $(PATH_UNSET), $$(date +%s), $1, 5$ and $
>
># A heading, not a comment
>
>>kept tab
>  kept spaces

   	
# This comment ends the prompt.
LATE = set below the rule
PF
run -t prompt out.txt
status "prompt: -t prompt exits 0" 0
holds "prompt: text as the issue says" "$T/out" <<'EOF'

For the reader, the reader and a#b, set below the rule.
Shell: $HOME and ${HOME} and $(PATH_UNSET), $(date +%s), $1, 5$ and $

# A heading, not a comment

	kept tab
  kept spaces

Files to write:
EOF
same "prompt: undefined variables warned at their column" "$T/err" <<'EOF'
Planfile:8:20: warning: undefined variable 'HOME' left as written
Planfile:8:32: warning: undefined variable 'PATH_UNSET' left as written
EOF
run -n
asks
same "prompt: -n output" "$T/asks" <<'EOF'
ask the cheap tier (anthropic:claude-haiku-4-5) for out.txt: 'out.txt' is not in planmake.lock
EOF

# --- a space-indented block loses its smallest indentation.
plan <<'PF'
out.txt:
      deeper by two
    the margin

        deeper by four, after a blank line
next.txt: out.txt
   ${X}
PF
run -t prompt out.txt
holds "spaces: the smallest indentation comes off" "$T/out" <<'EOF'

  deeper by two
the margin

    deeper by four, after a blank line

Files to write:
EOF
run -t check
same "spaces: an undefined variable's column counts the indentation" \
    "$T/err" <<'EOF'
Planfile:7:4: warning: undefined variable 'X' left as written
EOF
status "spaces: a warning alone is no error" 0

# --- mixing tabs and spaces in one block is an error, nothing is asked.
plan <<'PF'
a.txt:
>tab first
    then spaces
b.txt:
  spaces first

>then a tab
PF
run
status "mixed: exit 2" 2
same "mixed: each block reported at its first odd line" "$T/err" <<'EOF'
Planfile:3:1: error: prompt mixes tab and space indentation
Planfile:7:1: error: prompt mixes tab and space indentation
2 errors
EOF
check "mixed: nothing asked" test "$(requests)" -eq 0

# --- one rule with several targets is one task writing them all; an
# aggregate without a prompt asks nothing; .PHONY; the default goal.
plan <<'PF'
.PHONY: all
all: docs
docs: one.md two.md
one.md two.md: SPEC.md
>Write both.
three.md: SPEC.md
>Not wanted by default.
three.md: tier = strong
PF
run -t list
same "tasks: -t list, one line per task" "$T/out" <<'EOF'
one.md two.md	cheap	anthropic:claude-haiku-4-5
three.md	strong	anthropic:claude-sonnet-4-5
EOF
run -n
asks
same "default goal: the first rule's targets only" "$T/asks" <<'EOF'
ask the cheap tier (anthropic:claude-haiku-4-5) for one.md: 'one.md' is not in planmake.lock
EOF
run -n three.md
asks
same "default goal: a TARGET argument overrides it" "$T/asks" <<'EOF'
ask the strong tier (anthropic:claude-sonnet-4-5) for three.md: 'three.md' is not in planmake.lock
EOF
run
status "tasks: the build exits 0" 0
check "tasks: one request for the two targets" test "$(requests)" -eq 1
check "tasks: that request names both" \
    test "$(requests_for one.md)$(requests_for two.md)" = 11
check "tasks: both written" grep -qx 'content for two.md' "$T/w/two.md"
check "tasks: no file for the aggregate or the phony goal" \
    test ! -e "$T/w/docs" -a ! -e "$T/w/all"
check "tasks: the other task not built" test ! -e "$T/w/three.md"
run three.md
check "tasks: the named goal built" test "$(requests_for three.md)" -eq 1
rm -rf "$T/w"/*.md "$T/w/planmake.lock" "$T/w/.planmake"
echo 'spec' >"$T/w/SPEC.md"
: >"$T/fake.log"

# --- the default goal skips names starting with '.', as make does.
plan <<'PF'
.hidden: SPEC.md
>Hidden.
visible.txt: SPEC.md
>Visible.
PF
run -n
asks
same "default goal: a '.name' rule is not the first rule" "$T/asks" <<'EOF'
ask the cheap tier (anthropic:claude-haiku-4-5) for visible.txt: 'visible.txt' is not in planmake.lock
EOF

# --- graph errors, all in one run, then exit 2 with nothing asked.
plan <<'PF'
all: a.txt b.txt c.txt
a.txt: SPEC.md   missing.md
>Alpha.
b.txt: SPEC.md
>Beta.
b.txt: a.txt
>Beta again.
c.txt: d.txt
>Gamma.
d.txt: e.txt
>Delta.
e.txt: c.txt
>Epsilon.
PF
run
status "graph: exit 2" 2
same "graph: missing input, two rules, cycle, byte for byte" "$T/err" <<'EOF'
Planfile:6:1: error: target 'b.txt' is made by two rules
Planfile:4:1: note: first made by the rule here
Planfile:2:18: error: 'a.txt' needs 'missing.md', which no rule makes and which cannot be read: No such file or directory
Planfile:8:1: error: dependency cycle: c.txt -> d.txt -> e.txt -> c.txt
Planfile:8:8: note: 'c.txt' depends on 'd.txt' here
Planfile:10:8: note: 'd.txt' depends on 'e.txt' here
Planfile:12:8: note: 'e.txt' depends on 'c.txt' here
3 errors
EOF
check "graph: nothing asked" test "$(requests)" -eq 0
check "graph: nothing written" test ! -e "$T/w/b.txt" -a ! -e "$T/w/planmake.lock"
run -t check
status "graph: -t check exits 2 too" 2

plan <<'PF'
all: x
.PHONY: all x
PF
run -t check
same "graph: a .PHONY prerequisite no rule makes" "$T/err" <<'EOF'
Planfile:1:6: error: no rule makes 'x', which is .PHONY
1 error
EOF

# --- syntax errors: the place of each, in bytes from 1.
printf '%s\n' 'A = 1' '   stray = 1' 'foo bar' 'x != y' 'export B' \
    'out: max_token = 3' 'out: = 3' ': a' 'y:: z' 'ok: SPEC.md' \
    'ok: tier=cheap' >"$T/w/Planfile"
run
status "syntax: exit 2" 2
same "syntax: every error, each at its column" "$T/err" <<'EOF'
Planfile:2:4: error: prompt line outside a rule
Planfile:3:1: error: expected a rule or an assignment
Planfile:4:3: error: '!=' assignments run the shell; planmake runs no commands
Planfile:5:1: error: 'export' is not supported in a plan
Planfile:6:6: error: unknown setting 'max_token'; did you mean 'max_tokens'?
Planfile:7:6: error: expected a setting name before '='
Planfile:8:1: error: expected a target before ':'
Planfile:9:2: error: double-colon rules are not supported
8 errors
EOF
check "syntax: nothing asked" test "$(requests)" -eq 0

# A byte order mark, CR LF and continued lines keep physical columns.
printf '\xef\xbb\xbfx != 1\r\n' >"$T/w/Planfile"
run -t check
same "places: columns on line 1 start after a byte order mark" \
    "$T/err" <<'EOF'
Planfile:1:3: error: '!=' assignments run the shell; planmake runs no commands
1 error
EOF
printf 'all: SPEC.md \\\r\n     gone.md\r\n\tuse $(Q)\r\n' >"$T/w/Planfile"
run -t check
same "places: CR LF and a continued line" "$T/err" <<'EOF'
Planfile:3:6: warning: undefined variable 'Q' left as written
Planfile:2:6: error: 'all' needs 'gone.md', which no rule makes and which cannot be read: No such file or directory
1 error
EOF
printf 'A = $(Q) \\\n  ${R}\nall: SPEC.md\n\t$(A)\n' >"$T/w/Planfile"
run -t check
same "places: an undefined variable inside a variable is placed at its use" \
    "$T/err" <<'EOF'
Planfile:4:2: warning: undefined variable 'Q' left as written
Planfile:4:2: warning: undefined variable 'R' left as written
EOF
printf 'a.txt: SPEC.md\n\tcaf\xe9\n  \xff\n' >"$T/w/Planfile"
run -t check
same "places: a prompt that is not UTF-8" "$T/err" <<'EOF'
Planfile:2:5: error: prompt is not valid UTF-8
Planfile:3:3: error: prompt is not valid UTF-8
Planfile:3:1: error: prompt mixes tab and space indentation
3 errors
EOF

# --- settings are checked before anything runs.
plan <<'PF'
all: a.txt b.txt c.txt
a.txt: SPEC.md
>Alpha.
b.txt: SPEC.md
>Beta.
c.txt: SPEC.md
>Gamma.
b.txt: tier = fast
c.txt: max_tokens = many
PF
run
status "settings: a bad one is a plan error, exit 2" 2
same "settings: each named at its place" "$T/err" <<'EOF'
Planfile:8:8: error: unknown tier 'fast' (define it: tier.fast = PROVIDER:MODEL)
Planfile:9:8: error: bad max_tokens 'many'
2 errors
EOF
check "settings: nothing asked, not even the good task" test "$(requests)" -eq 0
run -t check
status "settings: -t check finds them" 2
run -t check tier.fast=openai:gpt-test max_tokens=100
status "settings: the command line can mend them" 0
same "settings: then -t check is silent" "$T/err" </dev/null
run -t check tier=nowhere
same "settings: a bad one on the command line" "$T/err" <<'EOF'
planmake: command line: unknown tier 'nowhere' (define it: tier.nowhere = PROVIDER:MODEL)
1 error
EOF

# --- at most 20 errors, then a line saying there were more.
for i in $(seq 30); do printf 'x%s\n' "$i"; done >"$T/w/Planfile"
run -t check
status "limit: exit 2" 2
check "limit: 20 errors shown, then 'too many errors'" \
    test "$(grep -c ': error: expected a rule' "$T/err")" -eq 20 -a \
    "$(sed -n 21p "$T/err")" = 'Planfile: error: too many errors'
for i in $(seq 30); do printf 't%s.txt: no%s.md\n\tP.\n' "$i" "$i"; done \
    >"$T/w/Planfile"
run -t check
check "limit: graph errors stop at 20 too" \
    test "$(grep -c "which no rule makes" "$T/err")" -eq 20 -a \
    "$(tail -2 "$T/err" | head -1)" = 'Planfile: error: too many errors'
finish
