# SPDX-License-Identifier: GPL-2.0
#
# coIOMMU: host module, guest driver, tests.
#
#   make            build the module and the tests
#   make check      install what is missing, build, run every test in the VM
#   make demo       boot the VM and show the module at work
#   make vmtest T="name ..."   rebuild and rerun some tests in the VM
#   make vmshell    interactive VM shell, repository read-only at /mnt
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

KBUILD_ARGS := -C $(KDIR) M=$(CURDIR) W=1
# The guest modules (guest/) are a kbuild of their own, for the nested
# guest: it boots the same kernel, so they build against the same KDIR.
GUEST_KBUILD_ARGS := -C $(KDIR) M=$(CURDIR)/guest W=1

all: module tests tools

deps:
	@$(RIG)/deps.sh

kernel-cache:
	@$(RIG)/kernel.sh

# The module must build without a single warning (W=1).
module:
	@test -d "$(KDIR)" || { echo "no kernel tree $(KDIR): make deps" >&2; exit 1; }
	@mkdir -p $(BUILD)
	@$(MAKE) $(KBUILD_ARGS) modules >$(BUILD)/module.log 2>&1; rc=$$?; \
		cat $(BUILD)/module.log; test $$rc -eq 0
	@! grep -E 'warning:|error:' $(BUILD)/module.log >/dev/null || \
		{ echo "module build has warnings" >&2; exit 1; }
	@$(MAKE) --no-print-directory guest-modules

guest-modules:
	@mkdir -p $(BUILD)
	@$(MAKE) $(GUEST_KBUILD_ARGS) modules >$(BUILD)/guest-module.log 2>&1; rc=$$?; \
		cat $(BUILD)/guest-module.log; test $$rc -eq 0
	@! grep -E 'warning:|error:' $(BUILD)/guest-module.log >/dev/null || \
		{ echo "guest module build has warnings" >&2; exit 1; }

tests: kernel-cache
	$(MAKE) -C selftests/coiommu OUT=$(BUILD)/selftests KSRC=$(KSRC)

TOOLS_CFLAGS := -O2 -g -Wall -Wextra -static -I$(CURDIR)/uapi \
		-I$(CURDIR)/tools/lib
LIBCOIOMMU   := tools/lib/libcoiommu.c tools/lib/libcoiommu.h

VMM_SRC      := $(wildcard tools/vmm/*.c) tools/vmm/vmm.h

tools: $(BUILD)/tools/coiommuctl $(BUILD)/tools/coiommu-sample \
	$(BUILD)/tools/coiommu-vmm $(BUILD)/vmm/guest.cpio

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
# guest modules and tools/vmm/guest-e2e in /bin.
$(BUILD)/vmm/guest.cpio: tools/vmm/mkguest.sh tools/vmm/guest-init \
		tools/vmm/guest-e2e guest-modules
	tools/vmm/mkguest.sh $@ tools/vmm/guest-e2e guest/coiommu_guest.ko \
		guest/edu_dmatest.ko

initramfs: module tests tools
	$(RIG)/initramfs.sh $(BUILD)/initramfs.cpio

# `make check` must work on a machine that has nothing installed yet: the
# variables above are evaluated again in the sub-make, after deps. It runs
# the lint gates first: a checkpatch, sparse or W=1 finding fails it; then
# the DKMS packaging check (tools/dkms-test.sh: add, build, install, remove).
check: deps
	@$(MAKE) --no-print-directory lint
	@tools/dkms-test.sh
	@$(MAKE) --no-print-directory initramfs
	@$(RIG)/run-tests.sh

# The whole suite on a debug kernel (KASAN, lockdep, kmemleak, list and
# atomic-sleep debugging) built once from linux-source-6.1 and cached.
# Built apart (a copy of the module sources, its own initramfs and
# results in build/debug/) so that it never disturbs the normal build.
# KASAN makes the guests several times slower: the fuzzers run fewer
# iterations there (the aim is splats, not volume) with more time.
DEBUG	:= $(BUILD)/debug

check-debug: deps
	@$(RIG)/deps.sh debug
	@$(MAKE) --no-print-directory tests tools
	@set -e; kd=$$($(RIG)/debug-kernel.sh); kv=$${kd% *}; \
	rm -rf $(DEBUG)/src; mkdir -p $(DEBUG)/src; \
	cp -r Kbuild kernel uapi $(DEBUG)/src/; \
	$(MAKE) -C $${kd#* } M=$(DEBUG)/src W=1 modules >$(DEBUG)/module.log 2>&1 || \
		{ cat $(DEBUG)/module.log; exit 1; }; \
	KVER=$$kv MODULE_DIR=$(DEBUG)/src/kernel \
		$(RIG)/initramfs.sh $(DEBUG)/initramfs.cpio; \
	KVER=$$kv INITRAMFS=$(DEBUG)/initramfs.cpio RESULTS=$(DEBUG)/results \
		NESTED_KCACHE=$(CACHE)/kernel/$(KVER) TEST_TIMEOUT=900 \
		VM_APPEND="kmemleak=on FUZZ_ITERS=30000 $(VM_APPEND)" \
		$(RIG)/run-tests.sh $(T)

vmtest: deps
	@$(MAKE) --no-print-directory initramfs
	@$(RIG)/run-tests.sh $(T)

demo: deps
	@$(MAKE) --no-print-directory initramfs
	@$(RIG)/vm.sh -t 600 demo

vmshell: deps
	@$(MAKE) --no-print-directory initramfs
	@$(RIG)/vm.sh -s shell

# Kernel style and static checks: checkpatch --strict (from linux-source),
# sparse (C=2: every file) and the W=1 build; any finding fails.
LINT_SRC = $(filter-out %.mod.c,$(wildcard kernel/*.c kernel/*.h \
	   guest/*.c guest/*.h)) uapi/linux/coiommu.h

lint: deps kernel-cache
	$(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse --show-types \
		--ignore FILE_PATH_CHANGES -f $(LINT_SRC)
	@mkdir -p $(BUILD)
	@$(MAKE) $(KBUILD_ARGS) C=2 modules >$(BUILD)/sparse.log 2>&1; rc=$$?; \
		cat $(BUILD)/sparse.log; test $$rc -eq 0
	@$(MAKE) $(GUEST_KBUILD_ARGS) C=2 modules >>$(BUILD)/sparse.log 2>&1; rc=$$?; \
		test $$rc -eq 0 || { cat $(BUILD)/sparse.log; exit 1; }
	@! grep -E 'warning:|error:' $(BUILD)/sparse.log >/dev/null || \
		{ cat $(BUILD)/sparse.log; echo "sparse or W=1 findings" >&2; exit 1; }
	@echo "lint: clean"

clean:
	-$(MAKE) $(KBUILD_ARGS) clean 2>/dev/null
	-$(MAKE) $(GUEST_KBUILD_ARGS) clean 2>/dev/null
	rm -rf $(BUILD)

.PHONY: all deps kernel-cache module guest-modules tests tools initramfs check check-debug \
	vmtest demo vmshell lint clean
