/* test_mpi_errors: MPI errors come back as negative errno values at the
 * caller or the waiting goroutine; foreign threads wait by themselves.
 *
 *  - a send to rank 99 of a 2-rank job: -EINVAL (MPI_ERR_RANK), one line on
 *    stderr naming MPI_Isend and the error; an invalid tag, count and
 *    communicator: -EINVAL; before init / after finalize: -ENOTCONN
 *    (checked in main);
 *  - a 10-int message into a 4-int receive buffer: -EMSGSIZE
 *    (MPI_ERR_TRUNCATE) at the parked goroutine, and the job goes on;
 *  - ng_mpi_errno's table for a few classes;
 *  - 4 pthreads (not goroutines) each receive and send 200 messages with
 *    ng_mpi_irecv/isend + ng_mpi_wait (deadlines included) while
 *    goroutines exchange messages too: all arrive. */
#include "ng_test.h"

#include <numago.h>
#include <numago/mpi.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#define NTHREADS 4
#define PERTHR   200

static int rank, peer;

static void *foreign(void *arg)
{
	int id = (int)(intptr_t)arg;
	CHECK_EQ(ng_self_proc(), -1);
	long sum = 0;
	for (int i = 0; i < PERTHR; i++) {
		int out = id * 100000 + i, in = -1;
		MPI_Request rr, sr;
		CHECK_EQ(ng_mpi_irecv(&in, 1, MPI_INT, peer, 500 + id, MPI_COMM_WORLD, &rr), 0);
		CHECK_EQ(ng_mpi_isend(&out, 1, MPI_INT, peer, 500 + id, MPI_COMM_WORLD, &sr), 0);
		CHECK_EQ(ng_mpi_wait(&sr, MPI_STATUS_IGNORE, NG_FOREVER), 0);
		int r;
		while ((r = ng_mpi_wait(&rr, MPI_STATUS_IGNORE, ng_now() + 1000000)) == -ETIMEDOUT)
			;
		CHECK_EQ(r, 0);
		CHECK_EQ(in, id * 100000 + i);
		sum += in;
	}
	return (void *)sum;
}

static ng_waitgroup pwg = NG_WAITGROUP_INIT;

static void pinger(void *arg)
{
	int tag = 600 + (int)(intptr_t)arg; /* one tag per goroutine: no mixing */
	for (int i = 0; i < 500; i++) {
		int v = i, w = -1;
		MPI_Request rr;
		CHECK_EQ(ng_mpi_irecv(&w, 1, MPI_INT, peer, tag, MPI_COMM_WORLD, &rr), 0);
		CHECK_EQ(ng_mpi_send(&v, 1, MPI_INT, peer, tag, MPI_COMM_WORLD, NG_FOREVER), 0);
		CHECK_EQ(ng_mpi_wait(&rr, MPI_STATUS_IGNORE, NG_FOREVER), 0);
		CHECK_EQ(w, i);
	}
	ng_waitgroup_done(&pwg);
}

static int main_g(void *arg)
{
	(void)arg;
	int v[10] = {0};
	/* invalid arguments, reported at the call */
	fprintf(stderr, "rank %d: expect MPI error lines below\n", rank);
	CHECK_EQ(ng_mpi_send(v, 1, MPI_INT, 99, 0, MPI_COMM_WORLD, NG_FOREVER), -EINVAL);
	MPI_Request rq = MPI_REQUEST_NULL;
	CHECK_EQ(ng_mpi_isend(v, 1, MPI_INT, peer, -5, MPI_COMM_WORLD, &rq), -EINVAL);
	CHECK_EQ(ng_mpi_isend(v, -1, MPI_INT, peer, 0, MPI_COMM_WORLD, &rq), -EINVAL);
	CHECK_EQ(ng_mpi_recv(v, 1, MPI_INT, 0, 0, MPI_COMM_NULL, MPI_STATUS_IGNORE, NG_FOREVER),
	         -EINVAL);
	CHECK_EQ(ng_mpi_wait(NULL, MPI_STATUS_IGNORE, NG_FOREVER), -EINVAL);
	rq = MPI_REQUEST_NULL;
	CHECK_EQ(ng_mpi_wait(&rq, MPI_STATUS_IGNORE, NG_FOREVER), 0);
	CHECK_EQ(ng_mpi_errno(MPI_SUCCESS), 0);
	CHECK_EQ(ng_mpi_errno(MPI_ERR_RANK), -EINVAL);
	CHECK_EQ(ng_mpi_errno(MPI_ERR_TRUNCATE), -EMSGSIZE);
	CHECK_EQ(ng_mpi_errno(MPI_ERR_NO_MEM), -ENOMEM);
	CHECK_EQ(ng_mpi_errno(MPI_ERR_INTERN), -EIO);
	CHECK_EQ(ng_mpi_errno(MPI_ERR_OTHER), -EIO);

	/* truncation, found by the poller, returned to the parked goroutine */
	if (rank == 0) {
		int big[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
		ng_sleep(20 * 1000000LL); /* the receiver parks first */
		CHECK_EQ(ng_mpi_send(big, 10, MPI_INT, peer, 3, MPI_COMM_WORLD, NG_FOREVER), 0);
	} else {
		int small[4];
		MPI_Status st;
		CHECK_EQ(ng_mpi_recv(small, 4, MPI_INT, peer, 3, MPI_COMM_WORLD, &st, NG_FOREVER),
		         -EMSGSIZE);
	}
	CHECK_EQ(ng_mpi_barrier(MPI_COMM_WORLD, NG_FOREVER), 0);

	/* foreign threads beside goroutines */
	ng_waitgroup_add(&pwg, 4);
	for (int i = 0; i < 4; i++)
		ng_go(pinger, (void *)(intptr_t)i);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(pthread_create(&th[i], NULL, foreign, (void *)(intptr_t)i), 0);
	long total = 0;
	for (int i = 0; i < NTHREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		total += (long)r;
	}
	ng_waitgroup_wait(&pwg);
	long want = 0;
	for (int id = 0; id < NTHREADS; id++)
		for (int i = 0; i < PERTHR; i++)
			want += id * 100000 + i;
	CHECK_EQ(total, want);
	ng_mpi_stats s;
	ng_mpi_stats_read(&s);
	CHECK_EQ(s.outstanding, 0);
	CHECK(s.errors >= (uint64_t)(rank == 1 ? 4 : 3)); /* rank 1 also got the truncation */
	printf("rank %d: errors ok (%llu MPI errors returned)\n", rank,
	       (unsigned long long)s.errors);
	return 0;
}

int main(int argc, char **argv)
{
	MPI_Request rq = MPI_REQUEST_NULL;
	CHECK_EQ(ng_mpi_wait(&rq, MPI_STATUS_IGNORE, 0), -ENOTCONN);
	CHECK_EQ(ng_mpi_thread_level(), -ENOTCONN);
	CHECK_EQ(ng_mpi_init(&argc, &argv), 0);
	CHECK_EQ(ng_mpi_init(&argc, &argv), 0); /* twice: nothing */
	CHECK(ng_mpi_thread_level() >= MPI_THREAD_SINGLE);
	CHECK_EQ(ng_mpi_size(), 2);
	rank = ng_mpi_rank();
	peer = 1 - rank;
	/* a foreign thread's wait works without the runtime, too */
	int v = rank, w = -1;
	CHECK_EQ(ng_mpi_irecv(&w, 1, MPI_INT, peer, 1, MPI_COMM_WORLD, &rq), 0);
	CHECK_EQ(ng_mpi_send(&v, 1, MPI_INT, peer, 1, MPI_COMM_WORLD, NG_FOREVER), 0);
	CHECK_EQ(ng_mpi_wait(&rq, MPI_STATUS_IGNORE, NG_FOREVER), 0);
	CHECK_EQ(w, peer);
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	CHECK_EQ(ng_mpi_finalize(), 0);
	CHECK_EQ(ng_mpi_send(&v, 1, MPI_INT, peer, 1, MPI_COMM_WORLD, NG_FOREVER), -ENOTCONN);
	return 0;
}
