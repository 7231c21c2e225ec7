/* Goroutine dumps:
 *
 *  1. Child process: main parks three goroutines named "sleeper" in a
 *     waitgroup and sends itself SIGQUIT.  The process exits with status 2
 *     and its stderr has "SIGQUIT: quit" and one line per goroutine: main
 *     (goroutine 1, running) and the sleepers with their wait reason and
 *     creation site.
 *  2. In-process ng_dump_goroutines(fd) into a pipe, on one P: the dumping
 *     goroutine is "running", parked ones show their wait reason, a spawned
 *     one that has not run yet is "runnable", finished ones are not listed.
 */
#define _GNU_SOURCE
#include "ng_child.h"
#include "ng_test.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

static ng_child child;
static ng_waitgroup hold = NG_WAITGROUP_INIT;
static ng_waitgroup wg = NG_WAITGROUP_INIT;
static _Atomic int waiting;

static void sleeper(void *arg)
{
	(void)arg;
	atomic_fetch_add(&waiting, 1);
	ng_waitgroup_wait(&hold);
	ng_waitgroup_done(&wg);
}

static int spawn_sleeper(void)
{
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.name = "sleeper";
	return ng_go_attr(&attr, sleeper, NULL);
}
static const int spawn_sleeper_line = __LINE__ - 2; /* the ng_go_attr line */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void park_sleepers(int n)
{
	atomic_store(&waiting, 0);
	CHECK_EQ(ng_waitgroup_add(&hold, 1), 0);
	CHECK_EQ(ng_waitgroup_add(&wg, n), 0);
	for (int i = 0; i < n; i++)
		CHECK_EQ(spawn_sleeper(), 0);
	while (atomic_load(&waiting) < n)
		ng_yield();
	for (int i = 0; i < 100; i++)
		ng_yield(); /* past the counter, into the wait */
}

/* ---- 1 ---- */

static int quit_main(void *arg)
{
	(void)arg;
	park_sleepers(3);
	kill(getpid(), SIGQUIT);
	int64_t until = now_ns() + 10000000000LL;
	while (now_ns() < until)
		ng_yield();
	printf("UNREACHABLE: still running 10 s after SIGQUIT\n");
	return 0;
}

static int child_main(void *arg)
{
	(void)arg;
	signal(SIGQUIT, SIG_DFL); /* whatever the test harness left us */
	int rc = ng_run(NULL, quit_main, NULL);
	printf("UNREACHABLE: ng_run returned %d\n", rc);
	return 3;
}

/* ---- 2 ---- */

static void not_yet(void *arg)
{
	(void)arg;
	ng_waitgroup_done(&wg);
}

static void finished(void *arg)
{
	(void)arg;
}

static char dump[64 * 1024];

static int dump_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 1);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(ng_go(finished, NULL), 0);
	park_sleepers(2); /* the finished ones ran and exited meanwhile */
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.name = "not-yet";
	CHECK_EQ(ng_go_attr(&attr, not_yet, NULL), 0); /* one P: stays runnable */

	int fds[2];
	CHECK_EQ(pipe(fds), 0);
	ng_dump_goroutines(fds[1]);
	close(fds[1]);
	size_t len = 0;
	ssize_t n;
	while ((n = read(fds[0], dump + len, sizeof dump - 1 - len)) > 0)
		len += (size_t)n;
	dump[len] = '\0';
	close(fds[0]);

	static ng_child dumped; /* only for printing on failure */
	ng_child *cp = &dumped;
	memcpy(cp->out, dump, len + 1);
	cp->status = 0;
	const char *what = "ng_dump_goroutines";
	char site[128];
	snprintf(site, sizeof site, "test_sigquit_dump.c:%d", spawn_sleeper_line);
	CHECK_CHILD(cp, what, ng_lines_starting(dump, "goroutine ") == 4);
	CHECK_CHILD(cp, what, NG_LINES_WITH(dump, "goroutine 1 \"main\"", "[running]") == 1);
	CHECK_CHILD(cp, what,
	            NG_LINES_WITH(dump, "\"sleeper\"", "[sync.WaitGroup.Wait]", site,
	                          "created by goroutine 1") == 2);
	CHECK_CHILD(cp, what, NG_LINES_WITH(dump, "\"not-yet\"", "[runnable]") == 1);

	CHECK_EQ(ng_waitgroup_done(&hold), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	return 0;
}

int main(void)
{
	ng_child_run(&child, child_main, NULL, NULL, NULL, 30);
	const char *what = "SIGQUIT";
	char site[128];
	snprintf(site, sizeof site, "test_sigquit_dump.c:%d", spawn_sleeper_line);
	CHECK_CHILD(&child, what, ng_child_exited_with(&child, 2));
	CHECK_CHILD(&child, what, strstr(child.out, "SIGQUIT: quit") != NULL);
	CHECK_CHILD(&child, what, ng_lines_starting(child.out, "goroutine ") == 4);
	CHECK_CHILD(&child, what,
	            NG_LINES_WITH(child.out, "goroutine 1 \"main\"", "[running]") == 1);
	CHECK_CHILD(&child, what,
	            NG_LINES_WITH(child.out, "\"sleeper\"", "[sync.WaitGroup.Wait]", site) == 3);
	CHECK_CHILD(&child, what, strstr(child.out, "UNREACHABLE") == NULL);
	CHECK_CHILD(&child, what,
	            strstr(child.out, "SIGQUIT: quit") < strstr(child.out, "goroutine 1 \"main\""));

	ng_config cfg = {0};
	cfg.procs = 1;
	CHECK_EQ(ng_run(&cfg, dump_main, NULL), 0);
	printf("ok\n");
	return 0;
}
