/* tests/stress/stress_main.c — the ctest driver of the randomized program
 * checker (ngstress.h).
 *
 *   test_stress [--seeds N] [--first S] [--procs 1,2,8] [--slice NS] [--seed S]
 *               [--goroutines N] [--chans N] [--ops N] [--repeat N] [--from-bytes]
 *               [--self-test]
 *
 * Each seed's program runs with every Ps count of --procs under async
 * preemption every --slice ns (default 50 us), and once more with the first
 * Ps count and the default slice.  Quiet while everything holds; the first
 * violation prints the seed, the violation, the minimised program and the
 * command that reruns it, and the exit status is 1.  A run that neither
 * finishes nor reports a deadlock within the watchdog's time is a hang: the
 * goroutines are dumped and the exit status is 1 too.
 *
 * --seed S runs that one seed and prints its program; --repeat N runs each
 * seed and configuration N times (for failures that need a rare schedule).
 * --from-bytes decodes each seed's program with ngs_from_bytes from 0..255
 * pseudo-random bytes drawn from the seed (the fuzz target's path, short
 * inputs included).  NGSTRESS_GDB=1 adds every thread's stack (gdb) to a
 * hang report.  --self-test proves
 * the checker is not vacuous: for each way of corrupting the observations
 * (ngs_set_self_test) some seed among the first ones must be reported,
 * and must pass without the corruption. */
#define _GNU_SOURCE
#include "ngstress.h"

#include "tests/ng_test.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXPROCS 8

static char hang_msg[512];
static char gdb_pid[32];
static size_t hang_len;

static void on_alarm(int sig)
{
	(void)sig;
	int fd = ngs_real_stderr();
	ssize_t w = write(fd, hang_msg, hang_len);
	(void)w;
	ng_dump_goroutines(fd);
	static const char more[] = "its stderr so far:\n";
	w = write(fd, more, sizeof more - 1);
	ngs_dump_capture(fd);
	if (gdb_pid[0] != '\0') {
		/* NGSTRESS_GDB=1: every thread's stack, to see where a goroutine
		 * that never yields is spinning */
		pid_t pid = fork();
		if (pid == 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			execlp("gdb", "gdb", "-p", gdb_pid, "-batch", "-ex", "thread apply all bt",
			       (char *)NULL);
			_exit(127);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
	_exit(1);
}

/* numago's fatal errors abort while fd 2 is captured: show what the run
 * wrote, then die of the same signal */
static char crash_msg[512];
static size_t crash_len;

static void on_abort(int sig)
{
	int fd = ngs_real_stderr();
	ssize_t w = write(fd, crash_msg, crash_len);
	(void)w;
	ngs_dump_capture(fd);
	signal(sig, SIG_DFL);
	raise(sig);
}

static const char *argv0;
static ngs_params params;
static bool from_bytes;

static ngs_prog *make_prog(uint64_t seed)
{
	if (!from_bytes)
		return ngs_generate(seed, &params);
	uint8_t buf[256];
	uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t len = (size_t)(seed % 256);
	for (size_t i = 0; i < len; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		buf[i] = (uint8_t)s;
	}
	return ngs_from_bytes(buf, len);
}

static void rerun_cmd(char *buf, size_t len, uint64_t seed, int procs, int64_t slice)
{
	int n = snprintf(buf, len, "%s%s --seed %llu --procs %d --slice %lld", argv0,
	                 from_bytes ? " --from-bytes" : "", (unsigned long long)seed, procs,
	                 (long long)slice);
	if (params.max_goroutines || params.max_chans || params.max_ops)
		snprintf(buf + n, len - (size_t)n, " --goroutines %d --chans %d --ops %d",
		         params.max_goroutines, params.max_chans, params.max_ops);
}

static unsigned watchdog_s(void)
{
	/* a run takes milliseconds; sanitizers and a loaded 2-vCPU VM stretch
	 * that, a hang does not end at all */
	return NG_TEST_TSAN ? 120 : 60;
}

static int check_one(const ngs_prog *p, uint64_t seed, int procs, int64_t slice, char *why,
                     size_t whylen)
{
	char cmd[256];
	rerun_cmd(cmd, sizeof cmd, seed, procs, slice);
	int n = snprintf(hang_msg, sizeof hang_msg,
	                 "\nngstress: HANG: seed %llu, %d Ps, slice %lld ns: no result in %u s "
	                 "(neither finished nor a deadlock report)\nrerun: %s\ngoroutines:\n",
	                 (unsigned long long)seed, procs, (long long)slice, watchdog_s(), cmd);
	hang_len = n < 0 ? 0 : (size_t)n < sizeof hang_msg ? (size_t)n : sizeof hang_msg - 1;
	n = snprintf(crash_msg, sizeof crash_msg,
	             "\nngstress: CRASH: seed %llu, %d Ps, slice %lld ns\nrerun: %s\nits stderr:\n",
	             (unsigned long long)seed, procs, (long long)slice, cmd);
	crash_len = n < 0 ? 0 : (size_t)n < sizeof crash_msg ? (size_t)n : sizeof crash_msg - 1;
	alarm(watchdog_s());
	int rc = ngs_check(p, procs, slice, why, whylen);
	alarm(0);
	return rc;
}

static int fail(const ngs_prog *p, uint64_t seed, int procs, int64_t slice, const char *why)
{
	char cmd[256];
	rerun_cmd(cmd, sizeof cmd, seed, procs, slice);
	fprintf(stderr, "ngstress: FAILED: seed %llu, %d Ps, slice %lld ns:\n  %s\n",
	        (unsigned long long)seed, procs, (long long)slice, why);
	fprintf(stderr, "program:\n");
	ngs_print(p, stderr);
	fprintf(stderr, "minimising (each candidate run up to 4 times)...\n");
	fflush(stderr);
	alarm(0);
	ngs_prog *m = ngs_minimize(p, procs, slice);
	if (m != NULL) {
		fprintf(stderr, "minimised program:\n");
		ngs_print(m, stderr);
		char why2[1024];
		int bad = 0;
		for (int i = 0; i < 4 && !bad; i++)
			bad = ngs_check(m, procs, slice, why2, sizeof why2) != 0;
		if (bad)
			fprintf(stderr, "its violation: %s\n", why2);
		else
			fprintf(stderr, "(the minimised program passed 4 reruns: flaky)\n");
		ngs_free(m);
	}
	fprintf(stderr, "rerun: %s\n", cmd);
	return 1;
}

static int parse_procs(const char *s, int *out)
{
	int n = 0;
	while (*s && n < MAXPROCS) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > 256)
			return 0;
		out[n++] = (int)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return 0;
	}
	return n;
}

static int self_test(void)
{
	static const char *const what[] = {"",
	                                   "duplicated receive",
	                                   "dropped receive",
	                                   "reordered receives",
	                                   "miscounted mutex counter",
	                                   "bogus stuck goroutine"};
	int failed = 0;
	for (int mode = 1; mode <= 5; mode++) {
		uint64_t found = 0;
		char why[1024] = "";
		for (uint64_t seed = 1; seed <= 200 && !found; seed++) {
			ngs_prog *p = ngs_generate(seed, &params);
			CHECK(p != NULL);
			ngs_set_self_test(mode);
			if (check_one(p, seed, 2, 50000, why, sizeof why) != 0) {
				ngs_set_self_test(0);
				char clean[1024];
				/* the corruption, not the program, must be what was caught */
				int ok = 0;
				for (int i = 0; i < 3; i++)
					ok +=
					    check_one(p, seed, 2, 50000, clean, sizeof clean) == 0;
				if (ok == 3)
					found = seed;
				else
					fprintf(
					    stderr,
					    "self-test: seed %llu fails without corruption: %s\n",
					    (unsigned long long)seed, clean);
			}
			ngs_set_self_test(0);
			ngs_free(p);
		}
		if (found) {
			printf("self-test: %s caught (seed %llu): %s\n", what[mode],
			       (unsigned long long)found, why);
		} else {
			printf("self-test: %s NOT caught in 200 seeds\n", what[mode]);
			failed = 1;
		}
	}
	return failed;
}

int main(int argc, char **argv)
{
	argv0 = argv[0];
	long seeds = NG_TEST_TSAN ? 100 : 1000;
	uint64_t first = 1, one = 0;
	bool have_one = false, selftest = false;
	int procs[MAXPROCS] = {1, 2, 8}, nprocs = 3;
	int64_t slice = 50000;
	long repeat = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--self-test") == 0) {
			selftest = true;
			continue;
		}
		if (strcmp(a, "--from-bytes") == 0) {
			from_bytes = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "%s: %s needs a value\n", argv0, a);
			return 2;
		}
		i++;
		if (strcmp(a, "--seeds") == 0)
			seeds = strtol(v, NULL, 0);
		else if (strcmp(a, "--first") == 0)
			first = strtoull(v, NULL, 0);
		else if (strcmp(a, "--seed") == 0)
			one = strtoull(v, NULL, 0), have_one = true;
		else if (strcmp(a, "--slice") == 0)
			slice = strtoll(v, NULL, 0);
		else if (strcmp(a, "--procs") == 0)
			nprocs = parse_procs(v, procs);
		else if (strcmp(a, "--goroutines") == 0)
			params.max_goroutines = atoi(v);
		else if (strcmp(a, "--chans") == 0)
			params.max_chans = atoi(v);
		else if (strcmp(a, "--ops") == 0)
			params.max_ops = atoi(v);
		else if (strcmp(a, "--repeat") == 0)
			repeat = strtol(v, NULL, 0);
		else {
			fprintf(stderr,
			        "usage: %s [--seeds N] [--first S] [--procs 1,2,8] [--slice NS] "
			        "[--seed S] [--goroutines N] [--chans N] [--ops N] [--repeat N] "
			        "[--from-bytes] [--self-test]\n",
			        argv0);
			return 2;
		}
	}
	if (nprocs == 0 || seeds < 0 || repeat < 1) {
		fprintf(stderr, "%s: bad --procs, --seeds or --repeat\n", argv0);
		return 2;
	}
	if (getenv("NGSTRESS_GDB") != NULL && atoi(getenv("NGSTRESS_GDB")) != 0)
		snprintf(gdb_pid, sizeof gdb_pid, "%d", (int)getpid());
	signal(SIGALRM, on_alarm);
	signal(SIGABRT, on_abort);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (selftest)
		return self_test();
	if (have_one)
		first = one, seeds = 1;

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char why[2048];
	for (uint64_t seed = first; seed < first + (uint64_t)seeds; seed++) {
		ngs_prog *p = make_prog(seed);
		CHECK(p != NULL);
		if (have_one)
			ngs_print(p, stdout);
		/* the small slice on every Ps count, then the default slice */
		for (int k = 0; k <= nprocs; k++) {
			int np = procs[k < nprocs ? k : 0];
			int64_t sl = k < nprocs ? slice : 0;
			if (k == nprocs && slice == 0)
				break;
			bool ok = true;
			for (long r = 0; r < repeat && ok; r++)
				ok = check_one(p, seed, np, sl, why, sizeof why) == 0;
			if (ok) {
				if (have_one)
					printf("seed %llu, %d Ps, slice %lld ns: ok (%s)\n",
					       (unsigned long long)seed, np, (long long)sl,
					       ngs_last_deadlocked() ? "deadlock, verified"
					                             : "finished");
				continue;
			}
			int rc = fail(p, seed, np, sl, why);
			ngs_free(p);
			return rc;
		}
		ngs_free(p);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ngs_stats st;
	ngs_get_stats(&st);
	printf("ngstress: %ld seeds (%llu..%llu), %ld runs (%ld ended in a verified deadlock), "
	       "%.1f s; %ld values sent, %ld received, %ld left buffered, %ld -EPIPE results; "
	       "all invariants held:\n  %s\n",
	       seeds, (unsigned long long)first, (unsigned long long)(first + (uint64_t)seeds - 1),
	       st.runs, st.deadlocks, secs, st.sent, st.received, st.leftover, st.epipe,
	       ngs_invariants());
	return 0;
}
