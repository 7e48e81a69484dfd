#!/usr/bin/env bash
# Fails when a process started from the test binaries is still running, i.e. when a test bed
# leaked a process. `make test` runs it after the tests.
set -euo pipefail
dir=$(cd "${TESTBIN:-$(dirname "$0")/../../bin/testbin}" && pwd)
left=$(pgrep -a -f "^$dir/" || true)
if [ -n "$left" ]; then
	echo "test-bed processes are still running after the tests:" >&2
	echo "$left" >&2
	exit 1
fi
echo "testbin: no test-bed process left running"
