/* tests/images/helper/cmd-net.c - http-server, tcp-echo, udp-echo and the
 * clients tcp-send, udp-send, http-get, resolve.
 *
 * The TCP servers are one single-threaded epoll loop: non-blocking sockets,
 * per-connection input/output buffers, back-pressure (a connection whose
 * output is not drained stops being read), keep-alive and pipelining, and
 * --delay-ms implemented as a per-connection deadline so a slow response
 * never holds up the other connections. SIGTERM/SIGINT are only unblocked
 * inside epoll_pwait(), so a stop request cannot slip in between the check
 * and the wait. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/utsname.h>
#include <fcntl.h>
#include <unistd.h>

#include "helper.h"

#define IN_MAX (64 * 1024)           /* request headers larger than this: 431 */
#define OUT_HIGH (1024 * 1024)       /* stop taking requests above this backlog */
#define BODY_MAX (1024 * 1024)       /* request bodies are read and dropped */

enum src_kind { SRC_LISTEN, SRC_CONN };

struct listener {
	enum src_kind kind;          /* first member: epoll data points here */
	int fd;
};

struct conn {
	enum src_kind kind;
	int fd;
	uint32_t events;             /* interest registered with epoll */
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	size_t skip;                 /* request body bytes still to drop */
	int64_t due;                 /* > 0: output held back until then */
	bool peer_eof;
	bool close_after;            /* close once the output is sent */
	struct conn *prev, *next;
};

struct server {
	int ep;
	bool http;
	struct listener ls[2];
	int nls;
	struct conn *conns;
	int n_delayed;
	int reserve_fd;              /* given up to accept-and-drop on EMFILE */
	long long requests, connections;
	int status, health_status;
	bool log_requests;           /* one JSON line per request on stdout */
	long long delay_ms;
	char *body;
	size_t body_len;
};

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* Block TERM/INT, handle them, and return the mask to wait with. */
static void stop_signals_setup(sigset_t *wait_mask)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void emit_stopped(const char *what, long long count, long long conns)
{
	struct jw w = { 0 };
	char name[32];

	jw_obj_begin(&w);
	jw_kstr(&w, "signal", signal_name(stop_signal, name, sizeof(name)));
	jw_kint(&w, what, count);
	if (conns >= 0)
		jw_kint(&w, "connections", conns);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
}

static uint16_t parse_port_opt(const char *s)
{
	long long v;

	if (!parse_ll(s, 0, 65535, &v))
		husage("bad port '%s'", s);
	return (uint16_t)v;
}

/* ------------------------------------------------------------ TCP servers */

static void buf_append(char **buf, size_t *len, size_t *cap, const void *data, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;

		while (*len + n > c)
			c *= 2;
		*buf = xrealloc(*buf, c);
		*cap = c;
	}
	memcpy(*buf + *len, data, n);
	*len += n;
}

static void out_append(struct conn *c, const void *data, size_t n)
{
	buf_append(&c->out, &c->out_len, &c->out_cap, data, n);
}

static size_t out_pending(const struct conn *c)
{
	return c->out_len - c->out_off;
}

static void in_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

static void conn_close(struct server *s, struct conn *c)
{
	close(c->fd);       /* also leaves the epoll set */
	if (c->due)
		s->n_delayed--;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->in);
	free(c->out);
	free(c);
}

/* false: the connection is broken */
static bool conn_flush(struct conn *c)
{
	while (out_pending(c) > 0) {
		ssize_t n = send(c->fd, c->out + c->out_off, out_pending(c), MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			return false;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return true;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

static void http_respond(struct conn *c, int status, const char *body, size_t body_len,
			 bool head, bool keep_alive, bool http10)
{
	char hdr[256];
	bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
	int n;

	if (no_body)
		n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %d %s\r\nServer: berth-testhelper\r\n%s\r\n",
			     status, reason(status),
			     keep_alive ? (http10 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n");
	else
		n = snprintf(hdr, sizeof(hdr),
			     "HTTP/1.1 %d %s\r\nServer: berth-testhelper\r\n"
			     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n%s\r\n",
			     status, reason(status), body_len,
			     keep_alive ? (http10 ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n");
	out_append(c, hdr, (size_t)n);
	if (!no_body && !head)
		out_append(c, body, body_len);
}

static int http_error(struct conn *c, int status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", reason(status));

	http_respond(c, status, body, (size_t)n, false, false, false);
	c->close_after = true;
	return -1;
}

/* Does the comma-separated header value contain token (case-insensitive)? */
static bool has_token(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token);

	for (size_t i = 0; i + tl <= len; i++)
		if (!strncasecmp(v + i, token, tl) &&
		    (i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') &&
		    (i + tl == len || v[i + tl] == ',' || v[i + tl] == ' '))
			return true;
	return false;
}

/* 1: one request answered, 0: need more input, -1: error answered, stop. */
static int http_take_request(struct server *s, struct conn *c)
{
	char *end, *line, *eol, *hdr_end;
	size_t hdr_len;
	long long clen = 0;
	bool keep_alive, http10, head;
	char method[16], target[2048], version[16];
	int status;
	const char *body;
	size_t body_len;

	if (c->skip) {
		size_t n = c->skip < c->in_len ? c->skip : c->in_len;

		in_consume(c, n);
		c->skip -= n;
		if (c->skip)
			return 0;
	}
	/* tolerate clients that end lines with a bare \n */
	end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	hdr_end = memmem(c->in, c->in_len, "\n\n", 2);
	if (end && (!hdr_end || end < hdr_end))
		hdr_len = (size_t)(end - c->in) + 4;
	else if (hdr_end)
		hdr_len = (size_t)(hdr_end - c->in) + 2;
	else
		return c->in_len >= IN_MAX ? http_error(c, 431) : 0;

	c->in[hdr_len - 1] = '\0';      /* a '\n' we no longer need */
	eol = strchr(c->in, '\n');
	if (!eol || eol - c->in > (long)sizeof(target) + 64)
		return http_error(c, 400);
	*eol = '\0';
	if (eol > c->in && eol[-1] == '\r')
		eol[-1] = '\0';
	if (sscanf(c->in, "%15s %2047s %15s", method, target, version) != 3)
		return http_error(c, 400);
	if (!strcmp(version, "HTTP/1.1"))
		http10 = false;
	else if (!strcmp(version, "HTTP/1.0"))
		http10 = true;
	else
		return http_error(c, 400);
	keep_alive = !http10;
	head = !strcmp(method, "HEAD");

	for (line = eol + 1; line < c->in + hdr_len - 1; line = eol + 1) {
		char *colon, *v;
		size_t vlen;

		eol = strchr(line, '\n');
		if (!eol)
			eol = c->in + hdr_len - 1;
		*eol = '\0';
		if (eol > line && eol[-1] == '\r')
			eol[-1] = '\0';
		if (!*line)
			break;
		colon = strchr(line, ':');
		if (!colon)
			return http_error(c, 400);
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		vlen = strlen(v);
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			v[--vlen] = '\0';
		if (!strcasecmp(line, "Content-Length")) {
			if (!parse_ll(v, 0, BODY_MAX, &clen))
				return http_error(c, 413);
		} else if (!strcasecmp(line, "Transfer-Encoding")) {
			return http_error(c, 501);
		} else if (!strcasecmp(line, "Connection")) {
			if (has_token(v, vlen, "close"))
				keep_alive = false;
			else if (has_token(v, vlen, "keep-alive"))
				keep_alive = true;
		}
	}

	{
		char *q = strchr(target, '?');

		if (q)
			*q = '\0';
	}
	if (!strcmp(target, "/health")) {
		status = s->health_status;
		body = status >= 200 && status < 300 ? "ok\n" : "unhealthy\n";
		body_len = strlen(body);
	} else {
		status = s->status;
		body = s->body;
		body_len = s->body_len;
	}
	http_respond(c, status, body, body_len, head, keep_alive, http10);
	s->requests++;
	if (s->log_requests) {
		struct jw w = { 0 };

		jw_obj_begin(&w);
		jw_kstr(&w, "request", method);
		jw_kstr(&w, "path", target);
		jw_kint(&w, "status", status);
		jw_obj_end(&w);
		jw_emit(&w);
		jw_free(&w);
	}
	if (!keep_alive)
		c->close_after = true;

	/* drop the request and whatever of its body has arrived */
	if (c->in_len - hdr_len >= (size_t)clen) {
		in_consume(c, hdr_len + (size_t)clen);
	} else {
		c->skip = (size_t)clen - (c->in_len - hdr_len);
		c->in_len = 0;
	}
	if (s->delay_ms > 0) {
		c->due = now_ms() + s->delay_ms;
		s->n_delayed++;
	}
	return 1;
}

static void conn_set_interest(struct server *s, struct conn *c)
{
	uint32_t want = 0;

	if (!c->peer_eof && !c->close_after && c->in_len < IN_MAX)
		want |= EPOLLIN;
	if (out_pending(c) && !c->due)
		want |= EPOLLOUT;
	if (want != c->events) {
		struct epoll_event ev = { .events = want, .data.ptr = c };

		epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->events = want;
	}
}

/* Answer what can be answered, send what can be sent, close when done. */
static void conn_progress(struct server *s, struct conn *c)
{
	while (!c->due && !c->close_after && out_pending(c) < OUT_HIGH && c->in_len > 0) {
		if (s->http) {
			if (http_take_request(s, c) <= 0)
				break;
		} else {
			out_append(c, c->in, c->in_len);
			c->in_len = 0;
		}
	}
	if (!c->due && !conn_flush(c)) {
		conn_close(s, c);
		return;
	}
	if (!c->due && !out_pending(c) && (c->close_after || c->peer_eof)) {
		conn_close(s, c);
		return;
	}
	conn_set_interest(s, c);
}

static void conn_io(struct server *s, struct conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		while (!c->peer_eof && c->in_len < IN_MAX) {
			ssize_t n;

			if (c->in_cap - c->in_len < 2048 && c->in_cap < IN_MAX) {
				c->in_cap = c->in_cap ? c->in_cap * 2 : 4096;
				if (c->in_cap > IN_MAX)
					c->in_cap = IN_MAX;
				c->in = xrealloc(c->in, c->in_cap);
			}
			n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
			if (n > 0) {
				c->in_len += (size_t)n;
				continue;
			}
			if (n == 0) {
				c->peer_eof = true;
				break;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			conn_close(s, c);       /* ECONNRESET and friends */
			return;
		}
	}
	/* the peer is gone both ways: nothing can be sent any more, and the
	 * level-triggered HUP would spin while a delayed answer waits */
	if (events & (EPOLLHUP | EPOLLERR)) {
		conn_close(s, c);
		return;
	}
	conn_progress(s, c);
}

static void server_accept(struct server *s, struct listener *l)
{
	for (int i = 0; i < 64; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct conn *c;
		int fd, one = 1;

		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && s->reserve_fd >= 0) {
				/* out of fds: take the oldest pending connection off
				 * the queue and drop it, instead of spinning on it */
				hdiag("accept: %m: dropping a connection");
				close(s->reserve_fd);
				fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
				s->reserve_fd = open("/", O_RDONLY | O_CLOEXEC);
			}
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->kind = SRC_CONN;
		c->fd = fd;
		c->events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			return;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->connections++;
	}
}

static int server_run(struct server *s, uint16_t port)
{
	struct epoll_event evs[128];
	sigset_t wait_mask;
	uint16_t actual;
	int fds[2], n;

	stop_signals_setup(&wait_mask);
	n = net_listen_any(SOCK_STREAM, port, fds, &actual);
	if (n < 0) {
		hdiag("listen on port %u: %s", port, strerror(-n));
		return 1;
	}
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0) {
		hdiag("epoll_create1: %m");
		return 1;
	}
	s->reserve_fd = open("/", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN };

		s->ls[i].kind = SRC_LISTEN;
		s->ls[i].fd = fds[i];
		ev.data.ptr = &s->ls[i];
		epoll_ctl(s->ep, EPOLL_CTL_ADD, fds[i], &ev);
	}
	s->nls = n;
	emit_int("listening", actual);

	while (!stop_signal) {
		int timeout = -1, nev;

		if (s->n_delayed) {
			int64_t first = INT64_MAX, now = now_ms();

			for (struct conn *c = s->conns; c; c = c->next)
				if (c->due && c->due < first)
					first = c->due;
			timeout = first <= now ? 0 : (int)(first - now);
		}
		nev = epoll_pwait(s->ep, evs, 128, timeout, &wait_mask);
		if (nev < 0 && errno != EINTR) {
			hdiag("epoll_wait: %m");
			return 1;
		}
		for (int i = 0; i < nev; i++) {
			enum src_kind *kind = evs[i].data.ptr;

			if (*kind == SRC_LISTEN)
				server_accept(s, (struct listener *)kind);
			else
				conn_io(s, (struct conn *)kind, evs[i].events);
		}
		if (s->n_delayed) {
			int64_t now = now_ms();
			struct conn *c = s->conns, *next;

			for (; c; c = next) {
				next = c->next;
				if (c->due && c->due <= now) {
					c->due = 0;
					s->n_delayed--;
					conn_progress(s, c);
				}
			}
		}
	}
	emit_stopped(s->http ? "requests" : "connections", s->http ? s->requests : s->connections,
		     s->http ? s->connections : -1);
	return 0;
}

static int status_opt(const char *s)
{
	long long v;

	if (!parse_ll(s, 100, 599, &v))
		husage("bad HTTP status '%s' (100-599)", s);
	return (int)v;
}

int cmd_http_server(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "body", required_argument, NULL, 'b' },
		{ "status", required_argument, NULL, 's' },
		{ "health-status", required_argument, NULL, 'H' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "log-requests", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	struct server s = { .http = true, .status = 200, .health_status = 200, .reserve_fd = -1 };
	const char *body = NULL;
	long long port = -1;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port = parse_port_opt(optarg); break;
		case 'b': body = optarg; break;
		case 's': s.status = status_opt(optarg); break;
		case 'H': s.health_status = status_opt(optarg); break;
		case 'l': s.log_requests = true; break;
		case 'd':
			if (!parse_ll(optarg, 0, 3600 * 1000, &s.delay_ms))
				husage("bad --delay-ms '%s'", optarg);
			break;
		default: husage("bad option");
		}
	}
	if (port < 0 || optind != argc)
		husage("usage: http-server --port P [--body TEXT|@FILE] [--status N] "
		       "[--health-status N] [--delay-ms N] [--log-requests]");
	if (body && body[0] == '@') {
		s.body = read_file(body + 1, 64 << 20, &s.body_len);
		if (!s.body) {
			hdiag("read body file %s: %m", body + 1);
			return 1;
		}
	} else if (body) {
		s.body = xstrdup(body);
		s.body_len = strlen(body);
	} else {
		struct utsname uts;
		char text[128];

		snprintf(text, sizeof(text), "hello from %s\n", uname(&uts) == 0 ? uts.nodename : "?");
		s.body = xstrdup(text);
		s.body_len = strlen(text);
	}
	c = server_run(&s, (uint16_t)port);
	free(s.body);
	return c;
}

static long long port_only(int argc, char **argv, const char *usage)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	long long port = -1;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'p')
			husage("%s", usage);
		port = parse_port_opt(optarg);
	}
	if (port < 0 || optind != argc)
		husage("%s", usage);
	return port;
}

int cmd_tcp_echo(int argc, char **argv)
{
	struct server s = { .http = false, .reserve_fd = -1 };

	return server_run(&s, (uint16_t)port_only(argc, argv, "usage: tcp-echo --port P"));
}

int cmd_udp_echo(int argc, char **argv)
{
	uint16_t port = (uint16_t)port_only(argc, argv, "usage: udp-echo --port P");
	struct pollfd pfd[2];
	sigset_t wait_mask;
	long long datagrams = 0;
	int fds[2], n;
	char *buf = xmalloc(65536);

	stop_signals_setup(&wait_mask);
	n = net_listen_any(SOCK_DGRAM, port, fds, &port);
	if (n < 0) {
		hdiag("bind udp port %u: %s", port, strerror(-n));
		return 1;
	}
	for (int i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	emit_int("listening", port);

	while (!stop_signal) {
		if (ppoll(pfd, (nfds_t)n, NULL, &wait_mask) < 0) {
			if (errno == EINTR)
				continue;
			hdiag("ppoll: %m");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			for (;;) {
				struct sockaddr_storage from;
				socklen_t flen = sizeof(from);
				ssize_t len = recvfrom(fds[i], buf, 65536, MSG_DONTWAIT,
						       (struct sockaddr *)&from, &flen);

				if (len < 0)
					break;
				datagrams++;
				sendto(fds[i], buf, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&from, flen);
			}
		}
	}
	emit_stopped("datagrams", datagrams, -1);
	free(buf);
	return 0;
}

/* ---------------------------------------------------------------- clients */

struct client_opts {
	long long timeout_ms;
	char **headers;
	int nheaders;
};

/* getopt for the clients; leaves positional arguments in pos[]. */
static int client_args(int argc, char **argv, struct client_opts *o, bool headers,
		       char **pos, int maxpos, const char *usage)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "header", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int c, npos = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't') {
			if (!parse_seconds_ms(optarg, false, &o->timeout_ms) || o->timeout_ms == 0)
				husage("bad --timeout '%s'", optarg);
		} else if (c == 'H' && headers) {
			if (!strchr(optarg, ':'))
				husage("--header wants K:V");
			o->headers = xrealloc(o->headers, sizeof(char *) * (size_t)(o->nheaders + 1));
			o->headers[o->nheaders++] = optarg;
		} else {
			husage("%s", usage);
		}
	}
	for (; optind < argc; optind++) {
		if (npos == maxpos)
			husage("%s", usage);
		pos[npos++] = argv[optind];
	}
	if (npos != maxpos)
		husage("%s", usage);
	return npos;
}

static void emit_error(int fd, const char *err, const char *reply, size_t reply_len)
{
	struct jw w = { 0 };

	jw_obj_begin(&w);
	if (reply) {
		jw_key(&w, "reply");
		jw_strn(&w, reply, reply_len);
	}
	jw_kstr(&w, "error", err);
	jw_obj_end(&w);
	if (fd == STDOUT_FILENO) {
		jw_emit(&w);
	} else {
		(void)write_all(fd, w.buf, w.len);
		(void)write_all(fd, "\n", 1);
	}
	jw_free(&w);
}

/* Resolve and connect to HOST:PORT; returns fd or exits with 6 / 7. */
static int client_connect(const char *host, uint16_t port, int type, int64_t deadline, int errfd)
{
	struct sockaddr_storage addrs[NET_MAX_ADDRS];
	char a[80];
	int n = net_resolve(host, port, addrs, NET_MAX_ADDRS), fd = -EHOSTUNREACH;

	if (n == 0) {
		hdiag("unknown host '%s' (numeric address, /etc/hosts or resolv.conf DNS name)", host);
		emit_error(errfd, "unknown host", NULL, 0);
		exit(EXIT_RESOLVE);
	}
	for (int i = 0; i < n; i++) {
		fd = net_connect(&addrs[i], type, deadline);
		if (fd >= 0)
			return fd;
		hdiag("connect %s: %s", net_addr_str(&addrs[i], a, sizeof(a)), strerror(-fd));
	}
	emit_error(errfd, errno_name(-fd), NULL, 0);
	exit(EXIT_CONNECT);
}

/* Send all of buf before the deadline: 0 or -errno. */
static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			int r;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = net_wait(fd, POLLOUT, deadline);
			if (r <= 0)
				return r == 0 ? -ETIMEDOUT : r;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read once into buf, waiting until the deadline: bytes, 0 at EOF, -errno. */
static ssize_t recv_some(int fd, char **buf, size_t *len, size_t *cap, int64_t deadline)
{
	for (;;) {
		ssize_t n;
		int r;

		if (*cap - *len < 4096) {
			*cap = *cap ? *cap * 2 : 16384;
			*buf = xrealloc(*buf, *cap);
		}
		n = recv(fd, *buf + *len, *cap - *len - 1, 0);
		if (n >= 0) {
			*len += (size_t)n;
			(*buf)[*len] = '\0';
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = net_wait(fd, POLLIN, deadline);
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
	}
}

static uint16_t port_arg(const char *s)
{
	long long v;

	if (!parse_ll(s, 1, 65535, &v))
		husage("bad port '%s'", s);
	return (uint16_t)v;
}

int cmd_tcp_send(int argc, char **argv)
{
	struct client_opts o = { .timeout_ms = 5000 };
	char *pos[3], *reply = NULL;
	size_t len = 0, cap = 0;
	int64_t deadline;
	struct jw w = { 0 };
	int fd, r;

	client_args(argc, argv, &o, false, pos, 3, "usage: tcp-send HOST PORT MSG [--timeout S]");
	signal(SIGPIPE, SIG_IGN);
	deadline = now_ms() + o.timeout_ms;
	fd = client_connect(pos[0], port_arg(pos[1]), SOCK_STREAM, deadline, STDOUT_FILENO);
	r = send_all(fd, pos[2], strlen(pos[2]), deadline);
	if (r == 0)
		shutdown(fd, SHUT_WR);
	while (r == 0) {
		ssize_t n = recv_some(fd, &reply, &len, &cap, deadline);

		if (n == 0)
			break;
		if (n < 0)
			r = (int)n;
	}
	close(fd);
	if (r < 0) {
		hdiag("exchange with %s:%s: %s", pos[0], pos[1], strerror(-r));
		emit_error(STDOUT_FILENO, errno_name(-r), reply ? reply : "", len);
		free(reply);
		return EXIT_CONNECT;
	}
	jw_obj_begin(&w);
	jw_key(&w, "reply");
	jw_strn(&w, reply ? reply : "", len);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	free(reply);
	return 0;
}

int cmd_udp_send(int argc, char **argv)
{
	struct client_opts o = { .timeout_ms = 3000 };
	char *pos[3], *buf = xmalloc(65536);
	int64_t start = now_ms(), deadline;
	struct jw w = { 0 };
	int fd, err = ETIMEDOUT;

	client_args(argc, argv, &o, false, pos, 3, "usage: udp-send HOST PORT MSG [--timeout S]");
	deadline = start + o.timeout_ms;
	/* a connected UDP socket turns ICMP port-unreachable into ECONNREFUSED */
	fd = client_connect(pos[0], port_arg(pos[1]), SOCK_DGRAM, deadline, STDOUT_FILENO);
	for (int try = 1; try <= 3 && err == ETIMEDOUT; try++) {
		int64_t try_deadline = start + o.timeout_ms * try / 3;
		ssize_t n;
		int r;

		if (send(fd, pos[2], strlen(pos[2]), 0) < 0) {
			err = errno;
			break;
		}
		r = net_wait(fd, POLLIN, try_deadline);
		if (r < 0) {
			err = -r;
			break;
		}
		if (r == 0)
			continue;
		n = recv(fd, buf, 65536, MSG_DONTWAIT);
		if (n < 0) {
			err = errno == EAGAIN ? ETIMEDOUT : errno;
			continue;
		}
		jw_obj_begin(&w);
		jw_key(&w, "reply");
		jw_strn(&w, buf, (size_t)n);
		jw_obj_end(&w);
		jw_emit(&w);
		jw_free(&w);
		close(fd);
		free(buf);
		return 0;
	}
	close(fd);
	free(buf);
	hdiag("no reply from %s:%s: %s", pos[0], pos[1], strerror(err));
	emit_error(STDOUT_FILENO, errno_name(err), NULL, 0);
	return EXIT_CONNECT;
}

int cmd_resolve(int argc, char **argv)
{
	struct sockaddr_storage addrs[NET_MAX_ADDRS];
	struct jw w = { 0 };
	int n;

	if (argc != 2)
		husage("usage: resolve NAME");
	n = net_resolve(argv[1], 0, addrs, NET_MAX_ADDRS);
	jw_obj_begin(&w);
	jw_kstr(&w, "name", argv[1]);
	jw_key(&w, "addresses");
	jw_arr_begin(&w);
	for (int i = 0; i < n; i++) {
		char a[80], *colon;

		net_addr_str(&addrs[i], a, sizeof(a));
		/* drop the ":0" port and IPv6 brackets */
		colon = strrchr(a, ':');
		if (colon)
			*colon = '\0';
		if (a[0] == '[') {
			a[strlen(a) - 1] = '\0';
			jw_str(&w, a + 1);
		} else {
			jw_str(&w, a);
		}
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	jw_emit(&w);
	jw_free(&w);
	return n > 0 ? 0 : EXIT_RESOLVE;
}

/* --------------------------------------------------------------- http-get */

struct url {
	char host[256];      /* as written, brackets included: for Host: */
	char name[256];      /* for resolution */
	uint16_t port;
	const char *path;
};

static bool parse_url(const char *u, struct url *url)
{
	const char *p, *slash, *hend, *colon = NULL;
	size_t hlen;

	if (strncasecmp(u, "http://", 7))
		return false;
	p = u + 7;
	slash = strchr(p, '/');
	hend = slash ? slash : p + strlen(p);
	url->path = slash ? slash : "/";
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(hend - p));

		if (!rb)
			return false;
		if (rb + 1 < hend) {
			if (rb[1] != ':')
				return false;
			colon = rb + 1;
		}
	} else {
		colon = memchr(p, ':', (size_t)(hend - p));
	}
	hlen = (size_t)((colon ? colon : hend) - p);
	if (hlen == 0 || hlen >= sizeof(url->host))
		return false;
	memcpy(url->host, p, hlen);
	url->host[hlen] = '\0';
	strcpy(url->name, url->host);
	url->port = 80;
	if (colon) {
		char port[8];
		long long v;
		size_t plen = (size_t)(hend - colon - 1);

		if (plen == 0 || plen >= sizeof(port))
			return false;
		memcpy(port, colon + 1, plen);
		port[plen] = '\0';
		if (!parse_ll(port, 1, 65535, &v))
			return false;
		url->port = (uint16_t)v;
	}
	return true;
}

/* Walk a chunked body. With out == NULL only checks completeness.
 * 1 complete, 0 incomplete, -1 malformed. */
static int dechunk(const char *in, size_t len, char **out, size_t *out_len)
{
	size_t pos = 0, cap = 0;

	for (;;) {
		const char *eol = memmem(in + pos, len - pos, "\r\n", 2);
		unsigned long long size;
		char *end;

		if (!eol)
			return 0;
		errno = 0;
		size = strtoull(in + pos, &end, 16);
		if (end == in + pos || errno || (end != eol && *end != ';' && *end != ' '))
			return -1;
		pos = (size_t)(eol - in) + 2;
		if (size == 0) {
			/* trailers, then an empty line */
			for (;;) {
				eol = memmem(in + pos, len - pos, "\r\n", 2);
				if (!eol)
					return 0;
				if (eol == in + pos)
					return 1;
				pos = (size_t)(eol - in) + 2;
			}
		}
		if (size > len - pos || len - pos - size < 2)
			return 0;
		if (out)
			buf_append(out, out_len, &cap, in + pos, (size_t)size);
		pos += (size_t)size;
		if (in[pos] != '\r' || in[pos + 1] != '\n')
			return -1;
		pos += 2;
	}
}

int cmd_http_get(int argc, char **argv)
{
	struct client_opts o = { .timeout_ms = 10000 };
	char *pos[1], *resp = NULL, *req = NULL, *body = NULL;
	size_t req_len = 0, req_cap = 0, len = 0, cap = 0, hdr_len = 0, body_len = 0;
	long long clen = -1;
	bool chunked = false, have_host = false;
	int status = 0, fd, r = 0;
	int64_t deadline;
	struct url url;
	struct jw w = { 0 };
	char line[512];

	client_args(argc, argv, &o, true, pos, 1,
		    "usage: http-get URL [--header K:V]... [--timeout S]");
	if (!parse_url(pos[0], &url))
		husage("bad URL '%s' (http://HOST[:PORT]/PATH)", pos[0]);
	signal(SIGPIPE, SIG_IGN);

	for (int i = 0; i < o.nheaders; i++)
		if (!strncasecmp(o.headers[i], "host:", 5))
			have_host = true;
	snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\n", url.path);
	buf_append(&req, &req_len, &req_cap, line, strlen(line));
	if (!have_host) {
		if (url.port == 80)
			snprintf(line, sizeof(line), "Host: %s\r\n", url.host);
		else
			snprintf(line, sizeof(line), "Host: %s:%u\r\n", url.host, url.port);
		buf_append(&req, &req_len, &req_cap, line, strlen(line));
	}
	for (int i = 0; i < o.nheaders; i++) {
		char *colon = strchr(o.headers[i], ':'), *v = colon + 1;

		while (*v == ' ')
			v++;
		buf_append(&req, &req_len, &req_cap, o.headers[i], (size_t)(colon - o.headers[i]));
		buf_append(&req, &req_len, &req_cap, ": ", 2);
		buf_append(&req, &req_len, &req_cap, v, strlen(v));
		buf_append(&req, &req_len, &req_cap, "\r\n", 2);
	}
	snprintf(line, sizeof(line),
		 "User-Agent: berth-testhelper\r\nAccept: */*\r\nConnection: close\r\n\r\n");
	buf_append(&req, &req_len, &req_cap, line, strlen(line));

	if (url.name[0] == '[') {
		memmove(url.name, url.name + 1, strlen(url.name));
		url.name[strlen(url.name) - 1] = '\0';
	}
	deadline = now_ms() + o.timeout_ms;
	fd = client_connect(url.name, url.port, SOCK_STREAM, deadline, STDERR_FILENO);
	r = send_all(fd, req, req_len, deadline);
	free(req);
	free(o.headers);

	while (r == 0) {
		ssize_t n = recv_some(fd, &resp, &len, &cap, deadline);

		if (n < 0) {
			r = (int)n;
			break;
		}
		if (!hdr_len) {
			char *end = resp ? strstr(resp, "\r\n\r\n") : NULL;
			char *l, *save = NULL;

			if (!end) {
				if (n == 0)
					break;
				continue;
			}
			hdr_len = (size_t)(end - resp) + 4;
			*end = '\0';
			if (sscanf(resp, "HTTP/1.%*1d %3d", &status) != 1 || status < 100) {
				hdiag("malformed status line");
				return EXIT_BAD_REPLY;
			}
			l = strchr(resp, '\n');
			for (l = l ? strtok_r(l + 1, "\r\n", &save) : NULL; l;
			     l = strtok_r(NULL, "\r\n", &save)) {
				char *colon = strchr(l, ':'), *v;

				if (!colon)
					continue;
				*colon = '\0';
				for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
					;
				if (!strcasecmp(l, "Content-Length") && !parse_ll(v, 0, 1LL << 40, &clen)) {
					hdiag("bad Content-Length '%s'", v);
					return EXIT_BAD_REPLY;
				}
				if (!strcasecmp(l, "Transfer-Encoding") && strcasestr(v, "chunked"))
					chunked = true;
			}
			if (status == 204 || status == 304 || (status >= 100 && status < 200))
				clen = 0;
		}
		if (chunked) {
			int d = dechunk(resp + hdr_len, len - hdr_len, NULL, NULL);

			if (d < 0) {
				hdiag("malformed chunked body");
				return EXIT_BAD_REPLY;
			}
			if (d > 0)
				break;
		} else if (clen >= 0 && len - hdr_len >= (size_t)clen) {
			break;
		}
		if (n == 0)
			break;
	}
	close(fd);
	if (r < 0 || !hdr_len) {
		const char *e = r < 0 ? errno_name(-r) : "no response";

		hdiag("GET %s: %s", pos[0], r < 0 ? strerror(-r) : "connection closed before a response");
		emit_error(STDERR_FILENO, e, NULL, 0);
		free(resp);
		return r < 0 ? EXIT_CONNECT : EXIT_BAD_REPLY;
	}
	if (chunked) {
		if (dechunk(resp + hdr_len, len - hdr_len, &body, &body_len) != 1) {
			hdiag("truncated chunked body");
			free(resp);
			return EXIT_BAD_REPLY;
		}
	} else {
		body_len = len - hdr_len;
		if (clen >= 0) {
			if (body_len < (size_t)clen) {
				hdiag("body truncated: %zu of %lld bytes", body_len, clen);
				free(resp);
				return EXIT_BAD_REPLY;
			}
			body_len = (size_t)clen;
		}
	}
	(void)write_all(STDOUT_FILENO, chunked ? body : resp + hdr_len, body_len);
	jw_obj_begin(&w);
	jw_kint(&w, "status", status);
	jw_kint(&w, "bytes", (long long)body_len);
	jw_obj_end(&w);
	(void)write_all(STDERR_FILENO, w.buf, w.len);
	(void)write_all(STDERR_FILENO, "\n", 1);
	jw_free(&w);
	free(body);
	free(resp);
	return status >= 200 && status < 300 ? 0 : EXIT_HTTP_STATUS;
}
