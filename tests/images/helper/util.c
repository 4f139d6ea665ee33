/* tests/images/helper/util.c - small utilities of berth-testhelper. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

void hdiag(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (helper_cmd && *helper_cmd)
		n = snprintf(msg, sizeof(msg), "berth-testhelper %s: ", helper_cmd);
	else
		n = snprintf(msg, sizeof(msg), "berth-testhelper: ");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	strcat(msg, "\n");
	(void)write_all(STDERR_FILENO, msg, strlen(msg));
}

void husage(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	hdiag("%s (see --help)", msg);
	exit(EXIT_USAGE);
}

static void oom(void)
{
	static const char msg[] = "berth-testhelper: out of memory\n";

	(void)write_all(STDERR_FILENO, msg, sizeof(msg) - 1);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom();
	return p;
}

bool parse_ll(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool parse_seconds_ms(const char *s, bool allow_inf, long long *out_ms)
{
	char *end;
	double v;

	if (!s || !*s || isspace((unsigned char)*s))
		return false;
	if (allow_inf && (!strcasecmp(s, "inf") || !strcasecmp(s, "infinity"))) {
		*out_ms = -1;
		return true;
	}
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 1e9)
		return false;
	*out_ms = llround(v * 1000.0);
	return true;
}

int parse_signal(const char *s)
{
	long long n;
	int sig;

	if (parse_ll(s, 1, NSIG - 1, &n))
		return (int)n;
	if (!strncasecmp(s, "SIG", 3))
		s += 3;
	for (sig = 1; sig < NSIG; sig++) {
		const char *abbrev = sigabbrev_np(sig);

		if (abbrev && !strcasecmp(abbrev, s))
			return sig;
	}
	return -1;
}

const char *signal_name(int sig, char *buf, size_t len)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, len, "SIG%s", abbrev);
	else
		snprintf(buf, len, "SIG%d", sig);
	return buf;
}

const char *errno_name(int err)
{
	static char buf[16];
	const char *name = strerrorname_np(err);

	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

char *read_file(const char *path, size_t max, size_t *len_out)
{
	size_t len = 0, cap = 4096;
	char *buf;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = xmalloc(cap);
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len >= max) {
			len = max;
			break;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

char *proc_status_field(const char *status, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name);
	const char *p = status;

	while (p && *p) {
		if (!strncmp(p, name, nlen) && p[nlen] == ':') {
			const char *v = p + nlen + 1, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strchr(v, '\n');
			if (!e)
				e = v + strlen(v);
			while (e > v && isspace((unsigned char)e[-1]))
				e--;
			if ((size_t)(e - v) >= len)
				return NULL;
			memcpy(out, v, (size_t)(e - v));
			out[e - v] = '\0';
			return out;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *r = s, *o = s;

	while (*r) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*o++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else {
			*o++ = *r++;
		}
	}
	*o = '\0';
}

int mountinfo_foreach(bool (*cb)(const struct mount_entry *m, void *data), void *data)
{
	char *text = read_file("/proc/self/mountinfo", 16 << 20, NULL);
	char *line, *save = NULL;
	int count = 0;

	if (!text)
		return -errno;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root target options [optional...] - fstype source superopts */
		struct mount_entry m;
		char *f[32], *tok, *s2 = NULL;
		int n = 0, dash = -1;

		for (tok = strtok_r(line, " ", &s2); tok && n < 32; tok = strtok_r(NULL, " ", &s2)) {
			if (dash < 0 && n >= 6 && !strcmp(tok, "-"))
				dash = n;
			f[n++] = tok;
		}
		if (dash < 0 || dash + 1 >= n)
			continue;
		for (int i = 0; i < n; i++)
			unescape_octal(f[i]);
		m = (struct mount_entry){
			.device = f[2], .root = f[3], .target = f[4], .options = f[5],
			.fstype = f[dash + 1],
			.source = dash + 2 < n ? f[dash + 2] : NULL,
			.super_options = dash + 3 < n ? f[dash + 3] : NULL,
		};
		count++;
		if (!cb(&m, data))
			break;
	}
	free(text);
	return count;
}
