// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_single: one guest pin request, served in the ringing vCPU
 * thread. The guest maps one page (map count 1 and ACCESSED in one atomic
 * update of its DTT entry), writes gfn << 16 | bdf to its notify slot and
 * a byte to its trigger, and reads the slot with the very next
 * instruction: it must already be 0 and PINNED must be set. The host did
 * not touch the guest's bits (entry == PINNED | ACCESSED | 1). edu DMA to
 * IOVA = GPA lands in that page, exactly, as the guest reads it; the
 * neighbours stay unmapped (DMA faults). One pin, taken by task work.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define PAGE_GPA	(CTG_DATA_GPA + 8 * CT_PAGE)
#define PAGE_GFN	CTG_GFN(PAGE_GPA)

CTG_FIXTURE(db, .nr_vcpus = 1);

TEST_F_TIMEOUT(db, doorbell_single, 120)
{
	struct ctg *t = &self->t;
	uint8_t *page = ctg_hva(t, PAGE_GPA);
	uint32_t *entry = ctg_dtt_entry(t, PAGE_GFN);
	struct coiommu_stats st;
	struct ctg_map_res res;
	struct ct_pins a, b;
	uint64_t hash;
	uint64_t d;

	ASSERT_NE(NULL, entry);
	ASSERT_EQ(0, *entry);
	ASSERT_NE(NULL, ctg_dtt_entry(t, PAGE_GFN + 1));
	/* Data pages hold a pattern, so that a DMA shows. */
	ct_fill(ctg_hva(t, CTG_DATA_GPA), t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA),
		0xd00b);

	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(0, st.pinned_pages);
	EXPECT_EQ(0, st.requests);
	ASSERT_EQ(0, ct_pins_read(&a));

	/* The guest maps the page and asks for it: one single request. */
	ASSERT_EQ(0, ctg_map(t, 0, PAGE_GFN, 1, 0, &res));
	EXPECT_EQ(1, res.requests);
	EXPECT_EQ(0, res.holes);
	EXPECT_EQ(0, res.last_slot) {
		TH_LOG("the slot read right after the trigger write was %#llx, not completed",
		       (unsigned long long)res.last_slot);
	}
	EXPECT_EQ(0, res.slot_busy);
	EXPECT_EQ(0, res.unpinned) {
		TH_LOG("PINNED not set when the guest looked");
	}
	/* The host set PINNED and left map count and ACCESSED alone. */
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, *entry);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_READ32,
			     CTG_RAM_GPA + ((uint8_t *)entry - t->ram), 0, 0, 0));
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, ctg_res(t, 0)[0]);
	EXPECT_EQ(0, *ctg_dtt_entry(t, PAGE_GFN - 1));
	EXPECT_EQ(0, *ctg_dtt_entry(t, PAGE_GFN + 1));

	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(1, b.acquired - a.acquired);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(1, st.pinned_pages);
	EXPECT_EQ(1, st.pins);
	EXPECT_EQ(0, st.unpins);
	EXPECT_EQ(1, st.requests);
	EXPECT_EQ(1, st.served_task) {
		TH_LOG("not served by task work in the vCPU thread");
	}
	EXPECT_EQ(0, st.served_worker);
	EXPECT_EQ(0, st.refused_requests);
	/* The slot page and the pinned page. */
	EXPECT_EQ(8, ct_locked_vm_kb(getpid()));

	/*
	 * DMA proof. Load edu's buffer from the page (RAM to device), put
	 * another pattern in the page, then write the buffer back one byte
	 * further on (device to RAM): the page must hold exactly that, and
	 * nothing else in guest RAM may change.
	 */
	ASSERT_EQ(0, ctg_edu_prime(t, PAGE_GPA, 1));
	ct_fill(page, CT_PAGE, 2);
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ctg_dma_write(t, PAGE_GPA + 1, ctg_pattern(1),
				   CT_EDU_DMA_MAX));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("guest RAM at %#llx is not what the DMA must have left",
		       (unsigned long long)d);
	}
	EXPECT_EQ(0, memcmp(page + 1, ctg_pattern(1), CT_EDU_DMA_MAX));
	EXPECT_FALSE(ct_kmsg_dmar_fault(&self->kmsg, PAGE_GPA, true, 200));

	/* The guest reads what the device wrote, and the untouched neighbours. */
	ASSERT_EQ(0, ctg_guest_hash(t, 0, PAGE_GPA, CT_PAGE, &hash));
	EXPECT_EQ(ctg_shadow_hash(t, PAGE_GPA, CT_PAGE), hash);
	EXPECT_EQ(ctg_hash(page, CT_PAGE), hash);
	ASSERT_EQ(0, ctg_guest_hash(t, 0, PAGE_GPA - CT_PAGE, CT_PAGE, &hash));
	EXPECT_EQ(ctg_shadow_hash(t, PAGE_GPA - CT_PAGE, CT_PAGE), hash);
	ASSERT_EQ(0, ctg_guest_hash(t, 0, PAGE_GPA + CT_PAGE, CT_PAGE, &hash));
	EXPECT_EQ(ctg_shadow_hash(t, PAGE_GPA + CT_PAGE, CT_PAGE), hash);

	/* Only that page is mapped: DMA to either neighbour faults. */
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ct_edu_dma(&t->edu, PAGE_GPA + CT_PAGE, 0, 64, true));
	ASSERT_EQ(0, ct_edu_dma(&t->edu, PAGE_GPA - CT_PAGE, 0, 64, true));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("a DMA to an unpinned neighbour reached %#llx",
		       (unsigned long long)d);
	}
	EXPECT_TRUE(ct_kmsg_dmar_fault_dev(&self->kmsg, t->edu.bdf,
					   PAGE_GPA + CT_PAGE, true, 3000));
	EXPECT_TRUE(ct_kmsg_dmar_fault_dev(&self->kmsg, t->edu.bdf,
					   PAGE_GPA - CT_PAGE, true, 3000));

	/* Nothing else happened behind the guest's back. */
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(1, st.pinned_pages);
	EXPECT_EQ(1, st.requests);
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, *entry);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
