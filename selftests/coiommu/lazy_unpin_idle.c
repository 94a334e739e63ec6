// SPDX-License-Identifier: GPL-2.0
/*
 * lazy_unpin_idle: the background unpinner gives back what the guest no
 * longer uses, by the rule of the guest ABI.
 *
 * The guest maps four pages (map count 1, ACCESSED, PINNED after its
 * request) while it has the unpinner parked, and unmaps A at once. Then
 * the unpinner runs, with a period of PERIOD_MS:
 *
 *  - pass 1 finds every entry busy: A (count 0 but ACCESSED) gets its
 *    second chance, ACCESSED is cleared and A stays pinned (its DMA still
 *    lands); B, C and K (mapped) only lose ACCESSED, their count intact;
 *  - then the guest unmaps B (entry exactly PINNED) and forgets C (entry
 *    0: our documented extension), and pass 2 releases A, B and C: the
 *    entries are 0, DMA to them is blocked (memory untouched, DMAR fault),
 *    pinned_pages/unpins_lazy/FOLL_PIN pins/VmLck go down; K stays.
 *
 * Between the two passes the guest parks the unpinner, so that the test
 * sees the state a pass left behind. A second, undisturbed round (eight
 * pages mapped and unmapped, then unparked) must give them back exactly
 * at the second pass and within two periods of wall-clock time. Finally
 * K is unmapped and goes at the next pass: nothing stays pinned but the
 * notify slot page. The tracepoints tell which pass released each page.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"
#include "ct_trace.h"
#include "ct_unpin.h"

#define PERIOD_MS	400
#define TIMEOUT_MS	(20 * PERIOD_MS)
#define D(i)		(CTG_DATA_GFN + (i))
#define A		D(0)	/* mapped, unmapped before the first pass */
#define B		D(1)	/* mapped over pass 1, unmapped after it */
#define C		D(2)	/* mapped; the guest then zeroes its entry */
#define K		D(3)	/* mapped until the end */
#define E0		D(16)	/* NE pages for the undisturbed round */
#define NE		8
#define PINNED		CTG_DTT_PINNED
#define ACCESSED	CTG_DTT_ACCESSED

CTG_FIXTURE(lu, .nr_vcpus = 1);	/* parked, as it boots */

/* Let the unpinner run until it has made @passes more passes, then park. */
static void run_passes(struct __test_metadata *_metadata, struct ctg *t,
		       uint64_t from, unsigned int passes)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_scans(t, from + passes, TIMEOUT_MS, &st)) {
		TH_LOG("no pass of the unpinner in %d ms (scans %llu)",
		       TIMEOUT_MS, (unsigned long long)st.scans);
	}
	/* Returns once a running pass is over: the state is frozen. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	ASSERT_EQ(from + passes, st.scans) {
		TH_LOG("could not park the unpinner within one period of its pass");
	}
}

static uint64_t entry_gpa(struct ctg *t, uint64_t gfn)
{
	return CTG_RAM_GPA + ((uint8_t *)ctg_dtt_entry(t, gfn) - t->ram);
}

TEST_F_TIMEOUT(lu, lazy_unpin_idle, 180)
{
	static const uint64_t four[] = { A, B, C, K };
	struct ctg *t = &self->t;
	struct ct_kmsg *k = &self->kmsg;
	const struct ct_trace_ev *ev, *un;
	struct ct_trace_ev *evs;
	struct coiommu_stats st;
	struct ctg_map_res res;
	long inst = ctg_instance(t);
	long t0, t1;
	size_t n, from;
	unsigned int i;

	ASSERT_LT(0, inst);
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x1d1e);
	ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, 15, 0));
	ASSERT_EQ(0, ct_trace_start()) {
		TH_LOG("no coiommu tracepoints in tracefs");
	}

	/* The guest maps four pages, one request each, and unmaps A. */
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, ctg_map(t, 0, four[i], 1, 0, &res));
		EXPECT_EQ(1, res.requests);
		EXPECT_EQ(0, res.unpinned);
		EXPECT_EQ(PINNED | ACCESSED | 1, ctg_entry(t, four[i]));
	}
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(K), 7));
	CTU_DMA_LANDS(t, CTG_GPA(A), 7);
	ASSERT_EQ(0, ctg_unmap(t, 0, A, 1));
	EXPECT_EQ(PINNED | ACCESSED, ctg_entry(t, A));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(4, st.pinned_pages);
	EXPECT_EQ(0, st.scans) {
		TH_LOG("the unpinner made passes while parked");
	}
	EXPECT_EQ(4 * (1 + 4), ct_locked_vm_kb(getpid()));

	/* Pass 1: a second chance for everything. */
	run_passes(_metadata, t, 0, 1);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(4, st.pinned_pages);
	EXPECT_EQ(0, st.unpins);
	EXPECT_EQ(4, st.scanned_pages);
	EXPECT_EQ(PINNED, ctg_entry(t, A)) {
		TH_LOG("A after pass 1: %#x, want exactly PINNED (ACCESSED cleared, not unpinned)",
		       ctg_entry(t, A));
	}
	for (i = 1; i < 4; i++)
		EXPECT_EQ(PINNED | 1, ctg_entry(t, four[i])) {
			TH_LOG("page %u after pass 1: %#x", i,
			       ctg_entry(t, four[i]));
		}
	CTU_DMA_LANDS(t, CTG_GPA(A), 7);

	/* The guest unmaps B (exactly PINNED now) and forgets C (0). */
	ASSERT_EQ(0, ctg_unmap(t, 0, B, 1));
	EXPECT_EQ(PINNED, ctg_entry(t, B));
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_WRITE32, entry_gpa(t, C), 0, 0, 0));
	EXPECT_EQ(0, ctg_entry(t, C));

	/* Pass 2 releases A, B and C; K is mapped. */
	run_passes(_metadata, t, 1, 1);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(1, st.pinned_pages);
	EXPECT_EQ(3, st.unpins);
	EXPECT_EQ(3, st.unpins_lazy);
	EXPECT_EQ(8, st.scanned_pages);
	EXPECT_EQ(0, ctg_entry(t, A));
	EXPECT_EQ(0, ctg_entry(t, B));
	EXPECT_EQ(0, ctg_entry(t, C));
	EXPECT_EQ(PINNED | 1, ctg_entry(t, K));
	EXPECT_EQ(2, ct_pins_outstanding(&self->env.base)) {
		TH_LOG("FOLL_PIN pins: want the slot page and K");
	}
	EXPECT_EQ(4 * 2, ct_locked_vm_kb(getpid()));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(A));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(B));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(C));
	CTU_DMA_LANDS(t, CTG_GPA(K), 7);

	/* An undisturbed round: eight pages mapped and unmapped. */
	ASSERT_EQ(0, ctg_map(t, 0, E0, NE, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_unmap(t, 0, E0, NE));
	for (i = 0; i < NE; i++)
		EXPECT_EQ(PINNED | ACCESSED, ctg_entry(t, E0 + i));
	ASSERT_EQ(0, ct_trace_mark("round2"));
	t0 = ct_now_ms();
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_pinned(t, 1, TIMEOUT_MS, &st));
	t1 = ct_now_ms();
	TH_LOG("%u pages mapped and unmapped: unpinned %ld ms after unparking (period %d ms)",
	       NE, t1 - t0, PERIOD_MS);
	EXPECT_GE(2 * PERIOD_MS + 2000, t1 - t0) {
		TH_LOG("not within two periods (with 2 s to spare)");
	}
	EXPECT_EQ(3 + NE, st.unpins_lazy);
	for (i = 0; i < NE; i++)
		EXPECT_EQ(0, ctg_entry(t, E0 + i));
	EXPECT_EQ(PINNED | 1, ctg_entry(t, K));

	/* K: unmapped (exactly PINNED), it goes at the next pass. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, ct_trace_mark("k"));
	ASSERT_EQ(0, ctg_unmap(t, 0, K, 1));
	EXPECT_EQ(PINNED, ctg_entry(t, K));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_pinned(t, 0, TIMEOUT_MS, &st));
	EXPECT_EQ(4 + NE, st.unpins_lazy);
	EXPECT_EQ(4 + NE, st.unpins);
	EXPECT_EQ(0, ctg_entry(t, K));
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base)) {
		TH_LOG("FOLL_PIN pins: only the slot page may be left");
	}
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(E0 + 3));

	/* Which pass released what. */
	ASSERT_EQ(0, ct_trace_read(&evs, &n));
	for (i = 0; i < 3; i++) {
		un = NULL;
		EXPECT_EQ(2, ct_trace_unpin_pass(evs, n, 0, inst, four[i], &un)) {
			TH_LOG("page %u: not unpinned in pass 2", i);
		}
		if (un)
			EXPECT_STREQ("lazy", un->cause);
	}
	from = ct_trace_after(evs, n, "round2");
	ASSERT_GT(n, from);
	for (i = 0; i < NE; i++) {
		un = NULL;
		EXPECT_EQ(2, ct_trace_unpin_pass(evs, n, from, inst, E0 + i, &un)) {
			TH_LOG("page %#llx: not unpinned in the second pass after unparking",
			       (unsigned long long)(E0 + i));
		}
		if (un)
			EXPECT_STREQ("lazy", un->cause);
	}
	ev = ct_trace_scan(evs, n, from, inst, 1);
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(NE + 1, ev->scanned);
	EXPECT_EQ(0, ev->released);
	ev = ct_trace_scan(evs, n, from, inst, 2);
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(NE + 1, ev->scanned);
	EXPECT_EQ(NE, ev->released);
	from = ct_trace_after(evs, n, "k");
	EXPECT_EQ(1, ct_trace_unpin_pass(evs, n, from, inst, K, NULL)) {
		TH_LOG("K: exactly PINNED, not unpinned at the next pass");
	}
	free(evs);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
