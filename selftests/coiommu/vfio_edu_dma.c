// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_edu_dma: the rig's DMA proof works. edu, bound to vfio-pci, copies a
 * buffer mapped with type1 VFIO_IOMMU_MAP_DMA from RAM to the device and
 * back to another page, byte for byte; a DMA to an IOVA that is not mapped
 * (any more) does not reach memory and the DMAR fault shows in the log.
 */
#include <string.h>
#include <sys/mman.h>

#include "ct_fixture.h"

#define IOVA	0x1000000UL	/* below edu's 28-bit DMA mask */
#define LEN	CT_EDU_DMA_MAX

FIXTURE(edu) {
	struct ct_env env;
	struct ct_edu edu;
	struct ct_kmsg kmsg;
	uint8_t *buf;		/* 4 pages: guard, src, dst, guard */
};

FIXTURE_SETUP(edu)
{
	char bdf[4][32];

	self->kmsg.fd = -1;
	self->edu.device = self->edu.group = self->edu.container = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_LE(1, ct_edu_list(bdf, 4));
	ASSERT_EQ(0, ct_edu_open(&self->edu, bdf[0], -1));
	ASSERT_EQ(0x010000ed, ct_edu_ident(&self->edu) & 0xff0000ff);
	self->buf = mmap(NULL, 4 * CT_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	ASSERT_EQ(0, ct_kmsg_open(&self->kmsg));
}

FIXTURE_TEARDOWN(edu)
{
	ct_kmsg_close(&self->kmsg);
	ct_edu_close(&self->edu);
	if (self->buf && self->buf != MAP_FAILED)
		munmap(self->buf, 4 * CT_PAGE);
	ct_env_teardown(_metadata, &self->env);
}

TEST_F(edu, vfio_edu_dma)
{
	uint8_t *guard0 = self->buf, *src = self->buf + CT_PAGE;
	uint8_t *dst = self->buf + 2 * CT_PAGE, *guard3 = self->buf + 3 * CT_PAGE;
	static uint8_t expect[4 * CT_PAGE];

	ct_fill(self->buf, 4 * CT_PAGE, 1);
	ct_fill(src, CT_PAGE, 2);
	memcpy(expect, self->buf, sizeof(expect));
	ASSERT_EQ(0, ct_vfio_map(self->edu.container, self->buf, IOVA,
				 4 * CT_PAGE));

	/* RAM -> device -> RAM, into the next page. */
	ASSERT_EQ(0, ct_edu_dma(&self->edu, IOVA + CT_PAGE, 0, LEN, false));
	ASSERT_EQ(0, ct_edu_dma(&self->edu, IOVA + 2 * CT_PAGE, 0, LEN, true));
	memcpy(expect + 2 * CT_PAGE, src, LEN);
	EXPECT_EQ(0, memcmp(dst, src, LEN));
	EXPECT_EQ(0, memcmp(self->buf, expect, sizeof(expect))) {
		TH_LOG("DMA touched bytes outside its target");
	}
	EXPECT_EQ(0, memcmp(guard0, expect, CT_PAGE));
	EXPECT_EQ(0, memcmp(guard3, expect + 3 * CT_PAGE, CT_PAGE));
	EXPECT_FALSE(ct_kmsg_dmar_fault(&self->kmsg, IOVA + 2 * CT_PAGE,
					true, 200));

	/* Unmapped: the same DMA write is blocked and faults. */
	ASSERT_EQ(0, ct_vfio_unmap(self->edu.container, IOVA, 4 * CT_PAGE));
	ct_fill(dst, CT_PAGE, 3);
	memcpy(expect, self->buf, sizeof(expect));
	ASSERT_EQ(0, ct_edu_dma(&self->edu, IOVA + 2 * CT_PAGE, 0, LEN, true));
	EXPECT_EQ(0, memcmp(self->buf, expect, sizeof(expect))) {
		TH_LOG("a DMA to an unmapped IOVA reached memory");
	}
	EXPECT_TRUE(ct_kmsg_dmar_fault(&self->kmsg, IOVA + 2 * CT_PAGE,
				       true, 3000));

	/* A never-mapped IOVA: read faults too (reason 0x06 side). */
	ASSERT_EQ(0, ct_edu_dma(&self->edu, 0x2000000, 0, 64, false));
	EXPECT_TRUE(ct_kmsg_dmar_fault(&self->kmsg, 0x2000000, false, 3000));
}

TEST_HARNESS_MAIN
