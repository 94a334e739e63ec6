// SPDX-License-Identifier: GPL-2.0
/*
 * bounded_work: what an instance costs follows the pages it pins, not the
 * RAM its VMM declares.
 *
 *   declared_ram_cap  a 2^46-byte PROT_NONE MAP_NORESERVE region is
 *                     refused with -ENOSPC, without a splat (no kernel
 *                     allocation sized by it); so is a map whose regions
 *                     add up to COIOMMU_MAX_RAM + 4 KiB; exactly
 *                     COIOMMU_MAX_RAM is accepted
 *   sparse_instance   a huge sparse region (PROT_NONE MAP_NORESERVE but
 *                     for its last page) with one page pinned at its end:
 *                     UNPIN_RANGE and FORCE_UNPIN over the whole region,
 *                     adding a device (a new domain), reading debugfs
 *                     <id>.pinned, and closing the instance each take well
 *                     under a second of CPU (at most CPU_MS), with
 *                     kernel.watchdog_thresh=1 and no soft lockup
 *
 * watchdog_thresh=1 (a soft lockup after 2 s without scheduling) is set
 * only around each measured call and restored after it: the rig's VM runs
 * its vCPUs on one host thread, and a host stall of 2 s elsewhere in the
 * test would report a soft lockup that no call of ours caused.
 *
 * The huge region sits at GPA 4 GiB, above the interrupt window the
 * IOMMU reserves, and ends at the top of what the IOMMU translates: the
 * emulated VT-d's MGAW (its cap register; QEMU's default aw-bits=39 gives
 * 512 GiB) or 4 GiB + 1 TiB, whichever is lower, so 508 GiB on the rig.
 * edu masks its DMA addresses to 28 bits, so the page at the end cannot be
 * reached by edu: a small low region with a pinned page shows that DMA
 * works in the same instance, and the high page's pin is shown by the
 * FOLL_PIN counters, stats and debugfs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ct_fixture.h"

#define LOW	0x200000UL		/* small region for DMA */
#define LOW_NP	4
#define BIG_GPA	(4ULL << 30)
#define BIG_MAX	(1ULL << 40)
#define CPU_MS	300			/* "well under a second" */
/* Index bytes for two pinned pages far apart: chunks and tree nodes. */
#define SPARSE_META	65536
#define LEN	CT_EDU_DMA_MAX
#define WD	"/proc/sys/kernel/watchdog_thresh"
#define CAP	"/sys/class/iommu/dmar0/intel-iommu/cap"

FIXTURE(bw) {
	struct ct_env env;
	struct ct_kmsg kmsg;
	char wd[16];		/* watchdog_thresh to restore */
	int fd;
};

FIXTURE_SETUP(bw)
{
	FILE *f;

	self->fd = -1;
	self->kmsg.fd = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_EQ(0, ct_kmsg_open(&self->kmsg));
	self->wd[0] = 0;
	/* The debug kernel (make check-debug) has no lockup detector. */
	f = fopen(WD, "re");
	if (!f) {
		TH_LOG("no %s: no soft-lockup detector in this kernel", WD);
		return;
	}
	if (!fgets(self->wd, sizeof(self->wd), f))
		self->wd[0] = 0;
	fclose(f);
}

FIXTURE_TEARDOWN(bw)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->wd[0])
		ct_write_file(WD, self->wd);
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 100, "soft lockup", NULL));
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 0, "WARNING", NULL));
	ct_kmsg_close(&self->kmsg);
	ct_env_teardown(_metadata, &self->env);
}

static int set_map(int fd, uint64_t *gpa, uint64_t *size, uint8_t *vaddr,
		   unsigned int nr)
{
	struct coiommu_region r[4];
	unsigned int i;

	for (i = 0; i < nr; i++) {
		r[i] = (struct coiommu_region){ .gpa = gpa[i], .size = size[i],
						.vaddr = (uintptr_t)vaddr };
		vaddr += size[i];
	}
	return coiommu_set_memory(fd, r, nr);
}

TEST_F_TIMEOUT(bw, declared_ram_cap, 120)
{
	const uint64_t big = 1ULL << 46, half = COIOMMU_MAX_RAM / 2;
	uint64_t gpa[2], size[2];
	struct coiommu_stats st;
	uint8_t *va;

	va = mmap(NULL, big, PROT_NONE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, va);

	/* 64 TiB in one region. */
	self->fd = coiommu_open();
	ASSERT_LE(0, self->fd);
	gpa[0] = 1ULL << 46;
	size[0] = big;
	EXPECT_EQ(-ENOSPC, set_map(self->fd, gpa, size, va, 1));
	ASSERT_EQ(0, coiommu_get_stats(self->fd, &st));
	TH_LOG("index memory after the refusal: %llu bytes",
	       (unsigned long long)st.metadata_bytes);
	EXPECT_GT(4096, st.metadata_bytes);
	close(self->fd);

	/* COIOMMU_MAX_RAM + 4 KiB in two regions. */
	self->fd = coiommu_open();
	ASSERT_LE(0, self->fd);
	gpa[0] = 1ULL << 44;
	size[0] = half;
	gpa[1] = 1ULL << 45;
	size[1] = half + CT_PAGE;
	EXPECT_EQ(-ENOSPC, set_map(self->fd, gpa, size, va, 2));
	close(self->fd);

	/* Exactly COIOMMU_MAX_RAM: accepted, and costs next to nothing. */
	self->fd = coiommu_open();
	ASSERT_LE(0, self->fd);
	size[1] = half;
	EXPECT_EQ(0, set_map(self->fd, gpa, size, va, 2));
	ASSERT_EQ(0, coiommu_get_stats(self->fd, &st));
	TH_LOG("index memory of a %llu TiB memory map, nothing pinned: %llu bytes",
	       (unsigned long long)(COIOMMU_MAX_RAM >> 40),
	       (unsigned long long)st.metadata_bytes);
	EXPECT_GT(4096, st.metadata_bytes);
	close(self->fd);
	self->fd = -1;
	munmap(va, big);
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 100, "WARNING", NULL));
}

/* Guest address width of the emulated VT-d: its MGAW, in bits. */
static int iommu_mgaw(void)
{
	unsigned long long cap;
	FILE *f = fopen(CAP, "re");
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "%llx", &cap);
	fclose(f);
	return n == 1 ? ((cap >> 16) & 0x3f) + 1 : -1;
}

struct cost {
	long cpu_ms;
	long wall_ms;
	struct timespec c0;
	long w0;
	const char *wd;		/* watchdog_thresh to restore, or "" */
};

/* Tighten the soft-lockup detector, then start measuring. */
static void cost_start(struct __test_metadata *_metadata, struct cost *c,
		       const char *wd)
{
	c->wd = wd;
	if (wd[0])
		ASSERT_EQ(0, ct_write_file(WD, "1"));
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c->c0);
	c->w0 = ct_now_ms();
}

/* Stop measuring, then give the detector its threshold back. */
static void cost_end(struct __test_metadata *_metadata, struct cost *c)
{
	struct timespec c1;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	c->cpu_ms = (c1.tv_sec - c->c0.tv_sec) * 1000L +
		    (c1.tv_nsec - c->c0.tv_nsec) / 1000000L;
	c->wall_ms = ct_now_ms() - c->w0;
	if (c->wd[0])
		ASSERT_EQ(0, ct_write_file(WD, c->wd));
}

#define EXPECT_CHEAP(c, what) do {					\
	TH_LOG("%s: %ld ms CPU, %ld ms wall", what, (c).cpu_ms,		\
	       (c).wall_ms);						\
	EXPECT_GE(CPU_MS, (c).cpu_ms) {					\
		TH_LOG("%s took %ld ms of CPU", what, (c).cpu_ms);	\
	}								\
} while (0)

TEST_F_TIMEOUT(bw, sparse_instance, 600)
{
	struct ct_edu a = { .device = -1, .group = -1, .container = -1 };
	struct ct_edu b = { .device = -1, .group = -1, .container = -1 };
	struct coiommu_force_unpin fu;
	struct coiommu_stats st;
	uint64_t gpa[2], size[2], last;
	struct coiommu_region r[2];
	char bdf[4][32], path[96], text[4096], want[32];
	struct ct_ram g;
	struct cost c;
	uint8_t buf[LEN], *va;
	int mgaw, nr_edu;
	long inst;
	FILE *f;
	size_t n;

	mgaw = iommu_mgaw();
	ASSERT_LT(33, mgaw);
	size[1] = (1ULL << mgaw) - BIG_GPA;
	if (size[1] > BIG_MAX)
		size[1] = BIG_MAX;
	gpa[1] = BIG_GPA;
	last = gpa[1] + size[1] - CT_PAGE;
	TH_LOG("IOMMU MGAW %d bits: sparse region of %llu GiB at GPA %#llx, page pinned at %#llx",
	       mgaw, (unsigned long long)(size[1] >> 30),
	       (unsigned long long)gpa[1], (unsigned long long)last);

	va = mmap(NULL, size[1], PROT_NONE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, va);
	ASSERT_EQ(0, mprotect(va + size[1] - CT_PAGE, CT_PAGE,
			      PROT_READ | PROT_WRITE));
	memset(va + size[1] - CT_PAGE, 0x5a, CT_PAGE);

	nr_edu = ct_edu_list(bdf, 4);
	ASSERT_LE(1, nr_edu);
	ASSERT_EQ(0, ct_edu_open_retry(&a, bdf[0], -1, 3000));
	ASSERT_EQ(0, ct_ram_init(&g, LOW_NP * CT_PAGE));
	ASSERT_EQ(0, ct_ram_add(&g, LOW, 0, LOW_NP * CT_PAGE));
	ct_ram_fill(&g, 0xb0b);
	gpa[0] = LOW;
	size[0] = LOW_NP * CT_PAGE;

	self->fd = coiommu_open();
	ASSERT_LE(0, self->fd);
	r[0] = (struct coiommu_region){ .gpa = gpa[0], .size = size[0],
					.vaddr = (uintptr_t)g.arena };
	r[1] = (struct coiommu_region){ .gpa = gpa[1], .size = size[1],
					.vaddr = (uintptr_t)va };
	ASSERT_EQ(0, coiommu_set_memory(self->fd, r, 2));
	ASSERT_EQ(0, ct_co_add_edu(self->fd, &a));
	inst = ct_co_fdinfo(self->fd, "coiommu-instance");

	/* The low page: DMA works in this instance. */
	ASSERT_EQ(0, coiommu_pin_range(self->fd, LOW, CT_PAGE));
	CT_EDU_LOAD(&g, &a, LOW, buf, LEN);
	CT_DMA_LANDS(&g, &a, LOW + CT_PAGE / 2, buf, 64);

	/* UNPIN_RANGE over the whole sparse region. */
	ASSERT_EQ(0, coiommu_pin_range(self->fd, last, CT_PAGE));
	EXPECT_EQ(2, ct_pins_outstanding(&self->env.base));
	cost_start(_metadata, &c, self->wd);
	EXPECT_EQ(0, coiommu_unpin_range(self->fd, gpa[1], size[1]));
	cost_end(_metadata, &c);
	EXPECT_CHEAP(c, "UNPIN_RANGE");
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));

	/* FORCE_UNPIN over it. */
	ASSERT_EQ(0, coiommu_pin_range(self->fd, last, CT_PAGE));
	fu = (struct coiommu_force_unpin){ .argsz = sizeof(fu),
					   .gpa = gpa[1], .size = size[1] };
	cost_start(_metadata, &c, self->wd);
	EXPECT_EQ(0, ct_co_ioctl(self->fd, COIOMMU_FORCE_UNPIN, &fu));
	cost_end(_metadata, &c);
	EXPECT_CHEAP(c, "FORCE_UNPIN");
	EXPECT_EQ(1, fu.nr_released);
	EXPECT_EQ(0, fu.nr_busy);
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));

	/* A device in a new domain gets the two pinned pages. */
	ASSERT_EQ(0, coiommu_pin_range(self->fd, last, CT_PAGE));
	if (nr_edu >= 2) {
		ASSERT_EQ(0, ct_edu_open_retry(&b, bdf[1], -1, 3000));
		cost_start(_metadata, &c, self->wd);
		EXPECT_EQ(0, ct_co_add_edu(self->fd, &b));
		cost_end(_metadata, &c);
		EXPECT_CHEAP(c, "ADD_DEVICE (new domain)");
		CT_EDU_LOAD(&g, &b, LOW, buf, LEN);
		CT_DMA_LANDS(&g, &b, LOW + 1, buf, 64);
	}

	/* debugfs <id>.pinned lists both pages. */
	snprintf(path, sizeof(path), "/sys/kernel/debug/coiommu/%ld.pinned",
		 inst);
	cost_start(_metadata, &c, self->wd);
	f = fopen(path, "re");
	ASSERT_NE(NULL, f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	cost_end(_metadata, &c);
	text[n] = 0;
	EXPECT_CHEAP(c, "debugfs <id>.pinned");
	snprintf(want, sizeof(want), "%#llx", (unsigned long long)(last >> 12));
	EXPECT_NE(NULL, strstr(text, want)) {
		TH_LOG("%s does not list gfn %s: %s", path, want, text);
	}

	ASSERT_EQ(0, coiommu_get_stats(self->fd, &st));
	EXPECT_EQ(2, st.pinned_pages);
	TH_LOG("index memory, 2 pages pinned in %llu GiB: %llu bytes",
	       (unsigned long long)((size[0] + size[1]) >> 30),
	       (unsigned long long)st.metadata_bytes);
	EXPECT_GT(SPARSE_META, st.metadata_bytes);
	EXPECT_EQ(2, ct_pins_outstanding(&self->env.base));

	/* Close. */
	cost_start(_metadata, &c, self->wd);
	close(self->fd);
	cost_end(_metadata, &c);
	self->fd = -1;
	EXPECT_CHEAP(c, "close");
	EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));

	ct_edu_close(&b);
	ct_edu_close(&a);
	ct_ram_free(&g);
	munmap(va, size[1]);
}

TEST_HARNESS_MAIN
