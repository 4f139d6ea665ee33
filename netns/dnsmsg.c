/* netns/dnsmsg.c - the DNS wire format: see dnsmsg.h. */
#include "netns/dnsmsg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

uint16_t dnsmsg_get_id(const uint8_t *msg)
{
	return get16(msg);
}

void dnsmsg_set_id(uint8_t *msg, uint16_t id)
{
	put16(msg, id);
}

/* A pointer must point before the start of the run of labels it ends: the
 * runs move strictly backwards, so no loop, and every read is checked
 * against len. */
int dnsmsg_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t wire[DNSMSG_NAME_MAX])
{
	size_t p = *off, run = *off, end = 0, wl = 0;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (p >= len)
			return -1;
		c = msg[p];
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;

			if (p + 1 >= len)
				return -1;
			ptr = (size_t)(c & 0x3f) << 8 | msg[p + 1];
			if (ptr >= run)
				return -1;
			if (!jumped) {
				end = p + 2;
				jumped = true;
			}
			run = p = ptr;
			continue;
		}
		if (c & 0xc0)   /* 01 and 10: extended label types, obsolete */
			return -1;
		if (wl + 1 + c > DNSMSG_NAME_MAX || p + 1 + c > len)
			return -1;
		wire[wl++] = c;
		if (c == 0)
			break;
		memcpy(wire + wl, msg + p + 1, c);
		wl += c;
		p += 1 + c;
	}
	*off = jumped ? end : p + 1;
	return (int)wl;
}

void dnsmsg_name_to_text(const uint8_t *wire, char text[DNSMSG_TEXT_MAX])
{
	size_t n = 0;

	if (wire[0] == 0) {
		strcpy(text, ".");
		return;
	}
	for (size_t i = 0; wire[i] != 0; i += 1 + wire[i]) {
		if (i > 0)
			text[n++] = '.';
		for (size_t k = 1; k <= wire[i]; k++) {
			uint8_t c = lower(wire[i + k]);

			if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
				text[n++] = (char)c;
			} else if (c == '.' || c == '\\') {
				text[n++] = '\\';
				text[n++] = (char)c;
			} else {
				snprintf(text + n, 5, "\\%03u", c);
				n += 4;
			}
		}
	}
	text[n] = '\0';
}

int dnsmsg_name_from_text(const char *text, uint8_t wire[DNSMSG_NAME_MAX])
{
	size_t wl = 0;
	const char *p = text;

	if (strcmp(text, ".") == 0)
		p = "";
	while (*p) {
		size_t n = 0;

		while (p[n] && p[n] != '.') {
			char c = p[n];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '-' || c == '_'))
				return -EINVAL;
			n++;
		}
		if (n == 0 || n > DNSMSG_LABEL_MAX || wl + 1 + n + 1 > DNSMSG_NAME_MAX)
			return -EINVAL;
		wire[wl++] = (uint8_t)n;
		memcpy(wire + wl, p, n);
		wl += n;
		p += n;
		if (*p == '.')
			p++;
	}
	wire[wl++] = 0;
	return (int)wl;
}

int dnsmsg_read_rr(const uint8_t *msg, size_t len, size_t *off, struct dnsmsg_rrview *rr)
{
	size_t p = *off;
	int n = dnsmsg_read_name(msg, len, &p, rr->name);

	if (n < 0 || len - p < 10)
		return -1;
	rr->name_len = (size_t)n;
	rr->type = get16(msg + p);
	rr->rclass = get16(msg + p + 2);
	rr->ttl = get32(msg + p + 4);
	rr->rdlen = get16(msg + p + 8);
	p += 10;
	if (len - p < rr->rdlen)
		return -1;
	rr->rdata = p;
	*off = p + rr->rdlen;
	return 0;
}

int dnsmsg_parse_query(const uint8_t *msg, size_t len, struct dnsmsg_query *q)
{
	struct dnsmsg_rrview rr;
	size_t off = DNSMSG_HEADER_LEN;
	unsigned qd, an, ns, ar;
	int n;

	memset(q, 0, sizeof(*q));
	q->udp_size = DNSMSG_UDP_MIN;
	if (len < DNSMSG_HEADER_LEN)
		return -1;
	q->id = get16(msg);
	q->flags = get16(msg + 2);
	if (q->flags & DNSMSG_F_QR)
		return -1;
	if (DNSMSG_OPCODE(q->flags) != 0)
		return DNSMSG_NOTIMP;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	ns = get16(msg + 8);
	ar = get16(msg + 10);
	if (qd != 1)
		return DNSMSG_FORMERR;
	n = dnsmsg_read_name(msg, len, &off, q->qwire);
	if (n < 0 || len - off < 4)
		return DNSMSG_FORMERR;
	q->qwire_len = (size_t)n;
	q->qtype = get16(msg + off);
	q->qclass = get16(msg + off + 2);
	off += 4;
	dnsmsg_name_to_text(q->qwire, q->qname);
	q->has_question = true;
	if (q->qtype == DNSMSG_OPT)
		return DNSMSG_FORMERR;
	for (unsigned i = 0; i < an + ns; i++)
		if (dnsmsg_read_rr(msg, len, &off, &rr) < 0)
			return DNSMSG_FORMERR;
	for (unsigned i = 0; i < ar; i++) {
		if (dnsmsg_read_rr(msg, len, &off, &rr) < 0)
			return DNSMSG_FORMERR;
		if (rr.type != DNSMSG_OPT)
			continue;
		/* RFC 6891 6.1.1: one OPT, owned by the root */
		if (q->has_edns || rr.name_len != 1)
			return DNSMSG_FORMERR;
		q->has_edns = true;
		q->edns_version = (uint8_t)(rr.ttl >> 16);
		q->udp_size = rr.rclass < DNSMSG_UDP_MIN ? DNSMSG_UDP_MIN
			    : rr.rclass > DNSMSG_UDP_MAX ? DNSMSG_UDP_MAX : rr.rclass;
	}
	return 0;
}

/* --- writing ----------------------------------------------------------- */

#define MAX_NAMES 64   /* label offsets kept as compression targets */

struct wr {
	uint8_t *b;
	size_t lim, len;
	uint16_t names[MAX_NAMES];
	size_t n_names;
};

static bool wr_put(struct wr *w, const void *p, size_t n)
{
	if (n > w->lim - w->len)
		return false;
	memcpy(w->b + w->len, p, n);
	w->len += n;
	return true;
}

static bool wr_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2];

	put16(b, v);
	return wr_put(w, b, 2);
}

static bool wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	return wr_put(w, b, 4);
}

/* Whether the (possibly compressed) name at off of what is written equals
 * the wire name s, ignoring case. Only our own output is read here, but
 * the walk is bounded all the same. */
static bool name_at_eq(const uint8_t *b, size_t len, size_t off, const uint8_t *s)
{
	for (unsigned hops = 0;;) {
		uint8_t c;

		if (off >= len)
			return false;
		c = b[off];
		if ((c & 0xc0) == 0xc0) {
			if (off + 1 >= len || ++hops > 64)
				return false;
			off = (size_t)(c & 0x3f) << 8 | b[off + 1];
			continue;
		}
		if (c != s[0])
			return false;
		if (c == 0)
			return true;
		if (off + 1 + c > len)
			return false;
		for (size_t i = 1; i <= c; i++)
			if (lower(b[off + i]) != lower(s[i]))
				return false;
		off += 1 + c;
		s += 1 + c;
	}
}

/* Write a wire name; with compress, its longest suffix already written
 * becomes a pointer. Every label written becomes a target for later
 * names. */
static bool wr_name(struct wr *w, const uint8_t *wire, bool compress)
{
	size_t i = 0;
	int target = -1;

	if (compress) {
		for (; wire[i] != 0 && target < 0; i += target < 0 ? 1 + wire[i] : 0)
			for (size_t k = 0; k < w->n_names; k++)
				if (name_at_eq(w->b, w->len, w->names[k], wire + i)) {
					target = w->names[k];
					break;
				}
	}
	for (size_t p = 0; wire[p] != 0 && (target < 0 || p < i); p += 1 + wire[p]) {
		if (w->len < 0x4000 && w->n_names < MAX_NAMES)
			w->names[w->n_names++] = (uint16_t)w->len;
		if (!wr_put(w, wire + p, 1 + (size_t)wire[p]))
			return false;
	}
	if (target >= 0)
		return wr_u16(w, (uint16_t)(0xc000 | target));
	return wr_put(w, "", 1);
}

/* 1: written; 0: no room (nothing written); -EINVAL: a bad record */
static int wr_rr(struct wr *w, const struct dnsmsg_query *q, const struct dnsmsg_rr *rr)
{
	uint8_t owner[DNSMSG_NAME_MAX], n1[DNSMSG_NAME_MAX], n2[DNSMSG_NAME_MAX];
	size_t save = w->len, save_names = w->n_names, rdlen_at;
	bool ok;

	if (rr->name) {
		if (dnsmsg_name_from_text(rr->name, owner) < 0)
			return -EINVAL;
	} else if (q->has_question) {
		memcpy(owner, q->qwire, q->qwire_len);
	} else {
		return -EINVAL;
	}
	if (rr->type == DNSMSG_SRV && dnsmsg_name_from_text(rr->u.srv.target, n1) < 0)
		return -EINVAL;
	if (rr->type == DNSMSG_SOA && (dnsmsg_name_from_text(rr->u.soa.mname, n1) < 0 ||
				       dnsmsg_name_from_text(rr->u.soa.rname, n2) < 0))
		return -EINVAL;
	if (rr->type != DNSMSG_A && rr->type != DNSMSG_SRV && rr->type != DNSMSG_SOA)
		return -EINVAL;
	ok = wr_name(w, owner, true) && wr_u16(w, rr->type) && wr_u16(w, DNSMSG_CLASS_IN) &&
	     wr_u32(w, rr->ttl);
	rdlen_at = w->len;
	ok = ok && wr_u16(w, 0);
	switch (rr->type) {
	case DNSMSG_A:
		ok = ok && wr_put(w, &rr->u.a.s_addr, 4);
		break;
	case DNSMSG_SRV:
		/* RFC 2782: the target is never compressed (others may point at it) */
		ok = ok && wr_u16(w, rr->u.srv.priority) && wr_u16(w, rr->u.srv.weight) &&
		     wr_u16(w, rr->u.srv.port) && wr_name(w, n1, false);
		break;
	default:
		ok = ok && wr_name(w, n1, true) && wr_name(w, n2, true) && wr_u32(w, rr->u.soa.serial) &&
		     wr_u32(w, rr->u.soa.refresh) && wr_u32(w, rr->u.soa.retry) &&
		     wr_u32(w, rr->u.soa.expire) && wr_u32(w, rr->u.soa.minimum);
		break;
	}
	if (!ok) {
		w->len = save;
		w->n_names = save_names;
		return 0;
	}
	put16(w->b + rdlen_at, (uint16_t)(w->len - rdlen_at - 2));
	return 1;
}

ssize_t dnsmsg_build_response(const struct dnsmsg_query *q, const struct dnsmsg_answer *a, size_t max,
			      uint8_t *buf, size_t cap)
{
	const struct dnsmsg_rr *sec[3] = { a->an, a->ns, a->ar };
	size_t nsec[3] = { a->n_an, a->n_ns, a->n_ar };
	uint16_t count[3] = { 0, 0, 0 };
	size_t opt_len = q->has_edns ? 11 : 0;
	struct wr w = { .b = buf, .lim = max < cap ? max : cap };
	uint16_t flags;
	bool tc = false;

	if (w.lim < DNSMSG_HEADER_LEN + opt_len)
		return -ENOSPC;
	w.lim -= opt_len;
	memset(buf, 0, DNSMSG_HEADER_LEN);
	w.len = DNSMSG_HEADER_LEN;
	if (q->has_question && !(wr_name(&w, q->qwire, false) && wr_u16(&w, q->qtype) &&
				 wr_u16(&w, q->qclass)))
		return -ENOSPC;
	for (size_t s = 0; s < 3 && !tc; s++) {
		for (size_t i = 0; i < nsec[s]; i++) {
			int r = wr_rr(&w, q, &sec[s][i]);

			if (r < 0)
				return r;
			if (r == 0) {
				/* a partial answer says so; missing glue is not worth a retry */
				tc = s < 2;
				break;
			}
			count[s]++;
		}
		if (count[s] < nsec[s])
			break;
	}
	w.lim += opt_len;
	if (q->has_edns) {
		/* root owner, OPT, our payload size, extended rcode/version/flags 0, no options */
		static const uint8_t opt[11] = { 0, 0, DNSMSG_OPT, DNSMSG_UDP_MAX >> 8, DNSMSG_UDP_MAX & 0xff };

		wr_put(&w, opt, sizeof(opt));
	}
	flags = DNSMSG_F_QR | (q->flags & (0x7800 | DNSMSG_F_RD | DNSMSG_F_CD)) | (a->rcode & 0xf);
	if (a->aa)
		flags |= DNSMSG_F_AA;
	if (a->ra)
		flags |= DNSMSG_F_RA;
	if (tc)
		flags |= DNSMSG_F_TC;
	put16(buf, q->id);
	put16(buf + 2, flags);
	put16(buf + 4, q->has_question ? 1 : 0);
	put16(buf + 6, count[0]);
	put16(buf + 8, count[1]);
	put16(buf + 10, (uint16_t)(count[2] + (q->has_edns ? 1 : 0)));
	return (ssize_t)w.len;
}

bool dnsmsg_reply_matches(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen)
{
	uint8_t qn[DNSMSG_NAME_MAX], rn[DNSMSG_NAME_MAX];
	size_t qo = DNSMSG_HEADER_LEN, ro = DNSMSG_HEADER_LEN;
	int ql, rl;

	if (qlen < DNSMSG_HEADER_LEN || rlen < DNSMSG_HEADER_LEN)
		return false;
	if (!(get16(reply + 2) & DNSMSG_F_QR) || get16(query) != get16(reply) ||
	    DNSMSG_OPCODE(get16(query + 2)) != DNSMSG_OPCODE(get16(reply + 2)))
		return false;
	if (get16(query + 4) != 1 || get16(reply + 4) != 1)
		return false;
	ql = dnsmsg_read_name(query, qlen, &qo, qn);
	rl = dnsmsg_read_name(reply, rlen, &ro, rn);
	if (ql < 0 || rl != ql || qlen - qo < 4 || rlen - ro < 4)
		return false;
	for (int i = 0; i < ql; i++)
		if (lower(qn[i]) != lower(rn[i]))
			return false;
	return memcmp(query + qo, reply + ro, 4) == 0;
}
