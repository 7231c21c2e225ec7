// bench/bench_tasks_tbb.cpp — the oneTBB peer of bench_tasks: the same
// kernels with the same task structure (task_group::run where numago spawns
// a goroutine, task_group::wait where it waits on the waitgroup), at most
// --threads threads (tbb::global_control::max_allowed_parallelism).
// Protocol in tasks_kernels.h: prints "result <value> times <s>...".
#include "tasks_kernels.h"

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_group.h>

#include <string>
#include <vector>

// ---- fib ----
static int64_t fib_tbb(int n)
{
	if (n < 2)
		return n;
	int64_t x, y;
	tbb::task_group g;
	g.run([&] { x = fib_tbb(n - 1); });
	y = fib_tbb(n - 2);
	g.wait();
	return x + y;
}

// ---- UTS ----
static const tk_uts_tree *uts_tree;

static int64_t uts_tbb(const tk_uts_node *n)
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
	tbb::task_group g;
	for (int i = 0; i < nc; i++) {
		tk_uts_child(n, i, &kids[i]);
		g.run([=] { counts[i] = uts_tbb(&kids[i]); });
	}
	g.wait();
	int64_t count = 1;
	for (int i = 0; i < nc; i++)
		count += counts[i];
	if (kids != lk) {
		free(kids);
		free(counts);
	}
	return count;
}

// ---- nqueens ----
static int nq_n, nq_cutoff;

static int64_t nq_tbb(const signed char *board, int row)
{
	signed char b[TK_NQ_MAX];
	memcpy(b, board, (size_t)row);
	if (row >= nq_cutoff || row == nq_n)
		return tk_nq_seq(nq_n, row, b);
	int64_t counts[TK_NQ_MAX];
	signed char boards[TK_NQ_MAX][TK_NQ_MAX];
	int k = 0;
	tbb::task_group g;
	for (int c = 0; c < nq_n; c++) {
		if (!tk_nq_ok(b, row, c))
			continue;
		memcpy(boards[k], b, (size_t)row);
		boards[k][row] = (signed char)c;
		g.run([&counts, &boards, k, row] { counts[k] = nq_tbb(boards[k], row + 1); });
		k++;
	}
	g.wait();
	int64_t count = 0;
	for (int i = 0; i < k; i++)
		count += counts[i];
	return count;
}

// ---- cilksort ----
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
	tbb::task_group g;
	g.run([=] { pmerge(a, ma, b, mb, out); });
	pmerge(a + ma + 1, na - ma - 1, b + mb, nb - mb, out + ma + mb + 1);
	g.wait();
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
	tbb::task_group g;
	g.run([=] { psort(a, tmp, h, !to_tmp); });
	psort(a + h, tmp + h, n - h, !to_tmp);
	g.wait();
	const int32_t *src = to_tmp ? a : tmp;
	pmerge(src, h, src + h, n - h, to_tmp ? tmp : a);
}

// ---- skynet: a task per node, the children's sums joined by wait ----
static int64_t skynet_tbb(int64_t num, int64_t size)
{
	if (size == 1)
		return num;
	int64_t r[TK_SKYNET_DIV];
	tbb::task_group g;
	for (int i = 0; i < TK_SKYNET_DIV; i++)
		g.run([&r, i, num, size] {
			r[i] = skynet_tbb(num + i * (size / TK_SKYNET_DIV), size / TK_SKYNET_DIV);
		});
	g.wait();
	int64_t s = 0;
	for (int i = 0; i < TK_SKYNET_DIV; i++)
		s += r[i];
	return s;
}

int main(int argc, char **argv)
{
	tk_args a;
	tk_parse(argc, argv, &a,
	         "bench_tasks_tbb: bench_tasks' kernels with oneTBB task_group (the peer "
	         "bench_tasks runs)");
	int threads = a.threads > 0 ? a.threads : 1;
	tbb::global_control gc(tbb::global_control::max_allowed_parallelism, (size_t)threads);
	std::string k = a.kernel;
	int64_t n = atoll(a.size);
	std::vector<int32_t> in, arr, tmp;
	if (k == "uts") {
		uts_tree = tk_uts_find(a.size);
		if (uts_tree == NULL) {
			fprintf(stderr, "%s: unknown tree '%s'\n", argv[0], a.size);
			return 2;
		}
	} else if (k == "sort") {
		in.resize((size_t)n);
		arr.resize((size_t)n);
		tmp.resize((size_t)n);
		tk_sort_input(in.data(), n);
	} else if (k == "nqueens") {
		if (n < 1 || n > TK_NQ_MAX)
			return 2;
		nq_n = (int)n;
		nq_cutoff = a.cutoff;
	} else if (k != "fib" && k != "skynet") {
		fprintf(stderr, "%s: unknown kernel '%s'\n", argv[0], a.kernel);
		return 2;
	}
	std::vector<double> t((size_t)a.reps + 1);
	int64_t v = -1, first = 0;
	bool same = true;
	for (int r = 0; r <= a.reps; r++) { // r == 0: warm-up
		if (k == "sort")
			memcpy(arr.data(), in.data(), (size_t)n * sizeof(int32_t));
		double t0 = tk_now();
		if (k == "fib") {
			v = fib_tbb((int)n);
		} else if (k == "uts") {
			tk_uts_node root;
			tk_uts_root(uts_tree, &root);
			v = uts_tbb(&root);
		} else if (k == "nqueens") {
			signed char board[TK_NQ_MAX] = {0};
			v = nq_tbb(board, 0);
		} else if (k == "sort") {
			psort(arr.data(), tmp.data(), n, 0);
		} else {
			v = skynet_tbb(0, n);
		}
		t[(size_t)r] = tk_now() - t0;
		if (k == "sort")
			v = tk_sort_verify(arr.data(), n);
		if (r == 0)
			first = v;
		same = same && v == first;
	}
	// every run's result must be the same (the caller checks the value)
	printf("result %lld times", same ? (long long)v : -1LL);
	for (int r = 1; r <= a.reps; r++)
		printf(" %.6f", t[(size_t)r]);
	printf("\n");
	return 0;
}
