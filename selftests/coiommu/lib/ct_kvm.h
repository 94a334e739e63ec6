/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Include first in tests that run KVM guests: the KVM selftest library
 * plus the kselftest harness. The library's test_util.h has its own
 * ASSERT_EQ; the harness' version (with _metadata) is the one tests use,
 * while the library keeps TEST_ASSERT for its internal checks.
 */
#ifndef CT_KVM_H
#define CT_KVM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "kvm_util.h"
#include "processor.h"

#undef ASSERT_EQ
#include "ct_fixture.h"

#endif /* CT_KVM_H */
