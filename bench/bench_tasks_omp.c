/* bench/bench_tasks_omp.c — the OpenMP-tasks peer of bench_tasks: the same
 * kernels with the same task structure (a task where numago spawns a
 * goroutine, taskwait where it waits on the waitgroup), run inside one
 * parallel region of --threads threads (omp_set_num_threads).  Protocol in
 * tasks_kernels.h: prints "result <value> times <s>...". */
#include "tasks_kernels.h"

#include <omp.h>

/* ---- fib ---- */
static int64_t fib_omp(int n)
{
	if (n < 2)
		return n;
	int64_t x, y;
#pragma omp task shared(x) firstprivate(n)
	x = fib_omp(n - 1);
	y = fib_omp(n - 2);
#pragma omp taskwait
	return x + y;
}

/* ---- UTS ---- */
static const tk_uts_tree *uts_tree;

static int64_t uts_omp(const tk_uts_node *n)
{
	int nc = tk_uts_num_children(uts_tree, n);
	if (nc == 0)
		return 1;
	tk_uts_node lk[16];
	int64_t lc[16];
	tk_uts_node *kids = nc <= 16 ? lk : (tk_uts_node *)malloc((size_t)nc * sizeof *kids);
	int64_t *counts = nc <= 16 ? lc : (int64_t *)malloc((size_t)nc * sizeof *counts);
	if (kids == NULL || counts == NULL)
		abort();
	for (int i = 0; i < nc; i++) {
		tk_uts_child(n, i, &kids[i]);
#pragma omp task shared(kids, counts) firstprivate(i)
		counts[i] = uts_omp(&kids[i]);
	}
#pragma omp taskwait
	int64_t count = 1;
	for (int i = 0; i < nc; i++)
		count += counts[i];
	if (kids != lk) {
		free(kids);
		free(counts);
	}
	return count;
}

/* ---- nqueens ---- */
static int nq_n, nq_cutoff;

static int64_t nq_omp(const signed char *board, int row)
{
	signed char b[TK_NQ_MAX];
	memcpy(b, board, (size_t)row);
	if (row >= nq_cutoff || row == nq_n)
		return tk_nq_seq(nq_n, row, b);
	int64_t counts[TK_NQ_MAX];
	signed char boards[TK_NQ_MAX][TK_NQ_MAX];
	int k = 0;
	for (int c = 0; c < nq_n; c++) {
		if (!tk_nq_ok(b, row, c))
			continue;
		memcpy(boards[k], b, (size_t)row);
		boards[k][row] = (signed char)c;
#pragma omp task shared(counts, boards) firstprivate(k, row)
		counts[k] = nq_omp(boards[k], row + 1);
		k++;
	}
#pragma omp taskwait
	int64_t count = 0;
	for (int i = 0; i < k; i++)
		count += counts[i];
	return count;
}

/* ---- cilksort ---- */
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
#pragma omp task firstprivate(a, b, ma, mb, out)
	pmerge(a, ma, b, mb, out);
	pmerge(a + ma + 1, na - ma - 1, b + mb, nb - mb, out + ma + mb + 1);
#pragma omp taskwait
}

static void psort(int32_t *a, int32_t *tmp, int64_t n, int to_tmp)
{
	if (n <= TK_SORT_CUT) {
		tk_qsort(a, n);
		if (to_tmp)
			memcpy(tmp, a, (size_t)n * sizeof *a);
		return;
	}
	int64_t h = n / 2;
#pragma omp task firstprivate(a, tmp, h, to_tmp)
	psort(a, tmp, h, !to_tmp);
	psort(a + h, tmp + h, n - h, !to_tmp);
#pragma omp taskwait
	const int32_t *src = to_tmp ? a : tmp;
	pmerge(src, h, src + h, n - h, to_tmp ? tmp : a);
}

/* ---- skynet: a task per node, the children's sums joined by taskwait ---- */
static int64_t skynet_omp(int64_t num, int64_t size)
{
	if (size == 1)
		return num;
	int64_t r[TK_SKYNET_DIV];
	for (int i = 0; i < TK_SKYNET_DIV; i++) {
#pragma omp task shared(r) firstprivate(i, num, size)
		r[i] = skynet_omp(num + i * (size / TK_SKYNET_DIV), size / TK_SKYNET_DIV);
	}
#pragma omp taskwait
	int64_t s = 0;
	for (int i = 0; i < TK_SKYNET_DIV; i++)
		s += r[i];
	return s;
}

int main(int argc, char **argv)
{
	tk_args a;
	tk_parse(argc, argv, &a,
	         "bench_tasks_omp: bench_tasks' kernels with OpenMP tasks (the peer bench_tasks "
	         "runs)");
	if (a.threads > 0)
		omp_set_num_threads(a.threads);
	int kernel = strcmp(a.kernel, "fib") == 0       ? 0
	             : strcmp(a.kernel, "uts") == 0     ? 1
	             : strcmp(a.kernel, "nqueens") == 0 ? 2
	             : strcmp(a.kernel, "sort") == 0    ? 3
	             : strcmp(a.kernel, "skynet") == 0  ? 4
	                                                : -1;
	if (kernel < 0) {
		fprintf(stderr, "%s: unknown kernel '%s'\n", argv[0], a.kernel);
		return 2;
	}
	int64_t n = atoll(a.size);
	int32_t *in = NULL, *arr = NULL, *tmp = NULL;
	if (kernel == 1) {
		uts_tree = tk_uts_find(a.size);
		if (uts_tree == NULL) {
			fprintf(stderr, "%s: unknown tree '%s'\n", argv[0], a.size);
			return 2;
		}
	} else if (kernel == 3) {
		in = (int32_t *)malloc((size_t)n * sizeof *in);
		arr = (int32_t *)malloc((size_t)n * sizeof *arr);
		tmp = (int32_t *)malloc((size_t)n * sizeof *tmp);
		if (in == NULL || arr == NULL || tmp == NULL)
			return 1;
		tk_sort_input(in, n);
	}
	nq_n = (int)n;
	nq_cutoff = a.cutoff;
	if (kernel == 2 && (n < 1 || n > TK_NQ_MAX))
		return 2;
	double *t = (double *)malloc((size_t)(a.reps + 1) * sizeof *t);
	int64_t v = -1, first = 0;
	int same = 1;
	for (int r = 0; r <= a.reps; r++) { /* r == 0: warm-up */
		if (kernel == 3)
			memcpy(arr, in, (size_t)n * sizeof *arr);
		double t0 = tk_now();
#pragma omp parallel
#pragma omp single
		{
			switch (kernel) {
			case 0:
				v = fib_omp((int)n);
				break;
			case 1: {
				tk_uts_node root;
				tk_uts_root(uts_tree, &root);
				v = uts_omp(&root);
				break;
			}
			case 2: {
				signed char board[TK_NQ_MAX] = {0}; /* row 0 reads none */
				v = nq_omp(board, 0);
				break;
			}
			case 3:
				psort(arr, tmp, n, 0);
				break;
			case 4:
				v = skynet_omp(0, n);
				break;
			}
		}
		t[r] = tk_now() - t0;
		if (kernel == 3)
			v = tk_sort_verify(arr, n);
		if (r == 0)
			first = v;
		same &= v == first;
	}
	/* every run's result must be the same (the caller checks the value) */
	printf("result %lld times", same ? (long long)v : -1LL);
	for (int r = 1; r <= a.reps; r++)
		printf(" %.6f", t[r]);
	printf("\n");
	return 0;
}
