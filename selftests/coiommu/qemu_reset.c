// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_reset: a system reset of a QEMU with -device coiommu (QMP
 * system_reset while the guest holds still after its DMA) deactivates
 * the coIOMMU: query-coiommu reads active false right after, and the
 * pages the first boot had pinned are released. The guest
 * boots again, its coIOMMU driver activates the device with a new DTT,
 * and its DMA pins on demand and lands again, nothing refused.
 */
#include "ct_qemu_fixture.h"

#define HOLD_S		4
#define GUEST_MS	300000

TEST_F_TIMEOUT(qemu, qemu_reset, CT_VMM_TEST_TIMEOUT)
{
	struct ct_qemu_coiommu before, reset, again;
	struct ct_qemu *q = &self->q;
	char dev[256], append[128], want[64], reply[1024];
	const char *boot2;
	long t0;

	CT_QEMU_NEED_COIOMMU();
	ct_qemu_edu_devices(dev, sizeof(dev), self->bdf, "", "");
	snprintf(append, sizeof(append),
		 "vmm.run=/bin/guest-e2e e2e.pages=%d e2e.hold=%d",
		 CT_E2E_PAGES, HOLD_S);
	ASSERT_EQ(0, ct_qemu_start_guest(q, "256", append, dev));
	ASSERT_TRUE(ct_qemu_console_wait(q, "e2e: holding", GUEST_MS));
	ASSERT_EQ(0, ct_qemu_query_coiommu(q, &before));
	/*
	 * -no-reboot turns every reset into a shutdown, system_reset too:
	 * let this one reset, and the next (a guest that panics) end QEMU.
	 */
	ASSERT_EQ(0, ct_qemu_qmp(q, "{\"execute\": \"set-action\", \"arguments\": {\"reboot\": \"reset\"}}",
				 reply, sizeof(reply))) {
		TH_LOG("set-action: %s", reply);
	}
	ASSERT_EQ(0, ct_qemu_qmp(q, "{\"execute\": \"system_reset\"}", reply,
				 sizeof(reply))) {
		TH_LOG("system_reset: %s", reply);
	}
	/* The reset happens in QEMU's main loop, soon after the reply. */
	t0 = ct_now_ms();
	do {
		EXPECT_EQ(0, ct_qemu_query_coiommu(q, &reset));
	} while (reset.active && ct_now_ms() - t0 < 5000 &&
		 ct_qemu_sleep(q, 20));
	t0 = ct_now_ms() - t0;
	EXPECT_EQ(0, ct_qemu_qmp(q, "{\"execute\": \"set-action\", \"arguments\": {\"reboot\": \"shutdown\"}}",
				 reply, sizeof(reply)));
	/* The second boot: its run, then its hold. */
	EXPECT_TRUE(ct_qemu_console_wait_n(q, "e2e: holding", 2, GUEST_MS));
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &again));
	ct_qemu_wait(q, GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));

	TH_LOG("before the reset: active %d pinned %llu pins %llu requests %llu",
	       before.active, before.pinned, before.pins, before.requests);
	TH_LOG("%ld ms after it: active %d pinned %llu pins %llu unpins %llu requests %llu",
	       t0, reset.active, reset.pinned, reset.pins,
	       reset.unpins, reset.requests);
	TH_LOG("second boot: active %d pinned %llu pins %llu unpins %llu requests %llu refused %llu",
	       again.active, again.pinned, again.pins, again.unpins,
	       again.requests, again.refused);
	EXPECT_TRUE(before.active);
	EXPECT_FALSE(reset.active);
	/* A reset device has no DMA in flight: the old boot's pins went. */
	EXPECT_EQ(0, reset.pinned);
	EXPECT_EQ(reset.pins, reset.unpins);
	EXPECT_TRUE(again.active);
	/* Both boots' DMA passed; the second one's requests were served. */
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	boot2 = strstr(q->out, want);
	ASSERT_NE(NULL, boot2);
	EXPECT_NE(NULL, strstr(boot2 + 1, want));
	EXPECT_LT(before.requests, again.requests);
	EXPECT_LT(before.pins, again.pins);
	EXPECT_EQ(0, again.refused);
	EXPECT_EQ(again.requests, again.served_in_vcpu);
}

TEST_HARNESS_MAIN
