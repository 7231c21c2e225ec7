/* numago — runtime statistics (and, with the perf issue, counter sources and
 * adaptive policies). */
#ifndef NUMAGO_PERF_H
#define NUMAGO_PERF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* Per-P scheduler counters since the runtime started.  Counters are kept by
 * the P's owner without atomics and read racily: exact once the runtime is
 * quiescent, approximate while it runs. */
typedef struct ng_proc_stats {
	uint64_t runs;        /* goroutines switched to on this P */
	uint64_t spawns;      /* goroutines created by code running on this P */
	uint64_t steals;      /* successful steal operations by this P */
	uint64_t stolen;      /* goroutines taken by those steals */
	uint64_t global_gets; /* batches taken from the global queue */
	uint64_t parks;       /* times an M gave this P up and went idle */
	/* steals by this P, by the victim's distance (enum ng_dist_class) */
	uint64_t steals_by_class[7];
} ng_proc_stats;

/* Fill *out for P number proc.  -EINVAL for a bad proc or NULL out, -ESRCH
 * when the runtime is not running. */
int ng_stats_proc(int proc, ng_proc_stats *out);

/* Process-wide totals. */
typedef struct ng_stats {
	uint64_t spawns;     /* goroutines created (all threads) */
	uint64_t ms;         /* OS threads (Ms) created */
	uint64_t m_wakes;    /* futex wakes of idle Ms */
	uint64_t steals;     /* sum over Ps */
	uint64_t global_put; /* goroutines put on the global queue */
	/* steal census: successful steals by distance between thief and
	 * victim (enum ng_dist_class in numago/topology.h) */
	uint64_t steals_by_class[7];
	uint64_t sysmon_wakes; /* idle Ps woken by sysmon for a hand-off whose
	                          readier kept running */
	uint64_t retakes;      /* Ps taken by sysmon from Ms in blocking calls */
	/* preemption: slices sysmon found overrun (requests, repeated each
	 * tick until honoured), goroutines stopped by the signal, stopped at
	 * a numago call, and signals that landed where stopping is unsafe
	 * (libc, numago itself: retried) */
	uint64_t preempt_requests;
	uint64_t preempt_async;
	uint64_t preempt_coop;
	uint64_t preempt_deferred;
} ng_stats;
int ng_stats_read(ng_stats *out);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
