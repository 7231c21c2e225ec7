/* numago — channels and select, with Go's semantics.
 *
 * A channel carries fixed-size elements (elem_size may be 0: a pure signal).
 * Unbuffered channels hand the element directly from sender to receiver;
 * buffered ones are FIFO.  Closing wakes every waiter: receivers drain what
 * is buffered and then get -EPIPE with a zeroed element, senders get -EPIPE.
 * Channels are reference counted: ng_chan_make returns one reference.
 *
 * Every blocking call works in a goroutine (the goroutine parks) and in a
 * foreign thread (the OS thread blocks).  Deadlines are absolute
 * CLOCK_MONOTONIC nanoseconds (ng_now()); NG_FOREVER waits forever, 0 means
 * "do not block". */
#ifndef NUMAGO_CHAN_H
#define NUMAGO_CHAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

#ifndef NG_FOREVER
#define NG_FOREVER ((int64_t)-1)
#endif

typedef struct ng_chan ng_chan;

/* NULL with errno = EINVAL (sizes overflow) or ENOMEM on failure. */
ng_chan *ng_chan_make(size_t elem_size, size_t capacity);
void ng_chan_retain(ng_chan *c);
void ng_chan_release(ng_chan *c); /* freed when the last reference goes */

int ng_chan_send(ng_chan *c, const void *elem); /* 0 | -EPIPE | -EINVAL */
/* 0 | -EPIPE once closed and drained (elem zeroed).  elem may be NULL. */
int ng_chan_recv(ng_chan *c, void *elem);
int ng_chan_send_until(ng_chan *c, const void *elem, int64_t deadline); /* + -ETIMEDOUT */
int ng_chan_recv_until(ng_chan *c, void *elem, int64_t deadline);
int ng_chan_try_send(ng_chan *c, const void *elem); /* + -EAGAIN */
int ng_chan_try_recv(ng_chan *c, void *elem);
int ng_chan_close(ng_chan *c); /* 0 | -EPIPE if already closed */
size_t ng_chan_len(const ng_chan *c);
size_t ng_chan_cap(const ng_chan *c);
size_t ng_chan_elem_size(const ng_chan *c);

enum { NG_RECV = 1, NG_SEND = 2 };
typedef struct ng_case {
	ng_chan *chan; /* NULL: the case is disabled (Go's nil channel) */
	int op;        /* NG_RECV or NG_SEND */
	void *elem;    /* element to send / where to receive (may be NULL for NG_RECV) */
	int rc;        /* set for the case that ran: 0 or -EPIPE */
} ng_case;

/* Returns the index of the case that ran (its rc is 0 or -EPIPE), -EAGAIN if
 * deadline is 0 and none was ready (Go's default), -ETIMEDOUT, -EINVAL.  Ready
 * cases are chosen uniformly at random.  n == 0 with NG_FOREVER blocks
 * forever (deadlock detection applies).  A send on a closed channel is a
 * ready case whose rc is -EPIPE (Go panics). */
int ng_select(ng_case *cases, size_t n, int64_t deadline);
#define NG_RECV_CASE(c, p) ((ng_case){(c), NG_RECV, (p), 0})
#define NG_SEND_CASE(c, p) ((ng_case){(c), NG_SEND, (void *)(p), 0})

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
