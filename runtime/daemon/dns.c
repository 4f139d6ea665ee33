/* runtime/daemon/dns.c - berthd's DNS responder: see dns.h.
 *
 * Everything runs in berthd's epoll loop. Objects that own fds (the
 * server's listeners, each forward, each TCP client) have an ev_handler as
 * their first member; they are freed through server_release, and their
 * handlers do nothing once their fd is closed (fd < 0, or s->stopped),
 * since another event of the same batch may still name them. One timerfd
 * serves all deadlines: the forwards and the TCP connections each sit in a
 * list ordered by deadline (every forward gets the same timeout, every
 * connection the same idle time, so appending keeps the order). */
#include "runtime/daemon/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "netns/dnsmsg.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/server.h"

#define TCP_OUT_MAX (256 * 1024)   /* unread answers a TCP client may leave with us */
#define SOA_REFRESH 7200
#define SOA_RETRY 900
#define SOA_EXPIRE 1209600

struct dns_zone {
	char *name;                /* lower case, no final dot */
	char *hostmaster;          /* SOA RNAME */
	uint32_t neg_ttl;
	uint32_t serial;
};

struct dns_inst {
	char *id;                  /* lower case; NULL: not a DNS label */
	char *host;                /* <id>.<fqdn>, or NULL */
	struct in_addr addr;
	uint16_t port;
};

struct dns_svc {
	char *fqdn;
	struct dns_inst *v;        /* those with a name (id) first */
	size_t n, n_named;
	uint32_t a_ttl, srv_ttl;
	enum dns_routing routing;
};

struct listener {
	struct ev_handler h;
	struct dns_server *s;
	int fd;
};

struct tconn {
	struct ev_handler h;
	struct dns_server *s;
	int fd;
	struct tconn *prev, *next;
	uint64_t idle_at;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off;
	bool want_out;             /* EPOLLOUT is on */
	bool broken;               /* a write failed: close when the caller is done */
	bool eof;                  /* the client sent all it will */
	bool busy;                 /* in conn_event: it closes, nothing below it */
	unsigned pending;          /* forwards answering to this connection */
};

struct fwd {
	struct ev_handler h;
	struct dns_server *s;
	int fd;
	struct fwd *prev, *next;
	uint64_t deadline;
	size_t upstream;           /* index being tried */
	bool tcp;                  /* the client (and so the upstream) is on TCP */
	struct tconn *conn;        /* that client; NULL once it went away */
	struct sockaddr_in client; /* a UDP client */
	uint16_t client_id;
	uint8_t *query;            /* the client's query, with our ID for this try */
	size_t qlen;
	uint8_t *io;               /* TCP upstream: the frame out, then the one in */
	size_t io_len, io_off;
	bool reading;
};

struct dns_server {
	struct berthd *d;
	struct dns_config cfg;
	struct listener udp, tcp, timer;
	bool stopped;
	struct dns_zone *zones;
	size_t n_zones;
	struct dns_svc *svcs;
	size_t n_svcs;
	struct fwd *fwd_head, *fwd_tail;
	size_t n_fwd;
	struct tconn *conn_head, *conn_tail;
	size_t n_conns;
	uint64_t rng;
	uint64_t armed;            /* the timer's deadline, 0: disarmed */
	uint8_t in[DNSMSG_TCP_MAX];
	uint8_t out[2 + DNSMSG_TCP_MAX];   /* an answer, after room for TCP's length */
};

/* --- small helpers ----------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t rnd(struct dns_server *s)
{
	/* xorshift64*, seeded from getrandom: answer selection only */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545f4914f6cdd1dULL;
}

static uint16_t random_id(void)
{
	uint16_t id;

	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		id = (uint16_t)(ts.tv_nsec ^ (ts.tv_nsec >> 16));
	}
	return id;
}

static const char *addr_str(const struct sockaddr_in *a, char buf[32])
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(buf, 32, "%s:%u", ip, ntohs(a->sin_port));
	return buf;
}

static bool allowed(const struct dns_server *s, const struct sockaddr_in *a)
{
	uint32_t ip = ntohl(a->sin_addr.s_addr);
	uint32_t mask = s->cfg.allow_prefix ? ~0u << (32 - s->cfg.allow_prefix) : 0;

	if ((ip >> 24) == 127)
		return true;
	return (ip & mask) == (ntohl(s->cfg.allow_net.s_addr) & mask);
}

/* name is `zone` or a name below it */
static bool in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	if (n == z)
		return strcmp(name, zone) == 0;
	return n > z && name[n - z - 1] == '.' && strcmp(name + n - z, zone) == 0;
}

static struct dns_zone *find_zone(struct dns_server *s, const char *name)
{
	struct dns_zone *best = NULL;

	for (size_t i = 0; i < s->n_zones; i++)
		if (in_zone(name, s->zones[i].name) &&
		    (!best || strlen(s->zones[i].name) > strlen(best->name)))
			best = &s->zones[i];
	return best;
}

static struct dns_svc *find_svc(struct dns_server *s, const char *fqdn)
{
	for (size_t i = 0; i < s->n_svcs; i++)
		if (strcmp(s->svcs[i].fqdn, fqdn) == 0)
			return &s->svcs[i];
	return NULL;
}

/* A zone or service name as berth keeps it: lower case, no final dot,
 * valid as a DNS name and not the root. NULL when not valid. */
static char *normalize(const char *name)
{
	uint8_t wire[DNSMSG_NAME_MAX];
	char *r;
	size_t n;

	if (dnsmsg_name_from_text(name, wire) <= 1)
		return NULL;
	r = xstrdup(name);
	n = strlen(r);
	if (n > 0 && r[n - 1] == '.')
		r[n - 1] = '\0';
	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return r;
}

/* --- timers ------------------------------------------------------------ */

static void rearm(struct dns_server *s)
{
	uint64_t at = 0;
	struct itimerspec its = { 0 };

	if (s->fwd_head)
		at = s->fwd_head->deadline;
	if (s->conn_head && (!at || s->conn_head->idle_at < at))
		at = s->conn_head->idle_at;
	if (at == s->armed)
		return;
	s->armed = at;
	its.it_value.tv_sec = (time_t)(at / 1000);
	its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	timerfd_settime(s->timer.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* --- TCP clients ------------------------------------------------------- */

static void conn_unlink(struct dns_server *s, struct tconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conn_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->conn_tail = c->prev;
	c->prev = c->next = NULL;
}

static void conn_append(struct dns_server *s, struct tconn *c)
{
	c->prev = s->conn_tail;
	c->next = NULL;
	if (s->conn_tail)
		s->conn_tail->next = c;
	else
		s->conn_head = c;
	s->conn_tail = c;
}

static void conn_touch(struct tconn *c)
{
	c->idle_at = now_ms() + DNS_TCP_IDLE_MS;
	conn_unlink(c->s, c);
	conn_append(c->s, c);
}

static void conn_free(void *p)
{
	struct tconn *c = p;

	free(c->in);
	free(c->out);
	free(c);
}

/* Close c and free it (now, or after the current batch); c must not be
 * used after this. */
static void conn_close(struct tconn *c)
{
	struct dns_server *s = c->s;

	for (struct fwd *f = s->fwd_head; f; f = f->next)
		if (f->conn == c)
			f->conn = NULL;
	server_unwatch(s->d, c->fd);
	close(c->fd);
	c->fd = -1;
	conn_unlink(s, c);
	s->n_conns--;
	server_release(s->d, &c->h, NULL, c, conn_free);
}

static void conn_flush(struct tconn *c)
{
	bool want;

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->broken = true;
			break;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	want = c->out_len > 0;
	if (want != c->want_out && !c->broken) {
		c->want_out = want;
		server_watch(c->s->d, c->fd, (c->eof ? 0 : EPOLLIN | EPOLLRDHUP) | (want ? EPOLLOUT : 0),
			     &c->h);
	}
}

/* nothing to write and nothing coming */
static bool conn_idle(const struct tconn *c)
{
	return c->pending == 0 && c->out_len == 0;
}

/* Queue one message (its length prefix added here) and write what the
 * socket takes. */
static void conn_send(struct tconn *c, const uint8_t *msg, size_t len)
{
	if (c->broken)
		return;
	if (c->out_len - c->out_off + 2 + len > TCP_OUT_MAX) {
		/* a client that does not read its answers */
		c->broken = true;
		return;
	}
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	c->out = xrealloc(c->out, c->out_len + 2 + len);
	c->out[c->out_len] = (uint8_t)(len >> 8);
	c->out[c->out_len + 1] = (uint8_t)len;
	memcpy(c->out + c->out_len + 2, msg, len);
	c->out_len += 2 + len;
	conn_flush(c);
}

/* --- answers ----------------------------------------------------------- */

static void send_answer(struct dns_server *s, const uint8_t *msg, size_t len,
			const struct sockaddr_in *from, struct tconn *conn)
{
	if (conn) {
		conn_send(conn, msg, len);
		return;
	}
	if (sendto(s->udp.fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)from,
		   sizeof(*from)) < 0)
		log_debug("dns: answer to %s: %s", addr_str(from, (char[32]){ 0 }), strerror(errno));
}

static void reply(struct dns_server *s, const struct dnsmsg_query *q, const struct dnsmsg_answer *a,
		  const struct sockaddr_in *from, struct tconn *conn)
{
	size_t max = conn ? DNSMSG_TCP_MAX : q->udp_size;
	ssize_t n = dnsmsg_build_response(q, a, max, s->out + 2, sizeof(s->out) - 2);

	if (n < 0) {
		log_debug("dns: cannot build the answer to %s: %s", q->qname, strerror((int)-n));
		return;
	}
	send_answer(s, s->out + 2, (size_t)n, from, conn);
}

static void reply_rcode(struct dns_server *s, const struct dnsmsg_query *q, uint8_t rcode,
			const struct sockaddr_in *from, struct tconn *conn)
{
	struct dnsmsg_answer a = { .rcode = rcode, .ra = s->cfg.n_upstream > 0 };

	reply(s, q, &a, from, conn);
}

/* k (<= limit) distinct random indices below n; all of them, shuffled,
 * when n <= limit. */
static size_t pick(struct dns_server *s, size_t n, size_t limit, size_t *idx)
{
	size_t k = 0;

	if (n <= limit) {
		for (size_t i = 0; i < n; i++) {
			size_t j = rnd(s) % (i + 1);

			idx[i] = idx[j];
			idx[j] = i;
		}
		return n;
	}
	while (k < limit) {
		size_t r = rnd(s) % n;
		bool dup = false;

		for (size_t i = 0; i < k; i++)
			dup |= idx[i] == r;
		if (!dup)
			idx[k++] = r;
	}
	return k;
}

static uint32_t inst_ttl(const struct dns_svc *v)
{
	return v->srv_ttl ? v->srv_ttl : v->a_ttl;
}

static void answer_zone(struct dns_server *s, const struct dns_zone *z, const struct dnsmsg_query *q,
			const struct sockaddr_in *from, struct tconn *conn)
{
	struct dnsmsg_rr an[2 * DNS_MAX_ANSWERS + 1], ar[DNS_MAX_ANSWERS], soa;
	struct dnsmsg_answer a = { .aa = true, .ra = s->cfg.n_upstream > 0, .an = an, .ar = ar };
	bool want_a = q->qtype == DNSMSG_A || q->qtype == DNSMSG_ANY;
	bool want_srv = q->qtype == DNSMSG_SRV || q->qtype == DNSMSG_ANY;
	bool exists = false;
	const struct dns_svc *v;
	size_t idx[DNS_MAX_ANSWERS];

	if (q->qclass != DNSMSG_CLASS_IN && q->qclass != DNSMSG_CLASS_ANY) {
		reply_rcode(s, q, DNSMSG_REFUSED, from, conn);
		return;
	}
	soa = (struct dnsmsg_rr){
		.name = z->name, .type = DNSMSG_SOA, .ttl = z->neg_ttl,
		.u.soa = { .mname = z->name, .rname = z->hostmaster, .serial = z->serial,
			   .refresh = SOA_REFRESH, .retry = SOA_RETRY, .expire = SOA_EXPIRE,
			   .minimum = z->neg_ttl },
	};
	if (strcmp(q->qname, z->name) == 0) {
		exists = true;
		if (q->qtype == DNSMSG_SOA || q->qtype == DNSMSG_ANY) {
			an[a.n_an] = soa;
			an[a.n_an++].name = NULL;
		}
	}
	if ((v = find_svc(s, q->qname))) {
		size_t lim = v->routing == DNS_WEIGHTED ? 1 : DNS_MAX_ANSWERS;

		exists = true;
		if (want_a && v->a_ttl > 0) {
			size_t k = pick(s, v->n, lim, idx);

			for (size_t i = 0; i < k; i++)
				an[a.n_an++] = (struct dnsmsg_rr){ .type = DNSMSG_A, .ttl = v->a_ttl,
								   .u.a = v->v[idx[i]].addr };
		}
		if (want_srv && v->srv_ttl > 0) {
			size_t k = pick(s, v->n_named, lim, idx);

			for (size_t i = 0; i < k; i++) {
				const struct dns_inst *in = &v->v[idx[i]];

				an[a.n_an++] = (struct dnsmsg_rr){
					.type = DNSMSG_SRV, .ttl = v->srv_ttl,
					.u.srv = { .priority = 1, .weight = 1, .port = in->port,
						   .target = in->host },
				};
				ar[a.n_ar++] = (struct dnsmsg_rr){ .name = in->host, .type = DNSMSG_A,
								   .ttl = inst_ttl(v), .u.a = in->addr };
			}
		}
	} else {
		/* <id>.<service>: ids are plain labels, so an escaped dot never matches */
		const char *dot = strchr(q->qname, '.');

		if (dot && (v = find_svc(s, dot + 1)) && inst_ttl(v) > 0) {
			for (size_t i = 0; i < v->n_named; i++) {
				const struct dns_inst *in = &v->v[i];

				if (strlen(in->id) != (size_t)(dot - q->qname) ||
				    memcmp(in->id, q->qname, strlen(in->id)) != 0)
					continue;
				exists = true;
				if (want_a)
					an[a.n_an++] = (struct dnsmsg_rr){ .type = DNSMSG_A,
									   .ttl = inst_ttl(v),
									   .u.a = in->addr };
				break;
			}
		}
	}
	/* a name above a service exists too (an empty non-terminal) */
	for (size_t i = 0; i < s->n_svcs && !exists; i++)
		exists = strcmp(s->svcs[i].fqdn, q->qname) != 0 && in_zone(s->svcs[i].fqdn, q->qname);
	if (!exists)
		a.rcode = DNSMSG_NXDOMAIN;
	if (a.n_an == 0) {
		a.ns = &soa;
		a.n_ns = 1;
	}
	log_debug("dns: %s type %u from %s: %s, %zu answers", q->qname, q->qtype,
		  conn ? "tcp" : addr_str(from, (char[32]){ 0 }), exists ? "found" : "NXDOMAIN", a.n_an);
	reply(s, q, &a, from, conn);
}

/* --- forwarding -------------------------------------------------------- */

static void fwd_unlink(struct dns_server *s, struct fwd *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		s->fwd_head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		s->fwd_tail = f->prev;
	f->prev = f->next = NULL;
}

static void fwd_append(struct dns_server *s, struct fwd *f)
{
	f->prev = s->fwd_tail;
	f->next = NULL;
	if (s->fwd_tail)
		s->fwd_tail->next = f;
	else
		s->fwd_head = f;
	s->fwd_tail = f;
}

static void fwd_free(void *p)
{
	struct fwd *f = p;

	free(f->query);
	free(f->io);
	free(f);
}

static void fwd_close_fd(struct fwd *f)
{
	if (f->fd < 0)
		return;
	server_unwatch(f->s->d, f->fd);
	close(f->fd);
	f->fd = -1;
}

/* Done with f (answered or given up): free it, now or after the batch. */
static void fwd_done(struct fwd *f)
{
	struct dns_server *s = f->s;

	fwd_close_fd(f);
	fwd_unlink(s, f);
	s->n_fwd--;
	if (f->conn)
		f->conn->pending--;
	server_release(s->d, &f->h, NULL, f, fwd_free);
}

/* Hand msg (a reply, or our SERVFAIL) to f's client, with its ID. */
static void fwd_deliver(struct fwd *f, uint8_t *msg, size_t len)
{
	struct tconn *c = f->conn;

	dnsmsg_set_id(msg, f->client_id);
	/* as a recursive resolver answers: recursion available, and not
	 * authoritative (the upstream's AA is about its own zones) */
	if (len >= DNSMSG_HEADER_LEN) {
		msg[2] &= (uint8_t)~(DNSMSG_F_AA >> 8);
		msg[3] |= (uint8_t)DNSMSG_F_RA;
	}
	if (f->tcp) {
		if (!c)
			return;
		conn_send(c, msg, len);
		/* this forward is still counted in c->pending; a query that
		 * failed at once is answered from inside conn_event, which
		 * closes c itself */
		if (!c->busy && (c->broken || (c->eof && c->pending == 1 && c->out_len == 0)))
			conn_close(c);
		return;
	}
	send_answer(f->s, msg, len, &f->client, NULL);
}

static void fwd_servfail(struct fwd *f)
{
	struct dns_server *s = f->s;
	struct dnsmsg_query q;
	struct dnsmsg_answer a = { .rcode = DNSMSG_SERVFAIL, .ra = true };
	ssize_t n;

	log_debug("dns: no upstream answered for query %u", f->client_id);
	if (dnsmsg_parse_query(f->query, f->qlen, &q) < 0)
		return;
	q.id = f->client_id;
	n = dnsmsg_build_response(&q, &a, f->tcp ? DNSMSG_TCP_MAX : q.udp_size, s->out + 2,
				  sizeof(s->out) - 2);
	if (n > 0)
		fwd_deliver(f, s->out + 2, (size_t)n);
}

static void fwd_event(struct ev_handler *h, uint32_t events);

/* Send f's query to upstream f->upstream. 0 or -errno. */
static int fwd_send(struct fwd *f)
{
	struct dns_server *s = f->s;
	const struct sockaddr_in *up = &s->cfg.upstream[f->upstream];
	int type = f->tcp ? SOCK_STREAM : SOCK_DGRAM;
	int r;

	fwd_close_fd(f);
	dnsmsg_set_id(f->query, random_id());
	f->fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd < 0)
		return -errno;
	/* connected: the kernel drops datagrams from anyone but the upstream */
	if (connect(f->fd, (const struct sockaddr *)up, sizeof(*up)) < 0 && errno != EINPROGRESS)
		return -errno;
	if (f->tcp) {
		free(f->io);
		f->io = xmalloc(2 + f->qlen);
		f->io[0] = (uint8_t)(f->qlen >> 8);
		f->io[1] = (uint8_t)f->qlen;
		memcpy(f->io + 2, f->query, f->qlen);
		f->io_len = 2 + f->qlen;
		f->io_off = 0;
		f->reading = false;
		r = server_watch(s->d, f->fd, EPOLLOUT, &f->h);
	} else {
		if (send(f->fd, f->query, f->qlen, MSG_NOSIGNAL) < 0)
			return -errno;
		r = server_watch(s->d, f->fd, EPOLLIN, &f->h);
	}
	if (r < 0)
		return r;
	f->deadline = now_ms() + s->cfg.forward_timeout_ms;
	fwd_unlink(s, f);
	fwd_append(s, f);
	return 0;
}

/* Try upstreams from f->upstream on; when none takes the query, SERVFAIL
 * and done. */
static void fwd_try(struct fwd *f)
{
	for (; f->upstream < f->s->cfg.n_upstream; f->upstream++) {
		int r = fwd_send(f);

		if (r == 0)
			return;
		log_debug("dns: forward to upstream %zu: %s", f->upstream, strerror(-r));
	}
	fwd_servfail(f);
	fwd_done(f);
}

static void fwd_next(struct fwd *f)
{
	f->upstream++;
	fwd_try(f);
}

static void fwd_got(struct fwd *f, uint8_t *msg, size_t len)
{
	fwd_deliver(f, msg, len);
	fwd_done(f);
}

static void fwd_event_udp(struct fwd *f)
{
	uint8_t *buf = f->s->in;

	for (;;) {
		ssize_t n = recv(f->fd, buf, sizeof(f->s->in), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* ICMP port unreachable and the like: the next one */
			fwd_next(f);
			return;
		}
		if (!dnsmsg_reply_matches(f->query, f->qlen, buf, (size_t)n)) {
			log_debug("dns: ignored a reply from upstream %zu that does not match the query",
				  f->upstream);
			continue;
		}
		fwd_got(f, buf, (size_t)n);
		return;
	}
}

static void fwd_event_tcp(struct fwd *f, uint32_t events)
{
	if (!f->reading) {
		while (f->io_off < f->io_len) {
			ssize_t n = send(f->fd, f->io + f->io_off, f->io_len - f->io_off, MSG_NOSIGNAL);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN && !(events & (EPOLLERR | EPOLLHUP)))
					return;
				fwd_next(f);
				return;
			}
			f->io_off += (size_t)n;
		}
		f->reading = true;
		f->io = xrealloc(f->io, 2 + DNSMSG_TCP_MAX);
		f->io_len = f->io_off = 0;
		if (server_watch(f->s->d, f->fd, EPOLLIN | EPOLLRDHUP, &f->h) < 0)
			fwd_next(f);
		return;
	}
	for (;;) {
		size_t want = f->io_off < 2 ? 2 : 2 + ((size_t)f->io[0] << 8 | f->io[1]);
		ssize_t n;

		if (f->io_off >= 2 && f->io_off == want) {
			if (!dnsmsg_reply_matches(f->query, f->qlen, f->io + 2, want - 2)) {
				fwd_next(f);
				return;
			}
			fwd_got(f, f->io + 2, want - 2);
			return;
		}
		n = recv(f->fd, f->io + f->io_off, want - f->io_off, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			fwd_next(f);
			return;
		}
		f->io_off += (size_t)n;
	}
}

static void fwd_event(struct ev_handler *h, uint32_t events)
{
	struct fwd *f = (struct fwd *)h;
	struct dns_server *s = f->s;

	if (f->fd < 0 || s->stopped)
		return;
	if (f->tcp)
		fwd_event_tcp(f, events);
	else
		fwd_event_udp(f);
	rearm(s);
}

static void forward(struct dns_server *s, const uint8_t *msg, size_t len, const struct dnsmsg_query *q,
		    const struct sockaddr_in *from, struct tconn *conn)
{
	struct fwd *f;

	if (s->n_fwd >= DNS_MAX_PENDING) {
		log_debug("dns: %zu forwards in flight, SERVFAIL for %s", s->n_fwd, q->qname);
		reply_rcode(s, q, DNSMSG_SERVFAIL, from, conn);
		return;
	}
	log_debug("dns: forward %s type %u", q->qname, q->qtype);
	f = xzalloc(sizeof(*f));
	f->h.fn = fwd_event;
	f->s = s;
	f->fd = -1;
	f->tcp = conn != NULL;
	f->conn = conn;
	if (from)
		f->client = *from;
	f->client_id = q->id;
	f->query = xmemdup(msg, len);
	f->qlen = len;
	if (conn)
		conn->pending++;
	fwd_append(s, f);
	s->n_fwd++;
	fwd_try(f);
}

/* One query from a UDP client (from) or a TCP one (conn). */
static void handle_query(struct dns_server *s, const uint8_t *msg, size_t len, const struct sockaddr_in *from,
			 struct tconn *conn)
{
	struct dnsmsg_query q;
	struct dns_zone *z;
	int r = dnsmsg_parse_query(msg, len, &q);

	if (r < 0)
		return;
	if (r > 0) {
		reply_rcode(s, &q, (uint8_t)r, from, conn);
		return;
	}
	z = find_zone(s, q.qname);
	if (z) {
		answer_zone(s, z, &q, from, conn);
		return;
	}
	if (s->cfg.n_upstream == 0) {
		reply_rcode(s, &q, DNSMSG_REFUSED, from, conn);
		return;
	}
	forward(s, msg, len, &q, from, conn);
}

/* --- listeners --------------------------------------------------------- */

static void udp_event(struct ev_handler *h, uint32_t events)
{
	struct dns_server *s = ((struct listener *)h)->s;

	(void)events;
	/* a bounded batch: the loop comes back while more are queued */
	for (int i = 0; i < 64 && !s->stopped; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->udp.fd, s->in, sizeof(s->in), 0, (struct sockaddr *)&from, &fl);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fl != sizeof(from) || from.sin_family != AF_INET || !allowed(s, &from)) {
			log_debug("dns: dropped a query from %s (not allowed)", addr_str(&from, (char[32]){ 0 }));
			continue;
		}
		handle_query(s, s->in, (size_t)n, &from, NULL);
	}
	if (!s->stopped)
		rearm(s);
}

static void conn_event(struct ev_handler *h, uint32_t events)
{
	struct tconn *c = (struct tconn *)h;
	struct dns_server *s = c->s;

	if (c->fd < 0 || s->stopped)
		return;
	if (events & EPOLLOUT)
		conn_flush(c);
	c->busy = true;
	while (!c->eof && !c->broken) {
		size_t want = c->in_len < 2 ? 2 : 2 + ((size_t)c->in[0] << 8 | c->in[1]);
		ssize_t n;

		if (c->in_len >= 2 && c->in_len == want) {
			/* one whole query (RFC 7766 allows several in a row) */
			conn_touch(c);
			handle_query(s, c->in + 2, want - 2, NULL, c);
			c->in_len = 0;
			continue;
		}
		if (c->in_cap < want) {
			c->in_cap = want;
			c->in = xrealloc(c->in, c->in_cap);
		}
		n = recv(c->fd, c->in + c->in_len, want - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->eof = true;
			/* answers being forwarded may still go out (a client that only
			 * shut down its side); stop reading */
			server_watch(s->d, c->fd, c->want_out ? EPOLLOUT : 0, &c->h);
		} else {
			c->in_len += (size_t)n;
		}
	}
	c->busy = false;
	if (c->broken || (c->eof && ((events & (EPOLLHUP | EPOLLERR)) || conn_idle(c))))
		conn_close(c);
	rearm(s);
}

static void tcp_event(struct ev_handler *h, uint32_t events)
{
	struct dns_server *s = ((struct listener *)h)->s;

	(void)events;
	for (int i = 0; i < 16 && !s->stopped; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		int fd = accept4(s->tcp.fd, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tconn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		if (fl != sizeof(from) || from.sin_family != AF_INET || !allowed(s, &from) ||
		    s->n_conns >= DNS_MAX_TCP) {
			log_debug("dns: closed a TCP connection from %s (%s)", addr_str(&from, (char[32]){ 0 }),
				  s->n_conns >= DNS_MAX_TCP ? "too many" : "not allowed");
			close(fd);
			continue;
		}
		c = xzalloc(sizeof(*c));
		c->h.fn = conn_event;
		c->s = s;
		c->fd = fd;
		c->idle_at = now_ms() + DNS_TCP_IDLE_MS;
		if (server_watch(s->d, fd, EPOLLIN | EPOLLRDHUP, &c->h) < 0) {
			close(fd);
			free(c);
			continue;
		}
		conn_append(s, c);
		s->n_conns++;
	}
	if (!s->stopped)
		rearm(s);
}

static void timer_event(struct ev_handler *h, uint32_t events)
{
	struct dns_server *s = ((struct listener *)h)->s;
	uint64_t now, ticks;

	(void)events;
	if (s->stopped)
		return;
	if (read(s->timer.fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("dns: read timerfd: %s", strerror(errno));
	s->armed = 0;
	now = now_ms();
	/* a retry moves the forward to the tail with a later deadline */
	while (s->fwd_head && s->fwd_head->deadline <= now) {
		log_debug("dns: upstream %zu timed out", s->fwd_head->upstream);
		fwd_next(s->fwd_head);
	}
	while (s->conn_head && s->conn_head->idle_at <= now) {
		struct tconn *c = s->conn_head;

		if (c->pending > 0) {
			conn_touch(c);
			continue;
		}
		conn_close(c);
	}
	rearm(s);
}

/* --- lifecycle --------------------------------------------------------- */

static void svc_clear(struct dns_svc *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free(v->v[i].id);
		free(v->v[i].host);
	}
	free(v->v);
	v->v = NULL;
	v->n = v->n_named = 0;
}

static void server_free(void *p)
{
	struct dns_server *s = p;

	for (size_t i = 0; i < s->n_svcs; i++) {
		svc_clear(&s->svcs[i]);
		free(s->svcs[i].fqdn);
	}
	free(s->svcs);
	for (size_t i = 0; i < s->n_zones; i++) {
		free(s->zones[i].name);
		free(s->zones[i].hostmaster);
	}
	free(s->zones);
	free(s);
}

static void listener_close(struct dns_server *s, struct listener *l)
{
	if (l->fd < 0)
		return;
	server_unwatch(s->d, l->fd);
	close(l->fd);
	l->fd = -1;
}

void dns_server_stop(struct dns_server *s)
{
	if (!s || s->stopped)
		return;
	s->stopped = true;
	while (s->fwd_head) {
		s->fwd_head->conn = NULL;
		fwd_done(s->fwd_head);
	}
	while (s->conn_head)
		conn_close(s->conn_head);
	listener_close(s, &s->udp);
	listener_close(s, &s->tcp);
	listener_close(s, &s->timer);
	/* the timer's handler checks s->stopped */
	server_release(s->d, &s->udp.h, &s->tcp.h, s, server_free);
}

static int bind_socket(struct dns_server *s, int type, struct berr **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(s->cfg.port),
				  .sin_addr = s->cfg.listen };
	const char *what = type == SOCK_DGRAM ? "udp" : "tcp";
	cleanup_close int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	char a[32];

	if (fd < 0)
		return berr_set(err, errno, "dns: %s socket", what);
	/* the bridge and its address may come only with the first task */
	if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0)
		return berr_set(err, errno, "dns: %s socket: IP_FREEBIND", what);
	if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return berr_set(err, errno, "dns: %s socket: SO_REUSEADDR", what);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return berr_set(err, errno, "dns: bind %s %s", what, addr_str(&sa, a));
	if (type == SOCK_STREAM && listen(fd, 64) < 0)
		return berr_set(err, errno, "dns: listen on %s", addr_str(&sa, a));
	return steal_fd(&fd);
}

int dns_server_start(struct berthd *d, const struct dns_config *c, struct dns_server **out,
		     struct berr **err)
{
	struct dns_server *s;
	int r;

	if (c->n_upstream > 4 || c->allow_prefix > 32)
		return berr_set(err, EINVAL, "dns: %zu upstreams (at most 4), allow prefix /%u",
				c->n_upstream, c->allow_prefix);
	s = xzalloc(sizeof(*s));
	s->d = d;
	s->cfg = *c;
	if (!s->cfg.forward_timeout_ms)
		s->cfg.forward_timeout_ms = DNS_FORWARD_TIMEOUT_MS;
	s->udp = (struct listener){ .h.fn = udp_event, .s = s, .fd = -1 };
	s->tcp = (struct listener){ .h.fn = tcp_event, .s = s, .fd = -1 };
	s->timer = (struct listener){ .h.fn = timer_event, .s = s, .fd = -1 };
	if (getrandom(&s->rng, sizeof(s->rng), 0) != (ssize_t)sizeof(s->rng))
		s->rng = now_ms();
	s->rng |= 1;
	if ((r = bind_socket(s, SOCK_DGRAM, err)) < 0)
		goto fail;
	s->udp.fd = r;
	if ((r = bind_socket(s, SOCK_STREAM, err)) < 0)
		goto fail;
	s->tcp.fd = r;
	s->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timer.fd < 0) {
		r = berr_set(err, errno, "dns: timerfd_create");
		goto fail;
	}
	if ((r = server_watch(d, s->udp.fd, EPOLLIN, &s->udp.h)) < 0 ||
	    (r = server_watch(d, s->tcp.fd, EPOLLIN, &s->tcp.h)) < 0 ||
	    (r = server_watch(d, s->timer.fd, EPOLLIN, &s->timer.h)) < 0) {
		r = berr_set(err, r, "dns: epoll_ctl");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	listener_close(s, &s->udp);
	listener_close(s, &s->tcp);
	listener_close(s, &s->timer);
	server_free(s);
	return r;
}

/* --- records ----------------------------------------------------------- */

static void svc_remove_at(struct dns_server *s, size_t i)
{
	svc_clear(&s->svcs[i]);
	free(s->svcs[i].fqdn);
	s->svcs[i] = s->svcs[--s->n_svcs];
}

static void bump_serial(struct dns_server *s, const char *name)
{
	struct dns_zone *z = find_zone(s, name);

	if (z)
		z->serial++;
}

int dns_zone_add(struct dns_server *s, const char *zone, uint32_t negative_ttl, struct berr **err)
{
	cleanup_free char *name = normalize(zone);
	struct dns_zone *z;

	if (!name)
		return berr_set(err, EINVAL, "dns zone \"%s\": not a valid DNS name", berr_q(zone));
	for (size_t i = 0; i < s->n_zones; i++)
		if (strcmp(s->zones[i].name, name) == 0) {
			s->zones[i].neg_ttl = negative_ttl;
			s->zones[i].serial++;
			return 0;
		}
	if (strlen(name) + strlen("hostmaster.") > 253)
		return berr_set(err, EINVAL, "dns zone \"%s\": name too long", berr_q(zone));
	s->zones = xreallocarray(s->zones, s->n_zones + 1, sizeof(*s->zones));
	z = &s->zones[s->n_zones++];
	z->hostmaster = xasprintf("hostmaster.%s", name);
	z->name = steal_pointer(&name);
	z->neg_ttl = negative_ttl;
	z->serial = (uint32_t)time(NULL);
	return 0;
}

void dns_zone_remove(struct dns_server *s, const char *zone)
{
	cleanup_free char *name = normalize(zone);

	if (!name)
		return;
	for (size_t i = 0; i < s->n_zones; i++) {
		if (strcmp(s->zones[i].name, name) != 0)
			continue;
		for (size_t k = s->n_svcs; k-- > 0;)
			if (in_zone(s->svcs[k].fqdn, name))
				svc_remove_at(s, k);
		free(s->zones[i].name);
		free(s->zones[i].hostmaster);
		s->zones[i] = s->zones[--s->n_zones];
		return;
	}
}

int dns_service_set(struct dns_server *s, const char *fqdn, const struct dns_instance *v, size_t n,
		    uint32_t a_ttl, uint32_t srv_ttl, enum dns_routing routing, struct berr **err)
{
	cleanup_free char *name = normalize(fqdn);
	struct dns_zone *z = name ? find_zone(s, name) : NULL;
	struct dns_svc nv = { 0 }, *old;
	uint8_t wire[DNSMSG_NAME_MAX];

	if (!name)
		return berr_set(err, EINVAL, "dns name \"%s\": not a valid DNS name", berr_q(fqdn));
	if (!z || strcmp(z->name, name) == 0)
		return berr_set(err, EINVAL, "dns name %s: not below a zone berthd serves", name);
	if (routing != DNS_MULTIVALUE && routing != DNS_WEIGHTED)
		return berr_set(err, EINVAL, "dns name %s: unknown routing policy %d", name, (int)routing);
	/* instances whose id is no DNS label (Cloud Map allows '.', '/', ':'
	 * and '@', and 64 bytes) keep their A record under fqdn but get no
	 * name of their own, so no SRV record: named ones first, then those */
	nv.v = xcalloc(n ? n : 1, sizeof(*nv.v));
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			cleanup_free char *host = NULL;
			bool named = v[i].id && !strchr(v[i].id, '.') &&
				     dnsmsg_name_from_text(v[i].id, wire) > 1;

			if (named) {
				host = xasprintf("%s.%s", v[i].id, name);
				named = dnsmsg_name_from_text(host, wire) > 0;
			}
			if (named != (pass == 0))
				continue;
			if (!named)
				log_debug("dns: %s: instance %s gets no name of its own (not a DNS label)",
					  name, berr_q(v[i].id ? v[i].id : ""));
			nv.v[nv.n] = (struct dns_inst){ .addr = v[i].addr, .port = v[i].port };
			if (named) {
				for (char *p = host; *p; p++)
					if (*p >= 'A' && *p <= 'Z')
						*p = (char)(*p + 32);
				nv.v[nv.n].id = xstrndup(host, strlen(v[i].id));
				nv.v[nv.n].host = steal_pointer(&host);
				nv.n_named++;
			}
			nv.n++;
		}
	}
	nv.a_ttl = a_ttl;
	nv.srv_ttl = srv_ttl;
	nv.routing = routing;
	if ((old = find_svc(s, name))) {
		svc_clear(old);
		nv.fqdn = old->fqdn;
		*old = nv;
	} else {
		nv.fqdn = steal_pointer(&name);
		s->svcs = xreallocarray(s->svcs, s->n_svcs + 1, sizeof(*s->svcs));
		s->svcs[s->n_svcs++] = nv;
	}
	z->serial++;
	return 0;
}

void dns_service_remove(struct dns_server *s, const char *fqdn)
{
	cleanup_free char *name = normalize(fqdn);

	if (!name)
		return;
	for (size_t i = 0; i < s->n_svcs; i++)
		if (strcmp(s->svcs[i].fqdn, name) == 0) {
			svc_remove_at(s, i);
			bump_serial(s, name);
			return;
		}
}
