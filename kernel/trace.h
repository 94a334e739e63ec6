/* SPDX-License-Identifier: GPL-2.0 */
/*
 * coiommu_host tracepoints: /sys/kernel/tracing/events/coiommu/
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM coiommu

#if !defined(_COIOMMU_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _COIOMMU_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(coiommu_doorbell,
	    TP_PROTO(u64 inst, unsigned int vcpu, bool task_work),
	    TP_ARGS(inst, vcpu, task_work),
	    TP_STRUCT__entry(__field(u64, inst)
			     __field(unsigned int, vcpu)
			     __field(bool, task_work)),
	    TP_fast_assign(__entry->inst = inst;
			   __entry->vcpu = vcpu;
			   __entry->task_work = task_work;),
	    TP_printk("instance=%llu vcpu=%u path=%s", __entry->inst,
		      __entry->vcpu,
		      __entry->task_work ? "task_work" : "worker")
);

TRACE_EVENT(coiommu_request,
	    TP_PROTO(u64 inst, unsigned int vcpu, u64 req, int ret, u64 ns),
	    TP_ARGS(inst, vcpu, req, ret, ns),
	    TP_STRUCT__entry(__field(u64, inst)
			     __field(unsigned int, vcpu)
			     __field(u64, req)
			     __field(int, ret)
			     __field(u64, ns)),
	    TP_fast_assign(__entry->inst = inst;
			   __entry->vcpu = vcpu;
			   __entry->req = req;
			   __entry->ret = ret;
			   __entry->ns = ns;),
	    TP_printk("instance=%llu vcpu=%u req=%#llx ret=%d latency_ns=%llu",
		      __entry->inst, __entry->vcpu, __entry->req, __entry->ret,
		      __entry->ns)
);

TRACE_EVENT(coiommu_refuse,
	    TP_PROTO(u64 inst, unsigned int vcpu, u64 req, int reason),
	    TP_ARGS(inst, vcpu, req, reason),
	    TP_STRUCT__entry(__field(u64, inst)
			     __field(unsigned int, vcpu)
			     __field(u64, req)
			     __field(int, reason)),
	    TP_fast_assign(__entry->inst = inst;
			   __entry->vcpu = vcpu;
			   __entry->req = req;
			   __entry->reason = reason;),
	    TP_printk("instance=%llu vcpu=%u req=%#llx reason=%d",
		      __entry->inst, __entry->vcpu, __entry->req,
		      __entry->reason)
);

TRACE_EVENT(coiommu_pin,
	    TP_PROTO(u64 inst, u64 gfn, unsigned long npages, int ret),
	    TP_ARGS(inst, gfn, npages, ret),
	    TP_STRUCT__entry(__field(u64, inst)
			     __field(u64, gfn)
			     __field(unsigned long, npages)
			     __field(int, ret)),
	    TP_fast_assign(__entry->inst = inst;
			   __entry->gfn = gfn;
			   __entry->npages = npages;
			   __entry->ret = ret;),
	    TP_printk("instance=%llu gfn=%#llx pinned=%lu ret=%d",
		      __entry->inst, __entry->gfn, __entry->npages,
		      __entry->ret)
);

/* @cause: coiommu_cause_names[], the names the counters use too */
TRACE_EVENT(coiommu_unpin,
	    TP_PROTO(u64 inst, u64 gfn, unsigned long npages,
		     const char *cause),
	    TP_ARGS(inst, gfn, npages, cause),
	    TP_STRUCT__entry(__field(u64, inst)
			     __field(u64, gfn)
			     __field(unsigned long, npages)
			     __array(char, cause, 12)),
	    TP_fast_assign(__entry->inst = inst;
			   __entry->gfn = gfn;
			   __entry->npages = npages;
			   strscpy(__entry->cause, cause,
				   sizeof(__entry->cause));),
	    TP_printk("instance=%llu gfn=%#llx npages=%lu cause=%s",
		      __entry->inst, __entry->gfn, __entry->npages,
		      __entry->cause)
);

TRACE_EVENT(coiommu_scan,
	    TP_PROTO(u64 inst, unsigned long scanned, unsigned long released,
		     u64 sweeps, bool old_turn),
	    TP_ARGS(inst, scanned, released, sweeps, old_turn),
	    TP_STRUCT__entry(__field(u64, inst)
			     __field(unsigned long, scanned)
			     __field(unsigned long, released)
			     __field(u64, sweeps)
			     __field(bool, old_turn)),
	    TP_fast_assign(__entry->inst = inst;
			   __entry->scanned = scanned;
			   __entry->released = released;
			   __entry->sweeps = sweeps;
			   __entry->old_turn = old_turn;),
	    TP_printk("instance=%llu scanned=%lu released=%lu sweeps=%llu old_generation=%d",
		      __entry->inst, __entry->scanned, __entry->released,
		      __entry->sweeps, __entry->old_turn)
);

#endif /* _COIOMMU_TRACE_H */

/* This part must be outside the header guard. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
