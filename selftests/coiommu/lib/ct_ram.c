// SPDX-License-Identifier: GPL-2.0
/*
 * Guest RAM of a test VMM (ct.h, struct ct_ram): a guarded anonymous
 * arena carved into regions, a shadow of what it must hold, and the walk
 * from guest physical addresses to the arena.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ct.h"

void *ct_gpa_to_hva(const struct coiommu_region *r, unsigned int nr,
		    uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (gpa >= r[i].gpa && gpa - r[i].gpa < r[i].size)
			return (void *)(uintptr_t)(r[i].vaddr + gpa - r[i].gpa);
	return NULL;
}

void *ct_map_guarded(size_t size)
{
	uint8_t *p;

	p = mmap(NULL, size + 2 * CT_PAGE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + CT_PAGE, size, PROT_READ | PROT_WRITE)) {
		munmap(p, size + 2 * CT_PAGE);
		return NULL;
	}
	return p + CT_PAGE;
}

void ct_unmap_guarded(void *p, size_t size)
{
	if (p)
		munmap((uint8_t *)p - CT_PAGE, size + 2 * CT_PAGE);
}

int ct_ram_init(struct ct_ram *g, size_t arena_size)
{
	memset(g, 0, sizeof(*g));
	g->size = arena_size;
	g->arena = ct_map_guarded(arena_size);
	g->shadow = malloc(arena_size);
	if (!g->arena || !g->shadow) {
		ct_ram_free(g);
		return -ENOMEM;
	}
	return 0;
}

void ct_ram_free(struct ct_ram *g)
{
	ct_unmap_guarded(g->arena, g->size);
	free(g->shadow);
	g->arena = g->shadow = NULL;
	g->nr = 0;
}

int ct_ram_add(struct ct_ram *g, uint64_t gpa, size_t arena_off,
	       size_t size)
{
	if (g->nr >= CT_RAM_MAX_REGIONS || arena_off + size > g->size)
		return -EINVAL;
	g->r[g->nr++] = (struct coiommu_region) {
		.gpa = gpa,
		.size = size,
		.vaddr = (uintptr_t)(g->arena + arena_off),
	};
	return 0;
}

void ct_ram_fill(struct ct_ram *g, uint32_t seed)
{
	ct_fill(g->arena, g->size, seed);
	memcpy(g->shadow, g->arena, g->size);
}

uint8_t *ct_ram_hva(struct ct_ram *g, uint64_t gpa)
{
	return ct_gpa_to_hva(g->r, g->nr, gpa);
}

uint8_t *ct_ram_shadow(struct ct_ram *g, uint64_t gpa)
{
	uint8_t *p = ct_ram_hva(g, gpa);

	return p ? g->shadow + (p - g->arena) : NULL;
}

/* Walk [gpa, gpa + len) page by page: arena offsets of each piece. */
static int guest_walk(struct ct_ram *g, uint64_t gpa, size_t len,
		      uint8_t *buf, int op)
{
	while (len) {
		size_t n = CT_PAGE - (gpa & (CT_PAGE - 1));
		uint8_t *p = ct_ram_hva(g, gpa);
		size_t off;

		if (!p)
			return -ERANGE;
		if (n > len)
			n = len;
		off = p - g->arena;
		switch (op) {
		case 0:		/* read */
			memcpy(buf, g->arena + off, n);
			break;
		case 1:		/* write: arena and shadow */
			memcpy(g->arena + off, buf, n);
			memcpy(g->shadow + off, buf, n);
			break;
		case 2:		/* expect: shadow */
			memcpy(g->shadow + off, buf, n);
			break;
		}
		gpa += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int ct_ram_read(struct ct_ram *g, uint64_t gpa, void *dst, size_t len)
{
	return guest_walk(g, gpa, len, dst, 0);
}

int ct_ram_write(struct ct_ram *g, uint64_t gpa, const void *src,
		 size_t len)
{
	return guest_walk(g, gpa, len, (uint8_t *)src, 1);
}

int ct_ram_expect(struct ct_ram *g, uint64_t gpa, const void *src,
		  size_t len)
{
	return guest_walk(g, gpa, len, (uint8_t *)src, 2);
}

long ct_ram_diff(const struct ct_ram *g)
{
	size_t i;

	if (!memcmp(g->arena, g->shadow, g->size))
		return -1;
	for (i = 0; i < g->size; i++)
		if (g->arena[i] != g->shadow[i])
			return i;
	return -1;
}

int ct_ram_set_map(struct ct_ram *g, int fd)
{
	return coiommu_set_memory(fd, g->r, g->nr);
}
