/* fuzz_http: berthd's incremental HTTP/1.1 parser (runtime/daemon/http.c).
 *
 * The first two bytes choose the chunk size and the limits; the rest is the
 * byte stream of one connection, parsed request after request (pipelining)
 * the way the server does it: bytes arrive a chunk at a time, each call gets
 * a fresh heap copy of what has arrived (so a pointer kept across calls is a
 * use-after-free ASan reports), a complete request's bytes are dropped.
 * Invariants: no crash or leak; every verdict equals the one-call parse of
 * the same bytes; a parsed request lies inside its buffer, has a method, an
 * origin-form path, at most max_headers headers with token names and values
 * free of CR, LF and NUL, a body within the limit; an error has one of the
 * documented statuses and a message; a response written with the request's
 * target as its request id has no line break the writer did not put there. */
#include "common/xalloc.h"
#include "runtime/daemon/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_request req, req1;

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
	return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static void check_request(const struct http_request *r, const char *buf, size_t len,
			  const struct http_limits *lim)
{
	if (r->consumed == 0 || r->consumed > len)
		abort();
	if (r->method_len == 0 || !inside(r->method, r->method_len, buf, r->consumed))
		abort();
	if (r->target_len == 0 || !inside(r->target, r->target_len, buf, r->consumed) ||
	    r->target[0] != '/' || r->path != r->target || r->path_len > r->target_len)
		abort();
	if (r->query && (r->query != r->target + r->path_len + 1 ||
			 r->path_len + 1 + r->query_len != r->target_len))
		abort();
	if (!r->query && r->path_len != r->target_len)
		abort();
	if (memchr(r->path, '?', r->path_len))
		abort();
	if (r->version != 10 && r->version != 11)
		abort();
	if (r->n_headers > lim->max_headers || r->n_headers > HTTP_MAX_HEADERS)
		abort();
	for (size_t i = 0; i < r->n_headers; i++) {
		const struct http_header *h = &r->headers[i];

		if (h->name_len == 0 || !inside(h->name, h->name_len, buf, r->consumed) ||
		    !inside(h->value, h->value_len, buf, r->consumed))
			abort();
		for (size_t k = 0; k < h->name_len; k++)
			if (h->name[k] <= ' ' || h->name[k] == ':' || (unsigned char)h->name[k] >= 0x7f)
				abort();
		for (size_t k = 0; k < h->value_len; k++)
			if (h->value[k] == '\r' || h->value[k] == '\n' || h->value[k] == '\0')
				abort();
		if (h->value_len && (h->value[0] == ' ' || h->value[h->value_len - 1] == ' '))
			abort();
	}
	if (r->body_len > lim->max_body || !inside(r->body, r->body_len, buf, r->consumed) ||
	    r->body + r->body_len != buf + r->consumed)
		abort();
	if (r->version == 11 && http_header_count(r, "host") != 1)
		abort();
	if (http_header_find(r, "transfer-encoding"))
		abort();
}

static void check_response(const struct http_request *r)
{
	struct http_out o = { 0 };
	char *id = xstrndup(r->target, r->target_len);
	struct http_response resp = {
		.status = 200, .content_type = "application/x-amz-json-1.1", .request_id = id,
		.keep_alive = r->keep_alive, .body = r->body, .body_len = r->body_len, .date = 1,
	};
	size_t crlf = 0;

	http_write_response(&o, &resp);
	/* status line + Date + Content-Type + Content-Length + request id + Connection + end */
	for (size_t i = 0; i + 1 < o.len - r->body_len; i++)
		if (o.buf[i] == '\r' && o.buf[i + 1] == '\n')
			crlf++;
	if (crlf != 7)
		abort();
	if (memcmp(o.buf + o.len - r->body_len, r->body, r->body_len) != 0)
		abort();
	http_out_free(&o);
	free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_limits lim = HTTP_LIMITS_DEFAULT;
	const char *in;
	size_t n, chunk, off = 0;

	if (size < 2)
		return 0;
	chunk = (size_t)(data[0] % 64) + 1;
	if (data[1] & 1) {   /* small limits reach every limit check */
		lim.max_line = 16 + data[1] % 64;
		lim.max_head = 32 + (size_t)data[1] * 2;
		lim.max_headers = data[1] % 8;
		lim.max_body = data[1] % 32;
	}
	in = (const char *)data + 2;
	n = size - 2;

	for (int requests = 0; off < n && requests < 64; requests++) {
		struct http_parser p, p1;
		enum http_parse_result r = HTTP_PARSE_MORE, r1;
		size_t have = 0;

		http_parser_init(&p, &lim);
		while (r == HTTP_PARSE_MORE && have < n - off) {
			char *buf;

			have = have + chunk > n - off ? n - off : have + chunk;
			buf = xmemdup(in + off, have);
			r = http_parse(&p, buf, have, &req);
			(void)http_parser_take_continue(&p);
			if (r == HTTP_PARSE_DONE) {
				check_request(&req, buf, have, &p.lim);
				check_response(&req);
			}
			free(buf);
		}
		/* the same bytes in one call: the same verdict */
		http_parser_init(&p1, &lim);
		r1 = http_parse(&p1, in + off, have, &req1);
		if (r1 != r)
			abort();
		if (r == HTTP_PARSE_ERROR) {
			switch (p.status) {
			case 400: case 411: case 413: case 414: case 417: case 431: case 501: case 505:
				break;
			default:
				abort();
			}
			if (p.error[0] == '\0' || p1.status != p.status || strcmp(p.error, p1.error) != 0)
				abort();
			return 0;   /* the connection is closed */
		}
		if (r == HTTP_PARSE_MORE)
			return 0;   /* waits for more that never comes */
		if (req1.consumed != req.consumed || req1.n_headers != req.n_headers ||
		    req1.body_len != req.body_len || req1.keep_alive != req.keep_alive)
			abort();
		off += req.consumed;
	}
	return 0;
}
