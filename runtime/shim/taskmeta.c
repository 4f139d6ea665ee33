/* runtime/shim/taskmeta.c - the task endpoint in the shim (taskmeta.h). */
#include "runtime/shim/taskmeta.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "cgroups/cgroup.h"
#include "netns/nft.h"
#include "netns/nl.h"
#include "runtime/creds/endpoint.h"
#include "runtime/creds/issuer.h"
#include "runtime/creds/roles.h"

#define EP_ADDR_HOST 0xa9feaa02u   /* 169.254.170.2 */

struct shim_meta {
	/* configuration */
	char *task_arn, *cluster_arn, *region, *az, *launch_type, *family, *revision;
	char *role_arn;
	enum creds_source_kind source;
	int64_t duration;
	const struct task_def *td;
	/* ids and environment */
	bool have_role;
	bool host_mode;    /* the endpoint is on the host's loopback, with a token */
	char token[65];
	int port;
	char creds_id[CREDS_EP_ID_LEN + 1];
	char (*ids)[CREDS_EP_ID_LEN + 1];
	char ***env;
	/* credentials */
	uint8_t host_key[CREDS_HOST_KEY_LEN];
	struct creds_session cs;
	bool have_cs;
	struct creds_static_keys keys;
	/* stats: the task's cgroup (NULL: none, noLimits) and each container's
	 * previous reading, for precpu_stats */
	char *cgroup_path;
	struct prev_cpu {
		bool have;
		uint64_t total, kernel, user, system;
		double read;
	} *prev;
	/* serving */
	int epfd, listen_fd;
	struct creds_ep *ep;
	json_t *task;      /* the last published state's "task" */
};

static int get_str(const json_t *o, const char *key, bool required, char **out, struct berr **err)
{
	const char *s = NULL;
	int r = bjson_get_string(o, "endpoint", key, required, &s, err);

	if (r > 0)
		*out = xstrdup(s);
	return r;
}

static void env_add(char ***v, size_t *n, char *kv)
{
	*v = xreallocarray(*v, *n + 2, sizeof(**v));
	(*v)[(*n)++] = kv;
	(*v)[*n] = NULL;
}

static int make_ep(struct shim_meta *m, struct berr **err);

/* host mode: a listener on the host's loopback, on a port the kernel picks,
 * and the token a credentials request must carry */
static int open_host_listener(struct shim_meta *m, struct berr **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	unsigned char b[32];
	int fd;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return berr_set(err, errno ? errno : EIO, "endpoint: getrandom");
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(m->token + 2 * i, 3, "%02x", b[i]);
	explicit_bzero(b, sizeof(b));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "endpoint: socket");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		int e = errno;

		close(fd);
		return berr_set(err, e, "endpoint: listen on the host's loopback");
	}
	m->listen_fd = fd;
	m->port = ntohs(sa.sin_port);
	m->host_mode = true;
	return make_ep(m, err);
}

int shim_meta_new(const json_t *endpoint, const struct task_def *td, struct shim_meta **out,
		  struct berr **err)
{
	struct shim_meta *m = xzalloc(sizeof(*m));
	cleanup_free char *host_key_file = NULL, *static_file = NULL, *source = NULL;
	json_t *role = NULL;
	int r;

	m->td = td;
	m->epfd = -1;
	m->listen_fd = -1;
	m->duration = CREDS_TTL_DEFAULT;
	if ((r = bjson_expect_object(endpoint, "endpoint", err)) < 0 ||
	    (r = get_str(endpoint, "taskArn", true, &m->task_arn, err)) < 0 ||
	    (r = get_str(endpoint, "clusterArn", true, &m->cluster_arn, err)) < 0 ||
	    (r = get_str(endpoint, "region", true, &m->region, err)) < 0 ||
	    (r = get_str(endpoint, "launchType", true, &m->launch_type, err)) < 0 ||
	    (r = get_str(endpoint, "family", true, &m->family, err)) < 0 ||
	    (r = get_str(endpoint, "revision", true, &m->revision, err)) < 0 ||
	    (r = get_str(endpoint, "availabilityZone", false, &m->az, err)) < 0 ||
	    (r = get_str(endpoint, "hostKeyFile", false, &host_key_file, err)) < 0 ||
	    (r = get_str(endpoint, "roleCredentialsFile", false, &static_file, err)) < 0 ||
	    (r = get_str(endpoint, "cgroupPath", false, &m->cgroup_path, err)) < 0 ||
	    (r = bjson_get_object(endpoint, "endpoint", "role", false, &role, err)) < 0)
		goto fail;
	if (role) {
		if ((r = get_str(role, "roleArn", true, &m->role_arn, err)) < 0 ||
		    (r = get_str(role, "source", true, &source, err)) < 0 ||
		    (r = bjson_get_int_range(role, "endpoint.role", "durationSeconds", false, CREDS_TTL_MIN,
					     CREDS_TTL_MAX, &m->duration, err)) < 0)
			goto fail;
		m->have_role = true;
		if (!strcmp(source, "berth")) {
			m->source = CREDS_SOURCE_BERTH;
			if (!host_key_file) {
				r = berr_set(err, EINVAL, "endpoint.hostKeyFile: needed for a \"berth\" role");
				goto fail;
			}
			if ((r = creds_host_key_load_or_create(host_key_file, m->host_key, err)) < 0)
				goto fail;
		} else if (!strcmp(source, "static")) {
			m->source = CREDS_SOURCE_STATIC;
			if (!static_file) {
				r = berr_set(err, EINVAL, "endpoint.roleCredentialsFile: needed for a static role");
				goto fail;
			}
			if ((r = creds_static_keys_load(static_file, m->role_arn, &m->keys, err)) < 0)
				goto fail;
		} else {
			r = berr_set(err, EINVAL, "endpoint.role.source: \"%s\": expected \"berth\" or \"static\"",
				     berr_q(source));
			goto fail;
		}
		creds_ep_new_id(m->creds_id);
	}
	m->ids = xcalloc(td->n_containers + 1, sizeof(*m->ids));
	m->env = xcalloc(td->n_containers + 1, sizeof(*m->env));
	m->prev = xcalloc(td->n_containers + 1, sizeof(*m->prev));
	for (size_t i = 0; i < td->n_containers; i++)
		creds_ep_new_id(m->ids[i]);
	if (td->network_mode == TASK_NET_HOST && (r = open_host_listener(m, err)) < 0)
		goto fail;
	for (size_t i = 0; i < td->n_containers; i++) {
		cleanup_free char *base = m->host_mode ? xasprintf("http://127.0.0.1:%d", m->port)
						      : xasprintf("http://%s", CREDS_EP_ADDR);
		size_t n = 0;

		env_add(&m->env[i], &n, xasprintf("ECS_CONTAINER_METADATA_URI_V4=%s/v4/%s", base, m->ids[i]));
		env_add(&m->env[i], &n, xasprintf("ECS_CONTAINER_METADATA_URI=%s/v4/%s", base, m->ids[i]));
		if (m->have_role && m->host_mode) {
			/* host mode: the containers share the host's loopback, so
			 * the credentials also need the task's token (as ECS's
			 * FULL_URI endpoints do) */
			env_add(&m->env[i], &n, xasprintf("AWS_CONTAINER_CREDENTIALS_FULL_URI=%s/v2/credentials/%s",
							 base, m->creds_id));
			env_add(&m->env[i], &n, xasprintf("AWS_CONTAINER_AUTHORIZATION_TOKEN=%s", m->token));
		} else if (m->have_role) {
			env_add(&m->env[i], &n, xasprintf("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/%s",
							 m->creds_id));
		}
		env_add(&m->env[i], &n, xasprintf("AWS_REGION=%s", m->region));
		env_add(&m->env[i], &n, xasprintf("AWS_DEFAULT_REGION=%s", m->region));
		env_add(&m->env[i], &n, xasprintf("AWS_EXECUTION_ENV=%s", !strcmp(m->launch_type, "FARGATE")
						 ? "AWS_ECS_FARGATE" : "AWS_ECS_EC2"));
	}
	*out = m;
	return 0;
fail:
	shim_meta_free(m);
	return r < 0 ? r : -EINVAL;
}

void shim_meta_free(struct shim_meta *m)
{
	if (!m)
		return;
	creds_ep_free(m->ep);   /* takes the listener out of the epoll set */
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	free(m->task_arn);
	free(m->cluster_arn);
	free(m->region);
	free(m->az);
	free(m->launch_type);
	free(m->family);
	free(m->revision);
	free(m->role_arn);
	free(m->cgroup_path);
	free(m->prev);
	if (m->env)
		for (size_t i = 0; m->td && i < m->td->n_containers; i++)
			strv_free(m->env[i]);
	free(m->env);
	free(m->ids);
	if (m->have_cs)
		creds_session_clear(&m->cs);
	creds_static_keys_clear(&m->keys);
	explicit_bzero(m->host_key, sizeof(m->host_key));
	explicit_bzero(m->token, sizeof(m->token));
	json_decref(m->task);
	free(m);
}

const char *const *const *shim_meta_container_env(const struct shim_meta *m)
{
	return (const char *const *const *)m->env;
}

void shim_meta_set_epfd(struct shim_meta *m, int epfd)
{
	cleanup_berr struct berr *err = NULL;

	m->epfd = epfd;
	if (m->ep && creds_ep_attach(m->ep, epfd, &err) < 0)
		log_warn("%s", berr_msg(err));
}

void shim_meta_on_state(struct shim_meta *m, const json_t *task)
{
	json_decref(m->task);
	m->task = task ? json_deep_copy(task) : NULL;
}

/* ------------------------------------------------------------ documents */

json_t *shim_meta_credentials(struct shim_meta *m, char **message)
{
	char exp[CREDS_ISO8601_LEN + 1];
	int64_t now = (int64_t)time(NULL);

	if (!m->have_role) {
		*message = xstrdup("the task has no role (taskRoleArn)");
		return NULL;
	}
	if (m->source == CREDS_SOURCE_STATIC) {
		/* static keys do not expire; SDKs want an expiration: an hour
		 * ahead, so they come back for the (same) keys now and then */
		creds_iso8601(now + 3600, exp);
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "RoleArn", m->role_arn, "AccessKeyId",
				 m->keys.access_key_id, "SecretAccessKey", m->keys.secret_access_key, "Token",
				 m->keys.session_token ? m->keys.session_token : "", "Expiration", exp);
	}
	if (!m->have_cs || creds_should_refresh(&m->cs.claims, now)) {
		struct creds_session fresh;
		cleanup_berr struct berr *err = NULL;

		if (creds_mint(m->host_key, m->role_arn, m->task_arn, now, m->duration, &fresh, &err) < 0) {
			*message = xasprintf("minting credentials failed: %s", berr_msg(err));
			return NULL;
		}
		if (m->have_cs)
			creds_session_clear(&m->cs);
		m->cs = fresh;
		m->have_cs = true;
		log_info("endpoint: credentials for role %s minted (key %s, expire at %lld)", m->role_arn,
			 m->cs.claims.access_key_id, (long long)m->cs.claims.expiration);
	}
	creds_iso8601(m->cs.claims.expiration, exp);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "RoleArn", m->role_arn, "AccessKeyId",
			 m->cs.claims.access_key_id, "SecretAccessKey", m->cs.secret_access_key, "Token",
			 m->cs.token, "Expiration", exp);
}

/* epoch seconds -> RFC 3339 with milliseconds, as the agent writes times */
static json_t *rfc3339(const json_t *t)
{
	double v = json_number_value(t);
	time_t s = (time_t)v;
	struct tm tm;
	char buf[64];

	if (!t || v <= 0 || !gmtime_r(&s, &tm))
		return NULL;
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((v - (double)s) * 1000.0));
	return json_string(buf);
}

static void set_opt(json_t *o, const char *key, json_t *v)
{
	if (v)
		json_object_set_new(o, key, v);
}

static const char *net_mode(const struct task_def *td)
{
	return task_network_mode_name(td->network_mode);
}

static json_t *container_doc(struct shim_meta *m, size_t i)
{
	const struct task_container *c = &m->td->containers[i];
	json_t *st = NULL, *o = json_object(), *labels = json_object();
	json_t *cs = m->task ? json_object_get(m->task, "containers") : NULL;
	const char *ip = m->task ? json_string_value(json_object_get(m->task, "privateIpv4Address")) : NULL;
	size_t k;
	json_t *v;

	json_array_foreach(cs, k, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")) ?: "", c->name))
			st = v;
	json_object_set_new(o, "DockerId", json_string(json_string_value(json_object_get(st, "runtimeId")) ?: ""));
	json_object_set_new(o, "Name", json_string(c->name));
	json_object_set_new(o, "DockerName", json_sprintf("ecs-%s-%s-%s", m->family, m->revision, c->name));
	json_object_set_new(o, "Image", json_string(c->image));
	for (size_t l = 0; l < c->n_docker_labels; l++)
		json_object_set_new(labels, c->docker_labels[l].name, json_string(c->docker_labels[l].value));
	json_object_set_new(labels, "com.amazonaws.ecs.cluster", json_string(m->cluster_arn));
	json_object_set_new(labels, "com.amazonaws.ecs.container-name", json_string(c->name));
	json_object_set_new(labels, "com.amazonaws.ecs.task-arn", json_string(m->task_arn));
	json_object_set_new(labels, "com.amazonaws.ecs.task-definition-family", json_string(m->family));
	json_object_set_new(labels, "com.amazonaws.ecs.task-definition-version", json_string(m->revision));
	json_object_set_new(o, "Labels", labels);
	json_object_set_new(o, "DesiredStatus", json_string(m->task && json_string_value(json_object_get(m->task,
				"desiredStatus")) ? json_string_value(json_object_get(m->task, "desiredStatus"))
				: "RUNNING"));
	json_object_set_new(o, "KnownStatus", json_string(json_string_value(json_object_get(st, "lastStatus")) ?:
							  "PENDING"));
	if (json_object_get(st, "exitCode"))
		json_object_set(o, "ExitCode", json_object_get(st, "exitCode"));
	json_object_set_new(o, "Limits", json_pack("{s:I}", "CPU", (json_int_t)c->cpu));
	if (c->memory != TASK_UNSET)
		json_object_set_new(json_object_get(o, "Limits"), "Memory", json_integer(c->memory));
	if (m->task)
		set_opt(o, "StartedAt", rfc3339(json_object_get(m->task, "startedAt")));
	json_object_set_new(o, "Type", json_string("NORMAL"));
	json_object_set_new(o, "ContainerARN", json_sprintf("%s/%s", m->task_arn, c->name));
	if (json_object_get(st, "healthStatus"))
		json_object_set_new(o, "Health", json_pack("{s:s}", "status",
				    json_string_value(json_object_get(st, "healthStatus"))));
	{
		json_t *n = json_pack("{s:s}", "NetworkMode", net_mode(m->td));

		if (ip && *ip) {
			json_object_set_new(n, "IPv4Addresses", json_pack("[s]", ip));
			json_object_set_new(n, "PrivateDNSName", json_sprintf("ip-%s", ip));
		}
		json_object_set_new(o, "Networks", json_pack("[o]", n));
	}
	return o;
}

json_t *shim_meta_container_doc(struct shim_meta *m, const char *container)
{
	for (size_t i = 0; i < m->td->n_containers; i++)
		if (!strcmp(m->td->containers[i].name, container))
			return container_doc(m, i);
	return NULL;
}

json_t *shim_meta_task_doc(struct shim_meta *m)
{
	json_t *o = json_object(), *cs = json_array(), *lim = json_object();

	json_object_set_new(o, "Cluster", json_string(m->cluster_arn));
	json_object_set_new(o, "TaskARN", json_string(m->task_arn));
	json_object_set_new(o, "Family", json_string(m->family));
	json_object_set_new(o, "Revision", json_string(m->revision));
	json_object_set_new(o, "DesiredStatus", json_string(m->task ? json_string_value(json_object_get(m->task,
				"desiredStatus")) ?: "RUNNING" : "RUNNING"));
	json_object_set_new(o, "KnownStatus", json_string(m->task ? json_string_value(json_object_get(m->task,
				"lastStatus")) ?: "PENDING" : "PENDING"));
	if (m->td->cpu != TASK_UNSET)
		json_object_set_new(lim, "CPU", json_real((double)m->td->cpu / 1024.0));
	if (m->td->memory != TASK_UNSET)
		json_object_set_new(lim, "Memory", json_integer(m->td->memory));
	json_object_set_new(o, "Limits", lim);
	if (m->task) {
		set_opt(o, "PullStartedAt", rfc3339(json_object_get(m->task, "pullStartedAt")));
		set_opt(o, "PullStoppedAt", rfc3339(json_object_get(m->task, "pullStoppedAt")));
	}
	if (m->az)
		json_object_set_new(o, "AvailabilityZone", json_string(m->az));
	json_object_set_new(o, "LaunchType", json_string(m->launch_type));
	for (size_t i = 0; i < m->td->n_containers; i++)
		json_array_append_new(cs, container_doc(m, i));
	json_object_set_new(o, "Containers", cs);
	return o;
}

/* ---------------------------------------------------------------- stats */

/* all CPUs' time since boot in ns, as Docker's system_cpu_usage */
static uint64_t system_cpu_ns(void)
{
	cleanup_fclose FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[10] = { 0 }, sum = 0;
	long hz = sysconf(_SC_CLK_TCK);

	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			 &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) < 4)
		return 0;
	for (int i = 0; i < 8; i++)   /* guest times are already in user/nice */
		sum += v[i];
	return (uint64_t)sum * (uint64_t)(1000000000L / (hz > 0 ? hz : 100));
}

static json_t *rfc3339_now(double t)
{
	cleanup_json json_t *v = json_real(t);

	return rfc3339(v);
}

static json_t *cpu_json(uint64_t total, uint64_t kernel, uint64_t user, uint64_t system, long cpus,
			const struct cg_stats *st)
{
	json_t *o = json_pack("{s:{s:I, s:I, s:I}, s:I, s:i}", "cpu_usage", "total_usage", (json_int_t)total,
			      "usage_in_kernelmode", (json_int_t)kernel, "usage_in_usermode", (json_int_t)user,
			      "system_cpu_usage", (json_int_t)system, "online_cpus", (int)cpus);

	if (st)
		json_object_set_new(o, "throttling_data", json_pack("{s:I, s:I, s:I}", "periods",
				    (json_int_t)st->cpu_nr_periods, "throttled_periods", (json_int_t)st->cpu_nr_throttled,
				    "throttled_time", (json_int_t)(st->cpu_throttled_usec * 1000)));
	return o;
}

/* Docker's container stats (what ECS's /stats returns) from the
 * container's cgroup; precpu_stats is the previous reading of this
 * endpoint (zeros the first time). Networks are not reported. */
static json_t *stats_doc(struct shim_meta *m, size_t i, char **message)
{
	const struct task_container *c = &m->td->containers[i];
	cleanup_free char *path = NULL;
	cleanup_berr struct berr *err = NULL;
	struct prev_cpu *p = &m->prev[i];
	struct cg_stats st;
	struct timespec ts;
	double now;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t sys = system_cpu_ns(), limit;
	json_t *o, *mem;

	if (!m->cgroup_path) {
		*message = xstrdup("stats: the task runs without cgroups (noLimits): no figures");
		return NULL;
	}
	path = xasprintf("%s/%s", m->cgroup_path, c->name);
	if (cg_stats_read(path, &st, &err) < 0) {
		*message = xasprintf("stats: %s", berr_msg(err));
		return NULL;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	o = json_object();
	json_object_set_new(o, "read", rfc3339_now(now));
	json_object_set_new(o, "preread", p->have ? rfc3339_now(p->read) : json_string("0001-01-01T00:00:00Z"));
	json_object_set_new(o, "name", json_sprintf("ecs-%s-%s-%s", m->family, m->revision, c->name));
	json_object_set_new(o, "id", json_sprintf("%s", m->ids[i]));
	json_object_set_new(o, "num_procs", json_integer(0));
	json_object_set_new(o, "pids_stats", json_pack("{s:I}", "current", (json_int_t)st.pids_current));
	json_object_set_new(o, "cpu_stats", cpu_json(st.cpu_usage_usec * 1000, st.cpu_system_usec * 1000,
						     st.cpu_user_usec * 1000, sys, cpus, &st));
	json_object_set_new(o, "precpu_stats", p->have ? cpu_json(p->total, p->kernel, p->user, p->system, cpus, NULL)
						     : cpu_json(0, 0, 0, 0, cpus, NULL));
	limit = c->memory != TASK_UNSET ? (uint64_t)c->memory << 20
		: m->td->memory != TASK_UNSET ? (uint64_t)m->td->memory << 20 : 0;
	mem = json_pack("{s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "usage", (json_int_t)st.mem_current, "stats",
			"anon", (json_int_t)st.mem_anon, "file", (json_int_t)st.mem_file, "kernel",
			(json_int_t)st.mem_kernel, "sock", (json_int_t)st.mem_sock, "shmem", (json_int_t)st.mem_shmem,
			"pgfault", (json_int_t)st.mem_pgfault, "pgmajfault", (json_int_t)st.mem_pgmajfault);
	if (st.has_peak)
		json_object_set_new(mem, "max_usage", json_integer((json_int_t)st.mem_peak));
	if (limit)
		json_object_set_new(mem, "limit", json_integer((json_int_t)limit));
	json_object_set_new(o, "memory_stats", mem);
	p->have = true;
	p->total = st.cpu_usage_usec * 1000;
	p->kernel = st.cpu_system_usec * 1000;
	p->user = st.cpu_user_usec * 1000;
	p->system = sys;
	p->read = now;
	return o;
}

json_t *shim_meta_stats(struct shim_meta *m, const char *container, char **message)
{
	if (container) {
		for (size_t i = 0; i < m->td->n_containers; i++)
			if (!strcmp(m->td->containers[i].name, container))
				return stats_doc(m, i, message);
		*message = xasprintf("no container %s", container);
		return NULL;
	}
	{
		/* /task/stats: {docker id: stats} for every container, null for
		 * one that has none (not started, gone), as the agent does */
		json_t *o = json_object();

		for (size_t i = 0; i < m->td->n_containers; i++) {
			char *msg = NULL;
			json_t *d = stats_doc(m, i, &msg);
			const json_t *cs = m->task ? json_object_get(m->task, "containers") : NULL;
			const char *id = NULL;
			size_t k;
			json_t *v;

			if (!d && !m->cgroup_path) {
				json_decref(o);
				*message = msg;
				return NULL;
			}
			free(msg);
			json_array_foreach(cs, k, v)
				if (!strcmp(json_string_value(json_object_get(v, "name")) ?: "", m->td->containers[i].name))
					id = json_string_value(json_object_get(v, "runtimeId"));
			json_object_set_new(o, id ? id : m->td->containers[i].name, d ? d : json_null());
		}
		return o;
	}
}

/* -------------------------------------------------------------- serving */

static json_t *ep_creds(void *ctx, char **message);
static json_t *ep_meta(void *ctx, enum creds_ep_route route, const char *container, char **message);
static void ep_audit(void *ctx, const char *line);

static int make_ep(struct shim_meta *m, struct berr **err)
{
	static const struct creds_ep_ops ops = { ep_creds, ep_meta, ep_audit };
	struct creds_ep_config cfg = { 0 };
	cleanup_free const char **ids = xcalloc(m->td->n_containers + 1, sizeof(*ids));
	cleanup_free const char **names = xcalloc(m->td->n_containers + 1, sizeof(*names));
	int r;

	for (size_t i = 0; i < m->td->n_containers; i++) {
		ids[i] = m->ids[i];
		names[i] = m->td->containers[i].name;
	}
	cfg.creds_id = m->have_role ? m->creds_id : NULL;
	cfg.auth_token = m->host_mode ? m->token : NULL;
	cfg.container_ids = ids;
	cfg.container_names = names;
	cfg.n_containers = m->td->n_containers;
	if ((r = creds_ep_new(m->listen_fd, &cfg, &ops, m, &m->ep, err)) < 0)
		return r;
	if (m->epfd >= 0 && (r = creds_ep_attach(m->ep, m->epfd, err)) < 0)
		return r;
	return 0;
}

static json_t *ep_creds(void *ctx, char **message)
{
	return shim_meta_credentials(ctx, message);
}

static json_t *ep_meta(void *ctx, enum creds_ep_route route, const char *container, char **message)
{
	struct shim_meta *m = ctx;

	switch (route) {
	case CREDS_EP_TASK:
		return shim_meta_task_doc(m);
	case CREDS_EP_CONTAINER: {
		json_t *d = shim_meta_container_doc(m, container);

		if (!d)
			*message = xasprintf("no container %s", container);
		return d;
	}
	case CREDS_EP_CONTAINER_STATS:
		return shim_meta_stats(m, container, message);
	case CREDS_EP_TASK_STATS:
		return shim_meta_stats(m, NULL, message);
	case CREDS_EP_CREDENTIALS:
		break;
	}
	*message = xstrdup("no such route");
	return NULL;
}

static void ep_audit(void *ctx, const char *line)
{
	struct shim_meta *m = ctx;

	if (!strncmp(line, "GET /v2/credentials", 19) || !strncmp(line, "HEAD /v2/credentials", 20))
		log_info("endpoint: %s (task %s, role %s)", line, m->task_arn, m->role_arn ? m->role_arn : "none");
	else
		log_debug("endpoint: %s", line);
}


static int open_in_netns(struct shim_meta *m, struct berr **err)
{
	cleanup_netns_nl struct netns_nl *nl = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(SHIM_META_PORT) };
	int one = 1, idx, r, fd;

	if ((r = netns_nl_open(&nl, err)) < 0)
		return r;
	if ((idx = netns_nl_ifindex(nl, "lo", err)) < 0)
		return idx;
	if ((r = netns_nl_link_up(nl, idx, err)) < 0 ||
	    (r = netns_nl_addr_add(nl, idx, EP_ADDR_HOST, 32, err)) < 0)
		return r;
	if ((r = netns_nft_redirect_local(SHIM_META_NFT_TABLE, EP_ADDR_HOST, CREDS_EP_PORT, SHIM_META_PORT,
					  err)) < 0)
		return r;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "endpoint: socket");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		r = berr_set(err, errno, "endpoint: listen on 127.0.0.1:%d in the task's namespace", SHIM_META_PORT);
		close(fd);
		return r;
	}
	m->listen_fd = fd;
	return 0;
}

int shim_meta_on_netns(void *arg, int netns_fd, struct berr **err)
{
	struct shim_meta *m = arg;
	cleanup_close int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int r;

	if (self < 0)
		return berr_set(err, errno, "endpoint: open /proc/self/ns/net");
	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return berr_set(err, errno, "endpoint: enter the task's network namespace");
	r = open_in_netns(m, err);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* the shim would go on in the task's namespace: never */
		log_error("endpoint: cannot return to the shim's network namespace: %m");
		abort();
	}
	if (r < 0)
		return r;
	if ((r = make_ep(m, err)) < 0)
		return r;
	log_debug("endpoint: serving %s:%d in the task's network namespace", CREDS_EP_ADDR, CREDS_EP_PORT);
	return 0;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool shim_meta_on_fd(void *arg, int fd, uint32_t events)
{
	struct shim_meta *m = arg;
	double now = mono_now();
	bool mine;

	if (!m || !m->ep)
		return false;
	mine = creds_ep_handle(m->ep, fd, events, now);
	creds_ep_tick(m->ep, now);
	return mine;
}
