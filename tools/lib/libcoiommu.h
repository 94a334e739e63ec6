/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * libcoiommu: attach a VM to the coIOMMU host module in a handful of calls.
 *
 *	int co = coiommu_open();
 *	coiommu_set_memory(co, regions, nr);           guest RAM
 *	coiommu_add_vfio_device(co, dev_fd, grp_fd, bdf);  each assigned device
 *	coiommu_attach_doorbells(co, &bells, vm_fd, bar0_gpa, slots, nr_vcpus);
 *	...
 *	coiommu_command(co, cmd, dtt_root, dtt_level);  on every guest cmd write
 *
 * Every function returns 0 (or a file descriptor) on success and -errno on
 * failure. Copy this file into a VMM or link it; it only wraps the ioctls
 * of uapi/linux/coiommu.h and KVM_IOEVENTFD.
 */
#ifndef LIBCOIOMMU_H
#define LIBCOIOMMU_H

#include <stdint.h>

#include <linux/coiommu.h>

/* BAR0 layout of the coIOMMU device (guest-visible ABI). */
#define COIOMMU_BAR0_DTT_ROOT	0x00
#define COIOMMU_BAR0_CMD	0x08
#define COIOMMU_BAR0_DTT_LEVEL	0x10
#define COIOMMU_BAR0_TRIGGER	0x18	/* + vCPU index, one byte each */

/* Open /dev/coiommu and check the API version. */
int coiommu_open(void);
int coiommu_set_memory(int co, const struct coiommu_region *regions,
		       unsigned int nr);
int coiommu_add_vfio_device(int co, int device_fd, int group_fd, uint16_t bdf);
int coiommu_pin_range(int co, uint64_t gpa, uint64_t size);
int coiommu_unpin_range(int co, uint64_t gpa, uint64_t size);
int coiommu_get_stats(int co, struct coiommu_stats *st);
int coiommu_command(int co, uint32_t cmd, uint64_t dtt_root,
		    uint32_t dtt_level);
/* Set the background unpinner's period (ms; 0: off), keep the rest. */
int coiommu_set_unpin_period(int co, uint32_t period_ms);

/* The doorbells of one VM: one eventfd per vCPU. */
struct coiommu_doorbells {
	unsigned int nr_vcpus;
	int vm_fd;
	uint64_t trigger_gpa;	/* BAR0 + COIOMMU_BAR0_TRIGGER */
	int *eventfds;
};

/*
 * Hand the notify slots (@slots: the VMM memory backing BAR2, also mapped
 * into the guest) to the module, and for every vCPU create an eventfd,
 * register it with KVM as an ioeventfd on its trigger byte of BAR0 at
 * @bar0_gpa, and hand it to the module as that vCPU's doorbell.
 */
int coiommu_attach_doorbells(int co, struct coiommu_doorbells *db, int vm_fd,
			     uint64_t bar0_gpa, void *slots,
			     unsigned int nr_vcpus);
/* Unregister the ioeventfds and close the eventfds (when the VM ends). */
void coiommu_detach_doorbells(struct coiommu_doorbells *db);

#endif /* LIBCOIOMMU_H */
