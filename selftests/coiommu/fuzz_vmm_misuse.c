// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz_vmm_misuse: a misbehaving VMM. Random sequences of every coIOMMU
 * ioctl with random arguments and random file descriptors (instances,
 * VFIO device/group/container files, eventfds, /dev/null, closed numbers),
 * fds closed and reopened at random points, ioctls from forked children,
 * guest RAM unmapped or moved while pinned, doorbells rung with random
 * requests from this process (task work) and from children (worker), and
 * a VMM killed in the middle of a request.
 *
 * Checked all along: every errno is one the uapi documents for that
 * ioctl; every ring of an attached doorbell completes its slot; the pins
 * outstanding in the whole system equal the pages our open instances say
 * they pin (plus their notify-slot pages), and so does VmLck. At the end:
 * nothing pinned, VmLck 0, rmmod works, no splat in the kernel log.
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
	  { EINVAL, E2BIG, EFAULT, EBUSY, ENOMEM, ENOSPC, EPERM } },
	/* EBUSY: another instance of the world has the device's domain. */
	{ COIOMMU_ADD_DEVICE, "ADD_DEVICE",
	  { EINVAL, E2BIG, EFAULT, EBADF, ENODEV, EEXIST, EBUSY, ENOSPC,
	    ENOMEM, EPERM } },
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
	{ COIOMMU_COMMAND, "COMMAND",
	  { EINVAL, E2BIG, EFAULT, ERANGE, ESTALE, EPERM } },
	{ COIOMMU_GET_UNPIN_POLICY, "GET_UNPIN_POLICY",
	  { EINVAL, E2BIG, EFAULT, EPERM } },
	{ COIOMMU_SET_UNPIN_POLICY, "SET_UNPIN_POLICY",
	  { EINVAL, E2BIG, EFAULT, EPERM } },
	{ COIOMMU_FORCE_UNPIN, "FORCE_UNPIN",
	  { EINVAL, E2BIG, EFAULT, ERANGE, EPERM } },
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
	/* Slots we can no longer see (moved away): expect nothing. */
	if (c->cmd == COIOMMU_SET_DOORBELL && w->in[i].slots) {
		struct coiommu_doorbell *b = arg;
		int e;

		for (e = 0; e < NE; e++)
			if (w->efd[e] == b->eventfd)
				w->in[i].bell_vcpu[e] = b->vcpu;
	}
}

static void close_inst(struct world *w, int i)
{
	int e;

	if (w->in[i].fd >= 0)
		close(w->in[i].fd);
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

/* The pins the kernel must hold right now for our instances. */
static long expected_pins(struct world *w, struct __test_metadata *_metadata)
{
	struct coiommu_stats st;
	long n = 0;
	int i;

	for (i = 0; i < NI; i++) {
		if (w->in[i].fd < 0)
			continue;
		EXPECT_EQ(0, ct_co_stats(w->in[i].fd, &st));
		n += st.pinned_pages + w->in[i].notify_pages;
	}
	return n;
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
		req = (1ULL << 63) | (chance(90) ? RAM_GPA + off : rnd() >> 1);
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
		int fd = ct_co_open(), efd = eventfd(0, 0), k;
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
		if (fd < 0 || ct_co_set_map(fd, &r, 1) ||
		    ct_co_ioctl(fd, COIOMMU_SET_NOTIFY, &n) ||
		    ct_co_ioctl(fd, COIOMMU_SET_DOORBELL, &b))
			_exit(1);
		/* The parent may have its device closed: then all is refused. */
		ct_co_add_device(fd, w->edu[0].device, w->edu[0].group, 8);
		ct_co_ioctl(fd, COIOMMU_COMMAND, &(struct coiommu_command){
			.argsz = sizeof(struct coiommu_command),
			.cmd = COIOMMU_CMD_ACTIVATE, .dtt_level = 2,
			.dtt_root = root });
		w->slots[32] = (1ULL << 63) | (RAM_GPA + RAM_SIZE / 2);
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
}

FIXTURE_TEARDOWN(fuzz)
{
	int i;

	for (i = 0; i < NI; i++)
		close_inst(&self->w, i);
	for (i = 0; i < NE; i++)
		close(self->w.efd[i]);
	for (i = 0; i < self->w.nedu; i++)
		ct_edu_close(&self->w.edu[i]);
	close(self->w.devnull);
	/* A killed child's instance is released by a delayed fput. */
	ct_pins_wait(&self->env.base, 0, 5000);
	ct_env_teardown(_metadata, &self->env);
}

TEST_F_TIMEOUT(fuzz, fuzz_vmm_misuse, 600)
{
	struct world *w = &self->w;
	uint64_t seed = getenv("FUZZ_SEED") ? strtoull(getenv("FUZZ_SEED"),
						       NULL, 0) : time(NULL);
	long iters = getenv("FUZZ_ITERS") ? atol(getenv("FUZZ_ITERS")) : 20000;
	static uint8_t buf[8192];
	long it, got, want, lck, deadline;
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
			w->in[k].fd = ct_co_open();
			ASSERT_LE(0, w->in[k].fd);
			continue;
		}
		if (what < 75) {
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
			want = expected_pins(w, _metadata);
			got = ct_pins_outstanding(&self->env.base);
			lck = ct_locked_vm_kb(getpid());
			if (got == want && lck == want * 4)
				break;
			usleep(20000);
		} while (ct_now_ms() < deadline);
		EXPECT_EQ(want, got) {
			TH_LOG("seed %llu iteration %ld: pins outstanding %ld, instances account for %ld",
			       (unsigned long long)seed, it, got, want);
		}
		EXPECT_EQ(want * 4, lck);
		if (_metadata->passed == 0)
			break;
	}
	TH_LOG("%llu ioctls (%llu refused), %llu rings (%llu to attached doorbells, all completed)",
	       (unsigned long long)w->ops, (unsigned long long)w->refused,
	       (unsigned long long)w->rings, (unsigned long long)w->completed);
	for (i = 0; i < NI; i++)
		close_inst(w, i);
	EXPECT_EQ(0, ct_pins_wait(&self->env.base, 0, 5000));
}

TEST_HARNESS_MAIN
