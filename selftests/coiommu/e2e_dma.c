// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_dma: a real Linux guest's DMA, pinned on demand. coiommu-vmm boots
 * a Linux guest with edu passed through; the guest loads the coIOMMU guest
 * driver and edu_dmatest, which moves data through edu with
 * dma_map_single() (16 pages mapped at once), dma_map_sgtable() (2
 * entries) and dma_alloc_coherent() (2 pages) and verifies every byte
 * that comes back. The host's stats show that the pinned pages follow the
 * guest's DMA working set (20 pages), a tiny fraction of its 65536 pages
 * of RAM. Control and deferral: a guest that loads edu_dmatest before the
 * coIOMMU driver gets its data wrong (nothing pinned, nothing mapped in
 * the IOMMU: DMAR faults); loading the coIOMMU driver then unbinds
 * edu_dmatest and probes it again, and that run passes. After each run no
 * pin is left and coiommu_host unloads.
 */
#include "ct_fixture.h"
#include "ct_e2e.h"

#define RAM_PAGES	(256 * 256)

TEST_F_TIMEOUT(e2e, e2e_dma, CT_VMM_TEST_TIMEOUT)
{
	struct ct_e2e_stat st[512], *fin;
	struct ct_e2e_guest g;
	struct ct_vmm_run r;
	char args[256], want[64];
	int n;

	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 80 -s 2 -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d\" -d %s",
		 CT_E2E_PAGES, self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	/* Every byte of every transfer came back right. */
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(r.out, want));
	/* The guest asked, the host pinned everything it asked for. */
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, NULL, &g));
	EXPECT_LE(1, g.requests);
	EXPECT_EQ(0, g.refused_pages);
	EXPECT_EQ(0, g.timeouts);

	fin = ct_e2e_final(_metadata, r.out, st, 512, 1, &n);
	TH_LOG("host: %llu requests, %llu refused, peak %llu pages pinned (working set %d, RAM %d pages), %llu pinned at exit",
	       fin->requests, fin->refused, fin->peak, CT_E2E_WORKING_SET,
	       RAM_PAGES, fin->pages);
	EXPECT_EQ(fin->requests, g.requests);
	EXPECT_EQ(0, fin->refused);
	/*
	 * Pinned memory follows the working set: at least the 16 pages
	 * mapped at once, at most the pages the test ever mapped (20) plus
	 * a little slack, far below RAM.
	 */
	EXPECT_LE(CT_E2E_PAGES, fin->peak);
	EXPECT_GE(CT_E2E_WORKING_SET + 4, fin->peak);
	EXPECT_GT(RAM_PAGES / 100, fin->peak);
	ct_vmm_free(&r);
}

TEST_F_TIMEOUT(e2e, e2e_dma_guest_driver_late, CT_VMM_TEST_TIMEOUT)
{
	struct ct_e2e_stat st[512], *fin;
	struct ct_vmm_run r;
	struct ct_kmsg k;
	char args[256];
	int n;

	ASSERT_EQ(0, ct_kmsg_open(&k));
	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 80 -s 0 -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=2 e2e.late\" -d %s",
		 self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	/*
	 * Without the coIOMMU driver edu's reads of guest RAM fault: zeros
	 * come back, not the data, and the test VM logs DMAR faults.
	 */
	EXPECT_NE(NULL, strstr(r.out, "e2e: run 1: fail -84 single transfer"));
	EXPECT_TRUE(ct_kmsg_wait(&k, 5000, "DMAR: [DMA", NULL));
	/* The coIOMMU driver probes edu_dmatest again: now its DMA works. */
	EXPECT_NE(NULL, strstr(r.out, "coiommu: driver bound before coIOMMU, probing it again"));
	EXPECT_NE(NULL, strstr(r.out, "e2e: run 1 again: pass 5 "));
	fin = ct_e2e_final(_metadata, r.out, st, 512, 1, &n);
	EXPECT_LE(1, fin->requests);
	EXPECT_EQ(0, fin->refused);
	/* 2 single pages, 2 of sg, 2 coherent. */
	EXPECT_LE(2, fin->peak);
	EXPECT_GE(6 + 4, fin->peak);
	ct_kmsg_close(&k);
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
