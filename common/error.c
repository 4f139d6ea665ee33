/* common/error.c - see error.h */
#include "error.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rc_for(int code)
{
	return code > 0 ? -code : -1;
}

int berr_setv(struct berr **err, int code, const char *fmt, va_list ap)
{
	char *what, *msg;

	if (code < 0)   /* accept -errno too: a common slip with syscall wrappers */
		code = -code;
	if (err == NULL)
		return rc_for(code);
	what = xvasprintf(fmt, ap);
	if (code > 0) {
		msg = xasprintf("%s: %s", what, strerror(code));
		free(what);
	} else {
		msg = what;
	}
	berr_clear(err);
	*err = xmalloc(sizeof(**err));
	(*err)->code = code;
	(*err)->msg = msg;
	return rc_for(code);
}

int berr_set(struct berr **err, int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = berr_setv(err, code, fmt, ap);
	va_end(ap);
	return rc;
}

int berr_wrap(struct berr **err, const char *fmt, ...)
{
	va_list ap;
	char *ctx, *msg;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	if (*err == NULL) {
		int rc = berr_setv(err, 0, fmt, ap);

		va_end(ap);
		return rc;
	}
	ctx = xvasprintf(fmt, ap);
	va_end(ap);
	msg = xasprintf("%s: %s", ctx, (*err)->msg);
	free(ctx);
	free((*err)->msg);
	(*err)->msg = msg;
	return rc_for((*err)->code);
}

int berr_rc(const struct berr *err)
{
	return err ? rc_for(err->code) : -1;
}

void berr_free(struct berr *err)
{
	if (err == NULL)
		return;
	free(err->msg);
	free(err);
}

void berr_clear(struct berr **err)
{
	if (err == NULL)
		return;
	berr_free(*err);
	*err = NULL;
}

const char *berr_msg(const struct berr *err)
{
	return err && err->msg ? err->msg : "unknown error";
}

const char *berr_qn(const char *s, size_t len)
{
	/* worst case: every byte as \uXXXX, then "..." and the NUL */
	static __thread char ring[BERR_Q_RING][BERR_Q_MAX * 6 + 4];
	static __thread unsigned next;
	char *out = ring[next++ % BERR_Q_RING];
	size_t cut = len, n = 0;

	if (cut > BERR_Q_MAX) {
		cut = BERR_Q_MAX;
		/* s[cut] exists: back off while it continues a UTF-8 sequence */
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, 7, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	if (cut < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

const char *berr_q(const char *s)
{
	return berr_qn(s, strlen(s));
}
