/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * coiommu-vmm: a small KVM-based VMM, the reference integration of
 * /dev/coiommu. Shared declarations of its parts:
 *
 *	vmm.c		options, the VM, vCPU threads, exits, live view
 *	boot.c		PVH boot of an ELF vmlinux, memory map, MP table
 *	serial.c	16550A UART at 0x3f8 (ttyS0), output to stdout
 *	pci.c		configuration mechanism #1, host bridge, BARs
 *	vfio.c		VFIO passthrough of a PCI device
 *	coiommu_dev.c	the coIOMMU device (PCI 1234:abcd)
 */
#ifndef VMM_H
#define VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KIB		1024ULL
#define MIB		(1024 * KIB)
#define GIB		(1024 * MIB)
#define PAGE_SIZE	4096ULL

#define MAX_VCPUS	16
#define MAX_PASSTHROUGH	8

/* Guest physical layout. */
#define RAM_MAX		(3 * GIB)	/* RAM is [0, ram_size), below the hole */
#define PCI_MMIO_BASE	0xc0000000ULL	/* BARs are placed from here */
#define PCI_MMIO_END	0xfec00000ULL
#define IOAPIC_BASE	0xfec00000ULL
#define LAPIC_BASE	0xfee00000ULL

/* Guest exit port (isa-debug-exit style): a byte written is the status. */
#define EXIT_PORT	0xf4

/* Exit statuses of the VMM besides the guest's own (0..119). */
#define VMM_EXIT_TIMEOUT	124	/* -t expired */
#define VMM_EXIT_RESET		125	/* reset/triple fault, no status */
#define VMM_EXIT_ERROR		126	/* the VMM failed */

/* KVM memory slots. */
enum {
	SLOT_RAM = 0,
	SLOT_COIOMMU_NOTIFY,
	SLOT_COIOMMU_TOPO,
	SLOT_BAR_FIRST,		/* passthrough BARs from here */
};

struct vcpu {
	struct vmm *vmm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
};

struct pci_dev;

struct vmm {
	int kvm;
	int vm;
	uint8_t *ram;
	uint64_t ram_size;
	unsigned int nr_vcpus;
	struct vcpu vcpus[MAX_VCPUS];
	size_t run_size;
	bool verbose;

	/* Devices: one lock for every emulated register access. */
	pthread_mutex_t lock;

	/* How the VM ends. */
	pthread_mutex_t done_lock;
	pthread_cond_t done_cond;
	bool done;
	int exit_status;

	/* Passthrough and coIOMMU. */
	int vfio_container;
	int coiommu;			/* /dev/coiommu fd, or -1 */
	unsigned int nr_passthrough;
	struct pci_dev *passthrough[MAX_PASSTHROUGH];
	struct pci_dev *coiommu_dev;
	int next_slot;			/* next free KVM memory slot */
};

/* vmm.c */
void vmm_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						   noreturn));
void vmm_log(struct vmm *vmm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* End the VM with @status (first caller wins). */
void vmm_exit(struct vmm *vmm, int status);
/* Add, move or remove (size 0) a KVM memory slot. */
int vmm_set_slot(struct vmm *vmm, int slot, uint64_t gpa, uint64_t size,
		 void *hva, bool readonly);
void vmm_irq_line(struct vmm *vmm, int irq, int level);

/* boot.c */
struct boot_args {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
};
/* Load the kernel and initrd, write the boot data; returns the entry. */
uint32_t boot_load(struct vmm *vmm, const struct boot_args *args,
		   uint32_t *start_info);
void boot_setup_bsp(struct vmm *vmm, struct vcpu *v, uint32_t entry,
		    uint32_t start_info);

/* serial.c */
void serial_init(struct vmm *vmm);
bool serial_pio(struct vmm *vmm, uint16_t port, uint8_t *data, bool write);
void serial_flush(void);

/* pci.c */
struct pci_bar {
	uint64_t size;		/* 0: not implemented */
	uint64_t addr;		/* as programmed by the guest */
	bool is64;
	bool prefetch;
	bool mapped;		/* currently decoded at addr */
	uint64_t mapped_addr;
};

struct pci_dev {
	struct vmm *vmm;
	uint8_t devfn;
	const char *name;
	uint8_t cfg[256];	/* emulated config space (IDs, class...) */
	uint16_t command;
	struct pci_bar bar[6];
	/* Config space beyond the emulated header fields; NULL: cfg[]. */
	uint32_t (*cfg_read)(struct pci_dev *d, unsigned int off,
			     unsigned int len);
	void (*cfg_write)(struct pci_dev *d, unsigned int off,
			  unsigned int len, uint32_t val);
	/* The command register changed (passthrough forwards it). */
	void (*command_write)(struct pci_dev *d, uint16_t val);
	/* BAR @i is now decoded at @addr (map) or no longer (unmap). */
	void (*bar_map)(struct pci_dev *d, int i, uint64_t addr, bool map);
	/* MMIO access to a trapped BAR; true when handled. */
	bool (*mmio)(struct pci_dev *d, int bar, uint64_t off, uint8_t *data,
		     unsigned int len, bool write);
	void *priv;
};

void pci_init(struct vmm *vmm);
/* Register @d at its devfn and place its BARs (as firmware would). */
void pci_add(struct vmm *vmm, struct pci_dev *d);
bool pci_pio(struct vmm *vmm, uint16_t port, uint8_t *data,
	     unsigned int len, bool write);
bool pci_mmio(struct vmm *vmm, uint64_t gpa, uint8_t *data,
	      unsigned int len, bool write);
void pci_set_id(struct pci_dev *d, uint16_t vendor, uint16_t device,
		uint8_t rev, uint32_t class);

/* vfio.c */
int vfio_container_open(struct vmm *vmm);
struct pci_dev *vfio_passthrough(struct vmm *vmm, const char *bdf,
				 uint8_t devfn);
/* Static pinning: VFIO_IOMMU_MAP_DMA of all guest RAM (no coIOMMU). */
int vfio_map_ram(struct vmm *vmm);
/* The VFIO device and group files of passthrough device @d. */
void vfio_files(struct pci_dev *d, int *device, int *group);
/*
 * Answer VFIO's device requests (VFIO_PCI_REQ_IRQ_INDEX: the host wants
 * a passthrough device back, e.g. its driver is being unbound): a thread
 * that takes the device away from coiommu_host and closes it.
 */
void vfio_start_req_thread(struct vmm *vmm);

/* coiommu_dev.c */
struct pci_dev *coiommu_dev_create(struct vmm *vmm, uint8_t devfn);
/* After every passthrough device was added: hand them to the module. */
void coiommu_dev_attach(struct vmm *vmm);
/* COIOMMU_REMOVE_DEVICE of passthrough device @pt: 0 or -errno. */
int coiommu_dev_remove(struct vmm *vmm, struct pci_dev *pt);
void coiommu_dev_stats_line(struct vmm *vmm, double t, bool final);
void coiommu_dev_destroy(struct vmm *vmm);

#endif /* VMM_H */
