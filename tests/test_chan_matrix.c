/* Go's TestChan (runtime/chan_test.go): every basic channel behaviour, for
 * every capacity from 0 (unbuffered) to N-1, with 4 Ps as in Go:
 *
 *  - a receive from an empty channel blocks (both receive forms), and a
 *    non-blocking receive (try_recv, select with deadline 0) fails;
 *  - a send to a full channel blocks, a non-blocking send fails;
 *  - a closed channel yields what was buffered, in order, then zero values
 *    with -EPIPE (Go's ok == false); send, close and the other calls on it
 *    say -EPIPE;
 *  - close unblocks a blocked receiver (zero, -EPIPE) and, numago's
 *    counterpart of Go's panic, blocked senders (plain and in a select) with
 *    -EPIPE, without their values entering the buffer;
 *  - 100 values arrive uncorrupted in FIFO order (both receive forms), and
 *    4 senders x 1000 values reach 4 receivers exactly once each;
 *  - len and cap.
 * Not in Go's test, because C copies bytes where Go copies typed values:
 * elements of sizes 1 to 4096 arrive whole through unbuffered and buffered
 * channels.
 *
 * Also TestShrinkStackDuringBlockedSend and TestNoShrinkStackWhileParking
 * without the runtime.GC() that shrinks Go's stacks (numago's never move):
 * a sender that uses 20 KiB of stack between sends which block, against a
 * receiver that sleeps so that they do block, still passes every value in
 * order. */
#define _GNU_SOURCE
#include "chan_util.h"

#include <stdatomic.h>
#include <stdbool.h>

#define N NG_TEST_SCALE(200, 40)

typedef struct recv_job {
	ng_chan *c;
	_Atomic int *flag;
	int with_elem;
	ng_waitgroup *wg;
} recv_job;

static void blocked_receiver(void *p)
{
	recv_job *j = p;
	int v = -1;
	/* Go's `_ = <-c` and `_, _ = <-c`: with and without a destination */
	int rc = j->with_elem ? ng_chan_recv(j->c, &v) : ng_chan_recv(j->c, NULL);
	CHECK_EQ(rc, 0);
	if (j->with_elem)
		CHECK_EQ(v, 0);
	atomic_store(j->flag, 1);
	ng_waitgroup_done(j->wg);
}

static void empty_recv_blocks(size_t cap)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	_Atomic int recv1 = 0, recv2 = 0;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
	GO(blocked_receiver, (recv_job){c, &recv1, 1, &wg});
	GO(blocked_receiver, (recv_job){c, &recv2, 0, &wg});
	ng_sleep(MS);
	if (atomic_load(&recv1) || atomic_load(&recv2))
		fprintf(stderr, "chan[%zu]: receive from empty chan\n", cap);
	CHECK(!atomic_load(&recv1) && !atomic_load(&recv2));

	int v = 7;
	CHECK_EQ(ng_chan_try_recv(c, &v), -EAGAIN);
	CHECK_EQ(v, 7);
	CHECK_EQ(ng_chan_try_recv(c, NULL), -EAGAIN);
	ng_case cs[1] = {NG_RECV_CASE(c, &v)};
	CHECK_EQ(ng_select(cs, 1, 0), -EAGAIN);
	int rc = ng_chan_recv_until(c, &v, 0);
	CHECK(rc == -EAGAIN || rc == -ETIMEDOUT); /* the contract names neither for 0 */
	CHECK_EQ(v, 7);

	send_int(c, 0);
	send_int(c, 0);
	/* the two sends are what woke them */
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK(atomic_load(&recv1) && atomic_load(&recv2));
	ng_chan_release(c);
}

typedef struct send_job {
	ng_chan *c;
	int v;
	int use_select;
	int want_rc;
	_Atomic int *sent;
	ng_waitgroup *wg;
} send_job;

static void blocked_sender(void *p)
{
	send_job *j = p;
	int rc;
	if (j->use_select) {
		ng_case cs[1] = {NG_SEND_CASE(j->c, &j->v)};
		int idx = ng_select(cs, 1, NG_FOREVER);
		CHECK_EQ(idx, 0);
		rc = cs[0].rc;
	} else {
		rc = ng_chan_send(j->c, &j->v);
	}
	CHECK_EQ(rc, j->want_rc);
	atomic_store(j->sent, 1);
	ng_waitgroup_done(j->wg);
}

static void fill(ng_chan *c, size_t cap)
{
	for (size_t i = 0; i < cap; i++)
		send_int(c, (int)i);
}

static void full_send_blocks(size_t cap)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	fill(c, cap);
	CHECK_EQ(ng_chan_len(c), cap);
	_Atomic int sent = 0;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	GO(blocked_sender, (send_job){c, 0, 0, 0, &sent, &wg});
	ng_sleep(MS);
	if (atomic_load(&sent))
		fprintf(stderr, "chan[%zu]: send to full chan\n", cap);
	CHECK(!atomic_load(&sent));

	int zero = 0;
	CHECK_EQ(ng_chan_try_send(c, &zero), -EAGAIN);
	ng_case cs[1] = {NG_SEND_CASE(c, &zero)};
	CHECK_EQ(ng_select(cs, 1, 0), -EAGAIN);
	int rc = ng_chan_send_until(c, &zero, 0);
	CHECK(rc == -EAGAIN || rc == -ETIMEDOUT);
	CHECK_EQ(ng_chan_len(c), cap);

	CHECK_EQ(recv_int(c), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK(atomic_load(&sent));
	ng_chan_release(c);
}

/* Go panics in the blocked sender; numago returns -EPIPE to it. */
static void close_unblocks_send(size_t cap)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	fill(c, cap);
	_Atomic int sent1 = 0, sent2 = 0;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
	GO(blocked_sender, (send_job){c, 1000, 0, -EPIPE, &sent1, &wg});
	GO(blocked_sender, (send_job){c, 1001, 1, -EPIPE, &sent2, &wg});
	ng_sleep(MS);
	CHECK(!atomic_load(&sent1) && !atomic_load(&sent2));
	CHECK_EQ(ng_chan_close(c), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK(atomic_load(&sent1) && atomic_load(&sent2));
	/* the refused values did not slip into the buffer */
	CHECK_EQ(ng_chan_len(c), cap);
	for (size_t i = 0; i < cap; i++)
		CHECK_EQ(recv_int(c), (int)i);
	int v = 5;
	CHECK_EQ(ng_chan_recv(c, &v), -EPIPE);
	CHECK_EQ(v, 0);
	ng_chan_release(c);
}

static void closed_yields_zero(size_t cap)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	fill(c, cap);
	CHECK_EQ(ng_chan_close(c), 0);
	CHECK_EQ(ng_chan_len(c), cap);
	CHECK_EQ(ng_chan_cap(c), cap);
	for (size_t i = 0; i < cap; i++) {
		int v = -1;
		CHECK_EQ(ng_chan_recv(c, &v), 0);
		if (v != (int)i)
			fprintf(stderr, "chan[%zu]: received %d, expected %zu\n", cap, v, i);
		CHECK_EQ(v, (int)i);
	}
	int v = 99;
	CHECK_EQ(ng_chan_recv(c, &v), -EPIPE);
	CHECK_EQ(v, 0);
	v = 99;
	CHECK_EQ(ng_chan_recv(c, &v), -EPIPE);
	CHECK_EQ(v, 0);
	CHECK_EQ(ng_chan_recv(c, NULL), -EPIPE);
	/* a closed channel is ready: non-blocking and deadline forms see it */
	v = 99;
	CHECK_EQ(ng_chan_try_recv(c, &v), -EPIPE);
	CHECK_EQ(v, 0);
	v = 99;
	CHECK_EQ(ng_chan_recv_until(c, &v, ng_now() + SEC), -EPIPE);
	CHECK_EQ(v, 0);
	v = 99;
	ng_case cs[1] = {NG_RECV_CASE(c, &v)};
	CHECK_EQ(ng_select(cs, 1, 0), 0);
	CHECK_EQ(cs[0].rc, -EPIPE);
	CHECK_EQ(v, 0);
	/* Go panics on these */
	int one = 1;
	CHECK_EQ(ng_chan_send(c, &one), -EPIPE);
	CHECK_EQ(ng_chan_try_send(c, &one), -EPIPE);
	CHECK_EQ(ng_chan_send_until(c, &one, ng_now() + SEC), -EPIPE);
	CHECK_EQ(ng_chan_close(c), -EPIPE);
	CHECK_EQ(ng_chan_len(c), 0);
	ng_chan_release(c);
}

typedef struct close_recv_job {
	ng_chan *c, *done;
} close_recv_job;

static void close_receiver(void *p)
{
	close_recv_job *j = p;
	int v = 12345;
	int rc = ng_chan_recv(j->c, &v);
	bool ok = v == 0 && rc == -EPIPE;
	CHECK_EQ(ng_chan_send(j->done, &ok), 0);
	ng_chan_release(j->c);
	ng_chan_release(j->done);
}

static void close_unblocks_recv(size_t cap)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	ng_chan *done = chan_make(sizeof(bool), 0);
	ng_chan_retain(c);
	ng_chan_retain(done);
	GO(close_receiver, (close_recv_job){c, done});
	ng_sleep(MS);
	CHECK_EQ(ng_chan_close(c), 0);
	bool ok = false;
	CHECK_EQ(ng_chan_recv(done, &ok), 0);
	if (!ok)
		fprintf(stderr, "chan[%zu]: received non zero from closed chan\n", cap);
	CHECK(ok);
	ng_chan_release(c);
	ng_chan_release(done);
}

typedef struct seq_job {
	ng_chan *c;
	int count;
	int until; /* use ng_chan_send_until(NG_FOREVER) */
	ng_waitgroup *wg;
} seq_job;

static void seq_sender(void *p)
{
	seq_job *j = p;
	for (int i = 0; i < j->count; i++) {
		if (j->until)
			CHECK_EQ(ng_chan_send_until(j->c, &i, NG_FOREVER), 0);
		else
			CHECK_EQ(ng_chan_send(j->c, &i), 0);
	}
	ng_waitgroup_done(j->wg);
}

#define P 4
#define L 1000

typedef struct count_job {
	ng_chan *c, *done;
} count_job;

static void counting_receiver(void *p)
{
	count_job *j = p;
	int *recv = calloc(L, sizeof *recv);
	CHECK(recv != NULL);
	for (int i = 0; i < L; i++) {
		int v = recv_int(j->c);
		CHECK(v >= 0 && v < L);
		recv[v]++;
	}
	CHECK_EQ(ng_chan_send(j->done, &recv), 0);
	ng_chan_release(j->c);
	ng_chan_release(j->done);
}

static void fifo_and_many(size_t cap)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	ng_waitgroup wg = NG_WAITGROUP_INIT;

	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	GO(seq_sender, (seq_job){c, 100, 0, &wg});
	for (int i = 0; i < 100; i++) {
		int v = recv_int(c);
		if (v != i)
			fprintf(stderr, "chan[%zu]: received %d, expected %d\n", cap, v, i);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);

	/* Go's second round uses `v, ok := <-c`; here the deadline form */
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	GO(seq_sender, (seq_job){c, 100, 1, &wg});
	for (int i = 0; i < 100; i++) {
		int v = -1;
		CHECK_EQ(ng_chan_recv_until(c, &v, NG_FOREVER), 0);
		CHECK_EQ(v, i);
	}
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);

	CHECK_EQ(ng_waitgroup_add(&wg, P), 0);
	for (int p = 0; p < P; p++)
		GO(seq_sender, (seq_job){c, L, 0, &wg});
	ng_chan *done = chan_make(sizeof(int *), 0);
	for (int p = 0; p < P; p++) {
		ng_chan_retain(c);
		ng_chan_retain(done);
		GO(counting_receiver, (count_job){c, done});
	}
	int total[L] = {0};
	for (int p = 0; p < P; p++) {
		int *recv = NULL;
		CHECK_EQ(ng_chan_recv(done, &recv), 0);
		for (int k = 0; k < L; k++)
			total[k] += recv[k];
		free(recv);
	}
	for (int k = 0; k < L; k++) {
		if (total[k] != P)
			fprintf(stderr, "chan[%zu]: value %d received %d times, expected %d\n", cap,
			        k, total[k], P);
		CHECK_EQ(total[k], P);
	}
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	ng_chan_release(done);
	ng_chan_release(c);
}

static void len_cap(size_t cap)
{
	ng_chan *c = chan_make(sizeof(int), cap);
	CHECK_EQ(ng_chan_len(c), 0);
	CHECK_EQ(ng_chan_cap(c), cap);
	CHECK_EQ(ng_chan_elem_size(c), sizeof(int));
	fill(c, cap);
	CHECK_EQ(ng_chan_len(c), cap);
	CHECK_EQ(ng_chan_cap(c), cap);
	ng_chan_release(c);
}

/* ---- whole elements of any size ---- */

typedef struct blob_job {
	ng_chan *c;
	size_t size;
	int count;
	ng_waitgroup *wg;
} blob_job;

static void blob_fill(unsigned char *b, size_t size, int i)
{
	for (size_t k = 0; k < size; k++)
		b[k] = (unsigned char)(i * 31 + k * 7 + 1);
}

static void blob_sender(void *p)
{
	blob_job *j = p;
	unsigned char *b = malloc(j->size);
	CHECK(b != NULL);
	for (int i = 0; i < j->count; i++) {
		blob_fill(b, j->size, i);
		CHECK_EQ(ng_chan_send(j->c, b), 0);
		/* the channel owns a copy: scribbling on ours is harmless */
		memset(b, 0xee, j->size);
	}
	free(b);
	ng_waitgroup_done(j->wg);
}

static void elem_sizes(void)
{
	static const size_t sizes[] = {1, 2, 3, 8, 16, 24, 100, 4096};
	static const size_t caps[] = {0, 1, 7};
	unsigned char *want = malloc(4096 + 1), *got = malloc(4096 + 1);
	CHECK(want != NULL && got != NULL);
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
		for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
			size_t size = sizes[s];
			ng_chan *c = chan_make(size, caps[k]);
			CHECK_EQ(ng_chan_elem_size(c), size);
			ng_waitgroup wg = NG_WAITGROUP_INIT;
			CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
			GO(blob_sender, (blob_job){c, size, 50, &wg});
			for (int i = 0; i < 50; i++) {
				got[size] = 0x5a; /* a receive writes exactly elem_size bytes */
				CHECK_EQ(ng_chan_recv(c, got), 0);
				blob_fill(want, size, i);
				if (memcmp(want, got, size) != 0)
					fprintf(stderr,
					        "elem size %zu cap %zu: element %d corrupted\n",
					        size, caps[k], i);
				CHECK(memcmp(want, got, size) == 0);
				CHECK_EQ(got[size], 0x5a);
			}
			CHECK_EQ(ng_waitgroup_wait(&wg), 0);
			ng_chan_release(c);
		}
	free(want);
	free(got);
}

/* ---- TestShrinkStackDuringBlockedSend, TestNoShrinkStackWhileParking ---- */

static void stack_growth_recursive(int i)
{
	volatile uint64_t pad[128];
	pad[0] = 0;
	if (i != 0 && pad[0] == 0)
		stack_growth_recursive(i - 1);
}

typedef struct stack_job {
	ng_chan *c, *done;
	int n;
	int64_t recv_sleep; /* 0: this is the sender */
} stack_job;

static void stack_sender(void *p)
{
	stack_job *j = p;
	for (int i = 0; i < j->n; i++) {
		send_int(j->c, i);
		stack_growth_recursive(20); /* use lots of stack, briefly */
	}
	char z = 0;
	CHECK_EQ(ng_chan_send(j->done, &z), 0);
	ng_chan_release(j->c);
	ng_chan_release(j->done);
}

static void stack_receiver(void *p)
{
	stack_job *j = p;
	for (int i = 0; i < j->n; i++) {
		ng_sleep(j->recv_sleep); /* so that the sender always fully blocks */
		CHECK_EQ(recv_int(j->c), i);
	}
	char z = 0;
	CHECK_EQ(ng_chan_send(j->done, &z), 0);
	ng_chan_release(j->c);
	ng_chan_release(j->done);
}

/* The goroutine's own references to c and done, released when it ends. */
static stack_job stack_job_ref(ng_chan *c, ng_chan *done, int n, int64_t recv_sleep)
{
	ng_chan_retain(c);
	ng_chan_retain(done);
	return (stack_job){c, done, n, recv_sleep};
}

static void stacks_and_blocked_sends(void)
{
	enum { n = 10 };
	/* TestShrinkStackDuringBlockedSend */
	ng_chan *c = chan_make(sizeof(int), 0), *done = chan_make(0, 2);
	stack_job sj = stack_job_ref(c, done, n, 0);
	GO(stack_sender, sj);
	for (int i = 0; i < n; i++) {
		int x = recv_int(c);
		if (x != i)
			fprintf(stderr, "bad channel read: want %d, got %d\n", i, x);
		CHECK_EQ(x, i);
		ng_sleep(MS);
	}
	CHECK_EQ(ng_chan_recv(done, NULL), 0);
	/* TestNoShrinkStackWhileParking */
	for (int i = 0; i < n * 20; i++) {
		stack_job rj = stack_job_ref(c, done, n, 10 * US);
		GO(stack_receiver, rj);
		sj = stack_job_ref(c, done, n, 0);
		GO(stack_sender, sj);
		ng_sleep(50 * US);
		CHECK_EQ(ng_chan_recv(done, NULL), 0);
		CHECK_EQ(ng_chan_recv(done, NULL), 0);
	}
	ng_chan_release(c);
	ng_chan_release(done);
}

static int test_main(void *arg)
{
	(void)arg;
	for (size_t cap = 0; cap < N; cap++) {
		empty_recv_blocks(cap);
		full_send_blocks(cap);
		close_unblocks_send(cap);
		closed_yields_zero(cap);
		close_unblocks_recv(cap);
		fifo_and_many(cap);
		len_cap(cap);
	}
	elem_sizes();
	stacks_and_blocked_sends();
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	ng_config cfg = {0};
	cfg.procs = 4; /* Go: runtime.GOMAXPROCS(4) */
	CHECK_EQ(ng_run(&cfg, test_main, NULL), 0);
	printf("ok\n");
	return 0;
}
