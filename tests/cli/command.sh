#!/bin/bash
# cmd:COMMAND: the request's text on the standard input of `sh -c
# COMMAND`, the answer on its standard output; its exit status and
# standard error decide failure; it runs in its own process group,
# without planmake's credentials, polled on the same loop as HTTP, and
# is killed by a second interrupt.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'spec' >SPEC.md
{
	echo 'all: a.txt b.txt c.txt d.txt'
	echo '.PHONY: all'
	for t in a b c d; do
		echo "$t.txt: SPEC.md"
		printf '\tWrite %s-file.\n' "$t"
	done
} >Planfile
cd "$top"

# A stand-in for a command-line client: answers in planmake's format,
# logs what it saw to $CLI_LOG; the prompt's words choose a behaviour.
cat >"$T/cli.py" <<'PY'
import json, os, re, sys, time
data = sys.stdin.read()
m = re.search(r"Files to write:\n((?:- .*\n)+)", data)
targets = [l[2:] for l in m.group(1).splitlines()] if m else []
rec = {"pid": os.getpid(), "pgid": os.getpgid(0), "bytes": len(data.encode()),
       "keys": sorted(k for k in os.environ if k.endswith("_KEY")),
       "foo": os.environ.get("FOO"), "first": data.split("\n")[0],
       "prompt_after_system": 0 < data.find("\n\nFile SPEC.md:\n") <
           re.search(r"Write [a-d]-file\.", data).start(),
       "targets": targets}
with open(os.environ["CLI_LOG"], "a") as f:
    f.write(json.dumps(rec) + "\n")
mode = os.environ.get("CLI_MODE", "")
if mode == "sleep":
    time.sleep(float(os.environ.get("CLI_SLEEP", "1")))
if "Write c-file" in data and mode == "fail":
    sys.stderr.write("cli: no such model\n")
    sys.exit(3)
if "Write c-file" in data and mode == "busy":
    n = int(open(os.environ["CLI_COUNT"]).read() or 0) if os.path.exists(os.environ["CLI_COUNT"]) else 0
    open(os.environ["CLI_COUNT"], "w").write(str(n + 1))
    if n == 0:
        sys.stderr.write("API Error: 529 Overloaded\n")
        sys.exit(1)
if "Write d-file" in data and mode == "fail":
    sys.exit(0)                    # prints nothing
if mode == "big":
    sys.stdout.write("%s\n```\n%s\n```\n" % (targets[0], "x" * 300000))
    sys.exit(0)
for t in targets:
    print("%s\n```\ncommand answer for %s (%d bytes in)\n```\n" % (t, t, rec["bytes"]))
sys.stderr.write("cli: done\n")
PY
export CLI_LOG=$T/cli.log CLI_COUNT=$T/count FOO=bar
export ANTHROPIC_API_KEY=ant-key-secret OPENAI_API_KEY=oai-key-secret
CMD="cmd:python3 $T/cli.py"
# cli NAME: the values of NAME the stand-in logged, one per line.
cli() {
	python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.dumps(json.loads(l)[sys.argv[2]]))' "$CLI_LOG" "$1"
}
clean() { rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/?.txt "$CLI_LOG" "$CLI_COUNT"; }

testpgid=$(ps -o pgid= $$ | tr -d ' ')
pm -j4 "tier.cheap=$CMD"
check "cmd: exit 0" test $? -eq 0
check "cmd: every target from its standard output" \
    sh -c "for f in a b c d; do grep -q \"^command answer for \$f.txt\" '$T/w/'\$f.txt || exit 1; done"
(cd "$T/w" && "$PLANMAKE" -t prompt a.txt "tier.cheap=$CMD") >"$T/prompt"
first=$(sed -n '/^--- system ---$/{n;p;q}' "$T/prompt")
check "cmd: the system text first on standard input" \
    test "$(cli first | sort -u)" = "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$first")"
check "cmd: then the user text" test "$(cli prompt_after_system | sort -u)" = true
check "cmd: planmake's credentials are not passed" \
    test "$(cli keys | sort -u)" = "[]"
check "cmd: the rest of the environment is" \
    test "$(cli foo | sort -u)" = '"bar"'
check "cmd: its own process group" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    assert r["pgid"] != int(sys.argv[2]), r' "$CLI_LOG" "$testpgid"
check "cmd: no request went over HTTP" test "$(grep -c . "$T/fake.log" 2>/dev/null || echo 0)" -eq 0
check "cmd: a word on standard error is not a warning" \
    sh -c "! grep -q 'warning' '$T/err'"
check "cmd: cost unknown" grep -q 'cost: cheap (python3 .*) unknown' "$T/err"
: >"$CLI_LOG"
pm "tier.cheap=$CMD"
check "cmd: a rerun asks nothing" sh -c "[ ! -s '$CLI_LOG' ] && grep -q 'nothing to do' '$T/err'"

# Failures: a non-zero status quoting standard error, not retried unless
# it sounds passing; nothing printed.
clean
CLI_MODE=fail pm -k -j4 "tier.cheap=$CMD"
check "cmd fail: exit 1" test $? -eq 1
check "cmd fail: status and standard error quoted" grep -q "task 'c.txt' failed: cmd: \`python3 .*cli.py\` exited with status 3: cli: no such model$" "$T/err"
check "cmd fail: not retried" test "$(grep -c '"c.txt"' "$CLI_LOG")" -eq 1
check "cmd fail: printing nothing is a failure" grep -q "task 'd.txt' failed: cmd: \`python3 .*cli.py\` printed nothing" "$T/err"
check "cmd fail: the others are built" test -s "$T/w/a.txt" -a -s "$T/w/b.txt"
clean
CLI_MODE=busy pm -v -k -j4 "tier.cheap=$CMD"
check "cmd overloaded: retried and built" \
    sh -c "[ $? -eq 0 ] && [ \$(grep -c '\"c.txt\"' '$CLI_LOG') -eq 2 ] && test -s '$T/w/c.txt'"
check "cmd overloaded: the retry is noted" grep -q "'c.txt': cmd: .*exited with status 1: API Error: 529 Overloaded; trying again" "$T/err"

# Config: pass_env lets the command keep a credential.
clean
mkdir -p "$XDG_CONFIG_HOME/planmake"
cat >"$XDG_CONFIG_HOME/planmake/config.yaml" <<'YML'
endpoints:
  cmd:
    pass_env: [ANTHROPIC_API_KEY]
YML
pm a.txt "tier.cheap=$CMD"
check "pass_env: the named key is passed, no other" \
    test "$(cli keys | sort -u)" = '["ANTHROPIC_API_KEY"]'
rm "$XDG_CONFIG_HOME/planmake/config.yaml"

# Big input and output move both ways without a deadlock.
clean
head -c 400000 /dev/zero | tr '\0' 'y' >"$T/w/SPEC.md"
CLI_MODE=big pm a.txt "tier.cheap=$CMD"
check "big input and output: exit 0" test $? -eq 0
check "big: all of the input arrived" python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert r["bytes"] > 400000, r' "$CLI_LOG"
check "big: all of the output was read" test "$(tr -cd x <"$T/w/a.txt" | wc -c)" -eq 300000
echo spec >"$T/w/SPEC.md"

# Commands run in parallel on the one loop.
clean
t0=$(date +%s.%N)
CLI_MODE=sleep CLI_SLEEP=1 pm -j4 "tier.cheap=$CMD"
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
check "cmd: four 1 s commands at -j4 take about 1 s ($el s)" \
    awk "BEGIN { exit !($el < 2.5) }"

# The first interrupt waits for the command and keeps its answer; a
# second one kills it.
clean
(cd "$T/w" && CLI_MODE=sleep CLI_SLEEP=1.5 exec "$PLANMAKE" -j1 a.txt \
    "tier.cheap=$CMD") >"$T/out" 2>"$T/err" &
pmpid=$!
sleep 0.7
kill -INT $pmpid
wait $pmpid
st=$?
check "one interrupt: exit 130" test $st -eq 130
check "one interrupt: the command's answer is kept" \
    grep -q 'command answer for a.txt' "$T/w/a.txt"
clean
(cd "$T/w" && CLI_MODE=sleep CLI_SLEEP=30 exec "$PLANMAKE" -j1 a.txt \
    "tier.cheap=$CMD") >"$T/out" 2>"$T/err" &
pmpid=$!
for _ in $(seq 50); do [ -s "$CLI_LOG" ] && break; sleep 0.1; done
t0=$(date +%s.%N)
kill -INT $pmpid
sleep 0.2
kill -INT $pmpid
wait $pmpid
st=$?
el=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
clipid=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["pid"])' "$CLI_LOG")
check "two interrupts: exit 130 at once ($el s)" \
    sh -c "[ $st -eq 130 ] && awk 'BEGIN { exit !($el < 3) }'"
check "two interrupts: the command is killed" \
    sh -c "case \$(ps -o stat= -p $clipid) in ''|Z*) exit 0;; *) exit 1;; esac"
check "two interrupts: nothing written" test ! -e "$T/w/a.txt"
finish
