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
	long start_ms, end_ms, end_at_off;
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
 * A line of coiommu-vmm's output, as it comes: when the guest says it
 * waits for edu to go, start the unbind. When the guest says it powers
 * off, u->end_at_off is the unbind's end time then (0: still blocked).
 */
static void watch_line(const char *line, void *arg)
{
	struct unbind *u = arg;

	if (!u->started && strstr(line, "e2e: waiting for edu to go")) {
		u->started = true;
		if (pthread_create(&u->thread, NULL, unbind_thread, u))
			u->started = false;
	}
	if (strstr(line, "vmm-guest: powering off"))
		u->end_at_off = __atomic_load_n(&u->end_ms, __ATOMIC_SEQ_CST);
}

TEST_F_TIMEOUT(e2e, vmm_device_request, CT_VMM_TEST_TIMEOUT)
{
	struct unbind u = { .ret = -1 };
	struct ct_e2e_guest g;
	struct ct_vmm_run r;
	char args[256], want[64], path[128];

	strcpy(u.bdf, self->bdf);
	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 240 -s 2 -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d e2e.waitgone\" -d %s",
		 CT_E2E_PAGES, self->bdf);
	ASSERT_EQ(0, ct_vmm_run_lines(&r, args, watch_line, &u));
	ct_vmm_print(&r);
	ASSERT_TRUE(u.started);
	pthread_join(u.thread, NULL);
	EXPECT_EQ(0, u.ret);
	TH_LOG("unbind took %ld ms; when the guest powered off it %s",
	       u.end_ms - u.start_ms,
	       u.end_at_off ? "had completed" : "was still blocked");
	/* The unbind completed while the VM ran, in well under VFIO's 10 s. */
	EXPECT_NE(0, u.end_at_off);
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
