// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_batch: one batch request for NPAGES pages (more than the
 * kernel's 512-page step, across a DTT leaf table boundary, with a GFN
 * list that spans two guest pages). The guest maps them all, rings once
 * and finds its slot 0 on the next instruction and PINNED in every
 * entry; the host took exactly NPAGES FOLL_PIN pins. Every page is
 * reachable by edu DMA at IOVA = GPA (one DMA per two pages, across each
 * page pair's boundary): guest RAM holds exactly what the DMAs wrote, and
 * the guest reads it. The page after the batch stays unmapped. Asking for
 * the same pages again pins nothing more.
 */
#include "ct_kvm.h"

#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define NPAGES		600
#define FIRST_GFN	0x1200ULL	/* GPA 18 MiB; leaf boundary at 0x1400 */
#define FIRST_GPA	CTG_GPA(FIRST_GFN)

CTG_FIXTURE(db, .nr_vcpus = 1);

static unsigned int count_entries(struct ctg *t, uint32_t want)
{
	unsigned int i, n = 0;

	for (i = 0; i < NPAGES; i++)
		if (*ctg_dtt_entry(t, FIRST_GFN + i) == want)
			n++;
	return n;
}

/* ~100 ms per edu DMA, NPAGES / 2 of them. */
TEST_F_TIMEOUT(db, doorbell_batch, 240)
{
	struct ctg *t = &self->t;
	struct coiommu_stats st;
	struct ctg_map_res res;
	struct ct_pins a, b;
	uint64_t hash, d;
	unsigned int i;

	ASSERT_GE(NPAGES, 512);
	ASSERT_LE(NPAGES, CTG_BATCH_MAX);
	ASSERT_LE(CTG_GPA(FIRST_GFN + NPAGES + 1), CTG_RAM_GPA + t->ram_size);
	ASSERT_NE(NULL, ctg_dtt_entry(t, FIRST_GFN + NPAGES));
	ASSERT_EQ(NPAGES, count_entries(t, 0));
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0xba7c4);

	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, ctg_map(t, 0, FIRST_GFN, NPAGES, 0, &res));
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(1, res.requests) {
		TH_LOG("the guest should have made one batch request");
	}
	EXPECT_EQ(0, res.holes);
	EXPECT_EQ(0, res.last_slot) {
		TH_LOG("slot %#llx right after the trigger",
		       (unsigned long long)res.last_slot);
	}
	EXPECT_EQ(0, res.unpinned) {
		TH_LOG("%llu pages without PINNED when the guest looked",
		       (unsigned long long)res.unpinned);
	}
	EXPECT_EQ(NPAGES, b.acquired - a.acquired);
	EXPECT_EQ(NPAGES, count_entries(t, CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1));
	EXPECT_EQ(0, *ctg_dtt_entry(t, FIRST_GFN - 1));
	EXPECT_EQ(0, *ctg_dtt_entry(t, FIRST_GFN + NPAGES));

	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(NPAGES, st.pinned_pages);
	EXPECT_EQ(NPAGES, st.pins);
	EXPECT_EQ(1, st.requests);
	EXPECT_EQ(1, st.served_task);
	EXPECT_EQ(0, st.served_worker);
	EXPECT_EQ(0, st.refused_requests);
	/* The pinned pages and the notify slot page. */
	EXPECT_EQ((NPAGES + 1) * 4, ct_locked_vm_kb(getpid()));

	/* The same pages again (all of them, PINNED or not): no new pin. */
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, ctg_map(t, 0, FIRST_GFN, NPAGES, CTG_MAP_ALL, &res));
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(1, res.requests);
	EXPECT_EQ(0, res.last_slot);
	EXPECT_EQ(0, res.unpinned);
	EXPECT_EQ(0, b.acquired - a.acquired);
	EXPECT_EQ(NPAGES, count_entries(t, CTG_DTT_PINNED | CTG_DTT_ACCESSED | 2));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(NPAGES, st.pinned_pages);
	EXPECT_EQ(NPAGES, st.pins);
	EXPECT_EQ(2, st.requests);
	EXPECT_EQ(0, st.refused_requests);

	/*
	 * Every page by DMA: load edu's buffer from the first page, then
	 * write it across each pair of pages (second half of page 2k, first
	 * half of page 2k + 1). Nothing else in RAM may change.
	 */
	ASSERT_EQ(0, ctg_edu_prime(t, FIRST_GPA, 7));
	ASSERT_EQ(0, ctg_shadow_sync(t));
	for (i = 0; i < NPAGES; i += 2)
		ASSERT_EQ(0, ctg_dma_write(t, CTG_GPA(FIRST_GFN + i) + 2048,
					   ctg_pattern(7), CT_EDU_DMA_MAX));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("guest RAM at %#llx (page %lld of the batch) is not what the DMAs wrote",
		       (unsigned long long)d,
		       (long long)(CTG_GFN(d) - FIRST_GFN));
	}
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 200, "DMAR: ", NULL)) {
		TH_LOG("a DMAR fault for a pinned page");
	}
	/* The guest reads the same. */
	ASSERT_EQ(0, ctg_guest_hash(t, 0, FIRST_GPA, NPAGES * CT_PAGE, &hash));
	EXPECT_EQ(ctg_shadow_hash(t, FIRST_GPA, NPAGES * CT_PAGE), hash);

	/* The page after the batch was not mapped. */
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ct_edu_dma(&t->edu, CTG_GPA(FIRST_GFN + NPAGES), 0, 64,
				true));
	EXPECT_EQ(0, ctg_shadow_diff(t));
	EXPECT_TRUE(ct_kmsg_dmar_fault_dev(&self->kmsg, t->edu.bdf,
					   CTG_GPA(FIRST_GFN + NPAGES), true,
					   3000));

	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(NPAGES, st.pinned_pages);
	EXPECT_EQ(2, st.requests);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
