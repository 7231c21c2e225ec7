/* core/runtime.c — boot and shutdown, configuration, environment.
 *
 * ng_run's caller becomes a foreign thread that sleeps until the main
 * goroutine returns (or a deadlock is declared); all goroutines run on Ms the
 * runtime creates on demand, so the caller's stack, signal mask and TLS never
 * host a goroutine.  The runtime can be started again after it stops (tests
 * and benchmarks boot it many times in one process). */
#define _GNU_SOURCE
#include "fault.h"
#include "internal.h"
#include "../perf/sde.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S ng_sched_g

ng_debug ng_debug_g;
uint64_t ng_fpctl_default;
static pthread_mutex_t boot_lock = PTHREAD_MUTEX_INITIALIZER;

#define NG_TIME_SLICE_DEFAULT_NS 10000000 /* Go's forcePreemptNS */

void ng_fatal(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "numago: fatal error: %s\n", buf);
	fflush(stderr);
	abort();
}

void ng_warn(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "numago: %s\n", buf);
}

static int64_t spin_override = -1;

/* NUMAGO_DEBUG=key=value,key=value */
static void parse_debug(void)
{
	memset(&ng_debug_g, 0, sizeof ng_debug_g);
	spin_override = -1;
	const char *env = getenv("NUMAGO_DEBUG");
	if (env == NULL || *env == '\0')
		return;
	char *copy = strdup(env);
	if (copy == NULL)
		return;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		const char *val = eq ? eq + 1 : "1";
		if (eq)
			*eq = '\0';
		if (strcmp(tok, "stackguard") == 0) {
			if (strcmp(val, "madvise") == 0)
				ng_debug_g.stackguard = NG_GUARD_MADVISE;
			else if (strcmp(val, "mprotect") == 0)
				ng_debug_g.stackguard = NG_GUARD_MPROTECT;
			else if (strcmp(val, "check") == 0)
				ng_debug_g.stackguard = NG_GUARD_CHECK;
			else
				ng_warn(
				    "NUMAGO_DEBUG: stackguard must be madvise, mprotect or check, "
				    "not '%s'",
				    val);
		} else if (strcmp(tok, "bootthreads") == 0) {
			/* e.g. under qemu-user, whose own threads would otherwise
			 * keep the deadlock detector silent */
			ng_debug_g.boot_threads_inert = strcmp(val, "inert") == 0;
		} else if (strcmp(tok, "cgroot") == 0) {
			/* read /proc/self/cgroup, mountinfo and the cgroup files
			 * under this directory, on any topology (tests) */
			snprintf(ng_debug_g.cgroot, sizeof ng_debug_g.cgroot, "%s", val);
		} else if (strcmp(tok, "maxblock") == 0) {
			ng_debug_g.max_blocked = (int)strtol(val, NULL, 10);
		} else if (strcmp(tok, "sysmon") == 0) {
			/* sysmon=0: no sysmon thread, so every ready wakes an idle P
			 * at once (Go's policy), for comparisons */
			ng_debug_g.no_sysmon = strcmp(val, "0") == 0;
		} else if (strcmp(tok, "asyncpreemptoff") == 0) {
			ng_debug_g.asyncpreemptoff = strcmp(val, "0") != 0;
		} else if (strcmp(tok, "schedtrace") == 0) {
			/* Go's GODEBUG=schedtrace=X: a line every X ms (sysmon) */
			ng_debug_g.schedtrace_ms = (int)strtol(val, NULL, 10);
		} else if (strcmp(tok, "counters") == 0) {
			/* one line at boot: the counter tier and why not higher */
			ng_debug_g.counters = strcmp(val, "0") != 0;
		} else if (strcmp(tok, "spin") == 0) {
			spin_override = strtoll(val, NULL, 10);
		} else {
			ng_warn("NUMAGO_DEBUG: unknown key '%s' ignored", tok);
		}
	}
	free(copy);
}

static int usable_cpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) != 0)
		return (int)sysconf(_SC_NPROCESSORS_ONLN);
	return CPU_COUNT(&set);
}

/* A 0|1 environment variable that wins over the config's dflt. */
static bool env_bool(const char *name, bool dflt)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		return dflt;
	if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
		return v[0] == '1';
	ng_warn("%s='%s' is not 0 or 1: ignored", name, v);
	return dflt;
}

/* Everything boot set up once the scheduler exists, in reverse; boot_lock
 * held, S.running clear. */
static void teardown_locked(void)
{
	ng_sched_shutdown();
	ng_counters_fini(); /* every M closed its counters as it exited */
	ng_trace_finish();  /* every M stopped: the per-P buffers are still */
	ng_stack_fini();
	ng_topo_unload();
	ng_dump_uninstall_sigquit();
	ng_preempt_fini();
}

static int boot(const ng_config *cfg, bool embedded)
{
	ng_config zero;
	if (cfg == NULL) {
		memset(&zero, 0, sizeof zero);
		cfg = &zero;
	}
	if (cfg->procs < 0 || (cfg->stack_size != 0 && cfg->stack_size < 16384) ||
	    cfg->deadlock < NG_DEADLOCK_EXIT || cfg->deadlock > NG_DEADLOCK_IGNORE ||
	    (cfg->time_slice > 0 && cfg->time_slice < NG_TIME_SLICE_MIN_NS))
		return -EINVAL;
	pthread_mutex_lock(&boot_lock);
	if (atomic_load(&S.running)) {
		pthread_mutex_unlock(&boot_lock);
		return -EBUSY;
	}
	parse_debug();
	ng_fault_init();             /* NUMAGO_FAULT */
	int rc = ng_counters_init(); /* NUMAGO_COUNTERS */
	if (rc != 0) {
		pthread_mutex_unlock(&boot_lock);
		return rc;
	}
	int procs = cfg->procs;
	const char *env = getenv("NUMAGO_PROCS");
	if (env != NULL && *env != '\0') {
		char *end;
		long v = strtol(env, &end, 10);
		if (*end != '\0' || v < 1 || v > 4096)
			ng_warn("NUMAGO_PROCS='%s' is not a number of Ps in 1..4096: ignored", env);
		else
			procs = (int)v;
	}
	const char *topo = getenv("NUMAGO_TOPOLOGY");
	if (topo == NULL || *topo == '\0')
		topo = cfg->topology;
	rc = ng_topo_load(topo);
	if (rc != 0) {
		ng_counters_fini();
		pthread_mutex_unlock(&boot_lock);
		return rc;
	}
	if (procs == 0)
		procs = ng_topo_default_procs();
	if (procs < 1 || procs > 4096) {
		ng_topo_unload();
		ng_counters_fini();
		pthread_mutex_unlock(&boot_lock);
		return -EINVAL;
	}
	bool locality = env_bool("NUMAGO_LOCALITY", cfg->locality >= 0);
	bool bind = env_bool("NUMAGO_BIND", cfg->bind_set ? cfg->bind != 0 : true);
	rc = ng_topo_assign(procs, locality, bind);
	if (rc == 0) {
		ng_fpctl_default = ng_fpctl_read();
		ng_stack_init(cfg->stack_size);
		rc = ng_sched_init(procs);
	}
	if (rc != 0) {
		ng_topo_unload();
		ng_counters_fini();
		pthread_mutex_unlock(&boot_lock);
		return rc;
	}
	/* Spinning only pays when each spinner has a core of its own. */
	ng_spin_init(procs, usable_cpus(), spin_override);
	S.deadlock_mode = cfg->deadlock;
	S.max_blocked = ng_debug_g.max_blocked > 0 ? ng_debug_g.max_blocked : 10000;
	atomic_store(&S.nblocked, 0);
	S.boot_threads = ng_count_threads();
	S.embedded = embedded;
	S.run_result = 0;
	atomic_store(&S.goid_gen, 0);
	/* foreign threads registered by an earlier run keep their registration
	 * (their TLS says so); only the active count restarts */
	atomic_store(&S.foreign_active, 0);
	S.time_slice = cfg->time_slice > 0 ? cfg->time_slice : NG_TIME_SLICE_DEFAULT_NS;
	/* A slice of centuries means "never"; sysmon adds it to a start time
	 * and the adaptive policy doubles it, which must not overflow. */
	if (S.time_slice > ((int64_t)1 << 60))
		S.time_slice = (int64_t)1 << 60;
	S.async_preempt = cfg->time_slice >= 0 && !ng_debug_g.asyncpreemptoff;
	ng_trace_start(getenv("NUMAGO_TRACE"), procs);
	ng_preempt_init();
	ng_stack_install_segv_handler();
	ng_dump_install_sigquit();
	/* The runtime's threads: sysmon, and for ng_start the first M (ng_run
	 * makes it for its main goroutine).  Without them it is no runtime. */
	rc = ng_debug_g.no_sysmon ? 0 : ng_sysmon_start();
	if (rc == 0 && embedded)
		rc = ng_sched_start_m0();
	if (rc != 0) {
		ng_warn("cannot start: cannot create the runtime's threads (%s)", strerror(-rc));
		teardown_locked();
		pthread_mutex_unlock(&boot_lock);
		return rc;
	}
	atomic_store(&S.running, 1);
	ng_sde_start(); /* PAPI SDE: reads see this run's statistics */
	pthread_mutex_unlock(&boot_lock);
	return 0;
}

static void shutdown_runtime(void)
{
	pthread_mutex_lock(&boot_lock);
	ng_sde_stop(); /* PAPI SDE: keep the last values; before the Ps go */
	atomic_store(&S.running, 0);
	teardown_locked();
	pthread_mutex_unlock(&boot_lock);
}

typedef struct main_args {
	int (*fn)(void *);
	void *arg;
} main_args;

static void main_trampoline(void *arg)
{
	main_args *a = arg;
	S.main_g = ng_getm()->curg;
	int r = a->fn(a->arg);
	S.main_result = r;
	S.run_result = r;
	S.main_done_flag = true;
	ng_note_wakeup(&S.main_done);
}

int ng_run(const ng_config *cfg, int (*main_fn)(void *), void *arg)
{
	if (main_fn == NULL)
		return -EINVAL;
	if (ng_getm() != NULL)
		return -EBUSY; /* called from a goroutine */
	int rc = boot(cfg, false);
	if (rc != 0)
		return rc;
	main_args a = {main_fn, arg};
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.name = "main";
	rc = ng_spawn(&attr, main_trampoline, &a, NULL, 0, NULL, 0, false);
	if (rc == -ENOMEM)
		ng_warn("cannot start: cannot allocate the main goroutine's stack (%s)",
		        strerror(ENOMEM));
	else if (rc == 0 && (rc = ng_sched_start_m0()) != 0)
		ng_warn("cannot start: cannot create the runtime's threads (%s)", strerror(-rc));
	if (rc != 0) {
		shutdown_runtime();
		return rc;
	}
	ng_note_sleep(&S.main_done);
	rc = S.run_result;
	shutdown_runtime();
	return rc;
}

int ng_start(const ng_config *cfg)
{
	if (ng_getm() != NULL)
		return -EBUSY;
	return boot(cfg, true);
}

int ng_stop(void)
{
	if (!atomic_load(&S.running))
		return -ESRCH;
	if (ng_getm() != NULL)
		return -EINVAL; /* a goroutine cannot wait for its own runtime to stop */
	pthread_mutex_lock(&S.lock);
	atomic_store(&S.quiesce_waiting, 1);
	bool quiet = S.mcount - S.nmidle - S.nmsys == 0 && atomic_load(&S.runqsize) == 0 &&
	             !ng_quiesce_held();
	if (quiet)
		atomic_store(&S.quiesce_waiting, 0);
	pthread_mutex_unlock(&S.lock);
	if (!quiet)
		ng_note_sleep(&S.quiesce);
	shutdown_runtime();
	return 0;
}
