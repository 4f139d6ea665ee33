/* runtime/daemon/lbclient.c - berth-lb's control socket, client side
 * (lbclient.h). */
#include "runtime/daemon/lbclient.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"

#define LBC_TIMEOUT_MS 2000
#define LBC_MAX_ANSWER (4 << 20)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait for fd to be ready for events until deadline */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	for (;;) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int lbc_call(const char *path, const json_t *req, json_t **resp, struct berr **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;
	cleanup_free char *line = NULL, *buf = NULL;
	size_t len, off = 0, cap = 4096, n = 0;
	int64_t deadline = now_ms() + LBC_TIMEOUT_MS;
	json_error_t jerr;
	json_t *ans;
	int r;

	*resp = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "berth-lb control socket %s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return berr_set(err, errno, "berth-lb control socket: socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		return berr_set(err, errno, "berth-lb control socket %s: connect (is berth-lb running "
				"with --control %s?)", path, path);
	line = json_dumps(req, JSON_COMPACT);
	if (!line)
		return berr_set(err, EINVAL, "berth-lb control: request does not encode");
	len = strlen(line);
	line = xrealloc(line, len + 2);
	line[len++] = '\n';
	line[len] = 0;
	while (off < len) {
		ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTCONN)
			return berr_set(err, errno, "berth-lb control socket %s: send", path);
		if ((r = wait_fd(fd, POLLOUT, deadline)) < 0)
			return berr_set(err, -r, "berth-lb control socket %s: send", path);
	}
	buf = xmalloc(cap);
	for (;;) {
		ssize_t rd;

		if (n + 1 >= cap) {
			if (cap >= LBC_MAX_ANSWER)
				return berr_set(err, EMSGSIZE, "berth-lb control socket %s: answer over %d "
						"bytes", path, LBC_MAX_ANSWER);
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		rd = recv(fd, buf + n, cap - n - 1, 0);
		if (rd > 0) {
			n += (size_t)rd;
			if (memchr(buf, '\n', n))
				break;
			continue;
		}
		if (rd == 0)
			return berr_set(err, ECONNRESET, "berth-lb control socket %s: closed before an "
					"answer", path);
		if (errno != EAGAIN && errno != EINTR)
			return berr_set(err, errno, "berth-lb control socket %s: receive", path);
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0)
			return berr_set(err, -r, "berth-lb control socket %s: no answer", path);
	}
	buf[n] = 0;
	*strchr(buf, '\n') = 0;
	ans = json_loads(buf, 0, &jerr);
	if (!json_is_object(ans)) {
		json_decref(ans);
		return berr_set(err, 0, "berth-lb control socket %s: the answer is not a JSON "
				"object", path);
	}
	*resp = ans;
	if (!json_is_true(json_object_get(ans, "Ok"))) {
		json_t *e = json_object_get(ans, "Error");

		return berr_set(err, 0, "berth-lb: %s: %s",
				json_string_value(json_object_get(e, "Code")) ?: "Error",
				json_string_value(json_object_get(e, "Message")) ?: "");
	}
	return 0;
}

int lbc_target_group_name(const char *arn, char *buf, size_t len)
{
	const char *p = arn, *slash;
	size_t n;

	if (!strncmp(arn, "arn:", 4)) {
		p = strstr(arn, ":targetgroup/");
		if (!p || strncmp(arn, "arn:aws:elasticloadbalancing:", 29))
			return -1;
		p += strlen(":targetgroup/");
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
	} else {
		n = strlen(p);
		if (strchr(p, '/') || strchr(p, ':'))
			return -1;
	}
	if (n == 0 || n >= len || n > 32)
		return -1;
	memcpy(buf, p, n);
	buf[n] = 0;
	return 0;
}
