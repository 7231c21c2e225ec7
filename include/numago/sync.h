/* numago — synchronisation primitives.  All are statically initialisable,
 * and usable from goroutines (which park) and from foreign threads (which
 * block the OS thread). */
#ifndef NUMAGO_SYNC_H
#define NUMAGO_SYNC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* A wait queue's internal lock and list; opaque to users. */
typedef struct ng_waitq_ {
	int lock;
	void *head, *tail;
} ng_waitq_;
#define NG_WAITQ_INIT_  \
	{               \
		0, 0, 0 \
	}

typedef struct ng_waitgroup {
	int64_t count; /* atomic */
	ng_waitq_ q;
} ng_waitgroup;
#define NG_WAITGROUP_INIT         \
	{                         \
		0, NG_WAITQ_INIT_ \
	}

/* Add n (may be negative) to the counter; when it reaches zero every waiter
 * is released.  -EINVAL if the counter would go negative (Go panics; the
 * counter is left unchanged) or wg is NULL. */
int ng_waitgroup_add(ng_waitgroup *wg, int64_t n);
int ng_waitgroup_done(ng_waitgroup *wg);
/* Wait until the counter is zero. */
int ng_waitgroup_wait(ng_waitgroup *wg);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
