/* Failing initialisation (NUMAGO_FAULT, core/fault.h): what a user sees when
 * hwloc or PAPI fails, exactly.  hwloc's topology of this machine is loaded
 * once per process and PAPI initialised once per process, so every part
 * runs in a child process, with the switch set in its environment.
 *
 *  hwloc  this machine's topology failing (hwloc_topology_init, or
 *         hwloc_topology_load with hwloc@1): ng_run runs main on a flat
 *         machine (1 NUMA node, the affinity mask's PUs, each P on a PU of
 *         its own, every pair of Ps at class NODE) after exactly one line
 *         naming the call, its error and what is used instead; the next
 *         ng_run in the process, with the fault spent, loads hwloc's
 *         topology again, silently.  An asked-for topology (ng_config,
 *         NUMAGO_TOPOLOGY) is never replaced: ng_run returns -ENOMEM (init)
 *         or -EINVAL (load) with exactly one line, and main never runs.
 *  papi   PAPI_library_init failing: auto falls to the next tier and the
 *         NUMAGO_DEBUG=counters=1 line is the unfaulted one with the PAPI
 *         reason "PAPI: PAPI_library_init: A System/C library call failed"
 *         (PAPI_strerror gives no text before an init: it read "(null)");
 *         =papi warns once and runs auto (perf.h); =require returns
 *         -ENODEV with its one line unless perf_event hardware counters
 *         work.  Where PAPI's tier works here, the trial PAPI_start (papi@1)
 *         and PAPI_read (papi@2) failing too. */
#define _GNU_SOURCE
#include "ng_child.h"
#include "perf_probe.h"

#include "core/fault.h"

#include <numago.h>

#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if NG_TEST_HWLOC || NG_TEST_PAPI
static ng_child child;

/* a part: what its child sets in its environment and runs with */
typedef struct part {
	const char *fault;    /* NUMAGO_FAULT */
	const char *counters; /* NUMAGO_COUNTERS (NULL: unset) */
	const char *topo_env; /* NUMAGO_TOPOLOGY (NULL: unset) */
	const char *topo_cfg; /* ng_config.topology */
	bool debug;           /* NUMAGO_DEBUG=counters=1 */
} part;

static const part *cur;

static int main_ran;

/* The child prints nothing of its own unless a check fails: what it wrote
 * is what the user sees. */
static int run_part(void *arg)
{
	(void)arg;
	unsetenv("NUMAGO_DEBUG");
	unsetenv("NUMAGO_COUNTERS");
	unsetenv("NUMAGO_TOPOLOGY");
	unsetenv("NUMAGO_PROCS");
	if (cur->fault != NULL)
		setenv("NUMAGO_FAULT", cur->fault, 1);
	if (cur->counters != NULL)
		setenv("NUMAGO_COUNTERS", cur->counters, 1);
	if (cur->topo_env != NULL)
		setenv("NUMAGO_TOPOLOGY", cur->topo_env, 1);
	if (cur->debug)
		setenv("NUMAGO_DEBUG", "counters=1", 1);
	return 0;
}

static void run(const char *what, const part *p, int (*fn)(void *))
{
	cur = p;
	main_ran = 0;
	ng_child_run(&child, fn, NULL, NULL, NULL, 30);
	printf("---- %s (NUMAGO_FAULT=%s): status %#x\n%s", what, p->fault, child.status,
	       child.out);
}

#endif

#if NG_TEST_HWLOC
/* ------------------------------------------------------------ hwloc --- */

static int affinity_cpus(cpu_set_t *set)
{
	CHECK_EQ(sched_getaffinity(0, sizeof *set, set), 0);
	return CPU_COUNT(set);
}

static void noop(void *arg)
{
	(void)arg;
}

/* the process's affinity before the runtime bound its threads */
static cpu_set_t boot_set;

/* On the flat machine: ng_topo_* agree with each other and with the
 * affinity mask; goroutines run, also on node 0. */
static int flat_main(void *arg)
{
	(void)arg;
	main_ran = 1;
	cpu_set_t set = boot_set;
	int n = CPU_COUNT(&set);
	CHECK_EQ(ng_topo_nnodes(), 1);
	CHECK_EQ(ng_topo_npus(), n);
	CHECK_EQ(ng_topo_is_fake(), 0);
	CHECK_EQ(ng_topo_node_distance(0, 0), 0);
	int np = ng_procs();
	CHECK(np >= 1 && np <= n);
	for (int p = 0; p < np; p++) {
		int pus[8];
		CHECK_EQ(ng_topo_proc_pus(p, pus, 8), 1);
		CHECK(CPU_ISSET(pus[0], &set));
		CHECK_EQ(ng_topo_proc_node(p), 0);
		CHECK_EQ(ng_topo_distance(p, p), NG_DIST_SELF);
		for (int q = 0; q < np; q++)
			if (q != p)
				CHECK_EQ(ng_topo_distance(p, q), NG_DIST_NODE);
		int v[64];
		CHECK_EQ(ng_topo_victims(p, v, 64), np - 1);
	}
	ng_go_attr a = NG_GO_ATTR_INIT;
	a.numa_node = 0;
	CHECK_EQ(ng_go_attr(&a, noop, NULL), 0);
	a.numa_node = 1;
	CHECK_EQ(ng_go_attr(&a, noop, NULL), -EINVAL);
	void *m = ng_topo_alloc_onnode(4096, 0);
	CHECK(m != NULL);
	((char *)m)[0] = 1;
	ng_topo_free(m, 4096);
	ng_yield();
	return 7;
}

static int real_main(void *arg)
{
	(void)arg;
	main_ran = 1;
	CHECK(ng_topo_nnodes() >= 1);
	return 8;
}

static int hwloc_child(void *arg)
{
	run_part(arg);
	affinity_cpus(&boot_set);
	CHECK_EQ(ng_run(NULL, flat_main, NULL), 7);
	CHECK_EQ(main_ran, 1);
	CHECK_EQ(ng_fault_count(NG_FAULT_HWLOC), 1);
	/* the fault gone (a boot re-reads NUMAGO_FAULT): hwloc's topology
	 * again, and no line */
	unsetenv("NUMAGO_FAULT");
	CHECK_EQ(ng_fault_set(NULL), 0);
	main_ran = 0;
	CHECK_EQ(ng_run(NULL, real_main, NULL), 8);
	CHECK_EQ(main_ran, 1);
	return 0;
}

static int refused_child(void *arg)
{
	run_part(arg);
	ng_config cfg = {0};
	cfg.topology = cur->topo_cfg;
	int rc = ng_run(&cfg, real_main, NULL);
	CHECK_EQ(main_ran, 0);
	return -rc; /* the parent checks the errno */
}

static void hwloc_parts(void)
{
	cpu_set_t set;
	char want[256];
	int n = affinity_cpus(&set);

	part init = {.fault = "hwlocx1"};
	run("hwloc_topology_init fails", &init, hwloc_child);
	snprintf(want, sizeof want,
	         "numago: hwloc cannot load this machine's topology (hwloc_topology_init: "
	         "Cannot allocate memory): using a flat one instead: 1 NUMA node, %d PUs from "
	         "the affinity mask\n",
	         n);
	CHECK_CHILD(&child, "init", ng_child_exited_with(&child, 0));
	CHECK_CHILD(&child, "init", strcmp(child.out, want) == 0);

	part load = {.fault = "hwloc@1x1"};
	run("hwloc_topology_load fails", &load, hwloc_child);
	snprintf(want, sizeof want,
	         "numago: hwloc cannot load this machine's topology (hwloc_topology_load: "
	         "Input/output error): using a flat one instead: 1 NUMA node, %d PUs from the "
	         "affinity mask\n",
	         n);
	CHECK_CHILD(&child, "load", ng_child_exited_with(&child, 0));
	CHECK_CHILD(&child, "load", strcmp(child.out, want) == 0);

	/* asked for a machine: refused, not replaced */
	part cfg = {.fault = "hwloc", .topo_cfg = "synthetic:pack:2 core:2 pu:1"};
	run("a synthetic topology in ng_config, hwloc_topology_init fails", &cfg, refused_child);
	CHECK_CHILD(&child, "cfg", ng_child_exited_with(&child, ENOMEM));
	CHECK_CHILD(&child, "cfg",
	            strcmp(child.out,
	                   "numago: topology 'synthetic:pack:2 core:2 pu:1' cannot be "
	                   "loaded: hwloc_topology_init: Cannot allocate memory\n") == 0);

	part env = {.fault = "hwloc@1",
	            .topo_env = "synthetic:numa:2 core:1 pu:1",
	            .topo_cfg = "synthetic:pack:2 core:2 pu:1"};
	run("NUMAGO_TOPOLOGY synthetic, hwloc_topology_load fails", &env, refused_child);
	CHECK_CHILD(&child, "env", ng_child_exited_with(&child, EINVAL));
	CHECK_CHILD(&child, "env",
	            strcmp(child.out, "numago: topology 'synthetic:numa:2 core:1 pu:1' cannot be "
	                              "loaded (Input/output error)\n") == 0);
}

#endif /* NG_TEST_HWLOC */

#if NG_TEST_PAPI
static int count_of(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* ------------------------------------------------------------- PAPI --- */

static int tier_g;

static int tier_main(void *arg)
{
	(void)arg;
	main_ran = 1;
	char why[512];
	tier_g = ng_counters_tier(why, sizeof why);
	return 0;
}

/* exits with the tier, or 100 + the errno when ng_run failed */
static int counters_child(void *arg)
{
	run_part(arg);
	int rc = ng_run(NULL, tier_main, NULL);
	if (rc != 0) {
		CHECK_EQ(main_ran, 0);
		return 100 - rc;
	}
	return tier_g;
}

/* The NUMAGO_DEBUG line's text (after "numago: counters: ") into out. */
static void tier_line(const char *text, char *out, size_t n)
{
	const char *l = strstr(text, "numago: counters: ");
	CHECK(l != NULL);
	l += strlen("numago: counters: ");
	snprintf(out, n, "%.*s", (int)strcspn(l, "\n"), l);
}

/* s with its "PAPI: ..." reason (up to "; " or the end) replaced by r */
static void with_papi_reason(const char *s, const char *r, char *out, size_t n)
{
	const char *p = strstr(s, "PAPI: ");
	CHECK(p != NULL);
	const char *end = strstr(p, "; ");
	if (end == NULL)
		end = p + strlen(p);
	snprintf(out, n, "%.*s%s%s", (int)(p - s), s, r, end);
}

static void papi_parts(void)
{
	static const char init_err[] = "PAPI: PAPI_library_init: A System/C library call failed";
	char base[512], line[512], want[1024];
	bool hw_perf = probe_hw_perf();

	part plain = {.debug = true};
	run("no fault: the tier line as it is here", &plain, counters_child);
	CHECK_CHILD(&child, "base", WIFEXITED(child.status));
	tier_line(child.out, base, sizeof base);
	bool papi_tier = strncmp(base, "PAPI tier", 9) == 0;

	part aut = {.fault = "papi", .debug = true};
	run("auto, PAPI_library_init fails", &aut, counters_child);
	CHECK_CHILD(&child, "auto", WIFEXITED(child.status) && WEXITSTATUS(child.status) < 100);
	CHECK_CHILD(&child, "auto", WEXITSTATUS(child.status) != NG_COUNTERS_PAPI);
	CHECK_CHILD(&child, "auto", count_of(child.out, "\n") == 1); /* the line, nothing else */
	tier_line(child.out, line, sizeof line);
	if (!papi_tier) {
		/* the same tier, the reason PAPI was not taken is the fault */
		with_papi_reason(base, init_err, want, sizeof want);
		CHECK_CHILD(&child, "auto", strcmp(line, want) == 0);
	} else {
		snprintf(want, sizeof want, "; %s", init_err);
		CHECK_CHILD(&child, "auto", strstr(line, want) != NULL);
	}

	part papi = {.fault = "papi", .counters = "papi", .debug = true};
	run("NUMAGO_COUNTERS=papi, PAPI_library_init fails", &papi, counters_child);
	CHECK_CHILD(&child, "papi", WIFEXITED(child.status) && WEXITSTATUS(child.status) < 100);
	snprintf(want, sizeof want, "numago: NUMAGO_COUNTERS=papi: %s: using auto\n", init_err);
	CHECK_CHILD(&child, "papi", strncmp(child.out, want, strlen(want)) == 0);
	CHECK_CHILD(&child, "papi", count_of(child.out, "\n") == 2); /* + the tier line */
	CHECK_CHILD(&child, "papi", count_of(child.out, "numago: counters: ") == 1);

	part req = {.fault = "papi", .counters = "require", .debug = true};
	run("NUMAGO_COUNTERS=require, PAPI_library_init fails", &req, counters_child);
	if (hw_perf) {
		CHECK_CHILD(&child, "require", ng_child_exited_with(&child, NG_COUNTERS_PERF));
	} else {
		const char *perf = strstr(base, "perf_event hardware: ");
		CHECK(perf != NULL);
		snprintf(want, sizeof want,
		         "numago: NUMAGO_COUNTERS=require: no hardware counters (%s; %.*s)\n",
		         init_err, (int)strcspn(perf, ";"), perf);
		CHECK_CHILD(&child, "require", ng_child_exited_with(&child, 100 + ENODEV));
		CHECK_CHILD(&child, "require", strcmp(child.out, want) == 0);
	}

	if (!papi_tier) {
		printf("PAPI's tier does not work here (%s): its trial start/read are not "
		       "reached\n",
		       base);
		return;
	}
	static const struct {
		const char *fault, *reason;
	} trial[] = {
	    {"papi@1x1",
	     "PAPI: PAPI_start: Event exists, but cannot be counted due to hardware resource "
	     "limits"},
	    {"papi@2x1", "PAPI: trial PAPI_read: A System/C library call failed"},
	};
	for (int i = 0; i < 2; i++) {
		part t = {.fault = trial[i].fault, .debug = true};
		run("PAPI's trial fails", &t, counters_child);
		CHECK_CHILD(&child, "trial",
		            WIFEXITED(child.status) && WEXITSTATUS(child.status) < 100 &&
		                WEXITSTATUS(child.status) != NG_COUNTERS_PAPI);
		tier_line(child.out, line, sizeof line);
		snprintf(want, sizeof want, "; %s", trial[i].reason);
		CHECK_CHILD(&child, "trial", strstr(line, want) != NULL);
	}
}

#endif /* NG_TEST_PAPI */

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	unsetenv("NUMAGO_FAULT");
#if NG_TEST_HWLOC
	hwloc_parts();
#else
	printf("built without hwloc: no hwloc site\n");
#endif
#if NG_TEST_PAPI
	papi_parts();
#else
	printf("built without PAPI: no PAPI site\n");
#endif
	printf("test_fault_init: ok\n");
	return 0;
}
