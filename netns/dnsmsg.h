/* netns/dnsmsg.h - the DNS wire format (RFC 1035, EDNS0 of RFC 6891) for
 * berthd's responder (runtime/daemon/dns.c): parse a query, build an
 * answer, and the few checks forwarding needs. Pure: no I/O, no
 * allocation.
 *
 * The parser faces whatever any task sends: it reads only inside the
 * buffer it is given, follows compression pointers only backwards (no
 * loops) and a bounded number of times, and refuses labels over 63 bytes
 * and names over 255.
 *
 * Names as text (dnsmsg_name_to_text) are lower case, without the final
 * dot ("." for the root), bytes other than letters, digits, '-' and '_'
 * written as "\." / "\\" / "\DDD", so a name with such bytes never equals
 * a plain name. */
#ifndef BERTH_NETNS_DNSMSG_H
#define BERTH_NETNS_DNSMSG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DNSMSG_HEADER_LEN 12
#define DNSMSG_NAME_MAX 255        /* wire form, final zero label included */
#define DNSMSG_LABEL_MAX 63
#define DNSMSG_TEXT_MAX 1024       /* text form of any wire name, NUL included */
#define DNSMSG_UDP_MIN 512         /* UDP payload without EDNS0, and the least with it */
#define DNSMSG_UDP_MAX 4096        /* cap of an EDNS0 payload size; what we advertise */
#define DNSMSG_TCP_MAX 65535

enum dnsmsg_type {
	DNSMSG_A = 1,
	DNSMSG_NS = 2,
	DNSMSG_CNAME = 5,
	DNSMSG_SOA = 6,
	DNSMSG_PTR = 12,
	DNSMSG_AAAA = 28,
	DNSMSG_SRV = 33,
	DNSMSG_OPT = 41,
	DNSMSG_ANY = 255,
};

#define DNSMSG_CLASS_IN 1
#define DNSMSG_CLASS_ANY 255

enum dnsmsg_rcode {
	DNSMSG_NOERROR = 0,
	DNSMSG_FORMERR = 1,
	DNSMSG_SERVFAIL = 2,
	DNSMSG_NXDOMAIN = 3,
	DNSMSG_NOTIMP = 4,
	DNSMSG_REFUSED = 5,
};

/* header flag bits (second 16-bit word) */
#define DNSMSG_F_QR 0x8000
#define DNSMSG_F_AA 0x0400
#define DNSMSG_F_TC 0x0200
#define DNSMSG_F_RD 0x0100
#define DNSMSG_F_RA 0x0080
#define DNSMSG_F_CD 0x0010
#define DNSMSG_OPCODE(flags) (((flags) >> 11) & 0xf)
#define DNSMSG_RCODE(flags) ((flags) & 0xf)

/* What dnsmsg_parse_query found. */
struct dnsmsg_query {
	uint16_t id;
	uint16_t flags;            /* as sent */
	bool has_question;         /* the question parsed (else qname etc. are empty) */
	uint8_t qwire[DNSMSG_NAME_MAX];    /* the name as sent (case kept), uncompressed */
	size_t qwire_len;
	char qname[DNSMSG_TEXT_MAX];       /* text form, lower case */
	uint16_t qtype, qclass;
	bool has_edns;             /* an OPT record in the additional section */
	uint8_t edns_version;
	uint16_t udp_size;         /* the answer's limit over UDP: 512 without EDNS0,
				    * else the OPT's payload size clamped to 512..4096 */
};

/* Parse a query. Returns 0 when q holds a question to answer; a positive
 * rcode (DNSMSG_FORMERR, DNSMSG_NOTIMP for an opcode other than QUERY) when
 * the sender should get that error (q->id and q->flags are set, and the
 * question when it parsed: dnsmsg_build_response answers it); -1 when the
 * bytes deserve no answer at all (shorter than a header, or a response). */
int dnsmsg_parse_query(const uint8_t *msg, size_t len, struct dnsmsg_query *q);

/* One resource record to write. name NULL: the question's name (written as
 * a pointer to it, so the answer keeps the question's case). */
struct dnsmsg_rr {
	const char *name;
	uint16_t type;             /* DNSMSG_A, DNSMSG_SRV or DNSMSG_SOA */
	uint32_t ttl;
	union {
		struct in_addr a;
		struct {
			uint16_t priority, weight, port;
			const char *target;
		} srv;
		struct {
			const char *mname, *rname;
			uint32_t serial, refresh, retry, expire, minimum;
		} soa;
	} u;
};

struct dnsmsg_answer {
	uint8_t rcode;
	bool aa;                   /* authoritative (names in our zones) */
	bool ra;                   /* recursion available (we forward) */
	const struct dnsmsg_rr *an, *ns, *ar;   /* answer, authority, additional */
	size_t n_an, n_ns, n_ar;
};

/* Write the response to q into buf: header (QR, the query's opcode and RD
 * and CD, AA/RA/RCODE from a), the question when q has one, the records of
 * a, and an OPT record when the query had one. Names are compressed
 * against every name written before them. The message stays within
 * min(max, cap) bytes: answer or authority records that do not fit are
 * left out whole and TC is set; additional records that do not fit are
 * left out (RFC 2181 9: no TC for those). Returns the length, -ENOSPC when
 * not even header, question and OPT fit, -EINVAL for a record whose name
 * or type is not valid. */
ssize_t dnsmsg_build_response(const struct dnsmsg_query *q, const struct dnsmsg_answer *a, size_t max,
			      uint8_t *buf, size_t cap);

/* Text name (labels of letters, digits, '-' and '_', dot-separated, a
 * final dot allowed; "" or "." is the root) to wire form. Returns the wire
 * length, or -EINVAL. */
int dnsmsg_name_from_text(const char *text, uint8_t wire[DNSMSG_NAME_MAX]);
/* Wire form (valid, as dnsmsg_read_name gives) to lower-case text. */
void dnsmsg_name_to_text(const uint8_t *wire, char text[DNSMSG_TEXT_MAX]);

/* Read the name at *off of msg (following compression pointers) into wire
 * (uncompressed, case kept) and move *off past it. Returns the wire length
 * or -1 when the name is malformed or runs out of msg. */
int dnsmsg_read_name(const uint8_t *msg, size_t len, size_t *off, uint8_t wire[DNSMSG_NAME_MAX]);

/* One resource record as it sits in a message (for reading answers). */
struct dnsmsg_rrview {
	uint8_t name[DNSMSG_NAME_MAX];
	size_t name_len;
	uint16_t type, rclass;
	uint32_t ttl;
	size_t rdata;              /* offset of the RDATA in msg */
	uint16_t rdlen;
};
/* Read the record at *off and move *off past it; -1 when malformed. */
int dnsmsg_read_rr(const uint8_t *msg, size_t len, size_t *off, struct dnsmsg_rrview *rr);

/* The header's ID, and setting it in place (len >= 2). */
uint16_t dnsmsg_get_id(const uint8_t *msg);
void dnsmsg_set_id(uint8_t *msg, uint16_t id);

/* Whether reply is a response to query: QR set, same ID and opcode, one
 * question in each, the same name (ignoring case), type and class. The
 * check for a forwarded reply (with the source address and port). */
bool dnsmsg_reply_matches(const uint8_t *query, size_t qlen, const uint8_t *reply, size_t rlen);

#endif
