/* fuzz/fuzz_api.c — the public API's argument checking and error returns,
 * driven by libFuzzer.
 *
 * Each input is a small byte-code program run by one interpreter, in a
 * goroutine or (input byte 0, bit 0) in a foreign thread.  The interpreter
 * keeps a model of every object it made (a channel's capacity, length,
 * closed flag and, while only the interpreter touches it, its FIFO
 * contents; a semaphore's count; a mutex's state; ...) and checks each
 * call's result against the model: the documented code when the model
 * knows it, the documented set of codes when helper goroutines make the
 * outcome a race.  Anything else is a finding: the input is printed and
 * abort() makes libFuzzer keep it.
 *
 * What it never does: call the API in a way the contract leaves undefined
 * (an object used after its last release, a blocking call that nothing can
 * complete, ng_stop from inside, closing a descriptor it does not own), or
 * allocate what the sizes merely allow (a valid 1 TiB channel).  Helper
 * goroutines are bounded by deadlines, so every input ends by itself.
 *
 * One runtime (2 Ps, ng_start) serves every input: booting one per input
 * costs ~1.9 ms under ASan, a goroutine and its wait ~20 us.  Byte 0, bits
 * 1-4 = 0001 ask for a boot cycle with a fuzzed ng_config first (ng_stop,
 * ng_run, ng_start again), so ng_config is checked too, on the inputs that
 * ask.
 *
 * Inputs of bugs already found and not yet fixed (fuzz/crashes/README.md)
 * are steered around unless NUMAGO_FUZZ_KNOWN=1, so that a CI run looks for
 * new ones.
 */
#define _GNU_SOURCE
#include <numago.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCHAN     8
#define NTIMER    4
#define NCTX      6
#define MAX_OPS   200
#define MAX_CASES 8
#define TRACKED   64 /* FIFO contents tracked for capacities up to this */
#define SCRATCH   ((size_t)1 << 20)
#define SOON_NS   30000 /* a deadline in the near future: 30 us */
#define PROCS     2

/* ---- input ---- */

typedef struct rd {
	const uint8_t *p;
	size_t n, i;
} rd;

static uint8_t u8(rd *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

static uint64_t u64(rd *r)
{
	uint64_t v = 0;
	for (int k = 0; k < 8; k++)
		v = v << 8 | u8(r);
	return v;
}

/* ---- failure ---- */

static const uint8_t *cur_data;
static size_t cur_len;
static int cur_op;

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "fuzz_api: op %d: ", cur_op);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nfuzz_api: input (%zu bytes):", cur_len);
	for (size_t i = 0; i < cur_len && i < 4096; i++)
		fprintf(stderr, "%s%02x", i % 32 ? "" : "\n  ", cur_data[i]);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

#define EXPECT(got, want)                                                                          \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		if (g_ != w_)                                                                      \
			fail("%s:%d: %s = %lld, expected %lld", __FILE__, __LINE__, #got, g_, w_); \
	} while (0)
#define EXPECT_IN(got, set)                                                                   \
	do {                                                                                  \
		long long g_ = (long long)(got);                                              \
		if (!in_set(g_, set))                                                         \
			fail("%s:%d: %s = %lld, not one of %s", __FILE__, __LINE__, #got, g_, \
			     #set);                                                           \
	} while (0)
#define CHECK(cond)                                                   \
	do {                                                          \
		if (!(cond))                                          \
			fail("%s:%d: %s", __FILE__, __LINE__, #cond); \
	} while (0)

/* sets of results, terminated by END */
#define END      LLONG_MIN
#define SET(...) ((const long long[]){__VA_ARGS__, END})
static const long long S_SEND[] = {0, -EPIPE, -EAGAIN, -ETIMEDOUT, END};
static const long long S_SEL[] = {-EAGAIN, -ETIMEDOUT, END};
/* a deadline already passed, or negative (not NG_FOREVER) */
static const long long S_PAST[] = {-ETIMEDOUT, -EINVAL, END};
static const long long S_NULL_ERR[] = {EINVAL, ENOMEM, END};

static bool in_set(long long v, const long long *set)
{
	for (; *set != END; set++)
		if (*set == v)
			return true;
	return false;
}

/* ---- deadlines ---- */

enum { D_FOREVER, D_ZERO, D_PAST, D_NEG, D_MIN, D_SOON, D_COUNT };

static int64_t deadline_of(int d)
{
	switch (d) {
	case D_FOREVER:
		return NG_FOREVER;
	case D_ZERO:
		return 0;
	case D_PAST:
		return ng_now() - 1000;
	case D_NEG:
		return -5;
	case D_MIN:
		return INT64_MIN;
	default:
		return ng_now() + SOON_NS;
	}
}

/* NUMAGO_FUZZ_KNOWN=1: also drive the inputs of known, not yet fixed bugs
 * (fuzz/crashes/README.md); off, so that a CI run looks for new ones. */
static bool known_ok;
/* The shared runtime's time slice (NUMAGO_FUZZ_SLICE=ns), and async
 * preemption only when it is set.  Known: a preemption signal can stop a
 * goroutine inside the sanitizer runtimes or the coverage callbacks (linked
 * into the program, so "program code" to core/preempt.c) while numago holds
 * a lock or is halfway through an ASan fiber switch; 50000 shows it within
 * a few hundred inputs (fuzz/crashes/README.md). */
static int64_t fuzz_slice;
/* When the last ng_after timer of any input fires: a boot cycle waits for
 * it, or the shutdown would drop it with the channel it owns. */
static int64_t after_until;

/* A duration, odd values included. */
static int64_t duration(rd *r)
{
	int64_t v;
	switch (u8(r) % 10) {
	case 0:
		v = 0;
		break;
	case 1:
		v = -1;
		break;
	case 2:
		v = INT64_MIN;
		break;
	case 3:
		v = 1;
		break;
	case 4:
		v = 1000;
		break;
	case 5:
		v = 50000;
		break;
	case 6:
		v = 1000000;
		break;
	case 7:
		v = INT64_MAX;
		break;
	case 8:
		v = (int64_t)((uint64_t)1 << 62);
		break;
	default:
		v = (int64_t)(u64(r) >> 1);
		break;
	}
	return v;
}

/* ---- model ---- */

typedef struct mchan {
	ng_chan *c;
	size_t esz, cap, len;
	int refs;
	bool closed;
	bool exact;   /* no helper goroutine has touched it since the last sync */
	bool content; /* q holds its contents (cap <= TRACKED, exact since empty) */
	uint64_t q[TRACKED];
	size_t qh;
	int helpers_recv, helpers_send; /* their successes, counted at sync */
	int closes;                     /* successful ng_chan_close calls: at most 1 */
} mchan;

struct state;
typedef struct helper {
	int slot;
	ng_chan *c;
	int kind; /* H_RECV, H_SEND, H_CLOSE */
	int64_t deadline;
	void *buf;
	size_t esz;
	int rc;
	struct state *st;
} helper;

typedef struct mctx {
	ng_ctx *c;
	int parent; /* index, -1: background */
	bool cancelled, has_deadline;
} mctx;

typedef struct state {
	bool foreign;
	mchan ch[NCHAN];
	ng_timer *tm[NTIMER];
	ng_chan *tmc[NTIMER];
	mctx ctx[NCTX];
	ng_sema sema;
	int64_t sema_size, sema_cur;
	ng_mutex mu;
	bool mu_locked;
	ng_rwmutex rw;
	int rw_readers;
	bool rw_writer;
	ng_waitgroup wg;
	int64_t wg_count;
	ng_cond cond;
	ng_once once;
	ng_pool pool;
	bool pool_init;
	int pipe_r, pipe_w;
	size_t pipe_bytes;
	uint64_t pipe_wseq, pipe_rseq;
	uint64_t seq;
	helper *helpers[32];
	int nhelpers;
	ng_waitgroup helpers_wg;
	_Atomic int spawned_ran;
	int spawned;
	int blocked; /* ng_block_enter depth as the model sees it */
} state;

static uint8_t sbuf[SCRATCH + 64], rbuf[SCRATCH + 64];

/* An element: its sequence number in the first bytes, as many as fit. */
static void put_seq(void *buf, size_t esz, uint64_t seq)
{
	memcpy(buf, &seq, esz < 8 ? esz : 8);
}

static uint64_t get_seq(const void *buf, size_t esz)
{
	uint64_t v = 0;
	memcpy(&v, buf, esz < 8 ? esz : 8);
	return v;
}

static uint64_t seq_mask(size_t esz)
{
	return esz >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * esz)) - 1;
}

static void q_push(mchan *m, uint64_t seq)
{
	if (m->content)
		m->q[(m->qh + m->len) % TRACKED] = seq;
	m->len++;
}

static void q_pop_check(mchan *m, const void *elem)
{
	if (m->content && m->esz > 0 && elem != NULL) {
		uint64_t want = m->q[m->qh] & seq_mask(m->esz);
		uint64_t got = get_seq(elem, m->esz);
		if (got != want)
			fail("channel element out of order: got %llu, expected %llu",
			     (unsigned long long)got, (unsigned long long)want);
	}
	m->qh = (m->qh + 1) % TRACKED;
	m->len--;
	if (m->len == 0 && m->cap <= TRACKED) {
		m->content = true; /* empty: its contents are known again */
		m->qh = 0;
	}
}

static void check_zero(const void *elem, size_t esz)
{
	const uint8_t *b = elem;
	size_t n = esz < 4096 ? esz : 4096;
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			fail("element not zeroed at byte %zu of %zu", i, esz);
}

/* ---- channels ---- */

static void op_make(state *s, rd *r)
{
	static const size_t esz_set[] = {
	    0, 1, 3, 8, 16, 64, (size_t)1 << 20, ((size_t)1 << 20) + 1, SIZE_MAX, (size_t)1 << 32};
	static const size_t cap_set[] = {0,
	                                 1,
	                                 2,
	                                 3,
	                                 TRACKED,
	                                 1000,
	                                 (size_t)1 << 40,
	                                 ((size_t)1 << 40) + 1,
	                                 SIZE_MAX,
	                                 SIZE_MAX / 2 + 2};
	mchan *m = &s->ch[u8(r) % NCHAN];
	if (m->c != NULL)
		return;
	uint8_t b = u8(r);
	size_t esz = esz_set[(b & 15) % 10], cap = cap_set[(b >> 4) % 10];
	if ((b & 15) >= 10)
		esz = u8(r);
	if ((b >> 4) >= 10)
		cap = u8(r) % 8;
	/* the limits of core/chan.c: elements up to 1 MiB, buffers up to 1 TiB */
	bool bad = esz > ((size_t)1 << 20) || cap > ((size_t)1 << 40) ||
	           (esz != 0 && cap > ((size_t)1 << 40) / esz);
	if (!bad && esz * cap > ((size_t)16 << 20))
		return; /* valid, but too big to be worth allocating */
	errno = 0;
	ng_chan *c = ng_chan_make(esz, cap);
	if (bad) {
		if (c != NULL)
			fail("ng_chan_make(%zu, %zu) accepted", esz, cap);
		EXPECT_IN(errno, S_NULL_ERR);
		return;
	}
	if (c == NULL)
		fail("ng_chan_make(%zu, %zu): NULL, errno %d", esz, cap, errno);
	EXPECT(ng_chan_len(c), 0);
	EXPECT(ng_chan_cap(c), cap);
	EXPECT(ng_chan_elem_size(c), esz);
	memset(m, 0, sizeof *m);
	m->c = c;
	m->esz = esz;
	m->cap = cap;
	m->refs = 1;
	m->exact = true;
	m->content = cap <= TRACKED;
}

static void drop_ref(state *s, mchan *m)
{
	ng_chan_release(m->c);
	if (--m->refs > 0)
		return;
	/* the helpers' own references keep it alive; their results no longer
	 * belong to the slot, which a new channel may take */
	for (int i = 0; i < s->nhelpers; i++)
		if (s->helpers[i]->slot == m - s->ch)
			s->helpers[i]->slot = -1;
	memset(m, 0, sizeof *m);
}

/* What a send or receive on m would do now if m is exact: 1 ready, 0 would
 * block.  (A closed channel is ready for both.) */
static bool send_ready(const mchan *m)
{
	return m->closed || m->len < m->cap;
}

static bool recv_ready(const mchan *m)
{
	return m->closed || m->len > 0;
}

static int call_send(int how, ng_chan *c, const void *elem, int64_t dl)
{
	switch (how) {
	case 0:
		return ng_chan_try_send(c, elem);
	case 1:
		return dl == NG_FOREVER ? ng_chan_send(c, elem) : ng_chan_send_until(c, elem, dl);
	default:
		return ng_chan_send_until(c, elem, dl);
	}
}

static int call_recv(int how, ng_chan *c, void *elem, int64_t dl)
{
	switch (how) {
	case 0:
		return ng_chan_try_recv(c, elem);
	case 1:
		return dl == NG_FOREVER ? ng_chan_recv(c, elem) : ng_chan_recv_until(c, elem, dl);
	default:
		return ng_chan_recv_until(c, elem, dl);
	}
}

static void op_send(state *s, rd *r)
{
	mchan *m = &s->ch[u8(r) % NCHAN];
	uint8_t b = u8(r);
	int d = b % D_COUNT, how = (b >> 3) % 3;
	bool null_elem = (b & 0x80) != 0;
	if (how == 0)
		d = D_ZERO;
	if (m->c == NULL) {
		EXPECT(call_send(how, NULL, sbuf, deadline_of(d)), -EINVAL);
		return;
	}
	const void *elem = null_elem ? NULL : sbuf;
	uint64_t seq = ++s->seq;
	put_seq(sbuf, m->esz, seq);
	if (null_elem && m->esz != 0) {
		EXPECT(call_send(how, m->c, elem, deadline_of(d)), -EINVAL);
		return;
	}
	if (!m->exact) {
		if (d == D_FOREVER && !m->closed)
			d = D_SOON; /* a helper may or may not be there to take it */
		int rc = call_send(how, m->c, elem, deadline_of(d));
		if (m->closed)
			EXPECT(rc, -EPIPE);
		EXPECT_IN(rc, S_SEND);
		if (rc == 0)
			m->len++;
		return;
	}
	if (m->closed) {
		EXPECT(call_send(how, m->c, elem, deadline_of(d)), -EPIPE);
	} else if (send_ready(m)) {
		EXPECT(call_send(how, m->c, elem, deadline_of(d)), 0);
		q_push(m, seq);
	} else if (d == D_ZERO) {
		EXPECT(call_send(how, m->c, elem, 0), -EAGAIN);
	} else if (d != D_FOREVER) {
		EXPECT_IN(call_send(how, m->c, elem, deadline_of(d)),
		          d == D_SOON ? SET(-ETIMEDOUT) : S_PAST);
	}
	EXPECT(ng_chan_len(m->c), m->len);
}

static void op_recv(state *s, rd *r)
{
	mchan *m = &s->ch[u8(r) % NCHAN];
	uint8_t b = u8(r);
	int d = b % D_COUNT, how = (b >> 3) % 3;
	bool null_elem = (b & 0x80) != 0;
	if (how == 0)
		d = D_ZERO;
	if (m->c == NULL) {
		EXPECT(call_recv(how, NULL, rbuf, deadline_of(d)), -EINVAL);
		return;
	}
	void *elem = null_elem ? NULL : rbuf;
	if (!null_elem)
		memset(rbuf, 0xa5, m->esz < 4096 ? m->esz : 4096);
	if (!m->exact) {
		if (d == D_FOREVER && !(m->closed && m->len == 0))
			d = D_SOON;
		int rc = call_recv(how, m->c, elem, deadline_of(d));
		EXPECT_IN(rc, S_SEND);
		if (rc == 0 && m->len > 0)
			m->len--;
		else if (rc == 0)
			m->helpers_send--; /* taken from a helper: balanced at sync */
		if (rc == -EPIPE && elem != NULL)
			check_zero(elem, m->esz);
		return;
	}
	if (m->len > 0) {
		EXPECT(call_recv(how, m->c, elem, deadline_of(d)), 0);
		q_pop_check(m, elem);
	} else if (m->closed) {
		EXPECT(call_recv(how, m->c, elem, deadline_of(d)), -EPIPE);
		if (elem != NULL)
			check_zero(elem, m->esz);
	} else if (d == D_ZERO) {
		EXPECT(call_recv(how, m->c, elem, 0), -EAGAIN);
	} else if (d != D_FOREVER) {
		EXPECT_IN(call_recv(how, m->c, elem, deadline_of(d)),
		          d == D_SOON ? SET(-ETIMEDOUT) : S_PAST);
	}
	EXPECT(ng_chan_len(m->c), m->len);
}

static void op_close(state *s, rd *r)
{
	mchan *m = &s->ch[u8(r) % NCHAN];
	if (m->c == NULL) {
		EXPECT(ng_chan_close(NULL), -EINVAL);
		EXPECT(ng_chan_len(NULL), 0);
		EXPECT(ng_chan_cap(NULL), 0);
		EXPECT(ng_chan_elem_size(NULL), 0);
		return;
	}
	int rc = ng_chan_close(m->c);
	if (m->exact || m->closed)
		EXPECT(rc, m->closed ? -EPIPE : 0);
	else
		EXPECT_IN(rc, SET(0, -EPIPE)); /* a helper may have closed it */
	if (rc == 0)
		m->closes++;
	m->closed = true;
}

static void op_ref(state *s, rd *r)
{
	mchan *m = &s->ch[u8(r) % NCHAN];
	uint8_t b = u8(r);
	if (m->c == NULL) {
		ng_chan_retain(NULL); /* documented no-ops */
		ng_chan_release(NULL);
		return;
	}
	if (b & 1) {
		ng_chan_retain(m->c);
		m->refs++;
	} else {
		drop_ref(s, m);
	}
}

enum { H_RECV, H_SEND, H_CLOSE };

/* A helper goroutine: one send or receive with a deadline, or a close
 * after a short sleep, on its own reference, so the interpreter meets a
 * waiter (or a racing peer, or a close while it waits). */
static void helper_fn(void *arg)
{
	helper *h = arg;
	if (h->kind == H_SEND) {
		h->rc = ng_chan_send_until(h->c, h->buf, h->deadline);
	} else if (h->kind == H_RECV) {
		h->rc = ng_chan_recv_until(h->c, h->buf, h->deadline);
	} else {
		ng_sleep_until(h->deadline);
		h->rc = ng_chan_close(h->c);
	}
	ng_chan_release(h->c);
	ng_waitgroup_done(&h->st->helpers_wg);
}

static void op_helper(state *s, rd *r)
{
	int slot = u8(r) % NCHAN;
	mchan *m = &s->ch[slot];
	uint8_t b = u8(r);
	if (m->c == NULL || s->nhelpers == 32)
		return;
	helper *h = calloc(1, sizeof *h);
	CHECK(h != NULL);
	h->slot = slot;
	h->c = m->c;
	h->kind = b % 8 == 7 ? H_CLOSE : (b & 1) ? H_SEND : H_RECV;
	h->esz = m->esz;
	h->buf = calloc(1, m->esz + 8);
	CHECK(h->buf != NULL);
	put_seq(h->buf, m->esz, ++s->seq);
	h->deadline = ng_now() + ((b >> 3) % 4) * 100000; /* 0..300 us */
	h->st = s;
	ng_chan_retain(m->c);
	EXPECT(ng_waitgroup_add(&s->helpers_wg, 1), 0);
	int rc = ng_go(helper_fn, h);
	if (rc != 0) {
		ng_chan_release(m->c);
		ng_waitgroup_done(&s->helpers_wg);
		free(h->buf);
		free(h);
		fail("ng_go: %d", rc);
	}
	s->helpers[s->nhelpers++] = h;
	m->exact = false;
	m->content = false;
}

/* Wait for the helpers and make every channel exact again. */
static void sync_helpers(state *s)
{
	EXPECT(ng_waitgroup_wait(&s->helpers_wg), 0);
	for (int i = 0; i < s->nhelpers; i++) {
		helper *h = s->helpers[i];
		if (h->kind == H_CLOSE)
			EXPECT_IN(h->rc, SET(0, -EPIPE));
		else
			EXPECT_IN(h->rc, SET(0, -EPIPE, -ETIMEDOUT));
		if (h->kind == H_RECV && h->rc == -EPIPE)
			check_zero(h->buf, h->esz);
		if (h->slot >= 0 && h->rc == 0) {
			mchan *m = &s->ch[h->slot];
			if (h->kind == H_SEND)
				m->helpers_send++;
			else if (h->kind == H_RECV)
				m->helpers_recv++;
			else
				m->closes++;
		}
		free(h->buf);
		free(h);
	}
	s->nhelpers = 0;
	for (int i = 0; i < NCHAN; i++) {
		mchan *m = &s->ch[i];
		if (m->c == NULL || m->exact)
			continue;
		/* the interpreter's own successes are in len already; a helper's
		 * send taken by the interpreter cancelled out above */
		long long len = (long long)m->len + m->helpers_send - m->helpers_recv;
		if (len < 0 || (size_t)len > m->cap)
			fail("channel %d: length %lld outside 0..%zu after sync", i, len, m->cap);
		m->len = (size_t)len;
		m->helpers_send = m->helpers_recv = 0;
		EXPECT(ng_chan_len(m->c), m->len);
		if (m->closes > 1)
			fail("channel %d closed successfully %d times", i, m->closes);
		m->closed = m->closes == 1;
		/* side-effect free on a closed channel; -EAGAIN or 0 on an open
		 * one would change it, so only when closed */
		if (m->closed)
			EXPECT(ng_chan_try_send(m->c, sbuf), -EPIPE);
		m->exact = true;
		m->content = m->len == 0 && m->cap <= TRACKED;
		m->qh = 0;
	}
}

static void op_select(state *s, rd *r)
{
	ng_case cases[MAX_CASES];
	uint8_t b = u8(r);
	int d = b % D_COUNT;
	size_t n = (b >> 3) % (MAX_CASES + 1);
	if ((b >> 3) == 31) {
		/* no array, or one too large for any address space */
		EXPECT(ng_select(NULL, (size_t)1 << (u8(r) % 64), deadline_of(d)), -EINVAL);
		EXPECT_IN(ng_select(cases, SIZE_MAX / sizeof(ng_case) + 1 + u8(r), deadline_of(d)),
		          SET(-EINVAL, -ENOMEM));
		return;
	}
	static uint8_t sel_send[MAX_CASES][64];
	bool bad = false, exact = true, any_ready = false;
	uint64_t seqs[MAX_CASES];
	uint64_t bigseq = ++s->seq; /* all big sends share sbuf, so one number */
	for (size_t i = 0; i < n; i++) {
		uint8_t cb = u8(r);
		mchan *m = &s->ch[cb % NCHAN];
		int op = (cb >> 3) & 3;
		static const int ops[] = {NG_RECV, NG_SEND, 0, 3};
		cases[i].chan = (cb & 0x80) ? NULL : m->c;
		cases[i].op = (cb & 0x60) == 0x60 ? ops[op] : (op & 1) ? NG_SEND : NG_RECV;
		if ((cb & 0x60) == 0x60 && op == 3 && (u8(r) & 1))
			cases[i].op = INT_MIN;
		bool null_elem = (u8(r) & 7) == 0;
		seqs[i] = m->esz <= 64 ? ++s->seq : bigseq;
		cases[i].rc = 12345;
		if (cases[i].op == NG_SEND) {
			/* big elements send from the shared scratch buffer */
			void *buf = m->esz <= 64 ? sel_send[i] : sbuf;
			put_seq(buf, m->esz, seqs[i]);
			cases[i].elem = null_elem ? NULL : buf;
		} else {
			cases[i].elem = null_elem ? NULL : rbuf;
		}
		if (cases[i].chan == NULL)
			continue;
		if ((cases[i].op != NG_RECV && cases[i].op != NG_SEND) ||
		    (cases[i].op == NG_SEND && cases[i].elem == NULL && m->esz != 0))
			bad = true;
		if (!m->exact)
			exact = false;
		if (cases[i].op == NG_SEND ? send_ready(m) : recv_ready(m))
			any_ready = true;
	}
	if (bad) {
		EXPECT(ng_select(n ? cases : NULL, n, deadline_of(d)), -EINVAL);
		return;
	}
	if (exact && !any_ready && d == D_FOREVER)
		return; /* would block for good */
	if (!exact && d == D_FOREVER)
		d = D_SOON;
	int rc = ng_select(n || (b & 0x80) ? cases : NULL, n, deadline_of(d));
	if (rc < 0) {
		EXPECT_IN(rc, S_SEL);
		if (exact) {
			CHECK(!any_ready);
			if (d == D_ZERO)
				EXPECT(rc, -EAGAIN);
			else
				EXPECT(rc, -ETIMEDOUT);
		}
		for (size_t i = 0; i < n; i++)
			EXPECT(cases[i].rc, 12345);
		return;
	}
	CHECK((size_t)rc < n);
	ng_case *k = &cases[rc];
	CHECK(k->chan != NULL);
	mchan *m = NULL;
	for (int i = 0; i < NCHAN; i++)
		if (s->ch[i].c == k->chan)
			m = &s->ch[i];
	CHECK(m != NULL);
	if (k->op == NG_SEND) {
		if (m->closed) {
			EXPECT(k->rc, -EPIPE);
		} else if (m->exact) {
			EXPECT(k->rc, 0);
			CHECK(m->len < m->cap);
			q_push(m, seqs[rc]);
		} else {
			EXPECT_IN(k->rc, SET(0, -EPIPE)); /* a helper may close it */
			if (k->rc == 0)
				m->len++;
		}
	} else {
		if (m->exact) {
			CHECK(recv_ready(m));
			if (m->len > 0) {
				EXPECT(k->rc, 0);
				q_pop_check(m, k->elem);
			} else {
				EXPECT(k->rc, -EPIPE);
			}
		} else {
			EXPECT_IN(k->rc, SET(0, -EPIPE));
			if (k->rc == 0 && m->len > 0)
				m->len--;
			else if (k->rc == 0)
				m->helpers_send--;
		}
		if (k->rc == -EPIPE && k->elem != NULL)
			check_zero(k->elem, m->esz);
	}
	if (m->exact)
		EXPECT(ng_chan_len(m->c), m->len);
}

/* ---- time ---- */

static void op_time(state *s, rd *r)
{
	uint8_t b = u8(r);
	int i = (b >> 3) % NTIMER;
	switch (b % 6) {
	case 0: { /* start */
		int64_t first = duration(r), period = duration(r);
		if (b & 0x80) {
			errno = 0;
			CHECK(ng_timer_start(first, period, NULL) == NULL);
			EXPECT(errno, EINVAL);
			break;
		}
		if (s->tm[i] != NULL)
			break;
		if (period > 0 && period < 1000)
			period = 1000; /* a 1 ns ticker works, but costs a P */
		ng_chan *c = NULL;
		errno = 0;
		ng_timer *t = ng_timer_start(first, period, &c);
		if (period < 0) {
			CHECK(t == NULL);
			EXPECT(errno, EINVAL);
			break;
		}
		CHECK(t != NULL && c != NULL);
		EXPECT(ng_chan_cap(c), 1);
		EXPECT(ng_chan_elem_size(c), sizeof(int64_t));
		s->tm[i] = t;
		s->tmc[i] = c;
		break;
	}
	case 1: { /* poll its channel */
		if (s->tm[i] == NULL)
			break;
		int64_t before = ng_now(), v = 0;
		int rc = ng_chan_try_recv(s->tmc[i], &v);
		EXPECT_IN(rc, SET(0, -EAGAIN));
		if (rc == 0)
			CHECK(v > 0 && v <= before + 1000000);
		break;
	}
	case 2: /* stop */
		if (s->tm[i] == NULL) {
			EXPECT(ng_timer_stop(NULL), -EINVAL);
			break;
		}
		EXPECT(ng_timer_stop(s->tm[i]), 0);
		ng_chan_release(s->tmc[i]); /* the caller's reference outlives the timer */
		s->tm[i] = NULL;
		s->tmc[i] = NULL;
		break;
	case 3: { /* ng_after */
		int64_t ns = duration(r);
		/* a far one (up to INT64_MAX) no longer holds the next boot
		 * cycle's ng_stop once its goroutine is gone (was a finding:
		 * regress-stop-waits-for-timers.*) */
		int64_t t0 = ng_now();
		ng_chan *c = ng_after(ns);
		CHECK(c != NULL);
		if (ns <= 10000000 && t0 + ns > after_until)
			after_until = t0 + ns;
		int64_t v = 0;
		int rc = ng_chan_try_recv(c, &v);
		EXPECT_IN(rc, SET(0, -EAGAIN));
		if (rc == 0 && ns <= 10000000) /* it fired: not before its time */
			CHECK(v >= t0 + (ns > 0 ? ns : 0));
		ng_chan_release(c); /* before it fires: allowed */
		break;
	}
	case 4: { /* sleeps: only the short ones */
		int64_t ns = duration(r);
		if (ns > 50000)
			ns = 50000;
		EXPECT(ng_sleep(ns), 0);
		EXPECT(ng_sleep_until(b & 0x80 ? 0 : ng_now() - (ns > 0 ? ns : 0)), 0);
		break;
	}
	default: { /* ng_now is monotonic */
		int64_t a = ng_now(), c = ng_now();
		CHECK(a > 0 && c >= a);
		break;
	}
	}
}

/* ---- goroutines ---- */

static void spawned_fn(void *arg)
{
	state *s = arg;
	atomic_fetch_add(&s->spawned_ran, 1);
	ng_waitgroup_done(&s->helpers_wg);
}

typedef struct copied {
	state *s;
	uint64_t magic;
} copied;

static void copied_fn(void *arg)
{
	copied *c = arg;
	if (c->magic != 0x600dcafe12345678ull)
		fail("ng_go_copy: argument not copied");
	spawned_fn(c->s);
}

static void op_go(state *s, rd *r)
{
	uint8_t b = u8(r);
	ng_go_attr a = NG_GO_ATTR_INIT;
	int want = 0;
	switch (b % 5) {
	case 0:
		EXPECT(ng_go(NULL, s), -EINVAL);
		EXPECT(ng_go_attr(&a, NULL, s), -EINVAL);
		EXPECT(ng_go_copy(NULL, s, 8), -EINVAL);
		return;
	case 1: { /* ng_go_copy: sizes around a quarter of the default stack */
		static uint8_t big[1 << 16];
		copied c = {s, 0x600dcafe12345678ull};
		memcpy(big, &c, sizeof c);
		size_t size = sizeof c;
		if (b & 0x80)
			size += ((size_t)1 << (u8(r) % 16)) + u8(r);
		if (size > sizeof big)
			size = sizeof big;
		if (b & 0x40) {
			EXPECT(ng_go_copy(copied_fn, NULL, size), -EINVAL);
			/* no stack holds that much: rejected before the copy */
			EXPECT(ng_go_copy(copied_fn, big, SIZE_MAX - u8(r)), -EINVAL);
			return;
		}
		EXPECT(ng_waitgroup_add(&s->helpers_wg, 1), 0);
		int rc = ng_go_copy(copied_fn, big, size);
		if (rc != 0) {
			/* more than a quarter of the default stack */
			EXPECT(rc, -EINVAL);
			CHECK(size > 4096);
			ng_waitgroup_done(&s->helpers_wg);
			return;
		}
		s->spawned++;
		return;
	}
	default:
		break;
	}
	/* attributes */
	static const size_t stacks[] = {
	    0, 1, 16383, 16384, 65536, (size_t)1 << 20, ((size_t)1 << 34) + 1, SIZE_MAX};
	static const int procs[] = {-1, -1, 0, 1, PROCS, -2, INT_MAX, INT_MIN};
	static const int nodes[] = {-1, -1, 0, 1, 9999, -2, INT_MAX, INT_MIN};
	uint8_t c = u8(r);
	a.stack_size = stacks[c & 7];
	a.proc = procs[(c >> 3) & 7];
	a.numa_node = nodes[u8(r) & 7];
	a.flags = u8(r) & 3;
	a.name = (c & 0x40) ? "fuzz" : NULL;
	if (a.stack_size != 0 && (a.stack_size < 16384 || a.stack_size > ((size_t)1 << 34)))
		want = -EINVAL;
	if (a.proc < -1 || a.proc >= PROCS)
		want = -EINVAL;
	bool node_has_p = false;
	for (int p = 0; p < PROCS; p++)
		if (ng_topo_proc_node(p) == a.numa_node)
			node_has_p = true;
	if (a.proc == -1 && a.numa_node != -1 && !node_has_p)
		want = -EINVAL;
	EXPECT(ng_waitgroup_add(&s->helpers_wg, 1), 0);
	int rc = ng_go_attr(&a, spawned_fn, s);
	if (want != 0 || rc != 0) {
		EXPECT(rc, want);
		ng_waitgroup_done(&s->helpers_wg);
		return;
	}
	s->spawned++;
}

/* ---- sync ---- */

static void once_fn(void *arg)
{
	(*(int *)arg)++;
}

static void op_sync(state *s, rd *r)
{
	uint8_t b = u8(r);
	int d = (b >> 4) % D_COUNT;
	int64_t k;
	switch (b % 12) {
	case 0: { /* sema init */
		int64_t n = (int64_t)(u64(r) >> 1 >> (u8(r) % 64));
		if (u8(r) & 1)
			n = -n - 1;
		EXPECT(ng_sema_init(NULL, 1), -EINVAL);
		if (n < 0) {
			EXPECT(ng_sema_init(&s->sema, n), -EINVAL);
			break;
		}
		EXPECT(ng_sema_init(&s->sema, n), 0);
		s->sema_size = n;
		s->sema_cur = 0;
		break;
	}
	case 1: /* acquire */
		k = (int64_t)(u8(r) % 8) - 1;
		if (u8(r) & 1)
			k = s->sema_size + (int64_t)(u8(r) % 3) - 1;
		EXPECT(ng_sema_acquire(NULL, 1, 0), -EINVAL);
		if (k < 0 || k > s->sema_size) {
			EXPECT(ng_sema_acquire(&s->sema, k, deadline_of(d)), -EINVAL);
		} else if (s->sema_size - s->sema_cur >= k) {
			EXPECT(ng_sema_acquire(&s->sema, k, deadline_of(d)), 0);
			s->sema_cur += k;
		} else if (d == D_ZERO) {
			EXPECT(ng_sema_acquire(&s->sema, k, 0), -EAGAIN);
		} else if (d != D_FOREVER) {
			EXPECT_IN(ng_sema_acquire(&s->sema, k, deadline_of(d)),
			          d == D_SOON ? SET(-ETIMEDOUT) : S_PAST);
		}
		break;
	case 2: /* release */
		k = (int64_t)(u8(r) % 8) - 1;
		if (u8(r) & 1)
			k = s->sema_cur + (int64_t)(u8(r) % 3) - 1;
		EXPECT(ng_sema_release(NULL, 0), -EINVAL);
		if (k < 0 || k > s->sema_cur) {
			EXPECT(ng_sema_release(&s->sema, k), -EINVAL);
		} else {
			EXPECT(ng_sema_release(&s->sema, k), 0);
			s->sema_cur -= k;
		}
		break;
	case 3: /* mutex lock */
		EXPECT(ng_mutex_lock(NULL), -EINVAL);
		EXPECT(ng_mutex_lock_until(NULL, 0), -EINVAL);
		EXPECT(ng_mutex_trylock(NULL), -EINVAL);
		if (!s->mu_locked) {
			switch (d) {
			case D_FOREVER:
				EXPECT(ng_mutex_lock(&s->mu), 0);
				break;
			case D_ZERO:
				EXPECT(ng_mutex_trylock(&s->mu), 0);
				break;
			default:
				EXPECT(ng_mutex_lock_until(&s->mu, deadline_of(d)), 0);
				break;
			}
			s->mu_locked = true;
		} else if (d == D_ZERO) {
			EXPECT(ng_mutex_trylock(&s->mu), -EAGAIN);
			EXPECT(ng_mutex_lock_until(&s->mu, 0), -EAGAIN);
		} else if (d != D_FOREVER) {
			EXPECT_IN(ng_mutex_lock_until(&s->mu, deadline_of(d)),
			          d == D_SOON ? SET(-ETIMEDOUT) : S_PAST);
		}
		break;
	case 4: /* mutex unlock */
		EXPECT(ng_mutex_unlock(NULL), -EINVAL);
		EXPECT(ng_mutex_unlock(&s->mu), s->mu_locked ? 0 : -EPERM);
		s->mu_locked = false;
		break;
	case 5: /* rwmutex */
		EXPECT(ng_rwmutex_rlock(NULL), -EINVAL);
		EXPECT(ng_rwmutex_runlock(NULL), -EINVAL);
		EXPECT(ng_rwmutex_lock(NULL), -EINVAL);
		EXPECT(ng_rwmutex_unlock(NULL), -EINVAL);
		EXPECT(ng_rwmutex_tryrlock(NULL), -EINVAL);
		EXPECT(ng_rwmutex_trylock(NULL), -EINVAL);
		switch (u8(r) % 6) {
		case 0:
			if (!s->rw_writer && s->rw_readers < 100) {
				EXPECT(ng_rwmutex_rlock(&s->rw), 0);
				s->rw_readers++;
			}
			break;
		case 1:
			EXPECT(ng_rwmutex_tryrlock(&s->rw), s->rw_writer ? -EAGAIN : 0);
			if (!s->rw_writer)
				s->rw_readers++;
			break;
		case 2:
			EXPECT(ng_rwmutex_runlock(&s->rw), s->rw_readers > 0 ? 0 : -EPERM);
			if (s->rw_readers > 0)
				s->rw_readers--;
			break;
		case 3:
			if (!s->rw_writer && s->rw_readers == 0) {
				EXPECT(ng_rwmutex_lock(&s->rw), 0);
				s->rw_writer = true;
			}
			break;
		case 4: {
			bool free_ = !s->rw_writer && s->rw_readers == 0;
			EXPECT(ng_rwmutex_trylock(&s->rw), free_ ? 0 : -EAGAIN);
			if (free_)
				s->rw_writer = true;
			break;
		}
		default:
			EXPECT(ng_rwmutex_unlock(&s->rw), s->rw_writer ? 0 : -EPERM);
			s->rw_writer = false;
			break;
		}
		break;
	case 6: /* waitgroup */
		k = (int64_t)(u8(r) % 7) - 3;
		if (u8(r) == 0xff)
			k = (u8(r) & 1) ? INT64_MAX : INT64_MIN + 1;
		else if ((b & 0x80) && (u8(r) & 1))
			k = (int64_t)INT32_MAX - s->wg_count + (int64_t)(u8(r) % 3) - 1;
		{
			bool small = k > INT64_MIN / 2 && k < INT64_MAX / 2;
			int64_t n = small ? s->wg_count + k : -1;
			bool ok = small && n >= 0 && n <= INT32_MAX;
			EXPECT(ng_waitgroup_add(&s->wg, k), ok ? 0 : -EINVAL);
			if (ok)
				s->wg_count = n;
		}
		EXPECT(ng_waitgroup_add(NULL, 1), -EINVAL);
		EXPECT(ng_waitgroup_wait_until(NULL, 0), -EINVAL);
		if (s->wg_count == 0)
			EXPECT(ng_waitgroup_wait(&s->wg), 0);
		else if (d != D_FOREVER && d != D_SOON)
			EXPECT_IN(ng_waitgroup_wait_until(&s->wg, deadline_of(d)),
			          SET(-ETIMEDOUT, -EINVAL));
		break;
	case 7: /* waitgroup done */
		EXPECT(ng_waitgroup_done(&s->wg), s->wg_count > 0 ? 0 : -EINVAL);
		if (s->wg_count > 0)
			s->wg_count--;
		break;
	case 8: /* cond */
		EXPECT(ng_cond_signal(NULL), -EINVAL);
		EXPECT(ng_cond_broadcast(NULL), -EINVAL);
		EXPECT(ng_cond_wait(NULL, &s->mu), -EINVAL);
		EXPECT(ng_cond_wait_until(&s->cond, NULL, 0), -EINVAL);
		EXPECT(ng_cond_signal(&s->cond), 0);
		EXPECT(ng_cond_broadcast(&s->cond), 0);
		if (!s->mu_locked) {
			EXPECT(ng_cond_wait_until(&s->cond, &s->mu, deadline_of(d)), -EPERM);
		} else if (d != D_FOREVER) {
			/* nobody signals: it times out, holding the mutex again */
			EXPECT_IN(ng_cond_wait_until(&s->cond, &s->mu, deadline_of(d)),
			          SET(-ETIMEDOUT, -EAGAIN, -EINVAL));
			EXPECT(ng_mutex_trylock(&s->mu), -EAGAIN);
		}
		break;
	case 9: { /* once */
		static int runs;
		int before = runs;
		EXPECT(ng_once_do(NULL, once_fn, &runs), -EINVAL);
		EXPECT(ng_once_do(&s->once, NULL, &runs), -EINVAL);
		bool first = atomic_load((_Atomic int32_t *)&s->once.done) == 0;
		EXPECT(ng_once_do(&s->once, once_fn, &runs), 0);
		EXPECT(ng_once_do(&s->once, once_fn, &runs), 0);
		EXPECT(runs - before, first ? 1 : 0);
		break;
	}
	case 10: { /* pool */
		EXPECT(ng_pool_init(NULL, 8, NULL), -EINVAL);
		errno = 0;
		CHECK(ng_pool_get(NULL) == NULL);
		EXPECT(errno, EINVAL);
		ng_pool_put(NULL, NULL);
		if (!s->pool_init) {
			EXPECT(ng_pool_init(&s->pool, 1 + u8(r), NULL), 0);
			s->pool_init = true;
		}
		void *o = ng_pool_get(&s->pool);
		CHECK(o != NULL);
		memset(o, 0x5a, s->pool.size);
		ng_pool_put(&s->pool, o);
		break;
	}
	default: { /* block enter/exit */
		if (s->foreign) {
			EXPECT(ng_block_enter(), 0);
			EXPECT(ng_block_exit(), 0);
			EXPECT(ng_block_exit(), 0);
			break;
		}
		EXPECT(ng_block_exit(), -EINVAL);
		EXPECT(ng_block_enter(), 0);
		EXPECT(ng_block_enter(), -EINVAL);
		EXPECT(ng_block_exit(), 0);
		break;
	}
	}
}

/* ---- contexts ---- */

/* Cancelled by hand somewhere up the tree (deadlines aside). */
static bool ctx_cancelled(state *s, int i)
{
	for (; i >= 0; i = s->ctx[i].parent)
		if (s->ctx[i].cancelled)
			return true;
	return false;
}

static bool ctx_deadlined(state *s, int i)
{
	for (; i >= 0; i = s->ctx[i].parent)
		if (s->ctx[i].has_deadline)
			return true;
	return false;
}

static void ctx_check(state *s, int i)
{
	ng_ctx *c = s->ctx[i].c;
	int err = ng_ctx_err(c);
	ng_chan *done = ng_ctx_done(c);
	CHECK(done != NULL);
	if (!ctx_deadlined(s, i)) {
		EXPECT(err, ctx_cancelled(s, i) ? -ECANCELED : 0);
	} else {
		EXPECT_IN(err, SET(0, -ECANCELED, -ETIMEDOUT));
		if (ctx_cancelled(s, i))
			CHECK(err != 0);
	}
	int rc = ng_chan_try_recv(done, NULL);
	if (err != 0)
		EXPECT(rc, -EPIPE);
	else
		EXPECT_IN(rc, SET(-EAGAIN, -EPIPE));
	rc = ng_ctx_wait(c, 0);
	if (err != 0)
		EXPECT(rc, err);
	else
		EXPECT_IN(rc, SET(-EAGAIN, -ECANCELED, -ETIMEDOUT));
}

static void op_ctx(state *s, rd *r)
{
	uint8_t b = u8(r);
	int i = (b >> 3) % NCTX;
	mctx *m = &s->ctx[i];
	switch (b % 5) {
	case 0: { /* new */
		if (m->c != NULL)
			break;
		/* a released context's slot stays as long as its children do:
		 * their model walks up through it */
		for (int j = 0; j < NCTX; j++)
			if (s->ctx[j].c != NULL && s->ctx[j].parent == i)
				return;
		int p = u8(r) % (NCTX + 1) - 1;
		if (p >= 0 && s->ctx[p].c == NULL)
			p = -1;
		ng_ctx *parent = p >= 0 ? s->ctx[p].c : (b & 0x80) ? ng_ctx_background() : NULL;
		ng_ctx *c;
		bool dl = false;
		switch (u8(r) % 4) {
		case 0:
			c = ng_ctx_with_cancel(parent);
			break;
		case 1: {
			int64_t when = duration(r);
			if (when < 0 && when != NG_FOREVER) {
				errno = 0;
				CHECK(ng_ctx_with_deadline(parent, when) == NULL);
				EXPECT(errno, EINVAL);
				return;
			}
			c = ng_ctx_with_deadline(parent, when);
			dl = when != NG_FOREVER;
			break;
		}
		default: {
			int64_t ns = duration(r);
			c = ng_ctx_with_timeout(parent, ns);
			dl = true;
			break;
		}
		}
		CHECK(c != NULL);
		m->c = c;
		m->parent = p;
		m->cancelled = false;
		m->has_deadline = dl;
		if (!ctx_deadlined(s, i))
			EXPECT(ng_ctx_deadline(c), NG_FOREVER);
		ctx_check(s, i);
		break;
	}
	case 1: /* cancel */
		ng_ctx_cancel(NULL);
		ng_ctx_cancel(ng_ctx_background());
		if (m->c == NULL)
			break;
		ng_ctx_cancel(m->c);
		m->cancelled = true;
		ctx_check(s, i);
		break;
	case 2: /* look */
		EXPECT(ng_ctx_err(NULL), 0);
		EXPECT(ng_ctx_err(ng_ctx_background()), 0);
		EXPECT(ng_ctx_deadline(NULL), NG_FOREVER);
		EXPECT(ng_ctx_wait(NULL, 0), -EINVAL);
		EXPECT(ng_ctx_wait(ng_ctx_background(), 0), -EAGAIN);
		EXPECT(ng_chan_try_recv(ng_ctx_done(NULL), NULL), -EAGAIN);
		for (int j = 0; j < NCTX; j++)
			if (s->ctx[j].c != NULL)
				ctx_check(s, j);
		break;
	case 3: /* retain + release: still ours */
		ng_ctx_retain(NULL);
		ng_ctx_release(NULL);
		ng_ctx_retain(ng_ctx_background());
		ng_ctx_release(ng_ctx_background());
		break;
	default: /* release: cancels it (and its children) */
		if (m->c == NULL)
			break;
		ng_ctx_release(m->c);
		m->c = NULL;
		m->cancelled = true;
		/* children keep a parent index whose cancelled flag stays set */
		break;
	}
}

/* ---- descriptors ---- */

static void op_io(state *s, rd *r)
{
	uint8_t b = u8(r);
	static const int badfds[] = {-1, -2, INT_MIN, INT_MAX, 1 << 20, 1 << 30};
	int bad = badfds[u8(r) % 6];
	int d = (b >> 4) % D_COUNT;
	switch (b % 5) {
	case 0:
		EXPECT(ng_read(bad, rbuf, 8, 0), -EBADF);
		EXPECT(ng_write(bad, sbuf, 8, 0), -EBADF);
		EXPECT(ng_fd_wait(bad, NG_READABLE, 0), -EBADF);
		EXPECT(ng_fd_forget(bad), -EBADF);
		break;
	case 1:
		if (s->pipe_r < 0)
			break;
		EXPECT(ng_read(s->pipe_r, NULL, 1 + u8(r), 0), -EINVAL);
		EXPECT(ng_write(s->pipe_w, NULL, 1 + u8(r), 0), -EINVAL);
		EXPECT(ng_read(s->pipe_r, rbuf, (size_t)SSIZE_MAX + 1 + u8(r), 0), -EINVAL);
		EXPECT(ng_write(s->pipe_w, sbuf, SIZE_MAX - u8(r), 0), -EINVAL);
		EXPECT(ng_fd_wait(s->pipe_r, 0, 0), -EINVAL);
		EXPECT(ng_fd_wait(s->pipe_r, 4 | (u8(r) << 2), 0), -EINVAL);
		EXPECT(ng_read(s->pipe_r, NULL, 0, 0), 0);
		break;
	case 2: { /* write */
		if (s->pipe_w < 0)
			break;
		size_t n = ((size_t)u8(r) << (u8(r) % 10)) % (SCRATCH / 4);
		for (size_t j = 0; j < n; j++)
			sbuf[j] = (uint8_t)(s->pipe_wseq + j);
		if (d == D_FOREVER)
			d = D_ZERO;
		ssize_t rc = ng_write(s->pipe_w, sbuf, n, deadline_of(d));
		if (rc < 0) {
			CHECK(n > 0);
			EXPECT_IN(rc, d == D_ZERO ? SET(-EAGAIN) : SET(-ETIMEDOUT, -EAGAIN));
			break;
		}
		CHECK((size_t)rc <= n);
		if (s->pipe_bytes + n <= 4096)
			EXPECT(rc, n); /* a pipe holds at least a page */
		s->pipe_bytes += (size_t)rc;
		s->pipe_wseq += (size_t)rc;
		break;
	}
	case 3: { /* read */
		if (s->pipe_r < 0)
			break;
		size_t n = ((size_t)u8(r) << (u8(r) % 10)) % (SCRATCH / 4);
		if (d == D_FOREVER && s->pipe_bytes == 0)
			d = D_ZERO;
		ssize_t rc = ng_read(s->pipe_r, rbuf, n, deadline_of(d));
		if (s->pipe_bytes == 0 && n > 0) {
			EXPECT_IN(rc, d == D_ZERO ? SET(-EAGAIN) : SET(-ETIMEDOUT, -EAGAIN));
			break;
		}
		EXPECT(rc, n < s->pipe_bytes ? n : s->pipe_bytes);
		for (ssize_t j = 0; j < rc; j++)
			if (rbuf[j] != (uint8_t)(s->pipe_rseq + (size_t)j))
				fail("pipe byte %zd out of order", j);
		s->pipe_bytes -= (size_t)rc;
		s->pipe_rseq += (size_t)rc;
		break;
	}
	default: { /* readiness */
		int rc = ng_fd_wait(s->pipe_r, NG_READABLE, d == D_FOREVER ? 0 : deadline_of(d));
		if (s->pipe_bytes > 0)
			EXPECT(rc, NG_READABLE);
		else
			EXPECT_IN(rc, d == D_ZERO || d == D_FOREVER ? SET(-EAGAIN)
			                                            : SET(-ETIMEDOUT, -EAGAIN));
		if (s->pipe_bytes < 4096)
			EXPECT(ng_fd_wait(s->pipe_w, NG_WRITABLE, 0), NG_WRITABLE);
		break;
	}
	}
}

/* ---- errgroups, topology ---- */

static int group_fn(void *arg)
{
	return (int)(intptr_t)arg;
}

static void op_misc(state *s, rd *r)
{
	uint8_t b = u8(r);
	static const int procs[] = {-1, 0, PROCS - 1, PROCS, INT_MIN, INT_MAX};
	int p = procs[u8(r) % 6], q = procs[u8(r) % 6];
	bool pok = p >= 0 && p < PROCS, qok = q >= 0 && q < PROCS;
	int buf[8];
	switch (b % 3) {
	case 0: { /* errgroup: the first error, the context cancelled by it */
		EXPECT(ng_group_init(NULL, NULL), -EINVAL);
		EXPECT(ng_group_go(NULL, group_fn, NULL), -EINVAL);
		EXPECT(ng_group_wait(NULL), -EINVAL);
		ng_group g;
		ng_ctx *parent = s->ctx[(b >> 2) % NCTX].c;
		EXPECT(ng_group_init(&g, parent), 0);
		EXPECT(ng_group_go(&g, NULL, NULL), -EINVAL);
		int n = u8(r) % 5;
		bool err = false;
		int results[4];
		for (int i = 0; i < n; i++) {
			results[i] = (u8(r) & 3) == 0 ? -(int)(1 + i) : 0;
			err = err || results[i] != 0;
			EXPECT(ng_group_go(&g, group_fn, (void *)(intptr_t)results[i]), 0);
		}
		ng_ctx *gc = ng_group_ctx(&g);
		CHECK(gc != NULL);
		int rc = ng_group_wait(&g);
		if (!err) {
			EXPECT(rc, 0);
		} else {
			bool found = false;
			for (int i = 0; i < n; i++)
				found = found || (results[i] != 0 && results[i] == rc);
			if (!found)
				fail("ng_group_wait: %d, not one of the goroutines' errors", rc);
		}
		break;
	}
	case 1: /* topology: bad Ps and nodes are -EINVAL */
		CHECK(ng_topo_nnodes() >= 1);
		EXPECT(ng_topo_proc_node(p) >= 0, pok);
		if (!pok)
			EXPECT(ng_topo_proc_node(p), -EINVAL);
		EXPECT(ng_topo_proc_pus(p, NULL, 0) >= 1, pok);
		EXPECT(ng_topo_proc_pus(pok ? p : 0, NULL, 1 + u8(r) % 4), -EINVAL);
		if (pok)
			CHECK(ng_topo_proc_pus(p, buf, 8) >= 1);
		if (pok && qok)
			EXPECT_IN(ng_topo_distance(p, q), SET(0, 1, 2, 3, 4, 5, 6));
		else
			EXPECT(ng_topo_distance(p, q), -EINVAL);
		EXPECT(ng_topo_victims(pok ? p : 0, buf, 8), PROCS - 1);
		EXPECT(ng_topo_victims(pok ? p : 0, NULL, 1), -EINVAL);
		if (!pok)
			EXPECT(ng_topo_victims(p, buf, 8), -EINVAL);
		EXPECT(ng_topo_binding(pok ? p : 0, NULL, 1), -EINVAL);
		if (!pok)
			EXPECT(ng_topo_binding(p, buf, 8), -EINVAL);
		EXPECT(ng_topo_node_distance(p, q) >= 0,
		       p >= 0 && q >= 0 && p < ng_topo_nnodes() && q < ng_topo_nnodes());
		break;
	default: { /* node memory */
		static const size_t sizes[] = {0, 1, 4096, 100000, SIZE_MAX, SIZE_MAX / 2};
		size_t size = sizes[u8(r) % 6];
		int node = p;
		bool ok = size > 0 && size <= 100000 && node >= 0 && node < ng_topo_nnodes();
		errno = 0;
		void *m = ng_topo_alloc_onnode(size, node);
		if (!ok) {
			CHECK(m == NULL);
			EXPECT_IN(errno, S_NULL_ERR);
			break;
		}
		CHECK(m != NULL);
		for (size_t i = 0; i < size; i += 4096)
			EXPECT(((uint8_t *)m)[i], 0); /* zeroed */
		memset(m, 1, size);
		ng_topo_free(m, size);
		ng_topo_free(NULL, 0);
		break;
	}
	}
}

/* ---- the runtime itself ---- */

static int nop_main(void *arg)
{
	(void)arg;
	return 0;
}

static void op_runtime(state *s, rd *r)
{
	uint8_t b = u8(r);
	ng_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.procs = (int)(int8_t)u8(r) % 8;
	cfg.stack_size = (b & 1) ? (size_t)u8(r) << (u8(r) % 24) : 0;
	cfg.deadlock = (int)(int8_t)u8(r) % 4;
	cfg.time_slice = (b & 2) ? duration(r) : 0;
	bool bad = cfg.procs < 0 || (cfg.stack_size != 0 && cfg.stack_size < 16384) ||
	           cfg.deadlock < 0 || cfg.deadlock > 2 ||
	           (cfg.time_slice > 0 && cfg.time_slice < 20000);
	/* From a goroutine both are -EBUSY (or -EINVAL: the config is looked
	 * at first from a foreign thread); with the runtime running, so are
	 * the valid configs from a foreign thread. */
	if (b & 4)
		EXPECT(ng_run(&cfg, NULL, NULL), -EINVAL);
	int rc = ng_run(&cfg, nop_main, NULL);
	if (s->foreign)
		EXPECT(rc, bad ? -EINVAL : -EBUSY);
	else
		EXPECT_IN(rc, SET(-EBUSY, -EINVAL));
	rc = ng_start(b & 8 ? NULL : &cfg);
	if (s->foreign)
		EXPECT(rc, bad && !(b & 8) ? -EINVAL : -EBUSY);
	else
		EXPECT_IN(rc, SET(-EBUSY, -EINVAL));
	if (!s->foreign)
		EXPECT(ng_stop(), -EINVAL);
	EXPECT(ng_procs(), PROCS);
	if (s->foreign) {
		EXPECT(ng_id(), 0);
		EXPECT(ng_self_proc(), -1);
	} else {
		CHECK(ng_id() != 0);
		int p = ng_self_proc();
		CHECK(p >= 0 && p < PROCS);
	}
	ng_proc_stats ps;
	ng_stats st;
	EXPECT(ng_stats_proc(-1 - (int)u8(r), &ps), -EINVAL);
	EXPECT(ng_stats_proc(PROCS + (int)u8(r), &ps), -EINVAL);
	EXPECT(ng_stats_proc(0, NULL), -EINVAL);
	EXPECT(ng_stats_proc(PROCS - 1, &ps), 0);
	EXPECT(ng_stats_read(NULL), -EINVAL);
	EXPECT(ng_stats_read(&st), 0);
	CHECK(ng_num_goroutines() >= (s->foreign ? 0 : 1));
}

/* ---- one input ---- */

typedef struct job {
	const uint8_t *data;
	size_t len;
	bool foreign;
	ng_waitgroup done;
} job;

static void interpret(job *j)
{
	static state st; /* big: keep it off goroutine stacks */
	state *s = &st;
	memset(s, 0, sizeof *s);
	s->foreign = j->foreign;
	s->mu = (ng_mutex)NG_MUTEX_INIT;
	s->rw = (ng_rwmutex)NG_RWMUTEX_INIT;
	s->wg = (ng_waitgroup)NG_WAITGROUP_INIT;
	s->helpers_wg = (ng_waitgroup)NG_WAITGROUP_INIT;
	s->once = (ng_once)NG_ONCE_INIT;
	s->cond = (ng_cond)NG_COND_INIT;
	for (int i = 0; i < NCTX; i++)
		s->ctx[i].parent = -1;
	int p[2];
	if (pipe2(p, O_CLOEXEC) == 0) {
		s->pipe_r = p[0];
		s->pipe_w = p[1];
	} else {
		s->pipe_r = s->pipe_w = -1;
	}
	EXPECT(ng_sema_init(&s->sema, 4), 0);
	s->sema_size = 4;

	rd r = {j->data, j->len, 1};
	for (cur_op = 0; r.i < r.n && cur_op < MAX_OPS; cur_op++) {
		switch (u8(&r) % 14) {
		case 0:
		case 1:
			op_make(s, &r);
			break;
		case 2:
		case 3:
			op_send(s, &r);
			break;
		case 4:
		case 5:
			op_recv(s, &r);
			break;
		case 6:
			op_close(s, &r);
			break;
		case 7:
			if (u8(&r) & 1)
				op_ref(s, &r);
			else
				op_helper(s, &r);
			break;
		case 8:
			op_select(s, &r);
			break;
		case 9:
			if (u8(&r) & 1)
				op_time(s, &r);
			else
				op_ctx(s, &r);
			break;
		case 10:
			op_go(s, &r);
			break;
		case 11:
			op_sync(s, &r);
			break;
		case 12:
			op_io(s, &r);
			break;
		default: {
			uint8_t v = u8(&r);
			if (v & 1)
				op_runtime(s, &r);
			else if (v & 2)
				op_misc(s, &r);
			else
				sync_helpers(s);
			break;
		}
		}
	}

	/* Tear down: everything this input made goes, so that leaks show. */
	sync_helpers(s);
	EXPECT(atomic_load(&s->spawned_ran), s->spawned);
	for (int i = 0; i < NCHAN; i++)
		while (s->ch[i].c != NULL)
			drop_ref(s, &s->ch[i]);
	for (int i = 0; i < NTIMER; i++) {
		if (s->tm[i] != NULL) {
			EXPECT(ng_timer_stop(s->tm[i]), 0);
			ng_chan_release(s->tmc[i]);
		}
	}
	for (int i = 0; i < NCTX; i++)
		if (s->ctx[i].c != NULL)
			ng_ctx_release(s->ctx[i].c);
	if (s->mu_locked)
		EXPECT(ng_mutex_unlock(&s->mu), 0);
	if (s->pool_init)
		ng_pool_destroy(&s->pool);
	if (s->pipe_r >= 0) {
		EXPECT(ng_fd_close(s->pipe_r), 0);
		EXPECT(ng_fd_close(s->pipe_w), 0);
	}
}

static void interpret_g(void *arg)
{
	job *j = arg;
	interpret(j);
	ng_waitgroup_done(&j->done);
}

/* NUMAGO_DEBUG=asyncpreemptoff=1 for every runtime booted from now on
 * (the time slices stay: cooperative preemption at numago calls). */
static void no_async_preemption(void)
{
	const char *d = getenv("NUMAGO_DEBUG");
	char buf[512];
	snprintf(buf, sizeof buf, "%s%sasyncpreemptoff=1", d ? d : "", d && *d ? "," : "");
	setenv("NUMAGO_DEBUG", buf, 1);
}

static ng_config base_cfg(void)
{
	ng_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.procs = PROCS;
	cfg.bind = 0;
	cfg.bind_set = 1; /* libFuzzer's -jobs share the CPUs */
	cfg.time_slice = fuzz_slice;
	return cfg;
}

static int procs_main(void *arg)
{
	/* busy for a few sysmon ticks: the time slice is then looked at */
	int64_t until = ng_now() + 300000;
	while (ng_now() < until)
		;
	return ng_procs() == *(int *)arg ? 0 : -1000;
}

/* Byte 0, bits 1-4 = 0001: stop the shared runtime and boot one from a fuzzed config
 * (its own bytes come from the end of the input, so they do not shift the
 * program). */
static void boot_cycle(const uint8_t *data, size_t len)
{
	uint8_t c[8] = {0};
	for (size_t i = 0; i < 8 && i < len; i++)
		c[i] = data[len - 1 - i];
	ng_config cfg = base_cfg();
	cfg.procs = (int)(int8_t)c[0] % 5;
	if (cfg.procs == 0)
		cfg.procs = 1; /* auto means one per CPU: valid, but slow under -jobs */
	cfg.stack_size = (c[1] & 1) ? (size_t)c[2] << (c[3] % 20) : 0;
	cfg.deadlock = (int)(int8_t)c[4] % 4;
	static const int64_t slices[] = {0, -1, 1, 19999, 20000, 1000000, INT64_MIN, INT64_MAX};
	cfg.time_slice = slices[c[5] % 8];
	static const char *topos[] = {NULL,
	                              "synthetic:pack:2 numa:2 core:2 pu:1",
	                              "synthetic:numa:1 pu:3",
	                              "synthetic:bogus",
	                              "synthetic:",
	                              "nonsense",
	                              "xml:/nonexistent/topology.xml",
	                              "synthetic:pack:2 numa:0 pu:1"};
	cfg.topology = topos[c[6] % 8];
	cfg.locality = (c[7] & 1) ? -1 : 0;
	bool bad = cfg.procs < 0 || (cfg.stack_size != 0 && cfg.stack_size < 16384) ||
	           cfg.deadlock < 0 || cfg.deadlock > 2 ||
	           (cfg.time_slice > 0 && cfg.time_slice < 20000);
	if (after_until > ng_now())
		EXPECT(ng_sleep_until(after_until + 1000000), 0);
	EXPECT(ng_stop(), 0);
	int rc = ng_run(&cfg, procs_main, &cfg.procs);
	if (bad)
		EXPECT(rc, -EINVAL);
	else if (c[6] % 8 <= 2)
		EXPECT(rc, 0);
	else if (rc > 0 || rc < -4095)
		fail("ng_run with topology '%s': %d", cfg.topology, rc);
	EXPECT(ng_procs(), 0);
	cfg = base_cfg();
	EXPECT(ng_start(&cfg), 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool started;
	if (!started) {
		const char *h = getenv("NUMAGO_FUZZ_KNOWN");
		known_ok = h != NULL && strcmp(h, "1") == 0;
		h = getenv("NUMAGO_FUZZ_SLICE");
		if (h != NULL && *h != '\0')
			fuzz_slice = strtoll(h, NULL, 10);
		else
			no_async_preemption(); /* the boot cycles' runtimes too */
		ng_config cfg = base_cfg();
		if (ng_start(&cfg) != 0)
			abort();
		started = true;
	}
	if (len == 0)
		return 0;
	cur_data = data;
	cur_len = len;
	cur_op = -1;
	if ((data[0] & 0x1e) == 0x02)
		boot_cycle(data, len); /* 1 in 16: a boot costs 100 inputs */
	static job j;
	j.data = data;
	j.len = len;
	j.foreign = data[0] & 1;
	j.done = (ng_waitgroup)NG_WAITGROUP_INIT;
	if (j.foreign) {
		interpret(&j);
	} else {
		EXPECT(ng_waitgroup_add(&j.done, 1), 0);
		EXPECT(ng_go(interpret_g, &j), 0);
		EXPECT(ng_waitgroup_wait(&j.done), 0);
	}
	return 0;
}
