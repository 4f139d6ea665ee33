/* Unit tests of taskrun's image pulls (taskrun.h trun_pull_images): the
 * berth CLI as a child process. A fake `berth` (a shell script written
 * here) shows what the child is given (arguments, signal mask) and plays
 * every way a pull can end: a result, a JSON error, only stderr, a crash,
 * no result, too slow, stopped. Then the real CLI against a real registry
 * (Debian's docker-registry on 127.0.0.1, skipped without it): N pulls of
 * one new image download each blob once. Unprivileged; only loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "rootfs/store.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/taskrun.h"
#include "runtime/task/task.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wunused-function"
#include "../rootfs/registry_fixture.h"
#include "userns_fixture.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The fake berth: acts by the image name (its last argument). bash, not
 * dash: dash clears the signal mask it inherits, bash keeps SIGTERM's. */
static const char fake_berth[] =
	"#!/bin/bash\n"
	"for a in \"$@\"; do img=$a; done\n"
	"dir=$(dirname \"$0\")\n"
	"name=$(echo \"$img\" | tr '/:' '__')\n"
	"printf '%s\\n' \"$@\" > \"$dir/args.$name\"\n"
	"grep '^SigBlk' /proc/$$/status > \"$dir/sig.$name\"\n"
	"echo $$ > \"$dir/pid.$name\"\n"
	"case $img in\n"
	"ok*)\n"
	"  echo '{\"event\":\"resolve\"}'\n"
	"  echo '{\"event\":\"downloaded\",\"layer\":0,\"layers\":2,\"digest\":\"sha256:" HEX64 "\",\"done\":5,\"total\":5}'\n"
	"  echo 'not json at all'\n"
	"  echo '{\"event\":\"result\",\"digest\":\"sha256:" HEX64 "\",\"ref\":\"ok:1\",\"source\":\"docker.io/library/ok:1\","
	"\"pulled\":true,\"layers\":2,\"layersDownloaded\":1,\"bytesDownloaded\":1234,\"resumed\":0}'\n"
	"  exit 0 ;;\n"
	"notfound*)\n"
	"  echo 'berth: error: pull docker.io/library/notfound:latest: manifest unknown' >&2\n"
	"  echo '{\"event\":\"error\",\"failure\":\"not-found\",\"message\":\"pull docker.io/library/notfound:latest: "
	"registry docker.io: manifest latest: not found\",\"exitCode\":3}'\n"
	"  exit 3 ;;\n"
	"quiet*)\n"
	"  echo 'berth: some info' >&2\n"
	"  echo 'berth: error: registry h:1: Could not connect' >&2\n"
	"  exit 5 ;;\n"
	"crash*) kill -9 $$ ;;\n"
	"noresult*) exit 0 ;;\n"
	"silent*) exit 4 ;;\n"
	"slow*) exec sleep 30 ;;\n"
	"noisy*)\n"
	"  i=0; while [ $i -lt 300 ]; do echo \"berth: progress line $i of a chatty child\" >&2; i=$((i+1)); done\n"
	"  head -c 100000 /dev/zero | tr '\\0' x; echo\n"
	"  echo '{\"event\":\"result\",\"digest\":\"sha256:" HEX64 "\",\"pulled\":false,\"layers\":1,"
	"\"layersDownloaded\":0,\"bytesDownloaded\":0}'\n"
	"  exit 0 ;;\n"
	"esac\n"
	"exit 1\n";

struct fx {
	char *dir, *berth;
	struct trun_opts o;
};

static int setup(void **state)
{
	struct fx *f = xzalloc(sizeof(*f));
	char tmpl[] = "/tmp/berth-test-tpull.XXXXXX";
	struct berr *err = NULL;

	f->dir = xstrdup(mkdtemp(tmpl));
	f->berth = xasprintf("%s/berth", f->dir);
	if (fs_write_file_atomic(f->berth, fake_berth, strlen(fake_berth), 0755, &err) < 0)
		fail_msg("%s", berr_msg(err));
	trun_opts_init(&f->o);
	f->o.root = f->dir;
	f->o.berth_path = f->berth;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f->dir);
	free(f->berth);
	free(f);
	return 0;
}

static char *slurp(struct fx *f, const char *what, const char *name)
{
	cleanup_free char *path = xasprintf("%s/%s.%s", f->dir, what, name);
	char *buf = NULL;
	size_t len = 0;
	struct berr *err = NULL;

	if (fs_read_file(path, &buf, &len, 1 << 20, &err) < 0)
		fail_msg("%s", berr_msg(err));
	return buf;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The child's process, if it got as far as saying its pid, is gone. */
static bool gone_if_started(struct fx *f, const char *name)
{
	cleanup_free char *path = xasprintf("%s/pid.%s", f->dir, name);
	char buf[32] = "";
	FILE *pf = fopen(path, "r");
	pid_t pid;

	if (pf == NULL)
		return true;
	pid = fgets(buf, sizeof(buf), pf) ? (pid_t)atoi(buf) : 0;
	fclose(pf);
	if (pid <= 0)
		return true;   /* killed between creating the file and writing it */
	return kill(pid, 0) < 0 && errno == ESRCH;
}

static bool gone(struct fx *f, const char *name)
{
	cleanup_free char *s = slurp(f, "pid", name);
	pid_t pid = (pid_t)atoi(s);

	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/* A result line: ok, with what it said; the child gets the options as
 * arguments and an empty signal mask although its parent blocks signals
 * (as taskrun does: SIGCHLD, SIGTERM, ... go to its signalfd). */
static void test_ok_arguments_and_signals(void **state)
{
	struct fx *f = *state;
	const char *insecure[] = { "h:5000", "10.0.2.2:5000", NULL };
	struct trun_pull p = { .image = "ok/app:1", .repository_credentials = "arn:aws:secretsmanager:x" };
	struct berr *err = NULL;
	cleanup_free char *args = NULL, *want = NULL, *sig = NULL;
	sigset_t mask, old;
	char dbuf[ROOTFS_DIGEST_STR];

	f->o.pull_policy = ROOTFS_PULL_ALWAYS;
	f->o.insecure_registries = insecure;
	f->o.registry_credentials = "/etc/creds.json";
	f->o.docker_config = "none";
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	if (trun_pull_images(&f->o, &p, 1, -1, &err) < 0)
		fail_msg("%s", berr_msg(err));
	sigprocmask(SIG_SETMASK, &old, NULL);
	assert_true(p.ok);
	assert_int_equal(p.failure, ROOTFS_PULL_OK);
	assert_null(p.message);
	assert_string_equal(rootfs_digest_str(&p.manifest, dbuf), "sha256:" HEX64);
	assert_true(p.pulled);
	assert_int_equal(p.layers, 2);
	assert_int_equal(p.layers_downloaded, 1);
	assert_int_equal(p.bytes_downloaded, 1234);

	args = slurp(f, "args", "ok_app_1");
	want = xasprintf("--root\n%s\nimage\npull\n--progress\njson\n--policy\nalways\n"
			 "--insecure-registry\nh:5000\n--insecure-registry\n10.0.2.2:5000\n"
			 "--credentials\n/etc/creds.json\n--docker-config\nnone\n"
			 "--repository-credentials\narn:aws:secretsmanager:x\n--\nok/app:1\n", f->dir);
	assert_string_equal(args, want);
	sig = slurp(f, "sig", "ok_app_1");
	{
		/* SIGTERM and SIGINT not blocked (bash itself may block SIGCHLD
		 * around the fork that reads its status) */
		unsigned long long blk = ~0ULL;

		assert_int_equal(sscanf(sig, "SigBlk: %llx", &blk), 1);
		if (blk & ((1ULL << (SIGTERM - 1)) | (1ULL << (SIGINT - 1))))
			fail_msg("the pull child inherited blocked signals: %s", sig);
	}
	assert_true(gone(f, "ok_app_1"));
	trun_pulls_free(&p, 1);

	/* the default policy is if-not-present; no optional flags by default */
	{
		struct trun_opts o;
		struct trun_pull q = { .image = "ok/b" };
		cleanup_free char *a2 = NULL, *w2 = NULL;

		trun_opts_init(&o);
		assert_int_equal(o.pull_policy, ROOTFS_PULL_IF_NOT_PRESENT);
		o.root = f->dir;
		o.berth_path = f->berth;
		assert_int_equal(trun_pull_images(&o, &q, 1, -1, &err), 0);
		assert_true(q.ok);
		a2 = slurp(f, "args", "ok_b");
		w2 = xasprintf("--root\n%s\nimage\npull\n--progress\njson\n--policy\nif-not-present\n--\nok/b\n", f->dir);
		assert_string_equal(a2, w2);
		trun_pulls_free(&q, 1);
	}
}

static void one(struct fx *f, const char *image, struct trun_pull *p)
{
	struct berr *err = NULL;

	memset(p, 0, sizeof(*p));
	p->image = image;
	if (trun_pull_images(&f->o, p, 1, -1, &err) < 0)
		fail_msg("%s: %s", image, berr_msg(err));
	assert_false(p->ok);
	assert_non_null(p->message);
}

/* Every way a pull fails says why, in its own words where it has some. */
static void test_failures(void **state)
{
	struct fx *f = *state;
	struct trun_pull p;

	/* the JSON error line: its kind and message */
	one(f, "notfound", &p);
	assert_int_equal(p.failure, ROOTFS_PULL_FAIL_NOT_FOUND);
	assert_string_equal(p.message, "pull docker.io/library/notfound:latest: registry docker.io: manifest latest: not found");
	trun_pulls_free(&p, 1);
	/* only stderr and an exit code: the code's kind, the last line */
	one(f, "quiet", &p);
	assert_int_equal(p.failure, ROOTFS_PULL_FAIL_UNREACHABLE);
	assert_string_equal(p.message, "registry h:1: Could not connect");
	trun_pulls_free(&p, 1);
	one(f, "silent", &p);
	assert_int_equal(p.failure, ROOTFS_PULL_FAIL_AUTH);
	assert_string_equal(p.message, "the pull exited with status 4 and said nothing");
	trun_pulls_free(&p, 1);
	/* killed */
	one(f, "crash", &p);
	assert_int_equal(p.failure, ROOTFS_PULL_FAIL_OTHER);
	assert_string_equal(p.message, "the pull was killed by signal 9");
	trun_pulls_free(&p, 1);
	/* exit 0 but no result line */
	one(f, "noresult", &p);
	assert_int_equal(p.failure, ROOTFS_PULL_FAIL_OTHER);
	assert_string_equal(p.message, "the pull gave no result");
	trun_pulls_free(&p, 1);
}

/* Lots of stderr and an overlong stdout line do not disturb the result. */
static void test_noisy_child(void **state)
{
	struct fx *f = *state;
	struct trun_pull p = { .image = "noisy" };
	struct berr *err = NULL;

	assert_int_equal(trun_pull_images(&f->o, &p, 1, -1, &err), 0);
	assert_true(p.ok);
	assert_false(p.pulled);
	assert_int_equal(p.layers, 1);
	trun_pulls_free(&p, 1);
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	struct trun_pull p = { .image = "slow" };
	struct berr *err = NULL;
	double t0 = mono();

	f->o.pull_timeout_ms = 1500;
	assert_int_equal(trun_pull_images(&f->o, &p, 1, -1, &err), 0);
	assert_true(mono() - t0 >= 1.4);   /* the deadline is kept in whole ms */
	assert_true(mono() - t0 < 8);
	assert_false(p.ok);
	assert_non_null(strstr(p.message, "timed out after 1.5 s"));
	assert_true(gone(f, "slow"));
	trun_pulls_free(&p, 1);
}

/* A stop while pulling: -ECANCELED at once, the child killed and reaped. */
static void test_stop(void **state)
{
	struct fx *f = *state;
	struct trun_pull p = { .image = "slow" };
	struct berr *err = NULL;
	int pfd[2];
	pid_t w;
	double t0 = mono();

	assert_int_equal(pipe(pfd), 0);
	w = fork();
	assert_true(w >= 0);
	if (w == 0) {
		/* once the child runs (it says its pid), stop */
		cleanup_free char *pidf = xasprintf("%s/pid.slow", f->dir);

		for (int i = 0; i < 500 && access(pidf, F_OK) < 0; i++)
			usleep(10000);
		usleep(100000);
		_exit(write(pfd[1], "x", 1) == 1 ? 0 : 1);
	}
	assert_int_equal(trun_pull_images(&f->o, &p, 1, pfd[0], &err), -ECANCELED);
	assert_true(mono() - t0 < 5);
	assert_false(p.ok);
	assert_non_null(strstr(p.message, "stopped"));
	assert_true(gone(f, "slow"));
	waitpid(w, NULL, 0);
	close(pfd[0]);
	close(pfd[1]);
	trun_pulls_free(&p, 1);
}

/* Two images at once: when one fails the other is not waited for. */
static void test_one_fails_other_killed(void **state)
{
	struct fx *f = *state;
	struct trun_pull p[3] = { { .image = "slow" }, { .image = "notfound" }, { .image = "ok/c" } };
	struct berr *err = NULL;
	double t0 = mono();

	assert_int_equal(trun_pull_images(&f->o, p, 3, -1, &err), 0);
	assert_true(mono() - t0 < 5);
	assert_false(p[0].ok);
	assert_true(p[0].cancelled);
	assert_non_null(strstr(p[0].message, "another image"));
	assert_false(p[1].cancelled);
	assert_false(p[1].ok);
	assert_int_equal(p[1].failure, ROOTFS_PULL_FAIL_NOT_FOUND);
	assert_true(gone_if_started(f, "slow"));
	trun_pulls_free(p, 3);
}

static void test_no_berth(void **state)
{
	struct fx *f = *state;
	struct trun_pull p = { .image = "ok/x" };
	struct berr *err = NULL;

	f->o.berth_path = "/nonexistent/berth";
	assert_int_equal(trun_pull_images(&f->o, &p, 1, -1, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "/nonexistent/berth"));
	assert_non_null(strstr(berr_msg(err), "berthPath"));
	berr_clear(&err);
	trun_pulls_free(&p, 1);
}

static void test_repository_credentials(void **state)
{
	static const char td[] =
		"{\"family\":\"f\",\"containerDefinitions\":["
		"{\"name\":\"a\",\"image\":\"x\"},"
		"{\"name\":\"b\",\"image\":\"y\",\"repositoryCredentials\":{\"credentialsParameter\":\"arn:p\"}},"
		"{\"name\":\"c\",\"image\":\"z\",\"repositoryCredentials\":{}}]}";
	cleanup_strv char **v = trun_repository_credentials(td, strlen(td));

	(void)state;
	assert_non_null(v);
	assert_string_equal(v[0], "b");
	assert_string_equal(v[1], "arn:p");
	assert_null(v[2]);
	assert_null(trun_repository_credentials("{\"containerDefinitions\":[{\"name\":\"a\"}]}", 38));
	assert_null(trun_repository_credentials("not json", 8));
}

/* berth-shim's config.json keys for pulls reach taskrun's options. */
static void test_shim_config_keys(void **state)
{
	static const char base[] =
		"{\"taskId\":\"0123456789abcdef0123456789abcdef\",\"taskDefinition\":{\"family\":\"f\","
		"\"containerDefinitions\":[{\"name\":\"web\",\"image\":\"r:5000/a\","
		"\"repositoryCredentials\":{\"credentialsParameter\":\"arn:s\"}}]}";
	struct shim_config c;
	struct trun_opts o;
	struct berr *err = NULL;
	cleanup_free char *good = xasprintf("%s,\"berthPath\":\"/opt/berth\",\"imagePullPolicy\":\"always\","
					    "\"insecureRegistries\":[\"r:5000\",\"10.0.2.2:5000\"],"
					    "\"registryCredentials\":\"/etc/c.json\",\"dockerConfig\":\"none\","
					    "\"imagePullTimeoutSeconds\":90}", base);
	static const struct { const char *extra, *msg; } bad[] = {
		{ ",\"imagePullPolicy\":\"sometimes\"}", "imagePullPolicy: \"sometimes\": use always, if-not-present or never" },
		{ ",\"dockerConfig\":\"rel/config.json\"}", "dockerConfig: \"rel/config.json\" is not an absolute path" },
		{ ",\"berthPath\":\"berth\"}", "berthPath: \"berth\" is not an absolute path" },
		{ ",\"insecureRegistries\":[5]}", "insecureRegistries[0]: expected string" },
		{ ",\"imagePullTimeoutSeconds\":0}", "imagePullTimeoutSeconds" },
	};

	(void)state;
	/* defaults: if-not-present, no registries, the CLI's credentials */
	{
		cleanup_free char *plain = xasprintf("%s}", base);

		shim_config_init(&c);
		if (shim_config_parse("config.json", plain, strlen(plain), &c, &err) < 0)
			fail_msg("%s", berr_msg(err));
		trun_opts_init(&o);
		shim_config_opts(&c, "/run/b", &o);
		assert_int_equal(o.pull_policy, ROOTFS_PULL_IF_NOT_PRESENT);
		assert_null(o.berth_path);
		assert_null(o.insecure_registries[0]);
		assert_null(o.registry_credentials);
		assert_null(o.docker_config);
		assert_int_equal(o.pull_timeout_ms, 0);
		assert_string_equal(o.repository_credentials[0], "web");
		assert_string_equal(o.repository_credentials[1], "arn:s");
		shim_config_free(&c);
	}
	shim_config_init(&c);
	if (shim_config_parse("config.json", good, strlen(good), &c, &err) < 0)
		fail_msg("%s", berr_msg(err));
	trun_opts_init(&o);
	shim_config_opts(&c, "/run/b", &o);
	assert_string_equal(o.berth_path, "/opt/berth");
	assert_int_equal(o.pull_policy, ROOTFS_PULL_ALWAYS);
	assert_string_equal(o.insecure_registries[0], "r:5000");
	assert_string_equal(o.insecure_registries[1], "10.0.2.2:5000");
	assert_null(o.insecure_registries[2]);
	assert_string_equal(o.registry_credentials, "/etc/c.json");
	assert_string_equal(o.docker_config, "none");
	assert_int_equal(o.pull_timeout_ms, 90000);
	shim_config_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cleanup_free char *doc = xasprintf("%s%s", base, bad[i].extra);

		shim_config_init(&c);
		assert_true(shim_config_parse("config.json", doc, strlen(doc), &c, &err) < 0);
		if (!strstr(berr_msg(err), bad[i].msg))
			fail_msg("%s: said \"%s\"", bad[i].extra, berr_msg(err));
		berr_clear(&err);
		shim_config_free(&c);
	}
}

/* ------------------------------------- trun_run, in user namespaces */

/* The task's side (taskrun in new user, mount and network namespaces a
 * forked child makes, as test_taskrun_hooks.c does): its states go back as
 * snapshot lines; ctl is a pipe the state hook writes "stop" into once it
 * sees the pull running (stop_in_pull). */
static struct fx *ns_fx;
static const char *ns_doc;
static bool stop_in_pull;

struct nsrec {
	int out, ctl[2];
	uint64_t seq;
	bool asked;
};

static void ns_state(void *arg, const struct trun_state *st)
{
	struct nsrec *r = arg;
	json_t *msg = shim_snapshot(st, ++r->seq, 0);
	char *txt = bjson_dumps(msg);

	dprintf(r->out, "%s\n", txt);
	free(txt);
	json_decref(msg);
	if (stop_in_pull && !r->asked && st->status == TRUN_PROVISIONING && st->pull_started_at > 0) {
		r->asked = true;
		if (write(r->ctl[1], "s", 1) != 1)
			abort();
	}
}

static bool ns_ctl(void *arg, const char **code, char **reason)
{
	struct nsrec *r = arg;
	char c;

	if (read(r->ctl[0], &c, 1) != 1)
		return false;
	*code = NULL;
	*reason = xstrdup("stopped while pulling");
	return true;
}

static int ns_run(int out)
{
	struct task_def *td = NULL;
	struct trun_result res;
	struct trun_opts o;
	struct berr *err = NULL;
	struct nsrec r = { .out = out };
	cleanup_free char *root = xasprintf("%s/root", ns_fx->dir), *run = xasprintf("%s/run", ns_fx->dir);
	int rc;

	if (task_def_parse(ns_doc, strlen(ns_doc), "t", TASK_MODE_EC2, &td, &err) < 0) {
		dprintf(out, "ERROR %s\n", berr_msg(err));
		return 1;
	}
	if (pipe2(r.ctl, O_CLOEXEC | O_NONBLOCK) < 0)
		return 1;
	trun_opts_init(&o);
	o.root = root;
	o.run_dir = run;
	o.log_dir = NULL;
	o.no_limits = true;
	o.storage = TRUN_STORAGE_TMPFS;
	o.task_id = "0123456789abcdef0123456789abcdef";
	o.quiet = true;
	o.berth_path = ns_fx->berth;
	o.on_state = ns_state;
	o.state_arg = &r;
	o.ctl_fd = r.ctl[0];
	o.on_ctl = ns_ctl;
	o.ctl_arg = &r;
	rc = trun_run(td, &o, &res, &err);
	dprintf(out, "RC %d %s\n", rc, rc < 0 ? berr_msg(err) : "");
	trun_result_free(&res);
	task_def_free(td);
	return 0;
}

/* The snapshots (JSON lines) and trun_run's "RC n message" line. */
static json_t *ns_go(struct fx *f, const char *doc, char **rc_line)
{
	cleanup_free char *out = NULL;
	json_t *msgs = json_array();
	char *p, *save = NULL;
	int st;

	ns_fx = f;
	ns_doc = doc;
	/* the namespace's root must own the work space (as real root it is
	 * host uid MAP_BASE) */
	if (geteuid() == 0) {
		assert_int_equal(chown(f->dir, MAP_BASE, MAP_BASE), 0);
		assert_int_equal(chown(f->berth, MAP_BASE, MAP_BASE), 0);
	}
	st = in_userns_flags(ns_run, &out, 0);
	if (st != 0)
		fail_msg("child exit %d: %s", st, out);
	*rc_line = NULL;
	for (p = strtok_r(out, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(p, "ERROR", 5))
			fail_msg("%s", p);
		if (!strncmp(p, "RC ", 3)) {
			*rc_line = xstrdup(p);
			continue;
		}
		json_array_append_new(msgs, json_loads(p, 0, NULL));
	}
	assert_non_null(*rc_line);
	return msgs;
}

static json_t *snap(json_t *msgs, size_t i)
{
	return json_object_get(json_array_get(msgs, i), "task");
}

static const char *snap_str(json_t *t, const char *k)
{
	const char *v = json_string_value(json_object_get(t, k));

	return v ? v : "";
}

/* A task whose image cannot be pulled: PROVISIONING with pullStartedAt
 * while the pull runs, then STOPPED, TaskFailedToStart, the reason in
 * ECS's words on the task and on the containers of that image; the other
 * image's pull is not waited for. */
static void test_task_pull_fails(void **state)
{
	struct fx *f = *state;
	cleanup_free char *rc = NULL;
	json_t *msgs, *last, *c;
	const char *want = "CannotPullContainerError: pull image \"notfound/x\" (container a): not found: "
			   "registry docker.io: manifest latest: not found";
	size_t n;

	msgs = ns_go(f, "{\"family\":\"f\",\"networkMode\":\"none\",\"containerDefinitions\":["
		     "{\"name\":\"b\",\"image\":\"slow/y\",\"memory\":32},"
		     "{\"name\":\"a\",\"image\":\"notfound/x\",\"memory\":32},"
		     "{\"name\":\"c\",\"image\":\"notfound/x\",\"memory\":32,\"essential\":false}]}", &rc);
	n = json_array_size(msgs);
	assert_int_equal(n, 4);
	assert_string_equal(snap_str(snap(msgs, 1), "lastStatus"), "PROVISIONING");
	assert_true(json_real_value(json_object_get(snap(msgs, 1), "pullStartedAt")) > 0);
	assert_null(json_object_get(snap(msgs, 1), "pullStoppedAt"));
	last = snap(msgs, n - 1);
	assert_string_equal(snap_str(last, "lastStatus"), "STOPPED");
	assert_string_equal(snap_str(last, "stopCode"), "TaskFailedToStart");
	assert_string_equal(snap_str(last, "stoppedReason"), want);
	assert_null(json_object_get(last, "startedAt"));
	/* the reason is the failed pull's, not the one killed for it */
	c = json_object_get(last, "containers");
	assert_null(json_object_get(json_array_get(c, 0), "reason"));
	assert_string_equal(snap_str(json_array_get(c, 1), "reason"), want);
	assert_string_equal(snap_str(json_array_get(c, 2), "reason"), want);
	assert_true(strncmp(rc, "RC -", 4) == 0);
	assert_non_null(strstr(rc, want));
	/* one child per image; the slow one was killed */
	assert_true(gone_if_started(f, "slow_y"));
	json_decref(msgs);
}

/* A stop while the images are pulled: the pull is killed, the task stops
 * with the stop's code and reason, no failure, nothing started. */
static void test_task_stop_during_pull(void **state)
{
	struct fx *f = *state;
	cleanup_free char *rc = NULL;
	json_t *msgs, *last;
	double t0 = mono();

	stop_in_pull = true;
	msgs = ns_go(f, "{\"family\":\"f\",\"networkMode\":\"none\",\"containerDefinitions\":["
		     "{\"name\":\"a\",\"image\":\"slow/x\",\"memory\":32}]}", &rc);
	stop_in_pull = false;
	assert_true(mono() - t0 < 10);
	last = snap(msgs, json_array_size(msgs) - 1);
	assert_string_equal(snap_str(last, "lastStatus"), "STOPPED");
	assert_string_equal(snap_str(last, "stopCode"), "UserInitiated");
	assert_string_equal(snap_str(last, "stoppedReason"), "stopped while pulling");
	assert_null(json_object_get(last, "startedAt"));
	assert_null(json_object_get(json_array_get(json_object_get(last, "containers"), 0), "reason"));
	assert_string_equal(rc, "RC 0 ");
	assert_true(gone_if_started(f, "slow_x"));
	json_decref(msgs);
}

/* ---------------------------------------------------- the real thing */

/* N containers' pulls of one new image at once, through the real berth
 * CLI: with if-not-present one downloads, the others find it; each layer
 * blob leaves the registry once. Then a tag the registry lacks. */
static void test_real_cli_concurrent(void **state)
{
	enum { N = 3 };
	struct fx *f = *state;
	const char *bin = getenv("BERTH_BINARY_DIR");
	cleanup_free char *berth = NULL, *img_path = NULL, *src = NULL, *ref = NULL, *bad = NULL;
	cleanup_free char *root = NULL, *store_path = NULL;
	const char *insecure[2] = { NULL, NULL };
	struct trun_pull p[N];
	struct rootfs_store *s = NULL;
	struct rootfs_image img = { 0 };
	struct berr *err = NULL;
	struct reg r;
	struct stat st;
	uint64_t total = 0, sum = 0;
	int pulled = 0;

	src_dir = getenv("BERTH_SOURCE_DIR");
	if (!bin || !src_dir)
		fail_msg("BERTH_BINARY_DIR / BERTH_SOURCE_DIR not set (run through ctest)");
	berth = xasprintf("%s/bin/berth", bin);
	img_path = xasprintf("%s/images/helper.oci.tar", bin);
	if (registry_tools_missing() || stat(berth, &st) < 0 || stat(img_path, &st) < 0)
		skip();
	reg_setup(&r, NULL);
	src = xasprintf("oci-archive:%s", img_path);
	push(&r, src, "berth-test/helper:1", NULL, false);
	ref = xasprintf("%s/berth-test/helper:1", r.hostport);
	root = xasprintf("%s/root", r.dir);
	insecure[0] = r.hostport;
	f->o.root = root;
	f->o.berth_path = berth;
	f->o.insecure_registries = insecure;
	f->o.docker_config = "none";
	for (int i = 0; i < N; i++)
		p[i] = (struct trun_pull){ .image = ref };
	if (trun_pull_images(&f->o, p, N, -1, &err) < 0)
		fail_msg("%s", berr_msg(err));
	for (int i = 0; i < N; i++) {
		if (!p[i].ok)
			fail_msg("pull %d: %s", i, p[i].message);
		assert_true(rootfs_digest_eq(&p[i].manifest, &p[0].manifest));
		pulled += p[i].pulled;
		sum += p[i].bytes_downloaded;
	}
	assert_int_equal(pulled, 1);
	store_path = xasprintf("%s/images", root);
	if (rootfs_store_open(store_path, &s, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(rootfs_store_get_image(s, &p[0].manifest, &img, &err), 0);
	for (size_t i = 0; i < img.n_layers; i++) {
		char dbuf[ROOTFS_DIGEST_STR];

		total += (uint64_t)img.layers[i].size;
		assert_true(rootfs_store_has_layer(s, &img.layers[i].chain));
		assert_int_equal(reg_blob_gets(&r, "berth-test/helper", rootfs_digest_str(&img.layers[i].blob, dbuf)), 1);
	}
	assert_int_equal(sum, total);
	rootfs_image_free(&img);
	rootfs_store_close(s);
	trun_pulls_free(p, N);

	/* a tag the registry does not have: not found, in the CLI's words */
	bad = xasprintf("%s/berth-test/helper:nope", r.hostport);
	p[0] = (struct trun_pull){ .image = bad };
	assert_int_equal(trun_pull_images(&f->o, p, 1, -1, &err), 0);
	assert_false(p[0].ok);
	assert_int_equal(p[0].failure, ROOTFS_PULL_FAIL_NOT_FOUND);
	assert_non_null(strstr(p[0].message, "berth-test/helper:nope"));
	trun_pulls_free(p, 1);
	reg_teardown(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_arguments_and_signals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_noisy_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_fails_other_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_berth, setup, teardown),
		cmocka_unit_test(test_repository_credentials),
		cmocka_unit_test(test_shim_config_keys),
		cmocka_unit_test_setup_teardown(test_task_pull_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_task_stop_during_pull, setup, teardown),
		cmocka_unit_test_setup_teardown(test_real_cli_concurrent, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
