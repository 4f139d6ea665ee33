/* tests/unit/common/test_log.c - levels, filtering, sinks, errno */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

struct captured {
	int calls;
	enum blog_level level;
	char msg[256];
	bool clobber_errno;
};

static void capture_sink(enum blog_level level, const char *msg, void *data)
{
	struct captured *c = data;

	c->calls++;
	c->level = level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	if (c->clobber_errno)
		errno = ENOTTY;  /* a sink doing I/O may change errno */
}

static int reset(void **state)
{
	blog_set_sink(NULL, NULL);
	blog_set_level(BLOG_INFO);
	blog_set_timestamps(false);
	blog_init("berth");
	return 0;
}

static void test_level_parse(void **state)
{
	assert_int_equal(blog_level_parse("error"), BLOG_ERROR);
	assert_int_equal(blog_level_parse("warn"), BLOG_WARN);
	assert_int_equal(blog_level_parse("warning"), BLOG_WARN);
	assert_int_equal(blog_level_parse("WARN"), BLOG_WARN);
	assert_int_equal(blog_level_parse("info"), BLOG_INFO);
	assert_int_equal(blog_level_parse("Debug"), BLOG_DEBUG);
	assert_int_equal(blog_level_parse("trace"), -1);
	assert_int_equal(blog_level_parse(""), -1);
	assert_int_equal(blog_level_parse("info "), -1);
	assert_int_equal(blog_level_parse(NULL), -1);
}

static void test_level_name(void **state)
{
	assert_string_equal(blog_level_name(BLOG_ERROR), "error");
	assert_string_equal(blog_level_name(BLOG_WARN), "warning");
	assert_string_equal(blog_level_name(BLOG_INFO), "info");
	assert_string_equal(blog_level_name(BLOG_DEBUG), "debug");
	assert_string_equal(blog_level_name((enum blog_level)42), "unknown");
	/* names parse back to their level */
	for (int l = BLOG_ERROR; l <= BLOG_DEBUG; l++)
		assert_int_equal(blog_level_parse(blog_level_name((enum blog_level)l)), l);
}

static void test_filtering(void **state)
{
	struct captured c = { 0 };

	blog_set_sink(capture_sink, &c);
	blog_set_level(BLOG_WARN);
	assert_int_equal(blog_get_level(), BLOG_WARN);
	assert_true(blog_enabled(BLOG_ERROR));
	assert_true(blog_enabled(BLOG_WARN));
	assert_false(blog_enabled(BLOG_INFO));
	assert_false(blog_enabled(BLOG_DEBUG));

	log_info("not shown");
	log_debug("not shown");
	assert_int_equal(c.calls, 0);

	log_warn("disk %d%% full", 93);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, BLOG_WARN);
	assert_string_equal(c.msg, "disk 93% full");

	log_error("task %s stopped", "ab12");
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.level, BLOG_ERROR);
	assert_string_equal(c.msg, "task ab12 stopped");

	blog_set_level(BLOG_ERROR);
	log_warn("filtered");
	assert_int_equal(c.calls, 2);

	blog_set_level(BLOG_DEBUG);
	log_debug("now %s", "shown");
	assert_int_equal(c.calls, 3);
	assert_int_equal(c.level, BLOG_DEBUG);
	assert_string_equal(c.msg, "now shown");
}

static int evaluated;

static int count_eval(void)
{
	return ++evaluated;
}

static void test_debug_args_not_evaluated(void **state)
{
	struct captured c = { 0 };

	blog_set_sink(capture_sink, &c);
	evaluated = 0;
	blog_set_level(BLOG_INFO);
	log_debug("value %d", count_eval());
	assert_int_equal(evaluated, 0);
	assert_int_equal(c.calls, 0);

	blog_set_level(BLOG_DEBUG);
	log_debug("value %d", count_eval());
	assert_int_equal(evaluated, 1);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.msg, "value 1");
}

static void test_errno_preserved(void **state)
{
	struct captured c = { .clobber_errno = true };

	blog_set_sink(capture_sink, &c);
	errno = EPIPE;
	log_error("write failed");
	assert_int_equal(c.calls, 1);
	assert_int_equal(errno, EPIPE);

	/* also when the message is filtered out */
	blog_set_level(BLOG_ERROR);
	errno = ECONNRESET;
	log_info("filtered");
	assert_int_equal(errno, ECONNRESET);
}

/* Run fn with stderr redirected to a pipe; return what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	static char buf[4096];
	int p[2], saved;
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void emit_plain(void)
{
	blog_init("/usr/libexec/berth-shim");
	log_warn("slow %s", "start");
	log_info("ready");
	log_error("gone");
}

static void emit_timestamped(void)
{
	blog_set_timestamps(true);
	log_warn("x");
}

static void test_stderr_sink(void **state)
{
	struct captured c = { 0 };
	const char *out;
	regex_t re;

	/* a sink, then NULL: back to stderr */
	blog_set_sink(capture_sink, &c);
	blog_set_sink(NULL, NULL);
	out = capture_stderr(emit_plain);
	assert_string_equal(out, "berth-shim: warning: slow start\n"
				 "berth-shim: ready\n"
				 "berth-shim: error: gone\n");
	assert_int_equal(c.calls, 0);

	out = capture_stderr(emit_timestamped);
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
				 "berth-shim: warning: x\n$", REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
	regfree(&re);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_level_parse, reset),
		cmocka_unit_test_setup(test_level_name, reset),
		cmocka_unit_test_setup(test_filtering, reset),
		cmocka_unit_test_setup(test_debug_args_not_evaluated, reset),
		cmocka_unit_test_setup(test_errno_preserved, reset),
		cmocka_unit_test_setup(test_stderr_sink, reset),
	};

	return cmocka_run_group_tests(tests, NULL, reset);
}
