/* fuzz_json: bjson_load_buf and every typed getter on whatever parses.
 * Invariants: no crash or leak; a getter either succeeds or leaves an error
 * whose message starts with the JSON path it was given. */
#include "common/error.h"
#include "common/json.h"
#include "common/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(struct berr **err, const char *path)
{
	if (*err == NULL)
		return;
	if (strncmp(berr_msg(*err), path, strlen(path)) != 0)
		abort();   /* an error that does not name its path */
	berr_clear(err);
}

static void walk(const json_t *v, const char *path, int depth)
{
	const char *key;
	json_t *child;
	size_t i;

	if (depth > 8)
		return;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child) {
			struct berr *err = NULL;
			const char *s;
			int64_t n;
			bool b;
			double d;
			json_t *o;
			char *sub = bjson_path_key(path, key);

			bjson_get_string(v, path, key, false, &s, &err);
			check_err(&err, sub);
			bjson_get_int(v, path, key, true, &n, &err);
			check_err(&err, sub);
			bjson_get_bool(v, path, key, false, &b, &err);
			check_err(&err, sub);
			bjson_get_number(v, path, key, false, &d, &err);
			check_err(&err, sub);
			bjson_get_object(v, path, key, false, &o, &err);
			check_err(&err, sub);
			bjson_get_array(v, path, key, false, &o, &err);
			check_err(&err, sub);
			walk(child, sub, depth + 1);
			free(sub);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			char *sub = bjson_path_index(path, i);

			walk(child, sub, depth + 1);
			free(sub);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct berr *err = NULL;
	json_t *v = NULL;

	if (bjson_load_buf("fuzz", (const char *)data, size, &v, &err) < 0) {
		if (err == NULL || strncmp(berr_msg(err), "parse fuzz: ", 12) != 0)
			abort();   /* a parse error must name its source */
		berr_free(err);
		return 0;
	}
	walk(v, "", 0);
	free(bjson_dumps(v));
	json_decref(v);
	return 0;
}
