#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test VM once. Usage:
#   vm.sh [-m MEM] [-t SECONDS] [-c CONSOLE] [-r RESULTS] [-s] MODE [TESTS]
# MODE is test, demo or shell; TESTS a comma-separated list (test mode).
# -c/-r: files for the console (ttyS0) and the results port (ttyS1);
# without -c the console is this terminal. -s shares the repository
# read-only at /mnt (9p). Exit status: 0 the guest finished and reported
# success, 1 it finished and reported failure, 124 timed out, 125 the VM
# died (panic, oops or a QEMU error) without reporting.
# VM_APPEND adds words to the guest's kernel command line; NAME=VALUE
# words reach the tests as environment variables (e.g. FUZZ_SEED=42).
# -w DIR shares DIR writable at tag coiommu_results (make bench: the
# results folder). VM_ACCEL replaces the accelerator (default
# tcg,thread=single; make bench uses multi-threaded tcg), VM_SMP the CPUs.
# QEMU names the emulator; by default the rig's own, Debian's QEMU with
# the project's patches built once into the cache (tools/rig/qemu.sh).
# QEMU_BUNDLE names the QEMU 10 bundle with the coIOMMU device (make qemu,
# tools/rig/qemu-coiommu.sh) that the tests run inside the VM: shared
# read-only at tag coiommu_qemu (the tests mount it at /qemu; see
# selftests/coiommu/lib/ct_qemu.h).
set -euo pipefail
. "$(dirname "$0")/common.sh"

mem=${VM_MEM:-2G} tmo=600 console= results=/dev/null share= wshare=
while getopts m:t:c:r:w:s o; do
	case $o in
	m) mem=$OPTARG ;;
	t) tmo=$OPTARG ;;
	c) console=$OPTARG ;;
	r) results=$OPTARG ;;
	s) share=1 ;;
	w) wshare=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
mode=${1:?mode}
tests=${2:-}
QEMU=${QEMU:-$("$RIG_DIR/qemu.sh")}
# run-tests.sh prints the version line once; shell and demo print it here.
[ "$mode" = test ] || log "$("$QEMU" -version | head -n 1) ($QEMU)"

args=(
	-accel "${VM_ACCEL:-tcg,thread=single}" -cpu max -smp "${VM_SMP:-2}"
	-m "$mem"
	-machine q35,kernel-irqchip=split
	-device intel-iommu,intremap=on,caching-mode=on
	-device edu,dma_mask=0xffffffffff -device edu,dma_mask=0xffffffffff
	-nic none -vga none -display none -monitor none -no-reboot
	-bios /usr/share/qemu/qboot.rom
	-kernel "$KCACHE/vmlinux" -initrd "${INITRAMFS:-$BUILD/initramfs.cpio}"
	-device isa-debug-exit,iobase=0xf4,iosize=4
	-append "console=ttyS0 intel_iommu=on panic=-1 oops=panic nokaslr no_timer_check loglevel=5 rig.mode=$mode rig.tests=$tests rig.timeout=${TEST_TIMEOUT:-600} ${VM_APPEND:-}"
)
if [ -n "$console" ]; then
	args+=(-serial "file:$console")
else
	args+=(-serial stdio)
fi
args+=(-serial "file:$results")
[ -n "$share" ] && args+=(-virtfs "local,path=$TOP,mount_tag=coiommu_src,security_model=none,readonly=on")
[ -n "$wshare" ] && args+=(-virtfs "local,path=$wshare,mount_tag=coiommu_results,security_model=none")
# A kernel, read-only, for coiommu-vmm's nested guest (tests mount it at
# /kernel when they need it; see selftests/coiommu/lib/ct_vmm.h): this
# VM's own, unless NESTED_KCACHE names another (make check-debug keeps
# Debian's there: a KASAN kernel nested under TCG boots far too slowly).
args+=(-virtfs "local,path=${NESTED_KCACHE:-$KCACHE},mount_tag=coiommu_kernel,security_model=none,readonly=on")
if [ -n "${QEMU_BUNDLE:-}" ]; then
	[ -x "$QEMU_BUNDLE/qemu-system-x86_64" ] ||
		die "QEMU_BUNDLE=$QEMU_BUNDLE: no qemu-system-x86_64 there"
	args+=(-virtfs "local,path=$QEMU_BUNDLE,mount_tag=coiommu_qemu,security_model=none,readonly=on")
fi

if [ "$mode" = shell ]; then
	exec "$QEMU" "${args[@]}"
fi
rc=0
timeout -k 10 "$tmo" "$QEMU" "${args[@]}" </dev/null || rc=$?
# isa-debug-exit makes QEMU exit with (guest status << 1) | 1.
case $rc in
1) exit 0 ;;
3) exit 1 ;;
124 | 137) echo "vm: timed out after ${tmo}s" >&2; exit 124 ;;
*) echo "vm: died without reporting (qemu status $rc)" >&2; exit 125 ;;
esac
