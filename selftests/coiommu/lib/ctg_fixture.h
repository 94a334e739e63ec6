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

#endif /* CTG_FIXTURE_H */
