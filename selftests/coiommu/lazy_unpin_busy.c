// SPDX-License-Identifier: GPL-2.0
/*
 * lazy_unpin_busy: the background unpinner never takes a page the guest
 * uses.
 *
 * With a period of PERIOD_MS, over PASSES passes:
 *  - M: NM pages the guest maps twice (map count 2): never unpinned. The
 *    first pass clears ACCESSED (set by the map), nothing else: every
 *    sample reads PINNED | 2.
 *  - T: NT pages the guest mapped and unmapped (map count 0), whose
 *    ACCESSED a guest loop on vCPU 0 keeps setting again: never unpinned
 *    either. The loop records every time it finds ACCESSED clear: the host
 *    gave the page its second chance, at most once per pass. The loop
 *    also checks that PINNED never went away and that the host never
 *    changed the map count.
 * DMA to both sets keeps landing throughout (sampled every few passes);
 * unpins stay 0. Afterwards, with the guest done with both sets, all of
 * them go within two passes, and DMA to them is blocked.
 *
 * T is safe only if the guest touches it between every two passes; if
 * its vCPU did not run for a period, unpinning T is right. The guest's
 * atomic ORs and the host's changes to an entry are one order: when the
 * loop finds T unpinned, both the pass that cleared ACCESSED and the one
 * that unpinned came after its previous touch of the page. So the loop
 * also records, by its TSC, the time from the start of that previous
 * round to the end of the one that found the page unpinned. Passes come
 * at least a period apart (less a jiffy): below GAP_MS it was the host's
 * fault and the test fails. At GAP_MS or more (or if the shrinker took
 * it) the try proved nothing about T: the guest lets both sets go and
 * the phase runs again from the start, up to TRIES times. M, and DMA to
 * it, are checked in every try. The longest time between two rounds is
 * logged.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"
#include "ct_unpin.h"

#define PERIOD_MS	300
#define TIMEOUT_MS	(20 * PERIOD_MS)
#define PASSES		8	/* old_every is 15: all stay young, with */
#define PASSES_MAX	14	/* six passes to park in */
#define GAP_MS		(PERIOD_MS - 20)
#define TRIES		3
#define D(i)		(CTG_DATA_GFN + (i))
#define M0		D(0)
#define NM		4
#define T0		D(8)
#define NT		4
#define PINNED		CTG_DTT_PINNED
#define ACCESSED	CTG_DTT_ACCESSED
#define OP_TOUCH	CTG_OP_USER
#define CTL_GPA		CTG_USER_GPA

struct touch_ctl {
	volatile uint64_t stop;
	volatile uint64_t rounds;
	volatile uint64_t cleared[NT];	/* ACCESSED found clear */
	volatile uint64_t unpinned[NT];	/* PINNED found clear */
	volatile uint64_t counted[NT];	/* map count found not 0 */
	volatile uint64_t max_gap;	/* TSC: longest between two rounds */
	volatile uint64_t unpin_gap[NT]; /* TSC: the rounds around the unpin */
	volatile uint64_t tsc0, tsc1;	/* TSC: start, end */
};

_Static_assert(sizeof(struct touch_ctl) <= 2048, "touch_ctl too large");

/* a0: first page of T. Sets ACCESSED again and again until told to stop. */
static void guest_touch(unsigned int vcpu, struct ctg_mbox *mb)
{
	struct touch_ctl *c = (struct touch_ctl *)CTL_GPA;
	struct ctg_info *info = ctg_guest_info();
	uint64_t start, end, prev;
	unsigned int i, j, found;
	uint32_t *e[NT];

	for (i = 0; i < NT; i++) {
		e[i] = ctg_dtt_walk(info->dtt_root, info->dtt_level,
				    mb->a[0] + i, 0);
		GUEST_ASSERT(e[i]);
	}
	/*
	 * Each touch of a page in a round lies between the round's first and
	 * last TSC reads: between two touches there is at most the time from
	 * the start of one round to the end of the next (or to the moment
	 * the loop saw stop).
	 */
	c->tsc0 = rdtsc();
	prev = c->tsc0;
	while (!c->stop && c->rounds < (1ULL << 40)) {
		start = rdtsc();
		found = 0;
		for (i = 0; i < NT; i++) {
			uint32_t old = __atomic_fetch_or(e[i], CTG_DTT_ACCESSED,
							 __ATOMIC_SEQ_CST);

			if (!(old & CTG_DTT_ACCESSED))
				c->cleared[i]++;
			if (!(old & CTG_DTT_PINNED) && !c->unpinned[i]++)
				found |= 1U << i;
			if (old & CTG_DTT_COUNT)
				c->counted[i]++;
		}
		end = rdtsc();
		for (i = 0; i < NT; i++)
			if (found & (1U << i))
				c->unpin_gap[i] = end - prev;
		if (end - prev > c->max_gap)
			c->max_gap = end - prev;
		prev = start;
		c->rounds++;
		for (j = 0; j < 200; j++)
			asm volatile("pause" ::: "memory");
	}
	end = rdtsc();
	if (end - prev > c->max_gap)
		c->max_gap = end - prev;
	c->tsc1 = end;
}

static void guest_code(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, OP_TOUCH, guest_touch);
}

struct toucher {
	pthread_t thread;
	struct ctg *t;
	int ret;
};

static void *run_touch(void *arg)
{
	struct toucher *w = arg;

	w->ret = ctg_run(w->t, 0, OP_TOUCH, T0, 0, 0, 0);
	return NULL;
}

FIXTURE(lb) {
	CTG_FIXTURE_MEMBERS;
	struct toucher w;
	bool running;
};

FIXTURE_SETUP(lb)
{
	struct ctg_cfg cfg = { .nr_vcpus = 1, .guest_code = guest_code };

	ctg_fixture_start(_metadata, &self->env, &self->kmsg, &self->t);
	ASSERT_EQ(0, ctg_create(&self->t, &cfg));
}

FIXTURE_TEARDOWN(lb)
{
	if (self->running) {
		((struct touch_ctl *)ctg_hva(&self->t, CTL_GPA))->stop = 1;
		pthread_join(self->w.thread, NULL);
	}
	ctg_fixture_end(_metadata, &self->env, &self->kmsg, &self->t);
}

/* While parked: M mapped twice, T mapped and unmapped. */
static void set_up(struct __test_metadata *_metadata, struct ctg *t)
{
	struct ctg_map_res res;
	unsigned int i;

	ASSERT_EQ(0, ctg_map(t, 0, M0, NM, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_map(t, 0, M0, NM, 0, &res));
	EXPECT_EQ(0, res.requests) {
		TH_LOG("the second map asked again for PINNED pages");
	}
	ASSERT_EQ(0, ctg_map(t, 0, T0, NT, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_unmap(t, 0, T0, NT));
	for (i = 0; i < NM; i++)
		EXPECT_EQ(PINNED | ACCESSED | 2, ctg_entry(t, M0 + i));
	for (i = 0; i < NT; i++)
		EXPECT_EQ(PINNED | ACCESSED, ctg_entry(t, T0 + i));
}

/*
 * After a try that proved nothing: the guest unmaps M and clears what its
 * loop left in T's entries if T was unpinned (ACCESSED alone); both sets
 * go, and the unpinner is parked again.
 */
static void let_go(struct __test_metadata *_metadata, struct ctg *t)
{
	struct coiommu_stats st;
	unsigned int i;

	ASSERT_EQ(0, ctg_unmap(t, 0, M0, NM));
	ASSERT_EQ(0, ctg_unmap(t, 0, M0, NM));
	for (i = 0; i < NT; i++) {
		uint8_t *e = (uint8_t *)ctg_dtt_entry(t, T0 + i);

		if (!(ctg_entry(t, T0 + i) & PINNED))
			ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_WRITE32,
					     CTG_RAM_GPA + (e - t->ram), 0, 0,
					     0));
	}
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_pinned(t, 0, TIMEOUT_MS, &st));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	for (i = 0; i < NM; i++)
		ASSERT_EQ(0, ctg_entry(t, M0 + i));
	for (i = 0; i < NT; i++)
		ASSERT_EQ(0, ctg_entry(t, T0 + i));
}

/* DMA to T page @gpa lands; false (and RAM resynced) if it did not. */
static bool t_dma_lands(struct ctg *t, uint64_t gpa, uint32_t seed)
{
	if (ctg_shadow_sync(t))
		return false;
	ctu_scribble(t, gpa, seed ^ (uint32_t)gpa ^ (uint32_t)ct_now_ms());
	if (!ctg_dma_write(t, gpa + 1, ctg_pattern(seed), CTU_LEN) &&
	    !ctu_data_diff(t))
		return true;
	ctg_shadow_sync(t);
	return false;
}

/* A check on T: counted in *@bad (the first few logged); the caller decides. */
#define T_CHECK(cond, fmt, ...) do {					\
	if (!(cond) && (*bad)++ < 6)					\
		TH_LOG("T: " fmt, ##__VA_ARGS__);			\
} while (0)

/*
 * One try: the guest touches T, the unpinner runs PASSES passes, then is
 * parked and the guest stops. What went wrong with T is counted in *@bad
 * (and logged); all else is checked. The stats before the try are in @b,
 * those after it in @st.
 */
static void one_try(struct __test_metadata *_metadata,
		    FIXTURE_DATA(lb) *self, long tsc_khz,
		    const struct coiommu_stats *b, struct coiommu_stats *st,
		    unsigned int *bad)
{
	struct ctg *t = &self->t;
	struct touch_ctl *c = ctg_hva(t, CTL_GPA);
	uint64_t s0 = b->scans, s1, seen = s0, dmas = 0;
	long deadline, t0;
	unsigned int i;

	*bad = 0;
	memset((void *)c, 0, sizeof(*c));
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(M0), 3));

	/* The guest starts touching T; then the unpinner runs. */
	self->w.t = t;
	ASSERT_EQ(0, pthread_create(&self->w.thread, NULL, run_touch,
				    &self->w));
	self->running = true;
	deadline = ct_now_ms() + 10000;
	while (!c->rounds && ct_now_ms() < deadline)
		usleep(1000);
	ASSERT_NE(0, c->rounds);
	t0 = ct_now_ms();
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));

	while (seen < s0 + PASSES) {
		ASSERT_TRUE(ctg_wait_scans(t, seen + 1, TIMEOUT_MS, st)) {
			TH_LOG("no pass in %d ms (scans %llu)", TIMEOUT_MS,
			       (unsigned long long)st->scans);
		}
		seen = st->scans;
		for (i = 0; i < NM; i++)
			EXPECT_EQ(PINNED | 2, ctg_entry(t, M0 + i)) {
				TH_LOG("M page %u after %llu passes", i,
				       (unsigned long long)(seen - s0));
			}
		T_CHECK(st->pinned_pages == NM + NT && st->unpins == b->unpins,
			"%llu pages pinned, %llu unpins after %llu passes",
			(unsigned long long)st->pinned_pages,
			(unsigned long long)(st->unpins - b->unpins),
			(unsigned long long)(seen - s0));
		for (i = 0; i < NT; i++)
			T_CHECK((ctg_entry(t, T0 + i) & ~ACCESSED) == PINNED,
				"page %u after %llu passes: %#x", i,
				(unsigned long long)(seen - s0),
				ctg_entry(t, T0 + i));
		/* DMA to both sets, now and then; not while parking. */
		if ((seen - s0) % 3 == 1 && seen < s0 + PASSES) {
			CTU_DMA_LANDS(t, CTG_GPA(M0 + dmas % NM), 3);
			T_CHECK(t_dma_lands(t, CTG_GPA(T0 + dmas % NT), 3),
				"DMA to page %llu after %llu passes did not land",
				(unsigned long long)(dmas % NT),
				(unsigned long long)(seen - s0));
			dmas++;
		}
	}

	/* Freeze (a running pass completes first), then stop the guest. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, coiommu_get_stats(t->co, st));
	s1 = st->scans;
	c->stop = 1;
	ASSERT_EQ(0, pthread_join(self->w.thread, NULL));
	self->running = false;
	ASSERT_EQ(0, self->w.ret);
	TH_LOG("%llu passes, %llu guest rounds over %llu ms by its TSC (%ld ms here), at most %llu ms apart; %llu DMA samples per set",
	       (unsigned long long)(s1 - s0), (unsigned long long)c->rounds,
	       (unsigned long long)((c->tsc1 - c->tsc0) / tsc_khz),
	       ct_now_ms() - t0,
	       (unsigned long long)(c->max_gap / tsc_khz),
	       (unsigned long long)dmas);
	EXPECT_LE(s0 + PASSES, s1);
	EXPECT_GE(s0 + PASSES_MAX, s1) {
		TH_LOG("too many passes: the old generation would skip pages");
	}
	T_CHECK(st->unpins == b->unpins && st->pinned_pages == NM + NT &&
		st->scanned_pages == b->scanned_pages + (NM + NT) * (s1 - s0),
		"after %llu passes: %llu unpins, %llu pinned, %llu scanned",
		(unsigned long long)(s1 - s0),
		(unsigned long long)(st->unpins - b->unpins),
		(unsigned long long)st->pinned_pages,
		(unsigned long long)(st->scanned_pages - b->scanned_pages));
	EXPECT_EQ(0, st->old_pages);
	EXPECT_LT(s1 - s0, c->rounds);
	if (st->unpins_shrinker != b->unpins_shrinker)
		TH_LOG("the shrinker unpinned %llu pages",
		       (unsigned long long)(st->unpins_shrinker -
					    b->unpins_shrinker));
	/*
	 * The host clears ACCESSED once per pass; the guest sees each clear
	 * only if it ran between two passes, which a loaded machine does
	 * not promise: at least one, never more than the passes.
	 */
	for (i = 0; i < NT; i++) {
		T_CHECK(c->cleared[i] >= 1 && c->cleared[i] <= s1 - s0,
			"page %u: the guest found ACCESSED cleared %llu times in %llu passes",
			i, (unsigned long long)c->cleared[i],
			(unsigned long long)(s1 - s0));
		T_CHECK(!c->unpinned[i],
			"page %u: the guest found PINNED clear %llu times", i,
			(unsigned long long)c->unpinned[i]);
		EXPECT_EQ(0, c->counted[i]) {
			TH_LOG("T page %u: the host changed the map count", i);
		}
	}
}

TEST_F_TIMEOUT(lb, lazy_unpin_busy, 180)
{
	struct ctg *t = &self->t;
	struct touch_ctl *c = ctg_hva(t, CTL_GPA);
	unsigned int i, try, bad, unpinned;
	struct coiommu_stats st, b;
	long tsc_khz, gap_ms;
	bool right;
	uint64_t s1;

	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0xb5b5);
	ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, 15, 0));
	tsc_khz = __vcpu_ioctl(t->vcpu[0], KVM_GET_TSC_KHZ, NULL);
	ASSERT_LT(0, tsc_khz);

	for (try = 1;; try++) {
		/* Parked while it sets up. */
		set_up(_metadata, t);
		ASSERT_EQ(0, coiommu_get_stats(t->co, &b));
		if (try == 1)
			EXPECT_EQ(0, b.scans);
		one_try(_metadata, self, tsc_khz, &b, &st, &bad);
		if (!bad)
			break;
		/* Was T unpinned only while the guest did not run? */
		right = true;
		unpinned = 0;
		for (i = 0; i < NT; i++) {
			if (!c->unpinned[i])
				continue;
			gap_ms = c->unpin_gap[i] / tsc_khz;
			TH_LOG("T page %u unpinned between two touches %ld ms apart",
			       i, gap_ms);
			unpinned++;
			if (gap_ms < GAP_MS)
				right = false;
		}
		/* Under memory pressure T may go, by design. */
		if (st.unpins_shrinker != b.unpins_shrinker)
			right = true;
		ASSERT_TRUE(unpinned && right) {
			TH_LOG("T was touched between every two passes (%d ms apart) and yet did not stay pinned and reachable",
			       PERIOD_MS);
		}
		ASSERT_GT(TRIES, try) {
			TH_LOG("in %d tries T was unpinned each time, while the guest did not run",
			       TRIES);
		}
		TH_LOG("try %u proved nothing about T: again", try);
		let_go(_metadata, t);
	}
	s1 = st.scans;
	EXPECT_EQ(NM + NT + 1, ct_pins_outstanding(&self->env.base));
	EXPECT_EQ(4 * (NM + NT + 1), ct_locked_vm_kb(getpid()));

	/* Done with both: they go within two passes. */
	ASSERT_EQ(0, ctg_unmap(t, 0, M0, NM));
	ASSERT_EQ(0, ctg_unmap(t, 0, M0, NM));
	for (i = 0; i < NM; i++)
		EXPECT_EQ(PINNED, ctg_entry(t, M0 + i));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	ASSERT_TRUE(ctg_wait_pinned(t, 0, TIMEOUT_MS, &st));
	/*
	 * Within two passes (no pass counts once nothing is pinned): one
	 * if the guest's last touch came before the last clear.
	 */
	EXPECT_LE(s1 + 1, st.scans);
	EXPECT_GE(s1 + 2, st.scans);
	EXPECT_EQ(b.unpins_lazy + NM + NT, st.unpins_lazy);
	for (i = 0; i < NM; i++)
		EXPECT_EQ(0, ctg_entry(t, M0 + i));
	for (i = 0; i < NT; i++)
		EXPECT_EQ(0, ctg_entry(t, T0 + i));
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(M0 + 1));
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(T0 + 1));
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
