/* NUMAGO_DEBUG=schedtrace=MS (perf/schedtrace.c): sysmon prints Go's
 * schedtrace line every MS milliseconds, plus numago's per-node column.
 *
 * A child process runs the runtime, 2 Ps with 20 ms traces, its stderr a
 * pipe we read:
 * first six goroutines computing 60 ms each (queues non-empty, Ps busy),
 * then main alone, asleep (every P idle).  Every line must parse in Go
 * 1.19's format with one queue length per P and node columns whose Ps add
 * up to gomaxprocs; lines come about every 20 ms, busy and idle alike (an
 * idle sysmon must not sleep through them); some line shows queued work,
 * some shows both Ps idle; the counter column names one tier throughout and
 * shows the computing Ms' CPU time (NUMAGO_COUNTERS=none: the tier only).
 * Without the key: no line at all.  With hwloc,
 * on a fake machine of two NUMA nodes with one PU each, each node column
 * holds one P. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000LL

static ng_waitgroup wg = NG_WAITGROUP_INIT;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void compute(void *arg)
{
	(void)arg;
	int64_t end = now_ns() + 60 * MS;
	volatile uint64_t x = 0;
	while (now_ns() < end)
		x++;
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_waitgroup_add(&wg, 6), 0);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(ng_go(compute, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	ng_sleep(120 * MS); /* idle: every P free */
	return 0;
}

/* Run the program in a child whose stderr is a pipe; return what it wrote
 * there.  Anything but schedtrace lines (a sanitizer's report, a runtime
 * message) is passed on to our stderr, and the child must exit 0. */
static char *run_captured(const char *debug)
{
	int fds[2];
	CHECK_EQ(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		close(fds[1]);
		if (debug != NULL)
			setenv("NUMAGO_DEBUG", debug, 1);
		else
			unsetenv("NUMAGO_DEBUG");
		ng_config cfg = {0};
		cfg.procs = 2;
		_exit(ng_run(&cfg, main_g, NULL) == 0 ? 0 : 1);
	}
	close(fds[1]);
	size_t cap = 1 << 16, len = 0;
	char *text = malloc(cap);
	CHECK(text != NULL);
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			text = realloc(text, cap);
			CHECK(text != NULL);
		}
		ssize_t r = read(fds[0], text + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		CHECK(r >= 0);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fds[0]);
	text[len] = '\0';
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	for (char *line = text; *line != '\0';) {
		char *nl = strchrnul(line, '\n');
		if (strncmp(line, "SCHED ", 6) != 0)
			fprintf(stderr, "child: %.*s\n", (int)(nl - line), line);
		line = *nl ? nl + 1 : nl;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return text;
}

typedef struct trace_line {
	long long ms;
	int procs, idle, threads, spinning, idlethreads, global;
	long long local; /* sum over the Ps */
	int nodes, max_node_procs;
	char tier[16];
	double cpu_ms; /* -1: no figures on this line */
} trace_line;

/* Parse one line; fails the test on anything malformed. */
static trace_line parse(const char *line)
{
	trace_line t;
	int used = 0;
	int n = sscanf(line,
	               "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
	               "idlethreads=%d runqueue=%d [%n",
	               &t.ms, &t.procs, &t.idle, &t.threads, &t.spinning, &t.idlethreads, &t.global,
	               &used);
	if (n != 7 || used == 0) {
		fprintf(stderr, "bad schedtrace line: %s\n", line);
		CHECK_EQ(n, 7);
	}
	if (t.procs != 2 || t.idle < 0 || t.idle > t.procs || t.threads < 1 || t.spinning < 0 ||
	    t.idlethreads < 0 || t.global < 0)
		fprintf(stderr, "bad schedtrace line: %s\n", line);
	CHECK_EQ(t.procs, 2);
	CHECK(t.idle >= 0 && t.idle <= t.procs);
	CHECK(t.threads >= 1 && t.spinning >= 0 && t.idlethreads >= 0 && t.global >= 0);
	const char *s = line + used;
	t.local = 0;
	for (int i = 0; i < t.procs; i++) {
		char *end;
		long long q = strtoll(s, &end, 10);
		CHECK(end != s && q >= 0 && q <= 257);
		t.local += q;
		s = end;
	}
	CHECK(strncmp(s, "] nodes=[", 9) == 0);
	s += 9;
	int node_procs = 0, node_idle = 0;
	t.nodes = 0;
	t.max_node_procs = 0;
	for (;;) {
		int node, procs, idle, w = 0;
		long long q;
		CHECK_EQ(
		    sscanf(s, "%d: procs=%d idle=%d runq=%lld%n", &node, &procs, &idle, &q, &w), 4);
		CHECK(procs >= 0 && idle >= 0 && idle <= procs && q >= 0);
		CHECK_EQ(node, t.nodes);
		t.nodes++;
		t.max_node_procs = procs > t.max_node_procs ? procs : t.max_node_procs;
		node_procs += procs;
		node_idle += idle;
		s += w;
		if (strncmp(s, ", ", 2) != 0)
			break;
		s += 2;
	}
	CHECK(strncmp(s, "] counters=[", 12) == 0);
	CHECK_EQ(node_procs, t.procs);
	s += 12;
	/* the tier, then (from the second line on, with a tier that reads)
	 * the Ms' CPU time and context switches since the previous line */
	size_t k = strcspn(s, ":]");
	CHECK(k > 0 && k < sizeof t.tier);
	memcpy(t.tier, s, k);
	t.tier[k] = '\0';
	s += k;
	t.cpu_ms = -1;
	if (*s == ':') {
		double ctxsw;
		int w = 0;
		CHECK_EQ(sscanf(s, ": cpu=%lfms/s ctxsw=%lf/s%n", &t.cpu_ms, &ctxsw, &w), 2);
		CHECK(t.cpu_ms >= 0 && ctxsw >= 0);
		s += w;
		if (strncmp(s, " ipc=", 5) == 0)
			s += 5 + strspn(s + 5, "0123456789.");
	}
	CHECK(strcmp(s, "]") == 0);
	return t;
}

int main(void)
{
	char *text = run_captured("schedtrace=20");
	int lines = 0, queued = 0, all_idle = 0, busy_cpu = 0;
	long long first = -1, last = -1;
	char tier[16] = "";
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "SCHED ", 6) != 0)
			continue; /* another message (there should be none) */
		trace_line t = parse(line);
		CHECK(t.ms >= last);
		if (first < 0)
			first = t.ms;
		last = t.ms;
		lines++;
		queued += t.local + t.global > 0;
		all_idle += t.idle == t.procs;
		busy_cpu += t.cpu_ms > 0;
		if (tier[0] == '\0')
			memcpy(tier, t.tier, sizeof tier);
		CHECK(strcmp(tier, t.tier) == 0); /* one tier per run */
	}
	free(text);
	CHECK(strcmp(tier, "sw") == 0 || strcmp(tier, "perf") == 0 || strcmp(tier, "papi") == 0);
	CHECK(busy_cpu >= 1); /* the computing Ms' CPU time shows */
	/* ~180 ms busy (6 x 60 ms on 2 Ps) + 120 ms idle at 20 ms a line */
	printf("schedtrace=20: %d lines over %lld ms, %d with queued goroutines, %d with every P "
	       "idle, counters=[%s] with CPU time on %d\n",
	       lines, last - first, queued, all_idle, tier, busy_cpu);
	CHECK(lines >= 6);
	CHECK(last - first >= 100);
	CHECK((last - first) / (lines - 1) <= 60); /* about 20 ms apart */
	CHECK(queued >= 1);
	CHECK(all_idle >= 2); /* lines keep coming while everything is idle */

	text = run_captured(NULL);
	CHECK(strstr(text, "SCHED ") == NULL);
	free(text);

	/* no counters: the column says so and has no figures */
	CHECK_EQ(setenv("NUMAGO_COUNTERS", "none", 1), 0);
	text = run_captured("schedtrace=20");
	CHECK_EQ(unsetenv("NUMAGO_COUNTERS"), 0);
	int none_lines = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "SCHED ", 6) != 0)
			continue;
		trace_line t = parse(line);
		CHECK(strcmp(t.tier, "none") == 0 && t.cpu_ms < 0);
		none_lines++;
	}
	CHECK(none_lines >= 6);
	free(text);

#if NG_TEST_HWLOC
	CHECK_EQ(setenv("NUMAGO_TOPOLOGY", "synthetic:numa:2 core:1 pu:1", 1), 0);
	text = run_captured("schedtrace=20"); /* the child inherits it */
	CHECK_EQ(unsetenv("NUMAGO_TOPOLOGY"), 0);
	char *line = strstr(text, "SCHED ");
	CHECK(line != NULL);
	*strchrnul(line, '\n') = '\0';
	trace_line t = parse(line);
	printf("two nodes: %s\n", line);
	CHECK_EQ(t.nodes, 2);
	CHECK_EQ(t.max_node_procs, 1);
	free(text);
#endif
	printf("ok\n");
	return 0;
}
