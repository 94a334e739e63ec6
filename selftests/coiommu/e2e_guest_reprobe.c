// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_guest_reprobe: the guest driver never deactivates the device and
 * keeps its DTT for the VM's life, so that it is safe on the deployed
 * device (which ends the VM on DEACTIVATE and takes a root only once),
 * and a re-probe in the same VM is served with nothing stale walked.
 *
 * A Linux guest under coiommu-vmm (tools/vmm/guest-e2e e2e.reprobe) runs
 * edu_dmatest, idles while the host's unpinner (-u 100) releases its
 * pages, finds that coiommu_guest cannot be unbound through sysfs nor
 * unloaded, removes the coIOMMU PCI device and rescans the bus: the
 * driver probes it again, writes the root it kept (the same address),
 * activates, and edu_dmatest's second run, which must ask the host for
 * its pages again, passes. The module only ever activated that one root;
 * no request was refused, none timed out.
 *
 * The DTT is sized for MAX_PHYSMEM_BITS (46, or 52 with 5-level paging),
 * not for the guest's RAM at boot, so that RAM hot-plugged later is
 * covered (coiommu-vmm cannot hot-plug memory; this is the unit check):
 * the guest's dtt_pages covers 2^(MAX_PHYSMEM_BITS - 12) frames with the
 * fewest levels that do, and the host accepted that level.
 *
 * e2e_guest_busy_slot: the driver never rings over a busy notify slot (a
 * request that timed out, which the host may still serve from the same
 * batch buffer). Before the driver is loaded the guest leaves a request
 * in vCPU 0's slot and rings nobody; with request_timeout_ms at 1000 the
 * driver waits for the slot, gives up, and fails the mapping: edu_dmatest
 * fails cleanly, the driver counts slot_busy and sent no request, and
 * the host saw none (nothing pinned).
 */
#include "ct_fixture.h"
#include "ct_e2e.h"

TEST_F_TIMEOUT(e2e, e2e_guest_reprobe, CT_VMM_TEST_TIMEOUT)
{
	unsigned long long pages, la57, root[2], act, g1req;
	struct ct_e2e_stat st[512], *fin;
	struct ct_e2e_guest g1, g2;
	unsigned int level, bits, i;
	struct ct_vmm_run r;
	const char *p, *run2;
	char args[256], want[64];
	int n;

	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 120 -s 2 -u 100 -v -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d e2e.reprobe\" -d %s",
		 CT_E2E_PAGES, self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(r.out, want));

	/* The rule: no unbind, no unload; a PCI remove and rescan probe again. */
	EXPECT_NE(NULL, strstr(r.out, "e2e: reprobe: unbind attribute absent"));
	EXPECT_NE(NULL, strstr(r.out, "e2e: reprobe: rmmod refused"));
	EXPECT_NE(NULL, strstr(r.out, "e2e: reprobe: 0000:00:01.0 removed (gone)"));
	EXPECT_NE(NULL, strstr(r.out, "e2e: reprobe: coiommu_guest on 0000:00:01.0 again, probes 2"));
	snprintf(want, sizeof(want), "e2e: run 2: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(r.out, want));

	/* Both probes used one root, the one the module activated, once. */
	p = r.out;
	for (i = 0; i < 2; i++) {
		p = strstr(p, "coiommu_guest 0000:00:01.0: DTT at 0x");
		ASSERT_NE(NULL, p);
		p += strlen("coiommu_guest 0000:00:01.0: DTT at ");
		ASSERT_EQ(1, sscanf(p, "%llx", &root[i]));
	}
	EXPECT_EQ(root[0], root[1]);
	EXPECT_NE(NULL, strstr(p, " (kept): "));
	p = strstr(r.out, "coIOMMU command 1 (dtt_root 0x");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, sscanf(p + strlen("coIOMMU command 1 (dtt_root "), "%llx", &act));
	EXPECT_EQ(root[0], act);
	EXPECT_EQ(NULL, strstr(p + 1, "coIOMMU command 1 (dtt_root"));
	EXPECT_EQ(NULL, strstr(r.out, "coIOMMU command 0 ("));
	EXPECT_EQ(NULL, strstr(r.out, "refused:"));

	/* The second run asked the host again, and got every page. */
	run2 = strstr(r.out, "e2e: run 2:");
	ASSERT_NE(NULL, run2);
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, strstr(r.out, "e2e: reprobe: unbind"), &g1));
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, NULL, &g2));
	g1req = g1.requests;
	TH_LOG("guest requests: %llu before the reprobe, %llu after", g1req,
	       g2.requests);
	EXPECT_LT(g1req, g2.requests);
	EXPECT_EQ(0, g2.refused_pages);
	EXPECT_EQ(0, g2.timeouts);
	fin = ct_e2e_final(_metadata, r.out, st, 512, 1, &n);
	EXPECT_EQ(fin->requests, g2.requests);
	EXPECT_EQ(0, fin->refused);
	EXPECT_LT(0, fin->unpins);

	/* The DTT covers MAX_PHYSMEM_BITS with the fewest levels. */
	p = strstr(r.out, "e2e: coiommu_guest on 0000:00:01.0, DTT levels ");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(3, sscanf(p, "e2e: coiommu_guest on 0000:00:01.0, DTT levels %u, leaves %*u, pages %llu, la57 %llu",
			    &level, &pages, &la57));
	bits = la57 ? 52 : 46;
	TH_LOG("DTT: %u levels, %llu pages (MAX_PHYSMEM_BITS %u)", level, pages,
	       bits);
	EXPECT_EQ(1ULL << (bits - 12), pages);
	EXPECT_LE(1ULL << (bits - 12), 1ULL << (10 + 9 * (level - 1)));
	EXPECT_GT(1ULL << (bits - 12), 1ULL << (10 + 9 * (level - 2)));
	snprintf(want, sizeof(want), "dtt_level %u)", level);
	EXPECT_NE(NULL, strstr(r.out, want));
	ct_vmm_free(&r);
}

TEST_F_TIMEOUT(e2e, e2e_guest_busy_slot, CT_VMM_TEST_TIMEOUT)
{
	struct ct_e2e_stat st[512], *fin;
	struct ct_e2e_guest g;
	struct ct_vmm_run r;
	char args[256];
	int n;

	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 120 -s 0 -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=2 e2e.busyslot\" -d %s",
		 self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	EXPECT_NE(NULL, strstr(r.out, "e2e: busyslot: slot 0 0x0000000001000010"));
	EXPECT_NE(NULL, strstr(r.out, "e2e: busyslot: request_timeout_ms 1000"));
	/* The first mapping fails: nothing transferred. */
	EXPECT_NE(NULL, strstr(r.out, "e2e: run 1: fail "));
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, NULL, &g));
	EXPECT_EQ(0, g.requests);
	EXPECT_EQ(0, g.timeouts);
	EXPECT_NE(NULL, strstr(r.out, " slot_busy 1 "));
	fin = ct_e2e_final(_metadata, r.out, st, 512, 1, &n);
	EXPECT_EQ(0, fin->requests);
	EXPECT_EQ(0, fin->peak);
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
