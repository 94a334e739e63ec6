// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_worker_path: requests the ringing vCPU thread cannot serve go
 * to the instance's worker, with the same result.
 *
 *  - Another process (a child forked before the VM existed, which got
 *    the vCPU's doorbell eventfd over a unix socket) signals the eventfd
 *    after the VMM put a request into the notify slot through the slot
 *    memory. The worker completes the slot, pins the page (PINNED set,
 *    edu DMA lands in it) and counts served_worker, not served_task.
 *  - A guest ring on the same instance is then served by task work.
 *  - With the module parameter task_work_path off, guest rings are served
 *    by the worker (the guest waits for its slot); back on, by task work.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define P(i)		(CTG_GFN(CTG_DATA_GPA) + 16 + 4 * (i))
#define TW_PARAM	"/sys/module/" CT_MODULE "/parameters/task_work_path"

FIXTURE(db) {
	CTG_FIXTURE_MEMBERS;
	pid_t child;
	int sock;
	bool param_changed;
};

/*
 * The other process: receive an eventfd, then for each 'w' write 1 to it
 * and answer with 0 or errno; leave on 'q' or when the socket closes.
 */
static void child_main(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	int efd = -1, err;
	char c;

	iov.iov_base = &c;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	if (recvmsg(sock, &msg, 0) != 1)
		_exit(2);
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		_exit(3);
	memcpy(&efd, CMSG_DATA(cm), sizeof(int));
	while (read(sock, &c, 1) == 1 && c == 'w') {
		uint64_t one = 1;

		err = write(efd, &one, sizeof(one)) == sizeof(one) ? 0 : errno;
		if (write(sock, &err, sizeof(err)) != sizeof(err))
			_exit(4);
	}
	close(efd);
	_exit(0);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

/* The child signals the eventfd: 0, or the child's errno. */
static int child_ring(int sock)
{
	int err;

	if (write(sock, "w", 1) != 1 || read(sock, &err, sizeof(err)) != sizeof(err))
		return -EPIPE;
	return err;
}

FIXTURE_SETUP(db)
{
	struct ctg_cfg cfg = { .nr_vcpus = 1 };
	int sv[2];

	ctg_init(&self->t);
	self->kmsg.fd = -1;
	self->sock = -1;
	self->child = -1;
	ct_env_setup(_metadata, &self->env);
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));
	ASSERT_EQ(0, access(TW_PARAM, R_OK | W_OK));

	/* Before the VM exists: the child shares none of its memory. */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	self->child = fork();
	ASSERT_LE(0, self->child);
	if (!self->child) {
		close(sv[0]);
		child_main(sv[1]);
	}
	close(sv[1]);
	self->sock = sv[0];

	ASSERT_EQ(0, ct_kmsg_open(&self->kmsg));
	ASSERT_EQ(0, ctg_create(&self->t, &cfg));
}

FIXTURE_TEARDOWN(db)
{
	if (self->param_changed)
		ct_write_file(TW_PARAM, "Y");
	if (self->sock >= 0)
		close(self->sock);
	if (self->child > 0) {
		/* It leaves when the socket closes; do not wait forever. */
		usleep(100000);
		if (waitpid(self->child, NULL, WNOHANG) != self->child) {
			kill(self->child, SIGKILL);
			waitpid(self->child, NULL, 0);
		}
	}
	ctg_fixture_end(_metadata, &self->env, &self->kmsg, &self->t);
}

static void read_param(char *buf, size_t len)
{
	int fd = open(TW_PARAM, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

TEST_F_TIMEOUT(db, doorbell_worker_path, 120)
{
	struct ctg *t = &self->t;
	struct coiommu_stats s0, s1;
	struct ctg_map_res res;
	struct ct_pins a, b;
	uint32_t *e1 = ctg_dtt_entry(t, P(1));
	char param[16];
	long deadline;
	int status;

	ASSERT_NE(NULL, e1);
	ct_fill(ctg_hva(t, CTG_DATA_GPA),
		t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA), 0x77);
	read_param(param, sizeof(param));
	ASSERT_EQ(0, strcmp(param, "Y\n")) {
		TH_LOG("task_work_path is '%s', expected the default Y", param);
	}
	ASSERT_EQ(0, send_fd(self->sock, t->db.eventfds[0]));

	/*
	 * 1. The VMM puts a request for P(1) into vCPU 0's slot (as the guest
	 * would, having mapped the page) and another process rings.
	 */
	*e1 = CTG_DTT_ACCESSED | 1;
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	ASSERT_EQ(0, ct_pins_read(&a));
	t->slots[0] = CTG_REQ_SINGLE(P(1), t->bdf);
	ASSERT_EQ(0, child_ring(self->sock));
	deadline = ct_now_ms() + 5000;
	while (t->slots[0] && ct_now_ms() < deadline)
		usleep(1000);
	EXPECT_EQ(0, t->slots[0]) {
		TH_LOG("the worker did not complete the slot within 5 s");
	}
	ASSERT_EQ(0, ct_pins_read(&b));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, *e1);
	EXPECT_EQ(1, b.acquired - a.acquired);
	EXPECT_EQ(1, s1.pinned_pages);
	EXPECT_EQ(s0.requests + 1, s1.requests);
	EXPECT_EQ(s0.served_worker + 1, s1.served_worker) {
		TH_LOG("a ring from another process was not served by the worker");
	}
	EXPECT_EQ(s0.served_task, s1.served_task) {
		TH_LOG("a ring from another process was served by task work");
	}
	EXPECT_EQ(0, s1.refused_requests);
	ctg_dma_lands_page(_metadata, t, P(1), 21);

	/* 2. The guest rings on the same instance: task work, at once. */
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	ASSERT_EQ(0, ctg_map(t, 0, P(2), 1, 0, &res));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	EXPECT_EQ(1, res.requests);
	EXPECT_EQ(0, res.last_slot);
	EXPECT_EQ(0, res.unpinned);
	EXPECT_EQ(s0.served_task + 1, s1.served_task);
	EXPECT_EQ(s0.served_worker, s1.served_worker);
	EXPECT_EQ(2, s1.pinned_pages);

	/* 3. task_work_path off: guest rings go to the worker. */
	ASSERT_EQ(0, ct_write_file(TW_PARAM, "N"));
	self->param_changed = true;
	read_param(param, sizeof(param));
	ASSERT_EQ(0, strcmp(param, "N\n"));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, ctg_map(t, 0, P(3), 1, 0, &res));
	ASSERT_EQ(0, ct_pins_read(&b));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	TH_LOG("worker path: slot right after the ring %#llx, %llu pause loops until 0",
	       (unsigned long long)res.last_slot,
	       (unsigned long long)res.spins);
	EXPECT_EQ(1, res.requests);
	EXPECT_EQ(0, res.unpinned) {
		TH_LOG("PINNED not set once the slot read 0");
	}
	EXPECT_EQ(0, t->slots[0]);
	EXPECT_EQ(1, b.acquired - a.acquired);
	EXPECT_EQ(s0.requests + 1, s1.requests);
	EXPECT_EQ(s0.served_worker + 1, s1.served_worker) {
		TH_LOG("with task_work_path off a guest ring was not served by the worker");
	}
	EXPECT_EQ(s0.served_task, s1.served_task);
	EXPECT_EQ(3, s1.pinned_pages);
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1,
		  *ctg_dtt_entry(t, P(3)));
	ctg_dma_lands_page(_metadata, t, P(3), 31);

	/* Back on: task work again. */
	ASSERT_EQ(0, ct_write_file(TW_PARAM, "Y"));
	self->param_changed = false;
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	ASSERT_EQ(0, ctg_map(t, 0, P(4), 1, 0, &res));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));
	EXPECT_EQ(0, res.last_slot);
	EXPECT_EQ(0, res.unpinned);
	EXPECT_EQ(s0.served_task + 1, s1.served_task);
	EXPECT_EQ(s0.served_worker, s1.served_worker);
	EXPECT_EQ(4, s1.pinned_pages);
	EXPECT_EQ(4, s1.requests);
	EXPECT_EQ(0, s1.refused_requests);

	/* The other process is done. */
	ASSERT_EQ(1, write(self->sock, "q", 1));
	ASSERT_EQ(self->child, waitpid(self->child, &status, 0));
	self->child = -1;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		TH_LOG("child status %#x", status);
	}
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
