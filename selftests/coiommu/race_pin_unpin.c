// SPDX-License-Identifier: GPL-2.0
/*
 * race_pin_unpin: pins and unpins of the same pages race, and the guest
 * never loses a page it maps.
 *
 * Two vCPUs map and unmap random runs of N overlapping pages (crossing a
 * DTT leaf boundary) as a guest driver does: map count + 1 and ACCESSED
 * in one atomic update, a request (batch or single) for the pages not
 * PINNED, PINNED checked on each; later map count - 1. The background
 * unpinner runs with a period of PERIOD_MS and a forked helper drives the
 * shrinker in a loop (echo 2 > drop_caches), so pages are unpinned while
 * others ask for them again.
 *
 * Meanwhile the host picks HOLD random pages of the same range and asks
 * vCPU 0, through guest memory, to hold them mapped; once the guest says
 * it holds them (after it saw PINNED on each), edu DMA writes to every
 * one of them, and each write must land, never fault; then the guest
 * lets them go. This goes on for RUN_MS.
 *
 * Then: every request got PINNED; the races happened (unpins by both the
 * unpinner and the shrinker, pins well above the number of pages: they
 * were pinned again); no DMAR fault at all; after the guest unmapped
 * everything, all pages are unpinned within a few passes, every entry is
 * 0, and only the notify slot page is still pinned (FOLL_PIN, VmLck).
 */
#include "ct_kvm.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"
#include "ct_unpin.h"

#define PERIOD_MS	2
#define RUN_MS		25000
#define N		256
#define BASE		0x1380ULL	/* crosses the leaf boundary at 0x1400 */
#define HOLD		4
#define OP_CHURN	CTG_OP_USER
#define CTL_GPA		CTG_USER_GPA
#define SEED		0x2ace

struct race_ctl {
	volatile uint64_t stop;
	volatile uint64_t hold_req;	/* host: hold hold_gfn[] (sequence) */
	volatile uint64_t hold_ack;	/* guest: holding them */
	volatile uint64_t rel_req;	/* host: let them go */
	volatile uint64_t rel_ack;
	volatile uint64_t hold_bad;	/* held pages without PINNED */
	volatile uint64_t hold_gfn[HOLD];
};

_Static_assert(sizeof(struct race_ctl) <= 2048, "race_ctl too large");

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* a0: seed. Churns until told to stop; vCPU 0 also serves holds. */
static void guest_churn(unsigned int vcpu, struct ctg_mbox *mb)
{
	struct race_ctl *c = (struct race_ctl *)CTL_GPA;
	struct ctg_map_res res = { 0 }, hres = { 0 };
	uint64_t list[16], held[HOLD], steps = 0, holds = 0;
	uint32_t x = mb->a[0] | 1;
	bool holding = false;
	unsigned int i, k;

	while (!c->stop) {
		uint64_t first = BASE + xorshift(&x) % N;
		unsigned int flags = 0, spin;

		if (vcpu == 0 && !holding && c->hold_req != c->hold_ack) {
			uint64_t req = c->hold_req;
			struct ctg_map_res r = { 0 };

			for (i = 0; i < HOLD; i++)
				held[i] = c->hold_gfn[i];
			ctg_guest_map(vcpu, held, HOLD, 0, &r);
			c->hold_bad += r.unpinned;
			hres.requests += r.requests;
			hres.unpinned += r.unpinned;
			holding = true;
			holds++;
			__atomic_store_n(&c->hold_ack, req, __ATOMIC_SEQ_CST);
		}
		if (holding && c->rel_req == c->hold_ack) {
			ctg_guest_unmap(held, HOLD);
			holding = false;
			__atomic_store_n(&c->rel_ack, c->rel_req,
					 __ATOMIC_SEQ_CST);
		}

		/* A run of pages, or scattered ones, from the shared range. */
		k = 1 + xorshift(&x) % 8;
		for (i = 0; i < k; i++)
			list[i] = xorshift(&x) % 2 ? BASE + (first - BASE + i) % N :
						     BASE + xorshift(&x) % N;
		if (xorshift(&x) % 4 == 0)
			flags |= CTG_MAP_SINGLE;
		if (xorshift(&x) % 8 == 0)
			flags |= CTG_MAP_ALL;
		ctg_guest_map(vcpu, list, k, flags, &res);
		for (spin = xorshift(&x) % 512; spin; spin--)
			asm volatile("pause" ::: "memory");
		ctg_guest_unmap(list, k);
		steps++;
	}
	if (holding)
		ctg_guest_unmap(held, HOLD);
	mb->r[0] = steps;
	mb->r[1] = res.requests;
	mb->r[2] = res.unpinned;
	mb->r[3] = res.holes;
	mb->r[4] = res.slot_busy;
	mb->r[5] = holds;
	mb->r[6] = hres.unpinned;
}

static void guest_code(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, OP_CHURN, guest_churn);
}

struct runner {
	pthread_t thread;
	struct ctg *t;
	unsigned int vcpu;
	int ret;
};

static void *run_vcpu(void *arg)
{
	struct runner *w = arg;

	w->ret = ctg_run(w->t, w->vcpu, OP_CHURN, SEED + w->vcpu, 0, 0, 0);
	return NULL;
}

/*
 * The shrinker helper: waits for a byte on @ctl, then writes 2 to
 * drop_caches until @ctl has something more (or is closed), and reports
 * how many times it did on @rep.
 */
static void shrinker_main(int ctl, int rep)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	uint64_t drops = 0, fails = 0;
	char c;

	if (read(ctl, &c, 1) != 1)
		_exit(2);
	while (!poll(&p, 1, 0)) {
		if (ctu_drop_caches())
			fails++;
		else
			drops++;
		usleep(1000);
	}
	if (write(rep, &drops, sizeof(drops)) != sizeof(drops) ||
	    write(rep, &fails, sizeof(fails)) != sizeof(fails))
		_exit(3);
	_exit(0);
}

FIXTURE(race) {
	CTG_FIXTURE_MEMBERS;
	struct runner w[2];
	bool running;
	pid_t helper;
	int ctl, rep;
};

FIXTURE_SETUP(race)
{
	struct ctg_cfg cfg = { .nr_vcpus = 2, .guest_code = guest_code,
			       .unparked = true };
	int a[2], b[2];

	ctg_init(&self->t);
	self->kmsg.fd = -1;
	self->helper = -1;
	self->ctl = self->rep = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));

	/* Before the VM exists: the helper shares none of its memory. */
	ASSERT_EQ(0, pipe2(a, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(b, O_CLOEXEC));
	self->helper = fork();
	ASSERT_LE(0, self->helper);
	if (!self->helper) {
		close(a[1]);
		close(b[0]);
		shrinker_main(a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	self->ctl = a[1];
	self->rep = b[0];

	ASSERT_EQ(0, ct_kmsg_open(&self->kmsg));
	ASSERT_EQ(0, ctg_create(&self->t, &cfg));
}

FIXTURE_TEARDOWN(race)
{
	unsigned int v;

	if (self->running) {
		((struct race_ctl *)ctg_hva(&self->t, CTL_GPA))->stop = 1;
		for (v = 0; v < 2; v++)
			pthread_join(self->w[v].thread, NULL);
	}
	if (self->ctl >= 0)
		close(self->ctl);
	if (self->rep >= 0)
		close(self->rep);
	if (self->helper > 0) {
		usleep(100000);
		if (waitpid(self->helper, NULL, WNOHANG) != self->helper) {
			kill(self->helper, SIGKILL);
			waitpid(self->helper, NULL, 0);
		}
	}
	ctg_fixture_end(_metadata, &self->env, &self->kmsg, &self->t);
}

static bool wait_seq(volatile uint64_t *v, uint64_t want, int timeout_ms)
{
	long deadline = ct_now_ms() + timeout_ms;

	while (__atomic_load_n(v, __ATOMIC_SEQ_CST) != want) {
		if (ct_now_ms() > deadline)
			return false;
		usleep(500);
	}
	return true;
}

TEST_F_TIMEOUT(race, race_pin_unpin, 240)
{
	struct ctg *t = &self->t;
	struct race_ctl *c = ctg_hva(t, CTL_GPA);
	struct coiommu_stats st;
	uint64_t seq = 0, dmas = 0, bad = 0, drops = 0, fails = 0, d;
	uint32_t x = 0x7ace;
	unsigned int v, i, j;
	int status;
	long end;

	memset(c, 0, sizeof(*c));
	ASSERT_NE(NULL, ctg_dtt_entry(t, BASE + N - 1));
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x7ace);
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ctg_policy(t, PERIOD_MS, 15, 0));

	for (v = 0; v < 2; v++) {
		self->w[v] = (struct runner) { .t = t, .vcpu = v };
		ASSERT_EQ(0, pthread_create(&self->w[v].thread, NULL, run_vcpu,
					    &self->w[v]));
	}
	self->running = true;
	ASSERT_EQ(1, write(self->ctl, "g", 1));

	end = ct_now_ms() + RUN_MS;
	while (ct_now_ms() < end) {
		/* HOLD distinct random pages of the range. */
		for (i = 0; i < HOLD; i++) {
			uint64_t g;

			do {
				g = BASE + xorshift(&x) % N;
				for (j = 0; j < i && c->hold_gfn[j] != g; j++)
					;
			} while (j < i);
			c->hold_gfn[i] = g;
		}
		__atomic_store_n(&c->hold_req, ++seq, __ATOMIC_SEQ_CST);
		ASSERT_TRUE(wait_seq(&c->hold_ack, seq, 10000)) {
			TH_LOG("the guest did not take hold %llu",
			       (unsigned long long)seq);
		}
		if (seq == 1) {
			ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(c->hold_gfn[0]),
						   SEED));
			ASSERT_EQ(0, ctg_shadow_sync(t));
		}
		/* The guest holds them mapped: every write must land. */
		for (i = 0; i < HOLD; i++) {
			uint64_t gpa = CTG_GPA(c->hold_gfn[i]);

			ctu_scribble(t, gpa, (uint32_t)(seq * HOLD + i));
			ASSERT_EQ(0, ctg_dma_write(t, gpa + 1, ctg_pattern(SEED),
						   CTU_LEN));
			d = ctg_shadow_diff_range(t, gpa, CT_PAGE);
			dmas++;
			if (d) {
				bad++;
				TH_LOG("hold %llu: DMA to held gfn %#llx did not land (differs at %#llx)",
				       (unsigned long long)seq,
				       (unsigned long long)c->hold_gfn[i],
				       (unsigned long long)d);
				ctg_shadow_sync(t);
			}
		}
		__atomic_store_n(&c->rel_req, seq, __ATOMIC_SEQ_CST);
		ASSERT_TRUE(wait_seq(&c->rel_ack, seq, 10000));
	}

	/* Stop the guest and the helper. */
	c->stop = 1;
	for (v = 0; v < 2; v++)
		ASSERT_EQ(0, pthread_join(self->w[v].thread, NULL));
	self->running = false;
	ASSERT_EQ(1, write(self->ctl, "q", 1));
	ASSERT_EQ(sizeof(drops), read(self->rep, &drops, sizeof(drops)));
	ASSERT_EQ(sizeof(fails), read(self->rep, &fails, sizeof(fails)));
	ASSERT_EQ(self->helper, waitpid(self->helper, &status, 0));
	self->helper = -1;
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));

	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	for (v = 0; v < 2; v++) {
		volatile uint64_t *r = ctg_res(t, v);

		TH_LOG("vCPU %u: %llu map/unmap steps, %llu requests (%llu not completed at once), %llu holds",
		       v, (unsigned long long)r[0], (unsigned long long)r[1],
		       (unsigned long long)r[4], (unsigned long long)r[5]);
		EXPECT_EQ(0, self->w[v].ret);
		EXPECT_LT(100, r[0]);
		EXPECT_EQ(0, r[2]) {
			TH_LOG("vCPU %u: %llu pages without PINNED after their request",
			       v, (unsigned long long)r[2]);
		}
		EXPECT_EQ(0, r[3]);
	}
	EXPECT_EQ(seq, ctg_res(t, 0)[5]);
	EXPECT_EQ(0, ctg_res(t, 0)[6]);
	EXPECT_EQ(0, c->hold_bad);
	TH_LOG("%llu holds, %llu DMAs; %llu drop_caches; pins %llu, unpins lazy %llu, shrinker %llu; requests %llu",
	       (unsigned long long)seq, (unsigned long long)dmas,
	       (unsigned long long)drops, (unsigned long long)st.pins,
	       (unsigned long long)st.unpins_lazy,
	       (unsigned long long)st.unpins_shrinker,
	       (unsigned long long)st.requests);
	EXPECT_EQ(0, bad) {
		TH_LOG("%llu of %llu DMAs to held pages did not land",
		       (unsigned long long)bad, (unsigned long long)dmas);
	}
	EXPECT_LT(10, seq);
	EXPECT_EQ(0, fails);
	EXPECT_LT(0, drops);
	EXPECT_LT(0, st.unpins_lazy);
	EXPECT_LT(0, st.unpins_shrinker);
	EXPECT_LT(2 * N, st.pins) {
		TH_LOG("few pages were pinned again");
	}
	EXPECT_EQ(0, st.refused_requests);
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 500, "DMAR: ", NULL)) {
		TH_LOG("a DMAR fault was logged");
	}
	/* Since the first hold, RAM changed by those DMAs only. */
	d = ctu_data_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("guest RAM changed at %#llx", (unsigned long long)d);
	}

	/* All unmapped: everything goes within a few passes. */
	for (i = 0; i < N; i++)
		EXPECT_EQ(0, ctg_entry(t, BASE + i) & CTG_DTT_COUNT);
	EXPECT_TRUE(ctg_wait_pinned(t, 0, 10000, &st)) {
		TH_LOG("%llu pages still pinned", (unsigned long long)st.pinned_pages);
	}
	for (i = 0; i < N; i++)
		EXPECT_EQ(0, ctg_entry(t, BASE + i)) {
			TH_LOG("gfn %#llx", (unsigned long long)(BASE + i));
		}
	EXPECT_EQ(st.pins, st.unpins);
	EXPECT_EQ(1, ct_pins_outstanding(&self->env.base));
	EXPECT_EQ(4, ct_locked_vm_kb(getpid()));
	for (v = 0; v < 2; v++)
		ASSERT_EQ(0, ctg_run(t, v, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
