/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the benchmark programs (tools/bench/bench_*.c), which
 * run inside the test VM as `bench_x -o OUTDIR` (Documentation/
 * benchmarks.rst). A program writes into OUTDIR its data CSVs p<N>*.csv
 * (header line first), a gnuplot script p<N>.gp that draws p<N>*.png
 * when run with cwd = OUTDIR, and p<N>.summary, rows of
 * metric,ours,baseline,ratio,goal,met. Notes go to stdout.
 */
#ifndef BENCH_H
#define BENCH_H

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct bench {
	const char *outdir;
	bool quick;		/* BENCH_QUICK=1: the short smoke version */
};

/* Parse -o OUTDIR and BENCH_QUICK; exits with a usage message. */
static inline void bench_init(struct bench *b, int argc, char **argv)
{
	const char *q = getenv("BENCH_QUICK");
	int c;

	b->outdir = ".";
	b->quick = q && *q && strcmp(q, "0");
	while ((c = getopt(argc, argv, "o:")) != -1) {
		if (c != 'o') {
			fprintf(stderr, "usage: %s [-o OUTDIR]\n", argv[0]);
			exit(2);
		}
		b->outdir = optarg;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* fopen() of OUTDIR/@name; exits on failure. */
static inline FILE *bench_open(const struct bench *b, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", b->outdir, name);
	f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	return f;
}

/*
 * One summary row. @ratio is ours/baseline or whatever the goal reads
 * (the caller says which in its notes); @goal is text such as ">=5x".
 */
static inline void bench_summary(FILE *f, const char *metric, double ours,
				 double baseline, double ratio,
				 const char *goal, bool met)
{
	fprintf(f, "%s,%.4g,%.4g,%.4g,%s,%s\n", metric, ours, baseline, ratio,
		goal, met ? "yes" : "no");
}

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* CPU time of the calling thread, ns. */
static inline uint64_t bench_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Pin the calling thread to @cpu; 0 or -errno. */
static inline int bench_pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/* A /proc/meminfo field in KiB (e.g. "Slab", "PageTables"), or -1. */
static inline long bench_meminfo_kb(const char *key)
{
	char line[128];
	size_t n = strlen(key);
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			sscanf(line + n + 1, "%ld", &kb);
	fclose(f);
	return kb;
}

/* A /proc/vmstat counter, or -1. */
static inline long bench_vmstat(const char *key)
{
	char name[64];
	long v, r = -1;
	FILE *f = fopen("/proc/vmstat", "re");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &v) == 2)
		if (!strcmp(name, key))
			r = v;
	fclose(f);
	return r;
}

/*
 * Guest RAM as a PC lays it out: below 3 GiB, then from 4 GiB up (the
 * hole holds MMIO, and the IOMMU's interrupt range, which type1 refuses to
 * map). Offset @off of a contiguous VMM arena is at this GPA.
 */
#define BENCH_LOW_END	(3ULL << 30)
#define BENCH_HIGH_GPA	(4ULL << 30)

static inline uint64_t bench_gpa_of(uint64_t off)
{
	return off < BENCH_LOW_END ? off : off - BENCH_LOW_END + BENCH_HIGH_GPA;
}

/*
 * The (at most two) GPA ranges of the first @size bytes of the arena:
 * fills @gpa[] and @len[], returns how many.
 */
static inline int bench_ranges(uint64_t size, uint64_t gpa[2], uint64_t len[2])
{
	gpa[0] = 0;
	len[0] = size < BENCH_LOW_END ? size : BENCH_LOW_END;
	if (size <= BENCH_LOW_END)
		return 1;
	gpa[1] = BENCH_HIGH_GPA;
	len[1] = size - BENCH_LOW_END;
	return 2;
}

static inline int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorts @v (a few rounds: insertion sort) in place; the median of @n. */
static inline double bench_median(double *v, int n)
{
	int i, j;
	double t;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Sorts @v in place; the @q quantile (0..1, nearest rank). */
static inline uint64_t bench_quantile(uint64_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	i = (size_t)(q * n + 0.999999);
	if (i)
		i--;
	return v[i < n ? i : n - 1];
}

/* Run a shell command, quietly; its exit status. */
static inline int bench_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

#endif /* BENCH_H */
