/* core/preempt.c — time slices and preemption.
 *
 * sysmon (sysmon.c) watches each P's slicetick, the schedtick its owner
 * publishes at every switch-in that starts a new slice (a runnext hand-off
 * inherits the slice, as in Go, so a ping-pong pair shares one).  A slice
 * that outlives ng_config.time_slice (10 ms by default) gets a request:
 * p->preempt = tick + 1, and ng_preempt_any tells every cooperative check
 * to look.  Two ways to honour it:
 *
 * Cooperative: ng_preempt_point() at the start of runtime calls that could
 * otherwise keep a goroutine on its P forever without switching (channel
 * operations, select, spawn).  The goroutine goes to the global queue,
 * exactly as Go's gopreempt_m; it may resume on another M, as after any
 * numago call that switches.
 *
 * Asynchronous: sysmon also sends SIGURG (Go's choice: rarely used by
 * programs, ignored by default) to the M.  The handler runs on the
 * goroutine's own stack (no SA_ONSTACK) and switches away from inside the
 * handler; the kernel's signal frame keeps every register, so resuming is
 * returning from the handler.  Safety rules, checked in this order:
 *   1. The signal must be ours (m->preempt_req) and still about the slice
 *      that is running; anything else is forwarded to a previous handler.
 *   2. The M must be running a goroutine that holds its P, outside
 *      ng_block_enter/exit, with no switch in flight.
 *   3. The interrupted PC must lie in the program's own code: the main
 *      executable or a shared object outside the system library
 *      directories, as mapped when the runtime booted, and never in
 *      numago itself (its code is one block, ng_text_start..ng_text_end, made by the
 *      partial link in CMakeLists.txt).  Inside libc, the loader, the
 *      vDSO, a sanitizer runtime or any system library the goroutine may
 *      hold a lock that another goroutine on the same thread would need,
 *      or be halfway through runtime state: the request is deferred (it
 *      stays set for the next cooperative check; sysmon signals again
 *      next tick).
 *   4. A goroutine stopped this way may hold addresses of TLS variables
 *      (compilers cache them across a loop) or state of a library that
 *      is per thread, so it resumes on the same M: the M hands its P on
 *      and waits; whoever dequeues the goroutine hands that M a P (Go's
 *      startlockedm).  Goroutines created with NG_GO_MIGRATABLE promise
 *      they hold none and simply go to the global queue.
 * Under TSan the handler usually runs late: TSan's own handler queues the
 * signal and calls ours when the thread next leaves one of its interceptors
 * (malloc, memcpy, pthread_mutex_lock...), with a copy of the context from
 * when the signal arrived.  That PC is stale: the goroutine may since have
 * entered numago and taken a lock (a preemption there deadlocked the M on
 * S.lock), so rule 3 then judges the code that called the interceptor,
 * found by unwinding past TSan's frames (tsan_caller).
 * Limits: under TSan, signals reach handlers only at TSan's interceptors
 * (its deferred delivery), so a loop that never calls libc cannot be
 * stopped there; a fully static binary (no libc.so mapped) gets no signals,
 * since its libc is indistinguishable from program code; code that a
 * system library calls back while holding its own lock (qsort is fine,
 * dl_iterate_phdr callbacks are not) must not spin for long; objects
 * dlopen()ed after boot count as system code.  NUMAGO_DEBUG=asyncpreemptoff=1
 * or time_slice < 0 turns the signals off; the cooperative checks stay. */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "internal.h"

#if NG_TSAN
#include <execinfo.h>
#endif

#define S ng_sched_g

#define PREEMPT_SIG SIGURG
#define MAX_RANGES  64

/* Requests outstanding (p->preempt != 0), kept exact by whoever moves a
 * p->preempt to or from 0, so cooperative checks go back to one load as
 * soon as the request is honoured. */
_Atomic int ng_preempt_any;

/* Bounds of numago's code (static or shared), set by the partial link's
 * script (cmake/ng_text.ld).  Weak: a build without the partial link has none,
 * and then gets no signals. */
extern char ng_text_start[] __attribute__((weak, visibility("hidden")));
extern char ng_text_end[] __attribute__((weak, visibility("hidden")));

typedef struct code_range {
	uintptr_t lo, hi;
} code_range;

/* Written at boot before the handler is installed, read-only after. */
static code_range safe_code[MAX_RANGES];
static int nsafe_code;
static uintptr_t rt_lo, rt_hi;
static bool saw_libc;
static code_range tsan_code; /* libtsan's code, under TSan */
static struct sigaction old_sa;
static bool installed;

static bool system_object(const char *name)
{
	static const char *const dirs[] = {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/",
	                                   "/usr/libexec/"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (strncmp(name, dirs[i], strlen(dirs[i])) == 0)
			return true;
	return strncmp(name, "linux-", 6) == 0; /* the vDSO */
}

static int add_object(struct dl_phdr_info *info, size_t size, void *first)
{
	(void)size;
	const char *name = info->dlpi_name ? info->dlpi_name : "";
	bool main_program = *(bool *)first;
	*(bool *)first = false;
	if (strstr(name, "/libc.so") != NULL || strncmp(name, "libc.so", 7) == 0)
		saw_libc = true;
	if (NG_TSAN && strstr(name, "libtsan") != NULL) {
		for (int i = 0; i < info->dlpi_phnum; i++) {
			const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
			if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
				continue;
			uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
			if (tsan_code.lo == 0 || lo < tsan_code.lo)
				tsan_code.lo = lo;
			if (lo + ph->p_memsz > tsan_code.hi)
				tsan_code.hi = lo + ph->p_memsz;
		}
	}
	if (!main_program && (*name == '\0' || system_object(name)))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || nsafe_code == MAX_RANGES)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		/* numago as a shared object is somebody else's code too */
		if (rt_lo >= lo && rt_lo < lo + ph->p_memsz && !main_program)
			continue;
		safe_code[nsafe_code++] = (code_range){lo, lo + ph->p_memsz};
	}
	return 0;
}

static bool pc_async_safe(uintptr_t pc)
{
	if (pc >= rt_lo && pc < rt_hi)
		return false;
	for (int i = 0; i < nsafe_code; i++)
		if (pc >= safe_code[i].lo && pc < safe_code[i].hi)
			return true;
	return false;
}

static uintptr_t uc_pc(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#else
#error "no async preemption for this architecture"
#endif
}

#if NG_TSAN
/* The kernel puts the signal frame on the stack the thread was running on,
 * just above the handler's frames; TSan's late delivery passes a copy kept
 * in its own memory. */
static bool delivered_late(const void *uc)
{
	char here;
	uintptr_t above = (uintptr_t)uc - (uintptr_t)&here;
	return above > (256u << 10);
}

/* The PC that called the interceptor TSan is delivering the signal from:
 * past TSan's backtrace interceptor, this handler's frames (numago) and
 * TSan's (its delivery and the interceptor).  0 if the unwind does not get
 * there. */
static uintptr_t tsan_caller(void)
{
	void *pcs[32];
	int n = backtrace(pcs, 32);
	int i = 0;
#define IN(r, k) ((uintptr_t)pcs[k] >= (r).lo && (uintptr_t)pcs[k] < (r).hi)
	code_range rt = {rt_lo, rt_hi};
	while (i < n && IN(tsan_code, i))
		i++;
	while (i < n && IN(rt, i))
		i++;
	int first_tsan = i;
	while (i < n && IN(tsan_code, i))
		i++;
#undef IN
	if (i == first_tsan || i >= n)
		return 0;
	return (uintptr_t)pcs[i] - 1; /* a return address: the call is before it */
}
#endif

/* Where the goroutine really is: the PC the signal interrupted, or under
 * TSan's late delivery the caller of the interceptor delivering it. */
static uintptr_t stopped_pc(const ucontext_t *uc)
{
#if NG_TSAN
	if (delivered_late(uc))
		return tsan_caller();
#endif
	return uc_pc(uc);
}

static void forward(int sig, siginfo_t *si, void *uc)
{
	if (old_sa.sa_flags & SA_SIGINFO) {
		if (old_sa.sa_sigaction != NULL)
			old_sa.sa_sigaction(sig, si, uc);
	} else if (old_sa.sa_handler != SIG_DFL && old_sa.sa_handler != SIG_IGN) {
		old_sa.sa_handler(sig);
	}
}

/* Is a request for the slice now running on p pending? */
static bool slice_asked(ng_p *p)
{
	uint32_t want = atomic_load_explicit(&p->preempt, memory_order_relaxed);
	return want != 0 && want - 1 == atomic_load_explicit(&p->slicetick, memory_order_relaxed);
}

/* Withdraw p's request if it is still `want` (0: whatever it is). */
void ng_preempt_clear(ng_p *p, uint32_t want)
{
	bool cleared;
	if (want == 0) {
		cleared = atomic_exchange_explicit(&p->preempt, 0, memory_order_relaxed) != 0;
	} else {
		cleared = atomic_compare_exchange_strong_explicit(
		    &p->preempt, &want, 0, memory_order_relaxed, memory_order_relaxed);
	}
	if (cleared)
		atomic_fetch_sub_explicit(&ng_preempt_any, 1, memory_order_relaxed);
}

/* errno is per thread and its address (__errno_location() is const) may be
 * kept across the switch: after resuming on another M, look it up again. */
static __attribute__((noinline)) void set_errno(int e)
{
	errno = e;
}

static void preempt_handler(int sig, siginfo_t *si, void *ucv)
{
	int saved_errno = errno;
	ng_m *m = ng_tls_m;
	if (m == NULL || !atomic_exchange_explicit(&m->preempt_req, 0, memory_order_relaxed)) {
		forward(sig, si, ucv);
		set_errno(saved_errno);
		return;
	}
	ucontext_t *uc = ucv;
	ng_g *g = m->curg;
	ng_p *p = m->p;
	bool stopping = atomic_load_explicit(&S.stopping, memory_order_relaxed);
	if (g == NULL || p == NULL || m->blocked || m->after != NG_AFTER_NONE ||
	    (!stopping && !slice_asked(p)))
		goto out;
	if (!pc_async_safe(stopped_pc(uc))) {
		atomic_fetch_add_explicit(&S.stat_preempt_deferred, 1, memory_order_relaxed);
		goto out;
	}
	ng_preempt_clear(p, 0);
	atomic_fetch_add_explicit(&S.stat_preempt_async, 1, memory_order_relaxed);
	/* The M goes on (or waits) with the goroutine's signal mask, not the
	 * handler's, which blocks this signal. */
	pthread_sigmask(SIG_SETMASK, &uc->uc_sigmask, NULL);
	ng_m *now = ng_preempt_switch(m, g, !(g->flags & NG_GO_MIGRATABLE));
	if (now != m) {
		/* Resumed on another thread: sigreturn would install the first
		 * thread's alternate signal stack on this one. */
		stack_t ss;
		if (sigaltstack(NULL, &ss) == 0)
			uc->uc_stack = ss;
	}
out:
	set_errno(saved_errno);
}

/* A switch is under way on p: honour a request for its slice. */
bool ng_preempt_take(ng_p *p)
{
	if (!slice_asked(p))
		return false;
	ng_preempt_clear(p, 0);
	atomic_fetch_add_explicit(&S.stat_preempt_coop, 1, memory_order_relaxed);
	return true;
}

void ng_preempt_coop_slow(void)
{
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL || m->p == NULL || m->blocked)
		return;
	ng_p *p = m->p;
	if (!slice_asked(p))
		return;
	ng_preempt_clear(p, 0);
	atomic_fetch_add_explicit(&S.stat_preempt_coop, 1, memory_order_relaxed);
	ng_preempt_switch(m, m->curg, false);
}

void ng_preempt_request(ng_p *p, uint32_t tick)
{
	if (atomic_exchange_explicit(&p->preempt, tick + 1, memory_order_relaxed) == 0)
		atomic_fetch_add_explicit(&ng_preempt_any, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&S.stat_preempt_req, 1, memory_order_relaxed);
	if (!S.async_preempt)
		return;
	ng_m *m = atomic_load_explicit(&p->m, memory_order_acquire);
	if (m == NULL)
		return;
	atomic_store_explicit(&m->preempt_req, 1, memory_order_relaxed);
	pthread_kill(m->self, PREEMPT_SIG);
}

/* Shutdown: an M whose goroutine computes forever would never reach a
 * schedule point; the signal (with S.stopping set) moves it off. */
void ng_preempt_kick(ng_m *m)
{
	if (!S.async_preempt)
		return;
	atomic_store_explicit(&m->preempt_req, 1, memory_order_relaxed);
	pthread_kill(m->thread, PREEMPT_SIG);
}

void ng_preempt_init(void)
{
	atomic_store(&ng_preempt_any, 0);
	/* Valgrind's tools do not follow a handler that returns on another
	 * stack than it started on (callgrind asserts): no signals there. */
	const char *pre = getenv("LD_PRELOAD");
	if (pre != NULL && strstr(pre, "vgpreload") != NULL)
		S.async_preempt = false;
	if (!S.async_preempt)
		return;
	rt_lo = (uintptr_t)ng_text_start;
	rt_hi = (uintptr_t)ng_text_end;
	nsafe_code = 0;
	saw_libc = false;
	tsan_code = (code_range){0, 0};
	bool first = true;
	dl_iterate_phdr(add_object, &first);
#if NG_TSAN
	/* backtrace loads libgcc's unwinder on first use: not in a handler */
	void *warm[2];
	backtrace(warm, 2);
	if (tsan_code.hi <= tsan_code.lo) {
		S.async_preempt = false; /* late deliveries could not be judged */
		return;
	}
#endif
	if (rt_lo == 0 || rt_hi <= rt_lo || !saw_libc) {
		/* no way to tell numago's or libc's code from the program's */
		S.async_preempt = false;
		return;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = preempt_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(PREEMPT_SIG, &sa, &old_sa) != 0) {
		ng_warn("cannot install the preemption signal handler (%s): goroutines are "
		        "preempted only at numago calls",
		        strerror(errno));
		S.async_preempt = false;
		return;
	}
	installed = true;
}

void ng_preempt_fini(void)
{
	if (installed)
		sigaction(PREEMPT_SIG, &old_sa, NULL);
	installed = false;
	atomic_store(&ng_preempt_any, 0);
}
