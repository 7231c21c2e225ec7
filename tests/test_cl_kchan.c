/* Offload, the kernel channel bridge (ng_cl_kernel_chan).
 *
 *  9. 500 goroutines (200 under TSan) each send 8 launch requests, with
 *     their own argument values and reply channel, on a channel of depth 16,
 *     then take their 8 replies: each has status 0, cl_status CL_COMPLETE
 *     and one of the goroutine's tags, each tag exactly once.  Every slot
 *     the kernels wrote is checked on the host.  A sampler goroutine reads
 *     ng_cl_stats while it runs: commands in flight never exceed the depth
 *     (+1: a completion being counted), and exceed 1 (pipelined).
 *     A request with a bad argument count is answered -EINVAL with its tag;
 *     a request without a reply channel still runs.  ng_cl_kernel_chan_
 *     release returns 0 with requests still queued, and every one of them
 *     was answered by then; closing the channel first is fine too; on both
 *     a CALLBACK and a POLL queue.  Afterwards nothing is alive. */
#include "cl_util.h"

#define PER   8
#define DEPTH 16

static const char *src = "__kernel void kc(__global uint *out, uint idx, uint val) {\n"
                         "  out[idx + get_global_id(0)] = val * 7u + idx;\n"
                         "}\n";

static ng_cl_device *dev;
static cl_kernel kc;

typedef struct shared {
	ng_chan *ch;
	cl_mem out;
	int base; /* first slot of this run */
	_Atomic int bad;
	ng_waitgroup wg;
} shared;

typedef struct sender {
	shared *s;
	int id;
} sender;

static void sender_g(void *arg)
{
	sender *me = arg;
	shared *s = me->s;
	ng_chan *reply = ng_chan_make(sizeof(ng_cl_launch_result), PER);
	cl_uint idx[PER], val[PER];
	int tags[PER], seen[PER] = {0};
	CHECK(reply != NULL);
	for (int r = 0; r < PER; r++) {
		idx[r] = (cl_uint)(s->base + me->id * PER + r);
		val[r] = (cl_uint)(me->id * 1000 + r);
		ng_cl_launch_req rq = {.range = cl_range1(1, 0), .nargs = 3, .reply = reply};
		rq.args[0] = (ng_cl_arg)NG_CL_ARG(s->out);
		rq.args[1] = (ng_cl_arg)NG_CL_ARG(idx[r]);
		rq.args[2] = (ng_cl_arg)NG_CL_ARG(val[r]);
		rq.tag = &tags[r];
		CHECK_EQ(ng_chan_send(s->ch, &rq), 0);
	}
	for (int r = 0; r < PER; r++) {
		ng_cl_launch_result res;
		CHECK_EQ(ng_chan_recv(reply, &res), 0);
		int *t = res.tag;
		if (res.status != 0 || res.cl_status != CL_COMPLETE || t < tags ||
		    t >= tags + PER || seen[t - tags]++) {
			fprintf(stderr, "sender %d: status %d cl_status %d tag %p\n", me->id,
			        res.status, (int)res.cl_status, res.tag);
			atomic_fetch_add(&s->bad, 1);
		}
	}
	ng_chan_release(reply);
	ng_waitgroup_done(&s->wg);
}

typedef struct sampler {
	_Atomic int stop;
	int64_t max_inflight;
	long samples;
	ng_chan *done;
} sampler;

static void sampler_g(void *arg)
{
	sampler *sm = arg;
	while (!atomic_load(&sm->stop)) {
		ng_cl_stats st;
		CHECK_EQ(ng_cl_stats_read(&st), 0);
		if (st.inflight > sm->max_inflight)
			sm->max_inflight = st.inflight;
		sm->samples++;
		ng_yield();
	}
	ng_chan_close(sm->done);
}

static void run(int mode)
{
	const int nsend = NG_TEST_SCALE(500, 200);
	const int nslots = nsend * PER + 64;
	ng_cl_queue *q = cl_queue(dev, mode);
	shared s = {.wg = NG_WAITGROUP_INIT, .base = 0};
	s.out = cl_buf(dev, (size_t)nslots * sizeof(cl_uint));
	cl_expect_quiescent("before kchan");
	s.ch = ng_cl_kernel_chan(q, kc, DEPTH);
	CHECK(s.ch != NULL);
	sampler sm = {.done = ng_chan_make(0, 0)};
	CHECK_EQ(ng_go(sampler_g, &sm), 0);
	sender *snd = calloc((size_t)nsend, sizeof *snd);
	CHECK(snd != NULL);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_waitgroup_add(&s.wg, nsend), 0);
	for (int i = 0; i < nsend; i++) {
		snd[i] = (sender){&s, i};
		CHECK_EQ(ng_go(sender_g, &snd[i]), 0);
	}
	CHECK_EQ(ng_waitgroup_wait(&s.wg), 0);
	int64_t dt = ng_now() - t0;
	atomic_store(&sm.stop, 1);
	CHECK_EQ(ng_chan_recv(sm.done, NULL), -EPIPE);
	ng_chan_release(sm.done);
	CHECK_EQ(atomic_load(&s.bad), 0);
	CHECK(sm.samples > 0);
	/* The dispatcher keeps DEPTH commands in flight; the global count
	 * also holds, for a moment, the one whose completer has woken the
	 * dispatcher but not yet done its last step (op.c decrements
	 * inflight after the wakes, for the deadlock detector), and the
	 * dispatcher may launch the next one in that moment: DEPTH + 1 was
	 * seen (once in three runs), more never. */
	if (sm.max_inflight > DEPTH + 1)
		fprintf(stderr, "max inflight %lld\n", (long long)sm.max_inflight);
	CHECK(sm.max_inflight <= DEPTH + 1);
	CHECK(sm.max_inflight >= 2); /* and it did pipeline */

	/* a bad request: answered -EINVAL, tag kept; one with no reply runs */
	ng_chan *reply = ng_chan_make(sizeof(ng_cl_launch_result), 64);
	int tag;
	ng_cl_launch_req bad = {
	    .range = cl_range1(1, 0), .nargs = NG_CL_MAX_ARGS + 1, .reply = reply, .tag = &tag};
	CHECK_EQ(ng_chan_send(s.ch, &bad), 0);
	ng_cl_launch_result res;
	CHECK_EQ(ng_chan_recv(reply, &res), 0);
	CHECK_EQ(res.status, -EINVAL);
	CHECK(res.tag == &tag);
	bad.nargs = -1;
	CHECK_EQ(ng_chan_send(s.ch, &bad), 0);
	CHECK_EQ(ng_chan_recv(reply, &res), 0);
	CHECK_EQ(res.status, -EINVAL);
	cl_uint lidx = (cl_uint)(nsend * PER), lval = 99;
	ng_cl_launch_req noreply = {.range = cl_range1(1, 0), .nargs = 3};
	noreply.args[0] = (ng_cl_arg)NG_CL_ARG(s.out);
	noreply.args[1] = (ng_cl_arg)NG_CL_ARG(lidx);
	noreply.args[2] = (ng_cl_arg)NG_CL_ARG(lval);
	CHECK_EQ(ng_chan_send(s.ch, &noreply), 0);

	/* requests still queued at the release: all answered by its return */
	cl_uint qidx[32], qval[32];
	for (int i = 0; i < 32; i++) {
		qidx[i] = (cl_uint)(nsend * PER + 1 + i);
		qval[i] = (cl_uint)(5000 + i);
		ng_cl_launch_req rq = {.range = cl_range1(1, 0), .nargs = 3, .reply = reply};
		rq.args[0] = (ng_cl_arg)NG_CL_ARG(s.out);
		rq.args[1] = (ng_cl_arg)NG_CL_ARG(qidx[i]);
		rq.args[2] = (ng_cl_arg)NG_CL_ARG(qval[i]);
		rq.tag = &qidx[i];
		CHECK_EQ(ng_chan_send(s.ch, &rq), 0);
	}
	CHECK_EQ(ng_cl_kernel_chan_release(s.ch), 0);
	CHECK_EQ(ng_chan_len(reply), 32);
	for (int i = 0; i < 32; i++) {
		CHECK_EQ(ng_chan_recv(reply, &res), 0);
		CHECK_EQ(res.status, 0);
		CHECK(res.tag == &qidx[i]); /* in order */
	}
	ng_chan_release(reply);

	/* every slot */
	cl_uint *host = calloc((size_t)nslots, sizeof(cl_uint));
	CHECK(host != NULL);
	ng_cl_op *rd;
	CHECK_EQ(ng_cl_read(q, s.out, 0, (size_t)nslots * sizeof(cl_uint), host, NULL, 0, &rd), 0);
	CHECK_EQ(ng_cl_wait(rd, NG_FOREVER), 0);
	ng_cl_op_release(rd);
	for (int id = 0; id < nsend; id++)
		for (int r = 0; r < PER; r++) {
			cl_uint i = (cl_uint)(id * PER + r);
			cl_uint want = (cl_uint)(id * 1000 + r) * 7u + i;
			if (host[i] != want) {
				fprintf(stderr, "slot %u = %u, want %u\n", i, host[i], want);
				CHECK(0);
			}
		}
	CHECK_EQ(host[lidx], 99u * 7u + lidx);
	for (int i = 0; i < 32; i++)
		CHECK_EQ(host[qidx[i]], qval[i] * 7u + qidx[i]);

	/* closed by its owner first, then released */
	ng_chan *c2 = ng_cl_kernel_chan(q, kc, 2);
	CHECK(c2 != NULL);
	CHECK_EQ(ng_chan_close(c2), 0);
	CHECK_EQ(ng_cl_kernel_chan_release(c2), 0);

	CHECK_EQ(ng_cl_queue_release(q), 0);
	clReleaseMemObject(s.out);
	cl_expect_quiescent("kchan");
	printf("kchan (%s): %d requests from %d goroutines in %.0f ms, max %lld in flight "
	       "(depth %d, %ld samples)\n",
	       mode == NG_CL_COMPLETION_POLL ? "poll" : "callback", nsend * PER, nsend, dt / 1e6,
	       (long long)sm.max_inflight, DEPTH, sm.samples);
	free(host);
	free(snd);
}

static int main_g(void *arg)
{
	(void)arg;
	dev = cl_dev();
	cl_program p = cl_build(dev, src);
	kc = cl_kernel_of(p, "kc");
	run(NG_CL_COMPLETION_CALLBACK);
	run(NG_CL_COMPLETION_POLL);
	clReleaseKernel(kc);
	clReleaseProgram(p);
	return 0;
}

int main(void)
{
	cl_hang_dump_after(100); /* ctest: 120 s, 480 s under the sanitizers */
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("test_cl_kchan: ok\n");
	return 0;
}
