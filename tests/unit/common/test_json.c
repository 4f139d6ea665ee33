/* tests/unit/common/test_json.c - loading, typed getters, paths, output */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"

static char *tmpdir;

static int rm_cb(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	return remove(p);
}

static int group_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	tmpdir = xasprintf("%s/berth-test-json.XXXXXX", base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	free(tmpdir);
	return 0;
}

static char *tmp(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static json_t *parse(const char *s)
{
	json_t *v = NULL;
	cleanup_berr struct berr *err = NULL;

	if (bjson_load_buf("test", s, strlen(s), &v, &err) < 0)
		fail_msg("parse %s: %s", s, berr_msg(err));
	return v;
}

/* ---------------------------------------------------------------- load */

static void test_load_buf_errors(void **state)
{
	static const struct {
		const char *in;
		const char *prefix;  /* jansson's own text follows */
	} cases[] = {
		{ "{\n  \"a\": 1,\n  \"b\": ]\n}", "parse request body: line 3, column 8: " },
		{ "{\"a\": 1", "parse request body: line 1, column 7: " },
		{ "", "parse request body: line 1, column 0: " },
		{ "{} x", "parse request body: line 1, column 4: " },
		/* duplicate keys are refused */
		{ "{\"a\":1,\"a\":2}", "parse request body: line 1, column 10: " },
		/* integers beyond int64 */
		{ "[9223372036854775808]", "parse request body: line 1, column 20: " },
		{ "[-9223372036854775809]", "parse request body: line 1, column 21: " },
		{ "[1e400]", "parse request body: line 1, column 6: " },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_berr struct berr *err = NULL;
		json_t *v = (json_t *)0x1;
		int r;

		r = bjson_load_buf("request body", cases[i].in, strlen(cases[i].in), &v, &err);
		assert_int_equal(r, -1);
		assert_ptr_equal(v, (json_t *)0x1);  /* untouched */
		if (strncmp(berr_msg(err), cases[i].prefix, strlen(cases[i].prefix)) != 0)
			fail_msg("\"%s\": got \"%s\", want prefix \"%s\"", cases[i].in, berr_msg(err),
				 cases[i].prefix);
		/* and some explanation after it */
		assert_true(strlen(berr_msg(err)) > strlen(cases[i].prefix) + 3);
	}
	{
		cleanup_berr struct berr *err = NULL;
		json_t *v = NULL;

		assert_int_equal(bjson_load_buf("x", "{\"a\":1,\"a\":2}", 13, &v, &err), -1);
		assert_non_null(strstr(berr_msg(err), "duplicate"));
	}
}

static void test_load_buf_ok(void **state)
{
	cleanup_json json_t *v = NULL;
	cleanup_json json_t *scalar = NULL;
	cleanup_json json_t *big = NULL;
	const char *s = "{\"a\": [1, 2.5, \"x\"]} trailing";

	/* len bounds the input: the trailing junk is not read */
	assert_int_equal(bjson_load_buf("b", s, 20, &v, NULL), 0);
	assert_true(json_is_object(v));
	assert_int_equal(json_array_size(json_object_get(v, "a")), 3);
	/* any value at the top, for the caller to type-check */
	assert_int_equal(bjson_load_buf("b", "42", 2, &scalar, NULL), 0);
	assert_int_equal(json_integer_value(scalar), 42);
	assert_int_equal(bjson_load_buf("b", "[9223372036854775807, -9223372036854775808]", 43,
					&big, NULL), 0);
	assert_true(json_integer_value(json_array_get(big, 0)) == INT64_MAX);
	assert_true(json_integer_value(json_array_get(big, 1)) == INT64_MIN);
}

static void test_load_file(void **state)
{
	cleanup_free char *p = tmp("task.json");
	cleanup_free char *bad = tmp("bad.json");
	cleanup_free char *missing = tmp("missing.json");
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *v = NULL;
	const char *text = "{\n  \"family\": \"web\",\n  \"cpu\": \"256\"\n}\n";
	const char *broken = "{\n  \"family\": \"web\",\n  \"cpu\" 256\n}\n";
	char want[PATH_MAX + 128];

	assert_int_equal(fs_write_file_atomic(p, text, strlen(text), 0644, NULL), 0);
	assert_int_equal(fs_write_file_atomic(bad, broken, strlen(broken), 0644, NULL), 0);

	assert_int_equal(bjson_load_file(p, 1024, &v, &err), 0);
	assert_string_equal(json_string_value(json_object_get(v, "family")), "web");

	/* parse errors name the file, line and column */
	assert_int_equal(bjson_load_file(bad, 1024, &v, &err), -1);
	snprintf(want, sizeof(want), "parse %s: line 3, column 11: ", bad);
	if (strncmp(berr_msg(err), want, strlen(want)) != 0)
		fail_msg("got \"%s\", want prefix \"%s\"", berr_msg(err), want);

	/* too big */
	assert_int_equal(bjson_load_file(p, 10, &v, &err), -EFBIG);
	snprintf(want, sizeof(want), "read %s: more than 10 bytes: %s", p, strerror(EFBIG));
	assert_string_equal(berr_msg(err), want);

	/* not found */
	assert_int_equal(bjson_load_file(missing, 1024, &v, &err), -ENOENT);
	snprintf(want, sizeof(want), "open %s: %s", missing, strerror(ENOENT));
	assert_string_equal(berr_msg(err), want);
	/* v still the first document */
	assert_string_equal(json_string_value(json_object_get(v, "cpu")), "256");
}

static void test_type_name(void **state)
{
	cleanup_json json_t *v = parse("[{}, [], \"s\", 1, 1.5, true, false, null]");
	static const char *const want[] = {
		"object", "array", "string", "integer", "real", "boolean", "boolean", "null",
	};

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_string_equal(bjson_type_name(json_array_get(v, i)), want[i]);
	assert_string_equal(bjson_type_name(NULL), "missing");
}

/* ------------------------------------------------------------- getters */

static const char *doc =
	"{\"s\": \"str\", \"i\": 80, \"neg\": -5, \"r\": 1.5, \"whole\": 2.0, \"t\": true,"
	" \"f\": false, \"n\": null, \"o\": {\"k\": 1}, \"a\": [1, 2], \"e\": \"\"}";

/* Every getter's message for every wrong type, exactly. */
static void test_getter_type_errors(void **state)
{
	cleanup_json json_t *v = parse(doc);
	static const struct {
		const char *key;
		const char *type;
	} values[] = {
		{ "s", "string" }, { "i", "integer" }, { "r", "real" }, { "t", "boolean" },
		{ "o", "object" }, { "a", "array" },
	};
	const char *path = "containerDefinitions[1].portMappings[0]";

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const char *k = values[i].key, *got = values[i].type;
		cleanup_berr struct berr *err = NULL;
		const char *s = "untouched";
		int64_t n = 7;
		bool b = true;
		json_t *j = NULL;
		double d = 3.0;
		char want[256];
		int r;

#define CHECK(call, wanted_type, ok)                                                  \
	do {                                                                          \
		r = (call);                                                           \
		if (ok) {                                                             \
			assert_int_equal(r, 1);                                       \
		} else {                                                              \
			snprintf(want, sizeof(want), "%s.%s: expected %s, got %s", path, k, \
				 wanted_type, got);                                   \
			assert_int_equal(r, -1);                                      \
			assert_string_equal(berr_msg(err), want);                     \
			assert_int_equal(err->code, 0);                               \
		}                                                                     \
	} while (0)

		CHECK(bjson_get_string(v, path, k, true, &s, &err), "string",
		      strcmp(got, "string") == 0);
		CHECK(bjson_get_int(v, path, k, true, &n, &err), "integer",
		      strcmp(got, "integer") == 0);
		CHECK(bjson_get_bool(v, path, k, false, &b, &err), "boolean",
		      strcmp(got, "boolean") == 0);
		CHECK(bjson_get_object(v, path, k, false, &j, &err), "object",
		      strcmp(got, "object") == 0);
		CHECK(bjson_get_array(v, path, k, false, &j, &err), "array",
		      strcmp(got, "array") == 0);
		CHECK(bjson_get_number(v, path, k, false, &d, &err), "number",
		      strcmp(got, "integer") == 0 || strcmp(got, "real") == 0);
#undef CHECK
	}
}

static void test_getter_values(void **state)
{
	cleanup_json json_t *v = parse(doc);
	cleanup_berr struct berr *err = NULL;
	const char *s = NULL;
	int64_t n = 0;
	bool b = false;
	json_t *j = NULL;
	double d = 0;

	assert_int_equal(bjson_get_string(v, "", "s", true, &s, &err), 1);
	assert_string_equal(s, "str");
	assert_int_equal(bjson_get_string(v, "", "e", true, &s, &err), 1);
	assert_string_equal(s, "");
	assert_int_equal(bjson_get_int(v, "", "i", true, &n, &err), 1);
	assert_int_equal(n, 80);
	assert_int_equal(bjson_get_int(v, "", "neg", true, &n, &err), 1);
	assert_int_equal(n, -5);
	assert_int_equal(bjson_get_bool(v, "", "t", true, &b, &err), 1);
	assert_true(b);
	assert_int_equal(bjson_get_bool(v, "", "f", true, &b, &err), 1);
	assert_false(b);
	assert_int_equal(bjson_get_object(v, "", "o", true, &j, &err), 1);
	assert_ptr_equal(j, json_object_get(v, "o"));
	assert_int_equal(bjson_get_array(v, "", "a", true, &j, &err), 1);
	assert_ptr_equal(j, json_object_get(v, "a"));
	assert_int_equal(bjson_get_number(v, "", "r", true, &d, &err), 1);
	assert_true(d == 1.5);
	assert_int_equal(bjson_get_number(v, "", "i", true, &d, &err), 1);
	assert_true(d == 80.0);
	assert_null(err);

	/* reals are not integers, even whole ones */
	assert_int_equal(bjson_get_int(v, "", "whole", true, &n, &err), -1);
	assert_string_equal(berr_msg(err), "whole: expected integer, got real");
	assert_int_equal(n, -5);
}

static void test_getter_required_optional(void **state)
{
	cleanup_json json_t *v = parse(doc);
	cleanup_berr struct berr *err = NULL;
	const char *s = "sentinel";
	int64_t n = 99;
	bool b = true;
	json_t *j = (json_t *)0x1;
	double d = 9.5;

	/* optional and absent: 0, out untouched, no error */
	assert_int_equal(bjson_get_string(v, "task", "missing", false, &s, &err), 0);
	assert_string_equal(s, "sentinel");
	assert_int_equal(bjson_get_int(v, "task", "missing", false, &n, &err), 0);
	assert_int_equal(n, 99);
	assert_int_equal(bjson_get_bool(v, "task", "missing", false, &b, &err), 0);
	assert_true(b);
	assert_int_equal(bjson_get_object(v, "task", "missing", false, &j, &err), 0);
	assert_int_equal(bjson_get_array(v, "task", "missing", false, &j, &err), 0);
	assert_ptr_equal(j, (json_t *)0x1);
	assert_int_equal(bjson_get_number(v, "task", "missing", false, &d, &err), 0);
	assert_true(d == 9.5);
	assert_null(err);
	/* null counts as absent */
	assert_int_equal(bjson_get_string(v, "task", "n", false, &s, &err), 0);
	assert_string_equal(s, "sentinel");
	assert_null(err);

	/* required */
	assert_int_equal(bjson_get_string(v, "task", "missing", true, &s, &err), -1);
	assert_string_equal(berr_msg(err), "task.missing: required");
	assert_int_equal(bjson_get_int(v, "", "missing", true, &n, &err), -1);
	assert_string_equal(berr_msg(err), "missing: required");
	assert_int_equal(bjson_get_bool(v, "a.b[2]", "n", true, &b, &err), -1);
	assert_string_equal(berr_msg(err), "a.b[2].n: required");
	assert_int_equal(bjson_get_object(v, NULL, "x", true, &j, &err), -1);
	assert_string_equal(berr_msg(err), "x: required");
	assert_int_equal(bjson_get_array(v, "p", "x", true, &j, &err), -1);
	assert_string_equal(berr_msg(err), "p.x: required");
	assert_int_equal(bjson_get_number(v, "p", "x", true, &d, &err), -1);
	assert_string_equal(berr_msg(err), "p.x: required");
	assert_int_equal(n, 99);

	/* NULL err is fine */
	assert_int_equal(bjson_get_string(v, "", "missing", true, &s, NULL), -1);
}

static void test_getter_not_an_object(void **state)
{
	cleanup_json json_t *v = parse("{\"list\": [1], \"s\": \"x\"}");
	cleanup_berr struct berr *err = NULL;
	const char *s = NULL;

	assert_int_equal(bjson_get_string(json_object_get(v, "list"), "volumes", "name", false, &s,
					  &err), -1);
	assert_string_equal(berr_msg(err), "volumes: expected object, got array");
	assert_int_equal(bjson_get_string(json_object_get(v, "s"), "", "name", false, &s, &err), -1);
	assert_string_equal(berr_msg(err), "expected object, got string");
	assert_int_equal(bjson_get_string(NULL, "x", "name", false, &s, &err), -1);
	assert_string_equal(berr_msg(err), "x: expected object, got missing");
}

static void test_int_range(void **state)
{
	cleanup_json json_t *v =
		parse("{\"hostPort\": 70000, \"low\": -1, \"ok\": 8080, \"max\": 9223372036854775807,"
		      " \"min\": -9223372036854775808, \"r\": 3.0}");
	cleanup_berr struct berr *err = NULL;
	const char *path = "containerDefinitions[0].portMappings[1]";
	int64_t n = 1;

	assert_int_equal(bjson_get_int_range(v, path, "hostPort", true, 0, 65535, &n, &err), -1);
	assert_string_equal(berr_msg(err),
			    "containerDefinitions[0].portMappings[1].hostPort: 70000 out of range "
			    "[0, 65535]");
	assert_int_equal(n, 1);
	assert_int_equal(bjson_get_int_range(v, "", "low", true, 0, 65535, &n, &err), -1);
	assert_string_equal(berr_msg(err), "low: -1 out of range [0, 65535]");
	assert_int_equal(bjson_get_int_range(v, "", "ok", true, 0, 65535, &n, &err), 1);
	assert_int_equal(n, 8080);
	/* bounds are inclusive */
	assert_int_equal(bjson_get_int_range(v, "", "ok", true, 8080, 8080, &n, &err), 1);
	assert_int_equal(bjson_get_int_range(v, "", "max", true, INT64_MIN, INT64_MAX, &n, &err), 1);
	assert_true(n == INT64_MAX);
	assert_int_equal(bjson_get_int(v, "", "min", true, &n, &err), 1);
	assert_true(n == INT64_MIN);
	assert_int_equal(bjson_get_int_range(v, "", "max", true, 0, INT32_MAX, &n, &err), -1);
	assert_string_equal(berr_msg(err), "max: 9223372036854775807 out of range [0, 2147483647]");
	/* type and presence are checked as by bjson_get_int */
	assert_int_equal(bjson_get_int_range(v, "", "r", true, 0, 10, &n, &err), -1);
	assert_string_equal(berr_msg(err), "r: expected integer, got real");
	assert_int_equal(bjson_get_int_range(v, "", "absent", false, 0, 10, &n, &err), 0);
	assert_int_equal(bjson_get_int_range(v, "", "absent", true, 0, 10, &n, &err), -1);
	assert_string_equal(berr_msg(err), "absent: required");
}

/* --------------------------------------------------------------- paths */

static void test_paths(void **state)
{
	static const char *const keys[][3] = {
		{ "containerDefinitions[1]", "portMappings", "containerDefinitions[1].portMappings" },
		{ "", "family", "family" },
		{ "a.b", "c_d-e9", "a.b.c_d-e9" },
		{ "dockerLabels", "com.example.tier", "dockerLabels[\"com.example.tier\"]" },
		{ "", "has space", "[\"has space\"]" },
		{ "x", "", "x[\"\"]" },
		{ "x", "q\"uo\\te", "x[\"q\\\"uo\\\\te\"]" },
		{ "x", "nl\n", "x[\"nl\\u000a\"]" },
		{ "x", "caf\xc3\xa9", "x[\"caf\xc3\xa9\"]" },
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		cleanup_free char *got = bjson_path_key(keys[i][0], keys[i][1]);

		assert_string_equal(got, keys[i][2]);
	}
	{
		cleanup_free char *a = bjson_path_index("containerDefinitions", 3);
		cleanup_free char *b = bjson_path_index("", 0);
		cleanup_free char *c = bjson_path_index(NULL, 12);
		cleanup_free char *d = bjson_path_key(NULL, "k");
		cleanup_free char *built = NULL;
		cleanup_free char *tmp1 = bjson_path_index("containerDefinitions", 1);
		cleanup_free char *tmp2 = bjson_path_key(tmp1, "portMappings");
		cleanup_free char *tmp3 = bjson_path_index(tmp2, 0);

		assert_string_equal(a, "containerDefinitions[3]");
		assert_string_equal(b, "[0]");
		assert_string_equal(c, "[12]");
		assert_string_equal(d, "k");
		built = bjson_path_key(tmp3, "hostPort");
		assert_string_equal(built, "containerDefinitions[1].portMappings[0].hostPort");
	}
	/* a quoted key in a getter's message */
	{
		cleanup_json json_t *v = parse("{\"com.x\": 5}");
		cleanup_berr struct berr *err = NULL;
		const char *s = NULL;

		assert_int_equal(bjson_get_string(v, "dockerLabels", "com.x", true, &s, &err), -1);
		assert_string_equal(berr_msg(err),
				    "dockerLabels[\"com.x\"]: expected string, got integer");
	}
}

/* -------------------------------------------------------------- output */

static void test_dumps(void **state)
{
	cleanup_json json_t *v = parse("{\"b\": 1, \"a\": [true, null, \"x\"], \"c\": {\"z\": 1.5, \"y\": \"\\u00e9\"}}");
	cleanup_free char *s = bjson_dumps(v);
	cleanup_free char *n = NULL;
	cleanup_json json_t *i = json_integer(-3);

	assert_string_equal(s, "{\"a\":[true,null,\"x\"],\"b\":1,\"c\":{\"y\":\"\xc3\xa9\",\"z\":1.5}}");
	n = bjson_dumps(i);
	assert_string_equal(n, "-3");
}

static void test_dumps_aborts(void **state)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* not valid UTF-8: jansson cannot encode it */
		json_t *bad = json_stringn_nocheck("\xff\xfe", 2);
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(devnull, STDERR_FILENO);
		free(bjson_dumps(bad));
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void test_write_file_atomic_roundtrip(void **state)
{
	cleanup_free char *p = tmp("state.json");
	cleanup_json json_t *v = parse("{\"tasks\": {\"ab12\": {\"status\": \"RUNNING\", \"cpu\": 256}},"
				       " \"version\": 3, \"list\": [1.25, false]}");
	cleanup_json json_t *back = NULL;
	cleanup_berr struct berr *err = NULL;
	char *text = NULL;
	struct stat st;

	assert_int_equal(bjson_write_file_atomic(p, v, 0600, &err), 0);
	assert_int_equal(fs_read_file(p, &text, NULL, 4096, NULL), 0);
	assert_string_equal(text, "{\"list\":[1.25,false],\"tasks\":{\"ab12\":{\"cpu\":256,\"status\":"
				  "\"RUNNING\"}},\"version\":3}\n");
	free(text);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(bjson_load_file(p, 4096, &back, &err), 0);
	assert_true(json_equal(v, back));

	/* nothing written when the value cannot be encoded */
	{
		cleanup_free char *q = tmp("never.json");
		cleanup_json json_t *bad = json_stringn_nocheck("\xff", 1);

		assert_int_equal(bjson_write_file_atomic(q, bad, 0644, &err), -1);
		assert_non_null(strstr(berr_msg(err), q));
		assert_int_equal(access(q, F_OK), -1);
		assert_int_equal(bjson_write_file_atomic(q, NULL, 0644, &err), -1);
		assert_int_equal(access(q, F_OK), -1);
	}
	/* errors of the write itself come through */
	{
		cleanup_free char *q = tmp("nodir/x.json");

		assert_int_equal(bjson_write_file_atomic(q, v, 0644, &err), -ENOENT);
	}
}

static void test_cleanup_json(void **state)
{
	json_t *keep = json_object();

	assert_int_equal(keep->refcount, 1);
	{
		cleanup_json json_t *ref = json_incref(keep);

		assert_int_equal(keep->refcount, 2);
		(void)ref;
	}
	assert_int_equal(keep->refcount, 1);
	{
		cleanup_json json_t *none = NULL;

		(void)none;
	}
	json_decref(keep);
}

static void test_strv_and_expect_object(void **state)
{
	json_t *ok = json_pack("[s, s]", "a", "b");
	json_t *bad = json_pack("[s, i]", "a", 7);
	cleanup_strv char **v = NULL, **w = NULL;
	struct berr *err = NULL;

	(void)state;
	assert_int_equal(bjson_strv(ok, "cmd", &v, &err), 0);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b");
	assert_null(v[2]);
	assert_true(bjson_strv(bad, "x.cmd", &w, &err) < 0);
	assert_string_equal(berr_msg(err), "x.cmd[1]: expected string, got integer");
	assert_string_equal(w[0], "a");   /* partial list, still NULL-terminated */
	assert_null(w[1]);
	berr_clear(&err);
	{
		json_t *obj = json_object();

		assert_int_equal(bjson_expect_object(obj, "o", &err), 0);
		assert_null(err);
		json_decref(obj);
	}
	assert_true(bjson_expect_object(ok, "a.b", &err) < 0);
	assert_string_equal(berr_msg(err), "a.b: expected object, got array");
	berr_clear(&err);
	assert_true(bjson_expect_object(ok, "", &err) < 0);
	assert_string_equal(berr_msg(err), "expected object, got array");
	berr_clear(&err);
	json_decref(ok);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_buf_errors),
		cmocka_unit_test(test_load_buf_ok),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_type_name),
		cmocka_unit_test(test_getter_type_errors),
		cmocka_unit_test(test_getter_values),
		cmocka_unit_test(test_getter_required_optional),
		cmocka_unit_test(test_getter_not_an_object),
		cmocka_unit_test(test_int_range),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_dumps),
		cmocka_unit_test(test_dumps_aborts),
		cmocka_unit_test(test_write_file_atomic_roundtrip),
		cmocka_unit_test(test_cleanup_json),
		cmocka_unit_test(test_strv_and_expect_object),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
