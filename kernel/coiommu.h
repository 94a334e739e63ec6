/* SPDX-License-Identifier: GPL-2.0 */
/*
 * coiommu_host: internal definitions shared by the module's files.
 */
#ifndef _COIOMMU_HOST_H
#define _COIOMMU_HOST_H

#include <linux/list.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <linux/coiommu.h>
#include <linux/coiommu_guest.h>

struct eventfd_ctx;
struct file;
struct iommu_domain;
struct vfio_device;

/*
 * The index of pinned pages: our own record of what we pinned. An xarray
 * keyed by GFN / COIOMMU_CHUNK_PAGES holds a chunk for every 64 guest
 * frames of which at least one is pinned, so its memory follows the pinned
 * pages, not the guest RAM declared. A chunk keeps, per page, a state byte
 * and the host page frame we pinned. The IOMMU page tables are shared with
 * VFIO type1 (and whoever else maps into the domain): they are checked
 * against this record, never trusted instead of it.
 */
#define COIOMMU_CHUNK_PAGES	64

struct coiommu_chunk {
	u8 state[COIOMMU_CHUNK_PAGES];
	unsigned long pfn[COIOMMU_CHUNK_PAGES];
};

/* Page state bits. */
#define COIOMMU_PS_PINNED	BIT(7)	/* pinned, charged, mapped in every domain */
#define COIOMMU_PS_HELD		BIT(6)	/* pinned by the VMM (COIOMMU_PIN_RANGE) */
#define COIOMMU_PS_NEW		BIT(5)	/* pinned by the running coiommu_pin() */
#define COIOMMU_PS_OLD		BIT(4)	/* unpinner: old generation */
#define COIOMMU_PS_AGE		GENMASK(3, 0)	/* unpinner: passes found busy */
#define COIOMMU_MAX_OLD_EVERY	15

/*
 * Why pages are unpinned: the tracepoint (coiommu_unpin) and the counters
 * (unpins_<name>, in debugfs and struct coiommu_stats) name each cause
 * by coiommu_cause_names[] (util.c). The pages an instance unpins when
 * it is closed are traced but not counted: no one can read the counters
 * of a closed instance.
 */
enum coiommu_cause {
	COIOMMU_UNPIN_VMM,
	COIOMMU_UNPIN_LAZY,
	COIOMMU_UNPIN_SHRINKER,
	COIOMMU_UNPIN_FORCED,
	COIOMMU_NR_COUNTED,
	COIOMMU_UNPIN_CLOSE = COIOMMU_NR_COUNTED,
	COIOMMU_NR_CAUSES,
};

extern const char * const coiommu_cause_names[COIOMMU_NR_CAUSES];

#define COIOMMU_LAT_BUCKETS	16

static inline unsigned int dtt_leaf_index(u64 gfn)
{
	return gfn & (BIT(COIOMMU_DTT_LEAF_BITS) - 1);
}

/**
 * struct coiommu_ram - one region of guest RAM
 * @gfn: first guest frame
 * @npages: size in pages
 * @vaddr: VMM virtual address of the first page
 */
struct coiommu_ram {
	u64 gfn;
	u64 npages;
	unsigned long vaddr;
};

/**
 * struct coiommu_domain - an IOMMU domain we map pinned pages into
 * @node: in coiommu_instance.devs.domains
 * @owner_node: in the module's list of owned domains (device.c), under
 *	its own lock: one instance per IOMMU domain
 * @domain: VFIO type1's domain of the devices' group(s)
 * @prot: IOMMU_READ | IOMMU_WRITE, plus IOMMU_CACHE where coherent
 * @users: devices of the instance in this domain
 */
struct coiommu_domain {
	struct list_head node;
	struct list_head owner_node;
	struct iommu_domain *domain;
	int prot;
	unsigned int users;
};

/* An inclusive range of IOVAs. */
struct coiommu_iova_range {
	u64 first;
	u64 last;
};

/**
 * struct coiommu_dev - an assigned device
 * @node: in coiommu_instance.devs.list
 * @file: our reference to the VMM's VFIO device file
 * @vdev: the VFIO device behind @file
 * @dom: the domain it is attached to
 * @resv: IOVA ranges its IOMMU group reserves (e.g. the interrupt window)
 * @nr_resv: entries of @resv
 * @bdf: its address on the guest's PCI bus
 */
struct coiommu_dev {
	struct list_head node;
	struct file *file;
	struct vfio_device *vdev;
	struct coiommu_domain *dom;
	struct coiommu_iova_range *resv;
	unsigned int nr_resv;
	u16 bdf;
};

/* coiommu_bell.flags */
#define COIOMMU_BELL_TW_QUEUED	0	/* its task work is queued */
#define COIOMMU_BELL_WORK	1	/* the worker must serve it */

/**
 * struct coiommu_bell - the doorbell of one vCPU: an eventfd we wait on
 * @inst: the instance
 * @vcpu: the vCPU, index of its notify slot
 * @ctx: our reference to the eventfd
 * @wqh: the eventfd's wait queue, once we are on it
 * @wait: our entry on it, with coiommu_bell_wake() as wake function
 * @pt: to get onto @wqh through vfs_poll()
 * @twork: queued on the ringing thread; one per vCPU, queued once at most
 * @flags: COIOMMU_BELL_*
 * @rung_ns: when it last rang (ktime_get_ns()), for the latency histogram
 */
struct coiommu_bell {
	struct coiommu_instance *inst;
	unsigned int vcpu;
	struct eventfd_ctx *ctx;
	wait_queue_head_t *wqh;
	wait_queue_entry_t wait;
	poll_table pt;
	struct callback_head twork;
	unsigned long flags;
	u64 rung_ns;
};

/* How a request reached coiommu_serve(). */
enum coiommu_path {
	COIOMMU_PATH_TASK,
	COIOMMU_PATH_WORKER,
};

#define COIOMMU_BATCH		512	/* pages pinned or released per step */
#define COIOMMU_SCAN_STEP	16384	/* page indexes one unpinner step walks */

/* How a release of pinned pages runs: its mode, passed in. */
enum coiommu_ctx {
	COIOMMU_CTX_NORMAL,	/* may sleep, take mmap_lock, dirty pages */
	COIOMMU_CTX_RECLAIM,	/* in the shrinker: unmap and collect only */
};

/**
 * struct coiommu_stats_k - counters, and the state COIOMMU_GET_STATS shows
 * @broken: a page table did not match the record once (report_mismatch())
 *
 * The fields have the names of struct coiommu_stats (uapi), which
 * debugfs shows too; @unpins_by[cause] is unpins_<coiommu_cause_names[]>.
 * Written under the instance lock. @pinned_pages, @held_pages and
 * @old_pages are also read without it (READ_ONCE) by the shrinker's count
 * and fdinfo, and changed with coiommu_stat_add() (WRITE_ONCE).
 */
struct coiommu_stats_k {
	u64 pinned_pages;
	u64 peak_pinned_pages;
	u64 pins;
	u64 unpins;
	u64 refused;
	u64 metadata_bytes;
	u64 requests;
	u64 served_task;
	u64 served_worker;
	u64 refused_requests;
	u64 unpins_by[COIOMMU_NR_COUNTED];
	u64 scans;
	u64 scanned_pages;
	u64 scan_ns;
	u64 old_pages;
	u64 held_pages;
	u64 mismatches;
	u64 latency_hist[COIOMMU_LAT_BUCKETS];
	bool broken;
};

/* Change pinned_pages, held_pages or old_pages of coiommu_stats_k. */
static inline void coiommu_stat_add(u64 *ctr, s64 delta)
{
	WRITE_ONCE(*ctr, *ctr + delta);
}

/**
 * struct coiommu_memmap - the guest memory map (mem.c), under the
 *	instance lock
 * @ram: guest RAM regions, sorted by GFN
 * @nr: entries of @ram
 */
struct coiommu_memmap {
	struct coiommu_ram *ram;
	unsigned int nr;
};

/**
 * struct coiommu_index - the record of pinned pages (mem.c), under the
 *	instance lock
 * @xa: struct coiommu_chunk by GFN / COIOMMU_CHUNK_PAGES; its own xa_lock
 *	is taken inside the instance lock
 * @spare: an empty chunk kept for reuse, or NULL
 */
struct coiommu_index {
	struct xarray xa;
	struct coiommu_chunk *spare;
};

/**
 * struct coiommu_devices - assigned devices and their domains (device.c),
 *	under the instance lock
 * @list: struct coiommu_dev
 * @nr: entries of @list
 * @domains: struct coiommu_domain
 * @nr_domains: entries of @domains
 */
struct coiommu_devices {
	struct list_head list;
	unsigned int nr;
	struct list_head domains;
	unsigned int nr_domains;
};

/**
 * struct coiommu_doorbells - notify slots and doorbells (doorbell.c)
 * @slots: the notify slots, pinned and mapped into the kernel
 * @slot_pages: the pages behind @slots
 * @nr_slot_pages: entries of @slot_pages
 * @nr_vcpus: notify slots
 * @bells: one doorbell per vCPU, or NULL
 * @work: the instance's worker, for requests not served by task work
 *
 * Set under the instance lock, once (COIOMMU_SET_NOTIFY, then
 * COIOMMU_SET_DOORBELL per entry of @bells), and freed at release once
 * the worker has stopped. The worker reads @nr_vcpus and @bells without
 * the lock: entries of @bells are published with smp_store_release().
 */
struct coiommu_doorbells {
	u64 *slots;
	struct page **slot_pages;
	unsigned int nr_slot_pages;
	unsigned int nr_vcpus;
	struct coiommu_bell **bells;
	struct work_struct work;
};

/**
 * struct coiommu_guest_state - the device as the guest drives it
 *	(request.c), under the instance lock
 * @active: the guest activated the device; requests are served
 * @parked: nesting count of the guest's park commands
 * @dtt_root: guest physical address of the DTT's top table
 * @dtt_level: levels of the DTT, leaf included
 * @stale_root: after DEACTIVATE, the root of the activation it ended:
 *	not walked again unless the VMM says the guest wrote it anew
 *
 * @active and @parked are also read without the lock (READ_ONCE) by the
 * shrinker's count: they are written with WRITE_ONCE.
 */
struct coiommu_guest_state {
	bool active;
	int parked;
	u64 dtt_root;
	unsigned int dtt_level;
	u64 stale_root;
};

/**
 * struct coiommu_unpinner - the background unpinner (unpin.c), under the
 *	instance lock
 * @work: its periodic pass
 * @cursor: the next GFN to look at
 * @sweeps: completed sweeps over all pinned pages
 * @period_ms: policy, see struct coiommu_unpin_policy
 * @old_every: policy
 * @pass_pages: policy
 */
struct coiommu_unpinner {
	struct delayed_work work;
	u64 cursor;
	u64 sweeps;
	unsigned int period_ms;
	unsigned int old_every;
	unsigned int pass_pages;
};

/**
 * struct coiommu_reclaim - what the shrinker (shrinker.c) leaves to the
 *	instance's release work (unpin.c)
 * @node: in the list of all instances, under coiommu_instances_lock
 * @pages: pages the shrinker took off the IOMMU, to be unpinned by @work
 *	(COIOMMU_BATCH at most); under the instance lock
 * @nr: entries of @pages; under the instance lock
 * @uncharge: locked_vm left for @work; under the instance lock
 * @work: unpins and uncharges @pages
 */
struct coiommu_reclaim {
	struct list_head node;
	struct page **pages;
	unsigned int nr;
	unsigned long uncharge;
	struct work_struct work;
};

/**
 * struct coiommu_scratch - arrays of COIOMMU_BATCH entries, under the
 *	instance lock; none is used across a drop of it
 * @pages: pages being pinned (pin_run()) or released (unpin_gfns())
 * @req_gfns: GFNs of a batch request, or of an unpinner step
 * @req_leaf: VMM address of each one's DTT leaf entry
 * @rel_gfns: GFNs of a range being released
 */
struct coiommu_scratch {
	struct page **pages;
	u64 *req_gfns;
	unsigned long *req_leaf;
	u64 *rel_gfns;
};

/**
 * struct coiommu_instance - one VM: the state behind one open /dev/coiommu
 * @id: unique number of the instance, shown in fdinfo
 * @mm: address space of the opener (the VMM); grabbed, not kept alive
 * @task: the opener's thread group leader, whose RLIMIT_MEMLOCK applies
 * @lock_cap: the opener had CAP_IPC_LOCK: no RLIMIT_MEMLOCK check
 * @owner_tgid: thread group that opened the instance
 * @file: our file; pending task work holds a reference on it
 * @lock: serialises configuration, pin and unpin, request service and
 *	the unpinner; each member below says what of it the lock guards
 * @mem: the guest memory map
 * @idx: the index of pinned pages
 * @devs: devices and domains
 * @db: notify slots and doorbells
 * @guest: activation, park count and DTT of the guest
 * @unpinner: the background unpinner
 * @reclaim: the shrinker's hand-off
 * @scratch: arrays for a batch of work
 * @stats: counters
 * @debugfs: this instance's debugfs files (set at open)
 *
 * The members above @lock are set at open and constant afterwards.
 */
struct coiommu_instance {
	u64 id;
	struct mm_struct *mm;
	struct task_struct *task;
	bool lock_cap;
	pid_t owner_tgid;
	struct file *file;

	struct mutex lock;	/* see above */
	struct coiommu_memmap mem;
	struct coiommu_index idx;
	struct coiommu_devices devs;
	struct coiommu_doorbells db;
	struct coiommu_guest_state guest;
	struct coiommu_unpinner unpinner;
	struct coiommu_reclaim reclaim;
	struct coiommu_scratch scratch;
	struct coiommu_stats_k stats;
	struct {
		struct dentry *info;
		struct dentry *pinned;
	} debugfs;
};

/* util.c: called from every file, calls none */
int coiommu_copy_args(void *karg, size_t ksize, void __user *arg);
int coiommu_account(struct coiommu_instance *inst, long npages);

/* mem.c: the guest memory map and the index */
long coiommu_set_memory_map(struct coiommu_instance *inst, void __user *arg);
struct coiommu_ram *coiommu_find_ram(struct coiommu_instance *inst, u64 gfn);
int coiommu_check_ram(struct coiommu_instance *inst, u64 gfn, u64 npages);
unsigned long coiommu_gpa_to_hva(struct coiommu_instance *inst, u64 gpa,
				 size_t len);
void coiommu_free_memory_map(struct coiommu_instance *inst);
int coiommu_check_resv(const struct coiommu_dev *d,
		       const struct coiommu_ram *ram, unsigned int nr);
int coiommu_index_init(void);
void coiommu_index_exit(void);
struct coiommu_chunk *coiommu_chunk_get(struct coiommu_instance *inst,
					u64 gfn);
void coiommu_chunk_put(struct coiommu_instance *inst, u64 gfn);
u8 *coiommu_page_state(struct coiommu_instance *inst, u64 gfn);
void coiommu_free_index(struct coiommu_instance *inst);

static inline struct coiommu_chunk *
coiommu_chunk(struct coiommu_instance *inst, u64 gfn)
{
	return xa_load(&inst->idx.xa, gfn / COIOMMU_CHUNK_PAGES);
}

/*
 * A run of pinned pages: consecutive GFNs, all pinned, within one chunk.
 * The walk over pinned pages, written once (coiommu_next_run()):
 *
 *	struct coiommu_run run = { .gfn = first };
 *
 *	while (coiommu_next_run(inst, &run, end))
 *		... run.chunk->state[run.k + i], i < run.n ...
 *
 * Each step looks the index up again from run.gfn + run.n, so the body
 * may unpin pages and free chunks; after it has, it must not touch
 * run.chunk again, but may set run.n to where the next step resumes.
 */
struct coiommu_run {
	u64 gfn;			/* first GFN of the run */
	unsigned int n;			/* pages in it */
	unsigned int k;			/* index of @gfn in @chunk */
	struct coiommu_chunk *chunk;	/* the chunk holding them */
};

bool coiommu_next_run(struct coiommu_instance *inst, struct coiommu_run *run,
		      u64 end);

/* Every GFN the index can hold is below this: "to the end" for a walk. */
#define COIOMMU_GFN_END		(COIOMMU_MAX_GPA >> PAGE_SHIFT)

/* device.c */
long coiommu_add_device(struct coiommu_instance *inst, void __user *arg);
long coiommu_remove_device(struct coiommu_instance *inst, void __user *arg);
void coiommu_release_devices(struct coiommu_instance *inst);

/* doorbell.c */
long coiommu_set_notify(struct coiommu_instance *inst, void __user *arg);
long coiommu_set_doorbell(struct coiommu_instance *inst, void __user *arg);
void coiommu_detach_doorbells(struct coiommu_instance *inst);
void coiommu_free_notify(struct coiommu_instance *inst);
void coiommu_work(struct work_struct *work);

/*
 * A walk over DTT leaf entries (dtt.c), with the current leaf table
 * mapped: @inst, and @gup_flags (FOLL_NOFAULT in reclaim), are set by the
 * user, the rest is the cursor's.
 */
struct coiommu_dtt_cursor {
	struct coiommu_instance *inst;
	unsigned int gup_flags;
	u64 group;		/* GFN >> COIOMMU_DTT_LEAF_BITS of the table */
	bool valid;		/* group, and page or hole, are set */
	struct page *page;	/* the leaf table, or NULL: a hole */
	u32 *leaf;
	bool unreadable;	/* could not be read: leave alone */
};

/* What the unpin rule says of a pinned page. */
enum coiommu_verdict {
	COIOMMU_KEEP,		/* its entry cannot be read now */
	COIOMMU_RELEASE,	/* its entry was exactly PINNED (now 0), or none */
	COIOMMU_BUSY,		/* the guest maps it, or accessed it lately */
};

/* dtt.c */
u64 coiommu_dtt_leaf_table(struct coiommu_instance *inst, u64 gfn, bool remote,
			   unsigned int gup_flags);
unsigned long coiommu_dtt_leaf_entry(struct coiommu_instance *inst, u64 gfn);
int coiommu_dtt_set_pinned(unsigned long hva);
enum coiommu_verdict coiommu_dtt_judge(struct coiommu_dtt_cursor *c, u64 gfn,
				       bool force);
void coiommu_dtt_cursor_put(struct coiommu_dtt_cursor *c);

/* request.c */
long coiommu_command(struct coiommu_instance *inst, void __user *arg);
void coiommu_serve(struct coiommu_bell *bell, enum coiommu_path path);

/* unpin.c */
void coiommu_unpin_init(struct coiommu_instance *inst);
void coiommu_schedule_scan(struct coiommu_instance *inst);
void coiommu_scan_work(struct work_struct *work);
long coiommu_vmm_unpin(struct coiommu_instance *inst, u64 gfn, u64 npages);
long coiommu_force_unpin(struct coiommu_instance *inst, void __user *arg);
int coiommu_unpin_policy(struct coiommu_instance *inst, unsigned int cmd,
			 void __user *arg);
void coiommu_release_reclaimed(struct coiommu_instance *inst);
unsigned long coiommu_scan_pass(struct coiommu_instance *inst,
				unsigned long budget, enum coiommu_ctx ctx);

/* shrinker.c */
int coiommu_shrinker_init(void);
void coiommu_shrinker_exit(void);
void coiommu_instance_list_add(struct coiommu_instance *inst);
void coiommu_instance_list_del(struct coiommu_instance *inst);

/* debugfs.c */
void coiommu_debugfs_init(void);
void coiommu_debugfs_exit(void);
void coiommu_debugfs_add(struct coiommu_instance *inst);
void coiommu_debugfs_del(struct coiommu_instance *inst);

/* pin.c */
bool coiommu_is_pinned(struct coiommu_instance *inst, u64 gfn);
long coiommu_pin(struct coiommu_instance *inst, u64 gfn, u64 npages,
		 u8 flags, bool all_or_nothing);
unsigned int coiommu_unpin_gfns(struct coiommu_instance *inst,
				const u64 *gfns, unsigned int n,
				enum coiommu_cause cause, enum coiommu_ctx ctx);
void coiommu_unpin(struct coiommu_instance *inst, u64 gfn, u64 npages,
		   enum coiommu_cause cause);
void coiommu_unpin_all(struct coiommu_instance *inst);
int coiommu_map_pinned(struct coiommu_instance *inst,
		       struct coiommu_domain *dom);
void coiommu_unmap_domain(struct coiommu_instance *inst,
			  struct coiommu_domain *dom);

#endif /* _COIOMMU_HOST_H */
