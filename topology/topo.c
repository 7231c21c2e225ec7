/* topology/topo.c — the machine as the scheduler sees it (hwloc).
 *
 * At boot: load the topology (this machine, or a synthetic/XML one), take
 * the PUs of the allowed cpuset (intersected with the process's affinity, so
 * Slurm and mpirun bindings are respected), size the Ps (cgroup quota,
 * overrides), give each P a set of PUs spread over the tree (hwloc_distrib),
 * and compute for every pair of Ps a distance class and for every P a victim
 * order sorted by (class, NUMA latency).  core reads the result through
 * ng_topo_p_*; nothing here runs on a hot path except the binding of an M
 * when it takes a different P.
 *
 * On a fake topology (synthetic, XML) the PUs do not exist: Ms are never
 * bound and memory is never bound, but both are recorded so tests can check
 * what the runtime would have done.
 *
 * Built without hwloc (NUMAGO_WITH_HWLOC=OFF, e.g. for the aarch64 cross
 * check) the machine is flat: one node, PUs from the affinity mask, every
 * pair of Ps at class NODE, and fake topologies are refused.
 *
 * When hwloc fails on this machine (hwloc_topology_init or _load; the
 * NUMAGO_FAULT=hwloc site) the runtime still starts, on that same flat
 * machine, after one line saying so: a program that ran yesterday should
 * not stop running because /sys is unreadable today, and Ms are still bound
 * to the PUs the launcher gave the process.  A fake topology asked for
 * (ng_config.topology, NUMAGO_TOPOLOGY) is never replaced by another
 * machine: ng_run/ng_start fail, with one line. */
#define _GNU_SOURCE
#include "../core/fault.h"
#include "../core/internal.h"
#include "cgroup.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <numago/topology.h>

#if NG_HAVE_HWLOC
#include <hwloc.h>
#endif

#define S ng_sched_g

_Static_assert(NG_DIST_NCLASSES == sizeof(((ng_stats *)0)->steals_by_class) / sizeof(uint64_t),
               "ng_stats.steals_by_class has one slot per distance class");

typedef struct topo_p {
	int node;  /* logical NUMA node */
	int group; /* spinning group: its L3, else its node */
	int npus;
	int *pus; /* OS indexes, ascending */
	_Atomic uint64_t binds;
} topo_p;

typedef struct topo {
	bool loaded;
	bool fake;
	bool flat; /* no hwloc topology: one node, the affinity mask's PUs */
	bool locality;
	bool bind;
	int npus;   /* allowed PUs */
	int nnodes; /* NUMA nodes */
	int ngroups;
	int nprocs;
	topo_p *p;
	uint8_t *cls;  /* nprocs x nprocs distance classes */
	int *nodedist; /* nnodes x nnodes, NULL without a matrix */
	_Atomic uint64_t *node_allocs, *node_bytes;
#if NG_HAVE_HWLOC
	hwloc_topology_t t;
#endif
} topo;

static topo T;

/* ------------------------------------------------------------ loading --- */

/* The PUs of a machine seen without hwloc: the affinity mask. */
static int flat_pus(int *pus, int max)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof set, &set) == 0) {
		for (int i = 0; i < CPU_SETSIZE && n < max; i++)
			if (CPU_ISSET(i, &set))
				pus[n++] = i;
	}
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		for (int i = 0; i < c && n < max; i++)
			pus[n++] = i;
	}
	return n > 0 ? n : 1;
}

#if NG_HAVE_HWLOC
static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static hwloc_obj_t pu_obj(int os)
{
	return hwloc_get_pu_obj_by_os_index(T.t, (unsigned)os);
}

static int node_of_pu(hwloc_obj_t pu)
{
	hwloc_obj_t n = NULL;
	while ((n = hwloc_get_next_obj_by_type(T.t, HWLOC_OBJ_NUMANODE, n)) != NULL)
		if (n->cpuset != NULL && hwloc_bitmap_isset(n->cpuset, pu->os_index))
			return (int)n->logical_index;
	return 0;
}

static int group_of_pu(hwloc_obj_t pu)
{
	for (hwloc_obj_t a = pu->parent; a != NULL; a = a->parent)
		if (a->type == HWLOC_OBJ_L3CACHE)
			return (int)a->logical_index;
	return -1;
}

static int class_of_pus(hwloc_obj_t a, hwloc_obj_t b)
{
	if (a == b)
		return NG_DIST_SELF;
	hwloc_obj_t anc = hwloc_get_common_ancestor_obj(T.t, a, b);
	for (hwloc_obj_t o = anc; o != NULL; o = o->parent) {
		if (o->type == HWLOC_OBJ_CORE)
			return NG_DIST_CORE;
		if (o->type == HWLOC_OBJ_L1CACHE || o->type == HWLOC_OBJ_L2CACHE)
			return NG_DIST_L2;
		if (o->type == HWLOC_OBJ_L3CACHE)
			return NG_DIST_L3;
		if (o->type == HWLOC_OBJ_PACKAGE || o->type == HWLOC_OBJ_MACHINE)
			break;
	}
	/* Another package is remote even when one NUMA node spans both
	 * (interleaved memory): its caches and links are still far. */
	hwloc_obj_t pa = hwloc_get_ancestor_obj_by_type(T.t, HWLOC_OBJ_PACKAGE, a);
	hwloc_obj_t pb = hwloc_get_ancestor_obj_by_type(T.t, HWLOC_OBJ_PACKAGE, b);
	if (pa != pb)
		return NG_DIST_REMOTE;
	if (node_of_pu(a) == node_of_pu(b))
		return NG_DIST_NODE;
	return NG_DIST_PACKAGE;
}

static void load_node_distances(void)
{
	struct hwloc_distances_s *d[1];
	unsigned nr = 1;
	if (hwloc_distances_get_by_type(T.t, HWLOC_OBJ_NUMANODE, &nr, d, 0, 0) != 0 || nr == 0)
		return;
	T.nodedist = calloc((size_t)T.nnodes * (size_t)T.nnodes, sizeof(int));
	if (T.nodedist != NULL) {
		for (unsigned i = 0; i < d[0]->nbobjs; i++)
			for (unsigned j = 0; j < d[0]->nbobjs; j++) {
				int a = (int)d[0]->objs[i]->logical_index;
				int b = (int)d[0]->objs[j]->logical_index;
				if (a < T.nnodes && b < T.nnodes) {
					uint64_t v = d[0]->values[i * d[0]->nbobjs + j];
					T.nodedist[a * T.nnodes + b] =
					    v > 0xffffff ? 0xffffff : (int)v;
				}
			}
	}
	hwloc_distances_release(T.t, d[0]);
}

/* This machine's topology, loaded once per process: discovery reads
 * hundreds of /sys files (tens of ms on these VMs), and programs and tests
 * restart the runtime.  The allowed set is recomputed at every boot. */
static hwloc_topology_t this_machine;

/* The allowed PUs in hwloc's logical order (which follows the tree): the
 * topology's allowed cpuset (cgroup cpusets, as Slurm sets them) and, on
 * this machine, the binding of the thread that boots the runtime, as Go
 * reads it: launchers (mpirun --bind-to, srun --cpu-bind, taskset) bind the
 * process before it starts, and helper threads (a sanitizer's, a
 * library's) may have wider masks than the program's own.  pus may be
 * NULL: count only. */
static int allowed_pus(int *pus)
{
	hwloc_bitmap_t allowed = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(T.t));
	hwloc_bitmap_and(allowed, allowed, hwloc_topology_get_topology_cpuset(T.t));
	if (!T.fake) {
		hwloc_bitmap_t bound = hwloc_bitmap_alloc();
		if (hwloc_get_cpubind(T.t, bound, HWLOC_CPUBIND_THREAD) == 0 &&
		    hwloc_bitmap_intersects(bound, allowed))
			hwloc_bitmap_and(allowed, allowed, bound);
		hwloc_bitmap_free(bound);
	}
	int n = 0;
	hwloc_obj_t pu = NULL;
	while ((pu = hwloc_get_next_obj_by_type(T.t, HWLOC_OBJ_PU, pu)) != NULL)
		if (hwloc_bitmap_isset(allowed, pu->os_index)) {
			if (pus != NULL)
				pus[n] = (int)pu->os_index;
			n++;
		}
	hwloc_bitmap_free(allowed);
	return n;
}

/* Count the usable PUs and nodes of T.t and read its node distances. */
static int load_allowed(void)
{
	T.npus = allowed_pus(NULL);
	T.nnodes = hwloc_get_nbobjs_by_type(T.t, HWLOC_OBJ_NUMANODE);
	if (T.nnodes < 1)
		T.nnodes = 1;
	if (T.npus < 1) {
		ng_warn("topology has no usable PU");
		if (T.t != this_machine)
			hwloc_topology_destroy(T.t);
		return -EINVAL;
	}
	load_node_distances();
	return 0;
}

/* hwloc failed on this machine: the flat machine (see the top), and the
 * one line that says so.  Returns 1: loaded, without hwloc. */
static int load_flat_fallback(const char *call, int e)
{
	int tmp[CPU_SETSIZE];
	T.t = NULL;
	T.flat = true;
	T.npus = flat_pus(tmp, CPU_SETSIZE);
	T.nnodes = 1;
	ng_warn("hwloc cannot load this machine's topology (%s: %s): using a flat one instead: "
	        "1 NUMA node, %d PUs from the affinity mask",
	        call, strerror(e), T.npus);
	return 1;
}

/* 0: T.t loaded; 1: this machine without hwloc (T.flat); < 0: refused. */
static int load_hwloc(const char *spec)
{
	if (spec == NULL && this_machine != NULL) {
		T.t = this_machine;
		return load_allowed();
	}
	/* hwloc_topology_init fails only for want of memory */
	if (ng_fault(NG_FAULT_HWLOC) || hwloc_topology_init(&T.t) != 0) {
		T.t = NULL;
		if (spec == NULL)
			return load_flat_fallback("hwloc_topology_init", ENOMEM);
		ng_warn("topology '%s' cannot be loaded: hwloc_topology_init: %s", spec,
		        strerror(ENOMEM));
		return -ENOMEM;
	}
	int rc = 0;
	if (spec != NULL && strncmp(spec, "synthetic:", 10) == 0) {
		T.fake = true;
		rc = hwloc_topology_set_synthetic(T.t, spec + 10);
	} else if (spec != NULL && strncmp(spec, "xml:", 4) == 0) {
		T.fake = true;
		rc = hwloc_topology_set_xml(T.t, spec + 4);
	} else if (spec != NULL) {
		errno = EINVAL;
		rc = -1;
	}
	const char *call = "hwloc_topology_load";
	if (rc != 0)
		call = NULL; /* the spec itself was refused */
	else if (ng_fault(NG_FAULT_HWLOC))
		errno = EIO, rc = -1; /* as an unreadable /sys or XML file would */
	else
		rc = hwloc_topology_load(T.t);
	if (rc != 0) {
		int e = errno ? errno : EINVAL;
		hwloc_topology_destroy(T.t);
		T.t = NULL;
		if (spec == NULL)
			return load_flat_fallback(call, e);
		/* the hint only where the spec can be what is wrong */
		bool spec_err = call == NULL || e == EINVAL || e == ENOENT;
		ng_warn("topology '%s' cannot be loaded (%s)%s", spec, strerror(e),
		        spec_err
		            ? ": expected synthetic:<hwloc synthetic description> or xml:<file>"
		            : "");
		return -EINVAL;
	}
	if (!T.fake)
		this_machine = T.t;
	return load_allowed();
}

/* Fewer Ps than PUs: spread them over the tree (a P per package first, then
 * per core...), each P owning the PUs of its share. */
static int assign_distrib(int nprocs)
{
	hwloc_bitmap_t *sets = calloc((size_t)nprocs, sizeof *sets);
	if (sets == NULL)
		return -ENOMEM;
	hwloc_obj_t root = hwloc_get_root_obj(T.t);
	if (hwloc_distrib(T.t, &root, 1, sets, (unsigned)nprocs, INT_MAX, 0) != 0) {
		free(sets);
		return -EINVAL;
	}
	int *all = malloc(sizeof(int) * (size_t)T.npus);
	int nall = all ? allowed_pus(all) : 0;
	int rc = nall > 0 ? 0 : -ENOMEM;
	for (int i = 0; i < nprocs && rc == 0; i++) {
		topo_p *tp = &T.p[i];
		tp->pus = malloc(sizeof(int) * (size_t)(nall > 0 ? nall : 1));
		if (tp->pus == NULL) {
			rc = -ENOMEM;
			break;
		}
		for (int k = 0; k < nall; k++)
			if (hwloc_bitmap_isset(sets[i], (unsigned)all[k]))
				tp->pus[tp->npus++] = all[k];
		if (tp->npus == 0) /* distrib gave it disallowed PUs only */
			tp->pus[tp->npus++] = all[i % nall];
		qsort(tp->pus, (size_t)tp->npus, sizeof(int), cmp_int);
	}
	for (int i = 0; i < nprocs; i++)
		hwloc_bitmap_free(sets[i]);
	free(sets);
	free(all);
	return rc;
}
#endif /* NG_HAVE_HWLOC */

/* At least as many Ps as PUs: P i runs on the i-th PU (wrapping). */
static int assign_round_robin(int nprocs)
{
	int *all = malloc(sizeof(int) * (size_t)(T.npus > 0 ? T.npus : 1));
	if (all == NULL)
		return -ENOMEM;
	int nall;
#if NG_HAVE_HWLOC
	nall = T.flat ? flat_pus(all, T.npus) : allowed_pus(all);
#else
	nall = flat_pus(all, T.npus);
#endif
	for (int i = 0; i < nprocs; i++) {
		topo_p *tp = &T.p[i];
		tp->pus = malloc(sizeof(int));
		if (tp->pus == NULL) {
			free(all);
			return -ENOMEM;
		}
		tp->pus[0] = all[i % nall];
		tp->npus = 1;
	}
	free(all);
	return 0;
}

static void compute_classes(void)
{
	int n = T.nprocs;
	for (int i = 0; i < n; i++) {
#if NG_HAVE_HWLOC
		hwloc_obj_t a = T.flat ? NULL : pu_obj(T.p[i].pus[0]);
		T.p[i].node = a ? node_of_pu(a) : 0;
		int g = a ? group_of_pu(a) : -1;
		T.p[i].group = g;
#else
		T.p[i].node = 0;
		T.p[i].group = -1;
#endif
	}
	/* Spinning groups: L3 groups where the machine has L3s, else nodes;
	 * numbered densely. */
	int have_l3 = 0;
	for (int i = 0; i < n; i++)
		have_l3 |= T.p[i].group >= 0;
	int maxg = 0;
	for (int i = 0; i < n; i++) {
		if (!have_l3 || T.p[i].group < 0)
			T.p[i].group = have_l3 ? 0 : T.p[i].node;
		if (T.p[i].group + 1 > maxg)
			maxg = T.p[i].group + 1;
	}
	T.ngroups = maxg;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			int c;
			if (i == j || T.p[i].pus[0] == T.p[j].pus[0])
				c = NG_DIST_SELF;
			else {
#if NG_HAVE_HWLOC
				hwloc_obj_t a = T.flat ? NULL : pu_obj(T.p[i].pus[0]);
				hwloc_obj_t b = T.flat ? NULL : pu_obj(T.p[j].pus[0]);
				c = (a && b) ? class_of_pus(a, b) : NG_DIST_NODE;
#else
				c = NG_DIST_NODE;
#endif
			}
			T.cls[(size_t)i * (size_t)n + (size_t)j] = (uint8_t)c;
		}
}

void ng_topo_unload(void)
{
	if (!T.loaded)
		return;
	for (int i = 0; i < T.nprocs; i++)
		free(T.p[i].pus);
	free(T.p);
	free(T.cls);
	free(T.nodedist);
	free((void *)T.node_allocs);
	free((void *)T.node_bytes);
#if NG_HAVE_HWLOC
	if (T.t != NULL && T.t != this_machine)
		hwloc_topology_destroy(T.t);
#endif
	memset(&T, 0, sizeof T);
}

int ng_topo_load(const char *spec)
{
	ng_topo_unload();
	if (spec != NULL && *spec == '\0')
		spec = NULL;
#if NG_HAVE_HWLOC
	int rc = load_hwloc(spec);
	if (rc < 0)
		return rc;
#else
	if (spec != NULL) {
		ng_warn("topology '%s': numago was built without hwloc; only this machine", spec);
		return -ENOTSUP;
	}
	int tmp[CPU_SETSIZE];
	T.npus = flat_pus(tmp, CPU_SETSIZE);
	T.nnodes = 1;
#endif
	T.node_allocs = calloc((size_t)T.nnodes, sizeof *T.node_allocs);
	T.node_bytes = calloc((size_t)T.nnodes, sizeof *T.node_bytes);
	T.loaded = true;
	if (T.node_allocs == NULL || T.node_bytes == NULL) {
		ng_topo_unload();
		return -ENOMEM;
	}
	return 0;
}

int ng_topo_default_procs(void)
{
	int n = T.loaded ? T.npus : 1;
	/* A fake machine is not in this one's cgroup, unless a test says so. */
	const char *root = ng_debug_g.cgroot[0] ? ng_debug_g.cgroot : NULL;
	if (T.loaded && (!T.fake || root != NULL)) {
		int q = ng_topo_cgroup_cpus(root);
		if (q < 0)
			ng_warn("cgroup CPU quota unreadable (%s): not clamping the Ps",
			        strerror(-q));
		else if (q > 0 && q < n)
			n = q;
	}
	return n;
}

int ng_topo_assign(int nprocs, bool locality, bool bind)
{
	T.nprocs = nprocs;
	T.locality = locality;
	T.bind = bind && locality;
	T.p = calloc((size_t)nprocs, sizeof *T.p);
	T.cls = malloc((size_t)nprocs * (size_t)nprocs);
	if (T.p == NULL || T.cls == NULL)
		return -ENOMEM;
	int rc;
#if NG_HAVE_HWLOC
	rc = nprocs < T.npus && !T.flat ? assign_distrib(nprocs) : assign_round_robin(nprocs);
#else
	rc = assign_round_robin(nprocs);
#endif
	if (rc != 0)
		return rc;
	compute_classes();
	return 0;
}

/* ------------------------------------------------------ for the scheduler --- */

int ng_topo_node_count(void)
{
	return T.loaded ? T.nnodes : 1;
}

int ng_topo_p_node(int p)
{
	return T.p[p].node;
}

int ng_topo_p_group(int p)
{
	return T.p[p].group;
}

int ng_topo_ngroups(void)
{
	return T.ngroups;
}

int ng_topo_class(int p, int q)
{
	return T.cls[(size_t)p * (size_t)T.nprocs + (size_t)q];
}

static int node_lat(int p, int q)
{
	if (T.nodedist == NULL || T.p[p].node == T.p[q].node)
		return 0;
	return T.nodedist[T.p[p].node * T.nnodes + T.p[q].node];
}

static int victim_cmp_p; /* the P whose order is sorted; ng_topo_victim_order holds boot_lock */

static int victim_cmp(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b, p = victim_cmp_p, n = T.nprocs;
	int cx = ng_topo_class(p, x), cy = ng_topo_class(p, y);
	if (cx != cy)
		return cx - cy;
	int lx = node_lat(p, x), ly = node_lat(p, y);
	if (lx != ly)
		return lx - ly;
	/* the same distance: the next ids after p first, so equal Ps spread */
	return (x - p + n) % n - (y - p + n) % n;
}

/* The order P `id` tries the others in, and for each the key that decides
 * the order: steal_work randomises among victims of equal key.  Blind mode:
 * every key 0 (one group, random start). */
void ng_topo_victim_order(int id, int nprocs, int *out, uint32_t *key, uint8_t *cls)
{
	int k = 0;
	for (int i = 1; i < nprocs; i++)
		out[k++] = (id + i) % nprocs;
	if (T.locality) {
		victim_cmp_p = id;
		qsort(out, (size_t)k, sizeof(int), victim_cmp);
	}
	for (int i = 0; i < k; i++) {
		cls[i] = (uint8_t)ng_topo_class(id, out[i]);
		key[i] = T.locality ? (uint32_t)cls[i] << 24 | (uint32_t)node_lat(id, out[i]) : 0;
	}
}

/* The M about to run P p is bound to p's PUs, or on a fake topology the
 * binding is only counted.  Returns whether the binding is in place. */
bool ng_topo_bind_m(int p)
{
	if (!T.bind)
		return true;
	topo_p *tp = &T.p[p];
	atomic_fetch_add_explicit(&tp->binds, 1, memory_order_relaxed);
	if (T.fake)
		return true;
	cpu_set_t set;
	CPU_ZERO(&set);
	for (int i = 0; i < tp->npus; i++)
		if (tp->pus[i] < CPU_SETSIZE)
			CPU_SET(tp->pus[i], &set);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	if (rc != 0) {
		static _Atomic int warned;
		if (!atomic_exchange(&warned, 1))
			ng_warn("cannot bind an M to the PUs of P%d (%s): Ms run unbound", p,
			        strerror(rc));
		return false;
	}
	return true;
}

static size_t page_round(size_t size)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (size + pg - 1) & ~(pg - 1);
}

/* [mem, mem+size), not yet touched, is for `node`: count it in the census
 * and bind it there.  Binding happens only on real machines with more than
 * one node: elsewhere the kernel's first touch is as good. */
void ng_topo_place(void *mem, size_t size, int node)
{
	if (!T.loaded || node < 0 || node >= T.nnodes)
		return;
	atomic_fetch_add_explicit(&T.node_allocs[node], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&T.node_bytes[node], size, memory_order_relaxed);
#if NG_HAVE_HWLOC
	if (T.fake || T.flat || T.nnodes < 2 || !T.locality)
		return;
	hwloc_obj_t n = hwloc_get_obj_by_type(T.t, HWLOC_OBJ_NUMANODE, (unsigned)node);
	if (n == NULL)
		return;
	if (hwloc_set_area_membind(T.t, mem, size, n->nodeset, HWLOC_MEMBIND_BIND,
	                           HWLOC_MEMBIND_BYNODESET) != 0) {
		static _Atomic int warned;
		if (!atomic_exchange(&warned, 1))
			ng_warn("cannot bind memory to NUMA node %d (%s): first touch decides",
			        node, strerror(errno));
	}
#else
	(void)mem;
#endif
}

/* Node memory for the runtime's per-P structures (and ng_topo_alloc_onnode):
 * page granular and zeroed (fresh mmap), placed with ng_topo_place. */
void *ng_topo_alloc_node(size_t size, int node)
{
	size = page_round(size);
	void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	ng_topo_place(mem, size, node);
	return mem;
}

void ng_topo_free_node(void *p, size_t size)
{
	if (p != NULL)
		munmap(p, page_round(size));
}

/* ------------------------------------------------------------- public --- */

#define NEED_RUNNING()                        \
	do {                                  \
		if (!atomic_load(&S.running)) \
			return -ESRCH;        \
	} while (0)
#define NEED_PROC(p)                            \
	do {                                    \
		if ((p) < 0 || (p) >= T.nprocs) \
			return -EINVAL;         \
	} while (0)

int ng_topo_nnodes(void)
{
	NEED_RUNNING();
	return T.nnodes;
}

int ng_topo_npus(void)
{
	NEED_RUNNING();
	return T.npus;
}

int ng_topo_is_fake(void)
{
	NEED_RUNNING();
	return T.fake;
}

int ng_topo_locality(void)
{
	NEED_RUNNING();
	return T.locality;
}

int ng_topo_proc_node(int proc)
{
	NEED_RUNNING();
	NEED_PROC(proc);
	return T.p[proc].node;
}

int ng_topo_proc_pus(int proc, int *pus, int max)
{
	NEED_RUNNING();
	NEED_PROC(proc);
	if (pus == NULL && max > 0)
		return -EINVAL;
	for (int i = 0; i < T.p[proc].npus && i < max; i++)
		pus[i] = T.p[proc].pus[i];
	return T.p[proc].npus;
}

int ng_topo_distance(int p, int q)
{
	NEED_RUNNING();
	NEED_PROC(p);
	NEED_PROC(q);
	return ng_topo_class(p, q);
}

int ng_topo_node_distance(int a, int b)
{
	NEED_RUNNING();
	if (a < 0 || a >= T.nnodes || b < 0 || b >= T.nnodes)
		return -EINVAL;
	return T.nodedist ? T.nodedist[a * T.nnodes + b] : 0;
}

int ng_topo_victims(int proc, int *out, int max)
{
	NEED_RUNNING();
	NEED_PROC(proc);
	if (out == NULL && max > 0)
		return -EINVAL;
	ng_p *p = S.allp[proc];
	for (int i = 0; i < p->nvictims && i < max; i++)
		out[i] = p->victims[i];
	return p->nvictims;
}

int ng_topo_binding(int proc, int *pus, int max)
{
	NEED_RUNNING();
	NEED_PROC(proc);
	if (pus == NULL && max > 0)
		return -EINVAL;
	if (!T.bind || atomic_load(&T.p[proc].binds) == 0)
		return 0;
	return ng_topo_proc_pus(proc, pus, max);
}

void *ng_topo_alloc_onnode(size_t size, int node)
{
	if (!atomic_load(&S.running) || size == 0 || node < 0 || node >= T.nnodes) {
		errno = EINVAL;
		return NULL;
	}
	void *p = ng_topo_alloc_node(size, node);
	if (p == NULL)
		errno = ENOMEM;
	return p;
}

void ng_topo_free(void *p, size_t size)
{
	ng_topo_free_node(p, size);
}

int ng_topo_node_allocs(int node, uint64_t *count, uint64_t *bytes)
{
	NEED_RUNNING();
	if (node < 0 || node >= T.nnodes)
		return -EINVAL;
	if (count != NULL)
		*count = atomic_load(&T.node_allocs[node]);
	if (bytes != NULL)
		*bytes = atomic_load(&T.node_bytes[node]);
	return 0;
}
