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

#include <linux/coiommu.h>

#include "libcoiommu.h"

#define CT_MODULE	"coiommu_host"
#define CT_PAGE		4096UL

/* ---- our module (ct_module.c) ---------------------------------------- */
int ct_module_load(void);	/* 0, or -errno; already loaded counts as 0 */
int ct_module_unload(void);	/* 0, or -errno */
bool ct_module_loaded(void);

/* ---- leak checks (ct_module.c) --------------------------------------- */
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
/* Wait up to @timeout_ms for ct_pins_outstanding(@base) == @want. */
long ct_pins_wait(const struct ct_pins *base, long want, int timeout_ms);
/* Wait up to @timeout_ms for our VmLck to be @kb; returns the last value. */
long ct_locked_vm_wait(long kb, int timeout_ms);

/* ---- kernel log (ct_kmsg.c) ------------------------------------------ */
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
/*
 * A DMAR fault for @iova requested by the edu device @bdf ("0000:00:04.0")
 * was logged since ct_kmsg_open.
 */
bool ct_kmsg_dmar_fault_dev(struct ct_kmsg *k, const char *bdf, uint64_t iova,
			    bool write, int timeout_ms);

/*
 * The Intel IOMMU driver rate-limits its fault handler to 10 messages per
 * 5 s, and one fault costs 3 of them (the status line, the record, and the
 * check that ends the loop): only 3 faults per 5 s reach the log. Before a
 * DMA that must fault, ct_dmar_pace() sleeps until the next one would be
 * logged; ct_dmar_account() records it afterwards. The state lives in
 * /tmp, shared by every test process of the VM.
 */
void ct_dmar_pace(void);
void ct_dmar_account(void);
/*
 * Count the current window as spent, from now: the next ct_dmar_pace()
 * waits for a whole window (a fault that was not logged).
 */
void ct_dmar_exhaust(void);

/* ---- edu DMA device through VFIO (ct_edu.c) -------------------------- */
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

/*
 * A DMA that must fault (see ct_edu_dma()): paced by ct_dmar_pace(), and
 * when no DMAR fault for @iova by @e shows within 3 s, repeated once after
 * a whole rate-limit window. *@logged tells whether the fault was logged.
 * Returns 0, or the error of ct_edu_dma().
 */
int ct_edu_dma_fault(struct ct_edu *e, struct ct_kmsg *k, uint64_t iova,
		     uint64_t buf_off, size_t len, bool to_ram, bool *logged);

/* type1 helpers */
int ct_vfio_map(int container, void *vaddr, uint64_t iova, uint64_t size);
int ct_vfio_unmap(int container, uint64_t iova, uint64_t size);

/*
 * Like ct_edu_open(), but retries for up to @timeout_ms while the group is
 * still busy (a previous user's files are being released).
 */
int ct_edu_open_retry(struct ct_edu *e, const char *bdf, int container,
		      int timeout_ms);
/* ---- /dev/coiommu (ct_co.c) ------------------------------------------ */
/*
 * Tests make every well-formed call through libcoiommu (coiommu_open(),
 * coiommu_set_memory(), coiommu_pin_range(), ...), as a VMM does; these
 * return 0 (or a value) on success and -errno on failure, so that tests
 * can compare with the errno lists of the uapi.
 */
/* Any ioctl, for arguments libcoiommu would not build: its value or -errno. */
int ct_co_ioctl(int fd, unsigned long cmd, void *arg);
/* Adds @e with its real PCI address as guest BDF. */
int ct_co_add_edu(int fd, const struct ct_edu *e);
/* A number from /proc/self/fdinfo/@fd ("coiommu-pinned-pages"), or -1. */
long ct_co_fdinfo(int fd, const char *key);
/* @key of /sys/kernel/debug/coiommu/<@instance>, or -1. */
long long ct_co_debugfs(long instance, const char *key);

/* ---- guest RAM of a test VMM (ct_ram.c) ------------------------------ */
/* The VMM address of guest physical @gpa in a memory map, or NULL. */
void *ct_gpa_to_hva(const struct coiommu_region *r, unsigned int nr,
		    uint64_t gpa);

/*
 * Anonymous private memory with an inaccessible guard page on each side;
 * ct_unmap_guarded() frees it. NULL on failure.
 */
void *ct_map_guarded(size_t size);
void ct_unmap_guarded(void *p, size_t size);

/*
 * Guest RAM of a test "VMM": one guarded anonymous arena carved into
 * regions (in any vaddr order), and a shadow copy of the arena holding
 * what it must contain. Tests update the shadow where a DMA must land and
 * compare the whole arena, so a stray byte anywhere is caught.
 */
#define CT_RAM_MAX_REGIONS	8

struct ct_ram {
	uint8_t *arena;
	uint8_t *shadow;
	size_t size;
	struct coiommu_region r[CT_RAM_MAX_REGIONS];
	unsigned int nr;
};

int ct_ram_init(struct ct_ram *g, size_t arena_size);
void ct_ram_free(struct ct_ram *g);
/* Region of @size bytes at guest @gpa, backed by arena + @arena_off. */
int ct_ram_add(struct ct_ram *g, uint64_t gpa, size_t arena_off,
	       size_t size);
/* Fill arena and shadow with the same pattern. */
void ct_ram_fill(struct ct_ram *g, uint32_t seed);
/* Arena / shadow address of @gpa, or NULL outside guest RAM. */
uint8_t *ct_ram_hva(struct ct_ram *g, uint64_t gpa);
uint8_t *ct_ram_shadow(struct ct_ram *g, uint64_t gpa);
/* Copy guest bytes out of the arena, page by page through the map. */
int ct_ram_read(struct ct_ram *g, uint64_t gpa, void *dst, size_t len);
/* Write guest bytes into both arena and shadow (the test's own stores). */
int ct_ram_write(struct ct_ram *g, uint64_t gpa, const void *src,
		 size_t len);
/* Record that a DMA must have written @src at @gpa (shadow only). */
int ct_ram_expect(struct ct_ram *g, uint64_t gpa, const void *src,
		  size_t len);
/* Offset of the first byte where arena and shadow differ, or -1. */
long ct_ram_diff(const struct ct_ram *g);
/* coiommu_set_memory() with the guest's regions. */
int ct_ram_set_map(struct ct_ram *g, int fd);

/* ---- checks made in a forked child (ct_util.c) ----------------------- */
/*
 * A child cannot use the harness' EXPECT_*: it sends each check to the
 * parent through a pipe and the parent asserts (ct_rec_collect() in
 * ct_fixture.h). The child ends with ct_rec_end() and _exit().
 */
struct ct_rec {
	char what[112];
	char op;		/* '=', '!' (differ), '>' (seen > expected), 'E' end */
	long long expected;
	long long seen;
};

void ct_rec_send(int fd, char op, long long expected, long long seen,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void ct_rec_end(int fd);
#define CT_REC_EQ(fd, expected, seen) \
	ct_rec_send(fd, '=', expected, seen, "%d: %s", __LINE__, #seen)
#define CT_REC_GT(fd, expected, seen) \
	ct_rec_send(fd, '>', expected, seen, "%d: %s", __LINE__, #seen)
#define CT_REC_NE(fd, expected, seen) \
	ct_rec_send(fd, '!', expected, seen, "%d: %s", __LINE__, #seen)

/* ---- misc (ct_util.c) ------------------------------------------------ */
int ct_write_file(const char *path, const char *s);
/* Read a small file, trailing newlines cut. 0 or -errno. */
int ct_read_file(const char *path, char *buf, size_t len);
/* The number after "@key@sep" on a line of @path, or -1. */
long long ct_file_value(const char *path, const char *key, char sep);
/* Deterministic pattern generator for DMA payloads. */
void ct_fill(void *buf, size_t len, uint32_t seed);
/* Milliseconds of CLOCK_MONOTONIC. */
long ct_now_ms(void);
/* "0000:00:04.0" -> bus << 8 | dev << 3 | fn, or -1. */
int ct_bdf_parse(const char *bdf);
/*
 * Drop capability @cap from the effective, permitted and inheritable sets
 * of the calling thread. 0 or -errno.
 */
int ct_cap_drop(int cap);
/* Is @cap in the calling thread's effective set? */
bool ct_cap_has(int cap);

/*
 * The nested guests of coiommu-vmm (ct_vmm.h) and of QEMU (ct_qemu.h) boot
 * the test VM's own kernel with a busybox initramfs (tools/vmm/mkguest.sh).
 * The kernel cache is shared read-only over 9p (tools/rig/vm.sh) rather
 * than packed into every test VM's initramfs: ct_vmm_mount_kernel()
 * mounts it once (0, or -1).
 */
#define CT_VMM_KERNEL	"/kernel/vmlinux"
#define CT_VMM_INITRD	"/vmm/guest.cpio"
int ct_vmm_mount_kernel(void);

#endif /* CT_H */
