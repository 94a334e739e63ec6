// SPDX-License-Identifier: GPL-2.0
/*
 * memlock_limit: pinned pages are charged to the VMM's locked_vm and, when
 * the opener of the instance lacks CAP_IPC_LOCK, limited by its
 * RLIMIT_MEMLOCK. Each VMM is a forked child with a 16-page limit; it
 * reports its checks to the parent through a pipe.
 *
 * Without CAP_IPC_LOCK: a pin past the limit fails with -ENOMEM and leaves
 * nothing pinned (stats, FOLL_PIN counters, VmLck, DMA blocked); pins
 * within the limit work and VmLck shows exactly the pinned size; a pin
 * that would cross the limit part way releases what it pinned and leaves
 * the pages pinned before it alone;
 * unpin returns VmLck to 0. With CAP_IPC_LOCK, the same pins past the
 * limit succeed and are still charged. The capability that counts is the
 * opener's.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/capability.h>

#include "ct_fixture.h"

#define LIMIT	16			/* RLIMIT_MEMLOCK, pages */
#define NP	32
#define BASE	0x600000UL
#define P(n)	(BASE + (n) * CT_PAGE)
#define LEN	CT_EDU_DMA_MAX

FIXTURE(co) {
	struct ct_env env;
	char bdf[4][32];
};

FIXTURE_SETUP(co)
{
	ct_env_setup(_metadata, &self->env);
	ASSERT_LE(1, ct_edu_list(self->bdf, 4));
}

FIXTURE_TEARDOWN(co)
{
	ct_env_teardown(_metadata, &self->env);
}

/* ---- the child VMM ---------------------------------------------------- */

struct vmm {
	int rep;		/* report pipe */
	struct ct_edu e;
	struct ct_ram g;
	struct ct_kmsg k;
	struct ct_pins base;
	int fd;
};

static void vmm_fail(struct vmm *v, int line, const char *what, int ret)
{
	ct_rec_send(v->rep, '=', 0, ret, "%d: setup: %s", line, what);
	ct_rec_end(v->rep);
	_exit(1);
}

#define VMM_TRY(v, call) do {				\
	int __r = (call);				\
	if (__r < 0)					\
		vmm_fail(v, __LINE__, #call, __r);	\
} while (0)

static void vmm_open(struct vmm *v, const char *bdf)
{
	struct rlimit rl = {
		.rlim_cur = LIMIT * CT_PAGE,
		.rlim_max = LIMIT * CT_PAGE,
	};

	VMM_TRY(v, setrlimit(RLIMIT_MEMLOCK, &rl) ? -errno : 0);
	VMM_TRY(v, ct_edu_open_retry(&v->e, bdf, -1, 3000));
	VMM_TRY(v, ct_ram_init(&v->g, NP * CT_PAGE));
	VMM_TRY(v, ct_ram_add(&v->g, BASE, 0, NP * CT_PAGE));
	ct_ram_fill(&v->g, getpid());
	VMM_TRY(v, ct_kmsg_open(&v->k));
	v->fd = coiommu_open();
	VMM_TRY(v, v->fd);
	VMM_TRY(v, ct_ram_set_map(&v->g, v->fd));
	VMM_TRY(v, ct_co_add_edu(v->fd, &v->e));
	VMM_TRY(v, ct_pins_read(&v->base));
}

static void __attribute__((noreturn)) vmm_exit(struct vmm *v)
{
	close(v->fd);
	ct_kmsg_close(&v->k);
	ct_edu_close(&v->e);
	ct_ram_free(&v->g);
	ct_rec_end(v->rep);
	_exit(0);
}

/* Pinned pages as the instance, the mm and the pin counters see them. */
static void vmm_counts(struct vmm *v, int line, long pinned)
{
	struct coiommu_stats st;
	int ret = coiommu_get_stats(v->fd, &st);

	ct_rec_send(v->rep, '=', 0, ret, "%d: GET_STATS", line);
	ct_rec_send(v->rep, '=', pinned, st.pinned_pages,
		    "%d: stats pinned_pages", line);
	ct_rec_send(v->rep, '=', pinned, ct_pins_outstanding(&v->base),
		    "%d: FOLL_PIN pins outstanding", line);
	ct_rec_send(v->rep, '=', pinned * 4, ct_locked_vm_kb(getpid()),
		    "%d: VmLck kB", line);
}

/* edu's buffer <- guest @src (pinned); then buffer -> @gpa must land. */
static void vmm_dma_lands(struct vmm *v, int line, uint64_t src,
			  uint64_t gpa)
{
	uint8_t buf[LEN];

	ct_rec_send(v->rep, '=', 0, ct_edu_dma(&v->e, src, 0, LEN, false),
		    "%d: DMA from 0x%llx", line, (unsigned long long)src);
	ct_ram_read(&v->g, src, buf, LEN);
	ct_rec_send(v->rep, '=', 0, ct_edu_dma(&v->e, gpa, 0, LEN, true),
		    "%d: DMA to 0x%llx", line, (unsigned long long)gpa);
	ct_ram_expect(&v->g, gpa, buf, LEN);
	ct_rec_send(v->rep, '=', -1, ct_ram_diff(&v->g),
		    "%d: DMA to 0x%llx landed, and only there (arena offset)",
		    line, (unsigned long long)gpa);
	memcpy(v->g.shadow, v->g.arena, v->g.size);
}

static void vmm_dma_blocked(struct vmm *v, int line, uint64_t gpa)
{
	bool logged = false;

	ct_rec_send(v->rep, '=', 0,
		    ct_edu_dma_fault(&v->e, &v->k, gpa, 0, LEN, true, &logged),
		    "%d: DMA to 0x%llx", line, (unsigned long long)gpa);
	ct_rec_send(v->rep, '=', -1, ct_ram_diff(&v->g),
		    "%d: DMA to unmapped 0x%llx left memory alone (arena offset)",
		    line, (unsigned long long)gpa);
	ct_rec_send(v->rep, '=', 1, logged,
		    "%d: DMAR write fault logged for 0x%llx", line,
		    (unsigned long long)gpa);
	memcpy(v->g.shadow, v->g.arena, v->g.size);
}

#define REC(v, expected, seen)	ct_rec_send((v)->rep, '=', expected, seen, \
					    "%d: %s", __LINE__, #seen)

/* No CAP_IPC_LOCK when the instance is opened. */
static void vmm_without_cap(struct vmm *v, const char *bdf)
{
	REC(v, 0, ct_cap_drop(CAP_IPC_LOCK));
	REC(v, 0, ct_cap_has(CAP_IPC_LOCK));
	vmm_open(v, bdf);

	/* Past the limit: refused, nothing stays pinned. */
	REC(v, -ENOMEM, coiommu_pin_range(v->fd, P(0), NP * CT_PAGE));
	vmm_counts(v, __LINE__, 0);
	vmm_dma_blocked(v, __LINE__, P(20));
	REC(v, -ENOMEM, coiommu_pin_range(v->fd, P(0), (LIMIT + 1) * CT_PAGE));
	vmm_counts(v, __LINE__, 0);

	/* Within it: works, charged exactly. */
	REC(v, 0, coiommu_pin_range(v->fd, P(0), 8 * CT_PAGE));
	vmm_counts(v, __LINE__, 8);
	vmm_dma_lands(v, __LINE__, P(0), P(3));
	REC(v, 0, coiommu_pin_range(v->fd, P(10), CT_PAGE));
	vmm_counts(v, __LINE__, 9);

	/*
	 * P8..P19 around pinned P10: P8, P9 fit (11 pages), P11.. do not.
	 * All or nothing: P8 and P9 are released again.
	 */
	REC(v, -ENOMEM, coiommu_pin_range(v->fd, P(8), 12 * CT_PAGE));
	vmm_counts(v, __LINE__, 9);
	vmm_dma_blocked(v, __LINE__, P(9));

	/* Up to the limit exactly. */
	REC(v, 0, coiommu_pin_range(v->fd, P(11), 7 * CT_PAGE));
	vmm_counts(v, __LINE__, LIMIT);

	/* One more page, alone or with pinned ones: refused, rest kept. */
	REC(v, -ENOMEM, coiommu_pin_range(v->fd, P(18), CT_PAGE));
	vmm_counts(v, __LINE__, LIMIT);
	REC(v, -ENOMEM, coiommu_pin_range(v->fd, P(12), 8 * CT_PAGE));
	vmm_counts(v, __LINE__, LIMIT);
	vmm_dma_lands(v, __LINE__, P(14), P(15));

	/* Unpin gives the charge back, and the room. */
	REC(v, 0, coiommu_unpin_range(v->fd, P(0), NP * CT_PAGE));
	vmm_counts(v, __LINE__, 0);
	REC(v, 0, coiommu_pin_range(v->fd, P(16), LIMIT * CT_PAGE));
	vmm_counts(v, __LINE__, LIMIT);
	REC(v, 0, coiommu_unpin_range(v->fd, P(16), LIMIT * CT_PAGE));
	vmm_counts(v, __LINE__, 0);
	vmm_exit(v);
}

/* CAP_IPC_LOCK when the instance is opened; dropped after if @drop. */
static void vmm_with_cap(struct vmm *v, const char *bdf, bool drop)
{
	REC(v, 1, ct_cap_has(CAP_IPC_LOCK));
	vmm_open(v, bdf);
	if (drop) {
		REC(v, 0, ct_cap_drop(CAP_IPC_LOCK));
		REC(v, 0, ct_cap_has(CAP_IPC_LOCK));
	}
	REC(v, 0, coiommu_pin_range(v->fd, P(0), NP * CT_PAGE));
	vmm_counts(v, __LINE__, NP);
	vmm_dma_lands(v, __LINE__, P(0), P(LIMIT + 4));
	REC(v, 0, coiommu_unpin_range(v->fd, P(0), NP * CT_PAGE));
	vmm_counts(v, __LINE__, 0);
	vmm_exit(v);
}

enum vmm_kind { WITHOUT_CAP, WITH_CAP, OPENED_WITH_CAP };

static void run_vmm(struct __test_metadata *_metadata, const char *who,
		    const char *bdf, enum vmm_kind kind)
{
	struct vmm v = { .fd = -1 };
	int p[2], n;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		v.rep = p[1];
		v.k.fd = -1;
		switch (kind) {
		case WITHOUT_CAP:
			vmm_without_cap(&v, bdf);
			break;
		case WITH_CAP:
			vmm_with_cap(&v, bdf, false);
			break;
		case OPENED_WITH_CAP:
			vmm_with_cap(&v, bdf, true);
			break;
		}
		_exit(2);
	}
	close(p[1]);
	n = ct_rec_collect(_metadata, who, p[0], pid);
	close(p[0]);
	EXPECT_LT(10, n);
}

TEST_F_TIMEOUT(co, memlock_limit, 120)
{
	run_vmm(_metadata, "VMM without CAP_IPC_LOCK", self->bdf[0],
		WITHOUT_CAP);
	/* The child is gone: nothing of it may stay pinned. */
	EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));
	run_vmm(_metadata, "VMM with CAP_IPC_LOCK", self->bdf[0], WITH_CAP);
	EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));
}

/* "unless the opener had CAP_IPC_LOCK": dropping it after open is fine. */
TEST_F_TIMEOUT(co, memlock_opener_cap, 120)
{
	run_vmm(_metadata, "VMM that dropped CAP_IPC_LOCK after open",
		self->bdf[0], OPENED_WITH_CAP);
	EXPECT_EQ(0, ct_pins_outstanding(&self->env.base));
}

TEST_HARNESS_MAIN
