#!/bin/bash
# The fake provider's own checks (tests/fakellm/selftest.sh), counted
# with the rest of the suite.
top=$(cd "$(dirname "$0")/../.." && pwd)
exec bash "$top/tests/fakellm/selftest.sh" "${FAKELLM:-$top/build/fakellm}"
