/* Counter sources (perf/counters.c, NUMAGO_COUNTERS): each part runs the
 * runtime in a child process with its own environment, its stderr captured.
 *
 *   auto      the tier follows from what this machine has, decided here by
 *             opening a perf_event hardware counter ourselves: without one
 *             the software tier, and the reason names PAPI and perf_event;
 *             with one a hardware tier.  NUMAGO_DEBUG=counters=1 prints
 *             exactly one "numago: counters:" line, the same text.
 *   require   without hardware counters ng_run returns -ENODEV after one
 *             line naming both reasons; with them it runs.
 *   none      tier none: ng_counters_read gives valid == 0; no M reads.
 *   sw        thread CPU time and task clock grow by >= 10 ms while a
 *             goroutine computes for 20 ms (of its thread's CPU time, as
 *             CLOCK_THREAD_CPUTIME_ID in the goroutine says); context
 *             switches grow across sleeps that park the only M.
 *   replay    samples from a file come back in the file's order (after the
 *             few the M took at scheduling events before main ran), then
 *             the last one repeats; valid defaults to all fields.
 *   ratelimit 2 Ps ping-pong for 200 ms: Ms read at scheduling events, never
 *             two reads of one M closer than NG_COUNTERS_PERIOD_NS, at most
 *             elapsed / period + 2 per M, fewer reads than events.
 *   papi      the program initialises PAPI before ng_run: the runtime runs,
 *             the tier is as under auto, and PAPI is still initialised after
 *             ng_run returns (without PAPI built in: "PAPI: not built in").
 *   bad       NUMAGO_COUNTERS=bogus warns and runs auto; replay of a missing
 *             or malformed file: ng_run returns -EINVAL after one line.
 *   api       outside the runtime: -ESRCH; NULL: -EINVAL. */
#define _GNU_SOURCE
#include "ng_child.h"
#include "perf_probe.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if NG_TEST_PAPI
#include <papi.h>
#endif

#define MS 1000000LL

static bool hw_perf; /* perf_event hardware counters work here */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* Run fn in a child with NUMAGO_COUNTERS=counters (NULL: unset) and
 * NUMAGO_DEBUG=counters=1; it must exit 0. */
static ng_child child;
static const char *child_counters;
static int (*child_fn)(void);

static int child_trampoline(void *arg)
{
	(void)arg;
	if (child_counters != NULL)
		setenv("NUMAGO_COUNTERS", child_counters, 1);
	else
		unsetenv("NUMAGO_COUNTERS");
	return child_fn();
}

static void run_child(const char *name, const char *counters, int (*fn)(void))
{
	child_counters = counters;
	child_fn = fn;
	ng_child_run(&child, child_trampoline, NULL, "NUMAGO_DEBUG", "counters=1", 60);
	if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0) {
		fprintf(stderr, "%s: child failed (status %#x); its output:\n%s\n", name,
		        child.status, child.out);
		CHECK(0);
	}
	printf("%s: ok\n%s", name, child.out);
}

static int expected_auto_tier(void)
{
	return hw_perf ? -1 : NG_COUNTERS_SW; /* -1: a hardware tier */
}

static void check_auto_tier(int tier, const char *why)
{
	if (hw_perf) {
		CHECK(tier == NG_COUNTERS_PERF || tier == NG_COUNTERS_PAPI);
	} else {
		CHECK_EQ(tier, NG_COUNTERS_SW);
		CHECK(strstr(why, "software tier") == why);
		CHECK(strstr(why, "PAPI") != NULL);
		CHECK(strstr(why, "perf_event") != NULL);
	}
}

/* ---- auto */

static char why_g[512];
static int tier_g;

static int tier_main(void *arg)
{
	(void)arg;
	tier_g = ng_counters_tier(why_g, sizeof why_g);
	return 0;
}

static int auto_child(void)
{
	CHECK_EQ(ng_run(NULL, tier_main, NULL), 0);
	check_auto_tier(tier_g, why_g);
	printf("tier %d why [%s]\n", tier_g, why_g);
	return 0;
}

/* ---- require */

static int require_child(void)
{
	int rc = ng_run(NULL, tier_main, NULL);
	if (hw_perf) {
		CHECK_EQ(rc, 0);
		CHECK(tier_g == NG_COUNTERS_PERF || tier_g == NG_COUNTERS_PAPI);
	} else {
		CHECK_EQ(rc, -ENODEV);
	}
	return 0;
}

/* ---- none */

static int none_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_counters_tier(why_g, sizeof why_g), NG_COUNTERS_NONE);
	CHECK(strstr(why_g, "runtime-internal only") != NULL);
	ng_counter_sample s;
	memset(&s, 0xff, sizeof s);
	CHECK_EQ(ng_counters_read(&s), 0);
	CHECK_EQ(s.valid, 0);
	CHECK_EQ(s.cycles, 0);
	CHECK_EQ(s.thread_cpu_ns, 0);
	for (int i = 0; i < 5; i++)
		ng_sleep(1 * MS);
	ng_counter_stats st;
	CHECK_EQ(ng_counters_stats(&st), 0);
	CHECK_EQ(st.reads, 0);
	CHECK_EQ(st.ms, 0);
	CHECK_EQ(st.user_reads, 1);
	return 0;
}

static int none_child(void)
{
	CHECK_EQ(ng_run(NULL, none_main, NULL), 0);
	return 0;
}

/* ---- sw */

static int sw_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_counters_tier(why_g, sizeof why_g), NG_COUNTERS_SW);
	CHECK(strstr(why_g, "NUMAGO_COUNTERS=sw") != NULL);
	ng_counter_sample a, b, c;
	CHECK_EQ(ng_counters_read(&a), 0);
	uint32_t want = NG_CTR_TASK_CLOCK | NG_CTR_CTX_SWITCHES | NG_CTR_THREAD_CPU;
	if (strstr(why_g, "thread CPU time only") != NULL)
		want = NG_CTR_THREAD_CPU; /* perf_event_open refused here */
	CHECK_EQ(a.valid, want);
	/* sleeps: the only M parks in the kernel each time */
	for (int i = 0; i < 5; i++)
		CHECK_EQ(ng_sleep(2 * MS), 0);
	CHECK_EQ(ng_counters_read(&b), 0);
	printf("cs %llu -> %llu, task %llu -> %llu\n", (unsigned long long)a.ctx_switches,
	       (unsigned long long)b.ctx_switches, (unsigned long long)a.task_clock_ns,
	       (unsigned long long)b.task_clock_ns);
	if (want & NG_CTR_CTX_SWITCHES)
		CHECK(b.ctx_switches > a.ctx_switches);
	/* compute for 20 ms of this thread's CPU time (the goroutine runs on
	 * the M's thread; a loaded machine stretches the wall time) */
	int64_t cpu0 = thread_cpu(), deadline = now_ns() + 10000 * MS;
	volatile uint64_t x = 0;
	while (thread_cpu() < cpu0 + 20 * MS && now_ns() < deadline)
		x++;
	CHECK_EQ(ng_counters_read(&c), 0);
	printf("cpu %+.2f ms task %+.2f ms cs %+lld\n",
	       (double)(c.thread_cpu_ns - b.thread_cpu_ns) / 1e6,
	       (double)(c.task_clock_ns - b.task_clock_ns) / 1e6,
	       (long long)(b.ctx_switches - a.ctx_switches));
	CHECK(c.thread_cpu_ns >= b.thread_cpu_ns + 10 * MS);
	if (want & NG_CTR_TASK_CLOCK)
		CHECK(c.task_clock_ns >= b.task_clock_ns + 10 * MS);
	CHECK_EQ(c.cycles, 0); /* not a field of this tier */
	/* one M: every read above was of the same thread's counters */
	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	CHECK_EQ(st.ms, 1);
	return 0;
}

static int sw_child(void)
{
	setenv("NUMAGO_PROCS", "1", 1);
	setenv("NUMAGO_DEBUG", "counters=1,asyncpreemptoff=1", 1); /* stays on its M */
	CHECK_EQ(ng_run(NULL, sw_main, NULL), 0);
	return 0;
}

/* ---- replay */

#define NREPLAY 10
static char replay_path[] = "/tmp/ng_test_counters_XXXXXX";

static void write_replay(void)
{
	int fd = mkstemp(replay_path);
	CHECK(fd >= 0);
	FILE *f = fdopen(fd, "w");
	CHECK(f != NULL);
	fprintf(f, "# cycles instructions mem_stall task_clock_ns ctx_switches thread_cpu_ns "
	           "[valid]\n\n");
	for (int i = 0; i < NREPLAY; i++) {
		uint64_t k = (uint64_t)i + 1;
		if (i == 3) /* valid given: cycles and instructions only */
			fprintf(f, "  %llu\t%llu %llu %llu %llu %llu 0x3\n",
			        (unsigned long long)(1000 * k), (unsigned long long)(2000 * k),
			        (unsigned long long)(10 * k), (unsigned long long)(100000 * k),
			        (unsigned long long)k, (unsigned long long)(90000 * k));
		else
			fprintf(f, "%llu %llu %llu %llu %llu %llu\n",
			        (unsigned long long)(1000 * k), (unsigned long long)(2000 * k),
			        (unsigned long long)(10 * k), (unsigned long long)(100000 * k),
			        (unsigned long long)k, (unsigned long long)(90000 * k));
	}
	CHECK_EQ(fclose(f), 0);
}

static int replay_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_counters_tier(why_g, sizeof why_g), NG_COUNTERS_REPLAY);
	CHECK(strstr(why_g, "10 samples") != NULL);
	ng_counter_sample s;
	CHECK_EQ(ng_counters_read(&s), 0);
	/* the M read at scheduling events before main ran: a few at most */
	int first = (int)(s.cycles / 1000) - 1;
	printf("first sample main read: %d\n", first);
	CHECK(first >= 0 && first <= 3);
	for (int i = first;; i++) {
		if (i > first)
			CHECK_EQ(ng_counters_read(&s), 0);
		int j = i < NREPLAY ? i : NREPLAY - 1; /* past the end: the last */
		uint64_t k = (uint64_t)j + 1;
		CHECK_EQ(s.cycles, 1000 * k);
		CHECK_EQ(s.instructions, 2000 * k);
		CHECK_EQ(s.mem_stall, 10 * k);
		CHECK_EQ(s.task_clock_ns, 100000 * k);
		CHECK_EQ(s.ctx_switches, k);
		CHECK_EQ(s.thread_cpu_ns, 90000 * k);
		CHECK_EQ(s.valid, j == 3 ? 0x3u : NG_CTR_ALL);
		if (i == NREPLAY + 2)
			break;
	}
	return 0;
}

static int replay_child(void)
{
	setenv("NUMAGO_PROCS", "1", 1);
	CHECK_EQ(ng_run(NULL, replay_main, NULL), 0);
	return 0;
}

/* ---- ratelimit */

static int64_t t_boot;

static void pong(void *arg)
{
	ng_chan **ch = arg;
	int v;
	while (ng_chan_recv(ch[0], &v) == 0)
		CHECK_EQ(ng_chan_send(ch[1], &v), 0);
	ng_chan_close(ch[1]);
}

static int rate_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_counters_tier(NULL, 0), NG_COUNTERS_SW);
	enum { PAIRS = 4 };
	ng_chan *ch[PAIRS][2];
	for (int p = 0; p < PAIRS; p++) {
		ch[p][0] = ng_chan_make(sizeof(int), 0);
		ch[p][1] = ng_chan_make(sizeof(int), 0);
		CHECK(ch[p][0] != NULL && ch[p][1] != NULL);
		CHECK_EQ(ng_go(pong, ch[p]), 0);
	}
	int64_t end = now_ns() + 200 * MS;
	long rounds = 0;
	while (now_ns() < end) {
		for (int p = 0; p < PAIRS; p++)
			CHECK_EQ(ng_chan_send(ch[p][0], &p), 0);
		for (int p = 0; p < PAIRS; p++) {
			int v;
			CHECK_EQ(ng_chan_recv(ch[p][1], &v), 0);
			CHECK_EQ(v, p);
		}
		rounds++;
	}
	ng_counter_stats st;
	CHECK_EQ(ng_counters_stats(&st), 0);
	int64_t elapsed = now_ns() - t_boot;
	uint64_t bound = (uint64_t)(elapsed / NG_COUNTERS_PERIOD_NS) + 2;
	printf("rounds %ld elapsed %.1f ms: Ms %llu reads %llu (max per M %llu, bound %llu) events "
	       "%llu min gap %llu ns\n",
	       rounds, (double)elapsed / 1e6, (unsigned long long)st.ms,
	       (unsigned long long)st.reads, (unsigned long long)st.max_m_reads,
	       (unsigned long long)bound, (unsigned long long)st.events,
	       (unsigned long long)st.min_gap_ns);
	CHECK(rounds > 0);
	CHECK(st.ms >= 1);
	CHECK(st.max_m_reads >= 2); /* Ms read at scheduling events */
	CHECK(st.max_m_reads <= bound);
	CHECK(st.reads <= st.ms * bound);
	CHECK(st.min_gap_ns >= NG_COUNTERS_PERIOD_NS);
	CHECK(st.events > st.reads); /* the limit held some back */
	CHECK_EQ(st.user_reads, 0);
	for (int p = 0; p < PAIRS; p++) {
		ng_chan_close(ch[p][0]);
		int v;
		while (ng_chan_recv(ch[p][1], &v) == 0)
			;
		ng_chan_release(ch[p][0]);
		ng_chan_release(ch[p][1]);
	}
	return 0;
}

static int rate_child(void)
{
	setenv("NUMAGO_PROCS", "2", 1);
	t_boot = now_ns();
	CHECK_EQ(ng_run(NULL, rate_main, NULL), 0);
	return 0;
}

/* ---- papi */

static int papi_child(void)
{
#if NG_TEST_PAPI
	CHECK_EQ(PAPI_is_initialized(), PAPI_NOT_INITED);
	CHECK_EQ(PAPI_library_init(PAPI_VER_CURRENT), PAPI_VER_CURRENT);
	CHECK_EQ(ng_run(NULL, tier_main, NULL), 0);
	check_auto_tier(tier_g, why_g);
	if (tier_g == NG_COUNTERS_PAPI)
		CHECK(strstr(why_g, "the application's PAPI") != NULL);
	CHECK(PAPI_is_initialized() != PAPI_NOT_INITED); /* not shut down */
	/* and a second run in the same process */
	CHECK_EQ(ng_run(NULL, tier_main, NULL), 0);
	check_auto_tier(tier_g, why_g);
	CHECK(PAPI_is_initialized() != PAPI_NOT_INITED);
	PAPI_shutdown();
#else
	CHECK_EQ(ng_run(NULL, tier_main, NULL), 0);
	CHECK(strstr(why_g, "PAPI: not built in") != NULL);
#endif
	return 0;
}

/* ---- bad values */

static int bogus_child(void)
{
	CHECK_EQ(ng_run(NULL, tier_main, NULL), 0);
	check_auto_tier(tier_g, why_g);
	return 0;
}

static int einval_child(void)
{
	CHECK_EQ(ng_run(NULL, tier_main, NULL), -EINVAL);
	CHECK_EQ(ng_counters_tier(NULL, 0), -ESRCH);
	return 0;
}

/* ---- api */

static int api_child(void)
{
	ng_counter_sample s;
	ng_counter_stats st;
	CHECK_EQ(ng_counters_read(&s), -ESRCH);
	CHECK_EQ(ng_counters_read(NULL), -EINVAL);
	CHECK_EQ(ng_counters_tier(why_g, sizeof why_g), -ESRCH);
	CHECK_EQ(ng_counters_stats(&st), -ESRCH);
	CHECK_EQ(ng_counters_stats(NULL), -EINVAL);
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	hw_perf = probe_hw_perf();
	printf("perf_event hardware counters here: %s (auto expects tier %d)\n",
	       hw_perf ? "yes" : "no", expected_auto_tier());

	run_child("auto", NULL, auto_child);
	CHECK_EQ(count_of(child.out, "numago: counters: "), 1);
	CHECK(strstr(child.out, "numago: counters: ") == child.out); /* the first line */
	{
		/* the line says what ng_counters_tier says */
		char line[600];
		const char *nl = strchr(child.out, '\n');
		CHECK(nl != NULL);
		snprintf(line, sizeof line, "%.*s", (int)(nl - child.out), child.out);
		const char *w = strstr(child.out, "why [");
		CHECK(w != NULL);
		CHECK(strncmp(w + 5, line + strlen("numago: counters: "),
		              strlen(line) - strlen("numago: counters: ")) == 0);
		fprintf(stderr, "init line: %s\n", line);
	}

	run_child("require", "require", require_child);
	if (!hw_perf) {
		CHECK_EQ(count_of(child.out,
		                  "numago: NUMAGO_COUNTERS=require: no hardware counters ("
		                  "PAPI"),
		         1);
		CHECK(strstr(child.out, "; perf_event hardware: ") != NULL);
		CHECK_EQ(count_of(child.out, "numago: counters: "), 0); /* it did not start */
	}

	run_child("none", "none", none_child);
	CHECK_EQ(count_of(child.out, "numago: counters: runtime-internal only"), 1);

	run_child("sw", "sw", sw_child);
	CHECK_EQ(count_of(child.out, "numago: counters: software tier"), 1);

	write_replay();
	char spec[64];
	snprintf(spec, sizeof spec, "replay:%s", replay_path);
	run_child("replay", spec, replay_child);
	CHECK_EQ(count_of(child.out, "numago: counters: replay tier (10 samples from"), 1);

	run_child("ratelimit", "sw", rate_child);

	run_child("papi", "auto", papi_child);
	CHECK_EQ(count_of(child.out, "numago: counters: "), NG_TEST_PAPI ? 2 : 1); /* one a run */

	run_child("bogus", "bogus", bogus_child);
	CHECK_EQ(count_of(child.out, "numago: NUMAGO_COUNTERS='bogus' is not"), 1);
	CHECK_EQ(count_of(child.out, "numago: counters: "), 1);

	run_child("replay-missing", "replay:/nonexistent/counters.txt", einval_child);
	CHECK_EQ(count_of(child.out,
	                  "numago: NUMAGO_COUNTERS=replay:/nonexistent/counters.txt: No such file"),
	         1);
	CHECK_EQ(count_of(child.out, "numago: counters: "), 0);

	/* malformed: a line with 5 numbers */
	FILE *f = fopen(replay_path, "w");
	CHECK(f != NULL);
	fprintf(f, "1 2 3 4 5 6\n1 2 3 4 5\n");
	CHECK_EQ(fclose(f), 0);
	run_child("replay-malformed", spec, einval_child);
	CHECK(strstr(child.out, ":2: expected 6 or 7 unsigned numbers") != NULL);
	f = fopen(replay_path, "w"); /* empty */
	CHECK(f != NULL);
	CHECK_EQ(fclose(f), 0);
	run_child("replay-empty", spec, einval_child);
	CHECK(strstr(child.out, ": no samples") != NULL);
	unlink(replay_path);

	run_child("api", NULL, api_child);
	printf("test_counters: ok\n");
	return 0;
}
