/* bench/bench_numa_omp.c — the OpenMP peer of bench_numa's STREAM triad,
 * run by bench_numa in the same invocation (it is not meant to be run by
 * hand, though it can be):
 *
 *   bench_numa_omp N THREADS REPS
 *
 * Three arrays of N doubles from mmap (untouched), first touch in a
 * parallel loop with schedule(static) (so each thread's pages are on its
 * node, as STREAM does it), one untimed triad, then REPS timed triads
 * a[i] = b[i] + 3.0 * c[i], each a parallel for with schedule(static), and
 * a checksum of a[] against the exact value.  Prints one line:
 *
 *   omp threads=T n=N reps=R min_ns=... median_ns=... checksum=ok|BAD
 *
 * Thread placement is the OpenMP runtime's (bench_numa sets OMP_PROC_BIND
 * and OMP_PLACES when they are unset). */
#define _GNU_SOURCE
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double *map_array(size_t n)
{
	void *p = mmap(NULL, n * sizeof(double), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: bench_numa_omp N THREADS REPS\n");
		return 2;
	}
	long n = atol(argv[1]);
	int threads = atoi(argv[2]), reps = atoi(argv[3]);
	if (n < 1 || threads < 1 || reps < 1 || reps > 1000) {
		fprintf(stderr, "bench_numa_omp: bad arguments\n");
		return 2;
	}
	omp_set_dynamic(0);
	omp_set_num_threads(threads);
	double *restrict a = map_array((size_t)n);
	double *restrict b = map_array((size_t)n);
	double *restrict c = map_array((size_t)n);
	if (a == NULL || b == NULL || c == NULL) {
		perror("bench_numa_omp: mmap");
		return 1;
	}
	const double s = 3.0;
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++) {
		a[i] = 0.0;
		b[i] = (double)(i & 7);
		c[i] = (double)(i & 3);
	}
#pragma omp parallel for schedule(static)
	for (long i = 0; i < n; i++)
		a[i] = b[i] + s * c[i];
	int64_t *t = malloc(sizeof *t * (size_t)reps);
	if (t == NULL)
		return 1;
	for (int r = 0; r < reps; r++) {
		int64_t t0 = now_ns();
#pragma omp parallel for schedule(static)
		for (long i = 0; i < n; i++)
			a[i] = b[i] + s * c[i];
		t[r] = now_ns() - t0;
	}
	double sum = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
	for (long i = 0; i < n; i++)
		sum += a[i];
	/* a[i] = (i & 7) + 3 (i & 3): 64 per 8 elements, exact in doubles */
	double want = 0;
	for (long i = n - n % 8; i < n; i++)
		want += (double)(i & 7) + s * (double)(i & 3);
	want += 64.0 * (double)(n / 8);
	qsort(t, (size_t)reps, sizeof *t, cmp_i64);
	printf("omp threads=%d n=%ld reps=%d min_ns=%lld median_ns=%lld checksum=%s\n",
	       omp_get_max_threads(), n, reps, (long long)t[0], (long long)t[reps / 2],
	       sum == want ? "ok" : "BAD");
	return sum == want ? 0 : 1;
}
