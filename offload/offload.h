/* offload/offload.h — what the OpenCL bridge's files share (private). */
#ifndef NG_OFFLOAD_OFFLOAD_H
#define NG_OFFLOAD_OFFLOAD_H

#define CL_TARGET_OPENCL_VERSION 300
#include "../core/internal.h"
#include "../core/waitq.h"

#include <numago/offload.h>

struct ng_cl_device {
	ng_cl_device_info info;
	cl_context ctx; /* created on first use (a CAS publishes it) */
	/* the completion mode the probe found: 0 not probed yet */
	_Atomic int probed_mode;
};

/* An event callback's handle on its op, shared with the op: the callback
 * may come late (NVIDIA) or never (PoCL 3.1, failed commands), so it must
 * not hold the op itself past the op's completion.  Whoever completes the
 * op first takes `op` (and its reference); the token is freed by the last
 * of the two sides.  A token whose callback never comes is 16 bytes lost
 * (counted: cb_orphans). */
typedef struct cb_token {
	_Atomic(ng_cl_op *) op;
	_Atomic int refs;
} cb_token;

struct ng_cl_queue {
	cl_command_queue cq;
	ng_cl_device *dev;
	int mode;          /* NG_CL_COMPLETION_CALLBACK or _POLL */
	_Atomic int dirty; /* commands enqueued since the last clFlush */
	/* Commands in flight, oldest first (in-order queue: the oldest
	 * completes first); the poller and the watchdog walk it. */
	_Atomic int32_t lock;
	ng_cl_op *head, *tail;
	_Atomic int64_t ninflight;
	cl_int first_error;           /* of the first op that failed (atomic builtins) */
	struct ng_cl_queue *next_all; /* all queues (cl_g.qlock) */
	struct ng_cl_queue *prev_all;
};

enum { OP_PENDING = 0, OP_PARKED = 1, OP_DONE = 2 };
enum { SRC_CALLBACK, SRC_POLL, SRC_WATCHDOG, SRC_ENQUEUE };

struct ng_cl_op {
	/* PENDING -> PARKED (a waiter queued) -> DONE, or PENDING -> DONE:
	 * the completer's only atomic when nobody waits is one exchange. */
	_Atomic int state;
	_Atomic cl_int status;  /* valid once DONE */
	_Atomic int completing; /* 0 -> 1 by the one completer */
	_Atomic int refs;
	cl_event ev;
	ng_cl_queue *q;
	cb_token *tok;    /* NULL in poll mode */
	int64_t t_submit; /* ng_nanotime at submission (watchdog) */
	/* waiters; the done channel is made under wq.lock */
	ng_waitq_ wq;
	ng_chan *done_ch;
	bool linked;           /* in q's in-flight list: q->lock */
	ng_cl_op *prev, *next; /* q's in-flight list */
	const char *what;      /* "clEnqueueNDRangeKernel", ... for messages */
};

/* cl.c */
extern struct cl_global {
	_Atomic int inited; /* 0 no, 1 yes, < 0 the error */
	_Atomic int init_claim;
	int ndev;
	ng_cl_device *devs;
	bool quiet; /* NUMAGO_DEBUG=clquiet=1 */
	/* stats */
	/* ops, completed, failed, parks: ng_stat_offload (core, for ng_stats) */
	_Atomic uint64_t by_callback, by_poll, by_watchdog, flushes;
	_Atomic int64_t ops_live, cb_orphans;
	/* submitters and completers: a line of its own */
	_Alignas(128) _Atomic int64_t inflight;
	char pad_[120];
	/* all queues, for the poller and the watchdog */
	pthread_mutex_t qlock;
	ng_cl_queue *queues;
	_Atomic int npollq; /* poll-mode queues with commands in flight */
} cl_g;

int ng_cl_lazy_init(void);
int ng_cl_jobs_running(void); /* OpenCL calls running on a big-stack thread */
/* negative errno for an OpenCL error code */
int ng_cl_errno(cl_int e);
/* ... for a command's failed execution status, at its waiter */
int ng_cl_status_errno(cl_int st);
/* the one line a failed call prints (unless clquiet) */
void ng_cl_report(const char *call, cl_int e, const char *detail);
int ng_cl_probe_mode(ng_cl_device *d, cl_command_queue cq);

/* op.c */
void ng_cl_ops_init(void);
int ng_cl_op_submit(ng_cl_queue *q, cl_event ev, const char *what, ng_cl_op **out);
/* ... of a command that failed with status st (< 0) before it reached the
 * driver (ev: a user event of that status): the op is complete on return. */
int ng_cl_op_submit_failed(ng_cl_queue *q, cl_event ev, const char *what, cl_int st,
                           ng_cl_op **out);
/* The wait-list of deps (NULL entries skipped) in evs (caller's array of
 * ndeps): how many, -EINVAL, or -EIO when one of them has failed already
 * (the command must not be enqueued: see dep_failed in op.c). */
int ng_cl_deps(ng_cl_queue *q, ng_cl_op *const *deps, int ndeps, cl_event *evs);
void ng_cl_queue_flush(ng_cl_queue *q);

#endif
