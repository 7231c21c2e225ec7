/* Deadlock detection and channels, timers, deadlines (in child processes,
 * since a detected deadlock ends the process with status 2).
 *
 * Not a deadlock, so the child exits 0 without a report, while every
 * goroutine is blocked but something can still wake one:
 *  - main sleeps 200 ms;
 *  - main receives from ng_after(200 ms);
 *  - main waits in recv_until / send_until / select with a 200 ms deadline
 *    (-ETIMEDOUT), a select of NULL cases or of none with a deadline too;
 *  - main receives from a goroutine that sleeps 100 ms, or that waits in a
 *    select with a 100 ms deadline, before sending;
 *  - main receives 3 ticks from a 50 ms ticker;
 *  - main waits for a context with a 100 ms timeout;
 *  - main receives from a foreign thread that first waits 100 ms in
 *    recv_until on a channel nobody sends to (20 times: main may park just
 *    as the thread makes its first call into the runtime).
 * A deadlock: the report and exit status 2:
 *  - main blocked in a receive, goroutines blocked in a send, a select, a
 *    select of no cases and a select of NULL cases: the headline and one
 *    line per goroutine with its wait reason ("chan receive", "chan send",
 *    "select", "select (no cases)"), and no other goroutine lines;
 *  - main blocks forever after its timers have fired (a sleep, a timed-out
 *    receive, an ng_after that was received): the timers are gone and no
 *    longer hold the detector off.
 */
#define _GNU_SOURCE
#include "chan_util.h"
#include "ng_child.h"

static ng_child child;

/* ---- no deadlock: something can still wake a goroutine ---- */

static void sleep_main(void)
{
	CHECK_EQ(ng_sleep(200 * MS), 0);
}

static void after_main(void)
{
	ng_chan *c = ng_after(200 * MS);
	CHECK(c != NULL);
	int64_t t;
	CHECK_EQ(ng_chan_recv(c, &t), 0);
	ng_chan_release(c);
}

static void deadline_main(void)
{
	ng_chan *c = chan_make(sizeof(int), 0);
	int v = 1;
	CHECK_EQ(ng_chan_recv_until(c, &v, ng_now() + 200 * MS), -ETIMEDOUT);
	CHECK_EQ(ng_chan_send_until(c, &v, ng_now() + 200 * MS), -ETIMEDOUT);
	ng_case cs[2] = {NG_RECV_CASE(c, &v), NG_SEND_CASE(c, &v)};
	CHECK_EQ(ng_select(cs, 2, ng_now() + 200 * MS), -ETIMEDOUT);
	ng_case nils[1] = {NG_RECV_CASE(NULL, &v)};
	CHECK_EQ(ng_select(nils, 1, ng_now() + 100 * MS), -ETIMEDOUT);
	CHECK_EQ(ng_select(nils, 0, ng_now() + 100 * MS), -ETIMEDOUT);
	ng_chan_release(c);
}

typedef struct late_job {
	ng_chan *c;
	int use_select;
} late_job;

static void late_sender(void *arg)
{
	late_job *j = arg;
	if (j->use_select) {
		ng_chan *never = chan_make(sizeof(int), 0);
		ng_case cs[1] = {NG_RECV_CASE(never, NULL)};
		CHECK_EQ(ng_select(cs, 1, ng_now() + 100 * MS), -ETIMEDOUT);
		ng_chan_release(never);
	} else {
		CHECK_EQ(ng_sleep(100 * MS), 0);
	}
	send_int(j->c, 7);
	ng_chan_release(j->c);
}

static void late_sender_main(int use_select)
{
	ng_chan *c = chan_make(sizeof(int), 0);
	ng_chan_retain(c);
	GO(late_sender, (late_job){c, use_select});
	CHECK_EQ(recv_int(c), 7);
	ng_chan_release(c);
}

static void sleeping_sender_main(void)
{
	late_sender_main(0);
}

static void selecting_sender_main(void)
{
	late_sender_main(1);
}

static void ticker_main(void)
{
	ng_chan *c = NULL;
	ng_timer *tm = ng_timer_start(50 * MS, 50 * MS, &c);
	CHECK(tm != NULL);
	for (int i = 0; i < 3; i++) {
		int64_t t;
		CHECK_EQ(ng_chan_recv(c, &t), 0);
	}
	CHECK_EQ(ng_timer_stop(tm), 0);
	ng_chan_release(c);
}

static void context_main(void)
{
	ng_ctx *ctx = ng_ctx_with_timeout(NULL, 100 * MS);
	CHECK(ctx != NULL);
	CHECK_EQ(ng_chan_recv(ng_ctx_done(ctx), NULL), -EPIPE);
	CHECK_EQ(ng_ctx_err(ctx), -ETIMEDOUT);
	ng_ctx_release(ctx);
}

static ng_chan *from_thread;

static void *timed_thread(void *arg)
{
	(void)arg;
	ng_chan *never = chan_make(sizeof(int), 0);
	int v;
	CHECK_EQ(ng_chan_recv_until(never, &v, ng_now() + 100 * MS), -ETIMEDOUT);
	ng_chan_release(never);
	send_int(from_thread, 9);
	return NULL;
}

static void foreign_deadline_main(void)
{
	from_thread = chan_make(sizeof(int), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, timed_thread, NULL), 0);
	CHECK_EQ(recv_int(from_thread), 9);
	CHECK_EQ(pthread_join(th, NULL), 0);
	ng_chan_release(from_thread);
}

typedef struct scenario {
	const char *name;
	void (*fn)(void);
	int runs; /* a race with a thread's first call into the runtime: often */
} scenario;

static const scenario waking[] = {
    {"main sleeps", sleep_main, 1},
    {"main receives from ng_after", after_main, 1},
    {"main waits with deadlines", deadline_main, 1},
    {"main waits for a sleeping sender", sleeping_sender_main, 1},
    {"main waits for a sender in a timed select", selecting_sender_main, 1},
    {"main reads a ticker", ticker_main, 1},
    {"main waits for a context timeout", context_main, 1},
    {"main waits for a thread in recv_until", foreign_deadline_main, 20},
};

static int scenario_main(void *arg)
{
	const scenario *s = arg;
	s->fn();
	printf("scenario done: %s\n", s->name);
	return 0;
}

static int child_scenario(void *arg)
{
	return ng_run(NULL, scenario_main, arg);
}

/* ---- deadlocks ---- */

static ng_chan *dl_a, *dl_b;

static void blocked_sender(void *arg)
{
	(void)arg;
	int v = 1;
	ng_chan_send(dl_b, &v);
	printf("UNREACHABLE: blocked-sender woke up\n");
}

static void blocked_select(void *arg)
{
	(void)arg;
	int v = 1;
	ng_case cs[2] = {NG_RECV_CASE(dl_a, &v), NG_SEND_CASE(dl_b, &v)};
	ng_select(cs, 2, NG_FOREVER);
	printf("UNREACHABLE: blocked-select woke up\n");
}

static void blocked_nocases(void *arg)
{
	(void)arg;
	ng_case none[1];
	ng_select(none, 0, NG_FOREVER);
	printf("UNREACHABLE: blocked-nocases woke up\n");
}

static void blocked_nil(void *arg)
{
	(void)arg;
	int v;
	ng_case cs[2] = {NG_RECV_CASE(NULL, &v), NG_SEND_CASE(NULL, &v)};
	ng_select(cs, 2, NG_FOREVER);
	printf("UNREACHABLE: blocked-nil woke up\n");
}

static int all_blocked_main(void *arg)
{
	(void)arg;
	dl_a = keep(chan_make(sizeof(int), 0));
	dl_b = keep(chan_make(sizeof(int), 0));
	spawn_named("blocked-sender", blocked_sender, NULL);
	spawn_named("blocked-select", blocked_select, NULL);
	spawn_named("blocked-nocases", blocked_nocases, NULL);
	spawn_named("blocked-nil", blocked_nil, NULL);
	int v;
	ng_chan_recv(dl_a, &v);
	printf("UNREACHABLE: main woke up\n");
	return 0;
}

static int after_timers_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_sleep(30 * MS), 0);
	ng_chan *c = keep(chan_make(sizeof(int), 0));
	int v;
	CHECK_EQ(ng_chan_recv_until(c, &v, ng_now() + 30 * MS), -ETIMEDOUT);
	ng_chan *t = ng_after(30 * MS);
	int64_t fired;
	CHECK_EQ(ng_chan_recv(t, &fired), 0);
	ng_chan_release(t);
	printf("timers done, blocking forever\n");
	ng_chan_recv(c, &v);
	printf("UNREACHABLE: main woke up\n");
	return 0;
}

typedef int (*main_fn)(void *);

static int child_deadlock(void *arg)
{
	int rc = ng_run(NULL, *(main_fn *)arg, NULL);
	printf("UNREACHABLE: ng_run returned %d\n", rc);
	return 3;
}

static void check_report_head(const char *what)
{
	CHECK_CHILD(&child, what, ng_child_exited_with(&child, 2));
	CHECK_CHILD(&child, what,
	            strstr(child.out, "fatal error: all goroutines are asleep - deadlock!") !=
	                NULL);
	CHECK_CHILD(&child, what, strstr(child.out, "UNREACHABLE") == NULL);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < sizeof waking / sizeof waking[0]; i++) {
		const scenario *s = &waking[i];
		for (int run = 0; run < s->runs; run++) {
			ng_child_run(&child, child_scenario, (void *)s, NULL, NULL, 30);
			CHECK_CHILD(&child, s->name, ng_child_exited_with(&child, 0));
			CHECK_CHILD(&child, s->name, strstr(child.out, "deadlock") == NULL);
			CHECK_CHILD(&child, s->name, strstr(child.out, "scenario done") != NULL);
		}
		printf("no deadlock: %s (%d runs)\n", s->name, s->runs);
	}

	const char *what = "all blocked on channels";
	static main_fn all_blocked = all_blocked_main, after_timers = after_timers_main;
	ng_child_run(&child, child_deadlock, &all_blocked, NULL, NULL, 30);
	check_report_head(what);
	CHECK_CHILD(&child, what, ng_lines_starting(child.out, "goroutine ") == 5);
	CHECK_CHILD(&child, what,
	            NG_LINES_WITH(child.out, "goroutine 1 \"main\"", "[chan receive") == 1);
	CHECK_CHILD(&child, what,
	            NG_LINES_WITH(child.out, "\"blocked-sender\"", "[chan send") == 1);
	CHECK_CHILD(&child, what, NG_LINES_WITH(child.out, "\"blocked-select\"", "[select") == 1);
	CHECK_CHILD(&child, what,
	            NG_LINES_WITH(child.out, "\"blocked-nocases\"", "[select (no cases)") == 1);
	CHECK_CHILD(&child, what, NG_LINES_WITH(child.out, "\"blocked-nil\"", "[select") == 1);
	printf("deadlock reported: %s\n", what);

	what = "blocked after the timers fired";
	ng_child_run(&child, child_deadlock, &after_timers, NULL, NULL, 30);
	check_report_head(what);
	CHECK_CHILD(&child, what, strstr(child.out, "timers done") != NULL);
	CHECK_CHILD(&child, what, ng_lines_starting(child.out, "goroutine ") == 1);
	CHECK_CHILD(&child, what,
	            NG_LINES_WITH(child.out, "goroutine 1 \"main\"", "[chan receive") == 1);
	printf("deadlock reported: %s\n", what);
	printf("ok\n");
	return 0;
}
