/* core/chan.h — the channel structure, shared by chan.c and select.c. */
#ifndef NG_CORE_CHAN_H
#define NG_CORE_CHAN_H

#include "sched_inline.h"
#include "waitq.h"

#include <numago/chan.h>

#include <errno.h>
#include <string.h>

struct ng_chan {
	_Atomic int32_t lock;    /* spinlock: sections are a copy and a few links */
	_Atomic uint32_t closed; /* written under lock, read lock-free by fast paths */
	_Atomic size_t qcount;   /* elements in buf; lock-free reads by fast paths */
	size_t cap;
	size_t elemsize;
	size_t sendx, recvx;
	ng_waitq_ recvq, sendq; /* their own lock fields are unused: c->lock guards them */
	_Atomic int64_t refs;
	char *buf;
	void *raw; /* what malloc returned (the channel is aligned within it) */
};

static inline void chan_lock(ng_chan *c)
{
	ng_spin_lock(&c->lock);
}

static inline void chan_unlock(ng_chan *c)
{
	ng_spin_unlock(&c->lock);
}

/* Queue heads read without the lock (fast paths only ever act on them
 * under the lock). */
static inline bool waitq_nonempty_relaxed(ng_waitq_ *q)
{
	return __atomic_load_n(&q->head, __ATOMIC_RELAXED) != NULL;
}

/* Element copies: the common sizes without a call into libc. */
static inline void elem_copy(size_t size, void *dst, const void *src)
{
	switch (size) {
	case 1:
		memcpy(dst, src, 1);
		break;
	case 2:
		memcpy(dst, src, 2);
		break;
	case 4:
		memcpy(dst, src, 4);
		break;
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, size);
		break;
	}
}

static inline void chan_copy(ng_chan *c, void *dst, const void *src)
{
	if (c->elemsize != 0 && dst != NULL)
		elem_copy(c->elemsize, dst, src);
}

static inline void chan_zero(ng_chan *c, void *dst)
{
	if (c->elemsize != 0 && dst != NULL)
		memset(dst, 0, c->elemsize);
}

static inline char *chan_slot(ng_chan *c, size_t i)
{
	return c->buf + i * c->elemsize;
}

/* The element moves in these four, so they count the operations (stats:
 * ng_count_chan), except that the hand-offs (the _direct two) leave the
 * count to chan_wake_xfer, which has the P at hand: a hand-off completes a
 * send and a receive at once; the blocked side, once woken, counts
 * nothing. */

/* With c locked: a claimed, blocked receiver takes elem directly. */
static inline void chan_send_direct(ng_chan *c, ng_waiter *recv, const void *elem)
{
	chan_copy(c, recv->data, elem);
	recv->success = true;
}

/* With c locked: take from a claimed, blocked sender.  Buffered: the head
 * of the buffer is ours and the sender's element goes to the tail (which is
 * the same slot: the buffer is full), keeping FIFO order. */
static inline void chan_recv_direct(ng_chan *c, ng_waiter *send, void *elem)
{
	if (c->cap == 0) {
		chan_copy(c, elem, send->data);
	} else {
		char *slot = chan_slot(c, c->recvx);
		chan_copy(c, elem, slot);
		chan_copy(c, slot, send->data);
		if (++c->recvx == c->cap)
			c->recvx = 0;
		c->sendx = c->recvx;
	}
	send->success = true;
}

static inline void chan_buf_put(ng_chan *c, const void *elem)
{
	if (c->elemsize != 0)
		elem_copy(c->elemsize, chan_slot(c, c->sendx), elem);
	if (++c->sendx == c->cap)
		c->sendx = 0;
	atomic_store_explicit(&c->qcount,
	                      atomic_load_explicit(&c->qcount, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	ng_count_chan(NG_SC_SEND);
}

static inline void chan_buf_take(ng_chan *c, void *elem)
{
	char *slot = chan_slot(c, c->recvx);
	chan_copy(c, elem, slot);
	if (++c->recvx == c->cap)
		c->recvx = 0;
	atomic_store_explicit(&c->qcount,
	                      atomic_load_explicit(&c->qcount, memory_order_relaxed) - 1,
	                      memory_order_relaxed);
	ng_count_chan(NG_SC_RECV);
}

/* Wake a waiter claimed under the lock, after unlocking: result is 0 when
 * the operation happened, -EPIPE when close woke it. */
static inline void chan_wake(ng_waiter *w)
{
	ng_waitq_wake(w, w->success ? 0 : -EPIPE);
}

/* After a hand-off (chan_send_direct, chan_recv_direct) to w, with c
 * unlocked: count it (NG_SC_XFER) and wake w.  A goroutine's hand-off to a
 * goroutine counts on the P it readies onto (ng_tls_pstats is &m->p->stats
 * whenever m->p is set), so the P is loaded once for both; before the wake,
 * so the count is there for anything the woken side does.  No switch comes
 * before this in the callers (ng_count_chan's rule). */
static inline void chan_wake_xfer(ng_waiter *w)
{
	ng_g *g = w->g;
	ng_m *m = ng_getm();
	ng_p *p;
	if (NG_LIKELY(g != NULL && m != NULL && (p = m->p) != NULL)) {
		OWN_ADD(p->stats.chan[NG_SC_XFER], 1);
		w->result = 0;
		atomic_store_explicit(&w->done, 1, memory_order_release);
		ng_ready_on(p, g);
		return;
	}
	ng_count_chan(NG_SC_XFER);
	ng_waitq_wake(w, 0);
}

void ng_chan_free(ng_chan *c);

#endif
