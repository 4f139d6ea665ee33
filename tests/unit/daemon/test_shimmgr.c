/* Unit tests for runtime/daemon/shimmgr.c: berthd's side of the shims,
 * against fake shims.
 *
 * A fake shim is a forked child that serves <bundle>/shim.sock with the
 * real shim_server (runtime/shim/shim.h), writes shim.pid and status.json,
 * publishes RUNNING, and on commands from the test drops its clients,
 * stops or starts listening, or publishes a change; a stop request makes
 * it publish STOPPED (exit code 7) and exit, as a shim does. berthd is a
 * struct berthd with a store in a temp dir and an epoll set the test
 * dispatches itself (as server_run does). What a dead shim's task holds
 * is faked in the same temp dir (cgroups as regular files,
 * cg_set_fake_fs; an image lease, ephemeral storage, taskrun's dir).
 *
 * Checked: re-adoption at restore; a shim that drops the connection while
 * it lives is connected to again, with backoff (attempts while nothing
 * answers are counted), and a stop asked for meanwhile reaches it; a
 * shim killed with SIGKILL is noticed through its pidfd, what its task
 * held is reclaimed and the task is recorded STOPPED with the reason; at
 * restore, a dead shim's task is reclaimed and recorded, a live one beside
 * it untouched; a reclaim that failed is tried again at the next start;
 * the exit code lands in the task's attributes, and that
 * DescribeTasks answer passes botocore's model (shape_check.py); RunTask's
 * shims are started side by side (shimmgr_start_many). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroups/cgroup.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/shimmgr.h"
#include "runtime/daemon/store.h"
#include "runtime/shim/shim.h"

#define T1 "0123456789abcdef0123456789abcdef"
#define T2 "fedcba9876543210fedcba9876543210"

struct fake {
	pid_t pid;
	int cmd;                      /* write end: one byte per command */
};

struct fx {
	char *dir;
	struct berthd d;
	struct fake shims[2];
};

/* ------------------------------------------------------------ helpers */

static char *in_dir(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *in_dir(struct fx *f, const char *fmt, ...)
{
	va_list ap;
	char *rel, *r;

	va_start(ap, fmt);
	assert_true(vasprintf(&rel, fmt, ap) >= 0);
	va_end(ap);
	r = xasprintf("%s/%s", f->dir, rel);
	free(rel);
	return r;
}

static bool present(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void put(const char *path, const char *text)
{
	struct berr *err = NULL;
	cleanup_free char *dir = xstrdup(path);

	*strrchr(dir, '/') = '\0';
	if (fs_mkdir_p(dir, 0755, &err) < 0 ||
	    fs_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Dispatch berthd's events for `ms` milliseconds, as server_run does. */
static void pump(struct fx *f, int ms)
{
	int64_t end = now_ms() + ms;

	for (;;) {
		struct epoll_event ev[16];
		int64_t left = end - now_ms();
		int n;

		if (left <= 0)
			return;
		n = epoll_wait(f->d.epfd, ev, 16, (int)left);
		if (n < 0 && errno != EINTR)
			fail_msg("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = ev[i].data.ptr;

			h->fn(h, ev[i].events);
		}
	}
}

static json_t *task_doc(struct fx *f, const char *id)
{
	json_t *doc = NULL;
	struct berr *err = NULL;

	if (store_task_get(f->d.st, id, &doc, &err) <= 0)
		fail_msg("task %s: %s", id, err ? berr_msg(err) : "not in the store");
	return doc;
}

static bool task_is(struct fx *f, const char *id, const char *key, const char *want)
{
	cleanup_json json_t *doc = task_doc(f, id);
	const char *v = json_string_value(json_object_get(doc, key));

	return v && !strcmp(v, want);
}

/* Pump until the task's `key` is `want`, at most ms. */
static bool pump_until_task(struct fx *f, const char *id, const char *key, const char *want, int ms)
{
	int64_t end = now_ms() + ms;

	while (!task_is(f, id, key, want)) {
		if (now_ms() >= end)
			return false;
		pump(f, 20);
	}
	return true;
}

static void put_task(struct fx *f, const char *id, const char *last)
{
	cleanup_free char *arn = api_arn(&f->d, "task/default/%s", id);
	cleanup_free char *carn = api_arn(&f->d, "cluster/default");
	cleanup_json json_t *doc = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:i, s:[{s:s, s:s, s:s, s:s}]}",
		"taskArn", arn, "clusterArn", carn, "taskDefinitionArn",
		"arn:aws:ecs:us-east-1:000000000000:task-definition/fake:1", "lastStatus", last,
		"desiredStatus", "RUNNING", "launchType", "EC2", "cpu", "256", "memory", "512",
		"createdAt", 1.0, "version", 1, "containers", "containerArn",
		"arn:aws:ecs:us-east-1:000000000000:container/default/x/y", "taskArn", arn,
		"name", "web", "lastStatus", "PENDING");
	struct berr *err = NULL;

	if (store_task_put(f->d.st, doc, NULL, &err) < 0)
		fail_msg("store_task_put: %s", berr_msg(err));
}

/* What a task's dead shim leaves behind, faked. */
static void leave_resources(struct fx *f, const char *id)
{
	cleanup_free char *cg = in_dir(f, "cg/%s/cgroup.events", id);
	cleanup_free char *cgk = in_dir(f, "cg/%s/cgroup.kill", id);
	cleanup_free char *leaf = in_dir(f, "cg/%s/web/cgroup.events", id);
	cleanup_free char *leafk = in_dir(f, "cg/%s/web/cgroup.kill", id);
	cleanup_free char *lease = in_dir(f, "root/images/leases/%s.json", id);
	cleanup_free char *img = in_dir(f, "root/ephemeral/%s/disk.img", id);
	cleanup_free char *hosts = in_dir(f, "run/%s/%s/hosts", id, id);
	cleanup_free char *log = in_dir(f, "run/%s/shim.log", id);

	put(cg, "populated 0\n");
	put(cgk, "");
	put(leaf, "populated 0\n");
	put(leafk, "");
	put(lease, "{\"images\":[]}\n");
	put(img, "sparse");
	put(hosts, "127.0.0.1 localhost\n");
	put(log, "shim log\n");
}

static void check_reclaimed(struct fx *f, const char *id)
{
	cleanup_free char *cg = in_dir(f, "cg/%s", id);
	cleanup_free char *lease = in_dir(f, "root/images/leases/%s.json", id);
	cleanup_free char *eph = in_dir(f, "root/ephemeral/%s", id);
	cleanup_free char *taskdir = in_dir(f, "run/%s/%s", id, id);
	cleanup_free char *sock = in_dir(f, "run/%s/shim.sock", id);
	cleanup_free char *pid = in_dir(f, "run/%s/shim.pid", id);
	cleanup_free char *status = in_dir(f, "run/%s/status.json", id);
	cleanup_free char *log = in_dir(f, "run/%s/shim.log", id);

	assert_false(present(cg));
	assert_false(present(lease));
	assert_false(present(eph));
	assert_false(present(taskdir));
	assert_false(present(sock));
	assert_false(present(pid));
	/* kept for inspection */
	assert_true(present(status));
	assert_true(present(log));
}

static void check_held(struct fx *f, const char *id)
{
	cleanup_free char *cg = in_dir(f, "cg/%s/web/cgroup.kill", id);
	cleanup_free char *lease = in_dir(f, "root/images/leases/%s.json", id);
	cleanup_free char *eph = in_dir(f, "root/ephemeral/%s/disk.img", id);
	cleanup_free char *taskdir = in_dir(f, "run/%s/%s/hosts", id, id);

	assert_true(present(cg));
	assert_true(present(lease));
	assert_true(present(eph));
	assert_true(present(taskdir));
}

/* ----------------------------------------------------------- fake shim */

static void publish(struct shim_server *srv, const char *id, enum trun_status status,
		    const char *health, const char *reason, int exit_code)
{
	struct trun_container_state c = {
		.name = "web", .essential = true, .health = health, .pidfd = -1,
		.last_status = status == TRUN_RUNNING ? "RUNNING" : status == TRUN_STOPPED ? "STOPPED"
			       : "PENDING",
		.exit_code = status == TRUN_STOPPED ? exit_code : -1,
	};
	struct trun_state st = {
		.task_id = id, .status = status, .desired_stopped = reason != NULL,
		.health = health, .stop_code = reason ? "UserInitiated" : NULL,
		.stopped_reason = reason, .have_exit_code = exit_code >= 0, .exit_code = exit_code,
		.limits = true, .ipv4 = "", .started_at = 2.0,
		.stopped_at = status == TRUN_STOPPED ? 3.0 : 0, .containers = &c, .n_containers = 1,
	};

	if (shim_server_publish(srv, &st, NULL) < 0)
		_exit(3);
}

/* The child: never returns. */
static void fake_shim(const char *bundle, const char *id, int cmd)
{
	cleanup_free char *sock = xasprintf("%s/%s", bundle, SHIM_SOCKET_FILE);
	cleanup_free char *status = xasprintf("%s/%s", bundle, SHIM_STATUS_FILE);
	cleanup_free char *pidp = xasprintf("%s/%s", bundle, SHIM_PID_FILE);
	struct shim_server srv;
	char line[32];
	int lfd = shim_listen(sock, NULL);

	if (lfd < 0 || shim_server_init(&srv, lfd, status, getpid(), NULL) < 0)
		_exit(2);
	snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (fs_write_file_atomic(pidp, line, strlen(line), 0600, NULL) < 0)
		_exit(2);
	publish(&srv, id, TRUN_RUNNING, "UNKNOWN", NULL, -1);
	for (;;) {
		struct pollfd p[2] = { { .fd = srv.epfd, .events = POLLIN },
				       { .fd = cmd, .events = POLLIN } };
		const char *code = NULL;
		char *reason = NULL;
		char c;

		if (poll(p, 2, -1) < 0)
			continue;
		if ((p[0].revents & POLLIN) && shim_server_service(&srv, &code, &reason)) {
			publish(&srv, id, TRUN_DEPROVISIONING, "UNKNOWN", reason, -1);
			publish(&srv, id, TRUN_STOPPED, "UNKNOWN", reason, 7);
			shim_server_close(&srv);
			unlink(sock);
			unlink(pidp);
			_exit(0);
		}
		if (!(p[1].revents & (POLLIN | POLLHUP)))
			continue;
		if (read(cmd, &c, 1) != 1)
			_exit(0);
		switch (c) {
		case 'd':     /* drop every client, as for one that does not read */
			for (size_t i = srv.n_clients; i-- > 0;) {
				epoll_ctl(srv.epfd, EPOLL_CTL_DEL, srv.clients[i], NULL);
				close(srv.clients[i]);
			}
			srv.n_clients = 0;
			break;
		case 'c':     /* stop listening; the socket file stays */
			epoll_ctl(srv.epfd, EPOLL_CTL_DEL, srv.listen_fd, NULL);
			close(srv.listen_fd);
			srv.listen_fd = -1;
			break;
		case 'l': {   /* listen again */
			struct epoll_event ev = { .events = EPOLLIN };

			srv.listen_fd = shim_listen(sock, NULL);
			ev.data.fd = srv.listen_fd;
			if (srv.listen_fd < 0 || epoll_ctl(srv.epfd, EPOLL_CTL_ADD, srv.listen_fd, &ev) < 0)
				_exit(4);
			break;
		}
		case 'h':
			publish(&srv, id, TRUN_RUNNING, "HEALTHY", NULL, -1);
			break;
		default:
			break;
		}
	}
}

static bool answers(const char *bundle)
{
	cleanup_free char *sock = xasprintf("%s/%s", bundle, SHIM_SOCKET_FILE);
	cleanup_free char *pid = xasprintf("%s/%s", bundle, SHIM_PID_FILE);
	int fd = shim_connect_path(sock, NULL);

	if (fd < 0)
		return false;
	close(fd);
	return present(pid);
}

static void start_shim(struct fx *f, int k, const char *id)
{
	cleanup_free char *bundle = in_dir(f, "run/%s", id);
	int p[2];
	int64_t end;

	assert_int_equal(fs_mkdir_p(bundle, 0700, NULL), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	f->shims[k].pid = fork();
	assert_true(f->shims[k].pid >= 0);
	if (f->shims[k].pid == 0) {
		close(p[1]);
		fake_shim(bundle, id, p[0]);
	}
	close(p[0]);
	f->shims[k].cmd = p[1];
	end = now_ms() + 5000;
	while (!answers(bundle)) {
		assert_true(now_ms() < end);
		usleep(5000);
	}
}

static void shim_cmd(struct fx *f, int k, char c)
{
	assert_int_equal(write(f->shims[k].cmd, &c, 1), 1);
}

static void shim_kill9(struct fx *f, int k)
{
	assert_int_equal(kill(f->shims[k].pid, SIGKILL), 0);
	assert_int_equal(waitpid(f->shims[k].pid, NULL, 0), f->shims[k].pid);
	f->shims[k].pid = 0;
}

/* ------------------------------------------------------------- fixture */

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[256];
	cleanup_free char *cfg = NULL, *db = NULL;
	struct berr *err = NULL;

	snprintf(tmpl, sizeof(tmpl), "%s/berth-shimmgr-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpl));
	f->dir = xstrdup(tmpl);
	cfg = xasprintf("{\"root\": \"%s/root\", \"runDir\": \"%s/run\", \"logDir\": \"%s/logs\", "
			"\"cgroupRoot\": \"%s/cg\", \"socket\": \"%s/berthd.sock\", "
			"\"instance\": {\"cpu\": 4096, \"memory\": 8192}}",
			tmpl, tmpl, tmpl, tmpl, tmpl);
	berthd_config_init(&f->d.cfg);
	if (berthd_config_parse("test config", cfg, strlen(cfg), &f->d.cfg, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(fs_mkdir_p(f->d.cfg.run_dir, 0711, NULL), 0);
	assert_int_equal(fs_mkdir_p(f->d.cfg.root, 0711, NULL), 0);
	db = xasprintf("%s/berth.db", f->d.cfg.root);
	if (store_open(db, &f->d.st, &err) < 0 || api_bootstrap(&f->d, &err) < 0)
		fail_msg("%s", berr_msg(err));
	f->d.init_fd = -1;
	f->d.epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(f->d.epfd >= 0);
	if (shimmgr_new(&f->d, &f->d.shims, &err) < 0)
		fail_msg("%s", berr_msg(err));
	cg_set_fake_fs(true);
	signal(SIGPIPE, SIG_IGN);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	struct berr *err = NULL;

	for (int k = 0; k < 2; k++) {
		if (f->shims[k].pid > 0) {
			kill(f->shims[k].pid, SIGKILL);
			waitpid(f->shims[k].pid, NULL, 0);
		}
		if (f->shims[k].cmd > 0)
			close(f->shims[k].cmd);
	}
	shimmgr_free(f->d.shims);
	close(f->d.epfd);
	store_close(f->d.st);
	free(f->d.instance_arn);
	berthd_config_free(&f->d.cfg);
	cg_set_fake_fs(false);
	if (fs_rm_rf_at(AT_FDCWD, f->dir, &err) < 0) {
		fprintf(stderr, "cleanup %s: %s\n", f->dir, berr_msg(err));
		berr_free(err);
	}
	free(f->dir);
	free(f);
	return 0;
}

/* --------------------------------------------------------------- tests */

static void restore(struct fx *f)
{
	struct berr *err = NULL;

	if (shimmgr_restore(f->d.shims, &err) < 0)
		fail_msg("restore: %s", berr_msg(err));
}

/* Adopted; dropped while alive: connected again; nothing answering for a
 * while: a few attempts, not a busy loop, and the task is not lost; a stop
 * asked for meanwhile reaches the shim once it answers again. */
static void test_reconnect_and_stop(void **state)
{
	struct fx *f = *state;
	const struct shimmgr_stats *s = shimmgr_stats(f->d.shims);
	cleanup_free char *bundle = in_dir(f, "run/%s", T1);
	cleanup_json json_t *doc = NULL;
	uint64_t tries;
	int64_t t0;
	struct berr *err = NULL;
	json_t *a;
	size_t i;
	bool found = false;

	put_task(f, T1, "PROVISIONING");
	start_shim(f, 0, T1);
	restore(f);
	assert_int_equal(shimmgr_count(f->d.shims), 1);
	assert_true(pump_until_task(f, T1, "lastStatus", "RUNNING", 3000));

	/* dropped while it lives: connected again after the first pause */
	t0 = now_ms();
	shim_cmd(f, 0, 'd');
	while (s->reconnects < 1 && now_ms() - t0 < 3000)
		pump(f, 10);
	assert_int_equal(s->reconnects, 1);
	assert_true(now_ms() - t0 >= 90);    /* after a pause, not at once */
	shim_cmd(f, 0, 'h');
	assert_true(pump_until_task(f, T1, "healthStatus", "HEALTHY", 3000));

	/* nothing answers for 1.6 s: 100, 200, 400, 800 ms apart */
	shim_cmd(f, 0, 'c');
	pump(f, 50);
	shim_cmd(f, 0, 'd');
	tries = s->reconnect_tries;
	pump(f, 1600);
	assert_true(s->reconnect_tries - tries >= 3);
	assert_true(s->reconnect_tries - tries <= 5);
	assert_int_equal(s->lost, 0);
	assert_true(task_is(f, T1, "lastStatus", "RUNNING"));
	assert_int_equal(shimmgr_count(f->d.shims), 1);

	/* a stop while disconnected waits, then reaches it */
	assert_int_equal(shimmgr_stop(f->d.shims, T1, "bye", &err), 0);
	shim_cmd(f, 0, 'l');
	assert_true(pump_until_task(f, T1, "lastStatus", "STOPPED", 8000));
	assert_int_equal(waitpid(f->shims[0].pid, NULL, 0), f->shims[0].pid);
	f->shims[0].pid = 0;
	assert_int_equal(s->reconnects, 2);
	assert_int_equal(s->lost, 0);
	assert_int_equal(s->reclaims, 0);
	doc = task_doc(f, T1);
	assert_string_equal(json_string_value(json_object_get(doc, "stoppedReason")), "bye");
	assert_string_equal(json_string_value(json_object_get(doc, "stopCode")), "UserInitiated");
	json_array_foreach(json_object_get(doc, "attributes"), i, a) {
		if (!strcmp(json_string_value(json_object_get(a, "name")), SHIMMGR_EXIT_CODE_ATTR)) {
			assert_string_equal(json_string_value(json_object_get(a, "value")), "7");
			found = true;
		}
	}
	assert_true(found);
	assert_int_equal(shimmgr_count(f->d.shims), 0);
	pump(f, 20);   /* the graveyard's turn */
	assert_false(present(bundle));   /* recorded: the bundle goes */
}

/* kill -9 of the shim: its pidfd says so; the task's resources are
 * reclaimed and it is recorded STOPPED with the reason. */
static void test_kill9_reclaimed(void **state)
{
	struct fx *f = *state;
	const struct shimmgr_stats *s = shimmgr_stats(f->d.shims);
	cleanup_json json_t *doc = NULL;

	put_task(f, T1, "PROVISIONING");
	put_task(f, T2, "PROVISIONING");
	start_shim(f, 0, T1);
	start_shim(f, 1, T2);
	leave_resources(f, T1);
	leave_resources(f, T2);
	restore(f);
	assert_int_equal(shimmgr_count(f->d.shims), 2);
	assert_true(pump_until_task(f, T1, "lastStatus", "RUNNING", 3000));
	assert_true(pump_until_task(f, T2, "lastStatus", "RUNNING", 3000));

	shim_kill9(f, 0);
	assert_true(pump_until_task(f, T1, "lastStatus", "STOPPED", 5000));
	doc = task_doc(f, T1);
	assert_string_equal(json_string_value(json_object_get(doc, "stoppedReason")),
			    "berth-shim exited before the task stopped (see its shim.log)");
	assert_string_equal(json_string_value(json_object_get(doc, "stopCode")),
			    "EssentialContainerExited");
	assert_string_equal(json_string_value(json_object_get(doc, "desiredStatus")), "STOPPED");
	assert_int_equal(s->lost, 1);
	assert_int_equal(s->reclaims, 1);
	assert_int_equal(s->reclaim_failures, 0);
	check_reclaimed(f, T1);
	/* the other task runs on, with everything it holds */
	check_held(f, T2);
	assert_true(task_is(f, T2, "lastStatus", "RUNNING"));
	assert_int_equal(shimmgr_count(f->d.shims), 1);
	pump(f, 50);
	assert_int_equal(s->lost, 1);
}

/* Both berthd and a shim killed: the next berthd's restore reclaims the
 * dead shim's task and records it; the live one beside it is adopted. */
static void test_restore_dead_shim(void **state)
{
	struct fx *f = *state;
	const struct shimmgr_stats *s = shimmgr_stats(f->d.shims);
	cleanup_json json_t *doc = NULL;

	put_task(f, T1, "RUNNING");
	put_task(f, T2, "RUNNING");
	start_shim(f, 0, T1);
	start_shim(f, 1, T2);
	leave_resources(f, T1);
	leave_resources(f, T2);
	shim_kill9(f, 0);
	restore(f);
	/* recorded during the restore, before any event */
	doc = task_doc(f, T1);
	assert_string_equal(json_string_value(json_object_get(doc, "lastStatus")), "STOPPED");
	assert_string_equal(json_string_value(json_object_get(doc, "stoppedReason")),
			    "berth-shim exited before the task stopped (see its shim.log)");
	assert_int_equal(s->lost, 1);
	assert_int_equal(s->reclaim_failures, 0);
	check_reclaimed(f, T1);
	check_held(f, T2);
	assert_int_equal(shimmgr_count(f->d.shims), 1);
	pump(f, 100);
	assert_true(task_is(f, T2, "lastStatus", "RUNNING"));
	/* a second restore (berthd restarted again) finds T1 STOPPED: no-op */
	shimmgr_free(f->d.shims);
	f->d.shims = NULL;
	{
		struct berr *err = NULL;

		if (shimmgr_new(&f->d, &f->d.shims, &err) < 0)
			fail_msg("%s", berr_msg(err));
	}
	restore(f);
	s = shimmgr_stats(f->d.shims);
	assert_int_equal(s->lost, 0);
	assert_int_equal(shimmgr_count(f->d.shims), 1);
}

/* A reclaim that fails (processes that do not leave the cgroup): logged,
 * the task still recorded STOPPED, the rest freed, and the bundle marked;
 * the next berthd's start tries again and succeeds once they are gone. */
static void test_reclaim_retried_at_start(void **state)
{
	struct fx *f = *state;
	const struct shimmgr_stats *s = shimmgr_stats(f->d.shims);
	cleanup_free char *ev = in_dir(f, "cg/%s/cgroup.events", T1);
	cleanup_free char *kill = in_dir(f, "cg/%s/cgroup.kill", T1);
	cleanup_free char *cg = in_dir(f, "cg/%s", T1);
	cleanup_free char *lease = in_dir(f, "root/images/leases/%s.json", T1);
	cleanup_free char *mark = in_dir(f, "run/%s/reclaim-pending", T1);
	cleanup_free char *k = NULL;
	struct berr *err = NULL;
	size_t len;

	put_task(f, T1, "PROVISIONING");
	start_shim(f, 0, T1);
	leave_resources(f, T1);
	put(ev, "populated 1\n");
	restore(f);
	assert_true(pump_until_task(f, T1, "lastStatus", "RUNNING", 3000));
	shim_kill9(f, 0);
	assert_true(pump_until_task(f, T1, "lastStatus", "STOPPED", 8000));
	assert_int_equal(s->reclaim_failures, 1);
	assert_true(present(mark));
	assert_true(present(cg));
	assert_int_equal(fs_read_file(kill, &k, &len, 64, NULL), 0);
	assert_string_equal(k, "1");          /* the processes were killed */
	assert_false(present(lease));         /* the other steps ran */

	/* gone now; berthd restarts */
	put(ev, "populated 0\n");
	shimmgr_free(f->d.shims);
	if (shimmgr_new(&f->d, &f->d.shims, &err) < 0)
		fail_msg("%s", berr_msg(err));
	restore(f);
	s = shimmgr_stats(f->d.shims);
	assert_int_equal(s->reclaims, 1);
	assert_int_equal(s->reclaim_failures, 0);
	assert_false(present(cg));
	assert_false(present(mark));
	check_reclaimed(f, T1);
	/* and not again */
	shimmgr_free(f->d.shims);
	if (shimmgr_new(&f->d, &f->d.shims, &err) < 0)
		fail_msg("%s", berr_msg(err));
	restore(f);
	assert_int_equal(shimmgr_stats(f->d.shims)->reclaims, 0);
}

/* A task recorded without a bundle (berthd died before starting its
 * shim): STOPPED, TaskFailedToStart. */
static void test_restore_no_bundle(void **state)
{
	struct fx *f = *state;
	cleanup_json json_t *doc = NULL;

	put_task(f, T1, "PROVISIONING");
	restore(f);
	doc = task_doc(f, T1);
	assert_string_equal(json_string_value(json_object_get(doc, "lastStatus")), "STOPPED");
	assert_string_equal(json_string_value(json_object_get(doc, "stopCode")), "TaskFailedToStart");
	assert_non_null(strstr(json_string_value(json_object_get(doc, "stoppedReason")),
			       "before the task's shim started"));
	assert_int_equal(shimmgr_count(f->d.shims), 0);
}

/* The exit code attribute in a DescribeTasks answer passes botocore's
 * model (the AWS CLI and boto3 read it). */
static void test_exit_code_shape(void **state)
{
	struct fx *f = *state;
	const char *src = getenv("BERTH_SOURCE_DIR");
	cleanup_free char *script = NULL, *rec_dir = in_dir(f, "records");
	cleanup_free char *rec = NULL, *txt = NULL, *arn = api_arn(&f->d, "task/default/%s", T1);
	cleanup_json json_t *in = NULL, *out = NULL, *record = NULL;
	struct api_error e = { 0 };
	struct berr *err = NULL;
	pid_t pid;
	int st;

	put_task(f, T1, "PROVISIONING");
	start_shim(f, 0, T1);
	restore(f);
	assert_true(pump_until_task(f, T1, "lastStatus", "RUNNING", 3000));
	assert_int_equal(shimmgr_stop(f->d.shims, T1, "done", &err), 0);
	assert_true(pump_until_task(f, T1, "lastStatus", "STOPPED", 5000));
	in = json_pack("{s:[s]}", "tasks", arn);
	out = api_call(&f->d, "DescribeTasks", in, &e);
	assert_non_null(out);
	txt = json_dumps(json_array_get(json_object_get(out, "tasks"), 0), 0);
	assert_non_null(txt);
	assert_non_null(strstr(txt, "{\"name\": \"" SHIMMGR_EXIT_CODE_ATTR "\", \"value\": \"7\"}"));
	record = json_pack("{s:s, s:O}", "operation", "DescribeTasks", "response", out);
	assert_int_equal(fs_mkdir_p(rec_dir, 0700, NULL), 0);
	rec = xasprintf("%s/describe.json", rec_dir);
	if (bjson_write_file_atomic(rec, record, 0600, &err) < 0)
		fail_msg("%s", berr_msg(err));

	script = src ? xasprintf("%s/tests/unit/daemon/shape_check.py", src) : NULL;
	if (!script || access("/usr/bin/python3", X_OK) != 0) {
		printf("no BERTH_SOURCE_DIR or python3: shape check skipped\n");
		skip();
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/usr/bin/python3", "python3", script, rec_dir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77)
		skip();   /* no botocore */
	if (WEXITSTATUS(st) != 0)
		fail_msg("shape_check.py: the DescribeTasks answer does not fit botocore's model");
}

/* RunTask's count: every shim is started before the first one's detach is
 * waited for. Each fake shim (a script in place of berth-shim) says it has
 * started, waits until all three have (5 s at most), then fails, printing
 * how many it saw: started one after the other, the first would see only
 * itself. The failures come back per task with the shim's words, and each
 * bundle is gone again. */
static void test_start_side_by_side(void **state)
{
	struct fx *f = *state;
	cleanup_free char *shim = in_dir(f, "fake-shim.sh"), *seen = in_dir(f, "started");
	cleanup_free char *text = xasprintf(
		"#!/bin/sh\n"
		"echo x >> '%s'\n"
		"i=0\n"
		"while [ \"$(wc -l < '%s')\" -lt 3 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done\n"
		"echo \"fake shim saw $(wc -l < '%s') started\"\n"
		"exit 3\n",
		seen, seen, seen);
	const char *ids[3] = { T1, T2, "00112233445566778899aabbccddeeff" };
	struct shimmgr_launch l[3];
	json_t *cfg[3];
	struct berr *err = NULL;

	if (fs_write_file_replace(shim, text, strlen(text), 0755, &err) < 0)
		fail_msg("%s", berr_msg(err));
	free(f->d.cfg.shim_path);
	f->d.cfg.shim_path = xstrdup(shim);
	memset(l, 0, sizeof(l));
	for (int i = 0; i < 3; i++) {
		cfg[i] = json_pack("{s:s}", "taskId", ids[i]);
		l[i].id = ids[i];
		l[i].config = cfg[i];
		l[i].cpu = 256;
		l[i].memory = 512;
	}
	shimmgr_start_many(f->d.shims, l, 3);
	for (int i = 0; i < 3; i++) {
		cleanup_free char *bundle = xasprintf("%s/%s", f->d.cfg.run_dir, ids[i]);

		assert_true(l[i].r < 0);
		assert_non_null(l[i].err);
		if (!strstr(berr_msg(l[i].err), "fake shim saw 3 started"))
			fail_msg("task %d: %s", i, berr_msg(l[i].err));
		assert_int_equal(access(bundle, F_OK), -1);
		berr_free(l[i].err);
		json_decref(cfg[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reconnect_and_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill9_reclaimed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_dead_shim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reclaim_retried_at_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_no_bundle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_code_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_side_by_side, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
