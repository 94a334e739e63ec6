#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build, once, in the cache, QEMU 10.0 with the coIOMMU device: Debian 13's
# source package of qemu (the newest 1:10.0.x the archive has), with its
# Debian patches and then the project's series (qemu/patches/*.patch, see
# the README there), x86_64-softmmu with KVM only, linked with libcoiommu
# (make libcoiommu). Prints the directory of the result, a bundle that
# runs on this system and inside the test VM alike:
#
#	DIR/qemu-system-x86_64	wrapper: the binary with its own libraries
#				and firmware (-L DIR/share/qemu)
#	DIR/bin, DIR/lib, DIR/share/qemu
#
# Nothing is installed and the system's apt configuration is not touched:
# private apt configurations in the cache list trixie's sources (the
# QEMU source) and bookworm-backports (meson 1.7, which QEMU 10 needs and
# Debian 12 lacks: unpacked into the cache, never installed).
# The cache key is the source version, the patches' diffs, libcoiommu and
# this file's text from "CONFIGURE" on.
#
# Usage: qemu-coiommu.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"

PATCHES=$TOP/qemu/patches
LIBCO=$BUILD/libcoiommu
QDIR=$CACHE/qemu-coiommu
SRCD=$CACHE/apt/trixie-src
BPOD=$CACHE/apt/bookworm-backports

[ -e "$LIBCO/lib/libcoiommu.a" ] || die "no $LIBCO: make libcoiommu"
mkdir -p "$QDIR"
exec 9>"$QDIR/.lock"
flock 9

# The private apt configurations, their lists refreshed once a day at most.
apt_conf() {	# DIR TYPE URI SUITES
	mkdir -p "$1"/sources.list.d "$1"/lists/partial "$1"/cache/archives/partial
	cat >"$1/sources.list.d/debian.sources" <<-EOF
	Types: $2
	URIs: $3
	Suites: $4
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	chmod -R a+rX "$1"
	APTD=$1
	[ -n "$(find "$1/lists" -maxdepth 1 -name '*_Packages*' -mtime -1 -o \
		-maxdepth 1 -name '*_Sources*' -mtime -1)" ] && return 0
	log "apt-get update ($4, private configuration)"
	apt_private apt-get update >&2 ||
		[ -n "$(find "$1/lists" -maxdepth 1 -name '*_Sources*' -o \
			-maxdepth 1 -name '*_Packages*')" ] ||
		die "apt-get update for $4 failed"
}

# meson >= 1.5 (QEMU 10's floor), from bookworm-backports, unpacked.
MESON=$QDIR/meson
if [ ! -x "$MESON/meson" ]; then
	apt_conf "$BPOD" deb http://deb.debian.org/debian bookworm-backports
	rm -rf "$MESON.tmp"
	mkdir -p "$MESON.tmp"
	(cd "$MESON.tmp" && apt_private apt-get download meson >&2) ||
		die "cannot download meson from bookworm-backports"
	dpkg -x "$MESON".tmp/meson_*.deb "$MESON.tmp"
	cat >"$MESON.tmp/meson" <<-'EOF'
	#!/bin/sh
	d=$(dirname "$(readlink -f "$0")")
	PYTHONPATH=$d/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH} \
		exec /usr/bin/python3 "$d/usr/bin/meson" "$@"
	EOF
	chmod +x "$MESON.tmp/meson"
	rm -rf "$MESON"
	mv "$MESON.tmp" "$MESON"
fi

# The newest QEMU 10.0 source in trixie (a point release replaces the
# last one on the mirror).
apt_conf "$SRCD" deb-src http://deb.debian.org/debian "trixie trixie-updates"
SRCVER=$(apt_private apt-cache showsrc qemu 2>/dev/null |
	sed -n 's/^Version: //p' | grep '^1:10\.0\.' | sort -V | tail -1)
[ -n "$SRCVER" ] || die "no qemu 1:10.0.x source in trixie"

sum=$({ for p in "$PATCHES"/*.patch; do sed -n '/^diff --git/,$p' "$p"; done
	cat "$TOP"/tools/lib/libcoiommu.[ch] "$TOP"/uapi/linux/coiommu*.h
	sed -n '/^# CONFIGURE/,$p' "$0"; } | sha256sum | cut -c1-12)
OUT=$QDIR/${SRCVER#*:}-$sum
[ -x "$OUT/qemu-system-x86_64" ] && { echo "$OUT"; exit 0; }

SRC=$QDIR/src
mkdir -p "$SRC"
dsc=$SRC/qemu_${SRCVER#*:}.dsc
if [ ! -e "$dsc" ]; then
	log "fetching Debian's qemu source $SRCVER"
	(cd "$SRC" && apt_private apt-get source --download-only \
		"qemu=$SRCVER" >&2) || die "cannot download qemu $SRCVER"
fi
TMP=$OUT.tmp
rm -rf "$TMP"
mkdir -p "$TMP"
t0=$(date +%s)
log "unpacking qemu $SRCVER and applying qemu/patches"
dpkg-source --no-check -x "$dsc" "$TMP/src" >/dev/null
for p in "$PATCHES"/*.patch; do
	patch -d "$TMP/src" -p1 -s <"$p" || die "$(basename "$p") does not apply"
done

# CONFIGURE. KVM only (no TCG), the default devices of x86_64-softmmu
# (q35, vfio-pci, isa-debug-exit, ...), the coIOMMU device with
# libcoiommu. Debian's source has no prebuilt firmware: none is installed
# (--disable-install-blobs); the bundle takes the system's.
log "building qemu-system-x86_64 $SRCVER with the coIOMMU device"
mkdir -p "$TMP/build"
export PATH=/usr/bin:/bin:$PATH
(cd "$TMP/build" && \
	PKG_CONFIG_PATH=$LIBCO/lib/pkgconfig PATH=$MESON:$PATH \
	PYTHONPATH=$MESON/usr/lib/python3/dist-packages \
	../src/configure --prefix="$OUT" --target-list=x86_64-softmmu \
	--without-default-features --disable-docs --disable-werror \
	--disable-install-blobs --enable-kvm --disable-tcg --enable-coiommu \
	--with-pkgversion="Debian $SRCVER, coIOMMU $sum" \
	--extra-cflags=-g0 >"$TMP/configure.log" 2>&1) ||
	{ tail -n 30 "$TMP/configure.log" >&2; die "qemu configure failed"; }
nice -n 10 ninja -C "$TMP/build" -j"$(nproc)" qemu-system-x86_64 \
	>"$TMP/build.log" 2>&1 ||
	{ grep -B2 -A8 'error:' "$TMP/build.log" | head -n 60 >&2
	  tail -n 20 "$TMP/build.log" >&2; die "qemu build failed"; }

# The bundle: the binary, the libraries it needs (with their loader), the
# firmware of the system's qemu-system-data that a q35 guest booting a
# kernel needs.
B=$TMP/bundle
mkdir -p "$B/bin" "$B/lib" "$B/share/qemu"
cp "$TMP/build/qemu-system-x86_64" "$B/bin/"
strip "$B/bin/qemu-system-x86_64"
ldd "$B/bin/qemu-system-x86_64" | awk '$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }' |
	while read -r l; do cp -L "$l" "$B/lib/"; done
for f in qemu/qboot.rom seabios/bios-256k.bin qemu/pvh.bin \
	 qemu/linuxboot_dma.bin qemu/kvmvapic.bin; do
	cp -L "/usr/share/$f" "$B/share/qemu/" ||
		die "/usr/share/$f missing: make deps (qemu-system-x86)"
done
cat >"$B/qemu-system-x86_64" <<-'EOF'
#!/bin/sh
# QEMU with the coIOMMU device, with its own libraries and firmware.
d=$(dirname "$(readlink -f "$0")")
exec "$d"/lib/ld-linux-x86-64.so.2 --library-path "$d/lib" \
	"$d/bin/qemu-system-x86_64" -L "$d/share/qemu" "$@"
EOF
chmod 0755 "$B/qemu-system-x86_64"
"$B/qemu-system-x86_64" -version >&2 || die "the bundle does not run"
"$B/qemu-system-x86_64" -device coiommu,help >/dev/null ||
	die "the built QEMU has no coiommu device"
rm -rf "$OUT"
mv "$B" "$OUT"
cp "$TMP/configure.log" "$TMP/build.log" "$OUT/"
log "qemu $SRCVER with coIOMMU built in $(($(date +%s) - t0)) s: $OUT"
# QEMU_KEEP_BUILD=1 keeps source and build tree (OUT.tmp) for work on
# the patches; otherwise they go.
[ -n "${QEMU_KEEP_BUILD:-}" ] || rm -rf "$TMP"
echo "$OUT"
