/* tests/images/helper/json.c - a tiny JSON line writer (no parser needed).
 *
 * Values are appended to a growing buffer; the writer tracks where commas
 * go, so callers only say what comes next. jw_emit() sends the whole line
 * with one write(): lines from concurrent writers never interleave (up to
 * PIPE_BUF) and nothing sits in a stdio buffer when the process is killed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 256;

		while (w->len + n + 1 > cap)
			cap *= 2;
		w->buf = xrealloc(w->buf, cap);
		w->cap = cap;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void putc_(struct jw *w, char c)
{
	put(w, &c, 1);
}

/* Called before every value: a comma when a sibling came before, except
 * right after a key. */
static void value_start(struct jw *w)
{
	if (w->depth > 0 && w->need_comma[w->depth - 1])
		putc_(w, ',');
	if (w->depth > 0)
		w->need_comma[w->depth - 1] = true;
}

static void open_(struct jw *w, char c)
{
	value_start(w);
	putc_(w, c);
	if (w->depth >= JW_MAX_DEPTH)
		abort();        /* a bug in the helper, not a runtime condition */
	w->need_comma[w->depth++] = false;
}

static void close_(struct jw *w, char c)
{
	if (w->depth == 0)
		abort();
	w->depth--;
	putc_(w, c);
}

void jw_obj_begin(struct jw *w) { open_(w, '{'); }
void jw_obj_end(struct jw *w) { close_(w, '}'); }
void jw_arr_begin(struct jw *w) { open_(w, '['); }
void jw_arr_end(struct jw *w) { close_(w, ']'); }

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond Unicode */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

static void put_escaped(struct jw *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	char esc[8];
	size_t i = 0;

	putc_(w, '"');
	while (i < n) {
		unsigned char c = s[i];
		size_t ulen;

		switch (c) {
		case '"': put(w, "\\\"", 2); i++; continue;
		case '\\': put(w, "\\\\", 2); i++; continue;
		case '\n': put(w, "\\n", 2); i++; continue;
		case '\r': put(w, "\\r", 2); i++; continue;
		case '\t': put(w, "\\t", 2); i++; continue;
		case '\b': put(w, "\\b", 2); i++; continue;
		case '\f': put(w, "\\f", 2); i++; continue;
		default: break;
		}
		if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
			i++;
			continue;
		}
		ulen = utf8_len(s + i, n - i);
		if (ulen == 0) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(w, esc, 6);
			i++;
			continue;
		}
		put(w, (const char *)s + i, ulen);
		i += ulen;
	}
	putc_(w, '"');
}

void jw_key(struct jw *w, const char *key)
{
	value_start(w);
	put_escaped(w, key, strlen(key));
	putc_(w, ':');
	/* the value that follows must not get a comma */
	w->need_comma[w->depth - 1] = false;
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
	value_start(w);
	put_escaped(w, s, n);
}

void jw_str(struct jw *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	jw_strn(w, s, strlen(s));
}

void jw_int(struct jw *w, long long v)
{
	char num[32];
	int n = snprintf(num, sizeof(num), "%lld", v);

	value_start(w);
	put(w, num, (size_t)n);
}

void jw_double(struct jw *w, double v)
{
	char num[64];
	int n;

	if (!isfinite(v)) {
		jw_null(w);
		return;
	}
	n = snprintf(num, sizeof(num), "%.3f", v);
	value_start(w);
	put(w, num, (size_t)n);
}

void jw_bool(struct jw *w, bool v)
{
	value_start(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void jw_null(struct jw *w)
{
	value_start(w);
	put(w, "null", 4);
}

void jw_errno(struct jw *w, int err)
{
	if (err == 0)
		jw_null(w);
	else
		jw_str(w, errno_name(err));
}

void jw_emit(struct jw *w)
{
	putc_(w, '\n');
	/* A vanished reader is the test's business; nothing useful to do here. */
	(void)write_all(STDOUT_FILENO, w->buf, w->len);
	w->len = 0;
	w->depth = 0;
}

void jw_free(struct jw *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
	w->depth = 0;
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_str(w, s);
}

void jw_kint(struct jw *w, const char *key, long long v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void jw_kbool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	jw_bool(w, v);
}

void jw_kerrno(struct jw *w, const char *key, int err)
{
	jw_key(w, key);
	jw_errno(w, err);
}

void emit_int(const char *key, long long v)
{
	struct jw w = { 0 };

	jw_obj_begin(&w);
	jw_kint(&w, key, v);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
}

void emit_str(const char *key, const char *s)
{
	struct jw w = { 0 };

	jw_obj_begin(&w);
	jw_kstr(&w, key, s);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
}
