/* bench/bench_chan.c — channels, select, mutex and waitgroup, ported from
 * Go 1.19's benchmarks (src/runtime/chan_test.go, src/sync/mutex_test.go,
 * src/sync/waitgroup_test.go) so that the ns/op of both are the same
 * quantity:
 *
 *   ChanSync             two goroutines (fixed, as in Go) ping-pong on an
 *                        unbuffered channel; batches of 1000 (CallsPerSched)
 *                        pulled from an atomic counter
 *   ChanProdCons0        one producer and one consumer per P on one
 *                        unbuffered channel; ns per message
 *   ChanProdCons10       the same with a buffer of 10
 *   ChanProdCons100      the same with a buffer of 100
 *   ChanNonblocking      RunParallel: non-blocking receive on an empty
 *                        unbuffered channel (Go's single-case select with
 *                        default compiles to selectnbrecv: ng_chan_try_recv)
 *   SelectUncontended    RunParallel: each goroutine selects between its own
 *                        two cap-1 channels and refills the other
 *   SelectProdCons       producer/consumer per P through a cap-128 channel,
 *                        every operation a 3-case select (the channel, an
 *                        hour-long ng_after, a never-closed channel), 100
 *                        iterations of local work per message
 *   ChanContended        RunParallel: 100 sends then 100 receives per op on
 *                        one channel of capacity 100 * procs
 *   MakeChan/Byte        make(chan byte, 8): ng_chan_make(1, 8)
 *   MakeChan/Struct/0    make(chan struct{}, 8): ng_chan_make(0, 8)
 *                        (both also release the channel: Go's GC reclaims
 *                        it instead, so its cost is amortised into Go's op)
 *   MutexUncontended     RunParallel: each goroutine locks and unlocks its
 *                        own padded mutex
 *   WaitGroupUncontended RunParallel: Add(1), Done, Wait on a private
 *                        padded waitgroup
 *
 * RunParallel is emulated as Go does it: one goroutine per P, each pulling
 * batches of "grain" iterations (about 100 µs of the previous run, at most
 * 10^4) from a shared atomic counter, like testing.PB.Next.  The timed region
 * is what Go's timer covers: the whole benchmark function, goroutine spawns
 * and the final waits included.  Go's figures come from the same run
 * (`go test -bench` in packages runtime and sync); both sides report the min
 * over --reps runs. */
#include "bench.h"
#include "peer.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Set by any goroutine whose operations returned something unexpected: the
 * benchmark then fails rather than reporting the speed of an error path. */
static atomic_int bench_failed;

static void fail(const char *what, int rc)
{
	if (atomic_exchange(&bench_failed, 1) == 0)
		fprintf(stderr, "bench_chan: %s failed (%d)\n", what, rc);
}

/* Go's `foo *= 2; foo /= 2` local work.  The empty asm keeps the compiler
 * from folding the pair to nothing (signed overflow being undefined in C, it
 * may): both operations are executed each iteration, as Go executes them. */
static inline int64_t model_work(int64_t foo, int iters)
{
	for (int i = 0; i < iters; i++) {
		foo *= 2;
		__asm__("" : "+r"(foo));
		foo /= 2;
		__asm__("" : "+r"(foo));
	}
	return foo;
}

/* ---- RunParallel ---- */

typedef struct pb {
	_Atomic uint64_t *global_n;
	uint64_t grain, bn, cache;
} pb;

/* testing.PB.Next */
static inline bool pb_next(pb *p)
{
	if (p->cache == 0) {
		uint64_t n = atomic_fetch_add(p->global_n, p->grain) + p->grain;
		if (n <= p->bn)
			p->cache = p->grain;
		else if (n < p->bn + p->grain)
			p->cache = p->bn + p->grain - n;
		else
			return false;
	}
	p->cache--;
	return true;
}

typedef void (*par_body)(pb *p, void *arg);

typedef struct par_run {
	par_body body;
	void *arg;
	_Atomic uint64_t n;
	uint64_t grain, bn;
	ng_waitgroup wg;
} par_run;

/* b.previousN and b.previousDuration: reset per benchmark. */
static int64_t prev_n, prev_ns;

static void par_worker(void *arg)
{
	par_run *r = arg;
	/* each goroutine's PB is its own (Go allocates one per goroutine) */
	pb p = {&r->n, r->grain, r->bn, 0};
	r->body(&p, r->arg);
	ng_waitgroup_done(&r->wg);
}

static int64_t run_parallel(int64_t n, par_body body, void *arg)
{
	int64_t t0 = bench_now();
	par_run r = {.body = body, .arg = arg, .bn = (uint64_t)n, .wg = NG_WAITGROUP_INIT};
	atomic_init(&r.n, 0);
	uint64_t grain = 0;
	if (prev_n > 0 && prev_ns > 0)
		grain = (uint64_t)(100000.0 * (double)prev_n / (double)prev_ns);
	if (grain < 1)
		grain = 1;
	if (grain > 10000)
		grain = 10000;
	r.grain = grain;
	int procs = ng_procs();
	ng_waitgroup_add(&r.wg, procs);
	for (int i = 0; i < procs; i++) {
		int rc = ng_go(par_worker, &r);
		if (rc != 0) {
			fail("ng_go", rc);
			ng_waitgroup_add(&r.wg, -(procs - i));
			break;
		}
	}
	ng_waitgroup_wait(&r.wg);
	int64_t t = bench_now() - t0;
	if (atomic_load(&r.n) <= (uint64_t)n && !atomic_load(&bench_failed))
		fail("RunParallel: body exited early", 0);
	prev_n = n;
	prev_ns = t;
	return t;
}

/* ---- ChanSync ---- */

enum { CALLS_PER_SCHED = 1000 };

typedef struct sync_ctx {
	ng_chan *c, *myc;
	_Atomic int32_t n;
} sync_ctx;

static void chan_sync_worker(void *arg)
{
	sync_ctx *s = arg;
	int64_t v = 0;
	int bad = 0;
	for (;;) {
		int32_t i = atomic_fetch_sub(&s->n, 1) - 1;
		if (i < 0)
			break;
		/* localWork(0) is empty: nothing between the operations */
		for (int g = 0; g < CALLS_PER_SCHED; g++) {
			if (i % 2 == 0) {
				bad |= ng_chan_recv(s->myc, &v);
				bad |= ng_chan_send(s->myc, &v);
			} else {
				bad |= ng_chan_send(s->myc, &v);
				bad |= ng_chan_recv(s->myc, &v);
			}
		}
	}
	if (bad)
		fail("ChanSync send/recv", bad);
	bool t = true;
	ng_chan_send(s->c, &t);
}

static int64_t bench_chan_sync(int64_t n, void *vctx)
{
	(void)vctx;
	int64_t t0 = bench_now();
	const int procs = 2; /* Go fixes 2, whatever GOMAXPROCS is */
	sync_ctx s;
	atomic_init(&s.n, (int32_t)(n / CALLS_PER_SCHED / procs * procs));
	s.c = ng_chan_make(sizeof(bool), (size_t)procs);
	s.myc = ng_chan_make(sizeof(int64_t), 0);
	if (s.c == NULL || s.myc == NULL) {
		fail("ng_chan_make", -errno);
		return -1;
	}
	for (int p = 0; p < procs; p++)
		ng_go(chan_sync_worker, &s);
	bool ok;
	for (int p = 0; p < procs; p++)
		ng_chan_recv(s.c, &ok);
	int64_t t = bench_now() - t0;
	ng_chan_release(s.c);
	ng_chan_release(s.myc);
	return atomic_load(&bench_failed) ? -1 : t;
}

/* ---- ChanProdCons ---- */

typedef struct prodcons_ctx {
	ng_chan *c, *myc;
	_Atomic int32_t n;
	int local_work;
	_Atomic int64_t received; /* checked after the clock stops */
} prodcons_ctx;

static void producer(void *arg)
{
	prodcons_ctx *pc = arg;
	int64_t foo = 0, one = 1, zero = 0;
	int bad = 0;
	while (atomic_fetch_sub(&pc->n, 1) - 1 >= 0) {
		for (int g = 0; g < CALLS_PER_SCHED; g++) {
			foo = model_work(foo, pc->local_work);
			bad |= ng_chan_send(pc->myc, &one);
		}
	}
	bad |= ng_chan_send(pc->myc, &zero);
	if (bad)
		fail("ChanProdCons send", bad);
	bool r = foo == 42;
	ng_chan_send(pc->c, &r);
}

static void consumer(void *arg)
{
	prodcons_ctx *pc = arg;
	int64_t foo = 0, got = 0;
	for (;;) {
		int64_t v = 0;
		int rc = ng_chan_recv(pc->myc, &v);
		if (rc != 0) {
			fail("ChanProdCons recv", rc);
			break;
		}
		if (v == 0)
			break;
		got++;
		foo = model_work(foo, pc->local_work);
	}
	atomic_fetch_add(&pc->received, got);
	bool r = foo == 42;
	ng_chan_send(pc->c, &r);
}

typedef struct prodcons_cfg {
	size_t chan_size;
	int local_work;
} prodcons_cfg;

static int64_t bench_prodcons(int64_t n, void *vctx)
{
	const prodcons_cfg *cfg = vctx;
	int64_t t0 = bench_now();
	int procs = ng_procs();
	int32_t batches = (int32_t)(n / CALLS_PER_SCHED);
	prodcons_ctx pc = {.local_work = cfg->local_work};
	atomic_init(&pc.n, batches);
	atomic_init(&pc.received, 0);
	pc.c = ng_chan_make(sizeof(bool), 2 * (size_t)procs);
	pc.myc = ng_chan_make(sizeof(int64_t), cfg->chan_size);
	if (pc.c == NULL || pc.myc == NULL) {
		fail("ng_chan_make", -errno);
		return -1;
	}
	for (int p = 0; p < procs; p++) {
		ng_go(producer, &pc);
		ng_go(consumer, &pc);
	}
	bool ok;
	for (int p = 0; p < procs; p++) {
		ng_chan_recv(pc.c, &ok);
		ng_chan_recv(pc.c, &ok);
	}
	int64_t t = bench_now() - t0;
	ng_chan_release(pc.c);
	ng_chan_release(pc.myc);
	if (atomic_load(&pc.received) != (int64_t)batches * CALLS_PER_SCHED)
		fail("ChanProdCons message count", 0);
	return atomic_load(&bench_failed) ? -1 : t;
}

/* ---- SelectProdCons ---- */

static const int64_t HOUR_NS = 3600LL * 1000000000LL;

typedef struct selpc_ctx {
	ng_chan *c, *myc, *myclose;
	_Atomic int32_t n;
	_Atomic int64_t received;
} selpc_ctx;

static void sel_producer(void *arg)
{
	selpc_ctx *s = arg;
	int64_t foo = 0, one = 1, zero = 0;
	/* intended not to fire during the benchmark, as in Go */
	ng_chan *mytimer = ng_after(HOUR_NS);
	if (mytimer == NULL)
		fail("ng_after", -errno);
	while (atomic_fetch_sub(&s->n, 1) - 1 >= 0) {
		for (int g = 0; g < CALLS_PER_SCHED; g++) {
			foo = model_work(foo, 100);
			ng_case cs[3] = {NG_SEND_CASE(s->myc, &one), NG_RECV_CASE(mytimer, NULL),
			                 NG_RECV_CASE(s->myclose, NULL)};
			int r = ng_select(cs, 3, NG_FOREVER);
			if (r != 0 || cs[0].rc != 0)
				fail("SelectProdCons send select", r);
		}
	}
	int rc = ng_chan_send(s->myc, &zero);
	if (rc != 0)
		fail("SelectProdCons send", rc);
	ng_chan_release(mytimer);
	bool r = foo == 42;
	ng_chan_send(s->c, &r);
}

static void sel_consumer(void *arg)
{
	selpc_ctx *s = arg;
	int64_t foo = 0, got = 0;
	ng_chan *mytimer = ng_after(HOUR_NS);
	if (mytimer == NULL)
		fail("ng_after", -errno);
	for (;;) {
		int64_t v = 0;
		ng_case cs[3] = {NG_RECV_CASE(s->myc, &v), NG_RECV_CASE(mytimer, NULL),
		                 NG_RECV_CASE(s->myclose, NULL)};
		int r = ng_select(cs, 3, NG_FOREVER);
		if (r != 0 || cs[0].rc != 0) {
			fail("SelectProdCons recv select", r);
			break;
		}
		if (v == 0)
			break;
		got++;
		foo = model_work(foo, 100);
	}
	ng_chan_release(mytimer);
	atomic_fetch_add(&s->received, got);
	bool r = foo == 42;
	ng_chan_send(s->c, &r);
}

static int64_t bench_select_prodcons(int64_t n, void *vctx)
{
	(void)vctx;
	int64_t t0 = bench_now();
	int procs = ng_procs();
	int32_t batches = (int32_t)(n / CALLS_PER_SCHED);
	selpc_ctx s;
	atomic_init(&s.n, batches);
	atomic_init(&s.received, 0);
	s.c = ng_chan_make(sizeof(bool), 2 * (size_t)procs);
	s.myc = ng_chan_make(sizeof(int64_t), 128);
	s.myclose = ng_chan_make(sizeof(bool), 0);
	if (s.c == NULL || s.myc == NULL || s.myclose == NULL) {
		fail("ng_chan_make", -errno);
		return -1;
	}
	for (int p = 0; p < procs; p++) {
		ng_go(sel_producer, &s);
		ng_go(sel_consumer, &s);
	}
	bool ok;
	for (int p = 0; p < procs; p++) {
		ng_chan_recv(s.c, &ok);
		ng_chan_recv(s.c, &ok);
	}
	int64_t t = bench_now() - t0;
	ng_chan_release(s.c);
	ng_chan_release(s.myc);
	ng_chan_release(s.myclose);
	if (atomic_load(&s.received) != (int64_t)batches * CALLS_PER_SCHED)
		fail("SelectProdCons message count", 0);
	return atomic_load(&bench_failed) ? -1 : t;
}

/* ---- RunParallel benchmarks ---- */

static void nonblocking_body(pb *p, void *arg)
{
	ng_chan *myc = arg;
	int bad = 0;
	while (pb_next(p)) {
		int rc = ng_chan_try_recv(myc, NULL);
		bad |= rc != -EAGAIN;
	}
	if (bad)
		fail("ChanNonblocking: try_recv did not say -EAGAIN", 0);
}

static int64_t bench_chan_nonblocking(int64_t n, void *vctx)
{
	(void)vctx;
	int64_t t0 = bench_now();
	ng_chan *myc = ng_chan_make(sizeof(int64_t), 0);
	if (myc == NULL) {
		fail("ng_chan_make", -errno);
		return -1;
	}
	run_parallel(n, nonblocking_body, myc);
	int64_t t = bench_now() - t0;
	ng_chan_release(myc);
	return atomic_load(&bench_failed) ? -1 : t;
}

static void select_uncontended_body(pb *p, void *arg)
{
	(void)arg;
	ng_chan *myc1 = ng_chan_make(sizeof(int64_t), 1);
	ng_chan *myc2 = ng_chan_make(sizeof(int64_t), 1);
	if (myc1 == NULL || myc2 == NULL) {
		fail("ng_chan_make", -errno);
		while (pb_next(p))
			;
		return;
	}
	int64_t zero = 0;
	int bad = ng_chan_send(myc1, &zero);
	while (pb_next(p)) {
		ng_case cs[2] = {NG_RECV_CASE(myc1, NULL), NG_RECV_CASE(myc2, NULL)};
		int r = ng_select(cs, 2, NG_FOREVER);
		if (r == 0)
			bad |= ng_chan_send(myc2, &zero);
		else if (r == 1)
			bad |= ng_chan_send(myc1, &zero);
		else
			bad |= r;
	}
	if (bad)
		fail("SelectUncontended", bad);
	ng_chan_release(myc1);
	ng_chan_release(myc2);
}

static int64_t bench_select_uncontended(int64_t n, void *vctx)
{
	(void)vctx;
	int64_t t = run_parallel(n, select_uncontended_body, NULL);
	return atomic_load(&bench_failed) ? -1 : t;
}

enum { CONTENDED_C = 100 };

static void contended_body(pb *p, void *arg)
{
	ng_chan *myc = arg;
	int64_t v = 0;
	int bad = 0;
	while (pb_next(p)) {
		for (int i = 0; i < CONTENDED_C; i++)
			bad |= ng_chan_send(myc, &v);
		for (int i = 0; i < CONTENDED_C; i++)
			bad |= ng_chan_recv(myc, &v);
	}
	if (bad)
		fail("ChanContended", bad);
}

static int64_t bench_chan_contended(int64_t n, void *vctx)
{
	(void)vctx;
	int64_t t0 = bench_now();
	ng_chan *myc = ng_chan_make(sizeof(int64_t), (size_t)CONTENDED_C * (size_t)ng_procs());
	if (myc == NULL) {
		fail("ng_chan_make", -errno);
		return -1;
	}
	run_parallel(n, contended_body, myc);
	int64_t t = bench_now() - t0;
	ng_chan_release(myc);
	return atomic_load(&bench_failed) ? -1 : t;
}

typedef struct make_cfg {
	size_t elem_size;
} make_cfg;

static int64_t bench_make_chan(int64_t n, void *vctx)
{
	const make_cfg *cfg = vctx;
	int64_t t0 = bench_now();
	ng_chan *x = NULL;
	for (int64_t i = 0; i < n; i++) {
		if (x != NULL)
			ng_chan_release(x);
		x = ng_chan_make(cfg->elem_size, 8);
		if (x == NULL) {
			fail("ng_chan_make", -errno);
			return -1;
		}
	}
	if (x != NULL) {
		ng_chan_close(x);
		ng_chan_release(x);
	}
	return bench_now() - t0;
}

/* Go pads the lock so the per-goroutine locks do not share a cache line. */
typedef struct padded_mutex {
	ng_mutex mu;
	uint8_t pad[128];
} padded_mutex;

static void mutex_uncontended_body(pb *p, void *arg)
{
	(void)arg;
	padded_mutex m = {.mu = NG_MUTEX_INIT};
	int bad = 0;
	while (pb_next(p)) {
		bad |= ng_mutex_lock(&m.mu);
		bad |= ng_mutex_unlock(&m.mu);
	}
	if (bad)
		fail("MutexUncontended", bad);
}

static int64_t bench_mutex_uncontended(int64_t n, void *vctx)
{
	(void)vctx;
	int64_t t = run_parallel(n, mutex_uncontended_body, NULL);
	return atomic_load(&bench_failed) ? -1 : t;
}

typedef struct padded_wg {
	ng_waitgroup wg;
	uint8_t pad[128];
} padded_wg;

static void wg_uncontended_body(pb *p, void *arg)
{
	(void)arg;
	padded_wg w = {.wg = NG_WAITGROUP_INIT};
	int bad = 0;
	while (pb_next(p)) {
		bad |= ng_waitgroup_add(&w.wg, 1);
		bad |= ng_waitgroup_done(&w.wg);
		bad |= ng_waitgroup_wait(&w.wg);
	}
	if (bad)
		fail("WaitGroupUncontended", bad);
}

static int64_t bench_wg_uncontended(int64_t n, void *vctx)
{
	(void)vctx;
	int64_t t = run_parallel(n, wg_uncontended_body, NULL);
	return atomic_load(&bench_failed) ? -1 : t;
}

/* ---- table ---- */

static const prodcons_cfg prodcons0 = {0, 0}, prodcons10 = {10, 0}, prodcons100 = {100, 0};
static const make_cfg make_byte = {1}, make_struct0 = {0};

enum { PKG_RUNTIME, PKG_SYNC, PKG_N };

typedef struct bench_def {
	const char *name;
	bench_fn fn;
	const void *ctx;
	double target; /* ns/op; 0: none beyond "not slower than Go" */
	int pkg;       /* which Go invocation measures the peer */
} bench_def;

static const bench_def benches[] = {
    {"ChanSync", bench_chan_sync, NULL, 40, PKG_RUNTIME},
    {"ChanProdCons0", bench_prodcons, &prodcons0, 90, PKG_RUNTIME},
    {"ChanProdCons10", bench_prodcons, &prodcons10, 0, PKG_RUNTIME},
    {"ChanProdCons100", bench_prodcons, &prodcons100, 0, PKG_RUNTIME},
    {"ChanNonblocking", bench_chan_nonblocking, NULL, 0, PKG_RUNTIME},
    {"SelectUncontended", bench_select_uncontended, NULL, 15, PKG_RUNTIME},
    {"SelectProdCons", bench_select_prodcons, NULL, 0, PKG_RUNTIME},
    {"ChanContended", bench_chan_contended, NULL, 0, PKG_RUNTIME},
    {"MakeChan/Byte", bench_make_chan, &make_byte, 0, PKG_RUNTIME},
    {"MakeChan/Struct/0", bench_make_chan, &make_struct0, 0, PKG_RUNTIME},
    {"MutexUncontended", bench_mutex_uncontended, NULL, 0, PKG_SYNC},
    {"WaitGroupUncontended", bench_wg_uncontended, NULL, 0, PKG_SYNC},
};
enum { B_N = sizeof benches / sizeof benches[0] };
static int ran[B_N], failed[B_N];

/* Go's -bench regex for the benchmarks of package pkg that ran here.  Go
 * splits a pattern at unbracketed '|' into alternatives and each alternative
 * at unbracketed '/' into one regex per name level (testing/match.go), so
 * each benchmark is an alternative anchored level by level: MakeChan/Struct/0
 * becomes ^BenchmarkMakeChan$/^Struct$/^0$ (an unanchored "0" would also
 * pick Struct/40).  No name contains a regex metacharacter. */
static void go_regex(int pkg, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int b = 0; b < B_N; b++) {
		if (!ran[b] || benches[b].pkg != pkg)
			continue;
		char alt[128];
		size_t a = (size_t)snprintf(alt, sizeof alt, "%s^Benchmark", len ? "|" : "");
		for (const char *c = benches[b].name; *c && a + 4 < sizeof alt; c++) {
			if (*c == '/')
				a += (size_t)snprintf(alt + a, sizeof alt - a, "$/^");
			else
				alt[a++] = *c;
		}
		alt[a++] = '$';
		alt[a] = '\0';
		if (len + a + 1 > size) {
			buf[0] = '\0'; /* never a truncated pattern */
			return;
		}
		memcpy(buf + len, alt, a + 1);
		len += a;
	}
}

static const char *const go_pkg[] = {"runtime", "sync"};

static bench_opts opts;
static int no_peer;
static bench_result res[B_N];
static int procs_used;

static int bench_main(void *arg)
{
	(void)arg;
	procs_used = ng_procs();
	for (int b = 0; b < B_N; b++) {
		if (!bench_selected(&opts, benches[b].name))
			continue;
		prev_n = prev_ns = 0;
		atomic_store(&bench_failed, 0);
		if (bench_run(&opts, benches[b].name, "ns/op", benches[b].fn,
		              (void *)benches[b].ctx, &res[b]) == 0)
			ran[b] = 1;
		else
			failed[b] = 1;
	}
	return 0;
}

static void report(void)
{
	enum { MAX_ROWS = 32 };
	peer_row rows[MAX_ROWS];
	int n = 0, peer_failed = 0;
	if (!no_peer) {
		for (int k = 0; k < PKG_N; k++) {
			char regex[512];
			go_regex(k, regex, sizeof regex);
			if (regex[0] == '\0')
				continue;
			int got = peer_go_bench(go_pkg[k], regex, opts.reps,
			                        (int)(opts.benchtime_ns / 1000000), rows + n,
			                        MAX_ROWS - n);
			if (got < 0)
				peer_failed = 1;
			else
				n += got;
		}
	}
	if (!opts.json)
		printf("\n%-22s %10s %10s %10s %8s %8s %5s  (procs %d, min of %d; Go: min of "
		       "-count %d)\n",
		       "benchmark", "numago", "median", "Go", "ratio", "target", "met", procs_used,
		       opts.reps, opts.reps);
	for (int b = 0; b < B_N; b++) {
		if (failed[b]) {
			if (opts.json)
				printf("{\"name\":\"%s\",\"unit\":\"ns/op\",\"failed\":true}\n",
				       benches[b].name);
			else
				printf("%-22s %10s\n", benches[b].name, "FAILED");
			continue;
		}
		if (!ran[b])
			continue;
		const peer_row *pr = peer_find(rows, n, benches[b].name);
		double ratio = pr ? res[b].min_ns / pr->min_ns : 0;
		double target = benches[b].target;
		/* met: under the target (if any) and not slower than Go (if known) */
		const char *met = "?";
		if (target > 0 || pr) {
			int ok = (target <= 0 || res[b].min_ns <= target) && (!pr || ratio <= 1.0);
			met = ok ? "yes" : "no";
		}
		if (opts.json) {
			printf("{\"name\":\"%s\",\"unit\":\"ns/op\",\"numago_min\":%.3f,"
			       "\"numago_median\":%.3f",
			       benches[b].name, res[b].min_ns, res[b].median_ns);
			if (pr)
				printf(",\"peer\":\"go\",\"peer_min\":%.3f,\"ratio\":%.3f",
				       pr->min_ns, ratio);
			if (target > 0)
				printf(",\"target\":%.1f", target);
			printf(",\"procs\":%d}\n", procs_used);
			continue;
		}
		char peer[32] = "n/a", rt[16] = "", tg[16] = "<=Go";
		if (pr) {
			snprintf(peer, sizeof peer, "%.1f", pr->min_ns);
			snprintf(rt, sizeof rt, "%.3f", ratio);
		}
		if (target > 0)
			snprintf(tg, sizeof tg, "<=%.0f", target);
		printf("%-22s %10.1f %10.1f %10s %8s %8s %5s\n", benches[b].name, res[b].min_ns,
		       res[b].median_ns, peer, rt, tg, met);
	}
	if (!opts.json && !no_peer && (peer_failed || n == 0))
		printf("(Go peer incomplete: 'go' not found or its benchmark failed; missing "
		       "figures say n/a)\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--no-peer") == 0) {
			no_peer = 1;
			for (int k = i; k < argc - 1; k++)
				argv[k] = argv[k + 1];
			argc--;
			i--;
		}
	bench_parse(argc, argv, &opts,
	            "bench_chan: Go 1.19's channel, select, mutex and waitgroup benchmarks "
	            "(ChanSync, ChanProdCons0/10/100, ChanNonblocking, SelectUncontended,\n"
	            "SelectProdCons, ChanContended, MakeChan/Byte, MakeChan/Struct/0, "
	            "MutexUncontended, WaitGroupUncontended), ns/op as Go counts it.\n"
	            "Go's own figures (go test -bench, packages runtime and sync) run in the "
	            "same invocation (--no-peer skips).");
	int rc = ng_run(NULL, bench_main, NULL);
	if (rc != 0) {
		fprintf(stderr, "bench_chan: ng_run: %d\n", rc);
		return 1;
	}
	report();
	int any_failed = 0;
	for (int b = 0; b < B_N; b++)
		any_failed |= failed[b];
	return any_failed ? 1 : 0;
}
