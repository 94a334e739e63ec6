// SPDX-License-Identifier: GPL-2.0
/*
 * coiommu_host: notify slots and per-vCPU doorbells.
 *
 * A doorbell is an eventfd that KVM signals (a KVM_IOEVENTFD) when a vCPU
 * writes its trigger byte. We wait on the eventfd's wait queue with a wake
 * function of our own, as KVM's irqfd and vhost do. The wake function runs
 * right after the guest's write, in the vCPU thread, in atomic context;
 * it queues the request as task work on that thread (TWA_RESUME), which
 * KVM runs before it re-enters the guest: the request is served by the
 * vCPU thread itself, sleepable, with the VMM's mm, before the guest's
 * next instruction. When the eventfd is signalled from another context
 * (another process, a kernel thread or a user worker such as io_uring's
 * or vhost's, an exiting task, an interrupt), the instance's worker
 * serves it instead.
 *
 * Task work cannot be cancelled (task_work_cancel() is not exported), so
 * while it is queued it holds a reference on the instance's file: the
 * instance, and through the file's owner the module, stay until it has run.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include <linux/coiommu.h>

#include "coiommu.h"
#include "compat.h"
#include "trace.h"

static bool task_work_path = true;
module_param(task_work_path, bool, 0644);
MODULE_PARM_DESC(task_work_path,
		 "Serve a doorbell in the ringing vCPU thread (default: on; off: always the worker)");

long coiommu_set_notify(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_notify args;
	unsigned long first, last;
	struct page **pages;
	unsigned int n;
	long got;
	int ret;

	ret = coiommu_copy_args(&args, sizeof(args), arg);
	if (ret)
		return ret;
	if (args.flags || args.pad || !args.nr_vcpus ||
	    args.nr_vcpus > COIOMMU_MAX_VCPUS || !IS_ALIGNED(args.slots_vaddr, 8))
		return -EINVAL;
	if (args.slots_vaddr >= TASK_SIZE ||
	    args.nr_vcpus * 8UL > TASK_SIZE - args.slots_vaddr)
		return -EFAULT;
	if (inst->db.slots)
		return -EBUSY;

	first = args.slots_vaddr >> PAGE_SHIFT;
	last = (args.slots_vaddr + args.nr_vcpus * 8UL - 1) >> PAGE_SHIFT;
	n = last - first + 1;
	pages = kcalloc(n, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	inst->db.bells = kcalloc(args.nr_vcpus, sizeof(*inst->db.bells),
				 GFP_KERNEL_ACCOUNT);
	if (!pages || !inst->db.bells) {
		ret = -ENOMEM;
		goto err_free;
	}

	ret = coiommu_account(inst, n);
	if (ret)
		goto err_free;
	mmap_read_lock(inst->mm);
	got = coiommu_pin_user_pages(first << PAGE_SHIFT, n,
				     FOLL_WRITE | FOLL_LONGTERM, pages);
	mmap_read_unlock(inst->mm);
	if (got != n) {
		if (got > 0)
			unpin_user_pages(pages, got);
		ret = got < 0 ? got : -EFAULT;
		goto err_uncharge;
	}
	inst->db.slots = vmap(pages, n, VM_MAP, PAGE_KERNEL);
	if (!inst->db.slots) {
		unpin_user_pages(pages, n);
		ret = -ENOMEM;
		goto err_uncharge;
	}
	inst->db.slots += offset_in_page(args.slots_vaddr) / sizeof(u64);
	inst->db.slot_pages = pages;
	inst->db.nr_slot_pages = n;
	inst->db.nr_vcpus = args.nr_vcpus;
	return 0;

err_uncharge:
	coiommu_account(inst, -(long)n);
err_free:
	kfree(inst->db.bells);
	inst->db.bells = NULL;
	kfree(pages);
	return ret;
}

void coiommu_free_notify(struct coiommu_instance *inst)
{
	if (!inst->db.slots)
		return;
	vunmap((void *)((unsigned long)inst->db.slots & PAGE_MASK));
	unpin_user_pages_dirty_lock(inst->db.slot_pages, inst->db.nr_slot_pages,
				    true);
	coiommu_account(inst, -(long)inst->db.nr_slot_pages);
	kfree(inst->db.slot_pages);
	inst->db.slots = NULL;
	inst->db.slot_pages = NULL;
	inst->db.nr_slot_pages = 0;
}

static void coiommu_queue_worker(struct coiommu_bell *bell)
{
	set_bit(COIOMMU_BELL_WORK, &bell->flags);
	queue_work(system_unbound_wq, &bell->inst->db.work);
}

/* Task work: runs in the thread that rang, before it returns to the guest. */
static void coiommu_bell_task_work(struct callback_head *cb)
{
	struct coiommu_bell *bell = container_of(cb, struct coiommu_bell, twork);
	struct file *file = bell->inst->file;

	/* From here on a new ring queues this callback again. */
	clear_bit(COIOMMU_BELL_TW_QUEUED, &bell->flags);
	/* Order the clear before our read of the slot in coiommu_serve(). */
	smp_mb__after_atomic();

	/* Run from exit_task_work() after exit_mm(): no mm any more. */
	if (current->mm == bell->inst->mm)
		coiommu_serve(bell, COIOMMU_PATH_TASK);
	else
		coiommu_queue_worker(bell);
	fput(file);
}

/* A ring, in atomic context. */
static void coiommu_bell_ring(struct coiommu_bell *bell)
{
	struct coiommu_instance *inst = bell->inst;

	WRITE_ONCE(bell->rung_ns, ktime_get_ns());
	/*
	 * Task work runs when the thread returns to user or guest mode: only
	 * a user thread of the VMM, in process context, surely does so soon.
	 * Kernel threads, io_uring and vhost workers (which never return to
	 * user mode), exiting threads and interrupt context go to the worker.
	 */
	if (READ_ONCE(task_work_path) && in_task() &&
	    current->mm == inst->mm &&
	    !(current->flags & (COIOMMU_PF_WORKERS | PF_EXITING))) {
		/* Queued already: it reads the slot after this write. */
		if (test_and_set_bit(COIOMMU_BELL_TW_QUEUED, &bell->flags))
			return;
		/* Fails only while the instance is being released. */
		if (coiommu_get_file_unless_released(&inst->file)) {
			init_task_work(&bell->twork, coiommu_bell_task_work);
			if (!task_work_add(current, &bell->twork, TWA_RESUME)) {
				trace_coiommu_doorbell(inst->id, bell->vcpu, true);
				return;
			}
			fput(inst->file);
		}
		clear_bit(COIOMMU_BELL_TW_QUEUED, &bell->flags);
	}
	trace_coiommu_doorbell(inst->id, bell->vcpu, false);
	coiommu_queue_worker(bell);
}

static int coiommu_bell_wake(wait_queue_entry_t *wait, unsigned int mode,
			     int sync, void *key)
{
	struct coiommu_bell *bell = container_of(wait, struct coiommu_bell, wait);
	__poll_t events = key_to_poll(key);
	u64 cnt;

	if (events & EPOLLIN) {
		/* Called with the eventfd's wait queue lock held. */
		eventfd_ctx_do_read(bell->ctx, &cnt);
		coiommu_bell_ring(bell);
	}
	if (events & EPOLLHUP) {
		/*
		 * The eventfd is being closed: detach for good. Our reference
		 * keeps its wait queue, so release removes the entry again;
		 * leave it self-linked for that.
		 */
		list_del_init(&bell->wait.entry);
	}
	return 0;
}

static void coiommu_bell_queue_proc(struct file *file, wait_queue_head_t *wqh,
				    poll_table *pt)
{
	struct coiommu_bell *bell = container_of(pt, struct coiommu_bell, pt);

	bell->wqh = wqh;
	add_wait_queue(wqh, &bell->wait);
}

long coiommu_set_doorbell(struct coiommu_instance *inst, void __user *arg)
{
	struct coiommu_doorbell args;
	struct coiommu_bell *bell;
	struct eventfd_ctx *ctx;
	__poll_t events;
	struct fd f;
	int ret;

	ret = coiommu_copy_args(&args, sizeof(args), arg);
	if (ret)
		return ret;
	if (args.flags)
		return -EINVAL;
	if (!inst->db.slots)
		return -ENXIO;
	if (args.vcpu >= inst->db.nr_vcpus)
		return -EINVAL;
	if (inst->db.bells[args.vcpu])
		return -EEXIST;

	f = fdget(args.eventfd);
	if (!fd_file(f))
		return -EBADF;
	ctx = eventfd_ctx_fileget(fd_file(f));
	if (IS_ERR(ctx)) {
		fdput(f);
		return PTR_ERR(ctx);
	}
	bell = kzalloc(sizeof(*bell), GFP_KERNEL_ACCOUNT);
	if (!bell) {
		eventfd_ctx_put(ctx);
		fdput(f);
		return -ENOMEM;
	}
	bell->inst = inst;
	bell->vcpu = args.vcpu;
	bell->ctx = ctx;
	init_waitqueue_func_entry(&bell->wait, coiommu_bell_wake);
	init_poll_funcptr(&bell->pt, coiommu_bell_queue_proc);
	/* The worker reads bells[] without the lock. */
	smp_store_release(&inst->db.bells[args.vcpu], bell);

	events = vfs_poll(fd_file(f), &bell->pt);
	fdput(f);
	/* Rung before we were listening: the worker takes it. */
	if (events & EPOLLIN) {
		WRITE_ONCE(bell->rung_ns, ktime_get_ns());
		coiommu_queue_worker(bell);
	}
	return 0;
}

/*
 * Stop listening on every doorbell and wait for the worker. Task work
 * still queued holds a file reference, so none is pending when the
 * instance is released.
 */
void coiommu_detach_doorbells(struct coiommu_instance *inst)
{
	unsigned int i;
	u64 cnt;

	for (i = 0; inst->db.bells && i < inst->db.nr_vcpus; i++) {
		struct coiommu_bell *bell = inst->db.bells[i];

		if (!bell)
			continue;
		if (bell->wqh)
			eventfd_ctx_remove_wait_queue(bell->ctx, &bell->wait,
						      &cnt);
	}
	cancel_work_sync(&inst->db.work);
	for (i = 0; inst->db.bells && i < inst->db.nr_vcpus; i++) {
		struct coiommu_bell *bell = inst->db.bells[i];

		if (!bell)
			continue;
		eventfd_ctx_put(bell->ctx);
		kfree(bell);
	}
	kfree(inst->db.bells);
	inst->db.bells = NULL;
}

/* The worker: serves the doorbells flagged COIOMMU_BELL_WORK. */
void coiommu_work(struct work_struct *work)
{
	struct coiommu_instance *inst =
		container_of(work, struct coiommu_instance, db.work);
	bool have_mm = mmget_not_zero(inst->mm);
	unsigned int i;

	if (have_mm)
		kthread_use_mm(inst->mm);
	for (i = 0; i < inst->db.nr_vcpus; i++) {
		struct coiommu_bell *bell;

		/* Pairs with the release in coiommu_set_doorbell(). */
		bell = smp_load_acquire(&inst->db.bells[i]);
		if (!bell || !test_and_clear_bit(COIOMMU_BELL_WORK, &bell->flags))
			continue;
		/* With the VMM gone, requests are refused but completed. */
		coiommu_serve(bell, COIOMMU_PATH_WORKER);
	}
	if (have_mm) {
		kthread_unuse_mm(inst->mm);
		mmput(inst->mm);
	}
}
