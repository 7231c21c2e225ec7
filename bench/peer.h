/* bench/peer.h — run the peer implementation in the same run and parse its
 * figures, so every table row compares like with like on the same machine
 * state.  Go: `go test -run X -bench <regex> <package>` (Debian's golang-go),
 * or a small Go program under bench/go/.  A missing toolchain is reported,
 * never faked: the peer column then says "n/a". */
#ifndef NG_BENCH_PEER_H
#define NG_BENCH_PEER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct peer_row {
	char name[128];
	double min_ns; /* best of the -count runs */
	int runs;
} peer_row;

static inline int peer_have_go(void)
{
	return system("command -v go >/dev/null 2>&1") == 0;
}

/* Go's build cache must not land in $HOME on batch nodes (or be missing). */
static inline void peer_go_env(void)
{
	if (getenv("GOCACHE") == NULL) {
		const char *tmp = getenv("TMPDIR");
		char buf[512];
		snprintf(buf, sizeof buf, "%s/numago-gocache", tmp ? tmp : "/tmp");
		setenv("GOCACHE", buf, 0);
	}
	setenv("GOFLAGS", "-mod=mod", 0);
	setenv("GOTOOLCHAIN", "local", 0);
	setenv("GO111MODULE", "auto", 0);
}

/* Run the Go program in <srcdir>/bench/go/<name> with one argument and read
 * the number it prints.  -1: no toolchain, or no number came out. */
static inline double peer_go_program(const char *srcdir, const char *name, long arg)
{
	if (!peer_have_go())
		return -1;
	peer_go_env();
	char cmd[1024];
	/* run from the source tree, wherever the benchmark binary is */
	snprintf(cmd, sizeof cmd, "cd '%s/bench/go/%s' && go run . %ld 2>/dev/null", srcdir, name,
	         arg);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	double v = -1;
	if (fscanf(f, "%lf", &v) != 1)
		v = -1;
	pclose(f);
	return v;
}

/* Run the benchmarks of Go package pkg ("runtime", "sync", ...) matching
 * regex; fill rows (name without the "Benchmark" prefix and the "-GOMAXPROCS"
 * suffix, sub-benchmarks as "MakeChan/Byte"), each with the min over the
 * -count runs.  Returns the number of rows, or -1 (no toolchain, or the run
 * failed and produced nothing).  The regex is single-quoted for the shell:
 * it must not contain a single quote. */
static inline int peer_go_bench(const char *pkg, const char *regex, int count, int benchtime_ms,
                                peer_row *rows, int max)
{
	if (!peer_have_go() || strchr(regex, '\'') != NULL)
		return -1;
	peer_go_env();
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "go test -run XXX -bench '%s' -benchtime %dms -count %d %s 2>&1",
	         regex, benchtime_ms, count, pkg);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	int n = 0;
	char line[512];
	while (fgets(line, sizeof line, f) != NULL) {
		char name[128];
		long long iters;
		double ns;
		if (sscanf(line, "Benchmark%127s %lld %lf ns/op", name, &iters, &ns) != 3)
			continue;
		char *dash = strrchr(name, '-');
		if (dash != NULL)
			*dash = '\0';
		int i;
		for (i = 0; i < n; i++)
			if (strcmp(rows[i].name, name) == 0)
				break;
		if (i == n) {
			if (n == max)
				continue;
			snprintf(rows[n].name, sizeof rows[n].name, "%s", name);
			rows[n].min_ns = ns;
			rows[n].runs = 0;
			n++;
		}
		if (ns < rows[i].min_ns)
			rows[i].min_ns = ns;
		rows[i].runs++;
	}
	int st = pclose(f);
	return st == 0 || n > 0 ? n : -1;
}

/* Go's runtime benchmarks matching regex (see peer_go_bench). */
static inline int peer_go_runtime_bench(const char *regex, int count, int benchtime_ms,
                                        peer_row *rows, int max)
{
	return peer_go_bench("runtime", regex, count, benchtime_ms, rows, max);
}

static inline const peer_row *peer_find(const peer_row *rows, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

#endif
