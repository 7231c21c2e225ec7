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
