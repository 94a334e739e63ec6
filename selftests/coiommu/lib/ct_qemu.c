// SPDX-License-Identifier: GPL-2.0
/*
 * QEMU inside the test VM: start, sample, wait, QMP (see ct_qemu.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ct.h"
#include "ct_qemu.h"

/* The QEMU and the guest kernel that runs use: 9p, or copies (below). */
static const char *qemu_bin = CT_QEMU;
static const char *guest_kernel = CT_VMM_KERNEL;

int ct_qemu_local(void)
{
	if (system("rm -rf /tmp/ct-qemu-local && mkdir -p /tmp/ct-qemu-local && "
		   "cp -a " CT_QEMU_DIR "/. /tmp/ct-qemu-local/ && "
		   "cp " CT_VMM_KERNEL " /tmp/ct-qemu-local/vmlinux"))
		return -1;
	qemu_bin = "/tmp/ct-qemu-local/qemu-system-x86_64";
	guest_kernel = "/tmp/ct-qemu-local/vmlinux";
	return 0;
}

int ct_qemu_mount(void)
{
	if (ct_vmm_mount_kernel())
		return -1;
	if (!access(CT_QEMU, X_OK))
		return 0;
	/* ct_vmm_mount_kernel() loaded the 9p modules. */
	if (system("mkdir -p " CT_QEMU_DIR " && mount -t 9p -o "
		   "trans=virtio,version=9p2000.L,ro coiommu_qemu " CT_QEMU_DIR))
		return -1;
	return access(CT_QEMU, X_OK) ? -1 : 0;
}

bool ct_qemu_has_device(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "%s -device %s,help >/dev/null 2>&1",
		 qemu_bin, name);
	return system(cmd) == 0;
}

int ct_qemu_mem_read(pid_t pid, struct ct_qemu_mem *m)
{
	char path[64], line[256];
	FILE *f;

	m->vmlck_kb = m->vmrss_kb = m->vmhwm_kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmLck: %ld", &m->vmlck_kb);
		sscanf(line, "VmRSS: %ld", &m->vmrss_kb);
		sscanf(line, "VmHWM: %ld", &m->vmhwm_kb);
	}
	fclose(f);
	return m->vmlck_kb < 0 ? -1 : 0;
}

void ct_qemu_boot_args(const struct ct_qemu *q, char *buf, size_t size,
		       const char *mem, const char *append)
{
	snprintf(buf, size,
		 "-accel kvm -cpu host -machine q35 -m %s -smp 1 -nodefaults "
		 "-display none -monitor none -serial stdio -no-reboot "
		 "-bios qboot.rom -kernel %s -initrd " CT_VMM_INITRD
		 " -append \"console=ttyS0 quiet panic=-1 %s\" "
		 "-device isa-debug-exit,iobase=0xf4,iosize=4 "
		 "-qmp unix:%s,server=on,wait=off",
		 mem, guest_kernel, append, q->qmp);
}

void ct_qemu_init(struct ct_qemu *q)
{
	static int seq;

	memset(q, 0, sizeof(*q));
	q->status = -1;
	q->qmp_fd = -1;
	q->last.vmlck_kb = q->max.vmlck_kb = -1;
	q->last.vmrss_kb = q->max.vmrss_kb = -1;
	q->last.vmhwm_kb = q->max.vmhwm_kb = -1;
	seq++;
	snprintf(q->con, sizeof(q->con), "/tmp/ct-qemu-%d-%d.con", getpid(), seq);
	snprintf(q->err, sizeof(q->err), "/tmp/ct-qemu-%d-%d.err", getpid(), seq);
	snprintf(q->qmp, sizeof(q->qmp), "/tmp/ct-qemu-%d-%d.qmp", getpid(), seq);
}

int ct_qemu_start(struct ct_qemu *q, const char *args)
{
	size_t len = strlen(args) + 512;
	char *cmd;
	pid_t pid;

	unlink(q->qmp);
	cmd = malloc(len);
	if (!cmd)
		return -1;
	snprintf(cmd, len, "exec %s %s </dev/null >%s 2>%s", qemu_bin, args,
		 q->con, q->err);
	fflush(NULL);
	q->t0 = ct_now_ms();
	pid = fork();
	if (pid < 0) {
		free(cmd);
		return -1;
	}
	if (!pid) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	free(cmd);
	q->pid = pid;
	return 0;
}

int ct_qemu_start_guest(struct ct_qemu *q, const char *mem, const char *append,
			const char *devices)
{
	char boot[1024], *args;
	size_t len = strlen(devices) + sizeof(boot) + 2;
	int ret;

	ct_qemu_init(q);
	ct_qemu_boot_args(q, boot, sizeof(boot), mem, append);
	args = malloc(len);
	if (!args)
		return -1;
	snprintf(args, len, "%s %s", boot, devices);
	ret = ct_qemu_start(q, args);
	free(args);
	return ret;
}

void ct_qemu_edu_devices(char *buf, size_t size, const char *bdf,
			 const char *co_props, const char *extra)
{
	if (co_props)
		snprintf(buf, size,
			 "-device coiommu,id=co0%s -device vfio-pci,host=%s,id=hostdev0,coiommu=co0%s%s",
			 co_props, bdf, *extra ? " " : "", extra);
	else
		snprintf(buf, size, "-device vfio-pci,host=%s,id=hostdev0%s%s",
			 bdf, *extra ? " " : "", extra);
}

static void mem_max(long *max, long v)
{
	if (v > *max)
		*max = v;
}

void ct_qemu_sample(struct ct_qemu *q)
{
	struct ct_qemu_mem m;

	if (!q->pid || ct_qemu_mem_read(q->pid, &m))
		return;
	q->last = m;
	mem_max(&q->max.vmlck_kb, m.vmlck_kb);
	mem_max(&q->max.vmrss_kb, m.vmrss_kb);
	mem_max(&q->max.vmhwm_kb, m.vmhwm_kb);
}

bool ct_qemu_running(struct ct_qemu *q)
{
	int st;

	if (!q->pid)
		return false;
	ct_qemu_sample(q);
	if (waitpid(q->pid, &st, WNOHANG) != q->pid)
		return true;
	q->ms = ct_now_ms() - q->t0;
	q->pid = 0;
	q->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return false;
}

bool ct_qemu_sleep(struct ct_qemu *q, long ms)
{
	long end = ct_now_ms() + ms;

	while (ct_now_ms() < end) {
		if (!ct_qemu_running(q))
			return false;
		usleep(20000);
	}
	return ct_qemu_running(q);
}

static char *slurp(const char *path)
{
	size_t cap = 4096, len = 0, n;
	char *s = malloc(cap);
	FILE *f = fopen(path, "re");

	if (!s)
		return NULL;
	s[0] = 0;
	if (!f)
		return s;
	for (;;) {
		if (cap - len < 1024) {
			char *t = realloc(s, cap * 2);

			if (!t)
				break;
			s = t;
			cap *= 2;
		}
		n = fread(s + len, 1, cap - len - 1, f);
		if (!n)
			break;
		len += n;
	}
	s[len] = 0;
	fclose(f);
	return s;
}

int ct_qemu_wait(struct ct_qemu *q, long timeout_ms)
{
	const char *tmo = getenv("CT_VMM_TIMEOUT");
	long end;

	/* As ct_vmm_run(): make check-debug's slow nested guests. */
	if (tmo && atoi(tmo) > 0 && atoi(tmo) * 1000L > timeout_ms)
		timeout_ms = atoi(tmo) * 1000L;
	end = ct_now_ms() + timeout_ms;
	while (ct_qemu_running(q)) {
		if (ct_now_ms() > end) {
			fprintf(stderr, "# QEMU still running after %ld ms: killed\n",
				timeout_ms);
			kill(q->pid, SIGKILL);
			waitpid(q->pid, NULL, 0);
			q->ms = ct_now_ms() - q->t0;
			q->pid = 0;
			q->status = -1;
			break;
		}
		usleep(20000);
	}
	free(q->out);
	free(q->errout);
	q->out = slurp(q->con);
	q->errout = slurp(q->err);
	return q->status;
}

int ct_qemu_guest_status(const struct ct_qemu *q)
{
	return q->status > 0 && (q->status & 1) ? q->status >> 1 : -1;
}

static int count(const char *s, const char *text)
{
	int n = 0;

	while (s && (s = strstr(s, text))) {
		n++;
		s++;
	}
	return n;
}

char *ct_qemu_console(const struct ct_qemu *q)
{
	return slurp(q->con);
}

bool ct_qemu_console_wait_n(struct ct_qemu *q, const char *text, int n,
			    long timeout_ms)
{
	long end = ct_now_ms() + timeout_ms;
	bool found, running = true;

	for (;;) {
		char *s = ct_qemu_console(q);

		found = count(s, text) >= n;
		free(s);
		/* Once more after QEMU exited: its last output is in. */
		if (found || !running || ct_now_ms() >= end)
			break;
		running = ct_qemu_running(q);
		if (running)
			usleep(20000);
	}
	return found;
}

bool ct_qemu_console_wait(struct ct_qemu *q, const char *text,
			  long timeout_ms)
{
	return ct_qemu_console_wait_n(q, text, 1, timeout_ms);
}

static void print_lines(const char *tag, const char *s)
{
	while (s && *s) {
		const char *e = strchr(s, '\n');
		int n = e ? (int)(e - s) : (int)strlen(s);

		if (n && s[n - 1] == '\r')
			n--;
		fprintf(stderr, "# %s %.*s\n", tag, n, s);
		s += (e ? e - s + 1 : (long)strlen(s));
	}
}

void ct_qemu_print(const struct ct_qemu *q)
{
	print_lines("|", q->out);
	print_lines("qemu stderr:", q->errout);
	fprintf(stderr, "# QEMU exited with status %d after %ld ms; max VmLck %ld kB, VmRSS %ld kB, VmHWM %ld kB\n",
		q->status, q->ms, q->max.vmlck_kb, q->max.vmrss_kb,
		q->max.vmhwm_kb);
}

void ct_qemu_free(struct ct_qemu *q)
{
	if (q->pid) {
		kill(q->pid, SIGKILL);
		waitpid(q->pid, NULL, 0);
		q->pid = 0;
	}
	if (q->qmp_fd >= 0)
		close(q->qmp_fd);
	q->qmp_fd = -1;
	unlink(q->con);
	unlink(q->err);
	unlink(q->qmp);
	free(q->out);
	free(q->errout);
	q->out = q->errout = NULL;
}

/* ---- QMP ---------------------------------------------------------------- */

/* One line (up to \n) from @fd into @buf, waiting up to @ms. */
static int qmp_line(int fd, char *buf, size_t size, int ms)
{
	size_t len = 0;

	while (len + 1 < size) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, ms) != 1)
			return -1;
		n = read(fd, buf + len, 1);
		if (n != 1)
			return -1;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = 0;
	if (len && buf[len - 1] == '\r')
		buf[--len] = 0;
	return 0;
}

/* The next line that is not an event. */
static int qmp_reply(int fd, char *buf, size_t size)
{
	do {
		if (qmp_line(fd, buf, size, 10000))
			return -1;
	} while (strstr(buf, "\"event\"") && !strstr(buf, "\"return\"") &&
		 !strstr(buf, "\"error\""));
	return 0;
}

/* MSG_NOSIGNAL: a QEMU that exited is an error, not a SIGPIPE. */
static int qmp_send(int fd, const char *cmd)
{
	size_t len = strlen(cmd);

	return send(fd, cmd, len, MSG_NOSIGNAL) == (ssize_t)len &&
	       send(fd, "\n", 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int qmp_connect(struct ct_qemu *q)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char line[4096];
	long end = ct_now_ms() + 10000;
	int fd;

	strncpy(a.sun_path, q->qmp, sizeof(a.sun_path) - 1);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
			break;
		close(fd);
		if (ct_now_ms() > end || !ct_qemu_running(q))
			return -1;
		usleep(20000);
	}
	/* The greeting, then capabilities negotiation. */
	if (qmp_line(fd, line, sizeof(line), 10000) || !strstr(line, "QMP") ||
	    qmp_send(fd, "{\"execute\": \"qmp_capabilities\"}") ||
	    qmp_reply(fd, line, sizeof(line)) || !strstr(line, "\"return\"")) {
		close(fd);
		return -1;
	}
	q->qmp_fd = fd;
	return 0;
}

int ct_qemu_qmp(struct ct_qemu *q, const char *cmd, char *reply, size_t size)
{
	ct_qemu_sample(q);
	if (q->qmp_fd < 0 && qmp_connect(q))
		return -1;
	if (qmp_send(q->qmp_fd, cmd) || qmp_reply(q->qmp_fd, reply, size))
		return -1;
	return strstr(reply, "\"return\"") ? 0 : 1;
}

int ct_qemu_hmp(struct ct_qemu *q, const char *line, char *out, size_t size)
{
	char cmd[512], *reply = malloc(size + 256);
	const char *s;
	size_t n = 0;
	int ret;

	if (!reply)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\": \"human-monitor-command\", \"arguments\": {\"command-line\": \"%s\"}}",
		 line);
	ret = ct_qemu_qmp(q, cmd, reply, size + 256);
	out[0] = 0;
	s = strstr(reply, "\"return\"");
	if (!ret && s && (s = strchr(s + 8, '"'))) {
		/* Unescape the JSON string (\n, \r, \", \\). */
		for (s++; *s && *s != '"' && n + 1 < size; s++) {
			if (*s == '\\' && s[1]) {
				s++;
				out[n++] = *s == 'n' ? '\n' : *s == 'r' ? '\r' :
					   *s == 't' ? '\t' : *s;
			} else {
				out[n++] = *s;
			}
		}
		/* Without its last line break. */
		while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
			n--;
		out[n] = 0;
	} else if (!ret) {
		ret = -1;
	}
	free(reply);
	return ret;
}

/* ---- JSON scalars --------------------------------------------------------- */

static const char *json_value(const char *json, const char *key)
{
	char k[64];
	const char *s;

	snprintf(k, sizeof(k), "\"%s\"", key);
	s = strstr(json, k);
	if (!s)
		return NULL;
	s += strlen(k);
	while (isspace((unsigned char)*s))
		s++;
	if (*s++ != ':')
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

int ct_json_u64(const char *json, const char *key, unsigned long long *v)
{
	const char *s = json_value(json, key);
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	*v = strtoull(s, &end, 10);
	return 0;
}

int ct_json_bool(const char *json, const char *key, bool *v)
{
	const char *s = json_value(json, key);

	if (s && !strncmp(s, "true", 4))
		*v = true;
	else if (s && !strncmp(s, "false", 5))
		*v = false;
	else
		return -1;
	return 0;
}

int ct_qemu_query_coiommu(struct ct_qemu *q, struct ct_qemu_coiommu *c)
{
	char reply[4096];
	const char *s;
	int bad = 0;

	memset(c, 0, sizeof(*c));
	if (ct_qemu_qmp(q, "{\"execute\": \"query-coiommu\"}", reply,
			sizeof(reply))) {
		fprintf(stderr, "# query-coiommu: %s\n", reply);
		return -1;
	}
	s = json_value(reply, "id");
	if (s && *s == '"')
		sscanf(s + 1, "%31[^\"]", c->id);
	bad |= ct_json_bool(reply, "active", &c->active);
	bad |= ct_json_u64(reply, "pinned-pages", &c->pinned);
	bad |= ct_json_u64(reply, "peak-pinned-pages", &c->peak);
	bad |= ct_json_u64(reply, "pins", &c->pins);
	bad |= ct_json_u64(reply, "unpins", &c->unpins);
	bad |= ct_json_u64(reply, "requests", &c->requests);
	bad |= ct_json_u64(reply, "served-in-vcpu", &c->served_in_vcpu);
	bad |= ct_json_u64(reply, "refused-requests", &c->refused);
	/* A count, or a list of the devices' ids: count its entries. */
	s = json_value(reply, "devices");
	if (s && isdigit((unsigned char)*s)) {
		c->devices = strtoull(s, NULL, 10);
	} else if (s && *s == '[') {
		unsigned long long objs = 0, quotes = 0;

		for (s++; *s && *s != ']'; s++) {
			objs += *s == '{';
			quotes += *s == '"';
		}
		c->devices = objs ? objs : quotes / 2;
	} else {
		bad = -1;
	}
	if (bad || !c->id[0]) {
		fprintf(stderr, "# query-coiommu: unexpected reply: %s\n", reply);
		return -1;
	}
	return 0;
}

long ct_type1_dma_entry_limit(void)
{
	FILE *f = fopen("/sys/module/vfio_iommu_type1/parameters/dma_entry_limit",
			"re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}
