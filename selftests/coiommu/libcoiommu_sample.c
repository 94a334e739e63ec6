// SPDX-License-Identifier: GPL-2.0
/*
 * libcoiommu_sample: tools/samples/coiommu_sample.c, the whole VMM side of
 * coIOMMU on raw KVM with libcoiommu, builds and works: its real-mode
 * guest rings a doorbell and reads its slot completed and PINNED set on
 * the very next instruction. Then its exit left nothing pinned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ct_fixture.h"

CT_ENV_FIXTURE(sample);

TEST_F(sample, libcoiommu_sample)
{
	char bdf[4][32], cmd[128], out[512] = "";
	FILE *p;
	int st;

	ASSERT_LE(1, ct_edu_list(bdf, 4));
	ASSERT_EQ(0, ct_edu_bind_vfio(bdf[0]));
	snprintf(cmd, sizeof(cmd), "coiommu-sample %s 2>&1", bdf[0]);
	p = popen(cmd, "r");
	ASSERT_NE(NULL, p);
	fread(out, 1, sizeof(out) - 1, p);
	st = pclose(p);
	TH_LOG("%s", out);
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	EXPECT_NE(NULL, strstr(out, "slot after ring: 0,"));
	EXPECT_NE(NULL, strstr(out, "served in vCPU thread: 1"));
}

TEST_HARNESS_MAIN
