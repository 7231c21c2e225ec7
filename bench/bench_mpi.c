/* bench/bench_mpi.c — the MPI bridge against plain MPI, same run, 2 ranks.
 *
 *   mpirun -np 2 [--oversubscribe] bench_mpi [--reps N] [--quick] [--json]
 *
 * 1. Ping-pong: rank 0 sends a message of S bytes, rank 1 sends it back;
 *    half the round trip is the latency, S / that the bandwidth.  Plain:
 *    blocking MPI_Send/MPI_Recv on the main thread (before the runtime
 *    starts).  numago: ng_mpi_send/ng_mpi_recv in a goroutine (Isend/Irecv
 *    and a park; the poller or the waiter's short test completes them).
 *    Sizes 8 B to 4 MiB; median of --reps repetitions of a fixed count.
 * 2. Overlap: the mpi_stencil example's Jacobi iteration (1026x1026, 100
 *    iterations, 8 tile goroutines per rank) with halos exchanged inside
 *    the tile goroutines while the interior is computed, against the same
 *    computation with a blocking MPI_Sendrecv halo exchange between
 *    iterations (no overlap); both checked bit for bit against a serial
 *    run on rank 0.
 * Rank 0 prints the table: numago, plain, and numago/plain (latency: >1 is
 * slower; bandwidth: <1 is slower); with --json, one JSON line per row
 * instead (min and median of the repetitions; tools/report.sh reads them). */
#define MPI_STENCIL_NO_MAIN
#include "../examples/mpi_stencil.c"

#include <numago.h>
#include <numago/mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, reps = 5, quick, json;
static const int sizes[] = {8, 1024, 65536, 1 << 20, 4 << 20};
#define NSIZES ((int)(sizeof sizes / sizeof sizes[0]))
static double lat_plain[NSIZES], lat_ng[NSIZES]; /* medians */
static double min_plain[NSIZES], min_ng[NSIZES];
static char *buf;

static int iters_for(int size)
{
	int n = size <= 1024 ? 20000 : size <= 65536 ? 2000 : 100;
	return quick ? n / 10 : n;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts v: v[0] is then the minimum. */
static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_d);
	return v[n / 2];
}

/* one-way latency in ns: half the round trip */
static double pingpong_plain(int size, int iters)
{
	MPI_Barrier(MPI_COMM_WORLD);
	int64_t t0 = ng_now();
	for (int i = 0; i < iters; i++) {
		if (rank == 0) {
			MPI_Send(buf, size, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
			MPI_Recv(buf, size, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else {
			MPI_Recv(buf, size, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(buf, size, MPI_BYTE, 0, 1, MPI_COMM_WORLD);
		}
	}
	return (double)(ng_now() - t0) / iters / 2;
}

static double pingpong_ng(int size, int iters)
{
	ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER);
	int64_t t0 = ng_now();
	for (int i = 0; i < iters; i++) {
		if (rank == 0) {
			ng_mpi_send(buf, size, MPI_BYTE, 1, 1, MPI_COMM_WORLD, NG_FOREVER);
			ng_mpi_recv(buf, size, MPI_BYTE, 1, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE,
			            NG_FOREVER);
		} else {
			ng_mpi_recv(buf, size, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE,
			            NG_FOREVER);
			ng_mpi_send(buf, size, MPI_BYTE, 0, 1, MPI_COMM_WORLD, NG_FOREVER);
		}
	}
	return (double)(ng_now() - t0) / iters / 2;
}

static void stencil_time(int blocking, double *secs, double *best, long *diff)
{
	int n = quick ? 514 : 1026, iters = quick ? 20 : 100;
	double t[16];
	int r = reps < 16 ? reps : 16;
	for (int k = 0; k < r; k++) {
		stencil s;
		stencil_setup(&s, n, iters, 4, 2, blocking);
		ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER);
		int64_t t0 = ng_now();
		double *res = stencil_run(&s);
		ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER);
		t[k] = (double)(ng_now() - t0) / 1e9;
		if (k == 0)
			*diff = stencil_verify(&s, res);
		stencil_free(&s);
	}
	*secs = median(t, r);
	*best = t[0];
}

static int main_g(void *arg)
{
	(void)arg;
	double v[64];
	for (int s = 0; s < NSIZES; s++) {
		for (int k = 0; k < reps; k++)
			v[k] = pingpong_ng(sizes[s], iters_for(sizes[s]));
		lat_ng[s] = median(v, reps);
		min_ng[s] = v[0];
	}
	double so, sb, so_min, sb_min;
	long dov = 0, dbl = 0;
	stencil_time(0, &so, &so_min, &dov);
	stencil_time(1, &sb, &sb_min, &dbl);
	ng_mpi_stats st;
	ng_mpi_stats_read(&st);
	if (rank != 0)
		return 0;
	if (json) {
		for (int s = 0; s < NSIZES; s++)
			printf("{\"name\": \"MPI/PingPong/%dB\", \"unit\": \"ns one-way\", "
			       "\"numago_min\": %.1f, \"numago_median\": %.1f, \"peer\": \"plain "
			       "MPI\", "
			       "\"peer_min\": %.1f, \"peer_median\": %.1f, \"ratio\": %.3f, "
			       "\"procs\": %d}\n",
			       sizes[s], min_ng[s], lat_ng[s], min_plain[s], lat_plain[s],
			       min_ng[s] / min_plain[s], ng_procs());
		printf(
		    "{\"name\": \"MPI/Stencil/%s\", \"unit\": \"s\", \"numago_min\": %.4f, "
		    "\"numago_median\": %.4f, \"peer\": \"blocking MPI_Sendrecv\", \"peer_min\": "
		    "%.4f, \"peer_median\": %.4f, \"ratio\": %.3f, \"procs\": %d, \"verified\": "
		    "%s}\n",
		    quick ? "514x514x20" : "1026x1026x100", so_min, so, sb_min, sb, so_min / sb_min,
		    ng_procs(), dov == 0 && dbl == 0 ? "true" : "false");
		return dov != 0 || dbl != 0;
	}
	printf("bench_mpi: 2 ranks, Open MPI thread level %d (MULTIPLE=%d), %d Ps per rank, "
	       "median of %d\n",
	       ng_mpi_thread_level(), MPI_THREAD_MULTIPLE, ng_procs(), reps);
	printf("%-10s %14s %14s %8s %14s %14s %8s\n", "size", "numago ns", "plain ns", "ratio",
	       "numago MB/s", "plain MB/s", "ratio");
	for (int s = 0; s < NSIZES; s++) {
		double bn = sizes[s] / lat_ng[s] * 1e3, bp = sizes[s] / lat_plain[s] * 1e3;
		printf("%-10d %14.0f %14.0f %8.2f %14.1f %14.1f %8.2f\n", sizes[s], lat_ng[s],
		       lat_plain[s], lat_ng[s] / lat_plain[s], bn, bp, bn / bp);
	}
	printf("stencil %s: goroutines+overlap %.3f s, blocking MPI_Sendrecv %.3f s, "
	       "speedup %.2fx (results %s)\n",
	       quick ? "514x514x20" : "1026x1026x100", so, sb, sb / so,
	       dov == 0 && dbl == 0 ? "bit-for-bit equal to serial" : "DIFFER");
	printf("rank 0 bridge stats: waits %llu, parks %llu, spin hits %llu, polled %llu in %llu "
	       "MPI_Testsome\n",
	       (unsigned long long)st.waits, (unsigned long long)st.parks,
	       (unsigned long long)st.spin_hits, (unsigned long long)st.completed,
	       (unsigned long long)st.polls);
	return dov != 0 || dbl != 0;
}

int main(int argc, char **argv)
{
	if (ng_mpi_init(&argc, &argv) != 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
	}
	if (reps < 1)
		reps = 1;
	if (reps > 64)
		reps = 64;
	rank = ng_mpi_rank();
	buf = calloc(1, (size_t)sizes[NSIZES - 1]);
	double v[64];
	for (int s = 0; s < NSIZES; s++) {
		for (int k = 0; k < reps; k++)
			v[k] = pingpong_plain(sizes[s], iters_for(sizes[s]));
		lat_plain[s] = median(v, reps);
		min_plain[s] = v[0];
	}
	int rc = ng_run(NULL, main_g, NULL);
	free(buf);
	ng_mpi_finalize();
	return rc;
}
