/* core/pool.c — per-P object cache (sync.Pool).
 *
 * Each P has a small private stack of objects that only goroutines running
 * on that P touch, so get and put are usually a few loads and stores on a
 * line no other CPU writes.  Foreign threads (and overflow from a full
 * private stack) use one shared stack under pool->lock.  A get that finds
 * both empty looks at the other Ps' stacks before allocating, so objects put
 * on one P are reused by consumers on another.
 *
 * A private stack is guarded by a try-lock rather than by "only our P runs
 * here": a goroutine preempted in the middle of a get/put must not leave the
 * stack half-updated for the next goroutine on that P, and a thief must not
 * race the owner.  Whoever finds the try-lock taken just moves on (shared
 * stack, next P, malloc), so nobody ever waits for it.
 *
 * The per-P storage is created on first use, sized by ng_procs() then; Ps
 * beyond that count (a runtime restarted with more) use the shared stack.
 * Objects are not reset between uses (as in Go); ctor runs once per object,
 * when it is first allocated. */
#define _GNU_SOURCE
#include "internal.h"

#include <numago/sync.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define POOL_PER_P  32  /* objects cached per P */
#define POOL_SHARED 256 /* objects on the shared stack */

typedef struct pool_local {
	_Alignas(NG_CACHELINE) _Atomic int busy; /* try-lock over n and objs */
	_Atomic int n;                           /* written under busy; peeked by thieves */
	void *objs[POOL_PER_P];
} pool_local;

typedef struct pool_impl {
	int nprocs;                /* Ps with a pool_local */
	_Atomic int nshared;       /* written under pool->lock; peeked unlocked */
	void *shared[POOL_SHARED]; /* pool->lock */
	pool_local local[];
} pool_impl;

static void plock(ng_pool *pool)
{
	ng_spin_lock((_Atomic int32_t *)&pool->lock);
}

static void punlock(ng_pool *pool)
{
	ng_spin_unlock((_Atomic int32_t *)&pool->lock);
}

static inline _Atomic(pool_impl *) *impl_ptr(ng_pool *pool)
{
	return (_Atomic(pool_impl *) *)&pool->impl;
}

static pool_impl *impl_of(ng_pool *pool)
{
	pool_impl *impl = atomic_load_explicit(impl_ptr(pool), memory_order_acquire);
	if (NG_LIKELY(impl != NULL))
		return impl;
	int n = ng_procs();
	size_t bytes = sizeof(pool_impl) + (size_t)n * sizeof(pool_local);
	bytes = (bytes + NG_CACHELINE - 1) / NG_CACHELINE * NG_CACHELINE;
	impl = aligned_alloc(NG_CACHELINE, bytes);
	if (impl == NULL)
		return NULL;
	memset(impl, 0, bytes);
	impl->nprocs = n;
	/* Several first users may race: one CAS wins, the others use its. */
	pool_impl *expected = NULL;
	if (!atomic_compare_exchange_strong_explicit(impl_ptr(pool), &expected, impl,
	                                             memory_order_acq_rel, memory_order_acquire)) {
		free(impl);
		impl = expected;
	}
	return impl;
}

static inline bool local_trylock(pool_local *l)
{
	return atomic_load_explicit(&l->busy, memory_order_relaxed) == 0 &&
	       atomic_exchange_explicit(&l->busy, 1, memory_order_acquire) == 0;
}

static inline void local_unlock(pool_local *l)
{
	atomic_store_explicit(&l->busy, 0, memory_order_release);
}

static void *local_pop(pool_local *l)
{
	if (atomic_load_explicit(&l->n, memory_order_relaxed) == 0 || !local_trylock(l))
		return NULL;
	void *obj = NULL;
	int n = atomic_load_explicit(&l->n, memory_order_relaxed);
	if (n > 0) {
		obj = l->objs[n - 1];
		atomic_store_explicit(&l->n, n - 1, memory_order_relaxed);
	}
	local_unlock(l);
	return obj;
}

static void *shared_pop(ng_pool *pool, pool_impl *impl)
{
	if (atomic_load_explicit(&impl->nshared, memory_order_relaxed) == 0)
		return NULL;
	void *obj = NULL;
	plock(pool);
	int n = atomic_load_explicit(&impl->nshared, memory_order_relaxed);
	if (n > 0) {
		obj = impl->shared[n - 1];
		atomic_store_explicit(&impl->nshared, n - 1, memory_order_relaxed);
	}
	punlock(pool);
	return obj;
}

int ng_pool_init(ng_pool *pool, size_t size, void (*ctor)(void *obj))
{
	if (pool == NULL)
		return -EINVAL;
	*pool = (ng_pool)NG_POOL_INIT(size, ctor);
	return 0;
}

void *ng_pool_get(ng_pool *pool)
{
	if (pool == NULL) {
		errno = EINVAL;
		return NULL;
	}
	pool_impl *impl = impl_of(pool);
	if (impl != NULL) {
		int self = ng_self_proc();
		void *obj = NULL;
		if (self >= 0 && self < impl->nprocs)
			obj = local_pop(&impl->local[self]);
		if (obj == NULL)
			obj = shared_pop(pool, impl);
		for (int i = 1; obj == NULL && i <= impl->nprocs; i++) {
			int p = self < 0 ? i - 1 : (self + i) % impl->nprocs;
			if (p != self)
				obj = local_pop(&impl->local[p]);
		}
		if (obj != NULL)
			return obj;
	}
	void *obj = malloc(pool->size != 0 ? pool->size : 1);
	if (obj == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (pool->ctor != NULL)
		pool->ctor(obj);
	return obj;
}

void ng_pool_put(ng_pool *pool, void *obj)
{
	if (pool == NULL || obj == NULL)
		return;
	pool_impl *impl = impl_of(pool);
	if (impl == NULL) {
		free(obj);
		return;
	}
	int self = ng_self_proc();
	if (self >= 0 && self < impl->nprocs) {
		pool_local *l = &impl->local[self];
		if (local_trylock(l)) {
			int n = atomic_load_explicit(&l->n, memory_order_relaxed);
			bool kept = n < POOL_PER_P;
			if (kept) {
				l->objs[n] = obj;
				atomic_store_explicit(&l->n, n + 1, memory_order_relaxed);
			}
			local_unlock(l);
			if (kept)
				return;
		}
	}
	plock(pool);
	int n = atomic_load_explicit(&impl->nshared, memory_order_relaxed);
	bool kept = n < POOL_SHARED;
	if (kept) {
		impl->shared[n] = obj;
		atomic_store_explicit(&impl->nshared, n + 1, memory_order_relaxed);
	}
	punlock(pool);
	if (!kept)
		free(obj); /* bounded cache: the excess goes back to malloc */
}

void ng_pool_destroy(ng_pool *pool)
{
	if (pool == NULL)
		return;
	pool_impl *impl = atomic_exchange_explicit(impl_ptr(pool), NULL, memory_order_acq_rel);
	if (impl == NULL)
		return;
	for (int p = 0; p < impl->nprocs; p++) {
		pool_local *l = &impl->local[p];
		int n = atomic_load_explicit(&l->n, memory_order_relaxed);
		for (int i = 0; i < n; i++)
			free(l->objs[i]);
	}
	int n = atomic_load_explicit(&impl->nshared, memory_order_relaxed);
	for (int i = 0; i < n; i++)
		free(impl->shared[i]);
	free(impl);
}
