/* bench/bench_sched.c — scheduler benchmarks ported from Go 1.19's
 * src/runtime/proc_test.go, so that the ns/op of both are the same quantity:
 *
 *   PingPongHog                    1 P: a CPU hog loops on a non-blocking
 *                                  receive from `stop` (Go's select with
 *                                  default: ng_chan_try_recv) while two
 *                                  goroutines ping-pong b.N times over
 *                                  unbuffered channels; ns per ping-pong.
 *                                  The hog never yields by itself: the row
 *                                  only completes if the runtime preempts it.
 *   WakeupParallelSpinning/<d>     2 Ps: two goroutines alternate as sender
 *                                  and receiver; the receiver spins for d
 *                                  (a clock loop, as Go's time.Now loop),
 *                                  the sender for d + 5µs, then they
 *                                  exchange on an unbuffered channel; ns per
 *                                  iteration (two exchanges)
 *   WakeupParallelSyscall/<d>      the same, sleeping d in a blocking
 *                                  nanosleep instead of spinning, bracketed
 *                                  by ng_block_enter/ng_block_exit (numago's
 *                                  entersyscall/exitsyscall, which Go's
 *                                  syscall.Nanosleep goes through)
 *
 * d is each of Go's delays: 0s, 1µs, 2µs, 5µs, 10µs, 20µs, 50µs, 100µs
 * (Go's sub-benchmark names are time.Duration strings, with U+00B5 'µ').
 *
 * The timed regions are Go's: from b.ResetTimer (goroutines spawned) to
 * b.StopTimer (PingPongHog: `stop` closed) or the end of the benchmark
 * function (WakeupParallel: both goroutines done).  Go's figures come from
 * the same run (`go test -bench` in package runtime, GOMAXPROCS=2 as the
 * numago rows of WakeupParallel; PingPongHog sets 1 P itself on both
 * sides); both sides report the min over --reps runs.
 *
 * Bounded wall time: a watchdog thread watches each run's progress; after
 * 10 s without any, it closes the run's channels so every goroutine of the
 * run returns, and that row says FAILED; the other rows still run.  Should
 * the runtime not recover within 10 s more, the program says so and exits 1
 * rather than hang. */
#include "bench.h"
#include "peer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#define MICRO "\xc2\xb5" /* U+00B5, as Go's time.Duration.String writes it */

static const int64_t STALL_NS = 10LL * 1000000000LL;

static bench_opts opts;
static int no_peer;

/* Set by any goroutine whose operations returned something unexpected: the
 * benchmark then fails rather than reporting the speed of an error path. */
static atomic_int bench_failed;
/* Set by the watchdog when it gave up on the current run. */
static atomic_int watch_aborted;

static void fail(const char *what, int rc)
{
	/* after an abort every operation fails: the watchdog said why */
	if (!atomic_load(&watch_aborted) && atomic_exchange(&bench_failed, 1) == 0)
		fprintf(stderr, "bench_sched: %s failed (%d)\n", what, rc);
}

/* ---- watchdog ---- */

enum { WATCH_MAX_CHANS = 4 };

/* The run's goroutines store a changing count here (a plain relaxed store:
 * no atomic read-modify-write on the measured path). */
static _Atomic int64_t watch_progress;

static struct {
	pthread_mutex_t mu;
	int active;
	const char *row;
	ng_chan *chans[WATCH_MAX_CHANS];
	int nchans;
	int64_t seen, last_change, aborted_at;
} watch = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* chans: what the watchdog closes to make the run's goroutines return. */
static void watch_begin(const char *row, ng_chan *const *chans, int n)
{
	pthread_mutex_lock(&watch.mu);
	watch.row = row;
	for (int i = 0; i < n && i < WATCH_MAX_CHANS; i++)
		watch.chans[i] = chans[i];
	watch.nchans = n < WATCH_MAX_CHANS ? n : WATCH_MAX_CHANS;
	watch.seen = atomic_load_explicit(&watch_progress, memory_order_relaxed);
	watch.last_change = bench_now();
	watch.aborted_at = 0;
	atomic_store(&watch_aborted, 0);
	watch.active = 1;
	pthread_mutex_unlock(&watch.mu);
}

/* 1 if the watchdog aborted the run.  After it returns the watchdog no
 * longer touches the run's channels: they may be released. */
static int watch_end(void)
{
	pthread_mutex_lock(&watch.mu);
	watch.active = 0;
	watch.nchans = 0;
	pthread_mutex_unlock(&watch.mu);
	return atomic_load(&watch_aborted);
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&watch.mu);
		if (!watch.active) {
			pthread_mutex_unlock(&watch.mu);
			continue;
		}
		int64_t now = bench_now();
		int64_t p = atomic_load_explicit(&watch_progress, memory_order_relaxed);
		if (p != watch.seen) {
			watch.seen = p;
			watch.last_change = now;
		} else if (!atomic_load(&watch_aborted) && now - watch.last_change >= STALL_NS) {
			atomic_store(&watch_aborted, 1);
			watch.aborted_at = now;
			fprintf(stderr,
			        "bench_sched: %s: no progress for %lld s: FAILED (aborting the "
			        "run)\n",
			        watch.row, (long long)(STALL_NS / 1000000000LL));
			/* closing wakes every waiter; the loops stop at the first
			 * -EPIPE, the hog at a closed `stop` */
			for (int i = 0; i < watch.nchans; i++)
				ng_chan_close(watch.chans[i]);
		} else if (atomic_load(&watch_aborted) && now - watch.aborted_at >= STALL_NS) {
			if (opts.json)
				printf("{\"name\":\"%s\",\"unit\":\"ns/op\",\"failed\":true}\n",
				       watch.row);
			else
				printf("%-30s %10s (no progress for %lld s and the aborted run "
				       "did not return: giving up)\n",
				       watch.row, "FAILED",
				       (long long)(2 * STALL_NS / 1000000000LL));
			fflush(stdout);
			fprintf(stderr, "bench_sched: %s: the runtime did not recover; exiting\n",
			        watch.row);
			_exit(1);
		}
		pthread_mutex_unlock(&watch.mu);
	}
	return NULL;
}

/* ---- PingPongHog ---- */

typedef struct hog_ctx {
	ng_chan *stop, *done, *ping, *pong;
	int64_t n;
} hog_ctx;

static void hog(void *arg)
{
	hog_ctx *h = arg;
	int rc;
	/* select { case <-stop: ...; default: } */
	while ((rc = ng_chan_try_recv(h->stop, NULL)) == -EAGAIN)
		;
	if (rc != -EPIPE) /* `stop` is only ever closed */
		fail("PingPongHog: hog's receive", rc);
	bool t = true;
	ng_chan_send(h->done, &t);
}

/* for j < b.N { pong <- <-ping }; close(stop) */
static void ponger(void *arg)
{
	hog_ctx *h = arg;
	bool v = false;
	for (int64_t j = 0; j < h->n; j++) {
		int rc = ng_chan_recv(h->ping, &v);
		if (rc == 0)
			rc = ng_chan_send(h->pong, &v);
		if (rc != 0) {
			fail("PingPongHog: ponger", rc);
			break;
		}
		atomic_store_explicit(&watch_progress, j + 1, memory_order_relaxed);
	}
	int rc = ng_chan_close(h->stop);
	if (rc != 0)
		fail("PingPongHog: close(stop)", rc);
	bool t = true;
	ng_chan_send(h->done, &t);
}

/* for i < b.N { ping <- <-pong } */
static void pinger(void *arg)
{
	hog_ctx *h = arg;
	bool v = false;
	for (int64_t i = 0; i < h->n; i++) {
		int rc = ng_chan_recv(h->pong, &v);
		if (rc == 0)
			rc = ng_chan_send(h->ping, &v);
		if (rc != 0) {
			fail("PingPongHog: pinger", rc);
			break;
		}
	}
	bool t = true;
	ng_chan_send(h->done, &t);
}

static int64_t bench_pingpong_hog(int64_t n, void *vctx)
{
	(void)vctx;
	hog_ctx h = {.n = n};
	h.stop = ng_chan_make(sizeof(bool), 0);
	h.done = ng_chan_make(sizeof(bool), 0);
	h.ping = ng_chan_make(sizeof(bool), 0);
	h.pong = ng_chan_make(sizeof(bool), 0);
	if (h.stop == NULL || h.done == NULL || h.ping == NULL || h.pong == NULL) {
		fail("ng_chan_make", -errno);
		return -1;
	}
	ng_chan *watched[] = {h.stop, h.ping, h.pong};
	watch_begin("PingPongHog", watched, 3);
	void (*const fns[3])(void *) = {hog, ponger, pinger};
	int spawned = 0;
	for (int i = 0; i < 3; i++) {
		int rc = ng_go(fns[i], &h);
		if (rc != 0) {
			fail("ng_go", rc);
			break;
		}
		spawned++;
	}
	int64_t t = 0;
	bool v = true;
	if (spawned == 3) {
		int64_t t0 = bench_now(); /* b.ResetTimer */
		int rc = ng_chan_send(h.ping, &v);
		if (rc != 0)
			fail("PingPongHog: first ping", rc);
		rc = ng_chan_recv(h.stop, NULL);
		t = bench_now() - t0; /* b.StopTimer */
		if (rc != -EPIPE)
			fail("PingPongHog: <-stop", rc);
		rc = ng_chan_recv(h.ping, &v); /* let the last ponger exit */
		if (rc != 0)
			fail("PingPongHog: last ping", rc);
	} else {
		/* make the ones that started return */
		ng_chan_close(h.stop);
		ng_chan_close(h.ping);
		ng_chan_close(h.pong);
	}
	for (int i = 0; i < spawned; i++)
		ng_chan_recv(h.done, &v);
	int aborted = watch_end();
	ng_chan_release(h.stop);
	ng_chan_release(h.done);
	ng_chan_release(h.ping);
	ng_chan_release(h.pong);
	return atomic_load(&bench_failed) || aborted ? -1 : t;
}

/* ---- WakeupParallel ---- */

static const int64_t WAKE_DELAY_NS = 5000; /* Go's wakeDelay: 5µs */

typedef struct wake_cfg {
	int64_t delay_ns;
	int syscall; /* 0: Spinning, 1: Syscall */
} wake_cfg;

typedef struct wake_ctx {
	const wake_cfg *cfg;
	ng_chan *ping, *pong, *start, *done;
	int64_t n;
} wake_ctx;

/* Go's sysNanosleep (runtime_linux_test.go): syscall.Nanosleep, which
 * enters and exits a syscall around the blocking call, retried on EINTR. */
static void sys_nanosleep(int64_t d)
{
	struct timespec ts = {(time_t)(d / 1000000000LL), (long)(d % 1000000000LL)};
	int rc = ng_block_enter();
	if (rc != 0)
		fail("ng_block_enter", rc);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	if (rc == 0 && (rc = ng_block_exit()) != 0)
		fail("ng_block_exit", rc);
}

static void spin(const wake_ctx *w, int64_t d)
{
	if (w->cfg->syscall) {
		sys_nanosleep(d);
		return;
	}
	/* end := time.Now().Add(d); for time.Now().Before(end) {} */
	int64_t end = bench_now() + d;
	while (bench_now() < end)
		;
}

static void wake_first(void *arg)
{
	wake_ctx *w = arg;
	int64_t delay = w->cfg->delay_ns;
	int rc = ng_chan_recv(w->start, NULL);
	for (int64_t i = 0; rc == 0 && i < w->n; i++) {
		/* sender */
		spin(w, delay + WAKE_DELAY_NS);
		rc = ng_chan_send(w->ping, NULL);
		if (rc != 0)
			break;
		/* receiver */
		spin(w, delay);
		rc = ng_chan_recv(w->pong, NULL);
	}
	if (rc != 0)
		fail("WakeupParallel: first goroutine", rc);
	ng_chan_send(w->done, NULL);
}

static void wake_second(void *arg)
{
	wake_ctx *w = arg;
	int64_t delay = w->cfg->delay_ns;
	int rc = 0;
	for (int64_t i = 0; i < w->n; i++) {
		/* receiver */
		spin(w, delay);
		rc = ng_chan_recv(w->ping, NULL);
		if (rc != 0)
			break;
		/* sender */
		spin(w, delay + WAKE_DELAY_NS);
		rc = ng_chan_send(w->pong, NULL);
		if (rc != 0)
			break;
		atomic_store_explicit(&watch_progress, i + 1, memory_order_relaxed);
	}
	if (rc != 0)
		fail("WakeupParallel: second goroutine", rc);
	ng_chan_send(w->done, NULL);
}

static const char *cur_row;

static int64_t bench_wakeup(int64_t n, void *vctx)
{
	wake_ctx w = {.cfg = vctx, .n = n};
	/* chan struct{} */
	w.ping = ng_chan_make(0, 0);
	w.pong = ng_chan_make(0, 0);
	w.start = ng_chan_make(0, 0);
	w.done = ng_chan_make(0, 0);
	if (w.ping == NULL || w.pong == NULL || w.start == NULL || w.done == NULL) {
		fail("ng_chan_make", -errno);
		return -1;
	}
	ng_chan *watched[] = {w.ping, w.pong, w.start};
	watch_begin(cur_row, watched, 3);
	int spawned = 0;
	int rc = ng_go(wake_first, &w);
	if (rc == 0) {
		spawned++;
		rc = ng_go(wake_second, &w);
		if (rc == 0)
			spawned++;
	}
	int64_t t = 0;
	if (rc == 0) {
		int64_t t0 = bench_now(); /* b.ResetTimer */
		rc = ng_chan_send(w.start, NULL);
		if (rc != 0)
			fail("WakeupParallel: start", rc);
		ng_chan_recv(w.done, NULL);
		ng_chan_recv(w.done, NULL);
		t = bench_now() - t0;
	} else {
		fail("ng_go", rc);
		ng_chan_close(w.start);
		ng_chan_close(w.ping);
		ng_chan_close(w.pong);
		for (int i = 0; i < spawned; i++)
			ng_chan_recv(w.done, NULL);
	}
	int aborted = watch_end();
	ng_chan_release(w.ping);
	ng_chan_release(w.pong);
	ng_chan_release(w.start);
	ng_chan_release(w.done);
	return atomic_load(&bench_failed) || aborted ? -1 : t;
}

/* ---- table ---- */

static const wake_cfg spin_cfgs[] = {{0, 0},     {1000, 0},  {2000, 0},  {5000, 0},
                                     {10000, 0}, {20000, 0}, {50000, 0}, {100000, 0}};
static const wake_cfg sys_cfgs[] = {{0, 1},     {1000, 1},  {2000, 1},  {5000, 1},
                                    {10000, 1}, {20000, 1}, {50000, 1}, {100000, 1}};

typedef struct bench_def {
	const char *name; /* Go's, without "Benchmark" and the -GOMAXPROCS suffix */
	bench_fn fn;
	const void *ctx;
	double target; /* ns/op; 0: none beyond "not slower than Go" */
	int procs;     /* Ps of the numago runtime it runs in */
} bench_def;

static const bench_def benches[] = {
    {"PingPongHog", bench_pingpong_hog, NULL, 150, 1},
    {"WakeupParallelSpinning/0s", bench_wakeup, &spin_cfgs[0], 0, 2},
    {"WakeupParallelSpinning/1" MICRO "s", bench_wakeup, &spin_cfgs[1], 0, 2},
    {"WakeupParallelSpinning/2" MICRO "s", bench_wakeup, &spin_cfgs[2], 0, 2},
    {"WakeupParallelSpinning/5" MICRO "s", bench_wakeup, &spin_cfgs[3], 0, 2},
    {"WakeupParallelSpinning/10" MICRO "s", bench_wakeup, &spin_cfgs[4], 0, 2},
    {"WakeupParallelSpinning/20" MICRO "s", bench_wakeup, &spin_cfgs[5], 0, 2},
    {"WakeupParallelSpinning/50" MICRO "s", bench_wakeup, &spin_cfgs[6], 0, 2},
    {"WakeupParallelSpinning/100" MICRO "s", bench_wakeup, &spin_cfgs[7], 0, 2},
    {"WakeupParallelSyscall/0s", bench_wakeup, &sys_cfgs[0], 0, 2},
    {"WakeupParallelSyscall/1" MICRO "s", bench_wakeup, &sys_cfgs[1], 0, 2},
    {"WakeupParallelSyscall/2" MICRO "s", bench_wakeup, &sys_cfgs[2], 0, 2},
    {"WakeupParallelSyscall/5" MICRO "s", bench_wakeup, &sys_cfgs[3], 0, 2},
    {"WakeupParallelSyscall/10" MICRO "s", bench_wakeup, &sys_cfgs[4], 0, 2},
    {"WakeupParallelSyscall/20" MICRO "s", bench_wakeup, &sys_cfgs[5], 0, 2},
    {"WakeupParallelSyscall/50" MICRO "s", bench_wakeup, &sys_cfgs[6], 0, 2},
    {"WakeupParallelSyscall/100" MICRO "s", bench_wakeup, &sys_cfgs[7], 0, 2},
};
enum { B_N = sizeof benches / sizeof benches[0] };
static int ran[B_N], failed[B_N], procs_used[B_N];
static bench_result res[B_N];
static int cur_b = -1; /* the row being run */

/* Runs, in a runtime of `procs` Ps, the selected rows that want that many. */
static int bench_main(void *arg)
{
	int procs = *(const int *)arg;
	for (int b = 0; b < B_N; b++) {
		if (benches[b].procs != procs || !bench_selected(&opts, benches[b].name))
			continue;
		atomic_store(&bench_failed, 0);
		cur_row = benches[b].name;
		cur_b = b;
		procs_used[b] = ng_procs();
		if (bench_run(&opts, benches[b].name, "ns/op", benches[b].fn,
		              (void *)benches[b].ctx, &res[b]) == 0)
			ran[b] = 1;
		else
			failed[b] = 1;
		cur_b = -1;
	}
	return 0;
}

/* Go's -bench regex for the rows that were run (failed ones included: Go's
 * figure still says what the row is worth).  Go splits a pattern at
 * unbracketed '|' and '/' (outside parentheses) into alternatives of one
 * regex per name level (testing/match.go), so each benchmark is anchored
 * level by level and the sub-benchmarks of one parent share a group:
 * ^BenchmarkWakeupParallelSpinning$/^(0s|5µs)$.  No name contains a regex
 * metacharacter or a single quote. */
static void go_regex(char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	int done[B_N] = {0};
	for (int b = 0; b < B_N; b++) {
		if (done[b] || !(ran[b] || failed[b]))
			continue;
		const char *name = benches[b].name;
		const char *slash = strchr(name, '/');
		size_t plen = slash ? (size_t)(slash - name) : strlen(name);
		char alt[512];
		int a =
		    snprintf(alt, sizeof alt, "%s^Benchmark%.*s$", len ? "|" : "", (int)plen, name);
		if (slash) {
			a += snprintf(alt + a, sizeof alt - (size_t)a, "/^(");
			int first = 1;
			/* every later row of the same parent joins the group */
			for (int k = b; k < B_N; k++) {
				const char *nk = benches[k].name;
				if (!(ran[k] || failed[k]) || strncmp(nk, name, plen + 1) != 0)
					continue;
				done[k] = 1;
				a += snprintf(alt + a, sizeof alt - (size_t)a, "%s%s",
				              first ? "" : "|", nk + plen + 1);
				first = 0;
			}
			a += snprintf(alt + a, sizeof alt - (size_t)a, ")$");
		}
		if (a < 0 || (size_t)a >= sizeof alt || len + (size_t)a + 1 > size) {
			buf[0] = '\0'; /* never a truncated pattern */
			return;
		}
		memcpy(buf + len, alt, (size_t)a + 1);
		len += (size_t)a;
	}
}

/* The name left-aligned in `width` columns: 'µ' is two bytes, one column. */
static void print_name(const char *name, int width)
{
	int cols = 0;
	for (const char *c = name; *c; c++)
		cols += ((unsigned char)*c & 0xc0) != 0x80;
	printf("%s%*s", name, width > cols ? width - cols : 0, "");
}

static void report(void)
{
	enum { MAX_ROWS = 32 };
	peer_row rows[MAX_ROWS];
	int n = 0, peer_failed = 0;
	if (!no_peer) {
		char regex[512];
		go_regex(regex, sizeof regex);
		if (regex[0] != '\0') {
			/* the Ps of the numago WakeupParallel rows (PingPongHog sets
			 * GOMAXPROCS(1) itself, as the numago row runs on 1 P) */
			setenv("GOMAXPROCS", "2", 1);
			n = peer_go_runtime_bench(
			    regex, opts.reps, (int)(opts.benchtime_ns / 1000000), rows, MAX_ROWS);
			if (n < 0) {
				peer_failed = 1;
				n = 0;
			}
		}
	}
	if (!opts.json) {
		printf("\n");
		print_name("benchmark", 30);
		printf(" %5s %10s %10s %10s %8s %8s %5s  (min of %d; Go: GOMAXPROCS=2, min of "
		       "-count %d)\n",
		       "procs", "numago", "median", "Go", "ratio", "target", "met", opts.reps,
		       opts.reps);
	}
	for (int b = 0; b < B_N; b++) {
		if (!ran[b] && !failed[b])
			continue;
		const peer_row *pr = peer_find(rows, n, benches[b].name);
		char peer[32] = "n/a";
		if (pr)
			snprintf(peer, sizeof peer, "%.1f", pr->min_ns);
		if (failed[b]) {
			if (opts.json) {
				printf("{\"name\":\"%s\",\"unit\":\"ns/op\",\"failed\":true",
				       benches[b].name);
				if (pr)
					printf(",\"peer\":\"go\",\"peer_min\":%.3f", pr->min_ns);
				printf(",\"procs\":%d}\n", procs_used[b]);
			} else {
				print_name(benches[b].name, 30);
				printf(" %5d %10s %10s %10s\n", procs_used[b], "FAILED", "", peer);
			}
			continue;
		}
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
			printf(",\"procs\":%d}\n", procs_used[b]);
			continue;
		}
		char rt[16] = "", tg[16] = "<=Go";
		if (pr)
			snprintf(rt, sizeof rt, "%.3f", ratio);
		if (target > 0)
			snprintf(tg, sizeof tg, "<=%.0f", target);
		print_name(benches[b].name, 30);
		printf(" %5d %10.1f %10.1f %10s %8s %8s %5s\n", procs_used[b], res[b].min_ns,
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
	            "bench_sched: Go 1.19's scheduler benchmarks (runtime/proc_test.go): "
	            "PingPongHog (1 P, a CPU hog that only preemption\n"
	            "interrupts, beside a ping-pong pair), WakeupParallelSpinning/<d> and "
	            "WakeupParallelSyscall/<d> (2 Ps, d = 0s 1µs 2µs 5µs 10µs 20µs 50µs "
	            "100µs),\n"
	            "ns/op as Go counts it.  A row without progress for 10 s says FAILED.  "
	            "Go's own figures (go test -bench, package runtime)\n"
	            "run in the same invocation (--no-peer skips).");
	pthread_t wd;
	if (pthread_create(&wd, NULL, watchdog, NULL) != 0) {
		fprintf(stderr, "bench_sched: cannot start the watchdog thread\n");
		return 1;
	}
	pthread_detach(wd);
	/* the rows of 2 Ps, then PingPongHog on 1 P (the one that needs
	 * preemption to finish) */
	static const int procs_order[] = {2, 1};
	int rc_all = 0;
	for (size_t i = 0; i < sizeof procs_order / sizeof procs_order[0]; i++) {
		int any = 0;
		for (int b = 0; b < B_N; b++)
			any |= benches[b].procs == procs_order[i] &&
			       bench_selected(&opts, benches[b].name);
		if (!any)
			continue;
		ng_config cfg = {0};
		cfg.procs = procs_order[i];
		cfg.deadlock = NG_DEADLOCK_RETURN;
		int rc = ng_run(&cfg, bench_main, (void *)&procs_order[i]);
		if (rc != 0) {
			/* e.g. -EDEADLK in the middle of a row: that row failed */
			fprintf(stderr, "bench_sched: ng_run (%d Ps): %d\n", procs_order[i], rc);
			if (cur_b >= 0)
				failed[cur_b] = 1;
			cur_b = -1;
			rc_all = 1;
		}
	}
	report();
	int any_failed = rc_all;
	for (int b = 0; b < B_N; b++)
		any_failed |= failed[b];
	return any_failed ? 1 : 0;
}
