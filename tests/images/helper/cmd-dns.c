/* tests/images/helper/cmd-dns.c - dns-query (ask one server once, print the
 * reply as JSON) and dns-serve (a tiny authoritative server: the upstream
 * that berthd's service discovery responder forwards to in the VM tests). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

/* -------------------------------------------------------------- dns-query */

#define QUERY_USAGE \
	"usage: dns-query NAME [--type A|AAAA|SRV|SOA|...] [--server IP[:PORT]] [--tcp] [--timeout S]"

/* One record as an object; false (with *why) when its RDATA is malformed. */
static bool emit_rr(struct jw *w, const struct dns_msg *m, const struct dns_rr *rr, const char **why)
{
	const uint8_t *b = m->buf;
	size_t pos = rr->rdoff, end = rr->rdoff + rr->rdlen;
	uint8_t wire[DNS_WIRE_MAX];
	char text[DNS_TEXT_MAX], tn[16], ip[INET6_ADDRSTRLEN];

	jw_obj_begin(w);
	jw_kstr(w, "name", dns_name_to_text(rr->name, text, sizeof(text)));
	jw_kstr(w, "type", dns_type_name(rr->type, tn, sizeof(tn)));
	if (rr->type == DNS_T_OPT) {
		/* EDNS: the class is the sender's UDP payload size */
		jw_kint(w, "udp_size", rr->rclass);
		jw_obj_end(w);
		return true;
	}
	if (rr->rclass != DNS_CLASS_IN)
		jw_kint(w, "class", rr->rclass);
	jw_kint(w, "ttl", rr->ttl);
	switch (rr->type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (rr->rdlen != (rr->type == DNS_T_A ? 4 : 16)) {
			*why = "address record of the wrong length";
			return false;
		}
		inet_ntop(rr->type == DNS_T_A ? AF_INET : AF_INET6, b + pos, ip, sizeof(ip));
		jw_kstr(w, "data", ip);
		break;
	case DNS_T_CNAME:
	case DNS_T_NS:
	case DNS_T_PTR:
		if (!dns_read_name(b, m->len, &pos, wire) || pos != end) {
			*why = "malformed name in record data";
			return false;
		}
		jw_kstr(w, "data", dns_name_to_text(wire, text, sizeof(text)));
		break;
	case DNS_T_MX:
		if (rr->rdlen < 3) {
			*why = "MX record too short";
			return false;
		}
		jw_kint(w, "preference", dns_get16(b + pos));
		pos += 2;
		if (!dns_read_name(b, m->len, &pos, wire) || pos != end) {
			*why = "malformed MX exchange";
			return false;
		}
		jw_kstr(w, "exchange", dns_name_to_text(wire, text, sizeof(text)));
		break;
	case DNS_T_SRV:
		if (rr->rdlen < 7) {
			*why = "SRV record too short";
			return false;
		}
		jw_kint(w, "priority", dns_get16(b + pos));
		jw_kint(w, "weight", dns_get16(b + pos + 2));
		jw_kint(w, "port", dns_get16(b + pos + 4));
		pos += 6;
		if (!dns_read_name(b, m->len, &pos, wire) || pos != end) {
			*why = "malformed SRV target";
			return false;
		}
		jw_kstr(w, "target", dns_name_to_text(wire, text, sizeof(text)));
		break;
	case DNS_T_SOA: {
		static const char *const fields[] = { "serial", "refresh", "retry", "expire", "minimum" };

		if (!dns_read_name(b, m->len, &pos, wire) || pos > end) {
			*why = "malformed SOA mname";
			return false;
		}
		jw_kstr(w, "mname", dns_name_to_text(wire, text, sizeof(text)));
		if (!dns_read_name(b, m->len, &pos, wire) || pos > end || end - pos != 20) {
			*why = "malformed SOA rname or counters";
			return false;
		}
		jw_kstr(w, "rname", dns_name_to_text(wire, text, sizeof(text)));
		for (int i = 0; i < 5; i++)
			jw_kint(w, fields[i], dns_get32(b + pos + 4 * (size_t)i));
		break;
	}
	case DNS_T_TXT:
		jw_key(w, "data");
		jw_arr_begin(w);
		while (pos < end) {
			size_t l = b[pos];

			if (pos + 1 + l > end) {
				*why = "TXT string past the record's end";
				return false;
			}
			jw_strn(w, (const char *)b + pos + 1, l);
			pos += 1 + l;
		}
		jw_arr_end(w);
		break;
	default:
		jw_kint(w, "rdlength", rr->rdlen);
		break;
	}
	jw_obj_end(w);
	return true;
}

static void query_head(struct jw *w, const char *name, const char *type, const char *server, bool tcp)
{
	jw_obj_begin(w);
	jw_kstr(w, "name", name);
	jw_kstr(w, "type", type);
	jw_kstr(w, "server", server);
	jw_kbool(w, "tcp", tcp);
}

int cmd_dns_query(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 'T' },
		{ "server", required_argument, NULL, 's' },
		{ "tcp", no_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const sections[] = { "answers", "authority", "additional" };
	struct sockaddr_storage server;
	struct dns_result res;
	struct jw w = { 0 };
	const char *name, *server_arg = NULL, *why = NULL;
	char tn[16], sa[80], rb[16];
	long long timeout_ms = 5000;
	int qtype = DNS_T_A, c, r;
	bool tcp = false;
	unsigned rcode;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'T':
			qtype = dns_type_from_name(optarg);
			if (qtype < 0)
				husage("unknown --type '%s'", optarg);
			break;
		case 's':
			server_arg = optarg;
			break;
		case 'c':
			tcp = true;
			break;
		case 't':
			if (!parse_seconds_ms(optarg, false, &timeout_ms) || timeout_ms == 0)
				husage("bad --timeout '%s'", optarg);
			break;
		default:
			husage("%s", QUERY_USAGE);
		}
	}
	if (optind != argc - 1)
		husage("%s", QUERY_USAGE);
	name = argv[optind];
	{
		uint8_t wire[DNS_WIRE_MAX];

		if (dns_name_from_text(name, wire, sizeof(wire)) < 0)
			husage("bad name '%s' (labels of 1-63 bytes, 255 in all)", name);
	}
	if (server_arg) {
		if (!dns_parse_server(server_arg, 53, &server))
			husage("bad --server '%s' (IPv4[:PORT], IPv6 or [IPv6]:PORT)", server_arg);
	} else {
		struct resolv_conf rc;
		int lr = resolv_conf_load(&rc);

		if (rc.nns == 0) {
			const char *path = getenv("BERTH_RESOLV_CONF");

			hdiag("no nameserver in %s%s%s", path && *path ? path : "/etc/resolv.conf",
			      lr < 0 ? ": " : "", lr < 0 ? strerror(-lr) : "");
			resolv_conf_free(&rc);
			query_head(&w, name, dns_type_name((uint16_t)qtype, tn, sizeof(tn)), NULL, tcp);
			jw_kstr(&w, "error", "no nameserver");
			jw_obj_end(&w);
			jw_emit(&w);
			jw_free(&w);
			return EXIT_CONNECT;
		}
		server = rc.ns[0];
		resolv_conf_free(&rc);
	}
	net_addr_str(&server, sa, sizeof(sa));
	signal(SIGPIPE, SIG_IGN);

	r = dns_query(&server, name, (uint16_t)qtype, tcp, now_ms() + timeout_ms, &res);
	query_head(&w, name, dns_type_name((uint16_t)qtype, tn, sizeof(tn)), sa, res.tcp);
	if (r < 0) {
		if (r == -EBADMSG) {
			hdiag("malformed reply from %s: %s", sa, res.why);
			jw_kstr(&w, "error", "malformed reply");
			jw_kstr(&w, "detail", res.why);
		} else {
			hdiag("no reply from %s: %s", sa, strerror(-r));
			jw_kerrno(&w, "error", -r);
		}
		jw_obj_end(&w);
		jw_emit(&w);
		jw_free(&w);
		dns_result_free(&res);
		return r == -EBADMSG ? EXIT_BAD_REPLY : EXIT_CONNECT;
	}
	rcode = DNS_RCODE(res.msg.flags);
	jw_kstr(&w, "rcode", dns_rcode_name(rcode, rb, sizeof(rb)));
	jw_kbool(&w, "aa", res.msg.flags & DNS_F_AA);
	jw_kbool(&w, "tc", res.msg.flags & DNS_F_TC);
	jw_kbool(&w, "ra", res.msg.flags & DNS_F_RA);
	for (int s = DNS_ANSWER; s <= DNS_ADDITIONAL && !why; s++) {
		jw_key(&w, sections[s]);
		jw_arr_begin(&w);
		for (size_t i = 0; i < res.msg.nrr && !why; i++)
			if (res.msg.rr[i].section == (enum dns_section)s)
				emit_rr(&w, &res.msg, &res.msg.rr[i], &why);
		if (!why)
			jw_arr_end(&w);
	}
	if (why) {
		/* throw the half-written line away */
		jw_free(&w);
		w = (struct jw){ 0 };
		hdiag("malformed reply from %s: %s", sa, why);
		query_head(&w, name, dns_type_name((uint16_t)qtype, tn, sizeof(tn)), sa, res.tcp);
		jw_kstr(&w, "error", "malformed reply");
		jw_kstr(&w, "detail", why);
		jw_obj_end(&w);
		jw_emit(&w);
		jw_free(&w);
		dns_result_free(&res);
		return EXIT_BAD_REPLY;
	}
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	dns_result_free(&res);
	if (rcode == DNS_R_NOERROR)
		return 0;
	return rcode == DNS_R_NXDOMAIN ? EXIT_RESOLVE : EXIT_DNS_RCODE;
}

/* -------------------------------------------------------------- dns-serve */

#define SERVE_USAGE \
	"usage: dns-serve [--address A] --port P [--record NAME=IP]... [--ttl N]"
#define MAX_CONNS 16
#define IDLE_MS 10000

struct record {
	uint8_t name[DNS_WIRE_MAX];
	uint16_t type;
	uint8_t addr[16];
};

struct tconn {
	int fd;
	int64_t last;
	size_t len;
	struct sockaddr_storage peer;
	uint8_t buf[2 + DNS_MSG_MAX];
};

struct dserver {
	struct record *recs;
	int nrecs;
	uint32_t ttl;
	long long queries;
	struct tconn *conns[MAX_CONNS];
	int nconns;
	uint8_t out[2 + DNS_MSG_MAX];
};

static volatile sig_atomic_t serve_stop;

static void on_serve_stop(int sig)
{
	serve_stop = sig;
}

static void add_record(struct dserver *s, const char *arg)
{
	const char *eq = strrchr(arg, '=');
	struct record r = { 0 };
	char *name;

	if (!eq || eq == arg)
		husage("bad --record '%s' (NAME=IPV4 or NAME=IPV6)", arg);
	name = xmalloc((size_t)(eq - arg) + 1);
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	if (dns_name_from_text(name, r.name, sizeof(r.name)) < 0)
		husage("bad name in --record '%s'", arg);
	free(name);
	if (inet_pton(AF_INET, eq + 1, r.addr) == 1)
		r.type = DNS_T_A;
	else if (inet_pton(AF_INET6, eq + 1, r.addr) == 1)
		r.type = DNS_T_AAAA;
	else
		husage("bad address in --record '%s'", arg);
	s->recs = xrealloc(s->recs, sizeof(*s->recs) * (size_t)(s->nrecs + 1));
	s->recs[s->nrecs++] = r;
}

/* The negative answers' SOA (RFC 2308), owned by the root: this server
 * pretends to be authoritative for every name. */
static void put_soa(struct dns_writer *w, uint32_t ttl)
{
	static const uint8_t mname[] = "\x09" "dns-serve" "\x07" "invalid";
	static const uint8_t rname[] = "\x0a" "hostmaster" "\x09" "dns-serve" "\x07" "invalid";

	dns_put(w, "", 1);
	dns_put16(w, DNS_T_SOA);
	dns_put16(w, DNS_CLASS_IN);
	dns_put32(w, ttl);
	dns_put16(w, (uint16_t)(sizeof(mname) + sizeof(rname) + 20));
	dns_put(w, mname, sizeof(mname));      /* with the terminating root label */
	dns_put(w, rname, sizeof(rname));
	dns_put32(w, 1);                       /* serial */
	dns_put32(w, 3600);                    /* refresh */
	dns_put32(w, 600);                     /* retry */
	dns_put32(w, 86400);                   /* expire */
	dns_put32(w, ttl);                     /* minimum: the negative TTL */
}

static void put_header(struct dns_writer *w, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
		       uint16_t ns)
{
	dns_put16(w, id);
	dns_put16(w, flags);
	dns_put16(w, qd);
	dns_put16(w, an);
	dns_put16(w, ns);
	dns_put16(w, 0);
}

/* The reply to query q into out; 0 when there is none to send. */
static size_t answer(struct dserver *s, const uint8_t *q, size_t qlen, bool udp,
		     const struct sockaddr_storage *peer, uint8_t *out, size_t cap)
{
	struct dns_writer w = { .buf = out, .cap = cap, .ok = true };
	uint8_t qname[DNS_WIRE_MAX];
	uint16_t id, flags, rflags, qtype, qclass, an = 0;
	size_t pos = 12;
	bool known = false;
	char text[DNS_TEXT_MAX], tn[16], a[80], line[DNS_TEXT_MAX + 120], *colon;

	if (qlen < 12)
		return 0;
	id = dns_get16(q);
	flags = dns_get16(q + 2);
	if (flags & DNS_F_QR)
		return 0;               /* a reply: never answer those */
	rflags = DNS_F_QR | DNS_F_AA | (flags & (DNS_F_RD | 0x7800));
	if (DNS_OPCODE(flags) != 0) {
		put_header(&w, id, rflags | DNS_R_NOTIMP, 0, 0, 0);
		return w.len;
	}
	if (dns_get16(q + 4) != 1 || !dns_read_name(q, qlen, &pos, qname) || pos + 4 > qlen) {
		put_header(&w, id, rflags | DNS_R_FORMERR, 0, 0, 0);
		return w.len;
	}
	qtype = dns_get16(q + pos);
	qclass = dns_get16(q + pos + 2);
	s->queries++;

	/* "1.2.3.4:5353" / "[::1]:5353" -> the address alone */
	net_addr_str(peer, a, sizeof(a));
	colon = strrchr(a, ':');
	if (colon)
		*colon = '\0';
	if (a[0] == '[' && colon && colon[-1] == ']')
		colon[-1] = '\0';
	snprintf(line, sizeof(line), "query %s %s from %s\n", dns_name_to_text(qname, text, sizeof(text)),
		 dns_type_name(qtype, tn, sizeof(tn)), a[0] == '[' ? a + 1 : a);
	(void)write_all(STDERR_FILENO, line, strlen(line));

	if (qclass != DNS_CLASS_IN && qclass != DNS_CLASS_ANY) {
		put_header(&w, id, rflags | DNS_R_REFUSED, 1, 0, 0);
		dns_put(&w, qname, dns_name_len(qname));
		dns_put16(&w, qtype);
		dns_put16(&w, qclass);
		return w.len;
	}
	for (int i = 0; i < s->nrecs; i++) {
		if (!dns_name_eq(s->recs[i].name, qname))
			continue;
		known = true;
		if (qtype == s->recs[i].type || qtype == DNS_T_ANY)
			an++;
	}
	put_header(&w, id, rflags | (known ? DNS_R_NOERROR : DNS_R_NXDOMAIN), 1, an, an ? 0 : 1);
	/* the name as asked (case kept), uncompressed */
	dns_put(&w, qname, dns_name_len(qname));
	dns_put16(&w, qtype);
	dns_put16(&w, qclass);
	for (int i = 0; i < s->nrecs; i++) {
		const struct record *r = &s->recs[i];

		if (!dns_name_eq(r->name, qname) || (qtype != r->type && qtype != DNS_T_ANY))
			continue;
		dns_put16(&w, 0xc000 | 12);    /* compressed: the question's name */
		dns_put16(&w, r->type);
		dns_put16(&w, DNS_CLASS_IN);
		dns_put32(&w, s->ttl);
		dns_put16(&w, r->type == DNS_T_A ? 4 : 16);
		dns_put(&w, r->addr, r->type == DNS_T_A ? 4 : 16);
	}
	if (!an)
		put_soa(&w, s->ttl);
	if (!w.ok || (udp && w.len > DNS_UDP_MAX)) {
		/* too big for a plain UDP reply: TC, the question only */
		w.len = 0;
		w.ok = true;
		put_header(&w, id, rflags | DNS_F_TC | (known ? DNS_R_NOERROR : DNS_R_NXDOMAIN), 1, 0, 0);
		dns_put(&w, qname, dns_name_len(qname));
		dns_put16(&w, qtype);
		dns_put16(&w, qclass);
	}
	return w.ok ? w.len : 0;
}

static void conn_drop(struct dserver *s, int i)
{
	close(s->conns[i]->fd);
	free(s->conns[i]);
	s->conns[i] = s->conns[--s->nconns];
}

/* Read what is there and answer every complete message; false: close. */
static bool conn_read(struct dserver *s, struct tconn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);

		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return false;
		}
		c->len += (size_t)n;
		c->last = now_ms();
		while (c->len >= 2) {
			size_t mlen = dns_get16(c->buf), rlen;

			if (mlen == 0)
				return false;
			if (c->len < 2 + mlen)
				break;
			rlen = answer(s, c->buf + 2, mlen, false, &c->peer, s->out + 2, sizeof(s->out) - 2);
			if (rlen) {
				s->out[0] = (uint8_t)(rlen >> 8);
				s->out[1] = (uint8_t)rlen;
				/* small replies: a full socket buffer means a peer
				 * that does not read, which is dropped */
				if (send(c->fd, s->out, rlen + 2, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)(rlen + 2))
					return false;
			}
			memmove(c->buf, c->buf + 2 + mlen, c->len - 2 - mlen);
			c->len -= 2 + mlen;
		}
		if (c->len == sizeof(c->buf))
			return false;
	}
	return true;
}

static int bind_pair(const struct sockaddr_storage *addr, uint16_t port, int *ufd, int *tfd, uint16_t *bound)
{
	struct sockaddr_storage ss = *addr;
	socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, err;

	*ufd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	*tfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*ufd < 0 || *tfd < 0) {
		err = errno;
		goto fail;
	}
	if (ss.ss_family == AF_INET6) {
		setsockopt(*ufd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(*tfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	} else {
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	}
	setsockopt(*tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(*ufd, (struct sockaddr *)&ss, len) < 0 || getsockname(*ufd, (struct sockaddr *)&ss, &len) < 0) {
		err = errno;
		goto fail;
	}
	/* TCP on the port UDP got */
	if (bind(*tfd, (struct sockaddr *)&ss, len) < 0 || listen(*tfd, 64) < 0) {
		err = errno;
		goto fail;
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						: ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
fail:
	if (*ufd >= 0)
		close(*ufd);
	if (*tfd >= 0)
		close(*tfd);
	return -err;
}

int cmd_dns_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "record", required_argument, NULL, 'r' },
		{ "ttl", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct dserver *s = xmalloc(sizeof(*s));
	struct sockaddr_storage addr;
	struct sigaction sa = { .sa_handler = on_serve_stop };
	sigset_t block, wait_mask;
	const char *address = "0.0.0.0";
	long long port = -1, ttl = 10;
	uint16_t bound = 0;
	uint8_t *dgram = xmalloc(DNS_MSG_MAX);
	int c, ufd = -1, tfd = -1, r = -EADDRINUSE;
	char la[80];

	memset(s, 0, sizeof(*s));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			address = optarg;
			break;
		case 'p':
			if (!parse_ll(optarg, 0, 65535, &port))
				husage("bad port '%s'", optarg);
			break;
		case 'r':
			add_record(s, optarg);
			break;
		case 'T':
			if (!parse_ll(optarg, 0, 0x7fffffff, &ttl))
				husage("bad --ttl '%s'", optarg);
			break;
		default:
			husage("%s", SERVE_USAGE);
		}
	}
	if (port < 0 || optind != argc)
		husage("%s", SERVE_USAGE);
	/* an address, not a server spec: no port in it */
	if (strchr(address, ']') || (strchr(address, ':') && !strchr(strchr(address, ':') + 1, ':')) ||
	    !dns_parse_server(address, 0, &addr))
		husage("bad --address '%s' (IPv4 or IPv6)", address);
	s->ttl = (uint32_t)ttl;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* port 0: the free UDP port may be taken for TCP; pick again */
	for (int attempt = 0; attempt < 16 && r == -EADDRINUSE; attempt++)
		r = bind_pair(&addr, (uint16_t)port, &ufd, &tfd, &bound);
	if (r < 0) {
		hdiag("bind %s port %lld: %s", address, port, strerror(-r));
		return 1;
	}
	if (addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&addr)->sin6_port = htons(bound);
	else
		((struct sockaddr_in *)&addr)->sin_port = htons(bound);
	emit_str("listening", net_addr_str(&addr, la, sizeof(la)));

	while (!serve_stop) {
		struct pollfd pfd[2 + MAX_CONNS];
		struct timespec ts, *tsp = NULL;
		int64_t now = now_ms(), first = INT64_MAX;
		int nfd = 2;

		pfd[0] = (struct pollfd){ .fd = ufd, .events = POLLIN };
		/* full: leave new connections in the backlog */
		pfd[1] = (struct pollfd){ .fd = s->nconns < MAX_CONNS ? tfd : -1, .events = POLLIN };
		for (int i = 0; i < s->nconns; i++) {
			pfd[nfd++] = (struct pollfd){ .fd = s->conns[i]->fd, .events = POLLIN };
			if (s->conns[i]->last + IDLE_MS < first)
				first = s->conns[i]->last + IDLE_MS;
		}
		if (first != INT64_MAX) {
			int64_t left = first > now ? first - now : 0;

			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		if (ppoll(pfd, (nfds_t)nfd, tsp, &wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			hdiag("ppoll: %m");
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			for (;;) {
				struct sockaddr_storage from;
				socklen_t flen = sizeof(from);
				ssize_t n = recvfrom(ufd, dgram, DNS_MSG_MAX, MSG_DONTWAIT,
						     (struct sockaddr *)&from, &flen);
				size_t rlen;

				if (n < 0)
					break;
				rlen = answer(s, dgram, (size_t)n, true, &from, s->out, sizeof(s->out));
				if (rlen)
					sendto(ufd, s->out, rlen, MSG_DONTWAIT, (struct sockaddr *)&from, flen);
			}
		}
		/* connections: walk backwards, conn_drop moves the last one in */
		for (int i = nfd - 3; i >= 0; i--) {
			struct tconn *tc = s->conns[i];

			if (pfd[2 + i].revents && !conn_read(s, tc))
				conn_drop(s, i);
			else if (now_ms() - tc->last >= IDLE_MS)
				conn_drop(s, i);
		}
		if (pfd[1].revents & POLLIN) {
			while (s->nconns < MAX_CONNS) {
				struct tconn *tc = xmalloc(sizeof(*tc));
				socklen_t plen = sizeof(tc->peer);

				tc->fd = accept4(tfd, (struct sockaddr *)&tc->peer, &plen,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (tc->fd < 0) {
					free(tc);
					break;
				}
				tc->len = 0;
				tc->last = now_ms();
				s->conns[s->nconns++] = tc;
			}
		}
	}
	{
		struct jw w = { 0 };
		char name[32];

		jw_obj_begin(&w);
		jw_kstr(&w, "signal", signal_name(serve_stop, name, sizeof(name)));
		jw_kint(&w, "queries", s->queries);
		jw_obj_end(&w);
		jw_emit(&w);
		jw_free(&w);
	}
	while (s->nconns)
		conn_drop(s, s->nconns - 1);
	close(ufd);
	close(tfd);
	free(s->recs);
	free(s);
	free(dgram);
	return 0;
}
