/* tests/unit/daemon/test_dns.c - berthd's DNS responder, on 127.0.0.1 and a
 * high port, driven by this test's own epoll loop (a struct berthd with
 * only epfd): answers from published services (A, SRV with additional
 * records, NXDOMAIN/NODATA with the SOA, case), updates and removals,
 * MULTIVALUE's cap and WEIGHTED's single answer, forwarding to fake
 * upstreams (the ID restored, spoofed replies ignored, a silent upstream
 * skipped, SERVFAIL after the last), TCP (pipelined queries, no
 * truncation, forwarding over TCP), and the allow rule (in a private
 * network namespace, where a non-loopback source exists). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/log.h"
#include "netns/dnsmsg.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/dns.h"

/* --- the loop ----------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* one event at a time: a handler may free objects another event names */
static void dispatch(struct berthd *d, int ms)
{
	struct epoll_event ev;

	if (epoll_wait(d->epfd, &ev, 1, ms) == 1)
		((struct ev_handler *)ev.data.ptr)->fn(ev.data.ptr, ev.events);
}

/* Run the loop until fd is readable (true) or ms pass (false). */
static bool pump_until(struct berthd *d, int fd, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (int64_t)(end - now_ms());

		if (poll(&p, 1, 0) == 1)
			return true;
		if (left <= 0 || now_ms() > end)
			return false;
		dispatch(d, left < 10 ? (int)left : 10);
	}
}

static void quiet(enum blog_level level, const char *msg, void *data)
{
	(void)level;
	(void)msg;
	(void)data;
}

/* --- messages ----------------------------------------------------------- */

struct mb {
	uint8_t b[1024];
	size_t n;
};

static void mb_put(struct mb *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void mb_u16(struct mb *m, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	mb_put(m, b, 2);
}

static void mb_query(struct mb *m, uint16_t id, const char *name, uint16_t type, uint16_t edns)
{
	uint8_t w[DNSMSG_NAME_MAX];
	int n = dnsmsg_name_from_text(name, w);

	assert_true(n > 0);
	m->n = 0;
	mb_u16(m, id);
	mb_u16(m, DNSMSG_F_RD);
	mb_u16(m, 1);
	mb_u16(m, 0);
	mb_u16(m, 0);
	mb_u16(m, edns ? 1 : 0);
	mb_put(m, w, (size_t)n);
	mb_u16(m, type);
	mb_u16(m, DNSMSG_CLASS_IN);
	if (edns) {
		mb_put(m, "\0\0\x29", 3);
		mb_u16(m, edns);
		mb_put(m, "\0\0\0\0\0\0", 6);
	}
}

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

struct ans {
	uint8_t b[DNSMSG_TCP_MAX];
	size_t len;
	uint16_t id, flags, count[4];
	struct dnsmsg_rrview rr[64];
	size_t n;
};

static void parse_ans(struct ans *a)
{
	uint8_t w[DNSMSG_NAME_MAX];
	size_t off = DNSMSG_HEADER_LEN;

	assert_true(a->len >= DNSMSG_HEADER_LEN);
	a->id = g16(a->b);
	a->flags = g16(a->b + 2);
	for (int i = 0; i < 4; i++)
		a->count[i] = g16(a->b + 4 + 2 * i);
	a->n = 0;
	if (a->count[0]) {
		assert_true(dnsmsg_read_name(a->b, a->len, &off, w) > 0);
		off += 4;
	}
	for (size_t i = 0; i < (size_t)a->count[1] + a->count[2] + a->count[3]; i++) {
		assert_true(a->n < 64);
		assert_int_equal(dnsmsg_read_rr(a->b, a->len, &off, &a->rr[a->n]), 0);
		a->n++;
	}
	assert_int_equal(off, a->len);
}

static const struct dnsmsg_rrview *section(const struct ans *a, int s, size_t i)
{
	size_t base = s == 1 ? 0 : s == 2 ? a->count[1] : (size_t)a->count[1] + a->count[2];

	assert_true(i < a->count[s]);
	return &a->rr[base + i];
}

static uint32_t rr_a(const struct ans *a, const struct dnsmsg_rrview *rr)
{
	uint32_t v;

	assert_int_equal(rr->type, DNSMSG_A);
	assert_int_equal(rr->rdlen, 4);
	memcpy(&v, a->b + rr->rdata, 4);
	return ntohl(v);
}

static void rr_text(const struct dnsmsg_rrview *rr, char *text)
{
	dnsmsg_name_to_text(rr->name, text);
}

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* --- sockets ------------------------------------------------------------ */

static struct sockaddr_in loop_addr(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(IP(127, 0, 0, 1));
	return sa;
}

static int bound(int type, struct sockaddr_in *sa)
{
	socklen_t l = sizeof(*sa);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &l), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* a UDP client, connected to the server */
static int client(uint16_t port)
{
	struct sockaddr_in me = loop_addr(0), srv = loop_addr(port);
	int fd = bound(SOCK_DGRAM, &me);

	assert_int_equal(connect(fd, (struct sockaddr *)&srv, sizeof(srv)), 0);
	return fd;
}

struct env {
	struct berthd d;
	struct dns_server *s;
	uint16_t port;
};

static void env_start(struct env *e, struct dns_config *c)
{
	memset(e, 0, sizeof(*e));
	e->d.epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(e->d.epfd >= 0);
	c->listen.s_addr = htonl(IP(127, 0, 0, 1));
	/* a free port for UDP is nearly always free for TCP too: retry if not */
	for (int i = 0; i < 20; i++) {
		struct sockaddr_in sa = loop_addr(0);
		int fd = bound(SOCK_DGRAM, &sa);
		struct berr *err = NULL;

		close(fd);
		c->port = ntohs(sa.sin_port);
		if (dns_server_start(&e->d, c, &e->s, &err) == 0) {
			e->port = c->port;
			return;
		}
		berr_free(err);
	}
	fail_msg("no port for the DNS server");
}

static void env_stop(struct env *e)
{
	dns_server_stop(e->s);
	close(e->d.epfd);
}

/* Ask over UDP; the answer, parsed, in *a. false: no answer within ms. */
static bool ask_udp(struct env *e, int cfd, const struct mb *q, struct ans *a, int ms)
{
	ssize_t n;

	assert_int_equal(send(cfd, q->b, q->n, 0), (ssize_t)q->n);
	if (!pump_until(&e->d, cfd, ms))
		return false;
	n = recv(cfd, a->b, sizeof(a->b), 0);
	assert_true(n > 0);
	a->len = (size_t)n;
	parse_ans(a);
	return true;
}

static void ask(struct env *e, const char *name, uint16_t type, struct ans *a)
{
	int cfd = client(e->port);
	struct mb q;

	mb_query(&q, 0x5151, name, type, 0);
	assert_true(ask_udp(e, cfd, &q, a, 2000));
	assert_int_equal(a->id, 0x5151);
	close(cfd);
}

/* --- answers from our zones ------------------------------------------------ */

static void publish(struct env *e, const char *fqdn, size_t n, uint32_t first_ip, enum dns_routing r)
{
	struct dns_instance v[64];
	char ids[64][24];
	struct berr *err = NULL;

	assert_true(n <= 64);
	for (size_t i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "T%zu", i + 1);
		v[i] = (struct dns_instance){ .id = ids[i], .port = (uint16_t)(8000 + i) };
		v[i].addr.s_addr = htonl(first_ip + (uint32_t)i);
	}
	if (dns_service_set(e->s, fqdn, v, n, 60, 30, r, &err) != 0)
		fail_msg("dns_service_set %s: %s", fqdn, berr_msg(err));
}

static void check_soa(const struct ans *a, uint32_t ttl)
{
	const struct dnsmsg_rrview *soa = section(a, 2, 0);
	uint8_t w[DNSMSG_NAME_MAX];
	char text[DNSMSG_TEXT_MAX];
	size_t off = soa->rdata;

	assert_int_equal(a->count[2], 1);
	assert_int_equal(soa->type, DNSMSG_SOA);
	assert_int_equal(soa->ttl, ttl);
	rr_text(soa, text);
	assert_string_equal(text, "berth.local");
	assert_true(dnsmsg_read_name(a->b, a->len, &off, w) > 0);
	assert_true(dnsmsg_read_name(a->b, a->len, &off, w) > 0);
	dnsmsg_name_to_text(w, text);
	assert_string_equal(text, "hostmaster.berth.local");
	/* MINIMUM, the negative TTL */
	assert_int_equal(g16(a->b + off + 18), ttl);
}

static void test_zone_answers(void **state)
{
	struct dns_config c = { .allow_prefix = 8 };
	struct ans *a = malloc(sizeof(*a));
	struct berr *err = NULL;
	struct env e;
	char text[DNSMSG_TEXT_MAX];

	(void)state;
	c.allow_net.s_addr = htonl(IP(10, 0, 0, 0));
	env_start(&e, &c);
	assert_int_equal(dns_zone_add(e.s, "Berth.Local.", 15, &err), 0);
	publish(&e, "web.berth.local", 3, IP(10, 213, 0, 2), DNS_MULTIVALUE);

	/* A: every instance, AA, no additional, RA off (no upstreams) */
	ask(&e, "web.berth.local", DNSMSG_A, a);
	assert_int_equal(a->flags, DNSMSG_F_QR | DNSMSG_F_AA | DNSMSG_F_RD);
	assert_int_equal(a->count[1], 3);
	assert_int_equal(a->count[2], 0);
	assert_int_equal(a->count[3], 0);
	{
		uint32_t seen = 0;

		for (size_t i = 0; i < 3; i++) {
			uint32_t ip = rr_a(a, section(a, 1, i));

			assert_int_equal(section(a, 1, i)->ttl, 60);
			assert_true(ip >= IP(10, 213, 0, 2) && ip <= IP(10, 213, 0, 4));
			seen |= 1u << (ip - IP(10, 213, 0, 2));
		}
		assert_int_equal(seen, 7);
	}

	/* SRV: "1 1 port id.fqdn" and the targets' addresses as additional */
	ask(&e, "web.berth.local", DNSMSG_SRV, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), 0);
	assert_int_equal(a->count[1], 3);
	assert_int_equal(a->count[3], 3);
	for (size_t i = 0; i < 3; i++) {
		const struct dnsmsg_rrview *srv = section(a, 1, i);
		const uint8_t *rd = a->b + srv->rdata;
		uint8_t w[DNSMSG_NAME_MAX];
		size_t off = srv->rdata + 6;
		uint16_t port = g16(rd + 4);
		char want[64];
		bool found = false;

		assert_int_equal(srv->type, DNSMSG_SRV);
		assert_int_equal(srv->ttl, 30);
		assert_int_equal(g16(rd), 1);
		assert_int_equal(g16(rd + 2), 1);
		assert_true(port >= 8000 && port <= 8002);
		assert_true(dnsmsg_read_name(a->b, a->len, &off, w) > 0);
		dnsmsg_name_to_text(w, text);
		snprintf(want, sizeof(want), "t%u.web.berth.local", port - 8000 + 1);
		assert_string_equal(text, want);
		for (size_t k = 0; k < 3; k++) {
			const struct dnsmsg_rrview *ar = section(a, 3, k);

			rr_text(ar, text);
			if (strcmp(text, want) != 0)
				continue;
			found = true;
			assert_int_equal(rr_a(a, ar), IP(10, 213, 0, 2) + (uint32_t)(port - 8000));
			assert_int_equal(ar->ttl, 30);
		}
		assert_true(found);
	}

	/* an instance's own name (ids match without case) */
	ask(&e, "t2.web.berth.local", DNSMSG_A, a);
	assert_int_equal(a->count[1], 1);
	assert_int_equal(rr_a(a, section(a, 1, 0)), IP(10, 213, 0, 3));
	ask(&e, "t9.web.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);

	/* AAAA of an existing name: NODATA with the SOA */
	ask(&e, "web.berth.local", DNSMSG_AAAA, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NOERROR);
	assert_true(a->flags & DNSMSG_F_AA);
	assert_int_equal(a->count[1], 0);
	check_soa(a, 15);

	/* unknown name in the zone: NXDOMAIN with the SOA */
	ask(&e, "nope.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);
	assert_true(a->flags & DNSMSG_F_AA);
	assert_int_equal(a->count[1], 0);
	check_soa(a, 15);
	ask(&e, "x.web.berth.local.sub.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);

	/* the apex: SOA answers, NS and A are NODATA */
	ask(&e, "berth.local", DNSMSG_SOA, a);
	assert_int_equal(a->count[1], 1);
	assert_int_equal(section(a, 1, 0)->type, DNSMSG_SOA);
	ask(&e, "berth.local", DNSMSG_NS, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NOERROR);
	assert_int_equal(a->count[1], 0);
	check_soa(a, 15);

	/* case: matched without it, echoed with it */
	ask(&e, "WeB.BeRtH.LoCaL", DNSMSG_A, a);
	assert_int_equal(a->count[1], 3);
	assert_memory_equal(section(a, 1, 0)->name, "\003WeB\005BeRtH\005LoCaL\0", 17);
	assert_memory_equal(a->b + 12, "\003WeB\005BeRtH\005LoCaL\0", 17);

	/* a name above a service exists (NODATA), one beside it does not */
	publish(&e, "api.v1.berth.local", 1, IP(10, 213, 1, 1), DNS_MULTIVALUE);
	ask(&e, "v1.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NOERROR);
	assert_int_equal(a->count[1], 0);
	ask(&e, "v2.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);

	/* names outside every zone, with no upstream: REFUSED */
	ask(&e, "example.com", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_REFUSED);
	assert_false(a->flags & DNSMSG_F_AA);
	ask(&e, "berth.localx", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_REFUSED);

	/* bad publications */
	assert_true(dns_service_set(e.s, "web.other.zone", NULL, 0, 60, 0, DNS_MULTIVALUE, &err) < 0);
	berr_clear(&err);
	assert_true(dns_service_set(e.s, "berth.local", NULL, 0, 60, 0, DNS_MULTIVALUE, &err) < 0);
	berr_clear(&err);
	assert_true(dns_service_set(e.s, "x.berth.local", NULL, 0, 60, 0, (enum dns_routing)7, &err) < 0);
	berr_clear(&err);
	{
		/* an id that is no DNS label: an A record under the service, no SRV */
		struct dns_instance odd[2] = { { .id = "i-1.x/y" }, { .id = "ok" } };

		odd[0].addr.s_addr = htonl(IP(10, 213, 5, 1));
		odd[1].addr.s_addr = htonl(IP(10, 213, 5, 2));
		assert_int_equal(dns_service_set(e.s, "odd.berth.local", odd, 2, 60, 60, DNS_MULTIVALUE, &err), 0);
		ask(&e, "odd.berth.local", DNSMSG_A, a);
		assert_int_equal(a->count[1], 2);
		ask(&e, "odd.berth.local", DNSMSG_SRV, a);
		assert_int_equal(a->count[1], 1);
		assert_int_equal(a->count[3], 1);
		assert_int_equal(rr_a(a, section(a, 3, 0)), IP(10, 213, 5, 2));
	}
	assert_true(dns_zone_add(e.s, "bad..zone", 10, &err) < 0);
	berr_clear(&err);

	env_stop(&e);
	free(a);
}

static void test_updates(void **state)
{
	struct dns_config c = { .allow_prefix = 32 };
	struct ans *a = malloc(sizeof(*a));
	struct berr *err = NULL;
	struct dns_instance one = { .id = "solo", .port = 9 };
	struct env e;

	(void)state;
	env_start(&e, &c);
	assert_int_equal(dns_zone_add(e.s, "berth.local", 5, &err), 0);
	publish(&e, "web.berth.local", 2, IP(10, 213, 0, 2), DNS_MULTIVALUE);
	ask(&e, "web.berth.local", DNSMSG_A, a);
	assert_int_equal(a->count[1], 2);

	/* replaced: the new set only */
	one.addr.s_addr = htonl(IP(10, 213, 9, 9));
	assert_int_equal(dns_service_set(e.s, "WEB.berth.local.", &one, 1, 10, 0, DNS_MULTIVALUE, &err), 0);
	ask(&e, "web.berth.local", DNSMSG_A, a);
	assert_int_equal(a->count[1], 1);
	assert_int_equal(rr_a(a, section(a, 1, 0)), IP(10, 213, 9, 9));
	assert_int_equal(section(a, 1, 0)->ttl, 10);
	/* no SRV TTL: no SRV records, but the instance name has its A */
	ask(&e, "web.berth.local", DNSMSG_SRV, a);
	assert_int_equal(a->count[1], 0);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NOERROR);
	ask(&e, "solo.web.berth.local", DNSMSG_A, a);
	assert_int_equal(rr_a(a, section(a, 1, 0)), IP(10, 213, 9, 9));
	assert_int_equal(section(a, 1, 0)->ttl, 10);

	/* no instances: the name exists without records */
	assert_int_equal(dns_service_set(e.s, "web.berth.local", NULL, 0, 10, 10, DNS_MULTIVALUE, &err), 0);
	ask(&e, "web.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NOERROR);
	assert_int_equal(a->count[1], 0);
	check_soa(a, 5);
	ask(&e, "solo.web.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);

	/* removed: gone */
	dns_service_remove(e.s, "web.berth.local");
	ask(&e, "web.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);

	/* the zone's removal takes its services along */
	publish(&e, "db.berth.local", 1, IP(10, 213, 0, 7), DNS_MULTIVALUE);
	ask(&e, "db.berth.local", DNSMSG_A, a);
	assert_int_equal(a->count[1], 1);
	dns_zone_remove(e.s, "berth.local");
	ask(&e, "db.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_REFUSED);
	assert_int_equal(dns_zone_add(e.s, "berth.local", 5, &err), 0);
	ask(&e, "db.berth.local", DNSMSG_A, a);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);

	env_stop(&e);
	free(a);
}

static void test_routing(void **state)
{
	struct dns_config c = { .allow_prefix = 32 };
	struct ans *a = malloc(sizeof(*a));
	struct berr *err = NULL;
	uint32_t seen = 0;
	struct env e;

	(void)state;
	env_start(&e, &c);
	assert_int_equal(dns_zone_add(e.s, "berth.local", 5, &err), 0);
	publish(&e, "many.berth.local", 20, IP(10, 213, 0, 10), DNS_MULTIVALUE);
	for (int round = 0; round < 40; round++) {
		uint32_t mine = 0;

		ask(&e, "many.berth.local", DNSMSG_A, a);
		assert_int_equal(a->count[1], DNS_MAX_ANSWERS);
		for (size_t i = 0; i < DNS_MAX_ANSWERS; i++) {
			uint32_t ip = rr_a(a, section(a, 1, i));

			assert_true(ip >= IP(10, 213, 0, 10) && ip < IP(10, 213, 0, 30));
			/* distinct within one answer */
			assert_false(mine & (1u << (ip - IP(10, 213, 0, 10))));
			mine |= 1u << (ip - IP(10, 213, 0, 10));
		}
		seen |= mine;
	}
	/* random subsets: forty of them reach all twenty (a miss is ~20 * 0.6^40) */
	assert_int_equal(seen, (1u << 20) - 1);

	/* SRV: 8 records, 8 additional, in 512 bytes */
	ask(&e, "many.berth.local", DNSMSG_SRV, a);
	assert_int_equal(a->count[1], DNS_MAX_ANSWERS);
	assert_int_equal(a->count[3], DNS_MAX_ANSWERS);
	assert_false(a->flags & DNSMSG_F_TC);

	/* WEIGHTED: one record, a random one */
	publish(&e, "one.berth.local", 20, IP(10, 213, 0, 40), DNS_WEIGHTED);
	seen = 0;
	for (int round = 0; round < 40; round++) {
		ask(&e, "one.berth.local", DNSMSG_A, a);
		assert_int_equal(a->count[1], 1);
		seen |= 1u << (rr_a(a, section(a, 1, 0)) - IP(10, 213, 0, 40));
		ask(&e, "one.berth.local", DNSMSG_SRV, a);
		assert_int_equal(a->count[1], 1);
		assert_int_equal(a->count[3], 1);
	}
	assert_true(__builtin_popcount(seen) > 5);
	env_stop(&e);
	free(a);
}

static void test_bad_queries(void **state)
{
	struct dns_config c = { .allow_prefix = 32 };
	struct ans *a = malloc(sizeof(*a));
	struct berr *err = NULL;
	struct env e;
	struct mb q;
	int cfd;

	(void)state;
	env_start(&e, &c);
	assert_int_equal(dns_zone_add(e.s, "berth.local", 5, &err), 0);
	cfd = client(e.port);
	/* too short: no answer at all */
	q.n = 5;
	memset(q.b, 0, 5);
	assert_false(ask_udp(&e, cfd, &q, a, 200));
	/* QDCOUNT 0: FORMERR with the ID */
	mb_query(&q, 0x0102, "a.berth.local", DNSMSG_A, 0);
	q.b[5] = 0;
	q.n = 12;
	assert_true(ask_udp(&e, cfd, &q, a, 2000));
	assert_int_equal(a->id, 0x0102);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_FORMERR);
	/* EDNS: the OPT comes back */
	mb_query(&q, 0x0103, "a.berth.local", DNSMSG_A, 1232);
	assert_true(ask_udp(&e, cfd, &q, a, 2000));
	assert_int_equal(a->count[3], 1);
	assert_int_equal(a->rr[a->n - 1].type, DNSMSG_OPT);
	close(cfd);
	env_stop(&e);
	free(a);
}

/* --- forwarding ------------------------------------------------------------ */

/* Read the query the server forwarded to upstream fd; its source in *from. */
static void upstream_recv(struct env *e, int fd, struct mb *m, struct sockaddr_in *from)
{
	socklen_t fl = sizeof(*from);
	ssize_t n;

	assert_true(pump_until(&e->d, fd, 3000));
	n = recvfrom(fd, m->b, sizeof(m->b), 0, (struct sockaddr *)from, &fl);
	assert_true(n >= 12);
	m->n = (size_t)n;
}

/* the reply to query m: QR, RA, one A record 192.0.2.<last> */
static void make_reply(const struct mb *m, struct mb *r, uint8_t last)
{
	*r = *m;
	/* as an authoritative server answers: QR, AA, no RA */
	r->b[2] |= 0x84;
	r->b[3] &= 0x7f;
	r->b[7] = 1;                       /* ANCOUNT 1 */
	r->b[11] = 0;                      /* drop the OPT, if any: cut below */
	{
		struct dnsmsg_query q;

		assert_int_equal(dnsmsg_parse_query(m->b, m->n, &q), 0);
		r->n = 12 + q.qwire_len + 4;
	}
	mb_put(r, "\xc0\x0c\0\x01\0\x01\0\0\0\x3c\0\x04\xc0\0\x02", 15);
	mb_put(r, &last, 1);
}

static void test_forward(void **state)
{
	struct sockaddr_in up_a = loop_addr(0), other_a = loop_addr(0), from;
	int up = bound(SOCK_DGRAM, &up_a), other = bound(SOCK_DGRAM, &other_a);
	struct dns_config c = { .allow_prefix = 32, .n_upstream = 1, .forward_timeout_ms = 3000 };
	struct ans *a = malloc(sizeof(*a));
	struct mb q, fq, r;
	struct env e;
	int cfd;

	(void)state;
	c.upstream[0] = up_a;
	env_start(&e, &c);
	cfd = client(e.port);
	mb_query(&q, 0x7777, "Example.COM", DNSMSG_A, 1232);
	assert_int_equal(send(cfd, q.b, q.n, 0), (ssize_t)q.n);
	upstream_recv(&e, up, &fq, &from);
	/* the same query, under another ID (this one could collide once in 65536) */
	assert_int_equal(fq.n, q.n);
	assert_memory_equal(fq.b + 2, q.b + 2, q.n - 2);

	/* spoofs: from another port, with a wrong ID, with another question */
	make_reply(&fq, &r, 66);
	assert_int_equal(sendto(other, r.b, r.n, 0, (struct sockaddr *)&from, sizeof(from)), (ssize_t)r.n);
	r.b[1] ^= 1;
	assert_int_equal(sendto(up, r.b, r.n, 0, (struct sockaddr *)&from, sizeof(from)), (ssize_t)r.n);
	r.b[1] ^= 1;
	r.b[13] = 'X';   /* Example -> EXample: same name; make it another */
	r.b[14] = 'q';
	assert_int_equal(sendto(up, r.b, r.n, 0, (struct sockaddr *)&from, sizeof(from)), (ssize_t)r.n);
	assert_false(pump_until(&e.d, cfd, 300));

	/* the real one: relayed with the client's ID */
	make_reply(&fq, &r, 7);
	assert_int_equal(sendto(up, r.b, r.n, 0, (struct sockaddr *)&from, sizeof(from)), (ssize_t)r.n);
	assert_true(pump_until(&e.d, cfd, 2000));
	a->len = (size_t)recv(cfd, a->b, sizeof(a->b), 0);
	parse_ans(a);
	assert_int_equal(a->id, 0x7777);
	assert_int_equal(a->count[1], 1);
	assert_int_equal(rr_a(a, section(a, 1, 0)), IP(192, 0, 2, 7));
	/* a late duplicate goes nowhere */
	assert_int_equal(sendto(up, r.b, r.n, 0, (struct sockaddr *)&from, sizeof(from)), (ssize_t)r.n);
	assert_false(pump_until(&e.d, cfd, 200));

	close(cfd);
	close(up);
	close(other);
	env_stop(&e);
	free(a);
}

static void test_forward_timeout(void **state)
{
	struct sockaddr_in dead_a = loop_addr(0), dead2_a = loop_addr(0), good_a = loop_addr(0), from;
	int dead = bound(SOCK_DGRAM, &dead_a), dead2 = bound(SOCK_DGRAM, &dead2_a);
	int good = bound(SOCK_DGRAM, &good_a);
	struct dns_config c = { .allow_prefix = 32, .n_upstream = 2, .forward_timeout_ms = 300 };
	struct ans *a = malloc(sizeof(*a));
	struct mb q, fq, r;
	struct env e;
	uint64_t t0;
	int cfd;

	(void)state;
	/* the first never answers: the second gets it after the timeout */
	c.upstream[0] = dead_a;
	c.upstream[1] = good_a;
	env_start(&e, &c);
	cfd = client(e.port);
	mb_query(&q, 0x2222, "example.org", DNSMSG_A, 0);
	t0 = now_ms();
	assert_int_equal(send(cfd, q.b, q.n, 0), (ssize_t)q.n);
	upstream_recv(&e, good, &fq, &from);
	assert_true(now_ms() - t0 >= 250);
	{
		struct mb dq;
		struct sockaddr_in df;

		upstream_recv(&e, dead, &dq, &df);
		assert_memory_equal(dq.b + 2, q.b + 2, q.n - 2);
	}
	make_reply(&fq, &r, 9);
	assert_int_equal(sendto(good, r.b, r.n, 0, (struct sockaddr *)&from, sizeof(from)), (ssize_t)r.n);
	assert_true(pump_until(&e.d, cfd, 2000));
	a->len = (size_t)recv(cfd, a->b, sizeof(a->b), 0);
	parse_ans(a);
	assert_int_equal(a->id, 0x2222);
	assert_int_equal(rr_a(a, section(a, 1, 0)), IP(192, 0, 2, 9));
	/* relayed as a recursive resolver answers: RA, and AA cleared */
	assert_true(a->flags & DNSMSG_F_RA);
	assert_false(a->flags & DNSMSG_F_AA);
	close(cfd);
	env_stop(&e);

	/* neither answers: SERVFAIL after both timeouts */
	c.upstream[1] = dead2_a;
	env_start(&e, &c);
	cfd = client(e.port);
	mb_query(&q, 0x3333, "example.net", DNSMSG_A, 0);
	t0 = now_ms();
	assert_true(ask_udp(&e, cfd, &q, a, 3000));
	assert_true(now_ms() - t0 >= 550);
	assert_int_equal(a->id, 0x3333);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_SERVFAIL);
	assert_true(a->flags & DNSMSG_F_RA);
	{
		struct pollfd p = { .fd = dead2, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 0), 1);   /* it was asked */
	}
	/* stopped with a forward in flight: nothing leaks (ASan) */
	assert_int_equal(send(cfd, q.b, q.n, 0), (ssize_t)q.n);
	assert_false(pump_until(&e.d, cfd, 50));
	close(cfd);
	env_stop(&e);
	close(dead);
	close(dead2);
	close(good);
	free(a);
}

/* --- TCP ------------------------------------------------------------------- */

static int tcp_client(uint16_t port)
{
	struct sockaddr_in srv = loop_addr(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&srv, sizeof(srv)), 0);
	return fd;
}

/* read one framed message from fd, running the loop meanwhile */
static void tcp_read(struct env *e, int fd, struct ans *a)
{
	uint8_t lb[2];
	size_t got = 0, want;

	while (got < 2) {
		ssize_t n;

		assert_true(pump_until(&e->d, fd, 3000));
		n = recv(fd, lb + got, 2 - got, MSG_DONTWAIT);
		assert_true(n > 0);
		got += (size_t)n;
	}
	want = (size_t)lb[0] << 8 | lb[1];
	got = 0;
	while (got < want) {
		ssize_t n;

		assert_true(pump_until(&e->d, fd, 3000));
		n = recv(fd, a->b + got, want - got, MSG_DONTWAIT);
		assert_true(n > 0);
		got += (size_t)n;
	}
	a->len = want;
	parse_ans(a);
}

static void frame(const struct mb *q, struct mb *out)
{
	mb_u16(out, (uint16_t)q->n);
	mb_put(out, q->b, q->n);
}

static void test_tcp(void **state)
{
	struct sockaddr_in up_a = loop_addr(0);
	int up = bound(SOCK_STREAM, &up_a);
	struct dns_config c = { .allow_prefix = 32, .n_upstream = 1, .forward_timeout_ms = 3000 };
	struct ans *a = malloc(sizeof(*a));
	struct berr *err = NULL;
	struct dns_instance v[8];
	char ids[8][64];
	struct mb q1, q2, both = { .n = 0 };
	struct env e;
	int t, cfd;

	(void)state;
	c.upstream[0] = up_a;
	env_start(&e, &c);
	assert_int_equal(dns_zone_add(e.s, "berth.local", 5, &err), 0);
	/* eight instances with 63-byte ids: the SRV answer needs ~1.5 kB */
	for (int i = 0; i < 8; i++) {
		memset(ids[i], 'a' + i, 63);
		ids[i][63] = '\0';
		v[i] = (struct dns_instance){ .id = ids[i], .port = 80 };
		v[i].addr.s_addr = htonl(IP(10, 213, 0, 100) + (uint32_t)i);
	}
	assert_int_equal(dns_service_set(e.s, "big.berth.local", v, 8, 10, 10, DNS_MULTIVALUE, &err), 0);

	/* over UDP: truncated */
	ask(&e, "big.berth.local", DNSMSG_SRV, a);
	assert_true(a->flags & DNSMSG_F_TC);
	assert_true(a->count[1] < 8);
	assert_true(a->len <= 512);

	/* over TCP, two queries in one write: both answered, in full */
	t = tcp_client(e.port);
	mb_query(&q1, 0x0a0a, "big.berth.local", DNSMSG_SRV, 0);
	mb_query(&q2, 0x0b0b, "nope.berth.local", DNSMSG_A, 0);
	frame(&q1, &both);
	frame(&q2, &both);
	assert_int_equal(send(t, both.b, both.n, 0), (ssize_t)both.n);
	tcp_read(&e, t, a);
	assert_int_equal(a->id, 0x0a0a);
	assert_false(a->flags & DNSMSG_F_TC);
	assert_int_equal(a->count[1], 8);
	assert_int_equal(a->count[3], 8);
	assert_true(a->len > 512);
	tcp_read(&e, t, a);
	assert_int_equal(a->id, 0x0b0b);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_NXDOMAIN);

	/* forwarded over TCP */
	mb_query(&q1, 0x0c0c, "example.com", DNSMSG_A, 0);
	both.n = 0;
	frame(&q1, &both);
	assert_int_equal(send(t, both.b, both.n, 0), (ssize_t)both.n);
	assert_true(pump_until(&e.d, up, 3000));
	cfd = accept4(up, NULL, NULL, SOCK_CLOEXEC);
	assert_true(cfd >= 0);
	{
		struct mb fq = { .n = 0 }, r, out = { .n = 0 };
		uint8_t lb[2];
		ssize_t n;

		assert_true(pump_until(&e.d, cfd, 3000));
		assert_int_equal(recv(cfd, lb, 2, MSG_WAITALL), 2);
		fq.n = (size_t)lb[0] << 8 | lb[1];
		assert_int_equal(fq.n, q1.n);
		n = recv(cfd, fq.b, fq.n, MSG_WAITALL);
		assert_int_equal(n, (ssize_t)fq.n);
		assert_memory_equal(fq.b + 2, q1.b + 2, q1.n - 2);
		make_reply(&fq, &r, 44);
		frame(&r, &out);
		assert_int_equal(send(cfd, out.b, out.n, 0), (ssize_t)out.n);
	}
	tcp_read(&e, t, a);
	assert_int_equal(a->id, 0x0c0c);
	assert_int_equal(rr_a(a, section(a, 1, 0)), IP(192, 0, 2, 44));
	close(cfd);

	/* the client goes away: its connection is closed on our side too */
	close(t);
	for (int i = 0; i < 20; i++)
		dispatch(&e.d, 10);
	env_stop(&e);
	close(up);
	free(a);
}

/* Upstreams that refuse (nothing listens on their port): the next one at
 * once, then SERVFAIL, over UDP (ICMP port unreachable) and over TCP (a
 * refused connect, answered from inside the client's own event). */
static void test_forward_refused(void **state)
{
	struct sockaddr_in gone_a = loop_addr(0), gone2_a = loop_addr(0);
	int g1 = bound(SOCK_DGRAM, &gone_a), g2 = bound(SOCK_DGRAM, &gone2_a);
	struct dns_config c = { .allow_prefix = 32, .n_upstream = 2, .forward_timeout_ms = 5000 };
	struct ans *a = malloc(sizeof(*a));
	struct mb q, fr = { .n = 0 };
	struct env e;
	uint64_t t0;
	int cfd, t;

	(void)state;
	/* ports that were just free and now are closed again */
	close(g1);
	close(g2);
	c.upstream[0] = gone_a;
	c.upstream[1] = gone2_a;
	env_start(&e, &c);
	cfd = client(e.port);
	mb_query(&q, 0x4444, "example.com", DNSMSG_A, 0);
	t0 = now_ms();
	assert_true(ask_udp(&e, cfd, &q, a, 3000));
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(a->id, 0x4444);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_SERVFAIL);
	close(cfd);

	t = tcp_client(e.port);
	mb_query(&q, 0x4545, "example.com", DNSMSG_A, 0);
	frame(&q, &fr);
	mb_query(&q, 0x4646, "example.org", DNSMSG_A, 0);
	frame(&q, &fr);
	assert_int_equal(send(t, fr.b, fr.n, 0), (ssize_t)fr.n);
	tcp_read(&e, t, a);
	assert_int_equal(a->id, 0x4545);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_SERVFAIL);
	tcp_read(&e, t, a);
	assert_int_equal(a->id, 0x4646);
	assert_int_equal(DNSMSG_RCODE(a->flags), DNSMSG_SERVFAIL);
	close(t);
	env_stop(&e);
	free(a);
}

/* --- the allow rule, in a private network namespace ----------------------- */

static int lo_setup(void)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sa = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	r |= ioctl(fd, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	r |= ioctl(fd, SIOCSIFFLAGS, &ifr);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo:1");
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(IP(10, 9, 0, 1));
	r |= ioctl(fd, SIOCSIFADDR, &ifr);
	close(fd);
	return r;
}

/* In the child: a server on 10.9.0.1 allowing allow/prefix; whether a
 * client at 10.9.0.1 gets an answer. 2: setup failed. */
static int allow_case(uint32_t allow, uint8_t prefix)
{
	struct dns_config c = { .allow_prefix = prefix };
	struct berthd d = { 0 };
	struct dns_server *s = NULL;
	struct sockaddr_in me = { .sin_family = AF_INET }, srv = { .sin_family = AF_INET };
	uint8_t buf[512];
	struct mb q;
	int fd, got;

	d.epfd = epoll_create1(EPOLL_CLOEXEC);
	c.listen.s_addr = htonl(IP(10, 9, 0, 1));
	c.port = 5353;
	c.allow_net.s_addr = htonl(allow);
	if (dns_server_start(&d, &c, &s, NULL) < 0 || dns_zone_add(s, "berth.local", 5, NULL) < 0)
		return 2;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	me.sin_addr.s_addr = htonl(IP(10, 9, 0, 1));
	srv.sin_addr.s_addr = htonl(IP(10, 9, 0, 1));
	srv.sin_port = htons(5353);
	if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    connect(fd, (struct sockaddr *)&srv, sizeof(srv)) < 0)
		return 2;
	mb_query(&q, 1, "x.berth.local", DNSMSG_A, 0);
	if (send(fd, q.b, q.n, 0) != (ssize_t)q.n)
		return 2;
	got = pump_until(&d, fd, 300) && recv(fd, buf, sizeof(buf), 0) > 12;
	/* TCP: accepted, then closed at once when not allowed */
	{
		int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		uint8_t f[2 + 64];
		ssize_t n;

		if (bind(t, (struct sockaddr *)&me, sizeof(me)) < 0 ||
		    connect(t, (struct sockaddr *)&srv, sizeof(srv)) < 0)
			return 2;
		f[0] = 0;
		f[1] = (uint8_t)q.n;
		memcpy(f + 2, q.b, q.n);
		if (send(t, f, 2 + q.n, MSG_NOSIGNAL) != (ssize_t)(2 + q.n))
			return 2;
		pump_until(&d, t, 300);
		n = recv(t, buf, sizeof(buf), MSG_DONTWAIT);
		if ((n > 2) != got)
			return 3;
		close(t);
	}
	close(fd);
	dns_server_stop(s);
	close(d.epfd);
	return got;
}

static void test_allow(void **state)
{
	pid_t pid;
	int st;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in, out;

		if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0 || lo_setup() != 0)
			_exit(10);
		in = allow_case(IP(10, 9, 0, 0), 16);
		out = allow_case(IP(10, 8, 0, 0), 16);
		_exit(in == 1 && out == 0 ? 0 : 20 + in * 4 + out);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 10)
		skip();   /* no user/network namespaces here: reported as skipped */
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int setup(void **state)
{
	(void)state;
	/* debug lines are built (their arguments run) but go nowhere */
	blog_set_sink(quiet, NULL);
	blog_set_level(BLOG_DEBUG);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zone_answers),
		cmocka_unit_test(test_updates),
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_bad_queries),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_forward_timeout),
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_forward_refused),
		cmocka_unit_test(test_allow),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
