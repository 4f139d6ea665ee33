/* runtime/daemon/config.c - berthd.json. */
#include "runtime/daemon/daemon.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "rootfs/pull.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX_BYTES (1u << 20)

void berthd_config_init(struct berthd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->root = xstrdup("/var/lib/berth");
	c->run_dir = xstrdup("/run/berth/tasks");
	c->log_dir = xstrdup("/var/log/berth/tasks");
	c->cgroup_root = xstrdup("/sys/fs/cgroup/berth");
	c->socket_path = xstrdup("/run/berth/berthd.sock");
	c->region = xstrdup("us-east-1");
	c->account_id = xstrdup("000000000000");
	c->max_clock_skew = 300;
	c->service_interval_ms = 1000;
	c->schedule_seconds_per_minute = 60;
	c->autoscaling_period = 60;
	c->dns_enabled = -1;
	c->dns_timeout_ms = 2000;
	c->cluster_prefix = xstrdup("/berth");
	c->cluster_lease_seconds = 10;
	c->storage = xstrdup("loop");
	c->pull_policy = xstrdup("if-not-present");
	c->insecure_registries = xcalloc(1, sizeof(*c->insecure_registries));
}

void berthd_config_free(struct berthd_config *c)
{
	if (!c)
		return;
	free(c->root);
	free(c->run_dir);
	free(c->log_dir);
	free(c->cgroup_root);
	free(c->socket_path);
	free(c->listen);
	free(c->region);
	free(c->account_id);
	for (size_t i = 0; i < c->n_keys; i++) {
		free(c->keys[i].access_key_id);
		if (c->keys[i].secret_access_key) {
			explicit_bzero(c->keys[i].secret_access_key, strlen(c->keys[i].secret_access_key));
			free(c->keys[i].secret_access_key);
		}
	}
	free(c->keys);
	free(c->shim_path);
	free(c->storage);
	free(c->lb_control);
	strv_free(c->dns_upstreams);
	creds_roles_free(&c->roles);
	free(c->host_key_file);
	if (c->have_net)
		netns_config_free(&c->net);
	json_decref(c->instance_attributes);
	free(c->instance_az);
	json_decref(c->net_json);
	free(c->berth_path);
	free(c->pull_policy);
	strv_free(c->insecure_registries);
	free(c->registry_credentials);
	free(c->docker_config);
	strv_free(c->cluster_etcd);
	free(c->cluster_prefix);
	free(c->cluster_ca_file);
	free(c->cluster_cert_file);
	free(c->cluster_key_file);
	memset(c, 0, sizeof(*c));
}

/* A string member replacing *dst; absolute path when `path` is set. */
static int get_str(const json_t *o, const char *key, bool abs_path, char **dst, struct berr **err)
{
	const char *v = NULL;
	int r = bjson_get_string(o, "", key, false, &v, err);

	if (r <= 0)
		return r;
	if (!*v)
		return berr_set(err, EINVAL, "%s: must not be empty", key);
	if (abs_path && v[0] != '/')
		return berr_set(err, EINVAL, "%s: \"%s\" is not an absolute path", key, berr_q(v));
	free(*dst);
	*dst = xstrdup(v);
	return 1;
}

/* "127.0.0.1:8080" (the default choice: loopback) or another IPv4
 * address of this host ("0.0.0.0:8080" in the test VM, where QEMU's
 * hostfwd arrives on the guest's NIC). Every request on it is SigV4-signed
 * whatever the address. */
static int check_listen(const char *v, struct berr **err)
{
	const char *colon = strrchr(v, ':');
	struct in_addr a;
	char addr[INET_ADDRSTRLEN];
	char *end;
	long port;

	if (!colon || (size_t)(colon - v) >= sizeof(addr))
		return berr_set(err, EINVAL, "listen: \"%s\": expected IPV4:PORT, e.g. 127.0.0.1:8080",
				berr_q(v));
	memcpy(addr, v, (size_t)(colon - v));
	addr[colon - v] = 0;
	if (inet_pton(AF_INET, addr, &a) != 1)
		return berr_set(err, EINVAL, "listen: \"%s\": \"%s\" is not an IPv4 address", berr_q(v),
				berr_q(addr));
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535)
		return berr_set(err, EINVAL, "listen: \"%s\": port must be 1-65535", berr_q(v));
	return 0;
}

static int parse_keys(const json_t *arr, struct berthd_config *c, struct berr **err)
{
	size_t i;
	json_t *k;

	if (!json_is_array(arr))
		return berr_set(err, EINVAL, "credentials: expected array, got %s", bjson_type_name(arr));
	c->keys = xcalloc(json_array_size(arr) + 1, sizeof(*c->keys));
	json_array_foreach(arr, i, k) {
		cleanup_free char *path = bjson_path_index("credentials", i);
		const char *id = NULL, *secret = NULL;
		const char *key;
		json_t *v;
		int r;

		if ((r = bjson_expect_object(k, path, err)) < 0)
			return r;
		json_object_foreach(k, key, v) {
			if (strcmp(key, "accessKeyId") && strcmp(key, "secretAccessKey"))
				return berr_set(err, EINVAL, "%s.%s: unknown key", path, key);
		}
		if ((r = bjson_get_string(k, path, "accessKeyId", true, &id, err)) < 0 ||
		    (r = bjson_get_string(k, path, "secretAccessKey", true, &secret, err)) < 0)
			return r;
		if (strlen(id) < 16 || strlen(id) > 128)
			return berr_set(err, EINVAL, "%s.accessKeyId: must be 16-128 characters", path);
		for (const char *p = id; *p; p++)
			if (!isalnum((unsigned char)*p))
				return berr_set(err, EINVAL, "%s.accessKeyId: letters and digits only", path);
		if (strlen(secret) < 16)
			return berr_set(err, EINVAL, "%s.secretAccessKey: must be at least 16 characters",
					path);
		for (size_t j = 0; j < c->n_keys; j++)
			if (!strcmp(c->keys[j].access_key_id, id))
				return berr_set(err, EINVAL, "%s.accessKeyId: \"%s\" is listed twice", path,
						berr_q(id));
		c->keys[c->n_keys].access_key_id = xstrdup(id);
		c->keys[c->n_keys].secret_access_key = xstrdup(secret);
		c->n_keys++;
	}
	return 0;
}

static int parse_instance(const json_t *o, struct berthd_config *c, struct berr **err)
{
	const char *key;
	json_t *v;
	int r;

	if ((r = bjson_expect_object(o, "instance", err)) < 0)
		return r;
	json_object_foreach((json_t *)o, key, v) {
		if (strcmp(key, "cpu") && strcmp(key, "memory") && strcmp(key, "attributes") &&
		    strcmp(key, "availabilityZone"))
			return berr_set(err, EINVAL, "instance.%s: unknown key", key);
	}
	if ((v = json_object_get(o, "availabilityZone"))) {
		const char *az = json_string_value(v);
		size_t n = az ? strlen(az) : 0;

		if (!az || n < 1 || n > 64 || strspn(az, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
			return berr_set(err, EINVAL, "instance.availabilityZone: want 1-64 of [a-z0-9-] "
					"(\"us-east-1b\"), got %s", az ? berr_q(az) : bjson_type_name(v));
		free(c->instance_az);
		c->instance_az = xstrdup(az);
	}
	if ((r = bjson_get_int_range(o, "instance", "cpu", false, 128, 1 << 20,
				     &c->instance_cpu, err)) < 0 ||
	    (r = bjson_get_int_range(o, "instance", "memory", false, 64, INT64_C(1) << 32,
				     &c->instance_memory, err)) < 0)
		return r;
	v = json_object_get(o, "attributes");
	if (v && !json_is_null(v)) {
		if ((r = bjson_expect_object(v, "instance.attributes", err)) < 0)
			return r;
		json_object_foreach(v, key, v) {
			if (!json_is_string(v))
				return berr_set(err, EINVAL, "instance.attributes.%s: expected string, got %s",
						key, bjson_type_name(v));
		}
		c->instance_attributes = json_incref(json_object_get(o, "attributes"));
	}
	return 0;
}

/* "IP" or "IP:PORT", IPv4 */
static bool upstream_ok(const char *s)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	struct in_addr a;

	if (n >= sizeof(ip))
		return false;
	memcpy(ip, s, n);
	ip[n] = 0;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	if (colon) {
		char *end;
		long port;

		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
			return false;
	}
	return true;
}

static int parse_dns(const json_t *o, struct berthd_config *c, struct berr **err)
{
	static const char *const known[] = { "enabled", "upstreams", "forwardTimeoutMilliseconds", NULL };
	const char *key;
	json_t *v;
	bool on = false;
	int r;

	if ((r = bjson_expect_object(o, "dns", err)) < 0)
		return r;
	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i])
			return berr_set(err, EINVAL, "dns.%s: unknown key (known: enabled, upstreams, "
					"forwardTimeoutMilliseconds)", key);
	}
	if ((r = bjson_get_bool(o, "dns", "enabled", false, &on, err)) < 0)
		return r;
	if (r > 0)
		c->dns_enabled = on ? 1 : 0;
	if ((r = bjson_get_int_range(o, "dns", "forwardTimeoutMilliseconds", false, 100, 30000,
				     &c->dns_timeout_ms, err)) < 0)
		return r;
	if ((v = json_object_get(o, "upstreams")) && !json_is_null(v)) {
		size_t n = 0;

		if (!json_is_array(v))
			return berr_set(err, EINVAL, "dns.upstreams: expected array, got %s", bjson_type_name(v));
		strv_free(c->dns_upstreams);
		c->dns_upstreams = NULL;
		if ((r = bjson_strv(v, "dns.upstreams", &c->dns_upstreams, err)) < 0)
			return r;
		for (char **i = c->dns_upstreams; *i; i++, n++)
			if (!upstream_ok(*i))
				return berr_set(err, EINVAL, "dns.upstreams[%zu]: \"%s\": want IPV4 or IPV4:PORT",
						n, berr_q(*i));
		if (n > 4)
			return berr_set(err, EINVAL, "dns.upstreams: %zu servers, at most 4", n);
	}
	return 0;
}

/* "cluster": {"etcd": [URL, ...], "prefix", "leaseSeconds", "goneSeconds",
 * "caFile", "certFile", "keyFile"} (cluster.c, cstate.c). */
static int parse_cluster(const json_t *o, struct berthd_config *c, struct berr **err)
{
	static const char *const known[] = { "etcd", "prefix", "leaseSeconds", "goneSeconds", "caFile",
					     "certFile", "keyFile", NULL };
	static const char *const files[] = { "caFile", "certFile", "keyFile" };
	char **dst[] = { &c->cluster_ca_file, &c->cluster_cert_file, &c->cluster_key_file };
	const char *key, *prefix = NULL;
	json_t *v;
	size_t n = 0, len;
	int r;

	if ((r = bjson_expect_object(o, "cluster", err)) < 0)
		return r;
	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i])
			return berr_set(err, EINVAL, "cluster.%s: unknown key (known: etcd, prefix, "
					"leaseSeconds, caFile, certFile, keyFile)", key);
	}
	v = json_object_get(o, "etcd");
	if (!json_is_array(v))
		return berr_set(err, EINVAL, "cluster.etcd: expected an array of endpoint URLs "
				"(\"http://HOST:2379\"), got %s", v ? bjson_type_name(v) : "nothing");
	strv_free(c->cluster_etcd);
	c->cluster_etcd = NULL;
	if ((r = bjson_strv(v, "cluster.etcd", &c->cluster_etcd, err)) < 0)
		return r;
	for (char **i = c->cluster_etcd; *i; i++, n++) {
		const char *rest = *i;

		if (!strncmp(rest, "http://", 7))
			rest += 7;
		else if (!strncmp(rest, "https://", 8))
			rest += 8;
		else if (strstr(rest, "://"))
			return berr_set(err, EINVAL, "cluster.etcd[%zu]: \"%s\": use http:// or https://",
					n, berr_q(*i));
		if (!*rest || strpbrk(rest, " \t\n/?#"))
			return berr_set(err, EINVAL, "cluster.etcd[%zu]: \"%s\": want [http[s]://]HOST:PORT",
					n, berr_q(*i));
	}
	if (n == 0 || n > 16)
		return berr_set(err, EINVAL, "cluster.etcd: %zu endpoints, want 1 to 16", n);
	if ((r = bjson_get_string(o, "cluster", "prefix", false, &prefix, err)) < 0)
		return r;
	if (prefix) {
		len = strlen(prefix);
		if (prefix[0] != '/' || len < 2 || len > 128 || prefix[len - 1] == '/' ||
		    strpbrk(prefix, " \t\n"))
			return berr_set(err, EINVAL, "cluster.prefix: \"%s\": want /NAME[/NAME...] "
					"(no trailing /, no spaces, at most 128 bytes)", berr_q(prefix));
		free(c->cluster_prefix);
		c->cluster_prefix = xstrdup(prefix);
	}
	if ((r = bjson_get_int_range(o, "cluster", "leaseSeconds", false, 2, 300,
				     &c->cluster_lease_seconds, err)) < 0)
		return r;
	c->cluster_gone_seconds = 0;
	if ((r = bjson_get_int_range(o, "cluster", "goneSeconds", false, 2, 86400,
				     &c->cluster_gone_seconds, err)) < 0)
		return r;
	if (!c->cluster_gone_seconds)
		c->cluster_gone_seconds = c->cluster_lease_seconds * 6;
	if (c->cluster_gone_seconds < c->cluster_lease_seconds)
		return berr_set(err, EINVAL, "cluster.goneSeconds: %lld is less than leaseSeconds (%lld): "
				"an instance is not gone before it is disconnected",
				(long long)c->cluster_gone_seconds, (long long)c->cluster_lease_seconds);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *f = NULL;

		if ((r = bjson_get_string(o, "cluster", files[i], false, &f, err)) < 0)
			return r;
		if (!f)
			continue;
		if (f[0] != '/')
			return berr_set(err, EINVAL, "cluster.%s: \"%s\" is not an absolute path",
					files[i], berr_q(f));
		free(*dst[i]);
		*dst[i] = xstrdup(f);
	}
	return 0;
}

int berthd_config_parse(const char *what, const char *buf, size_t len, struct berthd_config *c,
			struct berr **err)
{
	static const char *const known[] = {
		"root", "runDir", "logDir", "cgroupRoot", "socket", "listen", "region", "accountId",
		"credentials", "maxClockSkewSeconds", "shimPath", "noLimits", "storage", "pidsMax",
		"network", "instance", "berthPath", "imagePullPolicy", "insecureRegistries",
		"registryCredentials", "dockerConfig", "imagePullTimeoutSeconds", "roles",
		"roleCredentialsFile", "hostKeyFile", "serviceIntervalMilliseconds", "lbControlSocket",
		"scheduleSecondsPerMinute", "autoscalingPeriodSeconds", "dns", "cluster", NULL,
	};
	cleanup_json json_t *doc = NULL;
	const char *key;
	json_t *v;
	int64_t n;
	int r;

	if ((r = bjson_load_buf(what, buf, len, &doc, err)) < 0)
		return r;
	if ((r = bjson_expect_object(doc, "", err)) < 0)
		goto fail;
	json_object_foreach(doc, key, v) {
		size_t i;

		for (i = 0; known[i] && strcmp(known[i], key); i++)
			;
		if (!known[i]) {
			r = berr_set(err, EINVAL, "%s: unknown key", key);
			goto fail;
		}
	}
	if ((r = get_str(doc, "root", true, &c->root, err)) < 0 ||
	    (r = get_str(doc, "runDir", true, &c->run_dir, err)) < 0 ||
	    (r = get_str(doc, "logDir", true, &c->log_dir, err)) < 0 ||
	    (r = get_str(doc, "cgroupRoot", true, &c->cgroup_root, err)) < 0 ||
	    (r = get_str(doc, "socket", true, &c->socket_path, err)) < 0 ||
	    (r = get_str(doc, "listen", false, &c->listen, err)) < 0 ||
	    (r = get_str(doc, "region", false, &c->region, err)) < 0 ||
	    (r = get_str(doc, "accountId", false, &c->account_id, err)) < 0 ||
	    (r = get_str(doc, "shimPath", true, &c->shim_path, err)) < 0 ||
	    (r = get_str(doc, "storage", false, &c->storage, err)) < 0 ||
	    (r = get_str(doc, "lbControlSocket", false, &c->lb_control, err)) < 0 ||
	    (r = bjson_get_bool(doc, "", "noLimits", false, &c->no_limits, err)) < 0 ||
	    (r = bjson_get_int_range(doc, "", "maxClockSkewSeconds", false, 1, 86400,
				     &c->max_clock_skew, err)) < 0 ||
	    (r = bjson_get_int_range(doc, "", "serviceIntervalMilliseconds", false, 100, 60000,
				     &c->service_interval_ms, err)) < 0 ||
	    (r = bjson_get_int_range(doc, "", "scheduleSecondsPerMinute", false, 1, 60,
				     &c->schedule_seconds_per_minute, err)) < 0 ||
	    (r = bjson_get_int_range(doc, "", "autoscalingPeriodSeconds", false, 1, 60,
				     &c->autoscaling_period, err)) < 0)
		goto fail;
	n = 0;
	if ((r = bjson_get_int_range(doc, "", "pidsMax", false, 16, INT64_C(1) << 22, &n, err)) < 0)
		goto fail;
	if (r > 0)
		c->pids_max = (uint64_t)n;
	if (c->listen && (r = check_listen(c->listen, err)) < 0)
		goto fail;
	/* image pulls */
	if ((r = get_str(doc, "berthPath", true, &c->berth_path, err)) < 0 ||
	    (r = get_str(doc, "registryCredentials", true, &c->registry_credentials, err)) < 0 ||
	    (r = get_str(doc, "dockerConfig", false, &c->docker_config, err)) < 0 ||
	    (r = get_str(doc, "imagePullPolicy", false, &c->pull_policy, err)) < 0 ||
	    (r = bjson_get_int_range(doc, "", "imagePullTimeoutSeconds", false, 1, INT64_C(7) * 86400,
				     &c->pull_timeout, err)) < 0)
		goto fail;
	{
		enum rootfs_pull_policy pp;

		if (rootfs_pull_policy_parse(c->pull_policy, &pp) < 0) {
			r = berr_set(err, EINVAL, "imagePullPolicy: \"%s\": use always, if-not-present or never",
				     berr_q(c->pull_policy));
			goto fail;
		}
		free(c->pull_policy);
		c->pull_policy = xstrdup(rootfs_pull_policy_name(pp));
	}
	if (c->docker_config && strcmp(c->docker_config, "none") && c->docker_config[0] != '/') {
		r = berr_set(err, EINVAL, "dockerConfig: \"%s\" is not an absolute path (or \"none\")",
			     berr_q(c->docker_config));
		goto fail;
	}
	if ((v = json_object_get(doc, "insecureRegistries")) && !json_is_null(v)) {
		if (!json_is_array(v)) {
			r = berr_set(err, EINVAL, "insecureRegistries: expected array, got %s", bjson_type_name(v));
			goto fail;
		}
		strv_free(c->insecure_registries);
		c->insecure_registries = NULL;
		if ((r = bjson_strv(v, "insecureRegistries", &c->insecure_registries, err)) < 0)
			goto fail;
		for (char **i = c->insecure_registries; *i; i++)
			if (!**i || strpbrk(*i, " \t\n")) {
				r = berr_set(err, EINVAL, "insecureRegistries: \"%s\": want HOST[:PORT]", berr_q(*i));
				goto fail;
			}
	}
	if (strlen(c->account_id) != 12 || strspn(c->account_id, "0123456789") != 12) {
		r = berr_set(err, EINVAL, "accountId: \"%s\" is not 12 digits", berr_q(c->account_id));
		goto fail;
	}
	for (const char *p = c->region; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-') {
			r = berr_set(err, EINVAL, "region: \"%s\": lower-case letters, digits and '-' only",
				     berr_q(c->region));
			goto fail;
		}
	if (strcmp(c->storage, "loop") && strcmp(c->storage, "tmpfs")) {
		r = berr_set(err, EINVAL, "storage: \"%s\": expected \"loop\" or \"tmpfs\"",
			     berr_q(c->storage));
		goto fail;
	}
	if ((v = json_object_get(doc, "credentials")) && !json_is_null(v) &&
	    (r = parse_keys(v, c, err)) < 0)
		goto fail;
	if (c->listen && !c->n_keys) {
		r = berr_set(err, EINVAL, "listen: a TCP listener needs \"credentials\" "
			     "(every request on it must be SigV4-signed with one of them)");
		goto fail;
	}
	if ((v = json_object_get(doc, "instance")) && !json_is_null(v) &&
	    (r = parse_instance(v, c, err)) < 0)
		goto fail;
	if ((v = json_object_get(doc, "dns")) && !json_is_null(v) && (r = parse_dns(v, c, err)) < 0)
		goto fail;
	if ((v = json_object_get(doc, "cluster")) && !json_is_null(v) &&
	    (r = parse_cluster(v, c, err)) < 0)
		goto fail;
	/* task roles */
	creds_roles_free(&c->roles);
	if ((r = creds_roles_parse(json_object_get(doc, "roles"), json_object_get(doc, "roleCredentialsFile"),
				   &c->roles, err)) < 0 ||
	    (r = get_str(doc, "hostKeyFile", true, &c->host_key_file, err)) < 0)
		goto fail;
	/* awsvpc and bridge tasks always have a network: the defaults unless
	 * "network" says otherwise */
	{
		cleanup_free char *state = xasprintf("%s/net", c->root);

		if (c->have_net)
			netns_config_free(&c->net);
		netns_config_init(&c->net, state);
		c->have_net = true;
		v = json_object_get(doc, "network");
		if (v && json_is_null(v))
			v = NULL;
		/* also without "network": the parse adds the security groups
		 * every configuration has ("default", "bridge-mode") */
		if ((r = netns_config_parse(v, "network", &c->net, err)) < 0)
			goto fail;
		json_decref(c->net_json);
		c->net_json = v ? json_incref(v) : NULL;
	}
	return 0;
fail:
	return berr_wrap(err, "%s", what);
}

int berthd_config_load(const char *path, struct berthd_config *c, struct berr **err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r;

	r = fs_read_file(path, &buf, &len, CONFIG_MAX_BYTES, err);
	if (r < 0)
		return r;
	return berthd_config_parse(path, buf, len, c, err);
}
