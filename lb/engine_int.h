/* lb/engine_int.h - the engine's insides, shared by lb/engine.c (the data
 * path, the loop, the configuration) and lb/control.c (workers, metrics,
 * the control API). Not a public interface: only these two include it.
 *
 * Every socket is an object that starts with struct ev (kind, fd, the epoll
 * interest it has, a deadline). Objects that point at a listener or target
 * group hold a reference (refs); deleted ones are freed at refs 0. */
#ifndef BERTH_LB_ENGINE_INT_H
#define BERTH_LB_ENGINE_INT_H

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/error.h"
#include "common/xalloc.h"
#include "lb/engine.h"
#include "lb/flowhash.h"
#include "lb/http.h"
#include "lb/rules.h"
#include "lb/target.h"

#define HIGH (256 * 1024)     /* a buffer this full stops the side that fills it */
#define READ_CHUNK 16384   /* client reads (requests are small) */
#define READ_CHUNK_BIG 32768 /* target responses and L4 relays: a 16 KiB answer in one read */
#define READ_TAIL_MIN 4096 /* free room at a buffer's end worth a read without growing it */
#define CLIENT_IN_MAX (96 * 1024) /* > the 64 KiB head limit */
#define SWEEP_MS 50
#define LINGER_MS 2000
#define POOL_IDLE_MS 15000
#define POOL_MAX_PER_TARGET 1024   /* as many as the concurrency needs; idle ones close after POOL_IDLE_MS */
#define MAX_PROBES_PER_CALL 32
#define SPARE_CLIENTS 64
#define SPARE_TCP 128 /* 64 L4 connections: two halves each */

enum kind {
	K_MQ,
	K_LISTENER,
	K_CLIENT,
	K_UPSTREAM,
	K_TCP,
	K_PROBE,
	K_UDPFLOW,
	K_CTL_LISTEN,
	K_CTL,
	K_METRICS_LISTEN,
	K_METRICS,
};

/* Clients, upstreams and TCP relays (et) are registered once, edge-
 * triggered, for reading and writing; the engine remembers what the kernel
 * reported (rd, wr) until a read or write finds nothing more (EAGAIN, or a
 * short read), and `events` is only the interest the object's state has.
 * ev_set() queues an object whose interest meets remembered readiness on
 * the engine's pending list, and the loop hands it to its handler as
 * level-triggered epoll would have: same handlers, no epoll_ctl per state
 * change. Other objects (listeners, probes, UDP flows, control) are
 * level-triggered and `events` is their epoll interest. */
struct ev {
	enum kind kind;
	int fd;
	uint32_t events;  /* et: the interest; else the epoll interest */
	bool dead;
	bool et;     /* edge-triggered (see above) */
	bool reg;    /* et: added to epoll (accepted sockets: once they must wait) */
	bool rd, wr; /* et: may be readable / writable */
	bool rdhup;  /* et: the peer's FIN (or a hangup) was reported: read until EOF */
	bool fin;    /* et: EPOLLRDHUP without EPOLLERR was reported: the FIN is in */
	bool at_eof; /* et: fin, and a short read emptied the socket: next read is 0 */
	bool queued; /* on the engine's pending list */
	uint64_t deadline; /* 0: none */
	struct ev *next, *prev; /* all live objects (for the sweep) */
	struct ev *dead_next;
	struct ev *pnext, *pprev; /* the pending list */
};

struct buf {
	char *d;
	size_t r, len, cap; /* data is d[r..len) */
};

struct tgrp {
	char *name;
	struct lb_target_group tg;
	bool hc;
	uint64_t *fkeys; /* flowhash keys of tg.t[] (tg.cap of them) */
	size_t n_fkeys;
	/* idle connections to targets: per target slot a LIFO list
	 * (pool[i], pool_n[i] of them), n_pool slots allocated */
	struct upstream **pool;
	uint32_t *pool_n;
	size_t n_pool;
	unsigned refs;         /* live objects that point here (upstreams, probes, flows) */
	bool deleted;          /* no longer in the engine's list: freed at refs 0 */
	uint8_t *pub;          /* leader: the state last published per slot */
	size_t n_pub;
};

struct udpflow;

struct listener {
	struct ev ev;
	uint16_t port;
	bool http, udp;
	int family;
	char *addr;               /* as configured */
	uint8_t local[16];        /* addr as bytes (IPv4: the first 4) */
	bool local_any;           /* addr is a wildcard: getsockname per TCP flow */
	struct lb_ruleset *rules; /* HTTP */
	struct tgrp *tcp_group;   /* TCP and UDP */
	uint64_t idle_ms;         /* IdleTimeoutSeconds: clients, tunnels, relays, flows */
	unsigned refs;            /* clients and flows that point here */
	bool deleted;
	/* UDP flows by 5-tuple: chained hash table, power-of-two buckets */
	struct udpflow **flows;
	size_t n_flows, n_buckets;
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
	bool upgrade; /* the current request asks for a protocol switch */
	uint64_t t_start; /* us: the current request's head was complete */
	struct lb_http_parser p;
	struct lb_http_head h;
	enum lb_http_body body;
	uint64_t body_left;
	struct lb_http_chunked ch;
	bool body_done, keep_alive, http10;
	bool close_now; /* C_CLOSING after a complete exchange, nothing unread: no linger */
	struct upstream *up;
	/* the head sent on a reused pooled connection, for one replay on a new
	 * one when the target closed that connection before answering
	 * (idempotent requests without a body, RFC 9110 9.2.2) */
	struct buf replay;
	bool replay_ok;
	struct client *spare_next; /* on e->spare_clients */
};

struct upstream {
	struct ev ev;
	struct tgrp *g;
	size_t tidx;
	uint32_t tgen;  /* g->tg.t[tidx].gen when connected */
	unsigned tries; /* connect attempts for the current request */
	bool counted; /* holds one of the target's outstanding requests */
	bool reused;  /* taken from the pool for this request */
	bool connecting;
	struct buf in, out;
	struct client *c;       /* NULL: idle in the pool */
	bool pooled;            /* on g->pool[tidx] */
	struct upstream *pool_next, *pool_prev;
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
	bool client_side; /* for the byte counters */
	bool tunnel;      /* an upgraded HTTP connection */
	uint64_t idle_ms; /* client side: the listener's idle timeout */
	struct tcpconn *spare_next; /* on e->spare_tcp */
};

/* A UDP flow: the client's address and the listener address it wrote to,
 * and a socket connected to the flow's target. */
struct udpflow {
	struct ev ev;
	struct listener *l;
	struct tgrp *g;
	size_t tidx;
	uint32_t tgen;
	uint64_t hash;
	struct sockaddr_storage peer;
	socklen_t peer_len;
	uint8_t local[16]; /* the listener address the client wrote to */
	struct udpflow *hnext;
};

/* a control API connection (one JSON request per line) or a metrics scrape */
struct ctl {
	struct ev ev;
	struct buf in, out;
	bool closing;
};

#define LAT_BUCKETS 14
static const double lat_bounds[LAT_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						 0.1,    0.25,  0.5,    1,     2.5,   5,    10 };

/* Counters of one worker: only its thread writes them (ST_ADD: relaxed
 * atomic stores, plain moves on x86), any thread may sum them (stats_sum).
 * All fields are uint64_t (gauges wrap back from "negative" steps). */
struct stats {
	uint64_t by_code[600];
	uint64_t lat[LAT_BUCKETS + 1]; /* last: +Inf */
	uint64_t lat_sum_us;
	uint64_t lat_count;
	uint64_t bytes_in, bytes_out;  /* from and to clients */
	uint64_t conns_total;
	uint64_t active_http, active_tcp, active_udp, active_tunnels;
	uint64_t udp_in, udp_out, udp_dropped;
	uint64_t retries;
};

#define ST_ADD(e, f, n) __atomic_store_n(&(e)->st.f, (e)->st.f + (uint64_t)(n), __ATOMIC_RELAXED)

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
	bool in_poll;
	int epfd;
	int stop; /* atomic: set by signal handlers and other threads */
	uint64_t response_timeout_ms;
	struct tgrp **groups;
	size_t n_groups;
	struct listener **listeners;
	size_t n_listeners;
	struct ev ctl_listen, metrics_listen; /* fd -1: none */
	uint64_t hc_due; /* when run_health_checks has something to do (0: now) */
	char *udp_buf;   /* one datagram */
	/* workers (lb_engine_new_worker): the first engine leads (control
	 * socket, metrics, health checks), the others follow */
	bool follower;
	struct lb_engine *leader; /* follower: the leader */
	int done;                 /* leader: its loop returned (atomic) */
	struct lb_engine **peers; /* leader: its followers */
	size_t n_peers;
	pthread_mutex_t mq_mu;    /* follower: requests from the leader */
	struct mq_msg *mq_head, *mq_tail;
	struct ev mq_ev;          /* eventfd */
	char *ctl_path;
	struct stats st;
	struct ev live; /* list head */
	struct ev *dead;
	struct ev pend; /* list head (pnext, pprev): et objects to hand to their handler */
	/* closed clients kept with their buffers for the next accept (a
	 * Connection: close load allocates nothing per connection) */
	struct client *spare_clients;
	size_t n_spare_clients;
	struct tcpconn *spare_tcp; /* L4 relay halves, out buffer kept */
	size_t n_spare_tcp;
	uint64_t rnd;
	uint64_t flow_seed;
};

struct mq_wait;

/* a control request from the leader to a follower */
struct mq_msg {
	struct mq_msg *next;
	char *req;            /* JSON text */
	struct mq_wait *wait; /* NULL: nobody waits for the answer */
	size_t slot;          /* the answer goes to wait->answers[slot] */
};

struct mq_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
	char **answers;
};

#define UDP_MAX 65536 /* one datagram */

/* ------------------------------------------------------------ helpers */

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline size_t buf_avail(const struct buf *b)
{
	return b->len - b->r;
}

static inline char *buf_data(const struct buf *b)
{
	return b->d + b->r;
}

static inline void buf_reserve(struct buf *b, size_t n)
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

static inline void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->d + b->len, p, n);
	b->len += n;
}

static inline void buf_addf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	/* format in place: no allocation unless the buffer must grow */
	buf_reserve(b, 256);
	va_start(ap, fmt);
	n = vsnprintf(b->d + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(b->d + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static inline void buf_consume(struct buf *b, size_t n)
{
	b->r += n;
	if (b->r == b->len)
		b->r = b->len = 0;
}

static inline void buf_free(struct buf *b)
{
	free(b->d);
	memset(b, 0, sizeof(*b));
}

/* empty b; keep its memory for reuse unless a large body made it big */
static inline void buf_keep_small(struct buf *b)
{
	if (b->cap > 2 * READ_CHUNK_BIG)
		buf_free(b);
	else
		b->r = b->len = 0;
}

static inline ssize_t buf_read(int fd, struct buf *b, size_t max)
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

static inline ssize_t buf_flush(int fd, struct buf *b)
{
	ssize_t done = 0;

	while (buf_avail(b) > 0) {
		ssize_t n = send(fd, buf_data(b), buf_avail(b), MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? done : -errno;
		buf_consume(b, (size_t)n);
		done += n;
	}
	return done;
}

/* buf_read for an et object: at most max bytes held, reads of up to chunk
 * (more when the buffer has the room); clears v->rd once the socket is
 * drained. -EAGAIN also when b is full (then v->rd stays). */
static inline ssize_t ev_read(struct ev *v, struct buf *b, size_t max, size_t chunk)
{
	size_t room = max > buf_avail(b) ? max - buf_avail(b) : 0, want = chunk;
	ssize_t n;

	if (v->at_eof)
		return 0; /* what read would say, without asking it */
	if (room == 0)
		return -EAGAIN;
	if (b->r == 0 && b->cap - b->len > want)
		want = b->cap - b->len; /* use what the buffer has */
	else if (b->cap - b->len >= READ_TAIL_MIN && b->cap - b->len < want)
		want = b->cap - b->len; /* not a regrowth (a copy of all of it) for more */
	if (want > room)
		want = room;
	buf_reserve(b, want);
	n = read(v->fd, b->d + b->len, want);
	if (n < 0) {
		if (errno == EAGAIN)
			v->rd = false;
		return -errno;
	}
	b->len += (size_t)n;
	/* a short read emptied the socket: more data brings a new edge. Unless
	 * a FIN was reported: then all the data before it was queued already,
	 * and the next read returns 0 (SOCK_DONE, even after a reset). The
	 * caller is called again (rd stays) and gets that 0 without a syscall:
	 * one read fewer per closing connection, as HAProxy's read0 on HUP. */
	if (n > 0 && (size_t)n < want) {
		if (!v->rdhup)
			v->rd = false;
		else if (v->fin)
			v->at_eof = true;
	}
	return n;
}

/* buf_flush for an object: et ones only while writable (EAGAIN clears
 * it). `flags` adds to MSG_NOSIGNAL (MSG_MORE: the caller shuts the socket
 * down right after, and the kernel sends the last bytes and the FIN in one
 * segment). */
static inline ssize_t ev_flush_flags(struct ev *v, struct buf *b, int flags)
{
	ssize_t done = 0;

	if (v->et && !v->wr)
		return 0;
	while (buf_avail(b) > 0) {
		ssize_t n = send(v->fd, buf_data(b), buf_avail(b), MSG_NOSIGNAL | flags);

		if (n < 0) {
			if (errno == EAGAIN)
				v->wr = false;
			return errno == EAGAIN || errno == EINTR ? done : -errno;
		}
		buf_consume(b, (size_t)n);
		done += n;
	}
	return done;
}

static inline ssize_t ev_flush(struct ev *v, struct buf *b)
{
	return ev_flush_flags(v, b, 0);
}

static inline uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void ev_link(struct lb_engine *e, struct ev *v, enum kind k, int fd)
{
	v->kind = k;
	v->fd = fd;
	v->next = e->live.next;
	v->prev = &e->live;
	e->live.next->prev = v;
	e->live.next = v;
}

#define EV_ET_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

static inline void ev_pend(struct lb_engine *e, struct ev *v)
{
	if (v->queued || v->dead)
		return;
	v->queued = true;
	v->pnext = &e->pend;
	v->pprev = e->pend.pprev;
	e->pend.pprev->pnext = v;
	e->pend.pprev = v;
}

static inline void ev_unpend(struct ev *v)
{
	if (!v->queued)
		return;
	v->pprev->pnext = v->pnext;
	v->pnext->pprev = v->pprev;
	v->pnext = v->pprev = NULL;
	v->queued = false;
}

/* what an et object may do now, as epoll bits */
static inline uint32_t ev_ready(const struct ev *v)
{
	return (v->rd ? EPOLLIN : 0) | (v->wr ? EPOLLOUT : 0);
}

static inline void ev_set(struct lb_engine *e, struct ev *v, uint32_t want)
{
	struct epoll_event ee = { .events = want, .data.ptr = v };

	if (v->dead)
		return;
	if (v->et) {
		v->events = want;
		if (!v->reg && (want & ~ev_ready(v))) {
			/* it must wait for the kernel now: register (the kernel
			 * reports at once what is ready already) */
			ee.events = EV_ET_EVENTS;
			epoll_ctl(e->epfd, EPOLL_CTL_ADD, v->fd, &ee);
			v->reg = true;
		}
		if (want & ev_ready(v))
			ev_pend(e, v);
		return;
	}
	if (v->events == want)
		return;
	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, v->fd, &ee) < 0 && errno == ENOENT)
		epoll_ctl(e->epfd, EPOLL_CTL_ADD, v->fd, &ee);
	v->events = want;
}

static inline void ev_add(struct lb_engine *e, struct ev *v, uint32_t want)
{
	struct epoll_event ee = { .events = want, .data.ptr = v };

	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, v->fd, &ee) == 0)
		v->events = want;
}

/* register an et object once; want: its interest (the kernel reports the
 * readiness the socket has at once) */
static inline void ev_add_et(struct lb_engine *e, struct ev *v, uint32_t want)
{
	struct epoll_event ee = { .events = EV_ET_EVENTS, .data.ptr = v };

	v->et = true;
	v->reg = true;
	v->events = want;
	epoll_ctl(e->epfd, EPOLL_CTL_ADD, v->fd, &ee);
}

/* an accepted socket: taken as readable and writable, handed to its
 * handler after the current batch (its request has usually arrived by
 * then), and added to epoll only when it must wait (ev_set): a
 * Connection: close exchange often needs no epoll_ctl at all */
static inline void ev_add_et_lazy(struct lb_engine *e, struct ev *v, uint32_t want)
{
	v->et = true;
	v->reg = false;
	v->rd = v->wr = true;
	v->events = want;
	ev_pend(e, v);
}

static inline void ev_kill(struct lb_engine *e, struct ev *v)
{
	if (v->dead)
		return;
	v->dead = true;
	ev_unpend(v);
	if (v->fd >= 0) {
		/* close() takes an fd that no other file refers to out of epoll:
		 * the engine never dups its sockets, so et ones skip the call */
		if (!v->et)
			epoll_ctl(e->epfd, EPOLL_CTL_DEL, v->fd, NULL);
		close(v->fd);
		v->fd = -1;
	}
	v->prev->next = v->next;
	v->next->prev = v->prev;
	v->dead_next = e->dead;
	e->dead = v;
}

static inline socklen_t make_sockaddr(struct sockaddr_storage *ss, int family,
				      const uint8_t addr[16], uint16_t port)
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

/* ------------------------------------------------------------ shared */

/* lb/engine.c: configuration objects (errors name the JSON path) */
struct tgrp *lb_eng_group_by_name(struct lb_engine *e, const char *name);
int lb_eng_add_group(struct lb_engine *e, const json_t *o, const char *path, struct berr **err);
void lb_eng_delete_group(struct lb_engine *e, size_t pos);
/* the attributes of a target group present in o, over *cfg (checked) */
int lb_eng_parse_group_attrs(const json_t *o, const char *path, struct lb_tg_config *cfg,
			     bool *enabled, struct berr **err);
/* flowhash keys for every target slot of g (after registrations) */
void lb_eng_grp_sync_keys(struct lb_engine *e, struct tgrp *g);
/* close the idle pooled connections to target idx of g (deregistered) */
void lb_eng_pool_drop_target(struct lb_engine *e, struct tgrp *g, size_t idx);
int lb_eng_add_listener(struct lb_engine *e, const json_t *o, const char *path,
			struct berr **err);
void lb_eng_delete_listener(struct lb_engine *e, size_t pos);
struct listener *lb_eng_find_listener(struct lb_engine *e, uint16_t port, bool udp,
				      size_t *pos);
bool lb_eng_listener_uses(const struct listener *l, const struct tgrp *g);
/* an HTTP listener's rules from Rules + DefaultActions, or TargetGroup */
int lb_eng_compile_rules(struct lb_engine *e, const json_t *o, const char *path,
			 struct lb_ruleset **out, struct berr **err);

/* lb/control.c */
void lb_eng_ctl_accept(struct lb_engine *e, struct ev *lv, enum kind k);
void lb_eng_ctl_event(struct lb_engine *e, struct ctl *c, uint32_t events);
/* follower: apply the requests the leader posted */
void lb_eng_mq_process(struct lb_engine *e);
/* leader: tell the followers when target idx of g changed its health */
void lb_eng_publish_health(struct lb_engine *e, struct tgrp *g, size_t idx);

#endif
