/* tests/images/helper/helper.h - shared pieces of berth-testhelper.
 *
 * The helper is self-contained on purpose (static, glibc only, no
 * berth_common): it runs inside test images where nothing else exists.
 * Conventions inside the helper: a command is `int cmd_x(int argc, char **argv)`
 * with argv[0] the command name, returning the process exit status. Results go
 * to stdout as one JSON object per line (struct jw), diagnostics to stderr
 * (hdiag), usage errors exit EXIT_USAGE. */
#ifndef BERTH_TESTHELPER_H
#define BERTH_TESTHELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define EXIT_USAGE 2
/* curl's numbers, so that test scripts read the same way for both tools. */
#define EXIT_RESOLVE 6
#define EXIT_CONNECT 7
#define EXIT_BAD_REPLY 8
#define EXIT_HTTP_STATUS 22

/* ---------------------------------------------------------------- JSON lines */
#define JW_MAX_DEPTH 16

struct jw {
	char *buf;
	size_t len, cap;
	unsigned depth;
	bool need_comma[JW_MAX_DEPTH];
};

void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
/* A NULL string is written as null. Bytes that are not valid UTF-8 are
 * written as \u00XX (their Latin-1 reading) so that the line stays JSON. */
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int(struct jw *w, long long v);
void jw_double(struct jw *w, double v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* errno name ("EPERM"), or null for 0. */
void jw_errno(struct jw *w, int err);
/* Write the finished value plus "\n" to stdout in one write() and reset w. */
void jw_emit(struct jw *w);
void jw_free(struct jw *w);

void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kint(struct jw *w, const char *key, long long v);
void jw_kbool(struct jw *w, const char *key, bool v);
void jw_kerrno(struct jw *w, const char *key, int err);

/* {"key": value} lines, the most common output. */
void emit_int(const char *key, long long v);
void emit_str(const char *key, const char *s);

/* -------------------------------------------------------------------- util */
extern const char *helper_cmd;     /* command being run, for diagnostics */
extern int helper_argc;
extern char **helper_argv;         /* the process's own argv */

void hdiag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* hdiag + exit(EXIT_USAGE) */
void husage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Strict decimal parsing; false on junk, overflow or out of [min, max]. */
bool parse_ll(const char *s, long long min, long long max, long long *out);
/* "1.5" seconds -> 1500; "inf" -> -1 when allow_inf. */
bool parse_seconds_ms(const char *s, bool allow_inf, long long *out_ms);
/* "TERM", "SIGTERM", "15" -> 15; -1 when unknown. */
int parse_signal(const char *s);
/* "SIGTERM" style name into buf. */
const char *signal_name(int sig, char *buf, size_t len);
/* "EPERM" style name; "E<n>" for unknown numbers. */
const char *errno_name(int err);

int64_t now_ms(void);
void sleep_ms(long long ms);
/* Read a whole file (at most max bytes), NUL-terminated. NULL + errno. */
char *read_file(const char *path, size_t max, size_t *len_out);
/* Write all of buf; false + errno on failure. */
bool write_all(int fd, const void *buf, size_t len);

/* Value of the "Name:" line in the text of a /proc/<pid>/status file,
 * trimmed, copied into out; NULL when absent. */
char *proc_status_field(const char *status, const char *name, char *out, size_t len);
/* One line of /proc/self/mountinfo, unescaped. */
struct mount_entry {
	const char *device;          /* "maj:min" */
	const char *root;            /* path inside the filesystem that is mounted */
	const char *target;
	const char *options;         /* per-mount: rw,nosuid,... */
	const char *fstype;
	const char *source;
	const char *super_options;
};
/* Call cb for every mount until it returns false. Returns the number of
 * mounts seen, or -errno when mountinfo cannot be read. */
int mountinfo_foreach(bool (*cb)(const struct mount_entry *m, void *data), void *data);

/* Open fds when main() started, before the helper opened any: the answer to
 * "did the runtime leak descriptors into the container". */
extern int helper_start_fds[64];
extern int helper_start_nfds;

/* --------------------------------------------------------------------- net */
#define NET_MAX_ADDRS 8

/* Numeric IPv4/IPv6 (brackets allowed), else a name from /etc/hosts (path
 * from $BERTH_HOSTS_FILE when set: tests only), else A records from the
 * nameservers of /etc/resolv.conf (dns_resolve_a). glibc's getaddrinfo needs
 * the NSS modules, which a static binary in an empty image does not have.
 * Returns the number of addresses (port filled in), 0 when the name is
 * unknown. */
int net_resolve(const char *host, uint16_t port, struct sockaddr_storage *out, int max);
/* "1.2.3.4:80" / "[::1]:80" for diagnostics. */
const char *net_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len);
/* Non-blocking connect bounded by deadline (now_ms() based). Returns a
 * blocking-mode-off fd, or -errno. */
int net_connect(const struct sockaddr_storage *ss, int type, int64_t deadline);
/* Bind listeners on 0.0.0.0:port and [::]:port (v6only); IPv6 is optional
 * (a container may have it disabled). Port 0 picks a free port, the same for
 * both. Returns the count of fds (1 or 2) and the port, or -errno. */
int net_listen_any(int type, uint16_t port, int fds[2], uint16_t *port_out);
/* Wait until fd is ready for `events` or the deadline passes: 1 ready,
 * 0 timeout, -errno. */
int net_wait(int fd, short events, int64_t deadline);

/* --------------------------------------------------------------------- dns
 * dns.c: a small, bounds-checked DNS wire encoder/decoder (RFC 1035), the
 * UDP/TCP exchange with one server, and the resolv.conf stub resolver that
 * net_resolve falls back to. Names travel in wire form (length-prefixed
 * labels, at most 255 bytes) and are compared case-insensitively. */
#define EXIT_DNS_RCODE 9             /* dns-query: an rcode other than NOERROR/NXDOMAIN */

#define DNS_WIRE_MAX 255             /* a name in wire form */
#define DNS_TEXT_MAX 1024            /* the same name as text, \DDD escapes included */
#define DNS_UDP_MAX 512              /* what dns-serve puts in a UDP reply (no EDNS) */
#define DNS_MSG_MAX 65535

enum dns_type {
	DNS_T_A = 1, DNS_T_NS = 2, DNS_T_CNAME = 5, DNS_T_SOA = 6, DNS_T_PTR = 12,
	DNS_T_MX = 15, DNS_T_TXT = 16, DNS_T_AAAA = 28, DNS_T_SRV = 33, DNS_T_OPT = 41,
	DNS_T_ANY = 255,
};
#define DNS_CLASS_IN 1
#define DNS_CLASS_ANY 255

enum dns_rcode {
	DNS_R_NOERROR = 0, DNS_R_FORMERR = 1, DNS_R_SERVFAIL = 2, DNS_R_NXDOMAIN = 3,
	DNS_R_NOTIMP = 4, DNS_R_REFUSED = 5,
};

/* header flag bits */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080
#define DNS_OPCODE(flags) (((flags) >> 11) & 0xf)
#define DNS_RCODE(flags) ((flags) & 0xf)

enum dns_section { DNS_ANSWER, DNS_AUTHORITY, DNS_ADDITIONAL };

struct dns_rr {
	uint8_t name[DNS_WIRE_MAX];  /* wire form, decompressed */
	enum dns_section section;
	uint16_t type, rclass;
	uint32_t ttl;
	size_t rdoff;                /* RDATA: msg->buf[rdoff .. rdoff + rdlen) */
	uint16_t rdlen;
};

struct dns_msg {
	const uint8_t *buf;          /* not owned */
	size_t len;
	uint16_t id, flags;
	uint16_t qdcount;
	uint8_t qname[DNS_WIRE_MAX]; /* the first question, when qdcount > 0 */
	uint16_t qtype, qclass;
	size_t qend;                 /* offset just past the questions */
	struct dns_rr *rr;           /* answer, authority, additional in order */
	size_t nrr;
};

/* Text ("web.berth.local", trailing dot optional, "." the root) to wire
 * form; no escapes. Length, or -1 for an empty label, a label over 63 bytes
 * or a name over 255. */
int dns_name_from_text(const char *text, uint8_t *wire, size_t cap);
/* Wire form to text without the trailing dot ("." for the root); '.', '\\'
 * and bytes outside printable ASCII as \DDD / \. escapes. */
const char *dns_name_to_text(const uint8_t *wire, char *out, size_t len);
/* Bytes of a wire-form name, the root label included. */
size_t dns_name_len(const uint8_t *wire);
/* Same name, ASCII case ignored. */
bool dns_name_eq(const uint8_t *a, const uint8_t *b);
/* Read the possibly compressed name at *pos of msg into wire (decompressed);
 * *pos moves past the name's bytes at that place. Pointers must point
 * backwards (no loops). false when malformed. */
bool dns_read_name(const uint8_t *msg, size_t len, size_t *pos, uint8_t wire[DNS_WIRE_MAX]);
/* Parse header, questions and all resource records (RDATA is only located,
 * see dns_read_name and the readers below). 0, or -1 with *why set. */
int dns_parse(const uint8_t *buf, size_t len, struct dns_msg *m, const char **why);
void dns_msg_free(struct dns_msg *m);
uint16_t dns_get16(const uint8_t *p);
uint32_t dns_get32(const uint8_t *p);

/* A growing-into-a-fixed-buffer writer: ok turns false on overflow. */
struct dns_writer {
	uint8_t *buf;
	size_t len, cap;
	bool ok;
};
void dns_put(struct dns_writer *w, const void *p, size_t n);
void dns_put16(struct dns_writer *w, uint16_t v);
void dns_put32(struct dns_writer *w, uint32_t v);
/* A query for text name (RD set when rd); length or -EINVAL (bad name). */
int dns_build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t qtype, bool rd);

const char *dns_type_name(uint16_t type, char *buf, size_t len);
/* "A", "aaaa", "SRV", "TYPE33", "33" -> type; -1 when unknown. */
int dns_type_from_name(const char *s);
const char *dns_rcode_name(unsigned rcode, char *buf, size_t len);
uint16_t dns_random_id(void);

/* "IPv4", "IPv4:PORT", "IPv6", "[IPv6]", "[IPv6]:PORT" (port 1-65535). */
bool dns_parse_server(const char *s, uint16_t default_port, struct sockaddr_storage *out);

struct dns_result {
	uint8_t *buf;                /* the reply (owned) */
	size_t len;
	struct dns_msg msg;          /* parsed; valid when dns_query returned 0 */
	bool tcp;                    /* the reply came over TCP */
	const char *why;             /* -EBADMSG: what was wrong with the reply */
};
/* One query to one server, one UDP datagram (or TCP with tcp), a UDP reply
 * with TC set asked again over TCP; all within deadline (now_ms() based).
 * 0 with a reply whose ID, QR, opcode and question match (any rcode);
 * -EINVAL bad name; -EBADMSG malformed (res->why); other -errno: no answer
 * (-ETIMEDOUT, -ECONNREFUSED...). Free with dns_result_free in all cases. */
int dns_query(const struct sockaddr_storage *server, const char *name, uint16_t qtype,
	      bool tcp, int64_t deadline, struct dns_result *res);
void dns_result_free(struct dns_result *res);

#define DNS_MAX_NS 3                 /* like glibc's MAXNS */
#define DNS_MAX_SEARCH 6
/* /etc/resolv.conf, or the file named by $BERTH_RESOLV_CONF (tests).
 * "nameserver IP" lines (plus the helper-only "nameserver IPv4:PORT" and
 * "[IPv6]:PORT"), "search" / "domain" (the last one wins); the rest ignored. */
struct resolv_conf {
	struct sockaddr_storage ns[DNS_MAX_NS];
	int nns;
	char *search[DNS_MAX_SEARCH];
	int nsearch;
};
/* 0, or -errno when the file cannot be read (rc is then empty). */
int resolv_conf_load(struct resolv_conf *rc);
void resolv_conf_free(struct resolv_conf *rc);
/* A records of host through the resolv.conf nameservers (see net_resolve),
 * port filled in. Count, 0 when not found or no server answered. */
int dns_resolve_a(const char *host, uint16_t port, struct sockaddr_storage *out, int max);

/* ---------------------------------------------------------------- commands */
int cmd_info(int argc, char **argv);
int cmd_ids(int argc, char **argv);
int cmd_sleep(int argc, char **argv);
int cmd_exit(int argc, char **argv);
int cmd_echo(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_write(int argc, char **argv);
int cmd_signals(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_spew(int argc, char **argv);
int cmd_http_server(int argc, char **argv);
int cmd_tcp_echo(int argc, char **argv);
int cmd_udp_echo(int argc, char **argv);
int cmd_tcp_send(int argc, char **argv);
int cmd_udp_send(int argc, char **argv);
int cmd_http_get(int argc, char **argv);
int cmd_resolve(int argc, char **argv);
int cmd_memhog(int argc, char **argv);
int cmd_cpuburn(int argc, char **argv);
int cmd_forkbomb(int argc, char **argv);
int cmd_diskfill(int argc, char **argv);
int cmd_escape(int argc, char **argv);
int cmd_tty(int argc, char **argv);
int cmd_tcp_proxy(int argc, char **argv);
int cmd_dns_query(int argc, char **argv);
int cmd_dns_serve(int argc, char **argv);

#endif
