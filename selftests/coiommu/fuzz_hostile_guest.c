// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_hostile_guest: a nested KVM guest that abuses coIOMMU. Two vCPUs,
 * a seeded generator in the guest: random slot values, single requests
 * for random GFNs and BDFs, batch lists of random length and content,
 * batch pointers anywhere (MMIO, BAR2, outside RAM, unaligned), trigger
 * storms and empty rings, while the other vCPU keeps rewriting the DTT
 * (upper entries pointing into MMIO, outside RAM, at their own table, at
 * the root; random leaf words) and the unpinner walks that DTT every few
 * milliseconds.
 *
 * Pass: no oops or WARN (the rig checks the console); every ring finds
 * its slot completed on the very next instruction; the host counts
 * exactly the requests the guest made, all served in the vCPU thread;
 * every pinned page lies in guest RAM (the instance's debugfs list); the
 * pins outstanding equal what the instance accounts for; nothing is left
 * after the VM is gone.
 *
 * Seeded and reproducible: FUZZ_SEED, FUZZ_ITERS (per vCPU, default
 * 130000: about 110000 requests in all).
 */
#include "ct_kvm.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ct_guest.h"

#define OP_FUZZ		(CTG_OP_USER + 1)	/* a0 seed, a1 iterations, a2 role */
#define ROLE_REQUEST	0
#define ROLE_MUTATE	1
#define PHASES		5

/* ---- guest ------------------------------------------------------------ */

static uint64_t g_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t g_below(uint64_t *s, uint64_t n)
{
	return n ? g_rnd(s) % n : 0;
}

/* Somewhere a hostile guest would point the host at. */
static uint64_t g_gpa(uint64_t *s, uint64_t ram_size)
{
	switch (g_below(s, 10)) {
	case 0:
		return CTG_BAR0_GPA + g_below(s, CTG_BAR_SIZE);
	case 1:
		return CTG_BAR2_GPA;
	case 2:
		return CTG_RAM_GPA + ram_size + g_below(s, 1ULL << 30);
	case 3:
		return g_rnd(s) & ((1ULL << 52) - 1);
	case 4:
		return g_below(s, CTG_RAM_GPA);
	case 5:
		return CTG_TABLES_GPA + g_below(s, CTG_TABLE_PAGES) * CT_PAGE;
	default:
		return CTG_RAM_GPA + g_below(s, ram_size);
	}
}

static void g_mutate(uint64_t *s, uint64_t ram_size)
{
	uint64_t table = CTG_TABLES_GPA + g_below(s, CTG_TABLE_PAGES) * CT_PAGE;
	volatile uint64_t *e = (volatile uint64_t *)table + g_below(s, 512);
	struct ctg_info *info = ctg_guest_info();

	switch (g_below(s, 8)) {
	case 0:
		*e = (g_gpa(s, ram_size) & ~0xfffULL) | 1;
		break;
	case 1:
		*e = table | 1;				/* at itself */
		break;
	case 2:
		*e = info->dtt_root | 1;		/* at the root */
		break;
	case 3:
		*e = g_rnd(s);
		break;
	case 4:
		*e = 0;
		break;
	case 5:	/* leaf words: counts, ACCESSED, a fake PINNED */
		*(volatile uint32_t *)e = (uint32_t)g_rnd(s);
		break;
	default:	/* a plausible table somewhere in RAM */
		*e = ((CTG_RAM_GPA + g_below(s, ram_size)) & ~0xfffULL) | 1;
	}
}

static void g_fuzz(unsigned int vcpu, struct ctg_mbox *mb)
{
	struct ctg_info *info = ctg_guest_info();
	struct ctg_batch *b = (struct ctg_batch *)(CTG_SCRATCH_GPA +
				vcpu * CTG_SCRATCH_PAGES * CT_PAGE);
	uint64_t s = mb->a[0] * 2654435761ULL + vcpu + 1;
	uint64_t iters = mb->a[1], ram_size = mb->a[3];
	uint64_t requests = 0, late = 0, rings = 0, i, req, k, n;

	for (i = 0; i < iters; i++) {
		unsigned int what = g_below(&s, 100);
		unsigned int storm = 1;

		if (mb->a[2] == ROLE_MUTATE && what < 85) {
			g_mutate(&s, ram_size);
			continue;
		}
		if (what < 30) {
			req = CTG_REQ_SINGLE(g_below(&s, 5) ?
				CTG_GFN(CTG_DATA_GPA) + g_below(&s,
					CTG_GFN(ram_size) - 64) :
				g_rnd(&s) & ((1ULL << 48) - 1),
				g_below(&s, 8) ? info->bdf : (uint16_t)g_rnd(&s));
		} else if (what < 42) {
			req = g_rnd(&s);
		} else if (what < 62) {
			n = g_below(&s, 10) ? g_below(&s, CTG_BATCH_MAX) :
				g_rnd(&s) >> g_below(&s, 64);
			b->bdf = g_below(&s, 8) ? info->bdf : g_rnd(&s);
			b->nr_pages = n;
			for (k = 0; k < n && k < CTG_BATCH_MAX; k++)
				b->gfn[k] = g_below(&s, 4) ?
					CTG_GFN(CTG_RAM_GPA) +
					g_below(&s, CTG_GFN(ram_size)) :
					CTG_GFN(g_gpa(&s, ram_size));
			req = CTG_REQ_BATCH | (uint64_t)b;
		} else if (what < 72) {
			req = CTG_REQ_BATCH | g_gpa(&s, ram_size) |
			      g_below(&s, 8);
		} else if (what < 85) {
			g_mutate(&s, ram_size);
			continue;
		} else {
			req = g_below(&s, 3) ? CTG_REQ_SINGLE(CTG_GFN(CTG_DATA_GPA),
							      info->bdf) : 0;
			storm = 1 + g_below(&s, 6);
		}
		/*
		 * The first ring carries the request; in a storm the rest
		 * ring with an empty slot, which the host must not count.
		 */
		for (k = 0; k < storm; k++) {
			if (ctg_guest_ring(vcpu, k ? 0 : req))
				late++;
			if (!k && req)
				requests++;
			rings++;
		}
	}
	mb->r[0] = requests;
	mb->r[1] = late;
	mb->r[2] = rings;
}

static void guest_code(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, OP_FUZZ, g_fuzz);
}

/* ---- host ------------------------------------------------------------- */

struct runner {
	pthread_t thread;
	struct ctg *t;
	unsigned int vcpu;
	uint64_t seed, iters, role;
	int ret;
};

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;

	r->ret = ctg_run(r->t, r->vcpu, OP_FUZZ, r->seed, r->iters, r->role,
			 r->t->ram_size);
	return NULL;
}

/* Every pinned range of the instance lies in [first, last]. */
static long pinned_outside(int co, uint64_t first, uint64_t last,
			   long *ranges)
{
	char path[96];
	unsigned long long a, b;
	long id = ct_co_fdinfo(co, "coiommu-instance"), bad = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/coiommu/%ld.pinned", id);
	f = fopen(path, "re");
	if (!f)
		return -1;
	*ranges = 0;
	while (fscanf(f, "%llx-%llx%*[^\n]", &a, &b) == 2) {
		(*ranges)++;
		if (a < first || b > last || a > b)
			bad++;
	}
	fclose(f);
	return bad;
}

/* While the guests run: sample the pinned list, all of it in RAM? */
struct sampler {
	pthread_t thread;
	int co;
	uint64_t first, last;
	volatile bool stop;
	long samples, nonempty, bad;
};

static void *sample_pinned(void *arg)
{
	struct sampler *sm = arg;
	long ranges;

	while (!sm->stop) {
		long bad = pinned_outside(sm->co, sm->first, sm->last, &ranges);

		sm->samples++;
		if (ranges)
			sm->nonempty++;
		if (bad)
			sm->bad += bad;
		usleep(20000);
	}
	return NULL;
}

FIXTURE(fz) {
	struct ct_env env;
	struct ctg t;
};

FIXTURE_SETUP(fz)
{
	struct ctg_cfg cfg = {
		.nr_vcpus = 2,
		.guest_code = guest_code,
		.unparked = true,
	};

	ctg_init(&self->t);
	ct_env_setup(_metadata, &self->env);
	ASSERT_EQ(0, ctg_create(&self->t, &cfg));
	/* The unpinner walks the hostile DTT all the time. */
	ASSERT_EQ(0, coiommu_set_unpin_policy(self->t.co, 5, 3, 256));
}

FIXTURE_TEARDOWN(fz)
{
	ctg_destroy(&self->t);
	ct_env_teardown(_metadata, &self->env);
}

TEST_F_TIMEOUT(fz, fuzz_hostile_guest, 900)
{
	uint64_t seed = getenv("FUZZ_SEED") ? strtoull(getenv("FUZZ_SEED"),
						       NULL, 0) : time(NULL);
	uint64_t iters = getenv("FUZZ_ITERS") ? strtoull(getenv("FUZZ_ITERS"),
							 NULL, 0) : 130000;
	static uint8_t tables[CTG_TABLE_PAGES * CT_PAGE];
	uint64_t rings[2] = { 0 }, reqs[2] = { 0 }, late[2] = { 0 };
	unsigned int phase;
	struct runner r[2];
	struct sampler sm;
	struct coiommu_stats st;
	uint64_t requests = 0;
	long outside, ranges, pins;
	unsigned int i;

	TH_LOG("seed %llu, %llu iterations per vCPU (FUZZ_SEED/FUZZ_ITERS to repeat)",
	       (unsigned long long)seed, (unsigned long long)iters);
	sm = (struct sampler){ .co = self->t.co,
			       .first = CTG_GFN(CTG_RAM_GPA),
			       .last = CTG_GFN(CTG_RAM_GPA + self->t.ram_size) - 1 };
	ASSERT_EQ(0, pthread_create(&sm.thread, NULL, sample_pinned, &sm));
	/*
	 * Phases: the mutator soon leaves little of the DTT standing, so
	 * each phase starts again from the pristine tables.
	 */
	memcpy(tables, ctg_hva(&self->t, CTG_TABLES_GPA), sizeof(tables));
	for (phase = 0; phase < PHASES; phase++) {
		memcpy(ctg_hva(&self->t, CTG_TABLES_GPA), tables, sizeof(tables));
		for (i = 0; i < 2; i++) {
			r[i] = (struct runner){ .t = &self->t, .vcpu = i,
						.seed = seed + phase,
						.iters = iters / PHASES,
						.role = i };
			ASSERT_EQ(0, pthread_create(&r[i].thread, NULL,
						    run_vcpu, &r[i]));
		}
		for (i = 0; i < 2; i++) {
			pthread_join(r[i].thread, NULL);
			ASSERT_EQ(0, r[i].ret) {
				TH_LOG("vCPU %u failed (seed %llu phase %u)", i,
				       (unsigned long long)seed, phase);
			}
			rings[i] += ctg_res(&self->t, i)[2];
			reqs[i] += ctg_res(&self->t, i)[0];
			late[i] += ctg_res(&self->t, i)[1];
		}
	}
	for (i = 0; i < 2; i++) {
		TH_LOG("vCPU %u: %llu rings, %llu requests, %llu slots not completed at once",
		       i, (unsigned long long)rings[i],
		       (unsigned long long)reqs[i],
		       (unsigned long long)late[i]);
		EXPECT_EQ(0, late[i]) {
			TH_LOG("seed %llu: a guest found its slot busy after ringing",
			       (unsigned long long)seed);
		}
		requests += reqs[i];
	}
	sm.stop = true;
	pthread_join(sm.thread, NULL);
	TH_LOG("pinned list sampled %ld times (%ld with pages pinned): %ld ranges outside guest RAM",
	       sm.samples, sm.nonempty, sm.bad);
	EXPECT_EQ(0, sm.bad);
	EXPECT_LT(0, sm.nonempty);
	if (!getenv("FUZZ_ITERS"))
		EXPECT_LE(100000, requests);

	/* Quiet the unpinner, then compare the books. */
	ASSERT_EQ(0, coiommu_command(self->t.co, COIOMMU_CMD_PARK, 0, 0));
	ASSERT_EQ(0, coiommu_get_stats(self->t.co, &st));
	TH_LOG("host: %llu requests (%llu refused in whole or part), %llu pins, %llu unpins (%llu lazy), %llu pinned now, %llu scans",
	       (unsigned long long)st.requests,
	       (unsigned long long)st.refused_requests,
	       (unsigned long long)st.pins, (unsigned long long)st.unpins,
	       (unsigned long long)st.unpins_lazy,
	       (unsigned long long)st.pinned_pages,
	       (unsigned long long)st.scans);
	EXPECT_EQ(requests, st.requests);
	EXPECT_EQ(requests, st.served_task);
	EXPECT_LT(0, st.refused_requests);
	EXPECT_LT(0, st.pins);

	outside = pinned_outside(self->t.co, CTG_GFN(CTG_RAM_GPA),
				 CTG_GFN(CTG_RAM_GPA + self->t.ram_size) - 1,
				 &ranges);
	EXPECT_EQ(0, outside) {
		TH_LOG("seed %llu: pages pinned outside guest RAM",
		       (unsigned long long)seed);
	}
	/* The notify slots are one more pinned page. */
	pins = ct_pins_outstanding(&self->env.base);
	EXPECT_EQ((long)st.pinned_pages + 1, pins);
	EXPECT_EQ(((long)st.pinned_pages + 1) * 4, ct_locked_vm_kb(getpid()));
	TH_LOG("%ld pinned ranges, all in guest RAM", ranges);
}

TEST_HARNESS_MAIN
