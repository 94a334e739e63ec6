#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the initramfs of coiommu-vmm's nested guest: busybox (static) and
# tools/vmm/guest-init as /init. Usage: mkguest.sh OUTPUT.cpio [FILE...]
# Extra FILEs are copied to /bin of the guest. GUEST_KMODS names Debian
# modules of the nested guest's kernel (KVER, unpacked under KROOT by
# tools/rig/kernel.sh) that the guest loads with modprobe: they go to
# /lib/modules/KVER with their dependencies (virtio_balloon needs
# virtio_pci's bus, virtio and virtio_ring).
set -euo pipefail

out=${1:?usage: mkguest.sh OUTPUT.cpio [FILE...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d "${TMPDIR:-/tmp}/coiommu-vmm-guest.XXXXXX")
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,etc}
cp /bin/busybox "$stage/bin/busybox"
cp "$here/guest-init" "$stage/init"
chmod 0755 "$stage/init"
for f in "$@"; do
	cp "$f" "$stage/bin/"
done
if [ -n "${GUEST_KMODS:-}" ]; then
	: "${KVER:?KVER}" "${KROOT:?KROOT}"
	mkdir -p "$stage/lib/modules/$KVER"
	for m in $GUEST_KMODS; do
		modprobe -S "$KVER" -d "$KROOT" --show-depends "$m" |
			awk '$1 == "insmod" { print $2 }'
	done | sort -u | while read -r ko; do
		rel=${ko#"$KROOT"/}
		mkdir -p "$stage/$(dirname "$rel")"
		# busybox's modprobe wants them plain (Debian 13 XZ-packs).
		case $ko in
		*.ko.xz) xz -dc "$ko" >"$stage/${rel%.xz}" ;;
		*) cp "$ko" "$stage/$rel" ;;
		esac
	done
	cp "$KROOT/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} \
		"$stage/lib/modules/$KVER/"
	depmod -b "$stage" "$KVER"
fi
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
