/* numago — runtime statistics (and, with the perf issue, counter sources and
 * adaptive policies). */
#ifndef NUMAGO_PERF_H
#define NUMAGO_PERF_H

#include <stddef.h>
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
	/* steal attempts on a victim that took nothing (victims skipped
	 * because they looked idle are not attempts), in all and by the
	 * victim's distance */
	uint64_t failed_steals;
	uint64_t failed_steals_by_class[7];
	/* nanoseconds idle Ms holding this P spent spinning in the scheduler
	 * for work, from entering the spin loop to leaving it (found work or
	 * not); only spins with a budget (NUMAGO_DEBUG=spin=NS, or the
	 * adaptive one) are timed, not the single look of an M without one */
	uint64_t spin_ns;
	/* channel operations completed by code running on this P: elements
	 * sent and received (blocking, timed, try_ and select cases alike),
	 * and selects that ran a case.  An operation is counted where its
	 * element moves: a hand-off to a blocked receiver counts the send and
	 * that receive on the sender's P (and the other way round), a
	 * buffered one on its own P.  Not counted: operations that failed
	 * (-EAGAIN, -ETIMEDOUT, -EPIPE: closed, zero value received) and
	 * selects that ran none (-EAGAIN, -ETIMEDOUT) */
	uint64_t chan_sends;
	uint64_t chan_recvs;
	uint64_t chan_select;
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
	/* sums over the Ps of ng_proc_stats.runs and .parks */
	uint64_t switches;
	uint64_t parks;
	/* sums over the Ps (ng_proc_stats has what they count) */
	uint64_t failed_steals;
	uint64_t failed_steals_by_class[7];
	uint64_t spin_ns;
	/* the Ps' sums plus the operations of threads without a P (foreign
	 * threads, Ms in ng_block_enter): with none of those the totals equal
	 * the sums of ng_stats_proc */
	uint64_t chan_sends;
	uint64_t chan_recvs;
	uint64_t chan_select;
	/* offload (numago/offload.h): commands submitted, completed (either
	 * way), failed on the device, and waits that parked a goroutine */
	uint64_t offload_ops;
	uint64_t offload_done;
	uint64_t offload_failed;
	uint64_t offload_parks;
	/* Gauges: what is alive now, not counts since the start, so that a
	 * long run can tell a leak from churn.  Read racily like the rest
	 * (a goroutine between its exit and its stack's return to a free list,
	 * or the stacks whose pages an idle M is giving back, show up in
	 * stacks_in_use for a moment): exact once the runtime is quiescent. */
	int64_t goroutines_live; /* goroutines not yet finished (ng_num_goroutines) */
	/* stacks handed out by the stack allocator and not given back: those
	 * of live goroutines plus those dead goroutines keep for reuse (only
	 * odd-sized stacks go back at exit), so it follows the peak number of
	 * goroutines, not the current one */
	int64_t stacks_allocated;
	/* of those, the stacks not kept by a dead goroutine on a free list:
	 * equals goroutines_live at rest; more is a lost stack */
	int64_t stacks_in_use;
	/* address space mapped for stacks, guard gaps included: slabs of
	 * standard stacks (kept until shutdown) and odd-sized stacks */
	uint64_t stack_bytes_mapped;
	/* ng_timer records started and not stopped, plus ng_after timers not
	 * yet fired: the timers a program owns */
	int64_t timers_live;
	/* runtime timers in the Ps' heaps: the above plus sleeps, deadlines of
	 * blocking calls and contexts, and the runtime's own */
	int64_t timers_queued;
	/* channels made and not yet freed (the last reference released);
	 * every context holds one, ng_after and ng_timer_start make one */
	int64_t chans_live;
} ng_stats;
int ng_stats_read(ng_stats *out);

/* ---- hardware and software counters (perf/counters.c) ----
 *
 * Counter sources come in tiers, probed once when the runtime starts:
 *
 *   NG_COUNTERS_PAPI    PAPI hardware counters (PAPI_TOT_CYC, PAPI_TOT_INS
 *                       and a memory event where present), after a trial
 *                       start/read; an application that initialised PAPI
 *                       itself keeps it (numago neither initialises it again
 *                       nor shuts it down)
 *   NG_COUNTERS_PERF    raw perf_event hardware counters (cycles,
 *                       instructions, cache misses), user space only
 *   NG_COUNTERS_SW      software: perf_event task clock and context
 *                       switches plus the thread's CPU time
 *                       (CLOCK_THREAD_CPUTIME_ID); thread CPU time alone
 *                       where perf_event_open is refused
 *   NG_COUNTERS_NONE    runtime-internal statistics only: nothing is read
 *   NG_COUNTERS_REPLAY  recorded or synthetic samples from a file (tests)
 *
 * NUMAGO_COUNTERS selects: auto (default: PAPI, then perf_event hardware,
 * then software, the first that works), papi, perf or sw (that tier; one
 * warning and auto if it fails), none, require (auto, but the runtime does
 * not start, ng_run/ng_start return -ENODEV, unless a hardware tier works),
 * replay:PATH.  NUMAGO_DEBUG=counters=1 prints the probe's one line.
 *
 * Each M opens its counters on its own thread and reads them at scheduling
 * events (when it looks for work), at most once per NG_COUNTERS_PERIOD_NS;
 * never on a goroutine switch.  Values are cumulative since the M started
 * (thread_cpu_ns: since its thread started).
 *
 * Replay file: one sample per line, whitespace-separated unsigned numbers in
 * the order of the fields below (cycles instructions mem_stall
 * task_clock_ns ctx_switches thread_cpu_ns), and optionally valid (e.g.
 * 0x3f; default: all six fields); blank lines and lines starting with '#'
 * are skipped.  Every M reads the samples from the first, in order, one per
 * read (scheduler reads and ng_counters_read alike); past the last, reads
 * repeat the last sample. */
enum ng_counter_tier {
	NG_COUNTERS_NONE = 0,
	NG_COUNTERS_SW = 1,
	NG_COUNTERS_PERF = 2,
	NG_COUNTERS_PAPI = 3,
	NG_COUNTERS_REPLAY = 4,
};

/* ng_counter_sample.valid: the fields the active tier provides */
#define NG_CTR_CYCLES       (1u << 0)
#define NG_CTR_INSTRUCTIONS (1u << 1)
#define NG_CTR_MEM_STALL    (1u << 2)
#define NG_CTR_TASK_CLOCK   (1u << 3)
#define NG_CTR_CTX_SWITCHES (1u << 4)
#define NG_CTR_THREAD_CPU   (1u << 5)
#define NG_CTR_ALL          0x3fu

#define NG_COUNTERS_PERIOD_NS 100000 /* an M reads at most this often */

typedef struct ng_counter_sample {
	uint64_t cycles;        /* core cycles, user space */
	uint64_t instructions;  /* instructions retired, user space */
	uint64_t mem_stall;     /* memory-boundness: LLC misses (perf: cache
	                           misses; PAPI: PAPI_L3_TCM, else PAPI_RES_STL) */
	uint64_t task_clock_ns; /* perf_event task clock */
	uint64_t ctx_switches;  /* context switches of the M's thread */
	uint64_t thread_cpu_ns; /* CLOCK_THREAD_CPUTIME_ID */
	uint32_t valid;         /* NG_CTR_* bits: which fields are meaningful */
} ng_counter_sample;

/* The active tier (enum ng_counter_tier) of the running runtime, or -ESRCH
 * when none runs.  why (NULL or n == 0: not written) receives the probe's
 * one-line explanation, e.g. "software tier (task clock, context switches,
 * thread CPU time); PAPI: ...; perf_event hardware: ...". */
int ng_counters_tier(char *why, size_t n);

/* Read the calling M's counters now (from a goroutine).  Tier none: 0 with
 * valid == 0.  -EINVAL for NULL, -ESRCH outside a goroutine. */
int ng_counters_read(ng_counter_sample *out);

/* The calling goroutine's own counters, for one created with NG_GO_PROFILE:
 * the sum over all its runs so far, on whichever Ms they were, including
 * the current one (each run is bracketed by readings of its M's counters
 * at switch-in and when it stops, so other goroutines' work is not in it).
 * Tier none: 0 with valid == 0.  -EINVAL for NULL, -ESRCH outside a
 * goroutine, -ENOENT for a goroutine created without NG_GO_PROFILE.  Only
 * such goroutines pay (two counter reads per run); with the replay tier
 * their readings consume replay samples. */
int ng_counters_self(ng_counter_sample *out);

/* How often Ms read their counters (the rate limit's bookkeeping). */
typedef struct ng_counter_stats {
	uint64_t reads;       /* reads at scheduling events, all Ms */
	uint64_t events;      /* scheduling events that considered a read */
	uint64_t user_reads;  /* ng_counters_read calls */
	uint64_t ms;          /* Ms that opened counters */
	uint64_t max_m_reads; /* most reads at scheduling events by one M */
	uint64_t min_gap_ns;  /* shortest time between two such reads of one
	                         M (UINT64_MAX: no M read twice) */
} ng_counter_stats;
/* -EINVAL for NULL, -ESRCH when the runtime is not running. */
int ng_counters_stats(ng_counter_stats *out);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
