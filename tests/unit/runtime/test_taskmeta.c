/* The shim's side of the task endpoint (shim/taskmeta.c): its
 * configuration, the containers' environment, the credentials of a berth
 * and of a static role, and the metadata v4 documents built from the task
 * definition and the published state. The listener in a task namespace is
 * covered by the VM case creds_endpoint. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/creds/issuer.h"
#include "runtime/shim/taskmeta.h"
#include "runtime/task/task.h"

#define ROLE "arn:aws:iam::123456789012:role/web"
#define TASK_ARN "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef0123456789abcdef"

static char dir[64];

static const char taskdef[] =
	"{\"family\": \"web\", \"networkMode\": \"awsvpc\", \"cpu\": \"512\", \"memory\": \"1024\","
	" \"requiresCompatibilities\": [\"FARGATE\"],"
	" \"containerDefinitions\": ["
	"  {\"name\": \"app\", \"image\": \"berth-test/web\", \"cpu\": 256, \"memory\": 512,"
	"   \"dockerLabels\": {\"team\": \"a\"}},"
	"  {\"name\": \"side\", \"image\": \"berth-test/helper\", \"essential\": false}]}";

static struct task_def *td_get(void)
{
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse(taskdef, strlen(taskdef), "td", TASK_MODE_FARGATE, &td, &err) < 0)
		fail_msg("%s", berr_msg(err));
	return td;
}

static json_t *endpoint(const char *role_json)
{
	json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "taskArn", TASK_ARN,
			      "clusterArn", "arn:aws:ecs:us-east-1:123456789012:cluster/default",
			      "region", "eu-west-3", "launchType", "FARGATE", "family", "web", "revision", "4",
			      "availabilityZone", "eu-west-3a");
	char *hk = xasprintf("%s/host.key", dir), *rc = xasprintf("%s/roles.json", dir);

	json_object_set_new(e, "hostKeyFile", json_string(hk));
	json_object_set_new(e, "roleCredentialsFile", json_string(rc));
	if (role_json)
		json_object_set_new(e, "role", json_loads(role_json, 0, NULL));
	free(hk);
	free(rc);
	return e;
}

static int group_setup(void **state)
{
	char *p;
	int fd;
	const char *keys = "{\"arn:aws:iam::123456789012:role/s3\": {\"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\","
			   " \"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}}";

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/berth-test-taskmeta-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	p = xasprintf("%s/roles.json", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	free(p);
	if (fd < 0 || fs_write_all(fd, keys, strlen(keys)) < 0)
		return -1;
	close(fd);
	return 0;
}

static int group_teardown(void **state)
{
	struct berr *err = NULL;

	(void)state;
	fs_rm_rf_at(AT_FDCWD, dir, &err);
	berr_free(err);
	return 0;
}

static const char *env_get(const char *const *env, const char *name)
{
	size_t n = strlen(name);

	for (; env && *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

static void test_berth_role(void **state)
{
	struct task_def *td = td_get();
	cleanup_json json_t *ep = endpoint("{\"roleArn\": \"" ROLE "\", \"source\": \"berth\", \"durationSeconds\": 900}");
	struct shim_meta *m = NULL;
	struct berr *err = NULL;
	const char *const *const *env;
	const char *uri, *meta0, *meta1;
	char *msg = NULL;
	json_t *c1, *c2;

	(void)state;
	if (shim_meta_new(ep, td, &m, &err) < 0)
		fail_msg("%s", berr_msg(err));
	env = shim_meta_container_env(m);
	uri = env_get(env[0], "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	assert_non_null(uri);
	assert_int_equal(strlen(uri), strlen("/v2/credentials/") + 36);
	/* one credentials id for the task, one metadata id per container */
	assert_string_equal(uri, env_get(env[1], "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
	meta0 = env_get(env[0], "ECS_CONTAINER_METADATA_URI_V4");
	meta1 = env_get(env[1], "ECS_CONTAINER_METADATA_URI_V4");
	assert_non_null(meta0);
	assert_non_null(meta1);
	assert_int_equal(strncmp(meta0, "http://169.254.170.2/v4/", 24), 0);
	assert_string_not_equal(meta0, meta1);
	assert_string_equal(env_get(env[0], "ECS_CONTAINER_METADATA_URI"), meta0);
	assert_string_equal(env_get(env[0], "AWS_REGION"), "eu-west-3");
	assert_string_equal(env_get(env[0], "AWS_DEFAULT_REGION"), "eu-west-3");
	assert_string_equal(env_get(env[0], "AWS_EXECUTION_ENV"), "AWS_ECS_FARGATE");
	assert_null(env[2]);

	/* minted once, then the same set until its refresh time */
	c1 = shim_meta_credentials(m, &msg);
	assert_non_null(c1);
	c2 = shim_meta_credentials(m, &msg);
	assert_string_equal(json_string_value(json_object_get(c1, "AccessKeyId")),
			    json_string_value(json_object_get(c2, "AccessKeyId")));
	assert_string_equal(json_string_value(json_object_get(c1, "RoleArn")), ROLE);
	{
		/* the set is one berthd verifies, for this task and role */
		uint8_t key[CREDS_HOST_KEY_LEN];
		cleanup_free char *hk = xasprintf("%s/host.key", dir);
		const char *tok = json_string_value(json_object_get(c1, "Token"));
		struct creds_claims cl = { 0 };
		char secret[CREDS_SECRET_LEN + 1];

		assert_int_equal(creds_host_key_load_or_create(hk, key, &err), 0);
		assert_int_equal(creds_verify(key, tok, strlen(tok), (int64_t)time(NULL), &cl, NULL, &err), 0);
		assert_string_equal(cl.role_arn, ROLE);
		assert_string_equal(cl.task_arn, TASK_ARN);
		assert_int_equal(cl.expiration - cl.issued, 900);
		creds_derive_secret(key, &cl, secret);
		assert_string_equal(secret, json_string_value(json_object_get(c1, "SecretAccessKey")));
		creds_claims_clear(&cl);
	}
	json_decref(c1);
	json_decref(c2);
	shim_meta_free(m);
	task_def_free(td);
}

static void test_static_role_and_none(void **state)
{
	struct task_def *td = td_get();
	cleanup_json json_t *ep = endpoint("{\"roleArn\": \"arn:aws:iam::123456789012:role/s3\", \"source\": \"static\"}");
	cleanup_json json_t *none = endpoint(NULL);
	struct shim_meta *m = NULL;
	struct berr *err = NULL;
	char *msg = NULL;
	json_t *c;

	(void)state;
	if (shim_meta_new(ep, td, &m, &err) < 0)
		fail_msg("%s", berr_msg(err));
	c = shim_meta_credentials(m, &msg);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "AccessKeyId")), "AKIAIOSFODNN7EXAMPLE");
	assert_string_equal(json_string_value(json_object_get(c, "Token")), "");
	assert_non_null(json_string_value(json_object_get(c, "Expiration")));
	json_decref(c);
	shim_meta_free(m);

	/* no role: no credentials variable, and the endpoint says so */
	assert_int_equal(shim_meta_new(none, td, &m, &err), 0);
	assert_null(env_get(shim_meta_container_env(m)[0], "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
	assert_non_null(env_get(shim_meta_container_env(m)[0], "ECS_CONTAINER_METADATA_URI_V4"));
	assert_null(shim_meta_credentials(m, &msg));
	assert_non_null(strstr(msg, "no role"));
	free(msg);
	shim_meta_free(m);
	task_def_free(td);
}

static void expect_error(const char *role, const char *drop, const char *want)
{
	struct task_def *td = td_get();
	cleanup_json json_t *ep = endpoint(role);
	struct shim_meta *m = NULL;
	struct berr *err = NULL;

	if (drop)
		json_object_del(ep, drop);
	assert_true(shim_meta_new(ep, td, &m, &err) < 0);
	assert_null(m);
	if (!strstr(berr_msg(err), want))
		fail_msg("error: %s\nwanted: %s", berr_msg(err), want);
	berr_free(err);
	task_def_free(td);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(NULL, "taskArn", "taskArn");
	expect_error(NULL, "region", "region");
	expect_error("{\"roleArn\": \"" ROLE "\", \"source\": \"sts\"}", NULL, "endpoint.role.source: \"sts\"");
	expect_error("{\"roleArn\": \"" ROLE "\", \"source\": \"berth\"}", "hostKeyFile", "hostKeyFile: needed");
	expect_error("{\"roleArn\": \"" ROLE "\", \"source\": \"static\"}", NULL, "no keys for static role");
	expect_error("{\"roleArn\": \"arn:aws:iam::123456789012:role/s3\", \"source\": \"static\"}",
		     "roleCredentialsFile", "roleCredentialsFile: needed");
}

/* host mode: a loopback listener, FULL_URI and the token */
static void test_host_mode(void **state)
{
	static const char hostdef[] =
		"{\"family\": \"h\", \"networkMode\": \"host\", \"memory\": \"128\","
		" \"containerDefinitions\": [{\"name\": \"app\", \"image\": \"berth-test/helper\"}]}";
	struct task_def *td = NULL;
	cleanup_json json_t *ep = endpoint("{\"roleArn\": \"" ROLE "\", \"source\": \"berth\"}");
	struct shim_meta *m = NULL;
	struct berr *err = NULL;
	const char *const *env;
	const char *full, *tok;
	int port = 0, epfd = epoll_create1(EPOLL_CLOEXEC);
	char path[128];

	(void)state;
	if (task_def_parse(hostdef, strlen(hostdef), "td", TASK_MODE_EC2, &td, &err) < 0)
		fail_msg("%s", berr_msg(err));
	if (shim_meta_new(ep, td, &m, &err) < 0)
		fail_msg("%s", berr_msg(err));
	env = shim_meta_container_env(m)[0];
	assert_null(env_get(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
	full = env_get(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	tok = env_get(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	assert_non_null(full);
	assert_non_null(tok);
	assert_int_equal(strlen(tok), 64);
	assert_int_equal(sscanf(full, "http://127.0.0.1:%d%127s", &port, path), 2);
	assert_int_equal(strncmp(path, "/v2/credentials/", 16), 0);
	assert_int_equal(strncmp(env_get(env, "ECS_CONTAINER_METADATA_URI_V4"), "http://127.0.0.1:", 17), 0);
	shim_meta_set_epfd(m, epfd);
	/* a request with the token, one without: 200, 401 */
	for (int with = 1; with >= 0; with--) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cleanup_free char *rq = with ? xasprintf("GET %s HTTP/1.1\r\nAuthorization: %s\r\n\r\n", path, tok)
					     : xasprintf("GET %s HTTP/1.1\r\n\r\n", path);
		char buf[8192] = "";
		struct epoll_event ev;
		ssize_t n, got = 0;

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(write(c, rq, strlen(rq)), (ssize_t)strlen(rq));
		while (epoll_wait(epfd, &ev, 1, 200) == 1)
			assert_true(shim_meta_on_fd(m, ev.data.fd, ev.events));
		while ((n = read(c, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		close(c);
		assert_non_null(strstr(buf, with ? "HTTP/1.1 200 OK" : "HTTP/1.1 401 Unauthorized"));
	}
	shim_meta_free(m);
	close(epfd);
	task_def_free(td);
}

static void put(const char *d, const char *name, const char *text)
{
	cleanup_free char *p = xasprintf("%s/%s", d, name);
	struct berr *err = NULL;

	if (fs_write_file_atomic(p, text, strlen(text), 0644, &err) < 0)
		fail_msg("%s", berr_msg(err));
}

/* stats from a cgroup directory (files as the kernel writes them) */
static void test_stats(void **state)
{
	struct task_def *td = td_get();
	cleanup_json json_t *ep = endpoint(NULL);
	cleanup_free char *cg = xasprintf("%s/cg", dir), *app = xasprintf("%s/cg/app", dir);
	struct shim_meta *m = NULL;
	struct berr *err = NULL;
	char *msg = NULL;
	json_t *st, *all;

	(void)state;
	/* without a cgroup (noLimits): said so */
	assert_int_equal(shim_meta_new(ep, td, &m, &err), 0);
	assert_null(shim_meta_stats(m, "app", &msg));
	assert_non_null(strstr(msg, "noLimits"));
	free(msg);
	shim_meta_free(m);

	assert_int_equal(fs_mkdir_p(app, 0755, &err), 0);
	put(app, "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 7\nnr_throttled 2\n"
			     "throttled_usec 300\n");
	put(app, "memory.current", "1048576\n");
	put(app, "memory.stat", "anon 4096\nfile 8192\nkernel 0\nsock 0\nshmem 0\npgfault 10\npgmajfault 1\n");
	put(app, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
	put(app, "pids.current", "3\n");
	put(app, "pids.max", "max\n");
	json_object_set_new(ep, "cgroupPath", json_string(cg));
	assert_int_equal(shim_meta_new(ep, td, &m, &err), 0);
	st = shim_meta_stats(m, "app", &msg);
	assert_non_null(st);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu_stats"),
				"cpu_usage"), "total_usage")), 2500000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu_stats"),
				"cpu_usage"), "usage_in_kernelmode")), 500000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu_stats"),
				"throttling_data"), "throttled_periods")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "precpu_stats"),
				"cpu_usage"), "total_usage")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "memory_stats"), "usage")), 1048576);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "memory_stats"), "limit")),
			 512 << 20);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st, "pids_stats"), "current")), 3);
	json_decref(st);
	/* the second reading's precpu is the first's cpu */
	put(app, "cpu.stat", "usage_usec 4000\nuser_usec 3000\nsystem_usec 1000\nnr_periods 7\nnr_throttled 2\n"
			     "throttled_usec 300\n");
	st = shim_meta_stats(m, "app", &msg);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "cpu_stats"),
				"cpu_usage"), "total_usage")), 4000000);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(st, "precpu_stats"),
				"cpu_usage"), "total_usage")), 2500000);
	json_decref(st);
	/* the task: every container, null for one without a cgroup yet */
	all = shim_meta_stats(m, NULL, &msg);
	assert_non_null(all);
	assert_int_equal(json_object_size(all), 2);
	assert_true(json_is_object(json_object_get(all, "app")));
	assert_true(json_is_null(json_object_get(all, "side")));
	json_decref(all);
	assert_null(shim_meta_stats(m, "nope", &msg));
	free(msg);
	shim_meta_free(m);
	task_def_free(td);
}

static void test_documents(void **state)
{
	struct task_def *td = td_get();
	cleanup_json json_t *ep = endpoint(NULL);
	cleanup_json json_t *task = json_pack("{s:s, s:s, s:s, s:f, s:f, s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:i}]}",
		"lastStatus", "RUNNING", "desiredStatus", "RUNNING", "privateIpv4Address", "10.0.0.7",
		"startedAt", 1763750000.25, "pullStartedAt", 1763749990.5,
		"containers", "name", "app", "lastStatus", "RUNNING", "runtimeId", "t-app", "healthStatus", "HEALTHY",
		"name", "side", "lastStatus", "STOPPED", "exitCode", 3);
	struct shim_meta *m = NULL;
	struct berr *err = NULL;
	json_t *d, *c;

	(void)state;
	assert_int_equal(shim_meta_new(ep, td, &m, &err), 0);
	/* before any state: PENDING */
	d = shim_meta_task_doc(m);
	assert_string_equal(json_string_value(json_object_get(d, "KnownStatus")), "PENDING");
	json_decref(d);
	shim_meta_on_state(m, task);
	d = shim_meta_task_doc(m);
	assert_string_equal(json_string_value(json_object_get(d, "TaskARN")), TASK_ARN);
	assert_string_equal(json_string_value(json_object_get(d, "Family")), "web");
	assert_string_equal(json_string_value(json_object_get(d, "Revision")), "4");
	assert_string_equal(json_string_value(json_object_get(d, "KnownStatus")), "RUNNING");
	assert_string_equal(json_string_value(json_object_get(d, "LaunchType")), "FARGATE");
	assert_string_equal(json_string_value(json_object_get(d, "AvailabilityZone")), "eu-west-3a");
	assert_string_equal(json_string_value(json_object_get(d, "PullStartedAt")), "2025-11-21T18:33:10.500Z");
	assert_true(json_real_value(json_object_get(json_object_get(d, "Limits"), "CPU")) == 0.5);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "Limits"), "Memory")), 1024);
	assert_int_equal(json_array_size(json_object_get(d, "Containers")), 2);
	json_decref(d);
	c = shim_meta_container_doc(m, "app");
	assert_string_equal(json_string_value(json_object_get(c, "DockerId")), "t-app");
	assert_string_equal(json_string_value(json_object_get(c, "KnownStatus")), "RUNNING");
	assert_string_equal(json_string_value(json_object_get(c, "Image")), "berth-test/web");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Labels"), "team")), "a");
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Labels"),
							      "com.amazonaws.ecs.task-arn")), TASK_ARN);
	assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Health"), "status")), "HEALTHY");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(
				json_object_get(c, "Networks"), 0), "IPv4Addresses"), 0)), "10.0.0.7");
	assert_string_equal(json_string_value(json_object_get(c, "StartedAt")), "2025-11-21T18:33:20.250Z");
	json_decref(c);
	c = shim_meta_container_doc(m, "side");
	assert_int_equal(json_integer_value(json_object_get(c, "ExitCode")), 3);
	assert_string_equal(json_string_value(json_object_get(c, "KnownStatus")), "STOPPED");
	json_decref(c);
	assert_null(shim_meta_container_doc(m, "nope"));
	shim_meta_free(m);
	task_def_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_berth_role),
		cmocka_unit_test(test_static_role_and_none),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_host_mode),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_documents),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
