#include "ng_test.h"
#include <stdatomic.h>

static _Atomic int ran;

static void child(void *arg)
{
	atomic_fetch_add(&ran, (int)(long)arg);
}

static int main_g(void *arg)
{
	CHECK_EQ(ng_id(), 1);
	CHECK(ng_self_proc() >= 0);
	for (long i = 0; i < 1000; i++)
		CHECK_EQ(ng_go(child, (void *)1), 0);
	while (atomic_load(&ran) < 1000)
		ng_yield();
	return 42 + (int)(long)arg;
}

int main(void)
{
	CHECK_EQ(ng_run(NULL, main_g, (void *)1), 43);
	CHECK_EQ(atomic_load(&ran), 1000);
	CHECK_EQ(ng_id(), 0);
	CHECK_EQ(ng_self_proc(), -1);
	printf("ok\n");
	return 0;
}
