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

#include "ct_fixture.h"

#define CT_VMM		"/bin/coiommu-vmm"
/* CT_VMM_KERNEL, CT_VMM_INITRD and ct_vmm_mount_kernel() are in ct.h. */

struct ct_vmm_run {
	char *out;		/* stdout and stderr of the VMM, NUL-terminated */
	size_t len;
	int status;		/* exit status, or -1 when it did not exit */
	long ms;		/* wall-clock time of the run */
};

/*
 * Run "coiommu-vmm -k CT_VMM_KERNEL -i CT_VMM_INITRD @args" and collect
 * its output, line by line: @line (if not NULL) sees each line as it
 * comes, with @arg (a line longer than 4095 bytes comes in pieces).
 * Returns 0 when it could be run.
 */
static inline int ct_vmm_run_lines(struct ct_vmm_run *r, const char *args,
				   void (*line)(const char *s, void *arg),
				   void *arg)
{
	char cmd[1024], buf[4096];
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
	r->out[0] = 0;
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(buf, sizeof(buf), p)) {
		size_t n = strlen(buf);

		if (r->len + n + 1 > cap) {
			char *q = realloc(r->out, cap * 2 + n);

			if (!q)
				break;
			r->out = q;
			cap = cap * 2 + n;
		}
		memcpy(r->out + r->len, buf, n + 1);
		r->len += n;
		if (line)
			line(buf, arg);
	}
	st = pclose(p);
	r->ms = ct_now_ms() - t0;
	if (st != -1 && WIFEXITED(st))
		r->status = WEXITSTATUS(st);
	return 0;
}

/* ct_vmm_run_lines() without a look at the lines. */
static inline int ct_vmm_run(struct ct_vmm_run *r, const char *args)
{
	return ct_vmm_run_lines(r, args, NULL, NULL);
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
 * The harness's limit for a test that runs coiommu-vmm: a backstop only,
 * above one nested guest under make check-debug's CT_VMM_TIMEOUT (280 s)
 * plus the test's own work. The rig's TEST_TIMEOUT ends a test first.
 *
 * A nested guest runs once: a hang (status 124) or a crash is a failure.
 * The hangs that tests used to retry were QEMU's, fixed by the rig's
 * patched QEMU (qemu/rig/, Documentation/testing.rst).
 */
#define CT_VMM_TEST_TIMEOUT	900

/*
 * The fixture of a test that runs coiommu-vmm: the checks of ct_fixture.h,
 * /dev/kvm, and the VM's first edu device on vfio-pci, self->bdf.
 */
static inline void ct_vmm_setup(struct __test_metadata *_metadata,
				struct ct_env *env, char bdf[32])
{
	char list[4][32];

	ct_env_setup(_metadata, env);
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));
	ASSERT_LE(1, ct_edu_list(list, 4));
	strcpy(bdf, list[0]);
	ASSERT_EQ(0, ct_edu_bind_vfio(bdf));
}

#define CT_VMM_FIXTURE(name)						\
	FIXTURE(name) {							\
		struct ct_env env;					\
		char bdf[32];						\
	};								\
									\
	FIXTURE_SETUP(name)						\
	{								\
		ct_vmm_setup(_metadata, &self->env, self->bdf);		\
	}								\
									\
	FIXTURE_TEARDOWN(name)						\
	{								\
		ct_env_teardown(_metadata, &self->env);			\
	}

#endif /* CT_VMM_H */
