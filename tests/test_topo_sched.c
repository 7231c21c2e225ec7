/* The scheduler on top of the topology:
 *
 *  1. Steal census: a tree of spawns on a 2-package synthetic machine steals
 *     across packages less often with locality on (victims nearest first)
 *     than in topology-blind mode (random victims).  Both are printed.
 *  2. fib(25) without cutoff on a 64-PU synthetic machine run on this small
 *     one (64 Ps on a few CPUs: no spinning, no wake storms) is right and
 *     finishes within the test's timeout.
 *  3. ng_go_attr.numa_node starts the goroutine on a P of that node.
 *  4. On the real machine each M is bound to its P's PUs: a goroutine pinned
 *     to P k runs on a thread whose affinity is exactly P k's PUs.
 *  5. The number of Ps follows the cgroup v2 CPU quota (a fixture tree read
 *     through NUMAGO_DEBUG=cgroot), and ng_config.procs overrides it.
 *  6. A process bound to one CPU by its launcher gets one P on that CPU.
 *  7. A topology that cannot be loaded makes ng_run return -EINVAL (with a
 *     one-line message); NUMAGO_TOPOLOGY wins over ng_config.topology.
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- 1. steal census ---- */

typedef struct tnode {
	int depth;
	ng_waitgroup *wg;
} tnode;

static _Atomic uint64_t leaves;

static void tree(void *arg)
{
	tnode n = *(tnode *)arg;
	if (n.depth == 0) {
		/* a little work per leaf, so queues fill and thieves find it */
		volatile uint64_t x = 0;
		for (int i = 0; i < 2000; i++)
			x += (uint64_t)i;
		atomic_fetch_add(&leaves, 1);
	} else {
		for (int i = 0; i < 2; i++) {
			tnode c = {n.depth - 1, n.wg};
			ng_waitgroup_add(n.wg, 1);
			CHECK_EQ(ng_go_copy(tree, &c, sizeof c), 0);
		}
	}
	ng_waitgroup_done(n.wg);
}

static ng_stats census;

static int census_main(void *arg)
{
	(void)arg;
	ng_stats before;
	CHECK_EQ(ng_stats_read(&before), 0);
	for (int round = 0; round < 8; round++) {
		ng_waitgroup wg = NG_WAITGROUP_INIT;
		tnode root = {NG_TEST_SCALE(14, 10), &wg};
		ng_waitgroup_add(&wg, 1);
		CHECK_EQ(ng_go_copy(tree, &root, sizeof root), 0);
		ng_waitgroup_wait(&wg);
	}
	CHECK_EQ(ng_stats_read(&census), 0);
	for (int c = 0; c < NG_DIST_NCLASSES; c++)
		census.steals_by_class[c] -= before.steals_by_class[c];
	return 0;
}

static double remote_share(const ng_stats *s, uint64_t *total)
{
	uint64_t t = 0;
	for (int c = 0; c < NG_DIST_NCLASSES; c++)
		t += s->steals_by_class[c];
	*total = t;
	return t ? (double)s->steals_by_class[NG_DIST_REMOTE] / (double)t : 0;
}

static void steal_census(void)
{
	ng_config cfg = {0};
	cfg.topology = "synthetic:pack:2 core:4 pu:1";
	CHECK_EQ(ng_run(&cfg, census_main, NULL), 0);
	ng_stats local = census;
	cfg.locality = -1;
	CHECK_EQ(ng_run(&cfg, census_main, NULL), 0);
	ng_stats blind = census;
	uint64_t nl, nb;
	double rl = remote_share(&local, &nl), rb = remote_share(&blind, &nb);
	printf("steal census on pack:2 core:4 pu:1 (8 Ps)\n");
	printf("  locality: %llu steals, %llu same package, %llu cross-package (%.1f%%)\n",
	       (unsigned long long)nl, (unsigned long long)local.steals_by_class[NG_DIST_NODE],
	       (unsigned long long)local.steals_by_class[NG_DIST_REMOTE], 100 * rl);
	printf("  blind:    %llu steals, %llu same package, %llu cross-package (%.1f%%)\n",
	       (unsigned long long)nb, (unsigned long long)blind.steals_by_class[NG_DIST_NODE],
	       (unsigned long long)blind.steals_by_class[NG_DIST_REMOTE], 100 * rb);
	/* The synthetic machine has no caches and one node: a steal is either
	 * within the package or across. */
	CHECK_EQ(local.steals_by_class[NG_DIST_NODE] + local.steals_by_class[NG_DIST_REMOTE], nl);
	CHECK(nl >= 20 && nb >= 20);
	CHECK(rl < rb);
}

/* ---- 2. fib(25) on 64 Ps ---- */

typedef struct fibarg {
	int n;
	int64_t *out;
	ng_waitgroup *wg;
} fibarg;

static void fib(void *arg)
{
	fibarg a = *(fibarg *)arg;
	if (a.n < 2) {
		*a.out = a.n;
	} else {
		int64_t x, y;
		ng_waitgroup wg = NG_WAITGROUP_INIT;
		fibarg l = {a.n - 1, &x, &wg}, r = {a.n - 2, &y, &wg};
		ng_waitgroup_add(&wg, 2);
		CHECK_EQ(ng_go_copy(fib, &l, sizeof l), 0);
		CHECK_EQ(ng_go_copy(fib, &r, sizeof r), 0);
		ng_waitgroup_wait(&wg);
		*a.out = x + y;
	}
	ng_waitgroup_done(a.wg);
}

static int fib_main(void *arg)
{
	int n = *(int *)arg;
	CHECK_EQ(ng_procs(), 64);
	int64_t r = -1;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	fibarg a = {n, &r, &wg};
	ng_waitgroup_add(&wg, 1);
	CHECK_EQ(ng_go_copy(fib, &a, sizeof a), 0);
	ng_waitgroup_wait(&wg);
	CHECK_EQ(r, n == 25 ? 75025 : 6765);
	return 0;
}

static void fib_64(void)
{
	ng_config cfg = {0};
	cfg.topology = "synthetic:pack:2 numa:2 core:8 pu:2";
	int n = NG_TEST_SCALE(25, 20);
	/* TSan runs ~10x slower, so slices end ~10x as often; each preempted
	 * spawner waits in the global queue while others start new subtrees,
	 * and the live goroutines (fibers, to TSan) passed its 8128 limit.
	 * This part is about 64 Ps, not preemption. */
	if (NG_TEST_TSAN)
		cfg.time_slice = (int64_t)60 * 1000000000;
	int64_t t0 = now_ns();
	CHECK_EQ(ng_run(&cfg, fib_main, &n), 0);
	printf("fib(%d) without cutoff on 64 synthetic PUs: %.0f ms\n", n,
	       (double)(now_ns() - t0) / 1e6);
}

/* ---- 3. numa_node placement ---- */

static _Atomic int ran_node = -1;

static void where(void *arg)
{
	atomic_store(&ran_node, ng_topo_proc_node(ng_self_proc()));
	ng_waitgroup_done(arg);
}

static int node_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_topo_nnodes(), 4);
	for (int node = 0; node < 4; node++)
		for (int rep = 0; rep < 8; rep++) {
			ng_waitgroup wg = NG_WAITGROUP_INIT;
			ng_go_attr attr = NG_GO_ATTR_INIT;
			attr.numa_node = node;
			ng_waitgroup_add(&wg, 1);
			CHECK_EQ(ng_go_attr(&attr, where, &wg), 0);
			ng_waitgroup_wait(&wg);
			CHECK_EQ(atomic_load(&ran_node), node);
		}
	ng_go_attr bad = NG_GO_ATTR_INIT;
	bad.numa_node = 4;
	CHECK_EQ(ng_go_attr(&bad, where, NULL), -EINVAL);
	return 0;
}

static void numa_node_attr(void)
{
	ng_config cfg = {0};
	cfg.topology = "synthetic:pack:2 numa:2 core:2 pu:1";
	CHECK_EQ(ng_run(&cfg, node_main, NULL), 0);
}

/* ---- 4. real binding ---- */

static _Atomic int affinity_ok;

static void check_affinity(void *arg)
{
	int me = ng_self_proc();
	int pus[CPU_SETSIZE];
	int n = ng_topo_proc_pus(me, pus, CPU_SETSIZE);
	cpu_set_t set;
	CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
	int ok = CPU_COUNT(&set) == n;
	for (int i = 0; i < n; i++)
		ok &= CPU_ISSET(pus[i], &set) != 0;
	if (!ok)
		atomic_store(&affinity_ok, 0);
	ng_waitgroup_done(arg);
}

static int bind_main(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_topo_is_fake(), 0);
	atomic_store(&affinity_ok, 1);
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	for (int p = 0; p < ng_procs(); p++) {
		ng_go_attr attr = NG_GO_ATTR_INIT;
		attr.proc = p;
		ng_waitgroup_add(&wg, 1);
		CHECK_EQ(ng_go_attr(&attr, check_affinity, &wg), 0);
	}
	ng_waitgroup_wait(&wg);
	CHECK_EQ(atomic_load(&affinity_ok), 1);
	for (int p = 0; p < ng_procs(); p++) {
		int pus[CPU_SETSIZE];
		CHECK(ng_topo_binding(p, pus, CPU_SETSIZE) >= 1);
	}
	return 0;
}

static void real_binding(void)
{
	ng_config cfg = {0};
	CHECK_EQ(ng_run(&cfg, bind_main, NULL), 0);
}

/* ---- 5. Ps clamped by the cgroup quota, end to end ---- */

static void put(const char *dir, const char *rel, const char *text)
{
	char path[512], cmd[600];
	snprintf(path, sizeof path, "%s/%s", dir, rel);
	snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
	CHECK_EQ(system(cmd), 0);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
}

static int procs_main(void *arg)
{
	*(int *)arg = ng_procs();
	return 0;
}

static int procs_with_quota(const char *dir, const char *cpu_max, int cfg_procs)
{
	put(dir, "sys/fs/cgroup/job/cpu.max", cpu_max);
	char dbg[600];
	snprintf(dbg, sizeof dbg, "cgroot=%s", dir);
	CHECK_EQ(setenv("NUMAGO_DEBUG", dbg, 1), 0);
	ng_config cfg = {0};
	cfg.topology = "synthetic:pack:2 core:8 pu:1";
	cfg.procs = cfg_procs;
	int n = 0;
	CHECK_EQ(ng_run(&cfg, procs_main, &n), 0);
	CHECK_EQ(unsetenv("NUMAGO_DEBUG"), 0);
	return n;
}

static void cgroup_clamp(void)
{
	char dir[] = "/tmp/numago-cgXXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	put(dir, "proc/self/cgroup", "0::/job\n");
	put(dir, "proc/self/mountinfo",
	    "30 1 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec - cgroup2 cgroup2 rw\n");
	CHECK_EQ(procs_with_quota(dir, "350000 100000\n", 0), 4); /* 16 PUs, 3.5 CPUs */
	CHECK_EQ(procs_with_quota(dir, "max 100000\n", 0), 16);
	CHECK_EQ(procs_with_quota(dir, "50000 100000\n", 0), 2);  /* never below 2 */
	CHECK_EQ(procs_with_quota(dir, "350000 100000\n", 8), 8); /* config wins */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
	printf("cgroup quota: 3.5 CPUs -> 4 Ps, max -> 16, 0.5 -> 2, procs=8 -> 8\n");
}

/* ---- 6. a launcher's binding (taskset, mpirun --bind-to, srun) ---- */

static int pu_main(void *arg)
{
	int *out = arg;
	out[0] = ng_procs();
	CHECK_EQ(ng_topo_proc_pus(0, &out[1], 1), 1);
	return 0;
}

static void launcher_binding(void)
{
	cpu_set_t all, one;
	CHECK_EQ(sched_getaffinity(0, sizeof all, &all), 0);
	int last = -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &all))
			last = i;
	CHECK(last >= 0);
	CPU_ZERO(&one);
	CPU_SET(last, &one);
	CHECK_EQ(sched_setaffinity(0, sizeof one, &one), 0);
	int got[2] = {0, -1};
	CHECK_EQ(ng_run(NULL, pu_main, got), 0);
	CHECK_EQ(sched_setaffinity(0, sizeof all, &all), 0);
	CHECK_EQ(got[0], 1);
	CHECK_EQ(got[1], last);
	printf("bound to CPU %d by the launcher: 1 P on PU %d\n", last, got[1]);
}

/* ---- 7. bad topologies are refused with a clear error, env wins ---- */

static int nodes_main(void *arg)
{
	*(int *)arg = ng_topo_nnodes();
	return 0;
}

static void bad_topologies(void)
{
	static const char *bad[] = {"synthetic:pack:2 nonsense:3", "xml:/nonexistent/topo.xml",
	                            "hwloc:pack:2", "synthetic:"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		ng_config cfg = {0};
		cfg.topology = bad[i];
		int n = -1;
		CHECK_EQ(ng_run(&cfg, nodes_main, &n), -EINVAL);
		CHECK_EQ(n, -1); /* main never ran */
	}
	/* the environment wins over the config */
	CHECK_EQ(setenv("NUMAGO_TOPOLOGY", "synthetic:pack:2 numa:3 core:1 pu:1", 1), 0);
	ng_config cfg = {0};
	cfg.topology = "synthetic:pack:1 core:2 pu:1";
	int n = 0;
	CHECK_EQ(ng_run(&cfg, nodes_main, &n), 0);
	CHECK_EQ(n, 6);
	CHECK_EQ(unsetenv("NUMAGO_TOPOLOGY"), 0);
	CHECK_EQ(ng_run(&cfg, nodes_main, &n), 0);
	CHECK_EQ(n, 1);
}

int main(void)
{
	/* the tests name their topologies themselves */
	unsetenv("NUMAGO_TOPOLOGY");
	unsetenv("NUMAGO_LOCALITY");
	steal_census();
	fib_64();
	numa_node_attr();
	real_binding();
	cgroup_clamp();
	launcher_binding();
	bad_topologies();
	return 0;
}
