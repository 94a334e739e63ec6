// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: pin guest pages and map them into the devices' domains;
 * unmap and unpin them. Everything here runs with coiommu_instance.lock
 * held, which serialises pin and unpin of the same page.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>

#include "coiommu.h"
#include "compat.h"
#include "trace.h"

static u64 gfn_iova(u64 gfn)
{
	return gfn << PAGE_SHIFT;
}

/*
 * Charge (@npages > 0) or return (< 0) locked_vm of the VMM. Under the
 * shrinker, where waiting for mmap_lock could deadlock (the reclaiming
 * task may hold it), a return that cannot take the lock at once is
 * deferred to the next call.
 */
int coiommu_account(struct coiommu_instance *inst, long npages)
{
	long pending;
	int ret = 0;

	if (npages < 0 && inst->in_reclaim) {
		if (!coiommu_mmap_write_trylock(inst->mm)) {
			atomic_long_add(-npages, &inst->uncharge_pending);
			return 0;
		}
	} else {
		mmap_write_lock(inst->mm);
	}
	pending = atomic_long_xchg(&inst->uncharge_pending, 0);
	if (pending)
		__account_locked_vm(inst->mm, pending, false, inst->task,
				    inst->lock_cap);
	if (npages)
		ret = __account_locked_vm(inst->mm, abs(npages), npages > 0,
					  inst->task, inst->lock_cap);
	mmap_write_unlock(inst->mm);
	return ret;
}

/* Map one page at @iova into @dom, unless someone else owns the IOVA. */
static int map_in(struct coiommu_domain *dom, u64 iova, phys_addr_t phys)
{
	/* Someone else (type1's MAP_DMA) owns this IOVA here. */
	if (iommu_iova_to_phys(dom->domain, iova))
		return -EEXIST;
	return coiommu_iommu_map(dom->domain, iova, phys, PAGE_SIZE,
				 dom->prot);
}

/* Map one page at @iova into every domain, or into none. */
static int map_page(struct coiommu_instance *inst, u64 iova, phys_addr_t phys)
{
	struct coiommu_domain *dom;
	int ret;

	list_for_each_entry(dom, &inst->domains, node) {
		ret = map_in(dom, iova, phys);
		if (ret)
			goto unwind;
	}
	return 0;
unwind:
	list_for_each_entry_continue_reverse(dom, &inst->domains, node)
		iommu_unmap(dom->domain, iova, PAGE_SIZE);
	return ret;
}

/*
 * Pin @n pages of the VMM from @vaddr. In the VMM's own context (the
 * vCPU thread's task work, the worker after kthread_use_mm(), an ioctl
 * of the VMM itself) pin_user_pages_fast() walks the page tables without
 * mmap_lock and falls back to the locked walk by itself when it must
 * (page not present, not long-term pinnable); from any other mm, the
 * remote walk under mmap_read_lock. FOLL_LONGTERM either way.
 */
static long pin_pages(struct coiommu_instance *inst, unsigned long vaddr,
		      unsigned long n, struct page **pages)
{
	long got;

	if (current->mm == inst->mm)
		return pin_user_pages_fast(vaddr, n, FOLL_WRITE | FOLL_LONGTERM,
					   pages);
	mmap_read_lock(inst->mm);
	got = coiommu_pin_user_pages_remote(inst->mm, vaddr, n,
					    FOLL_WRITE | FOLL_LONGTERM, pages,
					    NULL);
	mmap_read_unlock(inst->mm);
	return got;
}

static void count_pinned(struct coiommu_instance *inst, u64 n)
{
	inst->stats.pinned += n;
	inst->stats.pins += n;
	if (inst->stats.pinned > inst->stats.peak)
		inst->stats.peak = inst->stats.pinned;
}

/*
 * Pin @n pages of @ram from @idx, none of them pinned yet, and map them.
 * Pages that made it are marked PINNED | NEW; returns 0 if all did.
 */
static int pin_run(struct coiommu_instance *inst, struct coiommu_ram *ram,
		   u64 idx, unsigned long n)
{
	struct page **pages = inst->pages;
	unsigned long i = 0;
	long got;
	int ret;

	ret = coiommu_account(inst, n);
	if (ret) {
		trace_coiommu_pin(inst->id, ram->gfn + idx, n, ret);
		return ret;
	}

	got = pin_pages(inst, ram->vaddr + idx * PAGE_SIZE, n, pages);
	if (got < 0) {
		coiommu_account(inst, -(long)n);
		return got == -ERESTARTSYS ? -EINTR : got;
	}

	for (i = 0; i < got; i++) {
		u8 *st = coiommu_state(ram, idx + i, true, inst);

		if (!st) {
			ret = -ENOMEM;
			break;
		}
		ret = map_page(inst, gfn_iova(ram->gfn + idx + i),
			       page_to_phys(pages[i]));
		if (ret) {
			coiommu_state_put(inst, ram, idx + i);
			break;
		}
		*st = COIOMMU_PS_PINNED | COIOMMU_PS_NEW;
	}
	count_pinned(inst, i);
	if (i < got)
		unpin_user_pages(pages + i, got - i);
	if (n - i)
		coiommu_account(inst, -(long)(n - i));
	if (!ret && got < n)
		ret = -EFAULT;
	trace_coiommu_pin(inst->id, ram->gfn + idx, i, ret);
	return ret;
}

static bool page_pinned(struct coiommu_instance *inst, struct coiommu_ram *ram,
			u64 idx)
{
	u8 *st = coiommu_state(ram, idx, false, inst);

	return st && (*st & COIOMMU_PS_PINNED);
}

/* The state byte of @gfn if it is pinned, else NULL. */
u8 *coiommu_page_state(struct coiommu_instance *inst, u64 gfn)
{
	struct coiommu_ram *ram = coiommu_find_ram(inst, gfn);
	u8 *st;

	if (!ram)
		return NULL;
	st = coiommu_state(ram, gfn - ram->gfn, false, inst);
	return st && (*st & COIOMMU_PS_PINNED) ? st : NULL;
}

/* @gfn is guest RAM and pinned. */
bool coiommu_is_pinned(struct coiommu_instance *inst, u64 gfn)
{
	return coiommu_page_state(inst, gfn);
}

/*
 * Unpin a run of @n pinned pages of @ram from @idx: read their physical
 * pages back from the IOMMU, unmap them from every domain (iommu_unmap()
 * flushes the IOTLB before it returns), then release the pins and the
 * locked_vm charge.
 */
static void unpin_run(struct coiommu_instance *inst, struct coiommu_ram *ram,
		      u64 idx, unsigned long n, enum coiommu_cause cause)
{
	struct coiommu_domain *first, *dom;
	struct page **pages = inst->pages;
	u64 iova = gfn_iova(ram->gfn + idx);
	unsigned long i, nr = 0;

	first = list_first_entry(&inst->domains, struct coiommu_domain, node);
	for (i = 0; i < n; i++) {
		phys_addr_t phys = iommu_iova_to_phys(first->domain,
						      iova + i * PAGE_SIZE);

		if (phys)
			pages[nr++] = pfn_to_page(PHYS_PFN(phys));
		else
			pr_err_ratelimited("instance %llu: gfn %#llx pinned but not mapped\n",
					   inst->id, ram->gfn + idx + i);
	}
	list_for_each_entry(dom, &inst->domains, node)
		iommu_unmap(dom->domain, iova, n * PAGE_SIZE);
	unpin_user_pages_dirty_lock(pages, nr, true);

	for (i = 0; i < n; i++) {
		u8 *st = coiommu_state(ram, idx + i, false, inst);

		if (*st & COIOMMU_PS_HELD)
			inst->stats.nr_held--;
		if (*st & COIOMMU_PS_OLD)
			inst->stats.nr_old--;
		*st = 0;
		coiommu_state_put(inst, ram, idx + i);
	}
	inst->stats.pinned -= n;
	inst->stats.unpins += n;
	inst->stats.unpins_by[cause] += n;
	coiommu_account(inst, -(long)n);
	trace_coiommu_unpin(inst->id, ram->gfn + idx, n, cause);
}

/* Unpin every pinned page of [gfn, gfn + npages), all guest RAM. */
void coiommu_unpin(struct coiommu_instance *inst, u64 gfn, u64 npages,
		   enum coiommu_cause cause)
{
	u64 end = gfn + npages;

	while (gfn < end) {
		struct coiommu_ram *ram = coiommu_find_ram(inst, gfn);
		u64 idx = gfn - ram->gfn;
		u64 lim = min(end - gfn, ram->npages - idx);
		unsigned long run = 0;

		while (run < lim && run < COIOMMU_BATCH &&
		       page_pinned(inst, ram, idx + run))
			run++;
		if (run) {
			unpin_run(inst, ram, idx, run, cause);
			gfn += run;
		} else {
			gfn++;
		}
	}
}

void coiommu_unpin_all(struct coiommu_instance *inst)
{
	unsigned int i;

	for (i = 0; i < inst->nr_ram && inst->stats.pinned; i++)
		coiommu_unpin(inst, inst->ram[i].gfn, inst->ram[i].npages,
			      COIOMMU_UNPIN_CLOSE);
}

/*
 * Finish a coiommu_pin() call over [gfn, gfn + npages): on success mark
 * every page with @flags; on failure release the pages it pinned, in runs.
 */
static void pin_finish(struct coiommu_instance *inst, u64 gfn, u64 npages,
		       u8 flags, bool undo)
{
	u64 end = gfn + npages;

	while (gfn < end) {
		struct coiommu_ram *ram = coiommu_find_ram(inst, gfn);
		u64 idx = gfn - ram->gfn;
		u64 lim = min(end - gfn, ram->npages - idx);
		unsigned long run = 0;
		u8 *st;

		while (run < lim && run < COIOMMU_BATCH) {
			st = coiommu_state(ram, idx + run, false, inst);
			if (!st || !(*st & COIOMMU_PS_PINNED))
				break;
			if (undo && (*st & COIOMMU_PS_NEW)) {
				run++;
				continue;
			}
			if (run)
				break;
			*st &= ~COIOMMU_PS_NEW;
			if (!undo) {
				if ((flags & COIOMMU_PS_HELD) &&
				    !(*st & COIOMMU_PS_HELD))
					inst->stats.nr_held++;
				*st |= flags;
			}
			break;
		}
		if (run)
			unpin_run(inst, ram, idx, run, COIOMMU_UNPIN_VMM);
		gfn += max(run, 1UL);
	}
}

/**
 * coiommu_pin - pin and map [gfn, gfn + npages), which is all guest RAM
 * @inst: the instance, locked
 * @gfn: first guest frame
 * @npages: number of pages
 * @flags: state bits to set on every page of the range on success
 * @all_or_nothing: on failure, release the pages this call pinned
 *
 * Pages already pinned are left as they are. Return: 0 or -errno.
 */
long coiommu_pin(struct coiommu_instance *inst, u64 gfn, u64 npages,
		 u8 flags, bool all_or_nothing)
{
	/* The VMM's own thread keeps its mm's users up by itself. */
	bool own = current->mm == inst->mm;
	u64 done = 0;
	long ret = 0;

	if (list_empty(&inst->domains))
		return -ENODEV;
	if (!own && !mmget_not_zero(inst->mm))
		return -ESRCH;

	while (done < npages) {
		struct coiommu_ram *ram = coiommu_find_ram(inst, gfn + done);
		u64 idx = gfn + done - ram->gfn;
		u64 lim = min(npages - done, ram->npages - idx);
		unsigned long run = 0;

		while (run < lim && run < COIOMMU_BATCH &&
		       !page_pinned(inst, ram, idx + run))
			run++;
		if (!run) {
			done++;
			continue;
		}
		ret = pin_run(inst, ram, idx, run);
		if (ret)
			break;
		done += run;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
	}
	pin_finish(inst, gfn, npages, flags, ret && all_or_nothing);
	if (!own)
		mmput(inst->mm);
	return ret;
}

/* Unmap from @dom the pinned pages of @ram below page index @upto. */
static void unmap_ram(struct coiommu_instance *inst, struct coiommu_domain *dom,
		      struct coiommu_ram *ram, u64 upto)
{
	u64 idx;

	for (idx = 0; idx < upto; idx++)
		if (page_pinned(inst, ram, idx))
			iommu_unmap(dom->domain, gfn_iova(ram->gfn + idx),
				    PAGE_SIZE);
}

/*
 * Map every pinned page into @dom, a domain not yet on the instance's
 * list, reading the physical pages from a domain that is. All or nothing.
 */
int coiommu_map_pinned(struct coiommu_instance *inst,
		       struct coiommu_domain *dom)
{
	struct coiommu_domain *src;
	unsigned int r;
	u64 idx;
	int ret;

	if (!inst->stats.pinned)
		return 0;
	src = list_first_entry(&inst->domains, struct coiommu_domain, node);
	for (r = 0; r < inst->nr_ram; r++) {
		struct coiommu_ram *ram = &inst->ram[r];

		for (idx = 0; idx < ram->npages; idx++) {
			u64 iova = gfn_iova(ram->gfn + idx);
			phys_addr_t phys;

			if (!ram->chunks[idx / COIOMMU_CHUNK_PAGES]) {
				idx |= COIOMMU_CHUNK_PAGES - 1;
				continue;
			}
			if (!page_pinned(inst, ram, idx))
				continue;
			phys = iommu_iova_to_phys(src->domain, iova);
			ret = map_in(dom, iova, phys);
			if (ret) {
				unmap_ram(inst, dom, ram, idx);
				while (r--)
					unmap_ram(inst, dom, &inst->ram[r],
						  inst->ram[r].npages);
				return ret;
			}
		}
	}
	return 0;
}
