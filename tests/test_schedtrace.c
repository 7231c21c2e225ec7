/* NUMAGO_DEBUG=schedtrace=MS (perf/schedtrace.c): sysmon prints Go's
 * schedtrace line every MS milliseconds, plus numago's per-node column.
 *
 * stderr goes to a file while the runtime runs 2 Ps with 20 ms traces:
 * first six goroutines computing 60 ms each (queues non-empty, Ps busy),
 * then main alone, asleep (every P idle).  Every line must parse in Go
 * 1.19's format with one queue length per P and node columns whose Ps add
 * up to gomaxprocs; lines come about every 20 ms, busy and idle alike (an
 * idle sysmon must not sleep through them); some line shows queued work,
 * some shows both Ps idle.  Without the key: no line at all.  With hwloc,
 * on a fake machine of two NUMA nodes with one PU each, each node column
 * holds one P. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

/* Run the program with stderr in a file; return the file's text. */
static char *run_captured(const char *debug)
{
	char path[] = "/tmp/ng_schedtrace_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	CHECK(saved >= 0);
	CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	if (debug != NULL)
		CHECK_EQ(setenv("NUMAGO_DEBUG", debug, 1), 0);
	else
		CHECK_EQ(unsetenv("NUMAGO_DEBUG"), 0);
	ng_config cfg = {0};
	cfg.procs = 2;
	int rc = ng_run(&cfg, main_g, NULL);
	fflush(stderr);
	CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);
	CHECK_EQ(rc, 0);
	off_t size = lseek(fd, 0, SEEK_END);
	CHECK(size >= 0);
	char *text = calloc((size_t)size + 1, 1);
	CHECK(text != NULL);
	CHECK_EQ(pread(fd, text, (size_t)size, 0), (ssize_t)size);
	close(fd);
	return text;
}

typedef struct trace_line {
	long long ms;
	int procs, idle, threads, spinning, idlethreads, global;
	long long local; /* sum over the Ps */
	int nodes, max_node_procs;
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
	CHECK(strcmp(s, "]") == 0);
	CHECK_EQ(node_procs, t.procs);
	return t;
}

int main(void)
{
	char *text = run_captured("schedtrace=20");
	int lines = 0, queued = 0, all_idle = 0;
	long long first = -1, last = -1;
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
	}
	free(text);
	/* ~180 ms busy (6 x 60 ms on 2 Ps) + 120 ms idle at 20 ms a line */
	printf("schedtrace=20: %d lines over %lld ms, %d with queued goroutines, %d with every P "
	       "idle\n",
	       lines, last - first, queued, all_idle);
	CHECK(lines >= 6);
	CHECK(last - first >= 100);
	CHECK((last - first) / (lines - 1) <= 60); /* about 20 ms apart */
	CHECK(queued >= 1);
	CHECK(all_idle >= 2); /* lines keep coming while everything is idle */

	text = run_captured(NULL);
	CHECK(strstr(text, "SCHED ") == NULL);
	free(text);

#if NG_TEST_HWLOC
	CHECK_EQ(setenv("NUMAGO_TOPOLOGY", "synthetic:numa:2 core:1 pu:1", 1), 0);
	text = run_captured("schedtrace=20");
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
