/* ng_run returning while Ms sleep on timers: shutdown empties the idle-M
 * list under sched.lock while an M woken by a timer, which had looked at
 * `stopping` before taking that lock, went on to take an idle P and remove
 * itself from the list it was no longer on ("idle M N missing from the idle
 * list", a fatal error; found by tests/stress).  Here: thousands of short
 * runs whose goroutines are still sleeping when main returns, on 3 Ps with
 * a 50 us slice; before the fix one run in about ten thousand died (1 of 3 runs of
 * this test failed then). */
#include "ng_test.h"

#include <stdint.h>

static void sleeper(void *a)
{
	ng_sleep((int64_t)(intptr_t)a);
}

static int main_g(void *arg)
{
	intptr_t k = (intptr_t)arg;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(ng_go(sleeper, (void *)(intptr_t)(100000 + 1000 * i)), 0);
	ng_sleep(100000 + (k % 7) * 500);
	return (int)(k & 0x3f);
}

int main(void)
{
	int runs = NG_TEST_SCALE(8000, 400);
	for (intptr_t k = 0; k < runs; k++) {
		ng_config cfg = {0};
		cfg.procs = 3;
		cfg.time_slice = 50000;
		CHECK_EQ(ng_run(&cfg, main_g, (void *)k), (int)(k & 0x3f));
	}
	printf("test_shutdown_race: %d runs returned with goroutines asleep on timers\n", runs);
	return 0;
}
