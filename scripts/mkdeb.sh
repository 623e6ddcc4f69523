#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# mkdeb.sh: turn a `make install PREFIX=/usr` staging root into sbx's Debian package, as an ordinary user.
#
# Usage: scripts/mkdeb.sh DIR/debian/sbx VERSION ARCH OUT.deb   (make deb runs it)
# Adds /usr/share/doc/sbx (copyright, changelog, README), the lintian overrides, strips
# the binaries as dh_strip does, computes Depends (dpkg-shlibdeps for the libraries
# sbx and libsbx-keyring.so link, plus the programs sbx runs), writes DEBIAN/control
# and md5sums, and builds with dpkg-deb --root-owner-group (no root, no fakeroot).
# File dates are the changelog's, so a rebuild of the same tree gives the same .deb.
set -euo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 ROOT VERSION ARCH OUT.deb" >&2
	exit 2
fi
root=$(realpath -- "$1") version=$2 arch=$3 out=$4
case "$root" in
*/debian/sbx) ;;
*) echo "mkdeb: ROOT must be a directory named debian/sbx (dpkg-shlibdeps wants it so)" >&2; exit 2 ;;
esac
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pkg=$repo/packaging/deb

for f in usr/bin/sbx usr/lib/sbx/sbx-full usr/lib/sbx/sbx-guest usr/lib/sbx/libsbx-keyring.so usr/share/sbx/recipes/minimal; do
	[ -e "$root/$f" ] || { echo "mkdeb: $root/$f missing (make install DESTDIR=$root PREFIX=/usr)" >&2; exit 1; }
done
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "mkdeb: bad version '$version'" >&2; exit 1; }

# The changelog's newest entry must be this version (src/common/version.h has it).
newest=$(sed -n '1s/^sbx (\([^)]*\)).*/\1/p' "$pkg/changelog")
if [ "$newest" != "$version" ]; then
	echo "mkdeb: packaging/deb/changelog starts with '$newest', sbx is $version: add an entry" >&2
	exit 1
fi
date=$(sed -n 's/^ -- .*>  \(.*\)$/\1/p' "$pkg/changelog" | head -n 1)
epoch=${SOURCE_DATE_EPOCH:-$(date -d "$date" +%s)}

# Docs. The version has no Debian revision (sbx is its own upstream: a native package),
# so its changelog is changelog.gz (Debian Policy 12.7; lintian checks the name).
doc=$root/usr/share/doc/sbx
install -d "$doc" "$root/usr/share/lintian/overrides"
install -m 0644 "$pkg/copyright" "$doc/copyright"
gzip -9n -c "$pkg/changelog" >"$doc/changelog.gz"
gzip -9n -c "$repo/README.md" >"$doc/README.md.gz"
install -m 0644 "$pkg/lintian-overrides" "$root/usr/share/lintian/overrides/sbx"

# As dh_strip: no debug info, comments or notes in what we ship (the build keeps its -g)
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/sbx" "$root/usr/lib/sbx/sbx-full" \
	"$root/usr/lib/sbx/sbx-guest"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/lib/sbx/libsbx-keyring.so"

# Depends, first the shared libraries sbx-full and libsbx-keyring.so link (the keyring
# library's undefined sbx_* symbols come from sbx-full, which loads it; the front,
# usr/bin/sbx, is static-pie and links none). dpkg-shlibdeps wants a
# debhelper-like tree: a debian/control beside ROOT=debian/sbx, and ROOT/DEBIAN to
# tell it where the package's own files end.
install -d -m 0755 "$root/DEBIAN"
tree=$(dirname "$(dirname "$root")")
printf 'Source: sbx\n\nPackage: sbx\nArchitecture: any\n' >"$tree/debian/control"
shlibs=$(cd "$tree" && dpkg-shlibdeps -O -edebian/sbx/usr/lib/sbx/sbx-full \
	-edebian/sbx/usr/lib/sbx/libsbx-keyring.so |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "mkdeb: dpkg-shlibdeps found no libraries" >&2; exit 1; }
# Then the programs sbx runs: qemu-system-x86_64; virtiofsd (/usr/lib/qemu/virtiofsd,
# from qemu-system-common); qemu-img; mmdebstrap with what its unshare mode uses
# (newuidmap/newgidmap from uidmap, mount) and the keyring and gpg it checks Debian
# with; mke2fs; depmod; lz4, xz and zstd (the kernel's modules); git; apt-get
# download (the kernel); curl (sbx template update asks the npm registry). And the
# CA bundle the proxy checks servers against. tar,
# diffutils and dpkg are Essential: never listed.
runtime="qemu-system-x86, qemu-system-common, qemu-utils, mmdebstrap, debian-archive-keyring, gpg, uidmap, mount"
runtime+=", e2fsprogs, kmod, lz4, xz-utils, zstd, git, apt, curl, ca-certificates"
# libarchive is loaded by sbx cp and template export/import only (src/host/archive_dl.c),
# so dpkg-shlibdeps does not see it.
runtime+=", libarchive13"

find "$root" -type d -exec chmod 0755 {} +
size=$(du -s -k --apparent-size "$root/usr" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	-e "s/@DEPENDS@/$shlibs, $runtime/" "$pkg/control.in" >"$root/DEBIAN/control"
(cd "$root" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$epoch" {} +

mkdir -p "$(dirname "$out")"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "mkdeb: $out"
