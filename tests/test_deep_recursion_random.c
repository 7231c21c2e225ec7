/* Goroutine stacks keep their contents across switches and migrations:
 * 100,000 goroutines, spawned in a random order (1,000 at a time), each
 * recurse to a random depth (0..200 frames, each with a 128-byte buffer
 * filled from a per-goroutine seed) and yield at random levels, on the way
 * down and on the way back up.  Each returns a checksum folded from every
 * frame's buffer after its callee returned; main computes the same recursion
 * on its own stack (without yielding) and every goroutine's result must
 * match.  Both Ps run, so a goroutine can resume on another thread than the
 * one it yielded on. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define N         NG_TEST_SCALE(100000, 10000)
#define MAX_DEPTH 200
#define WAVE      1000 /* divides N */

static uint64_t result[N];
static _Atomic uint8_t ran[N];
static _Atomic long yields;
static _Atomic int saw_proc[2];
static _Atomic long migrated; /* finished on another P than they started on */
static ng_waitgroup wg = NG_WAITGROUP_INIT;

static uint64_t mix(uint64_t x) /* splitmix64 */
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

__attribute__((noinline)) static uint64_t rec(uint64_t seed, int level, int depth, int may_yield)
{
	volatile uint64_t buf[16]; /* 128 bytes that must survive the switches */
	uint64_t x = mix(seed ^ ((uint64_t)level << 40));
	for (int i = 0; i < 16; i++)
		buf[i] = x = mix(x);
	uint64_t r = mix(x);
	if (may_yield && (r & 15) == 0) {
		atomic_fetch_add_explicit(&yields, 1, memory_order_relaxed);
		ng_yield();
	}
	uint64_t sub = level < depth ? rec(seed, level + 1, depth, may_yield) : 0x5eed;
	if (may_yield && ((r >> 8) & 15) == 0) {
		atomic_fetch_add_explicit(&yields, 1, memory_order_relaxed);
		ng_yield();
	}
	uint64_t acc = sub * 1000003u + (uint64_t)level;
	for (int i = 0; i < 16; i++)
		acc = acc * 131 + buf[i];
	return acc;
}

static uint64_t seed_of(uint64_t i)
{
	return mix(i * 2654435761u + 12345);
}

static int depth_of(uint64_t seed)
{
	return (int)(mix(seed ^ 0xdeadbeef) % (MAX_DEPTH + 1));
}

static void worker(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	uint64_t seed = seed_of(i);
	int p0 = ng_self_proc();
	result[i] = rec(seed, 0, depth_of(seed), 1);
	int p = ng_self_proc();
	if (p != p0)
		atomic_fetch_add(&migrated, 1);
	if (p >= 0 && p < 2)
		atomic_store(&saw_proc[p], 1);
	atomic_fetch_add(&ran[i], 1);
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	uint32_t *order = malloc(N * sizeof *order);
	CHECK(order != NULL);
	for (uint32_t i = 0; i < N; i++)
		order[i] = i;
	uint64_t r = 42;
	for (uint32_t i = N - 1; i > 0; i--) {
		r = mix(r);
		uint32_t j = (uint32_t)(r % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	/* In waves of WAVE, so that WAVE goroutines (not all 100,000) are in
	 * flight at once: each live stack costs a few page faults, ~30 us each
	 * on the test VMs, and stacks beyond the runtime's hot watermark (1024
	 * dead Gs) get their pages released and faulted in again. */
	for (uint32_t k = 0; k < N; k += WAVE) {
		CHECK_EQ(ng_waitgroup_add(&wg, WAVE), 0);
		for (uint32_t w = k; w < k + WAVE; w++)
			CHECK_EQ(ng_go(worker, (void *)(uintptr_t)order[w]), 0);
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	}
	free(order);

	long bad = 0;
	int max_depth = 0, zero_depth = 0;
	for (uint32_t i = 0; i < N; i++) {
		uint64_t seed = seed_of(i);
		int d = depth_of(seed);
		max_depth = d > max_depth ? d : max_depth;
		zero_depth += d == 0;
		CHECK_EQ(atomic_load(&ran[i]), 1);
		uint64_t want = rec(seed, 0, d, 0);
		if (result[i] != want) {
			if (bad < 5)
				fprintf(
				    stderr,
				    "goroutine %u (depth %d): checksum %016llx, expected %016llx\n",
				    i, d, (unsigned long long)result[i], (unsigned long long)want);
			bad++;
		}
	}
	fprintf(stderr, "%ld yields, %ld goroutines finished on another P than they started on\n",
	        atomic_load(&yields), atomic_load(&migrated));
	CHECK_EQ(bad, 0);
	/* the test covered what it claims to */
	CHECK_EQ(max_depth, MAX_DEPTH);
	CHECK(zero_depth > 0);
	CHECK(atomic_load(&yields) > N);
	if (ng_procs() >= 2) {
		CHECK(atomic_load(&saw_proc[0]));
		CHECK(atomic_load(&saw_proc[1]));
		/* some stacks really moved threads mid-recursion (thousands do;
		 * under TSan's slow, smaller run it is down to timing) */
		if (!NG_TEST_TSAN)
			CHECK(atomic_load(&migrated) > 0);
	}
	return 0;
}

int main(void)
{
	ng_config cfg = {0};
	cfg.procs = 2;
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's redzones roughly double the frames */
	cfg.stack_size = 256 << 10;
#endif
	CHECK_EQ(ng_run(&cfg, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
