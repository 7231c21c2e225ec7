/* tests/ng_test.h — assertions for numago's tests.  A failed CHECK prints
 * where and why and exits 1, from any thread or goroutine. */
#ifndef NG_TEST_H
#define NG_TEST_H

#include <numago.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			fflush(stderr);                                                          \
			_Exit(1);                                                                \
		}                                                                                \
	} while (0)

#define CHECK_EQ(a, b)                                                                      \
	do {                                                                                \
		long long _a = (long long)(a), _b = (long long)(b);                         \
		if (_a != _b) {                                                             \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
			        __FILE__, __LINE__, #a, _a, #b, _b);                        \
			fflush(stderr);                                                     \
			_Exit(1);                                                           \
		}                                                                           \
	} while (0)

/* ThreadSanitizer keeps a thread context per fiber (goroutine) and dies past
 * 8128 live ones, and runs everything ~10x slower: tests that keep more
 * goroutines alive at once use a smaller count under TSan, and only there.
 * Every other build runs the full size the acceptance criteria name. */
#if defined(__SANITIZE_THREAD__)
#define NG_TEST_TSAN              1
#define NG_TEST_SCALE(full, tsan) (tsan)
#else
#define NG_TEST_TSAN              0
#define NG_TEST_SCALE(full, tsan) (full)
#endif

#endif
