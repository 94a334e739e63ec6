// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * VFIO passthrough of a PCI device bound to vfio-pci: one type1 container
 * for the VM, whose IOMMU never gets guest RAM through VFIO_IOMMU_MAP_DMA
 * (coiommu_host pins on demand), unless static pinning was asked for.
 *
 * Config space is read and written through the VFIO config region, with
 * the command register, the BARs, the ROM BAR and the interrupt line
 * emulated by pci.c. Interrupts are not supported: the capability list is
 * hidden (no MSI/MSI-X) and the interrupt pin reads 0, so the guest polls.
 * Memory BARs are mmap()ed from the VFIO device and become KVM memory
 * slots at the address the guest programs; BARs VFIO cannot mmap are
 * trapped and forwarded with pread()/pwrite(). I/O BARs are not supported.
 *
 * When the host wants a device back (its vfio-pci driver is being unbound,
 * or it is hot-unplugged), VFIO signals the device's request eventfd
 * (VFIO_PCI_REQ_IRQ_INDEX) and waits until every file of the device is
 * closed. A thread answers: it takes the device away from coiommu_host
 * (COIOMMU_REMOVE_DEVICE, which drops the module's reference to the device
 * file), removes the BARs' memory slots, unmaps them and closes the device
 * file. The guest then sees a device that is gone (its BARs and config
 * space read all ones) and runs on.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "vmm.h"

#define PCI_STATUS		0x06
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_HEADER_END		0x40

struct vfio_pt {
	char bdf[32];
	int group;
	int device;		/* -1 once given back to the host */
	int req;		/* VFIO's device request eventfd, or -1 */
	uint64_t cfg_off;
	struct {
		uint64_t off;
		void *map;	/* mmap()ed, or NULL: trapped */
		int slot;
	} region[6];
};

static bool iommu_set;

int vfio_container_open(struct vmm *vmm)
{
	vmm->vfio_container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (vmm->vfio_container < 0)
		return -1;
	if (ioctl(vmm->vfio_container, VFIO_GET_API_VERSION) !=
	    VFIO_API_VERSION ||
	    ioctl(vmm->vfio_container, VFIO_CHECK_EXTENSION,
		  VFIO_TYPE1v2_IOMMU) != 1) {
		errno = ENOTSUP;
		return -1;
	}
	return 0;
}

static uint32_t pt_cfg_read(struct pci_dev *d, unsigned int off,
			    unsigned int len)
{
	struct vfio_pt *pt = d->priv;
	uint32_t v = 0;
	unsigned int i;

	if (pt->device < 0)
		return 0xffffffffu;	/* gone */
	if (pread(pt->device, &v, len, pt->cfg_off + off) != (ssize_t)len)
		return 0xffffffffu;
	for (i = 0; i < len; i++) {
		unsigned int o = off + i;
		uint32_t mask = 0xffu << (8 * i);

		if (o == PCI_STATUS)
			v &= ~(PCI_STATUS_CAP_LIST << (8 * i));
		else if (o == PCI_CAPABILITY_LIST || o == PCI_INTERRUPT_PIN)
			v &= ~mask;
	}
	return v;
}

static void pt_cfg_write(struct pci_dev *d, unsigned int off,
			 unsigned int len, uint32_t val)
{
	struct vfio_pt *pt = d->priv;

	/* The header only: the capabilities are hidden. */
	if (off + len > PCI_HEADER_END || pt->device < 0)
		return;
	if (pwrite(pt->device, &val, len, pt->cfg_off + off) != (ssize_t)len)
		vmm_log(d->vmm, "%s: config write at 0x%x failed", pt->bdf,
			off);
}

static void pt_command_write(struct pci_dev *d, uint16_t val)
{
	struct vfio_pt *pt = d->priv;
	uint16_t cmd;

	if (pt->device < 0)
		return;
	if (pread(pt->device, &cmd, 2, pt->cfg_off + 4) != 2)
		vmm_die("%s: cannot read the command register", pt->bdf);
	/* The guest's memory, bus master and INTx disable bits; no I/O. */
	cmd = (cmd & ~0x0407) | (val & 0x0406);
	if (pwrite(pt->device, &cmd, 2, pt->cfg_off + 4) != 2)
		vmm_die("%s: cannot write the command register", pt->bdf);
	vmm_log(d->vmm, "%s: command 0x%04x (memory %s, bus master %s)",
		pt->bdf, cmd, cmd & 2 ? "on" : "off", cmd & 4 ? "on" : "off");
}

static void pt_bar_map(struct pci_dev *d, int i, uint64_t addr, bool map)
{
	struct vfio_pt *pt = d->priv;
	int ret;

	if (!pt->region[i].map)
		return;		/* trapped (or gone): pci_mmio() finds it */
	ret = vmm_set_slot(d->vmm, pt->region[i].slot, addr,
			   map ? d->bar[i].size : 0, pt->region[i].map,
			   false);
	if (ret)
		vmm_die("%s: BAR%d memory slot at 0x%llx: %s", pt->bdf, i,
			(unsigned long long)addr, strerror(-ret));
}

static bool pt_mmio(struct pci_dev *d, int bar, uint64_t off, uint8_t *data,
		    unsigned int len, bool write)
{
	struct vfio_pt *pt = d->priv;
	ssize_t n = -1;

	if (pt->device < 0)
		;		/* gone: writes dropped, reads all ones */
	else if (write)
		n = pwrite(pt->device, data, len, pt->region[bar].off + off);
	else
		n = pread(pt->device, data, len, pt->region[bar].off + off);
	if (n != (ssize_t)len && !write)
		memset(data, 0xff, len);
	return true;
}

static int group_of(const char *bdf)
{
	char path[128], link[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return -1;
	link[n] = 0;
	return atoi(strrchr(link, '/') + 1);
}

struct pci_dev *vfio_passthrough(struct vmm *vmm, const char *bdf,
				 uint8_t devfn)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_region_info reg = { .argsz = sizeof(reg) };
	struct pci_dev *d = calloc(1, sizeof(*d));
	struct vfio_pt *pt = calloc(1, sizeof(*pt));
	char path[64];
	int gid, i;

	if (!d || !pt)
		vmm_die("out of memory");
	snprintf(pt->bdf, sizeof(pt->bdf), "%s", bdf);
	gid = group_of(bdf);
	if (gid < 0)
		vmm_die("%s: no IOMMU group (no such device, or no IOMMU)",
			bdf);
	snprintf(path, sizeof(path), "/dev/vfio/%d", gid);
	pt->group = open(path, O_RDWR | O_CLOEXEC);
	if (pt->group < 0)
		vmm_die("%s: %s (is %s bound to vfio-pci?)", path,
			strerror(errno), bdf);
	if (ioctl(pt->group, VFIO_GROUP_GET_STATUS, &gs) ||
	    !(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		vmm_die("%s: group %d is not viable (bind every device of it to vfio-pci)",
			bdf, gid);
	if (ioctl(pt->group, VFIO_GROUP_SET_CONTAINER, &vmm->vfio_container))
		vmm_die("%s: VFIO_GROUP_SET_CONTAINER: %s", bdf,
			strerror(errno));
	if (!iommu_set) {
		if (ioctl(vmm->vfio_container, VFIO_SET_IOMMU,
			  VFIO_TYPE1v2_IOMMU))
			vmm_die("VFIO_SET_IOMMU: %s", strerror(errno));
		iommu_set = true;
	}
	pt->device = ioctl(pt->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (pt->device < 0)
		vmm_die("%s: VFIO_GROUP_GET_DEVICE_FD: %s", bdf,
			strerror(errno));
	if (ioctl(pt->device, VFIO_DEVICE_GET_INFO, &info) ||
	    !(info.flags & VFIO_DEVICE_FLAGS_PCI))
		vmm_die("%s: not a VFIO PCI device", bdf);

	reg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(pt->device, VFIO_DEVICE_GET_REGION_INFO, &reg))
		vmm_die("%s: config region: %s", bdf, strerror(errno));
	pt->cfg_off = reg.offset;

	for (i = VFIO_PCI_BAR0_REGION_INDEX; i <= VFIO_PCI_BAR5_REGION_INDEX;
	     i++) {
		uint32_t bar;

		memset(&reg, 0, sizeof(reg));
		reg.argsz = sizeof(reg);
		reg.index = i;
		if (ioctl(pt->device, VFIO_DEVICE_GET_REGION_INFO, &reg) ||
		    !reg.size)
			continue;
		if (pread(pt->device, &bar, 4, pt->cfg_off + 0x10 + 4 * i) != 4)
			vmm_die("%s: cannot read BAR%d", bdf, i);
		if (bar & 1) {
			fprintf(stderr, "coiommu-vmm: %s: I/O BAR%d not passed through\n",
				bdf, i);
			continue;
		}
		d->bar[i].size = reg.size < PAGE_SIZE ? PAGE_SIZE : reg.size;
		d->bar[i].is64 = (bar & 6) == 4;
		d->bar[i].prefetch = bar & 8;
		pt->region[i].off = reg.offset;
		if ((reg.flags & VFIO_REGION_INFO_FLAG_MMAP) &&
		    !(reg.size & (PAGE_SIZE - 1))) {
			void *p = mmap(NULL, reg.size, PROT_READ | PROT_WRITE,
				       MAP_SHARED, pt->device, reg.offset);

			if (p != MAP_FAILED) {
				pt->region[i].map = p;
				pt->region[i].slot = vmm->next_slot++;
			}
		}
		if (d->bar[i].is64)
			i++;	/* the upper half */
	}

	pt->req = -1;
	d->devfn = devfn;
	d->name = pt->bdf;
	d->priv = pt;
	d->cfg_read = pt_cfg_read;
	d->cfg_write = pt_cfg_write;
	d->command_write = pt_command_write;
	d->bar_map = pt_bar_map;
	d->mmio = pt_mmio;
	/* Firmware leaves bus mastering off: the guest driver enables it. */
	pci_add(vmm, d);
	vmm_log(vmm, "%s (VFIO group %d) is guest 00:%02x.%x", bdf, gid,
		devfn >> 3, devfn & 7);
	return d;
}

/* Have VFIO signal an eventfd when it wants the device back. */
static int req_irq(struct vfio_pt *pt)
{
	struct vfio_irq_info irq = {
		.argsz = sizeof(irq),
		.index = VFIO_PCI_REQ_IRQ_INDEX,
	};
	char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	struct vfio_irq_set *set = (struct vfio_irq_set *)buf;
	int32_t efd;

	if (ioctl(pt->device, VFIO_DEVICE_GET_IRQ_INFO, &irq) || !irq.count ||
	    !(irq.flags & VFIO_IRQ_INFO_EVENTFD))
		return -ENOTSUP;
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (efd < 0)
		return -errno;
	set->argsz = sizeof(buf);
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_REQ_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	memcpy(set->data, &efd, sizeof(efd));
	if (ioctl(pt->device, VFIO_DEVICE_SET_IRQS, set)) {
		int ret = -errno;

		close(efd);
		return ret;
	}
	pt->req = efd;
	return 0;
}

/* Give passthrough device @d back to the host; call with vmm->lock held. */
static void give_back(struct vmm *vmm, struct pci_dev *d)
{
	struct vfio_pt *pt = d->priv;
	int i, ret;

	ret = coiommu_dev_remove(vmm, d);
	if (ret)
		fprintf(stderr, "coiommu-vmm: %s: COIOMMU_REMOVE_DEVICE: %s\n",
			pt->bdf, strerror(-ret));
	for (i = 0; i < 6; i++) {
		if (!pt->region[i].map)
			continue;
		if (d->bar[i].mapped)
			vmm_set_slot(vmm, pt->region[i].slot,
				     d->bar[i].mapped_addr, 0,
				     pt->region[i].map, false);
		munmap(pt->region[i].map, d->bar[i].size);
		pt->region[i].map = NULL;
	}
	close(pt->device);
	pt->device = -1;
	fprintf(stderr, "coiommu-vmm: %s: VFIO asked for the device back: %s, device file closed\n",
		pt->bdf, !vmm->coiommu_dev ? "no coIOMMU" :
		ret ? "not removed from coIOMMU" : "removed from coIOMMU");
}

static void *req_thread(void *arg)
{
	struct vmm *vmm = arg;
	struct pollfd pfd[MAX_PASSTHROUGH];
	struct pci_dev *dev[MAX_PASSTHROUGH];

	for (;;) {
		unsigned int i, n = 0;
		int ret;

		pthread_mutex_lock(&vmm->lock);
		for (i = 0; i < vmm->nr_passthrough; i++) {
			struct vfio_pt *pt = vmm->passthrough[i]->priv;

			if (pt->req < 0)
				continue;
			pfd[n].fd = pt->req;
			pfd[n].events = POLLIN;
			dev[n++] = vmm->passthrough[i];
		}
		pthread_mutex_unlock(&vmm->lock);
		if (!n)
			break;
		ret = poll(pfd, n, -1);
		if (ret < 0 && errno != EINTR)
			vmm_die("poll: %s", strerror(errno));
		pthread_mutex_lock(&vmm->lock);
		for (i = 0; ret > 0 && i < n; i++) {
			struct vfio_pt *pt = dev[i]->priv;
			uint64_t v;

			if (!(pfd[i].revents & POLLIN) ||
			    read(pt->req, &v, sizeof(v)) != sizeof(v))
				continue;
			give_back(vmm, dev[i]);
			close(pt->req);
			pt->req = -1;
		}
		pthread_mutex_unlock(&vmm->lock);
	}
	return NULL;
}

void vfio_start_req_thread(struct vmm *vmm)
{
	unsigned int i, n = 0;
	pthread_t t;

	for (i = 0; i < vmm->nr_passthrough; i++) {
		struct pci_dev *d = vmm->passthrough[i];
		struct vfio_pt *pt = d->priv;
		int ret = req_irq(pt);

		if (ret)
			fprintf(stderr, "coiommu-vmm: %s: no VFIO device request interrupt (%s): unbinding its host driver waits for the VM to end\n",
				pt->bdf, strerror(-ret));
		else
			n++;
	}
	if (!n)
		return;
	if (pthread_create(&t, NULL, req_thread, vmm))
		vmm_die("pthread_create failed");
	pthread_detach(t);
}

int vfio_map_ram(struct vmm *vmm)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vmm->ram,
		.iova = 0,
		.size = vmm->ram_size,
	};

	return ioctl(vmm->vfio_container, VFIO_IOMMU_MAP_DMA, &map);
}

/* For coiommu_dev.c: the VFIO files of passthrough device @d. */
void vfio_files(struct pci_dev *d, int *device, int *group)
{
	struct vfio_pt *pt = d->priv;

	*device = pt->device;
	*group = pt->group;
}
