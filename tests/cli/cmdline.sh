#!/bin/bash
# The command line as a make user types it: options after targets, the
# exit status when output cannot be written, -j against the open-file
# limit, -t graph of a lone task, and what an interrupted run says.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'the spec' >SPEC.md
cat >Planfile <<'PF'
all: a.txt b.txt lone.txt
.PHONY: all
a.txt: SPEC.md
	Write a.
b.txt: a.txt
	Write b.
lone.txt:
	Write a lone file.
island.txt:
	Write a file nothing needs.
PF
cd "$top"
start_fake

# Options may follow targets, as in GNU make.
pm a.txt -n
check "an option after a target is an option" test $? -eq 0
check "... and -n after the target still writes nothing" test ! -e "$T/w/a.txt"
check "... and names what would run" grep -q 'for a.txt' "$T/out"

# -t graph shows a task that has no edge at all.
pm -t graph
check "-t graph shows a task with no edge" grep -q '"island.txt";' "$T/out"

# Output that cannot be written is an error, not a silent success.
(cd "$T/w" && "$PLANMAKE" -t list >/dev/full) 2>"$T/err"
check "-t list to a full device exits non-zero" test $? -ne 0
check "... and says why" grep -q 'cannot write standard output' "$T/err"

# A -j beyond the open-file limit is cut down, with a warning.
(cd "$T/w" && ulimit -n 128 && ulimit -Hn 128 && "$PLANMAKE" -j 5000 all) \
    >"$T/out" 2>"$T/err"
check "-j past the file limit still builds" test $? -eq 0
check "... and says what -j it used" grep -q 'using -j 32' "$T/err"

# A .PHONY task with a prompt: its answer, as it is, on stdout; no file.
cat >"$T/w/Ask" <<'PF'
.PHONY: summary
summary: SPEC.md
	Summarise the spec.
PF
: >"$T/fake.log"
pm -f Ask
check "a phony task prints its answer" grep -q '^fake answer ' "$T/out"
check "... the plain text, no fence" sh -c "! grep -q '\`\`\`' '$T/out'"
check "... and writes no file" test ! -e "$T/w/summary"
check "... the request asks for no file" \
    sh -c "grep -q 'No file is to be written' '$T/fake.log' && ! grep -q 'Files to write' '$T/fake.log'"
cp "$T/out" "$T/first"
pm -f Ask
check "a phony task again: the same answer, from the cache" \
    sh -c "cmp -s '$T/out' '$T/first' && test \$(grep -c . '$T/fake.log') -eq 1"

# With --json, stdout is the report alone; a phony answer goes to stderr.
rm -rf "$T/w/.planmake"
pm -f Ask --json
check "--json with a phony task: stdout is one JSON object" \
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/out"
check "... and the phony answer is on stderr" grep -q '^fake answer ' "$T/err"

# Interrupted before anything finished: no "nothing to do".
stop_fake
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/*.txt
start_fake --delay-ms 3000
(cd "$T/w" && exec "$PLANMAKE" -j2 all) >"$T/out" 2>"$T/err" &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
st=$?
check "SIGTERM exits 130" test $st -eq 130
check "SIGTERM aborts, saying so" grep -q 'interrupted: aborting' "$T/err"
check "an interrupted run does not claim all is up to date" \
    sh -c "! grep -q 'nothing to do' '$T/err'"
# A setting for a target no rule makes is a misspelt target: a warning.
printf 'REVIEW.md:\n\tReview.\nREVEIW.md: tier = strong\n' >"$T/w/Typo"
pm -f Typo -t check
check "a setting for a target no rule makes: still exit 0" test $? -eq 0
check "... with a warning at its place" \
    grep -qx "Typo:3:12: warning: 'tier' is set for 'REVEIW.md', which no rule makes" "$T/err"
finish
