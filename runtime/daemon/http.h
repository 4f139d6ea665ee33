/* runtime/daemon/http.h - berthd's HTTP/1.1: an incremental request parser
 * and a response writer, for one single-threaded event loop.
 *
 * Parsing. Each connection owns an input buffer and a struct http_parser.
 * Whenever bytes arrive, append them and call
 *
 *     r = http_parse(&p, buf, len, &req);
 *
 * with buf = the start of the current request and len = every byte received
 * since. The parser remembers how far it has looked (only offsets), so buf
 * may be moved or reallocated between calls as long as its first `len`
 * bytes stay the same, and no byte is scanned twice. r is
 *   HTTP_PARSE_MORE   need more bytes (limits are enforced on what has come),
 *   HTTP_PARSE_DONE   req is a complete request; its pointers point into buf
 *                     and stay valid while buf does; req.consumed bytes of buf
 *                     belong to it, the rest (pipelining) to the next request:
 *                     drop req.consumed bytes, http_parser_reset(), parse again,
 *   HTTP_PARSE_ERROR  answer p.status (400, 411, 413, 414, 417, 431, 501, 505;
 *                     p.error says why) and close the connection.
 *
 * What is accepted (RFC 9112, strictly, as HAProxy does by default): lines end
 * in CRLF (a bare LF is a 400); origin-form targets only ("/path?query"); HTTP/1.0
 * and 1.1 (other versions 505); header names are tokens with no space before
 * the colon; values hold no CR, LF, NUL or other control byte but HTAB;
 * obs-fold (a line starting with SP/HTAB) is a 400; an HTTP/1.1 request has
 * exactly one Host. Bodies are Content-Length only: Transfer-Encoding is 501
 * ("chunked is not supported; send Content-Length"), differing duplicate
 * Content-Length values are 400, POST/PUT/PATCH without one is 411, more
 * than the limit 413 (answered before the body is read). Up to four empty
 * lines before a request line are skipped (RFC 9112 2.2).
 *
 * Responses. http_write_response() formats one response into a growable
 * struct http_out; http_out_flush() writes what it can to a non-blocking fd. */
#ifndef BERTH_RUNTIME_DAEMON_HTTP_H
#define BERTH_RUNTIME_DAEMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"

/* the most headers a request may carry (struct http_request holds them inline) */
#define HTTP_MAX_HEADERS 100

struct http_limits {
	size_t max_line;      /* request line with its CRLF; longer: 414 */
	size_t max_head;      /* request line + headers + the empty line; more: 431 */
	size_t max_headers;   /* header fields, at most HTTP_MAX_HEADERS; more: 431 */
	size_t max_body;      /* Content-Length; more: 413 */
};

/* 8 KiB request line, 64 KiB head, 100 headers, 1 MiB body */
#define HTTP_LIMITS_DEFAULT { 8192, 65536, HTTP_MAX_HEADERS, 1048576 }

struct http_header {
	const char *name;     /* as sent (case kept) */
	size_t name_len;
	const char *value;    /* raw, without the OWS around it */
	size_t value_len;
};

struct http_request {
	const char *method;   /* as sent: methods are case-sensitive */
	size_t method_len;
	const char *target;   /* the request-target as sent: path[?query] */
	size_t target_len;
	const char *path;     /* target up to '?' */
	size_t path_len;
	const char *query;    /* after '?' (not including it); NULL when there is no '?' */
	size_t query_len;
	int version;          /* 10 or 11 */
	struct http_header headers[HTTP_MAX_HEADERS];   /* in the order received */
	size_t n_headers;
	const char *body;     /* Content-Length bytes (not NUL-terminated) */
	size_t body_len;
	bool keep_alive;      /* 1.1 unless "Connection: close"; 1.0 only with "keep-alive" */
	bool expect_continue; /* "Expect: 100-continue" was sent */
	size_t consumed;      /* bytes of buf this request took: head + body */
};

enum http_parse_result {
	HTTP_PARSE_ERROR = -1,
	HTTP_PARSE_MORE = 0,
	HTTP_PARSE_DONE = 1,
};

struct http_hdr_off {
	uint32_t name, name_len, value, value_len;
};

struct http_parser {
	struct http_limits lim;
	int state;
	size_t scanned;       /* bytes of buf already looked at */
	size_t line_start;    /* offset of the line being read */
	size_t head_len;      /* once the head is complete */
	uint64_t body_len;
	unsigned empty_lines; /* skipped before the request line */
	/* the request line and headers, as offsets into buf */
	uint32_t method_off, method_len, target_off, target_len;
	int version;
	size_t n_headers;
	struct http_hdr_off hdr[HTTP_MAX_HEADERS];
	bool keep_alive;
	bool expect_continue;
	bool continue_due;    /* a 100 Continue is owed (http_parser_take_continue) */
	/* HTTP_PARSE_ERROR: the status to answer and why */
	int status;
	char error[160];
};

/* lim NULL: HTTP_LIMITS_DEFAULT. max_headers is capped at HTTP_MAX_HEADERS
 * and max_head at 1 GiB (offsets are 32-bit). */
void http_parser_init(struct http_parser *p, const struct http_limits *lim);
/* Ready for the next request on the same connection (limits kept). */
void http_parser_reset(struct http_parser *p);
enum http_parse_result http_parse(struct http_parser *p, const char *buf, size_t len,
				  struct http_request *req);
/* True once per request when the client sent "Expect: 100-continue" and its
 * (allowed) body has not fully arrived: write HTTP_CONTINUE, then wait. */
bool http_parser_take_continue(struct http_parser *p);
#define HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Header lookup, names case-insensitive. */
bool http_header_is(const struct http_header *h, const char *name);
/* The first header called name, or NULL. */
const struct http_header *http_header_find(const struct http_request *r, const char *name);
size_t http_header_count(const struct http_request *r, const char *name);

/* ---- responses ---- */

/* A growable output buffer: [sent, len) is still to be written. */
struct http_out {
	char *buf;
	size_t len;
	size_t cap;
	size_t sent;
};

void http_out_append(struct http_out *o, const void *data, size_t n);
void http_out_printf(struct http_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline size_t http_out_pending(const struct http_out *o)
{
	return o->len - o->sent;
}
/* Write pending bytes to a non-blocking fd (send with MSG_NOSIGNAL, or write
 * when fd is not a socket). Returns 1 when everything is written, 0 when the
 * fd would block with bytes left (wait for EPOLLOUT), negative on error. */
int http_out_flush(struct http_out *o, int fd, struct berr **err);
void http_out_free(struct http_out *o);

struct http_response {
	int status;
	const char *content_type;  /* NULL: none */
	const char *request_id;    /* x-amzn-RequestId, NULL: none */
	bool keep_alive;           /* Connection: keep-alive / close */
	const void *body;
	size_t body_len;
	time_t date;               /* Date header; 0: now */
};

/* Append "HTTP/1.1 <status> <reason>", Date, Content-Type, Content-Length,
 * x-amzn-RequestId, Connection and the body. CR, LF and other control bytes
 * in content_type and request_id are dropped, so no header can be injected. */
void http_write_response(struct http_out *o, const struct http_response *r);
/* The reason phrase of a status ("Bad Request"); "Unknown" when not known. */
const char *http_reason(int status);
/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into buf[30]. */
void http_date(time_t t, char buf[30]);

#endif
