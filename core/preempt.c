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
 *      ng_block_enter/exit, with no switch in flight, and the handler must
 *      be on that goroutine's stack (between execute() naming the next
 *      goroutine and the switch onto its stack, the M is still on g0).
 *   3. The interrupted PC must lie in the program's own code: the main
 *      executable or a shared object outside the system library
 *      directories, as mapped when the runtime booted, and never in
 *      numago itself (its code is one block, ng_text_start..ng_text_end, made by the
 *      partial link in CMakeLists.txt), nor in a PLT stub: a statically
 *      linked numago reaches libc and the sanitizer runtimes through the
 *      program's PLT, so a stub may be runtime code mid-switch (a signal
 *      in the stub for __sanitizer_start_switch_fiber, called on g0 after
 *      execute(), once switched g0's context away as if it were g's), nor
 *      in a sanitizer or fuzzer runtime linked into the program (clang's
 *      static ASan, UBSan and libFuzzer, which instrumented numago calls
 *      while holding its locks), found from the program's symbol table.  Inside libc, the loader, the
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
 *      they hold none and simply go to the global queue.  So every
 *      goroutine stopped and not yet resumed holds a thread, as Go's
 *      LockOSThread does.  The waiting thread is not lent to other
 *      goroutines: one of them blocking it in a raw system call on
 *      something the stopped goroutine would provide deadlocks both; and
 *      a cap that deferred the signal instead left the loops on their Ps
 *      and starved the rest (bench_soak: pipe deadlines missed).
 *   5. The goroutine must not be inside one of the program's signal
 *      handlers (running on its stack): the handler's PC is the program's,
 *      but the code it interrupted may be numago's, halfway through a
 *      switch (a SIGUSR1 storm made ASan report "starting fiber switch
 *      while in fiber switch" and the scheduler ready a running
 *      goroutine).  Found by the kernel's signal frame: the word the
 *      handler returns to is the signal restorer (sigreturn), and the
 *      stack from the interrupted SP up to the goroutine's top is searched
 *      for it.  On x86-64 the frame's saved context must fit (an SP above
 *      it) and the mask now must block a signal the frame's saved mask did
 *      not (the running handler's own): a stale frame left in a live
 *      frame's unused slot does not defer preemption for good.
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
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

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
/* PLT stubs inside safe_code: numago linked statically calls libc (and, in
 * sanitizer builds, the sanitizer runtime) through the program's PLT, so a
 * PC there may belong to runtime code halfway through a switch. */
static code_range plt_code[MAX_RANGES];
static int nplt_code;
/* Sanitizer and fuzzer runtimes linked statically into the program (clang's
 * -fsanitize=address,fuzzer): numago, instrumented, calls their interceptors
 * and coverage callbacks while holding its own locks, and to the PC test
 * they looked like program code.  Found from the program's symbol table,
 * once per process (it does not change; reading it per ng_run would cost
 * milliseconds), as offsets from the load address, sorted and merged. */
static code_range *san_code;
static int nsan_code;
static bool san_scanned;
static uintptr_t san_base;
static uintptr_t rt_lo, rt_hi;
static bool saw_libc;
static code_range tsan_code; /* libtsan's code, under TSan */
static struct sigaction old_sa;
static bool installed;
/* Where a signal handler returns to: the restorer that calls sigreturn
 * (glibc's __restore_rt on x86-64, the vDSO's trampoline on AArch64). */
static uintptr_t sig_restorer;

static bool system_object(const char *name)
{
	static const char *const dirs[] = {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/",
	                                   "/usr/libexec/"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (strncmp(name, dirs[i], strlen(dirs[i])) == 0)
			return true;
	return strncmp(name, "linux-", 6) == 0; /* the vDSO */
}

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

static bool sanitizer_symbol(const char *n)
{
	static const char *const plain[] = {
	    "__sanitizer", "__interceptor", "___interceptor", "__asan",   "__ubsan",
	    "__lsan",      "__tsan",        "__msan",         "__hwasan", "__sancov"};
	/* C++ namespaces of the same runtimes and libFuzzer's, mangled:
	 * _ZN<len><name> or _ZNK<len><name> */
	static const char *const spaces[] = {"__sanitizer",    "__asan",   "__ubsan",
	                                     "__lsan",         "__tsan",   "__msan",
	                                     "__interception", "__sancov", "fuzzer"};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (strncmp(n, plain[i], strlen(plain[i])) == 0)
			return true;
	if (strncmp(n, "_ZN", 3) != 0)
		return false;
	n += 3;
	if (*n == 'K')
		n++;
	char *end;
	unsigned long len = strtoul(n, &end, 10);
	if (end == n)
		return false;
	for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++)
		if (len == strlen(spaces[i]) && strncmp(end, spaces[i], len) == 0)
			return true;
	return false;
}

static int range_cmp(const void *a, const void *b)
{
	const code_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The functions of statically linked sanitizer/fuzzer runtimes, from the
 * symbol table sh[symtab] of the ELF file fd (a stripped program has none,
 * and then nothing is found): sorted, merged, as offsets from its base. */
static void scan_sanitizers(int fd, const ElfW(Shdr) * sh, int nsh, const ElfW(Shdr) * symtab)
{
	if (symtab->sh_link >= (ElfW(Word))nsh || symtab->sh_entsize != sizeof(ElfW(Sym)))
		return;
	const ElfW(Shdr) *st = &sh[symtab->sh_link];
	size_t n = symtab->sh_size / sizeof(ElfW(Sym));
	char *strtab = NULL;
	ElfW(Sym) *syms = NULL;
	code_range *r = NULL;
	int nr = 0;
	if ((strtab = malloc(st->sh_size + 1)) == NULL ||
	    !read_at(fd, strtab, st->sh_size, st->sh_offset) ||
	    (syms = malloc(n * sizeof *syms)) == NULL ||
	    !read_at(fd, syms, n * sizeof *syms, symtab->sh_offset) ||
	    (r = malloc(n * sizeof *r)) == NULL)
		goto out;
	strtab[st->sh_size] = '\0';
	for (size_t k = 0; k < n; k++) {
		if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_size == 0 ||
		    syms[k].st_value == 0 || syms[k].st_name >= st->sh_size ||
		    !sanitizer_symbol(strtab + syms[k].st_name))
			continue;
		r[nr++] = (code_range){syms[k].st_value, syms[k].st_value + syms[k].st_size};
	}
	if (nr == 0)
		goto out;
	qsort(r, (size_t)nr, sizeof *r, range_cmp);
	int m = 0;
	for (int k = 1; k < nr; k++) {
		/* functions laid end to end, up to alignment padding */
		if (r[k].lo <= r[m].hi + 64) {
			if (r[k].hi > r[m].hi)
				r[m].hi = r[k].hi;
		} else {
			r[++m] = r[k];
		}
	}
	san_code = r;
	nsan_code = m + 1;
	r = NULL;
out:
	free(r);
	free(syms);
	free(strtab);
}

/* One read of the section headers of the ELF file at path, loaded at base:
 * its PLT sections (.plt, .plt.sec, .plt.got, .iplt; headers are not mapped,
 * so they come from the file, at boot) and, with symbols, the sanitizer
 * runtimes linked into it. */
static void scan_object(const char *path, uintptr_t base, bool symbols)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ElfW(Ehdr) eh;
	ElfW(Shdr) *sh = NULL;
	char *names = NULL;
	if (!read_at(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_shentsize != sizeof(ElfW(Shdr)) || eh.e_shnum == 0 ||
	    eh.e_shstrndx >= eh.e_shnum || (sh = malloc(eh.e_shnum * sizeof *sh)) == NULL ||
	    !read_at(fd, sh, eh.e_shnum * sizeof *sh, eh.e_shoff))
		goto out;
	size_t nlen = sh[eh.e_shstrndx].sh_size;
	if ((names = malloc(nlen + 1)) == NULL ||
	    !read_at(fd, names, nlen, sh[eh.e_shstrndx].sh_offset))
		goto out;
	names[nlen] = '\0';
	for (int i = 0; i < eh.e_shnum; i++) {
		if (symbols && sh[i].sh_type == SHT_SYMTAB) {
			scan_sanitizers(fd, sh, eh.e_shnum, &sh[i]);
			symbols = false; /* one symbol table */
		}
		if (sh[i].sh_name >= nlen || !(sh[i].sh_flags & SHF_EXECINSTR) ||
		    sh[i].sh_size == 0 || nplt_code == MAX_RANGES)
			continue;
		const char *n = names + sh[i].sh_name;
		if (strncmp(n, ".plt", 4) == 0 || strcmp(n, ".iplt") == 0)
			plt_code[nplt_code++] = (code_range){base + sh[i].sh_addr,
			                                     base + sh[i].sh_addr + sh[i].sh_size};
	}
out:
	free(names);
	free(sh);
	close(fd);
}

static bool in_sanitizer(uintptr_t pc)
{
	if (nsan_code == 0 || pc < san_base)
		return false;
	uintptr_t off = pc - san_base;
	int lo = 0, hi = nsan_code;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (off < san_code[mid].lo)
			hi = mid;
		else if (off >= san_code[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
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
	if (main_program)
		san_base = info->dlpi_addr;
	/* the program's symbols do not change: read them once per process */
	scan_object(main_program ? "/proc/self/exe" : name, info->dlpi_addr,
	            main_program && !san_scanned);
	san_scanned |= main_program;
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

bool ng_preempt_pc_safe(uintptr_t pc)
{
	if (pc >= rt_lo && pc < rt_hi)
		return false;
	for (int i = 0; i < nplt_code; i++)
		if (pc >= plt_code[i].lo && pc < plt_code[i].hi)
			return false;
	if (in_sanitizer(pc))
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

static uintptr_t uc_sp(const ucontext_t *uc)
{
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
#else
	return (uintptr_t)uc->uc_mcontext.sp;
#endif
}

#if defined(__x86_64__)
/* The first word of a sigset: the 64 classic and real-time signals.  A
 * plain load, not memcpy: at -O0 that is a call ASan intercepts. */
__attribute__((no_sanitize("address", "thread"))) static uint64_t mask_word(const sigset_t *set)
{
	return *(const volatile uint64_t *)(const void *)set;
}

/* A restorer found at w: is it the bottom of a kernel signal frame whose
 * handler is still running?  The frame's ucontext follows the word; it
 * saved an SP above the frame, within the stack, and the mask from before
 * the handler ran.  A running handler blocks its own signal (and its
 * sa_mask) on top of that mask, so the mask now blocks a signal the saved
 * one did not.  A stale frame left in a live frame's unused slot (an old
 * preemption's, say) saved the mask the goroutine runs with now. */
__attribute__((no_sanitize("address", "thread"))) static bool
frame_live(const volatile uintptr_t *w, uintptr_t hi, const ucontext_t *now)
{
	const ucontext_t *f = (const ucontext_t *)(uintptr_t)(w + 1);
	if ((uintptr_t)(f + 1) > hi)
		return false;
	uintptr_t fsp = (uintptr_t)f->uc_mcontext.gregs[REG_RSP];
	if (fsp <= (uintptr_t)w || fsp > hi)
		return false;
	return (mask_word(&now->uc_sigmask) & ~mask_word(&f->uc_sigmask)) != 0;
}
#endif

/* Rule 5.  Not instrumented: it reads whole frames of the goroutine's stack,
 * redzones included. */
__attribute__((no_sanitize("address", "thread"))) static bool in_user_handler(const ng_g *g,
                                                                              const ucontext_t *uc)
{
	if (sig_restorer == 0)
		return false;
#if defined(__aarch64__)
	if ((uintptr_t)uc->uc_mcontext.regs[30] == sig_restorer)
		return true; /* a leaf handler: its return address is still in LR */
#endif
	uintptr_t sp = uc_sp(uc), hi = (uintptr_t)g->stack.hi;
	if (sp < (uintptr_t)g->stack.lo || sp >= hi)
		return false;
	for (const volatile uintptr_t *w = (const uintptr_t *)(sp & ~(uintptr_t)7);
	     (uintptr_t)(w + 1) <= hi; w++) {
		if (*w != sig_restorer)
			continue;
#if defined(__x86_64__)
		if (frame_live(w, hi, uc))
			return true;
#else
		return true; /* AArch64: the frame record holds no context to check */
#endif
	}
	return false;
}

#if defined(__aarch64__)
static uintptr_t probed_restorer;
static void probe_handler(int sig)
{
	(void)sig;
	probed_restorer = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0));
}
#endif

/* The restorer every handler installed through libc returns to. */
static uintptr_t find_restorer(void)
{
#if defined(__x86_64__)
	/* The kernel's view of our handler: glibc always sets SA_RESTORER. */
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} k;
	if (syscall(SYS_rt_sigaction, PREEMPT_SIG, NULL, &k, sizeof k.mask) != 0 ||
	    !(k.flags & 0x04000000 /* SA_RESTORER */))
		return 0;
	return (uintptr_t)k.restorer;
#else
	/* No SA_RESTORER: the kernel returns through the vDSO's trampoline.
	 * See where a handler returns to.  (Under TSan, whose handler calls
	 * ours, this finds TSan's caller instead, and rule 5 sees nothing.) */
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = probe_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(PREEMPT_SIG, &sa, &old) != 0)
		return 0;
	probed_restorer = 0;
	raise(PREEMPT_SIG);
	sigaction(PREEMPT_SIG, &old, NULL);
	return probed_restorer;
#endif
}

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
	/* The handler runs on the interrupted stack: outside g's, the M is on
	 * g0 between execute() naming g and the switch onto g's stack. */
	char *sp = __builtin_frame_address(0);
	if (sp < g->stack.lo || sp >= g->stack.hi || !ng_preempt_pc_safe(stopped_pc(uc)) ||
	    in_user_handler(g, uc)) {
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
	if (m == NULL || m->curg == NULL || m->p == NULL || m->blocked || m->in_timers)
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
	nplt_code = 0;
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
#if defined(__aarch64__)
	sig_restorer = find_restorer(); /* before ours is installed: it raises */
#endif
	if (sigaction(PREEMPT_SIG, &sa, &old_sa) != 0) {
		ng_warn("cannot install the preemption signal handler (%s): goroutines are "
		        "preempted only at numago calls",
		        strerror(errno));
		S.async_preempt = false;
		return;
	}
#if defined(__x86_64__)
	sig_restorer = find_restorer();
#endif
	installed = true;
}

void ng_preempt_fini(void)
{
	if (installed)
		sigaction(PREEMPT_SIG, &old_sa, NULL);
	installed = false;
	atomic_store(&ng_preempt_any, 0);
}
