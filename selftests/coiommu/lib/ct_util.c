// SPDX-License-Identifier: GPL-2.0
/*
 * Small helpers of every test (ct.h, "misc" and "checks made in a forked
 * child"): the clock, sysfs/procfs files, the DMA payload pattern, PCI
 * addresses, capabilities, and the records a forked child sends to the
 * parent's harness.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#include "ct.h"

long ct_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int ct_vmm_mount_kernel(void)
{
	if (!access(CT_VMM_KERNEL, R_OK))
		return 0;
	if (system("modprobe virtio_pci && modprobe 9pnet_virtio && "
		   "modprobe 9p && mount -t 9p -o "
		   "trans=virtio,version=9p2000.L,ro coiommu_kernel /kernel"))
		return -1;
	return access(CT_VMM_KERNEL, R_OK) ? -1 : 0;
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

int ct_read_file(const char *path, char *buf, size_t len)
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

long long ct_file_value(const char *path, const char *key, char sep)
{
	size_t klen = strlen(key);
	long long val = -1;
	char line[256];
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == sep) {
			val = strtoll(line + klen + 1, NULL, 0);
			break;
		}
	fclose(f);
	return val;
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

int ct_bdf_parse(const char *bdf)
{
	unsigned int dom, bus, dev, fn;

	if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4 ||
	    bus > 0xff || dev > 0x1f || fn > 7)
		return -1;
	return bus << 8 | dev << 3 | fn;
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
