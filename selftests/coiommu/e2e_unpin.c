// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_unpin: lazy unpinning of a real Linux guest's memory. The guest
 * (coIOMMU guest driver + edu_dmatest, see e2e_dma) moves data through
 * edu, unmaps everything and stays idle; the VMM runs the host's unpinner
 * every 1000 ms (coiommu-vmm -u 1000). Every page pinned when the guest
 * went idle is unpinned by the unpinner within two of its passes (the
 * first clears ACCESSED, the second releases the page: coiommu_scan and
 * coiommu_unpin), and the host's live view shows (nearly) nothing pinned
 * while the guest is idle. The guest's shrinker then frees the DTT leaves
 * the host emptied, and a second run maps again: the pages are pinned
 * again on demand and every byte still comes back right. No pin is left
 * after the VMM exits.
 *
 * Passes are counted, not seconds: the test writes a trace marker when
 * the guest's "e2e: run 1: " line arrives. Run 1 ran in edu_dmatest's
 * probe, before that line is printed, and with only e2e.idle given the
 * guest maps nothing more until run 2 (it prints its stats and dmesg,
 * then "e2e: idle from"), so the marker comes after its last map. The
 * passes counted from there are the ones after the last map, or fewer
 * when the marker comes late, so a late marker cannot fail a correct
 * unpinner, and one that needs a third pass still fails unless a pass
 * fell between the last map and the marker (the earlier the marker, the
 * rarer that: hence run 1's line, not the idle line).
 * unpin_old_every is 1 (every page in every pass): with generations, how
 * many passes run 1's pages are found busy, and so whether they move to
 * the old generation (looked at every 10th sweep), would depend on how
 * fast the test VM runs (generations are tested apart: generations,
 * lazy_unpin_busy).
 */
#include "ct_fixture.h"
#include "ct_e2e.h"

#define PERIOD_MS	1000
#define STATS_S		0.5
#define IDLE_S		6
#define NEAR_ZERO	2	/* pages */
#define IDLE_MARK	"e2e_unpin: guest idle"
#define MAX_PASSES	2

/* Mark the trace when run 1 has ended; *@arg: 1 done, -1 failed. */
static void mark_idle(const char *line, void *arg)
{
	int *marked = arg;

	if (!*marked && strstr(line, "e2e: run 1: "))
		*marked = ct_trace_mark(IDLE_MARK) ? -1 : 1;
}

TEST_F_TIMEOUT(e2e, e2e_unpin, CT_VMM_TEST_TIMEOUT)
{
	struct ct_e2e_stat st[1024], *before = NULL, *low = NULL, *fin;
	struct ct_e2e_guest g1, g2, g3;
	const char *idle, *idle_end, *run2;
	struct ct_trace_idle ti;
	struct ct_vmm_run r;
	char args[256], want[64];
	int n, i, marked = 0;

	ASSERT_EQ(0, ct_write_file("/sys/module/coiommu_host/parameters/unpin_old_every",
				   "1"));
	ASSERT_EQ(0, ct_trace_start());
	ASSERT_EQ(0, ct_trace_enable("coiommu_pin"));
	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 90 -s %.1f -u %d -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d e2e.idle=%d\" -d %s",
		 STATS_S, PERIOD_MS, CT_E2E_PAGES, IDLE_S, self->bdf);
	ASSERT_EQ(0, ct_vmm_run_lines(&r, args, mark_idle, &marked));
	ct_trace_stop();
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

	/* The unpinner's passes after the guest went idle. */
	ASSERT_EQ(1, marked);
	/*
	 * Not asserted: that pages were pinned at the marker. Run 1's are,
	 * unless the test VM stalled for two passes before the marker; the
	 * checks then hold trivially.
	 */
	ct_e2e_idle_passes(_metadata, IDLE_MARK, MAX_PASSES, &ti);
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
