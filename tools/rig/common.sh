# SPDX-License-Identifier: GPL-2.0
# Shared settings of the VM test rig. Sourced, never run.

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$RIG_DIR/../.." && pwd)
CACHE=${COIOMMU_CACHE:-$HOME/.cache/coiommu}
BUILD=${COIOMMU_BUILD:-$TOP/build}

die() { echo "rig: $*" >&2; exit 1; }
log() { echo "rig: $*" >&2; }

# The newest Debian amd64 kernel whose headers are installed (the package
# linux-headers-amd64 pulls it in). Never hard-coded: the ABI number moves.
default_kver() {
	local d v best=
	for d in /usr/src/linux-headers-*-amd64; do
		[ -e "$d/Makefile" ] || continue
		v=${d#/usr/src/linux-headers-}
		best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -1)
	done
	[ -n "$best" ] || return 1
	echo "$best"
}

KVER=${KVER:-$(default_kver || true)}
KCACHE=$CACHE/kernel/$KVER
