/* perf/spin.c — how long an idle M spins before it parks.
 *
 * Spinning is a bet (the ski-rental problem): work that arrives while an M
 * spins is picked up at once; work that arrives after it parked costs a
 * wake, which here is a futex wake and the time the kernel takes to run the
 * thread again.  Spinning exactly as long as that wake costs never wastes
 * more than twice what the better of "always spin" and "always park" would
 * have, whatever the arrival pattern.  So the budget is learned from the
 * wakes themselves: startm stamps the time it wakes a parked M, the M
 * measures how long it took to be running again, and the budget follows the
 * lower quartile of those (a running estimate), clamped to [NG_SPIN_MIN_NS,
 * NG_SPIN_MAX_NS].
 * A sample above NG_SPIN_SAMPLE_MAX_NS is a thread that lost its CPU, not
 * the cost of a wake, and is cut to that bound.
 *
 * No spinning at all when the Ps outnumber the CPUs the process may use: a
 * spinner would then take the CPU from the M that has the work.
 * NUMAGO_DEBUG=spin=NS fixes the budget (0: always park). */
#include "../core/internal.h"

#include <numago/perf.h>

#define S ng_sched_g

static int64_t wake_avg; /* ns; 0 until the first sample; sched.lock */
static int64_t fixed_ns; /* NUMAGO_DEBUG=spin, -1: learn */
static bool no_spin;     /* oversubscribed */
static _Atomic uint64_t samples;

int64_t ng_spin_budget_for(int64_t avg_wake_ns)
{
	if (avg_wake_ns < NG_SPIN_MIN_NS)
		return NG_SPIN_MIN_NS;
	if (avg_wake_ns > NG_SPIN_MAX_NS)
		return NG_SPIN_MAX_NS;
	return avg_wake_ns;
}

void ng_spin_init(int procs, int usable_cpus, int64_t fixed)
{
	wake_avg = 0;
	atomic_store(&samples, 0);
	fixed_ns = fixed;
	no_spin = procs > usable_cpus;
	atomic_store_explicit(&ng_phase_now, NG_PHASE_UNKNOWN, memory_order_relaxed);
	int64_t budget = fixed >= 0 ? fixed : NG_SPIN_INITIAL_NS;
	atomic_store_explicit(&S.spin_ns, no_spin ? 0 : budget, memory_order_relaxed);
}

void ng_spin_wake_sample_locked(int64_t ns)
{
	if (fixed_ns >= 0 || no_spin || ns < 0)
		return;
	if (ns > NG_SPIN_SAMPLE_MAX_NS)
		ns = NG_SPIN_SAMPLE_MAX_NS;
	/* A lower quartile, not the mean: a woken M that must wait for a CPU
	 * (both busy) measures the OS's time slice, not what a wake costs, and
	 * spinning then only takes more CPU.  Steps of 1/32 of the estimate,
	 * up on a longer sample and three times that down on a shorter one,
	 * settle where a quarter of the samples lie below. */
	if (wake_avg == 0) {
		wake_avg = ns;
	} else {
		int64_t step = wake_avg / 32 > 100 ? wake_avg / 32 : 100;
		wake_avg += ns > wake_avg ? step : -3 * step;
		if (wake_avg < 100)
			wake_avg = 100;
	}
	atomic_fetch_add_explicit(&samples, 1, memory_order_relaxed);
	atomic_store_explicit(&S.spin_ns, ng_spin_budget_for(wake_avg), memory_order_relaxed);
}

int64_t ng_spin_wake_avg(uint64_t *nsamples)
{
	if (nsamples != NULL)
		*nsamples = atomic_load_explicit(&samples, memory_order_relaxed);
	pthread_mutex_lock(&S.lock);
	int64_t a = wake_avg;
	pthread_mutex_unlock(&S.lock);
	return a;
}

/* ---------------------------------------------------- counter phases --- */

/* What a counter reading says about the code that ran: compute-bound (high
 * IPC), memory-bound (low IPC, or stalled on memory a large part of its
 * cycles), in between, or unknown (no cycle and instruction counts: the
 * software and none tiers).  Unknown must leave every policy exactly as
 * without counters. */
int ng_ctr_phase(const ng_counter_sample *delta)
{
	const uint32_t need = NG_CTR_CYCLES | NG_CTR_INSTRUCTIONS;
	if (delta == NULL || (delta->valid & need) != need || delta->cycles == 0)
		return NG_PHASE_UNKNOWN;
	uint64_t ipc_milli = delta->instructions * 1000 / delta->cycles;
	bool stalled = (delta->valid & NG_CTR_MEM_STALL) &&
	               delta->mem_stall * 1000 / delta->cycles >= NG_PHASE_STALL_MILLI;
	if (ipc_milli < NG_PHASE_MEMORY_IPC_MILLI || stalled)
		return NG_PHASE_MEMORY;
	if (ipc_milli >= NG_PHASE_COMPUTE_IPC_MILLI)
		return NG_PHASE_COMPUTE;
	return NG_PHASE_MIXED;
}

/* The phase the latest counter reading of any M showed (Ms publish it when
 * they read, perf/counters.c); spinning follows it. */
_Atomic int ng_phase_now = NG_PHASE_UNKNOWN;

/* Memory-bound phases spin a quarter as long: a spinner's polling of the
 * victims' queues costs the memory bandwidth the busy Ps are short of. */
int64_t ng_spin_budget_modulated(int64_t budget, int phase)
{
	return phase == NG_PHASE_MEMORY ? budget / 4 : budget;
}

/* May a thief look at victims on other NUMA nodes now?  In memory-bound
 * phases only on its last pass (the one that also takes runnext): moving a
 * goroutine away from the node that holds its data costs the remote
 * bandwidth such phases lack, so nearer victims get every earlier look. */
bool ng_steal_remote_ok(int phase, bool last_pass)
{
	return phase != NG_PHASE_MEMORY || last_pass;
}

/* May one more M spin, with `spinning` spinning and `busy` Ps busy?  Go's
 * rule is 2 * spinning < busy; memory-bound phases allow half as many. */
bool ng_spin_may_spin(int spinning, int busy, int phase)
{
	return (phase == NG_PHASE_MEMORY ? 4 : 2) * spinning < busy;
}
