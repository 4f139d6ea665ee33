/* common/json.c - see json.h */
#include "json.h"
#include "cleanup.h"
#include "fsutil.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(json_int_t) == sizeof(int64_t), "json_int_t is not 64 bits");

/* Compact output with sorted keys: the same value always gives the same bytes. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)

void bjson_decrefp(json_t **p)
{
	json_decref(*p);
}

int bjson_load_buf(const char *what, const char *buf, size_t len, json_t **out,
		   struct berr **err)
{
	json_error_t jerr;
	json_t *v;

	/* DECODE_ANY: a scalar document then fails the caller's type check,
	 * whose message ("expected object, got integer") is the clearer one */
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (v == NULL) {
		/* jansson quotes the input near the error: no control byte
		 * from a document reaches a terminal */
		for (char *p = jerr.text; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if (jerr.line > 0)
			return berr_set(err, 0, "parse %s: line %d, column %d: %s", what,
					jerr.line, jerr.column, jerr.text);
		return berr_set(err, 0, "parse %s: %s", what, jerr.text);
	}
	*out = v;
	return 0;
}

int bjson_load_file(const char *path, size_t max_bytes, json_t **out, struct berr **err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	int r;

	r = fs_read_file(path, &buf, &len, max_bytes, err);
	if (r < 0)
		return r;
	return bjson_load_buf(path, buf, len, out, err);
}

const char *bjson_type_name(const json_t *v)
{
	if (v == NULL)
		return "missing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ paths */

static bool plain_key(const char *key)
{
	if (*key == '\0')
		return false;
	for (const char *p = key; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

char *bjson_path_key(const char *path, const char *key)
{
	cleanup_free char *quoted = NULL;
	size_t n = 0;

	if (path == NULL)
		path = "";
	if (plain_key(key))
		return *path ? xasprintf("%s.%s", path, key) : xstrdup(key);

	/* ["..."] with JSON escapes, so keys with dots or quotes stay readable
	 * and unambiguous */
	quoted = xmalloc(strlen(key) * 6 + 1);
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if (*p == '"' || *p == '\\') {
			quoted[n++] = '\\';
			quoted[n++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			n += (size_t)sprintf(quoted + n, "\\u%04x", *p);
		} else {
			quoted[n++] = (char)*p;
		}
	}
	quoted[n] = '\0';
	return xasprintf("%s[\"%s\"]", path, quoted);
}

char *bjson_path_index(const char *path, size_t i)
{
	return xasprintf("%s[%zu]", path ? path : "", i);
}

/* ---------------------------------------------------------------- getters */

/* "path: message", or just "message" at the top level. */
static int __attribute__((format(printf, 3, 4)))
path_err(struct berr **err, const char *path, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (path && *path)
		return berr_set(err, 0, "%s: %s", path, msg);
	return berr_set(err, 0, "%s", msg);
}

/* 1 with *v set when present and not null, 0 when absent and optional. */
static int lookup(const json_t *obj, const char *path, const char *key, bool required,
		  json_t **v, struct berr **err)
{
	json_t *x;

	if (!json_is_object(obj))
		return path_err(err, path, "expected object, got %s", bjson_type_name(obj));
	x = json_object_get(obj, key);
	if (x == NULL || json_is_null(x)) {
		if (required) {
			cleanup_free char *p = bjson_path_key(path, key);

			return berr_set(err, 0, "%s: required", p);
		}
		return 0;
	}
	*v = x;
	return 1;
}

static int type_err(const char *path, const char *key, const char *want, const json_t *got,
		    struct berr **err)
{
	cleanup_free char *p = bjson_path_key(path, key);

	return berr_set(err, 0, "%s: expected %s, got %s", p, want, bjson_type_name(got));
}

int bjson_get_string(const json_t *obj, const char *path, const char *key, bool required,
		     const char **out, struct berr **err)
{
	json_t *v = NULL;
	int r = lookup(obj, path, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_string(v))
		return type_err(path, key, "string", v, err);
	*out = json_string_value(v);
	return 1;
}

int bjson_get_int(const json_t *obj, const char *path, const char *key, bool required,
		  int64_t *out, struct berr **err)
{
	json_t *v = NULL;
	int r = lookup(obj, path, key, required, &v, err);

	if (r <= 0)
		return r;
	/* jansson's parser already refuses integers outside int64 */
	if (!json_is_integer(v))
		return type_err(path, key, "integer", v, err);
	*out = json_integer_value(v);
	return 1;
}

int bjson_get_int_range(const json_t *obj, const char *path, const char *key, bool required,
			int64_t min, int64_t max, int64_t *out, struct berr **err)
{
	int64_t x;
	int r = bjson_get_int(obj, path, key, required, &x, err);

	if (r <= 0)
		return r;
	if (x < min || x > max) {
		cleanup_free char *p = bjson_path_key(path, key);

		return berr_set(err, 0, "%s: %lld out of range [%lld, %lld]", p, (long long)x,
				(long long)min, (long long)max);
	}
	*out = x;
	return 1;
}

int bjson_get_bool(const json_t *obj, const char *path, const char *key, bool required,
		   bool *out, struct berr **err)
{
	json_t *v = NULL;
	int r = lookup(obj, path, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_boolean(v))
		return type_err(path, key, "boolean", v, err);
	*out = json_is_true(v);
	return 1;
}

int bjson_get_object(const json_t *obj, const char *path, const char *key, bool required,
		     json_t **out, struct berr **err)
{
	json_t *v = NULL;
	int r = lookup(obj, path, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_object(v))
		return type_err(path, key, "object", v, err);
	*out = v;
	return 1;
}

int bjson_get_array(const json_t *obj, const char *path, const char *key, bool required,
		    json_t **out, struct berr **err)
{
	json_t *v = NULL;
	int r = lookup(obj, path, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_array(v))
		return type_err(path, key, "array", v, err);
	*out = v;
	return 1;
}

int bjson_get_number(const json_t *obj, const char *path, const char *key, bool required,
		     double *out, struct berr **err)
{
	json_t *v = NULL;
	int r = lookup(obj, path, key, required, &v, err);

	if (r <= 0)
		return r;
	if (!json_is_number(v))
		return type_err(path, key, "number", v, err);
	*out = json_number_value(v);
	return 1;
}

/* ----------------------------------------------------------------- output */

/* Encoded text in an xmalloc'd buffer with room for `extra` more bytes and
 * a NUL; NULL when jansson cannot encode v (NULL, or a string that is not
 * UTF-8 made with json_stringn_nocheck). */
static char *dump(const json_t *v, size_t extra, size_t *len)
{
	size_t n;
	char *buf;

	if (v == NULL)
		return NULL;
	n = json_dumpb(v, NULL, 0, DUMP_FLAGS);
	if (n == 0)
		return NULL;
	buf = xmalloc(n + extra + 1);
	if (json_dumpb(v, buf, n, DUMP_FLAGS) != n) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

char *bjson_dumps(const json_t *v)
{
	size_t len;
	char *s = dump(v, 0, &len);

	if (s == NULL) {
		fprintf(stderr, "berth: cannot encode a %s as JSON\n", bjson_type_name(v));
		abort();
	}
	return s;
}

static int write_json_file(const char *path, const json_t *v, mode_t mode, bool durable,
			   struct berr **err)
{
	cleanup_free char *s = NULL;
	size_t len;

	s = dump(v, 1, &len);
	if (s == NULL)
		return berr_set(err, 0, "write %s: cannot encode a %s as JSON", path,
				bjson_type_name(v));
	s[len++] = '\n';
	s[len] = '\0';
	return durable ? fs_write_file_atomic(path, s, len, mode, err)
		       : fs_write_file_replace(path, s, len, mode, err);
}

int bjson_write_file_atomic(const char *path, const json_t *v, mode_t mode, struct berr **err)
{
	return write_json_file(path, v, mode, true, err);
}

int bjson_write_file_replace(const char *path, const json_t *v, mode_t mode, struct berr **err)
{
	return write_json_file(path, v, mode, false, err);
}

int bjson_expect_object(const json_t *v, const char *path, struct berr **err)
{
	if (json_is_object(v))
		return 0;
	if (path && *path)
		return berr_set(err, 0, "%s: expected object, got %s", path, bjson_type_name(v));
	return berr_set(err, 0, "expected object, got %s", bjson_type_name(v));
}

int bjson_strv(const json_t *arr, const char *path, char ***out, struct berr **err)
{
	size_t n = json_array_size(arr);
	char **v = xcalloc(n + 1, sizeof(*v));
	json_t *x;
	size_t i;

	*out = v;
	json_array_foreach(arr, i, x) {
		if (!json_is_string(x)) {
			cleanup_free char *p = bjson_path_index(path, i);

			return berr_set(err, 0, "%s: expected string, got %s", p, bjson_type_name(x));
		}
		v[i] = xstrdup(json_string_value(x));
	}
	return 0;
}
