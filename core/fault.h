/* core/fault.h — fault injection (NUMAGO_FAULT), for tests of the error
 * paths that real machines rarely take: a failing mmap, thread creation,
 * hwloc/PAPI/OpenCL initialisation, OpenCL command or an EINTR storm.
 *
 * NUMAGO_FAULT=site[@skip][xcount][%percent][,site...]
 *   site     mmap | thread | hwloc | papi | cl_init | cl_cmd | eintr
 *   @skip    let the first `skip` calls at the site succeed (default 0)
 *   xcount   then fail `count` of them (default: all that follow)
 *   %percent fail each eligible call with this probability instead
 *            (a fixed-seed generator: the same run fails the same calls)
 * e.g. NUMAGO_FAULT=mmap@100x5 fails the 101st..105th stack mappings;
 * NUMAGO_FAULT=eintr%20 makes a fifth of the interruptible waits return
 * EINTR.  Read at boot (ng_run/ng_start) and by ng_fault_set (tests).
 *
 * A disarmed site costs one relaxed load of a global that no hot path
 * writes. */
#ifndef NG_FAULT_H
#define NG_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum ng_fault_site {
	NG_FAULT_MMAP,    /* stack and slab mappings: -ENOMEM to the spawner */
	NG_FAULT_THREAD,  /* pthread_create of an M (or a helper thread) */
	NG_FAULT_HWLOC,   /* hwloc topology init/load */
	NG_FAULT_PAPI,    /* PAPI_library_init */
	NG_FAULT_CL_INIT, /* OpenCL platform discovery */
	NG_FAULT_CL_CMD,  /* an OpenCL enqueue (the command fails) */
	NG_FAULT_EINTR,   /* interruptible waits (futex, epoll_wait, read/write) */
	NG_FAULT_NSITES
};

extern _Atomic int ng_fault_armed; /* any site armed */

bool ng_fault_slow(int site);

/* Should this call at `site` fail?  Counts the call when the site is
 * armed. */
static inline bool ng_fault(int site)
{
	return __builtin_expect(atomic_load_explicit(&ng_fault_armed, memory_order_relaxed), 0) &&
	       ng_fault_slow(site);
}

/* Arm the sites a NUMAGO_FAULT-style spec names, disarming the others (NULL
 * or "": disarm all).  -EINVAL (and a line on stderr) for a spec that does
 * not parse; what was armed stays armed. */
int ng_fault_set(const char *spec);
/* NUMAGO_FAULT, at boot. */
void ng_fault_init(void);
/* How many calls the site has failed since it was armed. */
uint64_t ng_fault_count(int site);
const char *ng_fault_site_name(int site);

#endif
