// SPDX-License-Identifier: GPL-2.0
/*
 * bench_pin: benchmarks P1 (pin latency) and P2 (pin throughput).
 *
 * A raw KVM guest (selftests/coiommu/lib/ct_guest.[ch]) with a DTT, an edu
 * device in a VFIO type1 container and a coIOMMU instance. The guest
 * times each request with the TSC, from just before it writes its notify
 * slot and trigger byte until its slot reads 0 and PINNED is set on every
 * page it asked for, spinning on the slot without PAUSE. Every request
 * asks for pages that are not pinned: the pages are released between
 * measured requests, untimed.
 *
 * Variants, run interleaved in the same VM, after a warm-up round that is
 * dropped:
 *   ours     the coIOMMU doorbell (BAR0 trigger of vCPU 0), served by task
 *            work in the vCPU thread; released with COIOMMU_FORCE_UNPIN
 *   worker   the same with the module parameter task_work_path=N: served
 *            by the instance's worker (system_unbound_wq)
 *   baseline the deployed design: an ioeventfd on another trigger address,
 *            not attached to coIOMMU; a user thread of this program waits
 *            on its eventfd, does one VFIO_IOMMU_MAP_DMA (IOVA = GPA) per
 *            page of the request on the edu device's container, sets
 *            PINNED in the DTT leaf and clears the slot; released with
 *            VFIO_IOMMU_UNMAP_DMA
 *   baseline_spin  the same thread spinning on its eventfd (non-blocking
 *            reads) instead of sleeping on it: the deployed design's best
 *            case, without the wake-up of a sleeping thread on another
 *            CPU
 *   D        a doorbell nobody serves (an ioeventfd on a third trigger
 *            address): the guest writes the trigger and reads its slot
 *   floor    tools/bench/kmod/coiommu_bench_floor: a kernel loop of
 *            pin_user_pages + iommu_map of one page into the edu device's
 *            domain, timed per iteration with ktime; no doorbell
 *
 * P1: single-page requests, 64 per guest run, raw and net of D (D's
 * median subtracted); extra diagnostic variants 'refused' (our doorbell
 * with a BDF that is no endpoint: D + task-work hand-off + checks, no
 * pin) and 'floor_cold' (the floor with a TLB flush before each
 * iteration, as every nested VM exit does to QEMU's software TLB).
 * P2: requests of 1, 16 or 512 pages (batch requests for 16 and 512, the
 * baseline doing one MAP_DMA per page), 64, 64 and 2 requests per guest
 * run, ours and baseline alternating run by run, the first run of each
 * dropped; pages per second = pages / median request time, raw.
 *
 * In the warm-up round, a page pinned by ours and one pinned by the
 * baseline each take an edu DMA both ways (untimed): the pins are real
 * IOMMU mappings at IOVA = GPA.
 *
 * The baseline thread also times each VFIO_IOMMU_MAP_DMA ioctl (user
 * space, CLOCK_MONOTONIC): p1.csv's last line, type1_map_dma_ioctl.
 *
 * Output (-o OUTDIR): p1.csv, p1_samples.csv, p1_cdf.csv, p1.gp,
 * p1.summary, p2.csv, p2.gp, p2.summary. BENCH_QUICK=1: a short smoke run.
 * Absolute times are TCG, not hardware.
 */
#include "pin_util.h"

#include <math.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "kvm_util.h"
#include "processor.h"

#include "ct_guest.h"
#include "kmod/bench_floor.h"

/* ---- layout ------------------------------------------------------------ */
#define RAM_SIZE	(32ULL << 20)
#define OURS_GFN	(CTG_DATA_GFN)		/* 1024 pages each */
#define BASE_GFN	(CTG_DATA_GFN + 1024)
#define FLOOR_GFN	(CTG_DATA_GFN + 2048)
#define REGION_PAGES	1024
/* The baseline's and D's trigger bytes and slots: BAR0 / BAR2 + 0x1000. */
#define BASE_TRIG	(CTG_BAR0_GPA + 0x1000)
#define NULL_TRIG	(CTG_BAR0_GPA + 0x1008)
#define BASE_SLOT	0x1000
#define NULL_SLOT	0x1008
/* Per-request TSC ticks, written by the guest. */
#define RES_GPA		CTG_USER_GPA
#define RES_MAX		256

#define OP_REQS		(CTG_OP_USER + 1)
#define SPIN_MAX	(1ULL << 31)

enum { K_OURS, K_BASE, K_NULL, K_NOOP };
enum {
	V_OURS, V_WORKER, V_BASE, V_NULL, V_FLOOR, V_NOOP, V_COLD, V_BPOLL,
	NR_V
};
static const char *const vname[NR_V] = {
	"ours", "worker", "baseline", "D", "floor", "refused", "floor_cold",
	"baseline_spin",
};

#define TW_PARAM	"/sys/module/" CT_MODULE "/parameters/task_work_path"
#define FLOOR_MOD	"coiommu_bench_floor"

/* ---- guest ------------------------------------------------------------- */
static inline uint64_t guest_rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("lfence; rdtsc" : "=a" (lo), "=d" (hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

/*
 * a0: K_*, a1: first gfn, a2: requests, a3: pages per request. Request j
 * asks for the a3 pages from a1 + j * a3 (map count + 1 and ACCESSED
 * first, untimed), and its ticks go to RES_GPA[j]; the pages are unmapped
 * again (map count - 1) after it, untimed. r0: pages not PINNED when
 * the guest looked, r1: holes, r2: requests whose slot never read 0.
 */
static void guest_reqs(unsigned int vcpu, struct ctg_mbox *mb)
{
	struct ctg_info *info = ctg_guest_info();
	struct ctg_batch *b = (struct ctg_batch *)(CTG_SCRATCH_GPA +
			vcpu * CTG_SCRATCH_PAGES * CT_PAGE);
	uint32_t **ent = (uint32_t **)CTG_LIST_GPA(vcpu);
	volatile uint64_t *res = (volatile uint64_t *)RES_GPA;
	uint64_t kind = mb->a[0], first = mb->a[1], nreq = mb->a[2];
	uint64_t bs = mb->a[3], unpinned = 0, holes = 0, j, i;
	volatile uint64_t *slot;
	volatile uint8_t *trig;

	if (kind == K_OURS || kind == K_NOOP) {
		slot = (volatile uint64_t *)(CTG_BAR2_GPA + 8 * vcpu);
		trig = (volatile uint8_t *)(CTG_BAR0_GPA + COIOMMU_REG_TRIGGER +
					    vcpu);
	} else if (kind == K_BASE) {
		slot = (volatile uint64_t *)(CTG_BAR2_GPA + BASE_SLOT);
		trig = (volatile uint8_t *)BASE_TRIG;
	} else {
		slot = (volatile uint64_t *)(CTG_BAR2_GPA + NULL_SLOT);
		trig = (volatile uint8_t *)NULL_TRIG;
	}
	mb->r[2] = 0;
	if (nreq > RES_MAX || !bs || bs > CTG_LIST_MAX) {
		mb->r[1] = ~0ULL;
		return;
	}
	for (j = 0; j < nreq; j++) {
		uint64_t g0 = first + j * bs, req = 0, t0, t1, miss = 0, spins;

		for (i = 0; i < bs; i++) {
			uint32_t *e = ctg_dtt_walk(info->dtt_root,
						   info->dtt_level, g0 + i, 0);

			ent[i] = e;
			if (!e) {
				holes++;
				continue;
			}
			__atomic_fetch_add(e, 1, __ATOMIC_SEQ_CST);
			__atomic_fetch_or(e, CTG_DTT_ACCESSED, __ATOMIC_SEQ_CST);
		}
		if (kind == K_NOOP) {
			/* A BDF that is not an endpoint: refused at once. */
			req = CTG_REQ_SINGLE(g0, (uint16_t)(info->bdf + 1));
		} else if (kind != K_NULL) {
			if (bs == 1) {
				req = CTG_REQ_SINGLE(g0, info->bdf);
			} else {
				b->bdf = info->bdf;
				b->pad[0] = b->pad[1] = b->pad[2] = 0;
				b->nr_pages = bs;
				for (i = 0; i < bs; i++)
					b->gfn[i] = g0 + i;
				req = CTG_REQ_BATCH | (uint64_t)(uintptr_t)b;
			}
		}

		t0 = guest_rdtsc();
		if (req)
			*slot = req;
		*trig = 1;
		/* No PAUSE; bounded (seconds), a request never served fails. */
		for (spins = 0; *slot && spins < SPIN_MAX; spins++)
			;
		if (*slot) {
			mb->r[2]++;
			*slot = 0;
		}
		for (i = 0; i < bs; i++)
			if (!ent[i] || !(__atomic_load_n(ent[i], __ATOMIC_ACQUIRE) &
					 CTG_DTT_PINNED))
				miss++;
		t1 = guest_rdtsc();

		res[j] = t1 - t0;
		if (kind == K_OURS || kind == K_BASE)
			unpinned += miss;
		for (i = 0; i < bs; i++)
			if (ent[i])
				__atomic_fetch_sub(ent[i], 1, __ATOMIC_SEQ_CST);
	}
	mb->r[0] = unpinned;
	mb->r[1] = holes;
}

static void guest_main(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, OP_REQS, guest_reqs);
}

/* ---- host: the baseline's pin thread ---------------------------------- */
struct base {
	struct ctg *t;
	int efd;		/* the baseline's trigger */
	int null_efd;		/* D's trigger, never read */
	volatile uint64_t *slot;
	volatile int stop;
	volatile int poll;	/* spin on the eventfd instead of sleeping */
	int cpu;		/* where it ran */
	uint64_t maps, errors;
	uint64_t *map_ns;	/* each VFIO_IOMMU_MAP_DMA ioctl, user space */
	size_t map_n, map_cap;
	pthread_t thread;
};

static int base_map(struct base *bs, uint64_t gfn)
{
	struct ctg *t = bs->t;
	void *hva = ctg_hva(t, CTG_GPA(gfn));
	uint32_t *e = ctg_dtt_entry(t, gfn);

	uint64_t t0 = pu_now_ns();

	if (!hva || !e || ct_vfio_map(t->edu.container, hva, CTG_GPA(gfn),
				      CT_PAGE)) {
		bs->errors++;
		return -1;
	}
	if (bs->map_n < bs->map_cap)
		bs->map_ns[bs->map_n++] = pu_now_ns() - t0;
	bs->maps++;
	__atomic_fetch_or(e, CTG_DTT_PINNED, __ATOMIC_SEQ_CST);
	return 0;
}

static void base_serve(struct base *bs, uint64_t req)
{
	struct ctg *t = bs->t;
	struct ctg_batch *b;
	uint64_t i, n;

	if (!(req & CTG_REQ_BATCH)) {
		base_map(bs, req >> 16);
		return;
	}
	b = ctg_hva(t, req & ~CTG_REQ_BATCH);
	if (!b) {
		bs->errors++;
		return;
	}
	n = b->nr_pages;
	if (n > CTG_BATCH_MAX) {
		bs->errors++;
		return;
	}
	for (i = 0; i < n; i++)
		base_map(bs, b->gfn[i]);
}

static void *base_thread(void *arg)
{
	struct base *bs = arg;
	uint64_t cnt, req;

	bs->cpu = pu_pin_cpu(1);
	for (;;) {
		struct pollfd pfd = { .fd = bs->efd, .events = POLLIN };

		/* Sleep until the doorbell, or (poll mode) spin on it. */
		if (!bs->poll && poll(&pfd, 1, -1) < 0 && errno != EINTR)
			break;
		if (read(bs->efd, &cnt, sizeof(cnt)) != sizeof(cnt)) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			break;
		}
		if (bs->stop)
			break;
		req = __atomic_load_n(bs->slot, __ATOMIC_ACQUIRE);
		if (!req)
			continue;
		base_serve(bs, req);
		__atomic_store_n(bs->slot, 0, __ATOMIC_RELEASE);
	}
	return NULL;
}

static int ioeventfd(int vm_fd, uint64_t gpa, int efd)
{
	struct kvm_ioeventfd io = {
		.addr = gpa,
		.len = 1,
		.fd = efd,
	};

	return ioctl(vm_fd, KVM_IOEVENTFD, &io) ? -errno : 0;
}

static int base_start(struct base *bs, struct ctg *t)
{
	memset(bs, 0, sizeof(*bs));
	bs->t = t;
	bs->cpu = -1;
	bs->slot = t->slots + BASE_SLOT / 8;
	bs->map_cap = 1 << 20;
	bs->map_ns = calloc(bs->map_cap, sizeof(*bs->map_ns));
	if (!bs->map_ns)
		return -1;
	bs->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	bs->null_efd = eventfd(0, EFD_CLOEXEC);
	if (bs->efd < 0 || bs->null_efd < 0 ||
	    ioeventfd(t->vm->fd, BASE_TRIG, bs->efd) ||
	    ioeventfd(t->vm->fd, NULL_TRIG, bs->null_efd)) {
		perror("# baseline ioeventfds");
		return -1;
	}
	return pthread_create(&bs->thread, NULL, base_thread, bs) ? -1 : 0;
}

/*
 * Poll mode (the 'baseline_spin' variant): the thread spins on its
 * eventfd (non-blocking reads) instead of sleeping until it is signalled:
 * the deployed design's best case, no wake-up of a sleeping thread. It
 * still starts only once the doorbell rang, as the protocol says.
 */
static void base_poll(struct base *bs, bool on)
{
	uint64_t one = 1;

	bs->poll = on;
	/* Wake it from its poll(); a spare count is harmless. */
	if (on && write(bs->efd, &one, sizeof(one)) != sizeof(one))
		perror("# baseline eventfd");
}

static void base_stop(struct base *bs)
{
	uint64_t one = 1;

	bs->stop = 1;
	if (write(bs->efd, &one, sizeof(one)) == sizeof(one))
		pthread_join(bs->thread, NULL);
}

/* ---- host: one measured batch of requests ----------------------------- */
struct bench {
	struct ctg t;
	struct base base;
	double tpn;		/* TSC ticks per ns */
	uint64_t d_med;		/* P1's median D, ns */
	bool prove;		/* DMA proof of the first page (warm-up) */
	unsigned int proofs;
	int floor_fd;
	bool floor_loaded;
	int main_cpu;
};

static uint32_t entry_of(struct ctg *t, uint64_t gfn)
{
	return ctg_entry(t, gfn);
}

/* Release @n pages from @gfn that a K_OURS run pinned; all must go. */
static int ours_release(struct bench *b, uint64_t gfn, uint64_t n)
{
	uint64_t released = 0, busy = 0;
	int ret = coiommu_force_unpin(b->t.co, CTG_GPA(gfn), n * CT_PAGE, NULL,
				      &released, &busy);

	if (ret || released != n || busy) {
		fprintf(stderr, "# FORCE_UNPIN of %llu pages: %d, released %llu, busy %llu\n",
			(unsigned long long)n, ret,
			(unsigned long long)released,
			(unsigned long long)busy);
		return -1;
	}
	return 0;
}

/* Release what the baseline mapped: type1 unmap, DTT entries back to 0. */
static int base_release(struct bench *b, uint64_t gfn, uint64_t n)
{
	uint64_t i;

	if (ct_vfio_unmap(b->t.edu.container, CTG_GPA(gfn), n * CT_PAGE)) {
		fprintf(stderr, "# baseline UNMAP_DMA failed\n");
		return -1;
	}
	for (i = 0; i < n; i++) {
		uint32_t *e = ctg_dtt_entry(&b->t, gfn + i);

		if (*e != (CTG_DTT_PINNED | CTG_DTT_ACCESSED)) {
			fprintf(stderr, "# baseline: entry of gfn %#llx is %#x\n",
				(unsigned long long)(gfn + i), *e);
			return -1;
		}
		__atomic_store_n(e, 0, __ATOMIC_SEQ_CST);
	}
	return 0;
}

/*
 * The page at @gfn, just pinned and mapped by a request, takes DMA both
 * ways at IOVA = GPA: edu reads a pattern from it, the page is
 * overwritten, edu writes the pattern back one byte further on, and guest
 * RAM must then hold exactly that (nothing else changed). Untimed.
 */
static int dma_proof(struct bench *b, int v, uint64_t gfn)
{
	struct ctg *t = &b->t;
	uint64_t gpa = CTG_GPA(gfn), d;
	uint32_t seed = 0xb0 + b->proofs;

	if (ctg_edu_prime(t, gpa, seed))
		return -1;
	ct_fill(ctg_hva(t, gpa), CT_PAGE, seed + 1000);
	if (ctg_shadow_sync(t) ||
	    ctg_dma_write(t, gpa + 1, ctg_pattern(seed), CT_EDU_DMA_MAX))
		return -1;
	d = ctg_shadow_diff(t);
	if (d || memcmp((uint8_t *)ctg_hva(t, gpa) + 1, ctg_pattern(seed),
			CT_EDU_DMA_MAX)) {
		fprintf(stderr, "# %s: DMA to the pinned page %#llx did not land (first difference at %#llx)\n",
			vname[v], (unsigned long long)gpa,
			(unsigned long long)d);
		return -1;
	}
	b->proofs++;
	printf("# DMA proof: %s's page %#llx takes edu DMA both ways\n",
	       vname[v], (unsigned long long)gpa);
	return 0;
}

/*
 * Run @nreq requests of @bs pages of variant @v from @gfn; their ns go to
 * @ns. Checks that every request pinned what it asked for, and releases
 * the pages again (untimed). 0 or -1.
 */
static int run_reqs(struct bench *b, int v, uint64_t gfn, unsigned int nreq,
		    unsigned int bs, uint64_t *ns)
{
	struct ctg *t = &b->t;
	struct coiommu_stats s0, s1;
	uint64_t pages = (uint64_t)nreq * bs, maps0 = b->base.maps;
	volatile uint64_t *res;
	int kind, ret = 0;
	unsigned int j;

	if (v == V_FLOOR || v == V_COLD) {
		struct bench_floor_run r = {
			.argsz = sizeof(r),
			.bdf = t->bdf,
			.nr = nreq,
			.flags = v == V_COLD ? BENCH_FLOOR_COLD : 0,
			.uaddr = (uintptr_t)ctg_hva(t, CTG_GPA(gfn)),
			.iova = CTG_GPA(gfn),
			.stride = CT_PAGE,
			.ns = (uintptr_t)ns,
		};

		if (ioctl(b->floor_fd, BENCH_FLOOR_RUN, &r)) {
			perror("# floor ioctl");
			return -1;
		}
		return 0;
	}

	kind = v == V_BASE || v == V_BPOLL ? K_BASE : v == V_NULL ? K_NULL :
	       v == V_NOOP ? K_NOOP : K_OURS;
	if (v == V_WORKER && pu_write_file(TW_PARAM, "N"))
		return -1;
	if (v == V_BPOLL)
		base_poll(&b->base, true);
	coiommu_get_stats(t->co, &s0);
	ret = ctg_run(t, 0, OP_REQS, kind, gfn, nreq, bs);
	coiommu_get_stats(t->co, &s1);
	if (v == V_WORKER)
		pu_write_file(TW_PARAM, "Y");
	if (v == V_BPOLL)
		base_poll(&b->base, false);
	if (ret)
		return -1;
	if (ctg_res(t, 0)[0] || ctg_res(t, 0)[1] || ctg_res(t, 0)[2]) {
		fprintf(stderr, "# %s: %llu pages not PINNED, %llu holes, %llu requests never completed\n",
			vname[v], (unsigned long long)ctg_res(t, 0)[0],
			(unsigned long long)ctg_res(t, 0)[1],
			(unsigned long long)ctg_res(t, 0)[2]);
		return -1;
	}
	res = ctg_hva(t, RES_GPA);
	for (j = 0; j < nreq; j++)
		ns[j] = (uint64_t)llround(res[j] / b->tpn);

	switch (v) {
	case V_OURS:
	case V_WORKER:
		if (s1.pins - s0.pins != pages ||
		    (v == V_OURS ? s1.served_task - s0.served_task :
				   s1.served_worker - s0.served_worker) < 1) {
			fprintf(stderr, "# %s: %llu pins (want %llu), task %llu worker %llu\n",
				vname[v], (unsigned long long)(s1.pins - s0.pins),
				(unsigned long long)pages,
				(unsigned long long)(s1.served_task - s0.served_task),
				(unsigned long long)(s1.served_worker - s0.served_worker));
			return -1;
		}
		if (b->prove && v == V_OURS && dma_proof(b, v, gfn))
			return -1;
		return ours_release(b, gfn, pages);
	case V_BASE:
	case V_BPOLL:
		if (b->base.maps - maps0 != pages || b->base.errors) {
			fprintf(stderr, "# baseline: %llu maps (want %llu), %llu errors\n",
				(unsigned long long)(b->base.maps - maps0),
				(unsigned long long)pages,
				(unsigned long long)b->base.errors);
			return -1;
		}
		if (b->prove && v == V_BASE && dma_proof(b, v, gfn))
			return -1;
		return base_release(b, gfn, pages);
	case V_NOOP:
		if (s1.refused_requests - s0.refused_requests != nreq ||
		    s1.pins != s0.pins) {
			fprintf(stderr, "# refused: %llu refused, %llu pins\n",
				(unsigned long long)(s1.refused_requests - s0.refused_requests),
				(unsigned long long)(s1.pins - s0.pins));
			return -1;
		}
		goto clear;
	default:
		if (s1.requests != s0.requests ||
		    (entry_of(t, gfn) & CTG_DTT_PINNED)) {
			fprintf(stderr, "# D: the no-op doorbell was served\n");
			return -1;
		}
clear:
		/* The guest left ACCESSED behind. */
		for (j = 0; j < pages; j++)
			__atomic_store_n(ctg_dtt_entry(t, gfn + j), 0,
					 __ATOMIC_SEQ_CST);
		return 0;
	}
}

/* ---- P1 ------------------------------------------------------------------ */
#define P1_BATCH	64

struct series {
	uint64_t *v;
	size_t n, cap;
};

static void series_add(struct series *s, const uint64_t *v, size_t n)
{
	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			exit(1);
	}
	memcpy(s->v + s->n, v, n * sizeof(*v));
	s->n += n;
}

static const char *met(bool ok)
{
	return ok ? "yes" : "no";
}

static int p1(struct bench *b)
{
	unsigned int rounds = pu_quick ? 8 : 158;	/* 157 * 64 >= 10000 */
	static const int order[] = {
		V_OURS, V_BASE, V_NULL, V_FLOOR, V_WORKER, V_NOOP, V_COLD,
		V_BPOLL,
	};
	uint64_t med[NR_V], p99[NR_V], ns[P1_BATCH];
	struct series s[NR_V] = { { 0 } };
	size_t map0 = 0, nmap;
	uint64_t mmed, m99;
	FILE *smp = pu_open("p1_samples.csv"), *f;
	unsigned int r, k, j;
	double net[NR_V], net99[NR_V];
	uint64_t start = pu_now_ns();

	fprintf(smp, "variant,round,index,ns\n");
	for (r = 0; r < rounds; r++) {
		for (k = 0; k < NR_V; k++) {
			int v = order[(r + k) % NR_V];
			uint64_t gfn = v == V_BASE || v == V_BPOLL ? BASE_GFN :
				       v == V_FLOOR || v == V_COLD ? FLOOR_GFN :
				       OURS_GFN;

			/* Fresh pages: another 64 of the region each round. */
			gfn += (r % (REGION_PAGES / P1_BATCH)) * P1_BATCH;
			b->prove = !r;
			if (run_reqs(b, v, gfn, P1_BATCH, 1, ns)) {
				fprintf(stderr, "# P1: %s failed in round %u\n",
					vname[v], r);
				return -1;
			}
			if (!r) {	/* warm-up, dropped */
				map0 = b->base.map_n;
				continue;
			}
			series_add(&s[v], ns, P1_BATCH);
			for (j = 0; j < P1_BATCH; j++)
				fprintf(smp, "%s,%u,%u,%llu\n", vname[v], r, j,
					(unsigned long long)ns[j]);
		}
	}
	fclose(smp);
	b->prove = false;
	if (b->proofs != 2) {
		fprintf(stderr, "# P1: %u DMA proofs, want 2\n", b->proofs);
		return -1;
	}
	/* The baseline's MAP_DMA ioctls of P1 (single pages), warm-up dropped. */
	nmap = b->base.map_n - map0;
	mmed = pu_quantile(b->base.map_ns + map0, nmap, 0.5);
	m99 = pu_quantile(b->base.map_ns + map0, nmap, 0.99);
	printf("# P1: %u rounds of %u requests per variant (first dropped) in %.1f s\n",
	       rounds, P1_BATCH, (pu_now_ns() - start) / 1e9);

	/* CDF, before the quantiles sort the series anyway. */
	for (k = 0; k < NR_V; k++) {
		med[k] = pu_quantile(s[k].v, s[k].n, 0.5);
		p99[k] = pu_quantile(s[k].v, s[k].n, 0.99);
	}
	f = pu_open("p1_cdf.csv");
	fprintf(f, "percentile");
	for (k = 0; k < NR_V; k++)
		fprintf(f, ",%s_us", vname[k]);
	fprintf(f, "\n");
	for (j = 0; j <= 200; j++) {
		double q = j / 200.0;

		fprintf(f, "%.1f", q * 100);
		for (k = 0; k < NR_V; k++) {
			size_t i = (size_t)(q * (s[k].n - 1));

			fprintf(f, ",%.3f", s[k].v[i] / 1000.0);
		}
		fprintf(f, "\n");
	}
	fclose(f);

	/* Net of D: D's median off every variant that rings a doorbell. */
	for (k = 0; k < NR_V; k++) {
		double d = (k == V_FLOOR || k == V_COLD || k == V_NULL) ? 0 :
			   (double)med[V_NULL];

		net[k] = med[k] - d;
		net99[k] = p99[k] - d;
	}
	f = pu_open("p1.csv");
	fprintf(f, "variant,n,median_ns,p99_ns,median_net_ns,p99_net_ns\n");
	printf("# P1 latency, doorbell to PINNED, one page (%s)\n", PU_TCG_NOTE);
	printf("# %-9s %7s %11s %11s %15s %15s\n", "variant", "n", "median_us",
	       "p99_us", "net_median_us", "net_p99_us");
	for (k = 0; k < NR_V; k++) {
		fprintf(f, "%s,%zu,%llu,%llu,%.0f,%.0f\n", vname[k], s[k].n,
			(unsigned long long)med[k], (unsigned long long)p99[k],
			net[k], net99[k]);
		printf("# %-9s %7zu %11.2f %11.2f %15.2f %15.2f\n", vname[k],
		       s[k].n, med[k] / 1e3, p99[k] / 1e3, net[k] / 1e3,
		       net99[k] / 1e3);
	}
	fprintf(f, "type1_map_dma_ioctl,%zu,%llu,%llu,%llu,%llu\n", nmap,
		(unsigned long long)mmed, (unsigned long long)m99,
		(unsigned long long)mmed, (unsigned long long)m99);
	fclose(f);
	printf("# the baseline thread's VFIO_IOMMU_MAP_DMA of one page, timed around the ioctl: n %zu, median %.2f us, p99 %.2f us\n",
	       nmap, mmed / 1e3, m99 / 1e3);
	b->d_med = med[V_NULL];
	printf("# D (no-op doorbell) median %.2f us; floor and D are not netted\n",
	       med[V_NULL] / 1e3);
	printf("# threads: vCPU (ours, D; task work runs there) on CPU %d, baseline pin thread on CPU %d, worker: system_unbound_wq (any CPU), floor: the ioctl caller (CPU %d)\n",
	       b->main_cpu, b->base.cpu, b->main_cpu);
	if (med[V_BASE] > 2000000)
		printf("# WARNING: baseline median above 2 ms: hand-offs wait for a timer tick (single-threaded TCG?); run the VM with multi-threaded TCG\n");

	printf("# summary rows: P1 ours,baseline = net medians (us), ratio = baseline/ours; P1.floor ours,floor = net medians (us), ratio = ours/floor; P1.worker as P1 for the worker path; P1.floor_cold as P1.floor against the floor with a TLB flush before each iteration (diagnostic: under TCG every nested VM exit flushes the software TLB); P1.spin as P1 against the baseline thread spinning on its eventfd instead of sleeping on it (its best case, no wake-up); P1.raw as P1 with raw medians (D included); P1.p99 as P1 with net p99s\n");
	f = pu_open("p1.summary");
	{
		double rb = net[V_OURS] > 0 ? net[V_BASE] / net[V_OURS] : 0;
		double rf = net[V_FLOOR] > 0 ? net[V_OURS] / net[V_FLOOR] : 0;
		double rw = net[V_WORKER] > 0 ? net[V_BASE] / net[V_WORKER] : 0;
		double rc = net[V_COLD] > 0 ? net[V_OURS] / net[V_COLD] : 0;

		/* ours,baseline: net medians in us; ratio: how many times better. */
		fprintf(f, "P1,%.2f,%.2f,%.2f,>=5x,%s\n",
			net[V_OURS] / 1e3, net[V_BASE] / 1e3, rb,
			met(net[V_OURS] > 0 && rb >= 5));
		fprintf(f, "P1.floor,%.2f,%.2f,%.2f,<=1.3x,%s\n",
			net[V_OURS] / 1e3, net[V_FLOOR] / 1e3, rf,
			met(net[V_OURS] > 0 && rf <= 1.3));
		fprintf(f, "P1.worker,%.2f,%.2f,%.2f,>=5x,%s\n",
			net[V_WORKER] / 1e3, net[V_BASE] / 1e3, rw,
			met(net[V_WORKER] > 0 && rw >= 5));
		fprintf(f, "P1.floor_cold,%.2f,%.2f,%.2f,<=1.3x,%s\n",
			net[V_OURS] / 1e3, net[V_COLD] / 1e3, rc,
			met(net[V_OURS] > 0 && rc <= 1.3));
		fprintf(f, "P1.spin,%.2f,%.2f,%.2f,info,yes\n",
			net[V_OURS] / 1e3, net[V_BPOLL] / 1e3,
			net[V_OURS] > 0 ? net[V_BPOLL] / net[V_OURS] : 0);
		fprintf(f, "P1.raw,%.2f,%.2f,%.2f,info,yes\n",
			med[V_OURS] / 1e3, med[V_BASE] / 1e3,
			med[V_OURS] ? (double)med[V_BASE] / med[V_OURS] : 0);
		fprintf(f, "P1.p99,%.2f,%.2f,%.2f,info,yes\n",
			net99[V_OURS] / 1e3, net99[V_BASE] / 1e3,
			net99[V_OURS] > 0 ? net99[V_BASE] / net99[V_OURS] : 0);
	}
	fclose(f);

	f = pu_open("p1.gp");
	fprintf(f,
		"set terminal pngcairo size 900,600 noenhanced\n"
		"set output 'p1.png'\n"
		"set datafile separator ','\n"
		"set title 'P1: doorbell to PINNED, one page (TCG, not hardware)'\n"
		"set xlabel 'latency, us (raw, TCG)'\n"
		"set ylabel 'percentile'\n"
		"set logscale x\n"
		"set key bottom right\n"
		"set grid\n"
		"plot for [i=2:%d] 'p1_cdf.csv' using i:1 with lines lw 2 title columnheader(i)\n",
		NR_V + 1);
	fclose(f);
	for (k = 0; k < NR_V; k++)
		free(s[k].v);
	return 0;
}

/* ---- P2 ------------------------------------------------------------------ */
static int p2(struct bench *b)
{
	static const unsigned int sizes[] = { 1, 16, 512 };
	/* Groups of requests per guest run (each on fresh pages). */
	static const unsigned int per_run[] = { 64, 64, 2 };
	unsigned int groups_full[] = { 10, 5, 8 }, groups_quick[] = { 2, 2, 2 };
	FILE *f = pu_open("p2.csv"), *sf = pu_open("p2.summary");
	unsigned int i, r, j;

	fprintf(f, "batch,reps,ours_median_ns,ours_pages_per_s,baseline_median_ns,baseline_pages_per_s,ratio,ours_net_pages_per_s,baseline_net_pages_per_s,net_ratio\n");
	printf("# P2 throughput, pages pinned per second by one request (%s)\n",
	       PU_TCG_NOTE);
	for (i = 0; i < 3; i++) {
		unsigned int bs = sizes[i], nr = per_run[i];
		unsigned int groups = (pu_quick ? groups_quick : groups_full)[i];
		unsigned int reps = groups * nr;
		uint64_t *v[2], ns[64], med[2];
		double pps[2], npps[2];
		int k;

		v[0] = calloc(reps, sizeof(uint64_t));
		v[1] = calloc(reps, sizeof(uint64_t));
		if (!v[0] || !v[1])
			return -1;
		/* Group 0 is a warm-up, dropped; ours and baseline alternate. */
		for (r = 0; r <= groups; r++) {
			for (k = 0; k < 2; k++) {
				int var = (r + k) % 2 ? V_BASE : V_OURS;
				uint64_t gfn = var == V_BASE ? BASE_GFN : OURS_GFN;

				if (run_reqs(b, var, gfn, nr, bs, ns)) {
					fprintf(stderr, "# P2: %s batch %u failed\n",
						vname[var], bs);
					return -1;
				}
				for (j = 0; r && j < nr; j++)
					v[var == V_BASE][(r - 1) * nr + j] = ns[j];
			}
		}
		for (k = 0; k < 2; k++) {
			med[k] = pu_quantile(v[k], reps, 0.5);
			pps[k] = med[k] ? bs * 1e9 / med[k] : 0;
			/* Net of P1's D, as the latencies of P1. */
			npps[k] = med[k] > b->d_med ?
				  bs * 1e9 / (med[k] - b->d_med) : 0;
		}
		fprintf(f, "%u,%u,%llu,%.0f,%llu,%.0f,%.3f,%.0f,%.0f,%.3f\n", bs,
			reps, (unsigned long long)med[0], pps[0],
			(unsigned long long)med[1], pps[1],
			pps[1] > 0 ? pps[0] / pps[1] : 0, npps[0], npps[1],
			npps[1] > 0 ? npps[0] / npps[1] : 0);
		printf("# batch %3u: ours %10.0f pages/s (median %.1f us), baseline %10.0f pages/s (median %.1f us), ratio %.2f, %u reps\n",
		       bs, pps[0], med[0] / 1e3, pps[1], med[1] / 1e3,
		       pps[1] > 0 ? pps[0] / pps[1] : 0, reps);
		fprintf(sf, "P2.b%u,%.0f,%.0f,%.2f,>=3x,%s\n",
			bs, pps[0], pps[1], pps[1] > 0 ? pps[0] / pps[1] : 0,
			met(pps[1] > 0 && pps[0] / pps[1] >= 3));
		fprintf(sf, "P2.b%u.net,%.0f,%.0f,%.2f,info,yes\n",
			bs, npps[0], npps[1], npps[1] > 0 ? npps[0] / npps[1] : 0);
		printf("# batch %3u net of D (%.1f us): ours %10.0f pages/s, baseline %10.0f pages/s, ratio %.2f\n",
		       bs, b->d_med / 1e3, npps[0], npps[1],
		       npps[1] > 0 ? npps[0] / npps[1] : 0);
		free(v[0]);
		free(v[1]);
	}
	fclose(f);
	fclose(sf);
	printf("# summary rows: P2.b<N> ours,baseline = median pages/s (raw, not netted), ratio = ours/baseline; P2.b<N>.net the same with P1's median D taken off each request's median time\n");

	f = pu_open("p2.gp");
	fprintf(f,
		"set terminal pngcairo size 900,600 noenhanced\n"
		"set output 'p2.png'\n"
		"set datafile separator ','\n"
		"set title 'P2: pages pinned per second by one request (TCG, not hardware)'\n"
		"set xlabel 'pages per request'\n"
		"set ylabel 'pages/s (TCG)'\n"
		"set logscale xy\n"
		"set xtics (1, 16, 512)\n"
		"set key top left\n"
		"set grid\n"
		"plot 'p2.csv' using 1:4 with linespoints lw 2 title 'ours', \\\n"
		"     'p2.csv' using 1:6 with linespoints lw 2 title 'baseline (one MAP_DMA per page)'\n");
	fclose(f);
	return 0;
}

/* ---- main ---------------------------------------------------------------- */
int main(int argc, char **argv)
{
	struct ctg_cfg cfg = {
		.nr_vcpus = 1,
		.guest_code = guest_main,
		.ram_size = RAM_SIZE,
		.unparked = true,	/* FORCE_UNPIN releases nothing when parked */
	};
	struct bench *b = calloc(1, sizeof(*b));
	int ret = 1, lm;

	if (!b)
		return 1;
	pu_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# bench_pin: P1 and P2%s; %s\n", pu_quick ? " (quick)" : "",
	       PU_TCG_NOTE);
	b->floor_fd = -1;
	ctg_init(&b->t);

	if (ct_module_load()) {
		fprintf(stderr, "# cannot load %s\n", CT_MODULE);
		goto out;
	}
	lm = pu_load_module(FLOOR_MOD);
	if (lm < 0) {
		fprintf(stderr, "# cannot load %s: %s\n", FLOOR_MOD, strerror(-lm));
		goto out;
	}
	b->floor_loaded = lm > 0;
	b->floor_fd = open(BENCH_FLOOR_DEV, O_RDWR | O_CLOEXEC);
	if (b->floor_fd < 0) {
		perror("# " BENCH_FLOOR_DEV);
		goto out;
	}
	if (ctg_create(&b->t, &cfg))
		goto out;
	/* The unpinner stays out of the way: no background passes. */
	if (ctg_policy(&b->t, 0, 1, 0)) {
		fprintf(stderr, "# unpin policy\n");
		goto out;
	}
	/* Guest RAM is faulted in by the VMM before anything is timed. */
	memset(ctg_hva(&b->t, CTG_DATA_GPA), 0x5a,
	       RAM_SIZE - (CTG_DATA_GPA - CTG_RAM_GPA));
	if (base_start(&b->base, &b->t))
		goto out;
	b->main_cpu = pu_pin_cpu(0);
	b->tpn = pu_tsc_per_ns(200);
	printf("# TSC %.3f ticks/ns (calibrated against CLOCK_MONOTONIC); %ld CPUs\n",
	       b->tpn, sysconf(_SC_NPROCESSORS_ONLN));

	if (p1(b) || p2(b))
		goto out_base;
	ret = 0;
out_base:
	base_stop(&b->base);
out:
	ctg_destroy(&b->t);
	if (b->floor_fd >= 0)
		close(b->floor_fd);
	if (b->floor_loaded)
		pu_unload_module(FLOOR_MOD);
	printf("# bench_pin: %s\n", ret ? "FAILED" : "done");
	free(b->base.map_ns);
	free(b);
	return ret;
}
