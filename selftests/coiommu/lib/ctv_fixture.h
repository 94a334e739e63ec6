/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the tests that play a VMM without a KVM guest: the
 * environment checks of ct_fixture.h, the VM's edu devices through VFIO,
 * guest RAM in a struct ct_ram, the kernel log (DMAR faults) and one
 * /dev/coiommu instance that holds that RAM.
 */
#ifndef CTV_FIXTURE_H
#define CTV_FIXTURE_H

#include <unistd.h>

#include "ct_fixture.h"

struct ctv {
	struct ct_env env;
	struct ct_edu a, b;	/* opened by the setup as cfg.open_edu says */
	struct ct_kmsg kmsg;
	struct ct_ram g;
	char bdf[4][32];	/* the VM's edu devices, in bus order */
	unsigned int nr_bdf;	/* how many of them the test needs */
	int fd;			/* the instance, or -1 */
};

/* @size bytes of guest RAM at @gpa, backed by the arena at @arena_off. */
struct ctv_region {
	uint64_t gpa;
	size_t arena_off;
	size_t size;
};

struct ctv_cfg {
	unsigned int min_edu;	/* edu devices the VM must have */
	unsigned int open_edu;	/* 0, 1 (a) or 2 (a, b, in two domains) */
	int open_retry_ms;	/* ct_edu_open_retry(), not ct_edu_open() */
	size_t arena;		/* bytes of guest RAM */
	uint64_t base;		/* its GPA, when @ram is empty */
	/* Or the regions, in the order handed to the module. */
	struct ctv_region ram[CT_RAM_MAX_REGIONS];
	uint32_t seed;		/* of the pattern guest RAM starts with */
	bool no_instance;	/* the test opens /dev/coiommu itself */
	bool add_a;		/* add edu a to the instance */
};

static inline void ctv_open_edu(struct __test_metadata *_metadata,
				struct ct_edu *e, const char *bdf,
				int retry_ms)
{
	if (retry_ms) {
		ASSERT_EQ(0, ct_edu_open_retry(e, bdf, -1, retry_ms));
	} else {
		ASSERT_EQ(0, ct_edu_open(e, bdf, -1));
	}
}

/* Every part is made safe for ctv_teardown() first, whatever fails. */
static inline void ctv_setup(struct __test_metadata *_metadata,
			     struct ctv *v, const struct ctv_cfg *cfg)
{
	unsigned int i, n = cfg->min_edu > cfg->open_edu ? cfg->min_edu :
			    cfg->open_edu;
	const struct ctv_region *r;

	v->fd = -1;
	v->kmsg.fd = -1;
	v->a.device = v->a.group = v->a.container = -1;
	v->b.device = v->b.group = v->b.container = -1;
	v->nr_bdf = 0;
	ct_env_setup(_metadata, &v->env);
	ASSERT_LE(n, ct_edu_list(v->bdf, 4)) {
		TH_LOG("the VM must have %u edu devices", n);
	}
	v->nr_bdf = n;
	if (cfg->open_edu > 0)
		ctv_open_edu(_metadata, &v->a, v->bdf[0], cfg->open_retry_ms);
	if (cfg->open_edu > 1) {
		ctv_open_edu(_metadata, &v->b, v->bdf[1], cfg->open_retry_ms);
		ASSERT_NE(v->a.group_id, v->b.group_id);
	}

	ASSERT_EQ(0, ct_ram_init(&v->g, cfg->arena));
	if (!cfg->ram[0].size)
		ASSERT_EQ(0, ct_ram_add(&v->g, cfg->base, 0, cfg->arena));
	for (i = 0; i < CT_RAM_MAX_REGIONS && cfg->ram[i].size; i++) {
		r = &cfg->ram[i];
		ASSERT_EQ(0, ct_ram_add(&v->g, r->gpa, r->arena_off, r->size));
	}
	ct_ram_fill(&v->g, cfg->seed);
	ASSERT_EQ(0, ct_kmsg_open(&v->kmsg));
	if (cfg->no_instance)
		return;

	v->fd = coiommu_open();
	ASSERT_LE(0, v->fd);
	ASSERT_EQ(COIOMMU_API_VERSION,
		  ct_co_ioctl(v->fd, COIOMMU_GET_API_VERSION, NULL));
	ASSERT_EQ(0, ct_ram_set_map(&v->g, v->fd));
	if (cfg->add_a)
		ASSERT_EQ(0, ct_co_add_edu(v->fd, &v->a));
}

/*
 * Close the instance, the log and the devices, give the devices back to
 * vfio-pci for the tests after this one (a test may have unbound them),
 * then ct_env_teardown()'s checks.
 */
static inline void ctv_teardown(struct __test_metadata *_metadata,
				struct ctv *v)
{
	unsigned int i;

	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	ct_kmsg_close(&v->kmsg);
	ct_edu_close(&v->b);
	ct_edu_close(&v->a);
	for (i = 0; i < v->nr_bdf; i++)
		ct_edu_bind_vfio(v->bdf[i]);
	ct_ram_free(&v->g);
	ct_env_teardown(_metadata, &v->env);
}

/*
 * The whole fixture in one line (see CTG_FIXTURE() for the raw guest):
 *
 *	CTV_FIXTURE(co, .open_edu = 1, .add_a = true,
 *		    .arena = NP * CT_PAGE, .base = BASE, .seed = 0xfa17);
 *
 * What follows the name initialises the struct ctv_cfg; self->v is the
 * struct ctv.
 */
#define CTV_FIXTURE(name, ...)						\
	FIXTURE(name) {							\
		struct ctv v;						\
	};								\
									\
	FIXTURE_SETUP(name)						\
	{								\
		const struct ctv_cfg cfg = { __VA_ARGS__ };		\
									\
		ctv_setup(_metadata, &self->v, &cfg);			\
	}								\
									\
	FIXTURE_TEARDOWN(name)						\
	{								\
		ctv_teardown(_metadata, &self->v);			\
	}

#endif /* CTV_FIXTURE_H */
