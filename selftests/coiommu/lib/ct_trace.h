/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The coiommu_scan and coiommu_unpin tracepoints, for tests that must know
 * what each pass of the unpinner did: pages looked at and released, the
 * sweep it completed, whether the old generation was due, and which pages
 * were unpinned in which pass (an unpin event comes before the scan event
 * of its pass). Events are read back from the trace buffer in order
 * (global trace clock), together with the test's own markers.
 */
#ifndef CT_TRACE_H
#define CT_TRACE_H

#include <stddef.h>
#include <stdint.h>

enum ct_ev_type {
	CT_EV_SCAN,
	CT_EV_UNPIN,
	CT_EV_MARK,
};

struct ct_trace_ev {
	enum ct_ev_type type;
	uint64_t inst;
	/* CT_EV_SCAN */
	unsigned long scanned;
	unsigned long released;
	uint64_t sweeps;	/* completed sweeps after the pass */
	int old_turn;		/* the old generation was due in the pass */
	/* CT_EV_UNPIN */
	uint64_t gfn;
	unsigned long npages;
	char cause[16];		/* vmm, lazy, shrinker, forced, close */
	/* CT_EV_MARK */
	char mark[64];
};

/*
 * Mount tracefs if needed, select the global clock, empty the buffer and
 * enable coiommu_scan and coiommu_unpin. 0 or -errno.
 */
int ct_trace_start(void);
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

#endif /* CT_TRACE_H */
