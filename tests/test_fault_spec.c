/* NUMAGO_FAULT's grammar (core/fault.h): which calls of a site fail for
 * @skip, xcount and %percent, that the same spec fails the same calls, and
 * that a spec that does not parse arms nothing and says so. */
#include "ng_test.h"

#include "core/fault.h"

#include <errno.h>
#include <string.h>

static int pattern(int site, int n, char *out)
{
	int failed = 0;
	for (int i = 0; i < n; i++) {
		out[i] = ng_fault(site) ? 'F' : '.';
		failed += out[i] == 'F';
	}
	out[n] = '\0';
	return failed;
}

int main(void)
{
	char a[256], b[256];
	CHECK_EQ(ng_fault_set("mmap@3x2"), 0);
	CHECK_EQ(pattern(NG_FAULT_MMAP, 8, a), 2);
	CHECK(strcmp(a, "...FF...") == 0);
	CHECK_EQ(ng_fault_count(NG_FAULT_MMAP), 2);
	CHECK_EQ(pattern(NG_FAULT_THREAD, 8, a), 0); /* not armed */

	CHECK_EQ(ng_fault_set("thread,eintr@1"), 0);
	CHECK_EQ(pattern(NG_FAULT_THREAD, 5, a), 5);
	CHECK_EQ(pattern(NG_FAULT_EINTR, 5, a), 4);
	CHECK(strcmp(a, ".FFFF") == 0);
	CHECK_EQ(pattern(NG_FAULT_MMAP, 5, a), 0); /* re-arming replaced it */

	CHECK_EQ(ng_fault_set("eintr%25"), 0);
	int fa = pattern(NG_FAULT_EINTR, 200, a);
	CHECK_EQ(ng_fault_set("eintr%25"), 0);
	int fb = pattern(NG_FAULT_EINTR, 200, b);
	CHECK(fa == fb && strcmp(a, b) == 0); /* reproducible */
	CHECK(fa > 20 && fa < 80);            /* about a quarter of 200 */

	CHECK_EQ(ng_fault_set("cl_cmd@2x1%50"), 0);
	CHECK(pattern(NG_FAULT_CL_CMD, 100, a) == 1);
	CHECK(a[0] == '.' && a[1] == '.');

	static const char *const bad[] = {"mmapx",     "nosuch",      "mmap@",      "eintr%0",
	                                  "eintr%101", "mmap;thread", "hwloc,,papi"};
	CHECK_EQ(ng_fault_set("papi"), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ(ng_fault_set(bad[i]), -EINVAL);
	CHECK_EQ(pattern(NG_FAULT_PAPI, 4, a), 4); /* a bad spec left the last one */
	CHECK_EQ(ng_fault_set(NULL), 0);
	CHECK_EQ(pattern(NG_FAULT_PAPI, 4, a), 0);
	CHECK_EQ(atomic_load(&ng_fault_armed), 0);
	printf("test_fault_spec: ok\n");
	return 0;
}
