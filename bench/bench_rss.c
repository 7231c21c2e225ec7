/* bench/bench_rss.c — resident memory per parked goroutine.
 *
 * Spawns N goroutines that each park on a waitgroup, measures the process's
 * RSS (/proc/self/statm) before and after, and reports bytes per goroutine,
 * the memory mappings used (vm.max_map_count is 65530 by default: the stack
 * guard plan must keep this far below it) and the stack guard mode.  Go's
 * figure comes from bench/go/rss in the same run (same N, goroutines parked
 * on a channel).  Target: <= 5 KiB per parked goroutine (Go ~2.7 KiB). */
#include "bench.h"
#include "peer.h"

#include <unistd.h>

static long map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL)
		return -1;
	long n = 0;
	int c;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

typedef struct rss_args {
	long n;
	ng_waitgroup started, release, finished;
	double per_g;
	long maps;
	int64_t spawn_ns;
} rss_args;

static rss_args *A;

static void parked(void *arg)
{
	(void)arg;
	ng_waitgroup_done(&A->started);
	ng_waitgroup_wait(&A->release);
	ng_waitgroup_done(&A->finished);
}

static int rss_main(void *arg)
{
	rss_args *a = arg;
	A = a;
	/* warm-up: create and retire a few goroutines so the runtime's own
	 * fixed structures are in the "before" figure */
	ng_waitgroup_add(&a->started, 64);
	ng_waitgroup_add(&a->release, 1);
	ng_waitgroup_add(&a->finished, 64);
	for (int i = 0; i < 64; i++)
		ng_go(parked, NULL);
	ng_waitgroup_wait(&a->started);
	ng_waitgroup_done(&a->release);
	ng_waitgroup_wait(&a->finished);

	long before = bench_rss_bytes();
	ng_waitgroup_add(&a->release, 1);
	ng_waitgroup_add(&a->started, a->n);
	ng_waitgroup_add(&a->finished, a->n);
	int64_t t0 = bench_now();
	for (long i = 0; i < a->n; i++)
		if (ng_go(parked, NULL) != 0) {
			fprintf(stderr, "bench_rss: spawn %ld failed\n", i);
			return 1;
		}
	ng_waitgroup_wait(&a->started);
	a->spawn_ns = bench_now() - t0;
	long after = bench_rss_bytes();
	a->maps = map_count();
	if (ng_num_goroutines() < a->n + 1) {
		fprintf(stderr, "bench_rss: only %lld goroutines alive\n",
		        (long long)ng_num_goroutines());
		return 1;
	}
	a->per_g = (double)(after - before) / (double)a->n;
	ng_waitgroup_done(&a->release);
	ng_waitgroup_wait(&a->finished);
	return 0;
}

static double go_rss(long n)
{
	return peer_go_program(NUMAGO_SOURCE_DIR, "rss", n);
}

static const char *guard_name(const char *env)
{
	if (env != NULL && strstr(env, "stackguard=mprotect"))
		return "mprotect (forced), switch-out checks past budget";
	if (env != NULL && strstr(env, "stackguard=check"))
		return "switch-out check (forced)";
	return "auto (MADV_GUARD_INSTALL where the kernel has it)";
}

int main(int argc, char **argv)
{
	int no_peer = 0, json = 0;
	long sizes[8] = {100000, 1000000};
	int nsizes = 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			printf(
			    "bench_rss: resident bytes per parked goroutine for N = 100000 and "
			    "1000000\n(or --n N), with Go's figure from bench/go/rss in the same "
			    "run.\noptions: --n N  --no-peer  --json\n");
			return 0;
		} else if (strcmp(argv[i], "--no-peer") == 0) {
			no_peer = 1;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
			sizes[0] = atol(argv[++i]);
			nsizes = 1;
		} else {
			fprintf(stderr, "bench_rss: unknown option '%s' (try --help)\n", argv[i]);
			return 2;
		}
	}
	if (!json)
		printf("%-24s %10s %12s %12s %8s %8s %10s\n", "benchmark", "N", "numago B/G",
		       "Go B/G", "ratio", "target", "mappings");
	for (int k = 0; k < nsizes; k++) {
		rss_args a = {.n = sizes[k],
		              .started = NG_WAITGROUP_INIT,
		              .release = NG_WAITGROUP_INIT,
		              .finished = NG_WAITGROUP_INIT};
		int rc = ng_run(NULL, rss_main, &a);
		if (rc != 0) {
			fprintf(stderr, "bench_rss: run failed (%d)\n", rc);
			return 1;
		}
		double go = no_peer ? -1 : go_rss(sizes[k]);
		char gos[32] = "n/a", ratio[16] = "";
		if (go > 0) {
			snprintf(gos, sizeof gos, "%.0f", go);
			snprintf(ratio, sizeof ratio, "%.2f", a.per_g / go);
		}
		if (json)
			printf(
			    "{\"name\":\"RSSPerParkedGoroutine\",\"n\":%ld,\"numago_bytes\":%.1f,"
			    "\"peer\":\"go\",\"peer_bytes\":%.1f,\"target\":5120,\"mappings\":%ld,"
			    "\"spawn_ns_per_g\":%.1f}\n",
			    a.n, a.per_g, go, a.maps, (double)a.spawn_ns / (double)a.n);
		else
			printf("%-24s %10ld %12.0f %12s %8s %8s %10ld\n", "RSSPerParkedGoroutine",
			       a.n, a.per_g, gos, ratio, "<=5120", a.maps);
	}
	if (!json)
		printf("stack guard: %s\n", guard_name(getenv("NUMAGO_DEBUG")));
	return 0;
}
