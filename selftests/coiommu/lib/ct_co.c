// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/coiommu from a test (ct.h, "/dev/coiommu"): what libcoiommu does
 * not do for a VMM. A raw ioctl that returns -errno (for the tests that
 * hand the module malformed arguments), the fdinfo counters, and the edu
 * device and test RAM handed to an instance.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ct.h"

int ct_co_open(void)
{
	int fd = open("/dev/coiommu", O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int ct_co_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

int ct_co_set_map(int fd, const struct coiommu_region *r, unsigned int nr)
{
	size_t len = sizeof(struct coiommu_memory_map) + nr * sizeof(*r);
	struct coiommu_memory_map *map = calloc(1, len);
	int ret;

	if (!map)
		return -ENOMEM;
	map->argsz = len;
	map->nr_regions = nr;
	if (nr)
		memcpy(map->regions, r, nr * sizeof(*r));
	ret = ct_co_ioctl(fd, COIOMMU_SET_MEMORY_MAP, map);
	free(map);
	return ret;
}

int ct_co_add_device(int fd, int device_fd, int group_fd, uint16_t bdf)
{
	struct coiommu_device dev = {
		.argsz = sizeof(dev),
		.device_fd = device_fd,
		.group_fd = group_fd,
		.bdf = bdf,
	};

	return ct_co_ioctl(fd, COIOMMU_ADD_DEVICE, &dev);
}

int ct_co_add_edu(int fd, const struct ct_edu *e)
{
	int bdf = ct_bdf_parse(e->bdf);

	if (bdf < 0)
		return -EINVAL;
	return ct_co_add_device(fd, e->device, e->group, bdf);
}

static int co_range(int fd, unsigned long cmd, uint64_t gpa, uint64_t size)
{
	struct coiommu_range r = {
		.argsz = sizeof(r),
		.gpa = gpa,
		.size = size,
	};

	return ct_co_ioctl(fd, cmd, &r);
}

int ct_co_pin(int fd, uint64_t gpa, uint64_t size)
{
	return co_range(fd, COIOMMU_PIN_RANGE, gpa, size);
}

int ct_co_unpin(int fd, uint64_t gpa, uint64_t size)
{
	return co_range(fd, COIOMMU_UNPIN_RANGE, gpa, size);
}

int ct_co_stats(int fd, struct coiommu_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->argsz = sizeof(*st);
	return ct_co_ioctl(fd, COIOMMU_GET_STATS, st);
}

long ct_co_fdinfo(int fd, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = strtol(line + klen + 1, NULL, 0);
			break;
		}
	fclose(f);
	return val;
}
