#!/bin/bash
# Incremental rebuilds: no rereads, fresh clones, edited targets, the
# flags that bend staleness, -n cost, explain, the journal, the tools
# and the one-writer lock.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
printf '# Plan\nSmall.\n' >PLAN.md
cat >Planfile <<'PF'
max_tokens = 1000
all: b.txt c.txt
.PHONY: all
a.txt: PLAN.md
	Write alpha.
b.txt: a.txt
	Write beta from alpha.
c.txt: PLAN.md
	Write gamma.
PF
cd "$top"
start_fake

# bg ARGS: run planmake in the background; its pid in $bgpid.
bg() {
	(cd "$T/w" && exec "$PLANMAKE" "$@") >"$T/bgout" 2>"$T/bgerr" &
	bgpid=$!
}

# started: wait until the background run has opened its journal (its
# requests go out right after), then a little more.
started() {
	for _ in $(seq 1 200); do
		[ -e "$T/w/.planmake/journal" ] && break
		sleep 0.02
	done
	sleep 0.4
}

# A no-op run reads no file: every hash comes from .planmake/hashes.
pm -j4
check "build asks 3" test "$(requests)" -eq 3
sleep 1.1	# out of the racy window of what was just written
pm -d state
check "first rerun asks nothing" test "$(requests)" -eq 3
pm -d state
check "no-op rerun says nothing to do" grep -q 'nothing to do' "$T/err"
check "no-op rerun reads no file (no 'state: rehash')" \
    sh -c "! grep -q 'debug: state: \(re\)\?hash ' '$T/err'"
check "the hashes come from the store" grep -q 'debug: state: .planmake/hashes: 4 file hashes, loaded in' "$T/err"
# The keys of the last run are remembered by fingerprint; a damaged
# memo only costs time.
check "the key memo is kept" test -s "$T/w/.planmake/keys"
printf 'PMKEYMEM junk' >"$T/w/.planmake/keys"
: >"$T/fake.log"
pm
check "a damaged key memo: exit 0" test $? -eq 0
check "a damaged key memo is a warning" \
    grep -q "warning: .planmake/keys is damaged; computing every key again" "$T/err"
check "a damaged key memo: still nothing asked" test "$(requests)" -eq 0
pm
check "the key memo is written again" sh -c "! grep -q 'keys' '$T/err'"
# libcurl (and its 30 libraries) is loaded only when something is asked.
(cd "$T/w" && LD_DEBUG=files "$PLANMAKE" -s) >/dev/null 2>"$T/lderr"
check "a no-op does not load libcurl" sh -c "! grep -q 'file=libcurl' '$T/lderr'"
(cd "$T/w" && LD_DEBUG=files "$PLANMAKE" -s -B --refresh c.txt) \
    >/dev/null 2>"$T/lderr"
check "a run that asks loads libcurl" grep -q 'file=libcurl' "$T/lderr"
rm "$T/w/c.txt"
(cd "$T/w" && LD_DEBUG=files "$PLANMAKE" -s) >/dev/null 2>"$T/lderr"
check "a run the cache answers restores the target" test -s "$T/w/c.txt"
check "... and loads no libcurl" sh -c "! grep -q 'file=libcurl' '$T/lderr'"
printf '# Plan\nSmaLL.\n' >"$T/w/PLAN.md"	# same size, new content
pm -d state -n
check "an edited input is read again" grep -q 'state: rehash PLAN.md: its stat changed' "$T/err"
check "and its readers are stale" grep -q 'ask the cheap tier .* for a.txt: its request changed' "$T/out"
printf '# Plan\nSmall.\n' >"$T/w/PLAN.md"
pm
check "the reverted input is up to date again" grep -q 'nothing to do' "$T/err"

# A fresh clone: the plan, its inputs, the targets and the lock only.
mkdir "$T/clone"
(cd "$T/w" && cp Planfile PLAN.md a.txt b.txt c.txt planmake.lock "$T/clone/")
: >"$T/fake.log"
(cd "$T/clone" && "$PLANMAKE") >"$T/out" 2>"$T/err"
check "fresh clone exits 0" test $? -eq 0
check "fresh clone asks nothing" test "$(requests)" -eq 0
check "fresh clone is up to date" grep -q 'nothing to do: 3 tasks' "$T/err"
check "fresh clone needed no cache" test ! -e "$T/clone/.planmake/cache"

# An up-to-date task with an edited target: reported and left alone; what
# reads it sees the edit.
echo 'my edit' >>"$T/w/a.txt"
: >"$T/fake.log"
pm
check "edited up-to-date target: exit 0" test $? -eq 0
check "edited target is reported" grep -q "warning: 'a.txt' is not what planmake wrote" "$T/err"
check "edited target is kept" grep -q 'my edit' "$T/w/a.txt"
check "its reader is asked again" test "$(requests_for b.txt)" -eq 1
check "its reader was sent the edit" grep -q 'my edit' "$T/fake.log"
check "only the reader is asked" test "$(requests)" -eq 1

# A stale task with an edited target fails, naming the way out; an
# independent task goes on, even without -k.
sed -i 's/Write alpha\./Write alpha again./; s/Write gamma\./Write gamma again./' "$T/w/Planfile"
: >"$T/fake.log"
pm
check "stale edited task: exit 1" test $? -eq 1
check "the message names the file and the way out" \
    grep -q "task 'a.txt' failed: 'a.txt' was edited since planmake wrote it, and planmake does not overwrite it (--force=a.txt overwrites it; -B rebuilds everything" "$T/err"
check "the edited file is not overwritten" grep -q 'my edit' "$T/w/a.txt"
check "nothing is asked for it" test "$(requests_for a.txt)" -eq 0
check "the independent task goes on" test "$(requests_for c.txt)" -eq 1
check "its dependent is skipped" grep -q 'skipped: b.txt' "$T/err"
: >"$T/fake.log"
pm -n
check "-n says it would refuse" grep -q "^refuse a.txt: 'a.txt' was edited by hand" "$T/out"
: >"$T/fake.log"
pm --force=a.txt
check "--force=TARGET overwrites it" test $? -eq 0
check "--force=TARGET: the edit is gone" sh -c "! grep -q 'my edit' '$T/w/a.txt'"
check "--force=TARGET asks it and its reader" test "$(requests)" -eq 2
pm --force=nosuch.txt
check "--force of no target exits 2" test $? -eq 2
check "--force of no target says so" grep -q -- '--force=nosuch.txt: no task with a prompt makes it' "$T/err"

# -B ignores the lock, but the cache still answers; edits are overwritten.
echo 'another edit' >>"$T/w/c.txt"
: >"$T/fake.log"
pm -B
check "-B exits 0" test $? -eq 0
check "-B asks nothing the cache has" test "$(requests)" -eq 0
check "-B restored all 3 from the cache" grep -q '3 from cache' "$T/err"
check "-B overwrote the edit" sh -c "! grep -q 'another edit' '$T/w/c.txt'"

# --refresh asks again and replaces the cache entries.
touch "$T/mark"
sleep 0.05
: >"$T/fake.log"
pm --refresh
check "--refresh asks every stale one" test "$(requests)" -eq 0
pm --refresh -B
check "--refresh -B asks all 3" test "$(requests)" -eq 3
check "--refresh replaced the entries" \
    test "$(find "$T/w/.planmake/cache" -name '*.json' -newer "$T/mark" | wc -l)" -eq 3

# --offline: what would need a request fails, listed; nothing asked.
sed -i 's/Write gamma again\./Write gamma offline./' "$T/w/Planfile"
: >"$T/fake.log"
pm --offline
check "--offline exits 1" test $? -eq 1
check "--offline asks nothing" test "$(requests)" -eq 0
check "--offline lists the task" grep -q '^planmake: failed: c.txt$' "$T/err"
sed -i 's/Write gamma offline\./Write gamma again./' "$T/w/Planfile"

# What is in the key (planmake.1 lists it) and what is not.
pm -q max_input_bytes=9999999
check "max_input_bytes is not in the key" test $? -eq 0
pm -q tier.fast=anthropic:claude-haiku-4-5 tier=fast
check "the tier's name is not in the key, its model is" test $? -eq 0
(cd "$T/w" && ANTHROPIC_API_KEY=another "$PLANMAKE" -q)
check "the API key is not in the key" test $? -eq 0
pm -q temperature=0.5
check "temperature is in the key" test $? -eq 1
pm -q max_tokens=999
check "max_tokens is in the key" test $? -eq 1
pm -q tier.cheap=anthropic:claude-haiku-4-6
check "the model is in the key" test $? -eq 1

# -q and -n take no lock: they answer while another run holds it.
flock "$T/w/.planmake/lock" sleep 3 &
holder=$!
sleep 0.2
t0=$(date +%s.%N)
pm -q
st=$?
t1=$(date +%s.%N)
check "-q exits 0 when up to date" test $st -eq 0
check "-q does not wait for the writer" awk "BEGIN { exit !($t1 - $t0 < 2) }"
rm "$T/w/c.txt"
pm -q
st=$?
check "-q exits 1 when stale" test $st -eq 1
check "-q prints nothing" test ! -s "$T/out" -a ! -s "$T/err"
: >"$T/fake.log"
pm -n
check "-n marks a cache restore as free" grep -q '^restore c.txt from the cache (free)' "$T/out"
pm --no-wait
check "--no-wait fails at once when another writes" test $? -eq 2
check "--no-wait names the lock" grep -q 'another planmake (pid [0-9]*) is building here' "$T/err"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
pm
check "the cache restores it" grep -q 'restored from the cache: c.txt' "$T/err"

# -n: what would be asked, why, and what it would cost (max_tokens 1000,
# haiku at $1 in and $5 out per million).
sed -i 's/Write alpha again\./Write alpha, third try./' "$T/w/Planfile"
: >"$T/fake.log"
pm -n
check "-n names the first difference" \
    grep -q "^ask the cheap tier (anthropic:claude-haiku-4-5) for a.txt: its request changed: prompt line 1 changed: 'Write alpha again.' -> 'Write alpha, third try.'; about [0-9]* tokens in, at most 1000 out, at most \$0.00[0-9]*$" "$T/out"
check "-n prices the request by the tier's model" python3 -c '
import re, sys
line = [l for l in open(sys.argv[1]) if l.startswith("ask ")][0]
m = re.search(r"about (\d+) tokens in, at most (\d+) out, at most \$([0-9.]+)", line)
tin, tout, cost = int(m.group(1)), int(m.group(2)), m.group(3)
sys.exit(cost != "%.4f" % ((tin * 1 + tout * 5) / 1e6) or tin < 30)' "$T/out"
check "-n marks a dependent as maybe" grep -q '^maybe ask for b.txt: it depends on .a.txt., which will change; if asked, about' "$T/out"
check "-n ends with the totals" grep -q '^would ask 1 task (and 1 more if what they read changes), restore 0 from the cache for free; about [0-9]* tokens in, at most 2000 out, at most \$0\.0[0-9]* (cheap \$0\.0[0-9]*)$' "$T/out"
pm -n tier=strong
check "-n prices by tier" grep -q '(strong \$0\.0[0-9]*)$' "$T/out"
check "-n asked nothing" test "$(requests)" -eq 0

# -d explain and -t explain name the first difference.
pm -n -d explain
check "-d explain names the prompt line" grep -q "debug: explain: 'a.txt' is stale: its request changed: prompt line 1 changed" "$T/err"
pm -t explain b.txt
check "-t explain exits 0" test $? -eq 0
check "-t explain: the task" grep -q "^a.txt: stale: its request changed: prompt line 1 changed: 'Write alpha again.' -> 'Write alpha, third try.'$" "$T/out"
check "-t explain: its dependent" grep -q "^b.txt: stale: it depends on 'a.txt', which will change$" "$T/out"
pm -t explain c.txt max_tokens=500
check "-t explain names a setting" grep -q "^c.txt: stale: its request changed: setting max_tokens changed: 1000 -> 500$" "$T/out"
sed -i 's/Write alpha, third try\./Write alpha again./' "$T/w/Planfile"
echo 'more' >>"$T/w/PLAN.md"
pm -t explain c.txt
check "-t explain names an input" grep -q "^c.txt: stale: its request changed: input 'PLAN.md' changed$" "$T/out"
printf '# Plan\nSmall.\n' >"$T/w/PLAN.md"
pm -t explain c.txt
check "-t explain: up to date" grep -q '^c.txt: up to date$' "$T/out"

# Lock and journal versions: an unknown one is a clear error.
cp "$T/w/planmake.lock" "$T/lock.bak"
sed -i '1s/.*/# planmake lock 9/' "$T/w/planmake.lock"
pm
check "unknown lock version exits 2" test $? -eq 2
check "unknown lock version is named" grep -q 'planmake.lock:1: lock format 9 is not known to this planmake (it reads 1)' "$T/err"
cp "$T/lock.bak" "$T/w/planmake.lock"
printf '# planmake journal 7\n' >"$T/w/.planmake/journal"
pm
check "unknown journal version exits 2" test $? -eq 2
check "unknown journal version is named" grep -q 'journal:1: journal format 7 is not known to this planmake (it reads 1)' "$T/err"
check "and planmake.lock is left alone" cmp -s "$T/lock.bak" "$T/w/planmake.lock"
rm "$T/w/.planmake/journal"

# A run killed after some tasks: the journal carries them into the lock
# at the next start; a torn record is a warning.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/[abc].txt
stop_fake
cat >"$T/script.json" <<'JS'
[{"match": "Write gamma", "delay_ms": 5000}]
JS
start_fake --script "$T/script.json"
bg -j3
for _ in $(seq 1 100); do
	[ -e "$T/w/b.txt" ] && break
	sleep 0.05
done
sleep 0.1
kill -9 "$bgpid"
wait "$bgpid" 2>/dev/null
check "killed run left a journal" test -s "$T/w/.planmake/journal"
check "killed run never wrote the lock" test ! -e "$T/w/planmake.lock"
printf '0123456789abcdef\tset\ttorn' >>"$T/w/.planmake/journal"
: >"$T/fake.log"
pm -n
check "-n sees the journal's tasks as up to date" sh -c "! grep -q 'a.txt\|b.txt' '$T/out'"
check "-n writes no lock" test ! -e "$T/w/planmake.lock"
check "-n, a reader, does not warn of a live writer's last record" sh -c "! grep -q torn '$T/err'"
pm -q
check "-q over a journal: exit 1 (c.txt is not built)" test $? -eq 1
check "-q over a journal prints nothing" test ! -s "$T/out" -a ! -s "$T/err"
echo '[]' >"$T/script.tmp" && mv "$T/script.tmp" "$T/script.json"
: >"$T/fake.log"
pm
check "rerun after the kill exits 0" test $? -eq 0
check "the torn record is a warning" grep -q 'journal:[0-9]*: 1 torn or corrupt record skipped' "$T/err"
check "rerun asks only the unfinished task" test "$(requests)" -eq 1 -a "$(requests_for c.txt)" -eq 1
check "the lock has all three" test "$(grep -c '\.txt' "$T/w/planmake.lock")" -eq 3
check "the journal is gone after a clean end" test ! -e "$T/w/.planmake/journal"

# -t cache: entries, size, hits; gc drops what nothing reaches.
rm "$T/w/a.txt"
pm
pm -t cache
check "-t cache lists an entry per line" test "$(grep -c '^[0-9a-f]\{16\}	[0-9]*	[0-9]*	claude-haiku-4-5	' "$T/out")" -eq 3
check "-t cache counts the hit" grep -q '^[0-9a-f]\{16\}	[0-9]*	1	claude-haiku-4-5	a.txt$' "$T/out"
check "-t cache totals" grep -q '^3 entries, [0-9]* bytes, 1 hit$' "$T/out"
sed -i 's/Write gamma again\./Write gamma once more./' "$T/w/Planfile"
pm
sed -i 's/Write gamma once more\./Write gamma a last time./' "$T/w/Planfile"
pm
check "two edits made two more entries" test "$(find "$T/w/.planmake/cache" -name '*.json' | wc -l)" -eq 5
pm -t cache gc
check "-t cache gc exits 0" test $? -eq 0
check "-t cache gc says what it dropped" grep -q 'cache: dropped 2 of 5 entries' "$T/err"
check "-t cache gc keeps what the plan reaches" test "$(find "$T/w/.planmake/cache" -name '*.json' | wc -l)" -eq 3
check "-t cache gc drops the manifests with the entries" test "$(find "$T/w/.planmake/manifests" -name '*.json' | wc -l)" -eq 3
rm "$T/w/b.txt"
: >"$T/fake.log"
pm
check "a kept entry still answers" test "$(requests)" -eq 0 -a -s "$T/w/b.txt"

# -t clean: what planmake wrote goes, edited files stay unless forced;
# another plan's targets in the same directory (and lock) stay.
echo 'hand edit' >>"$T/w/c.txt"
printf 'other.txt:\n\tWrite other.\n' >"$T/w/Other"
pm -f Other
check "another plan in the same directory builds" test -s "$T/w/other.txt"
pm -t clean
check "-t clean leaves another plan's target" test -s "$T/w/other.txt"
check "-t clean exits 0" test $? -eq 0
check "-t clean removes what planmake wrote" test ! -e "$T/w/a.txt" -a ! -e "$T/w/b.txt"
check "-t clean keeps an edited file" grep -q 'hand edit' "$T/w/c.txt"
check "-t clean says it kept it" grep -q "warning: kept 'c.txt': it was edited" "$T/err"
check "-t clean forgets what it removed" test "$(grep -c '\.txt' "$T/w/planmake.lock")" -eq 2
check "-t clean leaves the inputs" test -s "$T/w/PLAN.md"
pm -t clean -f
check "-t clean -f removes edited files too" test ! -e "$T/w/c.txt"
check "-t clean -f empties the lock of this plan's targets" \
    test "$(grep -c '\.txt' "$T/w/planmake.lock")" -eq 1

# One writer at a time: a second run waits, naming the first.
stop_fake
start_fake --delay-ms 2000
bg -j3
started
pm --no-wait
check "a second writer with --no-wait exits 2" test $? -eq 2
check "--no-wait names the first run's pid" grep -q "another planmake (pid $bgpid) is building here" "$T/err"
pm
st=$?
wait "$bgpid"
check "the waiting run exits 0" test $st -eq 0
check "it said whom it waited for" grep -q "waiting for planmake (pid $bgpid), which is building here" "$T/err"
check "it found nothing left to do" grep -q 'nothing to do' "$T/err"
check "only the first run asked" test "$(requests)" -eq 3

# First interrupt: nothing new starts, what runs finishes and is kept.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/[abc].txt
: >"$T/fake.log"
bg -j2
started
kill -INT "$bgpid"
wait "$bgpid"
st=$?
check "an interrupted run exits 130" test $st -eq 130
check "it waited for both requests in flight" test "$(requests)" -eq 2
check "their answers were written" test -s "$T/w/a.txt" -a -s "$T/w/c.txt"
check "nothing new was started" test ! -e "$T/w/b.txt"
check "the lock records what finished" test "$(grep -c '\.txt' "$T/w/planmake.lock")" -eq 2
check "the interrupt is reported" grep -q 'interrupted: waiting for 2 requests in flight' "$T/bgerr"

# A second interrupt aborts what the first let run.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/[abc].txt
bg -j2
started
t0=$(date +%s.%N)
kill -INT "$bgpid"
sleep 0.2
kill -INT "$bgpid"
wait "$bgpid"
st=$?
t1=$(date +%s.%N)
check "a second interrupt exits 130" test $st -eq 130
check "a second interrupt does not wait for the answers" awk "BEGIN { exit !($t1 - $t0 < 1.2) }"
check "a second interrupt wrote nothing half-done" test ! -e "$T/w/a.txt" -a ! -e "$T/w/c.txt"

# SIGTERM aborts what is in flight, at once.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/[abc].txt
bg -j2
started
t0=$(date +%s.%N)
kill -TERM "$bgpid"
wait "$bgpid"
st=$?
t1=$(date +%s.%N)
check "SIGTERM exits 130" test $st -eq 130
check "SIGTERM does not wait for the answers" awk "BEGIN { exit !($t1 - $t0 < 1.0) }"
check "SIGTERM wrote nothing half-done" test ! -e "$T/w/a.txt" -a ! -e "$T/w/c.txt"

# -d explain during a build: a task judged only once what it reads is
# built is explained then.
mkdir -p "$T/ex"
printf 'all: b.txt\n.PHONY: all\na.txt:\n\tSay a.\nb.txt: a.txt\n\tSay b.\n' \
    >"$T/ex/Planfile"
(cd "$T/ex" && "$PLANMAKE" -s) >/dev/null 2>&1
sed -i 's/Say a\./Say a, again./' "$T/ex/Planfile"
(cd "$T/ex" && "$PLANMAKE" -d explain) >/dev/null 2>"$T/err"
check "-d explain: the edited task" grep -q "debug: explain: 'a.txt' is stale: its request changed: prompt line 1 changed" "$T/err"
check "-d explain: its reader, when it starts" grep -q "debug: explain: 'b.txt' is stale: its request changed: input 'a.txt' changed" "$T/err"

# -n: a task that reads a changing task is "maybe", unless it is stale
# already by another input; then it is asked, and counted so.
mkdir -p "$T/ln"
echo plan >"$T/ln/PLAN.md"
printf 'all: c.txt\n.PHONY: all\na.txt: PLAN.md\n\tSay a.\nb.txt: a.txt\n\tSay b.\nc.txt: b.txt PLAN.md\n\tSay c.\n' \
    >"$T/ln/Planfile"
(cd "$T/ln" && "$PLANMAKE" -s) >/dev/null 2>&1
echo more >>"$T/ln/PLAN.md"
(cd "$T/ln" && "$PLANMAKE" -n) >"$T/out" 2>"$T/err"
check "-n: a reader of a changing task only is maybe" grep -q "^maybe ask for b.txt: it depends on 'a.txt'" "$T/out"
check "-n: one whose own input changed is asked" grep -q "^ask the cheap tier .* for c.txt: its request changed: input 'PLAN.md' changed (and it depends on 'b.txt', which will change)" "$T/out"
check "-n: and counted as asked" grep -q '^would ask 2 tasks (and 1 more if what they read changes)' "$T/out"

# A lock that is not one is an error at its line, not an empty lock.
: >"$T/w/planmake.lock"
pm -n
check "an empty planmake.lock exits 2" test $? -eq 2
check "... saying so" grep -q 'planmake.lock:1: not a planmake lock file (it is empty)' "$T/err"
printf '# planmake lock 1\r\n' >"$T/w/planmake.lock"
pm -n
check "a lock with CRLF ends is not read as one" grep -q "planmake.lock:1: not a planmake lock file (its first line is not '# planmake lock 1')" "$T/err"
rm "$T/w/planmake.lock"
pm --refresh --offline
check "--refresh with --offline is refused" test $? -eq 2
check "... naming both" grep -q -- '--refresh asks the model again and --offline asks nothing' "$T/err"
finish
