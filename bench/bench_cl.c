/* bench/bench_cl.c — the OpenCL offload bridge (numago/offload.h) against
 * raw OpenCL on the same device, in the same run.
 *
 * The device is ng_cl_device_select(NG_CL_ANY, NULL) (NUMAGO_CL_DEVICE
 * picks); the raw side uses a command queue of its own on numago's context
 * of that device, the same kernels and buffers, and runs on a plain pthread
 * (the CPUs the process was started with, not a P's) while the runtime sits
 * idle.  Each numago row runs once per completion mode (queue attribute
 * .completion = CALLBACK and POLL).
 *
 *   submit      ns per ng_cl_launch of an empty kernel (ops released at
 *               once, the last of each batch of 256 waited for outside the
 *               timed region) against clEnqueueNDRangeKernel with an event
 *               requested and released, and without an event (each batch
 *               drained by an untimed clFinish).  Target: numago <= raw
 *               (with event) + 0.5 us.
 *   roundtrip   ns per empty kernel launched and waited for: ng_cl_launch +
 *               ng_cl_wait in a goroutine (parks; no thread blocks) against
 *               clEnqueueNDRangeKernel + clFinish.  Target: numago <= raw.
 *   latency     completion to runnable: a marker on the queue waits for a
 *               user event that a setter thread completes
 *               (clSetUserEventStatus) 200 us after the waiter went to
 *               wait, recording the time T just before; the waiter records
 *               when it runs again.  us from T, median and p99 over all
 *               samples, min and median of the per-repetition medians.  The
 *               numago waiter is a goroutine in ng_cl_wait, the raw one a
 *               thread in clWaitForEvents on the same kind of marker.
 *   throughput  ns per small kernel (64 work-items, a[i] += 1) with
 *               per-kernel completion: 8 goroutines each launching and
 *               waiting for one kernel at a time, and the kernel channel
 *               bridge (ng_cl_kernel_chan, depth 64: one sender goroutine,
 *               the results received by another), against raw enqueue-only
 *               (clEnqueueNDRangeKernel in a loop, one clFinish: no
 *               per-kernel completion at all).  Target: numago <= 1.1x raw.
 *   waitcpu     CPU burned while waiting for one long busy kernel (one
 *               work-item, ~0.5 s): process user+sys time over the wait
 *               (getrusage), the busiest thread's CPU time (the device
 *               thread running the kernel on a CPU device), and the rest:
 *               every other thread of the process (numago's Ms, sysmon, the
 *               driver's other threads, the raw waiter), which is the cost
 *               of waiting.  Per-thread times come from each thread's CPU
 *               clock (/proc/self/task).  No target: compared with
 *               clFinish's.
 *
 * A CPU device (PoCL) shares the cores with the Ps: numago gives it the
 * CPUs the Ps leave free (POCL_MAX_PTHREAD_COUNT, at least 1), and the
 * header line says what it got.  POCL_CACHE_DIR defaults to pocl-cache in
 * the build directory.  Exit status 1 when a benchmark failed (an operation
 * returned an error). */
#define _GNU_SOURCE
#include "bench.h"

#include <numago.h>
#include <numago/offload.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef NUMAGO_BENCH_BINARY_DIR
#define NUMAGO_BENCH_BINARY_DIR "."
#endif

#define BATCH      256
#define NGOR       8  /* goroutines of throughput/goroutines */
#define KCHAN_D    64 /* depth of throughput/kchan */
#define SMALL_N    64 /* work-items of the small kernel */
#define SET_DELAY  200000LL
#define MAX_THREAD 256

static bench_opts opts;
static int quick, show_threads, early_init;
static int failed;
static cpu_set_t start_cpus;

static ng_cl_device *dev;
static cl_context ctx;
static cl_kernel k_empty, k_small, k_busy;
static cl_mem buf_small, buf_busy;
static cl_command_queue raw_q;
static ng_cl_queue *nq[2];
static const char *const mode_names[2] = {"callback", "poll"};
static cl_ulong busy_iters;

static const ng_cl_range R_ONE = {1, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}};
static const ng_cl_range R_SMALL = {1, {SMALL_N, 1, 1}, {0, 0, 0}, {0, 0, 0}};
static const size_t G_ONE[1] = {1}, G_SMALL[1] = {SMALL_N};

static const char *const SRC =
    "__kernel void empty(void) {}\n"
    "__kernel void small(__global int *a) { size_t i = get_global_id(0); a[i] += 1; }\n"
    "__kernel void busy(__global ulong *o, ulong iters) {\n"
    "  ulong x = get_global_id(0) + 1;\n"
    "  for (ulong i = 0; i < iters; i++)\n"
    "    x = x * 6364136223846793005UL + 1442695040888963407UL + (x >> 17);\n"
    "  o[get_global_id(0)] = x;\n"
    "}\n";

static void fail(const char *what, long rc)
{
	if (failed++ == 0 || failed < 5)
		fprintf(stderr, "bench_cl: %s failed (%ld)\n", what, rc);
}

/* ------------------------------------------------------------ comparisons */

typedef struct cmp_row {
	char name[64];
	char unit[8];
	double numago, raw, ratio;
	char target[48];
	int met; /* 1 met, 0 not met, -1 no target */
} cmp_row;

static cmp_row cmps[64];
static int ncmp;

static void compare(const char *name, const char *unit, double numago, double raw,
                    const char *target, int met)
{
	if (ncmp == (int)(sizeof cmps / sizeof cmps[0]))
		return;
	cmp_row *c = &cmps[ncmp++];
	snprintf(c->name, sizeof c->name, "%s", name);
	snprintf(c->unit, sizeof c->unit, "%s", unit);
	c->numago = numago;
	c->raw = raw;
	c->ratio = raw > 0 ? numago / raw : 0;
	snprintf(c->target, sizeof c->target, "%s", target);
	c->met = met;
	if (opts.json)
		printf("{\"name\":\"CL/compare/%s\",\"unit\":\"%s\",\"numago\":%.3f,\"raw\":%.3f,"
		       "\"ratio\":%.3f,\"target\":\"%s\",\"met\":%s}\n",
		       name, unit, numago, raw, c->ratio, target,
		       met < 0 ? "null"
		       : met   ? "true"
		               : "false");
	fflush(stdout);
}

static void print_comparisons(void)
{
	if (opts.json || ncmp == 0)
		return;
	printf("\n%-30s %12s %12s %7s  %-26s %s\n", "comparison (medians)", "numago", "raw",
	       "ratio", "target", "");
	for (int i = 0; i < ncmp; i++) {
		const cmp_row *c = &cmps[i];
		printf("%-30s %9.2f %-2s %9.2f %-2s %7.2f  %-26s %s\n", c->name, c->numago, c->unit,
		       c->raw, c->unit, c->ratio, c->target,
		       c->met < 0 ? "-"
		       : c->met   ? "met"
		                  : "NOT MET");
	}
}

/* ------------------------------------------------------- the raw thread */

/* Raw OpenCL runs on a plain thread with the process's original CPUs (a
 * thread created by a goroutine would inherit its M's binding), while the
 * goroutine that started it parks on a channel. */
typedef struct raw_job {
	bench_fn fn;
	int64_t n;
	void *ctx;
	int64_t ret;
	ng_chan *done;
} raw_job;

static void *raw_main(void *a)
{
	raw_job *j = a;
	j->ret = j->fn(j->n, j->ctx);
	ng_chan_close(j->done);
	return NULL;
}

static int64_t on_raw_thread(bench_fn fn, int64_t n, void *c)
{
	raw_job j = {fn, n, c, -1, ng_chan_make(0, 0)};
	if (j.done == NULL)
		return -1;
	pthread_attr_t at;
	pthread_t t;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 8u << 20);
	pthread_attr_setaffinity_np(&at, sizeof start_cpus, &start_cpus);
	int r = pthread_create(&t, &at, raw_main, &j);
	pthread_attr_destroy(&at);
	if (r != 0) {
		ng_chan_release(j.done);
		return -1;
	}
	ng_chan_recv(j.done, NULL);
	ng_block_enter();
	pthread_join(t, NULL);
	ng_block_exit();
	ng_chan_release(j.done);
	return j.ret;
}

/* --------------------------------------------------------------- submit */

static int64_t ng_submit(int64_t n, void *c)
{
	ng_cl_queue *q = c;
	int64_t t = 0;
	for (int64_t i = 0; i < n;) {
		int64_t m = n - i < BATCH ? n - i : BATCH;
		ng_cl_op *last = NULL;
		int64_t t0 = bench_now();
		for (int64_t j = 0; j < m; j++) {
			ng_cl_op *op;
			int r = ng_cl_launch(q, k_empty, &R_ONE, NULL, 0, NULL, 0, &op);
			if (r != 0) {
				fail("ng_cl_launch", r);
				return -1;
			}
			if (j == m - 1)
				last = op;
			else
				ng_cl_op_release(op);
		}
		t += bench_now() - t0;
		int r = ng_cl_wait(last, NG_FOREVER);
		ng_cl_op_release(last);
		if (r != 0) {
			fail("ng_cl_wait", r);
			return -1;
		}
		i += m;
	}
	return t;
}

static int64_t raw_submit_body(int64_t n, void *c)
{
	int with_event = c != NULL;
	int64_t t = 0;
	for (int64_t i = 0; i < n;) {
		int64_t m = n - i < BATCH ? n - i : BATCH;
		int64_t t0 = bench_now();
		for (int64_t j = 0; j < m; j++) {
			cl_event ev;
			cl_int e = clEnqueueNDRangeKernel(raw_q, k_empty, 1, NULL, G_ONE, NULL, 0,
			                                  NULL, with_event ? &ev : NULL);
			if (e != CL_SUCCESS) {
				fail("clEnqueueNDRangeKernel", e);
				return -1;
			}
			if (with_event)
				clReleaseEvent(ev);
		}
		t += bench_now() - t0;
		if (clFinish(raw_q) != CL_SUCCESS)
			return -1;
		i += m;
	}
	return t;
}

static int64_t raw_submit(int64_t n, void *c)
{
	return on_raw_thread(raw_submit_body, n, c);
}

/* ------------------------------------------------------------ roundtrip */

static int64_t ng_roundtrip(int64_t n, void *c)
{
	ng_cl_queue *q = c;
	int64_t t0 = bench_now();
	for (int64_t i = 0; i < n; i++) {
		ng_cl_op *op;
		int r = ng_cl_launch(q, k_empty, &R_ONE, NULL, 0, NULL, 0, &op);
		if (r == 0)
			r = ng_cl_wait(op, NG_FOREVER);
		ng_cl_op_release(op);
		if (r != 0) {
			fail("ng_cl_launch/ng_cl_wait", r);
			return -1;
		}
	}
	return bench_now() - t0;
}

static int64_t raw_roundtrip_body(int64_t n, void *c)
{
	(void)c;
	int64_t t0 = bench_now();
	for (int64_t i = 0; i < n; i++) {
		cl_int e =
		    clEnqueueNDRangeKernel(raw_q, k_empty, 1, NULL, G_ONE, NULL, 0, NULL, NULL);
		if (e == CL_SUCCESS)
			e = clFinish(raw_q);
		if (e != CL_SUCCESS) {
			fail("clEnqueueNDRangeKernel/clFinish", e);
			return -1;
		}
	}
	return bench_now() - t0;
}

static int64_t raw_roundtrip(int64_t n, void *c)
{
	return on_raw_thread(raw_roundtrip_body, n, c);
}

/* ----------------------------------------------------------- throughput */

typedef struct tp_ctx {
	ng_cl_queue *q;
	int64_t n;
	ng_waitgroup wg;
} tp_ctx;

static void tp_worker(void *a)
{
	tp_ctx *c = a;
	for (int64_t i = 0; i < c->n; i++) {
		ng_cl_op *op;
		int r = ng_cl_launch(c->q, k_small, &R_SMALL, NULL, 0, NULL, 0, &op);
		if (r == 0)
			r = ng_cl_wait(op, NG_FOREVER);
		ng_cl_op_release(op);
		if (r != 0) {
			fail("throughput: ng_cl_launch/ng_cl_wait", r);
			break;
		}
	}
	ng_waitgroup_done(&c->wg);
}

static int64_t ng_tp_goroutines(int64_t n, void *q)
{
	tp_ctx c = {q, (n + NGOR - 1) / NGOR, NG_WAITGROUP_INIT};
	int f0 = failed;
	int64_t t0 = bench_now();
	ng_waitgroup_add(&c.wg, NGOR);
	for (int i = 0; i < NGOR; i++)
		if (ng_go(tp_worker, &c) != 0) {
			fail("ng_go", -1);
			ng_waitgroup_done(&c.wg);
		}
	ng_waitgroup_wait(&c.wg);
	int64_t t = bench_now() - t0;
	/* per kernel of the n asked for: the workers ran c.n * NGOR >= n */
	return failed != f0 ? -1 : (int64_t)((double)t * (double)n / (double)(c.n * NGOR));
}

typedef struct kc_ctx {
	ng_chan *kc, *reply;
	int64_t n;
	ng_chan *sent;
} kc_ctx;

static void kc_sender(void *a)
{
	kc_ctx *c = a;
	ng_cl_launch_req rq;
	memset(&rq, 0, sizeof rq);
	rq.range = R_SMALL;
	rq.nargs = 0;
	rq.reply = c->reply;
	for (int64_t i = 0; i < c->n; i++)
		if (ng_chan_send(c->kc, &rq) != 0) {
			fail("throughput: ng_chan_send on the kernel channel", -1);
			break;
		}
	ng_chan_close(c->sent);
}

static int64_t ng_tp_kchan(int64_t n, void *q)
{
	kc_ctx c = {ng_cl_kernel_chan(q, k_small, KCHAN_D),
	            ng_chan_make(sizeof(ng_cl_launch_result), KCHAN_D), n, ng_chan_make(0, 0)};
	if (c.kc == NULL || c.reply == NULL || c.sent == NULL) {
		fail("ng_cl_kernel_chan", -errno);
		return -1;
	}
	int64_t t0 = bench_now();
	if (ng_go(kc_sender, &c) != 0) {
		fail("ng_go", -1);
		return -1;
	}
	int bad = 0;
	for (int64_t i = 0; i < n; i++) {
		ng_cl_launch_result res;
		if (ng_chan_recv(c.reply, &res) != 0 || res.status != 0) {
			fail("throughput: kernel channel result", res.status);
			bad = 1;
			break;
		}
	}
	int64_t t = bench_now() - t0;
	ng_chan_recv(c.sent, NULL);
	ng_cl_kernel_chan_release(c.kc);
	ng_chan_release(c.reply);
	ng_chan_release(c.sent);
	return bad ? -1 : t;
}

static int64_t raw_tp_body(int64_t n, void *c)
{
	(void)c;
	int64_t t0 = bench_now();
	for (int64_t i = 0; i < n; i++) {
		cl_int e =
		    clEnqueueNDRangeKernel(raw_q, k_small, 1, NULL, G_SMALL, NULL, 0, NULL, NULL);
		if (e != CL_SUCCESS) {
			fail("clEnqueueNDRangeKernel", e);
			return -1;
		}
	}
	if (clFinish(raw_q) != CL_SUCCESS)
		return -1;
	return bench_now() - t0;
}

static int64_t raw_tp(int64_t n, void *c)
{
	return on_raw_thread(raw_tp_body, n, c);
}

/* -------------------------------------------------------------- latency */

/* The setter: completes the user event SET_DELAY after it was handed one,
 * recording the time first, then releases it. */
static struct {
	sem_t go;
	cl_event ue;
	_Atomic int64_t t_set;
	_Atomic int stop;
	pthread_t th;
} setter;

static void *setter_main(void *a)
{
	(void)a;
	for (;;) {
		while (sem_wait(&setter.go) != 0 && errno == EINTR)
			;
		if (atomic_load(&setter.stop))
			return NULL;
		cl_event ue = setter.ue;
		struct timespec ts = {0, SET_DELAY};
		nanosleep(&ts, NULL);
		atomic_store(&setter.t_set, bench_now());
		clSetUserEventStatus(ue, CL_COMPLETE);
		clReleaseEvent(ue);
	}
}

static int setter_start(void)
{
	sem_init(&setter.go, 0, 0);
	atomic_store(&setter.stop, 0);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setaffinity_np(&at, sizeof start_cpus, &start_cpus);
	int r = pthread_create(&setter.th, &at, setter_main, NULL);
	pthread_attr_destroy(&at);
	return r;
}

static void setter_stop(void)
{
	atomic_store(&setter.stop, 1);
	sem_post(&setter.go);
	ng_block_enter();
	pthread_join(setter.th, NULL);
	ng_block_exit();
	sem_destroy(&setter.go);
}

/* A marker on cq waiting for a fresh user event handed to the setter. */
static cl_event arm_marker(cl_command_queue cq, cl_event *ue_out)
{
	cl_int e;
	cl_event ue = clCreateUserEvent(ctx, &e);
	if (ue == NULL) {
		fail("clCreateUserEvent", e);
		return NULL;
	}
	cl_event mk = NULL;
	e = clEnqueueMarkerWithWaitList(cq, 1, &ue, &mk);
	if (e != CL_SUCCESS) {
		fail("clEnqueueMarkerWithWaitList", e);
		clSetUserEventStatus(ue, CL_COMPLETE);
		clReleaseEvent(ue);
		return NULL;
	}
	*ue_out = ue;
	return mk;
}

typedef struct lat_ctx {
	ng_cl_queue *q; /* NULL: raw */
	int64_t *lat;
	int n;
} lat_ctx;

static int64_t ng_latency(int64_t n, void *a)
{
	lat_ctx *c = a;
	for (int64_t i = 0; i < n; i++) {
		cl_event ue, mk = arm_marker(ng_cl_queue_handle(c->q), &ue);
		if (mk == NULL)
			return -1;
		ng_cl_op *op;
		int r = ng_cl_op_from_event(c->q, mk, &op);
		clReleaseEvent(mk);
		if (r != 0) {
			fail("ng_cl_op_from_event", r);
			clSetUserEventStatus(ue, CL_COMPLETE);
			clReleaseEvent(ue);
			return -1;
		}
		setter.ue = ue;
		sem_post(&setter.go);
		r = ng_cl_wait(op, NG_FOREVER);
		int64_t t1 = bench_now();
		ng_cl_op_release(op);
		if (r != 0) {
			fail("ng_cl_wait (latency)", r);
			return -1;
		}
		c->lat[c->n++] = t1 - atomic_load(&setter.t_set);
	}
	return 0;
}

static int64_t raw_latency_body(int64_t n, void *a)
{
	lat_ctx *c = a;
	for (int64_t i = 0; i < n; i++) {
		cl_event ue, mk = arm_marker(raw_q, &ue);
		if (mk == NULL)
			return -1;
		clFlush(raw_q);
		setter.ue = ue;
		sem_post(&setter.go);
		cl_int e = clWaitForEvents(1, &mk);
		int64_t t1 = bench_now();
		clReleaseEvent(mk);
		if (e != CL_SUCCESS) {
			fail("clWaitForEvents (latency)", e);
			return -1;
		}
		c->lat[c->n++] = t1 - atomic_load(&setter.t_set);
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

typedef struct lat_res {
	double med_us, p99_us, repmin_us, repmed_us;
	int ok;
} lat_res;

static lat_res run_latency(ng_cl_queue *q, const char *name)
{
	lat_res res = {0};
	int per = quick ? 40 : 150, reps = opts.reps;
	lat_ctx c = {q, malloc(sizeof(int64_t) * (size_t)(per * reps)), 0};
	double *repmed = malloc(sizeof(double) * (size_t)reps);
	int64_t *tmp = malloc(sizeof(int64_t) * (size_t)per);
	if (c.lat == NULL || repmed == NULL || tmp == NULL)
		goto out;
	/* a few unrecorded samples first: threads and caches warm */
	int64_t *keep = c.lat;
	c.n = 0;
	if ((q != NULL ? ng_latency(5, &c) : on_raw_thread(raw_latency_body, 5, &c)) < 0)
		goto out;
	c.n = 0;
	c.lat = keep;
	for (int r = 0; r < reps; r++) {
		int from = c.n;
		if ((q != NULL ? ng_latency(per, &c) : on_raw_thread(raw_latency_body, per, &c)) <
		    0)
			goto out;
		memcpy(tmp, c.lat + from, sizeof(int64_t) * (size_t)per);
		qsort(tmp, (size_t)per, sizeof *tmp, cmp_i64);
		repmed[r] = (double)tmp[per / 2] / 1e3;
	}
	qsort(c.lat, (size_t)c.n, sizeof *c.lat, cmp_i64);
	qsort(repmed, (size_t)reps, sizeof *repmed, bench_cmp_double);
	res.med_us = (double)c.lat[c.n / 2] / 1e3;
	res.p99_us = (double)c.lat[(int)((double)c.n * 0.99)] / 1e3;
	res.repmin_us = repmed[0];
	res.repmed_us = repmed[reps / 2];
	res.ok = 1;
	if (opts.json)
		printf("{\"name\":\"%s\",\"unit\":\"us\",\"samples\":%d,\"reps\":%d,"
		       "\"median\":%.3f,\"p99\":%.3f,\"rep_median_min\":%.3f,"
		       "\"rep_median_median\":%.3f,\"procs\":%d}\n",
		       name, c.n, reps, res.med_us, res.p99_us, res.repmin_us, res.repmed_us,
		       ng_procs());
	else
		printf("%-34s %12d %10.2f us (median) %8.2f us (p99) %8.2f / %.2f us "
		       "(rep medians min/med)\n",
		       name, c.n, res.med_us, res.p99_us, res.repmin_us, res.repmed_us);
	fflush(stdout);
out:
	if (!res.ok) {
		printf("%-34s FAILED\n", name);
		failed += failed == 0;
	}
	free(c.lat);
	free(repmed);
	free(tmp);
	return res;
}

/* -------------------------------------------------------------- waitcpu */

typedef struct th_cpu {
	int tid;
	int64_t ns;
	char comm[20];
} th_cpu;

static int64_t tid_cpu_ns(int tid)
{
	/* the per-thread CPU clock of any thread of this process (the
	 * kernel's CPUCLOCK encoding: ~tid << 3 | PERTHREAD | SCHED) */
	clockid_t cid = (clockid_t)((~(unsigned)tid << 3) | 6u);
	struct timespec ts;
	if (clock_gettime(cid, &ts) != 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int snap_threads(th_cpu *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < max) {
		int tid = atoi(e->d_name);
		if (tid <= 0)
			continue;
		int64_t ns = tid_cpu_ns(tid);
		if (ns < 0)
			continue;
		out[n].tid = tid;
		out[n].ns = ns;
		out[n].comm[0] = '\0';
		char p[64];
		snprintf(p, sizeof p, "/proc/self/task/%d/comm", tid);
		FILE *f = fopen(p, "r");
		if (f != NULL) {
			if (fgets(out[n].comm, sizeof out[n].comm, f) != NULL)
				out[n].comm[strcspn(out[n].comm, "\n")] = '\0';
			fclose(f);
		}
		n++;
	}
	closedir(d);
	return n;
}

/* The thread's allowed CPUs (Cpus_allowed_list), for --threads. */
static const char *tid_cpus(int tid)
{
	static char buf[64];
	char p[64], line[256];
	snprintf(buf, sizeof buf, "?");
	snprintf(p, sizeof p, "/proc/self/task/%d/status", tid);
	FILE *f = fopen(p, "r");
	if (f == NULL)
		return buf;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Cpus_allowed_list: %63s", buf) == 1)
			break;
	fclose(f);
	return buf;
}

static int64_t proc_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

typedef struct cpu_sample {
	int64_t wall, proc, busiest, waiter;
	int busiest_tid;
	th_cpu before[MAX_THREAD], after[MAX_THREAD];
	int nb, na;
} cpu_sample;

static cpu_sample cs;

/* CPU the waiter's thread burned over the wait, from cpu_end's deltas.  A
 * goroutine may end on another M than it began on: both count (two
 * different threads' clocks cannot be subtracted from each other). */
static int64_t waiter_cpu(int tid0, int tid1)
{
	int64_t sum = 0;
	for (int i = 0; i < cs.na; i++)
		if (cs.after[i].tid == tid0 || cs.after[i].tid == tid1)
			sum += cs.after[i].ns;
	return sum;
}

static void cpu_begin(void)
{
	cs.nb = snap_threads(cs.before, MAX_THREAD);
	cs.proc = proc_cpu_ns();
	cs.wall = bench_now();
}

static void cpu_end(void)
{
	cs.wall = bench_now() - cs.wall;
	cs.proc = proc_cpu_ns() - cs.proc;
	cs.na = snap_threads(cs.after, MAX_THREAD);
	cs.busiest = 0;
	cs.busiest_tid = 0;
	for (int i = 0; i < cs.na; i++) {
		int64_t b = 0;
		for (int j = 0; j < cs.nb; j++)
			if (cs.before[j].tid == cs.after[i].tid)
				b = cs.before[j].ns;
		int64_t d = cs.after[i].ns - b;
		cs.after[i].ns = d; /* now the delta */
		if (d > cs.busiest) {
			cs.busiest = d;
			cs.busiest_tid = cs.after[i].tid;
		}
	}
}

static int launch_busy(cl_command_queue cq, cl_event *ev)
{
	cl_int e = clSetKernelArg(k_busy, 1, sizeof busy_iters, &busy_iters);
	if (e == CL_SUCCESS)
		e = clEnqueueNDRangeKernel(cq, k_busy, 1, NULL, G_ONE, NULL, 0, NULL, ev);
	if (e != CL_SUCCESS)
		fail("clEnqueueNDRangeKernel (busy)", e);
	return e == CL_SUCCESS ? 0 : -1;
}

static int64_t ng_waitcpu(int64_t n, void *q)
{
	(void)n;
	cl_ulong it = busy_iters;
	ng_cl_arg args[2] = {NG_CL_ARG(buf_busy), NG_CL_ARG(it)};
	ng_cl_op *op;
	cpu_begin();
	int tid0 = (int)syscall(SYS_gettid);
	int r = ng_cl_launch(q, k_busy, &R_ONE, args, 2, NULL, 0, &op);
	if (r == 0)
		r = ng_cl_wait(op, NG_FOREVER);
	cpu_end();
	cs.waiter = waiter_cpu(tid0, (int)syscall(SYS_gettid));
	ng_cl_op_release(op);
	if (r != 0)
		fail("ng_cl_launch/ng_cl_wait (busy)", r);
	return r != 0 ? -1 : 0;
}

static int64_t raw_waitcpu_body(int64_t n, void *c)
{
	(void)n;
	int use_wait = c != NULL;
	cl_event ev = NULL;
	cpu_begin();
	int tid = (int)syscall(SYS_gettid);
	if (launch_busy(raw_q, use_wait ? &ev : NULL) != 0)
		return -1;
	cl_int e;
	if (use_wait) {
		clFlush(raw_q);
		e = clWaitForEvents(1, &ev);
		clReleaseEvent(ev);
	} else {
		e = clFinish(raw_q);
	}
	cpu_end();
	cs.waiter = waiter_cpu(tid, tid);
	return e == CL_SUCCESS ? 0 : -1;
}

typedef struct cpu_res {
	double wall_ms, proc_ms, busiest_ms, rest_ms, rest_ms_per_s, waiter_ms;
	int ok;
} cpu_res;

static cpu_res run_waitcpu(ng_cl_queue *q, void *rawarg, const char *name)
{
	cpu_res res = {0};
	int reps = opts.reps;
	double rest[64], proc[64];
	if (reps > 64)
		reps = 64;
	double busiest = 0, wall = 0, waiter = 0;
	for (int r = 0; r < reps; r++) {
		int64_t x =
		    q != NULL ? ng_waitcpu(0, q) : on_raw_thread(raw_waitcpu_body, 0, rawarg);
		if (x < 0) {
			printf("%-34s FAILED\n", name);
			failed += failed == 0;
			return res;
		}
		rest[r] = (double)(cs.proc - cs.busiest) / 1e6;
		proc[r] = (double)cs.proc / 1e6;
		busiest += (double)cs.busiest / 1e6 / reps;
		wall += (double)cs.wall / 1e6 / reps;
		waiter += (double)cs.waiter / 1e6 / reps;
		if (show_threads && r == reps - 1) {
			printf("  threads of %s, last rep (CPU ms over the wait):\n", name);
			for (int i = 0; i < cs.na; i++)
				if (cs.after[i].ns > 100000)
					printf(
					    "    tid %-7d %-16s %8.2f  CPUs %-8s%s\n",
					    cs.after[i].tid, cs.after[i].comm,
					    (double)cs.after[i].ns / 1e6, tid_cpus(cs.after[i].tid),
					    cs.after[i].tid == cs.busiest_tid ? "  (busiest)" : "");
		}
	}
	qsort(rest, (size_t)reps, sizeof rest[0], bench_cmp_double);
	qsort(proc, (size_t)reps, sizeof proc[0], bench_cmp_double);
	res.wall_ms = wall;
	res.proc_ms = proc[reps / 2];
	res.busiest_ms = busiest;
	res.rest_ms = rest[reps / 2];
	res.rest_ms_per_s = res.rest_ms / (wall / 1e3);
	res.waiter_ms = waiter;
	res.ok = 1;
	if (opts.json)
		printf("{\"name\":\"%s\",\"unit\":\"ms\",\"reps\":%d,\"wall\":%.3f,"
		       "\"process_cpu_median\":%.3f,\"busiest_thread\":%.3f,"
		       "\"rest_min\":%.3f,\"rest_median\":%.3f,\"rest_ms_per_s\":%.3f,"
		       "\"waiter_thread\":%.3f}\n",
		       name, reps, wall, res.proc_ms, busiest, rest[0], res.rest_ms,
		       res.rest_ms_per_s, waiter);
	else
		printf("%-34s %7.1f ms wall %8.1f ms CPU: %7.1f busiest thread, %6.2f rest "
		       "(min %.2f; %.2f ms/s); waiter's threads %.2f\n",
		       name, wall, res.proc_ms, busiest, res.rest_ms, rest[0], res.rest_ms_per_s,
		       waiter);
	fflush(stdout);
	return res;
}

/* ----------------------------------------------------------------- setup */

static int64_t raw_warm_body(int64_t n, void *c)
{
	(void)n;
	(void)c;
	/* each kernel once with the sizes used later (a CPU driver compiles
	 * per work-group size at the first enqueue), then the busy kernel's
	 * speed */
	cl_ulong it = 1000000;
	busy_iters = it;
	if (clEnqueueNDRangeKernel(raw_q, k_empty, 1, NULL, G_ONE, NULL, 0, NULL, NULL) ||
	    clEnqueueNDRangeKernel(raw_q, k_small, 1, NULL, G_SMALL, NULL, 0, NULL, NULL) ||
	    launch_busy(raw_q, NULL) != 0 || clFinish(raw_q) != CL_SUCCESS)
		return -1;
	int64_t t0 = bench_now();
	if (launch_busy(raw_q, NULL) != 0 || clFinish(raw_q) != CL_SUCCESS)
		return -1;
	int64_t t = bench_now() - t0;
	double want = quick ? 0.2e9 : 0.5e9;
	busy_iters = (cl_ulong)((double)it * want / (double)(t > 0 ? t : 1));
	return 0;
}

static int setup(void)
{
	int r = ng_cl_device_select(NG_CL_ANY, NULL, &dev);
	if (r != 0) {
		fprintf(stderr, "bench_cl: no OpenCL device (%d)\n", r);
		return r;
	}
	ctx = ng_cl_context(dev);
	ng_cl_device_info info;
	ng_cl_device_info_get(dev, &info);
	char *log = NULL;
	cl_program prog;
	r = ng_cl_program_build(dev, SRC, NULL, &prog, &log);
	if (r != 0) {
		fprintf(stderr, "bench_cl: build failed (%d): %s\n", r, log ? log : "");
		free(log);
		return r;
	}
	cl_int e;
	k_empty = clCreateKernel(prog, "empty", &e);
	k_small = clCreateKernel(prog, "small", &e);
	k_busy = clCreateKernel(prog, "busy", &e);
	clReleaseProgram(prog);
	if (k_empty == NULL || k_small == NULL || k_busy == NULL)
		return -EINVAL;
	if ((r = ng_cl_buffer_create(dev, CL_MEM_READ_WRITE, SMALL_N * sizeof(int), &buf_small)) ||
	    (r = ng_cl_buffer_create(dev, CL_MEM_READ_WRITE, 64, &buf_busy)))
		return r;
	clSetKernelArg(k_small, 0, sizeof buf_small, &buf_small);
	clSetKernelArg(k_busy, 0, sizeof buf_busy, &buf_busy);
	raw_q = clCreateCommandQueueWithProperties(ctx, info.device_id, NULL, &e);
	if (raw_q == NULL)
		return -EINVAL;
	for (int m = 0; m < 2; m++) {
		ng_cl_queue_attr a = {m == 0 ? NG_CL_COMPLETION_CALLBACK : NG_CL_COMPLETION_POLL,
		                      0};
		if ((r = ng_cl_queue_create(dev, &a, &nq[m])) != 0)
			return r;
	}
	if (on_raw_thread(raw_warm_body, 0, NULL) < 0)
		return -EIO;
	const char *pt = getenv("POCL_MAX_PTHREAD_COUNT");
	if (!opts.json)
		printf("== bench_cl: %s (%s, %s), %u compute units, %d Ps, %s "
		       "POCL_MAX_PTHREAD_COUNT=%s; busy kernel %llu iterations\n",
		       info.name, info.platform,
		       info.type == NG_CL_CPU   ? "CPU"
		       : info.type == NG_CL_GPU ? "GPU"
		                                : "accel",
		       info.compute_units, ng_procs(), info.type == NG_CL_CPU ? "CPU device:" : "",
		       pt ? pt : "(unset)", (unsigned long long)busy_iters);
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ main */

static int met_le(double a, double b)
{
	return a <= b;
}

/* 1 ran, 0 not selected (--filter), -1 failed (the row says FAILED) */
static int brun(const char *name, bench_fn fn, void *c, bench_result *out)
{
	if (!bench_selected(&opts, name))
		return 0;
	if (bench_run(&opts, name, "ns/op", fn, c, out) == 0)
		return 1;
	printf("%-34s FAILED\n", name);
	if (failed == 0)
		failed = 1;
	return -1;
}

static int run_all(void *arg)
{
	(void)arg;
	if (setup() != 0)
		return 1;
	bench_result rn = {0}, rr = {0}, rr2 = {0};
	char name[96], cname[64];

	/* 1. submit */
	int ok = brun("CL/submit/raw-event", raw_submit, (void *)1, &rr);
	int ok2 = brun("CL/submit/raw-noevent", raw_submit, NULL, &rr2);
	for (int m = 0; m < 2; m++) {
		snprintf(name, sizeof name, "CL/submit/numago-%s", mode_names[m]);
		if (brun(name, ng_submit, nq[m], &rn) != 1)
			continue;
		snprintf(cname, sizeof cname, "submit/%s vs event", mode_names[m]);
		if (ok == 1)
			compare(cname, "ns", rn.median_ns, rr.median_ns, "numago <= raw + 500 ns",
			        met_le(rn.median_ns, rr.median_ns + 500));
		snprintf(cname, sizeof cname, "submit/%s vs no event", mode_names[m]);
		if (ok2 == 1)
			compare(cname, "ns", rn.median_ns, rr2.median_ns, "numago <= raw + 500 ns",
			        met_le(rn.median_ns, rr2.median_ns + 500));
	}

	/* 2. round trip */
	ok = brun("CL/roundtrip/raw-clFinish", raw_roundtrip, NULL, &rr);
	for (int m = 0; m < 2; m++) {
		snprintf(name, sizeof name, "CL/roundtrip/numago-%s", mode_names[m]);
		if (brun(name, ng_roundtrip, nq[m], &rn) != 1 || ok != 1)
			continue;
		snprintf(cname, sizeof cname, "roundtrip/%s", mode_names[m]);
		compare(cname, "ns", rn.median_ns, rr.median_ns, "numago <= raw clFinish",
		        met_le(rn.median_ns, rr.median_ns));
	}

	/* 3. completion to runnable */
	if (bench_selected(&opts, "CL/latency/raw-clWaitForEvents") ||
	    bench_selected(&opts, "CL/latency/numago-callback") ||
	    bench_selected(&opts, "CL/latency/numago-poll")) {
		if (setter_start() != 0) {
			fail("pthread_create (setter)", -1);
		} else {
			const char *rname = "CL/latency/raw-clWaitForEvents";
			lat_res lr = {0};
			if (bench_selected(&opts, rname))
				lr = run_latency(NULL, rname);
			for (int m = 0; m < 2; m++) {
				snprintf(name, sizeof name, "CL/latency/numago-%s", mode_names[m]);
				if (!bench_selected(&opts, name))
					continue;
				lat_res ln = run_latency(nq[m], name);
				if (!ln.ok || !lr.ok)
					continue;
				snprintf(cname, sizeof cname, "latency/%s median", mode_names[m]);
				compare(cname, "us", ln.med_us, lr.med_us,
				        "none (peer: clWaitForEvents)", -1);
				snprintf(cname, sizeof cname, "latency/%s p99", mode_names[m]);
				compare(cname, "us", ln.p99_us, lr.p99_us,
				        "none (peer: clWaitForEvents)", -1);
			}
			setter_stop();
		}
	}

	/* 4. throughput */
	ok = brun("CL/throughput/raw-enqueue-only", raw_tp, NULL, &rr);
	for (int m = 0; m < 2; m++) {
		for (int v = 0; v < 2; v++) {
			snprintf(name, sizeof name, "CL/throughput/numago-%s-%s",
			         v == 0 ? "8g" : "kchan64", mode_names[m]);
			if (brun(name, v == 0 ? ng_tp_goroutines : ng_tp_kchan, nq[m], &rn) != 1 ||
			    ok != 1)
				continue;
			snprintf(cname, sizeof cname, "throughput/%s/%s",
			         v == 0 ? "8 goroutines" : "kchan D=64", mode_names[m]);
			compare(cname, "ns", rn.median_ns, rr.median_ns, "numago <= 1.1x raw",
			        met_le(rn.median_ns, 1.1 * rr.median_ns));
		}
	}

	/* 5. CPU while waiting */
	cpu_res cr = {0};
	int any = 0;
	if (bench_selected(&opts, "CL/waitcpu/raw-clFinish"))
		cr = run_waitcpu(NULL, NULL, "CL/waitcpu/raw-clFinish"), any = 1;
	if (bench_selected(&opts, "CL/waitcpu/raw-clWaitForEvents"))
		run_waitcpu(NULL, (void *)1, "CL/waitcpu/raw-clWaitForEvents"), any = 1;
	for (int m = 0; m < 2; m++) {
		snprintf(name, sizeof name, "CL/waitcpu/numago-%s", mode_names[m]);
		if (!bench_selected(&opts, name))
			continue;
		any = 1;
		cpu_res cn = run_waitcpu(nq[m], NULL, name);
		if (!cn.ok || !cr.ok)
			continue;
		snprintf(cname, sizeof cname, "waitcpu/%s rest (ms)", mode_names[m]);
		compare(cname, "ms", cn.rest_ms, cr.rest_ms, "none (peer: clFinish)", -1);
	}
	if (any && !opts.json)
		printf(
		    "  (waitcpu: 'busiest thread' is the thread that ran the most during the "
		    "wait: the device's\n   worker running the kernel on a CPU device; 'rest' "
		    "is process CPU minus it: what\n   waiting cost, numago's Ms, sysmon and the "
		    "driver's other threads included)\n");

	print_comparisons();
	for (int m = 0; m < 2; m++)
		if (ng_cl_queue_release(nq[m]) != 0)
			fail("ng_cl_queue_release", -1);
	clReleaseCommandQueue(raw_q);
	clReleaseKernel(k_empty);
	clReleaseKernel(k_small);
	clReleaseKernel(k_busy);
	clReleaseMemObject(buf_small);
	clReleaseMemObject(buf_busy);
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	int bt_given = 0;
	for (int i = 1; i < argc; i++) {
		int drop = 0;
		if (strcmp(argv[i], "--quick") == 0)
			quick = drop = 1;
		else if (strcmp(argv[i], "--threads") == 0)
			show_threads = drop = 1;
		else if (strcmp(argv[i], "--early-init") == 0)
			early_init = drop = 1;
		else if (strcmp(argv[i], "--no-peer") == 0)
			drop = 1; /* the peer (raw OpenCL) runs in-process: always */
		else if (strcmp(argv[i], "--benchtime") == 0)
			bt_given = 1;
		if (drop) {
			for (int k = i; k < argc - 1; k++)
				argv[k] = argv[k + 1];
			argc--;
			i--;
		}
	}
	bench_parse(
	    argc, argv, &opts,
	    "bench_cl: the OpenCL offload bridge against raw OpenCL on the same device in "
	    "the same run\n(ng_cl_device_select(NG_CL_ANY): NUMAGO_CL_DEVICE picks).  Rows, "
	    "each numago one per\ncompletion mode (callback, poll):\n"
	    "  CL/submit      ns per ng_cl_launch of an empty kernel vs "
	    "clEnqueueNDRangeKernel\n"
	    "                 with and without an event (target: <= raw + 0.5 us)\n"
	    "  CL/roundtrip   ns per launch + ng_cl_wait in a goroutine vs enqueue + "
	    "clFinish\n"
	    "                 (target: <= raw)\n"
	    "  CL/latency     us from clSetUserEventStatus on a user event a marker waits "
	    "for to\n"
	    "                 the waiter running again (goroutine in ng_cl_wait vs thread "
	    "in\n"
	    "                 clWaitForEvents): median, p99, per-rep medians\n"
	    "  CL/throughput  ns per small kernel with per-kernel completion: 8 goroutines "
	    "or\n"
	    "                 ng_cl_kernel_chan(depth 64) vs raw enqueue-only + one clFinish\n"
	    "                 (target: <= 1.1x raw)\n"
	    "  CL/waitcpu     CPU time burned while waiting for a ~0.5 s busy kernel: "
	    "process\n"
	    "                 total, the busiest thread (the kernel), the rest (the wait)\n"
	    "Extra options: --quick (short run: 30 ms benchtime, fewer samples, 0.2 s "
	    "kernel),\n--threads (per-thread CPU and allowed CPUs in the waitcpu rows), "
	    "--early-init\n(ng_cl_init before ng_run, so the driver's threads are not bound to a "
	    "P's CPU).  Default "
	    "benchtime 100 ms.\nPOCL_CACHE_DIR defaults to <build>/bench/pocl-cache.");
	if (!bt_given)
		opts.benchtime_ns = (quick ? 30 : 100) * 1000000LL;
	if (opts.reps > 64)
		opts.reps = 64;
	sched_getaffinity(0, sizeof start_cpus, &start_cpus);
	if (getenv("POCL_CACHE_DIR") == NULL) {
		const char *dir = NUMAGO_BENCH_BINARY_DIR "/pocl-cache";
		mkdir(dir, 0755);
		setenv("POCL_CACHE_DIR", dir, 0);
	}
	/* ng_cl_init from a goroutine (the default: what a program does) runs
	 * the driver's set-up on a thread created by the goroutine's M, whose
	 * CPU binding the driver's threads inherit; --early-init calls it
	 * here, before the runtime binds anything */
	if (early_init && ng_cl_init() != 0)
		return 1;
	ng_config cfg = {0};
	cfg.deadlock = NG_DEADLOCK_IGNORE; /* raw threads wake the goroutines */
	int r = ng_run(&cfg, run_all, NULL);
	return r == 0 ? 0 : 1;
}
