/* PAPI Software Defined Events (perf/sde.c): numago's statistics read through
 * the real PAPI library match ng_stats_read / ng_stats_proc.
 *
 * PAPI is initialised before ng_run, in the plain main thread: PAPI's sde
 * component finds libsde when PAPI_library_init runs (dlsym in the global
 * scope; libsde is a dependency of numago, so it is loaded with the
 * program), and libsde resolves names when events are added.  An event
 * added before the runtime first booted is a placeholder (it reads -1,
 * libsde's convention) that numago's registration at boot fills in: the
 * "early" event set checks that order.  The main event set is made inside
 * the main goroutine, after the registration, and holds every event.
 * PAPI_thread_init is not called: a goroutine may move between OS threads,
 * and without it PAPI's event sets are not tied to one.
 *
 * Checked: the sde component is enabled; every name is listed by the
 * component; at quiescent points (all goroutines done) each event equals
 * the statistic exactly; 10,000 goroutines that yield on 2 Ps raise spawns
 * and switches by at least 10,000, and steals (all of them in the class of
 * the distance between P0 and P1) above 0; failed steals, likewise all in
 * that class; switches and parks (ng_stats) equal the sums over the Ps; a
 * known sequence of channel operations moves chan_sends, chan_recvs and
 * chan_select by exactly its counts; a name no library registered
 * fails to add; after the runtime stops reads return the last run's values;
 * a second ng_run in the same process reads live through the same event
 * set. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <papi.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* what the events are expected to read (computed here, independently) */
typedef struct vals {
	ng_stats st;
	uint64_t switches, parks, stolen, global_gets;
} vals;

typedef struct ev {
	const char *name;
	size_t off;
} ev;

#define ST(f)     "sde:::numago::" #f, offsetof(vals, st.f)
#define SUM(f)    "sde:::numago::" #f, offsetof(vals, f)
#define CLS(c, n) "sde:::numago::steals_by_class::" n, offsetof(vals, st.steals_by_class[c])
#define FCLS(c, n) \
	"sde:::numago::failed_steals_by_class::" n, offsetof(vals, st.failed_steals_by_class[c])

static const ev events[] = {
    {ST(spawns)},
    {ST(switches)},
    {ST(steals)},
    {SUM(stolen)},
    {CLS(NG_DIST_SELF, "self")},
    {CLS(NG_DIST_CORE, "core")},
    {CLS(NG_DIST_L2, "l2")},
    {CLS(NG_DIST_L3, "l3")},
    {CLS(NG_DIST_NODE, "node")},
    {CLS(NG_DIST_PACKAGE, "package")},
    {CLS(NG_DIST_REMOTE, "remote")},
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
    {FCLS(NG_DIST_SELF, "self")},
    {FCLS(NG_DIST_CORE, "core")},
    {FCLS(NG_DIST_L2, "l2")},
    {FCLS(NG_DIST_L3, "l3")},
    {FCLS(NG_DIST_NODE, "node")},
    {FCLS(NG_DIST_PACKAGE, "package")},
    {FCLS(NG_DIST_REMOTE, "remote")},
    {ST(spin_ns)},
    {ST(chan_sends)},
    {ST(chan_recvs)},
    {ST(chan_select)},
};
#define NEV        ((int)(sizeof events / sizeof events[0]))
#define I_SPAWNS   0
#define I_SWITCHES 1
#define I_STEALS   2
#define I_CLASS0   4
#define I_FAILED   22
#define I_FCLASS0  23
#define I_SENDS    31
#define I_RECVS    32
#define I_SELECT   33

static int es = PAPI_NULL;    /* every event, made in the first run */
static int early = PAPI_NULL; /* spawns, added before the first boot */
static vals last_run1;        /* the statistics when run 1's main returned */

static uint64_t get(const vals *v, int i)
{
	uint64_t x;
	memcpy(&x, (const char *)v + events[i].off, sizeof x);
	return x;
}

static void stats(vals *v)
{
	memset(v, 0, sizeof *v);
	CHECK_EQ(ng_stats_read(&v->st), 0);
	ng_proc_stats ps;
	int n = 0;
	for (; ng_stats_proc(n, &ps) == 0; n++) {
		v->switches += ps.runs;
		v->parks += ps.parks;
		v->stolen += ps.stolen;
		v->global_gets += ps.global_gets;
	}
	CHECK_EQ(n, ng_procs());
}

/* PAPI_read between two ng_stats snapshots until nothing moved in between
 * (sysmon and idle Ms may bump a counter at any time): then every event
 * must equal its statistic exactly.  Each attempt also checks that every
 * event lies between the two snapshots (all are monotonic). */
static void read_exact(vals *out, long long *pv)
{
	for (int attempt = 0; attempt < 1000; attempt++) {
		vals a, b;
		stats(&a);
		CHECK_EQ(PAPI_read(es, pv), PAPI_OK);
		stats(&b);
		bool same = true;
		for (int i = 0; i < NEV; i++) {
			CHECK(pv[i] >= 0);
			CHECK((uint64_t)pv[i] >= get(&a, i));
			CHECK((uint64_t)pv[i] <= get(&b, i));
			same &= get(&a, i) == get(&b, i);
		}
		/* ng_stats' switches and parks are the Ps' sums */
		same &= a.switches == a.st.switches && a.parks == a.st.parks;
		if (same) {
			for (int i = 0; i < NEV; i++)
				CHECK_EQ(pv[i], get(&a, i));
			*out = a;
			return;
		}
		ng_yield();
	}
	CHECK(!"the statistics never held still for one PAPI_read");
}

static ng_waitgroup wg = NG_WAITGROUP_INIT;

static void spin_us(int us)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < us * 1000L);
}

static void worker(void *arg)
{
	(void)arg;
	spin_us(10);
	ng_yield();
	spin_us(10);
	ng_waitgroup_done(&wg);
}

/* rounds of 200 (below the 256-slot run queue: the other P gets them only by
 * stealing) until 10,000 ran and some were stolen */
static int spawn_batches(int min_total)
{
	int total = 0;
	vals v;
	for (int round = 0; round < 500; round++) {
		CHECK_EQ(ng_waitgroup_add(&wg, 200), 0);
		for (int i = 0; i < 200; i++)
			CHECK_EQ(ng_go(worker, NULL), 0);
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		total += 200;
		stats(&v);
		if (total >= min_total && v.st.steals > 0)
			break;
	}
	return total;
}

static bool listed(int cidx, const char *name)
{
	int code = PAPI_NATIVE_MASK;
	if (PAPI_enum_cmp_event(&code, PAPI_ENUM_FIRST, cidx) != PAPI_OK)
		return false;
	do {
		char buf[PAPI_MAX_STR_LEN];
		if (PAPI_event_code_to_name(code, buf) == PAPI_OK && strcmp(buf, name) == 0)
			return true;
	} while (PAPI_enum_cmp_event(&code, PAPI_ENUM_EVENTS, cidx) == PAPI_OK);
	return false;
}

static int run1(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_procs(), 2);

	/* the placeholder added before boot now reads the statistic */
	long long ev_early;
	vals a, b;
	stats(&a);
	CHECK_EQ(PAPI_read(early, &ev_early), PAPI_OK);
	stats(&b);
	CHECK(ev_early >= (long long)a.st.spawns && ev_early <= (long long)b.st.spawns);

	CHECK_EQ(PAPI_create_eventset(&es), PAPI_OK);
	for (int i = 0; i < NEV; i++) {
		int rc = PAPI_add_named_event(es, events[i].name);
		if (rc != PAPI_OK)
			fprintf(stderr, "%s: %s\n", events[i].name, PAPI_strerror(rc));
		CHECK_EQ(rc, PAPI_OK);
	}
	CHECK_EQ(PAPI_num_events(es), NEV);
	CHECK_EQ(PAPI_start(es), PAPI_OK);

	long long before[NEV], after[NEV];
	vals v0, v1;
	read_exact(&v0, before);
	int total = spawn_batches(10000);
	/* channel operations, all on this goroutine: 3 buffered sends and
	 * receives, a select that receives, a try_recv that fails (not
	 * counted) */
	ng_chan *ch = ng_chan_make(sizeof(int), 4);
	CHECK(ch != NULL);
	int x = 7;
	for (int i = 0; i < 3; i++)
		CHECK_EQ(ng_chan_send(ch, &x), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(ng_chan_recv(ch, &x), 0);
	ng_case k = NG_RECV_CASE(ch, &x);
	CHECK_EQ(ng_select(&k, 1, NG_FOREVER), 0);
	CHECK_EQ(ng_chan_try_recv(ch, &x), -EAGAIN);
	ng_chan_release(ch);
	read_exact(&v1, after);
	CHECK_EQ(after[I_SENDS] - before[I_SENDS], 3);
	CHECK_EQ(after[I_RECVS] - before[I_RECVS], 3);
	CHECK_EQ(after[I_SELECT] - before[I_SELECT], 1);
	fprintf(stderr,
	        "%d goroutines: spawns %lld -> %lld, switches %lld -> %lld, steals %lld -> %lld\n",
	        total, before[I_SPAWNS], after[I_SPAWNS], before[I_SWITCHES], after[I_SWITCHES],
	        before[I_STEALS], after[I_STEALS]);
	for (int i = 0; i < NEV; i++)
		fprintf(stderr, "  %-40s %lld\n", events[i].name, after[i]);
	CHECK(total >= 10000);
	CHECK(after[I_SPAWNS] - before[I_SPAWNS] >= total);
	/* each goroutine is switched to at least once (its yield need not
	 * switch: nothing else may be runnable on its P) */
	CHECK(after[I_SWITCHES] - before[I_SWITCHES] >= total);
	CHECK(after[I_STEALS] > before[I_STEALS]);
	/* two Ps: every steal is between P0 and P1, so in one class */
	int cls = ng_topo_distance(0, 1);
	CHECK(cls >= 0 && cls < NG_DIST_NCLASSES);
	long long by_class = 0;
	for (int c = 0; c < NG_DIST_NCLASSES; c++) {
		by_class += after[I_CLASS0 + c];
		if (c != cls)
			CHECK_EQ(after[I_CLASS0 + c], 0);
	}
	CHECK_EQ(after[I_CLASS0 + cls], after[I_STEALS]);
	CHECK_EQ(by_class, after[I_STEALS]);
	long long failed_by_class = 0;
	for (int c = 0; c < NG_DIST_NCLASSES; c++) {
		failed_by_class += after[I_FCLASS0 + c];
		if (c != cls)
			CHECK_EQ(after[I_FCLASS0 + c], 0);
	}
	CHECK_EQ(failed_by_class, after[I_FAILED]);
	CHECK(v1.stolen >= v1.st.steals);

	/* names: one outside any component, or in no library, fails; libsde
	 * makes any name under a library prefix a placeholder (for events added
	 * before the library registers them: "early" shows it reads -1) */
	int bad = PAPI_NULL;
	CHECK_EQ(PAPI_create_eventset(&bad), PAPI_OK);
	CHECK(PAPI_add_named_event(bad, "numago::no_such_counter") != PAPI_OK);
	CHECK(PAPI_add_named_event(bad, "sde:::no_such_counter") != PAPI_OK);
	CHECK_EQ(PAPI_num_events(bad), 0);
	CHECK_EQ(PAPI_add_named_event(bad, "sde:::numago::no_such_counter"), PAPI_OK);
	CHECK_EQ(PAPI_num_events(bad), 1);
	CHECK_EQ(PAPI_cleanup_eventset(bad), PAPI_OK);
	CHECK_EQ(PAPI_destroy_eventset(&bad), PAPI_OK);

	/* what the events must still read once the runtime has stopped */
	read_exact(&last_run1, after);
	return 0;
}

static int run2(void *arg)
{
	(void)arg;
	long long pv[NEV];
	vals v0, v1;
	read_exact(&v0, pv);
	int total = spawn_batches(1000);
	read_exact(&v1, pv);
	CHECK(v1.st.spawns - v0.st.spawns >= (uint64_t)total);
	fprintf(stderr, "second run: spawns %llu, switches %llu\n",
	        (unsigned long long)v1.st.spawns, (unsigned long long)v1.switches);
	return 0;
}

int main(void)
{
	int ver = PAPI_library_init(PAPI_VER_CURRENT);
	if (ver != PAPI_VER_CURRENT)
		fprintf(stderr, "PAPI_library_init: %d (%s)\n", ver, PAPI_strerror(ver));
	CHECK_EQ(ver, PAPI_VER_CURRENT);
	int cidx = PAPI_get_component_index("sde");
	CHECK(cidx >= 0);
	const PAPI_component_info_t *ci = PAPI_get_component_info(cidx);
	CHECK(ci != NULL);
	if (ci->disabled)
		fprintf(stderr, "sde component disabled: %s\n", ci->disabled_reason);
	CHECK(!ci->disabled);

	/* before numago registered anything: a placeholder */
	CHECK_EQ(PAPI_create_eventset(&early), PAPI_OK);
	CHECK_EQ(PAPI_add_named_event(early, "sde:::numago::spawns"), PAPI_OK);
	CHECK_EQ(PAPI_start(early), PAPI_OK);
	long long v = 0;
	CHECK_EQ(PAPI_read(early, &v), PAPI_OK);
	CHECK_EQ(v, -1);

	ng_config cfg = {0};
	cfg.procs = 2;
	CHECK_EQ(ng_run(&cfg, run1, NULL), 0);

	/* the runtime is down: the last values, and no crash */
	long long pv[NEV];
	CHECK_EQ(PAPI_read(es, pv), PAPI_OK);
	for (int i = 0; i < NEV; i++)
		CHECK((uint64_t)pv[i] >= get(&last_run1, i));
	/* nothing spawned or stole after run1's last read */
	CHECK_EQ(pv[I_SPAWNS], last_run1.st.spawns);
	CHECK_EQ(pv[I_STEALS], last_run1.st.steals);
	for (int c = 0; c < NG_DIST_NCLASSES; c++)
		CHECK_EQ(pv[I_CLASS0 + c], last_run1.st.steals_by_class[c]);
	/* every event is listed by the component (the events stay registered
	 * between runs).  On this thread: PAPI 7.0's PAPI_enum_cmp_event on
	 * the sde component crashes on any thread but the one that called
	 * PAPI_library_init (plain pthreads too; PAPI_thread_init or not). */
	for (int i = 0; i < NEV; i++)
		CHECK(listed(cidx, events[i].name));
	long long pv2[NEV];
	CHECK_EQ(PAPI_read(es, pv2), PAPI_OK);
	for (int i = 0; i < NEV; i++)
		CHECK_EQ(pv2[i], pv[i]);

	/* again, in the same process, through the same event set */
	CHECK_EQ(ng_run(&cfg, run2, NULL), 0);

	CHECK_EQ(PAPI_stop(es, pv), PAPI_OK);
	CHECK_EQ(PAPI_stop(early, &v), PAPI_OK);
	CHECK_EQ(PAPI_cleanup_eventset(es), PAPI_OK);
	CHECK_EQ(PAPI_destroy_eventset(&es), PAPI_OK);
	CHECK_EQ(PAPI_cleanup_eventset(early), PAPI_OK);
	CHECK_EQ(PAPI_destroy_eventset(&early), PAPI_OK);
	PAPI_shutdown();
	printf("ok\n");
	return 0;
}
