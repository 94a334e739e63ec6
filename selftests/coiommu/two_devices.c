// SPDX-License-Identifier: GPL-2.0
/*
 * two_devices: one instance, two edu devices, each in a container (and so
 * an IOMMU domain) of its own. A pin reaches both domains; a device added
 * after pages were pinned gets them too (replay), without new pins or
 * charges; an unpin blocks both. Before it is added, a device reaches
 * nothing. With both devices in one container there is one domain.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ctv_fixture.h"

#define NP	16
#define BASE	0x400000UL
#define P(n)	(BASE + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX

CTV_FIXTURE(co, .open_edu = 2, .arena = NP * CT_PAGE, .base = BASE,
	    .seed = 0x2de5);

static void expect_stats(struct __test_metadata *_metadata, int fd,
			 unsigned int devices, unsigned int domains,
			 unsigned long pinned, unsigned long pins)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(devices, st.nr_devices);
	EXPECT_EQ(domains, st.nr_domains);
	EXPECT_EQ(pinned, st.pinned_pages);
	EXPECT_EQ(pins, st.pins);
}

TEST_F_TIMEOUT(co, two_devices, 120)
{
	struct ct_ram *g = &self->v.g;
	struct ct_edu *a = &self->v.a, *b = &self->v.b;
	struct ct_kmsg *k = &self->v.kmsg;
	uint8_t bufa[LEN], bufb[LEN];
	struct ct_pins before, after;

	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, a));
	expect_stats(_metadata, self->v.fd, 1, 1, 0, 0);
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(0), 4 * CT_PAGE));
	expect_stats(_metadata, self->v.fd, 1, 1, 4, 4);

	/* A reaches the pinned pages; B, not added, reaches nothing. */
	CT_EDU_LOAD(g, a, P(0), bufa, LEN);
	CT_DMA_LANDS(g, a, P(3), bufa, LEN);
	CT_DMA_BLOCKED(g, b, k, P(2), LEN);

	/* Adding B replays the 4 pinned pages into its domain. */
	ASSERT_EQ(0, ct_pins_read(&before));
	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, b));
	ASSERT_EQ(0, ct_pins_read(&after));
	expect_stats(_metadata, self->v.fd, 2, 2, 4, 4);
	EXPECT_EQ(before.acquired, after.acquired) {
		TH_LOG("replay took %lu new FOLL_PIN pins",
		       after.acquired - before.acquired);
	}
	EXPECT_EQ(16, ct_locked_vm_kb(getpid()));
	CT_EDU_LOAD(g, b, P(1), bufb, LEN);
	CT_DMA_LANDS(g, b, P(2), bufb, LEN);
	CT_DMA_LANDS(g, a, P(2), bufa, LEN);

	/* A pin made with both added reaches both. */
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(4), CT_PAGE));
	expect_stats(_metadata, self->v.fd, 2, 2, 5, 5);
	EXPECT_EQ(5, ct_pins_outstanding(&self->v.env.base));
	EXPECT_EQ(20, ct_locked_vm_kb(getpid()));
	CT_DMA_LANDS(g, a, P(4), bufa, LEN);
	CT_DMA_LANDS(g, b, P(4) + 1, bufb, LEN);

	/* Unpin: both are blocked. */
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(0), 5 * CT_PAGE));
	expect_stats(_metadata, self->v.fd, 2, 2, 0, 5);
	EXPECT_EQ(0, ct_pins_outstanding(&self->v.env.base));
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
	CT_DMA_BLOCKED(g, a, k, P(1), LEN);
	CT_DMA_BLOCKED(g, b, k, P(0), LEN);
}

/* Two devices in one container share a domain, and so its mappings. */
TEST_F_TIMEOUT(co, two_devices_one_domain, 120)
{
	struct ct_ram *g = &self->v.g;
	struct ct_edu *a = &self->v.a, *b = &self->v.b;
	uint8_t bufa[LEN], bufb[LEN];

	ct_edu_close(b);
	ASSERT_EQ(0, ct_edu_open(b, self->v.bdf[1], a->container));
	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, a));
	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, b));
	expect_stats(_metadata, self->v.fd, 2, 1, 0, 0);
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(8), 2 * CT_PAGE));
	expect_stats(_metadata, self->v.fd, 2, 1, 2, 2);
	EXPECT_EQ(2, ct_pins_outstanding(&self->v.env.base));
	CT_EDU_LOAD(g, a, P(8), bufa, LEN);
	CT_DMA_LANDS(g, a, P(9), bufa, LEN);
	CT_EDU_LOAD(g, b, P(9) + 1, bufb, LEN);
	CT_DMA_LANDS(g, b, P(8), bufb, LEN);
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(8), 2 * CT_PAGE));
	expect_stats(_metadata, self->v.fd, 2, 1, 0, 2);
	CT_DMA_BLOCKED(g, b, &self->v.kmsg, P(9), LEN);
}

TEST_HARNESS_MAIN
