# SPDX-License-Identifier: GPL-2.0
#
# coIOMMU: host module, guest driver, tests.
#
#   make            build the modules and the tools (offline)
#   make check      install what is missing, build, run every test in the VM
#   make check-61, check-612   only the 6.1 or 6.12 part of make check
#   make demo       boot the VM and show the module at work
#   make vmtest T="name ..."   rebuild and rerun some tests in the VM
#   make vmshell    interactive VM shell, repository read-only at /mnt
#   make bench      every benchmark in one VM run (Documentation/benchmarks.rst)
#   make bench-smoke  the same, short: checks they run (no timing asserted)
#
# KVER selects the Debian kernel (default: newest installed
# linux-headers-*-amd64); KDIR the kernel build tree for it.

RIG	:= tools/rig
KVER	?= $(shell bash -c '. $(RIG)/common.sh && echo $$KVER')
KDIR	?= /usr/src/linux-headers-$(KVER)
BUILD	:= $(CURDIR)/build
CACHE	:= $(or $(COIOMMU_CACHE),$(HOME)/.cache/coiommu)
KSRC	:= $(CACHE)/linux-source-6.1
export KVER

# W=1 warnings fail the build through the compiler (-Werror).
KBUILD_ARGS := -C $(KDIR) M=$(CURDIR) W=1 KCFLAGS=-Werror
# The guest modules (guest/) are a kbuild of their own, for the nested
# guest: it boots the same kernel, so they build against the same KDIR.
GUEST_KBUILD_ARGS := -C $(KDIR) M=$(CURDIR)/guest W=1 KCFLAGS=-Werror

# The modules and the tools, offline. The tests need the kernel sources
# of the rig's cache (make tests, make check).
all: module tools

deps:
	@$(RIG)/deps.sh

kernel-cache:
	@$(RIG)/kernel.sh

# The module must build without a single warning (W=1, -Werror).
module:
	@test -d "$(KDIR)" || { echo "no kernel tree $(KDIR): make deps" >&2; exit 1; }
	@mkdir -p $(BUILD)
	@$(MAKE) $(KBUILD_ARGS) modules >$(BUILD)/module.log 2>&1; rc=$$?; \
		cat $(BUILD)/module.log; test $$rc -eq 0
	@$(MAKE) --no-print-directory guest-modules

guest-modules:
	@mkdir -p $(BUILD)
	@$(MAKE) $(GUEST_KBUILD_ARGS) modules >$(BUILD)/guest-module.log 2>&1; rc=$$?; \
		cat $(BUILD)/guest-module.log; test $$rc -eq 0

tests: kernel-cache
	$(MAKE) -C selftests/coiommu OUT=$(BUILD)/selftests KSRC=$(KSRC)

# User space builds without a warning too: -Werror here, in
# selftests/coiommu/Makefile and in tools/bench/Makefile.
TOOLS_CFLAGS := -O2 -g -Wall -Wextra -Werror -static -I$(CURDIR)/uapi \
		-I$(CURDIR)/tools/lib
LIBCOIOMMU   := tools/lib/libcoiommu.c tools/lib/libcoiommu.h

VMM_SRC      := $(filter-out tools/vmm/memtouch.c,$(wildcard tools/vmm/*.c)) \
		tools/vmm/vmm.h

tools: $(BUILD)/tools/coiommuctl $(BUILD)/tools/coiommu-sample \
	$(BUILD)/tools/coiommu-vmm

$(BUILD)/tools/coiommuctl: tools/coiommuctl/coiommuctl.c uapi/linux/coiommu.h
	@mkdir -p $(dir $@)
	$(CC) $(TOOLS_CFLAGS) $(filter %.c,$^) -o $@

$(BUILD)/tools/coiommu-sample: tools/samples/coiommu_sample.c \
		tools/samples/sample_guest.S $(LIBCOIOMMU) uapi/linux/coiommu.h
	@mkdir -p $(dir $@)
	$(CC) $(TOOLS_CFLAGS) $(filter %.c %.S,$^) -o $@

$(BUILD)/tools/coiommu-vmm: $(VMM_SRC) $(LIBCOIOMMU) uapi/linux/coiommu.h
	@mkdir -p $(dir $@)
	$(CC) $(TOOLS_CFLAGS) -pthread $(filter %.c,$^) -o $@

# The nested guest's initramfs: busybox and tools/vmm/guest-init, with the
# guest modules, tools/vmm/guest-e2e, tools/vmm/guest-abi and memtouch in
# /bin, and Debian's virtio_balloon (e2e.balloon) with what it needs.
# Built with the test VM's initramfs, not by plain make: Debian's modules
# come from the kernel cache (tools/rig/kernel.sh, which downloads).
KROOT_DEP := $(CACHE)/kernel/$(KVER)/root/lib/modules/$(KVER)/modules.dep

$(KROOT_DEP):
	@$(RIG)/kernel.sh

$(BUILD)/vmm/guest.cpio: tools/vmm/mkguest.sh tools/vmm/guest-init \
		tools/vmm/guest-e2e tools/vmm/guest-abi guest-modules \
		$(BUILD)/vmm/memtouch $(KROOT_DEP)
	GUEST_KMODS="virtio_pci virtio_balloon" KROOT=$(CACHE)/kernel/$(KVER)/root \
		tools/vmm/mkguest.sh $@ tools/vmm/guest-e2e tools/vmm/guest-abi \
		guest/coiommu_guest.ko guest/edu_dmatest.ko $(BUILD)/vmm/memtouch

$(BUILD)/vmm/memtouch: tools/vmm/memtouch.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -Wall -Wextra -static $< -o $@

# libcoiommu as a static library with a pkg-config file, for VMMs that
# link it rather than copy it (the QEMU device of qemu/patches).
LIBCO_DIR := $(BUILD)/libcoiommu

libcoiommu: $(LIBCO_DIR)/lib/libcoiommu.a

$(LIBCO_DIR)/lib/libcoiommu.a: $(LIBCOIOMMU) uapi/linux/coiommu.h \
		uapi/linux/coiommu_guest.h
	@mkdir -p $(LIBCO_DIR)/lib/pkgconfig $(LIBCO_DIR)/include/linux
	$(CC) -O2 -g -Wall -Wextra -Werror -fPIC -I$(CURDIR)/uapi -c \
		tools/lib/libcoiommu.c -o $(LIBCO_DIR)/libcoiommu.o
	cp tools/lib/libcoiommu.h $(LIBCO_DIR)/include/
	cp uapi/linux/coiommu.h uapi/linux/coiommu_guest.h \
		$(LIBCO_DIR)/include/linux/
	printf '%s\n' "prefix=$(LIBCO_DIR)" 'Name: libcoiommu' \
		'Description: attach a VM to the coIOMMU host module' \
		'Version: 1' 'Cflags: -I$${prefix}/include' \
		'Libs: -L$${prefix}/lib -lcoiommu' \
		>$(LIBCO_DIR)/lib/pkgconfig/libcoiommu.pc
	$(AR) rcs $@.tmp $(LIBCO_DIR)/libcoiommu.o && mv $@.tmp $@

# QEMU 10.0 with the coIOMMU device (qemu/patches, Documentation/qemu.rst),
# built once from Debian's source into the cache; prints its directory.
qemu: libcoiommu
	@$(RIG)/qemu-coiommu.sh

# The tests and benchmarks that run that QEMU inside the test VM (qemu_*)
# get its bundle shared read-only (tools/rig/vm.sh): a shell snippet for
# the recipes that boot the VM, run before the VM starts. QEMU_BUNDLE
# names another bundle (one being worked on) instead of make qemu's.
QEMU_BUNDLE_SH = qb=$${QEMU_BUNDLE:-$$($(MAKE) -s --no-print-directory qemu | tail -n 1)}; \
	[ -x "$$qb/qemu-system-x86_64" ] || \
		{ echo "no QEMU bundle (make qemu failed)" >&2; exit 1; }; \
	export QEMU_BUNDLE=$$qb

initramfs: module tests tools $(BUILD)/vmm/guest.cpio
	$(RIG)/initramfs.sh $(BUILD)/initramfs.cpio

# `make check` (what CI runs) must work on a machine that has nothing
# installed yet: the variables above are evaluated again in the sub-makes,
# after deps. It runs every part, even after one failed, and fails if any
# did: check-61 (the lint gates: a checkpatch, sparse, W=1 or RST finding
# fails it; the DKMS packaging check, tools/dkms-test.sh: add, build,
# install, remove; the suite on Debian 12's 6.1), check-612 (lint and the
# suite on Debian 13's 6.12) and bench-smoke (every benchmark still runs;
# no timing is asserted).
check: deps
	@rc=0; res=; \
	for t in check-61 check-612 bench-smoke; do \
		if $(MAKE) --no-print-directory $$t; then res="$$res $$t:ok"; \
		else res="$$res $$t:FAILED"; rc=1; fi; \
	done; \
	echo "make check:$$res"; exit $$rc

check-61: deps
	@$(MAKE) --no-print-directory lint
	@tools/dkms-test.sh
	@$(MAKE) --no-print-directory initramfs
	@$(QEMU_BUNDLE_SH); $(RIG)/run-tests.sh

# The whole suite on a debug kernel (KASAN, lockdep, kmemleak, list and
# atomic-sleep debugging) built once from linux-source-6.1 and cached.
# Built apart (a copy of the module sources, its own initramfs and
# results in build/debug/) so that it never disturbs the normal build.
# KASAN makes the guests several times slower: the fuzzers run fewer
# iterations there (the aim is splats, not volume) with more time, and a
# nested guest of coiommu-vmm gets 280 s instead of its test's limit (a
# nested boot, 5 s on Debian's kernel, takes about 70 s under KASAN).
# A binary may take 3000 s, from the time when nested guests were retried
# (testing.rst: "Nested guests"); they now run once each.
DEBUG	:= $(BUILD)/debug

check-debug: deps
	@$(RIG)/deps.sh debug
	@$(MAKE) --no-print-directory tests tools $(BUILD)/vmm/guest.cpio
	@set -e; $(QEMU_BUNDLE_SH); kd=$$($(RIG)/debug-kernel.sh); kv=$${kd% *}; \
	rm -rf $(DEBUG)/src; mkdir -p $(DEBUG)/src; \
	cp -r Kbuild kernel uapi $(DEBUG)/src/; \
	$(MAKE) -C $${kd#* } M=$(DEBUG)/src W=1 modules >$(DEBUG)/module.log 2>&1 || \
		{ cat $(DEBUG)/module.log; exit 1; }; \
	KVER=$$kv MODULE_DIR=$(DEBUG)/src/kernel \
		$(RIG)/initramfs.sh $(DEBUG)/initramfs.cpio; \
	KVER=$$kv INITRAMFS=$(DEBUG)/initramfs.cpio RESULTS=$(DEBUG)/results \
		NESTED_KCACHE=$(CACHE)/kernel/$(KVER) TEST_TIMEOUT=3000 \
		VM_TIMEOUT=3300 \
		VM_APPEND="kmemleak=on FUZZ_ITERS=30000 CT_VMM_TIMEOUT=280 $(VM_APPEND)" \
		$(RIG)/run-tests.sh $(T)

# The whole suite on Debian 13's kernel (6.12), fetched with a private apt
# configuration into the cache by tools/rig/kernel-suite.sh (image, headers,
# kbuild programs rebuilt for this system). Built apart, like check-debug:
# module, initramfs and results in build/k612/. Its headers were
# configured for gcc-14, this system has gcc-12: K612_ARGS tell kbuild what
# gcc-12 lacks (-falign-functions instead of -fmin-function-alignment) and
# that there is no pahole to give the module BTF (the 6.1 build has none
# either); kernel/compat-cc.h, force-included for this leg only
# (KCFLAGS), does the same for the C side, so the shipped module's Kbuild
# carries no such header. The module must
# build W=1 and sparse clean there too. The host is 6.12 there, the nested
# guests of coiommu-vmm still boot Debian 12's kernel (NESTED_KCACHE), for
# which the guest modules are built.
K612	:= $(BUILD)/k612
K612_ARGS := CC=gcc CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT= \
	     CONFIG_DEBUG_INFO_BTF_MODULES= \
	     KCFLAGS="-include $(K612)/src/kernel/compat-cc.h"

# The lint gates on the 6.12 build: W=1 and sparse (C=2) findings fail.
lint-612: deps
	@$(RIG)/deps.sh suite
	@set -e; kd=$$($(RIG)/kernel-suite.sh trixie); \
	rm -rf $(K612)/src; mkdir -p $(K612)/src; \
	cp -r Kbuild kernel uapi $(K612)/src/; \
	$(MAKE) -C $${kd#* } M=$(K612)/src W=1 C=2 $(K612_ARGS) modules \
		>$(K612)/module.log 2>&1 || { cat $(K612)/module.log; exit 1; }; \
	! grep -E 'warning:|error:' $(K612)/module.log || \
		{ echo "6.12 module build: W=1 or sparse findings" >&2; exit 1; }
	@echo "lint-612: clean"

check-612: lint-612
	@$(MAKE) --no-print-directory tests tools $(BUILD)/vmm/guest.cpio
	@set -e; $(QEMU_BUNDLE_SH); kd=$$($(RIG)/kernel-suite.sh trixie); kv=$${kd% *}; \
	KVER=$$kv MODULE_DIR=$(K612)/src/kernel \
		$(RIG)/initramfs.sh $(K612)/initramfs.cpio; \
	KVER=$$kv INITRAMFS=$(K612)/initramfs.cpio RESULTS=$(K612)/results \
		NESTED_KCACHE=$(CACHE)/kernel/$(KVER) $(RIG)/run-tests.sh $(T)

vmtest: deps
	@$(MAKE) --no-print-directory initramfs
	@$(QEMU_BUNDLE_SH); $(RIG)/run-tests.sh $(T)

demo: deps
	@$(MAKE) --no-print-directory initramfs
	@$(QEMU_BUNDLE_SH); $(RIG)/vm.sh -t 600 demo

vmshell: deps
	@$(MAKE) --no-print-directory initramfs
	@$(RIG)/vm.sh -s shell

# Kernel style and static checks: checkpatch --strict (from linux-source),
# sparse (C=2: every file) and the W=1 build; any finding fails. The RST
# documentation must parse without a docutils warning.
LINT_SRC = $(filter-out %.mod.c kernel/compat.h,$(wildcard kernel/*.c kernel/*.h \
	   guest/*.c guest/*.h)) uapi/linux/coiommu.h
# kernel/compat.h is the one place keyed on LINUX_VERSION_CODE, which
# checkpatch flags on every test (and as a constant on the left).
LINT_COMPAT_IGNORE := LINUX_VERSION_CODE,CONSTANT_COMPARISON

lint: deps kernel-cache
	$(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse --show-types \
		--ignore FILE_PATH_CHANGES -f $(LINT_SRC)
	$(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse --show-types \
		--ignore FILE_PATH_CHANGES,$(LINT_COMPAT_IGNORE) -f kernel/compat.h
	@mkdir -p $(BUILD)
	@$(MAKE) $(KBUILD_ARGS) C=2 modules >$(BUILD)/sparse.log 2>&1; rc=$$?; \
		cat $(BUILD)/sparse.log; test $$rc -eq 0
	@$(MAKE) $(GUEST_KBUILD_ARGS) C=2 modules >>$(BUILD)/sparse.log 2>&1; rc=$$?; \
		test $$rc -eq 0 || { cat $(BUILD)/sparse.log; exit 1; }
	@! grep -E 'warning:|error:' $(BUILD)/sparse.log >/dev/null || \
		{ cat $(BUILD)/sparse.log; echo "sparse or W=1 findings" >&2; exit 1; }
	@$(MAKE) --no-print-directory -C tools/bench/kmod KDIR=$(KDIR) KSRC=$(KSRC) lint
	/usr/bin/python3 $(RIG)/rstcheck.py Documentation/*.rst
	@echo "lint: clean"

clean:
	-$(MAKE) $(KBUILD_ARGS) clean 2>/dev/null
	-$(MAKE) $(GUEST_KBUILD_ARGS) clean 2>/dev/null
	rm -rf $(BUILD)

# Benchmarks (Documentation/benchmarks.rst): tools/bench/bench_*.c and
# the modules of tools/bench/kmod, all run in one VM boot by
# tools/bench/run.sh; BENCH="bench_x ..." runs only some.
bench-build: module tests tools
	$(MAKE) -C tools/bench OUT=$(BUILD)/bench ST_OUT=$(BUILD)/selftests \
		KSRC=$(KSRC)
	@if [ -f tools/bench/kmod/Makefile ]; then \
		$(MAKE) -C tools/bench/kmod KDIR=$(KDIR) KSRC=$(KSRC); fi

bench: deps
	@$(MAKE) --no-print-directory bench-build initramfs
	@$(QEMU_BUNDLE_SH); tools/bench/run.sh $(BENCH)

bench-smoke: deps
	@$(MAKE) --no-print-directory bench-build initramfs
	@$(QEMU_BUNDLE_SH); tools/bench/run.sh -q $(BENCH)

.PHONY: all deps kernel-cache module guest-modules tests tools initramfs \
	libcoiommu qemu \
	check check-debug \
	check-61 lint-612 check-612 \
	vmtest demo vmshell lint clean bench-build bench bench-smoke
