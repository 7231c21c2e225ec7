/* A goroutine's stack, once unmapped, leaves nothing behind for whoever
 * maps that range next.
 *
 * A goroutine that ends through ng_exit() never returns from the frames it
 * is in, so ASan's redzone poison for them stays in the shadow.  When the
 * runtime unmaps the stack (a non-default size, or every slab at the end of
 * ng_run) and somebody else maps the range outside ASan's allocator (a
 * driver's mmap: PoCL's, in test_cl_kchan), an intercepted memcpy or memset
 * into it found that poison: a false "stack-buffer-underflow" at exit.
 * Here: a goroutine on a 1 MiB stack (unmapped alone) and one on the
 * default stack (in a slab) die inside a frame with a poisoned array,
 * ng_run returns, the pages of each frame are mapped again with
 * MAP_FIXED_NOREPLACE and memset through libc.  Under the asan preset the
 * memset is checked against the shadow; elsewhere the test still checks
 * the range was given back and is usable. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static _Atomic uintptr_t frame_at[2]; /* written by the dying goroutines */

static __attribute__((noinline)) void die_here(int i)
{
	char buf[200]; /* an array: ASan puts redzones around it */
	memset(buf, 1, sizeof buf);
	frame_at[i] = (uintptr_t)buf;
	ng_exit();
}

static void doomed(void *arg)
{
	die_here((int)(intptr_t)arg);
}

static int main_fn(void *arg)
{
	(void)arg;
	ng_go_attr at = {0};
	at.stack_size = 1u << 20;
	CHECK_EQ(ng_go_attr(&at, doomed, (void *)0), 0);
	CHECK_EQ(ng_go(doomed, (void *)1), 0);
	while (frame_at[0] == 0 || frame_at[1] == 0)
		ng_yield();
	ng_sleep(1000000); /* it is gone once it stops running */
	return 0;
}

static void check_reuse(uintptr_t at, const char *what)
{
	long pg = sysconf(_SC_PAGESIZE);
	/* The pages under the array and its redzones (ASan's are 32 bytes):
	 * the stack's neighbours may be mapped again already. */
	uintptr_t lo = (at - 32) & ~(uintptr_t)(pg - 1);
	uintptr_t hi = (at + 200 + 32 + (uintptr_t)pg - 1) & ~(uintptr_t)(pg - 1);
	size_t len = hi - lo;
	void *p = mmap((void *)lo, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		fprintf(stderr, "%s: mmap at %#lx: %s\n", what, (unsigned long)lo, strerror(errno));
	CHECK(p == (void *)lo); /* ng_run gave the stack back */
	memset(p, 0xab, len);
	CHECK_EQ(((unsigned char *)p)[at - lo], 0xab);
	munmap(p, len);
	printf("test_stack_unmap: %s: the dead goroutine's stack maps and fills cleanly\n", what);
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_fn, NULL), 0);
	check_reuse(frame_at[0], "1 MiB stack");
	check_reuse(frame_at[1], "default stack (slab)");
	return 0;
}
