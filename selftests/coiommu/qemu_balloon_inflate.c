// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_balloon_inflate: with the coIOMMU in charge of a VM's passthrough
 * device, QEMU's virtio-balloon works again (issue 20). QEMU 10 (make
 * qemu) in the test VM boots the nested guest with edu behind -device
 * coiommu and virtio-balloon-pci (no free page reporting: only the
 * balloon gives memory back here). The guest (tools/vmm/guest-e2e
 * e2e.touch=avail) runs edu_dmatest again and again, every transfer
 * verified, while memtouch writes all of its available memory but
 * 32 MiB and frees it: the pages stay resident in QEMU, free in the
 * guest.
 *
 * Then QMP's balloon sets the guest's target to half of its RAM: the
 * guest's balloon driver takes half of its RAM in pages from its page
 * allocator and hands them to QEMU, which asks the coiommu device (the
 * RAM discard coordinator) before discarding each: the module releases
 * its pins there (COIOMMU_FORCE_UNPIN) and QEMU discards the pages.
 * The resident part of QEMU's guest RAM (ct_qemu_ram_rss_kb()) falls by
 * about that much (at least 3/4 of it: a few of the pages the balloon
 * takes may never have been written), query-coiommu's discarded-pages
 * grows by at least the balloon's size, and the DMA lands during and
 * after the inflation.
 *
 * Pages mapped for DMA: the balloon takes free pages only, and a guest
 * that unmaps before it frees (edu_dmatest, every driver that uses the
 * DMA API correctly) never has a page mapped for DMA in its page
 * allocator, so nothing is kept here: discard-kept-pages stays 0. The
 * kept path needs a guest that frees a page it still maps (a buggy or
 * hostile guest driver); it is not exercised by this test.
 */
#include "ct_qemu_reclaim.h"

#define INFLATE_MS	60000
#define FREED_RUN_MS	60000

TEST_F_TIMEOUT(qemu, qemu_balloon_inflate, CT_VMM_TEST_TIMEOUT)
{
	struct ct_qemu *q = &self->q;
	unsigned long long disc0 = 0, kept0 = 0, disc1 = 0, kept1 = 0;
	long long target = CT_RECLAIM_RAM_KB / 2 * 1024LL, actual = -1;
	struct ct_qemu_coiommu c0, c1;
	struct ct_dma_tally freed, before, during, after;
	long off_freed, off_inflate = -1, off_done = -1, t0, inflate_ms = -1;
	long freed_ms;
	long rss0, rss1, vmrss0, vmrss1;
	char dev[512], cmd[256], reply[1024], mem[16], want[64];
	char *con;

	CT_QEMU_NEED_COIOMMU();
	ct_qemu_edu_devices(dev, sizeof(dev), self->bdf, "",
			    "-device virtio-balloon-pci,id=balloon0");
	snprintf(mem, sizeof(mem), "%d", CT_RECLAIM_RAM_MB);
	ASSERT_EQ(0, ct_qemu_start_guest(q, mem,
		  "vmm.run=/bin/guest-e2e e2e.pages=16 e2e.balloon e2e.touch=avail e2e.touchhold=2 e2e.after=30",
		  dev));
	off_freed = ct_console_offset_wait(q, "memtouch: freed",
					   CT_RECLAIM_GUEST_MS);
	ASSERT_LE(0, off_freed) {
		ct_qemu_wait(q, 1000);
		ct_qemu_print(q);
	}
	/* A DMA run that ended after the free, before the balloon. */
	t0 = ct_now_ms();
	for (;;) {
		con = ct_qemu_console(q);
		ct_dma_tally(con ? con + off_freed : NULL, NULL, &freed);
		free(con);
		if (freed.runs >= 1 || ct_now_ms() - t0 > FREED_RUN_MS ||
		    !ct_qemu_sleep(q, 100))
			break;
	}
	freed_ms = ct_now_ms() - t0;
	ASSERT_LE(1, freed.runs) {
		TH_LOG("no DMA run ended in %ld ms after the free", freed_ms);
		ct_qemu_wait(q, 1000);
		ct_qemu_print(q);
	}
	rss0 = ct_qemu_ram_rss_kb(q->pid, CT_RECLAIM_RAM_KB);
	ct_qemu_sample(q);
	vmrss0 = q->last.vmrss_kb;
	ASSERT_EQ(0, ct_qemu_query_coiommu(q, &c0));
	ASSERT_EQ(0, ct_qemu_discards(q, &disc0, &kept0));
	con = ct_qemu_console(q);
	off_inflate = con ? (long)strlen(con) : -1;
	free(con);

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\": \"balloon\", \"arguments\": {\"value\": %lld}}",
		 target);
	t0 = ct_now_ms();
	ASSERT_EQ(0, ct_qemu_qmp(q, cmd, reply, sizeof(reply))) {
		TH_LOG("balloon: %s", reply);
	}
	/* The guest's driver inflates in steps; QEMU discards as it goes. */
	while (ct_now_ms() - t0 < INFLATE_MS) {
		actual = ct_qemu_balloon_actual(q);
		if (actual >= 0 && actual <= target) {
			inflate_ms = ct_now_ms() - t0;
			break;
		}
		if (!ct_qemu_sleep(q, 200))
			break;
	}
	/* Let the last discards complete, then look. */
	ct_qemu_sleep(q, 1000);
	rss1 = ct_qemu_ram_rss_kb(q->pid, CT_RECLAIM_RAM_KB);
	ct_qemu_sample(q);
	vmrss1 = q->last.vmrss_kb;
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &c1));
	EXPECT_EQ(0, ct_qemu_discards(q, &disc1, &kept1));
	con = ct_qemu_console(q);
	off_done = con ? (long)strlen(con) : -1;
	free(con);

	ct_qemu_wait(q, CT_RECLAIM_GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	EXPECT_NE(NULL, strstr(q->out, "MiB, 0 bad pages"));
	ASSERT_LT(0, off_inflate);
	ASSERT_LE(off_inflate, off_done);
	ASSERT_LE(off_done, (long)strlen(q->out));
	ASSERT_LT(off_freed, off_inflate);
	ct_dma_tally(q->out, q->out + off_inflate, &before);
	ct_dma_tally(q->out + off_freed, q->out + off_inflate, &freed);
	ct_dma_tally(q->out + off_inflate, q->out + off_done, &during);
	ct_dma_tally(q->out + off_done, NULL, &after);

	TH_LOG("balloon target %lld kB (half of %ld kB), actual %lld kB after %ld ms",
	       target / 1024, CT_RECLAIM_RAM_KB, actual / 1024, inflate_ms);
	TH_LOG("guest RAM resident: %ld kB before, %ld kB after (-%ld kB); QEMU VmRSS %ld kB -> %ld kB",
	       rss0, rss1, rss0 - rss1, vmrss0, vmrss1);
	TH_LOG("query-coiommu: discarded-pages %llu -> %llu, discard-kept-pages %llu -> %llu; pinned %llu -> %llu, unpins %llu -> %llu",
	       disc0, disc1, kept0, kept1, c0.pinned, c1.pinned, c0.unpins,
	       c1.unpins);
	TH_LOG("DMA runs passed: %d/%d before the inflation (%d/%d of them ended after the free, the first %ld ms after it was seen), %d/%d during, %d/%d after",
	       before.pass, before.runs, freed.pass, freed.runs, freed_ms,
	       during.pass, during.runs, after.pass, after.runs);

	/* Inflated to the target, and QEMU gave that memory back. */
	EXPECT_LE(0, inflate_ms);
	EXPECT_LE(0, rss0);
	EXPECT_LE(target / 1024 * 3 / 4, rss0 - rss1);
	EXPECT_LE((unsigned long long)target / 4096, disc1 - disc0);
	/* Nothing the guest maps for DMA was in the balloon (above). */
	EXPECT_EQ(kept0, kept1);
	/* The DMA landed before, during and after the inflation. */
	EXPECT_LE(1, before.pass);
	EXPECT_LE(1, freed.pass);
	EXPECT_LE(1, during.pass + after.pass);
	EXPECT_LE(1, after.pass);
	EXPECT_EQ(before.runs, before.pass);
	EXPECT_EQ(during.runs, during.pass);
	EXPECT_EQ(after.runs, after.pass);
	EXPECT_NE(NULL, strstr(q->out, "e2e: dma loop: "));
}

TEST_HARNESS_MAIN
