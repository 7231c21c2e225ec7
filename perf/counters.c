/* perf/counters.c — counter sources behind one interface (NUMAGO_COUNTERS).
 *
 * Tiers, best first: PAPI hardware counters, raw perf_event hardware
 * counters, software counters (perf_event task clock and context switches,
 * and the thread's CPU time), none (runtime-internal statistics only).  A
 * replay tier feeds samples from a file instead, for the policies' tests.
 *
 * The probe runs once per boot on the booting thread: each hardware tier is
 * trusted only after a trial start/read that counted something, and every
 * failure leaves a one-line reason; NUMAGO_DEBUG=counters=1 prints the
 * result.  PAPI is initialised at most once per process, and not at all
 * when the application initialised it already (numago then never shuts it
 * down either).  NUMAGO_FAULT=papi fails PAPI_library_init (papi@1 the
 * trial's PAPI_start, papi@2 its PAPI_read), as a machine without usable
 * counters would: the probe goes on to the next tier, the reason in its
 * line.
 *
 * Each M opens its own counters on its own thread when it starts (perf_event
 * fds for pid 0 count that thread; a PAPI event set belongs to the thread
 * that made it) and closes them as it exits.  It reads them when it looks
 * for work (findrunnable), at most once per NG_COUNTERS_PERIOD_NS, and keeps
 * the latest sample and the change since the one before in its ng_mctr for
 * the policies.  Nothing happens on the goroutine switch path. */
#define _GNU_SOURCE
#include "counters.h"

#include "../core/fault.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if NG_HAVE_PAPI
#include <papi.h>
#endif

#define S ng_sched_g

bool ng_counters_on;

static int tier = -1; /* enum ng_counter_tier while booted */
static char tier_why[512];
static bool sw_perf;      /* the software perf_event group opens */
static bool sw_perf_kern; /* ... counting kernel time too (context switches) */
static bool hw_mem;       /* perf hardware: cache misses join the group */
static ng_counter_sample *replay;
static size_t nreplay;

static pthread_mutex_t ctr_lock = PTHREAD_MUTEX_INITIALIZER;
static ng_mctr *ctr_all; /* every M's state since boot; ctr_lock */
static _Atomic uint64_t stat_user_reads, stat_ms;
/* schedtrace's previous column (sysmon's thread; reset at boot) */
static uint64_t trace_prev[5];
static int64_t trace_prev_now;

/* ------------------------------------------------------------ helpers --- */

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Burn a little CPU so a trial read has something to count. */
static void trial_work(void)
{
	volatile uint64_t x = 0;
	for (int i = 0; i < 200000; i++)
		x += (uint64_t)i;
	(void)x; /* clang: set but not used */
}

static int perf_open(uint32_t type, uint64_t config, int group, bool kernel)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = type;
	a.config = config;
	a.exclude_kernel = !kernel;
	a.exclude_hv = 1;
	a.read_format = PERF_FORMAT_GROUP;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, group, PERF_FLAG_FD_CLOEXEC);
}

static void close_fds(int *fd, int *n)
{
	for (int i = *n - 1; i >= 0; i--) {
		close(fd[i]);
		fd[i] = -1;
	}
	*n = 0;
}

/* Read a PERF_FORMAT_GROUP group of n counters into v. */
static bool group_read(int leader, int n, uint64_t *v)
{
	uint64_t buf[1 + NG_CTR_MAX_HW];
	ssize_t want = (ssize_t)((size_t)(1 + n) * sizeof(uint64_t));
	if (read(leader, buf, (size_t)want) != want || buf[0] != (uint64_t)n)
		return false;
	memcpy(v, buf + 1, (size_t)n * sizeof(uint64_t));
	return true;
}

/* A group of two events of one type, leader first.  Returns 2, or 0 with
 * errno set and nothing left open. */
static int pair_open(uint32_t type, uint64_t first, uint64_t second, bool kernel, int *fd)
{
	fd[0] = perf_open(type, first, -1, kernel);
	if (fd[0] < 0)
		return 0;
	fd[1] = perf_open(type, second, fd[0], kernel);
	if (fd[1] < 0) {
		int e = errno;
		close(fd[0]);
		fd[0] = -1;
		errno = e;
		return 0;
	}
	return 2;
}

/* perf_event hardware group: cycles, instructions[, cache misses].  Returns
 * the number opened (0: failed, errno set). */
static int hw_open(int *fd, bool want_mem)
{
	if (pair_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES, PERF_COUNT_HW_INSTRUCTIONS,
	              false, fd) == 0)
		return 0;
	if (!want_mem)
		return 2;
	fd[2] = perf_open(PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES, fd[0], false);
	return fd[2] >= 0 ? 3 : 2;
}

/* perf_event software group: task clock, context switches.  Kernel time is
 * asked for first (context switches happen there); user-only where that
 * is refused. */
static int sw_open(int *fd, bool kernel)
{
	return pair_open(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK,
	                 PERF_COUNT_SW_CONTEXT_SWITCHES, kernel, fd);
}

/* --------------------------------------------------------------- PAPI --- */

#if NG_HAVE_PAPI
static int papi_state; /* 0 not probed, 1 usable, -1 not: once per process */
static char papi_reason[200];
static int papi_mem_event; /* PAPI_L3_TCM, PAPI_RES_STL or 0 */
static bool papi_reused;   /* the application initialised PAPI */

/* PAPI_strerror has no text until PAPI_library_init has succeeded (and
 * none after PAPI_shutdown): a failed init's reason read "(null)".  PAPI's
 * own wording for the codes, when it gives none. */
static const char *papi_errstr(int rc)
{
	static const char *const text[] = {
	    "Invalid argument",
	    "Insufficient memory",
	    "A System/C library call failed",
	    "Not supported by component",
	    "Access to the counters was lost or interrupted",
	    "Internal error, please send mail to the developers",
	    "Event does not exist",
	    "Event exists, but cannot be counted due to hardware resource limits",
	    "EventSet is currently not running",
	    "EventSet is currently counting",
	    "No such EventSet available",
	    "Event in argument is not a valid preset",
	    "Hardware does not support performance counters",
	    "Unknown error code",
	    "Permission level does not permit operation",
	    "PAPI hasn't been initialized yet",
	    "Component Index isn't set",
	    "Not supported",
	    "Not implemented",
	    "Buffer size exceeded",
	};
	const char *s = PAPI_strerror(rc);
	if (s != NULL)
		return s;
	if (rc < 0 && -rc <= (int)(sizeof text / sizeof text[0]))
		return text[-rc - 1];
	return "Unknown error code";
}

static unsigned long papi_thread_id(void)
{
	return (unsigned long)pthread_self();
}

static void papi_es_free(int *es)
{
	if (*es == PAPI_NULL)
		return;
	long long v[NG_CTR_MAX_HW];
	PAPI_stop(*es, v);
	PAPI_cleanup_eventset(*es);
	PAPI_destroy_eventset(es);
	*es = PAPI_NULL;
}

/* An event set of cycles, instructions and (want_mem) the memory event,
 * started.  Returns the number of events, 0 on failure (reason in why).
 * The probe's trial (trial) is a NUMAGO_FAULT=papi site; an M's own open
 * is not: the probe has vouched for PAPI by then. */
static int papi_es_open(int *es, bool want_mem, bool trial, char *why, size_t n)
{
	*es = PAPI_NULL;
	int rc = PAPI_create_eventset(es);
	if (rc != PAPI_OK) {
		snprintf(why, n, "PAPI: PAPI_create_eventset: %s", papi_errstr(rc));
		*es = PAPI_NULL;
		return 0;
	}
	static const struct {
		int code;
		const char *name;
	} ev[2] = {{PAPI_TOT_CYC, "PAPI_TOT_CYC"}, {PAPI_TOT_INS, "PAPI_TOT_INS"}};
	for (int i = 0; i < 2; i++) {
		if ((rc = PAPI_add_event(*es, ev[i].code)) != PAPI_OK) {
			snprintf(why, n, "PAPI: %s: %s", ev[i].name, papi_errstr(rc));
			PAPI_cleanup_eventset(*es);
			PAPI_destroy_eventset(es);
			*es = PAPI_NULL;
			return 0;
		}
	}
	int count = 2;
	if (want_mem && papi_mem_event != 0 && PAPI_add_event(*es, papi_mem_event) == PAPI_OK)
		count = 3;
	/* as counters another tool holds would */
	if ((rc = trial && ng_fault(NG_FAULT_PAPI) ? PAPI_ECNFLCT : PAPI_start(*es)) != PAPI_OK) {
		snprintf(why, n, "PAPI: PAPI_start: %s", papi_errstr(rc));
		PAPI_cleanup_eventset(*es);
		PAPI_destroy_eventset(es);
		*es = PAPI_NULL;
		return 0;
	}
	return count;
}

static bool papi_try(void)
{
	bool ours = false;
	int rc;
	papi_reused = PAPI_is_initialized() != PAPI_NOT_INITED;
	if (!papi_reused) {
		/* as a failed system call in PAPI's set-up would */
		rc = ng_fault(NG_FAULT_PAPI) ? PAPI_ESYS : PAPI_library_init(PAPI_VER_CURRENT);
		if (rc != PAPI_VER_CURRENT) {
			snprintf(papi_reason, sizeof papi_reason, "PAPI: PAPI_library_init: %s",
			         rc < 0 ? papi_errstr(rc) : "version mismatch");
			return false;
		}
		ours = true;
	}
	int nctr = PAPI_num_cmp_hwctrs(0);
	if (nctr <= 0) {
		snprintf(papi_reason, sizeof papi_reason, "PAPI: %d hardware counters",
		         nctr < 0 ? 0 : nctr);
		goto fail;
	}
	if (PAPI_query_event(PAPI_L3_TCM) == PAPI_OK)
		papi_mem_event = PAPI_L3_TCM;
	else if (PAPI_query_event(PAPI_RES_STL) == PAPI_OK)
		papi_mem_event = PAPI_RES_STL;
	int es;
	int count = papi_es_open(&es, false, true, papi_reason, sizeof papi_reason);
	if (count == 0)
		goto fail;
	trial_work();
	long long v[NG_CTR_MAX_HW] = {0};
	rc = ng_fault(NG_FAULT_PAPI) ? PAPI_ESYS : PAPI_read(es, v);
	papi_es_free(&es);
	if (rc != PAPI_OK) {
		snprintf(papi_reason, sizeof papi_reason, "PAPI: trial PAPI_read: %s",
		         papi_errstr(rc));
		goto fail;
	}
	if (v[0] <= 0 || v[1] <= 0) {
		snprintf(papi_reason, sizeof papi_reason,
		         "PAPI: trial read counted nothing (cycles %lld, instructions %lld)", v[0],
		         v[1]);
		goto fail;
	}
	/* Last, so an application's PAPI is left as it was (threads not
	 * tied to event sets) unless numago will use it: each M's event set
	 * belongs to the M's thread. */
	if ((rc = PAPI_thread_init(papi_thread_id)) != PAPI_OK) {
		snprintf(papi_reason, sizeof papi_reason, "PAPI: PAPI_thread_init: %s",
		         papi_errstr(rc));
		goto fail;
	}
	return true;
fail:
	if (ours)
		PAPI_shutdown(); /* ours and useless: not left behind */
	return false;
}

static bool papi_probe(char *why, size_t n)
{
	if (papi_state == 0)
		papi_state = papi_try() ? 1 : -1;
	snprintf(why, n, "%s", papi_state > 0 ? "PAPI: ok" : papi_reason);
	return papi_state > 0;
}
#else
static bool papi_probe(char *why, size_t n)
{
	snprintf(why, n, "PAPI: not built in");
	return false;
}
#endif

/* ---------------------------------------------------- other probes --- */

static bool perf_hw_probe(char *why, size_t n)
{
	int fd[NG_CTR_MAX_HW] = {-1, -1, -1};
	int k = hw_open(fd, true);
	if (k == 0) {
		snprintf(why, n, "perf_event hardware: %s", strerror(errno));
		return false;
	}
	trial_work();
	uint64_t v[NG_CTR_MAX_HW] = {0};
	bool ok = group_read(fd[0], k, v);
	int e = errno;
	close_fds(fd, &k);
	if (!ok) {
		snprintf(why, n, "perf_event hardware: trial read: %s", strerror(e));
		return false;
	}
	if (v[0] == 0 || v[1] == 0) {
		snprintf(why, n, "perf_event hardware: trial read counted nothing");
		return false;
	}
	hw_mem = k == 3;
	return true;
}

/* The software tier always works (thread CPU time); this says whether the
 * perf_event half does. */
static void sw_probe(char *why, size_t n)
{
	int fd[NG_CTR_MAX_SW] = {-1, -1};
	int k;
	sw_perf_kern = true;
	if ((k = sw_open(fd, true)) == 0) {
		sw_perf_kern = false;
		k = sw_open(fd, false);
	}
	if (k == 0) {
		sw_perf = false;
		snprintf(why, n, "software tier (thread CPU time only; perf_event software: %s)",
		         strerror(errno));
		return;
	}
	uint64_t v[NG_CTR_MAX_SW];
	sw_perf = group_read(fd[0], k, v);
	int e = errno;
	close_fds(fd, &k);
	if (!sw_perf)
		snprintf(why, n,
		         "software tier (thread CPU time only; perf_event software: read: %s)",
		         strerror(e));
	else if (sw_perf_kern)
		snprintf(why, n, "software tier (task clock, context switches, thread CPU time)");
	else
		snprintf(why, n,
		         "software tier (task clock, thread CPU time; no context "
		         "switches: kernel counting refused)");
}

/* --------------------------------------------------------------- replay --- */

static int replay_load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		ng_warn("NUMAGO_COUNTERS=replay:%s: %s", path, strerror(errno));
		return -EINVAL;
	}
	size_t cap = 0;
	char line[1024];
	int lineno = 0;
	int rc = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '#' || *s == '\n' || *s == '\0')
			continue;
		uint64_t v[7];
		int k = 0;
		for (;;) {
			while (*s == ' ' || *s == '\t')
				s++;
			if (*s == '\n' || *s == '\0')
				break;
			char *end;
			errno = 0;
			if (k == 7 || *s == '-' || (v[k] = strtoull(s, &end, 0), end == s) ||
			    errno != 0 ||
			    (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\0')) {
				k = -1;
				break;
			}
			k++;
			s = end;
		}
		if (k != 6 && k != 7) {
			ng_warn("NUMAGO_COUNTERS=replay:%s:%d: expected 6 or 7 unsigned numbers "
			        "(cycles instructions mem_stall task_clock_ns ctx_switches "
			        "thread_cpu_ns [valid])",
			        path, lineno);
			rc = -EINVAL;
			break;
		}
		if (nreplay == cap) {
			cap = cap ? 2 * cap : 64;
			ng_counter_sample *r = realloc(replay, cap * sizeof *r);
			if (r == NULL) {
				rc = -ENOMEM;
				break;
			}
			replay = r;
		}
		ng_counter_sample *o = &replay[nreplay++];
		memset(o, 0, sizeof *o);
		o->cycles = v[0];
		o->instructions = v[1];
		o->mem_stall = v[2];
		o->task_clock_ns = v[3];
		o->ctx_switches = v[4];
		o->thread_cpu_ns = v[5];
		o->valid = k == 7 ? (uint32_t)(v[6] & NG_CTR_ALL) : NG_CTR_ALL;
	}
	fclose(f);
	if (rc == 0 && nreplay == 0) {
		ng_warn("NUMAGO_COUNTERS=replay:%s: no samples", path);
		rc = -EINVAL;
	}
	if (rc != 0) {
		free(replay);
		replay = NULL;
		nreplay = 0;
	}
	return rc;
}

/* ------------------------------------------------------------- probe --- */

enum { SEL_AUTO, SEL_PAPI, SEL_PERF, SEL_SW, SEL_NONE, SEL_REQUIRE, SEL_REPLAY };

/* auto: the first tier that works.  papi_why/perf_why get the reasons of
 * the hardware tiers that failed. */
static int probe_auto(char *papi_why, char *perf_why, size_t n)
{
	if (papi_probe(papi_why, n))
		return NG_COUNTERS_PAPI;
	if (perf_hw_probe(perf_why, n))
		return NG_COUNTERS_PERF;
	return NG_COUNTERS_SW;
}

int ng_counters_init(void)
{
	atomic_store(&ng_prof_on, false);
	memset(trace_prev, 0, sizeof trace_prev);
	trace_prev_now = 0;
	const char *env = getenv("NUMAGO_COUNTERS");
	int sel = SEL_AUTO;
	const char *path = NULL;
	if (env == NULL || *env == '\0' || strcmp(env, "auto") == 0)
		sel = SEL_AUTO;
	else if (strcmp(env, "papi") == 0)
		sel = SEL_PAPI;
	else if (strcmp(env, "perf") == 0)
		sel = SEL_PERF;
	else if (strcmp(env, "sw") == 0)
		sel = SEL_SW;
	else if (strcmp(env, "none") == 0)
		sel = SEL_NONE;
	else if (strcmp(env, "require") == 0)
		sel = SEL_REQUIRE;
	else if (strncmp(env, "replay:", 7) == 0 && env[7] != '\0')
		sel = SEL_REPLAY, path = env + 7;
	else
		ng_warn("NUMAGO_COUNTERS='%s' is not auto, papi, perf, sw, none, require or "
		        "replay:PATH: using auto",
		        env);

	char papi_why[200] = "", perf_why[200] = "", sw_why[200] = "";
	hw_mem = false;
	sw_perf = sw_perf_kern = false;
	int t = -1;
	switch (sel) {
	case SEL_NONE:
		t = NG_COUNTERS_NONE;
		snprintf(tier_why, sizeof tier_why, "runtime-internal only (NUMAGO_COUNTERS=none)");
		break;
	case SEL_REPLAY: {
		int rc = replay_load(path);
		if (rc != 0)
			return rc;
		t = NG_COUNTERS_REPLAY;
		snprintf(tier_why, sizeof tier_why, "replay tier (%zu samples from %s)", nreplay,
		         path);
		break;
	}
	case SEL_PAPI:
		if (papi_probe(papi_why, sizeof papi_why)) {
			t = NG_COUNTERS_PAPI;
			break;
		}
		ng_warn("NUMAGO_COUNTERS=papi: %s: using auto", papi_why);
		break;
	case SEL_PERF:
		if (perf_hw_probe(perf_why, sizeof perf_why)) {
			t = NG_COUNTERS_PERF;
			break;
		}
		ng_warn("NUMAGO_COUNTERS=perf: %s: using auto", perf_why);
		break;
	case SEL_SW:
		t = NG_COUNTERS_SW;
		break;
	default:
		break;
	}
	if (t < 0)
		t = probe_auto(papi_why, perf_why, sizeof papi_why);
	if (sel == SEL_REQUIRE && t < NG_COUNTERS_PERF) {
		ng_warn("NUMAGO_COUNTERS=require: no hardware counters (%s; %s)", papi_why,
		        perf_why);
		return -ENODEV;
	}
	if (t == NG_COUNTERS_SW || t == NG_COUNTERS_PERF || t == NG_COUNTERS_PAPI)
		sw_probe(sw_why, sizeof sw_why);
	/* the line: the tier, then why the tiers above it were not taken */
	size_t len = 0;
#define ADD(...)                                                                                  \
	do {                                                                                      \
		if (len < sizeof tier_why)                                                        \
			len +=                                                                    \
			    (size_t)snprintf(tier_why + len, sizeof tier_why - len, __VA_ARGS__); \
	} while (0)
	switch (t) {
	case NG_COUNTERS_PAPI:
#if NG_HAVE_PAPI
		ADD("PAPI tier (PAPI_TOT_CYC, PAPI_TOT_INS%s%s)",
		    papi_mem_event == PAPI_L3_TCM    ? ", PAPI_L3_TCM"
		    : papi_mem_event == PAPI_RES_STL ? ", PAPI_RES_STL"
		                                     : "",
		    papi_reused ? "; the application's PAPI" : "");
#endif
		break;
	case NG_COUNTERS_PERF:
		ADD("perf_event hardware tier (cycles, instructions%s)",
		    hw_mem ? ", cache misses" : "");
		if (papi_why[0])
			ADD("; %s", papi_why);
		break;
	case NG_COUNTERS_SW:
		ADD("%s", sw_why);
		if (sel == SEL_SW)
			ADD(" (NUMAGO_COUNTERS=sw)");
		if (papi_why[0])
			ADD("; %s", papi_why);
		if (perf_why[0])
			ADD("; %s", perf_why);
		break;
	default:
		break;
	}
#undef ADD
	tier = t;
	ng_counters_on = t != NG_COUNTERS_NONE;
	atomic_store(&stat_user_reads, 0);
	atomic_store(&stat_ms, 0);
	if (ng_debug_g.counters)
		fprintf(stderr, "numago: counters: %s\n", tier_why);
	return 0;
}

void ng_counters_fini(void)
{
	pthread_mutex_lock(&ctr_lock);
	while (ctr_all != NULL) {
		ng_mctr *c = ctr_all;
		ctr_all = c->next;
		free(c);
	}
	pthread_mutex_unlock(&ctr_lock);
	free(replay);
	replay = NULL;
	nreplay = 0;
	ng_counters_on = false;
	tier = -1;
}

/* ---------------------------------------------------------------- per M --- */

/* Read c's counters now into out (the thread must be c's M). */
static void read_now(ng_mctr *c, ng_counter_sample *out)
{
	memset(out, 0, sizeof *out);
	if (tier == NG_COUNTERS_REPLAY) {
		*out = replay[c->replay_pos];
		if (c->replay_pos + 1 < nreplay)
			c->replay_pos++;
		return;
	}
	uint32_t valid = 0;
	uint64_t v[NG_CTR_MAX_HW];
#if NG_HAVE_PAPI
	if (c->papi_es != PAPI_NULL) {
		long long pv[NG_CTR_MAX_HW] = {0};
		if (PAPI_read(c->papi_es, pv) == PAPI_OK) {
			out->cycles = (uint64_t)pv[0];
			out->instructions = (uint64_t)pv[1];
			valid |= NG_CTR_CYCLES | NG_CTR_INSTRUCTIONS;
			if (c->papi_n > 2) {
				out->mem_stall = (uint64_t)pv[2];
				valid |= NG_CTR_MEM_STALL;
			}
		}
	}
#endif
	if (c->hw_n > 0 && group_read(c->hw_fd[0], c->hw_n, v)) {
		out->cycles = v[0];
		out->instructions = v[1];
		valid |= NG_CTR_CYCLES | NG_CTR_INSTRUCTIONS;
		if (c->hw_n > 2) {
			out->mem_stall = v[2];
			valid |= NG_CTR_MEM_STALL;
		}
	}
	if (c->sw_n > 0 && group_read(c->sw_fd[0], c->sw_n, v)) {
		out->task_clock_ns = v[0];
		out->ctx_switches = v[1];
		valid |= NG_CTR_TASK_CLOCK | (sw_perf_kern ? NG_CTR_CTX_SWITCHES : 0);
	}
	out->thread_cpu_ns = (uint64_t)thread_cpu_ns();
	out->valid = valid | NG_CTR_THREAD_CPU;
}

/* The latest reading becomes c->last; c->delta the change. */
static void take(ng_mctr *c, int64_t now)
{
	ng_counter_sample s;
	read_now(c, &s);
	if (c->last_ns != 0) {
		ng_counter_sample *d = &c->delta;
		d->cycles = s.cycles - c->last.cycles;
		d->instructions = s.instructions - c->last.instructions;
		d->mem_stall = s.mem_stall - c->last.mem_stall;
		d->task_clock_ns = s.task_clock_ns - c->last.task_clock_ns;
		d->ctx_switches = s.ctx_switches - c->last.ctx_switches;
		d->thread_cpu_ns = s.thread_cpu_ns - c->last.thread_cpu_ns;
		d->valid = s.valid & c->last.valid;
		c->delta_ns = now - c->last_ns;
	}
	c->last = s;
	c->last_ns = now;
	atomic_store_explicit(&c->pub_cycles, s.cycles, memory_order_relaxed);
	atomic_store_explicit(&c->pub_instructions, s.instructions, memory_order_relaxed);
	atomic_store_explicit(&c->pub_task_clock_ns, s.task_clock_ns, memory_order_relaxed);
	atomic_store_explicit(&c->pub_ctx_switches, s.ctx_switches, memory_order_relaxed);
	atomic_store_explicit(&c->pub_thread_cpu_ns, s.thread_cpu_ns, memory_order_relaxed);
}

/* schedtrace's counter column (sysmon's thread only): the tier, and what
 * the Ms' latest readings added up to since the previous line, per second:
 * CPU time of the Ms (ms/s), their context switches, and with hardware
 * counters instructions per cycle.  Readings are the Ms' own (taken when
 * they look for work), so a column lags by up to a reading period. */
void ng_counters_trace_column(char *buf, size_t n, int64_t now)
{
	static const char *const names[] = {"none", "sw", "perf", "papi", "replay"};
	if (tier < 0 || tier > NG_COUNTERS_REPLAY) {
		snprintf(buf, n, " counters=[off]");
		return;
	}
	uint64_t sum[5] = {0};
	pthread_mutex_lock(&ctr_lock);
	for (ng_mctr *c = ctr_all; c != NULL; c = c->next) {
		sum[0] += atomic_load_explicit(&c->pub_cycles, memory_order_relaxed);
		sum[1] += atomic_load_explicit(&c->pub_instructions, memory_order_relaxed);
		sum[2] += atomic_load_explicit(&c->pub_task_clock_ns, memory_order_relaxed);
		sum[3] += atomic_load_explicit(&c->pub_ctx_switches, memory_order_relaxed);
		sum[4] += atomic_load_explicit(&c->pub_thread_cpu_ns, memory_order_relaxed);
	}
	pthread_mutex_unlock(&ctr_lock);
	if (tier == NG_COUNTERS_NONE || trace_prev_now == 0 || now <= trace_prev_now) {
		/* first line of this boot: nothing to compare with yet */
		snprintf(buf, n, " counters=[%s]", names[tier]);
	} else {
		double secs = (double)(now - trace_prev_now) / 1e9;
		uint64_t d[5];
		for (int i = 0; i < 5; i++)
			d[i] = sum[i] >= trace_prev[i] ? sum[i] - trace_prev[i] : 0;
		int len = snprintf(buf, n, " counters=[%s: cpu=%.1fms/s ctxsw=%.0f/s", names[tier],
		                   (double)d[4] / 1e6 / secs, (double)d[3] / secs);
		if (len > 0 && (size_t)len < n && d[0] > 0)
			len += snprintf(buf + len, n - (size_t)len, " ipc=%.2f",
			                (double)d[1] / (double)d[0]);
		if (len > 0 && (size_t)len < n)
			snprintf(buf + len, n - (size_t)len, "]");
	}
	memcpy(trace_prev, sum, sizeof trace_prev);
	trace_prev_now = now;
}

void ng_counters_m_start(ng_m *m)
{
	m->ctr = NULL;
	if (!ng_counters_on)
		return;
	ng_mctr *c = calloc(1, sizeof *c);
	if (c == NULL)
		return; /* no counters on this M */
	for (int i = 0; i < NG_CTR_MAX_HW; i++)
		c->hw_fd[i] = -1;
	for (int i = 0; i < NG_CTR_MAX_SW; i++)
		c->sw_fd[i] = -1;
	c->papi_es = -1;
	atomic_store_explicit(&c->min_gap_ns, UINT64_MAX, memory_order_relaxed);
#if NG_HAVE_PAPI
	c->papi_es = PAPI_NULL;
	if (tier == NG_COUNTERS_PAPI) {
		char why[200];
		c->papi_n = papi_es_open(&c->papi_es, true, false, why, sizeof why);
	}
#endif
	if (tier == NG_COUNTERS_PERF)
		c->hw_n = hw_open(c->hw_fd, hw_mem);
	if (tier != NG_COUNTERS_REPLAY && sw_perf)
		c->sw_n = sw_open(c->sw_fd, sw_perf_kern);
	if (tier != NG_COUNTERS_REPLAY)
		take(c, ng_nanotime()); /* the baseline */
	pthread_mutex_lock(&ctr_lock);
	c->next = ctr_all;
	ctr_all = c;
	pthread_mutex_unlock(&ctr_lock);
	atomic_fetch_add_explicit(&stat_ms, 1, memory_order_relaxed);
	m->ctr = c;
}

void ng_counters_m_exit(ng_m *m)
{
	ng_mctr *c = m->ctr;
	if (c == NULL)
		return;
	if (c->prof_g != NULL)
		ng_prof_switch(m, NULL);
	close_fds(c->hw_fd, &c->hw_n);
	close_fds(c->sw_fd, &c->sw_n);
#if NG_HAVE_PAPI
	if (c->papi_es != PAPI_NULL) {
		papi_es_free(&c->papi_es);
		PAPI_unregister_thread();
	}
#endif
	m->ctr = NULL; /* c stays on ctr_all until ng_counters_fini */
}

/* ------------------------------------------------ per goroutine --- */

/* NG_GO_PROFILE: each run of such a goroutine is bracketed by two readings
 * of its M's counters (at switch-in, and when it parks, or its M runs
 * another goroutine or looks for work), and the difference is added to the
 * goroutine's own sum; runs on different Ms add up the same way.  Only
 * those goroutines pay (two counter reads per run); every other switch
 * pays one branch while profiling is on (ng_switch_hooks). */
_Atomic bool ng_prof_on;

void ng_prof_spawn(ng_g *g)
{
	if (!ng_counters_on)
		return; /* nothing to count: ng_counters_self says valid == 0 */
	if (g->prof == NULL) {
		g->prof = calloc(1, sizeof *g->prof);
		if (g->prof == NULL)
			return;
	} else {
		memset(g->prof, 0, sizeof *g->prof);
	}
	if (!atomic_load_explicit(&ng_prof_on, memory_order_relaxed)) {
		atomic_store(&ng_prof_on, true);
		atomic_store(&ng_switch_hooks, true);
	}
}

static void add_run(ng_counter_sample *acc, const ng_counter_sample *a, const ng_counter_sample *b)
{
	acc->cycles += b->cycles - a->cycles;
	acc->instructions += b->instructions - a->instructions;
	acc->mem_stall += b->mem_stall - a->mem_stall;
	acc->task_clock_ns += b->task_clock_ns - a->task_clock_ns;
	acc->ctx_switches += b->ctx_switches - a->ctx_switches;
	acc->thread_cpu_ns += b->thread_cpu_ns - a->thread_cpu_ns;
	acc->valid = a->valid & b->valid;
}

void ng_prof_switch(ng_m *m, ng_g *next)
{
	ng_mctr *c = m->ctr;
	if (c == NULL)
		return;
	bool start = next != NULL && (next->flags & NG_GO_PROFILE) && next->prof != NULL;
	if (c->prof_g == NULL && !start)
		return;
	ng_counter_sample now;
	read_now(c, &now); /* one reading ends a run and starts the next */
	if (c->prof_g != NULL) {
		add_run(&c->prof_g->prof->acc, &c->prof_start, &now);
		c->prof_g = NULL;
	}
	if (start) {
		c->prof_g = next;
		c->prof_start = now;
	}
}

int ng_counters_self(ng_counter_sample *out)
{
	if (out == NULL)
		return -EINVAL;
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL)
		return -ESRCH;
	ng_g *g = m->curg;
	if (!(g->flags & NG_GO_PROFILE))
		return -ENOENT;
	memset(out, 0, sizeof *out);
	if (g->prof == NULL)
		return 0; /* counters off (NUMAGO_COUNTERS=none) */
	*out = g->prof->acc;
	ng_mctr *c = m->ctr;
	if (c != NULL && c->prof_g == g) { /* and the run so far */
		ng_counter_sample now;
		read_now(c, &now);
		add_run(out, &c->prof_start, &now);
	}
	return 0;
}

void ng_counters_poll_slow(ng_m *m)
{
	ng_mctr *c = m->ctr;
	if (NG_UNLIKELY(c == NULL))
		return;
	if (c->prof_g != NULL) /* the profiled goroutine stopped running */
		ng_prof_switch(m, NULL);
	OWN_ADD(c->events, 1);
	int64_t now = ng_nanotime();
	if (c->last_poll_ns != 0 && now - c->last_poll_ns < NG_COUNTERS_PERIOD_NS)
		return;
	if (c->last_poll_ns != 0) {
		uint64_t gap = (uint64_t)(now - c->last_poll_ns);
		if (gap < RELAXED(c->min_gap_ns))
			atomic_store_explicit(&c->min_gap_ns, gap, memory_order_relaxed);
	}
	c->last_poll_ns = now;
	OWN_ADD(c->reads, 1);
	take(c, now);
	/* what the policies go by: spinning (everyone's latest) and this P's
	 * time slice (sysmon reads it) */
	int phase = c->delta_ns != 0 ? ng_ctr_phase(&c->delta) : NG_PHASE_UNKNOWN;
	atomic_store_explicit(&ng_phase_now, phase, memory_order_relaxed);
	if (m->p != NULL)
		atomic_store_explicit(&m->p->phase, phase, memory_order_relaxed);
}

/* ----------------------------------------------------------------- API --- */

int ng_counters_tier(char *why, size_t n)
{
	if (!atomic_load(&S.running) || tier < 0)
		return -ESRCH;
	if (why != NULL && n > 0)
		snprintf(why, n, "%s", tier_why);
	return tier;
}

int ng_counters_read(ng_counter_sample *out)
{
	if (out == NULL)
		return -EINVAL;
	ng_m *m = ng_getm();
	if (m == NULL || m->curg == NULL)
		return -ESRCH;
	atomic_fetch_add_explicit(&stat_user_reads, 1, memory_order_relaxed);
	ng_mctr *c = m->ctr;
	if (c == NULL) {
		memset(out, 0, sizeof *out);
		return 0;
	}
	take(c, ng_nanotime());
	*out = c->last;
	return 0;
}

int ng_counters_stats(ng_counter_stats *out)
{
	if (out == NULL)
		return -EINVAL;
	if (!atomic_load(&S.running))
		return -ESRCH;
	memset(out, 0, sizeof *out);
	out->min_gap_ns = UINT64_MAX;
	out->user_reads = atomic_load(&stat_user_reads);
	out->ms = atomic_load(&stat_ms);
	pthread_mutex_lock(&ctr_lock);
	for (ng_mctr *c = ctr_all; c != NULL; c = c->next) {
		uint64_t r = RELAXED(c->reads), g = RELAXED(c->min_gap_ns);
		out->reads += r;
		out->events += RELAXED(c->events);
		if (r > out->max_m_reads)
			out->max_m_reads = r;
		if (g < out->min_gap_ns)
			out->min_gap_ns = g;
	}
	pthread_mutex_unlock(&ctr_lock);
	return 0;
}
