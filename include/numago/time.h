/* numago — time: CLOCK_MONOTONIC nanoseconds, sleeps, timers.
 *
 * Timers live in per-P heaps that the scheduler checks between goroutines
 * and idle Ps steal from; a goroutine that sleeps parks, a foreign thread
 * that sleeps blocks. */
#ifndef NUMAGO_TIME_H
#define NUMAGO_TIME_H

#include <stdint.h>

#include <numago/chan.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

int64_t ng_now(void);                 /* CLOCK_MONOTONIC, ns */
int ng_sleep(int64_t ns);             /* 0; ns <= 0 returns at once (a goroutine yields) */
int ng_sleep_until(int64_t deadline); /* 0; NG_FOREVER sleeps forever */
/* A cap-1 channel of int64_t that receives the fire time (ng_now()) once,
 * ns from now.  The caller owns the reference and releases it; releasing
 * before it fires is fine. NULL + errno on failure. */
ng_chan *ng_after(int64_t ns);

typedef struct ng_timer ng_timer;
/* Fire first_ns from now, then every period_ns (0: once).  Each firing
 * tries to send its time on the cap-1 channel *out and drops the tick if
 * the channel is full (Go's Ticker).  *out is the caller's reference. */
ng_timer *ng_timer_start(int64_t first_ns, int64_t period_ns, ng_chan **out);
/* Stop and free the timer: after it returns nothing more is sent.  0, or
 * -EINVAL for NULL. */
int ng_timer_stop(ng_timer *t);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
