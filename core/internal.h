/* core/internal.h — the runtime's internal structures (G, M, P, sched).
 *
 * This is the one header other modules (topology/, perf/, offload/, mpi/)
 * include to talk to core.  Vocabulary is Go's (src/runtime/runtime2.go):
 *
 *   G  a goroutine: a saved context, a stack, a status.
 *   M  an OS thread that runs Gs.  Its own pthread stack is the "g0" context
 *      where the scheduler loop runs when there is nothing to switch to
 *      directly and where the M parks.
 *   P  a processor: the right to run Gs, with a local run queue.  There are
 *      exactly `nprocs` Ps; an M must hold a P to run Gs.
 *
 * Switching: a G that blocks, yields or exits picks its successor itself and
 * switches G->G directly (no trip through g0) whenever the successor is in
 * its P's local queue.  Whatever must happen to the old G *after* we are off
 * its stack (requeue it, release a channel lock, free it) is recorded in
 * m->after and executed by the context we switch into (post_switch).  This
 * is how Go's mcall(park_m) avoids the race where another M readies and runs
 * a G while its stack is still in use.
 *
 * The switch returns the M that resumed us, so code after a switch never
 * reuses an M pointer (or TLS address) computed before it: the G may have
 * moved to another thread.
 */
#ifndef NG_CORE_INTERNAL_H
#define NG_CORE_INTERNAL_H

#include <numago/runtime.h>
#include <numago/perf.h>
#include <numago/topology.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Everything declared below lives in this library (built with
 * -fvisibility=hidden): saying so lets the compiler reach the globals
 * RIP-relative instead of through the GOT (the hot paths read ng_sched_g,
 * ng_preempt_any and ng_switch_hooks at every switch). */
#pragma GCC visibility push(hidden)

#define NG_CACHELINE   128 /* two lines: adjacent-line prefetch pairs them */
#define NG_PAD(n)      char _pad_##n[NG_CACHELINE]
#define NG_LIKELY(x)   __builtin_expect(!!(x), 1)
#define NG_UNLIKELY(x) __builtin_expect(!!(x), 0)

static inline void ng_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#if defined(__SANITIZE_ADDRESS__)
#define NG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define NG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NG_TSAN 1
#endif
#endif
#ifndef NG_ASAN
#define NG_ASAN 0
#endif
#ifndef NG_TSAN
#define NG_TSAN 0
#endif

struct ng_m;
struct ng_p;
struct ng_g;

/* Spinlock for the runtime's few-instruction critical sections (queues,
 * heaps, channel state).  A holder that lost its CPU gets it back through
 * sched_yield instead of being spun against for a whole time slice. */
void ng_spin_lock_slow(_Atomic int32_t *l);
static inline void ng_spin_lock(_Atomic int32_t *l)
{
	int32_t zero = 0;
	if (NG_LIKELY(atomic_compare_exchange_weak_explicit(l, &zero, 1, memory_order_acquire,
	                                                    memory_order_relaxed)))
		return;
	ng_spin_lock_slow(l); /* contended (sched.c): out of line, so that callers' fast
	                         paths call nothing */
}

static inline void ng_spin_unlock(_Atomic int32_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/* ---- contexts (core/arch/<arch>/switch.S) ---- */

/* A saved execution context.  sp must stay the first field. */
typedef struct ng_regs {
	void *sp; /* saved stack pointer; callee-saved registers live below it */
#if NG_ASAN
	const void *stack_lo; /* bounds announced to ASan on switch-in */
	size_t stack_size;
	void *fake_stack; /* ASan's fake-stack handle while switched out */
#endif
#if NG_TSAN
	void *tsan_fiber;
#endif
} ng_regs;

/* Save the current context's callee-saved state in *save_sp, load load_sp,
 * and return `m` in the resumed context (whatever its switcher passed). */
struct ng_m *ng_ctx_switch(void **save_sp, void *load_sp, struct ng_m *m);
/* Prepare a fresh stack so that switching to the returned sp calls
 * ng_g_start(m, g) on it. */
void *ng_ctx_make(void *stack_hi, void *g, uint64_t fpctl);
/* Floating-point control state new goroutines start with: MXCSR in the low
 * 32 bits, x87 control word above (aarch64: FPCR).  Captured at boot from the
 * thread that started the runtime, so -ffast-math's FTZ/DAZ carries over. */
extern uint64_t ng_fpctl_default;
uint64_t ng_fpctl_read(void);

/* ---- stacks (core/stack.c) ---- */

enum ng_guard_kind {
	NG_GUARD_NONE = 0,     /* not yet decided */
	NG_GUARD_MADVISE = 1,  /* MADV_GUARD_INSTALL (Linux >= 6.13): no new VMA */
	NG_GUARD_MPROTECT = 2, /* PROT_NONE page: splits the mapping */
	NG_GUARD_CHECK = 3,    /* no guard page: stack pointer checked at switch-out */
};

typedef struct ng_stack {
	char *lo;       /* lowest usable address (just above the guard) */
	char *hi;       /* one past the highest usable address */
	uint8_t guard;  /* enum ng_guard_kind */
	uint8_t pooled; /* standard size from a slab: returned to the pool */
	uint16_t node;  /* NUMA node of its memory (its pool) */
} ng_stack;

/* NG_GUARD_CHECK: a switch-out with less than this left is an overflow. */
#define NG_STACK_CHECK_MARGIN 256

int ng_stack_alloc(struct ng_p *p, size_t size, ng_stack *out);
void ng_stack_free(struct ng_p *p, ng_stack *s);
/* Give the stack's committed pages back to the kernel (keeps the mapping). */
void ng_stack_release_pages(ng_stack *s);
/* NG_GUARD_CHECK stacks: is sp (taken at switch-out) still inside? */
static inline bool ng_stack_sp_ok(const ng_stack *s, const void *sp)
{
	return (const char *)sp >= s->lo + NG_STACK_CHECK_MARGIN;
}
_Noreturn void ng_stack_overflow_fatal(const struct ng_g *g, const void *addr);
extern size_t ng_stack_std_size; /* usable bytes of a standard stack */
static inline size_t ng_stack_default_size(void)
{
	return ng_stack_std_size;
}
void ng_stack_init(size_t default_size);
void ng_stack_fini(void);
/* Which guard the next stacks get; for tests and the RSS benchmark. */
int ng_stack_guard_mode(void);
/* Is addr inside a guard page (or canary zone) of s? */
bool ng_stack_in_guard(const ng_stack *s, const void *addr);
/* Stacks handed out and not given back, and the bytes mapped for them
 * (ng_stats). */
void ng_stack_counts(int64_t *stacks, uint64_t *bytes);
void ng_stack_install_segv_handler(void);
int ng_stack_altstack_setup(void **mem);
void ng_stack_altstack_teardown(void *mem);

/* ---- G ---- */

enum ng_gstatus {
	NG_G_IDLE = 0,     /* just allocated, not yet initialised */
	NG_G_RUNNABLE = 1, /* on a run queue */
	NG_G_RUNNING = 2,  /* owns an M and a P */
	NG_G_SYSCALL = 3,  /* in a blocking foreign call (ng_block_enter) */
	NG_G_WAITING = 4,  /* parked; something will ready it */
	NG_G_DEAD = 5,     /* finished; on a free list */
	NG_G_PREEMPTED = 6,
};

/* Why a G waits: shown in dumps and deadlock reports (Go's waitReason). */
enum ng_waitreason {
	NG_WAIT_ZERO = 0,
	NG_WAIT_CHAN_RECV,
	NG_WAIT_CHAN_SEND,
	NG_WAIT_SELECT,
	NG_WAIT_SELECT_NO_CASES,
	NG_WAIT_SLEEP,
	NG_WAIT_MUTEX,
	NG_WAIT_RWMUTEX_R,
	NG_WAIT_RWMUTEX_W,
	NG_WAIT_WAITGROUP,
	NG_WAIT_COND,
	NG_WAIT_SEMA,
	NG_WAIT_ONCE,
	NG_WAIT_IO,
	NG_WAIT_OFFLOAD,
	NG_WAIT_MPI,
	NG_WAIT_FOREVER, /* parked on purpose with nothing to wake it */
	NG_WAIT_TEST,
	NG_WAIT_COUNT
};
const char *ng_waitreason_str(int reason);

typedef struct ng_g {
	_Alignas(64) ng_regs ctx;
	/* aligned: Gs of different Ps share no cache line */ /* first: the switch saves here */
	ng_stack stack;          /* owned by the G while it lives or is cached */
	_Atomic uint32_t status; /* enum ng_gstatus; written by the owner M or the readier */
	uint8_t waitreason;      /* valid while WAITING; written before parking */
	uint8_t pinned;          /* stays on pin_p (attr.proc) */
	uint16_t flags;          /* NG_GO_* */
	struct ng_gprof *prof;   /* NG_GO_PROFILE: its counters (perf/counters.c), kept on reuse */
	int pin_p;               /* -1 or the P it must run on */
	uint64_t id;             /* goroutine id, unique for the process */
	void (*fn)(void *);      /* entry, with arg */
	void *arg;
	struct ng_g *schedlink; /* global queue / free lists / inboxes; lock of that list */
	int64_t waitsince;      /* ng_now() when it parked; dumps */
	const char *name;       /* attr.name or NULL */
	const char *file;       /* creation site (ng_go macro) */
	int line;
	uint64_t parent;      /* id of the creating goroutine, 0 foreign */
	void *waiting;        /* the wait record it is parked on (chan/sync) */
	uintptr_t park_token; /* handshake word for park/ready (see sched.c) */
	/* Async preemption (preempt.c): the M it must resume on, set while it
	 * waits in a queue after a signal stopped it; NULL otherwise. */
	struct ng_m *lockedm;
} ng_g;

/* ---- P ---- */

/* Per-P counters: written only by the P's owner, read by anyone.  Relaxed
 * atomic load + store (not a read-modify-write): a plain mov on x86, and
 * the sanitizers see an atomic access. */
typedef struct ng_pstats {
	_Atomic uint64_t runs, spawns, steals, stolen, global_gets, parks;
	_Atomic uint64_t steals_by_class[NG_DIST_NCLASSES];
	/* victims looked at (not skipped as idle) that gave nothing */
	_Atomic uint64_t failed_steals_by_class[NG_DIST_NCLASSES];
	_Atomic uint64_t spin_ns; /* idle Ms spinning in findrunnable on this P */
	/* channel operations completed by code running on this P, counted
	 * where the element moves (ng_count_chan): NG_SC_XFER is a hand-off
	 * to or from a blocked waiter, one send and one receive at once */
	_Atomic uint64_t chan[4];
	/* gauges (ng_gauge_add): changes made on this P, summed with
	 * ng_sched.gauge by ng_stats_read; one P's share may be negative */
	_Atomic int64_t gauge[2];
} ng_pstats;
#define OWN_ADD(field, v)                                                                 \
	atomic_store_explicit(&(field),                                                   \
	                      atomic_load_explicit(&(field), memory_order_relaxed) + (v), \
	                      memory_order_relaxed)
#define RELAXED(field) atomic_load_explicit(&(field), memory_order_relaxed)

#define NG_RUNQ_SIZE       256
#define NG_GFREE_LOCAL_MAX 64
#define NG_GOID_BATCH      128

typedef struct ng_p {
	/* read by thieves: kept apart from owner-only fields */
	_Alignas(NG_CACHELINE) _Atomic uint32_t runqhead; /* thieves CAS it */
	_Alignas(NG_CACHELINE) _Atomic uint32_t runqtail; /* owner stores, thieves load */
	_Atomic uint32_t schedseq;                        /* owner bumps per switch-in; thieves
	                                                     compare it before taking runnext */
	_Atomic(ng_g *) runnext;                          /* owner sets, thieves CAS */
	/* Deferred wakes (sysmon.c): the owner readied a G into an empty
	 * runnext without waking an idle P, and clears this once runnext is
	 * empty at a switch-in; handoffs counts such readies for sysmon. */
	_Atomic uint32_t wake_owed;
	_Atomic uint32_t handoffs;
	/* Blocking calls (ng_block_enter): count << 2 | NG_P_*.  The M holding
	 * the P is in one while the state is NG_P_BLOCKED; whoever moves the
	 * word on first by CAS (the M coming back, or sysmon taking the P) wins
	 * it.  The count makes a late M's CAS fail once the P has moved on. */
	_Atomic uint64_t block;
	/* Time slices (preempt.c): the owner publishes schedtick at every
	 * switch-in; sysmon asks for a preemption of the slice it saw running
	 * too long by storing that tick + 1 in preempt (0: none asked). */
	_Atomic uint32_t slicetick;
	_Atomic uint32_t preempt;
	_Atomic(ng_g *) runq[NG_RUNQ_SIZE]; /* slots: relaxed atomics (thieves read
	                                                     speculatively, as Go does) */
	/* owner-only (the M holding this P) */
	_Alignas(NG_CACHELINE) int id;
	int node;                 /* NUMA node of the P (topology) */
	_Atomic int phase;        /* enum ng_phase of its M's latest counter reading */
	uint32_t schedtick;       /* incremented by every schedule that did not inherit */
	_Atomic(struct ng_m *) m; /* M holding it, NULL when idle (thieves peek) */
	struct ng_p *link;        /* idle list; sched.lock */
	ng_g *gfree;              /* dead Gs with stacks */
	_Atomic int gfree_n;      /* owner writes (OWN_ADD), ng_stats_read reads */
	ng_stack *stack_cache;    /* per-P standard-size stacks (stack.c) */
	int stack_cache_n;
	uint64_t goid_next, goid_end; /* batch of ids */
	_Atomic int64_t live;         /* spawned here minus exited here (sum over Ps = live Gs) */
	ng_pstats stats;              /* owner writes (OWN_ADD), anyone reads relaxed */
	/* foreign writers: Gs that must run here (attr.proc / numa_node) */
	_Alignas(NG_CACHELINE) pthread_mutex_t inbox_lock;
	ng_g *inbox_head, *inbox_tail;
	_Atomic int inbox_n;
	int *victims;    /* steal order: other P ids (topology) */
	uint32_t *vkey;  /* victims of equal key are tried from a random start */
	uint8_t *vclass; /* distance class of each victim (steal census) */
	int nvictims;
	int group; /* spinning group (L3 or node) */
	/* timers (timer.c): anyone may add, the owner and thieves run them */
	_Alignas(NG_CACHELINE) _Atomic int32_t tlock;
	_Atomic int64_t timer_next; /* earliest `when`, INT64_MAX if none; peeked unlocked */
	uint32_t tpoll;             /* owner: switches since timers were last looked at */
	uint32_t nparks;            /* owner: parks, to pace coarse_now refreshes */
	int64_t coarse_now;         /* owner: recent ng_coarse_now(), for park times */
	struct ng_tmr **theap;
	int32_t tn, tcap;
} ng_p;

/* ---- M ---- */

enum ng_after {
	NG_AFTER_NONE = 0,
	NG_AFTER_YIELD,  /* put the old G on the local queue tail */
	NG_AFTER_PARK,   /* old G is WAITING: run unlockf(arg), then it may be readied */
	NG_AFTER_EXIT,   /* old G is dead: free it */
	NG_AFTER_GLOBAL, /* put the old G on the global queue */
	NG_AFTER_LOCKED, /* async-preempted G queued to resume on this M, which
	                    hands its P on and waits (preempt.c) */
};

typedef bool (*ng_unlockf)(ng_g *g, void *arg);

typedef struct ng_note {
	_Atomic uint32_t key; /* 0 clear, 1 woken; futex word */
} ng_note;

typedef struct ng_m {
	ng_regs g0;        /* the M's own pthread stack: scheduler loop */
	ng_g *curg;        /* G running on this M, NULL on g0 */
	ng_p *p;           /* P held, NULL when idle */
	ng_p *nextp;       /* P handed over by startm; sched.lock */
	int64_t wake_at;   /* when startm woke it (spin.c learns from it); sched.lock */
	ng_p *oldp;        /* P held when it entered a blocking call */
	uint64_t oldblock; /* oldp->block as this M set it */
	bool spinning;     /* looking for work; counted in sched.nmspinning */
	bool blocked;      /* in ng_block_enter (issue: sysmon) */
	bool timer_wake;   /* woke from its timed sleep for due timers: no spin */
	/* running timer callbacks (timer.c), maybe on a goroutine's stack: a
	 * cooperative preemption there would park the G with its timer still
	 * RUNNING, and ng_tmr_del spins on that state */
	bool in_timers;
	int id;
	int bound_p;            /* P whose PUs the thread is bound to, -1 none */
	int spin_group;         /* group counted in sched.group_spinning, -1 none */
	ng_note park;           /* idle Ms sleep here */
	struct ng_m *schedlink; /* idle list; sched.lock */
	struct ng_m *alllink;   /* all Ms; sched.lock */
	pthread_t thread;
	pthread_t self; /* the same, written by the thread itself */
	uint64_t rand;  /* fastrand state */
	/* the action for the G we just left (see the header comment) */
	int after;
	ng_g *after_g;
	ng_unlockf after_fn;
	void *after_arg;
	void *altstack; /* sigaltstack memory */
	bool exited;    /* the thread has left the scheduler loop */
	/* Async preemption (preempt.c) */
	ng_g *lockedg;           /* G that must resume on this M; it waits for it */
	ng_g *nextg;             /* picked to run, but locked to another M */
	_Atomic int preempt_req; /* sysmon sent this M the preemption signal */
	struct ng_mctr *ctr;     /* counters (perf/counters.c), NULL: none */
} ng_m;

/* ---- sched (global) ---- */

typedef struct ng_sched {
	pthread_mutex_t lock; /* protects everything below not marked atomic */
	/* global run queue */
	ng_g *runq_head, *runq_tail;
	_Atomic int32_t runqsize;
	/* idle Ps and Ms */
	ng_p *pidle;
	_Atomic int32_t npidle;
	ng_m *midle;
	int32_t nmidle;
	int32_t mcount; /* Ms created */
	int32_t nmsys;  /* Ms in blocking calls (not counted as running) */
	ng_m *allm;
	_Atomic int32_t nmspinning;
	/* global free Gs */
	ng_g *gfree; /* with stacks */
	int32_t gfree_n;
	_Atomic int32_t gfree_avail; /* gfree_n + gfree_cold_n, for unlocked peeks */
	ng_g *gfree_cold;            /* with stacks whose pages were given back */
	int32_t gfree_cold_n;
	ng_g *gfree_nostack;
	int32_t gfree_nostack_n;
	/* configuration */
	int nprocs;
	ng_p **allp;
	_Atomic int64_t spin_ns;         /* how long an idle M spins before parking (spin.c) */
	_Atomic int32_t *group_spinning; /* spinning Ms per L3/node group */
	int deadlock_mode;
	/* lifecycle */
	_Atomic int running;            /* runtime started and not shut down */
	_Atomic int stopping;           /* Ms leave their loops */
	bool embedded;                  /* ng_start: caller is foreign, no deadlock exits */
	_Atomic int foreign_active;     /* foreign threads in user code that may wake Gs */
	_Atomic int foreign_registered; /* live foreign threads that called the runtime */
	int boot_threads;               /* threads in the process when the runtime booted */
	int san_threads;                /* sanitizer helper threads seen appearing; sched.lock */
	_Atomic int64_t ngoroutines;    /* live (not dead) goroutines */
	_Atomic uint64_t goid_gen;
	/* main goroutine (ng_run) */
	ng_g *main_g;
	int main_result;
	bool main_exited_via_ng_exit;
	bool main_done_flag; /* main_fn returned */
	ng_note main_done;   /* ng_run's thread sleeps here */
	int run_result;      /* what ng_run returns */
	/* quiescence waiters (ng_stop) */
	ng_note quiesce;
	_Atomic int quiesce_waiting;
	/* stats */
	_Atomic uint64_t stat_spawns, stat_ms, stat_wakes, stat_global_put;
	/* the idle M sleeping until the earliest timer (timer.c) */
	_Atomic(struct ng_m *) timer_sleeper;
	_Atomic int64_t timer_sleep_when; /* its wake time; INT64_MAX: none or unknown */
	/* sysmon (sysmon.c) */
	_Atomic int sysmon_defer;    /* readies into runnext may owe their wake */
	_Atomic bool sysmon_waiting; /* asleep until a P gets busy; written under sched.lock */
	int sysmon_running;          /* its thread exists (counted as known) */
	ng_note sysmon_note;
	pthread_t sysmon_thread;
	_Atomic uint64_t stat_sysmon_wakes;
	_Atomic uint64_t stat_retakes;
	_Atomic int32_t nblocked; /* Ms in ng_block_enter */
	/* preemption (preempt.c) */
	int64_t time_slice; /* ns */
	bool async_preempt; /* signals as well as cooperative checks */
	_Atomic uint64_t stat_preempt_req, stat_preempt_async, stat_preempt_coop,
	    stat_preempt_deferred;
	_Atomic uint64_t stat_chan[4]; /* ng_count_chan from threads without a P */
	/* ng_gauge_add from threads without a P, and the Ps' shares folded in
	 * when the runtime shuts down (a channel may outlive its run) */
	_Atomic int64_t gauge[2];
	int32_t max_blocked; /* bound on them */
	/* hooks other modules install: can anything still wake a goroutine? */
	int (*pending_wakers[8])(void);
	int npending_wakers;
} ng_sched;

extern ng_sched ng_sched_g;

/* A dead goroutine's frames never return, so ASan's redzone poison for them
 * stays in the shadow; a G reusing that stack must start clean. */
#if NG_ASAN
#pragma GCC visibility push(default) /* the sanitizer runtime's */
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#pragma GCC visibility pop
static inline void ng_asan_fresh_stack(const ng_stack *s)
{
	__asan_unpoison_memory_region(s->lo, (size_t)(s->hi - s->lo));
}
/* Stack memory about to be unmapped: its poison would outlive it and be
 * found by whoever maps the range next, outside ASan's allocator (a driver's
 * mmap, read by an intercepted memcpy: a false stack-buffer-underflow). */
void ng_asan_forget(void *lo, size_t len);
#else
static inline void ng_asan_fresh_stack(const ng_stack *s)
{
	(void)s;
}
static inline void ng_asan_forget(void *lo, size_t len)
{
	(void)lo;
	(void)len;
}
#endif

/* ---- TLS ---- */

extern __thread ng_m *ng_tls_m __attribute__((tls_model("initial-exec")));

static inline ng_m *ng_getm(void)
{
	return ng_tls_m;
}

/* The stats of the P this thread holds (an M between acquirep and releasep,
 * outside ng_block_enter/exit), else NULL: the channel counters' one load. */
extern __thread ng_pstats *ng_tls_pstats __attribute__((tls_model("initial-exec")));

/* ng_pstats.chan / ng_sched.stat_chan */
enum { NG_SC_XFER, NG_SC_SEND, NG_SC_RECV, NG_SC_SELECT };

/* Count a channel operation: the owner's plain load + store on its P (a
 * hand-off costs ~40 ns; this is a TLS load, a test and three moves), a
 * relaxed atomic add from a thread without a P.  Only where no switch (a
 * park or a yield) came before it in the same function: the compiler may
 * reuse a TLS address computed before the goroutine moved to another
 * thread (TSan builds do); call it from an out-of-line helper there. */
static inline void ng_count_chan(int k)
{
	ng_pstats *st = ng_tls_pstats;
	if (NG_LIKELY(st != NULL))
		OWN_ADD(st->chan[k], 1);
	else
		atomic_fetch_add_explicit(&ng_sched_g.stat_chan[k], 1, memory_order_relaxed);
}

/* Gauges of live objects (ng_stats): channels, user timers. */
enum { NG_GAUGE_CHANS, NG_GAUGE_TIMERS };
/* Add d to gauge k: on the P this thread holds (plain load and store, like
 * ng_count_chan), else a relaxed atomic add.  Out of line, so a caller
 * that parked before it cannot reuse a stale TLS address. */
void ng_gauge_add(int k, int64_t d);

/* ---- notes (futex) ---- */
void ng_note_clear(ng_note *n);
void ng_note_wakeup(ng_note *n);
void ng_note_sleep(ng_note *n);
/* Sleep until woken or the absolute CLOCK_MONOTONIC deadline: true if woken. */
bool ng_note_sleep_until(ng_note *n, int64_t deadline);

/* ---- time ---- */
int64_t ng_nanotime(void);
/* t + ns for a relative timeout: past int64_t it is "in 292 years", never a
 * wrapped (past) time.  One below INT64_MAX, which timer_next uses for
 * "no timer": a far timer is still a timer (the deadlock detector counts
 * it, as Go's checkdead counts any timer). */
static inline int64_t ng_time_add(int64_t t, int64_t ns)
{
	int64_t r;
	if (__builtin_add_overflow(t, ns, &r) || r == INT64_MAX)
		return ns > 0 ? INT64_MAX - 1 : INT64_MIN;
	return r;
}

/* ---- fast random (per M, or per thread for foreign threads) ---- */
uint32_t ng_fastrand(void);
static inline uint32_t ng_fastrand_m(ng_m *m)
{
	/* xorshift64*: cheap, good enough for victim and select order */
	uint64_t x = m->rand;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->rand = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* ---- scheduler (sched.c) ---- */

/* Make g runnable (it was WAITING).  From a goroutine it goes to the current
 * P's runnext; from a foreign thread to the global queue. */
void ng_ready(ng_g *g);
/* Make g runnable on P p specifically (attr.proc / numa_node placement). */
void ng_ready_to(ng_p *p, ng_g *g);
/* Park the calling goroutine: status WAITING with reason, switch away, and
 * once off its stack call unlockf(g, arg) (may be NULL).  If unlockf returns
 * false the G is made runnable again at once.  Returns the M the goroutine
 * resumes on. */
ng_m *ng_park(ng_unlockf unlockf, void *arg, int reason);
void ng_globrunq_put_batch(ng_g *head, ng_g *tail, int n);
/* ng_wakep and ng_runq_put: inline in sched_inline.h */
void ng_post_switch(ng_m *m);
/* Called by a foreign thread when it is about to block in the runtime
 * (active=false) and when it returns to user code (active=true). */
void ng_foreign_blocking(bool blocking);
void ng_foreign_register(void);
void ng_foreign_wake_counted(void);
void ng_foreign_unblocked_counted(void);
/* Register a function telling whether some waker (timer, poller, device)
 * could still ready a goroutine: the deadlock detector asks them all. */
void ng_register_pending_waker(int (*fn)(void));
/* Pollers of other modules (offload, MPI): completions no fd reports.
 * While ng_ext_poll_active > 0, an M that finds no local or global work
 * calls every poll function before it steals (each readies what completed
 * and returns how many, never blocks), and sysmon calls them every tick.
 * The scheduler's cost while nothing is outstanding is one relaxed load. */
extern _Atomic int32_t ng_ext_poll_active;
void ng_register_ext_poller(int (*poll)(void));
int ng_ext_poll(void);

int ng_sched_init(int nprocs);
int ng_runtime_thread_create_locked(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                                    void *arg);
enum { NG_P_RUNNING = 0, NG_P_BLOCKED = 1, NG_P_RETAKEN = 2 };
/* sysmon took p from an M in a blocking call: hand it to another M. */
void ng_handoff_p(ng_p *p);
/* sysmon.c */
int ng_sysmon_start(void); /* 0, or -EAGAIN: its thread cannot be created */
void ng_sysmon_stop(void);
void ng_sysmon_busy_locked(void);      /* a P left the idle list */
int ng_sched_start_m0(void);           /* boot: the first M, unless one exists */
void ng_sched_retry_newm(int64_t now); /* sysmon: Ps waiting for a new M */
void ng_sched_shutdown(void);
void ng_checkdead_locked(void);
/* Can anything still ready a goroutine (ng_stop waits while so)? */
bool ng_quiesce_held(void);
int ng_count_threads(void); /* entries in /proc/self/task, -1 if unreadable */
void ng_mstart_thread(ng_p *p, bool spinning);

/* ---- preemption (preempt.c) ---- */

/* Some P has been asked to give up its slice (sysmon sets it each tick). */
extern _Atomic int ng_preempt_any;
/* May an async preemption stop a goroutine at pc? (rule 3 in preempt.c) */
bool ng_preempt_pc_safe(uintptr_t pc);
void ng_preempt_coop_slow(void);
/* Cooperative preemption point, in runtime calls that could otherwise keep
 * a goroutine on its P forever without switching (non-blocking channel
 * operations and selects, spawn); calls that park are checked when they
 * switch (schedule_from_g).  One load while nobody is asked to yield. */
static inline void ng_preempt_point(void)
{
	if (NG_UNLIKELY(atomic_load_explicit(&ng_preempt_any, memory_order_relaxed)))
		ng_preempt_coop_slow();
}
void ng_preempt_init(void);
void ng_preempt_fini(void);
/* sysmon: p's G has run its slice `tick` too long; ask it to yield. */
void ng_preempt_request(ng_p *p, uint32_t tick);
void ng_preempt_kick(ng_m *m); /* shutdown: move a running M off its G */
void ng_preempt_clear(ng_p *p, uint32_t want);
bool ng_preempt_take(ng_p *p); /* at a switch: was p's slice asked to end? */
/* sched.c: switch the preempted G out; locked = it resumes on this M. */
ng_m *ng_preempt_switch(ng_m *m, ng_g *g, bool locked);

/* ---- goroutines (proc.c) ---- */
ng_g *ng_g_alloc(ng_p *p, size_t stack_size);
void ng_g_free(ng_p *p, ng_g *g);
void ng_gfree_trim(int max);
void ng_allg_add(ng_g *g);
void ng_allg_free_all(void);
void ng_g_start(ng_m *m, ng_g *g) __attribute__((noreturn));
_Noreturn void ng_g_exit_switch(ng_m *m, ng_g *g);
ng_g **ng_allgs_snapshot(size_t *n);
/* user: called through the public API (a foreign caller registers). */
int ng_spawn(const ng_go_attr *attr, void (*fn)(void *), void *arg, const void *copy,
             size_t copy_size, const char *file, int line, bool user);
void ng_g_describe_creator(const ng_g *g, char *buf, size_t n);

/* ---- runtime (runtime.c) ---- */
typedef struct ng_debug {
	int stackguard; /* forced enum ng_guard_kind, 0 auto */
	int sigquit_exit;
	int boot_threads_inert; /* threads present at boot never call numago */
	int no_sysmon;          /* no sysmon thread: readies never defer their wake */
	char cgroot[256];       /* cgroup files are read under this root (tests) */
	int max_blocked;        /* bound on Ms in blocking calls, 0: default */
	int asyncpreemptoff;    /* no preemption signals (Go's GODEBUG name) */
	int schedtrace_ms;      /* sysmon prints a schedtrace line this often */
	int counters;           /* print the counter tier line at boot */
} ng_debug;
extern ng_debug ng_debug_g;

/* ---- counter sources (perf/counters.c): NUMAGO_COUNTERS ---- */
extern bool ng_counters_on;        /* a tier that reads: set at boot, before any M runs */
int ng_counters_init(void);        /* boot: probe the tiers; -ENODEV, -EINVAL: do not start */
void ng_counters_fini(void);       /* shutdown, once every M has exited */
void ng_counters_m_start(ng_m *m); /* on the M's thread, before it schedules */
void ng_counters_m_exit(ng_m *m);  /* on the M's thread, as it leaves */
void ng_counters_poll_slow(ng_m *m);
/* A scheduling event (an M looking for work): read the M's counters if the
 * last read is NG_COUNTERS_PERIOD_NS old.  Never on the switch path. */
static inline void ng_counters_poll(ng_m *m)
{
	if (NG_UNLIKELY(ng_counters_on))
		ng_counters_poll_slow(m);
}

/* ---- schedtrace (perf/schedtrace.c), driven by sysmon ---- */
void ng_schedtrace_start(int64_t now);
void ng_schedtrace(int64_t now);
void ng_counters_trace_column(char *buf, size_t n, int64_t now); /* perf/counters.c */

/* ---- idle spin budget (perf/spin.c), learned from wake latency ---- */
#define NG_SPIN_INITIAL_NS    50000    /* until wakes are measured */
#define NG_SPIN_MIN_NS        2000     /* a wake never costs less here */
#define NG_SPIN_MAX_NS        500000   /* spin longer and idle Ms burn CPUs */
#define NG_SPIN_SAMPLE_MAX_NS 10000000 /* a longer wake lost its CPU */
void ng_spin_init(int procs, int usable_cpus, int64_t fixed);
void ng_spin_wake_sample_locked(int64_t ns); /* under sched.lock */
int64_t ng_spin_budget_for(int64_t avg_wake_ns);
int64_t ng_spin_wake_avg(uint64_t *nsamples); /* 0: none yet */

/* ---- counter phases and what the policies make of them (perf/spin.c,
 * perf/slice.c) ---- */
enum ng_phase { NG_PHASE_UNKNOWN = 0, NG_PHASE_COMPUTE, NG_PHASE_MIXED, NG_PHASE_MEMORY };
#define NG_PHASE_MEMORY_IPC_MILLI  500   /* IPC below 0.5: memory-bound */
#define NG_PHASE_COMPUTE_IPC_MILLI 1500  /* IPC from 1.5: compute-bound */
#define NG_PHASE_STALL_MILLI       400   /* memory stalls from 40% of cycles */
#define NG_TIME_SLICE_MIN_NS       20000 /* sysmon's fastest tick */
struct ng_counter_sample;
int ng_ctr_phase(const struct ng_counter_sample *delta);
extern _Atomic int ng_phase_now;
int64_t ng_spin_budget_modulated(int64_t budget, int phase);
bool ng_spin_may_spin(int spinning, int busy, int phase);
bool ng_steal_remote_ok(int phase, bool last_pass);
int64_t ng_slice_for(int64_t base, int phase, bool waiting);

/* ---- event trace (perf/trace.c): NUMAGO_TRACE=FILE ---- */
enum ng_trace_type {
	NG_TRACE_RUN = 1, /* a goroutine starts running on the P */
	NG_TRACE_BLOCK,   /* it parks: arg8 = its wait reason */
	NG_TRACE_IDLE,    /* the P is given up: nothing to run */
	NG_TRACE_STEAL,   /* arg16 = victim P, arg32 = goroutines, arg8 = class */
	NG_TRACE_OFFLOAD, /* arg8 = 0 submitted / 1 waited, arg32 = OpenCL status */
};
extern bool ng_trace_on; /* set at boot, before any M runs */
void ng_trace_start(const char *path, int nprocs);
void ng_trace_record(ng_p *p, int type, uint64_t goid, uint32_t arg32, uint16_t arg16,
                     uint8_t arg8);
void ng_trace_finish(void);
static inline void ng_trace(ng_p *p, int type, uint64_t goid, uint32_t arg32, uint16_t arg16,
                            uint8_t arg8)
{
	if (NG_UNLIKELY(ng_trace_on))
		ng_trace_record(p, type, goid, arg32, arg16, arg8);
}
/* Offload operations (offload/): NG_TRACE_OFFLOAD events on the calling
 * goroutine's P (arg8: 0 submitted, 1 its wait returned; arg32: the
 * OpenCL status), and the ng_stats counters. */
void ng_trace_offload(int what, int32_t status);
enum { NG_SO_OPS, NG_SO_DONE, NG_SO_FAILED, NG_SO_PARKS, NG_SO_COUNT };
extern _Atomic uint64_t ng_stat_offload[NG_SO_COUNT];
/* The switch and park paths pass only the M (its P and curg say the rest),
 * so that tracing off costs them a branch and no registers. */
void ng_trace_m(struct ng_m *m, int type);

/* ---- switch hooks: the event trace and per-goroutine counters ---- */
/* Set while either is on (trace from boot; profiling from the first
 * NG_GO_PROFILE spawn): a switch-in (NG_TRACE_RUN) and a park
 * (NG_TRACE_BLOCK) then call ng_switch_hook; otherwise they cost one branch. */
extern _Atomic bool ng_switch_hooks;
#define NG_HOOK_G0 0 /* ng_switch_hook's type for "back on g0" (no trace event) */
extern _Atomic bool ng_prof_on;
void ng_switch_hook(struct ng_m *m, int type);
void ng_prof_spawn(ng_g *g);                     /* a G created with NG_GO_PROFILE */
void ng_prof_switch(struct ng_m *m, ng_g *next); /* m's profiled run ends; next's starts */
void ng_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void ng_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- dump / deadlock (dump.c) ---- */
void ng_dump_install_sigquit(void);
void ng_dump_uninstall_sigquit(void);
int64_t ng_coarse_now(void);
void ng_deadlock_report(int fd, const char *headline);

/* ---- topology (topology/) as seen by core ---- */
/* Load this machine's topology or a fake one ("synthetic:...", "xml:...");
 * then size (default_procs) and assign the Ps. */
int ng_topo_load(const char *spec);
void ng_topo_unload(void);
int ng_topo_default_procs(void); /* allowed PUs, clamped by the cgroup quota */
int ng_topo_node_count(void);
int ng_topo_assign(int nprocs, bool locality, bool bind);
int ng_topo_p_node(int p);
int ng_topo_p_group(int p);
int ng_topo_ngroups(void);
int ng_topo_class(int p, int q);
/* The order in which P `id` tries the other Ps when stealing, each with its
 * ordering key (equal keys: random start) and distance class. */
void ng_topo_victim_order(int id, int nprocs, int *out, uint32_t *key, uint8_t *cls);
bool ng_topo_bind_m(int p);
void *ng_topo_alloc_node(size_t size, int node); /* page-granular, zeroed, placed */
void ng_topo_free_node(void *p, size_t size);
/* Untouched memory for node: counted in the census and bound there. */
void ng_topo_place(void *mem, size_t size, int node);

#pragma GCC visibility pop

#endif
