/* EINTR storms: every interruptible wait of the runtime (idle Ms' futex
 * parks, sysmon's sleeps, epoll_wait, ppoll, the read/write/send/accept/
 * connect calls of ng_read/ng_write/ng_accept/ng_connect) retries an EINTR
 * with what is left of its deadline, and never shows it to the user.
 *
 * One workload (channel ping-pong, sleeps, deadlines and ng_after, pipe
 * and socket I/O with accept/connect, a read() inside ng_block_enter, a
 * mutex and a waitgroup, a foreign thread's sends, sleeps and reads) runs
 *  1. while a thread sends SIGUSR1, installed without SA_RESTART, to every
 *     thread of the process every few microseconds;
 *  2. with NUMAGO_FAULT=eintr%30 (ng_fault_set) instead;
 *  3. with both, NUMAGO_FAULT=eintr%30 given in the environment (a child).
 * Every result must be right, every deadline honoured (never early), and
 * nothing may hang. */
#define _GNU_SOURCE
#include "ng_child.h"

#include "core/fault.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <numago/io.h>

#define ROUNDS   NG_TEST_SCALE(20000, 2000)
#define IO_BYTES NG_TEST_SCALE(1 << 20, 128 << 10)
#define LATE_NS  2000000000LL /* a deadline met this late is still "honoured" here */

/* ------------------------------------------------------------ the storm --- */

static _Atomic long hits;
static _Atomic int storm_on;

static void on_usr1(int sig)
{
	(void)sig;
	atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
}

static void *storm(void *arg)
{
	(void)arg;
	pid_t pid = getpid(), self = (pid_t)syscall(SYS_gettid);
	while (atomic_load(&storm_on)) {
		DIR *d = opendir("/proc/self/task");
		if (d != NULL) {
			struct dirent *e;
			while ((e = readdir(d)) != NULL) {
				pid_t tid = (pid_t)atoi(e->d_name);
				if (tid > 0 && tid != self)
					syscall(SYS_tgkill, pid, tid, SIGUSR1);
			}
			closedir(d);
		}
		struct timespec ts = {0, 5000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static pthread_t storm_thread;

static void storm_start(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = 0; /* no SA_RESTART: blocking calls fail with EINTR */
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	atomic_store(&storm_on, 1);
	CHECK_EQ(pthread_create(&storm_thread, NULL, storm, NULL), 0);
}

static void storm_stop(void)
{
	atomic_store(&storm_on, 0);
	CHECK_EQ(pthread_join(storm_thread, NULL), 0);
}

/* ------------------------------------------------------------- workload --- */

static ng_waitgroup wg = NG_WAITGROUP_INIT;

static void check_late(int64_t start, int64_t deadline)
{
	int64_t now = ng_now();
	CHECK(now >= deadline);          /* never early */
	CHECK(now - deadline < LATE_NS); /* and not lost */
	CHECK(deadline >= start);
}

typedef struct pp {
	ng_chan *ping, *pong;
} pp;

static void ponger(void *arg)
{
	pp *p = arg;
	for (int i = 0; i < ROUNDS; i++) {
		int v;
		CHECK_EQ(ng_chan_recv(p->ping, &v), 0);
		CHECK_EQ(v, i);
		v = -i;
		CHECK_EQ(ng_chan_send(p->pong, &v), 0);
	}
}

static void pinger(void *arg)
{
	pp *p = arg;
	for (int i = 0; i < ROUNDS; i++) {
		int v = i;
		CHECK_EQ(ng_chan_send(p->ping, &v), 0);
		CHECK_EQ(ng_chan_recv(p->pong, &v), 0);
		CHECK_EQ(v, -i);
	}
	ng_waitgroup_done(&wg);
}

static void sleeper(void *arg)
{
	(void)arg;
	ng_chan *never = ng_chan_make(sizeof(int), 0);
	for (int i = 0; i < 20; i++) {
		int64_t t0 = ng_now();
		CHECK_EQ(ng_sleep(1000000), 0);
		check_late(t0, t0 + 1000000);
		t0 = ng_now();
		CHECK_EQ(ng_chan_recv_until(never, NULL, t0 + 2000000), -ETIMEDOUT);
		check_late(t0, t0 + 2000000);
		t0 = ng_now();
		ng_chan *a = ng_after(1500000);
		int64_t fired;
		CHECK_EQ(ng_chan_recv(a, &fired), 0);
		CHECK(fired >= t0 + 1500000);
		check_late(t0, t0 + 1500000);
		ng_chan_release(a);
	}
	ng_chan_release(never);
	ng_waitgroup_done(&wg);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 131 + (i >> 9));
}

static void io_writer(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[4096];
	for (size_t off = 0; off < IO_BYTES; off += sizeof buf) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = pattern(off + i);
		CHECK_EQ(ng_write(fd, buf, sizeof buf, NG_FOREVER), (ssize_t)sizeof buf);
	}
	CHECK_EQ(ng_fd_close(fd), 0);
}

/* Read fd to its end in chunks of up to `chunk` bytes (a goroutine parks,
 * a foreign thread polls), checking every byte, then close it. */
static void read_pattern(int fd, size_t chunk)
{
	unsigned char buf[3000];
	size_t got = 0;
	for (;;) {
		ssize_t r = ng_read(fd, buf, chunk < sizeof buf ? chunk : sizeof buf, NG_FOREVER);
		CHECK(r >= 0);
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			CHECK_EQ(buf[i], pattern(got + (size_t)i));
		got += (size_t)r;
	}
	CHECK_EQ(got, IO_BYTES);
	CHECK_EQ(ng_fd_close(fd), 0);
}

static void io_reader(void *arg)
{
	read_pattern((int)(intptr_t)arg, 3000);
	ng_waitgroup_done(&wg);
}

static void deadline_reader(void *arg)
{
	(void)arg;
	int p[2];
	CHECK_EQ(pipe(p), 0);
	char c;
	for (int i = 0; i < 10; i++) {
		int64_t t0 = ng_now();
		CHECK_EQ(ng_read(p[0], &c, 1, t0 + 3000000), -ETIMEDOUT);
		check_late(t0, t0 + 3000000);
		t0 = ng_now();
		CHECK_EQ(ng_fd_wait(p[0], NG_READABLE, t0 + 1000000), -ETIMEDOUT);
		check_late(t0, t0 + 1000000);
	}
	CHECK_EQ(ng_fd_close(p[0]), 0);
	CHECK_EQ(ng_fd_close(p[1]), 0);
	ng_waitgroup_done(&wg);
}

/* accept/connect over loopback TCP, a short exchange per connection */
static int listener = -1;
static struct sockaddr_in laddr;

static void server(void *arg)
{
	int n = (int)(intptr_t)arg;
	for (int i = 0; i < n; i++) {
		int c = ng_accept(listener, NULL, NULL, NG_FOREVER);
		CHECK(c >= 0);
		int v;
		CHECK_EQ(ng_read(c, &v, sizeof v, NG_FOREVER), (ssize_t)sizeof v);
		v *= 3;
		CHECK_EQ(ng_write(c, &v, sizeof v, NG_FOREVER), (ssize_t)sizeof v);
		CHECK_EQ(ng_fd_close(c), 0);
	}
	ng_waitgroup_done(&wg);
}

static void client(void *arg)
{
	int n = (int)(intptr_t)arg;
	for (int i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(s >= 0);
		CHECK_EQ(ng_connect(s, (struct sockaddr *)&laddr, sizeof laddr, NG_FOREVER), 0);
		int v = i + 1;
		CHECK_EQ(ng_write(s, &v, sizeof v, NG_FOREVER), (ssize_t)sizeof v);
		CHECK_EQ(ng_read(s, &v, sizeof v, NG_FOREVER), (ssize_t)sizeof v);
		CHECK_EQ(v, 3 * (i + 1));
		CHECK_EQ(ng_fd_close(s), 0);
	}
	ng_waitgroup_done(&wg);
}

/* read() inside ng_block_enter: the user's own call sees the EINTR (no
 * SA_RESTART) and retries; numago's enter/exit around it must not care */
static int bp[2];

static void block_reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++) {
		char c;
		CHECK_EQ(ng_block_enter(), 0);
		ssize_t r;
		do
			r = read(bp[0], &c, 1);
		while (r < 0 && errno == EINTR);
		CHECK_EQ(ng_block_exit(), 0);
		CHECK_EQ(r, 1);
		CHECK_EQ(c, 'a' + i);
	}
	ng_waitgroup_done(&wg);
}

static void block_writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 10; i++) {
		ng_sleep(500000);
		char c = (char)('a' + i);
		CHECK_EQ(write(bp[1], &c, 1), 1);
	}
	ng_waitgroup_done(&wg);
}

static ng_mutex mu = NG_MUTEX_INIT;
static long counter;

static void adder(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		ng_mutex_lock(&mu);
		counter++;
		if (i % 64 == 0)
			ng_yield();
		ng_mutex_unlock(&mu);
	}
	ng_waitgroup_done(&wg);
}

/* a foreign thread: channel sends, a sleep, ppoll-based reads */
static ng_chan *fchan;
static int fp[2];

static void *foreign(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(ng_chan_send(fchan, &i), 0);
	int64_t t0 = ng_now();
	CHECK_EQ(ng_sleep(2000000), 0);
	check_late(t0, t0 + 2000000);
	read_pattern(fp[0], 1000);
	return NULL;
}

static void foreign_sink(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		int v;
		CHECK_EQ(ng_chan_recv(fchan, &v), 0);
		CHECK_EQ(v, i);
	}
	ng_waitgroup_done(&wg);
}

static int workload(void *arg)
{
	(void)arg;
	int conns = NG_TEST_SCALE(50, 20);
	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(listener >= 0);
	memset(&laddr, 0, sizeof laddr);
	laddr.sin_family = AF_INET;
	laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof laddr;
	CHECK_EQ(bind(listener, (struct sockaddr *)&laddr, sizeof laddr), 0);
	CHECK_EQ(getsockname(listener, (struct sockaddr *)&laddr, &len), 0);
	CHECK_EQ(listen(listener, 64), 0);
	CHECK_EQ(pipe(bp), 0);
	CHECK_EQ(pipe(fp), 0);
	fchan = ng_chan_make(sizeof(int), 0);
	counter = 0;

	int pfd[2], sv[2];
	CHECK_EQ(pipe(pfd), 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pp p = {ng_chan_make(sizeof(int), 0), ng_chan_make(sizeof(int), 0)};

	ng_waitgroup_add(&wg, 14);
	CHECK_EQ(ng_go(ponger, &p), 0);
	CHECK_EQ(ng_go(pinger, &p), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(ng_go(sleeper, NULL), 0);
	CHECK_EQ(ng_go(io_writer, (void *)(intptr_t)pfd[1]), 0);
	CHECK_EQ(ng_go(io_reader, (void *)(intptr_t)pfd[0]), 0);
	CHECK_EQ(ng_go(io_writer, (void *)(intptr_t)sv[1]), 0);
	CHECK_EQ(ng_go(io_reader, (void *)(intptr_t)sv[0]), 0);
	CHECK_EQ(ng_go(deadline_reader, NULL), 0);
	CHECK_EQ(ng_go(server, (void *)(intptr_t)conns), 0);
	CHECK_EQ(ng_go(client, (void *)(intptr_t)conns), 0);
	CHECK_EQ(ng_go(block_reader, NULL), 0);
	CHECK_EQ(ng_go(block_writer, NULL), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(ng_go(adder, NULL), 0);
	CHECK_EQ(ng_go(foreign_sink, NULL), 0);
	pthread_t ft;
	CHECK_EQ(pthread_create(&ft, NULL, foreign, NULL), 0);
	CHECK_EQ(ng_go(io_writer, (void *)(intptr_t)fp[1]), 0);

	ng_waitgroup_wait(&wg);
	CHECK_EQ(pthread_join(ft, NULL), 0);
	CHECK_EQ(counter, 3L * ROUNDS);
	ng_chan_release(p.ping);
	ng_chan_release(p.pong);
	ng_chan_release(fchan);
	close(listener);
	close(bp[0]);
	close(bp[1]);
	return 0;
}

static void run_workload(const char *what)
{
	ng_config cfg = {.procs = 2, .time_slice = 1000000};
	int64_t t0 = ng_now();
	CHECK_EQ(ng_run(&cfg, workload, NULL), 0);
	printf("%s: %.2f s\n", what, (double)(ng_now() - t0) / 1e9);
}

static int child_both(void *arg)
{
	(void)arg;
	storm_start();
	ng_config cfg = {.procs = 2, .time_slice = 1000000};
	CHECK_EQ(ng_run(&cfg, workload, NULL), 0); /* NUMAGO_FAULT read at boot */
	storm_stop();
	CHECK(ng_fault_count(NG_FAULT_EINTR) > 0);
	CHECK(atomic_load(&hits) > 0);
	printf("both: ok\n");
	return 0;
}

int main(void)
{
	/* 3 first: it forks, and must before this process has threads */
	static ng_child c;
	ng_child_run(&c, child_both, NULL, "NUMAGO_FAULT", "eintr%30", 60);
	CHECK_CHILD(&c, "eintr%30 and signals", ng_child_exited_with(&c, 0));
	CHECK_CHILD(&c, "eintr%30 and signals", strcmp(c.out, "both: ok\n") == 0);

	storm_start();
	run_workload("signals");
	storm_stop();
	long n = atomic_load(&hits);
	printf("signals: %ld delivered\n", n);
	CHECK(n > 100);
	CHECK_EQ(ng_fault_count(NG_FAULT_EINTR), 0);

	CHECK_EQ(ng_fault_set("eintr%30"), 0);
	run_workload("eintr%30");
	uint64_t f = ng_fault_count(NG_FAULT_EINTR);
	printf("eintr%%30: %llu injected\n", (unsigned long long)f);
	CHECK(f > 100);
	CHECK_EQ(ng_fault_set(NULL), 0);
	printf("test_fault_eintr: ok\n");
	return 0;
}
