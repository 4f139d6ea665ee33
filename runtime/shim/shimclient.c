/* runtime/shim/shimclient.c - start berth-shim and talk to it. */
#include "runtime/shim/shimclient.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/shim/shim.h"

#define SPAWN_TIMEOUT_MS 30000
#define SPAWN_MSG_MAX 4096

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read fd to EOF, keeping the first max bytes; -ETIMEDOUT at deadline. */
static int read_until_eof(int fd, char *buf, size_t max, size_t *len, int64_t deadline)
{
	char sink[512];

	*len = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mono_ms();
		ssize_t r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			continue;
		if (*len < max)
			r = read(fd, buf + *len, max - *len);
		else
			r = read(fd, sink, sizeof(sink));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		if (*len < max)
			*len += (size_t)r;
	}
}

int shimc_spawn(const char *shim_path, const char *bundle, int timeout_ms, pid_t *pid,
		struct berr **err)
{
	return shimc_spawn_init(shim_path, bundle, -1, timeout_ms, pid, err);
}

int shimc_spawn_init(const char *shim_path, const char *bundle, int init_fd, int timeout_ms,
		     pid_t *pid, struct berr **err)
{
	return shimc_spawn_fds(shim_path, bundle, init_fd, -1, timeout_ms, pid, err);
}

int shimc_spawn_fds(const char *shim_path, const char *bundle, int init_fd, int secrets_fd,
		    int timeout_ms, pid_t *pid, struct berr **err)
{
	struct shimc_spawn sp;
	int r = shimc_spawn_begin(shim_path, bundle, init_fd, secrets_fd, timeout_ms, &sp, err);

	if (r < 0)
		return r;
	return shimc_spawn_end(&sp, pid, err);
}

int shimc_spawn_begin(const char *shim_path, const char *bundle, int init_fd, int secrets_fd,
		      int timeout_ms, struct shimc_spawn *sp, struct berr **err)
{
	char *argv[8];
	size_t na = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all, none;
	cleanup_close int sfd = -1;
	int p[2], r;

	sp->rd = -1;
	sp->child = -1;
	argv[na++] = (char *)shim_path;
	if (init_fd >= 0) {
		argv[na++] = "--init-fd";
		argv[na++] = "3";
	}
	if (secrets_fd >= 0) {
		/* above 4, so that the dup2 to 3 cannot overwrite it first */
		sfd = fcntl(secrets_fd, F_DUPFD_CLOEXEC, 5);
		if (sfd < 0)
			return berr_set(err, errno, "dup the secrets fd");
		argv[na++] = "--secrets-fd";
		argv[na++] = "4";
	}
	argv[na++] = (char *)bundle;
	argv[na] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return berr_set(err, errno, "pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	if (init_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, init_fd, 3);
	if (sfd >= 0)
		posix_spawn_file_actions_adddup2(&fa, sfd, 4);
	posix_spawnattr_init(&at);
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	r = posix_spawn(&sp->child, shim_path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		sp->child = -1;
		return berr_set(err, r, "run %s", shim_path);
	}
	sp->rd = p[0];
	sp->shim_path = shim_path;
	sp->bundle = bundle;
	sp->timeout_ms = timeout_ms > 0 ? timeout_ms : SPAWN_TIMEOUT_MS;
	sp->deadline = mono_ms() + sp->timeout_ms;
	return 0;
}

int shimc_spawn_end(struct shimc_spawn *sp, pid_t *pid, struct berr **err)
{
	const char *shim_path = sp->shim_path, *bundle = sp->bundle;
	char msg[SPAWN_MSG_MAX + 1];
	size_t len = 0;
	int r, status = 0;

	/* EOF: the first process has exited and the detached one has moved
	 * its stdio to shim.log */
	r = read_until_eof(sp->rd, msg, SPAWN_MSG_MAX, &len, sp->deadline);
	close(sp->rd);
	sp->rd = -1;
	if (r < 0)
		kill(sp->child, SIGKILL);
	while (waitpid(sp->child, &status, 0) < 0 && errno == EINTR)
		;
	sp->child = -1;
	if (r < 0) {
		/* a detached shim that got as far as its pid file must not run
		 * the task behind our back (one that did not sees its first
		 * process gone and gives up by itself) */
		pid_t shim = 0;

		if (shimc_read_pid(bundle, &shim, NULL) > 0 && shim > 1)
			kill(shim, SIGKILL);
	}
	msg[len] = '\0';
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	/* one line, no control bytes: it ends up in logs and stoppedReason */
	for (size_t i = 0; i < len; i++)
		if (msg[i] == '\n')
			msg[i] = ';';
		else if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			msg[i] = '?';
	if (r == -ETIMEDOUT)
		return berr_set(err, ETIMEDOUT, "%s %s: not detached within %d ms%s%s", shim_path, bundle,
				sp->timeout_ms, len ? ": " : "", msg);
	if (r < 0)
		return berr_set(err, -r, "%s %s: read its output", shim_path, bundle);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (len)
			return berr_set(err, 0, "%s %s: %s", shim_path, bundle, msg);
		if (WIFSIGNALED(status))
			return berr_set(err, 0, "%s %s: killed by signal %d", shim_path, bundle,
					WTERMSIG(status));
		return berr_set(err, 0, "%s %s: exit status %d", shim_path, bundle, WEXITSTATUS(status));
	}
	r = shimc_read_pid(bundle, pid, err);
	if (r < 0)
		return r;
	if (r == 0)
		return berr_set(err, ENOENT, "%s %s: detached, but wrote no %s", shim_path, bundle,
				SHIM_PID_FILE);
	return 0;
}

int shimc_connect(const char *bundle, struct berr **err)
{
	cleanup_free char *path = xasprintf("%s/%s", bundle, SHIM_SOCKET_FILE);

	return shim_connect_path(path, err);
}

int shimc_parse(const char *buf, size_t len, uint64_t *seq, json_t **task, struct berr **err)
{
	cleanup_json json_t *o = NULL;
	const char *type = NULL, *msg = NULL, *st = NULL;
	json_t *t = NULL;
	int64_t n;

	if (bjson_load_buf("shim message", buf, len, &o, err) < 0)
		return -EPROTO;
	if (bjson_get_string(o, "", "type", true, &type, err) < 0)
		return berr_wrap(err, "shim message"), -EPROTO;
	if (!strcmp(type, "error")) {
		if (bjson_get_string(o, "", "message", false, &msg, NULL) < 0 || !msg)
			msg = "(no message)";
		return berr_set(err, EPROTO, "shim: %s", berr_q(msg));
	}
	if (strcmp(type, "state"))
		return berr_set(err, EPROTO, "shim message: type \"%s\" unknown", berr_q(type));
	if (bjson_get_int_range(o, "", "seq", true, 1, INT64_MAX, &n, err) < 0 ||
	    bjson_get_object(o, "", "task", true, &t, err) < 0 ||
	    bjson_get_string(t, "task", "lastStatus", true, &st, err) < 0)
		return berr_wrap(err, "shim message"), -EPROTO;
	*seq = (uint64_t)n;
	*task = json_incref(t);
	return 0;
}

int shimc_recv(int fd, uint64_t *seq, json_t **task, struct berr **err)
{
	cleanup_free char *buf = xmalloc(SHIM_MSG_MAX + 1);
	struct iovec iov = { .iov_base = buf, .iov_len = SHIM_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	do
		r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (r < 0 && errno == ECONNRESET)
		return 0;
	if (r < 0)
		return berr_set(err, errno, "receive from the shim");
	if (r == 0)
		return 0;
	if (mh.msg_flags & MSG_TRUNC)
		return berr_set(err, EPROTO, "shim message longer than %d bytes", SHIM_MSG_MAX);
	if (shimc_parse(buf, (size_t)r, seq, task, err) < 0)
		return -EPROTO;
	return 1;
}

int shimc_recv_wait(int fd, int timeout_ms, uint64_t *seq, json_t **task, struct berr **err)
{
	int64_t deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = shimc_recv(fd, seq, task, err);
		int left = -1;

		if (r != -EAGAIN)
			return r;
		if (timeout_ms >= 0) {
			int64_t l = deadline - mono_ms();

			if (l <= 0)
				return berr_set(err, ETIMEDOUT, "no message from the shim within %d ms",
						timeout_ms);
			left = (int)l;
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return berr_set(err, errno, "poll");
	}
}

static int send_json(int fd, json_t *o, struct berr **err)
{
	cleanup_free char *txt = bjson_dumps(o);
	size_t len = strlen(txt);
	ssize_t r;

	do
		r = send(fd, txt, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return berr_set(err, errno, "send to the shim");
	return 0;
}

int shimc_send_stop(int fd, const char *reason, const char *stop_code, struct berr **err)
{
	cleanup_json json_t *o = json_pack("{s:s}", "op", "stop");

	if (reason)
		json_object_set_new(o, "reason", json_string(reason));
	if (stop_code)
		json_object_set_new(o, "stopCode", json_string(stop_code));
	return send_json(fd, o, err);
}

int shimc_send_state(int fd, struct berr **err)
{
	cleanup_json json_t *o = json_pack("{s:s}", "op", "state");

	return send_json(fd, o, err);
}

int shimc_send_signal(int fd, int sig, struct berr **err)
{
	cleanup_json json_t *o = json_pack("{s:s, s:i}", "op", "signal", "signal", sig);

	return send_json(fd, o, err);
}

int shimc_send_exec(int fd, const struct shimc_exec *x, const int *fds, struct berr **err)
{
	cleanup_json json_t *o = json_pack("{s:s, s:b}", "op", "exec", "tty", x->tty);
	json_t *argv = json_array();
	size_t nfds = x->tty ? 1 : 3;
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	cleanup_free char *txt = NULL;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t r;

	for (size_t i = 0; x->argv && x->argv[i]; i++)
		json_array_append_new(argv, json_string(x->argv[i]));
	json_object_set_new(o, "argv", argv);
	if (x->container)
		json_object_set_new(o, "container", json_string(x->container));
	if (x->env) {
		json_t *env = json_array();

		for (size_t i = 0; x->env[i]; i++)
			json_array_append_new(env, json_string(x->env[i]));
		json_object_set_new(o, "env", env);
	}
	if (x->user)
		json_object_set_new(o, "user", json_string(x->user));
	if (x->workdir)
		json_object_set_new(o, "workdir", json_string(x->workdir));
	txt = bjson_dumps(o);
	if (strlen(txt) > SHIM_REQUEST_MAX)
		return berr_set(err, E2BIG, "exec request of %zu bytes: the shim takes at most %d "
				"(command line and environment)", strlen(txt), SHIM_REQUEST_MAX);
	iov = (struct iovec){ .iov_base = txt, .iov_len = strlen(txt) };
	memset(&cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf.buf;
	mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	do
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		/* a full buffer (snapshots we have not read do not count): wait a little */
		if (poll(&p, 1, 5000) > 0)
			do
				r = sendmsg(fd, &mh, MSG_NOSIGNAL);
			while (r < 0 && errno == EINTR);
	}
	if (r < 0)
		return berr_set(err, errno, "send the exec request to the shim");
	return 0;
}

void shimc_msg_free(struct shimc_msg *m)
{
	free(m->container);
	free(m->message);
	free(m->code);
	memset(m, 0, sizeof(*m));
}

int shimc_parse_msg(const char *buf, size_t len, struct shimc_msg *m, struct berr **err)
{
	cleanup_json json_t *o = NULL;
	const char *type = NULL, *str = NULL;
	int64_t n;

	memset(m, 0, sizeof(*m));
	if (bjson_load_buf("shim message", buf, len, &o, err) < 0)
		return -EPROTO;
	if (bjson_get_string(o, "", "type", true, &type, err) < 0)
		return berr_wrap(err, "shim message"), -EPROTO;
	if (!strcmp(type, "state")) {
		m->type = SHIMC_MSG_STATE;
		return 0;
	}
	if (!strcmp(type, "error")) {
		m->type = SHIMC_MSG_ERROR;
		if (bjson_get_string(o, "", "message", false, &str, NULL) <= 0 || !str)
			str = "(no message)";
		m->message = xstrdup(str);
		str = NULL;
		if (bjson_get_string(o, "", "code", false, &str, NULL) > 0 && str)
			m->code = xstrdup(str);
		return 0;
	}
	if (!strcmp(type, "exec-started")) {
		if (bjson_get_int_range(o, "", "pid", true, 0, INT32_MAX, &n, err) < 0)
			return berr_wrap(err, "shim message exec-started"), -EPROTO;
		m->type = SHIMC_MSG_EXEC_STARTED;
		m->pid = (pid_t)n;
		if (bjson_get_string(o, "", "container", false, &str, NULL) > 0 && str)
			m->container = xstrdup(str);
		return 0;
	}
	if (!strcmp(type, "exec-exit")) {
		if (bjson_get_int_range(o, "", "exitCode", true, 0, 255, &n, err) < 0)
			return berr_wrap(err, "shim message exec-exit"), -EPROTO;
		m->type = SHIMC_MSG_EXEC_EXIT;
		m->exit_code = (int)n;
		return 0;
	}
	return berr_set(err, EPROTO, "shim message: type \"%s\" unknown", berr_q(type));
}

int shimc_recv_msg(int fd, int timeout_ms, struct shimc_msg *m, struct berr **err)
{
	cleanup_free char *buf = xmalloc(SHIM_MSG_MAX + 1);
	int64_t deadline = timeout_ms >= 0 ? mono_ms() + timeout_ms : 0;

	for (;;) {
		struct iovec iov = { .iov_base = buf, .iov_len = SHIM_MSG_MAX };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = -1;
		ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (r > 0) {
			if (mh.msg_flags & MSG_TRUNC)
				return berr_set(err, EPROTO, "shim message longer than %d bytes", SHIM_MSG_MAX);
			return shimc_parse_msg(buf, (size_t)r, m, err) < 0 ? -EPROTO : 1;
		}
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return berr_set(err, errno, "receive from the shim");
		if (timeout_ms >= 0) {
			int64_t l = deadline - mono_ms();

			if (l <= 0)
				return berr_set(err, ETIMEDOUT, "no message from the shim within %d ms",
						timeout_ms);
			left = (int)l;
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR)
			return berr_set(err, errno, "poll");
	}
}

int shimc_read_status(const char *bundle, uint64_t *seq, json_t **task, struct berr **err)
{
	cleanup_free char *path = xasprintf("%s/%s", bundle, SHIM_STATUS_FILE);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r;

	r = fs_read_file(path, &buf, &len, SHIM_MSG_MAX, err);
	if (r == -ENOENT) {
		berr_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	if ((r = shimc_parse(buf, len, seq, task, err)) < 0)
		return berr_wrap(err, "%s", path);
	return 1;
}

int shimc_read_pid(const char *bundle, pid_t *pid, struct berr **err)
{
	cleanup_free char *path = xasprintf("%s/%s", bundle, SHIM_PID_FILE);
	cleanup_free char *buf = NULL;
	char *end;
	long v;
	int r;

	r = fs_read_file(path, &buf, NULL, 64, err);
	if (r == -ENOENT) {
		berr_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || v <= 0 || v > INT32_MAX)
		return berr_set(err, EINVAL, "%s: not a pid: \"%s\"", path, berr_q(buf));
	*pid = (pid_t)v;
	return 1;
}
