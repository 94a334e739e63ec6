// SPDX-License-Identifier: GPL-2.0
/*
 * bench_p7: start-up with QEMU (P7). QEMU 10 with the coIOMMU device (the
 * make qemu bundle, shared into the VM at /qemu) boots the nested Linux
 * guest of the tests under KVM with edu passed through, for guests of
 * 1, 2 and 4 GiB (as far as the VM's MemAvailable less 1 GiB allows),
 * each size with both:
 *  - coiommu: -device coiommu + vfio-pci,coiommu=: the guest's coIOMMU
 *    driver asks for the pages its DMA maps;
 *  - static: plain vfio-pci: VFIO maps (pins) all guest RAM at realize,
 *    and the guest has no coIOMMU driver.
 * Timed on the host's clock from QEMU's start to the guest's first
 * completed DMA test ("e2e: run 1: pass": edu_dmatest with one single
 * page, two sg entries and a coherent buffer, every byte verified), with
 * QEMU's VmLck at that moment; the time to the guest's user space
 * ("vmm-guest: hello") is logged too, which the static variant's pinning
 * delays as well, and the guest kernel's start (the hello line's uptime
 * taken off): before it, QEMU set up and VFIO pinned. Medians of 3
 * rounds (1 for BENCH_QUICK), the variants interleaved, after an untimed
 * static run at the largest size (see main()). QEMU and the guest's
 * kernel run from copies in tmpfs (ct_qemu_local()).
 *
 * The guest's kernel uses its first 256 MiB only (mem=256M): edu_dmatest
 * sets edu's 28-bit DMA mask, and its buffers must lie below 256 MiB
 * (above, dma_map_single() fails with or without the coIOMMU: swiotlb's
 * bounce buffers lie higher too). QEMU's RAM is the full size: what VFIO
 * pins at realize in the static variant, and what the coIOMMU could pin.
 */
#include <linux/coiommu.h>

#include "ct.h"
#include "ct_qemu.h"
#include "bench.h"

#define MAX_SIZES	3
#define MAX_ROUNDS	3
#define GUEST_MS	600000

enum { OURS, STATIC, NVAR };
static const char *const var_name[NVAR] = { "coiommu", "static" };

struct sample {
	double user_ms, dma_ms, kernel_ms;
	long vmlck_kb;
	bool ok;
};

static void run(int var, const char *bdf, int mib, struct sample *s)
{
	char mem[32], dev[256], append[128];
	struct ct_qemu q;
	long t_user = -1, t_dma = -1;
	const char *hello, *up;
	double up_s;

	memset(s, 0, sizeof(*s));
	snprintf(mem, sizeof(mem), "%d", mib);
	if (var == OURS) {
		ct_qemu_edu_devices(dev, sizeof(dev), bdf, "", "");
		snprintf(append, sizeof(append),
			 "mem=256M vmm.run=/bin/guest-e2e e2e.pages=1 e2e.hold=1");
	} else {
		ct_qemu_edu_devices(dev, sizeof(dev), bdf, NULL, "");
		snprintf(append, sizeof(append),
			 "mem=256M vmm.run=/bin/guest-e2e e2e.pages=1 e2e.nocoiommu e2e.hold=1");
	}
	if (ct_qemu_start_guest(&q, mem, append, dev)) {
		printf("p7: cannot start QEMU\n");
		return;
	}
	if (ct_qemu_console_wait(&q, "vmm-guest: hello", GUEST_MS))
		t_user = ct_now_ms() - q.t0;
	if (ct_qemu_console_wait(&q, "e2e: run 1: pass", GUEST_MS)) {
		t_dma = ct_now_ms() - q.t0;
		ct_qemu_sample(&q);
		s->vmlck_kb = q.last.vmlck_kb;
	}
	ct_qemu_wait(&q, GUEST_MS);
	s->ok = t_dma > 0 && ct_qemu_guest_status(&q) == 0;
	s->user_ms = t_user;
	s->dma_ms = t_dma;
	/*
	 * The guest's uptime when its user space said hello: what came
	 * before the guest's kernel ran (QEMU's set-up, VFIO's pinning, the
	 * firmware) is the rest of user_ms.
	 */
	hello = q.out ? strstr(q.out, "vmm-guest: hello") : NULL;
	up = hello ? strstr(hello, ", up ") : NULL;
	if (up && sscanf(up, ", up %lf s", &up_s) == 1)
		s->kernel_ms = t_user - up_s * 1000;
	else
		s->kernel_ms = -1;
	printf("p7: %s %d MiB: guest kernel started after %.0f ms, user space after %ld ms, first DMA test passed after %ld ms, VmLck %ld kB then (max %ld kB), max VmRSS %ld kB, QEMU status %d\n",
	       var_name[var], mib, s->kernel_ms, t_user, t_dma, s->vmlck_kb,
	       q.max.vmlck_kb, q.max.vmrss_kb, q.status);
	if (!s->ok)
		ct_qemu_print(&q);
	ct_qemu_free(&q);
}

int main(int argc, char **argv)
{
	static const int all_mib[MAX_SIZES] = { 1024, 2048, 4096 };
	struct sample s[MAX_SIZES][NVAR][MAX_ROUNDS], med[MAX_SIZES][NVAR];
	int mib[MAX_SIZES], nsizes = 0, rounds, z, var, k, i;
	double v[MAX_ROUNDS];
	char bdfs[4][32];
	struct bench b;
	long avail_mib;
	FILE *csv, *f;
	bool ok = true, flat, small;

	bench_init(&b, argc, argv);
	/* From tmpfs: 9p reads would add seconds of noise to every start. */
	if (ct_qemu_mount() || ct_qemu_local() ||
	    !ct_qemu_has_device("coiommu")) {
		printf("p7: no QEMU with the coiommu device at " CT_QEMU_DIR " (make qemu)\n");
		return 1;
	}
	if (ct_module_load() || ct_edu_list(bdfs, 4) < 1 ||
	    ct_edu_bind_vfio(bdfs[0])) {
		printf("p7: module or edu not ready\n");
		return 1;
	}
	/* Static pins all of it: leave the VM 1 GiB. */
	avail_mib = bench_meminfo_kb("MemAvailable") / 1024 - 1024;
	for (z = 0; z < MAX_SIZES; z++)
		if (all_mib[z] <= avail_mib && (!b.quick || !z))
			mib[nsizes++] = all_mib[z];
	if (!nsizes) {
		printf("p7: %ld MiB available: not enough for a 1 GiB guest\n",
		       avail_mib + 1024);
		return 1;
	}
	rounds = b.quick ? 1 : MAX_ROUNDS;
	printf("p7: guests of %d to %d MiB (VM MemAvailable %ld MiB), edu %s, %d rounds, variants interleaved; %s\n",
	       mib[0], mib[nsizes - 1], avail_mib + 1024, bdfs[0], rounds,
	       "QEMU under KVM on nested SVM under TCG (not hardware)");

	/*
	 * Untimed first: a static run at the largest size touches that much
	 * of the VM's RAM, whose first touch costs the emulator (L0) a page
	 * fault of its own per page, an artifact of emulation that would
	 * otherwise fall on the first timed run; and it reads the guest's
	 * kernel (65 MB over 9p) into the page cache.
	 */
	run(STATIC, bdfs[0], mib[nsizes - 1], &s[0][0][0]);
	printf("p7: that was the untimed warm-up\n");

	csv = bench_open(&b, "p7.csv");
	fprintf(csv, "ram_mib,variant,round,kernel_ms,user_ms,first_dma_ms,vmlck_kb\n");
	for (k = 0; k < rounds; k++)
		for (z = 0; z < nsizes; z++)
			for (var = 0; var < NVAR; var++) {
				struct sample *x = &s[z][var][k];

				run(var, bdfs[0], mib[z], x);
				ok &= x->ok;
				fprintf(csv, "%d,%s,%d,%.0f,%.0f,%.0f,%ld\n",
					mib[z], var_name[var], k, x->kernel_ms,
					x->user_ms, x->dma_ms, x->vmlck_kb);
			}
	fclose(csv);

	/* Medians; VmLck: the largest of the rounds. */
	csv = bench_open(&b, "p7_median.csv");
	fprintf(csv, "ram_mib,coiommu_dma_ms,static_dma_ms,coiommu_kernel_ms,static_kernel_ms,coiommu_vmlck_kb,static_vmlck_kb\n");
	for (z = 0; z < nsizes; z++) {
		for (var = 0; var < NVAR; var++) {
			for (k = 0; k < rounds; k++)
				v[k] = s[z][var][k].dma_ms;
			med[z][var].dma_ms = bench_median(v, rounds);
			for (k = 0; k < rounds; k++)
				v[k] = s[z][var][k].kernel_ms;
			med[z][var].kernel_ms = bench_median(v, rounds);
			med[z][var].vmlck_kb = 0;
			for (k = 0; k < rounds; k++)
				if (s[z][var][k].vmlck_kb > med[z][var].vmlck_kb)
					med[z][var].vmlck_kb = s[z][var][k].vmlck_kb;
		}
		fprintf(csv, "%d,%.0f,%.0f,%.0f,%.0f,%ld,%ld\n", mib[z],
			med[z][OURS].dma_ms, med[z][STATIC].dma_ms,
			med[z][OURS].kernel_ms, med[z][STATIC].kernel_ms,
			med[z][OURS].vmlck_kb, med[z][STATIC].vmlck_kb);
	}
	fclose(csv);

	z = nsizes - 1;
	/* Flat: coiommu at the largest guest within 1.5x of the smallest. */
	flat = ok && med[z][OURS].dma_ms <= 1.5 * med[0][OURS].dma_ms;
	/* VmLck at most 1 % of guest RAM, at every size. */
	small = ok;
	for (i = 0; i < nsizes; i++)
		small &= med[i][OURS].vmlck_kb <= mib[i] * 1024L / 100;
	f = bench_open(&b, "p7.summary");
	bench_summary(f, "P7 (ms to first DMA)", med[z][OURS].dma_ms,
		      med[z][STATIC].dma_ms,
		      med[z][STATIC].dma_ms / med[z][OURS].dma_ms,
		      "flat<=1.5x", flat);
	bench_summary(f, "P7.flat", med[z][OURS].dma_ms / med[0][OURS].dma_ms,
		      med[z][STATIC].dma_ms / med[0][STATIC].dma_ms,
		      (med[z][STATIC].dma_ms / med[0][STATIC].dma_ms) /
		      (med[z][OURS].dma_ms / med[0][OURS].dma_ms), "<=1.5x",
		      flat);
	bench_summary(f, "P7.kernel (ms)", med[z][OURS].kernel_ms,
		      med[z][STATIC].kernel_ms,
		      med[z][STATIC].kernel_ms / med[z][OURS].kernel_ms, "info",
		      true);
	bench_summary(f, "P7.vmlck (% RAM)",
		      100.0 * med[z][OURS].vmlck_kb / (mib[z] * 1024.0),
		      100.0 * med[z][STATIC].vmlck_kb / (mib[z] * 1024.0),
		      (double)med[z][STATIC].vmlck_kb /
		      (med[z][OURS].vmlck_kb > 0 ? med[z][OURS].vmlck_kb : 1),
		      "<=1 %", small);
	fclose(f);
	printf("p7: at %d MiB (median of %d): first DMA after %.0f ms coiommu vs %.0f ms static (guest kernel started after %.0f vs %.0f ms), VmLck %ld kB vs %ld kB; coiommu grew %.2fx from %d MiB, static %.2fx\n",
	       mib[z], rounds, med[z][OURS].dma_ms, med[z][STATIC].dma_ms,
	       med[z][OURS].kernel_ms, med[z][STATIC].kernel_ms,
	       med[z][OURS].vmlck_kb, med[z][STATIC].vmlck_kb,
	       med[z][OURS].dma_ms / med[0][OURS].dma_ms, mib[0],
	       med[z][STATIC].dma_ms / med[0][STATIC].dma_ms);

	f = bench_open(&b, "p7.gp");
	fprintf(f,
		"set terminal pngcairo size 900,560\n"
		"set output 'p7.png'\n"
		"set datafile separator ','\n"
		"set title 'P7: QEMU start to the guest''s first DMA vs guest RAM (median of %d; nested KVM under TCG)'\n"
		"set xlabel 'guest RAM (MiB)'\nset ylabel 'ms'\n"
		"set logscale x 2\nset grid\nset key top left\n"
		"plot 'p7_median.csv' using 1:2 with linespoints lw 2 title 'coiommu: first DMA', \\\n"
		"     '' using 1:3 with linespoints lw 2 title 'static vfio-pci: first DMA', \\\n"
		"     '' using 1:4 with linespoints dt 2 title 'coiommu: guest kernel starts', \\\n"
		"     '' using 1:5 with linespoints dt 2 title 'static: guest kernel starts'\n",
		rounds);
	fclose(f);

	if (ct_module_unload())
		printf("p7: rmmod %s failed\n", CT_MODULE);
	return ok ? 0 : 1;
}
