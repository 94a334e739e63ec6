// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: pin guest memory on demand for VFIO-assigned devices.
 *
 * This file holds the character device /dev/coiommu, its file operations
 * and the ioctl interface (uapi/linux/coiommu.h). One open file is one
 * instance (one VM), bound to the address space of the process that
 * opened it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/coiommu.h>

#include "coiommu.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

static atomic64_t coiommu_next_id = ATOMIC64_INIT(0);

static void free_scratch(struct coiommu_instance *inst)
{
	kvfree(inst->scratch.pages);
	kvfree(inst->scratch.req_gfns);
	kvfree(inst->scratch.req_leaf);
	kvfree(inst->scratch.rel_gfns);
	kvfree(inst->reclaim.pages);
}

/* The arrays of struct coiommu_scratch and the reclaim list. */
static int alloc_scratch(struct coiommu_instance *inst)
{
	struct coiommu_scratch *sc = &inst->scratch;

	sc->pages = kvcalloc(COIOMMU_BATCH, sizeof(*sc->pages),
			     GFP_KERNEL_ACCOUNT);
	sc->req_gfns = kvcalloc(COIOMMU_BATCH, sizeof(*sc->req_gfns),
				GFP_KERNEL_ACCOUNT);
	sc->req_leaf = kvcalloc(COIOMMU_BATCH, sizeof(*sc->req_leaf),
				GFP_KERNEL_ACCOUNT);
	sc->rel_gfns = kvcalloc(COIOMMU_BATCH, sizeof(*sc->rel_gfns),
				GFP_KERNEL_ACCOUNT);
	inst->reclaim.pages = kvcalloc(COIOMMU_BATCH,
				       sizeof(*inst->reclaim.pages),
				       GFP_KERNEL_ACCOUNT);
	if (sc->pages && sc->req_gfns && sc->req_leaf && sc->rel_gfns &&
	    inst->reclaim.pages)
		return 0;
	free_scratch(inst);
	return -ENOMEM;
}

static int coiommu_open(struct inode *inode, struct file *file)
{
	struct coiommu_instance *inst;

	/* An instance pins memory of its opener: kernel threads have none. */
	if (!current->mm)
		return -EINVAL;

	inst = kzalloc(sizeof(*inst), GFP_KERNEL_ACCOUNT);
	if (!inst)
		return -ENOMEM;
	if (alloc_scratch(inst)) {
		kfree(inst);
		return -ENOMEM;
	}

	inst->id = atomic64_inc_return(&coiommu_next_id);
	mutex_init(&inst->lock);
	xa_init(&inst->idx.xa);
	INIT_LIST_HEAD(&inst->devs.list);
	INIT_LIST_HEAD(&inst->devs.domains);
	INIT_WORK(&inst->db.work, coiommu_work);
	coiommu_unpin_init(inst);
	inst->file = file;
	mmgrab(current->mm);
	inst->mm = current->mm;
	inst->task = get_task_struct(current->group_leader);
	inst->owner_tgid = task_tgid_nr(current);
	inst->lock_cap = capable(CAP_IPC_LOCK);
	file->private_data = inst;
	coiommu_debugfs_add(inst);
	coiommu_instance_list_add(inst);
	return 0;
}

/*
 * The last reference is gone: whatever the VMM closed before (VFIO
 * files, container) or whether it exited, unmap and unpin everything
 * while we still hold the device files that keep the domains alive.
 */
static int coiommu_release(struct inode *inode, struct file *file)
{
	struct coiommu_instance *inst = file->private_data;

	/* Out of the shrinker's reach; no more requests, no more scans. */
	coiommu_instance_list_del(inst);
	coiommu_detach_doorbells(inst);
	cancel_delayed_work_sync(&inst->unpinner.work);
	cancel_work_sync(&inst->reclaim.work);
	coiommu_debugfs_del(inst);

	mutex_lock(&inst->lock);
	coiommu_release_reclaimed(inst);
	coiommu_unpin_all(inst);
	coiommu_release_devices(inst);
	coiommu_free_index(inst);
	coiommu_free_memory_map(inst);
	coiommu_free_notify(inst);
	mutex_unlock(&inst->lock);

	put_task_struct(inst->task);
	mmdrop(inst->mm);
	mutex_destroy(&inst->lock);
	free_scratch(inst);
	kfree(inst);
	return 0;
}

/* Copy a range argument in and check it is well formed. */
static int get_range(void __user *arg, u64 *gfn, u64 *npages)
{
	struct coiommu_range r;
	int ret;

	ret = coiommu_copy_args(&r, sizeof(r), arg);
	if (ret)
		return ret;
	if (r.flags || !r.size || !PAGE_ALIGNED(r.gpa) ||
	    !PAGE_ALIGNED(r.size) || r.gpa + r.size < r.gpa)
		return -EINVAL;
	*gfn = r.gpa >> PAGE_SHIFT;
	*npages = r.size >> PAGE_SHIFT;
	return 0;
}

/* COIOMMU_PIN_RANGE (@pin) or COIOMMU_UNPIN_RANGE; refusals are counted. */
static long range_op(struct coiommu_instance *inst, void __user *arg, bool pin)
{
	u64 gfn, npages;
	long ret;

	ret = get_range(arg, &gfn, &npages);
	if (!ret)
		ret = coiommu_check_ram(inst, gfn, npages);
	if (!ret)
		ret = pin ? coiommu_pin(inst, gfn, npages, COIOMMU_PS_HELD,
					true) :
			    coiommu_vmm_unpin(inst, gfn, npages);
	if (ret)
		inst->stats.refused++;
	return ret;
}

static long pin_range(struct coiommu_instance *inst, void __user *arg)
{
	return range_op(inst, arg, true);
}

static long unpin_range(struct coiommu_instance *inst, void __user *arg)
{
	return range_op(inst, arg, false);
}

static long get_unpin_policy(struct coiommu_instance *inst, void __user *arg)
{
	return coiommu_unpin_policy(inst, COIOMMU_GET_UNPIN_POLICY, arg);
}

static long set_unpin_policy(struct coiommu_instance *inst, void __user *arg)
{
	return coiommu_unpin_policy(inst, COIOMMU_SET_UNPIN_POLICY, arg);
}

static long coiommu_get_stats(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_stats st = { 0 };
	u32 argsz, flags;

	if (get_user(argsz, (u32 __user *)arg) ||
	    get_user(flags, (u32 __user *)arg + 1))
		return -EFAULT;
	/* The first published layout ended with nr_domains. */
	if (argsz < offsetofend(struct coiommu_stats, nr_domains) || flags)
		return -EINVAL;

	st.argsz = sizeof(st);
	st.pinned_pages = inst->stats.pinned_pages;
	st.peak_pinned_pages = inst->stats.peak_pinned_pages;
	st.pins = inst->stats.pins;
	st.unpins = inst->stats.unpins;
	st.refused = inst->stats.refused;
	st.metadata_bytes = inst->stats.metadata_bytes;
	st.nr_devices = inst->devs.nr;
	st.nr_domains = inst->devs.nr_domains;
	st.requests = inst->stats.requests;
	st.served_task = inst->stats.served_task;
	st.served_worker = inst->stats.served_worker;
	st.refused_requests = inst->stats.refused_requests;
	st.unpins_vmm = inst->stats.unpins_by[COIOMMU_UNPIN_VMM];
	st.unpins_lazy = inst->stats.unpins_by[COIOMMU_UNPIN_LAZY];
	st.unpins_shrinker = inst->stats.unpins_by[COIOMMU_UNPIN_SHRINKER];
	st.unpins_forced = inst->stats.unpins_by[COIOMMU_UNPIN_FORCED];
	st.scans = inst->stats.scans;
	st.scanned_pages = inst->stats.scanned_pages;
	st.old_pages = inst->stats.old_pages;
	st.held_pages = inst->stats.held_pages;
	st.scan_ns = inst->stats.scan_ns;
	st.mismatches = inst->stats.mismatches;
	st.broken = inst->stats.broken;
	BUILD_BUG_ON(ARRAY_SIZE(st.latency_hist) != COIOMMU_LAT_BUCKETS);
	memcpy(st.latency_hist, inst->stats.latency_hist,
	       sizeof(st.latency_hist));
	return copy_to_user(arg, &st, min_t(size_t, argsz, sizeof(st))) ?
	       -EFAULT : 0;
}

typedef long (*coiommu_ioctl_fn)(struct coiommu_instance *inst,
				 void __user *arg);

static long coiommu_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct coiommu_instance *inst = file->private_data;
	coiommu_ioctl_fn fn;
	long ret;

	switch (cmd) {
	case COIOMMU_GET_API_VERSION:
		return COIOMMU_API_VERSION;
	case COIOMMU_SET_MEMORY_MAP:
		fn = coiommu_set_memory_map;
		break;
	case COIOMMU_ADD_DEVICE:
		fn = coiommu_add_device;
		break;
	case COIOMMU_REMOVE_DEVICE:
		fn = coiommu_remove_device;
		break;
	case COIOMMU_PIN_RANGE:
		fn = pin_range;
		break;
	case COIOMMU_UNPIN_RANGE:
		fn = unpin_range;
		break;
	case COIOMMU_GET_STATS:
		fn = coiommu_get_stats;
		break;
	case COIOMMU_SET_NOTIFY:
		fn = coiommu_set_notify;
		break;
	case COIOMMU_SET_DOORBELL:
		fn = coiommu_set_doorbell;
		break;
	case COIOMMU_COMMAND:
		fn = coiommu_command;
		break;
	case COIOMMU_GET_UNPIN_POLICY:
		fn = get_unpin_policy;
		break;
	case COIOMMU_SET_UNPIN_POLICY:
		fn = set_unpin_policy;
		break;
	case COIOMMU_FORCE_UNPIN:
		fn = coiommu_force_unpin;
		break;
	default:
		return -ENOTTY;
	}

	/* The instance pins its opener's memory, for its opener only. */
	if (current->mm != inst->mm)
		return -EPERM;

	mutex_lock(&inst->lock);
	ret = fn(inst, (void __user *)arg);
	mutex_unlock(&inst->lock);
	return ret;
}

static void coiommu_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct coiommu_instance *inst = file->private_data;

	seq_printf(m, "coiommu-instance:\t%llu\n", inst->id);
	seq_printf(m, "coiommu-owner-tgid:\t%d\n", inst->owner_tgid);
	seq_printf(m, "coiommu-pinned-pages:\t%llu\n",
		   READ_ONCE(inst->stats.pinned_pages));
}

static const struct file_operations coiommu_fops = {
	.owner		= THIS_MODULE,
	.open		= coiommu_open,
	.release	= coiommu_release,
	.unlocked_ioctl	= coiommu_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
	.show_fdinfo	= coiommu_show_fdinfo,
};

static struct miscdevice coiommu_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "coiommu",
	.fops	= &coiommu_fops,
	.mode	= 0600,
};

static int __init coiommu_init(void)
{
	int ret;

	ret = coiommu_index_init();
	if (ret)
		return ret;
	coiommu_debugfs_init();
	ret = coiommu_shrinker_init();
	if (ret)
		goto err_debugfs;
	ret = misc_register(&coiommu_misc);
	if (ret)
		goto err_shrinker;
	return 0;

err_shrinker:
	coiommu_shrinker_exit();
err_debugfs:
	coiommu_debugfs_exit();
	coiommu_index_exit();
	return ret;
}

static void __exit coiommu_exit(void)
{
	misc_deregister(&coiommu_misc);
	coiommu_shrinker_exit();
	coiommu_debugfs_exit();
	coiommu_index_exit();
}

module_init(coiommu_init);
module_exit(coiommu_exit);

MODULE_DESCRIPTION("coIOMMU host: on-demand pinning of guest memory for VFIO devices");
MODULE_AUTHOR("The coIOMMU developers");
MODULE_LICENSE("GPL");
