/* numago — MPI bridge: goroutines park on MPI requests.
 *
 * Built when CMake finds MPI (find_package(MPI COMPONENTS C); Debian's
 * libopenmpi-dev); numago.h does not include this header, programs that use
 * MPI include it and get <mpi.h> with it.  Compile and link with mpicc, or
 * with CMake's MPI::MPI_C (numago's targets carry it).
 *
 * Model.  Every operation is a nonblocking MPI call (MPI_Isend, MPI_Irecv,
 * MPI_Ibarrier, MPI_Iallreduce) made inline on the calling goroutine's
 * thread, then a park: ng_mpi_wait parks the goroutine, never its thread.
 * Outstanding requests are tested with MPI_Testsome (at most
 * NG_MPI_POLL_BUDGET requests a call, one poller at a time: the others skip)
 * from Ms that found no work (before they steal), from sysmon, and from a
 * runtime timer backing off from 10 us to 50 us while a goroutine waits
 * (to 1 ms while only background collectives are outstanding) and
 * nothing completes.  No thread sits in MPI_Wait.  A
 * goroutine about to park first tests its own request while its P has
 * nothing else to run (no goroutine queued, no timer due), for at most
 * NUMAGO_MPI_SPIN_NS (default 200000; 0 turns it off): a reply on its way
 * is then picked up without a sleep and a wake, and a large message keeps
 * moving (Open MPI progresses only inside MPI calls).  The P is never held
 * while other goroutines could run: the test loop gives up as soon as one
 * is queued.  A thread that is not a
 * goroutine (a foreign thread, or main before/after ng_run) waits by
 * testing its request itself, sleeping 1 us doubling to 200 us between
 * tests.
 *
 * Thread level.  ng_mpi_init asks for MPI_THREAD_MULTIPLE (goroutines move
 * between OS threads, so any thread may make the next MPI call).  When the
 * library provides less (SERIALIZED, FUNNELED or SINGLE), numago takes one
 * lock around every MPI call it makes, so no two of its calls overlap; with
 * FUNNELED or SINGLE that is still more than the standard promises (calls
 * come from several threads, one at a time), which Open MPI and MPICH
 * accept in practice.  Code that calls MPI itself beside numago must then
 * do so between ng_mpi_lock() and ng_mpi_unlock().  ng_mpi_thread_level()
 * says what was provided; Debian's Open MPI 4.1 provides MULTIPLE.
 *
 * Errors.  numago sets MPI_ERRORS_RETURN on MPI_COMM_WORLD at ng_mpi_init
 * and on every other communicator the first time it is passed to a call
 * here, so MPI errors come back as values, and each is returned as a
 * negative errno value by the call (or the waiting goroutine), after one
 * line on stderr naming the MPI call and MPI's error string
 * (NUMAGO_MPI_QUIET=1 silences it):
 *   MPI_ERR_RANK, _TAG, _COUNT, _TYPE, _COMM, _OP, _ARG, _BUFFER, _ROOT,
 *   _GROUP, _REQUEST, _DIMS, _TOPOLOGY             -> -EINVAL
 *   MPI_ERR_TRUNCATE (message longer than the receive buffer) -> -EMSGSIZE
 *   MPI_ERR_NO_MEM                                  -> -ENOMEM
 *   MPI_ERR_UNSUPPORTED_OPERATION                   -> -ENOTSUP
 *   a failed or aborted peer (ULFM MPIX_ERR_PROC_FAILED, where built in) ->
 *                                                      -ECONNRESET
 *   anything else (MPI_ERR_INTERN, MPI_ERR_OTHER, ...)  -> -EIO
 * plus -ETIMEDOUT (a deadline passed), -EAGAIN (deadline 0 and the request
 * is not complete), -ENOTCONN (ng_mpi_init not called, or finalized).
 * ng_mpi_errno maps a code itself.
 *
 * Aborts.  ng_mpi_abort prints one line ("numago: MPI rank 1 of 2 (host)
 * aborts the job: <why>") and calls MPI_Abort on MPI_COMM_WORLD.  mpirun
 * (Open MPI 4.1) then kills every other rank and exits with that code,
 * after a banner of its own ("MPI_ABORT was invoked on rank 1 in
 * communicator MPI_COMM_WORLD with errorcode 3 ...").  A rank that dies
 * otherwise (a signal, numago's fatal errors and deadlock report, which
 * exit 2, or any exit without MPI_Finalize) also ends the whole job: mpirun
 * sees the process go, kills the others and prints which rank ended how.
 *
 * Deadlines are absolute CLOCK_MONOTONIC ns (ng_now()); NG_FOREVER waits
 * forever, 0 does not block.  While any request is outstanding the
 * deadlock detector stays quiet (it may still complete), and ng_stop waits
 * for them. */
#ifndef NUMAGO_MPI_H
#define NUMAGO_MPI_H

#include <mpi.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#ifndef NG_FOREVER
#define NG_FOREVER ((int64_t)-1)
#endif

#define NG_MPI_POLL_BUDGET 64 /* requests one MPI_Testsome call looks at */

#pragma GCC visibility push(default)

/* MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE) unless MPI is already
 * initialised (then the level it has is used); MPI_ERRORS_RETURN on
 * MPI_COMM_WORLD.  Call from any thread, before or inside ng_run.  A second
 * call is 0 (nothing done). */
int ng_mpi_init(int *argc, char ***argv);
/* Waits (polling) for the collectives numago still completes in the
 * background (those whose deadline passed), then MPI_Finalize if
 * ng_mpi_init initialised MPI.  From any thread; no numago MPI call may be
 * in flight. */
int ng_mpi_finalize(void);
/* The thread level MPI provided (MPI_THREAD_*); -ENOTCONN before init. */
int ng_mpi_thread_level(void);
/* Rank and size in MPI_COMM_WORLD (-ENOTCONN before init). */
int ng_mpi_rank(void);
int ng_mpi_size(void);

/* Park the caller until *req completes: 0, its MPI error as a negative
 * errno, -ETIMEDOUT once deadline passed (*req is then still active and
 * still the caller's: wait again, or MPI_Cancel it), -EAGAIN for deadline
 * 0 when not complete.  On completion *req becomes MPI_REQUEST_NULL and
 * *status (may be MPI_STATUS_IGNORE) is filled; MPI_REQUEST_NULL: 0 at
 * once. */
int ng_mpi_wait(MPI_Request *req, MPI_Status *status, int64_t deadline);

/* MPI_Isend / MPI_Irecv through numago (its error handling, its lock when
 * serialising); the request is the caller's, to ng_mpi_wait on. */
int ng_mpi_isend(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
                 MPI_Request *req);
int ng_mpi_irecv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm,
                 MPI_Request *req);

/* Send/receive and park until done.  At the deadline the request is
 * cancelled (MPI_Cancel) and its completion awaited: -ETIMEDOUT if it was
 * cancelled, 0 if it completed after all (a receive that matched as the
 * deadline passed).  A send MPI cannot cancel (Open MPI does not cancel
 * sends) completes when the receiver matches it: the deadline then bounds
 * only the wait for small (eager) messages, which complete locally. */
int ng_mpi_send(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
                int64_t deadline);
int ng_mpi_recv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm,
                MPI_Status *status, int64_t deadline);

/* Collectives as MPI_Ibarrier / MPI_Iallreduce + park.  A nonblocking
 * collective cannot be cancelled: at its deadline the call returns
 * -ETIMEDOUT and numago completes the collective in the background (the
 * other ranks still take part in it).  With a deadline other than
 * NG_FOREVER, ng_mpi_allreduce therefore works on copies of the buffers
 * (count * extent of a contiguous type), and recvbuf is written only on
 * success. */
int ng_mpi_barrier(MPI_Comm comm, int64_t deadline);
int ng_mpi_allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                     MPI_Comm comm, int64_t deadline);

/* MPI error code -> negative errno (table above); MPI_SUCCESS -> 0. */
int ng_mpi_errno(int mpi_err);

/* One line on stderr, then MPI_Abort(MPI_COMM_WORLD, code). */
_Noreturn void ng_mpi_abort(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* When MPI provides less than MPI_THREAD_MULTIPLE: the lock numago holds
 * around its MPI calls, for the program's own MPI calls (no-ops with
 * MULTIPLE).  Never park (wait, lock, sleep) while holding it. */
void ng_mpi_lock(void);
void ng_mpi_unlock(void);

typedef struct ng_mpi_stats {
	uint64_t waits;      /* ng_mpi_wait calls that found the request active */
	uint64_t parks;      /* of those, goroutines that parked */
	uint64_t spin_hits;  /* completed while the waiter tested before parking */
	uint64_t completed;  /* requests completed by the poller */
	uint64_t polls;      /* MPI_Testsome calls */
	uint64_t timeouts;   /* waits that returned -ETIMEDOUT */
	uint64_t errors;     /* MPI errors returned */
	int64_t outstanding; /* requests the poller holds now */
	int64_t background;  /* of those, timed-out collectives completing in the background */
} ng_mpi_stats;
int ng_mpi_stats_read(ng_mpi_stats *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
