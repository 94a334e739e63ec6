// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_e2e_dma: a user's QEMU (10.0, with -device coiommu: make qemu)
 * pins on demand through coiommu_host. QEMU runs inside the test VM under
 * KVM with edu passed through (vfio-pci) and boots the nested Linux guest
 * of e2e_dma: the coIOMMU guest driver and edu_dmatest, every transfer
 * verified.
 *
 * qemu_static_baseline: the same guest with plain vfio-pci and no coIOMMU
 * driver. VFIO maps all guest RAM at realize (type1's static pinning), so
 * the DMA lands, and QEMU's VmLck is all of guest RAM.
 *
 * qemu_e2e_dma: with -device coiommu, QMP's query-coiommu shows pages
 * pinned on demand, every request served in QEMU's vCPU thread, none
 * refused, a peak of the DMA working set: a tiny fraction of guest RAM.
 * QEMU's VmLck follows the pinned pages (VFIO maps no guest RAM), printed
 * beside the static baseline's.
 */
#include "ct_qemu_fixture.h"

#define RAM_MB		256
#define RAM_MB_S	"256"
#define RAM_KB		(RAM_MB * 1024L)
#define RAM_PAGES	(RAM_MB * 256)
#define HOLD_S		4
#define GUEST_MS	300000
/* Where qemu_static_baseline leaves its VmLck for qemu_e2e_dma. */
#define STATIC_FIGURE	"/tmp/ct-qemu-static-vmlck"

/*
 * QEMU's VmLck under coiommu beyond the guest's pinned pages: the notify
 * slots (one page, pinned for the instance's life, uapi COIOMMU_SET_NOTIFY)
 * and what else the module charges besides guest pages (measured: 12 kB
 * with no guest page pinned, 84 kB with 18). 256 KiB, 64 pages, leaves
 * room for that and stays far below a single MiB of static pinning.
 */
#define VMLCK_SLACK_KB	256

TEST_F_TIMEOUT(qemu, qemu_static_baseline, CT_VMM_TEST_TIMEOUT)
{
	struct ct_qemu *q = &self->q;
	char dev[128], want[64];
	FILE *f;

	snprintf(dev, sizeof(dev), "-device vfio-pci,host=%s", self->bdf);
	ASSERT_EQ(0, ct_qemu_start_guest(q, RAM_MB_S,
			"vmm.run=/bin/guest-e2e e2e.pages=16 e2e.nocoiommu", dev));
	ct_qemu_wait(q, GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));
	/* No coIOMMU driver: plain DMA API, type1's mapping of all RAM. */
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	EXPECT_EQ(NULL, strstr(q->out, "coiommu_guest on"));
	TH_LOG("static: QEMU VmLck %ld kB of %ld kB guest RAM (%ld%%), VmRSS %ld kB, type1 dma_entry_limit %ld",
	       q->max.vmlck_kb, RAM_KB, q->max.vmlck_kb * 100 / RAM_KB,
	       q->max.vmrss_kb, ct_type1_dma_entry_limit());
	/*
	 * All guest RAM locked, give or take the few ROM and firmware
	 * pages VFIO also maps.
	 */
	EXPECT_LE(RAM_KB * 9 / 10, q->max.vmlck_kb);
	EXPECT_GE(RAM_KB + 16384, q->max.vmlck_kb);
	f = fopen(STATIC_FIGURE, "we");
	if (f) {
		fprintf(f, "%ld\n", q->max.vmlck_kb);
		fclose(f);
	}
}

TEST_F_TIMEOUT(qemu, qemu_e2e_dma, CT_VMM_TEST_TIMEOUT)
{
	struct ct_qemu_coiommu c;
	struct ct_e2e_guest g;
	struct ct_qemu *q = &self->q;
	char dev[256], append[128], want[64], hmp[1024];
	long lck_at_query, static_kb = -1;
	FILE *f;

	CT_QEMU_NEED_COIOMMU();
	ct_qemu_edu_devices(dev, sizeof(dev), self->bdf, "", "");
	snprintf(append, sizeof(append),
		 "vmm.run=/bin/guest-e2e e2e.pages=%d e2e.hold=%d",
		 CT_E2E_PAGES, HOLD_S);
	ASSERT_EQ(0, ct_qemu_start_guest(q, RAM_MB_S, append, dev));
	/* The guest's DMA is done; it holds still while we look. */
	EXPECT_TRUE(ct_qemu_console_wait(q, "e2e: holding", GUEST_MS));
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &c));
	lck_at_query = q->last.vmlck_kb;
	EXPECT_EQ(0, ct_qemu_hmp(q, "info coiommu", hmp, sizeof(hmp)));
	ct_qemu_wait(q, GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	ASSERT_EQ(0, ct_e2e_guest_stats(q->out, NULL, &g));
	EXPECT_LE(1, g.requests);
	EXPECT_EQ(0, g.refused_pages);
	EXPECT_EQ(0, g.timeouts);

	TH_LOG("query-coiommu: %s active %d pinned %llu peak %llu pins %llu unpins %llu requests %llu served-in-vcpu %llu refused %llu devices %llu",
	       c.id, c.active, c.pinned, c.peak, c.pins, c.unpins, c.requests,
	       c.served_in_vcpu, c.refused, c.devices);
	TH_LOG("info coiommu: %s", hmp);
	EXPECT_STREQ("co0", c.id);
	EXPECT_TRUE(c.active);
	EXPECT_EQ(1, c.devices);
	/* Every request the guest made reached the module and was served... */
	EXPECT_EQ(g.requests, c.requests);
	EXPECT_EQ(0, c.refused);
	/* ...in QEMU's vCPU thread, the one that rang (task work). */
	EXPECT_EQ(c.requests, c.served_in_vcpu);
	/* Pinned memory follows the DMA working set, far below RAM. */
	EXPECT_LE(CT_E2E_PAGES, c.peak);
	EXPECT_GE(CT_E2E_WORKING_SET + 4, c.peak);
	EXPECT_GT(RAM_PAGES / 100, c.peak);
	EXPECT_EQ(c.pins - c.unpins, c.pinned);
	EXPECT_NE(NULL, strstr(hmp, "co0"));

	/* QEMU's locked memory is those pages: type1 pinned no guest RAM. */
	f = fopen(STATIC_FIGURE, "re");
	if (f) {
		if (fscanf(f, "%ld", &static_kb) != 1)
			static_kb = -1;
		fclose(f);
	}
	TH_LOG("VmLck of QEMU: coiommu %ld kB at most (%ld kB with %llu pages pinned), static %ld kB (%s); guest RAM %ld kB",
	       q->max.vmlck_kb, lck_at_query, c.pinned, static_kb,
	       static_kb < 0 ? "qemu_static_baseline did not run" :
	       "qemu_static_baseline", RAM_KB);
	EXPECT_LE(0, q->max.vmlck_kb);
	EXPECT_GE((long)c.peak * 4 + VMLCK_SLACK_KB, q->max.vmlck_kb);
	EXPECT_LE((long)c.pinned * 4, lck_at_query);
	EXPECT_GE((long)c.pinned * 4 + VMLCK_SLACK_KB, lck_at_query);
	EXPECT_GT(RAM_KB / 100, q->max.vmlck_kb);
}

/*
 * The order of -device options does not matter: with coiommu after the
 * vfio-pci that names it, VFIO still maps no guest RAM (the link is
 * resolved before VFIO's listener registers) and the DMA pins on demand.
 */
TEST_F_TIMEOUT(qemu, qemu_e2e_dma_coiommu_last, CT_VMM_TEST_TIMEOUT)
{
	struct ct_qemu_coiommu c;
	struct ct_qemu *q = &self->q;
	char dev[256], append[128], want[64];

	CT_QEMU_NEED_COIOMMU();
	snprintf(dev, sizeof(dev),
		 "-device vfio-pci,host=%s,id=hostdev0,coiommu=co0 -device coiommu,id=co0",
		 self->bdf);
	snprintf(append, sizeof(append),
		 "vmm.run=/bin/guest-e2e e2e.pages=%d e2e.hold=%d",
		 CT_E2E_PAGES, HOLD_S);
	ASSERT_EQ(0, ct_qemu_start_guest(q, RAM_MB_S, append, dev));
	EXPECT_TRUE(ct_qemu_console_wait(q, "e2e: holding", GUEST_MS));
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &c));
	ct_qemu_wait(q, GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	TH_LOG("coiommu after vfio-pci: active %d pinned %llu peak %llu requests %llu refused %llu devices %llu; max VmLck %ld kB",
	       c.active, c.pinned, c.peak, c.requests, c.refused, c.devices,
	       q->max.vmlck_kb);
	EXPECT_TRUE(c.active);
	EXPECT_EQ(1, c.devices);
	EXPECT_LE(1, c.requests);
	EXPECT_EQ(0, c.refused);
	EXPECT_LE(CT_E2E_PAGES, c.peak);
	EXPECT_GE((long)c.peak * 4 + VMLCK_SLACK_KB, q->max.vmlck_kb);
}

TEST_HARNESS_MAIN
