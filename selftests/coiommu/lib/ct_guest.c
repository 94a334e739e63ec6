// SPDX-License-Identifier: GPL-2.0
/*
 * A coIOMMU guest for the tests; see ct_guest.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"

/* A guest exception, reported by guest_exception(). */
#define CTG_UCALL_FAULT	0x100

static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	fputs("# ct_guest: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err < 0 ? -err : err));
	return err < 0 ? err : -err;
}

/* ---- shared by host and guest ------------------------------------------ */

uint64_t ctg_hash(const volatile void *p, uint64_t len)
{
	const volatile uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	uint64_t i;

	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint32_t *ctg_dtt_walk(uint64_t root, unsigned int level, uint64_t gfn,
		       intptr_t off)
{
	unsigned int bits = CTG_DTT_LEAF_BITS + CTG_DTT_UPPER_BITS * (level - 1);
	uint64_t table = root;

	if (!level || (bits < 64 && gfn >> bits))
		return NULL;
	for (; level > 1; level--) {
		unsigned int shift = CTG_DTT_LEAF_BITS +
				     CTG_DTT_UPPER_BITS * (level - 2);
		uint64_t idx = (gfn >> shift) & ((1u << CTG_DTT_UPPER_BITS) - 1);
		uint64_t e = __atomic_load_n((uint64_t *)(table + idx * 8 + off),
					     __ATOMIC_RELAXED);

		if (!(e & CTG_DTT_PRESENT))
			return NULL;
		table = e & CTG_DTT_ADDR_MASK;
	}
	return (uint32_t *)(table + (gfn & ((1u << CTG_DTT_LEAF_BITS) - 1)) * 4 +
			    off);
}

/* ---- guest ------------------------------------------------------------ */

static struct ctg_batch *guest_batch(unsigned int vcpu)
{
	return (struct ctg_batch *)(CTG_SCRATCH_GPA +
				    vcpu * CTG_SCRATCH_PAGES * CT_PAGE);
}

uint64_t ctg_guest_ring(unsigned int vcpu, uint64_t req)
{
	volatile uint64_t *slot = (volatile uint64_t *)(CTG_BAR2_GPA + 8 * vcpu);
	volatile uint8_t *trig = (volatile uint8_t *)(CTG_BAR0_GPA +
						     COIOMMU_REG_TRIGGER + vcpu);
	uint64_t after;

	*slot = req;
	/* The read of the slot is the instruction right after the trigger. */
	asm volatile("movb $1, (%[trig])\n\t"
		     "movq (%[slot]), %[after]"
		     : [after] "=r" (after)
		     : [trig] "r" (trig), [slot] "r" (slot)
		     : "memory");
	return after;
}

#define CTG_SPIN_MAX	(1ULL << 26)

uint64_t ctg_guest_wait_slot(unsigned int vcpu)
{
	volatile uint64_t *slot = (volatile uint64_t *)(CTG_BAR2_GPA + 8 * vcpu);
	uint64_t spins = 0;

	while (*slot && spins < CTG_SPIN_MAX) {
		asm volatile("pause" ::: "memory");
		spins++;
	}
	return spins;
}

static void guest_ring_wait(unsigned int vcpu, uint64_t req,
			    struct ctg_map_res *res)
{
	uint64_t after = ctg_guest_ring(vcpu, req);

	res->requests++;
	res->last_slot = after;
	if (after) {
		res->slot_busy++;
		res->spins += ctg_guest_wait_slot(vcpu);
	}
}

static void guest_map(unsigned int vcpu, const uint64_t *gfns, uint64_t first,
		      unsigned int n, unsigned int flags,
		      struct ctg_map_res *res)
{
	struct ctg_info *info = ctg_guest_info();
	struct ctg_batch *b = guest_batch(vcpu);
	uint64_t root = info->dtt_root;
	unsigned int level = info->dtt_level;
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		uint64_t gfn = gfns ? gfns[i] : first + i;
		uint32_t *e = ctg_dtt_walk(root, level, gfn, 0);
		uint32_t old, new;

		if (!e) {
			res->holes++;
			continue;
		}
		/* Map count + 1 and ACCESSED in one atomic update. */
		old = __atomic_load_n(e, __ATOMIC_RELAXED);
		do {
			new = (old & ~CTG_DTT_COUNT) |
			      ((old + 1) & CTG_DTT_COUNT) | CTG_DTT_ACCESSED;
		} while (!__atomic_compare_exchange_n(e, &old, new, false,
						      __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED));
		if (((flags & CTG_MAP_ALL) || !(old & CTG_DTT_PINNED)) &&
		    k < CTG_BATCH_MAX)
			b->gfn[k++] = gfn;
	}

	if (k == 1 || (flags & CTG_MAP_SINGLE)) {
		for (i = 0; i < k; i++)
			guest_ring_wait(vcpu, CTG_REQ_SINGLE(b->gfn[i], info->bdf),
					res);
	} else if (k) {
		b->bdf = info->bdf;
		b->pad[0] = b->pad[1] = b->pad[2] = 0;
		b->nr_pages = k;
		guest_ring_wait(vcpu, CTG_REQ_BATCH | (uint64_t)(uintptr_t)b,
				res);
	}

	for (i = 0; i < n; i++) {
		uint64_t gfn = gfns ? gfns[i] : first + i;
		uint32_t *e = ctg_dtt_walk(root, level, gfn, 0);

		if (e && !(__atomic_load_n(e, __ATOMIC_ACQUIRE) & CTG_DTT_PINNED))
			res->unpinned++;
	}
}

void ctg_guest_map(unsigned int vcpu, const uint64_t *gfns, unsigned int n,
		   unsigned int flags, struct ctg_map_res *res)
{
	guest_map(vcpu, gfns, 0, n, flags, res);
}

static void guest_unmap(const uint64_t *gfns, uint64_t first, unsigned int n)
{
	struct ctg_info *info = ctg_guest_info();
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t gfn = gfns ? gfns[i] : first + i;
		uint32_t *e = ctg_dtt_walk(info->dtt_root, info->dtt_level,
					   gfn, 0);
		uint32_t old, new;

		if (!e)
			continue;
		old = __atomic_load_n(e, __ATOMIC_RELAXED);
		do {
			if (!(old & CTG_DTT_COUNT))
				break;
			new = old - 1;
		} while (!__atomic_compare_exchange_n(e, &old, new, false,
						      __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED));
	}
}

void ctg_guest_unmap(const uint64_t *gfns, unsigned int n)
{
	guest_unmap(gfns, 0, n);
}

bool ctg_guest_barrier(unsigned int nr_vcpus, unsigned int k, uint64_t *spins)
{
	struct ctg_info *info = ctg_guest_info();
	uint64_t target = (uint64_t)nr_vcpus * k, n = 0;
	bool met = true;

	__atomic_fetch_add(&info->barrier, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&info->barrier, __ATOMIC_SEQ_CST) < target) {
		if (++n > CTG_SPIN_MAX) {
			met = false;
			break;
		}
		asm volatile("pause" ::: "memory");
	}
	*spins += n;
	return met;
}

bool ctg_guest_op(unsigned int vcpu)
{
	struct ctg_mbox *mb = &ctg_guest_info()->mbox[vcpu];
	struct ctg_map_res res = { 0 };
	unsigned int i;

	for (i = 0; i < 8; i++)
		mb->r[i] = 0;
	switch (mb->op) {
	case CTG_OP_RING:
		mb->r[0] = ctg_guest_ring(vcpu, mb->a[0]);
		mb->r[2] = ctg_guest_wait_slot(vcpu);
		mb->r[1] = *(volatile uint64_t *)(CTG_BAR2_GPA + 8 * vcpu);
		break;
	case CTG_OP_MAP:
		guest_map(vcpu, NULL, mb->a[0], mb->a[1], mb->a[2], &res);
		mb->r[0] = res.requests;
		mb->r[1] = res.slot_busy;
		mb->r[2] = res.unpinned;
		mb->r[3] = res.holes;
		mb->r[4] = res.last_slot;
		mb->r[5] = res.spins;
		break;
	case CTG_OP_UNMAP:
		guest_unmap(NULL, mb->a[0], mb->a[1]);
		break;
	case CTG_OP_MAP_LIST:
		if (mb->a[1] > CTG_LIST_MAX)
			return false;
		guest_map(vcpu, (const uint64_t *)CTG_LIST_GPA(vcpu), 0,
			  mb->a[1], mb->a[2], &res);
		mb->r[0] = res.requests;
		mb->r[1] = res.slot_busy;
		mb->r[2] = res.unpinned;
		mb->r[3] = res.holes;
		mb->r[4] = res.last_slot;
		mb->r[5] = res.spins;
		break;
	case CTG_OP_UNMAP_LIST:
		if (mb->a[1] > CTG_LIST_MAX)
			return false;
		guest_unmap((const uint64_t *)CTG_LIST_GPA(vcpu), 0, mb->a[1]);
		break;
	case CTG_OP_WRITE32:
		__atomic_store_n((uint32_t *)mb->a[0], (uint32_t)mb->a[1],
				 __ATOMIC_SEQ_CST);
		break;
	case CTG_OP_HASH:
		mb->r[0] = ctg_hash((const void *)mb->a[0], mb->a[1]);
		break;
	case CTG_OP_READ32:
		mb->r[0] = *(volatile uint32_t *)mb->a[0];
		break;
	default:
		return false;
	}
	return true;
}

/* Any exception: report where (UCALL_UNHANDLED, see ctg_run()). */
static void guest_exception(struct ex_regs *regs)
{
	uint64_t cr2;

	asm volatile("mov %%cr2, %0" : "=r" (cr2));
	ucall(CTG_UCALL_FAULT, 4, regs->vector, regs->rip, cr2,
	      regs->error_code);
}

/*
 * The vCPU starts here (rdi: vCPU index, rsi: the guest code). The KVM
 * library starts guest code with a 16-byte aligned stack pointer, as if
 * it had not been called; compiled code expects rsp + 8 to be aligned
 * and faults (#GP) on its first aligned SSE spill. Call it properly.
 */
void ctg_guest_entry(void);
asm(".pushsection .text\n"
	".global ctg_guest_entry\n"
	"ctg_guest_entry:\n"
	"	andq $-16, %rsp\n"
	"	call *%rsi\n"
	"	ud2\n"
	".popsection");

void ctg_guest_loop(unsigned int vcpu, uint64_t user_op,
		    void (*user)(unsigned int vcpu, struct ctg_mbox *mb))
{
	struct ctg_mbox *mb = &ctg_guest_info()->mbox[vcpu];

	for (;;) {
		if (user && mb->op == user_op)
			user(vcpu, mb);
		else if (mb->op == CTG_OP_EXIT)
			GUEST_DONE();
		else
			GUEST_ASSERT_1(ctg_guest_op(vcpu), mb->op);
		mb->seq++;
		GUEST_SYNC(mb->op);
	}
}

void ctg_guest_main(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, CTG_OP_NONE, NULL);
}

/* ---- host: the VM ----------------------------------------------------- */

void ctg_init(struct ctg *t)
{
	memset(t, 0, sizeof(*t));
	t->co = -1;
	t->edu.container = t->edu.group = t->edu.device = -1;
}

void *ctg_hva(struct ctg *t, uint64_t gpa)
{
	if (!t->ram || gpa < CTG_RAM_GPA || gpa - CTG_RAM_GPA >= t->ram_size)
		return NULL;
	return t->ram + (gpa - CTG_RAM_GPA);
}

uint64_t ctg_alloc_table(struct ctg *t)
{
	uint64_t gpa;

	if (t->tables_used >= CTG_TABLE_PAGES)
		return 0;
	gpa = CTG_TABLES_GPA + t->tables_used++ * CT_PAGE;
	memset(ctg_hva(t, gpa), 0, CT_PAGE);
	return gpa;
}

int ctg_dtt_init(struct ctg *t, unsigned int level)
{
	if (!level || level > COIOMMU_DTT_MAX_LEVEL)
		return fail(-EINVAL, "DTT level %u", level);
	t->tables_used = 0;
	t->dtt_level = level;
	t->dtt_root = ctg_alloc_table(t);
	return 0;
}

uint64_t *ctg_dtt_upper(struct ctg *t, unsigned int level, uint64_t gfn)
{
	uint64_t table = t->dtt_root;
	unsigned int l;

	for (l = t->dtt_level; l > 1; l--) {
		unsigned int shift = CTG_DTT_LEAF_BITS +
				     CTG_DTT_UPPER_BITS * (l - 2);
		uint64_t *e = ctg_hva(t, table + ((gfn >> shift) & 511) * 8);

		if (!e)
			return NULL;
		if (l == level)
			return e;
		if (!(*e & CTG_DTT_PRESENT))
			return NULL;
		table = *e & CTG_DTT_ADDR_MASK;
	}
	return NULL;
}

/* Create the tables on the way to @gfn. */
static int dtt_build(struct ctg *t, uint64_t gfn)
{
	unsigned int l;

	for (l = t->dtt_level; l > 1; l--) {
		uint64_t *e = ctg_dtt_upper(t, l, gfn);
		uint64_t table;

		if (!e)
			return -EFAULT;
		if (*e & CTG_DTT_PRESENT)
			continue;
		table = ctg_alloc_table(t);
		if (!table)
			return -ENOSPC;
		*e = table | CTG_DTT_PRESENT;
	}
	return 0;
}

int ctg_dtt_cover(struct ctg *t, uint64_t gpa, uint64_t size)
{
	uint64_t gfn;
	int ret;

	for (gfn = CTG_GFN(gpa); gfn < CTG_GFN(gpa + size); gfn++) {
		ret = dtt_build(t, gfn);
		if (ret)
			return fail(ret, "DTT tables for gfn %#llx",
				    (unsigned long long)gfn);
	}
	return 0;
}

uint32_t *ctg_dtt_entry(struct ctg *t, uint64_t gfn)
{
	unsigned int bits = CTG_DTT_LEAF_BITS +
			    CTG_DTT_UPPER_BITS * (t->dtt_level - 1);
	uint64_t table = t->dtt_root;
	uint64_t *e;

	if (!t->ram || (bits < 64 && gfn >> bits))
		return NULL;
	/* Like ctg_dtt_walk(), but never leaves RAM whatever the tables say. */
	if (t->dtt_level > 1) {
		e = ctg_dtt_upper(t, 2, gfn);
		if (!e || !(*e & CTG_DTT_PRESENT))
			return NULL;
		table = *e & CTG_DTT_ADDR_MASK;
	}
	return ctg_hva(t, table + (gfn & ((1u << CTG_DTT_LEAF_BITS) - 1)) * 4);
}

int ctg_activate(struct ctg *t)
{
	int ret = coiommu_command(t->co, COIOMMU_CMD_ACTIVATE, t->dtt_root,
				  t->dtt_level);

	if (ret)
		return fail(ret, "ACTIVATE root %#llx level %u",
			    (unsigned long long)t->dtt_root, t->dtt_level);
	t->info->dtt_root = t->dtt_root;
	t->info->dtt_level = t->dtt_level;
	return 0;
}

int ctg_create(struct ctg *t, const struct ctg_cfg *cfg)
{
	unsigned int nr = cfg->nr_vcpus ? cfg->nr_vcpus : 1;
	void *code = cfg->guest_code ? cfg->guest_code : (void *)ctg_guest_main;
	uint64_t size = cfg->ram_size ? cfg->ram_size : CTG_RAM_SIZE;
	struct coiommu_region region;
	char bdf[4][32];
	unsigned int i;
	int ret, b;

	ctg_init(t);
	/* edu reaches all of it: the rig widens its DMA mask (vm.sh). */
	if (nr > CTG_MAX_VCPUS || size < 128 * CT_PAGE ||
	    CTG_RAM_GPA + size > CTG_BAR0_GPA)
		return fail(-EINVAL, "configuration");

	/*
	 * Memslot 0 holds the page tables above KVM_GUEST_PAGE_TABLE_MIN_PADDR
	 * (1.5 MiB): the identity map of RAM takes one page per 2 MiB.
	 */
	t->vm = __vm_create_with_vcpus(VM_MODE_DEFAULT, nr,
				       512 + size / (2ULL << 20) + 64,
				       (void *)ctg_guest_entry, t->vcpu);
	t->nr_vcpus = nr;
	vm_init_descriptor_tables(t->vm);
	for (i = 0; i < nr; i++)
		vcpu_init_descriptor_tables(t->vcpu[i]);
	for (i = 0; i < 32; i++)
		vm_install_exception_handler(t->vm, i, guest_exception);
	vm_userspace_mem_region_add(t->vm, cfg->ram_src, CTG_RAM_GPA,
				    CTG_RAM_SLOT, size / CT_PAGE, 0);
	virt_map(t->vm, CTG_RAM_GPA, CTG_RAM_GPA, size / CT_PAGE);
	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS, CTG_BAR2_GPA,
				    CTG_BAR2_SLOT, CTG_BAR_SIZE / CT_PAGE, 0);
	virt_map(t->vm, CTG_BAR2_GPA, CTG_BAR2_GPA, CTG_BAR_SIZE / CT_PAGE);
	virt_map(t->vm, CTG_BAR0_GPA, CTG_BAR0_GPA, CTG_BAR_SIZE / CT_PAGE);
	t->ram = addr_gpa2hva(t->vm, CTG_RAM_GPA);
	t->ram_size = size;
	t->slots = addr_gpa2hva(t->vm, CTG_BAR2_GPA);
	t->info = (struct ctg_info *)t->ram;
	memset(t->ram, 0, 64 * CT_PAGE);
	for (i = 0; i < nr; i++)
		vcpu_args_set(t->vcpu[i], 2, (uint64_t)i, (uint64_t)code);
	t->shadow = malloc(size);
	if (!t->shadow)
		return fail(-ENOMEM, "shadow");

	if (ct_edu_list(bdf, 4) < (int)cfg->edu + 1)
		return fail(-ENODEV, "no edu device %u", cfg->edu);
	ret = ct_edu_open_retry(&t->edu, bdf[cfg->edu], -1, 3000);
	if (ret)
		return fail(ret, "open edu %s", bdf[cfg->edu]);
	b = ct_bdf_parse(t->edu.bdf);
	if (b < 0)
		return fail(-EINVAL, "BDF %s", t->edu.bdf);
	t->bdf = b;
	t->info->bdf = t->bdf;
	t->info->nr_vcpus = nr;

	t->co = coiommu_open();
	if (t->co < 0) {
		ret = t->co;
		t->co = -1;
		return fail(ret, "coiommu_open");
	}
	region = (struct coiommu_region) {
		.gpa = CTG_RAM_GPA,
		.size = size,
		.vaddr = (uintptr_t)t->ram,
	};
	ret = coiommu_set_memory(t->co, &region, 1);
	if (ret)
		return fail(ret, "coiommu_set_memory");
	ret = coiommu_add_vfio_device(t->co, t->edu.device, t->edu.group,
				      t->bdf);
	if (ret)
		return fail(ret, "coiommu_add_vfio_device %s", t->edu.bdf);
	ret = coiommu_attach_doorbells(t->co, &t->db, t->vm->fd, CTG_BAR0_GPA,
				       (void *)t->slots, nr);
	if (ret)
		return fail(ret, "coiommu_attach_doorbells");

	ret = ctg_dtt_init(t, cfg->dtt_level ? cfg->dtt_level : 3);
	if (ret)
		return ret;
	ret = ctg_dtt_cover(t, CTG_RAM_GPA,
			    cfg->dtt_cover ? cfg->dtt_cover : size);
	if (ret)
		return ret;
	if (!cfg->unparked) {
		/* The guest parks the unpinner: DTT bits change only by request. */
		ret = coiommu_command(t->co, COIOMMU_CMD_PARK, 0, 0);
		if (ret)
			return fail(ret, "PARK");
	}
	if (!cfg->no_activate)
		return ctg_activate(t);
	return 0;
}

void ctg_destroy(struct ctg *t)
{
	if (t->db.eventfds)
		coiommu_detach_doorbells(&t->db);
	if (t->co >= 0)
		close(t->co);
	t->co = -1;
	if (t->vm)
		kvm_vm_free(t->vm);
	t->vm = NULL;
	t->ram = NULL;
	t->info = NULL;
	t->slots = NULL;
	ct_edu_close(&t->edu);
	free(t->shadow);
	t->shadow = NULL;
}

/* ---- host: the instance ----------------------------------------------- */

uint32_t ctg_entry(struct ctg *t, uint64_t gfn)
{
	uint32_t *e = ctg_dtt_entry(t, gfn);

	return e ? __atomic_load_n(e, __ATOMIC_SEQ_CST) : 0;
}

int ctg_policy(struct ctg *t, unsigned int period_ms, unsigned int old_every,
	       unsigned int pass_pages)
{
	return coiommu_set_unpin_policy(t->co, period_ms, old_every,
					pass_pages ? pass_pages : 65536);
}

long ctg_instance(struct ctg *t)
{
	return ct_co_fdinfo(t->co, "coiommu-instance");
}

long long ctg_debugfs(struct ctg *t, const char *key)
{
	return ct_co_debugfs(ctg_instance(t), key);
}

static bool wait_stat(struct ctg *t, size_t off, uint64_t want, bool exact,
		      int timeout_ms, struct coiommu_stats *st)
{
	long deadline = ct_now_ms() + timeout_ms;
	uint64_t v;

	for (;;) {
		if (coiommu_get_stats(t->co, st))
			return false;
		v = *(uint64_t *)((char *)st + off);
		if (exact ? v == want : v >= want)
			return true;
		if (ct_now_ms() > deadline)
			return false;
		usleep(2000);
	}
}

bool ctg_wait_scans(struct ctg *t, uint64_t scans, int timeout_ms,
		    struct coiommu_stats *st)
{
	return wait_stat(t, offsetof(struct coiommu_stats, scans), scans,
			 false, timeout_ms, st);
}

bool ctg_wait_pinned(struct ctg *t, uint64_t pinned, int timeout_ms,
		     struct coiommu_stats *st)
{
	return wait_stat(t, offsetof(struct coiommu_stats, pinned_pages),
			 pinned, true, timeout_ms, st);
}

/* ---- host: running guest ops ----------------------------------------- */

int ctg_run(struct ctg *t, unsigned int vcpu, uint64_t op, uint64_t a0,
	    uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct ctg_mbox *mb = &t->info->mbox[vcpu];
	uint64_t seq = mb->seq;
	struct kvm_run *run;
	struct ucall uc;
	uint64_t cmd;

	if (vcpu >= t->nr_vcpus)
		return fail(-EINVAL, "vCPU %u", vcpu);
	mb->op = op;
	mb->a[0] = a0;
	mb->a[1] = a1;
	mb->a[2] = a2;
	mb->a[3] = a3;
	vcpu_run(t->vcpu[vcpu]);
	run = t->vcpu[vcpu]->run;
	cmd = get_ucall(t->vcpu[vcpu], &uc);
	switch (cmd) {
	case UCALL_SYNC:
		if (op != CTG_OP_EXIT && mb->seq == seq + 1)
			return 0;
		fprintf(stderr, "# ct_guest: vCPU %u: op %llu: sync %llu, seq %llu -> %llu\n",
			vcpu, (unsigned long long)op,
			(unsigned long long)uc.args[1],
			(unsigned long long)seq, (unsigned long long)mb->seq);
		return -EIO;
	case UCALL_DONE:
		if (op == CTG_OP_EXIT)
			return 0;
		fprintf(stderr, "# ct_guest: vCPU %u: op %llu: guest done\n",
			vcpu, (unsigned long long)op);
		return -EIO;
	case UCALL_ABORT:
		fprintf(stderr, "# ct_guest: vCPU %u: op %llu: guest assertion '%s' at %s:%lu (arg %#llx)\n",
			vcpu, (unsigned long long)op,
			(const char *)uc.args[GUEST_ERROR_STRING],
			(const char *)uc.args[GUEST_FILE],
			(unsigned long)uc.args[GUEST_LINE],
			(unsigned long long)uc.args[GUEST_ASSERT_BUILTIN_NARGS]);
		return -EIO;
	case CTG_UCALL_FAULT:
		fprintf(stderr, "# ct_guest: vCPU %u: op %llu: exception %llu at rip %#llx, cr2 %#llx, error code %#llx\n",
			vcpu, (unsigned long long)op,
			(unsigned long long)uc.args[0],
			(unsigned long long)uc.args[1],
			(unsigned long long)uc.args[2],
			(unsigned long long)uc.args[3]);
		return -EIO;
	default:
		fprintf(stderr, "# ct_guest: vCPU %u: op %llu: exit reason %u (%s), ucall %llu\n",
			vcpu, (unsigned long long)op, run->exit_reason,
			exit_reason_str(run->exit_reason),
			(unsigned long long)cmd);
		if (run->exit_reason == KVM_EXIT_MMIO)
			fprintf(stderr, "# ct_guest: MMIO %s at %#llx\n",
				run->mmio.is_write ? "write" : "read",
				(unsigned long long)run->mmio.phys_addr);
		return -EIO;
	}
}

static int map_res(struct ctg *t, unsigned int vcpu, struct ctg_map_res *res)
{
	volatile uint64_t *r = ctg_res(t, vcpu);

	res->requests = r[0];
	res->slot_busy = r[1];
	res->unpinned = r[2];
	res->holes = r[3];
	res->last_slot = r[4];
	res->spins = r[5];
	return 0;
}

int ctg_ring(struct ctg *t, unsigned int vcpu, uint64_t req,
	     uint64_t *after)
{
	int ret = ctg_run(t, vcpu, CTG_OP_RING, req, 0, 0, 0);

	if (!ret && after)
		*after = ctg_res(t, vcpu)[0];
	return ret;
}

int ctg_map(struct ctg *t, unsigned int vcpu, uint64_t gfn, uint64_t n,
	    unsigned int flags, struct ctg_map_res *res)
{
	int ret = ctg_run(t, vcpu, CTG_OP_MAP, gfn, n, flags, 0);

	if (ret)
		return ret;
	return map_res(t, vcpu, res);
}

static int put_list(struct ctg *t, unsigned int vcpu, const uint64_t *gfns,
		    unsigned int n)
{
	if (vcpu >= t->nr_vcpus || n > CTG_LIST_MAX)
		return fail(-EINVAL, "list of %u GFNs on vCPU %u", n, vcpu);
	memcpy(ctg_hva(t, CTG_LIST_GPA(vcpu)), gfns, n * sizeof(*gfns));
	return 0;
}

int ctg_map_list(struct ctg *t, unsigned int vcpu, const uint64_t *gfns,
		 unsigned int n, unsigned int flags, struct ctg_map_res *res)
{
	int ret = put_list(t, vcpu, gfns, n);

	if (!ret)
		ret = ctg_run(t, vcpu, CTG_OP_MAP_LIST, 0, n, flags, 0);
	return ret ? ret : map_res(t, vcpu, res);
}

int ctg_unmap_list(struct ctg *t, unsigned int vcpu, const uint64_t *gfns,
		   unsigned int n)
{
	int ret = put_list(t, vcpu, gfns, n);

	return ret ? ret : ctg_run(t, vcpu, CTG_OP_UNMAP_LIST, 0, n, 0, 0);
}

int ctg_unmap(struct ctg *t, unsigned int vcpu, uint64_t gfn, uint64_t n)
{
	return ctg_run(t, vcpu, CTG_OP_UNMAP, gfn, n, 0, 0);
}

int ctg_guest_hash(struct ctg *t, unsigned int vcpu, uint64_t gpa,
		   uint64_t len, uint64_t *hash)
{
	int ret = ctg_run(t, vcpu, CTG_OP_HASH, gpa, len, 0, 0);

	if (!ret)
		*hash = ctg_res(t, vcpu)[0];
	return ret;
}

/* ---- host: DMA proofs ------------------------------------------------- */

const uint8_t *ctg_pattern(uint32_t seed)
{
	static uint8_t buf[CT_PAGE];
	static uint32_t have;
	static bool valid;

	if (!valid || have != seed) {
		ct_fill(buf, sizeof(buf), seed);
		have = seed;
		valid = true;
	}
	return buf;
}

int ctg_edu_prime(struct ctg *t, uint64_t gpa, uint32_t seed)
{
	uint8_t *p = ctg_hva(t, gpa);
	int ret;

	if (!p || !ctg_hva(t, gpa + CT_EDU_DMA_MAX - 1))
		return fail(-ERANGE, "prime from %#llx", (unsigned long long)gpa);
	memcpy(p, ctg_pattern(seed), CT_EDU_DMA_MAX);
	ret = ct_edu_dma(&t->edu, gpa, 0, CT_EDU_DMA_MAX, false);
	if (ret)
		return fail(ret, "edu DMA from %#llx", (unsigned long long)gpa);
	return 0;
}

int ctg_shadow_sync(struct ctg *t)
{
	if (!t->shadow || !t->ram)
		return -EINVAL;
	memcpy(t->shadow, t->ram, t->ram_size);
	return 0;
}

int ctg_dma_write(struct ctg *t, uint64_t gpa, const uint8_t *buf,
		  size_t len)
{
	int ret;

	if (!ctg_hva(t, gpa) || !ctg_hva(t, gpa + len - 1))
		return fail(-ERANGE, "DMA to %#llx", (unsigned long long)gpa);
	ret = ct_edu_dma(&t->edu, gpa, 0, len, true);
	if (ret)
		return fail(ret, "edu DMA to %#llx", (unsigned long long)gpa);
	memcpy(t->shadow + (gpa - CTG_RAM_GPA), buf, len);
	return 0;
}

uint64_t ctg_shadow_diff(struct ctg *t)
{
	uint64_t i;

	if (!memcmp(t->ram, t->shadow, t->ram_size))
		return 0;
	for (i = 0; i < t->ram_size; i++)
		if (t->ram[i] != t->shadow[i])
			return CTG_RAM_GPA + i;
	return 0;
}

uint64_t ctg_shadow_diff_range(struct ctg *t, uint64_t gpa, uint64_t len)
{
	uint8_t *ram = ctg_hva(t, gpa), *sh;
	uint64_t i;

	if (!ram || !ctg_hva(t, gpa + len - 1))
		return gpa;
	sh = t->shadow + (ram - t->ram);
	if (!memcmp(ram, sh, len))
		return 0;
	for (i = 0; i < len; i++)
		if (ram[i] != sh[i])
			return gpa + i;
	return 0;
}

uint64_t ctg_shadow_hash(struct ctg *t, uint64_t gpa, uint64_t len)
{
	return ctg_hash(t->shadow + (gpa - CTG_RAM_GPA), len);
}
