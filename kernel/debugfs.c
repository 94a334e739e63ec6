// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: /sys/kernel/debug/coiommu/<instance>, one read-only file
 * per instance with its counters, unpinner policy and request latencies.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "coiommu.h"

static struct dentry *coiommu_debugfs_root;

/* "field value": a counter by its name, the same as in coiommu_stats. */
static void show_u64(struct seq_file *m, const char *field,
		     const struct coiommu_stats_k *s, size_t off)
{
	seq_printf(m, "%s %llu\n", field, *(const u64 *)((const void *)s + off));
}

#define SHOW(m, s, field) \
	show_u64(m, #field, s, offsetof(struct coiommu_stats_k, field))

static int instance_show(struct seq_file *m, void *v)
{
	struct coiommu_instance *inst = m->private;
	struct coiommu_stats_k *s = &inst->stats;
	unsigned int i;

	mutex_lock(&inst->lock);
	seq_printf(m, "owner_tgid %d\n", inst->owner_tgid);
	seq_printf(m, "active %d\nparked %d\n", inst->guest.active,
		   inst->guest.parked);
	seq_printf(m, "nr_devices %u\nnr_domains %u\nnr_vcpus %u\n",
		   inst->devs.nr, inst->devs.nr_domains, inst->db.nr_vcpus);
	SHOW(m, s, pinned_pages);
	SHOW(m, s, peak_pinned_pages);
	SHOW(m, s, held_pages);
	SHOW(m, s, old_pages);
	SHOW(m, s, mismatches);
	seq_printf(m, "broken %d\n", s->broken);
	SHOW(m, s, pins);
	SHOW(m, s, unpins);
	for (i = 0; i < COIOMMU_NR_COUNTED; i++)
		seq_printf(m, "unpins_%s %llu\n", coiommu_cause_names[i],
			   s->unpins_by[i]);
	SHOW(m, s, refused);
	SHOW(m, s, requests);
	SHOW(m, s, served_task);
	SHOW(m, s, served_worker);
	SHOW(m, s, refused_requests);
	SHOW(m, s, metadata_bytes);
	seq_printf(m, "unpin_period_ms %u\nunpin_old_every %u\nunpin_pass_pages %u\n",
		   inst->unpinner.period_ms, inst->unpinner.old_every,
		   inst->unpinner.pass_pages);
	SHOW(m, s, scans);
	SHOW(m, s, scanned_pages);
	seq_printf(m, "sweeps %llu\n", inst->unpinner.sweeps);
	SHOW(m, s, scan_ns);
	/* Bucket i: below 2^i us; the last, 2^(i-1) us or more. */
	seq_puts(m, "latency_hist");
	for (i = 0; i < COIOMMU_LAT_BUCKETS; i++)
		seq_printf(m, " %s%u:%llu", i == COIOMMU_LAT_BUCKETS - 1 ?
			   ">=" : "<", i == COIOMMU_LAT_BUCKETS - 1 ?
			   1U << (i - 1) : 1U << i, s->latency_hist[i]);
	seq_putc(m, '\n');
	mutex_unlock(&inst->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(instance);

/* One line per run of pinned pages with the same flags: "first-last flags". */
static void show_run(struct seq_file *m, u64 first, u64 last, u8 st)
{
	seq_printf(m, "%#llx-%#llx%s%s\n", first, last,
		   st & COIOMMU_PS_HELD ? " held" : "",
		   st & COIOMMU_PS_OLD ? " old" : "");
}

static int pinned_show(struct seq_file *m, void *v)
{
	struct coiommu_instance *inst = m->private;
	struct coiommu_run run = { .gfn = 0 };
	u64 start = 0, next = 0;
	unsigned int i;
	u8 cur = 0;

	mutex_lock(&inst->lock);
	while (coiommu_next_run(inst, &run, COIOMMU_GFN_END)) {
		for (i = 0; i < run.n; i++) {
			u64 g = run.gfn + i;
			u8 st = run.chunk->state[run.k + i] &
				(COIOMMU_PS_PINNED | COIOMMU_PS_HELD |
				 COIOMMU_PS_OLD);

			if (st == cur && g == next) {
				next++;
				continue;
			}
			if (cur)
				show_run(m, start, next - 1, cur);
			cur = st;
			start = g;
			next = g + 1;
		}
		cond_resched();
	}
	if (cur)
		show_run(m, start, next - 1, cur);
	mutex_unlock(&inst->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pinned);

void coiommu_debugfs_add(struct coiommu_instance *inst)
{
	char name[32];

	snprintf(name, sizeof(name), "%llu", inst->id);
	inst->debugfs.info = debugfs_create_file(name, 0400,
						 coiommu_debugfs_root, inst,
						 &instance_fops);
	snprintf(name, sizeof(name), "%llu.pinned", inst->id);
	inst->debugfs.pinned = debugfs_create_file(name, 0400,
						   coiommu_debugfs_root, inst,
						   &pinned_fops);
}

void coiommu_debugfs_del(struct coiommu_instance *inst)
{
	debugfs_remove(inst->debugfs.info);
	debugfs_remove(inst->debugfs.pinned);
}

void coiommu_debugfs_init(void)
{
	coiommu_debugfs_root = debugfs_create_dir("coiommu", NULL);
}

void coiommu_debugfs_exit(void)
{
	debugfs_remove_recursive(coiommu_debugfs_root);
}
