/* tests/unit/netns/test_dnsmsg.c - the DNS wire format: queries parsed or
 * refused (short headers, bad labels, pointer loops, question counts,
 * EDNS0), answers built and read back (counts, flags, TTLs, compression
 * pointers that decode to the right names), truncation, reply matching. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "netns/dnsmsg.h"

/* --- building queries by hand ------------------------------------------- */

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

static void mb_u8(struct mb *m, uint8_t v)
{
	mb_put(m, &v, 1);
}

static void mb_u16(struct mb *m, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	mb_put(m, b, 2);
}

static void mb_u32(struct mb *m, uint32_t v)
{
	mb_u16(m, (uint16_t)(v >> 16));
	mb_u16(m, (uint16_t)v);
}

/* a dotted name, uncompressed (labels may hold anything but '.') */
static void mb_name(struct mb *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t n = dot ? (size_t)(dot - name) : strlen(name);

		mb_u8(m, (uint8_t)n);
		mb_put(m, name, n);
		name += n + (dot ? 1 : 0);
	}
	mb_u8(m, 0);
}

static void mb_header(struct mb *m, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns,
		      uint16_t ar)
{
	m->n = 0;
	mb_u16(m, id);
	mb_u16(m, flags);
	mb_u16(m, qd);
	mb_u16(m, an);
	mb_u16(m, ns);
	mb_u16(m, ar);
}

static void mb_opt(struct mb *m, uint16_t size)
{
	mb_u8(m, 0);
	mb_u16(m, DNSMSG_OPT);
	mb_u16(m, size);
	mb_u32(m, 0);
	mb_u16(m, 0);
}

/* a query for name/type; edns 0: no OPT */
static void mb_query(struct mb *m, uint16_t id, const char *name, uint16_t type, uint16_t edns)
{
	mb_header(m, id, DNSMSG_F_RD, 1, 0, 0, edns ? 1 : 0);
	mb_name(m, name);
	mb_u16(m, type);
	mb_u16(m, DNSMSG_CLASS_IN);
	if (edns)
		mb_opt(m, edns);
}

/* --- reading answers back ------------------------------------------------ */

struct parsed {
	uint16_t id, flags, count[4];
	char qname[DNSMSG_TEXT_MAX];
	struct dnsmsg_rrview rr[64];
	size_t rr_at[64];          /* offset of each record's owner name */
	size_t n;
};

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Every byte accounted for: the header's counts, one question, then
 * exactly that many records, and nothing after them. */
static void parse_back(const uint8_t *b, size_t len, struct parsed *p)
{
	uint8_t wire[DNSMSG_NAME_MAX];
	size_t off = DNSMSG_HEADER_LEN;

	memset(p, 0, sizeof(*p));
	assert_true(len >= DNSMSG_HEADER_LEN);
	p->id = g16(b);
	p->flags = g16(b + 2);
	for (int i = 0; i < 4; i++)
		p->count[i] = g16(b + 4 + 2 * i);
	if (p->count[0]) {
		assert_int_equal(p->count[0], 1);
		assert_true(dnsmsg_read_name(b, len, &off, wire) > 0);
		dnsmsg_name_to_text(wire, p->qname);
		off += 4;
	}
	for (size_t i = 0; i < (size_t)p->count[1] + p->count[2] + p->count[3]; i++) {
		assert_true(p->n < 64);
		p->rr_at[p->n] = off;
		assert_int_equal(dnsmsg_read_rr(b, len, &off, &p->rr[p->n]), 0);
		p->n++;
	}
	assert_int_equal(off, len);
}

static void rr_name(const struct dnsmsg_rrview *rr, char *text)
{
	dnsmsg_name_to_text(rr->name, text);
}

/* --- parsing ------------------------------------------------------------ */

static void test_parse_valid(void **state)
{
	struct dnsmsg_query q;
	struct mb m;

	(void)state;
	mb_query(&m, 0x1234, "Web.Berth.LOCAL", DNSMSG_A, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	assert_int_equal(q.id, 0x1234);
	assert_true(q.flags & DNSMSG_F_RD);
	assert_true(q.has_question);
	assert_string_equal(q.qname, "web.berth.local");
	/* the wire form keeps the case, for the echo */
	assert_int_equal(q.qwire_len, 17);
	assert_memory_equal(q.qwire, "\003Web\005Berth\005LOCAL\0", 17);
	assert_int_equal(q.qtype, DNSMSG_A);
	assert_int_equal(q.qclass, DNSMSG_CLASS_IN);
	assert_false(q.has_edns);
	assert_int_equal(q.udp_size, 512);

	/* the root, and a name of 253 bytes (four 62-byte labels) */
	mb_query(&m, 1, "", DNSMSG_SOA, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	assert_string_equal(q.qname, ".");
	{
		char name[300];
		char l62[63];

		memset(l62, 'a', 62);
		l62[62] = '\0';
		snprintf(name, sizeof(name), "%s.%s.%s.%s", l62, l62, l62, l62);
		mb_query(&m, 1, name, DNSMSG_A, 0);
		assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
		assert_int_equal(q.qwire_len, 253);
		/* four more bytes: 257, too long */
		snprintf(name, sizeof(name), "%s.%s.%s.%s.abc", l62, l62, l62, l62);
		mb_query(&m, 1, name, DNSMSG_A, 0);
		assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	}

	/* odd bytes in labels come out escaped, never as a plain dot */
	m.n = 0;
	mb_header(&m, 7, 0, 1, 0, 0, 0);
	mb_put(&m, "\003a.b\002\007Z\003com\0", 12);
	mb_u16(&m, DNSMSG_A);
	mb_u16(&m, DNSMSG_CLASS_IN);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	assert_string_equal(q.qname, "a\\.b.\\007z.com");
}

static void test_parse_invalid(void **state)
{
	struct dnsmsg_query q;
	struct mb m, full;

	(void)state;
	/* shorter than a header: nothing to answer */
	mb_query(&full, 0x4242, "web.berth.local", DNSMSG_A, 1232);
	for (size_t n = 0; n < DNSMSG_HEADER_LEN; n++)
		assert_int_equal(dnsmsg_parse_query(full.b, n, &q), -1);
	/* every other cut of a valid query is a FORMERR that keeps the ID */
	for (size_t n = DNSMSG_HEADER_LEN; n < full.n; n++) {
		assert_int_equal(dnsmsg_parse_query(full.b, n, &q), DNSMSG_FORMERR);
		assert_int_equal(q.id, 0x4242);
	}
	assert_int_equal(dnsmsg_parse_query(full.b, full.n, &q), 0);

	/* a response is never answered */
	mb_query(&m, 1, "a.b", DNSMSG_A, 0);
	m.b[2] |= 0x80;
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), -1);

	/* opcode STATUS (2) */
	mb_query(&m, 1, "a.b", DNSMSG_A, 0);
	m.b[2] |= 2 << 3;
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_NOTIMP);

	/* QDCOUNT 0 and 2 */
	mb_header(&m, 9, 0, 0, 0, 0, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	assert_false(q.has_question);
	mb_header(&m, 9, 0, 2, 0, 0, 0);
	mb_name(&m, "a.b");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_name(&m, "c.d");
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);

	/* a 64-byte label */
	{
		char l64[65];

		memset(l64, 'x', 64);
		l64[64] = '\0';
		mb_query(&m, 1, l64, DNSMSG_A, 0);
		assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
		l64[63] = '\0';
		mb_query(&m, 1, l64, DNSMSG_A, 0);
		assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	}

	/* extended label types 01 and 10 */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_put(&m, "\x41" "abc\0", 5);
	mb_u32(&m, 0x00010001);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	m.b[12] = 0x81;
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);

	/* a question that is a pointer to itself, and one pointing forward */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_put(&m, "\xc0\x0c", 2);
	mb_u32(&m, 0x00010001);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_put(&m, "\xc0\x12", 2);
	mb_u32(&m, 0x00010001);
	mb_name(&m, "a.b");
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	/* a pointer cut in half */
	mb_header(&m, 1, 0, 1, 0, 0, 0);
	mb_put(&m, "\001a\xc0", 3);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);

	/* a question type OPT */
	mb_query(&m, 1, "a.b", DNSMSG_OPT, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
}

static void test_parse_compression(void **state)
{
	struct dnsmsg_query q;
	struct mb m;

	(void)state;
	/* an answer record in the query whose owner points at the question:
	 * accepted (pointers backwards are fine) */
	mb_header(&m, 5, 0, 1, 1, 0, 0);
	mb_name(&m, "web.berth.local");
	mb_u32(&m, 0x00010001);
	mb_put(&m, "\003foo\xc0\x0c", 6);
	mb_u16(&m, DNSMSG_A);
	mb_u16(&m, 1);
	mb_u32(&m, 60);
	mb_u16(&m, 4);
	mb_u32(&m, 0x0a000001);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	{
		struct dnsmsg_rrview rr;
		char text[DNSMSG_TEXT_MAX];
		size_t off = 12 + 17 + 4;

		assert_int_equal(dnsmsg_read_rr(m.b, m.n, &off, &rr), 0);
		rr_name(&rr, text);
		assert_string_equal(text, "foo.web.berth.local");
		assert_int_equal(off, m.n);
	}

	/* a chain of pointers that loops: record 2 -> record 1 -> record 2 */
	mb_header(&m, 5, 0, 1, 2, 0, 0);
	mb_name(&m, "a.b");                              /* 12..16 */
	mb_u32(&m, 0x00010001);                          /* ..20 */
	mb_put(&m, "\xc0\x20", 2);                       /* 21: -> 32, forward */
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_u32(&m, 0);
	mb_u16(&m, 0);                                   /* ..31 */
	mb_put(&m, "\xc0\x15", 2);                       /* 32: -> 21 */
	mb_u16(&m, 1);
	mb_u16(&m, 1);
	mb_u32(&m, 0);
	mb_u16(&m, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	/* pointer hopping backwards through labels into a pointer back to them */
	mb_header(&m, 5, 0, 1, 1, 0, 0);
	mb_name(&m, "a.b");
	mb_u32(&m, 0x00010001);
	mb_put(&m, "\001x\xc0\x15", 4);                  /* 21: x -> 21 (itself) */
	mb_u32(&m, 0x00010001);
	mb_u32(&m, 0);
	mb_u16(&m, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
}

static void test_parse_edns(void **state)
{
	struct dnsmsg_query q;
	struct mb m;

	(void)state;
	mb_query(&m, 1, "a.b", DNSMSG_A, 1232);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	assert_true(q.has_edns);
	assert_int_equal(q.udp_size, 1232);
	mb_query(&m, 1, "a.b", DNSMSG_A, 100);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	assert_int_equal(q.udp_size, 512);
	mb_query(&m, 1, "a.b", DNSMSG_A, 65000);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	assert_int_equal(q.udp_size, 4096);

	/* two OPTs */
	mb_header(&m, 1, 0, 1, 0, 0, 2);
	mb_name(&m, "a.b");
	mb_u32(&m, 0x00010001);
	mb_opt(&m, 1232);
	mb_opt(&m, 1232);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	/* an OPT not owned by the root */
	mb_header(&m, 1, 0, 1, 0, 0, 1);
	mb_name(&m, "a.b");
	mb_u32(&m, 0x00010001);
	mb_name(&m, "x");
	mb_u16(&m, DNSMSG_OPT);
	mb_u16(&m, 1232);
	mb_u32(&m, 0);
	mb_u16(&m, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	/* other additional records are skipped; the OPT after them counts */
	mb_header(&m, 1, 0, 1, 0, 0, 2);
	mb_name(&m, "a.b");
	mb_u32(&m, 0x00010001);
	mb_name(&m, "tsig.example");
	mb_u16(&m, 250);
	mb_u16(&m, 255);
	mb_u32(&m, 0);
	mb_u16(&m, 3);
	mb_put(&m, "xyz", 3);
	mb_opt(&m, 2000);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	assert_true(q.has_edns);
	assert_int_equal(q.udp_size, 2000);
	/* an RDLENGTH past the end */
	m.b[m.n - 1] = 5;
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
}

static void test_names(void **state)
{
	uint8_t w[DNSMSG_NAME_MAX];
	char text[DNSMSG_TEXT_MAX];
	char big[300];

	(void)state;
	assert_int_equal(dnsmsg_name_from_text("Web.berth.local.", w), 17);
	assert_memory_equal(w, "\003Web\005berth\005local\0", 17);
	dnsmsg_name_to_text(w, text);
	assert_string_equal(text, "web.berth.local");
	assert_int_equal(dnsmsg_name_from_text(".", w), 1);
	assert_int_equal(dnsmsg_name_from_text("", w), 1);
	assert_int_equal(dnsmsg_name_from_text("a..b", w), -EINVAL);
	assert_int_equal(dnsmsg_name_from_text(".a", w), -EINVAL);
	assert_int_equal(dnsmsg_name_from_text("a b", w), -EINVAL);
	assert_int_equal(dnsmsg_name_from_text("a\\.b", w), -EINVAL);
	memset(big, 'a', 64);
	big[64] = '\0';
	assert_int_equal(dnsmsg_name_from_text(big, w), -EINVAL);
	big[63] = '\0';
	assert_int_equal(dnsmsg_name_from_text(big, w), 65);
	/* 127 labels "a." = 254 bytes + root = 255: fits; one more does not */
	for (int i = 0; i < 127; i++)
		memcpy(big + 2 * i, "a.", 2);
	big[254] = '\0';
	assert_int_equal(dnsmsg_name_from_text(big, w), 255);
	memcpy(big + 254, "b", 2);
	assert_int_equal(dnsmsg_name_from_text(big, w), -EINVAL);
}

/* --- building ----------------------------------------------------------- */

static struct dnsmsg_query query_for(const char *name, uint16_t type, uint16_t edns)
{
	struct dnsmsg_query q;
	struct mb m;

	mb_query(&m, 0xbeef, name, type, edns);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), 0);
	return q;
}

static struct dnsmsg_rr a_rr(const char *name, uint32_t ttl, const char *ip)
{
	struct dnsmsg_rr r = { .name = name, .type = DNSMSG_A, .ttl = ttl };

	assert_int_equal(inet_pton(AF_INET, ip, &r.u.a), 1);
	return r;
}

static void test_build_a(void **state)
{
	struct dnsmsg_query q = query_for("WEB.berth.local", DNSMSG_A, 0);
	struct dnsmsg_rr an[3] = { a_rr(NULL, 60, "10.213.0.2"), a_rr(NULL, 60, "10.213.0.3"),
				   a_rr(NULL, 60, "10.213.0.4") };
	struct dnsmsg_answer a = { .aa = true, .ra = true, .an = an, .n_an = 3 };
	uint8_t buf[512];
	struct parsed p;
	ssize_t n;

	(void)state;
	n = dnsmsg_build_response(&q, &a, q.udp_size, buf, sizeof(buf));
	assert_true(n > 0);
	parse_back(buf, (size_t)n, &p);
	assert_int_equal(p.id, 0xbeef);
	assert_int_equal(p.flags, DNSMSG_F_QR | DNSMSG_F_AA | DNSMSG_F_RD | DNSMSG_F_RA);
	assert_int_equal(p.count[1], 3);
	assert_int_equal(p.count[2], 0);
	assert_int_equal(p.count[3], 0);
	/* the question echoed as sent, case and all */
	assert_memory_equal(buf + 12, "\003WEB\005berth\005local\0", 17);
	for (size_t i = 0; i < 3; i++) {
		char text[DNSMSG_TEXT_MAX];

		/* each owner is a pointer to the question: 2 bytes, 0xc00c */
		assert_int_equal(buf[p.rr_at[i]], 0xc0);
		assert_int_equal(buf[p.rr_at[i] + 1], 12);
		assert_memory_equal(p.rr[i].name, "\003WEB\005berth\005local\0", 17);
		rr_name(&p.rr[i], text);
		assert_string_equal(text, "web.berth.local");
		assert_int_equal(p.rr[i].type, DNSMSG_A);
		assert_int_equal(p.rr[i].rclass, DNSMSG_CLASS_IN);
		assert_int_equal(p.rr[i].ttl, 60);
		assert_int_equal(p.rr[i].rdlen, 4);
		assert_memory_equal(buf + p.rr[i].rdata, &an[i].u.a, 4);
	}
	/* header + question + 3 x (2 + 10 + 4) */
	assert_int_equal(n, 12 + 17 + 4 + 3 * 16);
}

static void test_build_srv(void **state)
{
	struct dnsmsg_query q = query_for("Web.Berth.Local", DNSMSG_SRV, 1232);
	struct dnsmsg_rr an[2], ar[2];
	struct dnsmsg_answer a = { .aa = true, .an = an, .n_an = 2, .ar = ar, .n_ar = 2 };
	const char *targets[2] = { "id1.web.berth.local", "id2.web.berth.local" };
	uint8_t buf[1232];
	struct parsed p;
	ssize_t n;

	(void)state;
	for (int i = 0; i < 2; i++) {
		an[i] = (struct dnsmsg_rr){ .type = DNSMSG_SRV, .ttl = 30,
					    .u.srv = { 1, 1, (uint16_t)(8080 + i), targets[i] } };
		ar[i] = a_rr(targets[i], 30, i ? "10.0.0.2" : "10.0.0.1");
	}
	n = dnsmsg_build_response(&q, &a, q.udp_size, buf, sizeof(buf));
	assert_true(n > 0);
	parse_back(buf, (size_t)n, &p);
	assert_int_equal(p.flags, DNSMSG_F_QR | DNSMSG_F_AA | DNSMSG_F_RD);
	assert_int_equal(p.count[1], 2);
	assert_int_equal(p.count[2], 0);
	assert_int_equal(p.count[3], 3);   /* two A and the OPT */
	for (int i = 0; i < 2; i++) {
		uint8_t w[DNSMSG_NAME_MAX];
		char text[DNSMSG_TEXT_MAX];
		size_t off = p.rr[i].rdata + 6;
		const uint8_t *rd = buf + p.rr[i].rdata;

		assert_int_equal(p.rr[i].type, DNSMSG_SRV);
		assert_int_equal(p.rr[i].ttl, 30);
		assert_int_equal(g16(rd), 1);
		assert_int_equal(g16(rd + 2), 1);
		assert_int_equal(g16(rd + 4), 8080 + i);
		/* the target is written in full (RFC 2782) */
		assert_int_equal(p.rr[i].rdlen, 6 + 21);
		assert_int_equal(dnsmsg_read_name(buf, (size_t)n, &off, w), 21);
		dnsmsg_name_to_text(w, text);
		assert_string_equal(text, targets[i]);
		/* the additional A's owner is a pointer to that target */
		assert_int_equal(p.rr[2 + i].type, DNSMSG_A);
		assert_int_equal(buf[p.rr_at[2 + i]] & 0xc0, 0xc0);
		rr_name(&p.rr[2 + i], text);
		assert_string_equal(text, targets[i]);
	}
	/* every SRV owner is the question, as a pointer */
	assert_int_equal(buf[p.rr_at[1]], 0xc0);
	assert_int_equal(buf[p.rr_at[1] + 1], 12);
	/* the OPT comes last, with our payload size */
	assert_int_equal(p.rr[4].type, DNSMSG_OPT);
	assert_int_equal(p.rr[4].rclass, DNSMSG_UDP_MAX);
	assert_int_equal(p.rr[4].name_len, 1);
}

static void test_build_negative(void **state)
{
	struct dnsmsg_query q = query_for("nope.Berth.local", DNSMSG_AAAA, 0);
	struct dnsmsg_rr soa = {
		.name = "berth.local", .type = DNSMSG_SOA, .ttl = 15,
		.u.soa = { "berth.local", "hostmaster.berth.local", 42, 7200, 900, 1209600, 15 },
	};
	struct dnsmsg_answer a = { .rcode = DNSMSG_NXDOMAIN, .aa = true, .ns = &soa, .n_ns = 1 };
	uint8_t buf[512], w[DNSMSG_NAME_MAX];
	char text[DNSMSG_TEXT_MAX];
	struct parsed p;
	size_t off;
	ssize_t n;

	(void)state;
	n = dnsmsg_build_response(&q, &a, q.udp_size, buf, sizeof(buf));
	assert_true(n > 0);
	parse_back(buf, (size_t)n, &p);
	assert_int_equal(DNSMSG_RCODE(p.flags), DNSMSG_NXDOMAIN);
	assert_true(p.flags & DNSMSG_F_AA);
	assert_false(p.flags & DNSMSG_F_RA);
	assert_int_equal(p.count[1], 0);
	assert_int_equal(p.count[2], 1);
	assert_int_equal(p.rr[0].type, DNSMSG_SOA);
	assert_int_equal(p.rr[0].ttl, 15);
	/* owner: a pointer into the question's "Berth.local" */
	assert_int_equal(buf[p.rr_at[0]], 0xc0);
	assert_int_equal(buf[p.rr_at[0] + 1], 12 + 5);
	rr_name(&p.rr[0], text);
	assert_string_equal(text, "berth.local");
	off = p.rr[0].rdata;
	assert_true(dnsmsg_read_name(buf, (size_t)n, &off, w) > 0);
	dnsmsg_name_to_text(w, text);
	assert_string_equal(text, "berth.local");
	assert_true(dnsmsg_read_name(buf, (size_t)n, &off, w) > 0);
	dnsmsg_name_to_text(w, text);
	assert_string_equal(text, "hostmaster.berth.local");
	assert_int_equal(off + 20, p.rr[0].rdata + p.rr[0].rdlen);
	assert_int_equal(g16(buf + off + 2), 42);                /* serial */
	assert_int_equal(g16(buf + off + 18), 15);               /* minimum */
	/* rdata: mname a bare pointer, rname one label and a pointer */
	assert_int_equal(p.rr[0].rdlen, 2 + 13 + 20);
}

static void test_build_errors(void **state)
{
	struct dnsmsg_query q;
	struct dnsmsg_answer a = { .rcode = DNSMSG_FORMERR };
	struct dnsmsg_rr bad = { .name = "a..b", .type = DNSMSG_A };
	uint8_t buf[512];
	struct parsed p;
	struct mb m;
	ssize_t n;

	(void)state;
	/* a FORMERR without a question */
	mb_header(&m, 77, DNSMSG_F_RD, 0, 0, 0, 0);
	assert_int_equal(dnsmsg_parse_query(m.b, m.n, &q), DNSMSG_FORMERR);
	n = dnsmsg_build_response(&q, &a, 512, buf, sizeof(buf));
	assert_int_equal(n, 12);
	parse_back(buf, (size_t)n, &p);
	assert_int_equal(p.id, 77);
	assert_int_equal(p.flags, DNSMSG_F_QR | DNSMSG_F_RD | DNSMSG_FORMERR);
	assert_int_equal(p.count[0], 0);
	/* an answer owned by "the question" when there is none */
	a.an = &(struct dnsmsg_rr){ .type = DNSMSG_A };
	a.n_an = 1;
	assert_int_equal(dnsmsg_build_response(&q, &a, 512, buf, sizeof(buf)), -EINVAL);

	q = query_for("a.b", DNSMSG_A, 0);
	a.an = &bad;
	assert_int_equal(dnsmsg_build_response(&q, &a, 512, buf, sizeof(buf)), -EINVAL);
	bad.name = "ok";
	bad.type = DNSMSG_AAAA;
	assert_int_equal(dnsmsg_build_response(&q, &a, 512, buf, sizeof(buf)), -EINVAL);
	/* no room for header and question */
	a.n_an = 0;
	assert_int_equal(dnsmsg_build_response(&q, &a, 512, buf, 11), -ENOSPC);
	assert_int_equal(dnsmsg_build_response(&q, &a, 12 + 8, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(dnsmsg_build_response(&q, &a, 512, buf, 12 + 9), 12 + 9);
}

static void test_truncation(void **state)
{
	struct dnsmsg_rr an[40], ar[40];
	char names[40][64];
	uint8_t buf[4096];
	struct parsed p;
	ssize_t n;

	(void)state;
	for (int i = 0; i < 40; i++)
		an[i] = a_rr(NULL, 5, "10.1.2.3");
	{
		/* plain UDP: 512 bytes, whole records only, TC */
		struct dnsmsg_query q = query_for("many.berth.local", DNSMSG_A, 0);
		struct dnsmsg_answer a = { .an = an, .n_an = 40 };

		n = dnsmsg_build_response(&q, &a, q.udp_size, buf, sizeof(buf));
		assert_true(n > 0 && n <= 512);
		parse_back(buf, (size_t)n, &p);
		assert_true(p.flags & DNSMSG_F_TC);
		assert_int_equal(p.count[1], (512 - 12 - 22) / 16);
		/* the same over TCP (no limit but the buffer): everything */
		n = dnsmsg_build_response(&q, &a, DNSMSG_TCP_MAX, buf, sizeof(buf));
		parse_back(buf, (size_t)n, &p);
		assert_false(p.flags & DNSMSG_F_TC);
		assert_int_equal(p.count[1], 40);
	}
	{
		/* EDNS 600: the OPT always fits */
		struct dnsmsg_query q = query_for("many.berth.local", DNSMSG_A, 600);
		struct dnsmsg_answer a = { .an = an, .n_an = 40 };

		n = dnsmsg_build_response(&q, &a, q.udp_size, buf, sizeof(buf));
		assert_true(n > 0 && n <= 600);
		parse_back(buf, (size_t)n, &p);
		assert_true(p.flags & DNSMSG_F_TC);
		assert_int_equal(p.count[1], (600 - 12 - 22 - 11) / 16);
		assert_int_equal(p.count[3], 1);
		assert_int_equal(p.rr[p.n - 1].type, DNSMSG_OPT);
	}
	{
		/* additional records that do not fit are dropped without TC */
		struct dnsmsg_query q = query_for("svc.berth.local", DNSMSG_SRV, 0);
		struct dnsmsg_answer a = { .an = an, .n_an = 6, .ar = ar, .n_ar = 6 };

		for (int i = 0; i < 6; i++) {
			snprintf(names[i], sizeof(names[i]), "instance-%02d-0123456789abcdef0123456789.svc.berth.local",
				 i);
			an[i] = (struct dnsmsg_rr){ .type = DNSMSG_SRV, .ttl = 5,
						    .u.srv = { 1, 1, 80, names[i] } };
			ar[i] = a_rr(names[i], 5, "10.9.9.9");
		}
		n = dnsmsg_build_response(&q, &a, q.udp_size, buf, sizeof(buf));
		assert_true(n > 0 && n <= 512);
		parse_back(buf, (size_t)n, &p);
		assert_false(p.flags & DNSMSG_F_TC);
		assert_int_equal(p.count[1], 6);
		assert_true(p.count[3] < 6);
		assert_true(p.count[3] > 0);
	}
}

static void test_id_and_match(void **state)
{
	struct mb qm, rm;

	(void)state;
	mb_query(&qm, 0x1111, "Example.COM", DNSMSG_A, 0);
	assert_int_equal(dnsmsg_get_id(qm.b), 0x1111);
	dnsmsg_set_id(qm.b, 0xabcd);
	assert_int_equal(dnsmsg_get_id(qm.b), 0xabcd);
	assert_int_equal(qm.b[0], 0xab);
	assert_int_equal(qm.b[1], 0xcd);

	mb_query(&rm, 0xabcd, "example.com", DNSMSG_A, 0);
	rm.b[2] |= 0x80;
	assert_true(dnsmsg_reply_matches(qm.b, qm.n, rm.b, rm.n));
	/* not a response */
	rm.b[2] &= 0x7f;
	assert_false(dnsmsg_reply_matches(qm.b, qm.n, rm.b, rm.n));
	rm.b[2] |= 0x80;
	/* another ID */
	dnsmsg_set_id(rm.b, 0xabce);
	assert_false(dnsmsg_reply_matches(qm.b, qm.n, rm.b, rm.n));
	/* another type, another name, no question, short */
	mb_query(&rm, 0xabcd, "example.com", DNSMSG_AAAA, 0);
	rm.b[2] |= 0x80;
	assert_false(dnsmsg_reply_matches(qm.b, qm.n, rm.b, rm.n));
	mb_query(&rm, 0xabcd, "example.org", DNSMSG_A, 0);
	rm.b[2] |= 0x80;
	assert_false(dnsmsg_reply_matches(qm.b, qm.n, rm.b, rm.n));
	mb_header(&rm, 0xabcd, DNSMSG_F_QR | DNSMSG_SERVFAIL, 0, 0, 0, 0);
	assert_false(dnsmsg_reply_matches(qm.b, qm.n, rm.b, rm.n));
	assert_false(dnsmsg_reply_matches(qm.b, qm.n, rm.b, 5));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_invalid),
		cmocka_unit_test(test_parse_compression),
		cmocka_unit_test(test_parse_edns),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_build_a),
		cmocka_unit_test(test_build_srv),
		cmocka_unit_test(test_build_negative),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_id_and_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
