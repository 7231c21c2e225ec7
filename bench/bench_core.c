/* bench/bench_core.c — goroutine creation and switching, named after Go's
 * runtime benchmarks (src/runtime/proc_test.go):
 *
 *   CreateGoroutines          each goroutine spawns the next and exits; one
 *                             chain (Go: benchmarkCreateGoroutines(b, 1))
 *   CreateGoroutinesParallel  one chain per P
 *   Yield                     two goroutines on one P alternate with
 *                             ng_yield: ns per switch (Go has no exact twin;
 *                             its Gosched goes through the global queue)
 *
 * Same work per op as Go's: spawn, run, exit; the chain's end signals the
 * waiter once per chain (Go uses a channel send, here a waitgroup). */
#include "bench.h"
#include "peer.h"

#include <stdatomic.h>

static ng_waitgroup chain_wg;

static void chain(void *arg)
{
	intptr_t n = (intptr_t)arg;
	if (n == 0) {
		ng_waitgroup_done(&chain_wg);
		return;
	}
	ng_go(chain, (void *)(n - 1));
}

typedef struct create_ctx {
	int chains;
} create_ctx;

static int64_t bench_create(int64_t n, void *vctx)
{
	create_ctx *c = vctx;
	int chains = c->chains;
	ng_waitgroup_add(&chain_wg, chains);
	int64_t t0 = bench_now();
	for (int i = 0; i < chains; i++)
		ng_go(chain, (void *)(intptr_t)(n / chains));
	ng_waitgroup_wait(&chain_wg);
	return bench_now() - t0;
}

typedef struct yield_ctx {
	int64_t each; /* yields per goroutine: private counts, no shared atomics */
	ng_waitgroup wg;
} yield_ctx;

static void yielder(void *arg)
{
	yield_ctx *y = arg;
	for (int64_t i = y->each; i > 0; i--)
		ng_yield();
	ng_waitgroup_done(&y->wg);
}

static int64_t bench_yield(int64_t n, void *vctx)
{
	(void)vctx;
	yield_ctx y = {.wg = NG_WAITGROUP_INIT};
	y.each = n / 2 > 0 ? n / 2 : 1;
	ng_waitgroup_add(&y.wg, 2);
	int64_t t0 = bench_now();
	ng_go(yielder, &y);
	ng_go(yielder, &y);
	ng_waitgroup_wait(&y.wg);
	return bench_now() - t0;
}

static bench_opts opts;
static int no_peer;

enum { B_CREATE, B_CREATE_PAR, B_YIELD, B_N };
static const char *const names[B_N] = {"CreateGoroutines", "CreateGoroutinesParallel", "Yield"};
static const char *const units[B_N] = {"ns/op", "ns/op", "ns/switch"};
static const double targets[B_N] = {40, 0, 15};
static bench_result res[B_N];
static int ran[B_N];

static int bench_main(void *arg)
{
	(void)arg;
	create_ctx one = {1};
	create_ctx par = {ng_procs()};
	if (bench_selected(&opts, names[B_CREATE]) &&
	    bench_run(&opts, names[B_CREATE], units[B_CREATE], bench_create, &one,
	              &res[B_CREATE]) == 0)
		ran[B_CREATE] = 1;
	if (bench_selected(&opts, names[B_CREATE_PAR]) &&
	    bench_run(&opts, names[B_CREATE_PAR], units[B_CREATE_PAR], bench_create, &par,
	              &res[B_CREATE_PAR]) == 0)
		ran[B_CREATE_PAR] = 1;
	return 0;
}

static int yield_main(void *arg)
{
	(void)arg;
	if (bench_run(&opts, names[B_YIELD], units[B_YIELD], bench_yield, NULL, &res[B_YIELD]) == 0)
		ran[B_YIELD] = 1;
	return 0;
}

/* Go's figures from the same run, and the comparison table. */
static void report(void)
{
	peer_row rows[8];
	int n = -1;
	if (!no_peer && (ran[B_CREATE] || ran[B_CREATE_PAR]))
		n = peer_go_runtime_bench("CreateGoroutines$|CreateGoroutinesParallel$", opts.reps,
		                          (int)(opts.benchtime_ns / 1000000), rows, 8);
	if (!opts.json)
		printf("\n%-26s %12s %12s %8s %8s\n", "benchmark", "numago", "Go", "ratio",
		       "target");
	for (int b = 0; b < B_N; b++) {
		if (!ran[b])
			continue;
		const peer_row *pr = n > 0 ? peer_find(rows, n, names[b]) : NULL;
		double ratio = pr ? res[b].min_ns / pr->min_ns : 0;
		if (opts.json) {
			printf("{\"name\":\"%s\",\"unit\":\"%s\",\"numago_min\":%.3f,\"numago_"
			       "median\":%.3f",
			       names[b], units[b], res[b].min_ns, res[b].median_ns);
			if (pr)
				printf(",\"peer\":\"go\",\"peer_min\":%.3f,\"ratio\":%.3f",
				       pr->min_ns, ratio);
			if (targets[b] > 0)
				printf(",\"target\":%.1f", targets[b]);
			printf("}\n");
			continue;
		}
		char peer[32] = "n/a", rt[16] = "", tg[16] = "";
		if (pr) {
			snprintf(peer, sizeof peer, "%.1f", pr->min_ns);
			snprintf(rt, sizeof rt, "%.3f", ratio);
		}
		if (targets[b] > 0)
			snprintf(tg, sizeof tg, "<=%.0f", targets[b]);
		printf("%-26s %12.1f %12s %8s %8s  %s\n", names[b], res[b].min_ns, peer, rt, tg,
		       units[b]);
	}
	if (!opts.json && n < 0 && !no_peer)
		printf("(Go peer not run: 'go' not found or its benchmark failed)\n");
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
	bench_parse(
	    argc, argv, &opts,
	    "bench_core: CreateGoroutines, CreateGoroutinesParallel (spawn+run+exit "
	    "ns/op, as Go's runtime benchmarks) and Yield (ns per goroutine switch).\n"
	    "Go's BenchmarkCreateGoroutines* run in the same invocation (--no-peer skips).");
	int rc = ng_run(NULL, bench_main, NULL);
	/* every yield a switch: both goroutines on the only P */
	ng_config one = {0};
	one.procs = 1;
	if (rc == 0 && bench_selected(&opts, "Yield"))
		rc = ng_run(&one, yield_main, NULL);
	if (rc == 0)
		report();
	return rc == 0 ? 0 : 1;
}
