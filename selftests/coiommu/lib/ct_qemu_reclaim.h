/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the reclaim tests of issue 20 (qemu_free_page_reporting,
 * qemu_balloon_inflate, qemu_two_vms_overcommit) read from the nested
 * guest's console: tools/vmm/guest-e2e's e2e.touch= phase runs
 * edu_dmatest again and again ("e2e: dma N: pass 19 (up T s)"), while
 * memtouch writes and frees most of the guest's memory ("memtouch:
 * touched", "memtouch: freed") and the guest prints its /proc/meminfo
 * every 2 s ("e2e: mem: up T s MemTotal A MemFree B MemAvailable C").
 *
 * The guest's live memory is the part of its RAM its page allocator does
 * not have free: RAM (QEMU's -m) less MemFree. It counts what the kernel
 * keeps out of MemTotal (its image, the memory map) as live: the host
 * cannot take that back either.
 */
#ifndef CT_QEMU_RECLAIM_H
#define CT_QEMU_RECLAIM_H

#include <stdio.h>
#include <string.h>

#include "ct_qemu_fixture.h"

/*
 * The nested guest's RAM: edu_dmatest sets edu's 28-bit DMA mask, so
 * every buffer it maps must lie below 256 MiB (see bench_p7.c).
 */
#define CT_RECLAIM_RAM_MB	256
#define CT_RECLAIM_RAM_KB	(CT_RECLAIM_RAM_MB * 1024L)
#define CT_RECLAIM_GUEST_MS	300000

struct ct_dma_tally {
	int runs, pass;
};

/* The "e2e: dma N: RESULT" lines of @s (up to @end, NULL: all). */
static inline void ct_dma_tally(const char *s, const char *end,
				struct ct_dma_tally *t)
{
	memset(t, 0, sizeof(*t));
	while (s && (s = strstr(s, "e2e: dma ")) && (!end || s < end)) {
		const char *c = strchr(s, ':');

		c = c ? strchr(c + 1, ':') : NULL;
		if (c && !strncmp(s + 9, "loop", 4))
			c = NULL;
		if (c) {
			t->runs++;
			t->pass += !strncmp(c, ": pass ", 7);
		}
		s += 9;
	}
}

/* The guest's live memory (RAM less MemFree) from @from on, or -1. */
static inline long ct_guest_live_kb(const char *from, long ram_kb)
{
	long f = ct_guest_memfree_kb(from);

	return f < 0 ? -1 : ram_kb - f;
}

/* Wait up to @ms for @text on @q's console; its offset there, or -1. */
static inline long ct_console_offset_wait(struct ct_qemu *q, const char *text,
					  long ms)
{
	char *s, *p;
	long off = -1;

	if (!ct_qemu_console_wait(q, text, ms))
		return -1;
	s = ct_qemu_console(q);
	p = s ? strstr(s, text) : NULL;
	if (p)
		off = p - s;
	free(s);
	return off;
}

#endif /* CT_QEMU_RECLAIM_H */
