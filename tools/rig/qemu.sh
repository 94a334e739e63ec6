#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build, once, in the cache, the QEMU that runs the test VM: Debian's own
# source of the installed qemu-system-x86 (Debian 12: 7.2), with its
# Debian patches and then the project's (qemu/rig/*.patch, see the
# README there), x86_64-softmmu only. The firmware stays the system's
# (qemu-system-data, the same version). Prints the binary's path.
# The cache key is the source version and the patches' diffs: a new
# Debian upload or a changed patch builds a new binary; a reworded commit
# message does not. Nothing is installed and the system's apt
# configuration is not touched: a private apt configuration in the cache
# lists bookworm's source packages only.
#
# Usage: qemu.sh
# A cold build took 15 minutes on a loaded 2-core machine.
set -euo pipefail
. "$(dirname "$0")/common.sh"

APTD=$CACHE/apt/bookworm-src
PATCHES=$TOP/qemu/rig

# The Debian source version of the installed emulator, e.g.
# 1:7.2+dfsg-7+deb12u18 (a binNMU suffix such as +b3 is not part of it).
SRCVER=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) ||
	die "qemu-system-x86 is not installed: make deps"
# The configure line below is part of the key too (this file's own text
# from "CONFIGURE" on).
sum=$({ for p in "$PATCHES"/*.patch; do sed -n '/^diff --git/,$p' "$p"; done
	sed -n '/^# CONFIGURE/,$p' "$0"; } | sha256sum | cut -c1-12)
OUT=$CACHE/qemu/${SRCVER#*:}-$sum
BIN=$OUT/qemu-system-x86_64

[ -x "$BIN" ] && { echo "$BIN"; exit 0; }

mkdir -p "$CACHE/qemu"
exec 9>"$CACHE/qemu/.lock"
flock 9
[ -x "$BIN" ] && { echo "$BIN"; exit 0; }

# Source lists of bookworm, its updates and its security archive, where
# the point releases of qemu are; refreshed once a day at most.
apt_lists() {
	mkdir -p "$APTD"/sources.list.d "$APTD"/lists/partial \
		"$APTD"/cache/archives/partial
	cat >"$APTD/sources.list.d/bookworm-src.sources" <<-EOF
	Types: deb-src
	URIs: http://deb.debian.org/debian
	Suites: bookworm bookworm-updates
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

	Types: deb-src
	URIs: http://deb.debian.org/debian-security
	Suites: bookworm-security
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	chmod -R a+rX "$APTD"
	[ -n "$(find "$APTD/lists" -maxdepth 1 -name '*_Sources*' -mtime -1)" ] &&
		return 0
	log "apt-get update (bookworm sources, private configuration)"
	apt_private apt-get update >&2 ||
		[ -n "$(find "$APTD/lists" -maxdepth 1 -name '*_Sources*')" ] ||
		die "apt-get update for bookworm's sources failed"
}

SRC=$CACHE/qemu/src		# the downloaded source package, kept
TMP=$OUT.tmp
rm -rf "$TMP"
mkdir -p "$SRC" "$TMP"
dsc=$SRC/qemu_${SRCVER#*:}.dsc
if [ ! -e "$dsc" ]; then
	apt_lists
	log "fetching Debian's qemu source $SRCVER"
	(cd "$SRC" && apt_private apt-get source --download-only \
		"qemu=$SRCVER" >&2) || die "cannot download qemu $SRCVER"
fi
t0=$(date +%s)
log "unpacking qemu $SRCVER and applying qemu/rig"
# apt checked the files against the signed Release: no keyring needed.
dpkg-source --no-check -x "$dsc" "$TMP/src" >/dev/null
for p in "$PATCHES"/*.patch; do
	patch -d "$TMP/src" -p1 -s <"$p" || die "$(basename "$p") does not apply"
done

# CONFIGURE. What the rig uses and nothing more: TCG, the q35 machine and its
# devices (intel-iommu, edu, isa-debug-exit), virtio-9p for the shares.
log "building qemu-system-x86_64 (x86_64-softmmu only; a cold build takes long)"
mkdir -p "$TMP/build"
# Debian's meson and python, whatever python3 comes first in PATH.
export PATH=/usr/bin:/bin:$PATH
(cd "$TMP/build" && ../src/configure --prefix="$OUT" \
	--meson=/usr/bin/meson --target-list=x86_64-softmmu \
	--without-default-features --disable-docs --disable-werror \
	--enable-virtfs --enable-attr --enable-cap-ng \
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu \
	--with-pkgversion="Debian $SRCVER, coIOMMU qemu/patches $sum" \
	--extra-cflags=-g0 >"$TMP/configure.log" 2>&1) ||
	{ tail -n 30 "$TMP/configure.log" >&2; die "qemu configure failed"; }
nice -n 10 ninja -C "$TMP/build" -j"$(nproc)" qemu-system-x86_64 \
	>"$TMP/build.log" 2>&1 ||
	{ tail -n 30 "$TMP/build.log" >&2; die "qemu build failed"; }
mkdir -p "$OUT"
cp "$TMP/build/qemu-system-x86_64" "$BIN.new"
strip "$BIN.new"
mv "$BIN.new" "$BIN"
log "qemu built in $(($(date +%s) - t0)) s: $BIN"
# QEMU_KEEP_BUILD=1 keeps source and build tree (OUT.tmp) for work on
# the patches; otherwise they go (about 1 GB).
[ -n "${QEMU_KEEP_BUILD:-}" ] || rm -rf "$TMP"
echo "$BIN"
