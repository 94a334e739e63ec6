// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: the shrinker. Under host memory pressure every instance
 * makes an unpinner pass (unpin.c) in reclaim mode: trylocks only, no page
 * faults, and only judging, unmapping and collecting; each instance's
 * release work unpins and uncharges what was collected, outside reclaim.
 */
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/shrinker.h>
#include <linux/workqueue.h>

#include "coiommu.h"
#include "compat.h"

/* Every open instance, by coiommu_instance.node. */
static LIST_HEAD(coiommu_instances);
static DEFINE_MUTEX(coiommu_instances_lock);	/* protects that list */

void coiommu_instance_list_add(struct coiommu_instance *inst)
{
	mutex_lock(&coiommu_instances_lock);
	list_add_tail(&inst->reclaim.node, &coiommu_instances);
	mutex_unlock(&coiommu_instances_lock);
}

void coiommu_instance_list_del(struct coiommu_instance *inst)
{
	mutex_lock(&coiommu_instances_lock);
	list_del(&inst->reclaim.node);
	mutex_unlock(&coiommu_instances_lock);
}

/*
 * What the shrinker could release: pinned pages that are neither held by
 * the VMM nor known to be busy (the old generation: found busy old_every
 * passes in a row), of instances whose unpinner may run. A page found
 * busy once is still counted: the guest may have unmapped it since, and
 * only a count lets the shrinker look again. A lockless estimate.
 */
static unsigned long coiommu_shrink_count(struct shrinker *s,
					  struct shrink_control *sc)
{
	struct coiommu_instance *inst;
	unsigned long n = 0;

	if (!mutex_trylock(&coiommu_instances_lock))
		return 0;
	list_for_each_entry(inst, &coiommu_instances, reclaim.node) {
		u64 pinned = READ_ONCE(inst->stats.pinned_pages);
		u64 kept = READ_ONCE(inst->stats.held_pages) +
			   READ_ONCE(inst->stats.old_pages);

		if (READ_ONCE(inst->guest.active) &&
		    !READ_ONCE(inst->guest.parked) && pinned > kept)
			n += pinned - kept;
	}
	mutex_unlock(&coiommu_instances_lock);
	return n;
}

/*
 * In reclaim we only judge, unmap and collect: the pages go to each
 * instance's release work (reclaim.work), which unpins (folio locks),
 * dirties and uncharges (mmap_lock) them outside reclaim.
 */
static unsigned long coiommu_shrink_scan(struct shrinker *s,
					 struct shrink_control *sc)
{
	struct coiommu_instance *inst;
	unsigned long freed = 0;

	/*
	 * We wait for nothing but take locks other reclaimers may hold and
	 * flush IOTLBs: only where reclaim may enter the filesystem, and
	 * may sleep.
	 */
	if (!(sc->gfp_mask & __GFP_FS) ||
	    !(sc->gfp_mask & __GFP_DIRECT_RECLAIM) ||
	    !mutex_trylock(&coiommu_instances_lock))
		return SHRINK_STOP;
	list_for_each_entry(inst, &coiommu_instances, reclaim.node) {
		unsigned long n;

		if (!mutex_trylock(&inst->lock))
			continue;
		n = coiommu_scan_pass(inst, sc->nr_to_scan,
				      COIOMMU_CTX_RECLAIM);
		if (inst->reclaim.nr)
			queue_work(system_unbound_wq, &inst->reclaim.work);
		mutex_unlock(&inst->lock);
		freed += n;
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
