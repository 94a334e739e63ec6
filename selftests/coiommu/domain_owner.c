// SPDX-License-Identifier: GPL-2.0
/*
 * domain_owner: one instance per IOMMU domain. The page table of a domain
 * is the instance's to fill and empty; two instances sharing it would
 * unmap each other's pages.
 *
 *   second_instance   a second instance given the same device, or
 *                     another device of the same domain (one type1
 *                     container), is refused with -EBUSY; a device of
 *                     another domain is accepted; the first instance
 *                     keeps working, before and after the second closes
 *   two_containers    one instance with devices in two containers (two
 *                     domains) is allowed: each domain holds the pinned
 *                     pages, DMA through both lands, and the teardown is
 *                     clean whatever the order of closing (variants)
 *
 * A device file of a group not in a type1 container cannot be obtained
 * on the rig's kernel (6.1, no iommufd, no VFIO cdev): VFIO hands out a
 * device file only once its group is in a container with an IOMMU set
 * (-EINVAL otherwise). bad_args covers the files that are not VFIO
 * device files.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct_fixture.h"

#define BASE	0x800000UL
#define NP	8
#define P(n)	(BASE + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX
/* A DMA to @gpa that stays in its page. */
#define FIT(gpa)	(CT_PAGE - ((gpa) & (CT_PAGE - 1)) < LEN ? \
			 CT_PAGE - ((gpa) & (CT_PAGE - 1)) : LEN)

FIXTURE(own) {
	struct ct_env env;
	struct ct_edu a, b;
	struct ct_kmsg kmsg;
	struct ct_ram g;
	char bdf[4][32];
	int fd, fd2;
};

FIXTURE_VARIANT(own) {
	int order;	/* two_containers: which files close first */
};

enum { INSTANCE_FIRST, VFIO_FIRST, INTERLEAVED };

FIXTURE_VARIANT_ADD(own, instance_first) { .order = INSTANCE_FIRST };
FIXTURE_VARIANT_ADD(own, vfio_first) { .order = VFIO_FIRST };
FIXTURE_VARIANT_ADD(own, interleaved) { .order = INTERLEAVED };

FIXTURE_SETUP(own)
{
	self->fd = self->fd2 = -1;
	self->kmsg.fd = -1;
	self->a.device = self->a.group = self->a.container = -1;
	self->b.device = self->b.group = self->b.container = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_LE(2, ct_edu_list(self->bdf, 4)) {
		TH_LOG("the VM must have two edu devices");
	}
	ASSERT_EQ(0, ct_ram_init(&self->g, NP * CT_PAGE));
	ASSERT_EQ(0, ct_ram_add(&self->g, BASE, 0, NP * CT_PAGE));
	ct_ram_fill(&self->g, 0x0770);
	ASSERT_EQ(0, ct_kmsg_open(&self->kmsg));
	self->fd = ct_co_open();
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ct_ram_set_map(&self->g, self->fd));
}

FIXTURE_TEARDOWN(own)
{
	if (self->fd2 >= 0)
		close(self->fd2);
	if (self->fd >= 0)
		close(self->fd);
	ct_kmsg_close(&self->kmsg);
	ct_edu_close(&self->b);
	ct_edu_close(&self->a);
	ct_ram_free(&self->g);
	ct_env_teardown(_metadata, &self->env);
}

static void expect_devices(struct __test_metadata *_metadata, int fd,
			   unsigned int devices, unsigned int domains)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, ct_co_stats(fd, &st));
	EXPECT_EQ(devices, st.nr_devices);
	EXPECT_EQ(domains, st.nr_domains);
}

TEST_F_TIMEOUT(own, second_instance, 180)
{
	struct ct_ram *g = &self->g;
	struct ct_edu *a = &self->a, *b = &self->b;
	uint8_t bufa[LEN], bufb[LEN];

	if (variant->order != INSTANCE_FIRST)
		SKIP(return, "one run is enough");

	/* A and B share one container, and so one domain. */
	ASSERT_EQ(0, ct_edu_open(a, self->bdf[0], -1));
	ASSERT_EQ(0, ct_edu_open(b, self->bdf[1], a->container));
	ASSERT_EQ(0, ct_co_add_edu(self->fd, a));
	ASSERT_EQ(0, ct_co_pin(self->fd, P(0), 2 * CT_PAGE));
	CT_EDU_LOAD(g, a, P(0), bufa, LEN);
	CT_DMA_LANDS(g, a, P(1), bufa, LEN);

	self->fd2 = ct_co_open();
	ASSERT_LE(0, self->fd2);
	ASSERT_EQ(0, ct_ram_set_map(g, self->fd2));
	/* The same device, and another device of the same domain. */
	EXPECT_EQ(-EBUSY, ct_co_add_edu(self->fd2, a));
	EXPECT_EQ(-EBUSY, ct_co_add_edu(self->fd2, b));
	expect_devices(_metadata, self->fd2, 0, 0);

	/* The owner still works; the refused instance closes harmlessly. */
	CT_DMA_LANDS(g, a, P(0) + 7, bufa, FIT(P(0) + 7));
	close(self->fd2);
	self->fd2 = -1;
	CT_EDU_LOAD(g, b, P(0), bufb, LEN);
	CT_DMA_LANDS(g, b, P(1) + 9, bufb, FIT(P(1) + 9));
	expect_devices(_metadata, self->fd, 1, 1);
	EXPECT_EQ(2, ct_pins_outstanding(&self->env.base));

	/* B moves to a container (domain) of its own: another owner is fine. */
	ct_edu_close(b);
	ASSERT_EQ(0, ct_edu_open_retry(b, self->bdf[1], -1, 3000));
	self->fd2 = ct_co_open();
	ASSERT_LE(0, self->fd2);
	ASSERT_EQ(0, ct_ram_set_map(g, self->fd2));
	EXPECT_EQ(0, ct_co_add_edu(self->fd2, b));
	EXPECT_EQ(-EBUSY, ct_co_add_edu(self->fd2, a));
	expect_devices(_metadata, self->fd2, 1, 1);
	ASSERT_EQ(0, ct_co_pin(self->fd2, P(4), CT_PAGE));
	CT_EDU_LOAD(g, b, P(4), bufb, LEN);
	CT_DMA_LANDS(g, b, P(4) + 1, bufb, FIT(P(4) + 1));
	EXPECT_EQ(3, ct_pins_outstanding(&self->env.base));
	close(self->fd2);
	self->fd2 = -1;
	EXPECT_EQ(2, ct_pins_outstanding(&self->env.base));
	CT_DMA_BLOCKED(g, b, &self->kmsg, P(4), LEN);
	CT_DMA_LANDS(g, a, P(1) + 2, bufa, FIT(P(1) + 2));
}

/* Two containers, two domains, one instance: the safe layout. */
TEST_F_TIMEOUT(own, two_containers, 180)
{
	struct ct_ram *g = &self->g;
	struct ct_edu *a = &self->a, *b = &self->b;
	struct ct_kmsg *k = &self->kmsg;
	uint8_t bufa[LEN], bufb[LEN];

	ASSERT_EQ(0, ct_edu_open_retry(a, self->bdf[0], -1, 3000));
	ASSERT_EQ(0, ct_edu_open_retry(b, self->bdf[1], -1, 3000));
	ASSERT_EQ(0, ct_co_add_edu(self->fd, a));
	ASSERT_EQ(0, ct_co_pin(self->fd, P(0), 2 * CT_PAGE));
	ASSERT_EQ(0, ct_co_add_edu(self->fd, b));
	ASSERT_EQ(0, ct_co_pin(self->fd, P(2), 2 * CT_PAGE));
	expect_devices(_metadata, self->fd, 2, 2);
	EXPECT_EQ(4, ct_pins_outstanding(&self->env.base));

	/* Pages pinned before and after B came reach both domains. */
	CT_EDU_LOAD(g, a, P(0), bufa, LEN);
	CT_EDU_LOAD(g, b, P(3), bufb, LEN);
	CT_DMA_LANDS(g, a, P(2) + 1, bufa, FIT(P(2) + 1));
	CT_DMA_LANDS(g, b, P(1) + 2, bufb, FIT(P(1) + 2));
	CT_DMA_LANDS(g, b, P(0) + 3, bufb, FIT(P(0) + 3));
	CT_DMA_LANDS(g, a, P(3) + 4, bufa, FIT(P(3) + 4));

	switch (variant->order) {
	case INSTANCE_FIRST:
		/* The instance goes: both domains are emptied, pins returned. */
		close(self->fd);
		self->fd = -1;
		EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));
		CT_DMA_BLOCKED(g, a, k, P(0), LEN);
		CT_DMA_BLOCKED(g, b, k, P(3), LEN);
		ct_edu_close(a);
		ct_edu_close(b);
		break;
	case VFIO_FIRST:
		/* The VMM drops every VFIO file: the instance's references hold. */
		ct_edu_close(a);
		ct_edu_close(b);
		EXPECT_EQ(4, ct_pins_outstanding(&self->env.base));
		expect_devices(_metadata, self->fd, 2, 2);
		close(self->fd);
		self->fd = -1;
		break;
	case INTERLEAVED:
		ct_edu_close(a);
		CT_DMA_LANDS(g, b, P(1) + 5, bufb, FIT(P(1) + 5));
		close(self->fd);
		self->fd = -1;
		EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));
		CT_DMA_BLOCKED(g, b, k, P(1), LEN);
		ct_edu_close(b);
		break;
	}
	EXPECT_FALSE(ct_kmsg_wait(k, 100, "WARNING", NULL));
}

TEST_HARNESS_MAIN
