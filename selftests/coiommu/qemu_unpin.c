// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_unpin: QEMU's -device coiommu,unpin-interval=200,unpin-gen-threshold=1
 * sets the host's background unpinner: a pass every 200 ms, each looking
 * at every pinned page (with a larger threshold, pages the guest kept
 * mapped for that many passes move to the old generation, looked at only
 * every threshold-th sweep). The nested guest of qemu_e2e_dma moves data through
 * edu, unmaps everything and stays idle (guest-e2e e2e.idle): polled over
 * QMP (query-coiommu), the pinned pages fall to (nearly) nothing within
 * two unpin periods of the idle start, as unpins. The guest then maps
 * again: its DMA pins again and every byte comes back right.
 */
#include "ct_qemu_fixture.h"

#define PERIOD_MS	200
#define IDLE_S		4
#define HOLD_S		3
#define NEAR_ZERO	0	/* pages */
#define POLL_MS		50
/*
 * The drop is timed from the last pin seen (QMP, every POLL_MS), which
 * lies before the idle start by the guest's last transfer (edu takes
 * about 100 ms of emulated time per DMA) and its unmap; the drop itself
 * is seen one poll late at most. On top of the two unpin periods.
 */
#define SLACK_MS	(2 * POLL_MS + 200)
#define GUEST_MS	300000

TEST_F_TIMEOUT(qemu, qemu_unpin, CT_VMM_TEST_TIMEOUT)
{
	struct ct_qemu_coiommu before = { .pins = 0 }, low = { .pins = 0 }, c, after;
	struct ct_qemu *q = &self->q;
	char dev[256], append[128], want[64];
	long t_pin = -1, t_run1 = 0, t_low = -1;
	bool found = false;

	CT_QEMU_NEED_COIOMMU();
	snprintf(dev, sizeof(dev),
		 "-device coiommu,id=co0,unpin-interval=%d,unpin-gen-threshold=1 -device vfio-pci,host=%s,id=hostdev0,coiommu=co0",
		 PERIOD_MS, self->bdf);
	snprintf(append, sizeof(append),
		 "vmm.run=/bin/guest-e2e e2e.pages=%d e2e.idle=%d e2e.hold=%d",
		 CT_E2E_PAGES, IDLE_S, HOLD_S);
	ASSERT_EQ(0, ct_qemu_start_guest(q, "256", append, dev));

	/*
	 * Watch the pins from the start: the last one the guest's run 1
	 * takes comes before it unmaps everything and goes idle, so the
	 * drop measured from there is an upper bound of the drop after the
	 * idle start.
	 */
	for (;;) {
		long now;

		if (ct_qemu_query_coiommu(q, &c))
			break;
		now = ct_now_ms();
		if (c.pins != before.pins) {
			before = c;
			t_pin = now;
		}
		if (!t_run1 && ct_qemu_console_wait(q, "e2e: run 1:", 0))
			t_run1 = now;
		if (t_run1 && c.pinned <= NEAR_ZERO) {
			low = c;
			t_low = now;
			found = true;
			break;
		}
		if ((t_run1 && now - t_run1 > IDLE_S * 1000L - 500) ||
		    now - q->t0 > GUEST_MS)
			break;
		if (!ct_qemu_sleep(q, POLL_MS))
			break;
	}
	/* Run 2 done: pinned again. */
	EXPECT_TRUE(ct_qemu_console_wait(q, "e2e: holding", GUEST_MS));
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &after));
	ct_qemu_wait(q, GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));

	TH_LOG("last pin seen %ld ms before run 1 ended: pinned %llu peak %llu pins %llu unpins %llu requests %llu",
	       t_run1 - t_pin, before.pinned, before.peak, before.pins,
	       before.unpins, before.requests);
	ASSERT_TRUE(found) {
		TH_LOG("pinned pages never fell to %d in %d s of idle guest",
		       NEAR_ZERO, IDLE_S);
	}
	TH_LOG("idle guest: %llu pages pinned %ld ms after the last pin, %ld ms after run 1 ended (unpin period %d ms), unpins %llu",
	       low.pinned, t_low - t_pin, t_low - t_run1, PERIOD_MS,
	       low.unpins);
	EXPECT_GE(2 * PERIOD_MS + SLACK_MS, t_low - t_pin);
	/* The working set was pinned, and went as unpins. */
	EXPECT_LE(CT_E2E_PAGES, low.peak);
	EXPECT_EQ(low.pins - low.unpins, low.pinned);
	EXPECT_LE(CT_E2E_PAGES, low.unpins);
	EXPECT_EQ(0, low.refused);

	/* Mapping again pins again, and DMA works. */
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	snprintf(want, sizeof(want), "e2e: run 2: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	TH_LOG("after run 2: pinned %llu pins %llu unpins %llu requests %llu served-in-vcpu %llu refused %llu",
	       after.pinned, after.pins, after.unpins, after.requests,
	       after.served_in_vcpu, after.refused);
	EXPECT_LE(low.pins + CT_E2E_PAGES, after.pins);
	EXPECT_LT(low.requests, after.requests);
	EXPECT_EQ(after.requests, after.served_in_vcpu);
	EXPECT_EQ(0, after.refused);
}

/*
 * The control: unpin-policy=off. The same idle guest keeps its pages
 * pinned (nothing but the unpinner releases them while the VM runs);
 * the second run works as before.
 */
TEST_F_TIMEOUT(qemu, qemu_unpin_off, CT_VMM_TEST_TIMEOUT)
{
	struct ct_qemu_coiommu idle, after;
	struct ct_qemu *q = &self->q;
	char dev[256], append[128], want[64];

	CT_QEMU_NEED_COIOMMU();
	snprintf(dev, sizeof(dev),
		 "-device coiommu,id=co0,unpin-policy=off,unpin-interval=%d -device vfio-pci,host=%s,id=hostdev0,coiommu=co0",
		 PERIOD_MS, self->bdf);
	snprintf(append, sizeof(append),
		 "vmm.run=/bin/guest-e2e e2e.pages=%d e2e.idle=%d e2e.hold=%d",
		 CT_E2E_PAGES, IDLE_S, HOLD_S);
	ASSERT_EQ(0, ct_qemu_start_guest(q, "256", append, dev));
	/* Near the end of the idle time: ten periods without DMA. */
	EXPECT_TRUE(ct_qemu_console_wait(q, "e2e: idle from", GUEST_MS));
	ct_qemu_sleep(q, 10 * PERIOD_MS);
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &idle));
	EXPECT_TRUE(ct_qemu_console_wait(q, "e2e: holding", GUEST_MS));
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &after));
	ct_qemu_wait(q, GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));
	TH_LOG("unpin-policy=off, idle: pinned %llu peak %llu unpins %llu; after run 2: pinned %llu pins %llu unpins %llu",
	       idle.pinned, idle.peak, idle.unpins, after.pinned, after.pins,
	       after.unpins);
	EXPECT_LE(CT_E2E_PAGES, idle.pinned);
	EXPECT_EQ(0, idle.unpins);
	EXPECT_EQ(0, after.unpins);
	snprintf(want, sizeof(want), "e2e: run 2: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
}

TEST_HARNESS_MAIN
