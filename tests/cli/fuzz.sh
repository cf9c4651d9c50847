#!/bin/bash
# tests/fuzz/regress: inputs the fuzzers found or that stress the loaders
# (deep nesting, alias loops, NUL bytes, expansion depth, bad encodings),
# each loaded by the sanitizer build through the normal path.  Each must
# end in exit 0, or exit 2 with an error, and no sanitizer report.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/w"
for f in "$top"/tests/fuzz/regress/planfile/* "$top"/tests/fuzz/regress/yaml/*; do
	[ -f "$f" ] || continue
	name=${f#"$top"/tests/fuzz/regress/}
	(cd "$T/w" && timeout 60 "$PLANMAKE" -f "$f" -t check) >"$T/out" 2>"$T/err"
	st=$?
	if grep -qE 'Sanitizer|runtime error:' "$T/err"; then
		not_ok "$name loads" "sanitizer report: $(grep -m1 -E 'Sanitizer|runtime error:' "$T/err")"
	elif [ "$st" -eq 0 ] || { [ "$st" -eq 2 ] && grep -q 'error: ' "$T/err"; }; then
		ok "$name loads (exit $st)"
	else
		not_ok "$name loads" "exit $st: $(head -c 300 "$T/err")"
	fi
done
finish
