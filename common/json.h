/* common/json.h - JSON helpers over jansson.
 *
 * Errors name the JSON path of the offending value, so a user can find it:
 *
 *     containerDefinitions[1].portMappings[0].hostPort: expected integer, got string
 *
 * Getters take the path of the object they read from ("" at the top) and
 * the key. A key whose value is JSON null counts as absent: ECS clients send
 * null and omit a field interchangeably.
 */
#ifndef BERTH_COMMON_JSON_H
#define BERTH_COMMON_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Parse a whole file (at most max_bytes) / a buffer. Duplicate keys in an
 * object are refused (which one would win is a guess). Errors:
 * "parse /x/task.json: line 3, column 5: <jansson's text>",
 * "open /x/task.json: No such file or directory", "read /x: more than N bytes". */
int bjson_load_file(const char *path, size_t max_bytes, json_t **out, struct berr **err);
/* `what` names the source in errors ("request body"). */
int bjson_load_buf(const char *what, const char *buf, size_t len, json_t **out,
		   struct berr **err);

/* "object", "array", "string", "integer", "real", "boolean", "null";
 * "missing" for NULL. */
const char *bjson_type_name(const json_t *v);

/* Typed getters. Return 1 and set *out when the key is present, 0 leaving
 * *out untouched when it is absent (or null) and not required, negative with
 * *err set otherwise:
 *     "<path>.<key>: required"
 *     "<path>.<key>: expected string, got integer"
 * `obj` must be an object ("<path>: expected object, got array" otherwise).
 * Object and array results are borrowed references into obj. */
int bjson_get_string(const json_t *obj, const char *path, const char *key, bool required,
		     const char **out, struct berr **err);
/* Integers only: 1.0 and 1e3 are reals and refused. */
int bjson_get_int(const json_t *obj, const char *path, const char *key, bool required,
		  int64_t *out, struct berr **err);
/* bjson_get_int, and also "<path>.<key>: 70000 out of range [0, 65535]". */
int bjson_get_int_range(const json_t *obj, const char *path, const char *key, bool required,
			int64_t min, int64_t max, int64_t *out, struct berr **err);
int bjson_get_bool(const json_t *obj, const char *path, const char *key, bool required,
		   bool *out, struct berr **err);
int bjson_get_object(const json_t *obj, const char *path, const char *key, bool required,
		     json_t **out, struct berr **err);
int bjson_get_array(const json_t *obj, const char *path, const char *key, bool required,
		    json_t **out, struct berr **err);
/* Integer or real. */
int bjson_get_number(const json_t *obj, const char *path, const char *key, bool required,
		     double *out, struct berr **err);

/* Check that v (found at path) is an object: "<path>: expected object, got
 * array", or without a path "expected object, got array". */
int bjson_expect_object(const json_t *v, const char *path, struct berr **err);
/* The elements of array arr (found at path) as a NULL-terminated list of
 * xmalloc'd strings; each must be a string ("<path>[2]: expected string, got
 * integer"). *out is NULL-terminated at every step, so the caller frees it
 * (strv_free) on error too. */
int bjson_strv(const json_t *arr, const char *path, char ***out, struct berr **err);

/* Paths, xmalloc'd: ("a.b", "c") -> "a.b.c", ("", "c") -> "c",
 * ("a.b", 3) -> "a.b[3]". A key that is not a plain word (letters, digits,
 * '_', '-') is quoted: ("dockerLabels", "com.x") -> dockerLabels["com.x"]. */
char *bjson_path_key(const char *path, const char *key);
char *bjson_path_index(const char *path, size_t i);

/* Compact, keys sorted, trailing newline, written with fs_write_file_atomic. */
int bjson_write_file_atomic(const char *path, const json_t *v, mode_t mode, struct berr **err);
/* The same with fs_write_file_replace (no fsync). */
int bjson_write_file_replace(const char *path, const json_t *v, mode_t mode, struct berr **err);
/* Compact, keys sorted, no newline; any value (not only containers).
 * xmalloc'd (free()). Aborts when jansson cannot encode v. */
char *bjson_dumps(const json_t *v);

void bjson_decrefp(json_t **p);
#define cleanup_json __attribute__((cleanup(bjson_decrefp)))

#endif
