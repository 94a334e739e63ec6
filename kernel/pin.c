// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: pin guest pages and map them into the devices' domains;
 * unmap and unpin them. Everything here runs with coiommu_instance.lock
 * held, which serialises pin and unpin of the same page.
 *
 * The IOMMU domains are shared: VFIO type1 maps into the same page tables,
 * and nothing stops a VMM from mapping over our IOVAs with
 * VFIO_IOMMU_MAP_DMA. In 6.1, Intel's driver keeps the old entry of a
 * 4 KiB map over ours, a 2 MiB map replaces (and frees) our entries, AMD's
 * overwrites them; type1 then releases whatever page it reads back. So we
 * keep our own record of every page we pinned (the index, mem.c), map only
 * from it, check every domain against it before we unmap, and never
 * release a page whose entry is not the one we made: that page is leaked
 * on purpose, as its pin may already have been released by someone else.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>

#include <linux/coiommu.h>

#include "coiommu.h"
#include "compat.h"
#include "trace.h"

static u64 gfn_iova(u64 gfn)
{
	return gfn << PAGE_SHIFT;
}

/*
 * Map @n pages of contiguous host memory from @phys at @iova into @dom,
 * unless someone else owns one of the IOVAs there.
 */
static int map_in(struct coiommu_domain *dom, u64 iova, phys_addr_t phys,
		  unsigned long n)
{
	unsigned long i;

	/* Someone else (type1's MAP_DMA) owns one of the IOVAs here. */
	for (i = 0; i < n; i++)
		if (iommu_iova_to_phys(dom->domain, iova + i * PAGE_SIZE))
			return -EEXIST;
	return coiommu_iommu_map(dom->domain, iova, phys, n * PAGE_SIZE,
				 dom->prot);
}

/*
 * Unmap @iova from @dom if, and only if, it still maps @phys, the page we
 * recorded. Returns false when the entry is not ours (any more).
 */
static bool unmap_ours(struct coiommu_domain *dom, u64 iova, phys_addr_t phys,
		       struct iommu_iotlb_gather *gather)
{
	if (iommu_iova_to_phys(dom->domain, iova) != phys)
		return false;
	return iommu_unmap_fast(dom->domain, iova, PAGE_SIZE, gather) ==
	       PAGE_SIZE;
}

/*
 * Pages mapped by one iommu_map() call at most: fewer than a 2 MiB IOMMU
 * page, so that the IOMMU driver never makes a huge page of a run. Each
 * page may be unpinned alone later, and a 4 KiB unmap inside a huge page
 * would take it away whole.
 */
#define MAP_RUN		(SZ_2M / PAGE_SIZE - 1)

/*
 * Map @n pages of contiguous host memory from @phys at @iova into every
 * domain, or into none, one iommu_map() (and one IOTLB sync) per domain.
 */
static int map_run(struct coiommu_instance *inst, u64 iova, phys_addr_t phys,
		   unsigned long n)
{
	struct iommu_iotlb_gather gather;
	struct coiommu_domain *dom;
	unsigned long i;
	int ret;

	list_for_each_entry(dom, &inst->devs.domains, node) {
		ret = map_in(dom, iova, phys, n);
		if (ret)
			goto unwind;
	}
	return 0;
unwind:
	list_for_each_entry_continue_reverse(dom, &inst->devs.domains, node) {
		iommu_iotlb_gather_init(&gather);
		for (i = 0; i < n; i++)
			unmap_ours(dom, iova + i * PAGE_SIZE,
				   phys + i * PAGE_SIZE, &gather);
		iommu_iotlb_sync(dom->domain, &gather);
	}
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
	coiommu_stat_add(&inst->stats.pinned_pages, n);
	inst->stats.pins += n;
	if (inst->stats.pinned_pages > inst->stats.peak_pinned_pages)
		inst->stats.peak_pinned_pages = inst->stats.pinned_pages;
}

/*
 * Pin @n pages of @ram from guest frame @gfn, none of them pinned yet,
 * record them and map them. Pages that made it are marked PINNED | NEW;
 * returns 0 if all did.
 */
static int pin_run(struct coiommu_instance *inst, struct coiommu_ram *ram,
		   u64 gfn, unsigned long n)
{
	struct page **pages = inst->scratch.pages;
	unsigned long i = 0;
	long got;
	int ret;

	ret = coiommu_account(inst, n);
	if (ret) {
		trace_coiommu_pin(inst->id, gfn, n, ret);
		return ret;
	}

	got = pin_pages(inst, ram->vaddr + (gfn - ram->gfn) * PAGE_SIZE, n,
			pages);
	if (got < 0) {
		coiommu_account(inst, -(long)n);
		return got == -ERESTARTSYS ? -EINTR : got;
	}

	while (i < got) {
		unsigned long r, j;

		/* A run of contiguous host pages whose chunks exist. */
		for (r = 0; i + r < got && r < MAP_RUN; r++) {
			if (r && page_to_pfn(pages[i + r]) !=
				 page_to_pfn(pages[i]) + r)
				break;
			if (!coiommu_chunk_get(inst, gfn + i + r))
				break;
		}
		if (!r) {
			ret = -ENOMEM;
			break;
		}
		ret = map_run(inst, gfn_iova(gfn + i), page_to_phys(pages[i]),
			      r);
		if (ret) {
			for (j = 0; j < r; j++)
				coiommu_chunk_put(inst, gfn + i + j);
			break;
		}
		for (j = 0; j < r; j++, i++) {
			struct coiommu_chunk *c = coiommu_chunk(inst, gfn + i);
			unsigned int k = (gfn + i) % COIOMMU_CHUNK_PAGES;

			c->pfn[k] = page_to_pfn(pages[i]);
			c->state[k] = COIOMMU_PS_PINNED | COIOMMU_PS_NEW;
		}
	}
	count_pinned(inst, i);
	if (i < got)
		unpin_user_pages(pages + i, got - i);
	if (n - i)
		coiommu_account(inst, -(long)(n - i));
	if (!ret && got < n)
		ret = -EFAULT;
	trace_coiommu_pin(inst->id, gfn, i, ret);
	return ret;
}

/* @gfn is guest RAM and pinned. */
bool coiommu_is_pinned(struct coiommu_instance *inst, u64 gfn)
{
	return coiommu_page_state(inst, gfn);
}

/* Forget the state of a released page, keeping the counters right. */
static void drop_state(struct coiommu_instance *inst, u8 *st)
{
	if (*st & COIOMMU_PS_HELD)
		coiommu_stat_add(&inst->stats.held_pages, -1);
	if (*st & COIOMMU_PS_OLD)
		coiommu_stat_add(&inst->stats.old_pages, -1);
	*st = 0;
}

static void report_mismatch(struct coiommu_instance *inst, u64 gfn)
{
	inst->stats.mismatches++;
	if (inst->stats.broken)
		return;
	inst->stats.broken = true;
	pr_err("instance %llu: IOVA %#llx no longer maps the page it pinned there (mapped over or unmapped by someone else, e.g. VFIO_IOMMU_MAP_DMA); leaking such pages instead of releasing them\n",
	       inst->id, gfn_iova(gfn));
}

/* The coiommu_unpin event, once per run of consecutive released GFNs. */
static void trace_unpin_runs(struct coiommu_instance *inst, const u64 *gfns,
			     unsigned int n, const unsigned long *bad,
			     enum coiommu_cause cause)
{
	unsigned int i, start = 0;

	if (!trace_coiommu_unpin_enabled())
		return;
	for (i = 1; i <= n; i++) {
		if (i < n && gfns[i] == gfns[i - 1] + 1 && !test_bit(i, bad) &&
		    !test_bit(i - 1, bad))
			continue;
		if (!test_bit(start, bad))
			trace_coiommu_unpin(inst->id, gfns[start], i - start,
					    coiommu_cause_names[cause]);
		start = i;
	}
}

/**
 * coiommu_unpin_gfns - take pinned pages off the IOMMU and release them
 * @inst: the instance, locked
 * @gfns: the guest frames, every one pinned, COIOMMU_BATCH at most
 * @n: entries of @gfns
 * @cause: why, for the statistics
 * @ctx: COIOMMU_CTX_RECLAIM from the shrinker: the pages are unmapped and
 *	taken out of the index, and left in inst->reclaim.pages for
 *	coiommu_release_reclaimed() to unpin and uncharge (the caller made
 *	room for @n there); otherwise they are unpinned here
 *
 * Each page is unmapped only from the domains whose entry is still the
 * page we recorded; iommu_unmap_fast() must take exactly that page away,
 * and the IOTLB of each domain is flushed before any page is released. A
 * page whose entry is anything else in any domain is a mismatch: it is
 * taken off the domains where it is ours, out of the index, and leaked.
 *
 * Return: pages whose pin was released (or handed to the reclaim list).
 */
unsigned int coiommu_unpin_gfns(struct coiommu_instance *inst,
				const u64 *gfns, unsigned int n,
				enum coiommu_cause cause, enum coiommu_ctx ctx)
{
	DECLARE_BITMAP(bad, COIOMMU_BATCH);
	struct iommu_iotlb_gather gather;
	struct coiommu_domain *dom;
	struct page **out;
	unsigned int i, nr = 0;

	lockdep_assert_held(&inst->lock);
	if (WARN_ON_ONCE(n > COIOMMU_BATCH))
		n = COIOMMU_BATCH;
	bitmap_zero(bad, n);
	list_for_each_entry(dom, &inst->devs.domains, node) {
		iommu_iotlb_gather_init(&gather);
		for (i = 0; i < n; i++) {
			struct coiommu_chunk *c = coiommu_chunk(inst, gfns[i]);
			unsigned int k = gfns[i] % COIOMMU_CHUNK_PAGES;

			if (!unmap_ours(dom, gfn_iova(gfns[i]),
					PFN_PHYS(c->pfn[k]), &gather))
				__set_bit(i, bad);
		}
		iommu_iotlb_sync(dom->domain, &gather);
	}

	out = ctx == COIOMMU_CTX_RECLAIM ?
	      inst->reclaim.pages + inst->reclaim.nr : inst->scratch.pages;
	for (i = 0; i < n; i++) {
		struct coiommu_chunk *c = coiommu_chunk(inst, gfns[i]);
		unsigned int k = gfns[i] % COIOMMU_CHUNK_PAGES;

		if (test_bit(i, bad))
			report_mismatch(inst, gfns[i]);
		else
			out[nr++] = pfn_to_page(c->pfn[k]);
		drop_state(inst, &c->state[k]);
		coiommu_chunk_put(inst, gfns[i]);
	}
	coiommu_stat_add(&inst->stats.pinned_pages, -(s64)n);
	inst->stats.unpins += nr;
	if (cause < COIOMMU_NR_COUNTED)
		inst->stats.unpins_by[cause] += nr;
	trace_unpin_runs(inst, gfns, n, bad, cause);

	if (ctx == COIOMMU_CTX_RECLAIM) {
		/* Leaked pages are uncharged with the others, later. */
		inst->reclaim.nr += nr;
		inst->reclaim.uncharge += n;
		return nr;
	}
	unpin_user_pages_dirty_lock(out, nr, true);
	coiommu_account(inst, -(long)n);
	return nr;
}

/*
 * Release the pinned pages of [gfn, end) whose state has a bit of @mask,
 * in batches.
 */
static void release_runs(struct coiommu_instance *inst, u64 gfn, u64 end,
			 u8 mask, enum coiommu_cause cause)
{
	struct coiommu_run run = { .gfn = gfn };
	u64 *gfns = inst->scratch.rel_gfns;
	unsigned int i, nr = 0;

	while (coiommu_next_run(inst, &run, end)) {
		for (i = 0; i < run.n; i++) {
			if (!(run.chunk->state[run.k + i] & mask))
				continue;
			gfns[nr++] = run.gfn + i;
			if (nr < COIOMMU_BATCH)
				continue;
			coiommu_unpin_gfns(inst, gfns, nr, cause,
					   COIOMMU_CTX_NORMAL);
			nr = 0;
			cond_resched();
			/* Chunks were freed: resume after this page. */
			run.n = i + 1;
			break;
		}
	}
	if (nr)
		coiommu_unpin_gfns(inst, gfns, nr, cause, COIOMMU_CTX_NORMAL);
}

/* Release every pinned page of [gfn, gfn + npages). */
void coiommu_unpin(struct coiommu_instance *inst, u64 gfn, u64 npages,
		   enum coiommu_cause cause)
{
	release_runs(inst, gfn, gfn + npages, COIOMMU_PS_PINNED, cause);
}

void coiommu_unpin_all(struct coiommu_instance *inst)
{
	if (inst->stats.pinned_pages)
		coiommu_unpin(inst, 0, COIOMMU_GFN_END, COIOMMU_UNPIN_CLOSE);
}

/*
 * Finish a coiommu_pin() call over [gfn, gfn + npages): on success mark
 * every page with @flags; on failure release the pages it pinned.
 */
static void pin_finish(struct coiommu_instance *inst, u64 gfn, u64 npages,
		       u8 flags, bool undo)
{
	struct coiommu_run run = { .gfn = gfn };
	unsigned int i;

	if (undo) {
		release_runs(inst, gfn, gfn + npages, COIOMMU_PS_NEW,
			     COIOMMU_UNPIN_VMM);
		return;
	}
	while (coiommu_next_run(inst, &run, gfn + npages)) {
		for (i = 0; i < run.n; i++) {
			u8 *st = &run.chunk->state[run.k + i];

			*st &= ~COIOMMU_PS_NEW;
			if ((flags & COIOMMU_PS_HELD) &&
			    !(*st & COIOMMU_PS_HELD))
				coiommu_stat_add(&inst->stats.held_pages, 1);
			*st |= flags;
		}
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
 * Pages already pinned are left as they are. Each run is resolved to its
 * region once. Return: 0 or -errno.
 */
long coiommu_pin(struct coiommu_instance *inst, u64 gfn, u64 npages,
		 u8 flags, bool all_or_nothing)
{
	/* The VMM's own thread keeps its mm's users up by itself. */
	bool own = current->mm == inst->mm;
	u64 done = 0;
	long ret = 0;

	lockdep_assert_held(&inst->lock);
	if (list_empty(&inst->devs.domains))
		return -ENODEV;
	if (!own && !mmget_not_zero(inst->mm))
		return -ESRCH;

	while (done < npages) {
		struct coiommu_ram *ram = coiommu_find_ram(inst, gfn + done);
		u64 lim = min3(npages - done, ram->gfn + ram->npages -
			       (gfn + done), (u64)COIOMMU_BATCH);
		struct coiommu_run run = { .gfn = gfn + done };

		/* Up to the next pinned page; skip over pinned ones. */
		if (coiommu_next_run(inst, &run, gfn + done + lim)) {
			if (run.gfn == gfn + done) {
				done += run.n;
				continue;
			}
			lim = run.gfn - (gfn + done);
		}
		ret = pin_run(inst, ram, gfn + done, lim);
		if (ret)
			break;
		done += lim;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	pin_finish(inst, gfn, npages, flags, ret && all_or_nothing);
	if (!own)
		mmput(inst->mm);
	return ret;
}

/* Unmap from @dom the pinned pages below @upto that we mapped there. */
static void unmap_below(struct coiommu_instance *inst,
			struct coiommu_domain *dom, u64 upto)
{
	struct coiommu_run run = { .gfn = 0 };
	struct iommu_iotlb_gather gather;
	unsigned int i;

	iommu_iotlb_gather_init(&gather);
	while (coiommu_next_run(inst, &run, upto)) {
		const unsigned long *pfn = &run.chunk->pfn[run.k];

		for (i = 0; i < run.n; i++)
			unmap_ours(dom, gfn_iova(run.gfn + i), PFN_PHYS(pfn[i]),
				   &gather);
	}
	iommu_iotlb_sync(dom->domain, &gather);
}

/*
 * Map every pinned page into @dom, a domain not yet on the instance's
 * list, from the record, a run of contiguous host pages at a time. All
 * or nothing.
 */
int coiommu_map_pinned(struct coiommu_instance *inst,
		       struct coiommu_domain *dom)
{
	struct coiommu_run run = { .gfn = 0 };
	unsigned int i, n;
	u64 g;
	int ret;

	lockdep_assert_held(&inst->lock);
	while (coiommu_next_run(inst, &run, COIOMMU_GFN_END)) {
		const unsigned long *pfn = &run.chunk->pfn[run.k];

		for (i = 0; i < run.n; i += n) {
			for (n = 1; i + n < run.n && pfn[i + n] == pfn[i] + n;)
				n++;
			g = run.gfn + i;
			ret = map_in(dom, gfn_iova(g), PFN_PHYS(pfn[i]), n);
			if (ret)
				goto unwind;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			g = run.gfn + run.n;
			goto unwind;
		}
		cond_resched();
	}
	return 0;
unwind:
	unmap_below(inst, dom, g);
	return ret;
}

/*
 * A page whose entry in a domain was not ours: take it off the domains
 * where it still is ours, out of the index, and leak its pin.
 */
static void leak_page(struct coiommu_instance *inst, u64 gfn)
{
	struct coiommu_chunk *c = coiommu_chunk(inst, gfn);
	unsigned int k = gfn % COIOMMU_CHUNK_PAGES;
	struct iommu_iotlb_gather gather;
	struct coiommu_domain *dom;

	list_for_each_entry(dom, &inst->devs.domains, node) {
		iommu_iotlb_gather_init(&gather);
		unmap_ours(dom, gfn_iova(gfn), PFN_PHYS(c->pfn[k]), &gather);
		iommu_iotlb_sync(dom->domain, &gather);
	}
	report_mismatch(inst, gfn);
	drop_state(inst, &c->state[k]);
	coiommu_chunk_put(inst, gfn);
	coiommu_stat_add(&inst->stats.pinned_pages, -1);
	coiommu_account(inst, -1);
}

/*
 * Take every pinned page off @dom, which is leaving (its last device is
 * removed): our entries are unmapped; a page whose entry there is not ours
 * any more is leaked (leak_page()), since someone may have released its
 * pin. @dom is off the instance's list already.
 */
void coiommu_unmap_domain(struct coiommu_instance *inst,
			  struct coiommu_domain *dom)
{
	struct coiommu_run run = { .gfn = 0 };
	struct iommu_iotlb_gather gather;
	unsigned int i;
	bool bad = false;

	lockdep_assert_held(&inst->lock);
	iommu_iotlb_gather_init(&gather);
	while (coiommu_next_run(inst, &run, COIOMMU_GFN_END)) {
		for (i = 0; i < run.n; i++) {
			u8 *st = &run.chunk->state[run.k + i];

			if (unmap_ours(dom, gfn_iova(run.gfn + i),
				       PFN_PHYS(run.chunk->pfn[run.k + i]),
				       &gather))
				continue;
			/* NEW is free outside coiommu_pin(): a mark here. */
			*st |= COIOMMU_PS_NEW;
			bad = true;
		}
		cond_resched();
	}
	iommu_iotlb_sync(dom->domain, &gather);

	run = (struct coiommu_run){ .gfn = 0 };
	while (bad && coiommu_next_run(inst, &run, COIOMMU_GFN_END)) {
		for (i = 0; i < run.n; i++) {
			u8 *st = &run.chunk->state[run.k + i];

			if (!(*st & COIOMMU_PS_NEW))
				continue;
			*st &= ~COIOMMU_PS_NEW;
			/* May free the chunk: resume after this page. */
			leak_page(inst, run.gfn + i);
			run.n = i + 1;
			break;
		}
	}
}
