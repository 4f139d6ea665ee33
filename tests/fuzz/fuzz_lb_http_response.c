/* fuzz_lb_http_response: berth-lb's response-head parser and chunked
 * decoder (lb/http.c) over the byte stream of one target connection.
 *
 * data[0] seeds the split points; data[1] picks the request method the
 * responses answer (GET, HEAD, POST, CONNECT), small limits (bit 2) and
 * bare LF (bit 3); the rest is the stream: response after response,
 * informational ones first, bodies skipped (Content-Length) or framed by
 * the chunked decoder; a close-delimited body or a tunnel ends the stream.
 * Invariants: no crash or leak; verdict and head do not depend on the
 * splits (each call gets a fresh heap copy); spans lie inside the head;
 * status 100-999; the body kind follows RFC 9112 6.3 (HEAD, 1xx, 204, 304:
 * none; 101 and 2xx to CONNECT: tunnel; never both Content-Length and
 * Transfer-Encoding); a close-delimited body or tunnel is never
 * keep-alive; the head written out canonically parses to the same
 * response; every error is a 502 with a message. */
#include "lb/http.h"
#include "tests/fuzz/lb_fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lb_http_head h, h1, h2;

static size_t count(const char *buf, const char *name)
{
	size_t n = 0;

	for (uint32_t i = 0; i < h.n_headers; i++)
		n += lb_http_span_caseeq(buf, h.headers[i].name, name);
	return n;
}

static void check_head(const char *buf, enum lb_http_method m)
{
	if (h.version != 10 && h.version != 11)
		abort();
	if (h.status < 100 || h.status > 999 || !inside(h.reason, h.head_len))
		abort();
	for (uint32_t i = 0; i < h.n_headers; i++)
		if (!inside(h.headers[i].name, h.head_len) || !inside(h.headers[i].value, h.head_len) ||
		    h.headers[i].name.len == 0)
			abort();
	for (uint32_t i = 0; i < h.reason.len; i++) {
		unsigned char c = (unsigned char)buf[h.reason.off + i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			abort();
	}
	if (count(buf, "content-length") && count(buf, "transfer-encoding"))
		abort();
	if (h.informational != (h.status < 200 && h.status != 101))
		abort();
	/* 101 switches protocols whatever the method; a 2xx to CONNECT (204
	 * too) has no body and then the tunnel */
	if ((m == LB_HTTP_HEAD || h.status == 204 || h.status == 304 || h.informational) &&
	    h.status != 101 && !(m == LB_HTTP_CONNECT && h.status == 204) &&
	    h.body != LB_HTTP_BODY_NONE)
		abort();
	if ((h.status == 101 || (m == LB_HTTP_CONNECT && h.status >= 200 && h.status < 300)) !=
	    (h.body == LB_HTTP_BODY_TUNNEL))
		abort();
	if ((h.body == LB_HTTP_BODY_CLOSE || h.body == LB_HTTP_BODY_TUNNEL) && h.keep_alive)
		abort();
	if (h.body == LB_HTTP_BODY_LENGTH && h.content_length == 0)
		abort();
}

static void check_reserialized(const char *buf, const struct lb_http_limits *lim,
			       enum lb_http_method m)
{
	size_t cap = (size_t)h.head_len + 8 * h.n_headers + 64, n = 0;
	char *out = malloc(cap);
	struct lb_http_parser p;
	struct lb_http_limits big = *lim;

	if (!out)
		abort();
	n += (size_t)snprintf(out + n, cap - n, "HTTP/1.%d %03d %.*s\r\n", h.version == 11, h.status,
			      (int)h.reason.len, buf + h.reason.off);
	for (uint32_t i = 0; i < h.n_headers; i++)
		n += (size_t)snprintf(out + n, cap - n, "%.*s: %.*s\r\n", (int)h.headers[i].name.len,
				      buf + h.headers[i].name.off, (int)h.headers[i].value.len,
				      buf + h.headers[i].value.off);
	n += (size_t)snprintf(out + n, cap - n, "\r\n");
	if (n >= cap)
		abort();
	big.max_head = lim->max_head + 8 * LB_HTTP_MAX_HEADERS + 16;
	big.max_header_line = lim->max_header_line + 8;
	big.max_request_line = lim->max_request_line + 8;
	lb_http_response_parser_init(&p, &big, m);
	if (lb_http_parse(&p, out, n, &h2) != LB_HTTP_DONE)
		abort();
	if (h2.status != h.status || h2.body != h.body || h2.content_length != h.content_length ||
	    h2.keep_alive != h.keep_alive || h2.n_headers != h.n_headers || h2.conn != h.conn ||
	    h2.informational != h.informational || h2.reason.len != h.reason.len)
		abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum lb_http_method methods[] = { LB_HTTP_GET, LB_HTTP_HEAD, LB_HTTP_POST,
						       LB_HTTP_CONNECT };
	struct lb_http_limits lim = LB_HTTP_LIMITS_DEFAULT;
	enum lb_http_method m;
	const char *in;
	size_t n, off = 0;

	if (size < 2)
		return 0;
	rng = data[0];
	m = methods[data[1] & 3];
	if (data[1] & 4) {
		lim.max_request_line = 16 + data[1] % 64;
		lim.max_header_line = 8 + data[1] % 48;
		lim.max_head = 64 + (uint32_t)data[1] * 2;
		lim.max_headers = data[1] % 8;
		lim.max_chunk_line = 4 + data[1] % 16;
		lim.max_trailers = data[1] % 4;
	}
	lim.allow_bare_lf = data[1] & 8;
	in = (const char *)data + 2;
	n = size - 2;

	for (int responses = 0; off < n && responses < 32; responses++) {
		struct lb_http_parser p, p1;
		int r = LB_HTTP_MORE, r1;
		size_t have = 0;

		lb_http_response_parser_init(&p, &lim, m);
		while (r == LB_HTTP_MORE && have < n - off) {
			char *buf;

			have += next_piece(n - off - have);
			buf = malloc(have);
			if (!buf)
				abort();
			memcpy(buf, in + off, have);
			r = lb_http_parse(&p, buf, have, &h);
			if (r == LB_HTTP_DONE) {
				check_head(buf, m);
				check_reserialized(buf, &lim, m);
			}
			free(buf);
		}
		lb_http_response_parser_init(&p1, &lim, m);
		r1 = lb_http_parse(&p1, in + off, have, &h1);
		if (r1 != r)
			abort();
		if (r == LB_HTTP_ERROR) {
			if (p.status != 502 || !p.error || !p.error[0] || strcmp(p.error, p1.error))
				abort();
			return 0;
		}
		if (r == LB_HTTP_MORE)
			return 0;
		if (memcmp(&h, &h1, offsetof(struct lb_http_head, headers)) != 0 ||
		    memcmp(h.headers, h1.headers, h.n_headers * sizeof(h.headers[0])) != 0)
			abort();
		off += h.head_len;
		switch (h.body) {
		case LB_HTTP_BODY_NONE:
			break;
		case LB_HTTP_BODY_LENGTH:
			if (h.content_length > n - off)
				return 0;
			off += h.content_length;
			break;
		case LB_HTTP_BODY_CHUNKED: {
			size_t body = check_chunked(in + off, n - off, &lim, true, 502);

			if (body == 0)
				return 0;
			off += body;
			break;
		}
		default:
			return 0; /* close-delimited or a tunnel: the rest is not HTTP */
		}
		if (!h.keep_alive)
			return 0;
	}
	return 0;
}
