// SPDX-License-Identifier: GPL-2.0
/*
 * abi_batch_large: batches of any length, as the deployed device serves
 * them (its guest driver puts every unpinned page of one DMA mapping into
 * one batch, so a mapping over 256 MiB makes a batch over 65536 pages).
 *
 *  - big: one batch of NPAGES pages (66048, 258 MiB: more than the 65536
 *    pages the module refused before; the 2 GiB test VM does not hold a
 *    512 MiB guest with its shadow copy next to the rest). The slot is 0 on
 *    the guest's next instruction, every page is PINNED and pinned
 *    (stats, FOLL_PIN counters), and edu DMA to the first and the last
 *    page lands in guest RAM.
 *  - hostile: vCPU 1 sends a batch that claims 2^40 pages, its list
 *    running over HOSTILE_BYTES of guest RAM and then out of it; while
 *    the host serves it, a single-page request of vCPU 0 is served (the
 *    host drops the instance lock between slices), and the hostile slot
 *    completes too, refused, once its list leaves guest RAM. Proof that
 *    vCPU 0 was served meanwhile: it rang, and the hostile slot is still
 *    busy once vCPU 0's map is over. If not (the hostile batch ended
 *    first, be it before vCPU 0 rang), vCPU 0 unmaps its page, the VMM
 *    force-unpins it and both requests are made again, up to TRIES times.
 *    How long each took is logged.
 *
 * The DTT tables (65 of them) come from a pool at the end of
 * guest RAM. edu's DMA mask is widened by the rig (tools/rig/vm.sh).
 */
#include "ct_kvm.h"

#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define NPAGES		66048ULL
#define FIRST_GFN	CTG_DATA_GFN
#define LIST_GPA	CTG_GPA(FIRST_GFN + NPAGES)
#define LIST_PAGES	(NPAGES * 8 / CT_PAGE + 1)
#define POOL_GPA	(LIST_GPA + LIST_PAGES * CT_PAGE)
#define POOL_PAGES	80
#define RAM_SIZE	(POOL_GPA + POOL_PAGES * CT_PAGE - CTG_RAM_GPA)
#define HOSTILE_BYTES	(256ULL << 20)
#define SINGLE_GFN	(FIRST_GFN + NPAGES - 1)
#define TRIES		3

CTG_FIXTURE(ab, .nr_vcpus = 2, .ram_size = RAM_SIZE, .dtt_cover = 4ULL << 20);

/* Tables taken from the pool (each test runs in a process of its own). */
static unsigned int pool_used;

/* Upper tables down to @gfn's leaf, from the pool. */
static int cover(FIXTURE_DATA(ab) *self, uint64_t gfn)
{
	struct ctg *t = &self->t;
	unsigned int l;

	for (l = t->dtt_level; l >= 2; l--) {
		uint64_t *e = ctg_dtt_upper(t, l, gfn);
		uint64_t gpa;

		if (!e)
			return -1;
		if (*e & CTG_DTT_PRESENT)
			continue;
		if (pool_used >= POOL_PAGES)
			return -1;
		gpa = POOL_GPA + pool_used++ * CT_PAGE;
		memset(ctg_hva(t, gpa), 0, CT_PAGE);
		*e = gpa | CTG_DTT_PRESENT;
	}
	return 0;
}

struct hostile {
	struct ctg *t;
	uint64_t req;
	uint64_t after;
	int ret;
	long ms;		/* how long the ring took */
	volatile int done;
};

static void *ring_hostile(void *arg)
{
	struct hostile *h = arg;
	long t0 = ct_now_ms();

	h->ret = ctg_ring(h->t, 1, h->req, &h->after);
	h->ms = ct_now_ms() - t0;
	h->done = 1;
	return NULL;
}

/* TCG: pinning 512 MiB page by page into an emulated IOMMU takes a while. */
TEST_F_TIMEOUT(ab, abi_batch_large, 600)
{
	struct ctg *t = &self->t;
	uint64_t *list = ctg_hva(t, LIST_GPA);
	struct coiommu_stats st, st2;
	struct ct_pins a, b;
	struct hostile h = { .t = t };
	struct ctg_map_res res;
	uint64_t i, after = ~0ULL, d, n, busy_before, busy_after;
	unsigned int try;
	pthread_t thr;
	long map_ms;

	ASSERT_NE(NULL, list);
	ASSERT_NE(NULL, ctg_hva(t, POOL_GPA + POOL_PAGES * CT_PAGE - 1));
	/* The guest maps every page: map count 1, ACCESSED. */
	for (i = 0; i < NPAGES; i++) {
		if (!i || !((FIRST_GFN + i) % 1024))
			ASSERT_EQ(0, cover(self, FIRST_GFN + i));
		*ctg_dtt_entry(t, FIRST_GFN + i) = CTG_DTT_ACCESSED | 1;
	}
	list[0] = t->bdf;
	list[1] = NPAGES;
	for (i = 0; i < NPAGES; i++)
		list[2 + i] = FIRST_GFN + i;

	TH_LOG("DTT and list ready (%u tables from the pool)", pool_used);
	/* ---- big: one batch of 512 MiB ---- */
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, ctg_ring(t, 0, CTG_REQ_BATCH | LIST_GPA, &after));
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(0, after) {
		TH_LOG("slot %#llx right after the trigger",
		       (unsigned long long)after);
	}
	EXPECT_EQ(NPAGES, b.acquired - a.acquired);
	for (i = n = 0; i < NPAGES; i++)
		n += *ctg_dtt_entry(t, FIRST_GFN + i) ==
		     (CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1);
	EXPECT_EQ(NPAGES, n);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(NPAGES, st.pinned_pages);
	EXPECT_EQ(1, st.requests);
	EXPECT_EQ(0, st.refused_requests);

	TH_LOG("big batch served");
	/* The first and the last page by DMA. */
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(FIRST_GFN), 5));
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ctg_dma_write(t, CTG_GPA(FIRST_GFN) + 64, ctg_pattern(5),
				   CT_EDU_DMA_MAX));
	ASSERT_EQ(0, ctg_dma_write(t, CTG_GPA(FIRST_GFN + NPAGES - 1),
				   ctg_pattern(5), CT_EDU_DMA_MAX));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("guest RAM at %#llx is not what the DMAs wrote",
		       (unsigned long long)d);
	}
	EXPECT_FALSE(ct_kmsg_wait(&self->kmsg, 200, "DMAR: ", NULL)) {
		TH_LOG("a DMAR fault for a pinned page");
	}

	/*
	 * ---- hostile: 2^40 pages, the list over HOSTILE_BYTES of zeros
	 * (GFN 0 is not guest RAM here: each entry is refused) and then out
	 * of guest RAM. Meanwhile vCPU 0 asks for one page it unmapped.
	 */
	{
		uint64_t hgpa = CTG_GPA(FIRST_GFN + NPAGES) - HOSTILE_BYTES;
		uint64_t *hl = ctg_hva(t, hgpa);

		ASSERT_NE(NULL, hl);
		memset(hl, 0, HOSTILE_BYTES);
		hl[0] = t->bdf;
		hl[1] = 1ULL << 40;
		h.req = CTG_REQ_BATCH | hgpa;
	}
	ASSERT_EQ(0, ctg_policy(t, 0, 15, 0));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_UNPARK, 0, 0));
	for (try = 1;; try++) {
		struct coiommu_force_unpin fu = {
			.argsz = sizeof(fu),
			.gpa = CTG_GPA(SINGLE_GFN),
			.size = CT_PAGE,
		};

		/* vCPU 0's page: unmapped, and unpinned. */
		ASSERT_EQ(0, ctg_unmap(t, 0, SINGLE_GFN, 1));
		ASSERT_EQ(0, ioctl(t->co, COIOMMU_FORCE_UNPIN, &fu));
		ASSERT_EQ(1, fu.nr_released);
		ASSERT_EQ(0, ctg_entry(t, SINGLE_GFN));

		TH_LOG("hostile batch next");
		ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
		h.done = 0;
		ASSERT_EQ(0, pthread_create(&thr, NULL, ring_hostile, &h));
		/* Let the host get going on the hostile list. */
		while (!t->slots[1] && !h.done)
			usleep(1000);
		usleep(20000);
		busy_before = t->slots[1];
		map_ms = ct_now_ms();
		ASSERT_EQ(0, ctg_map(t, 0, SINGLE_GFN, 1, CTG_MAP_SINGLE,
				     &res));
		map_ms = ct_now_ms() - map_ms;
		/*
		 * Still busy: vCPU 0 was served while the host was at it. The
		 * hostile list ends in the big batch's list: if the host got
		 * there first, it pinned the page, and vCPU 0 did not ring.
		 */
		busy_after = t->slots[1];
		EXPECT_EQ(0, res.unpinned);
		EXPECT_EQ(0, res.last_slot);
		ASSERT_EQ(0, pthread_join(thr, NULL));
		TH_LOG("try %u: hostile batch %ld ms; vCPU 0's map %ld ms, %llu requests, %s",
		       try, h.ms, map_ms, (unsigned long long)res.requests,
		       busy_after ? "over while the hostile slot was busy" :
		       busy_before ? "over after the hostile slot completed" :
		       "made after the hostile slot had completed");
		EXPECT_EQ(0, h.ret);
		EXPECT_EQ(0, h.after) {
			TH_LOG("hostile slot %#llx right after the trigger",
			       (unsigned long long)h.after);
		}
		EXPECT_EQ(0, ctg_res(t, 1)[1]) {
			TH_LOG("hostile slot never completed");
		}
		ASSERT_EQ(0, coiommu_get_stats(t->co, &st2));
		EXPECT_GE(1, res.requests);
		EXPECT_EQ(st.requests + 1 + res.requests, st2.requests);
		EXPECT_EQ(st.refused_requests + 1, st2.refused_requests);
		EXPECT_EQ(NPAGES, st2.pinned_pages);
		EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1,
			  ctg_entry(t, SINGLE_GFN));
		if (busy_after && res.requests == 1)
			break;
		ASSERT_GT(TRIES, try) {
			TH_LOG("in %d tries vCPU 0's request was never served while the hostile batch was: nothing shown",
			       TRIES);
		}
	}
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
