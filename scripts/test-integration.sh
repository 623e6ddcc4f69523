#!/bin/bash
# SPDX-License-Identifier: MIT
# test-integration.sh: run the integration tests (real build/sbx, real VMs) with Debian's pytest.
# Extra arguments go to pytest, e.g. `scripts/test-integration.sh -k exec`.
# SBX_TEST_CACHE=DIR shares another kernel/template cache (default ~/.cache/sbx).
set -u
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
if ! "$PY" -c 'import pytest' 2>/dev/null; then
	echo "test-integration: $PY has no pytest; install python3-pytest (scripts/setup.sh does)" >&2
	exit 2
fi
if [ ! -x build/sbx ] || [ ! -x build/sbx-guest ]; then
	echo "test-integration: build/sbx or build/sbx-guest missing; run make first" >&2
	exit 2
fi

args=(-v -x -ra -p no:cacheprovider)
# Per-test limit when Debian's python3-pytest-timeout is installed; the suite also bounds
# every sbx call with its own timeout. The signal method fails just the test, so the
# session finalizer still removes every VM and temp dir.
if "$PY" -c 'import pytest_timeout' 2>/dev/null; then
	args+=(--timeout="${SBX_TEST_TIMEOUT:-900}" --timeout-method=signal)
fi

"$PY" -m pytest "${args[@]}" tests/integration "$@"
exit $?
