#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the initramfs of coiommu-vmm's nested guest: busybox (static) and
# tools/vmm/guest-init as /init. Usage: mkguest.sh OUTPUT.cpio [FILE...]
# Extra FILEs are copied to /bin of the guest.
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
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
