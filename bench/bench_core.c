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

static int bench_main(void *arg)
{
	(void)arg;
	bench_result r;
	create_ctx one = {1};
	create_ctx par = {ng_procs()};
	if (bench_selected(&opts, "CreateGoroutines"))
		bench_run(&opts, "CreateGoroutines", "ns/op", bench_create, &one, &r);
	if (bench_selected(&opts, "CreateGoroutinesParallel"))
		bench_run(&opts, "CreateGoroutinesParallel", "ns/op", bench_create, &par, &r);
	return 0;
}

static int yield_main(void *arg)
{
	(void)arg;
	bench_result r;
	bench_run(&opts, "Yield", "ns/switch", bench_yield, NULL, &r);
	return 0;
}

int main(int argc, char **argv)
{
	bench_parse(argc, argv, &opts,
	            "bench_core: CreateGoroutines, CreateGoroutinesParallel (spawn+run+exit "
	            "ns/op, as Go's runtime benchmarks) and Yield (ns per goroutine switch).");
	int rc = ng_run(NULL, bench_main, NULL);
	/* every yield a switch: both goroutines on the only P */
	ng_config one = {0};
	one.procs = 1;
	if (rc == 0 && bench_selected(&opts, "Yield"))
		rc = ng_run(&one, yield_main, NULL);
	return rc == 0 ? 0 : 1;
}
