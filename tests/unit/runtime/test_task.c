/* Unit tests for runtime/task/task.c: ECS task definition parsing and
 * validation in FARGATE and EC2 modes.
 *
 * Documents are written with ' for " (jq() swaps them) so they stay
 * readable. fg() and ec2() wrap container definitions in a valid task. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "runtime/task/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FG TASK_MODE_FARGATE
#define EC2 TASK_MODE_EC2
#define APP "{'name':'app','image':'nginx'}"

static char *jq(const char *s)
{
	char *r = xstrdup(s);

	for (char *p = r; *p; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

/* A Fargate task (awsvpc, 256/512) with extra task fields and containers. */
static char *fg(const char *extra, const char *containers)
{
	return xasprintf("{'family':'web','networkMode':'awsvpc','requiresCompatibilities':['FARGATE'],"
			 "'cpu':'256','memory':'512'%s,'containerDefinitions':[%s]}", extra, containers);
}

/* An EC2 task (default bridge network, 1 GB) with extra fields and containers. */
static char *ec2(const char *extra, const char *containers)
{
	return xasprintf("{'family':'web','memory':'1024'%s,'containerDefinitions':[%s]}", extra,
			 containers);
}

static struct task_def *parse_ok(const char *doc, enum task_mode mode)
{
	cleanup_free char *j = jq(doc);
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse(j, strlen(j), "task.json", mode, &td, &err) < 0)
		fail_msg("unexpected error: %s", berr_msg(err));
	assert_non_null(td);
	assert_null(err);
	return td;
}

/* doc must fail with exactly "task.json: " msg. */
static void parse_err(const char *doc, enum task_mode mode, const char *msg)
{
	cleanup_free char *j = jq(doc);
	cleanup_free char *want = xasprintf("task.json: %s", msg);
	struct task_def *td = (struct task_def *)0x1;
	struct berr *err = NULL;

	assert_true(task_def_parse(j, strlen(j), "task.json", mode, &td, &err) < 0);
	assert_null(td);
	assert_non_null(err);
	assert_string_equal(berr_msg(err), want);
	berr_clear(&err);
}

/* The containers `c` fail in the Fargate / EC2 wrapper with msg. */
static void fg_err(const char *extra, const char *c, const char *msg)
{
	cleanup_free char *d = fg(extra, c);

	parse_err(d, FG, msg);
}

static void ec2_err(const char *extra, const char *c, const char *msg)
{
	cleanup_free char *d = ec2(extra, c);

	parse_err(d, EC2, msg);
}

static struct task_def *fg_ok(const char *extra, const char *c)
{
	cleanup_free char *d = fg(extra, c);

	return parse_ok(d, FG);
}

static struct task_def *ec2_ok(const char *extra, const char *c)
{
	cleanup_free char *d = ec2(extra, c);

	return parse_ok(d, EC2);
}

/* One cmocka test per error case. */
#define ERR(name, fn, extra, c, msg) \
	static void name(void **state) { (void)state; fn(extra, c, msg); }

/* ------------------------------------------------------ valid documents */

static void test_web_with_sidecar(void **state)
{
	struct task_def *td = parse_ok(
		"{'family':'shop-web','taskRoleArn':'arn:aws:iam::123456789012:role/web',"
		"'executionRoleArn':'arn:aws:iam::123456789012:role/exec',"
		"'networkMode':'awsvpc','requiresCompatibilities':['FARGATE'],'cpu':'1 vCPU','memory':'2 GB',"
		"'containerDefinitions':["
		" {'name':'web','image':'public.ecr.aws/nginx/nginx:1.25','cpu':768,'memory':1536,"
		"  'essential':true,'portMappings':[{'containerPort':80,'hostPort':80,'protocol':'tcp',"
		"  'name':'http','appProtocol':'http'}],"
		"  'environment':[{'name':'MODE','value':'prod'},{'name':'EMPTY'}],"
		"  'logConfiguration':{'logDriver':'awslogs','options':{'awslogs-group':'/ecs/web'}},"
		"  'secrets':[{'name':'DB','valueFrom':'arn:aws:ssm:eu-west-1:123456789012:parameter/db'}],"
		"  'dockerLabels':{'com.example.team':'shop'}},"
		" {'name':'log-router','image':'amazon/aws-for-fluent-bit:stable','cpu':256,"
		"  'memoryReservation':50,'essential':false,"
		"  'firelensConfiguration':{'type':'fluentbit'}}]}", FG);

	assert_string_equal(td->family, "shop-web");
	assert_string_equal(td->task_role_arn, "arn:aws:iam::123456789012:role/web");
	assert_int_equal(td->network_mode, TASK_NET_AWSVPC);
	assert_int_equal(td->cpu, 1024);
	assert_int_equal(td->memory, 2048);
	assert_string_equal(td->requires_compatibilities[0], "FARGATE");
	assert_null(td->requires_compatibilities[1]);
	assert_int_equal(td->n_containers, 2);
	assert_string_equal(td->containers[0].image, "public.ecr.aws/nginx/nginx:1.25");
	assert_int_equal(td->containers[0].cpu, 768);
	assert_int_equal(td->containers[0].memory, 1536);
	assert_int_equal(td->containers[0].n_port_mappings, 1);
	assert_int_equal(td->containers[0].port_mappings[0].host_port, 80);
	assert_string_equal(td->containers[0].port_mappings[0].app_protocol, "http");
	assert_int_equal(td->containers[0].n_environment, 2);
	assert_string_equal(td->containers[0].environment[1].name, "EMPTY");
	assert_string_equal(td->containers[0].environment[1].value, "");
	assert_int_equal(td->containers[0].n_docker_labels, 1);
	assert_string_equal(td->containers[0].docker_labels[0].name, "com.example.team");
	assert_int_equal(td->containers[0].n_secrets, 1);
	assert_string_equal(td->containers[0].secrets[0].name, "DB");
	assert_string_equal(td->containers[0].secrets[0].value_from,
			    "arn:aws:ssm:eu-west-1:123456789012:parameter/db");
	assert_null(td->containers[0].secrets[0].value);
	assert_false(td->containers[1].essential);
	assert_int_equal(td->containers[1].memory, TASK_UNSET);
	assert_int_equal(td->containers[1].memory_reservation, 50);
	assert_int_equal(td->n_warnings, 0);
	task_def_free(td);
	(void)state;
}

static void test_fargate_storage_platform(void **state)
{
	struct task_def *td = fg_ok(",'ephemeralStorage':{'sizeInGiB':100},"
				    "'runtimePlatform':{'cpuArchitecture':'ARM64','operatingSystemFamily':'LINUX'},"
				    "'pidMode':'task'",
				    "{'name':'batch','image':'worker','entryPoint':['/bin/sh','-c'],"
				    "'command':['run --all'],'workingDirectory':'/work','user':'1000:1000',"
				    "'readonlyRootFilesystem':true,'stopTimeout':120,"
				    "'linuxParameters':{'initProcessEnabled':true,"
				    "'capabilities':{'add':['SYS_PTRACE'],'drop':['NET_RAW','ALL']}}}");

	assert_int_equal(td->ephemeral_storage_gib, 100);
	assert_string_equal(td->cpu_architecture, "ARM64");
	assert_string_equal(td->os_family, "LINUX");
	assert_int_equal(td->pid_mode, TASK_NS_TASK);
	assert_string_equal(td->containers[0].entry_point[1], "-c");
	assert_string_equal(td->containers[0].command[0], "run --all");
	assert_null(td->containers[0].command[1]);
	assert_string_equal(td->containers[0].working_directory, "/work");
	assert_string_equal(td->containers[0].user, "1000:1000");
	assert_true(td->containers[0].readonly_root_filesystem);
	assert_int_equal(td->containers[0].stop_timeout, 120);
	assert_true(td->containers[0].linux_parameters.init_process_enabled);
	assert_string_equal(td->containers[0].linux_parameters.cap_add[0], "SYS_PTRACE");
	assert_string_equal(td->containers[0].linux_parameters.cap_drop[1], "ALL");
	task_def_free(td);
	(void)state;
}

static void test_ec2_bridge_dynamic_ports(void **state)
{
	struct task_def *td = parse_ok(
		"{'family':'api','networkMode':'bridge','requiresCompatibilities':['EC2'],"
		"'containerDefinitions':["
		" {'name':'api','image':'api:3','memory':256,'portMappings':["
		"   {'containerPort':8080},{'containerPort':8080,'hostPort':0,'protocol':'udp'},"
		"   {'containerPort':9090,'hostPort':19090}]},"
		" {'name':'api2','image':'api:3','memoryReservation':128,'portMappings':[{'containerPort':8080}]}]}",
		EC2);

	assert_int_equal(td->network_mode, TASK_NET_BRIDGE);
	assert_int_equal(td->cpu, TASK_UNSET);
	assert_int_equal(td->memory, TASK_UNSET);
	assert_int_equal(td->containers[0].n_port_mappings, 3);
	assert_int_equal(td->containers[0].port_mappings[0].host_port, 0);
	assert_string_equal(td->containers[0].port_mappings[0].protocol, "tcp");
	assert_string_equal(td->containers[0].port_mappings[1].protocol, "udp");
	assert_int_equal(td->containers[0].port_mappings[2].host_port, 19090);
	assert_int_equal(td->containers[1].port_mappings[0].host_port, 0);
	task_def_free(td);
	(void)state;
}

static void test_multi_container_depends(void **state)
{
	struct task_def *td = fg_ok(
		",'volumes':[{'name':'shared'}]",
		"{'name':'init','image':'busybox','essential':false,'command':['true']},"
		"{'name':'db','image':'postgres','essential':true,'healthCheck':{'command':"
		"['CMD-SHELL','pg_isready'],'interval':10,'retries':5},"
		"'mountPoints':[{'sourceVolume':'shared','containerPath':'/data'}]},"
		"{'name':'app','image':'app','dependsOn':[{'containerName':'init','condition':'SUCCESS'},"
		"{'containerName':'db','condition':'HEALTHY'}],'startTimeout':60,"
		"'volumesFrom':[{'sourceContainer':'db','readOnly':true}]}");

	assert_int_equal(td->n_containers, 3);
	assert_int_equal(td->n_volumes, 1);
	assert_null(td->volumes[0].host_source_path);
	assert_true(td->containers[1].health_check.set);
	assert_string_equal(td->containers[1].health_check.command[0], "CMD-SHELL");
	assert_int_equal(td->containers[1].health_check.interval, 10);
	assert_int_equal(td->containers[1].health_check.timeout, 5);
	assert_int_equal(td->containers[1].health_check.retries, 5);
	assert_int_equal(td->containers[1].health_check.start_period, 0);
	assert_false(td->containers[0].health_check.set);
	assert_int_equal(td->containers[2].n_depends_on, 2);
	assert_int_equal(td->containers[2].depends_on[0].condition, TASK_DEP_SUCCESS);
	assert_int_equal(td->containers[2].depends_on[1].condition, TASK_DEP_HEALTHY);
	assert_string_equal(td->containers[2].depends_on[1].container_name, "db");
	assert_int_equal(td->containers[2].start_timeout, 60);
	assert_true(td->containers[2].volumes_from[0].read_only);
	assert_string_equal(td->containers[1].mount_points[0].container_path, "/data");
	task_def_free(td);
	(void)state;
}

static void test_ec2_privileged_everything(void **state)
{
	struct task_def *td = ec2_ok(
		",'networkMode':'host','pidMode':'host','ipcMode':'host','cpu':'2048',"
		"'volumes':[{'name':'docker','host':{'sourcePath':'/var/run/docker.sock'}}]",
		"{'name':'agent','image':'agent','cpu':1024,'privileged':true,"
		"'mountPoints':[{'sourceVolume':'docker','containerPath':'/var/run/docker.sock','readOnly':true}],"
		"'linuxParameters':{'devices':[{'hostPath':'/dev/fuse','permissions':['read','write']}],"
		"'sharedMemorySize':256,'tmpfs':[{'containerPath':'/run','size':64,'mountOptions':['noexec']}],"
		"'maxSwap':512,'swappiness':10,'capabilities':{'add':['SYS_ADMIN','NET_ADMIN']}},"
		"'ulimits':[{'name':'nofile','softLimit':1024,'hardLimit':4096}],"
		"'restartPolicy':{'enabled':true,'ignoredExitCodes':[0,143],'restartAttemptPeriod':60},"
		"'portMappings':[{'containerPort':9100,'hostPort':9100}]}");
	const struct task_container *c = &td->containers[0];

	assert_int_equal(td->network_mode, TASK_NET_HOST);
	assert_int_equal(td->pid_mode, TASK_NS_HOST);
	assert_int_equal(td->ipc_mode, TASK_NS_HOST);
	assert_string_equal(td->volumes[0].host_source_path, "/var/run/docker.sock");
	assert_true(c->privileged);
	assert_int_equal(c->linux_parameters.n_devices, 1);
	assert_string_equal(c->linux_parameters.devices[0].permissions[1], "write");
	assert_null(c->linux_parameters.devices[0].container_path);
	assert_int_equal(c->linux_parameters.shared_memory_size, 256);
	assert_int_equal(c->linux_parameters.tmpfs[0].size, 64);
	assert_string_equal(c->linux_parameters.tmpfs[0].mount_options[0], "noexec");
	assert_int_equal(c->linux_parameters.max_swap, 512);
	assert_int_equal(c->linux_parameters.swappiness, 10);
	assert_int_equal(c->ulimits[0].hard_limit, 4096);
	assert_true(c->has_restart_policy);
	assert_true(c->restart_policy.enabled);
	assert_int_equal(c->restart_policy.n_ignored_exit_codes, 2);
	assert_int_equal(c->restart_policy.ignored_exit_codes[1], 143);
	assert_int_equal(c->restart_policy.restart_attempt_period, 60);
	task_def_free(td);
	(void)state;
}

static void test_defaults(void **state)
{
	struct task_def *td = ec2_ok("", APP);
	const struct task_container *c = &td->containers[0];

	assert_int_equal(td->network_mode, TASK_NET_BRIDGE);
	assert_int_equal(td->pid_mode, TASK_NS_UNSET);
	assert_int_equal(td->ipc_mode, TASK_NS_UNSET);
	assert_int_equal(td->ephemeral_storage_gib, TASK_UNSET);
	assert_null(td->requires_compatibilities[0]);
	assert_null(td->warnings[0]);
	assert_true(c->essential);
	assert_int_equal(c->cpu, 0);
	assert_int_equal(c->memory, TASK_UNSET);
	assert_int_equal(c->stop_timeout, TASK_UNSET);
	assert_null(c->entry_point);
	assert_null(c->command);
	assert_false(c->privileged);
	assert_false(c->has_restart_policy);
	assert_int_equal(c->linux_parameters.swappiness, TASK_UNSET);
	task_def_free(td);
	(void)state;
}

/* JSON null is the same as absent. */
static void test_null_is_absent(void **state)
{
	struct task_def *td = fg_ok(",'pidMode':null,'volumes':null",
				    "{'name':'app','image':'x','command':null,'hostname':null,"
				    "'linuxParameters':null,'cpu':null}");

	assert_null(td->containers[0].command);
	assert_int_equal(td->n_volumes, 0);
	task_def_free(td);
	(void)state;
}

/* Fargate's whole cpu/memory table, at its edges. */
static void test_fargate_pairs(void **state)
{
	static const struct {
		const char *cpu, *mem;
		bool ok;
	} t[] = {
		{ "256", "512", true }, { "256", "2048", true }, { "256", "1536", false },
		{ "256", "3072", false }, { "512", "1024", true }, { "512", "4096", true },
		{ "512", "512", false }, { "1024", "8192", true }, { "1024", "9216", false },
		{ "2048", "16 GB", true }, { "4096", "30720", true }, { "4096", "31744", false },
		{ "8192", "20480", true }, { "8192", "18432", false }, { "16384", "122880", true },
		{ "16384", "40960", true }, { "16384", "36864", false }, { "128", "512", false },
		{ "4 vCPU", "8GB", true }, { "0.5 vCPU", "1GB", true },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cleanup_free char *doc = xasprintf(
			"{'family':'f','networkMode':'awsvpc','cpu':'%s','memory':'%s',"
			"'containerDefinitions':[" APP "]}", t[i].cpu, t[i].mem);
		cleanup_free char *j = jq(doc);
		struct task_def *td = NULL;
		struct berr *err = NULL;
		int r = task_def_parse(j, strlen(j), "t", FG, &td, &err);

		if (t[i].ok != (r == 0))
			fail_msg("%s/%s: %s", t[i].cpu, t[i].mem, err ? berr_msg(err) : "accepted");
		if (r < 0)
			assert_non_null(strstr(berr_msg(err), "No Fargate configuration exists"));
		task_def_free(td);
		berr_clear(&err);
	}
	(void)state;
}

/* ------------------------------------------------------------- units */

static void test_cpu_units(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} t[] = {
		{ "256", 256 }, { "1024", 1024 }, { "0.25 vCPU", 256 }, { "0.5 vCPU", 512 },
		{ "1 vCPU", 1024 }, { "2vcpu", 2048 }, { "16 VCPU", 16384 }, { "0.125 vCPU", 128 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t v = 0;
		struct berr *err = NULL;

		if (task_parse_cpu(t[i].s, "cpu", &v, &err) < 0)
			fail_msg("%s: %s", t[i].s, berr_msg(err));
		assert_int_equal(v, t[i].v);
	}
	(void)state;
}

static void test_memory_units(void **state)
{
	static const struct {
		const char *s;
		int64_t v;
	} t[] = {
		{ "512", 512 }, { "1 GB", 1024 }, { "1GB", 1024 }, { "0.5GB", 512 },
		{ "30 GB", 30720 }, { "2048 MiB", 2048 }, { "3 gb", 3072 }, { "1.5 GiB", 1536 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t v = 0;
		struct berr *err = NULL;

		if (task_parse_memory(t[i].s, "memory", &v, &err) < 0)
			fail_msg("%s: %s", t[i].s, berr_msg(err));
		assert_int_equal(v, t[i].v);
	}
	(void)state;
}

static void test_bad_units(void **state)
{
	static const char *const cpu_bad[] = { "", "abc", "-1", "0", "1.5.2", " 1", "1 GB",
		"1e3", "0x100", "1 vCPU extra", "99999999999999", "0.0000001 vCPU", NULL };
	static const char *const mem_bad[] = { "", "1 TB", "0", "-512", "GB", "1,5 GB", NULL };
	struct berr *err = NULL;
	int64_t v = 7;

	for (size_t i = 0; cpu_bad[i]; i++) {
		if (task_parse_cpu(cpu_bad[i], "cpu", &v, &err) == 0)
			fail_msg("cpu \"%s\" accepted as %lld", cpu_bad[i], (long long)v);
		assert_true(strncmp(berr_msg(err), "cpu: \"", 6) == 0);
		berr_clear(&err);
	}
	for (size_t i = 0; mem_bad[i]; i++) {
		if (task_parse_memory(mem_bad[i], "memory", &v, &err) == 0)
			fail_msg("memory \"%s\" accepted as %lld", mem_bad[i], (long long)v);
		berr_clear(&err);
	}
	assert_int_equal(task_parse_memory("0.0001 GB", "memory", &v, &err), -1);
	assert_string_equal(berr_msg(err), "memory: \"0.0001 GB\" is not a whole number of "
			    "memory (MiB, or \"N GB\")");
	berr_clear(&err);
	assert_int_equal(v, 7);
	(void)state;
}

static void test_integer_cpu_memory(void **state)
{
	struct task_def *td = parse_ok("{'family':'f','networkMode':'awsvpc','cpu':512,'memory':2048,"
				       "'containerDefinitions':[" APP "]}", FG);

	assert_int_equal(td->cpu, 512);
	assert_int_equal(td->memory, 2048);
	task_def_free(td);
	(void)state;
}

static void test_names(void **state)
{
	assert_true(task_capability_valid("SYS_PTRACE"));
	assert_true(task_capability_valid("NET_BIND_SERVICE"));
	assert_false(task_capability_valid("CAP_SYS_PTRACE"));
	assert_false(task_capability_valid("sys_ptrace"));
	assert_true(task_ulimit_name_valid("nofile"));
	assert_true(task_ulimit_name_valid("rttime"));
	assert_false(task_ulimit_name_valid("NOFILE"));
	assert_false(task_ulimit_name_valid("as"));
	(void)state;
}

/* ------------------------------------------------------- Fargate rules */

static void test_fg_network_bridge(void **state)
{
	parse_err("{'family':'f','networkMode':'bridge','cpu':'256','memory':'512',"
		  "'containerDefinitions':[" APP "]}", FG,
		  "networkMode: Fargate only supports network mode 'awsvpc'");
	(void)state;
}

static void test_fg_network_absent(void **state)
{
	parse_err("{'family':'f','cpu':'256','memory':'512','containerDefinitions':[" APP "]}", FG,
		  "networkMode: Fargate only supports network mode 'awsvpc'");
	(void)state;
}

static void test_fg_pair(void **state)
{
	parse_err("{'family':'f','networkMode':'awsvpc','cpu':'256','memory':'4 GB',"
		  "'containerDefinitions':[" APP "]}", FG,
		  "memory: No Fargate configuration exists for given values: 256 CPU, 4096 memory");
	(void)state;
}

static void test_fg_cpu_required(void **state)
{
	parse_err("{'family':'f','networkMode':'awsvpc','memory':'512','containerDefinitions':[" APP "]}",
		  FG, "cpu: required by Fargate");
	(void)state;
}

static void test_fg_memory_required(void **state)
{
	parse_err("{'family':'f','networkMode':'awsvpc','cpu':'256','containerDefinitions':[" APP "]}",
		  FG, "memory: required by Fargate");
	(void)state;
}

ERR(test_fg_privileged, fg_err, "", "{'name':'a','image':'x','privileged':true}",
    "containerDefinitions[0].privileged: not supported by Fargate")
ERR(test_fg_devices, fg_err, "",
    "{'name':'a','image':'x','linuxParameters':{'devices':[{'hostPath':'/dev/fuse'}]}}",
    "containerDefinitions[0].linuxParameters.devices: not supported by Fargate")
ERR(test_fg_shm, fg_err, "", "{'name':'a','image':'x','linuxParameters':{'sharedMemorySize':64}}",
    "containerDefinitions[0].linuxParameters.sharedMemorySize: not supported by Fargate")
ERR(test_fg_tmpfs, fg_err, "",
    "{'name':'a','image':'x','linuxParameters':{'tmpfs':[{'containerPath':'/t','size':8}]}}",
    "containerDefinitions[0].linuxParameters.tmpfs: not supported by Fargate")
ERR(test_fg_max_swap, fg_err, "", "{'name':'a','image':'x','linuxParameters':{'maxSwap':0}}",
    "containerDefinitions[0].linuxParameters.maxSwap: not supported by Fargate")
ERR(test_fg_swappiness, fg_err, "", APP ",{'name':'a','image':'x','linuxParameters':{'swappiness':60}}",
    "containerDefinitions[1].linuxParameters.swappiness: not supported by Fargate")
ERR(test_fg_cap_add, fg_err, "",
    "{'name':'a','image':'x','linuxParameters':{'capabilities':{'add':['SYS_PTRACE','NET_ADMIN']}}}",
    "containerDefinitions[0].linuxParameters.capabilities.add[1]: Fargate only supports "
    "adding SYS_PTRACE, not NET_ADMIN")
ERR(test_fg_pid_host, fg_err, ",'pidMode':'host'", APP, "pidMode: host is not supported by Fargate")
ERR(test_fg_ipc, fg_err, ",'ipcMode':'task'", APP, "ipcMode: not supported by Fargate")
ERR(test_fg_ephemeral_low, fg_err, ",'ephemeralStorage':{'sizeInGiB':20}", APP,
    "ephemeralStorage.sizeInGiB: 20 out of range [21, 200]")
ERR(test_fg_ephemeral_high, fg_err, ",'ephemeralStorage':{'sizeInGiB':201}", APP,
    "ephemeralStorage.sizeInGiB: 201 out of range [21, 200]")
ERR(test_fg_host_port, fg_err, "",
    APP ",{'name':'b','image':'x','portMappings':[{'containerPort':80,'hostPort':8080}]}",
    "containerDefinitions[1].portMappings[0].hostPort: must equal containerPort (80) when "
    "networkMode is awsvpc")
ERR(test_fg_stop_timeout, fg_err, "", "{'name':'a','image':'x','stopTimeout':121}",
    "containerDefinitions[0].stopTimeout: 121 out of range [2, 120] on Fargate")
ERR(test_fg_host_volume, fg_err, ",'volumes':[{'name':'v','host':{'sourcePath':'/srv'}}]", APP,
    "volumes[0].host.sourcePath: not supported by Fargate")
ERR(test_fg_dns_servers, fg_err, "", "{'name':'a','image':'x','dnsServers':['1.1.1.1']}",
    "containerDefinitions[0].dnsServers: not supported by Fargate")
ERR(test_fg_links, fg_err, "", "{'name':'a','image':'x','links':['b']}",
    "containerDefinitions[0].links: not supported by Fargate")
ERR(test_fg_disable_net, fg_err, "", "{'name':'a','image':'x','disableNetworking':true}",
    "containerDefinitions[0].disableNetworking: not supported by Fargate")

/* ---------------------------------------------------------- EC2 rules */

static void test_ec2_privileged_ok_fargate_not(void **state)
{
	const char *c = "{'name':'a','image':'x','privileged':true,'dnsServers':['10.0.0.2'],"
			"'linuxParameters':{'capabilities':{'add':['SYS_ADMIN']}}}";
	struct task_def *td = ec2_ok(",'networkMode':'bridge'", c);

	assert_true(td->containers[0].privileged);
	assert_string_equal(td->containers[0].dns_servers[0], "10.0.0.2");
	assert_null(td->containers[0].dns_servers[1]);
	task_def_free(td);
	(void)state;
}

static void test_ec2_dns_hosts(void **state)
{
	struct task_def *td = ec2_ok("", "{'name':'a','image':'x','hostname':'box',"
				     "'extraHosts':[{'hostname':'db.local','ipAddress':'10.1.2.3'},"
				     "{'hostname':'v6','ipAddress':'fd00::1'}],"
				     "'dnsServers':['1.1.1.1','2606:4700::1111'],'dnsSearchDomains':['corp.example'],"
				     "'disableNetworking':false}");
	const struct task_container *c = &td->containers[0];

	assert_string_equal(c->hostname, "box");
	assert_int_equal(c->n_extra_hosts, 2);
	assert_string_equal(c->extra_hosts[0].name, "db.local");
	assert_string_equal(c->extra_hosts[1].value, "fd00::1");
	assert_string_equal(c->dns_servers[1], "2606:4700::1111");
	assert_string_equal(c->dns_search_domains[0], "corp.example");
	assert_false(c->disable_networking);
	task_def_free(td);
	(void)state;
}

ERR(test_ec2_extra_host_ip, ec2_err, "",
    "{'name':'a','image':'x','extraHosts':[{'hostname':'db','ipAddress':'10.1.2'}]}",
    "containerDefinitions[0].extraHosts[0].ipAddress: \"10.1.2\" is not an IP address")
ERR(test_ec2_dns_server_ip, ec2_err, "", "{'name':'a','image':'x','dnsServers':['dns.google']}",
    "containerDefinitions[0].dnsServers[0]: \"dns.google\" is not an IP address")
ERR(test_ec2_dns_awsvpc, ec2_err, ",'networkMode':'awsvpc'",
    "{'name':'a','image':'x','dnsServers':['1.1.1.1']}",
    "containerDefinitions[0].dnsServers: not supported when networkMode is awsvpc")
ERR(test_ec2_host_port_host_mode, ec2_err, ",'networkMode':'host'",
    "{'name':'a','image':'x','portMappings':[{'containerPort':53,'hostPort':5353,'protocol':'udp'}]}",
    "containerDefinitions[0].portMappings[0].hostPort: must equal containerPort (53) when "
    "networkMode is host")
ERR(test_ec2_none_ports, ec2_err, ",'networkMode':'none'",
    "{'name':'a','image':'x','portMappings':[{'containerPort':80}]}",
    "containerDefinitions[0].portMappings[0]: port mappings are not allowed when networkMode is none")

static void test_ec2_container_memory_required(void **state)
{
	parse_err("{'family':'f','containerDefinitions':[{'name':'a','image':'x','memory':64},"
		  "{'name':'b','image':'x'}]}", EC2,
		  "containerDefinitions[1]: Invalid setting for container 'b'. At least one of "
		  "'memory' or 'memoryReservation' must be specified.");
	(void)state;
}

ERR(test_ec2_dup_host_port, ec2_err, "",
    "{'name':'a','image':'x','portMappings':[{'containerPort':80,'hostPort':8080}]},"
    "{'name':'b','image':'x','portMappings':[{'containerPort':81,'hostPort':8080}]}",
    "containerDefinitions[1].portMappings[0]: port 8080/tcp is already mapped by "
    "containerDefinitions[0].portMappings[0]")
ERR(test_fg_dup_port, fg_err, "",
    "{'name':'a','image':'x','portMappings':[{'containerPort':80},{'containerPort':80}]}",
    "containerDefinitions[0].portMappings[1]: port 80/tcp is already mapped by "
    "containerDefinitions[0].portMappings[0]")

/* -------------------------------------------------------- general rules */

/* A whole document must fail with msg in both modes. */
static void both_err(const char *doc, const char *msg)
{
	parse_err(doc, FG, msg);
	parse_err(doc, EC2, msg);
}

#define DOC(extra, c) "{'family':'f','networkMode':'awsvpc','cpu':'256','memory':'512'" extra \
	",'containerDefinitions':[" c "]}"
#define BOTH(name, extra, c, msg) \
	static void name(void **state) { (void)state; both_err(DOC(extra, c), msg); }

static void test_family_missing(void **state)
{
	both_err("{'networkMode':'awsvpc','cpu':'256','memory':'512','containerDefinitions':[" APP "]}",
		 "family: required");
	(void)state;
}

static void test_family_charset(void **state)
{
	both_err("{'family':'my app','networkMode':'awsvpc','cpu':'256','memory':'512',"
		 "'containerDefinitions':[" APP "]}",
		 "family: \"my app\" must be 1-255 letters, digits, hyphens and underscores");
	(void)state;
}

static void test_family_length(void **state)
{
	char fam[257];
	cleanup_free char *ok = NULL, *bad = NULL;
	struct task_def *td;

	memset(fam, 'a', 255);
	fam[255] = '\0';
	ok = xasprintf("{'family':'%s','networkMode':'awsvpc','cpu':'256','memory':'512',"
		       "'containerDefinitions':[" APP "]}", fam);
	td = parse_ok(ok, FG);
	assert_int_equal(strlen(td->family), 255);
	task_def_free(td);
	fam[255] = 'a';
	fam[256] = '\0';
	bad = xasprintf("{'family':'%s','networkMode':'awsvpc','cpu':'256','memory':'512',"
			"'containerDefinitions':[" APP "]}", fam);
	{
		cleanup_free char *j = jq(bad);
		struct berr *err = NULL;

		assert_true(task_def_parse(j, strlen(j), "task.json", FG, &td, &err) < 0);
		assert_null(td);
		assert_true(strncmp(berr_msg(err), "task.json: family: \"aaaa", 24) == 0);
		assert_non_null(strstr(berr_msg(err), "...\" must be 1-255 letters") ||
				strstr(berr_msg(err), "\" must be 1-255 letters"));
		berr_clear(&err);
	}
	(void)state;
}

BOTH(test_dup_names, "", APP "," APP,
     "containerDefinitions[1].name: \"app\" is already used by containerDefinitions[0]")
BOTH(test_container_name_charset, "", "{'name':'a.b','image':'x'}",
     "containerDefinitions[0].name: \"a.b\" must be 1-255 letters, digits, hyphens and underscores")
/* Document text in messages is escaped: no control characters reach a terminal. */
BOTH(test_message_escapes, "", "{'name':'a\\n\\u001b[2Jb\\\\','image':'x'}",
     "containerDefinitions[0].name: \"a\\u000a\\u001b[2Jb\\\\\" must be 1-255 letters, digits, hyphens "
     "and underscores")
BOTH(test_image_required, "", "{'name':'a'}", "containerDefinitions[0].image: required")
BOTH(test_image_empty, "", "{'name':'a','image':''}", "containerDefinitions[0].image: must not be empty")
BOTH(test_no_essential, "", "{'name':'a','image':'x','essential':false}",
     "containerDefinitions: at least one container must be essential")
BOTH(test_depends_unknown, "", "{'name':'a','image':'x','dependsOn':[{'containerName':'db','condition':'START'}]}",
     "containerDefinitions[0].dependsOn[0].containerName: \"db\" is not a container of the task")
BOTH(test_depends_self, "", "{'name':'a','image':'x','dependsOn':[{'containerName':'a','condition':'START'}]}",
     "containerDefinitions[0].dependsOn[0].containerName: a container cannot depend on itself")
BOTH(test_depends_cycle, "",
     "{'name':'a','image':'x','dependsOn':[{'containerName':'b','condition':'START'}]},"
     "{'name':'b','image':'x','dependsOn':[{'containerName':'c','condition':'START'}]},"
     "{'name':'c','image':'x','dependsOn':[{'containerName':'a','condition':'START'}]}",
     "containerDefinitions[0].dependsOn: dependency cycle through container \"a\"")
BOTH(test_depends_healthy_no_check, "",
     "{'name':'a','image':'x'},{'name':'b','image':'x','dependsOn':[{'containerName':'a','condition':'HEALTHY'}]}",
     "containerDefinitions[1].dependsOn[0].condition: HEALTHY needs a healthCheck in container \"a\"")
BOTH(test_depends_complete_essential, "",
     "{'name':'a','image':'x'},{'name':'b','image':'x','dependsOn':[{'containerName':'a','condition':'COMPLETE'}]}",
     "containerDefinitions[1].dependsOn[0].condition: COMPLETE cannot be used with an essential "
     "container (\"a\" is essential)")
BOTH(test_depends_bad_condition, "",
     "{'name':'a','image':'x','dependsOn':[{'containerName':'a','condition':'READY'}]}",
     "containerDefinitions[0].dependsOn[0].condition: \"READY\" is not valid (START, COMPLETE, SUCCESS, HEALTHY)")
BOTH(test_mount_undeclared, ",'volumes':[{'name':'data'}]",
     "{'name':'a','image':'x','mountPoints':[{'sourceVolume':'cache','containerPath':'/c'}]}",
     "containerDefinitions[0].mountPoints[0].sourceVolume: \"cache\" is not a volume of the task")
BOTH(test_mount_relative, ",'volumes':[{'name':'data'}]",
     "{'name':'a','image':'x','mountPoints':[{'sourceVolume':'data','containerPath':'c'}]}",
     "containerDefinitions[0].mountPoints[0].containerPath: must be an absolute path")
BOTH(test_volumes_from_unknown, "", "{'name':'a','image':'x','volumesFrom':[{'sourceContainer':'z'}]}",
     "containerDefinitions[0].volumesFrom[0].sourceContainer: \"z\" is not a container of the task")
BOTH(test_dup_volume, ",'volumes':[{'name':'v'},{'name':'v'}]", APP,
     "volumes[1].name: \"v\" is already used by volumes[0]")
BOTH(test_container_memory_above_task, "", "{'name':'a','image':'x','memory':1024}",
     "containerDefinitions[0].memory: 1024 MiB is above the task's memory (512 MiB)")
BOTH(test_cpu_sum, "", "{'name':'a','image':'x','cpu':128},{'name':'b','image':'x','cpu':129}",
     "containerDefinitions: the containers' cpu adds up to 257, above the task's cpu (256)")
BOTH(test_reservation_above_memory, "", "{'name':'a','image':'x','memory':100,'memoryReservation':200}",
     "containerDefinitions[0].memoryReservation: 200 must not be above memory (100)")
BOTH(test_memory_minimum, "", "{'name':'a','image':'x','memory':4}",
     "containerDefinitions[0].memory: 4 out of range [6, 2147483647]")
BOTH(test_container_port_zero, "", "{'name':'a','image':'x','portMappings':[{'containerPort':0}]}",
     "containerDefinitions[0].portMappings[0].containerPort: 0 out of range [1, 65535]")
BOTH(test_host_port_range, "", "{'name':'a','image':'x','portMappings':[{'containerPort':80,'hostPort':70000}]}",
     "containerDefinitions[0].portMappings[0].hostPort: 70000 out of range [0, 65535]")
BOTH(test_protocol, "", "{'name':'a','image':'x','portMappings':[{'containerPort':80,'protocol':'sctp'}]}",
     "containerDefinitions[0].portMappings[0].protocol: \"sctp\" is not valid (tcp, udp)")
BOTH(test_app_protocol_needs_name, "",
     "{'name':'a','image':'x','portMappings':[{'containerPort':80,'appProtocol':'grpc'}]}",
     "containerDefinitions[0].portMappings[0].appProtocol: requires name")
BOTH(test_hc_interval, "", "{'name':'a','image':'x','healthCheck':{'command':['CMD','true'],'interval':4}}",
     "containerDefinitions[0].healthCheck.interval: 4 out of range [5, 300]")
BOTH(test_hc_timeout, "", "{'name':'a','image':'x','healthCheck':{'command':['CMD','true'],'timeout':61}}",
     "containerDefinitions[0].healthCheck.timeout: 61 out of range [2, 60]")
BOTH(test_hc_retries, "", "{'name':'a','image':'x','healthCheck':{'command':['CMD','true'],'retries':0}}",
     "containerDefinitions[0].healthCheck.retries: 0 out of range [1, 10]")
BOTH(test_hc_start_period, "", "{'name':'a','image':'x','healthCheck':{'command':['CMD','true'],'startPeriod':301}}",
     "containerDefinitions[0].healthCheck.startPeriod: 301 out of range [0, 300]")
BOTH(test_hc_command_kind, "", "{'name':'a','image':'x','healthCheck':{'command':['curl','-f','localhost']}}",
     "containerDefinitions[0].healthCheck.command[0]: must be CMD or CMD-SHELL, got \"curl\"")
BOTH(test_hc_command_alone, "", "{'name':'a','image':'x','healthCheck':{'command':['CMD-SHELL']}}",
     "containerDefinitions[0].healthCheck.command: CMD-SHELL needs a command after it")
BOTH(test_cap_prefix, "", "{'name':'a','image':'x','linuxParameters':{'capabilities':{'drop':['CAP_NET_RAW']}}}",
     "containerDefinitions[0].linuxParameters.capabilities.drop[0]: \"CAP_NET_RAW\" is not a capability "
     "name (as ECS takes them: SYS_PTRACE, without CAP_)")
BOTH(test_ulimit_name, "", "{'name':'a','image':'x','ulimits':[{'name':'files','softLimit':1,'hardLimit':1}]}",
     "containerDefinitions[0].ulimits[0].name: \"files\" is not a ulimit name (core, cpu, data, fsize, "
     "locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)")
BOTH(test_ulimit_soft_hard, "", "{'name':'a','image':'x','ulimits':[{'name':'nofile','softLimit':10,'hardLimit':5}]}",
     "containerDefinitions[0].ulimits[0].softLimit: 10 is above hardLimit (5)")
BOTH(test_ulimit_dup, "", "{'name':'a','image':'x','ulimits':[{'name':'nproc','softLimit':1,'hardLimit':1},"
     "{'name':'nproc','softLimit':2,'hardLimit':2}]}",
     "containerDefinitions[0].ulimits[1].name: nproc is already set by ulimits[0]")
BOTH(test_hostname_awsvpc, "", "{'name':'a','image':'x','hostname':'web'}",
     "containerDefinitions[0].hostname: not supported when networkMode is awsvpc")
BOTH(test_no_containers, "", "", "containerDefinitions: must hold at least one container")
BOTH(test_too_many_containers, "",
     "{'name':'a1','image':'x'},{'name':'a2','image':'x'},{'name':'a3','image':'x'},"
     "{'name':'a4','image':'x'},{'name':'a5','image':'x'},{'name':'a6','image':'x'},"
     "{'name':'a7','image':'x'},{'name':'a8','image':'x'},{'name':'a9','image':'x'},"
     "{'name':'a10','image':'x'},{'name':'a11','image':'x'}",
     "containerDefinitions: 11 containers, at most 10 allowed")
BOTH(test_network_mode_value, ",'pidMode':'task','ipcMode':'private'", APP,
     "ipcMode: \"private\" is not valid (host, task, none)")
BOTH(test_runtime_platform_os, ",'runtimePlatform':{'operatingSystemFamily':'WINDOWS_SERVER_2022_CORE'}", APP,
     "runtimePlatform.operatingSystemFamily: \"WINDOWS_SERVER_2022_CORE\" is not supported (berth runs LINUX)")
BOTH(test_compat_value, ",'requiresCompatibilities':['LAMBDA']", APP,
     "requiresCompatibilities[0]: \"LAMBDA\" is not valid (EC2, FARGATE, EXTERNAL)")
BOTH(test_restart_period, "", "{'name':'a','image':'x','restartPolicy':{'enabled':true,'restartAttemptPeriod':30}}",
     "containerDefinitions[0].restartPolicy.restartAttemptPeriod: 30 out of range [60, 1800]")
BOTH(test_placement_type, ",'placementConstraints':[{'type':'memberOf','expression':'x'},{'type':'distinctInstance'}]",
     APP, "placementConstraints[1].type: \"distinctInstance\" is not valid in a task definition (memberOf)")

/* ---------------------------------------------------------- type errors */

BOTH(test_type_essential, "", "{'name':'a','image':'x','essential':'yes'}",
     "containerDefinitions[0].essential: expected boolean, got string")
BOTH(test_type_container_cpu, "", "{'name':'a','image':'x','cpu':'128'}",
     "containerDefinitions[0].cpu: expected integer, got string")
BOTH(test_type_real_port, "", "{'name':'a','image':'x','portMappings':[{'containerPort':80.0}]}",
     "containerDefinitions[0].portMappings[0].containerPort: expected integer, got real")
BOTH(test_type_env_value, "", "{'name':'a','image':'x','environment':[{'name':'N','value':1}]}",
     "containerDefinitions[0].environment[0].value: expected string, got integer")
BOTH(test_type_command_elem, "", "{'name':'a','image':'x','command':['sleep',10]}",
     "containerDefinitions[0].command[1]: expected string, got integer")
BOTH(test_type_port_elem, "", "{'name':'a','image':'x','portMappings':[80]}",
     "containerDefinitions[0].portMappings[0]: expected object, got integer")
BOTH(test_type_label, "", "{'name':'a','image':'x','dockerLabels':{'com.x.y':true}}",
     "containerDefinitions[0].dockerLabels[\"com.x.y\"]: expected string, got boolean")
BOTH(test_type_linux_params, "", "{'name':'a','image':'x','linuxParameters':[]}",
     "containerDefinitions[0].linuxParameters: expected object, got array")
BOTH(test_type_task_cpu, ",'ephemeralStorage':{'sizeInGiB':'30'}", APP,
     "ephemeralStorage.sizeInGiB: expected integer, got string")

static void test_type_defs(void **state)
{
	both_err("{'family':'f','networkMode':'awsvpc','cpu':'256','memory':'512','containerDefinitions':{}}",
		 "containerDefinitions: expected array, got object");
	both_err("{'family':'f','networkMode':'awsvpc','cpu':true,'memory':'512','containerDefinitions':[" APP "]}",
		 "cpu: expected string, got boolean");
	both_err("{'family':'f','networkMode':'awsvpc','cpu':'lots','memory':'512','containerDefinitions':[" APP "]}",
		 "cpu: \"lots\" is not a valid cpu (units, or \"N vCPU\") value");
	both_err("[]", "task definition: expected object, got array");
	(void)state;
}

static void test_invalid_json(void **state)
{
	struct task_def *td = NULL;
	struct berr *err = NULL;

	assert_true(task_def_parse("{\"family\":", 10, "task.json", FG, &td, &err) < 0);
	assert_null(td);
	assert_true(strncmp(berr_msg(err), "parse task.json: ", 17) == 0);
	berr_clear(&err);
	assert_true(task_def_parse("{\"a\":1,\"a\":2}", 13, "task.json", EC2, &td, &err) < 0);
	assert_true(strncmp(berr_msg(err), "parse task.json: ", 17) == 0);
	berr_clear(&err);
	(void)state;
}

/* ------------------------------------------------------------- warnings */

static void test_unknown_field_warnings(void **state)
{
	struct task_def *td = fg_ok(",'futureThing':1,'ephemeralStorage':{'sizeInGiB':30,'kind':'x'}",
				    "{'name':'a','image':'x','fooBar':true,'secrets':[],"
				    "'logConfiguration':{'logDriver':'awslogs'},"
				    "'healthCheck':{'command':['CMD','true'],'jitter':3},"
				    "'portMappings':[{'containerPort':80,'weird key':1}],"
				    "'linuxParameters':{'capabilities':{'add':[],'keep':[]}}}");

	assert_int_equal(td->n_warnings, 6);
	assert_string_equal(td->warnings[0], "futureThing: unknown field, ignored");
	assert_string_equal(td->warnings[1], "ephemeralStorage.kind: unknown field, ignored");
	assert_string_equal(td->warnings[2], "containerDefinitions[0].fooBar: unknown field, ignored");
	assert_string_equal(td->warnings[3],
			    "containerDefinitions[0].portMappings[0][\"weird key\"]: unknown field, ignored");
	assert_string_equal(td->warnings[4],
			    "containerDefinitions[0].healthCheck.jitter: unknown field, ignored");
	assert_string_equal(td->warnings[5], "containerDefinitions[0].linuxParameters.capabilities.keep: "
			    "unknown field, ignored");
	assert_null(td->warnings[6]);
	task_def_free(td);
	(void)state;
}

/* DescribeTaskDefinition output fed back in: its read-only fields are no warnings. */
static void test_describe_output_no_warnings(void **state)
{
	struct task_def *td = fg_ok(",'taskDefinitionArn':'arn:aws:ecs:eu-west-1:1:task-definition/web:3',"
				    "'revision':3,'status':'ACTIVE','compatibilities':['EC2','FARGATE'],"
				    "'requiresAttributes':[],'registeredAt':'2024-01-01T00:00:00Z',"
				    "'placementConstraints':[],'tags':[]", APP);

	assert_int_equal(td->n_warnings, 0);
	task_def_free(td);
	(void)state;
}

/* The fuzz seeds are valid task definitions (first byte: 0 Fargate, 1 EC2). */
static void test_fuzz_seeds_valid(void **state)
{
	static const char *const seeds[] = { "fargate-web.json", "ec2-bridge.json", "ec2-multi.json" };
	const char *src = getenv("BERTH_SOURCE_DIR");

	assert_non_null(src);
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		cleanup_free char *path = xasprintf("%s/tests/fuzz/corpus/fuzz_task/%s", src, seeds[i]);
		cleanup_free char *buf = xmalloc(65536);
		cleanup_fclose FILE *f = fopen(path, "rb");
		struct task_def *td = NULL;
		struct berr *err = NULL;
		size_t n;

		assert_non_null(f);
		n = fread(buf, 1, 65536, f);
		assert_true(n > 1);
		if (task_def_parse(buf + 1, n - 1, seeds[i], buf[0] ? EC2 : FG, &td, &err) < 0)
			fail_msg("%s", berr_msg(err));
		assert_true(td->n_containers >= 2);
		task_def_free(td);
	}
	(void)state;
}

/* The overrides seed: a task definition and overrides split at a NUL. */
static void test_fuzz_seed_overrides_valid(void **state)
{
	const char *src = getenv("BERTH_SOURCE_DIR");
	cleanup_free char *path = NULL;
	cleanup_free char *buf = xmalloc(65536);
	cleanup_fclose FILE *f = NULL;
	struct task_def *td = NULL;
	struct berr *err = NULL;
	const char *nul;
	size_t n;

	assert_non_null(src);
	path = xasprintf("%s/tests/fuzz/corpus/fuzz_task/overrides.bin", src);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, 65536, f);
	nul = memchr(buf + 1, '\0', n - 1);
	assert_non_null(nul);
	assert_int_equal(buf[0] & 2, 2);
	if (task_def_parse_with_overrides(buf + 1, (size_t)(nul - buf - 1), "seed", nul + 1,
					  n - (size_t)(nul - buf) - 1, "ovr", buf[0] & 1 ? EC2 : FG,
					  &td, &err) < 0)
		fail_msg("%s", berr_msg(err));
	assert_int_equal(td->cpu, 1024);
	assert_string_equal(td->containers[0].command[1], "c");
	task_def_free(td);
	(void)state;
}

/* ------------------------------------------------------------ overrides */

static struct task_def *ovr_ok(const char *doc, const char *ovr, enum task_mode mode)
{
	cleanup_free char *j = jq(doc), *o = jq(ovr);
	struct task_def *td = NULL;
	struct berr *err = NULL;

	if (task_def_parse_with_overrides(j, strlen(j), "task.json", o, strlen(o), "overrides.json",
					  mode, &td, &err) < 0)
		fail_msg("unexpected error: %s", berr_msg(err));
	return td;
}

static void ovr_err(const char *doc, const char *ovr, enum task_mode mode, const char *msg)
{
	cleanup_free char *j = jq(doc), *o = jq(ovr);
	struct task_def *td = (struct task_def *)0x1;
	struct berr *err = NULL;

	assert_true(task_def_parse_with_overrides(j, strlen(j), "task.json", o, strlen(o),
						  "overrides.json", mode, &td, &err) < 0);
	assert_null(td);
	assert_string_equal(berr_msg(err), msg);
	berr_clear(&err);
}

#define OVR_DOC DOC("", "{'name':'app','image':'x','command':['serve'],'environment':[" \
		    "{'name':'A','value':'1'},{'name':'B','value':'2'}]},{'name':'side','image':'y','essential':false}")

static void test_ovr_command_env(void **state)
{
	struct task_def *td = ovr_ok(OVR_DOC,
		"{'taskRoleArn':'arn:aws:iam::1:role/other','containerOverrides':[{'name':'app',"
		"'command':['migrate','--up'],'environment':[{'name':'B','value':'two'},{'name':'C','value':'3'}]}]}", FG);
	const struct task_container *c = &td->containers[0];

	assert_string_equal(td->task_role_arn, "arn:aws:iam::1:role/other");
	assert_string_equal(c->command[0], "migrate");
	assert_string_equal(c->command[1], "--up");
	assert_null(c->command[2]);
	assert_int_equal(c->n_environment, 3);
	assert_string_equal(c->environment[0].value, "1");
	assert_string_equal(c->environment[1].name, "B");
	assert_string_equal(c->environment[1].value, "two");
	assert_string_equal(c->environment[2].name, "C");
	assert_null(td->containers[1].command);
	task_def_free(td);
	(void)state;
}

static void test_ovr_task_size(void **state)
{
	struct task_def *td = ovr_ok(OVR_DOC, "{'cpu':'1 vCPU','memory':'3GB','containerOverrides':"
				     "[{'name':'side','cpu':512,'memory':1024}]}", FG);

	assert_int_equal(td->cpu, 1024);
	assert_int_equal(td->memory, 3072);
	assert_int_equal(td->containers[1].cpu, 512);
	assert_int_equal(td->containers[1].memory, 1024);
	task_def_free(td);
	(void)state;
}

static void test_ovr_breaks_rule(void **state)
{
	ovr_err(OVR_DOC, "{'memory':'4096'}", FG, "task.json with overrides.json: memory: No Fargate "
		"configuration exists for given values: 256 CPU, 4096 memory");
	ovr_err(OVR_DOC, "{'containerOverrides':[{'name':'app','memory':600}]}", EC2,
		"task.json with overrides.json: containerDefinitions[0].memory: 600 MiB is above the "
		"task's memory (512 MiB)");
	(void)state;
}

static void test_ovr_errors(void **state)
{
	ovr_err(OVR_DOC, "{'containerOverrides':[{'name':'db'}]}", FG,
		"overrides.json: containerOverrides[0].name: \"db\" is not a container of the task");
	ovr_err(OVR_DOC, "{'containerOverrides':[{'name':'app','command':'serve'}]}", FG,
		"overrides.json: containerOverrides[0].command: expected array, got string");
	ovr_err(OVR_DOC, "{'containerOverrides':[{'name':'app','environment':[{'name':'X','value':1}]}]}", FG,
		"overrides.json: containerOverrides[0].environment[0].value: expected string, got integer");
	ovr_err(OVR_DOC, "[]", FG, "overrides.json: overrides: expected object, got array");
	ovr_err(OVR_DOC, "{", FG, "parse overrides.json: line 1, column 1: string or '}' expected near end of file");
	(void)state;
}

/* logConfiguration: any ECS driver is taken (berth logs locally); json-file's
 * max-size / max-file set the rotation; wrong values name the option. */
static void test_log_configuration(void **state)
{
	cleanup_free char *ok = ec2("", "{'name':'a','image':'i','logConfiguration':{'logDriver':"
				   "'json-file','options':{'max-size':'64k','max-file':'3'}}},"
				   "{'name':'b','image':'i','logConfiguration':{'logDriver':'awslogs',"
				   "'options':{'awslogs-group':'/ecs/web','max-size':'x'}}},"
				   "{'name':'c','image':'i'}");
	cleanup_free char *bad_driver = ec2("", "{'name':'a','image':'i','logConfiguration':"
					    "{'logDriver':'syslogd'}}");
	cleanup_free char *bad_size = ec2("", "{'name':'a','image':'i','logConfiguration':"
					  "{'logDriver':'json-file','options':{'max-size':'10q'}}}");
	cleanup_free char *small = ec2("", "{'name':'a','image':'i','logConfiguration':"
				       "{'logDriver':'json-file','options':{'max-size':'100'}}}");
	cleanup_free char *bad_files = ec2("", "{'name':'a','image':'i','logConfiguration':"
					   "{'logDriver':'local','options':{'max-file':'0'}}}");
	cleanup_free char *no_driver = ec2("", "{'name':'a','image':'i','logConfiguration':{}}");
	struct task_def *td = parse_ok(ok, EC2);

	(void)state;
	assert_string_equal(td->containers[0].log_driver, "json-file");
	assert_int_equal(td->containers[0].log_max_bytes, 64 * 1024);
	assert_int_equal(td->containers[0].log_max_files, 3);
	/* other drivers' options are theirs: not berth's rotation */
	assert_string_equal(td->containers[1].log_driver, "awslogs");
	assert_int_equal(td->containers[1].log_max_bytes, TASK_UNSET);
	assert_null(td->containers[2].log_driver);
	assert_int_equal(td->containers[2].log_max_files, TASK_UNSET);
	task_def_free(td);
	parse_err(bad_driver, EC2, "containerDefinitions[0].logConfiguration.logDriver: \"syslogd\" "
		  "is not a log driver ECS knows (awslogs, json-file, fluentd, ...)");
	parse_err(bad_size, EC2, "containerDefinitions[0].logConfiguration.options.max-size: "
		  "\"10q\" is not a size of at least 4k (e.g. \"10m\")");
	parse_err(small, EC2, "containerDefinitions[0].logConfiguration.options.max-size: "
		  "\"100\" is not a size of at least 4k (e.g. \"10m\")");
	parse_err(bad_files, EC2, "containerDefinitions[0].logConfiguration.options.max-file: "
		  "\"0\" is not a count of files (1-100)");
	parse_err(no_driver, EC2, "containerDefinitions[0].logConfiguration.logDriver: required");
}

static void test_ovr_warnings(void **state)
{
	struct task_def *td = ovr_ok(OVR_DOC, "{'containerOverrides':[{'name':'app','gpu':1}],'x':1}", FG);

	assert_int_equal(td->n_warnings, 2);
	assert_string_equal(td->warnings[0], "overrides.json: x: unknown field, ignored");
	assert_string_equal(td->warnings[1],
			    "overrides.json: containerOverrides[0].gpu: unknown field, ignored");
	task_def_free(td);
	(void)state;
}


/* containerDefinitions[].secrets: names are environment variable names,
 * unique in the container and not in its environment; valueFrom's syntax
 * is checked (what it names only when berthd starts the task). */
static void test_secrets(void **state)
{
	struct task_def *td = fg_ok("", "{'name':'app','image':'x','secrets':["
		"{'name':'A','valueFrom':'db-pass'},"
		"{'name':'B','valueFrom':'/prod/db/pass'},"
		"{'name':'C','valueFrom':'arn:aws:ssm:us-east-1:123456789012:parameter/prod/x'},"
		"{'name':'D','valueFrom':'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf'},"
		"{'name':'E','valueFrom':'arn:aws:secretsmanager:us-east-1:123456789012:secret:db:user::'},"
		"{'name':'F','valueFrom':'arn:aws:secretsmanager:us-east-1:123456789012:secret:db::AWSCURRENT:'}],"
		"'environment':[{'name':'G','value':'1'}]}");

	assert_int_equal(td->containers[0].n_secrets, 6);
	assert_string_equal(td->containers[0].secrets[1].name, "B");
	assert_string_equal(td->containers[0].secrets[1].value_from, "/prod/db/pass");
	assert_string_equal(td->containers[0].secrets[5].name, "F");
	assert_int_equal(td->n_warnings, 0);
	task_def_free(td);

	fg_err("", "{'name':'app','image':'x','secrets':[{'name':'A=B','valueFrom':'x'}]}",
	       "containerDefinitions[0].secrets[0].name: \"A=B\" is not an environment variable name "
	       "(1-255 bytes, no '=', spaces or control characters)");
	fg_err("", "{'name':'app','image':'x','secrets':[{'name':'','valueFrom':'x'}]}",
	       "containerDefinitions[0].secrets[0].name: must not be empty");
	fg_err("", "{'name':'app','image':'x','secrets':[{'name':'A'}]}",
	       "containerDefinitions[0].secrets[0].valueFrom: required");
	fg_err("", "{'name':'app','image':'x','secrets':[{'name':'A','valueFrom':'x'},"
	       "{'name':'A','valueFrom':'y'}]}",
	       "containerDefinitions[0].secrets[1].name: \"A\" is already the name of secrets[0]");
	fg_err("", "{'name':'app','image':'x','environment':[{'name':'A','value':'v'}],"
	       "'secrets':[{'name':'A','valueFrom':'y'}]}",
	       "containerDefinitions[0].secrets[0].name: \"A\" is also in environment[0]: a variable "
	       "comes from one of them");
	fg_err("", "{'name':'app','image':'x','secrets':[{'name':'A','valueFrom':'arn:aws:s3:::b'}]}",
	       "containerDefinitions[0].secrets[0].valueFrom: \"arn:aws:s3:::b\" is not a Secrets "
	       "Manager or SSM Parameter Store ARN (expected arn:aws:secretsmanager:REGION:ACCOUNT:"
	       "secret:NAME[:JSON_KEY:VERSION_STAGE:VERSION_ID], arn:aws:ssm:REGION:ACCOUNT:"
	       "parameter/NAME, or a Parameter Store name)");
	fg_err("", "{'name':'app','image':'x','secrets':[{'name':'A','valueFrom':"
	       "'arn:aws:secretsmanager:us-east-1:123456789012:secret:db::AWSPREVIOUS:'}]}",
	       "containerDefinitions[0].secrets[0].valueFrom: version stage \"AWSPREVIOUS\": version "
	       "stages other than AWSCURRENT are not supported yet (berth keeps only the current "
	       "value of a secret)");
	fg_err("", "{'name':'app','image':'x','secrets':[{'name':'A','valueFrom':'a b'}]}",
	       "containerDefinitions[0].secrets[0].valueFrom: \"a b\" is not a Parameter Store name "
	       "(only letters, digits and /_+=.@- are allowed); expected arn:aws:secretsmanager:"
	       "REGION:ACCOUNT:secret:NAME[:JSON_KEY:VERSION_STAGE:VERSION_ID], arn:aws:ssm:REGION:"
	       "ACCOUNT:parameter/NAME, or a Parameter Store name");
	fg_err("", "{'name':'app','image':'x','secrets':{'A':'x'}}",
	       "containerDefinitions[0].secrets: expected array, got object");
	/* unknown keys of a secret are warnings, as elsewhere */
	td = ec2_ok("", "{'name':'app','image':'x','memory':64,'secrets':[{'name':'A',"
		    "'valueFrom':'x','extra':1}]}");
	assert_int_equal(td->n_warnings, 1);
	assert_non_null(strstr(td->warnings[0], "containerDefinitions[0].secrets[0].extra"));
	task_def_free(td);
	(void)state;
}

/* An override's environment may not take a secret's name either. */
static void test_ovr_secret_env(void **state)
{
	cleanup_free char *d = fg("", "{'name':'app','image':'x','secrets':[{'name':'S',"
				  "'valueFrom':'x'}]}");
	cleanup_free char *j = jq(d);
	cleanup_free char *o = jq("{'containerOverrides':[{'name':'app','environment':"
				  "[{'name':'S','value':'v'}]}]}");
	struct task_def *td = NULL;
	struct berr *err = NULL;

	assert_true(task_def_parse_with_overrides(j, strlen(j), "task.json", o, strlen(o),
						  "overrides.json", FG, &td, &err) < 0);
	assert_null(td);
	assert_non_null(strstr(berr_msg(err), "secrets[0].name: \"S\" is also in environment[0]"));
	berr_clear(&err);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_web_with_sidecar),
		cmocka_unit_test(test_fargate_storage_platform),
		cmocka_unit_test(test_ec2_bridge_dynamic_ports),
		cmocka_unit_test(test_multi_container_depends),
		cmocka_unit_test(test_ec2_privileged_everything),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_null_is_absent),
		cmocka_unit_test(test_fargate_pairs),
		cmocka_unit_test(test_cpu_units),
		cmocka_unit_test(test_memory_units),
		cmocka_unit_test(test_bad_units),
		cmocka_unit_test(test_integer_cpu_memory),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_fg_network_bridge),
		cmocka_unit_test(test_fg_network_absent),
		cmocka_unit_test(test_fg_pair),
		cmocka_unit_test(test_fg_cpu_required),
		cmocka_unit_test(test_fg_memory_required),
		cmocka_unit_test(test_fg_privileged),
		cmocka_unit_test(test_fg_devices),
		cmocka_unit_test(test_fg_shm),
		cmocka_unit_test(test_fg_tmpfs),
		cmocka_unit_test(test_fg_max_swap),
		cmocka_unit_test(test_fg_swappiness),
		cmocka_unit_test(test_fg_cap_add),
		cmocka_unit_test(test_fg_pid_host),
		cmocka_unit_test(test_fg_ipc),
		cmocka_unit_test(test_fg_ephemeral_low),
		cmocka_unit_test(test_fg_ephemeral_high),
		cmocka_unit_test(test_fg_host_port),
		cmocka_unit_test(test_fg_stop_timeout),
		cmocka_unit_test(test_fg_host_volume),
		cmocka_unit_test(test_fg_dns_servers),
		cmocka_unit_test(test_fg_links),
		cmocka_unit_test(test_fg_disable_net),
		cmocka_unit_test(test_ec2_privileged_ok_fargate_not),
		cmocka_unit_test(test_ec2_host_port_host_mode),
		cmocka_unit_test(test_ec2_none_ports),
		cmocka_unit_test(test_ec2_container_memory_required),
		cmocka_unit_test(test_ec2_dup_host_port),
		cmocka_unit_test(test_fg_dup_port),
		cmocka_unit_test(test_family_missing),
		cmocka_unit_test(test_family_charset),
		cmocka_unit_test(test_family_length),
		cmocka_unit_test(test_dup_names),
		cmocka_unit_test(test_container_name_charset),
		cmocka_unit_test(test_image_required),
		cmocka_unit_test(test_image_empty),
		cmocka_unit_test(test_no_essential),
		cmocka_unit_test(test_depends_unknown),
		cmocka_unit_test(test_depends_self),
		cmocka_unit_test(test_depends_cycle),
		cmocka_unit_test(test_depends_healthy_no_check),
		cmocka_unit_test(test_depends_complete_essential),
		cmocka_unit_test(test_depends_bad_condition),
		cmocka_unit_test(test_mount_undeclared),
		cmocka_unit_test(test_mount_relative),
		cmocka_unit_test(test_volumes_from_unknown),
		cmocka_unit_test(test_dup_volume),
		cmocka_unit_test(test_container_memory_above_task),
		cmocka_unit_test(test_cpu_sum),
		cmocka_unit_test(test_reservation_above_memory),
		cmocka_unit_test(test_memory_minimum),
		cmocka_unit_test(test_container_port_zero),
		cmocka_unit_test(test_host_port_range),
		cmocka_unit_test(test_protocol),
		cmocka_unit_test(test_app_protocol_needs_name),
		cmocka_unit_test(test_hc_interval),
		cmocka_unit_test(test_hc_timeout),
		cmocka_unit_test(test_hc_retries),
		cmocka_unit_test(test_hc_start_period),
		cmocka_unit_test(test_hc_command_kind),
		cmocka_unit_test(test_hc_command_alone),
		cmocka_unit_test(test_cap_prefix),
		cmocka_unit_test(test_ulimit_name),
		cmocka_unit_test(test_ulimit_soft_hard),
		cmocka_unit_test(test_ulimit_dup),
		cmocka_unit_test(test_hostname_awsvpc),
		cmocka_unit_test(test_no_containers),
		cmocka_unit_test(test_too_many_containers),
		cmocka_unit_test(test_network_mode_value),
		cmocka_unit_test(test_runtime_platform_os),
		cmocka_unit_test(test_compat_value),
		cmocka_unit_test(test_restart_period),
		cmocka_unit_test(test_type_essential),
		cmocka_unit_test(test_type_container_cpu),
		cmocka_unit_test(test_type_real_port),
		cmocka_unit_test(test_type_env_value),
		cmocka_unit_test(test_type_command_elem),
		cmocka_unit_test(test_type_port_elem),
		cmocka_unit_test(test_type_label),
		cmocka_unit_test(test_type_linux_params),
		cmocka_unit_test(test_type_task_cpu),
		cmocka_unit_test(test_type_defs),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_unknown_field_warnings),
		cmocka_unit_test(test_describe_output_no_warnings),
		cmocka_unit_test(test_fuzz_seeds_valid),
		cmocka_unit_test(test_message_escapes),
		cmocka_unit_test(test_ec2_dns_hosts),
		cmocka_unit_test(test_ec2_extra_host_ip),
		cmocka_unit_test(test_ec2_dns_server_ip),
		cmocka_unit_test(test_ec2_dns_awsvpc),
		cmocka_unit_test(test_fuzz_seed_overrides_valid),
		cmocka_unit_test(test_placement_type),
		cmocka_unit_test(test_ovr_command_env),
		cmocka_unit_test(test_ovr_task_size),
		cmocka_unit_test(test_ovr_breaks_rule),
		cmocka_unit_test(test_ovr_errors),
		cmocka_unit_test(test_ovr_warnings),
		cmocka_unit_test(test_log_configuration),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_ovr_secret_env),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
