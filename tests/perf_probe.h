/* tests/perf_probe.h — does this machine give user-space hardware
 * instruction counts through perf_event_open?  The counter tests expect the
 * tier the runtime's probe should pick, so they ask the kernel themselves. */
#ifndef NG_PERF_PROBE_H
#define NG_PERF_PROBE_H

#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline bool probe_hw_perf(void)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_HARDWARE;
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd < 0)
		return false;
	volatile uint64_t x = 0;
	for (int i = 0; i < 100000; i++)
		x += (uint64_t)i;
	uint64_t v = 0;
	(void)x; /* read once: clang's -Wunused-but-set-variable */
	bool ok = read(fd, &v, sizeof v) == (ssize_t)sizeof v && v > 0;
	close(fd);
	return ok;
}

#endif
