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

/* The device's layout is in <linux/coiommu_guest.h>. */
#define COIOMMU_MAX_SLOTS	(COIOMMU_BAR_SIZE / 8)	/* u64 slots of BAR2 */

/* Open /dev/coiommu and check the API version. */
int coiommu_open(void);
int coiommu_set_memory(int co, const struct coiommu_region *regions,
		       unsigned int nr);
int coiommu_add_vfio_device(int co, int device_fd, int group_fd, uint16_t bdf);
/*
 * Take the device added with guest BDF @bdf away (COIOMMU_REMOVE_DEVICE):
 * call it when VFIO asks for the device back (VFIO_PCI_REQ_IRQ_INDEX),
 * then close the VFIO device file and unmap its BARs.
 */
int coiommu_remove_device(int co, uint16_t bdf);
int coiommu_pin_range(int co, uint64_t gpa, uint64_t size);
int coiommu_unpin_range(int co, uint64_t gpa, uint64_t size);
int coiommu_get_stats(int co, struct coiommu_stats *st);
int coiommu_command(int co, uint32_t cmd, uint64_t dtt_root,
		    uint32_t dtt_level);
/* Set the background unpinner's period (ms; 0: off), keep the rest. */
int coiommu_set_unpin_period(int co, uint32_t period_ms);

/*
 * The rest of the uapi, for a VMM that needs more than the calls above.
 *
 * coiommu_command() with @flags: a VMM that emulates the register file
 * itself (not with struct coiommu_regs below) passes
 * COIOMMU_COMMAND_NEW_ROOT with an ACTIVATE whose root the guest wrote
 * anew since a DEACTIVATE.
 */
int coiommu_command_flags(int co, uint32_t cmd, uint64_t dtt_root,
			  uint32_t dtt_level, uint32_t flags);
/*
 * The whole unpinner policy (COIOMMU_SET_UNPIN_POLICY; crosvm's
 * unpin_interval and unpin_gen_threshold): @old_every or @pass_pages 0
 * keeps the current value.
 */
int coiommu_set_unpin_policy(int co, uint32_t period_ms, uint32_t old_every,
			     uint32_t pass_pages);
/*
 * Balloon inflation, free page reporting (COIOMMU_FORCE_UNPIN): release
 * the pinned pages of [@gpa, @gpa + @size) the guest does not map now.
 * @busy_bitmap, if not NULL, gets a bit set for every page that stays
 * pinned (DIV_ROUND_UP(@size / 4096, 64) words); *@released and *@busy,
 * if not NULL, the counts.
 */
int coiommu_force_unpin(int co, uint64_t gpa, uint64_t size,
			uint64_t *busy_bitmap, uint64_t *released,
			uint64_t *busy);

/*
 * The two halves of coiommu_attach_doorbells(), for a VMM whose memory
 * core registers the ioeventfds itself (QEMU's memory_region_add_eventfd):
 * hand the notify slots (@slots, the BAR2 backing) to the module once,
 * then each vCPU's eventfd.
 */
int coiommu_set_notify(int co, void *slots, unsigned int nr_vcpus);
int coiommu_set_doorbell(int co, unsigned int vcpu, int eventfd);

/* The doorbells of one VM: one eventfd per vCPU. */
struct coiommu_doorbells {
	unsigned int nr_vcpus;
	int vm_fd;
	uint64_t trigger_gpa;	/* BAR0 + COIOMMU_REG_TRIGGER */
	int mapped;		/* the ioeventfds are registered there */
	int *eventfds;
};

/*
 * Hand the notify slots (@slots: the VMM memory backing BAR2, also mapped
 * into the guest) to the module, and for every vCPU create an eventfd,
 * register it with KVM as an ioeventfd on its trigger byte of BAR0 at
 * @bar0_gpa, and hand it to the module as that vCPU's doorbell.
 *
 * The ioeventfds have length 0: KVM then matches a write of any width
 * (1, 2, 4 or 8 bytes) that starts at the trigger byte's address, as the
 * deployed device does. A write that starts at vCPU i's byte rings vCPU
 * i's doorbell only, whatever bytes it covers: the address decides.
 */
int coiommu_attach_doorbells(int co, struct coiommu_doorbells *db, int vm_fd,
			     uint64_t bar0_gpa, void *slots,
			     unsigned int nr_vcpus);
/*
 * The guest stopped decoding BAR0 (unmap) or placed it at @bar0_gpa (map):
 * move the ioeventfds. The module listens on the eventfds and does not
 * care where the trigger bytes are.
 */
int coiommu_doorbells_unmap(struct coiommu_doorbells *db);
int coiommu_doorbells_map(struct coiommu_doorbells *db, uint64_t bar0_gpa);
/* Unregister the ioeventfds and close the eventfds (when the VM ends). */
void coiommu_detach_doorbells(struct coiommu_doorbells *db);

/*
 * The BAR0 register file of the coIOMMU device as the deployed device
 * behaves (Documentation/guest-abi.rst), for a VMM that traps BAR0:
 *
 *  - registers take 8-byte aligned 8-byte accesses only; others are
 *    ignored (reads return 0);
 *  - dtt_root and dtt_level can each be written once: a write is taken
 *    while the register reads 0;
 *  - cmd reads 0; a write of it is a command, forwarded to the module;
 *  - ACTIVATE needs dtt_root and dtt_level; once active, ACTIVATE again
 *    does nothing;
 *  - DEACTIVATE (the deployed device ends the VM instead) stops the
 *    device and re-arms dtt_root and dtt_level: they read 0 again, and
 *    ACTIVATE is refused until the guest wrote both anew, so that a root
 *    the guest may have freed is never activated again;
 *  - a write to the trigger byte of a vCPU that has no doorbell (it
 *    reaches the VMM: no ioeventfd is there) completes that vCPU's notify
 *    slot, when BAR2 has one: the guest never waits for it.
 */
struct coiommu_regs {
	uint64_t dtt_root;
	uint64_t dtt_level;
	int active;
	int deactivated;	/* re-armed since: ACTIVATE has a new root */
	uint64_t *slots;	/* BAR2 backing, COIOMMU_MAX_SLOTS slots */
	int co;			/* /dev/coiommu */
	int last_error;		/* -errno of the last refused command */
};

/* A read of BAR0 at @off of @len bytes into @data. */
void coiommu_regs_read(struct coiommu_regs *r, uint64_t off, void *data,
		       unsigned int len);
/*
 * A write of BAR0. Returns 1 when it was a command the module took, 0
 * when there was nothing to forward, -errno when the command was refused
 * (by the rules above or by the module); the ABI has no error register:
 * a refused command does nothing.
 */
int coiommu_regs_write(struct coiommu_regs *r, uint64_t off,
		       const void *data, unsigned int len);

#endif /* LIBCOIOMMU_H */
