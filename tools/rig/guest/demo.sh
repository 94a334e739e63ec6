#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make demo`, inside the VM: what coIOMMU can do at this stage.
set -e
# The KVM tests load their own ELF image: run them by full path.
say() { printf '\n== %s\n' "$*"; }

say "coIOMMU demo in a QEMU VM (TCG, not hardware), kernel $(uname -r)"
say "loading coiommu_host"
insmod "/lib/modules/$(uname -r)/extra/coiommu_host.ko"
ls -l /dev/coiommu
coiommuctl version

say "VFIO: edu DMA through the emulated VT-d (type1 mapping, then a blocked DMA)"
/tests/vfio_edu_dma | grep -E '^(ok|not ok)'
dmesg | grep 'DMAR: \[DMA' | tail -n 2

say "KVM: nested guest rings an ioeventfd doorbell without exiting to user space"
/tests/kvm_ioeventfd | grep -E '^(ok|not ok)'

say "unloading"
lsmod | grep -q coiommu_host && rmmod coiommu_host
echo "demo: done"
