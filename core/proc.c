/* core/proc.c — goroutine creation, start and exit.
 *
 * A G keeps its (standard-size) stack when it dies and goes to its P's free
 * list, so spawn+run+exit in steady state touches no lock, no allocator and
 * no system call: pop a dead G, write its entry frame, push it on runnext.
 * Free lists spill half to a global list beyond NG_GFREE_LOCAL_MAX; idle Ms
 * give the stack pages of Gs beyond a watermark back to the kernel
 * (ng_gfree_trim), so a burst of a million goroutines does not pin its memory
 * forever, and no exit pays a system call.
 *
 * Every G ever allocated is on allgs (never freed before shutdown, as in
 * Go), which the dump and the deadlock report walk without a lock.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "sched_inline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if NG_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if NG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define S ng_sched_g

/* Global free Gs beyond this many get their stack pages released when an M
 * goes idle (ng_gfree_trim). */
#define NG_GFREE_KEEP_HOT 1024

/* ---------------------------------------------------------------- allgs --- */

/* allgs is an array that only grows; readers (dump, signal handlers) load the
 * pointer and count without the lock.  Old arrays are kept until shutdown so
 * a reader never sees freed memory. */
static pthread_mutex_t allg_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(ng_g **) allgs;
static _Atomic size_t allglen;
static size_t allgcap;
static void **old_arrays;
static size_t nold_arrays;

/* G structs come from chunks (one malloc per 1024 Gs). */
#define G_CHUNK 1024
static void **gchunks;
static size_t ngchunks;
static ng_g *gchunk_cur;
static size_t gchunk_used = G_CHUNK;

static ng_g *g_new_locked(void)
{
	if (gchunk_used == G_CHUNK) {
		void **nc = realloc(gchunks, (ngchunks + 1) * sizeof *nc);
		if (nc == NULL)
			return NULL;
		gchunks = nc;
		ng_g *chunk;
		if (posix_memalign((void **)&chunk, 64, G_CHUNK * sizeof(ng_g)) != 0)
			return NULL;
		memset(chunk, 0, G_CHUNK * sizeof(ng_g));
		gchunks[ngchunks++] = chunk;
		gchunk_cur = chunk;
		gchunk_used = 0;
	}
	return &gchunk_cur[gchunk_used++];
}

static int allg_add_locked(ng_g *g)
{
	size_t n = atomic_load_explicit(&allglen, memory_order_relaxed);
	if (n == allgcap) {
		size_t cap = allgcap ? allgcap * 2 : 1024;
		ng_g **na = malloc(cap * sizeof *na);
		void **no = realloc(old_arrays, (nold_arrays + 1) * sizeof *no);
		if (na == NULL || no == NULL) {
			free(na);
			if (no != NULL)
				old_arrays = no;
			return -ENOMEM;
		}
		old_arrays = no;
		ng_g **cur = atomic_load_explicit(&allgs, memory_order_relaxed);
		if (n > 0)
			memcpy(na, cur, n * sizeof *na);
		if (cur != NULL)
			old_arrays[nold_arrays++] = cur;
		allgcap = cap;
		atomic_store_explicit(&allgs, na, memory_order_release);
	}
	ng_g **a = atomic_load_explicit(&allgs, memory_order_relaxed);
	a[n] = g;
	atomic_store_explicit(&allglen, n + 1, memory_order_release);
	return 0;
}

/* Snapshot for readers: pointer and count consistent enough for a dump. */
ng_g **ng_allgs_snapshot(size_t *n)
{
	*n = atomic_load_explicit(&allglen, memory_order_acquire);
	return atomic_load_explicit(&allgs, memory_order_acquire);
}

void ng_allg_free_all(void)
{
	pthread_mutex_lock(&allg_lock);
	size_t n = atomic_load(&allglen);
	ng_g **a = atomic_load(&allgs);
	for (size_t i = 0; i < n; i++) {
		ng_g *g = a[i];
		if (g->stack.lo != NULL)
			ng_stack_free(NULL, &g->stack);
		free(g->prof);
		g->prof = NULL;
#if NG_TSAN
		if (g->ctx.tsan_fiber != NULL)
			__tsan_destroy_fiber(g->ctx.tsan_fiber);
#endif
	}
	for (size_t i = 0; i < ngchunks; i++)
		free(gchunks[i]);
	free(gchunks);
	gchunks = NULL;
	ngchunks = 0;
	gchunk_used = G_CHUNK;
	gchunk_cur = NULL;
	for (size_t i = 0; i < nold_arrays; i++)
		free(old_arrays[i]);
	free(old_arrays);
	old_arrays = NULL;
	nold_arrays = 0;
	free(a);
	atomic_store(&allgs, NULL);
	atomic_store(&allglen, 0);
	allgcap = 0;
	pthread_mutex_unlock(&allg_lock);
}

/* ------------------------------------------------------------ free lists --- */

/* sched.lock held: let unlocked readers know whether a look is worthwhile. */
static void gfree_publish_locked(void)
{
	atomic_store_explicit(&S.gfree_avail, S.gfree_n + S.gfree_cold_n, memory_order_relaxed);
}

/* sched.lock held: move Gs from a global list to p's until p has half its
 * quota. */
static void gfree_refill_locked(ng_p *p, ng_g **list, int32_t *n)
{
	while (*list != NULL && RELAXED(p->gfree_n) < NG_GFREE_LOCAL_MAX / 2) {
		ng_g *g = *list;
		*list = g->schedlink;
		(*n)--;
		g->schedlink = p->gfree;
		p->gfree = g;
		OWN_ADD(p->gfree_n, 1);
	}
}

/* Refill p's free list from the global ones (hot stacks first). */
static ng_g *gfget_global(ng_p *p)
{
	ng_g *got = NULL;
	pthread_mutex_lock(&S.lock);
	gfree_refill_locked(p, &S.gfree, &S.gfree_n);
	gfree_refill_locked(p, &S.gfree_cold, &S.gfree_cold_n);
	gfree_publish_locked();
	pthread_mutex_unlock(&S.lock);
	if (p->gfree != NULL) {
		got = p->gfree;
		p->gfree = got->schedlink;
		OWN_ADD(p->gfree_n, -1);
	}
	return got;
}

static ng_g *gfget_global_any(void)
{
	ng_g *g;
	pthread_mutex_lock(&S.lock);
	g = S.gfree;
	if (g != NULL) {
		S.gfree = g->schedlink;
		S.gfree_n--;
	} else if ((g = S.gfree_cold) != NULL) {
		S.gfree_cold = g->schedlink;
		S.gfree_cold_n--;
	} else if ((g = S.gfree_nostack) != NULL) {
		S.gfree_nostack = g->schedlink;
		S.gfree_nostack_n--;
	}
	gfree_publish_locked();
	pthread_mutex_unlock(&S.lock);
	return g;
}

ng_g *ng_g_alloc(ng_p *p, size_t stack_size)
{
	ng_g *g = NULL;
	bool standard = stack_size == ng_stack_default_size();
	if (standard && p != NULL) {
		g = p->gfree;
		if (NG_LIKELY(g != NULL)) {
			p->gfree = g->schedlink;
			OWN_ADD(p->gfree_n, -1);
		} else if (atomic_load_explicit(&S.gfree_avail, memory_order_relaxed) > 0) {
			g = gfget_global(p);
		}
	} else if (standard) {
		g = gfget_global_any();
	} else {
		pthread_mutex_lock(&S.lock);
		if ((g = S.gfree_nostack) != NULL) {
			S.gfree_nostack = g->schedlink;
			S.gfree_nostack_n--;
		}
		pthread_mutex_unlock(&S.lock);
	}
	if (g != NULL) {
		g->schedlink = NULL;
		/* a reused G may carry a stack of another size */
		if (g->stack.lo != NULL && (size_t)(g->stack.hi - g->stack.lo) != stack_size)
			ng_stack_free(p, &g->stack);
	} else {
		pthread_mutex_lock(&allg_lock);
		g = g_new_locked();
		if (g != NULL && allg_add_locked(g) != 0)
			g = NULL; /* the slot in the chunk is simply not reused */
		pthread_mutex_unlock(&allg_lock);
		if (g == NULL)
			return NULL;
	}
	if (g->stack.lo == NULL && ng_stack_alloc(p, stack_size, &g->stack) != 0) {
		/* keep the G for later, without a stack */
		atomic_store(&g->status, NG_G_DEAD);
		pthread_mutex_lock(&S.lock);
		g->schedlink = S.gfree_nostack;
		S.gfree_nostack = g;
		S.gfree_nostack_n++;
		pthread_mutex_unlock(&S.lock);
		return NULL;
	}
	return g;
}

void ng_g_free(ng_p *p, ng_g *g)
{
	ng_g_mark_dead(g);
	if (!g->stack.pooled) {
		/* odd-sized stack: give it back now, keep the G */
		ng_stack_free(p, &g->stack);
		pthread_mutex_lock(&S.lock);
		g->schedlink = S.gfree_nostack;
		S.gfree_nostack = g;
		S.gfree_nostack_n++;
		pthread_mutex_unlock(&S.lock);
		return;
	}
	g->schedlink = p->gfree;
	p->gfree = g;
	OWN_ADD(p->gfree_n, 1);
	if (NG_LIKELY(RELAXED(p->gfree_n) <= NG_GFREE_LOCAL_MAX))
		return;
	/* Spill half to the global list. */
	ng_g *batch = NULL;
	int n = 0;
	while (RELAXED(p->gfree_n) > NG_GFREE_LOCAL_MAX / 2) {
		ng_g *x = p->gfree;
		p->gfree = x->schedlink;
		OWN_ADD(p->gfree_n, -1);
		x->schedlink = batch;
		batch = x;
		n++;
	}
	pthread_mutex_lock(&S.lock);
	while (batch != NULL) {
		ng_g *x = batch;
		batch = x->schedlink;
		x->schedlink = S.gfree;
		S.gfree = x;
		S.gfree_n++;
	}
	gfree_publish_locked();
	pthread_mutex_unlock(&S.lock);
	(void)n;
}

/* Called by an M that is about to go idle: give the pages of up to `max`
 * dead Gs' stacks beyond the hot watermark back to the kernel.  Exits never
 * pay for this (madvise plus a TLB shootdown costs microseconds); idle time
 * does, a bounded batch at a time, like Go's background scavenger.  The Gs
 * keep their (now empty) stacks and move to the cold list. */
void ng_gfree_trim(int max)
{
	ng_g *batch = NULL;
	int n = 0;
	pthread_mutex_lock(&S.lock);
	while (n < max && S.gfree_n > NG_GFREE_KEEP_HOT) {
		ng_g *g = S.gfree;
		S.gfree = g->schedlink;
		S.gfree_n--;
		g->schedlink = batch;
		batch = g;
		n++;
	}
	gfree_publish_locked();
	pthread_mutex_unlock(&S.lock);
	if (batch == NULL)
		return;
	ng_g *tail = batch;
	for (ng_g *g = batch; g != NULL; g = g->schedlink) {
		ng_stack_release_pages(&g->stack);
		tail = g;
	}
	pthread_mutex_lock(&S.lock);
	tail->schedlink = S.gfree_cold;
	S.gfree_cold = batch;
	S.gfree_cold_n += n;
	gfree_publish_locked();
	pthread_mutex_unlock(&S.lock);
}

/* ----------------------------------------------------------------- spawn --- */

static uint64_t goid_next(ng_p *p)
{
	if (p == NULL)
		return atomic_fetch_add_explicit(&S.goid_gen, 1, memory_order_relaxed) + 1;
	if (NG_UNLIKELY(p->goid_next == p->goid_end)) {
		p->goid_next =
		    atomic_fetch_add_explicit(&S.goid_gen, NG_GOID_BATCH, memory_order_relaxed) + 1;
		p->goid_end = p->goid_next + NG_GOID_BATCH;
	}
	return p->goid_next++;
}

int ng_spawn(const ng_go_attr *attr, void (*fn)(void *), void *arg, const void *copy,
             size_t copy_size, const char *file, int line, bool user)
{
	if (fn == NULL)
		return -EINVAL;
	if (NG_UNLIKELY(!atomic_load_explicit(&S.running, memory_order_acquire)))
		return -ESRCH;
	ng_preempt_point();
	size_t stack_size = ng_stack_default_size();
	int target = -1;
	bool pinned = false;
	if (attr != NULL) {
		if (attr->stack_size != 0) {
			if (attr->stack_size < 16384 || attr->stack_size > ((size_t)1 << 34))
				return -EINVAL;
			stack_size = (attr->stack_size + 4095) & ~(size_t)4095;
		}
		if (attr->proc >= S.nprocs || attr->proc < -1)
			return -EINVAL;
		if (attr->proc >= 0) {
			target = attr->proc;
			pinned = true;
		} else if (attr->numa_node != -1) {
			int nodes_p = 0, pick = -1;
			for (int i = 0; i < S.nprocs; i++)
				if (S.allp[i]->node == attr->numa_node) {
					/* spread over the node's Ps */
					if (ng_fastrand() % (uint32_t)++nodes_p == 0)
						pick = i;
				}
			if (pick < 0)
				return -EINVAL;
			target = pick;
		}
	}
	if (copy_size > stack_size / 4)
		return -EINVAL;

	ng_m *m = ng_getm();
	ng_p *p = (m != NULL) ? m->p : NULL;
	if (m == NULL && user)
		ng_foreign_register();
	ng_g *g = ng_g_alloc(p, stack_size);
	if (NG_UNLIKELY(g == NULL))
		return -ENOMEM;

	g->fn = fn;
	g->arg = arg;
	g->id = goid_next(p);
	g->file = file;
	g->line = line;
	g->name = attr != NULL ? attr->name : NULL;
	g->flags = attr != NULL ? (uint16_t)attr->flags : 0;
	if (NG_UNLIKELY(g->flags & NG_GO_PROFILE))
		ng_prof_spawn(g);
	g->parent = (m != NULL && m->curg != NULL) ? m->curg->id : 0;
	g->pinned = pinned;
	g->pin_p = target;
	g->waitreason = 0;
	ng_asan_fresh_stack(&g->stack);
	char *top = g->stack.hi;
	if (copy != NULL && copy_size > 0) {
		top -= (copy_size + 15) & ~(size_t)15;
		memcpy(top, copy, copy_size);
		g->arg = top;
	}
	g->ctx.sp = ng_ctx_make(top, g, ng_fpctl_default);
#if NG_ASAN
	g->ctx.stack_lo = g->stack.lo;
	g->ctx.stack_size = (size_t)(g->stack.hi - g->stack.lo);
#endif
#if NG_TSAN
	g->ctx.tsan_fiber = __tsan_create_fiber(0);
#endif
	atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_release);

	if (p != NULL) {
		OWN_ADD(p->stats.spawns, 1);
		OWN_ADD(p->live, 1);
	} else {
		atomic_fetch_add_explicit(&S.stat_spawns, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&S.ngoroutines, 1, memory_order_relaxed);
	}

	if (target >= 0) {
		ng_ready_to(S.allp[target], g);
	} else if (p != NULL) {
		ng_runq_put(p, g, true);
		ng_wakep();
	} else {
		atomic_store_explicit(&g->status, NG_G_WAITING, memory_order_relaxed);
		ng_ready(g); /* from a foreign thread: the global queue */
	}
	return 0;
}

/* ------------------------------------------------------------ start/exit --- */

void ng_g_start(ng_m *m, ng_g *g)
{
#if NG_ASAN
	__sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
	ng_post_switch_inline(m);
	ng_timers_poll(m);
	g->fn(g->arg);
	ng_exit();
}

_Noreturn void ng_exit(void)
{
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL) {
		ng_warn("ng_exit called outside a goroutine: ending the calling thread");
		pthread_exit(NULL);
	}
	ng_g *g = m->curg;
	if (g == S.main_g && !S.main_done_flag) {
		/* Go's Goexit from main: the others go on; if they all finish the
		 * deadlock detector says "no goroutines (main called ng_exit)". */
		S.main_exited_via_ng_exit = true;
	}
	OWN_ADD(m->p->live, -1);
	ng_g_exit_switch(m, g);
}

uint64_t ng_id(void)
{
	ng_m *m = ng_getm();
	return (m != NULL && m->curg != NULL) ? m->curg->id : 0;
}

int64_t ng_num_goroutines(void)
{
	if (!atomic_load(&S.running))
		return 0;
	int64_t n = atomic_load(&S.ngoroutines);
	for (int i = 0; i < S.nprocs; i++)
		n += RELAXED(S.allp[i]->live);
	return n;
}

/* ------------------------------------------------------------ public API --- */

int ng_go_at(void (*fn)(void *), void *arg, const char *file, int line)
{
	/* The fast path: a goroutine spawns with a dead G (and its stack) on its
	 * P's free list.  Everything else goes through ng_spawn. */
	ng_preempt_point();
	ng_m *m = ng_getm();
	ng_g *g;
	if (NG_LIKELY(m != NULL && m->curg != NULL && fn != NULL) &&
	    NG_LIKELY((g = m->p->gfree) != NULL)) {
		ng_p *p = m->p;
		p->gfree = g->schedlink;
		OWN_ADD(p->gfree_n, -1);
		g->schedlink = NULL;
		g->fn = fn;
		g->arg = arg;
		g->id = goid_next(p);
		g->file = file;
		g->line = line;
		g->name = NULL;
		g->flags = 0;
		g->parent = m->curg->id;
		g->pinned = 0;
		g->pin_p = -1;
		ng_asan_fresh_stack(&g->stack);
		g->ctx.sp = ng_ctx_make(g->stack.hi, g, ng_fpctl_default);
#if NG_TSAN
		g->ctx.tsan_fiber = __tsan_create_fiber(0);
#endif
		atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_release);
		OWN_ADD(p->stats.spawns, 1);
		OWN_ADD(p->live, 1);
		ng_runq_put(p, g, true);
		ng_wakep();
		return 0;
	}
	return ng_spawn(NULL, fn, arg, NULL, 0, file, line, true);
}

int ng_go_attr_at(const ng_go_attr *attr, void (*fn)(void *), void *arg, const char *file, int line)
{
	return ng_spawn(attr, fn, arg, NULL, 0, file, line, true);
}

int ng_go_copy_at(void (*fn)(void *), const void *arg, size_t size, const char *file, int line)
{
	if (arg == NULL && size > 0)
		return -EINVAL;
	return ng_spawn(NULL, fn, NULL, arg, size, file, line, true);
}

#undef ng_go
#undef ng_go_copy
int ng_go(void (*fn)(void *), void *arg)
{
	return ng_go_at(fn, arg, NULL, 0);
}

int ng_go_copy(void (*fn)(void *), const void *arg, size_t size)
{
	return ng_go_copy_at(fn, arg, size, NULL, 0);
}
