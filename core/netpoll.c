/* core/netpoll.c — the fd poller (Go's netpoll.go and netpoll_epoll.go).
 *
 * One epoll set per process, created at the first goroutine wait, plus an
 * eventfd that breaks a blocking epoll_wait.  Every descriptor is registered
 * once, edge-triggered for input and output (Go's netpollopen); a goroutine
 * tries its I/O first and parks only after EAGAIN.
 *
 * Per descriptor number there is a record (Go's pollDesc) that lives as
 * long as the process, since events can arrive after a close: a generation
 * number that ng_fd_close / ng_fd_forget bump, one event counter per
 * direction, and three lists of parked goroutines (read, write, either).
 * Go's rg/wg slots hold one goroutine and a pdReady bit that the waiter
 * consumes; C callers may well have several goroutines on one descriptor
 * (accept loops), so here the counters play pdReady's part without being
 * consumed: a waiter reads them before its I/O attempt and parks only if,
 * under the record's lock, they have not moved since.  An event bumps the
 * counter and readies every waiter of that direction (each retries; with
 * edge triggering a waiter woken by a partial drain would otherwise wait for
 * an edge that is not coming).
 *
 * Races between an event, a deadline and a close are settled as for
 * channels: waiters are ng_waiter records on the goroutine's stack, queued
 * under the record's lock, which stays held until the goroutine is off its
 * stack (ng_park's unlockf); whoever claims a waiter (waitq_pop's CAS, or
 * the deadline timer's) wakes it, the others skip it.
 *
 * Foreign threads do not use the epoll set: they block in ppoll(2) on the
 * descriptor and on an eventfd of their own, which a close writes to.
 */
#define _GNU_SOURCE
#include "netpoll.h"

#include "fault.h"

#include "sched_inline.h"
#include "timer.h"
#include "waitq.h"

#include <numago/io.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if NG_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#define S ng_sched_g

#define NP_SYSMON_NS 10000000LL /* sysmon polls when nobody did for this long */
#define NP_EVENTS    128

enum { NP_R = 0, NP_W = 1, NP_RW = 2 }; /* a waiter's direction: its list */

/* NUMAGO_FAULT=eintr: the call is not made and says EINTR, as when a signal
 * lands before it could do anything; the callers retry it as they retry a
 * real one. */
#define EINTR_FAULT() (ng_fault(NG_FAULT_EINTR) && (errno = EINTR, true))

/* flags of a descriptor record */
#define NP_NONBLOCK 1u /* we saw O_NONBLOCK set */
#define NP_REG      2u /* in the epoll set */
#define NP_NOPOLL   4u /* epoll refuses it (regular file): always ready */
#define NP_SOCK     8u /* a socket (learnt with NP_NONBLOCK): writes use send */

typedef struct np_fwaiter {
	struct np_fwaiter *next, *prev;
	int efd;
} np_fwaiter;

typedef struct np_desc {
	_Alignas(64) _Atomic int32_t lock;
	_Atomic uint32_t flags;
	_Atomic uint32_t gen;   /* bumped when waiters are told to go */
	_Atomic uint32_t ev[2]; /* read and write readiness events seen */
	int close_err;          /* what waiters of an ended generation get */
	ng_waitq_ q[3];         /* parked goroutines (NP_R, NP_W, NP_RW); lock unused */
	np_fwaiter *fw;         /* foreign threads in ppoll */
} np_desc;

/* Records by descriptor number: a three-level radix table over the
 * non-negative ints (8 + 12 + 11 bits), filled on demand, never freed. */
#define NP_LEAF_BITS 8
#define NP_MID_BITS  12
#define NP_TOP_SIZE  (1u << (31 - NP_LEAF_BITS - NP_MID_BITS))

typedef struct np_mid {
	_Atomic(np_desc *) leaf[1u << NP_MID_BITS];
} np_mid;

static _Atomic(np_mid *) np_top[NP_TOP_SIZE];

static struct {
	pthread_mutex_t init_lock;
	_Atomic int epfd;         /* -1 until the first goroutine wait */
	int efd;                  /* eventfd breaking a blocking epoll_wait */
	_Atomic int wake_sig;     /* a break is pending (dedups the writes) */
	_Atomic int64_t lastpoll; /* time of the last poll; 0 while an M blocks in one */
	_Atomic int no_pwait2;    /* kernel without epoll_pwait2: ms timeouts */
} np = {.init_lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .efd = -1};

_Atomic int32_t ng_np_nwait;
_Atomic(ng_m *) ng_np_poll_m;

static char np_break_tag; /* epoll data of the eventfd */

/* --------------------------------------------------------------- records --- */

static np_desc *pd_lookup(int fd, bool alloc)
{
	unsigned u = (unsigned)fd;
	_Atomic(np_mid *) *tp = &np_top[u >> (NP_LEAF_BITS + NP_MID_BITS)];
	np_mid *mid = atomic_load_explicit(tp, memory_order_acquire);
	if (mid == NULL) {
		if (!alloc)
			return NULL;
		np_mid *fresh = calloc(1, sizeof *fresh);
		if (fresh == NULL)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(tp, &mid, fresh, memory_order_acq_rel,
		                                            memory_order_acquire))
			mid = fresh;
		else
			free(fresh);
	}
	_Atomic(np_desc *) *lp = &mid->leaf[(u >> NP_LEAF_BITS) & ((1u << NP_MID_BITS) - 1)];
	np_desc *leaf = atomic_load_explicit(lp, memory_order_acquire);
	if (leaf == NULL) {
		if (!alloc)
			return NULL;
		size_t bytes = sizeof(np_desc) << NP_LEAF_BITS;
		np_desc *fresh = aligned_alloc(64, bytes);
		if (fresh == NULL)
			return NULL;
		memset(fresh, 0, bytes);
		if (atomic_compare_exchange_strong_explicit(lp, &leaf, fresh, memory_order_acq_rel,
		                                            memory_order_acquire))
			leaf = fresh;
		else
			free(fresh);
	}
	return &leaf[u & ((1u << NP_LEAF_BITS) - 1)];
}

static inline void pd_lock(np_desc *pd)
{
	ng_spin_lock(&pd->lock);
}

static inline void pd_unlock(np_desc *pd)
{
	ng_spin_unlock(&pd->lock);
}

static void pd_unlock_cb(void *pd)
{
	pd_unlock(pd);
}

/* Ready (into *list) or wake every waiter of q with result; pd locked. */
static void pd_wake_all(ng_waitq_ *q, int result, ng_g **list)
{
	ng_waiter *w;
	while ((w = waitq_pop(q)) != NULL) {
		ng_g *g = w->g;
		w->result = result;
		atomic_store_explicit(&w->done, 1, memory_order_release);
		g->schedlink = *list;
		*list = g;
	}
}

/* End pd's generation: every waiter gets err, foreign ones through their
 * eventfd; fd leaves the epoll set if del; the flags in keep stay, those in
 * set are added. */
static void pd_end(np_desc *pd, int fd, int err, uint32_t keep, uint32_t set, bool del)
{
	ng_g *list = NULL;
	pd_lock(pd);
	pd->close_err = err;
	atomic_fetch_add_explicit(&pd->gen, 1, memory_order_release);
	for (int i = 0; i < 3; i++)
		pd_wake_all(&pd->q[i], err, &list);
	for (np_fwaiter *fw = pd->fw; fw != NULL; fw = fw->next) {
		uint64_t one = 1;
		ssize_t r;
		do
			r = write(fw->efd, &one, sizeof one);
		while (r < 0 && errno == EINTR);
	}
	/* Under the lock: a registration racing with us must not be undone
	 * behind its back. */
	int ep = atomic_load_explicit(&np.epfd, memory_order_acquire);
	if (del && ep >= 0 && (atomic_load_explicit(&pd->flags, memory_order_relaxed) & NP_REG)) {
		struct epoll_event ev = {0};
		epoll_ctl(ep, EPOLL_CTL_DEL, fd, &ev);
	}
	uint32_t f = atomic_load_explicit(&pd->flags, memory_order_relaxed);
	atomic_store_explicit(&pd->flags, (f & keep) | set, memory_order_release);
	pd_unlock(pd);
	if (list != NULL)
		ng_inject_glist(list, false);
}

/* --------------------------------------------------------------- poller --- */

static int np_pending_hook(void)
{
	return atomic_load(&ng_np_nwait) > 0;
}

static int np_init(void)
{
	if (NG_LIKELY(atomic_load_explicit(&np.epfd, memory_order_acquire) >= 0))
		return 0;
	int rc = 0;
	pthread_mutex_lock(&np.init_lock);
	if (atomic_load_explicit(&np.epfd, memory_order_relaxed) < 0) {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		int ef = ep < 0 ? -1 : eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		/* level-triggered: a break stays visible until the blocking
		 * poller reads it */
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &np_break_tag};
		if (ep < 0 || ef < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ef, &ev) != 0) {
			rc = -errno;
			if (ef >= 0)
				close(ef);
			if (ep >= 0)
				close(ep);
		} else {
			np.efd = ef;
			atomic_store(&np.wake_sig, 0);
			atomic_store(&np.lastpoll, ng_nanotime());
			atomic_store_explicit(&np.epfd, ep, memory_order_release);
		}
	}
	pthread_mutex_unlock(&np.init_lock);
	if (rc == 0)
		ng_register_pending_waker(np_pending_hook); /* once: it dedups */
	return rc;
}

void ng_netpoll_break(void)
{
	if (atomic_load_explicit(&np.epfd, memory_order_acquire) < 0)
		return;
	int zero = 0;
	if (!atomic_compare_exchange_strong(&np.wake_sig, &zero, 1))
		return; /* the eventfd is readable already */
	uint64_t one = 1;
	while (write(np.efd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

/* epoll_wait with a ns timeout (NULL: none): timers sleep in it too, and
 * epoll_wait's milliseconds would make them up to 1 ms late. */
static int np_wait(int ep, struct epoll_event *evs, const struct timespec *ts)
{
#ifdef SYS_epoll_pwait2
	if (!atomic_load_explicit(&np.no_pwait2, memory_order_relaxed)) {
		long r = syscall(SYS_epoll_pwait2, ep, evs, NP_EVENTS, ts, NULL, 0);
#if NG_TSAN
		/* TSan sees epoll_ctl -> epoll_wait as synchronising (its
		 * interceptors), not a raw system call: say what the kernel
		 * orders, or a descriptor registered by another thread looks
		 * like a race when its event arrives here. */
		if (r > 0)
			__tsan_acquire(&np.epfd);
#endif
		if (r >= 0 || (errno != ENOSYS && errno != EPERM))
			return (int)r;
		atomic_store_explicit(&np.no_pwait2, 1, memory_order_relaxed);
	}
#endif
	int ms = -1;
	if (ts != NULL) {
		int64_t ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
		ms = ns >= (int64_t)INT_MAX * 1000000 ? INT_MAX : (int)((ns + 999999) / 1000000);
	}
	return epoll_wait(ep, evs, NP_EVENTS, ms);
}

/* One epoll_wait: the goroutines it readies (linked by schedlink). */
static ng_g *np_poll(const struct timespec *ts, bool block)
{
	int ep = atomic_load_explicit(&np.epfd, memory_order_acquire);
	if (ep < 0)
		return NULL;
	struct epoll_event evs[NP_EVENTS];
	int n = EINTR_FAULT() ? -1
	        : block       ? np_wait(ep, evs, ts)
	                      : epoll_wait(ep, evs, NP_EVENTS, 0);
	/* EINTR: nothing is lost (the events stay queued in the set) and the
	 * blocking poller's caller sleeps again for what is left */
	if (n < 0) {
		if (errno != EINTR)
			ng_fatal("netpoll: epoll_wait failed: %s", strerror(errno));
		return NULL;
	}
	ng_g *list = NULL;
	for (int i = 0; i < n; i++) {
		uint32_t e = evs[i].events;
		if (evs[i].data.ptr == &np_break_tag) {
			/* Only the blocking poller consumes a break: it is the
			 * one it was meant for. */
			if (block) {
				uint64_t v;
				while (read(np.efd, &v, sizeof v) < 0 && errno == EINTR)
					;
				atomic_store(&np.wake_sig, 0);
			}
			continue;
		}
		np_desc *pd = evs[i].data.ptr;
		bool r = e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
		bool w = e & (EPOLLOUT | EPOLLHUP | EPOLLERR);
		if (!r && !w)
			continue;
		pd_lock(pd);
		if (r) {
			atomic_fetch_add_explicit(&pd->ev[0], 1, memory_order_release);
			pd_wake_all(&pd->q[NP_R], 0, &list);
		}
		if (w) {
			atomic_fetch_add_explicit(&pd->ev[1], 1, memory_order_release);
			pd_wake_all(&pd->q[NP_W], 0, &list);
		}
		pd_wake_all(&pd->q[NP_RW], 0, &list);
		pd_unlock(pd);
	}
	return list;
}

ng_g *ng_netpoll_nb(void)
{
	int64_t last = atomic_load_explicit(&np.lastpoll, memory_order_relaxed);
	if (last == 0)
		return NULL; /* an M blocks in epoll_wait: it delivers */
	ng_g *list = np_poll(NULL, false);
	atomic_compare_exchange_strong(&np.lastpoll, &last, ng_nanotime());
	return list;
}

ng_g *ng_netpoll_block(ng_m *m, int64_t until)
{
	atomic_store_explicit(&ng_np_poll_m, m, memory_order_seq_cst);
	atomic_store_explicit(&np.lastpoll, 0, memory_order_seq_cst);
	ng_g *list = NULL;
	/* A wake that came before we published ourselves found nobody to
	 * break: it left the note set. */
	if (atomic_load_explicit(&m->park.key, memory_order_seq_cst) == 0 &&
	    !atomic_load_explicit(&S.stopping, memory_order_seq_cst)) {
		struct timespec ts, *tsp = NULL;
		if (until != INT64_MAX) {
			int64_t left = until - ng_nanotime();
			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			tsp = &ts;
		}
		list = np_poll(tsp, true);
	}
	atomic_store_explicit(&ng_np_poll_m, NULL, memory_order_seq_cst);
	atomic_store_explicit(&np.lastpoll, ng_nanotime(), memory_order_relaxed);
	return list;
}

void ng_netpoll_sysmon(int64_t now)
{
	if (!ng_netpoll_waiting())
		return;
	int64_t last = atomic_load_explicit(&np.lastpoll, memory_order_relaxed);
	if (last == 0 || now - last < NP_SYSMON_NS)
		return;
	if (!atomic_compare_exchange_strong(&np.lastpoll, &last, now))
		return;
	ng_g *list = np_poll(NULL, false);
	if (list != NULL)
		ng_inject_glist(list, false);
}

void ng_netpoll_fini(void)
{
	pthread_mutex_lock(&np.init_lock);
	int ep = atomic_load(&np.epfd);
	if (ep >= 0) {
		atomic_store(&np.epfd, -1);
		close(ep);
		close(np.efd);
		np.efd = -1;
	}
	/* Closing the set dropped every registration; waiters still listed
	 * belong to abandoned goroutines whose stacks are gone. */
	for (unsigned t = 0; t < NP_TOP_SIZE; t++) {
		np_mid *mid = atomic_load(&np_top[t]);
		if (mid == NULL)
			continue;
		for (unsigned k = 0; k < (1u << NP_MID_BITS); k++) {
			np_desc *leaf = atomic_load(&mid->leaf[k]);
			if (leaf == NULL)
				continue;
			for (unsigned i = 0; i < (1u << NP_LEAF_BITS); i++) {
				np_desc *pd = &leaf[i];
				pd_lock(pd);
				atomic_fetch_and(&pd->flags, NP_NONBLOCK | NP_SOCK);
				for (int d = 0; d < 3; d++)
					pd->q[d].head = pd->q[d].tail = NULL;
				pd_unlock(pd);
			}
		}
	}
	atomic_store(&ng_np_nwait, 0);
	atomic_store(&ng_np_poll_m, NULL);
	atomic_store(&np.wake_sig, 0);
	atomic_store(&np.lastpoll, 0);
	pthread_mutex_unlock(&np.init_lock);
}

/* ------------------------------------------------------------- waiting --- */

static bool on_goroutine(void)
{
	ng_m *m = ng_getm();
	return m != NULL && m->curg != NULL && !m->blocked && m->p != NULL;
}

/* fd's record with `need` (NP_NONBLOCK, NP_REG) done. */
static int pd_get(int fd, uint32_t need, np_desc **out)
{
	np_desc *pd = pd_lookup(fd, false);
	if (NG_LIKELY(pd != NULL)) {
		uint32_t f = atomic_load_explicit(&pd->flags, memory_order_acquire);
		if (f & NP_NOPOLL)
			f |= NP_REG;
		if (NG_LIKELY((f & need) == need)) {
			*out = pd;
			return 0;
		}
	}
	/* First use (of this generation): a system call or three. */
	if (fcntl(fd, F_GETFD) < 0)
		return -errno; /* before a record is allocated for a bogus number */
	if (need & NP_REG) {
		int rc = np_init();
		if (rc != 0)
			return rc;
	}
	if ((pd = pd_lookup(fd, true)) == NULL)
		return -ENOMEM;
	int rc = 0;
	pd_lock(pd);
	uint32_t f = atomic_load_explicit(&pd->flags, memory_order_relaxed);
	if ((need & NP_NONBLOCK) && !(f & NP_NONBLOCK)) {
		int fl = fcntl(fd, F_GETFL);
		struct stat st;
		if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) ||
		    fstat(fd, &st) < 0) {
			rc = -errno;
			goto out;
		}
		f |= NP_NONBLOCK | (S_ISSOCK(st.st_mode) ? NP_SOCK : 0);
	}
	if ((need & NP_REG) && !(f & (NP_REG | NP_NOPOLL))) {
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		                         .data.ptr = pd};
#if NG_TSAN
		__tsan_release(&np.epfd); /* for np_wait's raw epoll_pwait2 */
#endif
		if (epoll_ctl(atomic_load(&np.epfd), EPOLL_CTL_ADD, fd, &ev) == 0 ||
		    errno == EEXIST) {
			f |= NP_REG;
		} else if (errno == EPERM) {
			f |= NP_NOPOLL;
		} else {
			rc = -errno;
			goto out;
		}
	}
	atomic_store_explicit(&pd->flags, f, memory_order_release);
out:
	pd_unlock(pd);
	*out = pd;
	return rc;
}

/* What a waiter saw before its I/O attempt. */
typedef struct np_snap {
	uint32_t gen, ev[2];
} np_snap;

static inline void pd_snap(np_desc *pd, np_snap *s)
{
	s->gen = atomic_load_explicit(&pd->gen, memory_order_acquire);
	s->ev[0] = atomic_load_explicit(&pd->ev[0], memory_order_acquire);
	s->ev[1] = atomic_load_explicit(&pd->ev[1], memory_order_acquire);
}

static inline bool pd_moved(np_desc *pd, int dir, const np_snap *s)
{
	bool r = atomic_load_explicit(&pd->ev[0], memory_order_relaxed) != s->ev[0];
	bool w = atomic_load_explicit(&pd->ev[1], memory_order_relaxed) != s->ev[1];
	return dir == NP_R ? r : dir == NP_W ? w : r || w;
}

/* A goroutine parks until pd has an event in direction dir since s, pd's
 * generation ends, or the deadline.  0: look again. */
static int pd_park(np_desc *pd, int fd, int dir, const np_snap *s, int64_t deadline)
{
	if (deadline == 0)
		return -EAGAIN;
	if (deadline != NG_FOREVER && ng_nanotime() >= deadline)
		return -ETIMEDOUT;
	pd_lock(pd);
	if (atomic_load_explicit(&pd->gen, memory_order_relaxed) != s->gen) {
		int err = pd->close_err;
		pd_unlock(pd);
		return err;
	}
	if (pd_moved(pd, dir, s)) {
		pd_unlock(pd);
		return 0;
	}
	if (!(atomic_load_explicit(&pd->flags, memory_order_relaxed) & NP_REG)) {
		/* An ng_fd_forget between our caller's pd_get and its snapshot
		 * took fd out of the set: nothing would wake us. */
		pd_unlock(pd);
		int rc = pd_get(fd, NP_REG, &pd);
		return rc < 0 ? rc : 0;
	}
	ng_waiter w;
	waiter_init(&w);
	waitq_push(&pd->q[dir], &w);
	/* Before we park: the M we leave must see it when it looks for a
	 * reason to poll, and the deadlock detector one to wait. */
	atomic_fetch_add_explicit(&ng_np_nwait, 1, memory_order_seq_cst);
	int rc;
	if (ng_waiter_sleep(&w, NG_WAIT_IO, deadline, pd_unlock_cb, pd)) {
		rc = w.result;
	} else {
		pd_lock(pd);
		if (w.linked)
			waitq_remove(&pd->q[dir], &w);
		pd_unlock(pd);
		rc = -ETIMEDOUT;
	}
	atomic_fetch_sub_explicit(&ng_np_nwait, 1, memory_order_relaxed);
	return rc;
}

/* ---- foreign threads: ppoll(2) on fd and on the thread's own eventfd */

static pthread_key_t np_key;
static pthread_once_t np_key_once = PTHREAD_ONCE_INIT;
static __thread int tls_efd = -1;

static void np_efd_dtor(void *arg)
{
	close((int)(intptr_t)arg - 1);
	tls_efd = -1;
}

static void np_key_init(void)
{
	pthread_key_create(&np_key, np_efd_dtor);
}

static int thread_efd(void)
{
	if (NG_LIKELY(tls_efd >= 0))
		return tls_efd;
	pthread_once(&np_key_once, np_key_init);
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	pthread_setspecific(np_key, (void *)(intptr_t)(fd + 1));
	tls_efd = fd;
	return fd;
}

/* The calling thread blocks until fd shows pev, pd's generation ends, or
 * the deadline (0: only looks).  Returns fd's revents (0: look again) or an
 * error. */
static int pd_fwait(np_desc *pd, int fd, short pev, const np_snap *s, int64_t deadline)
{
	struct timespec ts = {0, 0}, *tsp = &ts;
	bool expired = false;
	if (deadline == NG_FOREVER) {
		tsp = NULL;
	} else if (deadline != 0) {
		/* Expired (any other negative deadline is a time long past, and
		 * would overflow the subtraction): still look, as a goroutine
		 * does before parking, so a ready descriptor is ready in both. */
		int64_t now = ng_nanotime();
		expired = deadline < 0 || deadline <= now;
		if (!expired) {
			int64_t left = deadline - now;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
		}
	}
	int efd = thread_efd();
	if (efd < 0)
		return efd;
	/* It comes back by itself (the fd or the deadline): an active thread
	 * as far as the deadlock detector is concerned. */
	ng_foreign_register();
	np_fwaiter fw = {.next = NULL, .prev = NULL, .efd = efd};
	pd_lock(pd);
	if (atomic_load_explicit(&pd->gen, memory_order_relaxed) != s->gen) {
		int err = pd->close_err;
		pd_unlock(pd);
		return err;
	}
	fw.next = pd->fw;
	if (fw.next != NULL)
		fw.next->prev = &fw;
	pd->fw = &fw;
	pd_unlock(pd);
	struct pollfd pfd[2] = {{.fd = fd, .events = pev}, {.fd = efd, .events = POLLIN}};
	int n = EINTR_FAULT() ? -1 : ppoll(pfd, 2, tsp, NULL);
	int perr = errno;
	pd_lock(pd);
	if (fw.prev != NULL)
		fw.prev->next = fw.next;
	else
		pd->fw = fw.next;
	if (fw.next != NULL)
		fw.next->prev = fw.prev;
	bool ended = atomic_load_explicit(&pd->gen, memory_order_relaxed) != s->gen;
	int err = pd->close_err;
	pd_unlock(pd);
	if (ended || pfd[1].revents) {
		uint64_t v;
		while (read(efd, &v, sizeof v) < 0 && errno == EINTR)
			;
	}
	if (ended)
		return err;
	if (n < 0)
		return perr == EINTR ? 0 : -perr;
	if (pfd[0].revents & POLLNVAL)
		return -EBADF;
	if (n == 0 && deadline == 0)
		return -EAGAIN;
	if (expired && pfd[0].revents == 0)
		return -ETIMEDOUT;
	return pfd[0].revents;
}

static short dir_pollev(int dir)
{
	return dir == NP_R   ? POLLIN | POLLRDHUP
	       : dir == NP_W ? POLLOUT
	                     : POLLIN | POLLRDHUP | POLLOUT;
}

/* The I/O said EAGAIN: wait for direction dir.  0: try it again. */
static int pd_wait(np_desc *pd, int fd, int dir, const np_snap *s, int64_t deadline, bool gor)
{
	/* (A goroutine on a descriptor epoll refuses that still says EAGAIN
	 * has no poller to wait for: it blocks its thread.) */
	if (gor && !(atomic_load_explicit(&pd->flags, memory_order_relaxed) & NP_NOPOLL))
		return pd_park(pd, fd, dir, s, deadline);
	int r = pd_fwait(pd, fd, dir_pollev(dir), s, deadline);
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------ public API --- */

static int revents_mask(int revents, int events)
{
	int m = 0;
	if (revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR))
		m |= NG_READABLE;
	if (revents & (POLLOUT | POLLHUP | POLLERR))
		m |= NG_WRITABLE;
	return m & events;
}

int ng_fd_wait(int fd, int events, int64_t deadline)
{
	ng_preempt_point();
	if (fd < 0)
		return -EBADF;
	if (events == 0 || (events & ~(NG_READABLE | NG_WRITABLE)) != 0)
		return -EINVAL;
	bool gor = on_goroutine();
	np_desc *pd;
	int rc = pd_get(fd, gor ? NP_REG : 0, &pd);
	if (rc != 0)
		return rc;
	int dir = events == NG_READABLE ? NP_R : events == NG_WRITABLE ? NP_W : NP_RW;
	short pev = dir_pollev(dir);
	for (;;) {
		np_snap s;
		pd_snap(pd, &s);
		if (!gor || (atomic_load_explicit(&pd->flags, memory_order_relaxed) & NP_NOPOLL)) {
			/* ppoll tells the state itself: no look first */
			int r = pd_fwait(pd, fd, pev, &s, deadline);
			if (r < 0)
				return r;
			if ((r = revents_mask(r, events)) != 0)
				return r;
			continue;
		}
		/* Edge-triggered events say what changed, not what is: look at
		 * the state once, then wait for a change. */
		struct pollfd p = {.fd = fd, .events = pev};
		int k = EINTR_FAULT() ? -1 : poll(&p, 1, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p.revents & POLLNVAL)
			return -EBADF;
		int got = revents_mask(p.revents, events);
		if (got != 0)
			return got;
		if ((rc = pd_park(pd, fd, dir, &s, deadline)) < 0)
			return rc;
	}
}

/* What ng_read and ng_write start with: argument checks, and the
 * descriptor switched to non-blocking (registered too, from a goroutine). */
static int io_begin(int fd, const void *buf, size_t n, bool *gor, np_desc **pd)
{
	ng_preempt_point(); /* a descriptor that is always ready never parks */
	if (fd < 0)
		return -EBADF;
	if ((buf == NULL && n > 0) || n > SSIZE_MAX)
		return -EINVAL;
	*gor = on_goroutine();
	return pd_get(fd, *gor ? NP_NONBLOCK | NP_REG : NP_NONBLOCK, pd);
}

ssize_t ng_read(int fd, void *buf, size_t n, int64_t deadline)
{
	bool gor;
	np_desc *pd;
	int rc = io_begin(fd, buf, n, &gor, &pd);
	if (rc != 0)
		return rc;
	for (;;) {
		np_snap s;
		pd_snap(pd, &s);
		ssize_t r = EINTR_FAULT() ? -1 : read(fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if ((rc = pd_wait(pd, fd, NP_R, &s, deadline, gor)) < 0)
			return rc;
	}
}

ssize_t ng_write(int fd, const void *buf, size_t n, int64_t deadline)
{
	bool gor;
	np_desc *pd;
	int rc = io_begin(fd, buf, n, &gor, &pd);
	if (rc != 0)
		return rc;
	/* A peer that is gone is -EPIPE, not a SIGPIPE that kills a server
	 * (Go ignores the signal instead; pipes still raise it). */
	bool sock = atomic_load_explicit(&pd->flags, memory_order_relaxed) & NP_SOCK;
	size_t done = 0;
	for (;;) {
		np_snap s;
		pd_snap(pd, &s);
		const char *from = (const char *)buf + done;
		ssize_t r = EINTR_FAULT() ? -1
		            : sock        ? send(fd, from, n - done, MSG_NOSIGNAL)
		                          : write(fd, from, n - done);
		if (r > 0 || (r == 0 && done == n)) {
			done += (size_t)r;
			if (done == n)
				return (ssize_t)done;
			continue;
		}
		if (r == 0) /* no progress and no error: do not spin on it */
			return done > 0 ? (ssize_t)done : -EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			rc = -errno;
		else if ((rc = pd_wait(pd, fd, NP_W, &s, deadline, gor)) == 0)
			continue;
		return done > 0 ? (ssize_t)done : rc;
	}
}

/* A descriptor the kernel just created: whatever the record remembers is
 * about an earlier one with this number, closed behind our back. */
static void pd_fresh(int fd, uint32_t flags)
{
	np_desc *pd = pd_lookup(fd, true);
	if (pd != NULL)
		pd_end(pd, fd, -EBADF, 0, flags, false);
}

int ng_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline)
{
	ng_preempt_point();
	if (fd < 0)
		return -EBADF;
	if ((addr == NULL) != (addrlen == NULL))
		return -EINVAL;
	bool gor = on_goroutine();
	np_desc *pd;
	int rc = pd_get(fd, gor ? NP_NONBLOCK | NP_REG : NP_NONBLOCK, &pd);
	if (rc != 0)
		return rc;
	for (;;) {
		np_snap s;
		pd_snap(pd, &s);
		int nfd =
		    EINTR_FAULT() ? -1 : accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (nfd >= 0) {
			pd_fresh(nfd, NP_NONBLOCK | NP_SOCK);
			return nfd;
		}
		/* a connection that died in the queue: Go takes the next one */
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if ((rc = pd_wait(pd, fd, NP_R, &s, deadline, gor)) < 0)
			return rc;
	}
}

int ng_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t deadline)
{
	ng_preempt_point();
	if (fd < 0)
		return -EBADF;
	if (addr == NULL)
		return -EINVAL;
	bool gor = on_goroutine();
	np_desc *pd;
	int rc = pd_get(fd, gor ? NP_NONBLOCK | NP_REG : NP_NONBLOCK, &pd);
	if (rc != 0)
		return rc;
	np_snap s;
	pd_snap(pd, &s);
	int r = connect(fd, addr, addrlen);
	/* NUMAGO_FAULT=eintr: a signal during the call, which made it (the
	 * kernel goes on connecting after EINTR) */
	if ((r == 0 || errno == EINPROGRESS) && EINTR_FAULT())
		r = -1;
	if (r == 0)
		return 0;
	/* EINTR: the kernel goes on connecting, as after EINPROGRESS */
	if (errno != EINPROGRESS && errno != EALREADY && errno != EINTR)
		return -errno;
	/* After EINTR the connection may be made already, and the event that
	 * said so gone by: look before waiting for one. */
	bool look = errno == EINTR;
	for (;;) {
		if (!look && (rc = pd_wait(pd, fd, NP_W, &s, deadline, gor)) < 0)
			return rc;
		look = false;
		pd_snap(pd, &s);
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		if (err == EINPROGRESS || err == EALREADY || err == EINTR)
			continue;
		if (err != 0)
			return -err;
		/* No error may also mean "not yet" (Go checks the same way):
		 * connected is when the peer has a name. */
		struct sockaddr_storage peer;
		len = sizeof peer;
		if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0)
			return 0;
		if (errno != ENOTCONN)
			return -errno;
	}
}

int ng_fd_forget(int fd)
{
	if (fd < 0)
		return -EBADF;
	np_desc *pd = pd_lookup(fd, false);
	if (pd != NULL)
		pd_end(pd, fd, -ECANCELED, NP_NONBLOCK | NP_SOCK, 0, true);
	return fcntl(fd, F_GETFD) < 0 ? -errno : 0;
}

int ng_fd_close(int fd)
{
	if (fd < 0)
		return -EBADF;
	np_desc *pd = pd_lookup(fd, false);
	if (pd != NULL)
		pd_end(pd, fd, -EBADF, 0, 0, true);
	/* Linux closes the descriptor even when close reports EINTR */
	if (close(fd) == 0 || errno == EINTR)
		return 0;
	return -errno;
}
