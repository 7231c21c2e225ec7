/* core/mutex.c — sync.Mutex and sync.Once.
 *
 * The mutex is Go's (sync/mutex.go), on a wait queue plus a count of
 * wakeups instead of the runtime's semaphore table:
 *
 *   state = locked | woken | starving | waiters << 3   (atomic)
 *   sema  = wakeups released that no waiter has taken yet   (q's lock)
 *
 * Normal mode: waiters queue FIFO, but a woken waiter competes with new
 * arrivals, which usually win (they are already on a CPU), so a woken
 * waiter that loses goes back to the *head* of the queue.  An arrival spins
 * a little first when other Ps are running, since the holder may be about to
 * unlock.  `woken` says a waiter is awake (woken, or spinning): unlock then
 * wakes nobody, since that one will take the lock or queue again.
 *
 * Starvation mode: a waiter that waited more than 1 ms sets `starving`;
 * then unlock hands the mutex directly to the waiter at the head (the lock
 * bit stays clear so arrivals cannot grab it, and they queue at the tail
 * without spinning).  The waiter that receives it ends starvation when it
 * waited less than 1 ms or is the last waiter.
 *
 * Deadlines are ours, not Go's.  A waiter whose deadline passes leaves the
 * queue and must leave the count of waiters too, which only works if no
 * unlock is halfway through waking "some waiter" (waiters - 1, wake one) at
 * that moment: otherwise both would take the same waiter off the count.  So
 * every transition that concerns queued waiters happens under q's lock:
 * unlock's "waiters - 1 | woken" CAS together with the wakeup it releases,
 * unlock's hand-off in starvation mode, and a timed-out waiter's exit.
 * Under q's lock, then, each released wakeup has either gone to a claimed
 * waiter or sits in `sema`; a timing-out waiter that finds sema > 0 takes
 * it (it is then awake like any woken waiter, or owns the mutex in
 * starvation mode), and otherwise leaves the count, ending starvation if it
 * was the last waiter.  That is what keeps the invariants:
 *
 *   waiters = goroutines/threads queued or about to queue, minus those a
 *             pending wakeup in `sema` is meant for (normal mode);
 *   starving implies waiters >= 1;
 *   at rest (no caller inside) state == 0 and sema == 0.
 *
 * A waker claims its waiter by popping it, so a waiter whose deadline won
 * never receives a wakeup, and a wakeup never goes to one.
 */
#define _GNU_SOURCE
#include "runq.h"
#include "sync_internal.h"

#include <errno.h>
#include <unistd.h>

enum {
	MUTEX_LOCKED = 1,
	MUTEX_WOKEN = 2,
	MUTEX_STARVING = 4,
	MUTEX_WAITER_SHIFT = 3,
	MUTEX_WAITER = 1 << MUTEX_WAITER_SHIFT,
};

#define STARVATION_NS   1000000 /* Go's starvationThresholdNs */
#define ACTIVE_SPIN     4       /* Go's active_spin */
#define ACTIVE_SPIN_CNT 30      /* Go's active_spin_cnt */

static inline _Atomic int32_t *mstate(ng_mutex *m)
{
	return (_Atomic int32_t *)&m->state;
}

static inline bool cas(_Atomic int32_t *st, int32_t *old, int32_t new)
{
	return atomic_compare_exchange_weak_explicit(st, old, new, memory_order_acq_rel,
	                                             memory_order_relaxed);
}

static int online_cpus(void)
{
	static _Atomic int ncpu;
	int n = atomic_load_explicit(&ncpu, memory_order_relaxed);
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
		atomic_store_explicit(&ncpu, n, memory_order_relaxed);
	}
	return n;
}

/* Go's sync_runtime_canSpin: spinning only pays when the holder can be
 * running right now on another CPU, and it must not delay work queued on
 * our own P. */
static bool can_spin(int iter)
{
	if (iter >= ACTIVE_SPIN || online_cpus() <= 1 ||
	    !atomic_load_explicit(&ng_sched_g.running, memory_order_relaxed))
		return false;
	int busy = ng_sched_g.nprocs -
	           atomic_load_explicit(&ng_sched_g.npidle, memory_order_relaxed) -
	           atomic_load_explicit(&ng_sched_g.nmspinning, memory_order_relaxed);
	ng_m *m = ng_getm();
	if (m != NULL && m->curg != NULL && m->p != NULL)
		return busy > 1 && runq_empty(m->p);
	return busy > 0; /* a foreign thread holds no P */
}

static void do_spin(void)
{
	for (int i = 0; i < ACTIVE_SPIN_CNT; i++)
		ng_cpu_relax();
}

/* Release one wakeup (q locked): to the first waiter we can claim, or into
 * `sema` for the next one that comes to wait. */
static void sema_release_locked(ng_mutex *m)
{
	ng_waiter *w = waitq_pop(&m->q);
	if (w != NULL)
		ng_waitq_wake(w, 0);
	else
		m->sema++;
}

/* Wait for a wakeup.  0: got one (woken; in starvation mode, handed the
 * mutex).  -ETIMEDOUT: the deadline passed and we no longer count as a
 * waiter. */
static int sema_acquire(ng_mutex *m, bool lifo, int64_t deadline, int reason)
{
	ng_waitq_ *q = &m->q;
	waitq_lock(q);
	if (m->sema > 0) {
		m->sema--;
		waitq_unlock(q);
		return 0;
	}
	if (!sync_expired(deadline)) {
		ng_waiter w;
		waiter_init(&w);
		if (lifo)
			waitq_push_head(q, &w);
		else
			waitq_push(q, &w);
		if (ng_waiter_sleep(&w, reason, deadline, waitq_unlock_cb, q))
			return w.result;
		waitq_lock(q);
		if (w.linked)
			waitq_remove(q, &w);
	}
	/* A wakeup released while we timed out found nobody to claim: it was
	 * counted against a waiter that is either us or still on its way
	 * here, and by taking it we are the one. */
	if (m->sema > 0) {
		m->sema--;
		waitq_unlock(q);
		return 0;
	}
	_Atomic int32_t *st = mstate(m);
	int32_t old = atomic_load_explicit(st, memory_order_relaxed), new;
	do {
		if ((old >> MUTEX_WAITER_SHIFT) == 0)
			ng_fatal("sync: inconsistent mutex state %#x (timed-out waiter)",
			         (unsigned)old);
		new = old - MUTEX_WAITER;
		if ((new >> MUTEX_WAITER_SHIFT) == 0)
			new &= ~MUTEX_STARVING; /* nobody left to starve */
	} while (!cas(st, &old, new));
	waitq_unlock(q);
	return -ETIMEDOUT;
}

static int lock_slow(ng_mutex *m, int64_t deadline, int reason)
{
	_Atomic int32_t *st = mstate(m);
	int64_t wait_start = 0;
	bool starving = false, awoke = false;
	int iter = 0;
	int32_t old = atomic_load_explicit(st, memory_order_relaxed);
	for (;;) {
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) == MUTEX_LOCKED && can_spin(iter)) {
			/* Tell unlock we are awake, so it wakes nobody else. */
			if (!awoke && !(old & MUTEX_WOKEN) && (old >> MUTEX_WAITER_SHIFT) != 0 &&
			    cas(st, &old, old | MUTEX_WOKEN))
				awoke = true;
			do_spin();
			iter++;
			old = atomic_load_explicit(st, memory_order_relaxed);
			continue;
		}
		if ((old & (MUTEX_LOCKED | MUTEX_STARVING)) != 0 && sync_expired(deadline)) {
			/* Give up; an awake waiter hands its `woken` back, so the
			 * next unlock wakes someone again.  The CAS fails if
			 * the mutex came free meanwhile: then we take it. */
			if (!awoke || cas(st, &old, old & ~MUTEX_WOKEN))
				return deadline == 0 ? -EAGAIN : -ETIMEDOUT;
			continue;
		}
		int32_t new = old;
		if (!(old & MUTEX_STARVING))
			new |= MUTEX_LOCKED; /* don't grab a mutex being handed off */
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			new += MUTEX_WAITER;
		if (starving && (old & MUTEX_LOCKED))
			new |= MUTEX_STARVING;
		if (awoke) {
			if (!(new &MUTEX_WOKEN))
				ng_fatal("sync: inconsistent mutex state %#x", (unsigned)old);
			new &= ~MUTEX_WOKEN;
		}
		if (!cas(st, &old, new))
			continue;
		if (!(old & (MUTEX_LOCKED | MUTEX_STARVING)))
			return 0; /* locked it with the CAS */
		/* Waited before: back to the head of the queue. */
		bool lifo = wait_start != 0;
		if (wait_start == 0)
			wait_start = ng_nanotime();
		int rc = sema_acquire(m, lifo, deadline, reason);
		if (rc != 0)
			return rc;
		starving = starving || ng_nanotime() - wait_start > STARVATION_NS;
		old = atomic_load_explicit(st, memory_order_acquire);
		if (old & MUTEX_STARVING) {
			/* Handed to us: it is ours, but the lock bit and the
			 * waiter count still say otherwise; fix both. */
			if ((old & (MUTEX_LOCKED | MUTEX_WOKEN)) ||
			    (old >> MUTEX_WAITER_SHIFT) == 0)
				ng_fatal("sync: inconsistent mutex state %#x (hand-off)",
				         (unsigned)old);
			int32_t delta = MUTEX_LOCKED - MUTEX_WAITER;
			if (!starving || (old >> MUTEX_WAITER_SHIFT) == 1)
				delta -= MUTEX_STARVING;
			atomic_fetch_add_explicit(st, delta, memory_order_acq_rel);
			return 0;
		}
		awoke = true;
		iter = 0;
	}
}

int ng_mutex_lock_reason(ng_mutex *m, int64_t deadline, int reason)
{
	if (m == NULL)
		return -EINVAL;
	int32_t zero = 0;
	if (atomic_compare_exchange_strong_explicit(mstate(m), &zero, MUTEX_LOCKED,
	                                            memory_order_acquire, memory_order_relaxed))
		return 0;
	if (deadline == 0)
		return ng_mutex_trylock(m);
	return lock_slow(m, deadline, reason);
}

int(ng_mutex_lock)(ng_mutex *m)
{
	return ng_mutex_lock_reason(m, NG_FOREVER, NG_WAIT_MUTEX);
}

int ng_mutex_lock_until(ng_mutex *m, int64_t deadline)
{
	return ng_mutex_lock_reason(m, deadline, NG_WAIT_MUTEX);
}

int ng_mutex_trylock(ng_mutex *m)
{
	if (m == NULL)
		return -EINVAL;
	_Atomic int32_t *st = mstate(m);
	int32_t old = atomic_load_explicit(st, memory_order_relaxed);
	do {
		if (old & (MUTEX_LOCKED | MUTEX_STARVING))
			return -EAGAIN;
	} while (!atomic_compare_exchange_weak_explicit(
	    st, &old, old | MUTEX_LOCKED, memory_order_acquire, memory_order_relaxed));
	return 0;
}

static int unlock_slow(ng_mutex *m, int32_t old)
{
	_Atomic int32_t *st = mstate(m);
	bool qlocked = false;
	for (;;) {
		if (!(old & MUTEX_LOCKED)) {
			if (qlocked)
				waitq_unlock(&m->q);
			return -EPERM;
		}
		if (old & MUTEX_STARVING) {
			/* Hand-off: unlock and give the wakeup (which carries
			 * ownership) in one step under q's lock, so a waiter
			 * timing out meanwhile sees either both or neither. */
			if (!qlocked) {
				waitq_lock(&m->q);
				qlocked = true;
				old = atomic_load_explicit(st, memory_order_relaxed);
				continue;
			}
			if (!cas(st, &old, old & ~MUTEX_LOCKED))
				continue;
			sema_release_locked(m);
			waitq_unlock(&m->q);
			return 0;
		}
		if (cas(st, &old, old & ~MUTEX_LOCKED))
			break;
	}
	if (qlocked)
		waitq_unlock(&m->q);
	/* Wake one waiter, unless there are none, someone is already awake,
	 * or the mutex was taken again (its holder will wake one). */
	old &= ~MUTEX_LOCKED;
	if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
	    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)) != 0)
		return 0;
	waitq_lock(&m->q);
	old = atomic_load_explicit(st, memory_order_relaxed);
	for (;;) {
		if ((old >> MUTEX_WAITER_SHIFT) == 0 ||
		    (old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING)) != 0)
			break;
		if (cas(st, &old, (old - MUTEX_WAITER) | MUTEX_WOKEN)) {
			sema_release_locked(m);
			break;
		}
	}
	waitq_unlock(&m->q);
	return 0;
}

int(ng_mutex_unlock)(ng_mutex *m)
{
	if (m == NULL)
		return -EINVAL;
	int32_t old = MUTEX_LOCKED;
	if (atomic_compare_exchange_strong_explicit(mstate(m), &old, 0, memory_order_release,
	                                            memory_order_relaxed))
		return 0;
	return unlock_slow(m, old);
}

/* ---- once: Go's sync.Once ---- */

int ng_once_do(ng_once *once, void (*fn)(void *), void *arg)
{
	if (once == NULL || fn == NULL)
		return -EINVAL;
	_Atomic int32_t *done = (_Atomic int32_t *)&once->done;
	if (atomic_load_explicit(done, memory_order_acquire))
		return 0;
	/* Slow path under the mutex: later callers wait until fn has
	 * returned, not merely started (why a CAS on done is not enough). */
	ng_mutex_lock_reason(&once->m, NG_FOREVER, NG_WAIT_ONCE);
	if (!atomic_load_explicit(done, memory_order_relaxed)) {
		fn(arg);
		atomic_store_explicit(done, 1, memory_order_release);
	}
	ng_mutex_unlock(&once->m);
	return 0;
}
