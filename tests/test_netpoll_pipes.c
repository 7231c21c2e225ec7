/* Goroutines blocked on fds park, they do not hold threads:
 *
 *  1. 1,000 goroutines each blocked in ng_read on its own pipe: the Ms the
 *     runtime created (ng_stats_read().ms) and the process's threads
 *     (/proc/self/task) stay within procs + 4 while they wait and after a
 *     writer goroutine wakes them all; each reader gets its own byte.
 *  2. The yardstick: 64 goroutines blocked in read(2) itself (between
 *     ng_block_enter and ng_block_exit, the best a blocking read can do)
 *     take 64 Ms, far past that bound, so the bound would catch reads
 *     that block Ms.
 *  3. With one P, another goroutine keeps running (and timers keep firing)
 *     while 100 goroutines wait on pipes; then all 100 get their byte.
 *  4. sysmon polls when nobody else does: one P, one M, kept busy by a
 *     goroutine that only yields (the scheduler never looks for work), and
 *     a foreign thread writes the pipe a goroutine waits on: the reader
 *     runs within sysmon's 10 ms, not when the busy one gives up (3 s).
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#define MS 1000000LL

enum { N = 1000, NBLOCK = 64, NSMALL = 100 };

static int pipes[N][2];
static _Atomic int entered, got;
static ng_waitgroup wg = NG_WAITGROUP_INIT;

/* the runtime's own count (the deadlock detector's) */
static int threads(void)
{
	int n = ng_count_threads();
	CHECK(n > 0);
	return n;
}

static uint64_t ms_created(void)
{
	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	return st.ms;
}

static void wait_for(_Atomic int *v, int want)
{
	int64_t limit = ng_now() + 20000 * MS;
	while (atomic_load(v) < want) {
		CHECK(ng_now() < limit);
		ng_sleep(MS);
	}
}

static void reader(void *arg)
{
	int i = (int)(intptr_t)arg;
	atomic_fetch_add(&entered, 1);
	unsigned char c = 0;
	CHECK_EQ(ng_read(pipes[i][0], &c, 1, NG_FOREVER), 1);
	CHECK_EQ(c, (unsigned char)(i * 37));
	atomic_fetch_add(&got, 1);
	ng_waitgroup_done(&wg);
}

static void writer(void *arg)
{
	int n = (int)(intptr_t)arg;
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)(i * 37);
		CHECK_EQ(ng_write(pipes[i][1], &c, 1, NG_FOREVER), 1);
	}
}

static void open_pipes(int n)
{
	for (int i = 0; i < n; i++)
		CHECK_EQ(pipe2(pipes[i], O_CLOEXEC), 0);
}

static void close_pipes(int n)
{
	for (int i = 0; i < n; i++) {
		CHECK_EQ(ng_fd_close(pipes[i][0]), 0);
		CHECK_EQ(ng_fd_close(pipes[i][1]), 0);
	}
}

/* ---- 1 ---- */

static int boot_threads;

static int many_main(void *arg)
{
	(void)arg;
	int procs = ng_procs();
	open_pipes(N);
	atomic_store(&entered, 0);
	atomic_store(&got, 0);
	ng_waitgroup_add(&wg, N);
	for (int i = 0; i < N; i++)
		CHECK_EQ(ng_go(reader, (void *)(intptr_t)i), 0);
	wait_for(&entered, N);
	ng_sleep(200 * MS); /* all of them have parked */
	CHECK_EQ(atomic_load(&got), 0);
	uint64_t ms = ms_created();
	int th = threads();
	printf("%d goroutines blocked in ng_read on %d pipes, %d Ps: %llu Ms created, "
	       "%d threads (%d before the runtime)\n",
	       N, N, procs, (unsigned long long)ms, th, boot_threads);
	CHECK(ms <= (uint64_t)procs + 4);
	CHECK(th <= boot_threads + procs + 4 + 1 /* sysmon */);
	CHECK_EQ(ng_go(writer, (void *)(intptr_t)N), 0);
	ng_waitgroup_wait(&wg);
	CHECK_EQ(atomic_load(&got), N);
	ms = ms_created();
	printf("all %d read their byte: %llu Ms created\n", N, (unsigned long long)ms);
	CHECK(ms <= (uint64_t)procs + 4);
	close_pipes(N);
	return 0;
}

/* ---- 2 ---- */

static _Atomic int blocked_entered, blocked_done;

static void blocking_reader(void *arg)
{
	int i = (int)(intptr_t)arg;
	atomic_fetch_add(&blocked_entered, 1);
	unsigned char c = 0;
	CHECK_EQ(ng_block_enter(), 0);
	ssize_t r = read(pipes[i][0], &c, 1); /* a blocking pipe: holds the thread */
	CHECK_EQ(ng_block_exit(), 0);
	CHECK_EQ(r, 1);
	atomic_fetch_add(&blocked_done, 1);
}

static int yardstick_main(void *arg)
{
	(void)arg;
	int procs = ng_procs();
	open_pipes(NBLOCK);
	for (int i = 0; i < NBLOCK; i++)
		CHECK_EQ(ng_go(blocking_reader, (void *)(intptr_t)i), 0);
	/* sysmon hands each blocked thread's P to a new M; none comes back
	 * before we write, so all of them running means as many threads */
	wait_for(&blocked_entered, NBLOCK);
	uint64_t ms = ms_created();
	printf("%d goroutines blocked in read(2) itself: %llu Ms created\n", NBLOCK,
	       (unsigned long long)ms);
	CHECK(ms >= (uint64_t)NBLOCK);
	CHECK(ms > (uint64_t)procs + 4); /* what section 1's bound rules out */
	for (int i = 0; i < NBLOCK; i++)
		CHECK_EQ(write(pipes[i][1], "y", 1), 1);
	wait_for(&blocked_done, NBLOCK);
	close_pipes(NBLOCK);
	return 0;
}

/* ---- 3 ---- */

static _Atomic int ticks, stop_ticker, ticker_done;

static void ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_ticker)) {
		atomic_fetch_add(&ticks, 1);
		ng_sleep(50000); /* through the timer the poll sleeper waits for */
	}
	atomic_store(&ticker_done, 1);
}

static int one_p_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 1);
	open_pipes(NSMALL);
	atomic_store(&entered, 0);
	atomic_store(&got, 0);
	ng_waitgroup_add(&wg, NSMALL);
	for (int i = 0; i < NSMALL; i++)
		CHECK_EQ(ng_go(reader, (void *)(intptr_t)i), 0);
	CHECK_EQ(ng_go(ticker, NULL), 0);
	wait_for(&entered, NSMALL);
	ng_sleep(20 * MS);
	int t0 = atomic_load(&ticks);
	ng_sleep(200 * MS);
	int t1 = atomic_load(&ticks);
	printf("1 P, %d goroutines waiting on pipes: another one ran %d times in 200 ms\n", NSMALL,
	       t1 - t0);
	CHECK_EQ(atomic_load(&got), 0);
	CHECK(t1 - t0 >= 20);
	CHECK_EQ(ng_go(writer, (void *)(intptr_t)NSMALL), 0);
	ng_waitgroup_wait(&wg);
	CHECK_EQ(atomic_load(&got), NSMALL);
	atomic_store(&stop_ticker, 1);
	wait_for(&ticker_done, 1);
	close_pipes(NSMALL);
	return 0;
}

/* ---- 4 ---- */

static _Atomic int reader_done;
static _Atomic int64_t written_at, read_at;

static void sysmon_reader(void *arg)
{
	(void)arg;
	char c = 0;
	CHECK_EQ(ng_read(pipes[0][0], &c, 1, NG_FOREVER), 1);
	atomic_store(&read_at, ng_now());
	atomic_store(&reader_done, 1);
	ng_waitgroup_done(&wg);
}

static void busy_yielder(void *arg)
{
	(void)arg;
	int64_t limit = ng_now() + 3000 * MS;
	while (!atomic_load(&reader_done) && ng_now() < limit)
		ng_yield();
	ng_waitgroup_done(&wg);
}

static void *late_writer(void *arg)
{
	(void)arg;
	usleep(50000);
	atomic_store(&written_at, ng_now());
	CHECK_EQ(write(pipes[0][1], "s", 1), 1);
	return NULL;
}

static int sysmon_main(void *arg)
{
	(void)arg;
	open_pipes(1);
	ng_waitgroup_add(&wg, 2);
	CHECK_EQ(ng_go(sysmon_reader, NULL), 0);
	CHECK_EQ(ng_go(busy_yielder, NULL), 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, late_writer, NULL), 0);
	ng_waitgroup_wait(&wg);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(atomic_load(&reader_done), 1);
	int64_t lat = atomic_load(&read_at) - atomic_load(&written_at);
	printf("1 P busy yielding, a foreign write: the reader ran %.1f ms later\n",
	       (double)lat / 1e6);
	CHECK(lat < 1000 * MS);
	close_pipes(1);
	return 0;
}

int main(void)
{
	/* two descriptors per pipe */
	struct rlimit rl;
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 2 * N + 64) {
		rl.rlim_cur = rl.rlim_max;
		CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	CHECK(rl.rlim_cur >= 2 * N + 64);

	boot_threads = threads();
	ng_config cfg = {0};
	cfg.procs = 4;
	/* What is counted here is Ms held by fd waits.  An async-preempted
	 * goroutine holds its M until it runs again (core/preempt.c, rule 4):
	 * under TSan, where 1,000 spawns and wake-ups take seconds, readers
	 * preempted mid-run held a few more (CI).  No slice ends here. */
	cfg.time_slice = 60000 * MS;
	CHECK_EQ(ng_run(&cfg, many_main, NULL), 0);
	cfg.time_slice = 0;
	CHECK_EQ(ng_run(&cfg, yardstick_main, NULL), 0);
	cfg.procs = 1;
	CHECK_EQ(ng_run(&cfg, one_p_main, NULL), 0);
	/* time slices far longer than the test: no preemption sends the
	 * busy M looking for work */
	cfg.time_slice = 60000 * MS;
	CHECK_EQ(ng_run(&cfg, sysmon_main, NULL), 0);
	printf("ok\n");
	return 0;
}
