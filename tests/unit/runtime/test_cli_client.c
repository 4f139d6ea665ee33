/* Unit tests for runtime/cli/client.c: the berth CLI's HTTP/1.1 client of
 * berthd, against a fake server.
 *
 * Each test forks a fake server on a unix socket in a private temporary
 * directory: it accepts one connection, reads one request (head and
 * Content-Length body), hands the raw request to the test through a pipe,
 * then plays a scripted answer (whole, byte by byte, cut short, or none at
 * all) and closes. client.c is compiled into this test by
 * tests/cli/CMakeLists.txt (it lives in the berth program, not a library). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/cli/client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum play {
	PLAY_WHOLE,      /* write the answer at once */
	PLAY_DRIP,       /* one byte per write, with pauses */
	PLAY_HANG,       /* read the request, answer nothing, keep the connection open */
	PLAY_NOTHING,    /* close right after the request */
};

struct fake {
	char dir[64];
	char path[100];
	pid_t pid;
	int req_fd;      /* read end: the request as the server received it */
};

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void fake_dir(struct fake *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-cli-client-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/berthd.sock", f->dir);
	f->pid = -1;
	f->req_fd = -1;
}

/* In the child: read one request (head, then Content-Length bytes). */
static size_t child_read_request(int c, char *buf, size_t cap)
{
	size_t len = 0, need = 0;

	for (;;) {
		ssize_t n;

		if (!need) {
			char *end = memmem(buf, len, "\r\n\r\n", 4);

			if (end) {
				char *cl = strcasestr(buf, "\r\nContent-Length:");

				need = (size_t)(end - buf) + 4 + (cl ? strtoul(cl + 17, NULL, 10) : 0);
			}
		}
		if (need && len >= need)
			return len;
		n = read(c, buf + len, cap - len - 1);
		if (n <= 0)
			return len;
		len += (size_t)n;
		buf[len] = '\0';
	}
}

static void fake_start(struct fake *f, const char *answer, size_t answer_len, enum play play)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int p[2], ls;

	fake_dir(f);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		static char req[1 << 20];
		size_t n;
		int c;

		close(p[0]);
		c = accept(ls, NULL, NULL);
		if (c < 0)
			_exit(10);
		n = child_read_request(c, req, sizeof(req));
		if (write(p[1], req, n) != (ssize_t)n)
			_exit(11);
		close(p[1]);
		switch (play) {
		case PLAY_WHOLE:
			if (write(c, answer, answer_len) != (ssize_t)answer_len)
				_exit(12);
			break;
		case PLAY_DRIP:
			for (size_t i = 0; i < answer_len; i++) {
				if (write(c, answer + i, 1) != 1)
					_exit(12);
				if (i % 16 == 0)
					sleep_ms(1);
			}
			break;
		case PLAY_HANG:
			pause();
			break;
		case PLAY_NOTHING:
			break;
		}
		close(c);
		_exit(0);
	}
	close(ls);
	close(p[1]);
	f->req_fd = p[0];
}

/* The request the fake server received; xmalloc'd. */
static char *fake_request(struct fake *f)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = xmalloc(cap);
	ssize_t n;

	while ((n = read(f->req_fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2)
			buf = xrealloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	return buf;
}

static void fake_stop(struct fake *f)
{
	int status;

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, &status, 0);
	}
	if (f->req_fd >= 0)
		close(f->req_fd);
	unlink(f->path);
	rmdir(f->dir);
}

/* An answer with a Content-Length of the body's length. */
static char *answer(int status, const char *reason, const char *body)
{
	return xasprintf("HTTP/1.1 %d %s\r\nDate: Sat, 21 Nov 2026 10:45:53 GMT\r\n"
			 "Content-Type: application/x-amz-json-1.1\r\nContent-Length: %zu\r\n"
			 "x-amzn-RequestId: 0000\r\nConnection: close\r\n\r\n%s",
			 status, reason, strlen(body), body);
}

/* Call op with req on a fake server that plays `ans`; returns client_call's result. */
static int call_fake(const char *ans, size_t ans_len, enum play play, int timeout_ms, const char *op,
		     json_t *req, json_t **resp, struct client_error *e, char **request)
{
	struct fake f;
	int r;

	fake_start(&f, ans, ans_len, play);
	r = client_call(f.path, timeout_ms, op, req, resp, e);
	if (request)
		*request = fake_request(&f);
	fake_stop(&f);
	return r;
}

/* ------------------------------------------------------------ success */

static void test_ok_and_request_shape(void **state)
{
	cleanup_free char *ans = answer(200, "OK", "{\"clusterArns\":[\"arn:aws:ecs:r:1:cluster/a\"]}");
	cleanup_free char *req = NULL;
	cleanup_json json_t *in = json_pack("{s:s, s:i}", "clusterName", "web \"prod\"", "n", 3);
	json_t *resp = NULL, *sent;
	struct client_error e = { 0 };
	const char *body;
	char *cl;

	assert_int_equal(call_fake(ans, strlen(ans), PLAY_WHOLE, 5000, "ListClusters", in, &resp, &e,
				   &req), 0);
	assert_int_equal(e.kind, CLIENT_OK);
	assert_non_null(resp);
	assert_string_equal(json_string_value(json_array_get(json_object_get(resp, "clusterArns"), 0)),
			    "arn:aws:ecs:r:1:cluster/a");
	json_decref(resp);
	/* the request: JSON 1.1 over HTTP/1.1, framed by Content-Length */
	assert_true(!strncmp(req, "POST / HTTP/1.1\r\n", 17));
	assert_non_null(strstr(req, "\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.ListClusters\r\n"));
	assert_non_null(strstr(req, "\r\nContent-Type: application/x-amz-json-1.1\r\n"));
	assert_non_null(strstr(req, "\r\nHost: "));
	body = strstr(req, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	cl = strstr(req, "\r\nContent-Length: ");
	assert_non_null(cl);
	assert_int_equal(strtoul(cl + 18, NULL, 10), strlen(body));
	sent = json_loads(body, 0, NULL);
	assert_non_null(sent);
	assert_true(json_equal(sent, in));
	json_decref(sent);
}

static void test_null_request_sends_empty_object(void **state)
{
	cleanup_free char *ans = answer(200, "OK", "{}");
	cleanup_free char *req = NULL;
	json_t *resp = NULL;
	struct client_error e = { 0 };

	assert_int_equal(call_fake(ans, strlen(ans), PLAY_WHOLE, 5000, "ListTasks", NULL, &resp, &e,
				   &req), 0);
	assert_true(json_is_object(resp) && json_object_size(resp) == 0);
	json_decref(resp);
	assert_non_null(strstr(req, "\r\nContent-Length: 2\r\n"));
	assert_string_equal(strstr(req, "\r\n\r\n") + 4, "{}");
}

/* A large body arriving one byte at a time, after a 100 Continue, with
 * header names in odd case and bytes after the body (ignored). */
static void test_drip_large_continue(void **state)
{
	size_t n = 40000;
	cleanup_free char *big = xmalloc(n + 1), *body = NULL, *ans = NULL;
	json_t *resp = NULL;
	struct client_error e = { 0 };

	memset(big, 'x', n);
	big[n] = '\0';
	body = xasprintf("{\"big\":\"%s\"}", big);
	ans = xasprintf("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-LENGTH:  %zu \r\n"
			"X-Other: a:b\r\n\r\n%sTRAILING-GARBAGE", strlen(body), body);
	assert_int_equal(call_fake(ans, strlen(ans), PLAY_DRIP, 20000, "DescribeTasks", NULL, &resp,
				   &e, NULL), 0);
	assert_non_null(resp);
	assert_int_equal(strlen(json_string_value(json_object_get(resp, "big"))), n);
	json_decref(resp);
}

/* ------------------------------------------------------------ ECS errors */

static void test_api_error(void **state)
{
	cleanup_free char *ans = answer(400, "Bad Request",
		"{\"__type\":\"ClusterNotFoundException\",\"message\":\"Cluster not found.\"}");
	json_t *resp = NULL;
	struct client_error e = { 0 };

	assert_int_equal(call_fake(ans, strlen(ans), PLAY_WHOLE, 5000, "DescribeClusters", NULL, &resp,
				   &e, NULL), -1);
	assert_null(resp);
	assert_int_equal(e.kind, CLIENT_API);
	assert_int_equal(e.http_status, 400);
	assert_string_equal(e.type, "ClusterNotFoundException");
	assert_string_equal(e.message, "Cluster not found.");
	assert_true(client_error_not_found(&e));
	client_error_clear(&e);
	assert_null(e.message);
	assert_int_equal(e.kind, CLIENT_OK);
}

/* botocore's namespaced __type; control bytes in the message are not
 * passed to the terminal; a ClientException saying "not found" is one */
static void test_api_error_namespace_and_control_bytes(void **state)
{
	cleanup_free char *ans = answer(400, "Bad Request",
		"{\"__type\":\"com.amazonaws.ecs#ClientException\","
		"\"message\":\"TaskDefinition not found.\\u001b[2J\\nX\"}");
	json_t *resp = NULL;
	struct client_error e = { 0 };

	assert_int_equal(call_fake(ans, strlen(ans), PLAY_WHOLE, 5000, "RunTask", NULL, &resp, &e,
				   NULL), -1);
	assert_int_equal(e.kind, CLIENT_API);
	assert_string_equal(e.type, "ClientException");
	assert_string_equal(e.message, "TaskDefinition not found.?[2J?X");
	assert_true(client_error_not_found(&e));
	client_error_clear(&e);
}

static void test_api_error_not_not_found(void **state)
{
	cleanup_free char *ans = answer(400, "Bad Request",
		"{\"__type\":\"ClusterContainsTasksException\",\"message\":\"The Cluster cannot be "
		"deleted while Tasks are active.\"}");
	json_t *resp = NULL;
	struct client_error e = { 0 };

	assert_int_equal(call_fake(ans, strlen(ans), PLAY_WHOLE, 5000, "DeleteCluster", NULL, &resp, &e,
				   NULL), -1);
	assert_string_equal(e.type, "ClusterContainsTasksException");
	assert_false(client_error_not_found(&e));
	client_error_clear(&e);
}

/* a 5xx without a JSON body is still an API error, typed ServerException */
static void test_server_error_plain_body(void **state)
{
	const char *ans = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\n\r\noops";
	json_t *resp = NULL;
	struct client_error e = { 0 };

	assert_int_equal(call_fake(ans, strlen(ans), PLAY_WHOLE, 5000, "ListTasks", NULL, &resp, &e,
				   NULL), -1);
	assert_int_equal(e.kind, CLIENT_API);
	assert_int_equal(e.http_status, 502);
	assert_string_equal(e.type, "ServerException");
	assert_non_null(strstr(e.message, "HTTP 502"));
	assert_false(client_error_not_found(&e));
	client_error_clear(&e);
}

/* ------------------------------------------------------------ broken answers */

static void expect_protocol(const char *ans, size_t len, enum play play, int timeout_ms,
			    const char *needle)
{
	json_t *resp = NULL;
	struct client_error e = { 0 };

	assert_int_equal(call_fake(ans, len, play, timeout_ms, "ListClusters", NULL, &resp, &e, NULL),
			 -1);
	assert_null(resp);
	assert_int_equal(e.kind, CLIENT_PROTOCOL);
	if (!strstr(e.message, needle))
		fail_msg("message \"%s\" does not say \"%s\"", e.message, needle);
	client_error_clear(&e);
}

static void test_truncated_body(void **state)
{
	const char *ans = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"clusterA";

	expect_protocol(ans, strlen(ans), PLAY_WHOLE, 5000, "after 10 of 100 bytes");
	expect_protocol(ans, strlen(ans), PLAY_WHOLE, 5000, "truncated");
}

static void test_truncated_head(void **state)
{
	const char *ans = "HTTP/1.1 200 OK\r\nContent-Len";

	expect_protocol(ans, strlen(ans), PLAY_WHOLE, 5000, "middle of the response head");
}

static void test_no_answer(void **state)
{
	expect_protocol("", 0, PLAY_NOTHING, 5000, "closed the connection without an answer");
}

static void test_timeout(void **state)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	expect_protocol("", 0, PLAY_HANG, 300, "did not answer ListClusters within 0.300 s");
	clock_gettime(CLOCK_MONOTONIC, &b);
	/* bounded by the timeout, not by the server */
	assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 3000);
}

static void test_malformed(void **state)
{
	const char *no_len = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}";
	const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
	const char *not_http = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
	const char *bad_len = "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n{}";
	const char *two_len = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
	const char *huge = "HTTP/1.1 200 OK\r\nContent-Length: 999999999999\r\n\r\n{}";
	const char *not_json = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	const char *not_obj = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]";

	expect_protocol(no_len, strlen(no_len), PLAY_WHOLE, 5000, "without Content-Length");
	expect_protocol(chunked, strlen(chunked), PLAY_WHOLE, 5000, "Transfer-Encoding");
	expect_protocol(not_http, strlen(not_http), PLAY_WHOLE, 5000, "not an HTTP/1.x status line");
	expect_protocol(bad_len, strlen(bad_len), PLAY_WHOLE, 5000, "invalid Content-Length");
	expect_protocol(two_len, strlen(two_len), PLAY_WHOLE, 5000, "two different Content-Length");
	expect_protocol(huge, strlen(huge), PLAY_WHOLE, 5000, "larger than");
	expect_protocol(not_json, strlen(not_json), PLAY_WHOLE, 5000, "not JSON");
	expect_protocol(not_obj, strlen(not_obj), PLAY_WHOLE, 5000, "not a JSON object");
}

/* ------------------------------------------------------------ unreachable */

static void test_no_socket(void **state)
{
	struct fake f;
	json_t *resp = NULL;
	struct client_error e = { 0 };
	cleanup_free char *want = NULL;

	fake_dir(&f);
	assert_int_equal(client_call(f.path, 1000, "ListClusters", NULL, &resp, &e), -1);
	assert_int_equal(e.kind, CLIENT_UNREACHABLE);
	want = xasprintf("cannot reach berthd at %s: is it running? (systemctl start berthd)", f.path);
	assert_string_equal(e.message, want);
	client_error_clear(&e);
	rmdir(f.dir);
}

/* a socket file with nobody listening (berthd killed -9): ECONNREFUSED */
static void test_refused(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fake f;
	json_t *resp = NULL;
	struct client_error e = { 0 };
	int fd;

	fake_dir(&f);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f.path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(client_call(f.path, 1000, "ListClusters", NULL, &resp, &e), -1);
	assert_int_equal(e.kind, CLIENT_UNREACHABLE);
	assert_non_null(strstr(e.message, "is it running? (systemctl start berthd)"));
	client_error_clear(&e);
	unlink(f.path);
	rmdir(f.dir);
}

static void test_bad_arguments(void **state)
{
	json_t *resp = NULL, *arr = json_array();
	struct client_error e = { 0 };
	char longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(client_call(longpath, 1000, "ListClusters", NULL, &resp, &e), -1);
	assert_int_equal(e.kind, CLIENT_UNREACHABLE);
	assert_non_null(strstr(e.message, "longer than"));
	client_error_clear(&e);
	/* an operation is a name: nothing can be smuggled into the header */
	assert_int_equal(client_call("/nonexistent", 1000, "List\r\nX: y", NULL, &resp, &e), -1);
	assert_int_equal(e.kind, CLIENT_PROTOCOL);
	client_error_clear(&e);
	assert_int_equal(client_call("/nonexistent", 1000, "ListClusters", arr, &resp, &e), -1);
	assert_non_null(strstr(e.message, "must be a JSON object"));
	client_error_clear(&e);
	json_decref(arr);
}

static void test_socket_path(void **state)
{
	unsetenv("BERTH_SOCKET");
	assert_string_equal(client_socket_path(NULL), CLIENT_DEFAULT_SOCKET);
	assert_string_equal(client_socket_path(""), CLIENT_DEFAULT_SOCKET);
	setenv("BERTH_SOCKET", "", 1);
	assert_string_equal(client_socket_path(NULL), CLIENT_DEFAULT_SOCKET);
	setenv("BERTH_SOCKET", "/tmp/env.sock", 1);
	assert_string_equal(client_socket_path(NULL), "/tmp/env.sock");
	assert_string_equal(client_socket_path("/tmp/opt.sock"), "/tmp/opt.sock");
	unsetenv("BERTH_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok_and_request_shape),
		cmocka_unit_test(test_null_request_sends_empty_object),
		cmocka_unit_test(test_drip_large_continue),
		cmocka_unit_test(test_api_error),
		cmocka_unit_test(test_api_error_namespace_and_control_bytes),
		cmocka_unit_test(test_api_error_not_not_found),
		cmocka_unit_test(test_server_error_plain_body),
		cmocka_unit_test(test_truncated_body),
		cmocka_unit_test(test_truncated_head),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_socket_path),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
