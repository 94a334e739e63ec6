// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * Boot a Linux vmlinux through its PVH entry point: the physical address in
 * the ELF note XEN_ELFNOTE_PHYS32_ENTRY, entered in 32-bit protected mode
 * with paging off and %ebx pointing at a struct hvm_start_info (Xen's
 * documented PVH boot ABI, xen/include/public/arch-x86/hvm/start_info.h)
 * that carries the memory map, the command line and the initramfs as the
 * first module.
 *
 * There is no firmware and no ACPI: for more than one vCPU an Intel
 * MultiProcessor Specification 1.4 table describes the CPUs, the I/O APIC
 * and the ISA interrupts.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

#define XEN_ELFNOTE_PHYS32_ENTRY	18
#define XEN_HVM_START_MAGIC_VALUE	0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;	/* 1: memmap fields valid */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;		/* E820 types: 1 RAM, 2 reserved */
	uint32_t reserved;
};

#define E820_RAM	1
#define E820_RESERVED	2

/* Boot data in low memory (below the kernel's 16 MiB load address). */
#define START_INFO_GPA	0x6000
#define MODLIST_GPA	0x6100
#define MEMMAP_GPA	0x6200
#define CMDLINE_GPA	0x7000
#define CMDLINE_MAX	2048	/* COMMAND_LINE_SIZE of x86 */
#define EBDA_START	0x9fc00
#define BIOS_START	0xf0000	/* the MP table lives here */
#define HIGH_START	0x100000

static void *map_file(const char *path, size_t *size)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		vmm_die("%s: %s", path, strerror(errno));
	if (fstat(fd, &st))
		vmm_die("%s: %s", path, strerror(errno));
	*size = st.st_size;
	if (!st.st_size)
		vmm_die("%s: empty", path);
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		vmm_die("mmap %s: %s", path, strerror(errno));
	close(fd);
	return p;
}

static void *gpa_ptr(struct vmm *vmm, uint64_t gpa, uint64_t len)
{
	if (gpa > vmm->ram_size || len > vmm->ram_size - gpa)
		vmm_die("guest range 0x%llx+0x%llx is outside RAM (%llu MiB)",
			(unsigned long long)gpa, (unsigned long long)len,
			(unsigned long long)(vmm->ram_size / MIB));
	return vmm->ram + gpa;
}

/* Find the PVH entry among the notes of one PT_NOTE segment. */
static bool pvh_note(const uint8_t *p, size_t len, uint32_t *entry)
{
	size_t off = 0;

	while (off + sizeof(Elf64_Nhdr) <= len) {
		const Elf64_Nhdr *n = (const void *)(p + off);
		size_t name_off = off + sizeof(*n);
		size_t desc_off = name_off + ((n->n_namesz + 3) & ~3u);
		size_t next = desc_off + ((n->n_descsz + 3) & ~3u);

		if (next > len || next <= off)
			return false;
		if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY &&
		    n->n_namesz == 4 && !memcmp(p + name_off, "Xen", 4) &&
		    (n->n_descsz == 4 || n->n_descsz == 8)) {
			uint32_t v;

			memcpy(&v, p + desc_off, 4);	/* little endian */
			*entry = v;
			return true;
		}
		off = next;
	}
	return false;
}

/* Load the PT_LOAD segments at their physical addresses. */
static uint32_t load_elf(struct vmm *vmm, const char *path, uint64_t *end)
{
	const Elf64_Ehdr *eh;
	const uint8_t *img;
	uint32_t entry = 0;
	bool found = false;
	size_t size;
	int i;

	img = map_file(path, &size);
	eh = (const void *)img;
	if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != EM_X86_64)
		vmm_die("%s: not an x86-64 ELF vmlinux (bzImage is not supported: use the uncompressed vmlinux)",
			path);
	if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size)
		vmm_die("%s: bad program headers", path);

	*end = 0;
	for (i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph =
			(const Elf64_Phdr *)(img + eh->e_phoff) + i;

		if (ph->p_offset > size || ph->p_filesz > size - ph->p_offset ||
		    ph->p_filesz > ph->p_memsz)
			vmm_die("%s: segment %d lies outside the file", path, i);
		if (ph->p_type == PT_NOTE && !found)
			found = pvh_note(img + ph->p_offset, ph->p_filesz,
					 &entry);
		if (ph->p_type != PT_LOAD)
			continue;
		memcpy(gpa_ptr(vmm, ph->p_paddr, ph->p_memsz),
		       img + ph->p_offset, ph->p_filesz);
		memset(vmm->ram + ph->p_paddr + ph->p_filesz, 0,
		       ph->p_memsz - ph->p_filesz);
		if (ph->p_paddr + ph->p_memsz > *end)
			*end = ph->p_paddr + ph->p_memsz;
	}
	munmap((void *)img, size);
	if (!found)
		vmm_die("%s: no PVH entry point (ELF note XEN_ELFNOTE_PHYS32_ENTRY): kernel built without CONFIG_PVH?",
			path);
	return entry;
}

/* ---- MP table (Intel MultiProcessor Specification 1.4) ---------------- */

struct mpf {			/* floating pointer */
	char signature[4];	/* "_MP_" */
	uint32_t physptr;
	uint8_t length;		/* in 16-byte units */
	uint8_t specrev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mpc {			/* configuration table header */
	char signature[4];	/* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t count;
	uint32_t lapic;
	uint16_t extlen;
	uint8_t extchecksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type;		/* 0 */
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;	/* bit 0 enabled, bit 1 BSP */
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type;		/* 1 */
	uint8_t busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type;		/* 2 */
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;		/* bit 0 usable */
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc {
	uint8_t type;		/* 3: I/O interrupt, 4: local interrupt */
	uint8_t irqtype;	/* 0 INT, 1 NMI, 2 SMI, 3 ExtINT */
	uint16_t irqflag;	/* 0: conforms to the bus */
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
} __attribute__((packed));

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return -s;
}

static void write_mptable(struct vmm *vmm)
{
	uint8_t *base = gpa_ptr(vmm, BIOS_START, 0x10000);
	struct mpf *mpf = (void *)base;
	struct mpc *mpc = (void *)(base + sizeof(*mpf));
	uint8_t *p = (uint8_t *)(mpc + 1);
	uint8_t ioapic_id = vmm->nr_vcpus;
	unsigned int i, count = 0;

	memset(base, 0, 0x1000);
	for (i = 0; i < vmm->nr_vcpus; i++) {
		struct mpc_cpu *c = (void *)p;

		c->type = 0;
		c->apicid = i;
		c->apicver = 0x14;
		c->cpuflag = 1 | (i == 0 ? 2 : 0);
		c->cpufeature = 0x600;		/* family 6 */
		c->featureflag = 0x201;		/* FPU, APIC */
		p += sizeof(*c);
		count++;
	}
	((struct mpc_bus *)p)->type = 1;
	((struct mpc_bus *)p)->busid = 0;
	memcpy(((struct mpc_bus *)p)->bustype, "PCI   ", 6);
	p += sizeof(struct mpc_bus);
	((struct mpc_bus *)p)->type = 1;
	((struct mpc_bus *)p)->busid = 1;
	memcpy(((struct mpc_bus *)p)->bustype, "ISA   ", 6);
	p += sizeof(struct mpc_bus);
	count += 2;

	((struct mpc_ioapic *)p)->type = 2;
	((struct mpc_ioapic *)p)->apicid = ioapic_id;
	((struct mpc_ioapic *)p)->apicver = 0x11;
	((struct mpc_ioapic *)p)->flags = 1;
	((struct mpc_ioapic *)p)->apicaddr = IOAPIC_BASE;
	p += sizeof(struct mpc_ioapic);
	count++;

	/*
	 * ISA IRQ n on I/O APIC pin n: KVM's default routing sends GSI n
	 * (the PIT's 0 included) to pin n of its I/O APIC.
	 */
	for (i = 0; i < 16; i++) {
		struct mpc_intsrc *s = (void *)p;

		if (i == 2)
			continue;
		s->type = 3;
		s->irqtype = 0;
		s->srcbus = 1;
		s->srcbusirq = i;
		s->dstapic = ioapic_id;
		s->dstirq = i;
		p += sizeof(*s);
		count++;
	}
	/* LINT0: ExtINT (8259), LINT1: NMI, on every CPU. */
	for (i = 0; i < 2; i++) {
		struct mpc_intsrc *s = (void *)p;

		s->type = 4;
		s->irqtype = i ? 1 : 3;
		s->srcbus = 1;
		s->dstapic = 0xff;
		s->dstirq = i;
		p += sizeof(*s);
		count++;
	}

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = p - (uint8_t *)mpc;
	mpc->spec = 4;
	memcpy(mpc->oem, "COIOMMU ", 8);
	memcpy(mpc->product, "coiommu-vmm ", 12);
	mpc->count = count;
	mpc->lapic = LAPIC_BASE;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = BIOS_START + sizeof(*mpf);
	mpf->length = 1;
	mpf->specrev = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
}

uint32_t boot_load(struct vmm *vmm, const struct boot_args *args,
		   uint32_t *start_info)
{
	struct hvm_memmap_table_entry *mm;
	struct hvm_modlist_entry *mod;
	struct hvm_start_info *si;
	uint64_t kend, initrd_gpa = 0;
	size_t initrd_size = 0;
	unsigned int n = 0;
	uint32_t entry;

	entry = load_elf(vmm, args->kernel, &kend);

	if (args->initrd) {
		void *img = map_file(args->initrd, &initrd_size);
		uint64_t top = vmm->ram_size < 0x80000000ULL ?
			       vmm->ram_size : 0x80000000ULL;

		if (initrd_size > top)
			vmm_die("%s does not fit in guest RAM", args->initrd);
		/* As high as possible, like a boot loader does. */
		initrd_gpa = (top - initrd_size) & ~(PAGE_SIZE - 1);
		if (initrd_gpa < kend)
			vmm_die("kernel and %s do not fit in %llu MiB of guest RAM",
				args->initrd,
				(unsigned long long)(vmm->ram_size / MIB));
		memcpy(gpa_ptr(vmm, initrd_gpa, initrd_size), img,
		       initrd_size);
		munmap(img, initrd_size);
	}

	if (strlen(args->cmdline) >= CMDLINE_MAX)
		vmm_die("kernel command line longer than %d bytes",
			CMDLINE_MAX - 1);
	strcpy(gpa_ptr(vmm, CMDLINE_GPA, CMDLINE_MAX), args->cmdline);

	mm = gpa_ptr(vmm, MEMMAP_GPA, 8 * sizeof(*mm));
	mm[n++] = (struct hvm_memmap_table_entry){
		.addr = 0, .size = EBDA_START, .type = E820_RAM };
	mm[n++] = (struct hvm_memmap_table_entry){
		.addr = EBDA_START, .size = 0xa0000 - EBDA_START,
		.type = E820_RESERVED };
	mm[n++] = (struct hvm_memmap_table_entry){
		.addr = BIOS_START, .size = HIGH_START - BIOS_START,
		.type = E820_RESERVED };
	mm[n++] = (struct hvm_memmap_table_entry){
		.addr = HIGH_START, .size = vmm->ram_size - HIGH_START,
		.type = E820_RAM };
	/* The I/O APIC and local APIC pages. */
	mm[n++] = (struct hvm_memmap_table_entry){
		.addr = IOAPIC_BASE, .size = 0x1000, .type = E820_RESERVED };
	mm[n++] = (struct hvm_memmap_table_entry){
		.addr = LAPIC_BASE, .size = 0x1000, .type = E820_RESERVED };

	mod = gpa_ptr(vmm, MODLIST_GPA, sizeof(*mod));
	mod->paddr = initrd_gpa;
	mod->size = initrd_size;

	si = gpa_ptr(vmm, START_INFO_GPA, sizeof(*si));
	memset(si, 0, sizeof(*si));
	si->magic = XEN_HVM_START_MAGIC_VALUE;
	si->version = 1;
	si->nr_modules = args->initrd ? 1 : 0;
	si->modlist_paddr = MODLIST_GPA;
	si->cmdline_paddr = CMDLINE_GPA;
	si->memmap_paddr = MEMMAP_GPA;
	si->memmap_entries = n;

	write_mptable(vmm);

	vmm_log(vmm, "kernel %s: PVH entry 0x%x, image ends at 0x%llx; initrd %zu bytes at 0x%llx",
		args->kernel, entry, (unsigned long long)kend, initrd_size,
		(unsigned long long)initrd_gpa);
	*start_info = START_INFO_GPA;
	return entry;
}

static void flat_segment(struct kvm_segment *s, uint8_t type, uint16_t sel)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

/* PVH machine state: 32-bit flat protected mode, paging off. */
void boot_setup_bsp(struct vmm *vmm, struct vcpu *v, uint32_t entry,
		    uint32_t start_info)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	(void)vmm;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs))
		vmm_die("KVM_GET_SREGS: %s", strerror(errno));
	flat_segment(&sregs.cs, 0xb, 0x10);	/* execute/read, accessed */
	flat_segment(&sregs.ds, 0x3, 0x18);	/* read/write, accessed */
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.type = 0xb;			/* 32-bit busy TSS */
	sregs.tr.limit = 0x67;
	sregs.tr.present = 1;
	sregs.tr.selector = 0x20;
	sregs.cr0 = 0x11;			/* PE, ET */
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs))
		vmm_die("KVM_SET_SREGS: %s", strerror(errno));

	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rbx = start_info;
	regs.rflags = 2;
	if (ioctl(v->fd, KVM_SET_REGS, &regs))
		vmm_die("KVM_SET_REGS: %s", strerror(errno));
}
