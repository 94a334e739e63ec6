// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: the guest memory map and the index of pinned pages.
 *
 * The memory map is a short sorted array of regions (COIOMMU_MAX_REGIONS
 * at most), looked up by binary search. The index is an xarray of chunks
 * (coiommu.h): a chunk exists while one of its pages is pinned, so the
 * index costs memory and walking time in proportion to what is pinned,
 * whatever the size of the guest RAM declared.
 */
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include <linux/coiommu.h>

#include "coiommu.h"

static int ram_cmp(const void *a, const void *b)
{
	const struct coiommu_ram *ra = a, *rb = b;

	if (ra->gfn != rb->gfn)
		return ra->gfn < rb->gfn ? -1 : 1;
	return 0;
}

/* Every byte of [start, start + len) lies in a VMA of @mm. */
static bool range_mapped(struct mm_struct *mm, unsigned long start,
			 unsigned long len)
{
	unsigned long addr = start, end = start + len;
	struct vm_area_struct *vma;
	bool ok = true;

	mmap_read_lock(mm);
	while (addr < end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr) {
			ok = false;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ok;
}

static int check_region(struct coiommu_instance *inst,
			const struct coiommu_region *r)
{
	if (r->flags)
		return -EINVAL;
	if (!r->size || !PAGE_ALIGNED(r->gpa) || !PAGE_ALIGNED(r->size) ||
	    !PAGE_ALIGNED(r->vaddr))
		return -EINVAL;
	if (r->gpa >= COIOMMU_MAX_GPA || r->size > COIOMMU_MAX_GPA - r->gpa)
		return -EINVAL;
	if (r->vaddr >= TASK_SIZE || r->size > TASK_SIZE - r->vaddr)
		return -EFAULT;
	if (!range_mapped(inst->mm, r->vaddr, r->size))
		return -EFAULT;
	return 0;
}

static struct kmem_cache *coiommu_chunk_cache;

/*
 * What metadata_bytes counts for the index: the chunks, and one xarray
 * node (64 slots) per group of 64 chunks that has any; the upper nodes
 * (one per 64 of those) are left out.
 */
#define XA_NODE_BYTES	sizeof(struct xa_node)

static bool group_empty(struct coiommu_instance *inst, unsigned long ci)
{
	unsigned long first = round_down(ci, XA_CHUNK_SIZE);

	return !xa_find(&inst->idx.xa, &first, first + XA_CHUNK_SIZE - 1,
			XA_PRESENT);
}

/*
 * -EINVAL if a region of @ram (guest physical, = IOVA) overlaps a range
 * @d's IOMMU reserves.
 */
int coiommu_check_resv(const struct coiommu_dev *d,
		       const struct coiommu_ram *ram, unsigned int nr)
{
	unsigned int i, j;

	for (i = 0; i < nr; i++) {
		u64 first = ram[i].gfn << PAGE_SHIFT;
		u64 last = first + (ram[i].npages << PAGE_SHIFT) - 1;

		for (j = 0; j < d->nr_resv; j++)
			if (first <= d->resv[j].last &&
			    d->resv[j].first <= last)
				return -EINVAL;
	}
	return 0;
}

long coiommu_set_memory_map(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_memory_map hdr;
	struct coiommu_region *regs;
	struct coiommu_ram *ram;
	struct coiommu_dev *d;
	u64 total = 0;
	size_t need;
	unsigned int i;
	int ret;

	if (copy_from_user(&hdr, arg, sizeof(hdr)))
		return -EFAULT;
	if (hdr.argsz < sizeof(hdr) || hdr.flags || hdr.pad)
		return -EINVAL;
	if (!hdr.nr_regions || hdr.nr_regions > COIOMMU_MAX_REGIONS)
		return -EINVAL;
	need = struct_size(&hdr, regions, hdr.nr_regions);
	if (hdr.argsz < need)
		return -EINVAL;
	if (hdr.argsz > need) {
		ret = check_zeroed_user(arg + need, hdr.argsz - need);
		if (ret <= 0)
			return ret ? ret : -E2BIG;
	}

	regs = memdup_user(arg + sizeof(hdr),
			   array_size(hdr.nr_regions, sizeof(*regs)));
	if (IS_ERR(regs))
		return PTR_ERR(regs);

	ram = kcalloc(hdr.nr_regions, sizeof(*ram), GFP_KERNEL_ACCOUNT);
	if (!ram) {
		kfree(regs);
		return -ENOMEM;
	}
	for (i = 0; i < hdr.nr_regions; i++) {
		ret = check_region(inst, &regs[i]);
		if (ret)
			goto err;
		ram[i].gfn = regs[i].gpa >> PAGE_SHIFT;
		ram[i].npages = regs[i].size >> PAGE_SHIFT;
		ram[i].vaddr = regs[i].vaddr;
		/* No overflow: each region is below COIOMMU_MAX_GPA. */
		total += ram[i].npages;
	}
	if (total > COIOMMU_MAX_RAM >> PAGE_SHIFT) {
		ret = -ENOSPC;
		goto err;
	}
	sort(ram, hdr.nr_regions, sizeof(*ram), ram_cmp, NULL);
	for (i = 1; i < hdr.nr_regions; i++) {
		if (ram[i - 1].gfn + ram[i - 1].npages > ram[i].gfn) {
			ret = -EINVAL;
			goto err;
		}
	}
	/* No guest RAM where a device's IOMMU reserves the IOVAs. */
	list_for_each_entry(d, &inst->devs.list, node) {
		ret = coiommu_check_resv(d, ram, hdr.nr_regions);
		if (ret)
			goto err;
	}

	/* The index belongs to the map: it can change only while empty. */
	if (inst->stats.pinned_pages) {
		ret = -EBUSY;
		goto err;
	}
	coiommu_free_memory_map(inst);
	inst->mem.ram = ram;
	inst->mem.nr = hdr.nr_regions;
	inst->stats.metadata_bytes += hdr.nr_regions * sizeof(*ram);
	kfree(regs);
	return 0;
err:
	kfree(ram);
	kfree(regs);
	return ret;
}

void coiommu_free_memory_map(struct coiommu_instance *inst)
{
	if (!inst->mem.ram)
		return;
	inst->stats.metadata_bytes -= inst->mem.nr * sizeof(*inst->mem.ram);
	kfree(inst->mem.ram);
	inst->mem.ram = NULL;
	inst->mem.nr = 0;
}

/* The region holding @gfn, or NULL. */
struct coiommu_ram *coiommu_find_ram(struct coiommu_instance *inst, u64 gfn)
{
	unsigned int lo = 0, hi = inst->mem.nr;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		struct coiommu_ram *r = &inst->mem.ram[mid];

		if (gfn < r->gfn)
			hi = mid;
		else if (gfn - r->gfn >= r->npages)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

/* The VMM address of [gpa, gpa + len), which must lie in one page of RAM. */
unsigned long coiommu_gpa_to_hva(struct coiommu_instance *inst, u64 gpa,
				 size_t len)
{
	struct coiommu_ram *ram;

	if (gpa >= COIOMMU_MAX_GPA ||
	    (gpa & ~PAGE_MASK) + len > PAGE_SIZE)
		return 0;
	ram = coiommu_find_ram(inst, gpa >> PAGE_SHIFT);
	if (!ram)
		return 0;
	return ram->vaddr + (gpa - (ram->gfn << PAGE_SHIFT));
}

/* 0 if every page of [gfn, gfn + npages) is guest RAM, else -ERANGE. */
int coiommu_check_ram(struct coiommu_instance *inst, u64 gfn, u64 npages)
{
	u64 end = gfn + npages;
	struct coiommu_ram *r;

	while (gfn < end) {
		r = coiommu_find_ram(inst, gfn);
		if (!r)
			return -ERANGE;
		gfn = r->gfn + r->npages;
	}
	return 0;
}

/**
 * coiommu_chunk_get - the index chunk of @gfn, created if there is none
 * @inst: the instance, locked
 * @gfn: a guest frame
 *
 * Return: the chunk, or NULL when out of memory.
 */
struct coiommu_chunk *coiommu_chunk_get(struct coiommu_instance *inst,
					u64 gfn)
{
	unsigned long ci = gfn / COIOMMU_CHUNK_PAGES;
	struct coiommu_chunk *c = xa_load(&inst->idx.xa, ci);
	bool new_group;
	void *old;

	lockdep_assert_held(&inst->lock);
	if (c)
		return c;
	/* The chunk freed last, kept zeroed and counted. */
	c = inst->idx.spare;
	inst->idx.spare = NULL;
	if (!c) {
		c = kmem_cache_zalloc(coiommu_chunk_cache, GFP_KERNEL_ACCOUNT);
		if (!c)
			return NULL;
		inst->stats.metadata_bytes += sizeof(*c);
	}
	new_group = group_empty(inst, ci);
	old = xa_store(&inst->idx.xa, ci, c, GFP_KERNEL_ACCOUNT);
	if (xa_is_err(old)) {
		inst->idx.spare = c;
		return NULL;
	}
	if (new_group)
		inst->stats.metadata_bytes += XA_NODE_BYTES;
	return c;
}

/* Free the chunk of @gfn if none of its pages has state left. */
void coiommu_chunk_put(struct coiommu_instance *inst, u64 gfn)
{
	unsigned long ci = gfn / COIOMMU_CHUNK_PAGES;
	struct coiommu_chunk *c = xa_load(&inst->idx.xa, ci);

	lockdep_assert_held(&inst->lock);
	if (!c || memchr_inv(c->state, 0, sizeof(c->state)))
		return;
	xa_erase(&inst->idx.xa, ci);
	if (group_empty(inst, ci))
		inst->stats.metadata_bytes -= XA_NODE_BYTES;
	/*
	 * Keep one for the next coiommu_chunk_get(): a page pinned and
	 * unpinned over and over alone in its chunk would otherwise cost an
	 * allocation and a free each time. pfn[] is meaningful only where
	 * state[] says PINNED, so only state[] needs to be zero.
	 */
	if (!inst->idx.spare) {
		inst->idx.spare = c;
	} else {
		kmem_cache_free(coiommu_chunk_cache, c);
		inst->stats.metadata_bytes -= sizeof(*c);
	}
}

/* The state byte of @gfn if it is pinned, else NULL. */
u8 *coiommu_page_state(struct coiommu_instance *inst, u64 gfn)
{
	struct coiommu_chunk *c = coiommu_chunk(inst, gfn);
	u8 *st;

	if (!c)
		return NULL;
	st = &c->state[gfn % COIOMMU_CHUNK_PAGES];
	return *st & COIOMMU_PS_PINNED ? st : NULL;
}

/**
 * coiommu_next_run - the next run of pinned pages
 * @inst: the instance, locked
 * @run: in: the last run (.gfn + .n is where to look from); out: the next
 * @end: the first GFN not to look at
 *
 * A run is as long as its pages are consecutive, pinned and in one chunk:
 * its state and host frames are run->chunk->state[run->k + i] and
 * ->pfn[run->k + i] for i < run->n. Walks the index, not the range: the
 * cost follows the pinned pages.
 *
 * Return: false when no page from there to @end is pinned.
 */
bool coiommu_next_run(struct coiommu_instance *inst, struct coiommu_run *run,
		      u64 end)
{
	u64 from = run->gfn + run->n;
	unsigned long ci, last;
	struct coiommu_chunk *c;

	lockdep_assert_held(&inst->lock);
	if (from >= end)
		return false;
	ci = from / COIOMMU_CHUNK_PAGES;
	last = (end - 1) / COIOMMU_CHUNK_PAGES;
	xa_for_each_range(&inst->idx.xa, ci, c, ci, last) {
		u64 base = (u64)ci * COIOMMU_CHUNK_PAGES;
		unsigned int k = from > base ? from - base : 0;
		unsigned int lim = min_t(u64, end - base, COIOMMU_CHUNK_PAGES);
		unsigned int i;

		while (k < lim && !(c->state[k] & COIOMMU_PS_PINNED))
			k++;
		if (k == lim)
			continue;
		for (i = k + 1; i < lim && (c->state[i] & COIOMMU_PS_PINNED);)
			i++;
		run->gfn = base + k;
		run->n = i - k;
		run->k = k;
		run->chunk = c;
		return true;
	}
	return false;
}

/* Free the index; nothing is pinned any more. */
void coiommu_free_index(struct coiommu_instance *inst)
{
	struct coiommu_chunk *c;
	unsigned long ci;

	xa_for_each(&inst->idx.xa, ci, c) {
		xa_erase(&inst->idx.xa, ci);
		kmem_cache_free(coiommu_chunk_cache, c);
		inst->stats.metadata_bytes -= sizeof(*c);
	}
	xa_destroy(&inst->idx.xa);
	if (inst->idx.spare) {
		kmem_cache_free(coiommu_chunk_cache, inst->idx.spare);
		inst->stats.metadata_bytes -= sizeof(*inst->idx.spare);
		inst->idx.spare = NULL;
	}
}

int coiommu_index_init(void)
{
	coiommu_chunk_cache = KMEM_CACHE(coiommu_chunk, SLAB_ACCOUNT);
	return coiommu_chunk_cache ? 0 : -ENOMEM;
}

void coiommu_index_exit(void)
{
	kmem_cache_destroy(coiommu_chunk_cache);
}
