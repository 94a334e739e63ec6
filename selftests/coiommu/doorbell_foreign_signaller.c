// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_foreign_signaller: a doorbell eventfd signalled by a kernel-side
 * worker of the VMM's own process, not by a vCPU thread about to return to
 * the guest. Such a thread shares the VMM's mm but may never run task
 * work queued on it the way a vCPU thread does (a vhost task, an io_uring
 * worker), so the request must go to the instance's worker.
 *
 * The VMM puts a single request for a page into vCPU 0's notify slot
 * through the slot memory (as the guest would, having mapped the page),
 * then the doorbell's eventfd is written by io_uring (raw syscalls):
 *
 *  io_wq:  IORING_OP_WRITE of 8 bytes to the eventfd with IOSQE_ASYNC, so
 *          an io-wq worker (PF_IO_WORKER) performs the write;
 *  sqpoll: the same write submitted to an IORING_SETUP_SQPOLL ring, so
 *          the ring's SQ poll thread (PF_IO_WORKER) performs it.
 *
 * Each time: the write completes (CQE res 8), the slot reads 0 within
 * 5 s, the page is PINNED in the DTT and pinned once (edu DMA lands in
 * it, the guest reads what landed), requests grew by one, served_worker
 * grew by one and served_task did not. A guest ring on the same
 * instance afterwards is still served by task work.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define P(i)		(CTG_GFN(CTG_DATA_GPA) + 16 + 4 * (i))

/* ---- a minimal io_uring, raw syscalls --------------------------------- */
struct uring {
	int fd;
	void *sq_ring, *cq_ring;
	size_t sq_len, cq_len;
	struct io_uring_sqe *sqes;
	size_t sqes_len;
	unsigned int *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	bool sqpoll;
};

static void uring_exit(struct uring *u)
{
	if (u->sqes && u->sqes != MAP_FAILED)
		munmap(u->sqes, u->sqes_len);
	if (u->cq_ring && u->cq_ring != MAP_FAILED && u->cq_ring != u->sq_ring)
		munmap(u->cq_ring, u->cq_len);
	if (u->sq_ring && u->sq_ring != MAP_FAILED)
		munmap(u->sq_ring, u->sq_len);
	if (u->fd >= 0)
		close(u->fd);
	memset(u, 0, sizeof(*u));
	u->fd = -1;
}

/* 0 or -errno. */
static int uring_init(struct uring *u, bool sqpoll)
{
	struct io_uring_params p = { 0 };
	uint8_t *sq, *cq;

	memset(u, 0, sizeof(*u));
	u->sqpoll = sqpoll;
	if (sqpoll) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 2000;
	}
	u->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (u->fd < 0)
		return -errno;
	u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (u->cq_len > u->sq_len)
			u->sq_len = u->cq_len;
		u->cq_len = u->sq_len;
	}
	u->sq_ring = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_SQ_RING);
	if (u->sq_ring == MAP_FAILED)
		goto err;
	if (p.features & IORING_FEAT_SINGLE_MMAP)
		u->cq_ring = u->sq_ring;
	else
		u->cq_ring = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_POPULATE, u->fd,
				  IORING_OFF_CQ_RING);
	if (u->cq_ring == MAP_FAILED)
		goto err;
	u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, u->fd, IORING_OFF_SQES);
	if (u->sqes == MAP_FAILED)
		goto err;
	sq = u->sq_ring;
	cq = u->cq_ring;
	u->sq_head = (unsigned int *)(sq + p.sq_off.head);
	u->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	u->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	u->sq_flags = (unsigned int *)(sq + p.sq_off.flags);
	u->sq_array = (unsigned int *)(sq + p.sq_off.array);
	u->cq_head = (unsigned int *)(cq + p.cq_off.head);
	u->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	u->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
err:
	{
		int err = -errno;

		uring_exit(u);
		return err;
	}
}

/*
 * Write the 8 bytes at @val to @fd through the ring (@sqe_flags: e.g.
 * IOSQE_ASYNC) and wait for the completion: its res, or -errno of the
 * syscalls, or -ETIMEDOUT.
 */
static int uring_write(struct uring *u, int fd, const uint64_t *val,
		       unsigned int sqe_flags)
{
	unsigned int tail = *u->sq_tail, idx = tail & *u->sq_mask, head;
	struct io_uring_sqe *sqe = &u->sqes[idx];
	unsigned int enter_flags = IORING_ENTER_GETEVENTS;
	long deadline = ct_now_ms() + 5000;
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_WRITE;
	sqe->flags = sqe_flags;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)val;
	sqe->len = sizeof(*val);
	sqe->off = -1ULL;	/* the file position: an eventfd has none */
	sqe->user_data = 0xdb;
	u->sq_array[idx] = idx;
	__atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);

	if (u->sqpoll) {
		/* The poll thread picks it up; wake it if it went to sleep. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		enter_flags = IORING_ENTER_GETEVENTS;
		if (__atomic_load_n(u->sq_flags, __ATOMIC_RELAXED) &
		    IORING_SQ_NEED_WAKEUP)
			enter_flags |= IORING_ENTER_SQ_WAKEUP;
		if (syscall(__NR_io_uring_enter, u->fd, 0, 1, enter_flags,
			    NULL, 0) < 0)
			return -errno;
	} else if (syscall(__NR_io_uring_enter, u->fd, 1, 1, enter_flags,
			   NULL, 0) < 0) {
		return -errno;
	}
	for (;;) {
		head = *u->cq_head;
		if (head != __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE))
			break;
		if (ct_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	if (u->cqes[head & *u->cq_mask].user_data != 0xdb)
		return -EPROTO;
	res = u->cqes[head & *u->cq_mask].res;
	__atomic_store_n(u->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

/* ---- the test ---------------------------------------------------------- */

FIXTURE(fs) {
	CTG_FIXTURE_MEMBERS;
	struct uring u;
};

FIXTURE_VARIANT(fs) {
	bool sqpoll;
	const char *who;
};

FIXTURE_VARIANT_ADD(fs, io_wq) {
	.sqpoll = false,
	.who = "an io-wq worker (IOSQE_ASYNC)",
};

FIXTURE_VARIANT_ADD(fs, sqpoll) {
	.sqpoll = true,
	.who = "an SQPOLL thread",
};

FIXTURE_SETUP(fs)
{
	struct ctg_cfg cfg = { .nr_vcpus = 1 };
	int ret;

	self->u.fd = -1;
	ctg_fixture_start(_metadata, &self->env, &self->kmsg, &self->t);
	ASSERT_EQ(0, ctg_create(&self->t, &cfg));
	ret = uring_init(&self->u, variant->sqpoll);
	ASSERT_EQ(0, ret) {
		TH_LOG("io_uring_setup (%s): %s", variant->who, strerror(-ret));
	}
}

FIXTURE_TEARDOWN(fs)
{
	uring_exit(&self->u);
	ctg_fixture_end(_metadata, &self->env, &self->kmsg, &self->t);
}

TEST_F_TIMEOUT(fs, doorbell_foreign_signaller, 120)
{
	struct ctg *t = &self->t;
	uint32_t *e = ctg_dtt_entry(t, P(1));
	static const uint64_t one = 1;
	struct coiommu_stats s0, s1;
	struct ctg_map_res res;
	struct ct_pins a, b;
	long deadline, t0;
	int ret, i;

	ASSERT_NE(NULL, e);
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x5163);

	/* The request, as the guest leaves it; then the kernel rings. */
	*e = CTG_DTT_ACCESSED | 1;
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	ASSERT_EQ(0, ct_pins_read(&a));
	t->slots[0] = CTG_REQ_SINGLE(P(1), t->bdf);
	t0 = ct_now_ms();
	ret = uring_write(&self->u, t->db.eventfds[0], &one,
			  variant->sqpoll ? 0 : IOSQE_ASYNC);
	ASSERT_EQ(8, ret) {
		TH_LOG("io_uring write to the doorbell by %s: %d (%s)",
		       variant->who, ret, ret < 0 ? strerror(-ret) : "");
	}
	deadline = ct_now_ms() + 5000;
	while (__atomic_load_n(&t->slots[0], __ATOMIC_ACQUIRE) &&
	       ct_now_ms() < deadline)
		usleep(1000);
	EXPECT_EQ(0, t->slots[0]) {
		TH_LOG("a ring by %s: slot not completed within 5 s",
		       variant->who);
	}
	TH_LOG("a ring by %s: slot %s after %ld ms", variant->who,
	       t->slots[0] ? "still busy" : "completed", ct_now_ms() - t0);
	ASSERT_EQ(0, ct_pins_read(&b));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	TH_LOG("requests +%llu, served_task +%llu, served_worker +%llu",
	       (unsigned long long)(s1.requests - s0.requests),
	       (unsigned long long)(s1.served_task - s0.served_task),
	       (unsigned long long)(s1.served_worker - s0.served_worker));
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, *e);
	EXPECT_EQ(1, b.acquired - a.acquired);
	EXPECT_EQ(1, s1.pinned_pages);
	EXPECT_EQ(s0.requests + 1, s1.requests);
	EXPECT_EQ(s0.served_worker + 1, s1.served_worker) {
		TH_LOG("a ring by %s was not served by the instance's worker",
		       variant->who);
	}
	EXPECT_EQ(s0.served_task, s1.served_task) {
		TH_LOG("a ring by %s was served by task work in that thread",
		       variant->who);
	}
	EXPECT_EQ(0, s1.refused_requests);
	if (s1.pinned_pages == 1)
		ctg_dma_lands_page(_metadata, t, P(1), 0x61);

	/* More rings by it: each completes, each by the worker. */
	for (i = 2; i < 6; i++) {
		uint32_t *ei = ctg_dtt_entry(t, P(i));

		*ei = CTG_DTT_ACCESSED | 1;
		ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
		t->slots[0] = CTG_REQ_SINGLE(P(i), t->bdf);
		ASSERT_EQ(8, uring_write(&self->u, t->db.eventfds[0], &one,
					 variant->sqpoll ? 0 : IOSQE_ASYNC));
		deadline = ct_now_ms() + 5000;
		while (__atomic_load_n(&t->slots[0], __ATOMIC_ACQUIRE) &&
		       ct_now_ms() < deadline)
			usleep(1000);
		ASSERT_EQ(0, t->slots[0]) {
			TH_LOG("ring %d by %s: slot not completed", i,
			       variant->who);
		}
		ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
		EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, *ei);
		EXPECT_EQ(s0.served_worker + 1, s1.served_worker);
		EXPECT_EQ(s0.served_task, s1.served_task);
	}
	ctg_dma_lands_page(_metadata, t, P(4), 0x64);

	/* The guest rings on the same instance: task work, at once. */
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	ASSERT_EQ(0, ctg_map(t, 0, P(8), 1, 0, &res));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	EXPECT_EQ(1, res.requests);
	EXPECT_EQ(0, res.last_slot);
	EXPECT_EQ(0, res.unpinned);
	EXPECT_EQ(s0.served_task + 1, s1.served_task);
	EXPECT_EQ(s0.served_worker, s1.served_worker);
	EXPECT_EQ(6, s1.pinned_pages);
	ctg_dma_lands_page(_metadata, t, P(8), 0x68);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
