// SPDX-License-Identifier: GPL-2.0
/*
 * doorbell_bad_requests: requests the host must refuse. For each one the
 * guest rings and reads its slot on the next instruction: it is already 0
 * (the guest never hangs), nothing is pinned (stats, FOLL_PIN counters,
 * PINNED bits), and refused_requests counts it. Cases: before activation;
 * ACTIVATE with level 0 or 7, an unaligned root or a root outside RAM
 * (refused with -EINVAL / -ERANGE, and the device stays inactive); a DTT
 * of one level that cannot cover RAM; unknown BDFs; GFNs outside guest
 * RAM (just below and above it, other memslots, device memory, beyond
 * the DTT's reach); DTT holes at two levels; upper entries pointing
 * outside guest RAM (BAR0 MMIO, the BAR2 memslot, the KVM library's
 * memory, just past RAM, far away); batch lists running past the end of
 * RAM or outside it; and after DEACTIVATE. A batch whose nr_pages is so
 * huge that nr_pages * 8 wraps is served as the deployed device serves
 * any length: its list is read until it leaves guest RAM, its good GFNs
 * pinned, the rest refused. DMA to a refused page faults. A batch with one bad GFN
 * among good ones pins the good ones and still counts as refused. A good
 * request between the bad ones shows the service works.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define D(i)		(CTG_GFN(CTG_DATA_GPA) + (i))
#define HOLE_GFN	0x1500ULL	/* RAM, second 4 MiB: no leaf table */
#define COVER		(4ULL << 20)	/* DTT leaf only for the first 4 MiB */
/* Host-built batch requests: scratch of a vCPU the VM does not have. */
#define HB_GPA		(CTG_SCRATCH_GPA + 2 * CTG_SCRATCH_PAGES * CT_PAGE)

CTG_FIXTURE(db, .nr_vcpus = 1, .dtt_cover = COVER, .no_activate = true);

/* What a guest driver does before it asks: map count 1, ACCESSED. */
static void guest_maps(struct ctg *t, uint64_t gfn)
{
	uint32_t *e = ctg_dtt_entry(t, gfn);

	if (e)
		*e = CTG_DTT_ACCESSED | 1;
}

static void put_u64(struct ctg *t, uint64_t gpa, uint64_t val)
{
	uint64_t *p = ctg_hva(t, gpa);

	if (p)
		*p = val;
}

/* Write a batch request at @gpa, skipping what lies outside RAM. */
static uint64_t put_batch(struct ctg *t, uint64_t gpa, uint16_t bdf,
			  uint64_t nr_pages, const uint64_t *gfns,
			  unsigned int n)
{
	unsigned int i;

	put_u64(t, gpa, bdf);		/* bdf, pad[3] */
	put_u64(t, gpa + 8, nr_pages);
	for (i = 0; i < n; i++)
		put_u64(t, gpa + 16 + 8 * i, gfns[i]);
	return CTG_REQ_BATCH | gpa;
}

/*
 * The guest rings @req: the slot is 0 right after, and @want_pins pages
 * got pinned (0 for a refused request); @refused: whether it counts as
 * refused. None of @gfns may be PINNED unless @want_pins.
 */
static void check_ring(struct __test_metadata *_metadata, int line,
		       struct ctg *t, const char *what, uint64_t req,
		       bool refused, unsigned int want_pins,
		       const uint64_t *gfns, unsigned int n)
{
	struct coiommu_stats s0, s1;
	struct ct_pins a, b;
	uint64_t after = ~0ULL;
	unsigned int i;

	ASSERT_EQ(0, coiommu_get_stats(t->co, &s0));
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, ctg_ring(t, 0, req, &after)) {
		TH_LOG("line %d: %s: the guest failed", line, what);
	}
	ASSERT_EQ(0, ct_pins_read(&b));
	ASSERT_EQ(0, coiommu_get_stats(t->co, &s1));

	EXPECT_EQ(0, after) {
		TH_LOG("line %d: %s: slot %#llx right after the ring", line,
		       what, (unsigned long long)after);
	}
	EXPECT_EQ(0, ctg_res(t, 0)[1]) {
		TH_LOG("line %d: %s: slot never completed", line, what);
	}
	EXPECT_EQ(s0.requests + 1, s1.requests) {
		TH_LOG("line %d: %s: not counted as a request", line, what);
	}
	EXPECT_EQ(s0.served_task + 1, s1.served_task) {
		TH_LOG("line %d: %s: not served by task work", line, what);
	}
	EXPECT_EQ(s0.refused_requests + refused, s1.refused_requests) {
		TH_LOG("line %d: %s: refused_requests %llu -> %llu", line,
		       what, (unsigned long long)s0.refused_requests,
		       (unsigned long long)s1.refused_requests);
	}
	EXPECT_EQ(s0.pinned_pages + want_pins, s1.pinned_pages) {
		TH_LOG("line %d: %s: pinned_pages %llu -> %llu", line, what,
		       (unsigned long long)s0.pinned_pages,
		       (unsigned long long)s1.pinned_pages);
	}
	EXPECT_EQ(s0.pins + want_pins, s1.pins) {
		TH_LOG("line %d: %s: pins %llu -> %llu", line, what,
		       (unsigned long long)s0.pins,
		       (unsigned long long)s1.pins);
	}
	EXPECT_EQ(a.acquired + want_pins, b.acquired) {
		TH_LOG("line %d: %s: %lu FOLL_PIN pins taken", line, what,
		       b.acquired - a.acquired);
	}
	for (i = 0; !want_pins && i < n; i++) {
		uint32_t *e = ctg_dtt_entry(t, gfns[i]);

		if (!e)
			continue;
		EXPECT_EQ(0, *e & CTG_DTT_PINNED) {
			TH_LOG("line %d: %s: gfn %#llx PINNED", line, what,
			       (unsigned long long)gfns[i]);
		}
	}
}

#define REFUSED(what, req, ...) do {					\
		uint64_t _g[] = { 0, ##__VA_ARGS__ };			\
		check_ring(_metadata, __LINE__, t, what, req, true, 0,	\
			   _g + 1, ARRAY_SIZE(_g) - 1);			\
	} while (0)
#define PINS(what, req, n) \
	check_ring(_metadata, __LINE__, t, what, req, false, n, NULL, 0)

/* A DMA write to @gfn does not reach memory and faults. */
static void dma_faults(struct __test_metadata *_metadata, struct ctg *t,
		       struct ct_kmsg *k, uint64_t gfn)
{
	uint64_t d;

	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ct_edu_dma(&t->edu, CTG_GPA(gfn), 0, 256, true));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("DMA to refused gfn %#llx reached %#llx",
		       (unsigned long long)gfn, (unsigned long long)d);
	}
	EXPECT_TRUE(ct_kmsg_dmar_fault_dev(k, t->edu.bdf, CTG_GPA(gfn), true,
					   3000)) {
		TH_LOG("no DMAR fault for refused gfn %#llx",
		       (unsigned long long)gfn);
	}
}

TEST_F_TIMEOUT(db, doorbell_bad_requests, 120)
{
	struct ctg *t = &self->t;
	const uint64_t ram_end = CTG_RAM_GPA + t->ram_size;
	const uint64_t end_gfn = CTG_GFN(ram_end);
	const uint16_t bdf = t->bdf;
	struct coiommu_stats st;
	uint64_t *up, saved, d;
	static const uint64_t huge[] = {
		1ULL << 20,		/* list longer than RAM */
		1ULL << 61,		/* * 8 wraps to 0 */
		(1ULL << 61) + 1,	/* * 8 wraps to 8 */
		1ULL << 63,
		~0ULL,
	};
	static const uint64_t bad_tables[] = {
		CTG_BAR0_GPA,		/* MMIO, no memslot */
		CTG_BAR2_GPA,		/* a memslot, but not guest RAM */
		0x1000,			/* the KVM library's memslot 0 */
		CTG_RAM_GPA - CT_PAGE,	/* just below RAM */
		0,			/* filled in: just past RAM */
		0x20000000,		/* nothing there */
		CTG_DTT_ADDR_MASK,	/* the highest address an entry holds */
	};
	uint64_t tables[sizeof(bad_tables) / 8];
	unsigned int i;

	memcpy(tables, bad_tables, sizeof(tables));
	tables[4] = ram_end;
	ct_fill(ctg_hva(t, CTG_DATA_GPA), ram_end - CTG_DATA_GPA, 0xbad);
	for (i = 0; i < 16; i++)
		guest_maps(t, D(i));
	ASSERT_NE(NULL, ctg_dtt_entry(t, D(15)));
	ASSERT_EQ(NULL, ctg_dtt_entry(t, HOLE_GFN));
	ASSERT_LT(HOLE_GFN, end_gfn);

	/* ---- never activated ---- */
	REFUSED("before activation: single", CTG_REQ_SINGLE(D(0), bdf), D(0));
	REFUSED("before activation: batch",
		put_batch(t, HB_GPA, bdf, 2, (uint64_t[]){ D(0), D(1) }, 2),
		D(0), D(1));
	dma_faults(_metadata, t, &self->kmsg, D(0));

	/* ---- ACTIVATE refused: the device stays inactive ---- */
	EXPECT_EQ(-EINVAL, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
					   t->dtt_root, 0));
	EXPECT_EQ(-EINVAL, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
					   t->dtt_root, 7));
	EXPECT_EQ(-EINVAL, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
					   t->dtt_root, ~0u));
	EXPECT_EQ(-EINVAL, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE, 0, 3));
	EXPECT_EQ(-EINVAL, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
					   t->dtt_root + 8, 3));
	for (i = 0; i < ARRAY_SIZE(tables); i++) {
		uint64_t root = tables[i];

		EXPECT_EQ(-ERANGE, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
						   root, 3)) {
			TH_LOG("root %#llx", (unsigned long long)root);
		}
	}
	EXPECT_EQ(-ERANGE, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
					   COIOMMU_MAX_GPA, 3));
	EXPECT_EQ(-ERANGE, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
					   1ULL << 63, 3));
	REFUSED("after refused ACTIVATEs", CTG_REQ_SINGLE(D(0), bdf), D(0));

	/* ---- one level: a leaf table for GFNs 0..1023, RAM out of reach ---- */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE,
				     ctg_alloc_table(t), 1));
	REFUSED("DTT of one level", CTG_REQ_SINGLE(D(0), bdf), D(0));
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_DEACTIVATE, 0, 0));

	/* ---- active: a good request works ---- */
	ASSERT_EQ(0, ctg_activate(t));
	PINS("good single request", CTG_REQ_SINGLE(D(1), bdf), 1);
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1,
		  *ctg_dtt_entry(t, D(1)));

	/* ---- unknown BDF ---- */
	REFUSED("BDF + 1", CTG_REQ_SINGLE(D(2), bdf + 1), D(2));
	REFUSED("BDF 0xffff", CTG_REQ_SINGLE(D(2), 0xffff), D(2));
	REFUSED("BDF 0", CTG_REQ_SINGLE(D(2), 0), D(2));
	REFUSED("batch, BDF + 1",
		put_batch(t, HB_GPA, bdf + 1, 2, (uint64_t[]){ D(2), D(3) }, 2),
		D(2), D(3));

	/* ---- GFN outside guest RAM ---- */
	REFUSED("gfn in memslot 0", CTG_REQ_SINGLE(0x100, bdf));
	REFUSED("gfn just below RAM",
		CTG_REQ_SINGLE(CTG_GFN(CTG_RAM_GPA) - 1, bdf));
	REFUSED("gfn just past RAM", CTG_REQ_SINGLE(end_gfn, bdf));
	REFUSED("gfn of BAR2", CTG_REQ_SINGLE(CTG_GFN(CTG_BAR2_GPA), bdf));
	REFUSED("gfn of BAR0", CTG_REQ_SINGLE(CTG_GFN(CTG_BAR0_GPA), bdf));
	REFUSED("gfn at 256 MiB", CTG_REQ_SINGLE(0x10000, bdf));
	REFUSED("gfn at COIOMMU_MAX_GPA",
		CTG_REQ_SINGLE(COIOMMU_MAX_GPA >> 12, bdf));
	REFUSED("largest gfn", CTG_REQ_SINGLE((1ULL << 47) - 1, bdf));
	REFUSED("batch of gfns outside RAM",
		put_batch(t, HB_GPA, bdf, 3,
			  (uint64_t[]){ end_gfn, 0x100, 1ULL << 46 }, 3));
	/* In part: the good pages are pinned, the request counts refused. */
	check_ring(_metadata, __LINE__, t, "batch with one gfn outside RAM",
		   put_batch(t, HB_GPA, bdf, 3,
			     (uint64_t[]){ D(4), end_gfn, D(5) }, 3),
		   true, 2, NULL, 0);
	EXPECT_NE(0, *ctg_dtt_entry(t, D(4)) & CTG_DTT_PINNED);
	EXPECT_NE(0, *ctg_dtt_entry(t, D(5)) & CTG_DTT_PINNED);

	/* ---- holes ---- */
	REFUSED("hole (level 2 entry not present)",
		CTG_REQ_SINGLE(HOLE_GFN, bdf));
	REFUSED("batch in a hole",
		put_batch(t, HB_GPA, bdf, 2,
			  (uint64_t[]){ HOLE_GFN, HOLE_GFN + 1 }, 2));
	up = ctg_dtt_upper(t, 3, D(6));
	ASSERT_NE(NULL, up);
	saved = *up;
	*up = 0;
	REFUSED("hole (root entry not present)", CTG_REQ_SINGLE(D(6), bdf),
		D(6));
	*up = saved & ~CTG_DTT_PRESENT;
	REFUSED("hole (root entry with the address but no present bit)",
		CTG_REQ_SINGLE(D(6), bdf), D(6));

	/* ---- upper entries pointing outside guest RAM ---- */
	for (i = 0; i < ARRAY_SIZE(tables); i++) {
		char what[96];

		*up = tables[i] | CTG_DTT_PRESENT;
		snprintf(what, sizeof(what), "root entry -> %#llx",
			 (unsigned long long)tables[i]);
		REFUSED(what, CTG_REQ_SINGLE(D(6), bdf), D(6));
	}
	*up = saved;
	up = ctg_dtt_upper(t, 2, HOLE_GFN);
	ASSERT_NE(NULL, up);
	ASSERT_EQ(0, *up);
	for (i = 0; i < ARRAY_SIZE(tables); i++) {
		char what[96];

		*up = tables[i] | CTG_DTT_PRESENT;
		snprintf(what, sizeof(what), "level 2 entry -> %#llx",
			 (unsigned long long)tables[i]);
		REFUSED(what, CTG_REQ_SINGLE(HOLE_GFN, bdf));
	}
	*up = 0;

	/* ---- batch lists running past the end of RAM, or outside it ---- */
	REFUSED("batch list starts at the end of RAM",
		put_batch(t, ram_end - 16, bdf, 1, (uint64_t[]){ D(7) }, 1),
		D(7));
	REFUSED("batch list runs past the end of RAM",
		put_batch(t, ram_end - 32, bdf, 3,
			  (uint64_t[]){ D(7), D(8), D(9) }, 3),
		D(7), D(8), D(9));
	REFUSED("batch header straddles the end of RAM",
		put_batch(t, ram_end - 8, bdf, 1, (uint64_t[]){ D(7) }, 1),
		D(7));
	REFUSED("batch header at the end of RAM", CTG_REQ_BATCH | ram_end);
	REFUSED("batch header in BAR2", CTG_REQ_BATCH | CTG_BAR2_GPA);
	REFUSED("batch header in memslot 0", CTG_REQ_BATCH | 0x1000);
	REFUSED("batch header at 2^62", CTG_REQ_BATCH | 1ULL << 62);
	/*
	 * Any length is served, as the deployed device does: the list is
	 * read until it leaves guest RAM, the good GFNs in it are pinned
	 * (the first time), the rest refused, and the slot completed.
	 */
	for (i = 0; i < ARRAY_SIZE(huge); i++) {
		uint64_t g[] = { D(10), D(11) };
		char what[96];

		snprintf(what, sizeof(what), "batch nr_pages %#llx",
			 (unsigned long long)huge[i]);
		check_ring(_metadata, __LINE__, t, what,
			   put_batch(t, HB_GPA, bdf, huge[i], g, 2), true,
			   i ? 0 : 2, g, i ? 0 : 2);
	}

	/* ---- deactivated: refused; what was pinned stays pinned ---- */
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_DEACTIVATE, 0, 0));
	REFUSED("after DEACTIVATE", CTG_REQ_SINGLE(D(12), bdf), D(12));
	REFUSED("batch after DEACTIVATE",
		put_batch(t, HB_GPA, bdf, 2, (uint64_t[]){ D(12), D(13) }, 2),
		D(12), D(13));
	dma_faults(_metadata, t, &self->kmsg, D(12));

	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(D(1)), 3));
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ctg_dma_write(t, CTG_GPA(D(1)) + 1, ctg_pattern(3),
				   CT_EDU_DMA_MAX));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("DMA to the page pinned before DEACTIVATE: RAM differs at %#llx",
		       (unsigned long long)d);
	}

	/* Everything refused above left no trace in the DTT. */
	for (i = 0; i < 16; i++) {
		bool pinned = i == 1 || i == 4 || i == 5 || i == 10 || i == 11;

		EXPECT_EQ(pinned ? CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1 :
				   CTG_DTT_ACCESSED | 1,
			  *ctg_dtt_entry(t, D(i))) {
			TH_LOG("entry of data page %u", i);
		}
	}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(5, st.pinned_pages);
	EXPECT_EQ(5, st.pins);
	EXPECT_EQ(st.requests, st.served_task);
	EXPECT_EQ(0, st.served_worker);
	/* All but the good single request were refused, in whole or part. */
	EXPECT_EQ(st.requests - 1, st.refused_requests);
	EXPECT_LT(50, st.requests);
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
