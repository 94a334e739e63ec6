/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Guest of coiommu-sample, 16-bit real mode, loaded at GPA 0x1000.
 * Layout (see coiommu_sample.c): DTT leaf at 0x10000, notify slots (BAR2)
 * at 0x90000, BAR0 (trigger bytes) at 0xa0000. It maps GFN 0x20 for
 * device 00:01.0, asks for it, and halts with the slot it read on the
 * instruction after the trigger write in %eax and the DTT entry in %ebx.
 */
	.code16
	.section .rodata
	.globl sample_guest_start, sample_guest_end
sample_guest_start:
	mov	$0x1000, %ax
	mov	%ax, %ds		/* DS: the DTT leaf table */
	mov	$0x9000, %ax
	mov	%ax, %es		/* ES: notify slots */
	mov	$0xa000, %ax
	mov	%ax, %fs		/* FS: BAR0 */
	/* map count 1 | ACCESSED in the entry of GFN 0x20 */
	lock orl $0x40000001, 0x80
	/* slot 0 = gfn 0x20 << 16 | bdf 0x0008 */
	movl	$0x00200008, %es:0
	movl	$0, %es:4
	movb	$1, %fs:0x18		/* ring vCPU 0's trigger byte */
	movl	%es:0, %eax		/* the very next instruction */
	movl	0x80, %ebx
	hlt
sample_guest_end:

	.section .note.GNU-stack,"",@progbits
