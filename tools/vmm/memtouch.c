// SPDX-License-Identifier: GPL-2.0
/*
 * memtouch: a user program of the nested guest (tools/vmm/guest-e2e,
 * e2e.touch=) that allocates memory, writes every page of it, holds it,
 * checks it and frees it, as an application whose working set grows and
 * shrinks would. Usage: memtouch MIB HOLD_SECONDS
 *
 * Prints "memtouch: touched MIB MiB in MS ms" once every page is written
 * (an anonymous mapping: the guest kernel backs it, THP or not, and its
 * host faults it in), then after the hold "memtouch: freed MIB MiB, N bad
 * pages" when the mapping is gone (munmap: the pages are back in the
 * guest's page allocator, where free page reporting or the balloon can
 * find them). Exits 0 when every page read back what was written.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE	4096UL

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv)
{
	unsigned long mib, len, i, bad = 0;
	uint64_t *p;
	int hold;
	long t0;

	if (argc != 3) {
		fprintf(stderr, "usage: memtouch MIB HOLD_SECONDS\n");
		return 2;
	}
	mib = strtoul(argv[1], NULL, 0);
	hold = atoi(argv[2]);
	len = mib << 20;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p == MAP_FAILED) {
		perror("memtouch: mmap");
		return 1;
	}
	t0 = now_ms();
	/* One word of every page, different in each: all of it faulted in. */
	for (i = 0; i < len / PAGE; i++)
		p[i * (PAGE / 8)] = 0x6d656d0000000000ULL | i;
	printf("memtouch: touched %lu MiB in %ld ms\n", mib, now_ms() - t0);
	fflush(stdout);
	sleep(hold);
	for (i = 0; i < len / PAGE; i++)
		bad += p[i * (PAGE / 8)] != (0x6d656d0000000000ULL | i);
	if (munmap(p, len)) {
		perror("memtouch: munmap");
		return 1;
	}
	printf("memtouch: freed %lu MiB, %lu bad pages\n", mib, bad);
	return bad ? 1 : 0;
}
