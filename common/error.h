/* common/error.h - berth's one error convention.
 *
 * Every fallible function returns 0 (or a non-negative result) on success and
 * a negative number on failure, and fills a struct berr that says what was
 * being done to what, plus the errno that caused it:
 *
 *     if (mount(...) < 0)
 *         return berr_set(err, errno, "mount overlay on %s", target);
 *
 * gives "mount overlay on /run/berth/tasks/ab12/rootfs/web: Invalid argument".
 * Callers add context on the way up with berr_wrap(). `err` may be NULL when a
 * caller does not want the details. Allocation failure aborts (xalloc.h), so
 * building an error never fails.
 */
#ifndef BERTH_COMMON_ERROR_H
#define BERTH_COMMON_ERROR_H

#include <stdarg.h>
#include <stddef.h>

struct berr {
	int code;   /* errno value, or 0 when the cause is not a system error */
	char *msg;  /* full message, strerror(code) appended when code != 0 */
};

/* Fill *err (replacing anything there) and return a negative value:
 * -code when code > 0, -1 otherwise. A negative code is taken as -errno
 * (berr_set(err, r, ...) with r = -EINVAL is the same as passing EINVAL). */
int berr_set(struct berr **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int berr_setv(struct berr **err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Prefix the message in *err with context ("start container web: ..."), keep
 * its code, and return the same negative value berr_set would. With no error
 * in *err, behaves like berr_set(err, 0, ...). */
int berr_wrap(struct berr **err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The negative return value that matches an existing error. */
int berr_rc(const struct berr *err);

void berr_free(struct berr *err);
/* Free *err and set it to NULL. */
void berr_clear(struct berr **err);

/* Message of err, or "unknown error" when err is NULL. */
const char *berr_msg(const struct berr *err);

/* Untrusted text (a document, an image, a file) in a message or log line:
 *
 *     berr_set(err, 0, "%s: \"%s\" is not valid", path, berr_q(value));
 *
 * '"' and '\\' get a backslash, control bytes (< 0x20 and 0x7f) become
 * \uXXXX, so no terminal escape and no line break comes through; the text
 * is cut after BERR_Q_MAX bytes, at a UTF-8 boundary, with "..." after it.
 * The caller writes the quote marks. berr_qn() takes len bytes of s, which
 * need not be NUL-terminated (the %.*s case); a NUL among them is escaped.
 *
 * The result lives in a per-thread ring of BERR_Q_RING buffers: at most that
 * many berr_q/berr_qn results may be used in one message, and each is valid
 * until the ring comes round again (never keep it; copy it if needed). */
#define BERR_Q_MAX 64
#define BERR_Q_RING 4
const char *berr_q(const char *s);
const char *berr_qn(const char *s, size_t len);

#define cleanup_berr __attribute__((cleanup(berr_clear)))

#endif
