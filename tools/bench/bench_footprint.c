// SPDX-License-Identifier: GPL-2.0
/*
 * bench_footprint: benchmark P5, pinned memory against the working set.
 *
 * A raw KVM guest (selftests/coiommu/lib/ct_guest.[ch]) keeps a working
 * set of W single-page DMA "buffers" mapped (map count 1, ACCESSED set,
 * a batch doorbell for those not PINNED yet, as a coIOMMU guest driver
 * maps) and moves it: every step it unmaps the S oldest buffers and maps
 * S new ones further along a 24 MiB region (wrapping around). The lazy
 * unpinner runs with a short period set through COIOMMU_SET_UNPIN_POLICY
 * (generations and pass bound left at the module's defaults: at 200 ms
 * a buffer lives W / S steps = 1.28 s = 6.4 periods, fewer than the
 * default 10 busy passes that would move it to the old generation). A host
 * thread samples COIOMMU_GET_STATS pinned_pages every 10 ms together with
 * the guest's own count of mapped buffers. Then the workload stops: the
 * guest unmaps everything, and the sampling goes on for 4 periods.
 *
 * Working set, two definitions, both reported:
 *   live     buffers mapped right now (map count > 0)
 *   window   live plus the buffers unmapped during the last two periods:
 *            by design (second chance: a pass clears ACCESSED, the next
 *            releases) a page is unpinned within two periods of its unmap
 *
 * Summary rows (steady state: from 2 periods after the start to the stop):
 *   P5        max(pinned / live); baseline: static pinning (all of RAM)
 *             over live; goal <= 1.01x
 *   P5.window max(pinned / window); goal <= 1.01x
 *   P5.drain  periods from the stop until pinned <= 1 % of W; goal <= 2
 * all at a 200 ms period. The same workload then runs at 50 and 10 ms,
 * with the default generations and without (old_every 1):
 *   P5.period<N>[.nogen]      max(pinned / live), goal <= 1.01x
 *   P5.period<N>[.nogen].cpu  the unpinner's time in passes over the run,
 *                             % of a CPU (info)
 *
 * Output (-o OUTDIR): p5.csv and p5.gp (the 200 ms run), p5_sweep.csv
 * (every run), p5.summary. BENCH_QUICK=1: short.
 * Absolute times are TCG, not hardware.
 */
#include "pin_util.h"

#include <sys/ioctl.h>

#include "kvm_util.h"
#include "processor.h"

#include "ct_guest.h"

#define RAM_SIZE	(32ULL << 20)
#define WL_GFN		CTG_DATA_GFN
#define WL_PAGES	6144		/* 24 MiB the working set moves over */
#define W_PAGES		512		/* working set: buffers */
#define S_PAGES		8		/* buffers replaced per step */
#define STEP_MS		20
/*
 * The unpinner's policies, one run each in this order: the period, and
 * old_every (0: the module's default generations; 1: none, every page
 * looked at every pass). The first is the figure of the P5 rows and the
 * plot; the others show how close a shorter period follows the live
 * set, what the generations do to that, and what it costs.
 */
static const struct {
	unsigned int period_ms, old_every;
} sweep[] = {
	{ 200, 0 }, { 50, 0 }, { 10, 0 }, { 50, 1 }, { 10, 1 },
};

#define OP_WORK		(CTG_OP_USER + 1)

/* Published by the guest in CTG_USER_GPA (read by the host sampler). */
struct wl_pub {
	volatile uint64_t live;		/* buffers mapped now */
	volatile uint64_t unmapped;	/* buffers unmapped so far */
	volatile uint64_t steps;
	volatile uint64_t unpinned;	/* buffers not PINNED after their map */
	volatile uint64_t done;
};

/* ---- guest ------------------------------------------------------------- */
static inline uint64_t guest_rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("lfence; rdtsc" : "=a" (lo), "=d" (hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

/* a0: steps, a1: TSC ticks per step. */
static void guest_work(unsigned int vcpu, struct ctg_mbox *mb)
{
	struct wl_pub *pub = (struct wl_pub *)CTG_USER_GPA;
	uint64_t steps = mb->a[0], tps = mb->a[1], head = 0, tail = 0;
	uint64_t gfns[S_PAGES], next, s, i;
	struct ctg_map_res res = { 0 };

	/* The initial working set, S buffers at a time. */
	while (head < W_PAGES) {
		for (i = 0; i < S_PAGES; i++)
			gfns[i] = WL_GFN + (head + i) % WL_PAGES;
		ctg_guest_map(vcpu, gfns, S_PAGES, 0, &res);
		head += S_PAGES;
		pub->live = head - tail;
	}
	next = guest_rdtsc() + tps;
	for (s = 0; s < steps; s++) {
		while (guest_rdtsc() < next)
			;
		next += tps;
		for (i = 0; i < S_PAGES; i++)
			gfns[i] = WL_GFN + (tail + i) % WL_PAGES;
		ctg_guest_unmap(gfns, S_PAGES);
		tail += S_PAGES;
		pub->unmapped = tail;
		for (i = 0; i < S_PAGES; i++)
			gfns[i] = WL_GFN + (head + i) % WL_PAGES;
		ctg_guest_map(vcpu, gfns, S_PAGES, 0, &res);
		head += S_PAGES;
		pub->live = head - tail;
		pub->steps = s + 1;
		pub->unpinned = res.unpinned;
	}
	/* The workload stops: every buffer is unmapped. */
	while (tail < head) {
		for (i = 0; i < S_PAGES; i++)
			gfns[i] = WL_GFN + (tail + i) % WL_PAGES;
		ctg_guest_unmap(gfns, S_PAGES);
		tail += S_PAGES;
	}
	pub->unmapped = tail;
	pub->live = 0;
	pub->unpinned = res.unpinned;
	pub->done = 1;
	mb->r[0] = res.unpinned;
	mb->r[1] = res.requests;
}

static void guest_main(uint64_t vcpu)
{
	ctg_guest_loop(vcpu, OP_WORK, guest_work);
}

/* ---- host ---------------------------------------------------------------- */
struct sample {
	uint64_t t_ns;
	uint64_t pinned;
	uint64_t live;
	uint64_t unmapped;
	int done;
};

struct sampler {
	struct ctg *t;
	struct wl_pub *pub;
	struct sample *s;
	size_t n, cap;
	uint64_t t0;
	volatile int stop;
	int cpu;
	pthread_t thread;
};

static void *sampler_thread(void *arg)
{
	struct sampler *sm = arg;
	struct coiommu_stats st;

	sm->cpu = pu_pin_cpu(1);
	while (!sm->stop && sm->n < sm->cap) {
		struct sample *x = &sm->s[sm->n];

		if (coiommu_get_stats(sm->t->co, &st))
			break;
		x->t_ns = pu_now_ns() - sm->t0;
		x->pinned = st.pinned_pages;
		x->live = sm->pub->live;
		x->unmapped = sm->pub->unmapped;
		x->done = sm->pub->done;
		sm->n++;
		usleep(10000);
	}
	return NULL;
}

/* Buffers unmapped within the last two periods before sample @i. */
static uint64_t recent_unmaps(struct sampler *sm, size_t i,
			      unsigned int period_ms)
{
	uint64_t since = sm->s[i].t_ns > 2ULL * period_ms * 1000000 ?
			 sm->s[i].t_ns - 2ULL * period_ms * 1000000 : 0;
	size_t j = i;

	while (j > 0 && sm->s[j - 1].t_ns >= since)
		j--;
	return sm->s[i].unmapped - sm->s[j].unmapped;
}

/* What one run of the workload at one unpinner period showed. */
struct p5_run {
	unsigned int period_ms, old_every;
	char name[32];			/* summary row */
	double max_live, max_win;	/* max pinned/live, pinned/window */
	uint64_t max_pinned, peak;
	bool drained;
	double drain_periods;
	uint64_t doorbells, samples;
	double scan_cpu;		/* unpinner time / run time, % of a CPU */
	uint64_t stop_ns;
};

/*
 * Run the workload once with the unpinner at @period_ms; with @csv, write
 * every sample there. The instance starts and ends with nothing pinned.
 */
static int run_period(struct ctg *t, struct coiommu_unpin_policy *pol,
		      unsigned int period_ms, unsigned int old_every,
		      unsigned int steps, double tpn, FILE *csv,
		      struct p5_run *r)
{
	struct coiommu_unpin_policy p = *pol;
	struct sampler sm = { 0 };
	struct coiommu_stats st0, st1;
	uint64_t t_end, wait_ms;
	int ret = -1;
	size_t i;

	memset(r, 0, sizeof(*r));
	p.period_ms = period_ms;
	if (old_every)
		p.old_every = old_every;
	r->period_ms = period_ms;
	r->old_every = p.old_every;
	snprintf(r->name, sizeof(r->name), "P5.period%u%s", period_ms,
		 old_every == 1 ? ".nogen" : "");
	if (ct_co_ioctl(t->co, COIOMMU_SET_UNPIN_POLICY, &p) ||
	    coiommu_get_stats(t->co, &st0)) {
		fprintf(stderr, "# unpin policy\n");
		return -1;
	}
	if (st0.pinned_pages) {
		fprintf(stderr, "# %llu pages pinned before the run\n",
			(unsigned long long)st0.pinned_pages);
		return -1;
	}
	sm.t = t;
	sm.pub = ctg_hva(t, CTG_USER_GPA);
	memset(sm.pub, 0, sizeof(*sm.pub));
	sm.cap = 100000;
	sm.s = calloc(sm.cap, sizeof(*sm.s));
	if (!sm.s)
		return -1;
	sm.t0 = pu_now_ns();
	if (pthread_create(&sm.thread, NULL, sampler_thread, &sm)) {
		free(sm.s);
		return -1;
	}
	printf("# period %u ms: W %u buffers, %u replaced every %u ms (guest TSC), %u steps; old_every %u%s, pass_pages %u (default); RAM %llu pages\n",
	       period_ms, W_PAGES, S_PAGES, STEP_MS, steps, p.old_every,
	       old_every ? "" : " (default)", p.pass_pages,
	       (unsigned long long)(RAM_SIZE / CT_PAGE));
	if (ctg_run(t, 0, OP_WORK, steps,
		    (uint64_t)(STEP_MS * 1e6 * tpn), 0, 0)) {
		sm.stop = 1;
		pthread_join(sm.thread, NULL);
		goto out;
	}
	r->stop_ns = pu_now_ns() - sm.t0;
	/* Four periods of draining, at least 200 ms of samples. */
	wait_ms = 4 * period_ms > 200 ? 4 * period_ms : 200;
	usleep(wait_ms * 1000 + 100000);
	sm.stop = 1;
	pthread_join(sm.thread, NULL);
	t_end = pu_now_ns() - sm.t0;
	if (ctg_res(t, 0)[0]) {
		fprintf(stderr, "# %llu buffers not PINNED after their map\n",
			(unsigned long long)ctg_res(t, 0)[0]);
		goto out;
	}
	r->doorbells = ctg_res(t, 0)[1];
	if (coiommu_get_stats(t->co, &st1))
		goto out;
	r->scan_cpu = 100.0 * (st1.scan_ns - st0.scan_ns) / t_end;

	for (i = 0; i < sm.n; i++) {
		struct sample *x = &sm.s[i];
		uint64_t win = x->live + recent_unmaps(&sm, i, period_ms);
		bool steady = x->t_ns >= 2ULL * period_ms * 1000000 &&
			      !x->done && x->live == W_PAGES;

		if (csv)
			fprintf(csv, "%.1f,%llu,%llu,%llu,%d\n", x->t_ns / 1e6,
				(unsigned long long)x->pinned,
				(unsigned long long)x->live,
				(unsigned long long)win, x->done);
		if (x->pinned > r->peak)
			r->peak = x->pinned;
		if (steady) {
			if (x->pinned > r->max_pinned)
				r->max_pinned = x->pinned;
			if ((double)x->pinned / x->live > r->max_live)
				r->max_live = (double)x->pinned / x->live;
			if (win && (double)x->pinned / win > r->max_win)
				r->max_win = (double)x->pinned / win;
		}
		if (x->done && !r->drained && x->pinned * 100 <= W_PAGES) {
			r->drained = true;
			r->drain_periods = (x->t_ns > r->stop_ns ?
					    x->t_ns - r->stop_ns : 0) /
					   1e6 / period_ms;
		}
	}
	r->samples = sm.n;
	printf("# period %u ms, old_every %u: %llu samples, %llu doorbells; steady-state max pinned %llu (peak %llu) for W = %u; max pinned/live %.3f, pinned/window %.3f; drained to 1%% of W %s %.2f periods; unpinner %.3f %% of a CPU (scan_ns)\n",
	       period_ms, p.old_every, (unsigned long long)r->samples,
	       (unsigned long long)r->doorbells,
	       (unsigned long long)r->max_pinned,
	       (unsigned long long)r->peak, W_PAGES, r->max_live, r->max_win,
	       r->drained ? "after" : "NOT within", r->drained ?
	       r->drain_periods : (double)wait_ms / period_ms, r->scan_cpu);
	/* Nothing may stay pinned into the next run. */
	ret = 0;
	if (r->drained && !st1.pinned_pages)
		goto out;
	usleep(4 * period_ms * 1000);
	if (coiommu_get_stats(t->co, &st1) || st1.pinned_pages) {
		fprintf(stderr, "# %llu pages still pinned after the run\n",
			(unsigned long long)st1.pinned_pages);
		ret = -1;
	}
out:
	free(sm.s);
	return ret;
}

static const char *met(bool ok)
{
	return ok ? "yes" : "no";
}

int main(int argc, char **argv)
{
	struct ctg_cfg cfg = {
		.nr_vcpus = 1,
		.guest_code = guest_main,
		.ram_size = RAM_SIZE,
		.unparked = true,
	};
	struct coiommu_unpin_policy pol = { .argsz = sizeof(pol) };
	struct p5_run runs[ARRAY_SIZE(sweep)], *r = &runs[0];
	double static_ratio;
	unsigned int steps, k;
	struct ctg t;
	int ret = 1, main_cpu;
	FILE *f, *csv;
	double tpn;

	pu_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	steps = (pu_quick ? 2000 : 8000) / STEP_MS;
	printf("# bench_footprint: P5%s; %s\n", pu_quick ? " (quick)" : "",
	       PU_TCG_NOTE);
	ctg_init(&t);
	if (ct_module_load()) {
		fprintf(stderr, "# cannot load %s\n", CT_MODULE);
		goto out;
	}
	if (ctg_create(&t, &cfg))
		goto out;
	/* Only the period changes; generations and pass bound stay default. */
	if (ct_co_ioctl(t.co, COIOMMU_GET_UNPIN_POLICY, &pol)) {
		fprintf(stderr, "# unpin policy\n");
		goto out;
	}
	memset(ctg_hva(&t, CTG_DATA_GPA), 0x5a,
	       RAM_SIZE - (CTG_DATA_GPA - CTG_RAM_GPA));
	main_cpu = pu_pin_cpu(0);
	tpn = pu_tsc_per_ns(200);

	csv = pu_open("p5.csv");
	fprintf(csv, "t_ms,pinned,ws_live,ws_window,stopped\n");
	for (k = 0; k < ARRAY_SIZE(sweep); k++) {
		if (run_period(&t, &pol, sweep[k].period_ms, sweep[k].old_every,
			       steps, tpn, k ? NULL : csv, &runs[k])) {
			fclose(csv);
			goto out;
		}
	}
	fclose(csv);
	printf("# vCPU on CPU %d, sampler on CPU 1\n", main_cpu);

	f = pu_open("p5_sweep.csv");
	fprintf(f, "period_ms,old_every,max_pinned_over_live,max_pinned_over_window,drain_periods,doorbells,unpinner_cpu_percent\n");
	for (k = 0; k < ARRAY_SIZE(sweep); k++)
		fprintf(f, "%u,%u,%.4f,%.4f,%.2f,%llu,%.4f\n",
			runs[k].period_ms, runs[k].old_every,
			runs[k].max_live, runs[k].max_win,
			runs[k].drained ? runs[k].drain_periods : -1.0,
			(unsigned long long)runs[k].doorbells,
			runs[k].scan_cpu);
	fclose(f);

	static_ratio = (double)(RAM_SIZE / CT_PAGE) / W_PAGES;
	printf("# P5 footprint (%s)\n", PU_TCG_NOTE);
	printf("# summary rows: P5 ours = max pinned/live at the %u ms period, baseline = static pinning (all RAM)/live, ratio = ours/baseline; P5.window the same against live + unmapped in the last 2 periods; P5.drain ours = periods to <=1%% of W, baseline = 2 (the goal), ratio = ours/2; P5.period<N>[.nogen]: P5 with the unpinner at N ms (.nogen: old_every 1, no old generation), and <row>.cpu its time in passes, %% of a CPU (info)\n",
	       r->period_ms);
	f = pu_open("p5.summary");
	fprintf(f, "P5,%.3f,%.1f,%.4f,<=1.01x,%s\n",
		r->max_live, static_ratio, r->max_live / static_ratio,
		met(r->max_live > 0 && r->max_live <= 1.01));
	fprintf(f, "P5.window,%.3f,%.1f,%.4f,<=1.01x,%s\n",
		r->max_win, static_ratio, r->max_win / static_ratio,
		met(r->max_win > 0 && r->max_win <= 1.01));
	fprintf(f, "P5.drain,%.2f,%.2f,%.2f,<=2 periods,%s\n",
		r->drained ? r->drain_periods : -1.0, 2.0,
		r->drained ? r->drain_periods / 2.0 : -1.0,
		met(r->drained && r->drain_periods <= 2.0));
	for (k = 1; k < ARRAY_SIZE(sweep); k++) {
		struct p5_run *q = &runs[k];

		fprintf(f, "%s,%.3f,%.1f,%.4f,<=1.01x,%s\n",
			q->name, q->max_live, static_ratio,
			q->max_live / static_ratio,
			met(q->max_live > 0 && q->max_live <= 1.01));
		fprintf(f, "%s.cpu,%.4f,-,-,info,yes\n", q->name,
			q->scan_cpu);
	}
	fclose(f);

	f = pu_open("p5.gp");
	fprintf(f,
		"set terminal pngcairo size 1000,600\n"
		"set output 'p5.png'\n"
		"set datafile separator ','\n"
		"set title 'P5: pinned pages vs working set (W %u, %u moved every %u ms, unpin period %u ms; TCG)'\n"
		"set xlabel 'time, ms (TCG, not hardware)'\n"
		"set ylabel 'pages'\n"
		"set key top right\n"
		"set grid\n"
		"set yrange [0:*]\n"
		"set arrow from %.0f, graph 0 to %.0f, graph 1 nohead dt 2\n"
		"plot 'p5.csv' using 1:2 with lines lw 2 title 'pinned', \\\n"
		"     'p5.csv' using 1:3 with lines lw 2 title 'working set (live)', \\\n"
		"     'p5.csv' using 1:4 with lines dt 3 title 'working set (live + unmapped in last 2 periods)'\n",
		W_PAGES, S_PAGES, STEP_MS, r->period_ms, r->stop_ns / 1e6,
		r->stop_ns / 1e6);
	fclose(f);
	ret = 0;
out:
	ctg_destroy(&t);
	printf("# bench_footprint: %s\n", ret ? "FAILED" : "done");
	return ret;
}
