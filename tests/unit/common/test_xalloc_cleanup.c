/* tests/unit/common/test_xalloc_cleanup.c - xalloc failure paths, cleanup attributes */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wchar.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

/* Under ASan an impossible malloc must return NULL (as it does without ASan)
 * rather than being reported; this binary's own default. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static jmp_buf die_jmp;
static char die_what[64];
static size_t die_size;
static int die_calls;

static void die_hook(const char *what, size_t size)
{
	snprintf(die_what, sizeof(die_what), "%s", what);
	die_size = size;
	die_calls++;
	longjmp(die_jmp, 1);
}

static int hook_on(void **state)
{
	die_calls = 0;
	die_what[0] = '\0';
	die_size = 0;
	xalloc_die_hook = die_hook;
	return 0;
}

static int hook_off(void **state)
{
	xalloc_die_hook = NULL;
	return 0;
}

/* volatile: the sizes are not constants the compiler can warn about */
static volatile size_t huge = SIZE_MAX;

static void test_xmalloc_fails(void **state)
{
	if (setjmp(die_jmp) == 0) {
		void *p = xmalloc(huge);

		free(p);
		fail_msg("xmalloc(SIZE_MAX) returned");
	}
	assert_int_equal(die_calls, 1);
	assert_string_equal(die_what, "malloc");
	assert_int_equal(die_size, SIZE_MAX);
}

static void test_xreallocarray_overflow(void **state)
{
	char *volatile p = xmalloc(16);

	if (setjmp(die_jmp) == 0) {
		p = xreallocarray(p, huge / 2, 4);
		fail_msg("overflowing xreallocarray returned");
	}
	assert_int_equal(die_calls, 1);
	assert_string_equal(die_what, "reallocarray (overflow)");
	free(p);  /* untouched by the failed call */

	/* the same product without overflow is an ordinary allocation */
	p = xreallocarray(NULL, 4, 8);
	memset(p, 0, 32);
	free(p);
	assert_int_equal(die_calls, 1);
}

static void test_xcalloc_overflow(void **state)
{
	if (setjmp(die_jmp) == 0) {
		void *p = xcalloc(huge / 2, 4);

		free(p);
		fail_msg("overflowing xcalloc returned");
	}
	assert_int_equal(die_calls, 1);
	assert_string_equal(die_what, "calloc");
	/* the size reported is saturated, not the wrapped product */
	assert_int_equal(die_size, SIZE_MAX);
}

static void test_xasprintf_fails(void **state)
{
	/* in the C locale a non-ASCII wide character cannot be converted, so
	 * vasprintf fails without needing gigabytes */
	static const wchar_t bad[] = { 0xe9, 0 };

	if (setjmp(die_jmp) == 0) {
		char *s = xasprintf("%ls", bad);

		free(s);
		fail_msg("xasprintf returned despite a failing vasprintf");
	}
	assert_int_equal(die_calls, 1);
	assert_string_equal(die_what, "vasprintf");
}

static void test_xasprintf(void **state)
{
	cleanup_free char *s = xasprintf("%s-%d-%zu", "web", -3, (size_t)7);

	assert_string_equal(s, "web--3-7");
	assert_int_equal(die_calls, 0);
}

static void test_xstrndup(void **state)
{
	cleanup_free char *a = xstrndup("container", 4);
	cleanup_free char *b = xstrndup("ab", 10);
	cleanup_free char *c = xstrndup("ab", 0);
	/* n far beyond the string: strnlen stops at the NUL, no len+1 overflow */
	cleanup_free char *d = xstrndup("xyz", SIZE_MAX);
	char unterminated[3] = { 'q', 'r', 's' };
	cleanup_free char *e = xstrndup(unterminated, sizeof(unterminated));

	assert_string_equal(a, "cont");
	assert_string_equal(b, "ab");
	assert_string_equal(c, "");
	assert_string_equal(d, "xyz");
	assert_string_equal(e, "qrs");
	assert_int_equal(die_calls, 0);
}

static void test_zero_sizes(void **state)
{
	/* never NULL, even for 0 bytes: callers do not check */
	cleanup_free void *a = xmalloc(0);
	cleanup_free void *b = xzalloc(0);
	cleanup_free void *c = xcalloc(0, 8);
	cleanup_free void *d = xmemdup("", 0);
	cleanup_free char *z = xzalloc(64);
	void *r = xmalloc(8);

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(d);
	for (int i = 0; i < 64; i++)
		assert_int_equal(z[i], 0);
	r = xrealloc(r, 0);
	assert_non_null(r);
	free(r);
}

static void test_xmemdup_xstrdup(void **state)
{
	const char src[] = { 1, 0, 2, 3 };
	cleanup_free char *m = xmemdup(src, sizeof(src));
	cleanup_free char *s = xstrdup("image");

	assert_memory_equal(m, src, sizeof(src));
	assert_ptr_not_equal(m, src);
	assert_string_equal(s, "image");
}

/* ---------------------------------------------------------------- cleanup */

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_cleanup_close(void **state)
{
	int seen;

	{
		cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		assert_true(fd >= 0);
		seen = fd;
		assert_true(fd_open(seen));
	}
	assert_false(fd_open(seen));
	assert_int_equal(errno, EBADF);

	{
		cleanup_close int fd = -1;  /* no-op, must not close(-1) and fail */
		(void)fd;
	}
}

static int open_and_steal(void)
{
	cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	return steal_fd(&fd);
}

static void test_steal_fd(void **state)
{
	int fd = open_and_steal();
	int x = 5;

	assert_true(fd >= 0);
	assert_true(fd_open(fd));
	close(fd);
	assert_int_equal(steal_fd(&x), 5);
	assert_int_equal(x, -1);
}

static void test_cleanup_close_keeps_errno(void **state)
{
	{
		cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		cleanup_close int bad = 999999;   /* close() fails with EBADF */

		assert_true(fd >= 0);
		(void)bad;
		errno = EXDEV;
	}
	assert_int_equal(errno, EXDEV);
}

static char *make_and_steal(void)
{
	cleanup_free char *s = xstrdup("kept");

	return steal_pointer(&s);
}

static void test_cleanup_free_and_steal(void **state)
{
	char *s = make_and_steal();
	int *p = xmalloc(sizeof(*p)), *q;

	/* ASan reports a double free if steal_pointer did not clear */
	assert_string_equal(s, "kept");
	free(s);
	q = steal_pointer(&p);
	assert_null(p);
	assert_non_null(q);
	free(q);
	{
		cleanup_free char *nothing = NULL;
		(void)nothing;
	}
}

static void test_cleanup_fclose_closedir(void **state)
{
	int ffd, dfd;

	{
		cleanup_fclose FILE *f = fopen("/dev/null", "re");
		cleanup_closedir DIR *d = opendir("/");
		cleanup_fclose FILE *none = NULL;
		cleanup_closedir DIR *none_d = NULL;

		assert_non_null(f);
		assert_non_null(d);
		ffd = fileno(f);
		dfd = dirfd(d);
		assert_true(fd_open(ffd));
		assert_true(fd_open(dfd));
		(void)none;
		(void)none_d;
		errno = ENOSPC;
	}
	assert_int_equal(errno, ENOSPC);
	assert_false(fd_open(ffd));
	assert_false(fd_open(dfd));
}

static void test_cleanup_pid(void **state)
{
	pid_t seen;

	{
		cleanup_pid pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			pause();
			_exit(0);
		}
		seen = pid;
		errno = EROFS;
	}
	assert_int_equal(errno, EROFS);
	/* killed and reaped: nothing left to wait for */
	assert_int_equal(waitpid(seen, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);

	{
		cleanup_pid pid_t pid = fork();
		pid_t kept;
		int status;

		assert_true(pid >= 0);
		if (pid == 0)
			_exit(7);
		kept = steal_pid(&pid);
		assert_int_equal(pid, -1);
		assert_int_equal(waitpid(kept, &status, 0), kept);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 7);
	}
}

static void test_cleanup_strv(void **state)
{
	{
		cleanup_strv char **v = xcalloc(4, sizeof(char *));

		v[0] = xstrdup("a");
		v[1] = xstrdup("b");
		v[2] = xstrdup("c");
	}
	{
		cleanup_strv char **none = NULL;
		(void)none;
	}
	strv_free(NULL);
	/* leaks, if any, are ASan's to report */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_xmalloc_fails, hook_on, hook_off),
		cmocka_unit_test_setup_teardown(test_xreallocarray_overflow, hook_on, hook_off),
		cmocka_unit_test_setup_teardown(test_xcalloc_overflow, hook_on, hook_off),
		cmocka_unit_test_setup_teardown(test_xasprintf_fails, hook_on, hook_off),
		cmocka_unit_test_setup_teardown(test_xasprintf, hook_on, hook_off),
		cmocka_unit_test_setup_teardown(test_xstrndup, hook_on, hook_off),
		cmocka_unit_test_setup_teardown(test_zero_sizes, hook_on, hook_off),
		cmocka_unit_test(test_xmemdup_xstrdup),
		cmocka_unit_test(test_cleanup_close),
		cmocka_unit_test(test_steal_fd),
		cmocka_unit_test(test_cleanup_close_keeps_errno),
		cmocka_unit_test(test_cleanup_free_and_steal),
		cmocka_unit_test(test_cleanup_fclose_closedir),
		cmocka_unit_test(test_cleanup_pid),
		cmocka_unit_test(test_cleanup_strv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
