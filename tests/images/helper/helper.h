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

/* Numeric IPv4/IPv6 (brackets allowed) or a name from /etc/hosts (path from
 * $BERTH_HOSTS_FILE when set: tests only). glibc's getaddrinfo needs the NSS
 * modules, which a static binary in an empty image does not have. Returns the
 * number of addresses (port filled in), 0 when the name is unknown. */
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

#endif
