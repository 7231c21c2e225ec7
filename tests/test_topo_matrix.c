/* test_topo_matrix — the scheduler's view of fake machines (topology issue).
 *
 * Every fixture of tests/topo/make-fixtures.sh (directory from the
 * NUMAGO_TOPO_FIXTURES environment variable), and the synthetic shapes given
 * directly, is booted with ng_start (procs = auto) and checked against a model
 * of the machine computed here from PU OS indexes (synthetic PUs are numbered
 * depth first, so core, L3, node and package are quotients):
 *  - Ps = the allowed PUs, one PU per P, every allowed PU once; P's node;
 *  - the node latency matrix as written by the script (0 without one);
 *  - for every P: the victims are the other Ps once each, the distance class
 *    of each pair is the model's (REMOTE = different packages), classes are
 *    non-decreasing along the order, node latency non-decreasing within a
 *    class where there is a matrix, the first victim is a closest sibling and
 *    cross-package victims come last;
 *  - every node with Ps had at least one node-bound allocation per P, and
 *    ng_topo_alloc_onnode is counted on its node;
 *  - after a goroutine pinned to each P ran, the recorded binding of each P
 *    is its PUs (nothing is bound on a fake machine), none with bind = 0,
 *    none and no locality in topology-blind mode. */
#define _GNU_SOURCE
#include "tests/ng_test.h"

#include <numago/topology.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXP 128

static const int M2[] = {10, 21, 21, 10};
static const int M4[] = {10, 12, 20, 24, 12, 10, 24, 20, 20, 24, 10, 12, 24, 20, 12, 10};

/* asym: package 0 whole, package 1 partly (see make-fixtures.sh) */
static const char ASYM[] = "0-39,40,42,44,46,48-50";

struct fixture {
	const char *file;      /* in NUMAGO_TOPO_FIXTURES, or NULL */
	const char *synthetic; /* or a synthetic description */
	int npus;              /* PUs of the full synthetic shape */
	const char *allowed;   /* PU OS indexes kept ("a-b,c"), NULL: all */
	int per_core;          /* PUs per core */
	int per_l3;            /* PUs per L3, 0: no L3 */
	int per_node;          /* PUs per NUMA node, 0: one node for the machine */
	int per_pack;          /* PUs per package, 0: no package level */
	int nnodes;
	const int *matrix; /* nnodes x nnodes, NULL: none */
};

static const struct fixture FIXTURES[] = {
    {"pack2-core8-pu2.xml", NULL, 32, NULL, 2, 0, 0, 16, 1, NULL},
    {"pack2-numa1-core8-pu2.xml", NULL, 32, NULL, 2, 0, 16, 16, 2, NULL},
    {"pack2-numa1-core8-pu2-dist.xml", NULL, 32, NULL, 2, 0, 16, 16, 2, M2},
    {"pack2-numa2-core8-pu2.xml", NULL, 64, NULL, 2, 0, 16, 32, 4, NULL},
    {"pack2-numa2-core8-pu2-dist.xml", NULL, 64, NULL, 2, 0, 16, 32, 4, M4},
    {"pack2-l3x4-core4-pu1.xml", NULL, 32, NULL, 1, 4, 0, 16, 1, NULL},
    {"pack2-numa2-l3x2-core4-pu1.xml", NULL, 32, NULL, 1, 4, 8, 16, 4, NULL},
    {"pack2-numa2-l3x2-core4-pu1-dist.xml", NULL, 32, NULL, 1, 4, 8, 16, 4, M4},
    {"asym.xml", NULL, 64, ASYM, 2, 0, 16, 32, 4, NULL},
    {"asym-dist.xml", NULL, 64, ASYM, 2, 0, 16, 32, 4, M4},
    {"asym-disallowed.xml", NULL, 64, ASYM, 2, 0, 16, 32, 4, NULL},
    {"single-core4-pu2.xml", NULL, 8, NULL, 2, 0, 0, 0, 1, NULL},
    {NULL, "pack:2 core:8 pu:2", 32, NULL, 2, 0, 0, 16, 1, NULL},
    {NULL, "pack:2 numa:2 core:8 pu:2", 64, NULL, 2, 0, 16, 32, 4, NULL},
    {NULL, "pack:2 l3:4 core:4 pu:1", 32, NULL, 1, 4, 0, 16, 1, NULL},
    {NULL, "pack:2 numa:2 l3:2 core:4 pu:1", 32, NULL, 1, 4, 8, 16, 4, NULL},
    {NULL, "core:4 pu:2", 8, NULL, 2, 0, 0, 0, 1, NULL},
};

static const char *const CLASS[NG_DIST_NCLASSES] = {"SELF", "CORE",    "L2",    "L3",
                                                    "NODE", "PACKAGE", "REMOTE"};

/* ---- the model ---- */

static const struct fixture *F;
static char name[512];

static int model_node(int pu)
{
	return F->per_node ? pu / F->per_node : 0;
}

static int model_class(int a, int b)
{
	if (a == b)
		return NG_DIST_SELF;
	if (a / F->per_core == b / F->per_core)
		return NG_DIST_CORE;
	if (F->per_l3 && a / F->per_l3 == b / F->per_l3)
		return NG_DIST_L3;
	if (F->per_pack && a / F->per_pack != b / F->per_pack)
		return NG_DIST_REMOTE;
	if (model_node(a) == model_node(b))
		return NG_DIST_NODE;
	return NG_DIST_PACKAGE;
}

static int model_remote(int a, int b)
{
	return F->per_pack && a / F->per_pack != b / F->per_pack;
}

/* allowed[pu] = 1 for the PUs the runtime must use; returns how many */
static int model_allowed(unsigned char *allowed)
{
	memset(allowed, 0, MAXP);
	if (F->allowed == NULL) {
		memset(allowed, 1, (size_t)F->npus);
		return F->npus;
	}
	int n = 0;
	const char *s = F->allowed;
	while (*s) {
		char *end;
		long a = strtol(s, &end, 10), b = a;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long i = a; i <= b; i++, n++)
			allowed[i] = 1;
		s = *end == ',' ? end + 1 : end;
	}
	return n;
}

/* FAIL_IF: the machine is not the expected one, stop.  WRONG: a wrong
 * answer; report it (the first few per machine), go on, fail at the end. */
#define FAIL_IF(cond, ...)                             \
	do {                                           \
		if (cond) {                            \
			fprintf(stderr, "%s: ", name); \
			fprintf(stderr, __VA_ARGS__);  \
			fprintf(stderr, "\n");         \
			CHECK(!(cond));                \
		}                                      \
	} while (0)

static int failures, shown;

#define WRONG(bad, ...)                                                                   \
	do {                                                                              \
		if (bad) {                                                                \
			failures++;                                                       \
			if (shown++ < 8) {                                                \
				fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, name); \
				fprintf(stderr, __VA_ARGS__);                             \
				fprintf(stderr, "\n");                                    \
			}                                                                 \
		}                                                                         \
	} while (0)

/* ---- the runtime ---- */

static int started_procs;
static int ran_on[MAXP];
static ng_waitgroup wg = NG_WAITGROUP_INIT;

static void pinned(void *arg)
{
	int p = (int)(intptr_t)arg;
	ran_on[p] = ng_self_proc();
	ng_waitgroup_done(&wg);
}

/* one goroutine pinned to each P, waited for from this foreign thread */
static void run_on_every_p(int n)
{
	CHECK_EQ(ng_waitgroup_add(&wg, n), 0);
	for (int p = 0; p < n; p++) {
		ng_go_attr attr = NG_GO_ATTR_INIT;
		attr.proc = p;
		attr.name = "pinned";
		ran_on[p] = -2;
		CHECK_EQ(ng_go_attr(&attr, pinned, (void *)(intptr_t)p), 0);
	}
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	for (int p = 0; p < n; p++)
		WRONG(ran_on[p] != p, "goroutine pinned to P%d ran on P%d", p, ran_on[p]);
}

static void boot(int bind_mode, int locality)
{
	char topo[600];
	ng_config cfg;
	memset(&cfg, 0, sizeof cfg);
	if (F->file)
		snprintf(topo, sizeof topo, "xml:%s/%s", getenv("NUMAGO_TOPO_FIXTURES"), F->file);
	else
		snprintf(topo, sizeof topo, "synthetic:%s", F->synthetic);
	cfg.topology = topo;
	cfg.deadlock = NG_DEADLOCK_IGNORE;
	if (bind_mode >= 0) {
		cfg.bind = bind_mode;
		cfg.bind_set = 1;
	}
	cfg.locality = locality;
	int rc = ng_start(&cfg);
	FAIL_IF(rc != 0, "ng_start(%s) = %d", topo, rc);
	started_procs = ng_procs();
}

static void stop(void)
{
	CHECK_EQ(ng_stop(), 0);
	CHECK_EQ(ng_procs(), 0);
	CHECK_EQ(ng_topo_nnodes(), -ESRCH);
}

/* PU of each P (one each), checked against the allowed set */
static void check_procs(int *pu_of, int nallowed, const unsigned char *allowed)
{
	int n = ng_procs();
	FAIL_IF(n != nallowed, "%d Ps, expected %d (allowed PUs)", n, nallowed);
	CHECK_EQ(ng_topo_is_fake(), 1);
	CHECK_EQ(ng_topo_npus(), nallowed);
	CHECK_EQ(ng_topo_nnodes(), F->nnodes);
	unsigned char seen[MAXP] = {0};
	for (int p = 0; p < n; p++) {
		int pus[MAXP];
		int k = ng_topo_proc_pus(p, pus, MAXP);
		FAIL_IF(k != 1, "P%d runs on %d PUs, expected 1", p, k);
		int pu = pus[0];
		FAIL_IF(pu < 0 || pu >= F->npus || !allowed[pu], "P%d on PU %d, not allowed", p,
		        pu);
		FAIL_IF(seen[pu], "PU %d has two Ps", pu);
		seen[pu] = 1;
		pu_of[p] = pu;
		int node = ng_topo_proc_node(p);
		WRONG(node != model_node(pu), "P%d (PU %d): node %d, expected %d", p, pu, node,
		      model_node(pu));
	}
	CHECK_EQ(ng_topo_proc_pus(n, (int[1]){0}, 1), -EINVAL);
	CHECK_EQ(ng_topo_proc_pus(-1, (int[1]){0}, 1), -EINVAL);
	CHECK_EQ(ng_topo_proc_node(n), -EINVAL);
	CHECK_EQ(ng_topo_distance(0, n), -EINVAL);
	CHECK_EQ(ng_topo_victims(n, (int[1]){0}, 1), -EINVAL);
	CHECK_EQ(ng_topo_binding(n, (int[1]){0}, 1), -EINVAL);
	CHECK_EQ(ng_topo_node_distance(0, F->nnodes), -EINVAL);
	uint64_t c, b;
	CHECK_EQ(ng_topo_node_allocs(F->nnodes, &c, &b), -EINVAL);
}

static void check_matrix(void)
{
	for (int a = 0; a < F->nnodes; a++)
		for (int b = 0; b < F->nnodes; b++) {
			int want = F->matrix ? F->matrix[a * F->nnodes + b] : 0;
			int got = ng_topo_node_distance(a, b);
			WRONG(got != want, "node distance %d->%d = %d, expected %d", a, b, got,
			      want);
		}
}

static void summary_classes(char *buf, size_t size, const int *cls, int n)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < n;) {
		int j = i;
		while (j < n && cls[j] == cls[i])
			j++;
		const char *c = cls[i] >= 0 && cls[i] < NG_DIST_NCLASSES ? CLASS[cls[i]] : "?";
		len += (size_t)snprintf(buf + len, size - len, "%s%s*%d", i ? " " : "", c, j - i);
		if (len >= size)
			break;
		i = j;
	}
}

static void check_victims(const int *pu_of)
{
	int n = ng_procs();
	for (int p = 0; p < n; p++) {
		int v[MAXP], cls[MAXP];
		unsigned char seen[MAXP] = {0};
		int k = ng_topo_victims(p, v, MAXP);
		FAIL_IF(k != n - 1, "P%d: %d victims, expected %d", p, k, n - 1);
		int minc = NG_DIST_NCLASSES;
		for (int q = 0; q < n; q++) {
			if (q == p)
				continue;
			int c = ng_topo_distance(p, q);
			int want = model_class(pu_of[p], pu_of[q]);
			WRONG(c != want, "distance(P%d pu %d, P%d pu %d) = %d, expected %s", p,
			      pu_of[p], q, pu_of[q], c, CLASS[want]);
			WRONG(ng_topo_distance(q, p) != c, "distance(P%d, P%d) not symmetric", p,
			      q);
			if (c < minc)
				minc = c;
		}
		int seen_remote = 0;
		for (int i = 0; i < k; i++) {
			int q = v[i];
			FAIL_IF(q < 0 || q >= n || q == p || seen[q],
			        "P%d: victim %d is P%d (out of range, self or repeated)", p, i, q);
			seen[q] = 1;
			cls[i] = ng_topo_distance(p, q);
			int remote = model_remote(pu_of[p], pu_of[q]);
			WRONG(seen_remote && !remote,
			      "P%d: victim %d (P%d) is in its package but follows a remote one", p,
			      i, q);
			seen_remote |= remote;
			if (i == 0) {
				WRONG(cls[0] != minc, "P%d: first victim P%d at %s, closest is %s",
				      p, q, CLASS[cls[0]], CLASS[minc]);
				continue;
			}
			WRONG(cls[i] < cls[i - 1], "P%d: victim %d (P%d) %s after %s", p, i, q,
			      CLASS[cls[i]], CLASS[cls[i - 1]]);
			if (F->matrix && cls[i] == cls[i - 1]) {
				int me = ng_topo_proc_node(p);
				int d0 = ng_topo_node_distance(me, ng_topo_proc_node(v[i - 1]));
				int d1 = ng_topo_node_distance(me, ng_topo_proc_node(q));
				WRONG(d1 < d0,
				      "P%d: victim %d (P%d, node latency %d) after P%d (%d) in %s",
				      p, i, q, d1, v[i - 1], d0, CLASS[cls[i]]);
			}
		}
		if (p == 0) {
			char buf[256];
			summary_classes(buf, sizeof buf, cls, k);
			printf("%-40s Ps %2d nodes %d matrix %-3s P0 (PU %d) victims: %s\n", name,
			       n, F->nnodes, F->matrix ? "yes" : "no", pu_of[0], buf);
		}
	}
}

static void check_allocs(const int *pu_of)
{
	int n = ng_procs();
	int per_node[16] = {0};
	for (int p = 0; p < n; p++)
		per_node[ng_topo_proc_node(p)]++;
	for (int node = 0; node < F->nnodes; node++) {
		uint64_t c = 0, b = 0;
		CHECK_EQ(ng_topo_node_allocs(node, &c, &b), 0);
		WRONG(c < (uint64_t)per_node[node],
		      "node %d: %llu node-bound allocations for its %d Ps", node,
		      (unsigned long long)c, per_node[node]);
		WRONG(c > 0 && b == 0, "node %d: %llu allocations of 0 bytes", node,
		      (unsigned long long)c);
		/* the program's own request is counted on its node */
		size_t size = 10000;
		unsigned char *m = ng_topo_alloc_onnode(size, node);
		FAIL_IF(m == NULL, "ng_topo_alloc_onnode(%zu, %d) failed: %s", size, node,
		        strerror(errno));
		CHECK_EQ((uintptr_t)m % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
		for (size_t i = 0; i < size; i++)
			CHECK_EQ(m[i], 0);
		memset(m, 0xa5, size);
		uint64_t c2 = 0, b2 = 0;
		CHECK_EQ(ng_topo_node_allocs(node, &c2, &b2), 0);
		WRONG(c2 < c + 1 || b2 < b + size,
		      "node %d: census %llu/%llu -> %llu/%llu after allocating %zu bytes", node,
		      (unsigned long long)c, (unsigned long long)b, (unsigned long long)c2,
		      (unsigned long long)b2, size);
		ng_topo_free(m, size);
	}
	errno = 0;
	CHECK(ng_topo_alloc_onnode(4096, F->nnodes) == NULL);
	CHECK_EQ(errno, EINVAL);
	(void)pu_of;
}

static void check_bindings(int expect_bound)
{
	int n = ng_procs();
	run_on_every_p(n);
	for (int p = 0; p < n; p++) {
		int want[MAXP], got[MAXP];
		int nw = ng_topo_proc_pus(p, want, MAXP);
		int ng = ng_topo_binding(p, got, MAXP);
		if (!expect_bound) {
			WRONG(ng != 0, "P%d: binding of %d PUs recorded (expected none)", p, ng);
			continue;
		}
		WRONG(ng != nw, "P%d: binding of %d PUs recorded, runs on %d", p, ng, nw);
		for (int i = 0; i < nw && ng == nw; i++)
			WRONG(got[i] != want[i], "P%d: bound to PU %d, runs on PU %d", p, got[i],
			      want[i]);
	}
}

static void check_fixture(const struct fixture *f)
{
	F = f;
	shown = 0;
	if (f->file)
		snprintf(name, sizeof name, "%s", f->file);
	else
		snprintf(name, sizeof name, "synthetic:%s", f->synthetic);
	unsigned char allowed[MAXP];
	int nallowed = model_allowed(allowed);
	int pu_of[MAXP];

	/* default: topological order, binding recorded */
	boot(-1, 0);
	CHECK_EQ(ng_topo_locality(), 1);
	check_procs(pu_of, nallowed, allowed);
	check_matrix();
	check_victims(pu_of);
	check_allocs(pu_of);
	check_bindings(1);
	stop();

	/* bind = 0 set explicitly: nothing recorded */
	boot(0, 0);
	CHECK_EQ(ng_topo_locality(), 1);
	check_procs(pu_of, nallowed, allowed);
	check_bindings(0);
	stop();

	/* topology-blind: no locality, no binding; victims still every other P */
	boot(-1, -1);
	CHECK_EQ(ng_topo_locality(), 0);
	CHECK_EQ(ng_procs(), nallowed);
	CHECK_EQ(ng_topo_is_fake(), 1);
	for (int p = 0; p < started_procs; p++) {
		int v[MAXP];
		unsigned char seen[MAXP] = {0};
		CHECK_EQ(ng_topo_victims(p, v, MAXP), started_procs - 1);
		for (int i = 0; i < started_procs - 1; i++) {
			CHECK(v[i] >= 0 && v[i] < started_procs && v[i] != p && !seen[v[i]]);
			seen[v[i]] = 1;
		}
	}
	check_bindings(0);
	stop();
}

int main(void)
{
	/* the configuration is the test's, not the environment's */
	unsetenv("NUMAGO_PROCS");
	unsetenv("NUMAGO_TOPOLOGY");
	unsetenv("NUMAGO_LOCALITY");
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *dir = getenv("NUMAGO_TOPO_FIXTURES");
	if (dir == NULL || *dir == '\0') {
		fprintf(stderr, "NUMAGO_TOPO_FIXTURES is not set (run through ctest)\n");
		return 1;
	}

	/* nothing to answer about while no runtime runs */
	CHECK_EQ(ng_topo_nnodes(), -ESRCH);
	CHECK_EQ(ng_topo_is_fake(), -ESRCH);
	CHECK_EQ(ng_topo_victims(0, (int[1]){0}, 1), -ESRCH);
	CHECK_EQ(ng_topo_binding(0, (int[1]){0}, 1), -ESRCH);

	for (size_t i = 0; i < sizeof FIXTURES / sizeof FIXTURES[0]; i++)
		check_fixture(&FIXTURES[i]);
	size_t nf = sizeof FIXTURES / sizeof FIXTURES[0];
	if (failures) {
		fprintf(stderr, "test_topo_matrix: %d wrong answers over %zu machines\n", failures,
		        nf);
		return 1;
	}
	printf("test_topo_matrix: %zu machines OK\n", nf);
	return 0;
}
