// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers shared by the coIOMMU selftests; see ct.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/vfio.h>

#include "ct.h"

long ct_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int ct_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return 0;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	return 0;
}

void ct_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = x;
	}
}

/* ---- our module ------------------------------------------------------ */

bool ct_module_loaded(void)
{
	return access("/sys/module/" CT_MODULE, F_OK) == 0;
}

int ct_module_load(void)
{
	struct utsname u;
	char path[PATH_MAX];
	int fd, ret;

	if (ct_module_loaded())
		return 0;
	uname(&u);
	snprintf(path, sizeof(path), "/lib/modules/%s/extra/%s.ko",
		 u.release, CT_MODULE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret == -EEXIST ? 0 : ret;
}

int ct_module_unload(void)
{
	long deadline = ct_now_ms() + 2000;

	/*
	 * A file closed by an exiting process is released a moment later;
	 * allow for that, but no more: a held reference is a leak.
	 */
	for (;;) {
		if (!syscall(SYS_delete_module, CT_MODULE, O_NONBLOCK))
			return 0;
		if ((errno != EAGAIN && errno != EBUSY) ||
		    ct_now_ms() > deadline)
			return -errno;
		usleep(20000);
	}
}

/* ---- leak checks ----------------------------------------------------- */

int ct_pins_read(struct ct_pins *p)
{
	char line[256];
	FILE *f;

	/* nr_foll_pin_* are batched per CPU: fold them first. */
	ct_write_file("/proc/sys/vm/stat_refresh", "1");
	f = fopen("/proc/vmstat", "re");
	if (!f)
		return -errno;
	memset(p, 0, sizeof(*p));
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "nr_foll_pin_acquired %lu", &p->acquired);
		sscanf(line, "nr_foll_pin_released %lu", &p->released);
	}
	fclose(f);
	return 0;
}

long ct_pins_outstanding(const struct ct_pins *base)
{
	struct ct_pins now;

	if (ct_pins_read(&now))
		return -1;
	return (long)(now.acquired - base->acquired) -
	       (long)(now.released - base->released);
}

long ct_locked_vm_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- kernel log ------------------------------------------------------ */

int ct_kmsg_open(struct ct_kmsg *k)
{
	k->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	lseek(k->fd, 0, SEEK_END);
	return 0;
}

void ct_kmsg_close(struct ct_kmsg *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

static bool record_matches(const char *rec, va_list ap)
{
	const char *needle;

	while ((needle = va_arg(ap, const char *)))
		if (!strstr(rec, needle))
			return false;
	return true;
}

bool ct_kmsg_wait(struct ct_kmsg *k, int timeout_ms, ...)
{
	long deadline = ct_now_ms() + timeout_ms;
	char rec[2048];
	va_list ap;
	ssize_t n;
	bool hit;

	for (;;) {
		n = read(k->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: skip ahead */
			continue;
		if (n < 0) {
			if (errno != EAGAIN || ct_now_ms() > deadline)
				return false;
			usleep(10000);
			continue;
		}
		rec[n] = 0;
		va_start(ap, timeout_ms);
		hit = record_matches(rec, ap);
		va_end(ap);
		if (hit)
			return true;
	}
}

bool ct_kmsg_dmar_fault(struct ct_kmsg *k, uint64_t iova, bool write,
			int timeout_ms)
{
	char addr[64];

	/* The fault register records the page, not the byte. */
	snprintf(addr, sizeof(addr), "fault addr 0x%llx ",
		 (unsigned long long)(iova & ~(CT_PAGE - 1)));
	return ct_kmsg_wait(k, timeout_ms, "DMAR: ",
			    write ? "[DMA Write" : "[DMA Read", addr, NULL);
}

/* ---- DMAR fault log rate limit ---------------------------------------- */

#define DMAR_STATE	"/tmp/.ct-dmar-ratelimit"
#define DMAR_WINDOW_MS	5000	/* DEFAULT_RATELIMIT_INTERVAL */
#define DMAR_BURST	10	/* DEFAULT_RATELIMIT_BURST */
#define DMAR_COST	3	/* __ratelimit() calls per fault */
#define DMAR_MARGIN_MS	600	/* IRQ latency, jiffies rounding */

struct dmar_window {
	long begin;		/* ms; 0: none open */
	int used;
};

static void dmar_load(struct dmar_window *w)
{
	char buf[64];

	w->begin = 0;
	w->used = 0;
	if (!read_file(DMAR_STATE, buf, sizeof(buf)))
		sscanf(buf, "%ld %d", &w->begin, &w->used);
}

static void dmar_store(const struct dmar_window *w)
{
	char buf[64];
	int fd;

	snprintf(buf, sizeof(buf), "%ld %d\n", w->begin, w->used);
	fd = open(DMAR_STATE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, strlen(buf)) < 0) {
		/* pacing is best effort */
	}
	close(fd);
}

void ct_dmar_pace(void)
{
	struct dmar_window w;
	long end;

	dmar_load(&w);
	if (!w.begin)
		return;
	end = w.begin + DMAR_WINDOW_MS + DMAR_MARGIN_MS;
	if (ct_now_ms() > end) {
		w.begin = 0;
		w.used = 0;
	} else if (w.used + DMAR_COST > DMAR_BURST) {
		while (ct_now_ms() <= end)
			usleep(50000);
		w.begin = 0;
		w.used = 0;
	}
	dmar_store(&w);
}

void ct_dmar_account(void)
{
	struct dmar_window w;

	dmar_load(&w);
	if (!w.begin)
		w.begin = ct_now_ms();
	w.used += DMAR_COST;
	dmar_store(&w);
}

/* ---- edu through VFIO ------------------------------------------------ */

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
		if (read_file(path, val, sizeof(val)) ||
		    strtoul(val, NULL, 0) != CT_EDU_VENDOR)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 d->d_name);
		if (read_file(path, val, sizeof(val)) ||
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
		if (i) {
			/* Missed: let a whole window pass, then again. */
			struct dmar_window w = { .begin = ct_now_ms(),
						 .used = DMAR_BURST };

			dmar_store(&w);
		}
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

int ct_bdf_parse(const char *bdf)
{
	unsigned int dom, bus, dev, fn;

	if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4 ||
	    bus > 0xff || dev > 0x1f || fn > 7)
		return -1;
	return bus << 8 | dev << 3 | fn;
}

bool ct_kmsg_dmar_fault_dev(struct ct_kmsg *k, const char *bdf, uint64_t iova,
			    bool write, int timeout_ms)
{
	char addr[64], dev[64];
	int b = ct_bdf_parse(bdf);

	snprintf(addr, sizeof(addr), "fault addr 0x%llx ",
		 (unsigned long long)(iova & ~(CT_PAGE - 1)));
	snprintf(dev, sizeof(dev), "Request device [%02x:%02x.%d]",
		 (b >> 8) & 0xff, (b >> 3) & 0x1f, b & 7);
	return ct_kmsg_wait(k, timeout_ms, "DMAR: ",
			    write ? "[DMA Write" : "[DMA Read", dev, addr,
			    NULL);
}

/* ---- /dev/coiommu ---------------------------------------------------- */

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

void *ct_gpa_to_hva(const struct coiommu_region *r, unsigned int nr,
		    uint64_t gpa)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (gpa >= r[i].gpa && gpa - r[i].gpa < r[i].size)
			return (void *)(uintptr_t)(r[i].vaddr + gpa - r[i].gpa);
	return NULL;
}

void *ct_map_guarded(size_t size)
{
	uint8_t *p;

	p = mmap(NULL, size + 2 * CT_PAGE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + CT_PAGE, size, PROT_READ | PROT_WRITE)) {
		munmap(p, size + 2 * CT_PAGE);
		return NULL;
	}
	return p + CT_PAGE;
}

void ct_unmap_guarded(void *p, size_t size)
{
	if (p)
		munmap((uint8_t *)p - CT_PAGE, size + 2 * CT_PAGE);
}

long ct_pins_wait(const struct ct_pins *base, long want, int timeout_ms)
{
	long deadline = ct_now_ms() + timeout_ms;
	long n;

	for (;;) {
		n = ct_pins_outstanding(base);
		if (n == want || ct_now_ms() > deadline)
			return n;
		usleep(20000);
	}
}

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};

	return syscall(SYS_capget, &h, d) ? -errno : 0;
}

int ct_cap_drop(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	uint32_t mask = ~(1u << (cap % 32));
	int ret = caps_get(d);

	if (ret)
		return ret;
	d[cap / 32].effective &= mask;
	d[cap / 32].permitted &= mask;
	d[cap / 32].inheritable &= mask;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

bool ct_cap_has(int cap)
{
	struct __user_cap_data_struct d[2];

	if (caps_get(d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

/* ---- guest RAM of a test VMM ---------------------------------------- */

int ct_ram_init(struct ct_ram *g, size_t arena_size)
{
	memset(g, 0, sizeof(*g));
	g->size = arena_size;
	g->arena = ct_map_guarded(arena_size);
	g->shadow = malloc(arena_size);
	if (!g->arena || !g->shadow) {
		ct_ram_free(g);
		return -ENOMEM;
	}
	return 0;
}

void ct_ram_free(struct ct_ram *g)
{
	ct_unmap_guarded(g->arena, g->size);
	free(g->shadow);
	g->arena = g->shadow = NULL;
	g->nr = 0;
}

int ct_ram_add(struct ct_ram *g, uint64_t gpa, size_t arena_off,
	       size_t size)
{
	if (g->nr >= CT_RAM_MAX_REGIONS || arena_off + size > g->size)
		return -EINVAL;
	g->r[g->nr++] = (struct coiommu_region) {
		.gpa = gpa,
		.size = size,
		.vaddr = (uintptr_t)(g->arena + arena_off),
	};
	return 0;
}

void ct_ram_fill(struct ct_ram *g, uint32_t seed)
{
	ct_fill(g->arena, g->size, seed);
	memcpy(g->shadow, g->arena, g->size);
}

uint8_t *ct_ram_hva(struct ct_ram *g, uint64_t gpa)
{
	return ct_gpa_to_hva(g->r, g->nr, gpa);
}

uint8_t *ct_ram_shadow(struct ct_ram *g, uint64_t gpa)
{
	uint8_t *p = ct_ram_hva(g, gpa);

	return p ? g->shadow + (p - g->arena) : NULL;
}

/* Walk [gpa, gpa + len) page by page: arena offsets of each piece. */
static int guest_walk(struct ct_ram *g, uint64_t gpa, size_t len,
		      uint8_t *buf, int op)
{
	while (len) {
		size_t n = CT_PAGE - (gpa & (CT_PAGE - 1));
		uint8_t *p = ct_ram_hva(g, gpa);
		size_t off;

		if (!p)
			return -ERANGE;
		if (n > len)
			n = len;
		off = p - g->arena;
		switch (op) {
		case 0:		/* read */
			memcpy(buf, g->arena + off, n);
			break;
		case 1:		/* write: arena and shadow */
			memcpy(g->arena + off, buf, n);
			memcpy(g->shadow + off, buf, n);
			break;
		case 2:		/* expect: shadow */
			memcpy(g->shadow + off, buf, n);
			break;
		}
		gpa += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int ct_ram_read(struct ct_ram *g, uint64_t gpa, void *dst, size_t len)
{
	return guest_walk(g, gpa, len, dst, 0);
}

int ct_ram_write(struct ct_ram *g, uint64_t gpa, const void *src,
		 size_t len)
{
	return guest_walk(g, gpa, len, (uint8_t *)src, 1);
}

int ct_ram_expect(struct ct_ram *g, uint64_t gpa, const void *src,
		  size_t len)
{
	return guest_walk(g, gpa, len, (uint8_t *)src, 2);
}

long ct_ram_diff(const struct ct_ram *g)
{
	size_t i;

	if (!memcmp(g->arena, g->shadow, g->size))
		return -1;
	for (i = 0; i < g->size; i++)
		if (g->arena[i] != g->shadow[i])
			return i;
	return -1;
}

int ct_ram_set_map(struct ct_ram *g, int fd)
{
	return ct_co_set_map(fd, g->r, g->nr);
}

/* ---- checks made in a forked child ----------------------------------- */

static void rec_write(int fd, const struct ct_rec *r)
{
	/* Records are smaller than PIPE_BUF: one write() each is atomic. */
	if (write(fd, r, sizeof(*r)) != sizeof(*r))
		_exit(3);
}

void ct_rec_send(int fd, char op, long long expected, long long seen,
		 const char *fmt, ...)
{
	struct ct_rec r = { .op = op, .expected = expected, .seen = seen };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r.what, sizeof(r.what), fmt, ap);
	va_end(ap);
	rec_write(fd, &r);
}

void ct_rec_end(int fd)
{
	struct ct_rec r = { .op = 'E' };

	rec_write(fd, &r);
}
