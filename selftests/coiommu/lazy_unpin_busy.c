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
 *    gave the page its second chance, at most once per pass (the guest
 *    sees every clear only when it runs between passes, which a loaded
 *    host does not promise). The loop also checks that PINNED
 *    never went away and that the host never changed the map count.
 * DMA to both sets keeps landing throughout (sampled every few passes);
 * unpins stay 0. Afterwards, with the guest done with both sets, all of
 * them go within two passes, and DMA to them is blocked.
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
#define PASSES		12	/* old_every is 15: all stay young */
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
};

_Static_assert(sizeof(struct touch_ctl) <= 2048, "touch_ctl too large");

/* a0: first page of T. Sets ACCESSED again and again until told to stop. */
static void guest_touch(unsigned int vcpu, struct ctg_mbox *mb)
{
	struct touch_ctl *c = (struct touch_ctl *)CTL_GPA;
	struct ctg_info *info = ctg_guest_info();
	uint32_t *e[NT];
	unsigned int i, j;

	for (i = 0; i < NT; i++) {
		e[i] = ctg_dtt_walk(info->dtt_root, info->dtt_level,
				    mb->a[0] + i, 0);
		GUEST_ASSERT(e[i]);
	}
	while (!c->stop && c->rounds < (1ULL << 40)) {
		for (i = 0; i < NT; i++) {
			uint32_t old = __atomic_fetch_or(e[i], CTG_DTT_ACCESSED,
							 __ATOMIC_SEQ_CST);

			if (!(old & CTG_DTT_ACCESSED))
				c->cleared[i]++;
			if (!(old & CTG_DTT_PINNED))
				c->unpinned[i]++;
			if (old & CTG_DTT_COUNT)
				c->counted[i]++;
		}
		c->rounds++;
		for (j = 0; j < 200; j++)
			asm volatile("pause" ::: "memory");
	}
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

TEST_F_TIMEOUT(lb, lazy_unpin_busy, 180)
{
	struct ctg *t = &self->t;
	struct touch_ctl *c = ctg_hva(t, CTL_GPA);
	struct coiommu_stats st;
	struct ctg_map_res res;
	uint64_t s0, s1, seen = 0, dmas = 0;
	unsigned int i;
	long deadline;

	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0xb5b5);
	memset(c, 0, sizeof(*c));
	ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, 15, 0));

	/* Parked while it sets up: M mapped twice, T mapped and unmapped. */
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
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	s0 = st.scans;
	EXPECT_EQ(0, s0);
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));

	while (seen < s0 + PASSES) {
		ASSERT_TRUE(ctg_wait_scans(t, seen + 1, TIMEOUT_MS, &st)) {
			TH_LOG("no pass in %d ms (scans %llu)", TIMEOUT_MS,
			       (unsigned long long)st.scans);
		}
		seen = st.scans;
		EXPECT_EQ(NM + NT, st.pinned_pages);
		EXPECT_EQ(0, st.unpins);
		for (i = 0; i < NM; i++)
			EXPECT_EQ(PINNED | 2, ctg_entry(t, M0 + i)) {
				TH_LOG("M page %u after %llu passes", i,
				       (unsigned long long)(seen - s0));
			}
		for (i = 0; i < NT; i++)
			EXPECT_EQ(PINNED, ctg_entry(t, T0 + i) & ~ACCESSED) {
				TH_LOG("T page %u after %llu passes", i,
				       (unsigned long long)(seen - s0));
			}
		/* DMA to both sets, now and then. */
		if ((seen - s0) % 3 == 1) {
			CTU_DMA_LANDS(t, CTG_GPA(M0 + dmas % NM), 3);
			CTU_DMA_LANDS(t, CTG_GPA(T0 + dmas % NT), 3);
			dmas++;
		}
	}

	/* Freeze (a running pass completes first), then stop the guest. */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	s1 = st.scans;
	c->stop = 1;
	ASSERT_EQ(0, pthread_join(self->w.thread, NULL));
	self->running = false;
	ASSERT_EQ(0, self->w.ret);
	TH_LOG("%llu passes, %llu guest rounds, %llu DMA samples per set",
	       (unsigned long long)(s1 - s0), (unsigned long long)c->rounds,
	       (unsigned long long)dmas);
	EXPECT_LE(s0 + PASSES, s1);
	EXPECT_GE(s0 + 14, s1) {
		TH_LOG("too many passes: the old generation would skip pages");
	}
	EXPECT_EQ(0, st.unpins);
	EXPECT_EQ(NM + NT, st.pinned_pages);
	EXPECT_EQ(0, st.old_pages);
	EXPECT_EQ((NM + NT) * (s1 - s0), st.scanned_pages);
	EXPECT_LT(s1 - s0, c->rounds);
	/*
	 * The host clears ACCESSED once per pass; the guest sees each clear
	 * only if it ran between two passes, which a loaded machine does
	 * not promise: at least one, never more than the passes.
	 */
	for (i = 0; i < NT; i++) {
		EXPECT_LE(1, c->cleared[i]);
		EXPECT_GE(s1 - s0, c->cleared[i]) {
			TH_LOG("T page %u: the guest found ACCESSED cleared %llu times in %llu passes",
			       i, (unsigned long long)c->cleared[i],
			       (unsigned long long)(s1 - s0));
		}
		EXPECT_EQ(0, c->unpinned[i]);
		EXPECT_EQ(0, c->counted[i]);
	}
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
	EXPECT_EQ(NM + NT, st.unpins_lazy);
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
