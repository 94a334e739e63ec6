// SPDX-License-Identifier: GPL-2.0
/*
 * index_memory: the kernel memory of the index of pinned pages, as the
 * instance reports it (metadata_bytes), per pinned page: clustered pins
 * (a 64 MiB range) must cost at most 16 bytes a page (VFIO type1 spends
 * about 128 per mapping); the worst case, one pinned page in every
 * 64-page chunk, is measured and logged: a chunk records the host page of
 * each of its 64 pages (issue 15: the module's own record of what it
 * pinned), 576 bytes, plus its share of an xarray node, so at most 640
 * bytes there. Freed chunks are given back, but one kept for reuse. The growth of Slab in /proc/meminfo is logged too (the
 * IOMMU driver's own structures are in it); the benchmarks (P3) compare
 * slab deltas with VFIO type1's.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/coiommu.h>

#include "ct_fixture.h"

#define GPA	0x10000000ULL
#define SIZE	(64ULL << 20)
#define PAGES	(SIZE / CT_PAGE)

static long meminfo_kb(const char *key)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");
	size_t n = strlen(key);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			sscanf(line + n + 1, "%ld", &kb);
	fclose(f);
	return kb;
}

FIXTURE(idx) {
	struct ct_env env;
	struct ct_edu edu;
	int co;
	void *ram;
};

FIXTURE_SETUP(idx)
{
	char bdf[4][32];
	struct coiommu_region r;

	self->co = -1;
	self->edu.device = self->edu.group = self->edu.container = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_LE(1, ct_edu_list(bdf, 4));
	ASSERT_EQ(0, ct_edu_open_retry(&self->edu, bdf[0], -1, 3000));
	self->ram = mmap(NULL, SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ram);
	memset(self->ram, 1, SIZE);	/* fault it in: not our memory */
	self->co = coiommu_open();
	ASSERT_LE(0, self->co);
	r = (struct coiommu_region){ .gpa = GPA, .size = SIZE,
				     .vaddr = (uintptr_t)self->ram };
	ASSERT_EQ(0, coiommu_set_memory(self->co, &r, 1));
	ASSERT_EQ(0, ct_co_add_edu(self->co, &self->edu));
}

FIXTURE_TEARDOWN(idx)
{
	if (self->co >= 0)
		close(self->co);
	ct_edu_close(&self->edu);
	if (self->ram && self->ram != MAP_FAILED)
		munmap(self->ram, SIZE);
	ct_env_teardown(_metadata, &self->env);
}

TEST_F(idx, index_memory)
{
	struct coiommu_stats st;
	long slab0, slab1;
	uint64_t empty, i;
	double dense, sparse;

	/* The memory map costs its regions only: the index starts empty. */
	ASSERT_EQ(0, coiommu_get_stats(self->co, &st));
	empty = st.metadata_bytes;
	TH_LOG("memory map of %llu MiB: %llu bytes of index before any pin",
	       SIZE >> 20, (unsigned long long)empty);

	slab0 = meminfo_kb("Slab");
	ASSERT_EQ(0, coiommu_pin_range(self->co, GPA, SIZE));
	slab1 = meminfo_kb("Slab");
	ASSERT_EQ(0, coiommu_get_stats(self->co, &st));
	ASSERT_EQ(PAGES, st.pinned_pages);
	dense = (double)st.metadata_bytes / PAGES;
	TH_LOG("clustered: %llu pages pinned, %llu bytes of index: %.2f bytes per pinned page (slab grew %ld KiB)",
	       (unsigned long long)st.pinned_pages,
	       (unsigned long long)st.metadata_bytes, dense, slab1 - slab0);
	EXPECT_GE(16.0, dense);
	ASSERT_EQ(0, coiommu_unpin_range(self->co, GPA, SIZE));
	ASSERT_EQ(0, coiommu_get_stats(self->co, &st));
	/* Every chunk freed but one kept for reuse (576 bytes). */
	EXPECT_LE(empty, st.metadata_bytes);
	EXPECT_GE(empty + 576, st.metadata_bytes) {
		TH_LOG("chunks not freed when their pages were unpinned");
	}

	/* The worst case: one page in every 64-page chunk. */
	for (i = 0; i < PAGES; i += 64)
		ASSERT_EQ(0, coiommu_pin_range(self->co, GPA + i * CT_PAGE, CT_PAGE));
	ASSERT_EQ(0, coiommu_get_stats(self->co, &st));
	ASSERT_EQ(PAGES / 64, st.pinned_pages);
	sparse = (double)st.metadata_bytes / st.pinned_pages;
	TH_LOG("scattered (1 page per 64): %llu pages pinned, %.2f bytes per pinned page",
	       (unsigned long long)st.pinned_pages, sparse);
	EXPECT_GE(640.0, sparse);
	ASSERT_EQ(0, coiommu_unpin_range(self->co, GPA, SIZE));
}

TEST_HARNESS_MAIN
