#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages the build and the VM test rig need, if any is
# missing. Safe to run repeatedly: it does nothing when all are present.
set -euo pipefail

# qemu-system-x86: the test VM (TCG); linux-headers-amd64: build the module
# for Debian's kernel; linux-source-6.1: kselftest harness, KVM selftest
# library, checkpatch; busybox-static: the VM's userland; cpio, kmod,
# xz-utils: initramfs, module dependencies, vmlinuz; gcc, make, libc6-dev:
# static test binaries; sparse, python3-docutils: make lint; dkms: the
# packaging check; gnuplot-nox, bsdextrautils (column): make bench's plots
# and table. The rig's QEMU (tools/rig/qemu.sh) is Debian's qemu source,
# patched and built once: dpkg-dev, patch, meson, ninja-build and the
# libraries of a minimal x86_64-softmmu with virtio-9p (glib, pixman, fdt,
# libcap-ng, libattr); QEMU 10 with the coIOMMU device (qemu-coiommu.sh)
# also needs python3-venv; qemu-system-x86 stays for its firmware and as the
# version to build.
PKGS=(qemu-system-x86 linux-headers-amd64 linux-source-6.1 busybox-static
      cpio kmod xz-utils gcc make libc6-dev sparse dkms python3-docutils
      gnuplot-nox bsdextrautils
      dpkg-dev patch meson ninja-build libglib2.0-dev libpixman-1-dev
      libfdt-dev libcap-ng-dev libattr1-dev python3-venv)
# `deps.sh debug`: also what building the debug kernel needs.
[ "${1:-}" = debug ] && PKGS+=(bc flex bison libelf-dev libssl-dev)
# `deps.sh suite`: also what kernel-suite.sh needs (zstd vmlinuz, the
# kbuild programs rebuilt from source).
[ "${1:-}" = suite ] && PKGS+=(zstd bc flex bison libelf-dev libssl-dev)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "deps: installing ${missing[*]}" >&2
$SUDO apt-get update -q >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
	--no-install-recommends "${missing[@]}" >&2
