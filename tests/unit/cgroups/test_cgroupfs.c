/* tests/unit/cgroups/test_cgroupfs.c - detection and cgroupfs operations
 * against fake trees of regular files under one mkdtemp directory per test
 * (cg_set_fake_fs); the host's /sys/fs/cgroup is never touched. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroups/cgroup.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

struct fx {
	char *tmp;
	char *mount;   /* tmp/cg: the fake cgroup2 mount */
};

static void put(const char *dir, const char *file, const char *content)
{
	cleanup_free char *p = fs_path_join(dir, file);
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static char *get(const char *dir, const char *file)
{
	cleanup_free char *p = fs_path_join(dir, file);
	char *s = NULL;

	assert_int_equal(fs_read_file(p, &s, NULL, 1 << 20, NULL), 0);
	return s;
}

static bool exists(const char *dir, const char *file)
{
	cleanup_free char *p = fs_path_join(dir, file);

	return access(p, F_OK) == 0;
}

static void mkd(const char *dir, const char *name)
{
	cleanup_free char *p = fs_path_join(dir, name);

	assert_int_equal(mkdir(p, 0755), 0);
}

/* a cgroup2 root as the kernel shows it */
static void fake_v2_root(const char *mount, const char *controllers)
{
	put(mount, "cgroup.controllers", controllers);
	put(mount, "cgroup.subtree_control", "\n");
}

static int setup(void **state)
{
	struct fx *fx = xzalloc(sizeof(*fx));
	char tmpl[] = "/tmp/berth-cg-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	fx->tmp = xstrdup(tmpl);
	fx->mount = fs_path_join(fx->tmp, "cg");
	assert_int_equal(mkdir(fx->mount, 0755), 0);
	cg_set_fake_fs(true);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	cg_set_fake_fs(false);
	assert_int_equal(fs_rm_rf_at(AT_FDCWD, fx->tmp, NULL), 0);
	free(fx->tmp);
	free(fx->mount);
	free(fx);
	return 0;
}

/* ------------------------------------------------------------ detection */

static void test_detect_ok(void **state)
{
	struct fx *fx = *state;
	struct cg_info info;
	struct berr *err = NULL;

	fake_v2_root(fx->mount, "cpuset cpu io memory hugetlb pids rdma misc\n");
	assert_int_equal(cg_detect(fx->mount, &info, &err), 0);
	assert_null(err);
	assert_true(info.cpu && info.memory && info.pids && info.io);
	assert_string_equal(info.controllers, "cpuset cpu io memory hugetlb pids rdma misc");
	cg_info_free(&info);

	/* io is optional; "cpuset" is not "cpu" */
	fake_v2_root(fx->mount, "cpuset cpu memory pids\n");
	assert_int_equal(cg_detect(fx->mount, &info, &err), 0);
	assert_true(info.cpu && !info.io);
	cg_info_free(&info);
}

static void test_detect_missing_memory(void **state)
{
	struct fx *fx = *state;
	struct cg_info info;
	struct berr *err = NULL;

	fake_v2_root(fx->mount, "cpuset cpu io pids\n");
	assert_true(cg_detect(fx->mount, &info, &err) < 0);
	assert_false(info.memory);
	assert_non_null(strstr(berr_msg(err), "lacks the memory controller ("));
	assert_non_null(strstr(berr_msg(err), "cgroup.controllers has 'cpuset cpu io pids'"));
	assert_non_null(strstr(berr_msg(err), "systemd.unified_cgroup_hierarchy=1"));
	assert_non_null(strstr(berr_msg(err), fx->mount));
	berr_clear(&err);
	cg_info_free(&info);
}

static void test_detect_missing_several(void **state)
{
	struct fx *fx = *state;
	struct cg_info info;
	struct berr *err = NULL;

	/* "cpuset" must not count as cpu */
	fake_v2_root(fx->mount, "cpuset memory\n");
	assert_true(cg_detect(fx->mount, &info, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "lacks the cpu, pids controllers"));
	berr_clear(&err);
	cg_info_free(&info);
}

static void test_detect_hybrid(void **state)
{
	struct fx *fx = *state;
	struct cg_info info;
	struct berr *err = NULL;

	/* a tmpfs with v1 hierarchies and cgroup2 at unified/ */
	mkd(fx->mount, "cpu,cpuacct");
	mkd(fx->mount, "memory");
	mkd(fx->mount, "pids");
	mkd(fx->mount, "unified");
	assert_true(cg_detect(fx->mount, &info, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "cgroup v1 hybrid layout (cpu, memory, pids bound to cgroup v1)"));
	assert_non_null(strstr(berr_msg(err), "systemd.unified_cgroup_hierarchy=1"));
	berr_clear(&err);
}

static void test_detect_legacy(void **state)
{
	struct fx *fx = *state;
	struct cg_info info;
	struct berr *err = NULL;

	mkd(fx->mount, "memory");
	assert_true(cg_detect(fx->mount, &info, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "cgroup v1 legacy layout (memory bound"));
	berr_clear(&err);
}

static void test_detect_not_cgroup(void **state)
{
	struct fx *fx = *state;
	struct cg_info info;
	struct berr *err = NULL;

	/* empty directory */
	assert_true(cg_detect(fx->mount, &info, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "is not a cgroup v2 (cgroup2) mount"));
	berr_clear(&err);

	/* without the test hook the filesystem magic decides: a mkdtemp
	 * directory is never cgroup2, even with the right files in it */
	fake_v2_root(fx->mount, "cpu memory pids\n");
	cg_set_fake_fs(false);
	assert_true(cg_detect(fx->mount, &info, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "is not a cgroup v2"));
	berr_clear(&err);

	/* cgroup.controllers unreadable: the cause, once, with the mount */
	cg_set_fake_fs(true);
	{
		cleanup_free char *p = fs_path_join(fx->mount, "cgroup.controllers");

		assert_int_equal(unlink(p), 0);
		assert_int_equal(mkdir(p, 0755), 0);
	}
	assert_true(cg_detect(fx->mount, &info, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "detect cgroup v2 at "));
	assert_non_null(strstr(berr_msg(err), "cgroup.controllers"));
	assert_int_equal(err->code, EISDIR);
	berr_clear(&err);
	cg_set_fake_fs(false);

	assert_true(cg_detect("/nonexistent/berth-cg", &info, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "statfs /nonexistent/berth-cg"));
	berr_clear(&err);
}

/* ------------------------------------------------------ file access */

static void test_read_write(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	cleanup_free char *s = NULL;
	uint64_t v;

	put(fx->mount, "memory.max", "max\n");
	assert_int_equal(cg_read_u64(fx->mount, "memory.max", &v, &err), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(cg_write_u64(fx->mount, "memory.max", 1048576, &err), 0);
	s = get(fx->mount, "memory.max");
	assert_string_equal(s, "1048576");
	assert_int_equal(cg_read_u64(fx->mount, "memory.max", &v, &err), 0);
	assert_int_equal(v, 1048576);

	put(fx->mount, "memory.current", "12k\n");
	assert_int_equal(cg_read_u64(fx->mount, "memory.current", &v, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "memory.current: '12k' is not a number"));
	berr_clear(&err);

	assert_int_equal(cg_write(fx->mount, "cpu.max", "50000 100000", &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "write '50000 100000' to "));
	assert_non_null(strstr(berr_msg(err), "/cg/cpu.max"));
	berr_clear(&err);

	assert_int_equal(cg_read(fx->mount, "pids.current", &s, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "pids.current"));
	berr_clear(&err);

	put(fx->mount, "memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
	assert_int_equal(cg_read_key(fx->mount, "memory.events", "oom_kill", &v, &err), 0);
	assert_int_equal(v, 1);
	assert_int_equal(cg_read_key(fx->mount, "memory.events", "max", &v, &err), 0);
	assert_int_equal(v, 3);
	assert_int_equal(cg_read_key(fx->mount, "memory.events", "oom_group_kill", &v, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "memory.events: no key 'oom_group_kill'"));
	berr_clear(&err);
}

/* ------------------------------------------------------ hierarchy */

static void test_create_layout(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	cleanup_free char *root = fs_path_join(fx->mount, "berth");
	cleanup_free char *task = NULL, *web = NULL, *side = NULL, *s = NULL;

	fake_v2_root(fx->mount, "cpuset cpu io memory pids\n");
	assert_int_equal(cg_task_create(root, "t1", NULL, &task, &err), 0);
	assert_null(err);
	assert_int_equal(strncmp(task, root, strlen(root)), 0);
	assert_true(strcmp(task + strlen(root), "/t1") == 0);
	/* controllers handed down at each inner level */
	s = get(fx->mount, "cgroup.subtree_control");
	assert_string_equal(s, "cpu memory pids");
	free(s);
	s = get(root, "cgroup.subtree_control");
	assert_string_equal(s, "cpu memory pids");
	free(s);
	s = get(task, "cgroup.subtree_control");
	assert_string_equal(s, "cpu memory pids");
	free(s);

	assert_int_equal(cg_leaf_create(task, "web", &web, &err), 0);
	assert_int_equal(cg_leaf_create(task, "side", &side, &err), 0);
	s = get(web, "cgroup.controllers");
	assert_string_equal(s, "cpu memory pids");
	free(s);
	s = NULL;
	assert_true(exists(web, "memory.max") && exists(web, "cpu.weight") && !exists(web, "io.weight"));

	/* a second task reuses the root; the same name again is EEXIST */
	{
		cleanup_free char *t2 = NULL;

		cleanup_free char *root2 = fs_path_join(fx->mount, "berth2");

		/* an existing (delegated) root is not widened from above */
		assert_int_equal(cg_task_create(root, "t2", "io", &t2, &err), -ENOENT);
		assert_non_null(strstr(berr_msg(err), "berth root cgroup: enable controller io in "));
		berr_clear(&err);
		assert_int_equal(cg_task_create(root2, "t2", "io", &t2, &err), 0);
		assert_true(exists(t2, "io.weight"));
		free(t2);
		t2 = NULL;
		assert_int_equal(cg_task_create(root, "t1", NULL, &t2, &err), -EEXIST);
		assert_non_null(strstr(berr_msg(err), "create cgroup "));
		assert_non_null(strstr(berr_msg(err), "/berth/t1"));
		berr_clear(&err);
	}
	assert_int_equal(cg_leaf_create(task, "web", &s, &err), -EEXIST);
	berr_clear(&err);
	assert_int_equal(cg_leaf_create(task, "../x", &s, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "'../x'"));
	berr_clear(&err);
	assert_int_equal(cg_task_create(root, "a/b", NULL, &s, &err), -EINVAL);
	berr_clear(&err);
}

static void test_enable_missing_controller(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	cleanup_free char *root = fs_path_join(fx->mount, "berth");
	cleanup_free char *task = NULL;

	fake_v2_root(fx->mount, "cpu pids\n");
	assert_true(cg_task_create(root, "t1", NULL, &task, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "enable controller memory in "));
	assert_non_null(strstr(berr_msg(err), "not in its cgroup.controllers ('cpu pids')"));
	berr_clear(&err);
	assert_null(task);
}

static void test_limits(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	cleanup_free char *root = fs_path_join(fx->mount, "berth");
	cleanup_free char *task = NULL, *leaf = NULL;
	struct cg_limits l;
	char *s;

	fake_v2_root(fx->mount, "cpu memory pids\n");
	assert_int_equal(cg_task_create(root, "t", NULL, &task, &err), 0);
	assert_int_equal(cg_leaf_create(task, "c", &leaf, &err), 0);

	cg_limits_init(&l);
	l.cpu_units = 512;
	l.memory_max = 32ULL << 20;
	l.swap_max = 0;
	l.pids_max = 128;
	assert_int_equal(cg_limits_apply(task, &l, &err), 0);
	s = get(task, "cpu.max");
	assert_string_equal(s, "50000 100000");
	free(s);
	s = get(task, "memory.max");
	assert_string_equal(s, "33554432");
	free(s);
	s = get(task, "memory.swap.max");
	assert_string_equal(s, "0");
	free(s);
	s = get(task, "pids.max");
	assert_string_equal(s, "128");
	free(s);
	/* unset fields are left alone */
	s = get(task, "cpu.weight");
	assert_string_equal(s, "100\n");
	free(s);

	cg_limits_init(&l);
	l.cpu_weight = cg_cpu_weight_from_shares(cg_cpu_shares_normalize(true, 1024));
	l.memory_low = 16ULL << 20;
	assert_int_equal(cg_limits_apply(leaf, &l, &err), 0);
	s = get(leaf, "cpu.weight");
	assert_string_equal(s, "39");
	free(s);
	s = get(leaf, "memory.low");
	assert_string_equal(s, "16777216");
	free(s);
	s = get(leaf, "memory.max");
	assert_string_equal(s, "max\n");
	free(s);

	/* io not enabled: the error names the file and the value */
	cg_limits_init(&l);
	l.io_weight = 200;
	assert_int_equal(cg_limits_apply(leaf, &l, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "write 'default 200' to "));
	assert_non_null(strstr(berr_msg(err), "/c/io.weight"));
	berr_clear(&err);

	cg_limits_init(&l);
	l.cpu_units = -1;
	l.memory_max = 1;
	assert_int_equal(cg_limits_apply(leaf, &l, &err), 0);

	{
		cleanup_close int fd = cg_open_dir(leaf, &err);
		cleanup_free char *mem = fs_path_join(leaf, "memory.max");

		assert_true(fd >= 0);
		assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		assert_int_equal(cg_open_dir(mem, &err), -ENOTDIR);
		assert_non_null(strstr(berr_msg(err), "open cgroup "));
		assert_non_null(strstr(berr_msg(err), "/c/memory.max"));
		berr_clear(&err);
	}
	assert_int_equal(cg_attach(leaf, 4242, &err), 0);
	s = get(leaf, "cgroup.procs");
	assert_string_equal(s, "4242");
	free(s);
}

static void fake_stats(const char *cg, bool peak)
{
	put(cg, "cpu.stat", "usage_usec 1500000\nuser_usec 1400000\nsystem_usec 100000\n"
	    "nr_periods 30\nnr_throttled 29\nthrottled_usec 1450000\n"
	    "nr_bursts 0\nburst_usec 0\n");
	put(cg, "memory.current", "33550336\n");
	put(cg, "memory.stat", "anon 33000000\nfile 4096\nkernel 512000\nkernel_stack 16384\n"
	    "sock 0\nshmem 8192\nfile_mapped 0\npgfault 8200\npgmajfault 3\n");
	put(cg, "memory.events", "low 0\nhigh 0\nmax 70\noom 1\noom_kill 1\noom_group_kill 0\n");
	put(cg, "pids.current", "3\n");
	put(cg, "pids.max", "max\n");
	if (peak)
		put(cg, "memory.peak", "33554432\n");
}

static void test_stats(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	struct cg_stats st;
	uint64_t oom;

	fake_stats(fx->mount, true);
	assert_int_equal(cg_stats_read(fx->mount, &st, &err), 0);
	assert_int_equal(st.cpu_usage_usec, 1500000);
	assert_int_equal(st.cpu_user_usec, 1400000);
	assert_int_equal(st.cpu_system_usec, 100000);
	assert_int_equal(st.cpu_nr_periods, 30);
	assert_int_equal(st.cpu_nr_throttled, 29);
	assert_int_equal(st.cpu_throttled_usec, 1450000);
	assert_int_equal(st.mem_current, 33550336);
	assert_true(st.has_peak);
	assert_int_equal(st.mem_peak, 33554432);
	assert_int_equal(st.mem_anon, 33000000);
	assert_int_equal(st.mem_file, 4096);
	assert_int_equal(st.mem_kernel, 512000);
	assert_int_equal(st.mem_sock, 0);
	assert_int_equal(st.mem_shmem, 8192);
	assert_int_equal(st.mem_pgfault, 8200);
	assert_int_equal(st.mem_pgmajfault, 3);
	assert_int_equal(st.mem_oom, 1);
	assert_int_equal(st.mem_oom_kill, 1);
	assert_int_equal(st.pids_current, 3);
	assert_true(st.pids_max == UINT64_MAX);
	assert_int_equal(cg_oom_kills(fx->mount, &oom, &err), 0);
	assert_int_equal(oom, 1);

	/* memory.peak is optional (kernels before 5.19) */
	{
		cleanup_free char *p = fs_path_join(fx->mount, "memory.peak");

		assert_int_equal(unlink(p), 0);
	}
	assert_int_equal(cg_stats_read(fx->mount, &st, &err), 0);
	assert_false(st.has_peak);
	assert_int_equal(st.mem_current, 33550336);
}

static void test_stats_errors(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	struct cg_stats st;
	cleanup_free char *p = fs_path_join(fx->mount, "pids.current");

	fake_stats(fx->mount, true);
	put(fx->mount, "cpu.stat", "usage_usec 10\nuser_usec 5\nsystem_usec 5\n");
	assert_true(cg_stats_read(fx->mount, &st, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "cpu.stat: no key 'nr_periods'"));
	berr_clear(&err);

	fake_stats(fx->mount, true);
	put(fx->mount, "memory.stat", "anon x1\nfile 0\n");
	assert_true(cg_stats_read(fx->mount, &st, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "memory.stat: value of 'anon' is not a number"));
	berr_clear(&err);

	fake_stats(fx->mount, true);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(cg_stats_read(fx->mount, &st, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "pids.current"));
	berr_clear(&err);

	fake_stats(fx->mount, true);
	put(fx->mount, "memory.peak", "lots\n");
	assert_int_equal(cg_stats_read(fx->mount, &st, &err), -EINVAL);
	assert_non_null(strstr(berr_msg(err), "memory.peak: 'lots' is not a number"));
	assert_null(strstr(berr_msg(err), "Invalid argument: Invalid argument"));
	berr_clear(&err);
}

/* ------------------------------------------------------ stop and removal */

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_kill_wait(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	int64_t t0;
	pid_t pid;
	int st;
	char *s;

	put(fx->mount, "cgroup.kill", "");
	put(fx->mount, "cgroup.events", "populated 1\nfrozen 0\n");
	assert_int_equal(cg_kill(fx->mount, &err), 0);
	s = get(fx->mount, "cgroup.kill");
	assert_string_equal(s, "1");
	free(s);
	assert_int_equal(cg_populated(fx->mount, &err), 1);

	t0 = ms_now();
	assert_int_equal(cg_wait_empty(fx->mount, 300, &err), -ETIMEDOUT);
	assert_true(ms_now() - t0 >= 300);
	assert_true(ms_now() - t0 < 2000);
	assert_non_null(strstr(berr_msg(err), "wait for populated 0 in "));
	assert_non_null(strstr(berr_msg(err), "cgroup.events (still 1 after 300 ms)"));
	berr_clear(&err);

	/* a change while waiting is seen */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		cleanup_free char *q = fs_path_join(fx->mount, "cgroup.events");
		int fd;

		usleep(200000);
		/* in place, as the kernel changes it: "populated 1" -> "populated 0" */
		fd = open(q, O_WRONLY | O_CLOEXEC);
		_exit(fd >= 0 && pwrite(fd, "0", 1, strlen("populated ")) == 1 ? 0 : 1);
	}
	t0 = ms_now();
	assert_int_equal(cg_wait_empty(fx->mount, 5000, &err), 0);
	assert_true(ms_now() - t0 >= 150);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	assert_int_equal(cg_populated(fx->mount, &err), 0);
	/* already empty: at once */
	assert_int_equal(cg_wait_empty(fx->mount, 0, &err), 0);
	assert_null(err);
}

static void test_events_fd(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	cleanup_close int fd = -1;
	cleanup_free char *p = fs_path_join(fx->mount, "memory.events");
	uint64_t v = 7;
	int wfd;

	assert_int_equal(cg_events_open(fx->mount, "memory.events", &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "open "));
	assert_non_null(strstr(berr_msg(err), "/cg/memory.events"));
	berr_clear(&err);

	put(fx->mount, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
	fd = cg_events_open(fx->mount, "memory.events", &err);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(cg_events_read(fd, "oom_kill", &v, &err), 0);
	assert_int_equal(v, 0);
	/* changed in place, as the kernel does: the same fd sees the new value */
	wfd = open(p, O_WRONLY | O_CLOEXEC);
	assert_true(wfd >= 0);
	assert_int_equal(pwrite(wfd, "2", 1, strlen("low 0\nhigh 0\nmax 0\noom 0\noom_kill ")), 1);
	close(wfd);
	assert_int_equal(cg_events_read(fd, "oom_kill", &v, &err), 0);
	assert_int_equal(v, 2);
	assert_int_equal(cg_events_read(fd, "oom_group_kill", &v, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "memory.events: no key 'oom_group_kill'"));
	berr_clear(&err);
}

static void test_remove(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	cleanup_free char *root = fs_path_join(fx->mount, "berth");
	cleanup_free char *task = NULL, *a = NULL, *b = NULL, *other = NULL;

	fake_v2_root(fx->mount, "cpu memory pids\n");
	assert_int_equal(cg_task_create(root, "t", NULL, &task, &err), 0);
	assert_int_equal(cg_task_create(root, "u", NULL, &other, &err), 0);
	{
		/* controllers already enabled are not written again */
		cleanup_free char *sc = get(root, "cgroup.subtree_control");

		assert_string_equal(sc, "cpu memory pids");
	}
	assert_int_equal(cg_leaf_create(task, "a", &a, &err), 0);
	assert_int_equal(cg_leaf_create(task, "b", &b, &err), 0);
	assert_int_equal(cg_destroy(task, 1000, &err), 0);
	assert_null(err);
	assert_false(exists(root, "t"));
	/* the other task and the berth root are untouched */
	assert_true(exists(other, "cgroup.events"));
	assert_true(exists(root, "cgroup.subtree_control"));
	/* gone already: success */
	assert_int_equal(cg_remove(task, 0, &err), 0);
	assert_int_equal(cg_destroy(task, 0, &err), 0);
}

static void test_remove_error(void **state)
{
	struct fx *fx = *state;
	struct berr *err = NULL;
	cleanup_free char *d = fs_path_join(fx->mount, "x");

	/* a real cgroupfs removes its files itself; a plain directory with a
	 * file in it is ENOTEMPTY, and the error names the cgroup */
	mkd(fx->mount, "x");
	put(d, "data", "1");
	cg_set_fake_fs(false);
	assert_int_equal(cg_remove(d, 50, &err), -ENOTEMPTY);
	assert_non_null(strstr(berr_msg(err), "remove cgroup "));
	assert_non_null(strstr(berr_msg(err), "/cg/x"));
	berr_clear(&err);
	assert_true(exists(d, "data"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_detect_ok),
		T(test_detect_missing_memory),
		T(test_detect_missing_several),
		T(test_detect_hybrid),
		T(test_detect_legacy),
		T(test_detect_not_cgroup),
		T(test_read_write),
		T(test_create_layout),
		T(test_enable_missing_controller),
		T(test_limits),
		T(test_stats),
		T(test_stats_errors),
		T(test_kill_wait),
		T(test_events_fd),
		T(test_remove),
		T(test_remove_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
