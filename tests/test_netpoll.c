/* The fd poller (ng_fd_wait, ng_read, ng_write, ng_accept, ng_connect,
 * ng_fd_close, ng_fd_forget):
 *
 *  1. Pipes: a reader parks until a writer goroutine writes; ng_write of
 *     1 MiB (16 times a pipe's buffer) writes it all while a reader drains;
 *     the fd is left O_NONBLOCK.
 *  2. Deadlines: -ETIMEDOUT not before the deadline and within a bound;
 *     deadline 0 is -EAGAIN; a past one -ETIMEDOUT; ng_fd_wait likewise.
 *  3. ng_fd_wait on a socketpair: writable at once, readable only once the
 *     peer writes, and both asked for: the ready subset.
 *  4. ng_fd_close wakes parked readers with -EBADF; ng_fd_forget with
 *     -ECANCELED, and the descriptor works again afterwards.
 *  5. Several goroutines reading one pipe all get their byte (each event
 *     wakes every waiter of its direction).
 *  6. Bad input: -EBADF, -EINVAL; never a crash or a hang.
 *  7. Foreign threads: with no runtime at all, and beside goroutines: a
 *     deadline, a wake by a goroutine's write, a wake by ng_fd_close; and a
 *     foreign thread's write and ng_fd_close wake parked goroutines.
 *  8. accept/connect over loopback TCP and a unix socket, with an echo;
 *     accept's deadline; a refused connection.
 *  9. A regular file (epoll refuses it) is always ready: plain I/O.
 * 10. Deadlock detector: main parked in ng_read on a pipe another process
 *     writes to later is not a deadlock.
 * 11. Races: readers with tiny deadlines against a writer lose no byte;
 *     closes racing with parks wake every reader.
 * 12. Idle with goroutines parked on fds: (almost) no context switches, so
 *     the poller adds no periodic wakeups.
 */
#define _GNU_SOURCE
#include "ng_test.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MS 1000000LL

/* Sanitizer builds run several times slower: bounds on lateness scale. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SLACK (2000 * MS)
#else
#define SLACK (500 * MS)
#endif

static void mkpipe(int p[2])
{
	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
}

static void close_pair(int p[2])
{
	CHECK_EQ(ng_fd_close(p[0]), 0);
	CHECK_EQ(ng_fd_close(p[1]), 0);
}

/* Wait (5 s at most, parking) until *v >= want. */
static void wait_for(_Atomic int *v, int want)
{
	int64_t limit = ng_now() + 5000 * MS;
	while (atomic_load(v) < want) {
		CHECK(ng_now() < limit);
		ng_sleep(MS / 4);
	}
}

/* ---- 1 ---- */

typedef struct rd_arg {
	int fd;
	size_t n; /* bytes to ask for; 0: sizeof buf */
	ssize_t rc;
	char buf[8];
	int64_t deadline;
	_Atomic int started, done;
} rd_arg;

static void reader(void *p)
{
	rd_arg *a = p;
	atomic_store(&a->started, 1);
	a->rc = ng_read(a->fd, a->buf, a->n ? a->n : sizeof a->buf, a->deadline);
	atomic_store(&a->done, 1);
}

typedef struct bulk_arg {
	int fd;
	size_t n;
	unsigned char *buf;
	ng_waitgroup *wg;
} bulk_arg;

static void bulk_reader(void *p)
{
	bulk_arg *a = p;
	size_t got = 0;
	while (got < a->n) {
		ssize_t r = ng_read(a->fd, a->buf + got, a->n - got, NG_FOREVER);
		CHECK(r > 0);
		got += (size_t)r;
	}
	ng_waitgroup_done(a->wg);
}

static void test_pipes(void)
{
	int p[2];
	mkpipe(p);
	rd_arg a = {.fd = p[0], .deadline = NG_FOREVER};
	CHECK_EQ(ng_go(reader, &a), 0);
	wait_for(&a.started, 1);
	ng_sleep(20 * MS); /* it has parked: nothing to read */
	CHECK_EQ(atomic_load(&a.done), 0);
	CHECK_EQ(ng_write(p[1], "hello", 5, NG_FOREVER), 5);
	wait_for(&a.done, 1);
	CHECK_EQ(a.rc, 5);
	CHECK(memcmp(a.buf, "hello", 5) == 0);
	CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK); /* documented */

	/* write-all through a 64 KiB pipe */
	size_t n = 1 << 20;
	unsigned char *out = malloc(n), *in = malloc(n);
	CHECK(out != NULL && in != NULL);
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 9));
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	ng_waitgroup_add(&wg, 1);
	bulk_arg b = {.fd = p[0], .n = n, .buf = in, .wg = &wg};
	CHECK_EQ(ng_go(bulk_reader, &b), 0);
	CHECK_EQ(ng_write(p[1], out, n, NG_FOREVER), (long long)n);
	ng_waitgroup_wait(&wg);
	CHECK(memcmp(in, out, n) == 0);
	free(out);
	free(in);
	close_pair(p);
}

/* ---- 2 ---- */

static void test_deadlines(void)
{
	int p[2];
	mkpipe(p);
	char c;
	int64_t t0 = ng_now();
	CHECK_EQ(ng_read(p[0], &c, 1, t0 + 50 * MS), -ETIMEDOUT);
	int64_t el = ng_now() - t0;
	CHECK(el >= 50 * MS);
	CHECK(el < 50 * MS + SLACK);
	CHECK_EQ(ng_read(p[0], &c, 1, 0), -EAGAIN);
	CHECK_EQ(ng_read(p[0], &c, 1, ng_now() - 1), -ETIMEDOUT);
	t0 = ng_now();
	CHECK_EQ(ng_fd_wait(p[0], NG_READABLE, t0 + 30 * MS), -ETIMEDOUT);
	el = ng_now() - t0;
	CHECK(el >= 30 * MS && el < 30 * MS + SLACK);
	CHECK_EQ(ng_fd_wait(p[0], NG_READABLE, 0), -EAGAIN);
	/* a full pipe: the writer's deadline, with what went out reported */
	static char big[1 << 20];
	t0 = ng_now();
	ssize_t w = ng_write(p[1], big, sizeof big, t0 + 30 * MS);
	CHECK(w > 0 && w < (ssize_t)sizeof big); /* the pipe's buffer, then the deadline */
	CHECK(ng_now() - t0 >= 30 * MS);
	CHECK_EQ(ng_write(p[1], big, 1, ng_now() + 10 * MS), -ETIMEDOUT);
	CHECK_EQ(ng_fd_wait(p[1], NG_WRITABLE, 0), -EAGAIN);
	/* a goroutine parked with a deadline, woken by data before it */
	rd_arg a = {.fd = p[0], .deadline = ng_now() + 5000 * MS};
	char sink[4096];
	while (ng_read(p[0], sink, sizeof sink, 0) > 0) /* drain */
		;
	CHECK_EQ(ng_go(reader, &a), 0);
	wait_for(&a.started, 1);
	ng_sleep(10 * MS);
	CHECK_EQ(ng_write(p[1], "x", 1, NG_FOREVER), 1);
	wait_for(&a.done, 1);
	CHECK_EQ(a.rc, 1);
	close_pair(p);
}

/* ---- 3 ---- */

static _Atomic int wait_rc;

static void fd_waiter(void *p)
{
	atomic_store(&wait_rc, ng_fd_wait(*(int *)p, NG_READABLE, NG_FOREVER));
}

static void test_fd_wait(void)
{
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	CHECK_EQ(ng_fd_wait(sv[0], NG_WRITABLE, NG_FOREVER), NG_WRITABLE);
	CHECK_EQ(ng_fd_wait(sv[0], NG_READABLE | NG_WRITABLE, NG_FOREVER), NG_WRITABLE);
	/* ng_fd_wait leaves the mode alone */
	CHECK_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
	atomic_store(&wait_rc, 0);
	CHECK_EQ(ng_go(fd_waiter, &sv[0]), 0);
	ng_sleep(20 * MS);
	CHECK_EQ(atomic_load(&wait_rc), 0);
	CHECK_EQ(ng_write(sv[1], "ab", 2, NG_FOREVER), 2);
	int64_t limit = ng_now() + 5000 * MS;
	while (atomic_load(&wait_rc) == 0 && ng_now() < limit)
		ng_sleep(MS);
	CHECK_EQ(atomic_load(&wait_rc), NG_READABLE);
	CHECK_EQ(ng_fd_wait(sv[0], NG_READABLE | NG_WRITABLE, 0), NG_READABLE | NG_WRITABLE);
	/* still readable: ready state, not edges */
	CHECK_EQ(ng_fd_wait(sv[0], NG_READABLE, NG_FOREVER), NG_READABLE);
	char buf[2];
	CHECK_EQ(ng_read(sv[0], buf, 2, NG_FOREVER), 2);
	CHECK_EQ(ng_fd_wait(sv[0], NG_READABLE, ng_now() + 10 * MS), -ETIMEDOUT);
	/* the peer's hang-up counts as readable: the read says EOF */
	CHECK_EQ(ng_fd_close(sv[1]), 0);
	CHECK(ng_fd_wait(sv[0], NG_READABLE, NG_FOREVER) & NG_READABLE);
	CHECK_EQ(ng_read(sv[0], buf, 2, NG_FOREVER), 0);
	/* and writing to it is -EPIPE, not a SIGPIPE (main ignores SIGPIPE
	 * only for the pipes' sake: the socket must not raise it at all) */
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &pipe_set, &old), 0);
	CHECK_EQ(ng_write(sv[0], "x", 1, NG_FOREVER), -EPIPE);
	struct timespec zero = {0, 0};
	CHECK_EQ(sigtimedwait(&pipe_set, NULL, &zero), -1); /* none pending */
	CHECK_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	CHECK_EQ(ng_fd_close(sv[0]), 0);
}

/* ---- 4 ---- */

static void test_close_forget(void)
{
	int p[2];
	mkpipe(p);
	enum { N = 3 };
	rd_arg a[N];
	memset(a, 0, sizeof a);
	for (int i = 0; i < N; i++) {
		a[i].fd = p[0];
		a[i].deadline = i == 0 ? NG_FOREVER : ng_now() + 60000 * MS;
		CHECK_EQ(ng_go(reader, &a[i]), 0);
	}
	for (int i = 0; i < N; i++)
		wait_for(&a[i].started, 1);
	ng_sleep(20 * MS);
	CHECK_EQ(ng_fd_forget(p[0]), 0);
	for (int i = 0; i < N; i++) {
		wait_for(&a[i].done, 1);
		CHECK_EQ(a[i].rc, -ECANCELED);
	}
	/* forgotten, not closed: it works again */
	CHECK_EQ(ng_write(p[1], "z", 1, NG_FOREVER), 1);
	char c;
	CHECK_EQ(ng_read(p[0], &c, 1, NG_FOREVER), 1);
	CHECK_EQ(c, 'z');

	memset(a, 0, sizeof a);
	for (int i = 0; i < N; i++) {
		a[i].fd = p[0];
		a[i].deadline = NG_FOREVER;
		CHECK_EQ(ng_go(reader, &a[i]), 0);
	}
	for (int i = 0; i < N; i++)
		wait_for(&a[i].started, 1);
	ng_sleep(20 * MS);
	CHECK_EQ(ng_fd_close(p[0]), 0);
	for (int i = 0; i < N; i++) {
		wait_for(&a[i].done, 1);
		CHECK_EQ(a[i].rc, -EBADF);
	}
	CHECK_EQ(ng_fd_close(p[1]), 0);
	/* the number is free again: a new pipe reusing it works */
	int q[2];
	mkpipe(q);
	rd_arg b = {.fd = q[0], .deadline = NG_FOREVER};
	CHECK_EQ(ng_go(reader, &b), 0);
	wait_for(&b.started, 1);
	ng_sleep(10 * MS);
	CHECK_EQ(ng_write(q[1], "ok", 2, NG_FOREVER), 2);
	wait_for(&b.done, 1);
	CHECK_EQ(b.rc, 2);
	close_pair(q);
}

/* ---- 5 ---- */

static void test_many_readers_one_fd(void)
{
	int p[2];
	mkpipe(p);
	enum { N = 8 };
	rd_arg a[N];
	memset(a, 0, sizeof a);
	for (int i = 0; i < N; i++) {
		a[i].fd = p[0];
		a[i].n = 1; /* one each: none may take another's */
		a[i].deadline = NG_FOREVER;
		CHECK_EQ(ng_go(reader, &a[i]), 0);
	}
	for (int i = 0; i < N; i++)
		wait_for(&a[i].started, 1);
	ng_sleep(10 * MS);
	/* one byte per write: an event each */
	char buf[8 * N];
	memset(buf, 'q', sizeof buf);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(ng_write(p[1], buf, 1, NG_FOREVER), 1);
		ng_sleep(MS);
	}
	int64_t limit = ng_now() + 5000 * MS;
	long total = 0;
	for (int i = 0; i < N; i++) {
		while (!atomic_load(&a[i].done)) {
			CHECK(ng_now() < limit);
			ng_sleep(MS);
		}
		CHECK_EQ(a[i].rc, 1);
		total += a[i].rc;
	}
	CHECK_EQ(total, N);
	close_pair(p);
}

/* ---- 6 ---- */

static void test_bad_input(void)
{
	char c;
	CHECK_EQ(ng_read(-1, &c, 1, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_write(-1, &c, 1, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_fd_wait(-1, NG_READABLE, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_accept(-1, NULL, NULL, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_fd_close(-1), -EBADF);
	CHECK_EQ(ng_fd_forget(-1), -EBADF);
	int big = 1 << 30; /* not open, and far beyond anything allocated */
	CHECK_EQ(ng_read(big, &c, 1, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_write(big, &c, 1, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_fd_wait(big, NG_WRITABLE, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_fd_forget(big), -EBADF);
	CHECK_EQ(ng_fd_close(big), -EBADF);
	int p[2];
	mkpipe(p);
	CHECK_EQ(ng_read(p[0], NULL, 1, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_write(p[1], NULL, 1, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_read(p[0], NULL, 0, 0), 0); /* n == 0: read(2)'s answer, no wait */
	CHECK_EQ(ng_write(p[1], NULL, 0, NG_FOREVER), 0);
	CHECK_EQ(ng_fd_wait(p[0], 0, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_fd_wait(p[0], 4, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_read(p[1], &c, 1, NG_FOREVER), -EBADF); /* write end */
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	CHECK_EQ(ng_accept(p[0], (struct sockaddr *)&sa, NULL, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_accept(p[0], NULL, &len, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_accept(p[0], NULL, NULL, NG_FOREVER), -ENOTSOCK);
	CHECK_EQ(ng_connect(p[0], NULL, 0, NG_FOREVER), -EINVAL);
	CHECK_EQ(ng_connect(-1, (struct sockaddr *)&sa, sizeof sa, NG_FOREVER), -EBADF);
	close_pair(p);
	/* a closed number (not ours to close twice) */
	mkpipe(p);
	CHECK_EQ(close(p[0]), 0);
	CHECK_EQ(ng_read(p[0], &c, 1, NG_FOREVER), -EBADF);
	CHECK_EQ(ng_fd_close(p[0]), -EBADF);
	CHECK_EQ(ng_fd_close(p[1]), 0);
}

/* ---- 7 ---- */

typedef struct fx_arg {
	int fd;
	ssize_t rc_timeout, rc_data, rc_closed;
	char c;
	_Atomic int phase;
	int64_t timeout_ns;
} fx_arg;

static void *foreign_reader(void *p)
{
	fx_arg *a = p;
	CHECK_EQ(ng_id(), 0);
	int64_t t0 = ng_now();
	a->rc_timeout = ng_read(a->fd, &a->c, 1, t0 + 40 * MS);
	a->timeout_ns = ng_now() - t0;
	atomic_store(&a->phase, 1);
	a->rc_data = ng_read(a->fd, &a->c, 1, NG_FOREVER); /* a goroutine writes */
	atomic_store(&a->phase, 2);
	a->rc_closed = ng_read(a->fd, &a->c, 1, NG_FOREVER); /* ng_fd_close wakes it */
	atomic_store(&a->phase, 3);
	return NULL;
}

static void *foreign_no_runtime(void *p)
{
	(void)p;
	int q[2];
	mkpipe(q);
	char c = 0;
	CHECK_EQ(ng_read(q[0], &c, 1, ng_now() + 10 * MS), -ETIMEDOUT);
	CHECK_EQ(ng_read(q[0], &c, 1, 0), -EAGAIN);
	CHECK_EQ(ng_fd_wait(q[1], NG_WRITABLE, 0), NG_WRITABLE);
	CHECK_EQ(ng_fd_wait(q[0], NG_READABLE, 0), -EAGAIN);
	CHECK_EQ(ng_write(q[1], "w", 1, NG_FOREVER), 1);
	CHECK_EQ(ng_fd_wait(q[0], NG_READABLE, NG_FOREVER), NG_READABLE);
	CHECK_EQ(ng_read(q[0], &c, 1, NG_FOREVER), 1);
	CHECK_EQ(c, 'w');
	CHECK_EQ(ng_fd_close(q[0]), 0);
	CHECK_EQ(ng_fd_close(q[1]), 0);
	return NULL;
}

static void *foreign_write_close(void *p)
{
	int *fds = p;
	usleep(20000);
	CHECK_EQ(ng_write(fds[1], "G", 1, NG_FOREVER), 1);
	usleep(20000);
	CHECK_EQ(ng_fd_close(fds[2]), 0);
	return NULL;
}

static void test_foreign(void)
{
	/* a foreign thread wakes goroutines: by a write, by a close */
	int fds[4];
	mkpipe(fds);
	mkpipe(fds + 2);
	rd_arg w = {.fd = fds[0], .deadline = NG_FOREVER};
	rd_arg c = {.fd = fds[2], .deadline = NG_FOREVER};
	CHECK_EQ(ng_go(reader, &w), 0);
	CHECK_EQ(ng_go(reader, &c), 0);
	pthread_t ft;
	CHECK_EQ(pthread_create(&ft, NULL, foreign_write_close, fds), 0);
	wait_for(&w.done, 1);
	CHECK_EQ(w.rc, 1);
	CHECK_EQ(w.buf[0], 'G');
	wait_for(&c.done, 1);
	CHECK_EQ(c.rc, -EBADF);
	CHECK_EQ(pthread_join(ft, NULL), 0);
	close_pair(fds);
	CHECK_EQ(ng_fd_close(fds[3]), 0);

	int p[2];
	mkpipe(p);
	fx_arg a = {.fd = p[0]};
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, foreign_reader, &a), 0);
	int64_t limit = ng_now() + 5000 * MS;
	while (atomic_load(&a.phase) < 1) {
		CHECK(ng_now() < limit);
		ng_sleep(MS);
	}
	CHECK_EQ(a.rc_timeout, -ETIMEDOUT);
	CHECK(a.timeout_ns >= 40 * MS && a.timeout_ns < 40 * MS + SLACK);
	ng_sleep(20 * MS); /* it blocks in its read */
	CHECK_EQ(atomic_load(&a.phase), 1);
	CHECK_EQ(ng_write(p[1], "F", 1, NG_FOREVER), 1);
	while (atomic_load(&a.phase) < 2) {
		CHECK(ng_now() < limit);
		ng_sleep(MS);
	}
	CHECK_EQ(a.rc_data, 1);
	CHECK_EQ(a.c, 'F');
	ng_sleep(20 * MS);
	CHECK_EQ(atomic_load(&a.phase), 2);
	CHECK_EQ(ng_fd_close(p[0]), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(a.rc_closed, -EBADF);
	CHECK_EQ(ng_fd_close(p[1]), 0);
}

/* ---- 8 ---- */

typedef struct srv_arg {
	int lfd;
	int rc;
	ng_waitgroup *wg;
} srv_arg;

static void echo_server(void *p)
{
	srv_arg *a = p;
	int c = ng_accept(a->lfd, NULL, NULL, ng_now() + 10000 * MS);
	a->rc = c;
	if (c >= 0) {
		CHECK(fcntl(c, F_GETFL) & O_NONBLOCK);
		CHECK(fcntl(c, F_GETFD) & FD_CLOEXEC);
		char buf[64];
		ssize_t n;
		while ((n = ng_read(c, buf, sizeof buf, NG_FOREVER)) > 0)
			CHECK_EQ(ng_write(c, buf, (size_t)n, NG_FOREVER), n);
		CHECK_EQ(n, 0);
		CHECK_EQ(ng_fd_close(c), 0);
	}
	ng_waitgroup_done(a->wg);
}

static void echo_client(const struct sockaddr *addr, socklen_t len, int family)
{
	int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK_EQ(ng_connect(s, addr, len, ng_now() + 10000 * MS), 0);
	for (int i = 0; i < 20; i++) {
		char msg[32], back[32];
		int n = snprintf(msg, sizeof msg, "ping %d", i);
		CHECK_EQ(ng_write(s, msg, (size_t)n, NG_FOREVER), n);
		int got = 0;
		while (got < n) {
			ssize_t r = ng_read(s, back + got, sizeof back - (size_t)got, NG_FOREVER);
			CHECK(r > 0);
			got += (int)r;
		}
		CHECK_EQ(got, n);
		CHECK(memcmp(msg, back, (size_t)n) == 0);
	}
	CHECK_EQ(ng_fd_close(s), 0);
}

static void run_echo(int lfd, const struct sockaddr *addr, socklen_t len, int family)
{
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	ng_waitgroup_add(&wg, 1);
	srv_arg a = {.lfd = lfd, .rc = -1, .wg = &wg};
	CHECK_EQ(ng_go(echo_server, &a), 0);
	ng_sleep(10 * MS); /* the server parks in accept first */
	echo_client(addr, len, family);
	ng_waitgroup_wait(&wg);
	CHECK(a.rc >= 0);
}

static void test_sockets(void)
{
	/* TCP on loopback */
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_EQ(listen(lfd, 16), 0);
	socklen_t len = sizeof sa;
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	run_echo(lfd, (struct sockaddr *)&sa, len, AF_INET);
	/* accept's deadline */
	int64_t t0 = ng_now();
	CHECK_EQ(ng_accept(lfd, NULL, NULL, t0 + 30 * MS), -ETIMEDOUT);
	CHECK(ng_now() - t0 >= 30 * MS);
	CHECK_EQ(ng_accept(lfd, NULL, NULL, 0), -EAGAIN);
	CHECK_EQ(ng_fd_close(lfd), 0);
	/* nobody listens there any more */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(s >= 0);
	CHECK_EQ(ng_connect(s, (struct sockaddr *)&sa, len, ng_now() + 5000 * MS), -ECONNREFUSED);
	CHECK_EQ(ng_fd_close(s), 0);

	/* a unix socket (abstract name) */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	int n = snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "numago-netpoll-%d", getpid());
	socklen_t ulen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	CHECK_EQ(bind(lfd, (struct sockaddr *)&un, ulen), 0);
	CHECK_EQ(listen(lfd, 16), 0);
	run_echo(lfd, (struct sockaddr *)&un, ulen, AF_UNIX);
	CHECK_EQ(ng_fd_close(lfd), 0);
}

/* ---- 9 ---- */

static void test_regular_file(void)
{
	char path[] = "/tmp/numago-netpoll-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(unlink(path), 0);
	CHECK_EQ(ng_write(fd, "regular", 7, NG_FOREVER), 7);
	CHECK_EQ(ng_fd_wait(fd, NG_READABLE | NG_WRITABLE, NG_FOREVER), NG_READABLE | NG_WRITABLE);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	char buf[16];
	CHECK_EQ(ng_read(fd, buf, sizeof buf, NG_FOREVER), 7);
	CHECK(memcmp(buf, "regular", 7) == 0);
	CHECK_EQ(ng_read(fd, buf, sizeof buf, NG_FOREVER), 0); /* EOF, no wait */
	CHECK_EQ(ng_fd_close(fd), 0);
}

/* ---- 11 ---- */

typedef struct race_arg {
	int fd;
	long want, got;
	ng_waitgroup *wg;
} race_arg;

static void race_reader(void *p)
{
	race_arg *a = p;
	char buf[16];
	while (a->got < a->want) {
		int64_t d = ng_now() + (int64_t)(ng_id() * 7919 % 200) * 1000;
		ssize_t r = ng_read(a->fd, buf, sizeof buf, d);
		if (r == -ETIMEDOUT)
			continue;
		CHECK(r > 0);
		a->got += r;
	}
	ng_waitgroup_done(a->wg);
}

static void race_writer(void *p)
{
	race_arg *a = p;
	for (long i = 0; i < a->want; i++) {
		CHECK_EQ(ng_write(a->fd, "r", 1, NG_FOREVER), 1);
		if (i % 16 == 0)
			ng_sleep((i % 5) * 20000);
	}
	ng_waitgroup_done(a->wg);
}

static void race_closer_reader(void *p)
{
	rd_arg *a = p;
	a->rc = ng_read(a->fd, a->buf, 1, NG_FOREVER);
	atomic_store(&a->done, 1);
}

static void test_races(void)
{
	enum { PAIRS = 4 };
	long per = NG_TEST_SCALE(2000, 500);
	int p[PAIRS][2];
	race_arg r[PAIRS], w[PAIRS];
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	ng_waitgroup_add(&wg, 2 * PAIRS);
	for (int i = 0; i < PAIRS; i++) {
		mkpipe(p[i]);
		r[i] = (race_arg){.fd = p[i][0], .want = per, .wg = &wg};
		w[i] = (race_arg){.fd = p[i][1], .want = per, .wg = &wg};
		CHECK_EQ(ng_go(race_reader, &r[i]), 0);
		CHECK_EQ(ng_go(race_writer, &w[i]), 0);
	}
	ng_waitgroup_wait(&wg);
	for (int i = 0; i < PAIRS; i++) {
		CHECK_EQ(r[i].got, per);
		close_pair(p[i]);
	}
	/* closes racing with parks: every reader comes back */
	int rounds = NG_TEST_SCALE(200, 50);
	for (int k = 0; k < rounds; k++) {
		int q[2];
		mkpipe(q);
		rd_arg a[3];
		memset(a, 0, sizeof a);
		for (int i = 0; i < 3; i++) {
			a[i].fd = q[0];
			CHECK_EQ(ng_go(race_closer_reader, &a[i]), 0);
		}
		if (k % 2)
			ng_yield();
		/* forget rather than close: a reader that has not reached its
		 * read yet must not find the number reused */
		CHECK_EQ(ng_fd_forget(q[0]), 0);
		CHECK_EQ(ng_write(q[1], "abc", 3, NG_FOREVER), 3);
		for (int i = 0; i < 3; i++) {
			wait_for(&a[i].done, 1);
			CHECK(a[i].rc == -ECANCELED || a[i].rc == 1);
		}
		close_pair(q);
	}
}

/* ---- 12 ---- */

static long switches(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static void test_idle(void)
{
	enum { N = 100 };
	static int p[N][2];
	static rd_arg a[N];
	for (int i = 0; i < N; i++) {
		mkpipe(p[i]);
		memset(&a[i], 0, sizeof a[i]);
		a[i].fd = p[i][0];
		a[i].deadline = NG_FOREVER;
		CHECK_EQ(ng_go(reader, &a[i]), 0);
	}
	for (int i = 0; i < N; i++)
		wait_for(&a[i].started, 1);
	ng_sleep(100 * MS); /* spinning Ms and sysmon settle */
	long before = switches();
	ng_sleep(1000 * MS);
	long used = switches() - before;
	printf("idle 1 s with %d goroutines parked on pipes: %ld context switches\n", N, used);
	/* the sleep itself costs a few; a 1 ms tick would cost 1000 */
	CHECK(used < 100);
	for (int i = 0; i < N; i++)
		CHECK_EQ(ng_write(p[i][1], "i", 1, NG_FOREVER), 1);
	for (int i = 0; i < N; i++) {
		wait_for(&a[i].done, 1);
		CHECK_EQ(a[i].rc, 1);
		close_pair(p[i]);
	}
}

#define RUN(t)                      \
	do {                        \
		printf("%s\n", #t); \
		fflush(stdout);     \
		t();                \
	} while (0)

static int main_fn(void *arg)
{
	(void)arg;
	RUN(test_pipes);
	RUN(test_deadlines);
	RUN(test_fd_wait);
	RUN(test_close_forget);
	RUN(test_many_readers_one_fd);
	RUN(test_bad_input);
	RUN(test_foreign);
	RUN(test_sockets);
	RUN(test_regular_file);
	RUN(test_races);
	RUN(test_idle);
	return 0;
}

/* ---- 10 ---- */

static int deadlock_main(void *arg)
{
	int fd = *(int *)arg;
	char c = 0;
	CHECK_EQ(ng_read(fd, &c, 1, NG_FOREVER), 1);
	CHECK_EQ(c, 'D');
	return 0;
}

static void test_not_a_deadlock(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork(); /* before the runtime runs: a single-threaded copy */
	CHECK(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		usleep(300000);
		_exit(write(p[1], "D", 1) == 1 ? 0 : 1);
	}
	CHECK_EQ(close(p[1]), 0);
	ng_config cfg = {0};
	cfg.procs = 2;
	cfg.deadlock = NG_DEADLOCK_RETURN;
	CHECK_EQ(ng_run(&cfg, deadlock_main, &p[0]), 0);
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(ng_fd_close(p[0]), 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* no runtime at all: a foreign thread blocks itself */
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, foreign_no_runtime, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	foreign_no_runtime(NULL); /* and the main thread */

	test_not_a_deadlock();

	ng_config cfg = {0};
	cfg.procs = 2;
	CHECK_EQ(ng_run(&cfg, main_fn, NULL), 0);
	/* the runtime starts again with a fresh poller */
	cfg.procs = 4;
	CHECK_EQ(ng_run(&cfg, main_fn, NULL), 0);
	printf("ok\n");
	return 0;
}
