/* lb/engine.c - berth-lb's first engine: one epoll worker (lb/engine.h).
 *
 * Every socket is an object that starts with struct ev (kind, fd, the epoll
 * interest it has, a deadline). Level-triggered epoll; after handling an
 * event the engine recomputes the interest of the objects involved
 * (update()), which is also where back-pressure lives: a side is read only
 * while the buffer it would fill holds less than HIGH bytes. An object that
 * is closed is taken out of epoll at once and freed at the end of the loop
 * iteration, so later events of the same batch never touch freed memory.
 * Deadlines are checked by a sweep over all objects every SWEEP_MS. */
#include "lb/engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "lb/flowhash.h"
#include "lb/http.h"
#include "lb/rules.h"
#include "lb/target.h"

#define HIGH (256 * 1024)     /* a buffer this full stops the side that fills it */
#define READ_CHUNK 16384
#define CLIENT_IN_MAX (96 * 1024) /* > the 64 KiB head limit */
#define SWEEP_MS 50
#define CLIENT_IDLE_MS 60000
#define LINGER_MS 2000
#define POOL_IDLE_MS 15000
#define POOL_MAX_PER_TARGET 8
#define MAX_PROBES_PER_CALL 32

enum kind { K_LISTENER, K_CLIENT, K_UPSTREAM, K_TCP, K_PROBE };

struct ev {
	enum kind kind;
	int fd;
	uint32_t events;  /* current epoll interest */
	bool dead;
	uint64_t deadline; /* 0: none */
	struct ev *next, *prev; /* all live objects (for the sweep) */
	struct ev *dead_next;
};

struct buf {
	char *d;
	size_t r, len, cap; /* data is d[r..len) */
};

struct tgrp {
	char *name;
	struct lb_target_group tg;
	bool hc;
	uint64_t *fkeys; /* flowhash keys of tg.t[] */
	struct upstream *pool; /* idle connections to targets */
};

struct listener {
	struct ev ev;
	uint16_t port;
	bool http;
	struct lb_ruleset *rules; /* HTTP */
	struct tgrp *tcp_group;   /* TCP */
};

enum cstate { C_HEAD, C_BODY, C_WAIT, C_CLOSING, C_LINGER };

struct upstream;

struct client {
	struct ev ev;
	struct listener *l;
	int family;
	uint8_t addr[16];
	char ip[INET6_ADDRSTRLEN];
	struct buf in, out;
	enum cstate state;
	struct lb_http_parser p;
	struct lb_http_head h;
	enum lb_http_body body;
	uint64_t body_left;
	struct lb_http_chunked ch;
	bool body_done, keep_alive, http10;
	struct upstream *up;
};

struct upstream {
	struct ev ev;
	struct tgrp *g;
	size_t tidx;
	bool counted; /* holds one of the target's outstanding requests */
	bool connecting;
	struct buf in, out;
	struct client *c;       /* NULL: idle in the pool */
	struct upstream *pool_next;
	struct lb_http_parser p;
	struct lb_http_head h;
	bool head_done, sent_to_client;
	bool eof; /* the target closed its side */
	enum lb_http_body body;
	uint64_t body_left;
	struct lb_http_chunked ch;
};

struct tcpconn {
	struct ev ev;
	struct tcpconn *peer;
	struct buf out;  /* bytes to write to this fd */
	bool connecting, eof_in, shut_out;
};

struct probe {
	struct ev ev;
	struct tgrp *g;
	size_t tidx;
	uint32_t seq;
	bool connecting;
	struct buf in, out;
	struct lb_http_parser p;
	struct lb_http_head h;
};

struct lb_engine {
	int epfd;
	volatile sig_atomic_t stop;
	uint64_t response_timeout_ms;
	struct tgrp *groups;
	size_t n_groups;
	struct listener **listeners;
	size_t n_listeners;
	struct ev live; /* list head */
	struct ev *dead;
	uint64_t rnd;
	uint64_t flow_seed;
};

/* ------------------------------------------------------------ helpers */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t rnd64(struct lb_engine *e)
{
	/* xorshift64*: weights among target groups, not a secret */
	e->rnd ^= e->rnd >> 12;
	e->rnd ^= e->rnd << 25;
	e->rnd ^= e->rnd >> 27;
	return e->rnd * 0x2545F4914F6CDD1Dull;
}

static size_t buf_avail(const struct buf *b)
{
	return b->len - b->r;
}

static char *buf_data(const struct buf *b)
{
	return b->d + b->r;
}

static void buf_reserve(struct buf *b, size_t n)
{
	if (b->r > 0 && b->len + n > b->cap) {
		memmove(b->d, b->d + b->r, b->len - b->r);
		b->len -= b->r;
		b->r = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		b->d = xrealloc(b->d, cap);
		b->cap = cap;
	}
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *s = NULL;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_add(b, s, strlen(s));
}

static void buf_consume(struct buf *b, size_t n)
{
	b->r += n;
	if (b->r == b->len)
		b->r = b->len = 0;
}

static void buf_free(struct buf *b)
{
	free(b->d);
	memset(b, 0, sizeof(*b));
}

/* read what there is into b (at most max bytes held): >0 bytes, 0 EOF,
 * -EAGAIN nothing now, other negative errno */
static ssize_t buf_read(int fd, struct buf *b, size_t max)
{
	size_t room = max > buf_avail(b) ? max - buf_avail(b) : 0;
	ssize_t n;

	if (room == 0)
		return -EAGAIN;
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	buf_reserve(b, room);
	n = read(fd, b->d + b->len, room);
	if (n < 0)
		return -errno;
	b->len += (size_t)n;
	return n;
}

/* write what b holds: 0 all written or would block, negative errno */
static int buf_flush(int fd, struct buf *b)
{
	while (buf_avail(b) > 0) {
		ssize_t n = send(fd, buf_data(b), buf_avail(b), MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		buf_consume(b, (size_t)n);
	}
	return 0;
}

static void ev_link(struct lb_engine *e, struct ev *v, enum kind k, int fd)
{
	v->kind = k;
	v->fd = fd;
	v->next = e->live.next;
	v->prev = &e->live;
	e->live.next->prev = v;
	e->live.next = v;
}

static void ev_set(struct lb_engine *e, struct ev *v, uint32_t want)
{
	struct epoll_event ee = { .events = want, .data.ptr = v };

	if (v->dead || v->events == want)
		return;
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, v->fd, &ee) < 0 && errno == ENOENT)
		epoll_ctl(e->epfd, EPOLL_CTL_ADD, v->fd, &ee);
	v->events = want;
}

static void ev_add(struct lb_engine *e, struct ev *v, uint32_t want)
{
	struct epoll_event ee = { .events = want, .data.ptr = v };

	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, v->fd, &ee) == 0)
		v->events = want;
}

static void ev_kill(struct lb_engine *e, struct ev *v)
{
	if (v->dead)
		return;
	v->dead = true;
	if (v->fd >= 0) {
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, v->fd, NULL);
		close(v->fd);
		v->fd = -1;
	}
	v->prev->next = v->next;
	v->next->prev = v->prev;
	v->dead_next = e->dead;
	e->dead = v;
}

static int nb_socket(int family)
{
	return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static socklen_t make_sockaddr(struct sockaddr_storage *ss, int family, const uint8_t addr[16],
			       uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr, 4);
		return sizeof(*s4);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, addr, 16);
	return sizeof(*s6);
}

/* non-blocking connect to target t: fd (connecting), or negative errno */
static int connect_target(const struct lb_target *t)
{
	struct sockaddr_storage ss;
	socklen_t sl = make_sockaddr(&ss, t->family, t->addr, t->port);
	int fd = nb_socket(t->family), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int sock_error(int fd)
{
	int so = 0;
	socklen_t l = sizeof(so);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &l) < 0)
		return -errno;
	return -so;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

/* hop-by-hop fields the engine never forwards (RFC 9110 7.6.1) */
static bool hop_by_hop(const char *buf, struct lb_http_span n)
{
	static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
					     "te", "upgrade", "proxy-authenticate" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (lb_http_span_caseeq(buf, n, names[i]))
			return true;
	return false;
}

/* ------------------------------------------------------------ HTTP side */

static void client_update(struct lb_engine *e, struct client *c);
static void upstream_update(struct lb_engine *e, struct upstream *u);
static void client_process(struct lb_engine *e, struct client *c);
static void upstream_process(struct lb_engine *e, struct upstream *u, bool eof);

static void client_close(struct lb_engine *e, struct client *c);

static void upstream_close(struct lb_engine *e, struct upstream *u)
{
	if (u->counted) {
		lb_tg_release(&u->g->tg, u->tidx);
		u->counted = false;
	}
	if (u->c) {
		u->c->up = NULL;
		u->c = NULL;
	}
	ev_kill(e, &u->ev);
}

static void client_close(struct lb_engine *e, struct client *c)
{
	if (c->up)
		upstream_close(e, c->up);
	ev_kill(e, &c->ev);
}

/* Start closing: write what is queued, half-close, read until EOF (so the
 * kernel does not reset the connection and drop our answer), close. */
static void client_finish(struct lb_engine *e, struct client *c)
{
	c->state = C_CLOSING;
	c->keep_alive = false;
	client_update(e, c);
}

/* A response of our own. keep: the client may send another request. */
static void client_reply(struct lb_engine *e, struct client *c, int status, const char *ctype,
			 const char *body, const char *location, bool keep)
{
	size_t blen = body ? strlen(body) : 0;

	buf_addf(&c->out, "HTTP/1.1 %d %s\r\nServer: berth-lb\r\nContent-Length: %zu\r\n", status,
		 reason(status), blen);
	if (ctype)
		buf_addf(&c->out, "Content-Type: %s\r\n", ctype);
	if (location)
		buf_addf(&c->out, "Location: %s\r\n", location);
	if (!keep)
		buf_addf(&c->out, "Connection: close\r\n");
	else if (c->http10)
		buf_addf(&c->out, "Connection: keep-alive\r\n");
	buf_add(&c->out, "\r\n", 2);
	if (blen && c->h.method != LB_HTTP_HEAD)
		buf_add(&c->out, body, blen);
}

static void client_error(struct lb_engine *e, struct client *c, int status)
{
	char body[64];

	if (c->up) {
		if (c->up->sent_to_client) { /* too late for a status: cut */
			client_close(e, c);
			return;
		}
		upstream_close(e, c->up);
	}
	snprintf(body, sizeof(body), "%d %s\n", status, reason(status));
	client_reply(e, c, status, "text/plain", body, NULL, false);
	client_finish(e, c);
}

/* next request on a kept-alive connection */
static void client_next(struct lb_engine *e, struct client *c)
{
	c->state = C_HEAD;
	c->up = NULL;
	lb_http_request_parser_init(&c->p, NULL);
	c->ev.deadline = now_ms() + CLIENT_IDLE_MS;
	client_process(e, c);
}

static struct tgrp *group_by_name(struct lb_engine *e, const char *name)
{
	for (size_t i = 0; i < e->n_groups; i++)
		if (strcmp(e->groups[i].name, name) == 0)
			return &e->groups[i];
	return NULL;
}

/* an idle pooled connection to target idx of g that is still open */
static struct upstream *pool_take(struct lb_engine *e, struct tgrp *g, size_t idx)
{
	struct upstream **pp = &g->pool;

	while (*pp) {
		struct upstream *u = *pp;
		char b;
		ssize_t n;

		if (u->tidx != idx) {
			pp = &u->pool_next;
			continue;
		}
		*pp = u->pool_next;
		u->pool_next = NULL;
		/* closed by the target while idle? (data or EOF: not reusable) */
		n = recv(u->ev.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			return u;
		ev_kill(e, &u->ev);
	}
	return NULL;
}

static void pool_remove(struct tgrp *g, struct upstream *u)
{
	for (struct upstream **pp = &g->pool; *pp; pp = &(*pp)->pool_next)
		if (*pp == u) {
			*pp = u->pool_next;
			return;
		}
}

static void pool_put(struct lb_engine *e, struct upstream *u)
{
	size_t n = 0;

	for (struct upstream *p = u->g->pool; p; p = p->pool_next)
		if (p->tidx == u->tidx)
			n++;
	if (n >= POOL_MAX_PER_TARGET) {
		ev_kill(e, &u->ev);
		return;
	}
	u->c = NULL;
	u->pool_next = u->g->pool;
	u->g->pool = u;
	u->ev.deadline = now_ms() + POOL_IDLE_MS;
	buf_free(&u->in);
	buf_free(&u->out);
	upstream_update(e, u);
}

/* The request head for the target: the request line with HTTP/1.1, the
 * client's fields without hop-by-hop ones and X-Forwarded-*, then ours. */
static void write_request_head(struct client *c, struct buf *o)
{
	const char *b = buf_data(&c->in);
	const struct lb_http_head *h = &c->h;
	struct buf xff = { 0 };

	buf_add(o, b + h->method_s.off, h->method_s.len);
	buf_add(o, " ", 1);
	buf_add(o, b + h->target.off, h->target.len);
	buf_add(o, " HTTP/1.1\r\n", 11);
	for (uint32_t i = 0; i < h->n_headers; i++) {
		struct lb_http_span n = h->headers[i].name, v = h->headers[i].value;

		if (hop_by_hop(b, n) || lb_http_span_caseeq(b, n, "x-forwarded-proto") ||
		    lb_http_span_caseeq(b, n, "x-forwarded-port"))
			continue;
		if (lb_http_span_caseeq(b, n, "x-forwarded-for")) {
			buf_add(&xff, b + v.off, v.len);
			buf_add(&xff, ", ", 2);
			continue;
		}
		buf_add(o, b + n.off, n.len);
		buf_add(o, ": ", 2);
		buf_add(o, b + v.off, v.len);
		buf_add(o, "\r\n", 2);
	}
	buf_add(o, "X-Forwarded-For: ", 17);
	if (buf_avail(&xff))
		buf_add(o, buf_data(&xff), buf_avail(&xff));
	buf_addf(o, "%s\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: %u\r\n\r\n", c->ip,
		 (unsigned)c->l->port);
	buf_free(&xff);
}

static void client_forward(struct lb_engine *e, struct client *c, const struct lb_action *a)
{
	struct tgrp *g;
	struct upstream *u;
	int idx, fd;
	size_t gi = 0;

	if (a->n_groups > 1) {
		uint32_t w[LB_RULE_MAX_FORWARD_GROUPS];
		int pick;

		for (size_t i = 0; i < a->n_groups; i++)
			w[i] = a->groups[i].weight;
		pick = lb_weighted_pick(w, a->n_groups, rnd64(e));
		if (pick < 0) {
			client_error(e, c, 503);
			return;
		}
		gi = (size_t)pick;
	}
	g = group_by_name(e, a->groups[gi].arn);
	if (!g || (idx = lb_tg_pick(&g->tg)) < 0) {
		client_error(e, c, 503);
		return;
	}
	u = pool_take(e, g, (size_t)idx);
	if (!u) {
		fd = connect_target(&g->tg.t[idx]);
		if (fd < 0) {
			lb_tg_release(&g->tg, (size_t)idx);
			log_debug("connect to target %zu of %s: %s", (size_t)idx, g->name,
				  strerror(-fd));
			client_error(e, c, 502);
			return;
		}
		u = xzalloc(sizeof(*u));
		ev_link(e, &u->ev, K_UPSTREAM, fd);
		u->g = g;
		u->tidx = (size_t)idx;
		u->connecting = true;
		ev_add(e, &u->ev, EPOLLOUT);
	}
	u->counted = true;
	u->c = c;
	c->up = u;
	u->head_done = u->sent_to_client = false;
	lb_http_response_parser_init(&u->p, NULL, c->h.method);
	u->ev.deadline = now_ms() + e->response_timeout_ms;

	write_request_head(c, &u->out);
	c->body = c->h.body;
	c->body_left = c->h.content_length;
	c->body_done = c->body == LB_HTTP_BODY_NONE;
	if (c->body == LB_HTTP_BODY_CHUNKED)
		lb_http_chunked_init(&c->ch, NULL, false);
	buf_consume(&c->in, c->h.head_len);
	c->state = c->body_done ? C_WAIT : C_BODY;
}

static void client_request(struct lb_engine *e, struct client *c)
{
	struct lb_rule_req rq = { 0 };
	const struct lb_action *a;
	cleanup_free char *loc = NULL;
	bool nobody;

	c->keep_alive = c->h.keep_alive;
	c->http10 = c->h.version == 10;
	nobody = c->h.body == LB_HTTP_BODY_NONE;
	if (c->h.method == LB_HTTP_CONNECT || c->h.upgrade) {
		/* tunnels are not built yet (docs/lb.md) */
		client_error(e, c, 501);
		return;
	}
	lb_rule_req_from_http(&rq, buf_data(&c->in), &c->h);
	rq.family = c->family;
	memcpy(rq.addr, c->addr, 16);
	rq.port = c->l->port;
	a = lb_rules_match(c->l->rules, &rq, NULL);
	switch (a->type) {
	case LB_ACTION_FORWARD:
		client_forward(e, c, a);
		return;
	case LB_ACTION_REDIRECT:
		loc = lb_rules_redirect_location(a, &rq);
		/* fall through */
	case LB_ACTION_FIXED_RESPONSE:
		client_reply(e, c, a->status, a->content_type, a->body, loc, nobody && c->keep_alive);
		if (!(nobody && c->keep_alive)) {
			client_finish(e, c);
			return;
		}
		buf_consume(&c->in, c->h.head_len);
		client_next(e, c);
		return;
	}
}

/* Move request body bytes from the client to the target. */
static void client_body(struct lb_engine *e, struct client *c)
{
	struct upstream *u = c->up;

	while (!c->body_done && buf_avail(&c->in) > 0 && buf_avail(&u->out) < HIGH) {
		size_t n = buf_avail(&c->in), used;

		if (c->body == LB_HTTP_BODY_LENGTH) {
			if (n > c->body_left)
				n = (size_t)c->body_left;
			c->body_left -= n;
			c->body_done = c->body_left == 0;
		} else {
			int r = lb_http_chunked_parse(&c->ch, buf_data(&c->in), n, &used);

			if (r == LB_HTTP_ERROR) {
				client_error(e, c, c->ch.status);
				return;
			}
			n = used;
			c->body_done = r == LB_HTTP_DONE;
		}
		buf_add(&u->out, buf_data(&c->in), n);
		buf_consume(&c->in, n);
		/* the target timeout counts from the last byte either way */
		u->ev.deadline = now_ms() + e->response_timeout_ms;
	}
	if (c->body_done)
		c->state = C_WAIT;
}

static void client_process(struct lb_engine *e, struct client *c)
{
	int r;

	if (c->ev.dead)
		return;
	if (c->state == C_HEAD && buf_avail(&c->in) > 0) {
		r = lb_http_parse(&c->p, buf_data(&c->in), buf_avail(&c->in), &c->h);
		if (r == LB_HTTP_ERROR) {
			log_debug("client %s: %d %s", c->ip, c->p.status, c->p.error);
			c->h.method = LB_HTTP_GET;
			client_error(e, c, c->p.status);
		} else if (r == LB_HTTP_DONE) {
			c->ev.deadline = 0;
			client_request(e, c);
		}
	}
	if (!c->ev.dead && c->state == C_BODY && c->up)
		client_body(e, c);
	if (c->up && !c->up->ev.dead) {
		if (!c->up->connecting && buf_flush(c->up->ev.fd, &c->up->out) < 0) {
			client_error(e, c, 502);
		} else {
			upstream_update(e, c->up);
		}
	}
	if (!c->ev.dead)
		client_update(e, c);
}

static void client_update(struct lb_engine *e, struct client *c)
{
	uint32_t want = 0;

	if (c->ev.dead)
		return;
	if (buf_flush(c->ev.fd, &c->out) < 0) {
		client_close(e, c);
		return;
	}
	if (c->state == C_CLOSING && buf_avail(&c->out) == 0) {
		shutdown(c->ev.fd, SHUT_WR);
		c->state = C_LINGER;
		c->ev.deadline = now_ms() + LINGER_MS;
	}
	switch (c->state) {
	case C_HEAD:
		want = EPOLLIN;
		break;
	case C_BODY:
		if (c->up && buf_avail(&c->up->out) < HIGH)
			want = EPOLLIN;
		break;
	case C_LINGER:
		want = EPOLLIN;
		break;
	default:
		break;
	}
	if (buf_avail(&c->out))
		want |= EPOLLOUT;
	ev_set(e, &c->ev, want);
}

static void client_event(struct lb_engine *e, struct client *c, uint32_t events)
{
	if (events & EPOLLIN) {
		ssize_t n;

		if (c->state == C_LINGER) {
			char sink[4096];

			n = read(c->ev.fd, sink, sizeof(sink));
			if (n == 0 || (n < 0 && errno != EAGAIN))
				client_close(e, c);
			return;
		}
		n = buf_read(c->ev.fd, &c->in, CLIENT_IN_MAX);
		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			/* EOF: between requests normal; inside one, abort */
			client_close(e, c);
			return;
		}
	} else if (events & (EPOLLHUP | EPOLLERR)) {
		client_close(e, c);
		return;
	}
	client_process(e, c);
}

/* The target's response head, rewritten for the client. */
static void write_response_head(struct client *c, struct upstream *u)
{
	const char *b = buf_data(&u->in);
	const struct lb_http_head *h = &u->h;
	struct buf *o = &c->out;

	buf_addf(o, "HTTP/1.1 %d ", h->status);
	buf_add(o, b + h->reason.off, h->reason.len);
	buf_add(o, "\r\n", 2);
	for (uint32_t i = 0; i < h->n_headers; i++) {
		struct lb_http_span n = h->headers[i].name, v = h->headers[i].value;

		if (hop_by_hop(b, n))
			continue;
		buf_add(o, b + n.off, n.len);
		buf_add(o, ": ", 2);
		buf_add(o, b + v.off, v.len);
		buf_add(o, "\r\n", 2);
	}
	if (!c->keep_alive)
		buf_add(o, "Connection: close\r\n", 19);
	else if (c->http10)
		buf_add(o, "Connection: keep-alive\r\n", 24);
	buf_add(o, "\r\n", 2);
}

/* the response ended: pool or close the upstream, next request or close */
static void exchange_done(struct lb_engine *e, struct upstream *u)
{
	struct client *c = u->c;
	bool reuse = u->h.keep_alive && u->body != LB_HTTP_BODY_CLOSE && c->body_done &&
		     buf_avail(&u->in) == 0 && !u->eof;

	lb_tg_release(&u->g->tg, u->tidx);
	u->counted = false;
	c->up = NULL;
	u->c = NULL;
	if (reuse)
		pool_put(e, u);
	else
		ev_kill(e, &u->ev);
	if (c->keep_alive && c->body_done) {
		client_update(e, c); /* flush */
		if (!c->ev.dead)
			client_next(e, c);
	} else {
		client_finish(e, c);
	}
}

static void upstream_process(struct lb_engine *e, struct upstream *u, bool eof)
{
	struct client *c = u->c;
	int r;

	if (!c)
		return;
	while (!u->head_done) {
		if (buf_avail(&u->in) == 0) {
			if (eof)
				client_error(e, c, 502);
			return;
		}
		r = lb_http_parse(&u->p, buf_data(&u->in), buf_avail(&u->in), &u->h);
		if (r == LB_HTTP_MORE) {
			if (eof)
				client_error(e, c, 502);
			return;
		}
		if (r == LB_HTTP_ERROR) {
			log_debug("target of %s: %s", u->g->name, u->p.error);
			client_error(e, c, 502);
			return;
		}
		if (u->h.informational) {
			/* 100 Continue and friends: pass on to HTTP/1.1 clients */
			if (!c->http10)
				buf_add(&c->out, buf_data(&u->in), u->h.head_len);
			buf_consume(&u->in, u->h.head_len);
			lb_http_response_parser_init(&u->p, NULL, c->h.method);
			continue;
		}
		if (u->h.body == LB_HTTP_BODY_TUNNEL) {
			client_error(e, c, 502); /* we never asked for an upgrade */
			return;
		}
		u->head_done = true;
		u->sent_to_client = true;
		u->body = u->h.body;
		u->body_left = u->h.content_length;
		if (u->body == LB_HTTP_BODY_CLOSE)
			c->keep_alive = false; /* the end of the body is our close */
		if (u->body == LB_HTTP_BODY_CHUNKED)
			lb_http_chunked_init(&u->ch, NULL, true);
		write_response_head(c, u);
		buf_consume(&u->in, u->h.head_len);
	}
	u->ev.deadline = now_ms() + e->response_timeout_ms;
	for (;;) {
		size_t n = buf_avail(&u->in), used;
		bool done = false;

		if (u->body == LB_HTTP_BODY_NONE) {
			done = true;
			n = 0;
		} else if (u->body == LB_HTTP_BODY_LENGTH) {
			if (n > u->body_left)
				n = (size_t)u->body_left;
			u->body_left -= n;
			done = u->body_left == 0;
		} else if (u->body == LB_HTTP_BODY_CHUNKED) {
			if (n == 0)
				break;
			r = lb_http_chunked_parse(&u->ch, buf_data(&u->in), n, &used);
			if (r == LB_HTTP_ERROR) {
				client_close(e, c);
				return;
			}
			n = used;
			done = r == LB_HTTP_DONE;
		} else { /* until close */
			done = eof && n == 0;
		}
		if (n) {
			buf_add(&c->out, buf_data(&u->in), n);
			buf_consume(&u->in, n);
		}
		if (done) {
			exchange_done(e, u);
			return;
		}
		if (n == 0)
			break;
	}
	if (eof) /* the target closed inside a body */
		client_close(e, c);
}

static void upstream_update(struct lb_engine *e, struct upstream *u)
{
	uint32_t want = 0;

	if (u->ev.dead)
		return;
	if (u->connecting || buf_avail(&u->out))
		want |= EPOLLOUT;
	if (!u->connecting && (!u->c || buf_avail(&u->c->out) < HIGH))
		want |= EPOLLIN;
	ev_set(e, &u->ev, want);
}

static void upstream_event(struct lb_engine *e, struct upstream *u, uint32_t events)
{
	struct client *c = u->c;
	bool eof = false;

	if (!c) { /* idle in the pool: the target closed it or sent junk */
		pool_remove(u->g, u);
		ev_kill(e, &u->ev);
		return;
	}
	if (u->connecting) {
		int r = sock_error(u->ev.fd);

		if (r < 0 || (events & (EPOLLERR | EPOLLHUP))) {
			log_debug("connect to target %zu of %s: %s", u->tidx, u->g->name,
				  strerror(r < 0 ? -r : ECONNREFUSED));
			client_error(e, c, 502);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		u->connecting = false;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = buf_read(u->ev.fd, &u->in, HIGH);

		if (n == 0 || (n < 0 && n != -EAGAIN))
			eof = u->eof = true;
	}
	if (buf_flush(u->ev.fd, &u->out) < 0 && !u->head_done) {
		client_error(e, c, 502);
		return;
	}
	upstream_process(e, u, eof);
	if (!c->ev.dead) {
		if (c->up == u && eof && !u->ev.dead)
			client_close(e, c);
		else
			client_process(e, c);
	}
	if (!u->ev.dead && u->c)
		upstream_update(e, u);
}

static void upstream_timeout(struct lb_engine *e, struct upstream *u)
{
	if (!u->c) {
		pool_remove(u->g, u);
		ev_kill(e, &u->ev);
		return;
	}
	log_debug("target %zu of %s: no response in time", u->tidx, u->g->name);
	client_error(e, u->c, 504);
}

/* ------------------------------------------------------------ TCP side */

static void tcp_close(struct lb_engine *e, struct tcpconn *t)
{
	if (t->peer) {
		t->peer->peer = NULL;
		ev_kill(e, &t->peer->ev);
	}
	ev_kill(e, &t->ev);
}

static void tcp_update(struct lb_engine *e, struct tcpconn *t)
{
	struct tcpconn *p = t->peer;
	uint32_t want = 0;

	if (t->ev.dead || !p)
		return;
	if (!t->connecting && !t->eof_in && buf_avail(&p->out) < HIGH)
		want |= EPOLLIN;
	if (t->connecting || buf_avail(&t->out))
		want |= EPOLLOUT;
	ev_set(e, &t->ev, want);
}

static void tcp_event(struct lb_engine *e, struct tcpconn *t, uint32_t events)
{
	struct tcpconn *p = t->peer;

	if (!p)
		return;
	if (t->connecting) {
		if (sock_error(t->ev.fd) < 0 || (events & (EPOLLERR | EPOLLHUP))) {
			tcp_close(e, t);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		t->connecting = false;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = buf_read(t->ev.fd, &p->out, HIGH);

		if (n == 0)
			t->eof_in = true;
		else if (n < 0 && n != -EAGAIN) {
			tcp_close(e, t);
			return;
		}
	}
	for (int i = 0; i < 2; i++) {
		struct tcpconn *x = i ? p : t, *y = i ? t : p;

		if (x->connecting)
			continue;
		if (buf_flush(x->ev.fd, &x->out) < 0) {
			tcp_close(e, t);
			return;
		}
		/* y sent EOF and all of it reached x: pass the half-close on */
		if (y->eof_in && !x->shut_out && buf_avail(&x->out) == 0) {
			shutdown(x->ev.fd, SHUT_WR);
			x->shut_out = true;
		}
	}
	if (t->shut_out && p->shut_out) {
		tcp_close(e, t);
		return;
	}
	tcp_update(e, t);
	tcp_update(e, p);
}

static void tcp_accept(struct lb_engine *e, struct listener *l, int fd,
		       const struct sockaddr_storage *ss)
{
	struct tgrp *g = l->tcp_group;
	struct lb_target_group *tg = &g->tg;
	struct lb_flow f = { .proto = IPPROTO_TCP };
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);
	uint64_t keys[64];
	size_t idx[64], n = 0;
	struct tcpconn *a, *b;
	int pick, tfd;

	/* routable: healthy targets; none healthy: fail open to initial and unhealthy */
	for (int pass = 0; pass < 2 && n == 0; pass++)
		for (size_t i = 0; i < tg->n && n < 64; i++) {
			enum lb_target_state s = tg->t[i].state;

			if (pass == 0 ? s == LB_TARGET_HEALTHY
				      : (s == LB_TARGET_INITIAL || s == LB_TARGET_UNHEALTHY)) {
				keys[n] = g->fkeys[i];
				idx[n++] = i;
			}
		}
	f.family = ss->ss_family;
	getsockname(fd, (struct sockaddr *)&me, &ml);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		memcpy(f.src, &s4->sin_addr, 4);
		memcpy(f.dst, &((struct sockaddr_in *)&me)->sin_addr, 4);
		f.sport = ntohs(s4->sin_port);
		f.dport = l->port;
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		memcpy(f.src, &s6->sin6_addr, 16);
		memcpy(f.dst, &((struct sockaddr_in6 *)&me)->sin6_addr, 16);
		f.sport = ntohs(s6->sin6_port);
		f.dport = l->port;
	}
	pick = lb_flowhash_pick(lb_flow_hash(&f, e->flow_seed), keys, n);
	if (pick < 0 || (tfd = connect_target(&tg->t[idx[pick]])) < 0) {
		close(fd);
		return;
	}
	a = xzalloc(sizeof(*a));
	b = xzalloc(sizeof(*b));
	ev_link(e, &a->ev, K_TCP, fd);
	ev_link(e, &b->ev, K_TCP, tfd);
	a->peer = b;
	b->peer = a;
	b->connecting = true;
	ev_add(e, &a->ev, EPOLLIN);
	ev_add(e, &b->ev, EPOLLOUT);
}

/* ------------------------------------------------------------ health checks */

static void probe_result(struct lb_engine *e, struct probe *p, int outcome)
{
	lb_tg_probe_result(&p->g->tg, p->tidx, p->seq, now_ms(), outcome);
	ev_kill(e, &p->ev);
}

static void probe_event(struct lb_engine *e, struct probe *p, uint32_t events)
{
	const struct lb_hc_config *hc = &p->g->tg.cfg.hc;
	int r;

	if (p->connecting) {
		if (sock_error(p->ev.fd) < 0 || (events & (EPOLLERR | EPOLLHUP))) {
			probe_result(e, p, LB_PROBE_FAILED);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		p->connecting = false;
		if (hc->protocol == LB_HC_TCP) {
			probe_result(e, p, LB_PROBE_CONNECTED);
			return;
		}
		const struct lb_target *t = &p->g->tg.t[p->tidx];
		char ip[INET6_ADDRSTRLEN];

		inet_ntop(t->family, t->addr, ip, sizeof(ip));
		buf_addf(&p->out,
			 "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: ELB-HealthChecker/2.0\r\n"
			 "Connection: close\r\n\r\n",
			 hc->path, t->family == AF_INET6 ? "[" : "", ip,
			 t->family == AF_INET6 ? "]" : "", (unsigned)t->port);
		lb_http_response_parser_init(&p->p, NULL, LB_HTTP_GET);
	}
	if (buf_flush(p->ev.fd, &p->out) < 0) {
		probe_result(e, p, LB_PROBE_FAILED);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = buf_read(p->ev.fd, &p->in, 70000);

		if (n == 0 || (n < 0 && n != -EAGAIN)) {
			probe_result(e, p, LB_PROBE_FAILED);
			return;
		}
		r = lb_http_parse(&p->p, buf_data(&p->in), buf_avail(&p->in), &p->h);
		if (r == LB_HTTP_ERROR) {
			probe_result(e, p, LB_PROBE_FAILED);
			return;
		}
		if (r == LB_HTTP_DONE) {
			if (p->h.informational) {
				buf_consume(&p->in, p->h.head_len);
				lb_http_response_parser_init(&p->p, NULL, LB_HTTP_GET);
			} else {
				probe_result(e, p, p->h.status);
				return;
			}
		}
	}
	ev_set(e, &p->ev, EPOLLIN | (buf_avail(&p->out) ? EPOLLOUT : 0));
}

static void run_health_checks(struct lb_engine *e, uint64_t now)
{
	struct lb_probe pr[MAX_PROBES_PER_CALL];

	for (size_t gi = 0; gi < e->n_groups; gi++) {
		struct tgrp *g = &e->groups[gi];
		size_t n;

		if (!g->hc)
			continue;
		do {
			n = lb_tg_due(&g->tg, now, pr, MAX_PROBES_PER_CALL);
			for (size_t i = 0; i < n; i++) {
				int fd = connect_target(&g->tg.t[pr[i].target]);
				struct probe *p;

				if (fd < 0) {
					lb_tg_probe_result(&g->tg, pr[i].target, pr[i].seq, now,
							   LB_PROBE_FAILED);
					continue;
				}
				p = xzalloc(sizeof(*p));
				ev_link(e, &p->ev, K_PROBE, fd);
				p->g = g;
				p->tidx = pr[i].target;
				p->seq = pr[i].seq;
				p->connecting = true;
				/* target.c times the probe out itself; this only frees the socket */
				p->ev.deadline = now + g->tg.cfg.hc.timeout_ms;
				ev_add(e, &p->ev, EPOLLOUT);
			}
		} while (n == MAX_PROBES_PER_CALL);
	}
}

/* ------------------------------------------------------------ the loop */

static void listener_event(struct lb_engine *e, struct listener *l)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(l->ev.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on port %u: %s", (unsigned)l->port, strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (!l->http) {
			tcp_accept(e, l, fd, &ss);
			continue;
		}
		struct client *c = xzalloc(sizeof(*c));

		ev_link(e, &c->ev, K_CLIENT, fd);
		c->l = l;
		c->family = ss.ss_family;
		if (ss.ss_family == AF_INET)
			memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		else
			memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		inet_ntop(c->family, c->addr, c->ip, sizeof(c->ip));
		lb_http_request_parser_init(&c->p, NULL);
		c->ev.deadline = now_ms() + CLIENT_IDLE_MS;
		ev_add(e, &c->ev, EPOLLIN);
	}
}

static void sweep(struct lb_engine *e, uint64_t now)
{
	struct ev *v, *next;

	for (v = e->live.next; v != &e->live; v = next) {
		next = v->next;
		if (v->dead || v->deadline == 0 || now < v->deadline)
			continue;
		v->deadline = 0;
		switch (v->kind) {
		case K_CLIENT:
			client_close(e, (struct client *)v);
			break;
		case K_UPSTREAM:
			upstream_timeout(e, (struct upstream *)v);
			break;
		case K_PROBE:
			ev_kill(e, v);
			break;
		default:
			break;
		}
		/* closing may have killed next too: start over is simplest */
		if (next->dead)
			next = e->live.next;
	}
}

static void free_obj(struct ev *v)
{
	switch (v->kind) {
	case K_CLIENT: {
		struct client *c = (struct client *)v;

		buf_free(&c->in);
		buf_free(&c->out);
		break;
	}
	case K_UPSTREAM: {
		struct upstream *u = (struct upstream *)v;

		buf_free(&u->in);
		buf_free(&u->out);
		break;
	}
	case K_TCP:
		buf_free(&((struct tcpconn *)v)->out);
		break;
	case K_PROBE:
		buf_free(&((struct probe *)v)->in);
		buf_free(&((struct probe *)v)->out);
		break;
	case K_LISTENER:
		return; /* owned by the engine */
	}
	free(v);
}

static void reap(struct lb_engine *e)
{
	while (e->dead) {
		struct ev *v = e->dead;

		e->dead = v->dead_next;
		free_obj(v);
	}
}

int lb_engine_run(struct lb_engine *e, struct berr **err)
{
	struct epoll_event evs[64];
	uint64_t last_sweep = 0;

	while (!e->stop) {
		uint64_t now = now_ms(), next = now + SWEEP_MS;
		int n, timeout;

		run_health_checks(e, now);
		for (size_t i = 0; i < e->n_groups; i++) {
			uint64_t t = e->groups[i].hc ? lb_tg_next_event(&e->groups[i].tg) : UINT64_MAX;

			if (t < next)
				next = t;
		}
		timeout = next > now ? (int)(next - now) : 0;
		n = epoll_wait(e->epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_set(err, errno, "epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			struct ev *v = evs[i].data.ptr;

			if (v->dead)
				continue;
			switch (v->kind) {
			case K_LISTENER:
				listener_event(e, (struct listener *)v);
				break;
			case K_CLIENT:
				client_event(e, (struct client *)v, evs[i].events);
				break;
			case K_UPSTREAM:
				upstream_event(e, (struct upstream *)v, evs[i].events);
				break;
			case K_TCP:
				tcp_event(e, (struct tcpconn *)v, evs[i].events);
				break;
			case K_PROBE:
				probe_event(e, (struct probe *)v, evs[i].events);
				break;
			}
		}
		now = now_ms();
		if (now - last_sweep >= SWEEP_MS) {
			sweep(e, now);
			last_sweep = now;
		}
		reap(e);
	}
	return 0;
}

void lb_engine_stop(struct lb_engine *e)
{
	e->stop = 1;
}

/* ------------------------------------------------------------ configuration */

static int parse_group(struct lb_engine *e, const json_t *o, const char *path, struct tgrp *g,
		       struct berr **err)
{
	struct lb_tg_config cfg;
	const char *name, *proto = "HTTP", *s;
	json_t *targets, *m;
	int64_t v;
	bool enabled = true;
	int r;

	if ((r = bjson_expect_object(o, path, err)) < 0 ||
	    (r = bjson_get_string(o, path, "Name", true, &name, err)) < 0 ||
	    (r = bjson_get_string(o, path, "HealthCheckProtocol", false, &proto, err)) < 0 ||
	    (r = bjson_get_bool(o, path, "HealthCheckEnabled", false, &enabled, err)) < 0 ||
	    (r = bjson_get_array(o, path, "Targets", true, &targets, err)) < 0)
		return r;
	if (strcmp(proto, "HTTP") != 0 && strcmp(proto, "TCP") != 0)
		return berr_set(err, EINVAL, "%s.HealthCheckProtocol: HTTP or TCP, not %s", path, proto);
	lb_tg_config_default(&cfg, proto[0] == 'H' ? LB_HC_HTTP : LB_HC_TCP);
	if ((r = bjson_get_string(o, path, "HealthCheckPath", false, &s, err)) < 0)
		return r;
	if (r == 1) {
		if (s[0] != '/' || strlen(s) >= sizeof(cfg.hc.path) || strpbrk(s, " \r\n"))
			return berr_set(err, EINVAL, "%s.HealthCheckPath: a path starting with /",
					path);
		snprintf(cfg.hc.path, sizeof(cfg.hc.path), "%s", s);
	}
#define SECONDS(key, field)                                                               \
	if ((r = bjson_get_int_range(o, path, key, false, 0, 3600, &v, err)) < 0)         \
		return r;                                                                 \
	if (r == 1)                                                                       \
		cfg.field = (uint32_t)v * 1000u;
	SECONDS("HealthCheckIntervalSeconds", hc.interval_ms)
	SECONDS("HealthCheckTimeoutSeconds", hc.timeout_ms)
	SECONDS("DeregistrationDelaySeconds", deregistration_delay_ms)
#undef SECONDS
	if ((r = bjson_get_int_range(o, path, "HealthyThresholdCount", false, 0, 100, &v, err)) < 0)
		return r;
	if (r == 1)
		cfg.hc.healthy_threshold = (uint32_t)v;
	if ((r = bjson_get_int_range(o, path, "UnhealthyThresholdCount", false, 0, 100, &v, err)) <
	    0)
		return r;
	if (r == 1)
		cfg.hc.unhealthy_threshold = (uint32_t)v;
	if ((r = bjson_get_object(o, path, "Matcher", false, &m, err)) < 0)
		return r;
	if (r == 1) {
		cleanup_free char *mp = bjson_path_key(path, "Matcher");

		if ((r = bjson_get_string(m, mp, "HttpCode", true, &s, err)) < 0)
			return r;
		if ((r = lb_hc_matcher_parse(s, &cfg.hc.matcher, err)) < 0)
			return berr_wrap(err, "%s.HttpCode", mp);
	}
	if ((r = bjson_get_string(o, path, "Algorithm", false, &s, err)) < 0)
		return r;
	if (r == 1) {
		if (strcmp(s, "round_robin") == 0)
			cfg.algorithm = LB_ROUND_ROBIN;
		else if (strcmp(s, "least_outstanding_requests") == 0)
			cfg.algorithm = LB_LEAST_OUTSTANDING;
		else
			return berr_set(err, EINVAL,
					"%s.Algorithm: round_robin or least_outstanding_requests",
					path);
	}
	if ((r = lb_tg_init(&g->tg, &cfg, err)) < 0)
		return berr_wrap(err, "%s", path);
	g->name = xstrdup(name);
	g->hc = enabled;
	uint64_t now = now_ms();

	for (size_t i = 0; i < json_array_size(targets); i++) {
		json_t *t = json_array_get(targets, i);

		if (!json_is_string(t))
			return berr_set(err, EINVAL, "%s.Targets[%zu]: expected \"ip:port\"", path,
					i);
		if ((r = lb_tg_register(&g->tg, json_string_value(t), now, err)) < 0)
			return berr_wrap(err, "%s.Targets[%zu]", path, i);
	}
	g->fkeys = xcalloc(g->tg.n ? g->tg.n : 1, sizeof(uint64_t));
	for (size_t i = 0; i < g->tg.n; i++)
		g->fkeys[i] = lb_flowhash_target_key(g->tg.t[i].family, g->tg.t[i].addr,
						     g->tg.t[i].port, e->flow_seed);
	return 0;
}

static int bind_listener(struct listener *l, const char *addr, struct berr **err)
{
	struct sockaddr_storage ss;
	uint8_t a[16] = { 0 };
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET, one = 1, fd;
	socklen_t sl;

	if (inet_pton(family, addr, a) != 1)
		return berr_set(err, EINVAL, "Address %s: not an IP address", addr);
	sl = make_sockaddr(&ss, family, a, l->port);
	fd = nb_socket(family);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
		int r = berr_set(err, errno, "listen on %s port %u", addr, (unsigned)l->port);

		close(fd);
		return r;
	}
	l->ev.fd = fd;
	return 0;
}

static int check_forward_groups(struct lb_engine *e, const struct lb_action *a, const char *path,
				struct berr **err)
{
	if (a->type != LB_ACTION_FORWARD)
		return 0;
	for (size_t i = 0; i < a->n_groups; i++)
		if (!group_by_name(e, a->groups[i].arn))
			return berr_set(err, EINVAL, "%s: no target group named %s", path,
					a->groups[i].arn);
	return 0;
}

static int parse_listener(struct lb_engine *e, const json_t *o, const char *path,
			  struct listener *l, struct berr **err)
{
	const char *proto, *addr = "0.0.0.0", *tgname = NULL;
	json_t *rules = NULL, *defaults = NULL;
	int64_t port;
	int r;

	if ((r = bjson_expect_object(o, path, err)) < 0 ||
	    (r = bjson_get_int_range(o, path, "Port", true, 1, 65535, &port, err)) < 0 ||
	    (r = bjson_get_string(o, path, "Protocol", true, &proto, err)) < 0 ||
	    (r = bjson_get_string(o, path, "Address", false, &addr, err)) < 0 ||
	    (r = bjson_get_string(o, path, "TargetGroup", false, &tgname, err)) < 0 ||
	    (r = bjson_get_array(o, path, "Rules", false, &rules, err)) < 0)
		return r;
	defaults = json_object_get(o, "DefaultActions");
	l->port = (uint16_t)port;
	l->ev.kind = K_LISTENER;
	l->ev.fd = -1;
	if (strcmp(proto, "TCP") == 0) {
		if (!tgname)
			return berr_set(err, EINVAL, "%s.TargetGroup: required for TCP", path);
		if (rules || defaults)
			return berr_set(err, EINVAL, "%s: TCP listeners have no rules", path);
		if (!(l->tcp_group = group_by_name(e, tgname)))
			return berr_set(err, EINVAL, "%s.TargetGroup: no target group named %s",
					path, tgname);
	} else if (strcmp(proto, "HTTP") == 0) {
		json_auto_t *doc = json_object();

		l->http = true;
		if (tgname && defaults)
			return berr_set(err, EINVAL, "%s: TargetGroup or DefaultActions, not both",
					path);
		if (rules)
			json_object_set(doc, "Rules", rules);
		if (defaults)
			json_object_set(doc, "DefaultActions", defaults);
		else if (tgname)
			json_object_set_new(doc, "DefaultActions",
					    json_pack("[{s:s, s:s}]", "Type", "forward",
						      "TargetGroupArn", tgname));
		if ((r = lb_rules_compile(doc, &l->rules, err)) < 0)
			return berr_wrap(err, "%s", path);
		for (size_t i = 0; i < l->rules->n; i++)
			if ((r = check_forward_groups(e, &l->rules->rules[i].action, path, err)) < 0)
				return r;
		if ((r = check_forward_groups(e, &l->rules->default_action, path, err)) < 0)
			return r;
	} else {
		return berr_set(err, EINVAL, "%s.Protocol: HTTP or TCP, not %s", path, proto);
	}
	if ((r = bind_listener(l, addr, err)) < 0)
		return berr_wrap(err, "%s", path);
	return 0;
}

int lb_engine_new(const json_t *cfg, struct lb_engine **out, struct berr **err)
{
	struct lb_engine *e = xzalloc(sizeof(*e));
	json_t *groups, *listeners;
	double timeout = 60;
	int r;

	e->epfd = -1;
	e->live.next = e->live.prev = &e->live;
	if (getrandom(&e->rnd, sizeof(e->rnd), 0) != sizeof(e->rnd) ||
	    getrandom(&e->flow_seed, sizeof(e->flow_seed), 0) != sizeof(e->flow_seed)) {
		r = berr_set(err, errno ? errno : EIO, "getrandom");
		goto fail;
	}
	e->rnd |= 1;
	if ((r = bjson_expect_object(cfg, "", err)) < 0 ||
	    (r = bjson_get_number(cfg, "", "TargetResponseTimeoutSeconds", false, &timeout, err)) < 0 ||
	    (r = bjson_get_array(cfg, "", "TargetGroups", false, &groups, err)) < 0 ||
	    (r = bjson_get_array(cfg, "", "Listeners", true, &listeners, err)) < 0)
		goto fail;
	if (!(timeout >= 0.001 && timeout <= 4000)) {
		r = berr_set(err, EINVAL, "TargetResponseTimeoutSeconds: 0.001 to 4000");
		goto fail;
	}
	e->response_timeout_ms = (uint64_t)(timeout * 1000);
	if (e->response_timeout_ms == 0)
		e->response_timeout_ms = 1;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		r = berr_set(err, errno, "epoll_create1");
		goto fail;
	}
	e->groups = xcalloc(json_array_size(groups) + 1, sizeof(*e->groups));
	for (size_t i = 0; i < json_array_size(groups); i++) {
		cleanup_free char *p = bjson_path_index("TargetGroups", i);

		e->n_groups++; /* lb_engine_free cleans up a half-parsed one */
		if ((r = parse_group(e, json_array_get(groups, i), p, &e->groups[i], err)) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++)
			if (strcmp(e->groups[j].name, e->groups[i].name) == 0) {
				r = berr_set(err, EINVAL, "%s.Name: %s used twice", p,
					     e->groups[i].name);
				goto fail;
			}
	}
	e->listeners = xcalloc(json_array_size(listeners) + 1, sizeof(*e->listeners));
	for (size_t i = 0; i < json_array_size(listeners); i++) {
		cleanup_free char *p = bjson_path_index("Listeners", i);
		struct listener *l = xzalloc(sizeof(*l));

		e->listeners[e->n_listeners++] = l;
		if ((r = parse_listener(e, json_array_get(listeners, i), p, l, err)) < 0)
			goto fail;
		ev_add(e, &l->ev, EPOLLIN);
	}
	*out = e;
	return 0;
fail:
	lb_engine_free(e);
	return r;
}

int lb_engine_load_file(const char *path, struct lb_engine **out, struct berr **err)
{
	json_auto_t *doc = NULL;
	int r;

	if ((r = bjson_load_file(path, 1 << 20, &doc, err)) < 0)
		return r;
	if ((r = lb_engine_new(doc, out, err)) < 0)
		return berr_wrap(err, "%s", path);
	return 0;
}

void lb_engine_free(struct lb_engine *e)
{
	if (!e)
		return;
	while (e->live.next != &e->live)
		ev_kill(e, e->live.next);
	reap(e);
	for (size_t i = 0; i < e->n_listeners; i++) {
		struct listener *l = e->listeners[i];

		if (l->ev.fd >= 0)
			close(l->ev.fd);
		lb_rules_free(l->rules);
		free(l);
	}
	free(e->listeners);
	for (size_t i = 0; i < e->n_groups; i++) {
		free(e->groups[i].name);
		free(e->groups[i].fkeys);
		lb_tg_destroy(&e->groups[i].tg);
	}
	free(e->groups);
	if (e->epfd >= 0)
		close(e->epfd);
	free(e);
}
