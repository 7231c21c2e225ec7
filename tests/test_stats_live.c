/* The live-object gauges of ng_stats (goroutines_live, stacks_allocated,
 * stacks_in_use, stack_bytes_mapped, timers_live, timers_queued,
 * chans_live) go up by exactly what a part creates and back down to the
 * same value once it is gone: what a soak run relies on to tell a leak
 * from churn.
 *
 * Parts, each against a baseline read at rest:
 *   blocked goroutines: +N live, +N stacks in use; after they exit, in use
 *     is back while the allocator keeps their stacks for reuse;
 *   odd-sized stacks (ng_go_attr.stack_size): allocated and mapped bytes
 *     go up by N stacks and their gaps, and all the way back at exit;
 *   ng_timer_start/stop, one-shot and periodic: timers, queue, channels;
 *   ng_after: the channel outlives the caller's reference until it fires;
 *   sleeping goroutines and deadline contexts: queued timers;
 *   a channel made on a foreign thread and released in a goroutine, and a
 *     channel kept from one ng_run to the next (the Ps' shares of the
 *     gauge survive shutdown).
 * "At rest" is waited for: exited goroutines reach a free list, and idle
 * Ms trim stacks, a moment after the waitgroup says they are done. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define MS (1000000LL)

static ng_waitgroup started = NG_WAITGROUP_INIT;
static ng_waitgroup release = NG_WAITGROUP_INIT;
static ng_waitgroup finished = NG_WAITGROUP_INIT;

static void blocked(void *arg)
{
	(void)arg;
	ng_waitgroup_done(&started);
	ng_waitgroup_wait(&release);
	ng_waitgroup_done(&finished);
}

static void sleeper(void *arg)
{
	ng_waitgroup_done(&started);
	ng_sleep(*(int64_t *)arg);
	ng_waitgroup_done(&finished);
}

static ng_stats rd(void)
{
	ng_stats s;
	CHECK_EQ(ng_stats_read(&s), 0);
	return s;
}

/* Wait until the gauges equal want's (stacks_allocated and
 * stack_bytes_mapped too when exact_stacks), then check them. */
static ng_stats settle(const ng_stats *want, int exact_stacks)
{
	ng_stats s;
	int64_t until = ng_now() + 20000 * MS;
	for (;;) {
		s = rd();
		int ok = s.goroutines_live == want->goroutines_live &&
		         s.stacks_in_use == want->stacks_in_use &&
		         s.timers_live == want->timers_live &&
		         s.timers_queued == want->timers_queued && s.chans_live == want->chans_live;
		if (exact_stacks)
			ok = ok && s.stacks_allocated == want->stacks_allocated &&
			     s.stack_bytes_mapped == want->stack_bytes_mapped;
		if (ok || ng_now() > until)
			break;
		ng_sleep(1 * MS);
	}
	CHECK_EQ(s.goroutines_live, want->goroutines_live);
	CHECK_EQ(s.stacks_in_use, want->stacks_in_use);
	CHECK_EQ(s.timers_live, want->timers_live);
	CHECK_EQ(s.timers_queued, want->timers_queued);
	CHECK_EQ(s.chans_live, want->chans_live);
	if (exact_stacks) {
		CHECK_EQ(s.stacks_allocated, want->stacks_allocated);
		CHECK_EQ(s.stack_bytes_mapped, want->stack_bytes_mapped);
	}
	/* at rest every goroutine has exactly one stack */
	CHECK_EQ(s.stacks_in_use, s.goroutines_live);
	return s;
}

static void wave(long n, const ng_go_attr *attr, ng_stats *during)
{
	ng_waitgroup_add(&started, n);
	ng_waitgroup_add(&release, 1);
	ng_waitgroup_add(&finished, n);
	for (long i = 0; i < n; i++)
		CHECK_EQ(attr ? ng_go_attr(attr, blocked, NULL) : ng_go(blocked, NULL), 0);
	ng_waitgroup_wait(&started);
	/* everyone is parked, but an idle M may be handing the pages of a
	 * batch of dead goroutines' stacks back (ng_gfree_trim): not on a
	 * free list for that moment */
	int64_t until = ng_now() + 10000 * MS;
	do
		*during = rd();
	while (during->stacks_in_use != during->goroutines_live && ng_now() < until &&
	       ng_sleep(1 * MS) == 0);
	ng_waitgroup_done(&release);
	ng_waitgroup_wait(&finished);
}

static void part_goroutines(void)
{
	long n = NG_TEST_SCALE(5000, 500);
	ng_stats base = settle(&(ng_stats){.goroutines_live = 1, .stacks_in_use = 1}, 0);
	ng_stats d;
	wave(n, NULL, &d);
	CHECK_EQ(d.goroutines_live, base.goroutines_live + n);
	CHECK_EQ(d.stacks_in_use, base.stacks_in_use + n);
	CHECK(d.stacks_allocated >= d.stacks_in_use);
	CHECK(d.stack_bytes_mapped >= (uint64_t)d.stacks_allocated * 64 * 1024);
	ng_stats after = settle(&base, 0);
	/* standard stacks stay with their dead goroutines, for the next spawn */
	CHECK_EQ(after.stacks_allocated, d.stacks_allocated);
	CHECK_EQ(after.stack_bytes_mapped, d.stack_bytes_mapped);
	/* a second wave of the same size reuses them, except that a P cannot
	 * take the dead goroutines on another P's free list (up to 64 each) */
	wave(n, NULL, &d);
	CHECK_EQ(d.stacks_in_use, base.stacks_in_use + n);
	CHECK(d.stacks_allocated >= after.stacks_allocated);
	CHECK(d.stacks_allocated <= after.stacks_allocated + ng_procs() * 64);
	after = settle(&base, 0);
	CHECK_EQ(after.stacks_allocated, d.stacks_allocated);
	printf("goroutines: %ld blocked, %lld stacks allocated, %llu bytes mapped\n", n,
	       (long long)after.stacks_allocated, (unsigned long long)after.stack_bytes_mapped);
}

static void part_odd_stacks(void)
{
	long n = NG_TEST_SCALE(300, 100);
	ng_stats base = settle(&(ng_stats){.goroutines_live = 1, .stacks_in_use = 1}, 0);
	ng_go_attr attr = {.stack_size = 256 * 1024, .numa_node = -1, .proc = -1};
	ng_stats d;
	wave(n, &attr, &d);
	CHECK_EQ(d.goroutines_live, base.goroutines_live + n);
	CHECK_EQ(d.stacks_in_use, base.stacks_in_use + n);
	CHECK_EQ(d.stacks_allocated, base.stacks_allocated + n);
	/* each with its 64 KiB guard gap */
	CHECK_EQ(d.stack_bytes_mapped, base.stack_bytes_mapped + (uint64_t)n * (256 + 64) * 1024);
	settle(&base, 1);
}

static void part_timers(void)
{
	enum { K = 64 };
	ng_stats base = rd();
	ng_timer *t[K];
	ng_chan *c[K];
	for (int i = 0; i < K; i++) {
		/* half one-shot far away, half periodic and firing */
		t[i] = ng_timer_start(i % 2 ? 3600000 * MS : 1 * MS, i % 2 ? 0 : 1 * MS, &c[i]);
		CHECK(t[i] != NULL);
	}
	ng_stats d = rd();
	CHECK_EQ(d.timers_live, base.timers_live + K);
	CHECK_EQ(d.chans_live, base.chans_live + K);
	/* a periodic timer is off the heap only while its tick runs */
	CHECK(d.timers_queued >= base.timers_queued + K / 2);
	CHECK(d.timers_queued <= base.timers_queued + K);
	int64_t v;
	CHECK_EQ(ng_chan_recv(c[0], &v), 0);
	CHECK_EQ(ng_chan_recv(c[0], &v), 0); /* ticked twice */
	for (int i = 0; i < K; i++) {
		CHECK_EQ(ng_timer_stop(t[i]), 0);
		ng_chan_release(c[i]);
	}
	settle(&base, 0);

	/* ng_after: the timer holds a reference until it fires */
	ng_chan *a[K];
	for (int i = 0; i < K; i++) {
		a[i] = ng_after(NG_TEST_SCALE(300, 2000) * MS);
		CHECK(a[i] != NULL);
	}
	d = rd();
	CHECK_EQ(d.timers_live, base.timers_live + K);
	CHECK_EQ(d.timers_queued, base.timers_queued + K);
	CHECK_EQ(d.chans_live, base.chans_live + K);
	for (int i = 1; i < K; i++)
		ng_chan_release(a[i]);
	d = rd();
	CHECK_EQ(d.chans_live, base.chans_live + K); /* the timers' references */
	CHECK_EQ(ng_chan_recv(a[0], &v), 0);
	ng_chan_release(a[0]);
	settle(&base, 0);
}

static void part_sleeps_and_contexts(void)
{
	long n = NG_TEST_SCALE(200, 50);
	ng_stats base = settle(&(ng_stats){.goroutines_live = 1, .stacks_in_use = 1}, 0);
	int64_t ns = NG_TEST_SCALE(300, 2000) * MS;
	ng_waitgroup_add(&started, n);
	ng_waitgroup_add(&finished, n);
	for (long i = 0; i < n; i++)
		CHECK_EQ(ng_go(sleeper, &ns), 0);
	ng_waitgroup_wait(&started);
	/* each queues its wake-up just after it says it started */
	ng_stats d;
	for (int64_t until = ng_now() + ns / 2;;) {
		d = rd();
		if (d.timers_queued == base.timers_queued + n || ng_now() > until)
			break;
		ng_yield();
	}
	CHECK_EQ(d.timers_queued, base.timers_queued + n);
	CHECK_EQ(d.timers_live, base.timers_live); /* not timers a program owns */
	ng_waitgroup_wait(&finished);
	settle(&base, 0);

	ng_ctx *root = ng_ctx_with_cancel(ng_ctx_background());
	ng_ctx *dl = ng_ctx_with_deadline(root, ng_now() + 3600000 * MS);
	ng_ctx *tmo = ng_ctx_with_timeout(root, 1 * MS);
	CHECK(root && dl && tmo);
	d = rd();
	CHECK_EQ(d.chans_live, base.chans_live + 3);
	CHECK(d.timers_queued >= base.timers_queued + 1); /* dl's; tmo's may have fired */
	CHECK_EQ(ng_ctx_wait(tmo, NG_FOREVER), -ETIMEDOUT);
	ng_ctx_cancel(root);
	CHECK_EQ(ng_ctx_err(dl), -ECANCELED);
	ng_ctx_release(tmo);
	ng_ctx_release(dl);
	ng_ctx_release(root);
	settle(&base, 0);
}

static void *foreign_make(void *arg)
{
	*(ng_chan **)arg = ng_chan_make(sizeof(int), 1);
	return NULL;
}

static void part_foreign(void)
{
	ng_stats base = rd();
	ng_chan *c = NULL;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, foreign_make, &c), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK(c != NULL);
	CHECK_EQ(rd().chans_live, base.chans_live + 1);
	ng_chan_release(c);
	CHECK_EQ(rd().chans_live, base.chans_live);
}

static ng_chan *kept;
static int64_t kept_chans;

static int first_run(void *arg)
{
	(void)arg;
	part_goroutines();
	part_odd_stacks();
	part_timers();
	part_sleeps_and_contexts();
	part_foreign();
	kept = ng_chan_make(sizeof(int), 4);
	CHECK(kept != NULL);
	kept_chans = rd().chans_live;
	return 0;
}

static int second_run(void *arg)
{
	(void)arg;
	ng_stats s = rd();
	CHECK_EQ(s.chans_live, kept_chans);
	CHECK_EQ(s.timers_live, 0);
	CHECK_EQ(s.goroutines_live, 1);
	CHECK_EQ(s.stacks_allocated, 1);
	ng_chan_release(kept);
	CHECK_EQ(rd().chans_live, kept_chans - 1);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ng_config cfg = {.procs = 4};
	CHECK_EQ(ng_run(&cfg, first_run, NULL), 0);
	CHECK_EQ(ng_run(&cfg, second_run, NULL), 0);
	printf("ok\n");
	return 0;
}
