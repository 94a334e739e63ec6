// SPDX-License-Identifier: GPL-2.0
/*
 * The coiommu tracepoints, read back by tests; see ct_trace.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "ct.h"
#include "ct_trace.h"

static const char *trace_dir;

static int trace_write(const char *file, const char *s, bool trunc)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", trace_dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC | (trunc ? O_TRUNC : 0));
	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

static bool have_events(const char *dir)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/events/coiommu/coiommu_scan/enable",
		 dir);
	return access(path, W_OK) == 0;
}

int ct_trace_start(void)
{
	static const char *const events[] = {
		"events/coiommu/coiommu_scan/enable",
		"events/coiommu/coiommu_unpin/enable",
	};
	unsigned int i;
	int ret;

	trace_dir = "/sys/kernel/tracing";
	if (!have_events(trace_dir)) {
		mount("tracefs", trace_dir, "tracefs", 0, NULL);
		if (!have_events(trace_dir))
			trace_dir = "/sys/kernel/debug/tracing";
		if (!have_events(trace_dir))
			return -ENOENT;
	}
	ret = trace_write("trace_clock", "global", false);
	if (!ret)
		ret = trace_write("tracing_on", "1", false);
	if (!ret)
		ret = trace_write("trace", "", true);
	for (i = 0; !ret && i < sizeof(events) / sizeof(events[0]); i++)
		ret = trace_write(events[i], "1", false);
	return ret;
}

int ct_trace_enable(const char *event)
{
	char file[96];

	if (!trace_dir)
		return -ENOENT;
	snprintf(file, sizeof(file), "events/coiommu/%s/enable", event);
	return trace_write(file, "1", false);
}

void ct_trace_stop(void)
{
	if (!trace_dir)
		return;
	trace_write("events/coiommu/enable", "0", false);
}

int ct_trace_mark(const char *mark)
{
	return trace_dir ? trace_write("trace_marker", mark, false) : -ENOENT;
}

static bool parse(const char *line, struct ct_trace_ev *ev)
{
	unsigned long long inst, a, b;
	const char *p;
	int old;

	memset(ev, 0, sizeof(*ev));
	p = strstr(line, "coiommu_scan: ");
	if (p) {
		if (sscanf(p, "coiommu_scan: instance=%llu scanned=%lu released=%lu sweeps=%llu old_generation=%d",
			   &inst, &ev->scanned, &ev->released, &a, &old) != 5)
			return false;
		ev->type = CT_EV_SCAN;
		ev->inst = inst;
		ev->sweeps = a;
		ev->old_turn = old;
		return true;
	}
	p = strstr(line, "coiommu_unpin: ");
	if (p) {
		if (sscanf(p, "coiommu_unpin: instance=%llu gfn=%llx npages=%llu cause=%15s",
			   &inst, &a, &b, ev->cause) != 4)
			return false;
		ev->type = CT_EV_UNPIN;
		ev->inst = inst;
		ev->gfn = a;
		ev->npages = b;
		return true;
	}
	p = strstr(line, "coiommu_pin: ");
	if (p) {
		if (sscanf(p, "coiommu_pin: instance=%llu gfn=%llx pinned=%llu ret=%d",
			   &inst, &a, &b, &ev->ret) != 4)
			return false;
		ev->type = CT_EV_PIN;
		ev->inst = inst;
		ev->gfn = a;
		ev->npages = b;
		return true;
	}
	p = strstr(line, "tracing_mark_write: ");
	if (p) {
		ev->type = CT_EV_MARK;
		snprintf(ev->mark, sizeof(ev->mark), "%s",
			 p + strlen("tracing_mark_write: "));
		ev->mark[strcspn(ev->mark, "\n")] = 0;
		return true;
	}
	return false;
}

int ct_trace_read(struct ct_trace_ev **evs, size_t *n)
{
	struct ct_trace_ev *v = NULL, ev, *nv;
	size_t cap = 0, cnt = 0;
	char path[128], line[512];
	FILE *f;

	*evs = NULL;
	*n = 0;
	if (!trace_dir)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/trace", trace_dir);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || !parse(line, &ev))
			continue;
		if (cnt == cap) {
			cap = cap ? 2 * cap : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				fclose(f);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = ev;
	}
	fclose(f);
	*evs = v;
	*n = cnt;
	return 0;
}

size_t ct_trace_after(const struct ct_trace_ev *evs, size_t n,
		      const char *mark)
{
	size_t i;

	if (!mark)
		return 0;
	for (i = 0; i < n; i++)
		if (evs[i].type == CT_EV_MARK && !strcmp(evs[i].mark, mark))
			return i + 1;
	return n;
}

const struct ct_trace_ev *ct_trace_scan(const struct ct_trace_ev *evs,
					size_t n, size_t from, uint64_t inst,
					unsigned int k)
{
	size_t i;

	for (i = from; i < n; i++)
		if (evs[i].type == CT_EV_SCAN && evs[i].inst == inst && !--k)
			return &evs[i];
	return NULL;
}

unsigned int ct_trace_unpin_pass(const struct ct_trace_ev *evs, size_t n,
				 size_t from, uint64_t inst, uint64_t gfn,
				 const struct ct_trace_ev **unpin)
{
	unsigned int pass = 1;
	size_t i;

	for (i = from; i < n; i++) {
		if (evs[i].inst != inst)
			continue;
		if (evs[i].type == CT_EV_SCAN)
			pass++;
		if (evs[i].type == CT_EV_UNPIN && gfn >= evs[i].gfn &&
		    gfn - evs[i].gfn < evs[i].npages) {
			if (unpin)
				*unpin = &evs[i];
			return pass;
		}
	}
	return 0;
}

struct idle_page {
	uint64_t inst, gfn;
	long net;
};

/* Add @sign to the count of every page of @ev; false without memory. */
static bool idle_count(struct idle_page **pg, size_t *nr, size_t *cap,
		       const struct ct_trace_ev *ev, long sign)
{
	unsigned long i;
	size_t k;

	for (i = 0; i < ev->npages; i++) {
		for (k = 0; k < *nr; k++)
			if ((*pg)[k].inst == ev->inst &&
			    (*pg)[k].gfn == ev->gfn + i)
				break;
		if (k == *nr) {
			if (*nr == *cap) {
				size_t c = *cap ? 2 * *cap : 256;
				struct idle_page *q = realloc(*pg, c * sizeof(*q));

				if (!q)
					return false;
				*pg = q;
				*cap = c;
			}
			(*pg)[k].inst = ev->inst;
			(*pg)[k].gfn = ev->gfn + i;
			(*pg)[k].net = 0;
			(*nr)++;
		}
		(*pg)[k].net += sign;
	}
	return true;
}

int ct_trace_idle_unpins(const struct ct_trace_ev *evs, size_t n,
			 const char *mark, struct ct_trace_idle *r)
{
	struct idle_page *pg = NULL;
	size_t nr = 0, cap = 0, from, i, k, first_pin = n;
	long pinned;

	memset(r, 0, sizeof(*r));
	from = ct_trace_after(evs, n, mark);
	if (!from || evs[from - 1].type != CT_EV_MARK ||
	    strcmp(evs[from - 1].mark, mark))
		return -ENOENT;
	for (i = 0; i < from; i++) {
		bool ok = true;

		if (evs[i].type == CT_EV_PIN && evs[i].ret)
			r->failed_pins++;
		else if (evs[i].type == CT_EV_PIN)
			ok = idle_count(&pg, &nr, &cap, &evs[i], 1);
		else if (evs[i].type == CT_EV_UNPIN)
			ok = idle_count(&pg, &nr, &cap, &evs[i], -1);
		if (!ok) {
			free(pg);
			return -ENOMEM;
		}
	}
	for (i = from; i < n && first_pin == n; i++)
		if (evs[i].type == CT_EV_PIN)
			first_pin = i;
	for (k = 0; k < nr; k++) {
		const struct ct_trace_ev *u = NULL;
		unsigned int pass;

		if (pg[k].net <= 0)
			continue;
		r->pages++;
		pass = ct_trace_unpin_pass(evs, n, from, pg[k].inst,
					   pg[k].gfn, &u);
		if (!pass) {
			r->never++;
			continue;
		}
		if (strcmp(u->cause, "lazy") && strcmp(u->cause, "shrinker"))
			r->not_lazy++;
		if ((size_t)(u - evs) > first_pin)
			r->late++;
		if (pass > r->worst) {
			r->worst = pass;
			r->worst_gfn = pg[k].gfn;
		}
	}
	/* The pinned pages between the marker and the next pin. */
	for (pinned = r->pages, i = from; i < first_pin && pinned > 0; i++)
		if (evs[i].type == CT_EV_UNPIN)
			pinned -= evs[i].npages;
	r->zero = pinned <= 0;
	free(pg);
	return 0;
}
