// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: the guest memory map and the index of pinned pages.
 */
#include <linux/mm.h>
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

static void free_ram(struct coiommu_ram *ram, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		kvfree(ram[i].chunks);
	kfree(ram);
}

static u64 ram_meta_bytes(struct coiommu_ram *ram, unsigned int nr)
{
	u64 bytes = nr * sizeof(*ram);
	unsigned int i;

	for (i = 0; i < nr; i++)
		bytes += ram[i].nr_chunks * sizeof(*ram[i].chunks);
	return bytes;
}

int coiommu_set_memory_map(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_memory_map hdr;
	struct coiommu_region *regs;
	struct coiommu_ram *ram;
	struct coiommu_dev *d;
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
	}
	sort(ram, hdr.nr_regions, sizeof(*ram), ram_cmp, NULL);
	for (i = 1; i < hdr.nr_regions; i++) {
		if (ram[i - 1].gfn + ram[i - 1].npages > ram[i].gfn) {
			ret = -EINVAL;
			goto err;
		}
	}
	for (i = 0; i < hdr.nr_regions; i++) {
		ram[i].nr_chunks = DIV_ROUND_UP(ram[i].npages,
						COIOMMU_CHUNK_PAGES);
		ram[i].chunks = kvcalloc(ram[i].nr_chunks,
					 sizeof(*ram[i].chunks),
					 GFP_KERNEL_ACCOUNT);
		if (!ram[i].chunks) {
			ret = -ENOMEM;
			goto err;
		}
	}

	/* No guest RAM where a device's IOMMU reserves the IOVAs. */
	list_for_each_entry(d, &inst->devices, node) {
		ret = coiommu_check_resv(d, ram, hdr.nr_regions);
		if (ret)
			goto err;
	}

	/* The index belongs to the map: it can change only while empty. */
	if (inst->stats.pinned) {
		ret = -EBUSY;
		goto err;
	}
	coiommu_free_memory_map(inst);
	inst->ram = ram;
	inst->nr_ram = hdr.nr_regions;
	inst->scan_ram = 0;	/* the unpinner's cursor was into the old map */
	inst->scan_idx = 0;
	inst->stats.meta_bytes += ram_meta_bytes(ram, hdr.nr_regions);
	kfree(regs);
	return 0;
err:
	free_ram(ram, hdr.nr_regions);
	kfree(regs);
	return ret;
}

void coiommu_free_memory_map(struct coiommu_instance *inst)
{
	if (!inst->ram)
		return;
	inst->stats.meta_bytes -= ram_meta_bytes(inst->ram, inst->nr_ram);
	free_ram(inst->ram, inst->nr_ram);
	if (inst->spare_chunk)
		inst->stats.meta_bytes -= sizeof(struct coiommu_chunk);
	kfree(inst->spare_chunk);
	inst->spare_chunk = NULL;
	inst->ram = NULL;
	inst->nr_ram = 0;
}

/* The region holding @gfn, or NULL. */
struct coiommu_ram *coiommu_find_ram(struct coiommu_instance *inst, u64 gfn)
{
	unsigned int lo = 0, hi = inst->nr_ram;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		struct coiommu_ram *r = &inst->ram[mid];

		if (gfn < r->gfn)
			hi = mid;
		else if (gfn - r->gfn >= r->npages)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
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

/*
 * The state byte of page @idx of @ram. With @create, allocates its chunk
 * if needed (NULL when out of memory); without, NULL means "not pinned".
 */
u8 *coiommu_state(struct coiommu_ram *ram, u64 idx, bool create,
		  struct coiommu_instance *inst)
{
	struct coiommu_chunk **c = &ram->chunks[idx / COIOMMU_CHUNK_PAGES];

	if (!*c) {
		if (!create)
			return NULL;
		/* The chunk freed last, kept zeroed and counted. */
		if (inst->spare_chunk) {
			*c = inst->spare_chunk;
			inst->spare_chunk = NULL;
			return &(*c)->state[idx % COIOMMU_CHUNK_PAGES];
		}
		*c = kzalloc(sizeof(**c), GFP_KERNEL_ACCOUNT);
		if (!*c)
			return NULL;
		inst->stats.meta_bytes += sizeof(**c);
	}
	return &(*c)->state[idx % COIOMMU_CHUNK_PAGES];
}

/* Free the chunk of page @idx if none of its pages has state left. */
void coiommu_state_put(struct coiommu_instance *inst, struct coiommu_ram *ram,
		       u64 idx)
{
	struct coiommu_chunk **c = &ram->chunks[idx / COIOMMU_CHUNK_PAGES];

	if (*c && !memchr_inv((*c)->state, 0, sizeof((*c)->state))) {
		/*
		 * Keep one for the next coiommu_state(): a page pinned and
		 * unpinned over and over alone in its chunk would otherwise
		 * cost an allocation and a free each time.
		 */
		if (!inst->spare_chunk) {
			inst->spare_chunk = *c;
		} else {
			kfree(*c);
			inst->stats.meta_bytes -= sizeof(**c);
		}
		*c = NULL;
	}
}
