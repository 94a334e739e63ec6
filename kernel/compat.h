/* SPDX-License-Identifier: GPL-2.0 */
/*
 * coiommu_host: the kernel API differences between the kernels the module
 * is built and tested for (Debian 12's 6.1 and Debian 13's 6.12), in one
 * place, keyed on LINUX_VERSION_CODE. Each shim keeps the behaviour of
 * the 6.1 code. The version thresholds are those of the upstream changes;
 * only 6.1 and 6.12 are built and tested.
 */
#ifndef _COIOMMU_COMPAT_H
#define _COIOMMU_COMPAT_H

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/iommu.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vfio.h>
#include <linux/version.h>

/*
 * struct fd: 6.12 packs the file pointer and flags into one word, read
 * with fd_file(). Before, it was the member .file.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#define fd_file(f)	((f).file)
#endif

/*
 * mmap_write_trylock() is gone by 6.12. The shim takes mmap_lock for
 * write the way mmap_write_lock() does (tracepoints, and the mm sequence
 * count that mmap_write_unlock() ends), without waiting.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
static inline bool coiommu_mmap_write_trylock(struct mm_struct *mm)
{
	bool ok;

	__mmap_lock_trace_start_locking(mm, true);
	ok = down_write_trylock(&mm->mmap_lock) != 0;
	if (ok)
		mm_lock_seqcount_begin(mm);
	__mmap_lock_trace_acquire_returned(mm, true, ok);
	return ok;
}
#else
#define coiommu_mmap_write_trylock(mm)	mmap_write_trylock(mm)
#endif

/*
 * iommu_map() takes a gfp argument since 6.3; before, it allocated page
 * table pages with GFP_KERNEL, which is what we pass.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define coiommu_iommu_map(d, iova, pa, size, prot) \
	iommu_map(d, iova, pa, size, prot, GFP_KERNEL)
#else
#define coiommu_iommu_map(d, iova, pa, size, prot) \
	iommu_map(d, iova, pa, size, prot)
#endif

/*
 * 6.5 dropped the vmas argument of pin_user_pages(),
 * pin_user_pages_remote() and get_user_pages_remote(); we never used it.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define coiommu_pin_user_pages(start, n, flags, pages) \
	pin_user_pages(start, n, flags, pages)
#define coiommu_pin_user_pages_remote(mm, start, n, flags, pages, locked) \
	pin_user_pages_remote(mm, start, n, flags, pages, locked)
#define coiommu_get_user_pages_remote(mm, start, n, flags, pages, locked) \
	get_user_pages_remote(mm, start, n, flags, pages, locked)
#else
#define coiommu_pin_user_pages(start, n, flags, pages) \
	pin_user_pages(start, n, flags, pages, NULL)
#define coiommu_pin_user_pages_remote(mm, start, n, flags, pages, locked) \
	pin_user_pages_remote(mm, start, n, flags, pages, NULL, locked)
#define coiommu_get_user_pages_remote(mm, start, n, flags, pages, locked) \
	get_user_pages_remote(mm, start, n, flags, pages, NULL, locked)
#endif

/*
 * Take a reference on a file whose count may have dropped to zero (its
 * release is running), failing then. 6.7 turned get_file_rcu() into a
 * lookup through a __rcu pointer; get_file_active() is the same test on
 * a plain pointer to the file pointer.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
static inline bool coiommu_get_file_unless_released(struct file **f)
{
	return !!get_file_active(f);
}
#else
static inline bool coiommu_get_file_unless_released(struct file **f)
{
	return get_file_rcu(*f);
}
#endif

/*
 * The struct vfio_device behind a VFIO device file (one checked to be
 * such by the caller). Up to 6.4, private_data is the struct vfio_device.
 * From 6.5 it is VFIO's struct vfio_device_file (drivers/vfio/vfio.h, not
 * exported) whose first member is the struct vfio_device pointer; VFIO
 * exports no accessor. The caller still checks the result against the
 * group file with vfio_file_has_dev().
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
static inline struct vfio_device *coiommu_vfio_file_device(struct file *f)
{
	struct vfio_device **df = f->private_data;

	return df ? *df : NULL;
}

/* 6.2+: VFIO tells its own files (group or device) apart from others. */
static inline bool coiommu_vfio_file_is_device(struct file *f)
{
	return vfio_file_is_valid(f) && !vfio_file_is_group(f);
}
#else
static inline struct vfio_device *coiommu_vfio_file_device(struct file *f)
{
	return f->private_data;
}

/* 6.1 has no such test; the caller's checks of the file are all there is. */
static inline bool coiommu_vfio_file_is_device(struct file *f)
{
	return true;
}
#endif

/*
 * OR @bits into the u32 at user address @p of the current mm atomically,
 * with a compare-and-exchange on the user address: 0, or -EAGAIN after
 * @tries lost races, -EFAULT on a fault, -EOPNOTSUPP where the
 * architecture has no unsafe_try_cmpxchg_user() (6.1 has it on x86).
 */
#ifdef unsafe_try_cmpxchg_user
static inline int coiommu_user_or32(u32 __user *p, u32 bits,
				    unsigned int tries)
{
	u32 old;

	if (!user_access_begin(p, sizeof(*p)))
		return -EFAULT;
	unsafe_get_user(old, p, fault);
	while (tries--) {
		if (unsafe_try_cmpxchg_user(p, &old, old | bits, fault)) {
			user_access_end();
			return 0;
		}
	}
	user_access_end();
	return -EAGAIN;
fault:
	user_access_end();
	return -EFAULT;
}
#else
static inline int coiommu_user_or32(u32 __user *p, u32 bits,
				    unsigned int tries)
{
	return -EOPNOTSUPP;
}
#endif

/*
 * A VFIO device bound to iommufd (6.2+, CONFIG_IOMMUFD: a group in an
 * iommufd compat container, or a VFIO cdev) has an iommufd_device once it
 * is opened. Debian's 6.1 and 6.12 are built without iommufd.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0) && IS_ENABLED(CONFIG_IOMMUFD)
static inline bool coiommu_vfio_device_iommufd(struct vfio_device *vdev)
{
	return vdev->iommufd_device;
}
#else
static inline bool coiommu_vfio_device_iommufd(struct vfio_device *vdev)
{
	return false;
}
#endif

/*
 * task flags of threads that run in the kernel for a user process and
 * never return to user mode: io_uring's workers, and since 6.4 vhost's and
 * other user workers.
 */
#ifdef PF_USER_WORKER
#define COIOMMU_PF_WORKERS	(PF_KTHREAD | PF_IO_WORKER | PF_USER_WORKER)
#else
#define COIOMMU_PF_WORKERS	(PF_KTHREAD | PF_IO_WORKER)
#endif

/*
 * Shrinkers: 6.7 allocates them (shrinker_alloc(), shrinker_register(),
 * shrinker_free()); before, the caller provided the struct and called
 * register_shrinker() and unregister_shrinker(). Both return NULL on
 * failure to allocate or register.
 */
static inline struct shrinker *
coiommu_shrinker_create(const char *name,
			unsigned long (*count)(struct shrinker *,
					       struct shrink_control *),
			unsigned long (*scan)(struct shrinker *,
					      struct shrink_control *))
{
	struct shrinker *s;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	s = shrinker_alloc(0, "%s", name);
	if (!s)
		return NULL;
#else
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return NULL;
#endif
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	shrinker_register(s);
#else
	if (register_shrinker(s, "%s", name)) {
		kfree(s);
		return NULL;
	}
#endif
	return s;
}

static inline void coiommu_shrinker_destroy(struct shrinker *s)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	shrinker_free(s);
#else
	unregister_shrinker(s);
	kfree(s);
#endif
}

#endif /* _COIOMMU_COMPAT_H */
