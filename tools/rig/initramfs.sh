#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the test VM's initramfs: busybox, the Debian modules the tests need
# (with their dependencies), our modules, the static test binaries and the
# guest init. Usage: initramfs.sh OUTPUT.cpio
set -euo pipefail
. "$(dirname "$0")/common.sh"

out=${1:?usage: initramfs.sh OUTPUT.cpio}
root=$KCACHE/root
[ -e "$root/lib/modules/$KVER/modules.dep" ] || die "run tools/rig/kernel.sh first"

# Modules loaded in the VM; the boot loads the first line, tests the rest.
MODS=(vfio-pci vfio_iommu_type1 kvm_amd 9p 9pnet_virtio virtio_pci)

stage=$(mktemp -d "${TMPDIR:-/tmp}/coiommu-initramfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,mnt,tests,etc} \
	"$stage/lib/modules/$KVER/extra"
cp /bin/busybox "$stage/bin/busybox"
cp "$RIG_DIR/guest-init" "$stage/init"
chmod 0755 "$stage/init"

for m in "${MODS[@]}"; do
	modprobe -S "$KVER" -d "$root" --show-depends "$m" |
		awk '$1 == "insmod" { print $2 }'
done | sort -u | while read -r ko; do
	rel=${ko#"$root"/}
	mkdir -p "$stage/$(dirname "$rel")"
	cp "$ko" "$stage/$rel"
done
cp "$root/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} \
	"$stage/lib/modules/$KVER/"

# Our modules and test programs.
cp "${MODULE_DIR:-$TOP/kernel}"/*.ko "$stage/lib/modules/$KVER/extra/"
find "$BUILD/selftests" -maxdepth 1 -type f -perm -u+x -exec cp {} "$stage/tests/" \;
cp -r "$TOP/tools/rig/guest/." "$stage/tests/"
[ -d "$BUILD/tools" ] && cp "$BUILD"/tools/* "$stage/bin/"
# coiommu-vmm's nested guest: its initramfs (the kernel comes over 9p).
if [ -e "$BUILD/vmm/guest.cpio" ]; then
	mkdir -p "$stage/vmm" "$stage/kernel"
	cp "$BUILD/vmm/guest.cpio" "$stage/vmm/"
fi
# Benchmarks (make bench): the programs in /bench, their modules (the P1
# floor) next to ours.
if compgen -G "$BUILD/bench/bench_*" >/dev/null; then
	mkdir -p "$stage/bench"
	find "$BUILD/bench" -maxdepth 1 -type f -name 'bench_*' -perm -u+x \
		-exec cp {} "$stage/bench/" \;
fi
if compgen -G "$TOP/tools/bench/kmod/*.ko" >/dev/null; then
	cp "$TOP"/tools/bench/kmod/*.ko "$stage/lib/modules/$KVER/extra/"
fi
depmod -b "$stage" "$KVER"

(cd "$stage" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
