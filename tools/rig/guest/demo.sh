#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make demo`, inside the VM: what coIOMMU can do at this stage.
set -e
# The KVM tests load their own ELF image: run them by full path.
say() { printf '\n== %s\n' "$*"; }
show() {	# run a test, print its result and the lines it logged
	"$1" 2>&1 | sed -n 's/^# [a-z0-9_]*\.c:[0-9]*:[a-z0-9_]*://p; /^\(not \)\{0,1\}ok /p'
	# The kernel logs three DMAR faults per five seconds at most, and
	# the tests prove unmapped pages by those faults.
	sleep 6
}

say "coIOMMU demo in a QEMU VM (TCG, not hardware), kernel $(uname -r)"
say "loading coiommu_host"
insmod "/lib/modules/$(uname -r)/extra/coiommu_host.ko"
ls -l /dev/coiommu
coiommuctl version

say "VFIO: edu DMA through the emulated VT-d (type1 mapping, then a blocked DMA)"
show /tests/vfio_edu_dma
dmesg | grep 'DMAR: \[DMA' | tail -n 2

say "A VMM on raw KVM attaches in a handful of calls; its real-mode guest maps a
   page and rings its doorbell: the slot it reads on the next instruction is
   already 0 and PINNED is set, served in the vCPU thread itself"
lsmod | grep -q coiommu_host || insmod "/lib/modules/$(uname -r)/extra/coiommu_host.ko"
bdf=$(for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor)$(cat $d/device)" = 0x12340x11e8 ] && basename $d; done | head -1)
coiommu-sample "$bdf"

say "A nested KVM guest maps a page: pinned on demand, the device's DMA lands"
show /tests/doorbell_single

say "The guest stops using pages: the unpinner gives them back (second chance)"
show /tests/lazy_unpin_idle

say "A Linux guest in coiommu-vmm does real DMA through a passthrough edu.
   Its coIOMMU driver records every mapping in the DTT and asks for the
   pages not pinned yet; edu_dmatest moves data with the DMA API only and
   checks it. The host pins on demand and unpins (every 1 s here) what the
   guest stopped using: pinned memory stays a tiny fraction of 256 MiB"
lsmod | grep -q coiommu_host || insmod "/lib/modules/$(uname -r)/extra/coiommu_host.ko"
[ -e /kernel/vmlinux ] || { modprobe virtio_pci && modprobe 9pnet_virtio &&
	modprobe 9p && mount -t 9p -o trans=virtio,version=9p2000.L,ro \
	coiommu_kernel /kernel; }
d=/sys/bus/pci/devices/$bdf
if [ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" != vfio-pci ]; then
	[ -e "$d/driver" ] && echo "$bdf" >"$d/driver/unbind"
	modprobe vfio-pci
	echo vfio-pci >"$d/driver_override"
	echo "$bdf" >/sys/bus/pci/drivers_probe
fi
st=0
coiommu-vmm -k /kernel/vmlinux -m 256 -t 120 -s 1 -u 1000 -d "$bdf" \
	-a "quiet vmm.run=/bin/guest-e2e e2e.idle=4" >/tmp/e2e.out 2>&1 || st=$?
grep -E '^(e2e: (coiommu|run|idle|guest stats|after)|coiommu-vmm: |vmm-guest: power)' /tmp/e2e.out |
	grep -v 'coiommu-vmm: \(vCPU\|cr0\|stack\)'
[ "$st" -eq 0 ] || { echo "demo: coiommu-vmm failed with status $st:"; tail -n 40 /tmp/e2e.out; }

say "A user's QEMU: qemu-system-x86_64 10.0 with -device coiommu (make qemu),
   under KVM inside this VM, the same Linux guest and edu. First plain
   vfio-pci, which pins all guest RAM when QEMU starts; then the command
   line a user types to put the device behind the coIOMMU:
     qemu-system-x86_64 -accel kvm -machine q35 -m 256 ... \\
       -device coiommu,id=co0 \\
       -device vfio-pci,host=$bdf,id=hostdev0,coiommu=co0
   the guest's DMA pins on demand: QEMU's locked memory, side by side"
[ -x /qemu/qemu-system-x86_64 ] || { mkdir -p /qemu &&
	mount -t 9p -o trans=virtio,version=9p2000.L,ro coiommu_qemu /qemu \
		2>/dev/null; } || true
if [ -x /qemu/qemu-system-x86_64 ]; then
	/qemu/qemu-system-x86_64 -version | head -n 1
	show /tests/qemu_e2e_dma
else
	echo "demo: no QEMU bundle shared (make demo shares make qemu's)"
fi

say "unloading"
lsmod | grep -q coiommu_host && rmmod coiommu_host
echo "demo: done"
exit "$st"
