// SPDX-License-Identifier: GPL-2.0
/*
 * park_blocks_unpin: while the guest has parked the unpinner (it does so
 * while it frees DTT pages), nothing is unpinned behind its back, and
 * parks nest.
 *
 * The guest maps P (NP pages) and Q (NQ pages); one pass clears ACCESSED.
 * It parks twice, then unmaps P (entries exactly PINNED: idle) and maps
 * and unmaps Q again (PINNED | ACCESSED). Over several periods, with the
 * park count at 2 and then at 1 (one unpark: still parked), and through
 * drop_caches (the shrinker), no page is looked at or unpinned: stats
 * scans/scanned_pages/unpins unchanged, entries unchanged to the bit
 * (ACCESSED of Q is not even cleared), DMA to both sets lands. After the
 * last unpark the unpinner resumes: P goes at the first pass, Q at the
 * second, within two periods. One unpark too many fails with -EINVAL and
 * leaves the count at 0.
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
#define TIMEOUT_MS	(20 * PERIOD_MS)
#define HOLD_MS		(6 * PERIOD_MS)	/* "several periods" */
#define D(i)		(CTG_DATA_GFN + (i))
#define P0		D(0)
#define NP		6
#define Q0		D(8)
#define NQ		4
#define PINNED		CTG_DTT_PINNED
#define ACCESSED	CTG_DTT_ACCESSED

CTG_FIXTURE(pk, .nr_vcpus = 1, .unparked = true);

/*
 * Parked for HOLD_MS (and through the shrinker): nothing changed since
 * @ref; entries equal @ent.
 */
static void check_frozen(struct __test_metadata *_metadata, int line,
			 struct ctg *t, const struct coiommu_stats *ref,
			 const uint32_t *ent, uint32_t seed)
{
	struct coiommu_stats st;
	unsigned int i;

	usleep(HOLD_MS * 1000);
	ASSERT_EQ(0, ctu_drop_caches());
	ASSERT_EQ(0, ctu_drop_caches());
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(ref->scans, st.scans) {
		TH_LOG("line %d: passes while parked", line);
	}
	EXPECT_EQ(ref->scanned_pages, st.scanned_pages) {
		TH_LOG("line %d: pages looked at while parked", line);
	}
	EXPECT_EQ(0, st.unpins) {
		TH_LOG("line %d: unpins while parked: lazy %llu, shrinker %llu",
		       line, (unsigned long long)st.unpins_lazy,
		       (unsigned long long)st.unpins_shrinker);
	}
	EXPECT_EQ(NP + NQ, st.pinned_pages);
	for (i = 0; i < NP + NQ; i++) {
		uint64_t gfn = i < NP ? P0 + i : Q0 + i - NP;

		EXPECT_EQ(ent[i], ctg_entry(t, gfn)) {
			TH_LOG("line %d: entry of gfn %#llx changed while parked",
			       line, (unsigned long long)gfn);
		}
	}
	CTU_DMA_LANDS(t, CTG_GPA(P0 + seed % NP), 4);
	CTU_DMA_LANDS(t, CTG_GPA(Q0 + seed % NQ), 4);
}

TEST_F_TIMEOUT(pk, park_blocks_unpin, 180)
{
	struct ctg *t = &self->t;
	const struct ct_trace_ev *un;
	struct coiommu_stats ref, st;
	struct ct_trace_ev *evs;
	uint32_t ent[NP + NQ];
	struct ctg_map_res res;
	long inst = ctg_instance(t);
	long t0, t1;
	unsigned int i;
	size_t n, from;

	ASSERT_LT(0, inst);
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x9a9a);
	ASSERT_EQ(0, ctg_debugfs(t, "parked"));
	ASSERT_EQ(0, ct_trace_start()) {
		TH_LOG("no coiommu tracepoints in tracefs");
	}

	/* Mapped, then one pass clears ACCESSED. */
	ASSERT_EQ(0, ctg_map(t, 0, P0, NP, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_map(t, 0, Q0, NQ, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(P0), 4));
	ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, 15, 0));
	ASSERT_TRUE(ctg_wait_scans(t, 1, TIMEOUT_MS, &st));

	/* Parked twice; then P goes idle and Q is mapped and unmapped. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	EXPECT_EQ(2, ctg_debugfs(t, "parked"));
	ASSERT_EQ(0, ctg_unmap(t, 0, P0, NP));
	ASSERT_EQ(0, ctg_unmap(t, 0, Q0, NQ));
	ASSERT_EQ(0, ctg_map(t, 0, Q0, NQ, 0, &res));
	EXPECT_EQ(0, res.requests);
	ASSERT_EQ(0, ctg_unmap(t, 0, Q0, NQ));
	for (i = 0; i < NP + NQ; i++) {
		ent[i] = ctg_entry(t, i < NP ? P0 + i : Q0 + i - NP);
		EXPECT_EQ(i < NP ? PINNED : PINNED | ACCESSED, ent[i]);
	}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &ref));
	EXPECT_EQ(0, ref.unpins);
	EXPECT_EQ(NP + NQ, ref.pinned_pages);

	check_frozen(_metadata, __LINE__, t, &ref, ent, 1);

	/* One unpark of two: still parked. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	EXPECT_EQ(1, ctg_debugfs(t, "parked"));
	check_frozen(_metadata, __LINE__, t, &ref, ent, 2);
	EXPECT_EQ(4 * (1 + NP + NQ), ct_locked_vm_kb(getpid()));

	/* The last unpark: P at the next pass, Q at the one after. */
	ASSERT_EQ(0, ct_trace_mark("unpark"));
	t0 = ct_now_ms();
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_pinned(t, 0, TIMEOUT_MS, &st));
	t1 = ct_now_ms();
	TH_LOG("all unpinned %ld ms after the last unpark (period %d ms)",
	       t1 - t0, PERIOD_MS);
	EXPECT_GE(2 * PERIOD_MS + 2000, t1 - t0) {
		TH_LOG("not within two periods (with 2 s to spare)");
	}
	EXPECT_EQ(ref.scans + 2, st.scans);
	EXPECT_EQ(NP + NQ, st.unpins_lazy);
	EXPECT_EQ(NP + NQ, st.unpins);
	for (i = 0; i < NP; i++)
		EXPECT_EQ(0, ctg_entry(t, P0 + i));
	for (i = 0; i < NQ; i++)
		EXPECT_EQ(0, ctg_entry(t, Q0 + i));
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(P0 + 2));
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(Q0 + 2));

	ASSERT_EQ(0, ct_trace_read(&evs, &n));
	from = ct_trace_after(evs, n, "unpark");
	ASSERT_GT(n, from);
	for (i = 0; i < NP + NQ; i++) {
		uint64_t gfn = i < NP ? P0 + i : Q0 + i - NP;

		un = NULL;
		EXPECT_EQ(i < NP ? 1 : 2,
			  ct_trace_unpin_pass(evs, n, from, inst, gfn, &un)) {
			TH_LOG("gfn %#llx", (unsigned long long)gfn);
		}
		if (un)
			EXPECT_STREQ("lazy", un->cause);
	}
	free(evs);

	/* Below zero: refused, and the count stays at 0. */
	EXPECT_EQ(-EINVAL, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	EXPECT_EQ(0, ctg_debugfs(t, "parked"));
	ASSERT_EQ(0, ctg_map(t, 0, P0, 1, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_unmap(t, 0, P0, 1));
	ASSERT_TRUE(ctg_wait_pinned(t, 0, TIMEOUT_MS, &st)) {
		TH_LOG("the unpinner does not run after the refused unpark");
	}
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
