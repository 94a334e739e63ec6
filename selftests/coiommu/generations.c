// SPDX-License-Identifier: GPL-2.0
/*
 * generations: pages busy for old_every passes move to the old
 * generation, which the unpinner looks at only every old_every-th sweep.
 *
 * old_every is 3 and every pass is one whole sweep. The guest keeps NO
 * pages mapped: they are busy in sweeps 0, 1 and 2 and old after the
 * third pass (stats old_pages; debugfs sweeps == scans). From then on a
 * pass looks at them only when its sweep number is a multiple of 3: the
 * coiommu_scan tracepoint shows scanned == NO on those passes and 0 on
 * the others, and scanned_pages grows by NO per three passes instead of
 * NO per pass. Their DMA still lands.
 *
 * Then, parked just before a sweep s with s % 3 == 1, the guest unmaps
 * the old pages (their entries are exactly PINNED: idle) and maps and
 * unmaps NN new pages (PINNED | ACCESSED). Unparked:
 *  - sweep s (not the old generation's turn): looks at the new pages
 *    only, clears their ACCESSED;
 *  - sweep s + 1: releases the new pages; the idle old pages stay;
 *  - sweep s + 2 (a multiple of 3): releases the old pages.
 * The tracepoints say which pass released which page; the passes stop
 * counting once nothing is pinned, so scans ends at exactly s + 3.
 *
 * budget_equal_to_pinned and long_sweep (a pass over more of the index
 * than one step walks) are described where they are.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"
#include "ct_trace.h"
#include "ct_unpin.h"

#define PERIOD_MS	250
#define OLD_EVERY	3
#define TIMEOUT_MS	(20 * PERIOD_MS)
#define D(i)		(CTG_DATA_GFN + (i))
#define O0		D(0)
#define NO		8
#define N0		D(16)
#define NN		2
#define RUN_PASSES	10	/* before the old pages go idle */
#define PINNED		CTG_DTT_PINNED
#define ACCESSED	CTG_DTT_ACCESSED

CTG_FIXTURE(gen, .nr_vcpus = 1);	/* parked */

/* Pages the pass of sweep @sweep looks at while all NO pages are busy. */
static unsigned long busy_scanned(uint64_t sweep)
{
	return sweep < OLD_EVERY || !(sweep % OLD_EVERY) ? NO : 0;
}

TEST_F_TIMEOUT(gen, generations, 180)
{
	struct ctg *t = &self->t;
	const struct ct_trace_ev *ev, *un;
	struct ct_trace_ev *evs;
	struct coiommu_stats st;
	struct ctg_map_res res;
	unsigned long want_scanned = 0;
	long inst = ctg_instance(t);
	uint64_t s, seen = 0, i;
	size_t n, from;
	bool dma = false;
	long deadline;

	ASSERT_LT(0, inst);
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x6e6e);
	ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, OLD_EVERY, 0));
	ASSERT_EQ(0, ct_trace_start()) {
		TH_LOG("no coiommu tracepoints in tracefs");
	}
	ASSERT_EQ(0, ctg_map(t, 0, O0, NO, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(O0), 5));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	ASSERT_EQ(0, st.scans);
	ASSERT_EQ(0, ctg_debugfs(t, "sweeps"));

	/* Busy pages age; after OLD_EVERY passes they are old. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	while (seen < RUN_PASSES) {
		ASSERT_TRUE(ctg_wait_scans(t, seen + 1, TIMEOUT_MS, &st));
		seen = st.scans;
		/* One snapshot: passes and generation agree. */
		EXPECT_EQ(seen >= OLD_EVERY ? NO : 0, st.old_pages) {
			TH_LOG("old_pages %llu after %llu passes",
			       (unsigned long long)st.old_pages,
			       (unsigned long long)seen);
		}
		EXPECT_EQ(NO, st.pinned_pages);
		EXPECT_EQ(0, st.unpins);
		if (seen > OLD_EVERY && !dma) {
			/* Old, and still reachable. */
			CTU_DMA_LANDS(t, CTG_GPA(O0 + 3), 5);
			dma = true;
		}
	}

	/* Park where the next sweep s has s % 3 == 1. */
	deadline = ct_now_ms() + 30 * PERIOD_MS;
	for (;;) {
		ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
		s = st.scans;
		if (s % OLD_EVERY == 1) {
			ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK,
						     0, 0));
			ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
			if (st.scans == s)
				break;
			ASSERT_EQ(0, coiommu_command(t->co,
						     COIOMMU_CMD_UNPARK, 0, 0));
		}
		ASSERT_GT(deadline, ct_now_ms()) {
			TH_LOG("could not park before a sweep s with s %% %d == 1",
			       OLD_EVERY);
		}
		ASSERT_TRUE(ctg_wait_scans(t, st.scans + 1, TIMEOUT_MS, &st));
	}
	/* Each pass was one whole sweep. */
	EXPECT_EQ(s, ctg_debugfs(t, "sweeps"));
	for (i = 0; i < s; i++)
		want_scanned += busy_scanned(i);
	EXPECT_EQ(want_scanned, st.scanned_pages) {
		TH_LOG("after %llu passes", (unsigned long long)s);
	}
	EXPECT_EQ(NO, st.old_pages);
	EXPECT_EQ(NO, st.pinned_pages);
	for (i = 0; i < NO; i++)
		EXPECT_EQ(PINNED | 1, ctg_entry(t, O0 + i));

	/* The old pages go idle; new pages come and go. */
	ASSERT_EQ(0, ct_trace_mark("idle"));
	ASSERT_EQ(0, ctg_unmap(t, 0, O0, NO));
	ASSERT_EQ(0, ctg_map(t, 0, N0, NN, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_unmap(t, 0, N0, NN));
	for (i = 0; i < NO; i++)
		EXPECT_EQ(PINNED, ctg_entry(t, O0 + i));
	for (i = 0; i < NN; i++)
		EXPECT_EQ(PINNED | ACCESSED, ctg_entry(t, N0 + i));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_pinned(t, 0, 3 * OLD_EVERY * TIMEOUT_MS, &st));
	EXPECT_EQ(s + 3, st.scans) {
		TH_LOG("all released after %llu passes, want 3",
		       (unsigned long long)(st.scans - s));
	}
	EXPECT_EQ(NO + NN, st.unpins_lazy);
	EXPECT_EQ(0, st.old_pages);
	EXPECT_EQ(want_scanned + NN + NN + NO, st.scanned_pages);
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(O0 + 5));
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(N0 + 1));

	/* Pass by pass, from the trace. */
	ASSERT_EQ(0, ct_trace_read(&evs, &n));
	from = ct_trace_after(evs, n, "idle");
	ASSERT_GT(n, from);
	for (i = 0; i < s; i++) {
		ev = ct_trace_scan(evs, n, 0, inst, i + 1);
		ASSERT_NE(NULL, ev) {
			TH_LOG("pass %llu not traced", (unsigned long long)i + 1);
		}
		EXPECT_EQ(i + 1, ev->sweeps);
		EXPECT_EQ(!(i % OLD_EVERY), ev->old_turn) {
			TH_LOG("sweep %llu", (unsigned long long)i);
		}
		EXPECT_EQ(busy_scanned(i), ev->scanned) {
			TH_LOG("sweep %llu", (unsigned long long)i);
		}
		EXPECT_EQ(0, ev->released);
	}
	for (i = 0; i < 3; i++) {
		ev = ct_trace_scan(evs, n, from, inst, i + 1);
		ASSERT_NE(NULL, ev);
		EXPECT_EQ(s + i + 1, ev->sweeps);
		EXPECT_EQ(i == 2, ev->old_turn) {
			TH_LOG("sweep %llu", (unsigned long long)(s + i));
		}
		EXPECT_EQ(i == 2 ? NO : NN, ev->scanned) {
			TH_LOG("sweep %llu", (unsigned long long)(s + i));
		}
		EXPECT_EQ(i == 0 ? 0 : i == 1 ? NN : NO, ev->released) {
			TH_LOG("sweep %llu", (unsigned long long)(s + i));
		}
	}
	for (i = 0; i < NN; i++) {
		un = NULL;
		EXPECT_EQ(2, ct_trace_unpin_pass(evs, n, from, inst, N0 + i, &un));
		if (un)
			EXPECT_STREQ("lazy", un->cause);
	}
	for (i = 0; i < NO; i++) {
		un = NULL;
		EXPECT_EQ(3, ct_trace_unpin_pass(evs, n, from, inst, O0 + i, &un)) {
			TH_LOG("idle old page %llu not released at the old generation's turn",
			       (unsigned long long)i);
		}
		if (un)
			EXPECT_STREQ("lazy", un->cause);
	}
	free(evs);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

/*
 * A pass budget equal to the number of pinned pages: every pass is still
 * one whole sweep. (It once stopped right after the last page it looked
 * at, so the next pass found only the end of the sweep and looked at
 * nothing: sweeps ran at half the passes.)
 */
#define NB		6
#define BUDGET_PASSES	6

TEST_F_TIMEOUT(gen, budget_equal_to_pinned, 120)
{
	struct ctg *t = &self->t;
	struct coiommu_stats st;
	struct ctg_map_res res;

	ASSERT_EQ(0, ctg_policy(t, 100, 15, NB));
	ASSERT_EQ(0, ctg_map(t, 0, O0, NB, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_scans(t, BUDGET_PASSES, TIMEOUT_MS, &st));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	ASSERT_LE(BUDGET_PASSES, st.scans);
	/* Busy (mapped) pages, young: every pass looks at all of them. */
	EXPECT_EQ(st.scans, ctg_debugfs(t, "sweeps"));
	EXPECT_EQ(st.scans * NB, st.scanned_pages) {
		TH_LOG("%llu pages looked at in %llu passes of budget %d",
		       (unsigned long long)st.scanned_pages,
		       (unsigned long long)st.scans, NB);
	}
	EXPECT_EQ(NB, st.pinned_pages);
	EXPECT_EQ(0, st.unpins);
	ASSERT_EQ(0, ctg_unmap(t, 0, O0, NB));
}

/*
 * long_sweep: one pass walks more of the index than one step of the
 * unpinner does (16384 entries; the locks are dropped between steps), so
 * its cursor carries over a step boundary, in the middle of a chunk and
 * a run. Guest RAM is 108 MiB (27648 entries); LR runs of LN pages, LS
 * pages apart (not a multiple of the 64-page chunk); run 7 holds entry
 * 16384, where the first step ends. Full sweeps. The odd runs are unmapped while parked: the first pass must
 * look at every pinned page exactly once and release none (it clears
 * ACCESSED), the second release exactly the odd runs, the third look at
 * the even runs only. Both ends of the walk keep their DMA.
 */
#define LR		12
#define LN		500
#define LS		2300
#define L(j, i)		(CTG_DATA_GFN + (j) * LS + (i))
#define LONG_RAM	(108ULL << 20)	/* 27 DTT leaves: ct_guest.h's room */
#define LONG_PERIOD_MS	300

CTG_FIXTURE(long_sweep, .nr_vcpus = 1, .ram_size = LONG_RAM);	/* parked */

TEST_F_TIMEOUT(long_sweep, long_sweep, 180)
{
	struct ctg *t = &self->t;
	const struct ct_trace_ev *ev;
	struct ct_trace_ev *evs;
	struct coiommu_stats st;
	struct ctg_map_res res;
	long inst = ctg_instance(t);
	unsigned int j, k;
	size_t n, from;

	ASSERT_LT(0, inst);
	ASSERT_GE(t->ram_size / CT_PAGE, L(LR - 1, LN) - CTG_GFN(CTG_RAM_GPA));
	for (j = 0; j < LR; j++) {
		ASSERT_EQ(0, ctg_map(t, 0, L(j, 0), LN, 0, &res));
		EXPECT_EQ(0, res.unpinned);
	}
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(L(0, 0)), 7));
	ASSERT_EQ(0, ctg_policy(t, LONG_PERIOD_MS, 15, 1U << 20));
	ASSERT_EQ(0, ct_trace_start());
	ASSERT_EQ(0, ct_trace_mark("long"));
	for (j = 1; j < LR; j += 2)
		ASSERT_EQ(0, ctg_unmap(t, 0, L(j, 0), LN));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	ASSERT_EQ(LR * LN, st.pinned_pages);
	ASSERT_EQ(0, st.scans);

	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_scans(t, 3, 20 * LONG_PERIOD_MS, &st));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(LR / 2 * LN, st.pinned_pages);
	EXPECT_EQ(LR / 2 * LN, st.unpins_lazy);
	EXPECT_EQ(st.scans, ctg_debugfs(t, "sweeps"));

	ASSERT_EQ(0, ct_trace_read(&evs, &n));
	from = ct_trace_after(evs, n, "long");
	for (k = 1; k <= 3; k++) {
		ev = ct_trace_scan(evs, n, from, inst, k);
		ASSERT_NE(NULL, ev) {
			TH_LOG("pass %u not traced", k);
		}
		EXPECT_EQ(k, ev->sweeps);
		EXPECT_EQ(k < 3 ? LR * LN : LR / 2 * LN, ev->scanned) {
			TH_LOG("pass %u", k);
		}
		EXPECT_EQ(k == 2 ? LR / 2 * LN : 0, ev->released) {
			TH_LOG("pass %u", k);
		}
	}
	free(evs);
	for (j = 0; j < LR; j++) {
		uint32_t want = j % 2 ? 0 : PINNED | 1;

		EXPECT_EQ(want, ctg_entry(t, L(j, 0)));
		EXPECT_EQ(want, ctg_entry(t, L(j, LN / 2)));
		EXPECT_EQ(want, ctg_entry(t, L(j, LN - 1)));
	}
	CTU_DMA_LANDS(t, CTG_GPA(L(0, 0)), 7);
	CTU_DMA_LANDS(t, CTG_GPA(L(LR - 2, LN - 1)), 7);
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(L(LR - 1, LN / 2)));
	for (j = 0; j < LR; j += 2)
		ASSERT_EQ(0, ctg_unmap(t, 0, L(j, 0), LN));
}

TEST_HARNESS_MAIN
