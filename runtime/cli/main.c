/* runtime/cli/main.c - `berth`: global options and verb dispatch. */
#include "runtime/cli/cli.h"
#include "common/log.h"
#include "runtime/container/launch.h"

#include <errno.h>
#include <unistd.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BERTH_VERSION "0.1.0"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: berth [--root DIR] [--socket PATH] [--json] [--log-level LEVEL] COMMAND [ARGS]\n"
		"\n"
		"berth runs ECS task definitions on this host without Docker.\n"
		"\n"
		"On this host, no daemon:\n"
		"  image      import, list, inspect, tag, remove and prune images (berth image --help)\n"
		"  run        run a task definition in the foreground (berth run --help)\n"
		"\n"
		"Through berthd (the ECS API daemon; docs/cli.md):\n"
		"  cluster    list, create, describe and remove clusters\n"
		"  taskdef    register, list, describe and deregister task definitions\n"
		"  run -d     start tasks of a task definition and return (berth run --detach --help)\n"
		"  ps         list tasks (-a: stopped ones too)\n"
		"  describe   a task's state, stop reason and containers\n"
		"  stop       stop tasks\n"
		"  logs       a task's container output (-f follows)\n"
		"  instances  container instances with their free CPU and memory\n"
		"  events     task state changes (-f follows)\n"
		"  stats      live CPU, memory, pids and network use of running tasks\n"
		"  exec       run a command in a running container (-it: with a terminal)\n"
		"  secret     put, list and remove secrets for containers (berth secret --help)\n"
		"  schedule   run task definitions on a schedule (berth schedule --help)\n"
		"\n"
		"  version    print berth's version\n"
		"\n"
		"Options:\n"
		"  --root DIR         state root (default $BERTH_ROOT or /var/lib/berth)\n"
		"  --socket PATH      berthd's API socket (default $BERTH_SOCKET or\n"
		"                     /run/berth/berthd.sock)\n"
		"  --json             machine-readable output\n"
		"  --log-level LEVEL  error, warn, info (default) or debug\n"
		"  -h, --help         this help\n"
		"\n"
		"Exit codes of the berthd commands: 0 done, 1 berthd unreachable or it refused,\n"
		"2 usage, 3 not found.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd;
	int c, lvl;

	blog_init("berth");
	cli.root = getenv("BERTH_ROOT") && *getenv("BERTH_ROOT") ? getenv("BERTH_ROOT") : "/var/lib/berth";
	/* "+": stop at the first non-option, the command's own options follow it */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': cli.root = optarg; break;
		case 'j': cli.json = true; break;
		case 's': cli.socket = optarg; break;
		case 'l':
			lvl = blog_level_parse(optarg);
			if (lvl < 0) {
				log_error("--log-level %s: use error, warn, info or debug", optarg);
				return 2;
			}
			blog_set_level((enum blog_level)lvl);
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("berth %s\n", BERTH_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	optind = 0;   /* reset getopt for the command (0: also reinitialise) */
	if (!strcmp(cmd, "image") || !strcmp(cmd, "images"))
		return cli_image(argc, argv);
	if (!strcmp(cmd, "version")) {
		printf("berth %s\n", BERTH_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cli_run(argc, argv);
	if (!strcmp(cmd, "cluster") || !strcmp(cmd, "clusters"))
		return cli_cluster(argc, argv);
	if (!strcmp(cmd, "taskdef") || !strcmp(cmd, "taskdefs"))
		return cli_taskdef(argc, argv);
	if (!strcmp(cmd, "ps"))
		return cli_ps(argc, argv);
	if (!strcmp(cmd, "describe"))
		return cli_describe(argc, argv);
	if (!strcmp(cmd, "stop"))
		return cli_stop(argc, argv);
	if (!strcmp(cmd, "logs"))
		return cli_logs(argc, argv);
	if (!strcmp(cmd, "instances"))
		return cli_instances(argc, argv);
	if (!strcmp(cmd, "exec"))
		return cli_exec(argc, argv);
	if (!strcmp(cmd, "events"))
		return cli_events(argc, argv);
	if (!strcmp(cmd, "stats"))
		return cli_stats(argc, argv);
	if (!strcmp(cmd, "secret") || !strcmp(cmd, "secrets"))
		return cli_secret(argc, argv);
	if (!strcmp(cmd, "schedule") || !strcmp(cmd, "schedules"))
		return cli_schedule(argc, argv);
	log_error("unknown command \"%s\" (see berth --help)", cmd);
	return 2;
}
