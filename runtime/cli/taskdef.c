/* runtime/cli/taskdef.c - `berth taskdef ...`: task definitions in berthd. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASKDEF_FILE_MAX (4u << 20)

static void taskdef_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth taskdef COMMAND\n"
		"\n"
		"Task definitions registered in berthd (ECS RegisterTaskDefinition & co).\n"
		"\n"
		"  register FILE [--tag KEY=VALUE]...\n"
		"                  register the task definition in FILE (JSON: the ECS\n"
		"                  RegisterTaskDefinition request, or the output of\n"
		"                  `berth --json taskdef describe`); prints FAMILY:REVISION\n"
		"  ls [--family-prefix P] [--status ACTIVE|INACTIVE] [--sort ASC|DESC]\n"
		"                  list FAMILY:REVISION of the registered definitions (ACTIVE\n"
		"                  ones by default), of the families starting with P\n"
		"  describe FAMILY[:REVISION]|ARN\n"
		"                  a definition's summary and containers (the latest ACTIVE\n"
		"                  revision when none is given)\n"
		"  deregister FAMILY:REVISION|ARN...\n"
		"                  mark revisions INACTIVE: no new task can use them\n"
		"\n"
		"Options: --json (the API's response), -h/--help. Exit codes: 0 done, 1 berthd\n"
		"unreachable or it refused (an invalid definition), 2 usage or an unreadable\n"
		"FILE, 3 the task definition does not exist.\n");
}

static int next_opt(int argc, char **argv, const struct option *opts)
{
	int c = getopt_long(argc, argv, "h", opts, NULL);

	if (c == 'h') {
		taskdef_usage(stdout);
		return -2;
	}
	if (c == 'j') {
		cli.json = true;
		return next_opt(argc, argv, opts);
	}
	return c == '?' ? -3 : c;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* ------------------------------------------------------------ register */

int cli_taskdef_register_file(const char *path, json_t *tags, json_t **taskdef)
{
	/* what DescribeTaskDefinition adds and RegisterTaskDefinition refuses */
	static const char *const added[] = {
		"taskDefinitionArn", "revision", "status", "registeredAt", "registeredBy",
		"deregisteredAt", "compatibilities", "requiresAttributes", NULL,
	};
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *doc = NULL, *resp = NULL;
	cleanup_free char *what = NULL;
	json_t *req, *inner, *v;
	size_t i;
	int r;

	if (bjson_load_file(path, TASKDEF_FILE_MAX, &doc, &err) < 0) {
		log_error("task definition file: %s", berr_msg(err));
		return CLI_EXIT_USAGE;
	}
	if (!json_is_object(doc)) {
		log_error("task definition file %s: expected a JSON object, got %s", path,
			  bjson_type_name(doc));
		return CLI_EXIT_USAGE;
	}
	inner = json_object_get(doc, "taskDefinition");
	if (json_is_object(inner)) {
		/* DescribeTaskDefinition's output: {"taskDefinition": {...}, "tags": [...]} */
		req = json_deep_copy(inner);
		if (json_array_size(json_object_get(doc, "tags")))
			json_object_set(req, "tags", json_object_get(doc, "tags"));
	} else {
		req = json_deep_copy(doc);
	}
	for (i = 0; added[i]; i++)
		json_object_del(req, added[i]);
	if (tags && json_array_size(tags)) {
		json_t *all = json_object_get(req, "tags");

		if (!json_is_array(all)) {
			all = json_array();
			json_object_set_new(req, "tags", all);
		}
		json_array_foreach(tags, i, v)
			json_array_append(all, v);
	}
	what = xasprintf("register task definition %s", path);
	if ((r = cli_api(what, "RegisterTaskDefinition", req, &resp)))
		return r;
	if (!json_is_object(json_object_get(resp, "taskDefinition"))) {
		log_error("%s: berthd's answer has no taskDefinition", what);
		return CLI_EXIT_ERROR;
	}
	*taskdef = steal_pointer(&resp);
	return 0;
}

static int cmd_register(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *tags = json_array(), *resp = NULL;
	json_t *td;
	int c, r;

	while ((c = next_opt(argc, argv, opts)) != -1) {
		if (c == 't' && cli_tag_add(tags, optarg) == 0)
			continue;
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		log_error("taskdef register: give one FILE (see berth taskdef --help)");
		return CLI_EXIT_USAGE;
	}
	if ((r = cli_taskdef_register_file(argv[optind], tags, &resp)))
		return r;
	if (cli.json) {
		cli_print_json(resp);
		return 0;
	}
	td = json_object_get(resp, "taskDefinition");
	{
		cleanup_free char *fam = cli_clean(str(td, "family"));

		printf("%s:%lld\n", fam, (long long)json_integer_value(json_object_get(td, "revision")));
	}
	return 0;
}

/* ------------------------------------------------------------ ls */

static int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "family-prefix", required_argument, NULL, 'f' },
		{ "status", required_argument, NULL, 's' },
		{ "sort", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "TASK DEFINITION" };
	cleanup_json json_t *req = json_object(), *arns = NULL, *families = NULL;
	const char *prefix = NULL;
	struct cli_table *t;
	json_t *v;
	size_t i;
	int c, r;

	while ((c = next_opt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'f':
			prefix = optarg;
			break;
		case 's':
		case 'o': {
			cleanup_free char *up = xstrdup(optarg);

			for (char *p = up; *p; p++)
				*p = (char)toupper((unsigned char)*p);
			json_object_set_new(req, c == 's' ? "status" : "sort", json_string(up));
			break;
		}
		default:
			return c == -2 ? 0 : CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		log_error("taskdef ls: takes no arguments (see berth taskdef --help)");
		return CLI_EXIT_USAGE;
	}
	if (!prefix) {
		if ((r = cli_api_list("list task definitions", "ListTaskDefinitions", json_incref(req),
				      "taskDefinitionArns", &arns)))
			return r;
	} else {
		/* ListTaskDefinitions' familyPrefix is a whole family name (as in ECS):
		 * the families with the prefix first, then each one's revisions */
		if ((r = cli_api_list("list task definition families", "ListTaskDefinitionFamilies",
				      json_pack("{s:s, s:s}", "familyPrefix", prefix, "status", "ALL"),
				      "families", &families)))
			return r;
		arns = json_array();
		json_array_foreach(families, i, v) {
			cleanup_json json_t *some = NULL;
			json_t *q = json_deep_copy(req);

			json_object_set(q, "familyPrefix", v);
			if ((r = cli_api_list("list task definitions", "ListTaskDefinitions", q,
					      "taskDefinitionArns", &some)))
				return r;
			json_array_extend(arns, some);
		}
	}
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:O}", "taskDefinitionArns", arns);

		cli_print_json(o);
		return 0;
	}
	t = cli_table_new(1, hdr);
	json_array_foreach(arns, i, v) {
		cleanup_free char *raw = cli_taskdef_name(json_string_value(v));
		cleanup_free char *name = cli_clean(raw);
		const char *row[1] = { name };

		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return 0;
}

/* ------------------------------------------------------------ describe */

static char *join_strings(const json_t *arr)
{
	size_t i, len = 0;
	json_t *v;
	char *out;

	json_array_foreach(arr, i, v)
		len += strlen(json_string_value(v) ?: "") + 2;
	out = xzalloc(len + 2);
	json_array_foreach(arr, i, v) {
		if (i)
			strcat(out, ", ");
		strcat(out, json_string_value(v) ?: "");
	}
	return out;
}

static char *int_or(const json_t *o, const char *k, const char *unit)
{
	json_t *v = json_object_get(o, k);

	if (json_is_integer(v))
		return xasprintf("%lld%s", (long long)json_integer_value(v), unit);
	if (json_is_string(v))
		return xasprintf("%s%s", json_string_value(v), unit);
	return xstrdup("-");
}

static char *ports_of(const json_t *c)
{
	json_t *pm = json_object_get(c, "portMappings"), *v;
	char *out = xstrdup("");
	size_t i;

	json_array_foreach(pm, i, v) {
		json_t *hp = json_object_get(v, "hostPort"), *cp = json_object_get(v, "containerPort");
		const char *proto = json_string_value(json_object_get(v, "protocol")) ?: "tcp";
		char *next;

		if (json_is_integer(hp) && json_integer_value(hp) != json_integer_value(cp))
			next = xasprintf("%s%s%lld->%lld/%s", out, i ? ", " : "",
					 (long long)json_integer_value(hp), (long long)json_integer_value(cp),
					 proto);
		else
			next = xasprintf("%s%s%lld/%s", out, i ? ", " : "", (long long)json_integer_value(cp),
					 proto);
		free(out);
		out = next;
	}
	return out;
}

static void print_taskdef(const json_t *td, const json_t *tags)
{
	static const char *const hdr[] = { "CONTAINER", "IMAGE", "ESSENTIAL", "CPU", "MEMORY", "PORTS" };
	cleanup_free char *fam = cli_clean(str(td, "family")), *arn = cli_clean(str(td, "taskDefinitionArn"));
	cleanup_free char *st = cli_clean(str(td, "status"));
	cleanup_free char *net = cli_clean(json_object_get(td, "networkMode") ? str(td, "networkMode")
								    : "bridge (default)");
	cleanup_free char *compat_raw = join_strings(json_object_get(td, "compatibilities"));
	cleanup_free char *req_raw = join_strings(json_object_get(td, "requiresCompatibilities"));
	cleanup_free char *compat = cli_clean(compat_raw), *reqc = cli_clean(req_raw);
	cleanup_free char *cpu = int_or(td, "cpu", ""), *mem = int_or(td, "memory", " MiB");
	struct cli_table *t;
	char when[96];
	json_t *v;
	size_t i;

	printf("Task definition: %s:%lld\n", fam, (long long)json_integer_value(json_object_get(td, "revision")));
	printf("ARN:             %s\n", arn);
	printf("Status:          %s\n", st);
	printf("Network mode:    %s\n", net);
	printf("Compatible with: %s%s%s%s\n", *compat ? compat : "-", *reqc ? " (requires " : "",
	       reqc, *reqc ? ")" : "");
	printf("CPU / memory:    %s / %s\n", cpu, mem);
	if (json_object_get(td, "taskRoleArn")) {
		cleanup_free char *role = cli_clean(str(td, "taskRoleArn"));

		printf("Task role:       %s\n", role);
	}
	cli_format_time(json_number_value(json_object_get(td, "registeredAt")), when, sizeof(when));
	printf("Registered:      %s\n", when);
	if (json_object_get(td, "deregisteredAt")) {
		cli_format_time(json_number_value(json_object_get(td, "deregisteredAt")), when, sizeof(when));
		printf("Deregistered:    %s\n", when);
	}
	json_array_foreach(tags, i, v) {
		cleanup_free char *k = cli_clean(str(v, "key")), *val = cli_clean(str(v, "value"));

		printf("%s%s=%s\n", i == 0 ? "Tags:            " : "                 ", k, val);
	}
	printf("\n");
	t = cli_table_new(6, hdr);
	json_array_foreach(json_object_get(td, "containerDefinitions"), i, v) {
		json_t *ess = json_object_get(v, "essential");
		cleanup_free char *name = cli_clean(str(v, "name")), *image = cli_clean(str(v, "image"));
		cleanup_free char *ccpu = int_or(v, "cpu", ""), *cmem = NULL, *ports_raw = ports_of(v);
		cleanup_free char *ports = cli_clean(ports_raw);
		const char *row[6];

		if (json_object_get(v, "memory"))
			cmem = int_or(v, "memory", " MiB");
		else if (json_object_get(v, "memoryReservation"))
			cmem = int_or(v, "memoryReservation", " MiB (soft)");
		else
			cmem = xstrdup("-");
		row[0] = name;
		row[1] = image;
		row[2] = !ess || json_is_true(ess) ? "yes" : "no";
		row[3] = ccpu;
		row[4] = cmem;
		row[5] = *ports ? ports : "-";
		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
}

static int cmd_describe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *resp = NULL;
	cleanup_free char *what = NULL;
	struct client_error e = { 0 };
	int c;

	while ((c = next_opt(argc, argv, opts)) != -1)
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	if (optind + 1 != argc) {
		log_error("taskdef describe: give one FAMILY[:REVISION] (see berth taskdef --help)");
		return CLI_EXIT_USAGE;
	}
	what = xasprintf("task definition %s", argv[optind]);
	if (cli_api_try("DescribeTaskDefinition", json_pack("{s:s, s:[s]}", "taskDefinition",
							     argv[optind], "include", "TAGS"),
			&resp, &e) < 0) {
		cleanup_free char *clean = cli_clean(argv[optind]);

		if (!client_error_not_found(&e))
			return cli_api_fail(what, &e);
		client_error_clear(&e);
		log_error("task definition %s not found (see berth taskdef ls; --status INACTIVE "
			  "lists deregistered ones)", clean);
		return CLI_EXIT_NOT_FOUND;
	}
	if (cli.json)
		cli_print_json(resp);
	else
		print_taskdef(json_object_get(resp, "taskDefinition"), json_object_get(resp, "tags"));
	return 0;
}

/* ------------------------------------------------------------ deregister */

static int cmd_deregister(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *out = json_array();
	int c, rc = 0;

	while ((c = next_opt(argc, argv, opts)) != -1)
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	if (optind >= argc) {
		log_error("taskdef deregister: give FAMILY:REVISION (see berth taskdef --help)");
		return CLI_EXIT_USAGE;
	}
	for (int k = optind; k < argc; k++) {
		cleanup_free char *what = xasprintf("deregister task definition %s", argv[k]);
		json_t *resp = NULL;
		int r;

		if (strncmp(argv[k], "arn:", 4) && !strchr(argv[k], ':')) {
			cleanup_free char *clean = cli_clean(argv[k]);

			log_error("taskdef deregister %s: give the revision too, FAMILY:REVISION (see "
				  "berth taskdef ls --family-prefix %s)", clean, clean);
			rc = rc ? rc : CLI_EXIT_USAGE;
			continue;
		}
		r = cli_api(what, "DeregisterTaskDefinition", json_pack("{s:s}", "taskDefinition", argv[k]),
			    &resp);
		if (r) {
			if (r > rc)
				rc = r;
			continue;
		}
		if (cli.json) {
			json_array_append_new(out, resp);
		} else {
			json_t *td = json_object_get(resp, "taskDefinition");
			cleanup_free char *fam = cli_clean(str(td, "family")), *st = cli_clean(str(td, "status"));

			printf("deregistered %s:%lld (%s)\n", fam,
			       (long long)json_integer_value(json_object_get(td, "revision")), st);
			json_decref(resp);
		}
	}
	if (cli.json && json_array_size(out))
		cli_print_json(json_array_size(out) == 1 ? json_array_get(out, 0) : out);
	return rc;
}

int cli_taskdef(int argc, char **argv)
{
	const char *sub;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		taskdef_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "register"))
		return cmd_register(argc, argv);
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return cmd_ls(argc, argv);
	if (!strcmp(sub, "describe") || !strcmp(sub, "inspect"))
		return cmd_describe(argc, argv);
	if (!strcmp(sub, "deregister") || !strcmp(sub, "rm"))
		return cmd_deregister(argc, argv);
	log_error("taskdef: unknown command \"%s\" (see berth taskdef --help)", sub);
	return CLI_EXIT_USAGE;
}
