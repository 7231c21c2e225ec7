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
/* The same with an absolute deadline: 0 | -ETIMEDOUT. */
int ng_waitgroup_wait_until(ng_waitgroup *wg, int64_t deadline);
/* Inline fast paths (count is counter << 32 | waiters): an Add that leaves
 * the counter positive or brings it to zero with nobody waiting, and a Wait
 * on a zero counter.  The rest (waking waiters, errors) goes to the
 * library. */
static inline int ng_waitgroup_add_inline_(ng_waitgroup *wg, int64_t n)
{
	/* n outside +-INT32_MAX is an error, found by the library without
	 * overflowing the sum here */
	if (__builtin_expect(wg != 0 && n >= -(int64_t)INT32_MAX && n <= INT32_MAX, 1)) {
		int64_t old = __atomic_load_n(&wg->count, __ATOMIC_RELAXED);
		int64_t cnt = (int64_t)(int32_t)((uint64_t)old >> 32) + n;
		if ((cnt > 0 || (cnt == 0 && (uint32_t)old == 0)) && cnt <= INT32_MAX &&
		    __atomic_compare_exchange_n(&wg->count, &old,
		                                (int64_t)((uint64_t)old + ((uint64_t)n << 32)), 0,
		                                __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return 0;
	}
	return (ng_waitgroup_add)(wg, n);
}
static inline int ng_waitgroup_wait_inline_(ng_waitgroup *wg)
{
	if (__builtin_expect(wg != 0, 1) &&
	    (uint64_t)__atomic_load_n(&wg->count, __ATOMIC_ACQUIRE) >> 32 == 0)
		return 0;
	return (ng_waitgroup_wait)(wg);
}
#define ng_waitgroup_add(wg, n) ng_waitgroup_add_inline_((wg), (n))
#define ng_waitgroup_done(wg)   ng_waitgroup_add_inline_((wg), -1)
#define ng_waitgroup_wait(wg)   ng_waitgroup_wait_inline_(wg)

/* ---- mutex: Go's sync.Mutex, with starvation mode after 1 ms of waiting ---- */
typedef struct ng_mutex {
	int32_t state; /* atomic: locked | woken | starving | waiters << 3 */
	int32_t sema;  /* wakeups not yet taken by a waiter; q's lock */
	ng_waitq_ q;
} ng_mutex;
#define NG_MUTEX_INIT                \
	{                            \
		0, 0, NG_WAITQ_INIT_ \
	}
int ng_mutex_lock(ng_mutex *m);
int ng_mutex_unlock(ng_mutex *m); /* -EPERM if not locked */
/* The uncontended cases inline, as Go's compiler inlines them; anything
 * else (and taking the functions' addresses) goes to the library. */
static inline int ng_mutex_lock_inline_(ng_mutex *m)
{
	int32_t unlocked = 0;
	if (__builtin_expect(m != 0, 1) &&
	    __atomic_compare_exchange_n(&m->state, &unlocked, 1, 0, __ATOMIC_ACQUIRE,
	                                __ATOMIC_RELAXED))
		return 0;
	return (ng_mutex_lock)(m);
}
static inline int ng_mutex_unlock_inline_(ng_mutex *m)
{
	int32_t locked = 1;
	if (__builtin_expect(m != 0, 1) &&
	    __atomic_compare_exchange_n(&m->state, &locked, 0, 0, __ATOMIC_RELEASE,
	                                __ATOMIC_RELAXED))
		return 0;
	return (ng_mutex_unlock)(m);
}
#define ng_mutex_lock(m)   ng_mutex_lock_inline_(m)
#define ng_mutex_unlock(m) ng_mutex_unlock_inline_(m)
int ng_mutex_trylock(ng_mutex *m); /* 0 | -EAGAIN */
/* 0 | -ETIMEDOUT | -EAGAIN (deadline 0: a trylock). */
int ng_mutex_lock_until(ng_mutex *m, int64_t deadline);

/* ---- rwmutex: writer-preferring like Go's sync.RWMutex ---- */
typedef struct ng_rwmutex {
	ng_mutex w;           /* held by writers among themselves */
	int32_t readers;      /* atomic: active readers, -max while a writer waits */
	int32_t readers_wait; /* atomic: readers the pending writer waits for */
	int32_t rsema, wsema; /* wakeups not yet taken by a reader / the writer;
	                         rq's / wq's lock */
	ng_waitq_ rq, wq;     /* waiting readers, the waiting writer */
} ng_rwmutex;
#define NG_RWMUTEX_INIT                                                   \
	{                                                                 \
		NG_MUTEX_INIT, 0, 0, 0, 0, NG_WAITQ_INIT_, NG_WAITQ_INIT_ \
	}
int ng_rwmutex_rlock(ng_rwmutex *rw);
int ng_rwmutex_runlock(ng_rwmutex *rw);
int ng_rwmutex_lock(ng_rwmutex *rw);
int ng_rwmutex_unlock(ng_rwmutex *rw);
int ng_rwmutex_tryrlock(ng_rwmutex *rw);
int ng_rwmutex_trylock(ng_rwmutex *rw);

/* ---- once ---- */
typedef struct ng_once {
	int32_t done; /* atomic */
	int32_t _resv;
	ng_mutex m;
} ng_once;
#define NG_ONCE_INIT                \
	{                           \
		0, 0, NG_MUTEX_INIT \
	}
/* Runs fn(arg) exactly once; every caller returns after it has finished. */
int ng_once_do(ng_once *once, void (*fn)(void *), void *arg);

/* ---- cond (used with an ng_mutex) ---- */
typedef struct ng_cond {
	ng_waitq_ q;
} ng_cond;
#define NG_COND_INIT           \
	{                      \
		NG_WAITQ_INIT_ \
	}
int ng_cond_wait(ng_cond *c, ng_mutex *m);
/* 0 | -ETIMEDOUT; m is held again on return either way. */
int ng_cond_wait_until(ng_cond *c, ng_mutex *m, int64_t deadline);
int ng_cond_signal(ng_cond *c);
int ng_cond_broadcast(ng_cond *c);

/* ---- weighted semaphore (golang.org/x/sync/semaphore): FIFO, no barging ---- */
typedef struct ng_sema {
	int64_t size, cur;
	ng_waitq_ q;
} ng_sema;
#define NG_SEMA_INIT(n)                \
	{                              \
		(n), 0, NG_WAITQ_INIT_ \
	}
int ng_sema_init(ng_sema *s, int64_t n);
/* 0 | -ETIMEDOUT | -EAGAIN (deadline 0) | -EINVAL (k > size or k < 0). */
int ng_sema_acquire(ng_sema *s, int64_t k, int64_t deadline);
int ng_sema_release(ng_sema *s, int64_t k); /* -EINVAL if releasing more than held */

/* ---- pool: per-P object cache (sync.Pool) ---- */
typedef struct ng_pool {
	size_t size;
	void (*ctor)(void *obj);
	void *impl; /* per-P caches, created on first use */
	int32_t lock;
	int32_t _resv;
} ng_pool;
#define NG_POOL_INIT(size, ctor)        \
	{                               \
		(size), (ctor), 0, 0, 0 \
	}
int ng_pool_init(ng_pool *pool, size_t size, void (*ctor)(void *obj));
/* An object of pool->size bytes: a cached one, or a fresh one passed
 * through ctor.  NULL + errno ENOMEM. */
void *ng_pool_get(ng_pool *pool);
void ng_pool_put(ng_pool *pool, void *obj);
void ng_pool_destroy(ng_pool *pool); /* frees the cached objects */

/* ---- group: errgroup.WithContext ---- */
struct ng_ctx;
typedef struct ng_group {
	ng_waitgroup wg;
	struct ng_ctx *ctx; /* cancelled at the first error (NULL parent: background) */
	int32_t err;        /* atomic: first non-zero result */
	int32_t _resv;
} ng_group;
int ng_group_init(ng_group *g, struct ng_ctx *parent);
struct ng_ctx *ng_group_ctx(ng_group *g);
/* Run fn(arg) in a new goroutine; its non-zero result is the group's error
 * (the first one wins) and cancels the group's context. */
#define ng_group_go(g, fn, arg) ng_group_go_at((g), (fn), (arg), __FILE__, __LINE__)
int ng_group_go_at(ng_group *g, int (*fn)(void *), void *arg, const char *file, int line);
/* Wait for every goroutine of the group; the first error or 0.  Releases
 * the group's context (ng_group_ctx is NULL afterwards: retain the context
 * first to use it longer). */
int ng_group_wait(ng_group *g);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
