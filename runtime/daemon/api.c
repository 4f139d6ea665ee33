/* runtime/daemon/api.c - the operation table, api_call and the helpers the
 * handlers share (api.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/store.h"

/* Every operation of botocore's ECS model (service-2.json, 2014-11-13, as
 * of botocore 0e6e2404 (2026-08)), sorted by name for bsearch. NULL: ECS
 * has it, berth does not build it yet. */
static const struct api_op api_ops[] = {
	{ "ContinueServiceDeployment", NULL },
	{ "CreateCapacityProvider", NULL },
	{ "CreateCluster", api_create_cluster },
	{ "CreateDaemon", NULL },
	{ "CreateExpressGatewayService", NULL },
	{ "CreateService", api_create_service },
	{ "CreateTaskSet", NULL },
	{ "DeleteAccountSetting", NULL },
	{ "DeleteAttributes", api_delete_attributes },
	{ "DeleteCapacityProvider", NULL },
	{ "DeleteCluster", api_delete_cluster },
	{ "DeleteDaemon", NULL },
	{ "DeleteDaemonTaskDefinition", NULL },
	{ "DeleteExpressGatewayService", NULL },
	{ "DeleteService", api_delete_service },
	{ "DeleteTaskDefinitions", NULL },
	{ "DeleteTaskSet", NULL },
	{ "DeregisterContainerInstance", NULL },
	{ "DeregisterTaskDefinition", api_deregister_task_definition },
	{ "DescribeCapacityProviders", NULL },
	{ "DescribeClusters", api_describe_clusters },
	{ "DescribeContainerInstances", api_describe_container_instances },
	{ "DescribeDaemon", NULL },
	{ "DescribeDaemonDeployments", NULL },
	{ "DescribeDaemonRevisions", NULL },
	{ "DescribeDaemonTaskDefinition", NULL },
	{ "DescribeExpressGatewayService", NULL },
	{ "DescribeServiceDeployments", NULL },
	{ "DescribeServiceRevisions", NULL },
	{ "DescribeServices", api_describe_services },
	{ "DescribeTaskDefinition", api_describe_task_definition },
	{ "DescribeTaskSets", NULL },
	{ "DescribeTasks", api_describe_tasks },
	{ "DiscoverPollEndpoint", NULL },
	{ "ExecuteCommand", NULL },
	{ "GetTaskProtection", NULL },
	{ "ListAccountSettings", NULL },
	{ "ListAttributes", api_list_attributes },
	{ "ListClusters", api_list_clusters },
	{ "ListContainerInstances", api_list_container_instances },
	{ "ListDaemonDeployments", NULL },
	{ "ListDaemonTaskDefinitions", NULL },
	{ "ListDaemons", NULL },
	{ "ListServiceDeployments", NULL },
	{ "ListServices", api_list_services },
	{ "ListServicesByNamespace", NULL },
	{ "ListTagsForResource", api_list_tags_for_resource },
	{ "ListTaskDefinitionFamilies", api_list_task_definition_families },
	{ "ListTaskDefinitions", api_list_task_definitions },
	{ "ListTasks", api_list_tasks },
	{ "PutAccountSetting", NULL },
	{ "PutAccountSettingDefault", NULL },
	{ "PutAttributes", api_put_attributes },
	{ "PutClusterCapacityProviders", NULL },
	{ "RegisterContainerInstance", api_register_container_instance },
	{ "RegisterDaemonTaskDefinition", NULL },
	{ "RegisterTaskDefinition", api_register_task_definition },
	{ "RunTask", api_run_task },
	{ "StartTask", api_start_task },
	{ "StopServiceDeployment", NULL },
	{ "StopTask", api_stop_task },
	{ "SubmitAttachmentStateChanges", NULL },
	{ "SubmitContainerStateChange", NULL },
	{ "SubmitTaskStateChange", NULL },
	{ "TagResource", api_tag_resource },
	{ "UntagResource", api_untag_resource },
	{ "UpdateCapacityProvider", NULL },
	{ "UpdateCluster", NULL },
	{ "UpdateClusterSettings", NULL },
	{ "UpdateContainerAgent", NULL },
	{ "UpdateContainerInstancesState", api_update_container_instances_state },
	{ "UpdateDaemon", NULL },
	{ "UpdateExpressGatewayService", NULL },
	{ "UpdateService", api_update_service },
	{ "UpdateServicePrimaryTaskSet", NULL },
	{ "UpdateTaskProtection", NULL },
	{ "UpdateTaskSet", NULL },
};

/* berth's own operations (API_BERTH_PREFIX), sorted by name. */
static const struct api_op berth_ops[] = {
	{ "CreateSchedule", api_berth_create_schedule },
	{ "DeleteSchedule", api_berth_delete_schedule },
	{ "DeleteSecret", api_berth_delete_secret },
	{ "DescribeSchedule", api_berth_describe_schedule },
	{ "GetTaskStats", api_berth_get_task_stats },
	{ "ListEvents", api_berth_list_events },
	{ "ListSchedules", api_berth_list_schedules },
	{ "ListSecrets", api_berth_list_secrets },
	{ "PutSecret", api_berth_put_secret },
};

/* Application Auto Scaling's operations (API_AAS_PREFIX), sorted by name;
 * NULL: not built. */
static const struct api_op aas_ops[] = {
	{ "DeleteScalingPolicy", api_aas_delete_scaling_policy },
	{ "DeleteScheduledAction", NULL },
	{ "DeregisterScalableTarget", api_aas_deregister_scalable_target },
	{ "DescribeScalableTargets", api_aas_describe_scalable_targets },
	{ "DescribeScalingActivities", api_aas_describe_scaling_activities },
	{ "DescribeScalingPolicies", api_aas_describe_scaling_policies },
	{ "DescribeScheduledActions", NULL },
	{ "GetPredictiveScalingForecast", NULL },
	{ "ListTagsForResource", NULL },
	{ "PutScalingPolicy", api_aas_put_scaling_policy },
	{ "PutScheduledAction", NULL },
	{ "RegisterScalableTarget", api_aas_register_scalable_target },
	{ "TagResource", NULL },
	{ "UntagResource", NULL },
};

/* Cloud Map's (servicediscovery) operations (API_SD_PREFIX), sorted by
 * name; NULL: not built. */
static const struct api_op sd_ops[] = {
	{ "CreateHttpNamespace", NULL },
	{ "CreatePrivateDnsNamespace", api_sd_create_private_dns_namespace },
	{ "CreatePublicDnsNamespace", NULL },
	{ "CreateService", api_sd_create_service },
	{ "DeleteNamespace", api_sd_delete_namespace },
	{ "DeleteService", api_sd_delete_service },
	{ "DeregisterInstance", NULL },
	{ "DiscoverInstances", NULL },
	{ "GetInstance", NULL },
	{ "GetInstancesHealthStatus", NULL },
	{ "GetNamespace", api_sd_get_namespace },
	{ "GetOperation", api_sd_get_operation },
	{ "GetService", api_sd_get_service },
	{ "ListInstances", api_sd_list_instances },
	{ "ListNamespaces", api_sd_list_namespaces },
	{ "ListOperations", NULL },
	{ "ListServices", api_sd_list_services },
	{ "ListTagsForResource", NULL },
	{ "RegisterInstance", NULL },
	{ "TagResource", NULL },
	{ "UntagResource", NULL },
	{ "UpdateHttpNamespace", NULL },
	{ "UpdateInstanceCustomHealthStatus", NULL },
	{ "UpdatePrivateDnsNamespace", NULL },
	{ "UpdatePublicDnsNamespace", NULL },
	{ "UpdateService", NULL },
};

/* ---------------------------------------------------------------- errors */

static json_t *fail_v(struct api_error *e, const char *type, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static json_t *fail_v(struct api_error *e, const char *type, const char *fmt, va_list ap)
{
	free(e->message);
	e->message = xvasprintf(fmt, ap);
	snprintf(e->type, sizeof(e->type), "%s", type);
	e->status = strcmp(type, "ServerException") == 0 ? 500 : 400;
	return NULL;
}

json_t *api_fail(struct api_error *e, const char *type, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fail_v(e, type, fmt, ap);
	va_end(ap);
	return NULL;
}

json_t *api_fail_berr(struct api_error *e, struct berr **err, const char *fmt, ...)
{
	cleanup_free char *ctx = NULL;
	va_list ap;

	va_start(ap, fmt);
	ctx = xvasprintf(fmt, ap);
	va_end(ap);
	log_error("%s: %s", ctx, berr_msg(err ? *err : NULL));
	api_fail(e, "ServerException", "%s: %s", ctx, berr_msg(err ? *err : NULL));
	if (err)
		berr_clear(err);
	return NULL;
}

void api_error_clear(struct api_error *e)
{
	free(e->message);
	memset(e, 0, sizeof(*e));
}

/* ------------------------------------------------------------ operations */

static int op_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct api_op *)elem)->name);
}

const struct api_op *api_find(const char *name)
{
	size_t plen = strlen(API_BERTH_PREFIX);

	if (!name)
		return NULL;
	if (!strncmp(name, API_BERTH_PREFIX, plen))
		return bsearch(name + plen, berth_ops, sizeof(berth_ops) / sizeof(berth_ops[0]),
			       sizeof(berth_ops[0]), op_cmp);
	if (!strncmp(name, API_AAS_PREFIX, strlen(API_AAS_PREFIX)))
		return bsearch(name + strlen(API_AAS_PREFIX), aas_ops, sizeof(aas_ops) / sizeof(aas_ops[0]),
			       sizeof(aas_ops[0]), op_cmp);
	if (!strncmp(name, API_SD_PREFIX, strlen(API_SD_PREFIX)))
		return bsearch(name + strlen(API_SD_PREFIX), sd_ops, sizeof(sd_ops) / sizeof(sd_ops[0]),
			       sizeof(sd_ops[0]), op_cmp);
	return bsearch(name, api_ops, sizeof(api_ops) / sizeof(api_ops[0]), sizeof(api_ops[0]),
		       op_cmp);
}

const char *api_target_op(const char *target, size_t len, char *buf, size_t buflen)
{
	static const char *const prefixes[] = { API_TARGET_PREFIX, API_BERTH_PREFIX, API_AAS_PREFIX,
						API_SD_PREFIX };

	if (!target || memchr(target, 0, len))
		return NULL;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t plen = strlen(prefixes[i]);
		/* berth's keep their prefix: the name space api_find takes */
		size_t skip = i == 0 ? plen : 0;

		if (len <= plen || strncmp(target, prefixes[i], plen) || len - skip >= buflen)
			continue;
		/* an ECS name has no dot: ECS's prefix does not reach berth's operations */
		if (i == 0 && memchr(target + plen, '.', len - plen))
			return NULL;
		memcpy(buf, target + skip, len - skip);
		buf[len - skip] = 0;
		return buf;
	}
	return NULL;
}

json_t *api_call(struct berthd *d, const char *op, json_t *in, struct api_error *e)
{
	const struct api_op *o = api_find(op);
	json_t *out;

	if (!o && op && !strncmp(op, API_BERTH_PREFIX, strlen(API_BERTH_PREFIX)))
		return api_fail(e, "UnknownOperationException", "%s is not an operation of berth's "
				"API (docs/berthd.md lists them)", berr_q(op));
	if (!o && op && !strncmp(op, API_AAS_PREFIX, strlen(API_AAS_PREFIX)))
		return api_fail(e, "UnknownOperationException", "%s is not an operation of the "
				"Application Auto Scaling API", berr_q(op));
	if (!o && op && !strncmp(op, API_SD_PREFIX, strlen(API_SD_PREFIX)))
		return api_fail(e, "UnknownOperationException", "%s is not an operation of the "
				"Cloud Map (servicediscovery) API", berr_q(op));
	if (!o)
		return api_fail(e, "UnknownOperationException", "%s is not an operation of the ECS "
				"API", op ? berr_q(op) : "(none)");
	if (!json_is_object(in))
		return api_fail(e, "SerializationException", "the request body must be a JSON "
				"object, got %s", bjson_type_name(in));
	if (!o->fn)
		return api_fail(e, "UnsupportedFeatureException", "%s is not supported by berth yet",
				o->name);
	out = o->fn(d, in, e);
	if (!out && !e->type[0])
		api_fail(e, "ServerException", "%s failed without saying why", o->name);
	/* Cloud Map's word for a bad parameter (the shared getters say ECS's) */
	if (!out && !strncmp(op, API_SD_PREFIX, strlen(API_SD_PREFIX)) &&
	    !strcmp(e->type, "InvalidParameterException"))
		snprintf(e->type, sizeof(e->type), "InvalidInput");
	return out;
}

/* ------------------------------------------------------------------ time */

char *api_availability_zone(const struct berthd *d)
{
	if (d->cfg.instance_az)
		return xstrdup(d->cfg.instance_az);
	return xasprintf("%sa", d->cfg.region ? d->cfg.region : "us-east-1");
}

double api_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

json_t *api_time(double t)
{
	return t == 0 ? NULL : json_real(t);
}

/* --------------------------------------------------------------- getters */

static int get_result(int r, struct berr **err, struct api_error *e)
{
	if (r < 0) {
		api_fail(e, "InvalidParameterException", "%s", berr_msg(*err));
		berr_clear(err);
		return -1;
	}
	return r;
}

int api_get_string(json_t *in, const char *key, bool required, const char **out,
		   struct api_error *e)
{
	struct berr *err = NULL;

	return get_result(bjson_get_string(in, "", key, required, out, &err), &err, e);
}

int api_get_int(json_t *in, const char *key, bool required, int64_t min, int64_t max,
		int64_t *out, struct api_error *e)
{
	struct berr *err = NULL;

	return get_result(bjson_get_int_range(in, "", key, required, min, max, out, &err), &err, e);
}

int api_get_bool(json_t *in, const char *key, bool required, bool *out, struct api_error *e)
{
	struct berr *err = NULL;

	return get_result(bjson_get_bool(in, "", key, required, out, &err), &err, e);
}

int api_get_array(json_t *in, const char *key, bool required, json_t **out,
		  struct api_error *e)
{
	struct berr *err = NULL;

	return get_result(bjson_get_array(in, "", key, required, out, &err), &err, e);
}

int api_get_object(json_t *in, const char *key, bool required, json_t **out,
		   struct api_error *e)
{
	struct berr *err = NULL;

	return get_result(bjson_get_object(in, "", key, required, out, &err), &err, e);
}

/* ------------------------------------------------------------------ ARNs */

char *api_arn(const struct berthd *d, const char *fmt, ...)
{
	cleanup_free char *rest = NULL;
	va_list ap;

	va_start(ap, fmt);
	rest = xvasprintf(fmt, ap);
	va_end(ap);
	return xasprintf("arn:aws:ecs:%s:%s:%s", d->cfg.region, d->cfg.account_id, rest);
}

static bool cluster_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 255)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

int api_cluster_name(const struct berthd *d, json_t *in, char *name, size_t len,
		     struct api_error *e)
{
	const char *s = NULL, *res;
	int r = api_get_string(in, "cluster", false, &s, e);

	if (r < 0)
		return -1;
	if (r == 0)
		s = "default";
	res = s;
	if (strncmp(s, "arn:", 4) == 0) {
		cleanup_free char *prefix = xasprintf("arn:aws:ecs:%s:%s:cluster/", d->cfg.region,
						      d->cfg.account_id);

		if (strncmp(s, prefix, strlen(prefix)) != 0) {
			api_fail(e, "InvalidParameterException", "cluster: \"%s\" is not a cluster "
				 "ARN of this region and account (%s...)", berr_q(s), prefix);
			return -1;
		}
		res = s + strlen(prefix);
	}
	if (!cluster_name_valid(res)) {
		api_fail(e, "InvalidParameterException", "cluster: \"%s\" is not a valid cluster name "
			 "(1-255 letters, digits, hyphens and underscores) or ARN", berr_q(s));
		return -1;
	}
	if (strlen(res) >= len) {
		api_fail(e, "InvalidParameterException", "cluster: name too long");
		return -1;
	}
	memcpy(name, res, strlen(res) + 1);
	return 0;
}

const char *api_arn_tail(const char *s)
{
	const char *slash;

	if (strncmp(s, "arn:", 4) != 0)
		return s;
	slash = strrchr(s, '/');
	return slash ? slash + 1 : s;
}

int api_cluster_active(struct berthd *d, const char *name, json_t **doc, struct api_error *e)
{
	cleanup_json json_t *c = NULL;
	struct berr *err = NULL;
	int r = store_cluster_get(d->st, name, &c, &err);

	if (doc)
		*doc = NULL;
	if (r < 0) {
		api_fail_berr(e, &err, "get cluster %s", name);
		return -1;
	}
	if (r == 0 || strcmp(json_string_value(json_object_get(c, "status")) ?: "", "INACTIVE") == 0) {
		api_fail(e, "ClusterNotFoundException", "Cluster not found.");
		return -1;
	}
	if (doc)
		*doc = steal_pointer(&c);
	return 0;
}

/* ------------------------------------------------------------ pagination */

/* nextToken = base64("berth1\n" + key): opaque to clients, and a string
 * that is not ours is recognised as such. */
#define TOKEN_MAGIC "berth1\n"
#define TOKEN_MAX 4096

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *in, size_t n)
{
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = 0;
	return out;
}

/* NULL when s is not canonical base64. */
static char *b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s);
	cleanup_free char *out = NULL;
	size_t o = 0;

	if (n == 0 || n % 4 != 0)
		return NULL;
	out = xmalloc(n / 4 * 3 + 1);
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;

		for (int j = 0; j < 4; j++) {
			const char *p;

			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (pad || !s[i + j] || !(p = strchr(b64, s[i + j])))
				return NULL;
			v = v << 6 | (uint32_t)(p - b64);
		}
		out[o++] = (char)(v >> 16);
		if (pad < 2)
			out[o++] = (char)(v >> 8 & 0xff);
		if (pad < 1)
			out[o++] = (char)(v & 0xff);
	}
	out[o] = 0;
	*len = o;
	return steal_pointer(&out);
}

char *api_page_token(const char *last_key)
{
	cleanup_free char *raw = xasprintf(TOKEN_MAGIC "%s", last_key);

	return b64_encode((const unsigned char *)raw, strlen(raw));
}

int api_page_start(json_t *in, int64_t def, int64_t max, char **after, int64_t *limit,
		   struct api_error *e)
{
	cleanup_free char *raw = NULL;
	const char *tok = NULL;
	size_t len = 0;
	int r;

	*after = NULL;
	*limit = def;
	if (api_get_int(in, "maxResults", false, 1, max, limit, e) < 0)
		return -1;
	if ((r = api_get_string(in, "nextToken", false, &tok, e)) < 0)
		return -1;
	if (r == 0)
		return 0;
	if (strlen(tok) > TOKEN_MAX || !(raw = b64_decode(tok, &len)) ||
	    len < strlen(TOKEN_MAGIC) || memcmp(raw, TOKEN_MAGIC, strlen(TOKEN_MAGIC)) != 0 ||
	    strlen(raw) != len) {
		api_fail(e, "InvalidParameterException", "nextToken: not a token from a previous "
			 "response of this operation");
		return -1;
	}
	*after = xstrdup(raw + strlen(TOKEN_MAGIC));
	return 0;
}

/* ------------------------------------------------------------------ tags */

/* Code points of valid UTF-8 s, or -1. Each code point is checked against
 * the model's pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]: ASCII exactly; beyond
 * ASCII, anything printable is taken as a letter, number or space. */
static long tag_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p) {
		unsigned c = *p;
		int extra;

		if (c < 0x80) {
			if (!isalnum(c) && !strchr(" _.:/=+-@", (int)c))
				return -1;
			p++;
			n++;
			continue;
		}
		if ((c & 0xe0) == 0xc0 && c >= 0xc2)
			extra = 1;
		else if ((c & 0xf0) == 0xe0)
			extra = 2;
		else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
			extra = 3;
		else
			return -1;
		/* C1 controls (U+0080-U+009F) are not letters either */
		if (c == 0xc2 && (p[1] & 0xe0) == 0x80)
			return -1;
		for (int i = 1; i <= extra; i++)
			if ((p[i] & 0xc0) != 0x80)
				return -1;
		p += extra + 1;
		n++;
	}
	return n;
}

int api_check_tags(json_t *tags, struct api_error *e)
{
	json_t *t;
	size_t i;

	if (!json_is_array(tags)) {
		api_fail(e, "InvalidParameterException", "tags: expected array, got %s",
			 bjson_type_name(tags));
		return -1;
	}
	if (json_array_size(tags) > 50) {
		api_fail(e, "InvalidParameterException", "tags: %zu tags, at most 50 are allowed",
			 json_array_size(tags));
		return -1;
	}
	json_array_foreach(tags, i, t) {
		json_t *k = json_object_get(t, "key"), *v = json_object_get(t, "value");
		long n;

		if (!json_is_object(t)) {
			api_fail(e, "InvalidParameterException", "tags[%zu]: expected object, got %s",
				 i, bjson_type_name(t));
			return -1;
		}
		if (!json_is_string(k)) {
			api_fail(e, "InvalidParameterException", "tags[%zu].key: expected string, "
				 "got %s", i, bjson_type_name(k));
			return -1;
		}
		n = tag_chars(json_string_value(k));
		if (n < 1 || n > 128) {
			api_fail(e, "InvalidParameterException", "tags[%zu].key: \"%s\" must be 1-128 "
				 "letters, digits, spaces or _.:/=+-@", i, berr_q(json_string_value(k)));
			return -1;
		}
		if (strncasecmp(json_string_value(k), "aws:", 4) == 0) {
			api_fail(e, "InvalidParameterException", "tags[%zu].key: \"%s\": the aws: "
				 "prefix is reserved for AWS use", i, berr_q(json_string_value(k)));
			return -1;
		}
		if (v && !json_is_null(v)) {
			if (!json_is_string(v)) {
				api_fail(e, "InvalidParameterException", "tags[%zu].value: expected "
					 "string, got %s", i, bjson_type_name(v));
				return -1;
			}
			n = tag_chars(json_string_value(v));
			if (n < 0 || n > 256) {
				api_fail(e, "InvalidParameterException", "tags[%zu].value: must be at "
					 "most 256 letters, digits, spaces or _.:/=+-@", i);
				return -1;
			}
		}
	}
	return 0;
}
