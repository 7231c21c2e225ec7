/* NUMAGO_TRACE=FILE (perf/trace.c): a Chrome trace-event JSON of the run.
 *
 * fib(18) without cutoff (8361 goroutines, each parking on its wait group)
 * runs on 2 Ps with the trace on.  The file must be valid JSON (checked by
 * a strict parser below, not by looking at lines) of the trace-event
 * format: a traceEvents array whose objects carry name, ph, pid, tid, ts
 * (and dur for complete events); a thread_name for each P; a run slice
 * ("run", ph X) for every goroutine, non-overlapping on each P; blocks with
 * the reason "sync.WaitGroup.Wait"; idle slices; steals naming their victim.  An
 * unwritable path only costs a warning: the program runs.  Without the
 * variable, no file. */
#define _GNU_SOURCE
#include "ng_test.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- fib ---- */

typedef struct fibarg {
	int n;
	int64_t *out;
	ng_waitgroup *wg;
} fibarg;

static void fib(void *arg)
{
	fibarg a = *(fibarg *)arg;
	if (a.n < 2) {
		/* a few microseconds of work per leaf, so the other P finds
		 * work to steal rather than all of it running where it was
		 * spawned */
		volatile uint64_t x = 0;
		for (int i = 0; i < 5000; i++)
			x += (uint64_t)i;
		*a.out = a.n;
	} else {
		int64_t x, y;
		ng_waitgroup wg = NG_WAITGROUP_INIT;
		fibarg l = {a.n - 1, &x, &wg}, r = {a.n - 2, &y, &wg};
		CHECK_EQ(ng_waitgroup_add(&wg, 2), 0);
		CHECK_EQ(ng_go_copy(fib, &l, sizeof l), 0);
		CHECK_EQ(ng_go_copy(fib, &r, sizeof r), 0);
		CHECK_EQ(ng_waitgroup_wait(&wg), 0);
		*a.out = x + y;
	}
	ng_waitgroup_done(a.wg);
}

#define FIB_N     18
#define FIB_GS    8361 /* goroutines fib(18) spawns: 2 fib(19) - 1 */
#define FIB_VALUE 2584

/* arg: where to put the steals counted by ng_stats when fib is done */
static int fib_main(void *arg)
{
	int64_t r = -1;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	fibarg a = {FIB_N, &r, &wg};
	CHECK_EQ(ng_waitgroup_add(&wg, 1), 0);
	CHECK_EQ(ng_go_copy(fib, &a, sizeof a), 0);
	CHECK_EQ(ng_waitgroup_wait(&wg), 0);
	CHECK_EQ(r, FIB_VALUE);
	ng_stats st;
	CHECK_EQ(ng_stats_read(&st), 0);
	*(uint64_t *)arg = st.steals;
	return 0;
}

/* ---- a strict JSON parser (RFC 8259) that reports trace events ---- */

typedef struct ev {
	char name[64], cat[16], ph[4], reason[32], tname[64];
	double ts, dur, tid, victim;
	bool has_ts, has_dur, has_tid, has_pid;
} ev;

typedef struct parser {
	const char *s;
	int depth;
	/* where we are: 1 inside the top object, 2 inside traceEvents, 3 an
	 * event, 4 its args */
	bool in_events;
	ev cur;
	void (*on_event)(const ev *);
} parser;

static void ws(parser *p)
{
	while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')
		p->s++;
}

static bool parse_value(parser *p, const char *key, int level);

/* A string into out (truncated to n), escapes checked. */
static bool parse_string(parser *p, char *out, size_t n)
{
	if (*p->s != '"')
		return false;
	p->s++;
	size_t k = 0;
	for (;;) {
		unsigned char c = (unsigned char)*p->s;
		if (c == '"')
			break;
		if (c < 0x20)
			return false; /* control characters must be escaped */
		if (c == '\\') {
			p->s++;
			char e = *p->s;
			if (e == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)p->s[i]))
						return false;
				p->s += 4;
			} else if (strchr("\"\\/bfnrt", e) == NULL || e == '\0') {
				return false;
			}
			c = (unsigned char)e;
		}
		if (out != NULL && k + 1 < n)
			out[k++] = (char)c;
		p->s++;
	}
	p->s++;
	if (out != NULL && n > 0)
		out[k] = '\0';
	return true;
}

static bool parse_number(parser *p, double *out)
{
	const char *b = p->s;
	if (*p->s == '-')
		p->s++;
	if (*p->s == '0') {
		p->s++;
	} else if (*p->s >= '1' && *p->s <= '9') {
		while (isdigit((unsigned char)*p->s))
			p->s++;
	} else {
		return false;
	}
	if (*p->s == '.') {
		p->s++;
		if (!isdigit((unsigned char)*p->s))
			return false;
		while (isdigit((unsigned char)*p->s))
			p->s++;
	}
	if (*p->s == 'e' || *p->s == 'E') {
		p->s++;
		if (*p->s == '+' || *p->s == '-')
			p->s++;
		if (!isdigit((unsigned char)*p->s))
			return false;
		while (isdigit((unsigned char)*p->s))
			p->s++;
	}
	if (out != NULL)
		*out = strtod(b, NULL);
	return true;
}

/* Truncating copy (names longer than the field are cut). */
static void copy_str(char *dst, size_t n, const char *src)
{
	size_t k = strnlen(src, n - 1);
	memcpy(dst, src, k);
	dst[k] = '\0';
}

static void store_string(parser *p, const char *key, int level, const char *v)
{
	if (level == 3) {
		if (strcmp(key, "name") == 0)
			copy_str(p->cur.name, sizeof p->cur.name, v);
		else if (strcmp(key, "cat") == 0)
			copy_str(p->cur.cat, sizeof p->cur.cat, v);
		else if (strcmp(key, "ph") == 0)
			copy_str(p->cur.ph, sizeof p->cur.ph, v);
	} else if (level == 4) {
		if (strcmp(key, "reason") == 0)
			copy_str(p->cur.reason, sizeof p->cur.reason, v);
		else if (strcmp(key, "name") == 0)
			copy_str(p->cur.tname, sizeof p->cur.tname, v);
	}
}

static void store_number(parser *p, const char *key, int level, double v)
{
	if (level == 3) {
		if (strcmp(key, "ts") == 0) {
			p->cur.ts = v;
			p->cur.has_ts = true;
		} else if (strcmp(key, "dur") == 0) {
			p->cur.dur = v;
			p->cur.has_dur = true;
		} else if (strcmp(key, "tid") == 0) {
			p->cur.tid = v;
			p->cur.has_tid = true;
		} else if (strcmp(key, "pid") == 0) {
			p->cur.has_pid = true;
		}
	} else if (level == 4 && strcmp(key, "victim") == 0) {
		p->cur.victim = v;
	}
}

static bool parse_object(parser *p, int level)
{
	p->s++; /* { */
	if (level == 3)
		memset(&p->cur, 0, sizeof p->cur);
	ws(p);
	if (*p->s == '}') {
		p->s++;
	} else {
		for (;;) {
			char key[64];
			ws(p);
			if (!parse_string(p, key, sizeof key))
				return false;
			ws(p);
			if (*p->s++ != ':')
				return false;
			ws(p);
			if (!parse_value(p, key, level))
				return false;
			ws(p);
			if (*p->s == ',') {
				p->s++;
				continue;
			}
			if (*p->s++ != '}')
				return false;
			break;
		}
	}
	if (level == 3 && p->in_events)
		p->on_event(&p->cur);
	return true;
}

static bool parse_array(parser *p, int level)
{
	p->s++; /* [ */
	ws(p);
	if (*p->s == ']') {
		p->s++;
		return true;
	}
	for (;;) {
		ws(p);
		if (!parse_value(p, NULL, level))
			return false;
		ws(p);
		if (*p->s == ',') {
			p->s++;
			continue;
		}
		return *p->s++ == ']';
	}
}

/* key: the member name this value belongs to (NULL in arrays); level: the
 * level of the object holding it. */
static bool parse_value(parser *p, const char *key, int level)
{
	if (++p->depth > 64)
		return false;
	bool ok;
	char buf[128];
	double num;
	switch (*p->s) {
	case '{': {
		/* members of the top object are level 1; events (in traceEvents)
		 * level 3; an event's args level 4; anything else deeper */
		int child = 5;
		if (level == 0)
			child = 1;
		else if (level == 2)
			child = 3;
		else if (level == 3 && key != NULL && strcmp(key, "args") == 0)
			child = 4;
		ok = parse_object(p, child);
		break;
	}
	case '[': {
		bool events = level == 1 && key != NULL && strcmp(key, "traceEvents") == 0;
		if (events)
			p->in_events = true;
		ok = parse_array(p, events ? 2 : 5);
		if (events)
			p->in_events = false;
		break;
	}
	case '"':
		ok = parse_string(p, buf, sizeof buf);
		if (ok && key != NULL)
			store_string(p, key, level, buf);
		break;
	case 't':
		ok = strncmp(p->s, "true", 4) == 0;
		p->s += ok ? 4 : 0;
		break;
	case 'f':
		ok = strncmp(p->s, "false", 5) == 0;
		p->s += ok ? 5 : 0;
		break;
	case 'n':
		ok = strncmp(p->s, "null", 4) == 0;
		p->s += ok ? 4 : 0;
		break;
	default:
		ok = parse_number(p, &num);
		if (ok && key != NULL)
			store_number(p, key, level, num);
		break;
	}
	p->depth--;
	return ok;
}

/* ---- checks ---- */

static long runs, blocks_wg, idles, steals, thread_names, events;
static double last_end[2];
static bool bad_steal;

static void on_event(const ev *e)
{
	events++;
	CHECK(e->has_pid);
	CHECK(e->ph[0] != '\0');
	if (strcmp(e->ph, "M") == 0) {
		if (strcmp(e->name, "thread_name") == 0) {
			CHECK(e->has_tid);
			CHECK(strncmp(e->tname, "P", 1) == 0);
			thread_names++;
		}
		return;
	}
	CHECK(e->has_ts && e->has_tid && e->ts >= 0);
	CHECK(e->tid == 0 || e->tid == 1);
	int tid = (int)e->tid;
	if (strcmp(e->ph, "X") == 0) {
		CHECK(e->has_dur && e->dur >= 0);
		/* slices on one P follow each other (1 ns of rounding slack) */
		CHECK(e->ts >= last_end[tid] - 0.002);
		last_end[tid] = e->ts + e->dur;
		if (strcmp(e->cat, "run") == 0) {
			CHECK(e->name[0] == 'G');
			runs++;
		} else if (strcmp(e->cat, "idle") == 0) {
			idles++;
		} else {
			CHECK(!"unknown complete event");
		}
	} else if (strcmp(e->ph, "i") == 0) {
		if (strcmp(e->cat, "block") == 0)
			blocks_wg += strcmp(e->reason, "sync.WaitGroup.Wait") == 0;
		else if (strcmp(e->cat, "steal") == 0) {
			steals++;
			bad_steal |= e->victim == e->tid || e->victim < 0 || e->victim > 1;
		} else
			CHECK(!"unknown instant event");
	} else {
		CHECK(!"unknown phase");
	}
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	CHECK_EQ(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	CHECK(n > 0);
	rewind(f);
	char *s = malloc((size_t)n + 1);
	CHECK(s != NULL);
	CHECK_EQ(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

static bool json_valid(const char *text)
{
	parser p = {.s = text, .on_event = on_event};
	ws(&p);
	if (*p.s != '{' || !parse_value(&p, NULL, 0))
		return false;
	ws(&p);
	return *p.s == '\0';
}

int main(void)
{
	/* the parser itself must reject what is not JSON */
	const char *const broken[] = {
	    "{\"traceEvents\":[}",     "{\"a\":1,}",  "{\"a\":01}", "{\"a\":\"x\ty\"}",
	    "{\"a\":\"\\q\"}",         "{\"a\":tru}", "[1] x",      "{\"a\":1.}",
	    "{\"traceEvents\":[{]}]}", "{\"a\":-}",   "{'a':1}",    "",
	};
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
		CHECK(!json_valid(broken[i]));
	CHECK(json_valid("{\"a\":[1,-2.5e3,true,false,null,\"\\u00e9\\n\"],\"b\":{}}"));
	events = 0;

	char path[] = "/tmp/ng_trace_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(setenv("NUMAGO_TRACE", path, 1), 0);
	ng_config cfg = {0};
	cfg.procs = 2;
	uint64_t stat_steals = 0;
	CHECK_EQ(ng_run(&cfg, fib_main, &stat_steals), 0);
	CHECK_EQ(unsetenv("NUMAGO_TRACE"), 0);

	char *text = slurp(path);
	bool valid = json_valid(text);
	if (!valid)
		fprintf(stderr, "%s is not valid JSON\n", path);
	CHECK(valid);
	printf("fib(%d) on 2 Ps: %zu bytes of trace, %ld events: %ld runs, %ld waitgroup blocks, "
	       "%ld idle slices, %ld steals (ng_stats: %llu)\n",
	       FIB_N, strlen(text), events, runs, blocks_wg, idles, steals,
	       (unsigned long long)stat_steals);
	CHECK_EQ(thread_names, 2);
	CHECK(runs >= FIB_GS + 1); /* every goroutine and main ran at least once */
	CHECK(blocks_wg >= 1);
	CHECK(idles >= 1);
	/* every steal is in the trace (a few more may follow main's read) */
	CHECK(stat_steals >= 1);
	CHECK(steals >= (long)stat_steals);
	CHECK(!bad_steal);
	free(text);
	unlink(path);

	/* an unwritable path: a warning, and the program runs */
	CHECK_EQ(setenv("NUMAGO_TRACE", "/nonexistent-dir/trace.json", 1), 0);
	CHECK_EQ(ng_run(&cfg, fib_main, &stat_steals), 0);
	CHECK_EQ(unsetenv("NUMAGO_TRACE"), 0);
	CHECK(access("/nonexistent-dir/trace.json", F_OK) != 0);

	/* no variable: tracing stays off and nothing is written */
	CHECK_EQ(ng_run(&cfg, fib_main, &stat_steals), 0);
	CHECK(access(path, F_OK) != 0);
	printf("ok\n");
	return 0;
}
