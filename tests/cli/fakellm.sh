#!/bin/bash
# The fake provider's own checks (tests/fakellm/selftest.sh), counted by
# make check like any other TAP lines; its summary line becomes a comment.
set -o pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bash "$top/tests/fakellm/selftest.sh" "${FAKELLM:-$top/build/fakellm}" |
    sed 's/^\([0-9]* passed, [0-9]* failed\)$/# selftest: \1/'
