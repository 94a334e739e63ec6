// SPDX-License-Identifier: GPL-2.0
/*
 * pin_dma_lands: COIOMMU_PIN_RANGE maps guest pages at IOVA = GPA, through
 * the VMM's memory map. Guest RAM is three regions whose order in the
 * VMM's address space differs from their order in guest physical space
 * (R0 and R1 are adjacent in GPA but R1 lies below R0 in the VMM). A pin
 * straddling R0/R1 lets edu read and write across the boundary: every byte
 * must come from, or land in, the VMM page of its own GPA, and nothing
 * else in the arena (other regions, gaps, guard pages) may change.
 * Pinning pages already pinned takes no new pin. The counters follow.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ctv_fixture.h"

#define NP	8			/* pages per region */
#define R0	0x200000UL		/* GPA; VMM arena pages 18..25 */
#define R1	(R0 + NP * CT_PAGE)	/* adjacent to R0; arena pages 0..7 */
#define R2	0x1000000UL		/* arena pages 9..16 */
#define ARENA	(26 * CT_PAGE)
#define P(base, n)	((base) + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX

/* Regions handed over in neither GPA nor vaddr order. */
CTV_FIXTURE(co, .open_edu = 1, .add_a = true, .arena = ARENA,
	    .ram = { { R2, 9 * CT_PAGE, NP * CT_PAGE },
		     { R0, 18 * CT_PAGE, NP * CT_PAGE },
		     { R1, 0, NP * CT_PAGE } },
	    .seed = 0x5eed);

static void expect_stats(struct __test_metadata *_metadata, int fd,
			 unsigned long pinned, unsigned long pins,
			 unsigned long unpins, unsigned long peak)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(sizeof(st), st.argsz);
	EXPECT_EQ(pinned, st.pinned_pages);
	EXPECT_EQ(pins, st.pins);
	EXPECT_EQ(unpins, st.unpins);
	EXPECT_EQ(peak, st.peak_pinned_pages);
	EXPECT_EQ(1, st.nr_devices);
	EXPECT_EQ(1, st.nr_domains);
	if (pinned)
		EXPECT_LT(0, st.metadata_bytes);
	EXPECT_EQ(pinned, ct_co_fdinfo(fd, "coiommu-pinned-pages"));
}

TEST_F_TIMEOUT(co, pin_dma_lands, 120)
{
	struct ct_ram *g = &self->v.g;
	struct ct_edu *e = &self->v.a;
	struct ct_pins a, b;
	uint8_t buf[LEN];

	/* Sanity of the layout this test relies on. */
	ASSERT_LT((uintptr_t)ct_ram_hva(g, R1), (uintptr_t)ct_ram_hva(g, R0));
	ASSERT_LT(P(R2, NP), 1UL << 28);

	expect_stats(_metadata, self->v.fd, 0, 0, 0, 0);
	EXPECT_EQ(0, ct_pins_outstanding(&self->v.env.base));

	/* R0 pages 6, 7 and R1 pages 0, 1: GPA-contiguous, VMM-disjoint. */
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(R0, 6), 4 * CT_PAGE));
	expect_stats(_metadata, self->v.fd, 4, 4, 0, 4);
	EXPECT_EQ(4, ct_pins_outstanding(&self->v.env.base));
	EXPECT_EQ(16, ct_locked_vm_kb(getpid()));
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(R2, 3), CT_PAGE));
	expect_stats(_metadata, self->v.fd, 5, 5, 0, 5);
	EXPECT_EQ(20, ct_locked_vm_kb(getpid()));

	/*
	 * RAM -> device across the R0/R1 boundary: the buffer must hold the
	 * tail of R0 page 7 followed by the head of R1 page 0. Writing it
	 * back proves what was read.
	 */
	CT_EDU_LOAD(g, e, P(R0, 7) + 0x10, buf, LEN);
	CT_DMA_LANDS(g, e, P(R0, 6) + 0x123, buf, 3000);

	/* Device -> RAM across the boundary, and into the other region. */
	CT_DMA_LANDS(g, e, P(R0, 7) + 0x800, buf, LEN);
	CT_DMA_LANDS(g, e, P(R2, 3), buf, LEN);
	EXPECT_FALSE(ct_kmsg_wait(&self->v.kmsg, 200, "DMAR: ", NULL)) {
		TH_LOG("a DMAR fault was logged for a pinned page");
	}

	/* Already pinned: a no-op, no new FOLL_PIN, no new charge. */
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(R0, 6), 4 * CT_PAGE));
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(R0, 7), CT_PAGE));
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(a.acquired, b.acquired) {
		TH_LOG("re-pinning pinned pages took %lu new pins",
		       b.acquired - a.acquired);
	}
	expect_stats(_metadata, self->v.fd, 5, 5, 0, 5);
	EXPECT_EQ(20, ct_locked_vm_kb(getpid()));

	/* Half pinned: only the new page is pinned. */
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(R1, 1), 2 * CT_PAGE));
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(a.acquired + 1, b.acquired);
	expect_stats(_metadata, self->v.fd, 6, 6, 0, 6);
	EXPECT_EQ(24, ct_locked_vm_kb(getpid()));
	CT_DMA_LANDS(g, e, P(R1, 2) + 1, buf, LEN);

	/* Unpin everything: counters back, peak kept. */
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(R0, 6), 5 * CT_PAGE));
	expect_stats(_metadata, self->v.fd, 1, 6, 5, 6);
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	EXPECT_EQ(1, ct_pins_outstanding(&self->v.env.base));
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, R2, NP * CT_PAGE));
	expect_stats(_metadata, self->v.fd, 0, 6, 6, 6);
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
	EXPECT_EQ(0, ct_pins_outstanding(&self->v.env.base));
	CT_RAM_CHECK(g, "after unpin");
}

TEST_HARNESS_MAIN
