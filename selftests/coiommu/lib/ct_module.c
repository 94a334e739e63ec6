// SPDX-License-Identifier: GPL-2.0
/*
 * Our module and the counters a test's leak checks read (ct.h, "our
 * module" and "leak checks"): load and unload coiommu_host, FOLL_PIN pins
 * from /proc/vmstat, VmLck from /proc/PID/status.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ct.h"

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

long ct_locked_vm_wait(long kb, int timeout_ms)
{
	long deadline = ct_now_ms() + timeout_ms, now;

	while ((now = ct_locked_vm_kb(getpid())) != kb &&
	       ct_now_ms() < deadline)
		usleep(10000);
	return now;
}
