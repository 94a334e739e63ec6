// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: the guest's commands and pin requests.
 *
 * Guest memory is hostile. Every value read from it (slot, batch header,
 * GFN list, DTT entries) is read once, checked, and never followed outside
 * guest RAM. DTT pages are looked up anew for every request: the guest may
 * free and reuse them. The notify slot is completed (set to 0) whatever
 * happens, so a guest never waits forever.
 *
 * Runs with current->mm == the VMM's mm: in the ringing vCPU thread, or
 * in the worker after kthread_use_mm().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>

#include <linux/coiommu.h>

#include "coiommu.h"
#include "compat.h"
#include "trace.h"

long coiommu_command(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_command args;
	int ret;

	ret = coiommu_copy_args(&args, sizeof(args), arg);
	if (ret)
		return ret;
	if (args.flags & ~COIOMMU_COMMAND_NEW_ROOT)
		return -EINVAL;
	if (args.cmd != COIOMMU_CMD_ACTIVATE &&
	    (args.dtt_root || args.dtt_level || args.flags))
		return -EINVAL;

	switch (args.cmd) {
	case COIOMMU_CMD_ACTIVATE:
		if (!args.dtt_level || args.dtt_level > COIOMMU_DTT_MAX_LEVEL ||
		    !args.dtt_root || !PAGE_ALIGNED(args.dtt_root))
			return -EINVAL;
		if (args.dtt_root >= COIOMMU_MAX_GPA ||
		    coiommu_check_ram(inst, args.dtt_root >> PAGE_SHIFT, 1))
			return -ERANGE;
		/*
		 * The root of an activation that DEACTIVATE ended may be a
		 * page the guest has freed and reused since (a driver unbound
		 * and probed again): not walked again unless the VMM tells
		 * us the guest wrote it anew.
		 */
		if (!inst->active && args.dtt_root == inst->stale_root &&
		    !(args.flags & COIOMMU_COMMAND_NEW_ROOT))
			return -ESTALE;
		inst->dtt_root = args.dtt_root;
		inst->dtt_level = args.dtt_level;
		inst->stale_root = 0;
		inst->active = true;
		coiommu_schedule_scan(inst);
		return 0;
	case COIOMMU_CMD_DEACTIVATE:
		if (inst->active)
			inst->stale_root = inst->dtt_root;
		inst->active = false;
		return 0;
	case COIOMMU_CMD_PARK:
		if (inst->parked == INT_MAX)
			return -EINVAL;
		inst->parked++;
		return 0;
	case COIOMMU_CMD_UNPARK:
		if (!inst->parked)
			return -EINVAL;
		inst->parked--;
		return 0;
	default:
		return -EINVAL;
	}
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

/* Copy @len bytes of guest memory at @gpa, page by page. */
static int guest_read(struct coiommu_instance *inst, u64 gpa, void *buf,
		      size_t len)
{
	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE - (gpa & ~PAGE_MASK));
		unsigned long hva = coiommu_gpa_to_hva(inst, gpa, n);

		if (!hva || copy_from_user(buf, (void __user *)hva, n))
			return -EFAULT;
		gpa += n;
		buf += n;
		len -= n;
	}
	return 0;
}

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
	unsigned int level = inst->dtt_level;
	unsigned int bits = COIOMMU_DTT_LEAF_BITS + COIOMMU_DTT_UPPER_BITS * (level - 1);
	u64 table = inst->dtt_root;
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
static unsigned long dtt_leaf_entry(struct coiommu_instance *inst, u64 gfn)
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
static int dtt_set_pinned(unsigned long hva)
{
	struct page *page;
	void *kaddr;

#ifdef unsafe_try_cmpxchg_user
	u32 __user *p = (u32 __user *)hva;
	unsigned int tries = 8;
	u32 old;

	if (user_access_begin(p, sizeof(*p))) {
		unsafe_get_user(old, p, fault);
		while (tries--) {
			if (unsafe_try_cmpxchg_user(p, &old, old | COIOMMU_DTT_PINNED,
						    fault)) {
				user_access_end();
				return 0;
			}
		}
fault:
		user_access_end();
	}
#endif
	if (get_user_pages_fast(hva & PAGE_MASK, 1, FOLL_WRITE, &page) != 1)
		return -EFAULT;
	kaddr = kmap_local_page(page);
	atomic_or(COIOMMU_DTT_PINNED, (atomic_t *)(kaddr + offset_in_page(hva)));
	kunmap_local(kaddr);
	put_page(page);
	return 0;
}

static bool is_endpoint(struct coiommu_instance *inst, u16 bdf)
{
	struct coiommu_dev *d;

	list_for_each_entry(d, &inst->devices, node)
		if (d->bdf == bdf)
			return true;
	return false;
}

/*
 * Pin the GFNs of @gfns whose @leaf is known (consecutive GFNs pinned as
 * one run) and tell the guest through PINNED. Returns how many failed.
 */
static unsigned int pin_gfns(struct coiommu_instance *inst, const u64 *gfns,
			     const unsigned long *leaf, unsigned int n)
{
	unsigned int i = 0, j, failed = 0;

	while (i < n) {
		if (!leaf[i]) {
			failed++;
			i++;
			continue;
		}
		for (j = i + 1; j < n && leaf[j] && gfns[j] == gfns[j - 1] + 1;)
			j++;
		/* Failures show as pages left unpinned, checked below. */
		coiommu_pin(inst, gfns[i], j - i, 0, false);
		for (; i < j; i++) {
			if (!coiommu_is_pinned(inst, gfns[i]) ||
			    dtt_set_pinned(leaf[i]))
				failed++;
		}
	}
	return failed;
}

/* Look up the leaf entries of @n GFNs; 0 for those refused. */
static void find_leaves(struct coiommu_instance *inst, const u64 *gfns,
			unsigned long *leaf, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		leaf[i] = 0;
		if (gfns[i] < COIOMMU_MAX_GPA >> PAGE_SHIFT &&
		    coiommu_find_ram(inst, gfns[i]))
			leaf[i] = dtt_leaf_entry(inst, gfns[i]);
	}
}

/*
 * A batch of any length, as the deployed device serves them: the guest
 * driver puts every unpinned page of one DMA mapping into one batch. The
 * list is read and served COIOMMU_BATCH entries at a time, with the lock
 * dropped in between so that other vCPUs are served meanwhile; it ends
 * where the list leaves guest RAM. A hostile length only costs the time
 * of the vCPU that asked, and a fatal signal ends it.
 */
static int serve_batch(struct coiommu_instance *inst, u64 gpa)
{
	struct coiommu_batch hdr;
	unsigned int failed = 0;
	u64 done, n;

	if (!IS_ALIGNED(gpa, 8) || guest_read(inst, gpa, &hdr, sizeof(hdr)))
		return -EFAULT;
	if (!is_endpoint(inst, hdr.bdf))
		return -ENODEV;
	gpa += sizeof(hdr);

	for (done = 0; done < hdr.nr_pages; done += n) {
		n = min_t(u64, hdr.nr_pages - done, COIOMMU_BATCH);
		if (done) {
			mutex_unlock(&inst->lock);
			cond_resched();
			mutex_lock(&inst->lock);
			if (fatal_signal_pending(current))
				return -EINTR;
			if (!inst->active || !is_endpoint(inst, hdr.bdf))
				return -ENODEV;
		}
		if (guest_read(inst, gpa + done * sizeof(u64), inst->req_gfns,
			       n * sizeof(u64)))
			return -EFAULT;
		find_leaves(inst, inst->req_gfns, inst->req_leaf, n);
		failed += pin_gfns(inst, inst->req_gfns, inst->req_leaf, n);
	}
	return failed ? -EFAULT : 0;
}

static int serve_request(struct coiommu_instance *inst, u64 req)
{
	u64 gfn = req >> 16;
	unsigned long leaf;

	if (req & COIOMMU_REQ_BATCH)
		return serve_batch(inst, req & ~COIOMMU_REQ_BATCH);
	if (!is_endpoint(inst, req & 0xffff))
		return -ENODEV;
	find_leaves(inst, &gfn, &leaf, 1);
	return pin_gfns(inst, &gfn, &leaf, 1) ? -EFAULT : 0;
}

/**
 * coiommu_serve - serve the request in the notify slot of @bell's vCPU
 * @bell: the doorbell that rang
 * @path: who serves it, for the statistics
 *
 * Whatever happens, the slot ends as 0 once every PINNED bit the request
 * earned is visible.
 */
void coiommu_serve(struct coiommu_bell *bell, enum coiommu_path path)
{
	struct coiommu_instance *inst = bell->inst;
	u64 *slot = &inst->slots[bell->vcpu];
	int ret = -ENODEV;
	u64 req, ns;

	mutex_lock(&inst->lock);
	req = READ_ONCE(*slot);
	if (!req) {
		mutex_unlock(&inst->lock);
		return;
	}
	if (inst->active && current->mm == inst->mm)
		ret = serve_request(inst, req);

	/* PINNED bits (atomic RMWs) before the completion. */
	smp_mb();
	WRITE_ONCE(*slot, 0);

	ns = ktime_get_ns() - READ_ONCE(bell->rung_ns);
	inst->stats.lat_hist[min_t(unsigned int,
				   ns < NSEC_PER_USEC ? 0 : ilog2(ns / NSEC_PER_USEC) + 1,
				   COIOMMU_LAT_BUCKETS - 1)]++;
	trace_coiommu_request(inst->id, bell->vcpu, req, ret, ns);
	if (ret)
		trace_coiommu_refuse(inst->id, bell->vcpu, req, ret);
	inst->stats.requests++;
	if (path == COIOMMU_PATH_TASK)
		inst->stats.served_task++;
	else
		inst->stats.served_worker++;
	if (ret)
		inst->stats.refused_requests++;
	mutex_unlock(&inst->lock);
}
