/* Unit tests for runtime/shim/shim.c and shimclient.c: berth-shim's
 * configuration, its snapshot and requests, the socket server (over
 * socketpairs and a real listening socket in a temp dir), and spawning
 * (a fake shim script; the real berth-shim on configurations it refuses).
 *
 * The real berth-shim also runs whole tasks here, but only inside user,
 * mount and network namespaces a forked child makes (root there; as root
 * the namespace's 0 is host uid 100000): the test image imported into a
 * temp store, tmpfs storage, no cgroups, network "none". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "rootfs/import.h"
#include "rootfs/store.h"
#include "runtime/shim/shim.h"
#include "runtime/shim/shimclient.h"

#define TID "0123456789abcdef0123456789abcdef"
#define TD "{'family':'web','containerDefinitions':[{'name':'app','image':'nginx','memory':128}]}"

static char tmpdir[256];

static char *jq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/berth-shim-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_tmp(void **state)
{
	struct berr *err = NULL;

	if (fs_rm_rf_at(AT_FDCWD, tmpdir, &err) < 0) {
		fprintf(stderr, "cleanup %s: %s\n", tmpdir, berr_msg(err));
		berr_free(err);
	}
	return 0;
}

/* ------------------------------------------------------------ config */

static int parse(const char *doc, struct shim_config *c, struct berr **err)
{
	cleanup_free char *j = jq(doc);

	shim_config_init(c);
	return shim_config_parse("config.json", j, strlen(j), c, err);
}

static void test_config_minimal(void **state)
{
	struct shim_config c;
	struct berr *err = NULL;

	assert_int_equal(parse("{'taskId':'" TID "','taskDefinition':" TD "}", &c, &err), 0);
	assert_string_equal(c.task_id, TID);
	assert_int_equal(c.mode, TASK_MODE_EC2);
	assert_string_equal(c.root, "/var/lib/berth");
	assert_string_equal(c.run_dir, "/run/berth/tasks");
	assert_string_equal(c.log_dir, "/var/log/berth/tasks");
	assert_false(c.no_limits);
	assert_int_equal(c.storage, TRUN_STORAGE_LOOP);
	assert_int_equal(c.pids_max, 16384);
	assert_null(c.overrides);
	assert_false(c.net_override);
	assert_int_equal(c.n_security_groups, 0);
	assert_null(c.security_groups[0]);
	/* the network defaults, state under <root>/net */
	assert_string_equal(c.net.bridge, "berth0");
	assert_string_equal(c.net.state_dir, "/var/lib/berth/net");
	shim_config_free(&c);
}

static void test_config_full(void **state)
{
	struct shim_config c;
	struct trun_opts o;
	struct task_def *td = NULL;
	struct berr *err = NULL;

	assert_int_equal(parse("{'taskId':'" TID "','taskDefinition':{'family':'web','networkMode':'awsvpc',"
			       "'requiresCompatibilities':['FARGATE'],'cpu':'256','memory':'512',"
			       "'taskDefinitionArn':'arn:aws:ecs:us-east-1:000000000000:task-definition/web:3',"
			       "'revision':3,'status':'ACTIVE','registeredAt':1700000000.5,"
			       "'containerDefinitions':[{'name':'app','image':'nginx','command':['a']}]},"
			       "'overrides':{'containerOverrides':[{'name':'app','command':['b','c']}]},"
			       "'mode':'FARGATE','root':'/s','runDir':'/r','logDir':null,"
			       "'cgroupRoot':'/sys/fs/cgroup/x','noLimits':true,'storage':'tmpfs','pidsMax':77,"
			       "'network':{'bridge':'br9','subnet':'10.9.0.0/16'},"
			       "'securityGroups':['web','db'],'networkMode':'none','logLevel':'debug'}",
			       &c, &err), 0);
	assert_int_equal(c.mode, TASK_MODE_FARGATE);
	assert_string_equal(c.root, "/s");
	assert_string_equal(c.run_dir, "/r");
	assert_null(c.log_dir);
	assert_string_equal(c.cgroup_root, "/sys/fs/cgroup/x");
	assert_true(c.no_limits);
	assert_int_equal(c.storage, TRUN_STORAGE_TMPFS);
	assert_int_equal(c.pids_max, 77);
	assert_string_equal(c.net.bridge, "br9");
	assert_string_equal(c.net.state_dir, "/s/net");
	assert_int_equal(c.n_security_groups, 2);
	assert_string_equal(c.security_groups[1], "db");
	assert_true(c.net_override);
	assert_int_equal(c.net_mode, TASK_NET_NONE);
	assert_int_equal(c.log_level, 3);
	assert_non_null(c.overrides);

	/* the definition with its overrides; berthd's extra fields ignored */
	assert_int_equal(shim_config_task(&c, "config.json", &td, &err), 0);
	assert_string_equal(td->containers[0].command[0], "b");
	assert_string_equal(td->containers[0].command[1], "c");
	for (size_t i = 0; i < td->n_warnings; i++)
		assert_null(strstr(td->warnings[i], "revision"));

	trun_opts_init(&o);
	shim_config_opts(&c, "/r/" TID, &o);
	assert_string_equal(o.run_dir, "/r/" TID);
	assert_string_equal(o.task_id, TID);
	assert_string_equal(o.root, "/s");
	assert_null(o.log_dir);
	assert_true(o.quiet);
	assert_true(o.no_limits);
	assert_int_equal(o.storage, TRUN_STORAGE_TMPFS);
	assert_int_equal(o.pids_max, 77);
	assert_ptr_equal(o.net, &c.net);
	assert_int_equal(o.n_security_groups, 2);
	assert_string_equal(o.security_groups[0], "web");
	assert_true(o.net_override);
	assert_int_equal(o.ctl_fd, -1);
	assert_null(o.on_state);
	task_def_free(td);
	shim_config_free(&c);
}

static void test_config_errors(void **state)
{
	static const struct { const char *doc; const char *want; } cases[] = {
		{ "[]", "config.json: expected object, got array" },
		{ "{'taskDefinition':" TD "}", "config.json: taskId: required" },
		{ "{'taskId':'" TID "'}", "config.json: taskDefinition: required" },
		{ "{'taskId':'abc','taskDefinition':" TD "}", "config.json: taskId: \"abc\" is not 32 lower-case hex" },
		{ "{'taskId':'0123456789ABCDEF0123456789abcdef','taskDefinition':" TD "}", "taskId: " },
		{ "{'taskId':5,'taskDefinition':" TD "}", "config.json: taskId: expected string, got integer" },
		{ "{'taskId':'" TID "','taskDefinition':[]}", "taskDefinition: expected object, got array" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'overrides':'x'}", "overrides: expected object" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'mode':'EXTERNAL'}", "mode: \"EXTERNAL\": use EC2 or FARGATE" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'root':'rel'}", "root: \"rel\" is not an absolute path" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'runDir':1}", "runDir: expected string" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'logDir':'x/y'}", "logDir: \"x/y\" is not an absolute path" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'cgroupRoot':''}", "cgroupRoot: \"\" is not an absolute" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'noLimits':'yes'}", "noLimits: expected boolean" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'storage':'disk'}", "storage: \"disk\": use loop or tmpfs" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'pidsMax':'x'}", "pidsMax: expected integer, got string" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'pidsMax':0}", "pidsMax: 0 out of range" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'network':{'brige':'x'}}", "network.brige" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'network':{'subnet':'10.0.0.0/33'}}", "network.subnet" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'securityGroups':['a',1]}", "securityGroups[1]: expected string" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'securityGroups':'a'}", "securityGroups: expected array" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'networkMode':'nat'}", "networkMode: \"nat\": use awsvpc" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'logLevel':'loud'}", "logLevel: \"loud\"" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'extra':1}", "config.json: extra: unknown key" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",}", "config.json" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shim_config c;
		struct berr *err = NULL;

		if (parse(cases[i].doc, &c, &err) >= 0)
			fail_msg("case %zu (%s) was accepted", i, cases[i].doc);
		if (!strstr(berr_msg(err), cases[i].want))
			fail_msg("case %zu: error \"%s\" does not hold \"%s\"", i, berr_msg(err), cases[i].want);
		berr_free(err);
		shim_config_free(&c);
	}
}

static void test_config_task_errors(void **state)
{
	struct shim_config c;
	struct task_def *td = NULL;
	struct berr *err = NULL;

	/* a definition that is a JSON object but not a valid task */
	assert_int_equal(parse("{'taskId':'" TID "','taskDefinition':{'family':'x','containerDefinitions':"
			       "[{'name':'a'}]}}", &c, &err), 0);
	assert_true(shim_config_task(&c, "config.json", &td, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "config.json: taskDefinition: containerDefinitions[0].image"));
	assert_null(td);
	berr_clear(&err);
	shim_config_free(&c);

	/* FARGATE rules apply in FARGATE mode */
	assert_int_equal(parse("{'taskId':'" TID "','mode':'FARGATE','taskDefinition':" TD "}", &c, &err), 0);
	assert_true(shim_config_task(&c, "config.json", &td, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "config.json: taskDefinition"));
	berr_clear(&err);
	assert_int_equal(c.mode, TASK_MODE_FARGATE);
	c.mode = TASK_MODE_EC2;
	assert_int_equal(shim_config_task(&c, "config.json", &td, &err), 0);
	task_def_free(td);
	td = NULL;
	shim_config_free(&c);

	/* a bad override names the overrides */
	assert_int_equal(parse("{'taskId':'" TID "','taskDefinition':" TD ","
			       "'overrides':{'containerOverrides':[{'name':'nope'}]}}", &c, &err), 0);
	assert_true(shim_config_task(&c, "config.json", &td, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "config.json: overrides"));
	berr_clear(&err);
	shim_config_free(&c);
}

/* ---------------------------------------------------------- snapshot */

static struct netns_binding binds[] = {
	{ .container_port = 80, .host_port = 49153, .proto = NETNS_TCP },
	{ .container_port = 53, .host_port = 49154, .proto = NETNS_UDP },
};

static void fill_state(struct trun_state *st, struct trun_container_state *cs)
{
	memset(cs, 0, 2 * sizeof(*cs));
	cs[0] = (struct trun_container_state){
		.name = "web", .essential = true, .last_status = "RUNNING", .exit_code = -1,
		.health = "HEALTHY", .restarts = 2, .pid = 4242, .bindings = binds, .n_bindings = 2,
	};
	cs[1] = (struct trun_container_state){
		.name = "side", .essential = false, .last_status = "STOPPED", .exit_code = 137,
		.reason = "OutOfMemoryError: Container killed due to memory usage", .health = "UNKNOWN",
	};
	*st = (struct trun_state){
		.task_id = TID, .status = TRUN_RUNNING, .health = "HEALTHY", .limits = true,
		.ipv4 = "10.213.0.7", .pull_started_at = 1700000000.125, .pull_stopped_at = 1700000000.25,
		.connectivity_at = 1700000001.0, .started_at = 1700000002.5, .exit_code = -1,
		.containers = cs, .n_containers = 2,
	};
}

static void test_snapshot(void **state)
{
	struct trun_container_state cs[2];
	struct trun_state st;
	cleanup_json json_t *msg = NULL, *task = NULL;
	cleanup_free char *txt = NULL;
	struct berr *err = NULL;
	uint64_t seq = 0;
	json_t *t, *c, *b;

	fill_state(&st, cs);
	msg = shim_snapshot(&st, 7, 99);
	assert_string_equal(json_string_value(json_object_get(msg, "type")), "state");
	assert_int_equal(json_integer_value(json_object_get(msg, "seq")), 7);
	t = json_object_get(msg, "task");
	assert_string_equal(json_string_value(json_object_get(t, "taskId")), TID);
	assert_string_equal(json_string_value(json_object_get(t, "lastStatus")), "RUNNING");
	assert_string_equal(json_string_value(json_object_get(t, "desiredStatus")), "RUNNING");
	assert_string_equal(json_string_value(json_object_get(t, "healthStatus")), "HEALTHY");
	assert_string_equal(json_string_value(json_object_get(t, "privateIpv4Address")), "10.213.0.7");
	assert_int_equal(json_integer_value(json_object_get(t, "shimPid")), 99);
	assert_true(json_is_true(json_object_get(t, "limits")));
	assert_true(json_real_value(json_object_get(t, "pullStartedAt")) == 1700000000.125);
	assert_true(json_real_value(json_object_get(t, "startedAt")) == 1700000002.5);
	/* what has not happened is absent */
	assert_null(json_object_get(t, "stoppingAt"));
	assert_null(json_object_get(t, "stoppedAt"));
	assert_null(json_object_get(t, "executionStoppedAt"));
	assert_null(json_object_get(t, "stopCode"));
	assert_null(json_object_get(t, "stoppedReason"));
	assert_null(json_object_get(t, "exitCode"));

	c = json_array_get(json_object_get(t, "containers"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "name")), "web");
	assert_string_equal(json_string_value(json_object_get(c, "lastStatus")), "RUNNING");
	assert_string_equal(json_string_value(json_object_get(c, "runtimeId")), TID "-web");
	assert_int_equal(json_integer_value(json_object_get(c, "pid")), 4242);
	assert_int_equal(json_integer_value(json_object_get(c, "restartCount")), 2);
	assert_null(json_object_get(c, "exitCode"));
	assert_null(json_object_get(c, "reason"));
	b = json_object_get(c, "networkBindings");
	assert_int_equal(json_array_size(b), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(b, 1), "hostPort")), 49154);
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 1), "protocol")), "udp");
	assert_string_equal(json_string_value(json_object_get(json_array_get(b, 0), "bindIP")), "0.0.0.0");
	c = json_array_get(json_object_get(t, "containers"), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "exitCode")), 137);
	assert_string_equal(json_string_value(json_object_get(c, "reason")),
			    "OutOfMemoryError: Container killed due to memory usage");
	assert_true(json_is_false(json_object_get(c, "essential")));
	assert_null(json_object_get(c, "pid"));
	assert_null(json_object_get(c, "networkBindings"));

	/* the stop fields once stopped */
	st.status = TRUN_STOPPED;
	st.desired_stopped = true;
	st.stop_code = "UserInitiated";
	st.stopped_reason = "because";
	st.have_exit_code = true;
	st.exit_code = 0;
	st.stopped_at = 1700000009.0;
	st.ipv4 = "";
	json_decref(msg);
	msg = shim_snapshot(&st, 8, 99);
	t = json_object_get(msg, "task");
	assert_string_equal(json_string_value(json_object_get(t, "lastStatus")), "STOPPED");
	assert_string_equal(json_string_value(json_object_get(t, "desiredStatus")), "STOPPED");
	assert_string_equal(json_string_value(json_object_get(t, "stopCode")), "UserInitiated");
	assert_string_equal(json_string_value(json_object_get(t, "stoppedReason")), "because");
	assert_int_equal(json_integer_value(json_object_get(t, "exitCode")), 0);
	assert_null(json_object_get(t, "privateIpv4Address"));

	/* the client's parser takes it back */
	txt = bjson_dumps(msg);
	assert_int_equal(shimc_parse(txt, strlen(txt), &seq, &task, &err), 0);
	assert_int_equal(seq, 8);
	assert_true(json_equal(task, t));
}

static void test_failed_snapshot(void **state)
{
	struct task_def *td = NULL;
	struct berr *err = NULL;
	cleanup_free char *doc = jq("{'family':'x','containerDefinitions':[{'name':'a','image':'i','memory':64},"
				    "{'name':'b','image':'i','memory':64,'essential':false}]}");
	cleanup_json json_t *msg = NULL, *msg2 = NULL;
	json_t *t;

	assert_int_equal(task_def_parse(doc, strlen(doc), "t", TASK_MODE_EC2, &td, &err), 0);
	msg = shim_failed_snapshot(TID, td, "config.json: pidsMax: bad", 5);
	t = json_object_get(msg, "task");
	assert_int_equal(json_integer_value(json_object_get(msg, "seq")), 1);
	assert_string_equal(json_string_value(json_object_get(t, "lastStatus")), "STOPPED");
	assert_string_equal(json_string_value(json_object_get(t, "stopCode")), "TaskFailedToStart");
	assert_string_equal(json_string_value(json_object_get(t, "stoppedReason")), "config.json: pidsMax: bad");
	assert_non_null(json_object_get(t, "stoppedAt"));
	assert_int_equal(json_array_size(json_object_get(t, "containers")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(t, "containers"), 1),
							       "lastStatus")), "STOPPED");
	task_def_free(td);
	/* without a definition: no containers */
	msg2 = shim_failed_snapshot(TID, NULL, "bad", 5);
	assert_int_equal(json_array_size(json_object_get(json_object_get(msg2, "task"), "containers")), 0);
}

/* ---------------------------------------------------------- requests */

static void test_requests(void **state)
{
	static const struct { const char *doc; const char *want; } bad[] = {
		{ "", "request" },
		{ "[]", "request: expected object" },
		{ "{}", "request.op: required" },
		{ "{'op':1}", "request.op: expected string" },
		{ "{'op':'kill'}", "request.op: unknown operation \"kill\"" },
		{ "{'op':'state','reason':'x'}", "op state takes no other keys" },
		{ "{'op':'stop','why':'x'}", "request: why: unknown key" },
		{ "{'op':'stop','reason':7}", "request.reason: expected string" },
		{ "{'op':'stop','stopCode':'SpotInterruption'}", "request.stopCode: \"SpotInterruption\"" },
	};
	struct shim_request req;
	struct berr *err = NULL;
	char *j;

	j = jq("{'op':'state'}");
	assert_int_equal(shim_request_parse(j, strlen(j), &req, &err), 0);
	assert_int_equal(req.op, SHIM_OP_STATE);
	free(j);
	j = jq("{'op':'stop'}");
	assert_int_equal(shim_request_parse(j, strlen(j), &req, &err), 0);
	assert_int_equal(req.op, SHIM_OP_STOP);
	assert_string_equal(req.stop_code, "UserInitiated");
	assert_null(req.reason);
	free(j);
	j = jq("{'op':'stop','reason':'scale in','stopCode':'ServiceSchedulerInitiated'}");
	assert_int_equal(shim_request_parse(j, strlen(j), &req, &err), 0);
	assert_string_equal(req.stop_code, "ServiceSchedulerInitiated");
	assert_string_equal(req.reason, "scale in");
	shim_request_free(&req);
	free(j);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = jq(bad[i].doc);
		if (shim_request_parse(j, strlen(j), &req, &err) >= 0)
			fail_msg("request %zu (%s) was accepted", i, bad[i].doc);
		if (!strstr(berr_msg(err), bad[i].want))
			fail_msg("request %zu: error \"%s\" does not hold \"%s\"", i, berr_msg(err), bad[i].want);
		berr_clear(&err);
		free(j);
	}
	/* a reason too long to be a reason */
	{
		char *big = xmalloc(2100);

		memset(big, 'a', 2099);
		big[2099] = '\0';
		j = xasprintf("{\"op\":\"stop\",\"reason\":\"%s\"}", big);
		assert_true(shim_request_parse(j, strlen(j), &req, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "longer than 1024"));
		berr_clear(&err);
		free(j);
		free(big);
	}
}

/* ------------------------------------------------------------ server */

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void publish_status(struct shim_server *s, enum trun_status status, int restarts)
{
	struct trun_container_state cs[2];
	struct trun_state st;
	struct berr *err = NULL;

	fill_state(&st, cs);
	st.status = status;
	cs[0].restarts = restarts;
	assert_int_equal(shim_server_publish(s, &st, &err), 0);
}

static const char *last_status(json_t *task)
{
	return json_string_value(json_object_get(task, "lastStatus"));
}

static void test_server_exchange(void **state)
{
	struct shim_server s;
	cleanup_free char *status = xasprintf("%s/status.json", tmpdir);
	struct berr *err = NULL;
	json_t *task = NULL;
	uint64_t seq = 0;
	const char *code = NULL;
	char *reason = NULL;
	int a[2], b[2];
	struct stat stt;

	assert_int_equal(shim_server_init(&s, -1, status, 1234, &err), 0);
	pair(a);
	/* a client before the first snapshot gets nothing yet */
	assert_int_equal(shim_server_add(&s, a[0]), 0);
	assert_int_equal(shimc_recv(a[1], &seq, &task, &err), -EAGAIN);

	publish_status(&s, TRUN_PROVISIONING, 0);
	assert_int_equal(shimc_recv(a[1], &seq, &task, &err), 1);
	assert_int_equal(seq, 1);
	assert_string_equal(last_status(task), "PROVISIONING");
	assert_int_equal(json_integer_value(json_object_get(task, "shimPid")), 1234);
	json_decref(task);
	/* status.json holds the same, mode 0600 */
	assert_int_equal(shimc_read_status(tmpdir, &seq, &task, &err), 1);
	assert_int_equal(seq, 1);
	assert_string_equal(last_status(task), "PROVISIONING");
	json_decref(task);
	assert_int_equal(stat(status, &stt), 0);
	assert_int_equal(stt.st_mode & 07777, 0600);

	publish_status(&s, TRUN_RUNNING, 0);
	/* a client that comes later gets the current snapshot at once */
	pair(b);
	assert_int_equal(shim_server_add(&s, b[0]), 0);
	assert_int_equal(s.n_clients, 2);
	assert_int_equal(shimc_recv(b[1], &seq, &task, &err), 1);
	assert_int_equal(seq, 2);
	assert_string_equal(last_status(task), "RUNNING");
	json_decref(task);
	assert_int_equal(shimc_recv(a[1], &seq, &task, &err), 1);
	assert_int_equal(seq, 2);
	json_decref(task);

	/* state: sent again; nothing asked to stop */
	assert_int_equal(shimc_send_state(b[1], &err), 0);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(shimc_recv(b[1], &seq, &task, &err), 1);
	assert_int_equal(seq, 2);
	json_decref(task);
	assert_int_equal(shimc_recv(a[1], &seq, &task, &err), -EAGAIN);

	/* a bad request gets an error back, and the client stays */
	assert_int_equal(send(a[1], "{\"op\":\"dance\"}", 14, 0), 14);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(shimc_recv(a[1], &seq, &task, &err), -EPROTO);
	assert_non_null(strstr(berr_msg(err), "shim: request.op: unknown operation"));
	berr_clear(&err);
	assert_int_equal(s.n_clients, 2);

	/* stop: the first reason in a turn is kept */
	assert_int_equal(shimc_send_stop(a[1], "scale down", NULL, &err), 0);
	assert_int_equal(shimc_send_stop(b[1], "second", "ServiceSchedulerInitiated", &err), 0);
	assert_true(shim_server_service(&s, &code, &reason));
	assert_string_equal(code, "UserInitiated");
	assert_string_equal(reason, "scale down");
	free(reason);
	reason = NULL;
	assert_false(shim_server_service(&s, &code, &reason));
	/* without a reason: NULL (taskrun's default) */
	assert_int_equal(shimc_send_stop(b[1], NULL, "ServiceSchedulerInitiated", &err), 0);
	assert_true(shim_server_service(&s, &code, &reason));
	assert_string_equal(code, "ServiceSchedulerInitiated");
	assert_null(reason);

	/* a client that goes away is dropped; the others carry on */
	close(a[1]);
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(s.n_clients, 1);
	publish_status(&s, TRUN_STOPPED, 0);
	assert_int_equal(shimc_recv(b[1], &seq, &task, &err), 1);
	assert_int_equal(seq, 3);
	assert_string_equal(last_status(task), "STOPPED");
	json_decref(task);

	/* close: the client reads the end of the connection */
	shim_server_close(&s);
	assert_int_equal(shimc_recv(b[1], &seq, &task, &err), 0);
	close(b[1]);
}

/* A client that never reads is dropped once its buffer is full; one that
 * reads gets every snapshot, in order. */
static void test_server_slow_client(void **state)
{
	struct shim_server s;
	struct berr *err = NULL;
	json_t *task = NULL;
	uint64_t seq = 0, want = 1;
	int slow[2], fast[2], small = 4096;
	int i;

	assert_int_equal(shim_server_init(&s, -1, NULL, 1, &err), 0);
	pair(slow);
	pair(fast);
	assert_int_equal(setsockopt(slow[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(shim_server_add(&s, slow[0]), 0);
	assert_int_equal(shim_server_add(&s, fast[0]), 0);
	for (i = 0; i < 10000 && s.n_clients == 2; i++) {
		publish_status(&s, TRUN_RUNNING, i);
		while (shimc_recv(fast[1], &seq, &task, &err) == 1) {
			assert_int_equal(seq, want);
			assert_int_equal(json_integer_value(json_object_get(json_array_get(
				json_object_get(task, "containers"), 0), "restartCount")), want - 1);
			want++;
			json_decref(task);
		}
	}
	assert_int_equal(s.n_clients, 1);
	assert_int_equal(s.clients[0], fast[0]);
	assert_true(i < 10000);
	assert_int_equal(want, s.seq + 1);
	/* the slow one reads what it got, then the end */
	{
		int n = 0, r;

		while ((r = shimc_recv(slow[1], &seq, &task, &err)) == 1) {
			assert_int_equal(seq, (uint64_t)++n);
			json_decref(task);
		}
		assert_int_equal(r, 0);
		assert_true(n > 0 && (uint64_t)n < s.seq);
	}
	shim_server_close(&s);
	close(slow[1]);
	close(fast[1]);
}

static void test_server_client_limit(void **state)
{
	struct shim_server s;
	struct berr *err = NULL;
	int peers[SHIM_MAX_CLIENTS + 1];

	assert_int_equal(shim_server_init(&s, -1, NULL, 1, &err), 0);
	for (int i = 0; i <= SHIM_MAX_CLIENTS; i++) {
		int sv[2];

		pair(sv);
		peers[i] = sv[1];
		assert_int_equal(shim_server_add(&s, sv[0]), i < SHIM_MAX_CLIENTS ? 0 : -1);
	}
	assert_int_equal(s.n_clients, SHIM_MAX_CLIENTS);
	/* the refused one sees its connection closed */
	{
		json_t *task = NULL;
		uint64_t seq;

		assert_int_equal(shimc_recv(peers[SHIM_MAX_CLIENTS], &seq, &task, &err), 0);
	}
	shim_server_close(&s);
	for (int i = 0; i <= SHIM_MAX_CLIENTS; i++)
		close(peers[i]);
}

/* The real socket: listen, connect through shimc_connect, the backlog at
 * close, stale and live socket files, a path longer than sun_path. */
static void test_server_socket(void **state)
{
	cleanup_free char *bundle = xasprintf("%s/" TID, tmpdir);
	cleanup_free char *path = xasprintf("%s/shim.sock", bundle);
	struct shim_server s;
	struct berr *err = NULL;
	json_t *task = NULL;
	uint64_t seq = 0;
	struct stat st;
	const char *code = NULL;
	char *reason = NULL;
	int lfd, c1, c2, r;

	assert_int_equal(mkdir(bundle, 0700), 0);
	/* no shim yet */
	r = shimc_connect(bundle, &err);
	assert_int_equal(r, -ENOENT);
	berr_clear(&err);

	lfd = shim_listen(path, &err);
	assert_true(lfd >= 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a second shim on the same bundle is refused */
	r = shim_listen(path, &err);
	assert_int_equal(r, -EADDRINUSE);
	assert_non_null(strstr(berr_msg(err), "another shim answers on"));
	berr_clear(&err);

	assert_int_equal(shim_server_init(&s, lfd, NULL, 1, &err), 0);
	publish_status(&s, TRUN_PENDING, 0);
	c1 = shimc_connect(bundle, &err);
	assert_true(c1 >= 0);
	assert_true(fcntl(c1, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(c1, F_GETFL) & O_NONBLOCK);
	/* the epoll fd says there is work; serving accepts and sends */
	{
		struct pollfd p = { .fd = s.epfd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 1000), 1);
	}
	assert_false(shim_server_service(&s, &code, &reason));
	assert_int_equal(shimc_recv_wait(c1, 1000, &seq, &task, &err), 1);
	assert_string_equal(last_status(task), "PENDING");
	json_decref(task);

	/* one more waits in the backlog while the task ends: the close
	 * accepts it and gives it the final snapshot */
	publish_status(&s, TRUN_STOPPED, 0);
	c2 = shimc_connect(bundle, &err);
	assert_true(c2 >= 0);
	shim_server_close(&s);
	assert_int_equal(shimc_recv_wait(c2, 1000, &seq, &task, &err), 1);
	assert_string_equal(last_status(task), "STOPPED");
	assert_int_equal(seq, 2);
	json_decref(task);
	assert_int_equal(shimc_recv_wait(c2, 1000, &seq, &task, &err), 0);
	assert_int_equal(shimc_recv_wait(c1, 1000, &seq, &task, &err), 1);
	assert_string_equal(last_status(task), "STOPPED");
	json_decref(task);
	assert_int_equal(shimc_recv_wait(c1, 1000, &seq, &task, &err), 0);
	close(c1);
	close(c2);

	/* the socket file is left (the shim unlinks it): nobody answers */
	r = shimc_connect(bundle, &err);
	assert_int_equal(r, -ECONNREFUSED);
	berr_clear(&err);
	/* a new listener replaces the stale file */
	lfd = shim_listen(path, &err);
	assert_true(lfd >= 0);
	close(lfd);
	unlink(path);

	/* a bundle path longer than sun_path */
	{
		char longdir[600];
		char *lpath;
		int lc;

		snprintf(longdir, sizeof(longdir), "%s/%0100d/%0100d", tmpdir, 1, 2);
		assert_int_equal(fs_mkdir_p(longdir, 0700, &err), 0);
		lpath = xasprintf("%s/shim.sock", longdir);
		lfd = shim_listen(lpath, &err);
		if (lfd < 0)
			fail_msg("listen on a long path: %s", berr_msg(err));
		assert_int_equal(stat(lpath, &st), 0);
		assert_true(S_ISSOCK(st.st_mode));
		lc = shimc_connect(longdir, &err);
		assert_true(lc >= 0);
		close(lc);
		close(lfd);
		free(lpath);
	}
}

/* ----------------------------------------------------------- spawning */

static char *write_script(const char *name, const char *body)
{
	char *p = xasprintf("%s/%s", tmpdir, name);
	struct berr *err = NULL;

	assert_int_equal(fs_write_file_atomic(p, body, strlen(body), 0755, &err), 0);
	return p;
}

static void test_spawn_fake(void **state)
{
	cleanup_free char *bundle = xasprintf("%s/b", tmpdir);
	cleanup_free char *ok = write_script("ok.sh", "#!/bin/sh\n"
		"read x < /dev/stdin && exit 9\n"          /* stdin is /dev/null */
		"echo $$ > \"$1/shim.pid\"\n"
		"echo chatter\n"
		"exit 0\n");
	cleanup_free char *bad = write_script("bad.sh", "#!/bin/sh\necho \"config.json: taskId: required\" >&2\nexit 1\n");
	cleanup_free char *nopid = write_script("nopid.sh", "#!/bin/sh\nexit 0\n");
	cleanup_free char *hang = write_script("hang.sh", "#!/bin/sh\nexec sleep 30\n");
	/* detached as far as its pid file, then stuck before "ready" */
	cleanup_free char *stuck = write_script("stuck.sh", "#!/bin/sh\n"
		"sleep 30 </dev/null >/dev/null 2>&1 &\n"
		"echo $! > \"$1/shim.pid\"\n"
		"exec sleep 30\n");
	cleanup_free char *missing = xasprintf("%s/missing", tmpdir);
	struct berr *err = NULL;
	pid_t pid = 0;

	assert_int_equal(mkdir(bundle, 0700), 0);
	assert_int_equal(shimc_spawn(ok, bundle, 0, &pid, &err), 0);
	assert_true(pid > 0);

	assert_true(shimc_spawn(bad, bundle, 0, &pid, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "bad.sh"));
	assert_non_null(strstr(berr_msg(err), ": config.json: taskId: required"));
	berr_clear(&err);

	{
		cleanup_free char *pf = xasprintf("%s/shim.pid", bundle);

		unlink(pf);
	}
	assert_true(shimc_spawn(nopid, bundle, 0, &pid, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "wrote no shim.pid"));
	berr_clear(&err);

	assert_true(shimc_spawn(hang, bundle, 300, &pid, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "not detached within 300 ms"));
	berr_clear(&err);

	/* the give-up kills the detached one too (it would run the task) */
	assert_true(shimc_spawn(stuck, bundle, 300, &pid, &err) < 0);
	berr_clear(&err);
	assert_int_equal(shimc_read_pid(bundle, &pid, &err), 1);
	{
		char path[64], line[128] = "";
		FILE *f;
		int i;

		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		for (i = 0; i < 200; i++) {
			bool zombie = false;

			if (!(f = fopen(path, "re")))
				break;
			while (fgets(line, sizeof(line), f))
				if (!strncmp(line, "State:", 6))
					zombie = strchr(line, 'Z') != NULL;
			fclose(f);
			if (zombie)
				break;
			usleep(10000);
		}
		if (i == 200)
			fail_msg("the detached process %d still runs", (int)pid);
	}

	assert_true(shimc_spawn(missing, bundle, 0, &pid, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "missing"));
	berr_clear(&err);
}

/* The real berth-shim on configurations it must refuse before running
 * anything: the error comes back through spawn and into status.json. */
static void test_spawn_shim_refuses(void **state)
{
	const char *bin = getenv("BERTH_BINARY_DIR");
	cleanup_free char *shim = xasprintf("%s/bin/berth-shim", bin ? bin : ".");
	cleanup_free char *rundir = xasprintf("%s/run", tmpdir);
	static const struct { const char *cfg; const char *want; } cases[] = {
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'pidsMax':'x'}",
		  "config.json: pidsMax: expected integer, got string" },
		{ "{'taskId':'" TID "','taskDefinition':{'family':'f','containerDefinitions':[{'name':'a'}]},"
		  "'runDir':'@RUN@'}",
		  "config.json: taskDefinition: containerDefinitions[0].image: required" },
		{ "{'taskId':'" TID "','taskDefinition':" TD ",'runDir':'/nonexistent'}",
		  "config.json: runDir: /nonexistent is not the bundle's directory" },
		{ "{'taskId':'fedcba9876543210fedcba9876543210','taskDefinition':" TD ",'runDir':'@RUN@'}",
		  "is not the bundle's name" },
		{ NULL, "config.json: No such file or directory" },
	};
	struct berr *err = NULL;

	if (access(shim, X_OK) < 0)
		fail_msg("%s: %s (build the berth-shim target)", shim, strerror(errno));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *bundle = xasprintf("%s/" TID, rundir);
		cleanup_free char *cfgp = xasprintf("%s/config.json", bundle);
		json_t *task = NULL;
		uint64_t seq = 0;
		pid_t pid = 0;

		assert_int_equal(fs_mkdir_p(bundle, 0700, &err), 0);
		if (cases[i].cfg) {
			char *j = jq(cases[i].cfg), *at;

			/* '@RUN@' -> the run dir */
			if ((at = strstr(j, "@RUN@"))) {
				char *k = xasprintf("%.*s%s%s", (int)(at - j), j, rundir, at + 5);

				free(j);
				j = k;
			}
			assert_int_equal(fs_write_file_atomic(cfgp, j, strlen(j), 0600, &err), 0);
			free(j);
		}
		if (shimc_spawn(shim, bundle, 10000, &pid, &err) >= 0)
			fail_msg("case %zu: the shim started", i);
		if (!strstr(berr_msg(err), cases[i].want))
			fail_msg("case %zu: error \"%s\" does not hold \"%s\"", i, berr_msg(err), cases[i].want);
		berr_clear(&err);
		/* recorded, with the same reason */
		assert_int_equal(shimc_read_status(bundle, &seq, &task, &err), 1);
		assert_string_equal(last_status(task), "STOPPED");
		assert_string_equal(json_string_value(json_object_get(task, "stopCode")), "TaskFailedToStart");
		assert_non_null(strstr(json_string_value(json_object_get(task, "stoppedReason")), cases[i].want));
		json_decref(task);
		/* nothing else left behind */
		{
			cleanup_free char *sock = xasprintf("%s/shim.sock", bundle);
			cleanup_free char *pidf = xasprintf("%s/shim.pid", bundle);

			assert_int_equal(access(sock, F_OK), -1);
			assert_int_equal(access(pidf, F_OK), -1);
		}

		/* a used bundle is refused, and its record kept */
		{
			struct stat a, b;
			cleanup_free char *sp = xasprintf("%s/status.json", bundle);

			assert_int_equal(stat(sp, &a), 0);
			assert_true(shimc_spawn(shim, bundle, 10000, &pid, &err) < 0);
			assert_non_null(strstr(berr_msg(err), "bundle used already"));
			berr_clear(&err);
			assert_int_equal(stat(sp, &b), 0);
			assert_int_equal(a.st_ino, b.st_ino);
		}
		assert_int_equal(fs_rm_rf_at(AT_FDCWD, bundle, &err), 0);
	}
	/* no bundle at all */
	{
		cleanup_free char *nob = xasprintf("%s/nope", tmpdir);
		pid_t pid;

		assert_true(shimc_spawn(shim, nob, 10000, &pid, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "No such file"));
		berr_clear(&err);
	}
}

static void test_read_pid(void **state)
{
	cleanup_free char *b = xasprintf("%s/p", tmpdir);
	cleanup_free char *p = xasprintf("%s/p/shim.pid", tmpdir);
	struct berr *err = NULL;
	pid_t pid = 0;

	assert_int_equal(mkdir(b, 0700), 0);
	assert_int_equal(shimc_read_pid(b, &pid, &err), 0);
	assert_int_equal(fs_write_file_atomic(p, "123\n", 4, 0600, &err), 0);
	assert_int_equal(shimc_read_pid(b, &pid, &err), 1);
	assert_int_equal(pid, 123);
	assert_int_equal(fs_write_file_atomic(p, "12x\n", 4, 0600, &err), 0);
	assert_true(shimc_read_pid(b, &pid, &err) < 0);
	assert_non_null(strstr(berr_msg(err), "not a pid"));
	berr_clear(&err);
	/* status.json that is not a snapshot */
	{
		cleanup_free char *sp = xasprintf("%s/status.json", b);
		json_t *task = NULL;
		uint64_t seq;

		assert_int_equal(shimc_read_status(b, &seq, &task, &err), 0);
		assert_int_equal(fs_write_file_atomic(sp, "{\"type\":\"state\"}", 16, 0600, &err), 0);
		assert_true(shimc_read_status(b, &seq, &task, &err) < 0);
		assert_non_null(strstr(berr_msg(err), "seq: required"));
		berr_clear(&err);
	}
}

/* ------------------------------------- the real shim in user namespaces */

#include "userns_fixture.h"
#define TID2 "fedcba9876543210fedcba9876543210"
#define TID3 "00000000000000000000000000000003"


#define E(...) do { dprintf(out, "ERROR " __VA_ARGS__); dprintf(out, "\n"); return 1; } while (0)

/* a user namespace cannot raise the hard limit over the host's: stay under it */
#define NOFILE "'ulimits':[{'name':'nofile','softLimit':1024,'hardLimit':1024}],"

static int write_bundle(int out, const char *id, const char *containers)
{
	cleanup_free char *bundle = xasprintf("%s/run/%s", tmpdir, id);
	cleanup_free char *cfgp = xasprintf("%s/config.json", bundle);
	cleanup_free char *doc = NULL, *j = NULL;
	struct berr *err = NULL;

	doc = xasprintf("{'taskId':'%s','taskDefinition':{'family':'e2e','networkMode':'none',"
			"'containerDefinitions':[%s]},'root':'%s/state','runDir':'%s/run',"
			"'logDir':'%s/logs','noLimits':true,'storage':'tmpfs','logLevel':'debug'}",
			id, containers, tmpdir, tmpdir, tmpdir);
	j = jq(doc);
	if (fs_mkdir_p(bundle, 0700, &err) < 0 || fs_write_file_atomic(cfgp, j, strlen(j), 0600, &err) < 0)
		E("bundle: %s", berr_msg(err));
	return 0;
}

static long proc_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	FILE *f;
	long v = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && line[strlen(key)] == ':')
			v = strtol(line + strlen(key) + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Wait (subreaper) for the detached shim to exit. */
static bool reaped(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return true;
		usleep(10000);
	}
	return false;
}

/* Read snapshots until lastStatus is `until` (or the connection ends);
 * the statuses seen go into seen[]. Returns the last task (new ref). */
static json_t *watch_until(int fd, const char *until, char *seen, size_t seen_len)
{
	json_t *last = NULL;
	uint64_t prev = 0;

	for (;;) {
		struct berr *err = NULL;
		json_t *task = NULL;
		uint64_t seq = 0;
		int r = shimc_recv_wait(fd, 30000, &seq, &task, &err);

		berr_free(err);
		if (r <= 0)
			return last;
		if (seq <= prev) {
			json_decref(task);
			continue;
		}
		prev = seq;
		json_decref(last);
		last = task;
		snprintf(seen + strlen(seen), seen_len - strlen(seen), "%s ",
			 json_string_value(json_object_get(task, "lastStatus")));
		if (until && !strcmp(json_string_value(json_object_get(task, "lastStatus")), until))
			return last;
	}
}

static pid_t ctr_pid(json_t *task, size_t i)
{
	return (pid_t)json_integer_value(json_object_get(json_array_get(json_object_get(task, "containers"), i),
							 "pid"));
}

/* Where a process's resident memory is: Rss and its anonymous (private,
 * written) part per mapped file ([anon] for the rest), for
 * BERTH_TEST_VERBOSE. */
static void smaps_summary(int out, pid_t pid)
{
	char path[64], line[512], name[256] = "[anon]";
	struct { char name[256]; long kb, anon; } m[64];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if (!(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char range[64], perms[8], off[16], dev[16], file[256] = "";
		unsigned long ino;
		long kb;
		size_t i;

		if (sscanf(line, "%63s %7s %15s %15s %lu %255s", range, perms, off, dev, &ino, file) >= 5 &&
		    strchr(range, '-')) {
			snprintf(name, sizeof(name), "%s", file[0] ? file : "[anon]");
			continue;
		}
		bool anon = sscanf(line, "Anonymous: %ld kB", &kb) == 1;

		if ((!anon && sscanf(line, "Rss: %ld kB", &kb) != 1) || kb == 0)
			continue;
		for (i = 0; i < n && strcmp(m[i].name, name); i++)
			;
		if (i == n && n < 64) {
			snprintf(m[n].name, sizeof(m[n].name), "%s", name);
			m[n].kb = m[n].anon = 0;
			n++;
		}
		if (i < n && anon)
			m[i].anon += kb;
		else if (i < n)
			m[i].kb += kb;
	}
	fclose(f);
	for (size_t i = 0; i < n; i++)
		dprintf(out, "INFO   %6ld KiB (anon %4ld) %s\n", m[i].kb, m[i].anon, m[i].name);
}

static int ns_shim_e2e(int out)
{
	const char *bin = getenv("BERTH_BINARY_DIR");
	cleanup_free char *archive = xasprintf("%s/images/helper.oci.tar", bin ? bin : ".");
	cleanup_free char *shim = xasprintf("%s/bin/berth-shim", bin ? bin : ".");
	cleanup_free char *images = xasprintf("%s/state/images", tmpdir);
	cleanup_free char *b1 = xasprintf("%s/run/" TID, tmpdir);
	cleanup_free char *b2 = xasprintf("%s/run/" TID2, tmpdir);
	cleanup_free char *b3 = xasprintf("%s/run/" TID3, tmpdir);
	struct rootfs_import_opts io = { 0 };
	struct rootfs_import_result ir = { 0 };
	struct rootfs_store *st = NULL;
	struct berr *err = NULL;
	json_t *task = NULL;
	char seen[256] = "";
	uint64_t seq;
	pid_t pid, cpid;
	int fd;

	io.unpack.flags = ROOTFS_UNPACK_NO_CHOWN | ROOTFS_UNPACK_USER_XATTR;
	if (rootfs_store_open(images, &st, &err) < 0 || rootfs_import(st, archive, &io, &ir, &err) < 0)
		E("import %s: %s", archive, berr_msg(err));
	rootfs_import_result_free(&ir);
	rootfs_store_close(st);

	/* 1: run, watch, stop with a reason */
	if (write_bundle(out, TID, "{'name':'app','image':'berth-test/helper','memory':32,'stopTimeout':5,"
			 NOFILE "'command':['signals','--exit-code','7']}"))
		return 1;
	if (shimc_spawn(shim, b1, 30000, &pid, &err) < 0)
		E("spawn: %s", berr_msg(err));
	/* detached: its first process is gone, the shim is ours (subreaper) */
	if (proc_field(pid, "PPid") != getpid())
		E("the shim's parent is %ld, want %d", proc_field(pid, "PPid"), (int)getpid());
	if (getsid(pid) != pid)
		E("the shim is not a session leader");
	if ((fd = shimc_connect(b1, &err)) < 0)
		E("connect: %s", berr_msg(err));
	task = watch_until(fd, "RUNNING", seen, sizeof(seen));
	if (!task || strcmp(json_string_value(json_object_get(task, "lastStatus")), "RUNNING"))
		E("never RUNNING; saw %s", seen);
	cpid = ctr_pid(task, 0);
	if (cpid <= 0 || proc_field(cpid, "Pid") != cpid)
		E("container pid %d is not a process here", (int)cpid);
	if (json_integer_value(json_object_get(task, "shimPid")) != pid)
		E("shimPid %lld, want %d", json_integer_value(json_object_get(task, "shimPid")), (int)pid);
	json_decref(task);
	usleep(500000);
	dprintf(out, "INFO idle shim: VmRSS %ld KiB (anon %ld, file %ld); statuses seen: %s\n",
		proc_field(pid, "VmRSS"), proc_field(pid, "RssAnon"), proc_field(pid, "RssFile"), seen);
	if (getenv("BERTH_TEST_VERBOSE"))
		smaps_summary(out, pid);
	if (shimc_send_stop(fd, "e2e stop", NULL, &err) < 0)
		E("stop: %s", berr_msg(err));
	task = watch_until(fd, NULL, seen, sizeof(seen));
	close(fd);
	if (!task || strcmp(json_string_value(json_object_get(task, "lastStatus")), "STOPPED"))
		E("the last snapshot is not STOPPED; saw %s", seen);
	json_decref(task);
	if (!reaped(pid, 10000))
		E("the shim did not exit");
	if (kill(cpid, 0) == 0 || errno != ESRCH)
		E("the container process %d is left", (int)cpid);
	if (shimc_read_status(b1, &seq, &task, &err) != 1)
		E("status.json: %s", berr_msg(err));
	if (strcmp(json_string_value(json_object_get(task, "stopCode")), "UserInitiated") ||
	    strcmp(json_string_value(json_object_get(task, "stoppedReason")), "e2e stop") ||
	    json_integer_value(json_object_get(json_array_get(json_object_get(task, "containers"), 0),
					       "exitCode")) != 7)
		E("status.json: %s", bjson_dumps(task));
	json_decref(task);
	{
		cleanup_free char *sock = xasprintf("%s/shim.sock", b1);
		cleanup_free char *pidf = xasprintf("%s/shim.pid", b1);
		cleanup_free char *tdir = xasprintf("%s/" TID, b1);

		if (access(sock, F_OK) == 0 || access(pidf, F_OK) == 0 || access(tdir, F_OK) == 0)
			E("the shim left its socket, pid file or task directory");
	}

	/* 2: kill -9 of the shim takes its containers with it */
	if (write_bundle(out, TID2, "{'name':'a','image':'berth-test/helper','memory':32," NOFILE
			 "'command':['signals']},{'name':'b','image':'berth-test/helper','memory':32,"
			 "'essential':false," NOFILE "'command':['sleep','inf']}"))
		return 1;
	if (shimc_spawn(shim, b2, 30000, &pid, &err) < 0)
		E("spawn 2: %s", berr_msg(err));
	if ((fd = shimc_connect(b2, &err)) < 0)
		E("connect 2: %s", berr_msg(err));
	seen[0] = '\0';
	task = watch_until(fd, "RUNNING", seen, sizeof(seen));
	if (!task || ctr_pid(task, 0) <= 0 || ctr_pid(task, 1) <= 0)
		E("task 2 never RUNNING with two pids; saw %s", seen);
	{
		pid_t p0 = ctr_pid(task, 0), p1 = ctr_pid(task, 1);
		int i;

		json_decref(task);
		kill(pid, SIGKILL);
		if (!reaped(pid, 10000))
			E("the shim survived SIGKILL");
		for (i = 0; i < 500 && (kill(p0, 0) == 0 || kill(p1, 0) == 0); i++)
			usleep(10000);
		if (i == 500)
			E("containers %d/%d outlived their shim", (int)p0, (int)p1);
	}
	/* the connection ends; the record says where the task was */
	if (shimc_recv_wait(fd, 5000, &seq, &task, &err) != 0)
		E("the connection did not end with the shim");
	close(fd);
	if (shimc_read_status(b2, &seq, &task, &err) != 1 ||
	    strcmp(json_string_value(json_object_get(task, "lastStatus")), "RUNNING"))
		E("task 2's status.json should say RUNNING still");
	json_decref(task);
	if ((fd = shimc_connect(b2, &err)) != -ECONNREFUSED)
		E("connect to a dead shim: %d, want -ECONNREFUSED", fd);
	berr_clear(&err);

	/* 3: SIGTERM to the shim (pid 1 of its namespace) stops the task */
	if (write_bundle(out, TID3, "{'name':'a','image':'berth-test/helper','memory':32," NOFILE
			 "'command':['signals','--exit-code','3']}"))
		return 1;
	if (shimc_spawn(shim, b3, 30000, &pid, &err) < 0)
		E("spawn 3: %s", berr_msg(err));
	if ((fd = shimc_connect(b3, &err)) < 0)
		E("connect 3: %s", berr_msg(err));
	seen[0] = '\0';
	task = watch_until(fd, "RUNNING", seen, sizeof(seen));
	if (!task)
		E("task 3 never RUNNING; saw %s", seen);
	json_decref(task);
	/* the container's handler must be in place before the stop */
	{
		cleanup_free char *log = xasprintf("%s/logs/" TID3 "/a.log", tmpdir);
		int i;

		for (i = 0; i < 500; i++) {
			cleanup_free char *txt = NULL;

			if (fs_read_file(log, &txt, NULL, 1 << 20, NULL) == 0 && strstr(txt, "ready"))
				break;
			usleep(10000);
		}
	}
	kill(pid, SIGTERM);
	task = watch_until(fd, NULL, seen, sizeof(seen));
	close(fd);
	if (!reaped(pid, 10000))
		E("the shim did not exit after SIGTERM");
	if (!task || strcmp(json_string_value(json_object_get(task, "lastStatus")), "STOPPED") ||
	    strcmp(json_string_value(json_object_get(task, "stopCode")), "UserInitiated") ||
	    strcmp(json_string_value(json_object_get(task, "stoppedReason")), "Task stopped by user") ||
	    json_integer_value(json_object_get(task, "exitCode")) != 3)
		E("after SIGTERM: %s", task ? bjson_dumps(task) : "(nothing)");
	json_decref(task);
	return 0;
}

static void test_shim_e2e(void **state)
{
	cleanup_free char *out = NULL;
	int st;

	if (geteuid() == 0)
		assert_int_equal(chown(tmpdir, MAP_BASE, MAP_BASE), 0);
	st = in_userns(ns_shim_e2e, &out);
	for (char *l = out, *nl; l && *l; l = nl ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if (!strncmp(l, "INFO ", 5))
			printf("%.*s\n", nl ? (int)(nl - l) : (int)strlen(l), l);
	}
	if (st != 0 || strstr(out, "ERROR"))
		fail_msg("child exit %d: %s", st, out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_minimal),
		cmocka_unit_test(test_config_full),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_config_task_errors),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_failed_snapshot),
		cmocka_unit_test(test_requests),
		cmocka_unit_test_setup_teardown(test_server_exchange, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_server_slow_client),
		cmocka_unit_test(test_server_client_limit),
		cmocka_unit_test_setup_teardown(test_server_socket, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_spawn_fake, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_spawn_shim_refuses, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_read_pid, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_shim_e2e, setup_tmp, teardown_tmp),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
