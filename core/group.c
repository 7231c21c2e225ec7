/* core/group.c — errgroup.WithContext.
 *
 * A waitgroup counts the group's goroutines; the first non-zero result is
 * kept (a CAS from 0, so later errors never overwrite it) and cancels the
 * group's context, so the others can notice and stop early.  The winner
 * cancels before it calls done: once the count reaches zero, ng_group_wait
 * may return and the group (often on the waiter's stack) vanish.
 *
 * A zeroed ng_group is usable too, like Go's zero Group: it has no context
 * to cancel. */
#define _GNU_SOURCE
#include "internal.h"

#include <numago/context.h>
#include <numago/sync.h>

#include <errno.h>

typedef struct group_task {
	ng_group *g;
	int (*fn)(void *);
	void *arg;
} group_task;

static void group_run(void *p)
{
	group_task *t = p;
	ng_group *g = t->g;
	int rc = t->fn(t->arg);
	if (rc != 0) {
		int32_t zero = 0;
		if (atomic_compare_exchange_strong_explicit((_Atomic int32_t *)&g->err, &zero, rc,
		                                            memory_order_acq_rel,
		                                            memory_order_relaxed))
			ng_ctx_cancel(g->ctx);
	}
	ng_waitgroup_done(&g->wg);
}

int ng_group_init(ng_group *g, struct ng_ctx *parent)
{
	if (g == NULL)
		return -EINVAL;
	ng_ctx *c = ng_ctx_with_cancel(parent);
	if (c == NULL)
		return -(errno != 0 ? errno : ENOMEM);
	*g = (ng_group){.wg = NG_WAITGROUP_INIT, .ctx = c, .err = 0};
	return 0;
}

struct ng_ctx *ng_group_ctx(ng_group *g)
{
	return g != NULL ? g->ctx : NULL;
}

int ng_group_go_at(ng_group *g, int (*fn)(void *), void *arg, const char *file, int line)
{
	if (g == NULL || fn == NULL)
		return -EINVAL;
	int rc = ng_waitgroup_add(&g->wg, 1);
	if (rc != 0)
		return rc;
	group_task t = {g, fn, arg};
	rc = ng_go_copy_at(group_run, &t, sizeof t, file, line);
	if (rc != 0)
		ng_waitgroup_done(&g->wg); /* it will never run */
	return rc;
}

int ng_group_wait(ng_group *g)
{
	if (g == NULL)
		return -EINVAL;
	int rc = ng_waitgroup_wait(&g->wg);
	if (rc != 0)
		return rc;
	/* Go's Wait cancels the context; ours also drops the group's
	 * reference, so it is forgotten here (retain it to use it after). */
	ng_ctx *c = g->ctx;
	g->ctx = NULL;
	ng_ctx_release(c);
	return atomic_load_explicit((_Atomic int32_t *)&g->err, memory_order_acquire);
}
