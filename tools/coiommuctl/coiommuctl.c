// SPDX-License-Identifier: GPL-2.0
/*
 * coiommuctl: look at the coIOMMU host module from a shell.
 *
 *   coiommuctl version     API version of the loaded module
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/coiommu.h>

static int usage(void)
{
	fprintf(stderr, "usage: coiommuctl version\n");
	return 2;
}

static int cmd_version(void)
{
	int fd = open("/dev/coiommu", O_RDWR | O_CLOEXEC);
	int v;

	if (fd < 0) {
		fprintf(stderr, "coiommuctl: /dev/coiommu: %s\n", strerror(errno));
		return 1;
	}
	v = ioctl(fd, COIOMMU_GET_API_VERSION);
	close(fd);
	if (v < 0) {
		fprintf(stderr, "coiommuctl: version: %s\n", strerror(errno));
		return 1;
	}
	printf("coiommu API version %d (this tool: %d)\n", v,
	       COIOMMU_API_VERSION);
	return v == COIOMMU_API_VERSION ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "version"))
		return cmd_version();
	return usage();
}
