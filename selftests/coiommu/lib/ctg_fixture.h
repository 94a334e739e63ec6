/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The set-up and tear-down shared by the tests of a raw KVM guest
 * (ct_guest.h) under the kselftest harness: the environment checks of
 * ct_fixture.h, the kernel log (DMAR faults, splats) and the guest with
 * its coIOMMU instance.
 */
#ifndef CTG_FIXTURE_H
#define CTG_FIXTURE_H

#include <unistd.h>

#include "ct_fixture.h"
#include "ct_guest.h"
#include "ct_trace.h"

/* What every raw-guest fixture holds: the checks, the kernel log, the guest. */
#define CTG_FIXTURE_MEMBERS	\
	struct ct_env env;	\
	struct ct_kmsg kmsg;	\
	struct ctg t

/*
 * Load the module, take the pin baseline, check /dev/kvm and open the
 * kernel log; the caller then creates the guest with ctg_create(). @t
 * and @kmsg are made safe for ctg_fixture_end() first, whatever fails.
 */
static inline void ctg_fixture_start(struct __test_metadata *_metadata,
				     struct ct_env *env, struct ct_kmsg *kmsg,
				     struct ctg *t)
{
	ctg_init(t);
	kmsg->fd = -1;
	ct_env_setup(_metadata, env);
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));
	ASSERT_EQ(0, ct_kmsg_open(kmsg));
}

/* Destroy the guest, close the log, then ct_env_teardown()'s checks. */
static inline void ctg_fixture_end(struct __test_metadata *_metadata,
				   struct ct_env *env, struct ct_kmsg *kmsg,
				   struct ctg *t)
{
	ctg_destroy(t);
	ct_kmsg_close(kmsg);
	ct_env_teardown(_metadata, env);
}

/*
 * edu DMA of a pattern (@seed) to guest page @gfn lands there, exactly
 * (the rest of RAM is compared with the shadow), and the guest reads it.
 */
static inline void ctg_dma_lands_page(struct __test_metadata *_metadata,
				      struct ctg *t, uint64_t gfn,
				      uint32_t seed)
{
	uint64_t d, hash;

	ASSERT_EQ(0, ctg_edu_prime(t, CTG_GPA(gfn), seed));
	ct_fill(ctg_hva(t, CTG_GPA(gfn)), CT_PAGE, seed + 1);
	ASSERT_EQ(0, ctg_shadow_sync(t));
	ASSERT_EQ(0, ctg_dma_write(t, CTG_GPA(gfn) + 1, ctg_pattern(seed),
				   CT_EDU_DMA_MAX));
	d = ctg_shadow_diff(t);
	EXPECT_EQ(0, d) {
		TH_LOG("DMA to gfn %#llx: RAM differs at %#llx",
		       (unsigned long long)gfn, (unsigned long long)d);
	}
	ASSERT_EQ(0, ctg_guest_hash(t, 0, CTG_GPA(gfn), CT_PAGE, &hash));
	EXPECT_EQ(ctg_shadow_hash(t, CTG_GPA(gfn), CT_PAGE), hash);
}

/*
 * A raw-guest fixture in one line, as KVM selftests'
 * KVM_ONE_VCPU_TEST_SUITE():
 *
 *	CTG_FIXTURE(db, .nr_vcpus = 1);
 *
 *	TEST_F_TIMEOUT(db, doorbell_single, 120)
 *	{
 *		struct ctg *t = &self->t;
 *
 * What follows the name initialises the struct ctg_cfg of the guest that
 * the setup creates (ctg_fixture_start(), then ctg_create()). The
 * teardown disables the tracepoints a test enabled (ct_trace_stop() does
 * nothing when none were), then ctg_fixture_end(). A fixture that needs
 * more writes the three parts out, with CTG_FIXTURE_MEMBERS.
 */
#define CTG_FIXTURE(name, ...)						\
	FIXTURE(name) {							\
		CTG_FIXTURE_MEMBERS;					\
	};								\
									\
	FIXTURE_SETUP(name)						\
	{								\
		struct ctg_cfg cfg = { __VA_ARGS__ };			\
									\
		ctg_fixture_start(_metadata, &self->env, &self->kmsg,	\
				  &self->t);				\
		ASSERT_EQ(0, ctg_create(&self->t, &cfg));		\
	}								\
									\
	FIXTURE_TEARDOWN(name)						\
	{								\
		ct_trace_stop();					\
		ctg_fixture_end(_metadata, &self->env, &self->kmsg,	\
				&self->t);				\
	}

#endif /* CTG_FIXTURE_H */
