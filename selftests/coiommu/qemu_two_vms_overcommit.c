// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_two_vms_overcommit: two passthrough VMs in less memory than their
 * RAM adds up to (issue 20). Two QEMU 10 (make qemu) in the test VM at
 * once, each with one of the test VM's two edu devices passed through
 * and guest RAM larger than half of the memory the test VM has free
 * (MemAvailable when the test starts): together more than it has.
 *
 * With -device coiommu both start, and both guests run edu_dmatest at
 * the same time (tools/vmm/guest-e2e e2e.touch=: runs again and again
 * while memtouch writes 64 MiB and frees them), every transfer verified;
 * each QEMU holds what its guest uses, not its RAM.
 *
 * With static pinning (plain vfio-pci) the first VM pins all of its RAM
 * at start; the second cannot pin its own and QEMU stops with VFIO's
 * error, which is printed. Running out of memory in the kernel ends in
 * the OOM killer, whose report (a stack dump) the rig counts as a kernel
 * splat, and whose victim could be anyone: the QEMUs run in a cgroup v1
 * memory controller limited to the test VM's free memory (MemAvailable
 * less 192 MiB) with its OOM killer disabled, so that the pinning that
 * does not fit fails with -ENOMEM instead. A thread of the QEMUs that
 * faults in user mode at the limit waits there for memory rather than
 * fail (cgroup v1's rule), the QEMU that failed to pin on its way out
 * too, perhaps before it printed its error. Until the error is printed,
 * while the cgroup is under OOM, the test lets the limit grow by 32 MiB
 * at a time, which frees the waiters, far less than the pinning lacks;
 * the limit when the error is printed must still be below MemAvailable.
 * Once it is printed the refusal is done, and the test lifts the limit:
 * nothing waits at it any more and QEMU exits. cgroup v1's memory
 * controller is in Debian 12's 6.1; Debian 13's 6.12 has none
 * (CONFIG_MEMCG_V1 off), where the static part is not run and the test
 * says so.
 *
 * Sizes: the test VM has VM_MEM (tools/rig/vm.sh, 2 GiB by default) and
 * each guest gets half of its MemAvailable plus 64 MiB, rounded up to
 * 64 MiB (about 1 GiB). A test VM with more memory gives larger guests;
 * the rig needs no other setting. The guests' kernels keep their own
 * allocations below 192 MiB (kernelcore=192M: the rest of their RAM is
 * ZONE_MOVABLE, for user memory), since edu_dmatest's buffers must lie
 * below edu's 28-bit DMA limit.
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/mount.h>

#include "ct_qemu_reclaim.h"

#define MEMCG		"/sys/fs/cgroup/memory"
#define MEMCG_VMS	MEMCG "/ct-vms"
#define MEMCG_SLACK_MB	192
#define MEMCG_RAISE_MB	32
#define ENOMEM_TEXT	"Cannot allocate memory"
/* DMA runs that end after the free (guest-e2e e2e.afterruns). */
#define AFTER_RUNS	2
#define APPEND		"kernelcore=192M vmm.run=/bin/guest-e2e e2e.pages=16 e2e.touch=64 e2e.touchhold=2 e2e.after=10 e2e.afterruns=2"

FIXTURE(qemu2) {
	struct ct_env env;
	char bdf[2][32];
	struct ct_qemu q[2];
};

FIXTURE_SETUP(qemu2)
{
	char list[4][32];

	ct_qemu_init(&self->q[0]);
	ct_qemu_init(&self->q[1]);
	ct_vmm_setup(_metadata, &self->env, self->bdf[0]);
	ASSERT_EQ(2, ct_edu_list(list, 4)) {
		TH_LOG("the test VM has two edu devices (tools/rig/vm.sh)");
	}
	strcpy(self->bdf[1], strcmp(list[0], self->bdf[0]) ? list[0] : list[1]);
	ASSERT_EQ(0, ct_edu_bind_vfio(self->bdf[1]));
	ASSERT_EQ(0, ct_qemu_mount()) {
		TH_LOG("no QEMU bundle at " CT_QEMU_DIR " (vm.sh QEMU_BUNDLE, make qemu)");
	}
}

FIXTURE_TEARDOWN(qemu2)
{
	ct_qemu_free(&self->q[0]);
	ct_qemu_free(&self->q[1]);
	rmdir(MEMCG_VMS);
	ct_env_teardown(_metadata, &self->env);
}

/* The cgroup v1 memory controller, limited to @kb with no OOM killer. */
static int memcg_setup(long kb)
{
	char v[32];

	if (access(MEMCG "/cgroup.procs", W_OK)) {
		mount("cgroup", "/sys/fs/cgroup", "tmpfs", 0, NULL);
		mkdir(MEMCG, 0755);
		if (mount("cgroup", MEMCG, "cgroup", 0, "memory"))
			return -1;
	}
	if (mkdir(MEMCG_VMS, 0755) && errno != EEXIST)
		return -1;
	snprintf(v, sizeof(v), "%ld", kb * 1024);
	if (ct_write_file(MEMCG_VMS "/memory.limit_in_bytes", v) ||
	    ct_write_file(MEMCG_VMS "/memory.oom_control", "1"))
		return -1;
	return 0;
}

/* Put @pid into the cgroup (QEMU's big allocations come later). */
static int memcg_add(pid_t pid)
{
	char v[24];

	snprintf(v, sizeof(v), "%d", (int)pid);
	return ct_write_file(MEMCG_VMS "/cgroup.procs", v);
}

/* The limit as the kernel has it (KiB), or -1. */
static long memcg_limit_kb(void)
{
	char v[32];

	if (ct_read_file(MEMCG_VMS "/memory.limit_in_bytes", v, sizeof(v)))
		return -1;
	return strtoll(v, NULL, 10) / 1024;
}

/*
 * Under OOM: raise the limit by MEMCG_RAISE_MB, to below @cap_kb. 1 when
 * it did, 0 when not under OOM, -1 when the raise would reach @cap_kb.
 */
static int memcg_relieve(long *limit_kb, long cap_kb)
{
	char oc[256], v[32];

	if (ct_read_file(MEMCG_VMS "/memory.oom_control", oc, sizeof(oc)) ||
	    !strstr(oc, "under_oom 1"))
		return 0;
	if (*limit_kb + MEMCG_RAISE_MB * 1024 >= cap_kb)
		return -1;
	*limit_kb += MEMCG_RAISE_MB * 1024;
	snprintf(v, sizeof(v), "%ld", *limit_kb * 1024);
	ct_write_file(MEMCG_VMS "/memory.limit_in_bytes", v);
	return 1;
}

/* QEMU's stderr so far has @text. */
static bool err_has(const struct ct_qemu *q, const char *text)
{
	static char buf[65536];

	return !ct_read_file(q->err, buf, sizeof(buf)) && strstr(buf, text);
}

static void start(struct __test_metadata *_metadata, struct ct_qemu *q,
		  const char *bdf, long ram_mb, bool coiommu, bool memcg)
{
	char dev[256], mem[24];

	ct_qemu_edu_devices(dev, sizeof(dev), bdf, coiommu ? "" : NULL, "");
	snprintf(mem, sizeof(mem), "%ld", ram_mb);
	ASSERT_EQ(0, ct_qemu_start_guest(q, mem, coiommu ? APPEND :
					 APPEND " e2e.nocoiommu", dev));
	if (memcg)
		ASSERT_EQ(0, memcg_add(q->pid));
}

TEST_F_TIMEOUT(qemu2, qemu_two_vms_overcommit, CT_VMM_TEST_TIMEOUT)
{
	long avail_kb, ram_mb, peak_rss[2] = { 0, 0 }, peak_ram[2] = { 0, 0 };
	long limit_kb, err_limit_kb = -1, end;
	int i, relief = 0;
	char want[64];
	bool memcg;

	CT_QEMU_NEED_COIOMMU();
	avail_kb = ct_file_value("/proc/meminfo", "MemAvailable", ':');
	ASSERT_LT(0, avail_kb);
	ram_mb = (avail_kb / 1024 / 2 + 64 + 63) / 64 * 64;
	TH_LOG("test VM: MemAvailable %ld kB; two guests of %ld MiB each (%ld MiB together)",
	       avail_kb, ram_mb, 2 * ram_mb);
	ASSERT_LT(avail_kb / 2, ram_mb * 1024);

	limit_kb = avail_kb - MEMCG_SLACK_MB * 1024;
	memcg = !memcg_setup(limit_kb);
	if (memcg)
		TH_LOG("QEMUs in " MEMCG_VMS ", limit %ld kB (MemAvailable less %d MiB), OOM killer off",
		       limit_kb, MEMCG_SLACK_MB);

	/* coiommu: both at once. */
	for (i = 0; i < 2; i++)
		start(_metadata, &self->q[i], self->bdf[i], ram_mb, true,
		      memcg);
	while (ct_qemu_running(&self->q[0]) | ct_qemu_running(&self->q[1])) {
		for (i = 0; i < 2; i++) {
			long r = self->q[i].pid ?
				 ct_qemu_ram_rss_kb(self->q[i].pid, ram_mb * 1024) : -1;

			if (r > peak_ram[i])
				peak_ram[i] = r;
		}
		usleep(200000);
	}
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	for (i = 0; i < 2; i++) {
		struct ct_dma_tally t, a;
		const char *freed;

		ct_qemu_wait(&self->q[i], CT_RECLAIM_GUEST_MS);
		ct_qemu_print(&self->q[i]);
		peak_rss[i] = self->q[i].max.vmrss_kb;
		ct_dma_tally(self->q[i].out, NULL, &t);
		freed = strstr(self->q[i].out, "memtouch: freed");
		ct_dma_tally(freed, NULL, &a);
		TH_LOG("coiommu VM %d (%s): guest RAM %ld MiB, at most %ld kB of it resident, QEMU VmRSS at most %ld kB, VmLck at most %ld kB; DMA runs %d/%d passed after run 1, %d/%d ended after the free",
		       i, self->bdf[i], ram_mb, peak_ram[i], peak_rss[i],
		       self->q[i].max.vmlck_kb, t.pass, t.runs, a.pass,
		       a.runs);
		EXPECT_EQ(0, ct_qemu_guest_status(&self->q[i]));
		EXPECT_NE(NULL, strstr(self->q[i].out, want));
		EXPECT_NE(NULL, strstr(self->q[i].out, "MiB, 0 bad pages"));
		EXPECT_LE(AFTER_RUNS, a.pass);
		EXPECT_EQ(t.runs, t.pass);
		/* Far below its RAM: what the guest used. */
		EXPECT_GT(ram_mb * 1024 / 2, peak_ram[i]);
	}
	/* Both were up at once, DMA running in both. */
	EXPECT_LT(self->q[0].t0, self->q[1].t0 + self->q[1].ms);
	EXPECT_LT(self->q[1].t0, self->q[0].t0 + self->q[0].ms);
	EXPECT_LT(avail_kb, 2 * ram_mb * 1024);

	if (!memcg) {
		TH_LOG("static part not run: no cgroup v1 memory controller here (6.12); out of memory, the kernel's OOM killer would end it");
		return;
	}
	/* Static pinning: the first pins its RAM, the second cannot start. */
	ct_qemu_free(&self->q[0]);
	ct_qemu_free(&self->q[1]);
	start(_metadata, &self->q[0], self->bdf[0], ram_mb, false, true);
	EXPECT_TRUE(ct_qemu_console_wait(&self->q[0], "vmm-guest: hello",
					 CT_RECLAIM_GUEST_MS));
	ct_qemu_sample(&self->q[0]);
	TH_LOG("static VM 0 runs: VmLck %ld kB, VmRSS %ld kB",
	       self->q[0].last.vmlck_kb, self->q[0].last.vmrss_kb);
	EXPECT_LE(ram_mb * 1024 * 9 / 10, self->q[0].last.vmlck_kb);
	start(_metadata, &self->q[1], self->bdf[1], ram_mb, false, true);
	end = ct_now_ms() + CT_RECLAIM_GUEST_MS;
	while (ct_qemu_running(&self->q[1]) && ct_now_ms() < end) {
		if (err_has(&self->q[1], ENOMEM_TEXT)) {
			/*
			 * Printed: the limit now is at least the one it
			 * was printed under. Nothing more to refuse.
			 */
			err_limit_kb = memcg_limit_kb();
			ct_write_file(MEMCG_VMS "/memory.limit_in_bytes", "-1");
			TH_LOG("VM 1 printed VFIO's error under a limit of %ld kB: limit lifted",
			       err_limit_kb);
			break;
		}
		relief = memcg_relieve(&limit_kb, avail_kb);
		if (relief > 0)
			TH_LOG("cgroup under OOM, no error printed yet: limit raised to %ld kB",
			       limit_kb);
		/* Not to lift it above MemAvailable: killed below. */
		if (relief < 0) {
			TH_LOG("cgroup under OOM at %ld kB, no error printed: VM 1 is killed",
			       limit_kb);
			break;
		}
		usleep(200000);
	}
	/* Exited before the test saw the error: the limit is unchanged since. */
	if (err_limit_kb < 0 && err_has(&self->q[1], ENOMEM_TEXT))
		err_limit_kb = memcg_limit_kb();
	ct_qemu_wait(&self->q[1], relief < 0 ? 1000 : CT_RECLAIM_GUEST_MS);
	ct_qemu_print(&self->q[1]);
	ct_qemu_wait(&self->q[0], CT_RECLAIM_GUEST_MS);
	ct_qemu_print(&self->q[0]);
	TH_LOG("static VM 1 (%s): QEMU exited with status %d after %ld ms, its guest never started; its stderr:",
	       self->bdf[1], self->q[1].status, self->q[1].ms);
	TH_LOG("%s", self->q[1].errout);
	TH_LOG("VFIO's error printed under a limit of %ld kB at most (%ld kB at the start; MemAvailable %ld kB)",
	       err_limit_kb, avail_kb - MEMCG_SLACK_MB * 1024L, avail_kb);
	/* The second one never ran its guest: QEMU's error, exit status 1. */
	EXPECT_EQ(1, self->q[1].status);
	EXPECT_EQ(NULL, strstr(self->q[1].out, "vmm-guest: hello"));
	EXPECT_NE(NULL, strstr(self->q[1].errout, ENOMEM_TEXT));
	/* The first one ran to the end, its DMA verified. */
	EXPECT_EQ(0, ct_qemu_guest_status(&self->q[0]));
	EXPECT_NE(NULL, strstr(self->q[0].out, want));
	/* The pinning failed under a limit below what the test VM had free. */
	EXPECT_LT(0, err_limit_kb);
	EXPECT_GT(avail_kb, err_limit_kb);
}

TEST_HARNESS_MAIN
