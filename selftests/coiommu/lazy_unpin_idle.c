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
 * sees the state a pass left behind. Nothing orders PARK before the next
 * pass of the timer: when a pass more than wanted has run by the time the
 * unpinner is parked (it released A early), the guest puts the four
 * entries back as they were before pass 1 and both passes are run again,
 * up to TRIES times; every check is against that last try. A second, undisturbed round (eight
 * pages mapped and unmapped, then unparked) must give them back exactly
 * at the second pass and within two periods of wall-clock time. Finally
 * K is unmapped and goes at the next pass: nothing stays pinned but the
 * notify slot page. The tracepoints tell which pass released each page.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"
#include "ct_trace.h"
#include "ct_unpin.h"

#define PERIOD_MS	400
#define TIMEOUT_MS	(20 * PERIOD_MS)
#define TRIES		4	/* of passes 1 and 2, each parked in time */
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

/*
 * Let the unpinner run until it has made @passes more passes, then park.
 * False when by then it had made more: the caller starts over.
 */
static bool run_passes(struct __test_metadata *_metadata, struct ctg *t,
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
	ASSERT_LE(from + passes, st.scans);
	if (st.scans == from + passes)
		return true;
	TH_LOG("parked after %llu passes, not %u: the next pass came first; again",
	       (unsigned long long)(st.scans - from), passes);
	return false;
}

/*
 * After a try that went a pass too far: the guest maps again what was
 * released (A; also B and C after pass 2) and maps and unmaps what is
 * still pinned, which sets ACCESSED again; then it unmaps A. The entries
 * are those before pass 1 again: A PINNED | ACCESSED, the others
 * PINNED | ACCESSED | 1.
 */
static void start_over(struct __test_metadata *_metadata, struct ctg *t,
		       const uint64_t *four)
{
	struct ctg_map_res res;
	unsigned int i;
	uint32_t e;

	for (i = 0; i < 4; i++) {
		e = ctg_entry(t, four[i]);
		if (e) {
			/* Only B, C and K can still be pinned, and mapped once. */
			ASSERT_NE(0, i);
			ASSERT_EQ(PINNED | 1, e);
			ASSERT_EQ(0, ctg_map(t, 0, four[i], 1, 0, &res));
			EXPECT_EQ(0, res.requests);
			ASSERT_EQ(0, ctg_unmap(t, 0, four[i], 1));
		} else {
			ASSERT_EQ(0, ctg_map(t, 0, four[i], 1, 0, &res));
			EXPECT_EQ(1, res.requests);
		}
	}
	ASSERT_EQ(0, ctg_unmap(t, 0, A, 1));
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
	struct coiommu_stats st, b;
	struct ctg_map_res res;
	long inst = ctg_instance(t);
	unsigned int i, try;
	char mark[16];
	long t0, t1;
	size_t n, from;

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
	}
	ASSERT_EQ(0, ctg_unmap(t, 0, A, 1));

	for (try = 0;; try++) {
		ASSERT_GT(TRIES, try) {
			TH_LOG("%d tries, each with a pass of the unpinner before it could be parked",
			       TRIES);
		}
		if (try)
			start_over(_metadata, t, four);
		snprintf(mark, sizeof(mark), "try%u", try);
		ASSERT_EQ(0, ct_trace_mark(mark));
		for (i = 0; i < 4; i++)
			EXPECT_EQ((i ? PINNED | ACCESSED | 1 : PINNED | ACCESSED),
				  ctg_entry(t, four[i])) {
				TH_LOG("page %u before pass 1: %#x", i,
				       ctg_entry(t, four[i]));
			}
		ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(K), 7));
		CTU_DMA_LANDS(t, CTG_GPA(A), 7);
		ASSERT_EQ(0, coiommu_get_stats(t->co, &b));
		EXPECT_EQ(4, b.pinned_pages);
		if (!try)
			EXPECT_EQ(0, b.scans) {
				TH_LOG("the unpinner made passes while parked");
			}
		EXPECT_EQ(4 * (1 + 4), ct_locked_vm_kb(getpid()));

		/* Pass 1: a second chance for everything. */
		if (!run_passes(_metadata, t, b.scans, 1))
			continue;
		ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
		EXPECT_EQ(4, st.pinned_pages);
		EXPECT_EQ(b.unpins, st.unpins);
		EXPECT_EQ(b.scanned_pages + 4, st.scanned_pages);
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
		ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_WRITE32, entry_gpa(t, C), 0,
				     0, 0));
		EXPECT_EQ(0, ctg_entry(t, C));

		/* Pass 2 releases A, B and C; K is mapped. */
		if (run_passes(_metadata, t, b.scans + 1, 1))
			break;
	}
	TH_LOG("passes 1 and 2 parked in time at try %u of %d", try + 1,
	       TRIES);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(1, st.pinned_pages);
	EXPECT_EQ(b.unpins + 3, st.unpins);
	EXPECT_EQ(b.unpins_lazy + 3, st.unpins_lazy);
	EXPECT_EQ(b.scanned_pages + 8, st.scanned_pages);
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
	EXPECT_EQ(b.unpins_lazy + 3 + NE, st.unpins_lazy);
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
	EXPECT_EQ(b.unpins_lazy + 4 + NE, st.unpins_lazy);
	EXPECT_EQ(b.unpins + 4 + NE, st.unpins);
	EXPECT_EQ(0, ctg_entry(t, K));
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base)) {
		TH_LOG("FOLL_PIN pins: only the slot page may be left");
	}
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(E0 + 3));

	/* Which pass released what. */
	ASSERT_EQ(0, ct_trace_read(&evs, &n));
	from = ct_trace_after(evs, n, mark);
	ASSERT_GT(n, from);
	for (i = 0; i < 3; i++) {
		un = NULL;
		EXPECT_EQ(2, ct_trace_unpin_pass(evs, n, from, inst, four[i],
						 &un)) {
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
