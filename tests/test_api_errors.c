/* The runtime API's error returns and small contracts (the headers under include/numago):
 * bad arguments are -EINVAL, calls that need a running runtime are -ESRCH
 * without one, a second runtime is -EBUSY; procs come from the config unless
 * NUMAGO_PROCS overrides it; ng_go_copy copies; attr.proc pins for good;
 * ng_exit ends only the calling goroutine; ng_run can be called many times
 * in one process, and main is goroutine 1 every time.  Timeouts and counts at
 * the ends of int64_t (found by fuzz/fuzz_api) neither wrap nor overflow: a
 * timeout of INT64_MAX ns is "never", not a deadline in the past. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void nop(void *arg)
{
	(void)arg;
}

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static ng_waitgroup wg = NG_WAITGROUP_INIT;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void done_fn(void *arg)
{
	(void)arg;
	ng_waitgroup_done(&wg);
}

/* ---- errors inside a running runtime ---- */

static void *foreign_nested_run(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)ng_run(NULL, ret_arg, NULL);
}

static int errors_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 2);
	CHECK_EQ(ng_go(NULL, NULL), -EINVAL);
	ng_go_attr attr = NG_GO_ATTR_INIT;
	CHECK_EQ(ng_go_attr(&attr, NULL, NULL), -EINVAL);
	CHECK_EQ(ng_go_copy(NULL, "x", 1), -EINVAL);

	attr.proc = ng_procs();
	CHECK_EQ(ng_go_attr(&attr, nop, NULL), -EINVAL);
	attr.proc = 1000;
	CHECK_EQ(ng_go_attr(&attr, nop, NULL), -EINVAL);
	attr.proc = -2;
	CHECK_EQ(ng_go_attr(&attr, nop, NULL), -EINVAL);
	attr.proc = -1;
	attr.stack_size = 1024;
	CHECK_EQ(ng_go_attr(&attr, nop, NULL), -EINVAL);
	attr.stack_size = 0;
	attr.numa_node = 9999; /* no such node */
	CHECK_EQ(ng_go_attr(&attr, nop, NULL), -EINVAL);

	/* arguments copied onto a 64 KiB stack: at most a quarter of it */
	static char big[65536];
	CHECK_EQ(ng_go_copy(nop, big, 65536 / 4 + 1), -EINVAL);
	CHECK_EQ(ng_go_copy(nop, big, 65536), -EINVAL);
	CHECK_EQ(ng_go_copy(nop, NULL, 8), -EINVAL);

	/* a second runtime: from a goroutine, and from a foreign thread */
	CHECK_EQ(ng_run(NULL, ret_arg, NULL), -EBUSY);
	CHECK_EQ(ng_start(NULL), -EBUSY);
	pthread_t th;
	void *res;
	CHECK_EQ(pthread_create(&th, NULL, foreign_nested_run, NULL), 0);
	CHECK_EQ(pthread_join(th, &res), 0);
	CHECK_EQ((intptr_t)res, -EBUSY);

	/* waitgroups */
	ng_waitgroup w = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&w, -1), -EINVAL);
	CHECK_EQ(ng_waitgroup_done(&w), -EINVAL);
	CHECK_EQ(ng_waitgroup_add(&w, 2), 0);
	CHECK_EQ(ng_waitgroup_add(&w, -3), -EINVAL); /* left unchanged: still 2 */
	CHECK_EQ(ng_waitgroup_done(&w), 0);
	CHECK_EQ(ng_waitgroup_done(&w), 0);
	CHECK_EQ(ng_waitgroup_done(&w), -EINVAL);
	CHECK_EQ(ng_waitgroup_wait(&w), 0); /* zero: returns at once */
	CHECK_EQ(ng_waitgroup_add(NULL, 1), -EINVAL);
	CHECK_EQ(ng_waitgroup_done(NULL), -EINVAL);
	CHECK_EQ(ng_waitgroup_wait(NULL), -EINVAL);

	/* stats */
	ng_proc_stats ps;
	ng_stats st;
	CHECK_EQ(ng_stats_proc(-1, &ps), -EINVAL);
	CHECK_EQ(ng_stats_proc(ng_procs(), &ps), -EINVAL);
	CHECK_EQ(ng_stats_proc(0, NULL), -EINVAL);
	CHECK_EQ(ng_stats_proc(0, &ps), 0);
	CHECK_EQ(ng_stats_proc(1, &ps), 0);
	CHECK_EQ(ng_stats_read(NULL), -EINVAL);
	CHECK_EQ(ng_stats_read(&st), 0);
	CHECK(st.spawns >= 1);
	CHECK(st.ms >= 1);
	return 0;
}

/* ---- ng_go_copy copies ---- */

typedef struct payload {
	char text[48];
	uint64_t words[20];
} payload;

static _Atomic int copy_ok;
static _Atomic int big_ok;

static void check_payload(void *arg)
{
	const payload *p = arg;
	int ok = strcmp(p->text, "original payload") == 0;
	for (int i = 0; i < 20; i++)
		ok = ok && p->words[i] == (uint64_t)i * 0x0101010101010101ULL;
	atomic_fetch_add(&copy_ok, ok ? 1 : -1000);
	ng_waitgroup_done(&wg);
}

static void check_big(void *arg)
{
	const unsigned char *b = arg;
	int ok = 1;
	for (int i = 0; i < 16384; i++)
		ok = ok && b[i] == (unsigned char)(i * 7 + 3);
	atomic_store(&big_ok, ok ? 1 : -1);
	ng_waitgroup_done(&wg);
}

static int copy_main(void *arg)
{
	(void)arg;
	payload src;
	memset(&src, 0, sizeof src);
	strcpy(src.text, "original payload");
	for (int i = 0; i < 20; i++)
		src.words[i] = (uint64_t)i * 0x0101010101010101ULL;
	CHECK_EQ(ng_waitgroup_add(&wg, 10), 0);
	for (int k = 0; k < 10; k++) {
		memset(&src, 0, sizeof src);
		strcpy(src.text, "original payload");
		for (int i = 0; i < 20; i++)
			src.words[i] = (uint64_t)i * 0x0101010101010101ULL;
		CHECK_EQ(ng_go_copy(check_payload, &src, sizeof src), 0);
		/* the goroutine has not run yet (one P): clobber the source */
		memset(&src, 0xAA, sizeof src);
		strcpy(src.text, "overwritten");
	}
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&copy_ok), 10);

	/* again, with the source on this goroutine's stack going away */
	memset(&src, 0, sizeof src);
	strcpy(src.text, "original payload");
	for (int i = 0; i < 20; i++)
		src.words[i] = (uint64_t)i * 0x0101010101010101ULL;
	atomic_store(&copy_ok, 0);
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go_copy(check_payload, &src, sizeof src), 0);
	memset(&src, 0x55, sizeof src);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&copy_ok), 1);

	/* exactly a quarter of the 64 KiB stack is allowed */
	static unsigned char big[16384];
	for (int i = 0; i < 16384; i++)
		big[i] = (unsigned char)(i * 7 + 3);
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go_copy(check_big, big, sizeof big), 0);
	memset(big, 0, sizeof big);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&big_ok), 1);
	return 0;
}

/* ---- pinning ---- */

#define PINNED 8
static _Atomic int pin_wrong;
static _Atomic int pin_runs;
static ng_waitgroup ping = NG_WAITGROUP_INIT;

static void pinned(void *arg)
{
	int want = (int)(intptr_t)arg;
	for (int i = 0; i < 2000; i++) {
		if (ng_self_proc() != want)
			atomic_store(&pin_wrong, 1);
		atomic_fetch_add(&pin_runs, 1);
		ng_yield();
	}
	/* blocking and being readied from another P keep the pin too */
	ng_waitgroup_wait(&ping);
	if (ng_self_proc() != want)
		atomic_store(&pin_wrong, 1);
	ng_waitgroup_done(&wg);
}

static void unpinned_spinner(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++)
		ng_yield();
	ng_waitgroup_done(&wg);
}

static void releaser(void *arg)
{
	(void)arg;
	ng_waitgroup_done(&ping);
	ng_waitgroup_done(&wg);
}

static int pin_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 2);
	ng_go_attr a1 = NG_GO_ATTR_INIT, a0 = NG_GO_ATTR_INIT;
	a1.proc = 1;
	a0.proc = 0;
	CHECK_EQ(ng_waitgroup_add(&ping, 1), 0);
	CHECK_EQ(ng_waitgroup_add(&wg, 2 * PINNED + 4), 0);
	for (int i = 0; i < PINNED; i++) {
		CHECK_EQ(ng_go_attr(&a1, pinned, (void *)1), 0);
		CHECK_EQ(ng_go_attr(&a0, pinned, (void *)0), 0);
	}
	for (int i = 0; i < 3; i++)
		CHECK_EQ(ng_go(unpinned_spinner, NULL), 0);
	while (atomic_load(&pin_runs) < 2 * PINNED * 2000)
		ng_yield();
	CHECK_EQ(ng_go_attr(&a0, releaser, NULL), 0); /* readies P1's goroutines from P0 */
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(atomic_load(&pin_wrong), 0);
	return 0;
}

/* ---- ng_exit ---- */

static _Atomic int after_exit;

static void exits_early(void *arg)
{
	(void)arg;
	ng_waitgroup_done(&wg);
	ng_exit();
	atomic_store(&after_exit, 1); /* never runs */
}

static int exit_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_waitgroup_add(&wg, 100), 0);
	for (int i = 0; i < 100; i++)
		CHECK_EQ(ng_go(exits_early, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	int64_t deadline = now_ns() + 10000000000LL;
	while (ng_num_goroutines() != 1 && now_ns() < deadline)
		ng_yield(); /* the last ones may still be on their way out */
	CHECK_EQ(ng_num_goroutines(), 1);
	CHECK_EQ(atomic_load(&after_exit), 0);
	return 0;
}

/* ---- procs and repeated runs ---- */

static int procs_main(void *arg)
{
	(void)arg;
	return ng_procs();
}

static int repeat_main(void *arg)
{
	CHECK_EQ(ng_id(), 1); /* goroutine 1 in every run */
	CHECK_EQ(ng_num_goroutines(), 1);
	CHECK_EQ(ng_waitgroup_add(&wg, 50), 0);
	for (int i = 0; i < 50; i++)
		CHECK_EQ(ng_go(done_fn, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	return 100 + (int)(intptr_t)arg;
}

static void *foreign_read_past(void *arg)
{
	int fd = ((int *)arg)[0], wfd = ((int *)arg)[1];
	char b;
	/* a deadline below NG_FOREVER is long past (and once overflowed) */
	CHECK_EQ(ng_read(fd, &b, 1, INT64_MIN), -ETIMEDOUT);
	CHECK_EQ(ng_fd_wait(fd, NG_READABLE, -2), -ETIMEDOUT);
	/* ready: both a goroutine and a foreign thread look before the
	 * deadline counts */
	CHECK_EQ(ng_fd_wait(wfd, NG_WRITABLE, 1), NG_WRITABLE);
	CHECK_EQ(ng_fd_wait(wfd, NG_WRITABLE, INT64_MIN), NG_WRITABLE);
	return NULL;
}

static int limits_main(void *arg)
{
	(void)arg;
	int fds[2];
	CHECK_EQ(pipe(fds), 0);
	char b;
	CHECK_EQ(ng_read(fds[0], &b, 1, INT64_MIN), -ETIMEDOUT);
	CHECK_EQ(ng_fd_wait(fds[0], NG_READABLE, -2), -ETIMEDOUT);
	CHECK_EQ(ng_fd_wait(fds[1], NG_WRITABLE, 1), NG_WRITABLE);
	CHECK_EQ(ng_fd_wait(fds[1], NG_WRITABLE, INT64_MIN), NG_WRITABLE);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, foreign_read_past, fds), 0);
	ng_block_enter();
	CHECK_EQ(pthread_join(th, NULL), 0);
	ng_block_exit();
	close(fds[0]);
	close(fds[1]);
	ng_waitgroup w = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&w, INT64_MAX), -EINVAL);
	CHECK_EQ(ng_waitgroup_add(&w, INT64_MIN), -EINVAL);
	CHECK_EQ(ng_waitgroup_add(&w, (int64_t)INT32_MAX + 1), -EINVAL);
	CHECK_EQ(ng_waitgroup_add(&w, INT32_MAX), 0);
	CHECK_EQ(ng_waitgroup_add(&w, 1), -EINVAL);
	CHECK_EQ(ng_waitgroup_add(&w, -(int64_t)INT32_MAX), 0);
	CHECK_EQ(ng_waitgroup_wait(&w), 0);

	/* a wrapped deadline would be in the past: these would fire at once */
	ng_chan *after = ng_after(INT64_MAX);
	CHECK(after != NULL);
	ng_ctx *ctx = ng_ctx_with_timeout(ng_ctx_background(), INT64_MAX);
	CHECK(ctx != NULL);
	ng_chan *tick = NULL, *tick2 = NULL;
	ng_timer *far = ng_timer_start(INT64_MAX, INT64_MAX, &tick);
	CHECK(far != NULL);
	/* first tick now, the next one INT64_MAX ns later: exactly one */
	ng_timer *once = ng_timer_start(1, INT64_MAX, &tick2);
	CHECK(once != NULL);
	CHECK_EQ(ng_sleep(20 * 1000000LL), 0);
	int64_t v;
	CHECK_EQ(ng_chan_try_recv(after, &v), -EAGAIN);
	CHECK_EQ(ng_chan_try_recv(tick, &v), -EAGAIN);
	CHECK_EQ(ng_chan_try_recv(tick2, &v), 0);
	CHECK_EQ(ng_chan_try_recv(tick2, &v), -EAGAIN);
	CHECK_EQ(ng_ctx_err(ctx), 0);
	CHECK_EQ(ng_timer_stop(far), 0);
	CHECK_EQ(ng_timer_stop(once), 0);
	ng_chan_release(tick);
	ng_chan_release(tick2);
	ng_chan_release(after);
	ng_ctx_cancel(ctx);
	ng_ctx_release(ctx);
	return 0;
}

int main(void)
{
	/* no runtime */
	CHECK_EQ(ng_go(nop, NULL), -ESRCH);
	ng_go_attr attr = NG_GO_ATTR_INIT;
	CHECK_EQ(ng_go_attr(&attr, nop, NULL), -ESRCH);
	CHECK_EQ(ng_go_copy(nop, "x", 1), -ESRCH);
	CHECK_EQ(ng_procs(), 0);
	CHECK_EQ(ng_id(), 0);
	CHECK_EQ(ng_self_proc(), -1);
	CHECK_EQ(ng_num_goroutines(), 0);
	CHECK_EQ(ng_stop(), -ESRCH);
	ng_proc_stats ps;
	ng_stats st;
	CHECK_EQ(ng_stats_proc(0, &ps), -ESRCH);
	CHECK_EQ(ng_stats_read(&st), -ESRCH);
	ng_yield(); /* harmless in a foreign thread */

	/* bad ng_run arguments */
	CHECK_EQ(ng_run(NULL, NULL, NULL), -EINVAL);
	ng_config cfg = {0};
	cfg.procs = -1;
	CHECK_EQ(ng_run(&cfg, ret_arg, NULL), -EINVAL);
	cfg.procs = 0;
	cfg.stack_size = 1024;
	CHECK_EQ(ng_run(&cfg, ret_arg, NULL), -EINVAL);
	cfg.stack_size = 0;
	cfg.deadlock = 42;
	CHECK_EQ(ng_run(&cfg, ret_arg, NULL), -EINVAL);
	cfg.deadlock = 0;
	CHECK_EQ(ng_procs(), 0); /* nothing was left running */

	cfg.procs = 2;
	cfg.stack_size = 65536;
	CHECK_EQ(ng_run(&cfg, errors_main, NULL), 0);
	cfg.stack_size = 0;
	/* a slice of INT64_MAX ns: never preempted, and sysmon's arithmetic
	 * with it does not overflow */
	cfg.time_slice = INT64_MAX;
	CHECK_EQ(ng_run(&cfg, limits_main, NULL), 0);
	cfg.time_slice = 0;

	/* procs from the config, and NUMAGO_PROCS over it */
	cfg.procs = 3;
	CHECK_EQ(ng_run(&cfg, procs_main, NULL), 3);
	CHECK_EQ(setenv("NUMAGO_PROCS", "1", 1), 0);
	CHECK_EQ(ng_run(&cfg, procs_main, NULL), 1);
	CHECK_EQ(ng_run(NULL, procs_main, NULL), 1);
	CHECK_EQ(unsetenv("NUMAGO_PROCS"), 0);
	CHECK_EQ(ng_run(&cfg, procs_main, NULL), 3);
	CHECK(ng_run(NULL, procs_main, NULL) >= 1); /* auto */

	cfg.procs = 1;
	cfg.stack_size = 65536;
	CHECK_EQ(ng_run(&cfg, copy_main, NULL), 0);
	cfg.stack_size = 0;

	cfg.procs = 2;
	CHECK_EQ(ng_run(&cfg, pin_main, NULL), 0);
	CHECK_EQ(ng_run(&cfg, exit_main, NULL), 0);

	for (int i = 0; i < 20; i++) {
		cfg.procs = 1 + i % 3;
		CHECK_EQ(ng_run(&cfg, repeat_main, (void *)(intptr_t)i), 100 + i);
		CHECK_EQ(ng_procs(), 0);
		CHECK_EQ(ng_go(nop, NULL), -ESRCH);
	}
	printf("ok\n");
	return 0;
}
