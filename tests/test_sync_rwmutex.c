/* ng_rwmutex: Go's sync.RWMutex, from goroutines and threads.
 *
 *  1. API errors: NULL is -EINVAL everywhere; every misuse Go's
 *     TestMutexMisuse lists (Unlock of an unlocked or read-locked
 *     rwmutex, a second Unlock, RUnlock of an unlocked or write-locked one,
 *     a second RUnlock) is -EPERM and leaves the rwmutex at rest and usable.
 *  2. TestRWMutex's try-ops: trylock/tryrlock fail on a write-locked
 *     rwmutex, tryrlock succeeds twice on a read-locked one where trylock
 *     fails.
 *  3. TestParallelReaders: 1, 3 and 4 readers all hold the read lock at
 *     the same time (each waits, holding it, until all are in).
 *  4. Writer preference: once a writer waits for an active reader, new
 *     readers (tryrlock, rlock) wait behind it; the writer gets the lock
 *     when the reader leaves, and the queued reader only after the writer.
 *  5. HammerRWMutex: 2 writers and 1, 3, 10 readers (goroutines), then the
 *     same with a writer and a reader in pthreads; a writer is always alone
 *     (activity counter), readers never overlap a writer.
 */
#define _GNU_SOURCE
#include "sync_util.h"

static void check_at_rest(ng_rwmutex *rw)
{
	CHECK_EQ(atomic_load((_Atomic int32_t *)&rw->readers), 0);
	CHECK_EQ(atomic_load((_Atomic int32_t *)&rw->readers_wait), 0);
	CHECK_EQ(atomic_load((_Atomic int32_t *)&rw->w.state), 0);
	CHECK_EQ(rw->rsema, 0);
	CHECK_EQ(rw->wsema, 0);
}

static void check_usable(ng_rwmutex *rw)
{
	CHECK_EQ(ng_rwmutex_lock(rw), 0);
	CHECK_EQ(ng_rwmutex_unlock(rw), 0);
	CHECK_EQ(ng_rwmutex_rlock(rw), 0);
	CHECK_EQ(ng_rwmutex_runlock(rw), 0);
	check_at_rest(rw);
}

/* ---- 1. errors ---- */

static void test_errors(void)
{
	CHECK_EQ(ng_rwmutex_rlock(NULL), -EINVAL);
	CHECK_EQ(ng_rwmutex_runlock(NULL), -EINVAL);
	CHECK_EQ(ng_rwmutex_lock(NULL), -EINVAL);
	CHECK_EQ(ng_rwmutex_unlock(NULL), -EINVAL);
	CHECK_EQ(ng_rwmutex_tryrlock(NULL), -EINVAL);
	CHECK_EQ(ng_rwmutex_trylock(NULL), -EINVAL);

	ng_rwmutex rw = NG_RWMUTEX_INIT;
	/* RWMutex.Unlock */
	CHECK_EQ(ng_rwmutex_unlock(&rw), -EPERM);
	check_usable(&rw);
	/* RWMutex.Unlock2 */
	CHECK_EQ(ng_rwmutex_rlock(&rw), 0);
	CHECK_EQ(ng_rwmutex_unlock(&rw), -EPERM);
	CHECK_EQ(ng_rwmutex_runlock(&rw), 0);
	check_usable(&rw);
	/* RWMutex.Unlock3 */
	CHECK_EQ(ng_rwmutex_lock(&rw), 0);
	CHECK_EQ(ng_rwmutex_unlock(&rw), 0);
	CHECK_EQ(ng_rwmutex_unlock(&rw), -EPERM);
	check_usable(&rw);
	/* RWMutex.RUnlock */
	CHECK_EQ(ng_rwmutex_runlock(&rw), -EPERM);
	check_usable(&rw);
	/* RWMutex.RUnlock2 */
	CHECK_EQ(ng_rwmutex_lock(&rw), 0);
	CHECK_EQ(ng_rwmutex_runlock(&rw), -EPERM);
	CHECK_EQ(ng_rwmutex_unlock(&rw), 0);
	check_usable(&rw);
	/* RWMutex.RUnlock3 */
	CHECK_EQ(ng_rwmutex_rlock(&rw), 0);
	CHECK_EQ(ng_rwmutex_runlock(&rw), 0);
	CHECK_EQ(ng_rwmutex_runlock(&rw), -EPERM);
	check_usable(&rw);
}

/* ---- 2. try-ops ---- */

static ng_rwmutex try_rw = NG_RWMUTEX_INIT; /* static initialiser */

static void test_try(void)
{
	CHECK_EQ(ng_rwmutex_lock(&try_rw), 0);
	CHECK_EQ(ng_rwmutex_trylock(&try_rw), -EAGAIN);
	CHECK_EQ(ng_rwmutex_tryrlock(&try_rw), -EAGAIN);
	CHECK_EQ(ng_rwmutex_unlock(&try_rw), 0);

	CHECK_EQ(ng_rwmutex_trylock(&try_rw), 0);
	CHECK_EQ(ng_rwmutex_unlock(&try_rw), 0);

	CHECK_EQ(ng_rwmutex_tryrlock(&try_rw), 0);
	CHECK_EQ(ng_rwmutex_tryrlock(&try_rw), 0);
	CHECK_EQ(ng_rwmutex_trylock(&try_rw), -EAGAIN);
	CHECK_EQ(ng_rwmutex_runlock(&try_rw), 0);
	CHECK_EQ(ng_rwmutex_runlock(&try_rw), 0);
	check_at_rest(&try_rw);
}

/* ---- 3. parallel readers ---- */

typedef struct par {
	ng_rwmutex rw;
	int n;
	_Atomic int in;
	ng_waitgroup wg;
} par;

static void parallel_reader(void *arg)
{
	par *p = arg;
	CHECK_EQ(ng_rwmutex_rlock(&p->rw), 0);
	atomic_fetch_add(&p->in, 1);
	int64_t limit = ng_now() + 5000 * MS;
	while (atomic_load(&p->in) < p->n) {
		CHECK(ng_now() < limit); /* the others could not get in */
		ng_yield();
	}
	CHECK_EQ(ng_rwmutex_runlock(&p->rw), 0);
	ng_waitgroup_done(&p->wg);
}

static void test_parallel_readers(int n)
{
	par p = {.rw = NG_RWMUTEX_INIT, .n = n, .wg = NG_WAITGROUP_INIT};
	CHECK_EQ(ng_waitgroup_add(&p.wg, n), 0);
	for (int i = 0; i < n; i++)
		CHECK_EQ(ng_go(parallel_reader, &p), 0);
	CHECK_EQ(ng_waitgroup_wait(&p.wg), 0);
	check_at_rest(&p.rw);
}

/* ---- 4. writer preference ---- */

typedef struct pref {
	ng_rwmutex rw;
	_Atomic int writer_in, reader_in, order;
	int writer_order, reader_order;
	ng_waitgroup wg;
} pref;

static void pref_writer(void *arg)
{
	pref *p = arg;
	CHECK_EQ(ng_rwmutex_lock(&p->rw), 0);
	p->writer_order = atomic_fetch_add(&p->order, 1);
	atomic_store(&p->writer_in, 1);
	ng_sleep(5 * MS);
	atomic_store(&p->writer_in, 0);
	CHECK_EQ(ng_rwmutex_unlock(&p->rw), 0);
	ng_waitgroup_done(&p->wg);
}

static void pref_reader(void *arg)
{
	pref *p = arg;
	CHECK_EQ(ng_rwmutex_rlock(&p->rw), 0);
	CHECK_EQ(atomic_load(&p->writer_in), 0);
	p->reader_order = atomic_fetch_add(&p->order, 1);
	atomic_store(&p->reader_in, 1);
	CHECK_EQ(ng_rwmutex_runlock(&p->rw), 0);
	ng_waitgroup_done(&p->wg);
}

static void test_writer_preference(void)
{
	static pref p = {.rw = NG_RWMUTEX_INIT, .wg = NG_WAITGROUP_INIT};
	CHECK_EQ(ng_rwmutex_rlock(&p.rw), 0);
	CHECK_EQ(ng_waitgroup_add(&p.wg, 2), 0);
	CHECK_EQ(ng_go(pref_writer, &p), 0);
	/* the writer has announced itself once readers goes negative */
	int64_t limit = ng_now() + 5000 * MS;
	while (atomic_load((_Atomic int32_t *)&p.rw.readers) >= 0) {
		CHECK(ng_now() < limit);
		ng_sleep(100 * US);
	}
	CHECK_EQ(ng_rwmutex_tryrlock(&p.rw), -EAGAIN); /* no barging past the writer */
	CHECK_EQ(ng_go(pref_reader, &p), 0);
	ng_sleep(20 * MS);
	CHECK_EQ(atomic_load(&p.writer_in), 0); /* we still read */
	CHECK_EQ(atomic_load(&p.reader_in), 0); /* the new reader waits */
	CHECK_EQ(ng_rwmutex_runlock(&p.rw), 0);
	CHECK_EQ(ng_waitgroup_wait(&p.wg), 0);
	CHECK_EQ(p.writer_order, 0);
	CHECK_EQ(p.reader_order, 1);
	check_at_rest(&p.rw);
}

/* ---- 5. hammer ---- */

typedef struct hammer {
	ng_rwmutex rw;
	_Atomic int32_t activity; /* active readers + 10000 * active writers */
	int iterations;
	ng_waitgroup wg;
} hammer;

static void spin_a_little(int i)
{
	for (volatile int k = 0; k < 100; k++)
		;
	if (i % 10 == 0)
		sync_relax();
}

static void reader_loop(hammer *h)
{
	for (int i = 0; i < h->iterations; i++) {
		CHECK_EQ(ng_rwmutex_rlock(&h->rw), 0);
		int32_t n = atomic_fetch_add(&h->activity, 1) + 1;
		CHECK(n >= 1 && n < 10000);
		spin_a_little(i);
		atomic_fetch_sub(&h->activity, 1);
		CHECK_EQ(ng_rwmutex_runlock(&h->rw), 0);
	}
	ng_waitgroup_done(&h->wg);
}

static void writer_loop(hammer *h)
{
	for (int i = 0; i < h->iterations; i++) {
		CHECK_EQ(ng_rwmutex_lock(&h->rw), 0);
		CHECK_EQ(atomic_fetch_add(&h->activity, 10000) + 10000, 10000);
		spin_a_little(i);
		atomic_fetch_sub(&h->activity, 10000);
		CHECK_EQ(ng_rwmutex_unlock(&h->rw), 0);
	}
	ng_waitgroup_done(&h->wg);
}

static void reader_g(void *arg)
{
	reader_loop(arg);
}

static void writer_g(void *arg)
{
	writer_loop(arg);
}

static void *reader_t(void *arg)
{
	reader_loop(arg);
	return NULL;
}

static void *writer_t(void *arg)
{
	writer_loop(arg);
	return NULL;
}

static void hammer_rwmutex(int readers, bool threads)
{
	hammer h = {
	    .rw = NG_RWMUTEX_INIT, .iterations = NG_TEST_SCALE(1000, 300), .wg = NG_WAITGROUP_INIT};
	pthread_t rt, wt;
	CHECK_EQ(ng_waitgroup_add(&h.wg, 2 + readers + (threads ? 2 : 0)), 0);
	if (threads) {
		foreign_start_thread(&rt, reader_t, &h);
		foreign_start_thread(&wt, writer_t, &h);
	}
	CHECK_EQ(ng_go(writer_g, &h), 0);
	int i;
	for (i = 0; i < readers / 2; i++)
		CHECK_EQ(ng_go(reader_g, &h), 0);
	CHECK_EQ(ng_go(writer_g, &h), 0);
	for (; i < readers; i++)
		CHECK_EQ(ng_go(reader_g, &h), 0);
	CHECK_EQ(ng_waitgroup_wait(&h.wg), 0);
	if (threads) {
		CHECK_EQ(pthread_join(rt, NULL), 0);
		CHECK_EQ(pthread_join(wt, NULL), 0);
	}
	CHECK_EQ(atomic_load(&h.activity), 0);
	check_at_rest(&h.rw);
}

static int main_g(void *arg)
{
	(void)arg;
	test_errors();
	test_try();
	test_parallel_readers(1);
	test_parallel_readers(3);
	test_parallel_readers(4);
	test_writer_preference();
	hammer_rwmutex(1, false);
	hammer_rwmutex(3, false);
	hammer_rwmutex(10, false);
	hammer_rwmutex(5, true);
	return 0;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
