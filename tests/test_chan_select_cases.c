/* Go's test/chan/select3.go and select5.go: what every kind of case does.
 *
 * select3 (blocking and "panicking" behaviour of each case kind), with
 * Go's method: run the operation in a goroutine; one that must not block
 * gets 10 s to finish, one that must block is checked after 10 ms.
 *  - A nil channel (NULL) in a select is never chosen; a select of only
 *    NULL cases, or of no cases, blocks forever; with a default (deadline
 *    0) they return -EAGAIN at once.  (Outside a select, Go blocks forever
 *    on a nil channel; numago's contract makes that -EINVAL instead.)
 *  - A send to a buffered channel with room, and a select on ready
 *    channels, do not block; a receive on an empty channel does.
 *  - A closed channel never blocks a receive (zero value, -EPIPE), in or
 *    out of a select; a send on it is Go's panic, -EPIPE here, in or out of
 *    a select.
 *  - A select that sees itself (send and receive on one unbuffered
 *    channel) blocks rather than pairing with itself.
 *  - Operations that must block are woken by closing their channel.
 *
 * select5 generates every combination of the ways to phrase one send or
 * one receive (plain, or a select with the real case among dummy cases on
 * a channel nobody uses and on nil channels, blocking or with a default
 * before or after it) and checks the value arrives and only the real case
 * runs.  The generator's choose/next enumeration is ported as is and walked
 * directly instead of printing Go source: 241 receive, 49 send and 512
 * non-blocking combinations, as many as Go generates.  Go's receive
 * destinations (x, *f(&x), y :=, an interface, a map entry) become a local,
 * a pointer from a function, a temporary, an unaligned byte buffer and a
 * heap array slot.  Not ported: recvOrder and sendOrder, which check the
 * order in which Go evaluates the channel and value expressions of a
 * select statement, a language rule with no counterpart in a C call. */
#define _GNU_SOURCE
#include "chan_util.h"

#include <stdatomic.h>
#include <stdbool.h>

/* ---- select3 ---- */

enum { NEVER = 0, ALWAYS = 1 }; /* Go: "function did" / "function did not" block */

typedef struct block_job {
	void (*f)(ng_chan *);
	ng_chan *arg; /* the channel f uses, if any */
	ng_chan *report;
} block_job;

static void run_f(void *p)
{
	block_job *j = p;
	j->f(j->arg);
	int did_not_block = 1;
	CHECK_EQ(ng_chan_send(j->report, &did_not_block), 0);
	ng_chan_release(j->report);
	if (j->arg != NULL)
		ng_chan_release(j->arg);
}

/* Runs f(arg) in a goroutine and checks that it always / never blocks.  For
 * one that blocks on arg, closing arg must then wake it. */
static void test_block(const char *what, int signal, void (*f)(ng_chan *), ng_chan *arg)
{
	ng_chan *report = chan_make(sizeof(int), 1);
	ng_chan_retain(report);
	if (arg != NULL)
		ng_chan_retain(arg);
	GO(run_f, (block_job){f, arg, report});
	int64_t wait = signal == NEVER ? 10 * SEC : 10 * MS;
	int v;
	int rc = ng_chan_recv_until(report, &v, ng_now() + wait);
	CHECK(rc == 0 || rc == -ETIMEDOUT);
	int got = rc == 0 ? NEVER : ALWAYS;
	if (got != signal)
		fprintf(stderr, "select3: %s: function %s block\n", what,
		        signal == NEVER ? "did not" : "did");
	CHECK_EQ(got, signal);
	if (signal == ALWAYS && arg != NULL) {
		CHECK_EQ(ng_chan_close(arg), 0);
		CHECK_EQ(ng_chan_recv_until(report, &v, ng_now() + 10 * SEC), 0);
	} else if (signal == ALWAYS) {
		keep(report); /* f blocks forever, holding its reference */
	}
	ng_chan_release(report);
	if (arg != NULL)
		ng_chan_release(arg);
}

static ng_chan *closedch;

static void unreachable(void)
{
	fprintf(stderr, "select3: control flow shouldn't reach here\n");
	CHECK(0);
}

static void send_async(ng_chan *unused)
{
	(void)unused;
	ng_chan *ch = chan_make(sizeof(int), 1);
	send_int(ch, 7);
	ng_chan_release(ch);
}

static void recv_closed_ten_times(ng_chan *unused)
{
	(void)unused;
	for (int i = 0; i < 10; i++) {
		int x = 5;
		CHECK_EQ(ng_chan_recv(closedch, &x), -EPIPE);
		if (x != 0)
			fprintf(stderr, "expected zero value when reading from closed channel\n");
		CHECK_EQ(x, 0);
		x = 5;
		CHECK_EQ(ng_chan_recv(closedch, NULL), -EPIPE);
		CHECK_EQ(ng_chan_try_recv(closedch, &x), -EPIPE);
		CHECK_EQ(x, 0);
	}
}

static void recv_on(ng_chan *ch)
{
	int v;
	/* woken by close in test_block */
	CHECK_EQ(ng_chan_recv(ch, &v), -EPIPE);
}

static void select_no_cases(ng_chan *unused)
{
	(void)unused;
	ng_case none[1];
	ng_select(none, 0, NG_FOREVER);
	unreachable();
}

static void select_nil_recv(ng_chan *unused)
{
	(void)unused;
	int v;
	ng_case cs[1] = {NG_RECV_CASE(NULL, &v)};
	ng_select(cs, 1, NG_FOREVER);
	unreachable();
}

static void select_nil_send(ng_chan *unused)
{
	(void)unused;
	int v = 7;
	ng_case cs[1] = {NG_SEND_CASE(NULL, &v)};
	ng_select(cs, 1, NG_FOREVER);
	unreachable();
}

static void select_nil_both(ng_chan *unused)
{
	(void)unused;
	int v = 7, w;
	ng_case cs[2] = {NG_RECV_CASE(NULL, &w), NG_SEND_CASE(NULL, &v)};
	ng_select(cs, 2, NG_FOREVER);
	unreachable();
}

static void select_recv_on(ng_chan *ch)
{
	int v = 3;
	ng_case cs[1] = {NG_RECV_CASE(ch, &v)};
	CHECK_EQ(ng_select(cs, 1, NG_FOREVER), 0);
	/* woken by close in test_block */
	CHECK_EQ(cs[0].rc, -EPIPE);
	CHECK_EQ(v, 0);
}

static void select_default_only(ng_chan *unused)
{
	(void)unused;
	ng_case none[1];
	CHECK_EQ(ng_select(none, 0, 0), -EAGAIN);
}

static void select_nil_recv_default(ng_chan *unused)
{
	(void)unused;
	int v = 3;
	ng_case cs[1] = {NG_RECV_CASE(NULL, &v)};
	CHECK_EQ(ng_select(cs, 1, 0), -EAGAIN);
	CHECK_EQ(v, 3);
}

static void select_nil_send_default(ng_chan *unused)
{
	(void)unused;
	int v = 7;
	ng_case cs[1] = {NG_SEND_CASE(NULL, &v)};
	CHECK_EQ(ng_select(cs, 1, 0), -EAGAIN);
}

static void select_ready_send(ng_chan *unused)
{
	(void)unused;
	ng_chan *ch = chan_make(sizeof(int), 1);
	int v = 7;
	ng_case cs[1] = {NG_SEND_CASE(ch, &v)};
	if (ng_select(cs, 1, 0) != 0)
		unreachable();
	CHECK_EQ(cs[0].rc, 0);
	CHECK_EQ(recv_int(ch), 7);
	ng_chan_release(ch);
}

static void select_ready_recv(ng_chan *unused)
{
	(void)unused;
	ng_chan *ch = chan_make(sizeof(int), 1);
	send_int(ch, 7);
	int v = 0;
	ng_case cs[1] = {NG_RECV_CASE(ch, &v)};
	if (ng_select(cs, 1, 0) != 0)
		unreachable();
	CHECK_EQ(cs[0].rc, 0);
	CHECK_EQ(v, 7);
	ng_chan_release(ch);
}

static void select_closed_recv(ng_chan *unused)
{
	(void)unused;
	/* Go's three forms: <-closedch, x := <-closedch, x, ok := <-closedch */
	ng_case cs[1] = {NG_RECV_CASE(closedch, NULL)};
	CHECK_EQ(ng_select(cs, 1, NG_FOREVER), 0);
	CHECK_EQ(cs[0].rc, -EPIPE);
	int x = 9;
	cs[0] = NG_RECV_CASE(closedch, &x);
	CHECK_EQ(ng_select(cs, 1, NG_FOREVER), 0);
	CHECK_EQ(cs[0].rc, -EPIPE);
	CHECK_EQ(x, 0);
}

static void select_sees_itself(ng_chan *c)
{
	int one = 1, v = 5;
	ng_case cs[2] = {NG_SEND_CASE(c, &one), NG_RECV_CASE(c, &v)};
	int idx = ng_select(cs, 2, NG_FOREVER);
	/* woken by close in test_block: either case is then ready */
	CHECK(idx == 0 || idx == 1);
	CHECK_EQ(cs[idx].rc, -EPIPE);
	if (idx == 1)
		CHECK_EQ(v, 0);
}

static void select3(void)
{
	closedch = chan_make(sizeof(int), 0);
	CHECK_EQ(ng_chan_close(closedch), 0);
	int v = 7;

	/* sending/receiving from a nil channel: Go blocks forever, numago's
	 * contract says -EINVAL */
	CHECK_EQ(ng_chan_send(NULL, &v), -EINVAL);
	CHECK_EQ(ng_chan_recv(NULL, &v), -EINVAL);

	/* sending/receiving from a nil channel inside a select is never
	 * selected */
	ng_case cs[1] = {NG_SEND_CASE(NULL, &v)};
	CHECK_EQ(ng_select(cs, 1, 0), -EAGAIN);
	cs[0] = NG_RECV_CASE(NULL, &v);
	CHECK_EQ(ng_select(cs, 1, 0), -EAGAIN);
	CHECK_EQ(v, 7);

	test_block("send to async chan with room", NEVER, send_async, NULL);
	test_block("receive from closed chan", NEVER, recv_closed_ten_times, NULL);

	/* sending to a closed channel panics in Go */
	CHECK_EQ(ng_chan_send(closedch, &v), -EPIPE);

	test_block("receive from non-ready chan", ALWAYS, recv_on, chan_make(sizeof(int), 0));
	test_block("empty select", ALWAYS, select_no_cases, NULL);
	test_block("select {<-nilch}", ALWAYS, select_nil_recv, NULL);
	test_block("select {nilch <- 7}", ALWAYS, select_nil_send, NULL);
	test_block("select {<-nilch, nilch <- 7}", ALWAYS, select_nil_both, NULL);
	test_block("select on non-ready chan", ALWAYS, select_recv_on, chan_make(sizeof(int), 0));
	test_block("select {default}", NEVER, select_default_only, NULL);
	test_block("select {<-nilch, default}", NEVER, select_nil_recv_default, NULL);
	test_block("select {nilch <- 7, default}", NEVER, select_nil_send_default, NULL);
	test_block("select ready send", NEVER, select_ready_send, NULL);
	test_block("select ready recv", NEVER, select_ready_recv, NULL);
	test_block("select on closed chan", NEVER, select_closed_recv, NULL);

	/* a send case on a closed channel is ready and "panics": -EPIPE */
	cs[0] = NG_SEND_CASE(closedch, &v);
	CHECK_EQ(ng_select(cs, 1, NG_FOREVER), 0);
	CHECK_EQ(cs[0].rc, -EPIPE);

	test_block("select sees itself", ALWAYS, select_sees_itself, chan_make(sizeof(int), 0));
	ng_chan_release(closedch);
}

/* ---- select5 ---- */

typedef struct choice {
	int i, n;
} choice;

static choice choices[64];
static int nchoices;
static int cp = -1;

/* On successive runs through the logic, choose(n) returns 0, 1, ..., n-1. */
static int choose(int n)
{
	if (cp >= nchoices) {
		/* never asked this before: start with 0 */
		CHECK(nchoices < 64);
		choices[nchoices++] = (choice){0, n};
		cp = nchoices;
		return 0;
	}
	/* otherwise give recorded answer */
	if (n != choices[cp].n)
		fprintf(stderr, "select5: inconsistent choices\n");
	CHECK_EQ(n, choices[cp].n);
	return choices[cp++].i;
}

static bool maybe(void)
{
	return choose(2) == 0;
}

static bool next(void)
{
	if (cp < 0) {
		/* start a new round */
		cp = 0;
		return true;
	}
	/* increment last choice sequence */
	cp = nchoices - 1;
	while (cp >= 0 && choices[cp].i == choices[cp].n - 1)
		cp--;
	if (cp < 0) {
		nchoices = 0;
		return false;
	}
	choices[cp].i++;
	nchoices = cp + 1;
	cp = 0;
	return true;
}

/* Go's template argument */
static bool def;

static bool maybe_default(void)
{
	if (def)
		return false;
	def = maybe();
	return def;
}

static bool must_default(void)
{
	return !def;
}

/* The generated program's globals.  c is buffered so the test is
 * single-goroutine: only which calls happen matters, not concurrency. */
static ng_chan *c, *dummy;
static int n = 1, x;
static int m[16];
static const int canary = 0x5eed;

static int *f(int *p)
{
	return p;
}

static void die(int have)
{
	fprintf(stderr, "select5: have %d want %d\n", have, n);
	CHECK(0);
}

typedef struct sel {
	ng_case cs[8];
	int nc;
	int dummy_recv[8]; /* destinations of cases that must not run */
} sel;

static void add_case(sel *s, ng_chan *ch, int op, void *elem)
{
	s->cs[s->nc] = (ng_case){ch, op, elem, 0};
	s->nc++;
}

static int *canary_slot(sel *s)
{
	s->dummy_recv[s->nc] = canary;
	return &s->dummy_recv[s->nc];
}

/* The dummy cases of Go's templates, none of which may run. */
static void dummy_cases(sel *s)
{
	static int one = 1;
	if (maybe())
		add_case(s, dummy, NG_SEND, &one);
	if (maybe())
		add_case(s, dummy, NG_RECV, canary_slot(s));
	if (maybe())
		add_case(s, NULL, NG_SEND, &one);
	if (maybe())
		add_case(s, NULL, NG_RECV, canary_slot(s));
}

static void check_dummies(const sel *s, int real)
{
	for (int k = 0; k < s->nc; k++)
		if (k != real && s->cs[k].op == NG_RECV && s->cs[k].elem == &s->dummy_recv[k])
			CHECK_EQ(s->dummy_recv[k], canary);
}

static void run_select(sel *s, int real, bool with_default)
{
	int idx = ng_select(s->cs, (size_t)s->nc, with_default ? 0 : NG_FOREVER);
	if (idx != real)
		fprintf(stderr, "select5: select ran %d (%s), want case %d\n", idx,
		        idx == -EAGAIN ? "default: nonblock" : "a dummy", real);
	CHECK_EQ(idx, real);
	CHECK_EQ(s->cs[idx].rc, 0);
	check_dummies(s, real);
}

/* Send n, receive it one way or another into x, check that they match. */
static void gen_recv(void)
{
	send_int(c, n);
	if (maybe()) {
		x = recv_int(c);
	} else {
		sel s = {.nc = 0};
		/* blocking or non-blocking, before the receive: Go compiles a
		 * two-case select with a default specially, so both places */
		bool with_default = maybe_default();
		int y = 0;
		unsigned char boxed[sizeof(int) + 1];
		int form;
		if (maybe())
			form = 0, add_case(&s, c, NG_RECV, &x);
		else if (maybe())
			form = 1, add_case(&s, c, NG_RECV, f(&x));
		else if (maybe())
			form = 2, add_case(&s, c, NG_RECV, &y);
		else if (maybe())
			form = 3, add_case(&s, c, NG_RECV, boxed + 1); /* unaligned */
		else
			form = 4, add_case(&s, c, NG_RECV, &m[13]);
		with_default |= maybe_default();
		dummy_cases(&s);
		run_select(&s, 0, with_default);
		if (form == 2)
			x = y;
		else if (form == 3)
			memcpy(&x, boxed + 1, sizeof x);
		else if (form == 4)
			x = m[13];
	}
	if (x != n)
		die(x);
	n++;
}

/* Send n one way or another, receive it into x, check that they match. */
static void gen_send(void)
{
	if (maybe()) {
		send_int(c, n);
	} else {
		sel s = {.nc = 0};
		bool with_default = maybe_default();
		add_case(&s, c, NG_SEND, &n);
		with_default |= maybe_default();
		dummy_cases(&s);
		run_select(&s, 0, with_default);
	}
	x = recv_int(c);
	if (x != n)
		die(x);
	n++;
}

/* Various combinations of non-blocking operations, none ready: receive
 * destinations must not be written. */
static void gen_nonblock(void)
{
	static int one = 1;
	x = n;
	sel s = {.nc = 0};
	bool with_default = maybe_default();
	if (maybe())
		add_case(&s, dummy, NG_SEND, &one);
	if (maybe())
		add_case(&s, NULL, NG_SEND, &one);
	if (maybe())
		add_case(&s, dummy, NG_RECV, NULL);
	if (maybe())
		add_case(&s, dummy, NG_RECV, &x);
	if (maybe()) /* Go: **(**int)(nil) = <-dummy */
		add_case(&s, dummy, NG_RECV, canary_slot(&s));
	if (maybe())
		add_case(&s, NULL, NG_RECV, NULL);
	if (maybe())
		add_case(&s, NULL, NG_RECV, &x);
	if (maybe())
		add_case(&s, NULL, NG_RECV, canary_slot(&s));
	with_default |= must_default();
	CHECK(with_default);
	int idx = ng_select(s.cs, (size_t)s.nc, 0);
	if (idx != -EAGAIN)
		fprintf(stderr, "select5: nonblock select ran case %d\n", idx);
	CHECK_EQ(idx, -EAGAIN);
	check_dummies(&s, -1);
	if (x != n)
		die(x);
	n++;
}

static int generate_all(void (*gen)(void))
{
	int count = 0;
	for (; next(); def = false) {
		gen();
		count++;
	}
	return count;
}

static void select5(void)
{
	c = chan_make(sizeof(int), 1);
	dummy = chan_make(sizeof(int), 0);
	int recv = generate_all(gen_recv);
	int send = generate_all(gen_send);
	int nonblock = generate_all(gen_nonblock);
	printf("select5: %d recv, %d send, %d nonblock cases\n", recv, send, nonblock);
	/* what Go's generator produces for these three templates */
	CHECK_EQ(recv, 241);
	CHECK_EQ(send, 49);
	CHECK_EQ(nonblock, 512);
	CHECK_EQ(ng_chan_len(c), 0);
	ng_chan_release(c);
	ng_chan_release(dummy);
}

static int test_main(void *arg)
{
	(void)arg;
	select3();
	printf("select3 ok\n");
	select5();
	printf("select5 ok\n");
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_EQ(ng_run(NULL, test_main, NULL), 0);
	printf("ok\n");
	return 0;
}
