/* topology/cgroup.h — the CPU quota of the process's cgroup (private). */
#ifndef NG_TOPOLOGY_CGROUP_H
#define NG_TOPOLOGY_CGROUP_H

/* CPUs the process's cgroup CPU quota allows: max(ceil(quota/period), 2);
 * 0 if there is no limit ("max", no cpu controller, files missing or unreadable,
 * not in a cgroup); -EINVAL if a file is malformed.  root: a directory that stands
 * for "/" (tests pass a fixture tree); NULL means the real "/". */
int ng_topo_cgroup_cpus(const char *root);

#endif
