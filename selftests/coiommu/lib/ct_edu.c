// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU's edu DMA device through VFIO (ct.h, "edu DMA device through
 * VFIO"): finding and binding the devices, opening them in a type1
 * container, DMA in either direction, a DMA that must fault, and type1
 * map/unmap for the tests that use type1 beside the module.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "ct.h"

static int bdf_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int ct_edu_list(char bdf[][32], int max)
{
	char path[PATH_MAX], val[32];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < max) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 d->d_name);
		if (ct_read_file(path, val, sizeof(val)) ||
		    strtoul(val, NULL, 0) != CT_EDU_VENDOR)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 d->d_name);
		if (ct_read_file(path, val, sizeof(val)) ||
		    strtoul(val, NULL, 0) != CT_EDU_DEVICE)
			continue;
		if (strlen(d->d_name) < 32)
			memcpy(bdf[n++], d->d_name, strlen(d->d_name) + 1);
	}
	closedir(dir);
	qsort(bdf, n, 32, bdf_cmp);
	return n;
}

static int driver_of(const char *bdf, char *name, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		name[0] = 0;
		return -errno;
	}
	target[n] = 0;
	snprintf(name, len, "%s", strrchr(target, '/') + 1);
	return 0;
}

int ct_edu_bind_vfio(const char *bdf)
{
	char path[PATH_MAX], drv[64];
	int ret;

	if (!driver_of(bdf, drv, sizeof(drv)) && !strcmp(drv, "vfio-pci"))
		return 0;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 bdf);
	ret = ct_write_file(path, "vfio-pci");
	if (ret)
		return ret;
	if (drv[0]) {
		snprintf(path, sizeof(path),
			 "/sys/bus/pci/devices/%s/driver/unbind", bdf);
		ret = ct_write_file(path, bdf);
		if (ret)
			return ret;
	}
	ret = ct_write_file("/sys/bus/pci/drivers_probe", bdf);
	if (ret)
		return ret;
	if (driver_of(bdf, drv, sizeof(drv)) || strcmp(drv, "vfio-pci"))
		return -ENODEV;
	return 0;
}

static int group_of(const char *bdf)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = 0;
	return atoi(strrchr(target, '/') + 1);
}

int ct_edu_open(struct ct_edu *e, const char *bdf, int container)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_info reg = { .argsz = sizeof(reg) };
	char path[64];
	uint16_t cmd;
	int ret;

	memset(e, 0, sizeof(*e));
	e->container = e->group = e->device = -1;
	snprintf(e->bdf, sizeof(e->bdf), "%s", bdf);
	ret = ct_edu_bind_vfio(bdf);
	if (ret)
		return ret;
	e->group_id = group_of(bdf);
	if (e->group_id < 0)
		return e->group_id;

	if (container < 0) {
		e->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		if (e->container < 0)
			goto err;
		e->own_container = true;
		if (ioctl(e->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
		    ioctl(e->container, VFIO_CHECK_EXTENSION,
			  VFIO_TYPE1v2_IOMMU) != 1) {
			errno = ENOTSUP;
			goto err;
		}
	} else {
		e->container = container;
	}

	snprintf(path, sizeof(path), "/dev/vfio/%d", e->group_id);
	e->group = open(path, O_RDWR | O_CLOEXEC);
	if (e->group < 0)
		goto err;
	if (ioctl(e->group, VFIO_GROUP_GET_STATUS, &status))
		goto err;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EBUSY;
		goto err;
	}
	if (ioctl(e->group, VFIO_GROUP_SET_CONTAINER, &e->container))
		goto err;
	if (e->own_container &&
	    ioctl(e->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		goto err;

	e->device = ioctl(e->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (e->device < 0)
		goto err;

	reg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(e->device, VFIO_DEVICE_GET_REGION_INFO, &reg))
		goto err;
	e->cfg_offset = reg.offset;

	memset(&reg, 0, sizeof(reg));
	reg.argsz = sizeof(reg);
	reg.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(e->device, VFIO_DEVICE_GET_REGION_INFO, &reg))
		goto err;
	e->bar0_size = reg.size;
	e->bar0 = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       e->device, reg.offset);
	if (e->bar0 == MAP_FAILED) {
		e->bar0 = NULL;
		goto err;
	}

	/* Memory space + bus master: vfio-pci leaves BME clear. */
	if (pread(e->device, &cmd, 2, e->cfg_offset + 4) != 2)
		goto err;
	cmd |= 0x6;
	if (pwrite(e->device, &cmd, 2, e->cfg_offset + 4) != 2)
		goto err;
	return 0;
err:
	ret = -errno;
	ct_edu_close(e);
	return ret ? ret : -EIO;
}

void ct_edu_close_device(struct ct_edu *e)
{
	if (e->bar0)
		munmap((void *)e->bar0, e->bar0_size);
	e->bar0 = NULL;
	if (e->device >= 0)
		close(e->device);
	e->device = -1;
}

void ct_edu_close(struct ct_edu *e)
{
	ct_edu_close_device(e);
	if (e->group >= 0)
		close(e->group);
	e->group = -1;
	if (e->own_container && e->container >= 0)
		close(e->container);
	e->container = -1;
}

static uint64_t rd64(struct ct_edu *e, unsigned int off)
{
	return *(volatile uint64_t *)(e->bar0 + off);
}

static void wr64(struct ct_edu *e, unsigned int off, uint64_t v)
{
	*(volatile uint64_t *)(e->bar0 + off) = v;
}

uint32_t ct_edu_ident(struct ct_edu *e)
{
	return *(volatile uint32_t *)e->bar0;
}

int ct_edu_dma(struct ct_edu *e, uint64_t iova, uint64_t buf_off,
	       size_t len, bool to_ram)
{
	long deadline;

	if (len == 0 || len > CT_EDU_DMA_MAX || buf_off + len > 4096)
		return -EINVAL;
	if (rd64(e, 0x98) & 1)
		return -EBUSY;
	if (to_ram) {
		wr64(e, 0x80, CT_EDU_BUF + buf_off);
		wr64(e, 0x88, iova);
	} else {
		wr64(e, 0x80, iova);
		wr64(e, 0x88, CT_EDU_BUF + buf_off);
	}
	wr64(e, 0x90, len);
	wr64(e, 0x98, 1 | (to_ram ? 2 : 0));
	deadline = ct_now_ms() + 10000;
	while (rd64(e, 0x98) & 1) {
		if (ct_now_ms() > deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

int ct_edu_dma_fault(struct ct_edu *e, struct ct_kmsg *k, uint64_t iova,
		     uint64_t buf_off, size_t len, bool to_ram, bool *logged)
{
	int i, ret;

	*logged = false;
	for (i = 0; i < 2 && !*logged; i++) {
		if (i)	/* Missed: let a whole window pass, then again. */
			ct_dmar_exhaust();
		ct_dmar_pace();
		ret = ct_edu_dma(e, iova, buf_off, len, to_ram);
		ct_dmar_account();
		if (ret)
			return ret;
		*logged = ct_kmsg_dmar_fault_dev(k, e->bdf, iova, to_ram,
						 3000);
	}
	return 0;
}

int ct_vfio_map(int container, void *vaddr, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_MAP_DMA, &map) ? -errno : 0;
}

int ct_vfio_unmap(int container, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};

	return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) ? -errno : 0;
}

int ct_edu_open_retry(struct ct_edu *e, const char *bdf, int container,
		      int timeout_ms)
{
	long deadline = ct_now_ms() + timeout_ms;
	int ret;

	for (;;) {
		ret = ct_edu_open(e, bdf, container);
		if (ret != -EBUSY || ct_now_ms() > deadline)
			return ret;
		usleep(10000);
	}
}
