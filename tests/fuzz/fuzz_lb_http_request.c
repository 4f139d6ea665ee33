/* fuzz_lb_http_request: berth-lb's request-head parser and chunked decoder
 * (lb/http.c) over the byte stream of one client connection.
 *
 * data[0] seeds the split points, data[1] picks the limits (bit 0: small
 * ones, bit 1: bare LF allowed); the rest is the stream, parsed request
 * after request (pipelining) the way the engine does: bytes arrive in
 * pieces of pseudo-random size, each call gets a fresh heap copy of what
 * has arrived (a pointer kept across calls is a use-after-free ASan
 * reports), the head's body is skipped (Content-Length) or framed by the
 * chunked decoder (fed at random splits too).
 * Invariants: no crash or leak; the verdict and the head equal those of
 * one call over the same bytes; a parsed head's spans lie inside it, its
 * names are tokens, values hold no CTL but HTAB and no outer blanks, an
 * HTTP/1.1 head has one Host, never both Content-Length and
 * Transfer-Encoding, a chunked body has exactly one TE; the head written
 * out canonically (CRLF, "name: value") parses to the same request; an
 * error has one of the documented statuses and a message; the chunked
 * decoder's verdict and length do not depend on the splits. */
#include "lb/http.h"
#include "tests/fuzz/lb_fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lb_http_head h, h1, h2;

static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t count(const struct lb_http_head *x, const char *buf, const char *name)
{
	size_t n = 0;

	for (uint32_t i = 0; i < x->n_headers; i++)
		n += lb_http_span_caseeq(buf, x->headers[i].name, name);
	return n;
}

static bool same_text(const char *a, struct lb_http_span sa, const char *b, struct lb_http_span sb)
{
	return sa.len == sb.len && memcmp(a + sa.off, b + sb.off, sa.len) == 0;
}

static void check_head(const char *buf, const struct lb_http_parser *p)
{
	if (h.head_len == 0 || h.head_len > p->lim.max_head)
		abort();
	if (h.version != 10 && h.version != 11)
		abort();
	if (!inside(h.method_s, h.head_len) || h.method_s.len == 0 || !inside(h.target, h.head_len) ||
	    !inside(h.path, h.head_len) || !inside(h.query, h.head_len) || !inside(h.host, h.head_len))
		abort();
	for (uint32_t i = 0; i < h.method_s.len; i++)
		if (!tchar((unsigned char)buf[h.method_s.off + i]))
			abort();
	if (h.n_headers > p->lim.max_headers)
		abort();
	for (uint32_t i = 0; i < h.n_headers; i++) {
		const struct lb_http_header *x = &h.headers[i];
		const unsigned char *v = (const unsigned char *)buf + x->value.off;

		if (!inside(x->name, h.head_len) || !inside(x->value, h.head_len) || x->name.len == 0)
			abort();
		for (uint32_t k = 0; k < x->name.len; k++)
			if (!tchar((unsigned char)buf[x->name.off + k]))
				abort();
		for (uint32_t k = 0; k < x->value.len; k++)
			if ((v[k] < 0x20 && v[k] != '\t') || v[k] == 0x7f)
				abort();
		if (x->value.len && (v[0] == ' ' || v[0] == '\t' || v[x->value.len - 1] == ' ' ||
				     v[x->value.len - 1] == '\t'))
			abort();
	}
	if (h.version == 11 && count(&h, buf, "host") != 1)
		abort();
	if (count(&h, buf, "content-length") && count(&h, buf, "transfer-encoding"))
		abort();
	if (count(&h, buf, "content-length") > 1)
		abort();
	if (h.body == LB_HTTP_BODY_CHUNKED && count(&h, buf, "transfer-encoding") != 1)
		abort();
	if (h.body == LB_HTTP_BODY_LENGTH && (h.content_length == 0 || !count(&h, buf, "content-length")))
		abort();
	if (h.body != LB_HTTP_BODY_NONE && h.body != LB_HTTP_BODY_LENGTH &&
	    h.body != LB_HTTP_BODY_CHUNKED)
		abort();
	if (!p->lim.allow_bare_lf && h.bare_lf)
		abort();
}

/* The head written out canonically parses to the same request. */
static void check_reserialized(const char *buf, const struct lb_http_limits *lim)
{
	size_t cap = (size_t)h.head_len + 8 * h.n_headers + 64, n = 0;
	char *out = malloc(cap);
	struct lb_http_parser p;
	struct lb_http_limits big = *lim;

	if (!out)
		abort();
	n += (size_t)snprintf(out + n, cap - n, "%.*s %.*s HTTP/1.%d\r\n", (int)h.method_s.len,
			      buf + h.method_s.off, (int)h.target.len, buf + h.target.off,
			      h.version == 11);
	for (uint32_t i = 0; i < h.n_headers; i++)
		n += (size_t)snprintf(out + n, cap - n, "%.*s: %.*s\r\n", (int)h.headers[i].name.len,
				      buf + h.headers[i].name.off, (int)h.headers[i].value.len,
				      buf + h.headers[i].value.off);
	n += (size_t)snprintf(out + n, cap - n, "\r\n");
	if (n >= cap)
		abort();
	/* the canonical form may be longer (": " added): room for that */
	big.max_head = lim->max_head + 8 * LB_HTTP_MAX_HEADERS + 16;
	big.max_header_line = lim->max_header_line + 8;
	big.max_request_line = lim->max_request_line + 8;
	lb_http_request_parser_init(&p, &big);
	if (lb_http_parse(&p, out, n, &h2) != LB_HTTP_DONE)
		abort();
	if (h2.method != h.method || h2.form != h.form || h2.n_headers != h.n_headers ||
	    h2.body != h.body || h2.content_length != h.content_length ||
	    h2.keep_alive != h.keep_alive || h2.upgrade != h.upgrade ||
	    h2.expect_continue != h.expect_continue || h2.has_host != h.has_host ||
	    h2.has_query != h.has_query || h2.conn != h.conn || h2.bare_lf)
		abort();
	if (!same_text(buf, h.host, out, h2.host) || !same_text(buf, h.path, out, h2.path) ||
	    !same_text(buf, h.query, out, h2.query) || !same_text(buf, h.target, out, h2.target))
		abort();
	for (uint32_t i = 0; i < h.n_headers; i++)
		if (!same_text(buf, h.headers[i].value, out, h2.headers[i].value))
			abort();
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lb_http_limits lim = LB_HTTP_LIMITS_DEFAULT;
	const char *in;
	size_t n, off = 0;

	if (size < 2)
		return 0;
	rng = data[0];
	if (data[1] & 1) {
		lim.max_request_line = 16 + data[1] % 64;
		lim.max_header_line = 8 + data[1] % 48;
		lim.max_head = 64 + (uint32_t)data[1] * 2;
		lim.max_headers = data[1] % 8;
		lim.max_chunk_line = 4 + data[1] % 16;
		lim.max_trailers = data[1] % 4;
	}
	lim.allow_bare_lf = data[1] & 2;
	in = (const char *)data + 2;
	n = size - 2;

	for (int requests = 0; off < n && requests < 32; requests++) {
		struct lb_http_parser p, p1;
		int r = LB_HTTP_MORE, r1;
		size_t have = 0;

		lb_http_request_parser_init(&p, &lim);
		while (r == LB_HTTP_MORE && have < n - off) {
			char *buf;

			have += next_piece(n - off - have);
			buf = malloc(have);
			if (!buf)
				abort();
			memcpy(buf, in + off, have);
			r = lb_http_parse(&p, buf, have, &h);
			if (r == LB_HTTP_DONE) {
				check_head(buf, &p);
				check_reserialized(buf, &lim);
			}
			free(buf);
		}
		lb_http_request_parser_init(&p1, &lim);
		r1 = lb_http_parse(&p1, in + off, have, &h1);
		if (r1 != r)
			abort();
		if (r == LB_HTTP_ERROR) {
			if (p.status != 400 && p.status != 414 && p.status != 431 && p.status != 501 &&
			    p.status != 505)
				abort();
			if (!p.error || !p.error[0] || p1.status != p.status || strcmp(p.error, p1.error))
				abort();
			return 0; /* the connection is closed */
		}
		if (r == LB_HTTP_MORE)
			return 0;
		if (memcmp(&h, &h1, offsetof(struct lb_http_head, headers)) != 0 ||
		    memcmp(h.headers, h1.headers, h.n_headers * sizeof(h.headers[0])) != 0)
			abort();
		off += h.head_len;
		if (h.body == LB_HTTP_BODY_LENGTH) {
			if (h.content_length > n - off)
				return 0;
			off += h.content_length;
		} else if (h.body == LB_HTTP_BODY_CHUNKED) {
			size_t body = check_chunked(in + off, n - off, &lim, false, 400);

			if (body == 0)
				return 0;
			off += body;
		}
		if (!h.keep_alive || h.upgrade || h.method == LB_HTTP_CONNECT)
			return 0;
	}
	return 0;
}
