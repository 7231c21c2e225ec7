/* tests/stress/ngstress.c — randomized concurrent programs and their model.
 *
 * Scheduling is not reproducible, so the model does not predict one outcome:
 * it checks that whatever this run observed is an outcome Go's semantics
 * allow.  Every goroutine logs each operation's result with two stamps of a
 * global sequence counter taken just before the call and just after it
 * returned (t0 < t1); "a happened before b" is claimed only when
 * a.t1 < b.t0, which real time guarantees, so no check can fire on a correct
 * runtime.  What is checked (see ngs_invariants()):
 *
 *  - values: every value is unique (sender index << 32 | sequence); one that
 *    is received was sent on that channel by a send that returned 0 (a value
 *    whose send is still blocked at a deadlock, or returned an error, is a
 *    lost wakeup / a bogus delivery), it is received at most once, and never
 *    before its send started;
 *  - delivery: when the program ends, the values sent but not received are
 *    exactly those still buffered (drained by main with try_recv, in the
 *    channel's order); after a detected deadlock their number is
 *    ng_chan_len of each channel (the buffers cannot be read safely then:
 *    receiving would ready abandoned goroutines);
 *  - FIFO per sender: two values a goroutine sent in order on one channel
 *    are never received in the opposite order (the second's receive ended
 *    before the first's started, or the first is still buffered while the
 *    second was received);
 *  - close: at most one close of a channel returns 0, a second one -EPIPE
 *    and only after the first began; a send returns -EPIPE only once a close
 *    began, and never returns 0 if it started after a close ended; a receive
 *    returns -EPIPE (with a zeroed element) only once a close began and every
 *    value sent successfully on the channel had been taken;
 *  - select returns an enabled case (never a NULL-channel one) whose rc is 0
 *    or -EPIPE (for a context's done channel: -EPIPE, and only after a
 *    cancel of it or an ancestor began), -EAGAIN only with deadline 0,
 *    -ETIMEDOUT only with a finite deadline and only once it passed; neither
 *    when a case was certainly ready (a recv or send case on a channel whose
 *    close ended before the select started, a cancelled context);
 *  - try ops: rc in {0, -EAGAIN, -EPIPE}; never -EAGAIN on a channel closed
 *    before the call; on a goroutine-private channel (OP_LOCAL) every result
 *    of try_send/try_recv/select-with-default/close/len is predicted exactly
 *    by a sequential model (-EAGAIN exactly when not ready);
 *  - deadlines: -ETIMEDOUT only after the deadline, and never from a send,
 *    receive or drain on a channel closed before the call began, nor from a
 *    Wait on a waitgroup whose last Done returned before it began; timers:
 *    ng_after and ticker values are >= creation + delay and not in the
 *    future, sleeps last at least their duration;
 *  - mutex: each counter equals the number of increments done under it, and
 *    no two goroutines are ever inside at once; trylock/lock_until results;
 *  - waitgroups: a Wait returns 0 only after every Done of the count began;
 *  - contexts: after ng_ctx_cancel, ng_ctx_err of it and its children is
 *    -ECANCELED;
 *  - termination / no lost wakeups.  Programs are of two kinds.  Bounded
 *    ones give every blocking call a finite deadline: ng_run must return 0
 *    with every goroutine finished (cfg.deadlock = NG_DEADLOCK_RETURN, so a
 *    false deadlock report is caught).  Others may block forever; then either
 *    the program terminates, or ng_run returns -EDEADLK and the model decides
 *    from the final state whether that deadlock is real: each goroutine
 *    records the blocking op it is in before calling it, and every
 *    unfinished goroutine must be in one that cannot complete: a receive
 *    (or drain, or select recv case) on an open channel that is empty and
 *    has no blocked sender in another goroutine, a send on an open full
 *    channel with no blocked receiver in another goroutine, a select all of
 *    whose enabled cases are such and whose contexts are not cancelled, a
 *    Wait on a waitgroup some of whose Dones never ran, or main's Wait for a
 *    stuck worker.  Anything else stuck (a sleep, a timer, a deadline, a
 *    mutex — never held across a blocking call) is a lost wakeup.  The
 *    report on stderr must list exactly those goroutines, each with the wait
 *    reason of its op.  Which schedule deadlocks is not decidable in
 *    advance and not asserted; that a deadlock report is consistent with
 *    the state, and that a run with a live goroutine is not reported, is.
 *    A run that hangs without a report is left to the caller's watchdog
 *    (stress_main's alarm).
 */
#define _GNU_SOURCE
#include "ngstress.h"

#include <numago.h>

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Hard limits; params are clamped to them. */
#define MAXG     12
#define MAXC     6
#define MAXOPS   24
#define MAXCASES 6
#define MAXMU    2
#define MAXWG    2
#define MAXCTX   2
#define MAXSEQ   128 /* values per sender: one per send (repeats included) or select */

#define US 1000LL
#define MS 1000000LL

enum op_kind {
	OP_SEND,
	OP_RECV,
	OP_TRY_SEND,
	OP_TRY_RECV,
	OP_SELECT,
	OP_CLOSE,
	OP_DRAIN,
	OP_AFTER,
	OP_TIMER,
	OP_SLEEP,
	OP_LOCK_INC,
	OP_WG_DONE,
	OP_WG_WAIT,
	OP_CANCEL,
	OP_LOCAL,
	OP_YIELD,
	OP_KINDS
};

static const char *const op_names[OP_KINDS] = {
    "send",  "recv",  "try_send", "try_recv", "select",  "close",  "drain", "after",
    "timer", "sleep", "lock_inc", "wg_done",  "wg_wait", "cancel", "local", "yield",
};

enum case_kind { CK_NIL_RECV, CK_NIL_SEND, CK_RECV, CK_SEND, CK_CTX, CK_AFTER };

typedef struct ngs_case {
	int8_t kind;
	int8_t obj; /* channel or context */
	int32_t ns; /* CK_AFTER */
} ngs_case;

typedef struct ngs_op {
	int8_t kind;
	int8_t obj;    /* channel, mutex, waitgroup, context; OP_LOCAL: capacity */
	int8_t ncases; /* OP_SELECT */
	int8_t flag;   /* OP_LOCK_INC: 0 lock, 1 lock+yield, 2 trylock, 3 lock_until */
	int64_t dl;    /* relative deadline: -1 forever, 0 don't block, > 0 ns */
	int32_t ns;    /* delays; OP_LOCAL: the step seed */
	int32_t period;
	int32_t count; /* ticks; OP_LOCAL: steps */
	ngs_case cases[MAXCASES];
} ngs_op;

typedef struct ngs_gor {
	int nops;
	ngs_op ops[MAXOPS];
} ngs_gor;

struct ngs_prog {
	uint64_t seed;
	int from_bytes;
	ngs_params params;
	int bounded; /* every blocking call has a finite deadline */
	int nchans, nmu, nwg, nctx;
	int caps[MAXC];
	int ctx_parent[MAXCTX]; /* -1: background */
	int ngor;
	ngs_gor g[MAXG];
};

/* ------------------------------------------------------------ generator --- */

typedef struct src {
	uint64_t s;
	const uint8_t *d;
	size_t n, i;
	int bytes;
} src;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A value in [0, k): from the seed, or from the fuzz bytes (0 once they run
 * out, which makes every loop below end early). */
static int pick(src *r, int k)
{
	if (k <= 1)
		return 0;
	if (!r->bytes)
		return (int)(splitmix(&r->s) % (uint64_t)k);
	unsigned v = 0;
	if (r->i < r->n)
		v = r->d[r->i++];
	if (k > 256 && r->i < r->n)
		v = v << 8 | r->d[r->i++];
	return (int)(v % (unsigned)k);
}

static int clampi(int v, int def, int max)
{
	if (v <= 0)
		return def;
	return v > max ? max : v;
}

static int64_t gen_deadline(src *r, const ngs_prog *p, bool allow_zero)
{
	int k = pick(r, 8);
	if (allow_zero && k == 0)
		return 0;
	if (!p->bounded && k < 6)
		return -1;
	return 20 * US + pick(r, 1000) * US;
}

static void gen_select(src *r, const ngs_prog *p, ngs_op *op)
{
	op->kind = OP_SELECT;
	op->ncases = (int8_t)(1 + pick(r, MAXCASES - 1));
	if (!p->bounded && pick(r, 40) == 0)
		op->ncases = 0; /* select {}: blocks forever */
	for (int i = 0; i < op->ncases; i++) {
		ngs_case *c = &op->cases[i];
		int k = pick(r, 20);
		c->obj = (int8_t)pick(r, p->nchans);
		if (k < 3)
			c->kind = k < 2 ? CK_NIL_RECV : CK_NIL_SEND;
		else if (k < 11)
			c->kind = CK_RECV;
		else if (k < 18)
			c->kind = CK_SEND;
		else if (k == 18 && p->nctx > 0)
			c->kind = CK_CTX, c->obj = (int8_t)pick(r, p->nctx);
		else
			c->kind = CK_AFTER, c->ns = (int32_t)(10 * US + pick(r, 500) * US);
	}
	op->dl = op->ncases == 0 ? -1 : gen_deadline(r, p, true);
}

static void gen_op(src *r, const ngs_prog *p, ngs_op *op)
{
	static const int weights[OP_KINDS] = {
	    [OP_SEND] = 20,   [OP_RECV] = 20,  [OP_TRY_SEND] = 6, [OP_TRY_RECV] = 6,
	    [OP_SELECT] = 16, [OP_CLOSE] = 3,  [OP_DRAIN] = 4,    [OP_AFTER] = 2,
	    [OP_TIMER] = 2,   [OP_SLEEP] = 2,  [OP_LOCK_INC] = 8, [OP_WG_DONE] = 4,
	    [OP_WG_WAIT] = 2, [OP_CANCEL] = 2, [OP_LOCAL] = 3,    [OP_YIELD] = 3,
	};
	int total = 0;
	for (int k = 0; k < OP_KINDS; k++)
		total += weights[k];
	int w = pick(r, total), kind = 0;
	while (w >= weights[kind])
		w -= weights[kind++];
	if ((kind == OP_WG_DONE || kind == OP_WG_WAIT) && p->nwg == 0)
		kind = OP_YIELD;
	if (kind == OP_CANCEL && p->nctx == 0)
		kind = OP_TRY_RECV;
	memset(op, 0, sizeof *op);
	op->kind = (int8_t)kind;
	op->dl = -1;
	switch (kind) {
	case OP_SEND:
	case OP_RECV:
		op->count = pick(r, 3) ? 1 : 1 + pick(r, 4); /* repeats: runs of values */
		op->obj = (int8_t)pick(r, p->nchans);
		op->dl = gen_deadline(r, p, false);
		break;
	case OP_DRAIN:
		op->obj = (int8_t)pick(r, p->nchans);
		op->dl = gen_deadline(r, p, false);
		break;
	case OP_TRY_SEND:
	case OP_TRY_RECV:
	case OP_CLOSE:
		op->obj = (int8_t)pick(r, p->nchans);
		break;
	case OP_SELECT:
		gen_select(r, p, op);
		break;
	case OP_AFTER:
	case OP_SLEEP:
		op->ns = (int32_t)(pick(r, 500) * US);
		break;
	case OP_TIMER:
		op->ns = (int32_t)(10 * US + pick(r, 300) * US);
		op->period = pick(r, 2) ? (int32_t)(50 * US + pick(r, 200) * US) : 0;
		op->count = op->period ? 1 + pick(r, 3) : 1;
		break;
	case OP_LOCK_INC:
		op->obj = (int8_t)pick(r, p->nmu);
		op->flag = (int8_t)pick(r, 4);
		op->dl = 20 * US + pick(r, 500) * US;
		break;
	case OP_WG_DONE:
	case OP_WG_WAIT:
		op->obj = (int8_t)pick(r, p->nwg);
		if (kind == OP_WG_WAIT)
			op->dl = gen_deadline(r, p, true);
		break;
	case OP_CANCEL:
		op->obj = (int8_t)pick(r, p->nctx);
		break;
	case OP_LOCAL:
		op->obj = (int8_t)pick(r, 5);
		op->ns = (int32_t)pick(r, 1 << 30);
		op->count = 1 + pick(r, 12);
		break;
	default:
		break;
	}
}

static ngs_prog *gen(src *r, const ngs_params *params, uint64_t seed, int from_bytes)
{
	ngs_prog *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	ngs_params def = {0, 0, 0};
	if (params == NULL)
		params = &def;
	p->seed = seed;
	p->from_bytes = from_bytes;
	p->params.max_goroutines = clampi(params->max_goroutines, 6, MAXG);
	p->params.max_chans = clampi(params->max_chans, 3, MAXC);
	p->params.max_ops = clampi(params->max_ops, 10, MAXOPS);
	p->bounded = pick(r, 3) == 0;
	p->nchans = 1 + pick(r, p->params.max_chans);
	for (int c = 0; c < p->nchans; c++)
		p->caps[c] = pick(r, 5);
	p->nmu = 1 + pick(r, MAXMU);
	p->nwg = pick(r, MAXWG + 1);
	p->nctx = pick(r, MAXCTX + 1);
	for (int x = 0; x < p->nctx; x++)
		p->ctx_parent[x] = x > 0 && pick(r, 2) ? x - 1 : -1;
	p->ngor = 1 + pick(r, p->params.max_goroutines);
	if (p->ngor < 2 && p->params.max_goroutines >= 2 && !from_bytes)
		p->ngor = 2;
	for (int g = 0; g < p->ngor; g++) {
		p->g[g].nops = 1 + pick(r, p->params.max_ops);
		for (int i = 0; i < p->g[g].nops; i++)
			gen_op(r, p, &p->g[g].ops[i]);
	}
	/* Half the programs get Go's usual shape on some channels: a producer
	 * closes the channel after its sends and consumers drain it until
	 * closed, so values flow to the end instead of most runs stalling on
	 * unmatched sends and receives. */
	if (p->ngor >= 2 && pick(r, 2)) {
		for (int c = 0; c < p->nchans; c++) {
			if (pick(r, 3) == 0)
				continue;
			int closer = pick(r, p->ngor);
			ngs_gor *cg = &p->g[closer];
			if (cg->nops < p->params.max_ops) {
				ngs_op *op = &cg->ops[cg->nops++];
				memset(op, 0, sizeof *op);
				op->kind = OP_CLOSE;
				op->obj = (int8_t)c;
				op->dl = -1;
			}
			for (int k = 1 + pick(r, 2); k > 0; k--) {
				int d = pick(r, p->ngor);
				ngs_gor *dg = &p->g[d];
				if (d == closer || dg->nops >= p->params.max_ops)
					continue;
				ngs_op *op = &dg->ops[dg->nops++];
				memset(op, 0, sizeof *op);
				op->kind = OP_DRAIN;
				op->obj = (int8_t)c;
				op->dl = p->bounded ? 2 * MS + pick(r, 3) * MS : -1;
			}
		}
	}
	return p;
}

ngs_prog *ngs_generate(uint64_t seed, const ngs_params *params)
{
	src r = {.s = seed};
	return gen(&r, params, seed, 0);
}

ngs_prog *ngs_from_bytes(const uint8_t *data, size_t len)
{
	src r = {.d = data, .n = len, .bytes = 1};
	/* small bounds: a fuzzer's input explores shapes, not sizes */
	ngs_params params = {6, 4, 12};
	return gen(&r, &params, 0, 1);
}

void ngs_free(ngs_prog *p)
{
	free(p);
}

uint64_t ngs_seed(const ngs_prog *p)
{
	return p->seed;
}

int ngs_goroutines(const ngs_prog *p)
{
	return p->ngor;
}

int ngs_ops(const ngs_prog *p)
{
	int n = 0;
	for (int g = 0; g < p->ngor; g++)
		n += p->g[g].nops;
	return n;
}

const char *ngs_invariants(void)
{
	return "values received at most once and only if sent (send rc 0, same channel); "
	       "sent-but-unreceived == still buffered (drained, or ng_chan_len after a "
	       "deadlock); FIFO per sender per channel; close/EPIPE order for send, recv, "
	       "close, try ops and select; select picks an enabled case, -EAGAIN only with "
	       "deadline 0, -ETIMEDOUT only after the deadline, never when a case was surely "
	       "ready; exact model of try/select-default on private channels; timer, sleep "
	       "and deadline times; mutex counters and exclusion; waitgroup Wait after every "
	       "Done; context cancel propagation; termination, or a deadlock whose stuck set "
	       "and wait reasons the final state proves and the report lists exactly";
}

/* -------------------------------------------------------------- printing --- */

static void print_dl(FILE *f, int64_t dl)
{
	if (dl < 0)
		fprintf(f, " forever");
	else if (dl == 0)
		fprintf(f, " default");
	else
		fprintf(f, " until+%lldus", (long long)(dl / US));
}

static void print_op(FILE *f, const ngs_prog *p, const ngs_op *op)
{
	(void)p;
	fprintf(f, "%s", op_names[op->kind]);
	switch (op->kind) {
	case OP_SEND:
	case OP_RECV:
	case OP_DRAIN:
		fprintf(f, " c%d", op->obj);
		if (op->count > 1)
			fprintf(f, " x%d", op->count);
		print_dl(f, op->dl);
		break;
	case OP_TRY_SEND:
	case OP_TRY_RECV:
	case OP_CLOSE:
		fprintf(f, " c%d", op->obj);
		break;
	case OP_SELECT:
		fprintf(f, " {");
		for (int i = 0; i < op->ncases; i++) {
			const ngs_case *c = &op->cases[i];
			fprintf(f, i ? ", " : "");
			switch (c->kind) {
			case CK_NIL_RECV:
				fprintf(f, "recv nil");
				break;
			case CK_NIL_SEND:
				fprintf(f, "send nil");
				break;
			case CK_RECV:
				fprintf(f, "recv c%d", c->obj);
				break;
			case CK_SEND:
				fprintf(f, "send c%d", c->obj);
				break;
			case CK_CTX:
				fprintf(f, "done x%d", c->obj);
				break;
			default:
				fprintf(f, "after %dus", (int)(c->ns / US));
			}
		}
		fprintf(f, "}");
		print_dl(f, op->dl);
		break;
	case OP_AFTER:
	case OP_SLEEP:
		fprintf(f, " %dus", (int)(op->ns / US));
		break;
	case OP_TIMER:
		fprintf(f, " first %dus period %dus ticks %d", (int)(op->ns / US),
		        (int)(op->period / US), op->count);
		break;
	case OP_LOCK_INC:
		fprintf(f, " m%d %s", op->obj,
		        (const char *[]){"lock", "lock+yield", "trylock", "lock_until"}[op->flag]);
		if (op->flag == 3)
			print_dl(f, op->dl);
		break;
	case OP_WG_DONE:
		fprintf(f, " w%d", op->obj);
		break;
	case OP_WG_WAIT:
		fprintf(f, " w%d", op->obj);
		print_dl(f, op->dl);
		break;
	case OP_CANCEL:
		fprintf(f, " x%d", op->obj);
		break;
	case OP_LOCAL:
		fprintf(f, " cap %d steps %d seed %d", op->obj, op->count, op->ns);
		break;
	default:
		break;
	}
}

static int wg_count(const ngs_prog *p, int w)
{
	int n = 0;
	for (int g = 0; g < p->ngor; g++)
		for (int i = 0; i < p->g[g].nops; i++)
			n += p->g[g].ops[i].kind == OP_WG_DONE && p->g[g].ops[i].obj == w;
	return n;
}

void ngs_print(const ngs_prog *p, FILE *f)
{
	if (p->from_bytes)
		fprintf(f, "ngstress program from fuzz bytes");
	else
		fprintf(f, "ngstress program: seed %llu (params goroutines %d chans %d ops %d)",
		        (unsigned long long)p->seed, p->params.max_goroutines, p->params.max_chans,
		        p->params.max_ops);
	fprintf(f, ", %s, %d goroutines, %d ops\n",
	        p->bounded ? "bounded (every blocking call has a deadline)" : "may block", p->ngor,
	        ngs_ops(p));
	fprintf(f, "  chans:");
	for (int c = 0; c < p->nchans; c++)
		fprintf(f, " c%d(cap %d)", c, p->caps[c]);
	fprintf(f, "; mutexes: %d", p->nmu);
	for (int w = 0; w < p->nwg; w++)
		fprintf(f, "; w%d(count %d)", w, wg_count(p, w));
	for (int x = 0; x < p->nctx; x++) {
		if (p->ctx_parent[x] < 0)
			fprintf(f, "; x%d(background)", x);
		else
			fprintf(f, "; x%d(child of x%d)", x, p->ctx_parent[x]);
	}
	fprintf(f, "\n");
	for (int g = 0; g < p->ngor; g++) {
		fprintf(f, "  ngs-g%d:", g);
		for (int i = 0; i < p->g[g].nops; i++) {
			fprintf(f, "%s", i ? "; " : " ");
			print_op(f, p, &p->g[g].ops[i]);
		}
		fprintf(f, "\n");
	}
}

/* ------------------------------------------------------------- execution --- */

enum rec_what { R_SEND, R_RECV, R_CLOSE, R_INC, R_DONE, R_WAIT, R_CANCEL, R_CTXSEL, R_LEFT };

typedef struct rec {
	int16_t g;   /* worker; -1: main */
	int16_t op;  /* index in the worker's op list */
	int8_t what; /* R_* */
	int8_t obj;  /* channel, mutex, waitgroup, context */
	int8_t sel;  /* from a select */
	int rc;
	uint64_t val; /* the value sent or received */
	uint64_t t0, t1;
} rec;

static int self_test;
static ngs_stats totals;

void ngs_get_stats(ngs_stats *out)
{
	*out = totals;
}

void ngs_set_self_test(int mode)
{
	self_test = mode;
}

typedef struct run_state {
	const ngs_prog *p;
	ng_chan *ch[MAXC];
	ng_mutex mu[MAXMU];
	long counter[MAXMU]; /* plain: the mutex is what protects it */
	_Atomic long holder[MAXMU];
	ng_waitgroup wg[MAXWG];
	ng_waitgroup all;
	ng_ctx *ctx[MAXCTX];
	_Atomic uint64_t seq;
	_Atomic uint64_t closed_at[MAXC];      /* t1 of the close that returned 0 */
	_Atomic uint64_t cancelled_at[MAXCTX]; /* t1 of the first cancel */
	_Atomic int wg_done_n[MAXWG];          /* Dones returned */
	_Atomic uint64_t wg_zero_at[MAXWG];    /* t1 of the Done that returned last */
	rec *log;
	_Atomic size_t nlog;
	size_t caplog;
	_Atomic int pending[MAXG]; /* 1 + index of the blocking op in progress */
	_Atomic int finished[MAXG];
	_Atomic int main_waiting;
	_Atomic int violated;
	char why[768];
	int drain_max; /* iterations a drain may take: every send op, and the close */
} run_state;

static run_state *R;

static const char *g_names[MAXG] = {
    "ngs-g0", "ngs-g1", "ngs-g2", "ngs-g3", "ngs-g4",  "ngs-g5",
    "ngs-g6", "ngs-g7", "ngs-g8", "ngs-g9", "ngs-g10", "ngs-g11",
};

__attribute__((format(printf, 1, 2))) static void violation(const char *fmt, ...)
{
	if (atomic_exchange(&R->violated, 1) != 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(R->why, sizeof R->why, fmt, ap);
	va_end(ap);
}

static uint64_t stamp(void)
{
	return atomic_fetch_add(&R->seq, 1) + 1;
}

static void log_rec(int g, int op, int what, int obj, int sel, int rc, uint64_t val, uint64_t t0,
                    uint64_t t1)
{
	size_t i = atomic_fetch_add(&R->nlog, 1);
	if (i >= R->caplog) {
		violation("log overflow (a drain or loop ran more often than the program allows)");
		return;
	}
	R->log[i] =
	    (rec){(int16_t)g, (int16_t)op, (int8_t)what, (int8_t)obj, (int8_t)sel, rc, val, t0, t1};
}

static int64_t abs_dl(int64_t dl, int64_t now)
{
	return dl < 0 ? NG_FOREVER : dl == 0 ? 0 : now + dl;
}

static void check_timeout(int g, int op, int rc, int64_t deadline, const char *what)
{
	if (rc != -ETIMEDOUT)
		return;
	if (deadline <= 0)
		violation("ngs-g%d op %d: %s returned -ETIMEDOUT without a finite deadline", g, op,
		          what);
	else if (ng_now() < deadline)
		violation("ngs-g%d op %d: %s returned -ETIMEDOUT %lld ns before its deadline", g,
		          op, what, (long long)(deadline - ng_now()));
}

static bool closed_before(int c, uint64_t t0)
{
	uint64_t at = atomic_load(&R->closed_at[c]);
	return at != 0 && at < t0;
}

static bool ctx_cancelled_before(int x, uint64_t t0)
{
	for (; x >= 0; x = R->p->ctx_parent[x]) {
		uint64_t at = atomic_load(&R->cancelled_at[x]);
		if (at != 0 && at < t0)
			return true;
	}
	return false;
}

/* OP_LOCAL: a channel only this goroutine uses, so a sequential model
 * predicts every result exactly. */
static void run_local(int g, int oi, const ngs_op *op)
{
	int cap = op->obj;
	ng_chan *c = ng_chan_make(sizeof(uint64_t), (size_t)cap);
	if (c == NULL) {
		violation("ngs-g%d op %d: ng_chan_make failed", g, oi);
		return;
	}
	uint64_t q[8], s = (uint64_t)op->ns;
	int qh = 0, qn = 0, closed = 0;
	uint64_t next = 1;
	for (int step = 0; step < op->count; step++) {
		int k = (int)(splitmix(&s) % 10);
		uint64_t v = 0, want_v;
		int rc, want;
		if (k < 3) {
			v = next++;
			rc = ng_chan_try_send(c, &v);
			want = closed ? -EPIPE : qn < cap ? 0 : -EAGAIN;
			if (rc == 0 && want == 0)
				q[(qh + qn++) % 8] = v;
			if (rc != want)
				violation(
				    "ngs-g%d op %d step %d: private try_send (cap %d, len %d%s) "
				    "returned %d, expected %d",
				    g, oi, step, cap, qn, closed ? ", closed" : "", rc, want);
		} else if (k < 6) {
			rc = ng_chan_try_recv(c, &v);
			want = qn > 0 ? 0 : closed ? -EPIPE : -EAGAIN;
			want_v = qn > 0 ? q[qh] : 0;
			if (rc == 0 && want == 0)
				qh = (qh + 1) % 8, qn--;
			if (rc != want || (rc != -EAGAIN && v != want_v))
				violation(
				    "ngs-g%d op %d step %d: private try_recv (cap %d, len %d%s) "
				    "returned %d value %llu, expected %d value %llu",
				    g, oi, step, cap, qn, closed ? ", closed" : "", rc,
				    (unsigned long long)v, want, (unsigned long long)want_v);
		} else if (k < 9) {
			uint64_t sv = next++, rv = 0;
			ng_case cs[4] = {NG_SEND_CASE(c, &sv), NG_RECV_CASE(c, &rv),
			                 NG_RECV_CASE(NULL, &rv), NG_SEND_CASE(NULL, &sv)};
			int rot = (int)(splitmix(&s) % 4);
			ng_case rc4[4];
			for (int i = 0; i < 4; i++)
				rc4[i] = cs[(i + rot) % 4];
			bool send_ready = closed || qn < cap, recv_ready = closed || qn > 0;
			rc = ng_select(rc4, 4, 0);
			int which = rc >= 0 ? (rc + rot) % 4 : -1;
			if (rc == -EAGAIN) {
				if (send_ready || recv_ready)
					violation(
					    "ngs-g%d op %d step %d: private select with default "
					    "returned -EAGAIN with a ready case (cap %d len %d%s)",
					    g, oi, step, cap, qn, closed ? ", closed" : "");
			} else if (which == 0) {
				int w = closed ? -EPIPE : 0;
				if (!send_ready || rc4[rc].rc != w)
					violation(
					    "ngs-g%d op %d step %d: private select ran the send "
					    "case (rc %d) when it was %sready",
					    g, oi, step, rc4[rc].rc, send_ready ? "" : "not ");
				if (!closed && rc4[rc].rc == 0)
					q[(qh + qn++) % 8] = sv;
			} else if (which == 1) {
				int w = qn > 0 ? 0 : -EPIPE;
				want_v = qn > 0 ? q[qh] : 0;
				if (!recv_ready || rc4[rc].rc != w || rv != want_v)
					violation(
					    "ngs-g%d op %d step %d: private select ran the recv "
					    "case (rc %d value %llu) when it was %sready (want %d "
					    "%llu)",
					    g, oi, step, rc4[rc].rc, (unsigned long long)rv,
					    recv_ready ? "" : "not ", w,
					    (unsigned long long)want_v);
				if (qn > 0)
					qh = (qh + 1) % 8, qn--;
			} else {
				violation(
				    "ngs-g%d op %d step %d: private select returned %d (case %d, "
				    "a nil case or an error)",
				    g, oi, step, rc, which);
			}
		} else {
			rc = ng_chan_close(c);
			if (rc != (closed ? -EPIPE : 0))
				violation(
				    "ngs-g%d op %d step %d: private close returned %d (closed "
				    "before: %d)",
				    g, oi, step, rc, closed);
			closed = 1;
		}
		if (ng_chan_len(c) != (size_t)qn)
			violation("ngs-g%d op %d step %d: private channel len %zu, model %d", g, oi,
			          step, ng_chan_len(c), qn);
	}
	ng_chan_release(c);
}

static void run_select(int g, int oi, const ngs_op *op, uint64_t *seqno)
{
	ng_case cs[MAXCASES];
	uint64_t rv[MAXCASES];
	int64_t fire[MAXCASES];
	ng_chan *afters[MAXCASES] = {0};
	bool has_send = false;
	for (int i = 0; i < op->ncases; i++)
		has_send |= op->cases[i].kind == CK_SEND;
	uint64_t sv = has_send ? ((uint64_t)(g + 1) << 32 | ++*seqno) : 0;
	int64_t start = ng_now();
	for (int i = 0; i < op->ncases; i++) {
		const ngs_case *c = &op->cases[i];
		rv[i] = ~0ULL;
		switch (c->kind) {
		case CK_NIL_RECV:
			cs[i] = NG_RECV_CASE(NULL, &rv[i]);
			break;
		case CK_NIL_SEND:
			cs[i] = NG_SEND_CASE(NULL, &sv);
			break;
		case CK_RECV:
			cs[i] = NG_RECV_CASE(R->ch[c->obj], &rv[i]);
			break;
		case CK_SEND:
			cs[i] = NG_SEND_CASE(R->ch[c->obj], &sv);
			break;
		case CK_CTX:
			cs[i] = NG_RECV_CASE(ng_ctx_done(R->ctx[c->obj]), NULL);
			break;
		default:
			afters[i] = ng_after(c->ns);
			if (afters[i] == NULL)
				violation("ngs-g%d op %d: ng_after failed", g, oi);
			cs[i] = NG_RECV_CASE(afters[i], &fire[i]);
		}
	}
	int64_t deadline = abs_dl(op->dl, ng_now());
	atomic_store(&R->pending[g], oi + 1);
	uint64_t t0 = stamp();
	int r = ng_select(cs, (size_t)op->ncases, deadline);
	uint64_t t1 = stamp();
	atomic_store(&R->pending[g], 0);
	if (r >= 0) {
		const ngs_case *c = r < op->ncases ? &op->cases[r] : NULL;
		int rc = c ? cs[r].rc : 0;
		if (c == NULL) {
			violation("ngs-g%d op %d: select returned %d of %d cases", g, oi, r,
			          op->ncases);
		} else if (rc != 0 && rc != -EPIPE) {
			violation("ngs-g%d op %d: select case %d rc %d", g, oi, r, rc);
		} else if (c->kind == CK_NIL_RECV || c->kind == CK_NIL_SEND) {
			violation("ngs-g%d op %d: select returned nil-channel case %d", g, oi, r);
		} else if (c->kind == CK_RECV) {
			if (rc == -EPIPE && rv[r] != 0)
				violation("ngs-g%d op %d: select recv -EPIPE left element %llx", g,
				          oi, (unsigned long long)rv[r]);
			log_rec(g, oi, R_RECV, c->obj, 1, rc, rc == 0 ? rv[r] : 0, t0, t1);
		} else if (c->kind == CK_SEND) {
			log_rec(g, oi, R_SEND, c->obj, 1, rc, sv, t0, t1);
		} else if (c->kind == CK_CTX) {
			if (rc != -EPIPE)
				violation("ngs-g%d op %d: select on done(x%d) rc %d, not -EPIPE", g,
				          oi, c->obj, rc);
			log_rec(g, oi, R_CTXSEL, c->obj, 1, rc, 0, t0, t1);
		} else {
			if (rc != 0 || fire[r] < start + c->ns || fire[r] > ng_now())
				violation("ngs-g%d op %d: select's after(%dus) case rc %d fired at "
				          "start%+lldns",
				          g, oi, (int)(c->ns / US), rc,
				          (long long)(fire[r] - start));
		}
	} else if (r == -EAGAIN || r == -ETIMEDOUT) {
		if (r == -EAGAIN && op->dl != 0)
			violation("ngs-g%d op %d: select returned -EAGAIN with a %s deadline", g,
			          oi, op->dl < 0 ? "forever" : "finite");
		if (r == -ETIMEDOUT)
			check_timeout(g, oi, r, op->dl <= 0 ? op->dl : deadline, "select");
		for (int i = 0; i < op->ncases; i++) {
			const ngs_case *c = &op->cases[i];
			if ((c->kind == CK_RECV || c->kind == CK_SEND) && closed_before(c->obj, t0))
				violation("ngs-g%d op %d: select returned %d although case %d's "
				          "channel c%d was closed before it began",
				          g, oi, r, i, c->obj);
			if (c->kind == CK_CTX && ctx_cancelled_before(c->obj, t0))
				violation("ngs-g%d op %d: select returned %d although case %d's "
				          "context x%d was cancelled before it began",
				          g, oi, r, i, c->obj);
		}
	} else {
		violation("ngs-g%d op %d: select returned %d", g, oi, r);
	}
	for (int i = 0; i < op->ncases; i++)
		ng_chan_release(afters[i]);
}

static void run_op(int g, int oi, const ngs_op *op, uint64_t *seqno)
{
	ng_chan *c = op->obj >= 0 && op->obj < MAXC ? R->ch[op->obj] : NULL;
	uint64_t v, t0, t1;
	int64_t deadline, start;
	int rc;
	switch (op->kind) {
	case OP_SEND:
	case OP_TRY_SEND:
		for (int k = 0; k < (op->count > 1 ? op->count : 1); k++) {
			v = (uint64_t)(g + 1) << 32 | ++*seqno;
			deadline = op->kind == OP_TRY_SEND ? 0 : abs_dl(op->dl, ng_now());
			atomic_store(&R->pending[g], oi + 1);
			t0 = stamp();
			rc = op->kind == OP_TRY_SEND ? ng_chan_try_send(c, &v)
			     : op->dl < 0            ? ng_chan_send(c, &v)
			                             : ng_chan_send_until(c, &v, deadline);
			t1 = stamp();
			atomic_store(&R->pending[g], 0);
			if (rc != 0 && rc != -EPIPE &&
			    !(rc == -EAGAIN && op->kind == OP_TRY_SEND) &&
			    !(rc == -ETIMEDOUT && op->kind == OP_SEND))
				violation("ngs-g%d op %d: %s returned %d", g, oi,
				          op_names[op->kind], rc);
			check_timeout(g, oi, rc, deadline, op_names[op->kind]);
			if ((rc == -EAGAIN || rc == -ETIMEDOUT) && closed_before(op->obj, t0))
				violation(
				    "ngs-g%d op %d: %s returned %d on c%d, closed before it began",
				    g, oi, op_names[op->kind], rc, op->obj);
			log_rec(g, oi, R_SEND, op->obj, 0, rc, v, t0, t1);
		}
		break;
	case OP_RECV:
	case OP_TRY_RECV:
		for (int k = 0; k < (op->count > 1 ? op->count : 1); k++) {
			v = ~0ULL;
			deadline = op->kind == OP_TRY_RECV ? 0 : abs_dl(op->dl, ng_now());
			atomic_store(&R->pending[g], oi + 1);
			t0 = stamp();
			rc = op->kind == OP_TRY_RECV ? ng_chan_try_recv(c, &v)
			     : op->dl < 0            ? ng_chan_recv(c, &v)
			                             : ng_chan_recv_until(c, &v, deadline);
			t1 = stamp();
			atomic_store(&R->pending[g], 0);
			if (rc != 0 && rc != -EPIPE &&
			    !(rc == -EAGAIN && op->kind == OP_TRY_RECV) &&
			    !(rc == -ETIMEDOUT && op->kind == OP_RECV))
				violation("ngs-g%d op %d: %s returned %d", g, oi,
				          op_names[op->kind], rc);
			check_timeout(g, oi, rc, deadline, op_names[op->kind]);
			if (rc == -EPIPE && v != 0)
				violation("ngs-g%d op %d: %s -EPIPE left element %llx", g, oi,
				          op_names[op->kind], (unsigned long long)v);
			if ((rc == -EAGAIN || rc == -ETIMEDOUT) && closed_before(op->obj, t0))
				violation(
				    "ngs-g%d op %d: %s returned %d on c%d, closed before it began",
				    g, oi, op_names[op->kind], rc, op->obj);
			if (rc == 0 || rc == -EPIPE)
				log_rec(g, oi, R_RECV, op->obj, 0, rc, rc == 0 ? v : 0, t0, t1);
		}
		break;
	case OP_DRAIN:
		deadline = abs_dl(op->dl, ng_now());
		for (int n = 0;; n++) {
			if (n > R->drain_max) {
				violation(
				    "ngs-g%d op %d: drain of c%d received more values than the "
				    "program sends",
				    g, oi, op->obj);
				break;
			}
			v = ~0ULL;
			atomic_store(&R->pending[g], oi + 1);
			t0 = stamp();
			rc = op->dl < 0 ? ng_chan_recv(c, &v) : ng_chan_recv_until(c, &v, deadline);
			t1 = stamp();
			atomic_store(&R->pending[g], 0);
			check_timeout(g, oi, rc, deadline, "drain");
			if (rc == -ETIMEDOUT && closed_before(op->obj, t0))
				violation(
				    "ngs-g%d op %d: drain timed out on c%d, closed before the "
				    "receive began",
				    g, oi, op->obj);
			if (rc == -ETIMEDOUT)
				break;
			if (rc != 0 && rc != -EPIPE) {
				violation("ngs-g%d op %d: drain recv returned %d", g, oi, rc);
				break;
			}
			if (rc == -EPIPE && v != 0)
				violation("ngs-g%d op %d: drain -EPIPE left element %llx", g, oi,
				          (unsigned long long)v);
			log_rec(g, oi, R_RECV, op->obj, 0, rc, rc == 0 ? v : 0, t0, t1);
			if (rc == -EPIPE)
				break;
		}
		break;
	case OP_SELECT:
		run_select(g, oi, op, seqno);
		break;
	case OP_CLOSE:
		t0 = stamp();
		rc = ng_chan_close(c);
		t1 = stamp();
		if (rc == 0)
			atomic_store(&R->closed_at[op->obj], t1);
		else if (rc != -EPIPE)
			violation("ngs-g%d op %d: close returned %d", g, oi, rc);
		log_rec(g, oi, R_CLOSE, op->obj, 0, rc, 0, t0, t1);
		break;
	case OP_AFTER: {
		start = ng_now();
		ng_chan *a = ng_after(op->ns);
		int64_t fired = 0;
		atomic_store(&R->pending[g], oi + 1);
		rc = a ? ng_chan_recv(a, &fired) : -ENOMEM;
		atomic_store(&R->pending[g], 0);
		if (rc != 0 || fired < start + op->ns || fired > ng_now())
			violation("ngs-g%d op %d: after(%dus): rc %d, fired at start%+lldns", g, oi,
			          (int)(op->ns / US), rc, (long long)(fired - start));
		ng_chan_release(a);
		break;
	}
	case OP_TIMER: {
		ng_chan *tc = NULL;
		start = ng_now();
		ng_timer *t = ng_timer_start(op->ns, op->period, &tc);
		if (t == NULL) {
			violation("ngs-g%d op %d: ng_timer_start failed", g, oi);
			break;
		}
		int64_t prev = start + op->ns;
		for (int k = 0; k < op->count; k++) {
			int64_t fired = 0;
			atomic_store(&R->pending[g], oi + 1);
			rc = ng_chan_recv(tc, &fired);
			atomic_store(&R->pending[g], 0);
			if (rc != 0 || fired < prev || fired > ng_now())
				violation("ngs-g%d op %d: timer tick %d: rc %d, fired at "
				          "start%+lldns, previous bound start%+lldns",
				          g, oi, k, rc, (long long)(fired - start),
				          (long long)(prev - start));
			prev = fired;
		}
		if (ng_timer_stop(t) != 0)
			violation("ngs-g%d op %d: ng_timer_stop failed", g, oi);
		ng_chan_release(tc);
		break;
	}
	case OP_SLEEP:
		start = ng_now();
		atomic_store(&R->pending[g], oi + 1);
		rc = ng_sleep(op->ns);
		atomic_store(&R->pending[g], 0);
		if (rc != 0 || ng_now() - start < op->ns)
			violation("ngs-g%d op %d: sleep(%dus) rc %d after %lldns", g, oi,
			          (int)(op->ns / US), rc, (long long)(ng_now() - start));
		break;
	case OP_LOCK_INC: {
		int m = op->obj;
		atomic_store(&R->pending[g], oi + 1);
		if (op->flag == 2)
			rc = ng_mutex_trylock(&R->mu[m]);
		else if (op->flag == 3)
			rc = ng_mutex_lock_until(&R->mu[m], ng_now() + op->dl);
		else
			rc = ng_mutex_lock(&R->mu[m]);
		atomic_store(&R->pending[g], 0);
		if (rc != 0) {
			if (!((op->flag == 2 && rc == -EAGAIN) ||
			      (op->flag == 3 && rc == -ETIMEDOUT)))
				violation("ngs-g%d op %d: lock of m%d (mode %d) returned %d", g, oi,
				          m, op->flag, rc);
			break;
		}
		long other = atomic_exchange(&R->holder[m], g + 1);
		if (other != 0)
			violation("ngs-g%d op %d: m%d locked while ngs-g%ld holds it", g, oi, m,
			          other - 1);
		long val = R->counter[m];
		if (op->flag == 1)
			ng_yield();
		R->counter[m] = val + 1;
		t0 = stamp();
		log_rec(g, oi, R_INC, m, 0, 0, 0, t0, t0);
		if (atomic_exchange(&R->holder[m], 0) != g + 1)
			violation("ngs-g%d op %d: m%d holder changed while locked", g, oi, m);
		rc = ng_mutex_unlock(&R->mu[m]);
		if (rc != 0)
			violation("ngs-g%d op %d: unlock of m%d returned %d", g, oi, m, rc);
		break;
	}
	case OP_WG_DONE:
		t0 = stamp();
		rc = ng_waitgroup_done(&R->wg[op->obj]);
		t1 = stamp();
		if (rc != 0)
			violation("ngs-g%d op %d: done(w%d) returned %d", g, oi, op->obj, rc);
		if (atomic_fetch_add(&R->wg_done_n[op->obj], 1) + 1 == wg_count(R->p, op->obj))
			atomic_store(&R->wg_zero_at[op->obj], t1);
		log_rec(g, oi, R_DONE, op->obj, 0, rc, 0, t0, t1);
		break;
	case OP_WG_WAIT:
		deadline = abs_dl(op->dl, ng_now());
		atomic_store(&R->pending[g], oi + 1);
		t0 = stamp();
		rc = op->dl < 0 ? ng_waitgroup_wait(&R->wg[op->obj])
		                : ng_waitgroup_wait_until(&R->wg[op->obj], deadline);
		t1 = stamp();
		atomic_store(&R->pending[g], 0);
		if (rc != 0 && rc != -ETIMEDOUT)
			violation("ngs-g%d op %d: wait(w%d) returned %d", g, oi, op->obj, rc);
		if (rc == -ETIMEDOUT && op->dl == 0)
			deadline = 1; /* deadline 0 times out at once: any time is after it */
		check_timeout(g, oi, rc, deadline, "wait");
		if (rc == -ETIMEDOUT && atomic_load(&R->wg_zero_at[op->obj]) != 0 &&
		    atomic_load(&R->wg_zero_at[op->obj]) < t0)
			violation("ngs-g%d op %d: wait(w%d) timed out although its count reached 0 "
			          "before it began",
			          g, oi, op->obj);
		log_rec(g, oi, R_WAIT, op->obj, 0, rc, 0, t0, t1);
		break;
	case OP_CANCEL: {
		int x = op->obj;
		t0 = stamp();
		ng_ctx_cancel(R->ctx[x]);
		t1 = stamp();
		uint64_t zero = 0;
		atomic_compare_exchange_strong(&R->cancelled_at[x], &zero, t1);
		log_rec(g, oi, R_CANCEL, x, 0, 0, 0, t0, t1);
		/* Go cancels the children inside cancel(), before it returns */
		for (int y = 0; y < R->p->nctx; y++) {
			bool below = false;
			for (int a = y; a >= 0; a = R->p->ctx_parent[a])
				below |= a == x;
			if (below && ng_ctx_err(R->ctx[y]) != -ECANCELED)
				violation("ngs-g%d op %d: after cancel(x%d), err(x%d) = %d", g, oi,
				          x, y, ng_ctx_err(R->ctx[y]));
		}
		break;
	}
	case OP_LOCAL:
		run_local(g, oi, op);
		break;
	default:
		ng_yield();
	}
}

static void worker(void *arg)
{
	int g = (int)(intptr_t)arg;
	const ngs_gor *gr = &R->p->g[g];
	uint64_t seqno = 0;
	for (int i = 0; i < gr->nops; i++)
		run_op(g, i, &gr->ops[i], &seqno);
	atomic_store(&R->finished[g], 1);
	ng_waitgroup_done(&R->all);
}

static int main_g(void *arg)
{
	(void)arg;
	const ngs_prog *p = R->p;
	for (int x = 0; x < p->nctx; x++) {
		R->ctx[x] =
		    ng_ctx_with_cancel(p->ctx_parent[x] < 0 ? NULL : R->ctx[p->ctx_parent[x]]);
		if (R->ctx[x] == NULL)
			return -ENOMEM;
	}
	for (int w = 0; w < p->nwg; w++)
		ng_waitgroup_add(&R->wg[w], wg_count(p, w));
	ng_waitgroup_add(&R->all, p->ngor);
	for (int g = 0; g < p->ngor; g++) {
		ng_go_attr attr = NG_GO_ATTR_INIT;
		attr.name = g_names[g];
		int rc = ng_go_attr(&attr, worker, (void *)(intptr_t)g);
		if (rc != 0) {
			violation("ng_go failed: %d", rc);
			ng_waitgroup_done(&R->all);
		}
	}
	atomic_store(&R->main_waiting, 1);
	ng_waitgroup_wait(&R->all);
	atomic_store(&R->main_waiting, 0);
	/* Every goroutine has finished: what is still buffered was sent and
	 * never received. */
	for (int c = 0; c < p->nchans; c++) {
		for (int n = 0; n <= p->caps[c]; n++) {
			uint64_t v = ~0ULL;
			uint64_t t0 = stamp();
			int rc = ng_chan_try_recv(R->ch[c], &v);
			if (rc != 0) {
				if (rc != -EAGAIN && rc != -EPIPE)
					violation("main: drain of c%d: try_recv returned %d", c,
					          rc);
				if (rc == -EAGAIN && closed_before(c, t0))
					violation(
					    "main: drain of closed c%d: try_recv returned -EAGAIN",
					    c);
				break;
			}
			if (n == p->caps[c])
				violation("main: c%d (cap %d) held more than its capacity", c,
				          p->caps[c]);
			log_rec(-1, n, R_LEFT, c, 0, 0, v, t0, t0);
		}
	}
	return 0;
}

/* ------------------------------------------------------------- the model --- */

typedef struct vinfo {
	int send;  /* log index of the send that returned 0, -1: none */
	int nrecv; /* receives (including main's drain) */
	int recv;  /* log index of the (first) receive */
} vinfo;

static bool value_slot(uint64_t v, int *slot)
{
	uint64_t g = (v >> 32) - 1, s = v & 0xffffffffu;
	if ((v >> 32) == 0 || g >= MAXG || s == 0 || s >= MAXSEQ)
		return false;
	*slot = (int)(g * MAXSEQ + s);
	return true;
}

static int close_ok(rec *log, size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if (log[i].what == R_CLOSE && log[i].obj == c && log[i].rc == 0)
			return (int)i;
	return -1;
}

static const char *expected_reason(const ngs_op *op)
{
	switch (op->kind) {
	case OP_SEND:
		return "chan send";
	case OP_RECV:
	case OP_DRAIN:
		return "chan receive";
	case OP_SELECT:
		return op->ncases == 0 ? "select (no cases)" : "select";
	case OP_WG_WAIT:
		return "sync.WaitGroup.Wait";
	default:
		return NULL;
	}
}

static bool all_nil(const ngs_op *op)
{
	for (int i = 0; i < op->ncases; i++)
		if (op->cases[i].kind != CK_NIL_RECV && op->cases[i].kind != CK_NIL_SEND)
			return false;
	return true;
}

/* The stuck-goroutine model after a deadlock (see the file's comment). */
static void check_deadlock(const char *report, size_t nlog)
{
	const ngs_prog *p = R->p;
	rec *log = R->log;
	bool closed[MAXC];
	size_t len[MAXC];
	for (int c = 0; c < p->nchans; c++) {
		closed[c] = close_ok(log, nlog, c) >= 0;
		len[c] = ng_chan_len(R->ch[c]);
	}
	bool cancelled[MAXCTX] = {0};
	for (size_t i = 0; i < nlog; i++)
		if (log[i].what == R_CANCEL)
			for (int x = 0; x < p->nctx; x++)
				for (int a = x; a >= 0; a = p->ctx_parent[a])
					cancelled[x] |= a == log[i].obj;
	int dones[MAXWG] = {0};
	for (size_t i = 0; i < nlog; i++)
		if (log[i].what == R_DONE)
			dones[log[i].obj]++;
	/* who is stuck where, and which channel ends each one offers */
	const ngs_op *stuck[MAXG] = {0};
	unsigned srecv[MAXC] = {0}, ssend[MAXC] = {0};
	int nstuck = 0;
	for (int g = 0; g < p->ngor; g++) {
		if (atomic_load(&R->finished[g]))
			continue;
		int pend = atomic_load(&R->pending[g]);
		if (pend == 0) {
			violation("deadlock reported while ngs-g%d was neither finished nor in a "
			          "blocking call",
			          g);
			return;
		}
		const ngs_op *op = &p->g[g].ops[pend - 1];
		stuck[g] = op;
		nstuck++;
		if (op->kind == OP_RECV || op->kind == OP_DRAIN)
			srecv[op->obj] |= 1u << g;
		if (op->kind == OP_SEND)
			ssend[op->obj] |= 1u << g;
		if (op->kind == OP_SELECT)
			for (int i = 0; i < op->ncases; i++) {
				if (op->cases[i].kind == CK_RECV)
					srecv[op->cases[i].obj] |= 1u << g;
				if (op->cases[i].kind == CK_SEND)
					ssend[op->cases[i].obj] |= 1u << g;
			}
	}
	for (int g = 0; g < p->ngor; g++) {
		const ngs_op *op = stuck[g];
		if (op == NULL)
			continue;
		int oi = (int)(op - p->g[g].ops);
		if (expected_reason(op) == NULL || op->dl >= 0) {
			violation(
			    "deadlock reported with ngs-g%d stuck in op %d (%s%s), which always "
			    "completes: a lost wakeup",
			    g, oi, op_names[op->kind], op->dl >= 0 ? " with a deadline" : "");
			return;
		}
		unsigned others = ~(1u << g);
		int n = op->kind == OP_SELECT ? op->ncases : 1;
		for (int i = 0; i < n; i++) {
			int kind = op->kind == OP_SELECT    ? op->cases[i].kind
			           : op->kind == OP_SEND    ? CK_SEND
			           : op->kind == OP_WG_WAIT ? -1
			                                    : CK_RECV;
			int c = op->kind == OP_SELECT ? op->cases[i].obj : op->obj;
			const char *ready = NULL;
			if (kind == -1 && dones[c] >= wg_count(p, c))
				ready = "its waitgroup's count reached zero";
			if (kind == CK_RECV &&
			    (closed[c] || len[c] > 0 || (ssend[c] & others) != 0))
				ready = closed[c] ? "its channel is closed"
				        : len[c]  ? "its channel holds values"
				                  : "another goroutine is blocked sending on it";
			if (kind == CK_SEND &&
			    (closed[c] || len[c] < (size_t)p->caps[c] || (srecv[c] & others) != 0))
				ready = closed[c] ? "its channel is closed"
				        : len[c] < (size_t)p->caps[c]
				            ? "its channel has room"
				            : "another goroutine is blocked receiving on it";
			if (kind == CK_CTX && cancelled[c])
				ready = "its context is cancelled";
			if (kind == CK_AFTER)
				ready = "its timer fires";
			if (ready != NULL) {
				violation(
				    "deadlock reported with ngs-g%d stuck in op %d (%s, case %d "
				    "on %d) although %s: a lost wakeup (c lens: %zu %zu %zu)",
				    g, oi, op_names[op->kind], i, c, ready, len[0],
				    p->nchans > 1 ? len[1] : 0, p->nchans > 2 ? len[2] : 0);
				return;
			}
		}
	}
	if (!atomic_load(&R->main_waiting)) {
		violation("deadlock reported while main was not waiting");
		return;
	}
	if (nstuck == 0) {
		violation("deadlock reported with main waiting for workers that all finished: a "
		          "lost wakeup of WaitGroup.Wait");
		return;
	}
	/* the report: the headline, then exactly main and the stuck workers */
	if (strstr(report, "fatal error: all goroutines are asleep - deadlock!") == NULL) {
		violation("ng_run returned -EDEADLK without the deadlock headline on stderr");
		return;
	}
	bool seen[MAXG + 1] = {0};
	if (self_test == 5) {
		for (int g = 0; g < p->ngor; g++)
			if (stuck[g] == NULL) {
				stuck[g] =
				    &p->g[g].ops[0]; /* claim a finished goroutine is stuck */
				break;
			}
	}
	for (const char *line = report; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, "goroutine ", 10) != 0)
			continue;
		const char *q = strchr(line, '"'), *nl = strchr(line, '\n');
		const char *br = strchr(line, '[');
		if (q == NULL || br == NULL || (nl && (q > nl || br > nl))) {
			violation("unnamed goroutine in the deadlock report: %.*s",
			          (int)(nl ? nl - line : 80), line);
			return;
		}
		int idx = -1;
		if (strncmp(q, "\"main\"", 6) == 0) {
			idx = MAXG;
			if (strncmp(br + 1, "sync.WaitGroup.Wait", 19) != 0) {
				violation("deadlock report: main's wait reason: %.*s",
				          (int)(nl ? nl - line : 80), line);
				return;
			}
		} else if (sscanf(q, "\"ngs-g%d\"", &idx) != 1 || idx < 0 || idx >= p->ngor ||
		           stuck[idx] == NULL) {
			violation("deadlock report lists a goroutine the model has finished or "
			          "does not know: %.*s",
			          (int)(nl ? nl - line : 80), line);
			return;
		} else {
			const char *want = expected_reason(stuck[idx]);
			size_t wl = want ? strlen(want) : 0;
			bool match = want != NULL && strncmp(br + 1, want, wl) == 0 &&
			             (br[1 + wl] == ']' || br[1 + wl] == ',');
			/* Go parks a select whose cases are all nil channels as
			 * "select" (selectgo); numago as "select (no cases)", as for
			 * select {}: both accepted */
			if (!match && stuck[idx]->kind == OP_SELECT && all_nil(stuck[idx]))
				match = strncmp(br + 1, "select (no cases)", 17) == 0;
			if (!match) {
				violation("deadlock report: ngs-g%d should wait in \"%s\": %.*s",
				          idx, want ? want : "?", (int)(nl ? nl - line : 80), line);
				return;
			}
		}
		if (seen[idx]) {
			violation("deadlock report lists a goroutine twice: %.*s",
			          (int)(nl ? nl - line : 80), line);
			return;
		}
		seen[idx] = true;
	}
	if (!seen[MAXG]) {
		violation("deadlock report does not list main");
		return;
	}
	for (int g = 0; g < p->ngor; g++)
		if (stuck[g] != NULL && !seen[g]) {
			violation("deadlock report does not list ngs-g%d, stuck in op %d (%s)", g,
			          (int)(stuck[g] - p->g[g].ops), op_names[stuck[g]->kind]);
			return;
		}
}

static void check_log(bool deadlocked)
{
	const ngs_prog *p = R->p;
	rec *log = R->log;
	size_t n = atomic_load(&R->nlog);
	if (n > R->caplog)
		n = R->caplog;
	static vinfo vi[MAXG * MAXSEQ];
	for (int i = 0; i < MAXG * MAXSEQ; i++)
		vi[i] = (vinfo){-1, 0, -1};
	int closes[MAXC] = {0}, cl[MAXC];
	for (int c = 0; c < p->nchans; c++)
		cl[c] = close_ok(log, n, c);
	long incs[MAXMU] = {0};
	int dones[MAXWG] = {0};
	/* pass 1: sends and closes */
	for (size_t i = 0; i < n && !R->violated; i++) {
		rec *r = &log[i];
		int slot;
		if (r->what == R_CLOSE) {
			if (r->rc == 0 && ++closes[r->obj] > 1)
				violation("c%d closed twice with rc 0", r->obj);
			if (r->rc == -EPIPE && (cl[r->obj] < 0 || log[cl[r->obj]].t0 > r->t1))
				violation(
				    "ngs-g%d op %d: close of c%d returned -EPIPE before a close "
				    "that returned 0 began",
				    r->g, r->op, r->obj);
		}
		if (r->what == R_INC)
			incs[r->obj]++;
		if (r->what == R_DONE)
			dones[r->obj]++;
		if (r->what != R_SEND)
			continue;
		if (!value_slot(r->val, &slot)) {
			violation("bad send value %llx", (unsigned long long)r->val);
			break;
		}
		if (r->rc == 0) {
			vi[slot].send = (int)i;
			if (cl[r->obj] >= 0 && log[cl[r->obj]].t1 < r->t0)
				violation(
				    "ngs-g%d op %d: %ssend on c%d returned 0 though it began after "
				    "the channel's close ended",
				    r->g, r->op, r->sel ? "select " : "", r->obj);
		}
		if (r->rc == -EPIPE && (cl[r->obj] < 0 || log[cl[r->obj]].t0 > r->t1))
			violation(
			    "ngs-g%d op %d: %ssend on c%d returned -EPIPE before any close of "
			    "it began",
			    r->g, r->op, r->sel ? "select " : "", r->obj);
	}
	/* pass 2: receives */
	for (size_t i = 0; i < n && !R->violated; i++) {
		rec *r = &log[i];
		int slot;
		if (r->what != R_RECV && r->what != R_LEFT)
			continue;
		if (r->rc == -EPIPE) {
			if (cl[r->obj] < 0 || log[cl[r->obj]].t0 > r->t1)
				violation("ngs-g%d op %d: recv on c%d returned -EPIPE before any "
				          "close of "
				          "it began",
				          r->g, r->op, r->obj);
			continue;
		}
		if (!value_slot(r->val, &slot) || vi[slot].send < 0) {
			int sl;
			bool pend = value_slot(r->val, &sl) && !R->finished[sl / MAXSEQ];
			violation("%s%d op %d received %llx on c%d, which no send returned 0 for%s",
			          r->g < 0 ? "main drain, " : "ngs-g", r->g, r->op,
			          (unsigned long long)r->val, r->obj,
			          pend ? " (its sender is still blocked: a lost wakeup)" : "");
			break;
		}
		rec *s = &log[vi[slot].send];
		if (s->obj != r->obj)
			violation("value %llx sent on c%d received on c%d",
			          (unsigned long long)r->val, s->obj, r->obj);
		if (r->t1 < s->t0)
			violation("value %llx received before its send began",
			          (unsigned long long)r->val);
		if (++vi[slot].nrecv > 1)
			violation("value %llx (ngs-g%d's #%llu on c%d) received twice (by %s%d and "
			          "%s%d)",
			          (unsigned long long)r->val, (int)(r->val >> 32) - 1,
			          (unsigned long long)(r->val & 0xffffffffu), r->obj,
			          log[vi[slot].recv].g < 0 ? "main" : "ngs-g", log[vi[slot].recv].g,
			          r->g < 0 ? "main" : "ngs-g", r->g);
		else
			vi[slot].recv = (int)i;
	}
	if (R->violated)
		return;
	if (self_test == 3) {
		/* pretend two ordered receives of one sender's values on one
		 * channel got them the other way round */
		for (int a = 0; a < MAXG * MAXSEQ; a++)
			for (int b = a + 1; b < (a / MAXSEQ + 1) * MAXSEQ; b++)
				if (vi[a].send >= 0 && vi[b].send >= 0 && vi[a].nrecv &&
				    vi[b].nrecv && log[vi[a].send].obj == log[vi[b].send].obj &&
				    log[vi[a].recv].what == R_RECV &&
				    log[vi[b].recv].what == R_RECV &&
				    log[vi[a].recv].t1 < log[vi[b].recv].t0) {
					int t = vi[a].recv;
					vi[a].recv = vi[b].recv, vi[b].recv = t;
					goto swapped;
				}
	swapped:;
	}
	/* delivery and FIFO */
	int unreceived[MAXC] = {0};
	for (int g = 0; g < MAXG; g++) {
		int prev[MAXC];
		for (int c = 0; c < MAXC; c++)
			prev[c] = -1;
		for (int s = 1; s < MAXSEQ; s++) {
			vinfo *v = &vi[g * MAXSEQ + s];
			if (v->send < 0)
				continue;
			rec *sr = &log[v->send];
			int c = sr->obj;
			bool left = v->nrecv > 0 && log[v->recv].what == R_LEFT;
			if (v->nrecv == 0) {
				if (!deadlocked) {
					violation("value %llx (ngs-g%d's #%d on c%d, cap %d) was "
					          "sent but "
					          "neither received nor left in the channel",
					          (unsigned long long)sr->val, g, s, c, p->caps[c]);
					return;
				}
				unreceived[c]++;
			}
			if (prev[c] >= 0) {
				vinfo *pv = &vi[prev[c]];
				bool pleft = pv->nrecv == 0 || log[pv->recv].what == R_LEFT;
				bool late = pv->nrecv > 0 && v->nrecv > 0 &&
				            log[v->recv].t1 < log[pv->recv].t0;
				if ((pleft && !(v->nrecv == 0 || left)) || late) {
					violation(
					    "FIFO: ngs-g%d sent %llx before %llx on c%d (cap %d), "
					    "received in the opposite order",
					    g, (unsigned long long)log[pv->send].val,
					    (unsigned long long)sr->val, c, p->caps[c]);
					return;
				}
			}
			prev[c] = g * MAXSEQ + s;
		}
	}
	/* EPIPE receives happen once the buffer is empty: every value sent on
	 * the channel was taken by a receive that began before it ended */
	for (size_t i = 0; i < n; i++) {
		rec *r = &log[i];
		if (!(r->what == R_RECV && r->rc == -EPIPE))
			continue;
		for (int slot = 0; slot < MAXG * MAXSEQ; slot++) {
			vinfo *v = &vi[slot];
			if (v->send < 0 || log[v->send].obj != r->obj)
				continue;
			if (v->nrecv == 0 || log[v->recv].what == R_LEFT ||
			    log[v->recv].t0 > r->t1) {
				violation(
				    "ngs-g%d op %d: recv on c%d returned -EPIPE while value %llx "
				    "was still buffered",
				    r->g, r->op, r->obj, (unsigned long long)log[v->send].val);
				return;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		totals.sent += log[i].what == R_SEND && log[i].rc == 0;
		totals.received += log[i].what == R_RECV && log[i].rc == 0;
		totals.leftover += log[i].what == R_LEFT;
		totals.epipe +=
		    (log[i].what == R_SEND || log[i].what == R_RECV) && log[i].rc == -EPIPE;
	}
	if (deadlocked)
		for (int c = 0; c < p->nchans; c++)
			if ((size_t)unreceived[c] != ng_chan_len(R->ch[c])) {
				violation(
				    "after the deadlock c%d (cap %d) holds %zu values, but %d were "
				    "sent and not received",
				    c, p->caps[c], ng_chan_len(R->ch[c]), unreceived[c]);
				return;
			}
	/* mutex counters; waitgroups; contexts */
	for (int m = 0; m < p->nmu; m++)
		if (R->counter[m] != incs[m] + (self_test == 4)) {
			violation("m%d's counter is %ld, the model counted %ld increments under it",
			          m, R->counter[m], incs[m] + (self_test == 4));
			return;
		}
	for (size_t i = 0; i < n; i++) {
		rec *r = &log[i];
		if (r->what == R_WAIT && r->rc == 0) {
			int before = 0;
			for (size_t j = 0; j < n; j++)
				before += log[j].what == R_DONE && log[j].obj == r->obj &&
				          log[j].t0 < r->t1;
			if (before < wg_count(p, r->obj)) {
				violation(
				    "ngs-g%d op %d: wait(w%d) returned 0 after %d of %d Dones",
				    r->g, r->op, r->obj, before, wg_count(p, r->obj));
				return;
			}
		}
		if (r->what == R_CTXSEL) {
			bool ok = false;
			for (size_t j = 0; j < n; j++)
				if (log[j].what == R_CANCEL && log[j].t0 < r->t1)
					for (int a = r->obj; a >= 0; a = p->ctx_parent[a])
						ok |= log[j].obj == a;
			if (!ok) {
				violation(
				    "ngs-g%d op %d: select took done(x%d) before any cancel of it "
				    "began",
				    r->g, r->op, r->obj);
				return;
			}
		}
	}
	(void)dones;
}

/* Graveyard: what a deadlock's abandoned goroutines still reference.  A
 * context not yet cancelled lists them as waiters on its done channel
 * (releasing it cancels it, which would ready freed goroutines), and a
 * select parked forever holds a reference to each of its channels that
 * nobody will drop.  Kept reachable so LeakSanitizer has nothing to say. */
static void **graveyard;
static size_t ngraves, capgraves;

static void bury(void *obj)
{
	if (ngraves == capgraves) {
		size_t nc = capgraves ? 2 * capgraves : 64;
		void **ng = realloc(graveyard, nc * sizeof *ng);
		if (ng == NULL)
			return;
		graveyard = ng, capgraves = nc;
	}
	graveyard[ngraves++] = obj;
}

static int drain_max(const ngs_prog *p)
{
	int n = 2;
	for (int g = 0; g < p->ngor; g++)
		for (int i = 0; i < p->g[g].nops; i++)
			n += p->g[g].ops[i].kind == OP_SEND || p->g[g].ops[i].kind == OP_TRY_SEND ||
			             p->g[g].ops[i].kind == OP_SELECT
			         ? (p->g[g].ops[i].count > 1 ? p->g[g].ops[i].count : 1)
			         : 0;
	return n;
}

static int real_stderr = 2;
static volatile int capture_fd = -1;

void ngs_dump_capture(int fd)
{
	int cfd = capture_fd;
	char buf[4096];
	off_t off = 0;
	ssize_t n;
	if (cfd < 0)
		return;
	while ((n = pread(cfd, buf, sizeof buf, off)) > 0) {
		if (write(fd, buf, (size_t)n) != n)
			return;
		off += n;
	}
}
static int last_deadlocked;

int ngs_last_deadlocked(void)
{
	return last_deadlocked;
}

int ngs_real_stderr(void)
{
	return real_stderr;
}

int ngs_check(const ngs_prog *p, int procs, int64_t time_slice, char *why, size_t whylen)
{
	run_state *st = calloc(1, sizeof *st);
	if (st == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	st->p = p;
	st->drain_max = drain_max(p);
	int ndrain = 0;
	for (int g = 0; g < p->ngor; g++)
		for (int i = 0; i < p->g[g].nops; i++)
			ndrain += p->g[g].ops[i].kind == OP_DRAIN;
	/* a record per op, per repeat, per value a drain takes, per leftover */
	st->caplog = (size_t)(ngs_ops(p) * 4 + ndrain * (st->drain_max + 1) + MAXC * 8 + 16);
	st->log = calloc(st->caplog, sizeof(rec));
	int result = -1;
	if (st->log == NULL) {
		snprintf(why, whylen, "out of memory");
		free(st);
		return -1;
	}
	for (int m = 0; m < MAXMU; m++)
		st->mu[m] = (ng_mutex)NG_MUTEX_INIT;
	for (int w = 0; w < MAXWG; w++)
		st->wg[w] = (ng_waitgroup)NG_WAITGROUP_INIT;
	st->all = (ng_waitgroup)NG_WAITGROUP_INIT;
	for (int c = 0; c < p->nchans; c++) {
		st->ch[c] = ng_chan_make(sizeof(uint64_t), (size_t)p->caps[c]);
		if (st->ch[c] == NULL) {
			snprintf(why, whylen, "out of memory");
			goto out;
		}
	}
	R = st;
	/* the deadlock report goes to fd 2: capture it in a file */
	FILE *cap = tmpfile();
	int saved = cap ? dup(2) : -1;
	if (cap == NULL || saved < 0) {
		snprintf(why, whylen, "cannot capture stderr");
		if (cap)
			fclose(cap);
		goto out;
	}
	fflush(stderr);
	real_stderr = saved;
	capture_fd = fileno(cap);
	dup2(fileno(cap), 2);
	ng_config cfg = {0};
	cfg.procs = procs;
	cfg.time_slice = time_slice;
	cfg.deadlock = NG_DEADLOCK_RETURN;
	int rc = ng_run(&cfg, main_g, NULL);
	last_deadlocked = rc == -EDEADLK;
	totals.runs++;
	totals.deadlocks += last_deadlocked;
	fflush(stderr);
	dup2(saved, 2);
	capture_fd = -1;
	real_stderr = 2;
	close(saved);
	char report[16384];
	size_t rl = 0;
	rewind(cap);
	rl = fread(report, 1, sizeof report - 1, cap);
	report[rl] = '\0';
	fclose(cap);

	if (self_test == 1 || self_test == 2) {
		size_t nl = atomic_load(&st->nlog);
		for (size_t i = 0; i < nl; i++)
			if (st->log[i].what == R_RECV && st->log[i].rc == 0) {
				if (self_test == 1 && nl < st->caplog)
					st->log[atomic_fetch_add(&st->nlog, 1)] = st->log[i];
				else
					st->log[i].what = R_INC + 100; /* forget the receive */
				break;
			}
	}
	if (!st->violated) {
		if (rc == -EDEADLK && p->bounded)
			violation("deadlock reported in a program whose blocking calls all have "
			          "deadlines");
		else if (rc == -EDEADLK)
			check_deadlock(report, atomic_load(&st->nlog));
		else if (rc != 0)
			violation("ng_run returned %d", rc);
		else
			for (int g = 0; g < p->ngor; g++)
				if (!st->finished[g])
					violation("ng_run returned 0 before ngs-g%d finished", g);
	}
	if (!st->violated)
		check_log(rc == -EDEADLK);
	if (st->violated) {
		const char *nlp = strchr(report, '\n');
		snprintf(why, whylen, "%s%s%.*s", st->why, rl ? "; stderr: " : "",
		         (int)(nlp ? nlp - report : (long)rl), report);
	} else {
		result = 0;
		if (whylen)
			why[0] = '\0';
	}
	/* contexts first (their done channels), then the program's channels */
	for (int x = p->nctx - 1; x >= 0; x--) {
		if (st->ctx[x] == NULL)
			continue;
		if (rc == -EDEADLK && ng_ctx_err(st->ctx[x]) == 0)
			bury(st->ctx[x]);
		else
			ng_ctx_release(st->ctx[x]);
	}
	if (rc == -EDEADLK)
		for (int g = 0; g < p->ngor; g++) {
			int pend = atomic_load(&st->pending[g]);
			const ngs_op *op = pend > 0 ? &p->g[g].ops[pend - 1] : NULL;
			for (int i = 0; op != NULL && op->kind == OP_SELECT && i < op->ncases; i++)
				if (op->cases[i].kind == CK_RECV || op->cases[i].kind == CK_SEND)
					bury(st->ch[op->cases[i].obj]);
		}
out:
	R = NULL;
	for (int c = 0; c < p->nchans; c++)
		ng_chan_release(st->ch[c]);
	free(st->log);
	free(st);
	return result;
}

/* ------------------------------------------------------------ minimizer --- */

static bool fails(const ngs_prog *p, int procs, int64_t slice)
{
	char why[64];
	for (int i = 0; i < 4; i++)
		if (ngs_check(p, procs, slice, why, sizeof why) != 0)
			return true;
	return false;
}

ngs_prog *ngs_minimize(const ngs_prog *p, int procs, int64_t time_slice)
{
	ngs_prog *best = malloc(sizeof *best), *cand = malloc(sizeof *cand);
	if (best == NULL || cand == NULL) {
		free(best);
		free(cand);
		return NULL;
	}
	*best = *p;
	for (bool progress = true; progress;) {
		progress = false;
		/* whole goroutines first: the biggest cuts */
		for (int g = 0; g < best->ngor && best->ngor > 1; g++) {
			*cand = *best;
			memmove(&cand->g[g], &cand->g[g + 1],
			        (size_t)(cand->ngor - g - 1) * sizeof cand->g[0]);
			cand->ngor--;
			if (fails(cand, procs, time_slice)) {
				*best = *cand, g--, progress = true;
			}
		}
		/* then halves of a goroutine's ops, then single ops */
		for (int g = 0; g < best->ngor; g++)
			for (int chunk = best->g[g].nops / 2; chunk >= 1; chunk /= 2)
				for (int i = 0; i + chunk <= best->g[g].nops;) {
					*cand = *best;
					ngs_gor *cg = &cand->g[g];
					memmove(&cg->ops[i], &cg->ops[i + chunk],
					        (size_t)(cg->nops - i - chunk) * sizeof cg->ops[0]);
					cg->nops -= chunk;
					if (fails(cand, procs, time_slice))
						*best = *cand, progress = true;
					else
						i += chunk;
				}
	}
	free(cand);
	return best;
}
