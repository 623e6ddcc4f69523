#!/bin/bash
# SPDX-License-Identifier: MIT
# test-integration.sh: run the integration tests with Debian's pytest: the egress engine on
# loopback (tests/proxy) and the real build/sbx with real VMs (tests/integration); as root,
# then once more as an ordinary user (scripts/test-as-user.sh).
# Extra arguments go to pytest, e.g. `scripts/test-integration.sh -k exec`.
# SBX_TEST_CACHE=DIR shares another kernel/template cache (default ~/.cache/sbx).
set -u
cd "$(dirname "$0")/.."

PY=/usr/bin/python3
if ! "$PY" -c 'import pytest' 2>/dev/null; then
	echo "test-integration: $PY has no pytest; install python3-pytest (scripts/setup.sh does)" >&2
	exit 2
fi
if [ ! -x build/sbx ] || [ ! -x build/sbx-full ] || [ ! -x build/sbx-guest ]; then
	echo "test-integration: build/sbx, build/sbx-full or build/sbx-guest missing; run make first" >&2
	exit 2
fi

args=(-v -x -ra -p no:cacheprovider)
# Per-test limit when Debian's python3-pytest-timeout is installed; the suite also bounds
# every sbx call with its own timeout. The signal method fails just the test, so the
# session finalizer still removes every VM and temp dir.
if "$PY" -c 'import pytest_timeout' 2>/dev/null; then
	args+=(--timeout="${SBX_TEST_TIMEOUT:-900}" --timeout-method=signal)
fi

# Two runs: each suite has its own conftest.py (pytest would import only one).
"$PY" -m pytest "${args[@]}" tests/proxy "$@"
rc_proxy=$?
"$PY" -m pytest "${args[@]}" tests/integration "$@"
rc_vm=$?
# pytest exits 5 when -k selects nothing in one of the suites: not a failure.
[ "$rc_proxy" -eq 5 ] && rc_proxy=0
[ "$rc_vm" -eq 5 ] && rc_vm=0
[ "$rc_proxy" -ne 0 ] && exit "$rc_proxy"
[ "$rc_vm" -ne 0 ] && exit "$rc_vm"

# Most people run sbx as themselves: as root (CI is), run the suites again as an
# ordinary user with subordinate ids (scripts/test-as-user.sh). SBX_TEST_USER_PASS=0 skips it.
if [ "$(id -u)" -eq 0 ] && [ "${SBX_TEST_USER_PASS:-1}" != 0 ]; then
	echo "test-integration: the same suites as an ordinary user"
	exec ./scripts/test-as-user.sh "$@"
fi
exit 0
