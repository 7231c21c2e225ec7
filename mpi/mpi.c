/* mpi/mpi.c — the MPI bridge: requests as parkable operations.
 *
 * A wait is an operation record (on the waiting goroutine's stack, or on
 * the heap for a collective left to finish in the background) put into the
 * outstanding table.  Its state word goes PENDING -> DONE when the poller
 * completes it before the waiter parks, or PENDING -> PARKED -> DONE when
 * the waiter queued itself first (under the op's wait-queue lock): then
 * the completer takes that lock and wakes it.  A completion racing a park
 * is never lost, whichever side gets there first (offload/op.c's scheme).
 *
 * The poller (one at a time: a trylock, the others return at once) copies
 * up to NG_MPI_POLL_BUDGET requests from the table, from a rotating start,
 * marks their ops `in_poll` under the table lock, and calls MPI_Testsome
 * on the copy without holding it.  A waiter whose deadline passed must not
 * leave (its op and its MPI_Request are on its stack) while a poller holds
 * its op: it waits for in_poll to clear, then looks at the state under the
 * table lock: DONE means the request completed after all (its result is
 * returned, nothing is lost), otherwise it takes its op out of the table
 * and its request stays the caller's, still active.  A woken waiter also
 * waits for in_poll to clear, which the poller does last.
 *
 * Who polls: Ms that found no work (findrunnable calls registered pollers
 * while ng_ext_poll_active > 0, one count per outstanding op), sysmon every
 * tick while any P is busy, and a runtime timer (NG_TMR_F_NOWAIT) backing
 * off from POLL_MIN_NS to POLL_MAX_NS while nothing completes; any new wait
 * or completion resets it.  The timer is what finds completions when every
 * P is idle (the last idle M sleeps until it). */
#define _GNU_SOURCE
#include "../core/internal.h"
#include "../core/runq.h"
#include "../core/sched_inline.h"
#include "../core/timer.h"
#include "../core/waitq.h"

#include <numago/mpi.h>
#include <numago/runtime.h>
#include <numago/time.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MIN_NS 10000LL
#define POLL_MAX_NS 1000000LL
/* while a goroutine waits (not only background collectives): Open MPI
 * moves a large message only inside MPI calls, and at 1 ms between polls
 * a 4 MiB ping-pong ran at a quarter of plain MPI's bandwidth */
#define POLL_MAX_WAIT_NS 50000LL
#define SPIN_DEFAULT_NS  200000LL
#define FOREIGN_PAUSE_NS 1000LL
#define FOREIGN_MAX_NS   200000LL

enum { OP_PENDING = 0, OP_PARKED = 1, OP_DONE = 2 };

typedef struct mpi_op {
	MPI_Request req;   /* the request; MPI_REQUEST_NULL once complete */
	MPI_Status status; /* valid once DONE */
	int err;           /* MPI error code of the completion */
	_Atomic int state;
	_Atomic int in_poll; /* a poller holds a copy of req: do not leave */
	int idx;             /* slot in the table; table lock */
	bool background;     /* heap op nobody waits for: freed by the poller */
	void *tmp;           /* background: buffers to free with it */
	ng_waitq_ wq;        /* the waiter */
} mpi_op;

static struct {
	_Atomic int inited; /* 0 no, 1 yes, -1 finalized */
	bool we_init;       /* ng_mpi_init called MPI_Init_thread */
	int level;
	int rank, size;
	bool serialise;
	bool quiet;
	int64_t spin_ns;
	pthread_mutex_t call_lock; /* serialising mode: around every MPI call */
	/* outstanding ops */
	pthread_mutex_t tab_lock;
	mpi_op **tab;
	int n, cap;
	int cursor;           /* where the next poll starts (fairness past the budget) */
	_Atomic int64_t nout; /* n, readable without the lock */
	_Atomic int64_t nbackground;
	_Atomic int32_t polling; /* one poller at a time */
	/* communicators that have MPI_ERRORS_RETURN */
	_Atomic int32_t comm_lock;
	MPI_Comm comms[64];
	int ncomms;
	/* stats */
	_Atomic uint64_t waits, parks, spin_hits, completed, polls, timeouts, errors;
} M = {
    .call_lock = PTHREAD_MUTEX_INITIALIZER,
    .tab_lock = PTHREAD_MUTEX_INITIALIZER,
};

static ng_tmr ticker;
static _Atomic int ticker_armed;
static _Atomic int64_t poll_delay = POLL_MIN_NS;

static void stat_add(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* -------------------------------------------------------- calls and errors */

static inline void call_lock(void)
{
	if (M.serialise)
		pthread_mutex_lock(&M.call_lock);
}

static inline void call_unlock(void)
{
	if (M.serialise)
		pthread_mutex_unlock(&M.call_lock);
}

void ng_mpi_lock(void)
{
	call_lock();
}

void ng_mpi_unlock(void)
{
	call_unlock();
}

int ng_mpi_errno(int e)
{
	if (e == MPI_SUCCESS)
		return 0;
	int cls = e;
	if (MPI_Error_class(e, &cls) != MPI_SUCCESS)
		cls = e;
	switch (cls) {
	case MPI_SUCCESS:
		return 0;
	case MPI_ERR_RANK:
	case MPI_ERR_TAG:
	case MPI_ERR_COUNT:
	case MPI_ERR_TYPE:
	case MPI_ERR_COMM:
	case MPI_ERR_OP:
	case MPI_ERR_ARG:
	case MPI_ERR_BUFFER:
	case MPI_ERR_ROOT:
	case MPI_ERR_GROUP:
	case MPI_ERR_REQUEST:
	case MPI_ERR_DIMS:
	case MPI_ERR_TOPOLOGY:
		return -EINVAL;
	case MPI_ERR_TRUNCATE:
		return -EMSGSIZE;
	case MPI_ERR_NO_MEM:
		return -ENOMEM;
	case MPI_ERR_UNSUPPORTED_OPERATION:
		return -ENOTSUP;
#ifdef MPIX_ERR_PROC_FAILED
	case MPIX_ERR_PROC_FAILED:
		return -ECONNRESET;
#endif
	default:
		return -EIO;
	}
}

/* One line for an MPI error, and its errno. */
static int report(const char *call, int e)
{
	stat_add(&M.errors);
	int r = ng_mpi_errno(e);
	if (!M.quiet) {
		char msg[MPI_MAX_ERROR_STRING] = "";
		int len = 0;
		if (MPI_Error_string(e, msg, &len) != MPI_SUCCESS)
			snprintf(msg, sizeof msg, "error %d", e);
		fprintf(stderr, "numago: MPI rank %d: %s failed: %s (returned as %s)\n", M.rank,
		        call, msg, strerror(-r));
	}
	return r;
}

/* MPI_ERRORS_RETURN on comm, once per communicator (a small table; past
 * it, every call sets it again, which is correct, only slower). */
static int comm_prepare(MPI_Comm comm)
{
	if (comm == MPI_COMM_NULL)
		return -EINVAL;
	ng_spin_lock(&M.comm_lock);
	for (int i = 0; i < M.ncomms; i++)
		if (M.comms[i] == comm) {
			ng_spin_unlock(&M.comm_lock);
			return 0;
		}
	ng_spin_unlock(&M.comm_lock);
	call_lock();
	int e = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
	call_unlock();
	if (e != MPI_SUCCESS)
		return report("MPI_Comm_set_errhandler", e);
	ng_spin_lock(&M.comm_lock);
	if (M.ncomms < (int)(sizeof M.comms / sizeof M.comms[0]))
		M.comms[M.ncomms++] = comm;
	ng_spin_unlock(&M.comm_lock);
	return 0;
}

static int check_ready(void)
{
	return atomic_load_explicit(&M.inited, memory_order_acquire) == 1 ? 0 : -ENOTCONN;
}

/* Every operation's first step: the bridge is up and comm usable. */
static int ready_comm(MPI_Comm comm)
{
	int r = check_ready();
	return r != 0 ? r : comm_prepare(comm);
}

/* ----------------------------------------------------------------- table */

static int tab_add_locked(mpi_op *op)
{
	if (M.n == M.cap) {
		int cap = M.cap ? M.cap * 2 : 256;
		mpi_op **t = realloc(M.tab, (size_t)cap * sizeof *t);
		if (t == NULL)
			return -ENOMEM;
		M.tab = t;
		M.cap = cap;
	}
	op->idx = M.n;
	M.tab[M.n++] = op;
	atomic_fetch_add_explicit(&M.nout, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&ng_ext_poll_active, 1, memory_order_relaxed);
	return 0;
}

static void tab_remove_locked(mpi_op *op)
{
	int i = op->idx;
	M.tab[i] = M.tab[--M.n];
	M.tab[i]->idx = i;
	op->idx = -1;
}

/* After an op left the table and its waiter (if any) is runnable: the
 * deadlock detector counts outstanding ops as wakers, so the count drops
 * only once the goroutine the op wakes can run. */
static void out_dec(void)
{
	atomic_fetch_sub_explicit(&ng_ext_poll_active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&M.nout, 1, memory_order_release);
}

/* ---------------------------------------------------------------- polling */

static void ticker_arm(int64_t delay)
{
	int zero = 0;
	if (!atomic_load_explicit(&ng_sched_g.running, memory_order_acquire))
		return;
	if (atomic_compare_exchange_strong_explicit(&ticker_armed, &zero, 1, memory_order_acq_rel,
	                                            memory_order_relaxed))
		ng_tmr_add(&ticker, ng_nanotime() + delay);
}

/* op completed (its req, status and err recorded): DONE, and its waiter
 * woken.  Background ops are freed. */
static void complete_op(mpi_op *op)
{
	if (op->background) {
		free(op->tmp);
		free(op);
		atomic_fetch_sub_explicit(&M.nbackground, 1, memory_order_relaxed);
		return;
	}
	int old = atomic_exchange_explicit(&op->state, OP_DONE, memory_order_acq_rel);
	if (old == OP_PARKED) {
		int res = op->err == MPI_SUCCESS ? 0 : ng_mpi_errno(op->err);
		waitq_lock(&op->wq);
		ng_waiter *w = waitq_pop(&op->wq);
		if (w != NULL)
			ng_waitq_wake(w, res);
		waitq_unlock(&op->wq);
	}
}

static int mpi_poll(void)
{
	if (atomic_load_explicit(&M.nout, memory_order_relaxed) <= 0)
		return 0;
	int32_t zero = 0;
	if (!atomic_compare_exchange_strong_explicit(&M.polling, &zero, 1, memory_order_acquire,
	                                             memory_order_relaxed))
		return 0;
	mpi_op *ops[NG_MPI_POLL_BUDGET];
	MPI_Request reqs[NG_MPI_POLL_BUDGET];
	MPI_Status sts[NG_MPI_POLL_BUDGET];
	int idx[NG_MPI_POLL_BUDGET];
	int n = 0;
	pthread_mutex_lock(&M.tab_lock);
	if (M.n > 0) {
		int start = M.cursor % M.n;
		for (int k = 0; k < M.n && n < NG_MPI_POLL_BUDGET; k++) {
			mpi_op *op = M.tab[(start + k) % M.n];
			atomic_store_explicit(&op->in_poll, 1, memory_order_relaxed);
			ops[n] = op;
			reqs[n] = op->req;
			n++;
		}
		M.cursor = start + n;
	}
	pthread_mutex_unlock(&M.tab_lock);
	if (n == 0) {
		atomic_store_explicit(&M.polling, 0, memory_order_release);
		return 0;
	}
	int outcount = 0;
	call_lock();
	int e = MPI_Testsome(n, reqs, &outcount, idx, sts);
	call_unlock();
	stat_add(&M.polls);
	if (e != MPI_SUCCESS && e != MPI_ERR_IN_STATUS) {
		/* the call itself failed: test them one by one, each gets its
		 * own verdict */
		outcount = 0;
		for (int i = 0; i < n; i++) {
			int flag = 0;
			call_lock();
			int e1 = MPI_Test(&reqs[i], &flag, &sts[outcount]);
			call_unlock();
			if (e1 != MPI_SUCCESS) {
				flag = 1;
				sts[outcount].MPI_ERROR = e1;
			} else if (flag) {
				sts[outcount].MPI_ERROR = MPI_SUCCESS;
			}
			if (flag)
				idx[outcount++] = i;
		}
		e = MPI_ERR_IN_STATUS;
	}
	if (outcount == MPI_UNDEFINED)
		outcount = 0;
	/* record, take out of the table, then complete and release */
	bool done[NG_MPI_POLL_BUDGET] = {false};
	if (outcount > 0) {
		pthread_mutex_lock(&M.tab_lock);
		for (int k = 0; k < outcount; k++) {
			int i = idx[k];
			mpi_op *op = ops[i];
			op->req = reqs[i];
			op->status = sts[k];
			op->err = e == MPI_ERR_IN_STATUS ? sts[k].MPI_ERROR : MPI_SUCCESS;
			done[i] = true;
			tab_remove_locked(op);
		}
		pthread_mutex_unlock(&M.tab_lock);
	}
	for (int i = 0; i < n; i++) {
		mpi_op *op = ops[i];
		if (!done[i]) {
			atomic_store_explicit(&op->in_poll, 0, memory_order_release);
			continue;
		}
		if (op->background) {
			complete_op(op); /* frees it */
		} else {
			complete_op(op);
			/* last touch of a waiter's op: it may return now */
			atomic_store_explicit(&op->in_poll, 0, memory_order_release);
		}
		out_dec();
	}
	atomic_fetch_add_explicit(&M.completed, (uint64_t)outcount, memory_order_relaxed);
	atomic_store_explicit(&M.polling, 0, memory_order_release);
	if (outcount > 0)
		atomic_store_explicit(&poll_delay, POLL_MIN_NS, memory_order_relaxed);
	return outcount;
}

static void ticker_fire(ng_tmr *t, int64_t now)
{
	(void)t;
	atomic_store_explicit(&ticker_armed, 0, memory_order_seq_cst);
	if (now == 0)
		return; /* runtime shutdown */
	int n = mpi_poll();
	if (atomic_load_explicit(&M.nout, memory_order_seq_cst) <= 0)
		return;
	int64_t d = atomic_load_explicit(&poll_delay, memory_order_relaxed);
	int64_t cap = atomic_load_explicit(&M.nout, memory_order_relaxed) >
	                      atomic_load_explicit(&M.nbackground, memory_order_relaxed)
	                  ? POLL_MAX_WAIT_NS
	                  : POLL_MAX_NS;
	d = n > 0 ? POLL_MIN_NS : (d * 2 > cap ? cap : d * 2);
	atomic_store_explicit(&poll_delay, d, memory_order_relaxed);
	ticker_arm(d);
}

static int mpi_pending(void)
{
	return atomic_load_explicit(&M.nout, memory_order_acquire) > 0;
}

/* ----------------------------------------------------------- init / fini */

static void hooks_init(void)
{
	ng_tmr t0 = NG_TMR_INIT(ticker_fire, NULL);
	ticker = t0;
	ticker.flags = NG_TMR_F_NOWAIT;
	ng_register_ext_poller(mpi_poll);
	ng_register_pending_waker(mpi_pending);
}

int ng_mpi_init(int *argc, char ***argv)
{
	static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&init_lock);
	int st = atomic_load(&M.inited);
	if (st != 0) {
		pthread_mutex_unlock(&init_lock);
		return st == 1 ? 0 : -ENOTCONN;
	}
	int flag = 0, e;
	MPI_Initialized(&flag);
	if (flag) {
		e = MPI_Query_thread(&M.level);
	} else {
		e = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &M.level);
		M.we_init = e == MPI_SUCCESS;
	}
	if (e != MPI_SUCCESS) {
		pthread_mutex_unlock(&init_lock);
		fprintf(stderr, "numago: MPI_Init_thread failed (error %d)\n", e);
		return -EIO;
	}
	M.serialise = M.level < MPI_THREAD_MULTIPLE;
	const char *q = getenv("NUMAGO_MPI_QUIET");
	M.quiet = q != NULL && *q == '1';
	M.spin_ns = SPIN_DEFAULT_NS;
	const char *s = getenv("NUMAGO_MPI_SPIN_NS");
	if (s != NULL && *s != '\0') {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (*end == '\0' && v >= 0 && v <= 10000000)
			M.spin_ns = v;
	}
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	M.comms[0] = MPI_COMM_WORLD;
	M.ncomms = 1;
	MPI_Comm_rank(MPI_COMM_WORLD, &M.rank);
	MPI_Comm_size(MPI_COMM_WORLD, &M.size);
	hooks_init();
	atomic_store(&M.inited, 1);
	pthread_mutex_unlock(&init_lock);
	return 0;
}

/* Test op's request ourselves until it completes: threads that are not
 * goroutines, and finalize.  Only for ops not in the table. */
static int test_loop(MPI_Request *req, MPI_Status *st, int64_t deadline)
{
	int64_t pause = FOREIGN_PAUSE_NS;
	for (;;) {
		int flag = 0;
		call_lock();
		int e = MPI_Test(req, &flag, st);
		call_unlock();
		if (e != MPI_SUCCESS)
			return report("MPI_Test", e);
		if (flag)
			return 0;
		int64_t now = ng_nanotime();
		if (deadline != NG_FOREVER && now >= deadline)
			return deadline == 0 ? -EAGAIN : -ETIMEDOUT;
		int64_t d = pause;
		if (deadline != NG_FOREVER && deadline - now < d)
			d = deadline - now;
		struct timespec ts = {d / 1000000000, d % 1000000000};
		nanosleep(&ts, NULL);
		if (pause < FOREIGN_MAX_NS)
			pause *= 2;
	}
}

int ng_mpi_finalize(void)
{
	if (atomic_load(&M.inited) != 1)
		return -ENOTCONN;
	/* background collectives: whoever polls (the runtime if it runs, else
	 * us) completes them */
	while (atomic_load(&M.nout) > 0) {
		if (mpi_poll() == 0) {
			if (ng_self_proc() >= 0)
				ng_sleep(20000);
			else {
				struct timespec ts = {0, 20000};
				nanosleep(&ts, NULL);
			}
		}
	}
	atomic_store(&M.inited, -1);
	int e = MPI_SUCCESS;
	if (M.we_init)
		e = MPI_Finalize();
	return e == MPI_SUCCESS ? 0 : -EIO;
}

int ng_mpi_thread_level(void)
{
	return atomic_load(&M.inited) == 1 ? M.level : -ENOTCONN;
}

int ng_mpi_rank(void)
{
	return atomic_load(&M.inited) == 1 ? M.rank : -ENOTCONN;
}

int ng_mpi_size(void)
{
	return atomic_load(&M.inited) == 1 ? M.size : -ENOTCONN;
}

_Noreturn void ng_mpi_abort(int code, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	char host[128] = "?";
	gethostname(host, sizeof host - 1);
	int rank = M.rank, size = M.size;
	if (atomic_load(&M.inited) != 1) {
		int f = 0;
		MPI_Initialized(&f);
		if (f) {
			MPI_Comm_rank(MPI_COMM_WORLD, &rank);
			MPI_Comm_size(MPI_COMM_WORLD, &size);
		}
	}
	fprintf(stderr, "numago: MPI rank %d of %d (%s) aborts the job: %s\n", rank, size, host,
	        why);
	fflush(stderr);
	MPI_Abort(MPI_COMM_WORLD, code);
	_exit(code != 0 ? code : 1); /* MPI_Abort does not return */
}

/* --------------------------------------------------------------- waiting */

static int op_result(const mpi_op *op, MPI_Status *status)
{
	if (status != MPI_STATUS_IGNORE)
		*status = op->status;
	if (op->err != MPI_SUCCESS)
		return report("a request (MPI_Testsome)", op->err);
	return 0;
}

/* Spin-test before parking, while this P has nothing else to run (no
 * queued goroutine, nothing in the global queue, no timer due), at most
 * M.spin_ns: Open MPI moves a large message only while someone calls
 * into it, and a parked waiter's progress comes from the poller, whose
 * timer backs off. */
static bool spin_test(MPI_Request *req, MPI_Status *st, int *err)
{
	if (M.spin_ns <= 0)
		return false;
	int64_t end = ng_nanotime() + M.spin_ns;
	for (;;) {
		ng_m *m = ng_getm();
		if (m == NULL || m->p == NULL || !runq_empty(m->p) ||
		    atomic_load_explicit(&ng_sched_g.runqsize, memory_order_relaxed) > 0)
			return false;
		int flag = 0;
		call_lock();
		int e = MPI_Test(req, &flag, st);
		call_unlock();
		if (e != MPI_SUCCESS || flag) {
			*err = e;
			return true;
		}
		int64_t now = ng_nanotime();
		/* a timer of this P due: let the scheduler run it */
		if (now >= end ||
		    atomic_load_explicit(&m->p->timer_next, memory_order_relaxed) <= now)
			return false;
	}
}

int ng_mpi_wait(MPI_Request *req, MPI_Status *status, int64_t deadline)
{
	if (req == NULL)
		return -EINVAL;
	int r = check_ready();
	if (r != 0)
		return r;
	MPI_Status tmp;
	MPI_Status *st = status != MPI_STATUS_IGNORE ? status : &tmp;
	if (*req == MPI_REQUEST_NULL) {
		/* an empty status, as MPI_Wait gives */
		call_lock();
		MPI_Wait(req, st);
		call_unlock();
		return 0;
	}
	/* first look */
	int flag = 0;
	call_lock();
	int e = MPI_Test(req, &flag, st);
	call_unlock();
	if (e != MPI_SUCCESS)
		return report("MPI_Test", e);
	if (flag)
		return 0;
	stat_add(&M.waits);
	if (deadline == 0)
		return -EAGAIN;
	if (ng_self_proc() < 0) {
		r = test_loop(req, st, deadline);
		if (r == -ETIMEDOUT)
			stat_add(&M.timeouts);
		return r;
	}
	e = MPI_SUCCESS;
	if (spin_test(req, st, &e)) {
		stat_add(&M.spin_hits);
		return e == MPI_SUCCESS ? 0 : report("MPI_Test", e);
	}
	mpi_op op;
	op.req = *req;
	op.err = MPI_SUCCESS;
	atomic_init(&op.state, OP_PENDING);
	atomic_init(&op.in_poll, 0);
	op.idx = -1;
	op.background = false;
	op.tmp = NULL;
	memset(&op.wq, 0, sizeof op.wq);
	pthread_mutex_lock(&M.tab_lock);
	r = tab_add_locked(&op);
	pthread_mutex_unlock(&M.tab_lock);
	if (r != 0)
		return r;
	atomic_store_explicit(&poll_delay, POLL_MIN_NS, memory_order_relaxed);
	ticker_arm(POLL_MIN_NS);
	ng_waiter w;
	waiter_init(&w);
	waitq_lock(&op.wq);
	int pending = OP_PENDING;
	if (atomic_compare_exchange_strong_explicit(&op.state, &pending, OP_PARKED,
	                                            memory_order_acq_rel, memory_order_acquire)) {
		stat_add(&M.parks);
		r = ng_waitq_block_until(&op.wq, &w, NG_WAIT_MPI, deadline);
	} else {
		waitq_unlock(&op.wq);
		r = 0;
	}
	if (r == -ETIMEDOUT) {
		/* the deadline won the waiter; the request may still have
		 * completed (then its result is ours), else take the op out */
		for (;;) {
			pthread_mutex_lock(&M.tab_lock);
			if (!atomic_load_explicit(&op.in_poll, memory_order_acquire))
				break;
			pthread_mutex_unlock(&M.tab_lock);
			sched_yield();
		}
		if (atomic_load_explicit(&op.state, memory_order_acquire) != OP_DONE) {
			tab_remove_locked(&op);
			pthread_mutex_unlock(&M.tab_lock);
			out_dec();
			stat_add(&M.timeouts);
			return -ETIMEDOUT; /* *req is still active */
		}
		pthread_mutex_unlock(&M.tab_lock);
	} else {
		/* completed: the poller's last touch of op is clearing in_poll */
		while (atomic_load_explicit(&op.in_poll, memory_order_acquire))
			ng_cpu_relax();
	}
	*req = op.req; /* MPI_REQUEST_NULL (or the persistent request) */
	return op_result(&op, st);
}

/* Leave a collective's request to the poller (its deadline passed). */
static void background(MPI_Request req, void *tmp)
{
	mpi_op *op = calloc(1, sizeof *op);
	if (op == NULL) {
		/* cannot track it: complete it here, whatever it takes */
		call_lock();
		MPI_Wait(&req, MPI_STATUS_IGNORE);
		call_unlock();
		free(tmp);
		return;
	}
	op->req = req;
	op->background = true;
	op->tmp = tmp;
	atomic_fetch_add_explicit(&M.nbackground, 1, memory_order_relaxed);
	pthread_mutex_lock(&M.tab_lock);
	int r = tab_add_locked(op);
	pthread_mutex_unlock(&M.tab_lock);
	if (r != 0) {
		call_lock();
		MPI_Wait(&op->req, MPI_STATUS_IGNORE);
		call_unlock();
		atomic_fetch_sub_explicit(&M.nbackground, 1, memory_order_relaxed);
		free(tmp);
		free(op);
		return;
	}
	ticker_arm(POLL_MIN_NS);
}

/* ------------------------------------------------------------ operations */

int ng_mpi_isend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
                 MPI_Request *req)
{
	if (req == NULL)
		return -EINVAL;
	int r = ready_comm(comm);
	if (r != 0)
		return r;
	call_lock();
	int e = MPI_Isend(buf, count, type, dest, tag, comm, req);
	call_unlock();
	return e == MPI_SUCCESS ? 0 : report("MPI_Isend", e);
}

int ng_mpi_irecv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm,
                 MPI_Request *req)
{
	if (req == NULL)
		return -EINVAL;
	int r = ready_comm(comm);
	if (r != 0)
		return r;
	call_lock();
	int e = MPI_Irecv(buf, count, type, src, tag, comm, req);
	call_unlock();
	return e == MPI_SUCCESS ? 0 : report("MPI_Irecv", e);
}

/* A point-to-point wait whose deadline passed: cancel, then wait for the
 * cancellation (or the completion that beat it). */
static int wait_cancel(MPI_Request *req, MPI_Status *status, int64_t deadline)
{
	MPI_Status tmp;
	MPI_Status *st = status != MPI_STATUS_IGNORE ? status : &tmp;
	int r = ng_mpi_wait(req, st, deadline);
	if (r != -ETIMEDOUT && r != -EAGAIN)
		return r;
	call_lock();
	MPI_Cancel(req);
	call_unlock();
	r = ng_mpi_wait(req, st, NG_FOREVER);
	if (r != 0)
		return r;
	int cancelled = 0;
	MPI_Test_cancelled(st, &cancelled);
	return cancelled ? -ETIMEDOUT : 0;
}

int ng_mpi_send(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
                int64_t deadline)
{
	MPI_Request req;
	int r = ng_mpi_isend(buf, count, type, dest, tag, comm, &req);
	if (r != 0)
		return r;
	return wait_cancel(&req, MPI_STATUS_IGNORE, deadline);
}

int ng_mpi_recv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm,
                MPI_Status *status, int64_t deadline)
{
	MPI_Request req;
	int r = ng_mpi_irecv(buf, count, type, src, tag, comm, &req);
	if (r != 0)
		return r;
	return wait_cancel(&req, status, deadline);
}

int ng_mpi_barrier(MPI_Comm comm, int64_t deadline)
{
	int r = ready_comm(comm);
	if (r != 0)
		return r;
	MPI_Request req;
	call_lock();
	int e = MPI_Ibarrier(comm, &req);
	call_unlock();
	if (e != MPI_SUCCESS)
		return report("MPI_Ibarrier", e);
	r = ng_mpi_wait(&req, MPI_STATUS_IGNORE, deadline == 0 ? 1 : deadline);
	if (r == -ETIMEDOUT)
		background(req, NULL);
	return r;
}

int ng_mpi_allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                     MPI_Comm comm, int64_t deadline)
{
	int r = ready_comm(comm);
	if (r != 0)
		return r;
	if (count < 0 || recvbuf == NULL)
		return -EINVAL;
	MPI_Request req;
	if (deadline == NG_FOREVER) {
		call_lock();
		int e = MPI_Iallreduce(sendbuf, recvbuf, count, type, op, comm, &req);
		call_unlock();
		if (e != MPI_SUCCESS)
			return report("MPI_Iallreduce", e);
		return ng_mpi_wait(&req, MPI_STATUS_IGNORE, NG_FOREVER);
	}
	/* copies, so that a collective left to finish in the background
	 * touches nothing of the caller's */
	MPI_Aint lb = 0, extent = 0;
	call_lock();
	int e = MPI_Type_get_extent(type, &lb, &extent);
	call_unlock();
	if (e != MPI_SUCCESS)
		return report("MPI_Type_get_extent", e);
	size_t bytes = (size_t)count * (size_t)extent;
	char *tmp = malloc(2 * bytes + 1);
	if (tmp == NULL)
		return -ENOMEM;
	const void *src = sendbuf;
	if (sendbuf == MPI_IN_PLACE)
		src = recvbuf;
	memcpy(tmp, src, bytes);
	call_lock();
	e = MPI_Iallreduce(tmp, tmp + bytes, count, type, op, comm, &req);
	call_unlock();
	if (e != MPI_SUCCESS) {
		free(tmp);
		return report("MPI_Iallreduce", e);
	}
	r = ng_mpi_wait(&req, MPI_STATUS_IGNORE, deadline == 0 ? 1 : deadline);
	if (r == -ETIMEDOUT) {
		background(req, tmp);
		return r;
	}
	if (r == 0)
		memcpy(recvbuf, tmp + bytes, bytes);
	free(tmp);
	return r;
}

int ng_mpi_stats_read(ng_mpi_stats *out)
{
	if (out == NULL)
		return -EINVAL;
	out->waits = atomic_load(&M.waits);
	out->parks = atomic_load(&M.parks);
	out->spin_hits = atomic_load(&M.spin_hits);
	out->completed = atomic_load(&M.completed);
	out->polls = atomic_load(&M.polls);
	out->timeouts = atomic_load(&M.timeouts);
	out->errors = atomic_load(&M.errors);
	out->outstanding = atomic_load(&M.nout);
	out->background = atomic_load(&M.nbackground);
	return 0;
}
