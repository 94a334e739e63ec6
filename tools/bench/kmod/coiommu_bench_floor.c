// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_bench_floor: the floor of benchmark P1. A kernel loop that pins
 * one page of the caller (pin_user_pages, FOLL_WRITE | FOLL_LONGTERM, as
 * coiommu_host pins) and maps it with iommu_map() into the IOMMU domain of
 * a device, timing each pin + map with ktime; the unmap and unpin that
 * follow are not timed. No doorbell, no DTT, no accounting: the cost of
 * the pin itself. See bench_floor.h for the ioctl. With BENCH_FLOOR_COLD
 * the TLB is flushed before each iteration (untimed): under TCG every
 * switch between a nested guest and its host flushes QEMU's software TLB,
 * so the in-kernel pin path that follows a doorbell starts cold; this
 * variant shows how much of a gap to the warm loop that explains.
 *
 * A benchmark tool, never loaded by the product: root only.
 */
#include <linux/capability.h>
#include <linux/iommu.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/tlbflush.h>

#include "bench_floor.h"

static int floor_one(struct iommu_domain *dom, unsigned long uaddr,
		     unsigned long iova, bool cold, u64 *ns)
{
	struct page *page;
	ktime_t t0;
	long got;
	int ret;

	if (cold) {
		preempt_disable();
		__flush_tlb_all();
		preempt_enable();
	}
	t0 = ktime_get();
	mmap_read_lock(current->mm);
	got = pin_user_pages(uaddr, 1, FOLL_WRITE | FOLL_LONGTERM, &page, NULL);
	mmap_read_unlock(current->mm);
	if (got != 1)
		return got < 0 ? got : -EFAULT;
	ret = iommu_map(dom, iova, page_to_phys(page), PAGE_SIZE,
			IOMMU_READ | IOMMU_WRITE);
	*ns = ktime_to_ns(ktime_sub(ktime_get(), t0));
	if (!ret && iommu_unmap(dom, iova, PAGE_SIZE) != PAGE_SIZE)
		ret = -EIO;
	unpin_user_page(page);
	return ret;
}

static long floor_run(struct bench_floor_run __user *uarg)
{
	struct iommu_domain *dom;
	struct bench_floor_run r;
	struct pci_dev *pdev;
	u64 *ns;
	long ret = 0;
	u32 i;

	if (copy_from_user(&r, uarg, sizeof(r)))
		return -EFAULT;
	if (r.argsz < sizeof(r) || !r.nr || r.nr > BENCH_FLOOR_MAX ||
	    !PAGE_ALIGNED(r.uaddr) || !PAGE_ALIGNED(r.iova) ||
	    !PAGE_ALIGNED(r.stride) || (r.flags & ~BENCH_FLOOR_COLD))
		return -EINVAL;
	pdev = pci_get_domain_bus_and_slot(0, r.bdf >> 8, r.bdf & 0xff);
	if (!pdev)
		return -ENODEV;
	dom = iommu_get_domain_for_dev(&pdev->dev);
	if (!dom || dom->type != IOMMU_DOMAIN_UNMANAGED) {
		ret = -ENXIO;
		goto out_put;
	}
	ns = kvmalloc_array(r.nr, sizeof(*ns), GFP_KERNEL);
	if (!ns) {
		ret = -ENOMEM;
		goto out_put;
	}
	for (i = 0; i < r.nr && !ret; i++) {
		ret = floor_one(dom, r.uaddr + i * r.stride,
				r.iova + i * r.stride,
				r.flags & BENCH_FLOOR_COLD, &ns[i]);
		cond_resched();
	}
	if (!ret && copy_to_user(u64_to_user_ptr(r.ns), ns,
				 r.nr * sizeof(*ns)))
		ret = -EFAULT;
	kvfree(ns);
out_put:
	pci_dev_put(pdev);
	return ret;
}

static long floor_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (cmd != BENCH_FLOOR_RUN)
		return -ENOTTY;
	return floor_run((struct bench_floor_run __user *)arg);
}

static const struct file_operations floor_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = floor_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice floor_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "coiommu_bench_floor",
	.fops = &floor_fops,
	.mode = 0600,
};

module_misc_device(floor_misc);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("coIOMMU benchmark P1 floor: pin_user_pages + iommu_map");
