/* runtime/cli/client.c - one blocking ECS JSON 1.1 call to berthd over its
 * unix socket (client.h). */
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TARGET_PREFIX "AmazonEC2ContainerServiceV20141113."
#define MESSAGE_MAX 2048

const char *client_socket_path(const char *opt)
{
	const char *env = getenv("BERTH_SOCKET");

	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	return CLIENT_DEFAULT_SOCKET;
}

void client_error_clear(struct client_error *e)
{
	if (!e)
		return;
	free(e->message);
	memset(e, 0, sizeof(*e));
}

/* A copy of s for a terminal: control bytes become '?', at most
 * MESSAGE_MAX bytes (cut at a UTF-8 boundary, "..." appended). */
static char *sanitize(const char *s)
{
	size_t n = strlen(s), cut = n;
	char *out;

	if (n > MESSAGE_MAX) {
		cut = MESSAGE_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	out = xmalloc(cut + 4);
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (cut < n)
		memcpy(out + cut, "...", 4);
	else
		out[cut] = '\0';
	return out;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct client_error *e, enum client_error_kind kind, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	client_error_clear(e);
	e->kind = kind;
	e->message = sanitize(msg);
	return -1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1: fd ready for `events`; 0: the deadline passed; <0: -errno */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - mono_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r > 0)
			return 1;
	}
}

static int connect_unix(const char *path, int timeout_ms, int *out, struct client_error *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	cleanup_close int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(e, CLIENT_UNREACHABLE, "cannot reach berthd at %s: the socket path is "
			    "longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(e, CLIENT_UNREACHABLE, "cannot reach berthd at %s: socket: %s", path,
			    strerror(errno));
	/* a unix connect() waits for room in a full backlog: bound it */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		if (err == EINTR)
			continue;
		if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR)
			return fail(e, CLIENT_UNREACHABLE, "cannot reach berthd at %s: is it running? "
				    "(systemctl start berthd)", path);
		if (err == EACCES || err == EPERM)
			return fail(e, CLIENT_UNREACHABLE, "cannot reach berthd at %s: permission "
				    "denied: the API socket is root-only (run berth as root)", path);
		if (err == EAGAIN || err == EINPROGRESS)
			return fail(e, CLIENT_UNREACHABLE, "cannot reach berthd at %s: it did not "
				    "accept the connection within %d ms", path, timeout_ms);
		return fail(e, CLIENT_UNREACHABLE, "cannot reach berthd at %s: %s", path,
			    strerror(err));
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return fail(e, CLIENT_UNREACHABLE, "cannot reach berthd at %s: fcntl: %s", path,
			    strerror(errno));
	*out = steal_fd(&fd);
	return 0;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline, const char *path,
		    struct client_error *e)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		int r;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s: send the request: %s", path,
				    strerror(errno));
		r = wait_fd(fd, POLLOUT, deadline);
		if (r == 0)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s did not take the request in time",
				    path);
		if (r < 0)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s: poll: %s", path, strerror(-r));
	}
	return 0;
}

/* ------------------------------------------------------------ response head */

struct head {
	int status;
	bool have_length;
	uint64_t length;
};

static bool ieq(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

/* buf[0, len) is the head up to and including its empty line. */
static int parse_head(const char *buf, size_t len, struct head *h, const char *path,
		      struct client_error *e)
{
	const char *p = buf, *end = buf + len, *eol;

	memset(h, 0, sizeof(*h));
	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	/* "HTTP/1.x SSS[ reason]" */
	if (!eol || eol - p < 12 || strncmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' ||
	    p[11] < '0' || p[11] > '9' || (eol - p > 12 && p[12] != ' '))
		return fail(e, CLIENT_PROTOCOL, "berthd at %s: not an HTTP/1.x status line: "
			    "\"%.*s\"", path, eol ? (int)(eol - p > 80 ? 80 : eol - p) : 0, p);
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	for (p = eol + 2; p < end; p = eol + 2) {
		const char *colon, *v, *ve;

		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol || eol == p)
			break;   /* the empty line */
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s: malformed response header "
				    "\"%.*s\"", path, (int)(eol - p > 80 ? 80 : eol - p), p);
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if (ieq(p, (size_t)(colon - p), "Content-Length")) {
			uint64_t n = 0;

			if (v == ve)
				goto bad_length;
			for (const char *q = v; q < ve; q++) {
				if (*q < '0' || *q > '9' || n > (UINT64_MAX - 9) / 10)
					goto bad_length;
				n = n * 10 + (uint64_t)(*q - '0');
			}
			if (h->have_length && h->length != n)
				return fail(e, CLIENT_PROTOCOL, "berthd at %s: two different "
					    "Content-Length headers", path);
			h->have_length = true;
			h->length = n;
		} else if (ieq(p, (size_t)(colon - p), "Transfer-Encoding")) {
			return fail(e, CLIENT_PROTOCOL, "berthd at %s: Transfer-Encoding responses are "
				    "not supported (expected Content-Length)", path);
		}
	}
	if (h->status >= 200 && !h->have_length)
		return fail(e, CLIENT_PROTOCOL, "berthd at %s: response without Content-Length", path);
	return 0;
bad_length:
	return fail(e, CLIENT_PROTOCOL, "berthd at %s: invalid Content-Length \"%.*s\"", path,
		    (int)(eol - p > 80 ? 80 : eol - p), p);
}

/* ------------------------------------------------------------ body */

static void set_type(struct client_error *e, const char *t)
{
	const char *hash = strrchr(t, '#');
	size_t n = 0;

	if (hash)
		t = hash + 1;
	/* botocore also strips a ":http://..." suffix */
	for (; t[n] && t[n] != ':' && n + 1 < sizeof(e->type); n++)
		e->type[n] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
				    t[n]) ? t[n] : '?';
	e->type[n] = '\0';
}

static int api_error(const char *body, size_t len, int status, struct client_error *e)
{
	cleanup_json json_t *v = json_loadb(body, len, 0, NULL);
	json_t *t = json_is_object(v) ? json_object_get(v, "__type") : NULL;
	json_t *m = json_is_object(v) ? json_object_get(v, "message") : NULL;

	if (!m && json_is_object(v))
		m = json_object_get(v, "Message");
	client_error_clear(e);
	e->kind = CLIENT_API;
	e->http_status = status;
	if (json_is_string(t) && *json_string_value(t))
		set_type(e, json_string_value(t));
	if (json_is_string(m) && *json_string_value(m))
		e->message = sanitize(json_string_value(m));
	else if (e->type[0])
		e->message = xstrdup(e->type);
	else
		e->message = xasprintf("berthd answered HTTP %d without an ECS error body", status);
	if (!e->type[0])
		snprintf(e->type, sizeof(e->type), "%s", status >= 500 ? "ServerException"
							   : "ClientException");
	return -1;
}

static int ok_body(const char *body, size_t len, const char *path, json_t **resp,
		   struct client_error *e)
{
	json_error_t je;
	json_t *v;

	if (len == 0) {
		*resp = json_object();
		return 0;
	}
	v = json_loadb(body, len, 0, &je);
	if (!v)
		return fail(e, CLIENT_PROTOCOL, "berthd at %s: the response is not JSON: %s "
			    "(byte %d)", path, je.text, je.position);
	if (!json_is_object(v)) {
		json_decref(v);
		return fail(e, CLIENT_PROTOCOL, "berthd at %s: the response is not a JSON object",
			    path);
	}
	*resp = v;
	return 0;
}

/* ------------------------------------------------------------ the call */

int client_call(const char *path, int timeout_ms, const char *op, const json_t *req,
		json_t **resp, struct client_error *e)
{
	return client_call_target(path, timeout_ms, NULL, op, req, resp, e);
}

int client_call_target(const char *path, int timeout_ms, const char *prefix, const char *op,
		       const json_t *req, json_t **resp, struct client_error *e)
{
	cleanup_close int fd = -1;
	cleanup_free char *body = NULL, *head = NULL, *buf = NULL;
	size_t len = 0, cap = 0, scanned = 0, head_len = 0;
	struct head h = { 0 };
	int64_t deadline;

	*resp = NULL;
	client_error_clear(e);
	if (timeout_ms <= 0)
		timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS;
	deadline = mono_ms() + timeout_ms;
	if (!op || !*op || strspn(op, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") !=
	    strlen(op))
		return fail(e, CLIENT_PROTOCOL, "operation \"%s\": letters only", op ? op : "");
	if (!prefix)
		prefix = TARGET_PREFIX;
	if (!*prefix || strspn(prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			       "0123456789.") != strlen(prefix))
		return fail(e, CLIENT_PROTOCOL, "target prefix \"%s\": letters, digits and dots "
			    "only", prefix);
	if (req && !json_is_object(req))
		return fail(e, CLIENT_PROTOCOL, "%s: the request must be a JSON object", op);
	if (req)
		body = json_dumps(req, JSON_COMPACT);
	if (!body)
		body = xstrdup("{}");
	head = xasprintf("POST / HTTP/1.1\r\nHost: berthd\r\nUser-Agent: berth-cli\r\n"
			 "X-Amz-Target: %s%s\r\n"
			 "Content-Type: application/x-amz-json-1.1\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n", prefix, op, strlen(body));
	if (connect_unix(path, timeout_ms, &fd, e) < 0 ||
	    send_all(fd, head, strlen(head), deadline, path, e) < 0 ||
	    send_all(fd, body, strlen(body), deadline, path, e) < 0)
		return -1;

	for (;;) {
		ssize_t n;
		int r;

		if (!head_len && len >= 4) {
			const char *end = memmem(buf + scanned, len - scanned, "\r\n\r\n", 4);

			if (end) {
				head_len = (size_t)(end - buf) + 4;
				if (parse_head(buf, head_len, &h, path, e) < 0)
					return -1;
				if (h.status < 200) {
					/* 1xx (100 Continue): another head follows */
					memmove(buf, buf + head_len, len - head_len);
					len -= head_len;
					head_len = scanned = 0;
					continue;
				}
				if (h.length > CLIENT_MAX_BODY)
					return fail(e, CLIENT_PROTOCOL, "berthd at %s: a %llu-byte "
						    "response is larger than %u bytes", path,
						    (unsigned long long)h.length, CLIENT_MAX_BODY);
			} else {
				scanned = len - 3;
			}
		}
		if (head_len && len - head_len >= h.length)
			break;
		if (!head_len && len > CLIENT_MAX_HEAD)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s: response head larger than %u "
				    "bytes", path, CLIENT_MAX_HEAD);
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 16384;
			if (head_len && cap < head_len + h.length + 1)
				cap = head_len + h.length + 1;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0) {
			if (!head_len && len == 0)
				return fail(e, CLIENT_PROTOCOL, "berthd at %s closed the connection "
					    "without an answer (see its log: journalctl -u berthd)", path);
			if (!head_len)
				return fail(e, CLIENT_PROTOCOL, "berthd at %s closed the connection in "
					    "the middle of the response head", path);
			return fail(e, CLIENT_PROTOCOL, "berthd at %s closed the connection after %zu "
				    "of %llu bytes of the response body (truncated)", path,
				    len - head_len, (unsigned long long)h.length);
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s: read the response: %s", path,
				    strerror(errno));
		r = wait_fd(fd, POLLIN, deadline);
		if (r == 0)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s did not answer %s within %d.%03d s",
				    path, op, timeout_ms / 1000, timeout_ms % 1000);
		if (r < 0)
			return fail(e, CLIENT_PROTOCOL, "berthd at %s: poll: %s", path, strerror(-r));
	}
	if (h.status < 200 || h.status > 299)
		return api_error(buf + head_len, h.length, h.status, e);
	return ok_body(buf + head_len, h.length, path, resp, e);
}

bool client_error_not_found(const struct client_error *e)
{
	size_t n, s = strlen("NotFoundException");

	if (!e || e->kind != CLIENT_API)
		return false;
	n = strlen(e->type);
	if (n >= s && !strcmp(e->type + n - s, "NotFoundException"))
		return true;
	if (strcmp(e->type, "ClientException") && strcmp(e->type, "InvalidParameterException"))
		return false;
	return e->message && (strcasestr(e->message, "not found") ||
			      strcasestr(e->message, "does not exist") ||
			      strcasestr(e->message, "Unable to describe task definition"));
}
