// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel log (ct.h, "kernel log"): waiting for a record, DMAR faults
 * of an address or a device, and the pacing that keeps the Intel IOMMU
 * driver's rate limit from swallowing the faults a test must see.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ct.h"

int ct_kmsg_open(struct ct_kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	lseek(k->fd, 0, SEEK_END);
	return 0;
}

void ct_kmsg_close(struct ct_kmsg *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

static bool record_matches(const char *rec, va_list ap)
{
	const char *needle;

	while ((needle = va_arg(ap, const char *)))
		if (!strstr(rec, needle))
			return false;
	return true;
}

bool ct_kmsg_wait(struct ct_kmsg *k, int timeout_ms, ...)
{
	long deadline = ct_now_ms() + timeout_ms;
	char rec[2048];
	va_list ap;
	ssize_t n;
	bool hit;

	for (;;) {
		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: skip ahead */
			continue;
		if (n < 0) {
			if (errno != EAGAIN || ct_now_ms() > deadline)
				return false;
			usleep(10000);
			continue;
		}
		rec[n] = 0;
		va_start(ap, timeout_ms);
		hit = record_matches(rec, ap);
		va_end(ap);
		if (hit)
			return true;
	}
}

bool ct_kmsg_dmar_fault(struct ct_kmsg *k, uint64_t iova, bool write,
			int timeout_ms)
{
	char addr[64];

	/* The fault register records the page, not the byte. */
	snprintf(addr, sizeof(addr), "fault addr 0x%llx ",
		 (unsigned long long)(iova & ~(CT_PAGE - 1)));
	return ct_kmsg_wait(k, timeout_ms, "DMAR: ",
			    write ? "[DMA Write" : "[DMA Read", addr, NULL);
}

bool ct_kmsg_dmar_fault_dev(struct ct_kmsg *k, const char *bdf, uint64_t iova,
			    bool write, int timeout_ms)
{
	char addr[64], dev[64];
	int b = ct_bdf_parse(bdf);

	snprintf(addr, sizeof(addr), "fault addr 0x%llx ",
		 (unsigned long long)(iova & ~(CT_PAGE - 1)));
	snprintf(dev, sizeof(dev), "Request device [%02x:%02x.%d]",
		 (b >> 8) & 0xff, (b >> 3) & 0x1f, b & 7);
	return ct_kmsg_wait(k, timeout_ms, "DMAR: ",
			    write ? "[DMA Write" : "[DMA Read", dev, addr,
			    NULL);
}

#define DMAR_STATE	"/tmp/.ct-dmar-ratelimit"
#define DMAR_WINDOW_MS	5000	/* DEFAULT_RATELIMIT_INTERVAL */
#define DMAR_BURST	10	/* DEFAULT_RATELIMIT_BURST */
#define DMAR_COST	3	/* __ratelimit() calls per fault */
#define DMAR_MARGIN_MS	600	/* IRQ latency, jiffies rounding */

struct dmar_window {
	long begin;		/* ms; 0: none open */
	int used;
};

static void dmar_load(struct dmar_window *w)
{
	char buf[64];

	w->begin = 0;
	w->used = 0;
	if (!ct_read_file(DMAR_STATE, buf, sizeof(buf)))
		sscanf(buf, "%ld %d", &w->begin, &w->used);
}

static void dmar_store(const struct dmar_window *w)
{
	char buf[64];
	int fd;

	snprintf(buf, sizeof(buf), "%ld %d\n", w->begin, w->used);
	fd = open(DMAR_STATE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, strlen(buf)) < 0) {
		/* pacing is best effort */
	}
	close(fd);
}

void ct_dmar_pace(void)
{
	struct dmar_window w;
	long end;

	dmar_load(&w);
	if (!w.begin)
		return;
	end = w.begin + DMAR_WINDOW_MS + DMAR_MARGIN_MS;
	if (ct_now_ms() > end) {
		w.begin = 0;
		w.used = 0;
	} else if (w.used + DMAR_COST > DMAR_BURST) {
		while (ct_now_ms() <= end)
			usleep(50000);
		w.begin = 0;
		w.used = 0;
	}
	dmar_store(&w);
}

void ct_dmar_account(void)
{
	struct dmar_window w;

	dmar_load(&w);
	if (!w.begin)
		w.begin = ct_now_ms();
	w.used += DMAR_COST;
	dmar_store(&w);
}

void ct_dmar_exhaust(void)
{
	struct dmar_window w = { .begin = ct_now_ms(), .used = DMAR_BURST };

	dmar_store(&w);
}
