/* fuzz_netns_dnsmsg: dnsmsg_parse_query on arbitrary bytes (what any task
 * may send to berthd's DNS responder); when it parses, responses of each
 * kind built into a small and a large buffer and read back, and the bytes
 * checked as a forwarded reply against themselves.
 * Invariants: no crash, no read outside the input; a parsed query's name
 * round-trips through text; every response stays within its limit, has
 * the counts its records need (whole records only), decodes to the
 * question's name where it points at it, and carries TC only when an
 * answer or authority record was left out. */
#include "netns/dnsmsg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Read back what dnsmsg_build_response wrote: every record parses and the
 * message ends where the last one does. */
static void check_response(const struct dnsmsg_query *q, const struct dnsmsg_answer *a, const uint8_t *b,
			   ssize_t n, size_t limit)
{
	uint8_t w[DNSMSG_NAME_MAX];
	size_t off = DNSMSG_HEADER_LEN, total;
	uint16_t flags, an, ns, ar;

	if (n < 0)
		return;
	check((size_t)n <= limit && n >= DNSMSG_HEADER_LEN);
	check(g16(b) == q->id);
	flags = g16(b + 2);
	check(flags & DNSMSG_F_QR);
	check(DNSMSG_RCODE(flags) == a->rcode);
	check(g16(b + 4) == (q->has_question ? 1 : 0));
	an = g16(b + 6);
	ns = g16(b + 8);
	ar = g16(b + 10);
	check(an <= a->n_an && ns <= a->n_ns && ar <= a->n_ar + (q->has_edns ? 1 : 0));
	check(((flags & DNSMSG_F_TC) != 0) == (an < a->n_an || ns < a->n_ns));
	if (q->has_question) {
		int l = dnsmsg_read_name(b, (size_t)n, &off, w);

		check(l == (int)q->qwire_len && memcmp(w, q->qwire, (size_t)l) == 0);
		off += 4;
	}
	total = (size_t)an + ns + ar;
	for (size_t i = 0; i < total; i++) {
		struct dnsmsg_rrview rr;

		check(dnsmsg_read_rr(b, (size_t)n, &off, &rr) == 0);
		/* records owned by the question point at it: same bytes, same case */
		if (i < an && a->an[i].name == NULL)
			check(rr.name_len == q->qwire_len && memcmp(rr.name, q->qwire, rr.name_len) == 0);
	}
	check(off == (size_t)n);
	if (q->has_edns)
		check(ar >= 1);
}

static void build_all(const struct dnsmsg_query *q)
{
	static uint8_t big[DNSMSG_TCP_MAX];
	uint8_t small[64];
	struct dnsmsg_rr an[12], ar[8], soa = {
		.name = "berth.local", .type = DNSMSG_SOA, .ttl = 5,
		.u.soa = { "berth.local", "hostmaster.berth.local", 1, 7200, 900, 1209600, 5 },
	};
	static const char *targets[4] = { "a.web.berth.local", "b.web.berth.local", "c.web.BERTH.local",
					  "d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d.d" };
	struct dnsmsg_answer kinds[4] = {
		{ .rcode = DNSMSG_NOERROR, .aa = true, .an = an, .n_an = 12 },
		{ .rcode = DNSMSG_NOERROR, .aa = true, .an = an, .n_an = 4, .ar = ar, .n_ar = 4 },
		{ .rcode = DNSMSG_NXDOMAIN, .aa = true, .ns = &soa, .n_ns = 1 },
		{ .rcode = DNSMSG_SERVFAIL, .ra = true },
	};

	for (int i = 0; i < 12; i++)
		an[i] = (struct dnsmsg_rr){ .type = DNSMSG_A, .ttl = 60, .u.a.s_addr = (uint32_t)i };
	for (int i = 0; i < 4; i++) {
		ar[i] = (struct dnsmsg_rr){ .name = targets[i], .type = DNSMSG_A, .ttl = 5 };
		ar[i].u.a.s_addr = (uint32_t)i;
	}
	for (size_t k = 0; k < 4; k++) {
		struct dnsmsg_answer a = kinds[k];
		ssize_t n;

		if (k == 1)
			for (int i = 0; i < 4; i++)
				an[i] = (struct dnsmsg_rr){ .type = DNSMSG_SRV, .ttl = 5,
							    .u.srv = { 1, 1, 80, targets[i] } };
		if (!q->has_question) {
			/* no question to own records: only bare answers work */
			if (a.n_an) {
				check(dnsmsg_build_response(q, &a, 512, big, sizeof(big)) == -EINVAL);
				continue;
			}
		}
		n = dnsmsg_build_response(q, &a, q->udp_size, big, sizeof(big));
		check(n >= 0);
		check_response(q, &a, big, n, q->udp_size);
		n = dnsmsg_build_response(q, &a, DNSMSG_TCP_MAX, small, sizeof(small));
		check(n >= 0 || n == -ENOSPC);
		check_response(q, &a, small, n, sizeof(small));
		if (k == 1)
			for (int i = 0; i < 4; i++)
				an[i] = (struct dnsmsg_rr){ .type = DNSMSG_A, .ttl = 60,
							    .u.a.s_addr = (uint32_t)i };
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsmsg_query q;
	int r = dnsmsg_parse_query(data, size, &q);

	/* a reply check over the same bytes reads within them too */
	(void)dnsmsg_reply_matches(data, size, data, size);
	if (r < 0)
		return 0;
	check(r == 0 || r == DNSMSG_FORMERR || r == DNSMSG_NOTIMP);
	check(q.udp_size >= DNSMSG_UDP_MIN && q.udp_size <= DNSMSG_UDP_MAX);
	if (q.has_question) {
		uint8_t w[DNSMSG_NAME_MAX];
		int l = dnsmsg_name_from_text(q.qname, w);

		check(q.qwire_len >= 1 && q.qwire_len <= DNSMSG_NAME_MAX);
		check(strlen(q.qname) < DNSMSG_TEXT_MAX);
		/* a name of plain labels comes back the same, but for case */
		if (l > 0) {
			check((size_t)l == q.qwire_len);
			for (int i = 0; i < l; i++)
				check((w[i] | 0x20) == (q.qwire[i] | 0x20));
		}
	}
	build_all(&q);
	return 0;
}
