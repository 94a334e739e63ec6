// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * libcoiommu: see libcoiommu.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "libcoiommu.h"

static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

int coiommu_open(void)
{
	int fd = open("/dev/coiommu", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, COIOMMU_GET_API_VERSION) != COIOMMU_API_VERSION) {
		close(fd);
		return -EPROTONOSUPPORT;
	}
	return fd;
}

int coiommu_set_memory(int co, const struct coiommu_region *regions,
		       unsigned int nr)
{
	size_t sz = sizeof(struct coiommu_memory_map) + nr * sizeof(*regions);
	struct coiommu_memory_map *map = calloc(1, sz);
	int ret;

	if (!map)
		return -ENOMEM;
	map->argsz = sz;
	map->nr_regions = nr;
	memcpy(map->regions, regions, nr * sizeof(*regions));
	ret = xioctl(co, COIOMMU_SET_MEMORY_MAP, map);
	free(map);
	return ret;
}

int coiommu_add_vfio_device(int co, int device_fd, int group_fd, uint16_t bdf)
{
	struct coiommu_device d = {
		.argsz = sizeof(d),
		.device_fd = device_fd,
		.group_fd = group_fd,
		.bdf = bdf,
	};

	return xioctl(co, COIOMMU_ADD_DEVICE, &d);
}

int coiommu_remove_device(int co, uint16_t bdf)
{
	struct coiommu_remove_device d = {
		.argsz = sizeof(d),
		.bdf = bdf,
	};

	return xioctl(co, COIOMMU_REMOVE_DEVICE, &d);
}

static int range_ioctl(int co, unsigned long cmd, uint64_t gpa, uint64_t size)
{
	struct coiommu_range r = { .argsz = sizeof(r), .gpa = gpa, .size = size };

	return xioctl(co, cmd, &r);
}

int coiommu_pin_range(int co, uint64_t gpa, uint64_t size)
{
	return range_ioctl(co, COIOMMU_PIN_RANGE, gpa, size);
}

int coiommu_unpin_range(int co, uint64_t gpa, uint64_t size)
{
	return range_ioctl(co, COIOMMU_UNPIN_RANGE, gpa, size);
}

int coiommu_get_stats(int co, struct coiommu_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->argsz = sizeof(*st);
	return xioctl(co, COIOMMU_GET_STATS, st);
}

int coiommu_set_unpin_period(int co, uint32_t period_ms)
{
	struct coiommu_unpin_policy p = { .argsz = sizeof(p) };
	int ret = xioctl(co, COIOMMU_GET_UNPIN_POLICY, &p);

	if (ret)
		return ret;
	p.period_ms = period_ms;
	return xioctl(co, COIOMMU_SET_UNPIN_POLICY, &p);
}

int coiommu_set_notify(int co, void *slots, unsigned int nr_vcpus)
{
	struct coiommu_notify n = {
		.argsz = sizeof(n),
		.nr_vcpus = nr_vcpus,
		.slots_vaddr = (uintptr_t)slots,
	};

	return xioctl(co, COIOMMU_SET_NOTIFY, &n);
}

int coiommu_set_doorbell(int co, unsigned int vcpu, int eventfd)
{
	struct coiommu_doorbell b = {
		.argsz = sizeof(b),
		.vcpu = vcpu,
		.eventfd = eventfd,
	};

	return xioctl(co, COIOMMU_SET_DOORBELL, &b);
}

int coiommu_command_flags(int co, uint32_t cmd, uint64_t dtt_root,
			  uint32_t dtt_level, uint32_t flags)
{
	struct coiommu_command c = {
		.argsz = sizeof(c),
		.flags = flags,
		.cmd = cmd,
		.dtt_root = dtt_root,
		.dtt_level = dtt_level,
	};

	return xioctl(co, COIOMMU_COMMAND, &c);
}

int coiommu_command(int co, uint32_t cmd, uint64_t dtt_root,
		    uint32_t dtt_level)
{
	return coiommu_command_flags(co, cmd, dtt_root, dtt_level, 0);
}

int coiommu_set_unpin_policy(int co, uint32_t period_ms, uint32_t old_every,
			     uint32_t pass_pages)
{
	struct coiommu_unpin_policy p = { .argsz = sizeof(p) };
	int ret = xioctl(co, COIOMMU_GET_UNPIN_POLICY, &p);

	if (ret)
		return ret;
	p.period_ms = period_ms;
	if (old_every)
		p.old_every = old_every;
	if (pass_pages)
		p.pass_pages = pass_pages;
	return xioctl(co, COIOMMU_SET_UNPIN_POLICY, &p);
}

int coiommu_force_unpin(int co, uint64_t gpa, uint64_t size,
			uint64_t *busy_bitmap, uint64_t *released,
			uint64_t *busy)
{
	struct coiommu_force_unpin fu = {
		.argsz = sizeof(fu),
		.gpa = gpa,
		.size = size,
		.busy_bitmap = (uintptr_t)busy_bitmap,
	};
	int ret = xioctl(co, COIOMMU_FORCE_UNPIN, &fu);

	if (!ret && released)
		*released = fu.nr_released;
	if (!ret && busy)
		*busy = fu.nr_busy;
	return ret;
}

/* Length 0: a write of any width at @gpa (KVM matches the address only). */
static int ioeventfd(int vm_fd, uint64_t gpa, int efd, bool assign)
{
	struct kvm_ioeventfd io = {
		.addr = gpa,
		.len = 0,
		.fd = efd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return xioctl(vm_fd, KVM_IOEVENTFD, &io);
}

int coiommu_attach_doorbells(int co, struct coiommu_doorbells *db, int vm_fd,
			     uint64_t bar0_gpa, void *slots,
			     unsigned int nr_vcpus)
{
	unsigned int i;
	int ret;

	memset(db, 0, sizeof(*db));
	db->vm_fd = vm_fd;
	db->trigger_gpa = bar0_gpa + COIOMMU_REG_TRIGGER;
	db->mapped = 1;
	db->eventfds = malloc(nr_vcpus * sizeof(int));
	if (!db->eventfds)
		return -ENOMEM;
	ret = coiommu_set_notify(co, slots, nr_vcpus);
	if (ret)
		goto err;
	for (i = 0; i < nr_vcpus; i++) {
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

		if (efd < 0) {
			ret = -errno;
			goto err;
		}
		db->eventfds[db->nr_vcpus++] = efd;
		ret = ioeventfd(vm_fd, db->trigger_gpa + i, efd, true);
		if (ret) {
			close(efd);
			db->nr_vcpus--;
			goto err;
		}
		ret = coiommu_set_doorbell(co, i, efd);
		if (ret)
			goto err;
	}
	return 0;
err:
	coiommu_detach_doorbells(db);
	return ret;
}

int coiommu_doorbells_unmap(struct coiommu_doorbells *db)
{
	unsigned int i;
	int ret = 0;

	if (!db->mapped)
		return 0;
	for (i = 0; i < db->nr_vcpus; i++) {
		int r = ioeventfd(db->vm_fd, db->trigger_gpa + i,
				  db->eventfds[i], false);

		if (r && !ret)
			ret = r;
	}
	db->mapped = 0;
	return ret;
}

int coiommu_doorbells_map(struct coiommu_doorbells *db, uint64_t bar0_gpa)
{
	unsigned int i;
	int ret;

	ret = coiommu_doorbells_unmap(db);
	if (ret)
		return ret;
	db->trigger_gpa = bar0_gpa + COIOMMU_REG_TRIGGER;
	for (i = 0; i < db->nr_vcpus; i++) {
		ret = ioeventfd(db->vm_fd, db->trigger_gpa + i,
				db->eventfds[i], true);
		if (ret) {
			while (i--)
				ioeventfd(db->vm_fd, db->trigger_gpa + i,
					  db->eventfds[i], false);
			return ret;
		}
	}
	db->mapped = 1;
	return 0;
}

void coiommu_detach_doorbells(struct coiommu_doorbells *db)
{
	unsigned int i;

	coiommu_doorbells_unmap(db);
	for (i = 0; i < db->nr_vcpus; i++)
		close(db->eventfds[i]);
	free(db->eventfds);
	db->eventfds = NULL;
	db->nr_vcpus = 0;
}

void coiommu_regs_read(struct coiommu_regs *r, uint64_t off, void *data,
		       unsigned int len)
{
	uint64_t val = 0;

	if (len == 8 && !(off & 7)) {
		if (off == COIOMMU_REG_DTT_ROOT)
			val = r->dtt_root;
		else if (off == COIOMMU_REG_DTT_LEVEL)
			val = r->dtt_level;
		/* cmd, trigger bytes: 0 */
	}
	memset(data, 0, len);
	if (len == 8)
		memcpy(data, &val, len);
}

/*
 * The module refuses to activate again, after a DEACTIVATE, the root that
 * activation had, unless the VMM says the guest wrote it anew
 * (COIOMMU_COMMAND_NEW_ROOT).
 */
static int regs_command(struct coiommu_regs *r, uint64_t cmd)
{
	int ret;

	switch (cmd) {
	case COIOMMU_CMD_ACTIVATE:
		if (r->active)
			return 0;	/* the deployed device: nothing to do */
		if (!r->dtt_root || !r->dtt_level ||
		    r->dtt_level > UINT32_MAX)
			return -EINVAL;
		/*
		 * After a DEACTIVATE the registers were re-armed: the guest
		 * wrote this root since, even if it is the old address.
		 */
		ret = coiommu_command_flags(r->co, COIOMMU_CMD_ACTIVATE,
					    r->dtt_root, (uint32_t)r->dtt_level,
					    r->deactivated ?
					    COIOMMU_COMMAND_NEW_ROOT : 0);
		if (!ret) {
			r->active = 1;
			r->deactivated = 0;
		}
		return ret ? ret : 1;
	case COIOMMU_CMD_DEACTIVATE:
		ret = coiommu_command(r->co, COIOMMU_CMD_DEACTIVATE, 0, 0);
		if (ret)
			return ret;
		/* Re-arm: a new ACTIVATE needs a root and level written anew. */
		r->active = 0;
		r->deactivated = 1;
		r->dtt_root = 0;
		r->dtt_level = 0;
		return 1;
	case COIOMMU_CMD_PARK:
	case COIOMMU_CMD_UNPARK:
		ret = coiommu_command(r->co, (uint32_t)cmd, 0, 0);
		return ret ? ret : 1;
	default:
		return -EINVAL;
	}
}

int coiommu_regs_write(struct coiommu_regs *r, uint64_t off,
		       const void *data, unsigned int len)
{
	uint64_t val;
	int ret = 0;

	if (off >= COIOMMU_REG_TRIGGER) {
		uint64_t vcpu = off - COIOMMU_REG_TRIGGER;

		/* A vCPU without a doorbell: complete its slot. */
		if (r->slots && vcpu < COIOMMU_MAX_SLOTS)
			__atomic_store_n(&r->slots[vcpu], 0, __ATOMIC_SEQ_CST);
		return 0;
	}
	if (len != 8 || (off & 7))
		return 0;
	memcpy(&val, data, 8);
	switch (off) {
	case COIOMMU_REG_DTT_ROOT:
		if (!r->dtt_root)
			r->dtt_root = val;
		break;
	case COIOMMU_REG_DTT_LEVEL:
		if (!r->dtt_level)
			r->dtt_level = val;
		break;
	case COIOMMU_REG_CMD:
		ret = regs_command(r, val);
		r->last_error = ret < 0 ? ret : 0;
		break;
	}
	return ret;
}
