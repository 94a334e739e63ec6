// SPDX-License-Identifier: GPL-2.0
/*
 * teardown_any_order: whatever the order in which a VMM with pinned pages
 * closes its four files (the instance, the VFIO device, group and
 * container), nothing stays pinned or charged once all are closed, and
 * while the instance is open it keeps its pins and its device. Closing the
 * instance alone unmaps: the device, still open, faults on the pages it
 * reached before. A VMM killed in the middle of pinning a large range
 * leaves nothing behind either.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctv_fixture.h"

#define NP	16
#define BASE	0x500000UL
#define P(n)	(BASE + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX
#define NPIN	8

#define BIG	(512UL << 20)		/* guest RAM of the killed VMM */

/* The tests open the device and the instance (self->v.a, self->v.fd). */
CTV_FIXTURE(co, .min_edu = 1, .no_instance = true, .arena = NP * CT_PAGE,
	    .base = BASE, .seed = 0x7ea4);

enum { INSTANCE, DEVICE, GROUP, CONTAINER, NFILES };
static const char *const file_name[NFILES] = {
	"instance", "device", "group", "container",
};

static void close_file(FIXTURE_DATA(co) *self, int which)
{
	switch (which) {
	case INSTANCE:
		close(self->v.fd);
		self->v.fd = -1;
		break;
	case DEVICE:
		ct_edu_close_device(&self->v.a);
		break;
	case GROUP:
		close(self->v.a.group);
		self->v.a.group = -1;
		break;
	case CONTAINER:
		close(self->v.a.container);
		self->v.a.container = -1;
		break;
	}
}

/* Open everything and pin NPIN pages. */
static void vmm_up(struct __test_metadata *_metadata, FIXTURE_DATA(co) *self)
{
	ASSERT_EQ(0, ct_edu_open_retry(&self->v.a, self->v.bdf[0], -1, 3000));
	self->v.fd = coiommu_open();
	ASSERT_LE(0, self->v.fd);
	ASSERT_EQ(0, ct_ram_set_map(&self->v.g, self->v.fd));
	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, &self->v.a));
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(0), NPIN * CT_PAGE));
	ASSERT_EQ(NPIN, ct_pins_outstanding(&self->v.env.base));
	ASSERT_EQ(NPIN * 4, ct_locked_vm_kb(getpid()));
}

static bool next_perm(int *a, int n)
{
	int i = n - 2, j = n - 1, t;

	while (i >= 0 && a[i] >= a[i + 1])
		i--;
	if (i < 0)
		return false;
	while (a[j] <= a[i])
		j--;
	t = a[i], a[i] = a[j], a[j] = t;
	for (i++, j = n - 1; i < j; i++, j--)
		t = a[i], a[i] = a[j], a[j] = t;
	return true;
}

TEST_F_TIMEOUT(co, teardown_any_order, 240)
{
	int order[NFILES] = { 0, 1, 2, 3 };
	struct coiommu_stats st;
	char desc[80];
	int i, nperm = 0;

	do {
		snprintf(desc, sizeof(desc), "%s, %s, %s, %s",
			 file_name[order[0]], file_name[order[1]],
			 file_name[order[2]], file_name[order[3]]);
		vmm_up(_metadata, self);
		for (i = 0; i < NFILES; i++) {
			bool inst_open;

			close_file(self, order[i]);
			inst_open = self->v.fd >= 0;
			if (!inst_open || i == NFILES - 1)
				continue;
			/* The instance keeps its pins and its device. */
			ASSERT_EQ(0, coiommu_get_stats(self->v.fd, &st));
			EXPECT_EQ(NPIN, st.pinned_pages) {
				TH_LOG("order %s, after closing the %s", desc,
				       file_name[order[i]]);
			}
			EXPECT_EQ(1, st.nr_devices) {
				TH_LOG("order %s, after closing the %s", desc,
				       file_name[order[i]]);
			}
			EXPECT_EQ(NPIN, ct_pins_outstanding(&self->v.env.base));
		}
		EXPECT_EQ(0, ct_pins_wait(&self->v.env.base, 0, 2000)) {
			TH_LOG("order %s: FOLL_PIN pins leaked", desc);
		}
		EXPECT_EQ(0, ct_locked_vm_kb(getpid())) {
			TH_LOG("order %s: locked_vm not returned", desc);
		}
		memset(&self->v.a, 0, sizeof(self->v.a));
		self->v.a.device = self->v.a.group = self->v.a.container = -1;
		nperm++;
	} while (next_perm(order, NFILES));
	EXPECT_EQ(24, nperm);
}

/* Closing the instance unmaps, even though the device stays open. */
TEST_F_TIMEOUT(co, close_instance_unmaps, 60)
{
	struct ct_ram *g = &self->v.g;
	struct ct_edu *e = &self->v.a;
	uint8_t buf[LEN];
	bool logged;

	vmm_up(_metadata, self);
	CT_EDU_LOAD(g, e, P(0), buf, LEN);
	CT_DMA_LANDS(g, e, P(2), buf, LEN);

	close_file(self, INSTANCE);
	EXPECT_EQ(0, ct_pins_wait(&self->v.env.base, 0, 2000));
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
	CT_DMA_BLOCKED(g, e, &self->v.kmsg, P(1), LEN);
	CT_DMA_BLOCKED(g, e, &self->v.kmsg, P(2) + 0x10, 0x100);
	ASSERT_EQ(0, ct_edu_dma_fault(e, &self->v.kmsg, P(3), 0, LEN, false,
				      &logged));
	EXPECT_TRUE(logged) {
		TH_LOG("no DMAR read fault logged for 0x%lx", P(3));
	}
}

/*
 * The killed VMM: holds 64 pinned pages, then pins all of its 512 MiB of
 * guest RAM in one call.
 */
static void __attribute__((noreturn)) big_vmm(const char *bdf, int rep)
{
	struct coiommu_region r = { .gpa = 0, .size = BIG };
	struct ct_edu e;
	int fd, ret;
	void *ram;

	ram = mmap(NULL, BIG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		_exit(10);
	r.vaddr = (uintptr_t)ram;
	if (ct_edu_open_retry(&e, bdf, -1, 3000))
		_exit(11);
	fd = coiommu_open();
	if (fd < 0)
		_exit(12);
	if (coiommu_set_memory(fd, &r, 1))
		_exit(13);
	if (ct_co_add_edu(fd, &e))
		_exit(14);
	/* Held pins from before: exit must release these too. */
	if (coiommu_pin_range(fd, BIG / 2, 64 * CT_PAGE))
		_exit(15);
	if (write(rep, "R", 1) != 1)
		_exit(16);
	ret = coiommu_pin_range(fd, 0, BIG);
	if (write(rep, &ret, sizeof(ret)) != sizeof(ret))
		_exit(17);
	for (;;)
		pause();
}

TEST_F_TIMEOUT(co, kill_mid_pin, 300)
{
	long t0, t_seen = 0, t_kill, n = 0, vmlck;
	struct pollfd pfd;
	int p[2], status, pin_ret = 1;
	bool finished = false;
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		big_vmm(self->v.bdf[0], p[1]);
	}
	close(p[1]);
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };

	/* Wait until it is about to pin. */
	ASSERT_EQ(1, poll(&pfd, 1, 60000));
	ASSERT_EQ(1, read(p[0], &c, 1)) {
		waitpid(pid, &status, 0);
		TH_LOG("the child VMM failed to set up: status 0x%x", status);
	}
	ASSERT_EQ('R', c);

	/*
	 * 64 pages were pinned before. Kill it 30 ms after more pins show, or after 3 s if none
	 * show (the pin faults in 512 MiB first); if it is done by then,
	 * that is fine too.
	 */
	t0 = ct_now_ms();
	for (;;) {
		if (poll(&pfd, 1, 2) == 1) {
			finished = read(p[0], &pin_ret, sizeof(pin_ret)) ==
				   sizeof(pin_ret);
			break;
		}
		n = ct_pins_outstanding(&self->v.env.base);
		if (n > 64 && !t_seen)
			t_seen = ct_now_ms();
		if (t_seen && ct_now_ms() - t_seen >= 30)
			break;
		if (ct_now_ms() - t0 > 3000)
			break;
	}
	vmlck = ct_locked_vm_kb(pid);
	t_kill = ct_now_ms();
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	TH_LOG("killed %ld ms after the pin started (%s): %ld of %lu pages pinned, child VmLck %ld kB; reaped %ld ms later",
	       t_kill - t0, finished ? "pin had returned" : "mid-pin", n,
	       BIG / CT_PAGE, vmlck, ct_now_ms() - t_kill);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
		TH_LOG("child status 0x%x", status);
	}
	if (finished)
		EXPECT_EQ(0, pin_ret);
	close(p[0]);

	/* Reaped: its pins are gone (the fixture then rmmods). */
	EXPECT_EQ(0, ct_pins_wait(&self->v.env.base, 0, 5000)) {
		TH_LOG("FOLL_PIN pins left by the killed VMM");
	}
}

TEST_HARNESS_MAIN
