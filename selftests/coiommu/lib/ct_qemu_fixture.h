/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the qemu_* tests: the e2e fixture's checks (ct_e2e.h:
 * the module loaded, edu on vfio-pci; afterwards no pin left, no
 * locked_vm, rmmod), the QEMU bundle mounted, and a struct ct_qemu that
 * the teardown kills and frees first, so that a failed ASSERT leaves no
 * QEMU holding pins behind when the checks run.
 */
#ifndef CT_QEMU_FIXTURE_H
#define CT_QEMU_FIXTURE_H

#include "ct_e2e.h"
#include "ct_qemu.h"

FIXTURE(qemu) {
	struct ct_env env;
	char bdf[32];
	struct ct_qemu q;
};

FIXTURE_SETUP(qemu)
{
	ct_qemu_init(&self->q);
	ct_vmm_setup(_metadata, &self->env, self->bdf);
	ASSERT_EQ(0, ct_qemu_mount()) {
		TH_LOG("no QEMU bundle at " CT_QEMU_DIR " (vm.sh QEMU_BUNDLE, make qemu)");
	}
}

FIXTURE_TEARDOWN(qemu)
{
	ct_qemu_free(&self->q);
	ct_env_teardown(_metadata, &self->env);
}

/* The tests of the coiommu device need a QEMU that has it. */
#define CT_QEMU_NEED_COIOMMU()						\
	ASSERT_TRUE(ct_qemu_has_device("coiommu")) {			\
		TH_LOG(CT_QEMU " has no coiommu device: not a make qemu build"); \
	}

#endif /* CT_QEMU_FIXTURE_H */
