/* ng_stop returns once nothing can ready a goroutine: timers left behind
 * by goroutines that have all finished (an ng_after due in 292 years whose
 * channel was released, a ticker nobody stopped) do not hold it, while a
 * goroutine still sleeping does (found by fuzz/fuzz_api: ng_stop waited for
 * every pending timer, for good with those two). */
#include "ng_test.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static _Atomic int left_timers, slept;
static ng_timer *_Atomic ticker;

static int64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void leave_timers(void *arg)
{
	(void)arg;
	ng_chan *far = ng_after(INT64_MAX);
	CHECK(far != NULL);
	ng_chan_release(far); /* the timer keeps its own reference */
	ng_chan *tick = NULL;
	ng_timer *tm = ng_timer_start(1000000, 1000000, &tick);
	CHECK(tm != NULL); /* not stopped while the runtime runs */
	ng_chan_release(tick);
	atomic_store(&ticker, tm);
	atomic_store(&left_timers, 1);
}

static void sleeper(void *arg)
{
	(void)arg;
	ng_sleep(200 * 1000000LL);
	atomic_store(&slept, 1);
}

int main(void)
{
	alarm(60); /* a hang fails instead of waiting for ctest */
	CHECK_EQ(ng_start(NULL), 0);
	CHECK_EQ(ng_go(leave_timers, NULL), 0);
	while (!atomic_load(&left_timers))
		usleep(1000);
	int64_t t = mono();
	CHECK_EQ(ng_stop(), 0);
	t = mono() - t;
	printf("test_stop_timers: ng_stop with a far ng_after and a running ticker left: %.1f ms\n",
	       (double)t / 1e6);
	CHECK(t < 5000000000LL);
	/* the runtime dropped it from its heap; its owner still frees it */
	CHECK_EQ(ng_timer_stop(atomic_load(&ticker)), 0);

	/* a sleeping goroutine still holds it: its timer readies it */
	CHECK_EQ(ng_start(NULL), 0);
	CHECK_EQ(ng_go(sleeper, NULL), 0);
	t = mono();
	CHECK_EQ(ng_stop(), 0);
	t = mono() - t;
	CHECK_EQ(atomic_load(&slept), 1);
	CHECK(t >= 150 * 1000000LL);
	printf("test_stop_timers: ng_stop waited %.1f ms for a goroutine sleeping 200 ms\n",
	       (double)t / 1e6);
	return 0;
}
