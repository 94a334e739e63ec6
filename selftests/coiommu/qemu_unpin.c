// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_unpin: QEMU's -device coiommu,unpin-interval=200,unpin-gen-threshold=1
 * sets the host's background unpinner: a pass every 200 ms, each looking
 * at every pinned page (with a larger threshold, pages the guest kept
 * mapped for that many passes move to the old generation, looked at only
 * every threshold-th sweep). The nested guest of qemu_e2e_dma moves data through
 * edu, unmaps everything and stays idle (guest-e2e e2e.idle): polled over
 * the instance's debugfs file, the pinned pages fall to nothing within
 * two unpinner passes of the idle start (the first clears ACCESSED, the
 * second releases), as unpins. The guest then maps again: its DMA pins
 * again and every byte comes back right.
 *
 * The idle start is the end of the guest's first run: edu_dmatest has
 * unmapped everything when guest-e2e prints "e2e: run 1:" (its "idle
 * from" comes later, after the guest's dmesg: the pages are often gone
 * by then).
 */
#include <dirent.h>

#include "ct_qemu_fixture.h"

#define PERIOD_MS	200
#define IDLE_S		6
#define HOLD_S		3
#define POLL_MS		20
#define PASSES		2
#define GUEST_MS	300000
#define DEBUGFS		"/sys/kernel/debug/coiommu"

/* Figures of one read of an instance's debugfs file. */
struct co_dbg {
	long long pinned, scans;
};

static long long dbg_value(const char *s, const char *key)
{
	char k[32];
	long long v;

	snprintf(k, sizeof(k), "\n%s ", key);
	s = strstr(s, k);
	return s && sscanf(s + strlen(k), "%lld", &v) == 1 ? v : -1;
}

/*
 * One read of the file: the module shows it under the instance's lock, so
 * pinned_pages and scans are of the same moment. 0, or -1.
 */
static int co_read(const char *path, struct co_dbg *d)
{
	char buf[4096] = "\n";

	if (ct_read_file(path, buf + 1, sizeof(buf) - 1))
		return -1;
	d->pinned = dbg_value(buf, "pinned_pages");
	d->scans = dbg_value(buf, "scans");
	return d->pinned < 0 || d->scans < 0 ? -1 : 0;
}

/* The debugfs file of the instance that process @pid opened; 0, or -1. */
static int co_instance(pid_t pid, char *path, size_t size)
{
	DIR *dir = opendir(DEBUGFS);
	struct dirent *e;
	int ret = -1;

	while (dir && ret && (e = readdir(dir))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    strchr(e->d_name, '.'))
			continue;
		snprintf(path, size, DEBUGFS "/%s", e->d_name);
		if (ct_file_value(path, "owner_tgid", ' ') == pid)
			ret = 0;
	}
	if (dir)
		closedir(dir);
	return ret;
}

TEST_F_TIMEOUT(qemu, qemu_unpin, CT_VMM_TEST_TIMEOUT)
{
	struct co_dbg idle = { .scans = -1 }, low = { .scans = -1 }, d;
	struct ct_qemu_coiommu c = { .pins = 0 }, after;
	struct ct_qemu *q = &self->q;
	char dev[256], props[64], append[128], want[64];
	char path[sizeof(DEBUGFS) + 256];
	long t_idle = -1, t_low = -1;
	bool found = false, seen_idle = false;

	CT_QEMU_NEED_COIOMMU();
	snprintf(props, sizeof(props),
		 ",unpin-interval=%d,unpin-gen-threshold=1", PERIOD_MS);
	ct_qemu_edu_devices(dev, sizeof(dev), self->bdf, props, "");
	snprintf(append, sizeof(append),
		 "vmm.run=/bin/guest-e2e e2e.pages=%d e2e.idle=%d e2e.hold=%d",
		 CT_E2E_PAGES, IDLE_S, HOLD_S);
	ASSERT_EQ(0, ct_qemu_start_guest(q, "256", append, dev));

	/* QEMU's instance: /dev/coiommu is opened as the device realizes. */
	while (co_instance(q->pid, path, sizeof(path)) &&
	       ct_now_ms() - q->t0 < GUEST_MS && ct_qemu_sleep(q, POLL_MS))
		;
	/*
	 * The passes so far, as soon as the console shows the idle start:
	 * the guest unmapped everything before it printed that. Read late,
	 * this can only count fewer passes after the idle start.
	 */
	if (ct_qemu_console_wait(q, "e2e: run 1:", GUEST_MS) &&
	    !co_read(path, &idle)) {
		seen_idle = true;
		t_idle = ct_now_ms();
	}
	/*
	 * Until nothing is pinned. The unpinner does not count passes from
	 * then on (nothing to look at): the scans read with pinned 0 are
	 * those up to the last release, however late the read. The guest's
	 * idle end is the deadline: its run 2 pins again.
	 */
	while (seen_idle) {
		if (co_read(path, &d))
			break;
		if (!d.pinned) {
			low = d;
			t_low = ct_now_ms();
			found = true;
			break;
		}
		if (ct_qemu_console_wait(q, "e2e: idle end", 0) ||
		    !ct_qemu_sleep(q, POLL_MS))
			break;
	}
	if (found)
		EXPECT_EQ(0, ct_qemu_query_coiommu(q, &c));
	/* Run 2 done: pinned again. */
	EXPECT_TRUE(ct_qemu_console_wait(q, "e2e: holding", GUEST_MS));
	EXPECT_EQ(0, ct_qemu_query_coiommu(q, &after));
	ct_qemu_wait(q, GUEST_MS);
	ct_qemu_print(q);
	EXPECT_EQ(0, ct_qemu_guest_status(q));

	ASSERT_TRUE(seen_idle) {
		TH_LOG("no end of run 1 seen, or no debugfs file of QEMU's instance");
	}
	TH_LOG("run 1 ended (seen): %lld pages pinned, %lld passes so far",
	       idle.pinned, idle.scans);
	ASSERT_TRUE(found) {
		TH_LOG("pinned pages never fell to 0 in %d s of idle guest",
		       IDLE_S);
	}
	TH_LOG("idle guest: 0 pages pinned after %lld passes, %ld ms after run 1 ended (seen; unpin period %d ms); query-coiommu: pinned %llu peak %llu pins %llu unpins %llu",
	       low.scans - idle.scans, t_low - t_idle, PERIOD_MS, c.pinned,
	       c.peak, c.pins, c.unpins);
	EXPECT_GE(PASSES, low.scans - idle.scans);
	/* The working set was pinned, and went as unpins. */
	EXPECT_EQ(0, c.pinned);
	EXPECT_LE(CT_E2E_PAGES, c.peak);
	EXPECT_EQ(c.pins - c.unpins, c.pinned);
	EXPECT_LE(CT_E2E_PAGES, c.unpins);
	EXPECT_EQ(0, c.refused);

	/* Mapping again pins again, and DMA works. */
	snprintf(want, sizeof(want), "e2e: run 1: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	snprintf(want, sizeof(want), "e2e: run 2: pass %d ", CT_E2E_TRANSFERS);
	EXPECT_NE(NULL, strstr(q->out, want));
	TH_LOG("after run 2: pinned %llu pins %llu unpins %llu requests %llu served-in-vcpu %llu refused %llu",
	       after.pinned, after.pins, after.unpins, after.requests,
	       after.served_in_vcpu, after.refused);
	EXPECT_LE(c.pins + CT_E2E_PAGES, after.pins);
	EXPECT_LT(c.requests, after.requests);
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
	char dev[256], props[64], append[128], want[64];

	CT_QEMU_NEED_COIOMMU();
	snprintf(props, sizeof(props), ",unpin-policy=off,unpin-interval=%d",
		 PERIOD_MS);
	ct_qemu_edu_devices(dev, sizeof(dev), self->bdf, props, "");
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
