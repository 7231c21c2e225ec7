/* perf/slice.c — the adaptive time slice.
 *
 * ng_config.time_slice (10 ms by default) is the base.  With hardware
 * counters sysmon adapts it per P, from the phase (perf/spin.c) of the
 * latest reading of the P's M:
 *   - work waits (the P's queue or the global queue is not empty) behind a
 *     memory-bound, low-IPC goroutine: half the base, so the waiting work
 *     gets the P sooner from code that makes little progress per cycle;
 *   - nothing waits and the goroutine computes at high IPC: twice the base,
 *     so a compute kernel is interrupted half as often (each preemption
 *     costs it caches and a trip through the scheduler);
 *   - otherwise, and whenever the phase is unknown (no hardware counters,
 *     as on these VMs): the base, exactly as without counters.
 * Never below NG_TIME_SLICE_MIN_NS. */
#include "../core/internal.h"

int64_t ng_slice_for(int64_t base, int phase, bool waiting)
{
	int64_t s = base;
	if (waiting && phase == NG_PHASE_MEMORY)
		s = base / 2;
	else if (!waiting && phase == NG_PHASE_COMPUTE)
		s = base * 2;
	return s < NG_TIME_SLICE_MIN_NS ? NG_TIME_SLICE_MIN_NS : s;
}
