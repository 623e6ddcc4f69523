#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# setup.sh: install sbx's Debian 12 dependencies, build sbx, fetch the guest kernel and build the minimal template.
#
# Idempotent: packages already installed are not touched and apt-get update runs
# only when something is missing; the kernel and template are only fetched or
# built when absent. Run it as the user who will use sbx, with sudo (for apt-get and,
# once, for that user's subordinate ids and group kvm), or as root.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/setup.sh [--deps-only]

  (no flag)    install missing packages, run make, then `build/sbx template build
               minimal` (which also downloads the guest kernel .deb into the cache;
               the host kernel is never touched)
  --deps-only  only install the missing packages (and refresh apt's package lists
               if they do not know the cloud kernel package)
EOF
}

deps_only=0
for arg in "$@"; do
	case "$arg" in
	--deps-only) deps_only=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "setup.sh: unknown argument '$arg'" >&2
		usage >&2
		exit 2
		;;
	esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Build: compiler, json-c, libarchive (sbx cp's tar streams). Runtime: QEMU (microvm, virtiofsd), qemu-img, mmdebstrap
# and what it needs to verify and unpack Debian, mke2fs, depmod, lz4 (the kernel's
# compression), dpkg-deb. Tests: python3 + pytest. uidmap/genext2fs: non-root builds.
# libsecret: the Secret Service backend of the secret store; its tests run a private
# dbus-daemon and gnome-keyring (dbus-send locks it, secret-tool reads it).
# clang + its runtime: the libFuzzer targets (make fuzz; replayed by make check-asan).
# groff, mandoc, man-db, bash-completion, zsh, fish: the man page and completion tests.
# dpkg-dev (dpkg-shlibdeps), binutils (strip), lintian: make deb and its check.
packages=(
	gcc make pkg-config libc6-dev libjson-c-dev
	qemu-system-x86 qemu-utils
	mmdebstrap debian-archive-keyring gpg ca-certificates libdpkg-perl mount uidmap genext2fs
	e2fsprogs cpio kmod lz4 xz-utils zstd dpkg
	python3 python3-pytest python3-pytest-timeout
	libhttp-parser-dev libc-ares-dev libidn2-dev libldns-dev libssl-dev libarchive-dev openssl curl wrk openssh-client
	tinyproxy squid
	libarchive-dev
	libsecret-1-dev gnome-keyring dbus-daemon dbus-bin libsecret-tools
	clang libclang-rt-dev
	groff-base mandoc man-db bash-completion zsh fish
	dpkg-dev binutils lintian
)

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "setup.sh: need root for: $* (run as root or install sudo)" >&2
		exit 1
	fi
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

# npm fetches Node.js and the agent CLIs for the agents template (on the host, with
# install scripts off). A Node.js from elsewhere (nodesource) brings its own npm.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done

updated=0
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup.sh: installing ${missing[*]}"
	as_root apt-get update -q
	updated=1
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "setup.sh: all ${#packages[@]} packages present"
fi

# sbx fetches the guest kernel with `apt-get download`, which needs package lists.
if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
	if [ "$updated" -eq 0 ]; then
		as_root apt-get update -q
	fi
	if ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
		echo "setup.sh: apt does not know linux-image-cloud-amd64; check /etc/apt/sources.list*" >&2
		exit 1
	fi
fi

if [ "$deps_only" -eq 1 ]; then
	exit 0
fi

# An ordinary user needs subordinate ids (virtiofsd's and mmdebstrap's user namespaces)
# and, for KVM, group kvm: give them once now, so that sbx itself never needs sudo.
if [ "$(id -u)" -ne 0 ]; then
	user=$(id -un)
	if ! grep -qE "^($user|$(id -u)):" /etc/subuid 2>/dev/null || ! grep -qE "^($user|$(id -u)):" /etc/subgid 2>/dev/null; then
		as_root "$repo/scripts/give-subids.sh" "$user"
	fi
	if [ -e /dev/kvm ] && ! [ -r /dev/kvm -a -w /dev/kvm ] && getent group kvm >/dev/null; then
		echo "setup.sh: adding $user to group kvm (log in again for it to apply; sbx uses TCG meanwhile)"
		as_root usermod -aG kvm "$user"
	fi
fi

echo "setup.sh: building sbx"
make -C "$repo" -j"$(nproc)"

echo "setup.sh: building the minimal template (first time: a few minutes)"
"$repo/build/sbx" template build minimal
"$repo/build/sbx" template ls
