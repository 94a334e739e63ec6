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

#include "ctv_fixture.h"

#define BASE	0x800000UL
#define NP	8
#define P(n)	(BASE + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX
/* A DMA to @gpa that stays in its page. */
#define FIT(gpa)	(CT_PAGE - ((gpa) & (CT_PAGE - 1)) < LEN ? \
			 CT_PAGE - ((gpa) & (CT_PAGE - 1)) : LEN)

struct owner {
	struct ctv v;
	int fd2;
};

static void owner_setup(struct __test_metadata *_metadata, struct owner *o)
{
	const struct ctv_cfg cfg = {
		.min_edu = 2, .arena = NP * CT_PAGE, .base = BASE,
		.seed = 0x0770,
	};

	o->fd2 = -1;
	ctv_setup(_metadata, &o->v, &cfg);
}

static void owner_teardown(struct __test_metadata *_metadata, struct owner *o)
{
	if (o->fd2 >= 0)
		close(o->fd2);
	ctv_teardown(_metadata, &o->v);
}

FIXTURE(own) {
	struct owner o;
};

FIXTURE_SETUP(own)
{
	owner_setup(_metadata, &self->o);
}

FIXTURE_TEARDOWN(own)
{
	owner_teardown(_metadata, &self->o);
}

/* two_containers, in each order of closing the files. */
FIXTURE(two) {
	struct owner o;
};

FIXTURE_VARIANT(two) {
	int order;
};

enum { INSTANCE_FIRST, VFIO_FIRST, INTERLEAVED };

FIXTURE_VARIANT_ADD(two, instance_first) { .order = INSTANCE_FIRST };
FIXTURE_VARIANT_ADD(two, vfio_first) { .order = VFIO_FIRST };
FIXTURE_VARIANT_ADD(two, interleaved) { .order = INTERLEAVED };

FIXTURE_SETUP(two)
{
	owner_setup(_metadata, &self->o);
}

FIXTURE_TEARDOWN(two)
{
	owner_teardown(_metadata, &self->o);
}

static void expect_devices(struct __test_metadata *_metadata, int fd,
			   unsigned int devices, unsigned int domains)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(devices, st.nr_devices);
	EXPECT_EQ(domains, st.nr_domains);
}

TEST_F_TIMEOUT(own, second_instance, 180)
{
	struct owner *o = &self->o;
	struct ct_ram *g = &o->v.g;
	struct ct_edu *a = &o->v.a, *b = &o->v.b;
	uint8_t bufa[LEN], bufb[LEN];

	/* A and B share one container, and so one domain. */
	ASSERT_EQ(0, ct_edu_open(a, o->v.bdf[0], -1));
	ASSERT_EQ(0, ct_edu_open(b, o->v.bdf[1], a->container));
	ASSERT_EQ(0, ct_co_add_edu(o->v.fd, a));
	ASSERT_EQ(0, coiommu_pin_range(o->v.fd, P(0), 2 * CT_PAGE));
	CT_EDU_LOAD(g, a, P(0), bufa, LEN);
	CT_DMA_LANDS(g, a, P(1), bufa, LEN);

	o->fd2 = coiommu_open();
	ASSERT_LE(0, o->fd2);
	ASSERT_EQ(0, ct_ram_set_map(g, o->fd2));
	/* The same device, and another device of the same domain. */
	EXPECT_EQ(-EBUSY, ct_co_add_edu(o->fd2, a));
	EXPECT_EQ(-EBUSY, ct_co_add_edu(o->fd2, b));
	expect_devices(_metadata, o->fd2, 0, 0);

	/* The owner still works; the refused instance closes harmlessly. */
	CT_DMA_LANDS(g, a, P(0) + 7, bufa, FIT(P(0) + 7));
	close(o->fd2);
	o->fd2 = -1;
	CT_EDU_LOAD(g, b, P(0), bufb, LEN);
	CT_DMA_LANDS(g, b, P(1) + 9, bufb, FIT(P(1) + 9));
	expect_devices(_metadata, o->v.fd, 1, 1);
	EXPECT_EQ(2, ct_pins_outstanding(&o->v.env.base));

	/* B moves to a container (domain) of its own: another owner is fine. */
	ct_edu_close(b);
	ASSERT_EQ(0, ct_edu_open_retry(b, o->v.bdf[1], -1, 3000));
	o->fd2 = coiommu_open();
	ASSERT_LE(0, o->fd2);
	ASSERT_EQ(0, ct_ram_set_map(g, o->fd2));
	EXPECT_EQ(0, ct_co_add_edu(o->fd2, b));
	EXPECT_EQ(-EBUSY, ct_co_add_edu(o->fd2, a));
	expect_devices(_metadata, o->fd2, 1, 1);
	ASSERT_EQ(0, coiommu_pin_range(o->fd2, P(4), CT_PAGE));
	CT_EDU_LOAD(g, b, P(4), bufb, LEN);
	CT_DMA_LANDS(g, b, P(4) + 1, bufb, FIT(P(4) + 1));
	EXPECT_EQ(3, ct_pins_outstanding(&o->v.env.base));
	close(o->fd2);
	o->fd2 = -1;
	EXPECT_EQ(2, ct_pins_outstanding(&o->v.env.base));
	CT_DMA_BLOCKED(g, b, &o->v.kmsg, P(4), LEN);
	CT_DMA_LANDS(g, a, P(1) + 2, bufa, FIT(P(1) + 2));
}

/* Two containers, two domains, one instance: the safe layout. */
TEST_F_TIMEOUT(two, two_containers, 180)
{
	struct owner *o = &self->o;
	struct ct_ram *g = &o->v.g;
	struct ct_edu *a = &o->v.a, *b = &o->v.b;
	struct ct_kmsg *k = &o->v.kmsg;
	uint8_t bufa[LEN], bufb[LEN];

	ASSERT_EQ(0, ct_edu_open_retry(a, o->v.bdf[0], -1, 3000));
	ASSERT_EQ(0, ct_edu_open_retry(b, o->v.bdf[1], -1, 3000));
	ASSERT_EQ(0, ct_co_add_edu(o->v.fd, a));
	ASSERT_EQ(0, coiommu_pin_range(o->v.fd, P(0), 2 * CT_PAGE));
	ASSERT_EQ(0, ct_co_add_edu(o->v.fd, b));
	ASSERT_EQ(0, coiommu_pin_range(o->v.fd, P(2), 2 * CT_PAGE));
	expect_devices(_metadata, o->v.fd, 2, 2);
	EXPECT_EQ(4, ct_pins_outstanding(&o->v.env.base));

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
		close(o->v.fd);
		o->v.fd = -1;
		EXPECT_EQ(0, ct_pins_outstanding(&o->v.env.base));
		CT_DMA_BLOCKED(g, a, k, P(0), LEN);
		CT_DMA_BLOCKED(g, b, k, P(3), LEN);
		ct_edu_close(a);
		ct_edu_close(b);
		break;
	case VFIO_FIRST:
		/* The VMM drops every VFIO file: the instance's references hold. */
		ct_edu_close(a);
		ct_edu_close(b);
		EXPECT_EQ(4, ct_pins_outstanding(&o->v.env.base));
		expect_devices(_metadata, o->v.fd, 2, 2);
		close(o->v.fd);
		o->v.fd = -1;
		break;
	case INTERLEAVED:
		ct_edu_close(a);
		CT_DMA_LANDS(g, b, P(1) + 5, bufb, FIT(P(1) + 5));
		close(o->v.fd);
		o->v.fd = -1;
		EXPECT_EQ(0, ct_pins_outstanding(&o->v.env.base));
		CT_DMA_BLOCKED(g, b, k, P(1), LEN);
		ct_edu_close(b);
		break;
	}
	EXPECT_FALSE(ct_kmsg_wait(k, 100, "WARNING", NULL));
}

TEST_HARNESS_MAIN
