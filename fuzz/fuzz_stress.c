/* fuzz/fuzz_stress.c — the randomized program generator of tests/stress,
 * driven by libFuzzer: each input decodes to a bounded concurrent program
 * (any byte string is a valid one), which is run and checked against the
 * model of Go's semantics with 1 P and with 2 Ps.  A violation prints the
 * program and aborts, so libFuzzer keeps the input.
 *
 * Unlike fuzz_api this target boots a runtime per check (ngs_check runs
 * ng_run): a few hundred executions a second, each a whole program. */
#include "ngstress.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	/* No async preemption unless NUMAGO_FUZZ_SLICE=ns: in this build it
	 * can stop a goroutine inside the sanitizer runtimes or a coverage
	 * callback while numago holds a lock (fuzz/crashes/README.md). */
	static int64_t slice = 1;
	if (slice == 1) {
		const char *k = getenv("NUMAGO_FUZZ_SLICE");
		slice = k != NULL && *k != '\0' ? strtoll(k, NULL, 10) : 0;
		if (k == NULL || *k == '\0') {
			const char *d = getenv("NUMAGO_DEBUG");
			char buf[512];
			snprintf(buf, sizeof buf, "%s%sasyncpreemptoff=1", d ? d : "",
			         d && *d ? "," : "");
			setenv("NUMAGO_DEBUG", buf, 1);
		}
	}
	ngs_prog *p = ngs_from_bytes(data, len);
	if (p == NULL)
		return 0; /* ENOMEM: nothing to check */
	for (int procs = 1; procs <= 2; procs++) {
		char why[512];
		if (ngs_check(p, procs, slice, why, sizeof why) != 0) {
			fprintf(stderr, "fuzz_stress: violation with %d P(s): %s\n", procs, why);
			ngs_print(p, stderr);
			abort();
		}
	}
	ngs_free(p);
	return 0;
}
