// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_free_page_reporting: a passthrough VM's host memory follows what
 * its guest uses (issue 20). QEMU 10 (make qemu) in the test VM boots the
 * nested guest with edu passed through and virtio-balloon-pci with
 * free-page-reporting=on; the guest (tools/vmm/guest-e2e e2e.touch=avail)
 * runs edu_dmatest again and again, every transfer verified, while
 * memtouch writes all of its available memory but 32 MiB, holds it 3 s
 * and frees it. The guest's kernel then reports the freed 2 MiB blocks
 * to QEMU, which discards them (MADV_DONTNEED).
 *
 * With -device coiommu (vfio-pci,coiommu=co0) VFIO leaves discards on,
 * and the coiommu device releases the module's pins of every range
 * before QEMU discards it: within 10 s of the free, the resident part of
 * QEMU's guest RAM is within 15 % of the guest's live memory (RAM less
 * MemFree, ct_qemu_reclaim.h), and the DMA goes on landing. At +10 s the
 * live memory compared with is the largest the guest printed over the
 * last REPORT_DELAY_MS: a page it freed since may still wait for the
 * guest's page reporting, which reports 2 s after a free
 * (PAGE_REPORTING_DELAY).
 *
 * With static pinning (plain vfio-pci, no coIOMMU driver in the guest)
 * VFIO pins all guest RAM at realize and disables discards: the same run
 * keeps all of guest RAM resident. Both are printed side by side.
 *
 * "QEMU's RSS" here is the resident part of its guest RAM mapping
 * (ct_qemu_ram_rss_kb(): smaps), the memory the guest's use decides;
 * QEMU's whole VmRSS, its own code, libraries and heap included, is
 * printed beside it.
 */
#include "ct_qemu_reclaim.h"

#define RECLAIM_MS	10000
/* "Within 15 %" of the guest's live memory. */
#define WITHIN_PCT	115

/* Free blocks of 2^7 pages (512 KiB) and up are reported (see above). */
#define REPORT_ORDER	7
/* The guest's page reporting delay (mm/page_reporting.h). */
#define REPORT_DELAY_MS	2000
/* DMA runs that end after the free (guest-e2e e2e.afterruns). */
#define AFTER_RUNS	2
/* The last samples of the 10 s after the free, one every 200 ms or more. */
#define NSAMPLES	64

enum { OURS, STATIC, NVAR };

struct fpr_run {
	bool ok;		/* the run got as far as the 10 s after the free */
	int guest_status;
	long touched_mib;	/* what memtouch wrote */
	long rss_touched_kb;	/* guest RAM resident while held (max) */
	long rss_free_kb;	/* at the free */
	long rss_end_kb;	/* 10 s after the free */
	long live_end_kb;	/* the guest's live memory then */
	long live_max_kb;	/* its largest over REPORT_DELAY_MS before */
	long vmrss_end_kb;	/* QEMU's VmRSS then */
	long reclaim_ms;	/* first within 15 % of live, -1: never */
	unsigned long long discarded, kept;
	struct ct_dma_tally before, after;
	bool loop_all_passed, reporting, memtouch_ok;
};

static void fpr_run(struct __test_metadata *_metadata, struct ct_qemu *q,
		    const char *bdf, int var, struct fpr_run *r)
{
	char dev[512], append[256], mem[16], want[64];
	long t_free, off, now, rss, live, n, i, ns = 0;
	struct { long t, live; } smp[NSAMPLES];
	char *con;

	memset(r, 0, sizeof(*r));
	r->reclaim_ms = -1;
	ct_qemu_edu_devices(dev, sizeof(dev), bdf, var == OURS ? "" : NULL,
			    "-device virtio-balloon-pci,id=balloon0,free-page-reporting=on");
	snprintf(append, sizeof(append),
		 "vmm.run=/bin/guest-e2e e2e.pages=16 e2e.balloon e2e.touch=avail e2e.touchhold=3 e2e.after=20 e2e.afterruns=%d e2e.reportorder=%d%s",
		 AFTER_RUNS, REPORT_ORDER,
		 var == STATIC ? " e2e.nocoiommu" : "");
	snprintf(mem, sizeof(mem), "%d", CT_RECLAIM_RAM_MB);
	ct_qemu_free(q);
	ASSERT_EQ(0, ct_qemu_start_guest(q, mem, append, dev));

	/* Touched: the guest holds its memory for 3 s. */
	if (ct_console_offset_wait(q, "memtouch: touched", CT_RECLAIM_GUEST_MS) < 0)
		goto out;
	for (;;) {
		rss = ct_qemu_ram_rss_kb(q->pid, CT_RECLAIM_RAM_KB);
		if (rss > r->rss_touched_kb)
			r->rss_touched_kb = rss;
		con = ct_qemu_console(q);
		off = con && strstr(con, "memtouch: freed") ?
		      strstr(con, "memtouch: freed") - con : -1;
		free(con);
		if (off >= 0 || !ct_qemu_sleep(q, 100))
			break;
	}
	if (off < 0)
		goto out;
	t_free = ct_now_ms();
	r->rss_free_kb = ct_qemu_ram_rss_kb(q->pid, CT_RECLAIM_RAM_KB);
	/* Sample the 10 s after the free. */
	for (;;) {
		now = ct_now_ms();
		rss = ct_qemu_ram_rss_kb(q->pid, CT_RECLAIM_RAM_KB);
		con = ct_qemu_console(q);
		live = con ? ct_guest_live_kb(con + off, CT_RECLAIM_RAM_KB) : -1;
		free(con);
		if (r->reclaim_ms < 0 && rss >= 0 && live > 0 &&
		    rss * 100 <= live * WITHIN_PCT)
			r->reclaim_ms = now - t_free;
		smp[ns % NSAMPLES].t = now;
		smp[ns++ % NSAMPLES].live = live;
		if (now - t_free >= RECLAIM_MS) {
			r->rss_end_kb = rss;
			r->live_end_kb = live;
			r->live_max_kb = live;
			for (i = 0; i < ns && i < NSAMPLES; i++)
				if (now - smp[i].t <= REPORT_DELAY_MS &&
				    smp[i].live > r->live_max_kb)
					r->live_max_kb = smp[i].live;
			ct_qemu_sample(q);
			r->vmrss_end_kb = q->last.vmrss_kb;
			r->ok = true;
			break;
		}
		if (!ct_qemu_sleep(q, 200))
			break;
	}
	if (var == OURS)
		EXPECT_EQ(0, ct_qemu_discards(q, &r->discarded, &r->kept));
out:
	ct_qemu_wait(q, CT_RECLAIM_GUEST_MS);
	ct_qemu_print(q);
	r->guest_status = ct_qemu_guest_status(q);
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	r->reporting = strstr(q->out, "free page reporting 1") != NULL;
	r->memtouch_ok = strstr(q->out, "MiB, 0 bad pages") != NULL;
	if (strstr(q->out, "memtouch: touched"))
		sscanf(strstr(q->out, "memtouch: touched"),
		       "memtouch: touched %ld", &r->touched_mib);
	off = strstr(q->out, "memtouch: freed") ?
	      strstr(q->out, "memtouch: freed") - q->out : (long)strlen(q->out);
	ct_dma_tally(q->out, q->out + off, &r->before);
	ct_dma_tally(q->out + off, NULL, &r->after);
	n = -1;
	if (strstr(q->out, "e2e: dma loop: ")) {
		int runs, passed;

		if (sscanf(strstr(q->out, "e2e: dma loop: "),
			   "e2e: dma loop: %d runs, %d passed", &runs,
			   &passed) == 2)
			n = runs == passed ? runs : -1;
	}
	r->loop_all_passed = n > 0;
}

TEST_F_TIMEOUT(qemu, qemu_free_page_reporting, CT_VMM_TEST_TIMEOUT)
{
	static const char *const name[NVAR] = { "coiommu", "static" };
	struct fpr_run r[NVAR];
	int v;

	CT_QEMU_NEED_COIOMMU();
	for (v = 0; v < NVAR; v++) {
		fpr_run(_metadata, &self->q, self->bdf, v, &r[v]);
		TH_LOG("%s: touched %ld MiB; guest RAM resident %ld kB held, %ld kB at the free, %ld kB 10 s later (live %ld kB, %ld kB at most over the last %d ms; first within 15%% after %ld ms); VmRSS %ld kB; DMA runs %d/%d passed before the free, %d/%d after; discarded %llu kept %llu",
		       name[v], r[v].touched_mib, r[v].rss_touched_kb,
		       r[v].rss_free_kb, r[v].rss_end_kb, r[v].live_end_kb,
		       r[v].live_max_kb, REPORT_DELAY_MS, r[v].reclaim_ms,
		       r[v].vmrss_end_kb, r[v].before.pass, r[v].before.runs,
		       r[v].after.pass, r[v].after.runs, r[v].discarded,
		       r[v].kept);
	}
	TH_LOG("guest RAM %ld kB; 10 s after the guest freed %ld MiB:",
	       CT_RECLAIM_RAM_KB, r[OURS].touched_mib);
	TH_LOG("%-34s %12s %12s", "", name[OURS], name[STATIC]);
	TH_LOG("%-34s %12ld %12ld", "guest RAM resident, held (kB)",
	       r[OURS].rss_touched_kb, r[STATIC].rss_touched_kb);
	TH_LOG("%-34s %12ld %12ld", "guest RAM resident, +10 s (kB)",
	       r[OURS].rss_end_kb, r[STATIC].rss_end_kb);
	TH_LOG("%-34s %12ld %12ld", "guest live memory, +10 s (kB)",
	       r[OURS].live_end_kb, r[STATIC].live_end_kb);
	TH_LOG("%-34s %12ld %12ld", "its largest over 2 s before (kB)",
	       r[OURS].live_max_kb, r[STATIC].live_max_kb);
	TH_LOG("%-34s %11ld%% %11ld%%", "resident / largest live",
	       r[OURS].live_max_kb > 0 ? r[OURS].rss_end_kb * 100 / r[OURS].live_max_kb : -1,
	       r[STATIC].live_max_kb > 0 ? r[STATIC].rss_end_kb * 100 / r[STATIC].live_max_kb : -1);
	TH_LOG("%-34s %12ld %12ld", "QEMU VmRSS, +10 s (kB)",
	       r[OURS].vmrss_end_kb, r[STATIC].vmrss_end_kb);
	TH_LOG("%-34s %12ld %12ld", "within 15% after (ms, -1 never)",
	       r[OURS].reclaim_ms, r[STATIC].reclaim_ms);

	for (v = 0; v < NVAR; v++) {
		ASSERT_TRUE(r[v].ok);
		EXPECT_EQ(0, r[v].guest_status);
		EXPECT_TRUE(r[v].reporting);
		EXPECT_TRUE(r[v].memtouch_ok);
		/* Most of the guest's RAM was written, and was resident. */
		EXPECT_LE(CT_RECLAIM_RAM_MB / 2, r[v].touched_mib);
		EXPECT_LE(r[v].touched_mib * 1024, r[v].rss_touched_kb);
		/* The DMA landed before and after the free, every run. */
		EXPECT_LE(AFTER_RUNS, r[v].after.pass);
		EXPECT_EQ(r[v].before.runs, r[v].before.pass);
		EXPECT_EQ(r[v].after.runs, r[v].after.pass);
		EXPECT_TRUE(r[v].loop_all_passed);
	}
	/* coiommu: back to the guest's live memory within 10 s. */
	EXPECT_LE(0, r[OURS].reclaim_ms);
	EXPECT_GE(RECLAIM_MS, r[OURS].reclaim_ms);
	EXPECT_LT(0, r[OURS].live_end_kb);
	EXPECT_GE(r[OURS].live_max_kb * WITHIN_PCT, r[OURS].rss_end_kb * 100);
	EXPECT_LE(r[OURS].touched_mib * 256, r[OURS].discarded);
	/* The guest freed those pages: none was mapped for DMA. */
	EXPECT_EQ(0, r[OURS].kept);
	/* Static pinning: all of guest RAM stays. */
	EXPECT_EQ(-1, r[STATIC].reclaim_ms);
	EXPECT_LE(CT_RECLAIM_RAM_KB * 95 / 100, r[STATIC].rss_end_kb);
}

TEST_HARNESS_MAIN
