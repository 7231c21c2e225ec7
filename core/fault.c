/* core/fault.c — fault injection (see fault.h). */
#define _GNU_SOURCE
#include "fault.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Atomic int ng_fault_armed;

/* Atomics throughout: a test re-arms sites (ng_fault_set) while runtime
 * threads (sysmon, idle Ms) are asking. */
typedef struct fault_site {
	_Atomic bool armed;
	_Atomic uint64_t skip;  /* calls let through first */
	_Atomic uint64_t count; /* failures after that; UINT64_MAX: unbounded */
	_Atomic uint32_t percent;
	_Atomic uint64_t calls, failed;
} fault_site;

/* A site as ng_fault_set builds it. */
typedef struct fault_spec {
	bool armed;
	uint64_t skip, count;
	uint32_t percent;
} fault_spec;

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static fault_site sites[NG_FAULT_NSITES];
static _Atomic uint64_t fault_rand = 0x9E3779B97F4A7C15ULL;

static const char *const names[NG_FAULT_NSITES] = {
    [NG_FAULT_MMAP] = "mmap",   [NG_FAULT_THREAD] = "thread",   [NG_FAULT_HWLOC] = "hwloc",
    [NG_FAULT_PAPI] = "papi",   [NG_FAULT_CL_INIT] = "cl_init", [NG_FAULT_CL_CMD] = "cl_cmd",
    [NG_FAULT_EINTR] = "eintr",
};

const char *ng_fault_site_name(int site)
{
	return site >= 0 && site < NG_FAULT_NSITES ? names[site] : "?";
}

/* splitmix64 over a shared counter: any thread, no lock, and the same
 * sequence of decisions for the same sequence of calls. */
static uint32_t fault_next(void)
{
	uint64_t z =
	    atomic_fetch_add_explicit(&fault_rand, 0x9E3779B97F4A7C15ULL, memory_order_relaxed);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return (uint32_t)((z ^ (z >> 31)) % 100);
}

bool ng_fault_slow(int site)
{
	fault_site *f = &sites[site];
	if (!LOAD(f->armed))
		return false;
	uint64_t n = atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed);
	if (n < LOAD(f->skip))
		return false;
	uint32_t percent = LOAD(f->percent);
	if (percent > 0 && fault_next() >= percent)
		return false;
	uint64_t k = atomic_fetch_add_explicit(&f->failed, 1, memory_order_relaxed);
	uint64_t count = LOAD(f->count);
	if (count != UINT64_MAX && k >= count) {
		atomic_fetch_sub_explicit(&f->failed, 1, memory_order_relaxed);
		return false;
	}
	return true;
}

uint64_t ng_fault_count(int site)
{
	if (site < 0 || site >= NG_FAULT_NSITES)
		return 0;
	return atomic_load_explicit(&sites[site].failed, memory_order_relaxed);
}

static bool parse_u64(const char **p, uint64_t *out)
{
	char *end;
	if (**p < '0' || **p > '9')
		return false;
	unsigned long long v = strtoull(*p, &end, 10);
	*out = v;
	*p = end;
	return true;
}

int ng_fault_set(const char *spec)
{
	fault_spec next[NG_FAULT_NSITES];
	memset(next, 0, sizeof next);
	bool any = false;
	const char *p = spec != NULL ? spec : "";
	while (*p != '\0') {
		size_t len = strcspn(p, "@x%,");
		int site = -1;
		for (int i = 0; i < NG_FAULT_NSITES; i++)
			if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
				site = i;
		if (site < 0)
			goto bad;
		fault_spec *f = &next[site];
		f->armed = true;
		f->count = UINT64_MAX;
		p += len;
		uint64_t v;
		while (*p == '@' || *p == 'x' || *p == '%') {
			char k = *p++;
			if (!parse_u64(&p, &v))
				goto bad;
			if (k == '@')
				f->skip = v;
			else if (k == 'x')
				f->count = v;
			else if (v == 0 || v > 100)
				goto bad;
			else
				f->percent = (uint32_t)v;
		}
		any = true;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			goto bad;
	}
	atomic_store(&ng_fault_armed, 0);
	for (int i = 0; i < NG_FAULT_NSITES; i++) {
		atomic_store(&sites[i].armed, next[i].armed);
		atomic_store(&sites[i].skip, next[i].skip);
		atomic_store(&sites[i].count, next[i].count);
		atomic_store(&sites[i].percent, next[i].percent);
		atomic_store(&sites[i].calls, 0);
		atomic_store(&sites[i].failed, 0);
	}
	atomic_store(&fault_rand, 0x9E3779B97F4A7C15ULL);
	atomic_store(&ng_fault_armed, any);
	return 0;
bad:
	ng_warn("NUMAGO_FAULT='%s' does not parse (site[@skip][xcount][%%percent],... with "
	        "sites mmap, thread, hwloc, papi, cl_init, cl_cmd, eintr): faults unchanged",
	        spec);
	return -EINVAL;
}

void ng_fault_init(void)
{
	const char *env = getenv("NUMAGO_FAULT");
	if (env != NULL)
		(void)ng_fault_set(env);
}
