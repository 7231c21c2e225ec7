/* topology/cgroup.c — how many CPUs the cgroup CPU quota lets the process use.
 * A container limited to 2 CPUs on a 64-core node still sees 64 PUs in its
 * cpuset; running 64 Ps there gets the process throttled for most of every
 * period.  Like Go 1.25 we read the quota of the process's cgroup and of its
 * ancestors (a parent's quota caps the whole subtree) and take the tightest.
 * Everything is read under a caller-given root so tests can use fixture trees. */
#define _GNU_SOURCE
#include "cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hier {
	bool mounted, member;
	char root[PATH_MAX];  /* path inside the hierarchy seen at the mount point */
	char point[PATH_MAX]; /* where it is mounted */
	char path[PATH_MAX];  /* the process's cgroup, from /proc/self/cgroup */
};

struct state {
	const char *r;
	struct hier v1, v2;
	char dir[PATH_MAX];
};

/* Drops trailing slashes: "/" becomes "", so joining paths needs no cases. */
static int copy(char *dst, const char *src)
{
	size_t n = strlen(src);
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	while (n > 0 && src[n - 1] == '/')
		n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* "rw,cpu,cpuacct" has "cpu"; "rw,cpuacct" and "cpuset" do not. */
static bool has_item(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* mountinfo writes space, tab, newline and backslash in paths as \ooo. */
static void unescape(char *s)
{
	char *d = s;
	for (; *s; s++, d++) {
		*d = *s;
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		}
	}
	*d = '\0';
}

/* "ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS" */
static int on_mount(struct state *st, char *line)
{
	char *f[6], *tok = NULL;
	for (int i = 0; i < 6; i++)
		if (!(f[i] = strsep(&line, " ")))
			return -EINVAL;
	while ((tok = strsep(&line, " ")) && strcmp(tok, "-") != 0)
		;
	char *type = strsep(&line, " ");
	strsep(&line, " ");
	char *opts = strsep(&line, " ");
	if (!tok || !opts)
		return -EINVAL;
	bool v2 = strcmp(type, "cgroup2") == 0;
	struct hier *h = v2 ? &st->v2 : &st->v1;
	/* the first mount wins; later ones are bind mounts of the same hierarchy */
	if (!(v2 || (strcmp(type, "cgroup") == 0 && has_item(opts, "cpu"))) || h->mounted)
		return 0;
	unescape(f[3]);
	unescape(f[4]);
	int err = copy(h->root, f[3]);
	if (err || (err = copy(h->point, f[4])))
		return err;
	h->mounted = true;
	return 0;
}

/* "0::/path" for v2, "N:cpu,cpuacct:/path" for v1 */
static int on_cgroup(struct state *st, char *line)
{
	char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2 || c2[1] != '/')
		return -EINVAL;
	*c1 = *c2 = '\0';
	bool v2 = strcmp(line, "0") == 0 && c1 + 1 == c2;
	struct hier *h = v2 ? &st->v2 : &st->v1;
	if (!(v2 || has_item(c1 + 1, "cpu")) || h->member)
		return 0;
	h->member = true;
	return copy(h->path, c2 + 1);
}

static int lines(struct state *st, const char *path, int (*fn)(struct state *, char *))
{
	char name[PATH_MAX];
	if (snprintf(name, sizeof name, "%s%s", st->r, path) >= (int)sizeof name)
		return -ENAMETOOLONG;
	FILE *f = fopen(name, "re");
	if (!f)
		return errno == EINVAL ? -EIO : -errno;
	char *line = NULL;
	size_t cap = 0;
	int err = 0;
	while (!err && getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		err = line[0] ? fn(st, line) : 0;
	}
	free(line);
	fclose(f);
	return err;
}

/* Reads a small file whole; one too big to be a cgroup knob is malformed. */
static int slurp(const char *dir, const char *file, char *buf, size_t size)
{
	char name[PATH_MAX + 32];
	snprintf(name, sizeof name, "%s/%s", dir, file);
	FILE *f = fopen(name, "re");
	if (!f)
		return errno == EINVAL ? -EIO : -errno;
	size_t n = fread(buf, 1, size - 1, f);
	int err = ferror(f) ? -EIO : (n == size - 1 && fgetc(f) != EOF) ? -EINVAL : 0;
	fclose(f);
	buf[n] = '\0';
	return err;
}

/* Strict, so garbage and overflow are -EINVAL rather than a guess. */
static const char *num(const char *s, long long *v)
{
	char *end;
	if (!isdigit((unsigned char)s[*s == '-']))
		return NULL;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno ? NULL : end;
}

static bool at_end(const char *s)
{
	return s && (!strcmp(s, "") || !strcmp(s, "\n"));
}

/* Each level returns 1 and the CPUs it allows, 0 for no limit, -EINVAL if
 * malformed, another error if it can't be read. */
static int v2_level(const char *dir, long long *cpus)
{
	char buf[64];
	long long q = 0, p;
	int err = slurp(dir, "cpu.max", buf, sizeof buf);
	if (err)
		return err;
	bool max = strncmp(buf, "max ", 4) == 0;
	const char *s = max ? buf + 3 : num(buf, &q);
	if (!s || *s != ' ' || !at_end(s = num(s + 1, &p)) || p <= 0 || (!max && q <= 0))
		return -EINVAL;
	*cpus = q / p + (q % p != 0);
	return !max;
}

static int v1_level(const char *dir, long long *cpus)
{
	char buf[32];
	long long q, p;
	int err = slurp(dir, "cpu.cfs_quota_us", buf, sizeof buf);
	if (err)
		return err;
	if (!at_end(num(buf, &q)) || q == 0 || q < -1)
		return -EINVAL;
	if (q == -1)
		return 0;
	if ((err = slurp(dir, "cpu.cfs_period_us", buf, sizeof buf)))
		return err;
	if (!at_end(num(buf, &p)) || p <= 0)
		return -EINVAL;
	*cpus = q / p + (q % p != 0);
	return 1;
}

/* Walks from the process's cgroup up to the mount point; returns how many
 * levels could be read (0: this hierarchy has no cpu files for us). */
static int walk(struct state *st, const struct hier *h, int (*level)(const char *, long long *),
                long long *best)
{
	size_t rl = strlen(h->root);
	/* a path outside the mount root (a container's view): the root is ours */
	bool in = strncmp(h->path, h->root, rl) == 0 && (h->path[rl] == '/' || !h->path[rl]);
	const char *rel = in ? h->path + rl : "";
	int stop = snprintf(st->dir, sizeof st->dir, "%s%s", st->r, h->point);
	int len = snprintf(st->dir, sizeof st->dir, "%s%s%s", st->r, h->point, rel);
	if (stop < 0 || len < 0 || len >= (int)sizeof st->dir)
		return -ENAMETOOLONG;
	int seen = 0;
	for (;;) {
		long long cpus = 0;
		int rc = level(st->dir, &cpus);
		if (rc == -EINVAL)
			return rc;
		seen += rc >= 0;
		if (rc == 1 && (*best == 0 || cpus < *best))
			*best = cpus;
		if (len <= stop)
			return seen;
		/* rel starts with '/', so a '/' at or after stop ends the loop */
		while (st->dir[len - 1] != '/')
			len--;
		st->dir[--len] = '\0';
	}
}

int ng_topo_cgroup_cpus(const char *root)
{
	struct state *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->r = root ? root : "";
	long long best = 0;
	int rc = lines(st, "/proc/self/mountinfo", on_mount);
	rc = rc ? rc : lines(st, "/proc/self/cgroup", on_cgroup);
	/* hybrid systems bind cpu to v1 and leave v2 without cpu.max files */
	if (rc == 0 && st->v2.mounted && st->v2.member)
		rc = walk(st, &st->v2, v2_level, &best);
	if (rc == 0 && st->v1.mounted && st->v1.member)
		rc = walk(st, &st->v1, v1_level, &best);
	free(st);
	if (rc < 0)
		return rc == -EINVAL ? rc : 0;
	/* one P per CPU of a fractional quota starves; Go keeps at least 2 too */
	return best == 0 ? 0 : best < 2 ? 2 : best > INT_MAX ? INT_MAX : (int)best;
}
