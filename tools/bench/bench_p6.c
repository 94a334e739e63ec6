// SPDX-License-Identifier: GPL-2.0
/*
 * bench_p6: CPU cost of the background unpinner (P6).
 *
 * A "VMM" with N pinned pages that the guest keeps mapped (so the
 * unpinner finds every one busy and releases none), at the largest N the
 * VM allows (1 Mi pages = 4 GiB when it fits). No vCPU is needed: this
 * process plays the guest too. Guest RAM is laid out as a PC does (below
 * 3 GiB, then from 4 GiB): N data pages, then a three-level DMA Tracking
 * Table (guest-abi.rst) whose leaf
 * entries for the data pages read PINNED | map count 1. The pages are
 * pinned with COIOMMU_PIN_RANGE, the device activated with that DTT, and
 * COIOMMU_UNPIN_RANGE drops the VMM's hold: the pages stay pinned for
 * the guest, under the unpinner's care.
 *
 * Two phases, each over several passes at a short period (the cost of a
 * pass does not depend on the period; the figure is then scaled to the
 * default period of 10 s):
 *  - full: pass_pages = 2N and old_every = 15, so every pass looks at
 *    every pinned page (the first 14 passes keep them all young): the
 *    cost per pinned page per pass, the worst case;
 *  - default: the module's default policy (pass_pages 65536, old_every
 *    10): what a pass really costs at N pinned pages.
 * The cost is the instance's scan_ns (time inside passes, GET_STATS),
 * cross-checked with the non-idle CPU time of the whole VM from
 * /proc/stat over the phase, minus the same for an equal window before
 * (this process sleeps meanwhile). Every pass is logged to p6.csv.
 */
#include <math.h>
#include <sys/mman.h>

#include <linux/coiommu.h>

#include "ct.h"
#include "bench.h"

#define DTT_PINNED	(1U << 31)
#define DEFAULT_PERIOD_MS	10000.0
#define TARGET_PAGES	(1ULL << 20)
#define WQ_CPUMASK	"/sys/devices/virtual/workqueue/cpumask"

struct guest {
	uint8_t *ram;
	uint64_t npages;	/* data pages: the arena's first pages */
	uint64_t total;		/* pages of the arena, DTT included */
	uint64_t root_gpa;
};

static uint64_t gpa_of_page(uint64_t i)
{
	return bench_gpa_of(i * CT_PAGE);
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

/*
 * Level 3: root (9 bits), middle (9 bits), leaf (10 bits). The arena is
 * laid out as bench_gpa_of() says (a hole from 3 to 4 GiB): the data
 * pages first, then the DTT, whose tables cover every GFN up to the last
 * data page's (the hole's too: simpler, and never read).
 */
static int guest_build(struct guest *g, uint64_t n)
{
	uint64_t ngfn = (gpa_of_page(n - 1) >> 12) + 1;
	uint64_t nleaf = div_up(ngfn, 1024), nmid = div_up(ngfn, 1024 * 512);
	uint64_t gfn, i, mid0, leaf0;
	uint64_t *root, *mid;
	uint32_t *leaf;

	g->npages = n;
	g->root_gpa = gpa_of_page(n);
	mid0 = n + 1;
	leaf0 = mid0 + nmid;
	g->total = leaf0 + nleaf;
	g->ram = mmap(NULL, g->total * CT_PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (g->ram == MAP_FAILED)
		return -1;
	memset(g->ram, 0x5a, n * CT_PAGE);	/* guest RAM in use */
	memset(g->ram + n * CT_PAGE, 0, (g->total - n) * CT_PAGE);
	root = (uint64_t *)(g->ram + n * CT_PAGE);
	for (i = 0; i < nmid; i++)
		root[i] = gpa_of_page(mid0 + i) | 1;
	for (i = 0; i < nleaf; i++) {
		mid = (uint64_t *)(g->ram + (mid0 + i / 512) * CT_PAGE);
		mid[i % 512] = gpa_of_page(leaf0 + i) | 1;
	}
	for (i = 0; i < n; i++) {
		gfn = gpa_of_page(i) >> 12;
		leaf = (uint32_t *)(g->ram + (leaf0 + gfn / 1024) * CT_PAGE);
		leaf[gfn % 1024] = DTT_PINNED | 1;	/* mapped once */
	}
	return 0;
}

/* Non-idle jiffies (USER_HZ) of all CPUs, from the first line of /proc/stat. */
static double busy_ticks(void)
{
	unsigned long long v[10] = { 0 };
	FILE *f = fopen("/proc/stat", "re");
	double busy;

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		v[0] = 0;
	fclose(f);
	/* user nice system [idle] [iowait] irq softirq steal */
	busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return busy;
}

struct phase {
	const char *name;
	unsigned int old_every, pass_pages;
	int passes;
	/* results */
	uint64_t scans, scanned, scan_ns;
	double busy_s, idle_busy_s, wall_s;
	uint64_t pass_ps[64];	/* ps per page of passes that looked at some */
	int nr_pass;
};

/*
 * Let @ph->passes passes run at @period ms and log each. Returns 0, or -1
 * when a page was released (the set-up is wrong) or passes did not come.
 */
static int run_phase(int co, struct phase *ph, unsigned int period,
		     uint64_t n, FILE *csv)
{
	struct coiommu_stats a, s, prev;
	double b0, b1, i0, i1;
	uint64_t t0, t1, deadline;

	/* Idle reference: the same window with the unpinner off. */
	if (coiommu_set_unpin_policy(co, 0, ph->old_every, ph->pass_pages))
		return -1;
	i0 = busy_ticks();
	usleep((useconds_t)ph->passes * period * 1000);
	i1 = busy_ticks();

	if (coiommu_get_stats(co, &a))
		return -1;
	prev = a;
	b0 = busy_ticks();
	t0 = bench_now_ns();
	if (coiommu_set_unpin_policy(co, period, ph->old_every, ph->pass_pages))
		return -1;
	/* A pass at TCG speed may take longer than a period. */
	deadline = t0 + (uint64_t)ph->passes * period * 1000000ULL * 20 +
		   120000000000ULL;
	for (;;) {
		usleep(period * 100);
		if (coiommu_get_stats(co, &s))
			return -1;
		if (s.scans != prev.scans) {
			uint64_t np = s.scanned_pages - prev.scanned_pages;

			if (np && ph->nr_pass < 64)
				ph->pass_ps[ph->nr_pass++] =
					(s.scan_ns - prev.scan_ns) * 1000 / np;
			fprintf(csv, "%s,%llu,%.3f,%llu,%llu,%.3f\n", ph->name,
				(unsigned long long)(s.scans - a.scans),
				(bench_now_ns() - t0) / 1e9,
				(unsigned long long)(s.scanned_pages - prev.scanned_pages),
				(unsigned long long)s.pinned_pages,
				(s.scan_ns - prev.scan_ns) / 1e6);
			prev = s;
		}
		if (s.scans - a.scans >= (uint64_t)ph->passes)
			break;
		if (bench_now_ns() > deadline) {
			printf("p6: %s: only %llu passes in time\n", ph->name,
			       (unsigned long long)(s.scans - a.scans));
			return -1;
		}
	}
	t1 = bench_now_ns();
	b1 = busy_ticks();
	if (coiommu_set_unpin_policy(co, 0, ph->old_every, ph->pass_pages))
		return -1;
	ph->scans = s.scans - a.scans;
	ph->scanned = s.scanned_pages - a.scanned_pages;
	ph->scan_ns = s.scan_ns - a.scan_ns;
	ph->wall_s = (t1 - t0) / 1e9;
	ph->busy_s = (b1 - b0) / sysconf(_SC_CLK_TCK);
	/* Scale the idle window to the phase's length. */
	ph->idle_busy_s = (i1 - i0) / sysconf(_SC_CLK_TCK) * ph->wall_s /
			  (ph->passes * period / 1000.0);
	if (s.pinned_pages != n || s.unpins_lazy != a.unpins_lazy) {
		printf("p6: %s: the unpinner released busy pages (%llu pinned of %llu)\n",
		       ph->name, (unsigned long long)s.pinned_pages,
		       (unsigned long long)n);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct phase ph[2] = {
		{ .name = "full", .old_every = 15 },
		{ .name = "default", .old_every = 10, .pass_pages = 65536 },
	};
	struct coiommu_command act = { .argsz = sizeof(act),
				       .cmd = COIOMMU_CMD_ACTIVATE,
				       .dtt_level = 3 };
	struct coiommu_region r[2];
	uint64_t gpa[2], len[2];
	int nr, j, err = 0;
	struct coiommu_stats st;
	unsigned int period;
	struct ct_pins p0;
	struct ct_edu e;
	struct bench b;
	char bdf[4][32];
	struct guest g;
	uint64_t n, t0;
	long avail_kb;
	double full_pct, def_pct, ns_page, cpu_ns_page, med_ns, def_ns_page;
	FILE *csv, *f;
	char mask0[64];
	int co, i;

	bench_init(&b, argc, argv);
	if (ct_module_load() || ct_edu_list(bdf, 4) < 1) {
		printf("p6: no module or no edu device\n");
		return 1;
	}
	/* The largest power of two of pages that leaves 1 GiB free. */
	avail_kb = bench_meminfo_kb("MemAvailable");
	n = b.quick ? 65536 : TARGET_PAGES;
	while (n > 65536 && (long)(n * 4 + (1 << 20)) > avail_kb)
		n /= 2;
	period = b.quick ? 500 : 1000;
	/*
	 * Not exactly n: a pass that spends its budget on the last page
	 * stops before it wraps, and the next pass then only wraps (a sweep
	 * ends every other pass). Above n, every pass is one whole sweep.
	 */
	ph[0].pass_pages = 2 * n;
	ph[0].passes = b.quick ? 3 : 8;
	ph[1].passes = b.quick ? 3 : 24;

	if (ct_edu_open_retry(&e, bdf[0], -1, 3000)) {
		printf("p6: cannot open edu %s through VFIO\n", bdf[0]);
		return 1;
	}
	/*
	 * This thread (set-up, then asleep but for a GET_STATS every tenth
	 * of a period) on CPU 0; the unpinner, a work item of
	 * system_unbound_wq, on CPU 1.
	 */
	if (bench_pin_cpu(0))
		printf("p6: could not pin to CPU 0\n");
	f = fopen(WQ_CPUMASK, "re");
	if (!f || !fgets(mask0, sizeof(mask0), f))
		strcpy(mask0, "3");
	if (f)
		fclose(f);
	if (ct_write_file(WQ_CPUMASK, "2"))
		printf("p6: could not move unbound work items to CPU 1: they ran anywhere\n");
	else
		printf("p6: this thread on CPU 0, unbound work items (the unpinner) on CPU 1\n");
	t0 = bench_now_ns();
	if (guest_build(&g, n)) {
		printf("p6: no memory for %llu pages\n", (unsigned long long)n);
		return 1;
	}
	printf("p6: %llu data pages (%llu MiB) + %llu DTT pages, built in %.1f s (TCG, not hardware)\n",
	       (unsigned long long)n, (unsigned long long)(n >> 8),
	       (unsigned long long)(g.total - n), (bench_now_ns() - t0) / 1e9);
	ct_pins_read(&p0);
	co = coiommu_open();
	nr = bench_ranges(g.total * CT_PAGE, gpa, len);
	for (j = 0; j < nr; j++)
		r[j] = (struct coiommu_region){ .gpa = gpa[j], .size = len[j],
			.vaddr = (uintptr_t)g.ram + (gpa[j] ? BENCH_LOW_END : 0) };
	act.dtt_root = g.root_gpa;
	if (co < 0 || coiommu_set_memory(co, r, nr) || ct_co_add_edu(co, &e) ||
	    coiommu_set_unpin_policy(co, 0, 10, 65536)) {
		printf("p6: instance set-up failed\n");
		return 1;
	}
	t0 = bench_now_ns();
	nr = bench_ranges(n * CT_PAGE, gpa, len);
	for (j = 0; j < nr && !err; j++)
		err = coiommu_pin_range(co, gpa[j], len[j]);
	if (!err)
		err = ct_co_ioctl(co, COIOMMU_COMMAND, &act);
	for (j = 0; j < nr && !err; j++)
		err = coiommu_unpin_range(co, gpa[j], len[j]);
	if (err || coiommu_get_stats(co, &st) || st.pinned_pages != n ||
	    st.held_pages) {
		printf("p6: could not hand %llu pinned pages to the guest\n",
		       (unsigned long long)n);
		return 1;
	}
	printf("p6: %llu pages pinned and handed to the guest in %.1f s; %llu B of index\n",
	       (unsigned long long)n, (bench_now_ns() - t0) / 1e9,
	       (unsigned long long)st.metadata_bytes);

	csv = bench_open(&b, "p6.csv");
	fprintf(csv, "phase,pass,seconds,scanned_pages,pinned_pages,pass_ms\n");
	for (i = 0; i < 2; i++) {
		if (run_phase(co, &ph[i], period, n, csv)) {
			fclose(csv);
			return 1;
		}
		printf("p6: %s policy (pass_pages %u, old_every %u), period %u ms: %llu passes looked at %llu pages in %.1f ms of scan_ns; VM busy %.2f s vs %.2f s idle over %.1f s (TCG, not hardware)\n",
		       ph[i].name, ph[i].pass_pages, ph[i].old_every, period,
		       (unsigned long long)ph[i].scans,
		       (unsigned long long)ph[i].scanned, ph[i].scan_ns / 1e6,
		       ph[i].busy_s, ph[i].idle_busy_s, ph[i].wall_s);
	}
	fclose(csv);

	/*
	 * Cost per page looked at: all scan_ns over all pages looked at (a
	 * pass that starts where a sweep ended looks at none: those count
	 * their few microseconds but no page). Then 1 Mi pages looked at
	 * every default period (the worst case), and what the default
	 * policy looks at per period at most (pass_pages).
	 */
	ns_page = (double)ph[0].scan_ns / ph[0].scanned;
	med_ns = bench_quantile(ph[0].pass_ps, ph[0].nr_pass, 0.5) / 1000.0;
	cpu_ns_page = (ph[0].busy_s - ph[0].idle_busy_s) * 1e9 / ph[0].scanned;
	full_pct = ns_page * TARGET_PAGES / (DEFAULT_PERIOD_MS * 1e6) * 100;
	def_ns_page = (double)ph[1].scan_ns / ph[1].scanned;
	def_pct = def_ns_page * (TARGET_PAGES < 65536 ? TARGET_PAGES : 65536) /
		  (DEFAULT_PERIOD_MS * 1e6) * 100;
	printf("p6: full sweeps: %.1f ns per page looked at (scan_ns; median pass %.1f ns), %.1f ns (/proc/stat, whole VM, minus idle)\n",
	       ns_page, med_ns, cpu_ns_page);
	printf("p6: default policy: %.1f ns per page looked at; its passes took %.2f ms on average at %llu pinned pages\n",
	       def_ns_page, ph[1].scan_ns / 1e6 / ph[1].scans,
	       (unsigned long long)n);
	printf("p6: at 1 Mi pinned pages and a 10 s period: %.4f %% of one CPU if every pass looked at every page; %.4f %% with the default policy (at most 65536 pages a pass) (TCG, not hardware)\n",
	       full_pct, def_pct);

	f = bench_open(&b, "p6.summary");
	fprintf(f, "P6,%.4g,-,-,<=1%%CPU,%s\n", full_pct,
		full_pct <= 1.0 ? "yes" : "no");
	fprintf(f, "P6.default,%.4g,-,-,<=1%%CPU,%s\n", def_pct,
		def_pct <= 1.0 ? "yes" : "no");
	fprintf(f, "P6.ns_per_page,%.4g,-,-,info,yes\n", ns_page);
	fprintf(f, "P6.median_pass_ns_per_page,%.4g,-,-,info,yes\n", med_ns);
	fprintf(f, "P6.procstat_ns_per_page,%.4g,-,-,info,yes\n", cpu_ns_page);
	fclose(f);

	f = bench_open(&b, "p6.gp");
	fprintf(f,
		"set terminal pngcairo size 900,560\n"
		"set output 'p6.png'\n"
		"set datafile separator ','\n"
		"set title 'P6: unpinner pass cost at %llu pinned pages (TCG, not hardware)'\n"
		"set xlabel 'time since phase start (s)'\n"
		"set ylabel 'ms per pass'\nset y2label 'pages looked at per pass'\n"
		"set ytics nomirror\nset y2tics\nset grid\nset key top right\n"
		"plot 'p6.csv' using (strcol(1) eq 'full' ? $3 : 1/0):6 axes x1y1 with linespoints lw 2 title 'full sweep: ms', \\\n"
		"     '' using (strcol(1) eq 'default' ? $3 : 1/0):6 axes x1y1 with linespoints lw 2 title 'default policy: ms', \\\n"
		"     '' using (strcol(1) eq 'full' ? $3 : 1/0):4 axes x1y2 with points pt 6 title 'full: pages', \\\n"
		"     '' using (strcol(1) eq 'default' ? $3 : 1/0):4 axes x1y2 with points pt 4 title 'default: pages'\n",
		(unsigned long long)n);
	fclose(f);

	close(co);
	ct_write_file(WQ_CPUMASK, mask0);
	munmap(g.ram, g.total * CT_PAGE);
	ct_edu_close(&e);
	if (ct_pins_outstanding(&p0))
		printf("p6: %ld pins left behind\n", ct_pins_outstanding(&p0));
	if (ct_module_unload())
		printf("p6: rmmod %s failed\n", CT_MODULE);
	return 0;
}
