// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * coiommu-vmm: a small KVM-based VMM, the reference integration of
 * /dev/coiommu. It boots a Linux vmlinux through its PVH entry, with an
 * initramfs, on one or more vCPUs, with a serial console on stdout, a PCI
 * bus (conf1) holding VFIO passthrough devices and the coIOMMU device, and
 * it lets coiommu_host pin guest memory on demand. See README.md.
 *
 *	coiommu-vmm -k vmlinux -i initrd.cpio [-m MiB] [-c CPUS]
 *		    [-d BDF]... [-p coiommu|static] [-a ARGS] [-s SECS]
 *		    [-t SECS] [-v]
 *
 * Exit status: the byte the guest wrote to port 0xf4 (isa-debug-exit
 * style), 124 when -t expired, 125 when the guest reset (triple fault,
 * reboot) without writing a status, 126 when the VMM failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "libcoiommu.h"
#include "vmm.h"

#define DEFAULT_KERNEL	"/vmm/vmlinux"
#define DEFAULT_INITRD	"/vmm/guest.cpio"
#define BASE_CMDLINE \
	"console=ttyS0 reboot=t panic=-1 acpi=off pci=conf1 no_timer_check " \
	"io_delay=none tsc=reliable nokaslr"

static double start_time;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void vmm_die(const char *fmt, ...)
{
	va_list ap;

	serial_flush();
	fprintf(stderr, "coiommu-vmm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(VMM_EXIT_ERROR);
}

void vmm_log(struct vmm *vmm, const char *fmt, ...)
{
	va_list ap;

	if (!vmm->verbose)
		return;
	fprintf(stderr, "coiommu-vmm: [%.3f] ", now() - start_time);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void vmm_exit(struct vmm *vmm, int status)
{
	pthread_mutex_lock(&vmm->done_lock);
	if (!vmm->done) {
		vmm->done = true;
		vmm->exit_status = status;
		pthread_cond_broadcast(&vmm->done_cond);
	}
	pthread_mutex_unlock(&vmm->done_lock);
}

int vmm_set_slot(struct vmm *vmm, int slot, uint64_t gpa, uint64_t size,
		 void *hva, bool readonly)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vmm->vm, KVM_SET_USER_MEMORY_REGION, &r))
		return -errno;
	return 0;
}

void vmm_irq_line(struct vmm *vmm, int irq, int level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (ioctl(vmm->vm, KVM_IRQ_LINE, &l))
		vmm_die("KVM_IRQ_LINE: %s", strerror(errno));
}

/* ---- the few ISA ports besides the UART ------------------------------ */

static uint8_t cmos_index;

static uint8_t bcd(int v)
{
	return (v / 10) << 4 | (v % 10);
}

/* MC146818 RTC: the time of the host, BCD, 24 hours, never updating. */
static uint8_t cmos_read(void)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	switch (cmos_index & 0x7f) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x0a: return 0x26;		/* UIP clear, 32.768 kHz */
	case 0x0b: return 0x02;		/* 24 hours, BCD */
	case 0x0d: return 0x80;		/* valid RAM and time */
	case 0x32: return bcd(tm.tm_year / 100 + 19);
	default: return 0;
	}
}

static void handle_pio(struct vcpu *v, uint16_t port, uint8_t *data,
		       unsigned int size, bool write)
{
	struct vmm *vmm = v->vmm;

	if (port == EXIT_PORT && write) {
		serial_flush();
		vmm_log(vmm, "guest wrote status %u to port 0x%x", *data,
			EXIT_PORT);
		vmm_exit(vmm, *data);
		return;
	}
	if ((port == 0xcf9 && write && size == 1 && (*data & 0x04)) ||
	    (port == 0x64 && write && *data == 0xfe)) {
		vmm_log(vmm, "guest reset through port 0x%x", port);
		vmm_exit(vmm, VMM_EXIT_RESET);
		return;
	}
	if (size == 1 && serial_pio(vmm, port, data, write))
		return;
	if (pci_pio(vmm, port, data, size, write))
		return;
	if (port == 0x70 && write) {
		cmos_index = *data;
		return;
	}
	if (port == 0x71) {
		if (!write)
			*data = cmos_read();
		return;
	}
	if (!write)
		memset(data, 0xff, size);
}

/* Guest virtual to guest physical, 4-level paging; ~0 when unmapped. */
static uint64_t gva_to_gpa(struct vmm *vmm, uint64_t cr3, uint64_t gva)
{
	uint64_t table = cr3 & 0x000ffffffffff000ULL;
	int level;

	for (level = 3; level >= 0; level--) {
		uint64_t idx = (gva >> (12 + 9 * level)) & 511, e;

		if (table + 8 * idx + 8 > vmm->ram_size)
			return ~0ULL;
		memcpy(&e, vmm->ram + table + 8 * idx, 8);
		if (!(e & 1))
			return ~0ULL;
		if (level && (e & 0x80)) {	/* 1 GiB or 2 MiB page */
			uint64_t sz = 1ULL << (12 + 9 * level);

			return (e & 0x000ffffffffff000ULL & ~(sz - 1)) |
			       (gva & (sz - 1));
		}
		table = e & 0x000ffffffffff000ULL;
	}
	return table | (gva & 0xfff);
}

/* Registers and the top of the stack (for a hung or crashed guest). */
static void dump_regs(struct vcpu *v)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	int i;

	if (ioctl(v->fd, KVM_GET_REGS, &r) || ioctl(v->fd, KVM_GET_SREGS, &s))
		return;
	fprintf(stderr,
		"coiommu-vmm: vCPU %d: rip %llx rsp %llx rax %llx rbx %llx rcx %llx rdx %llx rflags %llx\n"
		"coiommu-vmm: cr0 %llx cr3 %llx cr4 %llx efer %llx cs %x/%llx\n",
		v->id, r.rip, r.rsp, r.rax, r.rbx, r.rcx, r.rdx, r.rflags,
		s.cr0, s.cr3, s.cr4, s.efer, s.cs.selector, s.cs.base);
	if (!(s.cr0 & 0x80000000) || !(s.efer & 0x400))
		return;
	for (i = 0; i < 48; i++) {
		uint64_t gpa = gva_to_gpa(v->vmm, s.cr3, r.rsp + 8 * i), w;

		if (gpa == ~0ULL || gpa + 8 > v->vmm->ram_size)
			break;
		memcpy(&w, v->vmm->ram + gpa, 8);
		fprintf(stderr, "coiommu-vmm: stack +0x%03x: %016llx\n", 8 * i,
			(unsigned long long)w);
	}
}

static bool vmm_done(struct vmm *vmm)
{
	bool d;

	pthread_mutex_lock(&vmm->done_lock);
	d = vmm->done;
	pthread_mutex_unlock(&vmm->done_lock);
	return d;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vmm *vmm = v->vmm;
	struct kvm_run *run = v->run;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!vmm_done(vmm)) {
		if (ioctl(v->fd, KVM_RUN, 0)) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "coiommu-vmm: vCPU %d: KVM_RUN: %s\n",
				v->id, strerror(errno));
			dump_regs(v);
			vmm_exit(vmm, VMM_EXIT_ERROR);
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *p = (uint8_t *)run + run->io.data_offset;
			uint32_t i;

			pthread_mutex_lock(&vmm->lock);
			for (i = 0; i < run->io.count; i++, p += run->io.size)
				handle_pio(v, run->io.port, p, run->io.size,
					   run->io.direction == KVM_EXIT_IO_OUT);
			pthread_mutex_unlock(&vmm->lock);
			break;
		}
		case KVM_EXIT_MMIO:
			pthread_mutex_lock(&vmm->lock);
			if (!pci_mmio(vmm, run->mmio.phys_addr, run->mmio.data,
				      run->mmio.len, run->mmio.is_write)) {
				vmm_log(vmm, "vCPU %d: unhandled MMIO %s at 0x%llx",
					v->id,
					run->mmio.is_write ? "write" : "read",
					(unsigned long long)run->mmio.phys_addr);
				if (!run->mmio.is_write)
					memset(run->mmio.data, 0xff, 8);
			}
			pthread_mutex_unlock(&vmm->lock);
			break;
		case KVM_EXIT_HLT:
			break;
		case KVM_EXIT_SHUTDOWN:
			serial_flush();
			vmm_log(vmm, "vCPU %d: shutdown (triple fault or reset)",
				v->id);
			vmm_exit(vmm, VMM_EXIT_RESET);
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			vmm_log(vmm, "vCPU %d: system event %u", v->id,
				run->system_event.type);
			vmm_exit(vmm, VMM_EXIT_RESET);
			break;
		case KVM_EXIT_INTR:
			break;
		default:
			serial_flush();
			fprintf(stderr, "coiommu-vmm: vCPU %d: exit reason %u",
				v->id, run->exit_reason);
			if (run->exit_reason == KVM_EXIT_FAIL_ENTRY)
				fprintf(stderr, " (hardware entry failure 0x%llx)",
					(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
				fprintf(stderr, " (internal error %u)",
					run->internal.suberror);
			fputc('\n', stderr);
			dump_regs(v);
			vmm_exit(vmm, VMM_EXIT_ERROR);
			break;
		}
	}
	return NULL;
}

static void sigusr1(int sig)
{
	(void)sig;
}

/*
 * No XSAVE for the guest. In the test VM (QEMU 7.2, TCG, nested SVM) the
 * guest's XSETBV is not intercepted: L1 KVM never learns the guest's XCR0,
 * the guest warns "XSAVE consistency problem" at boot and its AVX state
 * would not survive KVM's XCR0 switching. Without XSAVE Linux uses FXSAVE
 * and drops AVX and PKU by itself; hide what depends on XSAVE anyway.
 */
#define NO_XSAVE_LEAF1_ECX	(1u << 12 | 1u << 26 | 1u << 27 | 1u << 28 | \
				 1u << 29)	/* FMA XSAVE OSXSAVE AVX F16C */
#define NO_XSAVE_LEAF7_EBX	(1u << 5 | 1u << 16 | 1u << 17 | 1u << 21 | \
				 1u << 26 | 1u << 27 | 1u << 28 | 1u << 30 | \
				 1u << 31)	/* AVX2, AVX-512 */
#define NO_XSAVE_LEAF7_ECX	(1u << 1 | 1u << 3 | 1u << 4 | 1u << 6 | \
				 1u << 11 | 1u << 12 | 1u << 14)
				/* AVX-512 VBMI, PKU, OSPKE, VBMI2, VNNI... */

/* CPUID: what KVM supports, with each vCPU's APIC ID. */
static void setup_cpuid(struct vmm *vmm, struct vcpu *v,
			const struct kvm_cpuid2 *sup)
{
	size_t sz = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	uint32_t i;

	if (!c)
		vmm_die("out of memory");
	memcpy(c, sup, sz);
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffff) | (uint32_t)v->id << 24;
			e->ecx |= 1u << 31;	/* running on a hypervisor */
			e->ecx &= ~NO_XSAVE_LEAF1_ECX;
			break;
		case 7:
			if (e->index == 0) {
				e->ebx &= ~NO_XSAVE_LEAF7_EBX;
				e->ecx &= ~NO_XSAVE_LEAF7_ECX;
			}
			break;
		case 0xb:
		case 0x1f:
			e->edx = v->id;
			break;
		case 0x8000001e:
			e->eax = v->id;
			break;
		}
	}
	(void)vmm;
	if (ioctl(v->fd, KVM_SET_CPUID2, c))
		vmm_die("KVM_SET_CPUID2: %s", strerror(errno));
	free(c);
}

static struct kvm_cpuid2 *supported_cpuid(int kvm)
{
	unsigned int n = 64;

	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
					      n * sizeof(c->entries[0]));

		if (!c)
			vmm_die("out of memory");
		c->nent = n;
		if (!ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		free(c);
		if (errno != E2BIG)
			vmm_die("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		n *= 2;
	}
}

static void create_vm(struct vmm *vmm)
{
	struct kvm_pit_config pit = { .flags = 0 };
	struct kvm_cpuid2 *cpuid;
	unsigned int i;
	int ver;

	vmm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vmm->kvm < 0)
		vmm_die("/dev/kvm: %s", strerror(errno));
	ver = ioctl(vmm->kvm, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION)
		vmm_die("KVM API version %d, expected %d", ver,
			KVM_API_VERSION);
	vmm->vm = ioctl(vmm->kvm, KVM_CREATE_VM, 0);
	if (vmm->vm < 0)
		vmm_die("KVM_CREATE_VM: %s", strerror(errno));
	if (ioctl(vmm->vm, KVM_SET_TSS_ADDR, 0xfffbd000UL))
		vmm_die("KVM_SET_TSS_ADDR: %s", strerror(errno));
	if (ioctl(vmm->vm, KVM_CREATE_IRQCHIP, 0))
		vmm_die("KVM_CREATE_IRQCHIP: %s", strerror(errno));
	if (ioctl(vmm->vm, KVM_CREATE_PIT2, &pit))
		vmm_die("KVM_CREATE_PIT2: %s", strerror(errno));

	vmm->ram = mmap(NULL, vmm->ram_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vmm->ram == MAP_FAILED)
		vmm_die("guest RAM: %s", strerror(errno));
	madvise(vmm->ram, vmm->ram_size, MADV_MERGEABLE);
	if (vmm_set_slot(vmm, SLOT_RAM, 0, vmm->ram_size, vmm->ram, false))
		vmm_die("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));

	vmm->run_size = ioctl(vmm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	cpuid = supported_cpuid(vmm->kvm);
	for (i = 0; i < vmm->nr_vcpus; i++) {
		struct vcpu *v = &vmm->vcpus[i];

		v->vmm = vmm;
		v->id = i;
		v->fd = ioctl(vmm->vm, KVM_CREATE_VCPU, i);
		if (v->fd < 0)
			vmm_die("KVM_CREATE_VCPU: %s", strerror(errno));
		v->run = mmap(NULL, vmm->run_size, PROT_READ | PROT_WRITE,
			      MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED)
			vmm_die("mmap kvm_run: %s", strerror(errno));
		setup_cpuid(vmm, v, cpuid);
	}
	free(cpuid);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: coiommu-vmm [options]\n"
		"  -k, --kernel PATH    uncompressed vmlinux with a PVH note (" DEFAULT_KERNEL ")\n"
		"  -i, --initrd PATH    initramfs (" DEFAULT_INITRD " if present)\n"
		"  -m, --mem MIB        guest RAM in MiB (256)\n"
		"  -c, --cpus N         vCPUs (1)\n"
		"  -d, --device BDF     pass a vfio-pci bound device through (repeatable)\n"
		"  -p, --pin MODE       coiommu (pin on demand, default) or static\n"
		"                       (VFIO_IOMMU_MAP_DMA of all RAM, no coIOMMU device)\n"
		"  -a, --append ARGS    add to the kernel command line\n"
		"      --cmdline ARGS   replace the kernel command line\n"
		"  -s, --stats SECS     live view period on stderr (1; 0: off)\n"
		"  -u, --unpin-period MS  period of coiommu_host's unpinner for this VM\n"
		"                       (default: the module's unpin_period_ms; 0: off)\n"
		"  -t, --timeout SECS   end the VM after SECS (exit status 124)\n"
		"  -v, --verbose        log what the VMM does on stderr\n");
	exit(VMM_EXIT_ERROR);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "pin", required_argument, NULL, 'p' },
		{ "append", required_argument, NULL, 'a' },
		{ "cmdline", required_argument, NULL, 'C' },
		{ "stats", required_argument, NULL, 's' },
		{ "unpin-period", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct vmm vmm_storage;
	struct vmm *vmm = &vmm_storage;
	struct boot_args args = { .kernel = DEFAULT_KERNEL };
	const char *devices[MAX_PASSTHROUGH], *append = "", *cmdline = NULL;
	unsigned int nr_devices = 0, i;
	double stats_period = 1, timeout = 0, next_stats, deadline;
	long unpin_period_ms = -1;
	uint32_t entry, start_info;
	bool static_pin = false;
	struct sigaction sa;
	char *full_cmdline;
	sigset_t set;
	int o, status;

	start_time = now();
	vmm->ram_size = 256 * MIB;
	vmm->nr_vcpus = 1;
	vmm->coiommu = -1;
	vmm->vfio_container = -1;
	vmm->next_slot = SLOT_BAR_FIRST;
	if (!access(DEFAULT_INITRD, R_OK))
		args.initrd = DEFAULT_INITRD;

	while ((o = getopt_long(argc, argv, "k:i:m:c:d:p:a:s:t:u:vh", opts,
				NULL)) != -1) {
		switch (o) {
		case 'k':
			args.kernel = optarg;
			break;
		case 'i':
			args.initrd = *optarg ? optarg : NULL;
			break;
		case 'm':
			vmm->ram_size = strtoull(optarg, NULL, 0) * MIB;
			break;
		case 'c':
			vmm->nr_vcpus = strtoul(optarg, NULL, 0);
			break;
		case 'd':
			if (nr_devices == MAX_PASSTHROUGH)
				vmm_die("at most %d devices", MAX_PASSTHROUGH);
			devices[nr_devices++] = optarg;
			break;
		case 'p':
			if (!strcmp(optarg, "static"))
				static_pin = true;
			else if (strcmp(optarg, "coiommu"))
				usage();
			break;
		case 'a':
			append = optarg;
			break;
		case 'C':
			cmdline = optarg;
			break;
		case 's':
			stats_period = strtod(optarg, NULL);
			break;
		case 't':
			timeout = strtod(optarg, NULL);
			break;
		case 'u':
			unpin_period_ms = strtol(optarg, NULL, 0);
			if (unpin_period_ms < 0 || unpin_period_ms > UINT32_MAX)
				usage();
			break;
		case 'v':
			vmm->verbose = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (vmm->nr_vcpus < 1 || vmm->nr_vcpus > MAX_VCPUS)
		vmm_die("1 to %d vCPUs", MAX_VCPUS);
	if (vmm->ram_size < 64 * MIB || vmm->ram_size > RAM_MAX)
		vmm_die("guest RAM must be 64 MiB to %llu MiB",
			(unsigned long long)(RAM_MAX / MIB));

	if (!cmdline)
		cmdline = BASE_CMDLINE;
	full_cmdline = malloc(strlen(cmdline) + strlen(append) + 2);
	if (!full_cmdline)
		vmm_die("out of memory");
	sprintf(full_cmdline, "%s%s%s", cmdline, *append ? " " : "", append);
	args.cmdline = full_cmdline;

	pthread_mutex_init(&vmm->lock, NULL);
	pthread_mutex_init(&vmm->done_lock, NULL);
	pthread_cond_init(&vmm->done_cond, NULL);

	/* vCPU threads get SIGUSR1 to leave KVM_RUN; nobody else does. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigusr1;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	create_vm(vmm);
	entry = boot_load(vmm, &args, &start_info);
	boot_setup_bsp(vmm, &vmm->vcpus[0], entry, start_info);
	vmm_log(vmm, "command line: %s", full_cmdline);
	serial_init(vmm);
	pci_init(vmm);

	if (nr_devices) {
		if (vfio_container_open(vmm))
			vmm_die("/dev/vfio/vfio: %s", strerror(errno));
		if (!static_pin)
			vmm->coiommu_dev = coiommu_dev_create(vmm, 1 << 3);
		for (i = 0; i < nr_devices; i++)
			vmm->passthrough[vmm->nr_passthrough++] =
				vfio_passthrough(vmm, devices[i],
						 (2 + i) << 3);
		if (static_pin) {
			if (vfio_map_ram(vmm))
				vmm_die("VFIO_IOMMU_MAP_DMA of guest RAM: %s",
					strerror(errno));
		} else {
			coiommu_dev_attach(vmm);
			if (unpin_period_ms >= 0 && vmm->coiommu >= 0) {
				int ret = coiommu_set_unpin_period(vmm->coiommu,
								   unpin_period_ms);

				if (ret)
					vmm_die("unpin period %ld ms: %s",
						unpin_period_ms, strerror(-ret));
			}
		}
		vfio_start_req_thread(vmm);
	}

	vmm_log(vmm, "%u vCPU(s), %llu MiB, %u passthrough device(s), %s pinning",
		vmm->nr_vcpus, (unsigned long long)(vmm->ram_size / MIB),
		vmm->nr_passthrough, static_pin ? "static" : "coIOMMU");
	for (i = 0; i < vmm->nr_vcpus; i++)
		if (pthread_create(&vmm->vcpus[i].thread, NULL, vcpu_thread,
				   &vmm->vcpus[i]))
			vmm_die("pthread_create failed");

	/* Wait for the end, printing the live view. */
	next_stats = stats_period > 0 ? now() + stats_period : 0;
	deadline = timeout > 0 ? start_time + timeout : 0;
	pthread_mutex_lock(&vmm->done_lock);
	while (!vmm->done) {
		double wake = 0, t;
		struct timespec ts;

		if (vmm->coiommu_dev && next_stats)
			wake = next_stats;
		if (deadline && (!wake || deadline < wake))
			wake = deadline;
		if (!wake) {
			pthread_cond_wait(&vmm->done_cond, &vmm->done_lock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		t = ts.tv_sec + ts.tv_nsec / 1e9 + (wake - now());
		ts.tv_sec = (time_t)t;
		ts.tv_nsec = (long)((t - ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&vmm->done_cond, &vmm->done_lock, &ts);
		if (vmm->done)
			break;
		t = now();
		if (deadline && t >= deadline) {
			vmm->done = true;
			vmm->exit_status = VMM_EXIT_TIMEOUT;
			break;
		}
		if (vmm->coiommu_dev && next_stats && t >= next_stats) {
			pthread_mutex_unlock(&vmm->done_lock);
			coiommu_dev_stats_line(vmm, t - start_time, false);
			pthread_mutex_lock(&vmm->done_lock);
			next_stats += stats_period;
			if (next_stats < t)
				next_stats = t + stats_period;
		}
	}
	status = vmm->exit_status;
	pthread_mutex_unlock(&vmm->done_lock);

	for (i = 0; i < vmm->nr_vcpus; i++) {
		vmm->vcpus[i].run->immediate_exit = 1;
		pthread_kill(vmm->vcpus[i].thread, SIGUSR1);
	}
	for (i = 0; i < vmm->nr_vcpus; i++)
		pthread_join(vmm->vcpus[i].thread, NULL);
	serial_flush();

	if (vmm->coiommu_dev) {
		coiommu_dev_stats_line(vmm, now() - start_time, true);
		coiommu_dev_destroy(vmm);
	}
	if (status == VMM_EXIT_TIMEOUT) {
		fprintf(stderr, "coiommu-vmm: timed out after %.0f s\n",
			timeout);
		for (i = 0; i < vmm->nr_vcpus; i++)
			dump_regs(&vmm->vcpus[i]);
	}
	else if (status == VMM_EXIT_RESET)
		fprintf(stderr, "coiommu-vmm: guest reset without reporting a status\n");
	fprintf(stderr, "coiommu-vmm: exit status %d after %.2f s\n", status,
		now() - start_time);
	return status;
}
