/* tests/images/helper/net.c - name resolution, connect and listen helpers.
 *
 * No getaddrinfo(): in a static binary it needs the NSS modules at run time,
 * and the test images hold nothing but this binary. Names come from
 * /etc/hosts, which is exactly what a container runtime writes (ECS
 * extraHosts, the container's own hostname), then from the nameservers of
 * /etc/resolv.conf (dns.c: berthd's service discovery responder). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "helper.h"

static bool parse_numeric(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	char buf[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(host);
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	if (len >= sizeof(buf))
		return false;
	if (host[0] == '[' && len >= 2 && host[len - 1] == ']') {
		memcpy(buf, host + 1, len - 2);
		buf[len - 2] = '\0';
	} else {
		memcpy(buf, host, len + 1);
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return true;
	}
	if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return true;
	}
	return false;
}

static int add_addr(struct sockaddr_storage *out, int n, int max, const struct sockaddr_storage *ss)
{
	for (int i = 0; i < n; i++)
		if (!memcmp(&out[i], ss, sizeof(*ss)))
			return n;
	if (n < max)
		out[n++] = *ss;
	return n;
}

int net_resolve(const char *host, uint16_t port, struct sockaddr_storage *out, int max)
{
	const char *path = getenv("BERTH_HOSTS_FILE");
	struct sockaddr_storage ss;
	char *text, *line, *save = NULL;
	int n = 0;

	if (max <= 0)
		return 0;
	if (parse_numeric(host, port, &out[0]))
		return 1;
	text = read_file(path && *path ? path : "/etc/hosts", 4 << 20, NULL);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *hash = strchr(line, '#'), *tok, *s2 = NULL, *addr;

		if (hash)
			*hash = '\0';
		addr = strtok_r(line, " \t\r", &s2);
		if (!addr)
			continue;
		while ((tok = strtok_r(NULL, " \t\r", &s2))) {
			if (strcasecmp(tok, host))
				continue;
			if (parse_numeric(addr, port, &ss))
				n = add_addr(out, n, max, &ss);
			break;
		}
	}
	free(text);
	/* an image without /etc/hosts still knows localhost */
	if (n == 0 && !strcasecmp(host, "localhost")) {
		parse_numeric("127.0.0.1", port, &ss);
		n = add_addr(out, n, max, &ss);
		parse_numeric("::1", port, &ss);
		n = add_addr(out, n, max, &ss);
	}
	if (n == 0)
		n = dns_resolve_a(host, port, out, max);
	return n;
}

const char *net_addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
	return buf;
}

static socklen_t ss_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int net_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline < 0 ? -1 : deadline - now_ms();
		int r;

		if (deadline >= 0 && left <= 0)
			return 0;
		r = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r > 0)
			return 1;
	}
}

int net_connect(const struct sockaddr_storage *ss, int type, int64_t deadline)
{
	int fd, r, err = 0;
	socklen_t elen = sizeof(err);

	fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)ss, ss_len(ss)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		err = errno;
		close(fd);
		return -err;
	}
	r = net_wait(fd, POLLOUT, deadline);
	if (r <= 0) {
		close(fd);
		return r == 0 ? -ETIMEDOUT : r;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		close(fd);
		return -err;
	}
	return fd;
}

static int bind_one(int family, int type, uint16_t port, int *fd_out)
{
	struct sockaddr_storage ss = { 0 };
	int one = 1, fd, err;

	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		/* v6only: the IPv4 socket serves IPv4, so either family can be absent */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons(port);
	}
	if (bind(fd, (struct sockaddr *)&ss, ss_len(&ss)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
		err = errno;
		close(fd);
		return -err;
	}
	*fd_out = fd;
	return 0;
}

int net_listen_any(int type, uint16_t port, int fds[2], uint16_t *port_out)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);
		int fd4, fd6, r;

		r = bind_one(AF_INET, type, port, &fd4);
		if (r < 0)
			return r;
		if (getsockname(fd4, (struct sockaddr *)&sin, &len) < 0) {
			r = -errno;
			close(fd4);
			return r;
		}
		r = bind_one(AF_INET6, type, ntohs(sin.sin_port), &fd6);
		if (r == -EADDRINUSE && port == 0) {
			/* the kernel's free v4 port is taken on v6: pick again */
			close(fd4);
			continue;
		}
		fds[0] = fd4;
		*port_out = ntohs(sin.sin_port);
		if (r < 0) {
			/* IPv6 disabled in this network namespace: serve IPv4 only */
			hdiag("no IPv6 listener (%s), IPv4 only", errno_name(-r));
			return 1;
		}
		fds[1] = fd6;
		return 2;
	}
	return -EADDRINUSE;
}
