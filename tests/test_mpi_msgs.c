/* test_mpi_msgs: many goroutines per rank exchange tagged messages through
 * the MPI bridge; nothing is lost or duplicated.
 *
 * Each of the 2 ranks runs NTAGS sender goroutines (one per tag) and NTAGS
 * receiver goroutines; together they send MSGS messages (100,000 in every
 * build) to the other rank.  A message carries its tag, its sequence number
 * in the tag and a value; each receiver checks its tag's count, the order
 * (MPI does not let messages of one sender, tag and communicator overtake
 * each other) and the checksum of the values, and the rank totals are
 * compared with an allreduce.  Senders mix ng_mpi_send with windows of
 * ng_mpi_isend + ng_mpi_wait; receivers mix ng_mpi_recv and ng_mpi_irecv +
 * ng_mpi_wait.  Afterwards the bridge holds no request. */
#include "ng_test.h"

#include <numago.h>
#include <numago/mpi.h>

#include <stdint.h>
#include <stdio.h>

#define NTAGS  50
#define MSGS   100000
#define PERTAG (MSGS / NTAGS)
#define WINDOW 8

typedef struct msg {
	int32_t tag, seq;
	uint64_t value;
} msg;

static int rank, peer;
static ng_waitgroup wg = NG_WAITGROUP_INIT;
static uint64_t sent_sum[NTAGS], recv_sum[NTAGS];
static int recv_count[NTAGS];

static uint64_t value_of(int r, int tag, int seq)
{
	uint64_t x = (uint64_t)r * 1000003u + (uint64_t)tag * 7919u + (uint64_t)seq;
	x ^= x >> 17;
	x *= 0x9E3779B97F4A7C15ull;
	return x ^ (x >> 29);
}

static void sender(void *arg)
{
	int tag = (int)(intptr_t)arg;
	uint64_t sum = 0;
	int seq = 0;
	while (seq < PERTAG) {
		if ((seq / WINDOW) % 2 == 0) {
			msg m = {tag, seq, value_of(rank, tag, seq)};
			CHECK_EQ(ng_mpi_send(&m, sizeof m, MPI_BYTE, peer, tag, MPI_COMM_WORLD,
			                     NG_FOREVER),
			         0);
			sum += m.value;
			seq++;
		} else {
			msg ms[WINDOW];
			MPI_Request rq[WINDOW];
			int k = 0;
			for (; k < WINDOW && seq < PERTAG; k++, seq++) {
				ms[k] = (msg){tag, seq, value_of(rank, tag, seq)};
				sum += ms[k].value;
				CHECK_EQ(ng_mpi_isend(&ms[k], sizeof ms[k], MPI_BYTE, peer, tag,
				                      MPI_COMM_WORLD, &rq[k]),
				         0);
			}
			for (int i = 0; i < k; i++) {
				CHECK_EQ(ng_mpi_wait(&rq[i], MPI_STATUS_IGNORE, NG_FOREVER), 0);
				CHECK(rq[i] == MPI_REQUEST_NULL);
			}
		}
	}
	sent_sum[tag] = sum;
	ng_waitgroup_done(&wg);
}

static void receiver(void *arg)
{
	int tag = (int)(intptr_t)arg;
	uint64_t sum = 0;
	int n = 0;
	while (n < PERTAG) {
		msg m;
		MPI_Status st;
		if (n % 3 == 0) {
			MPI_Request rq;
			CHECK_EQ(
			    ng_mpi_irecv(&m, sizeof m, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &rq),
			    0);
			CHECK_EQ(ng_mpi_wait(&rq, &st, NG_FOREVER), 0);
		} else {
			CHECK_EQ(ng_mpi_recv(&m, sizeof m, MPI_BYTE, peer, tag, MPI_COMM_WORLD, &st,
			                     NG_FOREVER),
			         0);
		}
		int cnt = -1;
		MPI_Get_count(&st, MPI_BYTE, &cnt);
		CHECK_EQ(cnt, (int)sizeof m);
		CHECK_EQ(st.MPI_SOURCE, peer);
		CHECK_EQ(st.MPI_TAG, tag);
		CHECK_EQ(m.tag, tag);
		CHECK_EQ(m.seq, n); /* in order: none lost, none twice */
		CHECK(m.value == value_of(peer, tag, n));
		sum += m.value;
		n++;
	}
	recv_count[tag] = n;
	recv_sum[tag] = sum;
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	int64_t t0 = ng_now();
	ng_waitgroup_add(&wg, 2 * NTAGS);
	for (int t = 0; t < NTAGS; t++) {
		ng_go(receiver, (void *)(intptr_t)t);
		ng_go(sender, (void *)(intptr_t)t);
	}
	ng_waitgroup_wait(&wg);
	/* per tag: what this rank received is what the peer sent */
	uint64_t mine[2 * NTAGS], theirs[2 * NTAGS];
	for (int t = 0; t < NTAGS; t++) {
		CHECK_EQ(recv_count[t], PERTAG);
		mine[t] = sent_sum[t];
		mine[NTAGS + t] = recv_sum[t];
	}
	MPI_Request rq;
	CHECK_EQ(ng_mpi_irecv(theirs, 2 * NTAGS, MPI_UINT64_T, peer, 999, MPI_COMM_WORLD, &rq), 0);
	CHECK_EQ(ng_mpi_send(mine, 2 * NTAGS, MPI_UINT64_T, peer, 999, MPI_COMM_WORLD, NG_FOREVER),
	         0);
	CHECK_EQ(ng_mpi_wait(&rq, MPI_STATUS_IGNORE, NG_FOREVER), 0);
	for (int t = 0; t < NTAGS; t++) {
		CHECK(theirs[NTAGS + t] == mine[t]); /* peer received what we sent */
		CHECK(theirs[t] == mine[NTAGS + t]); /* we received what peer sent */
	}
	long total = 0, all = 0;
	for (int t = 0; t < NTAGS; t++)
		total += recv_count[t];
	CHECK_EQ(ng_mpi_allreduce(&total, &all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD, NG_FOREVER),
	         0);
	CHECK_EQ(all, 2L * MSGS);
	ng_mpi_stats s;
	CHECK_EQ(ng_mpi_stats_read(&s), 0);
	CHECK_EQ(s.outstanding, 0);
	CHECK_EQ(s.background, 0);
	CHECK_EQ(s.errors, 0);
	printf("rank %d: %d messages received in %d tags, %.2f s (waits %llu, parks %llu, "
	       "spin hits %llu, polled completions %llu in %llu MPI_Testsome)\n",
	       rank, (int)total, NTAGS, (double)(ng_now() - t0) / 1e9, (unsigned long long)s.waits,
	       (unsigned long long)s.parks, (unsigned long long)s.spin_hits,
	       (unsigned long long)s.completed, (unsigned long long)s.polls);
	return 0;
}

int main(int argc, char **argv)
{
	CHECK_EQ(ng_mpi_init(&argc, &argv), 0);
	CHECK_EQ(ng_mpi_size(), 2);
	rank = ng_mpi_rank();
	peer = 1 - rank;
	CHECK_EQ(ng_run(NULL, main_g, NULL), 0);
	CHECK_EQ(ng_mpi_finalize(), 0);
	return 0;
}
