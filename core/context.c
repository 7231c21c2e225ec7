/* core/context.c — cancellation trees (Go's context package).
 *
 * Each context has a done channel (closed on cancel), an error, an optional
 * deadline timer and a list of children.  References: the caller of
 * ng_ctx_with_* holds one, a parent holds one on each linked child, and a
 * child holds one on its parent.  ng_ctx_release cancels before dropping
 * its reference (Go's `defer cancel()`), so the parent's link is gone by
 * the time the caller's reference is.
 *
 * Locking: a context's lock guards its error and its child list.  Cancel
 * detaches the list under the lock and cancels children after dropping it,
 * so no two context locks are ever held at once.  An armed deadline timer
 * holds a reference too: whoever disarms it (cancel, through ng_tmr_del)
 * or the callback itself drops it.  The timer is NG_TMR_F_NOWAIT, so the
 * callback may drop the last reference and free the context under it.
 */
#define _GNU_SOURCE
#include "timer.h"
#include "waitq.h"

#include <numago/context.h>

#include <errno.h>
#include <stdlib.h>

struct ng_ctx {
	_Atomic int64_t refs;
	_Atomic int32_t lock;
	_Atomic int32_t err;
	ng_ctx *parent; /* NULL for background */
	ng_chan *done;
	int64_t deadline;
	ng_tmr timer;
	bool has_timer;
	bool linked;                 /* in parent's child list; parent's lock */
	ng_ctx *child, *prev, *next; /* child list; this/parent's lock */
};

static ng_ctx background = {.deadline = NG_FOREVER};
static ng_chan *background_done; /* never closed */
static pthread_once_t background_done_once = PTHREAD_ONCE_INIT;

static void background_done_make(void)
{
	background_done = ng_chan_make(0, 0);
}

static void ctx_lock(ng_ctx *c)
{
	ng_spin_lock(&c->lock);
}

static void ctx_unlock(ng_ctx *c)
{
	ng_spin_unlock(&c->lock);
}

ng_ctx *ng_ctx_background(void)
{
	return &background;
}

static void ctx_unref(ng_ctx *c)
{
	if (c == NULL || c == &background)
		return;
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	ng_chan_release(c->done);
	ng_ctx *parent = c->parent;
	free(c);
	ctx_unref(parent);
}

void ng_ctx_retain(ng_ctx *c)
{
	if (c != NULL && c != &background)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void ctx_cancel(ng_ctx *c, int err, bool from_timer)
{
	ctx_lock(c);
	if (atomic_load_explicit(&c->err, memory_order_relaxed) != 0) {
		ctx_unlock(c);
		return;
	}
	atomic_store_explicit(&c->err, err, memory_order_release);
	ng_ctx *kids = c->child;
	c->child = NULL;
	for (ng_ctx *k = kids; k != NULL; k = k->next)
		k->linked = false;
	ctx_unlock(c);
	ng_chan_close(c->done);
	while (kids != NULL) {
		ng_ctx *k = kids;
		kids = k->next;
		k->next = k->prev = NULL;
		ctx_cancel(k, err, false);
		ctx_unref(k); /* the link's reference */
	}
	if (c->has_timer && !from_timer && ng_tmr_del(&c->timer))
		ctx_unref(c); /* the timer's; the caller still holds one */
	ng_ctx *p = c->parent;
	if (p != NULL && p != &background) {
		bool drop = false;
		ctx_lock(p);
		if (c->linked) {
			if (c->prev != NULL)
				c->prev->next = c->next;
			else
				p->child = c->next;
			if (c->next != NULL)
				c->next->prev = c->prev;
			c->next = c->prev = NULL;
			c->linked = false;
			drop = true;
		}
		ctx_unlock(p);
		if (drop)
			ctx_unref(c); /* the caller still holds one: never the last */
	}
}

static void deadline_fire(ng_tmr *t, int64_t now)
{
	(void)now;
	ng_ctx *c = t->arg;
	if (now != 0)
		ctx_cancel(c, -ETIMEDOUT, true);
	ctx_unref(c); /* the timer's: may free c, which NG_TMR_F_NOWAIT allows */
}

static ng_ctx *ctx_new(ng_ctx *parent, int64_t deadline)
{
	if (parent == NULL)
		parent = &background;
	ng_ctx *c = calloc(1, sizeof *c);
	if (c == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	c->done = ng_chan_make(0, 0);
	if (c->done == NULL) {
		free(c);
		return NULL;
	}
	atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
	int64_t pd = ng_ctx_deadline(parent);
	if (pd != NG_FOREVER && (deadline == NG_FOREVER || pd <= deadline))
		deadline = pd; /* the parent's earlier deadline cancels us anyway */
	c->deadline = deadline;
	c->parent = parent;
	ng_ctx_retain(parent);
	int perr = 0;
	if (parent != &background) {
		ctx_lock(parent);
		perr = atomic_load_explicit(&parent->err, memory_order_relaxed);
		if (perr == 0) {
			c->next = parent->child;
			if (c->next != NULL)
				c->next->prev = c;
			parent->child = c;
			c->linked = true;
			atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
		}
		ctx_unlock(parent);
	}
	if (perr != 0) {
		ctx_cancel(c, perr, false);
		return c;
	}
	if (deadline != NG_FOREVER && deadline != pd) {
		if (deadline <= ng_nanotime()) {
			ctx_cancel(c, -ETIMEDOUT, false);
			return c;
		}
		c->timer = (ng_tmr)NG_TMR_INIT(deadline_fire, c);
		c->timer.flags = NG_TMR_F_NOWAIT;
		c->has_timer = true;
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
		ng_tmr_add(&c->timer, deadline);
	}
	return c;
}

ng_ctx *ng_ctx_with_cancel(ng_ctx *parent)
{
	return ctx_new(parent, NG_FOREVER);
}

ng_ctx *ng_ctx_with_deadline(ng_ctx *parent, int64_t deadline)
{
	if (deadline < 0 && deadline != NG_FOREVER) {
		errno = EINVAL;
		return NULL;
	}
	return ctx_new(parent, deadline);
}

ng_ctx *ng_ctx_with_timeout(ng_ctx *parent, int64_t ns)
{
	return ctx_new(parent, ng_time_add(ng_nanotime(), ns > 0 ? ns : 0));
}

void ng_ctx_cancel(ng_ctx *c)
{
	if (c == NULL || c == &background)
		return;
	ctx_cancel(c, -ECANCELED, false);
}

ng_chan *ng_ctx_done(ng_ctx *c)
{
	if (c == NULL || c == &background) {
		/* A channel nobody ever closes: a select on it never fires. */
		pthread_once(&background_done_once, background_done_make);
		return background_done;
	}
	return c->done;
}

int ng_ctx_err(ng_ctx *c)
{
	if (c == NULL || c == &background)
		return 0;
	return atomic_load_explicit(&c->err, memory_order_acquire);
}

int64_t ng_ctx_deadline(ng_ctx *c)
{
	if (c == NULL || c == &background)
		return NG_FOREVER;
	return c->deadline;
}

int ng_ctx_wait(ng_ctx *c, int64_t deadline)
{
	if (c == NULL)
		return -EINVAL;
	int rc = ng_chan_recv_until(ng_ctx_done(c), NULL, deadline);
	if (rc == -EPIPE)
		return ng_ctx_err(c);
	return rc == -ETIMEDOUT ? -EAGAIN : rc;
}

void ng_ctx_release(ng_ctx *c)
{
	if (c == NULL || c == &background)
		return;
	ctx_cancel(c, -ECANCELED, false);
	ctx_unref(c);
}
