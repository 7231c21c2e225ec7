/* bench/bench.h — a small testing.B: grow N until one run takes at least
 * the target time, then repeat and report min and median ns/op.
 *
 * Every benchmark program accepts:
 *   --help            what it measures
 *   --json            one JSON object per benchmark on stdout instead of the table
 *   --reps N          repetitions (default 5, at least 5 for the report)
 *   --benchtime MS    target duration of one repetition (default 300 ms)
 *   --filter SUBSTR   run only benchmarks whose name contains SUBSTR
 */
#ifndef NG_BENCH_H
#define NG_BENCH_H

#include <numago.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct bench_opts {
	int json;
	int reps;
	int64_t benchtime_ns;
	const char *filter;
} bench_opts;

/* Resident set size in bytes (-1 if /proc cannot say). */
static inline long bench_rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res < 0 ? -1 : res * sysconf(_SC_PAGESIZE);
}

static inline int64_t bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int bench_parse(int argc, char **argv, bench_opts *o, const char *help)
{
	o->json = 0;
	o->reps = 5;
	o->benchtime_ns = 300 * 1000000LL;
	o->filter = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("%s\n\noptions: --json --reps N --benchtime MS --filter SUBSTR\n",
			       help);
			exit(0);
		} else if (strcmp(argv[i], "--json") == 0) {
			o->json = 1;
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			o->reps = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--benchtime") == 0 && i + 1 < argc) {
			o->benchtime_ns = atoll(argv[++i]) * 1000000LL;
		} else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
			o->filter = argv[++i];
		} else {
			fprintf(stderr, "%s: unknown option '%s' (try --help)\n", argv[0], argv[i]);
			exit(2);
		}
	}
	if (o->reps < 1)
		o->reps = 1;
	return 0;
}

static inline int bench_selected(const bench_opts *o, const char *name)
{
	return o->filter == NULL || strstr(name, o->filter) != NULL;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* fn runs n operations and returns the elapsed ns it measured itself (so it
 * can exclude set-up), or a negative value on failure. */
typedef int64_t (*bench_fn)(int64_t n, void *ctx);

typedef struct bench_result {
	double min_ns, median_ns;
	int64_t n;
	int reps;
} bench_result;

static inline int bench_run(const bench_opts *o, const char *name, const char *unit, bench_fn fn,
                            void *ctx, bench_result *out)
{
	int64_t n = 1;
	int64_t t;
	/* grow N like Go's testing.B until a run lasts the target time */
	for (;;) {
		t = fn(n, ctx);
		if (t < 0)
			return -1;
		if (t >= o->benchtime_ns || n >= (int64_t)1 << 40)
			break;
		int64_t next =
		    t > 0 ? (int64_t)((double)n * 1.2 * (double)o->benchtime_ns / (double)t)
		          : n * 100;
		if (next > n * 100)
			next = n * 100;
		if (next <= n)
			next = n + 1;
		n = next;
	}
	double v[64];
	int reps = o->reps > 64 ? 64 : o->reps;
	for (int r = 0; r < reps; r++) {
		t = fn(n, ctx);
		if (t < 0)
			return -1;
		v[r] = (double)t / (double)n;
	}
	qsort(v, (size_t)reps, sizeof v[0], bench_cmp_double);
	out->min_ns = v[0];
	out->median_ns = v[reps / 2];
	out->n = n;
	out->reps = reps;
	if (o->json)
		printf("{\"name\":\"%s\",\"unit\":\"%s\",\"n\":%lld,\"reps\":%d,\"min\":%.3f,"
		       "\"median\":%.3f,\"procs\":%d}\n",
		       name, unit, (long long)n, reps, out->min_ns, out->median_ns, ng_procs());
	else
		printf("%-34s %12lld %10.2f %s (min) %10.2f %s (median, %d reps)\n", name,
		       (long long)n, out->min_ns, unit, out->median_ns, unit, reps);
	fflush(stdout);
	return 0;
}

#endif
