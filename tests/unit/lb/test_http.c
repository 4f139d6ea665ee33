/* Unit tests for lb/http.c: the request and response head parsers and the
 * chunked decoder. Every request-smuggling case of issue #10 is rejected
 * with its status; well-formed heads give the same result however the bytes
 * are split (every offset, and byte by byte); pipelined requests; limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "lb/http.h"

static struct lb_http_head H, H2;

/* One call over the whole string. */
static int parse_req_lim(const char *s, const struct lb_http_limits *lim, struct lb_http_parser *p)
{
	lb_http_request_parser_init(p, lim);
	return lb_http_parse(p, s, strlen(s), &H);
}

static int parse_req(const char *s, struct lb_http_parser *p)
{
	return parse_req_lim(s, NULL, p);
}

static void expect_status(const char *s, int status, const char *why)
{
	struct lb_http_parser p;
	int r = parse_req(s, &p);

	if (r != LB_HTTP_ERROR || p.status != status)
		fail_msg("%s: got r=%d status=%d (%s) for:\n%s", why, r, p.status,
			 p.error ? p.error : "-", s);
	assert_non_null(p.error);
}

/* and p.error names the reason */
static void expect_error(const char *s, int status, const char *msg)
{
	struct lb_http_parser p;
	int r = parse_req(s, &p);

	if (r != LB_HTTP_ERROR || p.status != status || !p.error || !strstr(p.error, msg))
		fail_msg("want %d \"%s\": got r=%d status=%d (%s) for:\n%s", status, msg, r, p.status,
			 p.error ? p.error : "-", s);
}

static void expect_ok(const char *s)
{
	struct lb_http_parser p;
	int r = parse_req(s, &p);

	if (r != LB_HTTP_DONE)
		fail_msg("got r=%d status=%d (%s) for:\n%s", r, p.status, p.error ? p.error : "-", s);
}

static bool same_head(const struct lb_http_head *a, const struct lb_http_head *b)
{
	return memcmp(a, b, offsetof(struct lb_http_head, headers)) == 0 &&
	       memcmp(a->headers, b->headers, a->n_headers * sizeof(a->headers[0])) == 0;
}

/* Feeding s split at every offset (two calls, each with a fresh heap copy
 * of what has arrived, so a pointer kept across calls would be caught by
 * ASan) and byte by byte gives the one-call verdict and head. */
static void check_splits(const char *s, bool response, enum lb_http_method m)
{
	size_t n = strlen(s);
	struct lb_http_parser p;
	int whole, r;

	if (response)
		lb_http_response_parser_init(&p, NULL, m);
	else
		lb_http_request_parser_init(&p, NULL);
	whole = lb_http_parse(&p, s, n, &H);
	for (size_t k = 0; k <= n; k++) {
		char *a = xmemdup(s, k), *b;

		if (response)
			lb_http_response_parser_init(&p, NULL, m);
		else
			lb_http_request_parser_init(&p, NULL);
		memset(&H2, 0xa5, sizeof(H2));
		r = lb_http_parse(&p, a, k, &H2);
		free(a);
		if (r == LB_HTTP_MORE) {
			b = xmemdup(s, n);
			r = lb_http_parse(&p, b, n, &H2);
			free(b);
		}
		if (r != whole)
			fail_msg("split at %zu: %d, whole: %d", k, r, whole);
		if (r == LB_HTTP_DONE && !same_head(&H, &H2))
			fail_msg("split at %zu: a different head", k);
	}
	/* byte by byte */
	if (response)
		lb_http_response_parser_init(&p, NULL, m);
	else
		lb_http_request_parser_init(&p, NULL);
	r = LB_HTTP_MORE;
	for (size_t k = 1; k <= n && r == LB_HTTP_MORE; k++)
		r = lb_http_parse(&p, s, k, &H2);
	assert_int_equal(r, whole);
	if (r == LB_HTTP_DONE)
		assert_true(same_head(&H, &H2));
}

static bool span_is(const char *buf, struct lb_http_span s, const char *lit)
{
	return lb_http_span_eq(buf, s, lit);
}

/* ------------------------------------------------------------ basics */

static void request_basic(void **state)
{
	const char *s = "GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com\r\n"
			"User-Agent:  curl/8 \t\r\nAccept: */*\r\nX-Empty:\r\n\r\nBODY";
	struct lb_http_parser p;

	assert_int_equal(parse_req(s, &p), LB_HTTP_DONE);
	assert_int_equal(H.method, LB_HTTP_GET);
	assert_int_equal(H.version, 11);
	assert_int_equal(H.form, LB_HTTP_FORM_ORIGIN);
	assert_true(span_is(s, H.target, "/a/b?x=1&y"));
	assert_true(span_is(s, H.path, "/a/b"));
	assert_true(H.has_query);
	assert_true(span_is(s, H.query, "x=1&y"));
	assert_true(span_is(s, H.host, "example.com"));
	assert_int_equal(H.n_headers, 4);
	assert_true(span_is(s, H.headers[1].name, "User-Agent"));
	assert_true(span_is(s, H.headers[1].value, "curl/8"));
	assert_true(span_is(s, H.headers[3].value, ""));
	assert_int_equal(H.head_len, strlen(s) - 4);
	assert_int_equal(H.body, LB_HTTP_BODY_NONE);
	assert_true(H.keep_alive);
	assert_false(H.upgrade);
	assert_non_null(lb_http_find(&H, s, "user-agent"));
	assert_null(lb_http_find(&H, s, "cookie"));
	/* done is sticky */
	assert_int_equal(lb_http_parse(&p, s, strlen(s), &H), LB_HTTP_DONE);
	check_splits(s, false, LB_HTTP_GET);
}

static void request_values_bytes(void **state)
{
	/* HTAB and obs-text are allowed in values; inner spaces are kept */
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb  c\r\nX-B: \xc3\xa9t\xc3\xa9\r\n\r\n";
	struct lb_http_parser p;

	assert_int_equal(parse_req(s, &p), LB_HTTP_DONE);
	assert_true(span_is(s, H.headers[1].value, "a\tb  c"));
	assert_true(span_is(s, H.headers[2].value, "\xc3\xa9t\xc3\xa9"));
	check_splits(s, false, LB_HTTP_GET);
}

static void request_methods(void **state)
{
	static const struct {
		const char *m;
		enum lb_http_method e;
	} t[] = {
		{ "GET", LB_HTTP_GET }, { "HEAD", LB_HTTP_HEAD }, { "POST", LB_HTTP_POST },
		{ "PUT", LB_HTTP_PUT }, { "DELETE", LB_HTTP_DELETE }, { "OPTIONS", LB_HTTP_OPTIONS },
		{ "TRACE", LB_HTTP_TRACE }, { "PATCH", LB_HTTP_PATCH }, { "PROPFIND", LB_HTTP_OTHER },
		{ "get", LB_HTTP_OTHER }, /* methods are case-sensitive */
	};
	struct lb_http_parser p;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *s = xasprintf("%s / HTTP/1.1\r\nHost: h\r\n\r\n", t[i].m);

		assert_int_equal(parse_req(s, &p), LB_HTTP_DONE);
		assert_int_equal(H.method, t[i].e);
		assert_true(span_is(s, H.method_s, t[i].m));
		free(s);
	}
	assert_string_equal(lb_http_method_name(LB_HTTP_PATCH), "PATCH");
}

/* ----------------------------------------------------------- smuggling */

static void smuggling_cl_te(void **state)
{
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n", 400, "CL then TE");
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		      "Content-Length: 5\r\n\r\n", 400, "TE then CL");
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n", 400, "CL 0 and TE");
}

static void smuggling_content_length(void **state)
{
	static const char *const bad[] = {
		"5, 5", "5,5", "+5", "-1", "0x5", "5a", "", "1 2", "5;", "\"5\"",
		"99999999999999999999999", "18446744073709551616", "9223372036854775808",
	};

	expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		      400, "duplicate equal CL");
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n",
		      400, "duplicate differing CL");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *s = xasprintf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n", bad[i]);

		expect_status(s, 400, bad[i]);
		free(s);
	}
	/* OWS around the value is not part of it */
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  7 \r\n\r\n");
	assert_int_equal(H.body, LB_HTTP_BODY_LENGTH);
	assert_int_equal(H.content_length, 7);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(H.body, LB_HTTP_BODY_NONE);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n");
	assert_int_equal(H.content_length, 9223372036854775807ULL);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000000000000012\r\n\r\n");
	assert_int_equal(H.content_length, 12);
}

static void smuggling_transfer_encoding(void **state)
{
	static const struct {
		const char *v;
		int status;
	} t[] = {
		{ "chunked, chunked", 400 }, { "chunked, gzip", 400 }, { "gzip, chunked", 501 },
		{ "gzip", 501 },             { "identity", 501 },      { "xchunked", 501 },
		{ "chunked;q=1", 400 },      { "", 400 },              { ",chunked", 400 },
		{ "chunked,", 400 },         { "chunked ,, gzip", 400 }, { "\"chunked\"", 400 },
		{ "chunked\x0b", 400 },      { "chunk ed", 400 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *s = xasprintf("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: %s\r\n\r\n",
				    t[i].v);

		expect_status(s, t[i].status, t[i].v);
		free(s);
	}
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n", 400, "two TE fields");
	expect_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "TE in 1.0");
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", 400,
		      "space before colon");
	expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x01" "chunked\r\n\r\n", 400,
		      "CTL in TE");
	/* accepted spellings */
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
	assert_int_equal(H.body, LB_HTTP_BODY_CHUNKED);
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:\tchunked \r\n\r\n");
	assert_int_equal(H.body, LB_HTTP_BODY_CHUNKED);
	/* a look-alike name is just another header: no chunked body */
	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n");
	assert_int_equal(H.body, LB_HTTP_BODY_NONE);
}

static void smuggling_fold_and_bytes(void **state)
{
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400, "obs-fold");
	expect_error("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400, "obs-fold");
	expect_error("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "whitespace before the first header");
	expect_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace before the colon");
	expect_error("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "whitespace before the colon");
	expect_status("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400, "empty name");
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "no colon");
	/* every byte in a name and in a value */
	for (int c = 0; c < 256; c++) {
		static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX", post[] = "Y: v\r\n\r\n";
		static const char vpre[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a", vpost[] = "b\r\n\r\n";
		bool tchar = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			     (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
		bool vok = c == '\t' || (c >= 0x20 && c != 0x7f);
		char buf[64];
		size_t n = 0;
		struct lb_http_parser p;
		int r;

		memcpy(buf, pre, sizeof(pre) - 1);
		n = sizeof(pre) - 1;
		buf[n++] = (char)c;
		memcpy(buf + n, post, sizeof(post) - 1);
		n += sizeof(post) - 1;
		lb_http_request_parser_init(&p, NULL);
		r = lb_http_parse(&p, buf, n, &H);
		if (c != ':' && (tchar ? r != LB_HTTP_DONE : (r != LB_HTTP_ERROR || p.status != 400)))
			fail_msg("name byte 0x%02x: r=%d", c, r);

		memcpy(buf, vpre, sizeof(vpre) - 1);
		n = sizeof(vpre) - 1;
		buf[n++] = (char)c;
		memcpy(buf + n, vpost, sizeof(vpost) - 1);
		n += sizeof(vpost) - 1;
		lb_http_request_parser_init(&p, NULL);
		r = lb_http_parse(&p, buf, n, &H);
		if (vok ? r != LB_HTTP_DONE : (r != LB_HTTP_ERROR || p.status != 400))
			fail_msg("value byte 0x%02x: r=%d", c, r);

		/* in long values and targets (the 8-byte scans), at every alignment */
		for (int at = 0; at < 16; at++) {
			char big[128];
			bool tok = c >= 0x21 && c <= 0x7e && c != '#';

			n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: "
					     "%.*s.bbbbbbbbbbbbbbbbbbbb\r\n\r\n", at, "aaaaaaaaaaaaaaaa");
			big[31 + at] = (char)c;
			lb_http_request_parser_init(&p, NULL);
			r = lb_http_parse(&p, big, n, &H);
			if (vok ? r != LB_HTTP_DONE : (r != LB_HTTP_ERROR || p.status != 400))
				fail_msg("value byte 0x%02x at %d: r=%d", c, at, r);

			n = (size_t)snprintf(big, sizeof(big), "GET /%.*s.bbbbbbbbbbbbbbbbbbbb HTTP/1.1\r\n"
					     "Host: a\r\n\r\n", at, "aaaaaaaaaaaaaaaa");
			big[5 + at] = (char)c;
			lb_http_request_parser_init(&p, NULL);
			r = lb_http_parse(&p, big, n, &H);
			if (tok ? r != LB_HTTP_DONE : (r != LB_HTTP_ERROR || p.status != 400))
				fail_msg("target byte 0x%02x at %d: r=%d (%s)", c, at, r, p.error);
		}
	}
}

static void smuggling_line_ends(void **state)
{
	struct lb_http_limits lim = LB_HTTP_LIMITS_DEFAULT;
	struct lb_http_parser p;
	const char *lf = "GET / HTTP/1.1\nHost: a\nX: y\n\n";

	expect_status("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, "bare CR after value");
	expect_status("GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR after request line");
	expect_status("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400, "bare CR at the end");
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, "CR inside a value");
	expect_status(lf, 400, "LF-only by default");
	expect_status("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400, "one LF-only line");
	lim.allow_bare_lf = true;
	assert_int_equal(parse_req_lim(lf, &lim, &p), LB_HTTP_DONE);
	assert_true(H.bare_lf);
	assert_int_equal(H.n_headers, 2);
	assert_true(span_is(lf, H.headers[1].value, "y"));
	assert_int_equal(parse_req_lim("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &lim, &p), LB_HTTP_DONE);
	assert_false(H.bare_lf);
	/* RFC 9112 2.2: empty lines before the request line are skipped */
	expect_ok("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(span_is("\r\n\r\nGET / HTTP/1.1", H.method_s, "GET"));
	expect_status("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "5 empty lines");
}

static void request_line(void **state)
{
	expect_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "two spaces");
	expect_status("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "trailing space");
	expect_status("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "tab");
	expect_status(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "leading space");
	expect_status("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "lowercase version");
	expect_status("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "long version");
	expect_status("GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "short version");
	expect_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2.0");
	expect_status("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "HTTP/1.2");
	expect_status("GET /\r\nHost: a\r\n\r\n", 400, "HTTP/0.9 style");
	expect_status("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad method byte");
	expect_status("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, "fragment");
	expect_status("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "non-ASCII target");
	expect_status("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "DEL in target");
}

static void request_forms(void **state)
{
	const char *abs = "GET http://Example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
	const char *conn = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
	const char *star = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
	const char *bare = "GET https://h HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *v6 = "GET / HTTP/1.1\r\nHost: [fd00::1]:8080\r\n\r\n";
	struct lb_http_parser p;

	assert_int_equal(parse_req(abs, &p), LB_HTTP_DONE);
	assert_int_equal(H.form, LB_HTTP_FORM_ABSOLUTE);
	assert_true(span_is(abs, H.scheme, "http"));
	assert_true(span_is(abs, H.host, "Example.com:8080")); /* the target's authority wins */
	assert_true(span_is(abs, H.path, "/a/b"));
	assert_true(span_is(abs, H.query, "q=1"));
	check_splits(abs, false, LB_HTTP_GET);

	assert_int_equal(parse_req(conn, &p), LB_HTTP_DONE);
	assert_int_equal(H.form, LB_HTTP_FORM_AUTHORITY);
	assert_true(span_is(conn, H.host, "example.com:443"));
	assert_int_equal(H.body, LB_HTTP_BODY_NONE);

	assert_int_equal(parse_req(star, &p), LB_HTTP_DONE);
	assert_int_equal(H.form, LB_HTTP_FORM_ASTERISK);
	assert_int_equal(H.path.len, 0);

	assert_int_equal(parse_req(bare, &p), LB_HTTP_DONE);
	assert_int_equal(H.path.len, 0);
	assert_false(H.has_query);
	assert_true(span_is(bare, H.host, "h"));

	assert_int_equal(parse_req(v6, &p), LB_HTTP_DONE);
	assert_true(span_is(v6, H.host, "[fd00::1]:8080"));

	expect_status("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT without port");
	expect_status("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "CONNECT origin-form");
	expect_status("CONNECT a:1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", 400,
		      "CONNECT with a body");
	expect_status("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "asterisk with GET");
	expect_status("GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "userinfo");
	expect_status("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "empty authority");
	expect_status("GET example.com:80 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "authority-form GET");
	expect_status("GET 1http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad scheme");
	expect_status("GET http://h:8x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad port");
}

static void request_host(void **state)
{
	expect_status("GET / HTTP/1.1\r\n\r\n", 400, "1.1 without Host");
	expect_status("GET http://h/ HTTP/1.1\r\n\r\n", 400, "absolute-form without Host");
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "two Hosts");
	expect_status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "space in Host");
	expect_status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "slash in Host");
	expect_status("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "userinfo in Host");
	expect_status("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "open bracket");
	expect_ok("GET / HTTP/1.0\r\n\r\n");
	assert_false(H.has_host);
	expect_ok("GET / HTTP/1.1\r\nHost:\r\n\r\n"); /* RFC 9112 3.2: empty is allowed */
	assert_true(H.has_host);
	assert_int_equal(H.host.len, 0);
}

static void request_connection(void **state)
{
	const char *ws = "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
			 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n";
	struct lb_http_parser p;

	expect_ok("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_true(H.keep_alive);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	assert_false(H.keep_alive);
	assert_int_equal(H.conn, LB_HTTP_CONN_CLOSE);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n");
	assert_false(H.keep_alive);
	expect_ok("GET / HTTP/1.0\r\n\r\n");
	assert_false(H.keep_alive);
	expect_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
	assert_true(H.keep_alive);
	expect_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n");
	assert_false(H.keep_alive);
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-foo,,  close\r\n\r\n");
	assert_int_equal(H.conn, LB_HTTP_CONN_CLOSE | LB_HTTP_CONN_OTHER);
	expect_status("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep alive\r\n\r\n", 400,
		      "space in a Connection token");

	assert_int_equal(parse_req(ws, &p), LB_HTTP_DONE);
	assert_true(H.upgrade);
	assert_true(span_is(ws, H.upgrade_proto, "websocket"));
	assert_true(H.keep_alive);
	check_splits(ws, false, LB_HTTP_GET);
	/* Upgrade without the Connection token, or in 1.0: not an upgrade */
	expect_ok("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
	assert_false(H.upgrade);
	expect_ok("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
	assert_false(H.upgrade);

	expect_ok("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
	assert_true(H.expect_continue);
	expect_ok("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
	assert_false(H.expect_continue);
}

/* ---------------------------------------------------------------- limits */

static char *repeat(char c, size_t n)
{
	char *s = xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void limits(void **state)
{
	struct lb_http_limits lim = { 64, 48, 200, 4, 32, 2, false };
	struct lb_http_parser p;
	char *path = repeat('a', 60), *s;

	/* request line: 414, also while it is still arriving */
	s = xasprintf("GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	assert_int_equal(parse_req_lim(s, &lim, &p), LB_HTTP_ERROR);
	assert_int_equal(p.status, 414);
	lb_http_request_parser_init(&p, &lim);
	assert_int_equal(lb_http_parse(&p, s, 40, &H), LB_HTTP_MORE);
	assert_int_equal(lb_http_parse(&p, s, 66, &H), LB_HTTP_ERROR);
	assert_int_equal(p.status, 414);
	free(s);
	/* "GET /" + k + " HTTP/1.1\r\n" is 16 + k bytes: k = 48 is at the limit */
	free(path);
	path = repeat('a', 49);
	s = xasprintf("GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	assert_int_equal(parse_req_lim(s, &lim, &p), LB_HTTP_ERROR);
	assert_int_equal(p.status, 414);
	free(s);
	free(path);
	path = repeat('a', 48);
	s = xasprintf("GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", path);
	assert_int_equal(parse_req_lim(s, &lim, &p), LB_HTTP_DONE);
	free(s);
	free(path);

	/* one header line: 431 */
	path = repeat('v', 50);
	s = xasprintf("GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", path);
	assert_int_equal(parse_req_lim(s, &lim, &p), LB_HTTP_ERROR);
	assert_int_equal(p.status, 431);
	free(s);
	free(path);
	/* header count: 431 */
	s = xasprintf("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n");
	assert_int_equal(parse_req_lim(s, &lim, &p), LB_HTTP_ERROR);
	assert_int_equal(p.status, 431);
	free(s);
	s = xasprintf("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n");
	assert_int_equal(parse_req_lim(s, &lim, &p), LB_HTTP_DONE);
	free(s);
	/* whole head: 431, also while it is arriving */
	lim.max_headers = 100;
	lim.max_head = 100;
	path = repeat('v', 30);
	s = xasprintf("GET / HTTP/1.1\r\nHost: a\r\nA: %s\r\nB: %s\r\nC: %s\r\n\r\n", path, path,
		      path);
	assert_int_equal(parse_req_lim(s, &lim, &p), LB_HTTP_ERROR);
	assert_int_equal(p.status, 431);
	lb_http_request_parser_init(&p, &lim);
	assert_int_equal(lb_http_parse(&p, s, 90, &H), LB_HTTP_MORE);
	assert_int_equal(lb_http_parse(&p, s, 101, &H), LB_HTTP_ERROR);
	assert_int_equal(p.status, 431);
	assert_int_equal(lb_http_parse(&p, s, strlen(s), &H), LB_HTTP_ERROR); /* sticky */
	free(s);
	free(path);
	/* the default limits: 100 headers pass, 101 do not */
	for (int total = 100; total <= 101; total++) {
		char *big = xstrdup("GET / HTTP/1.1\r\nHost: a\r\n");

		for (int i = 1; i < total; i++) {
			char *t = xasprintf("%sX-%d: v\r\n", big, i);

			free(big);
			big = t;
		}
		s = xasprintf("%s\r\n", big);
		if (total == 100) {
			assert_int_equal(parse_req(s, &p), LB_HTTP_DONE);
			assert_int_equal(H.n_headers, 100);
		} else {
			assert_int_equal(parse_req(s, &p), LB_HTTP_ERROR);
			assert_int_equal(p.status, 431);
		}
		free(s);
		free(big);
	}
}

/* ------------------------------------------------------------ pipelining */

static void pipelined(void **state)
{
	const char *s = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
			"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
			"POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			"3\r\nabc\r\n0\r\n\r\n"
			"GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
	static const char *const paths[] = { "/1", "/2", "/3", "/4" };
	size_t off = 0, n = strlen(s);

	for (int i = 0; i < 4; i++) {
		struct lb_http_parser p;
		const char *m = s + off;

		lb_http_request_parser_init(&p, NULL);
		assert_int_equal(lb_http_parse(&p, m, n - off, &H), LB_HTTP_DONE);
		assert_true(span_is(m, H.path, paths[i]));
		off += H.head_len;
		if (H.body == LB_HTTP_BODY_LENGTH) {
			off += H.content_length;
		} else if (H.body == LB_HTTP_BODY_CHUNKED) {
			struct lb_http_chunked c;
			size_t used;

			lb_http_chunked_init(&c, NULL, false);
			assert_int_equal(lb_http_chunked_parse(&c, s + off, n - off, &used), LB_HTTP_DONE);
			assert_int_equal(used, 13);
			off += used;
		}
		assert_int_equal(H.keep_alive, i != 3);
	}
	assert_int_equal(off, n);
}

/* --------------------------------------------------------------- chunked */

/* Frame s fed in pieces of `step` bytes, each piece in one call (the
 * decoder skips data inside it); returns the verdict, *end the bytes taken. */
static int dechunk(const char *s, size_t n, size_t step, size_t *end, int *status)
{
	struct lb_http_chunked c;
	size_t off = 0;
	int r = LB_HTTP_MORE;

	lb_http_chunked_init(&c, NULL, false);
	while (off < n && r == LB_HTTP_MORE) {
		size_t len = n - off < step ? n - off : step, used;

		r = lb_http_chunked_parse(&c, s + off, len, &used);
		assert_true(used <= len);
		if (r == LB_HTTP_MORE)
			assert_int_equal(used, len);
		off += used;
	}
	*end = off;
	*status = c.status;
	return r;
}

/* The data of a chunked body the way a de-chunking caller gets it: framing
 * bytes one call each, and while data_left() > 0, that much data in one
 * call it does not look into. */
static int data_of(const char *s, size_t n, char *data, size_t *dlen)
{
	struct lb_http_chunked c;
	size_t off = 0, used;
	int r = LB_HTTP_MORE;

	lb_http_chunked_init(&c, NULL, false);
	*dlen = 0;
	while (off < n && r == LB_HTTP_MORE) {
		uint64_t left = lb_http_chunked_data_left(&c);
		size_t len = left ? (left < n - off ? (size_t)left : n - off) : 1;

		if (left) {
			memcpy(data + *dlen, s + off, len);
			*dlen += len;
		}
		r = lb_http_chunked_parse(&c, s + off, len, &used);
		off += used;
	}
	return r;
}

static void chunked_ok(void **state)
{
	const char *s = "5;name=value;q=\"a \\\"quoted\\\" ;x\"\r\nhello\r\n"
			"1A ; a ; b = c\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			"000\r\nTrailer-A: 1\r\nX-Checksum:\tabc \r\n\r\nNEXT";
	size_t n = strlen(s), dlen, end;
	char data[64];
	int status;

	for (size_t step = 1; step <= n; step++) {
		assert_int_equal(dechunk(s, n, step, &end, &status), LB_HTTP_DONE);
		assert_int_equal(end, n - 4);
	}
	assert_int_equal(data_of(s, n, data, &dlen), LB_HTTP_DONE);
	assert_int_equal(dlen, 31);
	assert_memory_equal(data, "helloabcdefghijklmnopqrstuvwxyz", 31);
	/* large chunk sizes parse (the data just has not come) */
	assert_int_equal(dechunk("7fffffffffffffff\r\nab", 20, 20, &end, &status), LB_HTTP_MORE);
	{
		struct lb_http_chunked c;
		size_t used;

		lb_http_chunked_init(&c, NULL, false);
		assert_int_equal(lb_http_chunked_parse(&c, "10\r\n", 4, &used), LB_HTTP_MORE);
		assert_int_equal(lb_http_chunked_data_left(&c), 16);
		assert_int_equal(lb_http_chunked_parse(&c, "0123456789", 10, &used), LB_HTTP_MORE);
		assert_int_equal(lb_http_chunked_data_left(&c), 6);
		assert_int_equal(lb_http_chunked_parse(&c, "abcdef\r\n0\r\n\r\nX", 14, &used),
				 LB_HTTP_DONE);
		assert_int_equal(used, 13);
		assert_int_equal(lb_http_chunked_parse(&c, "X", 1, &used), LB_HTTP_DONE);
		assert_int_equal(used, 0);
	}
}

static void chunked_bad(void **state)
{
	static const char *const bad[] = {
		"\r\n",                  /* empty size */
		"-5\r\nhello\r\n0\r\n\r\n",
		"+5\r\nhello\r\n0\r\n\r\n",
		"0x5\r\nhello\r\n0\r\n\r\n",
		"g\r\n",
		" 5\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n", /* BWS with no extension */
		"5;\r\nhello\r\n0\r\n\r\n",  /* empty extension name */
		"5;a=\r\nhello\r\n0\r\n\r\n",
		"5;a=\"x\r\n\"\r\nhello\r\n0\r\n\r\n", /* CRLF inside a quoted value */
		"5;a=\"x\"y\r\nhello\r\n0\r\n\r\n",
		"5;a b\r\nhello\r\n0\r\n\r\n",
		"5\nhello\r\n0\r\n\r\n",    /* bare LF */
		"5\rhello\r\n0\r\n\r\n",    /* bare CR */
		"5\r\nhelloX\r\n0\r\n\r\n", /* data longer than the size */
		"5\r\nhello\n0\r\n\r\n",
		"5\r\nhello\r\n0\r\n X: y\r\n\r\n", /* obs-fold in the trailers */
		"5\r\nhello\r\n0\r\nBad Name: y\r\n\r\n",
		"5\r\nhello\r\n0\r\nX: a\x01\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\r\n",
		"8000000000000000\r\n",
		"ffffffffffffffffff\r\n",
	};
	size_t end;
	int status;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = dechunk(bad[i], strlen(bad[i]), strlen(bad[i]), &end, &status);

		if (r != LB_HTTP_ERROR || status != 400)
			fail_msg("case %zu: r=%d status=%d", i, r, status);
	}
	/* too many trailers; a response's errors are 502 */
	{
		struct lb_http_chunked c;
		const char *s = "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
		struct lb_http_limits lim = LB_HTTP_LIMITS_DEFAULT;
		size_t used;

		lim.max_trailers = 2;
		lb_http_chunked_init(&c, &lim, true);
		assert_int_equal(lb_http_chunked_parse(&c, s, strlen(s), &used), LB_HTTP_ERROR);
		assert_int_equal(c.status, 502);
		lim.max_trailers = 3;
		lb_http_chunked_init(&c, &lim, true);
		assert_int_equal(lb_http_chunked_parse(&c, s, strlen(s), &used), LB_HTTP_DONE);
		/* bare LF tolerated when allowed */
		lim.allow_bare_lf = true;
		lb_http_chunked_init(&c, &lim, false);
		assert_int_equal(lb_http_chunked_parse(&c, "3\nabc\n0\nT: x\n\nGET", 17, &used),
				 LB_HTTP_DONE);
		assert_int_equal(used, 14);
		/* a size line longer than max_chunk_line */
		lim.max_chunk_line = 8;
		lb_http_chunked_init(&c, &lim, false);
		assert_int_equal(lb_http_chunked_parse(&c, "00000005\r\n", 10, &used), LB_HTTP_ERROR);
		assert_int_equal(c.status, 400);
		lb_http_chunked_init(&c, &lim, false);
		assert_int_equal(lb_http_chunked_parse(&c, "000005\r\n", 8, &used), LB_HTTP_MORE);
	}
}

/* ------------------------------------------------------------- responses */

static int parse_resp(const char *s, enum lb_http_method m, struct lb_http_parser *p)
{
	lb_http_response_parser_init(p, NULL, m);
	return lb_http_parse(p, s, strlen(s), &H);
}

static void response_bodies(void **state)
{
	static const struct {
		const char *s;
		enum lb_http_method m;
		enum lb_http_body body;
		bool keep_alive;
	} t[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", LB_HTTP_GET, LB_HTTP_BODY_LENGTH, true },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", LB_HTTP_HEAD, LB_HTTP_BODY_NONE, true },
		{ "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", LB_HTTP_GET, LB_HTTP_BODY_NONE, true },
		{ "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", LB_HTTP_GET,
		  LB_HTTP_BODY_NONE, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", LB_HTTP_GET,
		  LB_HTTP_BODY_CHUNKED, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", LB_HTTP_GET,
		  LB_HTTP_BODY_CHUNKED, true },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", LB_HTTP_GET, LB_HTTP_BODY_CLOSE,
		  false },
		{ "HTTP/1.1 200 OK\r\n\r\n", LB_HTTP_GET, LB_HTTP_BODY_CLOSE, false },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", LB_HTTP_POST, LB_HTTP_BODY_NONE, true },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n", LB_HTTP_GET,
		  LB_HTTP_BODY_LENGTH, false },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", LB_HTTP_GET, LB_HTTP_BODY_LENGTH, false },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n", LB_HTTP_GET,
		  LB_HTTP_BODY_LENGTH, true },
		{ "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		  LB_HTTP_GET, LB_HTTP_BODY_TUNNEL, false },
		{ "HTTP/1.1 200 Connection established\r\n\r\n", LB_HTTP_CONNECT, LB_HTTP_BODY_TUNNEL,
		  false },
		{ "HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n", LB_HTTP_CONNECT, LB_HTTP_BODY_LENGTH,
		  true },
		{ "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", LB_HTTP_GET, LB_HTTP_BODY_LENGTH, true },
	};
	struct lb_http_parser p;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (parse_resp(t[i].s, t[i].m, &p) != LB_HTTP_DONE)
			fail_msg("case %zu: %s", i, p.error);
		if (H.body != t[i].body || H.keep_alive != t[i].keep_alive)
			fail_msg("case %zu: body %d keep-alive %d", i, H.body, H.keep_alive);
		check_splits(t[i].s, true, t[i].m);
	}
	assert_int_equal(parse_resp("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
				    LB_HTTP_GET, &p), LB_HTTP_DONE);
	assert_int_equal(H.status, 404);
	assert_true(span_is("HTTP/1.1 404 Not Found", H.reason, "Not Found"));
}

static void response_informational(void **state)
{
	const char *s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct lb_http_parser p;
	uint32_t off;

	assert_int_equal(parse_resp(s, LB_HTTP_POST, &p), LB_HTTP_DONE);
	assert_true(H.informational);
	assert_int_equal(H.status, 100);
	assert_int_equal(H.body, LB_HTTP_BODY_NONE);
	off = H.head_len;
	lb_http_response_parser_init(&p, NULL, LB_HTTP_POST);
	assert_int_equal(lb_http_parse(&p, s + off, strlen(s) - off, &H), LB_HTTP_DONE);
	assert_false(H.informational);
	assert_int_equal(H.status, 200);
	assert_int_equal(H.content_length, 2);
}

static void response_bad(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/2.0 200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX : a\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"HTTP/1.1 200 OK\r\nX: \x7f\r\n\r\n",
	};
	struct lb_http_parser p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse_resp(bad[i], LB_HTTP_GET, &p);

		if (r != LB_HTTP_ERROR || p.status != 502)
			fail_msg("case %zu: r=%d status=%d", i, r, p.status);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_basic),
		cmocka_unit_test(request_values_bytes),
		cmocka_unit_test(request_methods),
		cmocka_unit_test(smuggling_cl_te),
		cmocka_unit_test(smuggling_content_length),
		cmocka_unit_test(smuggling_transfer_encoding),
		cmocka_unit_test(smuggling_fold_and_bytes),
		cmocka_unit_test(smuggling_line_ends),
		cmocka_unit_test(request_line),
		cmocka_unit_test(request_forms),
		cmocka_unit_test(request_host),
		cmocka_unit_test(request_connection),
		cmocka_unit_test(limits),
		cmocka_unit_test(pipelined),
		cmocka_unit_test(chunked_ok),
		cmocka_unit_test(chunked_bad),
		cmocka_unit_test(response_bodies),
		cmocka_unit_test(response_informational),
		cmocka_unit_test(response_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
