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

#define cleanup_berr __attribute__((cleanup(berr_clear)))

#endif
