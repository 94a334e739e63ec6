// SPDX-License-Identifier: GPL-2.0
/*
 * bench_p4: start-up, from attach to the first DMA that landed (P4).
 *
 * Guest RAM of 256 MiB, 512 MiB, 1 GiB, ... up to what the VM leaves
 * free (MemAvailable less 1 GiB), one anonymous arena laid out as a PC
 * does (below 3 GiB, the rest from 4 GiB: bench_ranges()), faulted
 * in beforehand (a running guest's RAM; the fault-in cost is not pinning
 * and is left out on both sides). The edu device is open through VFIO
 * (its type1 container and domain exist) before the clock starts, the
 * same for both. Timed, interleaved, several rounds:
 *  - static: one VFIO_IOMMU_MAP_DMA of all guest RAM (what a VMM does
 *    today at start-up), then the DMA;
 *  - ours: open /dev/coiommu, memory map, add the device, pin the one
 *    page the DMA needs (COIOMMU_PIN_RANGE: on demand), then the DMA.
 * The DMA: edu reads a pattern from the page at GPA 1 MiB into its buffer,
 * the page is cleared, edu writes the buffer back; the clock stops when
 * the page holds the pattern again (verified landing). Each DMA costs
 * edu's emulated time on both sides, so "mapped" (before the DMA) is
 * logged too. Untimed afterwards: unmap / close, and a check that every
 * pin came back.
 */
#include <sys/mman.h>

#include <linux/coiommu.h>

#include "ct.h"
#include "bench.h"

#define DMA_GPA		0x100000ULL
#define MAX_SIZES	8
#define MAX_ROUNDS	5

enum { OURS, STATIC, NVAR };
static const char *const var_name[NVAR] = { "ours", "static" };

struct sample {
	double mapped_ms, total_ms;
};

static int dma_roundtrip(struct ct_edu *e, uint8_t *page, const uint8_t *want)
{
	if (ct_edu_dma(e, DMA_GPA, 0, CT_EDU_DMA_MAX, false))
		return -1;
	memset(page, 0, CT_PAGE);
	if (ct_edu_dma(e, DMA_GPA, 0, CT_EDU_DMA_MAX, true))
		return -1;
	return memcmp(page, want, CT_EDU_DMA_MAX) ? -1 : 0;
}

static int run(int var, struct ct_edu *e, uint8_t *ram, uint64_t size,
	       struct sample *s, uint32_t seed)
{
	uint8_t want[CT_EDU_DMA_MAX], *page = ram + DMA_GPA;
	struct coiommu_region r[2] = { 0 };
	uint64_t t0, t1, t2, gpa[2], len[2];
	int co = -1, ret = -1, err = 0, nr, i, mapped = 0;

	nr = bench_ranges(size, gpa, len);
	for (i = 0; i < nr; i++)
		r[i] = (struct coiommu_region){ .gpa = gpa[i], .size = len[i],
			.vaddr = (uintptr_t)ram + (gpa[i] ? BENCH_LOW_END : 0) };
	ct_fill(want, sizeof(want), seed);
	memcpy(page, want, sizeof(want));
	t0 = bench_now_ns();
	if (var == STATIC) {
		/* One call per region of guest RAM, as a VMM does. */
		for (mapped = 0; mapped < nr && !err; mapped++)
			err = ct_vfio_map(e->container, (void *)r[mapped].vaddr,
					  r[mapped].gpa, r[mapped].size);
		if (err) {
			printf("p4: static MAP_DMA of %llu MiB: %s\n",
			       (unsigned long long)(size >> 20), strerror(-err));
			mapped--;
			goto out;
		}
	} else {
		co = coiommu_open();
		if (co < 0 || coiommu_set_memory(co, r, nr) || ct_co_add_edu(co, e) ||
		    coiommu_pin_range(co, DMA_GPA, CT_PAGE))
			goto out;
	}
	t1 = bench_now_ns();
	if (dma_roundtrip(e, page, want)) {
		printf("p4: %s: the DMA did not land\n", var_name[var]);
		goto out;
	}
	t2 = bench_now_ns();
	s->mapped_ms = (t1 - t0) / 1e6;
	s->total_ms = (t2 - t0) / 1e6;
	ret = 0;
out:
	for (i = 0; i < mapped; i++)
		if (ct_vfio_unmap(e->container, r[i].gpa, r[i].size))
			ret = -1;
	if (co >= 0)
		close(co);
	return ret;
}

int main(int argc, char **argv)
{
	struct sample s[MAX_SIZES][NVAR][MAX_ROUNDS];
	double med[MAX_SIZES][NVAR][2], v[MAX_ROUNDS];
	uint64_t sizes[MAX_SIZES], maxsz, sz;
	int nsizes = 0, rounds, z, k, i, var;
	struct ct_pins p0;
	char bdf[4][32];
	struct ct_edu e;
	struct bench b;
	FILE *csv, *f;
	uint8_t *ram;
	bool flat;

	bench_init(&b, argc, argv);
	rounds = b.quick ? 1 : 3;
	maxsz = ((uint64_t)bench_meminfo_kb("MemAvailable") << 10) - (1ULL << 30);
	if (b.quick && maxsz > (512ULL << 20))
		maxsz = 512ULL << 20;
	for (sz = 256ULL << 20; sz <= maxsz && nsizes < MAX_SIZES - 1; sz *= 2)
		sizes[nsizes++] = sz;
	/* And the largest whole GiB that fits, if beyond the last. */
	sz = maxsz & ~((1ULL << 30) - 1);
	if (nsizes && sz > sizes[nsizes - 1])
		sizes[nsizes++] = sz;
	if (!nsizes) {
		printf("p4: not even 256 MiB free\n");
		return 1;
	}

	if (ct_module_load() || ct_edu_list(bdf, 4) < 1) {
		printf("p4: no module or no edu device\n");
		return 1;
	}
	if (ct_edu_open_retry(&e, bdf[0], -1, 3000)) {
		printf("p4: cannot open edu %s through VFIO\n", bdf[0]);
		return 1;
	}
	ct_pins_read(&p0);
	if (bench_pin_cpu(0))
		printf("p4: could not pin to CPU 0\n");
	printf("p4: one thread, on CPU 0 (the kernel work runs in it)\n");
	printf("p4: %s; %d sizes up to %llu MiB, %d rounds, variants interleaved; absolute times are TCG, not hardware\n",
	       bdf[0], nsizes, (unsigned long long)(sizes[nsizes - 1] >> 20),
	       rounds);

	csv = bench_open(&b, "p4.csv");
	fprintf(csv, "ram_mib,variant,round,mapped_ms,first_dma_ms\n");
	for (z = 0; z < nsizes; z++) {
		uint64_t t0 = bench_now_ns();

		ram = mmap(NULL, sizes[z], PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (ram == MAP_FAILED) {
			printf("p4: no memory for %llu MiB\n",
			       (unsigned long long)(sizes[z] >> 20));
			return 1;
		}
		memset(ram, 0x3c, sizes[z]);
		printf("p4: %llu MiB of guest RAM faulted in in %.1f s (not timed)\n",
		       (unsigned long long)(sizes[z] >> 20),
		       (bench_now_ns() - t0) / 1e9);
		for (k = 0; k < rounds; k++)
			for (i = 0; i < NVAR; i++) {
				struct sample *x;

				var = (i + k + z) % NVAR;
				x = &s[z][var][k];
				if (run(var, &e, ram, sizes[z], x,
					(uint32_t)(z * 16 + k * 2 + var))) {
					printf("p4: %s at %llu MiB failed\n",
					       var_name[var],
					       (unsigned long long)(sizes[z] >> 20));
					return 1;
				}
				if (ct_pins_outstanding(&p0)) {
					printf("p4: %s left %ld pins behind\n",
					       var_name[var],
					       ct_pins_outstanding(&p0));
					return 1;
				}
				fprintf(csv, "%llu,%s,%d,%.3f,%.3f\n",
					(unsigned long long)(sizes[z] >> 20),
					var_name[var], k, x->mapped_ms,
					x->total_ms);
				printf("p4: %6llu MiB %-6s round %d: mapped after %9.2f ms, first DMA landed after %9.2f ms (TCG)\n",
				       (unsigned long long)(sizes[z] >> 20),
				       var_name[var], k, x->mapped_ms,
				       x->total_ms);
			}
		munmap(ram, sizes[z]);
	}
	fclose(csv);

	csv = bench_open(&b, "p4_median.csv");
	fprintf(csv, "ram_mib,ours_first_dma_ms,static_first_dma_ms,ours_mapped_ms,static_mapped_ms\n");
	for (z = 0; z < nsizes; z++) {
		for (var = 0; var < NVAR; var++) {
			for (k = 0; k < rounds; k++)
				v[k] = s[z][var][k].total_ms;
			med[z][var][0] = bench_median(v, rounds);
			for (k = 0; k < rounds; k++)
				v[k] = s[z][var][k].mapped_ms;
			med[z][var][1] = bench_median(v, rounds);
		}
		fprintf(csv, "%llu,%.3f,%.3f,%.3f,%.3f\n",
			(unsigned long long)(sizes[z] >> 20), med[z][OURS][0],
			med[z][STATIC][0], med[z][OURS][1], med[z][STATIC][1]);
	}
	fclose(csv);

	/* Flat: ours at the largest RAM within 1.5x of ours at the smallest. */
	z = nsizes - 1;
	flat = med[z][OURS][0] <= 1.5 * med[0][OURS][0];
	f = bench_open(&b, "p4.summary");
	bench_summary(f, "P4", med[z][OURS][0], med[z][STATIC][0],
		      med[z][STATIC][0] / med[z][OURS][0],
		      "flat<=1.5x", flat);
	bench_summary(f, "P4.flat", med[z][OURS][0] / med[0][OURS][0],
		      med[z][STATIC][0] / med[0][STATIC][0],
		      (med[z][STATIC][0] / med[0][STATIC][0]) /
		      (med[z][OURS][0] / med[0][OURS][0]), "<=1.5x", flat);
	bench_summary(f, "P4.mapped", med[z][OURS][1], med[z][STATIC][1],
		      med[z][STATIC][1] / med[z][OURS][1], "info", true);
	/* The same flatness without edu's fixed DMA time. */
	bench_summary(f, "P4.mapped_flat", med[z][OURS][1] / med[0][OURS][1],
		      med[z][STATIC][1] / med[0][STATIC][1],
		      (med[z][STATIC][1] / med[0][STATIC][1]) /
		      (med[z][OURS][1] / med[0][OURS][1]), "info", true);
	fclose(f);
	printf("p4: at %llu MiB (median of %d): first DMA after %.1f ms ours vs %.1f ms static; ours grew %.2fx from %llu MiB, static %.2fx (TCG, not hardware)\n",
	       (unsigned long long)(sizes[z] >> 20), rounds, med[z][OURS][0],
	       med[z][STATIC][0], med[z][OURS][0] / med[0][OURS][0],
	       (unsigned long long)(sizes[0] >> 20),
	       med[z][STATIC][0] / med[0][STATIC][0]);

	f = bench_open(&b, "p4.gp");
	fprintf(f,
		"set terminal pngcairo size 900,560\n"
		"set output 'p4.png'\n"
		"set datafile separator ','\n"
		"set title 'P4: attach to first verified DMA vs guest RAM (median of %d; TCG, not hardware)'\n"
		"set xlabel 'guest RAM (MiB)'\nset ylabel 'ms'\n"
		"set logscale xy 2\nset grid\nset key top left\n"
		"plot 'p4_median.csv' using 1:2 with linespoints lw 2 title 'ours: first DMA', \\\n"
		"     '' using 1:3 with linespoints lw 2 title 'static MAP\\_DMA of all RAM: first DMA', \\\n"
		"     '' using 1:4 with linespoints dt 2 title 'ours: mapped', \\\n"
		"     '' using 1:5 with linespoints dt 2 title 'static: mapped'\n",
		rounds);
	fclose(f);

	ct_edu_close(&e);
	if (ct_module_unload())
		printf("p4: rmmod %s failed\n", CT_MODULE);
	return 0;
}
