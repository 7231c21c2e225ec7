/* numago — Go-style concurrency for C on HPC nodes.
 * #include <numago.h> brings in the whole public API. */
#ifndef NUMAGO_H
#define NUMAGO_H

#include <numago/runtime.h>
#include <numago/chan.h>
#include <numago/time.h>
#include <numago/sync.h>
#include <numago/context.h>
#include <numago/io.h>
#include <numago/perf.h>
#include <numago/topology.h>

#endif
