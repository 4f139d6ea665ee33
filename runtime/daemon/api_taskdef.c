/* runtime/daemon/api_taskdef.c - RegisterTaskDefinition,
 * DeregisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
 * ListTaskDefinitionFamilies.
 *
 * A registration is validated by the same parser `berth run` uses
 * (task_def_parse), so whatever is registered can be launched.
 *
 * compatibilities (what ECS says the definition is valid for) is kept
 * simple: the definition is checked for both launch types; "EC2" when it
 * passes the EC2 rules, "FARGATE" when it passes Fargate's, and "EXTERNAL"
 * (validated as EC2) when requiresCompatibilities asks for it. A
 * requiresCompatibilities entry whose rules fail is the error returned;
 * without one, the EC2 rules decide. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/cstate.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/store.h"
#include "runtime/task/task.h"

/* The members of RegisterTaskDefinitionRequest that make up the stored
 * TaskDefinition (tags are kept apart, in the tags table). */
static const char *const taskdef_fields[] = {
	"family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
	"volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
	"pidMode", "ipcMode", "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage",
	"runtimePlatform", "enableFaultInjection", NULL,
};

#define DOC_NAME "taskDefinition"

static json_t *fail_parse(struct api_error *e, struct berr **err)
{
	const char *msg = berr_msg(*err);
	size_t n = strlen(DOC_NAME ": ");

	/* "taskDefinition: containerDefinitions[1].image: required" -> the path on */
	if (strncmp(msg, DOC_NAME ": ", n) == 0)
		msg += n;
	api_fail(e, "ClientException", "%s", msg);
	berr_clear(err);
	return NULL;
}

static bool has_compat(json_t *in, const char *name)
{
	json_t *arr = json_object_get(in, "requiresCompatibilities"), *x;
	size_t i;

	json_array_foreach(arr, i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), name) == 0)
			return true;
	return false;
}

/* ECS fills some defaults into what it answers; berth does the ones the
 * runtime relies on: protocol tcp, and hostPort = containerPort where the
 * two must be equal (awsvpc, host). */
static void fill_container_defaults(json_t *doc)
{
	const char *nm = json_string_value(json_object_get(doc, "networkMode"));
	bool same_port = nm && (strcmp(nm, "awsvpc") == 0 || strcmp(nm, "host") == 0);
	json_t *cds = json_object_get(doc, "containerDefinitions"), *c, *pm;
	size_t i, j;

	json_array_foreach(cds, i, c) {
		static const char *const arrays[] = { "portMappings", "environment", "mountPoints",
						      "volumesFrom", NULL };

		if (!json_object_get(c, "cpu"))
			json_object_set_new(c, "cpu", json_integer(0));
		if (!json_object_get(c, "essential"))
			json_object_set_new(c, "essential", json_true());
		for (size_t k = 0; arrays[k]; k++)
			if (!json_object_get(c, arrays[k]))
				json_object_set_new(c, arrays[k], json_array());
		json_array_foreach(json_object_get(c, "portMappings"), j, pm) {
			if (!json_object_get(pm, "protocol"))
				json_object_set_new(pm, "protocol", json_string("tcp"));
			if (same_port && !json_object_get(pm, "hostPort") &&
			    json_object_get(pm, "containerPort"))
				json_object_set(pm, "hostPort", json_object_get(pm, "containerPort"));
		}
	}
	if (!json_object_get(doc, "volumes"))
		json_object_set_new(doc, "volumes", json_array());
	if (!json_object_get(doc, "placementConstraints"))
		json_object_set_new(doc, "placementConstraints", json_array());
}

json_t *api_register_task_definition(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *body = NULL;
	cleanup_free char *arn = NULL;
	cleanup_free char *registered_by = NULL;
	cleanup_json json_t *doc = json_object();
	struct task_def *ec2 = NULL, *fg = NULL;
	struct berr *err_ec2 = NULL, *err_fg = NULL, *err = NULL;
	bool want_fg, want_ec2, want_ext;
	json_t *tags = NULL, *compat, *res = NULL;
	const char *family = NULL;
	struct task_def *td;
	int64_t rev;
	char buf[32];

	if (api_get_string(in, "family", true, &family, e) < 0)
		return NULL;
	if (api_get_array(in, "tags", false, &tags, e) < 0 || (tags && api_check_tags(tags, e) < 0))
		return NULL;
	body = json_dumps(in, JSON_COMPACT);
	if (!body)
		return api_fail(e, "SerializationException", "the request cannot be encoded");
	want_fg = has_compat(in, "FARGATE");
	want_ec2 = has_compat(in, "EC2");
	want_ext = has_compat(in, "EXTERNAL");
	task_def_parse(body, strlen(body), DOC_NAME, TASK_MODE_EC2, &ec2, &err_ec2);
	task_def_parse(body, strlen(body), DOC_NAME, TASK_MODE_FARGATE, &fg, &err_fg);
	if (want_fg && !fg) {
		res = fail_parse(e, &err_fg);
		goto out;
	}
	if ((want_ec2 || want_ext || !want_fg) && !ec2) {
		res = fail_parse(e, &err_ec2);
		goto out;
	}
	td = want_fg ? fg : ec2;

	for (size_t i = 0; taskdef_fields[i]; i++) {
		json_t *v = json_object_get(in, taskdef_fields[i]);

		if (v && !json_is_null(v))
			json_object_set_new(doc, taskdef_fields[i], json_deep_copy(v));
	}
	/* cpu and memory as ECS answers them: "1 vCPU" -> "1024", "2GB" -> "2048" */
	if (td->cpu != TASK_UNSET) {
		snprintf(buf, sizeof(buf), "%" PRId64, td->cpu);
		json_object_set_new(doc, "cpu", json_string(buf));
	}
	if (td->memory != TASK_UNSET) {
		snprintf(buf, sizeof(buf), "%" PRId64, td->memory);
		json_object_set_new(doc, "memory", json_string(buf));
	}
	fill_container_defaults(doc);
	compat = json_array();
	if (ec2)
		json_array_append_new(compat, json_string("EC2"));
	if (fg)
		json_array_append_new(compat, json_string("FARGATE"));
	if (want_ext && ec2)
		json_array_append_new(compat, json_string("EXTERNAL"));
	json_object_set_new(doc, "compatibilities", compat);
	if (!json_object_get(doc, "requiresCompatibilities"))
		json_object_set_new(doc, "requiresCompatibilities", json_array());
	json_object_set_new(doc, "status", json_string("ACTIVE"));
	json_object_set_new(doc, "registeredAt", api_time(api_now()));
	registered_by = xasprintf("arn:aws:iam::%s:root", d->cfg.account_id);
	json_object_set_new(doc, "registeredBy", json_string(registered_by));

	if (store_begin(d->st, &err) < 0) {
		res = api_fail_berr(e, &err, "register task definition %s", family);
		goto out;
	}
	if (store_taskdef_next_revision(d->st, family, &rev, &err) < 0)
		goto fail;
	/* in a cluster the revision is taken in etcd: no other host hands it out */
	if (cstate_on(d) && cstate_taskdef_revision(d, family, rev, &rev, &err) < 0)
		goto fail;
	arn = api_arn(d, "task-definition/%s:%" PRId64, family, rev);
	json_object_set_new(doc, "taskDefinitionArn", json_string(arn));
	json_object_set_new(doc, "revision", json_integer(rev));
	if (store_taskdef_put(d->st, doc, &err) < 0 ||
	    (tags && store_tags_set(d->st, arn, tags, &err) < 0) || store_commit(d->st, &err) < 0)
		goto fail;
	res = json_pack("{s:O, s:o}", "taskDefinition", doc, "tags",
			tags ? json_incref(tags) : json_array());
	goto out;
fail:
	store_rollback(d->st);
	res = api_fail_berr(e, &err, "register task definition %s", family);
out:
	task_def_free(ec2);
	task_def_free(fg);
	berr_free(err_ec2);
	berr_free(err_fg);
	return res;
}

/* ---------------------------------------------------------------- lookup */

/* "family", "family:rev" or "arn:aws:ecs:<region>:<account>:task-definition/family:rev".
 * *rev = 0 when no revision is given. -1 with *e on a malformed reference. */
static int parse_ref(struct berthd *d, const char *ref, char **family, int64_t *rev,
		     struct api_error *e)
{
	const char *s = ref, *colon;

	*family = NULL;
	*rev = 0;
	if (strncmp(ref, "arn:", 4) == 0) {
		cleanup_free char *prefix = xasprintf("arn:aws:ecs:%s:%s:task-definition/",
						      d->cfg.region, d->cfg.account_id);

		if (strncmp(ref, prefix, strlen(prefix)) != 0 || !strchr(ref + strlen(prefix), ':'))
			goto bad;
		s = ref + strlen(prefix);
	}
	colon = strchr(s, ':');
	if (colon) {
		char *end = NULL;
		long long v;

		errno = 0;
		v = strtoll(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || v < 1 || colon[1] == '+' || colon[1] == '-')
			goto bad;
		*rev = v;
	}
	*family = colon ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	if (!**family || strspn(*family, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				"0123456789-_") != strlen(*family) || strlen(*family) > 255) {
		free(*family);
		*family = NULL;
		goto bad;
	}
	return 0;
bad:
	api_fail(e, "ClientException", "taskDefinition: \"%s\" is not a family, family:revision "
		 "or task definition ARN", berr_q(ref));
	return -1;
}

json_t *api_deregister_task_definition(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *family = NULL;
	cleanup_json json_t *doc = NULL;
	struct berr *err = NULL;
	const char *ref = NULL;
	int64_t rev;
	int r;

	if (api_get_string(in, "taskDefinition", true, &ref, e) < 0 ||
	    parse_ref(d, ref, &family, &rev, e) < 0)
		return NULL;
	if (rev == 0)
		return api_fail(e, "InvalidParameterException", "taskDefinition: \"%s\": a revision "
				"is required (family:revision or the task definition ARN)", berr_q(ref));
	if (store_begin(d->st, &err) < 0)
		return api_fail_berr(e, &err, "deregister task definition %s:%" PRId64, family, rev);
	if ((r = store_taskdef_get(d->st, family, rev, &doc, &err)) < 0)
		goto fail;
	if (r == 0) {
		store_rollback(d->st);
		return api_fail(e, "ClientException", "The specified task definition does not exist.");
	}
	if (strcmp(json_string_value(json_object_get(doc, "status")) ?: "", "ACTIVE") == 0) {
		json_object_set_new(doc, "status", json_string("INACTIVE"));
		json_object_set_new(doc, "deregisteredAt", api_time(api_now()));
		if (store_taskdef_put(d->st, doc, &err) < 0)
			goto fail;
	}
	if (store_commit(d->st, &err) < 0)
		goto fail;
	return json_pack("{s:O}", "taskDefinition", doc);
fail:
	store_rollback(d->st);
	return api_fail_berr(e, &err, "deregister task definition %s:%" PRId64, family, rev);
}

json_t *api_describe_task_definition(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *family = NULL;
	cleanup_json json_t *doc = NULL;
	struct api_error pe = { 0 };
	struct berr *err = NULL;
	const char *ref = NULL;
	bool with_tags = false;
	json_t *inc = NULL, *x, *res;
	size_t i;
	int64_t rev;
	int r;

	if (api_get_string(in, "taskDefinition", true, &ref, e) < 0 ||
	    api_get_array(in, "include", false, &inc, e) < 0)
		return NULL;
	json_array_foreach(inc, i, x) {
		if (!json_is_string(x) || strcmp(json_string_value(x), "TAGS") != 0)
			return api_fail(e, "InvalidParameterException", "include[%zu]: must be TAGS", i);
		with_tags = true;
	}
	if (parse_ref(d, ref, &family, &rev, &pe) < 0) {
		api_error_clear(&pe);
		return api_fail(e, "ClientException", "Unable to describe task definition.");
	}
	if ((r = store_taskdef_get(d->st, family, rev, &doc, &err)) < 0)
		return api_fail_berr(e, &err, "describe task definition %s", ref);
	if (r == 0)
		return api_fail(e, "ClientException", "Unable to describe task definition.");
	res = json_pack("{s:O}", "taskDefinition", doc);
	if (with_tags) {
		json_t *tags = NULL;

		if (store_tags_get(d->st, json_string_value(json_object_get(doc, "taskDefinitionArn")),
				   &tags, &err) < 0) {
			json_decref(res);
			return api_fail_berr(e, &err, "describe task definition %s", ref);
		}
		json_object_set_new(res, "tags", tags);
	}
	return res;
}

/* ------------------------------------------------------------------ lists */

static void set_token(json_t *res, json_t *items, bool more, bool arn)
{
	const char *last;
	char *tok;

	if (!more || json_array_size(items) == 0)
		return;
	last = json_string_value(json_array_get(items, json_array_size(items) - 1));
	tok = api_page_token(arn ? api_arn_tail(last) : last);
	json_object_set_new(res, "nextToken", json_string(tok));
	free(tok);
}

json_t *api_list_task_definitions(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *after = NULL;
	const char *prefix = NULL, *status = "ACTIVE", *sort = "ASC";
	struct berr *err = NULL;
	json_t *arns = NULL, *res;
	int64_t limit;
	bool more;

	if (api_get_string(in, "familyPrefix", false, &prefix, e) < 0 ||
	    api_get_string(in, "status", false, &status, e) < 0 ||
	    api_get_string(in, "sort", false, &sort, e) < 0)
		return NULL;
	if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "INACTIVE") != 0 &&
	    strcmp(status, "DELETE_IN_PROGRESS") != 0)
		return api_fail(e, "InvalidParameterException", "status: \"%s\" is not ACTIVE, "
				"INACTIVE or DELETE_IN_PROGRESS", berr_q(status));
	if (strcmp(sort, "ASC") != 0 && strcmp(sort, "DESC") != 0)
		return api_fail(e, "InvalidParameterException", "sort: \"%s\" is not ASC or DESC",
				berr_q(sort));
	if (api_page_start(in, 100, 100, &after, &limit, e) < 0)
		return NULL;
	struct store_page pg = { .after = after, .limit = limit };

	if (store_taskdef_list(d->st, prefix, status, strcmp(sort, "DESC") == 0, &pg, &arns, &more,
			       &err) < 0) {
		if (after && err && err->code == EINVAL) {
			berr_clear(&err);
			return api_fail(e, "InvalidParameterException", "nextToken: not a token from "
					"a previous response of this operation");
		}
		return api_fail_berr(e, &err, "list task definitions");
	}
	res = json_pack("{s:o}", "taskDefinitionArns", arns);
	set_token(res, arns, more, true);
	return res;
}

json_t *api_list_task_definition_families(struct berthd *d, json_t *in, struct api_error *e)
{
	cleanup_free char *after = NULL;
	const char *prefix = NULL, *status = "ALL";
	struct berr *err = NULL;
	json_t *fams = NULL, *res;
	int64_t limit;
	bool more;

	if (api_get_string(in, "familyPrefix", false, &prefix, e) < 0 ||
	    api_get_string(in, "status", false, &status, e) < 0)
		return NULL;
	if (strcmp(status, "ACTIVE") != 0 && strcmp(status, "INACTIVE") != 0 &&
	    strcmp(status, "ALL") != 0)
		return api_fail(e, "InvalidParameterException", "status: \"%s\" is not ACTIVE, "
				"INACTIVE or ALL", berr_q(status));
	if (api_page_start(in, 100, 100, &after, &limit, e) < 0)
		return NULL;
	struct store_page pg = { .after = after, .limit = limit };

	if (store_taskdef_families(d->st, prefix, strcmp(status, "ALL") == 0 ? NULL : status, &pg,
				   &fams, &more, &err) < 0)
		return api_fail_berr(e, &err, "list task definition families");
	res = json_pack("{s:o}", "families", fams);
	set_token(res, fams, more, false);
	return res;
}
