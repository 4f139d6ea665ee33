/* lb/lb_main.c - berth-lb: serve a static configuration (docs/lb.md).
 *
 *     berth-lb --config FILE [--log-level LEVEL]
 *
 * SIGTERM and SIGINT stop it. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "lb/engine.h"

static struct lb_engine *g_engine;

static void on_signal(int sig)
{
	(void)sig;
	if (g_engine)
		lb_engine_stop(g_engine);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: berth-lb --config FILE [--log-level error|warn|info|debug]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	const char *config = NULL;
	struct berr *err = NULL;
	int c, lvl;

	blog_init("berth-lb");
	while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'l':
			lvl = blog_level_parse(optarg);
			if (lvl < 0) {
				fprintf(stderr, "berth-lb: unknown log level %s\n", optarg);
				return 2;
			}
			blog_set_level((enum blog_level)lvl);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!config || optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (lb_engine_load_file(config, &g_engine, &err) < 0) {
		log_error("%s", berr_msg(err));
		berr_free(err);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	log_info("serving %s", config);
	if (lb_engine_run(g_engine, &err) < 0) {
		log_error("%s", berr_msg(err));
		berr_free(err);
		lb_engine_free(g_engine);
		return 1;
	}
	lb_engine_free(g_engine);
	return 0;
}
