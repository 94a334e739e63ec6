// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: the bottom layer, helpers that every mechanism calls and
 * that call nothing of the module's: copying an ioctl's argument in,
 * charging locked_vm, and the names of the causes of unpins.
 */
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "coiommu.h"

const char * const coiommu_cause_names[COIOMMU_NR_CAUSES] = {
	[COIOMMU_UNPIN_VMM]		= "vmm",
	[COIOMMU_UNPIN_LAZY]		= "lazy",
	[COIOMMU_UNPIN_SHRINKER]	= "shrinker",
	[COIOMMU_UNPIN_FORCED]		= "forced",
	[COIOMMU_UNPIN_CLOSE]		= "close",
};

/**
 * coiommu_copy_args - copy in an argument structure that starts with argsz
 * @karg: where to
 * @ksize: the structure's size as the kernel knows it (also its minimum)
 * @arg: the user's structure
 *
 * Return: 0; -EINVAL if argsz is below @ksize; -E2BIG if it is above and
 * the extra bytes are not all 0; -EFAULT.
 */
int coiommu_copy_args(void *karg, size_t ksize, void __user *arg)
{
	u32 argsz;

	if (get_user(argsz, (u32 __user *)arg))
		return -EFAULT;
	if (argsz < ksize)
		return -EINVAL;
	return copy_struct_from_user(karg, ksize, arg, argsz);
}

/*
 * Charge (@npages > 0) or return (< 0) locked_vm of the VMM. Never called
 * from reclaim: the shrinker leaves the return to coiommu_release_reclaimed().
 */
int coiommu_account(struct coiommu_instance *inst, long npages)
{
	int ret;

	if (!npages)
		return 0;
	mmap_write_lock(inst->mm);
	ret = __account_locked_vm(inst->mm, abs(npages), npages > 0,
				  inst->task, inst->lock_cap);
	mmap_write_unlock(inst->mm);
	return ret;
}
