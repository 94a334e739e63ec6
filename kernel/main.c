// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: pin guest memory on demand for VFIO-assigned devices.
 *
 * This file holds the character device /dev/coiommu and its file
 * operations. One open file is one instance (one VM), bound to the
 * address space of the process that opened it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include <linux/coiommu.h>

#include "coiommu.h"

static atomic64_t coiommu_next_id = ATOMIC64_INIT(0);

static int coiommu_open(struct inode *inode, struct file *file)
{
	struct coiommu_instance *inst;

	/* An instance pins memory of its opener: kernel threads have none. */
	if (!current->mm)
		return -EINVAL;

	inst = kzalloc(sizeof(*inst), GFP_KERNEL_ACCOUNT);
	if (!inst)
		return -ENOMEM;

	inst->id = atomic64_inc_return(&coiommu_next_id);
	mutex_init(&inst->lock);
	mmgrab(current->mm);
	inst->mm = current->mm;
	inst->owner_tgid = task_tgid_nr(current);
	file->private_data = inst;
	return 0;
}

static int coiommu_release(struct inode *inode, struct file *file)
{
	struct coiommu_instance *inst = file->private_data;

	mmdrop(inst->mm);
	mutex_destroy(&inst->lock);
	kfree(inst);
	return 0;
}

static long coiommu_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	switch (cmd) {
	case COIOMMU_GET_API_VERSION:
		return COIOMMU_API_VERSION;
	default:
		return -ENOTTY;
	}
}

static void coiommu_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct coiommu_instance *inst = file->private_data;

	seq_printf(m, "coiommu-instance:\t%llu\n", inst->id);
	seq_printf(m, "coiommu-owner-tgid:\t%d\n", inst->owner_tgid);
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
	return misc_register(&coiommu_misc);
}

static void __exit coiommu_exit(void)
{
	misc_deregister(&coiommu_misc);
}

module_init(coiommu_init);
module_exit(coiommu_exit);

MODULE_DESCRIPTION("coIOMMU host: on-demand pinning of guest memory for VFIO devices");
MODULE_AUTHOR("The coIOMMU developers");
MODULE_LICENSE("GPL");
