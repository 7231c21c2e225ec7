/* numago — runtime lifecycle and goroutines.
 *
 * Errors are negative errno values (0 is success); time is int64_t
 * nanoseconds of CLOCK_MONOTONIC.  See API.md for the contract. */
#ifndef NUMAGO_RUNTIME_H
#define NUMAGO_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Absolute deadlines (CLOCK_MONOTONIC ns) of blocking calls: wait forever. */
#ifndef NG_FOREVER
#define NG_FOREVER ((int64_t)-1)
#endif

#pragma GCC visibility push(default)

/* What the runtime does when every goroutine is blocked and nothing can
 * wake one (ng_config.deadlock). */
enum {
	NG_DEADLOCK_EXIT = 0,   /* print the report, exit(2) (Go's behaviour) */
	NG_DEADLOCK_RETURN = 1, /* print the report, ng_run returns -EDEADLK */
	NG_DEADLOCK_IGNORE = 2, /* no detection: wait forever */
};

typedef struct ng_config {
	int procs;            /* 0: auto (cpuset ∩ cgroup quota); env NUMAGO_PROCS wins */
	const char *topology; /* NULL: this machine; "synthetic:..." ; "xml:path" */
	size_t stack_size;    /* default stack for ng_go in bytes; 0: runtime default */
	int bind;             /* pin Ms to their P's PUs: 1 (default) or 0 */
	int64_t time_slice;   /* preemption slice in ns; 0: default (10 ms); < 0: no
	                         async preemption (numago calls still yield at the
	                         slice's end); 0 < slice < 20 us: -EINVAL */
	/* extensions (after the contract's fields) */
	int deadlock; /* NG_DEADLOCK_*; default NG_DEADLOCK_EXIT */
	int bind_set; /* 1: 'bind' was set explicitly (0 in a zeroed config
	                         means "default", which is bind = 1) */
	int locality; /* 0: topological victim order and binding (default);
	                 -1: topology-blind (random victims, no binding), for
	                 comparison; env NUMAGO_LOCALITY=0|1 wins */
} ng_config;          /* zero-initialised = all defaults; NULL allowed */

/* Boots the runtime, runs main_fn as goroutine 1 and returns its result, or
 * a negative errno if the runtime could not start (-EBUSY: already running)
 * or a deadlock was detected with NG_DEADLOCK_RETURN (-EDEADLK).  When
 * main_fn returns, the runtime shuts down: goroutines still blocked are
 * abandoned, as when a Go program's main returns. */
int ng_run(const ng_config *cfg, int (*main_fn)(void *), void *arg);

/* Embedding: start the Ps; the caller stays a foreign thread. */
int ng_start(const ng_config *cfg);
/* Wait until no goroutine is runnable or running, then shut down. */
int ng_stop(void);

/* Around a call that may block the OS thread (read(), a blocking MPI call,
 * clBuildProgram): the goroutine keeps its thread, but its P is handed to
 * another thread if the call lasts (sysmon looks every 20 us to 10 ms), so
 * the other goroutines keep running; ng_block_exit gets a P back, waiting
 * for one if all are busy.  Between the two the goroutine must not call
 * numago.  -EAGAIN from ng_block_enter: the bound on threads in blocking
 * calls (NUMAGO_DEBUG=maxblock=N, default 10000) is reached, and the call
 * should not be made now; -EINVAL: nested, or ng_block_exit without enter.
 * From a foreign thread both are no-ops returning 0. */
int ng_block_enter(void);
int ng_block_exit(void);

/* ---- goroutines ---- */

enum {
	NG_GO_PROFILE = 1u << 0,    /* per-goroutine counters (perf) */
	NG_GO_MIGRATABLE = 1u << 1, /* holds no TLS addresses or per-thread state
	                               across its compute loops: after a preemption
	                               signal it may resume on any thread (without
	                               it, it resumes on the thread it was on) */
};

typedef struct ng_go_attr {
	size_t stack_size; /* 0: default */
	const char *name;  /* shown in dumps, traces (not copied: keep it alive) */
	int numa_node;     /* -1: anywhere; else start on a P of that node */
	int proc;          /* -1: anywhere; else pinned to that P */
	unsigned flags;    /* NG_GO_* */
} ng_go_attr;

#define NG_GO_ATTR_INIT            \
	{                          \
		0, NULL, -1, -1, 0 \
	}

/* The functions take the creation site so dumps and deadlock reports can say
 * where a goroutine came from; the macros of the same names fill it in. */
int ng_go_at(void (*fn)(void *), void *arg, const char *file, int line);
int ng_go_attr_at(const ng_go_attr *attr, void (*fn)(void *), void *arg, const char *file,
                  int line);
int ng_go_copy_at(void (*fn)(void *), const void *arg, size_t size, const char *file, int line);

int ng_go(void (*fn)(void *), void *arg);
int ng_go_copy(void (*fn)(void *), const void *arg, size_t size);
#define ng_go(fn, arg) ng_go_at((fn), (arg), __FILE__, __LINE__)
/* A function named ng_go_attr would clash with the typedef of the same name,
 * so the call form is a function-like macro (it only expands before '('). */
#define ng_go_attr(attr, fn, arg) ng_go_attr_at((attr), (fn), (arg), __FILE__, __LINE__)
#define ng_go_copy(fn, arg, size) ng_go_copy_at((fn), (arg), (size), __FILE__, __LINE__)

void ng_yield(void);
_Noreturn void ng_exit(void); /* end the calling goroutine */
uint64_t ng_id(void);         /* 0 in a foreign thread */
int ng_procs(void);           /* number of Ps (0 when the runtime is not running) */
int ng_self_proc(void);       /* P of the calling goroutine, -1 in a foreign thread */

/* Write a dump of all goroutines (id, name, state, wait reason and for how
 * long, creation site) to fd.  Also done on SIGQUIT, after which the process
 * exits with status 2 as Go does.  Async-signal-safe. */
void ng_dump_goroutines(int fd);

/* Number of goroutines that have not yet finished. */
int64_t ng_num_goroutines(void);
/* Goroutine leak check (like go.uber.org/goleak): waits until every other
 * goroutine has either exited or is blocked (runnable ones get until
 * `settle_deadline` to finish; NG_FOREVER allowed), then writes one dump
 * line per goroutine still alive, other than the caller, to fd (-1: write
 * nothing) and returns how many there are. */
int64_t ng_leak_check(int fd, int64_t settle_deadline);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
