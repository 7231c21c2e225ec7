/* test_mpi_deadline: deadlines on MPI waits, and the deadlock detector.
 *
 *  - ng_mpi_recv of a message nobody sends yet: -ETIMEDOUT after its 50 ms
 *    deadline (not before, not much after), the receive cancelled; the
 *    message sent later is received by the next receive, once.
 *  - ng_mpi_wait on an irecv: deadline 0 is -EAGAIN, a 30 ms deadline is
 *    -ETIMEDOUT and the request stays active; waiting again gets it.
 *  - ng_mpi_barrier with a deadline while the other rank is 300 ms late:
 *    -ETIMEDOUT; the barrier completes in the background (stats show it,
 *    then none), and the next barrier pairs up normally.
 *  - the main goroutine alone parked on a receive that rank 1 answers
 *    after 300 ms: the deadlock detector (NG_DEADLOCK_RETURN) must not
 *    fire while the request is outstanding.
 *  - 1000 goroutines each waiting with a deadline on receives that half of
 *    them get: the others time out, none lost, none delivered twice. */
#include "ng_test.h"

#include <numago.h>
#include <numago/mpi.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define MS     1000000LL
#define NWAITS NG_TEST_SCALE(1000, 200)

static int rank, peer;
static ng_waitgroup wg = NG_WAITGROUP_INIT;
/* The waiters' deadlines start once both ranks have all theirs: under TSan
 * a spawn costs ~3 ms (libtsan maps and clears a fiber), and the first
 * waiters timed out before the peer, still spawning, had sent anything. */
static ng_waitgroup gate = NG_WAITGROUP_INIT;
static _Atomic int got, timedout;

static void waiter(void *arg)
{
	int i = (int)(intptr_t)arg;
	int v = -1;
	CHECK_EQ(ng_waitgroup_wait(&gate), 0);
	int r = ng_mpi_recv(&v, 1, MPI_INT, peer, 1000 + i, MPI_COMM_WORLD, MPI_STATUS_IGNORE,
	                    ng_now() + 500 * MS);
	if (i % 2 == 0) {
		CHECK_EQ(r, 0);
		CHECK_EQ(v, i);
		atomic_fetch_add(&got, 1);
	} else {
		CHECK_EQ(r, -ETIMEDOUT);
		atomic_fetch_add(&timedout, 1);
	}
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	int v = 0;
	if (rank == 0) {
		int64_t t0 = ng_now();
		int r = ng_mpi_recv(&v, 1, MPI_INT, peer, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE,
		                    t0 + 50 * MS);
		int64_t dt = ng_now() - t0;
		CHECK_EQ(r, -ETIMEDOUT);
		CHECK(dt >= 50 * MS);
		CHECK(dt < 2000 * MS);
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0); /* now send it */
		MPI_Status st;
		CHECK_EQ(ng_mpi_recv(&v, 1, MPI_INT, peer, 7, MPI_COMM_WORLD, &st, NG_FOREVER), 0);
		CHECK_EQ(v, 77);
		/* the cancelled receive took nothing: a probe finds no second copy */
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
		int flag = 1;
		MPI_Iprobe(peer, 7, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
		CHECK_EQ(flag, 0);
	} else {
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
		v = 77;
		CHECK_EQ(ng_mpi_send(&v, 1, MPI_INT, peer, 7, MPI_COMM_WORLD, NG_FOREVER), 0);
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	}

	/* ng_mpi_wait's deadline leaves the request active */
	if (rank == 0) {
		MPI_Request rq;
		CHECK_EQ(ng_mpi_irecv(&v, 1, MPI_INT, peer, 8, MPI_COMM_WORLD, &rq), 0);
		CHECK_EQ(ng_mpi_wait(&rq, MPI_STATUS_IGNORE, 0), -EAGAIN);
		CHECK_EQ(ng_mpi_wait(&rq, MPI_STATUS_IGNORE, ng_now() + 30 * MS), -ETIMEDOUT);
		CHECK(rq != MPI_REQUEST_NULL);
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
		CHECK_EQ(ng_mpi_wait(&rq, MPI_STATUS_IGNORE, NG_FOREVER), 0);
		CHECK(rq == MPI_REQUEST_NULL);
		CHECK_EQ(v, 88);
	} else {
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
		v = 88;
		CHECK_EQ(ng_mpi_send(&v, 1, MPI_INT, peer, 8, MPI_COMM_WORLD, NG_FOREVER), 0);
	}

	/* a barrier's deadline: the collective goes on in the background */
	if (rank == 1)
		ng_sleep(300 * MS);
	if (rank == 0) {
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, ng_now() + 50 * MS), -ETIMEDOUT);
		ng_mpi_stats s;
		ng_mpi_stats_read(&s);
		CHECK_EQ(s.background, 1);
	} else {
		CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	}
	CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	ng_mpi_stats s;
	ng_mpi_stats_read(&s);
	CHECK_EQ(s.background, 0);

	/* the deadlock detector stays quiet while a request is outstanding */
	if (rank == 0) {
		CHECK_EQ(ng_mpi_recv(&v, 1, MPI_INT, peer, 9, MPI_COMM_WORLD, MPI_STATUS_IGNORE,
		                     NG_FOREVER),
		         0);
		CHECK_EQ(v, 99);
	} else {
		ng_sleep(300 * MS);
		v = 99;
		CHECK_EQ(ng_mpi_send(&v, 1, MPI_INT, peer, 9, MPI_COMM_WORLD, NG_FOREVER), 0);
	}

	/* many waiters with deadlines: half get their message */
	ng_waitgroup_add(&wg, NWAITS);
	ng_waitgroup_add(&gate, 1);
	for (int i = 0; i < NWAITS; i++)
		ng_go(waiter, (void *)(intptr_t)i);
	CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	ng_waitgroup_done(&gate);
	for (int i = 0; i < NWAITS; i += 2)
		CHECK_EQ(ng_mpi_send(&i, 1, MPI_INT, peer, 1000 + i, MPI_COMM_WORLD, NG_FOREVER),
		         0);
	ng_waitgroup_wait(&wg);
	CHECK_EQ(atomic_load(&got), NWAITS / 2);
	CHECK_EQ(atomic_load(&timedout), NWAITS / 2);
	CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);
	int flag = 1;
	MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
	CHECK_EQ(flag, 0); /* nothing left over */
	ng_mpi_stats_read(&s);
	CHECK_EQ(s.outstanding, 0);
	printf("rank %d: deadlines ok (timeouts %llu)\n", rank, (unsigned long long)s.timeouts);
	return 0;
}

int main(int argc, char **argv)
{
	CHECK_EQ(ng_mpi_init(&argc, &argv), 0);
	CHECK_EQ(ng_mpi_size(), 2);
	rank = ng_mpi_rank();
	peer = 1 - rank;
	ng_config cfg = {0};
	cfg.deadlock = NG_DEADLOCK_RETURN;
	CHECK_EQ(ng_run(&cfg, main_g, NULL), 0);
	CHECK_EQ(ng_mpi_finalize(), 0);
	return 0;
}
