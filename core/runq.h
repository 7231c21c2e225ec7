/* core/runq.h — the per-P run queue: a 256-slot ring plus runnext.
 *
 * Invariants (Go's runqput/runqget/runqsteal, proc.go):
 * - Only the P's owner writes runqtail and the slots; it pushes at the tail.
 * - Anyone (owner popping, thieves stealing) advances runqhead by CAS, so
 *   every G is taken exactly once.
 * - 0 <= tail - head <= 256 (unsigned arithmetic wraps).
 * - runnext holds at most one G that runs before the ring; the owner sets it
 *   with a CAS (a thief may take it concurrently) and a G that goes there
 *   inherits the rest of the current time slice.
 * - Thieves read slots before their CAS on head; the owner may be refilling
 *   those slots, so slots are relaxed atomics and a failed CAS discards the
 *   read (the value is only used if the CAS proves nobody moved head).
 */
#ifndef NG_CORE_RUNQ_H
#define NG_CORE_RUNQ_H

#include "internal.h"

#define RQ_LOAD(x, o)     atomic_load_explicit((x), memory_order_##o)
#define RQ_STORE(x, v, o) atomic_store_explicit((x), (v), memory_order_##o)

static inline bool runq_empty(ng_p *p)
{
	/* Go's careful read: head, tail, runnext, then tail again, so a G moving
	 * from runnext to the ring in between is not missed. */
	for (;;) {
		uint32_t head = RQ_LOAD(&p->runqhead, acquire);
		uint32_t tail = RQ_LOAD(&p->runqtail, acquire);
		ng_g *next = RQ_LOAD(&p->runnext, acquire);
		if (tail == RQ_LOAD(&p->runqtail, acquire))
			return head == tail && next == NULL;
	}
}

static inline uint32_t runq_size(ng_p *p)
{
	uint32_t head = RQ_LOAD(&p->runqhead, acquire);
	uint32_t tail = RQ_LOAD(&p->runqtail, acquire);
	return tail - head;
}

/* Owner: take a G, runnext first.  *inherit says whether it inherits the
 * time slice (it came from runnext). */
static inline ng_g *runq_get(ng_p *p, bool *inherit)
{
	ng_g *next = RQ_LOAD(&p->runnext, relaxed);
	if (next != NULL &&
	    atomic_compare_exchange_strong_explicit(&p->runnext, &next, NULL, memory_order_acq_rel,
	                                            memory_order_relaxed)) {
		*inherit = true;
		return next;
	}
	*inherit = false;
	for (;;) {
		uint32_t head = RQ_LOAD(&p->runqhead, acquire);
		uint32_t tail = RQ_LOAD(&p->runqtail, relaxed);
		if (tail == head)
			return NULL;
		ng_g *g = RQ_LOAD(&p->runq[head % NG_RUNQ_SIZE], relaxed);
		if (atomic_compare_exchange_weak_explicit(
		        &p->runqhead, &head, head + 1, memory_order_release, memory_order_relaxed))
			return g;
	}
}

/* Grab up to half of p's queue into batch[batch_head...] (a ring of the same
 * size).  Returns how many.  Used by thieves (and by nobody else). */
static inline uint32_t runq_grab(ng_p *p, _Atomic(ng_g *) *batch, uint32_t batch_head,
                                 bool steal_next)
{
	for (;;) {
		uint32_t head = RQ_LOAD(&p->runqhead, acquire);
		uint32_t tail = RQ_LOAD(&p->runqtail, acquire);
		uint32_t n = tail - head;
		n = n - n / 2;
		if (n == 0) {
			if (steal_next) {
				ng_g *next = RQ_LOAD(&p->runnext, acquire);
				if (next == NULL)
					return 0;
				if (RQ_LOAD(&p->m, relaxed) != NULL) {
					/* Go sleeps ~3us here: the G that readied `next` is
					 * usually about to block, and the owner will run
					 * `next` itself.  Steal only if the owner switched
					 * nothing in during that time (its current G is a
					 * long runner).  The sequence number, not the
					 * pointer, decides: recycled G structs make the
					 * pointer come back (ABA). */
					uint32_t seq = RQ_LOAD(&p->schedseq, relaxed);
					int64_t until = ng_nanotime() + 3000;
					while (ng_nanotime() < until)
						for (int i = 0; i < 16; i++)
							ng_cpu_relax();
					if (RQ_LOAD(&p->schedseq, relaxed) != seq)
						return 0;
				}
				if (!atomic_compare_exchange_strong_explicit(
				        &p->runnext, &next, NULL, memory_order_acq_rel,
				        memory_order_relaxed))
					return 0;
				RQ_STORE(&batch[batch_head % NG_RUNQ_SIZE], next, relaxed);
				return 1;
			}
			return 0;
		}
		if (n > NG_RUNQ_SIZE / 2)
			continue; /* inconsistent head/tail: re-read */
		for (uint32_t i = 0; i < n; i++)
			RQ_STORE(&batch[(batch_head + i) % NG_RUNQ_SIZE],
			         RQ_LOAD(&p->runq[(head + i) % NG_RUNQ_SIZE], relaxed), relaxed);
		if (atomic_compare_exchange_weak_explicit(
		        &p->runqhead, &head, head + n, memory_order_acq_rel, memory_order_relaxed))
			return n;
	}
}

/* Steal half of p2's queue into p's (p is ours).  Returns one G to run now;
 * the rest are on p's ring. */
static inline ng_g *runq_steal(ng_p *p, ng_p *p2, bool steal_next, uint32_t *taken)
{
	uint32_t tail = RQ_LOAD(&p->runqtail, relaxed);
	uint32_t n = runq_grab(p2, p->runq, tail, steal_next);
	*taken = n;
	if (n == 0)
		return NULL;
	n--;
	ng_g *g = RQ_LOAD(&p->runq[(tail + n) % NG_RUNQ_SIZE], relaxed);
	if (n == 0)
		return g;
	RQ_STORE(&p->runqtail, tail + n, release);
	return g;
}

#endif
