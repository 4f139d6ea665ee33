/* lb/lb_main.c - berth-lb: serve a static configuration (docs/lb.md).
 *
 *     berth-lb [--config FILE] [--control PATH] [--metrics IP:PORT] [--workers N]
 *              [--log-level LEVEL]
 *
 * Without --config it starts empty (configured over --control). N workers
 * (default: the CPUs it may run on), each a thread with its own engine
 * (lb_engine_new_worker); the first one leads. It raises its soft
 * RLIMIT_NOFILE to the hard limit. SIGTERM and SIGINT stop it. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "lb/engine.h"

#define MAX_WORKERS 256

static struct lb_engine *g_engines[MAX_WORKERS];
static int g_n;

static void on_signal(int sig)
{
	(void)sig;
	for (int i = 0; i < g_n; i++)
		lb_engine_stop(g_engines[i]);
}

static void *worker_main(void *arg)
{
	struct lb_engine *e = arg;
	struct berr *err = NULL;

	if (lb_engine_run(e, &err) < 0) {
		log_error("worker: %s", berr_msg(err));
		berr_free(err);
	}
	return NULL;
}

static int ncpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: berth-lb [--config FILE] [--control PATH] [--metrics IP:PORT]\n"
		   "                [--workers N] [--log-level error|warn|info|debug]\n"
		   "(at least one of --config and --control)\n");
}

/* every connection costs one or two fds: take what the hard limit allows */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("raise RLIMIT_NOFILE to %llu: %s", (unsigned long long)rl.rlim_max,
				 strerror(errno));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "control", required_argument, NULL, 'C' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	pthread_t threads[MAX_WORKERS];
	json_auto_t *doc = NULL;
	int workers = 0, rc = 0, started = 1;
	char *end;
	const char *config = NULL, *control = NULL, *metrics = NULL;
	struct berr *err = NULL;
	int c, lvl;

	blog_init("berth-lb");
	/* memory freed by closed connections stays in the heap for the next
	 * ones (no brk down and up, and page faults, per connection) */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			control = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 'w':
			workers = (int)strtol(optarg, &end, 10);
			if (*end || workers < 1 || workers > MAX_WORKERS) {
				fprintf(stderr, "berth-lb: --workers: 1 to %d\n", MAX_WORKERS);
				return 2;
			}
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
	if ((!config && !control) || optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (workers == 0)
		workers = ncpus() < MAX_WORKERS ? ncpus() : MAX_WORKERS;
	if (config) {
		if (bjson_load_file(config, 1 << 20, &doc, &err) < 0)
			goto fail;
	} else {
		doc = json_object();
	}
	if (lb_engine_new(doc, &g_engines[0], &err) < 0) {
		if (config)
			berr_wrap(&err, "%s", config);
		goto fail;
	}
	g_n = 1;
	for (int i = 1; i < workers; i++) {
		if (lb_engine_new_worker(doc, g_engines[0], &g_engines[i], &err) < 0) {
			berr_wrap(&err, "worker %d", i);
			goto fail_free;
		}
		g_n++;
	}
	if ((control && lb_engine_control(g_engines[0], control, &err) < 0) ||
	    (metrics && lb_engine_metrics(g_engines[0], metrics, &err) < 0))
		goto fail_free;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	log_info("serving%s%s%s%s with %d worker%s", config ? " " : "", config ? config : "",
		 control ? ", control socket " : "", control ? control : "", workers,
		 workers == 1 ? "" : "s");
	for (int i = 1; i < g_n; i++, started++)
		if ((errno = pthread_create(&threads[i], NULL, worker_main, g_engines[i])) != 0) {
			log_error("start worker %d: %s", i, strerror(errno));
			rc = 1;
			break;
		}
	if (rc == 0 && lb_engine_run(g_engines[0], &err) < 0) {
		log_error("%s", berr_msg(err));
		berr_free(err);
		err = NULL;
		rc = 1;
	}
	/* the leader's loop is done (or never ran): followers return now */
	for (int k = 0; k < g_n; k++)
		lb_engine_stop(g_engines[k]);
	lb_engine_mark_done(g_engines[0]);
	for (int i = 1; i < started; i++)
		pthread_join(threads[i], NULL);
	for (int i = g_n - 1; i >= 0; i--)
		lb_engine_free(g_engines[i]);
	return rc;
fail_free:
	for (int i = g_n - 1; i >= 0; i--)
		lb_engine_free(g_engines[i]);
fail:
	log_error("%s", berr_msg(err));
	berr_free(err);
	return 1;
}
