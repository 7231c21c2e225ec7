/* perf/schedtrace.c — NUMAGO_DEBUG=schedtrace=MS: Go's schedtrace line.
 *
 * Every MS milliseconds sysmon prints one line to stderr, Go 1.19's format
 * first so tools that read GODEBUG=schedtrace output read ours:
 *
 *   SCHED 1004ms: gomaxprocs=2 idleprocs=1 threads=4 spinningthreads=0
 *   idlethreads=1 runqueue=0 [0 3] nodes=[0: procs=2 idle=1 runq=3]
 *   counters=[sw: cpu=812.4ms/s ctxsw=35/s]
 *
 * (one line).  threads counts Ms (sysmon not included), idlethreads the Ms
 * parked with no P, runqueue the global queue, [...] each P's local queue
 * with its runnext; numago adds per NUMA node its Ps, idle Ps and queued
 * goroutines, and the counter tier (perf/counters.c) with the Ms' CPU time,
 * context switches and, with hardware counters, instructions per cycle
 * since the previous line.  A snapshot taken while the scheduler runs, each field exact
 * on its own; only the M counts need the scheduler lock, as in Go. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../core/internal.h"

#define S ng_sched_g

static int64_t trace_start;

void ng_schedtrace_start(int64_t now)
{
	trace_start = now;
}

/* Append to buf at *len, never past n (a line that does not fit is cut). */
static void add(char *buf, size_t n, size_t *len, const char *fmt, ...)
{
	if (*len >= n)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(buf + *len, n - *len, fmt, ap);
	va_end(ap);
	if (w > 0)
		*len = *len + (size_t)w < n ? *len + (size_t)w : n;
}

static uint32_t p_queued(ng_p *p)
{
	uint32_t head = atomic_load_explicit(&p->runqhead, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&p->runqtail, memory_order_acquire);
	uint32_t n = tail - head;
	if (n > NG_RUNQ_SIZE) /* head moved between the loads */
		n = NG_RUNQ_SIZE;
	return n + (atomic_load_explicit(&p->runnext, memory_order_relaxed) != NULL);
}

static bool p_idle(ng_p *p)
{
	return atomic_load_explicit(&p->m, memory_order_relaxed) == NULL;
}

void ng_schedtrace(int64_t now)
{
	/* 4096 Ps fit at about 6 bytes each, and nodes after them */
	size_t n = 256 + (size_t)S.nprocs * 12 + (size_t)ng_topo_node_count() * 48;
	char *buf = malloc(n);
	if (buf == NULL)
		return;
	/* the M counts are kept under the scheduler lock */
	pthread_mutex_lock(&S.lock);
	int threads = S.mcount, idlethreads = S.nmidle;
	pthread_mutex_unlock(&S.lock);
	if (threads == 0) {
		/* Still booting: sysmon starts before the first M (ng_run makes
		 * it after spawning main, which under TSan took over 20 ms the
		 * first time, registering the SDE events).  Go has m0 from the
		 * start and never prints threads=0. */
		free(buf);
		return;
	}
	size_t len = 0;
	add(buf, n, &len,
	    "SCHED %lldms: gomaxprocs=%d idleprocs=%d threads=%d spinningthreads=%d "
	    "idlethreads=%d runqueue=%d [",
	    (long long)((now - trace_start) / 1000000), S.nprocs,
	    (int)atomic_load_explicit(&S.npidle, memory_order_relaxed), threads,
	    (int)atomic_load_explicit(&S.nmspinning, memory_order_relaxed), idlethreads,
	    (int)atomic_load_explicit(&S.runqsize, memory_order_relaxed));
	for (int i = 0; i < S.nprocs; i++)
		add(buf, n, &len, i ? " %u" : "%u", p_queued(S.allp[i]));
	add(buf, n, &len, "] nodes=[");
	int nodes = ng_topo_node_count();
	for (int node = 0; node < nodes; node++) {
		int procs = 0, idle = 0;
		uint64_t queued = 0;
		for (int i = 0; i < S.nprocs; i++) {
			if (ng_topo_p_node(i) != node)
				continue;
			procs++;
			idle += p_idle(S.allp[i]);
			queued += p_queued(S.allp[i]);
		}
		add(buf, n, &len, "%s%d: procs=%d idle=%d runq=%llu", node ? ", " : "", node, procs,
		    idle, (unsigned long long)queued);
	}
	char ctr[160];
	ng_counters_trace_column(ctr, sizeof ctr, now);
	add(buf, n, &len, "]%s\n", ctr);
	if (len == n) /* cut: still end the line */
		buf[n - 1] = '\n';
	/* one write: lines from several processes (MPI ranks) stay whole */
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
	free(buf);
}
