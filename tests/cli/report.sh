#!/bin/bash
# The summary and --json: counts, tokens and cost per tier, the cost on
# the strong tier alone, failed and skipped lists; checked against what
# fakellm says it answered.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
cd "$T/w"
echo 'plan' >PLAN.md
cat >Planfile <<'PF'
all: REVIEW.md
.PHONY: all
a.txt: PLAN.md
	Write alpha.
b.txt: PLAN.md
	Write beta.
c.txt: a.txt
	Write gamma.
REVIEW.md: tier = strong
REVIEW.md: a.txt b.txt c.txt
	Review it all.
PF
cd "$top"

# jq_like EXPR: evaluate a Python expression over j, the JSON on $T/out,
# and l, the fakellm log's answered requests.
jx() {
	python3 - "$T/out" "$T/fake.log" "$1" <<'PY'
import json, sys
j = json.loads(open(sys.argv[1]).read())
l = [json.loads(x) for x in open(sys.argv[2]) if x.strip()]
l = [r for r in l if r["status"] == 200]
P = {"claude-haiku-4-5": (1, 5, 1.25, 0.10), "claude-sonnet-4-5": (3, 15, 3.75, 0.30)}
def cost(r, m=None):
    p = P[m or r["model"]]
    u = r["usage"]
    return (u["input_tokens"] * p[0] + u["output_tokens"] * p[1] +
        u["cache_creation_input_tokens"] * p[2] +
        u["cache_read_input_tokens"] * p[3]) / 1e6
def close(a, b):
    return abs(a - b) <= 1e-9 + 1e-6 * abs(b)
ok = eval(sys.argv[3])
if not ok:
    print(json.dumps(j), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}

start_fake
pm --json -j4
check "--json build exits 0" test $? -eq 0
check "--json writes one line of JSON on stdout" \
    sh -c "test \$(wc -l <'$T/out') -eq 1 && python3 -m json.tool '$T/out' >/dev/null"
check "--json counts the tasks" jx 'j["tasks"] == {"total": 4, "asked": 4, "cached": 0, "up_to_date": 0, "failed": 0, "skipped": 0, "undone": 0}'
check "--json exit status" jx 'j["exit"] == 0'
check "--json input tokens per tier match fakellm's" \
    jx 'all(t["input_tokens"] == sum(r["usage"]["input_tokens"] for r in l if r["model"] == t["model"]) for t in j["tiers"]) and len(j["tiers"]) == 2'
check "--json output tokens match fakellm's" \
    jx 'j["tokens"]["output"] == sum(r["usage"]["output_tokens"] for r in l)'
check "--json requests per tier" \
    jx '[(t["tier"], t["answers"]) for t in j["tiers"]] == [("cheap", 3), ("strong", 1)]'
check "--json cost per tier at the model's rates" \
    jx 'all(close(t["cost_usd"], sum(cost(r) for r in l if r["model"] == t["model"])) for t in j["tiers"])'
check "--json total cost" jx 'close(j["total_cost_usd"], sum(cost(r) for r in l))'
check "--json strong-only cost prices all usage at the strong rates" \
    jx 'close(j["strong_only_cost_usd"], sum(cost(r, "claude-sonnet-4-5") for r in l)) and j["strong_model"] == "claude-sonnet-4-5"'
check "--json strong-only costs more than the mixed build" \
    jx 'j["strong_only_cost_usd"] > j["total_cost_usd"]'
check "--json reports planmake's CPU time" jx 'j["cpu_seconds"] > 0 and j["answers"] == 4'
total=$(python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["total_cost_usd"])' "$T/out")
alone=$(python3 -c 'import json,sys; print("%.4f" % json.load(open(sys.argv[1]))["strong_only_cost_usd"])' "$T/out")
check "summary prints the same total (\$$total)" grep -q "total \$$total;" "$T/err"
check "summary prints the strong-only cost (\$$alone)" \
    grep -q "on the strong tier alone (claude-sonnet-4-5) \$$alone" "$T/err"
check "summary has a line per tier with cache tokens" \
    grep -q 'tier cheap (claude-haiku-4-5): 3 answers; tokens: [0-9]* in, [0-9]* out; \$' "$T/err"

# Up to date: the JSON still comes, with nothing asked.
pm --json
check "--json on a no-op run" jx 'j["tasks"]["up_to_date"] == 4 and j["tiers"] == [] and j["total_cost_usd"] == 0'

# -k with a failure: failed and skipped lists, exit status 1.
cat >"$T/script.json" <<'JS'
[{"match": "Write alpha", "status": 400, "message": "no"}]
JS
stop_fake
start_fake --script "$T/script.json"
sed -i 's/Write alpha\./Write alpha again./; s/Write beta\./Write beta again./' "$T/w/Planfile"
pm --json -k
check "-k with a failure exits 1" test $? -eq 1
check "--json lists the failed task" jx 'j["failed"] == ["a.txt"] and j["exit"] == 1'
check "--json lists the skipped tasks" jx 'j["skipped"] == ["c.txt", "REVIEW.md"]'
check "-k: the independent task still ran" jx 'j["tasks"]["asked"] == 1' 
check "summary lists failed and skipped" \
    sh -c "grep -q 'failed: a.txt' '$T/err' && grep -q 'skipped: c.txt REVIEW.md' '$T/err'"

# Without -k, what was never started is listed.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/*.txt
pm --json -j1
check "without -k: exit 1" test $? -eq 1
check "without -k: unstarted tasks are listed" \
    jx 'j["failed"] == ["a.txt"] and len(j["undone"]) + len(j["skipped"]) == 3 and "b.txt" in j["undone"]'
check "summary names what was not started" grep -q 'not started: .*b.txt' "$T/err"

# The strong-only line uses the tier the tasks would: the config's
# tiers: strong: when neither plan nor command line names one.
rm -rf "$T/w/.planmake" "$T/w/planmake.lock" "$T/w"/*.txt "$T/w/REVIEW.md"
mkdir -p "$XDG_CONFIG_HOME/planmake"
printf 'tiers:\n  strong: anthropic:claude-opus-4-5\n' \
    >"$XDG_CONFIG_HOME/planmake/config.yaml"
stop_fake
start_fake
pm --json
check "config strong tier: exit 0" test $? -eq 0
check "config strong tier: the review uses it" grep -q '"model":"claude-opus-4-5"' "$T/fake.log"
check "config strong tier: the summary prices at it" \
    grep -q 'on the strong tier alone (claude-opus-4-5)' "$T/err"
check "config strong tier: so does --json" \
    jx 'j["strong_model"] == "claude-opus-4-5"'
rm "$XDG_CONFIG_HOME/planmake/config.yaml"
# -n --json: one JSON object of what would run; -q --json: up_to_date.
mkdir -p "$T/n"
printf 'all: x.txt y.txt\n.PHONY: all\nx.txt:\n\tWrite x.\ny.txt: tier = strong\ny.txt: x.txt\n\tWrite y.\n' >"$T/n/Planfile"
(cd "$T/n" && "$PLANMAKE" -n --json) >"$T/out" 2>"$T/err"
check "-n --json exits 0" test $? -eq 0
check "-n --json prints one JSON object and no plain line" \
    python3 -c 'import json,sys; s=open(sys.argv[1]).read(); assert s.count("\n") == 1; json.loads(s)' "$T/out"
check "-n --json: each task with its need, why and most cost" \
    jx '[(t["name"], t["need"], t["tier"]) for t in j["tasks"]] == [("x.txt", "request", "cheap"), ("y.txt", "later", "strong")] and all(t["why"] and t["max_cost_usd"] > 0 for t in j["tasks"])'
check "-n --json: totals and the most per tier" \
    jx 'j["totals"]["ask"] == 1 and j["totals"]["maybe_ask"] == 1 and close(j["totals"]["max_cost_usd"], sum(t["max_cost_usd"] for t in j["tasks"])) and [(v["tier"], round(v["max_cost_usd"], 9)) for v in j["tiers"]] == [(t["tier"], round(t["max_cost_usd"], 9)) for t in j["tasks"]] and j["up_to_date"] is False'
check "-n --json asks nothing" test ! -e "$T/n/x.txt"
(cd "$T/n" && "$PLANMAKE" -q --json) >"$T/out" 2>"$T/err"
check "-q --json on a stale plan exits 1" test $? -eq 1
check "-q --json says it is not up to date" jx 'j == {"up_to_date": False}'
(cd "$T/n" && "$PLANMAKE") >/dev/null 2>&1
(cd "$T/n" && "$PLANMAKE" -q --json) >"$T/out" 2>"$T/err"
check "-q --json on a built plan exits 0" test $? -eq 0
check "-q --json on a built plan says it is up to date" \
    grep -qx '{"up_to_date":true}' "$T/out"
(cd "$T/n" && "$PLANMAKE" -n --json) >"$T/out" 2>"$T/err"
check "-n --json on a built plan" \
    jx 'j["tasks"] == [] and j["up_to_date"] is True and j["totals"]["up_to_date"] == 2'
finish
