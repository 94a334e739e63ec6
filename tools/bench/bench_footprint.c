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
 * (generations and pass bound left at the module's defaults: a buffer
 * lives W / S steps = 1.28 s = 6.4 periods, fewer than the default 10
 * busy passes that would move it to the old generation). A host
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
 *
 * Output (-o OUTDIR): p5.csv, p5.gp, p5.summary. BENCH_QUICK=1: short.
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
#define PERIOD_MS	200		/* the unpinner's period */

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
static uint64_t recent_unmaps(struct sampler *sm, size_t i)
{
	uint64_t since = sm->s[i].t_ns > 2ULL * PERIOD_MS * 1000000 ?
			 sm->s[i].t_ns - 2ULL * PERIOD_MS * 1000000 : 0;
	size_t j = i;

	while (j > 0 && sm->s[j - 1].t_ns >= since)
		j--;
	return sm->s[i].unmapped - sm->s[j].unmapped;
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
	unsigned int steps;
	struct sampler sm = { 0 };
	struct ctg t;
	double tpn, max_live = 0, max_win = 0, static_ratio;
	uint64_t stop_ns = 0, drain_ns = 0, peak = 0, max_pinned_steady = 0;
	bool drained = false;
	int ret = 1, main_cpu;
	FILE *f;
	size_t i;

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
	pol.period_ms = PERIOD_MS;
	if (ct_co_ioctl(t.co, COIOMMU_SET_UNPIN_POLICY, &pol)) {
		fprintf(stderr, "# unpin policy\n");
		goto out;
	}
	memset(ctg_hva(&t, CTG_DATA_GPA), 0x5a,
	       RAM_SIZE - (CTG_DATA_GPA - CTG_RAM_GPA));
	main_cpu = pu_pin_cpu(0);
	tpn = pu_tsc_per_ns(200);

	sm.t = &t;
	sm.pub = ctg_hva(&t, CTG_USER_GPA);
	memset(sm.pub, 0, sizeof(*sm.pub));
	sm.cap = 100000;
	sm.s = calloc(sm.cap, sizeof(*sm.s));
	if (!sm.s)
		goto out;
	sm.t0 = pu_now_ns();
	if (pthread_create(&sm.thread, NULL, sampler_thread, &sm))
		goto out;
	printf("# W %u buffers, %u replaced every %u ms (guest TSC), %u steps; unpin period %u ms, old_every %u, pass_pages %u (defaults); RAM %llu pages\n",
	       W_PAGES, S_PAGES, STEP_MS, steps, PERIOD_MS, pol.old_every,
	       pol.pass_pages, (unsigned long long)(RAM_SIZE / CT_PAGE));
	if (ctg_run(&t, 0, OP_WORK, steps,
		    (uint64_t)(STEP_MS * 1e6 * tpn), 0, 0)) {
		sm.stop = 1;
		pthread_join(sm.thread, NULL);
		goto out;
	}
	stop_ns = pu_now_ns() - sm.t0;
	usleep(4 * PERIOD_MS * 1000 + 100000);
	sm.stop = 1;
	pthread_join(sm.thread, NULL);
	if (ctg_res(&t, 0)[0]) {
		fprintf(stderr, "# %llu buffers not PINNED after their map\n",
			(unsigned long long)ctg_res(&t, 0)[0]);
		goto out;
	}
	printf("# guest: %llu doorbells; vCPU on CPU %d, sampler on CPU %d\n",
	       (unsigned long long)ctg_res(&t, 0)[1], main_cpu, sm.cpu);

	f = pu_open("p5.csv");
	fprintf(f, "t_ms,pinned,ws_live,ws_window,stopped\n");
	for (i = 0; i < sm.n; i++) {
		struct sample *x = &sm.s[i];
		uint64_t win = x->live + recent_unmaps(&sm, i);
		bool steady = x->t_ns >= 2ULL * PERIOD_MS * 1000000 && !x->done &&
			      x->live == W_PAGES;

		fprintf(f, "%.1f,%llu,%llu,%llu,%d\n", x->t_ns / 1e6,
			(unsigned long long)x->pinned,
			(unsigned long long)x->live, (unsigned long long)win,
			x->done);
		if (x->pinned > peak)
			peak = x->pinned;
		if (steady) {
			if (x->pinned > max_pinned_steady)
				max_pinned_steady = x->pinned;
			if ((double)x->pinned / x->live > max_live)
				max_live = (double)x->pinned / x->live;
			if (win && (double)x->pinned / win > max_win)
				max_win = (double)x->pinned / win;
		}
		if (x->done && !drained && x->pinned * 100 <= W_PAGES) {
			drained = true;
			drain_ns = x->t_ns > stop_ns ? x->t_ns - stop_ns : 0;
		}
	}
	fclose(f);
	static_ratio = (double)(RAM_SIZE / CT_PAGE) / W_PAGES;
	printf("# P5 footprint (%s)\n", PU_TCG_NOTE);
	printf("# %zu samples; steady-state max pinned %llu (peak overall %llu) for W = %u live buffers\n",
	       sm.n, (unsigned long long)max_pinned_steady,
	       (unsigned long long)peak, W_PAGES);
	printf("# max pinned/live %.3f, max pinned/window %.3f, static pinning/live %.1f\n",
	       max_live, max_win, static_ratio);
	if (drained)
		printf("# after the stop: pinned <= 1%% of W after %.0f ms = %.2f periods\n",
		       drain_ns / 1e6, drain_ns / 1e6 / PERIOD_MS);
	else
		printf("# after the stop: pinned did NOT fall to 1%% of W within %u ms\n",
		       4 * PERIOD_MS + 100);

	printf("# summary rows: P5 ours = max pinned/live, baseline = static pinning (all RAM)/live, ratio = ours/baseline; P5.window the same against live + unmapped in the last 2 periods; P5.drain ours = periods to <=1%% of W, baseline = 2 (the goal), ratio = ours/2\n");
	f = pu_open("p5.summary");
	fprintf(f, "P5,%.3f,%.1f,%.4f,<=1.01x,%s\n",
		max_live, static_ratio, max_live / static_ratio,
		max_live > 0 && max_live <= 1.01 ? "yes" : "no");
	fprintf(f, "P5.window,%.3f,%.1f,%.4f,<=1.01x,%s\n",
		max_win, static_ratio, max_win / static_ratio,
		max_win > 0 && max_win <= 1.01 ? "yes" : "no");
	fprintf(f, "P5.drain,%.2f,%.2f,%.2f,<=2 periods,%s\n",
		drained ? drain_ns / 1e6 / PERIOD_MS : -1.0, 2.0,
		drained ? drain_ns / 1e6 / PERIOD_MS / 2.0 : -1.0,
		drained && drain_ns <= 2ULL * PERIOD_MS * 1000000 ? "yes" : "no");
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
		W_PAGES, S_PAGES, STEP_MS, PERIOD_MS, stop_ns / 1e6,
		stop_ns / 1e6);
	fclose(f);
	ret = 0;
out:
	ctg_destroy(&t);
	free(sm.s);
	printf("# bench_footprint: %s\n", ret ? "FAILED" : "done");
	return ret;
}
