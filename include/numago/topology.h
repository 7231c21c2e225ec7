/* numago/topology.h — the machine as the scheduler sees it (hwloc).
 *
 * Ps come from the PUs of the allowed cpuset (clamped by a cgroup CPU quota,
 * overridden by ng_config.procs / NUMAGO_PROCS).  The topology is the real
 * machine, or a fake one given as ng_config.topology / NUMAGO_TOPOLOGY:
 * "synthetic:pack:2 numa:2 core:4 pu:2" or "xml:/path/topo.xml".  On a fake
 * topology nothing is bound: the bindings the runtime would have made are
 * recorded and can be queried.
 *
 * When hwloc cannot load this machine's topology, the runtime starts on a
 * flat machine after one line on stderr ("numago: hwloc cannot load this
 * machine's topology (hwloc_topology_load: ...): using a flat one instead:
 * 1 NUMA node, N PUs from the affinity mask"): one node, the PUs of the
 * process's affinity mask, each P on one PU (bound to it), every pair of Ps at
 * NG_DIST_NODE.  A fake topology that cannot be loaded is never replaced:
 * ng_run/ng_start return -EINVAL (-ENOMEM when hwloc_topology_init fails)
 * after one line.  NUMAGO_FAULT=hwloc fails hwloc_topology_init (hwloc@1:
 * hwloc_topology_load), for tests.
 *
 * All queries answer about the running runtime: -ESRCH when none runs,
 * -EINVAL for a P or node out of range. */
#ifndef NUMAGO_TOPOLOGY_H
#define NUMAGO_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* How far apart two Ps are: the closest level of the hierarchy they share. */
enum ng_dist_class {
	NG_DIST_SELF = 0,    /* the same PU (more Ps than PUs) */
	NG_DIST_CORE = 1,    /* SMT siblings of one core */
	NG_DIST_L2 = 2,      /* share an L2 cache */
	NG_DIST_L3 = 3,      /* share an L3 cache (a CCX, a die) */
	NG_DIST_NODE = 4,    /* share a NUMA node */
	NG_DIST_PACKAGE = 5, /* share a package, not a NUMA node */
	NG_DIST_REMOTE = 6,  /* different packages */
	NG_DIST_NCLASSES = 7
};

int ng_topo_nnodes(void);        /* NUMA nodes (>= 1) */
int ng_topo_npus(void);          /* PUs the Ps run on (the allowed set) */
int ng_topo_is_fake(void);       /* 1: synthetic or XML topology (nothing is bound) */
int ng_topo_locality(void);      /* 1: topological victim order and binding; 0: blind */
int ng_topo_proc_node(int proc); /* logical index of P's NUMA node */
/* OS indexes of the PUs P runs on, ascending; returns how many there are
 * (only the first max are written). */
int ng_topo_proc_pus(int proc, int *pus, int max);
int ng_topo_distance(int p, int q); /* enum ng_dist_class */
/* Relative latency between NUMA nodes from the machine's (or XML's) distance
 * matrix, 10 = local as in ACPI SLIT; 0 when there is no matrix. */
int ng_topo_node_distance(int a, int b);
/* P's victim order: the other Ps, non-decreasing in distance (class, then
 * node latency).  Stealing starts at a random point within each class.
 * Returns how many (nprocs - 1); only the first max are written. */
int ng_topo_victims(int proc, int *out, int max);
/* The PUs the M running P was bound to, or on a fake topology would have
 * been: count (0 while no M has run P, or with bind = 0 or blind mode). */
int ng_topo_binding(int proc, int *pus, int max);

/* Memory bound to a NUMA node (page-aligned, zeroed).  On a fake topology
 * it is ordinary memory and the request is only recorded.  NULL with errno
 * set on failure (EINVAL: bad node or size). */
void *ng_topo_alloc_onnode(size_t size, int node);
void ng_topo_free(void *p, size_t size);
/* Census of node-bound allocations the runtime and the program asked for
 * on `node` since the runtime started (P structures, stack slabs, per-P
 * pools, ng_topo_alloc_onnode). */
int ng_topo_node_allocs(int node, uint64_t *count, uint64_t *bytes);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
