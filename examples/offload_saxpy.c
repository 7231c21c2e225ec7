/* SAXPY on an OpenCL device from goroutines: each goroutine owns a slice
 * of the vectors, writes it, launches the kernel and reads it back, parked
 * (not blocking its thread) while the device works.  Run with
 * NUMAGO_CL_DEVICE=gpu (or cpu, or a name) to pick the device. */
#include <numago.h>
#include <numago/offload.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define N     (1 << 20)
#define PARTS 8

static const char *source = "kernel void saxpy(float a, global const float *x,\n"
                            "                  global float *y) {\n"
                            "  size_t i = get_global_id(0);\n"
                            "  y[i] = a * x[i] + y[i];\n"
                            "}\n";

typedef struct part {
	ng_cl_device *dev;
	ng_cl_queue *q;
	cl_kernel k;
	float *x, *y;
	size_t off, n;
	int err;
	ng_waitgroup *wg;
} part;

static void run_part(void *arg)
{
	part *p = arg;
	cl_mem xb, yb;
	ng_cl_op *ops[4] = {0};
	float a = 2.0f;
	p->err = ng_cl_buffer_create(p->dev, CL_MEM_READ_ONLY, p->n * 4, &xb);
	if (p->err == 0)
		p->err = ng_cl_buffer_create(p->dev, CL_MEM_READ_WRITE, p->n * 4, &yb);
	if (p->err == 0) {
		ng_cl_range r = {.dim = 1, .global = {p->n}};
		ng_cl_arg args[] = {NG_CL_ARG(a), NG_CL_ARG(xb), NG_CL_ARG(yb)};
		ng_cl_write(p->q, xb, 0, p->n * 4, p->x + p->off, NULL, 0, &ops[0]);
		ng_cl_write(p->q, yb, 0, p->n * 4, p->y + p->off, NULL, 0, &ops[1]);
		p->err = ng_cl_launch(p->q, p->k, &r, args, 3, ops, 2, &ops[2]);
		if (p->err == 0)
			p->err =
			    ng_cl_read(p->q, yb, 0, p->n * 4, p->y + p->off, &ops[2], 1, &ops[3]);
		if (p->err == 0)
			p->err = ng_cl_wait_all(ops, 4, ng_now() + 30000000000LL);
		for (int i = 0; i < 4; i++)
			ng_cl_op_release(ops[i]);
		clReleaseMemObject(yb);
	}
	clReleaseMemObject(xb);
	ng_waitgroup_done(p->wg);
}

static int main_g(void *arg)
{
	(void)arg;
	ng_cl_device *dev;
	int r = ng_cl_device_select(NG_CL_ANY, NULL, &dev);
	if (r < 0) {
		fprintf(stderr, "no OpenCL device: %d\n", r);
		return 1;
	}
	ng_cl_device_info info;
	ng_cl_device_info_get(dev, &info);
	printf("device: %s (%s)\n", info.name, info.platform);
	ng_cl_queue *q;
	cl_program prog;
	char *log = NULL;
	if ((r = ng_cl_queue_create(dev, NULL, &q)) < 0 ||
	    (r = ng_cl_program_build(dev, source, NULL, &prog, &log)) < 0) {
		fprintf(stderr, "set-up failed: %d\n%s", r, log ? log : "");
		free(log);
		return 1;
	}
	cl_kernel k = clCreateKernel(prog, "saxpy", NULL);
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
	for (size_t i = 0; i < N; i++) {
		x[i] = (float)i;
		y[i] = 1.0f;
	}
	ng_waitgroup wg = NG_WAITGROUP_INIT;
	part parts[PARTS];
	for (int i = 0; i < PARTS; i++) {
		parts[i] = (part){dev, q, k, x, y, (size_t)i * (N / PARTS), N / PARTS, 0, &wg};
		ng_waitgroup_add(&wg, 1);
		ng_go(run_part, &parts[i]);
	}
	ng_waitgroup_wait(&wg);
	size_t bad = 0;
	for (int i = 0; i < PARTS; i++)
		if (parts[i].err != 0)
			fprintf(stderr, "part %d: %d\n", i, parts[i].err), bad++;
	for (size_t i = 0; i < N; i++)
		if (y[i] != 2.0f * (float)i + 1.0f)
			bad++;
	printf("saxpy of %d elements in %d goroutines: %s\n", N, PARTS, bad ? "WRONG" : "ok");
	clReleaseKernel(k);
	clReleaseProgram(prog);
	ng_cl_queue_release(q);
	free(x);
	free(y);
	return bad != 0;
}

int main(void)
{
	return ng_run(NULL, main_g, NULL);
}
