/* bench/bench_numa.c — NUMA benchmarks, each set beside what the topology
 * claims (hwloc's node distances, the Ps' distance classes, the runtime's
 * victim order):
 *
 *   stream    STREAM triad a[i] = b[i] + 3 c[i] over three arrays of at
 *             least 4x the last-level cache each (hwloc's LLC size, else
 *             sysconf's).  One goroutine pinned on each P (ng_go_attr.proc)
 *             first-touches its static chunk, then each repetition spawns
 *             one pinned goroutine per P on the same chunk; GB/s counts 24
 *             bytes per element (STREAM's convention, no write-allocate).
 *             The checksum of a[] is verified exactly.  Peer: the same triad
 *             in OpenMP (bench_numa_omp: same thread count, schedule(static),
 *             parallel first touch), run from here in the same invocation;
 *             ratio = numago GB/s / OpenMP GB/s (higher is better).  --procs
 *             LIST runs it once per P count (a scaling curve).
 *   latency   pointer chase: a random cyclic chain of 64-byte lines over 4x
 *             the LLC, allocated on node j (ng_topo_alloc_onnode, transparent
 *             huge pages asked for), chased by a goroutine pinned on the
 *             first P of node i; ns per dependent load, as a matrix beside
 *             hwloc's node distance matrix (ng_topo_node_distance).
 *   pingpong  two goroutines pinned on Ps i and j bounce a cache line (an
 *             atomic counter, each side waits for its turn and bumps it);
 *             ns per round trip for each pair, with the pair's distance
 *             class (ng_topo_distance).  For each P, the runtime's victim
 *             order (ng_topo_victims) is compared with the measured order:
 *             Spearman's rank correlation between the claimed distance
 *             (class, then node distance) and the measured round trip, and
 *             "inconsistent" when a victim claimed nearer is more than 10%
 *             slower than one claimed farther.
 *
 * On a fake topology (NUMAGO_TOPOLOGY=synthetic:... or xml:...) nothing is
 * bound and node memory is ordinary memory: the figures are this machine's,
 * measured from unbound threads, and the output says so.
 *
 * Every figure is the min and median of >= 5 repetitions (STREAM: the best
 * and median bandwidth). */
#define _GNU_SOURCE
#include "bench.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef BENCH_NUMA_HWLOC
#include <hwloc.h>
#endif

#define MAX_PROCS_LIST 32
#define MAX_PPROCS     1024

typedef struct numa_opts {
	int json, quick, reps, no_peer;
	int procs[MAX_PROCS_LIST], nprocs_list;
	const char *filter;
	long size_mb; /* --size: array size override (MiB) */
} numa_opts;

static numa_opts o;
static size_t llc_bytes;
static const char *llc_source = "none";
static long sysconf_llc;
static int status;

/* ---- machine ---- */

static void read_llc(void)
{
	sysconf_llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
	if (sysconf_llc <= 0)
		sysconf_llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
#ifdef BENCH_NUMA_HWLOC
	/* this machine's caches, whatever topology the runtime is told to use:
	 * the memory the arrays live in is this machine's */
	hwloc_topology_t t;
	if (hwloc_topology_init(&t) == 0) {
		if (hwloc_topology_load(t) == 0) {
			static const hwloc_obj_type_t types[] = {
			    HWLOC_OBJ_L5CACHE, HWLOC_OBJ_L4CACHE, HWLOC_OBJ_L3CACHE,
			    HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L1CACHE};
			for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
				hwloc_obj_t obj = hwloc_get_obj_by_type(t, types[k], 0);
				if (obj != NULL && obj->attr != NULL && obj->attr->cache.size > 0) {
					llc_bytes = (size_t)obj->attr->cache.size;
					llc_source = "hwloc";
					break;
				}
			}
		}
		hwloc_topology_destroy(t);
	}
#endif
	if (llc_bytes == 0 && sysconf_llc > 0) {
		llc_bytes = (size_t)sysconf_llc;
		llc_source = "sysconf";
	}
	if (llc_bytes == 0) {
		llc_bytes = 32u << 20;
		llc_source = "assumed";
	}
}

static void cpu_model(char *buf, size_t n)
{
	snprintf(buf, n, "unknown");
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return;
	char line[512];
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0 ||
		    strncmp(line, "cpu model", 9) == 0) {
			char *c = strchr(line, ':');
			if (c == NULL)
				continue;
			c++;
			while (*c == ' ' || *c == '\t')
				c++;
			c[strcspn(c, "\n")] = '\0';
			snprintf(buf, n, "%s", c);
			break;
		}
	}
	fclose(f);
}

/* JSON-safe copy: drop quotes, backslashes and control characters */
static void json_clean(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = ' ';
}

static const char *const tier_names[] = {"none", "sw", "perf", "papi", "replay"};
static const char *const class_names[NG_DIST_NCLASSES] = {"self", "core",    "L2",    "L3",
                                                          "node", "package", "remote"};

typedef struct machine {
	char cpu[256];
	int cpus, pus, procs, nodes, fake, locality, tier;
	char tier_why[512];
} machine;

static machine mach;

static int machine_main(void *arg)
{
	(void)arg;
	mach.pus = ng_topo_npus();
	mach.procs = ng_procs();
	mach.nodes = ng_topo_nnodes();
	mach.fake = ng_topo_is_fake();
	mach.locality = ng_topo_locality();
	mach.tier = ng_counters_tier(mach.tier_why, sizeof mach.tier_why);
	return 0;
}

static const char *tier_name(void)
{
	return mach.tier >= 0 && mach.tier <= 4 ? tier_names[mach.tier] : "unknown";
}

static void print_machine(void)
{
	cpu_model(mach.cpu, sizeof mach.cpu);
	json_clean(mach.cpu);
	json_clean(mach.tier_why);
	mach.cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	const char *topo = getenv("NUMAGO_TOPOLOGY");
	char topo_clean[256];
	snprintf(topo_clean, sizeof topo_clean, "%s", topo ? topo : "this machine");
	json_clean(topo_clean);
	if (o.json) {
		printf(
		    "{\"name\":\"NUMA/machine\",\"cpu\":\"%s\",\"cpus\":%d,\"pus\":%d,\"procs\":%d,"
		    "\"numa_nodes\":%d,\"topology\":\"%s\",\"fake\":%s,\"locality\":%d,"
		    "\"counter_tier\":\"%s\",\"llc_bytes\":%zu,\"llc_source\":\"%s\","
		    "\"sysconf_llc_bytes\":%ld}\n",
		    mach.cpu, mach.cpus, mach.pus, mach.procs, mach.nodes, topo_clean,
		    mach.fake ? "true" : "false", mach.locality, tier_name(), llc_bytes, llc_source,
		    sysconf_llc);
		return;
	}
	printf("machine: %s, %d CPUs online, %d PUs allowed, %d Ps, %d NUMA node%s, "
	       "topology: %s%s, counters: %s tier, LLC %zu KiB (%s; sysconf says %ld KiB)\n",
	       mach.cpu, mach.cpus, mach.pus, mach.procs, mach.nodes, mach.nodes == 1 ? "" : "s",
	       topo_clean, mach.fake ? " (fake: nothing is bound)" : "", tier_name(),
	       llc_bytes >> 10, llc_source, sysconf_llc > 0 ? sysconf_llc >> 10 : -1);
	if (mach.fake)
		printf("NOTE: fake topology: no thread is bound and ng_topo_alloc_onnode returns "
		       "ordinary memory,\n      so every figure below is this machine's memory "
		       "and caches seen from unbound threads;\n      only the distances are the "
		       "fake topology's claims.\n");
}

static int cmp_dbl(const void *a, const void *b)
{
	return bench_cmp_double(a, b);
}

static void min_median(double *v, int n, double *mn, double *med)
{
	qsort(v, (size_t)n, sizeof v[0], cmp_dbl);
	*mn = v[0];
	*med = v[n / 2];
}

static int selected(const char *name)
{
	return o.filter == NULL || strstr(name, o.filter) != NULL;
}

static void *map_bytes(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* ---- STREAM triad ---- */

typedef struct stream_ctx {
	double *a, *b, *c;
	long n;
	int parts;
	int op; /* 0: first touch, 1: triad, 2: checksum */
	ng_waitgroup wg;
	struct {
		_Alignas(64) double sum;
	} part[MAX_PPROCS];
	double gbs_max, gbs_median, sum;
	int ok, reps;
} stream_ctx;

static stream_ctx sc;

static void stream_worker(void *arg)
{
	long k = (long)(intptr_t)arg;
	long lo = sc.n * k / sc.parts, hi = sc.n * (k + 1) / sc.parts;
	double *restrict a = sc.a, *restrict b = sc.b, *restrict c = sc.c;
	const double s = 3.0;
	if (sc.op == 0) {
		for (long i = lo; i < hi; i++) {
			a[i] = 0.0;
			b[i] = (double)(i & 7);
			c[i] = (double)(i & 3);
		}
	} else if (sc.op == 1) {
		for (long i = lo; i < hi; i++)
			a[i] = b[i] + s * c[i];
	} else {
		double sum = 0;
		for (long i = lo; i < hi; i++)
			sum += a[i];
		sc.part[k].sum = sum;
	}
	ng_waitgroup_done(&sc.wg);
}

/* one parallel pass: a goroutine pinned on each P; returns its ns */
static int64_t stream_pass(int op)
{
	sc.op = op;
	ng_waitgroup_add(&sc.wg, sc.parts);
	int64_t t0 = bench_now();
	for (int k = 0; k < sc.parts; k++) {
		ng_go_attr at = NG_GO_ATTR_INIT;
		at.name = "stream";
		at.proc = k;
		if (ng_go_attr(&at, stream_worker, (void *)(intptr_t)k) != 0) {
			/* keep the waitgroup balanced */
			ng_waitgroup_done(&sc.wg);
			status = 1;
		}
	}
	ng_waitgroup_wait(&sc.wg);
	return bench_now() - t0;
}

static int stream_main(void *arg)
{
	(void)arg;
	sc.parts = ng_procs();
	if (sc.parts > MAX_PPROCS)
		sc.parts = MAX_PPROCS;
	size_t bytes = (size_t)sc.n * sizeof(double);
	sc.a = map_bytes(bytes);
	sc.b = map_bytes(bytes);
	sc.c = map_bytes(bytes);
	sc.wg = (ng_waitgroup)NG_WAITGROUP_INIT;
	if (sc.a == NULL || sc.b == NULL || sc.c == NULL)
		return 1;
	stream_pass(0);
	stream_pass(1); /* warm-up */
	/* memory bandwidth on a shared machine is noisy: at least 10 reps
	 * unless --quick */
	int reps = o.quick || o.reps >= 10 ? o.reps : 10;
	sc.reps = reps;
	double v[64];
	for (int r = 0; r < reps; r++)
		v[r] = (double)stream_pass(1);
	stream_pass(2);
	double sum = 0;
	for (int k = 0; k < sc.parts; k++)
		sum += sc.part[k].sum;
	double want = 64.0 * (double)(sc.n / 8);
	for (long i = sc.n - sc.n % 8; i < sc.n; i++)
		want += (double)(i & 7) + 3.0 * (double)(i & 3);
	sc.sum = sum;
	sc.ok = sum == want;
	double mn, med;
	min_median(v, reps, &mn, &med);
	double moved = 3.0 * (double)bytes;
	sc.gbs_max = moved / mn;
	sc.gbs_median = moved / med;
	munmap(sc.a, bytes);
	munmap(sc.b, bytes);
	munmap(sc.c, bytes);
	return 0;
}

/* the OpenMP peer next to this executable; -1: not there or it failed */
static int run_omp_peer(long n, int threads, int reps, double *gbs_max, double *gbs_median,
                        char *why, size_t whyn)
{
	char exe[4096];
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 32);
	if (len <= 0) {
		snprintf(why, whyn, "cannot find own path");
		return -1;
	}
	exe[len] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash == NULL)
		return -1;
	strcpy(slash + 1, "bench_numa_omp");
	if (access(exe, X_OK) != 0) {
		snprintf(why, whyn, "bench_numa_omp not built (no OpenMP?)");
		return -1;
	}
	/* bound threads, spread as the Ps are (hwloc_distrib), unless the user
	 * says otherwise */
	setenv("OMP_PROC_BIND", "spread", 0);
	setenv("OMP_PLACES", "threads", 0);
	char cmd[4300];
	snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d '%s' %ld %d %d 2>&1", threads, exe, n,
	         threads, reps);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	char line[512];
	int got = 0;
	long long mn = 0, med = 0;
	char ck[16] = "";
	while (fgets(line, sizeof line, f) != NULL) {
		int th;
		long nn;
		int rr;
		if (sscanf(line,
		           "omp threads=%d n=%ld reps=%d min_ns=%lld median_ns=%lld checksum=%15s",
		           &th, &nn, &rr, &mn, &med, ck) == 6)
			got = 1;
	}
	int st = pclose(f);
	if (!got || st != 0 || strcmp(ck, "ok") != 0 || mn <= 0) {
		snprintf(why, whyn, "bench_numa_omp failed (status %d, checksum %s)", st,
		         ck[0] ? ck : "?");
		return -1;
	}
	double moved = 3.0 * (double)n * sizeof(double);
	*gbs_max = moved / (double)mn;
	*gbs_median = moved / (double)med;
	return 0;
}

static void bench_stream(void)
{
	size_t array = 4 * llc_bytes;
	if (o.size_mb > 0)
		array = (size_t)o.size_mb << 20;
	long n = (long)(array / sizeof(double));
	n -= n % 8;
	if (!o.json)
		printf("\nSTREAM triad a[i] = b[i] + 3*c[i]: 3 arrays of %zu MiB (%.1fx the LLC), "
		       "first touch by a goroutine pinned on each P; peer: OpenMP, same threads, "
		       "schedule(static)\n%-28s %10s %10s %10s %10s %8s %9s\n",
		       array >> 20, (double)array / (double)llc_bytes, "benchmark", "GB/s best",
		       "GB/s med", "OpenMP", "OMP med", "ratio", "checksum");
	for (int k = 0; k < o.nprocs_list; k++) {
		ng_config cfg = {0};
		cfg.procs = o.procs[k];
		memset(&sc, 0, sizeof sc);
		sc.n = n;
		int rc = ng_run(&cfg, stream_main, NULL);
		char name[64];
		snprintf(name, sizeof name, "NUMA/StreamTriad/procs=%d", sc.parts);
		if (rc != 0 || !sc.ok) {
			status = 1;
			if (o.json)
				printf("{\"name\":\"%s\",\"unit\":\"GB/s\",\"failed\":true}\n",
				       name);
			else
				printf("%-28s FAILED (%s)\n", name,
				       rc != 0 ? "run failed" : "checksum mismatch");
			continue;
		}
		double pmax = 0, pmed = 0;
		char why[160] = "";
		int peer = o.no_peer
		               ? -1
		               : run_omp_peer(n, sc.parts, sc.reps, &pmax, &pmed, why, sizeof why);
		if (o.json) {
			printf(
			    "{\"name\":\"%s\",\"unit\":\"GB/s\",\"better\":\"higher\",\"procs\":%d,"
			    "\"numago_max\":%.3f,\"numago_median\":%.3f,\"reps\":%d,"
			    "\"array_bytes\":%zu,\"llc_bytes\":%zu,\"checksum\":\"ok\","
			    "\"bound\":%s",
			    name, sc.parts, sc.gbs_max, sc.gbs_median, sc.reps, array, llc_bytes,
			    mach.fake ? "false" : "true");
			if (peer == 0)
				printf(
				    ",\"peer\":\"openmp\",\"peer_max\":%.3f,\"peer_median\":%.3f,"
				    "\"ratio\":%.3f",
				    pmax, pmed, sc.gbs_max / pmax);
			printf("}\n");
		} else {
			char ps[16] = "n/a", pm[16] = "n/a", rt[16] = "";
			if (peer == 0) {
				snprintf(ps, sizeof ps, "%.2f", pmax);
				snprintf(pm, sizeof pm, "%.2f", pmed);
				snprintf(rt, sizeof rt, "%.3f", sc.gbs_max / pmax);
			}
			printf("%-28s %10.2f %10.2f %10s %10s %8s %9s\n", name, sc.gbs_max,
			       sc.gbs_median, ps, pm, rt, "ok");
			if (peer != 0 && !o.no_peer)
				printf("  (OpenMP peer not run: %s)\n", why);
		}
		fflush(stdout);
	}
}

/* ---- pointer-chase latency matrix ---- */

#define MAX_NODES 64

typedef struct chase_ctx {
	void *start;
	long loads;
	int reps;
	double v[64];
	ng_waitgroup wg;
} chase_ctx;

static void *volatile chase_sink;

static void chase_worker(void *arg)
{
	chase_ctx *c = arg;
	void **p = c->start;
	for (long k = 0; k < c->loads / 4; k++) /* warm the TLB and the chain's start */
		p = *p;
	for (int r = 0; r < c->reps; r++) {
		int64_t t0 = bench_now();
		for (long k = c->loads; k > 0; k--)
			p = *p;
		c->v[r] = (double)(bench_now() - t0) / (double)c->loads;
	}
	chase_sink = p;
	ng_waitgroup_done(&c->wg);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* a random cyclic chain through every 64-byte line of buf */
static int build_chain(char *buf, size_t bytes)
{
	size_t lines = bytes / 64;
	uint32_t *order = malloc(sizeof *order * lines);
	if (order == NULL)
		return -1;
	for (size_t i = 0; i < lines; i++)
		order[i] = (uint32_t)i;
	for (size_t i = lines - 1; i > 0; i--) {
		size_t j = (size_t)(rng() % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < lines; i++)
		*(void **)(buf + (size_t)order[i] * 64) = buf + (size_t)order[(i + 1) % lines] * 64;
	free(order);
	return 0;
}

static double lat_min[MAX_NODES][MAX_NODES], lat_med[MAX_NODES][MAX_NODES];

static int first_proc_of_node(int node)
{
	for (int p = 0; p < ng_procs(); p++)
		if (ng_topo_proc_node(p) == node)
			return p;
	return -1;
}

static void latency_run(void)
{
	int nodes = ng_topo_nnodes();
	if (nodes > MAX_NODES)
		nodes = MAX_NODES;
	size_t bytes = 4 * llc_bytes;
	if (bytes < (64u << 20))
		bytes = 64u << 20;
	long loads = o.quick ? 1000000 : 4000000;
	int thp = 0;
	for (int j = 0; j < nodes; j++)
		for (int i = 0; i < nodes; i++)
			lat_min[i][j] = lat_med[i][j] = -1;
	for (int j = 0; j < nodes; j++) {
		char *buf = ng_topo_alloc_onnode(bytes, j);
		if (buf == NULL) {
			fprintf(stderr, "bench_numa: ng_topo_alloc_onnode(%zu, %d): %s\n", bytes, j,
			        strerror(errno));
			continue;
		}
#ifdef MADV_HUGEPAGE
		if (madvise(buf, bytes, MADV_HUGEPAGE) == 0)
			thp = 1;
#endif
		if (build_chain(buf, bytes) != 0) {
			ng_topo_free(buf, bytes);
			status = 1;
			continue;
		}
		for (int i = 0; i < nodes; i++) {
			int p = first_proc_of_node(i);
			if (p < 0)
				continue;
			chase_ctx c = {.start = buf, .loads = loads, .reps = o.reps};
			c.wg = (ng_waitgroup)NG_WAITGROUP_INIT;
			ng_waitgroup_add(&c.wg, 1);
			ng_go_attr at = NG_GO_ATTR_INIT;
			at.name = "chase";
			at.proc = p;
			if (ng_go_attr(&at, chase_worker, &c) != 0) {
				status = 1;
				continue;
			}
			ng_waitgroup_wait(&c.wg);
			min_median(c.v, c.reps, &lat_min[i][j], &lat_med[i][j]);
		}
		ng_topo_free(buf, bytes);
	}
	/* report */
	if (o.json) {
		for (int i = 0; i < nodes; i++)
			for (int j = 0; j < nodes; j++) {
				if (lat_min[i][j] < 0)
					continue;
				printf(
				    "{\"name\":\"NUMA/Latency/cpu%d-mem%d\",\"unit\":\"ns/load\","
				    "\"min\":%.3f,\"median\":%.3f,\"reps\":%d,\"cpu_node\":%d,"
				    "\"mem_node\":%d,\"node_distance\":%d,\"bytes\":%zu,\"thp\":%s,"
				    "\"bound\":%s}\n",
				    i, j, lat_min[i][j], lat_med[i][j], o.reps, i, j,
				    ng_topo_node_distance(i, j), bytes, thp ? "true" : "false",
				    mach.fake ? "false" : "true");
			}
	} else {
		printf(
		    "\nPointer-chase latency: random chain of 64-byte lines over %zu MiB on node j "
		    "(ng_topo_alloc_onnode%s), chased from the first P of node i; ns per load "
		    "(min of %d reps of %ld loads) [hwloc distance]%s\n",
		    bytes >> 20, thp ? ", THP asked for" : "", o.reps, loads,
		    mach.fake ? " - fake topology: nothing bound, ordinary memory" : "");
		printf("%-10s", "cpu\\mem");
		for (int j = 0; j < nodes; j++)
			printf(" %16d", j);
		printf("\n");
		for (int i = 0; i < nodes; i++) {
			printf("node %-5d", i);
			for (int j = 0; j < nodes; j++) {
				char cell[32], d[12];
				int dist = ng_topo_node_distance(i, j);
				if (dist > 0)
					snprintf(d, sizeof d, "%d", dist);
				else
					snprintf(d, sizeof d, "-");
				if (lat_min[i][j] >= 0)
					snprintf(cell, sizeof cell, "%.1f [%s]", lat_min[i][j], d);
				else
					snprintf(cell, sizeof cell, "- [%s]", d);
				printf(" %16s", cell);
			}
			printf("\n");
		}
	}
	/* does the measured order of each row follow the distance matrix? */
	for (int i = 0; i < nodes && nodes > 1; i++) {
		int bad = 0, have = 0;
		for (int a = 0; a < nodes; a++)
			for (int b = 0; b < nodes; b++) {
				int da = ng_topo_node_distance(i, a),
				    db = ng_topo_node_distance(i, b);
				if (lat_min[i][a] < 0 || lat_min[i][b] < 0 || da <= 0 || db <= 0)
					continue;
				have = 1;
				if (da < db && lat_min[i][a] > 1.10 * lat_min[i][b])
					bad = 1;
			}
		const char *verdict = !have ? "no distance matrix"
		                      : bad ? "inconsistent"
		                            : "consistent";
		char vbuf[64];
		if (mach.fake && have) {
			snprintf(vbuf, sizeof vbuf, "%s (fake topology: unbound)", verdict);
			verdict = vbuf;
		}
		if (o.json)
			printf("{\"name\":\"NUMA/LatencyOrder/node%d\",\"verdict\":\"%s\"}\n", i,
			       verdict);
		else
			printf("node %d: measured order vs hwloc distances: %s\n", i, verdict);
	}
	if (!o.json && nodes == 1)
		printf("(one NUMA node: the matrix is 1x1, nothing to compare)\n");
}

/* ---- cache-line ping-pong between Ps ---- */

typedef struct pp_ctx {
	_Alignas(128) atomic_long flag;
	char pad[120];
	_Alignas(128) atomic_int ready;
	long rounds;
	int reps;
	double v[64];
	ng_waitgroup wg;
} pp_ctx;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* wait for the counter to reach want; an oversubscribed machine (more busy
 * threads than CPUs) gets the CPU back to the OS now and then */
static inline void pp_wait(atomic_long *f, long want)
{
	unsigned spins = 0;
	while (atomic_load_explicit(f, memory_order_acquire) != want) {
		cpu_relax();
		if (++spins == 1u << 16) {
			spins = 0;
			sched_yield();
		}
	}
}

static void pp_ready(pp_ctx *c)
{
	atomic_fetch_add(&c->ready, 1);
	unsigned spins = 0;
	while (atomic_load(&c->ready) < 2)
		if (++spins % 1024 == 0)
			sched_yield();
}

static void pp_a(void *arg)
{
	pp_ctx *c = arg;
	pp_ready(c);
	long x = 0;
	for (int r = -1; r < c->reps; r++) { /* rep -1: warm-up */
		int64_t t0 = bench_now();
		for (long k = 0; k < c->rounds; k++) {
			atomic_store_explicit(&c->flag, ++x, memory_order_release);
			pp_wait(&c->flag, ++x);
		}
		if (r >= 0)
			c->v[r] = (double)(bench_now() - t0) / (double)c->rounds;
	}
	ng_waitgroup_done(&c->wg);
}

static void pp_b(void *arg)
{
	pp_ctx *c = arg;
	pp_ready(c);
	long x = 0;
	long total = c->rounds * (c->reps + 1);
	for (long k = 0; k < total; k++) {
		pp_wait(&c->flag, ++x);
		atomic_store_explicit(&c->flag, ++x, memory_order_release);
	}
	ng_waitgroup_done(&c->wg);
}

static double *pp_min, *pp_med; /* [P][P] */

static int pp_pair(int i, int j, long rounds)
{
	pp_ctx *c = aligned_alloc(128, (sizeof(pp_ctx) + 127) / 128 * 128);
	if (c == NULL)
		return -1;
	memset(c, 0, sizeof *c);
	c->rounds = rounds;
	c->reps = o.reps;
	c->wg = (ng_waitgroup)NG_WAITGROUP_INIT;
	ng_waitgroup_add(&c->wg, 2);
	ng_go_attr at = NG_GO_ATTR_INIT;
	at.name = "pingpong";
	at.proc = i;
	int rc = ng_go_attr(&at, pp_a, c);
	at.proc = j;
	if (rc == 0)
		rc = ng_go_attr(&at, pp_b, c);
	if (rc != 0) {
		/* a lone pp_a would wait forever for its partner: leak c rather than
		 * free it under a goroutine (spawning fails only without memory) */
		return -1;
	}
	ng_waitgroup_wait(&c->wg);
	int n = ng_procs();
	min_median(c->v, c->reps, &pp_min[i * n + j], &pp_med[i * n + j]);
	pp_min[j * n + i] = pp_min[i * n + j];
	pp_med[j * n + i] = pp_med[i * n + j];
	free(c);
	return 0;
}

/* claimed distance of victim v from p: class, then node distance */
static double claim(int p, int v)
{
	return ng_topo_distance(p, v) * 1000.0 +
	       ng_topo_node_distance(ng_topo_proc_node(p), ng_topo_proc_node(v));
}

/* average ranks (ties share) */
static void ranks(const double *x, int n, double *r)
{
	for (int i = 0; i < n; i++) {
		int less = 0, eq = 0;
		for (int k = 0; k < n; k++) {
			if (x[k] < x[i])
				less++;
			else if (x[k] == x[i])
				eq++;
		}
		r[i] = less + (eq + 1) / 2.0;
	}
}

static double spearman(const double *x, const double *y, int n)
{
	double *rx = malloc(sizeof *rx * (size_t)n * 2);
	if (rx == NULL)
		return NAN;
	double *ry = rx + n;
	ranks(x, n, rx);
	ranks(y, n, ry);
	double mx = 0, my = 0;
	for (int i = 0; i < n; i++) {
		mx += rx[i];
		my += ry[i];
	}
	mx /= n;
	my /= n;
	double sxy = 0, sxx = 0, syy = 0;
	for (int i = 0; i < n; i++) {
		sxy += (rx[i] - mx) * (ry[i] - my);
		sxx += (rx[i] - mx) * (rx[i] - mx);
		syy += (ry[i] - my) * (ry[i] - my);
	}
	free(rx);
	return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

static void victim_check(int p, int n)
{
	int *vict = malloc(sizeof *vict * (size_t)n);
	double *cl = malloc(sizeof *cl * (size_t)n), *ms = malloc(sizeof *ms * (size_t)n);
	if (vict == NULL || cl == NULL || ms == NULL) {
		free(vict);
		free(cl);
		free(ms);
		return;
	}
	int m = ng_topo_victims(p, vict, n);
	if (m > n)
		m = n;
	int k = 0, bad = 0, sorted = 1;
	for (int a = 0; a < m; a++) {
		if (pp_min[p * n + vict[a]] < 0)
			continue;
		cl[k] = claim(p, vict[a]);
		ms[k] = pp_min[p * n + vict[a]];
		if (k > 0 && cl[k] < cl[k - 1])
			sorted = 0;
		k++;
	}
	for (int a = 0; a < k; a++)
		for (int b = 0; b < k; b++)
			if (cl[a] < cl[b] && ms[a] > 1.10 * ms[b])
				bad = 1;
	double rho = k > 1 ? spearman(cl, ms, k) : NAN;
	const char *verdict = k == 0           ? "not measured"
	                      : !sorted || bad ? "inconsistent"
	                                       : "consistent";
	char vbuf[64];
	if (mach.fake && k > 0) {
		snprintf(vbuf, sizeof vbuf, "%s (fake topology: unbound)", verdict);
		verdict = vbuf;
	}
	if (o.json) {
		printf("{\"name\":\"NUMA/VictimOrder/P%d\",\"victims\":[", p);
		for (int a = 0; a < m; a++)
			printf("%s%d", a ? "," : "", vict[a]);
		printf("],\"classes\":[");
		for (int a = 0; a < m; a++)
			printf("%s\"%s\"", a ? "," : "", class_names[ng_topo_distance(p, vict[a])]);
		printf("],\"roundtrip_ns\":[");
		for (int a = 0; a < m; a++)
			printf("%s%.1f", a ? "," : "", pp_min[p * n + vict[a]]);
		if (isnan(rho))
			printf("],\"spearman\":null");
		else
			printf("],\"spearman\":%.3f", rho);
		printf(",\"verdict\":\"%s\"}\n", verdict);
	} else {
		printf("P%-3d victims:", p);
		for (int a = 0; a < m && a < 16; a++)
			printf(" P%d(%s %.0f)", vict[a], class_names[ng_topo_distance(p, vict[a])],
			       pp_min[p * n + vict[a]]);
		if (m > 16)
			printf(" ...");
		if (isnan(rho))
			printf("  rank corr n/a (%s)", k <= 1 ? "one victim" : "all alike");
		else
			printf("  rank corr %.2f", rho);
		printf("  %s\n", verdict);
	}
	free(vict);
	free(cl);
	free(ms);
}

static void pingpong_run(void)
{
	int n = ng_procs();
	if (n < 2) {
		if (!o.json)
			printf("\nPing-pong: one P, no pairs\n");
		return;
	}
	pp_min = malloc(sizeof *pp_min * (size_t)n * (size_t)n);
	pp_med = malloc(sizeof *pp_med * (size_t)n * (size_t)n);
	if (pp_min == NULL || pp_med == NULL)
		return;
	for (int k = 0; k < n * n; k++)
		pp_min[k] = pp_med[k] = -1;
	long rounds = o.quick ? 2000 : 20000;
	/* all pairs up to 32 Ps; beyond, the rows of P0 and of each node's first P */
	int rows_all = n <= 32;
	char *row = calloc((size_t)n, 1);
	if (row == NULL)
		return;
	for (int i = 0; i < n; i++)
		row[i] = rows_all || i == 0 || first_proc_of_node(ng_topo_proc_node(i)) == i;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			if (i == j || !(row[i] || row[j]) || pp_min[i * n + j] >= 0)
				continue;
			if (pp_pair(i, j, rounds) != 0)
				status = 1;
		}
	if (o.json) {
		for (int i = 0; i < n; i++)
			for (int j = i + 1; j < n; j++) {
				if (pp_min[i * n + j] < 0)
					continue;
				printf(
				    "{\"name\":\"NUMA/PingPong/P%d-P%d\",\"unit\":\"ns/roundtrip\","
				    "\"min\":%.3f,\"median\":%.3f,\"reps\":%d,\"class\":\"%s\","
				    "\"bound\":%s}\n",
				    i, j, pp_min[i * n + j], pp_med[i * n + j], o.reps,
				    class_names[ng_topo_distance(i, j)],
				    mach.fake ? "false" : "true");
			}
	} else {
		printf(
		    "\nCache-line ping-pong between Ps: ns per round trip (min of %d reps of %ld "
		    "round trips) [distance class]%s%s\n",
		    o.reps, rounds, rows_all ? "" : " - rows of P0 and each node's first P",
		    mach.fake ? " - fake topology: nothing bound" : "");
		int show = n > 16 ? 16 : n;
		printf("%-6s", "P\\P");
		for (int j = 0; j < show; j++)
			printf(" %14d", j);
		printf("%s\n", show < n ? " ..." : "");
		for (int i = 0; i < n; i++) {
			if (!row[i] || i >= show)
				continue;
			printf("P%-5d", i);
			for (int j = 0; j < show; j++) {
				char cell[32];
				if (i == j)
					snprintf(cell, sizeof cell, "-");
				else if (pp_min[i * n + j] >= 0)
					snprintf(cell, sizeof cell, "%.0f [%s]", pp_min[i * n + j],
					         class_names[ng_topo_distance(i, j)]);
				else
					snprintf(cell, sizeof cell, "?");
				printf(" %14s", cell);
			}
			printf("\n");
		}
		printf("victim order (ng_topo_victims) vs measured round trips:\n");
	}
	for (int i = 0; i < n; i++)
		if (row[i])
			victim_check(i, n);
	free(row);
	free(pp_min);
	free(pp_med);
}

static int topo_main(void *arg)
{
	(void)arg;
	if (selected("latency"))
		latency_run();
	if (selected("pingpong"))
		pingpong_run();
	return 0;
}

/* ---- options ---- */

static const char help[] =
    "bench_numa: NUMA benchmarks beside what the topology claims.\n"
    "  stream    STREAM triad (GB/s, arrays >= 4x the LLC, first touch by goroutines\n"
    "            pinned on each P, checksum verified) against the same triad in OpenMP\n"
    "            (bench_numa_omp, same threads, schedule(static)) in the same run\n"
    "  latency   pointer-chase ns/load from each node's first P to memory on each node\n"
    "            (ng_topo_alloc_onnode), beside hwloc's node distance matrix\n"
    "  pingpong  cache-line round trip between every pair of Ps, with their distance\n"
    "            class, and each P's victim order checked against the measurements\n"
    "Fake topologies (NUMAGO_TOPOLOGY=synthetic:... or xml:...) bind nothing: the\n"
    "output says so.\n\n"
    "options:\n"
    "  --json          one JSON object per row on stdout\n"
    "  --quick         fewer loads and round trips, 5 reps (arrays stay >= 4x the LLC)\n"
    "  --reps N        repetitions (default and minimum 5, STREAM 10; at most 64)\n"
    "  --procs LIST    STREAM once per P count, e.g. 1,2,4 (default: the runtime's)\n"
    "  --size MIB      STREAM array size instead of 4x the LLC\n"
    "  --filter NAME   only stream, latency or pingpong\n"
    "  --no-peer       skip the OpenMP peer";

static void parse(int argc, char **argv)
{
	o.reps = 5;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("%s\n", help);
			exit(0);
		} else if (strcmp(a, "--json") == 0) {
			o.json = 1;
		} else if (strcmp(a, "--quick") == 0) {
			o.quick = 1;
		} else if (strcmp(a, "--no-peer") == 0) {
			o.no_peer = 1;
		} else if (strcmp(a, "--reps") == 0 && i + 1 < argc) {
			o.reps = atoi(argv[++i]);
		} else if (strcmp(a, "--size") == 0 && i + 1 < argc) {
			o.size_mb = atol(argv[++i]);
		} else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
			o.filter = argv[++i];
		} else if (strcmp(a, "--procs") == 0 && i + 1 < argc) {
			char *s = argv[++i], *end;
			o.nprocs_list = 0;
			while (*s && o.nprocs_list < MAX_PROCS_LIST) {
				long v = strtol(s, &end, 10);
				if (end == s || v < 1 || v > MAX_PPROCS) {
					fprintf(stderr, "bench_numa: bad --procs list '%s'\n",
					        argv[i]);
					exit(2);
				}
				o.procs[o.nprocs_list++] = (int)v;
				s = *end == ',' ? end + 1 : end;
				if (*end != ',' && *end != '\0') {
					fprintf(stderr, "bench_numa: bad --procs list '%s'\n",
					        argv[i]);
					exit(2);
				}
			}
		} else {
			fprintf(stderr, "bench_numa: unknown option '%s' (try --help)\n", a);
			exit(2);
		}
	}
	if (o.reps < 5)
		o.reps = 5;
	if (o.reps > 64)
		o.reps = 64;
	if (o.nprocs_list == 0)
		o.procs[o.nprocs_list++] = 0; /* the runtime's default */
}

int main(int argc, char **argv)
{
	parse(argc, argv);
	read_llc();
	if (ng_run(NULL, machine_main, NULL) != 0) {
		fprintf(stderr, "bench_numa: the runtime did not start\n");
		return 1;
	}
	print_machine();
	if (selected("stream"))
		bench_stream();
	if (selected("latency") || selected("pingpong")) {
		if (ng_run(NULL, topo_main, NULL) != 0)
			status = 1;
	}
	return status;
}
