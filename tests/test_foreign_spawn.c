/* Threads the runtime did not create (plain pthreads) spawn goroutines and
 * wait for them.
 *
 *  1. Embedding (ng_start / ng_stop): the caller stays a foreign thread:
 *     ng_id() == 0, ng_self_proc() == -1.  Four pthreads each spawn 5,000
 *     goroutines (each of which spawns one more from inside the runtime)
 *     and wait for them with ng_waitgroup_wait; every goroutine ran exactly
 *     once on a real P with a real id.
 *  2. ng_stop waits for work still in flight: goroutines spawned just
 *     before it, that yield many times, have all finished when it returns 0.
 *     Afterwards ng_go is -ESRCH, ng_procs() is 0 and a second ng_stop is
 *     -ESRCH; the runtime can be started again.
 *  3. Inside an ng_run program (in a child process, 20 runs): main starts a
 *     pthread that spawns goroutines, waits for them as a foreign thread
 *     and reports back to main through a waitgroup that main waits on.
 *     While the thread is being woken from its wait, main is parked and no
 *     goroutine runs: that is not a deadlock (the thread is about to call
 *     ng_waitgroup_done), and ng_run must return main's result.
 *  4. Also in the child: main parks at once while a pthread it created
 *     calls ng_go only 50 ms later.  The runtime cannot know yet that the
 *     thread will call it, so it must not declare a deadlock while threads
 *     it does not know about exist; the goroutine that thread spawns wakes
 *     main.
 */
#define _GNU_SOURCE
#include "ng_child.h"
#include "ng_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define THREADS    4
#define PER_THREAD NG_TEST_SCALE(5000, 800)

static _Atomic uint8_t ran[THREADS][PER_THREAD];
static _Atomic uint8_t ran_child[THREADS][PER_THREAD];
static _Atomic int bad_context;
static int nprocs_expected;

typedef struct job {
	int thread;
	ng_waitgroup wg;
	int spawn_errors;
	int wait_rc;
	uint64_t id_seen;
	int proc_seen;
	int procs_seen;
} job;

static void check_goroutine_context(void)
{
	int p = ng_self_proc();
	if (ng_id() == 0 || p < 0 || p >= nprocs_expected)
		atomic_store(&bad_context, 1);
}

typedef struct slot {
	job *j;
	int i;
} slot;

static void leaf_child(void *arg)
{
	slot *s = arg;
	check_goroutine_context();
	atomic_fetch_add(&ran_child[s->j->thread][s->i], 1);
	ng_waitgroup_done(&s->j->wg);
}

static void leaf(void *arg)
{
	slot *s = arg;
	check_goroutine_context();
	atomic_fetch_add(&ran[s->j->thread][s->i], 1);
	/* spawn from inside the runtime too: the arg copy keeps s alive */
	if (ng_go_copy(leaf_child, s, sizeof *s) != 0)
		atomic_store(&bad_context, 2);
	ng_waitgroup_done(&s->j->wg);
}

static void *foreign_thread(void *arg)
{
	job *j = arg;
	j->id_seen = ng_id();
	j->proc_seen = ng_self_proc();
	j->procs_seen = ng_procs();
	CHECK_EQ(ng_waitgroup_add(&j->wg, 2 * PER_THREAD), 0);
	for (int i = 0; i < PER_THREAD; i++) {
		slot s = {j, i};
		if (ng_go_copy(leaf, &s, sizeof s) != 0)
			j->spawn_errors++;
	}
	j->wait_rc = ng_waitgroup_wait(&j->wg);
	/* still foreign after talking to the runtime */
	if (ng_id() != 0 || ng_self_proc() != -1)
		j->id_seen = 999;
	return NULL;
}

static void check_all_ran(void)
{
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			if (atomic_load(&ran[t][i]) != 1 || atomic_load(&ran_child[t][i]) != 1)
				fprintf(stderr,
				        "thread %d goroutine %d ran %d times, its child %d times\n",
				        t, i, atomic_load(&ran[t][i]),
				        atomic_load(&ran_child[t][i]));
			CHECK_EQ(atomic_load(&ran[t][i]), 1);
			CHECK_EQ(atomic_load(&ran_child[t][i]), 1);
		}
}

static void run_threads(void)
{
	memset((void *)ran, 0, sizeof ran);
	memset((void *)ran_child, 0, sizeof ran_child);
	static job jobs[THREADS];
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++) {
		memset(&jobs[t], 0, sizeof jobs[t]);
		jobs[t].thread = t;
		CHECK_EQ(pthread_create(&th[t], NULL, foreign_thread, &jobs[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		CHECK_EQ(pthread_join(th[t], NULL), 0);
		CHECK_EQ(jobs[t].id_seen, 0);
		CHECK_EQ(jobs[t].proc_seen, -1);
		CHECK_EQ(jobs[t].procs_seen, nprocs_expected);
		CHECK_EQ(jobs[t].spawn_errors, 0);
		CHECK_EQ(jobs[t].wait_rc, 0);
	}
	check_all_ran();
	CHECK_EQ(atomic_load(&bad_context), 0);
}

/* ---- 2: ng_stop waits ---- */

#define LATE 1000
static _Atomic int late_done;

static void late(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++)
		ng_yield();
	atomic_fetch_add(&late_done, 1);
}

/* ---- 3: a pthread inside an ng_run program ---- */

static ng_waitgroup thread_done = NG_WAITGROUP_INIT;
static _Atomic int thread_spawned_once;
static job inner_job;

static void *inner_thread(void *arg)
{
	job *j = arg;
	j->id_seen = ng_id();
	j->proc_seen = ng_self_proc();
	j->procs_seen = ng_procs();
	CHECK_EQ(ng_waitgroup_add(&j->wg, 2 * PER_THREAD), 0);
	for (int i = 0; i < PER_THREAD; i++) {
		slot s = {j, i};
		if (ng_go_copy(leaf, &s, sizeof s) != 0)
			j->spawn_errors++;
		if (i == 0)
			atomic_store(&thread_spawned_once, 1);
	}
	j->wait_rc = ng_waitgroup_wait(&j->wg);
	ng_waitgroup_done(&thread_done);
	return NULL;
}

static int run_main(void *arg)
{
	(void)arg;
	memset((void *)ran, 0, sizeof ran);
	memset((void *)ran_child, 0, sizeof ran_child);
	memset(&inner_job, 0, sizeof inner_job);
	atomic_store(&thread_spawned_once, 0);
	CHECK_EQ(ng_waitgroup_add(&thread_done, 1), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, inner_thread, &inner_job), 0);
	/* Wait until the thread has called into the runtime (and so is known
	 * to it) before parking: the case of a thread that is not known yet
	 * is late_thread_main's. */
	while (!atomic_load(&thread_spawned_once))
		ng_yield();
	CHECK_EQ(ng_waitgroup_wait(&thread_done), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(inner_job.id_seen, 0);
	CHECK_EQ(inner_job.proc_seen, -1);
	CHECK_EQ(inner_job.procs_seen, nprocs_expected);
	CHECK_EQ(inner_job.spawn_errors, 0);
	CHECK_EQ(inner_job.wait_rc, 0);
	for (int i = 0; i < PER_THREAD; i++) {
		CHECK_EQ(atomic_load(&ran[0][i]), 1);
		CHECK_EQ(atomic_load(&ran_child[0][i]), 1);
	}
	CHECK_EQ(atomic_load(&bad_context), 0);
	return 17;
}

/* ---- 4: a pthread that first calls into the runtime after main parked ---- */

static ng_waitgroup late_wg = NG_WAITGROUP_INIT;
static _Atomic int late_ran;

static void late_goroutine(void *arg)
{
	(void)arg;
	atomic_store(&late_ran, 1);
	ng_waitgroup_done(&late_wg);
}

static void *late_thread(void *arg)
{
	(void)arg;
	/* main is parked in ng_waitgroup_wait well before this (a goroutine
	 * yield and a park take microseconds); the runtime has never heard of
	 * this thread, so nothing can be concluded from "all goroutines wait" */
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	if (ng_go(late_goroutine, NULL) != 0)
		printf("late thread: ng_go failed\n");
	return NULL;
}

static int late_thread_main(void *arg)
{
	(void)arg;
	atomic_store(&late_ran, 0);
	CHECK_EQ(ng_waitgroup_add(&late_wg, 1), 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, late_thread, NULL), 0);
	CHECK_EQ(ng_waitgroup_wait(&late_wg), 0);
	CHECK_EQ(atomic_load(&late_ran), 1);
	CHECK_EQ(pthread_join(th, NULL), 0);
	return 18;
}

static int child_inside_run(void *arg)
{
	(void)arg;
	ng_config cfg = {0};
	for (int i = 0; i < NG_TEST_SCALE(20, 4); i++) {
		cfg.procs = 1 + i % 2;
		nprocs_expected = cfg.procs;
		int rc = ng_run(&cfg, run_main, NULL);
		if (rc != 17) {
			printf("run %d (procs=%d): ng_run returned %d\n", i, cfg.procs, rc);
			return 4;
		}
		printf("run %d (procs=%d): ok\n", i, cfg.procs);
	}
	for (int i = 0; i < 4; i++) {
		cfg.procs = 1 + i % 2;
		int rc = ng_run(&cfg, late_thread_main, NULL);
		if (rc != 18) {
			printf("late thread run %d (procs=%d): ng_run returned %d\n", i, cfg.procs,
			       rc);
			return 5;
		}
		printf("late thread run %d (procs=%d): ok\n", i, cfg.procs);
	}
	return 0;
}

static ng_child child;

int main(void)
{
	/* 3 runs first, in a child process (forked while this process has no
	 * other threads), so that a false deadlock report ends the child, not
	 * the test; it is checked last. */
	ng_child_run(&child, child_inside_run, NULL, NULL, NULL, 60);

	/* 1 */
	ng_config cfg = {0};
	cfg.procs = 2;
	nprocs_expected = 2;
	CHECK_EQ(ng_start(&cfg), 0);
	CHECK_EQ(ng_start(&cfg), -EBUSY);
	CHECK_EQ(ng_id(), 0);
	CHECK_EQ(ng_self_proc(), -1);
	CHECK_EQ(ng_procs(), 2);
	run_threads();

	/* 2 */
	atomic_store(&late_done, 0);
	for (int i = 0; i < LATE; i++)
		CHECK_EQ(ng_go(late, NULL), 0);
	CHECK_EQ(ng_stop(), 0);
	CHECK_EQ(atomic_load(&late_done), LATE);
	CHECK_EQ(ng_go(late, NULL), -ESRCH);
	CHECK_EQ(ng_procs(), 0);
	CHECK_EQ(ng_stop(), -ESRCH);
	CHECK_EQ(atomic_load(&late_done), LATE);

	/* embedding again, with one P, and an ng_stop with nothing to wait for */
	cfg.procs = 1;
	nprocs_expected = 1;
	CHECK_EQ(ng_start(&cfg), 0);
	run_threads();
	CHECK_EQ(ng_stop(), 0);
	CHECK_EQ(ng_go(late, NULL), -ESRCH);

	/* 3: every run returned main's result; no deadlock was reported while
	 * the foreign thread was about to wake main */
	const char *what = "pthread inside ng_run";
	CHECK_CHILD(&child, what, strstr(child.out, "deadlock") == NULL);
	CHECK_CHILD(&child, what, ng_child_exited_with(&child, 0));
	printf("ok\n");
	return 0;
}
