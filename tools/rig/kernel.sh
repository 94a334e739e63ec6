#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare, once, in the cache: the guest kernel matching the installed
# headers (uncompressed vmlinux that boots through its PVH note, plus its
# module tree with modules.dep) and the extracted linux-source tree.
# Nothing is installed on the machine: the image package is only unpacked.
set -euo pipefail
. "$(dirname "$0")/common.sh"

[ -n "$KVER" ] || die "no linux-headers-*-amd64 installed (run tools/rig/deps.sh)"

prepare_image() {
	local ver deb tmp off
	[ -s "$KCACHE/vmlinux" ] && [ -e "$KCACHE/root/lib/modules/$KVER/modules.dep" ] && return 0
	ver=$(dpkg-query -W -f='${Version}' "linux-headers-$KVER" 2>/dev/null) ||
		die "linux-headers-$KVER is not installed"
	tmp=$(mktemp -d "$CACHE/.img.XXXXXX")
	chmod 0755 "$tmp"	# apt-get download runs as _apt
	trap 'rm -rf "$tmp"' RETURN
	log "fetching linux-image-$KVER ($ver)"
	(cd "$tmp" && { apt-get download -q "linux-image-$KVER-unsigned=$ver" ||
			apt-get download -q "linux-image-$KVER=$ver"; } >&2 2>&1) ||
		die "cannot download linux-image-$KVER=$ver (apt-get update, then retry)"
	deb=$(ls "$tmp"/linux-image-*.deb)
	mkdir -p "$tmp/root"
	dpkg-deb -x "$deb" "$tmp/root"

	# The vmlinuz payload is XZ: decompress from the first XZ stream that
	# yields an ELF file.
	for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$tmp/root/boot/vmlinuz-$KVER" | cut -d: -f1); do
		tail -c +$((off + 1)) "$tmp/root/boot/vmlinuz-$KVER" |
			xz -dcq >"$tmp/vmlinux" 2>/dev/null || true
		[ "$(head -c 4 "$tmp/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] && break
	done
	[ "$(head -c 4 "$tmp/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		die "no ELF vmlinux inside vmlinuz-$KVER"
	depmod -b "$tmp/root" "$KVER"

	rm -rf "$KCACHE"
	mkdir -p "$KCACHE"
	mv "$tmp/vmlinux" "$tmp/root" "$KCACHE/"
	cp "$KCACHE/root/boot/config-$KVER" "$KCACHE/config"
}

prepare_source() {
	local tarball=/usr/src/linux-source-6.1.tar.xz
	[ -e "$CACHE/linux-source-6.1/.coiommu-extracted" ] && return 0
	[ -e "$tarball" ] || die "$tarball missing (apt-get install linux-source-6.1)"
	log "extracting linux-source-6.1"
	rm -rf "$CACHE/linux-source-6.1"
	tar -C "$CACHE" -xJf "$tarball"
	touch "$CACHE/linux-source-6.1/.coiommu-extracted"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
prepare_image
prepare_source
