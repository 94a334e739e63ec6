// SPDX-License-Identifier: GPL-2.0
/*
 * shrinker_reclaim_safe: the shrinker (host memory pressure: echo 2 >
 * drop_caches runs the slab shrinkers) with guest RAM that is not private
 * anonymous memory, and with the VMM exiting while reclaim runs.
 *
 * Variants: guest RAM (DTT included) in a memfd (shmem), in anonymous
 * hugetlb pages, in a hugetlb memfd. The background unpinner is off
 * (unpin_period_ms 0) until the test turns it on.
 *
 *  1. The guest maps I (NI pages) and M (NM), then unmaps I. drop_caches
 *     (up to DROPS times): with shmem RAM all of I is unpinned by the
 *     shrinker (unpins_shrinker NI, entries 0, DMA to I blocked). With
 *     hugetlb RAM the shrinker may leave I alone (faulting a hugetlb DTT
 *     page from reclaim is not safe on 6.1, so it may skip such pages);
 *     whatever it unpinned must be exactly the entries that read 0. In
 *     every variant M stays pinned (entries untouched, DMA lands),
 *     unpins_lazy is 0, and the pins and locked_vm come back to what is
 *     still pinned (polled: the unpin may be deferred to a work item).
 *     Then the background unpinner (a non-reclaim pass) is turned on: the
 *     rest of I goes, M stays.
 *     hugetlb memfd only: before the drops the VMM's mapping of the first
 *     2 MiB of guest RAM (struct ctg_info, the DTT, I and M) is zapped
 *     (MADV_DONTNEED; the memfd keeps the data). The shrinker must not
 *     fault it back in from reclaim: right after the drops, before the
 *     test touches guest RAM, /proc/self/pagemap still shows it absent.
 *     (On 6.1 FOLL_NOFAULT does not stop get_user_pages from faulting a
 *     hugetlb page in.)
 *  2. ROUNDS times: a child VMM (its own VM, instance and edu device)
 *     maps I and M and unmaps I, then keeps mapping and unmapping the
 *     first half of I (the second half stays idle) while a reclaimer
 *     process runs drop_caches in a loop; meanwhile the VMM is killed
 *     (even rounds) or exits by itself (_exit(), odd rounds). With shmem
 *     RAM that is once the shrinker has unpinned some of it (polled, up
 *     to 5 s, in every round), then 0, 60, 120 or 180 ms later; with
 *     hugetlb RAM 50 to 230 ms into the reclaimer's loop. What the
 *     shrinker unpinned of it by then is reported. The reclaimer goes on
 *     until 300 ms after the VMM is gone. Once both are gone, every
 *     FOLL_PIN pin is back (polled up to 5 s) and the next round can open
 *     the device again.
 *
 * No splat (the rig checks the kernel log), and the fixture's balance.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ct_unpin.h"
#include "ctg_fixture.h"

#define D(i)		(CTG_DATA_GFN + (i))
#define I0		D(0)
#define NI		16
#define M0		D(32)
#define NM		4
#define PINNED		CTG_DTT_PINNED
#define ACCESSED	CTG_DTT_ACCESSED
#define DROPS		10
#define ROUNDS		4
#define SHRUNK_MS	5000	/* for the shrinker to unpin from the VMM */
#define HUGEPAGES	"/proc/sys/vm/nr_hugepages"
#define HUGE_NEEDED	16	/* two VMs of 8 MiB, with room */

FIXTURE(sr) {
	CTG_FIXTURE_MEMBERS;
	long old_huge;
};

FIXTURE_VARIANT(sr) {
	unsigned int ram_src;
	bool must_shrink;	/* the shrinker must unpin idle pages */
	bool huge;
	bool zap_dtt;		/* zap the VMM's mapping of the DTT first */
};

FIXTURE_VARIANT_ADD(sr, memfd) {
	.ram_src = VM_MEM_SRC_SHMEM,
	.must_shrink = true,
};

FIXTURE_VARIANT_ADD(sr, hugetlb) {
	.ram_src = VM_MEM_SRC_ANONYMOUS_HUGETLB,
	.huge = true,
};

FIXTURE_VARIANT_ADD(sr, hugetlb_memfd) {
	.ram_src = VM_MEM_SRC_SHARED_HUGETLB,
	.huge = true,
	.zap_dtt = true,
};

static long read_long(const char *path)
{
	char buf[32] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	return n > 0 ? strtol(buf, NULL, 0) : -1;
}

static int write_long(const char *path, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	return ct_write_file(path, buf);
}

FIXTURE_SETUP(sr)
{
	self->old_huge = -1;
	ctg_fixture_start(_metadata, &self->env, &self->kmsg, &self->t);
	ASSERT_EQ(0, ct_write_file(CTU_PERIOD_PARAM, "0"));
	if (variant->huge) {
		self->old_huge = read_long(HUGEPAGES);
		ASSERT_LE(0, self->old_huge);
		ASSERT_EQ(0, write_long(HUGEPAGES, self->old_huge + HUGE_NEEDED));
		ASSERT_EQ(self->old_huge + HUGE_NEEDED, read_long(HUGEPAGES)) {
			TH_LOG("could not reserve %d huge pages", HUGE_NEEDED);
		}
	}
}

FIXTURE_TEARDOWN(sr)
{
	ctg_destroy(&self->t);
	if (self->old_huge >= 0)
		write_long(HUGEPAGES, self->old_huge);
	ctg_fixture_end(_metadata, &self->env, &self->kmsg, &self->t);
}

static int create(struct ctg *t, unsigned int ram_src)
{
	struct ctg_cfg cfg = { .nr_vcpus = 1, .unparked = true,
			       .ram_src = ram_src };

	return ctg_create(t, &cfg);
}

/* The guest maps I and M, then unmaps I: I idle (accessed), M busy. */
static int idle_and_busy(struct ctg *t)
{
	struct ctg_map_res res;
	int ret;

	ret = ctg_map(t, 0, I0, NI, 0, &res);
	if (!ret && res.unpinned)
		ret = -EFAULT;
	if (!ret)
		ret = ctg_map(t, 0, M0, NM, 0, &res);
	if (!ret && res.unpinned)
		ret = -EFAULT;
	if (!ret)
		ret = ctg_unmap(t, 0, I0, NI);
	return ret;
}

/* Is the page at @p mapped in this process (pagemap bit 63)? -1: error. */
static int present(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, &e, sizeof(e), (uintptr_t)p / CT_PAGE * sizeof(e));
	close(fd);
	return n == sizeof(e) ? !!(e >> 63) : -1;
}

TEST_F_TIMEOUT(sr, shrinker_reclaim_safe, 400)
{
	struct ctg *t = &self->t;
	struct ct_kmsg *k = &self->kmsg;
	struct coiommu_stats st;
	unsigned int i, r, zero = 0, drops;
	long got;

	/* ---- 1. pressure on an instance with this kind of RAM ---- */
	ASSERT_EQ(0, create(t, variant->ram_src));
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x5a5e);
	ASSERT_EQ(0, idle_and_busy(t));
	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(M0), 7));
	EXPECT_EQ(4 * (1 + NI + NM), ct_locked_vm_kb(getpid()));
	if (variant->zap_dtt) {
		ASSERT_EQ(0, madvise(t->ram, 2 << 20, MADV_DONTNEED));
		ASSERT_EQ(0, present(t->ram + CT_PAGE));
	}

	for (drops = 0; drops < DROPS; drops++) {
		ASSERT_EQ(0, ctu_drop_caches());
		ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
		if (st.pinned_pages == NM)
			break;
		usleep(50000);
	}
	if (variant->zap_dtt) {
		/* The DTT root and a leaf table: still not mapped. */
		EXPECT_EQ(0, present(ctg_hva(t, t->dtt_root))) {
			TH_LOG("reclaim faulted the hugetlb DTT root page back in");
		}
		EXPECT_EQ(0, present(ctg_hva(t, CTG_TABLES_GPA + 2 * CT_PAGE)));
	}
	for (i = 0; i < NI; i++) {
		uint32_t e = ctg_entry(t, I0 + i);

		zero += !e;
		/* ACCESSED stays set where the shrinker did not look. */
		EXPECT_TRUE(e == 0 || (e & ~ACCESSED) == PINNED) {
			TH_LOG("idle gfn %#llx: entry %#x",
			       (unsigned long long)(I0 + i), e);
		}
	}
	for (i = 0; i < NM; i++)
		EXPECT_EQ(PINNED | 1, ctg_entry(t, M0 + i) & ~ACCESSED) {
			TH_LOG("busy gfn %#llx", (unsigned long long)(M0 + i));
		}
	/* The unpin and uncharge may follow in a work item: poll. */
	got = ct_pins_wait(&self->env.base, 1 + NI + NM - zero, 5000);
	EXPECT_EQ(1 + NI + NM - zero, got);
	EXPECT_EQ(4 * (1 + NI + NM - zero),
		  ct_locked_vm_wait(4 * (1 + NI + NM - zero), 5000));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	TH_LOG("%u drops: %u of %d idle pages unpinned by the shrinker (%llu counted)",
	       drops, zero, NI, (unsigned long long)st.unpins_shrinker);
	EXPECT_EQ(zero, st.unpins_shrinker);
	EXPECT_EQ(NI + NM - zero, st.pinned_pages);
	EXPECT_EQ(0, st.unpins_lazy);
	if (variant->must_shrink)
		EXPECT_EQ(NI, zero);
	if (zero)
		CTU_DMA_BLOCKED(t, k, CTG_GPA(I0 + 1));
	CTU_DMA_LANDS(t, CTG_GPA(M0 + 1), 7);

	/* Outside reclaim the background unpinner takes the rest of I. */
	ASSERT_EQ(0, ctg_policy(t, 100, 15, 0));
	EXPECT_TRUE(ctg_wait_pinned(t, NM, 10000, &st)) {
		TH_LOG("%llu pages still pinned",
		       (unsigned long long)st.pinned_pages);
	}
	ASSERT_EQ(0, ctg_policy(t, 0, 15, 0));
	for (i = 0; i < NI; i++)
		EXPECT_EQ(0, ctg_entry(t, I0 + i));
	for (i = 0; i < NM; i++)
		EXPECT_EQ(PINNED | 1, ctg_entry(t, M0 + i));
	EXPECT_EQ(1 + NM, ct_pins_wait(&self->env.base, 1 + NM, 5000));
	CTU_DMA_BLOCKED(t, k, CTG_GPA(I0 + NI - 1));
	CTU_DMA_LANDS(t, CTG_GPA(M0 + 2), 7);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
	ctg_destroy(t);
	EXPECT_EQ(0, ct_pins_wait(&self->env.base, 0, 5000));

	/* ---- 2. the VMM exits while reclaim runs ---- */
	for (r = 0; r < ROUNDS; r++) {
		long res[3] = { -1, -1, -1 }, shrunk, t0;
		int ready[2], go[2], stop[2];
		pid_t vmm, rec;
		int status;
		char x;

		ASSERT_EQ(0, pipe(ready));
		ASSERT_EQ(0, pipe(go));
		vmm = fork();
		ASSERT_LE(0, vmm);
		if (!vmm) {
			struct ctg c;
			struct coiommu_stats cs = { 0 };

			close(ready[0]);
			close(go[1]);
			res[0] = create(&c, variant->ram_src);
			if (!res[0])
				res[0] = idle_and_busy(&c);
			if (!res[0])
				res[0] = coiommu_get_stats(c.co, &cs);
			res[1] = cs.pinned_pages;
			res[2] = res[0] ? -1 : ct_co_fdinfo(c.co, "coiommu-instance");
			if (write(ready[1], res, sizeof(res)) != sizeof(res))
				_exit(2);
			/* Killed in here, or told to exit with everything open. */
			fcntl(go[0], F_SETFL, O_NONBLOCK);
			for (;;) {
				struct ctg_map_res mr;

				if (read(go[0], &x, 1) == 1 && x == 'x')
					_exit(0);
				if (ctg_map(&c, 0, I0, NI / 2, 0, &mr) ||
				    ctg_unmap(&c, 0, I0, NI / 2))
					pause();
			}
		}
		close(ready[1]);
		close(go[0]);
		ASSERT_EQ(sizeof(res), read(ready[0], res, sizeof(res)));
		close(ready[0]);
		EXPECT_EQ(0, res[0]) {
			TH_LOG("round %u: the child VMM failed to set up: %ld",
			       r, res[0]);
		}
		EXPECT_EQ(NI + NM, res[1]);

		ASSERT_EQ(0, pipe(stop));
		rec = fork();
		ASSERT_LE(0, rec);
		if (!rec) {
			/* Until the test closes stop[1] (or 20 s at most). */
			long end = ct_now_ms() + 20000;

			close(stop[1]);
			close(go[1]);
			fcntl(stop[0], F_SETFL, O_NONBLOCK);
			while (ct_now_ms() < end && read(stop[0], &x, 1) < 0)
				if (ctu_drop_caches())
					_exit(1);
			_exit(0);
		}
		close(stop[0]);
		t0 = ct_now_ms();
		if (variant->must_shrink) {
			/* Once the shrinker is at work on it, and later. */
			long end = ct_now_ms() + SHRUNK_MS;

			while ((shrunk = ct_co_debugfs(res[2],
						       "unpins_shrinker")) < 1 &&
			       ct_now_ms() < end)
				usleep(1000);
			EXPECT_LE(1, shrunk) {
				TH_LOG("round %u: the shrinker did not unpin a page of the VMM in %d ms",
				       r, SHRUNK_MS);
			}
			TH_LOG("round %u: the shrinker at work after %ld ms",
			       r, ct_now_ms() - t0);
			usleep(60000 * r);
		} else {
			/* Into the reclaimer's loop, at a different point. */
			usleep(50000 + 60000 * r);
		}
		shrunk = ct_co_debugfs(res[2], "unpins_shrinker");
		t0 = ct_now_ms();
		if (r % 2) {
			EXPECT_EQ(1, write(go[1], "x", 1));
		} else {
			kill(vmm, SIGKILL);
		}
		ASSERT_EQ(vmm, waitpid(vmm, &status, 0));
		close(go[1]);
		EXPECT_TRUE(r % 2 ? WIFEXITED(status) && !WEXITSTATUS(status) :
			    WIFSIGNALED(status)) {
			TH_LOG("round %u: VMM status %#x", r, status);
		}
		TH_LOG("round %u: %ld pages unpinned by the shrinker before the VMM %s (gone in %ld ms)",
		       r, shrunk, r % 2 ? "exited" : "was killed",
		       ct_now_ms() - t0);
		/* Reclaim goes on a little after the exit, then stops. */
		usleep(300000);
		close(stop[1]);
		ASSERT_EQ(rec, waitpid(rec, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) {
			TH_LOG("round %u: reclaimer status %#x", r, status);
		}
		got = ct_pins_wait(&self->env.base, 0, 5000);
		EXPECT_EQ(0, got) {
			TH_LOG("round %u: %ld FOLL_PIN pins outstanding 5 s after the VMM %s",
			       r, got, r % 2 ? "exited" : "was killed");
		}
		if (got)
			break;
	}
}

TEST_HARNESS_MAIN
