/* runtime/cli/api.c - what the berthd verbs share: calls with error reports,
 * pagination, ARNs, times, tags, and finding a task by id, prefix or ARN. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_api_try(const char *op, json_t *req, json_t **resp, struct client_error *e)
{
	int r = client_call(client_socket_path(cli.socket), 0, op, req, resp, e);

	json_decref(req);
	return r;
}

int cli_api_fail(const char *what, struct client_error *e)
{
	int code = client_error_not_found(e) ? CLI_EXIT_NOT_FOUND : CLI_EXIT_ERROR;
	const char *hint = "";

	if (e->kind != CLIENT_API) {
		log_error("%s: %s", what, e->message ? e->message : "unknown error");
		client_error_clear(e);
		return CLI_EXIT_ERROR;
	}
	if (!strcmp(e->type, "ServerException"))
		hint = "; berthd's log has the details (journalctl -u berthd)";
	else if (!strcmp(e->type, "AccessDeniedException"))
		hint = "; run berth as root";
	else if (!strcmp(e->type, "ClusterNotFoundException"))
		hint = "; see berth cluster ls";
	else if (!strcmp(e->type, "UnsupportedFeatureException"))
		hint = "; this berthd does not support it yet";
	log_error("%s: %s (%s)%s", what, e->message ? e->message : "", e->type, hint);
	client_error_clear(e);
	return code;
}

int cli_api(const char *what, const char *op, json_t *req, json_t **resp)
{
	struct client_error e = { 0 };

	if (cli_api_try(op, req, resp, &e) < 0)
		return cli_api_fail(what, &e);
	return 0;
}

int cli_api_list(const char *what, const char *op, json_t *req, const char *key, json_t **items)
{
	cleanup_json json_t *all = json_array(), *base = req ? req : json_object();
	cleanup_free char *token = NULL;

	/* a token that comes back again would loop forever: bound the pages */
	for (int page = 0; page < 100000; page++) {
		json_t *q = json_deep_copy(base), *resp = NULL, *arr, *next;
		int r;

		if (token)
			json_object_set_new(q, "nextToken", json_string(token));
		r = cli_api(what, op, q, &resp);
		if (r)
			return r;
		arr = json_object_get(resp, key);
		if (json_is_array(arr))
			json_array_extend(all, arr);
		next = json_object_get(resp, "nextToken");
		free(token);
		token = json_is_string(next) && *json_string_value(next) ? xstrdup(json_string_value(next))
									  : NULL;
		json_decref(resp);
		if (!token) {
			*items = steal_pointer(&all);
			return 0;
		}
	}
	log_error("%s: berthd keeps answering with another page; giving up", what);
	return CLI_EXIT_ERROR;
}

void cli_print_json(const json_t *v)
{
	cleanup_free char *txt = json_dumps(v, JSON_INDENT(2));

	printf("%s\n", txt ? txt : "null");
	fflush(stdout);
}

char *cli_clean(const char *s)
{
	char *r = xstrdup(s ? s : "");

	for (char *p = r; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return r;
}

const char *cli_arn_tail(const char *s)
{
	const char *slash;

	if (!s)
		return "";
	if (strncmp(s, "arn:", 4))
		return s;
	slash = strrchr(s, '/');
	return slash ? slash + 1 : s;
}

char *cli_taskdef_name(const char *arn)
{
	const char *p;

	if (!arn)
		return xstrdup("-");
	p = strstr(arn, ":task-definition/");
	return xstrdup(p ? p + strlen(":task-definition/") : arn);
}

void cli_format_time(double t, char *buf, size_t len)
{
	char age[48], when[32];
	time_t s = (time_t)t;
	struct tm tm;

	if (t <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	gmtime_r(&s, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	cli_human_age((int64_t)t, age, sizeof(age));
	snprintf(buf, len, "%s (%s)", when, age);
}

int cli_tag_add(json_t *tags, const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv) {
		log_error("--tag %s: want KEY=VALUE", kv);
		return -1;
	}
	json_array_append_new(tags, json_pack("{s:s%, s:s}", "key", kv, (size_t)(eq - kv),
					      "value", eq + 1));
	return 0;
}

/* Every page of ListClusters, without logging: 0, or -1 with *e. */
static int cluster_names_try(json_t **names, struct client_error *e)
{
	cleanup_json json_t *arns = json_array();
	cleanup_free char *token = NULL;
	json_t *out, *v;
	size_t i;

	for (int page = 0; page < 100000; page++) {
		cleanup_json json_t *resp = NULL;
		json_t *q = json_object(), *next;

		if (token)
			json_object_set_new(q, "nextToken", json_string(token));
		if (cli_api_try("ListClusters", q, &resp, e) < 0)
			return -1;
		json_array_extend(arns, json_object_get(resp, "clusterArns"));
		next = json_object_get(resp, "nextToken");
		free(token);
		token = json_is_string(next) && *json_string_value(next) ? xstrdup(json_string_value(next))
									  : NULL;
		if (!token)
			break;
	}
	out = json_array();
	/* "default" first: that is where tasks usually are */
	json_array_foreach(arns, i, v)
		if (!strcmp(cli_arn_tail(json_string_value(v)), "default"))
			json_array_append_new(out, json_string("default"));
	json_array_foreach(arns, i, v)
		if (json_is_string(v) && strcmp(cli_arn_tail(json_string_value(v)), "default"))
			json_array_append_new(out, json_string(cli_arn_tail(json_string_value(v))));
	*names = out;
	return 0;
}

int cli_cluster_names(const char *only, json_t **names)
{
	struct client_error e = { 0 };

	if (only) {
		*names = json_pack("[s]", only);
		return 0;
	}
	if (cluster_names_try(names, &e) < 0)
		return cli_api_fail("list clusters", &e);
	return 0;
}

bool cli_is_task_id(const char *s)
{
	return strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

/* ------------------------------------------------------------ finding a task */

/* DescribeTasks of one id in one cluster: 1 found (*doc), 0 missing, <0 error (e). */
static int describe_one(const char *cluster, const char *id, json_t **doc, struct client_error *e)
{
	cleanup_json json_t *resp = NULL;
	json_t *t;

	if (cli_api_try("DescribeTasks", json_pack("{s:s, s:[s], s:[s]}", "cluster", cluster, "tasks",
						   id, "include", "TAGS"), &resp, e) < 0)
		return -1;
	t = json_array_get(json_object_get(resp, "tasks"), 0);
	if (!json_is_object(t))
		return 0;
	*doc = json_incref(t);
	return 1;
}

/* Task ARNs of a cluster, desired RUNNING and STOPPED. */
static int list_cluster_tasks(const char *cluster, json_t *into, struct client_error *e)
{
	static const char *const desired[] = { "RUNNING", "STOPPED" };

	for (size_t k = 0; k < 2; k++) {
		cleanup_free char *token = NULL;

		for (int page = 0; page < 100000; page++) {
			cleanup_json json_t *resp = NULL;
			json_t *q = json_pack("{s:s, s:s}", "cluster", cluster, "desiredStatus", desired[k]);
			json_t *next;

			if (token)
				json_object_set_new(q, "nextToken", json_string(token));
			if (cli_api_try("ListTasks", q, &resp, e) < 0)
				return -1;
			json_array_extend(into, json_object_get(resp, "taskArns"));
			next = json_object_get(resp, "nextToken");
			free(token);
			token = json_is_string(next) ? xstrdup(json_string_value(next)) : NULL;
			if (!token)
				break;
		}
	}
	return 0;
}

static int find_error(const char *ref, bool quiet, struct client_error *e)
{
	cleanup_free char *what = NULL;

	if (quiet && e->kind == CLIENT_UNREACHABLE) {
		client_error_clear(e);
		return -1;
	}
	if (quiet && client_error_not_found(e)) {
		client_error_clear(e);
		return CLI_EXIT_NOT_FOUND;
	}
	what = xasprintf("task %s", ref);
	return cli_api_fail(what, e);
}

int cli_task_find(const char *ref, const char *cluster, bool quiet, struct cli_task *out)
{
	struct client_error e = { 0 };
	cleanup_json json_t *clusters = NULL, *matches = NULL;
	cleanup_free char *clean = cli_clean(ref);
	char id[33], arn_cluster[256] = "";
	const char *p = ref;
	size_t n, i;
	json_t *v;
	int r;

	memset(out, 0, sizeof(*out));
	if (!strncmp(ref, "arn:", 4)) {
		const char *t = strstr(ref, ":task/"), *slash;

		if (!t) {
			log_error("\"%s\" is not a task ARN (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID)",
				  clean);
			return CLI_EXIT_USAGE;
		}
		t += strlen(":task/");
		slash = strchr(t, '/');
		if (slash) {
			snprintf(arn_cluster, sizeof(arn_cluster), "%.*s", (int)(slash - t), t);
			t = slash + 1;
		}
		p = t;
	}
	n = strlen(p);
	if (n == 0 || n > 32 || strspn(p, "0123456789abcdefABCDEF") != n) {
		log_error("\"%s\" is not a task id, id prefix or task ARN (see berth ps -a)", clean);
		return CLI_EXIT_USAGE;
	}
	for (i = 0; i <= n; i++)
		id[i] = (char)tolower((unsigned char)p[i]);
	if (cluster || arn_cluster[0])
		clusters = json_pack("[s]", cluster ? cluster : arn_cluster);
	else if (cluster_names_try(&clusters, &e) < 0)
		return find_error(clean, quiet, &e);

	if (n == 32) {
		json_array_foreach(clusters, i, v) {
			json_t *doc = NULL;

			r = describe_one(json_string_value(v), id, &doc, &e);
			if (r < 0 && client_error_not_found(&e) && !cluster && !arn_cluster[0]) {
				client_error_clear(&e);   /* a cluster deleted meanwhile */
				continue;
			}
			if (r < 0)
				return find_error(clean, quiet, &e);
			if (r > 0) {
				snprintf(out->cluster, sizeof(out->cluster), "%s", json_string_value(v));
				memcpy(out->id, id, 33);
				out->doc = doc;
				return 0;
			}
		}
	} else {
		matches = json_array();
		json_array_foreach(clusters, i, v) {
			cleanup_json json_t *arns = json_array();
			json_t *a;
			size_t k;

			if (list_cluster_tasks(json_string_value(v), arns, &e) < 0) {
				if (client_error_not_found(&e) && !cluster && !arn_cluster[0]) {
					client_error_clear(&e);
					continue;
				}
				return find_error(clean, quiet, &e);
			}
			json_array_foreach(arns, k, a) {
				const char *tid = cli_arn_tail(json_string_value(a));

				if (!strncmp(tid, id, n))
					json_array_append_new(matches, json_pack("[s, s]", json_string_value(v),
										 tid));
			}
		}
		if (json_array_size(matches) > 1) {
			log_error("task id prefix \"%s\" is ambiguous: it matches %zu tasks (%.12s, %.12s%s); "
				  "give more of the id", clean, json_array_size(matches),
				  json_string_value(json_array_get(json_array_get(matches, 0), 1)),
				  json_string_value(json_array_get(json_array_get(matches, 1), 1)),
				  json_array_size(matches) > 2 ? ", ..." : "");
			return CLI_EXIT_USAGE;
		}
		if (json_array_size(matches) == 1) {
			json_t *m = json_array_get(matches, 0);
			const char *c = json_string_value(json_array_get(m, 0));
			json_t *doc = NULL;

			r = describe_one(c, json_string_value(json_array_get(m, 1)), &doc, &e);
			if (r < 0)
				return find_error(clean, quiet, &e);
			if (r > 0) {
				snprintf(out->cluster, sizeof(out->cluster), "%s", c);
				snprintf(out->id, sizeof(out->id), "%s", json_string_value(json_array_get(m, 1)));
				out->doc = doc;
				return 0;
			}
		}
	}
	if (quiet)
		return CLI_EXIT_NOT_FOUND;
	if (cluster || arn_cluster[0])
		log_error("task %s not found in cluster %s (see berth ps -a --cluster %s)", clean,
			  cluster ? cluster : arn_cluster, cluster ? cluster : arn_cluster);
	else
		log_error("task %s not found in any cluster (see berth ps -a)", clean);
	return CLI_EXIT_NOT_FOUND;
}
