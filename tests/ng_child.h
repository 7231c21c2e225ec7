/* tests/ng_child.h — run part of a test in a child process and capture what
 * it writes, for the behaviours that end the process (deadlock reports, stack
 * overflows, SIGQUIT dumps).
 *
 * Fork before the parent has started the runtime (or after ng_run returned:
 * it joins all its threads), so the child is a single-threaded copy.  The
 * child's stdout and stderr go to one pipe; an alarm kills a child that
 * hangs, so the parent never waits forever. */
#ifndef NG_CHILD_H
#define NG_CHILD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "ng_test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NG_CHILD_OUT_MAX (256 * 1024)

typedef struct ng_child {
	int status;                 /* waitpid status */
	size_t len;                 /* bytes captured (at most NG_CHILD_OUT_MAX - 1) */
	char out[NG_CHILD_OUT_MAX]; /* NUL-terminated */
} ng_child;

/* Run child_main(arg) in a child process; its return value is the exit
 * status if it returns.  NUMAGO_DEBUG (or any variable) can be set for the
 * child only with env_name/env_value (NULL: none). */
static inline void ng_child_run(ng_child *c, int (*child_main)(void *), void *arg,
                                const char *env_name, const char *env_value, unsigned alarm_s)
{
	int fds[2];
	CHECK(pipe(fds) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0)
			_exit(99);
		close(fds[1]);
		setvbuf(stdout, NULL, _IONBF, 0);
		if (env_name != NULL)
			setenv(env_name, env_value, 1);
			/* sanitizer builds run several times slower */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
		alarm_s *= 5;
#endif
		alarm(alarm_s);
		int rc = child_main(arg);
		fflush(NULL);
		_exit(rc);
	}
	close(fds[1]);
	c->len = 0;
	for (;;) {
		char tmp[4096];
		ssize_t n = read(fds[0], tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t room = NG_CHILD_OUT_MAX - 1 - c->len;
		size_t k = (size_t)n < room ? (size_t)n : room;
		memcpy(c->out + c->len, tmp, k);
		c->len += k;
	}
	c->out[c->len] = '\0';
	close(fds[0]);
	pid_t w;
	do
		w = waitpid(pid, &c->status, 0);
	while (w < 0 && errno == EINTR);
	CHECK(w == pid);
}

static inline void ng_child_print(const ng_child *c, const char *what)
{
	fprintf(stderr,
	        "---- %s: child status 0x%x (%s %d), output:\n%s\n---- end of child output\n", what,
	        c->status, WIFEXITED(c->status) ? "exit" : "signal",
	        WIFEXITED(c->status) ? WEXITSTATUS(c->status)
	                             : (WIFSIGNALED(c->status) ? WTERMSIG(c->status) : -1),
	        c->out);
	fflush(stderr);
}

/* CHECK with the child's output printed first when it fails. */
#define CHECK_CHILD(c, what, cond)                   \
	do {                                         \
		if (!(cond)) {                       \
			ng_child_print((c), (what)); \
			CHECK(cond);                 \
		}                                    \
	} while (0)

static inline int ng_child_exited_with(const ng_child *c, int code)
{
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == code;
}

/* Number of lines of out that contain every one of the n needles. */
static inline int ng_lines_with(const char *out, int n, const char *const *needles)
{
	int count = 0;
	const char *line = out;
	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		int all = 1;
		for (int i = 0; i < n && all; i++)
			if (memmem(line, len, needles[i], strlen(needles[i])) == NULL)
				all = 0;
		count += all;
		if (end == NULL)
			break;
		line = end + 1;
	}
	return count;
}

/* Number of lines of out that start with prefix. */
static inline int ng_lines_starting(const char *out, const char *prefix)
{
	int count = 0;
	size_t plen = strlen(prefix);
	const char *line = out;
	while (*line != '\0') {
		count += strncmp(line, prefix, plen) == 0;
		const char *end = strchr(line, '\n');
		if (end == NULL)
			break;
		line = end + 1;
	}
	return count;
}

#define NG_LINES_WITH(out, ...)                                                             \
	ng_lines_with((out), (int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)), \
	              (const char *[]){__VA_ARGS__})

#endif
