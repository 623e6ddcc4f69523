#!/bin/bash
# SPDX-License-Identifier: MIT
# test-as-user.sh: run the integration tests as an ordinary user, the way most people run sbx.
#
# Run as root (CI is): makes sure the user SBX_TEST_USER (default sbxtest) exists with
# subordinate uids and gids (/etc/subuid, /etc/subgid, as useradd gives them), installs
# build/ into a temporary prefix that user can read (`make install`, as a user would
# have it), and runs pytest there as that user with a clean environment. The user's
# kernel and templates are built in the user's own ~/.cache/sbx, as on a fresh laptop.
# Extra arguments go to pytest (e.g. -k exec). Run as that user already: runs directly.
set -u
cd "$(dirname "$0")/.."
repo=$PWD

user=${SBX_TEST_USER:-sbxtest}
PY=/usr/bin/python3

if [ "$(id -u)" -ne 0 ]; then
	echo "test-as-user: not root: running as $(id -un) directly" >&2
	exec "$PY" -m pytest -v -x -ra -p no:cacheprovider tests/proxy tests/integration "$@"
fi

if ! id -u "$user" >/dev/null 2>&1; then
	echo "test-as-user: creating user $user"
	useradd -m -s /bin/bash "$user" || exit 2
fi
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
./scripts/give-subids.sh "$user" || exit 2

stage=$(mktemp -d /tmp/sbx-user-XXXXXX) || exit 2
# test_faults_state fills a small file system of the user's own (mounting one needs root)
smallfs=$(mktemp -d /tmp/sbx-smallfs-XXXXXX) || exit 2
cleanup() {
	mountpoint -q "$smallfs" && umount -l "$smallfs"
	rmdir "$smallfs"
	rm -rf "$stage"
}
trap cleanup EXIT
mount -t tmpfs -o "size=16m,mode=0700,uid=$uid,gid=$(id -g "$user")" tmpfs "$smallfs" || exit 2
chmod 755 "$stage"
# sbx as a user installs it: binaries, guest, keyring library and recipes under a prefix
make -s install DESTDIR="$stage" PREFIX=/usr >/dev/null || exit 2
cp -r tests "$stage/tests"
# test_secret_service drives the unit binary next to sbx, as in build/
mkdir -p "$stage/usr/bin/tests" && cp build/tests/test_secrets "$stage/usr/bin/tests/"
chmod -R a+rX "$stage"

# A clean environment, as a login would give, plus what the machine's own network
# setup puts there (a proxy, an inspecting proxy's CA: npm fetches through them)
passenv=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY NODE_EXTRA_CA_CERTS SSL_CERT_FILE \
	SSL_CERT_DIR CURL_CA_BUNDLE GIT_SSL_CAINFO REQUESTS_CA_BUNDLE; do
	[ -n "${!v:-}" ] && passenv+=("$v=${!v}")
done
as_user() {
	runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin \
		LANG=C.UTF-8 SBX_BIN="$stage/usr/bin/sbx" SBX_TEST_SMALLFS="$smallfs" "${passenv[@]}" "$@"
}

echo "test-as-user: templates in $home/.cache/sbx (built as $user when missing)"
as_user "$stage/usr/bin/sbx" template build -q minimal || exit 1
as_user "$stage/usr/bin/sbx" template build -q agents || exit 1

args=(-v -x -ra -p no:cacheprovider)
if "$PY" -c 'import pytest_timeout' 2>/dev/null; then
	args+=(--timeout="${SBX_TEST_TIMEOUT:-900}" --timeout-method=signal)
fi
cd "$stage" || exit 2
as_user "$PY" -m pytest "${args[@]}" tests/proxy "$@"
rc_proxy=$?
as_user "$PY" -m pytest "${args[@]}" tests/integration "$@"
rc_vm=$?
[ "$rc_proxy" -eq 5 ] && rc_proxy=0
[ "$rc_vm" -eq 5 ] && rc_vm=0
[ "$rc_proxy" -ne 0 ] && exit "$rc_proxy"
exit "$rc_vm"
