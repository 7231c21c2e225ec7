/* tests/test_topo_cgroup.c — the cgroup CPU quota, read from fixture trees
 * that stand for "/" (v1, v2, hybrid, containers, garbage) and from the real
 * machine. */
#define _GNU_SOURCE
#include "ng_test.h"
#include "topology/cgroup.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[PATH_MAX];
static char dir[PATH_MAX];
static int ncase;

/* Each case gets an empty root of its own. */
static const char *fresh(void)
{
	CHECK(snprintf(dir, sizeof dir, "%s/c%d", base, ++ncase) < (int)sizeof dir);
	CHECK(mkdir(dir, 0755) == 0);
	return dir;
}

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX];
	CHECK(snprintf(path, sizeof path, "%s/%s", dir, rel) < (int)sizeof path);
	for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
}

#define V2_MOUNT "40 30 0:37 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
#define V1_MOUNT                                                              \
	"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" \
	"32 30 0:29 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n" \
	"33 30 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"   \
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime shared:5 - cgroup cgroup rw,cpu\n"

/* A v2 tree with the process in /app and `max` in its cpu.max. */
static int v2(const char *max)
{
	fresh();
	put("proc/self/mountinfo", V2_MOUNT);
	put("proc/self/cgroup", "0::/app\n");
	put("sys/fs/cgroup/app/cpu.max", max);
	return ng_topo_cgroup_cpus(dir);
}

/* A v1 tree with the cpu controller alone, the process in /job. */
static int v1(const char *quota, const char *period)
{
	fresh();
	put("proc/self/mountinfo", V1_MOUNT);
	put("proc/self/cgroup", "3:cpuset:/\n2:cpuacct:/job\n1:cpu:/job\n0::/\n");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", quota);
	put("sys/fs/cgroup/cpu/job/cpu.cfs_period_us", period);
	return ng_topo_cgroup_cpus(dir);
}

static void test_v2(void)
{
	CHECK_EQ(v2("max 100000\n"), 0);
	CHECK_EQ(v2("150000 100000\n"), 2);
	CHECK_EQ(v2("350000 100000\n"), 4);
	CHECK_EQ(v2("400000 100000"), 4);
	CHECK_EQ(v2("50000 100000\n"), 2);
	CHECK_EQ(v2("9223372036854775807 1\n"), INT_MAX);

	CHECK_EQ(v2("abc"), -EINVAL);
	CHECK_EQ(v2(""), -EINVAL);
	CHECK_EQ(v2("150000\n"), -EINVAL);
	CHECK_EQ(v2("max\n"), -EINVAL);
	CHECK_EQ(v2("0 100000\n"), -EINVAL);
	CHECK_EQ(v2("-5 100000\n"), -EINVAL);
	CHECK_EQ(v2("100000 0\n"), -EINVAL);
	CHECK_EQ(v2("max -1\n"), -EINVAL);
	CHECK_EQ(v2("150000 100000 7\n"), -EINVAL);
	CHECK_EQ(v2("99999999999999999999999 100000\n"), -EINVAL);
	char big[4096];
	memset(big, '7', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_EQ(v2(big), -EINVAL);
}

/* A parent's quota caps its children, whichever is tighter wins. */
static void test_v2_nested(void)
{
	fresh();
	put("proc/self/mountinfo", V2_MOUNT);
	put("proc/self/cgroup", "0::/a/b/c\n");
	put("sys/fs/cgroup/a/cpu.max", "300000 100000\n");
	put("sys/fs/cgroup/a/b/cpu.max", "max 100000\n");
	put("sys/fs/cgroup/a/b/c/cpu.max", "800000 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 3);
	put("sys/fs/cgroup/a/b/c/cpu.max", "max 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 3);
	put("sys/fs/cgroup/a/b/c/cpu.max", "250000 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 3);
	put("sys/fs/cgroup/a/b/c/cpu.max", "120000 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 2);
	/* a parent whose child has no cpu controller still limits it */
	char leaf[PATH_MAX];
	CHECK(snprintf(leaf, sizeof leaf, "%s/sys/fs/cgroup/a/b/c/cpu.max", dir) <
	      (int)sizeof leaf);
	CHECK(unlink(leaf) == 0);
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 3);
	/* a malformed ancestor is an error too */
	put("sys/fs/cgroup/a/b/cpu.max", "max\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), -EINVAL);
}

/* A container sees only its own subtree, mounted at /sys/fs/cgroup. */
static void test_v2_container(void)
{
	fresh();
	put("proc/self/mountinfo", "1 0 0:40 /kubepods/pod1 /sys/fs/cgroup ro,nosuid - cgroup2 "
	                           "cgroup rw\n");
	put("sys/fs/cgroup/cpu.max", "400000 100000\n");
	put("sys/fs/cgroup/c/cpu.max", "600000 100000\n");
	put("proc/self/cgroup", "0::/\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 4);
	put("proc/self/cgroup", "0::/kubepods/pod1\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 4);
	put("proc/self/cgroup", "0::/kubepods/pod1/c\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 4);
	put("sys/fs/cgroup/c/cpu.max", "300000 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 3);
	/* outside the mount root, and a prefix that is not a path prefix */
	put("proc/self/cgroup", "0::/other\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 4);
	put("proc/self/cgroup", "0::/kubepods/pod10/c\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 4);
}

static void test_v1(void)
{
	CHECK_EQ(v1("-1\n", "100000\n"), 0);
	CHECK_EQ(v1("250000\n", "100000\n"), 3);
	CHECK_EQ(v1("100000", "100000"), 2);
	CHECK_EQ(v1("800000\n", "100000\n"), 8);
	CHECK_EQ(v1("250000\n", "0\n"), -EINVAL);
	CHECK_EQ(v1("250000\n", "-100000\n"), -EINVAL);
	CHECK_EQ(v1("-2\n", "100000\n"), -EINVAL);
	CHECK_EQ(v1("x\n", "100000\n"), -EINVAL);
	CHECK_EQ(v1("\n", "100000\n"), -EINVAL);

	/* cpu and cpuacct co-mounted, with a parent quota */
	fresh();
	put("proc/self/mountinfo",
	    "30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
	    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n");
	put("proc/self/cgroup", "5:cpu,cpuacct:/slurm/job7\n4:memory:/slurm/job7\n");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/cpu.cfs_quota_us", "500000\n");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/cpu.cfs_period_us", "100000\n");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_quota_us", "-1\n");
	put("sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_period_us", "100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 5);
	put("sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_quota_us", "350000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 4);
}

/* Hybrid: v2 is mounted, but the cpu controller lives in v1 unless v2 has cpu.max. */
static void test_hybrid(void)
{
	fresh();
	put("proc/self/mountinfo",
	    V1_MOUNT "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
	put("proc/self/cgroup", "1:cpu:/job\n0::/job\n");
	put("sys/fs/cgroup/unified/job/cgroup.procs", "");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_quota_us", "250000\n");
	put("sys/fs/cgroup/cpu/job/cpu.cfs_period_us", "100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 3);
	put("sys/fs/cgroup/unified/job/cpu.max", "600000 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 6);
	put("sys/fs/cgroup/unified/job/cpu.max", "max 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 0);
}

static void test_escape(void)
{
	fresh();
	put("proc/self/mountinfo",
	    "40 30 0:37 / /sys/fs/my\\040cgroup\\134x rw - cgroup2 cgroup2 rw\n");
	put("proc/self/cgroup", "0::/a b\n");
	put("sys/fs/my cgroup\\x/a b/cpu.max", "700000 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 7);
}

static void test_missing(void)
{
	CHECK_EQ(ng_topo_cgroup_cpus(fresh()), 0);
	CHECK_EQ(ng_topo_cgroup_cpus("/nonexistent/numago"), 0);

	/* no cgroup mounts */
	fresh();
	put("proc/self/mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
	put("proc/self/cgroup", "0::/app\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 0);

	/* mounted, but the process is in no cgroup there, or its files are missing */
	fresh();
	put("proc/self/mountinfo", V2_MOUNT);
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 0);
	put("proc/self/cgroup", "");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 0);
	put("proc/self/cgroup", "0::/app\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 0);

	/* v1 without a cpu controller */
	fresh();
	put("proc/self/mountinfo", "32 30 0:29 / /c rw - cgroup cgroup rw,cpuacct,cpuset\n");
	put("proc/self/cgroup", "2:cpuacct,cpuset:/job\n");
	put("c/job/cpu.cfs_quota_us", "100000\n");
	put("c/job/cpu.cfs_period_us", "100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 0);
}

/* Garbage never crashes: it is an error or no limit. */
static void test_garbage(void)
{
	static const char *const bad[] = {
	    "x\n",
	    "1 2 3\n",
	    "1 2 3 4 5 6 7\n",
	    "1 2 3 4 5 6 -\n",
	    "1 2 3 4 5 6 - cgroup2\n",
	    "\\\\\\0\n",
	    "1 2 3 / /x o - cgroup2 s\n",
	    "\n\n\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		fresh();
		put("proc/self/mountinfo", bad[i]);
		put("proc/self/cgroup", "0::/\n");
		int n = ng_topo_cgroup_cpus(dir);
		CHECK(n == 0 || n == -EINVAL);
	}
	fresh();
	put("proc/self/mountinfo", V2_MOUNT);
	put("proc/self/cgroup", "garbage\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), -EINVAL);
	put("proc/self/cgroup", "0::relative\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), -EINVAL);
	put("proc/self/cgroup", "0::/a:b:c\n");
	put("sys/fs/cgroup/a:b:c/cpu.max", "200000 100000\n");
	CHECK_EQ(ng_topo_cgroup_cpus(dir), 2);
}

static int rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	CHECK(snprintf(base, sizeof base, "%s/numago-cgroup-XXXXXX", tmp && *tmp ? tmp : "/tmp") <
	      (int)sizeof base);
	CHECK(mkdtemp(base) != NULL);

	test_v2();
	test_v2_nested();
	test_v2_container();
	test_v1();
	test_hybrid();
	test_escape();
	test_missing();
	test_garbage();

	/* the real machine: whatever its cgroups say, it must parse */
	int real = ng_topo_cgroup_cpus(NULL);
	printf("real machine: cgroup CPU limit %d (0: none)\n", real);
	CHECK(real >= 0);
	CHECK_EQ(ng_topo_cgroup_cpus("/"), real);

	CHECK(nftw(base, rm, 16, FTW_DEPTH | FTW_PHYS) == 0);
	return 0;
}
