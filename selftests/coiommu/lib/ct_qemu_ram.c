// SPDX-License-Identifier: GPL-2.0
/*
 * Guest RAM reclaim with QEMU (issue 20): the resident part of the guest
 * RAM mapping, query-coiommu's discard counters, query-balloon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct.h"
#include "ct_qemu.h"

long ct_qemu_ram_rss_kb(pid_t pid, long ram_kb)
{
	char path[64], line[256];
	long size = 0, rss, total = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Size: %ld kB", &size) == 1)
			continue;
		/* Rss follows Size in each mapping's block. */
		if (sscanf(line, "Rss: %ld kB", &rss) == 1 &&
		    size >= ram_kb / 4 * 3)
			total = (total < 0 ? 0 : total) + rss;
	}
	fclose(f);
	return total;
}

int ct_qemu_discards(struct ct_qemu *q, unsigned long long *discarded,
		     unsigned long long *kept)
{
	char reply[4096] = "";

	if (ct_qemu_qmp(q, "{\"execute\": \"query-coiommu\"}", reply,
			sizeof(reply)) ||
	    ct_json_u64(reply, "discarded-pages", discarded) ||
	    ct_json_u64(reply, "discard-kept-pages", kept)) {
		fprintf(stderr, "# query-coiommu: %s\n", reply);
		return -1;
	}
	return 0;
}

long long ct_qemu_balloon_actual(struct ct_qemu *q)
{
	unsigned long long v;
	char reply[1024] = "";

	if (ct_qemu_qmp(q, "{\"execute\": \"query-balloon\"}", reply,
			sizeof(reply)) || ct_json_u64(reply, "actual", &v)) {
		fprintf(stderr, "# query-balloon: %s\n", reply);
		return -1;
	}
	return (long long)v;
}

long ct_guest_memfree_kb(const char *from)
{
	const char *s = from, *p;
	long v = -1, x;

	while (s && (s = strstr(s, "e2e: mem: "))) {
		p = strstr(s, "MemFree ");
		if (p && sscanf(p, "MemFree %ld", &x) == 1)
			v = x;
		s += 10;
	}
	return v;
}
