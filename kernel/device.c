// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: devices assigned to the guest and their IOMMU domains.
 *
 * A VMM hands us a VFIO device file and the group file it came from. We
 * keep a reference to the device file: VFIO refuses to detach the group
 * from its container while a device file is open, so the type1 domain we
 * map into cannot go away under us.
 */
#include <linux/file.h>
#include <linux/iommu.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>

#include <linux/coiommu.h>

#include "coiommu.h"
#include "compat.h"

/*
 * VFIO (6.1) exports no test for a device file. Every device file is an
 * anonymous-inode file named "[vfio-device]" with VFIO's own file
 * operations, whose owner is the module of the (verified) group file,
 * and which are not the group's; only then does private_data lead to a
 * struct vfio_device (compat.h), which vfio_file_has_dev() checks against
 * the group. Newer kernels also say whether a file is VFIO's (compat.h).
 */
static struct vfio_device *vfio_device_of(struct file *dev_file,
					  struct file *group_file)
{
	const struct file_operations *fops = dev_file->f_op;
	struct vfio_device *vdev;

	if (!vfio_file_is_group(group_file))
		return NULL;
	if (fops == group_file->f_op || !fops ||
	    fops->owner != group_file->f_op->owner)
		return NULL;
	if (strcmp(file_dentry(dev_file)->d_name.name, "[vfio-device]"))
		return NULL;
	if (!coiommu_vfio_file_is_device(dev_file))
		return NULL;
	vdev = coiommu_vfio_file_device(dev_file);
	if (!vdev || !vfio_file_has_dev(group_file, vdev))
		return NULL;
	return vdev;
}

/* Every struct coiommu_domain of every instance, by owner_node. */
static LIST_HEAD(coiommu_owned_domains);
static DEFINE_MUTEX(coiommu_owned_lock);	/* protects that list */

/* Make @dom's domain ours, unless another instance has it. */
static int own_domain(struct coiommu_domain *dom)
{
	struct coiommu_domain *d;
	int ret = 0;

	mutex_lock(&coiommu_owned_lock);
	list_for_each_entry(d, &coiommu_owned_domains, owner_node) {
		if (d->domain == dom->domain) {
			ret = -EBUSY;
			break;
		}
	}
	if (!ret)
		list_add(&dom->owner_node, &coiommu_owned_domains);
	mutex_unlock(&coiommu_owned_lock);
	return ret;
}

static void disown_domain(struct coiommu_domain *dom)
{
	mutex_lock(&coiommu_owned_lock);
	list_del(&dom->owner_node);
	mutex_unlock(&coiommu_owned_lock);
}

static struct coiommu_domain *find_domain(struct coiommu_instance *inst,
					  struct iommu_domain *domain)
{
	struct coiommu_domain *dom;

	list_for_each_entry(dom, &inst->devs.domains, node)
		if (dom->domain == domain)
			return dom;
	return NULL;
}

static int check_duplicate(struct coiommu_instance *inst,
			   struct vfio_device *vdev, u16 bdf)
{
	struct coiommu_dev *d;

	list_for_each_entry(d, &inst->devs.list, node)
		if (d->vdev == vdev || d->bdf == bdf)
			return -EEXIST;
	return 0;
}

/*
 * The IOVA ranges the IOMMU reserves for @dev's group, as type1 excludes
 * them from its IOVA space: the interrupt (MSI) window, firmware's direct
 * mappings. Guest RAM there would be mapped over them.
 */
static int get_resv(struct coiommu_dev *d, struct device *dev)
{
	struct iommu_resv_region *r, *tmp;
	struct iommu_group *group;
	unsigned int n = 0;
	LIST_HEAD(list);
	int ret;

	group = iommu_group_get(dev);
	if (!group)
		return -ENODEV;
	ret = iommu_get_group_resv_regions(group, &list);
	iommu_group_put(group);
	if (ret)
		goto out;
	list_for_each_entry(r, &list, list)
		if (r->type != IOMMU_RESV_DIRECT_RELAXABLE && r->length)
			n++;
	if (n) {
		d->resv = kcalloc(n, sizeof(*d->resv), GFP_KERNEL_ACCOUNT);
		if (!d->resv) {
			ret = -ENOMEM;
			goto out;
		}
	}
	list_for_each_entry(r, &list, list) {
		if (r->type == IOMMU_RESV_DIRECT_RELAXABLE || !r->length)
			continue;
		d->resv[d->nr_resv].first = r->start;
		d->resv[d->nr_resv].last = r->start + r->length - 1;
		d->nr_resv++;
	}
out:
	list_for_each_entry_safe(r, tmp, &list, list) {
		list_del(&r->list);
		kfree(r);
	}
	return ret;
}

static void free_dev(struct coiommu_dev *d)
{
	kfree(d->resv);
	kfree(d);
}

static int add_device(struct coiommu_instance *inst, struct file *dev_file,
		      struct file *group_file, u16 bdf)
{
	struct coiommu_domain *dom, *new_dom = NULL;
	struct iommu_domain *domain;
	struct vfio_device *vdev;
	struct coiommu_dev *d;
	int ret;

	vdev = vfio_device_of(dev_file, group_file);
	if (!vdev)
		return -EINVAL;
	/* iommufd owns that IOVA space and its records: not ours to map. */
	if (coiommu_vfio_device_iommufd(vdev))
		return -EOPNOTSUPP;
	ret = check_duplicate(inst, vdev, bdf);
	if (ret)
		return ret;
	if (inst->devs.nr >= COIOMMU_MAX_DEVICES)
		return -ENOSPC;

	/* type1 attaches the group to an unmanaged domain of its own. */
	domain = iommu_get_domain_for_dev(vdev->dev);
	if (!domain || domain->type != IOMMU_DOMAIN_UNMANAGED)
		return -ENODEV;

	d = kzalloc(sizeof(*d), GFP_KERNEL_ACCOUNT);
	if (!d)
		return -ENOMEM;
	ret = get_resv(d, vdev->dev);
	if (!ret)
		ret = coiommu_check_resv(d, inst->mem.ram, inst->mem.nr);
	if (ret) {
		free_dev(d);
		return ret;
	}

	dom = find_domain(inst, domain);
	if (!dom) {
		new_dom = kzalloc(sizeof(*new_dom), GFP_KERNEL_ACCOUNT);
		if (!new_dom) {
			free_dev(d);
			return -ENOMEM;
		}
		new_dom->domain = domain;
		/* VFIO only accepts devices whose DMA is cache coherent. */
		new_dom->prot = IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE;
		ret = own_domain(new_dom);
		if (!ret) {
			ret = coiommu_map_pinned(inst, new_dom);
			if (ret)
				disown_domain(new_dom);
		}
		if (ret) {
			kfree(new_dom);
			free_dev(d);
			return ret;
		}
		list_add_tail(&new_dom->node, &inst->devs.domains);
		inst->devs.nr_domains++;
		dom = new_dom;
	}
	dom->users++;

	d->file = get_file(dev_file);
	d->vdev = vdev;
	d->dom = dom;
	d->bdf = bdf;
	list_add_tail(&d->node, &inst->devs.list);
	inst->devs.nr++;
	return 0;
}

long coiommu_add_device(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_device args;
	struct fd dev_f, group_f;
	int ret;

	ret = coiommu_copy_args(&args, sizeof(args), arg);
	if (ret)
		return ret;
	if (args.flags || args.pad[0] || args.pad[1] || args.pad[2])
		return -EINVAL;

	dev_f = fdget(args.device_fd);
	if (!fd_file(dev_f))
		return -EBADF;
	group_f = fdget(args.group_fd);
	if (!fd_file(group_f)) {
		fdput(dev_f);
		return -EBADF;
	}
	ret = add_device(inst, fd_file(dev_f), fd_file(group_f), args.bdf);
	fdput(group_f);
	fdput(dev_f);
	return ret;
}

long coiommu_remove_device(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_remove_device args;
	struct coiommu_domain *dom;
	struct coiommu_dev *d;
	int ret;

	ret = coiommu_copy_args(&args, sizeof(args), arg);
	if (ret)
		return ret;
	if (args.flags || args.pad[0] || args.pad[1] || args.pad[2])
		return -EINVAL;
	list_for_each_entry(d, &inst->devs.list, node)
		if (d->bdf == args.bdf)
			goto found;
	return -ENOENT;
found:
	list_del(&d->node);
	inst->devs.nr--;
	dom = d->dom;
	if (!--dom->users) {
		list_del(&dom->node);
		inst->devs.nr_domains--;
		coiommu_unmap_domain(inst, dom);
		disown_domain(dom);
		kfree(dom);
	}
	fput(d->file);
	free_dev(d);
	return 0;
}

/* Drop every device and domain. Nothing may be pinned any more. */
void coiommu_release_devices(struct coiommu_instance *inst)
{
	struct coiommu_domain *dom, *dtmp;
	struct coiommu_dev *d, *tmp;

	list_for_each_entry_safe(d, tmp, &inst->devs.list, node) {
		list_del(&d->node);
		fput(d->file);
		free_dev(d);
	}
	list_for_each_entry_safe(dom, dtmp, &inst->devs.domains, node) {
		list_del(&dom->node);
		disown_domain(dom);
		kfree(dom);
	}
	inst->devs.nr = 0;
	inst->devs.nr_domains = 0;
}
