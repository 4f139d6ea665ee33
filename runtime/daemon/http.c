/* runtime/daemon/http.c - incremental HTTP/1.1 request parser, response writer.
 *
 * The parser walks the input line by line as it arrives: memchr finds the
 * next LF from where the previous call stopped, the completed line is checked
 * and its fields are recorded as offsets, so a request that trickles in byte
 * by byte costs the same as one that arrives whole. Limits are enforced on
 * partial lines too, so a client cannot make berthd buffer more than the
 * head limit before it is answered. */
#include "runtime/daemon/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/xalloc.h"

enum {
	ST_LINE,      /* reading the request line (or empty lines before it) */
	ST_HEADERS,
	ST_BODY,      /* head complete; waiting for body_len bytes after it */
	ST_ERROR,
};

#define MAX_EMPTY_LINES 4
#define MAX_HEAD_CAP ((size_t)1 << 30)

void http_parser_init(struct http_parser *p, const struct http_limits *lim)
{
	static const struct http_limits def = HTTP_LIMITS_DEFAULT;

	memset(p, 0, sizeof(*p));
	p->lim = lim ? *lim : def;
	if (p->lim.max_headers > HTTP_MAX_HEADERS)
		p->lim.max_headers = HTTP_MAX_HEADERS;
	if (p->lim.max_head > MAX_HEAD_CAP)
		p->lim.max_head = MAX_HEAD_CAP;
	if (p->lim.max_line > p->lim.max_head)
		p->lim.max_line = p->lim.max_head;
	p->state = ST_LINE;
}

void http_parser_reset(struct http_parser *p)
{
	struct http_limits lim = p->lim;

	http_parser_init(p, &lim);
}

static enum http_parse_result fail(struct http_parser *p, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum http_parse_result fail(struct http_parser *p, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->status = status;
	p->state = ST_ERROR;
	p->continue_due = false;
	return HTTP_PARSE_ERROR;
}

/* RFC 9110 5.6.2 token characters */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return true;
	default:
		return false;
	}
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool eq_nocase(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(s, lit, len) == 0;
}

/* method SP request-target SP HTTP-version, in buf[s, e) */
static enum http_parse_result parse_request_line(struct http_parser *p, const char *buf,
						 size_t s, size_t e)
{
	size_t i = s, t, v;
	const char *ver;

	while (i < e && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == s || i >= e || buf[i] != ' ')
		return fail(p, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.1");
	p->method_off = (uint32_t)s;
	p->method_len = (uint32_t)(i - s);

	t = ++i;
	while (i < e && buf[i] != ' ') {
		unsigned char c = (unsigned char)buf[i];

		/* visible ASCII only (no CTL, SP, DEL or 8-bit bytes); no fragment */
		if (c < 0x21 || c > 0x7e || c == '#')
			return fail(p, 400, "invalid byte 0x%02x in request target", c);
		i++;
	}
	if (i == t || i >= e)
		return fail(p, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.1");
	if (buf[t] != '/')
		return fail(p, 400, "request target must be a path starting with '/' (origin-form)");
	p->target_off = (uint32_t)t;
	p->target_len = (uint32_t)(i - t);

	v = i + 1;
	ver = buf + v;
	if (e - v != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' ||
	    ver[6] != '.' || ver[7] < '0' || ver[7] > '9')
		return fail(p, 400, "malformed HTTP version in request line");
	if (ver[5] == '1' && ver[7] == '1')
		p->version = 11;
	else if (ver[5] == '1' && ver[7] == '0')
		p->version = 10;
	else
		return fail(p, 505, "HTTP/%c.%c is not supported (HTTP/1.0 and HTTP/1.1 are)",
			    ver[5], ver[7]);
	return HTTP_PARSE_MORE;
}

/* field-name ":" OWS field-value OWS, in buf[s, e) */
static enum http_parse_result parse_header_line(struct http_parser *p, const char *buf,
						size_t s, size_t e)
{
	size_t i = s, v, ve;
	struct http_hdr_off *h;

	if (is_ows(buf[s]))
		return fail(p, 400, "header line starts with whitespace (obs-fold is not accepted)");
	while (i < e && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == s)
		return fail(p, 400, "empty or invalid header name");
	if (i == e)
		return fail(p, 400, "header line \"%.*s\" has no ':'", (int)(i - s > 40 ? 40 : i - s),
			    buf + s);
	if (buf[i] != ':')
		return fail(p, 400, "invalid byte 0x%02x in header name \"%.*s\"",
			    (unsigned char)buf[i], (int)(i - s > 40 ? 40 : i - s), buf + s);
	v = i + 1;
	while (v < e && is_ows(buf[v]))
		v++;
	ve = e;
	while (ve > v && is_ows(buf[ve - 1]))
		ve--;
	for (size_t k = v; k < ve; k++) {
		unsigned char c = (unsigned char)buf[k];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, 400, "invalid byte 0x%02x in the value of header \"%.*s\"",
				    c, (int)(i - s > 40 ? 40 : i - s), buf + s);
	}
	if (p->n_headers >= p->lim.max_headers)
		return fail(p, 431, "more than %zu header fields", p->lim.max_headers);
	h = &p->hdr[p->n_headers++];
	h->name = (uint32_t)s;
	h->name_len = (uint32_t)(i - s);
	h->value = (uint32_t)v;
	h->value_len = (uint32_t)(ve - v);
	return HTTP_PARSE_MORE;
}

/* Content-Length = 1*DIGIT, or a list of equal ones ("5, 5", RFC 9110 8.6).
 * Saturates at UINT64_MAX (far above any limit). -1 when malformed. */
static int parse_content_length(const char *s, size_t len, uint64_t *out)
{
	size_t i = 0;
	bool have = false;
	uint64_t first = 0;

	for (;;) {
		uint64_t n = 0;
		size_t digits = 0;

		while (i < len && is_ows(s[i]))
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			unsigned d = (unsigned)(s[i] - '0');

			n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
			digits++;
			i++;
		}
		if (digits == 0)
			return -1;
		while (i < len && is_ows(s[i]))
			i++;
		if (have && n != first)
			return -1;
		first = n;
		have = true;
		if (i == len)
			break;
		if (s[i] != ',')
			return -1;
		i++;
	}
	*out = first;
	return 0;
}

/* Call fn for each comma-separated, OWS-trimmed, non-empty element. */
static void for_each_token(const char *s, size_t len, void (*fn)(const char *, size_t, void *),
			   void *data)
{
	size_t i = 0;

	while (i < len) {
		size_t a, b;

		while (i < len && (is_ows(s[i]) || s[i] == ','))
			i++;
		a = i;
		while (i < len && s[i] != ',')
			i++;
		b = i;
		while (b > a && is_ows(s[b - 1]))
			b--;
		if (b > a)
			fn(s + a, b - a, data);
	}
}

struct conn_opts {
	bool close, keep_alive;
};

static void conn_token(const char *t, size_t len, void *data)
{
	struct conn_opts *c = data;

	if (eq_nocase(t, len, "close"))
		c->close = true;
	else if (eq_nocase(t, len, "keep-alive"))
		c->keep_alive = true;
}

static bool method_needs_length(const char *m, size_t len)
{
	return (len == 4 && memcmp(m, "POST", 4) == 0) || (len == 3 && memcmp(m, "PUT", 3) == 0) ||
	       (len == 5 && memcmp(m, "PATCH", 5) == 0);
}

/* The empty line came: the header fields' meaning, checked together. */
static enum http_parse_result finish_head(struct http_parser *p, const char *buf)
{
	size_t n_host = 0;
	bool have_cl = false, te = false, expect = false;
	uint64_t cl = 0;
	struct conn_opts conn = { false, false };

	for (size_t i = 0; i < p->n_headers; i++) {
		const struct http_hdr_off *h = &p->hdr[i];
		const char *name = buf + h->name, *value = buf + h->value;

		if (eq_nocase(name, h->name_len, "host")) {
			n_host++;
		} else if (eq_nocase(name, h->name_len, "content-length")) {
			uint64_t n;

			if (parse_content_length(value, h->value_len, &n) < 0)
				return fail(p, 400, "invalid Content-Length \"%.*s\"",
					    (int)(h->value_len > 40 ? 40 : h->value_len), value);
			if (have_cl && n != cl)
				return fail(p, 400, "conflicting Content-Length headers");
			cl = n;
			have_cl = true;
		} else if (eq_nocase(name, h->name_len, "transfer-encoding")) {
			te = true;
		} else if (eq_nocase(name, h->name_len, "connection")) {
			for_each_token(value, h->value_len, conn_token, &conn);
		} else if (eq_nocase(name, h->name_len, "expect") && p->version == 11) {
			/* HTTP/1.0 clients' Expect is ignored (RFC 9110 10.1.1) */
			if (!eq_nocase(value, h->value_len, "100-continue"))
				return fail(p, 417, "unsupported expectation (only 100-continue is)");
			expect = true;
		}
	}
	if (n_host > 1 || (p->version == 11 && n_host == 0))
		return fail(p, 400, "an HTTP/1.1 request needs exactly one Host header, got %zu",
			    n_host);
	if (te)
		return fail(p, 501, "Transfer-Encoding is not supported (not even chunked): "
				    "send the body with Content-Length");
	if (!have_cl && method_needs_length(buf + p->method_off, p->method_len))
		return fail(p, 411, "%.*s needs a Content-Length header", (int)p->method_len,
			    buf + p->method_off);
	if (cl > p->lim.max_body)
		return fail(p, 413, "request body is larger than the limit of %zu bytes",
			    p->lim.max_body);
	p->body_len = cl;
	p->keep_alive = !conn.close && (p->version == 11 || conn.keep_alive);
	p->expect_continue = expect;
	p->continue_due = expect && cl > 0;
	return HTTP_PARSE_MORE;
}

static void fill_request(const struct http_parser *p, const char *buf, struct http_request *req)
{
	const char *q;

	req->method = buf + p->method_off;
	req->method_len = p->method_len;
	req->target = buf + p->target_off;
	req->target_len = p->target_len;
	req->path = req->target;
	q = memchr(req->target, '?', req->target_len);
	if (q) {
		req->path_len = (size_t)(q - req->target);
		req->query = q + 1;
		req->query_len = req->target_len - req->path_len - 1;
	} else {
		req->path_len = req->target_len;
		req->query = NULL;
		req->query_len = 0;
	}
	req->version = p->version;
	req->n_headers = p->n_headers;
	for (size_t i = 0; i < p->n_headers; i++) {
		req->headers[i].name = buf + p->hdr[i].name;
		req->headers[i].name_len = p->hdr[i].name_len;
		req->headers[i].value = buf + p->hdr[i].value;
		req->headers[i].value_len = p->hdr[i].value_len;
	}
	req->body = buf + p->head_len;
	req->body_len = (size_t)p->body_len;
	req->keep_alive = p->keep_alive;
	req->expect_continue = p->expect_continue;
	req->consumed = p->head_len + (size_t)p->body_len;
}

enum http_parse_result http_parse(struct http_parser *p, const char *buf, size_t len,
				  struct http_request *req)
{
	while (p->state == ST_LINE || p->state == ST_HEADERS) {
		const char *nl = NULL;
		size_t eol, end;
		enum http_parse_result r;

		if (p->scanned < len)
			nl = memchr(buf + p->scanned, '\n', len - p->scanned);
		if (!nl) {
			p->scanned = len;
			/* the line (head) will be at least one byte longer than what came */
			if (p->state == ST_LINE && len - p->line_start >= p->lim.max_line)
				return fail(p, 414, "request line is longer than %zu bytes",
					    p->lim.max_line);
			if (len >= p->lim.max_head)
				return fail(p, 431, "request head is larger than %zu bytes",
					    p->lim.max_head);
			return HTTP_PARSE_MORE;
		}
		eol = (size_t)(nl - buf);
		p->scanned = eol + 1;
		if (eol == p->line_start || buf[eol - 1] != '\r')
			return fail(p, 400, "line ends in a bare LF (CRLF is required)");
		end = eol - 1;
		if (p->state == ST_LINE) {
			if (eol + 1 - p->line_start > p->lim.max_line)
				return fail(p, 414, "request line is longer than %zu bytes",
					    p->lim.max_line);
			if (end == p->line_start) {
				if (++p->empty_lines > MAX_EMPTY_LINES)
					return fail(p, 400, "too many empty lines before the request");
				p->line_start = eol + 1;
				continue;
			}
			r = parse_request_line(p, buf, p->line_start, end);
			if (r != HTTP_PARSE_MORE)
				return r;
			p->state = ST_HEADERS;
		} else {
			if (eol + 1 > p->lim.max_head)
				return fail(p, 431, "request head is larger than %zu bytes",
					    p->lim.max_head);
			if (end == p->line_start) {
				p->head_len = eol + 1;
				r = finish_head(p, buf);
				if (r != HTTP_PARSE_MORE)
					return r;
				p->state = ST_BODY;
				break;
			}
			r = parse_header_line(p, buf, p->line_start, end);
			if (r != HTTP_PARSE_MORE)
				return r;
		}
		p->line_start = eol + 1;
	}
	if (p->state == ST_ERROR)
		return HTTP_PARSE_ERROR;
	if (len < p->head_len || len - p->head_len < p->body_len)
		return HTTP_PARSE_MORE;
	p->continue_due = false;
	fill_request(p, buf, req);
	return HTTP_PARSE_DONE;
}

bool http_parser_take_continue(struct http_parser *p)
{
	bool due = p->continue_due;

	p->continue_due = false;
	return due;
}

bool http_header_is(const struct http_header *h, const char *name)
{
	return eq_nocase(h->name, h->name_len, name);
}

const struct http_header *http_header_find(const struct http_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (http_header_is(&r->headers[i], name))
			return &r->headers[i];
	return NULL;
}

size_t http_header_count(const struct http_request *r, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < r->n_headers; i++)
		if (http_header_is(&r->headers[i], name))
			n++;
	return n;
}

/* ---------------------------------------------------------------- output */

static void out_reserve(struct http_out *o, size_t n)
{
	size_t need;

	/* drop what has been written before growing */
	if (o->sent > 0 && o->len + n > o->cap) {
		memmove(o->buf, o->buf + o->sent, o->len - o->sent);
		o->len -= o->sent;
		o->sent = 0;
	}
	need = o->len + n;
	if (need <= o->cap)
		return;
	if (need < o->len)
		abort();   /* size_t overflow */
	size_t cap = o->cap ? o->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	o->buf = xrealloc(o->buf, cap);
	o->cap = cap;
}

void http_out_append(struct http_out *o, const void *data, size_t n)
{
	if (n == 0)
		return;
	out_reserve(o, n);
	memcpy(o->buf + o->len, data, n);
	o->len += n;
}

void http_out_printf(struct http_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	out_reserve(o, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

int http_out_flush(struct http_out *o, int fd, struct berr **err)
{
	bool sock = true;

	while (o->sent < o->len) {
		ssize_t n;

		if (sock) {
			n = send(fd, o->buf + o->sent, o->len - o->sent, MSG_NOSIGNAL);
			if (n < 0 && errno == ENOTSOCK) {
				sock = false;
				continue;
			}
		} else {
			n = write(fd, o->buf + o->sent, o->len - o->sent);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return berr_set(err, errno, "write HTTP response");
		}
		o->sent += (size_t)n;
	}
	o->sent = o->len = 0;
	return 1;
}

void http_out_free(struct http_out *o)
{
	free(o->buf);
	o->buf = NULL;
	o->len = o->cap = o->sent = 0;
}

/* a header whose value is ours but might carry a client's bytes (a request id) */
static void put_header(struct http_out *o, const char *name, const char *value)
{
	http_out_printf(o, "%s: ", name);
	for (const char *s = value; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != 0x7f)
			http_out_append(o, s, 1);
	}
	http_out_append(o, "\r\n", 2);
}

void http_write_response(struct http_out *o, const struct http_response *r)
{
	char date[30];

	http_date(r->date ? r->date : time(NULL), date);
	http_out_printf(o, "HTTP/1.1 %03d %s\r\nDate: %s\r\n", r->status, http_reason(r->status),
			date);
	if (r->content_type)
		put_header(o, "Content-Type", r->content_type);
	http_out_printf(o, "Content-Length: %zu\r\n", r->body_len);
	if (r->request_id)
		put_header(o, "x-amzn-RequestId", r->request_id);
	http_out_printf(o, "Connection: %s\r\n\r\n", r->keep_alive ? "keep-alive" : "close");
	http_out_append(o, r->body, r->body_len);
}

const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

void http_date(time_t t, char buf[30])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	char wide[96];

	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		snprintf(buf, 30, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	/* the compiler cannot see that gmtime_r's fields fit: format wide, then copy */
	snprintf(wide, sizeof(wide), "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
		 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	snprintf(buf, 30, "%.29s", wide);
}
