// SPDX-License-Identifier: GPL-2.0
/*
 * type1_overlap: the VMM breaks the rule of COIOMMU_ADD_DEVICE and maps
 * guest IOVAs through VFIO type1 too. The IOMMU page table is then shared
 * by two owners; the module must trust only its own record of what it
 * pinned: never unpin or map a page it did not record, leak (and report
 * in stats.mismatches / broken) rather than release a pin type1 holds.
 *
 *   type1_first     type1 maps 4 KiB at X, then PIN_RANGE at X: -EEXIST;
 *                   edu DMA to X reaches type1's buffer; balanced after
 *   huge_over_ours  PIN_RANGE at X, then a 2 MiB type1 map at X (the
 *                   Intel driver silently frees our 4 KiB PTE for its
 *                   superpage); UNPIN_RANGE at X is a mismatch: type1's
 *                   page keeps its pins and mapping; after UNMAP_DMA and
 *                   close exactly stats.mismatches (1) pins stay
 *   second_domain   PIN_RANGE at X in domain A; type1 of A maps 2 MiB
 *                   over X and unmaps it (A no longer shows our page);
 *                   then a device in domain B is added: B must reach the
 *                   recorded guest page at X (never a read-back: 0 there
 *                   would map host page 0)
 *
 * Not here, on purpose: "ours first, then a type1 4 KiB map over it". The
 * Intel driver of 6.1 WARNs in __domain_mapping() ("DMA PTE for vPFN ...
 * already set") whatever our module does, and the rig fails any console
 * WARNING.
 *
 * The last two cases leave a pinned page behind by design, charged to
 * the VMM's locked_vm: they run in a forked VMM whose exit takes its mm
 * (and that charge) away; it reports its checks through a pipe.
 *
 * The 2 MiB buffer is a hugetlb page (one reserved through
 * /proc/sys/vm/nr_hugepages for the test), or, when none can be had, a
 * THP-aligned anonymous 2 MiB (the log says which).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ct_fixture.h"

#ifndef MAP_HUGETLB
#define MAP_HUGETLB	0x40000
#endif

#define X	0x200000UL		/* 2 MiB aligned guest RAM page */
#define Q	0x600000UL		/* another guest RAM page, outside X's 2 MiB */
#define HUGE	(2UL << 20)
#define LEN	CT_EDU_DMA_MAX
#define NR_HUGE	"/proc/sys/vm/nr_hugepages"
/* A DMA to @gpa that stays in its page. */
#define FIT(gpa)	(CT_PAGE - ((gpa) & (CT_PAGE - 1)) < LEN ? \
			 CT_PAGE - ((gpa) & (CT_PAGE - 1)) : LEN)

FIXTURE(ov) {
	struct ct_env env;
	char bdf[4][32];
	int nr_edu;
	char nr_huge[32];	/* to restore */
};

FIXTURE_SETUP(ov)
{
	FILE *f;

	ct_env_setup(_metadata, &self->env);
	self->nr_edu = ct_edu_list(self->bdf, 4);
	ASSERT_LE(1, self->nr_edu);
	f = fopen(NR_HUGE, "re");
	if (f) {
		if (!fgets(self->nr_huge, sizeof(self->nr_huge), f))
			self->nr_huge[0] = 0;
		fclose(f);
	}
	/* One 2 MiB page for type1; fails quietly without hugetlb. */
	if (self->nr_huge[0] && atoi(self->nr_huge) < 1)
		ct_write_file(NR_HUGE, "1");
}

FIXTURE_TEARDOWN(ov)
{
	if (self->nr_huge[0])
		ct_write_file(NR_HUGE, self->nr_huge);
	ct_env_teardown(_metadata, &self->env);
}

/* ---- guest RAM: two regions, X's and Q's --------------------------------- */

static int ram_open(struct ct_ram *g, uint32_t seed)
{
	int ret = ct_ram_init(g, 8 * CT_PAGE);

	if (!ret)
		ret = ct_ram_add(g, X, 0, 4 * CT_PAGE);
	if (!ret)
		ret = ct_ram_add(g, Q, 4 * CT_PAGE, 4 * CT_PAGE);
	if (!ret)
		ct_ram_fill(g, seed);
	return ret;
}

/*
 * A 2 MiB buffer backed by one 2 MiB page: hugetlb, else THP. @map and
 * @maplen are what to munmap. NULL if neither is available.
 */
static uint8_t *huge_buffer(void **map, size_t *maplen, const char **kind)
{
	uint8_t *p;
	char line[128];
	long kb = 0;
	FILE *f;

	p = mmap(NULL, HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p != MAP_FAILED) {
		*map = p;
		*maplen = HUGE;
		*kind = "hugetlb";
		memset(p, 0, HUGE);
		return p;
	}
	p = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	*map = p;
	*maplen = 2 * HUGE;
	*kind = "THP";
	p = (uint8_t *)(((uintptr_t)p + HUGE - 1) & ~(HUGE - 1));
	if (madvise(p, HUGE, MADV_HUGEPAGE))
		return NULL;
	memset(p, 0, HUGE);
	f = fopen("/proc/self/smaps_rollup", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f))
		sscanf(line, "AnonHugePages: %ld kB", &kb);
	fclose(f);
	return kb >= 2048 ? p : NULL;
}

/* ---- type1 first (in the test process: nothing leaks) ----------------- */

TEST_F_TIMEOUT(ov, type1_first, 120)
{
	struct ct_edu e = { .device = -1, .group = -1, .container = -1 };
	struct coiommu_stats st;
	struct ct_kmsg k = { .fd = -1 };
	struct ct_ram g;
	uint8_t *t1, buf[LEN];
	int co;

	ASSERT_EQ(0, ct_edu_open_retry(&e, self->bdf[0], -1, 3000));
	ASSERT_EQ(0, ram_open(&g, 0x7191));
	ASSERT_EQ(0, ct_kmsg_open(&k));
	t1 = ct_map_guarded(CT_PAGE);
	ASSERT_NE(NULL, t1);
	ct_fill(t1, CT_PAGE, 0x7e1);

	/* type1 owns X in the device's domain. */
	ASSERT_EQ(0, ct_vfio_map(e.container, t1, X, CT_PAGE));
	co = coiommu_open();
	ASSERT_LE(0, co);
	ASSERT_EQ(0, ct_ram_set_map(&g, co));
	ASSERT_EQ(0, ct_co_add_edu(co, &e));

	EXPECT_EQ(-EEXIST, coiommu_pin_range(co, X, CT_PAGE));
	ASSERT_EQ(0, coiommu_get_stats(co, &st));
	EXPECT_EQ(0, st.pinned_pages);
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base)) {
		TH_LOG("only type1's pin may be left");
	}
	/* A pin next to it works and its DMA lands in the guest. */
	ASSERT_EQ(0, coiommu_pin_range(co, Q, CT_PAGE));
	CT_EDU_LOAD(&g, &e, Q, buf, LEN);
	CT_DMA_LANDS(&g, &e, Q + 1, buf, FIT(Q + 1));

	/* X still reaches type1's buffer, and the guest page stays as it was. */
	ASSERT_EQ(0, ct_edu_dma(&e, X + 0x10, 0, FIT(X + 0x10), true));
	EXPECT_EQ(0, memcmp(t1 + 0x10, buf, FIT(X + 0x10))) {
		TH_LOG("DMA to X did not land in type1's buffer");
	}
	CT_RAM_CHECK(&g, "DMA to type1's X");

	ASSERT_EQ(0, coiommu_unpin_range(co, Q, CT_PAGE));
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));
	ASSERT_EQ(0, ct_vfio_unmap(e.container, X, CT_PAGE));
	close(co);
	EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));
	EXPECT_FALSE(ct_kmsg_wait(&k, 100, "WARNING", NULL));
	ct_kmsg_close(&k);
	ct_edu_close(&e);
	ct_unmap_guarded(t1, CT_PAGE);
	ct_ram_free(&g);
}

/* ---- the forked VMM ------------------------------------------------------ */

struct vmm {
	int rep;			/* report pipe */
	struct ct_edu a, b;
	struct ct_ram g;
	struct ct_kmsg k;
	struct ct_pins base;
	int co;
	uint8_t *huge;
	void *huge_map;
	size_t huge_len;
};

#define REC(v, expected, seen)	ct_rec_send((v)->rep, '=', expected, seen, \
					    "%d: %s", __LINE__, #seen)

static void __attribute__((noreturn)) vmm_fail(struct vmm *v, int line,
					       const char *what, long ret)
{
	ct_rec_send(v->rep, '=', 0, ret, "%d: setup: %s", line, what);
	ct_rec_end(v->rep);
	fflush(stdout);
	_exit(1);
}

#define TRY(v, call) do {					\
	long __r = (call);					\
	if (__r < 0)						\
		vmm_fail(v, __LINE__, #call, __r);		\
} while (0)

static void vmm_open(struct vmm *v, const char *bdf)
{
	const char *kind = "none";

	v->a.device = v->a.group = v->a.container = -1;
	v->b.device = v->b.group = v->b.container = -1;
	TRY(v, ct_edu_open_retry(&v->a, bdf, -1, 3000));
	TRY(v, ram_open(&v->g, getpid()));
	TRY(v, ct_kmsg_open(&v->k));
	v->huge = huge_buffer(&v->huge_map, &v->huge_len, &kind);
	if (!v->huge)
		vmm_fail(v, __LINE__, "no 2 MiB page (hugetlb or THP)", -1);
	printf("# type1's 2 MiB buffer: %s\n", kind);
	ct_fill(v->huge, HUGE, 0x2a2a);
	v->co = coiommu_open();
	TRY(v, v->co);
	TRY(v, ct_ram_set_map(&v->g, v->co));
	TRY(v, ct_co_add_edu(v->co, &v->a));
	TRY(v, ct_pins_read(&v->base));
}

static long outstanding(struct vmm *v)
{
	return ct_pins_outstanding(&v->base);
}

/* edu @e loads Q (a pinned guest page) into its buffer: returns Q's bytes. */
static void vmm_load_q(struct vmm *v, struct ct_edu *e, int line, uint8_t *buf)
{
	ct_rec_send(v->rep, '=', 0, ct_edu_dma(e, Q, 0, LEN, false),
		    "%d: DMA from Q by %s", line, e->bdf);
	ct_ram_read(&v->g, Q, buf, LEN);
}

/* @e writes Q's bytes to guest @gpa: lands there, and only there. */
static void vmm_dma_lands(struct vmm *v, struct ct_edu *e, int line,
			  uint64_t gpa)
{
	uint8_t buf[LEN];

	vmm_load_q(v, e, line, buf);
	ct_rec_send(v->rep, '=', 0, ct_edu_dma(e, gpa, 0, FIT(gpa), true),
		    "%d: DMA to 0x%llx by %s", line, (unsigned long long)gpa,
		    e->bdf);
	ct_ram_expect(&v->g, gpa, buf, FIT(gpa));
	ct_rec_send(v->rep, '=', -1, ct_ram_diff(&v->g),
		    "%d: DMA to 0x%llx by %s landed in the guest page, and only there (arena offset)",
		    line, (unsigned long long)gpa, e->bdf);
	memcpy(v->g.shadow, v->g.arena, v->g.size);
}

/*
 * @e writes Q's bytes to IOVA X + @off, which type1 maps to its 2 MiB
 * buffer: they land in that buffer, guest RAM stays as it was.
 */
static void vmm_dma_type1(struct vmm *v, struct ct_edu *e, int line,
			  uint64_t off)
{
	uint8_t buf[LEN];

	vmm_load_q(v, e, line, buf);
	ct_rec_send(v->rep, '=', 0, ct_edu_dma(e, X + off, 0, LEN, true),
		    "%d: DMA to X + 0x%llx", line, (unsigned long long)off);
	ct_rec_send(v->rep, '=', 0, memcmp(v->huge + off, buf, LEN) != 0,
		    "%d: DMA to X + 0x%llx landed in type1's buffer", line,
		    (unsigned long long)off);
	ct_rec_send(v->rep, '=', -1, ct_ram_diff(&v->g),
		    "%d: guest RAM untouched by a DMA to type1's X (arena offset)",
		    line);
	memcpy(v->g.shadow, v->g.arena, v->g.size);
}

/* The instance reports the one mismatched page: mismatches 1, broken 1. */
static void vmm_mismatch(struct vmm *v, int line)
{
	struct coiommu_stats st;

	ct_rec_send(v->rep, '=', 0, coiommu_get_stats(v->co, &st),
		    "%d: GET_STATS", line);
	ct_rec_send(v->rep, '=', sizeof(st), st.argsz,
		    "%d: stats argsz (the module knows mismatches/broken)", line);
	ct_rec_send(v->rep, '=', 1, st.mismatches, "%d: stats mismatches",
		    line);
	ct_rec_send(v->rep, '=', 1, st.broken, "%d: stats broken", line);
}

/* Close everything; no splat; exactly the one mismatched pin is left. */
static void __attribute__((noreturn)) vmm_exit(struct vmm *v)
{
	close(v->co);
	ct_edu_close(&v->b);
	ct_edu_close(&v->a);
	munmap(v->huge_map, v->huge_len);
	REC(v, 1, outstanding(v));
	REC(v, false, ct_kmsg_wait(&v->k, 100, "WARNING", NULL));
	ct_kmsg_close(&v->k);
	ct_ram_free(&v->g);
	ct_rec_end(v->rep);
	fflush(stdout);
	_exit(0);
}

static void run_vmm(struct __test_metadata *_metadata, struct ct_env *env,
		    char bdf[][32], void (*body)(struct vmm *v, char bdf[][32]))
{
	struct vmm v = { .co = -1 };
	int p[2];
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		v.rep = p[1];
		body(&v, bdf);
		vmm_exit(&v);
	}
	close(p[1]);
	ct_rec_collect(_metadata, "VMM", p[0], pid);
	close(p[0]);
	/* The VMM is gone with its mm: only the mismatched page stays pinned. */
	ct_env_accept_leak(env, 1);
}

/* ---- ours first, then type1's 2 MiB over it ------------------------------ */

static void huge_over_ours(struct vmm *v, char bdf[][32])
{
	long n;

	vmm_open(v, bdf[0]);
	TRY(v, coiommu_pin_range(v->co, X, CT_PAGE));
	TRY(v, coiommu_pin_range(v->co, Q, CT_PAGE));
	REC(v, 2, outstanding(v));
	vmm_dma_lands(v, &v->a, __LINE__, X + 1);

	/* type1 maps a 2 MiB page at X: now X is type1's. */
	REC(v, 0, ct_vfio_map(v->a.container, v->huge, X, HUGE));
	vmm_dma_type1(v, &v->a, __LINE__, 0x100);
	n = outstanding(v);
	printf("# pins outstanding with type1's 2 MiB mapped: %ld\n", n);

	/*
	 * Our UNPIN_RANGE finds another page at X: a mismatch. Nothing of
	 * type1's may be released or unmapped.
	 */
	REC(v, 0, coiommu_unpin_range(v->co, X, CT_PAGE));
	vmm_mismatch(v, __LINE__);
	REC(v, n, outstanding(v));
	vmm_dma_type1(v, &v->a, __LINE__, CT_PAGE + 3);
	vmm_dma_type1(v, &v->a, __LINE__, 0x1000 * 300);

	/* type1 takes back what it pinned; ours at X stays (leaked). */
	REC(v, 0, ct_vfio_unmap(v->a.container, X, HUGE));
	REC(v, 2, outstanding(v));
	/* Q is ours and recorded: still reachable. */
	vmm_dma_lands(v, &v->a, __LINE__, Q + 0x40);
	vmm_mismatch(v, __LINE__);
}

TEST_F_TIMEOUT(ov, huge_over_ours, 300)
{
	run_vmm(_metadata, &self->env, self->bdf, huge_over_ours);
}

/* ---- a second domain after type1 emptied the first ----------------------- */

static void second_domain(struct vmm *v, char bdf[][32])
{
	uint8_t want[LEN], got[LEN];
	bool logged = false;

	vmm_open(v, bdf[0]);
	TRY(v, ct_edu_open_retry(&v->b, bdf[1], -1, 3000));
	TRY(v, coiommu_pin_range(v->co, X, CT_PAGE));
	TRY(v, coiommu_pin_range(v->co, Q, CT_PAGE));
	vmm_dma_lands(v, &v->a, __LINE__, X + 2);

	/* type1 of A maps 2 MiB over X and unmaps it: A shows nothing at X. */
	REC(v, 0, ct_vfio_map(v->a.container, v->huge, X, HUGE));
	REC(v, 0, ct_vfio_unmap(v->a.container, X, HUGE));
	REC(v, 2, outstanding(v));
	REC(v, 0, ct_edu_dma_fault(&v->a, &v->k, X, 0, 64, true, &logged));
	REC(v, true, logged);
	REC(v, -1, ct_ram_diff(&v->g));

	/* B, in a domain of its own, gets the recorded pages. */
	REC(v, 0, ct_co_add_edu(v->co, &v->b));
	REC(v, 2, outstanding(v));

	/*
	 * B reads X (RAM to device) and writes it to Q: Q must then hold
	 * the guest's page X. (A read first: if X were mapped to some other
	 * host page, a write could corrupt it.)
	 */
	ct_ram_read(&v->g, X, want, LEN);
	REC(v, 0, ct_edu_dma(&v->b, X, 0, LEN, false));
	REC(v, 0, ct_edu_dma(&v->b, Q, 0, LEN, true));
	ct_ram_read(&v->g, Q, got, LEN);
	REC(v, 0, memcmp(want, got, LEN) != 0);
	ct_ram_expect(&v->g, Q, want, LEN);
	REC(v, -1, ct_ram_diff(&v->g));
	memcpy(v->g.shadow, v->g.arena, v->g.size);
	if (!memcmp(want, got, LEN))
		vmm_dma_lands(v, &v->b, __LINE__, X + 3);

	/* UNPIN_RANGE at X: A shows nothing there, a mismatch. */
	REC(v, 0, coiommu_unpin_range(v->co, X, CT_PAGE));
	vmm_mismatch(v, __LINE__);
	/* Q, recorded and mapped in both domains, is still fine. */
	vmm_dma_lands(v, &v->a, __LINE__, Q + 5);
	vmm_dma_lands(v, &v->b, __LINE__, Q + 6);
}

TEST_F_TIMEOUT(ov, second_domain, 300)
{
	if (self->nr_edu < 2)
		SKIP(return, "the VM has one edu device; two domains need two");
	run_vmm(_metadata, &self->env, self->bdf, second_domain);
}

TEST_HARNESS_MAIN
