/* Programs of Go's test/chan/ directory, ported with their structure:
 *
 *  - sieve1: the daisy chain of filter goroutines yields the 25 primes
 *    below 100, in order.
 *  - powser1: McIlroy's power series on demand channels (split, Add, Cmul,
 *    Sub, Diff, Integ, Mul, Exp, MonSubst), with its exact rational
 *    coefficients (Exp(Ones) = 1 1 3/2 13/6 73/24 ..., ATan ...).
 *  - fifo: a buffered channel is FIFO, and receivers queued on an
 *    unbuffered channel (a daisy chain that orders them) are served FIFO.
 *  - doubleselect: a 4-case select of sends must run exactly one case:
 *    100,000 counters pass through four mux goroutines, no value twice.
 *  - select4: a select proceeds when a value is ready, writing only the
 *    chosen case's destination.
 *  - select6: Go issue 2075: a select that fails on a channel where it was
 *    the last of several waiters must leave that channel's queue intact.
 *  - select7: each of the 3 receive forms (plain, 1-case select, 2-case
 *    select) against each of the 3 send forms passes a value.
 *  - nonblock: non-blocking sends and receives for elements of 4, 8, 1 and
 *    32 bytes (Go: int32, int64, bool, string), unbuffered and buffered,
 *    retrying on a 10 us ticker like Go, up to 10,000 tries.
 *  - zerosize: channels of elem_size 0 (Go's struct{}), unbuffered and
 *    buffered, carry signals, count them, close, and need no element
 *    storage however large the capacity.
 * Go's programs leave goroutines blocked when main returns; so do these
 * (keep() tells LeakSanitizer that is on purpose). */
#define _GNU_SOURCE
#include "chan_util.h"

#include <stdatomic.h>
#include <stdbool.h>

/* Go's programs end while some goroutines are still computing ahead: once
 * main has returned the runtime refuses new goroutines (-ESRCH), and one
 * that tries is abandoned like the blocked ones. */
static void spawn_or_quit(void (*fn)(void *), const void *arg, size_t size)
{
	int rc = ng_go_copy(fn, arg, size);
	if (rc == -ESRCH)
		ng_exit();
	CHECK_EQ(rc, 0);
}
#define GO_AHEAD(fn, ...) spawn_or_quit((fn), &(__VA_ARGS__), sizeof(__VA_ARGS__))

/* ---- sieve1 ---- */

typedef struct filter_job {
	ng_chan *in, *out;
	int prime;
} filter_job;

static void generate(void *arg)
{
	ng_chan *ch = *(ng_chan **)arg;
	for (int i = 2;; i++)
		send_int(ch, i);
}

static void filter(void *arg)
{
	filter_job *j = arg;
	int i;
	while (ng_chan_recv(j->in, &i) == 0)
		if (i % j->prime != 0)
			send_int(j->out, i);
}

static void sieve(void *arg)
{
	ng_chan *primes = *(ng_chan **)arg;
	ng_chan *ch = keep(chan_make(sizeof(int), 0));
	GO_AHEAD(generate, ch);
	for (;;) {
		int prime = recv_int(ch);
		send_int(primes, prime);
		ng_chan *ch1 = keep(chan_make(sizeof(int), 0));
		GO_AHEAD(filter, (filter_job){ch, ch1, prime});
		ch = ch1;
	}
}

static void sieve1(void)
{
	ng_chan *primes = keep(chan_make(sizeof(int), 0));
	GO_AHEAD(sieve, primes);
	static const int a[] = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
	                        43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};
	for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
		int x = recv_int(primes);
		if (x != a[i])
			fprintf(stderr, "sieve1: %d != %d\n", x, a[i]);
		CHECK_EQ(x, a[i]);
	}
}

/* ---- powser1 ---- */

typedef struct rat {
	int64_t num, den; /* numerator, denominator */
} rat;

/* A power series is a demand channel: a request on req, then a rational
 * coefficient on dat.  A denominator of zero signifies the end. */
typedef struct dch {
	ng_chan *req; /* int */
	ng_chan *dat; /* rat */
} dch;
typedef struct dch2 {
	dch *d[2];
} dch2;
typedef dch *PS;

static _Atomic int seqno; /* Go's is racy; its value does not matter */
static rat zero, one, finis;
static PS Ones, Twos;

static dch *mkdch(void)
{
	dch *d = keep(calloc(1, sizeof *d));
	d->req = keep(chan_make(sizeof(int), 0));
	d->dat = keep(chan_make(sizeof(rat), 0));
	return d;
}

static dch2 *mkdch2(void)
{
	dch2 *d2 = keep(calloc(1, sizeof *d2));
	d2->d[0] = mkdch();
	d2->d[1] = mkdch();
	return d2;
}

static int next_seqno(void)
{
	return atomic_fetch_add(&seqno, 1) + 1;
}

static void send_rat(ng_chan *c, rat r)
{
	CHECK_EQ(ng_chan_send(c, &r), 0);
}

static rat recv_rat(ng_chan *c)
{
	rat r;
	CHECK_EQ(ng_chan_recv(c, &r), 0);
	return r;
}

/* split reads a single demand channel and replicates its output onto two,
 * which may be read at different rates.  A process is created at first
 * demand for a rat and dies after the rat has been sent to both outputs.
 * When multiple generations of split exist, the newest services requests
 * on out[0]; the oldest services out[1].  When data has finally been sent
 * to out[1], a signal on the release-wait channel tells the next newer
 * generation to begin servicing out[1]. */
typedef struct split_job {
	dch *in;
	dch2 *out;
	ng_chan *wait;
} split_job;

static void dosplit(void *arg)
{
	split_job j = *(split_job *)arg;
	dch2 *out = j.out;
	bool both = false; /* do not service both channels */

	ng_case first[2] = {NG_RECV_CASE(out->d[0]->req, NULL), NG_RECV_CASE(j.wait, NULL)};
	int idx = ng_select(first, 2, NG_FOREVER);
	CHECK(idx == 0 || idx == 1);
	if (idx == 1) {
		both = true;
		ng_case second[2] = {NG_RECV_CASE(out->d[0]->req, NULL),
		                     NG_RECV_CASE(out->d[1]->req, NULL)};
		idx = ng_select(second, 2, NG_FOREVER);
		CHECK(idx == 0 || idx == 1);
		if (idx == 1) {
			dch *t = out->d[0];
			out->d[0] = out->d[1];
			out->d[1] = t;
		}
	}

	send_int(j.in->req, next_seqno());
	ng_chan *release = keep(chan_make(sizeof(int), 0));
	GO_AHEAD(dosplit, (split_job){j.in, out, release});
	rat dat = recv_rat(j.in->dat);
	send_rat(out->d[0]->dat, dat);
	if (!both)
		recv_int(j.wait);
	CHECK_EQ(ng_chan_recv(out->d[1]->req, NULL), 0);
	send_rat(out->d[1]->dat, dat);
	send_int(release, 0);
}

static void split(dch *in, dch2 *out)
{
	ng_chan *release = keep(chan_make(sizeof(int), 0));
	GO_AHEAD(dosplit, (split_job){in, out, release});
	send_int(release, 0);
}

static void put(rat dat, dch *out)
{
	CHECK_EQ(ng_chan_recv(out->req, NULL), 0);
	send_rat(out->dat, dat);
}

static rat get(dch *in)
{
	send_int(in->req, next_seqno());
	return recv_rat(in->dat);
}

/* Get one rat from each of 2 demand channels */
static void get2(dch *in0, dch *in1, rat out[2])
{
	dch *in[2] = {in0, in1};
	ng_chan *req[2] = {in0->req, in1->req};
	ng_chan *dat[2] = {NULL, NULL};
	for (int n = 4; n > 0; n--) {
		int s = next_seqno();
		rat it;
		ng_case cs[4] = {NG_SEND_CASE(req[0], &s), NG_SEND_CASE(req[1], &s),
		                 NG_RECV_CASE(dat[0], &it), NG_RECV_CASE(dat[1], &it)};
		int idx = ng_select(cs, 4, NG_FOREVER);
		CHECK(idx >= 0 && idx < 4);
		CHECK_EQ(cs[idx].rc, 0);
		if (idx < 2) {
			dat[idx] = in[idx]->dat;
			req[idx] = NULL;
		} else {
			out[idx - 2] = it;
			dat[idx - 2] = NULL;
		}
	}
}

static void copy(dch *in, dch *out)
{
	for (;;) {
		CHECK_EQ(ng_chan_recv(out->req, NULL), 0);
		send_rat(out->dat, get(in));
	}
}

static int64_t gcd(int64_t u, int64_t v)
{
	if (u < 0)
		return gcd(-u, v);
	if (u == 0)
		return v;
	return gcd(v % u, u);
}

static rat i2tor(int64_t u, int64_t v)
{
	int64_t g = gcd(u, v);
	rat r;
	if (v > 0) {
		r.num = u / g;
		r.den = v / g;
	} else {
		r.num = -u / g;
		r.den = -v / g;
	}
	return r;
}

static rat itor(int64_t u)
{
	return i2tor(u, 1);
}

static int end(rat u)
{
	return u.den == 0;
}

static rat add(rat u, rat v)
{
	int64_t g = gcd(u.den, v.den);
	return i2tor(u.num * (v.den / g) + v.num * (u.den / g), u.den * (v.den / g));
}

static rat mul(rat u, rat v)
{
	int64_t g1 = gcd(u.num, v.den);
	int64_t g2 = gcd(u.den, v.num);
	rat r;
	r.num = (u.num / g1) * (v.num / g2);
	r.den = (u.den / g2) * (v.den / g1);
	return r;
}

static rat neg(rat u)
{
	return i2tor(-u.num, u.den);
}

typedef struct ps_job {
	PS U, V, Z;
	rat c;
	int n;
	dch2 *ZZ;
} ps_job;

static dch2 *Split(PS U)
{
	dch2 *UU = mkdch2();
	split(U, UU);
	return UU;
}

static void add_g(void *arg)
{
	ps_job *j = arg;
	for (;;) {
		CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
		rat uv[2];
		get2(j->U, j->V, uv);
		switch (end(uv[0]) + 2 * end(uv[1])) {
		case 0:
			send_rat(j->Z->dat, add(uv[0], uv[1]));
			break;
		case 1:
			send_rat(j->Z->dat, uv[1]);
			copy(j->V, j->Z);
			break;
		case 2:
			send_rat(j->Z->dat, uv[0]);
			copy(j->U, j->Z);
			break;
		case 3:
			send_rat(j->Z->dat, finis);
		}
	}
}

static PS Add(PS U, PS V)
{
	PS Z = mkdch();
	GO_AHEAD(add_g, (ps_job){.U = U, .V = V, .Z = Z});
	return Z;
}

static void cmul_g(void *arg)
{
	ps_job *j = arg;
	bool done = false;
	while (!done) {
		CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
		rat u = get(j->U);
		if (end(u))
			done = true;
		else
			send_rat(j->Z->dat, mul(j->c, u));
	}
	send_rat(j->Z->dat, finis);
}

/* Multiply a power series by a constant */
static PS Cmul(rat c, PS U)
{
	PS Z = mkdch();
	GO_AHEAD(cmul_g, (ps_job){.U = U, .Z = Z, .c = c});
	return Z;
}

static PS Sub(PS U, PS V)
{
	return Add(U, Cmul(neg(one), V));
}

static void repeat_g(void *arg)
{
	ps_job *j = arg;
	for (;;)
		put(j->c, j->Z);
}

static PS Rep(rat c)
{
	PS Z = mkdch();
	GO_AHEAD(repeat_g, (ps_job){.Z = Z, .c = c});
	return Z;
}

/* Multiply.  Let U = u + x*UU, V = v + x*VV;
 * then UV = u*v + x*(u*VV+v*UU) + x*x*UU*VV. */
static PS Mul(PS U, PS V);

static void mul_g(void *arg)
{
	ps_job *j = arg;
	CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
	rat uv[2];
	get2(j->U, j->V, uv);
	if (end(uv[0]) || end(uv[1])) {
		send_rat(j->Z->dat, finis);
	} else {
		send_rat(j->Z->dat, mul(uv[0], uv[1]));
		dch2 *UU = Split(j->U);
		dch2 *VV = Split(j->V);
		PS W = Add(Cmul(uv[0], VV->d[0]), Cmul(uv[1], UU->d[0]));
		CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
		send_rat(j->Z->dat, get(W));
		copy(Add(W, Mul(UU->d[1], VV->d[1])), j->Z);
	}
}

static PS Mul(PS U, PS V)
{
	PS Z = mkdch();
	GO_AHEAD(mul_g, (ps_job){.U = U, .V = V, .Z = Z});
	return Z;
}

static void diff_g(void *arg)
{
	ps_job *j = arg;
	CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
	rat u = get(j->U);
	if (!end(u)) {
		bool done = false;
		for (int64_t i = 1; !done; i++) {
			u = get(j->U);
			if (end(u)) {
				done = true;
			} else {
				send_rat(j->Z->dat, mul(itor(i), u));
				CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
			}
		}
	}
	send_rat(j->Z->dat, finis);
}

static PS Diff(PS U)
{
	PS Z = mkdch();
	GO_AHEAD(diff_g, (ps_job){.U = U, .Z = Z});
	return Z;
}

static void integ_g(void *arg)
{
	ps_job *j = arg;
	put(j->c, j->Z);
	bool done = false;
	for (int64_t i = 1; !done; i++) {
		CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
		rat u = get(j->U);
		if (end(u))
			done = true;
		send_rat(j->Z->dat, mul(i2tor(1, i), u));
	}
	send_rat(j->Z->dat, finis);
}

/* Integrate, with const of integration */
static PS Integ(rat c, PS U)
{
	PS Z = mkdch();
	GO_AHEAD(integ_g, (ps_job){.U = U, .Z = Z, .c = c});
	return Z;
}

/* Exponential of a power series with constant term 0: Z = exp(U),
 * DZ = Z*DU, integrate to get Z. */
static PS Exp(PS U)
{
	dch2 *ZZ = mkdch2();
	split(Integ(one, Mul(ZZ->d[0], Diff(U))), ZZ);
	return ZZ->d[1];
}

static void monsubst_g(void *arg)
{
	ps_job *j = arg;
	rat c = one;
	for (;;) {
		CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
		rat u = get(j->U);
		send_rat(j->Z->dat, mul(u, c));
		c = mul(c, j->c);
		if (end(u)) {
			send_rat(j->Z->dat, finis);
			break;
		}
		for (int i = 1; i < j->n; i++) {
			CHECK_EQ(ng_chan_recv(j->Z->req, NULL), 0);
			send_rat(j->Z->dat, zero);
		}
	}
}

/* Monomial substitution U(c x^n): each Ui is multiplied by c^i and
 * followed by n-1 zeros */
static PS MonSubst(PS U, rat c0, int n)
{
	PS Z = mkdch();
	GO_AHEAD(monsubst_g, (ps_job){.U = U, .Z = Z, .c = c0, .n = n});
	return Z;
}

static void check(PS U, rat c, int count, const char *str)
{
	for (int i = 0; i < count; i++) {
		rat r = get(U);
		if (r.num != c.num || r.den != c.den)
			fprintf(stderr, "powser1 %s: got %lld/%lld, should get %lld/%lld\n", str,
			        (long long)r.num, (long long)r.den, (long long)c.num,
			        (long long)c.den);
		CHECK(r.num == c.num && r.den == c.den);
	}
}

#define PN 10

static void checka(PS U, const rat *a, const char *str)
{
	for (int i = 0; i < PN; i++)
		check(U, a[i], 1, str);
}

static void powser1(void)
{
	zero = itor(0);
	one = itor(1);
	finis = i2tor(1, 0);
	Ones = Rep(one);
	Twos = Rep(itor(2));

	check(Ones, one, 5, "Ones");
	check(Add(Ones, Ones), itor(2), 0, "Add Ones Ones"); /* 1 1 1 1 1 */
	check(Add(Ones, Twos), itor(3), 0, "Add Ones Twos"); /* 3 3 3 3 3 */
	rat a[PN];
	PS d = Diff(Ones);
	for (int i = 0; i < PN; i++)
		a[i] = itor(i + 1);
	checka(d, a, "Diff"); /* 1 2 3 4 5 */
	PS in = Integ(zero, Ones);
	a[0] = zero; /* integration constant */
	for (int i = 1; i < PN; i++)
		a[i] = i2tor(1, i);
	checka(in, a, "Integ");                               /* 0 1 1/2 1/3 1/4 1/5 */
	check(Cmul(neg(one), Twos), itor(-2), 10, "CMul");    /* -1 -1 -1 -1 -1 */
	check(Sub(Ones, Twos), itor(-1), 0, "Sub Ones Twos"); /* -1 -1 -1 -1 -1 */
	PS m = Mul(Ones, Ones);
	for (int i = 0; i < PN; i++)
		a[i] = itor(i + 1);
	checka(m, a, "Mul"); /* 1 2 3 4 5 */
	PS e = Exp(Ones);
	a[0] = itor(1);
	a[1] = itor(1);
	a[2] = i2tor(3, 2);
	a[3] = i2tor(13, 6);
	a[4] = i2tor(73, 24);
	a[5] = i2tor(167, 40);
	a[6] = i2tor(4051, 720);
	a[7] = i2tor(37633, 5040);
	a[8] = i2tor(43817, 4480);
	a[9] = i2tor(4596553, 362880);
	checka(e, a, "Exp"); /* 1 1 3/2 13/6 73/24 */
	PS at = Integ(zero, MonSubst(Ones, neg(one), 2));
	for (int c = 1, i = 0; i < PN; i++) {
		if (i % 2 == 0) {
			a[i] = zero;
		} else {
			a[i] = i2tor(c, i);
			c *= -1;
		}
	}
	checka(at, a, "ATan"); /* 0 -1 0 -1/3 0 -1/5 */
}

/* ---- fifo ---- */

#define FN 10

static void asynch_fifo(void)
{
	ng_chan *ch = chan_make(sizeof(int), FN);
	for (int i = 0; i < FN; i++)
		send_int(ch, i);
	for (int i = 0; i < FN; i++)
		CHECK_EQ(recv_int(ch), i);
	ng_chan_release(ch);
}

typedef struct chain_job {
	ng_chan *ch, *in, *out;
	int val;
	ng_waitgroup *wg;
} chain_job;

static void chain(void *arg)
{
	chain_job *j = arg;
	recv_int(j->in);
	int v = recv_int(j->ch);
	if (v != j->val)
		fprintf(stderr, "fifo: chain link %d received %d\n", j->val, v);
	CHECK_EQ(v, j->val);
	send_int(j->out, 1);
	ng_waitgroup_done(j->wg);
}

/* thread together a daisy chain to read the elements in sequence */
static void synch_fifo(void)
{
	ng_chan *ch = chan_make(sizeof(int), 0);
	ng_chan *in = chan_make(sizeof(int), 0);
	ng_chan *start = in;
	ng_chan *links[FN + 1];
	links[0] = in;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, FN), 0);
	for (int i = 0; i < FN; i++) {
		ng_chan *out = chan_make(sizeof(int), 0);
		links[i + 1] = out;
		GO(chain, (chain_job){ch, in, out, i, &wg});
		in = out;
	}
	send_int(start, 0);
	for (int i = 0; i < FN; i++)
		send_int(ch, i);
	recv_int(in);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	for (int i = 0; i <= FN; i++)
		ng_chan_release(links[i]);
	ng_chan_release(ch);
}

/* ---- doubleselect ---- */

#define DS_ITER NG_TEST_SCALE(100000, 20000)

static ng_waitgroup ds_wg = NG_WAITGROUP_INIT;

typedef struct ds_job {
	ng_chan *c[4];
	ng_chan *out, *in, *done;
	int n;
} ds_job;

/* sends a counter to one of four channels; if two cases both ran in one
 * iteration, the same value would go to two channels */
static void ds_sender(void *arg)
{
	ds_job *j = arg;
	for (int i = 0; i < j->n; i++) {
		ng_case cs[4];
		for (int k = 0; k < 4; k++)
			cs[k] = NG_SEND_CASE(j->c[k], &i);
		int idx = ng_select(cs, 4, NG_FOREVER);
		CHECK(idx >= 0 && idx < 4);
		CHECK_EQ(cs[idx].rc, 0);
	}
	for (int k = 3; k >= 0; k--) /* Go's deferred closes run last first */
		CHECK_EQ(ng_chan_close(j->c[k]), 0);
	ng_waitgroup_done(&ds_wg);
}

static void ds_mux(void *arg)
{
	ds_job *j = arg;
	int v;
	while (ng_chan_recv(j->in, &v) == 0)
		send_int(j->out, v);
	bool t = true;
	CHECK_EQ(ng_chan_send(j->done, &t), 0);
	ng_waitgroup_done(&ds_wg);
}

static void ds_closer(void *arg)
{
	ds_job *j = arg;
	for (int k = 0; k < 4; k++)
		CHECK_EQ(ng_chan_recv(j->done, NULL), 0);
	CHECK_EQ(ng_chan_close(j->out), 0);
	ng_waitgroup_done(&ds_wg);
}

static int doubleselect_main(void *arg)
{
	(void)arg;
	ds_job j = {.n = DS_ITER};
	for (int k = 0; k < 4; k++)
		j.c[k] = chan_make(sizeof(int), 0);
	j.done = chan_make(sizeof(bool), 0);
	j.out = chan_make(sizeof(int), 0); /* cmux */
	CHECK_EQ(ng_waitgroup_add(&ds_wg, 6), 0);
	GO(ds_sender, j);
	for (int k = 0; k < 4; k++) {
		ds_job m = j;
		m.in = j.c[k];
		GO(ds_mux, m);
	}
	GO(ds_closer, j);
	/* recver: every value exactly once */
	unsigned char *seen = calloc((size_t)j.n, 1);
	CHECK(seen != NULL);
	int v, count = 0;
	while (ng_chan_recv(j.out, &v) == 0) {
		CHECK(v >= 0 && v < j.n);
		if (seen[v])
			fprintf(stderr, "doubleselect: got duplicate value: %d\n", v);
		CHECK(!seen[v]);
		seen[v] = 1;
		count++;
	}
	CHECK_EQ(count, j.n);
	free(seen);
	CHECK_EQ(ng_waitgroup_wait(&ds_wg), 0);
	for (int k = 0; k < 4; k++)
		ng_chan_release(j.c[k]);
	ng_chan_release(j.done);
	ng_chan_release(j.out);
	return 0;
}

/* ---- select4 ---- */

static void select4(void)
{
	struct {
		int a;
	} x = {0};
	int f_target = -777; /* Go's *f(): evaluated only if its case ran */
	ng_chan *c = chan_make(sizeof(int), 1), *c1 = chan_make(sizeof(int), 0);
	send_int(c, 42);
	ng_case cs[2] = {NG_RECV_CASE(c1, &f_target), NG_RECV_CASE(c, &x.a)};
	CHECK_EQ(ng_select(cs, 2, NG_FOREVER), 1);
	CHECK_EQ(cs[1].rc, 0);
	CHECK_EQ(x.a, 42);
	CHECK_EQ(f_target, -777);
	ng_chan_release(c);
	ng_chan_release(c1);
}

/* ---- select6 (Go issue 2075) ---- */

typedef struct s6_job {
	ng_chan *c1, *c2, *c3;
	ng_waitgroup *wg;
} s6_job;

static void s6_recv(void *arg)
{
	s6_job *j = arg;
	CHECK_EQ(ng_chan_recv(j->c1, NULL), 0);
	ng_waitgroup_done(j->wg);
}

static void s6_select(void *arg)
{
	s6_job *j = arg;
	ng_case cs[2] = {NG_RECV_CASE(j->c1, NULL), NG_RECV_CASE(j->c2, NULL)};
	int idx = ng_select(cs, 2, NG_FOREVER);
	if (idx == 0)
		fprintf(stderr, "select6: dummy\n");
	CHECK_EQ(idx, 1);
	bool t = true;
	CHECK_EQ(ng_chan_send(j->c3, &t), 0);
	CHECK_EQ(ng_chan_recv(j->c1, NULL), 0);
	ng_waitgroup_done(j->wg);
}

static void s6_send(void *arg)
{
	s6_job *j = arg;
	bool t = true;
	CHECK_EQ(ng_chan_send(j->c2, &t), 0);
	ng_waitgroup_done(j->wg);
}

static void select6(void)
{
	for (int rep = 0; rep < NG_TEST_SCALE(1000, 200); rep++) {
		ng_waitgroup wg = NG_WAITGROUP_INIT;
		CHECK_EQ(ng_waitgroup_add(&wg, 3), 0);
		s6_job j = {chan_make(sizeof(bool), 0), chan_make(sizeof(bool), 0),
		            chan_make(sizeof(bool), 0), &wg};
		GO(s6_recv, j);
		GO(s6_select, j);
		GO(s6_send, j);
		CHECK_EQ(ng_chan_recv(j.c3, NULL), 0);
		bool t = true;
		/* a corrupted c1 queue leaves one of these waiting forever */
		CHECK_EQ(ng_chan_send_until(j.c1, &t, ng_now() + 10 * SEC), 0);
		CHECK_EQ(ng_chan_send_until(j.c1, &t, ng_now() + 10 * SEC), 0);
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		ng_chan_release(j.c1);
		ng_chan_release(j.c2);
		ng_chan_release(j.c3);
	}
}

/* ---- select7 ---- */

static void recv1(void *arg)
{
	ng_chan *c = arg;
	CHECK_EQ(ng_chan_recv(c, NULL), 0);
	ng_chan_release(c);
}

static void recv2(void *arg)
{
	ng_chan *c = arg;
	ng_case cs[1] = {NG_RECV_CASE(c, NULL)};
	CHECK_EQ(ng_select(cs, 1, NG_FOREVER), 0);
	CHECK_EQ(cs[0].rc, 0);
	ng_chan_release(c);
}

static void recv3(void *arg)
{
	ng_chan *c = arg;
	ng_chan *c2 = chan_make(sizeof(int), 0);
	ng_case cs[2] = {NG_RECV_CASE(c, NULL), NG_RECV_CASE(c2, NULL)};
	CHECK_EQ(ng_select(cs, 2, NG_FOREVER), 0);
	CHECK_EQ(cs[0].rc, 0);
	ng_chan_release(c2);
	ng_chan_release(c);
}

static void send7(int form, void (*recv)(void *))
{
	ng_chan *c = chan_make(sizeof(int), 0);
	ng_chan_retain(c);
	CHECK_EQ(ng_go(recv, c), 0);
	ng_yield();
	int v = 1;
	if (form == 1) {
		CHECK_EQ(ng_chan_send(c, &v), 0);
	} else if (form == 2) {
		ng_case cs[1] = {NG_SEND_CASE(c, &v)};
		CHECK_EQ(ng_select(cs, 1, NG_FOREVER), 0);
		CHECK_EQ(cs[0].rc, 0);
	} else {
		ng_chan *c2 = chan_make(sizeof(int), 0);
		ng_case cs[2] = {NG_SEND_CASE(c, &v), NG_SEND_CASE(c2, &v)};
		CHECK_EQ(ng_select(cs, 2, NG_FOREVER), 0);
		CHECK_EQ(cs[0].rc, 0);
		ng_chan_release(c2);
	}
	ng_chan_release(c);
}

static void select7(void)
{
	void (*recvs[3])(void *) = {recv1, recv2, recv3};
	for (int rep = 0; rep < 100; rep++)
		for (int r = 0; r < 3; r++)
			for (int s = 1; s <= 3; s++)
				send7(s, recvs[r]);
}

/* ---- nonblock ---- */

typedef struct nb_type {
	const char *name;
	size_t size;
	unsigned char to_recv[32]; /* what the receiver goroutine expects */
	unsigned char to_send[32]; /* what the sender goroutine sends */
} nb_type;

typedef struct nb_job {
	ng_chan *c, *strobe;
	const nb_type *t;
} nb_job;

static void nb_receiver(void *arg)
{
	nb_job *j = arg;
	unsigned char buf[32] = {0};
	CHECK_EQ(ng_chan_recv(j->c, buf), 0);
	if (memcmp(buf, j->t->to_recv, j->t->size) != 0)
		fprintf(stderr, "nonblock: %s value\n", j->t->name);
	CHECK(memcmp(buf, j->t->to_recv, j->t->size) == 0);
	bool t = true;
	CHECK_EQ(ng_chan_send(j->strobe, &t), 0);
	ng_chan_release(j->c);
}

static void nb_sender(void *arg)
{
	nb_job *j = arg;
	CHECK_EQ(ng_chan_send(j->c, j->t->to_send), 0);
	bool t = true;
	CHECK_EQ(ng_chan_send(j->strobe, &t), 0);
	ng_chan_release(j->c);
}

static ng_chan *ticker;

static void nb_sleep(void)
{
	int64_t tick;
	CHECK_EQ(ng_chan_recv(ticker, &tick), 0);
	CHECK_EQ(ng_chan_recv(ticker, &tick), 0);
	ng_yield();
	ng_yield();
	ng_yield();
}

#define MAX_TRIES 10000 /* up to 100 ms per test */

static void nonblock(void)
{
	static nb_type types[4] = {
	    {"i32", 4, {0}, {0}},
	    {"i64", 8, {0}, {0}},
	    {"b", 1, {1}, {1}},
	    {"s", 32, "hello", "hello again"},
	};
	int32_t i32r = 123, i32s = 234;
	int64_t i64r = 123456, i64s = 234567;
	memcpy(types[0].to_recv, &i32r, 4);
	memcpy(types[0].to_send, &i32s, 4);
	memcpy(types[1].to_recv, &i64r, 8);
	memcpy(types[1].to_send, &i64s, 8);

	ng_timer *tm = ng_timer_start(10 * US, 10 * US, &ticker); /* Go: time.Tick(10 us) */
	CHECK(tm != NULL && ticker != NULL);
	ng_chan *sync = chan_make(sizeof(bool), 0);

	for (size_t buffer = 0; buffer < 2; buffer++) {
		ng_chan *cs[4];
		for (int k = 0; k < 4; k++) {
			cs[k] = chan_make(types[k].size, buffer);
			unsigned char buf[32];
			ng_case rc[1] = {NG_RECV_CASE(cs[k], buf)};
			if (ng_select(rc, 1, 0) != -EAGAIN)
				fprintf(stderr, "nonblock: blocked %ssender\n", types[k].name);
			CHECK_EQ(ng_select(rc, 1, 0), -EAGAIN);
		}
		for (int k = 0; k < 4; k++) {
			const nb_type *t = &types[k];
			ng_chan_retain(cs[k]);
			GO(nb_receiver, (nb_job){cs[k], sync, t});
			for (int try = 0;; try++) {
				ng_case sc[1] = {NG_SEND_CASE(cs[k], t->to_recv)};
				if (ng_select(sc, 1, 0) == 0)
					break;
				if (try > MAX_TRIES)
					fprintf(stderr, "nonblock: %sreceiver buffer=%zu\n",
					        t->name, buffer);
				CHECK(try <= MAX_TRIES);
				nb_sleep();
			}
			CHECK_EQ(ng_chan_recv(sync, NULL), 0);

			ng_chan_retain(cs[k]);
			GO(nb_sender, (nb_job){cs[k], sync, t});
			if (buffer > 0)
				CHECK_EQ(ng_chan_recv(sync, NULL), 0);
			unsigned char got[32] = {0};
			for (int try = 0;; try++) {
				ng_case rc[1] = {NG_RECV_CASE(cs[k], got)};
				if (ng_select(rc, 1, 0) == 0)
					break;
				if (try > MAX_TRIES)
					fprintf(stderr, "nonblock: %ssender buffer=%zu\n", t->name,
					        buffer);
				CHECK(try <= MAX_TRIES);
				nb_sleep();
			}
			if (memcmp(got, t->to_send, t->size) != 0)
				fprintf(stderr, "nonblock: %ssender value\n", t->name);
			CHECK(memcmp(got, t->to_send, t->size) == 0);
			if (buffer == 0)
				CHECK_EQ(ng_chan_recv(sync, NULL), 0);
		}
		for (int k = 0; k < 4; k++)
			ng_chan_release(cs[k]);
	}
	CHECK_EQ(ng_timer_stop(tm), 0);
	ng_chan_release(ticker);
	ng_chan_release(sync);
}

/* ---- zerosize ---- */

typedef struct zs_job {
	ng_chan *c;
	int n;
	ng_waitgroup *wg;
} zs_job;

static void zs_sender(void *arg)
{
	zs_job *j = arg;
	char unused;
	for (int i = 0; i < j->n; i++)
		CHECK_EQ(ng_chan_send(j->c, &unused), 0);
	ng_waitgroup_done(j->wg);
}

static void zerosize(void)
{
	/* Go: make(chan [0]byte), make(chan [0]byte, 1), chan struct{} */
	ng_chan *u = chan_make(0, 0), *b = chan_make(0, 1);
	CHECK_EQ(ng_chan_elem_size(u), 0);
	CHECK_EQ(ng_chan_cap(b), 1);
	char unused;

	/* unbuffered: a rendezvous that carries nothing */
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	GO(zs_sender, (zs_job){u, 1000, &wg});
	for (int i = 0; i < 1000; i++) {
		if (i % 2)
			CHECK_EQ(ng_chan_recv(u, NULL), 0);
		else
			CHECK_EQ(ng_chan_recv(u, &unused), 0);
	}
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(ng_chan_try_recv(u, NULL), -EAGAIN);
	CHECK_EQ(ng_chan_try_send(u, &unused), -EAGAIN);

	/* buffered: counts its signals */
	CHECK_EQ(ng_chan_try_send(b, &unused), 0);
	CHECK_EQ(ng_chan_len(b), 1);
	CHECK_EQ(ng_chan_try_send(b, &unused), -EAGAIN);
	ng_case sel[2] = {NG_RECV_CASE(u, NULL), NG_RECV_CASE(b, NULL)};
	CHECK_EQ(ng_select(sel, 2, NG_FOREVER), 1);
	CHECK_EQ(ng_chan_len(b), 0);

	ng_chan *big = chan_make(0, 1000);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(ng_chan_try_send(big, &unused), 0);
	CHECK_EQ(ng_chan_len(big), 1000);
	CHECK_EQ(ng_chan_try_send(big, &unused), -EAGAIN);
	CHECK_EQ(ng_chan_close(big), 0);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(ng_chan_recv(big, NULL), 0);
	CHECK_EQ(ng_chan_recv(big, NULL), -EPIPE);

	/* no element storage: Go allows any capacity for zero-size elements */
	ng_chan *huge = ng_chan_make(0, (size_t)1 << 40);
	CHECK(huge != NULL);
	CHECK_EQ(ng_chan_cap(huge), (size_t)1 << 40);
	CHECK_EQ(ng_chan_try_send(huge, &unused), 0);
	CHECK_EQ(ng_chan_len(huge), 1);

	CHECK_EQ(ng_chan_close(u), 0);
	CHECK_EQ(ng_chan_recv(u, NULL), -EPIPE);
	ng_chan_release(u);
	ng_chan_release(b);
	ng_chan_release(big);
	ng_chan_release(huge);
}

static int test_main(void *arg)
{
	(void)arg;
	zerosize();
	printf("zerosize ok\n");
	asynch_fifo();
	synch_fifo();
	printf("fifo ok\n");
	select4();
	printf("select4 ok\n");
	select6();
	printf("select6 ok\n");
	select7();
	printf("select7 ok\n");
	nonblock();
	printf("nonblock ok\n");
	sieve1();
	printf("sieve1 ok\n");
	powser1();
	printf("powser1 ok\n");
	return 0;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_EQ(ng_run(NULL, test_main, NULL), 0);
	ng_config cfg = {0};
	cfg.procs = 2; /* Go: runtime.GOMAXPROCS(2) */
	CHECK_EQ(ng_run(&cfg, doubleselect_main, NULL), 0);
	printf("doubleselect ok\n");
	printf("ok\n");
	return 0;
}
