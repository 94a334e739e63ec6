/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running coiommu-vmm (tools/vmm/) from a test: it boots the test VM's own
 * kernel (/vmm/vmlinux) with a busybox initramfs (/vmm/guest.cpio) in a
 * nested KVM guest. The nested guest prints "vmm-guest: ..." lines on its
 * console (the VMM's stdout) and leaves through the VMM's exit port.
 */
#ifndef CT_VMM_H
#define CT_VMM_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct.h"

#define CT_VMM		"/bin/coiommu-vmm"
#define CT_VMM_KERNEL	"/kernel/vmlinux"
#define CT_VMM_INITRD	"/vmm/guest.cpio"

/*
 * The test VM's kernel cache is shared read-only over 9p (tools/rig/vm.sh)
 * rather than packed into every test VM's initramfs: mount it once.
 */
static inline int ct_vmm_mount_kernel(void)
{
	if (!access(CT_VMM_KERNEL, R_OK))
		return 0;
	if (system("modprobe virtio_pci && modprobe 9pnet_virtio && "
		   "modprobe 9p && mount -t 9p -o "
		   "trans=virtio,version=9p2000.L,ro coiommu_kernel /kernel"))
		return -1;
	return access(CT_VMM_KERNEL, R_OK) ? -1 : 0;
}

struct ct_vmm_run {
	char *out;		/* stdout and stderr of the VMM, NUL-terminated */
	size_t len;
	int status;		/* exit status, or -1 when it did not exit */
	long ms;		/* wall-clock time of the run */
};

/*
 * Run "coiommu-vmm -k CT_VMM_KERNEL -i CT_VMM_INITRD @args" and collect
 * its output. Returns 0 when it could be run.
 */
static inline int ct_vmm_run(struct ct_vmm_run *r, const char *args)
{
	char cmd[1024];
	size_t cap = 1 << 16;
	long t0 = ct_now_ms();
	const char *tmo;
	FILE *p;
	int st;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (ct_vmm_mount_kernel())
		return -1;
	/*
	 * CT_VMM_TIMEOUT (seconds) overrides the test's -t: the last -t
	 * wins. make check-debug sets it: under a KASAN test VM every exit of
	 * the nested guest is several times slower and a boot takes ~70 s.
	 */
	tmo = getenv("CT_VMM_TIMEOUT");
	if (tmo && (atoi(tmo) <= 0 || strlen(tmo) > 8))
		tmo = NULL;
	snprintf(cmd, sizeof(cmd), CT_VMM " -k " CT_VMM_KERNEL " -i "
		 CT_VMM_INITRD " %s%s%s 2>&1", args, tmo ? " -t " : "",
		 tmo ? tmo : "");
	r->out = malloc(cap);
	if (!r->out)
		return -1;
	p = popen(cmd, "r");
	if (!p)
		return -1;
	for (;;) {
		size_t n;

		if (cap - r->len < 4096) {
			char *q = realloc(r->out, cap * 2);

			if (!q)
				break;
			r->out = q;
			cap *= 2;
		}
		n = fread(r->out + r->len, 1, cap - r->len - 1, p);
		if (!n)
			break;
		r->len += n;
	}
	r->out[r->len] = 0;
	st = pclose(p);
	r->ms = ct_now_ms() - t0;
	if (st != -1 && WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	return 0;
}

/* Print the output, one "# " line per line (the TAP comment form). */
static inline void ct_vmm_print(const struct ct_vmm_run *r)
{
	const char *s = r->out;

	while (s && *s) {
		const char *e = strchr(s, '\n');
		int n = e ? (int)(e - s) : (int)strlen(s);

		fprintf(stderr, "# | %.*s\n", n, s);
		s += n + (e ? 1 : 0);
	}
	fprintf(stderr, "# coiommu-vmm exited with status %d after %ld ms\n",
		r->status, r->ms);
}

static inline void ct_vmm_free(struct ct_vmm_run *r)
{
	free(r->out);
	r->out = NULL;
}

/*
 * In the test VM (QEMU 7.2, TCG, nested SVM) a nested Linux guest hangs
 * now and then: an interrupt L1 KVM injects is, rarely, delivered a second
 * time in the middle of its handler with interrupts off, and the guest
 * deadlocks on a lock its first instance holds (see tools/vmm/README.md).
 * The VMM then ends with status 124 (its -t limit). Retry such a run up to
 * @attempts times; every retry is logged. Returns 0 when it could be run.
 * The rate of such hangs grows with the load of the machine (a slower
 * nested guest takes more timer interrupts per boot): tests try
 * CT_VMM_TRIES times, which the rig's per-test limit (TEST_TIMEOUT,
 * 600 s) leaves room for.
 */
#define CT_VMM_TRIES	5
/*
 * The harness's limit for a test that runs coiommu-vmm: a backstop only,
 * above what CT_VMM_TRIES hung runs under make check-debug's
 * CT_VMM_TIMEOUT take. The rig's TEST_TIMEOUT ends a test first.
 */
#define CT_VMM_TEST_TIMEOUT	3000

/*
 * The same L0 bug, seen as a crash instead of a hang: the interrupt is
 * delivered again on the very first instruction of its own entry code,
 * before SWAPGS, so the kernel takes the user's GS for its own and
 * panics (seen once under make check-debug). The guest's oops names the
 * interrupted instruction as an interrupt entry point at offset 0. A
 * guest that crashed for any other reason is not retried.
 */
static inline bool ct_vmm_l0_crash(const struct ct_vmm_run *r)
{
	static const char *const entry[] = {
		"RIP: 0010:asm_sysvec_", "RIP: 0010:asm_common_interrupt+0x0/",
	};
	unsigned int i;

	if (r->status != 125)
		return false;
	for (i = 0; i < sizeof(entry) / sizeof(entry[0]); i++) {
		const char *s = r->out;

		while ((s = strstr(s, entry[i]))) {
			const char *eol = strchr(s, '\n');
			const char *off = strstr(s, "+0x0/");

			if (off && (!eol || off < eol))
				return true;
			s++;
		}
	}
	return false;
}

static inline int ct_vmm_run_retry(struct ct_vmm_run *r, const char *args,
				   int attempts)
{
	int i, ret = -1;

	for (i = 0; i < attempts; i++) {
		if (i) {
			fprintf(stderr, "# nested guest %s (status %d, known L0 bug), retry %d of %d; output of that run:\n",
				r->status == 124 ? "hung" :
				"crashed in interrupt entry",
				r->status, i, attempts - 1);
			ct_vmm_print(r);
			ct_vmm_free(r);
		}
		ret = ct_vmm_run(r, args);
		if (ret || (r->status != 124 && !ct_vmm_l0_crash(r)))
			break;
	}
	return ret;
}

#endif /* CT_VMM_H */
