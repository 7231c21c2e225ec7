/* Offload, operations: waiting, selecting, deadlines, foreign threads.
 *
 *  4. 10,000 goroutines (2,000 under TSan) each launch a one-item kernel
 *     that writes its own slot and wait for it: every wait returns 0 (all
 *     counted), every slot holds its value when read back, and afterwards
 *     nothing is alive (events, op records, commands in flight) and
 *     completed == ops.  Once on a CALLBACK queue (completions by callback
 *     or watchdog, none by poll) and once on a POLL queue (all by poll).
 *  5. ng_select over an op's done channel, an ng_after timer and a plain
 *     channel: a long kernel loses to a 20 ms timer; a short kernel beats a
 *     5 s timer; a channel holding a value wins against both waiting; the
 *     done channel of a completed op is ready at once.
 *  8. Deadlines: ng_cl_wait on a ~300 ms kernel with a 20 ms deadline is
 *     -ETIMEDOUT (not early), deadline 0 is -EAGAIN while pending and 0
 *     once done, a later NG_FOREVER wait is 0; ng_cl_wait_all likewise.
 * 11. Foreign threads (plain pthreads): one submits writes, a kernel and a
 *     read and waits with ng_cl_wait (blocking itself), checking the data;
 *     another waits on a goroutine's long op beside that goroutine, and on
 *     its done channel with ng_chan_recv.
 * 12. Waiting parks the goroutine, not the P: on a 1-P runtime (a child
 *     process), while one goroutine waits on a ~200 ms kernel, two others
 *     ping-pong on a channel: they do many rounds during the wait. */
#define _GNU_SOURCE
#include "cl_util.h"
#include "ng_child.h"

#include <pthread.h>

static const char *src =
    CL_SPIN_SRC "__kernel void put(__global uint *out, uint v) { out[get_global_id(0)] = v; }\n";

static ng_cl_device *dev;
static cl_program prog;
static cl_kernel kspin, kput;
static cl_mem scratch; /* spin's output */

static void setup(void)
{
	dev = cl_dev();
	prog = cl_build(dev, src);
	kspin = cl_kernel_of(prog, "spin");
	kput = cl_kernel_of(prog, "put");
	scratch = cl_buf(dev, 64 * sizeof(cl_uint));
}

static void teardown(void)
{
	clReleaseMemObject(scratch);
	clReleaseKernel(kspin);
	clReleaseKernel(kput);
	clReleaseProgram(prog);
}

/* ---- 4 ---- */

typedef struct many {
	ng_cl_queue *q;
	cl_mem out;
	_Atomic int ok, bad;
	ng_waitgroup wg;
} many;

typedef struct many_arg {
	many *m;
	int i;
} many_arg;

static void many_g(void *arg)
{
	many_arg *a = arg;
	many *m = a->m;
	ng_cl_range r = cl_range1(1, 0);
	r.offset[0] = (size_t)a->i;
	cl_uint v = (cl_uint)a->i * 3u + 1u;
	ng_cl_arg args[2] = {NG_CL_ARG(m->out), NG_CL_ARG(v)};
	ng_cl_op *op = NULL;
	int rc = ng_cl_launch(m->q, kput, &r, args, 2, NULL, 0, &op);
	if (rc == 0)
		rc = ng_cl_wait(op, NG_FOREVER);
	if (rc == 0 && ng_cl_op_status(op) != CL_COMPLETE)
		rc = -1000;
	if (rc == 0)
		atomic_fetch_add(&m->ok, 1);
	else {
		fprintf(stderr, "goroutine %d: %d\n", a->i, rc);
		atomic_fetch_add(&m->bad, 1);
	}
	ng_cl_op_release(op);
	ng_waitgroup_done(&m->wg);
}

static void test_many(int mode)
{
	const int n = NG_TEST_SCALE(10000, 2000);
	many m = {.q = cl_queue(dev, mode), .wg = NG_WAITGROUP_INIT};
	m.out = cl_buf(dev, (size_t)n * sizeof(cl_uint));
	many_arg *args = calloc((size_t)n, sizeof *args);
	cl_uint *host = calloc((size_t)n, sizeof(cl_uint));
	CHECK(args != NULL && host != NULL);
	ng_cl_stats s0, s1;
	/* earlier ops' completers may still be finishing their counts */
	cl_expect_quiescent("before many");
	CHECK_EQ(ng_cl_stats_read(&s0), 0);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_waitgroup_add(&m.wg, n), 0);
	for (int i = 0; i < n; i++) {
		args[i] = (many_arg){&m, i};
		CHECK_EQ(ng_go(many_g, &args[i]), 0);
	}
	CHECK_EQ(ng_waitgroup_wait(&m.wg), 0);
	int64_t dt = ng_now() - t0;
	CHECK_EQ(atomic_load(&m.bad), 0);
	CHECK_EQ(atomic_load(&m.ok), n);
	ng_cl_op *r;
	CHECK_EQ(ng_cl_read(m.q, m.out, 0, (size_t)n * sizeof(cl_uint), host, NULL, 0, &r), 0);
	CHECK_EQ(ng_cl_wait(r, NG_FOREVER), 0);
	ng_cl_op_release(r);
	for (int i = 0; i < n; i++)
		if (host[i] != (cl_uint)i * 3u + 1u) {
			fprintf(stderr, "slot %d = %u\n", i, host[i]);
			CHECK(0);
		}
	CHECK_EQ(ng_cl_queue_release(m.q), 0);
	cl_expect_quiescent(mode == NG_CL_COMPLETION_POLL ? "many/poll" : "many/callback");
	CHECK_EQ(ng_cl_stats_read(&s1), 0);
	uint64_t done = s1.completed - s0.completed;
	CHECK_EQ(s1.ops - s0.ops, (uint64_t)n + 1);
	CHECK_EQ(done, (uint64_t)n + 1);
	CHECK_EQ(s1.failed - s0.failed, 0);
	if (mode == NG_CL_COMPLETION_POLL) {
		CHECK_EQ(s1.by_poll - s0.by_poll, done);
	} else {
		CHECK_EQ(s1.by_poll - s0.by_poll, 0);
		CHECK_EQ((s1.by_callback - s0.by_callback) + (s1.by_watchdog - s0.by_watchdog),
		         done);
		CHECK(s1.by_callback - s0.by_callback > done / 2);
	}
	printf("many (%s): %d goroutines launched and awaited in %.0f ms; by callback %llu, "
	       "poll %llu, watchdog %llu, parks %llu\n",
	       mode == NG_CL_COMPLETION_POLL ? "poll" : "callback", n, dt / 1e6,
	       (unsigned long long)(s1.by_callback - s0.by_callback),
	       (unsigned long long)(s1.by_poll - s0.by_poll),
	       (unsigned long long)(s1.by_watchdog - s0.by_watchdog),
	       (unsigned long long)(s1.parks - s0.parks));
	clReleaseMemObject(m.out);
	free(args);
	free(host);
}

/* ---- 5 ---- */

static void test_select(ng_cl_queue *q, cl_uint long_iters)
{
	ng_chan *plain = ng_chan_make(sizeof(int), 1);
	CHECK(plain != NULL);
	int64_t tval;
	int v = 0;

	/* a long kernel against a short timer: the timer */
	ng_cl_op *op = cl_spin_launch(q, kspin, scratch, long_iters);
	ng_chan *t = ng_after(20 * MS);
	CHECK(t != NULL);
	ng_case cs[3] = {NG_RECV_CASE(ng_cl_done_chan(op), NULL), NG_RECV_CASE(t, &tval),
	                 NG_RECV_CASE(plain, &v)};
	CHECK(cs[0].chan != NULL);
	CHECK_EQ(ng_cl_done_chan(op), cs[0].chan); /* one channel per op */
	int64_t t0 = ng_now();
	CHECK_EQ(ng_select(cs, 3, NG_FOREVER), 1);
	CHECK_EQ(cs[1].rc, 0);
	CHECK(ng_now() - t0 >= 19 * MS);
	CHECK(!ng_cl_op_done(op));
	ng_chan_release(t);
	/* ... and the done channel fires (closed) once the kernel is done */
	ng_case c1[1] = {NG_RECV_CASE(ng_cl_done_chan(op), NULL)};
	CHECK_EQ(ng_select(c1, 1, NG_FOREVER), 0);
	CHECK_EQ(c1[0].rc, -EPIPE);
	CHECK(ng_cl_op_done(op));
	CHECK_EQ(ng_cl_op_status(op), CL_COMPLETE);
	CHECK_EQ(ng_cl_wait(op, 0), 0);
	ng_cl_op_release(op);

	/* a short kernel against a long timer: the kernel, long before it */
	op = cl_spin_launch(q, kspin, scratch, 1000);
	t = ng_after(5000 * MS);
	cs[0] = NG_RECV_CASE(ng_cl_done_chan(op), NULL);
	cs[1] = NG_RECV_CASE(t, &tval);
	cs[2] = NG_RECV_CASE(plain, &v);
	t0 = ng_now();
	CHECK_EQ(ng_select(cs, 3, NG_FOREVER), 0);
	CHECK_EQ(cs[0].rc, -EPIPE);
	CHECK(ng_now() - t0 < 1000 * MS + CL_SLACK);
	CHECK(ng_cl_op_done(op));
	CHECK_EQ(ng_cl_op_status(op), CL_COMPLETE);
	ng_cl_op_release(op);
	ng_chan_release(t);

	/* a channel holding a value, against a long kernel and a long timer */
	op = cl_spin_launch(q, kspin, scratch, long_iters);
	t = ng_after(5000 * MS);
	int x = 42;
	CHECK_EQ(ng_chan_send(plain, &x), 0);
	cs[0] = NG_RECV_CASE(ng_cl_done_chan(op), NULL);
	cs[1] = NG_RECV_CASE(t, &tval);
	cs[2] = NG_RECV_CASE(plain, &v);
	CHECK_EQ(ng_select(cs, 3, NG_FOREVER), 2);
	CHECK_EQ(cs[2].rc, 0);
	CHECK_EQ(v, 42);
	CHECK(!ng_cl_op_done(op));
	/* the done channel of a finished op is ready at once */
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
	cs[2] = NG_RECV_CASE(plain, &v);
	CHECK_EQ(ng_select(cs, 3, 0), 0);
	ng_cl_op_release(op);
	/* an op done before its done channel was asked for */
	op = cl_spin_launch(q, kspin, scratch, 10);
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
	c1[0] = NG_RECV_CASE(ng_cl_done_chan(op), NULL);
	CHECK_EQ(ng_select(c1, 1, 0), 0);
	ng_cl_op_release(op);
	ng_chan_release(t);
	ng_chan_release(plain);
}

/* ---- 8 ---- */

static void test_deadlines(ng_cl_queue *q, cl_uint iters300)
{
	ng_cl_op *op = cl_spin_launch(q, kspin, scratch, iters300);
	CHECK_EQ(ng_cl_wait(op, 0), -EAGAIN);
	CHECK(!ng_cl_op_done(op));
	cl_int st = ng_cl_op_status(op);
	CHECK(st > CL_COMPLETE); /* queued, submitted or running */
	int64_t t0 = ng_now();
	CHECK_EQ(ng_cl_wait(op, t0 + 20 * MS), -ETIMEDOUT);
	int64_t dt = ng_now() - t0;
	CHECK(dt >= 20 * MS);
	CHECK(dt < 20 * MS + CL_SLACK);
	CHECK(!ng_cl_op_done(op));
	CHECK_EQ(ng_cl_wait(op, 0), -EAGAIN);
	ng_cl_op *two[2] = {op, NULL};
	CHECK_EQ(ng_cl_wait_all(two, 2, ng_now() + 5 * MS), -ETIMEDOUT);
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
	if (ng_now() - t0 < 40 * MS)
		fprintf(stderr, "deadlines: the %u-iteration kernel took %.1f ms\n", iters300,
		        (ng_now() - t0) / 1e6);
	CHECK(ng_now() - t0 >= 40 * MS); /* it was a long kernel (~300 ms) */
	CHECK_EQ(ng_cl_wait(op, 0), 0);
	CHECK_EQ(ng_cl_wait(op, ng_now() + MS), 0);
	CHECK_EQ(ng_cl_wait_all(two, 2, 0), 0);
	ng_cl_op_release(op);
}

/* ---- 11 ---- */

typedef struct foreign {
	ng_cl_queue *q;
	ng_cl_op *shared; /* a goroutine's long op, waited on here too */
	ng_chan *done;    /* the thread's report: 0 ok, else the failing line */
	int64_t waited_ns;
} foreign;

static void foreign_send(foreign *f, int line)
{
	CHECK_EQ(ng_chan_send(f->done, &line), 0);
}

static void *foreign_submit(void *arg)
{
	foreign *f = arg;
	CHECK_EQ(ng_self_proc(), -1);
	CHECK_EQ(ng_id(), 0);
	enum { n = 4096 };
	static cl_uint host[n];
	cl_mem b = cl_buf(dev, n * sizeof(cl_uint));
	for (int i = 0; i < n; i++)
		host[i] = 0xdead;
	ng_cl_op *w, *l, *r;
	CHECK_EQ(ng_cl_write(f->q, b, 0, sizeof host, host, NULL, 0, &w), 0);
	cl_uint v = 77;
	ng_cl_arg args[2] = {NG_CL_ARG(b), NG_CL_ARG(v)};
	ng_cl_range rg = cl_range1(n, 0);
	CHECK_EQ(ng_cl_launch(f->q, kput, &rg, args, 2, &w, 1, &l), 0);
	CHECK_EQ(ng_cl_read(f->q, b, 0, sizeof host, host, &l, 1, &r), 0);
	CHECK_EQ(ng_cl_wait(r, NG_FOREVER), 0);
	CHECK_EQ(ng_cl_wait(w, ng_now() + 1000 * MS + CL_SLACK), 0);
	CHECK_EQ(ng_cl_wait(l, ng_now() + 1000 * MS + CL_SLACK), 0);
	for (int i = 0; i < n; i++)
		CHECK_EQ(host[i], 77);
	ng_cl_op_release(w);
	ng_cl_op_release(l);
	ng_cl_op_release(r);
	clReleaseMemObject(b);
	foreign_send(f, 0);
	return NULL;
}

static void *foreign_wait_shared(void *arg)
{
	foreign *f = arg;
	int64_t t0 = ng_now();
	CHECK_EQ(ng_cl_wait(f->shared, NG_FOREVER), 0);
	f->waited_ns = ng_now() - t0;
	CHECK(ng_cl_op_done(f->shared));
	/* the done channel from a foreign thread: closed, so -EPIPE at once */
	CHECK_EQ(ng_chan_recv(ng_cl_done_chan(f->shared), NULL), -EPIPE);
	foreign_send(f, 0);
	return NULL;
}

static void test_foreign(ng_cl_queue *q, cl_uint iters100)
{
	foreign f = {.q = q, .done = ng_chan_make(sizeof(int), 2)};
	CHECK(f.done != NULL);
	pthread_t t1, t2;
	CHECK_EQ(pthread_create(&t1, NULL, foreign_submit, &f), 0);
	int rc = -1;
	CHECK_EQ(ng_chan_recv(f.done, &rc), 0);
	CHECK_EQ(rc, 0);
	CHECK_EQ(pthread_join(t1, NULL), 0);

	f.shared = cl_spin_launch(q, kspin, scratch, iters100);
	CHECK_EQ(pthread_create(&t2, NULL, foreign_wait_shared, &f), 0);
	CHECK_EQ(ng_cl_wait(f.shared, NG_FOREVER), 0);
	CHECK_EQ(ng_chan_recv(f.done, &rc), 0);
	CHECK_EQ(rc, 0);
	CHECK_EQ(pthread_join(t2, NULL), 0);
	ng_cl_op_release(f.shared);
	ng_chan_release(f.done);
}

/* ---- 12 (child process, 1 P) ---- */

typedef struct pp {
	ng_chan *ping, *pong;
	_Atomic int stop;
	_Atomic long rounds;
	ng_waitgroup wg; /* both gone before main returns */
} pp;

static void pinger(void *arg)
{
	pp *p = arg;
	int x = 0;
	while (!atomic_load(&p->stop)) {
		if (ng_chan_send(p->ping, &x) != 0 || ng_chan_recv(p->pong, &x) != 0)
			break;
		atomic_fetch_add(&p->rounds, 1);
	}
	ng_chan_close(p->ping);
	ng_waitgroup_done(&p->wg);
}

static void ponger(void *arg)
{
	pp *p = arg;
	int x;
	while (ng_chan_recv(p->ping, &x) == 0) {
		x++;
		if (ng_chan_send(p->pong, &x) != 0)
			break;
	}
	ng_waitgroup_done(&p->wg);
}

static int one_p_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 1);
	setup();
	ng_cl_queue *q = cl_queue(dev, NG_CL_COMPLETION_AUTO);
	cl_uint iters = cl_spin_calibrate(q, kspin, scratch, 200 * MS);
	pp p = {.ping = ng_chan_make(sizeof(int), 0),
	        .pong = ng_chan_make(sizeof(int), 0),
	        .wg = NG_WAITGROUP_INIT};
	CHECK(p.ping != NULL && p.pong != NULL);
	CHECK_EQ(ng_waitgroup_add(&p.wg, 2), 0);
	CHECK_EQ(ng_go(pinger, &p), 0);
	CHECK_EQ(ng_go(ponger, &p), 0);
	ng_sleep(5 * MS);
	ng_cl_stats s0, s1;
	CHECK_EQ(ng_cl_stats_read(&s0), 0);
	ng_cl_op *op = cl_spin_launch(q, kspin, scratch, iters);
	long r0 = atomic_load(&p.rounds);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
	int64_t dt = ng_now() - t0;
	long during = atomic_load(&p.rounds) - r0;
	CHECK_EQ(ng_cl_stats_read(&s1), 0);
	atomic_store(&p.stop, 1);
	CHECK_EQ(ng_waitgroup_wait(&p.wg), 0); /* p is on this stack */
	ng_chan_release(p.ping);
	ng_chan_release(p.pong);
	ng_cl_op_release(op);
	int mode = ng_cl_queue_completion(q);
	CHECK_EQ(ng_cl_queue_release(q), 0);
	printf("1 P: the wait took %.0f ms, %ld ping-pong rounds meanwhile (%s mode)\n", dt / 1e6,
	       during, mode == NG_CL_COMPLETION_POLL ? "poll" : "callback");
	CHECK(dt >= 50 * MS);       /* ~200 ms, unless the calibration was far off */
	CHECK(s1.parks > s0.parks); /* the wait parked */
	/* thousands on a free P; a blocked P would give none */
	CHECK(during >= 200);
	teardown();
	return 0;
}

static int one_p_child(void *arg)
{
	ng_config cfg = {0};
	cfg.procs = 1;
	return ng_run(&cfg, one_p_main, arg);
}

static int main_g(void *arg)
{
	(void)arg;
	setup();
	ng_cl_queue *qc = cl_queue(dev, NG_CL_COMPLETION_CALLBACK);
	ng_cl_queue *qp = cl_queue(dev, NG_CL_COMPLETION_POLL);
	cl_uint it100 = cl_spin_calibrate(qc, kspin, scratch, 100 * MS);

	int64_t t0 = ng_now();
	test_many(NG_CL_COMPLETION_CALLBACK);
	int64_t t1 = ng_now();
	test_many(NG_CL_COMPLETION_POLL);
	int64_t t2 = ng_now();
	test_select(qc, it100 * 2);
	test_select(qp, it100 * 2);
	test_deadlines(qc, it100 * 3);
	test_deadlines(qp, it100 * 3);
	int64_t t3 = ng_now();
	test_foreign(qc, it100);
	test_foreign(qp, it100);
	CHECK_EQ(ng_cl_queue_release(qc), 0);
	CHECK_EQ(ng_cl_queue_release(qp), 0);
	teardown();
	cl_expect_quiescent("ops");
	printf("test_cl_ops: many %.0f + %.0f ms, select/deadlines %.0f ms, foreign %.0f ms\n",
	       (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (ng_now() - t3) / 1e6);
	return 0;
}

int main(void)
{
	cl_hang_dump_after(100); /* ctest: 120 s, 480 s under the sanitizers */
	/* the 1-P run first, in a child forked before anything started */
	static ng_child c;
	ng_child_run(&c, one_p_child, NULL, NULL, NULL, 60);
	CHECK_CHILD(&c, "1-P wait", ng_child_exited_with(&c, 0));
	fputs(c.out, stdout);
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("test_cl_ops: ok\n");
	return 0;
}
