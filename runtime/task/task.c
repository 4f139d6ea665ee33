/* runtime/task/task.c - see task.h
 *
 * Two passes: parse fills the struct (arrays allocated zeroed at their final
 * length before their entries are read, so task_def_free can run at any
 * point) and checks each value on its own; validate then checks what needs
 * the whole definition (names, references, sums, launch-type rules).
 * Internal errors carry only the JSON path; task_def_parse adds `what`. */
#include "runtime/task/task.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "runtime/creds/secrets.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CONTAINERS 10
#define MAX_NAME 255
/* User text in a message: see berr_q() (common/error.h). */
#define Q "%s"

struct ctx {
	enum task_mode mode;
	struct task_def *td;
	const char *warn_doc;   /* names the overrides document in its warnings */
};

/* ---------------------------------------------------------------- helpers */

static int __attribute__((format(printf, 4, 5)))
key_err(struct berr **err, const char *path, const char *key, const char *fmt, ...)
{
	cleanup_free char *p = bjson_path_key(path, key);
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(err, 0, "%s: %s", p, msg);
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static void add_warning(struct task_def *td, char *w)
{
	td->warnings = xreallocarray(td->warnings, td->n_warnings + 2, sizeof(char *));
	td->warnings[td->n_warnings++] = w;
	td->warnings[td->n_warnings] = NULL;
}

/* Every key of obj not in known becomes a warning. */
static void check_keys(struct ctx *c, const json_t *obj, const char *path,
		       const char *const *known)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)obj, k, v) {
		if (!in_list(k, known)) {
			cleanup_free char *p = bjson_path_key(path, k);

			add_warning(c->td, xasprintf("%s%s%s: unknown field, ignored",
						     c->warn_doc ? c->warn_doc : "",
						     c->warn_doc ? ": " : "", p));
		}
	}
}

static int get_str(const json_t *obj, const char *path, const char *key, bool required,
		   char **out, struct berr **err)
{
	const char *s = NULL;
	int r;

	r = bjson_get_string(obj, path, key, required, &s, err);
	if (r <= 0)
		return r;
	if (required && *s == '\0')
		return key_err(err, path, key, "must not be empty");
	*out = xstrdup(s);
	return 1;
}

/* An array of strings at obj.key; absent leaves *out untouched, or sets an
 * empty list when empty_if_absent. */
static int get_strv(const json_t *obj, const char *path, const char *key, bool empty_if_absent,
		    char ***out, struct berr **err)
{
	cleanup_free char *p = NULL;
	json_t *arr = NULL;
	int r;

	r = bjson_get_array(obj, path, key, false, &arr, err);
	if (r < 0)
		return r;
	if (r == 0) {
		if (empty_if_absent)
			*out = xcalloc(1, sizeof(char *));
		return 0;
	}
	p = bjson_path_key(path, key);
	r = bjson_strv(arr, p, out, err);
	return r < 0 ? r : 1;
}

/* An array of objects at obj.key: *n elements of `size` bytes allocated
 * zeroed in *items, each parsed by fn with its path. */
typedef int (*item_fn)(struct ctx *c, const json_t *item, const char *path, void *out,
		       struct berr **err);

static int get_items(struct ctx *c, const json_t *obj, const char *path, const char *key,
		     size_t size, void **items, size_t *n, item_fn fn, struct berr **err)
{
	cleanup_free char *p = NULL;
	json_t *arr = NULL, *x;
	size_t i;
	int r;

	r = bjson_get_array(obj, path, key, false, &arr, err);
	if (r <= 0)
		return r;
	p = bjson_path_key(path, key);
	*items = xcalloc(json_array_size(arr) + 1, size);
	*n = json_array_size(arr);
	json_array_foreach(arr, i, x) {
		cleanup_free char *ip = bjson_path_index(p, i);

		r = bjson_expect_object(x, ip, err);
		if (r < 0)
			return r;
		r = fn(c, x, ip, (char *)*items + i * size, err);
		if (r < 0)
			return r;
	}
	return 1;
}

static bool ip_valid(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > MAX_NAME)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* ------------------------------------------------------- names and units */

static const char *const capabilities[] = {
	"ALL", "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF",
	"CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID",
	"IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN",
	"MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW",
	"PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN", "SYS_BOOT",
	"SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM", NULL,
};

static const char *const ulimit_names[] = {
	"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
	"nproc", "rss", "rtprio", "rttime", "sigpending", "stack", NULL,
};

bool task_capability_valid(const char *name)
{
	return in_list(name, capabilities);
}

bool task_ulimit_name_valid(const char *name)
{
	return in_list(name, ulimit_names);
}

const char *task_network_mode_name(enum task_network_mode m)
{
	switch (m) {
	case TASK_NET_BRIDGE:
		return "bridge";
	case TASK_NET_HOST:
		return "host";
	case TASK_NET_AWSVPC:
		return "awsvpc";
	case TASK_NET_NONE:
		return "none";
	}
	return "?";
}

const char *task_dep_condition_name(enum task_dep_condition c)
{
	switch (c) {
	case TASK_DEP_START:
		return "START";
	case TASK_DEP_COMPLETE:
		return "COMPLETE";
	case TASK_DEP_SUCCESS:
		return "SUCCESS";
	case TASK_DEP_HEALTHY:
		return "HEALTHY";
	}
	return "?";
}

/* "<digits>[.<digits>][ ]<unit>" with unit one of units (case-insensitive,
 * "" for none), times its factor; the result must be a whole number. */
static int parse_amount(const char *s, const char *path, const char *const *units,
			const int64_t *factors, const char *what, int64_t *out, struct berr **err)
{
	int64_t ip = 0, frac = 0, div = 1;
	const char *p = s;
	size_t nd = 0;

	while (*p >= '0' && *p <= '9') {
		if (ip > 100000000)
			goto bad;
		ip = ip * 10 + (*p++ - '0');
		nd++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (div >= 1000000)
				goto bad;
			frac = frac * 10 + (*p++ - '0');
			div *= 10;
			nd++;
		}
	}
	if (nd == 0)
		goto bad;
	while (*p == ' ')
		p++;
	for (size_t i = 0; units[i]; i++) {
		if (strcasecmp(p, units[i]) == 0) {
			int64_t f = factors[i], v;

			if ((frac * f) % div != 0)
				return berr_set(err, 0, "%s: \"" Q "\" is not a whole number of %s",
						path, berr_q(s), what);
			v = ip * f + frac * f / div;
			if (v <= 0)
				return berr_set(err, 0, "%s: \"" Q "\" must be positive", path, berr_q(s));
			*out = v;
			return 0;
		}
	}
bad:
	return berr_set(err, 0, "%s: \"" Q "\" is not a valid %s value", path, berr_q(s), what);
}

int task_parse_cpu(const char *s, const char *path, int64_t *out, struct berr **err)
{
	static const char *const units[] = { "", "vcpu", NULL };
	static const int64_t factors[] = { 1, 1024 };

	return parse_amount(s, path, units, factors, "cpu (units, or \"N vCPU\")", out, err);
}

int task_parse_memory(const char *s, const char *path, int64_t *out, struct berr **err)
{
	static const char *const units[] = { "", "mb", "mib", "gb", "gib", NULL };
	static const int64_t factors[] = { 1, 1, 1, 1024, 1024 };

	return parse_amount(s, path, units, factors, "memory (MiB, or \"N GB\")", out, err);
}

/* Task-level cpu / memory: a string as ECS takes it, or a plain integer. */
static int get_amount(const json_t *obj, const char *key, bool cpu, int64_t *out,
		      struct berr **err)
{
	json_t *v = json_object_get(obj, key);
	cleanup_free char *num = NULL;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		num = xasprintf("%lld", (long long)json_integer_value(v));
	} else if (!json_is_string(v)) {
		return berr_set(err, 0, "%s: expected string, got %s", key, bjson_type_name(v));
	}
	return (cpu ? task_parse_cpu : task_parse_memory)(num ? num : json_string_value(v), key,
							   out, err);
}

/* ---------------------------------------------------------- containers */

static int parse_kv(struct ctx *c, const json_t *o, const char *path, void *out,
		    struct berr **err)
{
	static const char *const known[] = { "name", "value", NULL };
	struct task_kv *kv = out;
	int r;

	check_keys(c, o, path, known);
	r = get_str(o, path, "name", true, &kv->name, err);
	if (r < 0)
		return r;
	r = get_str(o, path, "value", false, &kv->value, err);
	if (r < 0)
		return r;
	if (kv->value == NULL)
		kv->value = xstrdup("");
	return 0;
}

static int parse_env_file(struct ctx *c, const json_t *o, const char *path, void *out,
			  struct berr **err)
{
	static const char *const known[] = { "value", "type", NULL };
	struct task_env_file *f = out;
	int r;

	check_keys(c, o, path, known);
	r = get_str(o, path, "value", true, &f->value, err);
	if (r < 0)
		return r;
	r = get_str(o, path, "type", true, &f->type, err);
	if (r < 0)
		return r;
	if (strcmp(f->type, "s3") != 0)
		return key_err(err, path, "type", "\"" Q "\" is not valid (s3)", berr_q(f->type));
	return 0;
}

/* secrets[]: {name, valueFrom}; valueFrom's syntax is checked here, what it
 * names only when berthd starts the task (runtime/creds/secrets.h). */
static int parse_secret(struct ctx *c, const json_t *o, const char *path, void *out,
			struct berr **err)
{
	static const char *const known[] = { "name", "valueFrom", NULL };
	struct task_secret *sec = out;
	struct secret_ref ref;
	int r;

	check_keys(c, o, path, known);
	if ((r = get_str(o, path, "name", true, &sec->name, err)) < 0)
		return r;
	if (!secret_env_name_valid(sec->name))
		return key_err(err, path, "name", "\"" Q "\" is not an environment variable name "
			       "(1-255 bytes, no '=', spaces or control characters)", berr_q(sec->name));
	if ((r = get_str(o, path, "valueFrom", true, &sec->value_from, err)) < 0)
		return r;
	if (secret_ref_parse(sec->value_from, &ref, err) < 0) {
		cleanup_free char *p = bjson_path_key(path, "valueFrom");

		return berr_wrap(err, "%s", p);
	}
	secret_ref_free(&ref);
	return 0;
}

static int parse_port(struct ctx *c, const json_t *o, const char *path, void *out,
		      struct berr **err)
{
	static const char *const known[] = { "containerPort", "hostPort", "protocol", "name",
		"appProtocol", "containerPortRange", NULL };
	static const char *const protos[] = { "tcp", "udp", NULL };
	static const char *const app_protos[] = { "http", "http2", "grpc", NULL };
	struct task_port_mapping *pm = out;
	int r;

	check_keys(c, o, path, known);
	if (json_object_get(o, "containerPortRange"))
		return key_err(err, path, "containerPortRange", "not supported by berth");
	r = bjson_get_int_range(o, path, "containerPort", true, 1, 65535, &pm->container_port, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "hostPort", false, 0, 65535, &pm->host_port, err);
	if (r < 0)
		return r;
	r = get_str(o, path, "protocol", false, &pm->protocol, err);
	if (r < 0)
		return r;
	if (pm->protocol == NULL)
		pm->protocol = xstrdup("tcp");
	if (!in_list(pm->protocol, protos))
		return key_err(err, path, "protocol", "\"" Q "\" is not valid (tcp, udp)",
			       berr_q(pm->protocol));
	r = get_str(o, path, "name", false, &pm->name, err);
	if (r < 0)
		return r;
	r = get_str(o, path, "appProtocol", false, &pm->app_protocol, err);
	if (r < 0)
		return r;
	if (pm->app_protocol && !in_list(pm->app_protocol, app_protos))
		return key_err(err, path, "appProtocol", "\"" Q "\" is not valid (http, http2, grpc)",
			       berr_q(pm->app_protocol));
	if (pm->app_protocol && pm->name == NULL)
		return key_err(err, path, "appProtocol", "requires name");
	return 0;
}

static int parse_mount_point(struct ctx *c, const json_t *o, const char *path, void *out,
			     struct berr **err)
{
	static const char *const known[] = { "sourceVolume", "containerPath", "readOnly", NULL };
	struct task_mount_point *m = out;
	int r;

	check_keys(c, o, path, known);
	r = get_str(o, path, "sourceVolume", true, &m->source_volume, err);
	if (r < 0)
		return r;
	r = get_str(o, path, "containerPath", true, &m->container_path, err);
	if (r < 0)
		return r;
	if (m->container_path[0] != '/')
		return key_err(err, path, "containerPath", "must be an absolute path");
	r = bjson_get_bool(o, path, "readOnly", false, &m->read_only, err);
	return r < 0 ? r : 0;
}

static int parse_volume_from(struct ctx *c, const json_t *o, const char *path, void *out,
			     struct berr **err)
{
	static const char *const known[] = { "sourceContainer", "readOnly", NULL };
	struct task_volume_from *v = out;
	int r;

	check_keys(c, o, path, known);
	r = get_str(o, path, "sourceContainer", true, &v->source_container, err);
	if (r < 0)
		return r;
	r = bjson_get_bool(o, path, "readOnly", false, &v->read_only, err);
	return r < 0 ? r : 0;
}

static int parse_depends_on(struct ctx *c, const json_t *o, const char *path, void *out,
			    struct berr **err)
{
	static const char *const known[] = { "containerName", "condition", NULL };
	static const char *const conds[] = { "START", "COMPLETE", "SUCCESS", "HEALTHY", NULL };
	struct task_depends_on *d = out;
	const char *cond = NULL;
	int r;

	check_keys(c, o, path, known);
	r = get_str(o, path, "containerName", true, &d->container_name, err);
	if (r < 0)
		return r;
	r = bjson_get_string(o, path, "condition", true, &cond, err);
	if (r < 0)
		return r;
	for (size_t i = 0; conds[i]; i++) {
		if (strcmp(cond, conds[i]) == 0) {
			d->condition = (enum task_dep_condition)i;
			return 0;
		}
	}
	return key_err(err, path, "condition",
		       "\"" Q "\" is not valid (START, COMPLETE, SUCCESS, HEALTHY)", berr_q(cond));
}

static int parse_health_check(struct ctx *c, const json_t *o, const char *path,
			      struct task_health_check *h, struct berr **err)
{
	static const char *const known[] = { "command", "interval", "timeout", "retries",
		"startPeriod", NULL };
	cleanup_free char *cp = bjson_path_key(path, "command");
	json_t *arr = NULL;
	int r;

	check_keys(c, o, path, known);
	h->set = true;
	h->interval = 30;
	h->timeout = 5;
	h->retries = 3;
	h->start_period = 0;
	r = bjson_get_array(o, path, "command", true, &arr, err);
	if (r < 0)
		return r;
	r = bjson_strv(arr, cp, &h->command, err);
	if (r < 0)
		return r;
	if (h->command[0] == NULL)
		return berr_set(err, 0, "%s: must not be empty", cp);
	if (strcmp(h->command[0], "CMD") != 0 && strcmp(h->command[0], "CMD-SHELL") != 0)
		return berr_set(err, 0, "%s[0]: must be CMD or CMD-SHELL, got \"" Q "\"", cp,
				berr_q(h->command[0]));
	if (h->command[1] == NULL)
		return berr_set(err, 0, "%s: %s needs a command after it", cp, h->command[0]);
	r = bjson_get_int_range(o, path, "interval", false, 5, 300, &h->interval, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "timeout", false, 2, 60, &h->timeout, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "retries", false, 1, 10, &h->retries, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "startPeriod", false, 0, 300, &h->start_period, err);
	return r < 0 ? r : 0;
}

static int parse_tmpfs(struct ctx *c, const json_t *o, const char *path, void *out,
		       struct berr **err)
{
	static const char *const known[] = { "containerPath", "size", "mountOptions", NULL };
	struct task_tmpfs *t = out;
	int r;

	check_keys(c, o, path, known);
	r = get_strv(o, path, "mountOptions", true, &t->mount_options, err);
	if (r < 0)
		return r;
	r = get_str(o, path, "containerPath", true, &t->container_path, err);
	if (r < 0)
		return r;
	if (t->container_path[0] != '/')
		return key_err(err, path, "containerPath", "must be an absolute path");
	r = bjson_get_int_range(o, path, "size", true, 1, INT32_MAX, &t->size, err);
	return r < 0 ? r : 0;
}

static int parse_device(struct ctx *c, const json_t *o, const char *path, void *out,
			struct berr **err)
{
	static const char *const known[] = { "hostPath", "containerPath", "permissions", NULL };
	static const char *const perms[] = { "read", "write", "mknod", NULL };
	struct task_device *d = out;
	int r;

	check_keys(c, o, path, known);
	r = get_strv(o, path, "permissions", true, &d->permissions, err);
	if (r < 0)
		return r;
	for (size_t i = 0; d->permissions[i]; i++) {
		if (!in_list(d->permissions[i], perms)) {
			cleanup_free char *pp = bjson_path_key(path, "permissions");

			return berr_set(err, 0, "%s[%zu]: \"" Q "\" is not valid (read, write, mknod)",
					pp, i, berr_q(d->permissions[i]));
		}
	}
	r = get_str(o, path, "hostPath", true, &d->host_path, err);
	if (r < 0)
		return r;
	if (d->host_path[0] != '/')
		return key_err(err, path, "hostPath", "must be an absolute path");
	r = get_str(o, path, "containerPath", false, &d->container_path, err);
	if (r < 0)
		return r;
	if (d->container_path && d->container_path[0] != '/')
		return key_err(err, path, "containerPath", "must be an absolute path");
	return 0;
}

static int parse_cap_list(const json_t *o, const char *path, const char *key, char ***out,
			  struct berr **err)
{
	int r = get_strv(o, path, key, true, out, err);

	if (r < 0)
		return r;
	for (size_t i = 0; (*out)[i]; i++) {
		if (!task_capability_valid((*out)[i])) {
			cleanup_free char *p = bjson_path_key(path, key);

			return berr_set(err, 0, "%s[%zu]: \"" Q "\" is not a capability name "
					"(as ECS takes them: SYS_PTRACE, without CAP_)", p, i,
					berr_q((*out)[i]));
		}
	}
	return 0;
}

static int parse_linux_params(struct ctx *c, const json_t *o, const char *path,
			      struct task_linux_params *lp, struct berr **err)
{
	static const char *const known[] = { "capabilities", "devices", "initProcessEnabled",
		"sharedMemorySize", "tmpfs", "maxSwap", "swappiness", NULL };
	static const char *const cap_known[] = { "add", "drop", NULL };
	json_t *caps = NULL;
	int r;

	check_keys(c, o, path, known);
	r = bjson_get_object(o, path, "capabilities", false, &caps, err);
	if (r < 0)
		return r;
	if (caps) {
		cleanup_free char *cp = bjson_path_key(path, "capabilities");

		check_keys(c, caps, cp, cap_known);
		r = parse_cap_list(caps, cp, "add", &lp->cap_add, err);
		if (r < 0)
			return r;
		r = parse_cap_list(caps, cp, "drop", &lp->cap_drop, err);
		if (r < 0)
			return r;
	}
	r = bjson_get_bool(o, path, "initProcessEnabled", false, &lp->init_process_enabled, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "sharedMemorySize", false, 1, INT32_MAX,
				&lp->shared_memory_size, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "maxSwap", false, 0, INT32_MAX, &lp->max_swap, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "swappiness", false, 0, 100, &lp->swappiness, err);
	if (r < 0)
		return r;
	r = get_items(c, o, path, "tmpfs", sizeof(struct task_tmpfs), (void **)&lp->tmpfs,
		      &lp->n_tmpfs, parse_tmpfs, err);
	if (r < 0)
		return r;
	r = get_items(c, o, path, "devices", sizeof(struct task_device), (void **)&lp->devices,
		      &lp->n_devices, parse_device, err);
	return r < 0 ? r : 0;
}

static int parse_ulimit(struct ctx *c, const json_t *o, const char *path, void *out,
			struct berr **err)
{
	static const char *const known[] = { "name", "softLimit", "hardLimit", NULL };
	struct task_ulimit *u = out;
	int r;

	check_keys(c, o, path, known);
	r = get_str(o, path, "name", true, &u->name, err);
	if (r < 0)
		return r;
	if (!task_ulimit_name_valid(u->name))
		return key_err(err, path, "name", "\"" Q "\" is not a ulimit name (core, cpu, data, "
			       "fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, "
			       "rttime, sigpending, stack)", berr_q(u->name));
	r = bjson_get_int_range(o, path, "softLimit", true, 0, INT64_MAX, &u->soft_limit, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "hardLimit", true, 0, INT64_MAX, &u->hard_limit, err);
	if (r < 0)
		return r;
	if (u->soft_limit > u->hard_limit)
		return key_err(err, path, "softLimit", "%lld is above hardLimit (%lld)",
			       (long long)u->soft_limit, (long long)u->hard_limit);
	return 0;
}

static int parse_restart_policy(struct ctx *c, const json_t *o, const char *path,
				struct task_restart_policy *rp, struct berr **err)
{
	static const char *const known[] = { "enabled", "ignoredExitCodes",
		"restartAttemptPeriod", NULL };
	cleanup_free char *ip = bjson_path_key(path, "ignoredExitCodes");
	json_t *arr = NULL, *x;
	size_t i;
	int r;

	check_keys(c, o, path, known);
	r = bjson_get_bool(o, path, "enabled", true, &rp->enabled, err);
	if (r < 0)
		return r;
	r = bjson_get_int_range(o, path, "restartAttemptPeriod", false, 60, 1800,
				&rp->restart_attempt_period, err);
	if (r < 0)
		return r;
	r = bjson_get_array(o, path, "ignoredExitCodes", false, &arr, err);
	if (r <= 0)
		return r;
	if (json_array_size(arr) > 50)
		return berr_set(err, 0, "%s: at most 50 exit codes", ip);
	rp->ignored_exit_codes = xcalloc(json_array_size(arr) + 1, sizeof(int64_t));
	json_array_foreach(arr, i, x) {
		if (!json_is_integer(x)) {
			cleanup_free char *p = bjson_path_index(ip, i);

			return berr_set(err, 0, "%s: expected integer, got %s", p,
					bjson_type_name(x));
		}
		rp->ignored_exit_codes[rp->n_ignored_exit_codes++] = json_integer_value(x);
	}
	return 0;
}

static int parse_labels(const json_t *o, const char *path, struct task_container *ct,
			struct berr **err)
{
	cleanup_free char *lp = bjson_path_key(path, "dockerLabels");
	json_t *labels = NULL, *v;
	const char *k;
	int r;

	r = bjson_get_object(o, path, "dockerLabels", false, &labels, err);
	if (r <= 0)
		return r;
	ct->docker_labels = xcalloc(json_object_size(labels) + 1, sizeof(struct task_kv));
	json_object_foreach(labels, k, v) {
		if (!json_is_string(v)) {
			cleanup_free char *p = bjson_path_key(lp, k);

			return berr_set(err, 0, "%s: expected string, got %s", p, bjson_type_name(v));
		}
		ct->docker_labels[ct->n_docker_labels].name = xstrdup(k);
		ct->docker_labels[ct->n_docker_labels++].value = xstrdup(json_string_value(v));
	}
	return 0;
}

/* "10m", "1g", "512k", "4096": docker's json-file max-size; bytes. */
static int parse_log_size(const char *v, int64_t *out)
{
	char *end;
	long long n;
	int64_t mul = 1;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || n <= 0)
		return -1;
	if (*end) {
		switch (*end | 0x20) {
		case 'k': mul = 1024; break;
		case 'm': mul = 1024 * 1024; break;
		case 'g': mul = 1024 * 1024 * 1024; break;
		default: return -1;
		}
		if (end[1] && !((end[1] | 0x20) == 'b' && !end[2]))
			return -1;
	}
	if (n > INT64_MAX / mul)
		return -1;
	*out = n * mul;
	return 0;
}

/* logConfiguration: every driver ends in berth's local JSON-lines file
 * (docs/logs.md); json-file's and local's max-size / max-file set its
 * rotation, other drivers' options are kept for the record. */
static int parse_log_config(const json_t *o, const char *path, struct task_container *ct,
			    struct berr **err)
{
	static const char *const drivers[] = {
		"awslogs", "fluentd", "gelf", "json-file", "journald", "logentries", "splunk",
		"syslog", "awsfirelens", "local", "none", NULL,
	};
	cleanup_free char *lp = bjson_path_key(path, "logConfiguration");
	cleanup_free char *op = NULL;
	json_t *lc = NULL, *opts = NULL, *v;
	const char *driver = NULL, *k;
	size_t i;
	int r;

	ct->log_max_bytes = TASK_UNSET;
	ct->log_max_files = TASK_UNSET;
	r = bjson_get_object(o, path, "logConfiguration", false, &lc, err);
	if (r <= 0)
		return r;
	if ((r = bjson_get_string(lc, lp, "logDriver", true, &driver, err)) < 0)
		return r;
	for (i = 0; drivers[i] && strcmp(drivers[i], driver); i++)
		;
	if (!drivers[i])
		return berr_set(err, 0, "%s.logDriver: \"%s\" is not a log driver ECS knows "
				"(awslogs, json-file, fluentd, ...)", lp, berr_q(driver));
	ct->log_driver = xstrdup(driver);
	if ((r = bjson_get_object(lc, lp, "options", false, &opts, err)) < 0)
		return r;
	op = bjson_path_key(lp, "options");
	json_object_foreach(opts, k, v) {
		cleanup_free char *kp = bjson_path_key(op, k);

		if (!json_is_string(v))
			return berr_set(err, 0, "%s: expected string, got %s", kp, bjson_type_name(v));
		if (strcmp(driver, "json-file") && strcmp(driver, "local"))
			continue;
		if (!strcmp(k, "max-size") &&
		    (parse_log_size(json_string_value(v), &ct->log_max_bytes) < 0 ||
		     ct->log_max_bytes < 4096))
			return berr_set(err, 0, "%s: \"%s\" is not a size of at least 4k "
					"(e.g. \"10m\")", kp, berr_q(json_string_value(v)));
		if (!strcmp(k, "max-file")) {
			char *end;
			long n;

			errno = 0;
			n = strtol(json_string_value(v), &end, 10);
			if (errno || *end || n < 1 || n > 100)
				return berr_set(err, 0, "%s: \"%s\" is not a count of files (1-100)", kp,
						berr_q(json_string_value(v)));
			ct->log_max_files = n;
		}
	}
	return 0;
}

/* Fields ECS knows that Fargate refuses and berth does not model. */
static const char *const fargate_refused[] = {
	"links", "extraHosts", "dnsServers", "dnsSearchDomains", "disableNetworking",
	"dockerSecurityOptions", NULL,
};

static int parse_extra_host(struct ctx *c, const json_t *o, const char *path, void *out,
			    struct berr **err)
{
	static const char *const known[] = { "hostname", "ipAddress", NULL };
	struct task_kv *kv = out;
	int r;

	check_keys(c, o, path, known);
	if ((r = get_str(o, path, "hostname", true, &kv->name, err)) < 0)
		return r;
	if (strpbrk(kv->name, " \t\n\r#") != NULL)
		return key_err(err, path, "hostname", "\"" Q "\" is not a host name", berr_q(kv->name));
	if ((r = get_str(o, path, "ipAddress", true, &kv->value, err)) < 0)
		return r;
	if (!ip_valid(kv->value))
		return key_err(err, path, "ipAddress", "\"" Q "\" is not an IP address", berr_q(kv->value));
	return 0;
}

static int parse_dns(const json_t *o, const char *path, struct task_container *ct,
		     struct berr **err)
{
	int r;

	if ((r = get_strv(o, path, "dnsServers", true, &ct->dns_servers, err)) < 0)
		return r;
	for (size_t i = 0; ct->dns_servers[i]; i++) {
		if (!ip_valid(ct->dns_servers[i])) {
			cleanup_free char *p = bjson_path_key(path, "dnsServers");

			return berr_set(err, 0, "%s[%zu]: \"" Q "\" is not an IP address", p, i,
					berr_q(ct->dns_servers[i]));
		}
	}
	if ((r = get_strv(o, path, "dnsSearchDomains", true, &ct->dns_search_domains, err)) < 0)
		return r;
	for (size_t i = 0; ct->dns_search_domains[i]; i++) {
		const char *d = ct->dns_search_domains[i];

		if (*d == '\0' || strlen(d) > 253 || strpbrk(d, " \t\n\r") != NULL) {
			cleanup_free char *p = bjson_path_key(path, "dnsSearchDomains");

			return berr_set(err, 0, "%s[%zu]: \"" Q "\" is not a domain name", p, i, berr_q(d));
		}
	}
	return 0;
}

/* Known container fields berth does not model: accepted without a warning
 * (and for the Fargate-only ones, checked in validate). */
static const char *const container_known[] = {
	"name", "image", "cpu", "memory", "memoryReservation", "essential", "entryPoint",
	"command", "environment", "environmentFiles", "portMappings", "mountPoints",
	"volumesFrom", "dependsOn", "healthCheck", "workingDirectory", "user",
	"readonlyRootFilesystem", "privileged", "linuxParameters", "ulimits", "hostname",
	"stopTimeout", "startTimeout", "dockerLabels", "restartPolicy", "extraHosts",
	"dnsServers", "dnsSearchDomains", "disableNetworking", "logConfiguration", "secrets",
	/* not modelled */
	"repositoryCredentials", "links", "systemControls",
	"interactive", "pseudoTerminal", "dockerSecurityOptions", "firelensConfiguration",
	"resourceRequirements", "credentialSpecs", "versionConsistency", NULL,
};

static int parse_container(struct ctx *c, const json_t *o, const char *path, void *out,
			   struct berr **err)
{
	struct task_container *ct = out;
	json_t *sub = NULL;
	int r;

	ct->memory = TASK_UNSET;
	ct->memory_reservation = TASK_UNSET;
	ct->stop_timeout = TASK_UNSET;
	ct->start_timeout = TASK_UNSET;
	ct->essential = true;
	ct->linux_parameters.shared_memory_size = TASK_UNSET;
	ct->linux_parameters.max_swap = TASK_UNSET;
	ct->linux_parameters.swappiness = TASK_UNSET;
	ct->restart_policy.restart_attempt_period = TASK_UNSET;
	check_keys(c, o, path, container_known);
	for (size_t k = 0; fargate_refused[k] && !ct->fargate_refused_field; k++) {
		json_t *v = json_object_get(o, fargate_refused[k]);

		if (v && !json_is_null(v) && !json_is_false(v))
			ct->fargate_refused_field = fargate_refused[k];
	}

	if ((r = get_str(o, path, "name", true, &ct->name, err)) < 0)
		return r;
	if (!name_valid(ct->name))
		return key_err(err, path, "name", "\"" Q "\" must be 1-255 letters, digits, "
			       "hyphens and underscores", berr_q(ct->name));
	if ((r = get_str(o, path, "image", true, &ct->image, err)) < 0)
		return r;
	if ((r = bjson_get_int_range(o, path, "cpu", false, 0, 262144, &ct->cpu, err)) < 0)
		return r;
	if ((r = bjson_get_int_range(o, path, "memory", false, 6, INT32_MAX, &ct->memory,
				     err)) < 0)
		return r;
	if ((r = bjson_get_int_range(o, path, "memoryReservation", false, 6, INT32_MAX,
				     &ct->memory_reservation, err)) < 0)
		return r;
	if ((r = bjson_get_bool(o, path, "essential", false, &ct->essential, err)) < 0)
		return r;
	if ((r = get_strv(o, path, "entryPoint", false, &ct->entry_point, err)) < 0)
		return r;
	if ((r = get_strv(o, path, "command", false, &ct->command, err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "environment", sizeof(struct task_kv),
			   (void **)&ct->environment, &ct->n_environment, parse_kv, err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "environmentFiles", sizeof(struct task_env_file),
			   (void **)&ct->environment_files, &ct->n_environment_files,
			   parse_env_file, err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "secrets", sizeof(struct task_secret),
			   (void **)&ct->secrets, &ct->n_secrets, parse_secret, err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "portMappings", sizeof(struct task_port_mapping),
			   (void **)&ct->port_mappings, &ct->n_port_mappings, parse_port,
			   err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "mountPoints", sizeof(struct task_mount_point),
			   (void **)&ct->mount_points, &ct->n_mount_points, parse_mount_point,
			   err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "volumesFrom", sizeof(struct task_volume_from),
			   (void **)&ct->volumes_from, &ct->n_volumes_from, parse_volume_from,
			   err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "dependsOn", sizeof(struct task_depends_on),
			   (void **)&ct->depends_on, &ct->n_depends_on, parse_depends_on,
			   err)) < 0)
		return r;
	if ((r = bjson_get_object(o, path, "healthCheck", false, &sub, err)) < 0)
		return r;
	if (r > 0) {
		cleanup_free char *p = bjson_path_key(path, "healthCheck");

		if ((r = parse_health_check(c, sub, p, &ct->health_check, err)) < 0)
			return r;
	}
	if ((r = get_str(o, path, "workingDirectory", false, &ct->working_directory, err)) < 0)
		return r;
	if (ct->working_directory && ct->working_directory[0] != '/')
		return key_err(err, path, "workingDirectory", "must be an absolute path");
	if ((r = get_str(o, path, "user", false, &ct->user, err)) < 0)
		return r;
	if ((r = bjson_get_bool(o, path, "readonlyRootFilesystem", false,
				&ct->readonly_root_filesystem, err)) < 0)
		return r;
	if ((r = bjson_get_bool(o, path, "privileged", false, &ct->privileged, err)) < 0)
		return r;
	sub = NULL;
	if ((r = bjson_get_object(o, path, "linuxParameters", false, &sub, err)) < 0)
		return r;
	if (r > 0) {
		cleanup_free char *p = bjson_path_key(path, "linuxParameters");

		if ((r = parse_linux_params(c, sub, p, &ct->linux_parameters, err)) < 0)
			return r;
	}
	if ((r = get_items(c, o, path, "ulimits", sizeof(struct task_ulimit),
			   (void **)&ct->ulimits, &ct->n_ulimits, parse_ulimit, err)) < 0)
		return r;
	if ((r = get_str(o, path, "hostname", false, &ct->hostname, err)) < 0)
		return r;
	if ((r = get_items(c, o, path, "extraHosts", sizeof(struct task_kv),
			   (void **)&ct->extra_hosts, &ct->n_extra_hosts, parse_extra_host,
			   err)) < 0)
		return r;
	if ((r = parse_dns(o, path, ct, err)) < 0)
		return r;
	if ((r = bjson_get_bool(o, path, "disableNetworking", false, &ct->disable_networking,
				err)) < 0)
		return r;
	if ((r = bjson_get_int_range(o, path, "stopTimeout", false, 0, INT32_MAX,
				     &ct->stop_timeout, err)) < 0)
		return r;
	if ((r = bjson_get_int_range(o, path, "startTimeout", false, 0, INT32_MAX,
				     &ct->start_timeout, err)) < 0)
		return r;
	if ((r = parse_labels(o, path, ct, err)) < 0)
		return r;
	if ((r = parse_log_config(o, path, ct, err)) < 0)
		return r;
	sub = NULL;
	if ((r = bjson_get_object(o, path, "restartPolicy", false, &sub, err)) < 0)
		return r;
	if (r > 0) {
		cleanup_free char *p = bjson_path_key(path, "restartPolicy");

		ct->has_restart_policy = true;
		if ((r = parse_restart_policy(c, sub, p, &ct->restart_policy, err)) < 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------- task level */

static int parse_volume(struct ctx *c, const json_t *o, const char *path, void *out,
			struct berr **err)
{
	static const char *const known[] = { "name", "host", "dockerVolumeConfiguration",
		"efsVolumeConfiguration", "fsxWindowsFileServerVolumeConfiguration",
		"configuredAtLaunch", NULL };
	static const char *const host_known[] = { "sourcePath", NULL };
	struct task_volume *v = out;
	json_t *host = NULL;
	int r;

	check_keys(c, o, path, known);
	if ((r = get_str(o, path, "name", true, &v->name, err)) < 0)
		return r;
	if (!name_valid(v->name))
		return key_err(err, path, "name", "\"" Q "\" must be 1-255 letters, digits, "
			       "hyphens and underscores", berr_q(v->name));
	if (json_object_get(o, "efsVolumeConfiguration") ||
	    json_object_get(o, "fsxWindowsFileServerVolumeConfiguration") ||
	    json_object_get(o, "dockerVolumeConfiguration"))
		return berr_set(err, 0, "%s: only host and task-scoped volumes are supported by berth",
				path);
	if ((r = bjson_get_object(o, path, "host", false, &host, err)) < 0)
		return r;
	if (host) {
		cleanup_free char *hp = bjson_path_key(path, "host");

		check_keys(c, host, hp, host_known);
		if ((r = get_str(host, hp, "sourcePath", false, &v->host_source_path, err)) < 0)
			return r;
		if (v->host_source_path && v->host_source_path[0] != '/')
			return key_err(err, hp, "sourcePath", "must be an absolute path");
	}
	return 0;
}

static const char *const task_known[] = {
	"family", "containerDefinitions", "taskRoleArn", "executionRoleArn", "networkMode",
	"requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode", "ephemeralStorage",
	"runtimePlatform", "volumes",
	/* not modelled */
	"placementConstraints", "tags", "proxyConfiguration", "inferenceAccelerators",
	/* DescribeTaskDefinition output, fed back as input */
	"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt", NULL,
};

static int parse_ns_mode(const json_t *o, const char *key, bool allow_none,
			 enum task_ns_mode *out, struct berr **err)
{
	const char *s = NULL;
	int r = bjson_get_string(o, "", key, false, &s, err);

	if (r <= 0)
		return r;
	if (strcmp(s, "host") == 0)
		*out = TASK_NS_HOST;
	else if (strcmp(s, "task") == 0)
		*out = TASK_NS_TASK;
	else if (allow_none && strcmp(s, "none") == 0)
		*out = TASK_NS_NONE;
	else
		return berr_set(err, 0, "%s: \"" Q "\" is not valid (%s)", key, berr_q(s),
				allow_none ? "host, task, none" : "host, task");
	return 0;
}

/* placementConstraints: not modelled, but only memberOf is valid in a task
 * definition. */
static int check_placement(const json_t *root, struct berr **err)
{
	json_t *arr = NULL, *x;
	size_t i;
	int r;

	r = bjson_get_array(root, "", "placementConstraints", false, &arr, err);
	if (r <= 0)
		return r;
	json_array_foreach(arr, i, x) {
		cleanup_free char *p = bjson_path_index("placementConstraints", i);
		const char *type = NULL;

		if ((r = bjson_expect_object(x, p, err)) < 0)
			return r;
		if ((r = bjson_get_string(x, p, "type", true, &type, err)) < 0)
			return r;
		if (strcmp(type, "memberOf") != 0)
			return key_err(err, p, "type", "\"" Q "\" is not valid in a task definition "
				       "(memberOf)", berr_q(type));
	}
	return 0;
}

static int parse_task(struct ctx *c, const json_t *root, struct berr **err)
{
	static const char *const eph_known[] = { "sizeInGiB", NULL };
	static const char *const rp_known[] = { "cpuArchitecture", "operatingSystemFamily", NULL };
	static const char *const compat[] = { "EC2", "FARGATE", "EXTERNAL", NULL };
	struct task_def *td = c->td;
	const char *nm = NULL;
	json_t *sub = NULL, *arr = NULL;
	int r;

	if ((r = bjson_expect_object(root, "task definition", err)) < 0)
		return r;
	check_keys(c, root, "", task_known);
	if ((r = get_str(root, "", "family", true, &td->family, err)) < 0)
		return r;
	if (!name_valid(td->family))
		return berr_set(err, 0, "family: \"" Q "\" must be 1-255 letters, digits, hyphens "
				"and underscores", berr_q(td->family));
	if ((r = get_str(root, "", "taskRoleArn", false, &td->task_role_arn, err)) < 0)
		return r;
	if ((r = get_str(root, "", "executionRoleArn", false, &td->execution_role_arn, err)) < 0)
		return r;
	if ((r = bjson_get_string(root, "", "networkMode", false, &nm, err)) < 0)
		return r;
	td->network_mode = TASK_NET_BRIDGE;
	if (nm) {
		for (int m = TASK_NET_BRIDGE; m <= TASK_NET_NONE; m++)
			if (strcmp(nm, task_network_mode_name(m)) == 0)
				td->network_mode = m;
		if (strcmp(nm, task_network_mode_name(td->network_mode)) != 0)
			return berr_set(err, 0, "networkMode: \"" Q "\" is not valid (bridge, host, "
					"awsvpc, none)", berr_q(nm));
	}
	if ((r = get_strv(root, "", "requiresCompatibilities", true,
			  &td->requires_compatibilities, err)) < 0)
		return r;
	for (size_t i = 0; td->requires_compatibilities[i]; i++)
		if (!in_list(td->requires_compatibilities[i], compat))
			return berr_set(err, 0, "requiresCompatibilities[%zu]: \"" Q "\" is not valid "
					"(EC2, FARGATE, EXTERNAL)", i,
					berr_q(td->requires_compatibilities[i]));
	if ((r = get_amount(root, "cpu", true, &td->cpu, err)) < 0)
		return r;
	if ((r = get_amount(root, "memory", false, &td->memory, err)) < 0)
		return r;
	if ((r = parse_ns_mode(root, "pidMode", false, &td->pid_mode, err)) < 0)
		return r;
	if ((r = parse_ns_mode(root, "ipcMode", true, &td->ipc_mode, err)) < 0)
		return r;
	if ((r = bjson_get_object(root, "", "ephemeralStorage", false, &sub, err)) < 0)
		return r;
	if (sub) {
		check_keys(c, sub, "ephemeralStorage", eph_known);
		if ((r = bjson_get_int_range(sub, "ephemeralStorage", "sizeInGiB", true, 21, 200,
					     &td->ephemeral_storage_gib, err)) < 0)
			return r;
	}
	sub = NULL;
	if ((r = bjson_get_object(root, "", "runtimePlatform", false, &sub, err)) < 0)
		return r;
	if (sub) {
		check_keys(c, sub, "runtimePlatform", rp_known);
		if ((r = get_str(sub, "runtimePlatform", "cpuArchitecture", false,
				 &td->cpu_architecture, err)) < 0)
			return r;
		if (td->cpu_architecture && strcmp(td->cpu_architecture, "X86_64") != 0 &&
		    strcmp(td->cpu_architecture, "ARM64") != 0)
			return berr_set(err, 0, "runtimePlatform.cpuArchitecture: \"" Q "\" is not "
					"valid (X86_64, ARM64)", berr_q(td->cpu_architecture));
		if ((r = get_str(sub, "runtimePlatform", "operatingSystemFamily", false,
				 &td->os_family, err)) < 0)
			return r;
		if (td->os_family && strcmp(td->os_family, "LINUX") != 0)
			return berr_set(err, 0, "runtimePlatform.operatingSystemFamily: \"" Q "\" is "
					"not supported (berth runs LINUX)", berr_q(td->os_family));
	}
	if ((r = check_placement(root, err)) < 0)
		return r;
	if ((r = get_items(c, root, "", "volumes", sizeof(struct task_volume),
			   (void **)&td->volumes, &td->n_volumes, parse_volume, err)) < 0)
		return r;
	if ((r = bjson_get_array(root, "", "containerDefinitions", true, &arr, err)) < 0)
		return r;
	if (json_array_size(arr) == 0)
		return berr_set(err, 0, "containerDefinitions: must hold at least one container");
	if (json_array_size(arr) > MAX_CONTAINERS)
		return berr_set(err, 0, "containerDefinitions: %zu containers, at most %d allowed",
				json_array_size(arr), MAX_CONTAINERS);
	r = get_items(c, root, "", "containerDefinitions", sizeof(struct task_container),
		      (void **)&td->containers, &td->n_containers, parse_container, err);
	return r < 0 ? r : 0;
}

/* ----------------------------------------------------------- validation */

static int container_index(const struct task_def *td, const char *name)
{
	for (size_t i = 0; i < td->n_containers; i++)
		if (strcmp(td->containers[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Depth-first search for a dependsOn cycle through container i;
 * state: 0 unvisited, 1 on the current path, 2 done. */
static int find_cycle(const struct task_def *td, size_t i, unsigned char *state)
{
	const struct task_container *ct = &td->containers[i];

	state[i] = 1;
	for (size_t d = 0; d < ct->n_depends_on; d++) {
		int j = container_index(td, ct->depends_on[d].container_name);

		if (j < 0 || state[j] == 2)
			continue;
		if (state[j] == 1 || find_cycle(td, (size_t)j, state) < 0)
			return -1;
	}
	state[i] = 2;
	return 0;
}

static bool fargate_pair_ok(int64_t cpu, int64_t mem)
{
	static const struct {
		int64_t cpu, lo, hi, step;
	} t[] = {
		{ 512, 1024, 4096, 1024 },     { 1024, 2048, 8192, 1024 },
		{ 2048, 4096, 16384, 1024 },   { 4096, 8192, 30720, 1024 },
		{ 8192, 16384, 61440, 4096 },  { 16384, 32768, 122880, 8192 },
	};

	if (cpu == 256)
		return mem == 512 || mem == 1024 || mem == 2048;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (cpu == t[i].cpu)
			return mem >= t[i].lo && mem <= t[i].hi && (mem - t[i].lo) % t[i].step == 0;
	return false;
}

static int validate_fargate_container(const struct task_container *ct, const char *cp,
				      struct berr **err)
{
	const struct task_linux_params *lp = &ct->linux_parameters;
	cleanup_free char *lpp = bjson_path_key(cp, "linuxParameters");

	if (ct->fargate_refused_field)
		return key_err(err, cp, ct->fargate_refused_field, "not supported by Fargate");
	if (ct->privileged)
		return key_err(err, cp, "privileged", "not supported by Fargate");
	if (lp->n_devices)
		return key_err(err, lpp, "devices", "not supported by Fargate");
	if (lp->n_tmpfs)
		return key_err(err, lpp, "tmpfs", "not supported by Fargate");
	if (lp->shared_memory_size != TASK_UNSET)
		return key_err(err, lpp, "sharedMemorySize", "not supported by Fargate");
	if (lp->max_swap != TASK_UNSET)
		return key_err(err, lpp, "maxSwap", "not supported by Fargate");
	if (lp->swappiness != TASK_UNSET)
		return key_err(err, lpp, "swappiness", "not supported by Fargate");
	for (size_t k = 0; lp->cap_add && lp->cap_add[k]; k++) {
		if (strcmp(lp->cap_add[k], "SYS_PTRACE") != 0) {
			cleanup_free char *cp2 = bjson_path_key(lpp, "capabilities");
			cleanup_free char *ap = bjson_path_key(cp2, "add");

			return berr_set(err, 0, "%s[%zu]: Fargate only supports adding SYS_PTRACE, "
					"not " Q, ap, k, berr_q(lp->cap_add[k]));
		}
	}
	if (ct->stop_timeout != TASK_UNSET && (ct->stop_timeout < 2 || ct->stop_timeout > 120))
		return key_err(err, cp, "stopTimeout", "%lld out of range [2, 120] on Fargate",
			       (long long)ct->stop_timeout);
	return 0;
}

static int validate_container(struct ctx *c, size_t i, int64_t *cpu_sum,
			      struct berr **err)
{
	const struct task_def *td = c->td;
	const struct task_container *ct = &td->containers[i];
	cleanup_free char *cp = bjson_path_index("containerDefinitions", i);
	bool vpc_or_host = td->network_mode == TASK_NET_AWSVPC || td->network_mode == TASK_NET_HOST;
	int r;

	if (container_index(td, ct->name) != (int)i)
		return key_err(err, cp, "name", "\"%s\" is already used by containerDefinitions[%d]",
			       ct->name, container_index(td, ct->name));
	for (size_t k = 0; k < ct->n_secrets; k++) {
		cleanup_free char *sp = bjson_path_key(cp, "secrets");
		cleanup_free char *ip = bjson_path_index(sp, k);

		for (size_t j = 0; j < k; j++)
			if (!strcmp(ct->secrets[j].name, ct->secrets[k].name))
				return key_err(err, ip, "name", "\"%s\" is already the name of "
					       "secrets[%zu]", ct->secrets[k].name, j);
		for (size_t j = 0; j < ct->n_environment; j++)
			if (!strcmp(ct->environment[j].name, ct->secrets[k].name))
				return key_err(err, ip, "name", "\"%s\" is also in environment[%zu]: "
					       "a variable comes from one of them", ct->secrets[k].name, j);
	}
	if (ct->memory != TASK_UNSET && ct->memory_reservation > ct->memory)
		return key_err(err, cp, "memoryReservation",
			       "%lld must not be above memory (%lld)",
			       (long long)ct->memory_reservation, (long long)ct->memory);
	if (td->memory == TASK_UNSET && ct->memory == TASK_UNSET &&
	    ct->memory_reservation == TASK_UNSET)
		return berr_set(err, 0, "%s: Invalid setting for container '%s'. At least one of "
				"'memory' or 'memoryReservation' must be specified.", cp, ct->name);
	if (td->memory != TASK_UNSET && ct->memory > td->memory)
		return key_err(err, cp, "memory", "%lld MiB is above the task's memory (%lld MiB)",
			       (long long)ct->memory, (long long)td->memory);
	if (td->memory != TASK_UNSET && ct->memory_reservation > td->memory)
		return key_err(err, cp, "memoryReservation",
			       "%lld MiB is above the task's memory (%lld MiB)",
			       (long long)ct->memory_reservation, (long long)td->memory);
	*cpu_sum += ct->cpu;

	for (size_t p = 0; p < ct->n_port_mappings; p++) {
		const struct task_port_mapping *pm = &ct->port_mappings[p];
		cleanup_free char *pl = bjson_path_key(cp, "portMappings");
		cleanup_free char *pp = bjson_path_index(pl, p);

		if (vpc_or_host && pm->host_port != 0 && pm->host_port != pm->container_port)
			return key_err(err, pp, "hostPort",
				       "must equal containerPort (%lld) when networkMode is %s",
				       (long long)pm->container_port,
				       task_network_mode_name(td->network_mode));
		if (td->network_mode == TASK_NET_NONE)
			return berr_set(err, 0, "%s: port mappings are not allowed when networkMode is none",
					pp);
		/* the same port twice in the task cannot be bound twice */
		for (size_t j = 0; j <= i; j++) {
			const struct task_container *o = &td->containers[j];

			for (size_t q = 0; q < (j == i ? p : o->n_port_mappings); q++) {
				const struct task_port_mapping *x = &o->port_mappings[q];
				int64_t a = vpc_or_host ? pm->container_port : pm->host_port;
				int64_t b = vpc_or_host ? x->container_port : x->host_port;

				if (a != 0 && a == b && strcmp(pm->protocol, x->protocol) == 0)
					return berr_set(err, 0, "%s: port %lld/%s is already mapped by "
							"containerDefinitions[%zu].portMappings[%zu]",
							pp, (long long)a, pm->protocol, j, q);
			}
		}
	}
	for (size_t m = 0; m < ct->n_mount_points; m++) {
		const char *sv = ct->mount_points[m].source_volume;
		bool found = false;

		for (size_t v = 0; v < td->n_volumes; v++)
			found |= strcmp(td->volumes[v].name, sv) == 0;
		if (!found) {
			cleanup_free char *ml = bjson_path_key(cp, "mountPoints");
			cleanup_free char *mp = bjson_path_index(ml, m);

			return key_err(err, mp, "sourceVolume", "\"" Q "\" is not a volume of the task",
				       berr_q(sv));
		}
	}
	for (size_t v = 0; v < ct->n_volumes_from; v++) {
		const char *sc = ct->volumes_from[v].source_container;
		cleanup_free char *vl = bjson_path_key(cp, "volumesFrom");
		cleanup_free char *vp = bjson_path_index(vl, v);

		if (container_index(td, sc) < 0)
			return key_err(err, vp, "sourceContainer", "\"" Q "\" is not a container of "
				       "the task", berr_q(sc));
		if (strcmp(sc, ct->name) == 0)
			return key_err(err, vp, "sourceContainer", "a container cannot mount its own volumes");
	}
	for (size_t d = 0; d < ct->n_depends_on; d++) {
		const struct task_depends_on *dep = &ct->depends_on[d];
		cleanup_free char *dl = bjson_path_key(cp, "dependsOn");
		cleanup_free char *dp = bjson_path_index(dl, d);
		int j = container_index(td, dep->container_name);

		if (j < 0)
			return key_err(err, dp, "containerName", "\"" Q "\" is not a container of the task",
				       berr_q(dep->container_name));
		if (j == (int)i)
			return key_err(err, dp, "containerName", "a container cannot depend on itself");
		if (dep->condition == TASK_DEP_HEALTHY && !td->containers[j].health_check.set)
			return key_err(err, dp, "condition", "HEALTHY needs a healthCheck in container \"%s\"",
				       dep->container_name);
		if ((dep->condition == TASK_DEP_COMPLETE || dep->condition == TASK_DEP_SUCCESS) &&
		    td->containers[j].essential)
			return key_err(err, dp, "condition", "%s cannot be used with an essential "
				       "container (\"%s\" is essential)",
				       task_dep_condition_name(dep->condition), dep->container_name);
	}
	for (size_t u = 0; u < ct->n_ulimits; u++) {
		for (size_t w = 0; w < u; w++) {
			if (strcmp(ct->ulimits[u].name, ct->ulimits[w].name) == 0) {
				cleanup_free char *ul = bjson_path_key(cp, "ulimits");
				cleanup_free char *up = bjson_path_index(ul, u);

				return key_err(err, up, "name", "%s is already set by ulimits[%zu]",
					       ct->ulimits[u].name, w);
			}
		}
	}
	if (td->network_mode == TASK_NET_AWSVPC && c->mode == TASK_MODE_EC2) {
		if (ct->n_extra_hosts)
			return key_err(err, cp, "extraHosts", "not supported when networkMode is awsvpc");
		if (ct->dns_servers[0])
			return key_err(err, cp, "dnsServers", "not supported when networkMode is awsvpc");
		if (ct->dns_search_domains[0])
			return key_err(err, cp, "dnsSearchDomains",
				       "not supported when networkMode is awsvpc");
	}
	if (ct->hostname && td->network_mode == TASK_NET_AWSVPC)
		return key_err(err, cp, "hostname", "not supported when networkMode is awsvpc");
	if (ct->hostname && td->network_mode == TASK_NET_HOST)
		return key_err(err, cp, "hostname", "not supported when networkMode is host");
	if (c->mode == TASK_MODE_FARGATE && (r = validate_fargate_container(ct, cp, err)) < 0)
		return r;
	return 0;
}

static int validate(struct ctx *c, struct berr **err)
{
	struct task_def *td = c->td;
	cleanup_free unsigned char *state = xcalloc(td->n_containers, 1);
	bool essential = false;
	int64_t cpu_sum = 0;
	int r;

	if (c->mode == TASK_MODE_FARGATE) {
		if (td->network_mode != TASK_NET_AWSVPC)
			return berr_set(err, 0, "networkMode: Fargate only supports network mode 'awsvpc'");
		if (td->cpu == TASK_UNSET)
			return berr_set(err, 0, "cpu: required by Fargate");
		if (td->memory == TASK_UNSET)
			return berr_set(err, 0, "memory: required by Fargate");
		if (!fargate_pair_ok(td->cpu, td->memory))
			return berr_set(err, 0, "memory: No Fargate configuration exists for given "
					"values: %lld CPU, %lld memory", (long long)td->cpu,
					(long long)td->memory);
		if (td->pid_mode == TASK_NS_HOST)
			return berr_set(err, 0, "pidMode: host is not supported by Fargate");
		if (td->ipc_mode != TASK_NS_UNSET)
			return berr_set(err, 0, "ipcMode: not supported by Fargate");
		for (size_t v = 0; v < td->n_volumes; v++)
			if (td->volumes[v].host_source_path)
				return berr_set(err, 0, "volumes[%zu].host.sourcePath: not supported by "
						"Fargate", v);
	}
	for (size_t v = 0; v < td->n_volumes; v++)
		for (size_t w = 0; w < v; w++)
			if (strcmp(td->volumes[v].name, td->volumes[w].name) == 0)
				return berr_set(err, 0, "volumes[%zu].name: \"%s\" is already used by "
						"volumes[%zu]", v, td->volumes[v].name, w);
	for (size_t i = 0; i < td->n_containers; i++) {
		r = validate_container(c, i, &cpu_sum, err);
		if (r < 0)
			return r;
		essential |= td->containers[i].essential;
	}
	if (!essential)
		return berr_set(err, 0, "containerDefinitions: at least one container must be "
				"essential");
	if (td->cpu != TASK_UNSET && cpu_sum > td->cpu)
		return berr_set(err, 0, "containerDefinitions: the containers' cpu adds up to %lld, "
				"above the task's cpu (%lld)", (long long)cpu_sum, (long long)td->cpu);
	for (size_t i = 0; i < td->n_containers; i++)
		if (state[i] == 0 && find_cycle(td, i, state) < 0)
			return berr_set(err, 0, "containerDefinitions[%zu].dependsOn: dependency cycle "
					"through container \"%s\"", i, td->containers[i].name);
	return 0;
}

/* ----------------------------------------------------------- public API */

/* ------------------------------------------------------------ overrides */

static void kv_free(struct task_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].name);
		free(kv[i].value);
	}
	free(kv);
}

static void secrets_free(struct task_secret *sec, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(sec[i].name);
		free(sec[i].value_from);
		if (sec[i].value) {
			explicit_bzero(sec[i].value, sec[i].value_len);
			free(sec[i].value);
		}
	}
	free(sec);
}

static void env_files_free(struct task_env_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].value);
		free(f[i].type);
	}
	free(f);
}


static int override_container(struct ctx *c, const json_t *o, const char *path, void *out,
			      struct berr **err)
{
	static const char *const known[] = { "name", "command", "environment",
		"environmentFiles", "cpu", "memory", "memoryReservation", "resourceRequirements",
		NULL };
	struct task_def *td = c->td;
	struct task_container *ct;
	struct task_kv *env = NULL;
	struct task_env_file *files = NULL;
	char **cmd = NULL;
	size_t n_env = 0, n_files = 0;
	const char *name = NULL;
	int r, i;

	(void)out;
	check_keys(c, o, path, known);
	if ((r = bjson_get_string(o, path, "name", true, &name, err)) < 0)
		return r;
	i = container_index(td, name);
	if (i < 0)
		return key_err(err, path, "name", "\"" Q "\" is not a container of the task", berr_q(name));
	ct = &td->containers[i];
	if ((r = bjson_get_int_range(o, path, "cpu", false, 0, 262144, &ct->cpu, err)) < 0)
		return r;
	if ((r = bjson_get_int_range(o, path, "memory", false, 6, INT32_MAX, &ct->memory, err)) < 0)
		return r;
	if ((r = bjson_get_int_range(o, path, "memoryReservation", false, 6, INT32_MAX,
				     &ct->memory_reservation, err)) < 0)
		return r;
	if ((r = get_strv(o, path, "command", false, &cmd, err)) < 0) {
		strv_free(cmd);
		return r;
	}
	if (r > 0) {
		strv_free(ct->command);
		ct->command = cmd;
	}
	/* environment: an override of a name replaces its value, new names follow */
	r = get_items(c, o, path, "environment", sizeof(struct task_kv), (void **)&env, &n_env,
		      parse_kv, err);
	for (size_t e = 0; r >= 0 && e < n_env; e++) {
		size_t k;

		for (k = 0; k < ct->n_environment; k++)
			if (strcmp(ct->environment[k].name, env[e].name) == 0)
				break;
		if (k == ct->n_environment) {
			ct->environment = xreallocarray(ct->environment, ++ct->n_environment,
							sizeof(struct task_kv));
			ct->environment[k].name = steal_pointer(&env[e].name);
		} else {
			free(ct->environment[k].value);
		}
		ct->environment[k].value = steal_pointer(&env[e].value);
	}
	kv_free(env, n_env);
	if (r < 0)
		return r;
	r = get_items(c, o, path, "environmentFiles", sizeof(struct task_env_file),
		      (void **)&files, &n_files, parse_env_file, err);
	for (size_t f = 0; r >= 0 && f < n_files; f++) {
		ct->environment_files = xreallocarray(ct->environment_files,
						      ct->n_environment_files + 1,
						      sizeof(struct task_env_file));
		ct->environment_files[ct->n_environment_files++] = files[f];
		memset(&files[f], 0, sizeof(files[f]));
	}
	env_files_free(files, n_files);
	return r < 0 ? r : 0;
}

static int apply_overrides(struct ctx *c, const json_t *root, struct berr **err)
{
	static const char *const known[] = { "containerOverrides", "cpu", "memory",
		"taskRoleArn", "executionRoleArn", "ephemeralStorage",
		"inferenceAcceleratorOverrides", NULL };
	struct task_def *td = c->td;
	json_t *eph = NULL;
	void *unused = NULL;
	size_t n = 0;
	const char *s = NULL;
	int r;

	if ((r = bjson_expect_object(root, "overrides", err)) < 0)
		return r;
	check_keys(c, root, "", known);
	if ((r = bjson_get_string(root, "", "taskRoleArn", false, &s, err)) < 0)
		return r;
	if (r > 0) {
		free(td->task_role_arn);
		td->task_role_arn = xstrdup(s);
	}
	if ((r = bjson_get_string(root, "", "executionRoleArn", false, &s, err)) < 0)
		return r;
	if (r > 0) {
		free(td->execution_role_arn);
		td->execution_role_arn = xstrdup(s);
	}
	if ((r = get_amount(root, "cpu", true, &td->cpu, err)) < 0)
		return r;
	if ((r = get_amount(root, "memory", false, &td->memory, err)) < 0)
		return r;
	if ((r = bjson_get_object(root, "", "ephemeralStorage", false, &eph, err)) < 0)
		return r;
	if (eph && (r = bjson_get_int_range(eph, "ephemeralStorage", "sizeInGiB", true, 21, 200,
					    &td->ephemeral_storage_gib, err)) < 0)
		return r;
	/* each entry edits the container it names; get_items' array is unused */
	r = get_items(c, root, "", "containerOverrides", 1, &unused, &n, override_container, err);
	free(unused);
	return r < 0 ? r : 0;
}

/* ----------------------------------------------------------- public API */

static int parse_doc(const char *buf, size_t len, const char *what, const char *ovr,
		     size_t ovr_len, const char *ovr_what, enum task_mode mode,
		     struct task_def **out, struct berr **err)
{
	cleanup_json json_t *root = NULL;
	cleanup_json json_t *oroot = NULL;
	struct task_def *td = xzalloc(sizeof(*td));
	struct ctx c = { .mode = mode, .td = td };
	int r;

	*out = NULL;
	td->cpu = TASK_UNSET;
	td->memory = TASK_UNSET;
	td->ephemeral_storage_gib = TASK_UNSET;
	td->warnings = xcalloc(1, sizeof(char *));
	r = bjson_load_buf(what, buf, len, &root, err);
	if (r < 0)
		goto fail;
	r = parse_task(&c, root, err);
	if (r < 0) {
		berr_wrap(err, "%s", what);
		goto fail;
	}
	if (ovr) {
		r = bjson_load_buf(ovr_what, ovr, ovr_len, &oroot, err);
		if (r < 0)
			goto fail;
		c.warn_doc = ovr_what;
		r = apply_overrides(&c, oroot, err);
		if (r < 0) {
			berr_wrap(err, "%s", ovr_what);
			goto fail;
		}
	}
	r = validate(&c, err);
	if (r < 0) {
		if (ovr)
			berr_wrap(err, "%s with %s", what, ovr_what);
		else
			berr_wrap(err, "%s", what);
		goto fail;
	}
	*out = td;
	return 0;
fail:
	task_def_free(td);
	return r;
}

int task_def_parse(const char *buf, size_t len, const char *what, enum task_mode mode,
		   struct task_def **out, struct berr **err)
{
	return parse_doc(buf, len, what ? what : "task definition", NULL, 0, NULL, mode, out, err);
}

int task_def_parse_with_overrides(const char *buf, size_t len, const char *what,
				  const char *ovr, size_t ovr_len, const char *ovr_what,
				  enum task_mode mode, struct task_def **out, struct berr **err)
{
	return parse_doc(buf, len, what ? what : "task definition", ovr, ovr_len,
			 ovr_what ? ovr_what : "overrides", mode, out, err);
}

static void container_free(struct task_container *ct)
{
	struct task_linux_params *lp = &ct->linux_parameters;

	free(ct->name);
	free(ct->image);
	strv_free(ct->entry_point);
	strv_free(ct->command);
	kv_free(ct->environment, ct->n_environment);
	secrets_free(ct->secrets, ct->n_secrets);
	env_files_free(ct->environment_files, ct->n_environment_files);
	for (size_t i = 0; i < ct->n_port_mappings; i++) {
		free(ct->port_mappings[i].protocol);
		free(ct->port_mappings[i].name);
		free(ct->port_mappings[i].app_protocol);
	}
	free(ct->port_mappings);
	for (size_t i = 0; i < ct->n_mount_points; i++) {
		free(ct->mount_points[i].source_volume);
		free(ct->mount_points[i].container_path);
	}
	free(ct->mount_points);
	for (size_t i = 0; i < ct->n_volumes_from; i++)
		free(ct->volumes_from[i].source_container);
	free(ct->volumes_from);
	for (size_t i = 0; i < ct->n_depends_on; i++)
		free(ct->depends_on[i].container_name);
	free(ct->depends_on);
	strv_free(ct->health_check.command);
	free(ct->working_directory);
	free(ct->user);
	strv_free(lp->cap_add);
	strv_free(lp->cap_drop);
	for (size_t i = 0; i < lp->n_tmpfs; i++) {
		free(lp->tmpfs[i].container_path);
		strv_free(lp->tmpfs[i].mount_options);
	}
	free(lp->tmpfs);
	for (size_t i = 0; i < lp->n_devices; i++) {
		free(lp->devices[i].host_path);
		free(lp->devices[i].container_path);
		strv_free(lp->devices[i].permissions);
	}
	free(lp->devices);
	for (size_t i = 0; i < ct->n_ulimits; i++)
		free(ct->ulimits[i].name);
	free(ct->ulimits);
	free(ct->hostname);
	kv_free(ct->extra_hosts, ct->n_extra_hosts);
	strv_free(ct->dns_servers);
	strv_free(ct->dns_search_domains);
	kv_free(ct->docker_labels, ct->n_docker_labels);
	free(ct->log_driver);
	free(ct->restart_policy.ignored_exit_codes);
}

void task_def_free(struct task_def *td)
{
	if (td == NULL)
		return;
	free(td->family);
	free(td->task_role_arn);
	free(td->execution_role_arn);
	strv_free(td->requires_compatibilities);
	free(td->cpu_architecture);
	free(td->os_family);
	for (size_t i = 0; i < td->n_volumes; i++) {
		free(td->volumes[i].name);
		free(td->volumes[i].host_source_path);
	}
	free(td->volumes);
	for (size_t i = 0; i < td->n_containers; i++)
		container_free(&td->containers[i]);
	free(td->containers);
	strv_free(td->warnings);
	free(td);
}
