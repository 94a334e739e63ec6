/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The checks every coIOMMU test ends with, for use inside the kselftest
 * harness' FIXTURE_SETUP/FIXTURE_TEARDOWN: the module loads before the test,
 * and afterwards no FOLL_PIN pin is outstanding, the test process has no
 * locked_vm left, and rmmod succeeds.
 */
#ifndef CT_FIXTURE_H
#define CT_FIXTURE_H

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "ct.h"

struct ct_env {
	struct ct_pins base;
	bool ready;
	long leak;	/* FOLL_PIN pins the module keeps on purpose */
};

static inline void ct_env_setup(struct __test_metadata *_metadata,
				struct ct_env *env)
{
	ASSERT_EQ(0, ct_module_load());
	ASSERT_EQ(0, ct_pins_read(&env->base));
	env->ready = true;
}

/* Call after closing every fd of the test. */
static inline void ct_env_teardown(struct __test_metadata *_metadata,
				   struct ct_env *env)
{
	if (!env->ready)
		return;
	/*
	 * A failed ASSERT with a handler block leaves the harness's trigger
	 * set (it leaves before resetting it): the next EXPECT would run its
	 * handler and log a failure that did not happen.
	 */
	_metadata->trigger = 0;
	EXPECT_EQ(env->leak, ct_pins_outstanding(&env->base)) {
		TH_LOG("FOLL_PIN pins leaked (%ld accepted)", env->leak);
	}
	EXPECT_EQ(0, ct_locked_vm_kb(getpid())) {
		TH_LOG("locked_vm not returned");
	}
	EXPECT_EQ(0, ct_module_unload()) {
		TH_LOG("rmmod " CT_MODULE " failed");
	}
}

/* A fixture of these checks alone, for a test that needs nothing more. */
#define CT_ENV_FIXTURE(name)						\
	FIXTURE(name) {							\
		struct ct_env env;					\
	};								\
									\
	FIXTURE_SETUP(name)						\
	{								\
		ct_env_setup(_metadata, &self->env);			\
	}								\
									\
	FIXTURE_TEARDOWN(name)						\
	{								\
		ct_env_teardown(_metadata, &self->env);			\
	}

/*
 * A test that made the module keep pins on purpose (pages it counts in
 * coiommu_stats.mismatches: it leaks them rather than risk releasing a
 * pin another party may already have released) says how many: the
 * teardown then expects exactly that many outstanding.
 */
static inline void ct_env_accept_leak(struct ct_env *env, long pins)
{
	env->leak = pins;
}

/*
 * DMA proofs against a struct ct_ram (see ct.h). Each check names the
 * caller's line. After a mismatch the shadow is resynchronised with the
 * arena so that one stray write is reported once.
 */
static inline void ct_ram_check(struct __test_metadata *_metadata,
				int line, struct ct_ram *g,
				const char *what)
{
	long d = ct_ram_diff(g);

	EXPECT_EQ(-1, d) {
		TH_LOG("line %d: %s: guest memory differs at arena offset 0x%lx (page %ld): 0x%02x, expected 0x%02x",
		       line, what, d, d / (long)CT_PAGE, g->arena[d],
		       g->shadow[d]);
		memcpy(g->shadow, g->arena, g->size);
	}
}

/*
 * Load @len bytes from guest @gpa into edu's buffer (RAM to device) and
 * return in @buf what the buffer must now hold. @gpa must be mapped.
 */
static inline void ct_edu_load(struct __test_metadata *_metadata, int line,
			       struct ct_ram *g, struct ct_edu *e,
			       uint64_t gpa, uint8_t *buf, size_t len)
{
	ASSERT_EQ(0, ct_edu_dma(e, gpa, 0, len, false)) {
		TH_LOG("line %d: edu DMA from 0x%llx did not finish", line,
		       (unsigned long long)gpa);
	}
	ASSERT_EQ(0, ct_ram_read(g, gpa, buf, len));
}

/*
 * edu writes the first @len bytes of its buffer (which hold @buf) to
 * @gpa: exactly those guest bytes change, nothing else in the arena.
 */
static inline void ct_dma_lands(struct __test_metadata *_metadata, int line,
				struct ct_ram *g, struct ct_edu *e,
				uint64_t gpa, const uint8_t *buf, size_t len)
{
	char what[96];

	ASSERT_EQ(0, ct_edu_dma(e, gpa, 0, len, true)) {
		TH_LOG("line %d: edu DMA to 0x%llx did not finish", line,
		       (unsigned long long)gpa);
	}
	ASSERT_EQ(0, ct_ram_expect(g, gpa, buf, len));
	snprintf(what, sizeof(what), "DMA write of %zu bytes to 0x%llx by %s",
		 len, (unsigned long long)gpa, e->bdf);
	ct_ram_check(_metadata, line, g, what);
}

/*
 * edu writes @len bytes to @gpa, which must not be mapped: guest memory
 * stays as it was and the IOMMU logs a write fault for that page.
 */
static inline void ct_dma_blocked(struct __test_metadata *_metadata,
				  int line, struct ct_ram *g,
				  struct ct_edu *e, struct ct_kmsg *k,
				  uint64_t gpa, size_t len)
{
	char what[96];
	bool logged;

	ASSERT_EQ(0, ct_edu_dma_fault(e, k, gpa, 0, len, true, &logged)) {
		TH_LOG("line %d: edu DMA to 0x%llx did not finish", line,
		       (unsigned long long)gpa);
	}
	snprintf(what, sizeof(what),
		 "DMA write of %zu bytes to unmapped 0x%llx by %s", len,
		 (unsigned long long)gpa, e->bdf);
	ct_ram_check(_metadata, line, g, what);
	EXPECT_TRUE(logged) {
		TH_LOG("line %d: no DMAR write fault logged for 0x%llx by %s",
		       line, (unsigned long long)gpa, e->bdf);
	}
}

#define CT_RAM_CHECK(g, what)	ct_ram_check(_metadata, __LINE__, g, what)
#define CT_EDU_LOAD(g, e, gpa, buf, len) \
	ct_edu_load(_metadata, __LINE__, g, e, gpa, buf, len)
#define CT_DMA_LANDS(g, e, gpa, buf, len) \
	ct_dma_lands(_metadata, __LINE__, g, e, gpa, buf, len)
#define CT_DMA_BLOCKED(g, e, k, gpa, len) \
	ct_dma_blocked(_metadata, __LINE__, g, e, k, gpa, len)

/*
 * Read the records a forked child sends with ct_rec_send() until it closes
 * the pipe, check each one, and reap the child: it must have sent its end
 * record and exited 0. The caller closed its own copy of the write end.
 * Returns the number of checks the child made.
 */
static inline int ct_rec_collect(struct __test_metadata *_metadata,
				 const char *who, int fd, pid_t pid)
{
	struct ct_rec r;
	bool end = false;
	int n = 0, status;
	ssize_t len;

	while ((len = read(fd, &r, sizeof(r))) == sizeof(r)) {
		r.what[sizeof(r.what) - 1] = 0;
		if (r.op == 'E') {
			end = true;
			continue;
		}
		n++;
		switch (r.op) {
		case '=':
			EXPECT_EQ(r.expected, r.seen) {
				TH_LOG("%s: line %s", who, r.what);
			}
			break;
		case '!':
			EXPECT_NE(r.expected, r.seen) {
				TH_LOG("%s: line %s", who, r.what);
			}
			break;
		case '>':
			EXPECT_LT(r.expected, r.seen) {
				TH_LOG("%s: line %s", who, r.what);
			}
			break;
		default:
			EXPECT_EQ(0, r.op) {
				TH_LOG("%s: garbled record", who);
			}
		}
	}
	EXPECT_EQ(0, len) {
		TH_LOG("%s: short read on the report pipe", who);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		TH_LOG("%s: exit status 0x%x", who, status);
	}
	EXPECT_TRUE(end) {
		TH_LOG("%s: did not finish its checks", who);
	}
	return n;
}

#endif /* CT_FIXTURE_H */
