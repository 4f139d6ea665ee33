/* Unit tests for berth exec's parts: the exec request of the shim protocol
 * (parsing, validation, the fds that come with it), the shim server's exec
 * path over socketpairs with a fake task (answers, exit codes, snapshots no
 * longer sent to an exec session, a client that goes away kills its
 * process, signal requests delivered to real child processes by pidfd and
 * by pid, ignored once the process has ended), the client's message
 * parser, and the whole path for real (signals to the `berth exec` binary
 * reach the process, with and without -t, and berth exits with its code).
 *
 * The real path runs berth-shim with a task inside user, mount and network
 * namespaces a forked child makes (root there; as root the namespace's 0
 * is host uid 100000): the test image imported into a temp store, tmpfs
 * storage, no cgroups, network "none". Exec'd processes are started
 * through the shim socket (shimclient) and through the `berth exec` binary
 * (also on a pty of the test's, for raw mode, the window size and
 * SIGWINCH). Nothing outside the temp dir and those namespaces is
 * touched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "rootfs/import.h"
#include "rootfs/store.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/shimclient.h"

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

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/berth-exec-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
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

static int parse_req(const char *doc, struct shim_request *req, struct berr **err)
{
	cleanup_free char *j = jq(doc);

	return shim_request_parse(j, strlen(j), req, err);
}

/* ------------------------------------------------------------ requests */

static void test_exec_parse(void **state)
{
	struct shim_request req;
	struct berr *err = NULL;

	assert_int_equal(parse_req("{'op':'exec','container':'web_1-a','argv':['sh','-c','echo hi'],"
				   "'env':['A=1','B=','C=x=y'],'user':'app:2000','workdir':'/srv','tty':true}",
				   &req, &err), 0);
	assert_int_equal(req.op, SHIM_OP_EXEC);
	assert_string_equal(req.exec.container, "web_1-a");
	assert_string_equal(req.exec.argv[0], "sh");
	assert_string_equal(req.exec.argv[2], "echo hi");
	assert_null(req.exec.argv[3]);
	assert_string_equal(req.exec.env[1], "B=");
	assert_string_equal(req.exec.env[2], "C=x=y");
	assert_null(req.exec.env[3]);
	assert_string_equal(req.exec.user, "app:2000");
	assert_string_equal(req.exec.workdir, "/srv");
	assert_true(req.exec.tty);
	assert_int_equal(req.fds[0], -1);
	shim_request_free(&req);

	/* the defaults: the essential container, no env, the container's user */
	assert_int_equal(parse_req("{'op':'exec','argv':['id']}", &req, &err), 0);
	assert_null(req.exec.container);
	assert_null(req.exec.env);
	assert_null(req.exec.user);
	assert_null(req.exec.workdir);
	assert_false(req.exec.tty);
	shim_request_free(&req);
	assert_int_equal(parse_req("{'op':'exec','argv':['id'],'container':null,'env':[]}", &req, &err), 0);
	assert_null(req.exec.container);
	assert_non_null(req.exec.env);
	assert_null(req.exec.env[0]);
	shim_request_free(&req);
}

static void test_exec_parse_errors(void **state)
{
	static const struct { const char *doc; const char *want; } bad[] = {
		{ "{'op':'exec'}", "request.argv: required" },
		{ "{'op':'exec','argv':[]}", "request.argv: empty" },
		{ "{'op':'exec','argv':'id'}", "request.argv: expected array" },
		{ "{'op':'exec','argv':['']}", "request.argv[0]: empty" },
		{ "{'op':'exec','argv':['a',3]}", "request.argv[1]: expected string" },
		{ "{'op':'exec','argv':['id'],'env':['NOEQUALS']}", "request.env[0]: \"NOEQUALS\" is not NAME=value" },
		{ "{'op':'exec','argv':['id'],'env':['A=1','=x']}", "request.env[1]" },
		{ "{'op':'exec','argv':['id'],'container':'a/b'}", "request.container: \"a/b\" is not a container name" },
		{ "{'op':'exec','argv':['id'],'container':''}", "is not a container name" },
		{ "{'op':'exec','argv':['id'],'container':7}", "request.container: expected string" },
		{ "{'op':'exec','argv':['id'],'workdir':'srv'}", "request.workdir: \"srv\" is not an absolute path" },
		{ "{'op':'exec','argv':['id'],'user':''}", "request.user" },
		{ "{'op':'exec','argv':['id'],'tty':'yes'}", "request.tty: expected boolean" },
		{ "{'op':'exec','argv':['id'],'cmd':['x']}", "request: cmd: unknown key for op exec" },
		{ "{'op':'stop','argv':['x']}", "request: argv: unknown key for op stop" },
	};
	struct shim_request req;
	struct berr *err = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_req(bad[i].doc, &req, &err) >= 0)
			fail_msg("request %zu (%s) was accepted", i, bad[i].doc);
		if (!strstr(berr_msg(err), bad[i].want))
			fail_msg("request %zu: error \"%s\" does not hold \"%s\"", i, berr_msg(err), bad[i].want);
		/* an exec that fails to parse is still answered as one */
		if (strstr(bad[i].doc, "'op':'exec'"))
			assert_int_equal(req.op, SHIM_OP_EXEC);
		shim_request_free(&req);
		berr_clear(&err);
	}
	/* too many arguments */
	{
		size_t n = SHIM_EXEC_MAX_ARGS + 1;
		char *doc = xstrdup("{\"op\":\"exec\",\"argv\":[\"x\"");

		for (size_t i = 1; i < n; i++) {
			char *more = xasprintf("%s,\"a\"", doc);

			free(doc);
			doc = more;
		}
		{
			char *more = xasprintf("%s]}", doc);

			free(doc);
			doc = more;
		}
		assert_true(shim_request_parse(doc, strlen(doc), &req, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "more than 4096 entries"));
		berr_clear(&err);
		free(doc);
	}
}

/* {"op":"signal","signal":N}: the number, its range, nothing else, no fds. */
static void test_signal_parse(void **state)
{
	static const struct { const char *doc; const char *want; } bad[] = {
		{ "{'op':'signal'}", "request.signal: required" },
		{ "{'op':'signal','signal':0}", "request.signal: 0 out of range [1, 64]" },
		{ "{'op':'signal','signal':65}", "request.signal: 65 out of range [1, 64]" },
		{ "{'op':'signal','signal':-15}", "out of range" },
		{ "{'op':'signal','signal':'TERM'}", "request.signal: expected integer" },
		{ "{'op':'signal','signal':15.0}", "request.signal: expected integer" },
		{ "{'op':'signal','signal':15,'pid':1}", "request: pid: unknown key for op signal" },
	};
	struct shim_request req;
	struct berr *err = NULL;
	int p[2], fds[1];

	assert_int_equal(parse_req("{'op':'signal','signal':15}", &req, &err), 0);
	assert_int_equal(req.op, SHIM_OP_SIGNAL);
	assert_int_equal(req.signal, SIGTERM);
	/* it takes no fds */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[0] = p[0];
	assert_true(shim_request_take_fds(&req, fds, 1, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "op signal takes no file descriptors (got 1)"));
	berr_clear(&err);
	assert_int_equal(fds[0], p[0]);   /* still the caller's */
	assert_int_equal(shim_request_take_fds(&req, fds, 0, &err), 0);
	shim_request_free(&req);
	close(p[0]);
	close(p[1]);
	assert_int_equal(parse_req("{'op':'signal','signal':64}", &req, &err), 0);
	assert_int_equal(req.signal, 64);
	shim_request_free(&req);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_req(bad[i].doc, &req, &err) >= 0)
			fail_msg("request %zu (%s) was accepted", i, bad[i].doc);
		if (!strstr(berr_msg(err), bad[i].want))
			fail_msg("request %zu: error \"%s\" does not hold \"%s\"", i, berr_msg(err), bad[i].want);
		/* answered as a signal request (InvalidRequest) */
		assert_int_equal(req.op, SHIM_OP_SIGNAL);
		shim_request_free(&req);
		berr_clear(&err);
	}
	/* the unknown-op message lists it */
	assert_true(parse_req("{'op':'kill'}", &req, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "(state, stop, exec, signal)"));
	berr_clear(&err);
}

static void test_exec_fds(void **state)
{
	struct shim_request req;
	struct berr *err = NULL;
	int p[2], fds[3], m, s;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* three for a plain exec: moved into the request */
	assert_int_equal(parse_req("{'op':'exec','argv':['id']}", &req, &err), 0);
	fds[0] = dup(p[0]);
	fds[1] = dup(p[1]);
	assert_true(shim_request_take_fds(&req, fds, 1, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "exec takes 3 file descriptors (stdin, stdout, stderr), got 1"));
	berr_clear(&err);
	assert_true(fds[0] >= 0);   /* still the caller's */
	fds[2] = dup(p[1]);
	assert_int_equal(shim_request_take_fds(&req, fds, 3, &err), 0);
	assert_int_equal(fds[0], -1);
	assert_int_equal(fds[2], -1);
	assert_true(req.fds[0] >= 0 && req.fds[1] >= 0 && req.fds[2] >= 0);
	/* shim_request_free closes them */
	{
		int keep = req.fds[1];

		shim_request_free(&req);
		assert_int_equal(fcntl(keep, F_GETFD), -1);
		assert_int_equal(errno, EBADF);
	}

	/* with tty: exactly one, a terminal */
	assert_int_equal(parse_req("{'op':'exec','argv':['id'],'tty':true}", &req, &err), 0);
	fds[0] = p[0];
	assert_true(shim_request_take_fds(&req, fds, 1, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "not a terminal"));
	berr_clear(&err);
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(s >= 0);
	fds[0] = s;
	fds[1] = p[1];
	assert_true(shim_request_take_fds(&req, fds, 2, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "exec with tty takes 1 file descriptor (the terminal), got 2"));
	berr_clear(&err);
	assert_int_equal(shim_request_take_fds(&req, fds, 1, &err), 0);
	assert_int_equal(req.fds[0], s);
	shim_request_free(&req);
	close(m);

	/* the other operations take none */
	assert_int_equal(parse_req("{'op':'state'}", &req, &err), 0);
	assert_int_equal(shim_request_take_fds(&req, fds, 0, &err), 0);
	fds[0] = p[0];
	assert_true(shim_request_take_fds(&req, fds, 1, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "op state takes no file descriptors"));
	berr_clear(&err);
	shim_request_free(&req);
	close(p[0]);
	close(p[1]);
}

static void test_exec_codes(void **state)
{
	assert_string_equal(shim_exec_error_code(TRUN_EXEC_BAD_REQUEST), "InvalidRequest");
	assert_string_equal(shim_exec_error_code(TRUN_EXEC_NO_CONTAINER), "ContainerNotFound");
	assert_string_equal(shim_exec_error_code(TRUN_EXEC_NOT_RUNNING), "NotRunning");
	assert_string_equal(shim_exec_error_code(TRUN_EXEC_BUSY), "Busy");
	assert_string_equal(shim_exec_error_code(TRUN_EXEC_NOT_FOUND), "CommandNotFound");
	assert_string_equal(shim_exec_error_code(TRUN_EXEC_CANNOT_RUN), "CannotExecute");
}

static void test_client_msgs(void **state)
{
	static const struct { const char *doc; const char *want; } bad[] = {
		{ "{'type':'exec-started'}", "pid: required" },
		{ "{'type':'exec-exit','exitCode':256}", "out of range" },
		{ "{'type':'exec-exit'}", "exitCode: required" },
		{ "{'type':'exec-gone'}", "type \"exec-gone\" unknown" },
		{ "[1]", "expected object" },
	};
	struct shimc_msg m;
	struct berr *err = NULL;
	char *j;

	j = jq("{'type':'exec-started','pid':4242,'container':'web'}");
	assert_int_equal(shimc_parse_msg(j, strlen(j), &m, &err), 0);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_STARTED);
	assert_int_equal(m.pid, 4242);
	assert_string_equal(m.container, "web");
	shimc_msg_free(&m);
	free(j);
	j = jq("{'type':'exec-exit','exitCode':137}");
	assert_int_equal(shimc_parse_msg(j, strlen(j), &m, &err), 0);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_EXIT);
	assert_int_equal(m.exit_code, 137);
	shimc_msg_free(&m);
	free(j);
	j = jq("{'type':'error','message':'no container','code':'ContainerNotFound'}");
	assert_int_equal(shimc_parse_msg(j, strlen(j), &m, &err), 0);
	assert_int_equal(m.type, SHIMC_MSG_ERROR);
	assert_string_equal(m.message, "no container");
	assert_string_equal(m.code, "ContainerNotFound");
	shimc_msg_free(&m);
	free(j);
	j = jq("{'type':'error','message':'bad'}");
	assert_int_equal(shimc_parse_msg(j, strlen(j), &m, &err), 0);
	assert_null(m.code);
	shimc_msg_free(&m);
	free(j);
	j = jq("{'type':'state','seq':1,'task':{}}");
	assert_int_equal(shimc_parse_msg(j, strlen(j), &m, &err), 0);
	assert_int_equal(m.type, SHIMC_MSG_STATE);
	shimc_msg_free(&m);
	free(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = jq(bad[i].doc);
		if (shimc_parse_msg(j, strlen(j), &m, &err) >= 0)
			fail_msg("message %zu (%s) was accepted", i, bad[i].doc);
		if (!strstr(berr_msg(err), bad[i].want))
			fail_msg("message %zu: \"%s\" does not hold \"%s\"", i, berr_msg(err), bad[i].want);
		berr_clear(&err);
		free(j);
	}
}

/* ----------------------------------------------- the server, fake task */

struct fake {
	int starts, kills;
	uint64_t next_id, killed;
	enum trun_exec_status fail;     /* != OK: refuse with this */
	char argv0[64], argv1[64], container[64], user[64], workdir[64], env0[64];
	bool tty, env_set;
	bool same_tty_fds;              /* tty: stdin, stdout, stderr the same fd */
	int marks;                      /* what was written into the stdout fd */
};

static int fake_start(void *task, const struct trun_exec_req *req, struct trun_exec_info *info,
		      enum trun_exec_status *why, struct berr **err)
{
	struct fake *f = task;

	f->starts++;
	if (f->fail != TRUN_EXEC_OK) {
		*why = f->fail;
		return berr_set(err, ESRCH, "container web is not RUNNING (STOPPED)");
	}
	snprintf(f->argv0, sizeof(f->argv0), "%s", req->argv[0]);
	snprintf(f->argv1, sizeof(f->argv1), "%s", req->argv[1] ? req->argv[1] : "");
	snprintf(f->container, sizeof(f->container), "%s", req->container ? req->container : "(null)");
	snprintf(f->user, sizeof(f->user), "%s", req->user ? req->user : "(null)");
	snprintf(f->workdir, sizeof(f->workdir), "%s", req->workdir ? req->workdir : "(null)");
	f->env_set = req->env != NULL;
	snprintf(f->env0, sizeof(f->env0), "%s", req->env && req->env[0] ? req->env[0] : "");
	f->tty = req->tty;
	f->same_tty_fds = req->stdin_fd == req->stdout_fd && req->stdout_fd == req->stderr_fd;
	/* the process's stdout is the client's: write through it */
	if (req->stdout_fd >= 0 && write(req->stdout_fd, "out!", 4) == 4)
		f->marks++;
	if (!req->on_exit)
		return berr_set(err, EINVAL, "no on_exit");
	*why = TRUN_EXEC_OK;
	*info = (struct trun_exec_info){ .id = ++f->next_id, .container = "web", .pid = 4000 + f->starts,
					 .pidfd = -1 };
	return 0;
}

static int fake_kill(void *task, uint64_t id)
{
	struct fake *f = task;

	f->kills++;
	f->killed = id;
	return 0;
}

static const struct shim_exec_ops fake_ops = { .start = fake_start, .kill = fake_kill };

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* The next message on fd (the server has served already), any type. */
static void next_msg(int fd, struct shimc_msg *m)
{
	struct berr *err = NULL;
	int r = shimc_recv_msg(fd, 1000, m, &err);

	if (r != 1)
		fail_msg("no message: %d %s", r, err ? berr_msg(err) : "");
}

static void publish(struct shim_server *s, enum trun_status status)
{
	struct trun_container_state cs = { .name = "web", .essential = true, .last_status = "RUNNING",
					   .exit_code = -1, .health = "UNKNOWN" };
	struct trun_state st = { .task_id = TID, .status = status, .health = "UNKNOWN", .exit_code = -1,
				 .ipv4 = "", .containers = &cs, .n_containers = 1 };
	struct berr *err = NULL;

	assert_int_equal(shim_server_publish(s, &st, &err), 0);
}

static void test_server_exec(void **state)
{
	struct shim_server s;
	struct fake f = { 0 };
	struct berr *err = NULL;
	struct shimc_msg m;
	const char *code;
	char *reason = NULL, buf[16];
	char *const argv[] = { "sh", "-c", NULL };
	const char *const env[] = { "A=1", NULL };
	struct shimc_exec x = { .container = "web", .argv = argv, .env = env, .user = "app",
				.workdir = "/srv" };
	int a[2], b[2], out[2], fds[3];

	assert_int_equal(shim_server_init(&s, -1, NULL, 1, &err), 0);
	pair(a);
	pair(b);
	assert_int_equal(shim_server_add(&s, a[0]), 0);
	assert_int_equal(shim_server_add(&s, b[0]), 0);
	publish(&s, TRUN_RUNNING);
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_STATE);
	next_msg(b[1], &m);

	/* no task attached yet: NotRunning */
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	fds[0] = out[0];
	fds[1] = fds[2] = out[1];
	assert_int_equal(shimc_send_exec(a[1], &x, fds, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_ERROR);
	assert_string_equal(m.code, "NotRunning");
	shimc_msg_free(&m);

	/* attached: started, the request as sent, the fds are the client's */
	s.exec_ops = &fake_ops;
	shim_server_on_attach(&s, (struct trun *)&f);
	assert_int_equal(shimc_send_exec(a[1], &x, fds, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_STARTED);
	assert_int_equal(m.pid, 4001);   /* no pidfd: the pid as given */
	assert_string_equal(m.container, "web");
	shimc_msg_free(&m);
	assert_int_equal(f.starts, 1);
	assert_string_equal(f.argv0, "sh");
	assert_string_equal(f.argv1, "-c");
	assert_string_equal(f.container, "web");
	assert_string_equal(f.user, "app");
	assert_string_equal(f.workdir, "/srv");
	assert_string_equal(f.env0, "A=1");
	assert_false(f.tty);
	assert_int_equal(f.marks, 1);
	assert_int_equal(read(out[0], buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "out!", 4);

	/* an exec session gets no snapshots; the other client does */
	publish(&s, TRUN_RUNNING);
	assert_int_equal(shimc_recv_msg(a[1], 0, &m, &err), -ETIMEDOUT);
	berr_clear(&err);
	next_msg(b[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_STATE);

	/* one exec at a time per connection */
	assert_int_equal(shimc_send_exec(a[1], &x, fds, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_ERROR);
	assert_string_equal(m.code, "Busy");
	shimc_msg_free(&m);
	assert_int_equal(f.starts, 1);

	/* its end: exec-exit to that client only; an unknown id is ignored */
	shim_server_exec_exit(&s, 99, 1);
	shim_server_exec_exit(&s, 1, 7);
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_EXIT);
	assert_int_equal(m.exit_code, 7);
	assert_int_equal(shimc_recv_msg(b[1], 0, &m, &err), -ETIMEDOUT);
	berr_clear(&err);

	/* then another on the same connection, with a tty: one fd, used thrice */
	{
		int pm = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), ps;
		char *const targv[] = { "tty", NULL };
		struct shimc_exec tx = { .argv = targv, .tty = true };
		int tfd[3] = { -1, -1, -1 };

		assert_true(pm >= 0);
		assert_int_equal(grantpt(pm), 0);
		assert_int_equal(unlockpt(pm), 0);
		ps = open(ptsname(pm), O_RDWR | O_NOCTTY | O_CLOEXEC);
		assert_true(ps >= 0);
		tfd[0] = ps;
		assert_int_equal(shimc_send_exec(a[1], &tx, tfd, &err), 0);
		assert_false(shim_server_service(&s, &code, &reason));
		next_msg(a[1], &m);
		assert_int_equal(m.type, SHIMC_MSG_EXEC_STARTED);
		shimc_msg_free(&m);
		assert_int_equal(f.starts, 2);
		assert_true(f.tty);
		assert_true(f.same_tty_fds);
		assert_string_equal(f.container, "(null)");
		assert_false(f.env_set);
		close(ps);
		close(pm);
	}

	/* the client goes away: its running exec is killed */
	close(a[1]);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(f.kills, 1);
	assert_int_equal(f.killed, 2);
	assert_int_equal(s.n_clients, 1);
	/* its exit later finds nobody */
	shim_server_exec_exit(&s, 2, 137);

	/* refusals carry the reason and the code */
	f.fail = TRUN_EXEC_NOT_FOUND;
	assert_int_equal(shimc_send_exec(b[1], &x, fds, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	next_msg(b[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_ERROR);
	assert_string_equal(m.code, "CommandNotFound");
	assert_non_null(strstr(m.message, "not RUNNING"));
	shimc_msg_free(&m);
	/* a refused exec does not make an exec session */
	publish(&s, TRUN_RUNNING);
	next_msg(b[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_STATE);

	/* wrong fds: InvalidRequest, nothing started */
	f.fail = TRUN_EXEC_OK;
	{
		struct shimc_exec tx = x;

		tx.tty = true;   /* one fd, not a terminal */
		assert_int_equal(shimc_send_exec(b[1], &tx, fds, &err), 0);
		assert_false(shim_server_service(&s, &code, &reason));
		next_msg(b[1], &m);
		assert_int_equal(m.type, SHIMC_MSG_ERROR);
		assert_string_equal(m.code, "InvalidRequest");
		assert_non_null(strstr(m.message, "not a terminal"));
		shimc_msg_free(&m);
	}
	/* a request without fds */
	{
		const char *txt = "{\"op\":\"exec\",\"argv\":[\"id\"]}";

		assert_int_equal(send(b[1], txt, strlen(txt), 0), (ssize_t)strlen(txt));
		assert_false(shim_server_service(&s, &code, &reason));
		next_msg(b[1], &m);
		assert_int_equal(m.type, SHIMC_MSG_ERROR);
		assert_string_equal(m.code, "InvalidRequest");
		assert_non_null(strstr(m.message, "got 0"));
		shimc_msg_free(&m);
	}
	/* a long request (argv of 40 kB) is fine */
	{
		char *big = xmalloc(40001);
		char *const bargv[] = { "echo", big, NULL };
		struct shimc_exec bx = { .argv = bargv };

		memset(big, 'x', 40000);
		big[40000] = '\0';
		assert_int_equal(shimc_send_exec(b[1], &bx, fds, &err), 0);
		assert_false(shim_server_service(&s, &code, &reason));
		next_msg(b[1], &m);
		assert_int_equal(m.type, SHIMC_MSG_EXEC_STARTED);
		shimc_msg_free(&m);
		free(big);
	}
	/* started, tty, refused, big (the InvalidRequest ones never got there) */
	assert_int_equal(f.starts, 4);
	/* fds the server got are closed once the process has them */
	{
		char c;

		close(out[1]);
		assert_int_equal(read(out[0], buf, sizeof(buf)), 4);   /* the big one's mark */
		/* EOF: nobody (no server copy either) holds the write end */
		assert_int_equal(read(out[0], &c, 1), 0);
	}
	shim_server_close(&s);
	close(b[1]);
	close(out[0]);
}

/* ------------------------------------- the server's signal requests */

/* A fake task whose exec'd processes are real children of the test: they
 * write 'R' into a pipe once ready, 'U' for each SIGUSR1, and die of the
 * default action of anything else. */
struct sigfake {
	uint64_t next_id;
	bool use_pidfd;             /* hand the server a pidfd (else pid only) */
	int wfd, rfd;               /* the children's pipe */
	pid_t child;
	int pidfd;
};

static int sig_wfd = -1;

static void on_usr1(int sig)
{
	(void)sig;
	if (write(sig_wfd, "U", 1) < 0)
		_exit(90);
}

/* The next byte from the children's pipe within ms, or 0. */
static char sig_byte(int rfd, int ms)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) != 1 || read(rfd, &c, 1) != 1)
		return 0;
	return c;
}

static int sig_start(void *task, const struct trun_exec_req *req, struct trun_exec_info *info,
		     enum trun_exec_status *why, struct berr **err)
{
	struct sigfake *f = task;
	pid_t pid = fork();

	(void)req;
	if (pid < 0)
		return berr_set(err, errno, "fork");
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_usr1 };
		sigset_t none;

		/* never outlives the test, whatever assertion fails */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(92);
		sig_wfd = f->wfd;
		sigaction(SIGUSR1, &sa, NULL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (write(f->wfd, "R", 1) != 1)
			_exit(91);
		for (;;)
			pause();
	}
	f->child = pid;
	f->pidfd = f->use_pidfd ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (f->use_pidfd && f->pidfd < 0)
		return berr_set(err, errno, "pidfd_open");
	if (sig_byte(f->rfd, 5000) != 'R')
		return berr_set(err, ETIMEDOUT, "the child did not get ready");
	*why = TRUN_EXEC_OK;
	*info = (struct trun_exec_info){ .id = ++f->next_id, .container = "web", .pid = pid,
					 .pidfd = f->pidfd };
	return 0;
}

static int sig_kill(void *task, uint64_t id)
{
	struct sigfake *f = task;

	(void)id;
	return kill(f->child, SIGKILL) < 0 ? -errno : 0;
}

static const struct shim_exec_ops sig_ops = { .start = sig_start, .kill = sig_kill };

/* The child's status once it ends within ms; -1 while it lives. */
static int child_status(pid_t pid, int ms)
{
	int st = 0;

	for (int i = 0; i <= ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(10000);
	}
	return -1;
}

static void test_server_signal(void **state)
{
	struct shim_server s;
	struct sigfake f = { .use_pidfd = true };
	struct berr *err = NULL;
	struct shimc_msg m;
	const char *code;
	char *reason = NULL;
	char *const argv[] = { "sh", NULL };
	struct shimc_exec x = { .argv = argv };
	int a[2], b[2], p[2], fds[3], nul = open("/dev/null", O_RDWR | O_CLOEXEC), st;

	assert_true(nul >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f.rfd = p[0];
	f.wfd = p[1];
	fds[0] = fds[1] = fds[2] = nul;
	assert_int_equal(shim_server_init(&s, -1, NULL, 1, &err), 0);
	s.exec_ops = &sig_ops;
	shim_server_on_attach(&s, (struct trun *)&f);
	pair(a);
	pair(b);
	assert_int_equal(shim_server_add(&s, a[0]), 0);
	assert_int_equal(shim_server_add(&s, b[0]), 0);

	/* a signal before any exec: ignored, no answer, no exec session */
	assert_int_equal(shimc_send_signal(b[1], SIGTERM, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(shimc_recv_msg(b[1], 0, &m, &err), -ETIMEDOUT);
	berr_clear(&err);
	publish(&s, TRUN_RUNNING);
	next_msg(b[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_STATE);
	next_msg(a[1], &m);

	/* through the pidfd: a caught signal arrives, nothing is answered */
	assert_int_equal(shimc_send_exec(a[1], &x, fds, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_STARTED);
	assert_int_equal(m.pid, f.child);   /* our pidfd: /proc's pid is the pid */
	shimc_msg_free(&m);
	assert_int_equal(shimc_send_signal(a[1], SIGUSR1, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(sig_byte(p[0], 5000), 'U');
	/* again: every one goes (SIGUSR1 twice, as SIGINT twice would) */
	assert_int_equal(shimc_send_signal(a[1], SIGUSR1, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(sig_byte(p[0], 5000), 'U');
	assert_int_equal(shimc_recv_msg(a[1], 0, &m, &err), -ETIMEDOUT);
	berr_clear(&err);
	/* to the process: SIGTERM's default action ends it */
	assert_int_equal(shimc_send_signal(a[1], SIGTERM, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	st = child_status(f.child, 5000);
	assert_true(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
	/* gone and reaped, its exec-exit not yet sent: a signal is no error */
	assert_int_equal(shimc_send_signal(a[1], SIGINT, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(shimc_recv_msg(a[1], 0, &m, &err), -ETIMEDOUT);
	berr_clear(&err);
	shim_server_exec_exit(&s, 1, 128 + SIGTERM);
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_EXIT);
	assert_int_equal(m.exit_code, 128 + SIGTERM);
	close(f.pidfd);

	/* the next exec on that connection, by pid (no pidfd) */
	f.use_pidfd = false;
	assert_int_equal(shimc_send_exec(a[1], &x, fds, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_STARTED);
	shimc_msg_free(&m);
	assert_int_equal(shimc_send_signal(a[1], SIGUSR1, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(sig_byte(p[0], 5000), 'U');
	/* after its exec-exit the connection has no process: ignored (the
	 * child, which the fake leaves alive, gets nothing) */
	shim_server_exec_exit(&s, 2, 0);
	next_msg(a[1], &m);
	assert_int_equal(m.type, SHIMC_MSG_EXEC_EXIT);
	assert_int_equal(shimc_send_signal(a[1], SIGTERM, &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(child_status(f.child, 200), -1);
	assert_int_equal(shimc_recv_msg(a[1], 0, &m, &err), -ETIMEDOUT);
	berr_clear(&err);
	kill(f.child, SIGKILL);
	assert_true(child_status(f.child, 5000) != -1);

	/* malformed: an InvalidRequest answer */
	{
		const char *txt = "{\"op\":\"signal\",\"signal\":99}";

		assert_int_equal(send(a[1], txt, strlen(txt), 0), (ssize_t)strlen(txt));
		assert_false(shim_server_service(&s, &code, &reason));
		next_msg(a[1], &m);
		assert_int_equal(m.type, SHIMC_MSG_ERROR);
		assert_string_equal(m.code, "InvalidRequest");
		assert_non_null(strstr(m.message, "request.signal: 99 out of range [1, 64]"));
		shimc_msg_free(&m);
	}
	shim_server_close(&s);
	close(a[1]);
	close(b[1]);
	close(p[0]);
	close(p[1]);
	close(nul);
}

/* -------------------------------------- the real shim in user namespaces */

#include "userns_fixture.h"


#define E(...) do { dprintf(out, "ERROR " __VA_ARGS__); dprintf(out, "\n"); return 1; } while (0)
#define NOFILE "'ulimits':[{'name':'nofile','softLimit':1024,'hardLimit':1024}],"

static char *bundle;
static char *run_dir;
static const char *berth_bin;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read fd (non-blocking or not) to EOF or EIO within ms; NUL-terminated. */
static char *read_all(int fd, int ms)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	int64_t end = mono_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = end - mono_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (cap - len < 1024)
			buf = xrealloc(buf, cap *= 2);
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

struct xres {
	int rc;                 /* 1 exec-exit, 2 error answer, <= 0 transport failure */
	int exit_code;
	pid_t pid;
	char code[64], message[512];
	char *out;              /* stdout */
};

/* One exec over the shim socket: stdin gets `in` (then EOF), stdout and
 * stderr are read back. */
static void xrun(const struct shimc_exec *x, const char *in, struct xres *res)
{
	struct berr *err = NULL;
	int sock = shimc_connect(bundle, &err), ip[2], op[2], fds[3];
	struct shimc_msg m;

	memset(res, 0, sizeof(*res));
	if (sock < 0) {
		res->rc = sock;
		snprintf(res->message, sizeof(res->message), "connect: %s", berr_msg(err));
		berr_free(err);
		return;
	}
	if (pipe2(ip, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0)
		abort();
	fds[0] = ip[0];
	fds[1] = fds[2] = op[1];
	if (shimc_send_exec(sock, x, fds, &err) < 0) {
		res->rc = -1;
		snprintf(res->message, sizeof(res->message), "send: %s", berr_msg(err));
		berr_free(err);
		goto out;
	}
	close(ip[0]);
	close(op[1]);
	ip[0] = op[1] = -1;
	if (in && write(ip[1], in, strlen(in)) != (ssize_t)strlen(in))
		abort();
	close(ip[1]);
	ip[1] = -1;
	for (;;) {
		int r = shimc_recv_msg(sock, 20000, &m, &err);

		if (r <= 0) {
			res->rc = r;
			snprintf(res->message, sizeof(res->message), "recv: %s", r ? berr_msg(err) : "closed");
			berr_clear(&err);
			break;
		}
		if (m.type == SHIMC_MSG_EXEC_STARTED)
			res->pid = m.pid;
		if (m.type == SHIMC_MSG_EXEC_EXIT) {
			res->rc = 1;
			res->exit_code = m.exit_code;
			shimc_msg_free(&m);
			break;
		}
		if (m.type == SHIMC_MSG_ERROR) {
			res->rc = 2;
			snprintf(res->code, sizeof(res->code), "%s", m.code ? m.code : "");
			snprintf(res->message, sizeof(res->message), "%s", m.message);
			shimc_msg_free(&m);
			break;
		}
		shimc_msg_free(&m);
	}
	res->out = read_all(op[0], 5000);
out:
	for (int i = 0; i < 2; i++) {
		if (ip[i] >= 0)
			close(ip[i]);
		if (op[i] >= 0)
			close(op[i]);
	}
	close(sock);
}

static char *proc_status_line(pid_t pid, const char *key)
{
	char path[64];
	cleanup_free char *txt = NULL;
	char *p, *nl;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (fs_read_file(path, &txt, NULL, 1 << 16, NULL) < 0)
		return NULL;
	p = strstr(txt, key);
	if (!p)
		return NULL;
	p += strlen(key);
	while (*p == ':' || *p == '\t' || *p == ' ')
		p++;
	nl = strchr(p, '\n');
	return xstrndup(p, nl ? (size_t)(nl - p) : strlen(p));
}

static bool same_ns(pid_t a, pid_t b, const char *ns)
{
	char pa[64], pb[64], la[64] = "", lb[64] = "";

	snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int)a, ns);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int)b, ns);
	return readlink(pa, la, sizeof(la) - 1) > 0 && readlink(pb, lb, sizeof(lb) - 1) > 0 &&
	       !strcmp(la, lb);
}

static bool gone(pid_t pid, int ms)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < ms / 10; i++) {
		cleanup_free char *txt = NULL;
		char *p;

		/* a zombie counts as gone (its parent may be slow to reap) */
		if (fs_read_file(path, &txt, NULL, 4096, NULL) < 0)
			return true;
		p = strrchr(txt, ')');
		if (p && p[1] == ' ' && p[2] == 'Z')
			return true;
		usleep(10000);
	}
	return false;
}

/* The first JSON object in text (after stripping \r), or NULL. */
static json_t *first_json(const char *text)
{
	cleanup_free char *t = xstrdup(text ? text : "");
	char *w = t, *start;
	json_t *v = NULL;

	for (const char *r = t; *r; r++)
		if (*r != '\r')
			*w++ = *r;
	*w = '\0';
	for (start = t; start && *start; start = strchr(start, '\n') ? strchr(start, '\n') + 1 : NULL) {
		char *nl = strchr(start, '\n');
		size_t len = nl ? (size_t)(nl - start) : strlen(start);

		if (*start != '{')
			continue;
		v = json_loadb(start, len, 0, NULL);
		if (v)
			return v;
	}
	return NULL;
}

/* Run `berth ARGS...` (argv[0] ignored) with stdin/stdout/stderr as given
 * (-1: pipes; out gets stdout and stderr); returns its exit status. */
static int run_berth(char **argv, int in_fd, const char *input, char **out, pid_t *pid_out)
{
	int ip[2], op[2], status = 0;
	pid_t pid;

	if (pipe2(ip, O_CLOEXEC) < 0 || pipe2(op, O_CLOEXEC) < 0)
		abort();
	pid = fork();
	if (pid == 0) {
		dup2(in_fd >= 0 ? in_fd : ip[0], 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		argv[0] = (char *)berth_bin;
		execv(berth_bin, argv);
		_exit(99);
	}
	if (pid_out)
		*pid_out = pid;
	close(ip[0]);
	close(op[1]);
	if (input && write(ip[1], input, strlen(input)) != (ssize_t)strlen(input))
		abort();
	close(ip[1]);
	*out = read_all(op[0], 30000);
	close(op[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int pty_pair(int *m, int *s)
{
	*m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*m < 0 || grantpt(*m) < 0 || unlockpt(*m) < 0)
		return -1;
	*s = open(ptsname(*m), O_RDWR | O_NOCTTY | O_CLOEXEC);
	return *s < 0 ? -1 : 0;
}

static int check_plain(int out, pid_t app)
{
	char *const info[] = { "berth-testhelper", "info", NULL };
	struct shimc_exec x = { .argv = info };
	struct xres r;
	json_t *j;

	/* the container's stdin is /dev/null through a read-only mount: a
	 * chmod through the fd gets EROFS (without it: EPERM here, and in a
	 * container without a user namespace, success on the host's node) */
	{
		char p0[64];

		snprintf(p0, sizeof(p0), "/proc/%d/fd/0", (int)app);
		if (chmod(p0, 0600) == 0 || errno != EROFS)
			E("chmod of the container's stdin (/dev/null): %s, want EROFS", strerror(errno));
	}

	/* the container's identity, capabilities, no_new_privs, seccomp */
	xrun(&x, NULL, &r);
	if (r.rc != 1 || r.exit_code != 0)
		E("exec info: rc %d exit %d %s %s", r.rc, r.exit_code, r.code, r.message);
	j = first_json(r.out);
	if (!j)
		E("exec info printed: %s", r.out);
	{
		cleanup_free char *capeff = proc_status_line(app, "CapEff");
		cleanup_free char *nnp = proc_status_line(app, "NoNewPrivs");
		cleanup_free char *sec = proc_status_line(app, "Seccomp");
		json_t *caps = json_object_get(j, "caps");

		if (!capeff || !nnp || !sec)
			E("cannot read the container's /proc/%d/status", (int)app);
		cleanup_free char *capbnd = proc_status_line(app, "CapBnd");

		if (!capbnd || strcmp(json_string_value(json_object_get(caps, "effective")), capeff) ||
		    strcmp(json_string_value(json_object_get(caps, "bounding")), capbnd))
			E("exec caps %s, the container's %s", bjson_dumps(caps), capeff);
		if (json_is_true(json_object_get(j, "no_new_privs")) != (atoi(nnp) == 1))
			E("exec no_new_privs differs from the container's (%s)", nnp);
		if (json_integer_value(json_object_get(j, "seccomp")) != atoi(sec) || atoi(sec) != 2)
			E("exec seccomp %lld, the container's %s (want 2, a filter)",
			  json_integer_value(json_object_get(j, "seccomp")), sec);
		if (json_integer_value(json_object_get(j, "uid")) != 0)
			E("exec uid %lld, want the container's 0", json_integer_value(json_object_get(j, "uid")));
		if (strcmp(json_string_value(json_object_get(j, "cwd")), "/srv"))
			E("exec cwd %s, want the image's /srv", json_string_value(json_object_get(j, "cwd")));
		if (strcmp(json_string_value(json_object_get(json_object_get(j, "env"), "FOO")), "from-def"))
			E("exec env lacks the definition's FOO");
		/* in the container's pid namespace: a small pid */
		if (json_integer_value(json_object_get(j, "pid")) > 100)
			E("exec pid %lld: not the container's pid namespace",
			  json_integer_value(json_object_get(j, "pid")));
		/* nothing of the shim's leaks in: fds 0-2 only */
		if (json_array_size(json_object_get(j, "fds")) != 3)
			E("exec fds: %s", bjson_dumps(json_object_get(j, "fds")));
	}
	json_decref(j);
	free(r.out);

	/* env, user (name: its group and supplementary groups), workdir */
	{
		const char *const env[] = { "FOO=over", "NEW=1", NULL };
		struct shimc_exec y = { .argv = info, .env = env, .user = "app", .workdir = "/tmp" };

		xrun(&y, NULL, &r);
		if (r.rc != 1 || r.exit_code != 0)
			E("exec -u app: rc %d %s", r.rc, r.message);
		j = first_json(r.out);
		if (!j || json_integer_value(json_object_get(j, "uid")) != 1000 ||
		    json_integer_value(json_object_get(j, "gid")) != 1000 ||
		    !strstr(bjson_dumps(json_object_get(j, "groups")), "2000") ||
		    strcmp(json_string_value(json_object_get(j, "cwd")), "/tmp") ||
		    strcmp(json_string_value(json_object_get(json_object_get(j, "env"), "FOO")), "over") ||
		    strcmp(json_string_value(json_object_get(json_object_get(j, "env"), "NEW")), "1"))
			E("exec -u app -w /tmp -e: %s", r.out);
		/* replaced, not added: one FOO (getenv would find the first) */
		if (strstr(strstr(r.out, "\"FOO\":") + 1, "\"FOO\":"))
			E("exec -e FOO=over: FOO twice in the environment: %s", r.out);
		/* a non-root user has no effective capabilities */
		if (strcmp(json_string_value(json_object_get(json_object_get(j, "caps"), "effective")),
			   "0000000000000000"))
			E("exec -u app: caps %s", bjson_dumps(json_object_get(j, "caps")));
		json_decref(j);
		free(r.out);
	}

	/* exit codes, signals */
	{
		char *const ex[] = { "berth-testhelper", "exit", "7", NULL };
		char *const sig[] = { "sh", "-c", "kill -TERM $$", NULL };
		struct shimc_exec y = { .argv = ex };

		xrun(&y, NULL, &r);
		if (r.rc != 1 || r.exit_code != 7)
			E("exit 7: rc %d exit %d %s", r.rc, r.exit_code, r.message);
		free(r.out);
		y.argv = sig;
		xrun(&y, NULL, &r);
		if (r.rc != 1 || r.exit_code != 128 + SIGTERM)
			E("killed by SIGTERM: rc %d exit %d %s", r.rc, r.exit_code, r.message);
		free(r.out);
	}

	/* stdin */
	{
		char *const cat[] = { "berth-testhelper", "cat", "/dev/stdin", NULL };
		struct shimc_exec y = { .argv = cat };

		xrun(&y, "hello stdin\n", &r);
		if (r.rc != 1 || r.exit_code != 0 || strcmp(r.out, "hello stdin\n"))
			E("stdin: rc %d exit %d out '%s'", r.rc, r.exit_code, r.out);
		free(r.out);
	}

	/* refusals and failures */
	{
		static const struct { const char *container, *argv0, *user, *workdir, *code, *msg; } bad[] = {
			{ "side", "id", NULL, NULL, "NotRunning", "container side is not RUNNING (STOPPED)" },
			{ "nope", "id", NULL, NULL, "ContainerNotFound", "has no container \"nope\" (it has: app, side)" },
			{ NULL, "no-such-cmd", NULL, NULL, "CommandNotFound", "executable file not found: no-such-cmd" },
			{ NULL, "/srv/hello.txt", NULL, NULL, "CannotExecute", "Permission denied" },
			{ NULL, "id", "bob", NULL, "CannotExecute", "no user \"bob\"" },
			{ NULL, "id", NULL, "/no/such/dir", "CannotExecute", "chdir" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char *const argv[] = { (char *)bad[i].argv0, NULL };
			struct shimc_exec y = { .container = bad[i].container, .argv = argv, .user = bad[i].user,
						.workdir = bad[i].workdir };

			xrun(&y, NULL, &r);
			free(r.out);
			if (r.rc != 2 || strcmp(r.code, bad[i].code) || !strstr(r.message, bad[i].msg))
				E("bad exec %zu: rc %d code %s message %s (want %s: %s)", i, r.rc, r.code,
				  r.message, bad[i].code, bad[i].msg);
		}
	}
	return 0;
}

/* A long exec: same namespaces as the container; killed when its client
 * goes away. */
static int check_disconnect(int out, pid_t app)
{
	char *const sl[] = { "berth-testhelper", "sleep", "inf", NULL };
	struct shimc_exec x = { .argv = sl };
	struct berr *err = NULL;
	int sock = shimc_connect(bundle, &err), nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	int fds[3] = { nul, nul, nul };
	struct shimc_msg m = { 0 };
	pid_t pid = 0;
	static const char *const nss[] = { "mnt", "net", "uts", "ipc", "pid", "cgroup" };

	if (sock < 0 || shimc_send_exec(sock, &x, fds, &err) < 0)
		E("long exec: %s", berr_msg(err));
	close(nul);
	while (!pid) {
		if (shimc_recv_msg(sock, 10000, &m, &err) != 1)
			E("long exec: no answer: %s", berr_msg(err));
		if (m.type == SHIMC_MSG_ERROR)
			E("long exec: %s", m.message);
		if (m.type == SHIMC_MSG_EXEC_STARTED)
			pid = m.pid;
		shimc_msg_free(&m);
	}
	for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++)
		if (!same_ns(pid, app, nss[i]))
			E("the exec'd process %d is not in the container's %s namespace", (int)pid, nss[i]);
	{
		cleanup_free char *a = proc_status_line(pid, "CapEff"), *b = proc_status_line(app, "CapEff");

		if (!a || !b || strcmp(a, b))
			E("exec'd process caps %s, container %s", a, b);
	}
	close(sock);
	if (!gone(pid, 5000))
		E("the exec'd process %d outlived its client", (int)pid);
	return 0;
}

/* A pty exec over the socket: controlling terminal, session, window size. */
static int check_tty_socket(int out)
{
	char *const tty[] = { "berth-testhelper", "tty", NULL };
	struct shimc_exec x = { .argv = tty, .tty = true };
	struct winsize ws = { .ws_row = 33, .ws_col = 99 };
	struct berr *err = NULL;
	struct shimc_msg m = { 0 };
	int sock, pm, ps, fds[3] = { -1, -1, -1 }, code = -1;
	cleanup_free char *text = NULL;
	json_t *j;

	if (pty_pair(&pm, &ps) < 0)
		E("pty: %s", strerror(errno));
	ioctl(pm, TIOCSWINSZ, &ws);
	sock = shimc_connect(bundle, &err);
	fds[0] = ps;
	if (sock < 0 || shimc_send_exec(sock, &x, fds, &err) < 0)
		E("tty exec: %s", berr_msg(err));
	close(ps);
	for (;;) {
		if (shimc_recv_msg(sock, 10000, &m, &err) != 1)
			E("tty exec: no answer: %s", berr_msg(err));
		if (m.type == SHIMC_MSG_ERROR)
			E("tty exec: %s", m.message);
		if (m.type == SHIMC_MSG_EXEC_EXIT) {
			code = m.exit_code;
			break;
		}
		shimc_msg_free(&m);
	}
	close(sock);
	text = read_all(pm, 2000);
	close(pm);
	j = first_json(text);
	if (code != 0 || !j)
		E("tty exec: exit %d, output %s", code, text);
	if (!json_is_true(json_object_get(j, "stdin_tty")) || !json_is_true(json_object_get(j, "stdout_tty")) ||
	    !json_is_true(json_object_get(j, "stderr_tty")) || !json_is_true(json_object_get(j, "ctty")) ||
	    !json_is_true(json_object_get(j, "foreground")) ||
	    json_integer_value(json_object_get(j, "sid")) != json_integer_value(json_object_get(j, "pid")) ||
	    json_integer_value(json_object_get(j, "tty_nr")) == 0 ||
	    json_integer_value(json_object_get(j, "rows")) != 33 || json_integer_value(json_object_get(j, "cols")) != 99)
		E("tty exec: %s", text);
	json_decref(j);
	/* without tty: no controlling terminal, its own session all the same */
	{
		struct shimc_exec y = { .argv = tty };
		struct xres r;

		xrun(&y, NULL, &r);
		j = first_json(r.out);
		if (r.rc != 1 || !j || json_is_true(json_object_get(j, "ctty")) ||
		    json_is_true(json_object_get(j, "stdin_tty")) ||
		    json_integer_value(json_object_get(j, "tty_nr")) != 0 ||
		    json_integer_value(json_object_get(j, "sid")) != json_integer_value(json_object_get(j, "pid")))
			E("exec without tty: %s", r.out);
		json_decref(j);
		free(r.out);
	}
	return 0;
}

/* berth exec, the binary. */
static int check_cli(int out)
{
	cleanup_free char *prefix = xstrndup(TID, 8);
	char *o = NULL;
	int st;

	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, prefix, "--", "berth-testhelper", "exit", "7", NULL };

		if ((st = run_berth(argv, -1, NULL, &o, NULL)) != 7)
			E("berth exec ... exit 7: status %d: %s", st, o);
		free(o);
	}
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "app", "--", "no-such-cmd", NULL };

		if ((st = run_berth(argv, -1, NULL, &o, NULL)) != 127 || !strstr(o, "executable file not found"))
			E("berth exec of a missing command: status %d: %s", st, o);
		free(o);
	}
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "nope", "--", "id", NULL };

		if ((st = run_berth(argv, -1, NULL, &o, NULL)) != 3 || !strstr(o, "no container \"nope\""))
			E("berth exec into an unknown container: status %d: %s", st, o);
		free(o);
	}
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "side", "--", "id", NULL };

		if ((st = run_berth(argv, -1, NULL, &o, NULL)) != 1 || !strstr(o, "not RUNNING (STOPPED)"))
			E("berth exec into a stopped container: status %d: %s", st, o);
		free(o);
	}
	{
		/* -i passes stdin; without it the process reads /dev/null */
		char *argv[] = { "", "exec", "-i", "--run-dir", run_dir, TID, "--", "berth-testhelper", "cat",
				 "/dev/stdin", NULL };
		char *argv2[] = { "", "exec", "--run-dir", run_dir, TID, "--", "berth-testhelper", "cat",
				  "/dev/stdin", NULL };

		if ((st = run_berth(argv, -1, "piped in\n", &o, NULL)) != 0 || strcmp(o, "piped in\n"))
			E("berth exec -i: status %d: '%s'", st, o);
		free(o);
		if ((st = run_berth(argv2, -1, "not read\n", &o, NULL)) != 0 || strcmp(o, ""))
			E("berth exec without -i: status %d: '%s'", st, o);
		free(o);
	}
	{
		/* a file for stdin (-i) and stdout/stderr: relayed through pipes,
		 * never handed to the container */
		cleanup_free char *inp = xasprintf("%s/in.txt", tmpdir), *outp = xasprintf("%s/out.txt", tmpdir);
		char *argv[] = { "", "exec", "-i", "--run-dir", run_dir, TID, "--", "sh", "-c",
				 "for f in 0 1 2; do readlink /proc/self/fd/$f; done; cat; echo to-stderr >&2",
				 NULL };
		cleanup_free char *txt = NULL;
		int in_fd, out_fd, status = 0;
		pid_t p;

		if (fs_write_file_atomic(inp, "from a file\n", 12, 0600, NULL) < 0)
			E("write %s", inp);
		in_fd = open(inp, O_RDONLY | O_CLOEXEC);
		out_fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		p = fork();
		if (p == 0) {
			dup2(in_fd, 0);
			dup2(out_fd, 1);
			dup2(out_fd, 2);
			argv[0] = (char *)berth_bin;
			execv(berth_bin, argv);
			_exit(99);
		}
		close(in_fd);
		close(out_fd);
		if (waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			E("berth exec with files: status %d", status);
		if (fs_read_file(outp, &txt, NULL, 1 << 16, NULL) < 0)
			E("read %s", outp);
		if (!strstr(txt, "from a file\n") || !strstr(txt, "to-stderr\n") || strstr(txt, "in.txt") ||
		    strstr(txt, "out.txt"))
			E("berth exec with files: %s", txt);
	}
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "--", "sh", "-c",
				 "for f in 0 1 2; do readlink /proc/self/fd/$f; done", NULL };
		cleanup_free char *outp = xasprintf("%s/out2.txt", tmpdir);
		cleanup_free char *txt = NULL;
		int out_fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), status = 0, n = 0;
		pid_t p = fork();

		if (p == 0) {
			dup2(out_fd, 1);
			dup2(out_fd, 2);
			argv[0] = (char *)berth_bin;
			execv(berth_bin, argv);
			_exit(99);
		}
		close(out_fd);
		if (waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
		    fs_read_file(outp, &txt, NULL, 1 << 16, NULL) < 0)
			E("berth exec, fds to a file: status %d", status);
		for (const char *q = txt; (q = strstr(q, "pipe:[")); q++)
			n++;
		if (n != 3)
			E("the process's stdin, stdout, stderr are not all pipes: %s", txt);
	}
	{
		/* -e, -u, -w */
		char *argv[] = { "", "exec", "-e", "X=1", "-u", "1000:1000", "-w", "/home", "--run-dir", run_dir,
				 TID, "--", "berth-testhelper", "info", NULL };
		json_t *j;

		st = run_berth(argv, -1, NULL, &o, NULL);
		j = first_json(o);
		if (st != 0 || !j || json_integer_value(json_object_get(j, "uid")) != 1000 ||
		    strcmp(json_string_value(json_object_get(j, "cwd")), "/home") ||
		    strcmp(json_string_value(json_object_get(json_object_get(j, "env"), "X")), "1"))
			E("berth exec -e -u -w: status %d: %s", st, o);
		json_decref(j);
		free(o);
	}
	{
		/* -t without a terminal of ours: the process still gets one */
		char *argv[] = { "", "exec", "-t", "--run-dir", run_dir, TID, "--", "berth-testhelper", "tty", NULL };
		json_t *j;

		st = run_berth(argv, -1, NULL, &o, NULL);
		j = first_json(o);
		if (st != 0 || !j || !json_is_true(json_object_get(j, "ctty")) ||
		    !json_is_true(json_object_get(j, "stdout_tty")) || !strstr(o, "\r\n"))
			E("berth exec -t: status %d: %s", st, o);
		json_decref(j);
		free(o);
	}
	{
		/* usage */
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "berth-testhelper", "exit", "7", NULL };

		if ((st = run_berth(argv, -1, NULL, &o, NULL)) != 2 || !strstr(o, "after --"))
			E("berth exec without --: status %d: %s", st, o);
		free(o);
	}
	return 0;
}

/* berth exec -it on a terminal: raw mode (and back), input relayed, the
 * window size at the start and after SIGWINCH. */
static int check_cli_terminal(int out)
{
	char *argv[] = { "", "exec", "-it", "--run-dir", run_dir, TID, "--", "sh", "-c",
			 "berth-testhelper tty; read x; echo got:$x; berth-testhelper tty; exit 3", NULL };
	struct winsize ws = { .ws_row = 40, .ws_col = 100 };
	struct termios before, t;
	cleanup_free char *text = NULL;
	int pm, ps, status = 0, i;
	pid_t pid;

	if (pty_pair(&pm, &ps) < 0)
		E("pty: %s", strerror(errno));
	ioctl(pm, TIOCSWINSZ, &ws);
	tcgetattr(ps, &before);
	pid = fork();
	if (pid == 0) {
		/* a session whose terminal is the pty: berth gets SIGWINCH */
		setsid();
		ioctl(ps, TIOCSCTTY, 0);
		dup2(ps, 0);
		dup2(ps, 1);
		dup2(ps, 2);
		argv[0] = (char *)berth_bin;
		execv(berth_bin, argv);
		_exit(99);
	}
	close(ps);
	fcntl(pm, F_SETFL, O_NONBLOCK);
	/* raw mode once the process runs */
	for (i = 0; i < 1000; i++) {
		if (tcgetattr(pm, &t) == 0 && !(t.c_lflag & ICANON))
			break;
		usleep(10000);
	}
	if (i == 1000)
		E("berth exec -it never put the terminal in raw mode");
	/* wait for the first tty report, then resize and type a line */
	{
		size_t len = 0, cap = 1 << 16;

		text = xmalloc(cap);
		for (i = 0; i < 1000 && (len == 0 || !strstr(text, "\"cols\"")); i++) {
			ssize_t n = read(pm, text + len, cap - len - 1);

			if (n > 0)
				len += (size_t)n;
			text[len] = '\0';
			usleep(10000);
		}
		ws.ws_row = 50;
		ws.ws_col = 120;
		ioctl(pm, TIOCSWINSZ, &ws);   /* the kernel sends berth SIGWINCH */
		usleep(300000);
		if (write(pm, "abc\r", 4) != 4)
			E("write to the pty");
		for (i = 0; i < 2000; i++) {
			ssize_t n = read(pm, text + len, cap - len - 1);

			if (n > 0)
				len += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				break;   /* EIO: berth is gone */
			text[len] = '\0';
			if (waitpid(pid, &status, WNOHANG) == pid) {
				pid = 0;
				/* what is left */
				while ((n = read(pm, text + len, cap - len - 1)) > 0)
					len += (size_t)n;
				text[len] = '\0';
				break;
			}
			usleep(10000);
		}
	}
	if (pid && waitpid(pid, &status, 0) != pid)
		E("waitpid berth");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 3)
		E("berth exec -it: status %d, output %s", status, text);
	if (!strstr(text, "\"rows\":40,\"cols\":100") || !strstr(text, "got:abc") ||
	    !strstr(text, "\"rows\":50,\"cols\":120") || !strstr(text, "\"ctty\":true"))
		E("berth exec -it printed: %s", text);
	/* the terminal is as it was */
	if (tcgetattr(pm, &t) < 0 || t.c_lflag != before.c_lflag || t.c_iflag != before.c_iflag)
		E("berth exec -it left the terminal changed (lflag %o, was %o)", t.c_lflag, before.c_lflag);
	close(pm);
	return 0;
}

/* A `berth exec` running in the background: its stdout and stderr (one
 * pipe) are read as they come. */
struct bg {
	pid_t pid;
	int out;
	char *buf;
	size_t len, cap;
};

static int bg_start(char **argv, int ignore, struct bg *b)
{
	int op[2], nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

	memset(b, 0, sizeof(*b));
	if (nul < 0 || pipe2(op, O_CLOEXEC) < 0)
		return -1;
	b->pid = fork();
	if (b->pid == 0) {
		dup2(nul, 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		if (ignore > 0)
			signal(ignore, SIG_IGN);
		argv[0] = (char *)berth_bin;
		execv(berth_bin, argv);
		_exit(99);
	}
	close(nul);
	close(op[1]);
	b->out = op[0];
	fcntl(b->out, F_SETFL, O_NONBLOCK);
	b->cap = 1 << 16;
	b->buf = xzalloc(b->cap);
	return b->pid > 0 ? 0 : -1;
}

static void bg_read(struct bg *b)
{
	ssize_t n;

	while (b->len + 1 < b->cap && (n = read(b->out, b->buf + b->len, b->cap - b->len - 1)) > 0)
		b->len += (size_t)n;
	b->buf[b->len] = '\0';
}

static int count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *q = text; (q = strstr(q, needle)); q += strlen(needle))
		n++;
	return n;
}

/* Wait until the output holds needle n times; false after ms. */
static bool bg_wait_for(struct bg *b, const char *needle, int n, int ms)
{
	int64_t end = mono_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = b->out, .events = POLLIN };
		int64_t left;

		bg_read(b);
		if (count_of(b->buf, needle) >= n)
			return true;
		left = end - mono_ms();
		if (left <= 0)
			return false;
		(void)poll(&p, 1, (int)(left < 100 ? left : 100));
	}
}

/* Its exit status (waitpid's) within ms, else it is killed and -1. */
static int bg_end(struct bg *b, int ms)
{
	int st = -1;

	for (int i = 0; i <= ms / 10; i++) {
		if (waitpid(b->pid, &st, WNOHANG) == b->pid)
			break;
		st = -1;
		usleep(10000);
	}
	if (st == -1) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
	}
	bg_read(b);
	close(b->out);
	return st;
}

#define EB(b, ...) do { bg_end(b, 0); dprintf(out, "ERROR " __VA_ARGS__); dprintf(out, "\n"); \
			free((b)->buf); return 1; } while (0)

/* Signals to `berth exec` go to the process, which berth keeps waiting for
 * (issue 7): without and with -t. */
static int check_cli_signals(int out)
{
	struct bg b;
	int st;

	/* a shell that traps SIGUSR1 and SIGTERM */
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "--", "sh", "-c",
				 "trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 42' TERM; echo ready; "
				 "while :; do sleep 0.05; done", NULL };

		if (bg_start(argv, 0, &b) < 0)
			E("start berth exec: %s", strerror(errno));
		if (!bg_wait_for(&b, "ready", 1, 10000))
			EB(&b, "berth exec of a trapping shell never ran: %s", b.buf);
		kill(b.pid, SIGUSR1);
		if (!bg_wait_for(&b, "got-USR1", 1, 5000))
			EB(&b, "SIGUSR1 to berth exec did not reach the process: %s", b.buf);
		kill(b.pid, SIGTERM);
		st = bg_end(&b, 10000);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 42 || !strstr(b.buf, "got-TERM"))
			E("SIGTERM to berth exec: status %#x (want exit 42), output %s", st, b.buf);
		free(b.buf);
	}
	/* each of the six, SIGINT twice in a row (no escalation), then the
	 * exit signal */
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "--", "berth-testhelper", "signals",
				 "--exit-on", "TERM", "--exit-code", "3", NULL };
		static const struct { int sig; const char *name; int n; } seq[] = {
			{ SIGINT, "\"SIGINT\"", 1 }, { SIGINT, "\"SIGINT\"", 2 }, { SIGHUP, "\"SIGHUP\"", 1 },
			{ SIGQUIT, "\"SIGQUIT\"", 1 }, { SIGUSR1, "\"SIGUSR1\"", 1 },
			{ SIGUSR2, "\"SIGUSR2\"", 1 },
		};

		if (bg_start(argv, 0, &b) < 0)
			E("start berth exec: %s", strerror(errno));
		if (!bg_wait_for(&b, "\"ready\":true", 1, 10000))
			EB(&b, "berth exec ... signals never ran: %s", b.buf);
		for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
			kill(b.pid, seq[i].sig);
			if (!bg_wait_for(&b, seq[i].name, seq[i].n, 5000))
				EB(&b, "signal %s #%d to berth exec did not reach the process: %s", seq[i].name,
				   seq[i].n, b.buf);
		}
		kill(b.pid, SIGTERM);
		st = bg_end(&b, 10000);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 3 || !strstr(b.buf, "\"SIGTERM\""))
			E("SIGTERM to berth exec ... signals: status %#x (want exit 3), output %s", st, b.buf);
		free(b.buf);
	}
	/* berth started with SIGHUP ignored (nohup): it stays so, and is not
	 * forwarded */
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "--", "berth-testhelper", "signals",
				 "--exit-on", "TERM", "--exit-code", "4", NULL };

		if (bg_start(argv, SIGHUP, &b) < 0)
			E("start berth exec: %s", strerror(errno));
		if (!bg_wait_for(&b, "\"ready\":true", 1, 10000))
			EB(&b, "berth exec ... signals never ran: %s", b.buf);
		kill(b.pid, SIGHUP);
		usleep(100000);
		kill(b.pid, SIGTERM);
		st = bg_end(&b, 10000);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 4 || strstr(b.buf, "SIGHUP"))
			E("berth exec with SIGHUP ignored: status %#x (want exit 4, no SIGHUP), output %s", st,
			  b.buf);
		free(b.buf);
	}
	/* a process that does not catch SIGINT dies of it: berth exits 130
	 * itself (not killed by the signal) */
	{
		char *argv[] = { "", "exec", "--run-dir", run_dir, TID, "--", "sh", "-c",
				 "echo ready; exec berth-testhelper sleep inf", NULL };

		if (bg_start(argv, 0, &b) < 0)
			E("start berth exec: %s", strerror(errno));
		if (!bg_wait_for(&b, "ready", 1, 10000))
			EB(&b, "berth exec ... sleep never ran: %s", b.buf);
		usleep(100000);   /* past the shell's exec */
		kill(b.pid, SIGINT);
		st = bg_end(&b, 10000);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 130)
			E("SIGINT to berth exec ... sleep: status %#x (want exit 130), output %s", st, b.buf);
		free(b.buf);
	}
	/* -t: SIGINT, SIGHUP and SIGTERM are forwarded as well */
	{
		char *argv[] = { "", "exec", "-t", "--run-dir", run_dir, TID, "--", "sh", "-c",
				 "trap 'echo got-INT' INT; trap 'echo got-HUP' HUP; "
				 "trap 'echo got-TERM; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
				 NULL };

		if (bg_start(argv, 0, &b) < 0)
			E("start berth exec -t: %s", strerror(errno));
		if (!bg_wait_for(&b, "ready", 1, 10000))
			EB(&b, "berth exec -t of a trapping shell never ran: %s", b.buf);
		kill(b.pid, SIGINT);
		if (!bg_wait_for(&b, "got-INT", 1, 5000))
			EB(&b, "SIGINT to berth exec -t did not reach the process: %s", b.buf);
		kill(b.pid, SIGHUP);
		if (!bg_wait_for(&b, "got-HUP", 1, 5000))
			EB(&b, "SIGHUP to berth exec -t did not reach the process: %s", b.buf);
		kill(b.pid, SIGTERM);
		st = bg_end(&b, 10000);
		if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 42 || !strstr(b.buf, "got-TERM"))
			E("SIGTERM to berth exec -t: status %#x (want exit 42), output %s", st, b.buf);
		free(b.buf);
	}
	return 0;
}

/* Signal requests over the socket: to the process; after its end, no
 * error, and the connection serves the next exec. */
static int check_signal_socket(int out)
{
	char *const sl[] = { "berth-testhelper", "sleep", "inf", NULL };
	char *const ex5[] = { "berth-testhelper", "exit", "5", NULL };
	struct shimc_exec x = { .argv = sl };
	struct berr *err = NULL;
	int sock = shimc_connect(bundle, &err), nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	int fds[3] = { nul, nul, nul }, code = -1;
	struct shimc_msg m = { 0 };
	pid_t pid = 0;

	if (sock < 0 || shimc_send_exec(sock, &x, fds, &err) < 0)
		E("exec to signal: %s", berr_msg(err));
	for (;;) {
		if (shimc_recv_msg(sock, 10000, &m, &err) != 1)
			E("exec to signal: no answer: %s", err ? berr_msg(err) : "closed");
		if (m.type == SHIMC_MSG_ERROR)
			E("exec to signal: %s", m.message);
		if (m.type == SHIMC_MSG_EXEC_STARTED)
			pid = m.pid;
		shimc_msg_free(&m);
		if (pid)
			break;
	}
	if (shimc_send_signal(sock, SIGTERM, &err) < 0)
		E("send signal: %s", berr_msg(err));
	for (;;) {
		if (shimc_recv_msg(sock, 10000, &m, &err) != 1)
			E("signalled exec: no exec-exit: %s", err ? berr_msg(err) : "closed");
		if (m.type == SHIMC_MSG_ERROR)
			E("signalled exec: %s", m.message);
		if (m.type == SHIMC_MSG_EXEC_EXIT) {
			code = m.exit_code;
			break;
		}
		shimc_msg_free(&m);
	}
	if (code != 128 + SIGTERM)
		E("exec'd process signalled with SIGTERM ended with %d, want 143", code);
	if (!gone(pid, 5000))
		E("the signalled process %d is still there", (int)pid);
	/* its process has ended: not an error, and the next exec works */
	if (shimc_send_signal(sock, SIGTERM, &err) < 0)
		E("send signal after the end: %s", berr_msg(err));
	x.argv = ex5;
	if (shimc_send_exec(sock, &x, fds, &err) < 0)
		E("exec after a late signal: %s", berr_msg(err));
	close(nul);
	if (shimc_recv_msg(sock, 10000, &m, &err) != 1)
		E("exec after a late signal: no answer: %s", err ? berr_msg(err) : "closed");
	if (m.type != SHIMC_MSG_EXEC_STARTED)
		E("exec after a late signal: answer %d (%s), want exec-started", (int)m.type,
		  m.message ? m.message : "");
	shimc_msg_free(&m);
	if (shimc_recv_msg(sock, 10000, &m, &err) != 1 || m.type != SHIMC_MSG_EXEC_EXIT || m.exit_code != 5)
		E("exec after a late signal: no exec-exit 5");
	shimc_msg_free(&m);
	close(sock);
	return 0;
}

/* The task stops under an exec: it ends (137), and so does the task. */
static int check_stop(int out, pid_t shim)
{
	char *const sl[] = { "berth-testhelper", "sleep", "inf", NULL };
	struct shimc_exec x = { .argv = sl };
	struct berr *err = NULL;
	int sock = shimc_connect(bundle, &err), ctl, nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	int fds[3] = { nul, nul, nul }, code = -1;
	struct shimc_msg m = { 0 };
	pid_t pid = 0;

	if (sock < 0 || shimc_send_exec(sock, &x, fds, &err) < 0)
		E("exec before stop: %s", berr_msg(err));
	close(nul);
	for (;;) {
		if (shimc_recv_msg(sock, 20000, &m, &err) != 1)
			E("exec before stop: %s", err ? berr_msg(err) : "closed");
		if (m.type == SHIMC_MSG_ERROR)
			E("exec before stop: %s", m.message);
		if (m.type == SHIMC_MSG_EXEC_STARTED)
			pid = m.pid;
		shimc_msg_free(&m);
		if (pid)
			break;
	}
	if ((ctl = shimc_connect(bundle, &err)) < 0 || shimc_send_stop(ctl, "exec test", NULL, &err) < 0)
		E("stop: %s", berr_msg(err));
	for (;;) {
		if (shimc_recv_msg(sock, 20000, &m, &err) != 1)
			E("no exec-exit before the connection ended");
		if (m.type == SHIMC_MSG_EXEC_EXIT) {
			code = m.exit_code;
			break;
		}
		shimc_msg_free(&m);
	}
	if (code != 137)
		E("the exec'd process ended with %d when the task stopped, want 137", code);
	if (!gone(pid, 5000))
		E("the exec'd process %d outlived the task", (int)pid);
	/* the shim ends, and with it the connections */
	{
		uint64_t seq;
		json_t *task = NULL;
		int r;

		while ((r = shimc_recv_wait(ctl, 20000, &seq, &task, &err)) == 1) {
			json_decref(task);
			task = NULL;
		}
		if (r != 0)
			E("the shim did not end: %d", r);
	}
	close(ctl);
	close(sock);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(shim, NULL, WNOHANG) == shim)
			return 0;
		usleep(10000);
	}
	E("the shim did not exit");
}

static int ns_exec_e2e(int out)
{
	const char *bin = getenv("BERTH_BINARY_DIR");
	cleanup_free char *archive = xasprintf("%s/images/helper.oci.tar", bin ? bin : ".");
	cleanup_free char *shim = xasprintf("%s/bin/berth-shim", bin ? bin : ".");
	cleanup_free char *berth = xasprintf("%s/bin/berth", bin ? bin : ".");
	cleanup_free char *images = xasprintf("%s/state/images", tmpdir);
	cleanup_free char *cfgp = NULL, *doc = NULL, *j = NULL;
	struct rootfs_import_opts io = { 0 };
	struct rootfs_import_result ir = { 0 };
	struct rootfs_store *st = NULL;
	struct berr *err = NULL;
	json_t *task = NULL;
	uint64_t seq = 0;
	pid_t pid, app = 0;
	int fd, r;

	berth_bin = berth;
	run_dir = xasprintf("%s/run", tmpdir);
	bundle = xasprintf("%s/" TID, run_dir);
	cfgp = xasprintf("%s/config.json", bundle);
	io.unpack.flags = ROOTFS_UNPACK_NO_CHOWN | ROOTFS_UNPACK_USER_XATTR;
	if (rootfs_store_open(images, &st, &err) < 0 || rootfs_import(st, archive, &io, &ir, &err) < 0)
		E("import %s: %s", archive, berr_msg(err));
	rootfs_import_result_free(&ir);
	rootfs_store_close(st);

	doc = xasprintf("{'taskId':'" TID "','taskDefinition':{'family':'exec','networkMode':'none',"
			"'containerDefinitions':["
			"{'name':'app','image':'berth-test/helper','memory':32,'stopTimeout':1," NOFILE
			"'environment':[{'name':'FOO','value':'from-def'}],'command':['sleep','inf']},"
			"{'name':'side','image':'berth-test/helper','memory':32,'essential':false," NOFILE
			"'command':['exit','0']}]},"
			"'root':'%s/state','runDir':'%s','logDir':'%s/logs','noLimits':true,'storage':'tmpfs',"
			"'logLevel':'debug'}", tmpdir, run_dir, tmpdir);
	j = jq(doc);
	if (fs_mkdir_p(bundle, 0700, &err) < 0 || fs_write_file_atomic(cfgp, j, strlen(j), 0600, &err) < 0)
		E("bundle: %s", berr_msg(err));
	if (shimc_spawn(shim, bundle, 30000, &pid, &err) < 0)
		E("spawn: %s", berr_msg(err));
	if ((fd = shimc_connect(bundle, &err)) < 0)
		E("connect: %s", berr_msg(err));
	/* RUNNING, with side STOPPED */
	for (;;) {
		json_t *cs, *side;

		if (shimc_recv_wait(fd, 30000, &seq, &task, &err) != 1)
			E("no snapshot: %s", err ? berr_msg(err) : "closed");
		cs = json_object_get(task, "containers");
		side = json_array_get(cs, 1);
		app = (pid_t)json_integer_value(json_object_get(json_array_get(cs, 0), "pid"));
		if (!strcmp(json_string_value(json_object_get(task, "lastStatus")), "RUNNING") && app > 0 &&
		    !strcmp(json_string_value(json_object_get(side, "lastStatus")), "STOPPED"))
			break;
		if (!strcmp(json_string_value(json_object_get(task, "lastStatus")), "STOPPED"))
			E("the task stopped: %s", bjson_dumps(task));
		json_decref(task);
	}
	json_decref(task);
	close(fd);

	{
		static const char *const names[] = { "plain", "disconnect", "tty", "cli", "cli-terminal",
						     "signal-socket", "cli-signals", "stop" };
		int64_t t0 = mono_ms();

		for (int k = 0; k < 8; k++) {
			int64_t t = mono_ms();

			switch (k) {
			case 0: r = check_plain(out, app); break;
			case 1: r = check_disconnect(out, app); break;
			case 2: r = check_tty_socket(out); break;
			case 3: r = check_cli(out); break;
			case 4: r = check_cli_terminal(out); break;
			case 5: r = check_signal_socket(out); break;
			case 6: r = check_cli_signals(out); break;
			default: r = check_stop(out, pid); break;
			}
			if (r) {
				/* the shim is detached: it would outlive the test */
				kill(pid, SIGKILL);
				return r;
			}
			dprintf(out, "INFO exec e2e: %s checked in %lld ms\n", names[k], (long long)(mono_ms() - t));
		}
		dprintf(out, "INFO exec e2e: %lld ms in all\n", (long long)(mono_ms() - t0));
	}
	return 0;
}

static void test_exec_e2e(void **state)
{
	cleanup_free char *out = NULL;
	int st;

	if (geteuid() == 0)
		assert_int_equal(chown(tmpdir, MAP_BASE, MAP_BASE), 0);
	st = in_userns(ns_exec_e2e, &out);
	for (char *l = out, *nl; l && *l; l = nl ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if (!strncmp(l, "INFO ", 5))
			printf("%.*s\n", nl ? (int)(nl - l) : (int)strlen(l), l);
	}
	if (st != 0 || strstr(out, "ERROR")) {
		cleanup_free char *log = xasprintf("%s/run/" TID "/shim.log", tmpdir);
		cleanup_free char *txt = NULL;

		if (fs_read_file(log, &txt, NULL, 1 << 20, NULL) == 0)
			fprintf(stderr, "shim.log:\n%s\n", txt);
		fail_msg("child exit %d: %s", st, out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_parse),
		cmocka_unit_test(test_exec_parse_errors),
		cmocka_unit_test(test_exec_fds),
		cmocka_unit_test(test_exec_codes),
		cmocka_unit_test(test_client_msgs),
		cmocka_unit_test(test_server_exec),
		cmocka_unit_test(test_signal_parse),
		cmocka_unit_test(test_server_signal),
		cmocka_unit_test_setup_teardown(test_exec_e2e, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
