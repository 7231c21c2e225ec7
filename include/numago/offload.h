/* numago — offload: goroutines launch OpenCL commands and park until done.
 *
 * Built when CMake finds OpenCL (the ICD loader: ocl-icd-opencl-dev and
 * opencl-headers); numago.h does not include this header, programs that
 * offload include it and get OpenCL's headers with it.
 *
 * Model.  Submission is inline: ng_cl_launch, ng_cl_write, ... enqueue on
 * the calling goroutine's thread (no thread hop) and return an operation.
 * The goroutine then waits (ng_cl_wait, with a deadline) or selects on the
 * operation's done channel (ng_cl_done_chan).  Waiting parks the goroutine,
 * never its thread: nothing in numago calls clFinish or clWaitForEvents on a
 * P.  Completions arrive per queue either by event callbacks (prompt on
 * PoCL) or by polling the oldest command of each in-order queue from idle
 * Ps, sysmon and a backing-off runtime timer (for drivers whose callbacks
 * come late, as NVIDIA's did: 10-20 ms after short kernels); a short probe
 * at queue creation picks the mode (NUMAGO_CL_COMPLETION=callback|poll
 * forces one).  A watchdog re-checks commands older than 1 ms every 2 ms, so
 * a command that fails without a callback (PoCL 3.1 fires none for a
 * failed command) still reaches its waiter.
 *
 * CPU devices.  A CPU OpenCL device (PoCL) runs kernels on threads of its
 * own that compete with the Ps for the same cores.  Unless
 * POCL_MAX_PTHREAD_COUNT is already set, numago sets it, before the first
 * OpenCL call, to the CPUs the Ps leave free (at least 1): with the
 * default of one P per CPU that is 1 thread; run fewer Ps (NUMAGO_PROCS)
 * to give the device more.  NUMAGO_CL_CPU_THREADS=N overrides the split.
 * Call ng_cl_init before any other OpenCL call of the program so the
 * setting takes effect.
 *
 * Errors are negative errno values:
 *   -ENODEV     no OpenCL platform or device (or none matched a selection);
 *               a device lost (CL_DEVICE_NOT_AVAILABLE) at a waiter
 *   -ENOEXEC    a program failed to build (the build log is returned)
 *   -EINVAL     NULL or bad arguments, an invalid OpenCL argument or object
 *               (CL_INVALID_*), kernel arguments not all set
 *   -ENOMEM     out of host or device memory/resources
 *   -EIO        a command failed on the device (ng_cl_op_status gives the
 *               OpenCL code), or depended on one that did
 *   -ETIMEDOUT  a wait's deadline passed (the operation goes on)
 *   -EAGAIN     a wait with deadline 0 (a poll) found the op pending
 * A failed enqueue or command also prints one line to stderr naming the
 * call and the OpenCL error (NUMAGO_DEBUG=clquiet=1 silences it).
 *
 * Fault injection (NUMAGO_FAULT, for tests of these paths): cl_init makes
 * discovery find no platform (cl_init@1: a platform without devices), so
 * every call that needs a device gets -ENODEV after that one line;
 * cl_cmd makes launches, reads, writes, maps, unmaps and markers fail on
 * the device with CL_OUT_OF_RESOURCES: the enqueue returns 0 and the op,
 * its waiters and kernel-channel replies get -ENOMEM (a failed map leaves
 * *ptr NULL), and commands that depend on it fail with -EIO.
 *
 * Deadlines are absolute CLOCK_MONOTONIC ns (ng_now()); NG_FOREVER waits
 * forever, 0 polls (-EAGAIN while pending). */
#ifndef NUMAGO_OFFLOAD_H
#define NUMAGO_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 300
#endif
#include <CL/cl.h>

#include <numago/chan.h>

#ifdef __cplusplus
extern "C" {
#endif
#ifndef NG_FOREVER
#define NG_FOREVER ((int64_t)-1)
#endif

#pragma GCC visibility push(default)

/* ---- devices ---- */

typedef struct ng_cl_device ng_cl_device;

enum { NG_CL_CPU = 1, NG_CL_GPU = 2, NG_CL_ACCEL = 4, NG_CL_ANY = 7 };

typedef struct ng_cl_device_info {
	char name[128];
	char vendor[128];
	char platform[128];
	int type;      /* NG_CL_CPU, NG_CL_GPU or NG_CL_ACCEL */
	int index;     /* in ng_cl_device_get's numbering */
	int numa_node; /* the device's NUMA node (hwloc), -1: none (CPU devices, unknown) */
	char pci[32];  /* "dddd:bb:dd.f" when hwloc knows its PCI address, else "" */
	/* The Ps near the device: on its NUMA node, all Ps when it has none
	 * (place the goroutines that feed it there: ng_go_attr.numa_node). */
	int nhome;
	int home_procs[64];
	cl_platform_id platform_id;
	cl_device_id device_id;
	unsigned compute_units;
	size_t global_mem;
} ng_cl_device_info;

/* Discover platforms and devices once (later calls return at once): 0, or
 * -ENODEV when there is no OpenCL platform or device.  Every other ng_cl_
 * call does it on first use. */
int ng_cl_init(void);
int ng_cl_device_count(void);              /* >= 0, or a negative error */
ng_cl_device *ng_cl_device_get(int index); /* NULL when out of range */
int ng_cl_device_info_get(const ng_cl_device *d, ng_cl_device_info *out);
/* The first device of one of the `types` (NG_CL_* mask) whose name, vendor
 * or platform contains `name` (NULL: any), after NUMAGO_CL_DEVICE when set:
 * "cpu", "gpu", "accel", an index ("1"), or a substring of the name, vendor
 * or platform ("NVIDIA").  -ENODEV when none matches. */
int ng_cl_device_select(int types, const char *name, ng_cl_device **out);
/* The device's context (one per device, created by numago, owned by it). */
cl_context ng_cl_context(ng_cl_device *d);

/* ---- queues ---- */

typedef struct ng_cl_queue ng_cl_queue;
enum { NG_CL_COMPLETION_AUTO = 0, NG_CL_COMPLETION_CALLBACK = 1, NG_CL_COMPLETION_POLL = 2 };
typedef struct ng_cl_queue_attr {
	int completion; /* NG_CL_COMPLETION_*: AUTO probes the device once */
	int profiling;  /* CL_QUEUE_PROFILING_ENABLE */
} ng_cl_queue_attr;
/* An in-order command queue on d (attr may be NULL). */
int ng_cl_queue_create(ng_cl_device *d, const ng_cl_queue_attr *attr, ng_cl_queue **out);
/* Waits (parking) for the queue's commands, then releases it: 0, or the
 * error of the first command on q that failed. */
int ng_cl_queue_release(ng_cl_queue *q);
cl_command_queue ng_cl_queue_handle(ng_cl_queue *q);
ng_cl_device *ng_cl_queue_device(ng_cl_queue *q);
int ng_cl_queue_completion(ng_cl_queue *q); /* the mode in use: CALLBACK or POLL */

/* ---- programs and buffers ---- */

/* Build `source` for d.  The build runs as a blocking call (ng_block_enter),
 * so the goroutine's P runs other goroutines meanwhile.  On failure returns
 * -ENOEXEC and, when log != NULL, *log = the build log (free() it). */
int ng_cl_program_build(ng_cl_device *d, const char *source, const char *options, cl_program *out,
                        char **log);
/* A buffer of `size` bytes in d's context.  With CL_MEM_ALLOC_HOST_PTR on a
 * device with a NUMA node, the host memory is allocated on that node (and
 * freed when the buffer is released with clReleaseMemObject). */
int ng_cl_buffer_create(ng_cl_device *d, cl_mem_flags flags, size_t size, cl_mem *out);

/* ---- operations ---- */

typedef struct ng_cl_op ng_cl_op;

/* A kernel argument: NG_CL_ARG(x) passes the value x (its address and
 * size), NG_CL_LOCAL(bytes) a __local buffer. */
typedef struct ng_cl_arg {
	size_t size;
	const void *value;
} ng_cl_arg;
#define NG_CL_ARG(x)       ((ng_cl_arg){sizeof(x), &(x)})
#define NG_CL_LOCAL(bytes) ((ng_cl_arg){(bytes), NULL})

/* What ng_cl_launch runs: global (and local, NULL: the driver's choice)
 * work sizes in `dim` dimensions (1..3). */
typedef struct ng_cl_range {
	cl_uint dim;
	size_t global[3];
	size_t local[3]; /* all 0: NULL local size */
	size_t offset[3];
} ng_cl_range;

/* Each enqueue returns *op (one reference: ng_cl_op_release it), ordered
 * after the ops in deps[0..ndeps) (same context; NULL entries skipped) and
 * after everything before it on q (in-order queue).  Nothing blocks.
 *
 * ng_cl_launch sets the kernel's arguments (nargs of them from args; 0
 * keeps the ones set before) and enqueues it, atomically with respect to
 * other ng_cl_launch calls on the same kernel from other goroutines. */
int ng_cl_launch(ng_cl_queue *q, cl_kernel k, const ng_cl_range *range, const ng_cl_arg *args,
                 int nargs, ng_cl_op *const *deps, int ndeps, ng_cl_op **op);
int ng_cl_write(ng_cl_queue *q, cl_mem buf, size_t offset, size_t size, const void *src,
                ng_cl_op *const *deps, int ndeps, ng_cl_op **op);
int ng_cl_read(ng_cl_queue *q, cl_mem buf, size_t offset, size_t size, void *dst,
               ng_cl_op *const *deps, int ndeps, ng_cl_op **op);
/* Map: *ptr is valid once the op is done; ng_cl_unmap gives it back. */
int ng_cl_map(ng_cl_queue *q, cl_mem buf, cl_map_flags flags, size_t offset, size_t size,
              void **ptr, ng_cl_op *const *deps, int ndeps, ng_cl_op **op);
int ng_cl_unmap(ng_cl_queue *q, cl_mem buf, void *ptr, ng_cl_op *const *deps, int ndeps,
                ng_cl_op **op);
/* A marker: done when deps (or, with none, all earlier commands on q) are. */
int ng_cl_marker(ng_cl_queue *q, ng_cl_op *const *deps, int ndeps, ng_cl_op **op);
/* Wrap a cl_event the program enqueued itself (on q, so q's completion
 * mode serves it): the op takes its own reference to ev. */
int ng_cl_op_from_event(ng_cl_queue *q, cl_event ev, ng_cl_op **op);

/* Park until op is done or the deadline passes: 0 when the command
 * completed, -EIO (-ENODEV, -ENOMEM) when it failed, -ETIMEDOUT.  Flushes
 * the queue first.  Any number of goroutines and foreign threads may wait
 * on one op. */
int ng_cl_wait(ng_cl_op *op, int64_t deadline);
/* Wait for n ops: 0, or the first error in array order. */
int ng_cl_wait_all(ng_cl_op *const *ops, int n, int64_t deadline);
/* 1 done, 0 pending (never blocks). */
int ng_cl_op_done(const ng_cl_op *op);
/* The OpenCL execution status: CL_COMPLETE (0), a positive CL_QUEUED..
 * CL_RUNNING while pending, or the negative OpenCL error of a failure. */
cl_int ng_cl_op_status(const ng_cl_op *op);
cl_event ng_cl_op_event(const ng_cl_op *op); /* still owned by op */
/* A channel (element size 0) closed when op completes: a receive case in
 * ng_select fires then.  Owned by op: valid until op is released. */
ng_chan *ng_cl_done_chan(ng_cl_op *op);
void ng_cl_op_retain(ng_cl_op *op);
void ng_cl_op_release(ng_cl_op *op);

/* "CL_INVALID_KERNEL_ARGS" for -52, ... ("CL_ERROR(n)" for unknown codes). */
const char *ng_cl_strerror(cl_int code);

/* ---- the channel bridge ---- */

#define NG_CL_MAX_ARGS 16
/* A launch request sent on a kernel channel.  The request is copied into
 * the channel, but the argument values are read through their pointers
 * when the dispatcher launches it: keep them valid until the reply. */
typedef struct ng_cl_launch_req {
	ng_cl_range range;
	int nargs; /* 0: keep the kernel's arguments */
	ng_cl_arg args[NG_CL_MAX_ARGS];
	ng_chan *reply; /* gets one ng_cl_launch_result (NULL: none) */
	void *tag;      /* handed back in the result */
} ng_cl_launch_req;
typedef struct ng_cl_launch_result {
	int status; /* 0, or the error ng_cl_wait would give */
	cl_int cl_status;
	void *tag;
} ng_cl_launch_result;
/* A channel of ng_cl_launch_req for kernel k on q.  A dispatcher goroutine
 * takes requests (all that are waiting, up to `depth`, per batch: one flush
 * per batch), launches them in arrival order and sends each result on its
 * reply channel when its command completes; at most `depth` commands are in
 * flight, so senders block when the device is behind.  The reply channel
 * should have room (capacity >= 1) or a receiver: the dispatcher blocks on
 * it.  Must be called by a goroutine (or with the runtime running).
 * ng_cl_kernel_chan_release closes the channel (if nobody did), waits until
 * every request sent before the close was launched and answered, and
 * releases it. */
ng_chan *ng_cl_kernel_chan(ng_cl_queue *q, cl_kernel k, int depth);
int ng_cl_kernel_chan_release(ng_chan *c);

/* ---- statistics ---- */

typedef struct ng_cl_stats {
	uint64_t ops;         /* operations submitted */
	uint64_t completed;   /* ... completed (successfully or not) */
	uint64_t failed;      /* ... whose command failed */
	uint64_t by_callback; /* completions delivered by an event callback */
	uint64_t by_poll;     /* ... by polling (poll-mode queues) */
	uint64_t by_watchdog; /* ... by the watchdog (no callback came) */
	uint64_t parks;       /* waits that parked a goroutine */
	uint64_t flushes;     /* clFlush calls */
	int64_t events_live;  /* cl_events numago holds now (0 when all ops are released) */
	int64_t ops_live;     /* ng_cl_op records alive */
	int64_t inflight;     /* commands submitted and not yet completed */
	/* Callback tokens whose command completed without its callback
	 * (PoCL calls none for a failed command): each is 16 bytes never
	 * freed, since a late callback may still come. */
	int64_t cb_orphans;
} ng_cl_stats;
int ng_cl_stats_read(ng_cl_stats *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
