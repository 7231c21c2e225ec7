/* OpenCL failing (NUMAGO_FAULT, core/fault.h), as a user sees it.
 *
 *  cl_init    discovery finds no platform (cl_init) or a platform without
 *             devices (cl_init@1): ng_cl_init, ng_cl_device_count and
 *             ng_cl_device_select return -ENODEV to every goroutine that
 *             asks (four at once) and to a foreign thread, ng_cl_device_get
 *             NULL, with exactly one line in the process; the runtime goes
 *             on (goroutines, channels, timers) and ng_run returns main's
 *             value.  Discovery runs once per process: each in a child.
 *  cl_cmd     a launch, read, write, map, unmap and marker fail on the
 *             device with CL_OUT_OF_RESOURCES: the enqueue returns 0, a
 *             parked waiter gets -ENOMEM, a done channel closes,
 *             ng_cl_op_status is -5, a map's pointer is NULL; a launch that
 *             depends on a failed op fails with -EIO (no hang); the next
 *             commands on the queue run and their data is right; a kernel
 *             channel's requester gets -ENOMEM/CL_OUT_OF_RESOURCES in its
 *             reply and the requests around it succeed; ng_stats'
 *             offload_failed and ng_cl_stats' failed count each failure;
 *             the queue's release reports -ENOMEM; nothing stays alive.  On
 *             a CALLBACK and a POLL queue.  In a child, so the lines can be
 *             counted: one per failed command, naming the call. */
#define _GNU_SOURCE
#include "cl_util.h"
#include "ng_child.h"

#include "core/fault.h"

#include <pthread.h>

static ng_child child;

/* ------------------------------------------------------------ cl_init --- */

typedef struct asker {
	int which;
	int rc;
	ng_chan *done;
} asker;

static void ask_g(void *arg)
{
	asker *a = arg;
	ng_cl_device *d = (ng_cl_device *)&d;
	switch (a->which) {
	case 0:
		a->rc = ng_cl_init();
		break;
	case 1:
		a->rc = ng_cl_device_count();
		break;
	case 2:
		a->rc = ng_cl_device_select(NG_CL_ANY, NULL, &d);
		CHECK(d == NULL);
		break;
	default:
		a->rc = ng_cl_device_get(0) == NULL ? -ENODEV : 0;
		break;
	}
	ng_chan_send(a->done, NULL);
}

static void pong_g(void *arg)
{
	ng_chan *c = arg;
	int v;
	while (ng_chan_recv(c, &v) == 0)
		if (ng_chan_send(c, &v) != 0)
			break;
	ng_chan_release(c);
}

static int init_main(void *arg)
{
	(void)arg;
	asker a[4];
	ng_chan *done = ng_chan_make(0, 4);
	for (int i = 0; i < 4; i++) {
		a[i] = (asker){.which = i, .rc = 1, .done = done};
		CHECK_EQ(ng_go(ask_g, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		CHECK_EQ(ng_chan_recv(done, NULL), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(a[i].rc, -ENODEV);
	ng_chan_release(done);
	/* asked again: the same answer, no second line */
	CHECK_EQ(ng_cl_init(), -ENODEV);
	CHECK_EQ(ng_cl_device_count(), -ENODEV);
	ng_cl_queue *q = (ng_cl_queue *)&q;
	CHECK_EQ(ng_cl_queue_create(NULL, NULL, &q), -EINVAL);
	CHECK(ng_cl_context(NULL) == NULL);
	ng_cl_stats st;
	CHECK_EQ(ng_cl_stats_read(&st), 0);
	CHECK_EQ(st.ops, 0);
	CHECK_EQ(st.ops_live, 0);
	/* the rest of the runtime does not care */
	ng_chan *c = ng_chan_make(sizeof(int), 0);
	ng_chan_retain(c); /* pong_g's */
	CHECK_EQ(ng_go(pong_g, c), 0);
	for (int i = 0; i < 100; i++) {
		int v = i;
		CHECK_EQ(ng_chan_send(c, &v), 0);
		CHECK_EQ(ng_chan_recv(c, &v), 0);
		CHECK_EQ(v, i);
	}
	ng_chan_close(c);
	ng_chan_release(c);
	CHECK_EQ(ng_sleep(MS), 0);
	return 5;
}

static void *foreign_ask(void *arg)
{
	*(int *)arg = ng_cl_device_count();
	return NULL;
}

static int init_child(void *arg)
{
	setenv("NUMAGO_FAULT", (const char *)arg, 1);
	/* armed before the runtime starts: a foreign thread asks first */
	CHECK_EQ(ng_fault_set((const char *)arg), 0);
	int rc = 1;
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, foreign_ask, &rc), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(rc, -ENODEV);
	CHECK_EQ(ng_run(NULL, init_main, NULL), 5);
	return 0;
}

static void cl_init_parts(void)
{
	ng_child_run(&child, init_child, "cl_init", NULL, NULL, 60);
	printf("---- cl_init: status %#x\n%s", child.status, child.out);
	CHECK_CHILD(&child, "cl_init", ng_child_exited_with(&child, 0));
	CHECK_CHILD(&child, "cl_init",
	            strcmp(child.out, "numago: offload: clGetPlatformIDs failed: "
	                              "CL_PLATFORM_NOT_FOUND_KHR (-1001): no OpenCL platform "
	                              "(install an ICD such as pocl-opencl-icd)\n") == 0);

	ng_child_run(&child, init_child, "cl_init@1", NULL, NULL, 60);
	printf("---- cl_init@1: status %#x\n%s", child.status, child.out);
	CHECK_CHILD(&child, "cl_init@1", ng_child_exited_with(&child, 0));
	CHECK_CHILD(&child, "cl_init@1",
	            strcmp(child.out, "numago: offload: clGetDeviceIDs failed: "
	                              "CL_DEVICE_NOT_FOUND (-1): no OpenCL device\n") == 0);
}

/* ------------------------------------------------------------- cl_cmd --- */

static const char *src =
    "__kernel void put(__global uint *out, uint v) { out[get_global_id(0)] = v; }\n";

#define N 16

static ng_cl_device *dev;
static cl_kernel kput;
static cl_mem buf;

typedef struct waiter {
	ng_cl_op *op;
	int use_select;
	int rc;
	ng_chan *done;
} waiter;

static void waiter_g(void *arg)
{
	waiter *w = arg;
	if (w->use_select) {
		ng_case c[1] = {NG_RECV_CASE(ng_cl_done_chan(w->op), NULL)};
		CHECK_EQ(ng_select(c, 1, NG_FOREVER), 0);
		CHECK_EQ(c[0].rc, -EPIPE);
		w->rc = ng_cl_wait(w->op, 0);
	} else {
		w->rc = ng_cl_wait(w->op, NG_FOREVER);
	}
	ng_chan_send(w->done, NULL);
}

/* A goroutine parked on op and one selecting on its done channel: both
 * get the same result, which is returned. */
static int wait_two(ng_cl_op *op)
{
	ng_chan *done = ng_chan_make(0, 2);
	waiter w[2] = {{op, 0, 1, done}, {op, 1, 1, done}};
	CHECK_EQ(ng_go(waiter_g, &w[0]), 0);
	CHECK_EQ(ng_go(waiter_g, &w[1]), 0);
	CHECK_EQ(ng_chan_recv(done, NULL), 0);
	CHECK_EQ(ng_chan_recv(done, NULL), 0);
	ng_chan_release(done);
	CHECK_EQ(w[0].rc, w[1].rc);
	return w[0].rc;
}

static ng_cl_op *launch_put(ng_cl_queue *q, cl_uint v, ng_cl_op *dep)
{
	ng_cl_range r = cl_range1(N, 0);
	ng_cl_arg a[2] = {NG_CL_ARG(buf), NG_CL_ARG(v)};
	ng_cl_op *op = NULL;
	CHECK_EQ(ng_cl_launch(q, kput, &r, a, 2, dep != NULL ? &dep : NULL, dep != NULL, &op), 0);
	CHECK(op != NULL);
	return op;
}

/* put(v) then a read: both succeed and the data is v */
static void check_queue_works(ng_cl_queue *q, cl_uint v)
{
	cl_uint host[N];
	memset(host, 0, sizeof host);
	ng_cl_op *k = launch_put(q, v, NULL), *rd = NULL;
	CHECK_EQ(ng_cl_read(q, buf, 0, sizeof host, host, NULL, 0, &rd), 0);
	CHECK_EQ(ng_cl_wait(rd, NG_FOREVER), 0);
	CHECK_EQ(ng_cl_wait(k, NG_FOREVER), 0);
	for (int i = 0; i < N; i++)
		CHECK_EQ(host[i], v);
	ng_cl_op_release(k);
	ng_cl_op_release(rd);
}

/* the injected failure of op: -ENOMEM to both waiters, status -5 */
static void check_failed(ng_cl_op *op)
{
	CHECK(op != NULL);
	CHECK_EQ(wait_two(op), -ENOMEM);
	CHECK_EQ(ng_cl_op_status(op), CL_OUT_OF_RESOURCES);
	CHECK_EQ(ng_cl_op_done(op), 1);
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), -ENOMEM);
}

static int failures; /* commands failed on purpose (and their dependents) */

static void one_queue(int mode)
{
	ng_cl_queue *q = cl_queue(dev, mode);
	check_queue_works(q, 1);
	ng_cl_op *op = NULL;
	cl_uint host[N];

	/* a launch; then one that depends on it; then the queue goes on */
	CHECK_EQ(ng_fault_set("cl_cmdx1"), 0);
	ng_cl_op *bad = launch_put(q, 2, NULL);
	CHECK_EQ(ng_fault_count(NG_FAULT_CL_CMD), 1);
	CHECK_EQ(ng_fault_set(NULL), 0);
	check_failed(bad);
	ng_cl_op *dep = launch_put(q, 3, bad);
	CHECK_EQ(wait_two(dep), -EIO); /* as after any failed command */
	CHECK_EQ(ng_cl_op_status(dep), CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
	ng_cl_op_release(dep);
	ng_cl_op_release(bad);
	failures += 2;
	check_queue_works(q, 4);

	/* the same after a real failure (PoCL never ran, nor failed, a
	 * command enqueued after a failed event: it hung) */
	cl_event ue = clCreateUserEvent(ng_cl_context(dev), NULL);
	CHECK(ue != NULL);
	ng_cl_op *uop = NULL;
	CHECK_EQ(ng_cl_op_from_event(q, ue, &uop), 0);
	CHECK_EQ(clReleaseEvent(ue), CL_SUCCESS);
	CHECK_EQ(clSetUserEventStatus(ue, CL_OUT_OF_RESOURCES), CL_SUCCESS);
	CHECK_EQ(ng_cl_wait(uop, NG_FOREVER), -ENOMEM);
	dep = launch_put(q, 3, uop);
	CHECK_EQ(wait_two(dep), -EIO);
	ng_cl_op_release(dep);
	ng_cl_op_release(uop);
	failures += 2;
	check_queue_works(q, 4);

	/* a write and a read */
	for (int i = 0; i < N; i++)
		host[i] = 99;
	CHECK_EQ(ng_fault_set("cl_cmdx1"), 0);
	CHECK_EQ(ng_cl_write(q, buf, 0, sizeof host, host, NULL, 0, &op), 0);
	check_failed(op);
	ng_cl_op_release(op);
	CHECK_EQ(ng_fault_set("cl_cmdx1"), 0);
	CHECK_EQ(ng_cl_read(q, buf, 0, sizeof host, host, NULL, 0, &op), 0);
	check_failed(op);
	ng_cl_op_release(op);
	for (int i = 0; i < N; i++)
		CHECK_EQ(host[i], 99); /* nothing was read */
	failures += 2;
	check_queue_works(q, 5);

	/* a map (no pointer), an unmap (the mapping stays) and a marker */
	void *p = (void *)&p;
	CHECK_EQ(ng_fault_set("cl_cmdx1"), 0);
	CHECK_EQ(ng_cl_map(q, buf, CL_MAP_READ, 0, sizeof host, &p, NULL, 0, &op), 0);
	CHECK(p == NULL);
	check_failed(op);
	ng_cl_op_release(op);
	CHECK_EQ(ng_cl_map(q, buf, CL_MAP_READ, 0, sizeof host, &p, NULL, 0, &op), 0);
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
	CHECK_EQ(((cl_uint *)p)[N - 1], 5);
	ng_cl_op_release(op);
	CHECK_EQ(ng_fault_set("cl_cmdx1"), 0);
	CHECK_EQ(ng_cl_unmap(q, buf, p, NULL, 0, &op), 0);
	check_failed(op);
	ng_cl_op_release(op);
	CHECK_EQ(ng_cl_unmap(q, buf, p, NULL, 0, &op), 0);
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
	ng_cl_op_release(op);
	CHECK_EQ(ng_fault_set("cl_cmdx1"), 0);
	CHECK_EQ(ng_cl_marker(q, NULL, 0, &op), 0);
	check_failed(op);
	ng_cl_op_release(op);
	failures += 3;
	check_queue_works(q, 6);

	/* a kernel channel: the second of three requests fails */
	ng_chan *kc = ng_cl_kernel_chan(q, kput, 4);
	CHECK(kc != NULL);
	ng_chan *reply = ng_chan_make(sizeof(ng_cl_launch_result), 3);
	cl_uint vals[3] = {7, 8, 9};
	CHECK_EQ(ng_fault_set("cl_cmd@1x1"), 0);
	for (int i = 0; i < 3; i++) {
		ng_cl_launch_req rq = {.range = cl_range1(N, 0), .nargs = 2, .reply = reply};
		rq.args[0] = (ng_cl_arg)NG_CL_ARG(buf);
		rq.args[1] = (ng_cl_arg)NG_CL_ARG(vals[i]);
		rq.tag = &vals[i];
		CHECK_EQ(ng_chan_send(kc, &rq), 0);
	}
	for (int i = 0; i < 3; i++) {
		ng_cl_launch_result res;
		CHECK_EQ(ng_chan_recv(reply, &res), 0);
		CHECK(res.tag == &vals[i]); /* in launch order */
		CHECK_EQ(res.status, i == 1 ? -ENOMEM : 0);
		CHECK_EQ(res.cl_status, i == 1 ? CL_OUT_OF_RESOURCES : CL_COMPLETE);
	}
	CHECK_EQ(ng_fault_count(NG_FAULT_CL_CMD), 1);
	CHECK_EQ(ng_fault_set(NULL), 0);
	CHECK_EQ(ng_cl_kernel_chan_release(kc), 0);
	ng_chan_release(reply);
	failures += 1;
	check_queue_works(q, 10);

	/* the queue's first failure */
	CHECK_EQ(ng_cl_queue_release(q), -ENOMEM);
}

static int cmd_main(void *arg)
{
	(void)arg;
	dev = cl_dev();
	cl_program prog = cl_build(dev, src);
	kput = cl_kernel_of(prog, "put");
	buf = cl_buf(dev, N * sizeof(cl_uint));
	ng_stats s0;
	ng_cl_stats c0, c1;
	CHECK_EQ(ng_stats_read(&s0), 0);
	CHECK_EQ(ng_cl_stats_read(&c0), 0);
	one_queue(NG_CL_COMPLETION_CALLBACK);
	one_queue(NG_CL_COMPLETION_POLL);
	cl_expect_quiescent("cl_cmd");
	ng_stats s1;
	CHECK_EQ(ng_stats_read(&s1), 0);
	CHECK_EQ(ng_cl_stats_read(&c1), 0);
	CHECK_EQ(s1.offload_failed - s0.offload_failed, (uint64_t)failures);
	CHECK_EQ(c1.failed - c0.failed, (uint64_t)failures);
	/* at most the real failure's token on the CALLBACK queue (PoCL calls
	 * no callback for a failed event); the injected ones have none */
	CHECK(c1.cb_orphans >= 0 && c1.cb_orphans <= 1);
	fprintf(
	    stderr,
	    "CHILD-STATS failed %llu by callback %llu poll %llu watchdog %llu cb_orphans %lld\n",
	    (unsigned long long)(c1.failed - c0.failed),
	    (unsigned long long)(c1.by_callback - c0.by_callback),
	    (unsigned long long)(c1.by_poll - c0.by_poll),
	    (unsigned long long)(c1.by_watchdog - c0.by_watchdog), (long long)c1.cb_orphans);
	clReleaseMemObject(buf);
	clReleaseKernel(kput);
	clReleaseProgram(prog);
	return failures;
}

static int cmd_child(void *arg)
{
	(void)arg;
	return ng_run(NULL, cmd_main, NULL);
}

static void cl_cmd_parts(void)
{
	ng_child_run(&child, cmd_child, NULL, NULL, NULL, 40);
	printf("---- cl_cmd: status %#x\n%s", child.status, child.out);
	CHECK_CHILD(&child, "cl_cmd", ng_child_exited_with(&child, 2 * 10));
	/* one line per failed command, naming its call; nothing else */
	static const struct {
		const char *call;
		int n; /* per queue */
	} lines[] = {
	    {"clEnqueueNDRangeKernel", 2},  {"clEnqueueWriteBuffer", 1},
	    {"clEnqueueReadBuffer", 1},     {"clEnqueueMapBuffer", 1},
	    {"clEnqueueUnmapMemObject", 1}, {"clEnqueueMarkerWithWaitList", 1},
	};
	char want[200];
	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		snprintf(want, sizeof want,
		         "numago: offload: %s failed: CL_OUT_OF_RESOURCES (-5): the command failed "
		         "(its execution status)",
		         lines[i].call);
		CHECK_CHILD(&child, lines[i].call,
		            NG_LINES_WITH(child.out, want) == 2 * lines[i].n);
	}
	/* the dependents' lines: their own status, not the injected one */
	CHECK_CHILD(&child, "dependents",
	            NG_LINES_WITH(child.out,
	                          "numago: offload: clEnqueueNDRangeKernel failed: "
	                          "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST (-14): the command "
	                          "failed (its execution status)") == 2 * 2);
	CHECK_CHILD(&child, "wrapped",
	            NG_LINES_WITH(child.out,
	                          "numago: offload: a wrapped cl_event failed: "
	                          "CL_OUT_OF_RESOURCES (-5): the command failed (its execution "
	                          "status)") == 2);
	CHECK_CHILD(&child, "lines", ng_lines_starting(child.out, "numago: offload: ") == 2 * 10);
	CHECK_CHILD(&child, "lines", ng_lines_starting(child.out, "numago: ") == 2 * 10);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	unsetenv("NUMAGO_FAULT");
	cl_init_parts(); /* before this process has touched OpenCL */
	cl_cmd_parts();
	printf("test_fault_cl: ok\n");
	return 0;
}
