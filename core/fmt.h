/* core/fmt.h — async-signal-safe formatting into a fixed buffer.
 *
 * Used where printf is not allowed: the stack-overflow (SIGSEGV) handler and
 * the SIGQUIT dump.  Output is truncated, never overflows. */
#ifndef NG_CORE_FMT_H
#define NG_CORE_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

typedef struct ng_fmt {
	char *buf;
	size_t cap, len;
} ng_fmt;

static inline void fmt_s(ng_fmt *f, const char *s)
{
	if (s == NULL)
		s = "(null)";
	while (*s != '\0' && f->len + 1 < f->cap)
		f->buf[f->len++] = *s++;
	f->buf[f->len < f->cap ? f->len : f->cap - 1] = '\0';
}

static inline void fmt_u(ng_fmt *f, uint64_t v)
{
	char tmp[24];
	int i = 0;
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	char out[24];
	for (int k = 0; k < i; k++)
		out[k] = tmp[i - 1 - k];
	out[i] = '\0';
	fmt_s(f, out);
}

static inline void fmt_i(ng_fmt *f, int64_t v)
{
	if (v < 0) {
		fmt_s(f, "-");
		fmt_u(f, (uint64_t)(-(v + 1)) + 1);
	} else {
		fmt_u(f, (uint64_t)v);
	}
}

static inline void fmt_x(ng_fmt *f, uint64_t v)
{
	char out[20] = "0x";
	int i = 0;
	char tmp[16];
	do {
		tmp[i++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v != 0);
	for (int k = 0; k < i; k++)
		out[2 + k] = tmp[i - 1 - k];
	out[2 + i] = '\0';
	fmt_s(f, out);
}

static inline void fmt_flush(ng_fmt *f, int fd)
{
	size_t off = 0;
	while (off < f->len) {
		ssize_t w = write(fd, f->buf + off, f->len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	f->len = 0;
	if (f->cap > 0)
		f->buf[0] = '\0';
}

#endif
