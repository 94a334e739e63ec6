/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * coiommu_bench_floor: the floor of benchmark P1 (tools/bench/kmod/).
 * Shared by the module and the benchmark program.
 */
#ifndef BENCH_FLOOR_H
#define BENCH_FLOOR_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BENCH_FLOOR_DEV		"/dev/coiommu_bench_floor"
#define BENCH_FLOOR_MAX		4096

/**
 * struct bench_floor_run - one run of the floor loop
 * @argsz: sizeof(struct bench_floor_run)
 * @bdf: PCI address (segment 0) of a device attached to an IOMMU domain
 *	(bus << 8 | devfn), e.g. the edu device bound to vfio-pci and put in
 *	a type1 container by the caller
 * @nr: iterations (at most BENCH_FLOOR_MAX)
 * @flags: BENCH_FLOOR_COLD: flush the TLB before each iteration (untimed),
 *	as a VM exit does under TCG, which flushes its software TLB on every
 *	switch between a nested guest and its host
 * @uaddr: caller's address of the first page, page aligned
 * @iova: IOVA of the first page, page aligned; must be unmapped
 * @stride: bytes between the pages of two iterations (0: the same page)
 * @ns: caller's address of @nr __u64: the ns of each iteration
 *
 * Iteration i pins the page at @uaddr + i * @stride (FOLL_WRITE |
 * FOLL_LONGTERM, under mmap_read_lock) and maps it at @iova + i * @stride
 * (read, write) in the device's domain: only that is timed (ktime). Then,
 * untimed, the page is unmapped (IOTLB flushed) and unpinned.
 */
struct bench_floor_run {
	__u32 argsz;
	__u32 bdf;
	__u32 nr;
	__u32 flags;
	__u64 uaddr;
	__u64 iova;
	__u64 stride;
	__u64 ns;
};

#define BENCH_FLOOR_COLD	1

#define BENCH_FLOOR_RUN		_IOW(0xC2, 0, struct bench_floor_run)

#endif /* BENCH_FLOOR_H */
