/* tests/stress/ngstress.h — randomized concurrent programs for numago,
 * generated from a seed (or from fuzz bytes), run under ng_run and checked
 * against a model of Go's channel, select, mutex and waitgroup semantics.
 *
 * A program is a small set of channels (caps 0..4), goroutines running
 * straight-line op lists (send, recv, try ops, select with disabled cases,
 * default and deadlines, close, timers, sleeps, mutex-protected counters,
 * waitgroups, context cancellation) whose results are logged and checked
 * after the run.  Everything is reproducible from the seed and params;
 * scheduling is not, so a failure is re-checked a few times when
 * minimising. */
#ifndef NGSTRESS_H
#define NGSTRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ngs_prog ngs_prog;

typedef struct ngs_params {
	int max_goroutines; /* 0: default */
	int max_chans;      /* 0: default */
	int max_ops;        /* per goroutine; 0: default */
} ngs_params;

/* A program from a seed; the same seed and params give the same program.
 * NULL on ENOMEM. */
ngs_prog *ngs_generate(uint64_t seed, const ngs_params *params);

/* Fuzz input -> a bounded program: any byte string decodes to a valid
 * program (short inputs give small ones).  Never NULL for any input except
 * ENOMEM. */
ngs_prog *ngs_from_bytes(const uint8_t *data, size_t len);

/* Runs p under ng_run with `procs` Ps and `time_slice` (ng_config.time_slice;
 * e.g. 50000 = 50 us to force lots of async preemption; 0: default) and
 * checks every invariant.  0: all held; -1: a violation, described in why
 * (NUL-terminated, truncated to whylen).
 *
 * Runs with cfg.deadlock = NG_DEADLOCK_RETURN and fd 2 redirected to a
 * temporary file for the duration of ng_run (the deadlock report is parsed
 * from it); the runtime must not be running already.  A thread the
 * runtime does not know holds off deadlock detection (core/sched.c: except,
 * in ASan/TSan builds, those present when ng_run boots, taken for the
 * sanitizer's), so with one (libFuzzer's RSS monitor in a build without
 * sanitizers) a program that deadlocks hangs instead.  Not reentrant. */
int ngs_check(const ngs_prog *p, int procs, int64_t time_slice, char *why, size_t whylen);

/* The smallest failing variant found by deleting goroutines and ops (delta
 * debugging), each candidate re-checked a few times.  A copy of p if nothing
 * smaller fails; NULL on ENOMEM. */
ngs_prog *ngs_minimize(const ngs_prog *p, int procs, int64_t time_slice);

/* A readable reproduction: the seed/params and the program listing. */
void ngs_print(const ngs_prog *p, FILE *f);

void ngs_free(ngs_prog *p);

/* ---- extras ---- */

/* The seed p was generated from (0 for ngs_from_bytes). */
uint64_t ngs_seed(const ngs_prog *p);

/* Number of goroutines and of ops in all, for reports. */
int ngs_goroutines(const ngs_prog *p);
int ngs_ops(const ngs_prog *p);

/* A one-line summary of the invariants ngs_check verifies. */
const char *ngs_invariants(void);

/* Self-test hook: a non-zero mode makes the next ngs_check runs corrupt
 * their own observations in a known way (1: duplicate a received value,
 * 2: drop a received value, 3: swap two ordered receives of one sender's values, 4: miscount
 * the mutex counter, 5: claim a stuck goroutine the model does not expect),
 * so a test can prove the checker notices.  0: off. */
void ngs_set_self_test(int mode);

/* The fd that reaches the real stderr while ngs_check has fd 2 redirected
 * to capture the deadlock report (2 otherwise), for a watchdog's signal
 * handler. */
int ngs_real_stderr(void);

/* Write what ngs_check has captured of fd 2 so far to fd (nothing outside
 * a check); async-signal-safe, for a handler of a fatal signal. */
void ngs_dump_capture(int fd);

/* Whether the last ngs_check's run ended in a (verified) deadlock rather
 * than with every goroutine finished. */
int ngs_last_deadlocked(void);

/* Totals over every ngs_check so far, to show the runs were not vacuous. */
typedef struct ngs_stats {
	long runs, deadlocks; /* ng_run calls; those that ended in a checked deadlock */
	long sent, received;  /* sends that returned 0; receives of a value */
	long leftover;        /* values still buffered at the end, drained by main */
	long epipe;           /* sends and receives that returned -EPIPE */
} ngs_stats;
void ngs_get_stats(ngs_stats *out);

#ifdef __cplusplus
}
#endif
#endif
