// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * coiommu-sample: the whole VMM side of coIOMMU on raw KVM, in one file.
 *
 *	coiommu-sample BDF
 *
 * BDF is a PCI device bound to vfio-pci (in the test VM: an edu device).
 * The program creates a KVM VM with 512 KiB of RAM and one vCPU, attaches
 * it to /dev/coiommu with libcoiommu (memory map, the VFIO device as guest
 * device 00:01.0, notify slots, doorbell, activation with a one-level
 * DTT), and runs a real-mode guest that maps one page and asks for it.
 * The guest reads its notify slot on the instruction right after ringing:
 * exit status 0 when that read returned 0 and PINNED was set.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/vfio.h>

#include "libcoiommu.h"

#define RAM_SIZE	0x80000		/* GPA 0 .. 512 KiB: guest RAM */
#define CODE_GPA	0x1000
#define DTT_GPA		0x10000		/* one leaf table: dtt_level 1 */
#define BAR2_GPA	0x90000		/* notify slots */
#define BAR0_GPA	0xa0000		/* registers, trigger bytes: MMIO */
#define GUEST_BDF	0x0008		/* 00:01.0 */

extern const char sample_guest_start[], sample_guest_end[];

static void die(const char *what, int err)
{
	fprintf(stderr, "coiommu-sample: %s: %s\n", what, strerror(err));
	exit(2);
}

static int vfio_open(const char *bdf, int *group_fd)
{
	char path[128], link[128];
	int container, group, dev;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		die(path, errno);
	link[n] = 0;
	snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(link, '/') + 1);

	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	group = open(path, O_RDWR | O_CLOEXEC);
	if (container < 0 || group < 0)
		die("open vfio", errno);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("vfio container", errno);
	/* No VFIO_IOMMU_MAP_DMA of guest RAM: coIOMMU pins on demand. */
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0)
		die("VFIO_GROUP_GET_DEVICE_FD", errno);
	*group_fd = group;
	return dev;
}

static void *guest_mem(int vm, int slot, uint64_t gpa, size_t size)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
	};
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", errno);
	r.userspace_addr = (uintptr_t)p;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r))
		die("KVM_SET_USER_MEMORY_REGION", errno);
	return p;
}

int main(int argc, char **argv)
{
	struct coiommu_doorbells db;
	struct coiommu_stats st;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	int kvm, vm, vcpu, co, dev, group, ret;
	uint8_t *ram, *bar2;

	if (argc != 2) {
		fprintf(stderr, "usage: coiommu-sample BDF\n");
		return 2;
	}

	/* A VM: RAM, BAR2 backing, one vCPU in real mode at CODE_GPA. */
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm", errno);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM", errno);
	ram = guest_mem(vm, 0, 0, RAM_SIZE);
	bar2 = guest_mem(vm, 1, BAR2_GPA, 0x2000);
	memcpy(ram + CODE_GPA, sample_guest_start,
	       sample_guest_end - sample_guest_start);
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU", errno);
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0),
		   PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run", errno);
	ioctl(vcpu, KVM_GET_SREGS, &sregs);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ioctl(vcpu, KVM_SET_SREGS, &sregs);
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rflags = 2;
	ioctl(vcpu, KVM_SET_REGS, &regs);

	/* The coIOMMU integration: this is all a VMM does. */
	dev = vfio_open(argv[1], &group);
	co = coiommu_open();
	if (co < 0)
		die("coiommu_open", -co);
	ret = coiommu_set_memory(co, &(struct coiommu_region){
			.gpa = 0, .size = RAM_SIZE, .vaddr = (uintptr_t)ram }, 1);
	if (!ret)
		ret = coiommu_add_vfio_device(co, dev, group, GUEST_BDF);
	if (!ret)
		ret = coiommu_attach_doorbells(co, &db, vm, BAR0_GPA, bar2, 1);
	/* On the guest's write of 1 to cmd (its driver sets root and level). */
	if (!ret)
		ret = coiommu_command(co, COIOMMU_CMD_ACTIVATE, DTT_GPA, 1);
	if (ret)
		die("coiommu attach", -ret);

	if (ioctl(vcpu, KVM_RUN, 0))
		die("KVM_RUN", errno);
	if (run->exit_reason != KVM_EXIT_HLT) {
		fprintf(stderr, "coiommu-sample: unexpected exit %u\n",
			run->exit_reason);
		return 1;
	}
	ioctl(vcpu, KVM_GET_REGS, &regs);
	coiommu_get_stats(co, &st);
	printf("slot after ring: %#llx, DTT entry: %#llx, pinned pages: %llu, served in vCPU thread: %llu\n",
	       (unsigned long long)(uint32_t)regs.rax,
	       (unsigned long long)(uint32_t)regs.rbx,
	       (unsigned long long)st.pinned_pages,
	       (unsigned long long)st.served_task);

	coiommu_detach_doorbells(&db);
	close(co);
	return (uint32_t)regs.rax == 0 && (regs.rbx & 0x80000000u) &&
	       st.pinned_pages == 1 ? 0 : 1;
}
