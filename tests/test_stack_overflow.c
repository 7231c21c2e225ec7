/* A goroutine that recurses without bound on a 32 KiB stack is reported as
 * a stack overflow naming the goroutine and where it was created, and the
 * process exits with status 2 (Go's fatal error), in each guard mode
 * (NUMAGO_DEBUG=stackguard=madvise|mprotect|canary; the last may be named
 * "check").
 *
 * The recursing goroutine yields at every level: in canary/check mode there
 * is no guard page, the overflow runs into the unprotected gap below the
 * stack and is caught when the goroutine is next switched out.  Each frame
 * fills its buffer with non-zero bytes, so a canary is really overwritten.  Other
 * goroutines keep running meanwhile (a ticker), and main is blocked in a
 * waitgroup, so the overflow is not found by a deadlock report instead.
 */
#define _GNU_SOURCE
#include "ng_child.h"
#include "ng_test.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

static ng_child child;
static volatile int limit = 1 << 30; /* never reached; keeps the compiler honest */
static _Atomic long deepest;
static _Atomic int stop_ticker;

__attribute__((noinline)) static long recurse(int depth)
{
	volatile char buf[256];
	for (int i = 0; i < (int)sizeof buf; i++)
		buf[i] = (char)(depth | 1);
	atomic_store_explicit(&deepest, depth, memory_order_relaxed);
	ng_yield();
	if (depth >= limit)
		return buf[0];
	return recurse(depth + 1) + buf[depth % (int)sizeof buf];
}

static void deep(void *arg)
{
	(void)arg;
	long r = recurse(0);
	printf("UNREACHABLE: recursion returned %ld\n", r);
}

static void ticker(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_ticker))
		ng_yield();
}

static ng_waitgroup wg = NG_WAITGROUP_INIT;

static int spawn_deep(void)
{
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.name = "deep";
	attr.stack_size = 32768;
	return ng_go_attr(&attr, deep, NULL);
}
static const int spawn_deep_line = __LINE__ - 2; /* the ng_go_attr line */

static int overflow_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go(ticker, NULL), 0);
	CHECK_EQ(spawn_deep(), 0);
	ng_waitgroup_wait(&wg); /* nobody calls done: the overflow ends the process */
	printf("UNREACHABLE: main woke up\n");
	return 0;
}

static int child_main(void *arg)
{
	(void)arg;
	int rc = ng_run(NULL, overflow_main, NULL);
	printf("UNREACHABLE: ng_run returned %d\n", rc);
	return 3;
}

/* Run the child with NUMAGO_DEBUG=stackguard=<mode>; false if the runtime
 * does not know that mode name (it warns and ignores it). */
static bool run_mode(const char *mode, bool software_check)
{
	char what[64], env[64], site[128];
	snprintf(what, sizeof what, "stackguard=%s", mode);
	snprintf(env, sizeof env, "stackguard=%s", mode);
	snprintf(site, sizeof site, "test_stack_overflow.c:%d", spawn_deep_line);
	ng_child_run(&child, child_main, NULL, "NUMAGO_DEBUG", env, 30);
	if (strstr(child.out, "NUMAGO_DEBUG: stackguard must be") != NULL)
		return false;
	CHECK_CHILD(&child, what, ng_child_exited_with(&child, 2));
	CHECK_CHILD(&child, what,
	            NG_LINES_WITH(child.out, "stack overflow in goroutine", "\"deep\"", site) == 1);
	CHECK_CHILD(&child, what, strstr(child.out, "UNREACHABLE") == NULL);
	CHECK_CHILD(&child, what, strstr(child.out, "deadlock") == NULL);
	/* the mode asked for is the one that caught it: a guard page faulted,
	 * or (no guard page) the check when the goroutine was switched out */
	int guard_msg = NG_LINES_WITH(child.out, "stack overflow in goroutine", "guard page") == 1;
	CHECK_CHILD(&child, what, software_check ? !guard_msg : guard_msg);
	/* NUMAGO_DEBUG was understood */
	CHECK_CHILD(&child, what, strstr(child.out, "NUMAGO_DEBUG") == NULL);
	return true;
}

int main(void)
{
	CHECK(run_mode("madvise", false));
	CHECK(run_mode("mprotect", false));
	/* The guard-less mode, checked at switch-out, was called "canary"; it
	 * may be called "check" (it compares the stack pointer instead of a
	 * canary word).  One of the two names must work. */
	if (!run_mode("canary", true)) {
		fprintf(stderr, "note: stackguard=canary is not known to the runtime; trying "
		                "stackguard=check\n");
		CHECK(run_mode("check", true));
	}
	printf("ok\n");
	return 0;
}
