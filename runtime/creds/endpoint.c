/* runtime/creds/endpoint.c - the task's credentials and metadata endpoint
 * (endpoint.h). */
#include "runtime/creds/endpoint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

struct conn {
	int fd;
	double opened;
	char in[CREDS_EP_REQUEST_MAX];
	size_t in_len;
	char *out;          /* the response, once there is one */
	size_t out_len, out_sent;
};

struct creds_ep {
	int listen_fd, epfd;
	char *creds_id;
	char *auth_token;
	char **ids, **names;
	size_t n_containers;
	double rate, burst, tokens, refilled;
	bool refilled_once;
	bool paused;        /* full: the listener is out of the epoll set's interest */
	struct creds_ep_ops ops;
	void *ctx;
	struct conn *conns[CREDS_EP_MAX_CONNS];
	size_t n_conns;
};

void creds_ep_new_id(char out[CREDS_EP_ID_LEN + 1])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno != EINTR)
			abort();   /* getrandom on a kernel that has it cannot fail otherwise */
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* variant 1 */
	snprintf(out, CREDS_EP_ID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int creds_ep_new(int listen_fd, const struct creds_ep_config *cfg, const struct creds_ep_ops *ops,
		 void *ctx, struct creds_ep **out, struct berr **err)
{
	struct creds_ep *ep;

	if (!ops || !ops->credentials || !ops->metadata)
		return berr_set(err, EINVAL, "endpoint: the credentials and metadata callbacks are required");
	ep = xzalloc(sizeof(*ep));
	ep->listen_fd = listen_fd;
	ep->epfd = -1;
	ep->creds_id = cfg->creds_id ? xstrdup(cfg->creds_id) : NULL;
	ep->auth_token = cfg->auth_token ? xstrdup(cfg->auth_token) : NULL;
	ep->n_containers = cfg->n_containers;
	ep->ids = xcalloc(cfg->n_containers + 1, sizeof(*ep->ids));
	ep->names = xcalloc(cfg->n_containers + 1, sizeof(*ep->names));
	for (size_t i = 0; i < cfg->n_containers; i++) {
		ep->ids[i] = xstrdup(cfg->container_ids[i]);
		ep->names[i] = xstrdup(cfg->container_names[i]);
	}
	ep->rate = cfg->rate > 0 ? cfg->rate : CREDS_EP_RATE;
	ep->burst = cfg->burst > 0 ? cfg->burst : CREDS_EP_BURST;
	ep->tokens = ep->burst;
	ep->ops = *ops;
	ep->ctx = ctx;
	*out = ep;
	return 0;
}

static void conn_close(struct creds_ep *ep, size_t i)
{
	struct conn *c = ep->conns[i];

	if (ep->epfd >= 0)
		epoll_ctl(ep->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	free(c);
	ep->conns[i] = ep->conns[--ep->n_conns];
	if (ep->paused && ep->epfd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = ep->listen_fd };

		if (epoll_ctl(ep->epfd, EPOLL_CTL_MOD, ep->listen_fd, &ev) == 0)
			ep->paused = false;
	}
}

void creds_ep_free(struct creds_ep *ep)
{
	if (!ep)
		return;
	while (ep->n_conns)
		conn_close(ep, ep->n_conns - 1);
	if (ep->epfd >= 0 && ep->listen_fd >= 0)
		epoll_ctl(ep->epfd, EPOLL_CTL_DEL, ep->listen_fd, NULL);
	free(ep->creds_id);
	if (ep->auth_token) {
		explicit_bzero(ep->auth_token, strlen(ep->auth_token));
		free(ep->auth_token);
	}
	for (size_t i = 0; i < ep->n_containers; i++) {
		free(ep->ids[i]);
		free(ep->names[i]);
	}
	free(ep->ids);
	free(ep->names);
	free(ep);
}

size_t creds_ep_n_conns(const struct creds_ep *ep)
{
	return ep->n_conns;
}

int creds_ep_attach(struct creds_ep *ep, int epfd, struct berr **err)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ep->listen_fd };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, ep->listen_fd, &ev) < 0)
		return berr_set(err, errno, "endpoint: epoll_ctl ADD the listening socket");
	ep->epfd = epfd;
	return 0;
}

/* ------------------------------------------------------------- parsing */

static bool tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int creds_ep_parse(const char *buf, size_t len, struct creds_ep_req *req, int *status)
{
	const char *end = NULL, *p = buf, *eol, *sp1, *sp2;
	size_t i;

	memset(req, 0, sizeof(*req));
	*status = 0;
	/* the end of the head: an empty line (CRLF CRLF, or bare LFs, as
	 * RFC 9112 lets a server accept) */
	for (i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n') {
			end = buf + i + 2;
			break;
		}
		if (buf[i] == '\n' && buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n') {
			end = buf + i + 3;
			break;
		}
	}
	eol = memchr(buf, '\n', len);
	if (!eol && len >= CREDS_EP_REQUEST_MAX) {
		*status = 414;
		return -1;
	}
	if (!end) {
		if (len >= CREDS_EP_REQUEST_MAX) {
			*status = 431;
			return -1;
		}
		/* a bad request line need not wait for the rest */
		if (eol) {
			for (const char *q = buf; q < eol; q++)
				if (*q == '\0') {
					*status = 400;
					return -1;
				}
		}
		return 0;
	}
	/* request line: METHOD SP target SP HTTP/1.x */
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1) {
		*status = 400;
		return -1;
	}
	for (const char *q = p; q < sp1; q++)
		if (!tchar((unsigned char)*q)) {
			*status = 400;
			return -1;
		}
	{
		size_t vl = (size_t)(eol - sp2 - 1);

		if (vl && sp2[vl] == '\r')
			vl--;
		if (vl != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) || (sp2[8] != '0' && sp2[8] != '1')) {
			*status = 400;
			return -1;
		}
	}
	for (const char *q = sp1 + 1; q < sp2; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f) {
			*status = 400;
			return -1;
		}
	/* header lines: name ":" value, no obs-fold, no control bytes */
	for (const char *h = eol + 1; h < end;) {
		const char *he = memchr(h, '\n', (size_t)(end - h));
		const char *colon;
		size_t hl = (size_t)(he - h);

		if (hl == 0 || (hl == 1 && h[0] == '\r'))
			break;
		if (h[hl - 1] == '\r')
			hl--;
		colon = memchr(h, ':', hl);
		if (!colon || colon == h || *h == ' ' || *h == '\t') {
			*status = 400;
			return -1;
		}
		for (const char *q = h; q < colon; q++)
			if (!tchar((unsigned char)*q)) {
				*status = 400;
				return -1;
			}
		for (const char *q = colon + 1; q < h + hl; q++)
			if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f) {
				*status = 400;
				return -1;
			}
		if (colon - h == 13 && !strncasecmp(h, "authorization", 13)) {
			const char *v = colon + 1, *ve = h + hl;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			req->auth = v;
			req->auth_len = (size_t)(ve - v);
			req->n_auth++;
		}
		h = he + 1;
	}
	req->method = p;
	req->method_len = (size_t)(sp1 - p);
	req->path = sp1 + 1;
	req->path_len = (size_t)(sp2 - sp1 - 1);
	{
		const char *qm = memchr(req->path, '?', req->path_len);

		if (qm)
			req->path_len = (size_t)(qm - req->path);
	}
	req->head_len = (size_t)(end - buf);
	if (!((req->method_len == 3 && !memcmp(p, "GET", 3)) || (req->method_len == 4 && !memcmp(p, "HEAD", 4)))) {
		*status = 405;
		return -1;
	}
	return 1;
}

/* ------------------------------------------------------------ answering */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 401: return "Unauthorized";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

static char *message(int status, const json_t *body, bool head, size_t *len)
{
	cleanup_free char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n = text ? strlen(text) : 0;
	char *out = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			      "Connection: close\r\nCache-Control: no-store\r\n\r\n%s", status, reason(status),
			      n, head || !text ? "" : text);

	*len = strlen(out);
	return out;
}

static char *creds_error(int status, const char *code, const char *msg, bool head, size_t *len)
{
	cleanup_json json_t *b = json_pack("{s:s, s:s, s:i}", "code", code, "message", msg, "HTTPErrorCode",
					   status);

	return message(status, b, head, len);
}

static char *meta_error(int status, const char *msg, bool head, size_t *len)
{
	cleanup_json json_t *b = json_string(msg);

	return message(status, b, head, len);
}

/* s (n bytes) equals the NUL-terminated tok, in time that depends on
 * their lengths only */
static bool creds_ct_equal(const char *s, size_t n, const char *tok)
{
	size_t tl = strlen(tok);
	unsigned char d = (unsigned char)(n != tl);

	for (size_t i = 0; i < tl; i++)
		d |= (unsigned char)((i < n ? (unsigned char)s[i] : 0) ^ (unsigned char)tok[i]);
	return d == 0;
}

static bool seg_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(s, lit, n);
}

static bool take_token(struct creds_ep *ep, double now)
{
	if (!ep->refilled_once) {
		ep->refilled = now;
		ep->refilled_once = true;
	}
	if (now > ep->refilled) {
		ep->tokens += (now - ep->refilled) * ep->rate;
		if (ep->tokens > ep->burst)
			ep->tokens = ep->burst;
		ep->refilled = now;
	}
	if (ep->tokens < 1.0)
		return false;
	ep->tokens -= 1.0;
	return true;
}

char *creds_ep_respond(struct creds_ep *ep, const struct creds_ep_req *req, double now, size_t *len,
		       int *status)
{
	const char *p = req->path, *e = req->path + req->path_len;
	bool head = req->method_len == 4;
	char *msg = NULL;
	json_t *body;
	char *out;

	if (!take_token(ep, now)) {
		*status = 429;
		return creds_error(429, "TooManyRequests", "Rate exceeded: too many requests to the task "
				   "metadata endpoint", head, len);
	}
	if (req->path_len >= 16 && !memcmp(p, "/v2/credentials", 15) && (p[15] == '/' || req->path_len == 15)) {
		const char *id = p + 16;
		size_t idl = req->path_len > 16 ? (size_t)(e - id) : 0;

		if (req->path_len == 15 || idl == 0) {
			*status = 400;
			return creds_error(400, "NoIdInRequest", "CredentialsV2Request: No ID in the request", head,
					   len);
		}
		if (ep->auth_token && (req->n_auth != 1 || !creds_ct_equal(req->auth, req->auth_len, ep->auth_token))) {
			*status = 401;
			return creds_error(401, "AccessDenied", req->n_auth ? "CredentialsV2Request: the "
					   "Authorization header is not the task's token"
					   : "CredentialsV2Request: no Authorization header (send "
					   "AWS_CONTAINER_AUTHORIZATION_TOKEN)", head, len);
		}
		if (!ep->creds_id || !seg_is(id, idl, ep->creds_id)) {
			*status = 400;
			return creds_error(400, "InvalidIdInRequest", "CredentialsV2Request: Credentials not found",
					   head, len);
		}
		body = ep->ops.credentials(ep->ctx, &msg);
		if (!body) {
			*status = 503;
			out = creds_error(503, "CredentialsUninitialized", msg ? msg : "credentials are not ready",
					  head, len);
			free(msg);
			return out;
		}
		*status = 200;
		out = message(200, body, head, len);
		json_decref(body);
		return out;
	}
	if (req->path_len == 15 && !memcmp(p, "/v2/credentials", 15)) {
		*status = 400;
		return creds_error(400, "NoIdInRequest", "CredentialsV2Request: No ID in the request", head, len);
	}
	if (req->path_len > 4 && !memcmp(p, "/v4/", 4)) {
		const char *id = p + 4, *slash = memchr(id, '/', (size_t)(e - id));
		size_t idl = (size_t)((slash ? slash : e) - id);
		const char *rest = slash ? slash : e;
		size_t rl = (size_t)(e - rest);
		enum creds_ep_route route;
		size_t k;

		for (k = 0; k < ep->n_containers; k++)
			if (seg_is(id, idl, ep->ids[k]))
				break;
		if (k == ep->n_containers) {
			*status = 404;
			return meta_error(404, "V4 metadata handler: unable to find a container with the id in "
					  "the request", head, len);
		}
		if (rl == 0 || seg_is(rest, rl, "/"))
			route = CREDS_EP_CONTAINER;
		else if (seg_is(rest, rl, "/stats") || seg_is(rest, rl, "/stats/"))
			route = CREDS_EP_CONTAINER_STATS;
		else if (seg_is(rest, rl, "/task") || seg_is(rest, rl, "/task/"))
			route = CREDS_EP_TASK;
		else if (seg_is(rest, rl, "/task/stats") || seg_is(rest, rl, "/task/stats/"))
			route = CREDS_EP_TASK_STATS;
		else {
			*status = 404;
			return meta_error(404, "V4 metadata handler: no such path (use /, /stats, /task or "
					  "/task/stats)", head, len);
		}
		body = ep->ops.metadata(ep->ctx, route, route == CREDS_EP_CONTAINER ||
					route == CREDS_EP_CONTAINER_STATS ? ep->names[k] : NULL, &msg);
		if (!body) {
			*status = 500;
			out = meta_error(500, msg ? msg : "metadata is not available", head, len);
			free(msg);
			return out;
		}
		*status = 200;
		out = message(200, body, head, len);
		json_decref(body);
		return out;
	}
	*status = 404;
	return meta_error(404, "no such endpoint: the task's endpoint serves /v2/credentials/<id> and "
			  "/v4/<id>[/stats|/task|/task/stats]", head, len);
}

/* ---------------------------------------------------------- connections */

static void audit(struct creds_ep *ep, const struct creds_ep_req *req, int status)
{
	char line[256];

	if (!ep->ops.audit)
		return;
	if (req && req->method) {
		/* never the credentials id in the log: it is a capability for
		 * whoever can reach the endpoint (only the task can) */
		bool creds = req->path_len >= 15 && !memcmp(req->path, "/v2/credentials", 15);

		snprintf(line, sizeof(line), "%.*s %.*s %d", (int)req->method_len, req->method,
			 creds ? 15 : (int)(req->path_len > 120 ? 120 : req->path_len), req->path, status);
	} else {
		snprintf(line, sizeof(line), "(malformed request) %d", status);
	}
	ep->ops.audit(ep->ctx, line);
}

static void conn_flush(struct creds_ep *ep, size_t i)
{
	struct conn *c = ep->conns[i];

	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = { .events = EPOLLOUT, .data.fd = c->fd };

			if (ep->epfd >= 0)
				epoll_ctl(ep->epfd, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		if (n <= 0)
			break;
		c->out_sent += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	conn_close(ep, i);
}

static void conn_read(struct creds_ep *ep, size_t i, double now)
{
	struct conn *c = ep->conns[i];
	struct creds_ep_req req;
	int status, r;

	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			conn_close(ep, i);
			return;
		}
		c->in_len += (size_t)n;
		if (c->in_len == sizeof(c->in))
			break;
	}
	r = creds_ep_parse(c->in, c->in_len, &req, &status);
	if (r == 0)
		return;
	if (r < 0) {
		c->out = meta_error(status, reason(status), false, &c->out_len);
		audit(ep, status == 405 ? &req : NULL, status);
	} else {
		c->out = creds_ep_respond(ep, &req, now, &c->out_len, &status);
		audit(ep, &req, status);
	}
	conn_flush(ep, i);
}

static void accept_all(struct creds_ep *ep, double now)
{
	while (ep->n_conns < CREDS_EP_MAX_CONNS) {
		int fd = accept4(ep->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("endpoint: accept: %m");
			return;
		}
		c = xzalloc(sizeof(*c));
		c->fd = fd;
		c->opened = now;
		ep->conns[ep->n_conns++] = c;
		if (ep->epfd >= 0) {
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

			if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
				log_warn("endpoint: epoll_ctl ADD a connection: %m");
				conn_close(ep, ep->n_conns - 1);
				continue;
			}
		}
		/* the request is often there already */
		conn_read(ep, ep->n_conns - 1, now);
	}
	/* full: stop listening for connections until one ends (the backlog
	 * holds the rest), or a level-triggered listener would spin the loop */
	if (!ep->paused && ep->epfd >= 0) {
		struct epoll_event ev = { .events = 0, .data.fd = ep->listen_fd };

		if (epoll_ctl(ep->epfd, EPOLL_CTL_MOD, ep->listen_fd, &ev) == 0)
			ep->paused = true;
	}
}

bool creds_ep_handle(struct creds_ep *ep, int fd, uint32_t events, double now)
{
	if (fd == ep->listen_fd) {
		accept_all(ep, now);
		return true;
	}
	for (size_t i = 0; i < ep->n_conns; i++) {
		if (ep->conns[i]->fd != fd)
			continue;
		if (ep->conns[i]->out)
			conn_flush(ep, i);
		else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			conn_read(ep, i, now);
		if (ep->n_conns < CREDS_EP_MAX_CONNS)
			accept_all(ep, now);
		return true;
	}
	return false;
}

double creds_ep_tick(struct creds_ep *ep, double now)
{
	double next = -1;

	for (size_t i = ep->n_conns; i-- > 0;) {
		double left = ep->conns[i]->opened + CREDS_EP_IDLE_SECONDS - now;

		if (left <= 0) {
			conn_close(ep, i);
			continue;
		}
		if (next < 0 || left < next)
			next = left;
	}
	if (ep->n_conns < CREDS_EP_MAX_CONNS)
		accept_all(ep, now);
	return next;
}
