/* lb/http.c - see http.h. One state machine per byte stream; the states
 * that read long runs (method, target, names, values, reason) scan with a
 * character-class table in a tight loop, so a typical head costs about one
 * table lookup per byte and a little work per line. */
#include "lb/http.h"

#include <stddef.h>
#include <string.h>

/* ------------------------------------------------------ character classes */

#define C_TCHAR 0x01u  /* token character (RFC 9110 5.6.2) */
#define C_VCHAR 0x02u  /* field-vchar: VCHAR or obs-text */
#define C_WS 0x04u     /* SP, HTAB */
#define C_TARGET 0x08u /* request-target byte: VCHAR but '#' */
#define C_HEX 0x10u
#define C_QDTEXT 0x20u /* quoted-string text: HTAB, SP, VCHAR but '"' and '\\', obs-text */
#define C_HOST 0x40u   /* authority byte: unreserved, sub-delims, '%', ':', '[', ']' */

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_TCHARX(c)                                                                   \
	(IS_DIGIT(c) || IS_ALPHA(c) || (c) == '!' || (c) == '#' || (c) == '$' ||        \
	 (c) == '%' || (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' ||          \
	 (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' ||           \
	 (c) == '|' || (c) == '~')
#define IS_VCHARX(c) (((c) >= 0x21 && (c) <= 0x7e) || (c) >= 0x80)
#define IS_HOSTX(c)                                                                    \
	(IS_DIGIT(c) || IS_ALPHA(c) || (c) == '-' || (c) == '.' || (c) == '_' ||        \
	 (c) == '~' || (c) == '!' || (c) == '$' || (c) == '&' || (c) == '\'' ||          \
	 (c) == '(' || (c) == ')' || (c) == '*' || (c) == '+' || (c) == ',' ||           \
	 (c) == ';' || (c) == '=' || (c) == '%' || (c) == ':' || (c) == '[' || (c) == ']')
#define CLS(c)                                                                         \
	((IS_TCHARX(c) ? C_TCHAR : 0u) | (IS_VCHARX(c) ? C_VCHAR : 0u) |                \
	 ((c) == ' ' || (c) == '\t' ? C_WS : 0u) |                                       \
	 ((c) >= 0x21 && (c) <= 0x7e && (c) != '#' ? C_TARGET : 0u) |                    \
	 (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F') ? C_HEX \
										   : 0u) | \
	 ((c) == '\t' || (c) == ' ' || (c) == 0x21 || ((c) >= 0x23 && (c) <= 0x5b) ||    \
	   ((c) >= 0x5d && (c) <= 0x7e) || (c) >= 0x80                                  \
	   ? C_QDTEXT : 0u) |                                                            \
	 (IS_HOSTX(c) ? C_HOST : 0u))
#define CLS4(b) CLS(b), CLS((b) + 1), CLS((b) + 2), CLS((b) + 3)
#define CLS16(b) CLS4(b), CLS4((b) + 4), CLS4((b) + 8), CLS4((b) + 12)
#define CLS64(b) CLS16(b), CLS16((b) + 16), CLS16((b) + 32), CLS16((b) + 48)

static const uint8_t cls[256] = { CLS64(0), CLS64(64), CLS64(128), CLS64(192) };

/* Eight bytes at a time (SWAR) over the long runs: HASLESS(w, n) is nonzero
 * when some byte of w is below n (n <= 0x80); it may also flag a byte
 * after a real one, never misses one, and a flag only sends the scan to
 * the byte loop, which decides. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
#define HASLESS(w, n) (((w) - ONES * (n)) & ~(w) & HIGHS)
#define HASBYTE(w, c) HASLESS((w) ^ (ONES * (c)), 1)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "skip_*8 take the first byte from the lowest bits"
#endif

static inline uint64_t load8(const unsigned char *p)
{
	uint64_t w;

	memcpy(&w, p, 8);
	return w;
}

/* bytes from pos that are all SP or field-vchar (values) */
static inline uint32_t skip_value8(const unsigned char *b, uint32_t pos, uint32_t n)
{
	while (n - pos >= 8) {
		uint64_t w = load8(b + pos);

		uint64_t m = HASLESS(w, 0x20) | HASBYTE(w, 0x7f);

		if (m) /* the lowest flag is a real one (little-endian: the first byte) */
			return pos + (uint32_t)(__builtin_ctzll(m) >> 3);
		pos += 8;
	}
	return pos;
}

/* bytes from pos that are all VCHAR but '#' (request target) */
static inline uint32_t skip_target8(const unsigned char *b, uint32_t pos, uint32_t n)
{
	while (n - pos >= 8) {
		uint64_t w = load8(b + pos);

		uint64_t m = HASLESS(w, 0x21) | (w & HIGHS) | HASBYTE(w, '#') | HASBYTE(w, 0x7f);

		if (m)
			return pos + (uint32_t)(__builtin_ctzll(m) >> 3);
		pos += 8;
	}
	return pos;
}

static inline int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool caseeq(const char *a, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

bool lb_http_span_eq(const char *buf, struct lb_http_span s, const char *lit)
{
	return strlen(lit) == s.len && memcmp(buf + s.off, lit, s.len) == 0;
}

bool lb_http_span_caseeq(const char *buf, struct lb_http_span s, const char *lit)
{
	size_t n = strlen(lit);

	if (n != s.len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)buf[s.off + i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

const struct lb_http_header *lb_http_find(const struct lb_http_head *h, const char *buf,
					  const char *name)
{
	for (uint32_t i = 0; i < h->n_headers; i++)
		if (lb_http_span_caseeq(buf, h->headers[i].name, name))
			return &h->headers[i];
	return NULL;
}

static const char *const method_names[] = {
	[LB_HTTP_OTHER] = "", [LB_HTTP_GET] = "GET", [LB_HTTP_HEAD] = "HEAD",
	[LB_HTTP_POST] = "POST", [LB_HTTP_PUT] = "PUT", [LB_HTTP_DELETE] = "DELETE",
	[LB_HTTP_CONNECT] = "CONNECT", [LB_HTTP_OPTIONS] = "OPTIONS", [LB_HTTP_TRACE] = "TRACE",
	[LB_HTTP_PATCH] = "PATCH",
};

const char *lb_http_method_name(enum lb_http_method m)
{
	return (unsigned)m < sizeof(method_names) / sizeof(method_names[0]) ? method_names[m] : "";
}

/* Methods are case-sensitive (RFC 9110 9.1). */
static enum lb_http_method method_of(const char *s, uint32_t n)
{
	switch (n) {
	case 3:
		if (memcmp(s, "GET", 3) == 0)
			return LB_HTTP_GET;
		if (memcmp(s, "PUT", 3) == 0)
			return LB_HTTP_PUT;
		break;
	case 4:
		if (memcmp(s, "POST", 4) == 0)
			return LB_HTTP_POST;
		if (memcmp(s, "HEAD", 4) == 0)
			return LB_HTTP_HEAD;
		break;
	case 5:
		if (memcmp(s, "PATCH", 5) == 0)
			return LB_HTTP_PATCH;
		if (memcmp(s, "TRACE", 5) == 0)
			return LB_HTTP_TRACE;
		break;
	case 6:
		if (memcmp(s, "DELETE", 6) == 0)
			return LB_HTTP_DELETE;
		break;
	case 7:
		if (memcmp(s, "OPTIONS", 7) == 0)
			return LB_HTTP_OPTIONS;
		if (memcmp(s, "CONNECT", 7) == 0)
			return LB_HTTP_CONNECT;
		break;
	}
	return LB_HTTP_OTHER;
}

/* ------------------------------------------------------------ the parser */

enum {
	S_START,      /* requests: empty lines before the request line */
	S_START_LF,
	S_METHOD,
	S_TARGET,
	S_VERSION,    /* waits for "HTTP/x.y" and the line end */
	S_RSTATUS,    /* responses: waits for "HTTP/x.y NNN" */
	S_REASON,
	S_RL_LF,      /* CR seen at the end of the start line */
	S_NAME_START, /* start of a field line or of the empty line */
	S_NAME,
	S_OWS,
	S_VALUE,
	S_HV_LF,
	S_END_LF,
	S_DONE,
	S_ERROR,
};

enum { H_NONE, H_CL, H_TE, H_HOST, H_CONN, H_UPGRADE, H_EXPECT };

/* Transfer-Encoding verdicts */
enum { TE_NONE, TE_CHUNKED, TE_OTHER_FINAL_CHUNKED, TE_NOT_CHUNKED, TE_UNSUPPORTED, TE_BAD };

#define MAX_EMPTY_LINES 4

static void parser_init(struct lb_http_parser *p, const struct lb_http_limits *lim, bool response)
{
	static const struct lb_http_limits def = LB_HTTP_LIMITS_DEFAULT;

	memset(p, 0, sizeof(*p));
	p->lim = lim ? *lim : def;
	if (p->lim.max_headers > LB_HTTP_MAX_HEADERS)
		p->lim.max_headers = LB_HTTP_MAX_HEADERS;
	if (p->lim.max_head > (1u << 30))
		p->lim.max_head = 1u << 30;
	p->response = response;
	p->state = response ? S_RSTATUS : S_START;
}

void lb_http_request_parser_init(struct lb_http_parser *p, const struct lb_http_limits *lim)
{
	parser_init(p, lim, false);
}

void lb_http_response_parser_init(struct lb_http_parser *p, const struct lb_http_limits *lim,
				  enum lb_http_method req_method)
{
	parser_init(p, lim, true);
	p->req_method = req_method;
}

static int fail(struct lb_http_parser *p, int status, const char *why)
{
	p->state = S_ERROR;
	/* a bad response is the target's fault: the client gets a 502 */
	p->status = p->response ? 502 : status;
	p->error = why;
	return LB_HTTP_ERROR;
}

static struct lb_http_span span(uint32_t a, uint32_t b)
{
	return (struct lb_http_span){ a, b - a };
}

/* authority = host [":" port]; host a reg-name, IPv4 or [IP-literal];
 * no userinfo (RFC 9110 4.2.4: "treat its presence as an error"). */
static bool valid_authority(const unsigned char *s, uint32_t n, bool need_port)
{
	uint32_t i = 0, colon = UINT32_MAX;

	if (n == 0)
		return false;
	if (s[0] == '[') {
		while (i < n && s[i] != ']') {
			if (!(cls[s[i]] & C_HEX) && s[i] != ':' && s[i] != '.' && s[i] != '[' &&
			    !(i > 0 && (s[i] == 'v' || s[i] == 'V')))
				return false;
			i++;
		}
		if (i == n || i < 3)
			return false;
		i++;
		if (i < n && s[i] != ':')
			return false;
		colon = i < n ? i : UINT32_MAX;
	} else {
		for (; i < n; i++) {
			if (!(cls[s[i]] & C_HOST) || s[i] == '[' || s[i] == ']')
				return false;
			if (s[i] == ':') {
				colon = i;
				break;
			}
		}
		if (i == 0)
			return false;
	}
	if (colon == UINT32_MAX)
		return !need_port;
	if (colon + 1 == n)
		return !need_port; /* "host:" has an empty port, which URI syntax allows */
	for (i = colon + 1; i < n; i++)
		if (!IS_DIGIT(s[i]))
			return false;
	return n - colon - 1 <= 5;
}

/* Split the target into its form and parts (RFC 9112 3.2). */
static int parse_target(struct lb_http_parser *p, const unsigned char *b, struct lb_http_head *h)
{
	uint32_t s = h->target.off, e = s + h->target.len, i;

	h->has_query = false;
	h->query = span(e, e);
	if (b[s] == '/') {
		if (h->method == LB_HTTP_CONNECT)
			return fail(p, 400, "CONNECT needs an authority-form target (host:port)");
		h->form = LB_HTTP_FORM_ORIGIN;
		i = s;
	} else if (h->target.len == 1 && b[s] == '*') {
		if (h->method != LB_HTTP_OPTIONS)
			return fail(p, 400, "asterisk-form target with a method other than OPTIONS");
		h->form = LB_HTTP_FORM_ASTERISK;
		h->path = span(s, s);
		return 0;
	} else if (h->method == LB_HTTP_CONNECT) {
		if (!valid_authority(b + s, h->target.len, true))
			return fail(p, 400, "invalid authority-form target");
		h->form = LB_HTTP_FORM_AUTHORITY;
		h->host = h->target;
		h->has_host = true;
		h->path = span(s, s);
		return 0;
	} else {
		uint32_t a;

		if (!IS_ALPHA(b[s]))
			return fail(p, 400, "invalid request target");
		for (i = s + 1; i < e && (IS_ALPHA(b[i]) || IS_DIGIT(b[i]) || b[i] == '+' ||
					  b[i] == '-' || b[i] == '.');
		     i++)
			;
		if (e - i < 3 || memcmp(b + i, "://", 3) != 0)
			return fail(p, 400, "invalid request target");
		h->scheme = span(s, i);
		a = i + 3;
		for (i = a; i < e && b[i] != '/' && b[i] != '?'; i++)
			;
		if (!valid_authority(b + a, i - a, false))
			return fail(p, 400, "invalid authority in absolute-form target");
		h->form = LB_HTTP_FORM_ABSOLUTE;
		h->host = span(a, i); /* wins over Host (RFC 9112 3.2.2) */
		h->has_host = true;
	}
	{
		const unsigned char *q = memchr(b + i, '?', e - i);
		uint32_t qe = q ? (uint32_t)(q - b) : e;

		h->path = span(i, qe);
		if (q) {
			h->has_query = true;
			h->query = span(qe + 1, e);
		}
	}
	return 0;
}

static uint8_t header_kind(const char *n, uint32_t len, bool response)
{
	switch (len) {
	case 4:
		return !response && caseeq(n, "host", 4) ? H_HOST : H_NONE;
	case 6:
		return !response && caseeq(n, "expect", 6) ? H_EXPECT : H_NONE;
	case 7:
		return caseeq(n, "upgrade", 7) ? H_UPGRADE : H_NONE;
	case 10:
		return caseeq(n, "connection", 10) ? H_CONN : H_NONE;
	case 14:
		return caseeq(n, "content-length", 14) ? H_CL : H_NONE;
	case 17:
		return caseeq(n, "transfer-encoding", 17) ? H_TE : H_NONE;
	}
	return H_NONE;
}

/* A comma-separated list of tokens with OWS around the commas. Calls back
 * per element; false on a byte that is not part of that syntax. Empty
 * elements are reported as length 0. */
static bool each_token(const unsigned char *v, uint32_t n,
		       bool (*fn)(void *ctx, const unsigned char *t, uint32_t len), void *ctx)
{
	uint32_t i = 0;

	for (;;) {
		uint32_t t;

		while (i < n && (cls[v[i]] & C_WS))
			i++;
		t = i;
		while (i < n && (cls[v[i]] & C_TCHAR))
			i++;
		if (!fn(ctx, v + t, i - t))
			return false;
		while (i < n && (cls[v[i]] & C_WS))
			i++;
		if (i == n)
			return true;
		if (v[i] != ',')
			return false;
		i++;
	}
}

struct te_walk {
	unsigned n, chunked_at, last_chunked, unknown;
	bool empty;
};

static bool te_elem(void *ctx, const unsigned char *t, uint32_t len)
{
	struct te_walk *w = ctx;

	w->n++;
	if (len == 0) {
		w->empty = true;
		return true;
	}
	if (len == 7 && caseeq((const char *)t, "chunked", 7)) {
		w->chunked_at++;
		w->last_chunked = w->n;
	} else {
		w->unknown++;
	}
	return true;
}

static int te_classify(const unsigned char *v, uint32_t n)
{
	struct te_walk w = { 0 };

	if (n == 7 && caseeq((const char *)v, "chunked", 7))
		return TE_CHUNKED;
	if (!each_token(v, n, te_elem, &w) || w.empty || w.chunked_at > 1)
		return TE_BAD;
	if (w.chunked_at == 1 && w.last_chunked != w.n)
		return TE_NOT_CHUNKED;
	if (w.chunked_at == 1)
		return TE_OTHER_FINAL_CHUNKED;
	return TE_UNSUPPORTED;
}

static bool conn_elem(void *ctx, const unsigned char *t, uint32_t len)
{
	unsigned *conn = ctx;

	if (len == 5 && caseeq((const char *)t, "close", 5))
		*conn |= LB_HTTP_CONN_CLOSE;
	else if (len == 10 && caseeq((const char *)t, "keep-alive", 10))
		*conn |= LB_HTTP_CONN_KEEP_ALIVE;
	else if (len == 7 && caseeq((const char *)t, "upgrade", 7))
		*conn |= LB_HTTP_CONN_UPGRADE;
	else if (len)
		*conn |= LB_HTTP_CONN_OTHER;
	return true;
}

/* A header line is complete: keep it and look at the special ones. */
static int end_header(struct lb_http_parser *p, const unsigned char *b, struct lb_http_head *h,
		      struct lb_http_span name, struct lb_http_span value)
{
	const unsigned char *v = b + value.off;

	h->headers[h->n_headers].name = name;
	h->headers[h->n_headers].value = value;
	h->n_headers++;
	switch (p->hdr_kind) {
	case H_CL: {
		uint64_t x = 0;

		if (++p->n_cl > 1)
			return fail(p, 400, "more than one Content-Length");
		if (value.len == 0)
			return fail(p, 400, "empty Content-Length");
		for (uint32_t i = 0; i < value.len; i++) {
			if (!IS_DIGIT(v[i]))
				return fail(p, 400, "invalid Content-Length");
			uint64_t d = (uint64_t)(v[i] - '0');

			if (x > ((uint64_t)INT64_MAX - d) / 10)
				return fail(p, 400, "Content-Length too large");
			x = x * 10 + d;
		}
		h->content_length = x;
		break;
	}
	case H_TE:
		if (++p->n_te > 1)
			return fail(p, 400, "more than one Transfer-Encoding");
		p->te_state = (uint8_t)te_classify(v, value.len);
		break;
	case H_HOST:
		if (++p->n_host > 1)
			return fail(p, 400, "more than one Host");
		if (value.len && !valid_authority(v, value.len, false))
			return fail(p, 400, "invalid Host");
		if (!h->has_host) {
			h->host = value;
			h->has_host = true;
		}
		break;
	case H_CONN:
		if (!each_token(v, value.len, conn_elem, &h->conn))
			return fail(p, 400, "invalid Connection");
		break;
	case H_UPGRADE:
		if (h->upgrade_proto.len == 0)
			h->upgrade_proto = value;
		break;
	case H_EXPECT:
		if (value.len == 12 && caseeq((const char *)v, "100-continue", 12))
			h->expect_continue = true;
		break;
	}
	return 0;
}

static int finish_request(struct lb_http_parser *p, struct lb_http_head *h)
{
	if (h->version == 11 && p->n_host == 0)
		return fail(p, 400, "HTTP/1.1 request without Host");
	if (p->n_te) {
		if (p->n_cl)
			return fail(p, 400, "both Content-Length and Transfer-Encoding");
		if (h->version == 10)
			return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
		switch (p->te_state) {
		case TE_CHUNKED:
			break;
		case TE_OTHER_FINAL_CHUNKED:
		case TE_UNSUPPORTED:
			return fail(p, 501, "unsupported Transfer-Encoding");
		default:
			return fail(p, 400, "invalid Transfer-Encoding (chunked must be the only coding)");
		}
		h->body = LB_HTTP_BODY_CHUNKED;
	} else if (p->n_cl && h->content_length > 0) {
		h->body = LB_HTTP_BODY_LENGTH;
	} else {
		h->body = LB_HTTP_BODY_NONE;
	}
	if (h->method == LB_HTTP_CONNECT && h->body != LB_HTTP_BODY_NONE)
		return fail(p, 400, "CONNECT with a body");
	if (h->version == 11)
		h->keep_alive = !(h->conn & LB_HTTP_CONN_CLOSE);
	else
		h->keep_alive = (h->conn & LB_HTTP_CONN_KEEP_ALIVE) && !(h->conn & LB_HTTP_CONN_CLOSE);
	/* RFC 9110 7.8: Upgrade in HTTP/1.0 is ignored */
	h->upgrade = h->version == 11 && (h->conn & LB_HTTP_CONN_UPGRADE) && h->upgrade_proto.len;
	if (h->version == 10)
		h->expect_continue = false;
	return LB_HTTP_DONE;
}

/* RFC 9112 6.3, in its order. */
static int finish_response(struct lb_http_parser *p, struct lb_http_head *h)
{
	if (p->n_te && p->n_cl)
		return fail(p, 502, "both Content-Length and Transfer-Encoding");
	if (p->n_te && (h->version == 10 || p->te_state == TE_BAD))
		return fail(p, 502, "invalid Transfer-Encoding");
	if (h->version == 11)
		h->keep_alive = !(h->conn & LB_HTTP_CONN_CLOSE);
	else
		h->keep_alive = (h->conn & LB_HTTP_CONN_KEEP_ALIVE) && !(h->conn & LB_HTTP_CONN_CLOSE);
	if (h->status == 101) {
		h->body = LB_HTTP_BODY_TUNNEL;
		h->keep_alive = false;
	} else if (h->status < 200) {
		h->informational = true;
		h->body = LB_HTTP_BODY_NONE;
		h->keep_alive = true; /* the final response follows */
	} else if (p->req_method == LB_HTTP_CONNECT && h->status < 300) {
		h->body = LB_HTTP_BODY_TUNNEL;
		h->keep_alive = false;
	} else if (p->req_method == LB_HTTP_HEAD || h->status == 204 || h->status == 304) {
		h->body = LB_HTTP_BODY_NONE;
	} else if (p->n_te) {
		if (p->te_state == TE_CHUNKED || p->te_state == TE_OTHER_FINAL_CHUNKED) {
			h->body = LB_HTTP_BODY_CHUNKED;
		} else {
			h->body = LB_HTTP_BODY_CLOSE;
			h->keep_alive = false;
		}
	} else if (p->n_cl) {
		h->body = h->content_length ? LB_HTTP_BODY_LENGTH : LB_HTTP_BODY_NONE;
	} else {
		h->body = LB_HTTP_BODY_CLOSE;
		h->keep_alive = false;
	}
	return LB_HTTP_DONE;
}

static int version_of(const unsigned char *v)
{
	if (memcmp(v, "HTTP/", 5) != 0 || !IS_DIGIT(v[5]) || v[6] != '.' || !IS_DIGIT(v[7]))
		return -1;
	if (v[5] == '1' && (v[7] == '1' || v[7] == '0'))
		return v[7] == '1' ? 11 : 10;
	return 0;
}

/* Limits on a line still being read. */
static int check_partial(struct lb_http_parser *p, uint32_t pos)
{
	if (p->state <= S_RL_LF) {
		if (pos - p->line > p->lim.max_request_line)
			return fail(p, 414, "request line too long");
	} else if (pos - p->line > p->lim.max_header_line) {
		return fail(p, 431, "header line too long");
	}
	if (pos > p->lim.max_head)
		return fail(p, 431, "request head too large");
	return 0;
}

int lb_http_parse(struct lb_http_parser *p, const char *buf, size_t len, struct lb_http_head *h)
{
	const unsigned char *b = (const unsigned char *)buf;
	uint32_t pos = p->pos, n;
	int r;

	if (p->state == S_ERROR)
		return LB_HTTP_ERROR;
	if (p->state == S_DONE)
		return LB_HTTP_DONE;
	if (pos == 0 && p->state == (p->response ? S_RSTATUS : S_START))
		memset(h, 0, offsetof(struct lb_http_head, headers)); /* a fresh message */
	/* a buffer beyond the largest head adds nothing: bound the offsets */
	n = len > (size_t)p->lim.max_head + 1 ? p->lim.max_head + 1 : (uint32_t)len;

	while (pos < n) {
		unsigned char c = b[pos];

		switch (p->state) {
		case S_START:
			if (c == '\r') {
				p->state = S_START_LF;
				pos++;
				break;
			}
			if (c == '\n') {
				if (!p->lim.allow_bare_lf)
					return fail(p, 400, "bare LF");
				pos++;
				if (++p->empty_lines > MAX_EMPTY_LINES)
					return fail(p, 400, "too many empty lines before the request line");
				break;
			}
			p->line = p->mark = pos;
			p->state = S_METHOD;
			break;
		case S_START_LF:
			if (c != '\n')
				return fail(p, 400, "bare CR");
			pos++;
			if (++p->empty_lines > MAX_EMPTY_LINES)
				return fail(p, 400, "too many empty lines before the request line");
			p->state = S_START;
			break;
		case S_METHOD:
			while (pos < n && (cls[b[pos]] & C_TCHAR))
				pos++;
			if (pos == n)
				break;
			if (b[pos] != ' ' || pos == p->mark)
				return fail(p, 400, "invalid method");
			h->method_s = span(p->mark, pos);
			h->method = method_of(buf + p->mark, pos - p->mark);
			p->mark = ++pos;
			p->state = S_TARGET;
			break;
		case S_TARGET:
			pos = skip_target8(b, pos, n);
			while (pos < n && (cls[b[pos]] & C_TARGET))
				pos++;
			if (pos == n)
				break;
			if (b[pos] != ' ')
				return fail(p, 400, b[pos] == '\r' || b[pos] == '\n'
							    ? "request line without an HTTP version"
							    : "invalid byte in the request target");
			if (pos == p->mark)
				return fail(p, 400, "empty request target");
			h->target = span(p->mark, pos);
			p->mark = ++pos;
			p->state = S_VERSION;
			break;
		case S_VERSION:
			if (n - p->mark < 9) {
				pos = n;
				break;
			}
			r = version_of(b + p->mark);
			if (r < 0)
				return fail(p, 400, "invalid HTTP version");
			if (r == 0)
				return fail(p, 505, "HTTP version not supported");
			h->version = r;
			pos = p->mark + 8;
			if (b[pos] == '\r') {
				p->state = S_RL_LF;
				pos++;
				break;
			}
			if (b[pos] != '\n')
				return fail(p, 400, "invalid request line");
			if (!p->lim.allow_bare_lf)
				return fail(p, 400, "bare LF");
			h->bare_lf = true;
			goto start_line_done;
		case S_RSTATUS:
			/* "HTTP/1.1 200" then SP reason, or the line end (tolerated) */
			if (n < 13) {
				pos = n;
				break;
			}
			p->line = 0;
			r = version_of(b);
			if (r <= 0)
				return fail(p, 502, "invalid status line");
			h->version = r;
			if (b[8] != ' ' || !IS_DIGIT(b[9]) || !IS_DIGIT(b[10]) || !IS_DIGIT(b[11]) ||
			    b[9] == '0')
				return fail(p, 502, "invalid status code");
			h->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
			pos = 12;
			p->mark = 13;
			h->reason = span(13, 13);
			if (b[12] == ' ') {
				pos = 13;
				p->state = S_REASON;
			} else if (b[12] == '\r') {
				pos = 13;
				p->state = S_RL_LF;
			} else if (b[12] == '\n' && p->lim.allow_bare_lf) {
				h->bare_lf = true;
				pos = 13;
				goto start_line_done;
			} else {
				return fail(p, 502, "invalid status line");
			}
			break;
		case S_REASON:
			while (pos < n && (cls[b[pos]] & (C_VCHAR | C_WS)))
				pos++;
			if (pos == n)
				break;
			h->reason = span(p->mark, pos);
			if (b[pos] == '\r') {
				p->state = S_RL_LF;
				pos++;
				break;
			}
			if (b[pos] != '\n' || !p->lim.allow_bare_lf)
				return fail(p, 502, "invalid byte in the reason phrase");
			h->bare_lf = true;
			goto start_line_done;
		case S_RL_LF:
			if (c != '\n')
				return fail(p, 400, "bare CR");
		start_line_done:
			pos++;
			if (pos - p->line > p->lim.max_request_line)
				return fail(p, 414, "request line too long");
			if (!p->response && parse_target(p, b, h) < 0)
				return LB_HTTP_ERROR;
			p->line = pos;
			p->state = S_NAME_START;
			break;
		/* A field line runs through these states in order: each falls
		 * through to the next while bytes remain, and the end of the line
		 * jumps back to name_start, so the switch is entered once per
		 * call and not once per token. */
		case S_NAME_START:
		name_start:
			c = b[pos];
			if (c == '\r') {
				p->state = S_END_LF;
				pos++;
				break;
			}
			if (c == '\n') {
				if (!p->lim.allow_bare_lf)
					return fail(p, 400, "bare LF");
				h->bare_lf = true;
				goto head_done;
			}
			if (c == ' ' || c == '\t')
				return fail(p, 400, h->n_headers ? "obs-fold (line folding) in a header"
								 : "whitespace before the first header");
			if (h->n_headers >= p->lim.max_headers)
				return fail(p, 431, "too many headers");
			p->line = p->mark = pos;
			p->state = S_NAME;
			__attribute__((fallthrough));
		case S_NAME:
			while (pos < n && (cls[b[pos]] & C_TCHAR))
				pos++;
			if (pos == n)
				break;
			if (b[pos] != ':') {
				if (b[pos] == ' ' || b[pos] == '\t')
					return fail(p, 400, "whitespace before the colon of a header");
				return fail(p, 400, "invalid byte in a header name");
			}
			if (pos == p->mark)
				return fail(p, 400, "empty header name");
			p->hdr_kind = header_kind(buf + p->mark, pos - p->mark, p->response);
			h->headers[h->n_headers].name = span(p->mark, pos);
			pos++;
			p->state = S_OWS;
			__attribute__((fallthrough));
		case S_OWS:
			while (pos < n && (cls[b[pos]] & C_WS))
				pos++;
			if (pos == n)
				break;
			p->mark = pos;
			p->state = S_VALUE;
			__attribute__((fallthrough));
		case S_VALUE:
			pos = skip_value8(b, pos, n);
			/* the scan usually stops at the CR: skip the byte loop then */
			if (pos == n || b[pos] != '\r') {
				while (pos < n && (cls[b[pos]] & (C_VCHAR | C_WS)))
					pos++;
				if (pos == n)
					break;
			}
			/* the value ends before the trailing OWS (it starts after the leading) */
			p->last_vchar = pos;
			while (p->last_vchar > p->mark && (cls[b[p->last_vchar - 1]] & C_WS))
				p->last_vchar--;
			if (b[pos] == '\r') {
				p->state = S_HV_LF;
				pos++;
			} else {
				if (b[pos] != '\n')
					return fail(p, 400, "invalid byte in a header value");
				if (!p->lim.allow_bare_lf)
					return fail(p, 400, "bare LF");
				h->bare_lf = true;
				goto header_line_done;
			}
			__attribute__((fallthrough));
		case S_HV_LF:
			if (pos == n)
				break;
			if (b[pos] != '\n')
				return fail(p, 400, "bare CR");
		header_line_done:
			pos++;
			if (pos - p->line > p->lim.max_header_line)
				return fail(p, 431, "header line too long");
			if (end_header(p, b, h, h->headers[h->n_headers].name,
				       span(p->mark, p->last_vchar)) < 0)
				return LB_HTTP_ERROR;
			p->line = pos;
			p->state = S_NAME_START;
			if (pos < n)
				goto name_start;
			break;
		case S_END_LF:
			if (c != '\n')
				return fail(p, 400, "bare CR");
		head_done:
			pos++;
			if (pos > p->lim.max_head)
				return fail(p, 431, "request head too large");
			h->head_len = pos;
			p->pos = pos;
			r = p->response ? finish_response(p, h) : finish_request(p, h);
			if (r == LB_HTTP_DONE)
				p->state = S_DONE;
			return r;
		default:
			return fail(p, 400, "parser state");
		}
	}
	p->pos = pos;
	if (check_partial(p, pos) < 0)
		return LB_HTTP_ERROR;
	return LB_HTTP_MORE;
}

/* ------------------------------------------------------------- chunked */

enum {
	C_SIZE_START,
	C_SIZE,
	C_EXT_PRE,      /* BWS before ';' */
	C_EXT_NAME_PRE, /* BWS after ';' */
	C_EXT_NAME,
	C_EXT_AFTER_NAME,
	C_EXT_VAL_PRE,
	C_EXT_TOK,
	C_EXT_QS,
	C_EXT_QP,
	C_EXT_AFTER_QS,
	C_SIZE_LF,
	C_DATA,
	C_DATA_CR,
	C_DATA_LF,
	C_TR_START,
	C_TR_NAME,
	C_TR_VALUE,
	C_TR_LF,
	C_END_LF,
	C_DONE,
	C_ERROR,
};

void lb_http_chunked_init(struct lb_http_chunked *c, const struct lb_http_limits *lim,
			  bool response)
{
	static const struct lb_http_limits def = LB_HTTP_LIMITS_DEFAULT;

	if (!lim)
		lim = &def;
	memset(c, 0, sizeof(*c));
	c->allow_bare_lf = lim->allow_bare_lf;
	c->max_line = lim->max_chunk_line;
	c->max_trailers = lim->max_trailers;
	c->err_status = response ? 502 : 400;
}

static int cfail(struct lb_http_chunked *c, const char *why)
{
	c->state = C_ERROR;
	c->status = c->err_status;
	c->error = why;
	return LB_HTTP_ERROR;
}

int lb_http_chunked_parse(struct lb_http_chunked *c, const char *buf, size_t len, size_t *used)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0;

	*used = 0;
	if (c->state == C_ERROR)
		return LB_HTTP_ERROR;
	if (c->state == C_DONE)
		return LB_HTTP_DONE;
	while (i < len) {
		unsigned char ch = b[i];
		uint8_t k = cls[ch];

		if (c->state == C_DATA) {
			size_t take = len - i < c->left ? len - i : (size_t)c->left;

			i += take;
			c->left -= take;
			if (c->left == 0)
				c->state = C_DATA_CR;
			continue;
		}
		if (++c->line_len > c->max_line)
			return cfail(c, c->state >= C_TR_START ? "trailer line too long"
							       : "chunk size line too long");
		i++;
		switch (c->state) {
		case C_SIZE_START:
			if (!(k & C_HEX))
				return cfail(c, "invalid chunk size");
			c->size = ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10;
			c->state = C_SIZE;
			break;
		case C_SIZE:
			if (k & C_HEX) {
				if (c->size > (UINT64_MAX >> 5))
					return cfail(c, "chunk size too large");
				c->size = c->size * 16 + (uint64_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
			} else if (ch == ';') {
				c->state = C_EXT_NAME_PRE;
			} else if (k & C_WS) {
				c->state = C_EXT_PRE;
			} else if (ch == '\r') {
				c->state = C_SIZE_LF;
			} else if (ch == '\n' && c->allow_bare_lf) {
				goto size_done;
			} else {
				return cfail(c, "invalid chunk size");
			}
			break;
		case C_EXT_PRE:
			if (ch == ';')
				c->state = C_EXT_NAME_PRE;
			else if (!(k & C_WS))
				return cfail(c, "invalid chunk extension");
			break;
		case C_EXT_NAME_PRE:
			if (k & C_TCHAR)
				c->state = C_EXT_NAME;
			else if (!(k & C_WS))
				return cfail(c, "invalid chunk extension");
			break;
		case C_EXT_NAME:
		case C_EXT_TOK:
		case C_EXT_AFTER_QS:
			if ((k & C_TCHAR) && c->state != C_EXT_AFTER_QS) {
				/* the name or value goes on */
			} else if (ch == '=' && c->state == C_EXT_NAME) {
				c->state = C_EXT_VAL_PRE;
			} else if (ch == ';') {
				c->state = C_EXT_NAME_PRE;
			} else if (k & C_WS) {
				c->state = c->state == C_EXT_NAME ? C_EXT_AFTER_NAME : C_EXT_PRE;
			} else if (ch == '\r') {
				c->state = C_SIZE_LF;
			} else if (ch == '\n' && c->allow_bare_lf) {
				goto size_done;
			} else {
				return cfail(c, "invalid chunk extension");
			}
			break;
		case C_EXT_AFTER_NAME:
			if (ch == '=')
				c->state = C_EXT_VAL_PRE;
			else if (ch == ';')
				c->state = C_EXT_NAME_PRE;
			else if (!(k & C_WS))
				return cfail(c, "invalid chunk extension");
			break;
		case C_EXT_VAL_PRE:
			if (ch == '"')
				c->state = C_EXT_QS;
			else if (k & C_TCHAR)
				c->state = C_EXT_TOK;
			else if (!(k & C_WS))
				return cfail(c, "invalid chunk extension value");
			break;
		case C_EXT_QS:
			if (ch == '"')
				c->state = C_EXT_AFTER_QS;
			else if (ch == '\\')
				c->state = C_EXT_QP;
			else if (!(k & C_QDTEXT))
				return cfail(c, "invalid byte in a quoted chunk extension");
			break;
		case C_EXT_QP:
			if (!(k & (C_VCHAR | C_WS)))
				return cfail(c, "invalid byte in a quoted chunk extension");
			c->state = C_EXT_QS;
			break;
		case C_SIZE_LF:
			if (ch != '\n')
				return cfail(c, "bare CR in a chunk size line");
		size_done:
			c->line_len = 0;
			if (c->size == 0) {
				c->state = C_TR_START;
			} else {
				c->left = c->size;
				c->state = C_DATA;
			}
			break;
		case C_DATA_CR:
			if (ch == '\r') {
				c->state = C_DATA_LF;
			} else if (ch == '\n' && c->allow_bare_lf) {
				c->line_len = 0;
				c->state = C_SIZE_START;
			} else {
				return cfail(c, "chunk data longer than its size");
			}
			break;
		case C_DATA_LF:
			if (ch != '\n')
				return cfail(c, "bare CR after chunk data");
			c->line_len = 0;
			c->state = C_SIZE_START;
			break;
		case C_TR_START:
			if (ch == '\r') {
				c->state = C_END_LF;
			} else if (ch == '\n' && c->allow_bare_lf) {
				goto body_done;
			} else if (k & C_TCHAR) {
				if (++c->trailers > c->max_trailers)
					return cfail(c, "too many trailer fields");
				c->state = C_TR_NAME;
			} else {
				return cfail(c, (k & C_WS) ? "obs-fold in the trailer section"
							   : "invalid trailer field");
			}
			break;
		case C_TR_NAME:
			if (ch == ':')
				c->state = C_TR_VALUE;
			else if (!(k & C_TCHAR))
				return cfail(c, (k & C_WS) ? "whitespace before the colon of a trailer"
							   : "invalid byte in a trailer name");
			break;
		case C_TR_VALUE:
			if (ch == '\r') {
				c->state = C_TR_LF;
			} else if (ch == '\n' && c->allow_bare_lf) {
				c->line_len = 0;
				c->state = C_TR_START;
			} else if (!(k & (C_VCHAR | C_WS))) {
				return cfail(c, "invalid byte in a trailer value");
			}
			break;
		case C_TR_LF:
			if (ch != '\n')
				return cfail(c, "bare CR in the trailer section");
			c->line_len = 0;
			c->state = C_TR_START;
			break;
		case C_END_LF:
			if (ch != '\n')
				return cfail(c, "bare CR at the end of a chunked body");
		body_done:
			c->state = C_DONE;
			*used = i;
			return LB_HTTP_DONE;
		default:
			return cfail(c, "decoder state");
		}
	}
	*used = i;
	return LB_HTTP_MORE;
}
