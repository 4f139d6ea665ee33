/* common/log.h - levelled, printf-checked logging.
 *
 * One process-wide sink (the only global mutable state besides feature-probe
 * caches). Default: stderr, "berth: warning: message", no timestamps when
 * stderr is a terminal. Daemons switch to timestamped lines or their own sink.
 * Errors are logged once, where they are understood (often with berr_msg()). */
#ifndef BERTH_COMMON_LOG_H
#define BERTH_COMMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum blog_level {
	BLOG_ERROR = 0,
	BLOG_WARN,
	BLOG_INFO,
	BLOG_DEBUG,
};

typedef void (*blog_sink_fn)(enum blog_level level, const char *msg, void *data);

void blog_init(const char *progname);
void blog_set_level(enum blog_level level);
enum blog_level blog_get_level(void);
/* Parse "error", "warn"/"warning", "info", "debug"; -1 when unknown. */
int blog_level_parse(const char *s);
const char *blog_level_name(enum blog_level level);
void blog_set_timestamps(bool on);
/* NULL restores the stderr sink. */
void blog_set_sink(blog_sink_fn fn, void *data);

bool blog_enabled(enum blog_level level);
void blog(enum blog_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void blogv(enum blog_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_error(...) blog(BLOG_ERROR, __VA_ARGS__)
#define log_warn(...)  blog(BLOG_WARN, __VA_ARGS__)
#define log_info(...)  blog(BLOG_INFO, __VA_ARGS__)
/* Arguments are not evaluated unless debug logging is on. */
#define log_debug(...) do { if (blog_enabled(BLOG_DEBUG)) blog(BLOG_DEBUG, __VA_ARGS__); } while (0)

#endif
