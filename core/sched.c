/* core/sched.c — the M:N work-stealing scheduler.
 *
 * Design (after Go's proc.go, whose comment explains the problem better than
 * any paraphrase): Ps hold run queues; Ms run Gs while holding a P.  The hard
 * part is parking and unparking Ms: park too eagerly and a new G waits for a
 * futex wake (120-175 us on these VMs), spin too much and idle cores burn.
 * Go's answer, kept here:
 *
 *  - A G that becomes runnable goes to a local queue and then wakep() starts
 *    a *spinning* M if there is an idle P and nobody is spinning already.
 *  - A spinning M looks for work (global queue, other Ps) without sleeping.
 *    When it finds some it stops spinning and, if it was the last spinner,
 *    wakes another: the spinning role is passed on, so bursts fan out one
 *    wakeup at a time and steady states cost no wakeups at all.
 *  - An M that gives up its P re-checks every run queue *after* putting the
 *    P on the idle list and dropping its spinning count (the "delicate dance"
 *    in Go's findrunnable): either it sees the new work or the submitter sees
 *    the idle P and no spinner and wakes someone.  No lost wakeups.
 *
 * Three changes from Go, all about cost on machines where syscalls are slow:
 *  - A spinning M spins for a time budget (sched.spin_ns: what a wake of a
 *    parked M is measured to cost, perf/spin.c; zero when Ps outnumber
 *    usable CPUs) rather than four quick passes, so a steady stream of
 *    small wakeups is served without futexes.
 *  - A G readied into an empty runnext (a hand-off) owes its wakep instead of
 *    paying it: the readier nearly always blocks next and runs it itself.
 *    sysmon pays the wake if the readier keeps running (sysmon.c).
 *  - Gs switch G->G directly when the successor is in the local queue; only
 *    an empty local queue sends a G through g0 (the M's own stack).
 *
 * Locking: sched.lock (a pthread mutex, so the sanitizers understand it)
 * protects the global queue, the idle P and M lists and the M list.  The run
 * rings are lock-free (runq.h).  Lock order: sched.lock before allg lock
 * before a P's inbox lock.
 */
#define _GNU_SOURCE
#include "fault.h"
#include "internal.h"
#include "netpoll.h"
#include "runq.h"
#include "timer.h"
#include "sched_inline.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if NG_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if NG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

ng_sched ng_sched_g = {.lock = PTHREAD_MUTEX_INITIALIZER};
__thread ng_m *ng_tls_m __attribute__((tls_model("initial-exec")));
__thread ng_pstats *ng_tls_pstats __attribute__((tls_model("initial-exec")));

#define S ng_sched_g

/* ---------------------------------------------------------------- time --- */

int64_t ng_nanotime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --------------------------------------------------------------- notes --- */

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}

void ng_note_clear(ng_note *n)
{
	atomic_store_explicit(&n->key, 0, memory_order_relaxed);
}

void ng_note_wakeup(ng_note *n)
{
	uint32_t old = atomic_exchange_explicit(&n->key, 1, memory_order_release);
	if (old == 0)
		futex(&n->key, FUTEX_WAKE_PRIVATE, 1, NULL);
}

/* A futex wait.  EINTR (a signal, or NUMAGO_FAULT=eintr standing in for
 * one) and spurious returns are the same to the callers: they look at the
 * key again and wait for what is left of their deadline. */
static void futex_wait(ng_note *n, const struct timespec *ts)
{
	if (ng_fault(NG_FAULT_EINTR))
		return;
	futex(&n->key, FUTEX_WAIT_PRIVATE, 0, ts);
}

void ng_note_sleep(ng_note *n)
{
	while (atomic_load_explicit(&n->key, memory_order_acquire) == 0)
		futex_wait(n, NULL);
}

bool ng_note_sleep_until(ng_note *n, int64_t deadline)
{
	for (;;) {
		if (atomic_load_explicit(&n->key, memory_order_acquire) != 0)
			return true;
		int64_t left = deadline - ng_nanotime();
		if (left <= 0)
			return atomic_load_explicit(&n->key, memory_order_acquire) != 0;
		struct timespec ts = {left / 1000000000, left % 1000000000};
		futex_wait(n, &ts);
	}
}

/* ----------------------------------------------------------- spinlock --- */

void ng_spin_lock_slow(_Atomic int32_t *l)
{
	/* Contended: back off exponentially between attempts, so the holder's
	 * unlock is not fighting our reads for the line. */
	for (int spins = 0, backoff = 1;; spins++) {
		for (int i = 0; i < backoff; i++)
			ng_cpu_relax();
		if (backoff < 1024)
			backoff *= 2;
		int32_t zero = 0;
		if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(l, &zero, 1, memory_order_acquire,
		                                          memory_order_relaxed))
			return;
		if (spins >= 32)
			sched_yield(); /* the holder lost its CPU: let it run */
	}
}

/* -------------------------------------------------------------- random --- */

static __thread uint64_t tls_rand;

uint32_t ng_fastrand(void)
{
	ng_m *m = ng_getm();
	if (m != NULL)
		return ng_fastrand_m(m);
	uint64_t x = tls_rand;
	if (x == 0)
		x = (uint64_t)ng_nanotime() ^ (uint64_t)(uintptr_t)&tls_rand ^
		    0x9E3779B97F4A7C15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	tls_rand = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

/* ------------------------------------------------------------ switching --- */

static inline ng_m *ctx_switch(ng_m *m, ng_regs *from, ng_regs *to, bool from_dies)
{
#if NG_ASAN
	__sanitizer_start_switch_fiber(from_dies ? NULL : &from->fake_stack, to->stack_lo,
	                               to->stack_size);
#endif
#if NG_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	(void)from_dies;
	m = ng_ctx_switch(&from->sp, to->sp, m);
#if NG_ASAN
	__sanitizer_finish_switch_fiber(from->fake_stack, NULL, NULL);
#endif
	return m;
}

/* execute's bookkeeping on the P, after the hooks. */
static inline __attribute__((always_inline)) void execute_p(ng_p *p, bool inherit)
{
	if (!inherit) {
		p->schedtick++;
		RQ_STORE(&p->slicetick, p->schedtick, relaxed); /* a new slice (preempt.c) */
	}
	uint64_t runs = RELAXED(p->stats.runs) + 1;
	RQ_STORE(&p->stats.runs, runs, relaxed);
	RQ_STORE(&p->schedseq, (uint32_t)runs, relaxed);
	/* The deferred wake (sysmon.c) is settled once runnext is empty: its G
	 * is running (here or on a thief).  Else it stays owed. */
	if (RQ_LOAD(&p->wake_owed, relaxed) && RQ_LOAD(&p->runnext, relaxed) == NULL)
		RQ_STORE(&p->wake_owed, 0, relaxed);
}

static inline void execute(ng_m *m, ng_g *g, bool inherit)
{
	ng_p *p = m->p;
	m->curg = g;
	atomic_store_explicit(&g->status, NG_G_RUNNING, memory_order_relaxed);
	if (NG_UNLIKELY(atomic_load_explicit(&ng_switch_hooks, memory_order_relaxed)))
		ng_switch_hook(m, NG_TRACE_RUN);
	execute_p(p, inherit);
}

/* --------------------------------------------------------- global queue --- */

static void globrunq_put_locked(ng_g *g)
{
	g->schedlink = NULL;
	if (S.runq_tail != NULL)
		S.runq_tail->schedlink = g;
	else
		S.runq_head = g;
	S.runq_tail = g;
	atomic_fetch_add_explicit(&S.runqsize, 1, memory_order_relaxed);
}

void ng_globrunq_put_batch(ng_g *head, ng_g *tail, int n)
{
	tail->schedlink = NULL;
	if (S.runq_tail != NULL)
		S.runq_tail->schedlink = head;
	else
		S.runq_head = head;
	S.runq_tail = tail;
	atomic_fetch_add_explicit(&S.runqsize, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&S.stat_global_put, (uint64_t)n, memory_order_relaxed);
}

static ng_g *globrunq_pop_locked(void)
{
	ng_g *g = S.runq_head;
	if (g == NULL)
		return NULL;
	S.runq_head = g->schedlink;
	if (S.runq_head == NULL)
		S.runq_tail = NULL;
	atomic_fetch_sub_explicit(&S.runqsize, 1, memory_order_relaxed);
	return g;
}

/* Take a fair share of the global queue: one to run, the rest onto p. */
static ng_g *globrunq_get_locked(ng_p *p, int max)
{
	int32_t size = atomic_load_explicit(&S.runqsize, memory_order_relaxed);
	if (size == 0)
		return NULL;
	int32_t n = size / S.nprocs + 1;
	if (n > size)
		n = size;
	if (max > 0 && n > max)
		n = max;
	if (n > NG_RUNQ_SIZE / 2)
		n = NG_RUNQ_SIZE / 2;
	ng_g *g = globrunq_pop_locked();
	for (n--; n > 0; n--)
		ng_runq_put(p, globrunq_pop_locked(), false);
	OWN_ADD(p->stats.global_gets, 1);
	return g;
}

/* -------------------------------------------------------------- run queue --- */

/* The ring is full: move half of it plus g to the global queue in one batch
 * (one lock acquisition for 129 Gs). */
static bool runq_put_slow(ng_p *p, ng_g *g, uint32_t head, uint32_t tail)
{
	ng_g *batch[NG_RUNQ_SIZE / 2 + 1];
	uint32_t n = (tail - head) / 2;
	for (uint32_t i = 0; i < n; i++)
		batch[i] = RQ_LOAD(&p->runq[(head + i) % NG_RUNQ_SIZE], relaxed);
	if (!atomic_compare_exchange_strong_explicit(&p->runqhead, &head, head + n,
	                                             memory_order_release, memory_order_relaxed))
		return false;
	batch[n] = g;
	for (uint32_t i = 0; i < n; i++)
		batch[i]->schedlink = batch[i + 1];
	pthread_mutex_lock(&S.lock);
	ng_globrunq_put_batch(batch[0], batch[n], (int)n + 1);
	pthread_mutex_unlock(&S.lock);
	return true;
}

void ng_runq_put_slow(ng_p *p, ng_g *g, bool next)
{
	if (next) {
		ng_g *old = RQ_LOAD(&p->runnext, relaxed);
		if (NG_LIKELY(old == NULL)) {
			/* Thieves only ever move runnext from a G to NULL, and only
			 * the owner (us) from NULL to a G: a plain store is enough. */
			RQ_STORE(&p->runnext, g, release);
			return;
		}
		while (!atomic_compare_exchange_weak_explicit(
		    &p->runnext, &old, g, memory_order_acq_rel, memory_order_relaxed))
			;
		if (old == NULL)
			return;
		g = old; /* the displaced runnext goes to the tail */
	}
	for (;;) {
		uint32_t head = RQ_LOAD(&p->runqhead, acquire);
		uint32_t tail = RQ_LOAD(&p->runqtail, relaxed);
		if (tail - head < NG_RUNQ_SIZE) {
			RQ_STORE(&p->runq[tail % NG_RUNQ_SIZE], g, relaxed);
			RQ_STORE(&p->runqtail, tail + 1, release);
			return;
		}
		if (runq_put_slow(p, g, head, tail))
			return;
	}
}

/* ----------------------------------------------------------------- inbox --- */

static ng_g *inbox_get(ng_p *p)
{
	if (atomic_load_explicit(&p->inbox_n, memory_order_acquire) == 0)
		return NULL;
	pthread_mutex_lock(&p->inbox_lock);
	ng_g *g = p->inbox_head;
	if (g != NULL) {
		p->inbox_head = g->schedlink;
		if (p->inbox_head == NULL)
			p->inbox_tail = NULL;
		atomic_fetch_sub_explicit(&p->inbox_n, 1, memory_order_release);
	}
	pthread_mutex_unlock(&p->inbox_lock);
	return g;
}

static void pidle_remove_locked(ng_p *p);
static void startm_locked(ng_p *p, bool spinning);

/* Hand g to P p, which must run it (pinned, or placed on a NUMA node).  If p
 * is idle, start an M for it. */
static void inbox_put(ng_p *p, ng_g *g)
{
	pthread_mutex_lock(&p->inbox_lock);
	g->schedlink = NULL;
	if (p->inbox_tail != NULL)
		p->inbox_tail->schedlink = g;
	else
		p->inbox_head = g;
	p->inbox_tail = g;
	atomic_fetch_add_explicit(&p->inbox_n, 1, memory_order_seq_cst);
	pthread_mutex_unlock(&p->inbox_lock);
	ng_m *m = ng_getm();
	if (m != NULL && m->p == p)
		return; /* we hold it: our next schedule sees the inbox */
	pthread_mutex_lock(&S.lock);
	/* An M giving p up checks inbox_n under sched.lock before putting p on
	 * the idle list, so either it saw our G or p is idle now. */
	bool idle = false;
	for (ng_p *q = S.pidle; q != NULL; q = q->link)
		if (q == p)
			idle = true;
	if (idle) {
		pidle_remove_locked(p);
		startm_locked(p, false);
	}
	pthread_mutex_unlock(&S.lock);
}

/* ------------------------------------------------------------ idle lists --- */

static void pidleput_locked(ng_p *p)
{
	p->link = S.pidle;
	S.pidle = p;
	atomic_fetch_add_explicit(&S.npidle, 1, memory_order_seq_cst);
	OWN_ADD(p->stats.parks, 1);
}

static ng_p *pidleget_locked(void)
{
	ng_p *p = S.pidle;
	if (p != NULL) {
		S.pidle = p->link;
		p->link = NULL;
		atomic_fetch_sub_explicit(&S.npidle, 1, memory_order_seq_cst);
		ng_sysmon_busy_locked();
	}
	return p;
}

static void pidle_remove_locked(ng_p *p)
{
	for (ng_p **pp = &S.pidle; *pp != NULL; pp = &(*pp)->link) {
		if (*pp == p) {
			*pp = p->link;
			p->link = NULL;
			atomic_fetch_sub_explicit(&S.npidle, 1, memory_order_seq_cst);
			return;
		}
	}
}

static void acquirep(ng_m *m, ng_p *p)
{
	/* An M changes P rarely (after parking): a system call then is fine. */
	if (NG_UNLIKELY(m->bound_p != p->id) && ng_topo_bind_m(p->id))
		m->bound_p = p->id;
	m->p = p;
	ng_tls_pstats = &p->stats; /* acquirep runs on m's own thread */
	/* release: sysmon signals the M it finds here (m->self) */
	atomic_store_explicit(&p->m, m, memory_order_release);
}

static void releasep(ng_m *m)
{
	atomic_store_explicit(&m->p->m, NULL, memory_order_relaxed);
	m->p = NULL;
	ng_tls_pstats = NULL;
}

/* ------------------------------------------------------------------ Ms --- */

static void *m_main(void *arg);

/* pthread_create for the runtime's own threads (Ms, sysmon), sched.lock
 * held.  Only TSan starts helper threads beside ours (ASan does not), e.g.
 * at the first pthread_create of a forked child: they are counted as known
 * to the deadlock detector.  A user thread created at the same moment would
 * be miscounted as one.  NUMAGO_FAULT=thread fails it as RLIMIT_NPROC or a
 * cgroup's pids.max would: EAGAIN. */
int ng_runtime_thread_create_locked(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                                    void *arg)
{
	if (ng_fault(NG_FAULT_THREAD))
		return EAGAIN;
	int before = NG_TSAN ? ng_count_threads() : 0;
	int rc = pthread_create(t, attr, fn, arg);
	if (NG_TSAN && rc == 0 && before > 0) {
		int after = ng_count_threads();
		if (after > before + 1)
			S.san_threads += after - before - 1;
	}
	return rc;
}

/* When a thread cannot be created (EAGAIN: RLIMIT_NPROC, a cgroup's
 * pids.max, memory) Go dies ("failed to create new OS thread").  A batch
 * job would rather finish late than not at all, so here the runtime goes on
 * with the Ms it has: work queued for a new M stays queued for them, a P
 * that had work of its own (a hand-off, a pinned goroutine's inbox) waits
 * on pwant for the next M that goes idle, and sysmon retries the creation.
 * Attempts back off from 1 ms to 100 ms, so a spawn loop does not pay a
 * failing clone per ng_go.  One line says so, once per run.  Boot makes
 * sure one M exists (ng_sched_start_m0): the Ms there are never number 0.
 *
 * pwant is never non-empty while an M is idle: a P goes on it only when
 * no idle M was found, and an M about to go idle takes a P from it first,
 * both under sched.lock. */
#define NEWM_BACKOFF_MIN_NS 1000000LL
#define NEWM_BACKOFF_MAX_NS 100000000LL
static ng_p *pwant;            /* sched.lock */
static _Atomic int32_t npwant; /* its length, for sysmon's unlocked look */
static int64_t newm_next;      /* sched.lock: no attempt before (0: any time) */
static int64_t newm_backoff;   /* sched.lock */
static bool newm_warned;       /* sched.lock: said once this run */

static void pwant_put_locked(ng_p *p)
{
	p->link = pwant;
	pwant = p;
	atomic_fetch_add_explicit(&npwant, 1, memory_order_relaxed);
	ng_sysmon_busy_locked(); /* it retries the creation */
}

static ng_p *pwant_get_locked(void)
{
	ng_p *p = pwant;
	if (p != NULL) {
		pwant = p->link;
		p->link = NULL;
		atomic_fetch_sub_explicit(&npwant, 1, memory_order_relaxed);
	}
	return p;
}

/* A new M to run p.  force: ignore the back-off (boot). */
static int newm_locked(ng_p *p, bool spinning, bool force)
{
	int64_t now = 0;
	if (NG_UNLIKELY(newm_next != 0) && !force && (now = ng_nanotime()) < newm_next)
		return -EAGAIN;
	ng_m *m = calloc(1, sizeof *m);
	int rc = ENOMEM;
	if (m != NULL) {
		m->id = S.mcount;
		m->bound_p = -1;
		m->spin_group = -1;
		m->nextp = p;
		m->spinning = spinning;
		m->rand = 0x9E3779B97F4A7C15ULL * (uint64_t)(m->id + 1) ^ (uint64_t)ng_nanotime();
		if (m->rand == 0)
			m->rand = 1;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		/* Ms only run the scheduler on their own stack; goroutines have
		 * theirs.  Sanitizers need more room for their own frames. */
		pthread_attr_setstacksize(&attr, (NG_ASAN || NG_TSAN) ? (8u << 20) : (256u << 10));
		/* the new thread waits for sched.lock before it reads m */
		rc = ng_runtime_thread_create_locked(&m->thread, &attr, m_main, m);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		free(m);
		newm_backoff = newm_backoff == 0                        ? NEWM_BACKOFF_MIN_NS
		               : newm_backoff * 2 < NEWM_BACKOFF_MAX_NS ? newm_backoff * 2
		                                                        : NEWM_BACKOFF_MAX_NS;
		newm_next = (now != 0 ? now : ng_nanotime()) + newm_backoff;
		/* Before the first M exists boot reports the failure itself. */
		if (S.mcount > 0 && !newm_warned) {
			newm_warned = true;
			ng_warn("cannot add an OS thread (%s): goroutines keep running on the "
			        "threads the runtime has",
			        strerror(rc));
		}
		return -rc;
	}
	newm_next = 0;
	newm_backoff = 0;
	S.mcount++;
	m->alllink = S.allm;
	S.allm = m;
	atomic_fetch_add_explicit(&S.stat_ms, 1, memory_order_relaxed);
	return 0;
}

static ng_m *mget_locked(void)
{
	ng_m *m = S.midle;
	if (m != NULL) {
		S.midle = m->schedlink;
		S.nmidle--;
	}
	return m;
}

/* p to an idle M, or a new one: 0, or the creation's error (p untouched). */
static int startm_try_locked(ng_p *p, bool spinning)
{
	ng_m *m = mget_locked();
	if (m == NULL)
		return newm_locked(p, spinning, false);
	m->spinning = spinning;
	m->nextp = p;
	m->wake_at = ng_nanotime();
	atomic_fetch_add_explicit(&S.stat_wakes, 1, memory_order_relaxed);
	ng_park_wakeup(m); /* it may be the M asleep in epoll_wait */
	return 0;
}

/* Run p on an idle M (or a new one).  If p is NULL take an idle P; if there
 * is none, undo the spinning count the caller took. */
static void startm_locked(ng_p *p, bool spinning)
{
	if (NG_UNLIKELY(atomic_load_explicit(&S.stopping, memory_order_acquire))) {
		/* Shutdown joins the Ms it finds under this lock after setting
		 * `stopping`: no new ones from here on. */
		if (p != NULL)
			pidleput_locked(p);
		if (spinning)
			atomic_fetch_sub_explicit(&S.nmspinning, 1, memory_order_seq_cst);
		return;
	}
	bool given = p != NULL;
	if (p == NULL) {
		p = pidleget_locked();
		if (p == NULL) {
			if (spinning)
				atomic_fetch_sub_explicit(&S.nmspinning, 1, memory_order_seq_cst);
			return;
		}
	}
	if (NG_LIKELY(startm_try_locked(p, spinning) == 0))
		return;
	/* No thread (see pwant).  A P taken off the idle list only stood for
	 * queued work the running Ms will get to; one handed to us has work
	 * of its own. */
	if (spinning)
		atomic_fetch_sub_explicit(&S.nmspinning, 1, memory_order_seq_cst);
	if (given)
		pwant_put_locked(p);
	else
		pidleput_locked(p);
}

/* sysmon, each tick: retry the creation for a P on pwant once the
 * back-off allows. */
void ng_sched_retry_newm(int64_t now)
{
	if (NG_LIKELY(atomic_load_explicit(&npwant, memory_order_relaxed) == 0))
		return;
	pthread_mutex_lock(&S.lock);
	if (pwant != NULL && now >= newm_next && !atomic_load(&S.stopping))
		startm_locked(pwant_get_locked(), false);
	pthread_mutex_unlock(&S.lock);
}

/* Boot: the first M, so that later failures never leave the runtime with
 * none (ng_run's main goroutine, or ng_start's first spawn, would wait
 * forever).  It takes an idle P, finds nothing or main, and parks.  0 or
 * the creation's error (a negative errno). */
int ng_sched_start_m0(void)
{
	int rc = 0;
	pthread_mutex_lock(&S.lock);
	if (S.mcount == 0) {
		ng_p *p = pidleget_locked();
		if (p != NULL && (rc = newm_locked(p, false, true)) != 0)
			pidleput_locked(p);
	}
	pthread_mutex_unlock(&S.lock);
	return rc;
}

void ng_mstart_thread(ng_p *p, bool spinning)
{
	pthread_mutex_lock(&S.lock);
	startm_locked(p, spinning);
	pthread_mutex_unlock(&S.lock);
}

/* Try to put one more M to work if there is an idle P and nobody spinning. */
void ng_wakep_slow(void)
{
	int32_t zero = 0;
	if (atomic_load_explicit(&S.nmspinning, memory_order_relaxed) != 0 ||
	    !atomic_compare_exchange_strong_explicit(&S.nmspinning, &zero, 1, memory_order_seq_cst,
	                                             memory_order_relaxed))
		return;
	pthread_mutex_lock(&S.lock);
	startm_locked(NULL, true);
	pthread_mutex_unlock(&S.lock);
}

/* The M no longer spins for its L3/node group. */
static void spin_group_leave(ng_m *m)
{
	if (m->spin_group >= 0) {
		atomic_fetch_sub_explicit(&S.group_spinning[m->spin_group], 1,
		                          memory_order_relaxed);
		m->spin_group = -1;
	}
}

static void resetspinning(ng_m *m)
{
	spin_group_leave(m);
	m->spinning = false;
	int32_t n = atomic_fetch_sub_explicit(&S.nmspinning, 1, memory_order_seq_cst) - 1;
	if (n < 0)
		ng_fatal("scheduler: negative spinning count");
	/* We were the last spinner and found work: there may be more, so hand
	 * the spinning role to another M. */
	if (n == 0)
		ng_wakep();
}

/* ------------------------------------------------------------ deadlock --- */

static bool wakers_pending(void)
{
	for (int i = 0; i < S.npending_wakers; i++)
		if (S.pending_wakers[i]())
			return true;
	return false;
}

/* What holds ng_stop: anything that can still ready a goroutine.  A timer
 * can only while a goroutine lives (sleeps and deadlines belong to one;
 * ng_after and ticker channels feed one): with none left, a far ng_after
 * or a ticker nobody stopped would hold ng_stop for good (fuzz_api). */
bool ng_quiesce_held(void)
{
	bool live = ng_num_goroutines() > 0;
	for (int i = 0; i < S.npending_wakers; i++) {
		if (!live && S.pending_wakers[i] == ng_timers_pending_hook)
			continue;
		if (S.pending_wakers[i]())
			return true;
	}
	return false;
}

_Atomic int32_t ng_ext_poll_active;
_Atomic uint64_t ng_stat_offload[NG_SO_COUNT];
static int (*ext_pollers[4])(void);
static _Atomic int n_ext_pollers;

void ng_register_ext_poller(int (*poll)(void))
{
	pthread_mutex_lock(&S.lock);
	int n = atomic_load_explicit(&n_ext_pollers, memory_order_relaxed);
	for (int i = 0; i < n; i++)
		if (ext_pollers[i] == poll)
			goto out;
	if (n == (int)(sizeof ext_pollers / sizeof ext_pollers[0]))
		ng_fatal("too many external pollers");
	ext_pollers[n] = poll;
	atomic_store_explicit(&n_ext_pollers, n + 1, memory_order_release);
out:
	pthread_mutex_unlock(&S.lock);
}

int ng_ext_poll(void)
{
	int n = atomic_load_explicit(&n_ext_pollers, memory_order_acquire), found = 0;
	for (int i = 0; i < n; i++)
		found += ext_pollers[i]();
	return found;
}

void ng_register_pending_waker(int (*fn)(void))
{
	pthread_mutex_lock(&S.lock);
	for (int i = 0; i < S.npending_wakers; i++)
		if (S.pending_wakers[i] == fn)
			goto out;
	if (S.npending_wakers < (int)(sizeof S.pending_wakers / sizeof S.pending_wakers[0]))
		S.pending_wakers[S.npending_wakers++] = fn;
	else
		ng_fatal("too many pending-waker hooks");
out:
	pthread_mutex_unlock(&S.lock);
}

/* A thread numago never heard of (a pthread a goroutine just created, an
 * OpenMP or MPI progress thread) may call ng_go or wake a waiter at any time,
 * so while the process has more threads than the runtime knows about (Ms, the
 * thread in ng_run, registered foreign threads) no deadlock is declared:
 * a missed report is a hang the user can dump with SIGQUIT, a false one
 * kills a healthy job. */
int ng_count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static bool unknown_threads_exist(void)
{
	int n = ng_count_threads();
	if (n < 0)
		return false; /* cannot tell: behave like Go */
	int known = S.mcount + 1 + S.sysmon_running + atomic_load(&S.foreign_registered);
	/* Sanitizer runtimes run helper threads of their own (TSan: one at
	 * start, another at the first pthread_create of a forked child); in
	 * those builds the threads that existed at boot, and any that appeared
	 * beside an M's creation, are taken to be theirs.  NUMAGO_DEBUG=
	 * bootthreads=inert says the same of an emulator's threads. */
	if (NG_TSAN || NG_ASAN || ng_debug_g.boot_threads_inert)
		known += (S.boot_threads > 1 ? S.boot_threads - 1 : 0) + S.san_threads;
	return n > known;
}

/* Called with sched.lock held whenever the count of working Ms may have
 * dropped to zero (Go's checkdead).  Every M idle means no G is running or
 * runnable; if moreover no foreign thread is outside the runtime and no
 * timer, poller or device can ready a G, the waiting Gs wait forever. */
void ng_checkdead_locked(void)
{
	int run = S.mcount - S.nmidle - S.nmsys;
	if (run > 0)
		return;
	if (run < 0)
		ng_fatal("scheduler: inconsistent M count (mcount=%d nmidle=%d nmsys=%d)", S.mcount,
		         S.nmidle, S.nmsys);
	if (atomic_load(&S.stopping))
		return;
	if (atomic_load(&S.quiesce_waiting) && !ng_quiesce_held()) {
		atomic_store(&S.quiesce_waiting, 0);
		ng_note_wakeup(&S.quiesce);
		return;
	}
	if (S.embedded || S.deadlock_mode == NG_DEADLOCK_IGNORE)
		return;
	if (atomic_load(&S.foreign_active) > 0)
		return;
	if (S.main_done_flag)
		return; /* main returned: ng_run is shutting down, nothing is stuck */
	if (unknown_threads_exist())
		return;
	/* A thread that was unknown at the first look may have registered
	 * (and become active) while /proc was read: look again. */
	if (atomic_load(&S.foreign_active) > 0)
		return;
	if (atomic_load(&S.runqsize) > 0)
		return;
	if (wakers_pending())
		return;
	int64_t live = ng_num_goroutines();
	if (live == 0 && !S.main_exited_via_ng_exit)
		return; /* nothing left at all: main finished normally */
	const char *headline = live == 0 ? "no goroutines (main called ng_exit) - deadlock!"
	                                 : "all goroutines are asleep - deadlock!";
	ng_deadlock_report(2, headline);
	if (S.deadlock_mode == NG_DEADLOCK_EXIT)
		_exit(2);
	S.run_result = -EDEADLK;
	ng_note_wakeup(&S.main_done);
}

/* ------------------------------------------------------- foreign threads --- */

static pthread_key_t foreign_key;
static pthread_once_t foreign_once = PTHREAD_ONCE_INIT;
static __thread int tls_foreign; /* 0 unknown, 1 registered and active, 2 blocked */

static void foreign_exit(void *arg)
{
	(void)arg;
	if (tls_foreign == 1)
		atomic_fetch_sub(&S.foreign_active, 1);
	if (tls_foreign != 0)
		atomic_fetch_sub(&S.foreign_registered, 1);
	tls_foreign = 0;
}

static void foreign_key_init(void)
{
	pthread_key_create(&foreign_key, foreign_exit);
}

/* A thread the runtime did not create talks to it: from now on, while it is
 * outside the runtime, it could wake goroutines, so it holds off deadlock
 * reports until it exits. */
void ng_foreign_register(void)
{
	if (tls_foreign != 0 || ng_getm() != NULL)
		return;
	pthread_once(&foreign_once, foreign_key_init);
	pthread_setspecific(foreign_key, (void *)1);
	tls_foreign = 1;
	/* active first: the detector counts a registered thread as known, so
	 * it must never see it registered but not yet active */
	atomic_fetch_add(&S.foreign_active, 1);
	atomic_fetch_add(&S.foreign_registered, 1);
}

void ng_foreign_blocking(bool blocking)
{
	if (ng_getm() != NULL)
		return;
	ng_foreign_register();
	if (blocking && tls_foreign == 1) {
		tls_foreign = 2;
		if (atomic_fetch_sub(&S.foreign_active, 1) == 1) {
			pthread_mutex_lock(&S.lock);
			ng_checkdead_locked();
			pthread_mutex_unlock(&S.lock);
		}
	} else if (!blocking && tls_foreign == 2) {
		tls_foreign = 1;
		atomic_fetch_add(&S.foreign_active, 1);
	}
}

/* A waker is about to wake a blocked foreign thread: count it active now,
 * before the wake, or the Ms could all go idle in between and declare a
 * deadlock while the thread is on its way back to user code. */
void ng_foreign_wake_counted(void)
{
	atomic_fetch_add(&S.foreign_active, 1);
}

/* The woken foreign thread: the waker already counted it. */
void ng_foreign_unblocked_counted(void)
{
	if (tls_foreign == 2)
		tls_foreign = 1;
}

/* --------------------------------------------------------- findrunnable --- */

static ng_g *steal_work(ng_m *m, ng_p *p)
{
	const int tries = 4;
	int nv = p->nvictims;
	if (nv == 0)
		return NULL;
	int phase = atomic_load_explicit(&ng_phase_now, memory_order_relaxed);
	for (int i = 0; i < tries; i++) {
		bool steal_next = i == tries - 1;
		bool remote_ok = ng_steal_remote_ok(phase, steal_next);
		/* Victims in the P's topological order, nearest first; within a
		 * run of equally distant ones start at a random point, so
		 * thieves spread out. */
		for (int k = 0; k < nv;) {
			int e = k + 1;
			while (e < nv && p->vkey[e] == p->vkey[k])
				e++;
			uint32_t len = (uint32_t)(e - k);
			uint32_t start = len > 1 ? ng_fastrand_m(m) % len : 0;
			for (uint32_t j = 0; j < len; j++) {
				int vi = k + (int)((start + j) % len);
				if (!remote_ok && p->vclass[vi] > NG_DIST_NODE)
					continue; /* memory-bound: other nodes last (spin.c) */
				ng_p *v = S.allp[p->victims[vi]];
				if (RQ_LOAD(&v->m, relaxed) == NULL && runq_size(v) == 0)
					continue; /* idle Ps have nothing */
				uint32_t taken;
				ng_g *g = runq_steal(p, v, steal_next, &taken);
				if (g != NULL) {
					ng_trace(p, NG_TRACE_STEAL, 0, taken,
					         (uint16_t)p->victims[vi], (uint8_t)p->vclass[vi]);
					OWN_ADD(p->stats.steals, 1);
					OWN_ADD(p->stats.stolen, taken);
					OWN_ADD(p->stats.steals_by_class[p->vclass[vi]], 1);
					return g;
				}
				OWN_ADD(p->stats.failed_steals_by_class[p->vclass[vi]], 1);
			}
			k = e;
		}
	}
	return NULL;
}

static bool any_work_anywhere(void)
{
	if (atomic_load_explicit(&S.runqsize, memory_order_seq_cst) > 0)
		return true;
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		if (!runq_empty(p) || atomic_load_explicit(&p->inbox_n, memory_order_seq_cst) > 0)
			return true;
	}
	return false;
}

static void midle_remove_locked(ng_m *m)
{
	for (ng_m **pp = &S.midle; *pp != NULL; pp = &(*pp)->schedlink)
		if (*pp == m) {
			*pp = m->schedlink;
			m->schedlink = NULL;
			S.nmidle--;
			return;
		}
	ng_fatal("scheduler: idle M %d missing from the idle list", m->id);
}

/* Goroutines the poller found (schedlink-linked, WAITING) become runnable;
 * pinned ones go to their P's inbox.  Returns the others, linked, with
 * their tail and number. */
static ng_g *glist_prepare(ng_g *list, ng_g **tail, int *n)
{
	ng_g *head = NULL, *t = NULL;
	int k = 0;
	while (list != NULL) {
		ng_g *g = list;
		list = g->schedlink;
		if (NG_UNLIKELY(g->pinned)) {
			ng_ready_to(S.allp[g->pin_p], g);
			continue;
		}
		atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_release);
		g->schedlink = NULL;
		if (t != NULL)
			t->schedlink = g;
		else
			head = g;
		t = g;
		k++;
	}
	*tail = t;
	*n = k;
	return head;
}

/* Go's startIdle: an M for each of up to n idle Ps, to run what was just
 * put on the global queue. */
static void start_idle_locked(int n)
{
	for (; n > 0 && atomic_load_explicit(&S.npidle, memory_order_relaxed) > 0; n--)
		startm_locked(NULL, false);
}

ng_g *ng_inject_glist(ng_g *list, bool take)
{
	int n;
	ng_g *tail, *head = glist_prepare(list, &tail, &n);
	if (head == NULL)
		return NULL;
	ng_m *m = ng_getm();
	ng_p *p = m != NULL ? m->p : NULL;
	ng_g *run = NULL;
	if (p != NULL && take) {
		run = head;
		head = head->schedlink;
		run->schedlink = NULL;
		if (--n == 0)
			return run;
	}
	/* Idle Ps get as many as there are of them, the caller's P the rest:
	 * no more wakeups than Gs to run, and none when our P can do it. */
	int k = n;
	if (p != NULL) {
		int32_t idle = atomic_load_explicit(&S.npidle, memory_order_relaxed);
		k = n < idle ? n : idle;
	}
	ng_g *rest = head;
	if (k > 0) {
		ng_g *last = head;
		for (int i = 1; i < k; i++)
			last = last->schedlink;
		rest = last->schedlink;
		pthread_mutex_lock(&S.lock);
		ng_globrunq_put_batch(head, last, k);
		start_idle_locked(k);
		pthread_mutex_unlock(&S.lock);
	}
	while (rest != NULL) {
		ng_g *g = rest;
		rest = g->schedlink;
		ng_runq_put(p, g, false);
	}
	return run;
}

/* The M is on the idle list: sleep until startm hands it a P (returned), or
 * the runtime stops (NULL).  While timers are pending one idle M sleeps only
 * until the earliest of them, then takes an idle P to run it (timer.c has
 * the protocol with ng_tmr_add).  While goroutines wait on fds, that M
 * sleeps in epoll_wait instead (netpoll.h), and takes an idle P to run what
 * it finds.  Wakeups can be spurious: a poke meant for an earlier sleeper,
 * or one for a timer someone else already ran. */
static ng_p *stopm_sleep(ng_m *m)
{
	for (;;) {
		int64_t when = ng_timers_earliest();
		bool fds = ng_netpoll_waiting();
		bool sleeper = false;
		ng_g *ready = NULL;
		if (when != INT64_MAX || fds) {
			ng_m *none = NULL;
			if (!atomic_compare_exchange_strong_explicit(&S.timer_sleeper, &none, m,
			                                             memory_order_seq_cst,
			                                             memory_order_relaxed)) {
				/* Another M sleeps on the timers; if it sleeps past
				 * the earliest, or on its futex while fds are waited
				 * on, it must look again. */
				ng_timers_poke(when);
				if (fds)
					ng_netpoll_nudge(atomic_load_explicit(
					    &S.timer_sleeper, memory_order_seq_cst));
			} else {
				sleeper = true;
				atomic_store_explicit(&S.timer_sleep_when, when,
				                      memory_order_seq_cst);
				int64_t again = ng_timers_earliest();
				if (again < when) {
					when = again;
					atomic_store_explicit(&S.timer_sleep_when, when,
					                      memory_order_seq_cst);
				}
			}
		}
		if (sleeper) {
			if (ng_netpoll_waiting())
				ready = ng_netpoll_block(m, when);
			else
				ng_note_sleep_until(&m->park, when);
			atomic_store_explicit(&S.timer_sleep_when, INT64_MAX, memory_order_seq_cst);
			atomic_store_explicit(&S.timer_sleeper, NULL, memory_order_seq_cst);
		} else {
			ng_note_sleep(&m->park);
		}
		ng_note_clear(&m->park);
		if (atomic_load_explicit(&S.stopping, memory_order_acquire))
			return NULL;
		int n = 0;
		ng_g *tail = NULL, *head = ready != NULL ? glist_prepare(ready, &tail, &n) : NULL;
		pthread_mutex_lock(&S.lock);
		/* Shutdown may have begun since the look above and emptied the
		 * idle list (under this lock): this M is no longer on it. */
		if (atomic_load_explicit(&S.stopping, memory_order_acquire)) {
			pthread_mutex_unlock(&S.lock);
			return NULL;
		}
		if (head != NULL)
			ng_globrunq_put_batch(head, tail, n);
		ng_p *p = m->nextp;
		if (p != NULL) {
			m->nextp = NULL;
			m->timer_wake = false;
			/* park -> run: what this wake cost (spin.c) */
			if (m->wake_at != 0)
				ng_spin_wake_sample_locked(ng_nanotime() - m->wake_at);
			m->wake_at = 0;
		} else if ((head != NULL || ng_timers_earliest() <= ng_nanotime()) &&
		           (p = pidleget_locked()) != NULL) {
			midle_remove_locked(m);
			m->timer_wake = head == NULL;
		}
		/* Found goroutines: we run one, an idle P each the others
		 * (Go's injectglist from an M without a P). */
		if (head != NULL)
			start_idle_locked(n - (p != NULL));
		pthread_mutex_unlock(&S.lock);
		if (p != NULL)
			return p;
	}
}

/* Find a G to run, parking the M when there is none.  Returns NULL when the
 * runtime is stopping (the M then exits).  Runs on g0. */
static ng_g *findrunnable(ng_m *m, bool *inherit)
{
	ng_g *g;
	ng_p *p;
	bool timer_wake = false; /* stopm_sleep's m->timer_wake, for this call only */
top:
	*inherit = false;
	if (atomic_load_explicit(&S.stopping, memory_order_acquire))
		return NULL;
	/* An M back from a blocking call whose P was taken has none. */
	if (NG_UNLIKELY(m->p == NULL))
		goto stop;
	p = m->p;
	p->coarse_now = ng_coarse_now();
	ng_counters_poll(m); /* a scheduling event: counters, rate-limited */
	ng_timers_run(p, 0);
	if (p->schedtick % 61 == 0 && atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0) {
		pthread_mutex_lock(&S.lock);
		g = globrunq_get_locked(p, 1);
		pthread_mutex_unlock(&S.lock);
		if (g != NULL)
			return g;
	}
	if ((g = inbox_get(p)) != NULL)
		return g;
	if ((g = runq_get(p, inherit)) != NULL)
		return g;
	if (atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0) {
		pthread_mutex_lock(&S.lock);
		g = globrunq_get_locked(p, 0);
		pthread_mutex_unlock(&S.lock);
		if (g != NULL)
			return g;
	}
	/* Goroutines whose fds are ready, before stealing (Go's order). */
	if (NG_UNLIKELY(ng_netpoll_waiting()) &&
	    (g = ng_inject_glist(ng_netpoll_nb(), true)) != NULL)
		return g;
	/* Offload/MPI completions: what they ready lands in our run queue. */
	if (NG_UNLIKELY(atomic_load_explicit(&ng_ext_poll_active, memory_order_relaxed) > 0) &&
	    ng_ext_poll() > 0)
		goto top;

	/* Spin (steal) if fewer than half the busy Ps have a spinner already,
	 * and nobody spins for our L3 (or node) group: thieves of one group
	 * would only fight over the same victims and lines.  An M woken to
	 * spin (wakep) whose group has its spinner already looks once and
	 * goes. */
	int32_t busy = S.nprocs - atomic_load_explicit(&S.npidle, memory_order_relaxed);
	bool woken = m->spinning;
	int phase = atomic_load_explicit(&ng_phase_now, memory_order_relaxed);
	if (woken || ng_spin_may_spin(atomic_load_explicit(&S.nmspinning, memory_order_relaxed),
	                              busy, phase)) {
		int32_t zero = 0;
		if (m->spin_group < 0 && atomic_compare_exchange_strong_explicit(
		                             &S.group_spinning[p->group], &zero, 1,
		                             memory_order_relaxed, memory_order_relaxed))
			m->spin_group = p->group;
	}
	if (woken || m->spin_group >= 0) {
		if (!m->spinning) {
			m->spinning = true;
			atomic_fetch_add_explicit(&S.nmspinning, 1, memory_order_seq_cst);
		}
		/* An M that its timed sleep woke for due timers, which made
		 * nothing runnable, looks once (other Ps may have work to
		 * steal) but spends no budget: nobody asked for a spinner, and
		 * a periodic timer (the offload watchdog ticks every 2 ms while
		 * kernels run) would otherwise buy a budget of CPU per tick from
		 * an idle process (5% of a CPU on the 2-vCPU VM, bench_cl
		 * waitcpu; test_spin part 3). */
		int64_t budget =
		    timer_wake ? 0
		               : ng_spin_budget_modulated(
		                     atomic_load_explicit(&S.spin_ns, memory_order_relaxed), phase);
		int64_t deadline = m->spin_group >= 0 && budget > 0 ? ng_nanotime() + budget : 0;
		int backoff = 32;
		int64_t spin_now = 0; /* the loop's latest clock read */
		for (;;) {
			if ((g = steal_work(m, p)) != NULL)
				break;
			if ((g = inbox_get(p)) != NULL)
				break;
			if (atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0) {
				pthread_mutex_lock(&S.lock);
				g = globrunq_get_locked(p, 0);
				pthread_mutex_unlock(&S.lock);
				if (g != NULL)
					break;
			}
			/* Poll-mode offload and MPI completions are work too: a
			 * spinner that only stole left a 25 us kernel to the
			 * poll timer (20 us, backing off). */
			if (NG_UNLIKELY(atomic_load_explicit(&ng_ext_poll_active,
			                                     memory_order_relaxed) > 0) &&
			    ng_ext_poll() > 0 && (g = runq_get(p, inherit)) != NULL)
				break;
			if (atomic_load_explicit(&S.stopping, memory_order_relaxed) ||
			    deadline == 0 || (spin_now = ng_nanotime()) >= deadline)
				break;
			/* Back off between looks: every look reads the victims'
			 * queue words, and each read steals the line from an
			 * owner that is busy writing it. */
			for (int i = 0; i < backoff; i++)
				ng_cpu_relax();
			if (backoff < 1024)
				backoff *= 2;
		}
		/* Spin time (spins with a budget; the one look of an M without
		 * one is not timed): from the clock read that set the deadline
		 * to the one that ended the loop, or, when work (or stopping)
		 * ended it, one more read. */
		if (deadline != 0)
			OWN_ADD(p->stats.spin_ns,
			        (uint64_t)((spin_now >= deadline ? spin_now : ng_nanotime()) -
			                   (deadline - budget)));
		if (g != NULL)
			return g;
	}

	/* Timers due now (ours or a busy P's) are work too. */
	if (ng_timers_earliest() <= ng_nanotime()) {
		for (int i = 0; i < S.nprocs; i++)
			ng_timers_run(S.allp[i], 0);
		if ((g = runq_get(p, inherit)) != NULL)
			return g;
	}

	/* Give up the P.  Last checks under the lock that also guards the idle
	 * list, so submitters that look at it see a consistent picture. */
	pthread_mutex_lock(&S.lock);
	if (atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0) {
		g = globrunq_get_locked(p, 0);
		pthread_mutex_unlock(&S.lock);
		return g;
	}
	if (atomic_load_explicit(&p->inbox_n, memory_order_seq_cst) > 0) {
		pthread_mutex_unlock(&S.lock);
		goto top;
	}
	ng_trace(p, NG_TRACE_IDLE, 0, 0, 0, 0);
	releasep(m);
	pidleput_locked(p);
	pthread_mutex_unlock(&S.lock);

	if (m->spinning) {
		spin_group_leave(m);
		m->spinning = false;
		if (atomic_fetch_sub_explicit(&S.nmspinning, 1, memory_order_seq_cst) <= 0)
			ng_fatal("scheduler: negative spinning count");
		/* The delicate dance: work submitted after our last look saw
		 * nmspinning > 0 and did not wake anyone.  Look again now that we
		 * are no longer counted as spinning. */
		if (any_work_anywhere()) {
			pthread_mutex_lock(&S.lock);
			/* a P no M could be made for first: the work may be
			 * its own (an inbox no idle P would reach) */
			p = pwant_get_locked();
			if (p == NULL)
				p = pidleget_locked();
			pthread_mutex_unlock(&S.lock);
			if (p != NULL) {
				acquirep(m, p);
				m->spinning = true;
				atomic_fetch_add_explicit(&S.nmspinning, 1, memory_order_seq_cst);
				goto top;
			}
		}
	}

	/* Idle time is when dead goroutines' stack pages go back to the OS. */
	if (NG_UNLIKELY(atomic_load_explicit(&S.gfree_avail, memory_order_relaxed) > 1024))
		ng_gfree_trim(256);

stop:
	pthread_mutex_lock(&S.lock);
	if (atomic_load_explicit(&S.stopping, memory_order_relaxed)) {
		pthread_mutex_unlock(&S.lock);
		return NULL;
	}
	if (NG_UNLIKELY(pwant != NULL)) {
		/* a P whose M could not be created: ours instead of idling */
		p = pwant_get_locked();
		pthread_mutex_unlock(&S.lock);
		acquirep(m, p);
		goto top;
	}
	m->schedlink = S.midle;
	S.midle = m;
	S.nmidle++;
	ng_checkdead_locked();
	pthread_mutex_unlock(&S.lock);
	p = stopm_sleep(m);
	if (p == NULL)
		return NULL;
	acquirep(m, p);
	timer_wake = m->timer_wake;
	goto top;
}

/* ---------------------------------------------------------- post-switch --- */

void ng_post_switch(ng_m *m)
{
	int after = m->after;
	if (NG_LIKELY(after == NG_AFTER_NONE))
		return;
	ng_g *g = m->after_g;
	m->after = NG_AFTER_NONE;
	m->after_g = NULL;
	switch (after) {
	case NG_AFTER_YIELD:
		atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_relaxed);
		if (NG_UNLIKELY(g->pinned))
			inbox_put(m->p, g);
		else
			ng_runq_put(m->p, g, false);
		break;
	case NG_AFTER_GLOBAL:
		atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_relaxed);
		if (NG_UNLIKELY(g->pinned)) {
			inbox_put(S.allp[g->pin_p], g);
			break;
		}
		pthread_mutex_lock(&S.lock);
		globrunq_put_locked(g);
		pthread_mutex_unlock(&S.lock);
		ng_wakep(); /* a P may have gone idle since we looked */
		break;
	case NG_AFTER_EXIT:
		ng_g_free(m->p, g);
		break;
	case NG_AFTER_LOCKED: {
		/* On g0 of the M the goroutine must resume on: queue it, hand
		 * the P to another M (the queued G is work for it), and let
		 * m_loop wait for someone to hand a P back for it. */
		ng_p *p = m->p;
		atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_relaxed);
		pthread_mutex_lock(&S.lock);
		/* The M for p first: with none to be had (no idle M, no new
		 * thread) g resumes here at once, the slice lost but nothing
		 * stuck waiting for a P no M would run.  The M started waits
		 * for sched.lock before it looks at p. */
		bool stopping = atomic_load_explicit(&S.stopping, memory_order_relaxed);
		if (NG_UNLIKELY(!stopping && startm_try_locked(p, false) != 0)) {
			pthread_mutex_unlock(&S.lock);
			m->nextg = g;
			break;
		}
		g->lockedm = m;
		m->lockedg = g;
		releasep(m);
		if (NG_UNLIKELY(stopping)) /* this M leaves from stoplockedm */
			pidleput_locked(p);
		if (NG_UNLIKELY(g->pinned)) {
			pthread_mutex_unlock(&S.lock);
			inbox_put(S.allp[g->pin_p], g);
			break;
		}
		globrunq_put_locked(g);
		pthread_mutex_unlock(&S.lock);
		break;
	}
	default:
		ng_fatal("scheduler: bad post-switch action %d", after);
	}
}

/* ------------------------------------------------------------- schedule --- */

/* What every switch into a G from a G ends with, once back on the G's own
 * stack: out of line, so that schedule_from_g's fast path, which calls
 * nothing else, keeps nothing in callee-saved registers across the switch. */
static __attribute__((noinline)) ng_m *after_switch(ng_m *m)
{
	ng_post_switch_inline(m);
	ng_timers_poll(m);
	return m;
}

/* schedule_from_g in full: a stack-check goroutine, shutdown, a preemption
 * request, the switch hooks, the global queue's turn, the inbox, nothing
 * local to run, or a successor locked to another M. */
static __attribute__((noinline)) ng_m *schedule_from_g_slow(ng_m *m, ng_g *g, bool dying)
{
	ng_p *p = m->p;
	ng_g *next = NULL;
	bool inherit = false;
	if (NG_UNLIKELY(g->stack.guard == NG_GUARD_CHECK) &&
	    !ng_stack_sp_ok(&g->stack, __builtin_frame_address(0)))
		ng_stack_overflow_fatal(g, __builtin_frame_address(0));
	if (NG_UNLIKELY(atomic_load_explicit(&S.stopping, memory_order_relaxed)))
		goto to_g0;
	bool global = p->schedtick % 61 == 0;
	if (NG_UNLIKELY(atomic_load_explicit(&ng_preempt_any, memory_order_relaxed)) &&
	    ng_preempt_take(p)) {
		/* The slice is over at this switch (preempt.c): the G in
		 * runnext would inherit it, so it queues at the tail like any
		 * other, and the global queue comes first. */
		ng_g *rn = RQ_LOAD(&p->runnext, relaxed);
		if (rn != NULL && atomic_compare_exchange_strong_explicit(&p->runnext, &rn, NULL,
		                                                          memory_order_acq_rel,
		                                                          memory_order_relaxed))
			ng_runq_put(p, rn, false);
		global = true;
	}
	if (NG_UNLIKELY(global) && atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0) {
		pthread_mutex_lock(&S.lock);
		next = globrunq_get_locked(p, 1);
		pthread_mutex_unlock(&S.lock);
	}
	if (next == NULL && NG_UNLIKELY(atomic_load_explicit(&p->inbox_n, memory_order_relaxed)))
		next = inbox_get(p);
	if (next == NULL)
		next = runq_get(p, &inherit);
	if (NG_UNLIKELY(next != NULL && next->lockedm != NULL)) {
		m->nextg = next; /* m_loop hands our P to its M */
		goto to_g0;
	}
	if (next != NULL) {
		execute(m, next, inherit);
		m = ctx_switch(m, &g->ctx, &next->ctx, dying);
		ng_post_switch_inline(m);
		ng_timers_poll(m);
		return m;
	}
to_g0:
	m->curg = NULL;
	m = ctx_switch(m, &g->ctx, &m->g0, dying);
	ng_post_switch_inline(m);
	ng_timers_poll(m);
	return m;
}

/* The calling G (m->curg) leaves: its fate is already in m->after.  Switch
 * straight to a local successor if there is one, else to g0.  Returns the M
 * the G resumes on (never for a dying G).  The common case inline: none of
 * schedule_from_g_slow's conditions, and a local G to run. */
static inline ng_m *schedule_from_g(ng_m *m, ng_g *g, bool dying)
{
	ng_p *p = m->p;
	if (NG_UNLIKELY((g->stack.guard == NG_GUARD_CHECK) |
	                atomic_load_explicit(&S.stopping, memory_order_relaxed) |
	                atomic_load_explicit(&ng_preempt_any, memory_order_relaxed) |
	                atomic_load_explicit(&ng_switch_hooks, memory_order_relaxed) |
	                atomic_load_explicit(&p->inbox_n, memory_order_relaxed)) ||
	    NG_UNLIKELY(atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0 &&
	                p->schedtick % 61 == 0))
		return schedule_from_g_slow(m, g, dying);
	/* runnext, or the ring's head: what schedule_from_g_slow would take */
	ng_g *next = RQ_LOAD(&p->runnext, relaxed);
	bool inherit = next != NULL &&
	               atomic_compare_exchange_strong_explicit(
	                   &p->runnext, &next, NULL, memory_order_acq_rel, memory_order_relaxed);
	if (!inherit) {
		uint32_t head = RQ_LOAD(&p->runqhead, acquire);
		if (head == RQ_LOAD(&p->runqtail, relaxed))
			return schedule_from_g_slow(m, g, dying); /* to g0 */
		next = runq_get(p, &inherit);
		if (NG_UNLIKELY(next == NULL))
			return schedule_from_g_slow(m, g, dying);
	}
	if (NG_UNLIKELY(next->lockedm != NULL)) {
		/* put back where it was taken from is not possible: let the slow
		 * path hand our P to its M */
		m->nextg = next;
		m->curg = NULL;
		m = ctx_switch(m, &g->ctx, &m->g0, dying);
		return after_switch(m);
	}
	m->curg = next;
	atomic_store_explicit(&next->status, NG_G_RUNNING, memory_order_relaxed);
	execute_p(p, inherit);
	m = ctx_switch(m, &g->ctx, &next->ctx, dying);
	return after_switch(m);
}

/* The end of every park: the G is WAITING, and what to do once we are off
 * its stack is recorded for whoever we switch to. */
static inline __attribute__((always_inline)) ng_m *park_switch(ng_m *m, ng_g *g, ng_unlockf unlockf,
                                                               void *arg)
{
	atomic_store_explicit(&g->status, NG_G_WAITING, memory_order_release);
	m->after = NG_AFTER_PARK;
	m->after_g = g;
	m->after_fn = unlockf;
	m->after_arg = arg;
	return schedule_from_g(m, g, false);
}

/* ng_park's rare cases, out of line so that its common one saves no
 * registers: a park inside a blocking call (fatal), the periodic refresh
 * of the P's cached time, and the switch hooks. */
static __attribute__((noinline, cold)) ng_m *park_slow(ng_m *m, ng_g *g, ng_unlockf unlockf,
                                                       void *arg)
{
	if (m->blocked)
		ng_fatal("goroutine %llu blocked in numago between ng_block_enter and "
		         "ng_block_exit",
		         (unsigned long long)g->id);
	ng_p *p = m->p;
	if ((p->nparks & 255) == 0)
		p->coarse_now = ng_coarse_now();
	g->waitsince = p->coarse_now;
	if (atomic_load_explicit(&ng_switch_hooks, memory_order_relaxed))
		ng_switch_hook(m, NG_TRACE_BLOCK);
	return park_switch(m, g, unlockf, arg);
}

ng_m *ng_park(ng_unlockf unlockf, void *arg, int reason)
{
	ng_m *m = ng_getm();
	ng_g *g = m->curg;
	g->waitreason = (uint8_t)reason;
	/* Dumps show waits of a minute or more: a clock read per park is too
	 * dear for that.  The P's cached time is refreshed whenever the P
	 * looks for work and every 256th park (park_slow), so it is never far
	 * behind. */
	ng_p *p = m->p;
	uint32_t nparks = ++p->nparks;
	if (NG_UNLIKELY(m->blocked | ((nparks & 255) == 0) |
	                atomic_load_explicit(&ng_switch_hooks, memory_order_relaxed)))
		return park_slow(m, g, unlockf, arg);
	g->waitsince = p->coarse_now;
	return park_switch(m, g, unlockf, arg);
}

void ng_ready_to(ng_p *p, ng_g *g)
{
	atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_release);
	inbox_put(p, g);
}

void ng_ready(ng_g *g)
{
	ng_ready_inline(g);
}

/* Everything but ng_ready_inline's hand-off into an empty runnext: a full
 * runnext (its G moves to the tail), a pinned G, no P (a foreign thread or
 * g0), or a G that is not waiting (a fatal bug). */
void ng_ready_slow(ng_g *g)
{
	uint32_t st = atomic_load_explicit(&g->status, memory_order_relaxed);
	if (NG_UNLIKELY(st != NG_G_WAITING))
		ng_fatal("ready of goroutine %llu in state %u (not waiting)",
		         (unsigned long long)g->id, st);
	atomic_store_explicit(&g->status, NG_G_RUNNABLE, memory_order_release);
	if (NG_UNLIKELY(g->pinned)) {
		inbox_put(S.allp[g->pin_p], g);
		return;
	}
	ng_m *m = ng_getm();
	if (m != NULL && m->p != NULL) {
		ng_runq_put(m->p, g, true);
	} else {
		pthread_mutex_lock(&S.lock);
		globrunq_put_locked(g);
		atomic_fetch_add_explicit(&S.stat_global_put, 1, memory_order_relaxed);
		pthread_mutex_unlock(&S.lock);
	}
	ng_wakep();
}

/* ------------------------------------------------------- blocking calls --- */

/* Go's entersyscall: the P stays with the M (most calls are short) but is
 * marked, so sysmon can take it away if the call lasts. */
int ng_block_enter(void)
{
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL)
		return 0; /* a foreign thread blocks on its own */
	if (m->blocked)
		return -EINVAL;
	if (atomic_fetch_add_explicit(&S.nblocked, 1, memory_order_relaxed) >= S.max_blocked) {
		atomic_fetch_sub_explicit(&S.nblocked, 1, memory_order_relaxed);
		static _Atomic int warned;
		if (!atomic_exchange(&warned, 1))
			ng_warn("%d threads are in blocking calls (the bound; NUMAGO_DEBUG="
			        "maxblock=N): ng_block_enter refuses more",
			        S.max_blocked);
		return -EAGAIN;
	}
	ng_p *p = m->p;
	/* sysmon may have gone to sleep while every P was idle: retakes need it */
	if (NG_UNLIKELY(S.sysmon_waiting)) {
		pthread_mutex_lock(&S.lock);
		ng_sysmon_busy_locked();
		pthread_mutex_unlock(&S.lock);
	}
	m->blocked = true;
	m->oldp = p;
	m->p = NULL; /* numago calls in between behave as from no P (or fail loudly) */
	/* and count channel operations globally: sysmon may hand the P on */
	ng_tls_pstats = NULL;
	uint64_t w =
	    ((atomic_load_explicit(&p->block, memory_order_relaxed) >> 2) + 1) << 2 | NG_P_BLOCKED;
	m->oldblock = w;
	atomic_store_explicit(&p->block, w, memory_order_release);
	return 0;
}

/* Go's exitsyscall: take the old P back if sysmon left it, else any idle P,
 * else queue the goroutine and let this M go idle. */
int ng_block_exit(void)
{
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL)
		return 0;
	if (!m->blocked)
		return -EINVAL;
	ng_p *p = m->oldp;
	m->blocked = false;
	m->oldp = NULL;
	atomic_fetch_sub_explicit(&S.nblocked, 1, memory_order_relaxed);
	uint64_t w = m->oldblock;
	if (NG_LIKELY(atomic_compare_exchange_strong_explicit(
	        &p->block, &w, (w & ~(uint64_t)3) | NG_P_RUNNING, memory_order_acq_rel,
	        memory_order_relaxed))) {
		m->p = p;
		ng_tls_pstats = &p->stats;
		return 0;
	}
	ng_g *g = m->curg;
	if (!g->pinned) {
		pthread_mutex_lock(&S.lock);
		p = pidleget_locked();
		if (NG_UNLIKELY(p == NULL))
			p = pwant_get_locked(); /* ours, likely: no M could take it */
		pthread_mutex_unlock(&S.lock);
		if (p != NULL) {
			acquirep(m, p);
			return 0;
		}
	}
	/* No P for us (or ours is busy and we are pinned to it): wait in a
	 * queue; this M idles on g0 until someone gives it a P. */
	m->after = NG_AFTER_GLOBAL;
	m->after_g = g;
	m->curg = NULL;
	m = ctx_switch(m, &g->ctx, &m->g0, false);
	ng_post_switch_inline(m);
	ng_timers_poll(m);
	return 0;
}

/* sysmon won p from its blocked M: give it to another M if there is work,
 * else to the idle list. */
void ng_handoff_p(ng_p *p)
{
	atomic_fetch_add_explicit(&S.stat_retakes, 1, memory_order_relaxed);
	pthread_mutex_lock(&S.lock);
	atomic_store_explicit(&p->m, NULL, memory_order_relaxed);
	if (!runq_empty(p) || atomic_load_explicit(&S.runqsize, memory_order_relaxed) > 0 ||
	    atomic_load_explicit(&p->inbox_n, memory_order_relaxed) > 0 ||
	    atomic_load_explicit(&p->timer_next, memory_order_relaxed) != INT64_MAX) {
		startm_locked(p, false);
	} else {
		pidleput_locked(p);
	}
	pthread_mutex_unlock(&S.lock);
}

void ng_yield(void)
{
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL) {
		sched_yield(); /* foreign thread: the OS schedules it */
		return;
	}
	ng_p *p = m->p;
	ng_g *g = m->curg;
	ng_g *next = NULL;
	bool inherit = false;
	/* The same order as schedule_from_g, without its parking path: with
	 * nothing else runnable here the caller simply keeps running. */
	if (NG_UNLIKELY(p->schedtick % 61 == 0 ||
	                atomic_load_explicit(&p->inbox_n, memory_order_relaxed) ||
	                atomic_load_explicit(&S.stopping, memory_order_relaxed) ||
	                g->stack.guard == NG_GUARD_CHECK)) {
		m->after = NG_AFTER_YIELD;
		m->after_g = g;
		schedule_from_g(m, g, false);
		return;
	}
	next = runq_get(p, &inherit);
	if (next == NULL) {
		if (atomic_load_explicit(&S.runqsize, memory_order_relaxed) == 0)
			return;
		pthread_mutex_lock(&S.lock);
		next = globrunq_get_locked(p, 1);
		pthread_mutex_unlock(&S.lock);
		if (next == NULL)
			return;
	}
	m->after = NG_AFTER_YIELD;
	m->after_g = g;
	if (NG_UNLIKELY(next->lockedm != NULL)) {
		m->nextg = next; /* m_loop hands our P to its M */
		m->curg = NULL;
		m = ctx_switch(m, &g->ctx, &m->g0, false);
		ng_post_switch_inline(m);
		ng_timers_poll(m);
		return;
	}
	execute(m, next, inherit);
	m = ctx_switch(m, &g->ctx, &next->ctx, false);
	ng_post_switch_inline(m);
	ng_timers_poll(m);
}

/* Preemption (preempt.c): g stops at its time slice's end.  Cooperative or
 * migratable: to the global queue, as Go's gopreempt_m.  Locked: through g0,
 * which queues it and hands the P on (NG_AFTER_LOCKED). */
ng_m *ng_preempt_switch(ng_m *m, ng_g *g, bool locked)
{
	m->after_g = g;
	if (!locked) {
		m->after = NG_AFTER_GLOBAL;
		return schedule_from_g(m, g, false);
	}
	m->after = NG_AFTER_LOCKED;
	m->curg = NULL;
	m = ctx_switch(m, &g->ctx, &m->g0, false);
	ng_post_switch_inline(m);
	ng_timers_poll(m);
	return m;
}

/* The calling goroutine is finished: switch away for good. */
_Noreturn void ng_g_exit_switch(ng_m *m, ng_g *g)
{
	m->after = NG_AFTER_EXIT;
	m->after_g = g;
	schedule_from_g(m, g, true);
	ng_fatal("a dead goroutine was resumed");
}

/* ------------------------------------------------------------------ M --- */

/* This M holds a goroutine stopped by a preemption signal, which must
 * resume here: sleep until whoever dequeues it hands us a P (startlockedm).
 * NULL when the runtime stops. */
static ng_g *stoplockedm(ng_m *m)
{
	for (;;) {
		ng_note_sleep(&m->park);
		ng_note_clear(&m->park);
		pthread_mutex_lock(&S.lock);
		ng_p *p = m->nextp;
		m->nextp = NULL;
		pthread_mutex_unlock(&S.lock);
		if (p != NULL) {
			acquirep(m, p);
			ng_g *g = m->lockedg;
			m->lockedg = NULL;
			g->lockedm = NULL;
			return g;
		}
		if (atomic_load_explicit(&S.stopping, memory_order_acquire))
			return NULL;
	}
}

/* g must resume on another M (its lockedm): give it our P, and go idle. */
static void startlockedm(ng_m *m, ng_g *g)
{
	ng_m *to = g->lockedm;
	ng_p *p = m->p;
	pthread_mutex_lock(&S.lock);
	releasep(m);
	to->nextp = p;
	pthread_mutex_unlock(&S.lock);
	atomic_fetch_add_explicit(&S.stat_wakes, 1, memory_order_relaxed);
	ng_note_wakeup(&to->park);
}

static void m_loop(ng_m *m)
{
	for (;;) {
		bool inherit = false;
		ng_g *g;
		if (NG_UNLIKELY(m->lockedg != NULL)) {
			if ((g = stoplockedm(m)) == NULL)
				return;
		} else {
			if (NG_UNLIKELY(m->nextg != NULL)) {
				g = m->nextg;
				m->nextg = NULL;
			} else if ((g = findrunnable(m, &inherit)) == NULL) {
				return;
			}
			if (m->spinning)
				resetspinning(m);
			if (NG_UNLIKELY(g->lockedm != NULL)) {
				startlockedm(m, g);
				continue; /* with no P: findrunnable parks us */
			}
		}
		execute(m, g, inherit);
		m = ctx_switch(m, &m->g0, &g->ctx, false);
		/* back on g0: whatever goroutine ran here has stopped */
		if (NG_UNLIKELY(atomic_load_explicit(&ng_switch_hooks, memory_order_relaxed)))
			ng_switch_hook(m, NG_HOOK_G0);
		ng_post_switch_inline(m);
	}
}

static void *m_main(void *arg)
{
	ng_m *m = arg;
	ng_tls_m = m;
	/* m->thread is written by the creator after the thread may have
	 * started: others that find this M through a P use this copy */
	m->self = pthread_self();
	ng_stack_altstack_setup(&m->altstack);
	ng_counters_m_start(m);
#if NG_ASAN
	{
		pthread_attr_t a;
		void *lo;
		size_t sz;
		pthread_getattr_np(pthread_self(), &a);
		pthread_attr_getstack(&a, &lo, &sz);
		pthread_attr_destroy(&a);
		m->g0.stack_lo = lo;
		m->g0.stack_size = sz;
	}
#endif
#if NG_TSAN
	m->g0.tsan_fiber = __tsan_get_current_fiber();
#endif
	pthread_mutex_lock(&S.lock);
	ng_p *p = m->nextp;
	m->nextp = NULL;
	pthread_mutex_unlock(&S.lock);
	acquirep(m, p);
	m_loop(m);
	/* stopping: give the P back so shutdown sees every P accounted for */
	pthread_mutex_lock(&S.lock);
	if (m->p != NULL)
		releasep(m);
	if (m->spinning) {
		spin_group_leave(m);
		m->spinning = false;
		atomic_fetch_sub(&S.nmspinning, 1);
	}
	m->exited = true;
	pthread_mutex_unlock(&S.lock);
	ng_counters_m_exit(m);
	ng_stack_altstack_teardown(m->altstack);
	m->altstack = NULL;
	ng_tls_m = NULL;
	return NULL;
}

/* ----------------------------------------------------------- lifecycle --- */

/* A P, its run ring and its victim arrays live in one block on the P's
 * NUMA node. */
static size_t p_block_size(int nprocs)
{
	size_t nv = (size_t)(nprocs > 1 ? nprocs - 1 : 1);
	return sizeof(ng_p) + nv * (sizeof(int) + sizeof(uint32_t) + sizeof(uint8_t));
}

int ng_sched_init(int nprocs)
{
	S.nprocs = nprocs;
	S.allp = calloc((size_t)nprocs, sizeof *S.allp);
	S.group_spinning = calloc((size_t)ng_topo_ngroups() + 1, sizeof *S.group_spinning);
	if (S.allp == NULL || S.group_spinning == NULL)
		return -ENOMEM;
	for (int i = 0; i < nprocs; i++) {
		int node = ng_topo_p_node(i);
		ng_p *p = ng_topo_alloc_node(p_block_size(nprocs), node);
		if (p == NULL)
			return -ENOMEM;
		p->id = i;
		p->node = node;
		p->group = ng_topo_p_group(i);
		pthread_mutex_init(&p->inbox_lock, NULL);
		size_t nv = (size_t)(nprocs > 1 ? nprocs - 1 : 1);
		p->victims = (int *)(p + 1);
		p->vkey = (uint32_t *)(p->victims + nv);
		p->vclass = (uint8_t *)(p->vkey + nv);
		p->nvictims = nprocs - 1;
		ng_topo_victim_order(i, nprocs, p->victims, p->vkey, p->vclass);
		S.allp[i] = p;
	}
	/* every P starts idle; Ms are created on demand */
	for (int i = nprocs - 1; i >= 0; i--)
		pidleput_locked(S.allp[i]);
	ng_timers_init();
	for (int i = 0; i < nprocs; i++)
		atomic_store(&S.allp[i]->stats.parks, 0);
	return 0;
}

void ng_sched_shutdown(void)
{
	atomic_store(&S.stopping, 1);
	ng_sysmon_stop();
	pthread_mutex_lock(&S.lock);
	for (ng_m *m = S.midle; m != NULL; m = m->schedlink)
		ng_note_wakeup(&m->park);
	S.midle = NULL;
	S.nmidle = 0;
	pthread_mutex_unlock(&S.lock);
	ng_netpoll_break(); /* the idle M in epoll_wait, if any: its note is set */
	/* Ms running goroutines leave at their next schedule point; one that
	 * computes without reaching one is moved off by the preemption
	 * signal (retried: it may be inside libc at the first). */
	ng_m *all;
	pthread_mutex_lock(&S.lock);
	all = S.allm;
	for (ng_m *m = all; m != NULL; m = m->alllink)
		ng_note_wakeup(&m->park); /* also Ms waiting for a locked G */
	pthread_mutex_unlock(&S.lock);
	for (ng_m *m = all; m != NULL; m = m->alllink) {
		for (;;) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 5000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(m->thread, NULL, &ts) != ETIMEDOUT)
				break;
			ng_note_wakeup(&m->park);
			ng_preempt_kick(m);
		}
	}
	pthread_mutex_lock(&S.lock);
	while (S.allm != NULL) {
		ng_m *m = S.allm;
		S.allm = m->alllink;
		free(m);
	}
	pthread_mutex_unlock(&S.lock);
	ng_allg_free_all();
	ng_timers_fini();
	ng_netpoll_fini();
	for (int i = 0; i < S.nprocs; i++) {
		ng_p *p = S.allp[i];
		for (int k = 0; k < 2; k++)
			atomic_fetch_add(&S.gauge[k], RELAXED(p->stats.gauge[k]));
		pthread_mutex_destroy(&p->inbox_lock);
		ng_topo_free_node(p, p_block_size(S.nprocs));
	}
	free(S.allp);
	free((void *)S.group_spinning);
	S.group_spinning = NULL;
	S.allp = NULL;
	S.nprocs = 0;
	S.pidle = NULL;
	atomic_store(&S.npidle, 0);
	pwant = NULL;
	atomic_store(&npwant, 0);
	newm_next = newm_backoff = 0;
	newm_warned = false;
	S.runq_head = S.runq_tail = NULL;
	atomic_store(&S.runqsize, 0);
	S.mcount = 0;
	S.nmsys = 0;
	S.san_threads = 0;
	atomic_store(&S.nmspinning, 0);
	S.gfree = S.gfree_cold = S.gfree_nostack = NULL;
	S.gfree_n = S.gfree_cold_n = S.gfree_nostack_n = 0;
	atomic_store(&S.gfree_avail, 0);
	S.main_g = NULL;
	S.main_exited_via_ng_exit = false;
	S.main_done_flag = false;
	atomic_store(&S.ngoroutines, 0);
	atomic_store(&S.quiesce_waiting, 0);
	ng_note_clear(&S.main_done);
	ng_note_clear(&S.quiesce);
	atomic_store(&S.stopping, 0);
}

/* --------------------------------------------------------------- queries --- */

int ng_procs(void)
{
	return atomic_load(&S.running) ? S.nprocs : 0;
}

int ng_self_proc(void)
{
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL || m->p == NULL)
		return -1;
	return m->p->id;
}

int ng_stats_proc(int proc, ng_proc_stats *out)
{
	if (out == NULL)
		return -EINVAL;
	if (!atomic_load(&S.running))
		return -ESRCH;
	if (proc < 0 || proc >= S.nprocs)
		return -EINVAL;
	const ng_pstats *st = &S.allp[proc]->stats;
	out->runs = RELAXED(st->runs);
	out->spawns = RELAXED(st->spawns);
	out->steals = RELAXED(st->steals);
	out->stolen = RELAXED(st->stolen);
	out->global_gets = RELAXED(st->global_gets);
	out->parks = RELAXED(st->parks);
	out->failed_steals = 0;
	for (int c = 0; c < NG_DIST_NCLASSES; c++) {
		out->steals_by_class[c] = RELAXED(st->steals_by_class[c]);
		out->failed_steals_by_class[c] = RELAXED(st->failed_steals_by_class[c]);
		out->failed_steals += out->failed_steals_by_class[c];
	}
	out->spin_ns = RELAXED(st->spin_ns);
	uint64_t xfer = RELAXED(st->chan[NG_SC_XFER]);
	out->chan_sends = xfer + RELAXED(st->chan[NG_SC_SEND]);
	out->chan_recvs = xfer + RELAXED(st->chan[NG_SC_RECV]);
	out->chan_select = RELAXED(st->chan[NG_SC_SELECT]);
	return 0;
}

void ng_gauge_add(int k, int64_t d)
{
	ng_pstats *st = ng_tls_pstats;
	if (NG_LIKELY(st != NULL))
		OWN_ADD(st->gauge[k], d);
	else
		atomic_fetch_add_explicit(&S.gauge[k], d, memory_order_relaxed);
}

int ng_stats_read(ng_stats *out)
{
	if (out == NULL)
		return -EINVAL;
	if (!atomic_load(&S.running))
		return -ESRCH;
	memset(out, 0, sizeof *out);
	out->spawns = atomic_load(&S.stat_spawns);
	out->ms = atomic_load(&S.stat_ms);
	out->m_wakes = atomic_load(&S.stat_wakes);
	out->sysmon_wakes = atomic_load(&S.stat_sysmon_wakes);
	out->retakes = atomic_load(&S.stat_retakes);
	out->preempt_requests = atomic_load(&S.stat_preempt_req);
	out->preempt_async = atomic_load(&S.stat_preempt_async);
	out->preempt_coop = atomic_load(&S.stat_preempt_coop);
	out->preempt_deferred = atomic_load(&S.stat_preempt_deferred);
	out->global_put = atomic_load(&S.stat_global_put);
	/* from threads without a P */
	uint64_t xfer = atomic_load_explicit(&S.stat_chan[NG_SC_XFER], memory_order_relaxed);
	out->chan_sends =
	    xfer + atomic_load_explicit(&S.stat_chan[NG_SC_SEND], memory_order_relaxed);
	out->chan_recvs =
	    xfer + atomic_load_explicit(&S.stat_chan[NG_SC_RECV], memory_order_relaxed);
	out->chan_select = atomic_load_explicit(&S.stat_chan[NG_SC_SELECT], memory_order_relaxed);
	out->offload_ops = atomic_load_explicit(&ng_stat_offload[NG_SO_OPS], memory_order_relaxed);
	out->offload_done =
	    atomic_load_explicit(&ng_stat_offload[NG_SO_DONE], memory_order_relaxed);
	out->offload_failed =
	    atomic_load_explicit(&ng_stat_offload[NG_SO_FAILED], memory_order_relaxed);
	out->offload_parks =
	    atomic_load_explicit(&ng_stat_offload[NG_SO_PARKS], memory_order_relaxed);
	for (int i = 0; i < S.nprocs; i++) {
		ng_proc_stats ps;
		if (ng_stats_proc(i, &ps) != 0)
			continue;
		out->steals += ps.steals;
		out->spawns += ps.spawns;
		for (int c = 0; c < NG_DIST_NCLASSES; c++) {
			out->steals_by_class[c] += ps.steals_by_class[c];
			out->failed_steals_by_class[c] += ps.failed_steals_by_class[c];
		}
		out->switches += ps.runs;
		out->parks += ps.parks;
		out->failed_steals += ps.failed_steals;
		out->spin_ns += ps.spin_ns;
		out->chan_sends += ps.chan_sends;
		out->chan_recvs += ps.chan_recvs;
		out->chan_select += ps.chan_select;
	}
	out->goroutines_live = ng_num_goroutines();
	/* dead Gs keep their stacks: on the Ps' free lists and the global
	 * ones (gfree_avail counts those with stacks, hot and cold) */
	int64_t cached = atomic_load_explicit(&S.gfree_avail, memory_order_relaxed);
	int64_t gauge[2] = {atomic_load_explicit(&S.gauge[0], memory_order_relaxed),
	                    atomic_load_explicit(&S.gauge[1], memory_order_relaxed)};
	for (int i = 0; i < S.nprocs; i++) {
		cached += RELAXED(S.allp[i]->gfree_n);
		for (int k = 0; k < 2; k++)
			gauge[k] += RELAXED(S.allp[i]->stats.gauge[k]);
	}
	ng_stack_counts(&out->stacks_allocated, &out->stack_bytes_mapped);
	out->stacks_in_use = out->stacks_allocated - cached;
	out->chans_live = gauge[NG_GAUGE_CHANS];
	out->timers_live = gauge[NG_GAUGE_TIMERS];
	out->timers_queued = ng_timers_count();
	return 0;
}
