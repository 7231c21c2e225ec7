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

#endif
