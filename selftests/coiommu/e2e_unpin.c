// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_unpin: lazy unpinning of a real Linux guest's memory. The guest
 * (coIOMMU guest driver + edu_dmatest, see e2e_dma) moves data through
 * edu, unmaps everything and stays idle; the VMM runs the host's unpinner
 * every 1000 ms (coiommu-vmm -u 1000). Within two unpin periods of the
 * idle start the host's live view shows (nearly) nothing pinned. The
 * guest's shrinker then frees the DTT leaves the host emptied, and a
 * second run maps again: the pages are pinned again on demand and every
 * byte still comes back right. No pin is left after the VMM exits.
 */
#include "ct_fixture.h"
#include "ct_e2e.h"

#define PERIOD_MS	1000
#define STATS_S		0.5
#define IDLE_S		6
#define NEAR_ZERO	2	/* pages */

TEST_F_TIMEOUT(e2e, e2e_unpin, CT_VMM_TEST_TIMEOUT)
{
	struct ct_e2e_stat st[1024], *before = NULL, *low = NULL, *fin;
	struct ct_e2e_guest g1, g2, g3;
	const char *idle, *idle_end, *run2;
	struct ct_vmm_run r;
	char args[256], want[64];
	int n, i;

	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 90 -s %.1f -u %d -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d e2e.idle=%d\" -d %s",
		 STATS_S, PERIOD_MS, CT_E2E_PAGES, IDLE_S, self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(r.out, want));
	idle = strstr(r.out, "e2e: idle from");
	idle_end = strstr(r.out, "e2e: idle end");
	run2 = strstr(r.out, "e2e: run 2:");
	ASSERT_NE(NULL, idle);
	ASSERT_NE(NULL, idle_end);
	ASSERT_NE(NULL, run2);

	fin = ct_e2e_final(_metadata, r.out, st, 1024, 2, &n);
	for (i = 0; i < n; i++) {
		if (st[i].at < idle)
			before = &st[i];
		else if (st[i].at < idle_end && !low &&
			 st[i].pages <= NEAR_ZERO)
			low = &st[i];
	}
	ASSERT_NE(NULL, before);
	TH_LOG("last live view before idle: %.1f s, %llu pages pinned",
	       before->t, before->pages);
	EXPECT_LE(CT_E2E_PAGES, before->peak);
	ASSERT_NE(NULL, low) {
		TH_LOG("pinned pages never dropped to %d while the guest was idle",
		       NEAR_ZERO);
	}
	TH_LOG("idle guest: %llu pages pinned at %.1f s, %.1f s after the last view before idle",
	       low->pages, low->t, low->t - before->t);
	/*
	 * The idle start lies after @before; the first view showing the
	 * drop lies at most one live view period after it happened.
	 */
	EXPECT_GE(2 * PERIOD_MS / 1000.0 + STATS_S + 0.05, low->t - before->t);
	/* Those pages were unpinned (not the guest's count going down). */
	EXPECT_LE(before->unpins + before->pages - low->pages, low->unpins);

	/* The guest freed the DTT leaves the host emptied (its shrinker). */
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, idle, &g1));
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, run2, &g2));
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, NULL, &g3));
	EXPECT_LE(1, g2.freed);
	EXPECT_EQ(0, g2.leaves);

	/* Mapping again pins again, and DMA works. */
	snprintf(want, sizeof(want), "e2e: run 2: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(r.out, want));
	EXPECT_LT(g1.requests, g3.requests);
	EXPECT_EQ(0, g3.refused_pages);
	EXPECT_EQ(0, g3.timeouts);
	EXPECT_EQ(fin->requests, g3.requests);
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
