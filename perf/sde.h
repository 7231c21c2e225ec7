/* perf/sde.h — runtime statistics as PAPI Software Defined Events (libsde).
 * Private to the library; without NG_HAVE_SDE both calls are no-ops. */
#ifndef NG_PERF_SDE_H
#define NG_PERF_SDE_H

#if NG_HAVE_SDE
/* boot(), once the scheduler exists: registers the events with libsde the
 * first time (they stay registered for the life of the process) and lets
 * reads see the live statistics. */
void ng_sde_start(void);
/* shutdown_runtime(), before the scheduler goes: keeps the last values for
 * reads until the next boot. */
void ng_sde_stop(void);
#else
static inline void ng_sde_start(void)
{
}
static inline void ng_sde_stop(void)
{
}
#endif

#endif
