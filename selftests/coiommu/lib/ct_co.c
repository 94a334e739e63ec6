// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/coiommu from a test (ct.h, "/dev/coiommu"): only what libcoiommu,
 * which the tests use for every well-formed call, does not do for a VMM.
 * A raw ioctl that returns -errno, for the tests that hand the module
 * malformed arguments on purpose; the edu device added with its own PCI
 * address; and the counters of fdinfo and debugfs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "ct.h"

int ct_co_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

int ct_co_add_edu(int fd, const struct ct_edu *e)
{
	int bdf = ct_bdf_parse(e->bdf);

	if (bdf < 0)
		return -EINVAL;
	return coiommu_add_vfio_device(fd, e->device, e->group, bdf);
}

long ct_co_fdinfo(int fd, const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return ct_file_value(path, key, ':');
}

long long ct_co_debugfs(long instance, const char *key)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/kernel/debug/coiommu/%ld", instance);
	return ct_file_value(path, key, ' ');
}
