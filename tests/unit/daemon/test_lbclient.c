/* tests/unit/daemon/test_lbclient.c - berthd's client of berth-lb's
 * control socket: target group names from ARNs, one request and one answer
 * per line against a fake berth-lb (a forked child on a temp socket),
 * errors that say what went wrong. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/xalloc.h"
#include "runtime/daemon/lbclient.h"

static void test_target_group_name(void **state)
{
	char b[64];

	(void)state;
	assert_int_equal(lbc_target_group_name("arn:aws:elasticloadbalancing:us-east-1:123456789012:"
					       "targetgroup/web/73e2d6bc24d8a067", b, sizeof(b)), 0);
	assert_string_equal(b, "web");
	assert_int_equal(lbc_target_group_name("web-2", b, sizeof(b)), 0);
	assert_string_equal(b, "web-2");
	assert_int_equal(lbc_target_group_name("arn:aws:ecs:us-east-1:1:targetgroup/web/1", b, sizeof(b)), -1);
	assert_int_equal(lbc_target_group_name("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/x/1",
					       b, sizeof(b)), -1);
	assert_int_equal(lbc_target_group_name("a/b", b, sizeof(b)), -1);
	assert_int_equal(lbc_target_group_name("", b, sizeof(b)), -1);
	assert_int_equal(lbc_target_group_name("0123456789012345678901234567890123", b, sizeof(b)), -1);
}

/* A fake berth-lb: accepts one connection, reads one line, checks it is
 * what the test expects, writes `answer` (or closes at once when NULL). */
static pid_t fake_lb(const char *path, const char *expect, const char *answer)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	assert_true(l >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char buf[4096];
		size_t n = 0;
		int c = accept(l, NULL, NULL);

		if (c < 0)
			_exit(2);
		if (!answer)
			_exit(0);
		while (n < sizeof(buf) - 1) {
			ssize_t r = read(c, buf + n, sizeof(buf) - 1 - n);

			if (r <= 0)
				_exit(3);
			n += (size_t)r;
			if (memchr(buf, '\n', n))
				break;
		}
		buf[n] = 0;
		if (strcmp(buf, expect) != 0)
			_exit(4);
		if (write(c, answer, strlen(answer)) != (ssize_t)strlen(answer))
			_exit(5);
		_exit(0);
	}
	close(l);
	return pid;
}

static void reap(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_call(void **state)
{
	char dir[] = "/tmp/berth-test-lbc-XXXXXX";
	cleanup_free char *path = NULL;
	struct berr *err = NULL;
	json_t *req, *resp = NULL;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/lb.sock", dir);
	req = json_pack("{s:s, s:s}", "Action", "DescribeTargetHealth", "TargetGroup", "web");

	/* an answer: Ok */
	pid = fake_lb(path, "{\"Action\":\"DescribeTargetHealth\",\"TargetGroup\":\"web\"}\n",
		      "{\"Ok\":true,\"TargetHealthDescriptions\":[]}\n");
	assert_int_equal(lbc_call(path, req, &resp, &err), 0);
	assert_true(json_is_array(json_object_get(resp, "TargetHealthDescriptions")));
	json_decref(resp);
	reap(pid);

	/* berth-lb's error: its code and message */
	pid = fake_lb(path, "{\"Action\":\"DescribeTargetHealth\",\"TargetGroup\":\"web\"}\n",
		      "{\"Ok\":false,\"Error\":{\"Code\":\"TargetGroupNotFound\",\"Message\":\"no target "
		      "group named web\"}}\n");
	assert_true(lbc_call(path, req, &resp, &err) < 0);
	assert_string_equal(berr_msg(err), "berth-lb: TargetGroupNotFound: no target group named web");
	assert_non_null(resp);
	json_decref(resp);
	berr_clear(&err);
	reap(pid);

	/* closed without an answer; not JSON; nobody listening */
	pid = fake_lb(path, NULL, NULL);
	assert_true(lbc_call(path, req, &resp, &err) < 0);
	/* closed before the request was read (send fails) or before an answer */
	assert_non_null(strstr(berr_msg(err), "berth-lb control socket"));
	berr_clear(&err);
	reap(pid);
	pid = fake_lb(path, "{\"Action\":\"DescribeTargetHealth\",\"TargetGroup\":\"web\"}\n", "ok\n");
	assert_true(lbc_call(path, req, &resp, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "not a JSON object"));
	berr_clear(&err);
	reap(pid);
	unlink(path);
	assert_true(lbc_call(path, req, &resp, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "is berth-lb running"));
	berr_clear(&err);

	json_decref(req);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_group_name),
		cmocka_unit_test(test_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
