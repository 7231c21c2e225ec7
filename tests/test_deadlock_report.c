/* Deadlock detection (Go's "all goroutines are asleep - deadlock!"):
 *
 *  1. Child process, default mode (NG_DEADLOCK_EXIT): main spawns a goroutine
 *     named "stuck-worker" that waits on a waitgroup nobody finishes, and
 *     waits on another itself.  The child exits with status 2; its stderr has
 *     the headline and one line per goroutine: goroutine 1 "main" and
 *     stuck-worker, both in sync.WaitGroup.Wait, the worker's line naming its
 *     creator and creation site (this file and line).
 *  2. Child process: main spawns a goroutine that finishes, and calls
 *     ng_exit: "no goroutines (main called ng_exit) - deadlock!", status 2,
 *     and the other goroutine did run to the end first.
 *  3. Child process: main returns while a goroutine is still blocked forever:
 *     no deadlock is reported, ng_run returns main's result (Go: when main
 *     returns the program exits, whatever the others are doing).  Repeated,
 *     since it is a race between main's exit and the shutdown.
 *  4. NG_DEADLOCK_RETURN (in a child process, to see its stderr): ng_run
 *     returns -EDEADLK in-process (the report is still written to fd 2
 *     first), for both kinds of deadlock, and the runtime can be started
 *     again afterwards.
 */
#define _GNU_SOURCE
#include "ng_child.h"
#include "ng_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

static ng_child child;

/* ---- scenario 1: main and a worker each wait forever ---- */

static ng_waitgroup never = NG_WAITGROUP_INIT;   /* count 1, nobody calls done */
static ng_waitgroup main_wg = NG_WAITGROUP_INIT; /* count 1, nobody calls done */

static void stuck(void *arg)
{
	(void)arg;
	ng_waitgroup_wait(&never);
	printf("UNREACHABLE: stuck-worker woke up\n");
}

static int spawn_stuck(void)
{
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.name = "stuck-worker";
	return ng_go_attr(&attr, stuck, NULL);
}
static const int spawn_stuck_line = __LINE__ - 2; /* the ng_go_attr line */

static int both_stuck_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_id(), 1);
	CHECK_EQ(ng_waitgroup_add(&never, 1), 0);
	CHECK_EQ(ng_waitgroup_add(&main_wg, 1), 0);
	CHECK_EQ(spawn_stuck(), 0);
	ng_waitgroup_wait(&main_wg);
	printf("UNREACHABLE: main woke up\n");
	return 0;
}

static int child_both_stuck(void *arg)
{
	(void)arg;
	int rc = ng_run(NULL, both_stuck_main, NULL);
	printf("UNREACHABLE: ng_run returned %d\n", rc);
	return 3;
}

static void check_both_stuck_report(const ng_child *c, const char *what, const char *out)
{
	char site[128];
	snprintf(site, sizeof site, "test_deadlock_report.c:%d", spawn_stuck_line);
	CHECK_CHILD(c, what,
	            strstr(out, "fatal error: all goroutines are asleep - deadlock!") != NULL);
	/* one line per goroutine, and only the two that are alive */
	CHECK_CHILD(c, what, ng_lines_starting(out, "goroutine ") == 2);
	CHECK_CHILD(c, what,
	            NG_LINES_WITH(out, "goroutine 1 \"main\"", "sync.WaitGroup.Wait") == 1);
	CHECK_CHILD(c, what, NG_LINES_WITH(out, "\"stuck-worker\"", "sync.WaitGroup.Wait") == 1);
	CHECK_CHILD(c, what, NG_LINES_WITH(out, "\"stuck-worker\"", site) == 1);
	CHECK_CHILD(c, what, NG_LINES_WITH(out, "\"stuck-worker\"", "created by goroutine 1") == 1);
	CHECK_CHILD(c, what, strstr(out, "UNREACHABLE") == NULL);
	/* the headline comes before the goroutine lines */
	CHECK_CHILD(c, what, strstr(out, "fatal error") < strstr(out, "goroutine 1 \"main\""));
}

/* ---- scenario 2: main calls ng_exit, the others finish ---- */

static _Atomic int finisher_done;

static void finisher(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++)
		ng_yield();
	atomic_store(&finisher_done, 1);
	fprintf(stderr, "finisher finished\n");
}

static int exit_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_go(finisher, NULL), 0);
	ng_exit();
}

static int child_main_exits(void *arg)
{
	(void)arg;
	int rc = ng_run(NULL, exit_main, NULL);
	printf("UNREACHABLE: ng_run returned %d\n", rc);
	return 3;
}

/* ---- scenario 3: main returns while another goroutine waits forever ---- */

static _Atomic int parked;

static void wait_forever(void *arg)
{
	atomic_store(&parked, 1);
	ng_waitgroup_wait(arg);
	printf("UNREACHABLE: abandoned goroutine woke up\n");
}

static int return_main(void *arg)
{
	ng_waitgroup *wg = arg;
	CHECK_EQ(ng_waitgroup_add(wg, 1), 0);
	CHECK_EQ(ng_go(wait_forever, wg), 0);
	while (!atomic_load(&parked))
		ng_yield();
	for (int i = 0; i < 10; i++)
		ng_yield(); /* let it really park */
	return 5;
}

static int child_main_returns(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		/* a fresh waitgroup each time: the abandoned waiter's record lived
		 * on a stack that is gone once the runtime shut down */
		ng_waitgroup *wg = calloc(1, sizeof *wg);
		CHECK(wg != NULL);
		atomic_store(&parked, 0);
		ng_config cfg = {0};
		cfg.procs = 1 + i % 2;
		int rc = ng_run(&cfg, return_main, wg);
		if (rc != 5) {
			printf("run %d: ng_run returned %d, expected 5\n", i, rc);
			return 4;
		}
		printf("run %d (procs=%d) returned 5\n", i, cfg.procs);
		/* not freed: the dead runtime never touches it again, but
		 * keeping it is harmless and keeps the test simple */
	}
	printf("all runs returned 5\n");
	return 0;
}

/* ---- scenario 4: NG_DEADLOCK_RETURN ---- */

static int normal_main(void *arg)
{
	return (int)(intptr_t)arg;
}

static int child_deadlock_return(void *arg)
{
	(void)arg;
	ng_config cfg = {0};
	cfg.deadlock = NG_DEADLOCK_RETURN;
	int rc = ng_run(&cfg, both_stuck_main, NULL);
	printf("both stuck: ng_run returned %s\n", rc == -EDEADLK ? "-EDEADLK" : "something else");
	CHECK_EQ(rc, -EDEADLK);
	/* the runtime starts again after a deadlock */
	CHECK_EQ(ng_run(NULL, normal_main, (void *)(intptr_t)11), 11);
	printf("restarted after a deadlock\n");
	atomic_store(&finisher_done, 0);
	rc = ng_run(&cfg, exit_main, NULL);
	printf("main ng_exit: ng_run returned %s\n",
	       rc == -EDEADLK ? "-EDEADLK" : "something else");
	CHECK_EQ(rc, -EDEADLK);
	CHECK_EQ(atomic_load(&finisher_done), 1);
	CHECK_EQ(ng_run(NULL, normal_main, (void *)(intptr_t)12), 12);
	return 0;
}

int main(void)
{
	/* 1 */
	ng_child_run(&child, child_both_stuck, NULL, NULL, NULL, 30);
	CHECK_CHILD(&child, "both stuck", ng_child_exited_with(&child, 2));
	check_both_stuck_report(&child, "both stuck", child.out);

	/* 2 */
	ng_child_run(&child, child_main_exits, NULL, NULL, NULL, 30);
	CHECK_CHILD(&child, "main ng_exit", ng_child_exited_with(&child, 2));
	CHECK_CHILD(&child, "main ng_exit",
	            strstr(child.out,
	                   "fatal error: no goroutines (main called ng_exit) - deadlock!") != NULL);
	CHECK_CHILD(&child, "main ng_exit", strstr(child.out, "finisher finished") != NULL);
	CHECK_CHILD(&child, "main ng_exit",
	            strstr(child.out, "finisher finished") < strstr(child.out, "fatal error"));
	CHECK_CHILD(&child, "main ng_exit", ng_lines_starting(child.out, "goroutine ") == 0);
	CHECK_CHILD(&child, "main ng_exit", strstr(child.out, "UNREACHABLE") == NULL);

	/* 4: NG_DEADLOCK_RETURN, in-process in the child */
	ng_child_run(&child, child_deadlock_return, NULL, NULL, NULL, 30);
	CHECK_CHILD(&child, "NG_DEADLOCK_RETURN", ng_child_exited_with(&child, 0));
	CHECK_CHILD(&child, "NG_DEADLOCK_RETURN",
	            strstr(child.out, "both stuck: ng_run returned -EDEADLK") != NULL);
	CHECK_CHILD(&child, "NG_DEADLOCK_RETURN",
	            strstr(child.out, "main ng_exit: ng_run returned -EDEADLK") != NULL);
	CHECK_CHILD(&child, "NG_DEADLOCK_RETURN",
	            strstr(child.out, "restarted after a deadlock") != NULL);
	/* the report is still written, before ng_run returns */
	check_both_stuck_report(&child, "NG_DEADLOCK_RETURN", child.out);
	CHECK_CHILD(&child, "NG_DEADLOCK_RETURN",
	            strstr(child.out, "fatal error: all goroutines are asleep - deadlock!") <
	                strstr(child.out, "both stuck: ng_run returned"));
	CHECK_CHILD(
	    &child, "NG_DEADLOCK_RETURN",
	    strstr(child.out, "fatal error: no goroutines (main called ng_exit) - deadlock!") <
	        strstr(child.out, "main ng_exit: ng_run returned"));
	CHECK_CHILD(&child, "NG_DEADLOCK_RETURN",
	            strstr(child.out, "main ng_exit: ng_run returned") != NULL &&
	                strstr(child.out, "finisher finished") <
	                    strstr(child.out, "main ng_exit: ng_run returned"));

	/* 3, last */
	ng_child_run(&child, child_main_returns, NULL, NULL, NULL, 60);
	CHECK_CHILD(&child, "main returns, one goroutine blocked", ng_child_exited_with(&child, 0));
	CHECK_CHILD(&child, "main returns, one goroutine blocked",
	            strstr(child.out, "deadlock") == NULL);
	printf("ok\n");
	return 0;
}
