/* The counter-driven policies (perf/spin.c, perf/slice.c), deterministic:
 * recorded sample traces go through the replay counter source
 * (NUMAGO_COUNTERS=replay:FILE, read back with ng_counters_read), and the
 * deltas between readings drive the policies' decisions.
 *
 *  compute-bound   IPC 2.5: the phase is compute; the spin budget and the
 *                  spinner rule stay; the slice doubles when nothing waits
 *                  and stays when work waits.
 *  memory-bound    IPC 0.3 and 60% memory stalls: a quarter of the spin
 *                  budget, half as many spinners, victims on other NUMA
 *                  nodes only on a thief's last pass, half the slice when
 *                  work waits.
 *  bursty          compute and memory windows alternate: every decision
 *                  follows the window it was read in.
 *  oversubscribed  more Ps than CPUs: no spinning whatever the phase.
 *  neutral         software-tier samples (no cycles or instructions): the
 *                  phase is unknown and every decision equals the
 *                  no-counter tier's (NUMAGO_COUNTERS=none).
 *  live            1 P, base slice 100 ms, a memory-bound replay: a
 *                  goroutine waiting behind a spinning one runs after about
 *                  half the base; with no counters after the whole base. */
#define _GNU_SOURCE
#include "ng_test.h"

#include "core/internal.h"

#include <numago/perf.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

#define STEP_CYCLES 1000000ULL /* per sample */

typedef struct window {
	int n;            /* samples */
	unsigned ipc_x10; /* instructions per cycle x 10 */
	unsigned stall_pct;
	unsigned valid; /* NG_CTR_* */
} window;

/* Write cumulative samples for the windows; returns the file's path. */
static char *write_trace(const window *w, int nw)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/ng_policy_XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	FILE *f = fdopen(fd, "w");
	CHECK(f != NULL);
	fprintf(f,
	        "# cycles instructions mem_stall task_clock_ns ctx_switches thread_cpu_ns valid\n");
	uint64_t cyc = 0, ins = 0, stall = 0, clk = 0;
	for (int k = 0; k < nw; k++)
		for (int i = 0; i < w[k].n; i++) {
			cyc += STEP_CYCLES;
			ins += STEP_CYCLES * w[k].ipc_x10 / 10;
			stall += STEP_CYCLES * w[k].stall_pct / 100;
			clk += 100000;
			fprintf(f, "%llu %llu %llu %llu %d %llu %u\n", (unsigned long long)cyc,
			        (unsigned long long)ins, (unsigned long long)stall,
			        (unsigned long long)clk, 0, (unsigned long long)clk, w[k].valid);
		}
	CHECK_EQ(fclose(f), 0);
	return path;
}

static ng_counter_sample delta_of(const ng_counter_sample *a, const ng_counter_sample *b)
{
	ng_counter_sample d = {0};
	d.cycles = b->cycles - a->cycles;
	d.instructions = b->instructions - a->instructions;
	d.mem_stall = b->mem_stall - a->mem_stall;
	d.task_clock_ns = b->task_clock_ns - a->task_clock_ns;
	d.thread_cpu_ns = b->thread_cpu_ns - a->thread_cpu_ns;
	d.valid = a->valid & b->valid;
	return d;
}

#define BASE_SLICE (10 * MS)
#define BUDGET     (80 * 1000LL)

/* The decisions a phase must give (the no-counter tier's when unknown). */
static void check_decisions(int phase)
{
	switch (phase) {
	case NG_PHASE_COMPUTE:
	case NG_PHASE_MIXED:
	case NG_PHASE_UNKNOWN:
		CHECK_EQ(ng_spin_budget_modulated(BUDGET, phase), BUDGET);
		for (int busy = 0; busy <= 8; busy++)
			for (int sp = 0; sp <= 4; sp++)
				CHECK_EQ(ng_spin_may_spin(sp, busy, phase), 2 * sp < busy);
		break;
	case NG_PHASE_MEMORY:
		CHECK_EQ(ng_spin_budget_modulated(BUDGET, phase), BUDGET / 4);
		for (int busy = 0; busy <= 8; busy++)
			for (int sp = 0; sp <= 4; sp++)
				CHECK_EQ(ng_spin_may_spin(sp, busy, phase), 4 * sp < busy);
		break;
	default:
		CHECK(!"bad phase");
	}
	/* other nodes' victims: memory-bound phases look there only on the
	 * last pass */
	CHECK(ng_steal_remote_ok(phase, true));
	CHECK_EQ(ng_steal_remote_ok(phase, false), phase != NG_PHASE_MEMORY);
	int64_t waiting = ng_slice_for(BASE_SLICE, phase, true);
	int64_t alone = ng_slice_for(BASE_SLICE, phase, false);
	CHECK_EQ(waiting, phase == NG_PHASE_MEMORY ? BASE_SLICE / 2 : BASE_SLICE);
	CHECK_EQ(alone, phase == NG_PHASE_COMPUTE ? BASE_SLICE * 2 : BASE_SLICE);
}

/* Read `n` deltas through the replay source; phases[i] must be want[i]. */
static int replay_main(void *arg)
{
	const int *want = arg;
	ng_counter_sample prev, cur;
	CHECK_EQ(ng_counters_read(&prev), 0);
	for (int i = 0; want[i] >= 0; i++) {
		CHECK_EQ(ng_counters_read(&cur), 0);
		ng_counter_sample d = delta_of(&prev, &cur);
		int phase = ng_ctr_phase(&d);
		if (phase != want[i])
			fprintf(stderr, "delta %d: phase %d, want %d\n", i, phase, want[i]);
		CHECK_EQ(phase, want[i]);
		check_decisions(phase);
		prev = cur;
	}
	return 0;
}

#define NRECORD 12
static int recorded[NRECORD];

/* Record the phases of NRECORD consecutive deltas. */
static int record_main(void *arg)
{
	(void)arg;
	ng_counter_sample prev, cur;
	CHECK_EQ(ng_counters_read(&prev), 0);
	for (int i = 0; i < NRECORD; i++) {
		CHECK_EQ(ng_counters_read(&cur), 0);
		ng_counter_sample d = delta_of(&prev, &cur);
		recorded[i] = ng_ctr_phase(&d);
		prev = cur;
	}
	return 0;
}

/* Run the windows through the replay source: the phase of each delta must
 * be want[i] (-1 ends). */
static void run_trace(const char *name, const window *w, int nw, const int *want)
{
	char *path = write_trace(w, nw);
	char env[128];
	snprintf(env, sizeof env, "replay:%s", path);
	CHECK_EQ(setenv("NUMAGO_COUNTERS", env, 1), 0);
	ng_config cfg = {0};
	cfg.procs = 1;
	CHECK_EQ(ng_run(&cfg, replay_main, (void *)want), 0);
	CHECK_EQ(unsetenv("NUMAGO_COUNTERS"), 0);
	unlink(path);
	printf("%s: decisions follow the phases\n", name);
}

/* ---- live: the slice a waiting goroutine sees ---- */

static _Atomic int b_ran;
static _Atomic int64_t a_started, b_at;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void spinner(void *arg)
{
	(void)arg;
	volatile uint64_t x = 0;
	for (uint64_t i = 0; !atomic_load_explicit(&b_ran, memory_order_relaxed); i++) {
		x += i;
#if NG_TEST_TSAN
		/* TSan delivers the preemption signal only in its interceptors */
		if ((i & 0x3ff) == 0) {
			void *volatile p = malloc(16);
			free(p);
		}
#endif
	}
}

static void waiter(void *arg)
{
	atomic_store(&b_at, now_ns());
	atomic_store(&b_ran, 1);
	CHECK_EQ(ng_chan_send(arg, NULL), 0);
}

static int live_main(void *arg)
{
	int *phase_out = arg;
	/* let the M look for work a few times: it reads the counters then */
	for (int i = 0; i < 5; i++)
		ng_sleep(1 * MS);
	/* Back from the sleep: a new slice, which the spinner inherits
	 * through runnext.  Timed from here, not from the spinner's start:
	 * under TSan the two spawns took 20 ms of the slice. */
	atomic_store(&a_started, now_ns());
	*phase_out = atomic_load(&ng_sched_g.allp[0]->phase);
	ng_chan *done = ng_chan_make(0, 0);
	CHECK(done != NULL);
	atomic_store(&b_ran, 0);
	CHECK_EQ(ng_go(waiter, done), 0);  /* queued */
	CHECK_EQ(ng_go(spinner, NULL), 0); /* runnext: runs first */
	CHECK_EQ(ng_chan_recv(done, NULL), 0);
	ng_chan_release(done);
	return 0;
}

/* ms the waiter waited behind the spinner. */
static double live_wait(const char *counters, int *phase)
{
	if (counters != NULL)
		CHECK_EQ(setenv("NUMAGO_COUNTERS", counters, 1), 0);
	ng_config cfg = {0};
	cfg.procs = 1;
	cfg.time_slice = 100 * MS;
	CHECK_EQ(ng_run(&cfg, live_main, phase), 0);
	CHECK_EQ(unsetenv("NUMAGO_COUNTERS"), 0);
	return (double)(atomic_load(&b_at) - atomic_load(&a_started)) / 1e6;
}

int main(void)
{
	const unsigned hw = NG_CTR_CYCLES | NG_CTR_INSTRUCTIONS | NG_CTR_MEM_STALL |
	                    NG_CTR_TASK_CLOCK | NG_CTR_THREAD_CPU;
	const unsigned sw = NG_CTR_TASK_CLOCK | NG_CTR_THREAD_CPU;

	/* the classification itself */
	ng_counter_sample d = {.cycles = 1000, .instructions = 2500, .valid = hw};
	CHECK_EQ(ng_ctr_phase(&d), NG_PHASE_COMPUTE);
	d.instructions = 1000;
	CHECK_EQ(ng_ctr_phase(&d), NG_PHASE_MIXED);
	d.mem_stall = 500; /* half the cycles stalled */
	CHECK_EQ(ng_ctr_phase(&d), NG_PHASE_MEMORY);
	d.mem_stall = 0;
	d.instructions = 300;
	CHECK_EQ(ng_ctr_phase(&d), NG_PHASE_MEMORY);
	d.valid = sw;
	CHECK_EQ(ng_ctr_phase(&d), NG_PHASE_UNKNOWN);
	d.valid = hw;
	d.cycles = 0;
	CHECK_EQ(ng_ctr_phase(&d), NG_PHASE_UNKNOWN);
	CHECK_EQ(ng_ctr_phase(NULL), NG_PHASE_UNKNOWN);

	/* Uniform traces: every delta main reads has the trace's phase (the
	 * M's own readings only move main's start). */
	static const window compute[] = {{200, 25, 5, hw}};
	static const int compute_want[] = {NG_PHASE_COMPUTE, NG_PHASE_COMPUTE, NG_PHASE_COMPUTE,
	                                   NG_PHASE_COMPUTE, -1};
	run_trace("compute-bound", compute, 1, compute_want);

	static const window memory[] = {{200, 3, 60, hw}};
	static const int memory_want[] = {NG_PHASE_MEMORY, NG_PHASE_MEMORY, NG_PHASE_MEMORY, -1};
	run_trace("memory-bound", memory, 1, memory_want);

	/* bursty: windows of 3 samples.  The delta between two readings is
	 * the later sample's increment, so its phase is that sample's window
	 * exactly; the M may take the first sample or two itself (it reads
	 * when it looks for work), so main's readings start at an offset. */
	{
		static const window bursty[] = {{3, 25, 0, hw}, {3, 3, 60, hw}, {3, 25, 0, hw},
		                                {3, 3, 60, hw}, {3, 25, 0, hw}, {3, 3, 60, hw}};
		int per_sample[18];
		for (int i = 0; i < 18; i++)
			per_sample[i] = (i / 3) % 2 == 0 ? NG_PHASE_COMPUTE : NG_PHASE_MEMORY;
		char *path = write_trace(bursty, 6);
		char env[128];
		snprintf(env, sizeof env, "replay:%s", path);
		CHECK_EQ(setenv("NUMAGO_COUNTERS", env, 1), 0);
		ng_config cfg = {0};
		cfg.procs = 1;
		CHECK_EQ(ng_run(&cfg, record_main, NULL), 0);
		CHECK_EQ(unsetenv("NUMAGO_COUNTERS"), 0);
		unlink(path);
		/* main's first reading is sample s, its deltas s+1 .. s+12 */
		int match = -1;
		for (int off = 0; off <= 4 && match < 0; off++) {
			bool ok = true;
			for (int j = 0; j < NRECORD && ok; j++)
				ok = recorded[j] == per_sample[off + 1 + j];
			if (ok)
				match = off;
		}
		CHECK(match >= 0);
		int changes = 0;
		for (int j = 1; j < NRECORD; j++)
			changes += recorded[j] != recorded[j - 1];
		CHECK(changes >= 3);
		for (int j = 0; j < NRECORD; j++)
			check_decisions(recorded[j]);
		printf("bursty: %d phase changes in %d readings, decisions follow each\n", changes,
		       NRECORD);
	}

	/* oversubscribed: no spinning whatever the phase or the wakes */
	ng_spin_init(4, 2, -1);
	for (int phase = NG_PHASE_UNKNOWN; phase <= NG_PHASE_MEMORY; phase++)
		CHECK_EQ(ng_spin_budget_modulated(atomic_load(&ng_sched_g.spin_ns), phase), 0);
	pthread_mutex_lock(&ng_sched_g.lock);
	ng_spin_wake_sample_locked(100000);
	pthread_mutex_unlock(&ng_sched_g.lock);
	CHECK_EQ(atomic_load(&ng_sched_g.spin_ns), 0);
	printf("oversubscribed: spin budget 0 in every phase\n");

	static const window neutral[] = {{200, 25, 60, sw}};
	static const int neutral_want[] = {NG_PHASE_UNKNOWN, NG_PHASE_UNKNOWN, NG_PHASE_UNKNOWN,
	                                   -1};
	run_trace("neutral (software tier)", neutral, 1, neutral_want);

	/* live */
	char *path = write_trace((const window[]){{20000, 3, 60, hw}}, 1);
	char env[128];
	snprintf(env, sizeof env, "replay:%s", path);
	int phase_mem = -1, phase_none = -1;
	double mem_ms = live_wait(env, &phase_mem);
	double none_ms = live_wait("none", &phase_none);
	unlink(path);
	printf("live, base slice 100 ms: a goroutine waiting behind a spinner ran after %.1f ms "
	       "with a memory-bound replay (phase %d), %.1f ms without counters (phase %d)\n",
	       mem_ms, phase_mem, none_ms, phase_none);
	CHECK_EQ(phase_mem, NG_PHASE_MEMORY);
	CHECK_EQ(phase_none, NG_PHASE_UNKNOWN);
	CHECK(mem_ms >= 40 && mem_ms < 80);
	CHECK(none_ms >= 90);
	printf("ok\n");
	return 0;
}
