/* SPDX-License-Identifier: GPL-2.0 */
/*
 * coiommu_host: internal definitions shared by the module's files.
 */
#ifndef _COIOMMU_HOST_H
#define _COIOMMU_HOST_H

#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/types.h>

/**
 * struct coiommu_instance - one VM: the state behind one open /dev/coiommu
 * @id: unique number of the instance, shown in fdinfo and debugfs
 * @mm: address space of the opener (the VMM); grabbed, not pinned alive
 * @owner_tgid: thread group that opened the instance
 * @lock: serialises configuration ioctls on this instance
 */
struct coiommu_instance {
	u64 id;
	struct mm_struct *mm;
	pid_t owner_tgid;
	struct mutex lock;	/* configuration ioctls */
};

#endif /* _COIOMMU_HOST_H */
