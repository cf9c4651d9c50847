#!/bin/bash
# plan.yaml: examples/wc's Planfile and its plan.yaml translation send the
# same requests (same -t prompt text, same lock keys, a shared cache);
# planmake finds plan.yaml without -f; YAML errors carry line and column.
. "$(dirname "$0")/lib.sh"

wc=$top/examples/wc
targets="include/wc.h src/count.c src/read.c src/main.c Makefile.wc
    tests/test_count.c tests/run.sh docs/wc.1.md CHANGES.md REVIEW.md"
mkdir -p "$T/w" "$T/y"
cp "$wc/Planfile" "$wc/plan.yaml" "$wc/PLAN.md" "$T/w/"
cp "$wc/plan.yaml" "$wc/PLAN.md" "$T/y/"

start_fake
pm -j8
check "the Planfile builds" test $? -eq 0
check "the Planfile asks 10" test "$(requests)" -eq 10
cp "$T/w/planmake.lock" "$T/lock.planfile"

# -t prompt: byte for byte the same request text, for every task.
same=0
for t in $targets; do
	pm -t prompt "$t"
	cp "$T/out" "$T/prompt.planfile"
	pm -f plan.yaml -t prompt "$t"
	cmp -s "$T/out" "$T/prompt.planfile" && [ -s "$T/out" ] &&
	    same=$((same + 1))
done
check "-t prompt is the same for all 10 tasks" test "$same" -eq 10
pm -t list
cp "$T/out" "$T/list.planfile"
pm -f plan.yaml -t list
check "-t list is the same" cmp -s "$T/out" "$T/list.planfile"
pm -t graph
cp "$T/out" "$T/graph.planfile"
pm -f plan.yaml -t graph
check "-t graph is the same" cmp -s "$T/out" "$T/graph.planfile"

# Beside the Planfile's build, plan.yaml is up to date: the same keys.
pm -f plan.yaml -j8
check "plan.yaml beside the built Planfile exits 0" test $? -eq 0
check "plan.yaml beside the built Planfile asks nothing" test "$(requests)" -eq 10
check "plan.yaml beside the built Planfile is up to date" \
    grep -q 'nothing to do: 10 tasks up to date' "$T/err"
check "the lock is unchanged" cmp -s "$T/w/planmake.lock" "$T/lock.planfile"

# Alone, without -f: planmake finds plan.yaml, and its cache misses are
# answered with the same keys the Planfile's lock holds.
: >"$T/fake.log"
(cd "$T/y" && "$PLANMAKE" -j8) >"$T/out" 2>"$T/err"
check "plan.yaml alone is found without -f" test $? -eq 0
check "plan.yaml alone asks 10" test "$(requests)" -eq 10
check "plan.yaml's lock has the Planfile's keys" \
    cmp -s "$T/y/planmake.lock" "$T/lock.planfile"
check "the lock is not trivially equal" test "$(grep -c . "$T/lock.planfile")" -eq 11
(cd "$T/y" && "$PLANMAKE" -j8) >"$T/out" 2>"$T/err"
check "plan.yaml's rerun asks nothing" test "$(requests)" -eq 10

# A Planfile wins over plan.yaml when both are there.
printf 'x.txt: PLAN.md\n\tWrite x.\n' >"$T/y/Planfile"
(cd "$T/y" && "$PLANMAKE" -t list) >"$T/out" 2>"$T/err"
check "Planfile is preferred to plan.yaml" \
    test "$(cut -f1 "$T/out")" = x.txt
rm "$T/y/Planfile"

# A task edit in plan.yaml reruns that task and its reader.
sed -i 's/Implement wc_count_fd on top of wc_count_buf\./& Retry on EINTR./' \
    "$T/y/plan.yaml"
: >"$T/fake.log"
(cd "$T/y" && "$PLANMAKE" -j8) >"$T/out" 2>"$T/err"
check "a prompt edit in plan.yaml asks 3 (read.c, Makefile.wc, REVIEW.md)" \
    test "$(requests)" -eq 3
check "the edited task was asked" test "$(requests_for src/read.c)" -eq 1

# Errors: file:line:col, exit 2, nothing asked.
: >"$T/fake.log"
cat >"$T/y/plan.yaml" <<'YML'
settings:
  max_token: 10
tasks:
  - targets: [a.txt, [b.txt]]
    deps: PLAN.md
    tier: strong
    promt: Write a.
  - deps: PLAN.md
YML
(cd "$T/y" && "$PLANMAKE") >"$T/out" 2>"$T/err"
check "a bad plan.yaml exits 2" test $? -eq 2
cat >"$T/want" <<'ERR'
plan.yaml:2:3: error: unknown setting 'max_token'; did you mean 'max_tokens'?
plan.yaml:4:22: error: 'targets' must be a string, not a list
plan.yaml:7:5: error: unknown key 'promt' in a task; did you mean 'prompt'?
plan.yaml:8:5: error: a task needs 'targets'
4 errors
ERR
check "plan.yaml errors carry line and column" diff "$T/want" "$T/err"
check "a bad plan.yaml asks nothing" test "$(requests)" -eq 0

printf 'tasks:\n  - targets: a.txt\n    prompt: [unclosed\n' >"$T/y/plan.yaml"
(cd "$T/y" && "$PLANMAKE" -t check) >"$T/out" 2>"$T/err"
check "a YAML syntax error exits 2" test $? -eq 2
check "a YAML syntax error has libyaml's text and place" \
    grep -qx "plan.yaml:4:1: error: did not find expected ',' or ']'" "$T/err"
check "a YAML syntax error notes the context" \
    grep -qx 'plan.yaml:3:13: note: while parsing a flow sequence' "$T/err"

printf 'tasks:\n  - targets: a.txt\n    deps: PLAN.md\n    prompt: |\n      Use $(NOPE).\n' >"$T/y/plan.yml"
(cd "$T/y" && "$PLANMAKE" -f plan.yml -n) >"$T/out" 2>"$T/err"
check "-f takes a .yml file" test $? -eq 0
check "an undefined variable in a prompt is placed on its line" \
    grep -qx "plan.yml:5:11: warning: undefined variable 'NOPE' left as written" "$T/err"

mkdir "$T/y/dir.yaml"
(cd "$T/y" && "$PLANMAKE" -f dir.yaml -t check) >"$T/out" 2>"$T/err"
check "a plan.yaml that is a directory exits 2" test $? -eq 2
check "a plan.yaml that is a directory says so" \
    grep -q 'cannot read dir.yaml: Is a directory' "$T/err"
# grammar/plan.schema.json: a valid JSON Schema that accepts the example
# and rejects what the loader rejects.  Debian's python3-jsonschema and
# python3-yaml (make deps installs them).
py=python3
$py -c 'import jsonschema, yaml' 2>/dev/null || py=/usr/bin/python3
validate() {	# validate FILE: exit 0 when FILE fits the schema
	$py - "$top/grammar/plan.schema.json" "$1" <<'PY'
import json, sys, jsonschema, yaml
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
doc = yaml.safe_load(open(sys.argv[2]))
errs = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
for e in errs:
    print(e.message, file=sys.stderr)
sys.exit(1 if errs else 0)
PY
}
check "the schema accepts examples/wc/plan.yaml" validate "$wc/plan.yaml"
printf 'tasks:\n  - targets: a\n    max_token: 5\n' >"$T/bad1.yaml"
printf 'tasks:\n  - deps: a\n' >"$T/bad2.yaml"
printf 'tasks:\n  - targets: [a, [b]]\n' >"$T/bad3.yaml"
printf 'settings:\n  tier.fast: openai:x\n  temperature: 0.5\ntasks:\n  - {targets: a, tier: fast, phony: true}\n' >"$T/good.yaml"
bad=0
for f in bad1 bad2 bad3; do validate "$T/$f.yaml" 2>/dev/null || bad=$((bad + 1)); done
check "the schema rejects a misspelled key, no targets, a nested list" test "$bad" -eq 3
check "the schema accepts tier.NAME, numbers, phony" validate "$T/good.yaml"
(cd "$T" && "$PLANMAKE" -f good.yaml -t check) >"$T/out" 2>"$T/err"
check "the loader accepts what the schema accepts" test $? -eq 0

# Automatic variables in a task's prompt, and a pattern task's stem.
mkdir -p "$T/auto/spec"
echo s >"$T/auto/spec.md"
echo x >"$T/auto/spec/x.md"
cat >"$T/auto/plan.yaml" <<'YML'
tasks:
  - targets: a.md
    deps: spec.md
    prompt: Write $@ from $<.
  - targets: "src/%.c"
    deps: "spec/%.md"
    prompt: Make $@ from $^ ($*).
YML
(cd "$T/auto" && "$PLANMAKE" -t prompt a.md) >"$T/out" 2>"$T/err"
check "yaml: \$@ and \$< in a prompt" grep -qx 'Write a.md from spec.md.' "$T/out"
check "yaml: ... without a warning" test ! -s "$T/err"
(cd "$T/auto" && "$PLANMAKE" -t prompt src/x.c) >"$T/out" 2>"$T/err"
check "yaml: a pattern task's \$@, \$^ and \$*" \
    grep -qx 'Make src/x.c from spec/x.md (x).' "$T/out"
check "yaml: ... without a warning" test ! -s "$T/err"
finish
