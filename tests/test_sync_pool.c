/* ng_pool: per-P object cache (sync.Pool), from goroutines and threads.
 *
 *  1. API errors: NULL pool is -EINVAL / NULL + errno EINVAL, put of NULL
 *     is ignored; a pool whose objects cannot be allocated gives NULL +
 *     errno ENOMEM.
 *  2. Objects come back: a goroutine that puts an object and gets one gets
 *     the same object, without a second ctor call; fresh objects are
 *     passed through ctor (static NG_POOL_INIT pool).
 *  3. Foreign threads: a pthread's put object is what its next get
 *     returns; objects from a thread are valid and constructed.
 *  4. Across Ps: objects put on P0 are reused by a goroutine on P1 (no ctor
 *     calls).  A goroutine's put goes to its P's private stack, not the
 *     shared one: a thread's get after it returns what the thread put
 *     earlier, and the goroutine's next get returns its own object.
 *  5. The cache is bounded: after 1000 puts, getting 1000 again needs
 *     fresh objects for part of them (the excess was freed: ASan's leak
 *     check proves it went somewhere), and reuses the rest.
 *  6. Stress: goroutines and pthreads get and put concurrently; no object
 *     is ever handed to two holders at once.
 *  7. destroy frees the cache (leak-checked under ASan) and leaves a pool
 *     that starts over (fresh objects again); ng_pool_init works too.
 */
#define _GNU_SOURCE
#include "sync_util.h"

#include <stdint.h>
#include <stdlib.h>

/* Huge allocations must fail with NULL, not abort, under the sanitizers. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
	return "allocator_may_return_null=1";
}

enum { MAGIC = 0x5eed };

typedef struct obj {
	int magic;
	_Atomic int in_use;
	long payload[6];
} obj;

static _Atomic long ctor_calls;

static void ctor(void *p)
{
	obj *o = p;
	o->magic = MAGIC;
	atomic_init(&o->in_use, 0);
	atomic_fetch_add(&ctor_calls, 1);
}

static ng_pool pool = NG_POOL_INIT(sizeof(obj), ctor); /* static initialiser */

static obj *get(ng_pool *p)
{
	obj *o = ng_pool_get(p);
	CHECK(o != NULL);
	CHECK_EQ(o->magic, MAGIC);
	CHECK_EQ(atomic_exchange(&o->in_use, 1), 0); /* nobody else holds it */
	return o;
}

static void put(ng_pool *p, obj *o)
{
	CHECK_EQ(atomic_exchange(&o->in_use, 0), 1);
	ng_pool_put(p, o);
}

/* ---- 1. errors ---- */

static void test_errors(void)
{
	errno = 0;
	CHECK(ng_pool_get(NULL) == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(ng_pool_init(NULL, 8, NULL), -EINVAL);
	int x = 0;
	ng_pool_put(NULL, &x);    /* ignored */
	ng_pool_put(&pool, NULL); /* ignored */
	ng_pool_destroy(NULL);

	ng_pool huge = NG_POOL_INIT(SIZE_MAX / 2, ctor);
	long before = atomic_load(&ctor_calls);
	errno = 0;
	CHECK(ng_pool_get(&huge) == NULL);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(atomic_load(&ctor_calls), before);
	ng_pool_destroy(&huge);
}

/* ---- 2. objects come back ---- */

static void test_come_back(void)
{
	long before = atomic_load(&ctor_calls);
	obj *a = get(&pool);
	CHECK_EQ(atomic_load(&ctor_calls), before + 1); /* fresh: constructed */
	a->payload[0] = 1234;
	put(&pool, a);
	obj *b = get(&pool); /* same goroutine, same P, nothing in between */
	CHECK(b == a);
	CHECK_EQ(b->payload[0], 1234); /* not reset, as in Go */
	CHECK_EQ(atomic_load(&ctor_calls), before + 1);
	put(&pool, b);
}

/* ---- 3. foreign threads ---- */

static void *foreign_user(void *arg)
{
	(void)arg;
	obj *a = get(&pool);
	a->payload[1] = 99;
	put(&pool, a);
	long before = atomic_load(&ctor_calls);
	obj *b = get(&pool); /* the shared stack: last in, first out */
	CHECK(b == a);
	CHECK_EQ(b->payload[1], 99);
	CHECK_EQ(atomic_load(&ctor_calls), before);
	put(&pool, b);
	/* more than any cache holds: fresh ones are constructed */
	obj *many[300];
	for (int i = 0; i < 300; i++)
		many[i] = get(&pool);
	for (int i = 0; i < 300; i++)
		put(&pool, many[i]);
	return NULL;
}

static void test_foreign(void)
{
	pthread_t th;
	foreign_start_thread(&th, foreign_user, NULL);
	CHECK_EQ(pthread_join(th, NULL), 0);
}

/* ---- 4. across Ps ---- */

typedef struct cross {
	ng_pool pool;
	obj *objs[16];
	ng_waitgroup wg;
	long ctor_before;
} cross;

static void cross_producer(void *arg)
{
	cross *c = arg;
	CHECK_EQ(ng_self_proc(), 0);
	for (int i = 0; i < 16; i++)
		c->objs[i] = get(&c->pool);
	c->ctor_before = atomic_load(&ctor_calls);
	for (int i = 0; i < 16; i++)
		put(&c->pool, c->objs[i]);
	ng_waitgroup_done(&c->wg);
}

static void cross_consumer(void *arg)
{
	cross *c = arg;
	CHECK_EQ(ng_self_proc(), 1);
	obj *got[16];
	for (int i = 0; i < 16; i++)
		got[i] = get(&c->pool);
	CHECK_EQ(atomic_load(&ctor_calls), c->ctor_before); /* all reused */
	for (int i = 0; i < 16; i++) {
		bool known = false;
		for (int j = 0; j < 16; j++)
			known |= got[i] == c->objs[j];
		CHECK(known);
	}
	for (int i = 0; i < 16; i++)
		put(&c->pool, got[i]);
	ng_waitgroup_done(&c->wg);
}

static void test_across_ps(void)
{
	CHECK(ng_procs() >= 2);
	cross c = {.wg = NG_WAITGROUP_INIT};
	CHECK_EQ(ng_pool_init(&c.pool, sizeof(obj), ctor), 0);
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.proc = 0;
	CHECK_EQ(ng_waitgroup_add(&c.wg, 1), 0);
	CHECK_EQ(ng_go_attr(&attr, cross_producer, &c), 0);
	CHECK_EQ(ng_waitgroup_wait(&c.wg), 0);
	attr.proc = 1;
	CHECK_EQ(ng_waitgroup_add(&c.wg, 1), 0);
	CHECK_EQ(ng_go_attr(&attr, cross_consumer, &c), 0);
	CHECK_EQ(ng_waitgroup_wait(&c.wg), 0);
	ng_pool_destroy(&c.pool);
}

/* ---- 4b. a goroutine's puts stay on its P ---- */

typedef struct perp {
	ng_pool pool;
	obj *a, *b;
	int step;
	ng_waitgroup wg;
} perp;

static void *perp_thread_step(void *arg)
{
	perp *p = arg;
	if (p->step == 1) {
		p->b = get(&p->pool);
	} else if (p->step == 3) {
		put(&p->pool, p->b); /* onto the shared stack */
	} else {
		obj *o = get(&p->pool); /* shared first: b, not a */
		CHECK(o == p->b);
		put(&p->pool, o);
	}
	return NULL;
}

static void perp_g_step(void *arg)
{
	perp *p = arg;
	CHECK_EQ(ng_self_proc(), 1);
	if (p->step == 2) {
		p->a = get(&p->pool);
	} else if (p->step == 4) {
		put(&p->pool, p->a); /* onto P1's own stack, above nothing */
	} else {
		obj *o = get(&p->pool); /* P1's stack first: a */
		CHECK(o == p->a);
		put(&p->pool, o);
	}
	ng_waitgroup_done(&p->wg);
}

static void test_private_per_p(void)
{
	perp p = {.wg = NG_WAITGROUP_INIT};
	CHECK_EQ(ng_pool_init(&p.pool, sizeof(obj), ctor), 0);
	ng_go_attr attr = NG_GO_ATTR_INIT;
	attr.proc = 1;
	for (p.step = 1; p.step <= 6; p.step++) {
		if (p.step % 2 == 1) {
			pthread_t th;
			foreign_start_thread(&th, perp_thread_step, &p);
			CHECK_EQ(pthread_join(th, NULL), 0);
		} else {
			CHECK_EQ(ng_waitgroup_add(&p.wg, 1), 0);
			CHECK_EQ(ng_go_attr(&attr, perp_g_step, &p), 0);
			CHECK_EQ(ng_waitgroup_wait(&p.wg), 0);
		}
	}
	CHECK(p.a != p.b);
	ng_pool_destroy(&p.pool);
}

/* ---- 5. bounded ---- */

static void test_bounded(void)
{
	enum { N = 1000 };
	ng_pool p;
	CHECK_EQ(ng_pool_init(&p, sizeof(obj), ctor), 0);
	static obj *objs[N];
	long before = atomic_load(&ctor_calls);
	for (int i = 0; i < N; i++)
		objs[i] = get(&p);
	CHECK_EQ(atomic_load(&ctor_calls) - before, N);
	for (int i = 0; i < N; i++)
		put(&p, objs[i]);
	before = atomic_load(&ctor_calls);
	for (int i = 0; i < N; i++)
		objs[i] = get(&p);
	long fresh = atomic_load(&ctor_calls) - before;
	CHECK(fresh > 0); /* some were freed: the cache is bounded */
	CHECK(fresh < N); /* and the rest came back */
	for (int i = 0; i < N; i++)
		put(&p, objs[i]);
	ng_pool_destroy(&p);
}

/* ---- 6. stress ---- */

static ng_waitgroup stress_wg = NG_WAITGROUP_INIT;

static void stress_body(long seed)
{
	uint64_t x = (uint64_t)seed * 0x9E3779B97F4A7C15ULL + 3;
	obj *held[4];
	for (int i = 0; i < NG_TEST_SCALE(3000, 600); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int n = 1 + (int)(x % 4);
		for (int k = 0; k < n; k++) {
			held[k] = get(&pool);
			held[k]->payload[2] = seed;
		}
		if (x % 5 == 0)
			sync_relax();
		for (int k = 0; k < n; k++) {
			CHECK_EQ(held[k]->payload[2], seed);
			put(&pool, held[k]);
		}
	}
	ng_waitgroup_done(&stress_wg);
}

static void stress_g(void *arg)
{
	stress_body((long)arg);
}

static void *stress_t(void *arg)
{
	stress_body((long)arg);
	return NULL;
}

static void test_stress(void)
{
	enum { GOROUTINES = 16, THREADS = 2 };
	pthread_t th[THREADS];
	CHECK_EQ(ng_waitgroup_add(&stress_wg, GOROUTINES + THREADS), 0);
	for (long i = 0; i < THREADS; i++)
		foreign_start_thread(&th[i], stress_t, (void *)(1000 + i));
	for (long i = 0; i < GOROUTINES; i++)
		CHECK_EQ(ng_go(stress_g, (void *)i), 0);
	CHECK_EQ(ng_waitgroup_wait(&stress_wg), 0);
	for (int i = 0; i < THREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
}

/* ---- 7. destroy ---- */

static void test_destroy(void)
{
	obj *a = get(&pool);
	put(&pool, a);
	ng_pool_destroy(&pool); /* frees a and everything else cached */
	CHECK(pool.impl == NULL);
	long before = atomic_load(&ctor_calls);
	obj *b = get(&pool);
	CHECK_EQ(atomic_load(&ctor_calls), before + 1); /* starts over */
	put(&pool, b);
	ng_pool_destroy(&pool);
}

static int main_g(void *arg)
{
	(void)arg;
	test_errors();
	test_come_back();
	test_foreign();
	test_across_ps();
	test_private_per_p();
	test_bounded();
	test_stress();
	test_destroy();
	return 0;
}

int main(void)
{
	ng_config cfg = {0};
	cfg.procs = 4; /* several per-P caches even on a small machine */
	CHECK_EQ(ng_run(&cfg, main_g, NULL), 0);
	printf("ok\n");
	return 0;
}
