// SPDX-License-Identifier: GPL-2.0
/*
 * vmm_device_request: the host takes a passthrough device back while the
 * VM runs. A Linux guest under coiommu-vmm does DMA through edu
 * (edu_dmatest, pages pinned on demand), then waits for edu to go
 * (tools/vmm/guest-e2e e2e.waitgone). Meanwhile the test unbinds edu from
 * vfio-pci in the test VM: VFIO signals coiommu-vmm's device request
 * eventfd (VFIO_PCI_REQ_IRQ_INDEX), coiommu-vmm calls COIOMMU_REMOVE_DEVICE
 * (coiommu_host drops its reference to the device file and unmaps the
 * device's domain) and closes the device, so the unbind completes within
 * seconds, while the VM is still running; the guest then reads all ones
 * from edu's config space, says so, runs on for 3 s, and powers off
 * normally. Afterwards no pin is
 * left and coiommu_host unloads.
 *
 * Needs COIOMMU_REMOVE_DEVICE in coiommu_host: without it the module
 * keeps the device file open, and the unbind waits until the VM ends.
 */
#include <pthread.h>

#include "ct_fixture.h"
#include "ct_e2e.h"

struct unbind {
	char bdf[32];
	pthread_t thread;
	long start_ms, end_ms;
	int ret;
	bool started;
};

static void *unbind_thread(void *arg)
{
	struct unbind *u = arg;

	u->start_ms = ct_now_ms();
	u->ret = ct_write_file("/sys/bus/pci/drivers/vfio-pci/unbind", u->bdf);
	__atomic_store_n(&u->end_ms, ct_now_ms(), __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Run coiommu-vmm with @args, reading its output as it comes; when the
 * guest says it waits for edu to go, start the unbind. When the guest
 * says it powers off, *@end_at_off is the unbind's end time then (0:
 * still blocked).
 */
static int run(struct ct_vmm_run *r, const char *args, struct unbind *u,
	       long *end_at_off)
{
	char cmd[1024], line[4096];
	const char *tmo = getenv("CT_VMM_TIMEOUT");
	size_t cap = 1 << 16;
	FILE *p;
	int st;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (ct_vmm_mount_kernel())
		return -1;
	/* As ct_vmm_run(): CT_VMM_TIMEOUT (make check-debug) wins. */
	if (tmo && (atoi(tmo) <= 0 || strlen(tmo) > 8))
		tmo = NULL;
	snprintf(cmd, sizeof(cmd), CT_VMM " -k " CT_VMM_KERNEL " -i "
		 CT_VMM_INITRD " %s%s%s 2>&1", args, tmo ? " -t " : "",
		 tmo ? tmo : "");
	r->out = malloc(cap);
	if (!r->out)
		return -1;
	r->out[0] = 0;
	r->ms = ct_now_ms();
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		size_t n = strlen(line);

		if (r->len + n + 1 > cap) {
			char *q = realloc(r->out, cap * 2 + n);

			if (!q)
				break;
			r->out = q;
			cap = cap * 2 + n;
		}
		memcpy(r->out + r->len, line, n + 1);
		r->len += n;
		if (!u->started && strstr(line, "e2e: waiting for edu to go")) {
			u->started = true;
			if (pthread_create(&u->thread, NULL, unbind_thread, u))
				u->started = false;
		}
		if (strstr(line, "vmm-guest: powering off"))
			*end_at_off = __atomic_load_n(&u->end_ms,
						      __ATOMIC_SEQ_CST);
	}
	st = pclose(p);
	r->ms = ct_now_ms() - r->ms;
	if (st != -1 && WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	return 0;
}

TEST_F_TIMEOUT(e2e, vmm_device_request, CT_VMM_TEST_TIMEOUT)
{
	struct unbind u = { .ret = -1 };
	struct ct_e2e_guest g;
	struct ct_vmm_run r;
	char args[256], want[64], path[128];
	long end_at_off = 0;

	strcpy(u.bdf, self->bdf);
	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 240 -s 2 -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d e2e.waitgone\" -d %s",
		 CT_E2E_PAGES, self->bdf);
	ASSERT_EQ(0, run(&r, args, &u, &end_at_off));
	ct_vmm_print(&r);
	ASSERT_TRUE(u.started);
	pthread_join(u.thread, NULL);
	EXPECT_EQ(0, u.ret);
	TH_LOG("unbind took %ld ms; when the guest powered off it %s",
	       u.end_ms - u.start_ms,
	       end_at_off ? "had completed" : "was still blocked");
	/* The unbind completed while the VM ran, in well under VFIO's 10 s. */
	EXPECT_NE(0, end_at_off);
	EXPECT_GT(10000, u.end_ms - u.start_ms);
	EXPECT_EQ(0, r.status);
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(r.out, want));
	EXPECT_NE(NULL, strstr(r.out, ": VFIO asked for the device back: removed from coIOMMU, device file closed"));
	EXPECT_NE(NULL, strstr(r.out, "e2e: edu id ffffffff after "));
	EXPECT_NE(NULL, strstr(r.out, "e2e: still running at up "));
	EXPECT_NE(NULL, strstr(r.out, "vmm-guest: powering off with status 0"));
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, NULL, &g));
	EXPECT_EQ(0, g.refused_pages);
	/* edu has no driver now. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", self->bdf);
	EXPECT_NE(0, access(path, F_OK));
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
