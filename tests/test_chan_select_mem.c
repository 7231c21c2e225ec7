/* Go's test/chan/select2.go: selects do not consume undue memory.  After a
 * warm-up round, a second round of 100,000 selects (a sender goroutine, the
 * receiver selecting between the sender's channel and a dummy) may grow the
 * heap by at most Go's 1.1e5 bytes.  The same holds for selects with a
 * deadline that a value beats (the deadline's timer must go away) and for
 * selects and receives whose deadline passes.
 *
 * The heap is measured as the allocator sees it: mallinfo2 (all arenas) in
 * plain builds, the sanitizer allocator's count under ASan and TSan.  Plain
 * builds also check the resident set, which would catch memory the runtime
 * maps for itself per operation (sanitizer builds keep freed memory in
 * quarantine, so their RSS says nothing). */
#define _GNU_SOURCE
#include "chan_util.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* from <sanitizer/allocator_interface.h>, which not every compiler ships */
size_t __sanitizer_get_current_allocated_bytes(void);
#define NG_TEST_SANITIZER 1
static long heap_in_use(void)
{
	return (long)__sanitizer_get_current_allocated_bytes();
}
#else
#define NG_TEST_SANITIZER 0
static long heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return (long)(mi.uordblks + mi.hblkhd);
}
#endif

static long rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	CHECK(f != NULL);
	CHECK_EQ(fscanf(f, "%ld %ld", &size, &resident), 2);
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

#define NSEL       100000
#define MAX_GROWTH 110000 /* Go: 1.1e5 bytes */

static ng_chan *c, *dummy;

typedef struct sender_job {
	int n;
	ng_waitgroup *wg;
} sender_job;

static void sender(void *arg)
{
	sender_job *j = arg;
	for (int i = 0; i < j->n; i++)
		send_int(c, 1);
	ng_waitgroup_done(j->wg);
}

static void receiver(int n, int64_t deadline_ns)
{
	for (int i = 0; i < n; i++) {
		int v;
		ng_case cs[2] = {NG_RECV_CASE(c, &v), NG_RECV_CASE(dummy, &v)};
		int64_t deadline = deadline_ns < 0 ? NG_FOREVER : ng_now() + deadline_ns;
		int idx = ng_select(cs, 2, deadline);
		if (idx != 0)
			fprintf(stderr, "select2: dummy (select returned %d)\n", idx);
		CHECK_EQ(idx, 0);
	}
}

static void round_trip(int n, int64_t deadline_ns)
{
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	GO(sender, (sender_job){n, &wg});
	receiver(n, deadline_ns);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
}

static void timeouts(int n)
{
	for (int i = 0; i < n; i++) {
		int v;
		ng_case cs[2] = {NG_RECV_CASE(c, &v), NG_RECV_CASE(dummy, &v)};
		CHECK_EQ(ng_select(cs, 2, ng_now() + 2 * US), -ETIMEDOUT);
		CHECK_EQ(ng_chan_recv_until(dummy, &v, ng_now() + 2 * US), -ETIMEDOUT);
		CHECK_EQ(ng_chan_send_until(dummy, &v, ng_now() + 2 * US), -ETIMEDOUT);
	}
}

static void check_growth(const char *what, long heap0, long rss0, int n)
{
	long heap = heap_in_use() - heap0, rss = rss_bytes() - rss0;
	printf("%s: heap grew by %ld bytes, RSS by %ld bytes over %d operations\n", what, heap, rss,
	       n);
	if (heap > MAX_GROWTH)
		fprintf(stderr, "BUG: too much memory for %d selects: %ld\n", n, heap);
	CHECK(heap <= MAX_GROWTH);
	if (!NG_TEST_SANITIZER)
		CHECK(rss <= 16 * MAX_GROWTH);
}

static int test_main(void *arg)
{
	(void)arg;
	c = chan_make(sizeof(int), 0);
	dummy = chan_make(sizeof(int), 0);

	/* warm up */
	round_trip(NSEL, -1);
	long heap0 = heap_in_use(), rss0 = rss_bytes();
	/* second time shouldn't increase footprint by much */
	round_trip(NSEL, -1);
	check_growth("select2", heap0, rss0, NSEL);

	round_trip(NSEL, SEC);
	heap0 = heap_in_use(), rss0 = rss_bytes();
	round_trip(NSEL, SEC);
	check_growth("selects beating their deadline", heap0, rss0, NSEL);

	const int nt = NG_TEST_SCALE(10000, 3000);
	timeouts(nt);
	heap0 = heap_in_use(), rss0 = rss_bytes();
	timeouts(nt);
	check_growth("operations timing out", heap0, rss0, 3 * nt);

	ng_chan_release(c);
	ng_chan_release(dummy);
	return 0;
}

/* This test hung once in a clean-clone CI run under ASan (after the first
 * round, not reproduced since): well before ctest's timeout, have numago
 * dump every goroutine (its SIGQUIT handler) so a hang says where. */
static void on_alarm(int sig)
{
	(void)sig;
	raise(SIGQUIT);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, on_alarm);
	alarm(50); /* ctest allows 60 s (240 s under the sanitizers); normal runs: 2-7 s */
	CHECK_EQ(ng_run(NULL, test_main, NULL), 0);
	printf("ok\n");
	return 0;
}
