/* runtime/cli/run.c - `berth run`: one task in the foreground, no daemon. */
#include "runtime/cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/import.h"
#include "rootfs/pull.h"
#include "rootfs/store.h"
#include "runtime/container/launch.h"
#include "runtime/shim/taskrun.h"
#include "runtime/task/task.h"

#define TASKDEF_MAX (4u << 20)

static void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth run [OPTIONS] TASKDEF.json\n"
		"       berth run --detach [OPTIONS] TASKDEF   (through berthd: berth run -d --help)\n"
		"\n"
		"Run an ECS task definition in the foreground, without a daemon. Each\n"
		"container's output is printed with its name as prefix and written to\n"
		"LOG-DIR/<task id>/<container>.log (JSON lines). Ctrl-C or SIGTERM stops the\n"
		"task gracefully (reverse dependsOn order, stop signal, SIGKILL after\n"
		"stopTimeout); a second Ctrl-C kills it. The exit status is the essential\n"
		"container's exit code (128+N when killed by signal N, 137 when OOM-killed);\n"
		"125 when the task could not be set up, 126/127 when an essential container's\n"
		"program could not be run / was not found. Needs root.\n"
		"\n"
		"Options:\n"
		"  -d, --detach           start the task through berthd and return (its own\n"
		"                         options: berth run --detach --help)\n"
		"  --image-archive FILE   import FILE (docker save, OCI archive or layout) first;\n"
		"                         may be repeated\n"
		"  --pull POLICY          images not in the store are pulled from their registry\n"
		"                         (if-not-present, the default; also \"missing\"); always:\n"
		"                         every image; never: the store's images only\n"
		"  --insecure-registry HOST  pull from HOST[:PORT] without TLS verification (or\n"
		"                         plain HTTP); repeatable (also $BERTH_INSECURE_REGISTRIES)\n"
		"  --credentials FILE     registry credentials (default $BERTH_CREDENTIALS, else\n"
		"                         /etc/berth/credentials.json)\n"
		"  --docker-config FILE   a docker config.json for registry logins, or 'none'\n"
		"                         (default $DOCKER_CONFIG/config.json, ~/.docker/config.json)\n"
		"  --overrides FILE       RunTask overrides JSON ({\"containerOverrides\": [...], ...})\n"
		"  --launch-type TYPE     FARGATE or EC2 validation rules (default: FARGATE when\n"
		"                         requiresCompatibilities lists FARGATE and not EC2, else EC2)\n"
		"  --network MODE         override networkMode: awsvpc, bridge, host or none\n"
		"  --network-config FILE  bridge, subnet, security groups (berthd.json or its\n"
		"                         \"network\" object; default $BERTH_NETWORK_CONFIG, else\n"
		"                         /etc/berth/berthd.json when it exists, else built-in\n"
		"                         defaults: berth0, 10.213.0.0/16; see docs/networking.md)\n"
		"  --security-group NAME  awsvpc: put the task in this security group (repeat for\n"
		"                         more; default: the group \"default\")\n"
		"  --no-limits            run without cgroup resource limits (no cgroup v2 needed);\n"
		"                         the task is reported as running without limits\n"
		"  --storage KIND         ephemeral storage: loop (a sized ext4 volume, default) or\n"
		"                         tmpfs (same size, in memory, faster to set up)\n"
		"  --pids-max N           pids.max of the task (default 16384)\n"
		"  --cgroup-root PATH     berth's cgroup (default $BERTH_CGROUP_ROOT or /sys/fs/cgroup/berth)\n"
		"  --run-dir DIR          per-task state (default /run/berth/tasks)\n"
		"  --log-dir DIR          container logs (default /var/log/berth/tasks; 'none': no files)\n"
		"  --task-id ID           use ID instead of a random one\n"
		"  -q, --quiet            do not print the containers' output\n"
		"  -h, --help             this help\n"
		"\n"
		"With the global --json, container output goes to stderr and stdout gets one\n"
		"JSON object describing the stopped task (ECS-style containers[], stopCode).\n");
}

/* FARGATE when requiresCompatibilities names FARGATE but not EC2. */
static enum task_mode guess_mode(const char *buf, size_t len)
{
	cleanup_json json_t *v = json_loadb(buf, len, 0, NULL);
	json_t *rc = v ? json_object_get(v, "requiresCompatibilities") : NULL;
	bool fargate = false, ec2 = false;
	size_t i;
	json_t *e;

	json_array_foreach(rc, i, e) {
		if (json_is_string(e) && !strcmp(json_string_value(e), "FARGATE"))
			fargate = true;
		if (json_is_string(e) && !strcmp(json_string_value(e), "EC2"))
			ec2 = true;
	}
	return fargate && !ec2 ? TASK_MODE_FARGATE : TASK_MODE_EC2;
}

static int import_archive(const char *path)
{
	cleanup_free char *store_path = cli_image_store_path();
	cleanup_berr struct berr *err = NULL;
	struct rootfs_import_opts o = { 0 };
	struct rootfs_import_result res = { 0 };
	struct rootfs_store *s = NULL;
	int r;

	if (rootfs_store_open(store_path, &s, &err) < 0) {
		log_error("run: %s", berr_msg(err));
		return -1;
	}
	r = rootfs_import(s, path, &o, &res, &err);
	rootfs_store_close(s);
	if (r < 0) {
		log_error("run: --image-archive %s: %s", path, berr_msg(err));
		return -1;
	}
	for (size_t i = 0; i < res.n_images; i++)
		for (char **t = res.images[i].refs; *t; t++)
			log_info("imported %s from %s", *t, path);
	rootfs_import_result_free(&res);
	return 0;
}

static void print_result(const struct trun_result *res, const struct task_def *td)
{
	cleanup_json json_t *o = json_object();
	json_t *cs = json_array();

	json_object_set_new(o, "taskId", json_string(res->task_id));
	json_object_set_new(o, "lastStatus", json_string("STOPPED"));
	if (res->stop_code)
		json_object_set_new(o, "stopCode", json_string(res->stop_code));
	if (res->stopped_reason)
		json_object_set_new(o, "stoppedReason", json_string(res->stopped_reason));
	json_object_set_new(o, "exitCode", json_integer(res->exit_code));
	json_object_set_new(o, "limits", json_boolean(res->limits));
	/* as DescribeTasks: the task's ENI address on every container; bridge
	 * mode's host ports as each container's networkBindings, in the order
	 * of its portMappings (that is how taskrun reserved them) */
	size_t nb = 0;
	for (size_t i = 0; i < res->n_containers; i++) {
		const struct trun_container_result *c = &res->containers[i];
		json_t *j = json_pack("{s:s, s:s, s:b, s:s, s:i}", "name", c->name, "lastStatus", "STOPPED",
				      "essential", c->essential, "healthStatus", c->health,
				      "restartCount", c->restarts);

		if (res->ipv4[0])
			json_object_set_new(j, "networkInterfaces",
					    json_pack("[{s:s, s:s}]", "attachmentId", res->task_id,
						      "privateIpv4Address", res->ipv4));
		if (res->n_bindings && i < td->n_containers) {
			json_t *b = json_array();

			for (size_t k = 0; k < td->containers[i].n_port_mappings && nb < res->n_bindings; k++, nb++)
				json_array_append_new(b, json_pack("{s:s, s:i, s:i, s:s}", "bindIP", "0.0.0.0",
					"containerPort", res->bindings[nb].container_port,
					"hostPort", res->bindings[nb].host_port,
					"protocol", netns_proto_str(res->bindings[nb].proto)));
			json_object_set_new(j, "networkBindings", b);
		}
		if (c->exit_code >= 0)
			json_object_set_new(j, "exitCode", json_integer(c->exit_code));
		if (c->reason)
			json_object_set_new(j, "reason", json_string(c->reason));
		json_array_append_new(cs, j);
	}
	json_object_set_new(o, "containers", cs);
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	fflush(stdout);
}

int cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "image-archive", required_argument, NULL, 'i' },
		{ "pull", required_argument, NULL, 'P' },
		{ "insecure-registry", required_argument, NULL, 'I' },
		{ "credentials", required_argument, NULL, 'R' },
		{ "docker-config", required_argument, NULL, 'D' },
		{ "overrides", required_argument, NULL, 'o' },
		{ "launch-type", required_argument, NULL, 'L' },
		{ "network", required_argument, NULL, 'n' },
		{ "network-config", required_argument, NULL, 'C' },
		{ "security-group", required_argument, NULL, 'g' },
		{ "no-limits", no_argument, NULL, 'N' },
		{ "storage", required_argument, NULL, 's' },
		{ "pids-max", required_argument, NULL, 'p' },
		{ "cgroup-root", required_argument, NULL, 'c' },
		{ "run-dir", required_argument, NULL, 'r' },
		{ "log-dir", required_argument, NULL, 'l' },
		{ "task-id", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cleanup_strv char **archives = NULL, **groups = NULL, **insecure = NULL, **repo_creds = NULL;
	size_t n_archives = 0, n_groups = 0, n_insecure = 0;
	char self[4096];
	ssize_t self_len;
	const char *net_config = NULL;
	struct netns_config netcfg;
	bool have_netcfg = false;
	const char *overrides = NULL, *launch_type = NULL;
	cleanup_free char *buf = NULL, *obuf = NULL, *taskdir = NULL;
	cleanup_berr struct berr *err = NULL;
	struct task_def *td = NULL;
	struct trun_result res;
	struct trun_opts o;
	enum task_mode mode;
	size_t len = 0, olen = 0;
	int c, r;

	/* --detach: through berthd (task.c) */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--detach") || !strcmp(argv[i], "-d"))
			return cli_run_detach(argc, argv);
	trun_opts_init(&o);
	if (getenv("BERTH_CGROUP_ROOT") && *getenv("BERTH_CGROUP_ROOT"))
		o.cgroup_root = getenv("BERTH_CGROUP_ROOT");
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			archives = xreallocarray(archives, n_archives + 2, sizeof(*archives));
			archives[n_archives++] = xstrdup(optarg);
			archives[n_archives] = NULL;
			break;
		case 'P':
			if (rootfs_pull_policy_parse(optarg, &o.pull_policy) < 0) {
				log_error("run: --pull %s: use always, if-not-present (missing) or never", optarg);
				return 2;
			}
			break;
		case 'I':
			insecure = xreallocarray(insecure, n_insecure + 2, sizeof(*insecure));
			insecure[n_insecure++] = xstrdup(optarg);
			insecure[n_insecure] = NULL;
			break;
		case 'R': o.registry_credentials = optarg; break;
		case 'D': o.docker_config = optarg; break;
		case 'o': overrides = optarg; break;
		case 'L': launch_type = optarg; break;
		case 'n':
			o.net_override = true;
			if (!strcmp(optarg, "none"))
				o.net_mode = TASK_NET_NONE;
			else if (!strcmp(optarg, "host"))
				o.net_mode = TASK_NET_HOST;
			else if (!strcmp(optarg, "awsvpc"))
				o.net_mode = TASK_NET_AWSVPC;
			else if (!strcmp(optarg, "bridge"))
				o.net_mode = TASK_NET_BRIDGE;
			else {
				log_error("run: --network %s: use awsvpc, bridge, host or none", optarg);
				return 2;
			}
			break;
		case 'C': net_config = optarg; break;
		case 'g':
			groups = xreallocarray(groups, n_groups + 2, sizeof(*groups));
			groups[n_groups++] = xstrdup(optarg);
			groups[n_groups] = NULL;
			break;
		case 'N': o.no_limits = true; break;
		case 's':
			if (!strcmp(optarg, "loop"))
				o.storage = TRUN_STORAGE_LOOP;
			else if (!strcmp(optarg, "tmpfs"))
				o.storage = TRUN_STORAGE_TMPFS;
			else {
				log_error("run: --storage %s: use loop or tmpfs", optarg);
				return 2;
			}
			break;
		case 'p': {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || v == 0) {
				log_error("run: --pids-max %s: give a positive number", optarg);
				return 2;
			}
			o.pids_max = v;
			break;
		}
		case 'c': o.cgroup_root = optarg; break;
		case 'r': o.run_dir = optarg; break;
		case 'l': o.log_dir = strcmp(optarg, "none") ? optarg : NULL; break;
		case 't': o.task_id = optarg; break;
		case 'q': o.quiet = true; break;
		case 'h': run_usage(stdout); return 0;
		default: run_usage(stderr); return 2;
		}
	}
	if (optind + 1 != argc) {
		log_error("run: give one task definition file (see berth run --help)");
		return 2;
	}
	if (fs_read_file(argv[optind], &buf, &len, TASKDEF_MAX, &err) < 0) {
		log_error("run: %s", berr_msg(err));
		return 2;
	}
	if (overrides && fs_read_file(overrides, &obuf, &olen, TASKDEF_MAX, &err) < 0) {
		log_error("run: --overrides: %s", berr_msg(err));
		return 2;
	}
	if (!launch_type)
		mode = guess_mode(buf, len);
	else if (!strcasecmp(launch_type, "FARGATE"))
		mode = TASK_MODE_FARGATE;
	else if (!strcasecmp(launch_type, "EC2"))
		mode = TASK_MODE_EC2;
	else {
		log_error("run: --launch-type %s: use FARGATE or EC2", launch_type);
		return 2;
	}
	if (obuf)
		r = task_def_parse_with_overrides(buf, len, argv[optind], obuf, olen, overrides, mode, &td, &err);
	else
		r = task_def_parse(buf, len, argv[optind], mode, &td, &err);
	if (r < 0) {
		log_error("%s", berr_msg(err));
		return 2;
	}
	for (size_t i = 0; i < td->n_warnings; i++)
		log_warn("%s", td->warnings[i]);
	if (geteuid() != 0) {
		log_error("run: berth run needs root (namespaces, mounts and cgroups)");
		task_def_free(td);
		return 125;
	}
	for (size_t i = 0; i < n_archives; i++)
		if (import_archive(archives[i]) < 0) {
			task_def_free(td);
			return 125;
		}
	if (cli.json)
		o.out = stderr;
	o.root = cli.root;
	{
		enum task_network_mode nm = o.net_override ? o.net_mode : td->network_mode;

		if (nm == TASK_NET_AWSVPC || nm == TASK_NET_BRIDGE) {
			cleanup_free char *state = xasprintf("%s/net", cli.root);

			if (!net_config && getenv("BERTH_NETWORK_CONFIG") && *getenv("BERTH_NETWORK_CONFIG"))
				net_config = getenv("BERTH_NETWORK_CONFIG");
			if (!net_config && access("/etc/berth/berthd.json", F_OK) == 0)
				net_config = "/etc/berth/berthd.json";
			netns_config_init(&netcfg, state);
			have_netcfg = true;
			r = net_config ? netns_config_load(net_config, &netcfg, &err)
				       : netns_config_parse(NULL, "network", &netcfg, &err);
			if (r < 0) {
				log_error("run: network configuration: %s", berr_msg(err));
				netns_config_free(&netcfg);
				task_def_free(td);
				return 2;
			}
			o.net = &netcfg;
			o.security_groups = (const char *const *)groups;
			o.n_security_groups = n_groups;
		} else if (n_groups) {
			log_warn("run: --security-group applies to awsvpc tasks only; this one is %s",
				 task_network_mode_name(nm));
		}
	}
	taskdir = xstrdup(argv[optind]);
	o.env_file_base = dirname(taskdir);
	/* images to pull are pulled by this very program in a child process
	 * (taskrun.h), as berth-shim does it */
	self_len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (self_len > 0) {
		self[self_len] = '\0';
		o.berth_path = self;
	}
	o.insecure_registries = (const char *const *)insecure;
	repo_creds = trun_repository_credentials(buf, len);
	o.repository_credentials = (const char *const *)repo_creds;
	if (trun_run(td, &o, &res, &err) < 0) {
		log_error("run: %s", berr_msg(err));
		if (res.stop_code && !strcmp(res.stop_code, "TaskFailedToStart") && res.have_exit_code)
			r = res.exit_code;
		else
			r = 125;
	} else {
		r = res.exit_code;
	}
	if (cli.json)
		print_result(&res, td);
	else if (res.stop_code)
		log_info("task %s stopped (%s): %s; exit code %d", res.task_id, res.stop_code,
			 res.stopped_reason ? res.stopped_reason : "", r);
	trun_result_free(&res);
	task_def_free(td);
	if (have_netcfg)
		netns_config_free(&netcfg);
	return r;
}
