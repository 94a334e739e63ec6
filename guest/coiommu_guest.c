// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_guest: the guest side of coIOMMU (Documentation/guest-abi.rst,
 * Documentation/guest-driver.rst).
 *
 * A PCI driver for the coIOMMU device (1234:abcd). It builds the DMA
 * Tracking Table (DTT) for the guest's memory, activates the device and
 * gives every endpoint listed in BAR4 DMA operations that record each
 * mapped page in the DTT and ask the host to pin the pages it has not
 * pinned yet, through this CPU's notify slot and trigger byte.
 *
 * The DMA operations do the direct mapping's work themselves: 6.1 does not
 * export dma_direct_*() to modules, the guest has no IOMMU of its own
 * (DMA address = guest physical address, which is the IOVA the host maps)
 * and x86 is cache-coherent, so a mapping is phys_to_dma() plus the
 * tracking, and the sync operations have no cache work to do. Nothing is
 * bounced: a buffer the device cannot reach fails to map.
 *
 * The driver is safe on the deployed device model too, which ends the VM
 * on DEACTIVATE and takes dtt_root and dtt_level once: the DTT is built at
 * the first probe, sized for every frame the guest may ever have
 * (MAX_PHYSMEM_BITS), activated once and kept, with the device active,
 * for the life of the VM. The driver cannot be unbound through sysfs and
 * the module cannot be unloaded; a PCI remove of the device keeps the DTT,
 * and a later probe writes the same root and level again and activates
 * (which both devices take as nothing new) and is served.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/shrinker.h>
#include <linux/slab.h>

#include <linux/coiommu_guest.h>

/* The guest ABI: <linux/coiommu_guest.h>. */
#define CG_LEAF_ENTRIES		BIT(COIOMMU_DTT_LEAF_BITS)
#define CG_UPPER_ENTRIES	BIT(COIOMMU_DTT_UPPER_BITS)
#define CG_CHUNK		32	/* pages asked for in one request, at most */

static unsigned int request_timeout_ms = 5000;
module_param(request_timeout_ms, uint, 0644);
MODULE_PARM_DESC(request_timeout_ms,
		 "Longest wait for a notify slot to be free and for the host to complete a pin request, ms (default 5000)");

struct cg_batch {
	u16 bdf;
	u16 pad[3];
	u64 nr_pages;
	u64 gfn[CG_CHUNK];
};

struct cg_endpoint {
	u16 bdf;
	struct pci_dev *pdev;	/* with a reference, once attached */
};

/**
 * struct cg_hw - the coIOMMU device, while it is bound
 * @pdev: the coIOMMU PCI device
 * @regs: BAR0 (registers, trigger bytes)
 * @slots: BAR2 (notify slots)
 * @nr_slots: vCPUs the BARs have room for
 * @nr_eps: endpoints listed in BAR4
 * @eps: the endpoints
 * @nb: PCI bus notifier, for endpoints that appear later
 */
struct cg_hw {
	struct pci_dev *pdev;
	void __iomem *regs;
	void __iomem *slots;
	unsigned int nr_slots;
	unsigned int nr_eps;
	struct cg_endpoint *eps;
	struct notifier_block nb;
};

/**
 * struct cg - coIOMMU in this guest: the DTT, kept for the VM's life
 * @hw: the device while bound, or NULL; read with interrupts off (an RCU
 *	read-side section), changed under @hw_lock
 * @hw_lock: serialises binding, removal and the shrinker's use of @hw
 * @lock: serialises changes of the DTT's shape (tables added or freed)
 * @root: top table of the DTT
 * @level: levels of the DTT, leaf included
 * @nr_gfns: the DTT covers guest frames below this
 * @batch: per CPU, the batch request buffer (guest memory the host reads)
 * @shrinker: frees empty leaf tables under memory pressure
 * @requests: pin requests sent
 * @refused_pages: pages the host did not pin after a request
 * @leaves: leaf tables in the DTT now
 * @leaves_freed: leaf tables freed by the shrinker
 * @timeouts: requests the host did not complete in time
 * @slot_busy: requests not sent: the slot was still busy (an earlier
 *	request timed out) after the whole wait
 * @probes: times the device was bound
 */
struct cg {
	struct cg_hw __rcu *hw;
	struct mutex hw_lock;	/* @hw, PARK/UNPARK */
	spinlock_t lock;	/* the DTT's shape */
	u64 *root;
	unsigned int level;
	unsigned long nr_gfns;
	struct cg_batch **batch;
	struct shrinker shrinker;
	atomic64_t requests;
	atomic64_t refused_pages;
	atomic64_t leaves;
	atomic64_t leaves_freed;
	atomic64_t timeouts;
	atomic64_t slot_busy;
	atomic64_t probes;
};

/*
 * Built at the first probe, activated once and never freed: the host may
 * walk the DTT at any time once it is active, and the deployed device can
 * neither take a new root nor be deactivated without ending the VM.
 */
static struct cg *cg_dev;
static DEFINE_MUTEX(cg_create_lock);

static inline unsigned int cg_shift(unsigned int level)
{
	return COIOMMU_DTT_LEAF_BITS + COIOMMU_DTT_UPPER_BITS * (level - 2);
}

static void *cg_table(u64 e)
{
	return phys_to_virt(e & PAGE_MASK);
}

/*
 * The leaf entry of @gfn. With @alloc, missing tables are added (call with
 * @c->lock held); without, NULL when a table is missing. Upper tables are
 * freed only with the device, leaves only by the shrinker under @c->lock
 * and when all their entries are 0: a caller that holds a mapping of @gfn
 * (its map count is not 0) may look up without the lock.
 */
static u32 *cg_entry(struct cg *c, unsigned long gfn, bool alloc)
{
	u64 *table = c->root;
	unsigned int l;

	if (gfn >= c->nr_gfns)
		return NULL;
	for (l = c->level; l > 1; l--) {
		unsigned int idx = (gfn >> cg_shift(l)) & (CG_UPPER_ENTRIES - 1);
		u64 e = READ_ONCE(table[idx]);

		if (!(e & COIOMMU_DTT_PRESENT)) {
			void *t;

			if (!alloc)
				return NULL;
			lockdep_assert_held(&c->lock);
			t = (void *)get_zeroed_page(GFP_ATOMIC);
			if (!t)
				return NULL;
			if (l == 2)
				atomic64_inc(&c->leaves);
			e = virt_to_phys(t) | COIOMMU_DTT_PRESENT;
			/* The zeroed table is visible before the link to it. */
			smp_store_release(&table[idx], e);
		}
		table = cg_table(e);
	}
	return (u32 *)table + (gfn & (CG_LEAF_ENTRIES - 1));
}

/* Add a mapping to the entry: map count + 1, ACCESSED. Returns the new value. */
static int cg_entry_get(u32 *e, u32 *val)
{
	u32 old = READ_ONCE(*e), new;

	do {
		if ((old & COIOMMU_DTT_MAPCOUNT) == COIOMMU_DTT_MAPCOUNT)
			return -ENOSPC;
		new = (old + 1) | COIOMMU_DTT_ACCESSED;
	} while (!try_cmpxchg(e, &old, new));
	*val = new;
	return 0;
}

static void cg_entry_put(u32 *e)
{
	u32 old = READ_ONCE(*e), new;

	do {
		if (WARN_ONCE(!(old & COIOMMU_DTT_MAPCOUNT),
			      "coiommu_guest: unmap of an unmapped page\n"))
			return;
		new = old - 1;
	} while (!try_cmpxchg(e, &old, new));
}

static void cg_entry_touch(u32 *e)
{
	u32 old = READ_ONCE(*e);

	while (!(old & COIOMMU_DTT_ACCESSED) &&
	       !try_cmpxchg(e, &old, old | COIOMMU_DTT_ACCESSED))
		;
}

/* Drop one mapping of each of the @n pages from @gfn. */
static void cg_untrack(struct cg *c, unsigned long gfn, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		u32 *e = cg_entry(c, gfn + i, false);

		if (WARN_ONCE(!e, "coiommu_guest: no DTT entry for gfn %#lx\n",
			      gfn + i))
			continue;
		cg_entry_put(e);
	}
}

/* Poll @slot until it reads 0, for at most request_timeout_ms. */
static bool cg_slot_wait(void __iomem *slot)
{
	u64 deadline = ktime_get_ns() +
		       (u64)READ_ONCE(request_timeout_ms) * NSEC_PER_MSEC;

	while (readq(slot)) {
		if (ktime_get_ns() > deadline)
			return false;
		cpu_relax();
	}
	return true;
}

/*
 * Ask the host to pin @n pages for endpoint @bdf through this CPU's notify
 * slot and trigger byte, and wait (bounded) for the slot to read 0. The
 * host serves the request in the vCPU's own thread before the guest runs
 * its next instruction, or in a worker; interrupts stay off meanwhile so
 * that nothing else on this CPU uses the slot. A slot that is still busy
 * (a request that timed out earlier, which the host may yet serve, from
 * this CPU's batch buffer too) is waited for, bounded the same, and never
 * rung over.
 */
static int cg_request(struct cg *c, u16 bdf, const u64 *gfn, unsigned int n)
{
	void __iomem *slot;
	unsigned long flags;
	struct cg_hw *hw;
	unsigned int cpu;
	int ret = 0;
	u64 req;

	/* Interrupts off: an RCU read-side section, which cg_remove() waits for. */
	local_irq_save(flags);
	hw = rcu_dereference_sched(c->hw);
	cpu = smp_processor_id();
	if (!hw || cpu >= hw->nr_slots) {
		ret = -ENODEV;
		goto out;
	}
	slot = hw->slots + 8 * cpu;
	if (!cg_slot_wait(slot)) {
		atomic64_inc(&c->slot_busy);
		ret = -EBUSY;
		goto out;
	}
	if (n == 1) {
		req = gfn[0] << 16 | bdf;
	} else {
		struct cg_batch *b = c->batch[cpu];

		b->bdf = bdf;
		memset(b->pad, 0, sizeof(b->pad));
		b->nr_pages = n;
		memcpy(b->gfn, gfn, n * sizeof(*gfn));
		req = COIOMMU_REQ_BATCH | virt_to_phys(b);
	}
	atomic64_inc(&c->requests);
	/* writeq() orders the batch's stores before the slot's. */
	writeq(req, slot);
	writeb(1, hw->regs + COIOMMU_REG_TRIGGER + cpu);
	if (!cg_slot_wait(slot)) {
		atomic64_inc(&c->timeouts);
		ret = -ETIMEDOUT;
	}
	/* Entries are read after the slot read 0. */
	rmb();
out:
	local_irq_restore(flags);
	return ret;
}

/* Request @n pages and check that the host pinned every one. */
static int cg_pin(struct cg *c, u16 bdf, const u64 *gfn, unsigned int n)
{
	unsigned int i, refused = 0;
	int ret;

	ret = cg_request(c, bdf, gfn, n);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		u32 *e = cg_entry(c, gfn[i], false);

		if (!e || !(READ_ONCE(*e) & COIOMMU_DTT_PINNED))
			refused++;
	}
	if (refused) {
		atomic64_add(refused, &c->refused_pages);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Record a mapping of the @n pages from @gfn for endpoint @bdf: map count
 * and ACCESSED in their entries, then a pin request for those the host has
 * not pinned. On failure every entry is as it was before.
 */
static int cg_track(struct cg *c, u16 bdf, unsigned long gfn, unsigned long n)
{
	u64 want[CG_CHUNK];
	unsigned int nw = 0;
	unsigned long i, flags;
	int ret = 0;

	for (i = 0; i < n; i++) {
		u32 *e, val;

		spin_lock_irqsave(&c->lock, flags);
		e = cg_entry(c, gfn + i, true);
		ret = e ? cg_entry_get(e, &val) : -ENOMEM;
		spin_unlock_irqrestore(&c->lock, flags);
		if (ret)
			goto undo;
		if (val & COIOMMU_DTT_PINNED)
			continue;
		want[nw++] = gfn + i;
		if (nw == CG_CHUNK) {
			ret = cg_pin(c, bdf, want, nw);
			if (ret) {
				i++;
				goto undo;
			}
			nw = 0;
		}
	}
	if (nw)
		ret = cg_pin(c, bdf, want, nw);
	if (!ret)
		return 0;
undo:
	cg_untrack(c, gfn, i);
	return ret;
}

static u16 cg_bdf(struct device *dev)
{
	return pci_dev_id(to_pci_dev(dev));
}

static bool cg_reachable(struct device *dev, dma_addr_t addr, size_t size)
{
	u64 limit = min_not_zero(dma_get_mask(dev), dev->bus_dma_limit);

	return size && addr + size - 1 >= addr && addr + size - 1 <= limit;
}

static int cg_map_phys(struct device *dev, phys_addr_t phys, size_t size,
		       dma_addr_t *dma)
{
	struct cg *c = READ_ONCE(cg_dev);
	unsigned long first, last;
	int ret;

	*dma = phys_to_dma(dev, phys);
	if (!c)
		return -ENODEV;
	if (!cg_reachable(dev, *dma, size)) {
		dev_err_ratelimited(dev, "coiommu: DMA address %pad+%zu beyond the device's mask\n",
				    dma, size);
		return -EIO;
	}
	first = PHYS_PFN(phys);
	last = PHYS_PFN(phys + size - 1);
	ret = cg_track(c, cg_bdf(dev), first, last - first + 1);
	if (ret)
		dev_err_ratelimited(dev, "coiommu: mapping of %pa+%zu failed: %d\n",
				    &phys, size, ret);
	return ret;
}

static void cg_unmap_phys(struct device *dev, phys_addr_t phys, size_t size)
{
	struct cg *c = READ_ONCE(cg_dev);
	unsigned long first = PHYS_PFN(phys), last = PHYS_PFN(phys + size - 1);

	if (c && size)
		cg_untrack(c, first, last - first + 1);
}

static void cg_touch_phys(struct device *dev, phys_addr_t phys, size_t size)
{
	struct cg *c = READ_ONCE(cg_dev);
	unsigned long pfn;

	if (!c || !size)
		return;
	for (pfn = PHYS_PFN(phys); pfn <= PHYS_PFN(phys + size - 1); pfn++) {
		u32 *e = cg_entry(c, pfn, false);

		if (e)
			cg_entry_touch(e);
	}
}

static dma_addr_t cg_map_page(struct device *dev, struct page *page,
			      unsigned long offset, size_t size,
			      enum dma_data_direction dir, unsigned long attrs)
{
	dma_addr_t dma;

	if (cg_map_phys(dev, page_to_phys(page) + offset, size, &dma))
		return DMA_MAPPING_ERROR;
	return dma;
}

static void cg_unmap_page(struct device *dev, dma_addr_t dma, size_t size,
			  enum dma_data_direction dir, unsigned long attrs)
{
	cg_unmap_phys(dev, dma_to_phys(dev, dma), size);
}

static void cg_unmap_sg(struct device *dev, struct scatterlist *sgl,
			int nents, enum dma_data_direction dir,
			unsigned long attrs)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		cg_unmap_phys(dev, dma_to_phys(dev, sg->dma_address),
			      sg_dma_len(sg));
}

static int cg_map_sg(struct device *dev, struct scatterlist *sgl, int nents,
		     enum dma_data_direction dir, unsigned long attrs)
{
	struct scatterlist *sg;
	int i, ret;

	for_each_sg(sgl, sg, nents, i) {
		ret = cg_map_phys(dev, sg_phys(sg), sg->length,
				  &sg->dma_address);
		if (ret) {
			cg_unmap_sg(dev, sgl, i, dir, attrs);
			/* The errors dma_map_sgtable() may return. */
			return ret == -ENOMEM ? -ENOMEM : -EIO;
		}
		sg_dma_len(sg) = sg->length;
	}
	return nents;
}

static void *cg_alloc(struct device *dev, size_t size, dma_addr_t *dma,
		      gfp_t gfp, unsigned long attrs)
{
	unsigned int order = get_order(size);
	u64 mask = dev->coherent_dma_mask;
	struct page *page;
	phys_addr_t phys;

	gfp &= ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM);
	gfp |= __GFP_ZERO;
	if (mask < DMA_BIT_MASK(64))
		gfp |= GFP_DMA32;
	page = alloc_pages_node(dev_to_node(dev), gfp, order);
	if (!page)
		return NULL;
	phys = page_to_phys(page);
	if (phys_to_dma(dev, phys) + size - 1 > mask) {
		/* Below a mask under 32 bits: ZONE_DMA is the last resort. */
		__free_pages(page, order);
		page = alloc_pages_node(dev_to_node(dev),
					(gfp & ~__GFP_DMA32) | GFP_DMA, order);
		if (!page)
			return NULL;
		phys = page_to_phys(page);
		if (phys_to_dma(dev, phys) + size - 1 > mask) {
			__free_pages(page, order);
			return NULL;
		}
	}
	if (cg_map_phys(dev, phys, PAGE_ALIGN(size), dma)) {
		__free_pages(page, order);
		return NULL;
	}
	return page_address(page);
}

static void cg_free(struct device *dev, size_t size, void *vaddr,
		    dma_addr_t dma, unsigned long attrs)
{
	cg_unmap_phys(dev, dma_to_phys(dev, dma), PAGE_ALIGN(size));
	free_pages((unsigned long)vaddr, get_order(size));
}

static int cg_mmap(struct device *dev, struct vm_area_struct *vma,
		   void *vaddr, dma_addr_t dma, size_t size,
		   unsigned long attrs)
{
	unsigned long n = PAGE_ALIGN(size) >> PAGE_SHIFT;

	if (vma->vm_pgoff >= n || vma_pages(vma) > n - vma->vm_pgoff)
		return -ENXIO;
	return remap_pfn_range(vma, vma->vm_start,
			       PHYS_PFN(dma_to_phys(dev, dma)) + vma->vm_pgoff,
			       vma->vm_end - vma->vm_start, vma->vm_page_prot);
}

static int cg_get_sgtable(struct device *dev, struct sg_table *sgt,
			  void *vaddr, dma_addr_t dma, size_t size,
			  unsigned long attrs)
{
	int ret = sg_alloc_table(sgt, 1, GFP_KERNEL);

	if (!ret)
		sg_set_page(sgt->sgl, virt_to_page(vaddr), PAGE_ALIGN(size), 0);
	return ret;
}

/* Not tracked: MMIO of another device is not guest RAM, nothing to pin. */
static dma_addr_t cg_map_resource(struct device *dev, phys_addr_t phys,
				  size_t size, enum dma_data_direction dir,
				  unsigned long attrs)
{
	dma_addr_t dma = phys;

	return cg_reachable(dev, dma, size) ? dma : DMA_MAPPING_ERROR;
}

/*
 * Cache-coherent: no cache maintenance. Handing a buffer (back) to the
 * device refreshes ACCESSED, so that the host's unpinner sees it in use;
 * its map count already keeps it pinned.
 */
static void cg_sync_single_for_device(struct device *dev, dma_addr_t dma,
				      size_t size,
				      enum dma_data_direction dir)
{
	cg_touch_phys(dev, dma_to_phys(dev, dma), size);
}

static void cg_sync_single_for_cpu(struct device *dev, dma_addr_t dma,
				   size_t size, enum dma_data_direction dir)
{
}

static void cg_sync_sg_for_device(struct device *dev, struct scatterlist *sgl,
				  int nents, enum dma_data_direction dir)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		cg_touch_phys(dev, dma_to_phys(dev, sg->dma_address),
			      sg_dma_len(sg));
}

static void cg_sync_sg_for_cpu(struct device *dev, struct scatterlist *sgl,
			       int nents, enum dma_data_direction dir)
{
}

static const struct dma_map_ops cg_dma_ops = {
	.alloc			= cg_alloc,
	.free			= cg_free,
	.mmap			= cg_mmap,
	.get_sgtable		= cg_get_sgtable,
	.map_page		= cg_map_page,
	.unmap_page		= cg_unmap_page,
	.map_sg			= cg_map_sg,
	.unmap_sg		= cg_unmap_sg,
	.map_resource		= cg_map_resource,
	.sync_single_for_cpu	= cg_sync_single_for_cpu,
	.sync_single_for_device	= cg_sync_single_for_device,
	.sync_sg_for_cpu	= cg_sync_sg_for_cpu,
	.sync_sg_for_device	= cg_sync_sg_for_device,
};

/* ---- the DTT ---------------------------------------------------------- */

/*
 * Write a command, then read cmd back: the deployed device model handles
 * register writes asynchronously, and the read returns only once the write
 * has been handled (a PARK that has not landed would let the host's
 * unpinner race the shrinker). Both devices read cmd as 0.
 */
static void cg_command(struct cg_hw *hw, u64 cmd)
{
	writeq(cmd, hw->regs + COIOMMU_REG_CMD);
	readq(hw->regs + COIOMMU_REG_CMD);
}

/*
 * Free the leaf tables of @table (at @level) whose entries are all 0, at
 * most @budget of them, onto @freed. The unpinner is parked: the host does
 * not touch the DTT meanwhile.
 */
static unsigned long cg_collect_empty(struct cg *c, u64 *table,
				      unsigned int level, unsigned long budget,
				      struct list_head *freed)
{
	unsigned long n = 0, flags;
	unsigned int i;

	for (i = 0; i < CG_UPPER_ENTRIES && n < budget; i++) {
		u64 e = READ_ONCE(table[i]);
		void *t;

		if (!(e & COIOMMU_DTT_PRESENT))
			continue;
		t = cg_table(e);
		if (level > 2) {
			n += cg_collect_empty(c, t, level - 1, budget - n,
					      freed);
			continue;
		}
		spin_lock_irqsave(&c->lock, flags);
		if (READ_ONCE(table[i]) == e && !memchr_inv(t, 0, PAGE_SIZE)) {
			WRITE_ONCE(table[i], 0);
			list_add(&virt_to_page(t)->lru, freed);
			atomic64_dec(&c->leaves);
			n++;
		}
		spin_unlock_irqrestore(&c->lock, flags);
	}
	return n;
}

static unsigned long cg_free_empty_leaves(struct cg *c, unsigned long budget)
{
	struct page *page, *tmp;
	struct cg_hw *hw;
	unsigned long n;
	LIST_HEAD(freed);

	if (c->level < 2)
		return 0;
	/* Without the device the unpinner cannot be parked: keep the tables. */
	if (!mutex_trylock(&c->hw_lock))
		return 0;
	hw = rcu_dereference_protected(c->hw, lockdep_is_held(&c->hw_lock));
	if (!hw) {
		mutex_unlock(&c->hw_lock);
		return 0;
	}
	cg_command(hw, COIOMMU_CMD_PARK);
	n = cg_collect_empty(c, c->root, c->level, budget, &freed);
	cg_command(hw, COIOMMU_CMD_UNPARK);
	mutex_unlock(&c->hw_lock);
	list_for_each_entry_safe(page, tmp, &freed, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
	atomic64_add(n, &c->leaves_freed);
	return n;
}

static unsigned long cg_shrink_count(struct shrinker *s,
				     struct shrink_control *sc)
{
	struct cg *c = container_of(s, struct cg, shrinker);
	long n = atomic64_read(&c->leaves);

	return n > 0 ? n : SHRINK_EMPTY;
}

static unsigned long cg_shrink_scan(struct shrinker *s,
				    struct shrink_control *sc)
{
	struct cg *c = container_of(s, struct cg, shrinker);
	unsigned long n = cg_free_empty_leaves(c, sc->nr_to_scan);

	return n ? n : SHRINK_STOP;
}

/* ---- endpoints -------------------------------------------------------- */

static struct cg_endpoint *cg_find_ep(struct cg_hw *hw, u16 bdf)
{
	unsigned int i;

	for (i = 0; i < hw->nr_eps; i++)
		if (hw->eps[i].bdf == bdf)
			return &hw->eps[i];
	return NULL;
}

/*
 * Give an endpoint the tracking DMA ops. A driver bound to it already
 * (it probed before the coIOMMU device) is unbound first and probed again
 * with them, so that none of its DMA goes untracked. An endpoint that has
 * them already (the device was removed and probed again: the DTT and the
 * endpoints' mappings were kept) keeps its driver.
 */
static void cg_attach_ep(struct cg_endpoint *ep, struct pci_dev *pdev)
{
	struct device *dev = &pdev->dev;
	bool bound;
	int ret;

	if (ep->pdev)
		return;
	ep->pdev = pci_dev_get(pdev);
	if (get_dma_ops(dev) == &cg_dma_ops) {
		dev_info(dev, "coiommu: DMA tracked (endpoint %04x), as before\n",
			 ep->bdf);
		return;
	}
	device_lock(dev);
	bound = dev->driver;
	device_unlock(dev);
	if (bound) {
		dev_info(dev, "coiommu: driver bound before coIOMMU, probing it again\n");
		device_release_driver(dev);
	}
	set_dma_ops(dev, &cg_dma_ops);
	dev_info(dev, "coiommu: DMA tracked (endpoint %04x)\n", ep->bdf);
	if (bound) {
		ret = device_attach(dev);
		if (ret < 0)
			dev_warn(dev, "coiommu: probing again failed: %d\n",
				 ret);
	}
}

/*
 * The coIOMMU device goes away, the DTT stays: endpoints keep their
 * drivers and the tracking DMA ops. Their mappings stay tracked and can be
 * unmapped; a mapping that needs a pin request fails (-ENODEV) until the
 * device is probed again.
 */
static void cg_detach_ep(struct cg_endpoint *ep)
{
	if (!ep->pdev)
		return;
	pci_dev_put(ep->pdev);
	ep->pdev = NULL;
}

static int cg_bus_notify(struct notifier_block *nb, unsigned long action,
			 void *data)
{
	struct cg_hw *hw = container_of(nb, struct cg_hw, nb);
	struct pci_dev *pdev = to_pci_dev(data);
	struct cg_endpoint *ep;

	if (action != BUS_NOTIFY_ADD_DEVICE || pci_domain_nr(pdev->bus))
		return NOTIFY_DONE;
	ep = cg_find_ep(hw, pci_dev_id(pdev));
	if (ep && !ep->pdev) {
		/* Not bound yet: the ops are in place before any probe. */
		ep->pdev = pci_dev_get(pdev);
		set_dma_ops(&pdev->dev, &cg_dma_ops);
	}
	return NOTIFY_OK;
}

/* ---- sysfs ------------------------------------------------------------ */

static struct cg *cg_of(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

static ssize_t requests_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&cg_of(dev)->requests));
}
static DEVICE_ATTR_RO(requests);

static ssize_t refused_pages_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n",
			  atomic64_read(&cg_of(dev)->refused_pages));
}
static DEVICE_ATTR_RO(refused_pages);

static ssize_t leaves_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&cg_of(dev)->leaves));
}
static DEVICE_ATTR_RO(leaves);

static ssize_t leaves_freed_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n",
			  atomic64_read(&cg_of(dev)->leaves_freed));
}
static DEVICE_ATTR_RO(leaves_freed);

static ssize_t timeouts_show(struct device *dev, struct device_attribute *attr,
			     char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&cg_of(dev)->timeouts));
}
static DEVICE_ATTR_RO(timeouts);

static ssize_t slot_busy_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&cg_of(dev)->slot_busy));
}
static DEVICE_ATTR_RO(slot_busy);

static ssize_t probes_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%lld\n", atomic64_read(&cg_of(dev)->probes));
}
static DEVICE_ATTR_RO(probes);

static ssize_t dtt_level_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", cg_of(dev)->level);
}
static DEVICE_ATTR_RO(dtt_level);

static ssize_t dtt_pages_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", cg_of(dev)->nr_gfns);
}
static DEVICE_ATTR_RO(dtt_pages);

static struct attribute *cg_attrs[] = {
	&dev_attr_requests.attr,
	&dev_attr_refused_pages.attr,
	&dev_attr_leaves.attr,
	&dev_attr_leaves_freed.attr,
	&dev_attr_timeouts.attr,
	&dev_attr_slot_busy.attr,
	&dev_attr_probes.attr,
	&dev_attr_dtt_level.attr,
	&dev_attr_dtt_pages.attr,
	NULL,
};
ATTRIBUTE_GROUPS(cg);

/* ---- the PCI driver --------------------------------------------------- */

/*
 * The endpoints of BAR4. BDF 0 is skipped, as the deployed driver does:
 * 00:00.0 is the host bridge on the deployed VMM's bus (and on ours), never
 * a passthrough device, and a zeroed entry must not give it DMA ops.
 */
static int cg_read_endpoints(struct cg_hw *hw, void __iomem *topo)
{
	unsigned int i, n = readw(topo);

	if (n > (COIOMMU_BAR_SIZE - 2) / 2)
		return -EINVAL;
	hw->eps = devm_kcalloc(&hw->pdev->dev, max(n, 1U), sizeof(*hw->eps),
			       GFP_KERNEL);
	if (!hw->eps)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		u16 bdf = readw(topo + 2 + 2 * i);

		if (!bdf) {
			dev_info(&hw->pdev->dev, "endpoint 0000 skipped\n");
			continue;
		}
		hw->eps[hw->nr_eps++].bdf = bdf;
	}
	return 0;
}

/*
 * The levels for every frame the guest may ever have, RAM hot-plugged
 * above the boot-time end included: MAX_PHYSMEM_BITS (46, or 52 with
 * 5-level paging). Only the root table is allocated here; the tables stay
 * sparse, added when a page below them is first mapped.
 */
static int cg_build_dtt(struct cg *c)
{
	u64 end = BIT_ULL(MAX_PHYSMEM_BITS - PAGE_SHIFT);
	unsigned int level = 1;

	while (level < COIOMMU_DTT_MAX_LEVEL &&
	       end > BIT_ULL(COIOMMU_DTT_LEAF_BITS + COIOMMU_DTT_UPPER_BITS * (level - 1)))
		level++;
	c->level = level;
	c->nr_gfns = min_t(u64, end,
			   BIT_ULL(COIOMMU_DTT_LEAF_BITS + COIOMMU_DTT_UPPER_BITS * (level - 1)));
	c->root = (u64 *)get_zeroed_page(GFP_KERNEL);
	if (!c->root)
		return -ENOMEM;
	if (level == 1)
		atomic64_inc(&c->leaves);
	return 0;
}

/* The DTT, the batch buffers and the shrinker: once, kept for good. */
static struct cg *cg_create(void)
{
	struct cg *c = kzalloc(sizeof(*c), GFP_KERNEL);
	unsigned int i;

	if (!c)
		return NULL;
	mutex_init(&c->hw_lock);
	spin_lock_init(&c->lock);
	c->batch = kcalloc(nr_cpu_ids, sizeof(*c->batch), GFP_KERNEL);
	if (!c->batch)
		goto err;
	for (i = 0; i < nr_cpu_ids; i++) {
		c->batch[i] = kzalloc(sizeof(*c->batch[i]), GFP_KERNEL);
		if (!c->batch[i])
			goto err;
	}
	if (cg_build_dtt(c))
		goto err;
	c->shrinker.count_objects = cg_shrink_count;
	c->shrinker.scan_objects = cg_shrink_scan;
	c->shrinker.seeks = DEFAULT_SEEKS;
	if (register_shrinker(&c->shrinker, "coiommu-dtt")) {
		free_page((unsigned long)c->root);
		goto err;
	}
	return c;
err:
	if (c->batch)
		for (i = 0; i < nr_cpu_ids; i++)
			kfree(c->batch[i]);
	kfree(c->batch);
	kfree(c);
	return NULL;
}

static int cg_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	void __iomem *topo;
	struct pci_dev *ep;
	phys_addr_t root;
	struct cg_hw *hw;
	struct cg *c;
	unsigned int i;
	int ret;

	hw = devm_kzalloc(&pdev->dev, sizeof(*hw), GFP_KERNEL);
	if (!hw)
		return -ENOMEM;
	hw->pdev = pdev;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(0) | BIT(2) | BIT(4), KBUILD_MODNAME);
	if (ret)
		return ret;
	hw->regs = pcim_iomap_table(pdev)[0];
	hw->slots = pcim_iomap_table(pdev)[2];
	topo = pcim_iomap_table(pdev)[4];
	if (pci_resource_len(pdev, 0) < COIOMMU_BAR_SIZE ||
	    pci_resource_len(pdev, 2) < COIOMMU_BAR_SIZE ||
	    pci_resource_len(pdev, 4) < COIOMMU_BAR_SIZE)
		return -ENODEV;
	hw->nr_slots = min(COIOMMU_BAR_SIZE - COIOMMU_REG_TRIGGER, COIOMMU_BAR_SIZE / 8);
	ret = cg_read_endpoints(hw, topo);
	if (ret)
		return ret;

	mutex_lock(&cg_create_lock);
	c = cg_dev;
	if (!c) {
		c = cg_create();
		if (c)	/* fully set up before the DMA ops can see it */
			smp_store_release(&cg_dev, c);
	}
	mutex_unlock(&cg_create_lock);
	if (!c)
		return -ENOMEM;
	mutex_lock(&c->hw_lock);
	if (rcu_access_pointer(c->hw)) {
		mutex_unlock(&c->hw_lock);
		return -EBUSY;	/* one coIOMMU device per guest */
	}
	/*
	 * The first probe activates the DTT; a later one (after a PCI remove)
	 * writes the same root and level and activates again: registers that
	 * hold a value already keep it, and ACTIVATE of an active device does
	 * nothing, on the deployed device as on ours. Never DEACTIVATE.
	 */
	writeq(virt_to_phys(c->root), hw->regs + COIOMMU_REG_DTT_ROOT);
	writeq(c->level, hw->regs + COIOMMU_REG_DTT_LEVEL);
	cg_command(hw, COIOMMU_CMD_ACTIVATE);
	pci_set_drvdata(pdev, c);
	rcu_assign_pointer(c->hw, hw);
	mutex_unlock(&c->hw_lock);

	hw->nb.notifier_call = cg_bus_notify;
	ret = bus_register_notifier(&pci_bus_type, &hw->nb);
	if (ret)
		dev_warn(&pdev->dev, "no PCI bus notifier (%d): endpoints added later are not tracked\n",
			 ret);

	root = virt_to_phys(c->root);
	dev_info(&pdev->dev, "DTT at %pa%s: %u level(s), %lu pages covered, %u endpoint(s)\n",
		 &root, atomic64_inc_return(&c->probes) > 1 ? " (kept)" : "",
		 c->level, c->nr_gfns, hw->nr_eps);
	for (i = 0; i < hw->nr_eps; i++) {
		ep = pci_get_domain_bus_and_slot(0, PCI_BUS_NUM(hw->eps[i].bdf),
						 hw->eps[i].bdf & 0xff);
		if (!ep)
			continue;
		cg_attach_ep(&hw->eps[i], ep);
		pci_dev_put(ep);
	}
	return 0;
}

/*
 * Only a PCI remove of the device gets here (the driver cannot be unbound
 * otherwise): stop using the device, keep the DTT and the activation.
 */
static void cg_remove(struct pci_dev *pdev)
{
	struct cg *c = pci_get_drvdata(pdev);
	struct cg_hw *hw;
	unsigned int i;

	mutex_lock(&c->hw_lock);
	hw = rcu_dereference_protected(c->hw, lockdep_is_held(&c->hw_lock));
	RCU_INIT_POINTER(c->hw, NULL);
	mutex_unlock(&c->hw_lock);
	/* Requests in flight run with interrupts off. */
	synchronize_rcu();
	if (hw->nb.notifier_call)
		bus_unregister_notifier(&pci_bus_type, &hw->nb);
	for (i = 0; i < hw->nr_eps; i++)
		cg_detach_ep(&hw->eps[i]);
	dev_info(&pdev->dev, "removed; the DTT stays active\n");
}

static const struct pci_device_id cg_ids[] = {
	{ PCI_DEVICE(COIOMMU_PCI_VENDOR_ID, COIOMMU_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, cg_ids);

static struct pci_driver cg_driver = {
	.name		= "coiommu_guest",
	.id_table	= cg_ids,
	.probe		= cg_probe,
	.remove		= cg_remove,
	.dev_groups	= cg_groups,
	/* No unbind through sysfs: the DTT stays active with the device. */
	.driver.suppress_bind_attrs = true,
};

/* No module_exit(): the module stays for the VM's life, as the DTT does. */
static int __init cg_init(void)
{
	return pci_register_driver(&cg_driver);
}
module_init(cg_init);

MODULE_DESCRIPTION("coIOMMU guest driver: DMA tracking and pinning on demand");
MODULE_LICENSE("GPL");
