/* lb/engine.c - berth-lb's engine: one epoll worker per engine, more
 * workers following a first one (lb/engine.h, docs/lb.md "Engine").
 *
 * Every socket is an object that starts with struct ev (kind, fd, the
 * interest it has, a deadline). After handling an event the engine
 * recomputes the interest of the objects involved (update()), which is also
 * where back-pressure lives: a side is read only while the buffer it would
 * fill holds less than HIGH bytes. Client, target and relay sockets are
 * edge-triggered with the readiness remembered in the object, and ev_set()
 * hands an object whose interest meets its readiness to its handler from
 * the pending list (run_pending), so the handlers see level-triggered
 * semantics without an epoll_ctl per state change (engine_int.h, struct ev). An object that
 * is closed is taken out of epoll at once and freed at the end of the loop
 * iteration, so later events of the same batch never touch freed memory.
 * Deadlines are checked by a sweep over all objects every SWEEP_MS. */
#include "lb/engine_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

/* ------------------------------------------------------------ helpers */


static uint64_t rnd64(struct lb_engine *e)
{
	/* xorshift64*: weights among target groups, not a secret */
	e->rnd ^= e->rnd >> 12;
	e->rnd ^= e->rnd << 25;
	e->rnd ^= e->rnd >> 27;
	return e->rnd * 0x2545F4914F6CDD1Dull;
}








/* read what there is into b (at most max bytes held): >0 bytes, 0 EOF,
 * -EAGAIN nothing now, other negative errno */

/* write what b holds: bytes written (all, or until it would block),
 * negative errno */


/* a request ended with status (answered by a target or by the engine) */
static void count_request(struct lb_engine *e, int status, uint64_t t_start)
{
	uint64_t us = t_start ? now_us() - t_start : 0;
	double s = (double)us / 1e6;
	size_t i = 0;

	if (status >= 100 && status < 600)
		ST_ADD(e, by_code[status], 1);
	while (i < LAT_BUCKETS && s > lat_bounds[i])
		i++;
	ST_ADD(e, lat[i], 1);
	ST_ADD(e, lat_sum_us, us);
	ST_ADD(e, lat_count, 1);
}

static void grp_unref(struct lb_engine *e, struct tgrp *g);





static int nb_socket(int family)
{
	return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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

	count_request(e, status, c->t_start);
	c->t_start = 0;
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
	c->ev.deadline = now_ms() + c->l->idle_ms;
	client_process(e, c);
}

struct tgrp *lb_eng_group_by_name(struct lb_engine *e, const char *name)
{
	for (size_t i = 0; i < e->n_groups; i++)
		if (strcmp(e->groups[i]->name, name) == 0)
			return e->groups[i];
	return NULL;
}

static void pool_unlink(struct tgrp *g, struct upstream *u)
{
	if (!u->pooled)
		return;
	if (u->pool_prev)
		u->pool_prev->pool_next = u->pool_next;
	else
		g->pool[u->tidx] = u->pool_next;
	if (u->pool_next)
		u->pool_next->pool_prev = u->pool_prev;
	u->pool_next = u->pool_prev = NULL;
	u->pooled = false;
	g->pool_n[u->tidx]--;
}

/* An idle pooled connection that had an event (rd) since its last
 * response: still usable when nothing is there to read (an edge that the
 * last read already drained); data or EOF: not reusable. */
static bool pool_conn_quiet(struct upstream *u)
{
	char b;
	ssize_t n;

	if (!u->ev.rd)
		return true;
	n = read(u->ev.fd, &b, 1);
	if (n < 0 && errno == EAGAIN) {
		u->ev.rd = false;
		return true;
	}
	return false;
}

/* an idle pooled connection to target idx of g: the one put back last (its
 * target closing it shows as an event, which takes it out of the pool; the
 * race left, a close in flight as the request leaves, is what the replay of
 * idempotent requests covers) */
static struct upstream *pool_take(struct lb_engine *e, struct tgrp *g, size_t idx)
{
	struct upstream *u;

	while (idx < g->n_pool && (u = g->pool[idx])) {
		pool_unlink(g, u);
		if (u->tgen != g->tg.t[idx].gen || !pool_conn_quiet(u)) {
			ev_kill(e, &u->ev); /* the slot holds another target now, or closed */
			continue;
		}
		u->reused = true;
		return u;
	}
	return NULL;
}

static void pool_remove(struct tgrp *g, struct upstream *u)
{
	pool_unlink(g, u);
}

/* close the idle connections to target idx of g (deregistered) */
void lb_eng_pool_drop_target(struct lb_engine *e, struct tgrp *g, size_t idx)
{
	struct upstream *u;

	while (idx < g->n_pool && (u = g->pool[idx])) {
		pool_unlink(g, u);
		ev_kill(e, &u->ev);
	}
}

static void pool_put(struct lb_engine *e, struct upstream *u)
{
	struct tgrp *g = u->g;
	const struct lb_target *t = &g->tg.t[u->tidx];

	if (g->deleted || t->gen != u->tgen || t->state == LB_TARGET_DRAINING ||
	    t->state == LB_TARGET_UNUSED) {
		ev_kill(e, &u->ev);
		return;
	}
	if (u->tidx >= g->n_pool) {
		size_t n = g->tg.cap > u->tidx ? g->tg.cap : u->tidx + 1;

		g->pool = xreallocarray(g->pool, n, sizeof(*g->pool));
		g->pool_n = xreallocarray(g->pool_n, n, sizeof(*g->pool_n));
		memset(g->pool + g->n_pool, 0, (n - g->n_pool) * sizeof(*g->pool));
		memset(g->pool_n + g->n_pool, 0, (n - g->n_pool) * sizeof(*g->pool_n));
		g->n_pool = n;
	}
	if (g->pool_n[u->tidx] >= POOL_MAX_PER_TARGET) {
		ev_kill(e, &u->ev);
		return;
	}
	u->c = NULL;
	u->pool_prev = NULL;
	u->pool_next = g->pool[u->tidx];
	if (u->pool_next)
		u->pool_next->pool_prev = u;
	g->pool[u->tidx] = u;
	g->pool_n[u->tidx]++;
	u->pooled = true;
	u->ev.deadline = now_ms() + POOL_IDLE_MS;
	buf_keep_small(&u->in); /* the next request reuses them: no malloc per request */
	buf_keep_small(&u->out);
	upstream_update(e, u);
}

/* The request head for the target: the request line with HTTP/1.1, the
 * client's fields without hop-by-hop ones and X-Forwarded-*, then ours. */
static void write_request_head(struct client *c, struct buf *o)
{
	const char *b = buf_data(&c->in);
	const struct lb_http_head *h = &c->h;
	bool xff = false;

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
			xff = true;
			continue;
		}
		buf_add(o, b + n.off, n.len);
		buf_add(o, ": ", 2);
		buf_add(o, b + v.off, v.len);
		buf_add(o, "\r\n", 2);
	}
	if (c->h.upgrade) { /* the one hop-by-hop pair that is passed on (RFC 9110 7.8) */
		buf_add(o, "Connection: Upgrade\r\nUpgrade: ", 30);
		buf_add(o, b + h->upgrade_proto.off, h->upgrade_proto.len);
		buf_add(o, "\r\n", 2);
	}
	buf_add(o, "X-Forwarded-For: ", 17);
	for (uint32_t i = 0; xff && i < h->n_headers; i++) { /* the client's values, in order */
		struct lb_http_span n = h->headers[i].name, v = h->headers[i].value;

		if (lb_http_span_caseeq(b, n, "x-forwarded-for")) {
			buf_add(o, b + v.off, v.len);
			buf_add(o, ", ", 2);
		}
	}
	buf_addf(o, "%s\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: %u\r\n\r\n", c->ip,
		 (unsigned)c->l->port);
}

#define CONNECT_TRIES 3

static struct upstream *upstream_new(struct lb_engine *e, struct tgrp *g, size_t idx, int fd)
{
	struct upstream *u = xzalloc(sizeof(*u));

	ev_link(e, &u->ev, K_UPSTREAM, fd);
	u->g = g;
	g->refs++;
	u->tidx = idx;
	u->tgen = g->tg.t[idx].gen;
	u->connecting = true;
	ev_add_et(e, &u->ev, EPOLLOUT);
	return u;
}

/* A connection to a target of g for a request: an idle pooled one or a new
 * one, its target's outstanding count taken. A target that refuses at once
 * is skipped (up to CONNECT_TRIES picks; refused picks stay counted until
 * the end so that least-outstanding moves on too); avoid: a target that
 * just failed. NULL with *status 503 (nothing to route to) or 502. */
static struct upstream *upstream_open(struct lb_engine *e, struct tgrp *g, int avoid,
				      int *status)
{
	size_t held[CONNECT_TRIES + 1], n_held = 0;
	struct upstream *u = NULL;

	*status = 503;
	for (int tries = 0; tries < CONNECT_TRIES && !u;) {
		int idx = lb_tg_pick(&g->tg), fd;

		if (idx < 0)
			break;
		if (idx == avoid) { /* it just failed: move the picker on, once */
			held[n_held++] = (size_t)idx;
			avoid = -1;
			continue;
		}
		tries++;
		*status = 502;
		u = pool_take(e, g, (size_t)idx);
		if (u)
			break;
		fd = connect_target(&g->tg.t[idx]);
		if (fd < 0) {
			log_debug("connect to target %d of %s: %s", idx, g->name, strerror(-fd));
			held[n_held++] = (size_t)idx;
			ST_ADD(e, retries, 1);
			continue;
		}
		u = upstream_new(e, g, (size_t)idx, fd);
	}
	if (u)
		u->counted = true;
	for (size_t i = 0; i < n_held; i++)
		lb_tg_release(&g->tg, held[i]);
	return u;
}

static void upstream_attach(struct lb_engine *e, struct client *c, struct upstream *u)
{
	u->c = c;
	c->up = u;
	u->head_done = u->sent_to_client = false;
	lb_http_response_parser_init(&u->p, NULL, c->h.method);
	u->ev.deadline = now_ms() + e->response_timeout_ms;
}

static bool idempotent(enum lb_http_method m)
{
	return m == LB_HTTP_GET || m == LB_HTTP_HEAD || m == LB_HTTP_OPTIONS ||
	       m == LB_HTTP_TRACE || m == LB_HTTP_PUT || m == LB_HTTP_DELETE;
}

static void client_forward(struct lb_engine *e, struct client *c, const struct lb_action *a)
{
	struct tgrp *g;
	struct upstream *u;
	size_t gi = 0;
	int status;

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
	g = a->groups[gi].ctx; /* resolved when the rules were installed */
	if (!g || !(u = upstream_open(e, g, -1, &status))) {
		client_error(e, c, g ? status : 503);
		return;
	}
	u->tries = 1;
	upstream_attach(e, c, u);
	write_request_head(c, &u->out);
	c->replay_ok = false;
	if (u->reused && c->h.body == LB_HTTP_BODY_NONE && idempotent(c->h.method)) {
		c->replay.r = c->replay.len = 0;
		buf_add(&c->replay, buf_data(&u->out), buf_avail(&u->out));
		c->replay_ok = true;
	}
	c->body = c->h.body;
	c->body_left = c->h.content_length;
	c->body_done = c->body == LB_HTTP_BODY_NONE;
	if (c->body == LB_HTTP_BODY_CHUNKED)
		lb_http_chunked_init(&c->ch, NULL, false);
	buf_consume(&c->in, c->h.head_len);
	c->state = c->body_done ? C_WAIT : C_BODY;
}

/* u was a pooled connection and the target closed it before a byte of an
 * answer (it timed the connection out as we sent): the request goes again,
 * once, on another connection (c->replay_ok: idempotent, no body). */
static void upstream_replay(struct lb_engine *e, struct upstream *u)
{
	struct client *c = u->c;
	struct tgrp *g = u->g;
	struct upstream *n;
	int status;

	c->replay_ok = false;
	upstream_close(e, u); /* g stays alive: u is freed at the end of the iteration */
	ST_ADD(e, retries, 1);
	n = upstream_open(e, g, -1, &status);
	if (!n) {
		client_error(e, c, status == 503 ? 502 : status);
		return;
	}
	n->tries = 1;
	upstream_attach(e, c, n);
	buf_add(&n->out, buf_data(&c->replay), buf_avail(&c->replay));
	upstream_update(e, n);
}

/* The connect to u's target failed before a byte was sent: the request
 * (all of it still in u->out) goes to another pick of the same group. */
static void upstream_retry(struct lb_engine *e, struct upstream *u)
{
	struct client *c = u->c;
	struct tgrp *g = u->g;
	struct buf out = u->out;
	unsigned tries = u->tries;
	int avoid = (int)u->tidx, status;
	struct upstream *n;

	memset(&u->out, 0, sizeof(u->out));
	upstream_close(e, u); /* g stays alive: u is freed at the end of the iteration */
	ST_ADD(e, retries, 1);
	n = upstream_open(e, g, avoid, &status);
	if (!n) {
		buf_free(&out);
		client_error(e, c, status == 503 ? 502 : status);
		return;
	}
	upstream_attach(e, c, n);
	buf_free(&n->out);
	n->out = out;
	n->tries = tries + 1;
	upstream_update(e, n);
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
	c->t_start = now_us();
	if (c->h.method == LB_HTTP_CONNECT) {
		/* CONNECT tunnels are not built (docs/lb.md); Upgrade is */
		client_error(e, c, 501);
		return;
	}
	c->upgrade = c->h.upgrade;
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
		struct upstream *u = c->up;

		if (!u->connecting && ev_flush(&u->ev, &u->out) < 0) {
			/* a pooled connection the target reset: replay, or 502 */
			if (u->reused && c->replay_ok && !u->head_done && buf_avail(&u->in) == 0)
				upstream_replay(e, u);
			else
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

	ssize_t w;

	if (c->ev.dead)
		return;
	/* A response for a client that stays connected goes out after the
	 * rest of the batch has been read (run_pending), not at once: the
	 * client (and the targets, whose requests are sent meanwhile) then
	 * find several answers per wakeup. Sent at once, each answer woke
	 * the client for itself (docs/lb.md, "Benchmark": context switches
	 * per request). A closing exchange still ends at once. */
	if (e->in_poll && c->ev.wr && buf_avail(&c->out) && c->state != C_CLOSING) {
		ev_set(e, &c->ev, c->ev.events | EPOLLOUT);
		return;
	}
	/* closing: the whole answer is queued and the FIN follows at once
	 * (shutdown or close below), so the kernel may send both together */
	if ((w = ev_flush_flags(&c->ev, &c->out, c->state == C_CLOSING ? MSG_MORE : 0)) < 0) {
		client_close(e, c);
		return;
	}
	ST_ADD(e, bytes_out, (uint64_t)w);
	if (c->state == C_CLOSING && buf_avail(&c->out) == 0) {
		if (c->close_now) { /* all read, all answered: close as a FIN, no linger */
			client_close(e, c);
			return;
		}
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

			while ((n = read(c->ev.fd, sink, sizeof(sink))) > 0)
				;
			if (n == 0 || errno != EAGAIN)
				client_close(e, c);
			else
				c->ev.rd = false;
			return;
		}
		n = ev_read(&c->ev, &c->in, CLIENT_IN_MAX, READ_CHUNK);
		if (n > 0)
			ST_ADD(e, bytes_in, (uint64_t)n);
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
	if (h->status == 101) {
		const struct lb_http_header *up = lb_http_find(h, b, "upgrade");

		buf_add(o, "Connection: Upgrade\r\n", 21);
		if (up) {
			buf_add(o, "Upgrade: ", 9);
			buf_add(o, b + up->value.off, up->value.len);
			buf_add(o, "\r\n", 2);
		}
	} else if (!c->keep_alive) {
		buf_add(o, "Connection: close\r\n", 19);
	} else if (c->http10) {
		buf_add(o, "Connection: keep-alive\r\n", 24);
	}
	buf_add(o, "\r\n", 2);
}

static void tcp_update(struct lb_engine *e, struct tcpconn *t);

/* re-point fd's epoll entry at a new object */
static void ev_adopt(struct lb_engine *e, struct ev *from, struct ev *to, enum kind k)
{
	struct epoll_event ee = { .events = EV_ET_EVENTS, .data.ptr = to };

	ev_link(e, to, k, from->fd);
	epoll_ctl(e->epfd, from->reg ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, to->fd, &ee);
	to->et = true;
	to->reg = true;
	to->events = 0; /* tcp_update sets it */
	to->rd = from->rd;
	to->wr = from->wr;
	to->rdhup = from->rdhup;
	to->fin = from->fin;
	to->at_eof = from->at_eof;
	from->fd = -1; /* ev_kill must not close it */
	ev_kill(e, from);
}

/* 101 Switching Protocols: client and target become a byte tunnel. What
 * the target sent after its head and what the client sent after its
 * request go along; the objects become a struct tcpconn pair, as an L4
 * relay. The target's outstanding request ends here (docs/lb.md). */
static void tunnel_start(struct lb_engine *e, struct client *c, struct upstream *u)
{
	struct tcpconn *a = xzalloc(sizeof(*a)), *b = xzalloc(sizeof(*b));

	a->out = c->out;
	memset(&c->out, 0, sizeof(c->out));
	if (buf_avail(&u->in))
		buf_add(&a->out, buf_data(&u->in), buf_avail(&u->in));
	b->out = u->out;
	memset(&u->out, 0, sizeof(u->out));
	if (buf_avail(&c->in))
		buf_add(&b->out, buf_data(&c->in), buf_avail(&c->in));
	a->peer = b;
	b->peer = a;
	a->client_side = true;
	a->tunnel = true;
	a->idle_ms = c->l->idle_ms;
	a->ev.deadline = now_ms() + a->idle_ms;
	if (u->counted) {
		lb_tg_release(&u->g->tg, u->tidx);
		u->counted = false;
	}
	u->c = NULL;
	c->up = NULL;
	ev_adopt(e, &c->ev, &a->ev, K_TCP);
	ev_adopt(e, &u->ev, &b->ev, K_TCP);
	ST_ADD(e, active_tunnels, 1);
	tcp_update(e, a);
	tcp_update(e, b);
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
		/* the answer ends the connection. The client asked for that and
		 * sent nothing more: close at once (a FIN after the answer). The
		 * target ended it, or the client sent more: linger (a client
		 * not yet in epoll may have pipelined unseen requests) */
		c->close_now = !c->h.keep_alive && c->body_done && buf_avail(&c->in) == 0 &&
			       !c->ev.rd;
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
			if (!c->upgrade || u->h.status != 101 || !c->body_done) {
				client_error(e, c, 502); /* we never asked for an upgrade */
				return;
			}
			count_request(e, 101, c->t_start);
			write_response_head(c, u);
			buf_consume(&u->in, u->h.head_len);
			tunnel_start(e, c, u);
			return;
		}
		u->head_done = true;
		u->sent_to_client = true;
		count_request(e, u->h.status, c->t_start);
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
		if (!(events & (EPOLLHUP | EPOLLERR)) && pool_conn_quiet(u))
			return; /* an edge the last read had drained already */
		pool_remove(u->g, u);
		ev_kill(e, &u->ev);
		return;
	}
	if (u->connecting) {
		/* a failed connect reports EPOLLERR: SO_ERROR only then */
		int r = events & (EPOLLERR | EPOLLHUP) ? sock_error(u->ev.fd) : 0;

		if (r < 0 || (events & (EPOLLERR | EPOLLHUP))) {
			log_debug("connect to target %zu of %s: %s", u->tidx, u->g->name,
				  strerror(r < 0 ? -r : ECONNREFUSED));
			if (u->tries < CONNECT_TRIES)
				upstream_retry(e, u); /* nothing was sent yet */
			else
				client_error(e, c, 502);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		u->connecting = false;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = ev_read(&u->ev, &u->in, HIGH, READ_CHUNK_BIG);

		if (n == 0 || (n < 0 && n != -EAGAIN))
			eof = u->eof = true;
	}
	if (eof && u->reused && c->replay_ok && !u->head_done && buf_avail(&u->in) == 0) {
		upstream_replay(e, u);
		return;
	}
	if (ev_flush(&u->ev, &u->out) < 0 && !u->head_done) {
		if (u->reused && c->replay_ok && buf_avail(&u->in) == 0)
			upstream_replay(e, u);
		else
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
		if (events & (EPOLLERR | EPOLLHUP)) { /* the connect failed */
			tcp_close(e, t);
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		t->connecting = false;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = ev_read(&t->ev, &p->out, HIGH, READ_CHUNK_BIG);

		if (n > 0) {
			struct tcpconn *cs = t->client_side ? t : p;

			if (t->client_side)
				ST_ADD(e, bytes_in, (uint64_t)n);
			/* idle: no byte either way for the listener's idle timeout */
			cs->ev.deadline = now_ms() + cs->idle_ms;
		}
		/* the FIN came with these bytes (ev_read saw it): they are the
		 * last, so the end of stream goes on with them, not after the
		 * batch in a segment of its own (that order would depend on
		 * which of the pair the pending list runs first) */
		if (n == 0 || (n > 0 && t->ev.at_eof))
			t->eof_in = true;
		else if (n < 0 && n != -EAGAIN) {
			tcp_close(e, t);
			return;
		}
		/* bytes read while the batch is handled are relayed after it
		 * (as client_update: fewer wakeups of the peer); an end of
		 * stream is passed on at once (nothing would be queued for it) */
		if (n > 0 && !t->eof_in && e->in_poll && !p->connecting) {
			tcp_update(e, t);
			tcp_update(e, p);
			return;
		}
	}
	for (int i = 0; i < 2; i++) {
		struct tcpconn *x = i ? p : t, *y = i ? t : p;

		ssize_t w;

		if (x->connecting)
			continue;
		/* y's end of stream is in: these are the last bytes for x, and
		 * the FIN follows at once (below), so let the kernel send them
		 * together (one segment and one ACK fewer per connection) */
		if ((w = ev_flush_flags(&x->ev, &x->out, y->eof_in && !x->shut_out ? MSG_MORE : 0)) < 0) {
			tcp_close(e, t);
			return;
		}
		if (x->client_side)
			ST_ADD(e, bytes_out, (uint64_t)w);
		/* y sent EOF and all of it reached x: pass the half-close on */
		if (y->eof_in && !x->shut_out && buf_avail(&x->out) == 0) {
			/* y done too: both close below, close() sends the FIN */
			if (!y->shut_out)
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

/* The flow's 5-tuple, from the peer's and our own address. */
static void flow_of(struct lb_flow *f, uint8_t proto, const struct sockaddr_storage *peer,
		    const uint8_t local[16], uint16_t lport)
{
	memset(f, 0, sizeof(*f));
	f->proto = proto;
	f->family = peer->ss_family;
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)peer;

		memcpy(f->src, &s4->sin_addr, 4);
		memcpy(f->dst, local, 4);
		f->sport = ntohs(s4->sin_port);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;

		memcpy(f->src, &s6->sin6_addr, 16);
		memcpy(f->dst, local, 16);
		f->sport = ntohs(s6->sin6_port);
	}
	f->dport = lport;
}

/* L4 target choice: rendezvous hash of the flow over the healthy targets;
 * none healthy: over initial and unhealthy ones (fail open). -1: none. */
static int l4_pick(struct tgrp *g, uint64_t flow_hash)
{
	struct lb_target_group *tg = &g->tg;
	uint64_t best = 0;
	int pick = -1;

	for (int pass = 0; pass < 2 && pick < 0; pass++)
		for (size_t i = 0; i < tg->n; i++) {
			enum lb_target_state st = tg->t[i].state;
			uint64_t score;

			if (pass == 0 ? st != LB_TARGET_HEALTHY
				      : (st != LB_TARGET_INITIAL && st != LB_TARGET_UNHEALTHY))
				continue;
			/* as lb_flowhash_pick, over the routable targets only */
			score = lb_flowhash_score(flow_hash, g->fkeys[i]);
			if (pick < 0 || score > best ||
			    (score == best && g->fkeys[i] > g->fkeys[pick])) {
				best = score;
				pick = (int)i;
			}
		}
	return pick;
}

static void local_addr(int fd, uint8_t out[16])
{
	struct sockaddr_storage me;
	socklen_t ml = sizeof(me);

	memset(out, 0, 16);
	if (getsockname(fd, (struct sockaddr *)&me, &ml) < 0)
		return;
	if (me.ss_family == AF_INET)
		memcpy(out, &((struct sockaddr_in *)&me)->sin_addr, 4);
	else
		memcpy(out, &((struct sockaddr_in6 *)&me)->sin6_addr, 16);
}

/* a relay half from the spares (its buffer's memory kept: no 32 KiB
 * malloc and free per connection) or a new one */
static struct tcpconn *tcpconn_alloc(struct lb_engine *e)
{
	struct tcpconn *t = e->spare_tcp;
	struct buf out;

	if (!t)
		return xzalloc(sizeof(*t));
	e->spare_tcp = t->spare_next;
	e->n_spare_tcp--;
	out = t->out;
	memset(t, 0, sizeof(*t));
	t->out = out;
	return t;
}

static void tcp_accept(struct lb_engine *e, struct listener *l, int fd,
		       const struct sockaddr_storage *ss)
{
	struct tgrp *g = l->tcp_group;
	struct lb_flow f;
	uint8_t me[16];
	struct tcpconn *a, *b;
	int pick, tfd;

	if (l->local_any)
		local_addr(fd, me);
	else
		memcpy(me, l->local, 16); /* bound to one address: no getsockname */
	flow_of(&f, IPPROTO_TCP, ss, me, l->port);
	pick = l4_pick(g, lb_flow_hash(&f, e->flow_seed));
	if (pick < 0 || (tfd = connect_target(&g->tg.t[pick])) < 0) {
		close(fd);
		return;
	}
	a = tcpconn_alloc(e);
	b = tcpconn_alloc(e);
	ev_link(e, &a->ev, K_TCP, fd);
	ev_link(e, &b->ev, K_TCP, tfd);
	a->peer = b;
	b->peer = a;
	a->client_side = true;
	a->idle_ms = l->idle_ms;
	a->ev.deadline = now_ms() + a->idle_ms;
	b->connecting = true;
	ST_ADD(e, active_tcp, 1);
	ev_add_et_lazy(e, &a->ev, EPOLLIN);
	ev_add_et(e, &b->ev, EPOLLOUT);
}

/* ------------------------------------------------------------ UDP */

#define UDP_BATCH 64

static bool flow_match(const struct udpflow *fl, const struct sockaddr_storage *peer,
		       const uint8_t local[16])
{
	if (fl->peer.ss_family != peer->ss_family || memcmp(fl->local, local, 16) != 0)
		return false;
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&fl->peer,
					 *b = (const struct sockaddr_in *)peer;

		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&fl->peer,
				  *b = (const struct sockaddr_in6 *)peer;

	return a->sin6_port == b->sin6_port &&
	       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
}

static void flow_table_grow(struct listener *l)
{
	size_t nb = l->n_buckets ? l->n_buckets * 2 : 64;
	struct udpflow **t = xcalloc(nb, sizeof(*t));

	for (size_t i = 0; i < l->n_buckets; i++)
		while (l->flows[i]) {
			struct udpflow *f = l->flows[i];

			l->flows[i] = f->hnext;
			f->hnext = t[f->hash & (nb - 1)];
			t[f->hash & (nb - 1)] = f;
		}
	free(l->flows);
	l->flows = t;
	l->n_buckets = nb;
}

static void flow_unlink(struct listener *l, struct udpflow *fl)
{
	if (!l->n_buckets)
		return;
	for (struct udpflow **pp = &l->flows[fl->hash & (l->n_buckets - 1)]; *pp;
	     pp = &(*pp)->hnext)
		if (*pp == fl) {
			*pp = fl->hnext;
			l->n_flows--;
			return;
		}
}

static void flow_close(struct lb_engine *e, struct udpflow *fl)
{
	if (fl->ev.dead)
		return;
	flow_unlink(fl->l, fl);
	ev_kill(e, &fl->ev);
}

static struct udpflow *flow_new(struct lb_engine *e, struct listener *l,
				const struct sockaddr_storage *peer, socklen_t plen,
				const uint8_t local[16], uint64_t hash)
{
	struct tgrp *g = l->tcp_group;
	struct sockaddr_storage ss;
	struct udpflow *fl;
	socklen_t sl;
	int pick = l4_pick(g, hash), fd;

	if (pick < 0)
		return NULL;
	const struct lb_target *t = &g->tg.t[pick];

	fd = socket(t->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	sl = make_sockaddr(&ss, t->family, t->addr, t->port);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		close(fd);
		return NULL;
	}
	fl = xzalloc(sizeof(*fl));
	ev_link(e, &fl->ev, K_UDPFLOW, fd);
	fl->l = l;
	l->refs++;
	fl->g = g;
	g->refs++;
	fl->tidx = (size_t)pick;
	fl->tgen = t->gen;
	fl->hash = hash;
	memcpy(&fl->peer, peer, plen);
	fl->peer_len = plen;
	memcpy(fl->local, local, 16);
	if (l->n_flows + 1 > l->n_buckets)
		flow_table_grow(l);
	fl->hnext = l->flows[hash & (l->n_buckets - 1)];
	l->flows[hash & (l->n_buckets - 1)] = fl;
	l->n_flows++;
	ST_ADD(e, active_udp, 1);
	ev_add(e, &fl->ev, EPOLLIN);
	return fl;
}

/* the flow's target still takes it: registered in the same slot, not unhealthy
 * while others are healthy (then new datagrams go to a new pick) */
static bool flow_target_ok(const struct udpflow *fl)
{
	const struct lb_target *t = &fl->g->tg.t[fl->tidx];

	if (fl->g->deleted || t->gen != fl->tgen || t->state == LB_TARGET_UNUSED)
		return false;
	return true;
}

static void udp_listener_event(struct lb_engine *e, struct listener *l)
{
	char *data = e->udp_buf;

	for (int i = 0; i < UDP_BATCH; i++) {
		struct sockaddr_storage peer;
		union {
			char b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
			struct cmsghdr align;
		} cb;
		struct iovec iov = { .iov_base = data, .iov_len = UDP_MAX };
		struct msghdr mh = { .msg_name = &peer, .msg_namelen = sizeof(peer),
				     .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
		uint8_t local[16] = { 0 };
		struct udpflow *fl = NULL;
		struct lb_flow f;
		uint64_t h;
		ssize_t n = recvmsg(l->ev.fd, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_debug("udp port %u: %s", (unsigned)l->port, strerror(errno));
			return;
		}
		ST_ADD(e, udp_in, 1);
		ST_ADD(e, bytes_in, (uint64_t)n);
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				memcpy(local, &pi.ipi_addr, 4);
			} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				memcpy(local, &pi.ipi6_addr, 16);
			}
		}
		flow_of(&f, IPPROTO_UDP, &peer, local, l->port);
		h = lb_flow_hash(&f, e->flow_seed);
		if (l->n_buckets)
			for (fl = l->flows[h & (l->n_buckets - 1)]; fl; fl = fl->hnext)
				if (fl->hash == h && flow_match(fl, &peer, local))
					break;
		if (fl && !flow_target_ok(fl)) {
			flow_close(e, fl);
			fl = NULL;
		}
		if (!fl)
			fl = flow_new(e, l, &peer, mh.msg_namelen, local, h);
		if (!fl) {
			ST_ADD(e, udp_dropped, 1);
			continue;
		}
		fl->ev.deadline = now_ms() + l->idle_ms;
		if (send(fl->ev.fd, data, (size_t)n, MSG_DONTWAIT) < 0)
			ST_ADD(e, udp_dropped, 1); /* UDP: a full buffer or an ICMP error drops it */
	}
}

/* datagrams from the flow's target: back to the client, from the address
 * the client wrote to */
static void udp_flow_event(struct lb_engine *e, struct udpflow *fl)
{
	char *data = e->udp_buf;
	struct listener *l = fl->l;

	if (l->deleted) {
		flow_close(e, fl);
		return;
	}
	for (int i = 0; i < UDP_BATCH; i++) {
		union {
			char b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
			struct cmsghdr align;
		} cb;
		struct iovec iov = { .iov_base = data };
		struct msghdr mh = { .msg_name = &fl->peer, .msg_namelen = fl->peer_len,
				     .msg_iov = &iov, .msg_iovlen = 1 };
		struct cmsghdr *cm;
		ssize_t n = recv(fl->ev.fd, data, UDP_MAX, MSG_DONTWAIT);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				ST_ADD(e, udp_dropped, 1); /* ECONNREFUSED: ICMP from the target */
			if (errno == EAGAIN)
				return;
			continue;
		}
		iov.iov_len = (size_t)n;
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.b;
		cm = (struct cmsghdr *)cb.b;
		if (fl->peer.ss_family == AF_INET) {
			struct in_pktinfo pi = { 0 };

			memcpy(&pi.ipi_spec_dst, fl->local, 4);
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		} else {
			struct in6_pktinfo pi = { 0 };

			memcpy(&pi.ipi6_addr, fl->local, 16);
			mh.msg_controllen = CMSG_SPACE(sizeof(pi));
			cm->cmsg_level = IPPROTO_IPV6;
			cm->cmsg_type = IPV6_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		}
		if (sendmsg(l->ev.fd, &mh, MSG_DONTWAIT) < 0) {
			ST_ADD(e, udp_dropped, 1);
			continue;
		}
		ST_ADD(e, udp_out, 1);
		ST_ADD(e, bytes_out, (uint64_t)n);
		fl->ev.deadline = now_ms() + l->idle_ms;
	}
}

/* ------------------------------------------------------------ health checks */

static void probe_result(struct lb_engine *e, struct probe *p, int outcome)
{
	lb_tg_probe_result(&p->g->tg, p->tidx, p->seq, now_ms(), outcome);
	if (!p->g->deleted)
		lb_eng_publish_health(e, p->g, p->tidx);
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
		struct tgrp *g = e->groups[gi];
		size_t n;

		if (!g->hc) {
			lb_tg_expire_drains(&g->tg, now);
			continue;
		}
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
				g->refs++;
				p->tidx = pr[i].target;
				p->seq = pr[i].seq;
				p->connecting = true;
				/* target.c times the probe out itself; this only frees the socket */
				p->ev.deadline = now + g->tg.cfg.hc.timeout_ms;
				ev_add(e, &p->ev, EPOLLOUT);
			}
		} while (n == MAX_PROBES_PER_CALL);
		/* probe timeouts settled by lb_tg_due may have changed states */
		for (size_t i = 0; i < g->tg.n; i++)
			lb_eng_publish_health(e, g, i);
	}
}

/* ------------------------------------------------------------ lifetimes */

static void listener_free(struct listener *l)
{
	lb_rules_free(l->rules);
	free(l->flows);
	free(l->addr);
	free(l);
}

/* freed at the end of the loop iteration (events of the batch may point here) */
static void listener_queue_free(struct lb_engine *e, struct listener *l)
{
	l->ev.dead_next = e->dead;
	e->dead = &l->ev;
}

static void listener_unref(struct lb_engine *e, struct listener *l)
{
	if (--l->refs == 0 && l->deleted)
		listener_queue_free(e, l);
}

static void grp_free(struct tgrp *g)
{
	free(g->pub);
	free(g->pool);
	free(g->pool_n);
	free(g->name);
	free(g->fkeys);
	lb_tg_destroy(&g->tg);
	free(g);
}

static void grp_unref(struct lb_engine *e, struct tgrp *g)
{
	(void)e;
	if (--g->refs == 0 && g->deleted)
		grp_free(g);
}

/* flowhash keys for every slot of g (after registrations) */
void lb_eng_grp_sync_keys(struct lb_engine *e, struct tgrp *g)
{
	if (g->n_fkeys < g->tg.n) {
		g->n_fkeys = g->tg.cap;
		g->fkeys = xreallocarray(g->fkeys, g->n_fkeys, sizeof(uint64_t));
	}
	for (size_t i = 0; i < g->tg.n; i++)
		g->fkeys[i] = lb_flowhash_target_key(g->tg.t[i].family, g->tg.t[i].addr,
						     g->tg.t[i].port, e->flow_seed);
}

/* ------------------------------------------------------------ the loop */

/* a zeroed client, its buffers kept from a closed one when there is one */
static struct client *client_alloc(struct lb_engine *e)
{
	struct client *c = e->spare_clients;
	struct buf in, out, replay;

	if (!c)
		return xzalloc(sizeof(*c));
	e->spare_clients = c->spare_next;
	e->n_spare_clients--;
	in = c->in;
	out = c->out;
	replay = c->replay;
	memset(c, 0, sizeof(*c));
	c->in = in;
	c->out = out;
	c->replay = replay;
	return c;
}

static void listener_event(struct lb_engine *e, struct listener *l)
{
	if (l->udp) {
		udp_listener_event(e, l);
		return;
	}
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		/* TCP_NODELAY: set on the listener, accepted sockets inherit it */
		int fd = accept4(l->ev.fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept on port %u: %s", (unsigned)l->port, strerror(errno));
			return;
		}
		ST_ADD(e, conns_total, 1);
		if (!l->http) {
			tcp_accept(e, l, fd, &ss);
			continue;
		}
		struct client *c = client_alloc(e);

		ev_link(e, &c->ev, K_CLIENT, fd);
		c->l = l;
		l->refs++;
		ST_ADD(e, active_http, 1);
		c->family = ss.ss_family;
		if (ss.ss_family == AF_INET)
			memcpy(c->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		else
			memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		inet_ntop(c->family, c->addr, c->ip, sizeof(c->ip));
		lb_http_request_parser_init(&c->p, NULL);
		c->ev.deadline = now_ms() + l->idle_ms;
		ev_add_et_lazy(e, &c->ev, EPOLLIN);
	}
}


static void sweep(struct lb_engine *e, uint64_t now)
{
	struct ev *v, *next;

	for (v = e->live.next; v != &e->live; v = next) {
		next = v->next;
		if (v->dead)
			continue;
		if (v->kind == K_UPSTREAM) {
			struct upstream *u = (struct upstream *)v;
			const struct lb_target *t = &u->g->tg.t[u->tidx];

			/* the deregistration delay passed with this request in flight */
			if (u->c && u->counted && (t->state == LB_TARGET_UNUSED || t->gen != u->tgen)) {
				log_debug("target %zu of %s: deregistration delay over, cutting",
					  u->tidx, u->g->name);
				client_error(e, u->c, 502);
				goto again;
			}
		}
		if (v->deadline == 0 || now < v->deadline)
			continue;
		v->deadline = 0;
		switch (v->kind) {
		case K_CLIENT:
			client_close(e, (struct client *)v);
			break;
		case K_UPSTREAM:
			upstream_timeout(e, (struct upstream *)v);
			break;
		case K_UDPFLOW:
			flow_close(e, (struct udpflow *)v);
			break;
		case K_TCP:
			tcp_close(e, (struct tcpconn *)v);
			break;
		case K_PROBE:
		case K_CTL:
		case K_METRICS:
			ev_kill(e, v);
			break;
		default:
			break;
		}
again:
		/* closing may have killed next too: start over is simplest */
		if (next->dead)
			next = e->live.next;
	}
}

static void free_obj(struct lb_engine *e, struct ev *v)
{
	switch (v->kind) {
	case K_CLIENT: {
		struct client *c = (struct client *)v;

		ST_ADD(e, active_http, -1);
		listener_unref(e, c->l);
		if (e->n_spare_clients < SPARE_CLIENTS) { /* for the next accept */
			buf_keep_small(&c->in);
			buf_keep_small(&c->out);
			buf_keep_small(&c->replay);
			c->spare_next = e->spare_clients;
			e->spare_clients = c;
			e->n_spare_clients++;
			return;
		}
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->replay);
		break;
	}
	case K_UPSTREAM: {
		struct upstream *u = (struct upstream *)v;

		buf_free(&u->in);
		buf_free(&u->out);
		grp_unref(e, u->g);
		break;
	}
	case K_TCP: {
		struct tcpconn *t = (struct tcpconn *)v;

		if (t->client_side && t->tunnel)
			ST_ADD(e, active_tunnels, -1);
		else if (t->client_side)
			ST_ADD(e, active_tcp, -1);
		if (e->n_spare_tcp < SPARE_TCP) { /* for the next accept */
			buf_keep_small(&t->out);
			t->spare_next = e->spare_tcp;
			e->spare_tcp = t;
			e->n_spare_tcp++;
			return;
		}
		buf_free(&t->out);
		break;
	}
	case K_PROBE:
		buf_free(&((struct probe *)v)->in);
		buf_free(&((struct probe *)v)->out);
		grp_unref(e, ((struct probe *)v)->g);
		break;
	case K_UDPFLOW: {
		struct udpflow *fl = (struct udpflow *)v;

		ST_ADD(e, active_udp, -1);
		grp_unref(e, fl->g);
		listener_unref(e, fl->l);
		break;
	}
	case K_CTL:
	case K_METRICS:
		buf_free(&((struct ctl *)v)->in);
		buf_free(&((struct ctl *)v)->out);
		break;
	case K_LISTENER: /* queued only when deleted and unreferenced */
		listener_free((struct listener *)v);
		return;
	case K_CTL_LISTEN:
	case K_METRICS_LISTEN:
	case K_MQ:
		return; /* part of the engine */
	}
	free(v);
}

static void reap(struct lb_engine *e)
{
	while (e->dead) {
		struct ev *v = e->dead;

		e->dead = v->dead_next;
		free_obj(e, v);
	}
}

static void dispatch(struct lb_engine *e, struct ev *v, uint32_t events)
{
	switch (v->kind) {
	case K_LISTENER:
		listener_event(e, (struct listener *)v);
		break;
	case K_CLIENT:
		client_event(e, (struct client *)v, events);
		break;
	case K_UPSTREAM:
		upstream_event(e, (struct upstream *)v, events);
		break;
	case K_TCP:
		tcp_event(e, (struct tcpconn *)v, events);
		break;
	case K_PROBE:
		probe_event(e, (struct probe *)v, events);
		break;
	case K_UDPFLOW:
		udp_flow_event(e, (struct udpflow *)v);
		break;
	case K_CTL_LISTEN:
	case K_METRICS_LISTEN:
		lb_eng_ctl_accept(e, v, v->kind == K_CTL_LISTEN ? K_CTL : K_METRICS);
		break;
	case K_CTL:
	case K_METRICS:
		lb_eng_ctl_event(e, (struct ctl *)v, events);
		break;
	case K_MQ:
		lb_eng_mq_process(e);
		break;
	}
}

/* et objects whose state wants what they are ready for (ev_set): their
 * handler, as level-triggered epoll would call it. Objects queued while
 * this runs wait for the next turn (epoll_wait does not block then). */
static void run_pending(struct lb_engine *e)
{
	struct ev head;

	if (e->pend.pnext == &e->pend)
		return;
	head.pnext = e->pend.pnext;
	head.pprev = e->pend.pprev;
	head.pnext->pprev = &head;
	head.pprev->pnext = &head;
	e->pend.pnext = e->pend.pprev = &e->pend;
	while (head.pnext != &head) {
		struct ev *v = head.pnext;
		uint32_t want;

		ev_unpend(v);
		want = ev_ready(v) & v->events;
		if (want)
			dispatch(e, v, want);
	}
}

int lb_engine_run(struct lb_engine *e, struct berr **err)
{
	struct epoll_event evs[64];
	uint64_t last_sweep = 0;

	/* a follower serves until its leader is done too: the leader may wait
	 * for it to apply a request (replicate) up to its last iteration */
	while (!__atomic_load_n(&e->stop, __ATOMIC_RELAXED) ||
	       (e->leader && !__atomic_load_n(&e->leader->done, __ATOMIC_ACQUIRE))) {
		uint64_t now = now_ms(), next = now + SWEEP_MS;
		int n, timeout;

		if (now >= e->hc_due) {
			/* probes, their timeouts and drains: O(targets), only when due */
			run_health_checks(e, now);
			e->hc_due = UINT64_MAX;
			for (size_t i = 0; i < e->n_groups; i++) {
				struct tgrp *g = e->groups[i];
				uint64_t t = g->hc ? lb_tg_next_event(&g->tg)
						   : lb_tg_expire_drains(&g->tg, now);

				if (t < e->hc_due)
					e->hc_due = t;
			}
		}
		if (e->hc_due < next)
			next = e->hc_due;
		timeout = next > now ? (int)(next - now) : 0;
		if (e->pend.pnext != &e->pend)
			timeout = 0; /* objects that can go on already */
		n = epoll_wait(e->epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_set(err, errno, "epoll_wait");
		}
		e->in_poll = true;
		for (int i = 0; i < n; i++) {
			struct ev *v = evs[i].data.ptr;
			uint32_t got = evs[i].events;

			if (v->dead)
				continue;
			if (v->et) {
				/* remember the readiness; hand over what the state wants
				 * (hangups and errors always, as level-triggered epoll) */
				if (got & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
					v->rd = true;
				if (got & (EPOLLRDHUP | EPOLLHUP))
					v->rdhup = true;
				if ((got & (EPOLLRDHUP | EPOLLERR)) == EPOLLRDHUP)
					v->fin = true;
				if (got & (EPOLLOUT | EPOLLHUP | EPOLLERR))
					v->wr = true;
				got = (ev_ready(v) & v->events) | (got & (EPOLLHUP | EPOLLERR));
				if (!got)
					continue;
				ev_unpend(v);
			}
			dispatch(e, v, got);
		}
		e->in_poll = false;
		run_pending(e);
		now = now_ms();
		if (now - last_sweep >= SWEEP_MS) {
			sweep(e, now);
			last_sweep = now;
		}
		reap(e);
	}
	__atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
	return 0;
}

void lb_engine_stop(struct lb_engine *e)
{
	__atomic_store_n(&e->stop, 1, __ATOMIC_RELAXED); /* lock-free: async-signal-safe */
}

void lb_engine_mark_done(struct lb_engine *e)
{
	__atomic_store_n(&e->done, 1, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ configuration */

/* The attributes of a target group present in o, over *cfg. */
int lb_eng_parse_group_attrs(const json_t *o, const char *path, struct lb_tg_config *cfg,
			     bool *enabled, struct berr **err)
{
	const char *s;
	json_t *m;
	int64_t v;
	int r;

	if ((r = bjson_get_bool(o, path, "HealthCheckEnabled", false, enabled, err)) < 0 ||
	    (r = bjson_get_string(o, path, "HealthCheckPath", false, &s, err)) < 0)
		return r;
	if (r == 1) {
		if (s[0] != '/' || strlen(s) >= sizeof(cfg->hc.path) || strpbrk(s, " \r\n"))
			return berr_set(err, EINVAL, "%s.HealthCheckPath: a path starting with /",
					path);
		snprintf(cfg->hc.path, sizeof(cfg->hc.path), "%s", s);
	}
#define SECONDS(key, field)                                                               \
	if ((r = bjson_get_int_range(o, path, key, false, 0, 3600, &v, err)) < 0)         \
		return r;                                                                 \
	if (r == 1)                                                                       \
		cfg->field = (uint32_t)v * 1000u;
	SECONDS("HealthCheckIntervalSeconds", hc.interval_ms)
	SECONDS("HealthCheckTimeoutSeconds", hc.timeout_ms)
	SECONDS("DeregistrationDelaySeconds", deregistration_delay_ms)
#undef SECONDS
	if ((r = bjson_get_int_range(o, path, "HealthyThresholdCount", false, 0, 100, &v, err)) < 0)
		return r;
	if (r == 1)
		cfg->hc.healthy_threshold = (uint32_t)v;
	if ((r = bjson_get_int_range(o, path, "UnhealthyThresholdCount", false, 0, 100, &v, err)) <
	    0)
		return r;
	if (r == 1)
		cfg->hc.unhealthy_threshold = (uint32_t)v;
	if ((r = bjson_get_object(o, path, "Matcher", false, &m, err)) < 0)
		return r;
	if (r == 1) {
		cleanup_free char *mp = bjson_path_key(path, "Matcher");

		if ((r = bjson_get_string(m, mp, "HttpCode", true, &s, err)) < 0)
			return r;
		if ((r = lb_hc_matcher_parse(s, &cfg->hc.matcher, err)) < 0)
			return berr_wrap(err, "%s.HttpCode", mp);
	}
	if ((r = bjson_get_string(o, path, "Algorithm", false, &s, err)) < 0)
		return r;
	if (r == 1) {
		if (strcmp(s, "round_robin") == 0)
			cfg->algorithm = LB_ROUND_ROBIN;
		else if (strcmp(s, "least_outstanding_requests") == 0)
			cfg->algorithm = LB_LEAST_OUTSTANDING;
		else
			return berr_set(err, EINVAL,
					"%s.Algorithm: round_robin or least_outstanding_requests",
					path);
	}
	if ((r = lb_tg_config_check(cfg, err)) < 0)
		return berr_wrap(err, "%s", path);
	return 0;
}

static int parse_group(struct lb_engine *e, const json_t *o, const char *path, struct tgrp *g,
		       struct berr **err)
{
	struct lb_tg_config cfg;
	const char *name, *proto = "HTTP";
	json_t *targets;
	bool enabled = true;
	int r;

	if ((r = bjson_expect_object(o, path, err)) < 0 ||
	    (r = bjson_get_string(o, path, "Name", true, &name, err)) < 0 ||
	    (r = bjson_get_string(o, path, "HealthCheckProtocol", false, &proto, err)) < 0 ||
	    (r = bjson_get_array(o, path, "Targets", false, &targets, err)) < 0)
		return r;
	if (strcmp(proto, "HTTP") != 0 && strcmp(proto, "TCP") != 0)
		return berr_set(err, EINVAL, "%s.HealthCheckProtocol: HTTP or TCP, not %s", path, proto);
	if (!name[0] || strlen(name) > 255)
		return berr_set(err, EINVAL, "%s.Name: 1 to 255 characters", path);
	lb_tg_config_default(&cfg, proto[0] == 'H' ? LB_HC_HTTP : LB_HC_TCP);
	if ((r = lb_eng_parse_group_attrs(o, path, &cfg, &enabled, err)) < 0)
		return r;
	if ((r = lb_tg_init(&g->tg, &cfg, err)) < 0)
		return berr_wrap(err, "%s", path);
	g->name = xstrdup(name);
	g->hc = enabled && !e->follower; /* followers take states from the leader */
	uint64_t now = now_ms();

	for (size_t i = 0; i < json_array_size(targets); i++) {
		json_t *t = json_array_get(targets, i);

		if (!json_is_string(t))
			return berr_set(err, EINVAL, "%s.Targets[%zu]: expected \"ip:port\"", path,
					i);
		if ((r = lb_tg_register(&g->tg, json_string_value(t), now, err)) < 0)
			return berr_wrap(err, "%s.Targets[%zu]", path, i);
	}
	lb_eng_grp_sync_keys(e, g);
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
	fd = socket(family, (l->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (!l->udp) /* inherited by accepted sockets */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (l->udp) {
		/* the address each datagram was sent to: replies leave from it */
		if (family == AF_INET)
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		else
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || (!l->udp && listen(fd, 4096) < 0)) {
		int r = berr_set(err, errno, "listen on %s port %u", addr, (unsigned)l->port);

		close(fd);
		return r;
	}
	l->family = family;
	l->ev.fd = fd;
	memcpy(l->local, a, 16);
	l->local_any = true;
	for (size_t i = 0; i < 16; i++)
		if (a[i])
			l->local_any = false;
	return 0;
}

/* resolve the forward groups of a to the engine's groups */
static int resolve_forward_groups(struct lb_engine *e, struct lb_action *a, const char *path,
				  struct berr **err)
{
	if (a->type != LB_ACTION_FORWARD)
		return 0;
	for (size_t i = 0; i < a->n_groups; i++)
		if (!(a->groups[i].ctx = lb_eng_group_by_name(e, a->groups[i].arn)))
			return berr_set(err, EINVAL, "%s: no target group named %s", path,
					a->groups[i].arn);
	return 0;
}

static bool action_uses(const struct lb_action *a, const struct tgrp *g)
{
	if (a->type != LB_ACTION_FORWARD)
		return false;
	for (size_t i = 0; i < a->n_groups; i++)
		if (a->groups[i].ctx == g)
			return true;
	return false;
}

bool lb_eng_listener_uses(const struct listener *l, const struct tgrp *g)
{
	if (l->tcp_group == g)
		return true;
	if (!l->rules)
		return false;
	for (size_t i = 0; i < l->rules->n; i++)
		if (action_uses(&l->rules->rules[i].action, g))
			return true;
	return action_uses(&l->rules->default_action, g);
}

/* An HTTP listener's rules from Rules + DefaultActions, or TargetGroup. */
int lb_eng_compile_rules(struct lb_engine *e, const json_t *o, const char *path,
			 struct lb_ruleset **out, struct berr **err)
{
	json_auto_t *doc = json_object();
	json_t *rules = json_object_get(o, "Rules"), *defaults = json_object_get(o, "DefaultActions");
	const char *tgname = NULL;
	struct lb_ruleset *rs = NULL;
	int r;

	if ((r = bjson_get_string(o, path, "TargetGroup", false, &tgname, err)) < 0)
		return r;
	if (tgname && defaults)
		return berr_set(err, EINVAL, "%s: TargetGroup or DefaultActions, not both", path);
	if (rules)
		json_object_set(doc, "Rules", rules);
	if (defaults)
		json_object_set(doc, "DefaultActions", defaults);
	else if (tgname)
		json_object_set_new(doc, "DefaultActions",
				    json_pack("[{s:s, s:s}]", "Type", "forward", "TargetGroupArn",
					      tgname));
	if ((r = lb_rules_compile(doc, &rs, err)) < 0)
		return berr_wrap(err, "%s", path);
	for (size_t i = 0; i < rs->n && r >= 0; i++)
		r = resolve_forward_groups(e, &rs->rules[i].action, path, err);
	if (r >= 0)
		r = resolve_forward_groups(e, &rs->default_action, path, err);
	if (r < 0) {
		lb_rules_free(rs);
		return r;
	}
	*out = rs;
	return 0;
}

static int parse_listener(struct lb_engine *e, const json_t *o, const char *path,
			  struct listener *l, struct berr **err)
{
	const char *proto, *addr = "0.0.0.0", *tgname = NULL;
	json_t *rules = NULL, *defaults = NULL;
	double idle = 0;
	int64_t port;
	int r, has_idle;

	if ((r = bjson_expect_object(o, path, err)) < 0 ||
	    (r = bjson_get_int_range(o, path, "Port", true, 1, 65535, &port, err)) < 0 ||
	    (r = bjson_get_string(o, path, "Protocol", true, &proto, err)) < 0 ||
	    (r = bjson_get_string(o, path, "Address", false, &addr, err)) < 0 ||
	    (r = bjson_get_string(o, path, "TargetGroup", false, &tgname, err)) < 0 ||
	    (r = bjson_get_array(o, path, "Rules", false, &rules, err)) < 0 ||
	    (r = has_idle = bjson_get_number(o, path, "IdleTimeoutSeconds", false, &idle, err)) < 0)
		return r;
	/* ALB's idle timeout 60 s, NLB's 350 s for TCP and 120 s for UDP */
	if (!has_idle)
		idle = strcmp(proto, "HTTP") == 0 ? 60 : strcmp(proto, "UDP") == 0 ? 120 : 350;
	defaults = json_object_get(o, "DefaultActions");
	l->port = (uint16_t)port;
	l->ev.kind = K_LISTENER;
	l->ev.fd = -1;
	l->addr = xstrdup(addr);
	if (!(idle >= 0.05 && idle <= 6000))
		return berr_set(err, EINVAL, "%s.IdleTimeoutSeconds: 0.05 to 6000", path);
	l->idle_ms = (uint64_t)(idle * 1000);
	if (strcmp(proto, "TCP") == 0 || strcmp(proto, "UDP") == 0) {
		l->udp = proto[0] == 'U';
		if (!tgname)
			return berr_set(err, EINVAL, "%s.TargetGroup: required for %s", path, proto);
		if (rules || defaults)
			return berr_set(err, EINVAL, "%s: %s listeners have no rules", path, proto);
		if (!(l->tcp_group = lb_eng_group_by_name(e, tgname)))
			return berr_set(err, EINVAL, "%s.TargetGroup: no target group named %s",
					path, tgname);
	} else if (strcmp(proto, "HTTP") == 0) {
		l->http = true;
		if ((r = lb_eng_compile_rules(e, o, path, &l->rules, err)) < 0)
			return r;
	} else {
		return berr_set(err, EINVAL, "%s.Protocol: HTTP, TCP or UDP, not %s", path, proto);
	}
	if ((r = bind_listener(l, addr, err)) < 0)
		return berr_wrap(err, "%s", path);
	return 0;
}

struct listener *lb_eng_find_listener(struct lb_engine *e, uint16_t port, bool udp, size_t *pos)
{
	for (size_t i = 0; i < e->n_listeners; i++)
		if (e->listeners[i]->port == port && e->listeners[i]->udp == udp) {
			if (pos)
				*pos = i;
			return e->listeners[i];
		}
	return NULL;
}

int lb_eng_add_listener(struct lb_engine *e, const json_t *o, const char *path, struct berr **err)
{
	struct listener *l = xzalloc(sizeof(*l));
	const char *proto = NULL;
	json_int_t port = json_integer_value(json_object_get(o, "Port"));
	int r;

	json_unpack((json_t *)o, "{s?s}", "Protocol", &proto);
	if (port > 0 && port < 65536 && proto &&
	    lb_eng_find_listener(e, (uint16_t)port, strcmp(proto, "UDP") == 0, NULL)) {
		free(l);
		return berr_set(err, EEXIST, "%s: a %s listener on port %d exists", path,
				strcmp(proto, "UDP") == 0 ? "UDP" : "TCP", (int)port);
	}
	if ((r = parse_listener(e, o, path, l, err)) < 0) {
		if (l->ev.fd >= 0)
			close(l->ev.fd);
		listener_free(l);
		return r;
	}
	e->listeners = xreallocarray(e->listeners, e->n_listeners + 1, sizeof(*e->listeners));
	e->listeners[e->n_listeners++] = l;
	ev_add(e, &l->ev, EPOLLIN);
	return 0;
}

/* Stop listening; connections accepted on it go on until they end (UDP
 * flows end now: their replies left from its socket). */
void lb_eng_delete_listener(struct lb_engine *e, size_t pos)
{
	struct listener *l = e->listeners[pos];

	memmove(&e->listeners[pos], &e->listeners[pos + 1],
		(e->n_listeners - pos - 1) * sizeof(*e->listeners));
	e->n_listeners--;
	for (size_t i = 0; i < l->n_buckets; i++)
		while (l->flows[i])
			flow_close(e, l->flows[i]);
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, l->ev.fd, NULL);
	close(l->ev.fd);
	l->ev.fd = -1;
	l->ev.dead = true;
	l->deleted = true;
	if (l->refs == 0)
		listener_queue_free(e, l);
}

int lb_eng_add_group(struct lb_engine *e, const json_t *o, const char *path, struct berr **err)
{
	struct tgrp *g = xzalloc(sizeof(*g));
	const char *name = json_string_value(json_object_get(o, "Name"));
	int r;

	if (name && lb_eng_group_by_name(e, name)) {
		free(g);
		return berr_set(err, EEXIST, "%s.Name: %s used twice", path, name);
	}
	if ((r = parse_group(e, o, path, g, err)) < 0) {
		grp_free(g);
		return r;
	}
	e->groups = xreallocarray(e->groups, e->n_groups + 1, sizeof(*e->groups));
	e->groups[e->n_groups++] = g;
	return 0;
}

void lb_eng_delete_group(struct lb_engine *e, size_t pos)
{
	struct tgrp *g = e->groups[pos];

	memmove(&e->groups[pos], &e->groups[pos + 1], (e->n_groups - pos - 1) * sizeof(*e->groups));
	e->n_groups--;
	g->deleted = true;
	for (size_t i = 0; i < g->n_pool; i++)
		lb_eng_pool_drop_target(e, g, i);
	if (g->refs == 0)
		grp_free(g);
}

static int engine_create(const json_t *cfg, struct lb_engine *leader, struct lb_engine **out,
			 struct berr **err)
{
	struct lb_engine *e = xzalloc(sizeof(*e));
	json_t *groups = NULL, *listeners = NULL;
	double timeout = 60;
	int r;

	e->epfd = -1;
	e->ctl_listen.fd = e->metrics_listen.fd = e->mq_ev.fd = -1;
	e->live.next = e->live.prev = &e->live;
	e->pend.pnext = e->pend.pprev = &e->pend;
	e->udp_buf = xmalloc(UDP_MAX);
	pthread_mutex_init(&e->mq_mu, NULL);
	if (getrandom(&e->rnd, sizeof(e->rnd), 0) != sizeof(e->rnd) ||
	    getrandom(&e->flow_seed, sizeof(e->flow_seed), 0) != sizeof(e->flow_seed)) {
		r = berr_set(err, errno ? errno : EIO, "getrandom");
		goto fail;
	}
	e->rnd |= 1;
	if (leader) {
		/* the same flow hashes to the same target in every worker */
		e->follower = true;
		e->leader = leader;
		e->flow_seed = leader->flow_seed;
	}
	if ((r = bjson_expect_object(cfg, "", err)) < 0 ||
	    (r = bjson_get_number(cfg, "", "TargetResponseTimeoutSeconds", false, &timeout, err)) < 0 ||
	    (r = bjson_get_array(cfg, "", "TargetGroups", false, &groups, err)) < 0 ||
	    (r = bjson_get_array(cfg, "", "Listeners", false, &listeners, err)) < 0)
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
	if (leader) {
		e->mq_ev.kind = K_MQ;
		e->mq_ev.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (e->mq_ev.fd < 0) {
			r = berr_set(err, errno, "eventfd");
			goto fail;
		}
		ev_add(e, &e->mq_ev, EPOLLIN);
	}
	for (size_t i = 0; i < json_array_size(groups); i++) {
		cleanup_free char *p = bjson_path_index("TargetGroups", i);

		if ((r = lb_eng_add_group(e, json_array_get(groups, i), p, err)) < 0)
			goto fail;
	}
	for (size_t i = 0; i < json_array_size(listeners); i++) {
		cleanup_free char *p = bjson_path_index("Listeners", i);

		if ((r = lb_eng_add_listener(e, json_array_get(listeners, i), p, err)) < 0)
			goto fail;
	}
	if (leader) {
		leader->peers = xreallocarray(leader->peers, leader->n_peers + 1,
					      sizeof(*leader->peers));
		leader->peers[leader->n_peers++] = e;
	}
	*out = e;
	return 0;
fail:
	lb_engine_free(e);
	return r;
}

int lb_engine_new(const json_t *cfg, struct lb_engine **out, struct berr **err)
{
	return engine_create(cfg, NULL, out, err);
}

int lb_engine_new_worker(const json_t *cfg, struct lb_engine *leader, struct lb_engine **out,
			 struct berr **err)
{
	if (leader->follower)
		return berr_set(err, EINVAL, "a worker's leader must be a first engine");
	return engine_create(cfg, leader, out, err);
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
	while (e->spare_clients) {
		struct client *c = e->spare_clients;

		e->spare_clients = c->spare_next;
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->replay);
		free(c);
	}
	while (e->spare_tcp) {
		struct tcpconn *t = e->spare_tcp;

		e->spare_tcp = t->spare_next;
		buf_free(&t->out);
		free(t);
	}
	for (size_t i = 0; i < e->n_listeners; i++) {
		struct listener *l = e->listeners[i];

		if (l->ev.fd >= 0)
			close(l->ev.fd);
		listener_free(l);
	}
	free(e->listeners);
	for (size_t i = 0; i < e->n_groups; i++)
		grp_free(e->groups[i]);
	free(e->groups);
	if (e->ctl_listen.fd >= 0) {
		close(e->ctl_listen.fd);
		unlink(e->ctl_path);
	}
	free(e->ctl_path);
	if (e->metrics_listen.fd >= 0)
		close(e->metrics_listen.fd);
	if (e->mq_ev.fd >= 0)
		close(e->mq_ev.fd);
	while (e->mq_head) { /* nobody waits: the leader's loop is done */
		struct mq_msg *m = e->mq_head;

		e->mq_head = m->next;
		free(m->req);
		free(m);
	}
	pthread_mutex_destroy(&e->mq_mu);
	free(e->peers);
	free(e->udp_buf);
	if (e->epfd >= 0)
		close(e->epfd);
	free(e);
}

