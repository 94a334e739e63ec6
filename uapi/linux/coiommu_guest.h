/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * The coIOMMU guest ABI: what a guest sees of the coIOMMU device, bit
 * compatible with the deployed coIOMMU (Documentation/guest-abi.rst).
 *
 * One definition for every side: the host module, the guest driver, VMMs
 * that emulate the device (libcoiommu, coiommu-vmm, QEMU), the tests and
 * the benchmarks include this file.
 */
#ifndef _UAPI_LINUX_COIOMMU_GUEST_H
#define _UAPI_LINUX_COIOMMU_GUEST_H

#include <linux/const.h>
#include <linux/types.h>

/* PCI identity. */
#define COIOMMU_PCI_VENDOR_ID	0x1234
#define COIOMMU_PCI_DEVICE_ID	0xabcd
#define COIOMMU_PCI_REVISION	0x10
#define COIOMMU_PCI_CLASS	0xffff00	/* class "other", subclass "other" */

/* BARs: 64-bit prefetchable memory, COIOMMU_BAR_SIZE bytes each. */
#define COIOMMU_BAR_REGS	0	/* registers and trigger bytes */
#define COIOMMU_BAR_NOTIFY	2	/* one __u64 notify slot per vCPU */
#define COIOMMU_BAR_ENDPOINTS	4	/* __u16 count, then __u16 BDFs */
#define COIOMMU_BAR_SIZE	0x2000

/* BAR0 registers (each __u64) and the per-vCPU trigger bytes. */
#define COIOMMU_REG_DTT_ROOT	0x00	/* write-once per activation */
#define COIOMMU_REG_CMD		0x08	/* reads 0 */
#define COIOMMU_REG_DTT_LEVEL	0x10	/* write-once per activation */
#define COIOMMU_REG_TRIGGER	0x18	/* + vCPU index: a write of any width */

/* Commands written to COIOMMU_REG_CMD. */
#define COIOMMU_CMD_DEACTIVATE	0
#define COIOMMU_CMD_ACTIVATE	1
#define COIOMMU_CMD_PARK	2	/* park the unpinner; parks nest */
#define COIOMMU_CMD_UNPARK	3

/*
 * The DMA Tracking Table: a radix tree by guest frame number (4 KiB
 * pages). A leaf table is one page of 1024 __u32 entries; an upper table
 * one page of 512 __u64 entries, each the guest physical address of the
 * next table | COIOMMU_DTT_PRESENT. The level count includes the leaf.
 */
#define COIOMMU_DTT_LEAF_BITS	10
#define COIOMMU_DTT_UPPER_BITS	9
#define COIOMMU_DTT_MAX_LEVEL	6
#define COIOMMU_DTT_PRESENT	_BITULL(0)
#define COIOMMU_DTT_ADDR_MASK	0x000ffffffffff000ULL

/* Leaf entry bits, updated atomically by both sides. */
#define COIOMMU_DTT_MAPCOUNT	0xffffU		/* live DMA mappings */
#define COIOMMU_DTT_ACCESSED	_BITUL(30)	/* set by the guest on map */
#define COIOMMU_DTT_PINNED	_BITUL(31)	/* set by the host only */

/*
 * Pin requests, written to a vCPU's notify slot before its trigger: one
 * page (its GFN and the endpoint's BDF), or a batch in guest memory.
 */
#define COIOMMU_REQ_BATCH	_BITULL(63)
#define COIOMMU_REQ_SINGLE(gfn, bdf) \
	((__u64)(gfn) << 16 | (__u16)(bdf))

/* The batch a COIOMMU_REQ_BATCH | gpa request points to (8-byte aligned). */
struct coiommu_batch {
	__u16 bdf;
	__u16 pad[3];
	__u64 nr_pages;
	__u64 gfn[];
};

#endif /* _UAPI_LINUX_COIOMMU_GUEST_H */
