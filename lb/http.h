/* lb/http.h - berth-lb's HTTP/1.1 message heads and chunked bodies: an
 * incremental, zero-copy parser for request heads (client side) and
 * response heads (target side), and a chunked-body framing decoder.
 *
 * Use. A connection keeps its input buffer, a struct lb_http_parser and a
 * struct lb_http_head. Whenever bytes arrive, append them and call
 *
 *     r = lb_http_parse(&p, buf, len, &h);
 *
 * with buf = the first byte of the current message and len = every byte
 * received since (it may include body bytes and pipelined requests). The
 * parser keeps only offsets and resumes where it stopped, so buf may be
 * moved or reallocated between calls as long as its first len bytes stay
 * the same; no byte is scanned twice. Pass the same h on every call.
 *   LB_HTTP_MORE   need more bytes (the limits apply to what has come);
 *   LB_HTTP_DONE   h is complete: h->head_len bytes are the head; the body
 *                  (h->body) follows; spans are offsets into buf;
 *   LB_HTTP_ERROR  answer p.status (requests: 400, 414, 431, 501, 505;
 *                  responses: 502), p.error says why; close the connection.
 *
 * Strictness (RFC 9110/9112, and against request smuggling; docs/lb.md has
 * the table): Content-Length and Transfer-Encoding together, two
 * Content-Length fields (even equal ones) or a list value ("5, 5"), a
 * request Transfer-Encoding that is not exactly "chunked" (other codings:
 * 501; malformed, repeated or chunked not last: 400), Transfer-Encoding on
 * HTTP/1.0, obs-fold, a byte outside tchar in a name, a CTL other than HTAB
 * or DEL in a value, whitespace before the colon, a bare CR, a request
 * line with anything but single spaces: all rejected. Lines end in CRLF; a
 * bare LF is rejected unless limits.allow_bare_lf, since the engine may
 * forward a head verbatim to a target that would split it differently
 * (with allow_bare_lf, h->bare_lf tells the engine to rewrite the head). */
#ifndef BERTH_LB_HTTP_H
#define BERTH_LB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LB_HTTP_ERROR (-1)
#define LB_HTTP_MORE 0
#define LB_HTTP_DONE 1

/* the most header fields a head may carry (stored inline in lb_http_head) */
#define LB_HTTP_MAX_HEADERS 128

struct lb_http_limits {
	uint32_t max_request_line; /* request line incl. CRLF; longer: 414 */
	uint32_t max_header_line;  /* one header field line incl. CRLF; longer: 431 */
	uint32_t max_head;         /* the whole head; longer: 431 */
	uint32_t max_headers;      /* field count, <= LB_HTTP_MAX_HEADERS; more: 431 */
	uint32_t max_chunk_line;   /* chunk-size line with extensions, one trailer line: 400 */
	uint32_t max_trailers;     /* trailer fields: 400 */
	bool allow_bare_lf;        /* accept LF as a line end (RFC 9112 2.2 MAY) */
};

/* ALB's documented limits: 16 KiB request line, 16 KiB per header, 64 KiB head */
#define LB_HTTP_LIMITS_DEFAULT { 16384, 16384, 65536, 100, 4096, 32, false }

/* bytes [off, off+len) of the message buffer */
struct lb_http_span {
	uint32_t off, len;
};

struct lb_http_header {
	struct lb_http_span name;  /* case as sent */
	struct lb_http_span value; /* without the surrounding OWS */
};

enum lb_http_method {
	LB_HTTP_OTHER = 0, /* any other token: forwarded as is */
	LB_HTTP_GET,
	LB_HTTP_HEAD,
	LB_HTTP_POST,
	LB_HTTP_PUT,
	LB_HTTP_DELETE,
	LB_HTTP_CONNECT,
	LB_HTTP_OPTIONS,
	LB_HTTP_TRACE,
	LB_HTTP_PATCH,
};

enum lb_http_form {
	LB_HTTP_FORM_ORIGIN,    /* /path?query */
	LB_HTTP_FORM_ABSOLUTE,  /* http://host:port/path?query */
	LB_HTTP_FORM_AUTHORITY, /* host:port, CONNECT only */
	LB_HTTP_FORM_ASTERISK,  /* *, OPTIONS only */
};

enum lb_http_body {
	LB_HTTP_BODY_NONE,    /* no body (also Content-Length: 0) */
	LB_HTTP_BODY_LENGTH,  /* content_length bytes */
	LB_HTTP_BODY_CHUNKED, /* run struct lb_http_chunked over it */
	LB_HTTP_BODY_CLOSE,   /* responses: until the target closes */
	LB_HTTP_BODY_TUNNEL,  /* 101 or 2xx to CONNECT: bytes both ways until close */
};

/* Connection tokens seen */
#define LB_HTTP_CONN_CLOSE 1u
#define LB_HTTP_CONN_KEEP_ALIVE 2u
#define LB_HTTP_CONN_UPGRADE 4u
#define LB_HTTP_CONN_OTHER 8u /* other tokens: hop-by-hop fields the engine strips */

struct lb_http_head {
	int version;                /* 10 or 11 */
	uint32_t head_len;          /* bytes of the head, final empty line included */
	/* requests */
	enum lb_http_method method;
	struct lb_http_span method_s;
	enum lb_http_form form;
	struct lb_http_span target; /* as sent */
	struct lb_http_span scheme; /* absolute-form only */
	struct lb_http_span path;   /* empty for asterisk and authority forms and for
				     * "http://h" (which means "/") */
	struct lb_http_span query;  /* after '?'; has_query says whether there was one */
	bool has_query;
	struct lb_http_span host;   /* absolute/authority form: from the target; else Host */
	bool has_host;
	/* responses */
	int status;
	struct lb_http_span reason;
	bool informational;         /* 1xx other than 101: another head follows */
	/* both */
	enum lb_http_body body;
	uint64_t content_length;
	unsigned conn;              /* LB_HTTP_CONN_* */
	bool keep_alive;            /* the connection may carry another message */
	bool upgrade;               /* request: Connection: upgrade + Upgrade (1.1) */
	struct lb_http_span upgrade_proto;
	bool expect_continue;       /* Expect: 100-continue */
	bool bare_lf;               /* some line ended in a bare LF (allow_bare_lf) */
	uint32_t n_headers;
	struct lb_http_header headers[LB_HTTP_MAX_HEADERS];
};

struct lb_http_parser {
	struct lb_http_limits lim;
	uint8_t state;
	bool response;
	enum lb_http_method req_method; /* responses: the request's method */
	uint32_t pos;                /* next byte to look at */
	uint32_t line;               /* start of the current line */
	uint32_t mark;               /* start of the current token */
	uint32_t last_vchar;         /* end of the value without trailing OWS */
	uint8_t hdr_kind;            /* special header being read */
	uint8_t empty_lines;
	uint8_t n_host, n_cl, n_te;
	uint8_t te_state;
	/* LB_HTTP_ERROR */
	int status;
	const char *error;           /* static text */
};

/* lim NULL: LB_HTTP_LIMITS_DEFAULT (max_headers capped at LB_HTTP_MAX_HEADERS,
 * max_head at 1 GiB). */
void lb_http_request_parser_init(struct lb_http_parser *p, const struct lb_http_limits *lim);
/* A response to a request made with req_method (HEAD and CONNECT change
 * what a body is, RFC 9112 6.3). After an informational head, call it again
 * for the next head. */
void lb_http_response_parser_init(struct lb_http_parser *p, const struct lb_http_limits *lim,
				  enum lb_http_method req_method);
int lb_http_parse(struct lb_http_parser *p, const char *buf, size_t len, struct lb_http_head *h);

static inline const char *lb_http_ptr(const char *buf, struct lb_http_span s)
{
	return buf + s.off;
}

/* The first header named name (ASCII case-insensitive), NULL if none. */
const struct lb_http_header *lb_http_find(const struct lb_http_head *h, const char *buf,
					  const char *name);
bool lb_http_span_eq(const char *buf, struct lb_http_span s, const char *lit);
bool lb_http_span_caseeq(const char *buf, struct lb_http_span s, const char *lit);
const char *lb_http_method_name(enum lb_http_method m);

/* ------------------------------------------------------------- chunked */

/* Framing of a chunked body (RFC 9112 7.1): chunk sizes, extensions,
 * data, last chunk, trailer section. The bytes are not changed: the caller
 * forwards everything the decoder consumes.
 *
 *     r = lb_http_chunked_parse(&c, buf, len, &used);
 *
 * consumes bytes of buf[0..len) (a fresh slice each time: the decoder keeps
 * no offsets) and sets used:
 *   LB_HTTP_MORE   all len bytes are body; give more;
 *   LB_HTTP_DONE   the body ended after used bytes; the rest is the next message;
 *   LB_HTTP_ERROR  c.status (400 requests, 502 responses), c.error.
 * While lb_http_chunked_data_left() > 0, that many bytes are chunk data the
 * caller may forward (or splice) without looking at them. */
struct lb_http_chunked {
	uint8_t state;
	bool allow_bare_lf;
	uint8_t digits;          /* significant hex digits of the size so far */
	uint64_t left;           /* data bytes left in the current chunk */
	uint64_t size;           /* size being read */
	uint32_t line_len, max_line;
	uint32_t trailers, max_trailers;
	int err_status;
	int status;
	const char *error;
};

void lb_http_chunked_init(struct lb_http_chunked *c, const struct lb_http_limits *lim,
			  bool response);
int lb_http_chunked_parse(struct lb_http_chunked *c, const char *buf, size_t len, size_t *used);
static inline uint64_t lb_http_chunked_data_left(const struct lb_http_chunked *c)
{
	return c->left;
}

#endif
