/* tcp-proxy: listen in this process's network namespace, connect in
 * another's. Tests use it to reach a socket that only exists inside a task's
 * namespace (its endpoint) from outside, e.g. through QEMU's hostfwd. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

/* copy both ways until both sides have closed */
static void relay(int a, int b)
{
	char buf[16384];
	bool a_open = true, b_open = true;

	while (a_open || b_open) {
		struct pollfd p[2] = { { a_open ? a : -1, POLLIN, 0 }, { b_open ? b : -1, POLLIN, 0 } };

		if (poll(p, 2, 30000) <= 0)
			return;
		for (int i = 0; i < 2; i++) {
			int from = i ? b : a, to = i ? a : b;
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(from, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(to, SHUT_WR);
				if (i)
					b_open = false;
				else
					a_open = false;
				continue;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t w = write(to, buf + off, (size_t)(n - off));

				if (w <= 0)
					return;
				off += w;
			}
		}
	}
}

int cmd_tcp_proxy(int argc, char **argv)
{
	struct sockaddr_in la = { .sin_family = AF_INET }, ta = { .sin_family = AF_INET };
	int lfd, nsfd, one = 1;
	struct jw w = { 0 };

	if (argc != 5)
		husage("usage: tcp-proxy LISTEN_PORT NETNS_PATH HOST PORT");
	la.sin_port = htons((uint16_t)atoi(argv[1]));
	ta.sin_port = htons((uint16_t)atoi(argv[4]));
	if (inet_pton(AF_INET, argv[3], &ta.sin_addr) != 1)
		husage("tcp-proxy: %s is not an IPv4 address", argv[3]);
	nsfd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (nsfd < 0) {
		hdiag("open %s: %s", argv[2], strerror(errno));
		return 1;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(lfd, 16) < 0) {
		hdiag("listen on port %s: %s", argv[1], strerror(errno));
		return 1;
	}
	/* connections are made from the other namespace from now on; the
	 * listening socket stays in this one */
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		hdiag("setns %s: %s", argv[2], strerror(errno));
		return 1;
	}
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	jw_obj_begin(&w);
	jw_kint(&w, "listening", atoi(argv[1]));
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			hdiag("accept: %s", strerror(errno));
			return 1;
		}
		if (fork() == 0) {
			int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

			if (t < 0 || connect(t, (struct sockaddr *)&ta, sizeof(ta)) < 0) {
				hdiag("connect %s:%s: %s", argv[3], argv[4], strerror(errno));
				_exit(1);
			}
			relay(c, t);
			_exit(0);
		}
		close(c);
	}
}
