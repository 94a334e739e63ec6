#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# How often do coiommu-vmm's nested guests hang? Boots the test VM once
# and, in it, N nested Linux guests with CPUS vCPUs one after the other
# (tools/rig/guest/nested_boots); prints the emulator's version line, each
# boot's status and the summary line. Needs `make initramfs` first.
# QEMU=/usr/bin/qemu-system-x86_64 measures another emulator (default:
# the rig's, tools/rig/qemu.sh); NB_TMO and NB_ARGS reach nested_boots.
# Usage: nested-rate.sh [CPUS [N]]
set -euo pipefail
. "$(dirname "$0")/common.sh"

cpus=${1:-1} n=${2:-30}
out=$(mktemp "${TMPDIR:-/tmp}/nested-rate.XXXXXX")
trap 'rm -f "$out" "$out.con"' EXIT
QEMU=${QEMU:-$("$RIG_DIR/qemu.sh")}
export QEMU
"$QEMU" -version | head -n 1
rc=0
VM_APPEND="NB_BOOTS=$n NB_CPUS=$cpus NB_TMO=${NB_TMO:-60} ${NB_ARGS:+NB_ARGS=$NB_ARGS} ${VM_APPEND:-}" \
TEST_TIMEOUT=$((n * (${NB_TMO:-60} + 30) + 60)) \
	"$RIG_DIR/vm.sh" -t $((n * (${NB_TMO:-60} + 30) + 300)) -c "$out.con" \
	-r "$out" test nested_boots || rc=$?
tr -d '\r' <"$out" | grep -v '^###'
exit $rc
