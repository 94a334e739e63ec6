/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the coIOMMU selftests. They run inside the test VM as
 * root: loading our module, reading the pin and locked_vm counters for leak
 * checks, watching the kernel log, and driving QEMU's edu DMA device
 * through VFIO.
 */
#ifndef CT_H
#define CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CT_MODULE	"coiommu_host"
#define CT_PAGE		4096UL

/* ---- our module ------------------------------------------------------ */
int ct_module_load(void);	/* 0, or -errno; already loaded counts as 0 */
int ct_module_unload(void);	/* 0, or -errno */
bool ct_module_loaded(void);

/* ---- leak checks ----------------------------------------------------- */
struct ct_pins {
	unsigned long acquired;	/* /proc/vmstat nr_foll_pin_acquired */
	unsigned long released;	/* /proc/vmstat nr_foll_pin_released */
};

/* Folds the per-CPU vmstat deltas first (stat_refresh), then reads. */
int ct_pins_read(struct ct_pins *p);
/* Pins taken since @base and not yet released (0 when nothing leaked). */
long ct_pins_outstanding(const struct ct_pins *base);
/* VmLck of a process in KiB, or -1. */
long ct_locked_vm_kb(pid_t pid);

/* ---- kernel log ------------------------------------------------------ */
struct ct_kmsg {
	int fd;
};

/* Start watching: later reads see only records logged after this call. */
int ct_kmsg_open(struct ct_kmsg *k);
void ct_kmsg_close(struct ct_kmsg *k);
/*
 * Wait up to @timeout_ms for a record containing every one of the
 * NULL-terminated strings. Returns true when one was logged.
 */
bool ct_kmsg_wait(struct ct_kmsg *k, int timeout_ms, ...);
/* A DMAR fault for @iova (write or read) was logged since ct_kmsg_open. */
bool ct_kmsg_dmar_fault(struct ct_kmsg *k, uint64_t iova, bool write,
			int timeout_ms);

/* ---- edu DMA device through VFIO ------------------------------------- */
#define CT_EDU_VENDOR	0x1234
#define CT_EDU_DEVICE	0x11e8
#define CT_EDU_BUF	0x40000UL	/* device-internal DMA buffer */
#define CT_EDU_DMA_MAX	4095UL		/* QEMU 7.2 aborts on 4096 */

struct ct_edu {
	char bdf[32];
	int group_id;
	int container;		/* owned only if own_container */
	bool own_container;
	int group;
	int device;
	volatile uint8_t *bar0;
	size_t bar0_size;
	uint64_t cfg_offset;	/* config space region offset in device fd */
};

/* Fill @bdf with up to @max edu devices in bus order; returns the count. */
int ct_edu_list(char bdf[][32], int max);
/* Bind to vfio-pci (idempotent). */
int ct_edu_bind_vfio(const char *bdf);
/*
 * Open the device through VFIO. With @container < 0 a new type1 container
 * is created and owned by @e; otherwise the group joins @container.
 * Enables bus mastering (vfio-pci does not).
 */
int ct_edu_open(struct ct_edu *e, const char *bdf, int container);
void ct_edu_close(struct ct_edu *e);
/* Close only the device fd (the group and container stay). */
void ct_edu_close_device(struct ct_edu *e);
uint32_t ct_edu_ident(struct ct_edu *e);
/*
 * One DMA between guest-visible IOVA @iova and the device buffer at
 * CT_EDU_BUF + @buf_off. @to_ram: device to RAM (a DMA write to memory).
 * Returns 0 when the engine finished, -ETIMEDOUT otherwise. A DMA to an
 * unmapped IOVA also "finishes"; only memory contents and the DMAR log
 * tell whether it reached memory.
 */
int ct_edu_dma(struct ct_edu *e, uint64_t iova, uint64_t buf_off,
	       size_t len, bool to_ram);

/* type1 helpers */
int ct_vfio_map(int container, void *vaddr, uint64_t iova, uint64_t size);
int ct_vfio_unmap(int container, uint64_t iova, uint64_t size);

/* ---- misc ------------------------------------------------------------ */
int ct_write_file(const char *path, const char *s);
/* Deterministic pattern generator for DMA payloads. */
void ct_fill(void *buf, size_t len, uint32_t seed);

#endif /* CT_H */
