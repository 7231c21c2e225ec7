/* core/stack.c — goroutine stacks.
 *
 * C stacks cannot grow or move the way Go's do, so every goroutine gets a
 * fixed reservation (64 KiB by default) that costs only the pages it
 * touches: stacks are carved from large MAP_NORESERVE slabs with transparent
 * huge pages off, so a parked goroutine that used 3 KiB of stack holds one
 * 4 KiB page.
 *
 * Overflow detection and vm.max_map_count.  A guard page made with mprotect
 * splits its mapping, and the kernel caps mappings per process at
 * vm.max_map_count (65530 by default): a million guarded stacks would need
 * two million.  So, in order of preference:
 *   1. MADV_GUARD_INSTALL (Linux >= 6.13): guard regions that live in the
 *      page tables, not in VMAs.  Unlimited, free, used whenever the kernel
 *      has it.
 *   2. mprotect guards, for as many stacks as max_map_count allows with room
 *      to spare (a budget computed at start-up).
 *   3. Beyond that budget: no guard page; the stack pointer is checked
 *      every time the goroutine is switched out, and the unused 64 KiB gap
 *      below each stack absorbs an overflow between two checks.  A canary
 *      word would be the classic choice, but it has to live in the bottom
 *      page, and on these kernels even reading an untouched page costs 4 KiB
 *      of RSS: a page per goroutine, twice the target.  Detection is at the
 *      next switch (or never, if the goroutine unwinds first, having only
 *      scribbled on its own gap), which is why it is the last resort.
 * Each slot reserves a 64 KiB gap below the stack in every mode: large
 * frames that skip a single 4 KiB guard page still land in it.
 *
 * A fault in a guard region is reported by a SIGSEGV handler running on an
 * alternate signal stack (the goroutine's own stack is the problem), naming
 * the goroutine and where it was created; exit status 2, as Go's fatal
 * errors.  Other faults are passed on to whatever handler was there before.
 */
#define _GNU_SOURCE
#include "fault.h"
#include "fmt.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define NG_STACK_DEFAULT ((size_t)64 << 10)
#define NG_GUARD_GAP     ((size_t)64 << 10)
#define SLAB_STACKS      64
#define ALTSTACK_SIZE    ((size_t)64 << 10)

static pthread_mutex_t stack_lock = PTHREAD_MUTEX_INITIALIZER;
size_t ng_stack_std_size = NG_STACK_DEFAULT;
static _Atomic int guard_mode; /* enum ng_guard_kind for new stacks */
static long mprotect_budget;   /* stacks that may get an mprotect guard */
static long mprotect_used;     /* stack_lock */

typedef struct slab {
	char *base;
	size_t len;
} slab;
static slab *slabs; /* stack_lock */
static size_t nslabs, slabcap;
/* Per NUMA node: slabs are bound to the node of the P that carves them, and
 * freed stacks go back to their node's pool. */
typedef struct node_stacks {
	char *carve_next; /* next free slot in the node's newest slab */
	size_t carve_left;
	ng_stack *pool; /* freed standard stacks */
	size_t pool_n, pool_cap;
} node_stacks;
static node_stacks *nodes; /* stack_lock */
static int nnodes;
/* ng_stats: stacks handed out and not back, bytes mapped for stacks */
static _Atomic int64_t stat_stacks;
static _Atomic uint64_t stat_stack_bytes;

int ng_stack_guard_mode(void)
{
	return atomic_load(&guard_mode);
}

static long read_long_file(const char *path, long dflt)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return dflt;
	long v = dflt;
	if (fscanf(f, "%ld", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

void ng_stack_init(size_t default_size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (default_size == 0)
		default_size = NG_STACK_DEFAULT;
	ng_stack_std_size = (default_size + page - 1) & ~(page - 1);
	/* Leave half of the map budget to the rest of the program (malloc
	 * arenas, libraries, the user's own mappings). */
	long max_maps = read_long_file("/proc/sys/vm/max_map_count", 65530);
	mprotect_budget = max_maps / 4;
	mprotect_used = 0;
	int forced = ng_debug_g.stackguard;
	atomic_store(&guard_mode, forced ? forced : NG_GUARD_MADVISE);
	nnodes = ng_topo_node_count();
	nodes = calloc((size_t)nnodes, sizeof *nodes);
	if (nodes == NULL)
		nnodes = 0; /* carve_locked reports ENOMEM */
}

#if NG_ASAN
#pragma GCC visibility push(default) /* the sanitizer runtime's */
void __asan_get_shadow_mapping(size_t *shadow_scale, size_t *shadow_offset);
#pragma GCC visibility pop

/* Stacks run to gigabytes (a million goroutines): writing their shadow
 * would touch an eighth of that.  The shadow is anonymous memory, so
 * dropping its whole pages reads back as zero (unpoisoned); only the
 * edges are written. */
void ng_asan_forget(void *lo, size_t len)
{
	size_t scale, offset;
	__asan_get_shadow_mapping(&scale, &offset);
	uintptr_t a = (uintptr_t)lo, b = a + len;
	uintptr_t sa = (a >> scale) + offset, sb = (b >> scale) + offset;
	uintptr_t pa = (sa + 4095) & ~(uintptr_t)4095, pb = sb & ~(uintptr_t)4095;
	if (pa >= pb) {
		__asan_unpoison_memory_region(lo, len);
		return;
	}
	madvise((void *)pa, pb - pa, MADV_DONTNEED);
	__asan_unpoison_memory_region(lo, ((pa - offset) << scale) - a);
	__asan_unpoison_memory_region((void *)((pb - offset) << scale),
	                              b - ((pb - offset) << scale));
}
#endif

void ng_stack_fini(void)
{
	pthread_mutex_lock(&stack_lock);
	for (size_t i = 0; i < nslabs; i++) {
		ng_asan_forget(slabs[i].base, slabs[i].len);
		munmap(slabs[i].base, slabs[i].len);
		atomic_fetch_sub_explicit(&stat_stack_bytes, slabs[i].len, memory_order_relaxed);
	}
	free(slabs);
	slabs = NULL;
	nslabs = slabcap = 0;
	for (int i = 0; i < nnodes; i++)
		free(nodes[i].pool);
	free(nodes);
	nodes = NULL;
	nnodes = 0;
	pthread_mutex_unlock(&stack_lock);
}

/* Whether MADV_GUARD_INSTALL really guards: qemu-user (7.2 at least)
 * answers it with 0 and installs nothing.  Have the kernel read the gap: a
 * real guard region makes that fail with EFAULT.  stack_lock held. */
static bool madvise_guard_real(const char *gap)
{
	static int verdict; /* 0 unknown, 1 real, -1 not */
	if (verdict == 0) {
		int fd[2];
		verdict = 1; /* cannot tell without a pipe: trust the kernel */
		if (pipe2(fd, O_CLOEXEC) == 0) {
			if (write(fd[1], gap, 1) >= 0)
				verdict = -1;
			close(fd[0]);
			close(fd[1]);
		}
	}
	return verdict > 0;
}

/* Protect the gap below a new stack.  stack_lock held. */
static uint8_t guard_locked(char *gap, size_t gap_len)
{
	for (;;) {
		int mode = atomic_load(&guard_mode);
		if (mode == NG_GUARD_MADVISE) {
			if (madvise(gap, gap_len, MADV_GUARD_INSTALL) == 0 &&
			    madvise_guard_real(gap))
				return NG_GUARD_MADVISE;
			/* older kernel (or an emulator that ignores it): fall back for
			 * good.  A guard that was installed stays, harmlessly. */
			/* older kernel: fall back for good */
			atomic_store(&guard_mode, NG_GUARD_MPROTECT);
			continue;
		}
		if (mode == NG_GUARD_MPROTECT) {
			if (mprotect_used < mprotect_budget &&
			    mprotect(gap, gap_len, PROT_NONE) == 0) {
				mprotect_used++;
				return NG_GUARD_MPROTECT;
			}
			/* budget spent (or mprotect refused): switch-out checks from now on */
			atomic_store(&guard_mode, NG_GUARD_CHECK);
			continue;
		}
		return NG_GUARD_CHECK;
	}
}

/* A stack or slab mapping.  NUMAGO_FAULT=mmap fails it as the kernel does
 * when the address space or vm.max_map_count runs out (ENOMEM); either way
 * the spawner gets -ENOMEM and nothing else changes. */
static char *stack_mmap(size_t len)
{
	if (ng_fault(NG_FAULT_MMAP)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
	            -1, 0);
}

static int carve_locked(ng_stack *out, int node)
{
	size_t slot = NG_GUARD_GAP + ng_stack_std_size;
	if (node >= nnodes)
		return -ENOMEM;
	node_stacks *nd = &nodes[node];
	if (nd->carve_left == 0) {
		if (nslabs == slabcap) {
			size_t cap = slabcap ? slabcap * 2 : 64;
			slab *ns = realloc(slabs, cap * sizeof *ns);
			if (ns == NULL)
				return -ENOMEM;
			slabs = ns;
			slabcap = cap;
		}
		size_t len = slot * SLAB_STACKS;
		char *base = stack_mmap(len);
		if (base == MAP_FAILED)
			return -ENOMEM;
		madvise(base, len, MADV_NOHUGEPAGE);
		ng_topo_place(base, len, node);
		slabs[nslabs].base = base;
		slabs[nslabs].len = len;
		nslabs++;
		atomic_fetch_add_explicit(&stat_stack_bytes, len, memory_order_relaxed);
		nd->carve_next = base;
		nd->carve_left = SLAB_STACKS;
	}
	char *gap = nd->carve_next;
	nd->carve_next += slot;
	nd->carve_left--;
	out->node = (uint16_t)node;
	out->lo = gap + NG_GUARD_GAP;
	out->hi = out->lo + ng_stack_std_size;
	out->guard = guard_locked(gap, NG_GUARD_GAP);
	out->pooled = 1;
	return 0;
}

int ng_stack_alloc(ng_p *p, size_t size, ng_stack *out)
{
	int node = p != NULL ? p->node : 0;
	if (size == ng_stack_std_size) {
		pthread_mutex_lock(&stack_lock);
		int rc = 0;
		if (node < nnodes && nodes[node].pool_n > 0)
			*out = nodes[node].pool[--nodes[node].pool_n];
		else
			rc = carve_locked(out, node);
		pthread_mutex_unlock(&stack_lock);
		if (rc == 0)
			atomic_fetch_add_explicit(&stat_stacks, 1, memory_order_relaxed);
		return rc;
	}
	size_t len = NG_GUARD_GAP + size;
	char *base = stack_mmap(len);
	if (base == MAP_FAILED)
		return -ENOMEM;
	madvise(base, len, MADV_NOHUGEPAGE);
	ng_topo_place(base, len, node);
	out->node = (uint16_t)node;
	out->lo = base + NG_GUARD_GAP;
	out->hi = out->lo + size;
	out->pooled = 0;
	pthread_mutex_lock(&stack_lock);
	out->guard = guard_locked(base, NG_GUARD_GAP);
	pthread_mutex_unlock(&stack_lock);
	atomic_fetch_add_explicit(&stat_stacks, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&stat_stack_bytes, len, memory_order_relaxed);
	return 0;
}

void ng_stack_free(ng_p *p, ng_stack *s)
{
	(void)p;
	if (s->lo == NULL)
		return;
	atomic_fetch_sub_explicit(&stat_stacks, 1, memory_order_relaxed);
	if (s->pooled) {
		pthread_mutex_lock(&stack_lock);
		if (nodes == NULL) { /* no pools (out of memory at init) */
			pthread_mutex_unlock(&stack_lock);
			s->lo = s->hi = NULL;
			return;
		}
		node_stacks *nd = &nodes[s->node < nnodes ? s->node : 0];
		if (nd->pool_n == nd->pool_cap) {
			size_t cap = nd->pool_cap ? nd->pool_cap * 2 : 256;
			ng_stack *np = realloc(nd->pool, cap * sizeof *np);
			if (np == NULL) {
				/* cannot track it: the slab still owns it, it is only lost
				 * for reuse until shutdown */
				pthread_mutex_unlock(&stack_lock);
				s->lo = s->hi = NULL;
				return;
			}
			nd->pool = np;
			nd->pool_cap = cap;
		}
		nd->pool[nd->pool_n++] = *s;
		pthread_mutex_unlock(&stack_lock);
	} else {
		pthread_mutex_lock(&stack_lock);
		if (s->guard == NG_GUARD_MPROTECT)
			mprotect_used--;
		pthread_mutex_unlock(&stack_lock);
		ng_asan_forget(s->lo, (size_t)(s->hi - s->lo));
		munmap(s->lo - NG_GUARD_GAP, (size_t)(s->hi - s->lo) + NG_GUARD_GAP);
		atomic_fetch_sub_explicit(&stat_stack_bytes, (size_t)(s->hi - s->lo) + NG_GUARD_GAP,
		                          memory_order_relaxed);
	}
	s->lo = s->hi = NULL;
}

void ng_stack_counts(int64_t *stacks, uint64_t *bytes)
{
	*stacks = atomic_load_explicit(&stat_stacks, memory_order_relaxed);
	*bytes = atomic_load_explicit(&stat_stack_bytes, memory_order_relaxed);
}

void ng_stack_release_pages(ng_stack *s)
{
	if (s->lo != NULL)
		madvise(s->lo, (size_t)(s->hi - s->lo), MADV_DONTNEED);
}

bool ng_stack_in_guard(const ng_stack *s, const void *addr)
{
	const char *a = addr;
	if (s->lo == NULL)
		return false;
	return a >= s->lo - NG_GUARD_GAP && a < s->lo;
}

/* --------------------------------------------------------------- report --- */

_Noreturn void ng_stack_overflow_fatal(const ng_g *g, const void *addr)
{
	char buf[512];
	ng_fmt f = {buf, sizeof buf, 0};
	fmt_s(&f, "numago: fatal error: stack overflow in goroutine ");
	fmt_u(&f, g->id);
	if (g->name != NULL) {
		fmt_s(&f, " \"");
		fmt_s(&f, g->name);
		fmt_s(&f, "\"");
	}
	if (g->file != NULL) {
		fmt_s(&f, " (created at ");
		fmt_s(&f, g->file);
		fmt_s(&f, ":");
		fmt_i(&f, g->line);
		fmt_s(&f, ")");
	}
	fmt_s(&f, ": it used up its ");
	fmt_u(&f, (uint64_t)(g->stack.hi - g->stack.lo));
	fmt_s(&f, "-byte stack (fault at ");
	fmt_x(&f, (uint64_t)(uintptr_t)addr);
	fmt_s(&f, g->stack.guard == NG_GUARD_CHECK ? ", found at switch-out" : ", guard page");
	fmt_s(&f, "); give it more with ng_go_attr.stack_size or ng_config.stack_size\n");
	fmt_flush(&f, 2);
	_exit(2);
}

static struct sigaction old_segv, old_bus;

static void segv_handler(int sig, siginfo_t *si, void *uc)
{
	ng_m *m = ng_tls_m;
	if (m != NULL) {
		/* after_g: the fault hit while ng_ctx_switch pushed its frame onto
		 * the G being switched out, execute() having made its successor
		 * curg already */
		ng_g *suspect[2] = {m->curg, m->after_g};
		for (int i = 0; i < 2; i++)
			if (suspect[i] != NULL &&
			    ng_stack_in_guard(&suspect[i]->stack, si->si_addr))
				ng_stack_overflow_fatal(suspect[i], si->si_addr);
	}
	/* Not a goroutine stack overflow: hand it to the previous handler. */
	struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction != NULL) {
		old->sa_sigaction(sig, si, uc);
		return;
	}
	if (old->sa_handler == SIG_IGN || old->sa_handler == SIG_DFL) {
		/* re-executing the faulting instruction takes the default action */
		sigaction(sig, old, NULL);
		return;
	}
	old->sa_handler(sig);
}

static void segv_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
}

void ng_stack_install_segv_handler(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, segv_install);
}

int ng_stack_altstack_setup(void **mem)
{
	void *p =
	    mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*mem = NULL;
		return -ENOMEM;
	}
	stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0) {
		munmap(p, ALTSTACK_SIZE);
		*mem = NULL;
		return -errno;
	}
	*mem = p;
	return 0;
}

void ng_stack_altstack_teardown(void *mem)
{
	if (mem == NULL)
		return;
	stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	munmap(mem, ALTSTACK_SIZE);
}
