/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Checks shared by the unpinning tests (lazy unpinning, generations,
 * shrinker, forced unpin, park), for use inside the kselftest harness
 * after ct_kvm.h and ct_guest.h.
 *
 * DMA proofs on a struct ctg: edu's buffer holds ctg_pattern(seed) (see
 * ctg_edu_prime()). The target page first gets fresh bytes, then edu
 * writes its buffer to it; the test data area (CTG_DATA_GPA to the end of
 * RAM) is compared with the shadow. Only DMA and the test change that area
 * (the DTT and the mailboxes, which the unpinner and the guest update
 * concurrently, lie below it).
 */
#ifndef CT_UNPIN_H
#define CT_UNPIN_H

#include <string.h>

#include "ct_guest.h"

#define CTU_LEN		CT_EDU_DMA_MAX

static inline uint64_t ctu_data_diff(struct ctg *t)
{
	return ctg_shadow_diff_range(t, CTG_DATA_GPA,
				     t->ram_size - (CTG_DATA_GPA - CTG_RAM_GPA));
}

/* New bytes in page @gpa, in RAM and shadow alike. */
static inline void ctu_scribble(struct ctg *t, uint64_t gpa, uint32_t seed)
{
	uint8_t *p = ctg_hva(t, gpa);

	ct_fill(p, CT_PAGE, seed);
	memcpy(t->shadow + (p - t->ram), p, CT_PAGE);
}

/* edu writes its buffer (ctg_pattern(@seed)) to @gpa + 1: it lands. */
static inline void ctu_dma_lands(struct __test_metadata *_metadata, int line,
				 struct ctg *t, uint64_t gpa, uint32_t seed)
{
	uint64_t d;

	ASSERT_EQ(0, ctg_shadow_sync(t));
	ctu_scribble(t, gpa, seed ^ (uint32_t)gpa ^ (uint32_t)ct_now_ms());
	ASSERT_EQ(0, ctg_dma_write(t, gpa + 1, ctg_pattern(seed), CTU_LEN)) {
		TH_LOG("line %d: edu DMA to %#llx did not finish", line,
		       (unsigned long long)gpa);
	}
	d = ctu_data_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("line %d: DMA write to %#llx (%s, must be pinned): guest RAM differs at %#llx",
		       line, (unsigned long long)gpa, t->edu.bdf,
		       (unsigned long long)d);
		ctg_shadow_sync(t);
	}
}

/*
 * edu writes to @gpa + 1, which must not be mapped: guest RAM stays as
 * it was and the IOMMU logs a write fault for the page.
 */
static inline void ctu_dma_blocked(struct __test_metadata *_metadata,
				   int line, struct ctg *t, struct ct_kmsg *k,
				   uint64_t gpa)
{
	bool logged;
	uint64_t d;

	ASSERT_EQ(0, ctg_shadow_sync(t));
	ctu_scribble(t, gpa, (uint32_t)gpa ^ 0x5a5a ^ (uint32_t)ct_now_ms());
	ASSERT_EQ(0, ct_edu_dma_fault(&t->edu, k, gpa + 1, 0, CTU_LEN, true,
				      &logged)) {
		TH_LOG("line %d: edu DMA to %#llx did not finish", line,
		       (unsigned long long)gpa);
	}
	d = ctu_data_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("line %d: DMA write to %#llx (%s, must be unpinned) reached guest RAM at %#llx",
		       line, (unsigned long long)gpa, t->edu.bdf,
		       (unsigned long long)d);
		ctg_shadow_sync(t);
	}
	EXPECT_TRUE(logged) {
		TH_LOG("line %d: no DMAR write fault logged for %#llx by %s",
		       line, (unsigned long long)gpa, t->edu.bdf);
	}
}

#define CTU_DMA_LANDS(t, gpa, seed) \
	ctu_dma_lands(_metadata, __LINE__, t, gpa, seed)
#define CTU_DMA_BLOCKED(t, k, gpa) \
	ctu_dma_blocked(_metadata, __LINE__, t, k, gpa)

/* Host memory pressure, as an administrator makes it: slab shrinkers. */
static inline int ctu_drop_caches(void)
{
	return ct_write_file("/proc/sys/vm/drop_caches", "2");
}

#define CTU_PERIOD_PARAM	"/sys/module/" CT_MODULE "/parameters/unpin_period_ms"

#endif /* CT_UNPIN_H */
