// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The coIOMMU device (Documentation/guest-abi.rst): PCI 1234:abcd rev 0x10,
 * class 0xffff00 (class and subclass "other"), three 64-bit prefetchable
 * memory BARs of 8 KiB, as the deployed device:
 *
 *	BAR0	registers, trapped here (libcoiommu's register file): dtt_root
 *		(0x00), cmd (0x08), dtt_level (0x10); from 0x18 one trigger
 *		byte per vCPU, each a KVM ioeventfd that coiommu_host listens
 *		to (never trapped; a trigger of a vCPU the VM does not have
 *		reaches us and completes its slot)
 *	BAR2	notify slots: memory shared by guest, VMM and coiommu_host
 *	BAR4	topology: u16 count, u16 BDF per endpoint (read-only memory)
 *
 * The VMM's whole part of the protocol is here: the PCI shell, the
 * register file, and the wiring through libcoiommu. Pinning never
 * involves this process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "libcoiommu.h"
#include "vmm.h"

struct coiommu_dev {
	struct coiommu_regs regs;	/* BAR0 */
	uint8_t *notify;	/* BAR2 backing */
	uint8_t *topo;		/* BAR4 backing */
	struct coiommu_doorbells db;
	bool attached;
	uint64_t bar0;		/* where the ioeventfds are */
	bool bar0_mapped;
};

static void co_bar_map(struct pci_dev *d, int i, uint64_t addr, bool map)
{
	struct coiommu_dev *c = d->priv;
	struct vmm *vmm = d->vmm;
	int ret = 0;

	switch (i) {
	case COIOMMU_BAR_REGS:
		/* Trapped; the doorbells follow the BAR when it moves. */
		if (c->attached)
			ret = map ? coiommu_doorbells_map(&c->db, addr) :
				    coiommu_doorbells_unmap(&c->db);
		c->bar0 = addr;
		c->bar0_mapped = map;
		break;
	case COIOMMU_BAR_NOTIFY:
		ret = vmm_set_slot(vmm, SLOT_COIOMMU_NOTIFY, addr,
				   map ? COIOMMU_BAR_SIZE : 0, c->notify, false);
		break;
	case COIOMMU_BAR_ENDPOINTS:
		ret = vmm_set_slot(vmm, SLOT_COIOMMU_TOPO, addr,
				   map ? COIOMMU_BAR_SIZE : 0, c->topo, true);
		break;
	}
	if (ret)
		vmm_die("coIOMMU BAR%d %s 0x%llx: %s", i,
			map ? "map at" : "unmap from",
			(unsigned long long)addr, strerror(-ret));
}

static bool co_mmio(struct pci_dev *d, int bar, uint64_t off, uint8_t *data,
		    unsigned int len, bool write)
{
	struct coiommu_dev *c = d->priv;
	struct coiommu_regs *r = &c->regs;
	uint64_t cmd = 0;
	int ret;

	if (bar != COIOMMU_BAR_REGS)
		return true;	/* a write to read-only BAR4: dropped */
	if (!write) {
		coiommu_regs_read(r, off, data, len);
		return true;
	}
	if (off == COIOMMU_REG_CMD && len == 8)
		memcpy(&cmd, data, 8);
	if (off >= COIOMMU_REG_TRIGGER)
		vmm_log(d->vmm, "coIOMMU trigger of vCPU %llu (%u bytes): no doorbell, slot completed",
			(unsigned long long)(off - COIOMMU_REG_TRIGGER), len);
	ret = coiommu_regs_write(r, off, data, len);
	/* The ABI has no error register: a refused command does nothing. */
	if (ret < 0)
		fprintf(stderr, "coiommu-vmm: guest command %llu (dtt_root 0x%llx, dtt_level %llu) refused: %s\n",
			(unsigned long long)cmd,
			(unsigned long long)r->dtt_root,
			(unsigned long long)r->dtt_level, strerror(-ret));
	else if (ret > 0)
		vmm_log(d->vmm, "coIOMMU command %llu (dtt_root 0x%llx, dtt_level %llu)",
			(unsigned long long)cmd,
			(unsigned long long)r->dtt_root,
			(unsigned long long)r->dtt_level);
	return true;
}

static void *shared_page(void)
{
	void *p = mmap(NULL, COIOMMU_BAR_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		vmm_die("mmap: %s", strerror(errno));
	memset(p, 0, COIOMMU_BAR_SIZE);	/* populate */
	return p;
}

struct pci_dev *coiommu_dev_create(struct vmm *vmm, uint8_t devfn)
{
	struct pci_dev *d = calloc(1, sizeof(*d));
	struct coiommu_dev *c = calloc(1, sizeof(*c));
	int i;

	if (!d || !c)
		vmm_die("out of memory");
	c->notify = shared_page();
	c->topo = shared_page();
	c->regs.slots = (uint64_t *)c->notify;
	c->regs.co = -1;
	d->devfn = devfn;
	d->name = "coIOMMU";
	d->priv = c;
	pci_set_id(d, COIOMMU_PCI_VENDOR_ID, COIOMMU_PCI_DEVICE_ID, COIOMMU_PCI_REVISION,
		   COIOMMU_PCI_CLASS);
	/* Subsystem IDs: the same as the device's. */
	memcpy(d->cfg + 0x2c, d->cfg, 4);
	for (i = COIOMMU_BAR_REGS; i <= COIOMMU_BAR_ENDPOINTS; i += 2) {
		d->bar[i].size = COIOMMU_BAR_SIZE;
		d->bar[i].is64 = true;
		d->bar[i].prefetch = true;
	}
	d->bar_map = co_bar_map;
	d->mmio = co_mmio;
	pci_add(vmm, d);
	return d;
}

void coiommu_dev_attach(struct vmm *vmm)
{
	struct pci_dev *d = vmm->coiommu_dev;
	struct coiommu_dev *c = d->priv;
	struct coiommu_region ram = {
		.gpa = 0,
		.size = vmm->ram_size,
		.vaddr = (uintptr_t)vmm->ram,
	};
	uint16_t *topo = (uint16_t *)c->topo;
	unsigned int i;
	int ret;

	vmm->coiommu = coiommu_open();
	if (vmm->coiommu < 0)
		vmm_die("/dev/coiommu: %s (is coiommu_host loaded?)",
			strerror(-vmm->coiommu));
	c->regs.co = vmm->coiommu;
	ret = coiommu_set_memory(vmm->coiommu, &ram, 1);
	if (ret)
		vmm_die("coiommu_set_memory: %s", strerror(-ret));

	topo[0] = vmm->nr_passthrough;
	for (i = 0; i < vmm->nr_passthrough; i++) {
		struct pci_dev *pt = vmm->passthrough[i];
		int dev, group;

		vfio_files(pt, &dev, &group);
		ret = coiommu_add_vfio_device(vmm->coiommu, dev, group,
					      pt->devfn);
		if (ret)
			vmm_die("coiommu_add_vfio_device %s: %s", pt->name,
				strerror(-ret));
		topo[1 + i] = pt->devfn;	/* bus 0: BDF = devfn */
	}

	if (!c->bar0_mapped)
		vmm_die("coIOMMU BAR0 is not mapped");
	ret = coiommu_attach_doorbells(vmm->coiommu, &c->db, vmm->vm, c->bar0,
				       c->notify, vmm->nr_vcpus);
	if (ret)
		vmm_die("coiommu_attach_doorbells: %s", strerror(-ret));
	c->attached = true;
	vmm_log(vmm, "coIOMMU attached: %llu MiB of RAM, %u endpoint(s), %u doorbell(s) at 0x%llx",
		(unsigned long long)(vmm->ram_size / MIB),
		vmm->nr_passthrough, vmm->nr_vcpus,
		(unsigned long long)c->db.trigger_gpa);
}

int coiommu_dev_remove(struct vmm *vmm, struct pci_dev *pt)
{
	if (!vmm->coiommu_dev || vmm->coiommu < 0)
		return 0;
	/* bus 0: BDF = devfn */
	return coiommu_remove_device(vmm->coiommu, pt->devfn);
}

void coiommu_dev_stats_line(struct vmm *vmm, double t, bool final)
{
	struct coiommu_stats st;
	double pinned, peak;
	int ret;

	if (vmm->coiommu < 0)
		return;
	ret = coiommu_get_stats(vmm->coiommu, &st);
	if (ret) {
		fprintf(stderr, "coiommu-vmm: coiommu_get_stats: %s\n",
			strerror(-ret));
		return;
	}
	pinned = st.pinned_pages * (double)PAGE_SIZE / MIB;
	peak = st.peak_pinned_pages * (double)PAGE_SIZE / MIB;
	fprintf(stderr,
		"coiommu-vmm: [%7.1f s]%s guest RAM %llu MiB, pinned %.2f MiB (%.2f%%), peak %.2f MiB, requests %llu (refused %llu), unpins %llu, pages %llu peak %llu\n",
		t, final ? " final:" : "",
		(unsigned long long)(vmm->ram_size / MIB), pinned,
		100.0 * pinned / (vmm->ram_size / MIB), peak,
		(unsigned long long)st.requests,
		(unsigned long long)st.refused_requests,
		(unsigned long long)st.unpins,
		(unsigned long long)st.pinned_pages,
		(unsigned long long)st.peak_pinned_pages);
}

void coiommu_dev_destroy(struct vmm *vmm)
{
	struct coiommu_dev *c = vmm->coiommu_dev->priv;

	if (c->attached)
		coiommu_detach_doorbells(&c->db);
	c->attached = false;
	c->regs.co = -1;
	if (vmm->coiommu >= 0)
		close(vmm->coiommu);
	vmm->coiommu = -1;
}
