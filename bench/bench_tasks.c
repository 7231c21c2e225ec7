/* bench/bench_tasks.c — task-parallel kernels (issue 8): numago against
 * OpenMP tasks (bench_tasks_omp), oneTBB task_group (bench_tasks_tbb) and,
 * for skynet, Go, all from the same run, the same sizes, the same number
 * of threads and the same repetitions:
 *
 *   fib       fib(n) with no cutoff: every call that is not a leaf spawns
 *             fib(n-1) as a goroutine (task), computes fib(n-2) itself and
 *             joins (a waitgroup); fib(n+1)-1 goroutines
 *   uts       Unbalanced Tree Search (SHA-1 splittable RNG, the reference
 *             uts.c's rules): a goroutine per node (all children spawned,
 *             counts summed at the join).  T1 (4,130,071 nodes) and T3
 *             (4,112,897) with --full; smaller T1S and T3S by default,
 *             their counts checked against a sequential count
 *   nqueens   count the solutions; a goroutine per legal placement in the
 *             first --cutoff rows (default 3), sequential below
 *   sort      cilksort-style mergesort of n ints: halves sorted in
 *             parallel, the merge split at the larger run's middle element
 *             and its binary-searched place in the other (both parallel);
 *             sequential below 2048 elements; checked sorted and a
 *             permutation (an order-independent checksum)
 *   skynet    1M goroutines: a 10-ary tree of 6 levels, leaves return their
 *             number, each node sums its children's over an unbuffered
 *             channel (Go's skynet, bench/go/skynet); sum 499999500000
 *
 * Each row: wall seconds of one kernel run, min and median of --reps
 * repetitions after one untimed warm-up, for numago and each peer; the
 * ratio is numago's min over the peer's (> 1: numago slower); "seq" is one
 * run of the plain sequential code (no tasks) for scale.  Every run's
 * result is verified; a wrong one fails the row and the exit status.
 * --procs LIST runs every kernel at each P count (peers with as many
 * threads): one row per (kernel, procs). */
#define _GNU_SOURCE
#include "bench.h"
#include "tasks_kernels.h"
#include "peer.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <numago/perf.h>
#include <unistd.h>

#ifndef NUMAGO_SOURCE_DIR
#define NUMAGO_SOURCE_DIR "."
#endif

/* ---- options ---- */
enum { MAX_PROCS = 16, MAX_JOBS = 16, MAX_REPS = 64 };

static struct {
	int json, reps, quick, full, no_peer, cutoff, stats;
	const char *filter;
	int procs[MAX_PROCS], nprocs;
	int fib_n, nq_n, skynet_n;
	int64_t sort_n;
	const char *uts;
} opt;

/* ---- fib ---- */
typedef struct fib_frame {
	int n;
	int64_t r;
	ng_waitgroup wg;
} fib_frame;

static atomic_long spawn_failed;

static int64_t fib_ng(int n);

static void fib_g(void *arg)
{
	fib_frame *f = arg;
	f->r = fib_ng(f->n);
	ng_waitgroup_done(&f->wg);
}

static int64_t fib_ng(int n)
{
	if (n < 2)
		return n;
	fib_frame f = {n - 1, 0, NG_WAITGROUP_INIT};
	ng_waitgroup_add(&f.wg, 1);
	if (ng_go(fib_g, &f) != 0) {
		atomic_fetch_add(&spawn_failed, 1);
		fib_g(&f);
	}
	int64_t y = fib_ng(n - 2);
	ng_waitgroup_wait(&f.wg);
	return f.r + y;
}

/* ---- UTS ---- */
static const tk_uts_tree *uts_tree;

typedef struct uts_task {
	tk_uts_node node;
	int64_t count;
	ng_waitgroup *wg;
} uts_task;

static int64_t uts_ng(const tk_uts_node *n);

static void uts_g(void *arg)
{
	uts_task *t = arg;
	t->count = uts_ng(&t->node);
	ng_waitgroup_done(t->wg);
}

static int64_t uts_ng(const tk_uts_node *n)
{
	int nc = tk_uts_num_children(uts_tree, n);
	if (nc == 0)
		return 1;
	uts_task local[16];
	uts_task *t = nc <= 16 ? local : malloc((size_t)nc * sizeof *t);
	if (t == NULL)
		return -1;
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	ng_waitgroup_add(&wg, nc);
	for (int i = 0; i < nc; i++) {
		tk_uts_child(n, i, &t[i].node);
		t[i].wg = &wg;
		if (ng_go(uts_g, &t[i]) != 0) {
			atomic_fetch_add(&spawn_failed, 1);
			uts_g(&t[i]);
		}
	}
	ng_waitgroup_wait(&wg);
	int64_t count = 1;
	for (int i = 0; i < nc; i++)
		count += t[i].count;
	if (t != local)
		free(t);
	return count;
}

/* ---- nqueens ---- */
static int nq_n, nq_cutoff;

typedef struct nq_task {
	signed char board[TK_NQ_MAX];
	int row;
	int64_t count;
	ng_waitgroup *wg;
} nq_task;

static int64_t nq_ng(signed char *board, int row);

static void nq_g(void *arg)
{
	nq_task *t = arg;
	t->count = nq_ng(t->board, t->row);
	ng_waitgroup_done(t->wg);
}

static int64_t nq_ng(signed char *board, int row)
{
	if (row >= nq_cutoff || row == nq_n)
		return tk_nq_seq(nq_n, row, board);
	nq_task t[TK_NQ_MAX];
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	int k = 0;
	for (int c = 0; c < nq_n; c++) {
		if (!tk_nq_ok(board, row, c))
			continue;
		memcpy(t[k].board, board, (size_t)row);
		t[k].board[row] = (signed char)c;
		t[k].row = row + 1;
		t[k].wg = &wg;
		ng_waitgroup_add(&wg, 1);
		if (ng_go(nq_g, &t[k]) != 0) {
			atomic_fetch_add(&spawn_failed, 1);
			nq_g(&t[k]);
		}
		k++;
	}
	ng_waitgroup_wait(&wg);
	int64_t count = 0;
	for (int i = 0; i < k; i++)
		count += t[i].count;
	return count;
}

/* ---- cilksort ---- */
typedef struct merge_task {
	const int32_t *a, *b;
	int64_t na, nb;
	int32_t *out;
	ng_waitgroup wg;
} merge_task;

static void pmerge(const int32_t *a, int64_t na, const int32_t *b, int64_t nb, int32_t *out);

static void pmerge_g(void *arg)
{
	merge_task *t = arg;
	pmerge(t->a, t->na, t->b, t->nb, t->out);
	ng_waitgroup_done(&t->wg);
}

static void pmerge(const int32_t *a, int64_t na, const int32_t *b, int64_t nb, int32_t *out)
{
	if (na < nb) {
		const int32_t *tp = a;
		a = b;
		b = tp;
		int64_t tn = na;
		na = nb;
		nb = tn;
	}
	if (na + nb <= TK_MERGE_CUT || nb == 0) {
		tk_merge_seq(a, na, b, nb, out);
		return;
	}
	int64_t ma = na / 2, mb = tk_lower_bound(b, nb, a[ma]);
	out[ma + mb] = a[ma];
	merge_task t = {a, b, ma, mb, out, NG_WAITGROUP_INIT};
	ng_waitgroup_add(&t.wg, 1);
	if (ng_go(pmerge_g, &t) != 0) {
		atomic_fetch_add(&spawn_failed, 1);
		pmerge_g(&t);
	}
	pmerge(a + ma + 1, na - ma - 1, b + mb, nb - mb, out + ma + mb + 1);
	ng_waitgroup_wait(&t.wg);
}

typedef struct sort_task {
	int32_t *a, *tmp;
	int64_t n;
	int to_tmp;
	ng_waitgroup wg;
} sort_task;

static void psort(int32_t *a, int32_t *tmp, int64_t n, int to_tmp);

static void psort_g(void *arg)
{
	sort_task *t = arg;
	psort(t->a, t->tmp, t->n, t->to_tmp);
	ng_waitgroup_done(&t->wg);
}

/* Sorts a[0..n); the result lands in tmp if to_tmp, else in a. */
static void psort(int32_t *a, int32_t *tmp, int64_t n, int to_tmp)
{
	if (n <= TK_SORT_CUT) {
		tk_qsort(a, n);
		if (to_tmp)
			memcpy(tmp, a, (size_t)n * sizeof *a);
		return;
	}
	int64_t h = n / 2;
	sort_task t = {a, tmp, h, !to_tmp, NG_WAITGROUP_INIT};
	ng_waitgroup_add(&t.wg, 1);
	if (ng_go(psort_g, &t) != 0) {
		atomic_fetch_add(&spawn_failed, 1);
		psort_g(&t);
	}
	psort(a + h, tmp + h, n - h, !to_tmp);
	ng_waitgroup_wait(&t.wg);
	const int32_t *src = to_tmp ? a : tmp;
	pmerge(src, h, src + h, n - h, to_tmp ? tmp : a);
}

/* ---- skynet (Go's: unbuffered channels) ---- */
typedef struct sky_arg {
	ng_chan *c;
	int64_t num, size;
} sky_arg;

static atomic_int sky_failed;

static void skynet_g(void *arg)
{
	sky_arg a = *(const sky_arg *)arg;
	int64_t v = a.num;
	if (a.size > 1) {
		ng_chan *rc = ng_chan_make(sizeof(int64_t), 0);
		if (rc == NULL) {
			atomic_store(&sky_failed, 1);
			v = -1;
		} else {
			int spawned = 0;
			for (int i = 0; i < TK_SKYNET_DIV; i++) {
				sky_arg s = {rc, a.num + i * (a.size / TK_SKYNET_DIV),
				             a.size / TK_SKYNET_DIV};
				if (ng_go_copy(skynet_g, &s, sizeof s) == 0)
					spawned++;
				else
					atomic_store(&sky_failed, 1);
			}
			v = 0;
			for (int i = 0; i < spawned; i++) {
				int64_t x = 0;
				if (ng_chan_recv(rc, &x) != 0)
					atomic_store(&sky_failed, 1);
				v += x;
			}
			ng_chan_release(rc);
		}
	}
	if (ng_chan_send(a.c, &v) != 0)
		atomic_store(&sky_failed, 1);
}

/* ---- jobs ---- */
enum { K_FIB, K_UTS, K_NQ, K_SORT, K_SKYNET };
static const char *const kname[] = {"fib", "uts", "nqueens", "sort", "skynet"};

typedef struct run_stats {
	int ran, ok, reps;
	int failed; /* built, but gave no result */
	double min, median;
	int64_t value; /* the last run's result */
	char note[96]; /* why it did not run / failed */
} run_stats;

enum { IMPL_NG, IMPL_OMP, IMPL_TBB, IMPL_GO, NIMPL };
static const char *const impl_name[NIMPL] = {"numago", "openmp", "tbb", "go"};
static const char *const impl_title[NIMPL] = {"numago", "OpenMP", "TBB", "Go"};

typedef struct job {
	int kernel;
	char size[32]; /* as the peers take it */
	char label[40];
	int64_t want; /* expected result */
	double seq_s; /* one sequential run */
	const tk_uts_tree *tree;
	run_stats r[MAX_PROCS][NIMPL];
	int threads[MAX_PROCS];
} job;

static job jobs[MAX_JOBS];
static int njobs;
static int32_t *sort_in, *sort_a, *sort_tmp;
static int64_t sort_alloc_n;

static int cmp_d(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

static void stats_from(run_stats *st, double *t, int n)
{
	qsort(t, (size_t)n, sizeof t[0], cmp_d);
	st->min = t[0];
	st->median = t[n / 2];
	st->reps = n;
	st->ran = 1;
}

/* One timed run of job j with numago (inside ng_run); the result. */
static int64_t ng_run_once(job *j, double *secs)
{
	int64_t v = -1;
	double t0 = 0;
	switch (j->kernel) {
	case K_FIB:
		t0 = tk_now();
		v = fib_ng(atoi(j->size));
		break;
	case K_UTS: {
		uts_tree = j->tree;
		tk_uts_node root;
		tk_uts_root(j->tree, &root);
		t0 = tk_now();
		v = uts_ng(&root);
		break;
	}
	case K_NQ: {
		signed char board[TK_NQ_MAX] = {0};
		nq_n = atoi(j->size);
		nq_cutoff = opt.cutoff;
		t0 = tk_now();
		v = nq_ng(board, 0);
		break;
	}
	case K_SORT: {
		int64_t n = atoll(j->size);
		memcpy(sort_a, sort_in, (size_t)n * sizeof *sort_a);
		t0 = tk_now();
		psort(sort_a, sort_tmp, n, 0);
		*secs = tk_now() - t0;
		return tk_sort_verify(sort_a, n);
	}
	case K_SKYNET: {
		ng_chan *c = ng_chan_make(sizeof(int64_t), 0);
		if (c == NULL)
			return -1;
		sky_arg a = {c, 0, atoll(j->size)};
		atomic_store(&sky_failed, 0);
		t0 = tk_now();
		if (ng_go_copy(skynet_g, &a, sizeof a) != 0 || ng_chan_recv(c, &v) != 0)
			v = -1;
		*secs = tk_now() - t0;
		ng_chan_release(c);
		return atomic_load(&sky_failed) ? -1 : v;
	}
	}
	*secs = tk_now() - t0;
	return v;
}

static int cur_pi; /* index into opt.procs of the running ng_run */

static uint64_t stolen_sum(void)
{
	uint64_t s = 0;
	ng_proc_stats ps;
	for (int p = 0; p < ng_procs(); p++)
		if (ng_stats_proc(p, &ps) == 0)
			s += ps.stolen;
	return s;
}

static int ng_main(void *arg)
{
	(void)arg;
	for (int k = 0; k < njobs; k++) {
		job *j = &jobs[k];
		run_stats *st = &j->r[cur_pi][IMPL_NG];
		j->threads[cur_pi] = ng_procs();
		double t[MAX_REPS], s;
		int ok = 1;
		int64_t v = ng_run_once(j, &s); /* warm-up */
		ok &= v == j->want;
		ng_stats s0, s1;
		ng_stats_read(&s0);
		uint64_t stolen0 = stolen_sum();
		for (int r = 0; r < opt.reps; r++) {
			v = ng_run_once(j, &t[r]);
			ok &= v == j->want;
		}
		ng_stats_read(&s1);
		if (opt.stats) {
			double n = opt.reps;
			fprintf(stderr,
			        "  stats %s(%s) procs=%d, per run: spawns %.0f switches %.0f parks "
			        "%.0f steals %.0f (stolen %.0f, failed %.0f) global_put %.0f "
			        "m_wakes %.0f spin %.1f ms\n",
			        kname[j->kernel], j->size, ng_procs(), (s1.spawns - s0.spawns) / n,
			        (s1.switches - s0.switches) / n, (s1.parks - s0.parks) / n,
			        (s1.steals - s0.steals) / n, (stolen_sum() - stolen0) / n,
			        (s1.failed_steals - s0.failed_steals) / n,
			        (s1.global_put - s0.global_put) / n, (s1.m_wakes - s0.m_wakes) / n,
			        (s1.spin_ns - s0.spin_ns) / n / 1e6);
		}
		stats_from(st, t, opt.reps);
		st->value = v;
		st->ok = ok;
		if (!ok)
			snprintf(st->note, sizeof st->note, "got %lld, want %lld", (long long)v,
			         (long long)j->want);
		if (!opt.json)
			fprintf(stderr, "  numago %s(%s) procs=%d: %.4f s\n", kname[j->kernel],
			        j->size, ng_procs(), st->min);
	}
	return 0;
}

/* ---- peers ---- */
static char exe_dir[PATH_MAX];
static char go_bin[PATH_MAX];
static int go_state; /* 0: not tried, 1: built, -1: unavailable */

static void find_exe_dir(void)
{
	ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
	if (n <= 0) {
		snprintf(exe_dir, sizeof exe_dir, ".");
		return;
	}
	exe_dir[n] = '\0';
	char *slash = strrchr(exe_dir, '/');
	if (slash != NULL)
		*slash = '\0';
}

static int go_build(void)
{
	if (go_state != 0)
		return go_state;
	go_state = -1;
	if (!peer_have_go())
		return go_state;
	peer_go_env();
	const char *tmp = getenv("TMPDIR");
	snprintf(go_bin, sizeof go_bin, "%s/numago-skynet-go-%d", tmp ? tmp : "/tmp",
	         (int)getpid());
	char cmd[PATH_MAX * 2 + 128];
	snprintf(cmd, sizeof cmd, "cd '%s/bench/go/skynet' && go build -o '%s' . >&2",
	         NUMAGO_SOURCE_DIR, go_bin);
	if (system(cmd) == 0)
		go_state = 1;
	return go_state;
}

/* Run one peer for job j with `threads` threads; fill st. */
static void run_peer(job *j, int impl, int threads, run_stats *st)
{
	char cmd[PATH_MAX * 2 + 256];
	if (impl == IMPL_GO) {
		if (j->kernel != K_SKYNET)
			return;
		if (go_build() < 0) {
			snprintf(st->note, sizeof st->note, "go not found or build failed");
			return;
		}
		snprintf(cmd, sizeof cmd, "GOMAXPROCS=%d '%s' %s %d", threads, go_bin, j->size,
		         opt.reps);
	} else {
		const char *exe = impl == IMPL_OMP ? "bench_tasks_omp" : "bench_tasks_tbb";
		char path[PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/%s", exe_dir, exe);
		if (access(path, X_OK) != 0) {
			snprintf(st->note, sizeof st->note, "%s not built", exe);
			return;
		}
		snprintf(cmd, sizeof cmd,
		         "OMP_NUM_THREADS=%d '%s' --threads %d --reps %d --cutoff %d %s %s",
		         threads, path, threads, opt.reps, opt.cutoff, kname[j->kernel], j->size);
	}
	FILE *f = popen(cmd, "r");
	if (f == NULL) {
		snprintf(st->note, sizeof st->note, "popen failed");
		return;
	}
	char line[4096];
	int got = 0;
	while (fgets(line, sizeof line, f) != NULL) {
		long long v;
		int off = 0;
		if (sscanf(line, "result %lld times%n", &v, &off) != 1 || off == 0)
			continue;
		double t[MAX_REPS];
		int n = 0, used;
		const char *p = line + off;
		while (n < MAX_REPS && sscanf(p, "%lf%n", &t[n], &used) == 1) {
			n++;
			p += used;
		}
		if (n > 0) {
			stats_from(st, t, n);
			st->value = v;
			st->ok = v == j->want;
			if (!st->ok)
				snprintf(st->note, sizeof st->note, "got %lld, want %lld", v,
				         (long long)j->want);
			got = 1;
		}
	}
	int rc = pclose(f);
	if (!got) {
		st->failed = 1;
		snprintf(st->note, sizeof st->note, "no result (exit status %d)", rc);
	}
}

/* ---- machine ---- */
static char cpu_model[128] = "unknown";
static int n_pus, n_cores, n_nodes;

static void machine_info(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	int ids[4096];
	int nids = 0;
	int phys = 0;
	if (f != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			char *colon = strchr(line, ':');
			if (colon == NULL)
				continue;
			if (strncmp(line, "model name", 10) == 0 &&
			    strcmp(cpu_model, "unknown") == 0) {
				char *s = colon + 1;
				while (*s == ' ' || *s == '\t')
					s++;
				s[strcspn(s, "\n")] = '\0';
				snprintf(cpu_model, sizeof cpu_model, "%s", s);
			} else if (strncmp(line, "physical id", 11) == 0) {
				phys = atoi(colon + 1);
			} else if (strncmp(line, "core id", 7) == 0) {
				int id = phys * 65536 + atoi(colon + 1), seen = 0;
				for (int i = 0; i < nids; i++)
					seen |= ids[i] == id;
				if (!seen && nids < 4096)
					ids[nids++] = id;
			}
		}
		fclose(f);
	}
	n_pus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	n_cores = nids > 0 ? nids : n_pus;
}

static int topo_main(void *arg)
{
	(void)arg;
	n_nodes = ng_topo_nnodes();
	return 0;
}

/* ---- jobs set-up ---- */
static job *add_job(int kernel, const char *size)
{
	if (njobs == MAX_JOBS)
		return NULL;
	job *j = &jobs[njobs];
	memset(j, 0, sizeof *j);
	j->kernel = kernel;
	snprintf(j->size, sizeof j->size, "%s", size);
	snprintf(j->label, sizeof j->label, "%s(%s)", kname[kernel], size);
	char name[64];
	snprintf(name, sizeof name, "tasks/%s", kname[kernel]);
	if (opt.filter != NULL && strstr(j->label, opt.filter) == NULL &&
	    strstr(name, opt.filter) == NULL)
		return NULL;
	njobs++;
	return j;
}

/* The expected values, and one sequential run of each for scale. */
static int prepare_jobs(void)
{
	for (int k = 0; k < njobs; k++) {
		job *j = &jobs[k];
		double t0 = tk_now();
		switch (j->kernel) {
		case K_FIB:
			j->want = tk_fib_ref(atoi(j->size));
			t0 = tk_now();
			if (tk_fib_seq(atoi(j->size)) != j->want)
				return -1;
			break;
		case K_UTS: {
			int64_t c = tk_uts_seq(j->tree);
			if (j->tree->want != 0 && c != j->tree->want) {
				fprintf(stderr,
				        "bench_tasks: sequential UTS %s: %lld nodes, want %lld\n",
				        j->tree->name, (long long)c, (long long)j->tree->want);
				return -1;
			}
			j->want = c;
			break;
		}
		case K_NQ: {
			signed char board[TK_NQ_MAX] = {0};
			int n = atoi(j->size);
			j->want = tk_nq_seq(n, 0, board);
			if (tk_nq_ref(n) >= 0 && j->want != tk_nq_ref(n))
				return -1;
			break;
		}
		case K_SORT: {
			int64_t n = atoll(j->size);
			if (n > sort_alloc_n) {
				free(sort_in);
				free(sort_a);
				free(sort_tmp);
				sort_in = malloc((size_t)n * sizeof(int32_t));
				sort_a = malloc((size_t)n * sizeof(int32_t));
				sort_tmp = malloc((size_t)n * sizeof(int32_t));
				if (sort_in == NULL || sort_a == NULL || sort_tmp == NULL)
					return -1;
				sort_alloc_n = n;
			}
			tk_sort_input(sort_in, n);
			j->want = tk_sort_checksum(sort_in, n);
			memcpy(sort_a, sort_in, (size_t)n * sizeof(int32_t));
			t0 = tk_now();
			tk_qsort(sort_a, n);
			if (tk_sort_verify(sort_a, n) != j->want)
				return -1;
			break;
		}
		case K_SKYNET: {
			/* the same sum without tasks: leaves 0..size-1 */
			int64_t n = atoll(j->size), s = 0;
			for (int64_t i = 0; i < n; i++)
				s += *(volatile int64_t *)&i;
			j->want = n * (n - 1) / 2;
			if (s != j->want)
				return -1;
			break;
		}
		}
		j->seq_s = tk_now() - t0;
	}
	return 0;
}

static int parse_procs(const char *s)
{
	opt.nprocs = 0;
	while (*s != '\0' && opt.nprocs < MAX_PROCS) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 1 || v > 4096)
			return -1;
		int dup = 0;
		for (int i = 0; i < opt.nprocs; i++)
			dup |= opt.procs[i] == (int)v;
		if (!dup)
			opt.procs[opt.nprocs++] = (int)v;
		s = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0')
			return -1;
	}
	return opt.nprocs > 0 ? 0 : -1;
}

static const char help[] =
    "bench_tasks: task-parallel kernels (fib without cutoff, UTS, nqueens, cilksort, skynet)\n"
    "with numago goroutines against OpenMP tasks (bench_tasks_omp), oneTBB task_group\n"
    "(bench_tasks_tbb) and Go (skynet), same sizes, threads and repetitions, same run.\n"
    "Figures: wall seconds per run, min and median of the repetitions (after a warm-up);\n"
    "ratio = numago min / peer min (> 1: numago slower); every run's result verified.\n"
    "\n"
    "options:\n"
    "  --json          one JSON object per (kernel, procs) row\n"
    "  --reps N        repetitions (default 5; --quick 3)\n"
    "  --quick         small sizes (about 20 s on 2 cores)\n"
    "  --full          server sizes: fib(32), UTS T1+T3, nqueens(14), sort(32M)\n"
    "  --procs LIST    P counts to run, e.g. 1,2 (default: numago's automatic count)\n"
    "  --filter S      only kernels whose name (e.g. 'uts', 'fib(27)') contains S\n"
    "  --no-peer       numago only\n"
    "  --cutoff C      nqueens rows with tasks (default 3)\n"
    "  --stats         numago's scheduler counters per run (ng_stats_read) on stderr\n"
    "  --fib N --nqueens N --sort N --skynet N --uts T1,T3,T1S,T3S   sizes";

int main(int argc, char **argv)
{
	opt.reps = -1;
	opt.cutoff = 3;
	opt.fib_n = -1;
	opt.nq_n = -1;
	opt.skynet_n = -1;
	opt.sort_n = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("%s\n", help);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			opt.json = 1;
		} else if (strcmp(a, "--quick") == 0) {
			opt.quick = 1;
		} else if (strcmp(a, "--full") == 0) {
			opt.full = 1;
		} else if (strcmp(a, "--stats") == 0) {
			opt.stats = 1;
		} else if (strcmp(a, "--no-peer") == 0) {
			opt.no_peer = 1;
		} else if (v != NULL && strcmp(a, "--reps") == 0) {
			opt.reps = atoi(v), i++;
		} else if (v != NULL && strcmp(a, "--cutoff") == 0) {
			opt.cutoff = atoi(v), i++;
		} else if (v != NULL && strcmp(a, "--filter") == 0) {
			opt.filter = v, i++;
		} else if (v != NULL && strcmp(a, "--procs") == 0) {
			if (parse_procs(v) != 0) {
				fprintf(stderr, "bench_tasks: bad --procs '%s'\n", v);
				return 2;
			}
			i++;
		} else if (v != NULL && strcmp(a, "--fib") == 0) {
			opt.fib_n = atoi(v), i++;
		} else if (v != NULL && strcmp(a, "--nqueens") == 0) {
			opt.nq_n = atoi(v), i++;
		} else if (v != NULL && strcmp(a, "--sort") == 0) {
			opt.sort_n = atoll(v), i++;
		} else if (v != NULL && strcmp(a, "--skynet") == 0) {
			opt.skynet_n = atoi(v), i++;
		} else if (v != NULL && strcmp(a, "--uts") == 0) {
			opt.uts = v, i++;
		} else {
			fprintf(stderr, "bench_tasks: unknown option '%s' (try --help)\n", a);
			return 2;
		}
	}
	if (opt.reps < 0)
		opt.reps = opt.quick ? 3 : 5;
	if (opt.reps < 1)
		opt.reps = 1;
	if (opt.reps > MAX_REPS)
		opt.reps = MAX_REPS;
	if (opt.fib_n < 0)
		opt.fib_n = opt.full ? 32 : opt.quick ? 25 : 27;
	if (opt.nq_n < 0)
		opt.nq_n = opt.full ? 14 : opt.quick ? 11 : 12;
	if (opt.sort_n < 0)
		opt.sort_n = opt.full ? 32 << 20 : opt.quick ? 1 << 20 : 4 << 20;
	if (opt.skynet_n < 0)
		opt.skynet_n = opt.quick ? 100000 : 1000000;
	if (opt.uts == NULL)
		opt.uts = opt.full ? "T1,T3" : opt.quick ? "T1S" : "T1S,T3S";
	if (opt.nq_n < 1 || opt.nq_n > TK_NQ_MAX || opt.fib_n < 0 || opt.fib_n > 60 ||
	    opt.sort_n < 1 || opt.skynet_n < 1) {
		fprintf(stderr, "bench_tasks: size out of range\n");
		return 2;
	}
	if (!tk_sha1_selftest()) {
		fprintf(stderr, "bench_tasks: SHA-1 self-test failed\n");
		return 1;
	}

	char buf[64];
	snprintf(buf, sizeof buf, "%d", opt.fib_n);
	add_job(K_FIB, buf);
	char utsl[64];
	snprintf(utsl, sizeof utsl, "%s", opt.uts);
	for (char *save = NULL, *tok = strtok_r(utsl, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		const tk_uts_tree *t = tk_uts_find(tok);
		if (t == NULL) {
			fprintf(stderr, "bench_tasks: unknown UTS tree '%s'\n", tok);
			return 2;
		}
		job *j = add_job(K_UTS, tok);
		if (j != NULL)
			j->tree = t;
	}
	snprintf(buf, sizeof buf, "%d", opt.nq_n);
	add_job(K_NQ, buf);
	snprintf(buf, sizeof buf, "%lld", (long long)opt.sort_n);
	add_job(K_SORT, buf);
	snprintf(buf, sizeof buf, "%d", opt.skynet_n);
	add_job(K_SKYNET, buf);

	find_exe_dir();
	machine_info();
	ng_run(NULL, topo_main, NULL);
	if (prepare_jobs() != 0) {
		fprintf(stderr, "bench_tasks: a sequential reference run failed\n");
		return 1;
	}
	if (opt.nprocs == 0) {
		opt.procs[0] = 0; /* numago's automatic count */
		opt.nprocs = 1;
	}
	if (!opt.json)
		printf("machine: %s, %d cores, %d PUs, %d NUMA node%s; %d reps (min/median of "
		       "wall seconds per run)\n",
		       cpu_model, n_cores, n_pus, n_nodes, n_nodes == 1 ? "" : "s", opt.reps);
	fflush(stdout);

	int status = 0;
	for (int pi = 0; pi < opt.nprocs; pi++) {
		ng_config cfg;
		memset(&cfg, 0, sizeof cfg);
		cfg.procs = opt.procs[pi];
		cur_pi = pi;
		int rc = ng_run(&cfg, ng_main, NULL);
		if (rc != 0) {
			fprintf(stderr, "bench_tasks: ng_run(procs=%d) failed: %d\n", opt.procs[pi],
			        rc);
			return 1;
		}
		if (opt.no_peer)
			continue;
		for (int k = 0; k < njobs; k++)
			for (int impl = IMPL_OMP; impl < NIMPL; impl++) {
				run_peer(&jobs[k], impl, jobs[k].threads[pi], &jobs[k].r[pi][impl]);
				run_stats *st = &jobs[k].r[pi][impl];
				if (!opt.json && st->ran)
					fprintf(stderr, "  %s %s(%s) threads=%d: %.4f s\n",
					        impl_name[impl], kname[jobs[k].kernel],
					        jobs[k].size, jobs[k].threads[pi], st->min);
			}
	}
	if (go_state == 1)
		unlink(go_bin);

	/* ---- report ---- */
	if (!opt.json) {
		printf("\n%-16s %5s %8s | %17s | %17s %7s | %17s %7s | %17s %7s | %s\n",
		       "benchmark", "procs", "seq s", "numago min/med s", "OpenMP min/med s",
		       "ratio", "TBB min/med s", "ratio", "Go min/med s", "ratio", "verified");
	}
	for (int pi = 0; pi < opt.nprocs; pi++)
		for (int k = 0; k < njobs; k++) {
			job *j = &jobs[k];
			run_stats *ng = &j->r[pi][IMPL_NG];
			int ok = ng->ok;
			char verdict[256] = "";
			for (int impl = 0; impl < NIMPL; impl++) {
				run_stats *st = &j->r[pi][impl];
				if ((st->ran && !st->ok) || st->failed) {
					ok = 0;
					size_t l = strlen(verdict);
					snprintf(verdict + l, sizeof verdict - l, "%sFAIL %s: %s",
					         l ? "; " : "", impl_name[impl], st->note);
				}
			}
			if (!ok)
				status = 1;
			if (opt.json) {
				printf("{\"name\":\"tasks/%s\",\"size\":\"%s\",\"procs\":%d,"
				       "\"threads\":%d,\"unit\":\"s\",\"reps\":%d,\"seq\":%.6f,"
				       "\"value\":%lld,\"verified\":%s",
				       kname[j->kernel], j->size, j->threads[pi], j->threads[pi],
				       opt.reps, j->seq_s, (long long)j->want,
				       ok ? "true" : "false");
				for (int impl = 0; impl < NIMPL; impl++) {
					run_stats *st = &j->r[pi][impl];
					if (!st->ran)
						continue;
					printf(",\"%s_min\":%.6f,\"%s_median\":%.6f,\"%s_"
					       "verified\":%s",
					       impl_name[impl], st->min, impl_name[impl],
					       st->median, impl_name[impl],
					       st->ok ? "true" : "false");
					if (impl != IMPL_NG && st->min > 0)
						printf(",\"ratio_%s\":%.4f", impl_name[impl],
						       ng->min / st->min);
				}
				printf(
				    ",\"cpu\":\"%s\",\"cores\":%d,\"pus\":%d,\"numa_nodes\":%d}\n",
				    cpu_model, n_cores, n_pus, n_nodes);
				continue;
			}
			printf("%-16s %5d %8.4f | %8.4f %8.4f |", j->label, j->threads[pi],
			       j->seq_s, ng->min, ng->median);
			for (int impl = IMPL_OMP; impl < NIMPL; impl++) {
				run_stats *st = &j->r[pi][impl];
				if (st->ran)
					printf(" %8.4f %8.4f %7.2f |", st->min, st->median,
					       ng->min / st->min);
				else
					printf(" %17s %7s |", "n/a", "");
			}
			printf(" %s\n", ok ? "ok" : verdict);
		}
	if (!opt.json) {
		/* why a peer column is empty */
		for (int impl = IMPL_OMP; impl < NIMPL && !opt.no_peer; impl++)
			for (int k = 0; k < njobs; k++)
				if (!jobs[k].r[0][impl].ran && jobs[k].r[0][impl].note[0] != '\0') {
					printf("(%s peer: %s)\n", impl_title[impl],
					       jobs[k].r[0][impl].note);
					break;
				}
		if (atomic_load(&spawn_failed) > 0)
			printf("(%ld spawns failed and ran inline)\n", atomic_load(&spawn_failed));
		printf("ratio = numago min / peer min (> 1: numago slower); Go runs skynet only\n");
	}
	return status;
}
