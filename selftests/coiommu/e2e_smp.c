// SPDX-License-Identifier: GPL-2.0
/*
 * e2e_smp: a real Linux guest with two vCPUs doing DMA on both at once.
 * coiommu-vmm -c 2 boots a Linux guest with both edu devices of the test
 * VM passed through; the guest loads the coIOMMU guest driver and
 * edu_dmatest, then runs edu_dmatest on the first edu pinned to CPU 0 and
 * on the second pinned to CPU 1, both started together
 * (tools/vmm/guest-e2e e2e.smp), and every byte comes back right on both. On the host the
 * coiommu tracepoints show each vCPU's doorbell rung and its requests
 * served by task work in that vCPU's own thread (two threads of
 * coiommu-vmm, one per vCPU), none refused. The guest then stays idle
 * with nothing mapped until its DTT is empty (tools/vmm/guest-e2e
 * e2e.idlewait, at most IDLE_MAX_S): the host's unpinner (every 1000 ms,
 * every page in every pass: unpin_old_every 1) unpins every page pinned
 * when the guest went idle within two of its passes (coiommu_scan,
 * counted from a trace marker written when "e2e: smp: ... done" arrives:
 * both runs had ended, and the guest maps nothing more until its last
 * run; see e2e_unpin), and the pinned pages reach 0 before the guest maps
 * again. After the VMM exits every page was unpinned as often as it was
 * pinned (coiommu_pin/coiommu_unpin), no pin is left and coiommu_host
 * unloads.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>

#include "ct_fixture.h"
#include "ct_e2e.h"

#define NR_VCPUS	2
#define PERIOD_MS	1000
#define STATS_S		0.5
#define IDLE_S		1	/* at least, then until the DTT is empty */
#define IDLE_MAX_S	60
#define IDLE_MARK	"e2e_smp: guest idle"
#define MAX_PASSES	2

static const char *tracefs = "/sys/kernel/tracing";

static int trace_set(const char *file, const char *val)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", tracefs, file);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -EIO;
	close(fd);
	return ret;
}

/*
 * Empty the trace buffer and enable the request path's events, with
 * ct_trace_start()'s (the unpinner's: coiommu_scan, coiommu_unpin).
 */
static int trace_start(void)
{
	static const char *const ev[] = { "coiommu_doorbell", "coiommu_request",
					  "coiommu_refuse", "coiommu_pin" };
	unsigned int i;
	int ret;

	if (access("/sys/kernel/tracing/trace", W_OK))
		mount("tracefs", tracefs, "tracefs", 0, NULL);
	if (access("/sys/kernel/tracing/trace", W_OK))
		tracefs = "/sys/kernel/debug/tracing";
	ret = trace_set("buffer_size_kb", "4096");
	if (!ret)
		ret = ct_trace_start();
	for (i = 0; !ret && i < sizeof(ev) / sizeof(ev[0]); i++)
		ret = ct_trace_enable(ev[i]);
	return ret;
}

/* Mark the trace when both runs have ended; *@arg: 1 done, -1 failed. */
static void mark_idle(const char *line, void *arg)
{
	int *marked = arg;

	if (!*marked && strstr(line, "e2e: smp: ") &&
	    strstr(line, " CPUs done"))
		*marked = ct_trace_mark(IDLE_MARK) ? -1 : 1;
}

static void trace_stop(void)
{
	trace_set("events/coiommu/enable", "0");
}

struct smp_vcpu {
	unsigned long doorbells_tw;	/* coiommu_doorbell path=task_work */
	unsigned long doorbells_wk;	/* coiommu_doorbell path=worker */
	unsigned long requests;		/* coiommu_request */
	unsigned long failed;		/* of those, ret != 0 */
	int tid;			/* the thread the requests ran in */
	int tids;			/* how many different threads */
	char comm[32];
};

/*
 * Split a trace line "  comm-tid  [cpu] flags  ts: event: fields" into
 * comm, tid and the text after "event: ". Returns that text or NULL.
 */
static const char *trace_line(const char *line, const char *event,
			      char comm[32], int *tid)
{
	char key[48], task[64];
	const char *p, *dash;
	size_t len;

	snprintf(key, sizeof(key), " %s: ", event);
	p = strstr(line, key);
	if (!p || sscanf(line, " %63s", task) != 1)
		return NULL;
	dash = strrchr(task, '-');
	if (!dash)
		return NULL;
	len = dash - task < 31 ? dash - task : 31;
	memcpy(comm, task, len);
	comm[len] = 0;
	*tid = atoi(dash + 1);
	return p + strlen(key);
}

/* Pages pinned minus pages unpinned, per gfn, over the whole trace. */
struct smp_gfn {
	unsigned long long gfn;
	long net;
	char last[16];		/* cause of its last unpin */
};

static struct smp_gfn gfns[4096];
static unsigned int nr_gfns, unbalanced;

static void gfn_add(unsigned long long gfn, unsigned long n, long sign,
		    const char *cause)
{
	unsigned long i;
	unsigned int k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < nr_gfns && gfns[k].gfn != gfn + i; k++)
			;
		if (k == nr_gfns) {
			if (nr_gfns == sizeof(gfns) / sizeof(gfns[0]))
				return;
			gfns[nr_gfns].gfn = gfn + i;
			gfns[nr_gfns].net = 0;
			gfns[nr_gfns++].last[0] = 0;
		}
		gfns[k].net += sign;
		if (cause)
			snprintf(gfns[k].last, sizeof(gfns[k].last), "%s",
				 cause);
	}
}

/* Count the events per vCPU; returns the refusals seen, or -1. */
static long trace_count(struct smp_vcpu *v, unsigned int nr)
{
	char line[512], comm[32], path[128];
	unsigned int vcpu, i;
	long refused = 0;
	const char *f;
	int tid, ret;
	FILE *t;

	snprintf(path, sizeof(path), "%s/trace", tracefs);
	t = fopen(path, "re");
	if (!t)
		return -1;
	memset(v, 0, nr * sizeof(*v));
	while (fgets(line, sizeof(line), t)) {
		if (line[0] == '#')
			continue;
		if ((f = trace_line(line, "coiommu_doorbell", comm, &tid))) {
			char path_s[16];

			if (sscanf(f, "instance=%*u vcpu=%u path=%15s", &vcpu,
				   path_s) != 2 || vcpu >= nr)
				continue;
			if (!strcmp(path_s, "task_work"))
				v[vcpu].doorbells_tw++;
			else
				v[vcpu].doorbells_wk++;
		} else if ((f = trace_line(line, "coiommu_request", comm, &tid))) {
			if (sscanf(f, "instance=%*u vcpu=%u req=%*x ret=%d",
				   &vcpu, &ret) != 2 || vcpu >= nr)
				continue;
			v[vcpu].requests++;
			if (ret)
				v[vcpu].failed++;
			if (v[vcpu].tid != tid) {
				v[vcpu].tids++;
				v[vcpu].tid = tid;
				strcpy(v[vcpu].comm, comm);
			}
		} else if (trace_line(line, "coiommu_refuse", comm, &tid)) {
			refused++;
		} else if ((f = trace_line(line, "coiommu_pin", comm, &tid))) {
			unsigned long long gfn;
			unsigned long n;

			if (sscanf(f, "instance=%*u gfn=%llx pinned=%lu", &gfn,
				   &n) == 2)
				gfn_add(gfn, n, 1, NULL);
		} else if ((f = trace_line(line, "coiommu_unpin", comm, &tid))) {
			unsigned long long gfn;
			char cause[16];
			unsigned long n;

			if (sscanf(f, "instance=%*u gfn=%llx npages=%lu cause=%15s",
				   &gfn, &n, cause) == 3)
				gfn_add(gfn, n, -1, cause);
		}
	}
	fclose(t);
	for (i = 0; i < nr_gfns; i++)
		if (gfns[i].net && ++unbalanced)
			fprintf(stderr, "# gfn %#llx: pinned %ld more times than unpinned (last unpin: %s)\n",
				gfns[i].gfn, gfns[i].net,
				gfns[i].last[0] ? gfns[i].last : "none");
	for (i = 0; i < nr; i++)
		fprintf(stderr, "# vcpu %u: %lu doorbells by task work, %lu by the worker; %lu requests (%lu failed) in %d thread(s), last %s-%d\n",
			i, v[i].doorbells_tw, v[i].doorbells_wk, v[i].requests,
			v[i].failed, v[i].tids, v[i].comm, v[i].tid);
	return refused;
}

/* Whether the line at @s (console: CR LF) ends with @end. */
static bool line_ends(const char *s, const char *end)
{
	const char *eol = strchr(s, '\n');
	size_t len = eol ? (size_t)(eol - s) : strlen(s);

	while (len && s[len - 1] == '\r')
		len--;
	return len >= strlen(end) &&
	       !strncmp(s + len - strlen(end), end, strlen(end));
}

/* e2e's fixture, with both edu devices of the test VM on vfio-pci. */
FIXTURE(smp) {
	struct ct_env env;
	char bdf[2][32];
};

FIXTURE_SETUP(smp)
{
	int i;

	ct_env_setup(_metadata, &self->env);
	ASSERT_EQ(0, access("/dev/kvm", R_OK | W_OK));
	ASSERT_EQ(2, ct_edu_list(self->bdf, 2));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, ct_edu_bind_vfio(self->bdf[i]));
}

FIXTURE_TEARDOWN(smp)
{
	trace_stop();
	ct_env_teardown(_metadata, &self->env);
}

TEST_F_TIMEOUT(smp, e2e_smp, CT_VMM_TEST_TIMEOUT)
{
	struct ct_e2e_stat st[1024], *fin, *before = NULL, *low = NULL;
	struct smp_vcpu v[NR_VCPUS];
	const char *smp, *idle, *idle_end, *empty;
	struct ct_trace_idle ti;
	struct ct_e2e_guest g;
	struct ct_vmm_run r;
	char args[320], want[96];
	int n, i, marked = 0;
	long t0;

	/*
	 * Every page in every pass: the pages the two runs keep mapping and
	 * unmapping are found busy pass after pass, and with the default
	 * generations (10) they would move to the old generation, looked at
	 * every 10th sweep only. Generations are tested apart
	 * (generations, lazy_unpin_busy).
	 */
	ASSERT_EQ(0, ct_write_file("/sys/module/coiommu_host/parameters/unpin_old_every",
				   "1"));
	ASSERT_EQ(0, trace_start());
	snprintf(args, sizeof(args),
		 "-m 256 -c %d -t 210 -s %.1f -u %d -a \"quiet vmm.run=/bin/guest-e2e e2e.pages=%d e2e.smp e2e.idle=%d e2e.idlewait=%d\" -d %s -d %s",
		 NR_VCPUS, STATS_S, PERIOD_MS, CT_E2E_PAGES, IDLE_S,
		 IDLE_MAX_S, self->bdf[0], self->bdf[1]);
	ASSERT_EQ(0, ct_vmm_run_lines(&r, args, mark_idle, &marked));
	t0 = ct_now_ms();
	trace_stop();
	ct_vmm_print(&r);
	ASSERT_EQ(0, r.status);
	/*
	 * The instance's last reference may go a moment after the VMM's
	 * exit (as ct_module_unload() allows for): its pins with it.
	 */
	EXPECT_EQ(0, ct_pins_wait(&self->env.base, 0, 2000));
	TH_LOG("pins released %ld ms after the VMM's exit", ct_now_ms() - t0);
	snprintf(want, sizeof(want), "vmm-guest: hello from Linux ");
	EXPECT_NE(NULL, strstr(r.out, want));
	EXPECT_NE(NULL, strstr(r.out, ", 2 CPU(s), "));

	/* Verified DMA on each device, each from its own vCPU, at once. */
	for (i = 0; i < NR_VCPUS; i++) {
		snprintf(want, sizeof(want), "e2e: smp: cpu %d 0000:", i);
		smp = strstr(r.out, want);
		ASSERT_NE(NULL, smp) TH_LOG("no run on CPU %d", i);
		snprintf(want, sizeof(want), ": pass %d", CT_E2E_TRANSFERS);
		EXPECT_TRUE(line_ends(smp, want)) TH_LOG("CPU %d: %.60s", i, smp);
	}
	smp = strstr(r.out, "e2e: smp: 2 devices on 2 CPUs done");
	ASSERT_NE(NULL, smp);
	ASSERT_EQ(0, ct_e2e_guest_stats(r.out, NULL, &g));
	EXPECT_EQ(0, g.refused_pages);
	EXPECT_EQ(0, g.timeouts);

	/*
	 * The host: each vCPU rang its own doorbell, and its requests were
	 * served by task work, in one thread of coiommu-vmm per vCPU.
	 */
	EXPECT_EQ(0, trace_count(v, NR_VCPUS));
	/* Every page pinned was unpinned exactly as often, by the exit. */
	EXPECT_LE(1, nr_gfns);
	EXPECT_EQ(0, unbalanced);
	for (i = 0; i < NR_VCPUS; i++) {
		EXPECT_LE(1, v[i].doorbells_tw) TH_LOG("vcpu %d", i);
		EXPECT_LE(1, v[i].requests) TH_LOG("vcpu %d", i);
		EXPECT_EQ(0, v[i].failed);
		EXPECT_EQ(1, v[i].tids) TH_LOG("vcpu %d", i);
		EXPECT_STREQ("coiommu-vmm", v[i].comm);
	}
	EXPECT_NE(v[0].tid, v[1].tid);

	/* Idle with nothing mapped: the unpinner brings the pins to 0. */
	idle = strstr(r.out, "e2e: idle from");
	idle_end = strstr(r.out, "e2e: idle end");
	ASSERT_NE(NULL, idle);
	ASSERT_NE(NULL, idle_end);
	fin = ct_e2e_final(_metadata, r.out, st, 1024, 2, &n);
	for (i = 0; i < n; i++) {
		if (st[i].at < idle)
			before = &st[i];
		else if (st[i].at < idle_end &&
			 (!low || st[i].pages < low->pages))
			low = &st[i];
	}
	ASSERT_NE(NULL, before);
	TH_LOG("host: %llu requests, %llu refused, peak %llu pinned; %llu pinned before idle, %llu at %.1f s (%.1f s later); %llu pinned at exit",
	       fin->requests, fin->refused, fin->peak, before->pages,
	       low ? low->pages : before->pages, low ? low->t : before->t,
	       low ? low->t - before->t : 0.0, fin->pages);
	/* The guest's DTT emptied: the host released every page it tracked. */
	empty = strstr(idle, "e2e: idle: DTT empty");
	EXPECT_TRUE(empty && empty < idle_end)
		TH_LOG("the guest's DTT was not empty after %d s idle", IDLE_MAX_S);
	/*
	 * Every page pinned when the guest went idle went within two passes
	 * of the unpinner, and before the guest mapped again: the pinned
	 * pages reached 0 while the guest was idle.
	 */
	ASSERT_EQ(1, marked);
	ct_e2e_idle_passes(_metadata, IDLE_MARK, MAX_PASSES, &ti);
	EXPECT_EQ(0, ti.late);
	EXPECT_TRUE(ti.zero) TH_LOG("pinned pages never dropped to 0 while the guest was idle");
	EXPECT_LE(CT_E2E_PAGES, fin->peak);
	EXPECT_EQ(0, fin->refused);
	EXPECT_EQ(fin->requests, g.requests);
	EXPECT_EQ(v[0].requests + v[1].requests, fin->requests);
	ct_vmm_free(&r);
}

TEST_HARNESS_MAIN
