/* Offload, devices: enumeration, selection, the CPU device split.
 *
 * 10. ng_cl_device_count() > 0; every device's info is sane (name and
 *     platform set, index, type one of CPU/GPU/ACCEL, compute units and
 *     memory, ids); a CPU device has no NUMA node and no PCI address, and
 *     its home Ps are all the Ps (nhome == ng_procs()).  Selection by type
 *     and by name; NUMAGO_CL_DEVICE=cpu picks the CPU device, =gpu gives
 *     -ENODEV on a machine without a GPU device, an index and a name
 *     substring work, a bad one is -ENODEV.  One context per device.  A
 *     queue with AUTO completion takes CALLBACK on PoCL (prompt callbacks),
 *     NUMAGO_CL_COMPLETION=poll forces POLL.  POCL_MAX_PTHREAD_COUNT,
 *     unset, is set by numago at the first OpenCL call to the CPUs the Ps
 *     leave (at least 1), and PoCL's device has that many compute units;
 *     NUMAGO_CL_CPU_THREADS=3 gives 3; a value already set is kept.
 *     Discovery works before the runtime starts (a foreign thread).
 * The variants run in child processes, each with its environment set
 * before its first OpenCL call. */
#define _GNU_SOURCE
#include "cl_util.h"
#include "ng_child.h"

#include <sched.h>

static int cpus(void)
{
	cpu_set_t set;
	CHECK_EQ(sched_getaffinity(0, sizeof set, &set), 0);
	return CPU_COUNT(&set);
}

static int have_type(int type)
{
	for (int i = 0; i < ng_cl_device_count(); i++) {
		ng_cl_device_info in;
		CHECK_EQ(ng_cl_device_info_get(ng_cl_device_get(i), &in), 0);
		if (in.type == type)
			return 1;
	}
	return 0;
}

/* A CPU device whose name comes from PoCL: its compute units follow
 * POCL_MAX_PTHREAD_COUNT. */
static ng_cl_device *pocl_cpu(void)
{
	for (int i = 0; i < ng_cl_device_count(); i++) {
		ng_cl_device_info in;
		CHECK_EQ(ng_cl_device_info_get(ng_cl_device_get(i), &in), 0);
		if (in.type == NG_CL_CPU && strcasestr(in.platform, "Portable") != NULL)
			return ng_cl_device_get(i);
	}
	return NULL;
}

static void check_info(void)
{
	int n = ng_cl_device_count();
	CHECK(n > 0);
	CHECK(ng_cl_device_get(n) == NULL);
	for (int i = 0; i < n; i++) {
		ng_cl_device *d = ng_cl_device_get(i);
		CHECK(d != NULL);
		ng_cl_device_info in;
		memset(&in, 0x5a, sizeof in);
		CHECK_EQ(ng_cl_device_info_get(d, &in), 0);
		printf("device %d: %s / %s / %s, type %d, %u CUs, %zu MiB, node %d, pci '%s', "
		       "%d home Ps\n",
		       i, in.name, in.vendor, in.platform, in.type, in.compute_units,
		       in.global_mem >> 20, in.numa_node, in.pci, in.nhome);
		CHECK(in.name[0] != '\0' && strlen(in.name) < sizeof in.name);
		CHECK(in.platform[0] != '\0' && strlen(in.platform) < sizeof in.platform);
		CHECK(strlen(in.vendor) < sizeof in.vendor);
		CHECK(strlen(in.pci) < sizeof in.pci);
		CHECK_EQ(in.index, i);
		CHECK(in.type == NG_CL_CPU || in.type == NG_CL_GPU || in.type == NG_CL_ACCEL);
		CHECK(in.compute_units >= 1);
		CHECK(in.global_mem > 0);
		CHECK(in.device_id != NULL && in.platform_id != NULL);
		CHECK(in.nhome >= 1 && in.nhome <= ng_procs());
		for (int h = 0; h < in.nhome; h++)
			CHECK(in.home_procs[h] >= 0 && in.home_procs[h] < ng_procs());
		if (in.type == NG_CL_CPU) {
			CHECK_EQ(in.numa_node, -1);
			CHECK_EQ(in.pci[0], '\0');
			CHECK_EQ(in.nhome, ng_procs());
			for (int h = 0; h < in.nhome; h++)
				CHECK_EQ(in.home_procs[h], h);
		}
		/* one context per device, the same every time */
		cl_context c = ng_cl_context(d);
		CHECK(c != NULL);
		CHECK(ng_cl_context(d) == c);
	}
}

static void check_select(void)
{
	ng_cl_device *d = NULL;
	CHECK(getenv("NUMAGO_CL_DEVICE") == NULL);
	CHECK_EQ(ng_cl_device_select(NG_CL_ANY, NULL, &d), 0);
	CHECK(d == ng_cl_device_get(0));
	ng_cl_device_info in;
	if (have_type(NG_CL_CPU)) {
		CHECK_EQ(ng_cl_device_select(NG_CL_CPU, NULL, &d), 0);
		CHECK_EQ(ng_cl_device_info_get(d, &in), 0);
		CHECK_EQ(in.type, NG_CL_CPU);
		/* by a substring of its name, any case */
		char part[8] = {0};
		memcpy(part, in.name, strlen(in.name) < 6 ? strlen(in.name) : 6);
		for (char *p = part; *p; p++)
			*p = (char)((*p >= 'a' && *p <= 'z') ? *p - 32 : *p);
		ng_cl_device *d2 = NULL;
		CHECK_EQ(ng_cl_device_select(NG_CL_CPU, part, &d2), 0);
		CHECK(d2 == d);
	}
	if (!have_type(NG_CL_GPU))
		CHECK_EQ(ng_cl_device_select(NG_CL_GPU, NULL, &d), -ENODEV);
	CHECK_EQ(ng_cl_device_select(NG_CL_ANY, "certainly not a device name", &d), -ENODEV);
	CHECK(d == NULL);

	/* NUMAGO_CL_DEVICE (read at each selection) */
	setenv("NUMAGO_CL_DEVICE", "cpu", 1);
	if (have_type(NG_CL_CPU)) {
		CHECK_EQ(ng_cl_device_select(NG_CL_ANY, NULL, &d), 0);
		CHECK_EQ(ng_cl_device_info_get(d, &in), 0);
		CHECK_EQ(in.type, NG_CL_CPU);
		/* the caller's filter still applies */
		CHECK_EQ(ng_cl_device_select(NG_CL_GPU, NULL, &d), -ENODEV);
	}
	setenv("NUMAGO_CL_DEVICE", "gpu", 1);
	if (!have_type(NG_CL_GPU)) {
		CHECK_EQ(ng_cl_device_select(NG_CL_ANY, NULL, &d), -ENODEV);
		CHECK(d == NULL);
	}
	setenv("NUMAGO_CL_DEVICE", "0", 1);
	CHECK_EQ(ng_cl_device_select(NG_CL_ANY, NULL, &d), 0);
	CHECK(d == ng_cl_device_get(0));
	setenv("NUMAGO_CL_DEVICE", "99", 1);
	CHECK_EQ(ng_cl_device_select(NG_CL_ANY, NULL, &d), -ENODEV);
	CHECK_EQ(ng_cl_device_info_get(ng_cl_device_get(0), &in), 0);
	setenv("NUMAGO_CL_DEVICE", in.platform, 1);
	CHECK_EQ(ng_cl_device_select(NG_CL_ANY, NULL, &d), 0);
	setenv("NUMAGO_CL_DEVICE", "no such platform at all", 1);
	CHECK_EQ(ng_cl_device_select(NG_CL_ANY, NULL, &d), -ENODEV);
	unsetenv("NUMAGO_CL_DEVICE");
}

static void check_queue_mode(int want)
{
	ng_cl_device *d = cl_dev();
	ng_cl_queue *q = NULL;
	CHECK_EQ(ng_cl_queue_create(d, NULL, &q), 0);
	CHECK(ng_cl_queue_handle(q) != NULL);
	CHECK(ng_cl_queue_device(q) == d);
	CHECK_EQ(ng_cl_queue_completion(q), want);
	/* and it works */
	ng_cl_op *m;
	CHECK_EQ(ng_cl_marker(q, NULL, 0, &m), 0);
	CHECK_EQ(ng_cl_wait(m, NG_FOREVER), 0);
	ng_cl_op_release(m);
	CHECK_EQ(ng_cl_queue_release(q), 0);
	/* a buffer with host memory (no node for a CPU device: the driver's) */
	cl_mem b = NULL;
	CHECK_EQ(ng_cl_buffer_create(d, CL_MEM_READ_WRITE | CL_MEM_ALLOC_HOST_PTR, 4096, &b), 0);
	clReleaseMemObject(b);
	cl_expect_quiescent("devices");
}

/* ---- the children ---- */

typedef struct variant {
	const char *pocl_threads; /* expected POCL_MAX_PTHREAD_COUNT, NULL: computed */
	int want_mode;
	int init_before_runtime;
} variant;

static int ncpu; /* before the runtime binds this thread */

static int variant_main(void *arg)
{
	variant *v = arg;
	if (!v->init_before_runtime && v->pocl_threads == NULL)
		CHECK(getenv("POCL_MAX_PTHREAD_COUNT") == NULL);
	CHECK_EQ(ng_cl_init(), 0);
	CHECK_EQ(ng_cl_init(), 0); /* once */
	const char *pm = getenv("POCL_MAX_PTHREAD_COUNT");
	CHECK(pm != NULL); /* set by numago, or by us before */
	int want = v->pocl_threads != NULL ? atoi(v->pocl_threads)
	                                   : (ncpu - ng_procs() > 1 ? ncpu - ng_procs() : 1);
	printf("POCL_MAX_PTHREAD_COUNT=%s (%d CPUs, %d Ps)\n", pm, ncpu, ng_procs());
	CHECK_EQ(atoi(pm), want);
	ng_cl_device *pc = pocl_cpu();
	if (pc != NULL) {
		ng_cl_device_info in;
		CHECK_EQ(ng_cl_device_info_get(pc, &in), 0);
		CHECK_EQ((int)in.compute_units, want); /* PoCL took it */
	}
	check_info();
	check_select();
	check_queue_mode(v->want_mode);
	return 0;
}

static int variant_child(void *arg)
{
	variant *v = arg;
	ncpu = cpus();
	if (v->init_before_runtime) {
		/* discovery from a plain thread, no runtime yet */
		CHECK_EQ(ng_procs(), 0);
		CHECK_EQ(ng_cl_init(), 0);
		CHECK(ng_cl_device_count() > 0);
		CHECK(getenv("POCL_MAX_PTHREAD_COUNT") != NULL);
	}
	return ng_run(NULL, variant_main, arg);
}

static void run_variant(const char *what, variant *v, const char *env, const char *val)
{
	static ng_child c;
	ng_child_run(&c, variant_child, v, env, val, 60);
	CHECK_CHILD(&c, what, ng_child_exited_with(&c, 0));
	printf("-- %s --\n%s", what, c.out);
}

/* NUMAGO_CL_DEVICE=gpu before the first OpenCL call: the program sees
 * -ENODEV from its first selection (no GPU here), and cpu picks the CPU. */
static int env_select_main(void *arg)
{
	int want = *(int *)arg;
	ng_cl_device *d = NULL;
	int r = ng_cl_device_select(NG_CL_ANY, NULL, &d);
	if (want < 0) {
		if (have_type(NG_CL_GPU))
			return 0; /* a machine with a GPU device: nothing to see */
		CHECK_EQ(r, -ENODEV);
		CHECK(d == NULL);
	} else {
		CHECK_EQ(r, 0);
		ng_cl_device_info in;
		CHECK_EQ(ng_cl_device_info_get(d, &in), 0);
		CHECK_EQ(in.type, want);
	}
	return 0;
}

static int env_select_child(void *arg)
{
	return ng_run(NULL, env_select_main, arg);
}

int main(void)
{
	if (getenv("POCL_MAX_PTHREAD_COUNT") != NULL) {
		/* the environment set it: numago must keep it, nothing else to see */
		printf("POCL_MAX_PTHREAD_COUNT is set in the environment: the split is not "
		       "tested\n");
	} else {
		variant plain = {NULL, NG_CL_COMPLETION_CALLBACK, 0};
		run_variant("default", &plain, NULL, NULL);
		variant early = {NULL, NG_CL_COMPLETION_CALLBACK, 1};
		/* NUMAGO_PROCS=1: the split without a runtime counts the Ps
		 * the runtime will have */
		run_variant("discovery before the runtime, NUMAGO_PROCS=1", &early, "NUMAGO_PROCS",
		            "1");
		variant three = {"3", NG_CL_COMPLETION_CALLBACK, 0};
		run_variant("NUMAGO_CL_CPU_THREADS=3", &three, "NUMAGO_CL_CPU_THREADS", "3");
		variant kept = {"2", NG_CL_COMPLETION_CALLBACK, 0};
		run_variant("POCL_MAX_PTHREAD_COUNT=2 kept", &kept, "POCL_MAX_PTHREAD_COUNT", "2");
		variant poll = {NULL, NG_CL_COMPLETION_POLL, 0};
		run_variant("NUMAGO_CL_COMPLETION=poll", &poll, "NUMAGO_CL_COMPLETION", "poll");
	}
	static ng_child c;
	int gpu = -1, cpu = NG_CL_CPU;
	ng_child_run(&c, env_select_child, &gpu, "NUMAGO_CL_DEVICE", "gpu", 60);
	CHECK_CHILD(&c, "NUMAGO_CL_DEVICE=gpu", ng_child_exited_with(&c, 0));
	ng_child_run(&c, env_select_child, &cpu, "NUMAGO_CL_DEVICE", "cpu", 60);
	CHECK_CHILD(&c, "NUMAGO_CL_DEVICE=cpu", ng_child_exited_with(&c, 0));
	printf("test_cl_devices: ok\n");
	return 0;
}
