# SPDX-License-Identifier: GPL-2.0
# Shared settings of the VM test rig. Sourced, never run.

RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$RIG_DIR/../.." && pwd)
CACHE=${COIOMMU_CACHE:-$HOME/.cache/coiommu}
BUILD=${COIOMMU_BUILD:-$TOP/build}

die() { echo "rig: $*" >&2; exit 1; }
log() { echo "rig: $*" >&2; }

# Run an apt command ("$@") on the private configuration under $APTD only:
# its own source lists, package lists and cache, none of the system's
# sources or installed packages (kernel-suite.sh, qemu.sh).
apt_private() {
	"$@" -o Dir::Etc::SourceList=/dev/null \
		-o Dir::Etc::SourceParts="$APTD/sources.list.d" \
		-o Dir::State::Lists="$APTD/lists" \
		-o Dir::Cache="$APTD/cache" \
		-o Dir::State::status=/dev/null -q
}

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
