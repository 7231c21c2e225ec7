/* examples/mpi_stencil.c — a 2D Jacobi (heat) stencil over MPI ranks, one
 * goroutine per tile, halo exchanges by MPI inside the goroutines.
 *
 * The N x N grid (fixed boundary values) is split into row slabs, one per
 * rank; each slab into TY x TX tiles, one goroutine each.  Every iteration
 * a tile on the slab's top or bottom edge posts the receive of its ghost
 * row segment and the send of its edge row segment (ng_mpi_irecv/isend;
 * tags name the tile column and direction), computes the rows that need
 * no ghost while the messages travel, then parks in ng_mpi_wait and
 * computes its edge row.  Tiles meet at a barrier (ng_mutex + ng_cond)
 * before the arrays swap.  Tiles inside the slab read their neighbours'
 * cells of the previous iteration directly (shared memory).
 *
 * Rank 0 then runs the same iteration serially on the whole grid and
 * compares it, bit for bit, with the slabs gathered from every rank.
 *
 *   mpirun -np 2 mpi_stencil [N [iterations [TY [TX [blocking]]]]]
 *
 * "blocking" runs the same computation with the halo exchanged first by
 * plain blocking MPI_Sendrecv (in ng_block_enter/exit) and no overlap, for
 * comparison (bench/bench_mpi.c times both). */
#include <numago.h>
#include <numago/mpi.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stencil {
	int n, iters, ty, tx;
	int blocking;
	int rank, size;
	int r0, r1;    /* global rows this rank owns: [r0, r1) */
	double *a, *b; /* (r1 - r0 + 2) x n each: ghost row, slab, ghost row */
	ng_mutex mu;   /* the tiles' barrier */
	ng_cond cv;
	int arrived, gen;
	ng_waitgroup wg;
	int err;
} stencil;

typedef struct tile {
	stencil *s;
	int id, y, x;
	int lr0, lr1; /* local rows (1-based: row 0 is the top ghost) */
	int c0, c1;   /* columns */
} tile;

static inline double jacobi(const double *up, const double *mid, const double *dn, int j)
{
	return 0.25 * (up[j] + dn[j] + mid[j - 1] + mid[j + 1]);
}

static double init_value(int i, int j, int n)
{
	if (i == 0)
		return 1.0; /* hot top edge */
	if (i == n - 1 || j == 0 || j == n - 1)
		return 0.0;
	return (double)((i * 7 + j * 13) % 17) / 17.0;
}

/* Rows [r0, r1) of the global grid owned by rank r of size. */
static void slab_of(int n, int r, int size, int *r0, int *r1)
{
	*r0 = (int)((long)n * r / size);
	*r1 = (int)((long)n * (r + 1) / size);
}

static void update_row(stencil *s, const double *old, double *new, int lr, int c0, int c1)
{
	int gi = s->r0 + lr - 1;
	if (gi <= 0 || gi >= s->n - 1)
		return; /* fixed boundary row */
	const double *up = old + (size_t)(lr - 1) * s->n, *mid = old + (size_t)lr * s->n,
	             *dn = old + (size_t)(lr + 1) * s->n;
	double *out = new + (size_t)lr * s->n;
	for (int j = c0; j < c1; j++)
		out[j] = jacobi(up, mid, dn, j);
}

static void tile_barrier(stencil *s, int ntiles)
{
	ng_mutex_lock(&s->mu);
	int gen = s->gen;
	if (++s->arrived == ntiles) {
		s->arrived = 0;
		s->gen++;
		ng_cond_broadcast(&s->cv);
	} else {
		while (s->gen == gen)
			ng_cond_wait(&s->cv, &s->mu);
	}
	ng_mutex_unlock(&s->mu);
}

/* Tags: 2 * tile column + 0 for a row going up (to rank - 1), + 1 down. */
static void tile_run(void *arg)
{
	tile *t = arg;
	stencil *s = t->s;
	int n = s->n, rows = s->r1 - s->r0, ntiles = s->ty * s->tx;
	/* interior columns 1..n-2 are computed; the segments exchanged are the
	 * tile's columns, so neighbouring ranks' tiles line up */
	int c0 = t->c0, c1 = t->c1, len = c1 - c0;
	bool top = t->lr0 == 1 && s->rank > 0;
	bool bot = t->lr1 == rows + 1 && s->rank < s->size - 1;
	double *old = s->a, *new = s->b;
	for (int it = 0; it < s->iters; it++) {
		MPI_Request rq[4];
		int nrq = 0;
		if (!s->blocking) {
			if (top) {
				ng_mpi_irecv(old + c0, len, MPI_DOUBLE, s->rank - 1, 2 * t->x + 1,
				             MPI_COMM_WORLD, &rq[nrq++]);
				ng_mpi_isend(old + (size_t)n + c0, len, MPI_DOUBLE, s->rank - 1,
				             2 * t->x, MPI_COMM_WORLD, &rq[nrq++]);
			}
			if (bot) {
				ng_mpi_irecv(old + (size_t)(rows + 1) * n + c0, len, MPI_DOUBLE,
				             s->rank + 1, 2 * t->x, MPI_COMM_WORLD, &rq[nrq++]);
				ng_mpi_isend(old + (size_t)rows * n + c0, len, MPI_DOUBLE,
				             s->rank + 1, 2 * t->x + 1, MPI_COMM_WORLD, &rq[nrq++]);
			}
		}
		/* rows that need no ghost, while the halo travels */
		for (int lr = t->lr0; lr < t->lr1; lr++)
			if (!(top && lr == 1) && !(bot && lr == rows))
				update_row(s, old, new, lr, c0, c1);
		for (int k = 0; k < nrq; k++) {
			int r = ng_mpi_wait(&rq[k], MPI_STATUS_IGNORE, NG_FOREVER);
			if (r != 0)
				s->err = r;
		}
		if (top)
			update_row(s, old, new, 1, c0, c1);
		if (bot && !(top && rows == 1))
			update_row(s, old, new, rows, c0, c1);
		tile_barrier(s, ntiles);
		if (s->blocking && t->id == 0) {
			/* the comparison: blocking exchange of whole rows, no overlap */
			double *nx = new;
			ng_block_enter();
			if (s->rank > 0)
				MPI_Sendrecv(nx + n, n, MPI_DOUBLE, s->rank - 1, 0, nx, n,
				             MPI_DOUBLE, s->rank - 1, 1, MPI_COMM_WORLD,
				             MPI_STATUS_IGNORE);
			if (s->rank < s->size - 1)
				MPI_Sendrecv(nx + (size_t)rows * n, n, MPI_DOUBLE, s->rank + 1, 1,
				             nx + (size_t)(rows + 1) * n, n, MPI_DOUBLE,
				             s->rank + 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			ng_block_exit();
		}
		if (s->blocking)
			tile_barrier(s, ntiles);
		double *tmp = old;
		old = new;
		new = tmp;
	}
	ng_waitgroup_done(&s->wg);
}

/* Run the distributed stencil; the result is in the returned array
 * (s->a or s->b, the slab with its ghost rows). */
static double *stencil_run(stencil *s)
{
	int n = s->n, rows = s->r1 - s->r0;
	size_t cells = (size_t)(rows + 2) * n;
	s->a = malloc(cells * sizeof(double));
	s->b = malloc(cells * sizeof(double));
	for (int lr = 0; lr < rows + 2; lr++) {
		int gi = s->r0 + lr - 1;
		for (int j = 0; j < n; j++) {
			double v = gi >= 0 && gi < n ? init_value(gi, j, n) : 0.0;
			s->a[(size_t)lr * n + j] = v;
			s->b[(size_t)lr * n + j] = v;
		}
	}
	if (s->blocking) {
		/* the first halo, exchanged the same way */
		double *x = s->a;
		ng_block_enter();
		if (s->rank > 0)
			MPI_Sendrecv(x + n, n, MPI_DOUBLE, s->rank - 1, 0, x, n, MPI_DOUBLE,
			             s->rank - 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		if (s->rank < s->size - 1)
			MPI_Sendrecv(x + (size_t)rows * n, n, MPI_DOUBLE, s->rank + 1, 1,
			             x + (size_t)(rows + 1) * n, n, MPI_DOUBLE, s->rank + 1, 0,
			             MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		ng_block_exit();
	}
	ng_mutex m0 = NG_MUTEX_INIT;
	s->mu = m0;
	memset(&s->cv, 0, sizeof s->cv);
	s->arrived = s->gen = 0;
	ng_waitgroup w0 = NG_WAITGROUP_INIT;
	s->wg = w0;
	int nt = s->ty * s->tx;
	tile *tiles = calloc((size_t)nt, sizeof *tiles);
	ng_waitgroup_add(&s->wg, nt);
	for (int y = 0; y < s->ty; y++)
		for (int x = 0; x < s->tx; x++) {
			tile *t = &tiles[y * s->tx + x];
			t->s = s;
			t->id = y * s->tx + x;
			t->y = y;
			t->x = x;
			t->lr0 = 1 + (int)((long)rows * y / s->ty);
			t->lr1 = 1 + (int)((long)rows * (y + 1) / s->ty);
			t->c0 = 1 + (int)((long)(n - 2) * x / s->tx);
			t->c1 = 1 + (int)((long)(n - 2) * (x + 1) / s->tx);
			ng_go(tile_run, t);
		}
	ng_waitgroup_wait(&s->wg);
	free(tiles);
	return s->iters % 2 == 0 ? s->a : s->b;
}

static void stencil_setup(stencil *s, int n, int iters, int ty, int tx, int blocking)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->iters = iters;
	s->ty = ty;
	s->tx = tx;
	s->blocking = blocking;
	s->rank = ng_mpi_rank();
	s->size = ng_mpi_size();
	slab_of(n, s->rank, s->size, &s->r0, &s->r1);
}

static void stencil_free(stencil *s)
{
	free(s->a);
	free(s->b);
}

/* The same iteration, serially, on the whole grid. */
static double *serial_run(int n, int iters)
{
	double *a = malloc((size_t)n * n * sizeof(double));
	double *b = malloc((size_t)n * n * sizeof(double));
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			a[(size_t)i * n + j] = b[(size_t)i * n + j] = init_value(i, j, n);
	for (int it = 0; it < iters; it++) {
		for (int i = 1; i < n - 1; i++)
			for (int j = 1; j < n - 1; j++)
				b[(size_t)i * n + j] =
				    jacobi(a + (size_t)(i - 1) * n, a + (size_t)i * n,
				           a + (size_t)(i + 1) * n, j);
		double *t = a;
		a = b;
		b = t;
	}
	free(b);
	return a;
}

/* Gather the slabs on rank 0 and compare them with the serial result:
 * the number of cells that differ (0: bit for bit), on rank 0. */
static long stencil_verify(stencil *s, const double *res)
{
	int n = s->n, rows = s->r1 - s->r0;
	if (s->rank != 0) {
		ng_mpi_send(res + n, rows * n, MPI_DOUBLE, 0, 77, MPI_COMM_WORLD, NG_FOREVER);
		return 0;
	}
	double *ref = serial_run(n, s->iters);
	double *all = malloc((size_t)n * n * sizeof(double));
	memcpy(all, res + n, (size_t)rows * n * sizeof(double));
	for (int r = 1; r < s->size; r++) {
		int a0, a1;
		slab_of(n, r, s->size, &a0, &a1);
		ng_mpi_recv(all + (size_t)a0 * n, (a1 - a0) * n, MPI_DOUBLE, r, 77, MPI_COMM_WORLD,
		            MPI_STATUS_IGNORE, NG_FOREVER);
	}
	long diff = 0;
	for (size_t k = 0; k < (size_t)n * n; k++)
		if (memcmp(&all[k], &ref[k], sizeof(double)) != 0)
			diff++;
	free(ref);
	free(all);
	return diff;
}

#ifndef MPI_STENCIL_NO_MAIN
static int argn(int argc, char **argv, int i, int def)
{
	return argc > i ? atoi(argv[i]) : def;
}

static int g_argc;
static char **g_argv;

static int main_g(void *arg)
{
	(void)arg;
	stencil s;
	int n = argn(g_argc, g_argv, 1, 130), iters = argn(g_argc, g_argv, 2, 50);
	int blocking = g_argc > 5 && strcmp(g_argv[5], "blocking") == 0;
	stencil_setup(&s, n, iters, argn(g_argc, g_argv, 3, 4), argn(g_argc, g_argv, 4, 2),
	              blocking);
	int64_t t0 = ng_now();
	double *res = stencil_run(&s);
	double dt = (double)(ng_now() - t0) / 1e9;
	long diff = stencil_verify(&s, res);
	int rc = s.err != 0 || diff != 0;
	if (s.rank == 0)
		printf("mpi_stencil: %dx%d grid, %d iterations, %d ranks x %d tiles (%s): %.3f s; "
		       "%s serial run (%ld cells differ)\n",
		       n, n, iters, s.size, s.ty * s.tx,
		       blocking ? "blocking MPI_Sendrecv" : "goroutines, overlapped", dt,
		       diff == 0 ? "bit-for-bit equal to the" : "DIFFERS from the", diff);
	if (s.err != 0)
		fprintf(stderr, "rank %d: MPI error %d\n", s.rank, s.err);
	stencil_free(&s);
	return rc;
}

int main(int argc, char **argv)
{
	if (ng_mpi_init(&argc, &argv) != 0)
		return 1;
	g_argc = argc;
	g_argv = argv;
	int rc = ng_run(NULL, main_g, NULL);
	ng_mpi_finalize();
	return rc;
}
#endif
