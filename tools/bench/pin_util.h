/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by the pin benchmarks (bench_pin.c: P1 P2,
 * bench_footprint.c: P5): output folder, TSC, statistics, CPU pinning.
 * Header only, so that every bench_*.c stays one program.
 */
#ifndef PIN_UTIL_H
#define PIN_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static const char *pu_outdir = ".";
static int pu_quick;

static inline void pu_args(int argc, char **argv)
{
	const char *q = getenv("BENCH_QUICK");
	int c;

	while ((c = getopt(argc, argv, "o:q")) != -1) {
		switch (c) {
		case 'o':
			pu_outdir = optarg;
			break;
		case 'q':
			pu_quick = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-o OUTDIR] [-q]\n", argv[0]);
			exit(2);
		}
	}
	if (q && *q && strcmp(q, "0"))
		pu_quick = 1;
	mkdir(pu_outdir, 0755);
}

static inline FILE *pu_open(const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", pu_outdir, name);
	f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "# cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

static inline uint64_t pu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline uint64_t pu_rdtsc(void)
{
	uint32_t lo, hi;

	asm volatile("lfence; rdtsc" : "=a" (lo), "=d" (hi) :: "memory");
	return (uint64_t)hi << 32 | lo;
}

/*
 * TSC ticks per ns, measured against CLOCK_MONOTONIC over @ms. A KVM guest
 * reads the same TSC plus an offset (no TSC scaling is set up), so its
 * tick differences convert with this rate too.
 */
static inline double pu_tsc_per_ns(unsigned int ms)
{
	uint64_t n0 = pu_now_ns(), t0 = pu_rdtsc(), n1, t1;

	usleep(ms * 1000);
	n1 = pu_now_ns();
	t1 = pu_rdtsc();
	return (double)(t1 - t0) / (double)(n1 - n0);
}

static int pu_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v in place; the value at quantile @q (0..1), nearest rank. */
static inline uint64_t pu_quantile(uint64_t *v, size_t n, double q)
{
	size_t k;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), pu_cmp_u64);
	k = (size_t)(q * n + 0.5);
	if (k > 0)
		k--;
	if (k >= n)
		k = n - 1;
	return v[k];
}

/* Pin the calling thread to @cpu (if the machine has it); returns it or -1. */
static inline int pu_pin_cpu(int cpu)
{
	cpu_set_t set;

	if (cpu >= sysconf(_SC_NPROCESSORS_ONLN))
		return -1;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		return -1;
	return cpu;
}

static inline int pu_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* Load /lib/modules/$(uname -r)/extra/@name.ko unless loaded: 1 loaded now, 0 was, -errno. */
static inline int pu_load_module(const char *name)
{
	struct utsname u;
	char path[512];
	int fd, ret;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	if (!access(path, F_OK))
		return 0;
	uname(&u);
	snprintf(path, sizeof(path), "/lib/modules/%s/extra/%s.ko", u.release,
		 name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0);
	ret = ret ? -errno : 1;
	close(fd);
	return ret == -EEXIST ? 0 : ret;
}

static inline void pu_unload_module(const char *name)
{
	syscall(SYS_delete_module, name, O_NONBLOCK);
}

#define PU_TCG_NOTE "absolute times: TCG, not hardware; ratios and shapes are the result"

#endif /* PIN_UTIL_H */
