/* SPDX-License-Identifier: GPL-2.0 */
/*
 * End-to-end tests: coiommu-vmm boots a Linux guest that loads the coIOMMU
 * guest driver (guest/coiommu_guest.c) and edu_dmatest (guest/edu_dmatest.c)
 * through tools/vmm/guest-e2e, which prints "e2e: ..." lines. The VMM's
 * live view ("coiommu-vmm: [   t s] ... pages N peak M") is the host's
 * COIOMMU_GET_STATS; both go to the same pipe, in order.
 */
#ifndef CT_E2E_H
#define CT_E2E_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_fixture.h"
#include "ct_trace.h"
#include "ct_vmm.h"

/* Pages edu_dmatest maps: e2e.pages single pages, 2 of sg, 2 coherent. */
#define CT_E2E_PAGES		16
#define CT_E2E_WORKING_SET	(CT_E2E_PAGES + 2 + 2)
/* Verified round trips of one passing run: one per page, 2 sg, 1 coherent. */
#define CT_E2E_TRANSFERS	(CT_E2E_PAGES + 2 + 1)

struct ct_e2e_stat {
	double t;			/* VMM seconds */
	unsigned long long requests, refused, unpins, pages, peak;
	const char *at;			/* the line in the output */
};

/* Parse the live view line at @s; returns 1 when it is one. */
static inline int ct_e2e_parse(const char *s, struct ct_e2e_stat *st)
{
	const char *p;

	if (strncmp(s, "coiommu-vmm: [", 14))
		return 0;
	if (sscanf(s + 14, "%lf", &st->t) != 1)
		return 0;
	p = strstr(s, "requests ");
	if (!p || sscanf(p, "requests %llu (refused %llu), unpins %llu, pages %llu peak %llu",
			 &st->requests, &st->refused, &st->unpins, &st->pages,
			 &st->peak) != 5)
		return 0;
	st->at = s;
	return 1;
}

/*
 * The live view lines of @out from @from on (NULL: the start), in order;
 * returns how many were stored in @st (at most @max).
 */
static inline int ct_e2e_stats(const char *out, const char *from,
			       struct ct_e2e_stat *st, int max)
{
	const char *s = from ? from : out;
	int n = 0;

	while (s && *s && n < max) {
		const char *eol = strchr(s, '\n');
		const char *v = strstr(s, "coiommu-vmm: [");

		/*
		 * The VMM prints a live view line in one write, but the
		 * guest's console may have started a line before it: "...
		 * exited witcoiommu-vmm: [ 35.1 s] ...".
		 */
		if (v && (!eol || v < eol) && ct_e2e_parse(v, &st[n]))
			n++;
		s = eol ? eol + 1 : NULL;
	}
	return n;
}

/*
 * For use inside the kselftest harness: the live view lines of @out
 * into @st (at most @max), of which there must be at least @min, the
 * last one coiommu-vmm's final view; *@n gets their number. Returns the
 * final view.
 */
static inline struct ct_e2e_stat *ct_e2e_final(struct __test_metadata *_metadata,
					       const char *out,
					       struct ct_e2e_stat *st, int max,
					       int min, int *n)
{
	const char *final, *eol;

	*n = ct_e2e_stats(out, NULL, st, max);
	ASSERT_LE(min, *n);
	/* "final:" on that line, not on a later one. */
	final = strstr(st[*n - 1].at, "final:");
	eol = strchr(st[*n - 1].at, '\n');
	ASSERT_NE(NULL, final);
	ASSERT_TRUE(!eol || final < eol);
	return &st[*n - 1];
}

/*
 * For use inside the kselftest harness, after ct_trace_stop(): the
 * unpinner's passes after the trace marker @mark into *@ti (see
 * ct_trace_idle_unpins()), logged, and the checks every idle guest
 * shares: each page pinned at the marker was unpinned, by the unpinner
 * (or the shrinker), within @max_passes passes after it.
 */
static inline void ct_e2e_idle_passes(struct __test_metadata *_metadata,
				      const char *mark,
				      unsigned int max_passes,
				      struct ct_trace_idle *ti)
{
	struct ct_trace_ev *evs = NULL;
	size_t nevs;

	ASSERT_EQ(0, ct_trace_read(&evs, &nevs));
	ASSERT_EQ(0, ct_trace_idle_unpins(evs, nevs, mark, ti));
	free(evs);
	TH_LOG("trace: %lu pages pinned at the idle marker, the last unpinned in pass %u after it (gfn %#llx); %lu never, %lu not by the unpinner (or shrinker), %lu after the next pin",
	       ti->pages, ti->worst, (unsigned long long)ti->worst_gfn,
	       ti->never, ti->not_lazy, ti->late);
	EXPECT_EQ(0, ti->failed_pins);
	EXPECT_EQ(0, ti->never);
	EXPECT_EQ(0, ti->not_lazy);
	EXPECT_GE(max_passes, ti->worst);
}

/* The guest's counters from the last "e2e: guest stats:" line before @end. */
struct ct_e2e_guest {
	unsigned long long requests, refused_pages, timeouts, leaves, freed;
};

static inline int ct_e2e_guest_stats(const char *out, const char *end,
				     struct ct_e2e_guest *g)
{
	const char *s = out, *last = NULL;

	while ((s = strstr(s, "e2e: guest stats:")) && (!end || s < end)) {
		last = s;
		s++;
	}
	if (!last)
		return -1;
	return sscanf(last, "e2e: guest stats: requests %llu refused_pages %llu timeouts %llu leaves %llu leaves_freed %llu",
		      &g->requests, &g->refused_pages, &g->timeouts,
		      &g->leaves, &g->freed) == 5 ? 0 : -1;
}

/* The fixture of every e2e test: the usual checks, and edu on vfio-pci. */
CT_VMM_FIXTURE(e2e);

#endif /* CT_E2E_H */
