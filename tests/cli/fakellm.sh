#!/bin/bash
# The fake provider's own checks (tests/fakellm/selftest.sh), as TAP.
. "$(dirname "$0")/lib.sh"

bash "$top/tests/fakellm/selftest.sh" "$FAKELLM" >"$T/self" 2>&1
st=$?
while IFS= read -r line; do
	case $line in
	"ok "*) ok "fakellm: ${line#ok }" ;;
	"FAIL "*) not_ok "fakellm: ${line#FAIL }" "selftest" ;;
	esac
done <"$T/self"
check "fakellm selftest exits 0" test "$st" -eq 0
finish
