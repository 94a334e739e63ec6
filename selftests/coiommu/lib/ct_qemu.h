/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running QEMU 10 with the coIOMMU device (qemu/patches, make qemu) inside
 * the test VM, under KVM on the VM's nested SVM. tools/rig/vm.sh shares
 * the bundle that make qemu builds (a wrapper, the binary, its libraries
 * and firmware) read-only at tag coiommu_qemu; ct_qemu_mount() mounts it
 * at /qemu. The nested guest is the one of coiommu-vmm (ct_vmm.h): the
 * test VM's kernel over 9p and /vmm/guest.cpio, whose /init
 * (tools/vmm/guest-init) leaves through port 0xf4: with
 * "-device isa-debug-exit,iobase=0xf4,iosize=4" QEMU exits with
 * (guest status << 1) | 1.
 *
 * struct ct_qemu runs one QEMU in the background: its console (the guest's
 * ttyS0, QEMU's stdout) and its stderr go to files, its memory figures
 * (VmLck, VmRSS, VmHWM of /proc/PID/status) are sampled whenever the test
 * waits through this library, and a QMP client talks to its -qmp socket.
 */
#ifndef CT_QEMU_H
#define CT_QEMU_H

#include <stdbool.h>
#include <sys/types.h>

#define CT_QEMU_DIR	"/qemu"
#define CT_QEMU		CT_QEMU_DIR "/qemu-system-x86_64"

/* Mount the bundle (and the nested guest's kernel): 0, or -1. */
int ct_qemu_mount(void);
/*
 * After ct_qemu_mount(): copy the bundle and the guest's kernel (some 95
 * MB) to tmpfs and run them from there. 9p reads them anew at every start
 * (no page cache), seconds under TCG that vary with the load: the
 * benchmark does this, the tests do not need to.
 */
int ct_qemu_local(void);
/* The bundle's QEMU knows -device @name (e.g. "coiommu"). */
bool ct_qemu_has_device(const char *name);

/* Memory figures of a process in KiB (-1: not read). */
struct ct_qemu_mem {
	long vmlck_kb, vmrss_kb, vmhwm_kb;
};

int ct_qemu_mem_read(pid_t pid, struct ct_qemu_mem *m);

struct ct_qemu {
	pid_t pid;		/* 0 once reaped */
	int status;		/* exit status; -1 running or killed */
	long t0, ms;		/* start (ct_now_ms) and run time */
	char con[64];		/* console file (QEMU's stdout) */
	char err[64];		/* QEMU's stderr */
	char qmp[64];		/* QMP socket */
	int qmp_fd;		/* -1 until ct_qemu_qmp() connects */
	struct ct_qemu_mem last, max;	/* last sample, maximum of each */
	char *out, *errout;	/* console and stderr, read by ct_qemu_wait */
};

/* Prepare @q: file and socket names (call first). */
void ct_qemu_init(struct ct_qemu *q);

/*
 * The boot part of a command line for the nested guest: KVM, q35,
 * -m @mem, one vCPU, no default devices, console on stdio, the test VM's
 * kernel and /vmm/guest.cpio with "console=ttyS0 quiet panic=-1 @append",
 * isa-debug-exit at 0xf4 and the QMP socket of @q. Devices go after it.
 */
void ct_qemu_boot_args(const struct ct_qemu *q, char *buf, size_t size,
		       const char *mem, const char *append);

/*
 * Start "CT_QEMU @args" (a shell word list; @q prepared by ct_qemu_init)
 * in the background. Returns 0 when it was started; q->pid is QEMU's
 * pid (the wrapper execs the binary in the same process).
 */
int ct_qemu_start(struct ct_qemu *q, const char *args);
/*
 * ct_qemu_init, ct_qemu_boot_args (@mem, @append) and ct_qemu_start
 * with @devices (the -device options) after the boot part.
 */
int ct_qemu_start_guest(struct ct_qemu *q, const char *mem, const char *append,
			const char *devices);
/*
 * The -device options of a passthrough edu device at @bdf (id hostdev0):
 * behind a coiommu device co0 with @co_props (its ",name=value" options,
 * "" for none) when @co_props is not NULL, as plain vfio-pci (static
 * pinning) when it is; then @extra ("" for nothing), e.g. a balloon.
 */
void ct_qemu_edu_devices(char *buf, size_t size, const char *bdf,
			 const char *co_props, const char *extra);
/* Sample the memory figures once (a no-op after exit). */
void ct_qemu_sample(struct ct_qemu *q);
/* Reap QEMU if it exited (sampling before): true while it runs. */
bool ct_qemu_running(struct ct_qemu *q);
/* Sleep @ms, sampling every 20 ms; false when QEMU exited meanwhile. */
bool ct_qemu_sleep(struct ct_qemu *q, long ms);
/*
 * Wait up to @timeout_ms (scaled by CT_VMM_TIMEOUT as the nested guests of
 * coiommu-vmm are) for QEMU to exit, sampling; kill it at the deadline.
 * Reads the console and stderr into q->out and q->errout. Returns the
 * exit status, or -1 when it was killed.
 */
int ct_qemu_wait(struct ct_qemu *q, long timeout_ms);
/* The guest's status from the exit status (isa-debug-exit), or -1. */
int ct_qemu_guest_status(const struct ct_qemu *q);
/*
 * Wait up to @timeout_ms, sampling, for @text on the console; true when
 * it appeared (QEMU may still be running).
 */
bool ct_qemu_console_wait(struct ct_qemu *q, const char *text,
			  long timeout_ms);
/* The same for the @n-th time @text appears (a guest that rebooted). */
bool ct_qemu_console_wait_n(struct ct_qemu *q, const char *text, int n,
			    long timeout_ms);
/* Print console and stderr as TAP comments, and the figures. */
void ct_qemu_print(const struct ct_qemu *q);
/* Kill QEMU if it runs, close the socket, remove the files. */
void ct_qemu_free(struct ct_qemu *q);

/*
 * QMP: connect (the first time: greeting, qmp_capabilities), send @cmd
 * (a JSON object) and store the reply, the first line that is not an
 * event, in @reply. Returns 0 for a "return" reply, 1 for an "error"
 * reply, -1 when QEMU could not be reached.
 */
int ct_qemu_qmp(struct ct_qemu *q, const char *cmd, char *reply,
		size_t size);
/* HMP through QMP's human-monitor-command; @out gets the text. */
int ct_qemu_hmp(struct ct_qemu *q, const char *line, char *out, size_t size);

/* Scalars of a JSON object: the first "@key": value at or after @json. */
int ct_json_u64(const char *json, const char *key, unsigned long long *v);
int ct_json_bool(const char *json, const char *key, bool *v);

/* One element of query-coiommu's reply. */
struct ct_qemu_coiommu {
	char id[32];
	bool active;
	unsigned long long pinned, peak, pins, unpins, requests;
	unsigned long long served_in_vcpu, refused, devices;
};

/*
 * query-coiommu: the first device's figures into @c. 0, or -1 when the
 * command failed or a key is missing (the reply is printed then).
 */
int ct_qemu_query_coiommu(struct ct_qemu *q, struct ct_qemu_coiommu *c);

/* /sys/module/vfio_iommu_type1/parameters/dma_entry_limit, or -1. */
long ct_type1_dma_entry_limit(void);

/* ---- guest RAM reclaim (ct_qemu_ram.c, issue 20) ----------------------- */

/*
 * The resident part of QEMU's guest RAM: the sum of Rss over the
 * mappings of /proc/@pid/smaps at least 3/4 of @ram_kb large (QEMU maps
 * each RAMBlock once; with -m up to 2 GiB on q35 that is one mapping of
 * exactly @ram_kb). QEMU's own memory (code, libraries, heap) is not in
 * it. KiB, or -1 when no such mapping was found.
 */
long ct_qemu_ram_rss_kb(pid_t pid, long ram_kb);
/* query-coiommu's discarded-pages and discard-kept-pages: 0, or -1. */
int ct_qemu_discards(struct ct_qemu *q, unsigned long long *discarded,
		     unsigned long long *kept);
/* The console so far (QEMU may still run), malloc'd; NULL, or "". */
char *ct_qemu_console(const struct ct_qemu *q);
/*
 * MemFree (kB) of the last "e2e: mem:" line the guest printed at or
 * after @from (tools/vmm/guest-e2e), or -1.
 */
long ct_guest_memfree_kb(const char *from);
/* query-balloon's "actual" (bytes), or -1. */
long long ct_qemu_balloon_actual(struct ct_qemu *q);

#endif /* CT_QEMU_H */
