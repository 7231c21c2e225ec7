/* Offload, computing: kernels launched from goroutines give the right
 * answers, checked on the host element by element.
 *
 *  1. SAXPY (y = a*x + y) and vector add (c = a + b) on 1M floats: writes,
 *     a launch ordered after them by deps, a read ordered after it; the
 *     vector add runs its writes on one queue and the kernel and the read on
 *     another (a cross-queue dependency), and is read back through
 *     ng_cl_map.  The values are small integers and halves, exact in float
 *     whether or not the compiler fuses a*x+y, so every element must match.
 *  2. A tiled SGEMM (16x16 tiles in __local memory, NG_CL_LOCAL) of a
 *     256x192 by 192x320 product against a CPU reference (relative 1e-4).
 *  3. A reduction of 1M ints: work-group partial sums in __local memory,
 *     then a second pass of the same kernel over the partials on the
 *     device, finished on the host; both the first-pass partials (summed on
 *     the host) and the two-pass total equal the host's sum exactly.
 * Afterwards nothing is alive: events, op records, commands in flight. */
#include "cl_util.h"

#include <math.h>

#define N   (1 << 20)
#define TS  16
#define WG  256
#define GM  256
#define GK  192
#define GN  320
#define NWG (N / WG)

static const char *src =
    "__kernel void saxpy(float a, __global const float *x, __global float *y) {\n"
    "  size_t i = get_global_id(0);\n"
    "  y[i] = a * x[i] + y[i];\n"
    "}\n"
    "__kernel void vadd(__global const float *a, __global const float *b,\n"
    "                   __global float *c) {\n"
    "  size_t i = get_global_id(0);\n"
    "  c[i] = a[i] + b[i];\n"
    "}\n"
    /* C[M x N] = A[M x K] * B[K x N], row-major, tiles of TS x TS */
    "#define TS 16\n"
    "__kernel void sgemm(int M, int N, int K, __global const float *A,\n"
    "                    __global const float *B, __global float *C,\n"
    "                    __local float *As, __local float *Bs) {\n"
    "  int col = get_global_id(0), row = get_global_id(1);\n"
    "  int lc = get_local_id(0), lr = get_local_id(1);\n"
    "  float acc = 0.0f;\n"
    "  for (int t = 0; t < K; t += TS) {\n"
    "    As[lr * TS + lc] = A[row * K + t + lc];\n"
    "    Bs[lr * TS + lc] = B[(t + lr) * N + col];\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    for (int k = 0; k < TS; k++) acc += As[lr * TS + k] * Bs[k * TS + lc];\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  }\n"
    "  C[row * N + col] = acc;\n"
    "}\n"
    "__kernel void reduce(__global const int *in, __global int *part, __local int *s,\n"
    "                     int n) {\n"
    "  size_t g = get_global_id(0), l = get_local_id(0), ls = get_local_size(0);\n"
    "  s[l] = g < (size_t)n ? in[g] : 0;\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (size_t h = ls / 2; h > 0; h /= 2) {\n"
    "    if (l < h) s[l] += s[l + h];\n"
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  }\n"
    "  if (l == 0) part[get_group_id(0)] = s[0];\n"
    "}\n";

static ng_cl_device *dev;
static cl_program prog;

static void wait_ok(ng_cl_op *op)
{
	CHECK_EQ(ng_cl_wait(op, NG_FOREVER), 0);
	CHECK_EQ(ng_cl_op_status(op), CL_COMPLETE);
	CHECK(ng_cl_op_done(op));
}

/* ---- 1 ---- */

static void test_saxpy(ng_cl_queue *q)
{
	cl_kernel k = cl_kernel_of(prog, "saxpy");
	float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
	float *out = malloc(N * sizeof(float));
	CHECK(x != NULL && y != NULL && out != NULL);
	for (int i = 0; i < N; i++) {
		x[i] = (float)(i & 1023);
		y[i] = (float)(i % 1000) * 0.5f;
		out[i] = -1.0f;
	}
	cl_mem bx = cl_buf(dev, N * sizeof(float)), by = cl_buf(dev, N * sizeof(float));
	ng_cl_op *w[2], *l, *r;
	CHECK_EQ(ng_cl_write(q, bx, 0, N * sizeof(float), x, NULL, 0, &w[0]), 0);
	CHECK_EQ(ng_cl_write(q, by, 0, N * sizeof(float), y, NULL, 0, &w[1]), 0);
	float a = 2.5f;
	ng_cl_arg args[3] = {NG_CL_ARG(a), NG_CL_ARG(bx), NG_CL_ARG(by)};
	ng_cl_range rg = cl_range1(N, 0);
	CHECK_EQ(ng_cl_launch(q, k, &rg, args, 3, w, 2, &l), 0);
	CHECK_EQ(ng_cl_read(q, by, 0, N * sizeof(float), out, &l, 1, &r), 0);
	ng_cl_op *all[4] = {w[0], w[1], l, r};
	CHECK_EQ(ng_cl_wait_all(all, 4, NG_FOREVER), 0);
	for (int i = 0; i < 4; i++) {
		CHECK(ng_cl_op_done(all[i]));
		ng_cl_op_release(all[i]);
	}
	for (int i = 0; i < N; i++)
		if (out[i] != a * x[i] + y[i]) {
			fprintf(stderr, "saxpy[%d] = %g, want %g\n", i, out[i], a * x[i] + y[i]);
			CHECK(0);
		}
	clReleaseMemObject(bx);
	clReleaseMemObject(by);
	clReleaseKernel(k);
	free(x);
	free(y);
	free(out);
}

static void test_vadd(ng_cl_queue *q1, ng_cl_queue *q2)
{
	cl_kernel k = cl_kernel_of(prog, "vadd");
	float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
	CHECK(a != NULL && b != NULL);
	for (int i = 0; i < N; i++) {
		a[i] = (float)(i % 4099);
		b[i] = (float)((i * 7) % 1031) - 500.0f;
	}
	cl_mem ba = cl_buf(dev, N * sizeof(float)), bb = cl_buf(dev, N * sizeof(float));
	cl_mem bc = cl_buf(dev, N * sizeof(float));
	/* the writes on q1, the kernel on q2 after them */
	ng_cl_op *w[2], *l, *m, *u;
	CHECK_EQ(ng_cl_write(q1, ba, 0, N * sizeof(float), a, NULL, 0, &w[0]), 0);
	CHECK_EQ(ng_cl_write(q1, bb, 0, N * sizeof(float), b, NULL, 0, &w[1]), 0);
	ng_cl_arg args[3] = {NG_CL_ARG(ba), NG_CL_ARG(bb), NG_CL_ARG(bc)};
	ng_cl_range rg = cl_range1(N, WG);
	CHECK_EQ(ng_cl_launch(q2, k, &rg, args, 3, w, 2, &l), 0);
	void *p = NULL;
	CHECK_EQ(ng_cl_map(q2, bc, CL_MAP_READ, 0, N * sizeof(float), &p, &l, 1, &m), 0);
	wait_ok(m);
	/* the ops it depends on completed too (their completions may be
	 * delivered a moment later than the map's: wait, do not peek) */
	ng_cl_op *before[3] = {w[0], w[1], l};
	CHECK_EQ(ng_cl_wait_all(before, 3, ng_now() + 1000 * MS + CL_SLACK), 0);
	CHECK(p != NULL);
	const float *c = p;
	for (int i = 0; i < N; i++)
		if (c[i] != a[i] + b[i]) {
			fprintf(stderr, "vadd[%d] = %g, want %g\n", i, c[i], a[i] + b[i]);
			CHECK(0);
		}
	CHECK_EQ(ng_cl_unmap(q2, bc, p, NULL, 0, &u), 0);
	wait_ok(u);
	ng_cl_op_release(w[0]);
	ng_cl_op_release(w[1]);
	ng_cl_op_release(l);
	ng_cl_op_release(m);
	ng_cl_op_release(u);
	clReleaseMemObject(ba);
	clReleaseMemObject(bb);
	clReleaseMemObject(bc);
	clReleaseKernel(k);
	free(a);
	free(b);
}

/* ---- 2 ---- */

static void test_sgemm(ng_cl_queue *q)
{
	cl_kernel k = cl_kernel_of(prog, "sgemm");
	float *A = malloc(GM * GK * sizeof(float)), *B = malloc(GK * GN * sizeof(float));
	float *C = malloc(GM * GN * sizeof(float)), *R = calloc(GM * GN, sizeof(float));
	CHECK(A != NULL && B != NULL && C != NULL && R != NULL);
	uint32_t s = 12345;
	for (int i = 0; i < GM * GK; i++) {
		s = s * 1664525u + 1013904223u;
		A[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
	for (int i = 0; i < GK * GN; i++) {
		s = s * 1664525u + 1013904223u;
		B[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
	for (int i = 0; i < GM; i++)
		for (int kk = 0; kk < GK; kk++) {
			float aik = A[i * GK + kk];
			for (int j = 0; j < GN; j++)
				R[i * GN + j] += aik * B[kk * GN + j];
		}
	cl_mem bA = cl_buf(dev, GM * GK * sizeof(float)), bB = cl_buf(dev, GK * GN * sizeof(float));
	cl_mem bC = cl_buf(dev, GM * GN * sizeof(float));
	ng_cl_op *w[2], *l, *r;
	CHECK_EQ(ng_cl_write(q, bA, 0, GM * GK * sizeof(float), A, NULL, 0, &w[0]), 0);
	CHECK_EQ(ng_cl_write(q, bB, 0, GK * GN * sizeof(float), B, NULL, 0, &w[1]), 0);
	int m = GM, n = GN, kd = GK;
	ng_cl_arg args[8] = {NG_CL_ARG(m),
	                     NG_CL_ARG(n),
	                     NG_CL_ARG(kd),
	                     NG_CL_ARG(bA),
	                     NG_CL_ARG(bB),
	                     NG_CL_ARG(bC),
	                     NG_CL_LOCAL(TS * TS * sizeof(float)),
	                     NG_CL_LOCAL(TS * TS * sizeof(float))};
	ng_cl_range rg = {.dim = 2, .global = {GN, GM}, .local = {TS, TS}};
	CHECK_EQ(ng_cl_launch(q, k, &rg, args, 8, w, 2, &l), 0);
	CHECK_EQ(ng_cl_read(q, bC, 0, GM * GN * sizeof(float), C, &l, 1, &r), 0);
	wait_ok(r);
	CHECK_EQ(ng_cl_wait(l, ng_now() + 1000 * MS + CL_SLACK), 0);
	double maxerr = 0;
	for (int i = 0; i < GM * GN; i++) {
		double e = fabs((double)C[i] - (double)R[i]) / (1.0 + fabs((double)R[i]));
		if (e > maxerr)
			maxerr = e;
		if (e > 1e-4) {
			fprintf(stderr, "sgemm C[%d][%d] = %g, want %g\n", i / GN, i % GN, C[i],
			        R[i]);
			CHECK(0);
		}
	}
	ng_cl_op_release(w[0]);
	ng_cl_op_release(w[1]);
	ng_cl_op_release(l);
	ng_cl_op_release(r);
	clReleaseMemObject(bA);
	clReleaseMemObject(bB);
	clReleaseMemObject(bC);
	clReleaseKernel(k);
	free(A);
	free(B);
	free(C);
	free(R);
}

/* ---- 3 ---- */

static void test_reduce(ng_cl_queue *q)
{
	cl_kernel k1 = cl_kernel_of(prog, "reduce"), k2 = cl_kernel_of(prog, "reduce");
	int *in = malloc(N * sizeof(int)), *part = malloc(NWG * sizeof(int));
	CHECK(in != NULL && part != NULL);
	long long want = 0;
	for (int i = 0; i < N; i++) {
		in[i] = (int)((i * 7919u) % 2001u) - 1000 + (i & 1);
		want += in[i];
	}
	cl_mem bin = cl_buf(dev, N * sizeof(int)), bpart = cl_buf(dev, NWG * sizeof(int));
	ng_cl_op *w, *l1, *l2, *r1, *r2;
	CHECK_EQ(ng_cl_write(q, bin, 0, N * sizeof(int), in, NULL, 0, &w), 0);
	int n1 = N;
	ng_cl_arg a1[4] = {NG_CL_ARG(bin), NG_CL_ARG(bpart), NG_CL_LOCAL(WG * sizeof(int)),
	                   NG_CL_ARG(n1)};
	ng_cl_range rg1 = cl_range1(N, WG);
	CHECK_EQ(ng_cl_launch(q, k1, &rg1, a1, 4, &w, 1, &l1), 0);
	/* the second pass: the same kernel over the NWG partials gives
	 * NWG / WG sums, which the host adds */
	CHECK_EQ(ng_cl_read(q, bpart, 0, NWG * sizeof(int), part, &l1, 1, &r1), 0);
	cl_mem bpart2 = cl_buf(dev, (NWG / WG) * sizeof(int));
	int n2 = NWG;
	ng_cl_arg a2[4] = {NG_CL_ARG(bpart), NG_CL_ARG(bpart2), NG_CL_LOCAL(WG * sizeof(int)),
	                   NG_CL_ARG(n2)};
	ng_cl_range rg2 = cl_range1(NWG, WG);
	CHECK_EQ(ng_cl_launch(q, k2, &rg2, a2, 4, &l1, 1, &l2), 0);
	int part2[NWG / WG];
	CHECK_EQ(ng_cl_read(q, bpart2, 0, sizeof part2, part2, &l2, 1, &r2), 0);
	ng_cl_op *all[5] = {w, l1, r1, l2, r2};
	CHECK_EQ(ng_cl_wait_all(all, 5, NG_FOREVER), 0);
	long long got1 = 0, got2 = 0;
	for (int i = 0; i < NWG; i++)
		got1 += part[i];
	for (int i = 0; i < NWG / WG; i++)
		got2 += part2[i];
	if (got1 != want || got2 != want)
		fprintf(stderr, "reduce: partials %lld, two passes %lld, want %lld\n", got1, got2,
		        want);
	CHECK_EQ(got1, want);
	CHECK_EQ(got2, want);
	/* a spot check of one group's partial */
	long long g7 = 0;
	for (int i = 7 * WG; i < 8 * WG; i++)
		g7 += in[i];
	CHECK_EQ(part[7], g7);
	for (int i = 0; i < 5; i++)
		ng_cl_op_release(all[i]);
	clReleaseMemObject(bin);
	clReleaseMemObject(bpart);
	clReleaseMemObject(bpart2);
	clReleaseKernel(k1);
	clReleaseKernel(k2);
	free(in);
	free(part);
}

static int main_g(void *arg)
{
	(void)arg;
	dev = cl_dev();
	int64_t t0 = ng_now();
	prog = cl_build(dev, src);
	int64_t t1 = ng_now();
	ng_cl_queue *q1 = cl_queue(dev, NG_CL_COMPLETION_AUTO);
	ng_cl_queue *q2 = cl_queue(dev, NG_CL_COMPLETION_POLL);
	test_saxpy(q1);
	test_saxpy(q2);
	test_vadd(q1, q2);
	test_vadd(q2, q1);
	test_sgemm(q1);
	test_reduce(q2);
	CHECK_EQ(ng_cl_queue_release(q1), 0);
	CHECK_EQ(ng_cl_queue_release(q2), 0);
	clReleaseProgram(prog);
	cl_expect_quiescent("compute");
	printf("test_cl_compute: ok (build %.0f ms, kernels %.0f ms)\n", (t1 - t0) / 1e6,
	       (ng_now() - t1) / 1e6);
	return 0;
}

int main(void)
{
	cl_hang_dump_after(100); /* ctest: 120 s, 480 s under the sanitizers */
	int r = ng_run(NULL, main_g, NULL);
	CHECK_EQ(r, 0);
	return 0;
}
