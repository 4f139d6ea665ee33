/* tests/unit/rootfs/registry_fixture.h - a real registry for tests:
 * Debian's docker-registry on 127.0.0.1 (a free port), without auth, with
 * htpasswd Basic auth or with token auth (tests/registry/tokenserver.py),
 * images pushed with skopeo. Only loopback traffic. Included by the pull
 * tests (rootfs: the library; runtime: taskrun's pulls through the CLI);
 * the including file sets src_dir (BERTH_SOURCE_DIR) and checks for the
 * tools (registry_tools_missing) before using it. */
#ifndef BERTH_TESTS_REGISTRY_FIXTURE_H
#define BERTH_TESTS_REGISTRY_FIXTURE_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *src_dir;

/* docker-registry, skopeo, htpasswd, openssl, python3 all there */
static bool registry_tools_missing(void)
{
	return system("command -v docker-registry skopeo htpasswd openssl python3 >/dev/null 2>&1") != 0;
}

struct reg {
	char dir[256], cfg[300], data[300];
	int port;
	pid_t pid;
	pid_t token_pid;
	char hostport[64];
};

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	close(fd);
	return ok;
}

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		setpgid(0, 0);
		/* a failed assertion skips the teardown: die with the test */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int run(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void reg_start(struct reg *r)
{
	char log[320];
	char *argv[] = { "docker-registry", "serve", r->cfg, NULL };

	snprintf(log, sizeof(log), "%s/registry.log", r->dir);
	r->pid = spawn(argv, log);
	for (int i = 0; i < 200 && !port_open(r->port); i++)
		usleep(50000);
	assert_true(port_open(r->port));
}

static void reg_kill(struct reg *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = -1;
	}
}

/* auth: NULL, "htpasswd" or "token" */
static void reg_setup(struct reg *r, const char *auth)
{
	FILE *f;

	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/berth-test-pull-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->cfg, sizeof(r->cfg), "%s/config.yml", r->dir);
	snprintf(r->data, sizeof(r->data), "%s/data", r->dir);
	r->port = free_port();
	snprintf(r->hostport, sizeof(r->hostport), "127.0.0.1:%d", r->port);
	f = fopen(r->cfg, "w");
	assert_non_null(f);
	fprintf(f, "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n"
		   "  delete:\n    enabled: true\nhttp:\n  addr: %s\n", r->data, r->hostport);
	if (auth && !strcmp(auth, "htpasswd")) {
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "htpasswd -Bbc %s/htpasswd alice s3cret >/dev/null 2>&1", r->dir);
		assert_int_equal(run(cmd), 0);
		fprintf(f, "auth:\n  htpasswd:\n    realm: berth-test\n    path: %s/htpasswd\n", r->dir);
	} else if (auth && !strcmp(auth, "token")) {
		char cmd[1024], key[300], cert[300], pf[300], script[512];
		int tport = 0;

		snprintf(key, sizeof(key), "%s/key.pem", r->dir);
		snprintf(cert, sizeof(cert), "%s/cert.pem", r->dir);
		snprintf(pf, sizeof(pf), "%s/token.port", r->dir);
		snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 "
			 "-subj /CN=berth-test-token >/dev/null 2>&1", key, cert);
		assert_int_equal(run(cmd), 0);
		snprintf(script, sizeof(script), "%s/tests/registry/tokenserver.py", src_dir);
		{
			char *argv[] = { "python3", script, "--key", key, "--cert", cert, "--user", "alice",
					 "--password", "s3cret", "--port-file", pf, NULL };
			char log[320];

			snprintf(log, sizeof(log), "%s/token.log", r->dir);
			r->token_pid = spawn(argv, log);
		}
		for (int i = 0; i < 200; i++) {
			FILE *p = fopen(pf, "r");

			if (p) {
				assert_int_equal(fscanf(p, "%d", &tport), 1);
				fclose(p);
				break;
			}
			usleep(50000);
		}
		assert_true(tport > 0);
		fprintf(f, "auth:\n  token:\n    realm: http://127.0.0.1:%d/token\n    service: berth-test\n"
			   "    issuer: berth-test-issuer\n    rootcertbundle: %s\n", tport, cert);
	}
	fclose(f);
	reg_start(r);
}

static void reg_teardown(struct reg *r)
{
	char cmd[300];

	reg_kill(r);
	if (r->token_pid > 0) {
		kill(r->token_pid, SIGKILL);
		waitpid(r->token_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	run(cmd);
}

static void push(struct reg *r, const char *src, const char *repo, const char *creds, bool all)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "skopeo copy %s --dest-tls-verify=false %s%s %s docker://%s/%s >>%s/push.log 2>&1",
		 all ? "--all" : "", creds ? "--dest-creds " : "", creds ? creds : "", src, r->hostport, repo, r->dir);
	if (run(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/push.log %s/registry.log", r->dir, r->dir);
		run(cmd);
		fail_msg("skopeo push to %s failed", r->hostport);
	}
}

/* How often the registry served blob `digest` ("sha256:...") of repo
 * (its access log: GET answered 200 or 206). */
static int reg_blob_gets(struct reg *r, const char *repo, const char *digest)
{
	char path[320], want[400], line[4096];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/registry.log", r->dir);
	snprintf(want, sizeof(want), "\"GET /v2/%s/blobs/%s HTTP/1.1\" ", repo, digest);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, want);

		if (p && (!strncmp(p + strlen(want), "200 ", 4) || !strncmp(p + strlen(want), "206 ", 4)))
			n++;
	}
	fclose(f);
	return n;
}

#endif
