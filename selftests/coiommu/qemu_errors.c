// SPDX-License-Identifier: GPL-2.0
/*
 * qemu_errors: what QEMU's coiommu device refuses. For each case QEMU must
 * not start the guest: it exits with a non-zero status and one line on
 * stderr that names the cause, and no page stays pinned. The cases: no
 * /dev/coiommu (the module is not loaded), the vfio-pci device behind a
 * bridge (v1 takes devices on the root bus only), an emulated vIOMMU in
 * the same VM, two coiommu devices, and memory hot-plug (the memory map
 * is sent once). (A coiommu device after the vfio-pci that names it is
 * not an error: qemu_e2e_dma_coiommu_last.)
 */
#include <strings.h>

#include "ct_qemu_fixture.h"

#define START_MS	120000

static const char *next_line(const char *s)
{
	const char *eol = strchr(s, '\n');

	return eol ? eol + 1 : NULL;
}

/*
 * Start QEMU with @mem and @devices; it must fail before the guest runs,
 * with a line on stderr that carries one of the NULL-terminated @words
 * (case-insensitive): the cause, as the device's messages name it
 * (qemu/patches), and "coiommu: " unless @any (an error of QEMU's own).
 */
static void refused(struct __test_metadata *_metadata, struct ct_qemu *q,
		    const char *mem, const char *devices, bool any,
		    const char *const *words)
{
	const char *line = NULL, *s, *const *w;
	struct ct_pins base;
	int n;

	CT_QEMU_NEED_COIOMMU();
	ASSERT_EQ(0, ct_pins_read(&base));
	TH_LOG("qemu ... -m %s %s", mem, devices);
	ASSERT_EQ(0, ct_qemu_start_guest(q, mem, "vmm.run=/bin/guest-e2e", devices));
	ct_qemu_wait(q, START_MS);
	ct_qemu_print(q);
	/* QEMU's own error status (1): the guest never ran to say otherwise. */
	EXPECT_NE(0, q->status);
	EXPECT_EQ(NULL, strstr(q->out, "vmm-guest:"));
	/* The line that names the cause, from qemu-system-x86_64 itself. */
	for (s = q->errout; s && *s && !line; s = next_line(s)) {
		const char *eol = strchr(s, '\n');
		char buf[512];

		snprintf(buf, sizeof(buf), "%.*s",
			 eol ? (int)(eol - s) : (int)strlen(s), s);
		if (strncmp(buf, "qemu-system-x86_64:", 19) ||
		    (!any && !strstr(buf, "coiommu: ")))
			continue;
		for (w = words; *w && !line; w++)
			if (strcasestr(buf, *w))
				line = s;
	}
	EXPECT_NE(NULL, line) {
		TH_LOG("no error line naming the cause (\"%s\"...) on stderr",
		       words[0]);
	}
	/* And nothing else: one line. */
	for (s = q->errout, n = 0; s && *s; s = next_line(s))
		n++;
	EXPECT_EQ(1, n);
	EXPECT_EQ(0, ct_pins_outstanding(&base));
}

#define WORDS(...)	((const char *const[]){ __VA_ARGS__, NULL })

static void vfio_args(char *buf, size_t size, const char *bdf,
		      const char *before, const char *extra, const char *after)
{
	snprintf(buf, size,
		 "%s -device vfio-pci,host=%s,id=hostdev0,coiommu=co0%s %s",
		 before, bdf, extra, after);
}

TEST_F_TIMEOUT(qemu, qemu_errors_no_module, CT_VMM_TEST_TIMEOUT)
{
	char dev[512];

	/* The module comes back for the teardown's checks. */
	ASSERT_EQ(0, ct_module_unload());
	ASSERT_NE(0, access("/dev/coiommu", F_OK));
	vfio_args(dev, sizeof(dev), self->bdf, "-device coiommu,id=co0", "", "");
	refused(_metadata, &self->q, "256", dev, false, WORDS("/dev/coiommu"));
	ASSERT_EQ(0, ct_module_load());
}

TEST_F_TIMEOUT(qemu, qemu_errors_behind_bridge, CT_VMM_TEST_TIMEOUT)
{
	char dev[512];

	vfio_args(dev, sizeof(dev), self->bdf,
		  "-device pcie-root-port,id=rp0,chassis=1 -device coiommu,id=co0",
		  ",bus=rp0", "");
	refused(_metadata, &self->q, "256", dev, false, WORDS("behind a PCI bridge", "root bus"));
}

TEST_F_TIMEOUT(qemu, qemu_errors_viommu, CT_VMM_TEST_TIMEOUT)
{
	char dev[512];

	/* A later -machine adds to the first one. */
	vfio_args(dev, sizeof(dev), self->bdf,
		  "-machine kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on -device coiommu,id=co0",
		  "", "");
	refused(_metadata, &self->q, "256", dev, false, WORDS("vIOMMU"));
}

TEST_F_TIMEOUT(qemu, qemu_errors_two_coiommu, CT_VMM_TEST_TIMEOUT)
{
	char dev[512];

	vfio_args(dev, sizeof(dev), self->bdf,
		  "-device coiommu,id=co0 -device coiommu,id=co1", "", "");
	refused(_metadata, &self->q, "256", dev, false, WORDS("only one"));
}

TEST_F_TIMEOUT(qemu, qemu_errors_memory_hotplug, CT_VMM_TEST_TIMEOUT)
{
	char dev[512];

	vfio_args(dev, sizeof(dev), self->bdf, "-device coiommu,id=co0", "", "");
	refused(_metadata, &self->q, "256,maxmem=1G,slots=1", dev, false,
		WORDS("memory hot-plug"));
}

TEST_HARNESS_MAIN
