/* runtime/shim/shim.c - berth-shim's testable parts: its configuration, the
 * snapshot it publishes, the requests it takes, and the socket server that
 * does both without ever waiting for a client. */
#include "runtime/shim/shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#define REQUESTS_PER_TURN 64
#define SHIM_REQUEST_MAX_TEXT "65536"
_Static_assert(SHIM_REQUEST_MAX == 65536, "SHIM_REQUEST_MAX_TEXT");

/* ------------------------------------------------------------ config */

static const char *const config_keys[] = {
	"taskId", "taskDefinition", "overrides", "mode", "root", "runDir", "logDir",
	"cgroupRoot", "noLimits", "storage", "pidsMax", "network", "securityGroups",
	"networkMode", "logLevel", "berthPath", "imagePullPolicy", "insecureRegistries",
	"registryCredentials", "dockerConfig", "imagePullTimeoutSeconds", "endpoint", "dnsServer",
	NULL,
};

void shim_config_init(struct shim_config *c)
{
	struct trun_opts o;

	trun_opts_init(&o);
	memset(c, 0, sizeof(*c));
	c->mode = TASK_MODE_EC2;
	c->root = xstrdup(o.root);
	c->run_dir = xstrdup(o.run_dir);
	c->log_dir = xstrdup(o.log_dir);
	c->cgroup_root = xstrdup(o.cgroup_root);
	c->storage = o.storage;
	c->pids_max = o.pids_max;
	c->security_groups = xcalloc(1, sizeof(*c->security_groups));
	c->log_level = BLOG_INFO;
	c->pull_policy = o.pull_policy;
	c->insecure_registries = xcalloc(1, sizeof(*c->insecure_registries));
}

void shim_config_free(struct shim_config *c)
{
	free(c->task_definition);
	free(c->overrides);
	free(c->root);
	free(c->run_dir);
	free(c->log_dir);
	free(c->cgroup_root);
	netns_config_free(&c->net);
	strv_free(c->security_groups);
	free(c->berth_path);
	strv_free(c->insecure_registries);
	free(c->registry_credentials);
	free(c->docker_config);
	free(c->dns_server);
	strv_free(c->repository_credentials);
	json_decref(c->endpoint);
	memset(c, 0, sizeof(*c));
}

static bool is_task_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == SHIM_TASK_ID_LEN;
}

/* An absolute path string at key (absent: *out unchanged). */
static int get_path(const json_t *o, const char *key, char **out, struct berr **err)
{
	const char *s = NULL;
	int r = bjson_get_string(o, "", key, false, &s, err);

	if (r <= 0)
		return r;
	if (s[0] != '/')
		return berr_set(err, EINVAL, "%s: \"%s\" is not an absolute path", key, berr_q(s));
	free(*out);
	*out = xstrdup(s);
	return 1;
}

static int parse_config(const json_t *o, struct shim_config *c, struct berr **err)
{
	const char *key, *s = NULL;
	json_t *v, *obj = NULL, *arr = NULL;
	int64_t n;
	int r;

	if ((r = bjson_expect_object(o, NULL, err)) < 0)
		return r;
	json_object_foreach((json_t *)o, key, v) {
		bool known = false;

		for (size_t i = 0; config_keys[i] && !known; i++)
			known = !strcmp(key, config_keys[i]);
		if (!known)
			return berr_set(err, EINVAL, "%s: unknown key", berr_q(key));
	}

	if ((r = bjson_get_string(o, "", "taskId", true, &s, err)) < 0)
		return r;
	if (!is_task_id(s))
		return berr_set(err, EINVAL, "taskId: \"%s\" is not 32 lower-case hex digits", berr_q(s));
	memcpy(c->task_id, s, SHIM_TASK_ID_LEN + 1);

	if ((r = bjson_get_object(o, "", "taskDefinition", true, &obj, err)) < 0)
		return r;
	c->task_definition = bjson_dumps(obj);
	strv_free(c->repository_credentials);
	c->repository_credentials = trun_repository_credentials(c->task_definition, strlen(c->task_definition));
	obj = NULL;
	if ((r = bjson_get_object(o, "", "overrides", false, &obj, err)) < 0)
		return r;
	if (obj)
		c->overrides = bjson_dumps(obj);

	s = NULL;
	if ((r = bjson_get_string(o, "", "mode", false, &s, err)) < 0)
		return r;
	if (s && !strcmp(s, "EC2"))
		c->mode = TASK_MODE_EC2;
	else if (s && !strcmp(s, "FARGATE"))
		c->mode = TASK_MODE_FARGATE;
	else if (s)
		return berr_set(err, EINVAL, "mode: \"%s\": use EC2 or FARGATE", berr_q(s));

	if ((r = get_path(o, "root", &c->root, err)) < 0 ||
	    (r = get_path(o, "runDir", &c->run_dir, err)) < 0 ||
	    (r = get_path(o, "cgroupRoot", &c->cgroup_root, err)) < 0)
		return r;
	/* logDir: null means no log files (absent: the default) */
	v = json_object_get(o, "logDir");
	if (v && json_is_null(v)) {
		free(c->log_dir);
		c->log_dir = NULL;
	} else if ((r = get_path(o, "logDir", &c->log_dir, err)) < 0) {
		return r;
	}

	if ((r = bjson_get_bool(o, "", "noLimits", false, &c->no_limits, err)) < 0)
		return r;
	s = NULL;
	if ((r = bjson_get_string(o, "", "storage", false, &s, err)) < 0)
		return r;
	if (s && !strcmp(s, "loop"))
		c->storage = TRUN_STORAGE_LOOP;
	else if (s && !strcmp(s, "tmpfs"))
		c->storage = TRUN_STORAGE_TMPFS;
	else if (s)
		return berr_set(err, EINVAL, "storage: \"%s\": use loop or tmpfs", berr_q(s));
	if ((r = bjson_get_int_range(o, "", "pidsMax", false, 1, INT64_MAX, &n, err)) < 0)
		return r;
	if (r > 0)
		c->pids_max = (uint64_t)n;

	obj = NULL;
	if ((r = bjson_get_object(o, "", "network", false, &obj, err)) < 0)
		return r;
	{
		char *state = xasprintf("%s/net", c->root);

		netns_config_free(&c->net);
		netns_config_init(&c->net, state);
		free(state);
		if ((r = netns_config_parse(obj, "network", &c->net, err)) < 0)
			return r;
	}
	if ((r = bjson_get_array(o, "", "securityGroups", false, &arr, err)) < 0)
		return r;
	if (arr) {
		strv_free(c->security_groups);
		c->security_groups = NULL;
		if ((r = bjson_strv(arr, "securityGroups", &c->security_groups, err)) < 0)
			return r;
		c->n_security_groups = json_array_size(arr);
	}
	s = NULL;
	if ((r = bjson_get_string(o, "", "networkMode", false, &s, err)) < 0)
		return r;
	if (s) {
		static const struct { const char *name; enum task_network_mode m; } modes[] = {
			{ "awsvpc", TASK_NET_AWSVPC }, { "bridge", TASK_NET_BRIDGE },
			{ "host", TASK_NET_HOST }, { "none", TASK_NET_NONE },
		};
		size_t i;

		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (!strcmp(s, modes[i].name))
				break;
		if (i == sizeof(modes) / sizeof(modes[0]))
			return berr_set(err, EINVAL, "networkMode: \"%s\": use awsvpc, bridge, host or none",
					berr_q(s));
		c->net_override = true;
		c->net_mode = modes[i].m;
	}
	s = NULL;
	if ((r = bjson_get_string(o, "", "logLevel", false, &s, err)) < 0)
		return r;
	if (s && (c->log_level = blog_level_parse(s)) < 0)
		return berr_set(err, EINVAL, "logLevel: \"%s\": use error, warn, info or debug", berr_q(s));

	/* image pulls */
	if ((r = get_path(o, "berthPath", &c->berth_path, err)) < 0 ||
	    (r = get_path(o, "registryCredentials", &c->registry_credentials, err)) < 0)
		return r;
	s = NULL;
	if ((r = bjson_get_string(o, "", "dockerConfig", false, &s, err)) < 0)
		return r;
	if (s && strcmp(s, "none") && s[0] != '/')
		return berr_set(err, EINVAL, "dockerConfig: \"%s\" is not an absolute path (or \"none\")", berr_q(s));
	if (s) {
		free(c->docker_config);
		c->docker_config = xstrdup(s);
	}
	s = NULL;
	if ((r = bjson_get_string(o, "", "imagePullPolicy", false, &s, err)) < 0)
		return r;
	if (s && rootfs_pull_policy_parse(s, &c->pull_policy) < 0)
		return berr_set(err, EINVAL, "imagePullPolicy: \"%s\": use always, if-not-present or never", berr_q(s));
	arr = NULL;
	if ((r = bjson_get_array(o, "", "insecureRegistries", false, &arr, err)) < 0)
		return r;
	if (arr) {
		strv_free(c->insecure_registries);
		c->insecure_registries = NULL;
		if ((r = bjson_strv(arr, "insecureRegistries", &c->insecure_registries, err)) < 0)
			return r;
	}
	if ((r = bjson_get_int_range(o, "", "imagePullTimeoutSeconds", false, 1, INT64_C(7) * 86400, &n, err)) < 0)
		return r;
	if (r > 0)
		c->pull_timeout_ms = n * 1000;
	obj = NULL;
	if ((r = bjson_get_object(o, "", "endpoint", false, &obj, err)) < 0)
		return r;
	json_decref(c->endpoint);
	c->endpoint = obj ? json_incref(obj) : NULL;
	s = NULL;
	if ((r = bjson_get_string(o, "", "dnsServer", false, &s, err)) < 0)
		return r;
	if (s) {
		struct in_addr a;

		if (inet_pton(AF_INET, s, &a) != 1)
			return berr_set(err, EINVAL, "dnsServer: \"%s\" is not an IPv4 address", berr_q(s));
		free(c->dns_server);
		c->dns_server = xstrdup(s);
	}
	return 0;
}

int shim_config_parse(const char *what, const char *buf, size_t len, struct shim_config *c,
		      struct berr **err)
{
	cleanup_json json_t *o = NULL;
	int r;

	if ((r = bjson_load_buf(what, buf, len, &o, err)) < 0)
		return r;
	r = parse_config(o, c, err);
	if (r < 0)
		return berr_wrap(err, "%s", what), r;
	return 0;
}

int shim_config_task(const struct shim_config *c, const char *what, struct task_def **out,
		     struct berr **err)
{
	cleanup_free char *tdwhat = xasprintf("%s: taskDefinition", what);
	cleanup_free char *ovwhat = xasprintf("%s: overrides", what);

	if (c->overrides)
		return task_def_parse_with_overrides(c->task_definition, strlen(c->task_definition), tdwhat,
						     c->overrides, strlen(c->overrides), ovwhat, c->mode,
						     out, err);
	return task_def_parse(c->task_definition, strlen(c->task_definition), tdwhat, c->mode, out, err);
}

void shim_config_opts(const struct shim_config *c, const char *bundle, struct trun_opts *o)
{
	o->root = c->root;
	/* taskrun's own directory is <bundle>/<taskId>: it removes that at
	 * teardown, and the bundle (socket, status.json) must outlive it */
	o->run_dir = bundle;
	o->log_dir = c->log_dir;
	o->cgroup_root = c->cgroup_root;
	o->no_limits = c->no_limits;
	o->storage = c->storage;
	o->pids_max = c->pids_max;
	o->task_id = c->task_id;
	o->quiet = true;
	o->net_override = c->net_override;
	o->net_mode = c->net_mode;
	o->net = &c->net;
	o->security_groups = (const char *const *)c->security_groups;
	o->n_security_groups = c->n_security_groups;
	o->env_file_base = bundle;
	o->berth_path = c->berth_path;
	o->pull_policy = c->pull_policy;
	o->insecure_registries = (const char *const *)c->insecure_registries;
	o->registry_credentials = c->registry_credentials;
	o->docker_config = c->docker_config;
	o->pull_timeout_ms = c->pull_timeout_ms;
	o->dns_server = c->dns_server;
	o->repository_credentials = (const char *const *)c->repository_credentials;
}

/* ---------------------------------------------------------- snapshot */

static void set_time(json_t *o, const char *key, double t)
{
	if (t > 0)
		json_object_set_new(o, key, json_real(t));
}

json_t *shim_snapshot(const struct trun_state *st, uint64_t seq, pid_t shim_pid)
{
	json_t *task = json_object(), *cs = json_array();

	json_object_set_new(task, "taskId", json_string(st->task_id));
	json_object_set_new(task, "lastStatus", json_string(trun_status_name(st->status)));
	json_object_set_new(task, "desiredStatus", json_string(st->desired_stopped ? "STOPPED" : "RUNNING"));
	json_object_set_new(task, "healthStatus", json_string(st->health ? st->health : "UNKNOWN"));
	json_object_set_new(task, "shimPid", json_integer(shim_pid));
	json_object_set_new(task, "limits", json_boolean(st->limits));
	set_time(task, "pullStartedAt", st->pull_started_at);
	set_time(task, "pullStoppedAt", st->pull_stopped_at);
	set_time(task, "connectivityAt", st->connectivity_at);
	set_time(task, "startedAt", st->started_at);
	set_time(task, "stoppingAt", st->stopping_at);
	set_time(task, "executionStoppedAt", st->execution_stopped_at);
	set_time(task, "stoppedAt", st->stopped_at);
	if (st->stop_code)
		json_object_set_new(task, "stopCode", json_string(st->stop_code));
	if (st->stopped_reason)
		json_object_set_new(task, "stoppedReason", json_string(st->stopped_reason));
	if (st->have_exit_code)
		json_object_set_new(task, "exitCode", json_integer(st->exit_code));
	if (st->ipv4 && st->ipv4[0])
		json_object_set_new(task, "privateIpv4Address", json_string(st->ipv4));
	for (size_t i = 0; i < st->n_containers; i++) {
		const struct trun_container_state *c = &st->containers[i];
		json_t *j = json_object();

		json_object_set_new(j, "name", json_string(c->name));
		json_object_set_new(j, "essential", json_boolean(c->essential));
		json_object_set_new(j, "lastStatus", json_string(c->last_status));
		json_object_set_new(j, "healthStatus", json_string(c->health ? c->health : "UNKNOWN"));
		json_object_set_new(j, "runtimeId", json_sprintf("%s-%s", st->task_id, c->name));
		json_object_set_new(j, "restartCount", json_integer(c->restarts));
		if (c->exit_code >= 0)
			json_object_set_new(j, "exitCode", json_integer(c->exit_code));
		if (c->reason)
			json_object_set_new(j, "reason", json_string(c->reason));
		if (c->pid > 0)
			json_object_set_new(j, "pid", json_integer(c->pid));
		if (c->n_bindings) {
			json_t *b = json_array();

			for (size_t k = 0; k < c->n_bindings; k++)
				json_array_append_new(b, json_pack("{s:s, s:i, s:i, s:s}", "bindIP", "0.0.0.0",
					"containerPort", (int)c->bindings[k].container_port,
					"hostPort", (int)c->bindings[k].host_port,
					"protocol", netns_proto_str(c->bindings[k].proto)));
			json_object_set_new(j, "networkBindings", b);
		}
		json_array_append_new(cs, j);
	}
	json_object_set_new(task, "containers", cs);
	return json_pack("{s:s, s:I, s:o}", "type", "state", "seq", (json_int_t)seq, "task", task);
}

static double epoch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) / 1000.0;
}

json_t *shim_failed_snapshot(const char *task_id, const struct task_def *td, const char *reason,
			     pid_t shim_pid)
{
	size_t n = td ? td->n_containers : 0;
	cleanup_free struct trun_container_state *cs = xcalloc(n ? n : 1, sizeof(*cs));
	double now = epoch_now();
	struct trun_state st = {
		.task_id = task_id,
		.status = TRUN_STOPPED,
		.desired_stopped = true,
		.health = "UNKNOWN",
		.stop_code = "TaskFailedToStart",
		.stopped_reason = reason,
		.exit_code = -1,
		.limits = true,
		.ipv4 = "",
		.stopping_at = now,
		.execution_stopped_at = now,
		.stopped_at = now,
		.containers = cs,
		.n_containers = n,
	};

	for (size_t i = 0; i < n; i++) {
		cs[i].name = td->containers[i].name;
		cs[i].essential = td->containers[i].essential;
		cs[i].last_status = "STOPPED";
		cs[i].exit_code = -1;
		cs[i].health = "UNKNOWN";
	}
	return shim_snapshot(&st, 1, shim_pid);
}

/* ---------------------------------------------------------- requests */

/* Only these keys (NULL-terminated) besides "op". */
static int check_keys(const json_t *o, const char *op, const char *const *allowed, struct berr **err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)o, key, v) {
		bool ok = !strcmp(key, "op");

		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(key, allowed[i]);
		if (!ok)
			return berr_set(err, EINVAL, "request: %s: unknown key for op %s", berr_q(key), op);
	}
	return 0;
}

/* ECS container names: 1-255 letters, digits, '-' and '_'. */
static bool container_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '-' || s[n] == '_'))
			return false;
	return n > 0 && n <= 255;
}

/* A string array at key of 1..SHIM_EXEC_MAX_ARGS entries (0 allowed when
 * !required); *out NULL when absent. */
static int get_strv(const json_t *o, const char *key, bool required, char ***out, struct berr **err)
{
	cleanup_free char *path = xasprintf("request.%s", key);
	json_t *arr = NULL;
	int r;

	if ((r = bjson_get_array(o, "request", key, required, &arr, err)) <= 0)
		return r;
	if (required && json_array_size(arr) == 0)
		return berr_set(err, EINVAL, "%s: empty", path);
	if (json_array_size(arr) > SHIM_EXEC_MAX_ARGS)
		return berr_set(err, E2BIG, "%s: more than %d entries", path, SHIM_EXEC_MAX_ARGS);
	return bjson_strv(arr, path, out, err);
}

static int parse_exec(const json_t *o, struct shim_exec_request *x, struct berr **err)
{
	static const char *const keys[] = { "container", "argv", "env", "user", "workdir", "tty", NULL };
	const char *container = NULL, *user = NULL, *workdir = NULL;
	int r;

	if ((r = check_keys(o, "exec", keys, err)) < 0)
		return r;
	if ((r = bjson_get_string(o, "request", "container", false, &container, err)) < 0 ||
	    (r = bjson_get_string(o, "request", "user", false, &user, err)) < 0 ||
	    (r = bjson_get_string(o, "request", "workdir", false, &workdir, err)) < 0 ||
	    (r = bjson_get_bool(o, "request", "tty", false, &x->tty, err)) < 0)
		return r;
	if (container && !container_name_ok(container))
		return berr_set(err, EINVAL, "request.container: \"%s\" is not a container name",
				berr_q(container));
	if (user && (!*user || strlen(user) > 255))
		return berr_set(err, EINVAL, "request.user: \"%s\": give a user name or uid (1-255 bytes)",
				berr_q(user));
	if (workdir && (workdir[0] != '/' || strlen(workdir) >= 4096))
		return berr_set(err, EINVAL, "request.workdir: \"%s\" is not an absolute path",
				berr_q(workdir));
	if ((r = get_strv(o, "argv", true, &x->argv, err)) < 0)
		return r;
	if (!x->argv[0][0])
		return berr_set(err, EINVAL, "request.argv[0]: empty");
	if ((r = get_strv(o, "env", false, &x->env, err)) < 0)
		return r;
	for (size_t i = 0; x->env && x->env[i]; i++) {
		const char *eq = strchr(x->env[i], '=');

		if (!eq || eq == x->env[i])
			return berr_set(err, EINVAL, "request.env[%zu]: \"%s\" is not NAME=value", i,
					berr_q(x->env[i]));
	}
	x->container = container ? xstrdup(container) : NULL;
	x->user = user ? xstrdup(user) : NULL;
	x->workdir = workdir ? xstrdup(workdir) : NULL;
	return 0;
}

int shim_request_parse(const char *buf, size_t len, struct shim_request *req, struct berr **err)
{
	static const char *const stop_keys[] = { "reason", "stopCode", NULL };
	cleanup_json json_t *o = NULL;
	const char *op = NULL, *reason = NULL, *code = NULL;
	int r;

	memset(req, 0, sizeof(*req));
	req->fds[0] = req->fds[1] = req->fds[2] = -1;
	if ((r = bjson_load_buf("request", buf, len, &o, err)) < 0)
		return r;
	if ((r = bjson_expect_object(o, "request", err)) < 0)
		return r;
	if ((r = bjson_get_string(o, "request", "op", true, &op, err)) < 0)
		return r;
	if (!strcmp(op, "state")) {
		if (json_object_size(o) != 1)
			return berr_set(err, EINVAL, "request: op state takes no other keys");
		req->op = SHIM_OP_STATE;
		return 0;
	}
	if (!strcmp(op, "exec")) {
		req->op = SHIM_OP_EXEC;
		if ((r = parse_exec(o, &req->exec, err)) < 0) {
			shim_request_free(req);
			req->op = SHIM_OP_EXEC;    /* the error answers an exec */
			return r;
		}
		return 0;
	}
	if (!strcmp(op, "signal")) {
		static const char *const signal_keys[] = { "signal", NULL };
		int64_t sig = 0;

		req->op = SHIM_OP_SIGNAL;      /* an error answers a signal request */
		if ((r = check_keys(o, "signal", signal_keys, err)) < 0 ||
		    (r = bjson_get_int_range(o, "request", "signal", true, 1, SHIM_SIGNAL_MAX, &sig, err)) < 0)
			return r;
		req->signal = (int)sig;
		return 0;
	}
	if (strcmp(op, "stop"))
		return berr_set(err, EINVAL, "request.op: unknown operation \"%s\" (state, stop, exec, "
				"signal)", berr_q(op));
	if ((r = check_keys(o, "stop", stop_keys, err)) < 0)
		return r;
	if ((r = bjson_get_string(o, "request", "reason", false, &reason, err)) < 0 ||
	    (r = bjson_get_string(o, "request", "stopCode", false, &code, err)) < 0)
		return r;
	req->op = SHIM_OP_STOP;
	req->stop_code = "UserInitiated";
	if (code && !strcmp(code, "ServiceSchedulerInitiated"))
		req->stop_code = "ServiceSchedulerInitiated";
	else if (code && strcmp(code, "UserInitiated"))
		return berr_set(err, EINVAL, "request.stopCode: \"%s\": use UserInitiated or "
				"ServiceSchedulerInitiated", berr_q(code));
	if (reason && strlen(reason) > 1024)
		return berr_set(err, EINVAL, "request.reason: longer than 1024 bytes");
	if (reason && *reason)
		req->reason = xstrdup(reason);
	return 0;
}

int shim_request_take_fds(struct shim_request *req, int *fds, size_t n, struct berr **err)
{
	size_t want = req->op != SHIM_OP_EXEC ? 0 : req->exec.tty ? 1 : 3;

	if (n != want) {
		if (req->op != SHIM_OP_EXEC)
			return berr_set(err, EINVAL, "request: op %s takes no file descriptors (got %zu)",
					req->op == SHIM_OP_STATE ? "state" :
					req->op == SHIM_OP_SIGNAL ? "signal" : "stop", n);
		return berr_set(err, EINVAL, "request: exec%s takes %zu file descriptor%s (%s), got %zu",
				req->exec.tty ? " with tty" : "", want, want == 1 ? "" : "s",
				req->exec.tty ? "the terminal" : "stdin, stdout, stderr", n);
	}
	if (req->exec.tty && !isatty(fds[0]))
		return berr_set(err, ENOTTY, "request: exec with tty: the file descriptor is not a terminal");
	for (size_t i = 0; i < n; i++) {
		req->fds[i] = fds[i];
		fds[i] = -1;
	}
	return 0;
}

void shim_request_free(struct shim_request *req)
{
	free(req->reason);
	free(req->exec.container);
	strv_free(req->exec.argv);
	strv_free(req->exec.env);
	free(req->exec.user);
	free(req->exec.workdir);
	for (int i = 0; i < 3; i++)
		if (req->fds[i] >= 0)
			close(req->fds[i]);
	memset(req, 0, sizeof(*req));
	req->fds[0] = req->fds[1] = req->fds[2] = -1;
}

const char *shim_exec_error_code(enum trun_exec_status why)
{
	switch (why) {
	case TRUN_EXEC_BAD_REQUEST: return "InvalidRequest";
	case TRUN_EXEC_NO_CONTAINER: return "ContainerNotFound";
	case TRUN_EXEC_NOT_RUNNING: return "NotRunning";
	case TRUN_EXEC_BUSY: return "Busy";
	case TRUN_EXEC_NOT_FOUND: return "CommandNotFound";
	case TRUN_EXEC_CANNOT_RUN: return "CannotExecute";
	case TRUN_EXEC_OK: break;
	}
	return "CannotExecute";
}

/* --------------------------------------------------------------- pids */

pid_t shim_pidfd_pid(int pidfd)
{
	char path[64], buf[1024];
	cleanup_close int fd = -1;
	ssize_t n;
	char *p;
	long v;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	if (!p)
		return 0;
	v = strtol(p + 5, NULL, 10);
	return v > 0 ? (pid_t)v : 0;
}

pid_t shim_host_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);
	long v;

	if (n <= 0)
		return getpid();
	buf[n] = '\0';
	v = strtol(buf, NULL, 10);
	return v > 0 ? (pid_t)v : getpid();
}

/* ------------------------------------------------------------ socket */

/* The address of path; one longer than sun_path is reached through an
 * O_PATH fd of its directory (*dirfd, for the caller to close). */
static int sock_addr(const char *path, struct sockaddr_un *sa, socklen_t *len, int *dirfd,
		     struct berr **err)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*dirfd = -1;
	if (n < sizeof(sa->sun_path)) {
		memcpy(sa->sun_path, path, n + 1);
	} else {
		const char *slash = strrchr(path, '/');
		cleanup_free char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
		int w;

		*dirfd = open(*dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*dirfd < 0)
			return berr_set(err, errno, "open %s", dir);
		w = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dirfd,
			     slash ? slash + 1 : path);
		if (w < 0 || (size_t)w >= sizeof(sa->sun_path)) {
			close(*dirfd);
			*dirfd = -1;
			return berr_set(err, ENAMETOOLONG, "socket path %s", path);
		}
		n = (size_t)w;
	}
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

int shim_listen(const char *path, struct berr **err)
{
	struct sockaddr_un sa;
	socklen_t len;
	cleanup_close int fd = -1, dirfd = -1;
	int r;

	if ((r = sock_addr(path, &sa, &len, &dirfd, err)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket for %s", path);
	for (int tries = 0;; tries++) {
		mode_t old = umask(0177);
		int e;

		r = bind(fd, (struct sockaddr *)&sa, len);
		e = errno;
		umask(old);
		if (r == 0)
			break;
		if (e != EADDRINUSE || tries > 0)
			return berr_set(err, e, "bind %s", path);
		/* a socket file: is a shim behind it? */
		{
			cleanup_close int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			if (probe < 0)
				return berr_set(err, errno, "socket");
			if (connect(probe, (struct sockaddr *)&sa, len) == 0 || errno == EAGAIN)
				return berr_set(err, EADDRINUSE, "another shim answers on %s", path);
		}
		if (unlink(path) < 0 && errno != ENOENT)
			return berr_set(err, errno, "remove the stale socket %s", path);
	}
	if (listen(fd, SHIM_MAX_CLIENTS) < 0)
		return berr_set(err, errno, "listen on %s", path);
	return steal_fd(&fd);
}

int shim_connect_path(const char *path, struct berr **err)
{
	struct sockaddr_un sa;
	socklen_t len;
	cleanup_close int fd = -1, dirfd = -1;
	int r;

	if ((r = sock_addr(path, &sa, &len, &dirfd, err)) < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket for %s", path);
	if (connect(fd, (struct sockaddr *)&sa, len) < 0)
		return berr_set(err, errno, "connect to %s", path);
	return steal_fd(&fd);
}

/* ------------------------------------------------------------ server */

static int task_exec_start(void *task, const struct trun_exec_req *req, struct trun_exec_info *info,
			   enum trun_exec_status *why, struct berr **err)
{
	return trun_exec(task, req, info, why, err);
}

static int task_exec_kill(void *task, uint64_t id)
{
	return trun_exec_kill(task, id);
}

static const struct shim_exec_ops task_exec_ops = {
	.start = task_exec_start,
	.kill = task_exec_kill,
};

int shim_server_init(struct shim_server *s, int listen_fd, const char *status_path, pid_t pid,
		     struct berr **err)
{
	memset(s, 0, sizeof(*s));
	s->listen_fd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		int e = errno;

		if (listen_fd >= 0)
			close(listen_fd);
		return berr_set(err, e, "epoll_create1");
	}
	s->pid = pid;
	s->status_path = status_path ? xstrdup(status_path) : NULL;
	s->exec_ops = &task_exec_ops;
	s->rbuf = xmalloc(SHIM_REQUEST_MAX + 1);
	if (listen_fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = listen_fd };

		s->listen_fd = listen_fd;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
			int r = berr_set(err, errno, "epoll_ctl ADD the listening socket");

			shim_server_close(s);
			return r;
		}
	}
	return 0;
}

static void drop(struct shim_server *s, size_t i, const char *why)
{
	int fd = s->clients[i];

	log_info("client %d dropped: %s", fd, why);
	if (s->exec_id[i]) {
		/* nobody would see its output or its end */
		log_info("client %d: its exec %" PRIu64 " gets SIGKILL", fd, s->exec_id[i]);
		if (s->task && s->exec_ops->kill(s->task, s->exec_id[i]) < 0)
			log_warn("client %d: kill exec %" PRIu64 ": %m", fd, s->exec_id[i]);
	}
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	s->n_clients--;
	s->clients[i] = s->clients[s->n_clients];
	s->exec_id[i] = s->exec_id[s->n_clients];
	s->exec_session[i] = s->exec_session[s->n_clients];
	s->exec_pidfd[i] = s->exec_pidfd[s->n_clients];
	s->exec_pid[i] = s->exec_pid[s->n_clients];
}

static bool send_msg(int fd, const char *msg, size_t len)
{
	ssize_t r;

	do
		r = send(fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)len;
}

static const char *send_error(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK ? "it does not read (socket buffer full)" : strerror(e);
}

int shim_server_add(struct shim_server *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (s->n_clients >= SHIM_MAX_CLIENTS) {
		log_warn("refused a client: %d connected already", SHIM_MAX_CLIENTS);
		close(fd);
		return -1;
	}
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_warn("refused a client: epoll_ctl: %m");
		close(fd);
		return -1;
	}
	s->exec_id[s->n_clients] = 0;
	s->exec_session[s->n_clients] = false;
	s->exec_pidfd[s->n_clients] = -1;
	s->exec_pid[s->n_clients] = 0;
	s->clients[s->n_clients++] = fd;
	if (s->last && !send_msg(fd, s->last, s->last_len)) {
		drop(s, s->n_clients - 1, send_error(errno));
		return -1;
	}
	return 0;
}

int shim_server_publish_json(struct shim_server *s, json_t *msg, struct berr **err)
{
	char *txt = bjson_dumps(msg);
	size_t len = strlen(txt);
	int r = 0;

	if (len > SHIM_MSG_MAX)
		log_warn("snapshot of %zu bytes is longer than %d: clients may not read it", len,
			 SHIM_MSG_MAX);
	if (s->status_path) {
		txt[len] = '\n';
		r = fs_write_file_atomic(s->status_path, txt, len + 1, 0600, err);
		txt[len] = '\0';
	}
	/* backwards: drop() moves the last client into the hole; exec
	 * sessions read their exec's answers only */
	for (size_t i = s->n_clients; i-- > 0;)
		if (!s->exec_session[i] && !send_msg(s->clients[i], txt, len))
			drop(s, i, send_error(errno));
	free(s->last);
	s->last = txt;
	s->last_len = len;
	return r;
}

int shim_server_publish(struct shim_server *s, const struct trun_state *st, struct berr **err)
{
	cleanup_json json_t *msg = shim_snapshot(st, ++s->seq, s->pid);

	return shim_server_publish_json(s, msg, err);
}

static void accept_all(struct shim_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("accept: %m");
			return;
		}
		(void)shim_server_add(s, fd);
	}
}

/* Send msg to client i; false when the client had to be dropped. */
static bool reply(struct shim_server *s, size_t i, json_t *msg)
{
	cleanup_free char *txt = bjson_dumps(msg);

	if (send_msg(s->clients[i], txt, strlen(txt)))
		return true;
	drop(s, i, send_error(errno));
	return false;
}

/* Answer with an error message (code: NULL or an exec error code). */
static bool reply_error(struct shim_server *s, size_t i, const char *what, const char *code)
{
	cleanup_json json_t *o = json_pack("{s:s, s:s}", "type", "error", "message", what);

	if (code)
		json_object_set_new(o, "code", json_string(code));
	return reply(s, i, o);
}

/* An exec request from client i (its fds checked); false when the client
 * had to be dropped. */
static bool serve_exec(struct shim_server *s, size_t i, struct shim_request *req)
{
	const struct shim_exec_request *x = &req->exec;
	struct trun_exec_req er = {
		.container = x->container,
		.argv = x->argv,
		.env = (const char *const *)x->env,
		.user = x->user,
		.workdir = x->workdir,
		.tty = x->tty,
		.stdin_fd = req->fds[0],
		.stdout_fd = x->tty ? req->fds[0] : req->fds[1],
		.stderr_fd = x->tty ? req->fds[0] : req->fds[2],
		.on_exit = shim_server_exec_exit,
		.arg = s,
	};
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *msg = NULL;
	enum trun_exec_status why = TRUN_EXEC_NOT_RUNNING;
	struct trun_exec_info info;
	pid_t pid;

	if (s->exec_id[i])
		return reply_error(s, i, "an exec runs on this connection already: wait for its "
				   "exec-exit, or open another connection", "Busy");
	if (!s->task)
		return reply_error(s, i, "the task is not running", "NotRunning");
	if (s->exec_ops->start(s->task, &er, &info, &why, &err) < 0) {
		log_info("client %d: exec %s refused: %s", s->clients[i], x->argv[0], berr_msg(err));
		return reply_error(s, i, berr_msg(err), shim_exec_error_code(why));
	}
	s->exec_id[i] = info.id;
	s->exec_session[i] = true;
	s->exec_pidfd[i] = info.pidfd;
	s->exec_pid[i] = info.pid;
	pid = info.pidfd >= 0 ? shim_pidfd_pid(info.pidfd) : 0;
	if (pid <= 0)
		pid = info.pid;
	log_info("client %d: exec %" PRIu64 " in %s: pid %d %s%s", s->clients[i], info.id,
		 info.container, (int)pid, x->argv[0], x->tty ? " (tty)" : "");
	msg = json_pack("{s:s, s:i, s:s}", "type", "exec-started", "pid", (int)pid, "container",
			info.container);
	return reply(s, i, msg);
}

/* A signal request from client i: to its exec'd process, never to its
 * process group. Nothing is answered; a process that has ended (or none)
 * is not an error: the client cannot know before it reads exec-exit. */
static void serve_signal(struct shim_server *s, size_t i, int sig)
{
	int r = -1;

	if (!s->exec_id[i]) {
		log_debug("client %d: signal %d ignored: no process of its runs", s->clients[i], sig);
		return;
	}
	errno = ESRCH;
	if (s->exec_pidfd[i] >= 0)
		r = (int)syscall(SYS_pidfd_send_signal, s->exec_pidfd[i], sig, NULL, 0);
	else if (s->exec_pid[i] > 0)
		/* our child, not reaped while exec_id is set: the pid is still its */
		r = kill(s->exec_pid[i], sig);
	if (r < 0 && errno != ESRCH) {
		log_warn("client %d: signal %d to exec %" PRIu64 ": %m", s->clients[i], sig, s->exec_id[i]);
		return;
	}
	log_info("client %d: exec %" PRIu64 " gets signal %d%s", s->clients[i], s->exec_id[i], sig,
		 r < 0 ? " (it has ended already)" : "");
}

void shim_server_exec_exit(void *arg, uint64_t id, int exit_code)
{
	struct shim_server *s = arg;

	for (size_t i = 0; i < s->n_clients; i++) {
		cleanup_json json_t *msg = NULL;

		if (s->exec_id[i] != id)
			continue;
		s->exec_id[i] = 0;
		s->exec_pidfd[i] = -1;
		s->exec_pid[i] = 0;
		log_info("client %d: exec %" PRIu64 " exited with code %d", s->clients[i], id, exit_code);
		msg = json_pack("{s:s, s:i}", "type", "exec-exit", "exitCode", exit_code);
		(void)reply(s, i, msg);
		return;
	}
	/* its client is gone */
}

/* The fds that came with a message (SCM_RIGHTS), at most 3 + 1 (one more
 * than any request takes, so that too many is seen as such). */
#define FDS_MAX 4

static size_t cmsg_fds(struct msghdr *mh, int *fds)
{
	size_t n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t j = 0; j < k; j++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
			if (n < FDS_MAX)
				fds[n++] = fd;
			else
				close(fd);
		}
	}
	return n;
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void serve_client(struct shim_server *s, size_t i)
{
	char *buf = s->rbuf;

	for (int k = 0; k < REQUESTS_PER_TURN; k++) {
		union {
			char buf[CMSG_SPACE(FDS_MAX * sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { .iov_base = buf, .iov_len = SHIM_REQUEST_MAX };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
				     .msg_controllen = sizeof(cbuf.buf) };
		cleanup_berr struct berr *err = NULL;
		struct shim_request req;
		int fds[FDS_MAX];
		size_t nfds;
		ssize_t r = recvmsg(s->clients[i], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		bool ok = true;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			drop(s, i, strerror(errno));
			return;
		}
		nfds = cmsg_fds(&mh, fds);
		if (r == 0 && nfds == 0) {
			drop(s, i, "it closed the connection");
			return;
		}
		if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			close_fds(fds, nfds);
			if (!reply_error(s, i, mh.msg_flags & MSG_TRUNC ?
					 "request longer than " SHIM_REQUEST_MAX_TEXT " bytes" :
					 "request with too many file descriptors", NULL))
				return;
			continue;
		}
		if (shim_request_parse(buf, (size_t)r, &req, &err) < 0 ||
		    shim_request_take_fds(&req, fds, nfds, &err) < 0) {
			close_fds(fds, nfds);
			if (!reply_error(s, i, berr_msg(err), req.op == SHIM_OP_EXEC || req.op == SHIM_OP_SIGNAL ?
					 "InvalidRequest" : NULL)) {
				shim_request_free(&req);
				return;
			}
			shim_request_free(&req);
			continue;
		}
		if (req.op == SHIM_OP_STATE) {
			if (s->last && !send_msg(s->clients[i], s->last, s->last_len)) {
				drop(s, i, send_error(errno));
				ok = false;
			}
		} else if (req.op == SHIM_OP_EXEC) {
			/* its fds are the process's now (or never will be): ours close */
			ok = serve_exec(s, i, &req);
		} else if (req.op == SHIM_OP_SIGNAL) {
			serve_signal(s, i, req.signal);
		} else if (!s->stop) {
			s->stop = true;
			s->stop_code = req.stop_code;
			s->stop_reason = steal_pointer(&req.reason);
			log_info("client %d asks to stop: %s", s->clients[i],
				 s->stop_reason ? s->stop_reason : "(no reason)");
		}
		shim_request_free(&req);
		if (!ok)
			return;
	}
}

bool shim_server_service(struct shim_server *s, const char **stop_code, char **stop_reason)
{
	struct epoll_event evs[16];
	int n;

	do {
		n = epoll_wait(s->epfd, evs, 16, 0);
		for (int k = 0; k < n; k++) {
			int fd = evs[k].data.fd;

			if (fd == s->listen_fd) {
				accept_all(s);
				continue;
			}
			{
				bool found = false;

				for (size_t i = 0; i < s->n_clients; i++)
					if (s->clients[i] == fd) {
						serve_client(s, i);
						found = true;
						break;
					}
				if (!found && s->on_fd)
					s->on_fd(s->fd_arg, fd, evs[k].events);
			}
		}
	} while (n == 16);
	if (!s->stop)
		return false;
	s->stop = false;
	*stop_code = s->stop_code;
	*stop_reason = steal_pointer(&s->stop_reason);
	return true;
}

void shim_server_on_state(void *arg, const struct trun_state *st)
{
	struct shim_server *s = arg;
	cleanup_berr struct berr *err = NULL;

	if (shim_server_publish(s, st, &err) < 0)
		log_warn("status: %s", berr_msg(err));
}

bool shim_server_on_ctl(void *arg, const char **stop_code, char **stop_reason)
{
	return shim_server_service(arg, stop_code, stop_reason);
}

void shim_server_on_attach(void *arg, struct trun *t)
{
	struct shim_server *s = arg;

	s->task = t;
}

void shim_server_close(struct shim_server *s)
{
	char buf[4096];

	if (s->listen_fd >= 0) {
		/* connections waiting in the backlog get the last word too */
		if (s->epfd >= 0)
			accept_all(s);
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	for (size_t i = 0; i < s->n_clients; i++) {
		/* read what they sent: closing over unread data would make
		 * their reads fail with ECONNRESET before our last message */
		while (recv(s->clients[i], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		close(s->clients[i]);
	}
	s->n_clients = 0;
	if (s->epfd >= 0)
		close(s->epfd);
	s->epfd = -1;
	free(s->last);
	s->last = NULL;
	free(s->status_path);
	s->status_path = NULL;
	free(s->stop_reason);
	s->stop_reason = NULL;
	free(s->rbuf);
	s->rbuf = NULL;
	s->task = NULL;
}
