// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * PCI bus 0 through configuration mechanism #1 (address at 0xcf8, data at
 * 0xcfc-0xcff), with a host bridge at 00:00.0. The VMM assigns every BAR an
 * address in [PCI_MMIO_BASE, PCI_MMIO_END) and enables memory decoding, as
 * firmware would; Linux (pci=conf1, no ACPI) keeps those assignments but
 * may move them. This file emulates, for every device, the command
 * register, the BARs (sizing included), the expansion ROM BAR (none) and
 * the interrupt line; the rest of the header comes from the device
 * (emulated bytes, or the VFIO config region for passthrough).
 */
#include <stdio.h>
#include <string.h>

#include "vmm.h"

#define PCI_COMMAND		0x04
#define PCI_COMMAND_IO		0x1
#define PCI_COMMAND_MEMORY	0x2
#define PCI_COMMAND_MASTER	0x4
#define PCI_BAR0		0x10
#define PCI_BAR_END		0x28
#define PCI_ROM			0x30
#define PCI_INTERRUPT_LINE	0x3c

static struct {
	uint32_t addr;		/* the 0xcf8 latch */
	struct pci_dev *dev[256];
	struct pci_dev host;
	uint64_t next_mmio;
} bus;

void pci_set_id(struct pci_dev *d, uint16_t vendor, uint16_t device,
		uint8_t rev, uint32_t class)
{
	d->cfg[0] = vendor;
	d->cfg[1] = vendor >> 8;
	d->cfg[2] = device;
	d->cfg[3] = device >> 8;
	d->cfg[8] = rev;
	d->cfg[9] = class;
	d->cfg[10] = class >> 8;
	d->cfg[11] = class >> 16;
}

/* Map, move or unmap every BAR to match the command register and BARs. */
static void update_mappings(struct pci_dev *d)
{
	int i;

	for (i = 0; i < 6; i++) {
		struct pci_bar *b = &d->bar[i];
		bool want;

		if (!b->size)
			continue;
		want = (d->command & PCI_COMMAND_MEMORY) && b->addr &&
		       b->addr >= d->vmm->ram_size &&
		       b->addr + b->size <= (1ULL << 40) &&
		       !(b->addr & (b->size - 1));
		if (b->mapped && (!want || b->mapped_addr != b->addr)) {
			if (d->bar_map)
				d->bar_map(d, i, b->mapped_addr, false);
			b->mapped = false;
		}
		if (want && !b->mapped) {
			b->mapped = true;
			b->mapped_addr = b->addr;
			if (d->bar_map)
				d->bar_map(d, i, b->addr, true);
			vmm_log(d->vmm, "pci 00:%02x.%x %s: BAR%d at 0x%llx (%llu KiB)",
				d->devfn >> 3, d->devfn & 7, d->name, i,
				(unsigned long long)b->addr,
				(unsigned long long)(b->size / KIB));
		}
	}
}

/* The BAR dword at config offset @reg (0x10..0x24). */
static uint32_t bar_read(struct pci_dev *d, unsigned int reg)
{
	int i = (reg - PCI_BAR0) / 4;
	struct pci_bar *b = &d->bar[i];

	if (!b->size && i > 0 && d->bar[i - 1].is64)
		return (d->bar[i - 1].addr & ~(d->bar[i - 1].size - 1)) >> 32;
	if (!b->size)
		return 0;
	return ((uint32_t)b->addr & ~(uint32_t)(b->size - 1)) |
	       (b->is64 ? 0x4 : 0) | (b->prefetch ? 0x8 : 0);
}

static void bar_write(struct pci_dev *d, unsigned int reg, uint32_t val)
{
	int i = (reg - PCI_BAR0) / 4;
	struct pci_bar *b = &d->bar[i];

	if (!b->size && i > 0 && d->bar[i - 1].is64) {
		b = &d->bar[i - 1];
		b->addr = ((uint64_t)val << 32 | (uint32_t)b->addr) &
			  ~(b->size - 1);
	} else if (b->size) {
		b->addr = ((b->addr & ~0xffffffffULL) | (val & ~0xfU)) &
			  ~(b->size - 1);
		if (!b->is64)
			b->addr &= 0xffffffffULL;
	} else {
		return;
	}
	update_mappings(d);
}

static bool emulated_byte(unsigned int off)
{
	return off == PCI_COMMAND || off == PCI_COMMAND + 1 ||
	       (off >= PCI_BAR0 && off < PCI_BAR_END) ||
	       (off >= PCI_ROM && off < PCI_ROM + 4) ||
	       off == PCI_INTERRUPT_LINE;
}

static uint8_t emulated_read(struct pci_dev *d, unsigned int off)
{
	if (off == PCI_COMMAND)
		return d->command;
	if (off == PCI_COMMAND + 1)
		return d->command >> 8;
	if (off >= PCI_BAR0 && off < PCI_BAR_END)
		return bar_read(d, off & ~3u) >> (8 * (off & 3));
	if (off == PCI_INTERRUPT_LINE)
		return d->cfg[off];
	return 0;	/* no expansion ROM */
}

static uint32_t cfg_read(struct pci_dev *d, unsigned int off,
			 unsigned int len)
{
	uint32_t v = 0;
	unsigned int i;

	if (d->cfg_read)
		v = d->cfg_read(d, off, len);
	else
		memcpy(&v, d->cfg + off, len);
	for (i = 0; i < len; i++) {
		if (!emulated_byte(off + i))
			continue;
		v &= ~(0xffu << (8 * i));
		v |= (uint32_t)emulated_read(d, off + i) << (8 * i);
	}
	return v;
}

static void cfg_write(struct pci_dev *d, unsigned int off, unsigned int len,
		      uint32_t val)
{
	unsigned int i;

	/* Command register: the bytes of it this access covers. */
	if (off <= PCI_COMMAND + 1 && off + len > PCI_COMMAND) {
		uint16_t cmd = d->command;

		for (i = 0; i < len; i++) {
			unsigned int o = off + i;

			if (o == PCI_COMMAND)
				cmd = (cmd & 0xff00) | ((val >> (8 * i)) & 0xff);
			else if (o == PCI_COMMAND + 1)
				cmd = (cmd & 0x00ff) |
				      (((val >> (8 * i)) & 0xff) << 8);
		}
		/* Memory space, bus master, SERR, INTx disable; no I/O BARs. */
		cmd &= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | 0x0100 |
		       0x0400;
		/* Unmap before the device stops decoding, map after. */
		if (!(cmd & PCI_COMMAND_MEMORY)) {
			d->command = cmd;
			update_mappings(d);
		}
		if (d->command_write)
			d->command_write(d, cmd);
		d->command = cmd;
		update_mappings(d);
		return;
	}
	if (off >= PCI_BAR0 && off < PCI_BAR_END) {
		uint32_t cur = bar_read(d, off & ~3u);

		if (len < 4) {
			unsigned int sh = 8 * (off & 3);
			uint32_t mask = (len == 1 ? 0xff : 0xffff) << sh;

			val = (cur & ~mask) | ((val << sh) & mask);
		}
		bar_write(d, off & ~3u, val);
		return;
	}
	if (off >= PCI_ROM && off < PCI_ROM + 4)
		return;
	if (off == PCI_INTERRUPT_LINE) {
		d->cfg[off] = val;
		return;
	}
	if (d->cfg_write)
		d->cfg_write(d, off, len, val);
	else if (off == 0x0c || off == 0x0d)	/* cache line, latency */
		memcpy(d->cfg + off, &val, len > 2 ? 2 : len);
}

void pci_add(struct vmm *vmm, struct pci_dev *d)
{
	int i;

	if (bus.dev[d->devfn])
		vmm_die("two PCI devices at devfn 0x%x", d->devfn);
	d->vmm = vmm;
	bus.dev[d->devfn] = d;
	for (i = 0; i < 6; i++) {
		struct pci_bar *b = &d->bar[i];

		if (!b->size)
			continue;
		if (b->size & (b->size - 1) || b->size < PAGE_SIZE)
			vmm_die("%s: BAR%d size 0x%llx is not a power of two of at least 4 KiB",
				d->name, i, (unsigned long long)b->size);
		bus.next_mmio = (bus.next_mmio + b->size - 1) & ~(b->size - 1);
		if (bus.next_mmio + b->size > PCI_MMIO_END)
			vmm_die("%s: no room for BAR%d", d->name, i);
		b->addr = bus.next_mmio;
		bus.next_mmio += b->size;
	}
	d->command |= PCI_COMMAND_MEMORY;
	if (d->command_write)
		d->command_write(d, d->command);
	update_mappings(d);
}

void pci_init(struct vmm *vmm)
{
	memset(&bus, 0, sizeof(bus));
	bus.next_mmio = PCI_MMIO_BASE;
	bus.host.devfn = 0;
	bus.host.name = "host bridge";
	pci_set_id(&bus.host, 0x1234, 0xabc0, 0, 0x060000);
	pci_add(vmm, &bus.host);
}

bool pci_pio(struct vmm *vmm, uint16_t port, uint8_t *data,
	     unsigned int len, bool write)
{
	struct pci_dev *d;
	unsigned int off;
	uint32_t v = 0;

	(void)vmm;
	if (port == 0xcf8 && len == 4) {
		if (write)
			memcpy(&bus.addr, data, 4);
		else
			memcpy(data, &bus.addr, 4);
		return true;
	}
	if (port < 0xcfc || port > 0xcff)
		return false;
	off = (bus.addr & 0xfc) + (port - 0xcfc);
	d = NULL;
	/* Enabled, bus 0, in range. */
	if ((bus.addr & 0x80000000u) && !(bus.addr & 0x00ff0000u) &&
	    off + len <= 256)
		d = bus.dev[(bus.addr >> 8) & 0xff];
	if (write) {
		memcpy(&v, data, len);
		if (d)
			cfg_write(d, off, len, v);
	} else {
		v = d ? cfg_read(d, off, len) : 0xffffffffu;
		memcpy(data, &v, len);
	}
	return true;
}

bool pci_mmio(struct vmm *vmm, uint64_t gpa, uint8_t *data,
	      unsigned int len, bool write)
{
	int devfn, i;

	(void)vmm;
	for (devfn = 0; devfn < 256; devfn++) {
		struct pci_dev *d = bus.dev[devfn];

		if (!d || !d->mmio)
			continue;
		for (i = 0; i < 6; i++) {
			struct pci_bar *b = &d->bar[i];

			if (b->mapped && gpa >= b->mapped_addr &&
			    gpa + len <= b->mapped_addr + b->size)
				return d->mmio(d, i, gpa - b->mapped_addr,
					       data, len, write);
		}
	}
	return false;
}
