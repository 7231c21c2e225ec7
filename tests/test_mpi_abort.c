/* test_mpi_abort: a rank that aborts ends the whole job with one clear line.
 *
 * Rank 1 calls ng_mpi_abort from a goroutine while rank 0's goroutines are
 * parked on a receive that never comes.  mpirun must kill rank 0 and end
 * the job (the test's timeout would catch a hang); the ctest registration
 * looks for numago's one line in the output (PASS_REGULAR_EXPRESSION), and
 * rank 0 prints a line that must not appear. */
#include "ng_test.h"

#include <numago.h>
#include <numago/mpi.h>

#include <stdio.h>

static int rank;

static int main_g(void *arg)
{
	(void)arg;
	CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	if (rank == 1) {
		ng_sleep(50 * 1000000LL);
		ng_mpi_abort(3, "test_mpi_abort: rank 1 gives up on purpose");
	}
	int v;
	ng_mpi_recv(&v, 1, MPI_INT, 1, 42, MPI_COMM_WORLD, MPI_STATUS_IGNORE, NG_FOREVER);
	printf("rank 0 was not killed\n");
	return 0;
}

int main(int argc, char **argv)
{
	CHECK_EQ(ng_mpi_init(&argc, &argv), 0);
	rank = ng_mpi_rank();
	ng_run(NULL, main_g, NULL);
	ng_mpi_finalize();
	return 0;
}
