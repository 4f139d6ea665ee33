/* tests/tools/tasknet_tool.c - netns/tasknet from shell, for the leak test.
 *
 *     berth-tasknet-tool cycle --config FILE --state DIR --dir NSDIR --count N [--batch K]
 *                        [--parallel P]
 *
 * N times: netns_task_up then netns_task_down of one task, alternating
 * awsvpc (security group "default") and bridge mode (two dynamic host ports
 * and one static one); then, with --batch K, K tasks up at once and all
 * down again; then, with --parallel P, P processes side by side, each
 * PARALLEL_CYCLES tasks up and down (as tasks starting and stopping at
 * the same time do: they share the IPAM, the ports and the nftables
 * table). Prints one JSON line: {"cycles":N,"batch":K,"parallel":P,
 * "parallel_applies":A,"fds_before":..,"fds_after":..,"setup_us_p50":..,
 * "teardown_us_p50":..}; A counts the set-ups of the parallel part that
 * applied the whole ruleset again (none should: nothing but those tasks
 * changes it meanwhile).
 * Exits 1 on the first failure (of any process), after tearing down what
 * it made. The caller checks that the kernel and the state directory have
 * nothing left. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xalloc.h"
#include "netns/tasknet.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the one opendir holds */
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static const struct netns_portmap maps[] = {
	{ .container_port = 80, .host_port = 0, .proto = NETNS_TCP },
	{ .container_port = 53, .host_port = 0, .proto = NETNS_UDP },
	{ .container_port = 443, .host_port = 0, .proto = NETNS_TCP },
};

#define PARALLEL_CYCLES 25

static int up(const struct netns_config *c, const char *dir, unsigned i, struct netns_task_net *n,
	      struct berr **err)
{
	char id[64], path[4096];
	struct netns_task_req req = { 0 };

	snprintf(id, sizeof(id), "%08x%024u", i, i);
	snprintf(path, sizeof(path), "%s/ns-%u", dir, i);
	req.task_id = id;
	req.ns_path = path;
	if (i % 2) {
		req.mode = NETNS_TASK_BRIDGE;
		req.maps = maps;
		req.n_maps = sizeof(maps) / sizeof(maps[0]);
	} else {
		req.mode = NETNS_TASK_AWSVPC;
	}
	return netns_task_up(c, &req, n, err);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "state", required_argument, NULL, 's' },
		{ "dir", required_argument, NULL, 'd' }, { "count", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' }, { "parallel", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *state = NULL, *dir = NULL;
	unsigned count = 0, batch = 0, parallel = 0;
	unsigned *applies = NULL;
	struct netns_config cfg;
	struct berr *err = NULL;
	uint64_t *tu, *td;
	int o, fds0, rc = 0;

	if (argc < 2 || strcmp(argv[1], "cycle")) {
		fprintf(stderr, "usage: berth-tasknet-tool cycle --config FILE --state DIR --dir NSDIR --count N [--batch K] "
			"[--parallel P]\n");
		return 2;
	}
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 's': state = optarg; break;
		case 'd': dir = optarg; break;
		case 'n': count = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'b': batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'p': parallel = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!config || !state || !dir || !count) {
		fprintf(stderr, "berth-tasknet-tool: --config, --state, --dir and --count are required\n");
		return 2;
	}
	netns_config_init(&cfg, state);
	if (netns_config_load(config, &cfg, &err) < 0) {
		fprintf(stderr, "berth-tasknet-tool: %s\n", berr_msg(err));
		return 1;
	}
	tu = xcalloc(count, sizeof(*tu));
	td = xcalloc(count, sizeof(*td));
	/* the first set-up makes the bridge and the table: not a leak */
	{
		struct netns_task_net n;

		if (up(&cfg, dir, 1000000, &n, &err) < 0 || netns_task_down(&cfg, &n, &err) < 0) {
			fprintf(stderr, "berth-tasknet-tool: warm-up: %s\n", berr_msg(err));
			return 1;
		}
	}
	fds0 = count_fds();
	for (unsigned i = 0; i < count; i++) {
		struct netns_task_net n;
		uint64_t t0 = now_us();

		if (up(&cfg, dir, i, &n, &err) < 0) {
			fprintf(stderr, "berth-tasknet-tool: cycle %u: up: %s\n", i, berr_msg(err));
			rc = 1;
			break;
		}
		tu[i] = now_us() - t0;
		t0 = now_us();
		if (netns_task_down(&cfg, &n, &err) < 0) {
			fprintf(stderr, "berth-tasknet-tool: cycle %u: down: %s\n", i, berr_msg(err));
			rc = 1;
			break;
		}
		td[i] = now_us() - t0;
		if ((i + 1) % 100 == 0)
			fprintf(stderr, "berth-tasknet-tool: %u cycles\n", i + 1);
	}
	if (rc == 0 && batch) {
		struct netns_task_net *ns = xcalloc(batch, sizeof(*ns));
		unsigned made = 0;

		for (; made < batch; made++)
			if (up(&cfg, dir, count + made, &ns[made], &err) < 0) {
				fprintf(stderr, "berth-tasknet-tool: batch %u: up: %s\n", made, berr_msg(err));
				rc = 1;
				break;
			}
		for (unsigned i = 0; i < made; i++)
			if (netns_task_down(&cfg, &ns[i], &err) < 0) {
				fprintf(stderr, "berth-tasknet-tool: batch %u: down: %s\n", i, berr_msg(err));
				rc = 1;
			}
		free(ns);
	}
	if (rc == 0 && parallel) {
		pid_t *kids = xcalloc(parallel, sizeof(*kids));

		applies = mmap(NULL, sizeof(*applies), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
		if (applies == MAP_FAILED) {
			fprintf(stderr, "berth-tasknet-tool: mmap: %m\n");
			return 1;
		}
		*applies = 0;
		fflush(NULL);
		for (unsigned k = 0; k < parallel; k++) {
			kids[k] = fork();
			if (kids[k] < 0) {
				fprintf(stderr, "berth-tasknet-tool: fork: %m\n");
				rc = 1;
				break;
			}
			if (kids[k] == 0) {
				int krc = 0;

				for (unsigned j = 0; j < PARALLEL_CYCLES && !krc; j++) {
					struct netns_task_net n;
					unsigned id = count + batch + k * PARALLEL_CYCLES + j;

					if (up(&cfg, dir, id, &n, &err) < 0) {
						fprintf(stderr, "berth-tasknet-tool: parallel %u, task %u: up: %s\n",
							k, j, berr_msg(err));
						krc = 1;
						continue;
					}
					if (n.ruleset_applied)
						__atomic_add_fetch(applies, 1, __ATOMIC_RELAXED);
					if (netns_task_down(&cfg, &n, &err) < 0) {
						fprintf(stderr, "berth-tasknet-tool: parallel %u, task %u: down: %s\n",
							k, j, berr_msg(err));
						krc = 1;
					}
				}
				_exit(krc);
			}
		}
		for (unsigned k = 0; k < parallel && kids[k] > 0; k++) {
			int st;
			pid_t w;

			while ((w = waitpid(kids[k], &st, 0)) < 0 && errno == EINTR)
				;
			if (w < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
				rc = 1;
		}
		free(kids);
	}
	if (rc == 0) {
		qsort(tu, count, sizeof(*tu), cmp_u64);
		qsort(td, count, sizeof(*td), cmp_u64);
		printf("{\"cycles\":%u,\"batch\":%u,\"parallel\":%u,\"parallel_applies\":%u,"
		       "\"fds_before\":%d,\"fds_after\":%d,\"setup_us_p50\":%llu,\"teardown_us_p50\":%llu}\n",
		       count, batch, parallel, applies ? *applies : 0, fds0, count_fds(),
		       (unsigned long long)tu[count / 2], (unsigned long long)td[count / 2]);
	}
	if (applies)
		munmap(applies, sizeof(*applies));
	free(tu);
	free(td);
	berr_free(err);
	netns_config_free(&cfg);
	return rc;
}
