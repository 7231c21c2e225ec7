/* topology/topo.c — how many Ps and in which order they steal.
 *
 * This is the scheduler-facing part of the topology module: the number of Ps
 * from the allowed cpuset, and each P's victim order.  Until the hwloc
 * discovery lands, every other P is at the same distance: the order is
 * simply the others by id, and steal_work starts at a random point in it, so
 * victims are uniformly random per steal. */
#define _GNU_SOURCE
#include "../core/internal.h"

#include <sched.h>
#include <unistd.h>

int ng_topo_default_procs(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

void ng_topo_victim_order(int id, int nprocs, int *out)
{
	int k = 0;
	for (int i = 1; i < nprocs; i++)
		out[k++] = (id + i) % nprocs;
}
