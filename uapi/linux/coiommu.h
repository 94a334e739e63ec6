/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * coIOMMU host interface: /dev/coiommu
 *
 * One open file of /dev/coiommu is one VM ("instance"). A VMM uses it to
 * hand the kernel what it needs to pin guest pages on demand for the
 * devices it assigned to the guest through VFIO: the guest memory map and
 * the VFIO devices. Pinned pages are mapped at IOVA = guest physical
 * address into the IOMMU domain of every added device.
 *
 * Conventions, as in VFIO:
 *  - every argument structure starts with __u32 argsz (the size the caller
 *    filled in) and __u32 flags;
 *  - argsz smaller than the structure's first published size: -EINVAL;
 *  - flags the kernel does not know, or a reserved field that is not 0:
 *    -EINVAL;
 *  - argsz larger than the structure the kernel knows: the extra bytes
 *    of an input structure must be 0, else -E2BIG (so structures can grow
 *    at their end);
 *  - output structures (COIOMMU_GET_STATS) are filled up to argsz, or up
 *    to the size the kernel knows if that is smaller, and argsz is set to
 *    the size the kernel knows; bytes past it are left alone.
 *
 * An instance belongs to the process that opened it: an ioctl other than
 * COIOMMU_GET_API_VERSION made from another address space (another
 * process, or a child after fork) fails with -EPERM. Closing the last
 * reference of the file, or exit of the VMM, unmaps and unpins everything
 * and returns the locked_vm charge.
 *
 * Documentation/uapi.rst describes every ioctl and its errors.
 */
#ifndef _UAPI_LINUX_COIOMMU_H
#define _UAPI_LINUX_COIOMMU_H

#include <linux/const.h>
#include <linux/coiommu_guest.h>
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

/**
 * struct coiommu_region - one range of guest RAM
 * @gpa: guest physical address, page aligned
 * @size: bytes, page aligned, not 0
 * @vaddr: where the VMM maps it, page aligned
 * @flags: must be 0
 */
struct coiommu_region {
	__u64 gpa;
	__u64 size;
	__u64 vaddr;
	__u64 flags;
};

#define COIOMMU_MAX_REGIONS	64
#define COIOMMU_MAX_GPA		_BITULL(52)
#define COIOMMU_MAX_RAM		_BITULL(44)	/* bytes, all regions together */

/**
 * COIOMMU_SET_MEMORY_MAP - _IO(COIOMMU_TYPE, COIOMMU_BASE + 1)
 *
 * struct coiommu_memory_map followed by @nr_regions struct coiommu_region;
 * argsz covers both. Replaces the guest memory map. Regions may be given
 * in any order; they must not overlap in guest physical space, must lie
 * below COIOMMU_MAX_GPA, and each must be fully mapped in the VMM's
 * address space when the call is made.
 *
 * Errors: -EINVAL (argsz, flags, pad, nr_regions 0 or above
 * COIOMMU_MAX_REGIONS, unaligned, empty, overlapping or out-of-range
 * region), -ENOSPC (the regions add up to more than COIOMMU_MAX_RAM),
 * -EFAULT (a region is not mapped in the VMM), -EBUSY (pages are pinned),
 * -ENOMEM. The kernel memory an instance uses follows the pages it pins,
 * not the RAM it declares.
 */
struct coiommu_memory_map {
	__u32 argsz;
	__u32 flags;
	__u32 nr_regions;
	__u32 pad;
	struct coiommu_region regions[];
};

#define COIOMMU_SET_MEMORY_MAP	_IO(COIOMMU_TYPE, COIOMMU_BASE + 1)

/**
 * COIOMMU_ADD_DEVICE - _IO(COIOMMU_TYPE, COIOMMU_BASE + 2)
 *
 * Add a device assigned to the guest. @device_fd is a VFIO device file
 * (from VFIO_GROUP_GET_DEVICE_FD) and @group_fd the VFIO group file it
 * came from; the group must be attached to a container with a type1 IOMMU.
 * @bdf is the device's address on the guest's PCI bus (bus << 8 | dev << 3
 * | fn), as guests name it in their pin requests.
 *
 * The instance keeps its own reference to the device file until it is
 * closed, which keeps the group in its container and the IOMMU domain
 * alive. Every page pinned now or later is mapped into the device's
 * domain; devices that share a domain share the mappings.
 *
 * The VMM must not map guest RAM into that container with
 * VFIO_IOMMU_MAP_DMA: a pinned page whose IOVA is already mapped there
 * makes the pin (or this call, when it replays the pinned pages into a new
 * domain) fail with -EEXIST.
 *
 * Errors: -EINVAL (argsz, flags, pad; @group_fd not a VFIO group;
 * @device_fd not a VFIO device file of that group), -EBADF (either fd is
 * not open), -ENODEV (the device is not in a type1 IOMMU domain), -EEXIST
 * (the device or @bdf is already added; or an IOVA conflict, above),
 * -ENOSPC (COIOMMU_MAX_DEVICES reached), -ENOMEM.
 */
struct coiommu_device {
	__u32 argsz;
	__u32 flags;
	__s32 device_fd;
	__s32 group_fd;
	__u16 bdf;
	__u16 pad[3];
};

#define COIOMMU_ADD_DEVICE	_IO(COIOMMU_TYPE, COIOMMU_BASE + 2)
#define COIOMMU_MAX_DEVICES	32

/**
 * struct coiommu_range - a range of guest physical addresses
 * @gpa: page aligned
 * @size: bytes, page aligned, not 0
 */
struct coiommu_range {
	__u32 argsz;
	__u32 flags;
	__u64 gpa;
	__u64 size;
};

/**
 * COIOMMU_PIN_RANGE - _IO(COIOMMU_TYPE, COIOMMU_BASE + 3)
 *
 * Pin every page of the range and map it at IOVA = GPA, read and write,
 * into every device's domain, and hold it: the VMM's pins are never
 * dropped by the guest's tracking, only by COIOMMU_UNPIN_RANGE. Pages
 * already pinned are not pinned again. All or nothing: on failure the
 * pages this call pinned are released again. Each pinned page is charged
 * to the VMM's locked_vm and limited by RLIMIT_MEMLOCK unless the opener
 * had CAP_IPC_LOCK.
 *
 * Errors: -EINVAL (argsz, flags, unaligned or empty range, overflow),
 * -ERANGE (not all of the range is guest RAM), -ENODEV (no device added),
 * -ENOMEM (RLIMIT_MEMLOCK, or out of memory), -EFAULT (the VMM's mapping
 * of a page is gone or cannot be pinned), -EEXIST (IOVA already mapped in
 * a domain by someone else), -EINTR (fatal signal), -EPERM.
 */
#define COIOMMU_PIN_RANGE	_IO(COIOMMU_TYPE, COIOMMU_BASE + 3)

/**
 * COIOMMU_UNPIN_RANGE - _IO(COIOMMU_TYPE, COIOMMU_BASE + 4)
 *
 * Drop the VMM's hold on every page of the range. Each pinned page that
 * the guest does not track is unmapped from every domain (the IOTLB is
 * flushed before the page is released), unpinned, and its locked_vm
 * charge returned. Once the guest activated the device, a page is
 * released only by the unpin rule (its DTT entry is exactly PINNED and
 * becomes 0, or it has no DTT entry), and not at all while the guest has
 * parked the unpinner; a page the guest still maps or recently accessed
 * stays pinned for the guest, under the unpinner's care. Pages of the
 * range that are not pinned are skipped.
 *
 * Errors: -EINVAL (argsz, flags, unaligned or empty range, overflow),
 * -ERANGE (not all of the range is guest RAM), -EPERM.
 */
#define COIOMMU_UNPIN_RANGE	_IO(COIOMMU_TYPE, COIOMMU_BASE + 4)

/**
 * struct coiommu_stats - counters of one instance
 * @pinned_pages: pages pinned now
 * @peak_pinned_pages: most pages pinned at once
 * @pins: pages pinned, since the instance was opened
 * @unpins: pages unpinned, since the instance was opened
 * @refused: COIOMMU_PIN_RANGE and COIOMMU_UNPIN_RANGE calls refused
 * @metadata_bytes: kernel memory of the index of pinned pages
 * @nr_devices: devices added
 * @nr_domains: distinct IOMMU domains among them
 * @requests: guest requests served (each slot completion counts one)
 * @served_task: of those, served in the ringing vCPU thread (task work)
 * @served_worker: of those, served by the instance's worker
 * @refused_requests: guest requests refused in whole or in part
 * @unpins_vmm: pages unpinned by COIOMMU_UNPIN_RANGE
 * @unpins_lazy: pages unpinned by the background unpinner
 * @unpins_shrinker: pages unpinned under host memory pressure
 * @unpins_forced: pages unpinned by COIOMMU_FORCE_UNPIN
 * @scans: passes of the unpinner
 * @scanned_pages: pinned pages the unpinner looked at
 * @old_pages: pinned pages now in the old generation
 * @held_pages: pinned pages held by COIOMMU_PIN_RANGE
 * @latency_hist: guest requests by time from doorbell to completion:
 *	[0] below 1 us, [i] from 2^(i-1) to 2^i us, [15] 16384 us or more
 * @scan_ns: time the unpinner and the shrinker spent in passes, ns
 * @mismatches: pinned pages whose IOMMU entry in some domain was not the
 *	page the instance recorded when it pinned it (someone else, such as
 *	VFIO_IOMMU_MAP_DMA, mapped over it or unmapped it): such a page is
 *	taken off the domains where it is still ours and its pin is leaked,
 *	even after the instance is closed, rather than released, since the
 *	other party may have released it already; its locked_vm charge is
 *	returned
 * @broken: 1 once a mismatch was seen; the instance keeps serving, but
 *	the VMM broke the rule of COIOMMU_ADD_DEVICE
 * @pad: 0
 */
struct coiommu_stats {
	__u32 argsz;
	__u32 flags;
	__u64 pinned_pages;
	__u64 peak_pinned_pages;
	__u64 pins;
	__u64 unpins;
	__u64 refused;
	__u64 metadata_bytes;
	__u32 nr_devices;
	__u32 nr_domains;
	__u64 requests;
	__u64 served_task;
	__u64 served_worker;
	__u64 refused_requests;
	__u64 unpins_vmm;
	__u64 unpins_lazy;
	__u64 unpins_shrinker;
	__u64 unpins_forced;
	__u64 scans;
	__u64 scanned_pages;
	__u64 old_pages;
	__u64 held_pages;
	__u64 latency_hist[16];
	__u64 scan_ns;
	__u64 mismatches;
	__u32 broken;
	__u32 pad;
};

/**
 * COIOMMU_GET_STATS - _IO(COIOMMU_TYPE, COIOMMU_BASE + 5)
 *
 * Fill struct coiommu_stats up to argsz; argsz is set to the size the
 * kernel knows. The first published layout ended with @nr_domains: argsz
 * must cover at least that much. Errors: -EINVAL (argsz too small,
 * flags), -EFAULT, -EPERM.
 */
#define COIOMMU_GET_STATS	_IO(COIOMMU_TYPE, COIOMMU_BASE + 5)

/*
 * Guest pin requests (Documentation/guest-abi.rst). The VMM emulates the
 * coIOMMU PCI device; the guest's requests are served in the kernel:
 *
 *  - BAR2, the notify slots: one __u64 per vCPU in VMM memory that the
 *    VMM also maps into the guest (COIOMMU_SET_NOTIFY);
 *  - BAR0 trigger bytes: the VMM registers one KVM_IOEVENTFD per vCPU on
 *    BAR0 + 0x18 + vcpu (len 0: a write of any width starting there; no
 *    datamatch) and hands each eventfd to COIOMMU_SET_DOORBELL;
 *  - BAR4, the endpoints: the guest BDFs of COIOMMU_ADD_DEVICE;
 *  - BAR0 cmd register: the VMM forwards the guest's commands, with
 *    dtt_root and dtt_level, through COIOMMU_COMMAND.
 */

#define COIOMMU_MAX_VCPUS	1024	/* 0x2000 bytes of BAR2 */

/**
 * COIOMMU_SET_NOTIFY - _IO(COIOMMU_TYPE, COIOMMU_BASE + 6)
 *
 * @slots_vaddr: VMM address of the notify slots (BAR2 backing), 8-byte
 * aligned, @nr_vcpus * 8 bytes, writable. Those pages stay pinned (and
 * charged to locked_vm) until the instance is closed. Once per instance.
 *
 * Errors: -EINVAL (argsz, flags, pad, nr_vcpus 0 or above
 * COIOMMU_MAX_VCPUS, misaligned), -EFAULT (not mapped writable), -EBUSY
 * (already set), -ENOMEM (RLIMIT_MEMLOCK), -EPERM.
 */
struct coiommu_notify {
	__u32 argsz;
	__u32 flags;
	__u32 nr_vcpus;
	__u32 pad;
	__u64 slots_vaddr;
};

#define COIOMMU_SET_NOTIFY	_IO(COIOMMU_TYPE, COIOMMU_BASE + 6)

/**
 * COIOMMU_SET_DOORBELL - _IO(COIOMMU_TYPE, COIOMMU_BASE + 7)
 *
 * @eventfd is signalled when vCPU @vcpu writes its trigger byte (a
 * KVM_IOEVENTFD the VMM registered). When it is signalled by the ringing
 * vCPU thread, the request is served in that thread before it re-enters
 * the guest; when signalled from elsewhere (another process, a kernel
 * thread), by a worker of the instance. The instance keeps its own
 * reference to the eventfd; closing it in the VMM detaches the doorbell.
 *
 * Errors: -EINVAL (argsz, flags, @vcpu >= nr_vcpus, not an eventfd),
 * -EBADF, -ENXIO (COIOMMU_SET_NOTIFY not done), -EEXIST (the vCPU has a
 * doorbell), -EPERM.
 */
struct coiommu_doorbell {
	__u32 argsz;
	__u32 flags;
	__u32 vcpu;
	__s32 eventfd;
};

#define COIOMMU_SET_DOORBELL	_IO(COIOMMU_TYPE, COIOMMU_BASE + 7)

/*
 * The guest's commands (COIOMMU_CMD_*) and the DTT's geometry
 * (COIOMMU_DTT_MAX_LEVEL): <linux/coiommu_guest.h>.
 */

/**
 * COIOMMU_COMMAND - _IO(COIOMMU_TYPE, COIOMMU_BASE + 8)
 *
 * Forward a write of the guest to the cmd register. ACTIVATE takes
 * @dtt_root (guest physical address of the top table: page aligned, in
 * guest RAM) and @dtt_level (1 to COIOMMU_DTT_MAX_LEVEL); other commands
 * require both to be 0. Until activated, and after DEACTIVATE, every
 * request is refused (the slot is still completed). DEACTIVATE keeps
 * what is pinned: only COIOMMU_UNPIN_RANGE or closing the instance
 * releases those pages then. UNPARK without a PARK fails.
 *
 * After DEACTIVATE, an ACTIVATE with the root of the activation it ended
 * fails with -ESTALE unless @flags has COIOMMU_COMMAND_NEW_ROOT: the
 * guest may have freed that table and reused its page (a guest driver
 * unbound and probed again). A VMM sets the flag only when the guest
 * wrote dtt_root again since its DEACTIVATE (the register is write-once
 * per activation, Documentation/guest-abi.rst).
 *
 * Errors: -EINVAL (argsz, unknown flags, unknown command, bad level,
 * unaligned root, non-zero root/level/flags for other commands, UNPARK
 * below 0), -ERANGE (root outside guest RAM), -ESTALE (above), -EPERM.
 */
struct coiommu_command {
	__u32 argsz;
	__u32 flags;
	__u32 cmd;
	__u32 dtt_level;
	__u64 dtt_root;
};

#define COIOMMU_COMMAND_NEW_ROOT	_BITUL(0)	/* with ACTIVATE */

#define COIOMMU_COMMAND		_IO(COIOMMU_TYPE, COIOMMU_BASE + 8)

/**
 * struct coiommu_unpin_policy - the background unpinner of an instance
 * @period_ms: a pass every @period_ms milliseconds; 0 turns it off
 * @old_every: a page found busy in @old_every passes in a row moves to
 *	the old generation, which is looked at every @old_every-th sweep
 *	only (1 to 15)
 * @pass_pages: at most this many pinned pages are looked at per pass
 *	(a sweep over all pinned pages may take several passes), at least 1
 * @pad: must be 0
 *
 * New instances start with the module parameters unpin_period_ms,
 * unpin_old_every and unpin_pass_pages.
 */
struct coiommu_unpin_policy {
	__u32 argsz;
	__u32 flags;
	__u32 period_ms;
	__u32 old_every;
	__u32 pass_pages;
	__u32 pad;
};

/* Errors: -EINVAL (argsz, flags, pad, values out of range), -EPERM. */
#define COIOMMU_GET_UNPIN_POLICY _IO(COIOMMU_TYPE, COIOMMU_BASE + 9)
#define COIOMMU_SET_UNPIN_POLICY _IO(COIOMMU_TYPE, COIOMMU_BASE + 10)

/**
 * COIOMMU_FORCE_UNPIN - _IO(COIOMMU_TYPE, COIOMMU_BASE + 11)
 *
 * For balloon inflation and free page reporting: release every pinned
 * page of [@gpa, @gpa + @size) that the guest does not map now, whether
 * it accessed it recently or not (the DTT entry has map count 0: PINNED
 * and ACCESSED are replaced by 0 atomically), and every page the guest
 * does not track; the VMM's hold is dropped too. Pages the guest still
 * maps stay pinned and are reported (their ACCESSED is cleared), and so
 * is every pinned page of the range while the guest has parked the
 * unpinner (the DTT is not read then: nothing is released) or when its
 * DTT entry cannot be read: bit i of the bitmap at @busy_bitmap (if not
 * 0: 8-byte aligned, DIV_ROUND_UP(@size / 4096, 64) __u64 words, written
 * in full) is set when page @gpa + i * 4096 stays pinned.
 *
 * @nr_released and @nr_busy are set on return.
 *
 * Errors: -EINVAL (argsz, flags, unaligned or empty range), -ERANGE (not
 * guest RAM), -EFAULT (@busy_bitmap not writable), -EPERM.
 */
struct coiommu_force_unpin {
	__u32 argsz;
	__u32 flags;
	__u64 gpa;
	__u64 size;
	__u64 busy_bitmap;
	__u64 nr_released;
	__u64 nr_busy;
};

#define COIOMMU_FORCE_UNPIN	_IO(COIOMMU_TYPE, COIOMMU_BASE + 11)

/**
 * struct coiommu_remove_device - a device to take away from the instance
 * @bdf: the guest BDF it was added with
 * @pad: must be 0
 */
struct coiommu_remove_device {
	__u32 argsz;
	__u32 flags;
	__u16 bdf;
	__u16 pad[3];
};

/**
 * COIOMMU_REMOVE_DEVICE - _IO(COIOMMU_TYPE, COIOMMU_BASE + 12)
 *
 * Take a device added by COIOMMU_ADD_DEVICE away: when it was the last
 * device of its IOMMU domain, every pinned page is unmapped from that
 * domain; then the instance drops its reference to the device file. The
 * pages stay pinned for the other devices. A VMM calls it when VFIO asks
 * for the device back (VFIO_DEVICE_REQ_IRQ_INDEX: the host driver is
 * being unbound, or the device hot-unplugged), before it closes its own
 * device file; guest requests naming @bdf are refused from then on.
 *
 * Errors: -EINVAL (argsz, flags, pad), -ENOENT (no device with @bdf),
 * -EPERM.
 */
#define COIOMMU_REMOVE_DEVICE	_IO(COIOMMU_TYPE, COIOMMU_BASE + 12)

#endif /* _UAPI_LINUX_COIOMMU_H */
