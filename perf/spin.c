/* perf/spin.c — how long an idle M spins before it parks.
 *
 * Spinning is a bet (the ski-rental problem): work that arrives while an M
 * spins is picked up at once; work that arrives after it parked costs a
 * wake, which here is a futex wake and the time the kernel takes to run the
 * thread again.  Spinning exactly as long as that wake costs never wastes
 * more than twice what the better of "always spin" and "always park" would
 * have, whatever the arrival pattern.  So the budget is learned from the
 * wakes themselves: startm stamps the time it wakes a parked M, the M
 * measures how long it took to be running again, and the budget follows an
 * average of those (weight 1/8), clamped to [NG_SPIN_MIN_NS, NG_SPIN_MAX_NS].
 * A sample above NG_SPIN_SAMPLE_MAX_NS is a thread that lost its CPU, not
 * the cost of a wake, and is cut to that bound.
 *
 * No spinning at all when the Ps outnumber the CPUs the process may use: a
 * spinner would then take the CPU from the M that has the work.
 * NUMAGO_DEBUG=spin=NS fixes the budget (0: always park). */
#include "../core/internal.h"

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
	int64_t budget = fixed >= 0 ? fixed : NG_SPIN_INITIAL_NS;
	atomic_store_explicit(&S.spin_ns, no_spin ? 0 : budget, memory_order_relaxed);
}

void ng_spin_wake_sample_locked(int64_t ns)
{
	if (fixed_ns >= 0 || no_spin || ns < 0)
		return;
	if (ns > NG_SPIN_SAMPLE_MAX_NS)
		ns = NG_SPIN_SAMPLE_MAX_NS;
	wake_avg = wake_avg == 0 ? ns : wake_avg + (ns - wake_avg) / 8;
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
