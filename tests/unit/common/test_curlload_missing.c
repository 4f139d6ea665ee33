/* tests/unit/common/test_curlload_missing.c - curlload.c built with a
 * soname that does not exist (CURLLOAD_SONAME, see CMakeLists.txt): a
 * failed load is an error that names the library and says why, every later
 * curl_load() gives the same answer, and a libcurl call made anyway ends
 * the process with a message instead of jumping through a null pointer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/curlload.h"

static void test_load_fails_clearly(void **state)
{
	struct berr *err = NULL;

	assert_int_equal(curl_load(&err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "load " CURLLOAD_SONAME " (Debian package libcurl4): "));
	assert_non_null(strstr(err->msg, "cannot open shared object file"));
	berr_clear(&err);
	assert_int_equal(curl_load(&err), -1);   /* not retried, same answer */
	assert_non_null(strstr(err->msg, CURLLOAD_SONAME));
	berr_clear(&err);
}

static void test_call_without_load_aborts(void **state)
{
	int fds[2], st;
	char buf[512] = "";
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 2);
		(void)curl_easy_init();
		_exit(0);   /* not reached */
	}
	close(fds[1]);
	assert_true(read(fds[0], buf, sizeof(buf) - 1) > 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	assert_non_null(strstr(buf, "berth: curl_easy_init called before curl_load() (load "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_fails_clearly),
		cmocka_unit_test(test_call_without_load_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
