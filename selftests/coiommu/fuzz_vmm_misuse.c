// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_vmm_misuse: a misbehaving VMM. Random sequences of every coIOMMU
 * ioctl with random arguments and random file descriptors (instances,
 * VFIO device/group/container files, eventfds, /dev/null, closed numbers),
 * fds closed and reopened at random points, ioctls from forked children,
 * guest RAM unmapped or moved while pinned, doorbells rung with random
 * requests from this process (task work) and from children (worker), a
 * VMM killed in the middle of a request, devices removed
 * (COIOMMU_REMOVE_DEVICE) and added again, and the VMM using type1 on
 * the IOVAs of guest RAM in the container of the last edu device:
 * VFIO_IOMMU_MAP_DMA of 4 KiB to 64 KiB of guest RAM at its GPA (only
 * where no instance has a page pinned: over a 4 KiB entry of ours the
 * Intel driver itself WARNs, whatever we do), of a 2 MiB hugetlb buffer
 * at a 2 MiB-aligned GPA (the driver silently replaces our entries with
 * a superpage), and VFIO_IOMMU_UNMAP_DMA of them.
 *
 * Checked all along: every errno is one the uapi documents for that
 * ioctl; every ring of an attached doorbell completes its slot; the pins
 * outstanding in the whole system equal the pages our open instances say
 * they pin (plus their notify-slot pages and type1's pages), and so does
 * VmLck, give or take the pages the instances report as mismatches (an
 * instance that finds its IOMMU entry replaced leaks the page's pin
 * rather than release it, and counts it in stats.mismatches). At the
 * end: pins outstanding equal the mismatches reported (the deliberate
 * leak; 0 when type1 never got in the way), VmLck 0, rmmod works, no
 * splat in the kernel log.
 *
 * Seeded and reproducible: FUZZ_SEED=<n> and FUZZ_ITERS=<n> in the
 * environment; the seed is logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/coiommu.h>

#include "ct_fixture.h"

#define NI		4		/* instance slots */
#define NE		4		/* eventfds */
#define RAM_GPA		0x100000ULL
#define RAM_SIZE	(8ULL << 20)
#define RAM2_GPA	0x4000000ULL
#define RAM2_SIZE	(1ULL << 20)
#define HUGE		(2ULL << 20)
#define NT1		16		/* type1 mappings tracked */
#define HUGEPAGES	"/proc/sys/vm/nr_hugepages"

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int pct)
{
	return below(100) < pct;
}

struct inst {
	int fd;
	uint64_t *slots;	/* SET_NOTIFY succeeded: its slots */
	int notify_pages;	/* and the pages it pinned for them */
	int bell_vcpu[NE];	/* vcpu of each of our eventfds, or -1 */
	/* its memory map (the last SET_MEMORY_MAP that succeeded) */
	struct coiommu_region ram[COIOMMU_MAX_REGIONS];
	unsigned int nr_ram;
	bool t1_seen;		/* type1 changed the IOMMU while it was open */
};

struct world {
	struct inst in[NI];
	int efd[NE];
	struct ct_edu edu[2];
	char bdf[2][32];
	int nedu;
	uint8_t *ram, *ram2;
	uint64_t *slots;	/* one page: 512 slots */
	int devnull;
	uint64_t rings, completed, ops, refused;
	/* type1 in the container of edu[t1] (t1 < 0: none) */
	int t1;
	uint8_t *huge;		/* 2 MiB of hugetlb, or NULL */
	struct { uint64_t iova, size; } map[NT1];
	int nmap;
	long t1_pages;		/* pages type1 holds pinned for us */
	uint64_t t1_maps, t1_huge, t1_unmaps, t1_skipped;
	uint64_t mism_closed;	/* mismatches of instances we closed */
};

/* -------------------------------------------------------------------- */

static uint64_t pick_gpa(void)
{
	static const uint64_t edge[] = {
		0, RAM_GPA, RAM_GPA + RAM_SIZE - CT_PAGE, RAM_GPA + RAM_SIZE,
		RAM2_GPA, RAM2_GPA + RAM2_SIZE, COIOMMU_MAX_GPA,
		COIOMMU_MAX_GPA - CT_PAGE, ~0ULL, ~0ULL - CT_PAGE + 1, 1,
		0xfee00000, RAM_GPA + 8,
	};

	switch (below(4)) {
	case 0:
		return edge[below(ARRAY_SIZE(edge))];
	case 1:
		return rnd();
	default:
		return (chance(80) ? RAM_GPA + below(RAM_SIZE / CT_PAGE) *
			CT_PAGE : RAM2_GPA + below(RAM2_SIZE / CT_PAGE) * CT_PAGE);
	}
}

static uint64_t pick_size(void)
{
	static const uint64_t edge[] = {
		0, 1, CT_PAGE, 2 * CT_PAGE, 64 * CT_PAGE, RAM_SIZE, ~0ULL,
		COIOMMU_MAX_GPA, CT_PAGE + 1,
	};

	if (chance(70))
		return (1 + below(16)) * CT_PAGE;
	return chance(50) ? edge[below(ARRAY_SIZE(edge))] : rnd();
}

static uint64_t pick_vaddr(struct world *w)
{
	switch (below(6)) {
	case 0:
		return rnd();
	case 1:
		return 0xffff888000000000ULL;	/* kernel */
	case 2:
		return (uint64_t)(uintptr_t)w->ram2;
	case 3:
		return 8;
	default:
		return (uint64_t)(uintptr_t)w->ram;
	}
}

static int pick_fd(struct world *w)
{
	int i = below(NI);

	switch (below(12)) {
	case 0:
		return -1;
	case 1:
		return 1000;
	case 2:
		return w->devnull;
	case 3:
	case 4:
		return w->in[i].fd;
	case 5:
		return w->efd[below(NE)];
	case 6:
		return w->edu[below(w->nedu)].container;
	case 7:
	case 8:
		return w->edu[below(w->nedu)].group;
	default:
		return w->edu[below(w->nedu)].device;
	}
}

/* A pointer for the kernel to read or write, sometimes a bad one. */
static void *pick_ptr(void *good)
{
	switch (below(40)) {
	case 0:
		return NULL;
	case 1:
		return (void *)8;
	case 2:
		return (void *)0xffff888000000000ULL;
	default:
		return good;
	}
}

static uint32_t pick_argsz(uint32_t good)
{
	if (chance(85))
		return good;
	return chance(50) ? below(good + 64) : (uint32_t)rnd();
}

/* -------------------------------------------------------------------- */

struct call {
	unsigned long cmd;
	const char *name;
	int allowed[14];	/* 0-terminated errnos besides 0 */
};

static const struct call calls[] = {
	{ COIOMMU_SET_MEMORY_MAP, "SET_MEMORY_MAP",
	  { EINVAL, E2BIG, EFAULT, EBUSY, ENOMEM, EPERM, ENOSPC } },
	/* EBUSY: the device's domain is another instance's. */
	{ COIOMMU_ADD_DEVICE, "ADD_DEVICE",
	  { EINVAL, E2BIG, EFAULT, EBADF, ENODEV, EEXIST, ENOSPC, ENOMEM,
	    EPERM, EBUSY } },
	{ COIOMMU_PIN_RANGE, "PIN_RANGE",
	  { EINVAL, E2BIG, EFAULT, ERANGE, ENODEV, ENOMEM, EEXIST, EINTR,
	    EPERM } },
	{ COIOMMU_UNPIN_RANGE, "UNPIN_RANGE",
	  { EINVAL, E2BIG, EFAULT, ERANGE, EPERM } },
	{ COIOMMU_GET_STATS, "GET_STATS", { EINVAL, EFAULT, EPERM } },
	{ COIOMMU_SET_NOTIFY, "SET_NOTIFY",
	  { EINVAL, E2BIG, EFAULT, EBUSY, ENOMEM, EPERM } },
	{ COIOMMU_SET_DOORBELL, "SET_DOORBELL",
	  { EINVAL, E2BIG, EFAULT, EBADF, ENXIO, EEXIST, ENOMEM, EPERM } },
	/* ESTALE: ACTIVATE with the previous root and no NEW_ROOT. */
	{ COIOMMU_COMMAND, "COMMAND",
	  { EINVAL, E2BIG, EFAULT, ERANGE, EPERM, ESTALE } },
	{ COIOMMU_GET_UNPIN_POLICY, "GET_UNPIN_POLICY",
	  { EINVAL, E2BIG, EFAULT, EPERM } },
	{ COIOMMU_SET_UNPIN_POLICY, "SET_UNPIN_POLICY",
	  { EINVAL, E2BIG, EFAULT, EPERM } },
	{ COIOMMU_FORCE_UNPIN, "FORCE_UNPIN",
	  { EINVAL, E2BIG, EFAULT, ERANGE, EPERM } },
	{ COIOMMU_REMOVE_DEVICE, "REMOVE_DEVICE",
	  { EINVAL, E2BIG, EFAULT, ENOENT, EPERM } },
};

static bool allowed(const struct call *c, int err)
{
	int i;

	for (i = 0; c->allowed[i]; i++)
		if (c->allowed[i] == err)
			return true;
	return false;
}

/* Build random arguments for @c in @buf; returns the pointer to pass. */
static void *make_args(struct world *w, const struct call *c, uint8_t *buf,
		       size_t bufsz)
{
	memset(buf, 0, bufsz);
	switch (c->cmd) {
	case COIOMMU_SET_MEMORY_MAP: {
		struct coiommu_memory_map *m = (void *)buf;
		unsigned int nr = chance(80) ? 1 + below(3) : below(70);
		unsigned int i, max = (bufsz - sizeof(*m)) / sizeof(m->regions[0]);

		m->nr_regions = nr;
		for (i = 0; i < nr && i < max; i++) {
			bool good = chance(75);

			m->regions[i].gpa = good ? (i ? RAM2_GPA : RAM_GPA) :
				pick_gpa();
			m->regions[i].size = good ? (i ? RAM2_SIZE : RAM_SIZE) :
				pick_size();
			m->regions[i].vaddr = good ? (uint64_t)(uintptr_t)
				(i ? w->ram2 : w->ram) : pick_vaddr(w);
			m->regions[i].flags = chance(97) ? 0 : rnd();
		}
		m->argsz = pick_argsz(sizeof(*m) + nr * sizeof(m->regions[0]));
		if (m->argsz > bufsz)
			m->argsz = bufsz;
		m->flags = chance(95) ? 0 : rnd();
		m->pad = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_ADD_DEVICE: {
		struct coiommu_device *d = (void *)buf;
		struct ct_edu *e = &w->edu[below(w->nedu)];

		d->argsz = pick_argsz(sizeof(*d));
		d->device_fd = chance(60) ? e->device : pick_fd(w);
		d->group_fd = chance(60) ? e->group : pick_fd(w);
		d->bdf = chance(70) ? 8 + below(4) : rnd();
		d->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_PIN_RANGE:
	case COIOMMU_UNPIN_RANGE: {
		struct coiommu_range *r = (void *)buf;

		r->argsz = pick_argsz(sizeof(*r));
		r->gpa = pick_gpa();
		r->size = pick_size();
		r->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_GET_STATS: {
		struct coiommu_stats *s = (void *)buf;

		s->argsz = pick_argsz(sizeof(*s));
		s->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_SET_NOTIFY: {
		struct coiommu_notify *n = (void *)buf;

		n->argsz = pick_argsz(sizeof(*n));
		n->nr_vcpus = chance(80) ? 1 + below(NE) : rnd();
		n->slots_vaddr = chance(80) ? (uint64_t)(uintptr_t)w->slots +
			8 * below(8) : pick_vaddr(w);
		n->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_SET_DOORBELL: {
		struct coiommu_doorbell *b = (void *)buf;

		b->argsz = pick_argsz(sizeof(*b));
		b->vcpu = chance(85) ? below(NE) : rnd();
		b->eventfd = chance(70) ? w->efd[below(NE)] : pick_fd(w);
		b->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_COMMAND: {
		struct coiommu_command *c2 = (void *)buf;

		c2->argsz = pick_argsz(sizeof(*c2));
		c2->cmd = chance(90) ? below(4) : rnd();
		if (c2->cmd == COIOMMU_CMD_ACTIVATE || chance(10)) {
			c2->dtt_root = chance(70) ? RAM_GPA : pick_gpa();
			c2->dtt_level = chance(70) ? 3 : below(9);
		}
		c2->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_GET_UNPIN_POLICY:
	case COIOMMU_SET_UNPIN_POLICY: {
		struct coiommu_unpin_policy *p = (void *)buf;

		p->argsz = pick_argsz(sizeof(*p));
		p->period_ms = chance(70) ? below(50) : rnd();
		p->old_every = chance(80) ? 1 + below(15) : rnd();
		p->pass_pages = chance(80) ? 1 + below(1000) : rnd();
		p->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_FORCE_UNPIN: {
		struct coiommu_force_unpin *f = (void *)buf;
		static uint64_t bitmap[RAM_SIZE / CT_PAGE / 64 + 2];

		f->argsz = pick_argsz(sizeof(*f));
		f->gpa = pick_gpa();
		f->size = pick_size();
		f->busy_bitmap = chance(60) ? (uint64_t)(uintptr_t)
			pick_ptr(bitmap) : 0;
		if (f->size > RAM_SIZE && f->busy_bitmap)
			f->busy_bitmap = 0;	/* don't let it scribble */
		f->flags = chance(95) ? 0 : rnd();
		break;
	}
	case COIOMMU_REMOVE_DEVICE: {
		struct coiommu_remove_device *r = (void *)buf;

		r->argsz = pick_argsz(sizeof(*r));
		r->bdf = chance(80) ? 8 + below(4) : rnd();
		r->pad[below(3)] = chance(95) ? 0 : rnd();
		r->flags = chance(95) ? 0 : rnd();
		break;
	}
	}
	/* Sometimes a non-zero tail after a larger argsz. */
	if (chance(3)) {
		uint32_t *argsz = (uint32_t *)buf;

		if (*argsz + 16 <= bufsz) {
			buf[*argsz + 8] = 1;
			*argsz += 16;
		}
	}
	return pick_ptr(buf);
}

/* Track what a successful call did, for the invariants. */
static void note_success(struct world *w, int i, const struct call *c,
			 void *arg)
{
	if (c->cmd == COIOMMU_SET_NOTIFY) {
		struct coiommu_notify *n = arg;
		uint64_t end = n->slots_vaddr + n->nr_vcpus * 8ULL - 1;

		w->in[i].slots = (uint64_t *)(uintptr_t)n->slots_vaddr;
		w->in[i].notify_pages = (end >> 12) - (n->slots_vaddr >> 12) + 1;
	}
	if (c->cmd == COIOMMU_SET_MEMORY_MAP) {
		struct coiommu_memory_map *m = arg;

		w->in[i].nr_ram = m->nr_regions;
		memcpy(w->in[i].ram, m->regions,
		       m->nr_regions * sizeof(m->regions[0]));
	}
	/* Slots we can no longer see (moved away): expect nothing. */
	if (c->cmd == COIOMMU_SET_DOORBELL && w->in[i].slots) {
		struct coiommu_doorbell *b = arg;
		int e;

		for (e = 0; e < NE; e++)
			if (w->efd[e] == b->eventfd)
				w->in[i].bell_vcpu[e] = b->vcpu;
	}
}

/* Mismatches an instance reports (0 where the kernel knows none). */
static uint64_t inst_mismatches(int fd)
{
	struct coiommu_stats st;

	return coiommu_get_stats(fd, &st) ? 0 : st.mismatches;
}

static void close_inst(struct world *w, int i)
{
	int e;

	if (w->in[i].fd >= 0) {
		unsigned int r;

		/*
		 * Its leaked pins outlive it: remember how many. It finds
		 * a replaced entry only when it unmaps the page: after type1
		 * got in its way, release every page before closing.
		 */
		if (w->in[i].t1_seen) {
			ct_co_ioctl(w->in[i].fd, COIOMMU_COMMAND,
				    &(struct coiommu_command){
				    .argsz = sizeof(struct coiommu_command),
				    .cmd = COIOMMU_CMD_DEACTIVATE });
			for (r = 0; r < w->in[i].nr_ram; r++)
				coiommu_unpin_range(w->in[i].fd, w->in[i].ram[r].gpa,
						    w->in[i].ram[r].size);
		}
		w->mism_closed += inst_mismatches(w->in[i].fd);
		close(w->in[i].fd);
	}
	w->in[i].nr_ram = 0;
	w->in[i].t1_seen = false;
	w->in[i].fd = -1;
	w->in[i].slots = NULL;
	w->in[i].notify_pages = 0;
	for (e = 0; e < NE; e++)
		w->in[i].bell_vcpu[e] = -1;
}

static void renew_eventfd(struct world *w, int e)
{
	int i;

	close(w->efd[e]);	/* detaches it from every instance */
	w->efd[e] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (i = 0; i < NI; i++)
		w->in[i].bell_vcpu[e] = -1;
}

/*
 * The pins the kernel must hold right now for our instances and type1;
 * *@mism: mismatches our open instances report (their pages may or may
 * not be counted in pinned_pages, and stay pinned either way).
 */
static long expected_pins(struct world *w, struct __test_metadata *_metadata,
			  long *mism)
{
	struct coiommu_stats st;
	long n = w->t1_pages;
	int i;

	*mism = 0;
	for (i = 0; i < NI; i++) {
		if (w->in[i].fd < 0)
			continue;
		EXPECT_EQ(0, coiommu_get_stats(w->in[i].fd, &st));
		n += st.pinned_pages + w->in[i].notify_pages;
		*mism += st.mismatches;
	}
	return n;
}

/* ---- type1 on guest RAM's IOVAs --------------------------------------- */

/*
 * Does an open instance of ours have a page of [gfn, gfn + n) pinned?
 * Read from its debugfs list of pinned runs ("first-last flags"); *@hit:
 * one such page, if @hit.
 */
static bool pinned_by_us(struct world *w, uint64_t gfn, uint64_t n,
			 uint64_t *hit)
{
	char path[96], line[128];
	int i;

	for (i = 0; i < NI; i++) {
		long id;
		FILE *f;

		if (w->in[i].fd < 0)
			continue;
		id = ct_co_fdinfo(w->in[i].fd, "coiommu-instance");
		snprintf(path, sizeof(path),
			 "/sys/kernel/debug/coiommu/%ld.pinned", id);
		f = fopen(path, "re");
		if (!f)
			return true;	/* cannot tell: assume so */
		while (fgets(line, sizeof(line), f)) {
			char *end;
			uint64_t first = strtoull(line, &end, 0), last;

			if (*end != '-')
				continue;
			last = strtoull(end + 1, NULL, 0);
			if (first < gfn + n && last >= gfn) {
				if (hit)
					*hit = first > gfn ? first : gfn;
				fclose(f);
				return true;
			}
		}
		fclose(f);
	}
	return false;
}

/* Every open instance may now find an entry of its replaced. */
static void t1_touched(struct world *w)
{
	int i;

	for (i = 0; i < NI; i++)
		if (w->in[i].fd >= 0)
			w->in[i].t1_seen = true;
}

static void t1_forget(struct world *w, int m)
{
	w->t1_pages -= w->map[m].size / CT_PAGE;
	w->map[m] = w->map[--w->nmap];
}

static void t1_unmap_all(struct world *w, struct __test_metadata *_metadata)
{
	struct ct_edu *e = w->t1 >= 0 ? &w->edu[w->t1] : NULL;

	while (w->nmap) {
		EXPECT_EQ(0, ct_vfio_unmap(e->container, w->map[0].iova,
					   w->map[0].size));
		w->t1_unmaps++;
		t1_forget(w, 0);
		t1_touched(w);
	}
}

/* A random type1 map or unmap in the container of edu[t1]. */
static void t1_op(struct world *w, struct __test_metadata *_metadata)
{
	struct ct_edu *e = &w->edu[w->t1];
	uint64_t iova, size;
	void *vaddr;
	int ret, m;

	if (e->container < 0)
		return;
	if (w->nmap && (w->nmap == NT1 || chance(40))) {
		m = below(w->nmap);
		EXPECT_EQ(0, ct_vfio_unmap(e->container, w->map[m].iova,
					   w->map[m].size));
		w->t1_unmaps++;
		t1_forget(w, m);
		t1_touched(w);
		return;
	}
	if (w->huge && chance(35)) {
		uint64_t hit;

		for (m = 0; m < w->nmap; m++)
			if (w->map[m].size == HUGE)
				return;	/* one at a time */
		/*
		 * Over whatever we pinned there (mostly where we did): a
		 * superpage replaces it.
		 */
		iova = (1 + below(3)) * HUGE;
		if (chance(70) && pinned_by_us(w, HUGE / CT_PAGE,
					       3 * HUGE / CT_PAGE, &hit))
			iova = hit * CT_PAGE & ~(HUGE - 1);
		size = HUGE;
		vaddr = w->huge;
	} else {
		iova = RAM_GPA + below(RAM_SIZE / CT_PAGE - 16) * CT_PAGE;
		size = (1 + below(16)) * CT_PAGE;
		vaddr = w->ram + (iova - RAM_GPA);
		/* A 4 KiB map over our 4 KiB entry: the driver WARNs. */
		if (pinned_by_us(w, iova / CT_PAGE, size / CT_PAGE, NULL)) {
			w->t1_skipped++;
			return;
		}
	}
	ret = ct_vfio_map(e->container, vaddr, iova, size);
	if (ret == -EEXIST)	/* overlaps one of type1's own */
		return;
	EXPECT_EQ(0, ret) {
		TH_LOG("VFIO_IOMMU_MAP_DMA iova %#llx size %#llx: %s",
		       (unsigned long long)iova, (unsigned long long)size,
		       strerror(-ret));
	}
	if (ret)
		return;
	w->map[w->nmap].iova = iova;
	w->map[w->nmap].size = size;
	w->nmap++;
	w->t1_pages += size / CT_PAGE;
	w->t1_maps++;
	w->t1_huge += size == HUGE;
	t1_touched(w);
}

/* A random request in the slot of @vcpu, then ring from here or a child. */
static void ring(struct world *w, struct __test_metadata *_metadata, int e)
{
	int i, vcpu = -1, inst = -1;
	uint64_t v = 1, req, *slot = NULL;
	long deadline;
	bool child = chance(25);

	for (i = 0; i < NI; i++)
		if (w->in[i].fd >= 0 && w->in[i].bell_vcpu[e] >= 0) {
			inst = i;
			vcpu = w->in[i].bell_vcpu[e];
			slot = &w->in[i].slots[vcpu];
		}
	switch (below(4)) {
	case 0:
		req = rnd();
		break;
	case 1: {	/* a batch list somewhere in RAM, maybe nonsense */
		uint64_t off = below(RAM_SIZE / 8 - 64) * 8;
		uint64_t *l = (uint64_t *)(w->ram + off);
		int k, n = below(40);

		l[0] = chance(80) ? 8 + below(4) : rnd();
		l[1] = chance(90) ? n : rnd();
		for (k = 0; k < n; k++)
			l[2 + k] = chance(80) ? (RAM_GPA >> 12) + below(RAM_SIZE >> 12) :
				rnd();
		req = COIOMMU_REQ_BATCH | (chance(90) ? RAM_GPA + off : rnd() >> 1);
		break;
	}
	default:
		req = ((RAM_GPA >> 12) + below(RAM_SIZE >> 12)) << 16 |
		      (chance(80) ? 8 + below(4) : rnd() & 0xffff);
	}
	if (slot)
		*slot = req ? req : 1;
	w->rings++;
	if (child) {
		pid_t pid = fork();

		if (!pid) {
			_exit(write(w->efd[e], &v, 8) == 8 ? 0 : 1);
		}
		waitpid(pid, NULL, 0);
	} else {
		ASSERT_EQ(8, write(w->efd[e], &v, 8));
	}
	if (vcpu < 0)
		return;
	/* Task work: done before write() returned; the worker: soon. */
	deadline = ct_now_ms() + 5000;
	while (__atomic_load_n(slot, __ATOMIC_ACQUIRE) &&
	       ct_now_ms() < deadline)
		usleep(1000);
	EXPECT_EQ(0, *slot) {
		TH_LOG("slot %d of instance %d not completed (%s ring, req %#llx)",
		       vcpu, inst, child ? "child" : "own",
		       (unsigned long long)req);
	}
	w->completed++;
}

/* A child VMM that is killed while its request is being served. */
static void kill_mid_request(struct world *w,
			     struct __test_metadata *_metadata)
{
	int p[2], status;
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct coiommu_region r = { RAM_GPA, RAM_SIZE,
					    (uintptr_t)w->ram, 0 };
		uint64_t *l = (uint64_t *)(w->ram + RAM_SIZE / 2), v = 1;
		struct coiommu_notify n = { sizeof(n), 0, 1, 0,
					    (uintptr_t)w->slots + 256 };
		struct coiommu_doorbell b = { sizeof(b), 0, 0, 0 };
		int fd = coiommu_open(), efd = eventfd(0, 0), k;
		uint64_t root = RAM_GPA + RAM_SIZE - 8 * CT_PAGE;

		/* A two-level DTT covering RAM, a batch of 1024 pages. */
		memset(w->ram + (root - RAM_GPA), 0, 4 * CT_PAGE);
		for (k = 0; k < 3; k++)
			((uint64_t *)(w->ram + (root - RAM_GPA)))[k] =
				(root + (k + 1) * CT_PAGE) | 1;
		l[0] = 8;
		l[1] = 1024;
		for (k = 0; k < 1024; k++)
			l[2 + k] = (RAM_GPA >> 12) + k;
		b.eventfd = efd;
		if (fd < 0 || coiommu_set_memory(fd, &r, 1) ||
		    ct_co_ioctl(fd, COIOMMU_SET_NOTIFY, &n) ||
		    ct_co_ioctl(fd, COIOMMU_SET_DOORBELL, &b))
			_exit(1);
		/* The parent may have its device closed: then all is refused. */
		coiommu_add_vfio_device(fd, w->edu[0].device, w->edu[0].group, 8);
		ct_co_ioctl(fd, COIOMMU_COMMAND, &(struct coiommu_command){
			.argsz = sizeof(struct coiommu_command),
			.cmd = COIOMMU_CMD_ACTIVATE, .dtt_level = 2,
			.dtt_root = root });
		w->slots[32] = COIOMMU_REQ_BATCH | (RAM_GPA + RAM_SIZE / 2);
		write(p[1], "x", 1);
		for (;;)
			write(efd, &v, 8);	/* task work, again and again */
	}
	close(p[1]);
	if (read(p[0], &c, 1) == 1)
		usleep(below(20000));
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(p[0]);
	EXPECT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) == 0);
}

FIXTURE(fuzz) {
	struct ct_env env;
	struct world w;
	long old_huge;
};

FIXTURE_SETUP(fuzz)
{
	char bdf[4][32];
	int i, n;

	memset(&self->w, 0, sizeof(self->w));
	for (i = 0; i < NI; i++)
		close_inst(&self->w, i), self->w.in[i].fd = -1;
	ct_env_setup(_metadata, &self->env);
	n = ct_edu_list(bdf, 4);
	ASSERT_LE(1, n);
	self->w.nedu = n > 2 ? 2 : n;
	for (i = 0; i < self->w.nedu; i++) {
		memcpy(self->w.bdf[i], bdf[i], sizeof(self->w.bdf[i]));
		ASSERT_EQ(0, ct_edu_open_retry(&self->w.edu[i], bdf[i], -1,
					       3000));
	}
	self->w.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	self->w.ram2 = mmap(NULL, RAM2_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	self->w.slots = mmap(NULL, CT_PAGE, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->w.ram);
	ASSERT_NE(MAP_FAILED, self->w.ram2);
	ASSERT_NE(MAP_FAILED, self->w.slots);
	memset(self->w.ram, 0, RAM_SIZE);
	for (i = 0; i < NE; i++)
		self->w.efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	self->w.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* type1 in the last device's container; hugetlb for 2 MiB maps. */
	self->w.t1 = self->w.nedu >= 2 ? self->w.nedu - 1 : -1;
	self->old_huge = -1;
	if (self->w.t1 >= 0) {
		char v[32] = { 0 };
		int fd = open(HUGEPAGES, O_RDWR | O_CLOEXEC);

		if (fd >= 0 && read(fd, v, sizeof(v) - 1) > 0) {
			self->old_huge = atol(v);
			snprintf(v, sizeof(v), "%ld", self->old_huge + 2);
			if (pwrite(fd, v, strlen(v), 0) < 0)
				self->old_huge = -1;
		}
		if (fd >= 0)
			close(fd);
		self->w.huge = mmap(NULL, HUGE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
				    -1, 0);
		/* Children (fork) need no copy of a pinned huge page. */
		if (self->w.huge == MAP_FAILED ||
		    madvise(self->w.huge, HUGE, MADV_DONTFORK))
			self->w.huge = NULL;
		else
			memset(self->w.huge, 0x5a, HUGE);
	}
}

FIXTURE_TEARDOWN(fuzz)
{
	int i;

	for (i = 0; i < NI; i++)
		close_inst(&self->w, i);
	for (i = 0; i < NE; i++)
		close(self->w.efd[i]);
	t1_unmap_all(&self->w, _metadata);
	for (i = 0; i < self->w.nedu; i++)
		ct_edu_close(&self->w.edu[i]);
	close(self->w.devnull);
	if (self->w.huge)
		munmap(self->w.huge, HUGE);
	if (self->old_huge >= 0) {
		char v[32];

		snprintf(v, sizeof(v), "%ld", self->old_huge);
		ct_write_file(HUGEPAGES, v);
	}
	/*
	 * Pins leaked on purpose: one per mismatch an instance reported
	 * (checked at the end of the test); not a leak of the test's.
	 */
	if (self->w.mism_closed)
		self->env.base.acquired += self->w.mism_closed;
	/* A killed child's instance is released by a delayed fput. */
	i = ct_pins_wait(&self->env.base, 0, 5000);
	if (i)
		TH_LOG("%d FOLL_PIN pins outstanding after closing everything (%llu mismatches reported)",
		       i, (unsigned long long)self->w.mism_closed);
	ct_env_teardown(_metadata, &self->env);
}

TEST_F_TIMEOUT(fuzz, fuzz_vmm_misuse, 600)
{
	struct world *w = &self->w;
	uint64_t seed = getenv("FUZZ_SEED") ? strtoull(getenv("FUZZ_SEED"),
						       NULL, 0) : time(NULL);
	long iters = getenv("FUZZ_ITERS") ? atol(getenv("FUZZ_ITERS")) : 20000;
	static uint8_t buf[8192];
	long it, got, want, lck, deadline, mism;
	int i;

	rng = seed * 2654435761ULL + 0x9e3779b97f4a7c15ULL;
	TH_LOG("seed %llu, %ld iterations (FUZZ_SEED/FUZZ_ITERS to repeat)",
	       (unsigned long long)seed, iters);

	for (it = 0; it < iters; it++) {
		int k = below(NI);
		unsigned int what = below(100);

		if (w->in[k].fd < 0 || what < 2) {
			if (w->in[k].fd >= 0)
				close_inst(w, k);
			w->in[k].fd = coiommu_open();
			ASSERT_LE(0, w->in[k].fd);
			w->in[k].t1_seen = w->nmap > 0;
			continue;
		}
		if (what < 73) {
			const struct call *c = &calls[below(ARRAY_SIZE(calls))];
			void *arg = make_args(w, c, buf, sizeof(buf));
			int ret = ioctl(w->in[k].fd, c->cmd, arg);

			w->ops++;
			if (!ret) {
				note_success(w, k, c, arg);
				continue;
			}
			w->refused++;
			if (!allowed(c, errno)) {
				TH_LOG("seed %llu iteration %ld: %s -> errno %d",
				       (unsigned long long)seed, it, c->name,
				       errno);
				ASSERT_TRUE(false);
			}
			continue;
		}
		if (what < 75) {	/* the VMM uses type1 too */
			if (w->t1 >= 0)
				t1_op(w, _metadata);
			continue;
		}
		if (what < 88) {
			ring(w, _metadata, below(NE));
			continue;
		}
		if (what < 90) {	/* unknown ioctl numbers */
			EXPECT_EQ(-1, ioctl(w->in[k].fd,
					    _IO(COIOMMU_TYPE, 13 + below(200)), buf));
			EXPECT_EQ(ENOTTY, errno);
			continue;
		}
		if (what < 92) {	/* a child may not use our instance */
			pid_t pid = fork();
			int st;

			if (!pid) {
				const struct call *c = &calls[below(ARRAY_SIZE(calls))];
				void *arg = make_args(w, c, buf, sizeof(buf));

				_exit(ioctl(w->in[k].fd, c->cmd, arg) == -1 &&
				      errno == EPERM ? 0 : 1);
			}
			ASSERT_EQ(pid, waitpid(pid, &st, 0));
			EXPECT_TRUE(WIFEXITED(st) && !WEXITSTATUS(st));
			continue;
		}
		if (what < 94) {
			renew_eventfd(w, below(NE));
			continue;
		}
		if (what < 95) {	/* close and reopen a VFIO device */
			int d = below(w->nedu);
			struct ct_edu *e = &w->edu[d];
			int ret;

			if (d == w->t1)
				t1_unmap_all(w, _metadata);
			if (e->device >= 0)
				ct_edu_close(e);
			/* -EBUSY while an instance still holds its device. */
			ret = ct_edu_open(e, w->bdf[d], -1);
			if (ret)
				EXPECT_EQ(-EBUSY, ret);
			continue;
		}
		if (what < 96) {	/* RAM unmapped, or moved, while pinned */
			void *old = w->ram2, *p;

			if (chance(50)) {
				munmap(old, RAM2_SIZE);
				p = mmap(old, RAM2_SIZE, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
					 -1, 0);
			} else {
				p = mremap(old, RAM2_SIZE, RAM2_SIZE,
					   MREMAP_MAYMOVE);
			}
			ASSERT_NE(MAP_FAILED, p);
			/*
			 * Slots in the old mapping stay pinned as they were:
			 * the kernel completes requests there, no longer in
			 * what we see. That is the VMM's doing; stop expecting.
			 */
			for (i = 0; i < NI; i++) {
				uint8_t *sl = (uint8_t *)w->in[i].slots;
				int e;

				if (sl < (uint8_t *)old ||
				    sl >= (uint8_t *)old + RAM2_SIZE)
					continue;
				for (e = 0; e < NE; e++)
					w->in[i].bell_vcpu[e] = -1;
				w->in[i].slots = NULL;
			}
			w->ram2 = p;
			continue;
		}
		if (what < 97) {
			kill_mid_request(w, _metadata);
			continue;
		}
		/*
		 * Checkpoint: the kernel's pins are exactly ours. Deactivate
		 * every instance first so that no unpinner pass runs while
		 * we count; a released instance may still be going away.
		 */
		for (i = 0; i < NI; i++)
			if (w->in[i].fd >= 0)
				ct_co_ioctl(w->in[i].fd, COIOMMU_COMMAND,
					    &(struct coiommu_command){
					    .argsz = sizeof(struct coiommu_command),
					    .cmd = COIOMMU_CMD_DEACTIVATE });
		deadline = ct_now_ms() + 3000;
		do {
			want = expected_pins(w, _metadata, &mism);
			got = ct_pins_outstanding(&self->env.base) -
			      w->mism_closed;
			lck = ct_locked_vm_kb(getpid());
			if (got >= want && got <= want + mism &&
			    lck >= want * 4 && lck <= (want + mism) * 4)
				break;
			usleep(20000);
		} while (ct_now_ms() < deadline);
		EXPECT_TRUE(got >= want && got <= want + mism) {
			TH_LOG("seed %llu iteration %ld: pins outstanding %ld (besides %llu leaked by closed instances), instances and type1 account for %ld, %ld mismatches",
			       (unsigned long long)seed, it, got,
			       (unsigned long long)w->mism_closed, want, mism);
		}
		EXPECT_TRUE(lck >= want * 4 && lck <= (want + mism) * 4) {
			TH_LOG("seed %llu iteration %ld: VmLck %ld kB, expected %ld pages (+%ld mismatches)",
			       (unsigned long long)seed, it, lck, want, mism);
		}
		if (_metadata->passed == 0)
			break;
	}
	TH_LOG("%llu ioctls (%llu refused), %llu rings (%llu to attached doorbells, all completed)",
	       (unsigned long long)w->ops, (unsigned long long)w->refused,
	       (unsigned long long)w->rings, (unsigned long long)w->completed);
	TH_LOG("type1: %llu maps (%llu of 2 MiB%s), %llu unmaps, %llu 4 KiB maps skipped over our pins",
	       (unsigned long long)w->t1_maps, (unsigned long long)w->t1_huge,
	       w->huge ? "" : ", no hugetlb page", (unsigned long long)w->t1_unmaps,
	       (unsigned long long)w->t1_skipped);
	for (i = 0; i < NI; i++)
		close_inst(w, i);
	t1_unmap_all(w, _metadata);
	/* What stays pinned is what the instances said they leaked. */
	got = ct_pins_wait(&self->env.base, w->mism_closed, 5000);
	TH_LOG("%llu mismatches reported, %ld pins outstanding after close",
	       (unsigned long long)w->mism_closed, got);
	EXPECT_EQ((long)w->mism_closed, got);
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
}

TEST_HARNESS_MAIN
