/* test_mpi_coll: barrier and allreduce through the MPI bridge.
 *
 * One goroutine runs 200 allreduces (sum, max, in place) and barriers in
 * sequence on MPI_COMM_WORLD; then 16 goroutines each run 100 allreduces at
 * once, each on its own duplicate of MPI_COMM_WORLD (collectives on one
 * communicator must be called in the same order everywhere; on separate
 * ones they may overlap), checked exactly; a barrier after rank 1 slept
 * 100 ms keeps rank 0 waiting at least that long; an allreduce with a
 * deadline that does not pass works on copies and returns the result. */
#include "ng_test.h"

#include <numago.h>
#include <numago/mpi.h>

#include <stdint.h>
#include <stdio.h>

#define NG     16
#define ROUNDS 100

static int rank, size;
static MPI_Comm comms[NG];
static ng_waitgroup wg = NG_WAITGROUP_INIT;

static void worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	for (int r = 0; r < ROUNDS; r++) {
		int64_t v[4] = {rank + r, i * 1000 + rank, 1, (int64_t)r * (rank + 1)}, out[4];
		CHECK_EQ(ng_mpi_allreduce(v, out, 4, MPI_INT64_T, MPI_SUM, comms[i], NG_FOREVER),
		         0);
		CHECK_EQ(out[0], 2 * r + 1);
		CHECK_EQ(out[1], 2 * i * 1000 + 1);
		CHECK_EQ(out[2], 2);
		CHECK_EQ(out[3], 3 * r);
		if (r % 10 == 0)
			CHECK_EQ(ng_mpi_barrier(comms[i], NG_FOREVER), 0);
	}
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	for (int r = 0; r < 200; r++) {
		double d = rank + 0.5 * r, s = -1;
		CHECK_EQ(
		    ng_mpi_allreduce(&d, &s, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, NG_FOREVER),
		    0);
		CHECK(s == 1.0 + r); /* 0.5r + (1 + 0.5r) */
		int mx = rank * 7 + r, got = 0;
		CHECK_EQ(
		    ng_mpi_allreduce(&mx, &got, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, NG_FOREVER),
		    0);
		CHECK_EQ(got, 7 + r);
		int inplace[3] = {1, rank, r};
		CHECK_EQ(ng_mpi_allreduce(MPI_IN_PLACE, inplace, 3, MPI_INT, MPI_SUM,
		                          MPI_COMM_WORLD, NG_FOREVER),
		         0);
		CHECK_EQ(inplace[0], 2);
		CHECK_EQ(inplace[1], 1);
		CHECK_EQ(inplace[2], 2 * r);
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	}
	/* concurrent collectives on separate communicators */
	for (int i = 0; i < NG; i++)
		CHECK_EQ(MPI_Comm_dup(MPI_COMM_WORLD, &comms[i]), MPI_SUCCESS);
	ng_waitgroup_add(&wg, NG);
	for (int i = 0; i < NG; i++)
		ng_go(worker, (void *)(intptr_t)i);
	ng_waitgroup_wait(&wg);
	for (int i = 0; i < NG; i++)
		MPI_Comm_free(&comms[i]);
	/* a barrier waits for the slow rank */
	if (rank == 1)
		ng_sleep(100 * 1000000LL);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	if (rank == 0)
		CHECK(ng_now() - t0 >= 90 * 1000000LL);
	/* with a deadline that does not pass: copies, same result */
	long v = 10 + rank, sum = 0;
	CHECK_EQ(ng_mpi_allreduce(&v, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD,
	                          ng_now() + 30LL * 1000000000),
	         0);
	CHECK_EQ(sum, 21);
	ng_mpi_stats s;
	ng_mpi_stats_read(&s);
	CHECK_EQ(s.outstanding, 0);
	CHECK_EQ(s.errors, 0);
	printf("rank %d: collectives ok (waits %llu, parks %llu)\n", rank,
	       (unsigned long long)s.waits, (unsigned long long)s.parks);
	return 0;
}

int main(int argc, char **argv)
{
	CHECK_EQ(ng_mpi_init(&argc, &argv), 0);
	rank = ng_mpi_rank();
	size = ng_mpi_size();
	CHECK_EQ(size, 2);
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	CHECK_EQ(ng_mpi_finalize(), 0);
	return 0;
}
