// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_refusal: the host refuses, the guest fails cleanly. The VMM runs
 * without CAP_IPC_LOCK and with RLIMIT_MEMLOCK at 8 pages, so the host can
 * lock 8 pages and no more: one is the notify slots' page (the module pins
 * and charges it at COIOMMU_SET_NOTIFY), so 7 are left for guest memory.
 * The guest's edu_dmatest maps 16 pages: the first dma_map_single() past
 * the limit returns an error to the driver, which unmaps what it mapped
 * and reports; the guest does not hang and powers off normally. The host counted the refusal, never pinned past the
 * limit, and after the VMM exits no pin is left and coiommu_host unloads.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/capability.h>

#include "ct_fixture.h"
#include "ct_e2e.h"

#define LIMIT_PAGES	8

TEST_F_TIMEOUT(e2e, e2e_refusal, CT_VMM_TEST_TIMEOUT)
{
	struct rlimit rl = {
		.rlim_cur = LIMIT_PAGES * 4096,
		.rlim_max = LIMIT_PAGES * 4096,
	};
	struct ct_e2e_stat st[512], *fin;
	struct ct_e2e_guest g;
	struct ct_vmm_run r;
	char args[256];
	int n, i, failed = -1;
	const char *p;

	/*
	 * This test process only (the harness forks one per test): without
	 * CAP_IPC_LOCK in the bounding set, the VMM does not get it back
	 * when it is executed as root.
	 */
	ASSERT_EQ(0, prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0));
	ASSERT_EQ(0, ct_cap_drop(CAP_IPC_LOCK));
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));

	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 80 -s 2 -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d\" -d %s",
		 CT_E2E_PAGES, self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	/* No hang: the guest powered off by itself, with its status. */
	EXPECT_EQ(0, r.status);
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: powering off with status 0"));
	/* The driver got the error from dma_map_single(): buffer @failed. */
	p = strstr(r.out, "edu-dmatest: dma_map_single of buffer ");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(1, sscanf(p, "edu-dmatest: dma_map_single of buffer %d failed: -12",
			    &failed));
	EXPECT_NE(NULL, strstr(r.out, "e2e: run 1: fail -12 dma_map_single "));
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, NULL, &g));
	EXPECT_EQ(1, g.refused_pages);
	EXPECT_EQ(0, g.timeouts);

	fin = ct_e2e_final(_metadata, r.out, st, 512, 1, &n);
	TH_LOG("host: %llu requests, %llu refused, peak %llu pages (limit %d)",
	       fin->requests, fin->refused, fin->peak, LIMIT_PAGES);
	EXPECT_EQ(1, fin->refused);
	EXPECT_EQ(g.requests, fin->requests);
	/* Never past the limit; every page below it went to the guest. */
	for (i = 0; i < n; i++)
		EXPECT_GE(LIMIT_PAGES, st[i].peak);
	EXPECT_LE(LIMIT_PAGES - 2, fin->peak);
	EXPECT_EQ(failed, fin->peak);
	EXPECT_EQ(failed + 1, fin->requests);
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
