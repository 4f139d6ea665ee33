/* Unit tests for taskrun's hooks (trun_opts on_state, ctl_fd/on_ctl), which
 * berth-shim builds on.
 *
 * A stop asked for before set-up runs in this process (taskrun then sets
 * nothing up). The other cases run trun_run for real inside user, mount and
 * network namespaces a forked child makes (root there; as root the
 * namespace's 0 is host uid 100000, never host root): the test image is
 * imported into a store in a temp dir, storage is tmpfs, no cgroups
 * (no_limits), network "none". Each state the hook sees goes back to the
 * parent as one snapshot line (shim_snapshot), and the parent checks the
 * sequence (pid namespace too: the launcher returns to it after a health
 * check joined a container's). Nothing outside the temp dir and those namespaces is touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "rootfs/import.h"
#include "rootfs/store.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/taskrun.h"
#include "runtime/task/task.h"

#include "userns_fixture.h"
#define TID "0123456789abcdef0123456789abcdef"

static char tmpdir[256];

static char *jq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

static char *path_in(const char *rel)
{
	return xasprintf("%s/%s", tmpdir, rel);
}

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-hooks-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	/* the namespace's root must own its work space */
	if (geteuid() == 0)
		assert_int_equal(chown(tmpdir, MAP_BASE, MAP_BASE), 0);
	return 0;
}

static int teardown_tmp(void **state)
{
	struct berr *err = NULL;

	if (fs_rm_rf_at(AT_FDCWD, tmpdir, &err) < 0) {
		fprintf(stderr, "cleanup %s: %s\n", tmpdir, berr_msg(err));
		berr_free(err);
	}
	return 0;
}

static struct task_def *parse_td(const char *doc)
{
	cleanup_free char *j = jq(doc);
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse(j, strlen(j), "task", TASK_MODE_EC2, &td, &err) < 0)
		fail_msg("%s", berr_msg(err));
	return td;
}

/* What a test's hooks record: every state as a snapshot message. */
struct rec {
	int out_fd;                 /* -1: keep them in msgs */
	json_t *msgs;
	uint64_t seq;
	int ctl[2];                 /* the ctl pipe: a byte = "stop" */
	const char *stop_reason;
	bool stop_when_healthy;     /* write the byte once the task is HEALTHY */
	bool asked;
};

static void rec_state(void *arg, const struct trun_state *st)
{
	struct rec *r = arg;
	json_t *msg = shim_snapshot(st, ++r->seq, 0);

	if (r->out_fd >= 0) {
		char *txt = bjson_dumps(msg);

		dprintf(r->out_fd, "%s\n", txt);
		free(txt);
		json_decref(msg);
	} else {
		json_array_append_new(r->msgs, msg);
	}
	if (r->stop_when_healthy && !r->asked && st->status == TRUN_RUNNING &&
	    !strcmp(st->health, "HEALTHY")) {
		r->asked = true;
		if (write(r->ctl[1], "s", 1) != 1)
			abort();
	}
}

static bool rec_ctl(void *arg, const char **code, char **reason)
{
	struct rec *r = arg;
	char c;

	if (read(r->ctl[0], &c, 1) != 1)
		return false;
	*code = NULL;
	*reason = r->stop_reason ? xstrdup(r->stop_reason) : NULL;
	return true;
}

static void rec_init(struct rec *r, struct trun_opts *o)
{
	memset(r, 0, sizeof(*r));
	r->out_fd = -1;
	r->msgs = json_array();
	if (pipe2(r->ctl, O_CLOEXEC | O_NONBLOCK) < 0)
		abort();
	o->on_state = rec_state;
	o->state_arg = r;
	o->ctl_fd = r->ctl[0];
	o->on_ctl = rec_ctl;
	o->ctl_arg = r;
}

static json_t *task_of(json_t *msgs, size_t i)
{
	return json_object_get(json_array_get(msgs, i), "task");
}

static const char *sget(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static json_t *ctr(json_t *task, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(task, "containers"), i, c)
		if (!strcmp(sget(c, "name"), name))
			return c;
	return NULL;
}

static double tget(json_t *task, const char *key)
{
	json_t *v = json_object_get(task, key);

	return v ? json_real_value(v) : 0;
}

static int status_rank(const char *s)
{
	static const char *const order[] = { "PROVISIONING", "PENDING", "RUNNING", "DEPROVISIONING", "STOPPED" };

	for (int i = 0; i < 5; i++)
		if (!strcmp(s, order[i]))
			return i;
	fail_msg("unknown status %s", s);
	return -1;
}

/* Common checks of a state sequence: seq grows, statuses never go back,
 * no two neighbours are the same, it ends STOPPED with the times set. */
static void check_sequence(json_t *msgs)
{
	size_t n = json_array_size(msgs);
	json_t *last;
	int prev = -1;

	assert_true(n >= 3);
	assert_string_equal(sget(task_of(msgs, 0), "lastStatus"), "PROVISIONING");
	assert_string_equal(sget(task_of(msgs, 0), "desiredStatus"), "RUNNING");
	for (size_t i = 0; i < n; i++) {
		json_t *t = task_of(msgs, i);
		int rank = status_rank(sget(t, "lastStatus"));

		assert_int_equal(json_integer_value(json_object_get(json_array_get(msgs, i), "seq")), i + 1);
		assert_true(rank >= prev);
		prev = rank;
		if (i > 0 && json_equal(t, task_of(msgs, i - 1)))
			fail_msg("snapshots %zu and %zu are the same", i, i + 1);
		assert_string_equal(sget(t, "taskId"), TID);
	}
	assert_string_equal(sget(task_of(msgs, n - 2), "lastStatus"), "DEPROVISIONING");
	last = task_of(msgs, n - 1);
	assert_string_equal(sget(last, "lastStatus"), "STOPPED");
	assert_string_equal(sget(last, "desiredStatus"), "STOPPED");
	assert_true(tget(last, "stoppedAt") >= tget(last, "executionStoppedAt"));
	assert_true(tget(last, "executionStoppedAt") >= tget(last, "stoppingAt"));
	assert_true(tget(last, "stoppingAt") > 0);
	for (size_t i = 0; i < json_array_size(json_object_get(last, "containers")); i++)
		assert_string_equal(sget(json_array_get(json_object_get(last, "containers"), i), "lastStatus"),
				    "STOPPED");
}

/* ------------------------------------------- in this process: no set-up */

static void test_stop_before_setup(void **state)
{
	struct task_def *td = parse_td("{'family':'f','containerDefinitions':["
				       "{'name':'a','image':'none/such','memory':32}]}");
	cleanup_free char *root = path_in("root"), *run = path_in("run");
	struct trun_result res;
	struct trun_opts o;
	struct berr *err = NULL;
	struct rec r;
	json_t *last;

	trun_opts_init(&o);
	o.root = root;
	o.run_dir = run;
	o.log_dir = NULL;
	o.no_limits = true;
	o.task_id = TID;
	o.quiet = true;
	rec_init(&r, &o);
	r.stop_reason = "early";
	assert_int_equal(write(r.ctl[1], "s", 1), 1);
	assert_int_equal(trun_run(td, &o, &res, &err), 0);
	check_sequence(r.msgs);
	assert_int_equal(json_array_size(r.msgs), 3);
	last = task_of(r.msgs, 2);
	assert_string_equal(sget(last, "stopCode"), "UserInitiated");
	assert_string_equal(sget(last, "stoppedReason"), "early");
	assert_null(json_object_get(last, "startedAt"));
	assert_null(json_object_get(last, "pullStartedAt"));
	assert_null(json_object_get(ctr(last, "a"), "exitCode"));
	/* nothing was set up */
	assert_int_equal(access(run, F_OK), -1);
	assert_int_equal(access(root, F_OK), -1);
	assert_string_equal(res.stop_code, "UserInitiated");
	assert_string_equal(res.stopped_reason, "early");
	assert_false(res.have_exit_code);
	trun_result_free(&res);

	/* without a reason: taskrun's default */
	json_decref(r.msgs);
	close(r.ctl[0]);
	close(r.ctl[1]);
	rec_init(&r, &o);
	assert_int_equal(write(r.ctl[1], "s", 1), 1);
	assert_int_equal(trun_run(td, &o, &res, &err), 0);
	assert_string_equal(sget(task_of(r.msgs, 2), "stoppedReason"), "Task stopped by user");
	trun_result_free(&res);
	json_decref(r.msgs);
	close(r.ctl[0]);
	close(r.ctl[1]);
	task_def_free(td);
}

/* Hooks unset (berth run): trun_opts_init leaves them off. */
static void test_opts_default(void **state)
{
	struct trun_opts o;

	trun_opts_init(&o);
	assert_null(o.on_state);
	assert_null(o.on_ctl);
	assert_int_equal(o.ctl_fd, -1);
	assert_int_equal(o.stop_fd, -1);
	assert_string_equal(trun_status_name(TRUN_PROVISIONING), "PROVISIONING");
	assert_string_equal(trun_status_name(TRUN_DEPROVISIONING), "DEPROVISIONING");
	assert_string_equal(trun_status_name((enum trun_status)42), "UNKNOWN");
}

/* ------------------------------------------------ in user namespaces */

typedef int (*ns_fn)(int out_fd);

/* fn in new user, mount, network and pid namespaces */
static int in_userns_pid(ns_fn fn, char **out)
{
	return in_userns_flags(fn, out, USERNS_NEWPID);
}

/* The snapshot lines of a child's output; "ERROR ..." lines fail the test. */
static json_t *lines_to_msgs(const char *out)
{
	json_t *msgs = json_array();
	const char *p = out;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		json_t *m;

		if (!strncmp(p, "ERROR", 5))
			fail_msg("%.*s", (int)l, p);
		m = json_loadb(p, l, 0, NULL);
		if (!m)
			fail_msg("not a snapshot line: %.*s", (int)l, p);
		json_array_append_new(msgs, m);
		p += l + (nl ? 1 : 0);
	}
	return msgs;
}

static void child_opts(struct trun_opts *o, char **root, char **run, char **logs)
{
	*root = path_in("root");
	*run = path_in("run");
	*logs = path_in("logs");
	trun_opts_init(o);
	o->root = *root;
	o->run_dir = *run;
	o->log_dir = *logs;
	o->no_limits = true;
	o->storage = TRUN_STORAGE_TMPFS;
	o->task_id = TID;
	o->quiet = true;
}

/* Set-up fails (the image is not in the store). */
static int ns_setup_fails(int out)
{
	struct task_def *td = NULL;
	cleanup_free char *doc = jq("{'family':'f','networkMode':'none','containerDefinitions':["
				    "{'name':'a','image':'none/such','memory':32}]}");
	char *root, *run, *logs;
	struct trun_result res;
	struct trun_opts o;
	struct berr *err = NULL;
	struct rec r;
	int rc;

	if (task_def_parse(doc, strlen(doc), "t", TASK_MODE_EC2, &td, &err) < 0) {
		dprintf(out, "ERROR %s\n", berr_msg(err));
		return 1;
	}
	child_opts(&o, &root, &run, &logs);
	/* never: no pull (test_taskrun_pull.c has the failed pulls) */
	o.pull_policy = ROOTFS_PULL_NEVER;
	rec_init(&r, &o);
	r.out_fd = out;
	rc = trun_run(td, &o, &res, &err);
	if (rc >= 0)
		dprintf(out, "ERROR trun_run succeeded\n");
	else if (!strstr(berr_msg(err), "is not in the store"))
		dprintf(out, "ERROR unexpected error: %s\n", berr_msg(err));
	return 0;
}

static void test_setup_fails(void **state)
{
	cleanup_free char *out = NULL, *run = path_in("run");
	json_t *msgs, *last;
	int st = in_userns_pid(ns_setup_fails, &out);

	if (st != 0)
		fail_msg("child exit %d: %s", st, out);
	msgs = lines_to_msgs(out);
	check_sequence(msgs);
	assert_int_equal(json_array_size(msgs), 3);
	last = task_of(msgs, 2);
	assert_string_equal(sget(last, "stopCode"), "TaskFailedToStart");
	assert_non_null(strstr(sget(last, "stoppedReason"), "image \"none/such\" is not in the store"));
	assert_non_null(strstr(sget(last, "stoppedReason"), "CannotPullContainerError: "));
	assert_non_null(strstr(sget(last, "stoppedReason"), "pull policy is \"never\""));
	assert_true(tget(last, "pullStartedAt") > 0);
	assert_null(json_object_get(last, "pullStoppedAt"));
	assert_null(json_object_get(last, "startedAt"));
	assert_null(json_object_get(last, "exitCode"));
	/* the task's directory is gone again */
	{
		cleanup_free char *td = xasprintf("%s/%s", run, TID);

		assert_int_equal(access(td, F_OK), -1);
	}
	json_decref(msgs);
}

/* A real task: prep runs to completion, app (dependsOn prep SUCCESS, with
 * a health check) starts; once the task is HEALTHY the ctl fd asks for a
 * stop with a reason. */
/* a user namespace cannot raise the hard limit over the host's: stay under it */
#define NOFILE "'ulimits':[{'name':'nofile','softLimit':1024,'hardLimit':1024}],"

/* In the child: the options of child_opts, the helper image imported into
 * the store, and `doc` (quotes as jq) parsed. NULL (an ERROR line
 * written) on failure. */
static struct task_def *child_task(int out, const char *raw, struct trun_opts *o)
{
	const char *bin = getenv("BERTH_BINARY_DIR");
	cleanup_free char *archive = xasprintf("%s/images/helper.oci.tar", bin ? bin : ".");
	cleanup_free char *doc = jq(raw);
	struct rootfs_import_opts io = { 0 };
	struct rootfs_import_result ir = { 0 };
	struct rootfs_store *s = NULL;
	struct task_def *td = NULL;
	char *root, *run, *logs, *images;
	struct berr *err = NULL;

	child_opts(o, &root, &run, &logs);
	images = xasprintf("%s/images", root);
	io.unpack.flags = ROOTFS_UNPACK_NO_CHOWN | ROOTFS_UNPACK_USER_XATTR;
	if (rootfs_store_open(images, &s, &err) < 0 || rootfs_import(s, archive, &io, &ir, &err) < 0) {
		dprintf(out, "ERROR import %s: %s\n", archive, berr_msg(err));
		return NULL;
	}
	rootfs_import_result_free(&ir);
	rootfs_store_close(s);
	if (task_def_parse(doc, strlen(doc), "t", TASK_MODE_EC2, &td, &err) < 0) {
		dprintf(out, "ERROR %s\n", berr_msg(err));
		return NULL;
	}
	return td;
}

static int ns_full_run(int out)
{
	const char *doc = "{'family':'f','networkMode':'none','containerDefinitions':["
		"{'name':'prep','image':'berth-test/helper','memory':32,'essential':false," NOFILE
		" 'command':['echo','prepared']},"
		"{'name':'app','image':'berth-test/helper','memory':32,'stopTimeout':5," NOFILE
		" 'dependsOn':[{'containerName':'prep','condition':'SUCCESS'}],"
		" 'command':['signals','--exit-code','7'],"
		" 'healthCheck':{'command':['CMD-SHELL','exit 0'],'interval':5,'timeout':2,'retries':1}}]}";
	struct trun_result res;
	struct trun_opts o;
	struct berr *err = NULL;
	struct task_def *td = child_task(out, doc, &o);
	struct rec r;

	if (!td)
		return 1;
	rec_init(&r, &o);
	r.out_fd = out;
	r.stop_reason = "hooks test";
	r.stop_when_healthy = true;
	if (trun_run(td, &o, &res, &err) < 0) {
		dprintf(out, "ERROR trun_run: %s\n", berr_msg(err));
		return 1;
	}
	if (res.exit_code != 7)
		dprintf(out, "ERROR result exit code %d, want 7\n", res.exit_code);
	return 0;
}

/* on_quiet: a task whose one container sleeps 1.5 s; the loop must call
 * on_quiet once it has been quiet quiet_ms after RUNNING, and (poked by
 * a byte on the ctl pipe, which is activity but no stop) once more only
 * quiet_gap_ms after that, and never again while nothing happens. */
struct quiet_rec {
	struct rec r;
	int64_t running_ms;         /* when on_state first saw RUNNING */
	int64_t at[8];              /* on_quiet calls, ms */
	int n;
	bool poked;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void quiet_state(void *arg, const struct trun_state *st)
{
	struct quiet_rec *q = arg;

	if (st->status == TRUN_RUNNING && !q->running_ms)
		q->running_ms = mono_ms();
}

static bool quiet_ctl(void *arg, const char **code, char **reason)
{
	struct quiet_rec *q = arg;
	char c;

	(void)code;
	(void)reason;
	if (read(q->r.ctl[0], &c, 1) == 1 && c == 'p')
		q->poked = true;
	return false;
}

static void quiet_hook(void *arg)
{
	struct quiet_rec *q = arg;

	if (q->n < 8)
		q->at[q->n] = mono_ms();
	if (q->n++ == 0 && write(q->r.ctl[1], "p", 1) != 1)
		abort();
}

static int ns_quiet(int out)
{
	const char *doc = "{'family':'f','networkMode':'none','containerDefinitions':["
		"{'name':'app','image':'berth-test/helper','memory':32," NOFILE
		" 'command':['sleep','1.5']}]}";
	struct trun_result res;
	struct trun_opts o;
	struct berr *err = NULL;
	struct task_def *td = child_task(out, doc, &o);
	struct quiet_rec q;

	if (!td)
		return 1;
	memset(&q, 0, sizeof(q));
	rec_init(&q.r, &o);
	o.on_state = quiet_state;
	o.state_arg = &q;
	o.on_ctl = quiet_ctl;
	o.ctl_arg = &q;
	o.on_quiet = quiet_hook;
	o.quiet_arg = &q;
	o.quiet_ms = 200;
	o.quiet_gap_ms = 600;
	if (trun_run(td, &o, &res, &err) < 0) {
		dprintf(out, "ERROR trun_run: %s\n", berr_msg(err));
		return 1;
	}
	dprintf(out, "{'calls':%d,'poked':%s,'first':%lld,'second':%lld}\n", q.n, q.poked ? "true" : "false",
		(long long)(q.n > 0 ? q.at[0] - q.running_ms : -1),
		(long long)(q.n > 1 ? q.at[1] - q.at[0] : -1));
	return 0;
}

static void test_quiet(void **state)
{
	cleanup_free char *out = NULL;
	json_t *msgs, *m;
	int st = in_userns_pid(ns_quiet, &out);

	(void)state;
	if (st != 0)
		fail_msg("child exit %d: %s", st, out);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	msgs = lines_to_msgs(out);
	assert_int_equal(json_array_size(msgs), 1);
	m = json_array_get(msgs, 0);
	/* RUNNING at ~0 ms, quiet at ~200, poked, quiet again at ~800 (gap),
	 * then nothing until the container exits at ~1500 */
	assert_int_equal(json_integer_value(json_object_get(m, "calls")), 2);
	assert_true(json_is_true(json_object_get(m, "poked")));
	assert_true(json_integer_value(json_object_get(m, "first")) >= 200);
	/* the gap runs from taskrun's clock read just before the first call;
	 * the hook reads its own clock a little later (ms granularity, and a
	 * loaded machine may preempt in between): 20 ms of slack, far below
	 * the 600 ms a gap not kept would be short by */
	assert_true(json_integer_value(json_object_get(m, "second")) >= 600 - 20);
	json_decref(msgs);
}

static void test_full_run(void **state)
{
	cleanup_free char *out = NULL, *run = path_in("run");
	cleanup_free char *log = path_in("logs/" TID "/prep.log");
	cleanup_free char *logtxt = NULL;
	json_t *msgs, *last, *t, *first_running = NULL, *healthy = NULL, *stopping = NULL;
	struct berr *err = NULL;
	size_t i, n;
	int st = in_userns_pid(ns_full_run, &out);

	if (st != 0)
		fail_msg("child exit %d: %s", st, out);
	if (getenv("BERTH_TEST_VERBOSE"))
		printf("%s", out);
	msgs = lines_to_msgs(out);
	check_sequence(msgs);
	n = json_array_size(msgs);
	for (i = 0; i < n; i++) {
		t = task_of(msgs, i);
		if (!first_running && !strcmp(sget(t, "lastStatus"), "RUNNING"))
			first_running = t;
		if (!healthy && !strcmp(sget(t, "healthStatus"), "HEALTHY"))
			healthy = t;
		if (!stopping && !strcmp(sget(t, "desiredStatus"), "STOPPED"))
			stopping = t;
	}
	/* PENDING came before RUNNING; the set-up times are there */
	assert_string_equal(sget(task_of(msgs, 1), "lastStatus"), "PENDING");
	assert_true(tget(task_of(msgs, 1), "pullStoppedAt") >= tget(task_of(msgs, 1), "pullStartedAt"));
	assert_true(tget(task_of(msgs, 1), "connectivityAt") >= tget(task_of(msgs, 1), "pullStoppedAt"));

	/* RUNNING once app has started, prep having run to completion first */
	assert_non_null(first_running);
	assert_string_equal(sget(ctr(first_running, "app"), "lastStatus"), "RUNNING");
	assert_true(json_integer_value(json_object_get(ctr(first_running, "app"), "pid")) > 0);
	assert_string_equal(sget(ctr(first_running, "prep"), "lastStatus"), "STOPPED");
	assert_int_equal(json_integer_value(json_object_get(ctr(first_running, "prep"), "exitCode")), 0);
	assert_true(tget(first_running, "startedAt") > 0);
	assert_string_equal(sget(first_running, "healthStatus"), "UNKNOWN");

	/* health: the essential container's check passed, so did the task's */
	assert_non_null(healthy);
	assert_string_equal(sget(healthy, "lastStatus"), "RUNNING");
	assert_string_equal(sget(ctr(healthy, "app"), "healthStatus"), "HEALTHY");
	assert_string_equal(sget(ctr(healthy, "prep"), "healthStatus"), "UNKNOWN");

	/* the stop shows before the containers are down */
	assert_non_null(stopping);
	assert_string_equal(sget(stopping, "lastStatus"), "RUNNING");
	assert_string_equal(sget(stopping, "stopCode"), "UserInitiated");
	assert_string_equal(sget(stopping, "stoppedReason"), "hooks test");
	assert_true(tget(stopping, "stoppingAt") >= tget(stopping, "startedAt"));

	last = task_of(msgs, n - 1);
	assert_string_equal(sget(last, "stopCode"), "UserInitiated");
	assert_string_equal(sget(last, "stoppedReason"), "hooks test");
	assert_int_equal(json_integer_value(json_object_get(last, "exitCode")), 7);
	assert_int_equal(json_integer_value(json_object_get(ctr(last, "app"), "exitCode")), 7);
	assert_int_equal(json_integer_value(json_object_get(ctr(last, "prep"), "exitCode")), 0);
	assert_null(json_object_get(ctr(last, "app"), "pid"));
	assert_true(tget(last, "stoppingAt") >= tget(last, "startedAt"));
	/* torn down; the output went to the log */
	{
		cleanup_free char *td = xasprintf("%s/%s", run, TID);

		assert_int_equal(access(td, F_OK), -1);
	}
	assert_int_equal(fs_read_file(log, &logtxt, NULL, 1 << 20, &err), 0);
	assert_non_null(strstr(logtxt, "prepared"));
	json_decref(msgs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts_default),
		cmocka_unit_test_setup_teardown(test_stop_before_setup, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_setup_fails, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_full_run, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_quiet, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
