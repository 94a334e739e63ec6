#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make demo`, inside the VM: what coIOMMU can do at this stage.
set -e
# The KVM tests load their own ELF image: run them by full path.
say() { printf '\n== %s\n' "$*"; }
show() {	# run a test, print its result and the lines it logged
	"$1" 2>&1 | sed -n 's/^# [a-z_]*\.c:[0-9]*:[a-z_]*://p; /^\(not \)\{0,1\}ok /p'
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

say "unloading"
lsmod | grep -q coiommu_host && rmmod coiommu_host
echo "demo: done"
