// SPDX-License-Identifier: GPL-2.0
/*
 * kvm_ioeventfd: nested KVM works in the test VM, and a vCPU's MMIO write
 * to a KVM_IOEVENTFD address signals the eventfd without an exit to user
 * space, the mechanism coIOMMU's per-vCPU doorbells are built on. A write
 * to an address without an ioeventfd still exits (KVM_EXIT_MMIO), which
 * shows the check can fail.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define DOORBELL_GPA	0xc0000000ULL
#define NOBELL_GPA	(DOORBELL_GPA + 0x1000)
#define RINGS		100

static void guest_code(void)
{
	int i;

	for (i = 0; i < RINGS; i++)
		*(volatile uint8_t *)DOORBELL_GPA = (uint8_t)i;
	GUEST_SYNC(1);
	*(volatile uint8_t *)NOBELL_GPA = 0x5a;
	GUEST_DONE();
}

TEST(kvm_ioeventfd)
{
	struct kvm_ioeventfd ioev = { 0 };
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct ucall uc;
	uint64_t count = 0;
	int efd;

	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK)) {
		TH_LOG("/dev/kvm missing: the rig must provide nested KVM");
	}
	ASSERT_LT(0, kvm_check_cap(KVM_CAP_IOEVENTFD));

	vm = vm_create_with_one_vcpu(&vcpu, guest_code);
	virt_map(vm, DOORBELL_GPA, DOORBELL_GPA, 2);

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ioev.addr = DOORBELL_GPA;
	ioev.len = 1;
	ioev.fd = efd;
	ASSERT_EQ(0, ioctl(vm->fd, KVM_IOEVENTFD, &ioev));

	/* All rings happen before the first exit, which is the ucall. */
	vcpu_run(vcpu);
	ASSERT_EQ(KVM_EXIT_IO, vcpu->run->exit_reason);
	ASSERT_EQ(UCALL_SYNC, get_ucall(vcpu, &uc));
	ASSERT_EQ(sizeof(count), read(efd, &count, sizeof(count)));
	EXPECT_EQ(RINGS, count);

	/* No ioeventfd there: the write exits to user space. */
	vcpu_run(vcpu);
	ASSERT_EQ(KVM_EXIT_MMIO, vcpu->run->exit_reason);
	EXPECT_EQ(NOBELL_GPA, vcpu->run->mmio.phys_addr);
	EXPECT_EQ(1, vcpu->run->mmio.is_write);
	EXPECT_EQ(-1, read(efd, &count, sizeof(count)));
	EXPECT_EQ(EAGAIN, errno);

	vcpu_run(vcpu);
	ASSERT_EQ(UCALL_DONE, get_ucall(vcpu, &uc));

	ioev.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
	EXPECT_EQ(0, ioctl(vm->fd, KVM_IOEVENTFD, &ioev));
	close(efd);
	kvm_vm_free(vm);
}

TEST_HARNESS_MAIN
