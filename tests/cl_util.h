/* tests/cl_util.h — helpers for the offload (OpenCL) tests: the device,
 * program builds that fail loudly, quiescence checks on ng_cl_stats, and a
 * "spin" kernel calibrated to run for a wanted time. */
#ifndef NG_CL_UTIL_H
#define NG_CL_UTIL_H

#include "ng_test.h"

#include <numago/offload.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL

/* A hang says where: well before ctest's timeout, print the offload
 * counters and have numago dump every goroutine (its SIGQUIT handler,
 * which then exits).  test_cl_kchan hung once under ASan in a clean-clone
 * CI run (480 s timeout) and did not in reruns. */
#include <signal.h>
#include <unistd.h>
static inline void cl_hang_alarm_(int sig)
{
	(void)sig;
	ng_cl_stats st;
	if (ng_cl_stats_read(&st) == 0)
		fprintf(stderr,
		        "hang: ops %llu completed %llu failed %llu by callback %llu poll %llu "
		        "watchdog %llu parks %llu events_live %lld inflight %lld\n",
		        (unsigned long long)st.ops, (unsigned long long)st.completed,
		        (unsigned long long)st.failed, (unsigned long long)st.by_callback,
		        (unsigned long long)st.by_poll, (unsigned long long)st.by_watchdog,
		        (unsigned long long)st.parks, (long long)st.events_live,
		        (long long)st.inflight);
	raise(SIGQUIT);
}
static inline void cl_hang_dump_after(unsigned seconds)
{
	signal(SIGALRM, cl_hang_alarm_);
	alarm(seconds);
}

/* Sanitizer builds run the host side several times slower (the kernels
 * themselves are PoCL's code, not instrumented). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define CL_SLACK (1500 * MS)
#else
#define CL_SLACK (400 * MS)
#endif

/* A kernel that runs one work-item for `iters` steps of a multiplicative
 * recurrence (the compiler cannot fold it): a long kernel of a chosen
 * length.  out[gid] gets the result. */
#define CL_SPIN_SRC                                                            \
	"__kernel void spin(__global uint *out, uint iters) {\n"               \
	"  uint x = (uint)get_global_id(0) + 1u;\n"                            \
	"  for (uint i = 0; i < iters; i++) x = x * 1664525u + 1013904223u;\n" \
	"  out[get_global_id(0)] = x;\n"                                       \
	"}\n"

/* The first device (NUMAGO_CL_DEVICE applies), or a failed CHECK. */
static inline ng_cl_device *cl_dev(void)
{
	ng_cl_device *d = NULL;
	int r = ng_cl_device_select(NG_CL_ANY, NULL, &d);
	if (r != 0)
		fprintf(stderr, "ng_cl_device_select: %d\n", r);
	CHECK_EQ(r, 0);
	CHECK(d != NULL);
	return d;
}

static inline cl_program cl_build(ng_cl_device *d, const char *src)
{
	cl_program p = NULL;
	char *log = NULL;
	int r = ng_cl_program_build(d, src, NULL, &p, &log);
	if (r != 0)
		fprintf(stderr, "build failed (%d):\n%s\n", r, log != NULL ? log : "(no log)");
	free(log);
	CHECK_EQ(r, 0);
	CHECK(p != NULL);
	return p;
}

static inline cl_kernel cl_kernel_of(cl_program p, const char *name)
{
	cl_int e = CL_SUCCESS;
	cl_kernel k = clCreateKernel(p, name, &e);
	if (k == NULL)
		fprintf(stderr, "clCreateKernel(%s): %d\n", name, (int)e);
	CHECK(k != NULL);
	return k;
}

static inline cl_mem cl_buf(ng_cl_device *d, size_t size)
{
	cl_mem b = NULL;
	CHECK_EQ(ng_cl_buffer_create(d, CL_MEM_READ_WRITE, size, &b), 0);
	CHECK(b != NULL);
	return b;
}

static inline ng_cl_queue *cl_queue(ng_cl_device *d, int completion)
{
	ng_cl_queue_attr a = {.completion = completion, .profiling = 0};
	ng_cl_queue *q = NULL;
	CHECK_EQ(ng_cl_queue_create(d, &a, &q), 0);
	CHECK(q != NULL);
	if (completion != NG_CL_COMPLETION_AUTO)
		CHECK_EQ(ng_cl_queue_completion(q), completion);
	return q;
}

static inline ng_cl_range cl_range1(size_t global, size_t local)
{
	ng_cl_range r = {.dim = 1};
	r.global[0] = global;
	r.local[0] = local;
	return r;
}

/* Every op released and completed: no event, op record or command left.
 * The completer drops its references just after waking the waiter, so
 * give it a moment. */
static inline void cl_expect_quiescent(const char *where)
{
	ng_cl_stats s;
	int64_t limit = ng_now() + 1000 * MS + CL_SLACK;
	for (;;) {
		CHECK_EQ(ng_cl_stats_read(&s), 0);
		if ((s.events_live == 0 && s.ops_live == 0 && s.inflight == 0 &&
		     s.completed == s.ops) ||
		    ng_now() > limit)
			break;
		if (ng_self_proc() >= 0)
			ng_sleep(MS / 2);
	}
	if (s.events_live != 0 || s.ops_live != 0 || s.inflight != 0 || s.completed != s.ops)
		fprintf(stderr,
		        "%s: not quiescent: ops %llu completed %llu events_live %lld ops_live %lld "
		        "inflight %lld\n",
		        where, (unsigned long long)s.ops, (unsigned long long)s.completed,
		        (long long)s.events_live, (long long)s.ops_live, (long long)s.inflight);
	CHECK_EQ(s.events_live, 0);
	CHECK_EQ(s.ops_live, 0);
	CHECK_EQ(s.inflight, 0);
	CHECK_EQ(s.completed, s.ops);
}

/* Launch spin(out, iters) as one work-item. */
static inline ng_cl_op *cl_spin_launch(ng_cl_queue *q, cl_kernel spin, cl_mem out, cl_uint iters)
{
	ng_cl_range r = cl_range1(1, 0);
	ng_cl_arg a[2] = {NG_CL_ARG(out), NG_CL_ARG(iters)};
	/* the values are copied by clSetKernelArg inside ng_cl_launch */
	ng_cl_op *op = NULL;
	CHECK_EQ(ng_cl_launch(q, spin, &r, a, 2, NULL, 0, &op), 0);
	CHECK(op != NULL);
	return op;
}

/* Iterations of spin for about `ns` of device time, measured on q.  The
 * machine may be busy with other work: the fastest of three runs of 20 ms
 * or more sets the rate, so a kernel comes out rather longer than asked
 * for than shorter. */
static inline cl_uint cl_spin_calibrate(ng_cl_queue *q, cl_kernel spin, cl_mem out, int64_t ns)
{
	/* PoCL compiles a kernel for its launch shape on the first launch:
	 * not part of the measure */
	ng_cl_op *warm = cl_spin_launch(q, spin, out, 1);
	CHECK_EQ(ng_cl_wait(warm, NG_FOREVER), 0);
	ng_cl_op_release(warm);
	cl_uint iters = 1u << 20;
	double best = 0; /* ns per iteration */
	for (int runs = 0; runs < 3;) {
		int64_t t0 = ng_now();
		ng_cl_op *op = cl_spin_launch(q, spin, out, iters);
		CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
		int64_t dt = ng_now() - t0;
		ng_cl_op_release(op);
		if (dt < 20 * MS && iters < (1u << 30)) {
			iters *= 2;
			continue;
		}
		double per = (double)dt / iters;
		if (runs++ == 0 || per < best)
			best = per;
	}
	double want = (double)ns / best;
	if (want > 4.0e9)
		want = 4.0e9;
	return want < 1 ? 1 : (cl_uint)want;
}

#endif
