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
#include <linux/hugetlb.h>
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

/* Busy once more: age it, and move it to the old generation in time. */
static void age_page(struct coiommu_instance *inst, u8 *st)
{
	u8 age = (*st & COIOMMU_PS_AGE) + 1;

	if (*st & COIOMMU_PS_OLD)
		return;
	if (age >= inst->unpinner.old_every) {
		*st = (*st & ~COIOMMU_PS_AGE) | COIOMMU_PS_OLD;
		coiommu_stat_add(&inst->stats.old_pages, 1);
	} else {
		*st = (*st & ~COIOMMU_PS_AGE) | age;
	}
}

/* The old generation is looked at in every old_every-th sweep. */
static bool old_gen_turn(struct coiommu_instance *inst)
{
	return !(inst->unpinner.sweeps % inst->unpinner.old_every);
}

/* The shrinker has no room left to hand pages over to reclaim.work. */
static bool reclaim_full(struct coiommu_instance *inst, enum coiommu_ctx ctx)
{
	return ctx == COIOMMU_CTX_RECLAIM &&
	       inst->reclaim.nr >= COIOMMU_BATCH;
}

static bool scan_allowed(struct coiommu_instance *inst)
{
	return inst->guest.active && !inst->guest.parked &&
	       inst->stats.pinned_pages > inst->stats.held_pages;
}

/*
 * One step of a pass: walk the index from the cursor, judge the pinned
 * pages, and release the idle ones, at most @room of them, looking at no
 * more than COIOMMU_SCAN_STEP page indexes so that the locks are dropped
 * often. Returns false when the pass should stop (budget spent, a sweep
 * completed, lock busy, no room left).
 *
 * This loop is the unpinner's whole cost per page: the index is walked
 * chunk by chunk, the state bytes read in place, and only chunks that
 * hold pinned pages exist.
 */
static bool scan_step(struct coiommu_instance *inst, enum coiommu_ctx ctx,
		      unsigned long budget, unsigned long *scanned,
		      unsigned long *released, u64 end_sweep, unsigned int room)
{
	bool reclaim = ctx == COIOMMU_CTX_RECLAIM;
	struct coiommu_dtt_cursor c = {
		.inst = inst,
		.gup_flags = reclaim ? FOLL_NOFAULT : 0,
	};
	enum coiommu_cause cause = reclaim ? COIOMMU_UNPIN_SHRINKER :
					     COIOMMU_UNPIN_LAZY;
	unsigned long ci = inst->unpinner.cursor / COIOMMU_CHUNK_PAGES;
	unsigned int off = inst->unpinner.cursor % COIOMMU_CHUNK_PAGES;
	unsigned int nr = 0;
	unsigned long looked = 0;
	bool more = true;
	/* Under pressure every generation is fair game. */
	bool old_turn = reclaim || old_gen_turn(inst);

	room = min_t(unsigned int, room, COIOMMU_BATCH);
	if (reclaim) {
		if (!mmap_read_trylock(inst->mm))
			return false;
	} else {
		mmap_read_lock(inst->mm);
	}

	while (nr < room) {
		struct coiommu_chunk *chunk;
		unsigned long found = ci;

		if (inst->unpinner.sweeps >= end_sweep ||
		    xa_empty(&inst->idx.xa)) {
			more = false;
			break;
		}
		chunk = xa_find(&inst->idx.xa, &found, ULONG_MAX, XA_PRESENT);
		if (!chunk) {
			/* Past the last pinned page: a sweep is complete. */
			ci = 0;
			off = 0;
			inst->unpinner.sweeps++;
			old_turn = reclaim || old_gen_turn(inst);
			continue;
		}
		if (found != ci) {
			ci = found;
			off = 0;
		}
		if (looked >= COIOMMU_SCAN_STEP)
			break;
		looked += COIOMMU_CHUNK_PAGES - off;
		for (; off < COIOMMU_CHUNK_PAGES && nr < room; off++) {
			u8 *st = &chunk->state[off];
			u8 s = *st;
			u64 gfn = (u64)ci * COIOMMU_CHUNK_PAGES + off;

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
			switch (coiommu_dtt_judge(&c, gfn, false)) {
			case COIOMMU_RELEASE:
				inst->scratch.req_gfns[nr++] = gfn;
				break;
			case COIOMMU_BUSY:
				age_page(inst, st);
				break;
			case COIOMMU_KEEP:
				break;
			}
		}
		if (off == COIOMMU_CHUNK_PAGES) {
			ci++;
			off = 0;
		}
	}
out:
	inst->unpinner.cursor = (u64)ci * COIOMMU_CHUNK_PAGES + off;
	coiommu_dtt_cursor_put(&c);
	mmap_read_unlock(inst->mm);

	if (nr)
		*released += coiommu_unpin_gfns(inst, inst->scratch.req_gfns,
						nr, cause, ctx);
	return more && !reclaim_full(inst, ctx);
}

/*
 * A pass over at most @budget pinned pages, and at most one sweep. The
 * instance is locked; outside reclaim the lock is dropped between steps
 * so that vCPUs are not held up. From reclaim, the pages it releases
 * wait in inst->reclaim.pages for coiommu_release_reclaimed().
 */
unsigned long coiommu_scan_pass(struct coiommu_instance *inst,
				unsigned long budget, enum coiommu_ctx ctx)
{
	bool reclaim = ctx == COIOMMU_CTX_RECLAIM;
	unsigned long scanned = 0, released = 0;
	/* A pass ends where a sweep does, so sweeps are whole. */
	u64 end_sweep = inst->unpinner.sweeps + 1;
	bool old_turn = old_gen_turn(inst);
	u64 start = ktime_get_ns();

	if (!scan_allowed(inst) || reclaim_full(inst, ctx) ||
	    !mmget_not_zero(inst->mm))
		return 0;
	while (scan_step(inst, ctx, budget, &scanned, &released, end_sweep,
			 reclaim ? COIOMMU_BATCH - inst->reclaim.nr :
				   COIOMMU_BATCH)) {
		if (reclaim)
			continue;
		mutex_unlock(&inst->lock);
		cond_resched();
		mutex_lock(&inst->lock);
		if (!scan_allowed(inst))
			break;
	}
	/* The last reference may not be dropped in reclaim: exit_mmap(). */
	if (reclaim)
		mmput_async(inst->mm);
	else
		mmput(inst->mm);
	/* Under reclaim a busy mmap_lock may have stopped it at once. */
	if (reclaim && !scanned)
		return released;
	inst->stats.scans++;
	inst->stats.scanned_pages += scanned;
	inst->stats.scan_ns += ktime_get_ns() - start;
	trace_coiommu_scan(inst->id, scanned, released, inst->unpinner.sweeps,
			   old_turn);
	return released;
}

void coiommu_schedule_scan(struct coiommu_instance *inst)
{
	if (inst->guest.active && inst->unpinner.period_ms)
		mod_delayed_work(system_unbound_wq, &inst->unpinner.work,
				 msecs_to_jiffies(inst->unpinner.period_ms));
}

void coiommu_scan_work(struct work_struct *work)
{
	struct coiommu_instance *inst =
		container_of(to_delayed_work(work), struct coiommu_instance,
			     unpinner.work);
	struct coiommu_unpinner *u = &inst->unpinner;

	mutex_lock(&inst->lock);
	/* Turned off (period 0) since this pass was queued: no pass. */
	if (u->period_ms) {
		coiommu_scan_pass(inst, u->pass_pages, COIOMMU_CTX_NORMAL);
		if (inst->guest.active)
			queue_delayed_work(system_unbound_wq, &u->work,
					   msecs_to_jiffies(u->period_ms));
	}
	mutex_unlock(&inst->lock);
}

/*
 * Unpin, dirty and uncharge the pages the shrinker took off the IOMMU:
 * what reclaim must not do itself (folio locks, mmap_lock).
 */
void coiommu_release_reclaimed(struct coiommu_instance *inst)
{
	lockdep_assert_held(&inst->lock);
	unpin_user_pages_dirty_lock(inst->reclaim.pages, inst->reclaim.nr,
				    true);
	inst->reclaim.nr = 0;
	coiommu_account(inst, -(long)inst->reclaim.uncharge);
	inst->reclaim.uncharge = 0;
}

static void coiommu_release_work(struct work_struct *work)
{
	struct coiommu_instance *inst =
		container_of(work, struct coiommu_instance, reclaim.work);

	mutex_lock(&inst->lock);
	coiommu_release_reclaimed(inst);
	mutex_unlock(&inst->lock);
}

void coiommu_unpin_init(struct coiommu_instance *inst)
{
	INIT_DELAYED_WORK(&inst->unpinner.work, coiommu_scan_work);
	INIT_WORK(&inst->reclaim.work, coiommu_release_work);
	inst->unpinner.period_ms = READ_ONCE(unpin_period_ms);
	inst->unpinner.old_every = clamp_val(READ_ONCE(unpin_old_every), 1,
					     COIOMMU_MAX_OLD_EVERY);
	inst->unpinner.pass_pages = max(READ_ONCE(unpin_pass_pages), 1U);
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
		p.period_ms = inst->unpinner.period_ms;
		p.old_every = inst->unpinner.old_every;
		p.pass_pages = inst->unpinner.pass_pages;
		return copy_to_user(arg, &p, sizeof(p)) ? -EFAULT : 0;
	}
	if (!p.old_every || p.old_every > COIOMMU_MAX_OLD_EVERY ||
	    !p.pass_pages)
		return -EINVAL;
	inst->unpinner.period_ms = p.period_ms;
	inst->unpinner.old_every = p.old_every;
	inst->unpinner.pass_pages = p.pass_pages;
	if (p.period_ms)
		coiommu_schedule_scan(inst);
	else
		cancel_delayed_work(&inst->unpinner.work); /* or it sees 0 */
	return 0;
}

/* Set bits @pos + i of the user's bitmap for the bits i of @mask. */
static int set_busy_bits(unsigned long __user *busy, u64 pos, u64 mask)
{
	while (mask) {
		u64 bit = pos + __ffs64(mask);
		unsigned long __user *w = busy + bit / BITS_PER_LONG;
		unsigned long v;

		if (get_user(v, w) ||
		    put_user(v | BIT(bit % BITS_PER_LONG), w))
			return -EFAULT;
		mask &= mask - 1;
	}
	return 0;
}

/*
 * Drop the VMM's hold on the pinned pages of [gfn, gfn + npages), all
 * guest RAM, and release those the rule allows (all of them while the
 * guest has not activated the device). With @force (COIOMMU_FORCE_UNPIN)
 * recently accessed pages the guest does not map are released too, and
 * pages kept for the guest (it maps them, or it has parked the unpinner,
 * or the VMM is gone) are counted in @nr_busy and, with @busy, reported
 * there, one bit per page of the range. Walks the index, not the range:
 * the cost follows the pinned pages. User memory is written only with
 * mmap_lock dropped.
 */
static long unpin_range(struct coiommu_instance *inst, u64 gfn, u64 npages,
			bool force, enum coiommu_cause cause,
			unsigned long __user *busy, u64 *nr_busy)
{
	bool have_mm = inst->guest.active && mmget_not_zero(inst->mm);
	struct coiommu_dtt_cursor c = { .inst = inst };
	struct coiommu_run run = { .gfn = gfn };
	u64 *gfns = inst->scratch.rel_gfns;
	long released = 0;
	unsigned int i, nr = 0;

	*nr_busy = 0;
	while (coiommu_next_run(inst, &run, gfn + npages)) {
		u64 busy_mask = 0;

		if (have_mm)
			mmap_read_lock(inst->mm);
		for (i = 0; i < run.n; i++) {
			u8 *st = &run.chunk->state[run.k + i];
			enum coiommu_verdict v = COIOMMU_RELEASE;

			if (*st & COIOMMU_PS_HELD) {
				*st &= ~COIOMMU_PS_HELD;
				coiommu_stat_add(&inst->stats.held_pages, -1);
			}
			/* Parked: the guest may be freeing DTT pages. */
			if (inst->guest.active)
				v = have_mm && !inst->guest.parked ?
				    coiommu_dtt_judge(&c, run.gfn + i, force) :
				    COIOMMU_BUSY;
			if (v == COIOMMU_RELEASE) {
				gfns[nr++] = run.gfn + i;
				continue;
			}
			if (!force)
				continue;
			(*nr_busy)++;
			busy_mask |= BIT_ULL(i);
		}
		coiommu_dtt_cursor_put(&c);
		if (have_mm)
			mmap_read_unlock(inst->mm);
		if (busy && busy_mask && set_busy_bits(busy, run.gfn - gfn,
						       busy_mask))
			busy = NULL;	/* checked writable before */
		/* A run is 64 pages at most: room for one more. */
		if (nr > COIOMMU_BATCH - COIOMMU_CHUNK_PAGES) {
			released += coiommu_unpin_gfns(inst, gfns, nr, cause,
						       COIOMMU_CTX_NORMAL);
			nr = 0;
		}
		cond_resched();
	}
	if (nr)
		released += coiommu_unpin_gfns(inst, gfns, nr, cause,
					       COIOMMU_CTX_NORMAL);
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

long coiommu_force_unpin(struct coiommu_instance *inst, void __user *arg)
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
