// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_two_vcpus: two vCPUs (two threads) ring their own doorbells at
 * the same time, many times, for overlapping sets of pages: vCPU 0 maps
 * pages [0, N), vCPU 1 pages [N/2, N + N/2), each in its own shuffled
 * order, in runs of random length (one page: a single request; more: a
 * batch, or one single request per page), asking only for pages not yet
 * PINNED in even rounds and for every page in odd rounds. After each
 * phase every page is pinned exactly once: FOLL_PIN pins taken == pages
 * == stats pins, PINNED in every entry, every request completed before
 * the guest's next instruction and served by task work. The phases start
 * from nothing (the VMM releases all between them); at the end edu DMA
 * reaches sample pages across both sets.
 *
 * The vCPUs meet at the start of every round. Without that, whether the
 * two request streams interleave is up to the scheduler of the test VM
 * (with its two CPUs busy elsewhere, one vCPU thread may run a whole
 * phase alone); with it, each vCPU rings right after the other at least
 * once in every two rounds, whatever the scheduling.
 */
#include "ct_kvm.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define N		256
#define DISTINCT	(N + N / 2)
#define BASE_GFN	0x13a0ULL	/* the set crosses the leaf boundary at 0x1400 */
#define ROUNDS		16
#define PHASES		6
#define OP_STRESS	CTG_OP_USER
/* Which vCPU made the last run of requests (vCPU + 1), in guest RAM. */
#define LAST_GPA	CTG_USER_GPA

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* a0: first gfn, a1: pages, a2: rounds, a3: seed. */
static void guest_stress(unsigned int vcpu, struct ctg_mbox *mb)
{
	uint64_t first = mb->a[0], rounds = mb->a[2];
	unsigned int n = mb->a[1], i, k, r;
	struct ctg_map_res res = { 0 };
	uint32_t x = mb->a[3] | 1;
	uint64_t *last = (uint64_t *)LAST_GPA;
	unsigned int nr_vcpus = ctg_guest_info()->nr_vcpus;
	uint64_t list[N], switches = 0, max_spins = 0;
	bool met = true;

	GUEST_ASSERT(n <= N);
	for (r = 0; r < rounds; r++) {
		uint64_t spins = 0;

		if (!ctg_guest_barrier(nr_vcpus, r + 1, &spins))
			met = false;
		if (spins > max_spins)
			max_spins = spins;
		for (i = 0; i < n; i++)
			list[i] = first + i;
		for (i = n - 1; i > 0; i--) {
			unsigned int j = xorshift(&x) % (i + 1);
			uint64_t tmp = list[i];

			list[i] = list[j];
			list[j] = tmp;
		}
		for (i = 0; i < n; i += k) {
			unsigned int flags = (r & 1) ? CTG_MAP_ALL : 0;

			k = 1 + xorshift(&x) % 16;
			if (k > n - i)
				k = n - i;
			if (!(xorshift(&x) % 4))
				flags |= CTG_MAP_SINGLE;
			/* Count how often the other vCPU went in between. */
			if (__atomic_exchange_n(last, vcpu + 1,
						__ATOMIC_SEQ_CST) != vcpu + 1)
				switches++;
			ctg_guest_map(vcpu, list + i, k, flags, &res);
		}
		ctg_guest_unmap(list, n);
	}
	mb->r[0] = res.requests;
	mb->r[1] = res.slot_busy;
	mb->r[2] = res.unpinned;
	mb->r[3] = res.holes;
	mb->r[4] = res.spins;
	mb->r[5] = met;
	mb->r[6] = switches;
	mb->r[7] = max_spins;
}

static void guest_code(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, OP_STRESS, guest_stress);
}

struct runner {
	pthread_t thread;
	struct ctg *t;
	unsigned int vcpu;
	uint64_t seed;
	int ret;
};

static void *run_vcpu(void *arg)
{
	struct runner *w = arg;

	w->ret = ctg_run(w->t, w->vcpu, OP_STRESS,
			 BASE_GFN + w->vcpu * (N / 2), N, ROUNDS, w->seed);
	return NULL;
}

CTG_FIXTURE(db, .nr_vcpus = 2, .guest_code = guest_code);

/* Entries of the range with PINNED, map count 0 (all unmapped again). */
static unsigned int count_pinned(struct ctg *t)
{
	unsigned int i, n = 0;

	for (i = 0; i < DISTINCT; i++) {
		uint32_t e = *ctg_dtt_entry(t, BASE_GFN + i);

		if ((e & CTG_DTT_PINNED) && !(e & CTG_DTT_COUNT))
			n++;
	}
	return n;
}

TEST_F_TIMEOUT(db, doorbell_two_vcpus, 240)
{
	static const uint64_t samples[] = {
		0, N / 2 - 1, N / 2, N / 2 + 1, N - 1, N, DISTINCT - 1,
	};
	struct ctg *t = &self->t;
	struct runner w[2];
	struct coiommu_stats s0, s1;
	struct ct_pins a, b;
	uint64_t hash, d;
	unsigned int p, v, i;

	ASSERT_NE(NULL, ctg_dtt_entry(t, BASE_GFN + DISTINCT));
	ASSERT_LT(CTG_GFN(CTG_DATA_GPA), BASE_GFN);
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x2c);

	for (p = 0; p < PHASES; p++) {
		uint64_t reqs = 0;

		/* From nothing: the guest forgets, the VMM releases. */
		for (i = 0; i < DISTINCT; i++)
			*ctg_dtt_entry(t, BASE_GFN + i) = 0;
		ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
		ASSERT_EQ(0, coiommu_unpin_range(t->co, CTG_GPA(BASE_GFN),
						 DISTINCT * CT_PAGE));
		ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0));
		ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
		ASSERT_EQ(0, s0.pinned_pages);
		EXPECT_EQ(1, ct_pins_outstanding(&self->env.base)) {
			TH_LOG("phase %u: only the notify slot page should be pinned",
			       p);
		}
		t->info->barrier = 0;

		ASSERT_EQ(0, ct_pins_read(&a));
		for (v = 0; v < 2; v++) {
			w[v] = (struct runner) {
				.t = t,
				.vcpu = v,
				.seed = 0x5eed0000 + p * 2 + v,
			};
			ASSERT_EQ(0, pthread_create(&w[v].thread, NULL,
						    run_vcpu, &w[v]));
		}
		for (v = 0; v < 2; v++)
			ASSERT_EQ(0, pthread_join(w[v].thread, NULL));
		ASSERT_EQ(0, ct_pins_read(&b));
		ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));

		for (v = 0; v < 2; v++) {
			volatile uint64_t *r = ctg_res(t, v);

			ASSERT_EQ(0, w[v].ret) {
				TH_LOG("phase %u: vCPU %u failed", p, v);
			}
			EXPECT_EQ(1, r[5]) {
				TH_LOG("phase %u: vCPU %u: a round's meeting timed out (%llu spins at most)",
				       p, v, (unsigned long long)r[7]);
			}
			EXPECT_LE(ROUNDS / 2, r[6]) {
				TH_LOG("phase %u: vCPU %u: the other vCPU never rang in between",
				       p, v);
			}
			EXPECT_LT(N / 16, r[0]);
			EXPECT_EQ(0, r[1]) {
				TH_LOG("phase %u: vCPU %u: %llu of %llu slots not completed right after the ring",
				       p, v, (unsigned long long)r[1],
				       (unsigned long long)r[0]);
			}
			EXPECT_EQ(0, r[2]) {
				TH_LOG("phase %u: vCPU %u: %llu pages without PINNED after their request",
				       p, v, (unsigned long long)r[2]);
			}
			EXPECT_EQ(0, r[3]);
			reqs += r[0];
		}

		TH_LOG("phase %u: %llu + %llu requests, %llu + %llu interleavings, %llu pins, %llu + %llu spins at most in a meeting",
		       p, (unsigned long long)ctg_res(t, 0)[0],
		       (unsigned long long)ctg_res(t, 1)[0],
		       (unsigned long long)ctg_res(t, 0)[6],
		       (unsigned long long)ctg_res(t, 1)[6],
		       (unsigned long long)(s1.pins - s0.pins),
		       (unsigned long long)ctg_res(t, 0)[7],
		       (unsigned long long)ctg_res(t, 1)[7]);

		/* Each page pinned once, whoever asked first. */
		EXPECT_EQ(DISTINCT, b.acquired - a.acquired) {
			TH_LOG("phase %u: FOLL_PIN pins taken", p);
		}
		EXPECT_EQ(DISTINCT, s1.pins - s0.pins) {
			TH_LOG("phase %u: stats pins", p);
		}
		EXPECT_EQ(DISTINCT, s1.pinned_pages);
		EXPECT_EQ(DISTINCT, count_pinned(t)) {
			TH_LOG("phase %u: entries PINNED with map count 0", p);
		}
		EXPECT_EQ(0, *ctg_dtt_entry(t, BASE_GFN - 1));
		EXPECT_EQ(0, *ctg_dtt_entry(t, BASE_GFN + DISTINCT));
		EXPECT_EQ(reqs, s1.requests - s0.requests);
		EXPECT_EQ(reqs, s1.served_task - s0.served_task);
		EXPECT_EQ(s0.served_worker, s1.served_worker);
		EXPECT_EQ(0, s1.refused_requests);
		EXPECT_EQ((DISTINCT + 1) * 4, ct_locked_vm_kb(getpid()));
	}

	/* DMA reaches pages of both sets and of their overlap. */
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(BASE_GFN), 11));
	ASSERT_EQ(0, ctg_shadow_sync(t));
	for (i = 0; i < ARRAY_SIZE(samples); i++)
		ASSERT_EQ(0, ctg_dma_write(t, CTG_GPA(BASE_GFN + samples[i]) + 1,
					   ctg_pattern(11), CT_EDU_DMA_MAX));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("RAM differs from what the DMAs wrote at %#llx",
		       (unsigned long long)d);
	}
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 200, "DMAR: ", NULL));
	ASSERT_EQ(0, ctg_guest_hash(t, 1, CTG_GPA(BASE_GFN),
				    DISTINCT * CT_PAGE, &hash));
	EXPECT_EQ(ctg_shadow_hash(t, CTG_GPA(BASE_GFN), DISTINCT * CT_PAGE),
		  hash);
	for (v = 0; v < 2; v++)
		ASSERT_EQ(0, ctg_run(t, v, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
