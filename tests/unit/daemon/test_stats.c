/* tests/unit/daemon/test_stats.c - what GetTaskStats reads (runtime/daemon/
 * stats.c) against a fake cgroup tree of regular files under /tmp (never
 * the host's /sys/fs/cgroup): every file present, files missing, "max"
 * limits, malformed files; /proc/<pid>/net/dev parsing; the CPU% of two
 * samples; a task's entry (effective memory limits, a stopped task, the
 * network of a process in a network namespace this test makes, none for
 * one in the test's own namespace); and BerthV1.GetTaskStats through
 * api_call. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/stats.h"
#include "runtime/daemon/store.h"

#define ACCOUNT "000000000000"
#define ARN "arn:aws:ecs:us-east-1:" ACCOUNT ":"
#define ID1 "11111111111111111111111111111111"
#define ID2 "22222222222222222222222222222222"
#define ID3 "33333333333333333333333333333333"
#define MIB (1024ull * 1024)

struct fx {
	char *dir;
	char *cg;     /* <dir>/cg: the fake cgroup root */
	struct berthd d;
	struct api_error e;
	pid_t child;
};

static void write_file(const char *dir, const char *name, const char *content)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");

	if (!f || fputs(content, f) < 0 || fclose(f) != 0)
		fail_msg("write %s: %s", p, strerror(errno));
}

static char *mkdir_in(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);

	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		fail_msg("mkdir %s: %s", p, strerror(errno));
	return p;
}

static const char cpu_stat[] = "usage_usec %s\nuser_usec 3000000\nsystem_usec 2000000\n"
			       "core_sched.force_idle_usec 0\nnr_periods 10\nnr_throttled 2\n"
			       "throttled_usec 4500\nnr_bursts 0\nburst_usec 0\n";

static void cpu_file(const char *dir, const char *usage)
{
	cleanup_free char *s = xasprintf(cpu_stat, usage);

	write_file(dir, "cpu.stat", s);
}

/* <cg>/ID1: a task with a 256 MiB limit, web (no limit of its own, no
 * memory.peak: an older kernel), side (64 MiB). */
static void fake_task(struct fx *f)
{
	cleanup_free char *t = mkdir_in(f->cg, ID1);
	cleanup_free char *web = mkdir_in(t, "web");
	cleanup_free char *side = mkdir_in(t, "side");

	cpu_file(t, "5000000");
	write_file(t, "memory.current", "10485760\n");
	write_file(t, "memory.max", "268435456\n");
	write_file(t, "memory.peak", "20971520\n");
	write_file(t, "pids.current", "3\n");
	write_file(t, "pids.max", "max\n");
	cpu_file(web, "4000000");
	write_file(web, "memory.current", "8388608\n");
	write_file(web, "memory.max", "max\n");
	write_file(web, "pids.current", "2\n");
	write_file(web, "pids.max", "max\n");
	cpu_file(side, "1000000");
	write_file(side, "memory.current", "1048576\n");
	write_file(side, "memory.max", "67108864\n");
	write_file(side, "memory.peak", "2097152\n");
	write_file(side, "pids.current", "1\n");
	write_file(side, "pids.max", "100\n");
}

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-stats-XXXXXX";
	cleanup_free char *db = NULL;
	struct berr *err = NULL;

	if (!mkdtemp(tmpl))
		return -1;
	f->dir = xstrdup(tmpl);
	f->cg = xasprintf("%s/cg", tmpl);
	db = xasprintf("%s/berth.db", tmpl);
	if (mkdir(f->cg, 0700) < 0 || store_open(db, &f->d.st, &err) < 0) {
		fprintf(stderr, "setup: %s\n", berr_msg(err));
		return -1;
	}
	f->d.cfg.region = xstrdup("us-east-1");
	f->d.cfg.account_id = xstrdup(ACCOUNT);
	f->d.cfg.cgroup_root = xstrdup(f->cg);
	f->d.cfg.run_dir = xasprintf("%s/run", tmpl);
	if (mkdir(f->d.cfg.run_dir, 0700) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;
	int rc;

	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	store_close(f->d.st);
	api_error_clear(&f->e);
	rc = fs_rm_rf_at(AT_FDCWD, f->dir, &err);
	if (rc < 0)
		fprintf(stderr, "cleanup: %s\n", berr_msg(err));
	berr_free(err);
	free(f->d.cfg.region);
	free(f->d.cfg.account_id);
	free(f->d.cfg.cgroup_root);
	free(f->d.cfg.run_dir);
	free(f->cg);
	free(f->dir);
	free(f);
	return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------- the cgroup reader */

static void test_read_cgroup(void **state)
{
	struct fx *f = *state;
	cleanup_free char *t = xasprintf("%s/%s", f->cg, ID1);
	cleanup_free char *web = xasprintf("%s/web", t);
	struct stats_cgroup c;
	struct berr *err = NULL;

	fake_task(f);
	assert_int_equal(stats_read_cgroup(t, &c, &err), 1);
	assert_true(c.have_cpu);
	assert_int_equal(c.cpu_usage_usec, 5000000);
	assert_int_equal(c.cpu_user_usec, 3000000);
	assert_int_equal(c.cpu_system_usec, 2000000);
	assert_int_equal(c.cpu_throttled_usec, 4500);
	assert_true(c.have_memory);
	assert_int_equal(c.memory_current, 10485760);
	assert_true(c.have_memory_max);
	assert_int_equal(c.memory_max, 256 * MIB);
	assert_true(c.have_memory_peak);
	assert_int_equal(c.memory_peak, 20 * MIB);
	assert_true(c.have_pids);
	assert_int_equal(c.pids_current, 3);
	assert_true(c.have_pids_max);
	assert_true(c.pids_max == STATS_UNLIMITED);

	/* "max" memory, no memory.peak */
	assert_int_equal(stats_read_cgroup(web, &c, &err), 1);
	assert_true(c.have_memory_max);
	assert_true(c.memory_max == STATS_UNLIMITED);
	assert_false(c.have_memory_peak);
	assert_int_equal(c.memory_current, 8 * MIB);
}

static void test_read_cgroup_missing_and_bad(void **state)
{
	struct fx *f = *state;
	cleanup_free char *none = xasprintf("%s/nope", f->cg);
	cleanup_free char *bare = mkdir_in(f->cg, "bare");
	cleanup_free char *bad = mkdir_in(f->cg, "bad");
	cleanup_free char *file = xasprintf("%s/file", f->cg);
	struct stats_cgroup c;
	struct berr *err = NULL;

	/* no such cgroup (the task stopped, or runs without limits) */
	assert_int_equal(stats_read_cgroup(none, &c, &err), 0);
	assert_null(err);
	/* a cgroup without any of the files: nothing known, no error */
	assert_int_equal(stats_read_cgroup(bare, &c, &err), 1);
	assert_null(err);
	assert_false(c.have_cpu || c.have_memory || c.have_memory_max || c.have_memory_peak ||
		     c.have_pids || c.have_pids_max);
	/* only some */
	write_file(bare, "pids.current", "7");
	assert_int_equal(stats_read_cgroup(bare, &c, &err), 1);
	assert_true(c.have_pids);
	assert_int_equal(c.pids_current, 7);
	assert_false(c.have_memory);

	write_file(f->cg, "file", "x");
	assert_true(stats_read_cgroup(file, &c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "file"));
	berr_clear(&err);

	write_file(bad, "memory.current", "lots\n");
	assert_true(stats_read_cgroup(bad, &c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "bad/memory.current"));
	assert_non_null(strstr(berr_msg(err), "lots"));
	berr_clear(&err);
	write_file(bad, "memory.current", "-1\n");
	assert_true(stats_read_cgroup(bad, &c, &err) < 0);
	berr_clear(&err);
	write_file(bad, "memory.current", "12\n");
	write_file(bad, "cpu.stat", "user_usec 5\n");
	assert_true(stats_read_cgroup(bad, &c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "no usage_usec"));
	berr_clear(&err);
	write_file(bad, "cpu.stat", "usage_usec\n");
	assert_true(stats_read_cgroup(bad, &c, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "cpu.stat"));
	berr_clear(&err);
	write_file(bad, "cpu.stat", "usage_usec 12x\n");
	assert_true(stats_read_cgroup(bad, &c, &err) < 0);
	berr_clear(&err);
	write_file(bad, "cpu.stat", "usage_usec 12\n");
	assert_int_equal(stats_read_cgroup(bad, &c, &err), 1);
	assert_int_equal(c.cpu_usage_usec, 12);
	assert_int_equal(c.memory_current, 12);
}

/* ------------------------------------------------------- net/dev */

static const char net_dev[] =
	"Inter-|   Receive                                                |  Transmit\n"
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
	"drop fifo colls carrier compressed\n"
	"    lo:  999999      12    0    0    0     0          0         0   999999      12    0 "
	"   0    0     0       0          0\n"
	"  eth0:    1500      10    0    0    0     0          0         0      700       7    0 "
	"   0    0     0       0          0\n"
	"veth-x:      20       1    0    0    0     0          0         0       30       1    0 "
	"   0    0     0       0          0\n";

static void test_net_dev(void **state)
{
	struct fx *f = *state;
	cleanup_free char *p = xasprintf("%s/net_dev", f->dir);
	cleanup_free char *none = xasprintf("%s/none", f->dir);
	struct berr *err = NULL;
	uint64_t rx = 1, tx = 1;

	write_file(f->dir, "net_dev", net_dev);
	assert_int_equal(stats_read_net_dev(p, &rx, &tx, &err), 1);
	assert_int_equal(rx, 1520);   /* lo left out */
	assert_int_equal(tx, 730);
	assert_int_equal(stats_read_net_dev(none, &rx, &tx, &err), 0);
	assert_null(err);
	/* headers only: no interface */
	write_file(f->dir, "net_dev", "Inter-| a\n face |b\n");
	assert_int_equal(stats_read_net_dev(p, &rx, &tx, &err), 1);
	assert_int_equal(rx + tx, 0);
	write_file(f->dir, "net_dev", "Inter-| a\n face |b\n eth0: 1 2 3\n");
	assert_true(stats_read_net_dev(p, &rx, &tx, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "line 3 (eth0): expected 16 counters, found 3"));
	berr_clear(&err);
	write_file(f->dir, "net_dev", "hello\n");
	assert_true(stats_read_net_dev(p, &rx, &tx, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "header"));
	berr_clear(&err);
	write_file(f->dir, "net_dev", "Inter-| a\n face |b\n eth0 1 2 3\n");
	assert_true(stats_read_net_dev(p, &rx, &tx, &err) < 0);
	berr_clear(&err);

	/* the real thing, of this process's namespace */
	assert_int_equal(stats_read_net_dev("/proc/self/net/dev", &rx, &tx, &err), 1);
}

/* ------------------------------------------------------- CPU% */

static void test_cpu_percent(void **state)
{
	(void)state;
	/* half a CPU for a second */
	assert_float_equal(stats_cpu_percent(1000000, 100.0, 1500000, 101.0), 50.0, 1e-9);
	/* two CPUs busy for half a second */
	assert_float_equal(stats_cpu_percent(0, 10.0, 1000000, 10.5), 200.0, 1e-9);
	assert_float_equal(stats_cpu_percent(7, 10.0, 7, 12.0), 0.0, 1e-9);
	/* a quarter CPU over 250 ms with real-world times */
	assert_float_equal(stats_cpu_percent(123456789, 1763721951.250000, 123519289,
					     1763721951.500000), 25.0, 1e-3);
	/* time did not move, or went back; the counter went back (a new cgroup) */
	assert_float_equal(stats_cpu_percent(0, 10.0, 500, 10.0), 0.0, 0);
	assert_float_equal(stats_cpu_percent(0, 10.0, 500, 9.0), 0.0, 0);
	assert_float_equal(stats_cpu_percent(900, 10.0, 100, 11.0), 0.0, 0);
}

/* ------------------------------------------------------- a task */

static json_t *task_doc(const char *id, const char *cluster, const char *last)
{
	cleanup_free char *arn = xasprintf(ARN "task/%s/%s", cluster, id);
	cleanup_free char *carn = xasprintf(ARN "cluster/%s", cluster);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}]}",
			 "taskArn", arn, "clusterArn", carn, "lastStatus", last,
			 "desiredStatus", "RUNNING", "taskDefinitionArn", ARN "task-definition/x:1",
			 "containers", "name", "web", "lastStatus", last, "name", "side",
			 "lastStatus", last);
}

static json_int_t num(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("%s: not an integer", key);
	return json_integer_value(v);
}

static const json_t *ctr(const json_t *t, size_t i)
{
	return json_array_get(json_object_get(t, "containers"), i);
}

static void test_task_entry(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *doc = task_doc(ID1, "default", "RUNNING");
	cleanup_json json_t *t = NULL, *stopped = NULL;
	cleanup_free char *t2 = NULL;
	uint64_t host = stats_host_memory();

	assert_true(host > 256 * MIB);
	fake_task(f);
	t = stats_task(&f->d, doc, 1234.5);
	assert_string_equal(json_string_value(json_object_get(t, "taskArn")), ARN "task/default/" ID1);
	assert_string_equal(json_string_value(json_object_get(t, "lastStatus")), "RUNNING");
	assert_true(json_real_value(json_object_get(t, "time")) == 1234.5);
	assert_int_equal(num(t, "cpuUsageUsec"), 5000000);
	assert_int_equal(num(t, "cpuThrottledUsec"), 4500);
	assert_int_equal(num(t, "memoryUsage"), 10485760);
	assert_int_equal(num(t, "memoryMax"), 256 * MIB);
	assert_int_equal(num(t, "memoryLimit"), 256 * MIB);
	assert_int_equal(num(t, "memoryPeak"), 20 * MIB);
	assert_int_equal(num(t, "pids"), 3);
	assert_null(json_object_get(t, "pidsMax"));          /* "max" */
	assert_null(json_object_get(t, "networkRxBytes"));   /* no status.json */
	assert_int_equal(json_array_size(json_object_get(t, "containers")), 2);
	assert_string_equal(json_string_value(json_object_get(ctr(t, 0), "name")), "web");
	assert_int_equal(num(ctr(t, 0), "cpuUsageUsec"), 4000000);
	assert_null(json_object_get(ctr(t, 0), "memoryMax"));
	assert_int_equal(num(ctr(t, 0), "memoryLimit"), 256 * MIB);   /* the task's */
	assert_null(json_object_get(ctr(t, 0), "memoryPeak"));
	assert_int_equal(num(ctr(t, 0), "pids"), 2);
	assert_int_equal(num(ctr(t, 1), "memoryMax"), 64 * MIB);
	assert_int_equal(num(ctr(t, 1), "memoryLimit"), 64 * MIB);     /* its own */
	assert_int_equal(num(ctr(t, 1), "memoryPeak"), 2 * MIB);
	assert_int_equal(num(ctr(t, 1), "pidsMax"), 100);

	/* no task limit: the host's memory is the limit */
	t2 = xasprintf("%s/%s", f->cg, ID1);
	write_file(t2, "memory.max", "max\n");
	json_decref(t);
	t = stats_task(&f->d, doc, 1);
	assert_null(json_object_get(t, "memoryMax"));
	assert_int_equal(num(t, "memoryLimit"), (json_int_t)host);
	assert_int_equal(num(ctr(t, 0), "memoryLimit"), (json_int_t)host);
	assert_int_equal(num(ctr(t, 1), "memoryLimit"), 64 * MIB);

	/* a task without cgroups (noLimits, or gone): containers, no figures */
	json_decref(t);
	json_decref(doc);
	doc = task_doc(ID2, "default", "RUNNING");
	t = stats_task(&f->d, doc, 1);
	assert_null(json_object_get(t, "cpuUsageUsec"));
	assert_null(json_object_get(t, "memoryUsage"));
	assert_int_equal(json_array_size(json_object_get(t, "containers")), 2);
	assert_null(json_object_get(ctr(t, 0), "memoryUsage"));
	/* a STOPPED task is not read, whatever a directory of its name holds */
	stopped = task_doc(ID1, "default", "STOPPED");
	json_decref(t);
	t = stats_task(&f->d, stopped, 1);
	assert_string_equal(json_string_value(json_object_get(t, "lastStatus")), "STOPPED");
	assert_null(json_object_get(t, "memoryUsage"));
}

/* status.json as the shim writes it: the pid of the RUNNING container web. */
static void write_status(struct fx *f, const char *id, pid_t pid)
{
	cleanup_free char *bundle = mkdir_in(f->d.cfg.run_dir, id);
	cleanup_free char *s = xasprintf("{\"type\":\"state\",\"seq\":3,\"task\":{\"taskId\":\"%s\","
					 "\"lastStatus\":\"RUNNING\",\"containers\":["
					 "{\"name\":\"side\",\"lastStatus\":\"STOPPED\"},"
					 "{\"name\":\"web\",\"lastStatus\":\"RUNNING\",\"pid\":%d}]}}",
					 id, (int)pid);

	write_file(bundle, "status.json", s);
}

/* A child in a network namespace of its own (in a user namespace, so this
 * runs unprivileged too); it waits to be killed. */
static pid_t netns_child(void)
{
	int p[2];
	pid_t pid;
	char c = 0;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		c = unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 'k' : 'e';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	if (c != 'k') {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("unshare(CLONE_NEWUSER | CLONE_NEWNET) failed in the child");
	}
	return pid;
}

static void test_task_network(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *doc = task_doc(ID1, "default", "RUNNING"), *t = NULL;

	fake_task(f);
	f->child = netns_child();
	write_status(f, ID1, f->child);
	t = stats_task(&f->d, doc, 1);
	/* a fresh namespace: lo only, which does not count */
	assert_int_equal(num(t, "networkRxBytes"), 0);
	assert_int_equal(num(t, "networkTxBytes"), 0);
	assert_int_equal(num(t, "memoryUsage"), 10485760);
	json_decref(t);

	/* a process in the test's own namespace (networkMode host): no figures,
	 * they would be the host's */
	write_status(f, ID1, getpid());
	t = stats_task(&f->d, doc, 1);
	assert_null(json_object_get(t, "networkRxBytes"));
	json_decref(t);
	/* a pid that is gone */
	kill(f->child, SIGKILL);
	waitpid(f->child, NULL, 0);
	write_status(f, ID1, f->child);
	f->child = 0;
	t = stats_task(&f->d, doc, 1);
	assert_null(json_object_get(t, "networkRxBytes"));
}

/* ------------------------------------------------------- GetTaskStats */

static json_t *call(struct fx *f, const char *body)
{
	cleanup_free char *text = xstrdup(body);
	cleanup_json json_t *in = NULL;
	json_error_t jerr;

	for (char *p = text; *p; p++)
		if (*p == '\'')
			*p = '"';
	in = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!in)
		fail_msg("test body is not JSON: %s: %s", jerr.text, text);
	api_error_clear(&f->e);
	return api_call(&f->d, "BerthV1.GetTaskStats", in, &f->e);
}

static json_t *ok(struct fx *f, const char *body)
{
	json_t *r = call(f, body);

	if (!r)
		fail_msg("GetTaskStats %s: %s: %s", body, f->e.type, f->e.message);
	return r;
}

static void fails(struct fx *f, const char *body, const char *type, const char *msg)
{
	json_t *r = call(f, body);

	if (r) {
		json_decref(r);
		fail_msg("GetTaskStats %s: succeeded, want %s", body, type);
	}
	if (strcmp(f->e.type, type) || !strstr(f->e.message ?: "", msg))
		fail_msg("GetTaskStats %s: %s \"%s\", want %s \"...%s...\"", body, f->e.type,
			 f->e.message, type, msg);
}

static void put_cluster(struct fx *f, const char *name)
{
	cleanup_free char *arn = xasprintf(ARN "cluster/%s", name);
	cleanup_json json_t *d = json_pack("{s:s, s:s, s:s}", "clusterArn", arn, "clusterName", name,
					   "status", "ACTIVE");
	struct berr *err = NULL;

	if (store_cluster_put(f->d.st, d, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static void put_task(struct fx *f, json_t *doc)
{
	struct berr *err = NULL;

	if (store_task_put(f->d.st, doc, NULL, &err) < 0)
		fail_msg("%s", berr_msg(err));
	json_decref(doc);
}

static void test_api_get_task_stats(void **state)
{
	struct fx *f = *state;
	cleanup_free char *many = NULL;
	json_t *r, *tasks;

	fake_task(f);
	put_cluster(f, "default");
	put_cluster(f, "other");
	put_task(f, task_doc(ID1, "default", "RUNNING"));
	put_task(f, task_doc(ID2, "default", "STOPPED"));
	put_task(f, task_doc(ID3, "other", "PENDING"));

	/* every RUNNING task */
	r = ok(f, "{}");
	tasks = json_object_get(r, "tasks");
	assert_int_equal(json_array_size(tasks), 1);
	assert_int_equal(num(json_array_get(tasks, 0), "memoryUsage"), 10485760);
	assert_int_equal(num(ctr(json_array_get(tasks, 0), 1), "memoryLimit"), 64 * MIB);
	assert_int_equal(json_array_size(json_object_get(r, "failures")), 0);
	json_decref(r);
	r = ok(f, "{'cluster': 'other'}");
	assert_int_equal(json_array_size(json_object_get(r, "tasks")), 0);
	json_decref(r);
	/* named ones, by id or ARN, whatever their state; a missing one fails */
	r = ok(f, "{'tasks': ['" ID2 "', '" ARN "task/default/" ID1 "', 'ffffffffffffffffffffffffffffffff']}");
	tasks = json_object_get(r, "tasks");
	assert_int_equal(json_array_size(tasks), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(tasks, 0), "lastStatus")),
			    "STOPPED");
	assert_int_equal(num(json_array_get(tasks, 1), "pids"), 3);
	assert_int_equal(json_array_size(json_object_get(r, "failures")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r,
		"failures"), 0), "reason")), "MISSING");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r,
		"failures"), 0), "arn")), "ffffffffffffffffffffffffffffffff");
	json_decref(r);
	/* a task of another cluster than the one named is missing there */
	r = ok(f, "{'cluster': 'other', 'tasks': ['" ID1 "', '" ID3 "']}");
	assert_int_equal(json_array_size(json_object_get(r, "tasks")), 1);
	assert_int_equal(json_array_size(json_object_get(r, "failures")), 1);
	json_decref(r);

	fails(f, "{'cluster': 'nope'}", "ClusterNotFoundException", "Cluster not found");
	fails(f, "{'tasks': 'x'}", "InvalidParameterException", "tasks");
	fails(f, "{'tasks': [1]}", "InvalidParameterException", "tasks[0]: expected string");
	fails(f, "{'tasks': ['abc']}", "InvalidParameterException", "tasks[0]: \"abc\" is not a task");
	many = xstrdup("{'tasks': [");
	for (int i = 0; i < 101; i++) {
		char *n = xasprintf("%s%s'%032x'", many, i ? ", " : "", i);

		free(many);
		many = n;
	}
	{
		char *n = xasprintf("%s]}", many);

		free(many);
		many = n;
	}
	fails(f, many, "InvalidParameterException", "at most 100");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_cgroup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_cgroup_missing_and_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_dev, setup, teardown),
		cmocka_unit_test(test_cpu_percent),
		cmocka_unit_test_setup_teardown(test_task_entry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_network, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_get_task_stats, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
