/* NUMAGO_FAULT=mmap and =thread (core/fault.h): what the user sees when a
 * goroutine stack cannot be mapped or an OS thread cannot be created.
 *
 *  - mmap: ng_go / ng_go_attr / ng_go_copy return -ENOMEM to the goroutine
 *    that asked, nothing is printed, the counts (ng_num_goroutines,
 *    ng_stats spawns and live goroutines) say only the spawns that worked
 *    happened, and spawns work again once mappings do.  ng_run whose main
 *    goroutine gets no stack returns -ENOMEM after one line.
 *  - thread at boot: ng_run and ng_start return -EAGAIN after one line,
 *    with no thread left behind, and the next ng_run works.
 *  - thread after boot: the work runs on the thread there is (a goroutine
 *    pinned to a P no M could be made for, a preempted compute loop, a
 *    goroutine in ng_block_enter), one line says so once, and a thread is
 *    added when creation works again.
 * Each case runs in a child process, whose whole output is compared. */
#include "ng_child.h"

#include "core/fault.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAIN_STACK                                                                      \
	"numago: cannot start: cannot allocate the main goroutine's stack (Cannot allocate " \
	"memory)\n"
#define LINE_BOOT_THREADS                                                                  \
	"numago: cannot start: cannot create the runtime's threads (Resource temporarily " \
	"unavailable)\n"
#define LINE_ADD_THREAD                                                                   \
	"numago: cannot add an OS thread (Resource temporarily unavailable): goroutines " \
	"keep running on the threads the runtime has\n"

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	CHECK(d != NULL);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void *nothing(void *arg)
{
	return arg;
}

/* The threads of the child before the runtime starts.  ThreadSanitizer
 * starts a helper thread of its own at a forked child's first
 * pthread_create: make that happen first. */
static int threads_base(void)
{
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, nothing, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	return threads_now();
}

static uint64_t stat_ms(void)
{
	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	return st.ms;
}

/* ------------------------------------------------------------------ mmap --- */

static ng_chan *gate;
static _Atomic int ran;

static void parked(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_chan_recv(gate, NULL), -EPIPE);
	atomic_fetch_add(&ran, 1);
}

static void parked_copy(void *arg)
{
	CHECK_EQ(*(int *)arg, 4242);
	parked(NULL);
}

static int mmap_main(void *arg)
{
	(void)arg;
	gate = ng_chan_make(0, 0);
	CHECK(gate != NULL);
	ng_stats st0;
	CHECK_EQ(ng_stats_read(&st0), 0);
	CHECK_EQ(ng_num_goroutines(), 1);
	CHECK_EQ(ng_fault_set("mmap"), 0);

	/* an odd-sized stack is a mapping of its own: the first one fails */
	ng_go_attr big = NG_GO_ATTR_INIT;
	big.stack_size = 256 << 10;
	CHECK_EQ(ng_go_attr(&big, parked, NULL), -ENOMEM);
	CHECK_EQ(ng_fault_count(NG_FAULT_MMAP), 1);
	CHECK_EQ(ng_num_goroutines(), 1);

	/* standard stacks come from slabs: spawns work until the slab is
	 * used up, then the next mapping fails */
	int ok = 0, rc;
	while ((rc = ng_go(parked, NULL)) == 0 && ok < 1000)
		ok++;
	CHECK_EQ(rc, -ENOMEM);
	CHECK(ok >= 1 && ok <= 64); /* one slab at most (main's, if on its node) */
	CHECK_EQ(ng_fault_count(NG_FAULT_MMAP), 2);
	int v = 4242;
	CHECK_EQ(ng_go_copy(parked_copy, &v, sizeof v), -ENOMEM);
	CHECK_EQ(ng_go(parked, NULL), -ENOMEM);
	CHECK_EQ(ng_fault_count(NG_FAULT_MMAP), 4);
	ng_yield();
	/* no half-made goroutine: the counts are the spawns that worked */
	CHECK_EQ(ng_num_goroutines(), 1 + ok);
	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	CHECK_EQ(st.spawns - st0.spawns, (uint64_t)ok);
	CHECK_EQ(st.goroutines_live, 1 + ok);
	CHECK_EQ(st.stacks_allocated - st0.stacks_allocated, ok);

	/* mappings work again: so do spawns, of every kind */
	CHECK_EQ(ng_fault_set(NULL), 0);
	CHECK_EQ(ng_go_attr(&big, parked, NULL), 0);
	CHECK_EQ(ng_go_copy(parked_copy, &v, sizeof v), 0);
	for (int i = 0; i < 100; i++)
		CHECK_EQ(ng_go(parked, NULL), 0);
	CHECK_EQ(ng_num_goroutines(), 1 + ok + 102);
	CHECK_EQ(ng_chan_close(gate), 0);
	while (atomic_load(&ran) != ok + 102)
		ng_sleep(100000);
	while (ng_num_goroutines() != 1)
		ng_yield();
	ng_chan_release(gate);
	printf("mmap: %d spawns before the slab ran out\n", ok);
	return 0;
}

static int ret7(void *arg)
{
	(void)arg;
	return 7;
}

static int child_mmap(void *arg)
{
	(void)arg;
	ng_config cfg = {.procs = 2};
	CHECK_EQ(ng_run(&cfg, mmap_main, NULL), 0);
	return 0;
}

/* The main goroutine's stack: NUMAGO_FAULT at boot, then a clean run. */
static int child_mmap_boot(void *arg)
{
	(void)arg;
	ng_config cfg = {.procs = 2};
	int before = threads_base();
	CHECK_EQ(ng_run(&cfg, ret7, NULL), -ENOMEM);
	CHECK_EQ(ng_fault_count(NG_FAULT_MMAP), 1);
	CHECK_EQ(threads_now(), before);
	unsetenv("NUMAGO_FAULT");
	CHECK_EQ(ng_fault_set(NULL), 0);
	CHECK_EQ(ng_run(&cfg, ret7, NULL), 7);
	return 0;
}

/* ---------------------------------------------------------- thread: boot --- */

static int started_main(void *arg)
{
	(void)arg;
	return 0;
}

static _Atomic int foreign_ran;
static void foreign_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&foreign_ran, 1);
}

static int child_thread_boot(void *arg)
{
	(void)arg;
	ng_config cfg = {.procs = 2};
	int before = threads_base();
	/* call 0 is sysmon's thread */
	CHECK_EQ(ng_fault_set("thread"), 0);
	CHECK_EQ(ng_run(&cfg, ret7, NULL), -EAGAIN);
	CHECK_EQ(threads_now(), before);
	/* sysmon made, then the M for main, twice (its spawn's wake and the
	 * boot's own attempt) */
	CHECK_EQ(ng_fault_set("thread@1x2"), 0);
	CHECK_EQ(ng_run(&cfg, ret7, NULL), -EAGAIN);
	CHECK_EQ(ng_fault_count(NG_FAULT_THREAD), 2);
	CHECK_EQ(threads_now(), before);
	/* one failure, then the boot's attempt works: no word of it */
	CHECK_EQ(ng_fault_set("thread@1x1"), 0);
	CHECK_EQ(ng_run(&cfg, ret7, NULL), 7);
	CHECK_EQ(ng_fault_count(NG_FAULT_THREAD), 1);
	/* ng_start: sysmon, then its first M */
	CHECK_EQ(ng_fault_set("thread@1x1"), 0);
	CHECK_EQ(ng_start(&cfg), -EAGAIN);
	CHECK_EQ(ng_procs(), 0);
	CHECK_EQ(threads_now(), before);
	CHECK_EQ(ng_go(foreign_fn, NULL), -ESRCH); /* nothing running */
	CHECK_EQ(ng_fault_set(NULL), 0);
	CHECK_EQ(ng_start(&cfg), 0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(ng_go(foreign_fn, NULL), 0);
	CHECK_EQ(ng_stop(), 0);
	CHECK_EQ(atomic_load(&foreign_ran), 10);
	CHECK_EQ(ng_run(&cfg, started_main, NULL), 0);
	CHECK_EQ(threads_now(), before);
	printf("boot: ok\n");
	return 0;
}

/* ---------------------------------------------------- thread: after boot --- */

static void chatter(void *arg)
{
	ng_chan *c = arg;
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(ng_chan_send(c, &i), 0);
}

static _Atomic int pinned_on = -1;
static void pinned(void *arg)
{
	atomic_store(&pinned_on, ng_self_proc());
	ng_waitgroup_done(arg);
}

static _Atomic int64_t spun;
static void compute(void *arg)
{
	/* past several 1 ms slices, with no numago call: the preemption
	 * signal stops it, and with no M to hand its P to it resumes here */
	int64_t end = ng_now() + 30000000;
	volatile uint64_t x = 0;
	while (ng_now() < end)
		x++;
	atomic_store(&spun, (int64_t)x);
	ng_waitgroup_done(arg);
}

static int after_main(void *arg)
{
	(void)arg;
	/* armed before ng_run with @2 (sysmon and main's M made): the spinner
	 * main's M would wake failed already, so no M but this one exists */
	CHECK_EQ(stat_ms(), 1);
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	/* a goroutine pinned to P 1, which has no M and gets none made */
	ng_go_attr on1 = NG_GO_ATTR_INIT;
	on1.proc = 1;
	ng_waitgroup_add(&wg, 1);
	CHECK_EQ(ng_go_attr(&on1, pinned, &wg), 0);
	/* ping-pong between goroutines, and a compute loop */
	ng_chan *c = ng_chan_make(sizeof(int), 0);
	for (int k = 0; k < 4; k++)
		CHECK_EQ(ng_go(chatter, c), 0);
	ng_waitgroup_add(&wg, 1);
	CHECK_EQ(ng_go(compute, &wg), 0);
	long sum = 0;
	for (int i = 0; i < 4000; i++) {
		int v;
		CHECK_EQ(ng_chan_recv(c, &v), 0);
		sum += v;
	}
	CHECK_EQ(sum, 4L * 999 * 1000 / 2);
	ng_waitgroup_wait(&wg);
	CHECK_EQ(atomic_load(&pinned_on), 1);
	CHECK(atomic_load(&spun) > 0);
	CHECK(ng_fault_count(NG_FAULT_THREAD) >= 1);
	CHECK_EQ(stat_ms(), 1); /* nothing added */
	/* creation works again: within sysmon's back-off (at most 100 ms) a
	 * wake adds an M */
	CHECK_EQ(ng_fault_set(NULL), 0);
	int64_t until = ng_now() + 2000000000;
	while (stat_ms() < 2 && ng_now() < until) {
		for (int k = 0; k < 4; k++)
			CHECK_EQ(ng_go(chatter, c), 0);
		for (int i = 0; i < 4000; i++)
			CHECK_EQ(ng_chan_recv(c, NULL), 0);
		ng_sleep(5000000);
	}
	CHECK(stat_ms() >= 2);
	ng_chan_release(c);
	printf("after boot: ok\n");
	return 0;
}

static int child_thread_after(void *arg)
{
	(void)arg;
	ng_config cfg = {.procs = 2, .time_slice = 1000000};
	CHECK_EQ(ng_fault_set("thread@2"), 0);
	CHECK_EQ(ng_run(&cfg, after_main, NULL), 0);
	return 0;
}

/* A goroutine in ng_block_enter holds the only M; the goroutine that would
 * end its call waits on the P that could not be handed on.  With creation
 * failing a few times the retries get the thread; with it failing for good
 * the call ends by itself (a foreign thread) and everything still runs. */
static int pfd[2];

static void writer(void *arg)
{
	(void)arg;
	CHECK_EQ(write(pfd[1], "x", 1), 1);
}

static void blocked_reader(void *arg)
{
	char ch;
	CHECK_EQ(ng_block_enter(), 0);
	ssize_t r;
	do
		r = read(pfd[0], &ch, 1);
	while (r < 0 && errno == EINTR);
	CHECK_EQ(ng_block_exit(), 0);
	CHECK_EQ(r, 1);
	CHECK_EQ(ch, 'x');
	ng_waitgroup_done(arg);
}

static void *late_writer(void *arg)
{
	(void)arg;
	usleep(200000);
	CHECK_EQ(write(pfd[1], "x", 1), 1);
	return NULL;
}

static int block_main(void *arg)
{
	const char *spec = arg;
	CHECK_EQ(pipe(pfd), 0);
	CHECK_EQ(stat_ms(), 1);
	CHECK_EQ(ng_fault_set(spec), 0);
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	ng_waitgroup_add(&wg, 1);
	pthread_t t;
	bool forever = strcmp(spec, "thread") == 0;
	if (forever)
		CHECK_EQ(pthread_create(&t, NULL, late_writer, NULL), 0);
	CHECK_EQ(ng_go(blocked_reader, &wg), 0);
	ng_yield(); /* the reader blocks on this M */
	if (!forever)
		CHECK_EQ(ng_go(writer, NULL), 0);
	ng_waitgroup_wait(&wg);
	if (forever) {
		CHECK_EQ(pthread_join(t, NULL), 0);
		CHECK_EQ(stat_ms(), 1);
	} else {
		CHECK_EQ(ng_fault_count(NG_FAULT_THREAD), 3);
		CHECK(stat_ms() >= 2);
	}
	close(pfd[0]);
	close(pfd[1]);
	printf("block %s: ok\n", spec);
	return 0;
}

static int child_block(void *arg)
{
	ng_config cfg = {.procs = 1};
	CHECK_EQ(ng_run(&cfg, block_main, arg), 0);
	return 0;
}

/* ------------------------------------------------------------------ main --- */

static void expect(int (*fn)(void *), void *arg, const char *env, const char *want)
{
	static ng_child c;
	ng_child_run(&c, fn, arg, env != NULL ? "NUMAGO_FAULT" : NULL, env, 30);
	CHECK_CHILD(&c, want, ng_child_exited_with(&c, 0));
	CHECK_CHILD(&c, want, strcmp(c.out, want) == 0);
}

int main(void)
{
	static ng_child c;
	/* the mmap run's count depends on the slab size: compare the rest */
	ng_child_run(&c, child_mmap, NULL, NULL, NULL, 30);
	CHECK_CHILD(&c, "mmap", ng_child_exited_with(&c, 0));
	CHECK_CHILD(&c, "mmap", ng_lines_starting(c.out, "mmap: ") == 1);
	CHECK_CHILD(&c, "mmap",
	            strncmp(c.out, "mmap: ", 6) == 0 && strchr(c.out, '\n') != NULL &&
	                strchr(c.out, '\n')[1] == '\0');

	expect(child_mmap_boot, NULL, "mmap", LINE_MAIN_STACK);
	expect(child_thread_boot, NULL, NULL,
	       LINE_BOOT_THREADS LINE_BOOT_THREADS LINE_BOOT_THREADS "boot: ok\n");
	expect(child_thread_after, NULL, NULL, LINE_ADD_THREAD "after boot: ok\n");
	expect(child_block, "threadx3", NULL, LINE_ADD_THREAD "block threadx3: ok\n");
	expect(child_block, "thread", NULL, LINE_ADD_THREAD "block thread: ok\n");
	printf("test_fault_core: ok\n");
	return 0;
}
