/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The checks every coIOMMU test ends with, for use inside the kselftest
 * harness' FIXTURE_SETUP/FIXTURE_TEARDOWN: the module loads before the test,
 * and afterwards no FOLL_PIN pin is outstanding, the test process has no
 * locked_vm left, and rmmod succeeds.
 */
#ifndef CT_FIXTURE_H
#define CT_FIXTURE_H

#include <unistd.h>

#include "kselftest_harness.h"
#include "ct.h"

struct ct_env {
	struct ct_pins base;
	bool ready;
};

static inline void ct_env_setup(struct __test_metadata *_metadata,
				struct ct_env *env)
{
	ASSERT_EQ(0, ct_module_load());
	ASSERT_EQ(0, ct_pins_read(&env->base));
	env->ready = true;
}

/* Call after closing every fd of the test. */
static inline void ct_env_teardown(struct __test_metadata *_metadata,
				   struct ct_env *env)
{
	if (!env->ready)
		return;
	EXPECT_EQ(0, ct_pins_outstanding(&env->base)) {
		TH_LOG("FOLL_PIN pins leaked");
	}
	EXPECT_EQ(0, ct_locked_vm_kb(getpid())) {
		TH_LOG("locked_vm not returned");
	}
	EXPECT_EQ(0, ct_module_unload()) {
		TH_LOG("rmmod " CT_MODULE " failed");
	}
}

#endif /* CT_FIXTURE_H */
