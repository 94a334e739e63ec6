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
		if (!inst->guest.active &&
		    args.dtt_root == inst->guest.stale_root &&
		    !(args.flags & COIOMMU_COMMAND_NEW_ROOT))
			return -ESTALE;
		inst->guest.dtt_root = args.dtt_root;
		inst->guest.dtt_level = args.dtt_level;
		inst->guest.stale_root = 0;
		WRITE_ONCE(inst->guest.active, true);
		coiommu_schedule_scan(inst);
		return 0;
	case COIOMMU_CMD_DEACTIVATE:
		if (inst->guest.active)
			inst->guest.stale_root = inst->guest.dtt_root;
		WRITE_ONCE(inst->guest.active, false);
		return 0;
	case COIOMMU_CMD_PARK:
		if (inst->guest.parked == INT_MAX)
			return -EINVAL;
		WRITE_ONCE(inst->guest.parked, inst->guest.parked + 1);
		return 0;
	case COIOMMU_CMD_UNPARK:
		if (!inst->guest.parked)
			return -EINVAL;
		WRITE_ONCE(inst->guest.parked, inst->guest.parked - 1);
		return 0;
	default:
		return -EINVAL;
	}
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

static bool is_endpoint(struct coiommu_instance *inst, u16 bdf)
{
	struct coiommu_dev *d;

	list_for_each_entry(d, &inst->devs.list, node)
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
			    coiommu_dtt_set_pinned(leaf[i]))
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
			leaf[i] = coiommu_dtt_leaf_entry(inst, gfns[i]);
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
	struct coiommu_scratch *sc = &inst->scratch;
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
			if (!inst->guest.active || !is_endpoint(inst, hdr.bdf))
				return -ENODEV;
		}
		if (guest_read(inst, gpa + done * sizeof(u64), sc->req_gfns,
			       n * sizeof(u64)))
			return -EFAULT;
		find_leaves(inst, sc->req_gfns, sc->req_leaf, n);
		failed += pin_gfns(inst, sc->req_gfns, sc->req_leaf, n);
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
	u64 *slot = &inst->db.slots[bell->vcpu];
	int ret = -ENODEV;
	u64 req, ns;

	mutex_lock(&inst->lock);
	req = READ_ONCE(*slot);
	if (!req) {
		mutex_unlock(&inst->lock);
		return;
	}
	if (inst->guest.active && current->mm == inst->mm)
		ret = serve_request(inst, req);

	/* PINNED bits (atomic RMWs) before the completion. */
	smp_mb();
	WRITE_ONCE(*slot, 0);

	ns = ktime_get_ns() - READ_ONCE(bell->rung_ns);
	inst->stats.latency_hist[min_t(unsigned int,
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
