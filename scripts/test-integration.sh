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

# Modules whose behaviour does not depend on who runs sbx: the guest's side of exec,
# Docker and egress, output formatting, port relays, idle stops, the egress engine's
# parsing. As root with the user pass to follow, they run only there, as an ordinary
# user, the way most people run sbx. Everything that touches host files, ids,
# namespaces, the jail, the keyring, the workspace or the daemon's start runs twice.
uid_neutral=(
	tests/proxy/test_body_framing.py tests/proxy/test_bounds.py tests/proxy/test_dns_transparent.py
	tests/proxy/test_every_request.py tests/proxy/test_forward.py tests/proxy/test_framing.py
	tests/proxy/test_intercept.py tests/proxy/test_policy_scope.py
	tests/integration/test_agents.py tests/integration/test_docker.py
	tests/integration/test_egress.py tests/integration/test_exec.py tests/integration/test_idle.py
	tests/integration/test_policy_file.py tests/integration/test_ports.py
	tests/integration/test_progress.py tests/integration/test_prune.py
)
user_pass=0
[ "$(id -u)" -eq 0 ] && [ "${SBX_TEST_USER_PASS:-1}" != 0 ] && user_pass=1
ignore=()
if [ "$user_pass" -eq 1 ]; then
	for m in "${uid_neutral[@]}"; do ignore+=(--ignore="$m"); done
	echo "test-integration: as root, ${#uid_neutral[@]} modules run only in the ordinary user's pass:" \
		"${uid_neutral[*]##*/}"
fi

# Two runs: each suite has its own conftest.py (pytest would import only one).
"$PY" -m pytest "${args[@]}" "${ignore[@]}" tests/proxy "$@"
rc_proxy=$?
"$PY" -m pytest "${args[@]}" "${ignore[@]}" tests/integration "$@"
rc_vm=$?
# pytest exits 5 when -k selects nothing in one of the suites: not a failure.
[ "$rc_proxy" -eq 5 ] && rc_proxy=0
[ "$rc_vm" -eq 5 ] && rc_vm=0
[ "$rc_proxy" -ne 0 ] && exit "$rc_proxy"
[ "$rc_vm" -ne 0 ] && exit "$rc_vm"

# Most people run sbx as themselves: as root (CI is), run the suites again as an
# ordinary user with subordinate ids (scripts/test-as-user.sh). SBX_TEST_USER_PASS=0 skips it.
if [ "$user_pass" -eq 1 ]; then
	echo "test-integration: the same suites as an ordinary user"
	exec ./scripts/test-as-user.sh "$@"
fi
exit 0
