/* The task's credentials and metadata endpoint server (creds/endpoint.c):
 * request parsing, routes and ECS's answers, the rate limit, and a real
 * socket on 127.0.0.1 driven through epoll (split requests, idle
 * connections, the connection cap). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/creds/endpoint.h"

#define CREDS_ID "7d3a4b9e-1c2f-4a5b-8c6d-0e1f2a3b4c5d"
#define ID_WEB "1b2c3d4e-0000-4000-8000-000000000001"
#define ID_SIDE "1b2c3d4e-0000-4000-8000-000000000002"

struct calls {
	int creds, meta;
	enum creds_ep_route route;
	char container[64];
	bool creds_ready;
	int audits;
	char last_audit[256];
};

static json_t *cb_creds(void *ctx, char **message)
{
	struct calls *c = ctx;

	c->creds++;
	if (!c->creds_ready) {
		*message = xstrdup("the task's credentials are not ready yet");
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "RoleArn", "arn:aws:iam::123456789012:role/web",
			 "AccessKeyId", "ASIAAAAAAAAAAAAAAAAA", "SecretAccessKey", "s3cr3t", "Token", "tok",
			 "Expiration", "2026-11-21T20:00:00Z");
}

static json_t *cb_meta(void *ctx, enum creds_ep_route route, const char *container, char **message)
{
	struct calls *c = ctx;

	c->meta++;
	c->route = route;
	snprintf(c->container, sizeof(c->container), "%s", container ? container : "(task)");
	if (container && !strcmp(container, "broken")) {
		*message = xstrdup("stats: cgroup gone");
		return NULL;
	}
	return json_pack("{s:s}", "Name", container ? container : "task");
}

static void cb_audit(void *ctx, const char *line)
{
	struct calls *c = ctx;

	c->audits++;
	snprintf(c->last_audit, sizeof(c->last_audit), "%s", line);
}

static const struct creds_ep_ops ops = { cb_creds, cb_meta, cb_audit };
static const char *const ids[] = { ID_WEB, ID_SIDE };
static const char *const names[] = { "web", "broken" };

static struct creds_ep *new_ep(int fd, struct calls *c, const char *creds_id, double rate, double burst)
{
	struct creds_ep_config cfg = {
		.creds_id = creds_id, .container_ids = ids, .container_names = names, .n_containers = 2,
		.rate = rate, .burst = burst,
	};
	struct creds_ep *ep = NULL;

	assert_int_equal(creds_ep_new(fd, &cfg, &ops, c, &ep, NULL), 0);
	return ep;
}

/* ------------------------------------------------------------- parsing */

static void expect_parse(const char *text, int want_r, int want_status, const char *path)
{
	struct creds_ep_req req;
	int status = -7;
	int r = creds_ep_parse(text, strlen(text), &req, &status);

	if (r != want_r || (want_r < 0 && status != want_status))
		fail_msg("%s: got %d/%d, wanted %d/%d", text, r, status, want_r, want_status);
	if (path) {
		assert_int_equal(req.path_len, strlen(path));
		assert_memory_equal(req.path, path, strlen(path));
		assert_int_equal(req.head_len, strlen(text));
	}
}

static void test_parse(void **state)
{
	char big[CREDS_EP_REQUEST_MAX + 16];

	(void)state;
	expect_parse("GET /v2/credentials/x HTTP/1.1\r\nHost: 169.254.170.2\r\n\r\n", 1, 0, "/v2/credentials/x");
	expect_parse("GET /v4/a/task?x=1 HTTP/1.0\r\n\r\n", 1, 0, "/v4/a/task");
	expect_parse("HEAD /v4/a HTTP/1.1\n\n", 1, 0, "/v4/a");
	expect_parse("GET /v4/a HTTP/1.1\r\nUser-Agent: Boto3/1.26 Python/3.11\r\nAccept-Encoding: identity\r\n\r\n",
		     1, 0, "/v4/a");
	/* incomplete: wait */
	expect_parse("GET /v4/a HTTP/1.1\r\nHost: x\r\n", 0, 0, NULL);
	expect_parse("GET /v4/a HT", 0, 0, NULL);
	expect_parse("", 0, 0, NULL);
	/* refused */
	expect_parse("POST /v2/credentials/x HTTP/1.1\r\n\r\n", -1, 405, NULL);
	expect_parse("PUT /v4/a HTTP/1.1\r\n\r\n", -1, 405, NULL);
	expect_parse("GET /v4/a HTTP/2.0\r\n\r\n", -1, 400, NULL);
	expect_parse("GET /v4/a\r\n\r\n", -1, 400, NULL);
	expect_parse("GET  /v4/a HTTP/1.1\r\n\r\n", -1, 400, NULL);
	expect_parse("G(T /v4/a HTTP/1.1\r\n\r\n", -1, 400, NULL);
	expect_parse("GET /v4/\x01 HTTP/1.1\r\n\r\n", -1, 400, NULL);
	expect_parse("GET /v4/a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", -1, 400, NULL);
	expect_parse("GET /v4/a HTTP/1.1\r\nHost : x\r\n\r\n", -1, 400, NULL);
	expect_parse("GET /v4/a HTTP/1.1\r\nNoColon\r\n\r\n", -1, 400, NULL);
	expect_parse("GET /v4/a HTTP/1.1\r\nX: a\x01b\r\n\r\n", -1, 400, NULL);
	expect_parse("GET /v4/a HTTP/1.1\r\nX: a\x7f\r\n\r\n", -1, 400, NULL);
	{
		struct creds_ep_req req;
		int status;

		assert_int_equal(creds_ep_parse("GET /a\0b HTTP/1.1\r\n", 19, &req, &status), -1);
		assert_int_equal(status, 400);
	}
	/* too long: the request line, or the head */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	assert_int_equal(creds_ep_parse(big, CREDS_EP_REQUEST_MAX, &(struct creds_ep_req){ 0 },
					&(int){ 0 }), -1);
	{
		struct creds_ep_req req;
		int status;

		assert_int_equal(creds_ep_parse(big, CREDS_EP_REQUEST_MAX, &req, &status), -1);
		assert_int_equal(status, 414);
		memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
		assert_int_equal(creds_ep_parse(big, CREDS_EP_REQUEST_MAX, &req, &status), -1);
		assert_int_equal(status, 431);
	}
}

/* ------------------------------------------------------------- answers */

static char *answer(struct creds_ep *ep, const char *text, double now, int *status)
{
	struct creds_ep_req req;
	size_t len;
	int ps;

	assert_int_equal(creds_ep_parse(text, strlen(text), &req, &ps), 1);
	return creds_ep_respond(ep, &req, now, &len, status);
}

static json_t *body_of(const char *msg)
{
	const char *b = strstr(msg, "\r\n\r\n");
	json_t *j;

	assert_non_null(b);
	j = json_loads(b + 4, JSON_DECODE_ANY, NULL);
	assert_non_null(j);
	return j;
}

static void expect_creds_error(struct creds_ep *ep, const char *text, int want, const char *code, const char *msg)
{
	int status;
	cleanup_free char *r = answer(ep, text, 1.0, &status);
	cleanup_json json_t *b = body_of(r);

	assert_int_equal(status, want);
	assert_string_equal(json_string_value(json_object_get(b, "code")), code);
	assert_string_equal(json_string_value(json_object_get(b, "message")), msg);
	assert_int_equal(json_integer_value(json_object_get(b, "HTTPErrorCode")), want);
}

static void test_routes(void **state)
{
	struct calls c = { .creds_ready = true };
	struct creds_ep *ep = new_ep(-1, &c, CREDS_ID, 1000, 1000);
	int status;

	(void)state;
	{
		cleanup_free char *r = answer(ep, "GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\n\r\n", 1.0, &status);
		cleanup_json json_t *b = body_of(r);

		assert_int_equal(status, 200);
		assert_non_null(strstr(r, "HTTP/1.1 200 OK\r\n"));
		assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
		assert_string_equal(json_string_value(json_object_get(b, "AccessKeyId")), "ASIAAAAAAAAAAAAAAAAA");
		assert_int_equal(c.creds, 1);
	}
	expect_creds_error(ep, "GET /v2/credentials/ HTTP/1.1\r\n\r\n", 400, "NoIdInRequest",
			   "CredentialsV2Request: No ID in the request");
	expect_creds_error(ep, "GET /v2/credentials HTTP/1.1\r\n\r\n", 400, "NoIdInRequest",
			   "CredentialsV2Request: No ID in the request");
	expect_creds_error(ep, "GET /v2/credentials/7d3a4b9e-1c2f-4a5b-8c6d-0e1f2a3b4c5e HTTP/1.1\r\n\r\n", 400,
			   "InvalidIdInRequest", "CredentialsV2Request: Credentials not found");
	/* a prefix or an extension of the id is not the id */
	expect_creds_error(ep, "GET /v2/credentials/7d3a4b9e HTTP/1.1\r\n\r\n", 400, "InvalidIdInRequest",
			   "CredentialsV2Request: Credentials not found");
	expect_creds_error(ep, "GET /v2/credentials/" CREDS_ID "0 HTTP/1.1\r\n\r\n", 400, "InvalidIdInRequest",
			   "CredentialsV2Request: Credentials not found");
	/* not ready */
	c.creds_ready = false;
	expect_creds_error(ep, "GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\n\r\n", 503, "CredentialsUninitialized",
			   "the task's credentials are not ready yet");
	/* metadata */
	{
		static const struct {
			const char *path;
			enum creds_ep_route route;
			const char *container;
		} m[] = {
			{ "/v4/" ID_WEB, CREDS_EP_CONTAINER, "web" },
			{ "/v4/" ID_WEB "/", CREDS_EP_CONTAINER, "web" },
			{ "/v4/" ID_WEB "/stats", CREDS_EP_CONTAINER_STATS, "web" },
			{ "/v4/" ID_WEB "/task", CREDS_EP_TASK, "(task)" },
			{ "/v4/" ID_WEB "/task/stats", CREDS_EP_TASK_STATS, "(task)" },
			{ "/v4/" ID_SIDE "/task", CREDS_EP_TASK, "(task)" },
		};

		for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
			cleanup_free char *text = xasprintf("GET %s HTTP/1.1\r\n\r\n", m[i].path);

			free(answer(ep, text, 1.0, &status));
			assert_int_equal(status, 200);
			assert_int_equal(c.route, m[i].route);
			assert_string_equal(c.container, m[i].container);
		}
	}
	{
		cleanup_free char *r = answer(ep, "GET /v4/" ID_SIDE " HTTP/1.1\r\n\r\n", 1.0, &status);
		cleanup_json json_t *b = body_of(r);

		assert_int_equal(status, 500);
		assert_string_equal(json_string_value(b), "stats: cgroup gone");
	}
	{
		static const char *const nf[] = {
			"/v4/1b2c3d4e-0000-4000-8000-000000000003", ("/v4/" ID_WEB "/tasks"), ("/v4/" ID_WEB "/task/x"),
			("/v3/" ID_WEB), "/", "/v2/credentialsX", "/v4/",
		};

		for (size_t i = 0; i < sizeof(nf) / sizeof(nf[0]); i++) {
			cleanup_free char *text = xasprintf("GET %s HTTP/1.1\r\n\r\n", nf[i]);

			free(answer(ep, text, 1.0, &status));
			if (status != 404)
				fail_msg("%s: %d", nf[i], status);
		}
	}
	/* HEAD: headers only */
	{
		cleanup_free char *r = answer(ep, "HEAD /v4/" ID_WEB " HTTP/1.1\r\n\r\n", 1.0, &status);

		assert_int_equal(status, 200);
		assert_string_equal(strstr(r, "\r\n\r\n"), "\r\n\r\n");
	}
	creds_ep_free(ep);

	/* a task without a role: every credentials id is unknown */
	ep = new_ep(-1, &c, NULL, 1000, 1000);
	expect_creds_error(ep, "GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\n\r\n", 400, "InvalidIdInRequest",
			   "CredentialsV2Request: Credentials not found");
	creds_ep_free(ep);
}

/* host-mode tasks: the credentials need the task's token */
static void test_auth_token(void **state)
{
	struct calls c = { .creds_ready = true };
	struct creds_ep_config cfg = {
		.creds_id = CREDS_ID, .auth_token = "tok-0123456789abcdef0123456789abcdef",
		.container_ids = ids, .container_names = names, .n_containers = 2,
	};
	struct creds_ep *ep = NULL;
	int status;

	(void)state;
	assert_int_equal(creds_ep_new(-1, &cfg, &ops, &c, &ep, NULL), 0);
	free(answer(ep, "GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\nAuthorization: tok-0123456789abcdef0123456789abcdef\r\n\r\n",
		    1.0, &status));
	assert_int_equal(status, 200);
	free(answer(ep, "GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\nauthorization:   tok-0123456789abcdef0123456789abcdef  \r\n\r\n",
		    1.0, &status));
	assert_int_equal(status, 200);
	assert_int_equal(c.creds, 2);
	{
		static const char *const bad[] = {
			("GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\n\r\n"),
			("GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\nAuthorization: tok-0123456789abcdef0123456789abcdeX\r\n\r\n"),
			("GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\nAuthorization: tok-0123456789abcdef0123456789abcde\r\n\r\n"),
			("GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\nAuthorization: tok-0123456789abcdef0123456789abcdef0\r\n\r\n"),
			("GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\nAuthorization: tok-0123456789abcdef0123456789abcdef\r\n"
			 "Authorization: tok-0123456789abcdef0123456789abcdef\r\n\r\n"),
			("GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\nAuthorization:\r\n\r\n"),
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			cleanup_free char *r = answer(ep, bad[i], 1.0, &status);
			cleanup_json json_t *b = body_of(r);

			if (status != 401)
				fail_msg("case %zu: %d", i, status);
			assert_string_equal(json_string_value(json_object_get(b, "code")), "AccessDenied");
		}
	}
	assert_int_equal(c.creds, 2);
	/* metadata does not need it */
	free(answer(ep, "GET /v4/" ID_WEB "/task HTTP/1.1\r\n\r\n", 1.0, &status));
	assert_int_equal(status, 200);
	creds_ep_free(ep);
}

static void test_rate_limit(void **state)
{
	struct calls c = { .creds_ready = true };
	struct creds_ep *ep = new_ep(-1, &c, CREDS_ID, 10, 5);
	int status;

	(void)state;
	for (int i = 0; i < 5; i++) {
		free(answer(ep, "GET /v4/" ID_WEB " HTTP/1.1\r\n\r\n", 100.0, &status));
		assert_int_equal(status, 200);
	}
	{
		cleanup_free char *r = answer(ep, "GET /v2/credentials/" CREDS_ID " HTTP/1.1\r\n\r\n", 100.0, &status);
		cleanup_json json_t *b = body_of(r);

		assert_int_equal(status, 429);
		assert_string_equal(json_string_value(json_object_get(b, "code")), "TooManyRequests");
		assert_int_equal(c.creds, 0);   /* throttled before any work */
	}
	/* 0.15 s later: 1.5 more tokens at 10/s, so one request */
	free(answer(ep, "GET /v4/" ID_WEB " HTTP/1.1\r\n\r\n", 100.15, &status));
	assert_int_equal(status, 200);
	free(answer(ep, "GET /v4/" ID_WEB " HTTP/1.1\r\n\r\n", 100.15, &status));
	assert_int_equal(status, 429);
	/* a long pause refills up to the burst, not beyond */
	for (int i = 0; i < 6; i++) {
		free(answer(ep, "GET /v4/" ID_WEB " HTTP/1.1\r\n\r\n", 200.0, &status));
		assert_int_equal(status, i < 5 ? 200 : 429);
	}
	creds_ep_free(ep);
}

/* ------------------------------------------------------------ a socket */

struct live {
	int lfd, epfd;
	struct sockaddr_in sa;
};

static void live_open(struct live *l)
{
	socklen_t sl = sizeof(l->sa);

	l->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(l->lfd >= 0);
	memset(&l->sa, 0, sizeof(l->sa));
	l->sa.sin_family = AF_INET;
	l->sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l->lfd, (struct sockaddr *)&l->sa, sizeof(l->sa)), 0);
	assert_int_equal(listen(l->lfd, 128), 0);
	assert_int_equal(getsockname(l->lfd, (struct sockaddr *)&l->sa, &sl), 0);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(l->epfd >= 0);
}

static int dial(struct live *l)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&l->sa, sizeof(l->sa)), 0);
	return fd;
}

static void pump(struct live *l, struct creds_ep *ep, double now)
{
	struct epoll_event ev[16];
	int n;

	while ((n = epoll_wait(l->epfd, ev, 16, 50)) > 0)
		for (int i = 0; i < n; i++)
			assert_true(creds_ep_handle(ep, ev[i].data.fd, ev[i].events, now));
}

static char *read_all(int fd)
{
	char *buf = xzalloc(65536);
	size_t len = 0;
	ssize_t n;

	while ((n = read(fd, buf + len, 65535 - len)) > 0)
		len += (size_t)n;
	return buf;
}

static void test_socket(void **state)
{
	struct calls c = { .creds_ready = true };
	struct live l;
	struct creds_ep *ep;
	int a, b;

	(void)state;
	live_open(&l);
	ep = new_ep(l.lfd, &c, CREDS_ID, 1000, 1000);
	assert_int_equal(creds_ep_attach(ep, l.epfd, NULL), 0);

	/* a request in three pieces */
	a = dial(&l);
	assert_int_equal(write(a, "GET /v2/cred", 12), 12);
	pump(&l, ep, 1.0);
	assert_int_equal(creds_ep_n_conns(ep), 1);
	{
		static const char part[] = "entials/" CREDS_ID " HTTP/1.1\r\nHost: 169.254.170.2\r\n";

		assert_int_equal(write(a, part, strlen(part)), (ssize_t)strlen(part));
	}
	pump(&l, ep, 1.1);
	assert_int_equal(creds_ep_n_conns(ep), 1);
	assert_int_equal(c.creds, 0);
	assert_int_equal(write(a, "\r\n", 2), 2);
	pump(&l, ep, 1.2);
	assert_int_equal(creds_ep_n_conns(ep), 0);
	{
		cleanup_free char *r = read_all(a);

		assert_non_null(strstr(r, "HTTP/1.1 200 OK"));
		assert_non_null(strstr(r, "\"SecretAccessKey\":\"s3cr3t\""));
		assert_non_null(strstr(r, "Connection: close"));
	}
	close(a);
	/* the audit line names the route, never the id */
	assert_int_equal(c.audits, 1);
	assert_string_equal(c.last_audit, "GET /v2/credentials 200");

	/* a malformed request: 400 and closed */
	a = dial(&l);
	assert_int_equal(write(a, "GET /x HTTP/1.1\r\nX : y\r\n\r\n", 26), 26);   /* 17 + 9 */
	pump(&l, ep, 2.0);
	{
		cleanup_free char *r = read_all(a);

		assert_non_null(strstr(r, "HTTP/1.1 400 Bad Request"));
	}
	close(a);
	assert_string_equal(c.last_audit, "(malformed request) 400");

	/* an idle connection is closed after CREDS_EP_IDLE_SECONDS */
	a = dial(&l);
	b = dial(&l);
	assert_int_equal(write(b, "GET /v4/" ID_WEB, 8 + 36), 8 + 36);
	pump(&l, ep, 10.0);
	assert_int_equal(creds_ep_n_conns(ep), 2);
	assert_true(creds_ep_tick(ep, 12.0) > 0);
	assert_int_equal(creds_ep_n_conns(ep), 2);
	assert_true(creds_ep_tick(ep, 10.0 + CREDS_EP_IDLE_SECONDS + 0.01) < 0);
	assert_int_equal(creds_ep_n_conns(ep), 0);
	{
		char x;

		assert_int_equal(read(a, &x, 1), 0);
		assert_int_equal(read(b, &x, 1), 0);
	}
	close(a);
	close(b);

	/* at most CREDS_EP_MAX_CONNS open; the rest wait in the backlog and
	 * are served as the others end */
	{
		int fds[CREDS_EP_MAX_CONNS + 4];

		for (int i = 0; i < CREDS_EP_MAX_CONNS + 4; i++)
			fds[i] = dial(&l);
		pump(&l, ep, 20.0);
		assert_int_equal(creds_ep_n_conns(ep), CREDS_EP_MAX_CONNS);
		for (int i = 0; i < CREDS_EP_MAX_CONNS + 4; i++) {
			cleanup_free char *r = NULL;

			static const char rq[] = "GET /v4/" ID_WEB "/task HTTP/1.1\r\n\r\n";

			assert_int_equal(write(fds[i], rq, strlen(rq)), (ssize_t)strlen(rq));
			pump(&l, ep, 20.5);
			r = read_all(fds[i]);
			if (!strstr(r, "HTTP/1.1 200 OK"))
				fail_msg("connection %d: %s", i, r);
			close(fds[i]);
		}
		pump(&l, ep, 21.0);
		assert_int_equal(creds_ep_n_conns(ep), 0);
	}
	creds_ep_free(ep);
	close(l.lfd);
	close(l.epfd);
}

static void test_ids(void **state)
{
	char a[CREDS_EP_ID_LEN + 1], b[CREDS_EP_ID_LEN + 1];

	(void)state;
	creds_ep_new_id(a);
	creds_ep_new_id(b);
	assert_int_equal(strlen(a), 36);
	assert_string_not_equal(a, b);
	assert_int_equal(a[8], '-');
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_auth_token),
		cmocka_unit_test(test_rate_limit),
		cmocka_unit_test(test_socket),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
