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

#include "ct_fixture.h"

#define NP	8			/* pages per region */
#define R0	0x200000UL		/* GPA; VMM arena pages 18..25 */
#define R1	(R0 + NP * CT_PAGE)	/* adjacent to R0; arena pages 0..7 */
#define R2	0x1000000UL		/* arena pages 9..16 */
#define ARENA	(26 * CT_PAGE)
#define P(base, n)	((base) + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX

FIXTURE(co) {
	struct ct_env env;
	struct ct_edu edu;
	struct ct_kmsg kmsg;
	struct ct_ram g;
	int fd;
};

FIXTURE_SETUP(co)
{
	char bdf[4][32];

	self->fd = -1;
	self->kmsg.fd = -1;
	self->edu.device = self->edu.group = self->edu.container = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_LE(1, ct_edu_list(bdf, 4));
	ASSERT_EQ(0, ct_edu_open(&self->edu, bdf[0], -1));

	/* Regions handed over in neither GPA nor vaddr order. */
	ASSERT_EQ(0, ct_ram_init(&self->g, ARENA));
	ASSERT_EQ(0, ct_ram_add(&self->g, R2, 9 * CT_PAGE, NP * CT_PAGE));
	ASSERT_EQ(0, ct_ram_add(&self->g, R0, 18 * CT_PAGE, NP * CT_PAGE));
	ASSERT_EQ(0, ct_ram_add(&self->g, R1, 0, NP * CT_PAGE));
	ct_ram_fill(&self->g, 0x5eed);
	ASSERT_EQ(0, ct_kmsg_open(&self->kmsg));

	self->fd = coiommu_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(COIOMMU_API_VERSION,
		  ct_co_ioctl(self->fd, COIOMMU_GET_API_VERSION, NULL));
	ASSERT_EQ(0, ct_ram_set_map(&self->g, self->fd));
	ASSERT_EQ(0, ct_co_add_edu(self->fd, &self->edu));
}

FIXTURE_TEARDOWN(co)
{
	if (self->fd >= 0)
		close(self->fd);
	ct_kmsg_close(&self->kmsg);
	ct_edu_close(&self->edu);
	ct_ram_free(&self->g);
	ct_env_teardown(_metadata, &self->env);
}

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
	struct ct_ram *g = &self->g;
	struct ct_edu *e = &self->edu;
	struct ct_pins a, b;
	uint8_t buf[LEN];

	/* Sanity of the layout this test relies on. */
	ASSERT_LT((uintptr_t)ct_ram_hva(g, R1), (uintptr_t)ct_ram_hva(g, R0));
	ASSERT_LT(P(R2, NP), 1UL << 28);

	expect_stats(_metadata, self->fd, 0, 0, 0, 0);
	EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));

	/* R0 pages 6, 7 and R1 pages 0, 1: GPA-contiguous, VMM-disjoint. */
	ASSERT_EQ(0, coiommu_pin_range(self->fd, P(R0, 6), 4 * CT_PAGE));
	expect_stats(_metadata, self->fd, 4, 4, 0, 4);
	EXPECT_EQ(4, ct_pins_outstanding(&self->env.base));
	EXPECT_EQ(16, ct_locked_vm_kb(getpid()));
	ASSERT_EQ(0, coiommu_pin_range(self->fd, P(R2, 3), CT_PAGE));
	expect_stats(_metadata, self->fd, 5, 5, 0, 5);
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
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 200, "DMAR: ", NULL)) {
		TH_LOG("a DMAR fault was logged for a pinned page");
	}

	/* Already pinned: a no-op, no new FOLL_PIN, no new charge. */
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, coiommu_pin_range(self->fd, P(R0, 6), 4 * CT_PAGE));
	ASSERT_EQ(0, coiommu_pin_range(self->fd, P(R0, 7), CT_PAGE));
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(a.acquired, b.acquired) {
		TH_LOG("re-pinning pinned pages took %lu new pins",
		       b.acquired - a.acquired);
	}
	expect_stats(_metadata, self->fd, 5, 5, 0, 5);
	EXPECT_EQ(20, ct_locked_vm_kb(getpid()));

	/* Half pinned: only the new page is pinned. */
	ASSERT_EQ(0, coiommu_pin_range(self->fd, P(R1, 1), 2 * CT_PAGE));
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(a.acquired + 1, b.acquired);
	expect_stats(_metadata, self->fd, 6, 6, 0, 6);
	EXPECT_EQ(24, ct_locked_vm_kb(getpid()));
	CT_DMA_LANDS(g, e, P(R1, 2) + 1, buf, LEN);

	/* Unpin everything: counters back, peak kept. */
	ASSERT_EQ(0, coiommu_unpin_range(self->fd, P(R0, 6), 5 * CT_PAGE));
	expect_stats(_metadata, self->fd, 1, 6, 5, 6);
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));
	ASSERT_EQ(0, coiommu_unpin_range(self->fd, R2, NP * CT_PAGE));
	expect_stats(_metadata, self->fd, 0, 6, 6, 6);
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
	EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));
	CT_RAM_CHECK(g, "after unpin");
}

TEST_HARNESS_MAIN
