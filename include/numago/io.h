/* numago — file descriptors: I/O that parks the goroutine, not the thread.
 *
 * A goroutine that would block in these calls parks; the runtime's poller
 * (one epoll set per process, edge-triggered, as Go's netpoller) readies it
 * when the descriptor is ready, so a thousand goroutines blocked on a
 * thousand pipes cost a thousand small stacks, not a thousand threads.  A
 * foreign thread (or a goroutine between ng_block_enter and ng_block_exit)
 * blocks its own thread in poll(2) instead.
 *
 * Descriptors: ng_read, ng_write, ng_accept and ng_connect switch fd to
 * O_NONBLOCK (as Go does for its descriptors; the flag belongs to the open
 * file description, so dup'ed copies and other processes sharing it see it
 * too), and goroutines register it with the poller the first time they
 * wait on it; ng_fd_wait registers but leaves the mode alone.  numago
 * remembers both per descriptor number until ng_fd_close or ng_fd_forget,
 * so close such descriptors with ng_fd_close, or call ng_fd_forget before
 * close(2): a number closed behind numago's back and reused by an open(),
 * pipe() or socket() would be taken for the old, already set up descriptor
 * (ng_accept's descriptors are always set up afresh).  Regular files and
 * other descriptors epoll refuses are always ready: the I/O is done
 * directly.
 *
 * Deadlines are absolute CLOCK_MONOTONIC ns: NG_FOREVER waits forever, 0
 * means "don't block" (-EAGAIN when the call would have to wait), a
 * deadline that passes returns -ETIMEDOUT.  Errors are negative errno
 * values, also the ones of the underlying system call: -EBADF (fd < 0, not
 * open, or closed by ng_fd_close while waiting), -ECANCELED (ng_fd_forget
 * while waiting), -EINVAL (NULL buffer with n > 0, bad events). */
#ifndef NUMAGO_IO_H
#define NUMAGO_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif
#ifndef NG_FOREVER
#define NG_FOREVER ((int64_t)-1)
#endif

#pragma GCC visibility push(default)

enum { NG_READABLE = 1, NG_WRITABLE = 2 };

/* Wait until fd is readable and/or writable (events: NG_READABLE |
 * NG_WRITABLE).  Returns the subset of events that is ready (> 0); a hang-up
 * or error on fd counts as both, the next I/O call reports it. */
int ng_fd_wait(int fd, int events, int64_t deadline);

/* read(2): at most n bytes, as soon as some are there; 0 at end of file. */
ssize_t ng_read(int fd, void *buf, size_t n, int64_t deadline);

/* Write all n bytes (Go's fd.Write), in as many write(2) calls as it takes.
 * Returns n, or the error if nothing was written; if an error or the
 * deadline interrupts after some bytes went out, returns how many did (the
 * next call reports the error).  A socket whose peer is gone gives -EPIPE
 * without SIGPIPE (MSG_NOSIGNAL); a pipe without a reader raises SIGPIPE as
 * write(2) does. */
ssize_t ng_write(int fd, const void *buf, size_t n, int64_t deadline);

/* accept4(2) on a listening socket: returns the new descriptor, already
 * O_NONBLOCK and O_CLOEXEC.  addr and addrlen: both NULL or both set. */
int ng_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline);

/* connect(2): 0 once connected, else the connection's error (SO_ERROR).
 * After -ETIMEDOUT the connection attempt may still be under way: close
 * the socket. */
int ng_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, int64_t deadline);

/* Wake every goroutine and thread waiting on fd with -EBADF, take fd out of
 * the poller, and close it.  Returns close(2)'s result. */
int ng_fd_close(int fd);

/* Wake every waiter on fd with -ECANCELED and take fd out of the poller,
 * leaving it open (still O_NONBLOCK): call it before closing fd some other
 * way, or to cancel the I/O waiting on it.  Later calls on fd work again. */
int ng_fd_forget(int fd);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
