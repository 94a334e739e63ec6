// SPDX-License-Identifier: GPL-2.0
/*
 * bad_args: every ioctl refuses what the uapi (uapi/linux/coiommu.h) says
 * it refuses, with the errno it lists, and a refused call changes nothing:
 * the counters stay (pinned pages, devices, domains), the old memory map
 * stays in force (a pin inside it still works and its DMA lands in the
 * old region's memory; a pin outside it is still -ERANGE) and DMA to a
 * pinned page still lands.
 *
 *   bad_args              argsz, flags, pad/reserved, argsz tails, for all
 *                         five ioctls; unknown ioctl numbers
 *   bad_args_memory_map   the regions of COIOMMU_SET_MEMORY_MAP, -EBUSY
 *   bad_args_pin_unpin    ranges of COIOMMU_PIN_RANGE/UNPIN_RANGE,
 *                         -ENODEV, -EFAULT and all-or-nothing
 *   bad_args_add_device   the fds and BDF of COIOMMU_ADD_DEVICE
 *   bad_args_reserved_iova  guest RAM over the IOMMU's interrupt window,
 *                         in either order: map then device, device then map
 *   bad_args_fork         another address space gets -EPERM
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "ctv_fixture.h"

#define NP	16
#define R0	0x100000UL		/* arena pages 0..15 */
#define R1	0x400000UL		/* arena pages 17..32 */
#define ALT_PG	34			/* arena pages 34..97: other memory */
#define ALT_NP	64
#define ARENA	(100 * CT_PAGE)
#define OUT	0x800000UL		/* not guest RAM */
#define G	R1			/* the page kept pinned */
#define PROBE	(R0 + (NP - 1) * CT_PAGE)	/* pinned to probe the map */
#define PROBE_PG (NP - 1)
#define G_PG	17
#define MAXGPA	COIOMMU_MAX_GPA
#define PG	CT_PAGE
#define LEN	CT_EDU_DMA_MAX

FIXTURE(co) {
	struct ctv v;
	uint8_t buf[LEN];	/* what edu A's buffer holds */
	uint32_t seed;
	/* what a refused call must leave as it was */
	struct coiommu_stats st;
	bool g_pinned;		/* G is pinned: DMA to it must land */
	bool probe;		/* probe the map with a pin and a DMA */
};

static uint64_t alt_vaddr(FIXTURE_DATA(co) *self, unsigned int page)
{
	return (uintptr_t)(self->v.g.arena + (ALT_PG + page) * PG);
}

/* The "other" map: R0 backed by ALT pages 0..15, R1, OUT by ALT 16. */
static unsigned int alt_map(FIXTURE_DATA(co) *self, struct coiommu_region *r)
{
	r[0] = (struct coiommu_region){ R0, NP * PG, alt_vaddr(self, 0), 0 };
	r[1] = self->v.g.r[1];
	r[2] = (struct coiommu_region){ OUT, PG, alt_vaddr(self, NP), 0 };
	return 3;
}

/*
 * Issue @cmd with the @len bytes at @arg followed by @tail bytes, all 0
 * but the last, which is @last. argsz becomes @argsz, or @len + @tail when
 * @argsz < 0. What the kernel wrote back is copied to @arg.
 */
static int xioctl(int fd, unsigned long cmd, void *arg, size_t len,
		  long argsz, size_t tail, uint8_t last)
{
	uint8_t *b = calloc(1, len + tail);
	int ret;

	if (!b)
		return -ENOMEM;
	memcpy(b, arg, len);
	if (tail)
		b[len + tail - 1] = last;
	*(uint32_t *)b = argsz < 0 ? len + tail : argsz;
	ret = ct_co_ioctl(fd, cmd, b);
	memcpy(arg, b, len);
	free(b);
	return ret;
}

/* SET_MEMORY_MAP of @nr regions, with a given header. */
static int set_map_ex(int fd, const struct coiommu_region *r,
		      unsigned int nr, uint32_t flags, uint32_t pad,
		      long argsz, size_t tail, uint8_t last)
{
	size_t len = sizeof(struct coiommu_memory_map) + nr * sizeof(*r);
	struct coiommu_memory_map *m = calloc(1, len);
	int ret;

	if (!m)
		return -ENOMEM;
	m->flags = flags;
	m->nr_regions = nr;
	m->pad = pad;
	if (nr)
		memcpy(m->regions, r, nr * sizeof(*r));
	ret = xioctl(fd, COIOMMU_SET_MEMORY_MAP, m, len, argsz, tail, last);
	free(m);
	return ret;
}

static int set_map(int fd, const struct coiommu_region *r, unsigned int nr)
{
	return set_map_ex(fd, r, nr, 0, 0, -1, 0, 0);
}

static int range_ex(int fd, unsigned long cmd, uint64_t gpa, uint64_t size,
		    uint32_t flags, long argsz, size_t tail, uint8_t last)
{
	struct coiommu_range r = { .flags = flags, .gpa = gpa, .size = size };

	return xioctl(fd, cmd, &r, sizeof(r), argsz, tail, last);
}

/* Fresh contents for arena page @pg, unlike anything a buffer holds. */
static void refresh(FIXTURE_DATA(co) *self, unsigned int pg)
{
	ct_fill(self->v.g.arena + pg * PG, PG, ++self->seed);
	memcpy(self->v.g.shadow + pg * PG, self->v.g.arena + pg * PG, PG);
}

/* DMA by @e to @gpa (backed by arena page @pg) must not land. */
#define BLOCKED_AT(e, gpa, pg, len) do {				\
	refresh(self, pg);						\
	CT_DMA_BLOCKED(&self->v.g, e, &self->v.kmsg, gpa, len);		\
} while (0)

/*
 * DMA by @e to @gpa, which the map in force backs by arena page @pg (+
 * the offset of @gpa in its page): the page first gets fresh contents,
 * then exactly the DMA'd bytes must change.
 */
static void lands_at(struct __test_metadata *_metadata, int line,
		     FIXTURE_DATA(co) *self, struct ct_edu *e,
		     const uint8_t *buf, uint64_t gpa, unsigned int pg)
{
	size_t off = pg * PG + (gpa & (PG - 1));
	size_t len = PG - (gpa & (PG - 1));
	char what[96];

	if (len > LEN)
		len = LEN;
	refresh(self, pg);
	ASSERT_EQ(0, ct_edu_dma(e, gpa, 0, len, true));
	memcpy(self->v.g.shadow + off, buf, len);
	snprintf(what, sizeof(what), "DMA by %s to 0x%llx (arena page %u)",
		 e->bdf, (unsigned long long)gpa, pg);
	ct_ram_check(_metadata, line, &self->v.g, what);
}

#define LANDS_AT(e, buf, gpa, pg) \
	lands_at(_metadata, __LINE__, self, e, buf, gpa, pg)

static void snap(struct __test_metadata *_metadata, FIXTURE_DATA(co) *self)
{
	ASSERT_EQ(0, coiommu_get_stats(self->v.fd, &self->st));
}

/*
 * After a refused call: counters as before, DMA to G lands, the old map
 * is in force.
 */
static void unchanged(struct __test_metadata *_metadata, int line,
		      FIXTURE_DATA(co) *self, const char *what)
{
	struct coiommu_stats st;

	ASSERT_EQ(0, coiommu_get_stats(self->v.fd, &st)) {
		TH_LOG("line %d: after %s", line, what);
	}
	EXPECT_EQ(self->st.pinned_pages, st.pinned_pages) {
		TH_LOG("line %d: %s changed pinned_pages", line, what);
	}
	EXPECT_EQ(self->st.nr_devices, st.nr_devices) {
		TH_LOG("line %d: %s changed nr_devices", line, what);
	}
	EXPECT_EQ(self->st.nr_domains, st.nr_domains) {
		TH_LOG("line %d: %s changed nr_domains", line, what);
	}
	EXPECT_EQ(self->st.pinned_pages, ct_pins_outstanding(&self->v.env.base)) {
		TH_LOG("line %d: %s changed the FOLL_PIN count", line, what);
	}
	if (self->g_pinned)
		lands_at(_metadata, line, self, &self->v.a, self->buf, G, G_PG);
	if (self->probe) {
		ASSERT_EQ(0, coiommu_pin_range(self->v.fd, PROBE, PG)) {
			TH_LOG("line %d: after %s, the old map lost 0x%lx",
			       line, what, PROBE);
		}
		lands_at(_metadata, line, self, &self->v.a, self->buf, PROBE,
			 PROBE_PG);
		ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, PROBE, PG));
	}
	EXPECT_EQ(-ERANGE, coiommu_pin_range(self->v.fd, OUT, PG)) {
		TH_LOG("line %d: after %s, 0x%lx became guest RAM", line,
		       what, OUT);
	}
	snap(_metadata, self);
}

/* @call must fail with -@err and change nothing. */
#define REFUSED(err, call) do {						\
	EXPECT_EQ(-(err), (call)) {					\
		TH_LOG("%s", #call);					\
	}								\
	unchanged(_metadata, __LINE__, self, #call);			\
} while (0)

FIXTURE_SETUP(co)
{
	const struct ctv_cfg cfg = {
		.open_edu = 2, .add_a = true, .arena = ARENA,
		.ram = { { R0, 0, NP * PG }, { R1, G_PG * PG, NP * PG } },
		.seed = 0xbad,
	};

	self->seed = getpid() << 16;
	ctv_setup(_metadata, &self->v, &cfg);

	/* edu A's buffer gets known contents. */
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, PROBE, PG));
	CT_EDU_LOAD(&self->v.g, &self->v.a, PROBE, self->buf, LEN);
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, PROBE, PG));
	snap(_metadata, self);
	ASSERT_EQ(0, self->st.pinned_pages);
	ASSERT_EQ(1, self->st.nr_devices);
}

FIXTURE_TEARDOWN(co)
{
	ctv_teardown(_metadata, &self->v);
}

static void pin_g(struct __test_metadata *_metadata, FIXTURE_DATA(co) *self)
{
	ASSERT_EQ(0, coiommu_pin_range(self->v.fd, G, PG));
	self->g_pinned = true;
	snap(_metadata, self);
	ASSERT_EQ(1, self->st.pinned_pages);
}

static void unpin_g(struct __test_metadata *_metadata, FIXTURE_DATA(co) *self)
{
	ASSERT_EQ(0, coiommu_unpin_range(self->v.fd, G, PG));
	self->g_pinned = false;
	snap(_metadata, self);
	ASSERT_EQ(0, self->st.pinned_pages);
}

/* ---- argsz, flags, pad, tails; unknown ioctls ------------------------ */

TEST_F_TIMEOUT(co, bad_args, 180)
{
	const size_t mh = sizeof(struct coiommu_memory_map);
	const size_t rs = sizeof(struct coiommu_region);
	struct coiommu_region alt[3], bad[3];
	struct coiommu_device dev;
	struct coiommu_stats st, big[2];
	int fd = self->v.fd, bdf_b = ct_bdf_parse(self->v.b.bdf);
	int i;

	/* COIOMMU_SET_MEMORY_MAP, nothing pinned: probe the old map. */
	self->probe = true;
	alt_map(self, alt);
	REFUSED(EINVAL, set_map_ex(fd, alt, 3, 0, 0, 0, 0, 0));
	REFUSED(EINVAL, set_map_ex(fd, alt, 3, 0, 0, 8, 0, 0));
	REFUSED(EINVAL, set_map_ex(fd, alt, 3, 0, 0, mh - 1, 0, 0));
	REFUSED(EINVAL, set_map_ex(fd, alt, 3, 0, 0, mh + 3 * rs - 8, 0, 0));
	REFUSED(EINVAL, set_map_ex(fd, alt, 3, 1, 0, -1, 0, 0));
	REFUSED(EINVAL, set_map_ex(fd, alt, 3, 1u << 31, 0, -1, 0, 0));
	REFUSED(EINVAL, set_map_ex(fd, alt, 3, 0, 1, -1, 0, 0));
	memcpy(bad, alt, sizeof(bad));
	bad[2].flags = 1;
	REFUSED(EINVAL, set_map(fd, bad, 3));
	bad[2].flags = 1ULL << 63;
	REFUSED(EINVAL, set_map(fd, bad, 3));
	REFUSED(E2BIG, set_map_ex(fd, alt, 3, 0, 0, -1, 16, 1));
	REFUSED(E2BIG, set_map_ex(fd, alt, 3, 0, 0, -1, 1, 0x80));

	/* A zero tail is accepted, and the new map is in force. */
	EXPECT_EQ(0, set_map_ex(fd, alt, 3, 0, 0, -1, 16, 0));
	ASSERT_EQ(0, coiommu_pin_range(fd, PROBE, PG));
	ASSERT_EQ(0, coiommu_pin_range(fd, OUT, PG));
	LANDS_AT(&self->v.a, self->buf, PROBE, ALT_PG + PROBE_PG);
	LANDS_AT(&self->v.a, self->buf, OUT + 0x10, ALT_PG + NP);
	ASSERT_EQ(0, coiommu_unpin_range(fd, R0, NP * PG));
	ASSERT_EQ(0, coiommu_unpin_range(fd, OUT, PG));
	ASSERT_EQ(0, ct_ram_set_map(&self->v.g, fd));
	snap(_metadata, self);
	self->probe = false;

	/* COIOMMU_ADD_DEVICE of B. */
	memset(&dev, 0, sizeof(dev));
	dev.device_fd = self->v.b.device;
	dev.group_fd = self->v.b.group;
	dev.bdf = bdf_b;
	REFUSED(EINVAL, xioctl(fd, COIOMMU_ADD_DEVICE, &dev, sizeof(dev),
			       0, 0, 0));
	REFUSED(EINVAL, xioctl(fd, COIOMMU_ADD_DEVICE, &dev, sizeof(dev),
			       sizeof(dev) - 1, 0, 0));
	dev.flags = 1;
	REFUSED(EINVAL, xioctl(fd, COIOMMU_ADD_DEVICE, &dev, sizeof(dev),
			       -1, 0, 0));
	dev.flags = 1u << 31;
	REFUSED(EINVAL, xioctl(fd, COIOMMU_ADD_DEVICE, &dev, sizeof(dev),
			       -1, 0, 0));
	dev.flags = 0;
	for (i = 0; i < 3; i++) {
		dev.pad[i] = 1;
		REFUSED(EINVAL, xioctl(fd, COIOMMU_ADD_DEVICE, &dev,
				       sizeof(dev), -1, 0, 0));
		dev.pad[i] = 0;
	}
	REFUSED(E2BIG, xioctl(fd, COIOMMU_ADD_DEVICE, &dev, sizeof(dev),
			      -1, 8, 1));
	EXPECT_EQ(0, xioctl(fd, COIOMMU_ADD_DEVICE, &dev, sizeof(dev),
			    -1, 8, 0));
	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(2, st.nr_devices);
	EXPECT_EQ(2, st.nr_domains);
	snap(_metadata, self);

	/* COIOMMU_PIN_RANGE of G. */
	REFUSED(EINVAL, range_ex(fd, COIOMMU_PIN_RANGE, G, PG, 0, 0, 0, 0));
	REFUSED(EINVAL, range_ex(fd, COIOMMU_PIN_RANGE, G, PG, 0,
				 sizeof(struct coiommu_range) - 1, 0, 0));
	REFUSED(EINVAL, range_ex(fd, COIOMMU_PIN_RANGE, G, PG, 1, -1, 0, 0));
	REFUSED(EINVAL, range_ex(fd, COIOMMU_PIN_RANGE, G, PG, 1u << 31,
				 -1, 0, 0));
	REFUSED(E2BIG, range_ex(fd, COIOMMU_PIN_RANGE, G, PG, 0, -1, 8, 1));
	BLOCKED_AT(&self->v.a, G, G_PG, LEN);
	EXPECT_EQ(0, range_ex(fd, COIOMMU_PIN_RANGE, G, PG, 0, -1, 8, 0));
	self->g_pinned = true;
	snap(_metadata, self);
	EXPECT_EQ(1, self->st.pinned_pages);
	LANDS_AT(&self->v.a, self->buf, G, G_PG);
	{
		uint8_t bufb[LEN];

		/* B, added with a zero tail, works: it got the pin. */
		CT_EDU_LOAD(&self->v.g, &self->v.b, G, bufb, LEN);
		LANDS_AT(&self->v.b, bufb, G + 1, G_PG);
	}

	/* COIOMMU_UNPIN_RANGE of G: while refused, G stays mapped. */
	REFUSED(EINVAL, range_ex(fd, COIOMMU_UNPIN_RANGE, G, PG, 0, 0, 0, 0));
	REFUSED(EINVAL, range_ex(fd, COIOMMU_UNPIN_RANGE, G, PG, 0,
				 sizeof(struct coiommu_range) - 1, 0, 0));
	REFUSED(EINVAL, range_ex(fd, COIOMMU_UNPIN_RANGE, G, PG, 1, -1, 0, 0));
	REFUSED(EINVAL, range_ex(fd, COIOMMU_UNPIN_RANGE, G, PG, 1u << 31,
				 -1, 0, 0));
	REFUSED(E2BIG, range_ex(fd, COIOMMU_UNPIN_RANGE, G, PG, 0, -1, 8, 1));

	/* COIOMMU_GET_STATS. */
	memset(&st, 0, sizeof(st));
	REFUSED(EINVAL, xioctl(fd, COIOMMU_GET_STATS, &st, sizeof(st),
			       0, 0, 0));
	/* Below the first published size (v1 ended with nr_domains). */
	REFUSED(EINVAL, xioctl(fd, COIOMMU_GET_STATS, &st, sizeof(st),
			       offsetof(struct coiommu_stats, nr_domains) +
			       sizeof(st.nr_domains) - 1, 0, 0));
	st.flags = 1;
	REFUSED(EINVAL, xioctl(fd, COIOMMU_GET_STATS, &st, sizeof(st),
			       -1, 0, 0));
	st.flags = 0;
	/* An output structure: bytes past it are not the kernel's business. */
	EXPECT_EQ(0, xioctl(fd, COIOMMU_GET_STATS, &st, sizeof(st), -1, 16, 1));
	REFUSED(EFAULT, ct_co_ioctl(fd, COIOMMU_GET_STATS, NULL));
	REFUSED(EFAULT, ct_co_ioctl(fd, COIOMMU_GET_STATS, (void *)8));

	/* A larger argsz with a zero tail: filled, argsz set to the size. */
	memset(big, 0, sizeof(big));
	big[0].argsz = sizeof(big);
	EXPECT_EQ(0, ct_co_ioctl(fd, COIOMMU_GET_STATS, big));
	EXPECT_EQ(sizeof(st), big[0].argsz);
	EXPECT_EQ(1, big[0].pinned_pages);
	EXPECT_EQ(2, big[0].nr_devices);
	EXPECT_EQ(0, memcmp(&big[1], &(struct coiommu_stats){ 0 },
			    sizeof(big[1]))) {
		TH_LOG("GET_STATS wrote past the structure it knows");
	}
	/* Exactly the size: nothing written past it. */
	memset(big, 0xa5, sizeof(big));
	big[0].argsz = sizeof(st);
	big[0].flags = 0;
	EXPECT_EQ(0, ct_co_ioctl(fd, COIOMMU_GET_STATS, big));
	EXPECT_EQ(1, big[0].pinned_pages);
	EXPECT_EQ(0xa5, ((uint8_t *)&big[1])[0]) {
		TH_LOG("GET_STATS wrote past argsz");
	}

	/* Unknown ioctls; the right number with another size or direction. */
	REFUSED(ENOTTY, ct_co_ioctl(fd, _IO(COIOMMU_TYPE, 0x3f), NULL));
	REFUSED(ENOTTY, ct_co_ioctl(fd, _IO(COIOMMU_TYPE, 0x7e), NULL));
	REFUSED(ENOTTY, ct_co_ioctl(fd, _IO(COIOMMU_TYPE + 1,
					    COIOMMU_BASE + 5), NULL));
	REFUSED(ENOTTY, ct_co_ioctl(fd, _IOWR(COIOMMU_TYPE, COIOMMU_BASE + 3,
					      struct coiommu_range), NULL));
	REFUSED(ENOTTY, ct_co_ioctl(fd, VFIO_GET_API_VERSION, NULL));

	/* The zero tail unpins. */
	EXPECT_EQ(0, range_ex(fd, COIOMMU_UNPIN_RANGE, G, PG, 0, -1, 8, 0));
	self->g_pinned = false;
	snap(_metadata, self);
	EXPECT_EQ(0, self->st.pinned_pages);
	EXPECT_EQ(0, ct_pins_outstanding(&self->v.env.base));
	BLOCKED_AT(&self->v.a, G + 0x800, G_PG, 0x400);
}

/* ---- COIOMMU_SET_MEMORY_MAP regions ------------------------------------ */

TEST_F_TIMEOUT(co, bad_args_memory_map, 180)
{
	struct coiommu_region alt[3], m[COIOMMU_MAX_REGIONS + 4];
	int fd = self->v.fd, n, i;
	uint8_t *hole;

	self->probe = true;
	n = alt_map(self, alt);

	/* Number of regions. */
	REFUSED(EINVAL, set_map(fd, alt, 0));
	for (i = 0; i < COIOMMU_MAX_REGIONS + 1; i++)
		m[i] = (struct coiommu_region){ 0x1000000 + i * 2 * PG, PG,
			alt_vaddr(self, i % ALT_NP), 0 };
	REFUSED(EINVAL, set_map(fd, m, COIOMMU_MAX_REGIONS + 1));
	/* ... COIOMMU_MAX_REGIONS is fine. */
	EXPECT_EQ(0, set_map(fd, m, COIOMMU_MAX_REGIONS));
	EXPECT_EQ(-ERANGE, coiommu_pin_range(fd, PROBE, PG));
	ASSERT_EQ(0, coiommu_pin_range(fd, m[ALT_NP - 1].gpa, PG));
	LANDS_AT(&self->v.a, self->buf, m[ALT_NP - 1].gpa,
		 ALT_PG + ALT_NP - 1);
	ASSERT_EQ(0, coiommu_unpin_range(fd, m[ALT_NP - 1].gpa, PG));
	ASSERT_EQ(0, ct_ram_set_map(&self->v.g, fd));
	snap(_metadata, self);

	/* Alignment, size. */
	memcpy(m, alt, sizeof(alt));
	m[0].gpa += 0x800;
	REFUSED(EINVAL, set_map(fd, m, n));
	memcpy(m, alt, sizeof(alt));
	m[0].size -= 0x800;
	REFUSED(EINVAL, set_map(fd, m, n));
	memcpy(m, alt, sizeof(alt));
	m[0].vaddr += 0x10;
	REFUSED(EINVAL, set_map(fd, m, n));
	memcpy(m, alt, sizeof(alt));
	m[2].size = 0;
	REFUSED(EINVAL, set_map(fd, m, n));

	/* Overlaps, in either order, partial, contained, identical. */
	memcpy(m, alt, sizeof(alt));
	m[3] = (struct coiommu_region){ R0 + 8 * PG, NP * PG,
		alt_vaddr(self, 20), 0 };
	REFUSED(EINVAL, set_map(fd, m, n + 1));
	m[3] = (struct coiommu_region){ R1 - 2 * PG, 4 * PG,
		alt_vaddr(self, 20), 0 };
	REFUSED(EINVAL, set_map(fd, m, n + 1));
	m[3] = (struct coiommu_region){ R1 - PG, 2 * PG,
		alt_vaddr(self, 20), 0 };
	REFUSED(EINVAL, set_map(fd, m, n + 1));
	m[3] = (struct coiommu_region){ R0 + (NP - 1) * PG, 2 * PG,
		alt_vaddr(self, 20), 0 };
	REFUSED(EINVAL, set_map(fd, m, n + 1));
	m[3] = (struct coiommu_region){ R0 + 2 * PG, PG,
		alt_vaddr(self, 20), 0 };
	REFUSED(EINVAL, set_map(fd, m, n + 1));
	m[3] = m[1];
	REFUSED(EINVAL, set_map(fd, m, n + 1));
	m[3] = (struct coiommu_region){ R0 - 4 * PG, 32 * PG,
		alt_vaddr(self, 20), 0 };
	REFUSED(EINVAL, set_map(fd, m, n + 1));

	/* Adjacent is not overlapping: accepted, and a pin may straddle. */
	m[0] = (struct coiommu_region){ R0, 8 * PG, alt_vaddr(self, 0), 0 };
	m[1] = (struct coiommu_region){ R0 + 8 * PG, 8 * PG,
		alt_vaddr(self, 40), 0 };
	EXPECT_EQ(0, set_map(fd, m, 2));
	EXPECT_EQ(0, coiommu_pin_range(fd, R0 + 7 * PG, 2 * PG));
	EXPECT_EQ(0, coiommu_unpin_range(fd, R0, NP * PG));
	ASSERT_EQ(0, ct_ram_set_map(&self->v.g, fd));
	snap(_metadata, self);

	/* COIOMMU_MAX_GPA, and overflow. */
	memcpy(m, alt, sizeof(alt));
	m[2].gpa = MAXGPA - PG;
	m[2].size = 2 * PG;
	REFUSED(EINVAL, set_map(fd, m, n));
	m[2].gpa = MAXGPA;
	m[2].size = PG;
	REFUSED(EINVAL, set_map(fd, m, n));
	m[2].gpa = ~0ULL & ~(PG - 1);
	m[2].size = 2 * PG;
	REFUSED(EINVAL, set_map(fd, m, n));
	m[2].gpa = PG;
	m[2].size = ~0ULL & ~(PG - 1);
	REFUSED(EINVAL, set_map(fd, m, n));
	m[2].gpa = 0x8000000000000000ULL;
	m[2].size = 0x8000000000000000ULL;
	REFUSED(EINVAL, set_map(fd, m, n));
	/* ... ending right at COIOMMU_MAX_GPA is fine. */
	m[2].gpa = MAXGPA - PG;
	m[2].size = PG;
	EXPECT_EQ(0, set_map(fd, m, n));
	ASSERT_EQ(0, ct_ram_set_map(&self->v.g, fd));
	snap(_metadata, self);

	/* Not mapped in the VMM, wholly or in part. */
	hole = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_EQ(0, munmap(hole + 2 * PG, 2 * PG));
	memcpy(m, alt, sizeof(alt));
	m[2].vaddr = (uintptr_t)hole;
	m[2].size = 4 * PG;
	REFUSED(EFAULT, set_map(fd, m, n));
	m[2].vaddr = (uintptr_t)hole + 2 * PG;
	m[2].size = 2 * PG;
	REFUSED(EFAULT, set_map(fd, m, n));
	ASSERT_EQ(0, munmap(hole, 2 * PG));

	/* Pages pinned: -EBUSY, even for the same map. */
	pin_g(_metadata, self);
	REFUSED(EBUSY, set_map(fd, alt, n));
	REFUSED(EBUSY, ct_ram_set_map(&self->v.g, fd));
	unpin_g(_metadata, self);

	/* Nothing pinned any more: the map is replaced. */
	EXPECT_EQ(0, set_map(fd, alt, n));
	ASSERT_EQ(0, coiommu_pin_range(fd, PROBE, PG));
	ASSERT_EQ(0, coiommu_pin_range(fd, OUT, PG));
	LANDS_AT(&self->v.a, self->buf, PROBE, ALT_PG + PROBE_PG);
	LANDS_AT(&self->v.a, self->buf, OUT, ALT_PG + NP);
	EXPECT_EQ(-ERANGE, coiommu_pin_range(fd, R0 + NP * PG, PG));
	ASSERT_EQ(0, coiommu_unpin_range(fd, R0, NP * PG));
	ASSERT_EQ(0, coiommu_unpin_range(fd, OUT, PG));
}

/* ---- COIOMMU_PIN_RANGE / COIOMMU_UNPIN_RANGE ranges -------------------- */

TEST_F_TIMEOUT(co, bad_args_pin_unpin, 180)
{
	const uint64_t top = ~0ULL & ~(PG - 1);
	struct coiommu_region m[3];
	struct coiommu_stats st;
	int fd = self->v.fd, fd2, i;
	uint64_t refused;
	uint8_t *e, *copy;
	bool logged;
	static const unsigned long cmds[] = {
		COIOMMU_PIN_RANGE, COIOMMU_UNPIN_RANGE,
	};

	pin_g(_metadata, self);

	/* Refused pins and unpins are counted, one per call. */
	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(-ERANGE, coiommu_pin_range(fd, OUT, PG));
	EXPECT_EQ(-EINVAL, coiommu_unpin_range(fd, G, PG - 1));
	EXPECT_EQ(-ERANGE, coiommu_pin_range(fd, R0 + NP * PG, 2 * PG));
	EXPECT_EQ(0, coiommu_pin_range(fd, G, PG));
	refused = st.refused;
	ASSERT_EQ(0, coiommu_get_stats(fd, &st));
	EXPECT_EQ(refused + 3, st.refused);

	for (i = 0; i < 2; i++) {
		unsigned long c = cmds[i];

		/* Unaligned, empty, overflowing: -EINVAL. */
		REFUSED(EINVAL, range_ex(fd, c, R0 + 0x800, PG, 0, -1, 0, 0));
		REFUSED(EINVAL, range_ex(fd, c, R0, 0x800, 0, -1, 0, 0));
		REFUSED(EINVAL, range_ex(fd, c, R0, PG + 1, 0, -1, 0, 0));
		REFUSED(EINVAL, range_ex(fd, c, G + 1, PG - 1, 0, -1, 0, 0));
		REFUSED(EINVAL, range_ex(fd, c, R0, 0, 0, -1, 0, 0));
		REFUSED(EINVAL, range_ex(fd, c, top, 2 * PG, 0, -1, 0, 0));
		REFUSED(EINVAL, range_ex(fd, c, G, top, 0, -1, 0, 0));

		/* Not all guest RAM: -ERANGE. */
		REFUSED(ERANGE, range_ex(fd, c, OUT, PG, 0, -1, 0, 0));
		REFUSED(ERANGE, range_ex(fd, c, R0 + NP * PG, PG, 0, -1, 0,
					 0));
		REFUSED(ERANGE, range_ex(fd, c, R0 + (NP - 1) * PG, 2 * PG,
					 0, -1, 0, 0));
		REFUSED(ERANGE, range_ex(fd, c, R1 - PG, 2 * PG, 0, -1, 0,
					 0));
		REFUSED(ERANGE, range_ex(fd, c, R1 + (NP - 1) * PG, 2 * PG,
					 0, -1, 0, 0));
		REFUSED(ERANGE, range_ex(fd, c, R0, R1 + NP * PG - R0, 0, -1,
					 0, 0));
		REFUSED(ERANGE, range_ex(fd, c, 0, R0 + PG, 0, -1, 0, 0));
		REFUSED(ERANGE, range_ex(fd, c, MAXGPA, PG, 0, -1, 0, 0));
		REFUSED(ERANGE, range_ex(fd, c, MAXGPA - PG, PG, 0, -1, 0,
					 0));
	}
	/* The refused straddling pin left the RAM part of it unpinned. */
	BLOCKED_AT(&self->v.a, PROBE, PROBE_PG, LEN);

	/* No device yet: -ENODEV, nothing pinned. */
	fd2 = coiommu_open();
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ct_ram_set_map(&self->v.g, fd2));
	EXPECT_EQ(-ENODEV, coiommu_pin_range(fd2, R0, 4 * PG));
	ASSERT_EQ(0, coiommu_get_stats(fd2, &st));
	EXPECT_EQ(0, st.pinned_pages);
	EXPECT_EQ(0, st.nr_devices);
	close(fd2);
	unchanged(_metadata, __LINE__, self, "pin without a device");

	/*
	 * The VMM's mapping is gone or read-only: -EFAULT, and all or
	 * nothing: the good pages of the range are not left pinned.
	 */
	unpin_g(_metadata, self);
	e = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, e);
	copy = malloc(4 * PG);
	ASSERT_NE(NULL, copy);
	ct_fill(e, 4 * PG, 0xe);
	memcpy(copy, e, 4 * PG);
	memcpy(m, self->v.g.r, 2 * sizeof(*m));
	m[2] = (struct coiommu_region){ 0x900000, 4 * PG, (uintptr_t)e, 0 };
	ASSERT_EQ(0, set_map(fd, m, 3));
	ASSERT_EQ(0, munmap(e + 3 * PG, PG));
	ASSERT_EQ(0, mprotect(e + 2 * PG, PG, PROT_READ));
	snap(_metadata, self);
	REFUSED(EFAULT, coiommu_pin_range(fd, 0x900000, 4 * PG));
	REFUSED(EFAULT, coiommu_pin_range(fd, 0x900000 + 3 * PG, PG));
	REFUSED(EFAULT, coiommu_pin_range(fd, 0x900000, 3 * PG));
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
	ASSERT_EQ(0, ct_edu_dma_fault(&self->v.a, &self->v.kmsg, 0x900000, 0, LEN,
				      true, &logged));
	EXPECT_EQ(0, memcmp(e, copy, 3 * PG)) {
		TH_LOG("DMA reached a page of a refused pin");
	}
	EXPECT_TRUE(logged);
	/* The good pages alone pin fine. */
	EXPECT_EQ(0, coiommu_pin_range(fd, 0x900000, 2 * PG));
	ASSERT_EQ(0, ct_edu_dma(&self->v.a, 0x900000 + PG, 0, LEN, true));
	EXPECT_EQ(0, memcmp(e + PG, self->buf, LEN));
	EXPECT_EQ(0, coiommu_unpin_range(fd, 0x900000, 4 * PG));
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
	free(copy);
	munmap(e, 3 * PG);
}

/* ---- COIOMMU_ADD_DEVICE -------------------------------------------------- */

TEST_F_TIMEOUT(co, bad_args_add_device, 180)
{
	struct ct_edu *a = &self->v.a, *b = &self->v.b;
	int fd = self->v.fd, null, dupfd, second;
	int bdf_a = ct_bdf_parse(a->bdf), bdf_b = ct_bdf_parse(b->bdf);
	uint8_t bufb[LEN];

	ASSERT_LE(0, bdf_a);
	ASSERT_LE(0, bdf_b);
	ASSERT_NE(bdf_a, bdf_b);
	pin_g(_metadata, self);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, null);

	/* Not open. */
	REFUSED(EBADF, coiommu_add_vfio_device(fd, -1, b->group, bdf_b));
	REFUSED(EBADF, coiommu_add_vfio_device(fd, b->device, -1, bdf_b));
	REFUSED(EBADF, coiommu_add_vfio_device(fd, 1000, b->group, bdf_b));
	REFUSED(EBADF, coiommu_add_vfio_device(fd, b->device, 1000, bdf_b));

	/* Not a VFIO device file of that group. */
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, null, b->group, bdf_b));
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, b->group, b->group, bdf_b));
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, b->container, b->group, bdf_b));
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, fd, b->group, bdf_b));
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, b->device, b->device, bdf_b));
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, b->device, null, bdf_b));
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, b->device, b->container, bdf_b));
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, b->device, fd, bdf_b));
	/* B's device with A's group. */
	REFUSED(EINVAL, coiommu_add_vfio_device(fd, b->device, a->group, bdf_b));

	/* Already added: the device (any file of it), or the BDF. */
	REFUSED(EEXIST, coiommu_add_vfio_device(fd, a->device, a->group, bdf_b));
	dupfd = dup(a->device);
	ASSERT_LE(0, dupfd);
	REFUSED(EEXIST, coiommu_add_vfio_device(fd, dupfd, a->group, bdf_b));
	close(dupfd);
	second = ioctl(a->group, VFIO_GROUP_GET_DEVICE_FD, a->bdf);
	if (second >= 0) {
		REFUSED(EEXIST, coiommu_add_vfio_device(fd, second, a->group, bdf_b));
		close(second);
	} else {
		TH_LOG("no second file of %s (%d): not tried", a->bdf, errno);
	}
	REFUSED(EEXIST, coiommu_add_vfio_device(fd, b->device, b->group, bdf_a));
	close(null);

	/* None of that added B: its domain has nothing mapped. */
	BLOCKED_AT(b, G, G_PG, LEN);

	/* Now properly: B gets the pinned page. */
	EXPECT_EQ(0, coiommu_add_vfio_device(fd, b->device, b->group, bdf_b));
	snap(_metadata, self);
	EXPECT_EQ(2, self->st.nr_devices);
	EXPECT_EQ(2, self->st.nr_domains);
	EXPECT_EQ(1, self->st.pinned_pages);
	CT_EDU_LOAD(&self->v.g, b, G, bufb, LEN);
	LANDS_AT(b, bufb, G + 1, G_PG);
	REFUSED(EEXIST, coiommu_add_vfio_device(fd, b->device, b->group, bdf_b));
	REFUSED(EEXIST, coiommu_add_vfio_device(fd, b->device, b->group,
						(bdf_b + 1) & 0xffff));
}

/* ---- guest RAM where the IOMMU reserves IOVAs --------------------------- */

/* The Intel IOMMU reserves the interrupt (MSI) window for every device. */
#define MSI_LO	0xfee00000UL
#define MSI_HI	0xfef00000UL

TEST_F_TIMEOUT(co, bad_args_reserved_iova, 120)
{
	struct coiommu_region r[CT_RAM_MAX_REGIONS + 3];
	struct coiommu_stats st;
	unsigned int nr = self->v.g.nr;
	size_t sz = MSI_HI - MSI_LO;
	uint8_t *mem;
	int fd2, bdf_b = ct_bdf_parse(self->v.b.bdf);

	ASSERT_LE(0, bdf_b);
	mem = mmap(NULL, 3 * sz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	pin_g(_metadata, self);

	/* Device A is in: a map that adds RAM over its window is refused. */
	memcpy(r, self->v.g.r, nr * sizeof(r[0]));
	r[nr] = (struct coiommu_region){ .gpa = MSI_LO, .size = sz,
					 .vaddr = (uintptr_t)mem };
	REFUSED(EINVAL, coiommu_set_memory(self->v.fd, r, nr + 1));
	/* Checked before -EBUSY (G is pinned), like every other region. */
	r[nr].gpa = MSI_LO + sz / 2;
	r[nr].size = sz;
	REFUSED(EINVAL, coiommu_set_memory(self->v.fd, r, nr + 1));
	unpin_g(_metadata, self);
	REFUSED(EINVAL, coiommu_set_memory(self->v.fd, r, nr + 1));
	r[nr].gpa = MSI_LO - PG;
	r[nr].size = 2 * PG;
	REFUSED(EINVAL, coiommu_set_memory(self->v.fd, r, nr + 1));

	/*
	 * The other order, in a second instance: RAM over the window, then
	 * the device. RAM right below and right above it is fine.
	 */
	fd2 = coiommu_open();
	ASSERT_LE(0, fd2);
	r[0] = (struct coiommu_region){ .gpa = MSI_LO - sz, .size = sz,
					.vaddr = (uintptr_t)mem };
	r[1] = (struct coiommu_region){ .gpa = MSI_LO, .size = sz,
					.vaddr = (uintptr_t)mem + sz };
	r[2] = (struct coiommu_region){ .gpa = MSI_HI, .size = sz,
					.vaddr = (uintptr_t)mem + 2 * sz };
	ASSERT_EQ(0, coiommu_set_memory(fd2, r, 3));
	EXPECT_EQ(-EINVAL, coiommu_add_vfio_device(fd2, self->v.b.device,
						   self->v.b.group, bdf_b));
	ASSERT_EQ(0, coiommu_get_stats(fd2, &st));
	EXPECT_EQ(0, st.nr_devices);
	EXPECT_EQ(0, st.nr_domains);
	r[1] = r[2];
	ASSERT_EQ(0, coiommu_set_memory(fd2, r, 2));
	EXPECT_EQ(0, coiommu_add_vfio_device(fd2, self->v.b.device, self->v.b.group,
					     bdf_b));
	ASSERT_EQ(0, coiommu_get_stats(fd2, &st));
	EXPECT_EQ(1, st.nr_devices);
	/* Pages on both sides of the window pin and map. */
	EXPECT_EQ(0, coiommu_pin_range(fd2, MSI_LO - PG, PG));
	EXPECT_EQ(0, coiommu_pin_range(fd2, MSI_HI, PG));
	ASSERT_EQ(0, coiommu_get_stats(fd2, &st));
	EXPECT_EQ(2, st.pinned_pages);
	close(fd2);
	EXPECT_EQ(0, ct_pins_wait(&self->v.env.base, 0, 5000));
	munmap(mem, 3 * sz);
}

/* ---- another address space: -EPERM ------------------------------------- */

static void __attribute__((noreturn))
foreign(FIXTURE_DATA(co) *self, int rep, bool pinned)
{
	struct coiommu_region alt[3];
	struct coiommu_stats st;

	if (!pinned) {
		CT_REC_EQ(rep, -EPERM, set_map(self->v.fd, alt,
					       alt_map(self, alt)));
		CT_REC_EQ(rep, -EPERM, ct_co_add_edu(self->v.fd, &self->v.b));
		CT_REC_EQ(rep, -EPERM, coiommu_pin_range(self->v.fd, G, PG));
	} else {
		CT_REC_EQ(rep, -EPERM, coiommu_unpin_range(self->v.fd, G, PG));
		CT_REC_EQ(rep, -EPERM, coiommu_pin_range(self->v.fd, PROBE, PG));
	}
	CT_REC_EQ(rep, -EPERM, coiommu_unpin_range(self->v.fd, R0, NP * PG));
	CT_REC_EQ(rep, -EPERM, coiommu_get_stats(self->v.fd, &st));
	/* Documentation/uapi.rst: the version answers anyone. */
	CT_REC_EQ(rep, COIOMMU_API_VERSION,
		  ct_co_ioctl(self->v.fd, COIOMMU_GET_API_VERSION, NULL));
	/* The forked copy of the fd is closed by exit: no teardown. */
	ct_rec_end(rep);
	_exit(0);
}

static void run_foreign(struct __test_metadata *_metadata,
			FIXTURE_DATA(co) *self, bool pinned)
{
	int p[2];
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		foreign(self, p[1], pinned);
	}
	close(p[1]);
	EXPECT_EQ(pinned ? 5 : 6,
		  ct_rec_collect(_metadata, "forked child", p[0], pid));
	close(p[0]);
}

struct thread_arg {
	int fd;
	int pin, stats;
};

static void *same_mm(void *p)
{
	struct thread_arg *t = p;
	struct coiommu_stats st;

	t->pin = coiommu_pin_range(t->fd, PROBE, PG);
	t->stats = coiommu_get_stats(t->fd, &st);
	return NULL;
}

TEST_F_TIMEOUT(co, bad_args_fork, 120)
{
	struct thread_arg t = { .fd = self->v.fd, .pin = 1, .stats = 1 };
	pthread_t th;

	/* Map, device, pins: nothing a forked child does counts. */
	self->probe = true;
	run_foreign(_metadata, self, false);
	unchanged(_metadata, __LINE__, self, "the child's calls");
	self->probe = false;
	pin_g(_metadata, self);
	run_foreign(_metadata, self, true);
	unchanged(_metadata, __LINE__, self, "the child's calls");
	EXPECT_EQ(1, self->st.nr_devices);

	/* Another thread of the VMM is the VMM. */
	ASSERT_EQ(0, pthread_create(&th, NULL, same_mm, &t));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, t.pin);
	EXPECT_EQ(0, t.stats);
	snap(_metadata, self);
	EXPECT_EQ(2, self->st.pinned_pages);
	LANDS_AT(&self->v.a, self->buf, PROBE, PROBE_PG);
	EXPECT_EQ(0, coiommu_unpin_range(self->v.fd, R0, NP * PG));
}

TEST_HARNESS_MAIN
