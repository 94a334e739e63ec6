// SPDX-License-Identifier: GPL-2.0
/*
 * unpinned_dma_faults: only pinned pages are reachable. A page of guest RAM
 * that was never pinned, and one that was pinned and then unpinned (alone,
 * between two pages that stay pinned), block edu's DMA writes (memory
 * untouched) and reads (the device does not get the page's bytes), and the
 * IOMMU logs a fault for each. The unpin counter counts unpinned pages;
 * unpinning pages that are not pinned is skipped.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ctv_fixture.h"

#define NP	16
#define BASE	0x300000UL
#define P(n)	(BASE + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX

CTV_FIXTURE(co, .open_edu = 1, .add_a = true, .arena = NP * CT_PAGE,
	    .base = BASE, .seed = 0xfa17);

static void expect_counts(struct __test_metadata *_metadata, int fd,
			  struct ct_pins *base, unsigned long pinned,
			  unsigned long pins, unsigned long unpins)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(pinned, st.pinned_pages);
	EXPECT_EQ(pins, st.pins);
	EXPECT_EQ(unpins, st.unpins);
	EXPECT_EQ(pinned, ct_pins_outstanding(base));
	EXPECT_EQ(pinned * 4, ct_locked_vm_kb(getpid()));
}

/*
 * edu reads @len bytes at unmapped @gpa: the IOMMU logs a read fault and
 * the device does not get the page's bytes (written out to pinned @spare
 * to look at them).
 */
static void read_blocked(struct __test_metadata *_metadata, int line,
			 FIXTURE_DATA(co) *self, uint64_t gpa, uint64_t spare)
{
	uint8_t page[LEN], *out;
	bool logged;

	ASSERT_EQ(0, ct_ram_read(&self->v.g, gpa, page, LEN));
	ASSERT_EQ(0, ct_edu_dma_fault(&self->v.a, &self->v.kmsg, gpa, 0, LEN,
				      false, &logged));
	EXPECT_TRUE(logged) {
		TH_LOG("line %d: no DMAR read fault logged for 0x%llx", line,
		       (unsigned long long)gpa);
	}
	CT_RAM_CHECK(&self->v.g, "faulting DMA read");

	ASSERT_EQ(0, ct_edu_dma(&self->v.a, spare, 0, LEN, true));
	out = ct_ram_hva(&self->v.g, spare);
	EXPECT_NE(0, memcmp(out, page, LEN)) {
		TH_LOG("line %d: edu read the bytes of unmapped 0x%llx", line,
		       (unsigned long long)gpa);
	}
	/* The spare page legitimately changed: whatever edu held. */
	ASSERT_EQ(0, ct_ram_expect(&self->v.g, spare, out, LEN));
	CT_RAM_CHECK(&self->v.g, "write-out after a faulting read");
}

TEST_F_TIMEOUT(co, unpinned_dma_faults, 120)
{
	struct ct_ram *g = &self->v.g;
	struct ct_edu *e = &self->v.a;
	struct ct_kmsg *k = &self->v.kmsg;
	struct ct_pins *base = &self->v.env.base;
	uint8_t buf0[LEN], buf7[LEN];

	/* A pinned source gives edu's buffer known contents (page 0's). */
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(0), CT_PAGE));
	CT_EDU_LOAD(g, e, P(0), buf0, LEN);
	expect_counts(_metadata, self->v.fd, base, 1, 1, 0);

	/* Never pinned, inside guest RAM: blocked. */
	CT_DMA_BLOCKED(g, e, k, P(5), LEN);

	/* Pinned: lands. */
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(7), 3 * CT_PAGE));
	expect_counts(_metadata, self->v.fd, base, 4, 4, 0);
	CT_DMA_LANDS(g, e, P(8), buf0, LEN);

	/* Unpin the middle page only. */
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(8), CT_PAGE));
	expect_counts(_metadata, self->v.fd, base, 3, 4, 1);

	/* New buffer contents (page 7's), unlike what page 8 now holds. */
	CT_EDU_LOAD(g, e, P(7), buf7, LEN);
	ASSERT_NE(0, memcmp(buf7, ct_ram_hva(g, P(8)), LEN));
	CT_DMA_BLOCKED(g, e, k, P(8), LEN);
	/* Its neighbours are still mapped. */
	CT_DMA_LANDS(g, e, P(7) + 1, buf7, LEN);
	CT_DMA_LANDS(g, e, P(9), buf7, LEN);

	/* Reads fault too, for the unpinned and the never-pinned page. */
	read_blocked(_metadata, __LINE__, self, P(8), P(9));
	read_blocked(_metadata, __LINE__, self, P(5), P(7));

	/* Unpinning pages that are not pinned is skipped, not counted. */
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(5), CT_PAGE));
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(8), CT_PAGE));
	expect_counts(_metadata, self->v.fd, base, 3, 4, 1);

	/* Unpin the whole of guest RAM: only the 3 pinned pages count. */
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, BASE, NP * CT_PAGE));
	expect_counts(_metadata, self->v.fd, base, 0, 4, 4);
	CT_DMA_BLOCKED(g, e, k, P(0) + 0x100, 0x200);
}

TEST_HARNESS_MAIN
