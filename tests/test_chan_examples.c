/* The usage examples of the API (API.md's channel, context and leak-check
 * idioms) behave as documented:
 *
 *  - a cap-3 channel closed after two sends yields 1, 2, then -EPIPE with a
 *    zeroed element;
 *  - a worker pool (4 named workers ranging over a jobs channel) turns 100
 *    jobs into 100 results, each job exactly once;
 *  - a pipeline generator -> stage -> sink, each closing its output when
 *    done, sums 0..9 to 45;
 *  - a context with a 50 ms timeout: its done channel, selected against a
 *    1 s ng_after, closes first, no earlier than 50 ms; its error is
 *    -ETIMEDOUT and its deadline 50 ms after creation; a foreign thread's
 *    ng_ctx_wait sees the same.  Cancelling a parent closes a child's done
 *    channel with -ECANCELED; ng_ctx_wait on a live context times out with
 *    -EAGAIN; the background context never closes;
 *  - ng_leak_check lists exactly the goroutines left blocked (named
 *    leak-recv, leak-send, leak-select, with their wait reasons), after
 *    letting busy goroutines finish, and nothing once those are released.
 */
#define _GNU_SOURCE
#include "chan_util.h"
#include "ng_child.h" /* ng_lines_starting, NG_LINES_WITH */

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

/* ---- closed after two sends ---- */

static void closed_after_two(void)
{
	ng_chan *c = chan_make(sizeof(int), 3);
	send_int(c, 1);
	send_int(c, 2);
	CHECK_EQ(ng_chan_close(c), 0);
	CHECK_EQ(recv_int(c), 1);
	CHECK_EQ(recv_int(c), 2);
	int v = 42;
	CHECK_EQ(ng_chan_recv(c, &v), -EPIPE);
	CHECK_EQ(v, 0);
	ng_chan_release(c);
}

/* ---- worker pool ---- */

#define JOBS    100
#define WORKERS 4

typedef struct pool {
	ng_chan *jobs, *results;
	ng_waitgroup wg;
} pool;

static void pool_worker(void *arg)
{
	pool *p = arg;
	int j;
	while (ng_chan_recv(p->jobs, &j) == 0)
		send_int(p->results, j * 2);
	ng_waitgroup_done(&p->wg);
}

static void worker_pool(void)
{
	static const char *const names[WORKERS] = {"worker-0", "worker-1", "worker-2", "worker-3"};
	static pool p = {.wg = NG_WAITGROUP_INIT};
	p.jobs = chan_make(sizeof(int), JOBS);
	p.results = chan_make(sizeof(int), JOBS);
	CHECK_EQ(ng_waitgroup_add(&p.wg, WORKERS), 0);
	for (int w = 0; w < WORKERS; w++) {
		ng_go_attr attr = NG_GO_ATTR_INIT;
		attr.name = names[w];
		CHECK_EQ(ng_go_attr(&attr, pool_worker, &p), 0);
	}
	for (int j = 1; j <= JOBS; j++)
		send_int(p.jobs, j);
	CHECK_EQ(ng_chan_close(p.jobs), 0);
	bool seen[JOBS + 1] = {false};
	long sum = 0;
	for (int k = 0; k < JOBS; k++) {
		int r = recv_int(p.results);
		CHECK(r % 2 == 0 && r / 2 >= 1 && r / 2 <= JOBS);
		CHECK(!seen[r / 2]);
		seen[r / 2] = true;
		sum += r;
	}
	CHECK_EQ(sum, JOBS * (JOBS + 1));
	CHECK_EQ(ng_waitgroup_wait(&p.wg), 0);
	CHECK_EQ(ng_chan_len(p.results), 0);
	ng_chan_release(p.jobs);
	ng_chan_release(p.results);
}

/* ---- pipeline ---- */

typedef struct stage_job {
	ng_chan *in, *out;
	ng_waitgroup *wg;
} stage_job;

static void generator(void *arg)
{
	stage_job *j = arg;
	for (int i = 0; i < 10; i++)
		send_int(j->out, i);
	CHECK_EQ(ng_chan_close(j->out), 0);
	ng_waitgroup_done(j->wg);
}

static void forward(void *arg)
{
	stage_job *j = arg;
	int v;
	while (ng_chan_recv(j->in, &v) == 0)
		send_int(j->out, v);
	CHECK_EQ(ng_chan_close(j->out), 0);
	ng_waitgroup_done(j->wg);
}

static void pipeline(void)
{
	ng_chan *a = chan_make(sizeof(int), 0), *b = chan_make(sizeof(int), 0);
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
	GO(generator, (stage_job){NULL, a, &wg});
	GO(forward, (stage_job){a, b, &wg});
	int sum = 0, v;
	while (ng_chan_recv(b, &v) == 0)
		sum += v;
	CHECK_EQ(sum, 45);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	ng_chan_release(a);
	ng_chan_release(b);
}

/* ---- contexts ---- */

static void *ctx_waiter(void *arg)
{
	ng_ctx *ctx = arg;
	int64_t t0 = ng_now();
	CHECK_EQ(ng_ctx_wait(ctx, NG_FOREVER), -ETIMEDOUT);
	CHECK(ng_now() >= ng_ctx_deadline(ctx));
	CHECK(ng_now() - t0 < 10 * SEC);
	return NULL;
}

static void context_timeout(void)
{
	int64_t t0 = ng_now();
	ng_ctx *ctx = ng_ctx_with_timeout(NULL, 50 * MS);
	CHECK(ctx != NULL);
	CHECK(ng_ctx_deadline(ctx) >= t0 + 50 * MS && ng_ctx_deadline(ctx) <= ng_now() + 50 * MS);
	CHECK_EQ(ng_ctx_err(ctx), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, ctx_waiter, ctx), 0);

	ng_chan *work = ng_after(SEC); /* the work the timeout cuts short */
	CHECK(work != NULL);
	ng_case cs[2] = {NG_RECV_CASE(ng_ctx_done(ctx), NULL), NG_RECV_CASE(work, NULL)};
	int idx = ng_select(cs, 2, NG_FOREVER);
	int64_t elapsed = ng_now() - t0;
	printf("context: done after %.1f ms\n", (double)elapsed / MS);
	CHECK_EQ(idx, 0);
	CHECK_EQ(cs[0].rc, -EPIPE);
	CHECK(elapsed >= 50 * MS);
	CHECK(elapsed < SEC);
	CHECK_EQ(ng_ctx_err(ctx), -ETIMEDOUT);
	CHECK_EQ(ng_ctx_wait(ctx, 0), -ETIMEDOUT);
	/* the thread returns as soon as it sees the expiry: joining is brief */
	CHECK_EQ(pthread_join(th, NULL), 0);
	ng_chan_release(work);
	ng_ctx_release(ctx);
}

static void context_cancel(void)
{
	ng_ctx *bg = ng_ctx_background();
	CHECK(bg != NULL);
	CHECK_EQ(ng_ctx_err(bg), 0);
	CHECK_EQ(ng_ctx_deadline(bg), NG_FOREVER);
	CHECK_EQ(ng_chan_try_recv(ng_ctx_done(bg), NULL), -EAGAIN);

	ng_ctx *parent = ng_ctx_with_cancel(NULL);
	ng_ctx *child = ng_ctx_with_timeout(parent, 10 * SEC);
	CHECK(parent != NULL && child != NULL);
	CHECK_EQ(ng_ctx_deadline(parent), NG_FOREVER);
	CHECK_EQ(ng_ctx_err(child), 0);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_ctx_wait(child, t0 + 10 * MS), -EAGAIN);
	CHECK(ng_now() >= t0 + 10 * MS);
	CHECK_EQ(ng_chan_try_recv(ng_ctx_done(child), NULL), -EAGAIN);

	ng_ctx_cancel(parent);
	CHECK_EQ(ng_chan_recv_until(ng_ctx_done(child), NULL, ng_now() + SEC), -EPIPE);
	CHECK_EQ(ng_ctx_err(child), -ECANCELED);
	CHECK_EQ(ng_ctx_err(parent), -ECANCELED);
	CHECK_EQ(ng_ctx_wait(child, NG_FOREVER), -ECANCELED);
	ng_ctx_release(child);
	ng_ctx_release(parent);

	/* releasing a child cancels it (Go's deferred cancel), not its parent */
	parent = ng_ctx_with_cancel(NULL);
	child = ng_ctx_with_cancel(parent);
	ng_chan *done = ng_ctx_done(child);
	ng_chan_retain(done);
	ng_ctx_release(child);
	CHECK_EQ(ng_chan_recv_until(done, NULL, ng_now() + SEC), -EPIPE);
	CHECK_EQ(ng_ctx_err(parent), 0);
	ng_chan_release(done);
	ng_ctx_release(parent);
}

/* ---- leak check ---- */

static ng_chan *leak_a, *leak_b;
static ng_waitgroup leak_wg = NG_WAITGROUP_INIT;

static void leak_recv(void *arg)
{
	(void)arg;
	int v;
	CHECK_EQ(ng_chan_recv(leak_a, &v), -EPIPE);
	ng_waitgroup_done(&leak_wg);
}

static void leak_send(void *arg)
{
	(void)arg;
	int v = 1;
	CHECK_EQ(ng_chan_send(leak_b, &v), -EPIPE);
	ng_waitgroup_done(&leak_wg);
}

static void leak_select(void *arg)
{
	(void)arg;
	int v = 1;
	ng_case cs[2] = {NG_RECV_CASE(leak_a, &v), NG_SEND_CASE(leak_b, &v)};
	int idx = ng_select(cs, 2, NG_FOREVER);
	CHECK(idx == 0 || idx == 1);
	CHECK_EQ(cs[idx].rc, -EPIPE);
	ng_waitgroup_done(&leak_wg);
}

/* busy for a while, then gone: the check must wait for it */
static void spinner(void *arg)
{
	int64_t until = ng_now() + (int64_t)(intptr_t)arg;
	while (ng_now() < until)
		ng_yield();
}

static void finisher(void *arg)
{
	(void)arg;
}

/* Runs ng_leak_check into a pipe; returns its result, the text in out. */
static int64_t leak_report(char *out, size_t size)
{
	int fds[2];
	CHECK_EQ(pipe(fds), 0);
	int64_t n = ng_leak_check(fds[1], ng_now() + 10 * SEC);
	close(fds[1]);
	size_t len = 0;
	ssize_t r;
	while ((r = read(fds[0], out + len, size - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(fds[0]);
	return n;
}

static void leak_check(void)
{
	static char out[65536];
	leak_a = chan_make(sizeof(int), 0);
	leak_b = chan_make(sizeof(int), 0);
	CHECK_EQ(ng_waitgroup_add(&leak_wg, 3), 0);
	spawn_named("leak-recv", leak_recv, NULL);
	spawn_named("leak-send", leak_send, NULL);
	spawn_named("leak-select", leak_select, NULL);
	for (int i = 0; i < 4; i++) {
		spawn_named("spinner", spinner, (void *)(intptr_t)(20 * MS * (i + 1)));
		spawn_named("finisher", finisher, NULL);
	}

	int64_t n = leak_report(out, sizeof out);
	printf("leak report (%lld):\n%s", (long long)n, out);
	CHECK_EQ(n, 3);
	CHECK_EQ(ng_lines_starting(out, "goroutine "), 3);
	CHECK_EQ(NG_LINES_WITH(out, "\"leak-recv\"", "[chan receive"), 1);
	CHECK_EQ(NG_LINES_WITH(out, "\"leak-send\"", "[chan send"), 1);
	CHECK_EQ(NG_LINES_WITH(out, "\"leak-select\"", "[select"), 1);
	CHECK(strstr(out, "spinner") == NULL);
	CHECK(strstr(out, "finisher") == NULL);
	CHECK(strstr(out, "\"main\"") == NULL); /* the caller is not listed */
	CHECK_EQ(ng_leak_check(-1, ng_now() + SEC), 3);

	/* released: nothing left to report */
	CHECK_EQ(ng_chan_close(leak_a), 0);
	CHECK_EQ(ng_chan_close(leak_b), 0);
	CHECK_EQ(ng_waitgroup_wait(&leak_wg), 0);
	/* they may still be on their way out: the check waits for that */
	int64_t left = leak_report(out, sizeof out);
	if (left != 0)
		fprintf(stderr, "still reported after release:\n%s", out);
	CHECK_EQ(left, 0);
	CHECK_EQ(out[0], '\0');
	ng_chan_release(leak_a);
	ng_chan_release(leak_b);
}

static int test_main(void *arg)
{
	(void)arg;
	closed_after_two();
	worker_pool();
	pipeline();
	printf("channel examples ok\n");
	context_timeout();
	context_cancel();
	printf("context examples ok\n");
	leak_check();
	printf("leak check ok\n");
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_EQ(ng_run(NULL, test_main, NULL), 0);
	printf("ok\n");
	return 0;
}
