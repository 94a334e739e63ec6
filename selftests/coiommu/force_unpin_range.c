// SPDX-License-Identifier: GPL-2.0
/*
 * force_unpin_range: COIOMMU_FORCE_UNPIN, for balloon inflation and free
 * page reporting.
 *
 * mixed: a range of RN pages holding every kind of page: idle pinned
 *	(entry exactly PINNED), pinned with ACCESSED but map count 0, mapped
 *	by the guest (count 1, or 2), never pinned, held by the VMM
 *	(COIOMMU_PIN_RANGE) and untracked by the guest, held and mapped,
 *	held and idle; plus an idle and an accessed page just outside it.
 *	One call releases exactly the idle, accessed and untracked ones
 *	(forced: ACCESSED does not save a page), keeps and reports the
 *	mapped ones (nr_busy and the busy bitmap exact, bit i for gpa + i *
 *	4096, ceil(pages / 64) 64-bit words written and nothing after them),
 *	drops every hold, leaves map counts and the pages outside alone.
 *	DMA to released pages is blocked, to kept ones lands; stats
 *	unpins_forced, FOLL_PIN pins and VmLck agree. Again: nothing more to
 *	release. After the guest unmaps, the pages it mapped once go, the one
 *	it mapped twice stays.
 * bad_args: -EINVAL (argsz, flags, unaligned or empty range, overflow),
 *	-E2BIG, -ERANGE (not all guest RAM), -EFAULT (bitmap not writable,
 *	argument unreadable); none of them releases anything.
 * parked: while the guest has parked the unpinner, a forced unpin
 *	releases none of the pages the guest tracks (all reported busy) and
 *	COIOMMU_UNPIN_RANGE drops the VMM's hold but releases nothing; DTT
 *	entries stay exactly as they were (regression test). Unparked, the
 *	same call releases them.
 *
 * The background unpinner is off (unpin_period_ms 0 before the instance
 * is opened; one pass is run on purpose to clear ACCESSED): every unpin
 * here is forced.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"
#include "ct_unpin.h"

#define D(i)		(CTG_DATA_GFN + (i))
#define RG		D(8)		/* the range */
#define RN		40
#define R(i)		(RG + (i))
#define OUT_IDLE	D(7)
#define OUT_ACC		D(48)
#define PINNED		CTG_DTT_PINNED
#define ACCESSED	CTG_DTT_ACCESSED
#define FILL		0xa5a5a5a5a5a5a5a5ULL

FIXTURE(fu) {
	CTG_FIXTURE_MEMBERS;
};

FIXTURE_SETUP(fu)
{
	struct ctg_cfg cfg = { .nr_vcpus = 1 };	/* parked */

	ctg_fixture_start(_metadata, &self->env, &self->kmsg, &self->t);
	ASSERT_EQ(0, ct_write_file(CTU_PERIOD_PARAM, "0"));
	ASSERT_EQ(0, ctg_create(&self->t, &cfg));
	ct_fill(ctg_hva(&self->t, CTG_DATA_GPA),
		self->t.ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0xf0f0);
}

FIXTURE_TEARDOWN(fu)
{
	ctg_fixture_end(_metadata, &self->env, &self->kmsg, &self->t);
}

static void fill(uint64_t gpa, uint64_t size, void *bitmap,
		 struct coiommu_force_unpin *fu)
{
	*fu = (struct coiommu_force_unpin) {
		.argsz = sizeof(*fu),
		.gpa = gpa,
		.size = size,
		.busy_bitmap = (uintptr_t)bitmap,
		.nr_released = ~0ULL,
		.nr_busy = ~0ULL,
	};
}

static int force(struct ctg *t, uint64_t gpa, uint64_t size, void *bitmap,
		 struct coiommu_force_unpin *fu)
{
	fill(gpa, size, bitmap, fu);
	return ct_co_ioctl(t->co, COIOMMU_FORCE_UNPIN, fu);
}

/*
 * Parked on entry. One pass of the unpinner clears ACCESSED of what the
 * guest maps now; then it is off (a pass queued before finds it parked).
 * Parked on return.
 */
static void one_pass(struct __test_metadata *_metadata, struct ctg *t)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, ctg_policy(t, 200, 15, 0));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_scans(t, 1, 5000, &st));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, ctg_policy(t, 0, 15, 0));
	usleep(600 * 1000);
}

static void map_list(struct __test_metadata *_metadata, struct ctg *t,
		     const uint64_t *gfns, unsigned int n)
{
	struct ctg_map_res res;

	ASSERT_EQ(0, ctg_map_list(t, 0, gfns, n, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	EXPECT_EQ(0, res.holes);
}

TEST_F_TIMEOUT(fu, mixed, 180)
{
	/* Mapped before the pass: ACCESSED clear afterwards. */
	static const uint64_t before[] = {
		R(0), R(1), R(5), R(33), OUT_IDLE,	/* idle */
		R(3), R(7), R(20), R(20), R(21),	/* mapped */
		R(22),					/* held, idle */
	};
	static const uint64_t idle[] = {
		R(0), R(1), R(5), R(33), OUT_IDLE, R(22),
	};
	static const uint64_t acc[] = { R(2), R(6), R(39), OUT_ACC };
	static const uint64_t late = R(38);	/* mapped after the pass */
	static const uint64_t released[] = {
		R(0), R(1), R(5), R(33), R(22), R(2), R(6), R(39), R(10),
		R(11),
	};
	static const unsigned int busy[] = { 3, 7, 20, 21, 38 };
	static const uint64_t unmap[] = { R(3), R(7), R(20), R(21), R(38) };
	struct ctg *t = &self->t;
	struct ct_kmsg *k = &self->kmsg;
	struct coiommu_force_unpin fu;
	struct coiommu_stats st0, st;
	uint64_t bm[4], want = 0;
	unsigned int i;

	map_list(_metadata, t, before, ARRAY_SIZE(before));
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(R(3)), 21));
	one_pass(_metadata, t);
	ASSERT_EQ(0, ctg_unmap_list(t, 0, idle, ARRAY_SIZE(idle)));
	map_list(_metadata, t, acc, ARRAY_SIZE(acc));
	ASSERT_EQ(0, ctg_unmap_list(t, 0, acc, ARRAY_SIZE(acc)));
	map_list(_metadata, t, &late, 1);
	ASSERT_EQ(0, coiommu_pin_range(t->co, CTG_GPA(R(10)), 2 * CT_PAGE));
	ASSERT_EQ(0, coiommu_pin_range(t->co, CTG_GPA(R(21)), 2 * CT_PAGE));

	for (i = 0; i < ARRAY_SIZE(idle); i++)
		EXPECT_EQ(PINNED, ctg_entry(t, idle[i]));
	for (i = 0; i < ARRAY_SIZE(acc); i++)
		EXPECT_EQ(PINNED | ACCESSED, ctg_entry(t, acc[i]));
	EXPECT_EQ(PINNED | 1, ctg_entry(t, R(3)));
	EXPECT_EQ(PINNED | 2, ctg_entry(t, R(20)));
	EXPECT_EQ(PINNED | 1, ctg_entry(t, R(21)));
	EXPECT_EQ(PINNED | ACCESSED | 1, ctg_entry(t, R(38)));
	EXPECT_EQ(0, ctg_entry(t, R(10)));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st0));
	EXPECT_EQ(17, st0.pinned_pages);
	EXPECT_EQ(4, st0.held_pages);
	EXPECT_EQ(0, st0.unpins);

	/* Unparked, the unpinner off: the forced unpin alone acts. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	for (i = 0; i < ARRAY_SIZE(bm); i++)
		bm[i] = FILL;
	ASSERT_EQ(0, force(t, CTG_GPA(RG), RN * CT_PAGE, bm, &fu));
	for (i = 0; i < ARRAY_SIZE(busy); i++)
		want |= 1ULL << busy[i];
	EXPECT_EQ(ARRAY_SIZE(released), fu.nr_released);
	EXPECT_EQ(ARRAY_SIZE(busy), fu.nr_busy);
	EXPECT_EQ(want, bm[0]) {
		TH_LOG("busy bitmap %#llx, want %#llx",
		       (unsigned long long)bm[0], (unsigned long long)want);
	}
	for (i = 1; i < ARRAY_SIZE(bm); i++)
		EXPECT_EQ(FILL, bm[i]) {
			TH_LOG("bitmap word %u written: one 64-bit word covers %d pages",
			       i, RN);
		}

	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(17 - ARRAY_SIZE(released), st.pinned_pages);
	EXPECT_EQ(ARRAY_SIZE(released), st.unpins_forced);
	EXPECT_EQ(ARRAY_SIZE(released), st.unpins);
	EXPECT_EQ(0, st.held_pages);
	EXPECT_EQ(st0.scans, st.scans);
	for (i = 0; i < ARRAY_SIZE(released); i++)
		EXPECT_EQ(0, ctg_entry(t, released[i])) {
			TH_LOG("released gfn %#llx", (unsigned long long)released[i]);
		}
	/* Map counts and PINNED of kept pages untouched. */
	EXPECT_EQ(PINNED | 1, ctg_entry(t, R(3)));
	EXPECT_EQ(PINNED | 1, ctg_entry(t, R(7)));
	EXPECT_EQ(PINNED | 2, ctg_entry(t, R(20)));
	EXPECT_EQ(PINNED | 1, ctg_entry(t, R(21)));
	EXPECT_EQ(PINNED | 1, ctg_entry(t, R(38)) & ~ACCESSED);
	EXPECT_EQ(PINNED, ctg_entry(t, OUT_IDLE));
	EXPECT_EQ(PINNED | ACCESSED, ctg_entry(t, OUT_ACC));
	EXPECT_EQ(1 + 7, ct_pins_outstanding(&self->env.base));
	EXPECT_EQ(4 * (1 + 7), ct_locked_vm_kb(getpid()));

	CTU_DMA_BLOCKED(t, k, CTG_GPA(R(0)));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(R(6)));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(R(11)));
	CTU_DMA_LANDS(t, CTG_GPA(R(7)), 21);
	CTU_DMA_LANDS(t, CTG_GPA(R(20)), 21);
	CTU_DMA_LANDS(t, CTG_GPA(R(21)), 21);
	CTU_DMA_LANDS(t, CTG_GPA(OUT_IDLE), 21);
	CTU_DMA_LANDS(t, CTG_GPA(OUT_ACC), 21);

	/* Nothing more to release. */
	bm[0] = FILL;
	ASSERT_EQ(0, force(t, CTG_GPA(RG), RN * CT_PAGE, bm, &fu));
	EXPECT_EQ(0, fu.nr_released);
	EXPECT_EQ(ARRAY_SIZE(busy), fu.nr_busy);
	EXPECT_EQ(want, bm[0]);

	/* The guest unmaps once: R(20) is still mapped. */
	ASSERT_EQ(0, ctg_unmap_list(t, 0, unmap, ARRAY_SIZE(unmap)));
	bm[0] = FILL;
	ASSERT_EQ(0, force(t, CTG_GPA(RG), RN * CT_PAGE, bm, &fu));
	EXPECT_EQ(ARRAY_SIZE(busy) - 1, fu.nr_released);
	EXPECT_EQ(1, fu.nr_busy);
	EXPECT_EQ(1ULL << 20, bm[0]);
	EXPECT_EQ(PINNED | 1, ctg_entry(t, R(20)));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(3, st.pinned_pages);
	EXPECT_EQ(ARRAY_SIZE(released) + ARRAY_SIZE(busy) - 1,
		  st.unpins_forced);
	EXPECT_EQ(0, st.unpins_lazy);
	EXPECT_EQ(st0.scans, st.scans);
	CTU_DMA_LANDS(t, CTG_GPA(R(20)), 21);
	CTU_DMA_BLOCKED(t, k, CTG_GPA(R(38)));
	EXPECT_EQ(1 + 3, ct_pins_outstanding(&self->env.base));
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_F_TIMEOUT(fu, bad_args, 120)
{
	struct ctg *t = &self->t;
	struct coiommu_force_unpin fu;
	struct coiommu_stats st;
	struct ctg_map_res res;
	uint64_t ram_end = CTG_RAM_GPA + t->ram_size;
	uint64_t gpa = CTG_GPA(D(0)), *words, big[2048 / 64];
	struct {
		struct coiommu_force_unpin fu;
		uint64_t extra;
	} ext;
	uint8_t *ro, *gone;
	unsigned int i;

	ASSERT_EQ(0, ctg_map(t, 0, D(0), 4, 0, &res));
	ASSERT_EQ(0, ctg_unmap(t, 0, D(0), 4));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));

	/* Malformed. */
	fill(gpa, 4 * CT_PAGE, NULL, &fu);
	fu.flags = 1;
	EXPECT_EQ(-EINVAL, ct_co_ioctl(t->co, COIOMMU_FORCE_UNPIN, &fu));
	fill(gpa, 4 * CT_PAGE, NULL, &fu);
	fu.argsz = 8;
	EXPECT_EQ(-EINVAL, ct_co_ioctl(t->co, COIOMMU_FORCE_UNPIN, &fu));
	memset(&ext, 0, sizeof(ext));
	fill(gpa, 4 * CT_PAGE, NULL, &ext.fu);
	ext.fu.argsz = sizeof(ext);
	ext.extra = 1;
	EXPECT_EQ(-E2BIG, ct_co_ioctl(t->co, COIOMMU_FORCE_UNPIN, &ext));
	EXPECT_EQ(-EINVAL, force(t, gpa + 1, 4 * CT_PAGE, NULL, &fu));
	EXPECT_EQ(-EINVAL, force(t, gpa + 2048, 4 * CT_PAGE, NULL, &fu));
	EXPECT_EQ(-EINVAL, force(t, gpa, 4 * CT_PAGE + 1, NULL, &fu));
	EXPECT_EQ(-EINVAL, force(t, gpa, 2048, NULL, &fu));
	EXPECT_EQ(-EINVAL, force(t, gpa, 0, NULL, &fu));
	EXPECT_EQ(-EINVAL, force(t, gpa, -gpa, NULL, &fu));
	EXPECT_EQ(-EINVAL, force(t, gpa, ~0ULL & ~(CT_PAGE - 1), NULL, &fu));
	EXPECT_EQ(-EFAULT, ct_co_ioctl(t->co, COIOMMU_FORCE_UNPIN, NULL));

	/* Not (all) guest RAM. */
	EXPECT_EQ(-ERANGE, force(t, CTG_RAM_GPA - CT_PAGE, CT_PAGE, NULL, &fu));
	EXPECT_EQ(-ERANGE, force(t, CTG_RAM_GPA - CT_PAGE, 2 * CT_PAGE, NULL,
				 &fu));
	EXPECT_EQ(-ERANGE, force(t, ram_end - CT_PAGE, 2 * CT_PAGE, NULL, &fu));
	EXPECT_EQ(-ERANGE, force(t, ram_end, CT_PAGE, NULL, &fu));
	EXPECT_EQ(-ERANGE, force(t, CTG_BAR2_GPA, CT_PAGE, NULL, &fu));
	EXPECT_EQ(-ERANGE, force(t, 0, CT_PAGE, NULL, &fu));

	/* Bitmaps the kernel cannot write: read-only, rw, hole. */
	ro = mmap(NULL, 3 * CT_PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	memset(ro, 0x5a, 3 * CT_PAGE);
	gone = ro + 2 * CT_PAGE;
	ASSERT_EQ(0, munmap(gone, CT_PAGE));
	ASSERT_EQ(0, mprotect(ro, CT_PAGE, PROT_READ));
	EXPECT_EQ(-EFAULT, force(t, gpa, 4 * CT_PAGE, ro, &fu));
	EXPECT_EQ(-EFAULT, force(t, gpa, 4 * CT_PAGE, gone, &fu));
	EXPECT_EQ(-EFAULT, force(t, gpa, 4 * CT_PAGE,
				 (void *)0xffffffff81000000ULL, &fu));
	/* 65 pages: two words; the second one is in the hole. */
	EXPECT_EQ(-EFAULT, force(t, gpa, 65 * CT_PAGE, gone - 8, &fu));
	/* Nothing was released. */
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(4, st.pinned_pages);
	EXPECT_EQ(0, st.unpins);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(PINNED | ACCESSED, ctg_entry(t, D(i)));
	words = (uint64_t *)ro;
	for (i = 0; i < CT_PAGE / 8 && words[i] == 0x5a5a5a5a5a5a5a5aULL; i++)
		;
	EXPECT_EQ(CT_PAGE / 8, i) {
		TH_LOG("word %u of the read-only bitmap changed", i);
	}

	/*
	 * Valid calls over all of RAM (2048 pages, four steps of 512): the
	 * four go; a page the guest maps far into the range is reported at
	 * its own bit.
	 */
	ASSERT_EQ(2048 * CT_PAGE, t->ram_size);
	ASSERT_EQ(0, ctg_map(t, 0, D(700), 1, 0, &res));
	memset(big, 0xff, sizeof(big));
	ASSERT_EQ(0, force(t, CTG_RAM_GPA, t->ram_size, big, &fu));
	EXPECT_EQ(4, fu.nr_released);
	EXPECT_EQ(1, fu.nr_busy);
	for (i = 0; i < ARRAY_SIZE(big); i++)
		EXPECT_EQ(i == (64 + 700) / 64 ? 1ULL << (64 + 700) % 64 : 0,
			  big[i]) {
			TH_LOG("bitmap word %u", i);
		}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(1, st.pinned_pages);
	EXPECT_EQ(4, st.unpins_forced);
	ASSERT_EQ(0, ctg_unmap(t, 0, D(700), 1));
	ASSERT_EQ(0, force(t, CTG_RAM_GPA, t->ram_size, NULL, &fu));
	EXPECT_EQ(1, fu.nr_released);
	EXPECT_EQ(0, fu.nr_busy);
	munmap(ro, 2 * CT_PAGE);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_F_TIMEOUT(fu, parked, 120)
{
	static const uint64_t before[] = { R(0), R(1), R(5) };
	static const uint64_t acc[] = { R(2), R(3) };
	static const uint64_t late = R(4);
	struct ctg *t = &self->t;
	struct coiommu_force_unpin fu;
	struct coiommu_stats st0, st;
	uint32_t ent[8];
	uint64_t bm[2];
	unsigned int i;

	map_list(_metadata, t, before, ARRAY_SIZE(before));
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(R(0)), 33));
	one_pass(_metadata, t);
	ASSERT_EQ(0, ctg_unmap_list(t, 0, before, ARRAY_SIZE(before)));
	map_list(_metadata, t, acc, ARRAY_SIZE(acc));
	ASSERT_EQ(0, ctg_unmap_list(t, 0, acc, ARRAY_SIZE(acc)));
	map_list(_metadata, t, &late, 1);
	ASSERT_EQ(0, coiommu_pin_range(t->co, CTG_GPA(R(5)), CT_PAGE));
	for (i = 0; i < 8; i++)
		ent[i] = ctg_entry(t, R(i));
	EXPECT_EQ(PINNED, ent[0]);
	EXPECT_EQ(PINNED | ACCESSED, ent[2]);
	EXPECT_EQ(PINNED | ACCESSED | 1, ent[4]);
	EXPECT_EQ(PINNED, ent[5]);
	EXPECT_EQ(0, ent[6]);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st0));
	EXPECT_EQ(6, st0.pinned_pages);
	EXPECT_EQ(1, st0.held_pages);
	EXPECT_EQ(1, ctg_debugfs(t, "parked"));

	/* Parked: a forced unpin keeps every tracked page and says so. */
	bm[0] = bm[1] = FILL;
	ASSERT_EQ(0, force(t, CTG_GPA(RG), 8 * CT_PAGE, bm, &fu));
	EXPECT_EQ(0, fu.nr_released);
	EXPECT_EQ(6, fu.nr_busy);
	EXPECT_EQ(0x3f, bm[0]);
	EXPECT_EQ(FILL, bm[1]);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(ent[i], ctg_entry(t, R(i))) {
			TH_LOG("forced unpin while parked changed the entry of page %u",
			       i);
		}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(6, st.pinned_pages);
	EXPECT_EQ(0, st.unpins);
	EXPECT_EQ(0, st.held_pages);
	CTU_DMA_LANDS(t, CTG_GPA(R(1)), 33);
	CTU_DMA_LANDS(t, CTG_GPA(R(2)), 33);

	/* Parked: COIOMMU_UNPIN_RANGE only drops the hold. */
	ASSERT_EQ(0, coiommu_pin_range(t->co, CTG_GPA(R(5)), CT_PAGE));
	ASSERT_EQ(0, coiommu_unpin_range(t->co, CTG_GPA(RG), 8 * CT_PAGE));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(ent[i], ctg_entry(t, R(i))) {
			TH_LOG("COIOMMU_UNPIN_RANGE while parked changed the entry of page %u",
			       i);
		}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(6, st.pinned_pages);
	EXPECT_EQ(0, st.unpins);
	EXPECT_EQ(0, st.held_pages);
	CTU_DMA_LANDS(t, CTG_GPA(R(5)), 33);
	CTU_DMA_LANDS(t, CTG_GPA(R(3)), 33);
	EXPECT_EQ(1 + 6, ct_pins_outstanding(&self->env.base));

	/* Unparked, the same call releases all but the mapped page. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	bm[0] = bm[1] = FILL;
	ASSERT_EQ(0, force(t, CTG_GPA(RG), 8 * CT_PAGE, bm, &fu));
	EXPECT_EQ(5, fu.nr_released);
	EXPECT_EQ(1, fu.nr_busy);
	EXPECT_EQ(1ULL << 4, bm[0]);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(i == 4 ? PINNED | 1 : 0,
			  ctg_entry(t, R(i)) & ~(i == 4 ? ACCESSED : 0));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(1, st.pinned_pages);
	EXPECT_EQ(5, st.unpins_forced);
	EXPECT_EQ(st0.scans, st.scans);
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(R(0)));
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(R(3)));
	CTU_DMA_LANDS(t, CTG_GPA(R(4)), 33);
	EXPECT_EQ(1 + 1, ct_pins_outstanding(&self->env.base));
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
