// SPDX-License-Identifier: GPL-2.0
/*
 * abi_config_space: coiommu-vmm's coIOMMU device as a guest without a
 * driver reads it (tools/vmm/guest-abi abi.config: sysfs and busybox
 * devmem in a nested Linux guest), against the deployed device:
 *
 *  - class 0xffff00 (class "other", subclass "other"), 1234:abcd rev 0x10;
 *  - BARs 0, 2 and 4 are 64-bit prefetchable memory (config bits 0xc,
 *    Linux's resource flags IORESOURCE_MEM | _PREFETCH | _MEM_64);
 *  - dtt_root and dtt_level are write-once: a second write is ignored;
 *  - registers take 8-byte accesses only: a 4-byte read reads 0, a
 *    4-byte write is ignored;
 *  - cmd reads 0, after PARK, UNPARK and ACTIVATE alike;
 *  - ACTIVATE forwards the root written first; writing the root while
 *    active changes nothing;
 *  - DEACTIVATE (the deployed device ends the VM there) re-arms both
 *    registers (they read 0), and ACTIVATE is then refused until the
 *    guest wrote a new root and level, which ACTIVATE then forwards: the
 *    old root is never activated again.
 */
#include "ct_fixture.h"
#include "ct_vmm.h"

CT_VMM_FIXTURE(vmm);

static int count(const char *out, const char *s)
{
	int n = 0;

	while ((out = strstr(out, s))) {
		n++;
		out++;
	}
	return n;
}

TEST_F_TIMEOUT(vmm, abi_config_space, CT_VMM_TEST_TIMEOUT)
{
	static const char *const want[] = {
		"abi: class 0xffff00 vendor 0x1234 device 0xabcd revision 0x10",
		"abi: initial: root 0x0000000000000000 cmd 0x0000000000000000 level 0x0000000000000000",
		"abi: written twice: root 0x0000000000200000 level 0x0000000000000004",
		"abi: 4-byte read of dtt_root: 0x00000000",
		"abi: after PARK: cmd 0x0000000000000000",
		"abi: after UNPARK: cmd 0x0000000000000000",
		"abi: after ACTIVATE: cmd 0x0000000000000000",
		"abi: active, root written: root 0x0000000000200000 level 0x0000000000000004",
		"abi: after DEACTIVATE: root 0x0000000000000000 level 0x0000000000000000",
		"abi: 4-byte write of dtt_root: root 0x0000000000000000",
		"abi: new root: root 0x0000000000400000 level 0x0000000000000004 cmd 0x0000000000000000",
		"vmm-guest: powering off with status 0",
	};
	unsigned int bar[6], i;
	struct ct_vmm_run r;
	char args[256];
	const char *p;

	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 90 -s 0 -v -a \"quiet vmm.run=/bin/guest-abi abi.config\" -d %s",
		 self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *w = want[i];

		if (!strstr(r.out, w))
			TH_LOG("missing: %s", w);
		EXPECT_NE(NULL, strstr(r.out, w));
	}

	/* BARs 0, 2, 4: 64-bit (type 10b) prefetchable memory. */
	p = strstr(r.out, "abi: config bars ");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(6, sscanf(p + 17, "%x %x %x %x %x %x", &bar[0], &bar[1],
			    &bar[2], &bar[3], &bar[4], &bar[5]));
	for (i = 0; i < 6; i += 2) {
		unsigned int b = bar[i];

		if ((b & 0xf) != 0xc)
			TH_LOG("BAR%u reads %#x", i, b);
		EXPECT_EQ(0xc, b & 0xf);
	}
	for (i = 0; i < 6; i += 2) {
		unsigned long long flags;
		char key[32];

		snprintf(key, sizeof(key), "abi: resource %u flags ", i);
		p = strstr(r.out, key);
		ASSERT_NE(NULL, p);
		ASSERT_EQ(1, sscanf(p + strlen(key), "%llx", &flags));
		/* IORESOURCE_MEM, IORESOURCE_PREFETCH, IORESOURCE_MEM_64 */
		EXPECT_EQ(0x102200, flags & 0x102200) {
			TH_LOG("BAR%u resource flags %#llx", i, flags);
		}
	}

	/*
	 * The module saw ACTIVATE with the first root, once, then nothing
	 * until a new root and level were written.
	 */
	EXPECT_EQ(1, count(r.out, "coIOMMU command 1 (dtt_root 0x200000, dtt_level 4)"));
	EXPECT_EQ(1, count(r.out, "guest command 1 (dtt_root 0x0, dtt_level 0) refused"));
	EXPECT_EQ(1, count(r.out, "coIOMMU command 1 (dtt_root 0x400000, dtt_level 4)"));
	EXPECT_EQ(0, count(r.out, "dtt_root 0x300000"));
	EXPECT_NE(NULL, strstr(r.out, "final: guest RAM 256 MiB, pinned 0.00 MiB (0.00%), peak 0.00 MiB, requests 0 (refused 0)"));
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
