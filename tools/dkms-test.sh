#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DKMS packaging check: dkms add, build, install and remove this tree for
# the installed Debian kernel headers (KVER). It installs the module file
# under /lib/modules/KVER/updates/dkms and removes it again; nothing is
# ever loaded. Needs root and the dkms package.
set -euo pipefail
. "$(dirname "$0")/rig/common.sh"

name=coiommu
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$TOP/dkms.conf")
[ -n "$KVER" ] || die "no kernel headers"
command -v dkms >/dev/null || die "dkms is not installed"

cleanup() {
	dkms remove -m "$name" -v "$ver" --all >/dev/null 2>&1 || true
	rm -rf "/usr/src/$name-$ver"
}
trap cleanup EXIT
cleanup

# The source DKMS builds from: what a package would ship.
mkdir -p "/usr/src/$name-$ver"
cp -r "$TOP"/{dkms.conf,Kbuild,kernel,uapi} "/usr/src/$name-$ver/"
find "/usr/src/$name-$ver" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \
	-o -name '*.mod*' -o -name modules.order \) -delete

dkms add -m "$name" -v "$ver"
dkms build -m "$name" -v "$ver" -k "$KVER"
dkms install -m "$name" -v "$ver" -k "$KVER" --force
ko=$(find "/lib/modules/$KVER/updates/dkms" -name 'coiommu_host.ko*' | head -1)
[ -n "$ko" ] || die "dkms install left no module under /lib/modules/$KVER/updates/dkms"
modinfo -F vermagic "$ko" | grep -q "^$KVER " ||
	die "$ko was not built for $KVER"
dkms status -m "$name" -v "$ver"
echo "dkms: $name $ver builds and installs for $KVER"
