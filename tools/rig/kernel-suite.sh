#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Prepare, once, in the cache, the amd64 kernel of another Debian suite
# (default trixie, Debian 13, kernel 6.12): its image (vmlinux and module
# tree, as kernel.sh does for the installed headers), its headers and
# kbuild tree to build the module against, and its linux-source, from
# which the kbuild programs that do not run on this system are rebuilt.
# Nothing is installed and the system's apt configuration is not touched:
# a private apt configuration in the cache lists that suite only.
# Prints "KVER KDIR" on stdout.
#
# Usage: kernel-suite.sh [SUITE]
set -euo pipefail
. "$(dirname "$0")/common.sh"

SUITE=${1:-trixie}
APTD=$CACHE/apt/$SUITE
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# The suite's package lists, refreshed once a day at most.
apt_lists() {
	mkdir -p "$APTD"/sources.list.d "$APTD"/lists/partial \
		"$APTD"/cache/archives/partial
	cat >"$APTD/sources.list.d/$SUITE.sources" <<-EOF
	Types: deb
	URIs: http://deb.debian.org/debian
	Suites: $SUITE
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	chmod -R a+rX "$APTD"	# apt's downloads run as _apt
	[ -n "$(find "$APTD/lists" -maxdepth 1 -name '*_Packages*' -mtime -1)" ] &&
		return 0
	log "apt-get update ($SUITE, private configuration)"
	apt_private apt-get update >&2 && return 0
	# Offline: the lists we have still name the kernel in the cache.
	[ -n "$(find "$APTD/lists" -maxdepth 1 -name '*_Packages*')" ] ||
		die "apt-get update for $SUITE failed"
	log "apt-get update failed; using the lists of the last update"
}

# The ABI name and version behind the suite's linux-headers-amd64: never
# hard-coded, they move with every point release.
discover() {
	local dep
	VERSION=$(apt_private apt-cache show linux-headers-amd64 |
		awk '/^Version:/ { print $2 }' | sort -V | tail -1)
	dep=$(apt_private apt-cache show "linux-headers-amd64=$VERSION" |
		sed -n 's/^Depends: \(linux-headers-[^ ,]*-amd64\).*/\1/p' | head -1)
	[ -n "$VERSION" ] && [ -n "$dep" ] ||
		die "no linux-headers-amd64 in $SUITE"
	KVER=${dep#linux-headers-}
	ABI=${KVER%-amd64}		# 6.12.117+deb13
	KCACHE=$CACHE/kernel/$KVER
}

fetch() {
	local tmp=$1
	log "fetching the $KVER kernel packages ($VERSION) from $SUITE"
	(cd "$tmp" && apt_private apt-get download \
		"linux-image-$KVER-unsigned=$VERSION" \
		"linux-headers-$KVER=$VERSION" \
		"linux-headers-$ABI-common=$VERSION" \
		"linux-kbuild-$ABI=$VERSION" \
		"linux-source-$(echo "$ABI" | cut -d. -f1,2)=$VERSION" >&2) ||
		die "cannot download the $KVER packages"
}

# vmlinux from the payload of vmlinuz, as kernel.sh does; Debian 13
# compresses it with zstd, 12 with XZ: the first stream that yields an
# ELF file.
extract_vmlinux() {
	local z=$1 out=$2 magic off
	for magic in '\x28\xb5\x2f\xfd:zstd' '\xfd7zXZ\x00:xz'; do
		for off in $(LC_ALL=C grep -obUaP "${magic%:*}" "$z" | cut -d: -f1); do
			tail -c +$((off + 1)) "$z" |
				"${magic#*:}" -dcq >"$out" 2>/dev/null || true
			[ "$(head -c 4 "$out" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] &&
				return 0
		done
	done
	die "no ELF vmlinux inside $z"
}

# The kbuild programs of the suite are linked against its newer glibc;
# rebuild those that do not run here from its linux-source with our gcc.
rebuild_tools() {
	local src=$1 hdr=$2 kb=$3 f
	log "rebuilding kbuild programs (modpost, objtool, ...) with $(gcc -dumpfullversion)"
	cp "$hdr/.config" "$src/.config"
	make -s -C "$src" olddefconfig >&2
	make -s -C "$src" -j"$(nproc)" modules_prepare >&2
	make -s -C "$src/tools/bpf/resolve_btfids" -j"$(nproc)" >&2
	for f in scripts/basic/fixdep scripts/mod/modpost scripts/kallsyms \
		 scripts/genksyms/genksyms scripts/sign-file scripts/recordmcount \
		 scripts/kconfig/conf tools/objtool/objtool \
		 tools/bpf/resolve_btfids/resolve_btfids; do
		[ -x "$src/$f" ] || continue
		rm -f "$kb/$f" "$kb/$f".real-*
		cp "$src/$f" "$kb/$f"
	done
	# Every ELF program left must run here.
	for f in $(find "$kb" -type f -perm -u+x); do
		head -c 4 "$f" | grep -q ELF || continue
		! ldd "$f" 2>&1 | grep -q 'not found' || die "$f does not run here"
	done
	return 0
}

prepare() {
	local tmp src hdr kb
	[ -e "$KCACHE/.suite-complete" ] && return 0
	tmp=$(mktemp -d "$CACHE/.suite.XXXXXX")
	chmod 0755 "$tmp"
	trap 'rm -rf "$tmp"' RETURN
	fetch "$tmp"

	mkdir -p "$tmp/root" "$tmp/headers" "$tmp/source"
	dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/root"
	# Debian 13 ships /usr/lib/modules (merged /usr); the rig reads
	# /lib/modules like kernel.sh's tree.
	if [ -d "$tmp/root/usr/lib/modules" ] && [ ! -e "$tmp/root/lib" ]; then
		mkdir -p "$tmp/root/lib"
		mv "$tmp/root/usr/lib/modules" "$tmp/root/lib/modules"
	fi
	extract_vmlinux "$tmp/root/boot/vmlinuz-$KVER" "$tmp/vmlinux"
	depmod -b "$tmp/root" "$KVER"

	for d in "$tmp"/linux-headers-*.deb "$tmp"/linux-kbuild-*.deb; do
		dpkg-deb -x "$d" "$tmp/headers"
	done
	hdr=$tmp/headers/usr/src/linux-headers-$KVER
	kb=$tmp/headers/usr/lib/linux-kbuild-$ABI
	dpkg-deb --fsys-tarfile "$tmp"/linux-source-*.deb |
		tar -xO --wildcards './usr/src/linux-source-*.tar.xz' |
		xz -dc -T0 | tar -C "$tmp/source" -x
	src=$(echo "$tmp"/source/linux-source-*)
	rebuild_tools "$src" "$hdr" "$kb"

	rm -rf "$KCACHE"
	mkdir -p "$KCACHE"
	mv "$tmp/vmlinux" "$tmp/root" "$tmp/headers" "$KCACHE/"
	cp "$KCACHE/root/boot/config-$KVER" "$KCACHE/config"
	# The headers' Makefile includes the common tree by absolute path.
	sed -i "s|^include /usr/src/|include $KCACHE/headers/usr/src/|" \
		"$KCACHE/headers/usr/src/linux-headers-$KVER/Makefile"
	touch "$KCACHE/.suite-complete"
}

apt_lists
discover
prepare
echo "$KVER $KCACHE/headers/usr/src/linux-headers-$KVER"
