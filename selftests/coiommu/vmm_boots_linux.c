// SPDX-License-Identifier: GPL-2.0
/*
 * vmm_boots_linux: coiommu-vmm boots Linux (the test VM's own kernel,
 * through its PVH entry) in a nested KVM guest with a busybox initramfs and
 * a serial console. The guest prints its marker on the console and leaves
 * through the VMM's exit port with status 0, which becomes the VMM's exit
 * status. Afterwards nothing is pinned and coiommu_host unloads.
 */
#include "ct_fixture.h"
#include "ct_vmm.h"

CT_ENV_FIXTURE(vmm);

TEST_F_TIMEOUT(vmm, vmm_boots_linux, CT_VMM_TEST_TIMEOUT)
{
	struct ct_vmm_run r;

	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));
	ASSERT_EQ(0, ct_vmm_run(&r, "-m 256 -c 1 -t 75 -a quiet"));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: hello from Linux "));
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: powering off with status 0"));
	EXPECT_NE(NULL, strstr(r.out, "coiommu-vmm: exit status 0 after"));
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
