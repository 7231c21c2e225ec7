/* Time: ng_now, sleeps, ng_after and periodic timers (Go's time.Sleep,
 * time.After, time.Ticker), in goroutines and in foreign threads.
 *
 *  - ng_now never goes backwards; ng_sleep(20 ms) and ng_sleep_until(now +
 *    20 ms) return no earlier than that (and not seconds late); ng_sleep of
 *    0 or less, and ng_sleep_until of a past time, return at once.
 *  - 1000 goroutines, released together by one close, sleep until random
 *    deadlines 1..50 ms away: each wakes after its own deadline, none more
 *    than MAX_LATE after it.
 *  - ng_after(20 ms) delivers once, on a cap-1 channel of int64_t, its fire
 *    time (>= start + 20 ms); ng_after(0) fires at once; releasing the
 *    channel before it fires is harmless, even for one due in an hour that
 *    is still pending when the runtime stops.
 *  - A ticker of period 10 ms ticks about 10 times in 100 ms (between 4 and
 *    11: sanitizers are slow, but more than the schedule allows is a bug),
 *    with increasing times; after ng_timer_stop nothing more arrives.  A
 *    ticker whose reader sleeps drops ticks instead of queueing them (len
 *    stays <= cap == 1) and resumes once read.
 *  - A one-shot timer (period 0) fires exactly once; one stopped before it
 *    fires never does; ng_timer_stop(NULL) is -EINVAL.
 */
#define _GNU_SOURCE
#include "chan_util.h"

#include <stdatomic.h>
#include <stdbool.h>

#define MAX_LATE (2 * SEC) /* sanitizers and loaded machines are late, not this late */

static void check_woke(const char *what, int64_t deadline, int64_t now)
{
	if (now < deadline || now - deadline > MAX_LATE)
		fprintf(stderr, "%s: woke %lld ns after its deadline\n", what,
		        (long long)(now - deadline));
	CHECK(now >= deadline);
	CHECK(now - deadline <= MAX_LATE);
}

/* ---- sleeps ---- */

static void sleeps(void *arg)
{
	(void)arg;
	int64_t a = ng_now(), b = ng_now();
	CHECK(a > 0 && b >= a);

	int64_t t0 = ng_now();
	CHECK_EQ(ng_sleep(20 * MS), 0);
	check_woke("ng_sleep(20 ms)", t0 + 20 * MS, ng_now());

	int64_t dl = ng_now() + 20 * MS;
	CHECK_EQ(ng_sleep_until(dl), 0);
	check_woke("ng_sleep_until(now + 20 ms)", dl, ng_now());

	t0 = ng_now();
	CHECK_EQ(ng_sleep(0), 0);
	CHECK_EQ(ng_sleep(-5 * SEC), 0);
	CHECK_EQ(ng_sleep_until(t0 - SEC), 0);
	CHECK(ng_now() - t0 < SEC);
}

typedef struct sleeper_job {
	ng_chan *start;
	const int64_t *base; /* set before start is closed */
	int64_t offset;
	_Atomic int *early;
	_Atomic int64_t *max_late;
	ng_waitgroup *wg;
} sleeper_job;

static void sleeper(void *arg)
{
	sleeper_job *j = arg;
	/* all start together, once all exist (spawning is slow under TSan) */
	CHECK_EQ(ng_chan_recv(j->start, NULL), -EPIPE);
	int64_t deadline = *j->base + j->offset;
	CHECK_EQ(ng_sleep_until(deadline), 0);
	int64_t late = ng_now() - deadline;
	if (late < 0)
		atomic_fetch_add(j->early, 1);
	int64_t m = atomic_load(j->max_late);
	while (late > m && !atomic_compare_exchange_weak(j->max_late, &m, late))
		;
	ng_waitgroup_done(j->wg);
}

static void many_sleepers(void)
{
	const int n = NG_TEST_SCALE(1000, 500);
	_Atomic int early = 0;
	_Atomic int64_t max_late = 0;
	int64_t base = 0;
	ng_chan *start = chan_make(0, 0);
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, n), 0);
	uint32_t r = 1;
	for (int i = 0; i < n; i++) {
		r = r * 1664525u + 1013904223u;
		int64_t offset = MS + (int64_t)((r >> 8) % (49 * 1000)) * US;
		GO(sleeper, (sleeper_job){start, &base, offset, &early, &max_late, &wg});
	}
	base = ng_now();
	CHECK_EQ(ng_chan_close(start), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	printf("%d sleepers: none early, latest woke %.1f ms late (all done after %.1f ms)\n", n,
	       (double)atomic_load(&max_late) / MS, (double)(ng_now() - base) / MS);
	CHECK_EQ(atomic_load(&early), 0);
	CHECK(atomic_load(&max_late) <= MAX_LATE);
	ng_chan_release(start);
}

/* ---- ng_after ---- */

static void after(void *arg)
{
	(void)arg;
	int64_t t0 = ng_now();
	ng_chan *c = ng_after(20 * MS);
	CHECK(c != NULL);
	CHECK_EQ(ng_chan_cap(c), 1);
	CHECK_EQ(ng_chan_elem_size(c), sizeof(int64_t));
	int64_t fired = 0;
	CHECK_EQ(ng_chan_recv(c, &fired), 0);
	int64_t now = ng_now();
	check_woke("ng_after(20 ms)", t0 + 20 * MS, now);
	CHECK(fired >= t0 + 20 * MS && fired <= now);
	/* once */
	CHECK_EQ(ng_chan_recv_until(c, &fired, ng_now() + 30 * MS), -ETIMEDOUT);
	ng_chan_release(c);

	t0 = ng_now();
	c = ng_after(0);
	CHECK(c != NULL);
	CHECK_EQ(ng_chan_recv_until(c, &fired, t0 + MAX_LATE), 0);
	ng_chan_release(c);

	/* released before it fires: nobody reads, nothing breaks */
	ng_chan_release(ng_after(5 * MS));
	ng_chan_release(ng_after(3600 * SEC)); /* still pending at shutdown */
	ng_sleep(20 * MS);
}

/* ---- periodic and one-shot timers ---- */

static void ticker(void)
{
	ng_chan *c = NULL;
	int64_t t0 = ng_now();
	ng_timer *tm = ng_timer_start(10 * MS, 10 * MS, &c);
	CHECK(tm != NULL && c != NULL);
	CHECK_EQ(ng_chan_cap(c), 1);
	int64_t end = t0 + 105 * MS, prev = t0, t;
	int ticks = 0;
	while (ng_chan_recv_until(c, &t, end) == 0) {
		CHECK(t > prev);
		CHECK(t >= t0 + 10 * MS);
		prev = t;
		ticks++;
	}
	printf("ticker: %d ticks of 10 ms in 100 ms\n", ticks);
	CHECK(ticks >= 4 && ticks <= 11);
	CHECK_EQ(ng_timer_stop(tm), 0);
	int rc;
	do
		rc = ng_chan_try_recv(c, &t); /* a tick sent before the stop */
	while (rc == 0);
	CHECK_EQ(rc, -EAGAIN);
	CHECK_EQ(ng_chan_recv_until(c, &t, ng_now() + 50 * MS), -ETIMEDOUT);
	ng_chan_release(c);
}

static void slow_reader(void)
{
	ng_chan *c = NULL;
	ng_timer *tm = ng_timer_start(MS, MS, &c);
	CHECK(tm != NULL);
	ng_sleep(50 * MS);
	CHECK(ng_chan_len(c) <= 1);
	int64_t t;
	CHECK_EQ(ng_chan_recv_until(c, &t, ng_now() + MAX_LATE), 0);
	/* dropped ticks were not queued up: ticking resumes */
	int64_t t1 = ng_now();
	CHECK_EQ(ng_chan_recv_until(c, &t, t1 + MAX_LATE), 0);
	CHECK(t >= t1 - MS);
	CHECK_EQ(ng_timer_stop(tm), 0);
	ng_chan_release(c);
}

static void one_shot(void)
{
	ng_chan *c = NULL;
	int64_t t0 = ng_now();
	ng_timer *tm = ng_timer_start(20 * MS, 0, &c);
	CHECK(tm != NULL && c != NULL);
	int64_t t;
	CHECK_EQ(ng_chan_recv(c, &t), 0);
	check_woke("one-shot timer", t0 + 20 * MS, ng_now());
	CHECK(t >= t0 + 20 * MS);
	CHECK_EQ(ng_chan_recv_until(c, &t, ng_now() + 60 * MS), -ETIMEDOUT);
	CHECK_EQ(ng_timer_stop(tm), 0);
	ng_chan_release(c);

	tm = ng_timer_start(30 * MS, 0, &c);
	CHECK(tm != NULL);
	CHECK_EQ(ng_timer_stop(tm), 0);
	CHECK_EQ(ng_chan_recv_until(c, &t, ng_now() + 80 * MS), -ETIMEDOUT);
	ng_chan_release(c);

	CHECK_EQ(ng_timer_stop(NULL), -EINVAL);
}

static void timers(void *arg)
{
	(void)arg;
	ticker();
	slow_reader();
	one_shot();
}

static int test_main(void *arg)
{
	(void)arg;
	sleeps(NULL);
	run_in(IN_THREAD, sleeps, NULL);
	printf("sleeps ok\n");
	many_sleepers();
	after(NULL);
	run_in(IN_THREAD, after, NULL);
	printf("ng_after ok\n");
	timers(NULL);
	run_in(IN_THREAD, timers, NULL);
	printf("timers ok\n");
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_EQ(ng_run(NULL, test_main, NULL), 0);
	printf("ok\n");
	return 0;
}
