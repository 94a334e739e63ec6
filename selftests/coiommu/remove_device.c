// SPDX-License-Identifier: GPL-2.0
/*
 * remove_device: COIOMMU_REMOVE_DEVICE takes one device away from an
 * instance while the others keep working, and lets its host driver go.
 *
 * remove_device: two edu devices, each in a container (an IOMMU domain)
 * of its own, added to one instance; pages pinned; DMA from both lands.
 * REMOVE_DEVICE of A: A's DMA to a pinned page now faults (its domain had
 * no other device), B's still lands; the pages stay pinned and charged.
 * Removing A again, or a BDF never added, is -ENOENT. Then the test
 * closes its own device file of A and unbinds A's host driver (echo BDF
 * > /sys/bus/pci/drivers/vfio-pci/unbind, in a child): that must finish
 * within UNBIND_MS while the instance stays open. If it does not, the
 * instance is closed to let it finish and the time is reported.
 *
 * remove_device_shared_domain: A and B in one container share a domain:
 * removing A unmaps nothing (B still uses the domain), B's DMA lands.
 *
 * remove_device_guest: a KVM guest with two edu devices (A, the guest's
 * own, and B, added with its own BDF) maps a page (the doorbell pins it,
 * DMA lands); REMOVE_DEVICE of A: A's DMA to the page faults (the page
 * stays pinned for B); a guest request naming A's BDF is refused but
 * completed (slot 0, page not PINNED, no new pin, refused_requests + 1),
 * while one naming B's is served.
 *
 * Balanced at the end (fixture): no pins, no locked_vm, rmmod works.
 * Both devices are bound to vfio-pci again afterwards.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ct_unpin.h"
#include "ctg_fixture.h"
#include "ctv_fixture.h"

#define NP		16
#define BASE		0x400000UL
#define P(n)		(BASE + (n) * CT_PAGE)
#define LEN		CT_EDU_DMA_MAX
#define UNBIND_MS	5000
#define UNBIND_PATH	"/sys/bus/pci/drivers/vfio-pci/unbind"

FIXTURE(rd) {
	struct ctv v;
	pid_t unbinder;
};

static int wait_child(pid_t pid, long ms);

FIXTURE_SETUP(rd)
{
	const struct ctv_cfg cfg = {
		.open_edu = 2, .open_retry_ms = 3000, .arena = NP * CT_PAGE,
		.base = BASE, .seed = 0x7e3d,
	};

	self->unbinder = -1;
	ctv_setup(_metadata, &self->v, &cfg);
}

FIXTURE_TEARDOWN(rd)
{
	if (self->v.fd >= 0)
		close(self->v.fd);
	self->v.fd = -1;
	if (self->unbinder > 0) {
		/* The instance is closed: the unbind can finish now. */
		kill(self->unbinder, SIGKILL);
		EXPECT_NE(-1, wait_child(self->unbinder, 10000)) {
			TH_LOG("the unbind of %s is still blocked with every file of the test closed",
			       self->v.a.bdf);
		}
	}
	/* ctv_teardown() gives both devices back to vfio-pci. */
	ctv_teardown(_metadata, &self->v);
}

static int remove_edu(int fd, const struct ct_edu *e)
{
	return coiommu_remove_device(fd, ct_bdf_parse(e->bdf));
}

static void expect_stats(struct __test_metadata *_metadata, int line, int fd,
			 unsigned int devices, unsigned int domains,
			 unsigned long pinned)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(devices, st.nr_devices) {
		TH_LOG("line %d", line);
	}
	EXPECT_EQ(domains, st.nr_domains) {
		TH_LOG("line %d", line);
	}
	EXPECT_EQ(pinned, st.pinned_pages) {
		TH_LOG("line %d", line);
	}
}

#define EXPECT_STATS(fd, dev, dom, pinned) \
	expect_stats(_metadata, __LINE__, fd, dev, dom, pinned)

/*
 * Unbind @bdf from vfio-pci in a child. Returns the child's pid; the
 * child exits 0 once the write returned, 1 if it failed.
 */
static pid_t start_unbind(const char *bdf)
{
	pid_t pid = fork();

	if (!pid) {
		/* Hold no file of the test's (the instance's above all). */
		syscall(SYS_close_range, 3, ~0U, 0);
		_exit(ct_write_file(UNBIND_PATH, bdf) ? 1 : 0);
	}
	return pid;
}

/* Wait up to @ms for @pid; its status, or -1 if it is still running. */
static int wait_child(pid_t pid, long ms)
{
	long deadline = ct_now_ms() + ms;
	int status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10000);
	} while (ct_now_ms() < deadline);
	return -1;
}

static bool bound_to_vfio(const char *bdf)
{
	char path[128];

	snprintf(path, sizeof(path),
		 "/sys/bus/pci/drivers/vfio-pci/%s", bdf);
	return access(path, F_OK) == 0;
}

TEST_F_TIMEOUT(rd, remove_device, 180)
{
	struct ct_ram *g = &self->v.g;
	struct ct_edu *a = &self->v.a, *b = &self->v.b;
	struct ct_kmsg *k = &self->v.kmsg;
	uint8_t bufa[LEN], bufb[LEN];
	long t0, took;
	int status, ret;

	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, a));
	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, b));
	EXPECT_STATS(self->v.fd, 2, 2, 0);
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(0), 8 * CT_PAGE));
	EXPECT_STATS(self->v.fd, 2, 2, 8);
	EXPECT_EQ(8, ct_pins_outstanding(&self->v.env.base));
	EXPECT_EQ(32, ct_locked_vm_kb(getpid()));

	/* Both reach the pinned pages. */
	CT_EDU_LOAD(g, a, P(0), bufa, LEN);
	CT_EDU_LOAD(g, b, P(1), bufb, LEN);
	CT_DMA_LANDS(g, a, P(2), bufa, LEN);
	CT_DMA_LANDS(g, b, P(3), bufb, LEN);

	/* An unknown BDF: nothing happens. */
	EXPECT_EQ(-ENOENT, coiommu_remove_device(self->v.fd, 0xfff8));
	EXPECT_STATS(self->v.fd, 2, 2, 8);

	/* A goes: its domain loses the mappings, B keeps them. */
	ret = remove_edu(self->v.fd, a);
	EXPECT_EQ(0, ret) {
		TH_LOG("REMOVE_DEVICE of %s: %s", a->bdf, strerror(-ret));
	}
	EXPECT_STATS(self->v.fd, 1, 1, 8);
	EXPECT_EQ(8, ct_pins_outstanding(&self->v.env.base)) {
		TH_LOG("the pages stay pinned for B");
	}
	EXPECT_EQ(32, ct_locked_vm_kb(getpid()));
	CT_DMA_BLOCKED(g, a, k, P(4), LEN);
	CT_DMA_LANDS(g, b, P(4), bufb, LEN);
	/* A pin made afterwards reaches B only. */
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(8), CT_PAGE));
	EXPECT_STATS(self->v.fd, 1, 1, 9);
	CT_DMA_LANDS(g, b, P(8), bufb, LEN);
	CT_DMA_BLOCKED(g, a, k, P(8) + 8, LEN);

	/* Twice: -ENOENT. */
	EXPECT_EQ(-ENOENT, remove_edu(self->v.fd, a));
	EXPECT_STATS(self->v.fd, 1, 1, 9);

	/*
	 * The VMM closes its own file of A; the host driver lets A go while
	 * the instance stays open.
	 */
	ct_edu_close_device(a);
	t0 = ct_now_ms();
	self->unbinder = start_unbind(a->bdf);
	ASSERT_LT(0, self->unbinder);
	status = wait_child(self->unbinder, UNBIND_MS);
	took = ct_now_ms() - t0;
	EXPECT_NE(-1, status) {
		TH_LOG("unbinding %s from vfio-pci did not finish within %d ms with the instance open",
		       a->bdf, UNBIND_MS);
	}
	if (status == -1) {
		/* Let it finish: close the instance, and time that. */
		close(self->v.fd);
		self->v.fd = -1;
		status = wait_child(self->unbinder, 20000);
		took = ct_now_ms() - t0;
		TH_LOG("with the instance closed the unbind %s after %ld ms",
		       status == -1 ? "was still blocked" : "finished", took);
	} else {
		TH_LOG("unbind finished after %ld ms, instance open", took);
	}
	if (status != -1) {
		self->unbinder = -1;
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
			TH_LOG("unbind status %#x", status);
		}
		EXPECT_FALSE(bound_to_vfio(a->bdf));
	}

	/* B still works, with the instance open. */
	if (self->v.fd >= 0) {
		EXPECT_STATS(self->v.fd, 1, 1, 9);
		CT_DMA_LANDS(g, b, P(5), bufb, LEN);
		ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(0), NP * CT_PAGE));
		EXPECT_STATS(self->v.fd, 1, 1, 0);
		EXPECT_EQ(0, ct_pins_outstanding(&self->v.env.base));
		EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
		CT_DMA_BLOCKED(g, b, k, P(6), LEN);
	}
}

/* A and B share a domain: removing A leaves its mappings to B. */
TEST_F_TIMEOUT(rd, remove_device_shared_domain, 120)
{
	struct ct_ram *g = &self->v.g;
	struct ct_edu *a = &self->v.a, *b = &self->v.b;
	uint8_t bufa[LEN], bufb[LEN];
	int ret;

	ct_edu_close(b);
	ASSERT_EQ(0, ct_edu_open(b, self->v.bdf[1], a->container));
	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, a));
	ASSERT_EQ(0, ct_co_add_edu(self->v.fd, b));
	EXPECT_STATS(self->v.fd, 2, 1, 0);
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, P(0), 4 * CT_PAGE));
	CT_EDU_LOAD(g, a, P(0), bufa, LEN);
	CT_EDU_LOAD(g, b, P(1), bufb, LEN);

	ret = remove_edu(self->v.fd, a);
	EXPECT_EQ(0, ret) {
		TH_LOG("REMOVE_DEVICE of %s: %s", a->bdf, strerror(-ret));
	}
	EXPECT_STATS(self->v.fd, 1, 1, 4);
	EXPECT_EQ(4, ct_pins_outstanding(&self->v.env.base));
	/* The domain is B's too: still mapped, for both. */
	CT_DMA_LANDS(g, b, P(2), bufb, LEN);
	CT_DMA_LANDS(g, a, P(3), bufa, LEN);
	EXPECT_EQ(-ENOENT, remove_edu(self->v.fd, a));
	/* B goes as well: the domain's last device, unmapped. */
	ret = remove_edu(self->v.fd, b);
	EXPECT_EQ(0, ret);
	EXPECT_STATS(self->v.fd, 0, 0, 4);
	CT_DMA_BLOCKED(g, b, &self->v.kmsg, P(0), LEN);
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, P(0), 4 * CT_PAGE));
	EXPECT_EQ(0, ct_pins_outstanding(&self->v.env.base));
}


/* ---- a guest's requests after its device was removed ------------------ */

FIXTURE(rg) {
	CTG_FIXTURE_MEMBERS;
	struct ct_edu b;
};

FIXTURE_SETUP(rg)
{
	struct ctg_cfg cfg = { .nr_vcpus = 1 };
	char bdf[4][32];

	self->b.device = self->b.group = self->b.container = -1;
	ctg_fixture_start(_metadata, &self->env, &self->kmsg, &self->t);
	ASSERT_EQ(0, ctg_create(&self->t, &cfg));
	ASSERT_LE(2, ct_edu_list(bdf, 4));
	ASSERT_EQ(0, ct_edu_open_retry(&self->b, bdf[1], -1, 3000));
	ASSERT_NE(0, strcmp(self->b.bdf, self->t.edu.bdf));
	ASSERT_EQ(0, ct_co_add_edu(self->t.co, &self->b));
}

FIXTURE_TEARDOWN(rg)
{
	ct_edu_close(&self->b);
	ctg_fixture_end(_metadata, &self->env, &self->kmsg, &self->t);
}

TEST_F_TIMEOUT(rg, remove_device_guest, 120)
{
	struct ctg *t = &self->t;
	uint64_t gp = CTG_DATA_GFN + 3, gq = CTG_DATA_GFN + 9;
	uint64_t gr = CTG_DATA_GFN + 12;
	uint8_t buf[CT_EDU_DMA_MAX];
	struct coiommu_stats s0, s1;
	struct ctg_map_res res;
	struct ct_pins a, b;
	int ret;

	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x4d0e);
	ASSERT_EQ(0, ctg_map(t, 0, gp, 1, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(gp), 3));
	CTU_DMA_LANDS(t, CTG_GPA(gp), 3);

	ret = coiommu_remove_device(t->co, t->bdf);
	EXPECT_EQ(0, ret) {
		TH_LOG("REMOVE_DEVICE of the guest's %s: %s", t->edu.bdf,
		       strerror(-ret));
	}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	EXPECT_EQ(1, s0.nr_devices);
	EXPECT_EQ(1, s0.nr_domains);
	EXPECT_EQ(1, s0.pinned_pages);
	/* A no longer reaches the page; B does. */
	CTU_DMA_BLOCKED(t, &self->kmsg, CTG_GPA(gp));
	ct_fill(ctg_hva(t, CTG_GPA(gp)), CT_PAGE, 0x5e);
	memcpy(buf, ctg_hva(t, CTG_GPA(gp)), sizeof(buf));
	ASSERT_EQ(0, ct_edu_dma(&self->b, CTG_GPA(gp), 0, sizeof(buf), false));
	ct_fill(ctg_hva(t, CTG_GPA(gp)), CT_PAGE, 0x77);
	ASSERT_EQ(0, ct_edu_dma(&self->b, CTG_GPA(gp) + 1, 0, sizeof(buf),
				true));
	EXPECT_EQ(0, memcmp(buf, (uint8_t *)ctg_hva(t, CTG_GPA(gp)) + 1,
			    sizeof(buf))) {
		TH_LOG("B's DMA from and to the pinned page did not land");
	}

	/* The guest asks for a page with that BDF: refused, completed. */
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, ctg_map(t, 0, gq, 1, 0, &res));
	ASSERT_EQ(0, ct_pins_read(&b));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	EXPECT_EQ(1, res.requests);
	EXPECT_EQ(0, t->slots[0]);
	EXPECT_EQ(1, res.unpinned) {
		TH_LOG("a request naming the removed BDF was served");
	}
	EXPECT_EQ(0, ctg_entry(t, gq) & CTG_DTT_PINNED);
	EXPECT_EQ(a.acquired, b.acquired);
	EXPECT_EQ(s0.refused_requests + 1, s1.refused_requests);
	EXPECT_EQ(1, s1.pinned_pages);

	/* The same guest naming B: served. */
	t->info->bdf = ct_bdf_parse(self->b.bdf);
	ASSERT_EQ(0, ctg_map(t, 0, gr, 1, 0, &res));
	EXPECT_EQ(0, res.unpinned);
	EXPECT_NE(0, ctg_entry(t, gr) & CTG_DTT_PINNED);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	EXPECT_EQ(2, s1.pinned_pages);
	t->info->bdf = t->bdf;
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
