/* common/log.c - see log.h */
#include "log.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *log_prog = "berth";
static enum blog_level log_level = BLOG_INFO;
static bool log_timestamps;
static blog_sink_fn log_sink;
static void *log_sink_data;

static const char *const level_names[] = {
	[BLOG_ERROR] = "error",
	[BLOG_WARN] = "warning",
	[BLOG_INFO] = "info",
	[BLOG_DEBUG] = "debug",
};

void blog_init(const char *progname)
{
	const char *slash;

	if (progname == NULL)
		return;
	slash = strrchr(progname, '/');
	log_prog = slash ? slash + 1 : progname;
}

void blog_set_level(enum blog_level level)
{
	log_level = level;
}

enum blog_level blog_get_level(void)
{
	return log_level;
}

int blog_level_parse(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcasecmp(s, "warn") == 0)
		return BLOG_WARN;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *blog_level_name(enum blog_level level)
{
	if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
		return level_names[level];
	return "unknown";
}

void blog_set_timestamps(bool on)
{
	log_timestamps = on;
}

void blog_set_sink(blog_sink_fn fn, void *data)
{
	log_sink = fn;
	log_sink_data = data;
}

bool blog_enabled(enum blog_level level)
{
	return level <= log_level;
}

static void stderr_sink(enum blog_level level, const char *msg)
{
	char ts[40] = "";

	if (log_timestamps) {
		struct timespec now;
		struct tm tm;
		size_t n;

		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		/* strftime, not one snprintf of every field: gcc's
		 * -Wformat-truncation assumes any int may take 11 digits */
		n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(ts + n, sizeof(ts) - n, ".%03dZ ", (int)(now.tv_nsec / 1000000));
	}
	/* one write per line so concurrent writers do not interleave mid-line */
	if (level == BLOG_INFO)
		fprintf(stderr, "%s%s: %s\n", ts, log_prog, msg);
	else
		fprintf(stderr, "%s%s: %s: %s\n", ts, log_prog, level_names[level], msg);
}

void blogv(enum blog_level level, const char *fmt, va_list ap)
{
	int saved = errno;   /* so callers may log and then still use errno */
	char *msg;

	if (!blog_enabled(level))
		return;
	msg = xvasprintf(fmt, ap);
	if (log_sink)
		log_sink(level, msg, log_sink_data);
	else
		stderr_sink(level, msg);
	free(msg);
	errno = saved;
}

void blog(enum blog_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	blogv(level, fmt, ap);
	va_end(ap);
}
