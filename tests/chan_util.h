/* tests/chan_util.h — small helpers shared by the channel, select and timer
 * tests (test_chan_*.c, test_time.c). */
#ifndef CHAN_UTIL_H
#define CHAN_UTIL_H

#include "ng_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define US  (1000LL)
#define MS  (1000000LL)
#define SEC (1000000000LL)

static inline ng_chan *chan_make(size_t elem_size, size_t cap)
{
	ng_chan *c = ng_chan_make(elem_size, cap);
	CHECK(c != NULL);
	return c;
}

static inline void send_int(ng_chan *c, int v)
{
	CHECK_EQ(ng_chan_send(c, &v), 0);
}

static inline int recv_int(ng_chan *c)
{
	int v = -1;
	CHECK_EQ(ng_chan_recv(c, &v), 0);
	return v;
}

/* Ownership in these tests: a goroutine that may still be inside a call on
 * a channel when its creator drops the channel holds its own reference
 * (ng_chan_retain before GO, release at its end); one whose calls have all
 * returned before it signals a waitgroup the creator waits on needs none.
 *
 * Go's `go func() {...}()` with the captured variables in a struct, copied
 * onto the new goroutine's stack: GO(fn, (struct x){...}). */
#define GO(fn, ...) CHECK_EQ(ng_go_copy((fn), &(__VA_ARGS__), sizeof(__VA_ARGS__)), 0)

/* Running fn(arg) in a goroutine (IN_GOROUTINE) or a plain pthread, a
 * foreign thread (IN_THREAD), and waiting for it without holding up a P. */
enum { IN_GOROUTINE = 0, IN_THREAD = 1 };

typedef struct task {
	void (*fn)(void *);
	void *arg;
	ng_chan *done; /* elem_size 0, cap 1 */
	pthread_t th;
	int foreign;
} task;

static inline void task_finish(task *t)
{
	/* once the send is through, the waiter may reuse *t */
	ng_chan *done = t->done;
	char z = 0;
	CHECK_EQ(ng_chan_send(done, &z), 0);
	ng_chan_release(done);
}

static inline void *task_thread(void *p)
{
	task *t = p;
	CHECK_EQ(ng_id(), 0);
	t->fn(t->arg);
	task_finish(t);
	return NULL;
}

static inline void task_goroutine(void *p)
{
	task *t = p;
	CHECK(ng_id() != 0);
	t->fn(t->arg);
	task_finish(t);
}

static inline void task_start(task *t, int foreign, void (*fn)(void *), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->foreign = foreign;
	t->done = chan_make(0, 1);
	ng_chan_retain(t->done); /* the task's own reference */
	if (foreign)
		CHECK_EQ(pthread_create(&t->th, NULL, task_thread, t), 0);
	else
		CHECK_EQ(ng_go(task_goroutine, t), 0);
}

static inline void task_wait(task *t)
{
	char z;
	CHECK_EQ(ng_chan_recv_until(t->done, &z, ng_now() + 60 * SEC), 0);
	if (t->foreign)
		CHECK_EQ(pthread_join(t->th, NULL), 0); /* it has sent: exiting */
	ng_chan_release(t->done);
}

static inline void run_in(int foreign, void (*fn)(void *), void *arg)
{
	task t;
	task_start(&t, foreign, fn, arg);
	task_wait(&t);
}

/* A goroutine with a name, for dumps, leak checks and deadlock reports. */
static inline void spawn_named(const char *name, void (*fn)(void *), void *arg)
{
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.name = name;
	CHECK_EQ(ng_go_attr(&attr, fn, arg), 0);
}

/* Go's test programs end with goroutines still blocked, holding the only
 * pointers to their channels on stacks LeakSanitizer does not scan; keeping
 * those pointers here too says they are abandoned on purpose, not leaked. */
static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;
static void **keep_list;
static size_t keep_len, keep_cap;

static inline void *keep(void *p)
{
	CHECK(p != NULL);
	pthread_mutex_lock(&keep_lock);
	if (keep_len == keep_cap) {
		keep_cap = keep_cap ? 2 * keep_cap : 256;
		keep_list = realloc(keep_list, keep_cap * sizeof *keep_list);
		CHECK(keep_list != NULL);
	}
	keep_list[keep_len++] = p;
	pthread_mutex_unlock(&keep_lock);
	return p;
}

#endif
