// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: giving pinned memory back.
 *
 * Four callers release guest-tracked pages, all by one rule
 * (Documentation/guest-abi.rst): a page may be unpinned only by atomically
 * replacing a DTT entry that equals exactly PINNED with 0; any other value
 * gets ACCESSED cleared instead (a second chance). A page whose entry is
 * 0, or that has no entry (a hole), is not tracked by the guest any more
 * and is released too: the guest asks again before it maps it.
 *
 *  - the background unpinner, one delayed work per instance: a bounded
 *    pass every period; pages found busy for old_every passes in a row
 *    move to an old generation, looked at only every old_every-th sweep;
 *  - the shrinker, under host memory pressure, for every instance;
 *  - COIOMMU_FORCE_UNPIN (balloon, free page reporting), which also
 *    releases recently accessed pages the guest does not map now;
 *  - COIOMMU_UNPIN_RANGE, for pages the VMM held.
 *
 * None of them runs while the guest has parked the unpinner (it frees DTT
 * pages then), and none before the guest activated the device. The DTT is
 * read through page references on the VMM's mm (get_user_pages_remote()),
 * which works from the worker and from a reclaiming task alike; the
 * shrinker only trylocks and never faults pages in.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/shrinker.h>
#include <linux/uaccess.h>

#include <linux/coiommu.h>

#include "coiommu.h"
#include "compat.h"
#include "trace.h"

static unsigned int unpin_period_ms = 10000;
module_param(unpin_period_ms, uint, 0644);
MODULE_PARM_DESC(unpin_period_ms,
		 "Default period of the background unpinner, ms; 0: off (default 10000)");

static unsigned int unpin_old_every = 10;
module_param(unpin_old_every, uint, 0644);
MODULE_PARM_DESC(unpin_old_every,
		 "Default busy passes before a page moves to the old generation, which is scanned every that many sweeps (1-15, default 10)");

static unsigned int unpin_pass_pages = 65536;
module_param(unpin_pass_pages, uint, 0644);
MODULE_PARM_DESC(unpin_pass_pages,
		 "Default bound on pinned pages looked at per pass (default 65536)");

static LIST_HEAD(coiommu_instances);
static DEFINE_MUTEX(coiommu_instances_lock);

/* A walk over DTT leaf entries, with the current leaf table mapped. */
struct dtt_cursor {
	struct coiommu_instance *inst;
	unsigned int gup_flags;		/* FOLL_NOFAULT under reclaim */
	u64 group;			/* GFN >> DTT_LEAF_BITS of the table */
	bool valid;			/* group, and page or hole, are set */
	struct page *page;		/* the leaf table, or NULL: a hole */
	u32 *leaf;
	bool unreadable;		/* could not be read: leave alone */
};

static void cursor_put(struct dtt_cursor *c)
{
	if (c->page) {
		kunmap_local(c->leaf);
		put_page(c->page);
	}
	c->page = NULL;
	c->leaf = NULL;
	c->valid = false;
}

/*
 * Map the leaf table of @gfn's group into @c: c->page NULL for a hole
 * (c->unreadable clear) or a table that cannot be read now (set).
 * mmap_lock is held.
 */
static void cursor_load(struct dtt_cursor *c, u64 gfn)
{
	unsigned long hva;
	u64 table;

	cursor_put(c);
	c->group = gfn >> DTT_LEAF_BITS;
	c->valid = true;
	c->unreadable = false;
	table = coiommu_dtt_leaf_table(c->inst, gfn, true, c->gup_flags);
	if (IS_ERR_VALUE(table)) {
		c->unreadable = true;
		return;
	}
	if (!table)
		return;
	hva = coiommu_gpa_to_hva(c->inst, table, PAGE_SIZE);
	if (coiommu_get_user_pages_remote(c->inst->mm, hva, 1,
					  FOLL_WRITE | c->gup_flags,
					  &c->page, NULL) != 1) {
		c->page = NULL;
		c->unreadable = true;
		return;
	}
	c->leaf = kmap_local_page(c->page);
}

/*
 * The leaf entry of @gfn, mapped; NULL for a hole (c->unreadable clear)
 * or when it cannot be read now (c->unreadable set). Consecutive GFNs
 * share a table, which stays mapped until the group changes.
 */
static inline u32 *cursor_entry(struct dtt_cursor *c, u64 gfn)
{
	if (unlikely(!c->valid || c->group != gfn >> DTT_LEAF_BITS))
		cursor_load(c, gfn);
	return c->page ? &c->leaf[dtt_leaf_index(gfn)] : NULL;
}

enum verdict { KEEP, RELEASE, BUSY };

/*
 * The unpin rule for one pinned page. With @force, recently accessed
 * pages that the guest does not map now are released too.
 */
static enum verdict judge(struct dtt_cursor *c, u64 gfn, bool force)
{
	u32 *e = cursor_entry(c, gfn);
	u32 v;

	if (!e)
		return c->unreadable ? KEEP : RELEASE;
	v = READ_ONCE(*e);
	for (;;) {
		if (v & DTT_MAPCOUNT)
			break;
		if (v != DTT_PINNED && v && !force)
			break;
		/* Exactly PINNED (or unmapped, forced) becomes 0, atomically. */
		if (!v || try_cmpxchg(e, &v, 0))
			return RELEASE;
	}
	if (v & DTT_ACCESSED)
		atomic_andnot(DTT_ACCESSED, (atomic_t *)e);
	return BUSY;
}

/* Release @n GFNs, consecutive ones together. */
static void release_gfns(struct coiommu_instance *inst, const u64 *gfns,
			 unsigned int n, enum coiommu_cause cause)
{
	unsigned int i = 0, j;

	while (i < n) {
		for (j = i + 1; j < n && gfns[j] == gfns[j - 1] + 1;)
			j++;
		coiommu_unpin(inst, gfns[i], j - i, cause);
		i = j;
	}
}

/* Busy once more: age it, and move it to the old generation in time. */
static void age_page(struct coiommu_instance *inst, u8 *st)
{
	u8 age = (*st & COIOMMU_PS_AGE) + 1;

	if (*st & COIOMMU_PS_OLD)
		return;
	if (age >= inst->old_every) {
		*st = (*st & ~COIOMMU_PS_AGE) | COIOMMU_PS_OLD;
		inst->stats.nr_old++;
	} else {
		*st = (*st & ~COIOMMU_PS_AGE) | age;
	}
}

/* The old generation is looked at in every old_every-th sweep. */
static bool old_gen_turn(struct coiommu_instance *inst)
{
	return !(inst->sweeps % inst->old_every);
}

static bool scan_allowed(struct coiommu_instance *inst)
{
	return inst->active && !inst->parked &&
	       inst->stats.pinned > inst->stats.nr_held;
}

/*
 * One step of a pass: walk pinned pages from the cursor, judge them, and
 * release the idle ones, at most COIOMMU_BATCH of them, looking at no
 * more than COIOMMU_SCAN_STEP page indexes so that the locks are dropped
 * often. Returns false when the pass should stop (budget spent, a sweep
 * completed, lock busy).
 *
 * This loop is the unpinner's whole cost per page: the index is walked
 * chunk by chunk, the state bytes read in place.
 */
static bool scan_step(struct coiommu_instance *inst, bool reclaim,
		      unsigned long budget, unsigned long *scanned,
		      unsigned long *released, u64 end_sweep)
{
	struct dtt_cursor c = {
		.inst = inst,
		.gup_flags = reclaim ? FOLL_NOFAULT : 0,
	};
	enum coiommu_cause cause = reclaim ? COIOMMU_UNPIN_SHRINKER :
					     COIOMMU_UNPIN_LAZY;
	unsigned int r = inst->scan_ram, nr = 0;
	unsigned long looked = 0;
	u64 idx = inst->scan_idx;
	bool more = true;
	/* Under pressure every generation is fair game. */
	bool old_turn = reclaim || old_gen_turn(inst);

	if (reclaim) {
		if (!mmap_read_trylock(inst->mm))
			return false;
	} else {
		mmap_read_lock(inst->mm);
	}

	while (nr < COIOMMU_BATCH) {
		struct coiommu_chunk *chunk;
		struct coiommu_ram *ram;
		u64 lim;

		if (inst->sweeps >= end_sweep) {
			more = false;
			break;
		}
		if (r >= inst->nr_ram) {
			r = 0;
			idx = 0;
			inst->sweeps++;
			old_turn = reclaim || old_gen_turn(inst);
			continue;
		}
		ram = &inst->ram[r];
		if (idx >= ram->npages) {
			r++;
			idx = 0;
			continue;
		}
		if (looked >= COIOMMU_SCAN_STEP)
			break;
		lim = min_t(u64, round_down(idx, COIOMMU_CHUNK_PAGES) +
				 COIOMMU_CHUNK_PAGES, ram->npages);
		looked += lim - idx;
		chunk = ram->chunks[idx / COIOMMU_CHUNK_PAGES];
		if (!chunk) {
			idx = lim;
			continue;
		}
		for (; idx < lim && nr < COIOMMU_BATCH; idx++) {
			u8 *st = &chunk->state[idx % COIOMMU_CHUNK_PAGES];
			u8 s = *st;

			if (!(s & COIOMMU_PS_PINNED) || (s & COIOMMU_PS_HELD) ||
			    ((s & COIOMMU_PS_OLD) && !old_turn))
				continue;
			/*
			 * With the budget spent, stop at the next page this
			 * pass would look at, not at the last one it looked
			 * at: a sweep whose remaining pages are all skipped
			 * then ends in this pass, instead of leaving the next
			 * pass nothing but the wrap-around (with a budget
			 * equal to the pinned count, every other pass looked
			 * at nothing).
			 */
			if (*scanned >= budget) {
				more = false;
				goto out;
			}
			(*scanned)++;
			switch (judge(&c, ram->gfn + idx, false)) {
			case RELEASE:
				inst->req_gfns[nr++] = ram->gfn + idx;
				break;
			case BUSY:
				age_page(inst, st);
				break;
			case KEEP:
				break;
			}
		}
	}
out:
	inst->scan_ram = r;
	inst->scan_idx = idx;
	cursor_put(&c);
	mmap_read_unlock(inst->mm);

	release_gfns(inst, inst->req_gfns, nr, cause);
	*released += nr;
	return more;
}

/*
 * A pass over at most @budget pinned pages, and at most one sweep. The
 * instance is locked; outside reclaim the lock is dropped between steps
 * so that vCPUs are not held up.
 */
static unsigned long scan_pass(struct coiommu_instance *inst,
			       unsigned long budget, bool reclaim)
{
	unsigned long scanned = 0, released = 0;
	/* A pass ends where a sweep does, so sweeps are whole. */
	u64 end_sweep = inst->sweeps + 1;
	bool old_turn = old_gen_turn(inst);
	u64 start = ktime_get_ns();

	if (!scan_allowed(inst) || !mmget_not_zero(inst->mm))
		return 0;
	inst->in_reclaim = reclaim;
	while (scan_step(inst, reclaim, budget, &scanned, &released,
			 end_sweep)) {
		if (reclaim)
			continue;
		mutex_unlock(&inst->lock);
		cond_resched();
		mutex_lock(&inst->lock);
		if (!scan_allowed(inst))
			break;
	}
	inst->in_reclaim = false;
	mmput(inst->mm);
	/* Under reclaim a busy mmap_lock may have stopped it at once. */
	if (reclaim && !scanned)
		return released;
	inst->stats.scans++;
	inst->stats.scanned += scanned;
	inst->stats.scan_ns += ktime_get_ns() - start;
	trace_coiommu_scan(inst->id, scanned, released, inst->sweeps, old_turn);
	return released;
}

void coiommu_schedule_scan(struct coiommu_instance *inst)
{
	if (inst->active && inst->period_ms)
		mod_delayed_work(system_unbound_wq, &inst->scan_work,
				 msecs_to_jiffies(inst->period_ms));
}

void coiommu_scan_work(struct work_struct *work)
{
	struct coiommu_instance *inst =
		container_of(to_delayed_work(work), struct coiommu_instance,
			     scan_work);

	mutex_lock(&inst->lock);
	/* Turned off (period 0) since this pass was queued: no pass. */
	if (inst->period_ms) {
		scan_pass(inst, inst->pass_pages, false);
		if (inst->active)
			queue_delayed_work(system_unbound_wq, &inst->scan_work,
					   msecs_to_jiffies(inst->period_ms));
	}
	mutex_unlock(&inst->lock);
}

/* Return the locked_vm the shrinker could not return at once. */
static void coiommu_uncharge_work(struct work_struct *work)
{
	struct coiommu_instance *inst =
		container_of(work, struct coiommu_instance, uncharge_work);

	mutex_lock(&inst->lock);
	coiommu_account(inst, 0);
	mutex_unlock(&inst->lock);
}

void coiommu_unpin_init(struct coiommu_instance *inst)
{
	INIT_DELAYED_WORK(&inst->scan_work, coiommu_scan_work);
	INIT_WORK(&inst->uncharge_work, coiommu_uncharge_work);
	inst->period_ms = READ_ONCE(unpin_period_ms);
	inst->old_every = clamp_val(READ_ONCE(unpin_old_every), 1,
				    COIOMMU_MAX_OLD_EVERY);
	inst->pass_pages = max(READ_ONCE(unpin_pass_pages), 1U);
	atomic_long_set(&inst->uncharge_pending, 0);
}

int coiommu_unpin_policy(struct coiommu_instance *inst, unsigned int cmd,
			 void __user *arg)
{
	struct coiommu_unpin_policy p;
	int ret;

	ret = coiommu_copy_args(&p, sizeof(p), arg);
	if (ret)
		return ret;
	if (p.flags || p.pad)
		return -EINVAL;
	if (cmd == COIOMMU_GET_UNPIN_POLICY) {
		p.argsz = sizeof(p);
		p.period_ms = inst->period_ms;
		p.old_every = inst->old_every;
		p.pass_pages = inst->pass_pages;
		return copy_to_user(arg, &p, sizeof(p)) ? -EFAULT : 0;
	}
	if (!p.old_every || p.old_every > COIOMMU_MAX_OLD_EVERY ||
	    !p.pass_pages)
		return -EINVAL;
	inst->period_ms = p.period_ms;
	inst->old_every = p.old_every;
	inst->pass_pages = p.pass_pages;
	if (p.period_ms)
		coiommu_schedule_scan(inst);
	else
		cancel_delayed_work(&inst->scan_work);	/* or it sees 0 */
	return 0;
}

#define RANGE_STEP	COIOMMU_BATCH	/* pages judged per mmap_lock hold */

/*
 * Judge up to RANGE_STEP pinned pages of [gfn, gfn + n), dropping the
 * VMM's hold; fills inst->req_gfns with those to release and @bits with
 * those kept for the guest (it maps them, or it has parked the unpinner,
 * or the VMM is gone). Returns how many to release.
 */
static unsigned int judge_range(struct coiommu_instance *inst, u64 gfn,
				unsigned int n, bool force, bool have_mm,
				unsigned long *bits, u64 *nr_busy)
{
	struct dtt_cursor c = { .inst = inst };
	unsigned int i, nr = 0;

	if (have_mm)
		mmap_read_lock(inst->mm);
	for (i = 0; i < n; i++) {
		u8 *st = coiommu_page_state(inst, gfn + i);
		enum verdict v = RELEASE;

		if (!st)
			continue;
		if (*st & COIOMMU_PS_HELD) {
			*st &= ~COIOMMU_PS_HELD;
			inst->stats.nr_held--;
		}
		/* Parked: the guest may be freeing DTT pages; hands off. */
		if (inst->active)
			v = have_mm && !inst->parked ?
			    judge(&c, gfn + i, force) : BUSY;
		if (v == RELEASE)
			inst->req_gfns[nr++] = gfn + i;
		if (v != RELEASE && force) {
			__set_bit(i, bits);
			(*nr_busy)++;
		}
	}
	cursor_put(&c);
	if (have_mm)
		mmap_read_unlock(inst->mm);
	return nr;
}

/*
 * Drop the VMM's hold on the pinned pages of [gfn, gfn + npages), all
 * guest RAM, and release those the rule allows (all of them while the
 * guest has not activated the device). With @busy, pages kept because the
 * guest maps them are reported there, one bit per page of the range;
 * user memory is written only with mmap_lock dropped.
 */
static long unpin_range(struct coiommu_instance *inst, u64 gfn, u64 npages,
			bool force, enum coiommu_cause cause,
			unsigned long __user *busy, u64 *nr_busy)
{
	DECLARE_BITMAP(bits, RANGE_STEP);
	bool have_mm = inst->active && mmget_not_zero(inst->mm);
	long released = 0;
	u64 done;

	*nr_busy = 0;
	for (done = 0; done < npages; done += RANGE_STEP) {
		unsigned int n = min_t(u64, npages - done, RANGE_STEP);
		unsigned int nr;

		bitmap_zero(bits, RANGE_STEP);
		nr = judge_range(inst, gfn + done, n, force, have_mm, bits,
				 nr_busy);
		release_gfns(inst, inst->req_gfns, nr, cause);
		released += nr;
		if (busy && copy_to_user(busy + done / BITS_PER_LONG, bits,
					 BITS_TO_LONGS(n) * sizeof(long)))
			busy = NULL;	/* checked writable before */
	}
	if (have_mm)
		mmput(inst->mm);
	return released;
}

long coiommu_vmm_unpin(struct coiommu_instance *inst, u64 gfn, u64 npages)
{
	u64 nr_busy;

	unpin_range(inst, gfn, npages, false, COIOMMU_UNPIN_VMM, NULL,
		    &nr_busy);
	return 0;
}

int coiommu_force_unpin(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_force_unpin args;
	unsigned long __user *busy;
	u64 gfn, npages, nbytes;
	int ret;

	ret = coiommu_copy_args(&args, sizeof(args), arg);
	if (ret)
		return ret;
	if (args.flags || !args.size || !PAGE_ALIGNED(args.gpa) ||
	    !PAGE_ALIGNED(args.size) || args.gpa + args.size < args.gpa)
		return -EINVAL;
	gfn = args.gpa >> PAGE_SHIFT;
	npages = args.size >> PAGE_SHIFT;
	ret = coiommu_check_ram(inst, gfn, npages);
	if (ret)
		return ret;

	/* The bitmap is written in whole longs: check it all first. */
	busy = u64_to_user_ptr(args.busy_bitmap);
	nbytes = DIV_ROUND_UP(npages, BITS_PER_LONG) * sizeof(long);
	if (args.busy_bitmap &&
	    (!IS_ALIGNED(args.busy_bitmap, sizeof(long)) ||
	     !access_ok(busy, nbytes) || clear_user(busy, nbytes)))
		return -EFAULT;

	args.nr_released = unpin_range(inst, gfn, npages, true,
				       COIOMMU_UNPIN_FORCED,
				       args.busy_bitmap ? busy : NULL,
				       &args.nr_busy);
	if (put_user(args.nr_released,
		     &((struct coiommu_force_unpin __user *)arg)->nr_released) ||
	    put_user(args.nr_busy,
		     &((struct coiommu_force_unpin __user *)arg)->nr_busy))
		return -EFAULT;
	return 0;
}

/* ---- the shrinker ---------------------------------------------------- */

void coiommu_instance_list_add(struct coiommu_instance *inst)
{
	mutex_lock(&coiommu_instances_lock);
	list_add_tail(&inst->node, &coiommu_instances);
	mutex_unlock(&coiommu_instances_lock);
}

void coiommu_instance_list_del(struct coiommu_instance *inst)
{
	mutex_lock(&coiommu_instances_lock);
	list_del(&inst->node);
	mutex_unlock(&coiommu_instances_lock);
}

static unsigned long coiommu_shrink_count(struct shrinker *s,
					  struct shrink_control *sc)
{
	struct coiommu_instance *inst;
	unsigned long n = 0;

	if (!mutex_trylock(&coiommu_instances_lock))
		return 0;
	list_for_each_entry(inst, &coiommu_instances, node) {
		u64 pinned = READ_ONCE(inst->stats.pinned);
		u64 held = READ_ONCE(inst->stats.nr_held);

		if (READ_ONCE(inst->active) && !READ_ONCE(inst->parked) &&
		    pinned > held)
			n += pinned - held;
	}
	mutex_unlock(&coiommu_instances_lock);
	return n;
}

static unsigned long coiommu_shrink_scan(struct shrinker *s,
					 struct shrink_control *sc)
{
	struct coiommu_instance *inst;
	unsigned long freed = 0;

	/* We sleep on locks and flush IOTLBs: only where reclaim may. */
	if (!(sc->gfp_mask & __GFP_DIRECT_RECLAIM) ||
	    !mutex_trylock(&coiommu_instances_lock))
		return SHRINK_STOP;
	list_for_each_entry(inst, &coiommu_instances, node) {
		if (!mutex_trylock(&inst->lock))
			continue;
		freed += scan_pass(inst, sc->nr_to_scan, true);
		mutex_unlock(&inst->lock);
		/* locked_vm the shrinker could not return at once. */
		if (atomic_long_read(&inst->uncharge_pending))
			queue_work(system_unbound_wq, &inst->uncharge_work);
	}
	mutex_unlock(&coiommu_instances_lock);
	return freed;
}

static struct shrinker *coiommu_shrinker;

int coiommu_shrinker_init(void)
{
	coiommu_shrinker = coiommu_shrinker_create("coiommu",
						   coiommu_shrink_count,
						   coiommu_shrink_scan);
	return coiommu_shrinker ? 0 : -ENOMEM;
}

void coiommu_shrinker_exit(void)
{
	if (coiommu_shrinker)
		coiommu_shrinker_destroy(coiommu_shrinker);
	coiommu_shrinker = NULL;
}
