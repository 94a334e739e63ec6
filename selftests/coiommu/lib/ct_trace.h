/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The coiommu_scan and coiommu_unpin tracepoints, for tests that must know
 * what each pass of the unpinner did: pages looked at and released, the
 * sweep it completed, whether the old generation was due, and which pages
 * were unpinned in which pass (an unpin event comes before the scan event
 * of its pass). Events are read back from the trace buffer in order
 * (global trace clock), together with the test's own markers, and with
 * coiommu_pin when a test enabled it (ct_trace_enable()).
 */
#ifndef CT_TRACE_H
#define CT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ct_ev_type {
	CT_EV_SCAN,
	CT_EV_UNPIN,
	CT_EV_MARK,
	CT_EV_PIN,
};

struct ct_trace_ev {
	enum ct_ev_type type;
	uint64_t inst;
	/* CT_EV_SCAN */
	unsigned long scanned;
	unsigned long released;
	uint64_t sweeps;	/* completed sweeps after the pass */
	int old_turn;		/* the old generation was due in the pass */
	/* CT_EV_UNPIN and CT_EV_PIN (npages: the pages pinned) */
	uint64_t gfn;
	unsigned long npages;
	char cause[16];		/* vmm, lazy, shrinker, forced, close */
	int ret;		/* CT_EV_PIN: 0, or the error */
	/* CT_EV_MARK */
	char mark[64];
};

/*
 * Mount tracefs if needed, select the global clock, empty the buffer and
 * enable coiommu_scan and coiommu_unpin. 0 or -errno.
 */
int ct_trace_start(void);
/* Also enable events/coiommu/@event, after ct_trace_start(). 0 or -errno. */
int ct_trace_enable(const char *event);
/* Disable the events (the buffer is kept). */
void ct_trace_stop(void);
/* Write @mark into the trace buffer (trace_marker). 0 or -errno. */
int ct_trace_mark(const char *mark);
/*
 * Every event in the buffer, oldest first, in a malloc()ed array
 * (free() it). 0 or -errno.
 */
int ct_trace_read(struct ct_trace_ev **evs, size_t *n);

/*
 * Index of the first event after the marker @mark (0 when @mark is NULL;
 * @n when the marker is missing).
 */
size_t ct_trace_after(const struct ct_trace_ev *evs, size_t n,
		      const char *mark);
/*
 * The @k-th (1-based) pass of instance @inst from event @from on, or
 * NULL.
 */
const struct ct_trace_ev *ct_trace_scan(const struct ct_trace_ev *evs,
					size_t n, size_t from, uint64_t inst,
					unsigned int k);
/*
 * In which pass (1-based, counted from event @from) instance @inst
 * unpinned @gfn: the number of its scan events between @from and the
 * first unpin event covering @gfn, plus one. 0 if no such unpin event;
 * *@unpin (if not NULL) is set to it.
 */
unsigned int ct_trace_unpin_pass(const struct ct_trace_ev *evs, size_t n,
				 size_t from, uint64_t inst, uint64_t gfn,
				 const struct ct_trace_ev **unpin);

/*
 * What the unpinner did with the pages pinned when the guest went idle,
 * the marker @mark (needs coiommu_pin, from ct_trace_start() on: a page
 * is pinned at the marker when its successful pins before it outnumber
 * its unpins).
 */
struct ct_trace_idle {
	unsigned long pages;	/* pinned at the marker */
	unsigned int worst;	/* latest pass after it that unpinned one */
	uint64_t worst_gfn;
	unsigned long never;	/* not unpinned after it at all */
	/*
	 * First unpinned by neither the unpinner nor the shrinker (which
	 * may come first under host memory pressure): at the VMM's exit,
	 * by the VMM, forced.
	 */
	unsigned long not_lazy;
	unsigned long late;	/* unpinned after a pin that followed it */
	bool zero;		/* pinned pages reached 0 before that pin */
	unsigned long failed_pins; /* pin events with an error before it */
};

/*
 * Fill @r for every instance in the trace. 0, -ENOENT without the marker
 * or -ENOMEM.
 */
int ct_trace_idle_unpins(const struct ct_trace_ev *evs, size_t n,
			 const char *mark, struct ct_trace_idle *r);

#endif /* CT_TRACE_H */
