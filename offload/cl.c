/* offload/cl.c — devices and their locality, contexts, queues (with the
 * completion-mode probe), programs, buffers, and the enqueue calls. */
#define _GNU_SOURCE
#include "offload.h"

#include "../core/fault.h"

#include <numago/runtime.h>
#include <numago/time.h>
#include <numago/topology.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if NG_HAVE_HWLOC
#include <hwloc.h>
#include <hwloc/opencl.h>
#endif

struct cl_global cl_g = {
    .qlock = PTHREAD_MUTEX_INITIALIZER,
};

/* ------------------------------------------------------------------ errors */

const char *ng_cl_strerror(cl_int e)
{
	switch (e) {
#define C(x)    \
	case x: \
		return #x
		C(CL_SUCCESS);
		C(CL_DEVICE_NOT_FOUND);
		C(CL_DEVICE_NOT_AVAILABLE);
		C(CL_COMPILER_NOT_AVAILABLE);
		C(CL_MEM_OBJECT_ALLOCATION_FAILURE);
		C(CL_OUT_OF_RESOURCES);
		C(CL_OUT_OF_HOST_MEMORY);
		C(CL_PROFILING_INFO_NOT_AVAILABLE);
		C(CL_MEM_COPY_OVERLAP);
		C(CL_IMAGE_FORMAT_MISMATCH);
		C(CL_IMAGE_FORMAT_NOT_SUPPORTED);
		C(CL_BUILD_PROGRAM_FAILURE);
		C(CL_MAP_FAILURE);
		C(CL_MISALIGNED_SUB_BUFFER_OFFSET);
		C(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
		C(CL_COMPILE_PROGRAM_FAILURE);
		C(CL_LINKER_NOT_AVAILABLE);
		C(CL_LINK_PROGRAM_FAILURE);
		C(CL_DEVICE_PARTITION_FAILED);
		C(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
		C(CL_INVALID_VALUE);
		C(CL_INVALID_DEVICE_TYPE);
		C(CL_INVALID_PLATFORM);
		C(CL_INVALID_DEVICE);
		C(CL_INVALID_CONTEXT);
		C(CL_INVALID_QUEUE_PROPERTIES);
		C(CL_INVALID_COMMAND_QUEUE);
		C(CL_INVALID_HOST_PTR);
		C(CL_INVALID_MEM_OBJECT);
		C(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR);
		C(CL_INVALID_IMAGE_SIZE);
		C(CL_INVALID_SAMPLER);
		C(CL_INVALID_BINARY);
		C(CL_INVALID_BUILD_OPTIONS);
		C(CL_INVALID_PROGRAM);
		C(CL_INVALID_PROGRAM_EXECUTABLE);
		C(CL_INVALID_KERNEL_NAME);
		C(CL_INVALID_KERNEL_DEFINITION);
		C(CL_INVALID_KERNEL);
		C(CL_INVALID_ARG_INDEX);
		C(CL_INVALID_ARG_VALUE);
		C(CL_INVALID_ARG_SIZE);
		C(CL_INVALID_KERNEL_ARGS);
		C(CL_INVALID_WORK_DIMENSION);
		C(CL_INVALID_WORK_GROUP_SIZE);
		C(CL_INVALID_WORK_ITEM_SIZE);
		C(CL_INVALID_GLOBAL_OFFSET);
		C(CL_INVALID_EVENT_WAIT_LIST);
		C(CL_INVALID_EVENT);
		C(CL_INVALID_OPERATION);
		C(CL_INVALID_GL_OBJECT);
		C(CL_INVALID_BUFFER_SIZE);
		C(CL_INVALID_MIP_LEVEL);
		C(CL_INVALID_GLOBAL_WORK_SIZE);
		C(CL_INVALID_PROPERTY);
		C(CL_INVALID_IMAGE_DESCRIPTOR);
		C(CL_INVALID_COMPILER_OPTIONS);
		C(CL_INVALID_LINKER_OPTIONS);
		C(CL_INVALID_DEVICE_PARTITION_COUNT);
#undef C
	case -1001:
		return "CL_PLATFORM_NOT_FOUND_KHR";
	default: {
		static __thread char buf[32];
		snprintf(buf, sizeof buf, "CL_ERROR(%d)", (int)e);
		return buf;
	}
	}
}

int ng_cl_errno(cl_int e)
{
	switch (e) {
	case CL_SUCCESS:
		return 0;
	case CL_DEVICE_NOT_FOUND:
	case CL_DEVICE_NOT_AVAILABLE:
	case -1001:
		return -ENODEV;
	case CL_MEM_OBJECT_ALLOCATION_FAILURE:
	case CL_OUT_OF_RESOURCES:
	case CL_OUT_OF_HOST_MEMORY:
		return -ENOMEM;
	case CL_BUILD_PROGRAM_FAILURE:
	case CL_COMPILE_PROGRAM_FAILURE:
	case CL_LINK_PROGRAM_FAILURE:
		return -ENOEXEC;
	default:
		/* a CL_INVALID_* is the caller's argument; anything else that
		 * reaches a waiter is a failed command */
		return e <= CL_INVALID_VALUE && e >= -72 ? -EINVAL : -EIO;
	}
}

/* A command's failed execution status, as its waiter sees it (offload.h:
 * -EIO, -ENODEV for a lost device, -ENOMEM).  Not ng_cl_errno: the status
 * of a failed command is whatever negative value the driver chose, and
 * PoCL gives -1 (its CL_FAILED; CL_DEVICE_NOT_FOUND's number) to a command
 * whose dependency failed, which ng_cl_errno made -ENODEV (test_cl_errors);
 * a CL_INVALID_* there is no argument of the waiter's either. */
int ng_cl_status_errno(cl_int st)
{
	switch (st) {
	case CL_DEVICE_NOT_AVAILABLE:
		return -ENODEV;
	case CL_MEM_OBJECT_ALLOCATION_FAILURE:
	case CL_OUT_OF_RESOURCES:
	case CL_OUT_OF_HOST_MEMORY:
		return -ENOMEM;
	default:
		return st >= 0 ? 0 : -EIO;
	}
}

void ng_cl_report(const char *call, cl_int e, const char *detail)
{
	if (cl_g.quiet)
		return;
	fprintf(stderr, "numago: offload: %s failed: %s (%d)%s%s\n", call, ng_cl_strerror(e),
	        (int)e, detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/* ------------------------------------------------------------- big stacks */

/* OpenCL drivers run compilers (PoCL: LLVM, at platform discovery and for
 * every build) that need megabytes of stack; a goroutine has 64 KiB by
 * default.  Such calls run on a short-lived thread with a large stack
 * while the goroutine parks on a channel (its P runs other goroutines),
 * so no goroutine needs a large stack for OpenCL's sake.  A foreign thread
 * calls directly on its own stack. */
#define BIG_STACK (64u << 20)

typedef struct big_job {
	void (*fn)(void *);
	void *arg;
	ng_chan *done;
} big_job;

static _Atomic int big_jobs; /* running: they hold off the deadlock detector */

static void *big_thread(void *a)
{
	big_job *j = a;
	j->fn(j->arg);
	/* before the close: the woken goroutine counts as runnable by then */
	atomic_fetch_sub_explicit(&big_jobs, 1, memory_order_release);
	ng_chan_close(j->done);
	return NULL;
}

int ng_cl_jobs_running(void)
{
	return atomic_load_explicit(&big_jobs, memory_order_acquire) > 0;
}

static void on_big_stack(void (*fn)(void *), void *arg)
{
	big_job j = {fn, arg, NULL};
	pthread_attr_t at;
	pthread_t t;
	if (ng_self_proc() < 0 || (j.done = ng_chan_make(0, 0)) == NULL) {
		fn(arg);
		return;
	}
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, BIG_STACK);
	/* Not the calling M's binding to one PU: the driver's worker threads,
	 * created here at discovery, inherit it and would all share one CPU
	 * with that P.  The union of the Ps' PUs is the allowed set. */
	if (!ng_topo_is_fake()) {
		cpu_set_t set;
		CPU_ZERO(&set);
		int pus[256], np = ng_procs();
		for (int p = 0; p < np; p++) {
			int n = ng_topo_proc_pus(p, pus, 256);
			for (int i = 0; i < n && i < 256; i++)
				if (pus[i] >= 0 && pus[i] < CPU_SETSIZE)
					CPU_SET(pus[i], &set);
		}
		if (CPU_COUNT(&set) > 0)
			pthread_attr_setaffinity_np(&at, sizeof set, &set);
	}
	atomic_fetch_add_explicit(&big_jobs, 1, memory_order_acq_rel);
	if (pthread_create(&t, &at, big_thread, &j) != 0) {
		atomic_fetch_sub_explicit(&big_jobs, 1, memory_order_release);
		pthread_attr_destroy(&at);
		ng_chan_release(j.done);
		/* no thread: the caller's stack it is (a goroutine's may be too
		 * small; say so once) */
		static _Atomic int told;
		if (!atomic_exchange(&told, 1))
			fprintf(stderr,
			        "numago: offload: no thread for an OpenCL call that needs a "
			        "large stack; calling it on the goroutine's stack\n");
		fn(arg);
		return;
	}
	pthread_attr_destroy(&at);
	ng_chan_recv(j.done, NULL);
	pthread_join(t, NULL);
	ng_chan_release(j.done);
}

/* ---------------------------------------------------------------- devices */

/* A CPU device's threads take cores from the Ps: give it what they leave
 * (see offload.h).  Only before the ICD loader has loaded the driver. */
static void split_cpu_device(void)
{
	if (getenv("POCL_MAX_PTHREAD_COUNT") != NULL)
		return;
	const char *o = getenv("NUMAGO_CL_CPU_THREADS");
	int n;
	if (o != NULL && atoi(o) > 0) {
		n = atoi(o);
	} else {
		/* Not this thread's affinity alone: in a running runtime it is a
		 * bound M's (or a thread it made), one PU, and the split came
		 * out 1 whatever the machine (test_cl_devices): the PUs the Ps
		 * run on, unless the topology is fake (nothing bound). */
		cpu_set_t set;
		int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
		int procs = ng_procs();
		if (procs > 0 && !ng_topo_is_fake() && ng_topo_npus() > 0)
			cpus = ng_topo_npus();
		if (procs <= 0) {
			const char *e = getenv("NUMAGO_PROCS");
			procs = e != NULL && atoi(e) > 0 ? atoi(e) : cpus;
		}
		n = cpus - procs;
		if (n < 1)
			n = 1;
	}
	char buf[16];
	snprintf(buf, sizeof buf, "%d", n);
	setenv("POCL_MAX_PTHREAD_COUNT", buf, 0);
}

#if NG_HAVE_HWLOC
/* The NUMA node and PCI address of a non-CPU device, from hwloc's I/O
 * objects (the OpenCL backend matches the device by its PCI bus info). */
static void device_locality(hwloc_topology_t topo, ng_cl_device_info *in)
{
	hwloc_obj_t os = hwloc_opencl_get_device_osdev(topo, in->device_id);
	if (os == NULL)
		return;
	hwloc_obj_t pci = os->parent;
	while (pci != NULL && pci->type != HWLOC_OBJ_PCI_DEVICE)
		pci = pci->parent;
	if (pci != NULL)
		snprintf(in->pci, sizeof in->pci, "%04x:%02x:%02x.%01x", pci->attr->pcidev.domain,
		         pci->attr->pcidev.bus, pci->attr->pcidev.dev, pci->attr->pcidev.func);
	hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, os);
	if (anc != NULL && anc->nodeset != NULL && !hwloc_bitmap_iszero(anc->nodeset) &&
	    hwloc_bitmap_weight(anc->nodeset) == 1) {
		int os_node = hwloc_bitmap_first(anc->nodeset);
		hwloc_obj_t node = hwloc_get_numanode_obj_by_os_index(topo, (unsigned)os_node);
		in->numa_node = node != NULL ? (int)node->logical_index : -1;
	}
}
#endif

static int do_init(void)
{
	const char *dbg = getenv("NUMAGO_DEBUG");
	cl_g.quiet = dbg != NULL && strstr(dbg, "clquiet=1") != NULL;
	split_cpu_device();
	cl_uint np = 0;
	/* NUMAGO_FAULT=cl_init: what the ICD loader answers on a machine with
	 * no ICD registered */
	cl_int e = ng_fault(NG_FAULT_CL_INIT) ? -1001 : clGetPlatformIDs(0, NULL, &np);
	if (e != CL_SUCCESS || np == 0) {
		ng_cl_report("clGetPlatformIDs", e != CL_SUCCESS ? e : -1001,
		             "no OpenCL platform (install an ICD such as pocl-opencl-icd)");
		return -ENODEV;
	}
	cl_platform_id *pl = calloc(np, sizeof *pl);
	if (pl == NULL)
		return -ENOMEM;
	clGetPlatformIDs(np, pl, NULL);
	int cap = 0, n = 0;
	ng_cl_device *devs = NULL;
#if NG_HAVE_HWLOC
	hwloc_topology_t topo = NULL;
#endif
	for (cl_uint i = 0; i < np; i++) {
		cl_uint nd = 0;
		/* NUMAGO_FAULT=cl_init@1: a platform without devices */
		if (ng_fault(NG_FAULT_CL_INIT) ||
		    clGetDeviceIDs(pl[i], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS ||
		    nd == 0)
			continue;
		cl_device_id ids[64];
		if (nd > 64)
			nd = 64;
		clGetDeviceIDs(pl[i], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
		for (cl_uint j = 0; j < nd; j++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				ng_cl_device *nd2 = realloc(devs, (size_t)cap * sizeof *devs);
				if (nd2 == NULL) {
					free(devs);
					free(pl);
					return -ENOMEM;
				}
				devs = nd2;
			}
			ng_cl_device *d = &devs[n];
			memset(d, 0, sizeof *d);
			ng_cl_device_info *in = &d->info;
			in->index = n;
			in->platform_id = pl[i];
			in->device_id = ids[j];
			in->numa_node = -1;
			clGetDeviceInfo(ids[j], CL_DEVICE_NAME, sizeof in->name - 1, in->name,
			                NULL);
			clGetDeviceInfo(ids[j], CL_DEVICE_VENDOR, sizeof in->vendor - 1, in->vendor,
			                NULL);
			clGetPlatformInfo(pl[i], CL_PLATFORM_NAME, sizeof in->platform - 1,
			                  in->platform, NULL);
			cl_device_type t = 0;
			clGetDeviceInfo(ids[j], CL_DEVICE_TYPE, sizeof t, &t, NULL);
			in->type = (t & CL_DEVICE_TYPE_CPU)   ? NG_CL_CPU
			           : (t & CL_DEVICE_TYPE_GPU) ? NG_CL_GPU
			                                      : NG_CL_ACCEL;
			cl_uint cu = 0;
			clGetDeviceInfo(ids[j], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
			in->compute_units = cu;
			cl_ulong gm = 0;
			clGetDeviceInfo(ids[j], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gm, &gm, NULL);
			in->global_mem = (size_t)gm;
#if NG_HAVE_HWLOC
			/* CPU devices have no locality: they run on the Ps' cores */
			if (in->type != NG_CL_CPU) {
				if (topo == NULL && hwloc_topology_init(&topo) == 0) {
					hwloc_topology_set_io_types_filter(
					    topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
					if (hwloc_topology_load(topo) != 0) {
						hwloc_topology_destroy(topo);
						topo = NULL;
					}
				}
				if (topo != NULL)
					device_locality(topo, in);
			}
#endif
			n++;
		}
	}
#if NG_HAVE_HWLOC
	if (topo != NULL)
		hwloc_topology_destroy(topo);
#endif
	free(pl);
	if (n == 0) {
		free(devs);
		ng_cl_report("clGetDeviceIDs", CL_DEVICE_NOT_FOUND, "no OpenCL device");
		return -ENODEV;
	}
	cl_g.devs = devs;
	cl_g.ndev = n;
	return 0;
}

static void init_job(void *arg)
{
	int r = do_init();
	*(int *)arg = r == 0 ? 1 : r;
}

int ng_cl_lazy_init(void)
{
	int s = atomic_load_explicit(&cl_g.inited, memory_order_acquire);
	if (s != 0)
		return s > 0 ? 0 : s;
	/* A goroutine must not hold a mutex while it parks in on_big_stack
	 * (its M would run other goroutines that may want it): one caller
	 * initialises, the others yield until it is done. */
	int zero = 0;
	if (atomic_compare_exchange_strong(&cl_g.init_claim, &zero, 1)) {
		ng_cl_ops_init();
		on_big_stack(init_job, &s);
		atomic_store_explicit(&cl_g.inited, s, memory_order_release);
	}
	while ((s = atomic_load_explicit(&cl_g.inited, memory_order_acquire)) == 0) {
		if (ng_self_proc() >= 0)
			ng_sleep(50000);
		else
			sched_yield();
	}
	return s > 0 ? 0 : s;
}

int ng_cl_init(void)
{
	return ng_cl_lazy_init();
}

int ng_cl_device_count(void)
{
	int r = ng_cl_lazy_init();
	return r < 0 ? r : cl_g.ndev;
}

ng_cl_device *ng_cl_device_get(int index)
{
	if (ng_cl_lazy_init() < 0 || index < 0 || index >= cl_g.ndev)
		return NULL;
	return &cl_g.devs[index];
}

int ng_cl_device_info_get(const ng_cl_device *d, ng_cl_device_info *out)
{
	if (d == NULL || out == NULL)
		return -EINVAL;
	*out = d->info;
	/* home Ps: those on the device's node, all of them without one (the
	 * runtime may have started after discovery, so computed now) */
	out->nhome = 0;
	int np = ng_procs();
	for (int p = 0; p < np && out->nhome < (int)(sizeof out->home_procs / sizeof(int)); p++)
		if (d->info.numa_node < 0 || ng_topo_proc_node(p) == d->info.numa_node)
			out->home_procs[out->nhome++] = p;
	return 0;
}

static bool contains(const char *hay, const char *needle)
{
	return needle == NULL || *needle == '\0' || strcasestr(hay, needle) != NULL;
}

static bool matches(const ng_cl_device *d, int types, const char *name)
{
	return (d->info.type & types) != 0 &&
	       (contains(d->info.name, name) || contains(d->info.vendor, name) ||
	        contains(d->info.platform, name));
}

int ng_cl_device_select(int types, const char *name, ng_cl_device **out)
{
	if (out == NULL || (types & NG_CL_ANY) == 0)
		return -EINVAL;
	*out = NULL;
	int r = ng_cl_lazy_init();
	if (r < 0)
		return r;
	const char *env = getenv("NUMAGO_CL_DEVICE");
	if (env != NULL && *env != '\0') {
		char *end;
		long idx = strtol(env, &end, 10);
		int t = !strcasecmp(env, "cpu")     ? NG_CL_CPU
		        : !strcasecmp(env, "gpu")   ? NG_CL_GPU
		        : !strcasecmp(env, "accel") ? NG_CL_ACCEL
		                                    : 0;
		for (int i = 0; i < cl_g.ndev; i++) {
			ng_cl_device *d = &cl_g.devs[i];
			bool hit = *end == '\0' ? i == idx
			           : t != 0     ? (d->info.type & t) != 0
			                        : matches(d, NG_CL_ANY, env);
			if (hit && matches(d, types, name)) {
				*out = d;
				return 0;
			}
		}
		return -ENODEV;
	}
	for (int i = 0; i < cl_g.ndev; i++)
		if (matches(&cl_g.devs[i], types, name)) {
			*out = &cl_g.devs[i];
			return 0;
		}
	return -ENODEV;
}

typedef struct ctx_job {
	ng_cl_device *d;
	cl_context ctx;
	cl_int e;
} ctx_job;

static void ctx_create(void *arg)
{
	ctx_job *j = arg;
	cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
	                                 (cl_context_properties)j->d->info.platform_id, 0};
	j->ctx = clCreateContext(props, 1, &j->d->info.device_id, NULL, NULL, &j->e);
}

static int device_context(ng_cl_device *d, cl_context *out)
{
	cl_context c = __atomic_load_n(&d->ctx, __ATOMIC_ACQUIRE);
	if (c == NULL) {
		ctx_job j = {d, NULL, CL_SUCCESS};
		on_big_stack(ctx_create, &j);
		if (j.ctx == NULL) {
			ng_cl_report("clCreateContext", j.e, d->info.name);
			return ng_cl_errno(j.e);
		}
		cl_context none = NULL;
		if (!__atomic_compare_exchange_n(&d->ctx, &none, j.ctx, false, __ATOMIC_ACQ_REL,
		                                 __ATOMIC_ACQUIRE)) {
			clReleaseContext(j.ctx); /* another goroutine's won */
			j.ctx = none;
		}
		c = j.ctx;
	}
	*out = c;
	return 0;
}

cl_context ng_cl_context(ng_cl_device *d)
{
	cl_context c = NULL;
	if (d != NULL)
		device_context(d, &c);
	return c;
}

/* ----------------------------------------------------------------- queues */

/* The completion-mode probe: a marker's callback against its polled
 * completion.  The record is shared with a callback that may come after
 * the probe gave up on it: the last of the two frees it. */
typedef struct probe_rec {
	_Atomic int64_t cb_at;
	_Atomic int refs;
} probe_rec;

static void CL_CALLBACK probe_cb(cl_event ev, cl_int st, void *arg)
{
	(void)ev;
	(void)st;
	probe_rec *r = arg;
	atomic_store_explicit(&r->cb_at, ng_now(), memory_order_release);
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		free(r);
}

static void probe_pause(void)
{
	if (ng_self_proc() >= 0) {
		ng_sleep(10000);
	} else {
		struct timespec ts = {0, 10000};
		nanosleep(&ts, NULL);
	}
}

/* One marker: was its callback there within 1 ms of the completion the
 * probe saw by polling?  1 yes, 0 no, < 0 an error. */
static int probe_once(cl_command_queue cq)
{
	probe_rec *r = malloc(sizeof *r);
	if (r == NULL)
		return -ENOMEM;
	atomic_init(&r->cb_at, 0);
	atomic_init(&r->refs, 2);
	cl_event ev;
	cl_int e = clEnqueueMarkerWithWaitList(cq, 0, NULL, &ev);
	if (e != CL_SUCCESS) {
		free(r);
		return ng_cl_errno(e);
	}
	if (clSetEventCallback(ev, CL_COMPLETE, probe_cb, r) != CL_SUCCESS) {
		free(r);
		clReleaseEvent(ev);
		return 0;
	}
	clFlush(cq);
	int64_t start = ng_now(), done_at = 0;
	while (ng_now() - start < 100000000LL) {
		cl_int s = CL_QUEUED;
		clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof s, &s, NULL);
		if (s <= CL_COMPLETE) {
			done_at = ng_now();
			break;
		}
		probe_pause();
	}
	int prompt = 0;
	if (done_at != 0) {
		while (ng_now() - done_at < 2000000LL) {
			int64_t at = atomic_load_explicit(&r->cb_at, memory_order_acquire);
			if (at != 0) {
				prompt = at - done_at < 1000000LL;
				break;
			}
			probe_pause();
		}
	}
	clReleaseEvent(ev);
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		free(r);
	return prompt;
}

int ng_cl_probe_mode(ng_cl_device *d, cl_command_queue cq)
{
	int m = atomic_load_explicit(&d->probed_mode, memory_order_acquire);
	if (m != 0)
		return m;
	int prompt = 0;
	for (int i = 0; i < 3; i++) {
		int r = probe_once(cq);
		if (r < 0)
			return NG_CL_COMPLETION_POLL;
		prompt += r;
	}
	m = prompt >= 2 ? NG_CL_COMPLETION_CALLBACK : NG_CL_COMPLETION_POLL;
	atomic_store_explicit(&d->probed_mode, m, memory_order_release);
	return m;
}

int ng_cl_queue_create(ng_cl_device *d, const ng_cl_queue_attr *attr, ng_cl_queue **out)
{
	if (d == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	int mode = attr != NULL ? attr->completion : NG_CL_COMPLETION_AUTO;
	if (mode < NG_CL_COMPLETION_AUTO || mode > NG_CL_COMPLETION_POLL)
		return -EINVAL;
	cl_context ctx = NULL;
	int r = device_context(d, &ctx);
	if (r < 0)
		return r;
	cl_queue_properties props[] = {
	    CL_QUEUE_PROPERTIES, attr != NULL && attr->profiling ? CL_QUEUE_PROFILING_ENABLE : 0,
	    0};
	cl_int e;
	cl_command_queue cq = clCreateCommandQueueWithProperties(ctx, d->info.device_id, props, &e);
	if (cq == NULL) {
		ng_cl_report("clCreateCommandQueueWithProperties", e, d->info.name);
		return ng_cl_errno(e);
	}
	if (mode == NG_CL_COMPLETION_AUTO) {
		const char *env = getenv("NUMAGO_CL_COMPLETION");
		if (env != NULL && !strcmp(env, "callback"))
			mode = NG_CL_COMPLETION_CALLBACK;
		else if (env != NULL && !strcmp(env, "poll"))
			mode = NG_CL_COMPLETION_POLL;
		else
			mode = ng_cl_probe_mode(d, cq);
	}
	ng_cl_queue *q = calloc(1, sizeof *q);
	if (q == NULL) {
		clReleaseCommandQueue(cq);
		return -ENOMEM;
	}
	q->cq = cq;
	q->dev = d;
	q->mode = mode;
	pthread_mutex_lock(&cl_g.qlock);
	q->next_all = cl_g.queues;
	if (cl_g.queues != NULL)
		cl_g.queues->prev_all = q;
	cl_g.queues = q;
	pthread_mutex_unlock(&cl_g.qlock);
	*out = q;
	return 0;
}

int ng_cl_queue_release(ng_cl_queue *q)
{
	if (q == NULL)
		return -EINVAL;
	while (atomic_load_explicit(&q->ninflight, memory_order_acquire) > 0) {
		ng_spin_lock(&q->lock);
		ng_cl_op *last = q->tail;
		if (last != NULL)
			atomic_fetch_add_explicit(&last->refs, 1, memory_order_relaxed);
		ng_spin_unlock(&q->lock);
		if (last == NULL) {
			/* completing right now: its completer is past the list */
			probe_pause();
			continue;
		}
		ng_cl_wait(last, NG_FOREVER);
		ng_cl_op_release(last);
	}
	pthread_mutex_lock(&cl_g.qlock);
	if (q->prev_all != NULL)
		q->prev_all->next_all = q->next_all;
	else
		cl_g.queues = q->next_all;
	if (q->next_all != NULL)
		q->next_all->prev_all = q->prev_all;
	pthread_mutex_unlock(&cl_g.qlock);
	cl_int fe = __atomic_load_n(&q->first_error, __ATOMIC_RELAXED);
	clReleaseCommandQueue(q->cq);
	free(q);
	return fe < 0 ? ng_cl_status_errno(fe) : 0;
}

cl_command_queue ng_cl_queue_handle(ng_cl_queue *q)
{
	return q != NULL ? q->cq : NULL;
}

ng_cl_device *ng_cl_queue_device(ng_cl_queue *q)
{
	return q != NULL ? q->dev : NULL;
}

int ng_cl_queue_completion(ng_cl_queue *q)
{
	return q != NULL ? q->mode : -EINVAL;
}

/* ------------------------------------------------------ programs, buffers */

typedef struct build_job {
	cl_program p;
	cl_device_id dev;
	const char *options;
	cl_int e;
} build_job;

static void build_run(void *arg)
{
	build_job *j = arg;
	j->e = clBuildProgram(j->p, 1, &j->dev, j->options, NULL, NULL);
}

int ng_cl_program_build(ng_cl_device *d, const char *source, const char *options, cl_program *out,
                        char **log)
{
	if (log != NULL)
		*log = NULL;
	if (d == NULL || source == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	cl_context ctx = NULL;
	int r = device_context(d, &ctx);
	if (r < 0)
		return r;
	cl_int e;
	cl_program p = clCreateProgramWithSource(ctx, 1, &source, NULL, &e);
	if (p == NULL) {
		ng_cl_report("clCreateProgramWithSource", e, NULL);
		return ng_cl_errno(e);
	}
	/* Compiling takes milliseconds to seconds and a compiler's stack:
	 * on a thread of its own, while this goroutine parks. */
	build_job bj = {p, d->info.device_id, options, CL_SUCCESS};
	on_big_stack(build_run, &bj);
	e = bj.e;
	if (e == CL_SUCCESS) {
		*out = p;
		return 0;
	}
	size_t len = 0;
	clGetProgramBuildInfo(p, d->info.device_id, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
	char *text = malloc(len + 1);
	if (text != NULL) {
		text[0] = '\0';
		clGetProgramBuildInfo(p, d->info.device_id, CL_PROGRAM_BUILD_LOG, len, text, NULL);
		text[len] = '\0';
	}
	/* the log's first line is the headline of the message */
	char first[200] = "";
	if (text != NULL) {
		const char *s = text;
		while (*s == '\n' || *s == ' ')
			s++;
		snprintf(first, sizeof first, "%.*s", (int)strcspn(s, "\n"), s);
	}
	ng_cl_report("clBuildProgram", e, first[0] ? first : d->info.name);
	if (log != NULL)
		*log = text;
	else
		free(text);
	clReleaseProgram(p);
	return e == CL_BUILD_PROGRAM_FAILURE || e == CL_INVALID_BUILD_OPTIONS ? -ENOEXEC
	                                                                      : ng_cl_errno(e);
}

typedef struct host_mem {
	void *p;
	size_t size;
} host_mem;

static void CL_CALLBACK host_mem_free(cl_mem m, void *arg)
{
	(void)m;
	host_mem *h = arg;
	ng_topo_free(h->p, h->size);
	free(h);
}

int ng_cl_buffer_create(ng_cl_device *d, cl_mem_flags flags, size_t size, cl_mem *out)
{
	if (d == NULL || out == NULL || size == 0)
		return -EINVAL;
	*out = NULL;
	cl_context ctx = NULL;
	int r = device_context(d, &ctx);
	if (r < 0)
		return r;
	cl_int e;
	if ((flags & CL_MEM_ALLOC_HOST_PTR) && d->info.numa_node >= 0 && ng_procs() > 0) {
		host_mem *h = malloc(sizeof *h);
		void *mem = h != NULL ? ng_topo_alloc_onnode(size, d->info.numa_node) : NULL;
		if (mem != NULL) {
			h->p = mem;
			h->size = size;
			cl_mem b = clCreateBuffer(ctx,
			                          (flags & ~(cl_mem_flags)CL_MEM_ALLOC_HOST_PTR) |
			                              CL_MEM_USE_HOST_PTR,
			                          size, mem, &e);
			if (b != NULL) {
				clSetMemObjectDestructorCallback(b, host_mem_free, h);
				*out = b;
				return 0;
			}
			ng_topo_free(mem, size);
		}
		free(h); /* fall back to the driver's own host memory */
	}
	cl_mem b = clCreateBuffer(ctx, flags, size, NULL, &e);
	if (b == NULL) {
		ng_cl_report("clCreateBuffer", e, NULL);
		return ng_cl_errno(e);
	}
	*out = b;
	return 0;
}

/* ---------------------------------------------------------------- enqueue */

/* Setting a kernel's arguments and enqueueing it must not interleave with
 * another goroutine's: one lock per kernel, from a striped table. */
static pthread_mutex_t kernel_locks[64] = {[0 ... 63] = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t *kernel_lock(cl_kernel k)
{
	uintptr_t h = (uintptr_t)k;
	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ULL;
	return &kernel_locks[h >> 58];
}

#define MAX_DEPS 64

static int failed_command(ng_cl_queue *q, const char *what, cl_int st, ng_cl_op **op);

/* A command after one that failed fails itself, without being enqueued, as
 * OpenCL's blocking calls do (CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST):
 * its waiters get -EIO. */
#define PREPARE_DEPS(what)                                                                        \
	if (ndeps > MAX_DEPS)                                                                     \
		return -EINVAL;                                                                   \
	cl_event wl[MAX_DEPS];                                                                    \
	int nwl = ng_cl_deps(q, deps, ndeps, wl);                                                 \
	if (nwl == -EIO)                                                                          \
		return failed_command(q, what, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, op); \
	if (nwl < 0)                                                                              \
		return nwl;

/* A command that fails with status st without reaching the driver: a
 * user event of that status stands in for its event, so the op goes the
 * way of any failed command (its waiters get the error, ng_cl_op_status
 * st, the one line, the failed count, the queue's first error), commands
 * that depend on it fail, and the commands around it on the queue run.
 *
 * NUMAGO_FAULT=cl_cmd fails commands so, with CL_OUT_OF_RESOURCES, as a
 * driver's command that ran out of resources fails. */
static int failed_command(ng_cl_queue *q, const char *what, cl_int st, ng_cl_op **op)
{
	cl_int e;
	cl_event ev = clCreateUserEvent(q->dev->ctx, &e);
	if (ev == NULL) {
		ng_cl_report("clCreateUserEvent", e, what);
		return ng_cl_errno(e);
	}
	clSetUserEventStatus(ev, st);
	return ng_cl_op_submit_failed(q, ev, what, st, op);
}

static int fault_command(ng_cl_queue *q, const char *what, ng_cl_op **op)
{
	return failed_command(q, what, CL_OUT_OF_RESOURCES, op);
}

static int finish_enqueue(ng_cl_queue *q, cl_int e, cl_event ev, const char *what, ng_cl_op **op)
{
	if (e != CL_SUCCESS) {
		ng_cl_report(what, e, NULL);
		return ng_cl_errno(e);
	}
	return ng_cl_op_submit(q, ev, what, op);
}

int ng_cl_launch(ng_cl_queue *q, cl_kernel k, const ng_cl_range *range, const ng_cl_arg *args,
                 int nargs, ng_cl_op *const *deps, int ndeps, ng_cl_op **op)
{
	if (op != NULL)
		*op = NULL;
	if (q == NULL || k == NULL || range == NULL || op == NULL || range->dim < 1 ||
	    range->dim > 3 || nargs < 0 || nargs > NG_CL_MAX_ARGS || (nargs > 0 && args == NULL))
		return -EINVAL;
	for (cl_uint i = 0; i < range->dim; i++)
		if (range->global[i] == 0)
			return -EINVAL;
	PREPARE_DEPS("clEnqueueNDRangeKernel");
	const size_t *local = range->local[0] != 0 ? range->local : NULL;
	cl_event ev = NULL;
	bool fault = ng_fault(NG_FAULT_CL_CMD);
	pthread_mutex_t *l = kernel_lock(k);
	pthread_mutex_lock(l);
	for (int i = 0; i < nargs; i++) {
		cl_int e = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].value);
		if (e != CL_SUCCESS) {
			pthread_mutex_unlock(l);
			char d[48];
			snprintf(d, sizeof d, "argument %d (%zu bytes)", i, args[i].size);
			ng_cl_report("clSetKernelArg", e, d);
			return ng_cl_errno(e);
		}
	}
	if (fault) {
		pthread_mutex_unlock(l);
		return fault_command(q, "clEnqueueNDRangeKernel", op);
	}
	cl_int e = clEnqueueNDRangeKernel(q->cq, k, range->dim, range->offset, range->global, local,
	                                  (cl_uint)nwl, nwl ? wl : NULL, &ev);
	pthread_mutex_unlock(l);
	return finish_enqueue(q, e, ev, "clEnqueueNDRangeKernel", op);
}

int ng_cl_write(ng_cl_queue *q, cl_mem buf, size_t offset, size_t size, const void *src,
                ng_cl_op *const *deps, int ndeps, ng_cl_op **op)
{
	if (op != NULL)
		*op = NULL;
	if (q == NULL || buf == NULL || src == NULL || size == 0 || op == NULL)
		return -EINVAL;
	PREPARE_DEPS("clEnqueueWriteBuffer");
	if (ng_fault(NG_FAULT_CL_CMD))
		return fault_command(q, "clEnqueueWriteBuffer", op);
	cl_event ev = NULL;
	cl_int e = clEnqueueWriteBuffer(q->cq, buf, CL_FALSE, offset, size, src, (cl_uint)nwl,
	                                nwl ? wl : NULL, &ev);
	return finish_enqueue(q, e, ev, "clEnqueueWriteBuffer", op);
}

int ng_cl_read(ng_cl_queue *q, cl_mem buf, size_t offset, size_t size, void *dst,
               ng_cl_op *const *deps, int ndeps, ng_cl_op **op)
{
	if (op != NULL)
		*op = NULL;
	if (q == NULL || buf == NULL || dst == NULL || size == 0 || op == NULL)
		return -EINVAL;
	PREPARE_DEPS("clEnqueueReadBuffer");
	if (ng_fault(NG_FAULT_CL_CMD))
		return fault_command(q, "clEnqueueReadBuffer", op);
	cl_event ev = NULL;
	cl_int e = clEnqueueReadBuffer(q->cq, buf, CL_FALSE, offset, size, dst, (cl_uint)nwl,
	                               nwl ? wl : NULL, &ev);
	return finish_enqueue(q, e, ev, "clEnqueueReadBuffer", op);
}

int ng_cl_map(ng_cl_queue *q, cl_mem buf, cl_map_flags flags, size_t offset, size_t size,
              void **ptr, ng_cl_op *const *deps, int ndeps, ng_cl_op **op)
{
	if (op != NULL)
		*op = NULL;
	if (q == NULL || buf == NULL || ptr == NULL || size == 0 || op == NULL)
		return -EINVAL;
	*ptr = NULL; /* unless mapped: nothing to unmap */
	PREPARE_DEPS("clEnqueueMapBuffer");
	if (ng_fault(NG_FAULT_CL_CMD))
		return fault_command(q, "clEnqueueMapBuffer", op);
	cl_event ev = NULL;
	cl_int e;
	*ptr = clEnqueueMapBuffer(q->cq, buf, CL_FALSE, flags, offset, size, (cl_uint)nwl,
	                          nwl ? wl : NULL, &ev, &e);
	return finish_enqueue(q, e, ev, "clEnqueueMapBuffer", op);
}

int ng_cl_unmap(ng_cl_queue *q, cl_mem buf, void *ptr, ng_cl_op *const *deps, int ndeps,
                ng_cl_op **op)
{
	if (op != NULL)
		*op = NULL;
	if (q == NULL || buf == NULL || ptr == NULL || op == NULL)
		return -EINVAL;
	PREPARE_DEPS("clEnqueueUnmapMemObject");
	if (ng_fault(NG_FAULT_CL_CMD))
		return fault_command(q, "clEnqueueUnmapMemObject", op);
	cl_event ev = NULL;
	cl_int e = clEnqueueUnmapMemObject(q->cq, buf, ptr, (cl_uint)nwl, nwl ? wl : NULL, &ev);
	return finish_enqueue(q, e, ev, "clEnqueueUnmapMemObject", op);
}

int ng_cl_marker(ng_cl_queue *q, ng_cl_op *const *deps, int ndeps, ng_cl_op **op)
{
	if (op != NULL)
		*op = NULL;
	if (q == NULL || op == NULL)
		return -EINVAL;
	PREPARE_DEPS("clEnqueueMarkerWithWaitList");
	if (ng_fault(NG_FAULT_CL_CMD))
		return fault_command(q, "clEnqueueMarkerWithWaitList", op);
	cl_event ev = NULL;
	cl_int e = clEnqueueMarkerWithWaitList(q->cq, (cl_uint)nwl, nwl ? wl : NULL, &ev);
	return finish_enqueue(q, e, ev, "clEnqueueMarkerWithWaitList", op);
}

int ng_cl_op_from_event(ng_cl_queue *q, cl_event ev, ng_cl_op **op)
{
	if (op != NULL)
		*op = NULL;
	if (q == NULL || ev == NULL || op == NULL)
		return -EINVAL;
	cl_int e = clRetainEvent(ev);
	if (e != CL_SUCCESS)
		return ng_cl_errno(e);
	return ng_cl_op_submit(q, ev, "a wrapped cl_event", op);
}
