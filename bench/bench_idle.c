/* bench_idle — CPU time an idle process uses: N goroutines parked on a
 * channel, one timer pending an hour ahead, and the main goroutine asleep
 * for one second.  Prints user+sys microseconds spent during that second,
 * with Go's figure for the same program (bench/go/idle) from the same run.
 * sysmon backs off to 10 ms ticks and sleeps while every P is idle; the
 * idle Ms sleep on futexes; one M sleeps until the earliest timer. */
#define _GNU_SOURCE
#include "peer.h"

#include <numago.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int64_t cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
	       (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
}

static long n_goroutines = 1000;
static int64_t used_us;

static void parked(void *arg)
{
	int v;
	ng_chan_recv(arg, &v); /* until released: closed */
}

static int idle_main(void *arg)
{
	(void)arg;
	ng_chan *release = ng_chan_make(sizeof(int), 0);
	if (release == NULL)
		return 1;
	for (long i = 0; i < n_goroutines; i++)
		if (ng_go(parked, release) != 0)
			return 1;
	ng_chan *tick = NULL;
	ng_timer *t = ng_timer_start(ng_now() + 3600 * 1000000000LL, 0, &tick);
	if (t == NULL)
		return 1;
	ng_sleep(100 * 1000000LL); /* spinning Ms settle */
	int64_t before = cpu_us();
	ng_sleep(1000000000LL);
	used_us = cpu_us() - before;
	ng_timer_stop(t);
	ng_chan_close(release);
	return 0;
}

static int64_t go_idle(long n)
{
	return (int64_t)peer_go_program(NUMAGO_SOURCE_DIR, "idle", n);
}

int main(int argc, char **argv)
{
	int no_peer = 0, json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			printf(
			    "bench_idle: CPU time (user+sys) used over one second of idling with N "
			    "parked goroutines and a pending timer; Go's figure from the same "
			    "run.\noptions: --n N  --no-peer  --json\n");
			return 0;
		} else if (strcmp(argv[i], "--no-peer") == 0) {
			no_peer = 1;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
			n_goroutines = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "bench_idle: unknown option %s (--help)\n", argv[i]);
			return 2;
		}
	}
	if (ng_run(NULL, idle_main, NULL) != 0) {
		fprintf(stderr, "bench_idle: the numago run failed\n");
		return 1;
	}
	int64_t go = no_peer ? -1 : go_idle(n_goroutines);
	if (json) {
		printf("{\"name\":\"IdleCPU\",\"goroutines\":%ld,\"cpu_us_per_s\":%lld,"
		       "\"peer\":\"go\",\"peer_cpu_us_per_s\":%lld}\n",
		       n_goroutines, (long long)used_us, (long long)go);
		return 0;
	}
	printf("\nbenchmark                 numago (CPU us per idle second)       Go\n");
	if (go >= 0)
		printf("IdleCPU/%-6ld            %8lld                          %8lld\n",
		       n_goroutines, (long long)used_us, (long long)go);
	else
		printf("IdleCPU/%-6ld            %8lld                               n/a\n",
		       n_goroutines, (long long)used_us);
	return 0;
}
