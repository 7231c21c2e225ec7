/* core/dump.c — goroutine dumps, the deadlock report and SIGQUIT.
 *
 * One line per goroutine, so reports stay greppable in batch-job logs:
 *
 *   goroutine 7 "worker" [chan receive, 3 minutes]: fn worker_main, created
 *   by goroutine 1 at solver.c:88
 *
 * (on one line).  The walk reads allgs without taking a lock, so it works from
 * a signal handler and in a wedged process; the SIGQUIT variant prints
 * function addresses instead of names because symbol lookup is not
 * async-signal-safe.
 */
#define _GNU_SOURCE
#include "fmt.h"
#include "internal.h"

#include <numago/time.h>

#include <dlfcn.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#define S ng_sched_g

static const char *const reasons[NG_WAIT_COUNT] = {
    [NG_WAIT_ZERO] = "waiting",
    [NG_WAIT_CHAN_RECV] = "chan receive",
    [NG_WAIT_CHAN_SEND] = "chan send",
    [NG_WAIT_SELECT] = "select",
    [NG_WAIT_SELECT_NO_CASES] = "select (no cases)",
    [NG_WAIT_SLEEP] = "sleep",
    [NG_WAIT_MUTEX] = "sync.Mutex.Lock",
    [NG_WAIT_RWMUTEX_R] = "sync.RWMutex.RLock",
    [NG_WAIT_RWMUTEX_W] = "sync.RWMutex.Lock",
    [NG_WAIT_WAITGROUP] = "sync.WaitGroup.Wait",
    [NG_WAIT_COND] = "sync.Cond.Wait",
    [NG_WAIT_SEMA] = "semacquire",
    [NG_WAIT_ONCE] = "sync.Once.Do",
    [NG_WAIT_IO] = "IO wait",
    [NG_WAIT_OFFLOAD] = "OpenCL wait",
    [NG_WAIT_MPI] = "MPI wait",
    [NG_WAIT_FOREVER] = "park forever",
    [NG_WAIT_TEST] = "test park",
};

const char *ng_waitreason_str(int reason)
{
	if (reason < 0 || reason >= NG_WAIT_COUNT || reasons[reason] == NULL)
		return "waiting";
	return reasons[reason];
}

int64_t ng_coarse_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void dump_one(ng_fmt *f, const ng_g *g, int64_t now, bool symbolize)
{
	uint32_t st = atomic_load_explicit(&g->status, memory_order_acquire);
	fmt_s(f, "goroutine ");
	fmt_u(f, g->id);
	if (g->name != NULL) {
		fmt_s(f, " \"");
		fmt_s(f, g->name);
		fmt_s(f, "\"");
	}
	fmt_s(f, " [");
	switch (st) {
	case NG_G_RUNNABLE:
		fmt_s(f, "runnable");
		break;
	case NG_G_RUNNING:
		fmt_s(f, "running");
		break;
	case NG_G_SYSCALL:
		fmt_s(f, "syscall");
		break;
	case NG_G_PREEMPTED:
		fmt_s(f, "preempted");
		break;
	default:
		fmt_s(f, ng_waitreason_str(g->waitreason));
		if (g->waitsince > 0 && now - g->waitsince >= 60LL * 1000000000) {
			fmt_s(f, ", ");
			fmt_i(f, (now - g->waitsince) / (60LL * 1000000000));
			fmt_s(f, " minutes");
		}
	}
	fmt_s(f, "]: fn ");
	Dl_info di;
	if (symbolize && g->fn != NULL && dladdr((void *)(uintptr_t)g->fn, &di) != 0 &&
	    di.dli_sname != NULL)
		fmt_s(f, di.dli_sname);
	else
		fmt_x(f, (uint64_t)(uintptr_t)g->fn);
	if (g->parent != 0) {
		fmt_s(f, ", created by goroutine ");
		fmt_u(f, g->parent);
	} else {
		fmt_s(f, ", created by a foreign thread");
	}
	if (g->file != NULL) {
		fmt_s(f, " at ");
		fmt_s(f, g->file);
		fmt_s(f, ":");
		fmt_i(f, g->line);
	}
	fmt_s(f, "\n");
}

static void dump_all(int fd, bool symbolize)
{
	char buf[1024];
	ng_fmt f = {buf, sizeof buf, 0};
	size_t n;
	ng_g **a = ng_allgs_snapshot(&n);
	int64_t now = ng_coarse_now();
	for (size_t i = 0; i < n; i++) {
		const ng_g *g = a[i];
		uint32_t st = atomic_load_explicit(&g->status, memory_order_acquire);
		if (st == NG_G_DEAD || st == NG_G_IDLE)
			continue;
		dump_one(&f, g, now, symbolize);
		fmt_flush(&f, fd);
	}
}

void ng_dump_goroutines(int fd)
{
	dump_all(fd, false);
}

void ng_deadlock_report(int fd, const char *headline)
{
	char buf[256];
	ng_fmt f = {buf, sizeof buf, 0};
	fmt_s(&f, "fatal error: ");
	fmt_s(&f, headline);
	fmt_s(&f, "\n\n");
	fmt_flush(&f, fd);
	dump_all(fd, true);
}

/* goleak's approach: give goroutines that can still run a moment to finish,
 * then whatever is alive besides the caller has leaked.  Only blocked (or
 * never-ending) goroutines remain once the runnable ones settle. */
int64_t ng_leak_check(int fd, int64_t settle_deadline)
{
	uint64_t self = ng_id();
	for (int64_t pause = 100000;; pause = pause < 10000000 ? 2 * pause : pause) {
		size_t n;
		ng_g **a = ng_allgs_snapshot(&n);
		int busy = 0;
		for (size_t i = 0; i < n; i++) {
			uint32_t st = atomic_load_explicit(&a[i]->status, memory_order_acquire);
			if (a[i]->id != self && (st == NG_G_RUNNABLE || st == NG_G_RUNNING ||
			                         st == NG_G_SYSCALL || st == NG_G_PREEMPTED))
				busy++;
		}
		if (busy == 0)
			break;
		int64_t now = ng_nanotime();
		if (settle_deadline != NG_FOREVER && now >= settle_deadline)
			break;
		int64_t until = now + pause;
		if (settle_deadline != NG_FOREVER && until > settle_deadline)
			until = settle_deadline;
		ng_sleep_until(until);
	}
	char buf[1024];
	ng_fmt f = {buf, sizeof buf, 0};
	size_t n;
	ng_g **a = ng_allgs_snapshot(&n);
	int64_t now = ng_coarse_now();
	int64_t leaked = 0;
	for (size_t i = 0; i < n; i++) {
		const ng_g *g = a[i];
		uint32_t st = atomic_load_explicit(&g->status, memory_order_acquire);
		if (st == NG_G_DEAD || st == NG_G_IDLE || g->id == self)
			continue;
		leaked++;
		if (fd >= 0) {
			dump_one(&f, g, now, false);
			fmt_flush(&f, fd);
		}
	}
	return leaked;
}

static struct sigaction old_quit;
static bool quit_installed;

static void quit_handler(int sig)
{
	(void)sig;
	static const char head[] = "SIGQUIT: quit\n\n";
	ssize_t w = write(2, head, sizeof head - 1);
	(void)w;
	dump_all(2, false);
	_exit(2);
}

void ng_dump_install_sigquit(void)
{
	struct sigaction cur;
	if (quit_installed || sigaction(SIGQUIT, NULL, &cur) != 0)
		return;
	/* Respect a handler the application installed itself. */
	if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler != SIG_DFL)
		return;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction != NULL)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = quit_handler;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGQUIT, &sa, &old_quit) == 0)
		quit_installed = true;
}

void ng_dump_uninstall_sigquit(void)
{
	if (quit_installed) {
		sigaction(SIGQUIT, &old_quit, NULL);
		quit_installed = false;
	}
}
