/* examples/hello.c — a thousand goroutines, a wait group, a result. */
#include <numago.h>

#include <stdatomic.h>
#include <stdio.h>

static ng_waitgroup wg = NG_WAITGROUP_INIT;
static _Atomic long sum;

static void worker(void *arg)
{
	atomic_fetch_add(&sum, (long)arg);
	ng_waitgroup_done(&wg);
}

static int main_g(void *arg)
{
	(void)arg;
	for (long i = 1; i <= 1000; i++) {
		ng_waitgroup_add(&wg, 1);
		ng_go(worker, (void *)i);
	}
	ng_waitgroup_wait(&wg);
	printf("%d Ps, sum 1..1000 = %ld\n", ng_procs(), atomic_load(&sum));
	return atomic_load(&sum) == 500500 ? 0 : 1;
}

int main(void)
{
	return ng_run(NULL, main_g, NULL);
}
