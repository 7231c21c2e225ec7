/* perf/counters.h — per-M counter state (perf/counters.c), for the policies
 * in perf/ that read it.  Private to the library. */
#ifndef NG_PERF_COUNTERS_H
#define NG_PERF_COUNTERS_H

#include "../core/internal.h"

#include <numago/perf.h>

#define NG_CTR_MAX_HW 3 /* cycles, instructions, memory event */
#define NG_CTR_MAX_SW 2 /* task clock, context switches */

/* One M's counters.  Everything but the atomics is touched only by the M's
 * own thread: a policy running on the M reads last, delta and delta_ns. */
typedef struct ng_mctr {
	int hw_fd[NG_CTR_MAX_HW]; /* perf_event hardware group (leader first), -1 */
	int hw_n;
	int sw_fd[NG_CTR_MAX_SW]; /* perf_event software group, -1 */
	int sw_n;
	int papi_es;       /* PAPI event set on this thread, -1: none */
	int papi_n;        /* events in it: cycles, instructions[, memory] */
	uint32_t valid;    /* NG_CTR_* bits this M provides */
	size_t replay_pos; /* next replay sample */
	/* the latest reading and what changed since the one before it */
	ng_counter_sample last;
	ng_counter_sample delta; /* valid: fields valid in both readings */
	int64_t last_ns;         /* ng_nanotime() of the latest reading, 0: none */
	int64_t delta_ns;        /* time between the two readings */
	/* last's cumulative values for schedtrace's column (owner writes,
	 * sysmon sums them) */
	_Atomic uint64_t pub_cycles, pub_instructions, pub_task_clock_ns, pub_ctx_switches,
	    pub_thread_cpu_ns;
	/* bookkeeping for ng_counters_stats (owner writes, anyone reads) */
	_Atomic uint64_t reads, events, min_gap_ns;
	int64_t last_poll_ns; /* latest read at a scheduling event */
	/* the NG_GO_PROFILE goroutine running on this M, and the reading at
	 * its switch-in (ng_prof_switch) */
	ng_g *prof_g;
	ng_counter_sample prof_start;
	struct ng_mctr *next; /* all of them, for the stats; freed at shutdown */
} ng_mctr;

/* A goroutine's own counters (NG_GO_PROFILE): the sum over its runs. */
typedef struct ng_gprof {
	ng_counter_sample acc;
} ng_gprof;

#endif
