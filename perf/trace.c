/* perf/trace.c — NUMAGO_TRACE=FILE: a Chrome trace-event JSON of the run.
 *
 * Each P records its own events, without locks (only the P's owner writes
 * its buffer; a P changes owner through the scheduler's own
 * synchronisation): a goroutine starting to run, a goroutine parking (with
 * its wait reason), the P going idle, a steal.  At shutdown the buffers
 * become one JSON file that chrome://tracing and Perfetto open: one track
 * per P ("P3 (node 1)"), a slice per goroutine run ("G42", ending "chan
 * receive", "yield or preempted", ...), idle slices, and an instant event per
 * steal with its victim, size and distance class.
 *
 * Cost: when tracing is off, one predictable branch at each switch and
 * park.  On: a clock read and a 24-byte record per event; each P keeps at
 * most NG_TRACE_MAX_EVENTS, later events are counted as dropped (said in
 * the file and in one line on stderr). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

#define S ng_sched_g

#define NG_TRACE_CHUNK      (1u << 16)
#define NG_TRACE_MAX_EVENTS (1u << 23)

bool ng_trace_on;
_Atomic bool ng_switch_hooks;

void ng_switch_hook(ng_m *m, int type)
{
	if (ng_trace_on && type != NG_HOOK_G0)
		ng_trace_m(m, type);
	if (atomic_load_explicit(&ng_prof_on, memory_order_relaxed))
		ng_prof_switch(m, type == NG_TRACE_RUN ? m->curg : NULL);
}

typedef struct trace_ev {
	int64_t ts;
	uint64_t goid;
	uint8_t type;
	uint8_t arg8;
	uint16_t arg16;
	uint32_t arg32;
} trace_ev;

typedef struct trace_buf {
	trace_ev **chunks;
	uint32_t nchunks, cap_chunks;
	uint32_t n; /* events recorded */
	uint64_t dropped;
} trace_buf;

static FILE *trace_file;
static char trace_path[4096];
static trace_buf *bufs;
static int nbufs;
static int64_t trace_t0;

void ng_trace_start(const char *path, int nprocs)
{
	ng_trace_on = false;
	atomic_store(&ng_switch_hooks, atomic_load(&ng_prof_on));
	if (path == NULL || *path == '\0')
		return;
	trace_file = fopen(path, "w");
	if (trace_file == NULL) {
		ng_warn("NUMAGO_TRACE=%s: cannot open it (%s): no trace", path, strerror(errno));
		return;
	}
	bufs = calloc((size_t)nprocs, sizeof *bufs);
	if (bufs == NULL) {
		ng_warn("NUMAGO_TRACE: out of memory: no trace");
		fclose(trace_file);
		trace_file = NULL;
		return;
	}
	snprintf(trace_path, sizeof trace_path, "%s", path);
	nbufs = nprocs;
	trace_t0 = ng_nanotime();
	ng_trace_on = true;
	atomic_store(&ng_switch_hooks, true);
}

void ng_trace_record(ng_p *p, int type, uint64_t goid, uint32_t arg32, uint16_t arg16, uint8_t arg8)
{
	trace_buf *b = &bufs[p->id];
	if (b->n >= NG_TRACE_MAX_EVENTS) {
		b->dropped++;
		return;
	}
	uint32_t c = b->n / NG_TRACE_CHUNK;
	if (c == b->nchunks) {
		if (c == b->cap_chunks) {
			uint32_t cap = b->cap_chunks ? b->cap_chunks * 2 : 16;
			trace_ev **nc = realloc(b->chunks, cap * sizeof *nc);
			if (nc == NULL) {
				b->dropped++;
				return;
			}
			b->chunks = nc;
			b->cap_chunks = cap;
		}
		b->chunks[c] = malloc(NG_TRACE_CHUNK * sizeof(trace_ev));
		if (b->chunks[c] == NULL) {
			b->dropped++;
			return;
		}
		b->nchunks++;
	}
	trace_ev *e = &b->chunks[c][b->n % NG_TRACE_CHUNK];
	e->ts = ng_nanotime();
	e->goid = goid;
	e->type = (uint8_t)type;
	e->arg8 = arg8;
	e->arg16 = arg16;
	e->arg32 = arg32;
	b->n++;
}

void ng_trace_m(ng_m *m, int type)
{
	ng_g *g = m->curg;
	ng_trace_record(m->p, type, g->id, 0, 0, type == NG_TRACE_BLOCK ? g->waitreason : 0);
}

void ng_trace_offload(int what, int32_t status)
{
	if (!ng_trace_on)
		return;
	ng_m *m = ng_getm();
	if (m == NULL || m->p == NULL || m->curg == NULL)
		return; /* foreign threads have no P's buffer */
	ng_trace_record(m->p, NG_TRACE_OFFLOAD, m->curg->id, (uint32_t)status, 0, (uint8_t)what);
}

static const trace_ev *ev_at(const trace_buf *b, uint32_t i)
{
	return &b->chunks[i / NG_TRACE_CHUNK][i % NG_TRACE_CHUNK];
}

static const char *const dist_names[NG_DIST_NCLASSES] = {
    "same PU", "same core", "same L2", "same L3", "same node", "same package", "remote"};

/* Microseconds since the trace began, as trace-event JSON wants them. */
static double us(int64_t ts)
{
	return (double)(ts - trace_t0) / 1000.0;
}

/* The slice of a run that ended at `end`: what ended it. */
static const char *end_name(const trace_ev *end)
{
	if (end == NULL)
		return "exit or shutdown";
	switch (end->type) {
	case NG_TRACE_BLOCK:
		return ng_waitreason_str(end->arg8);
	case NG_TRACE_IDLE:
	case NG_TRACE_RUN:
		return "yield, preempted or exit";
	default:
		return "?";
	}
}

static void write_p(FILE *f, int pid, const trace_buf *b, int64_t now, bool *first)
{
	const trace_ev *run = NULL, *idle = NULL;
	for (uint32_t i = 0; i <= b->n; i++) {
		const trace_ev *e = i < b->n ? ev_at(b, i) : NULL;
		int64_t ts = e ? e->ts : now;
		/* steals and offload events happen inside a run */
		if (run != NULL &&
		    (e == NULL || (e->type != NG_TRACE_STEAL && e->type != NG_TRACE_OFFLOAD))) {
			fprintf(f,
			        "%s\n{\"name\":\"G%llu\",\"cat\":\"run\",\"ph\":\"X\",\"pid\":1,"
			        "\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"goid\":%llu,"
			        "\"end\":\"%s\"}}",
			        *first ? "" : ",", (unsigned long long)run->goid, pid, us(run->ts),
			        (double)(ts - run->ts) / 1000.0, (unsigned long long)run->goid,
			        end_name(e));
			*first = false;
			run = NULL;
		}
		if (idle != NULL && (e == NULL || e->type == NG_TRACE_RUN)) {
			fprintf(f,
			        "%s\n{\"name\":\"idle\",\"cat\":\"idle\",\"ph\":\"X\",\"pid\":1,"
			        "\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f}",
			        *first ? "" : ",", pid, us(idle->ts),
			        (double)(ts - idle->ts) / 1000.0);
			*first = false;
			idle = NULL;
		}
		if (e == NULL)
			break;
		switch (e->type) {
		case NG_TRACE_RUN:
			run = e;
			break;
		case NG_TRACE_IDLE:
			idle = e;
			break;
		case NG_TRACE_BLOCK:
			fprintf(
			    f,
			    "%s\n{\"name\":\"block\",\"cat\":\"block\",\"ph\":\"i\",\"s\":\"t\","
			    "\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"args\":{\"goid\":%llu,"
			    "\"reason\":\"%s\"}}",
			    *first ? "" : ",", pid, us(e->ts), (unsigned long long)e->goid,
			    ng_waitreason_str(e->arg8));
			*first = false;
			break;
		case NG_TRACE_OFFLOAD:
			fprintf(f,
			        "%s\n{\"name\":\"%s\",\"cat\":\"offload\",\"ph\":\"i\","
			        "\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"args\":{"
			        "\"goid\":%llu,\"status\":%d}}",
			        *first ? "" : ",", e->arg8 ? "offload done" : "offload submit", pid,
			        us(e->ts), (unsigned long long)e->goid, (int)(int32_t)e->arg32);
			*first = false;
			break;
		case NG_TRACE_STEAL:
			fprintf(
			    f,
			    "%s\n{\"name\":\"steal\",\"cat\":\"steal\",\"ph\":\"i\",\"s\":\"t\","
			    "\"pid\":1,\"tid\":%d,\"ts\":%.3f,\"args\":{\"victim\":%u,"
			    "\"goroutines\":%u,\"distance\":\"%s\"}}",
			    *first ? "" : ",", pid, us(e->ts), (unsigned)e->arg16,
			    (unsigned)e->arg32,
			    e->arg8 < NG_DIST_NCLASSES ? dist_names[e->arg8] : "?");
			*first = false;
			break;
		}
	}
}

/* Write the file and free the buffers (runtime shutdown, every M stopped). */
void ng_trace_finish(void)
{
	if (trace_file == NULL) {
		ng_trace_on = false;
		return;
	}
	ng_trace_on = false;
	FILE *f = trace_file;
	int64_t now = ng_nanotime();
	uint64_t dropped = 0;
	fprintf(f, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
	           "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,"
	           "\"args\":{\"name\":\"numago\"}}");
	for (int i = 0; i < nbufs; i++) {
		fprintf(f,
		        ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,"
		        "\"args\":{\"name\":\"P%d (node %d)\"}}",
		        i, i, ng_topo_p_node(i));
		fprintf(f,
		        ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,"
		        "\"args\":{\"sort_index\":%d}}",
		        i, i);
		dropped += bufs[i].dropped;
	}
	bool first = false; /* the metadata came first */
	for (int i = 0; i < nbufs; i++)
		write_p(f, i, &bufs[i], now, &first);
	fprintf(f, "\n],\"otherData\":{\"dropped_events\":\"%llu\"}}\n",
	        (unsigned long long)dropped);
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0)
		bad = true;
	if (bad)
		ng_warn("NUMAGO_TRACE=%s: writing the trace failed (%s)", trace_path,
		        strerror(errno));
	else if (dropped > 0)
		ng_warn("NUMAGO_TRACE=%s: %llu events dropped (more than %u on one P)", trace_path,
		        (unsigned long long)dropped, NG_TRACE_MAX_EVENTS);
	trace_file = NULL;
	for (int i = 0; i < nbufs; i++) {
		for (uint32_t c = 0; c < bufs[i].nchunks; c++)
			free(bufs[i].chunks[c]);
		free(bufs[i].chunks);
	}
	free(bufs);
	bufs = NULL;
	nbufs = 0;
}
