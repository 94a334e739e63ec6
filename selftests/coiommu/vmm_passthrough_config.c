// SPDX-License-Identifier: GPL-2.0
/*
 * vmm_passthrough_config: coiommu-vmm passes an edu device (bound to
 * vfio-pci) through to its nested Linux guest, next to the coIOMMU device.
 * The guest enumerates both on the conf1 PCI bus (edu 1234:11e8 at
 * 00:02.0, coIOMMU 1234:abcd class 0xffff00 at 00:01.0) and reads edu's
 * ident register, 0x010000ed, through the passthrough BAR (a KVM memory
 * slot on the VFIO mmap). The VMM attached guest RAM and the device to
 * /dev/coiommu; no guest driver did DMA, so nothing got pinned. After the
 * VMM exits no pin is left and coiommu_host unloads.
 */
#include "ct_fixture.h"
#include "ct_vmm.h"

CT_ENV_FIXTURE(vmm);

TEST_F_TIMEOUT(vmm, vmm_passthrough_config, CT_VMM_TEST_TIMEOUT)
{
	char bdf[4][32], args[128];
	struct ct_vmm_run r;

	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));
	ASSERT_LE(1, ct_edu_list(bdf, 4));
	ASSERT_EQ(0, ct_edu_bind_vfio(bdf[0]));
	snprintf(args, sizeof(args), "-m 256 -c 1 -t 75 -a quiet -d %s", bdf[0]);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: pci 0000:00:01.0 0x1234:0xabcd class 0xffff00"));
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: pci 0000:00:02.0 0x1234:0x11e8 class 0x00ff00"));
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: edu 0000:00:02.0 ident 0x010000ED"));
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: powering off with status 0"));
	/* The live view's last line: attached, nothing pinned. */
	EXPECT_NE(NULL, strstr(r.out, "final: guest RAM 256 MiB, pinned 0.00 MiB"));
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
