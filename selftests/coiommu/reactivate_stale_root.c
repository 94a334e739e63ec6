// SPDX-License-Identifier: GPL-2.0
/*
 * reactivate_stale_root: after DEACTIVATE, the DTT root of the previous
 * activation is stale: the guest driver that wrote it may have been
 * unbound and its tables freed and reused. An ACTIVATE with that same
 * root is refused (-ESTALE) unless the VMM says the guest wrote the root
 * register again (COIOMMU_COMMAND_NEW_ROOT).
 *
 *   stale_root  ACTIVATE R, a pin, DEACTIVATE; R's tables are then
 *               "reused": R's entries all lead to table K, K's to table
 *               L, L holds map-count-1 leaf entries. ACTIVATE R without
 *               NEW_ROOT: -ESTALE. A guest request is then completed
 *               (slot 0) and refused: no pin, and not a byte of the table
 *               pages changes (PINNED set nowhere). A freshly written DTT
 *               at R, activated with NEW_ROOT, is served again: PINNED,
 *               and edu DMA lands in the page.
 *   other_root  after DEACTIVATE, ACTIVATE with a different root needs no
 *               NEW_ROOT and is served.
 */
#include "ct_kvm.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ct_guest.h"
#include "ctg_fixture.h"

#define P1_GPA		(CTG_DATA_GPA + 8 * CT_PAGE)
#define P2_GPA		(CTG_DATA_GPA + 9 * CT_PAGE)
#define TABLE(i)	(CTG_TABLES_GPA + (i) * CT_PAGE)
#define K_GPA		TABLE(CTG_TABLE_PAGES - 1)
#define L_GPA		TABLE(CTG_TABLE_PAGES - 2)
#define TABLES_SIZE	(CTG_TABLE_PAGES * CT_PAGE)

CTG_FIXTURE(ra, .nr_vcpus = 1);

/* The reused tables when the stale root is offered: none may change. */
static uint8_t snap[TABLES_SIZE];

/* The guest maps @gpa's page: one request, PINNED when it looks. */
static void guest_maps(struct __test_metadata *_metadata, struct ctg *t,
		       uint64_t gpa)
{
	struct ctg_map_res res;

	ASSERT_EQ(0, ctg_map(t, 0, CTG_GFN(gpa), 1, 0, &res));
	EXPECT_EQ(1, res.requests);
	EXPECT_EQ(0, res.holes);
	EXPECT_EQ(0, res.last_slot);
	EXPECT_EQ(0, res.unpinned) {
		TH_LOG("PINNED not set on %#llx when the guest looked",
		       (unsigned long long)gpa);
	}
	EXPECT_EQ(CTG_DTT_PINNED | CTG_DTT_ACCESSED | 1,
		  ctg_entry(t, CTG_GFN(gpa)));
}

/* edu reads @gpa's page and writes it back one byte on: it lands. */
static void dma_lands(struct __test_metadata *_metadata, struct ctg *t,
		      uint64_t gpa, uint32_t seed)
{
	uint64_t d;

	ASSERT_EQ(0, ctg_edu_prime(t, gpa, seed));
	ct_fill(ctg_hva(t, gpa), CT_PAGE, seed + 1);
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ctg_dma_write(t, gpa + 1, ctg_pattern(seed),
				   CT_EDU_DMA_MAX));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("guest RAM at %#llx is not what the DMA must have left",
		       (unsigned long long)d);
	}
}

TEST_F_TIMEOUT(ra, stale_root, 180)
{
	struct ctg *t = &self->t;
	uint64_t root = t->dtt_root, after, *e;
	uint8_t *tables = ctg_hva(t, CTG_TABLES_GPA);
	struct coiommu_stats st0, st;
	struct ct_pins a, b;
	unsigned int i;
	uint32_t *leaf;

	ct_fill(ctg_hva(t, CTG_DATA_GPA), 32 * CT_PAGE, 0x57a1e);
	guest_maps(_metadata, t, P1_GPA);
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_DEACTIVATE, 0, 0));

	/*
	 * The tables are freed and reused: R now leads everywhere to K, K
	 * to L, and L holds entries a host walk would set PINNED in.
	 */
	ct_fill(tables, TABLES_SIZE, 0x7ab1e);
	e = ctg_hva(t, root);
	for (i = 0; i < 512; i++)
		e[i] = K_GPA | CTG_DTT_PRESENT;
	e = ctg_hva(t, K_GPA);
	for (i = 0; i < 512; i++)
		e[i] = L_GPA | CTG_DTT_PRESENT;
	leaf = ctg_hva(t, L_GPA);
	for (i = 0; i < 1024; i++)
		leaf[i] = 1;
	memcpy(snap, tables, TABLES_SIZE);

	/* The VMM forwards the latched root: stale. */
	EXPECT_EQ(-ESTALE, coiommu_command(t->co, COIOMMU_CMD_ACTIVATE, root,
					   t->dtt_level));

	/* A request now is completed, refused, and touches nothing. */
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st0));
	ASSERT_EQ(0, ct_pins_read(&a));
	ASSERT_EQ(0, ctg_ring(t, 0, CTG_REQ_SINGLE(CTG_GFN(P2_GPA), t->bdf),
			      &after));
	EXPECT_EQ(0, after) {
		TH_LOG("slot not completed: %#llx", (unsigned long long)after);
	}
	EXPECT_EQ(0, ctg_res(t, 0)[1]);
	ASSERT_EQ(0, ct_pins_read(&b));
	EXPECT_EQ(a.acquired, b.acquired) {
		TH_LOG("%lu pages pinned for a request on a stale root",
		       b.acquired - a.acquired);
	}
	EXPECT_EQ(0, memcmp(snap, tables, TABLES_SIZE)) {
		for (i = 0; i < TABLES_SIZE; i++)
			if (snap[i] != tables[i])
				break;
		TH_LOG("the stale tables were written at GPA %#llx",
		       (unsigned long long)(CTG_TABLES_GPA + i));
	}
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(1, st.pinned_pages);
	EXPECT_EQ(st0.requests + 1, st.requests);
	EXPECT_EQ(st0.refused_requests + 1, st.refused_requests);

	/* The guest writes a fresh DTT at R and the root register again. */
	ASSERT_EQ(0, ctg_dtt_init(t, t->dtt_level));
	ASSERT_EQ(root, t->dtt_root);
	ASSERT_EQ(0, ctg_dtt_cover(t, CTG_RAM_GPA, t->ram_size));
	ASSERT_EQ(0, coiommu_command_flags(t->co, COIOMMU_CMD_ACTIVATE, root,
					   t->dtt_level,
					   COIOMMU_COMMAND_NEW_ROOT));
	guest_maps(_metadata, t, P2_GPA);
	dma_lands(_metadata, t, P2_GPA, 3);
	ASSERT_EQ(0, coiommu_get_stats(t->co, &st));
	EXPECT_EQ(2, st.pinned_pages);
	/* P1, P2 and the notify slot page. */
	EXPECT_EQ(3, ct_pins_outstanding(&self->env.base));

	/* NEW_ROOT goes with ACTIVATE only. */
	EXPECT_EQ(-EINVAL, coiommu_command_flags(t->co, COIOMMU_CMD_PARK, 0, 0,
						 COIOMMU_COMMAND_NEW_ROOT));
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_F_TIMEOUT(ra, other_root, 180)
{
	struct ctg *t = &self->t;
	uint64_t root = t->dtt_root, root2;

	ct_fill(ctg_hva(t, CTG_DATA_GPA), 32 * CT_PAGE, 0x07e2);
	guest_maps(_metadata, t, P1_GPA);
	ASSERT_EQ(0, coiommu_command(t->co, COIOMMU_CMD_DEACTIVATE, 0, 0));

	/* A new root page with the same lower tables. */
	root2 = ctg_alloc_table(t);
	ASSERT_NE(0, root2);
	memcpy(ctg_hva(t, root2), ctg_hva(t, root), CT_PAGE);
	memset(ctg_hva(t, root), 0, CT_PAGE);
	t->dtt_root = root2;
	ASSERT_EQ(0, ctg_activate(t));
	guest_maps(_metadata, t, P2_GPA);
	dma_lands(_metadata, t, P2_GPA, 5);
	/* P1, P2 and the notify slot page. */
	EXPECT_EQ(3, ct_pins_outstanding(&self->env.base));
	ASSERT_EQ(0, ctg_run(t, 0, CTG_OP_EXIT, 0, 0, 0, 0));
}

TEST_HARNESS_MAIN
