/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * coIOMMU host interface: /dev/coiommu
 *
 * One open file of /dev/coiommu is one VM ("instance"). A VMM uses it to
 * hand the kernel everything needed to pin guest pages on demand for the
 * devices it assigned to the guest through VFIO.
 *
 * Conventions, as in VFIO:
 *  - ioctls without an argument return their result as the return value;
 *  - every argument structure starts with __u32 argsz (the size the caller
 *    filled in) and __u32 flags; the kernel rejects flags it does not know
 *    with -EINVAL and an argsz smaller than the structure's minimal size
 *    with -EINVAL, so structures can grow at their end.
 *
 * See Documentation/uapi.rst for the full description of every ioctl.
 */
#ifndef _UAPI_LINUX_COIOMMU_H
#define _UAPI_LINUX_COIOMMU_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define COIOMMU_API_VERSION	1

#define COIOMMU_TYPE		0xC1
#define COIOMMU_BASE		0x00

/**
 * COIOMMU_GET_API_VERSION - _IO(COIOMMU_TYPE, COIOMMU_BASE + 0)
 *
 * Return: COIOMMU_API_VERSION. Never fails; a VMM checks it before any
 * other call and refuses to run if the value differs from the one it was
 * built for.
 */
#define COIOMMU_GET_API_VERSION	_IO(COIOMMU_TYPE, COIOMMU_BASE + 0)

#endif /* _UAPI_LINUX_COIOMMU_H */
