// SPDX-License-Identifier: GPL-2.0
/*
 * abi_trigger_width: a trigger write of any width is a trigger, as on the
 * deployed device.
 *
 * trigger_width (raw KVM guest, two vCPUs, doorbells from libcoiommu): for
 * each width of 1, 2, 4 and 8 bytes, the guest maps a page (map count 1,
 * ACCESSED), puts a single request in its slot and writes its trigger byte
 * with a store of that width: the slot reads 0 on the very next
 * instruction (served by task work in the vCPU thread), the page is
 * PINNED, and edu DMA to it lands. A 4-byte store at vCPU 0's trigger
 * byte covers vCPU 1's byte too: only vCPU 0's doorbell rings (the
 * address decides), vCPU 1's slot keeps its request until vCPU 1 rings.
 * A trigger of a vCPU the VM does not have reaches the VMM (this test, as
 * any VMM, through libcoiommu's register file): its slot is completed
 * before the guest's next instruction, at any width.
 *
 * trigger_width_vmm (coiommu-vmm, nested Linux guest, busybox devmem,
 * tools/vmm/guest-abi, one vCPU: nested guests with two hang at boot in
 * the test VM): the same through coiommu-vmm's device, which is inactive
 * (no driver), so the host refuses each request and completes its slot:
 * 1-, 2-, 4- and 8-byte triggers at vCPU 0's byte complete slot 0; a
 * 4-byte trigger at vCPU 0's byte, which covers vCPU 1's, leaves slot 1
 * alone; triggers of vCPUs 1, 2, 5 and 1023 (which the VM does not have)
 * complete their slots at any width; a trigger of vCPU 2000 (no slot)
 * changes nothing and the VM runs on. The host counts exactly the
 * requests of vCPU 0.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ct_vmm.h"
#include "ctg_fixture.h"

#define OP_RING_WIDTH	CTG_OP_USER
#define PAGE_GFN(i)	(CTG_DATA_GFN + 16 + (i))
#define REQ_NONE	0x1000010ULL	/* a request nobody serves */

/*
 * a0: gfn to map and ask for (0: put a3 in the slot instead), a1: trigger
 * (and slot) index, a2: store width -> r0: the slot right after the
 * store, r1: pause loops until it read 0, r2: the entry afterwards.
 */
static void guest_ring_width(unsigned int vcpu, struct ctg_mbox *mb)
{
	struct ctg_info *info = ctg_guest_info();
	uint64_t idx = mb->a[1], gfn = mb->a[0], req = mb->a[3], after;
	volatile uint64_t *slot = (volatile uint64_t *)(CTG_BAR2_GPA + 8 * idx);
	uint64_t trig = CTG_BAR0_GPA + COIOMMU_REG_TRIGGER + idx;
	uint32_t *e = NULL, old;
	uint64_t spins = 0;

	if (gfn) {
		e = ctg_dtt_walk(info->dtt_root, info->dtt_level, gfn, 0);
		GUEST_ASSERT(e);
		old = __atomic_load_n(e, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(e, &old,
						    (old + 1) | CTG_DTT_ACCESSED,
						    false, __ATOMIC_SEQ_CST,
						    __ATOMIC_RELAXED))
			;
		req = CTG_REQ_SINGLE(gfn, info->bdf);
	}
	*slot = req;
	switch (mb->a[2]) {
	case 1:
		asm volatile("movb $1, (%[t])\n\tmovq (%[s]), %[a]"
			     : [a] "=r" (after) : [t] "r" (trig), [s] "r" (slot)
			     : "memory");
		break;
	case 2:
		asm volatile("movw $1, (%[t])\n\tmovq (%[s]), %[a]"
			     : [a] "=r" (after) : [t] "r" (trig), [s] "r" (slot)
			     : "memory");
		break;
	case 4:
		asm volatile("movl $1, (%[t])\n\tmovq (%[s]), %[a]"
			     : [a] "=r" (after) : [t] "r" (trig), [s] "r" (slot)
			     : "memory");
		break;
	default:
		asm volatile("movq $1, (%[t])\n\tmovq (%[s]), %[a]"
			     : [a] "=r" (after) : [t] "r" (trig), [s] "r" (slot)
			     : "memory");
		break;
	}
	while (*slot && spins < (1ULL << 24)) {
		asm volatile("pause" ::: "memory");
		spins++;
	}
	mb->r[0] = after;
	mb->r[1] = spins;
	mb->r[2] = e ? __atomic_load_n(e, __ATOMIC_SEQ_CST) : 0;
}

static void guest_code(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, OP_RING_WIDTH, guest_ring_width);
}

/*
 * Run OP_RING_WIDTH on @vcpu as a VMM would: MMIO writes to BAR0 (the
 * trigger bytes without an ioeventfd) go to libcoiommu's register file.
 * Returns 0 and the number of such exits in *@exits, or -EIO.
 */
static int ring(struct ctg *t, struct coiommu_regs *regs, unsigned int vcpu,
		uint64_t gfn, uint64_t idx, unsigned int width, uint64_t req,
		unsigned int *exits)
{
	struct ctg_mbox *mb = &t->info->mbox[vcpu];
	struct kvm_vcpu *v = t->vcpu[vcpu];
	uint64_t seq = mb->seq;
	struct ucall uc;

	*exits = 0;
	mb->op = OP_RING_WIDTH;
	mb->a[0] = gfn;
	mb->a[1] = idx;
	mb->a[2] = width;
	mb->a[3] = req;
	for (;;) {
		struct kvm_run *run;

		vcpu_run(v);
		run = v->run;
		if (run->exit_reason != KVM_EXIT_MMIO)
			break;
		if (!run->mmio.is_write ||
		    run->mmio.phys_addr < CTG_BAR0_GPA ||
		    run->mmio.phys_addr >= CTG_BAR0_GPA + CTG_BAR_SIZE) {
			fprintf(stderr, "# MMIO %s at %#llx\n",
				run->mmio.is_write ? "write" : "read",
				(unsigned long long)run->mmio.phys_addr);
			return -EIO;
		}
		(*exits)++;
		coiommu_regs_write(regs, run->mmio.phys_addr - CTG_BAR0_GPA,
				   run->mmio.data, run->mmio.len);
	}
	if (get_ucall(v, &uc) != UCALL_SYNC || mb->seq != seq + 1) {
		fprintf(stderr, "# vCPU %u: exit reason %u, no sync\n", vcpu,
			v->run->exit_reason);
		return -EIO;
	}
	return 0;
}

CTG_FIXTURE(tw, .nr_vcpus = 2, .guest_code = guest_code);

TEST_F_TIMEOUT(tw, trigger_width, 180)
{
	static const unsigned int widths[] = { 1, 2, 4, 8 };
	struct ctg *t = &self->t;
	struct coiommu_regs regs = {
		.slots = (uint64_t *)t->slots,
		.co = t->co,
	};
	volatile uint64_t *r = ctg_res(t, 0);
	struct coiommu_stats st;
	unsigned int i, exits;
	uint64_t served = 0;

	ct_fill(ctg_hva(t, CTG_DATA_GPA), 64 * CT_PAGE, 0x7819);
	for (i = 0; i < 4; i++) {
		uint64_t gpa = CTG_GPA(PAGE_GFN(i));

		ASSERT_EQ(0, ring(t, &regs, 0, PAGE_GFN(i), 0, widths[i], 0,
				  &exits));
		EXPECT_EQ(0, exits) {
			TH_LOG("a %u-byte trigger reached the VMM", widths[i]);
		}
		EXPECT_EQ(0, r[0]) {
			TH_LOG("%u-byte trigger: slot %#llx right after it",
			       widths[i], (unsigned long long)r[0]);
		}
		EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, r[2]);
		served++;
		/*
		 * DMA proof: edu reads the page, then writes it back one
		 * byte further on, exactly there and nowhere else.
		 */
		ASSERT_EQ(0, ctg_edu_prime(t, gpa, 10 + i));
		ct_fill(ctg_hva(t, gpa), CT_PAGE, 20 + i);
		ASSERT_EQ(0, ctg_shadow_sync(t));
		ASSERT_EQ(0, ctg_dma_write(t, gpa + 1, ctg_pattern(10 + i),
					   CT_EDU_DMA_MAX));
		EXPECT_EQ(0, ctg_shadow_diff(t));
		EXPECT_EQ(0, memcmp(ctg_hva(t, gpa + 1), ctg_pattern(10 + i),
				    CT_EDU_DMA_MAX));
	}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(served, st.requests);
	EXPECT_EQ(served, st.served_task);
	EXPECT_EQ(0, st.refused_requests);
	EXPECT_EQ(served, st.pinned_pages);

	/* 4 bytes at vCPU 0's byte also cover vCPU 1's: vCPU 0 only. */
	t->slots[1] = REQ_NONE;
	ASSERT_EQ(0, ring(t, &regs, 0, PAGE_GFN(4), 0, 4, 0, &exits));
	EXPECT_EQ(0, r[0]);
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, r[2]);
	EXPECT_EQ(REQ_NONE, t->slots[1]) {
		TH_LOG("vCPU 1's slot is %#llx: its doorbell rang too",
		       (unsigned long long)t->slots[1]);
	}
	served++;
	ASSERT_EQ(0, ring(t, &regs, 1, PAGE_GFN(5), 1, 8, 0, &exits));
	EXPECT_EQ(0, exits);
	EXPECT_EQ(0, ctg_res(t, 1)[0]);
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1, ctg_res(t, 1)[2]);
	served++;
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(served, st.requests);
	EXPECT_EQ(0, st.refused_requests);

	/* vCPUs 2 and 1023 do not exist: the VMM completes their slots. */
	for (i = 0; i < 4; i++) {
		uint64_t idx = i < 2 ? 2 : 1023;

		ASSERT_EQ(0, ring(t, &regs, 0, 0, idx, widths[i], REQ_NONE,
				  &exits));
		EXPECT_EQ(1, exits);
		EXPECT_EQ(0, r[0]) {
			TH_LOG("vCPU %llu's slot, %u-byte trigger: %#llx",
			       (unsigned long long)idx, widths[i],
			       (unsigned long long)r[0]);
		}
	}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(served, st.requests);
	EXPECT_EQ(served, st.pinned_pages);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
	ASSERT_EQ(0, ctg_run(t, 1, CTG_OP_EXIT, 0, 0, 0, 0));
}

CT_VMM_FIXTURE(vmm);

static bool has(const char *out, const char *s)
{
	return strstr(out, s) != NULL;
}

TEST_F_TIMEOUT(vmm, trigger_width_vmm, CT_VMM_TEST_TIMEOUT)
{
	static const char *const want[] = {
		"abi: cpus 1,",
		"abi: trigger vcpu 0 width 8: slot 0x0000000000000000",
		"abi: trigger vcpu 0 width 16: slot 0x0000000000000000",
		"abi: trigger vcpu 0 width 32: slot 0x0000000000000000",
		"abi: trigger vcpu 0 width 64: slot 0x0000000000000000",
		"abi: 4-byte trigger at vcpu 0: slot 0 0x0000000000000000 slot 1 0x0000000001000010",
		"abi: trigger vcpu 1 width 8: slot 1 0x0000000000000000",
		"abi: trigger vcpu 2 width 8: slot 0x0000000000000000",
		"abi: trigger vcpu 2 width 32: slot 0x0000000000000000",
		"abi: trigger vcpu 5 width 8: slot 0x0000000000000000",
		"abi: trigger vcpu 5 width 32: slot 0x0000000000000000",
		"abi: trigger vcpu 1023 width 8: slot 0x0000000000000000",
		"abi: trigger vcpu 1023 width 32: slot 0x0000000000000000",
		"abi: trigger of vcpu 2000 (no slot) done",
		"vmm-guest: powering off with status 0",
	};
	struct ct_vmm_run r;
	char args[256];
	unsigned int i;

	snprintf(args, sizeof(args),
		 "-m 256 -c 1 -t 90 -s 0 -a \"quiet vmm.run=/bin/guest-abi abi.trigger\" -d %s",
		 self->bdf);
	ASSERT_EQ(0, ct_vmm_run(&r, args));
	ct_vmm_print(&r);
	EXPECT_EQ(0, r.status);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *w = want[i];

		if (!has(r.out, w))
			TH_LOG("missing: %s", w);
		EXPECT_TRUE(has(r.out, w));
	}
	/* 4 widths, then the 4-byte one: 5 requests, all refused. */
	EXPECT_TRUE(has(r.out, "final: guest RAM 256 MiB, pinned 0.00 MiB (0.00%), peak 0.00 MiB, requests 5 (refused 5)"));
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
