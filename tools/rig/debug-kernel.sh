#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build, once, a small debug kernel for the test VM from linux-source-6.1:
# x86_64 defconfig plus what the rig needs (VT-d, VFIO, KVM AMD, 9p,
# virtio, PVH boot, tracing) and the checkers: KASAN, PROVE_LOCKING,
# DEBUG_ATOMIC_SLEEP, KMEMLEAK, DEBUG_LIST. It is laid out in the cache
# like an unpacked Debian kernel, so the rest of the rig uses it with
# KVER=<its release> KDIR=<its build tree>. Prints "KVER KDIR".
set -euo pipefail
. "$(dirname "$0")/common.sh"

SRC=$CACHE/linux-source-6.1
OUT=$CACHE/debug-kernel
[ -e "$SRC/.coiommu-extracted" ] || "$RIG_DIR/kernel.sh" >&2

# Bump when the configuration or the build variables below change.
CONFIG_REV=3

# The C part of the PVH entry (xen_prepare_pvh) runs before KASAN has a
# shadow: instrumented, it faults on its first check and the VM triple
# faults before it prints anything. Build it (the only enlighten.o of
# this configuration) without KASAN, and lib/string.o too: its memcmp()
# is called there (xen_cpuid_base()). Only the checks inside the string
# routines themselves are lost.
KMAKE_VARS=(KASAN_SANITIZE_enlighten.o=n KASAN_SANITIZE_string.o=n)

configure() {
	local cfg=$OUT/build/.config
	mkdir -p "$OUT/build"
	make -s -C "$SRC" O="$OUT/build" x86_64_defconfig >&2
	"$SRC/scripts/config" --file "$cfg" \
		--set-str LOCALVERSION "-coiommu-debug" \
		-d LOCALVERSION_AUTO \
		-e PVH -e HYPERVISOR_GUEST -e PARAVIRT \
		-e PCI -e PCI_MSI -e IOMMU_SUPPORT -e INTEL_IOMMU \
		-e IRQ_REMAP -e X86_X2APIC \
		-m VFIO -m VFIO_PCI -e VFIO_PCI_MMAP -e EVENTFD \
		-e VIRTUALIZATION -m KVM -m KVM_AMD -d KVM_AMD_SEV -d KVM_INTEL \
		-e VIRTIO_MENU -m VIRTIO_PCI -m NET_9P -m NET_9P_VIRTIO \
		-m 9P_FS -e NETWORK_FILESYSTEMS \
		-e MODULES -e MODULE_UNLOAD -d MODULE_SIG \
		-e DEVTMPFS -e BLK_DEV_INITRD -e DEBUG_FS \
		-e FTRACE -e ENABLE_DEFAULT_TRACERS -e FUNCTION_TRACER \
		-e KASAN -e KASAN_GENERIC -e KASAN_INLINE \
		-e PROVE_LOCKING -e DEBUG_ATOMIC_SLEEP \
		-e DEBUG_KMEMLEAK -d DEBUG_KMEMLEAK_DEFAULT_OFF \
		--set-val DEBUG_KMEMLEAK_MEM_POOL_SIZE 40000 \
		-e DEBUG_LIST -e DEBUG_INFO_NONE -d DEBUG_INFO_BTF \
		-d DRM -d SOUND -d USB_SUPPORT -d WLAN -d WIRELESS
	make -s -C "$SRC" O="$OUT/build" olddefconfig >&2
}

build() {
	local cfg=$OUT/build/.config
	# An unchanged configuration is not rewritten: no full rebuild.
	[ -e "$cfg" ] || configure
	nice -n 19 make -s -C "$SRC" O="$OUT/build" -j"$(nproc)" \
		"${KMAKE_VARS[@]}" vmlinux modules >&2
	local kver
	kver=$(cat "$OUT/build/include/config/kernel.release")
	rm -rf "$CACHE/kernel/$kver"
	mkdir -p "$CACHE/kernel/$kver/root"
	make -s -C "$SRC" O="$OUT/build" INSTALL_MOD_PATH="$CACHE/kernel/$kver/root" \
		INSTALL_MOD_STRIP=1 modules_install >&2
	rm -f "$CACHE/kernel/$kver/root/lib/modules/$kver/"{build,source}
	cp "$OUT/build/vmlinux" "$CACHE/kernel/$kver/vmlinux"
	cp "$cfg" "$CACHE/kernel/$kver/config"
	touch "$CACHE/kernel/$kver/root/lib/modules/$kver/modules.builtin.modinfo"
	depmod -b "$CACHE/kernel/$kver/root" "$kver"
	echo "$CONFIG_REV" >"$OUT/.built"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.debug-lock"
flock 9
if [ "$(cat "$OUT/.built" 2>/dev/null)" != "$CONFIG_REV" ]; then
	log "building the debug kernel (KASAN, lockdep, kmemleak): takes a while"
	start=$(date +%s)
	build
	log "debug kernel built in $(( $(date +%s) - start )) s"
fi
echo "$(cat "$OUT/build/include/config/kernel.release") $OUT/build"
