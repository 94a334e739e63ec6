/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A coIOMMU guest for the tests: a KVM VM (KVM selftest library) attached
 * to /dev/coiommu the way a VMM does it, with libcoiommu.
 *
 *  - guest RAM for coIOMMU: one test memslot (CTG_RAM_GPA, identity mapped
 *    in the guest), handed over with coiommu_set_memory();
 *  - BAR2 (notify slots): a memslot at CTG_BAR2_GPA, device memory, so not
 *    part of the coIOMMU memory map;
 *  - BAR0 (trigger bytes): pure MMIO at CTG_BAR0_GPA, no memslot; one
 *    KVM_IOEVENTFD per vCPU (coiommu_attach_doorbells());
 *  - an edu device (VFIO, own type1 container) added with its real PCI
 *    address as guest BDF;
 *  - a DTT built in guest RAM, by the host through its own mapping (the
 *    builder below) and walked by guest code.
 *
 * Guest RAM layout (struct ctg_info sits on its first page):
 *
 *	page 0		struct ctg_info: DTT root/level, BDF, one mailbox per vCPU;
 *			its second half is the test's (CTG_USER_GPA)
 *	pages 1..31	DTT tables (host bump allocator)
 *	pages 32..63	per-vCPU scratch: batch request buffers (7 pages) and
 *			a list of GFNs for the list ops (the 8th page)
 *	pages 64..	test data (CTG_DATA_GPA)
 *
 * Guest code talks to the host through its mailbox: the host writes an op
 * and arguments, runs the vCPU, and the guest answers with GUEST_SYNC once
 * the op is done (ctg_run()). ctg_guest_main() is a guest entry point that
 * serves the generic ops; tests with ops of their own call ctg_guest_op()
 * from their own loop.
 *
 * Functions marked "guest" run inside the KVM guest: no libc, no host
 * pointers; they may also be called on the host when said so.
 */
#ifndef CT_GUEST_H
#define CT_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/coiommu_guest.h>

#include "kvm_util.h"
#include "processor.h"

#include "ct.h"
#include "libcoiommu.h"

/* ---- guest physical layout ------------------------------------------ */
#define CTG_RAM_GPA		0x1000000ULL	/* 16 MiB */
#define CTG_RAM_SIZE		(8ULL << 20)	/* default */
#define CTG_BAR0_GPA		0xc0000000ULL	/* MMIO: registers, triggers */
#define CTG_BAR2_GPA		0xd0000000ULL	/* notify slots (memslot) */
#define CTG_BAR_SIZE		0x2000ULL
#define CTG_RAM_SLOT		1
#define CTG_BAR2_SLOT		2
#define CTG_MAX_VCPUS		4

#define CTG_INFO_GPA		CTG_RAM_GPA
#define CTG_USER_GPA		(CTG_INFO_GPA + 2048)	/* 2 KiB for the test */
#define CTG_TABLES_GPA		(CTG_RAM_GPA + CT_PAGE)
#define CTG_TABLE_PAGES		31
#define CTG_SCRATCH_GPA		(CTG_RAM_GPA + 32 * CT_PAGE)
#define CTG_SCRATCH_PAGES	8		/* per vCPU */
#define CTG_DATA_GPA		(CTG_RAM_GPA + 64 * CT_PAGE)
#define CTG_DATA_GFN		CTG_GFN(CTG_DATA_GPA)
/* The GFN list of CTG_OP_MAP_LIST / CTG_OP_UNMAP_LIST on vCPU @v. */
#define CTG_LIST_GPA(v)		(CTG_SCRATCH_GPA + \
				 ((v) * CTG_SCRATCH_PAGES + CTG_SCRATCH_PAGES - 1) * CT_PAGE)
#define CTG_LIST_MAX		(CT_PAGE / sizeof(uint64_t))
#define CTG_GFN(gpa)		((uint64_t)(gpa) >> 12)
#define CTG_GPA(gfn)		((uint64_t)(gfn) << 12)

/* ---- guest-visible ABI: <linux/coiommu_guest.h>, under short names --- */
#define CTG_DTT_PINNED		COIOMMU_DTT_PINNED
#define CTG_DTT_ACCESSED	COIOMMU_DTT_ACCESSED
#define CTG_DTT_COUNT		COIOMMU_DTT_MAPCOUNT
#define CTG_DTT_PRESENT		COIOMMU_DTT_PRESENT
#define CTG_DTT_ADDR_MASK	COIOMMU_DTT_ADDR_MASK
#define CTG_DTT_LEAF_BITS	COIOMMU_DTT_LEAF_BITS
#define CTG_DTT_UPPER_BITS	COIOMMU_DTT_UPPER_BITS
#define CTG_REQ_BATCH		COIOMMU_REQ_BATCH
#define CTG_REQ_SINGLE(gfn, bdf)	COIOMMU_REQ_SINGLE(gfn, bdf)
#define ctg_batch		coiommu_batch

#define CTG_BATCH_MAX	(((CTG_SCRATCH_PAGES - 1) * CT_PAGE - \
			  sizeof(struct ctg_batch)) / sizeof(uint64_t))

/* ---- host <-> guest mailbox ----------------------------------------- */
/*
 * CTG_OP_RING: a0: slot value -> r0: the slot right after the ring, r1:
 *	the slot once it reads 0 (or the wait gave up), r2: pause loops
 * CTG_OP_MAP: a0: first gfn, a1: count, a2: CTG_MAP_* flags -> struct
 *	ctg_map_res in r[0..5] (requests, slot_busy, unpinned, holes,
 *	last_slot, spins)
 */
enum {
	CTG_OP_NONE,
	CTG_OP_RING,
	CTG_OP_MAP,
	CTG_OP_UNMAP,	/* a0: first gfn, a1: count: map count - 1 each */
	CTG_OP_HASH,	/* a0: gpa, a1: bytes -> r0: ctg_hash() */
	CTG_OP_READ32,	/* a0: gpa -> r0 */
	CTG_OP_EXIT,	/* GUEST_DONE */
	CTG_OP_MAP_LIST,	/* a1: count, a2: flags; GFNs at CTG_LIST_GPA(vcpu) */
	CTG_OP_UNMAP_LIST,	/* a1: count; GFNs at CTG_LIST_GPA(vcpu) */
	CTG_OP_WRITE32,	/* a0: gpa, a1: value (one atomic store) */
	CTG_OP_USER = 100,	/* first op of a test's own */
};

/* ctg_guest_map() flags */
#define CTG_MAP_ALL	1	/* ask for every page, even if PINNED */
#define CTG_MAP_SINGLE	2	/* one single-page request per page */

struct ctg_map_res {
	uint64_t requests;	/* rings made */
	uint64_t slot_busy;	/* rings whose slot was not 0 right after */
	uint64_t unpinned;	/* pages without PINNED afterwards */
	uint64_t holes;		/* pages without a DTT entry */
	uint64_t last_slot;	/* slot right after the last ring */
	uint64_t spins;		/* pause loops waiting for slots */
};

struct ctg_mbox {
	volatile uint64_t op;
	volatile uint64_t a[6];
	volatile uint64_t r[8];
	volatile uint64_t seq;	/* ops done */
};

struct ctg_info {
	volatile uint64_t dtt_root;
	volatile uint32_t dtt_level;
	volatile uint16_t bdf;
	volatile uint16_t nr_vcpus;
	volatile uint64_t barrier;	/* for ctg_guest_barrier() */
	uint64_t pad[5];
	struct ctg_mbox mbox[CTG_MAX_VCPUS];
};

_Static_assert(sizeof(struct ctg_info) <= 2048, "struct ctg_info too large");

/* ---- the VM and its attachment -------------------------------------- */
struct ctg_cfg {
	unsigned int nr_vcpus;		/* default 1 */
	void *guest_code;		/* default ctg_guest_main */
	uint64_t ram_size;		/* default CTG_RAM_SIZE */
	unsigned int dtt_level;		/* default 3 */
	uint64_t dtt_cover;		/* bytes of RAM the DTT covers; default all */
	bool no_activate;		/* leave the device inactive */
	bool unparked;			/* leave the unpinner running */
	unsigned int edu;		/* which edu device (bus order), default 0 */
	/* enum vm_mem_backing_src_type of guest RAM; default anonymous */
	unsigned int ram_src;
};

struct ctg {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu[CTG_MAX_VCPUS];
	unsigned int nr_vcpus;
	uint8_t *ram;			/* VMM address of CTG_RAM_GPA */
	uint64_t ram_size;
	volatile uint64_t *slots;	/* VMM address of BAR2 */
	struct ctg_info *info;		/* VMM address of struct ctg_info */
	int co;				/* /dev/coiommu, or -1 */
	struct coiommu_doorbells db;
	struct ct_edu edu;
	uint16_t bdf;
	/* DTT builder */
	uint64_t dtt_root;
	unsigned int dtt_level;
	unsigned int tables_used;
	/* shadow of RAM for DMA proofs */
	uint8_t *shadow;
};

/*
 * Create the VM, memslots and mappings, open edu and /dev/coiommu, hand
 * over memory, device and doorbells, build an (empty) DTT covering
 * cfg->dtt_cover bytes of RAM from CTG_RAM_GPA, park the unpinner as the
 * guest does with COIOMMU_CMD_PARK (unless cfg->unparked: then the
 * background unpinner may clear ACCESSED and release pages the guest does
 * not map) and, unless cfg->no_activate, activate. 0 or -errno (with a
 * "# " line on stderr saying what failed). Call ctg_destroy() in any
 * case.
 */
int ctg_create(struct ctg *t, const struct ctg_cfg *cfg);
/*
 * Detach the doorbells, close /dev/coiommu, free the VM, close VFIO: in
 * that order, so that ct_env_teardown() may follow.
 */
void ctg_destroy(struct ctg *t);
/* Reset @t so that ctg_destroy() is safe before ctg_create(). */
void ctg_init(struct ctg *t);

/* VMM address of guest RAM at @gpa, or NULL outside RAM. */
void *ctg_hva(struct ctg *t, uint64_t gpa);

/* COIOMMU_CMD_ACTIVATE with the builder's DTT; updates struct ctg_info. */
int ctg_activate(struct ctg *t);

/* ---- DTT builder (host) ---------------------------------------------- */
/* Start a new DTT of @level levels: a zeroed root table. */
int ctg_dtt_init(struct ctg *t, unsigned int level);
/* Make sure tables exist for every GFN of [gpa, gpa + size). */
int ctg_dtt_cover(struct ctg *t, uint64_t gpa, uint64_t size);
/* VMM address of @gfn's leaf entry, or NULL (hole, or not RAM). */
uint32_t *ctg_dtt_entry(struct ctg *t, uint64_t gfn);
/*
 * VMM address of the upper entry at @level (dtt_level down to 2) on the
 * way to @gfn, or NULL when the walk stops above it.
 */
uint64_t *ctg_dtt_upper(struct ctg *t, unsigned int level, uint64_t gfn);
/* A zeroed page from the table area: its GPA, or 0. */
uint64_t ctg_alloc_table(struct ctg *t);

/* ---- running guest ops (host) ---------------------------------------- */
/*
 * Run op @op with up to 6 arguments on vCPU @vcpu until the guest
 * answers. Results are in t->info->mbox[vcpu].r[]. 0, or -EIO after a
 * guest assertion or unexpected exit (reported on stderr). Thread-safe
 * for different vCPUs.
 */
int ctg_run(struct ctg *t, unsigned int vcpu, uint64_t op, uint64_t a0,
	    uint64_t a1, uint64_t a2, uint64_t a3);
static inline volatile uint64_t *ctg_res(struct ctg *t, unsigned int vcpu)
{
	return t->info->mbox[vcpu].r;
}
/* The guest rings @req on @vcpu; *@after: slot read right after. */
int ctg_ring(struct ctg *t, unsigned int vcpu, uint64_t req,
	     uint64_t *after);
/* The guest maps @n pages from @gfn (CTG_OP_MAP); result in *@res. */
int ctg_map(struct ctg *t, unsigned int vcpu, uint64_t gfn, uint64_t n,
	    unsigned int flags, struct ctg_map_res *res);
/*
 * The guest maps (CTG_OP_MAP_LIST) or unmaps (CTG_OP_UNMAP_LIST) the @n
 * GFNs of @gfns (at most CTG_LIST_MAX), in that order.
 */
int ctg_map_list(struct ctg *t, unsigned int vcpu, const uint64_t *gfns,
		 unsigned int n, unsigned int flags, struct ctg_map_res *res);
int ctg_unmap_list(struct ctg *t, unsigned int vcpu, const uint64_t *gfns,
		   unsigned int n);
/* The guest takes one off the map count of @n pages from @gfn. */
int ctg_unmap(struct ctg *t, unsigned int vcpu, uint64_t gfn, uint64_t n);
/* ctg_hash() of guest memory as the guest reads it. */
int ctg_guest_hash(struct ctg *t, unsigned int vcpu, uint64_t gpa,
		   uint64_t len, uint64_t *hash);

/* ---- the instance (host) ---------------------------------------------- */
/* Current value of @gfn's leaf entry (atomic load); 0 for a hole. */
uint32_t ctg_entry(struct ctg *t, uint64_t gfn);
/*
 * COIOMMU_SET_UNPIN_POLICY; @pass_pages 0 means 65536. 0 or -errno.
 */
int ctg_policy(struct ctg *t, unsigned int period_ms, unsigned int old_every,
	       unsigned int pass_pages);
/* The instance number (fdinfo), or -1. */
long ctg_instance(struct ctg *t);
/*
 * Value of @key in the instance's debugfs file
 * (/sys/kernel/debug/coiommu/<instance>), or -1.
 */
long long ctg_debugfs(struct ctg *t, const char *key);
/*
 * Poll COIOMMU_GET_STATS (every 2 ms) for up to @timeout_ms until
 * st->scans >= @scans; *@st is the last snapshot. true if reached.
 */
bool ctg_wait_scans(struct ctg *t, uint64_t scans, int timeout_ms,
		    struct coiommu_stats *st);
/* Same, until st->pinned_pages == @pinned. */
bool ctg_wait_pinned(struct ctg *t, uint64_t pinned, int timeout_ms,
		     struct coiommu_stats *st);

/* ---- DMA proofs (host) ------------------------------------------------ */
/*
 * Load edu's buffer from guest page @gpa (RAM to device, CT_EDU_DMA_MAX
 * bytes) after writing @seed's pattern there; @gpa must be pinned. The
 * buffer then holds ctg_pattern(@seed).
 */
int ctg_edu_prime(struct ctg *t, uint64_t gpa, uint32_t seed);
/* Pattern @seed, CT_EDU_DMA_MAX bytes (static storage). */
const uint8_t *ctg_pattern(uint32_t seed);
/* Copy all of RAM into the shadow (what it must contain from now on). */
int ctg_shadow_sync(struct ctg *t);
/*
 * edu writes its first @len buffer bytes, which hold @buf, to @gpa
 * (device to RAM) and the shadow is updated to match. 0 or -errno.
 */
int ctg_dma_write(struct ctg *t, uint64_t gpa, const uint8_t *buf,
		  size_t len);
/* GPA of the first byte where RAM and shadow differ, or 0 if none. */
uint64_t ctg_shadow_diff(struct ctg *t);
/* The same for [gpa, gpa + len) only. */
uint64_t ctg_shadow_diff_range(struct ctg *t, uint64_t gpa, uint64_t len);
/* Shadow's hash of [gpa, gpa + len) (compare with ctg_guest_hash()). */
uint64_t ctg_shadow_hash(struct ctg *t, uint64_t gpa, uint64_t len);

/* ---- shared by host and guest ------------------------------------------ */
uint64_t ctg_hash(const volatile void *p, uint64_t len);
/*
 * Walk the DTT at @root (@level levels) to @gfn's leaf entry. @off is
 * added to every guest physical address to get a pointer (0 in the
 * guest, which maps RAM 1:1). NULL for a hole or a GFN the DTT cannot
 * cover.
 */
uint32_t *ctg_dtt_walk(uint64_t root, unsigned int level, uint64_t gfn,
		       intptr_t off);

/* ---- guest ------------------------------------------------------------ */
static inline struct ctg_info *ctg_guest_info(void)
{
	return (struct ctg_info *)CTG_INFO_GPA;
}
/* Entry point: serve generic ops on vCPU @vcpu (vcpu_args_set 1 arg). */
void ctg_guest_main(uint64_t vcpu);
/*
 * Serve @vcpu's mailbox for ever, as ctg_guest_main() does, except that
 * op @user_op goes to @user, a test's own (guest code too). A test's
 * entry point is then: ctg_guest_loop(vcpu, OP_MINE, guest_mine).
 */
void ctg_guest_loop(unsigned int vcpu, uint64_t user_op,
		    void (*user)(unsigned int vcpu, struct ctg_mbox *mb));
/* Serve the op in @vcpu's mailbox; false when it is not a generic op. */
bool ctg_guest_op(unsigned int vcpu);
/*
 * Write @req to the slot, the trigger byte, and read the slot back with
 * the very next instruction; returns what that read saw.
 */
uint64_t ctg_guest_ring(unsigned int vcpu, uint64_t req);
/* Pause until the slot reads 0; returns the pause loops (bounded). */
uint64_t ctg_guest_wait_slot(unsigned int vcpu);
/*
 * Map @n pages as a coIOMMU guest driver does: add one to each entry's
 * map count and set ACCESSED (one atomic update), ask the host for those
 * not PINNED (CTG_MAP_ALL: for all) in one batch request (CTG_MAP_SINGLE,
 * or only one page: single requests), wait for each slot, then check
 * PINNED on every page. Results are added to *@res.
 */
void ctg_guest_map(unsigned int vcpu, const uint64_t *gfns, unsigned int n,
		   unsigned int flags, struct ctg_map_res *res);
/* Take one off the map count of each page. */
void ctg_guest_unmap(const uint64_t *gfns, unsigned int n);
/*
 * The @k-th meeting (from 1) of @nr_vcpus vCPUs since the host zeroed
 * info->barrier: each waits until all made their k-th call (spins,
 * bounded; the spins are added to *@spins). False on timeout.
 */
bool ctg_guest_barrier(unsigned int nr_vcpus, unsigned int k, uint64_t *spins);

#endif /* CT_GUEST_H */
