/* runtime/cli/cluster.c - `berth cluster ...` and `berth instances`: clusters
 * and container instances through berthd. */
#include "runtime/cli/cli.h"
#include "runtime/cli/client.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cluster_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth cluster COMMAND\n"
		"\n"
		"Clusters group tasks (ECS clusters, kept by berthd). \"default\" always exists\n"
		"and holds this host's container instance.\n"
		"\n"
		"  ls                     list clusters (NAME, STATUS, INSTANCES, RUNNING, PENDING)\n"
		"  create NAME [--tag KEY=VALUE]...\n"
		"                         create a cluster (1-255 letters, digits, - and _)\n"
		"  describe [NAME...]     the clusters' details (default: \"default\")\n"
		"  rm NAME...             delete clusters; refused while tasks run in them\n"
		"\n"
		"Options: --json (the API's response), -h/--help. Exit codes: 0 done, 1 berthd\n"
		"unreachable or it refused, 2 usage, 3 a cluster does not exist.\n");
}

static void instances_usage(FILE *f)
{
	fprintf(f,
		"Usage: berth instances [--cluster NAME] [--json]\n"
		"\n"
		"Container instances (hosts) with their registered and remaining CPU units\n"
		"and memory (MiB) and their tasks; every cluster unless --cluster is given.\n"
		"berthd registers this host in cluster \"default\".\n");
}

/* getopt for a subcommand taking --json, --help and `extra`: returns the
 * option, or -2 after --help (printed), -3 on a usage error. */
static int next_opt(int argc, char **argv, const struct option *opts, void (*usage)(FILE *))
{
	int c = getopt_long(argc, argv, "h", opts, NULL);

	if (c == 'h') {
		usage(stdout);
		return -2;
	}
	if (c == 'j') {
		cli.json = true;
		return next_opt(argc, argv, opts, usage);
	}
	if (c == '?')
		return -3;
	return c;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static char *num(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? xasprintf("%lld", (long long)json_integer_value(v)) : xstrdup("-");
}

/* ------------------------------------------------------------ ls */

static int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING" };
	cleanup_json json_t *arns = NULL, *all = json_array(), *failures = json_array();
	struct cli_table *t;
	json_t *v;
	size_t i;
	int c, r;

	while ((c = next_opt(argc, argv, opts, cluster_usage)) != -1)
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	if (optind != argc) {
		log_error("cluster ls: takes no arguments");
		return CLI_EXIT_USAGE;
	}
	if ((r = cli_api_list("list clusters", "ListClusters", NULL, "clusterArns", &arns)))
		return r;
	for (i = 0; i < json_array_size(arns); i += 100) {
		cleanup_json json_t *resp = NULL;
		json_t *names = json_array();

		for (size_t k = i; k < i + 100 && k < json_array_size(arns); k++)
			json_array_append(names, json_array_get(arns, k));
		if ((r = cli_api("describe clusters", "DescribeClusters",
				 json_pack("{s:o}", "clusters", names), &resp)))
			return r;
		json_array_extend(all, json_object_get(resp, "clusters"));
		json_array_extend(failures, json_object_get(resp, "failures"));
	}
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:O, s:O}", "clusters", all, "failures", failures);

		cli_print_json(o);
		return 0;
	}
	t = cli_table_new(5, hdr);
	json_array_foreach(all, i, v) {
		cleanup_free char *name = cli_clean(str(v, "clusterName")), *st = cli_clean(str(v, "status"));
		cleanup_free char *ci = num(v, "registeredContainerInstancesCount");
		cleanup_free char *run = num(v, "runningTasksCount"), *pend = num(v, "pendingTasksCount");
		const char *row[5] = { name, st, ci, run, pend };

		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return 0;
}

/* ------------------------------------------------------------ create */

static int cmd_create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tag", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *tags = json_array(), *resp = NULL;
	cleanup_free char *what = NULL;
	json_t *req;
	int c, r;

	while ((c = next_opt(argc, argv, opts, cluster_usage)) != -1) {
		if (c == 't' && cli_tag_add(tags, optarg) == 0)
			continue;
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind + 1 != argc) {
		log_error("cluster create: give one NAME (see berth cluster --help)");
		return CLI_EXIT_USAGE;
	}
	req = json_pack("{s:s}", "clusterName", argv[optind]);
	if (json_array_size(tags))
		json_object_set(req, "tags", tags);
	what = xasprintf("create cluster %s", argv[optind]);
	if ((r = cli_api(what, "CreateCluster", req, &resp)))
		return r;
	if (cli.json) {
		cli_print_json(resp);
	} else {
		json_t *cl = json_object_get(resp, "cluster");
		cleanup_free char *name = cli_clean(str(cl, "clusterName"));
		cleanup_free char *arn = cli_clean(str(cl, "clusterArn"));

		printf("cluster %s: %s\n", name, arn);
	}
	return 0;
}

/* ------------------------------------------------------------ describe */

static void print_cluster(const json_t *cl)
{
	cleanup_free char *name = cli_clean(str(cl, "clusterName")), *arn = cli_clean(str(cl, "clusterArn"));
	cleanup_free char *st = cli_clean(str(cl, "status"));
	cleanup_free char *ci = num(cl, "registeredContainerInstancesCount");
	cleanup_free char *run = num(cl, "runningTasksCount"), *pend = num(cl, "pendingTasksCount");
	cleanup_free char *svc = num(cl, "activeServicesCount");
	json_t *v;
	size_t i;

	printf("Name:                %s\n", name);
	printf("ARN:                 %s\n", arn);
	printf("Status:              %s\n", st);
	printf("Container instances: %s\n", ci);
	printf("Tasks:               %s running, %s pending\n", run, pend);
	printf("Services:            %s\n", svc);
	json_array_foreach(json_object_get(cl, "settings"), i, v) {
		cleanup_free char *k = cli_clean(str(v, "name")), *val = cli_clean(str(v, "value"));

		printf("%s %s = %s\n", i == 0 ? "Settings:           " : "                    ", k, val);
	}
	json_array_foreach(json_object_get(cl, "tags"), i, v) {
		cleanup_free char *k = cli_clean(str(v, "key")), *val = cli_clean(str(v, "value"));

		printf("%s %s=%s\n", i == 0 ? "Tags:               " : "                    ", k, val);
	}
}

static int cmd_describe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *names = json_array(), *resp = NULL;
	json_t *v;
	size_t i;
	int c, r, rc = 0;

	while ((c = next_opt(argc, argv, opts, cluster_usage)) != -1)
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	for (int k = optind; k < argc; k++)
		json_array_append_new(names, json_string(argv[k]));
	if (!json_array_size(names))
		json_array_append_new(names, json_string("default"));
	if (json_array_size(names) > 100) {
		log_error("cluster describe: at most 100 clusters at once");
		return CLI_EXIT_USAGE;
	}
	if ((r = cli_api("describe clusters", "DescribeClusters",
			 json_pack("{s:O, s:[s, s, s]}", "clusters", names, "include", "SETTINGS",
				   "STATISTICS", "TAGS"), &resp)))
		return r;
	if (cli.json)
		cli_print_json(resp);
	json_array_foreach(json_object_get(resp, "clusters"), i, v) {
		if (cli.json)
			break;
		if (i)
			printf("\n");
		print_cluster(v);
	}
	json_array_foreach(json_object_get(resp, "failures"), i, v) {
		cleanup_free char *arn = cli_clean(cli_arn_tail(str(v, "arn")));
		cleanup_free char *why = cli_clean(str(v, "reason"));

		if (!strcmp(why, "MISSING")) {
			log_error("cluster %s not found (see berth cluster ls)", arn);
			rc = CLI_EXIT_NOT_FOUND;
		} else {
			log_error("cluster %s: %s", arn, why);
			if (!rc)
				rc = CLI_EXIT_ERROR;
		}
	}
	return rc;
}

/* ------------------------------------------------------------ rm */

static int cmd_rm(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	cleanup_json json_t *out = json_array();
	int c, rc = 0;

	while ((c = next_opt(argc, argv, opts, cluster_usage)) != -1)
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	if (optind >= argc) {
		log_error("cluster rm: give the NAME of a cluster (see berth cluster --help)");
		return CLI_EXIT_USAGE;
	}
	for (int k = optind; k < argc; k++) {
		cleanup_free char *what = xasprintf("remove cluster %s", argv[k]);
		struct client_error e = { 0 };
		json_t *resp = NULL;
		int r;

		if (cli_api_try("DeleteCluster", json_pack("{s:s}", "cluster", argv[k]), &resp, &e) < 0) {
			cleanup_free char *name = cli_clean(argv[k]);
			cleanup_free char *hint = NULL;

			if (!strcmp(e.type, "ClusterContainsTasksException"))
				hint = xasprintf("stop its tasks first (berth ps --cluster %s; berth stop "
						 "--cluster %s TASK...)", name, name);
			else if (!strcmp(e.type, "ClusterContainsContainerInstancesException"))
				hint = xstrdup("a container instance is registered in it (berthd "
					       "registers this host in \"default\", which stays)");
			r = cli_api_fail(what, &e);
			if (hint)
				log_error("%s: %s", what, hint);
			if (r > rc)
				rc = r;
			continue;
		}
		if (cli.json) {
			json_array_append_new(out, resp);
		} else {
			cleanup_free char *name = cli_clean(argv[k]);

			printf("removed cluster %s\n", name);
			json_decref(resp);
		}
	}
	if (cli.json && json_array_size(out)) {
		/* one response: as is; several: an array of them */
		cli_print_json(json_array_size(out) == 1 ? json_array_get(out, 0) : out);
	}
	return rc;
}

int cli_cluster(int argc, char **argv)
{
	const char *sub;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		cluster_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	sub = argv[1];
	argc--;
	argv++;
	if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
		return cmd_ls(argc, argv);
	if (!strcmp(sub, "create"))
		return cmd_create(argc, argv);
	if (!strcmp(sub, "describe") || !strcmp(sub, "inspect"))
		return cmd_describe(argc, argv);
	if (!strcmp(sub, "rm") || !strcmp(sub, "remove") || !strcmp(sub, "delete"))
		return cmd_rm(argc, argv);
	log_error("cluster: unknown command \"%s\" (see berth cluster --help)", sub);
	return CLI_EXIT_USAGE;
}

/* ------------------------------------------------------------ instances */

/* integerValue of the resource called name in a resources array, or -1 */
static long long resource(const json_t *res, const char *name)
{
	json_t *v;
	size_t i;

	json_array_foreach(res, i, v)
		if (!strcmp(str(v, "name"), name) && json_is_integer(json_object_get(v, "integerValue")))
			return (long long)json_integer_value(json_object_get(v, "integerValue"));
	return -1;
}

static char *resource_str(const json_t *res, const char *name, const char *unit)
{
	long long v = resource(res, name);

	return v < 0 ? xstrdup("-") : xasprintf("%lld%s", v, unit);
}

int cli_instances(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cluster", required_argument, NULL, 'c' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	static const char *const hdr[] = { "INSTANCE", "CLUSTER", "STATUS", "CPU", "CPU FREE", "MEMORY",
					   "MEMORY FREE", "TASKS" };
	cleanup_json json_t *clusters = NULL, *all = json_array(), *failures = json_array();
	const char *cluster = NULL;
	struct cli_table *t;
	json_t *cn, *v;
	size_t i;
	int c, r;

	while ((c = next_opt(argc, argv, opts, instances_usage)) != -1) {
		if (c == 'c') {
			cluster = optarg;
			continue;
		}
		return c == -2 ? 0 : CLI_EXIT_USAGE;
	}
	if (optind != argc) {
		log_error("instances: takes no arguments (see berth instances --help)");
		return CLI_EXIT_USAGE;
	}
	if ((r = cli_cluster_names(cluster, &clusters)))
		return r;
	json_array_foreach(clusters, i, cn) {
		cleanup_json json_t *arns = NULL;
		cleanup_free char *what = xasprintf("list container instances of cluster %s",
						    json_string_value(cn));

		if ((r = cli_api_list(what, "ListContainerInstances",
				      json_pack("{s:O}", "cluster", cn), "containerInstanceArns", &arns)))
			return r;
		for (size_t k = 0; k < json_array_size(arns); k += 100) {
			cleanup_json json_t *resp = NULL;
			json_t *batch = json_array(), *d;
			size_t m;

			for (size_t j = k; j < k + 100 && j < json_array_size(arns); j++)
				json_array_append(batch, json_array_get(arns, j));
			if ((r = cli_api(what, "DescribeContainerInstances",
					 json_pack("{s:O, s:o}", "cluster", cn, "containerInstances", batch),
					 &resp)))
				return r;
			json_array_foreach(json_object_get(resp, "containerInstances"), m, d) {
				/* the cluster is not part of a ContainerInstance: keep it for the table */
				json_t *copy = json_deep_copy(d);

				if (!cli.json)
					json_object_set(copy, "_cluster", cn);
				json_array_append_new(all, copy);
			}
			json_array_extend(failures, json_object_get(resp, "failures"));
		}
	}
	if (cli.json) {
		cleanup_json json_t *o = json_pack("{s:O, s:O}", "containerInstances", all,
						   "failures", failures);

		cli_print_json(o);
		return 0;
	}
	t = cli_table_new(8, hdr);
	json_array_foreach(all, i, v) {
		json_t *reg = json_object_get(v, "registeredResources");
		json_t *rem = json_object_get(v, "remainingResources");
		cleanup_free char *id = cli_clean(cli_arn_tail(str(v, "containerInstanceArn")));
		cleanup_free char *cl = cli_clean(str(v, "_cluster")), *st = cli_clean(str(v, "status"));
		cleanup_free char *cpu = resource_str(reg, "CPU", ""), *cpuf = resource_str(rem, "CPU", "");
		cleanup_free char *mem = resource_str(reg, "MEMORY", " MiB");
		cleanup_free char *memf = resource_str(rem, "MEMORY", " MiB");
		cleanup_free char *run = num(v, "runningTasksCount"), *pend = num(v, "pendingTasksCount");
		cleanup_free char *tasks = xasprintf("%s running, %s pending", run, pend);
		const char *row[8] = { id, cl, st, cpu, cpuf, mem, memf, tasks };

		if (strlen(id) > 12)
			id[12] = '\0';
		cli_table_row(t, row);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return 0;
}
