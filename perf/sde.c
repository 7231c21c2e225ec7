/* perf/sde.c — numago's runtime statistics as PAPI Software Defined Events.
 *
 * Every field of ng_stats, and the sums over the Ps of the ng_proc_stats
 * fields ng_stats lacks, is registered with libsde (PAPI's library for
 * software that exports counters) as library "numago", so a PAPI program
 * reads them as sde:::numago::NAME (the table below; README.md lists them).
 *
 * Reads: each event is a callback that takes the statistics through
 * ng_stats_read and ng_stats_proc, so PAPI sees exactly what the API sees;
 * there is no second bookkeeping.  The events are PAPI_SDE_INSTANT: PAPI
 * returns the value itself (the total since the runtime booted, as
 * ng_stats does), not the change since PAPI_start.  A callback may run on
 * any thread at any time, the runtime booting or stopping included, so the
 * values go through one snapshot under a mutex: while the runtime runs a
 * read refreshes it; once ng_sde_stop has run (before the scheduler is torn
 * down) reads return the values of the last run until the next boot.
 *
 * Registration and PAPI: libsde keeps the registry, whether or not the
 * program uses PAPI at all (without PAPI, registering costs about 60 us,
 * once per process).  PAPI_library_init finds libsde through
 * dlsym in the process's global scope (libsde is a dependency of numago, so
 * it is there) and looks names up there when events are added.  An event
 * added before numago registered it becomes a placeholder that the
 * registration fills in, so PAPI may be initialised and events added before
 * or after ng_run.
 *
 * The events are registered once per process and never unregistered:
 * papi_sde_shutdown in libsde 7.0 frees the library's counters but leaves
 * them (and the library) in libsde's global tables, so a PAPI event set
 * that holds one reads freed memory (valgrind shows it), as would a later
 * papi_sde_init of the same library.  Staying registered also keeps an application's
 * event set valid across several ng_run calls. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sde_lib.h>

#include "../core/internal.h"
#include "sde.h"

/* What the events read: ng_stats plus the per-P sums it does not carry
 * (ng_stats_read sums runs and parks itself, as switches and parks). */
typedef struct sde_vals {
	ng_stats st;
	uint64_t stolen;      /* sum of ng_proc_stats.stolen */
	uint64_t global_gets; /* sum of ng_proc_stats.global_gets */
} sde_vals;

typedef struct sde_event {
	const char *name; /* sde:::numago::NAME */
	size_t off;       /* of a uint64_t in sde_vals */
} sde_event;

/* No papi_sde_describe_counter: in libsde 7.0 it leaks the default
 * description it replaces (LeakSanitizer reports it in every program that
 * boots the runtime), so PAPI describes each event by its name; README.md
 * says what each one counts (the fields of ng_stats and ng_proc_stats). */
#define ST(f)            #f, offsetof(sde_vals, st.f)
#define SUM(f)           #f, offsetof(sde_vals, f)
#define BYCLASS(c, what) "steals_by_class::" what, offsetof(sde_vals, st.steals_by_class[c])
#define FAILED(c, what) \
	"failed_steals_by_class::" what, offsetof(sde_vals, st.failed_steals_by_class[c])

static const sde_event events[] = {
    {ST(spawns)},
    {ST(switches)},
    {ST(steals)},
    {SUM(stolen)},
    {BYCLASS(NG_DIST_SELF, "self")},
    {BYCLASS(NG_DIST_CORE, "core")},
    {BYCLASS(NG_DIST_L2, "l2")},
    {BYCLASS(NG_DIST_L3, "l3")},
    {BYCLASS(NG_DIST_NODE, "node")},
    {BYCLASS(NG_DIST_PACKAGE, "package")},
    {BYCLASS(NG_DIST_REMOTE, "remote")},
    {ST(global_put)},
    {SUM(global_gets)},
    {ST(parks)},
    {ST(ms)},
    {ST(m_wakes)},
    {ST(sysmon_wakes)},
    {ST(retakes)},
    {ST(preempt_requests)},
    {ST(preempt_async)},
    {ST(preempt_coop)},
    {ST(preempt_deferred)},
    {ST(failed_steals)},
    {FAILED(NG_DIST_SELF, "self")},
    {FAILED(NG_DIST_CORE, "core")},
    {FAILED(NG_DIST_L2, "l2")},
    {FAILED(NG_DIST_L3, "l3")},
    {FAILED(NG_DIST_NODE, "node")},
    {FAILED(NG_DIST_PACKAGE, "package")},
    {FAILED(NG_DIST_REMOTE, "remote")},
    {ST(spin_ns)},
    {ST(chan_sends)},
    {ST(chan_recvs)},
    {ST(chan_select)},
    {ST(offload_ops)},
    {ST(offload_done)},
    {ST(offload_failed)},
    {ST(offload_parks)},
};

static pthread_mutex_t sde_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sde_live;     /* the runtime runs: reads refresh sde_last */
static sde_vals sde_last; /* under sde_lock */
static pthread_once_t sde_once = PTHREAD_ONCE_INIT;

/* Called with sde_lock held; leaves *v alone unless the runtime answered. */
static void refresh(sde_vals *v)
{
	sde_vals n;
	memset(&n, 0, sizeof n);
	if (ng_stats_read(&n.st) != 0)
		return;
	ng_proc_stats ps;
	for (int i = 0; ng_stats_proc(i, &ps) == 0; i++) {
		n.stolen += ps.stolen;
		n.global_gets += ps.global_gets;
	}
	*v = n;
}

static long long read_event(void *param)
{
	const sde_event *e = param;
	uint64_t v;
	pthread_mutex_lock(&sde_lock);
	if (sde_live)
		refresh(&sde_last);
	memcpy(&v, (const char *)&sde_last + e->off, sizeof v);
	pthread_mutex_unlock(&sde_lock);
	return (long long)v;
}

static void register_events(void)
{
	/* NULL when SDEs are disabled; libsde then ignores the calls */
	papi_handle_t h = papi_sde_init("numago");
	for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
		const sde_event *e = &events[i];
		papi_sde_register_counter_cb(h, e->name, PAPI_SDE_RO | PAPI_SDE_INSTANT,
		                             PAPI_SDE_long_long, read_event, (void *)e);
	}
}

void ng_sde_start(void)
{
	/* outside sde_lock: libsde takes its own lock, and a read of ours
	 * may run under it */
	pthread_once(&sde_once, register_events);
	pthread_mutex_lock(&sde_lock);
	memset(&sde_last, 0, sizeof sde_last);
	sde_live = true;
	pthread_mutex_unlock(&sde_lock);
}

void ng_sde_stop(void)
{
	pthread_mutex_lock(&sde_lock);
	refresh(&sde_last);
	sde_live = false;
	pthread_mutex_unlock(&sde_lock);
}
