// SPDX-License-Identifier: GPL-2.0
/*
 * shrinker_unpins: host memory pressure (echo 2 > drop_caches runs the
 * slab shrinkers) unpins idle pages of every instance, by the same rule
 * as the background unpinner, and nothing the guest uses.
 *
 * Two instances (two VMs, each with its own edu device) in one process.
 * Each guest maps I (NI pages), M (NM) and K (NK). One pass of the
 * background unpinner clears ACCESSED, then its period is set to 0 (and a
 * pass still queued is let go by): only the shrinker unpins from then on.
 *
 *  1. The guests unmap I (entries exactly PINNED). drop_caches unpins all
 *     of I in both instances (unpins_shrinker, entries 0, DMA blocked),
 *     none of M or K (entries untouched, DMA lands); locked_vm comes
 *     back (the shrinker may leave that to the instance's worker: polled).
 *  2. Instance 1 parks its unpinner; both guests unmap K. drop_caches
 *     unpins K of instance 0 only: instance 1 is left alone (no pass,
 *     entries unchanged, DMA lands).
 *  3. Instance 1 unparks: its K goes too. Finally M is unmapped in both
 *     and goes; only the notify slot pages stay pinned.
 * unpins_lazy stays 0 throughout.
 *
 * period_zero: once COIOMMU_SET_UNPIN_POLICY set period_ms to 0, the
 * unpinner makes no more passes (a pass already queued included).
 *
 * deferred_uncharge: shrinking with the VMM's mmap_lock contended (a thread
 * of the test mlock()s and munlock()s 64 MiB in a loop), so that the
 * shrinker cannot always return locked_vm at once and leaves it to the
 * instance's worker. In each trial one page is idle (exactly PINNED) and
 * four were just mapped and unmapped (ACCESSED: a second chance). Still
 * only the shrinker may unpin (the period is 0): unpins_lazy stays 0, the
 * accessed pages stay pinned until a later shrinker pass, and locked_vm
 * comes back.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ct_unpin.h"

#define PERIOD_MS	300
#define D(i)		(CTG_DATA_GFN + (i))
#define I0		D(0)
#define NI		8
#define M0		D(8)
#define NM		4
#define K0		D(16)
#define NK		4
#define NT		(NI + NM + NK)
#define PINNED		CTG_DTT_PINNED
#define ACCESSED	CTG_DTT_ACCESSED
#define DROPS		10

FIXTURE(sh) {
	struct ct_env env;
	struct ct_kmsg kmsg;
	struct ctg t[2];
};

FIXTURE_SETUP(sh)
{
	unsigned int i;

	for (i = 0; i < 2; i++)
		ctg_init(&self->t[i]);
	self->kmsg.fd = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));
	ASSERT_EQ(0, ct_kmsg_open(&self->kmsg));
	/* No pass until the test asks for one. */
	ASSERT_EQ(0, ct_write_file(CTU_PERIOD_PARAM, "0"));
	for (i = 0; i < 2; i++) {
		struct ctg_cfg cfg = { .nr_vcpus = 1, .unparked = true,
				       .edu = i };

		ASSERT_EQ(0, ctg_create(&self->t[i], &cfg));
	}
}

FIXTURE_TEARDOWN(sh)
{
	unsigned int i;

	for (i = 0; i < 2; i++)
		ctg_destroy(&self->t[i]);
	ct_kmsg_close(&self->kmsg);
	ct_env_teardown(_metadata, &self->env);
}

/* Entries of @n pages from @gfn all equal @want. */
static void expect_entries(struct __test_metadata *_metadata, int line,
			   struct ctg *t, unsigned int which, uint64_t gfn,
			   unsigned int n, uint32_t want)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		EXPECT_EQ(want, ctg_entry(t, gfn + i)) {
			TH_LOG("line %d: instance %u: gfn %#llx", line, which,
			       (unsigned long long)(gfn + i));
		}
}

#define EXPECT_ENTRIES(t, which, gfn, n, want) \
	expect_entries(_metadata, __LINE__, t, which, gfn, n, want)

/* drop_caches until both instances have @p0 / @p1 pages pinned. */
static void drop_until(struct __test_metadata *_metadata,
		       FIXTURE_DATA(sh) *self, uint64_t p0, uint64_t p1,
		       struct coiommu_stats st[2])
{
	unsigned int r;

	for (r = 0; r < DROPS; r++) {
		ASSERT_EQ(0, ctu_drop_caches());
		ASSERT_EQ(0, coiommu_get_stats(self->t[0].co, &st[0]));
		ASSERT_EQ(0, coiommu_get_stats(self->t[1].co, &st[1]));
		if (st[0].pinned_pages == p0 && st[1].pinned_pages == p1)
			break;
		usleep(50000);
	}
	EXPECT_EQ(p0, st[0].pinned_pages) {
		TH_LOG("instance 0 after %u drops", r);
	}
	EXPECT_EQ(p1, st[1].pinned_pages) {
		TH_LOG("instance 1 after %u drops", r);
	}
}

TEST_F_TIMEOUT(sh, shrinker_unpins, 240)
{
	struct ct_kmsg *k = &self->kmsg;
	struct coiommu_stats st[2];
	struct ctg_map_res res;
	uint64_t scans[2];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		struct ctg *t = &self->t[i];

		ct_fill(ctg_hva(t, CTG_DATA_GPA),
			t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x5800 + i);
		ASSERT_EQ(0, ctg_map(t, 0, I0, NI, 0, &res));
		EXPECT_EQ(0, res.unpinned);
		ASSERT_EQ(0, ctg_map(t, 0, M0, NM, 0, &res));
		EXPECT_EQ(0, res.unpinned);
		ASSERT_EQ(0, ctg_map(t, 0, K0, NK, 0, &res));
		EXPECT_EQ(0, res.unpinned);
		ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(M0), 9 + i));
	}

	/* One background pass clears ACCESSED; then the unpinner is off. */
	for (i = 0; i < 2; i++) {
		struct ctg *t = &self->t[i];

		ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, 15, 0));
		ASSERT_TRUE(ctg_wait_scans(t, 1, 20 * PERIOD_MS, &st[i]));
		ASSERT_EQ(0, ctg_policy(t, 0, 15, 0));
	}
	/* A pass queued before may still run (see period_zero). */
	usleep(4 * PERIOD_MS * 1000);
	for (i = 0; i < 2; i++) {
		struct ctg *t = &self->t[i];

		ASSERT_EQ(0, coiommu_get_stats(t->co, &st[i]));
		EXPECT_EQ(0, st[i].unpins);
		EXPECT_ENTRIES(t, i, I0, NI, PINNED | 1);
		EXPECT_ENTRIES(t, i, M0, NM, PINNED | 1);
		EXPECT_ENTRIES(t, i, K0, NK, PINNED | 1);
	}

	/* 1. Idle pages in both instances. */
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, ctg_unmap(&self->t[i], 0, I0, NI));
		EXPECT_ENTRIES(&self->t[i], i, I0, NI, PINNED);
	}
	EXPECT_EQ(4 * 2 * (1 + NT), ct_locked_vm_kb(getpid()));
	drop_until(_metadata, self, NM + NK, NM + NK, st);
	for (i = 0; i < 2; i++) {
		struct ctg *t = &self->t[i];

		EXPECT_EQ(NI, st[i].unpins_shrinker);
		EXPECT_EQ(NI, st[i].unpins);
		EXPECT_EQ(0, st[i].unpins_lazy);
		EXPECT_ENTRIES(t, i, I0, NI, 0);
		EXPECT_ENTRIES(t, i, M0, NM, PINNED | 1);
		EXPECT_ENTRIES(t, i, K0, NK, PINNED | 1);
	}
	EXPECT_EQ(4 * 2 * (1 + NM + NK),
		  ct_locked_vm_wait(4 * 2 * (1 + NM + NK), 5000));
	EXPECT_EQ(2 * (1 + NM + NK), ct_pins_outstanding(&self->env.base));
	for (i = 0; i < 2; i++) {
		struct ctg *t = &self->t[i];

		CTU_DMA_BLOCKED(t, k, CTG_GPA(I0 + 2 + i));
		CTU_DMA_LANDS(t, CTG_GPA(M0 + 1), 9 + i);
		CTU_DMA_LANDS(t, CTG_GPA(K0 + 2), 9 + i);
	}

	/* 2. Instance 1 parks: the shrinker leaves it alone. */
	ASSERT_EQ(0, coiommu_command(self->t[1].co, COIOMMU_CMD_PARK, 0, 0));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, ctg_unmap(&self->t[i], 0, K0, NK));
		EXPECT_ENTRIES(&self->t[i], i, K0, NK, PINNED);
		ASSERT_EQ(0, coiommu_get_stats(self->t[i].co, &st[i]));
		scans[i] = st[i].scans;
	}
	drop_until(_metadata, self, NM, NM + NK, st);
	for (i = 0; i < 5; i++) {
		ASSERT_EQ(0, ctu_drop_caches());
		usleep(20000);
	}
	ASSERT_EQ(0, coiommu_get_stats(self->t[1].co, &st[1]));
	EXPECT_EQ(NM + NK, st[1].pinned_pages);
	EXPECT_EQ(NI, st[1].unpins_shrinker);
	EXPECT_EQ(scans[1], st[1].scans) {
		TH_LOG("the shrinker made passes over a parked instance");
	}
	EXPECT_ENTRIES(&self->t[1], 1, K0, NK, PINNED);
	EXPECT_ENTRIES(&self->t[1], 1, M0, NM, PINNED | 1);
	EXPECT_EQ(NI + NK, st[0].unpins_shrinker);
	EXPECT_ENTRIES(&self->t[0], 0, K0, NK, 0);
	EXPECT_EQ(4 * (2 + NM + NM + NK),
		  ct_locked_vm_wait(4 * (2 + NM + NM + NK), 5000));
	CTU_DMA_BLOCKED(&self->t[0], k, CTG_GPA(K0 + 1));
	CTU_DMA_LANDS(&self->t[1], CTG_GPA(K0 + 1), 10);

	/* 3. Unparked, instance 1's idle pages go too; then M everywhere. */
	ASSERT_EQ(0, coiommu_command(self->t[1].co, COIOMMU_CMD_UNPARK, 0, 0));
	drop_until(_metadata, self, NM, NM, st);
	EXPECT_EQ(NI + NK, st[1].unpins_shrinker);
	EXPECT_ENTRIES(&self->t[1], 1, K0, NK, 0);
	CTU_DMA_BLOCKED(&self->t[1], k, CTG_GPA(K0 + 3));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, ctg_unmap(&self->t[i], 0, M0, NM));
		EXPECT_ENTRIES(&self->t[i], i, M0, NM, PINNED);
	}
	drop_until(_metadata, self, 0, 0, st);
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(NT, st[i].unpins_shrinker);
		EXPECT_EQ(NT, st[i].unpins);
		EXPECT_EQ(0, st[i].unpins_lazy);
		EXPECT_ENTRIES(&self->t[i], i, M0, NM, 0);
		ASSERT_EQ(0, ctg_run(&self->t[i], 0, CTG_OP_EXIT, 0, 0, 0, 0));
	}
	EXPECT_EQ(4 * 2, ct_locked_vm_wait(4 * 2, 5000));
	EXPECT_EQ(2, ct_pins_outstanding(&self->env.base)) {
		TH_LOG("FOLL_PIN pins: only the two slot pages may be left");
	}
}

TEST_F_TIMEOUT(sh, period_zero, 120)
{
	struct ctg *t = &self->t[0];
	struct coiommu_stats st;
	struct ctg_map_res res;
	uint64_t scans;

	ASSERT_EQ(0, ctg_map(t, 0, I0, NI, 0, &res));
	ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, 15, 0));
	ASSERT_TRUE(ctg_wait_scans(t, 1, 20 * PERIOD_MS, &st));
	ASSERT_EQ(0, ctg_policy(t, 0, 15, 0));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	scans = st.scans;
	usleep(4 * PERIOD_MS * 1000);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(scans, st.scans) {
		TH_LOG("%llu more passes after period_ms was set to 0",
		       (unsigned long long)(st.scans - scans));
	}
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

#define BIG	(64UL << 20)
#define TRIALS	20

static volatile int mlock_stop;

static void *mlocker(void *arg)
{
	unsigned long n = 0;

	while (!mlock_stop) {
		mlock(arg, BIG);
		munlock(arg, BIG);
		n++;
	}
	return (void *)n;
}

TEST_F_TIMEOUT(sh, deferred_uncharge, 240)
{
	struct ctg *t = &self->t[0];
	struct coiommu_stats st0, st;
	struct ctg_map_res res;
	unsigned long loops = 0;
	pthread_t th;
	void *ret;
	char *buf;
	int k;

	/* TRIALS groups of five mapped pages; a drop clears ACCESSED. */
	for (k = 0; k < TRIALS; k++) {
		ASSERT_EQ(0, ctg_map(t, 0, D(k * 8), 5, 0, &res));
		EXPECT_EQ(0, res.unpinned);
	}
	ASSERT_EQ(0, ctu_drop_caches());
	EXPECT_ENTRIES(t, 0, D(0), 5, PINNED | 1);

	buf = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 1, BIG);
	mlock_stop = 0;
	ASSERT_EQ(0, pthread_create(&th, NULL, mlocker, buf));
	for (k = 0; k < TRIALS; k++) {
		/* Page 0 idle; pages 1-4 accessed, map count 0. */
		ASSERT_EQ(0, ctg_unmap(t, 0, D(k * 8), 1));
		ASSERT_EQ(0, ctg_map(t, 0, D(k * 8 + 1), 4, 0, &res));
		ASSERT_EQ(0, ctg_unmap(t, 0, D(k * 8 + 1), 4));
		ASSERT_EQ(0, ctg_unmap(t, 0, D(k * 8 + 1), 4));
		ASSERT_EQ(0, coiommu_get_stats(t->co, &st0));
		ASSERT_EQ(0, ctu_drop_caches());
		usleep(200000);
		ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
		EXPECT_EQ(0, st.unpins_lazy) {
			TH_LOG("trial %d: period 0, yet %llu pages unpinned lazily after a drop_caches that unpinned %llu",
			       k, (unsigned long long)st.unpins_lazy,
			       (unsigned long long)(st.unpins_shrinker -
						    st0.unpins_shrinker));
		}
		if (st.unpins_lazy)
			break;
	}
	mlock_stop = 1;
	ASSERT_EQ(0, pthread_join(th, &ret));
	loops = (unsigned long)ret;
	munmap(buf, BIG);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	TH_LOG("%d trials, %lu mlock loops: %llu unpinned by the shrinker, %llu lazily",
	       k, loops, (unsigned long long)st.unpins_shrinker,
	       (unsigned long long)st.unpins_lazy);
	/* Both slot pages and what instance 0 still has pinned. */
	EXPECT_EQ(4 * (2 + st.pinned_pages),
		  ct_locked_vm_wait(4 * (2 + st.pinned_pages), 5000));
	EXPECT_EQ(2 + st.pinned_pages, ct_pins_outstanding(&self->env.base));
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
