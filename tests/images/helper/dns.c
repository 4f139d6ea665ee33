/* tests/images/helper/dns.c - DNS for berth-testhelper: a small wire
 * encoder/decoder (RFC 1035), one query/answer exchange over UDP or TCP, and
 * the stub resolver behind net_resolve (the nameservers of resolv.conf).
 *
 * Everything that reads a message is bounds-checked against its length:
 * the replies come from the runtime under test, and a malformed one must
 * become an "exit 8", never a crash. Compression pointers must point
 * strictly backwards, so a name cannot loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "helper.h"

/* ------------------------------------------------------------------ names */

int dns_name_from_text(const char *text, uint8_t *wire, size_t cap)
{
	const char *p = text;
	size_t out = 0;

	if (!strcmp(text, ".")) {
		if (cap < 1)
			return -1;
		wire[0] = 0;
		return 1;
	}
	if (!*text)
		return -1;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);

		if (l == 0 || l > 63)
			return -1;
		/* this label, and at least the root after it */
		if (out + 1 + l + 1 > DNS_WIRE_MAX || out + 1 + l + 1 > cap)
			return -1;
		wire[out++] = (uint8_t)l;
		memcpy(wire + out, p, l);
		out += l;
		p += l;
		if (*p == '.')
			p++;
	}
	wire[out++] = 0;
	return (int)out;
}

const char *dns_name_to_text(const uint8_t *wire, char *out, size_t len)
{
	size_t pos = 0, o = 0;

#define OUT(c) do { if (o + 1 < len) out[o++] = (c); } while (0)
	if (len == 0)
		return out;
	if (wire[0] == 0) {
		snprintf(out, len, ".");
		return out;
	}
	while (pos < DNS_WIRE_MAX && wire[pos]) {
		uint8_t l = wire[pos++];

		if (o > 0)
			OUT('.');
		for (uint8_t i = 0; i < l && pos < DNS_WIRE_MAX; i++, pos++) {
			uint8_t c = wire[pos];

			if (c == '.' || c == '\\') {
				OUT('\\');
				OUT((char)c);
			} else if (c < 0x21 || c > 0x7e) {
				char esc[5];

				snprintf(esc, sizeof(esc), "\\%03u", c);
				for (int k = 0; k < 4; k++)
					OUT(esc[k]);
			} else {
				OUT((char)c);
			}
		}
	}
#undef OUT
	out[o] = '\0';
	return out;
}

size_t dns_name_len(const uint8_t *wire)
{
	size_t pos = 0;

	while (pos < DNS_WIRE_MAX && wire[pos])
		pos += 1 + (size_t)wire[pos];
	return pos < DNS_WIRE_MAX ? pos + 1 : DNS_WIRE_MAX;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

bool dns_name_eq(const uint8_t *a, const uint8_t *b)
{
	size_t pos = 0;

	while (pos < DNS_WIRE_MAX) {
		uint8_t l = a[pos];

		if (b[pos] != l)
			return false;
		if (l == 0)
			return true;
		if (pos + 1 + l > DNS_WIRE_MAX)
			return false;
		for (size_t i = pos + 1; i <= pos + l; i++)
			if (lower(a[i]) != lower(b[i]))
				return false;
		pos += 1 + l;
	}
	return false;
}

bool dns_read_name(const uint8_t *msg, size_t len, size_t *pos, uint8_t wire[DNS_WIRE_MAX])
{
	size_t p = *pos, out = 0, limit = *pos;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (p >= len)
			return false;
		c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (p + 1 >= len)
				return false;
			target = ((size_t)(c & 0x3f) << 8) | msg[p + 1];
			if (!jumped)
				*pos = p + 2;
			jumped = true;
			/* strictly before where this run of labels began: no loops */
			if (target >= limit)
				return false;
			limit = p = target;
			continue;
		}
		if (c & 0xc0)
			return false;           /* 0x40 / 0x80: no such label types */
		if (out + 1 + c > DNS_WIRE_MAX || p + 1 + c > len)
			return false;
		memcpy(wire + out, msg + p, 1 + (size_t)c);
		out += 1 + (size_t)c;
		p += 1 + (size_t)c;
		if (c == 0) {
			if (!jumped)
				*pos = p;
			return true;
		}
	}
}

/* --------------------------------------------------------------- messages */

uint16_t dns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t dns_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dns_parse(const uint8_t *buf, size_t len, struct dns_msg *m, const char **why)
{
	uint16_t an, ns, ar;
	size_t pos = 12, total;

	memset(m, 0, sizeof(*m));
	m->buf = buf;
	m->len = len;
	if (len < 12) {
		*why = "shorter than a DNS header";
		return -1;
	}
	m->id = dns_get16(buf);
	m->flags = dns_get16(buf + 2);
	m->qdcount = dns_get16(buf + 4);
	an = dns_get16(buf + 6);
	ns = dns_get16(buf + 8);
	ar = dns_get16(buf + 10);
	for (unsigned i = 0; i < m->qdcount; i++) {
		uint8_t other[DNS_WIRE_MAX];

		if (!dns_read_name(buf, len, &pos, i == 0 ? m->qname : other)) {
			*why = "malformed question name";
			return -1;
		}
		if (pos + 4 > len) {
			*why = "truncated question";
			return -1;
		}
		if (i == 0) {
			m->qtype = dns_get16(buf + pos);
			m->qclass = dns_get16(buf + pos + 2);
		}
		pos += 4;
	}
	m->qend = pos;
	total = (size_t)an + ns + ar;
	/* a record takes at least 11 bytes: a cheap bound before allocating */
	if (total > (len - pos) / 11) {
		*why = "record counts larger than the message";
		return -1;
	}
	m->rr = total ? xmalloc(total * sizeof(*m->rr)) : NULL;
	for (size_t i = 0; i < total; i++) {
		struct dns_rr *rr = &m->rr[i];

		memset(rr, 0, sizeof(*rr));
		rr->section = i < an ? DNS_ANSWER : i < (size_t)an + ns ? DNS_AUTHORITY : DNS_ADDITIONAL;
		if (!dns_read_name(buf, len, &pos, rr->name)) {
			*why = "malformed record name";
			return -1;
		}
		if (pos + 10 > len) {
			*why = "truncated record header";
			return -1;
		}
		rr->type = dns_get16(buf + pos);
		rr->rclass = dns_get16(buf + pos + 2);
		rr->ttl = dns_get32(buf + pos + 4);
		rr->rdlen = dns_get16(buf + pos + 8);
		pos += 10;
		if (pos + rr->rdlen > len) {
			*why = "record data past the end of the message";
			return -1;
		}
		rr->rdoff = pos;
		pos += rr->rdlen;
		m->nrr = i + 1;
	}
	if (pos != len) {
		*why = "bytes after the last record";
		return -1;
	}
	return 0;
}

void dns_msg_free(struct dns_msg *m)
{
	free(m->rr);
	m->rr = NULL;
	m->nrr = 0;
}

void dns_put(struct dns_writer *w, const void *p, size_t n)
{
	if (!w->ok || n > w->cap - w->len) {
		w->ok = false;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void dns_put16(struct dns_writer *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	dns_put(w, b, 2);
}

void dns_put32(struct dns_writer *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	dns_put(w, b, 4);
}

int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype, bool rd)
{
	struct dns_writer w = { .buf = buf, .cap = cap, .ok = true };
	uint8_t wire[DNS_WIRE_MAX];
	int wl = dns_name_from_text(name, wire, sizeof(wire));

	if (wl < 0)
		return -EINVAL;
	dns_put16(&w, id);
	dns_put16(&w, rd ? DNS_F_RD : 0);
	dns_put16(&w, 1);
	dns_put16(&w, 0);
	dns_put16(&w, 0);
	dns_put16(&w, 0);
	dns_put(&w, wire, (size_t)wl);
	dns_put16(&w, qtype);
	dns_put16(&w, DNS_CLASS_IN);
	return w.ok ? (int)w.len : -ENOSPC;
}

static const struct {
	uint16_t type;
	const char *name;
} types[] = {
	{ DNS_T_A, "A" }, { DNS_T_NS, "NS" }, { DNS_T_CNAME, "CNAME" }, { DNS_T_SOA, "SOA" },
	{ DNS_T_PTR, "PTR" }, { DNS_T_MX, "MX" }, { DNS_T_TXT, "TXT" }, { DNS_T_AAAA, "AAAA" },
	{ DNS_T_SRV, "SRV" }, { DNS_T_OPT, "OPT" }, { DNS_T_ANY, "ANY" },
};

const char *dns_type_name(uint16_t type, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].type == type)
			return types[i].name;
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}

int dns_type_from_name(const char *s)
{
	long long v;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(types[i].name, s))
			return types[i].type;
	if (!strncasecmp(s, "TYPE", 4))
		s += 4;
	if (parse_ll(s, 1, 65535, &v))
		return (int)v;
	return -1;
}

const char *dns_rcode_name(unsigned rcode, char *buf, size_t len)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	};

	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

uint16_t dns_random_id(void)
{
	uint16_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	return (uint16_t)(now_ms() ^ getpid());
}

/* -------------------------------------------------------------- transport */

bool dns_parse_server(const char *s, uint16_t default_port, struct sockaddr_storage *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	char host[INET6_ADDRSTRLEN];
	const char *hs = s, *he, *port = NULL;
	bool bracketed = false;
	long long p = default_port;

	if (s[0] == '[') {
		he = strchr(s, ']');
		if (!he)
			return false;
		hs = s + 1;
		bracketed = true;
		if (he[1] == ':')
			port = he + 2;
		else if (he[1])
			return false;
	} else {
		const char *colon = strchr(s, ':');

		/* one colon: IPv4:PORT; more: an IPv6 literal */
		if (colon && !strchr(colon + 1, ':')) {
			he = colon;
			port = colon + 1;
		} else {
			he = s + strlen(s);
		}
	}
	if ((size_t)(he - hs) >= sizeof(host) || he == hs)
		return false;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	if (port && !parse_ll(port, 1, 65535, &p))
		return false;
	memset(out, 0, sizeof(*out));
	if (!bracketed && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		return true;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		return true;
	}
	return false;
}

static socklen_t sockaddr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* One datagram out, the first one back (a connected socket: only from the
 * server, and ICMP port unreachable becomes ECONNREFUSED). */
static int udp_exchange(const struct sockaddr_storage *server, const uint8_t *q, size_t qlen,
			uint8_t *reply, size_t cap, int64_t deadline, size_t *rlen)
{
	int fd = socket(server->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), r = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)server, sockaddr_len(server)) < 0 ||
	    send(fd, q, qlen, 0) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	for (;;) {
		ssize_t n;

		r = net_wait(fd, POLLIN, deadline);
		if (r <= 0) {
			r = r == 0 ? -ETIMEDOUT : r;
			break;
		}
		n = recv(fd, reply, cap, 0);
		if (n >= 0) {
			*rlen = (size_t)n;
			r = 0;
			break;
		}
		if (errno != EINTR && errno != EAGAIN) {
			r = -errno;
			break;
		}
	}
	close(fd);
	return r;
}

/* Exactly len bytes: 0, 1 at EOF before the first byte, 2 at EOF after
 * some, -errno. */
static int read_exact(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(fd, buf + got, len - got, 0);
		int r;

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return got ? 2 : 1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = net_wait(fd, POLLIN, deadline);
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
	}
	return 0;
}

static int write_exact(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		int r;

		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = net_wait(fd, POLLOUT, deadline);
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
	}
	return 0;
}

/* RFC 1035 4.2.2: each message behind a two-byte length. */
static int tcp_exchange(const struct sockaddr_storage *server, const uint8_t *q, size_t qlen,
			uint8_t *reply, int64_t deadline, size_t *rlen, struct dns_result *res)
{
	uint8_t framed[2 + 512], lenb[2];
	int fd, r;

	if (qlen > sizeof(framed) - 2)
		return -EMSGSIZE;
	framed[0] = (uint8_t)(qlen >> 8);
	framed[1] = (uint8_t)qlen;
	memcpy(framed + 2, q, qlen);
	fd = net_connect(server, SOCK_STREAM, deadline);
	if (fd < 0)
		return fd;
	r = write_exact(fd, framed, qlen + 2, deadline);
	if (r == 0)
		r = read_exact(fd, lenb, 2, deadline);
	if (r == 0) {
		*rlen = dns_get16(lenb);
		r = read_exact(fd, reply, *rlen, deadline);
		if (r == 1)
			r = 2;                  /* the length came, the message did not */
	}
	close(fd);
	if (r == 1)
		return -ECONNRESET;             /* closed without a reply */
	if (r == 2) {
		res->why = "TCP connection closed in the middle of the reply";
		return -EBADMSG;
	}
	return r;
}

static int check_reply(struct dns_result *res, uint16_t id, const uint8_t *qwire, uint16_t qtype)
{
	struct dns_msg *m = &res->msg;
	unsigned rcode;

	if (dns_parse(res->buf, res->len, m, &res->why) < 0)
		return -EBADMSG;
	rcode = DNS_RCODE(m->flags);
	if (m->id != id)
		res->why = "reply ID does not match the query's";
	else if (!(m->flags & DNS_F_QR))
		res->why = "QR not set: not a reply";
	else if (DNS_OPCODE(m->flags) != 0)
		res->why = "reply opcode is not QUERY";
	else if (m->qdcount == 0 && rcode != DNS_R_NOERROR && rcode != DNS_R_NXDOMAIN)
		return 0;       /* an error reply may leave the question out */
	else if (m->qdcount != 1)
		res->why = "reply does not have exactly one question";
	else if (!dns_name_eq(m->qname, qwire))
		res->why = "question name in the reply differs from the query's";
	else if (m->qtype != qtype || m->qclass != DNS_CLASS_IN)
		res->why = "question type or class in the reply differs from the query's";
	else
		return 0;
	return -EBADMSG;
}

static int query_once(const struct sockaddr_storage *server, const char *name, uint16_t qtype,
		      bool tcp, int64_t deadline, struct dns_result *res)
{
	uint8_t q[512], qwire[DNS_WIRE_MAX];
	uint16_t id = dns_random_id();
	int qlen, r;

	if (dns_name_from_text(name, qwire, sizeof(qwire)) < 0)
		return -EINVAL;
	qlen = dns_build_query(q, sizeof(q), id, name, qtype, true);
	if (qlen < 0)
		return qlen;
	dns_msg_free(&res->msg);
	res->tcp = tcp;
	res->why = NULL;
	res->len = 0;
	if (tcp)
		r = tcp_exchange(server, q, (size_t)qlen, res->buf, deadline, &res->len, res);
	else
		r = udp_exchange(server, q, (size_t)qlen, res->buf, DNS_MSG_MAX, deadline, &res->len);
	if (r < 0)
		return r;
	return check_reply(res, id, qwire, qtype);
}

int dns_query(const struct sockaddr_storage *server, const char *name, uint16_t qtype,
	      bool tcp, int64_t deadline, struct dns_result *res)
{
	int r;

	memset(res, 0, sizeof(*res));
	res->buf = xmalloc(DNS_MSG_MAX);
	r = query_once(server, name, qtype, tcp, deadline, res);
	if (r == 0 && !tcp && (res->msg.flags & DNS_F_TC))
		r = query_once(server, name, qtype, true, deadline, res);
	return r;
}

void dns_result_free(struct dns_result *res)
{
	dns_msg_free(&res->msg);
	free(res->buf);
	res->buf = NULL;
}

/* --------------------------------------------------------------- resolver */

static void search_clear(struct resolv_conf *rc)
{
	for (int i = 0; i < rc->nsearch; i++)
		free(rc->search[i]);
	rc->nsearch = 0;
}

int resolv_conf_load(struct resolv_conf *rc)
{
	const char *path = getenv("BERTH_RESOLV_CONF");
	char *text, *line, *save = NULL;

	memset(rc, 0, sizeof(*rc));
	text = read_file(path && *path ? path : "/etc/resolv.conf", 1 << 20, NULL);
	if (!text)
		return -errno;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s2 = NULL, *key, *tok;
		size_t cut = strcspn(line, "#;");

		line[cut] = '\0';
		key = strtok_r(line, " \t\r", &s2);
		if (!key)
			continue;
		if (!strcmp(key, "nameserver")) {
			tok = strtok_r(NULL, " \t\r", &s2);
			if (tok && rc->nns < DNS_MAX_NS && dns_parse_server(tok, 53, &rc->ns[rc->nns]))
				rc->nns++;
		} else if (!strcmp(key, "search") || !strcmp(key, "domain")) {
			int max = key[0] == 'd' ? 1 : DNS_MAX_SEARCH;

			search_clear(rc);
			while (rc->nsearch < max && (tok = strtok_r(NULL, " \t\r", &s2))) {
				size_t l = strlen(tok);

				if (l > 1 && tok[l - 1] == '.')
					tok[l - 1] = '\0';
				if (strcmp(tok, "."))
					rc->search[rc->nsearch++] = xstrdup(tok);
			}
		}
	}
	free(text);
	return 0;
}

void resolv_conf_free(struct resolv_conf *rc)
{
	search_clear(rc);
	rc->nns = 0;
}

/* Ask the servers in turn until one answers for name: the count of A
 * records (0: NXDOMAIN or no A records, which no other server is asked
 * about), or -1 when none answered usably (try the next name anyway). */
static int ask_servers(const struct resolv_conf *rc, const char *name, uint16_t port,
		       struct sockaddr_storage *out, int max)
{
	for (int i = 0; i < rc->nns; i++) {
		struct dns_result res;
		char a[80], rb[16];
		int r = dns_query(&rc->ns[i], name, DNS_T_A, false, now_ms() + 2000, &res), n = 0;
		unsigned rcode;

		if (r == -EINVAL) {
			dns_result_free(&res);
			return 0;               /* not a name DNS can carry */
		}
		if (r < 0) {
			hdiag("resolve %s: nameserver %s: %s", name, net_addr_str(&rc->ns[i], a, sizeof(a)),
			      r == -EBADMSG ? res.why : strerror(-r));
			dns_result_free(&res);
			continue;
		}
		rcode = DNS_RCODE(res.msg.flags);
		if (rcode != DNS_R_NOERROR && rcode != DNS_R_NXDOMAIN) {
			hdiag("resolve %s: nameserver %s: %s", name, net_addr_str(&rc->ns[i], a, sizeof(a)),
			      dns_rcode_name(rcode, rb, sizeof(rb)));
			dns_result_free(&res);
			continue;
		}
		for (size_t k = 0; k < res.msg.nrr && rcode == DNS_R_NOERROR; k++) {
			const struct dns_rr *rr = &res.msg.rr[k];
			struct sockaddr_in *sin = (struct sockaddr_in *)&out[n];

			if (rr->section != DNS_ANSWER || rr->type != DNS_T_A ||
			    rr->rclass != DNS_CLASS_IN || rr->rdlen != 4 || n >= max)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			memcpy(&sin->sin_addr, res.buf + rr->rdoff, 4);
			n++;
		}
		dns_result_free(&res);
		return n;
	}
	return -1;
}

int dns_resolve_a(const char *host, uint16_t port, struct sockaddr_storage *out, int max)
{
	struct resolv_conf rc;
	int n = 0;

	if (max <= 0 || resolv_conf_load(&rc) < 0)
		return 0;
	/* a single label: the search domains first, then the name itself */
	if (!strchr(host, '.')) {
		for (int i = 0; i < rc.nsearch && n <= 0; i++) {
			char *name = xmalloc(strlen(host) + strlen(rc.search[i]) + 2);

			sprintf(name, "%s.%s", host, rc.search[i]);
			n = ask_servers(&rc, name, port, out, max);
			free(name);
		}
	}
	if (n <= 0)
		n = ask_servers(&rc, host, port, out, max);
	resolv_conf_free(&rc);
	return n > 0 ? n : 0;
}
