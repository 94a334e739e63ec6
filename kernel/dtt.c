// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: the DMA Tracking Table, the guest's record of its DMA
 * mappings, in guest memory (Documentation/guest-abi.rst): walking it to a
 * leaf entry, setting PINNED, and the unpin rule.
 *
 * Guest memory is hostile: every table is looked up anew for every use
 * (the guest may free and reuse DTT pages), each upper entry is read once
 * and never followed outside guest RAM, and leaf entries are changed only
 * by atomic operations, as the guest changes them too. Two ways in: from
 * the VMM's own context (the request path), through its user addresses;
 * from elsewhere (the unpinner, the shrinker), through page references on
 * the VMM's mm with its mmap_lock held, without faults in reclaim.
 */
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include <linux/coiommu.h>

#include "coiommu.h"
#include "compat.h"

/*
 * Read the DTT's u64 at guest physical @gpa: with get_user() in the VMM's
 * own context, else (@remote) through a page reference on the VMM's mm,
 * whose mmap_lock the caller holds; @gup_flags may add FOLL_NOFAULT.
 */
static int dtt_read(struct coiommu_instance *inst, u64 gpa, u64 *val,
		    bool remote, unsigned int gup_flags)
{
	unsigned long hva = coiommu_gpa_to_hva(inst, gpa, sizeof(u64));
	struct page *page;
	void *kaddr;

	if (!hva)
		return -ENOENT;
	if (!remote)
		return get_user(*val, (u64 __user *)hva) ? -EFAULT : 0;
	/* From reclaim: no hugetlb faults (see cursor_load() in unpin.c). */
	if (gup_flags & FOLL_NOFAULT) {
		struct vm_area_struct *vma = vma_lookup(inst->mm, hva);

		if (!vma || is_vm_hugetlb_page(vma))
			return -EFAULT;
	}
	if (coiommu_get_user_pages_remote(inst->mm, hva, 1, gup_flags, &page,
					  NULL) != 1)
		return -EFAULT;
	kaddr = kmap_local_page(page);
	*val = READ_ONCE(*(u64 *)(kaddr + offset_in_page(hva)));
	kunmap_local(kaddr);
	put_page(page);
	return 0;
}

/**
 * coiommu_dtt_leaf_table - walk the DTT to the leaf table of @gfn
 * @inst: the instance, active
 * @gfn: the guest frame
 * @remote: read through page references (see dtt_read())
 * @gup_flags: extra GUP flags when @remote
 *
 * Return: the leaf table's guest physical address; 0 for a hole (an upper
 * entry not present, or pointing outside guest RAM) or a GFN the DTT
 * cannot cover; -EFAULT (as u64) when an upper table could not be read.
 */
u64 coiommu_dtt_leaf_table(struct coiommu_instance *inst, u64 gfn, bool remote,
			   unsigned int gup_flags)
{
	unsigned int level = inst->guest.dtt_level;
	unsigned int bits = COIOMMU_DTT_LEAF_BITS + COIOMMU_DTT_UPPER_BITS * (level - 1);
	u64 table = inst->guest.dtt_root;
	u64 entry;
	int ret;

	if (bits < 64 && gfn >> bits)
		return 0;
	for (; level > 1; level--) {
		unsigned int shift = COIOMMU_DTT_LEAF_BITS + COIOMMU_DTT_UPPER_BITS * (level - 2);
		u64 idx = (gfn >> shift) & (BIT(COIOMMU_DTT_UPPER_BITS) - 1);

		ret = dtt_read(inst, table + idx * sizeof(u64), &entry, remote,
			       gup_flags);
		if (ret)
			return ret == -ENOENT ? 0 : (u64)-EFAULT;
		if (!(entry & COIOMMU_DTT_PRESENT))
			return 0;
		table = entry & COIOMMU_DTT_ADDR_MASK;
	}
	return coiommu_gpa_to_hva(inst, table, PAGE_SIZE) ? table : 0;
}

/* The VMM address of @gfn's leaf entry, or 0 (hole, unreadable). */
unsigned long coiommu_dtt_leaf_entry(struct coiommu_instance *inst, u64 gfn)
{
	u64 table = coiommu_dtt_leaf_table(inst, gfn, false, 0);

	if (!table || IS_ERR_VALUE(table))
		return 0;
	return coiommu_gpa_to_hva(inst, table + dtt_leaf_index(gfn) *
				  sizeof(u32), sizeof(u32));
}

/*
 * Set PINNED in the leaf entry at @hva with an atomic read-modify-write
 * on the page itself, so that the guest's concurrent atomic updates of
 * the map count and ACCESSED are never lost. In the VMM's own context
 * (always, see coiommu_serve()) a compare-and-exchange on the user
 * address does it where the architecture has one; a guest that keeps
 * changing the entry under it, or a fault, sends it to the slower way:
 * an atomic OR through a reference on the page.
 */
int coiommu_dtt_set_pinned(unsigned long hva)
{
	struct page *page;
	void *kaddr;

	if (!coiommu_user_or32((u32 __user *)hva, COIOMMU_DTT_PINNED, 8))
		return 0;
	if (get_user_pages_fast(hva & PAGE_MASK, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	kaddr = kmap_local_page(page);
	atomic_or(COIOMMU_DTT_PINNED,
		  (atomic_t *)(kaddr + offset_in_page(hva)));
	kunmap_local(kaddr);
	put_page(page);
	return 0;
}

void coiommu_dtt_cursor_put(struct coiommu_dtt_cursor *c)
{
	if (c->page) {
		kunmap_local(c->leaf);
		put_page(c->page);
	}
	c->page = NULL;
	c->leaf = NULL;
	c->valid = false;
}

/*
 * Map the leaf table of @gfn's group into @c: c->page NULL for a hole
 * (c->unreadable clear) or a table that cannot be read now (set).
 * mmap_lock is held.
 */
static void cursor_load(struct coiommu_dtt_cursor *c, u64 gfn)
{
	unsigned long hva;
	u64 table;

	coiommu_dtt_cursor_put(c);
	c->group = gfn >> COIOMMU_DTT_LEAF_BITS;
	c->valid = true;
	c->unreadable = false;
	table = coiommu_dtt_leaf_table(c->inst, gfn, true, c->gup_flags);
	if (IS_ERR_VALUE(table)) {
		c->unreadable = true;
		return;
	}
	if (!table)
		return;
	hva = coiommu_gpa_to_hva(c->inst, table, PAGE_SIZE);
	/*
	 * In 6.1, FOLL_NOFAULT does not keep follow_hugetlb_page() from
	 * faulting: from reclaim, a table in hugetlb memory is left alone.
	 */
	if (c->gup_flags & FOLL_NOFAULT) {
		struct vm_area_struct *vma = vma_lookup(c->inst->mm, hva);

		if (!vma || is_vm_hugetlb_page(vma)) {
			c->unreadable = true;
			return;
		}
	}
	if (coiommu_get_user_pages_remote(c->inst->mm, hva, 1,
					  FOLL_WRITE | c->gup_flags,
					  &c->page, NULL) != 1) {
		c->page = NULL;
		c->unreadable = true;
		return;
	}
	c->leaf = kmap_local_page(c->page);
}

/*
 * The leaf entry of @gfn, mapped; NULL for a hole (c->unreadable clear)
 * or when it cannot be read now (c->unreadable set). Consecutive GFNs
 * share a table, which stays mapped until the group changes.
 */
static inline u32 *cursor_entry(struct coiommu_dtt_cursor *c, u64 gfn)
{
	if (unlikely(!c->valid || c->group != gfn >> COIOMMU_DTT_LEAF_BITS))
		cursor_load(c, gfn);
	return c->page ? &c->leaf[dtt_leaf_index(gfn)] : NULL;
}

/*
 * The unpin rule for one pinned page. With @force, recently accessed
 * pages that the guest does not map now are released too.
 */
enum coiommu_verdict coiommu_dtt_judge(struct coiommu_dtt_cursor *c, u64 gfn,
				       bool force)
{
	u32 *e = cursor_entry(c, gfn);
	u32 v;

	if (!e)
		return c->unreadable ? COIOMMU_KEEP : COIOMMU_RELEASE;
	v = READ_ONCE(*e);
	for (;;) {
		if (v & COIOMMU_DTT_MAPCOUNT)
			break;
		if (v != COIOMMU_DTT_PINNED && v && !force)
			break;
		/* Exactly PINNED (or unmapped, forced) becomes 0, atomically. */
		if (!v || try_cmpxchg(e, &v, 0))
			return COIOMMU_RELEASE;
	}
	if (v & COIOMMU_DTT_ACCESSED)
		atomic_andnot(COIOMMU_DTT_ACCESSED, (atomic_t *)e);
	return COIOMMU_BUSY;
}
