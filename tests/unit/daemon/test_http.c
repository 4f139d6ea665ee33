/* tests/unit/daemon/test_http.c - berthd's incremental HTTP/1.1 parser and
 * response writer (runtime/daemon/http.c).
 *
 * Every valid request is also fed in every two-piece split and byte by byte
 * through a buffer that is reallocated before each call, and must parse to
 * the same request: the parser keeps offsets, never pointers, between calls. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/xalloc.h"
#include "runtime/daemon/http.h"

/* ------------------------------------------------------------- helpers */

static struct http_request req;   /* 3+ KiB: not on the stack of every helper */

static bool span_is(const char *p, size_t n, const char *want)
{
	return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

#define assert_span(p, n, want)                                                           \
	do {                                                                              \
		if (!span_is((p), (n), (want)))                                           \
			fail_msg("%s: got \"%.*s\", want \"%s\"", #p, (int)(n),           \
				 (p) ? (p) : "", (want));                                 \
	} while (0)

/* Parse s (one request, maybe followed by more bytes) in one call. */
static enum http_parse_result parse_all(struct http_parser *p, const char *s, size_t n)
{
	http_parser_init(p, NULL);
	return http_parse(p, s, n, &req);
}

/* A short, readable summary of a parsed request, to compare parses. */
static char *summary(const struct http_request *r)
{
	struct http_out o = { 0 };

	http_out_printf(&o, "%.*s|%.*s|%.*s|%s%.*s|%d|%d|%d|%zu|", (int)r->method_len, r->method,
			(int)r->path_len, r->path, (int)r->target_len, r->target,
			r->query ? "?" : "-", (int)r->query_len, r->query ? r->query : "",
			r->version, r->keep_alive, r->expect_continue, r->consumed);
	for (size_t i = 0; i < r->n_headers; i++)
		http_out_printf(&o, "[%.*s=%.*s]", (int)r->headers[i].name_len, r->headers[i].name,
				(int)r->headers[i].value_len, r->headers[i].value);
	http_out_printf(&o, "{%.*s}", (int)r->body_len, r->body);
	http_out_append(&o, "", 1);
	return o.buf;
}

/* Feed s in pieces: first `split` bytes, then the rest; each call gets a
 * fresh copy of the buffer (the old one freed), as after a realloc. */
static char *parse_split(const char *s, size_t n, size_t split)
{
	struct http_parser p;
	char *buf = NULL;
	enum http_parse_result r;

	http_parser_init(&p, NULL);
	buf = xmemdup(s, split ? split : 1);
	r = http_parse(&p, buf, split, &req);
	if (r == HTTP_PARSE_DONE) {
		char *sum = summary(&req);

		free(buf);
		return sum;
	}
	if (r != HTTP_PARSE_MORE)
		fail_msg("split %zu: first part gave %d (%d %s)", split, r, p.status, p.error);
	free(buf);
	buf = xmemdup(s, n);
	r = http_parse(&p, buf, n, &req);
	if (r != HTTP_PARSE_DONE)
		fail_msg("split %zu: second part gave %d (%d %s)", split, r, p.status, p.error);
	char *sum = summary(&req);
	/* poison the buffer: the summary was taken from it, nothing else may be used */
	memset(buf, 'X', n);
	free(buf);
	return sum;
}

static char *parse_bytewise(const char *s, size_t n)
{
	struct http_parser p;
	char *sum = NULL;

	http_parser_init(&p, NULL);
	for (size_t k = 1; k <= n; k++) {
		char *buf = xmemdup(s, k);
		enum http_parse_result r = http_parse(&p, buf, k, &req);

		if (r == HTTP_PARSE_DONE) {
			sum = summary(&req);
			free(buf);
			break;
		}
		free(buf);
		if (r != HTTP_PARSE_MORE)
			fail_msg("byte %zu: %d (%d %s)", k, r, p.status, p.error);
	}
	if (!sum)
		fail_msg("never complete after %zu bytes", n);
	return sum;
}

/* s must parse as exactly its full length whichever way it arrives */
static void expect_same_every_way(const char *s)
{
	size_t n = strlen(s);
	struct http_parser p;
	cleanup_free char *whole = NULL;
	cleanup_free char *bytes = NULL;

	if (parse_all(&p, s, n) != HTTP_PARSE_DONE)
		fail_msg("\"%s\": %d %s", s, p.status, p.error);
	assert_int_equal(req.consumed, n);
	whole = summary(&req);
	for (size_t split = 0; split < n; split++) {
		cleanup_free char *part = parse_split(s, n, split);

		if (strcmp(part, whole) != 0)
			fail_msg("split at %zu: %s != %s", split, part, whole);
	}
	bytes = parse_bytewise(s, n);
	assert_string_equal(bytes, whole);
}

/* s fails with status and a message containing `want`, whether whole or byte by byte */
static void expect_error_lim(const struct http_limits *lim, const char *s, size_t n, int status,
			     const char *want)
{
	struct http_parser p;
	enum http_parse_result r;

	http_parser_init(&p, lim);
	r = http_parse(&p, s, n, &req);
	if (r != HTTP_PARSE_ERROR)
		fail_msg("\"%.*s\": parsed (%d), expected %d", (int)(n > 200 ? 200 : n), s, r, status);
	if (p.status != status || !strstr(p.error, want))
		fail_msg("\"%.*s\": got %d \"%s\", expected %d \"%s\"", (int)(n > 200 ? 200 : n), s,
			 p.status, p.error, status, want);
	/* sticky: the connection is done */
	assert_int_equal(http_parse(&p, s, n, &req), HTTP_PARSE_ERROR);

	/* byte by byte: the same error, at the latest when everything came */
	http_parser_init(&p, lim);
	for (size_t k = 1; k <= n; k++) {
		r = http_parse(&p, s, k, &req);
		if (r == HTTP_PARSE_ERROR)
			break;
		if (r == HTTP_PARSE_DONE)
			fail_msg("\"%.*s\": bytewise parsed at %zu", (int)(n > 200 ? 200 : n), s, k);
	}
	if (r != HTTP_PARSE_ERROR || p.status != status)
		fail_msg("\"%.*s\": bytewise %d status %d, expected %d", (int)(n > 200 ? 200 : n), s,
			 r, p.status, status);
}

static void expect_error(const char *s, int status, const char *want)
{
	expect_error_lim(NULL, s, strlen(s), status, want);
}

/* --------------------------------------------------------------- parsing */

static void test_simple_get(void **state)
{
	static const char s[] = "GET /a/b?x=1&y HTTP/1.1\r\n"
				"Host: example.com\r\n"
				"X-Amz-Target:  AmazonEC2ContainerServiceV20141113.ListTasks \t \r\n"
				"x-amz-target: second\r\n"
				"Empty:\r\n"
				"\r\n";
	struct http_parser p;
	const struct http_header *h;

	(void)state;
	assert_int_equal(parse_all(&p, s, strlen(s)), HTTP_PARSE_DONE);
	assert_span(req.method, req.method_len, "GET");
	assert_span(req.target, req.target_len, "/a/b?x=1&y");
	assert_span(req.path, req.path_len, "/a/b");
	assert_span(req.query, req.query_len, "x=1&y");
	assert_int_equal(req.version, 11);
	assert_true(req.keep_alive);
	assert_false(req.expect_continue);
	assert_int_equal(req.body_len, 0);
	assert_int_equal(req.consumed, strlen(s));
	/* order and raw values kept, OWS trimmed */
	assert_int_equal(req.n_headers, 4);
	assert_span(req.headers[0].name, req.headers[0].name_len, "Host");
	assert_span(req.headers[1].name, req.headers[1].name_len, "X-Amz-Target");
	assert_span(req.headers[1].value, req.headers[1].value_len,
		    "AmazonEC2ContainerServiceV20141113.ListTasks");
	assert_span(req.headers[2].name, req.headers[2].name_len, "x-amz-target");
	assert_int_equal(req.headers[3].value_len, 0);
	/* lookup is case-insensitive and finds the first */
	h = http_header_find(&req, "X-AMZ-TARGET");
	assert_ptr_equal(h, &req.headers[1]);
	assert_int_equal(http_header_count(&req, "x-amz-target"), 2);
	assert_int_equal(http_header_count(&req, "host"), 1);
	assert_null(http_header_find(&req, "content-length"));
	assert_null(http_header_find(&req, "x-amz-targe"));
	assert_true(http_header_is(&req.headers[0], "HOST"));
	assert_false(http_header_is(&req.headers[0], "hos"));
}

static void test_query_forms(void **state)
{
	struct http_parser p;
	static const char a[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char b[] = "GET /? HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char c[] = "GET /p?q?r=%20 HTTP/1.1\r\nHost: h\r\n\r\n";

	(void)state;
	assert_int_equal(parse_all(&p, a, strlen(a)), HTTP_PARSE_DONE);
	assert_null(req.query);
	assert_span(req.path, req.path_len, "/");
	assert_int_equal(parse_all(&p, b, strlen(b)), HTTP_PARSE_DONE);
	assert_non_null(req.query);   /* "?" present, empty query */
	assert_int_equal(req.query_len, 0);
	assert_span(req.path, req.path_len, "/");
	assert_int_equal(parse_all(&p, c, strlen(c)), HTTP_PARSE_DONE);
	assert_span(req.path, req.path_len, "/p");
	assert_span(req.query, req.query_len, "q?r=%20");
}

static void test_post_body_every_split(void **state)
{
	(void)state;
	expect_same_every_way("POST / HTTP/1.1\r\n"
			      "Host: 127.0.0.1:8080\r\n"
			      "Content-Type: application/x-amz-json-1.1\r\n"
			      "Content-Length: 17\r\n"
			      "\r\n"
			      "{\"cluster\": \"a\"}\n");
	expect_same_every_way("GET /x HTTP/1.0\r\n\r\n");
	expect_same_every_way("\r\n\r\nPUT /k?a=b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
			      "Connection: close\r\n\r\nabc");
	expect_same_every_way("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
}

static void test_body_waits(void **state)
{
	static const char s[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
	size_t head = strlen(s) - 5;
	struct http_parser p;

	(void)state;
	http_parser_init(&p, NULL);
	for (size_t k = head - 1; k < strlen(s); k++)
		assert_int_equal(http_parse(&p, s, k, &req), HTTP_PARSE_MORE);
	assert_int_equal(http_parse(&p, s, strlen(s), &req), HTTP_PARSE_DONE);
	assert_span(req.body, req.body_len, "hello");
	assert_ptr_equal(req.body, s + head);
	/* done stays done on the same bytes */
	assert_int_equal(http_parse(&p, s, strlen(s), &req), HTTP_PARSE_DONE);
	assert_int_equal(req.consumed, strlen(s));
}

static void test_pipelining(void **state)
{
	static const char s[] = "POST /one HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
				"GET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
				"GET /thr";
	struct http_parser p;
	size_t off = 0;

	(void)state;
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, s + off, strlen(s) - off, &req), HTTP_PARSE_DONE);
	assert_span(req.path, req.path_len, "/one");
	assert_span(req.body, req.body_len, "abc");
	assert_true(req.keep_alive);
	off += req.consumed;
	http_parser_reset(&p);
	assert_int_equal(http_parse(&p, s + off, strlen(s) - off, &req), HTTP_PARSE_DONE);
	assert_span(req.path, req.path_len, "/two");
	assert_false(req.keep_alive);
	off += req.consumed;
	http_parser_reset(&p);
	assert_int_equal(http_parse(&p, s + off, strlen(s) - off, &req), HTTP_PARSE_MORE);
	assert_int_equal(strlen(s) - off, 8);
}

static void expect_keep_alive(const char *s, bool want)
{
	struct http_parser p;

	if (parse_all(&p, s, strlen(s)) != HTTP_PARSE_DONE)
		fail_msg("\"%s\": %d %s", s, p.status, p.error);
	if (req.keep_alive != want)
		fail_msg("\"%s\": keep_alive %d, want %d", s, req.keep_alive, want);
}

static void test_keep_alive(void **state)
{
	(void)state;
	expect_keep_alive("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true);
	expect_keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false);
	expect_keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n", false);
	expect_keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, close\r\n\r\n", false);
	expect_keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
			  false);
	expect_keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", true);
	expect_keep_alive("GET / HTTP/1.0\r\n\r\n", false);
	expect_keep_alive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true);
	expect_keep_alive("GET / HTTP/1.0\r\nConnection: te, keep-alive\r\n\r\n", true);
	expect_keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false);
}

static void test_content_length(void **state)
{
	struct http_parser p;
	static const char dup[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n"
				  "content-length: 02\r\nContent-Length: 2, 2\r\n\r\nab";

	(void)state;
	/* equal duplicates (also as a list) are one length */
	assert_int_equal(parse_all(&p, dup, strlen(dup)), HTTP_PARSE_DONE);
	assert_span(req.body, req.body_len, "ab");
	/* a body on a GET is read too, so the next request starts after it */
	expect_same_every_way("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy");

	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
		     400, "conflicting Content-Length");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 3\r\n\r\nab", 400,
		     "invalid Content-Length");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400,
		     "invalid Content-Length");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx", 400,
		     "invalid Content-Length");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\nx", 400,
		     "invalid Content-Length");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x1\r\n\r\nx", 400,
		     "invalid Content-Length");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400,
		     "invalid Content-Length");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2,\r\n\r\nab", 400,
		     "invalid Content-Length");
	/* missing on a method with a body */
	expect_error("POST / HTTP/1.1\r\nHost: h\r\n\r\n", 411, "POST needs a Content-Length");
	expect_error("PUT / HTTP/1.1\r\nHost: h\r\n\r\n", 411, "PUT needs");
	expect_error("PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", 411, "PATCH needs");
	/* too large: refused from the head, before any of the body came */
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", 413,
		     "larger than the limit of 1048576");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n",
		     413, "larger than the limit");
	/* 2^64 and 2^64 + 1 must not wrap round to 0 and 1 */
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
		     413, "larger than the limit");
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551617\r\n\r\nx",
		     413, "larger than the limit");
}

static void test_body_limit_boundary(void **state)
{
	struct http_limits lim = HTTP_LIMITS_DEFAULT;
	struct http_parser p;
	static const char ok[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
	static const char big[] = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n";

	(void)state;
	lim.max_body = 10;
	http_parser_init(&p, &lim);
	assert_int_equal(http_parse(&p, ok, strlen(ok), &req), HTTP_PARSE_DONE);
	assert_int_equal(req.body_len, 10);
	expect_error_lim(&lim, big, strlen(big), 413, "limit of 10 bytes");
}

static void test_transfer_encoding(void **state)
{
	(void)state;
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		     501, "chunked");
	/* the smuggling shape: both */
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		     501, "Transfer-Encoding is not supported");
	expect_error("GET / HTTP/1.0\r\nTransfer-Encoding: identity\r\n\r\n", 501, "Content-Length");
}

static void test_host(void **state)
{
	struct http_parser p;
	static const char v10[] = "GET / HTTP/1.0\r\n\r\n";

	(void)state;
	expect_error("GET / HTTP/1.1\r\n\r\n", 400, "exactly one Host");
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "exactly one Host");
	expect_error("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400, "exactly one Host");
	assert_int_equal(parse_all(&p, v10, strlen(v10)), HTTP_PARSE_DONE);
}

static void test_request_line_errors(void **state)
{
	static const char high[] = "GET /\xe1\x88\xb4 HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char nul[] = "GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n";

	(void)state;
	expect_error("GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "bare LF");
	expect_error("GET / HTTP/1.1\r\nHost: h\n\r\n", 400, "bare LF");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "bare LF");
	expect_error("\n", 400, "bare LF");
	expect_error("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line");
	expect_error("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed HTTP version");
	expect_error("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "malformed HTTP version");
	expect_error(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line");
	expect_error("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line");
	expect_error("GET\r\nHost: h\r\n\r\n", 400, "malformed request line");
	expect_error("GET /\r\nHost: h\r\n\r\n", 400, "malformed request line");
	expect_error("GET / http/1.1\r\nHost: h\r\n\r\n", 400, "malformed HTTP version");
	expect_error("GET / HTTP/1.11\r\nHost: h\r\n\r\n", 400, "malformed HTTP version");
	expect_error("GET / HTTP/11\r\nHost: h\r\n\r\n", 400, "malformed HTTP version");
	expect_error("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "HTTP/2.0 is not supported");
	expect_error("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, "HTTP/1.2");
	expect_error("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505, "HTTP/0.9");
	/* origin-form only */
	expect_error("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "origin-form");
	expect_error("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "origin-form");
	expect_error("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, "0x23 in request target");
	expect_error("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400, "0x09 in request target");
	expect_error("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "0x7f in request target");
	expect_error(high, 400, "0xe1 in request target");
	expect_error_lim(NULL, nul, sizeof(nul) - 1, 400, "0x00 in request target");
	/* a CR inside the line */
	expect_error("GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400, "malformed HTTP version");
}

static void test_empty_lines_before(void **state)
{
	(void)state;
	expect_same_every_way("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
	expect_error("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "empty lines");
}

static void test_header_errors(void **state)
{
	static const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";

	(void)state;
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", 400, "obs-fold");
	expect_error("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", 400, "obs-fold");
	expect_error("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "0x20 in header name \"Host\"");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nNo-Colon\r\n\r\n", 400, "\"No-Colon\" has no ':'");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", 400, "empty or invalid header name");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n", 400, "0x28 in header name");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400, "0x0d in the value");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f\r\n\r\n", 400, "0x7f in the value");
	expect_error("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01\r\n\r\n", 400, "0x01 in the value");
	expect_error_lim(NULL, nul, sizeof(nul) - 1, 400, "0x00 in the value of header \"X-A\"");
	/* HTAB and obs-text are allowed inside a value */
	expect_same_every_way("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb \xc3\xa9\r\n\r\n");
}

static void test_expect_continue(void **state)
{
	static const char s[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
				"Content-Length: 4\r\n\r\nbody";
	static const char empty[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
				    "Content-Length: 0\r\n\r\n";
	static const char v10[] = "POST / HTTP/1.0\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx";
	size_t head = strlen(s) - 4;
	struct http_parser p;

	(void)state;
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, s, head - 1, &req), HTTP_PARSE_MORE);
	assert_false(http_parser_take_continue(&p));    /* head not complete yet */
	assert_int_equal(http_parse(&p, s, head, &req), HTTP_PARSE_MORE);
	assert_true(http_parser_take_continue(&p));
	assert_false(http_parser_take_continue(&p));    /* once */
	assert_int_equal(http_parse(&p, s, strlen(s), &req), HTTP_PARSE_DONE);
	assert_true(req.expect_continue);
	/* whole request at once: nothing owed */
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, s, strlen(s), &req), HTTP_PARSE_DONE);
	assert_false(http_parser_take_continue(&p));
	/* no body: nothing owed */
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, empty, strlen(empty), &req), HTTP_PARSE_DONE);
	assert_false(http_parser_take_continue(&p));
	expect_error("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417,
		     "100-continue");
	/* HTTP/1.0: Expect is ignored */
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, v10, strlen(v10), &req), HTTP_PARSE_DONE);
	assert_false(req.expect_continue);
	assert_string_equal(HTTP_CONTINUE, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* a request line of exactly `len` bytes including CRLF */
static char *line_of(size_t len)
{
	char *s = xmalloc(len + 64);
	size_t target = len - strlen("GET  HTTP/1.1\r\n");

	memcpy(s, "GET ", 4);
	s[4] = '/';
	memset(s + 5, 'a', target - 1);
	strcpy(s + 4 + target, " HTTP/1.1\r\nHost: h\r\n\r\n");
	return s;
}

static void test_line_limit(void **state)
{
	struct http_limits lim = { 64, 1024, 10, 100 };
	struct http_parser p;
	cleanup_free char *ok = line_of(64);
	cleanup_free char *over = line_of(65);
	cleanup_free char *big = line_of(4000);

	(void)state;
	http_parser_init(&p, &lim);
	assert_int_equal(http_parse(&p, ok, strlen(ok), &req), HTTP_PARSE_DONE);
	assert_int_equal(req.target_len, 64 - strlen("GET  HTTP/1.1\r\n"));
	expect_error_lim(&lim, over, strlen(over), 414, "longer than 64 bytes");
	/* refused as soon as the limit is reached, without its end */
	http_parser_init(&p, &lim);
	assert_int_equal(http_parse(&p, big, 63, &req), HTTP_PARSE_MORE);
	assert_int_equal(http_parse(&p, big, 64, &req), HTTP_PARSE_ERROR);
	assert_int_equal(p.status, 414);
	/* default limit 8 KiB */
	cleanup_free char *d_ok = line_of(8192);
	cleanup_free char *d_over = line_of(8193);
	http_parser_init(&p, NULL);
	assert_int_equal(http_parse(&p, d_ok, strlen(d_ok), &req), HTTP_PARSE_DONE);
	expect_error(d_over, 414, "longer than 8192 bytes");
}

/* a request head of exactly `len` bytes (a padded header) */
static char *head_of(size_t len)
{
	static const char start[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	char *s = xmalloc(len + 1);
	size_t n = strlen(start);

	memcpy(s, start, n);
	memset(s + n, 'p', len - n - 4);
	memcpy(s + len - 4, "\r\n\r\n", 5);
	return s;
}

static void test_head_limits(void **state)
{
	struct http_limits lim = { 64, 128, 3, 100 };
	struct http_parser p;
	cleanup_free char *ok = head_of(128);
	cleanup_free char *over = head_of(129);
	static const char four[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	static const char three[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n";
	char endless[200];

	(void)state;
	assert_int_equal(strlen(ok), 128);
	http_parser_init(&p, &lim);
	assert_int_equal(http_parse(&p, ok, 128, &req), HTTP_PARSE_DONE);
	expect_error_lim(&lim, over, 129, 431, "larger than 128 bytes");
	/* a client that never ends its head is cut off at the limit */
	memset(endless, 'a', sizeof(endless));
	memcpy(endless, "GET / HTTP/1.1\r\nX: ", 19);
	http_parser_init(&p, &lim);
	assert_int_equal(http_parse(&p, endless, 127, &req), HTTP_PARSE_MORE);
	assert_int_equal(http_parse(&p, endless, 128, &req), HTTP_PARSE_ERROR);
	assert_int_equal(p.status, 431);
	/* header count */
	expect_error_lim(&lim, four, strlen(four), 431, "more than 3 header fields");
	http_parser_init(&p, &lim);
	assert_int_equal(http_parse(&p, three, strlen(three), &req), HTTP_PARSE_DONE);
	assert_int_equal(req.n_headers, 3);
}

static void test_max_headers_default(void **state)
{
	struct http_out o = { 0 };
	struct http_parser p;
	struct http_limits lim = { 8192, 1 << 20, 1000, 100 };   /* capped at HTTP_MAX_HEADERS */

	(void)state;
	http_out_printf(&o, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (int i = 1; i < HTTP_MAX_HEADERS; i++)
		http_out_printf(&o, "X-%d: %d\r\n", i, i);
	http_out_printf(&o, "\r\n");
	http_parser_init(&p, &lim);
	assert_int_equal(http_parse(&p, o.buf, o.len, &req), HTTP_PARSE_DONE);
	assert_int_equal(req.n_headers, HTTP_MAX_HEADERS);
	assert_span(req.headers[99].name, req.headers[99].name_len, "X-99");
	o.len -= 2;
	http_out_printf(&o, "X-100: 100\r\n\r\n");
	expect_error_lim(&lim, o.buf, o.len, 431, "more than 100 header fields");
	http_out_free(&o);
}

/* -------------------------------------------------------------- responses */

static void test_response_format(void **state)
{
	struct http_out o = { 0 };
	struct http_response r = {
		.status = 200,
		.content_type = "application/x-amz-json-1.1",
		.request_id = "1b2c\r\nSet-Cookie: x=1",
		.keep_alive = true,
		.body = "{}",
		.body_len = 2,
		.date = 784111777,
	};
	static const char want[] = "HTTP/1.1 200 OK\r\n"
				   "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				   "Content-Type: application/x-amz-json-1.1\r\n"
				   "Content-Length: 2\r\n"
				   "x-amzn-RequestId: 1b2cSet-Cookie: x=1\r\n"
				   "Connection: keep-alive\r\n"
				   "\r\n"
				   "{}";
	static const char want2[] = "HTTP/1.1 413 Content Too Large\r\n"
				    "Date: Thu, 29 Feb 2024 23:59:59 GMT\r\n"
				    "Content-Length: 0\r\n"
				    "Connection: close\r\n"
				    "\r\n";

	(void)state;
	http_write_response(&o, &r);
	assert_int_equal(o.len, strlen(want));
	assert_memory_equal(o.buf, want, o.len);
	/* a second response goes after the first */
	r = (struct http_response){ .status = 413, .date = 1709251199 };
	http_write_response(&o, &r);
	assert_int_equal(o.len, strlen(want) + strlen(want2));
	assert_memory_equal(o.buf + strlen(want), want2, strlen(want2));
	http_out_free(&o);
	assert_null(o.buf);
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(501), "Not Implemented");
	assert_string_equal(http_reason(799), "Unknown");
}

static void test_http_date(void **state)
{
	char buf[30];

	(void)state;
	http_date(0, buf);
	assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_date(1440938160, buf);
	assert_string_equal(buf, "Sun, 30 Aug 2015 12:36:00 GMT");
	http_date(4102444799, buf);
	assert_string_equal(buf, "Thu, 31 Dec 2099 23:59:59 GMT");
}

static void test_flush_nonblocking(void **state)
{
	int sv[2];
	struct http_out o = { 0 };
	struct berr *err = NULL;
	size_t total = 4 << 20, got = 0;
	cleanup_free char *body = xmalloc(total);
	cleanup_free char *in = xmalloc(total + 4096);
	struct http_response r = { .status = 200, .body = body, .body_len = total, .date = 1 };
	int rc, rounds = 0;
	size_t head;

	(void)state;
	for (size_t i = 0; i < total; i++)
		body[i] = (char)('a' + i % 26);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	http_write_response(&o, &r);
	head = o.len - total;
	/* 4 MiB does not fit a socket buffer: the writer says "would block" */
	rc = http_out_flush(&o, sv[0], &err);
	assert_int_equal(rc, 0);
	assert_true(http_out_pending(&o) > 0);
	while (rc == 0) {
		ssize_t n = read(sv[1], in + got, total + 4096 - got);

		if (n > 0)
			got += (size_t)n;
		/* appending while a write is pending keeps both in order */
		if (rounds++ == 1)
			http_out_append(&o, "TAIL", 4);
		rc = http_out_flush(&o, sv[0], &err);
		assert_true(rc >= 0);
	}
	for (;;) {
		ssize_t n = read(sv[1], in + got, total + 4096 - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	assert_int_equal(got, head + total + 4);
	assert_memory_equal(in + head, body, total);
	assert_memory_equal(in + head + total, "TAIL", 4);
	assert_int_equal(http_out_pending(&o), 0);
	assert_int_equal(o.len, 0);   /* emptied once written */
	/* the peer is gone: an error, not SIGPIPE */
	close(sv[1]);
	http_out_append(&o, "x", 1);
	rc = http_out_flush(&o, sv[0], &err);
	assert_true(rc < 0);
	assert_non_null(err);
	assert_int_equal(err->code, EPIPE);
	berr_clear(&err);
	close(sv[0]);
	http_out_free(&o);
}

/* a partly written buffer is compacted before it grows */
static void test_out_compaction(void **state)
{
	struct http_out o = { 0 };
	char a[200], b[100], want[150];

	(void)state;
	memset(a, 'a', sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (char)('A' + i % 26);
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (char)('a' + i % 26);
	http_out_append(&o, a, sizeof(a));
	assert_int_equal(o.cap, 256);
	o.sent = 150;   /* as if 150 bytes had gone out */
	http_out_append(&o, b, sizeof(b));
	assert_int_equal(o.sent, 0);
	assert_int_equal(http_out_pending(&o), 150);
	assert_int_equal(o.cap, 256);   /* room made by moving, not by growing */
	memcpy(want, a + 150, 50);
	memcpy(want + 50, b, 100);
	assert_memory_equal(o.buf, want, 150);
	http_out_free(&o);
}

static void test_flush_pipe(void **state)
{
	int fds[2];
	struct http_out o = { 0 };
	char buf[64] = { 0 };

	(void)state;
	assert_int_equal(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
	http_out_printf(&o, "hello %d", 42);
	assert_int_equal(http_out_flush(&o, fds[1], NULL), 1);   /* not a socket: write(2) */
	assert_int_equal(read(fds[0], buf, sizeof(buf)), 8);
	assert_string_equal(buf, "hello 42");
	close(fds[0]);
	close(fds[1]);
	http_out_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_query_forms),
		cmocka_unit_test(test_post_body_every_split),
		cmocka_unit_test(test_body_waits),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_body_limit_boundary),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_request_line_errors),
		cmocka_unit_test(test_empty_lines_before),
		cmocka_unit_test(test_header_errors),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_head_limits),
		cmocka_unit_test(test_max_headers_default),
		cmocka_unit_test(test_response_format),
		cmocka_unit_test(test_http_date),
		cmocka_unit_test(test_flush_nonblocking),
		cmocka_unit_test(test_out_compaction),
		cmocka_unit_test(test_flush_pipe),
	};

	signal(SIGPIPE, SIG_DFL);   /* MSG_NOSIGNAL must make this harmless */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
