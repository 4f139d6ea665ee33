/* runtime/daemon/server.c - berthd's event loop and API listeners. */
#include "runtime/daemon/server.h"

#include "runtime/daemon/api.h"
#include "runtime/daemon/discovery.h"
#include "runtime/daemon/cstate.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/http.h"
#include "runtime/daemon/authz.h"
#include "runtime/daemon/sigv4.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define IDLE_TIMEOUT_S 60
#define READ_CHUNK 16384

struct listener {
	struct ev_handler h;
	struct berthd *d;
	int fd;
	bool tcp;
};

struct conn {
	struct ev_handler h;
	struct berthd *d;
	struct conn *prev, *next;
	int fd;
	bool tcp;
	bool root;               /* unix socket peer is uid 0 */
	bool closing;            /* close once `out` is written */
	bool want_out;
	struct http_parser p;
	char *in;
	size_t in_len, in_cap;
	struct http_out out;
	time_t last;
};

struct loop_state {
	struct ev_handler sig_h, sweep_h;
	int sigfd, timerfd;
	struct listener unix_l, tcp_l;
	struct conn *conns;
	size_t n_conns;
	bool stop;
};

/* one daemon per process: the loop's private state */
static struct loop_state L = { .sigfd = -1, .timerfd = -1,
			       .unix_l = { .fd = -1 }, .tcp_l = { .fd = -1, .tcp = true } };

int server_watch(struct berthd *d, int fd, uint32_t events, struct ev_handler *h)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	if (errno == ENOENT && epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
		return 0;
	return -errno;
}

void server_unwatch(struct berthd *d, int fd)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* Objects released while a batch of epoll events is being handled: an
 * event of the same batch may still point at one of their handlers (a
 * shim's connection and its pidfd, say, both ready at once), so the memory
 * is freed only after the batch, and those events are skipped. */
struct released {
	const struct ev_handler *h[2];
	void *obj;
	void (*fn)(void *obj);
};
static struct {
	struct released *v;
	size_t n, cap;
	bool in_batch;
} R;

void server_release(struct berthd *d, const struct ev_handler *h1, const struct ev_handler *h2,
		    void *obj, void (*fn)(void *obj))
{
	(void)d;
	if (!R.in_batch) {
		fn(obj);
		return;
	}
	if (R.n == R.cap) {
		R.cap = R.cap ? 2 * R.cap : 16;
		R.v = xrealloc(R.v, R.cap * sizeof(*R.v));
	}
	R.v[R.n++] = (struct released){ .h = { h1, h2 }, .obj = obj, .fn = fn };
}

static bool released(const struct ev_handler *h)
{
	for (size_t i = 0; i < R.n; i++)
		if (R.v[i].h[0] == h || R.v[i].h[1] == h)
			return true;
	return false;
}

static void release_batch(void)
{
	/* a release function may release more: they go on the list and run
	 * in this same loop */
	R.in_batch = false;
	for (size_t i = 0; i < R.n; i++)
		R.v[i].fn(R.v[i].obj);
	R.n = 0;
}

static void free_conn(void *p)
{
	struct conn *c = p;

	free(c->in);
	http_out_free(&c->out);
	free(c);
}

static void conn_close(struct conn *c)
{
	server_unwatch(c->d, c->fd);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		L.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	L.n_conns--;
	c->fd = -1;
	server_release(c->d, &c->h, NULL, c, free_conn);
}

static void request_id(char buf[37])
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r));
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
		 r[13], r[14], r[15]);
}

static void respond(struct conn *c, int status, const char *rid, const json_t *body, bool keep)
{
	cleanup_free char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct http_response r = {
		.status = status,
		.content_type = "application/x-amz-json-1.1",
		.request_id = rid,
		.keep_alive = keep,
		.body = s ? s : "",
		.body_len = s ? strlen(s) : 0,
	};

	http_write_response(&c->out, &r);
	if (!keep)
		c->closing = true;
}

static void respond_error(struct conn *c, int status, const char *rid, const char *type,
			  const char *msg, bool keep)
{
	cleanup_json json_t *b = json_pack("{s:s, s:s}", "__type", type, "message", msg);

	respond(c, status, rid, b, keep);
}

/* ECS's operations and berth's own (BerthV1.<Op>): api_target_op. */
static const char *op_of(const struct http_request *req, char *buf, size_t len)
{
	const struct http_header *h = http_header_find(req, "X-Amz-Target");

	return h ? api_target_op(h->value, h->value_len, buf, len) : NULL;
}

static void handle(struct conn *c, const struct http_request *req)
{
	struct berthd *d = c->d;
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *in = NULL, *out = NULL;
	struct api_error e = { 0 };
	struct authz_session sess __attribute__((cleanup(authz_session_clear))) = { .d = d };
	char rid[37], opbuf[96];
	const char *op;
	bool keep = req->keep_alive && !d->stopping;

	request_id(rid);
	if (c->tcp) {
		struct sigv4_result sr;
		struct sigv4_keys keys = {
			.keys = d->cfg.keys, .n_keys = d->cfg.n_keys,
			.session = authz_session_cb, .ctx = &sess,
		};

		const struct http_header *th = http_header_find(req, "X-Amz-Target");
		/* the credential scope names the service the target belongs to */
		const char *service = "ecs";

		if (th && th->value_len > strlen(API_AAS_PREFIX) &&
		    !strncmp(th->value, API_AAS_PREFIX, strlen(API_AAS_PREFIX)))
			service = "application-autoscaling";
		else if (th && th->value_len > strlen(API_SD_PREFIX) &&
			 !strncmp(th->value, API_SD_PREFIX, strlen(API_SD_PREFIX)))
			service = "servicediscovery";

		sess.now = time(NULL);
		if (sigv4_verify_keys(req, &keys, service, d->cfg.max_clock_skew, sess.now, &sr) < 0) {
			log_info("api: 403 %s (key \"%s\"): %s", sr.type, sr.access_key_id, sr.message);
			respond_error(c, SIGV4_STATUS, rid, sr.type, sr.message, keep);
			return;
		}
	} else if (!c->root) {
		respond_error(c, 403, rid, "AccessDeniedException",
			      "berthd's unix socket serves root only", false);
		return;
	}
	if (req->method_len != 4 || memcmp(req->method, "POST", 4) ||
	    req->path_len != 1 || req->path[0] != '/') {
		respond_error(c, req->method_len == 4 && !memcmp(req->method, "POST", 4) ? 404 : 405,
			      rid, "UnknownOperationException",
			      "berthd serves the ECS API: POST / with X-Amz-Target", keep);
		return;
	}
	op = op_of(req, opbuf, sizeof(opbuf));
	if (!op) {
		respond_error(c, 400, rid, "UnknownOperationException",
			      "X-Amz-Target: expected " API_TARGET_PREFIX "<Operation> (or "
			      API_BERTH_PREFIX "<Operation>)", keep);
		return;
	}
	if (req->body_len == 0) {
		in = json_object();
	} else if (bjson_load_buf("request body", req->body, req->body_len, &in, &err) < 0) {
		/* the parser's message quotes the text near the error: never
		 * for a request that may carry a secret's value */
		if (!strcmp(op, API_BERTH_PREFIX "PutSecret"))
			respond_error(c, 400, rid, "SerializationException", "request body: not valid JSON "
				      "(the message is withheld: the body may hold a secret's value)", keep);
		else
			respond_error(c, 400, rid, "SerializationException", berr_msg(err), keep);
		return;
	}
	/* task credentials: the role's policies decide (a known operation
	 * only: an unknown one is answered as such below) */
	if (sess.have_claims && api_find(op) && json_is_object(in) && authz_check(d, &sess.claims, op, in, &e) < 0) {
		respond_error(c, e.status ? e.status : 400, rid, e.type, e.message ? e.message : "", keep);
		api_error_clear(&e);
		return;
	}
	out = api_call(d, op, in, &e);
	if (!out) {
		log_info("api: %s: %d %s: %s", op, e.status, e.type, e.message ? e.message : "");
		respond_error(c, e.status ? e.status : 400, rid, e.type[0] ? e.type : "ServerException",
			      e.message ? e.message : "", keep);
		api_error_clear(&e);
		return;
	}
	log_debug("api: %s: 200", op);
	respond(c, 200, rid, out, keep);
}

static void conn_update(struct conn *c)
{
	bool want = http_out_pending(&c->out) > 0;

	if (want != c->want_out) {
		c->want_out = want;
		server_watch(c->d, c->fd, EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0), &c->h);
	}
}

static void conn_flush(struct conn *c)
{
	cleanup_berr struct berr *err = NULL;
	int r = http_out_flush(&c->out, c->fd, &err);

	if (r < 0) {
		conn_close(c);
		return;
	}
	if (r == 1) {
		c->out.len = c->out.sent = 0;
		if (c->closing) {
			conn_close(c);
			return;
		}
	}
	conn_update(c);
}

/* Parse and answer every complete request in the input buffer. */
static void conn_process(struct conn *c)
{
	while (c->in_len && !c->closing) {
		struct http_request req;
		enum http_parse_result r = http_parse(&c->p, c->in, c->in_len, &req);

		if (r == HTTP_PARSE_MORE) {
			if (http_parser_take_continue(&c->p))
				http_out_append(&c->out, HTTP_CONTINUE, strlen(HTTP_CONTINUE));
			break;
		}
		if (r == HTTP_PARSE_ERROR) {
			char rid[37];

			request_id(rid);
			respond_error(c, c->p.status, rid, "SerializationException", c->p.error, false);
			break;
		}
		handle(c, &req);
		memmove(c->in, c->in + req.consumed, c->in_len - req.consumed);
		c->in_len -= req.consumed;
		http_parser_reset(&c->p);
	}
	conn_flush(c);
}

static void conn_event(struct ev_handler *h, uint32_t events)
{
	struct conn *c = (struct conn *)h;

	if (events & EPOLLOUT) {
		conn_flush(c);
		return;     /* c may be gone; input waits for the next round */
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n;

			if (c->closing)
				break;
			if (c->in_cap - c->in_len < READ_CHUNK) {
				c->in_cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
				c->in = xrealloc(c->in, c->in_cap);
			}
			n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
			if (n > 0) {
				c->in_len += (size_t)n;
				c->last = time(NULL);
				/* a client that sends more than any request may hold */
				if (c->in_len > c->p.lim.max_head + c->p.lim.max_body + 4096)
					break;
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				conn_close(c);
				return;
			}
			if (errno == EAGAIN)
				break;
		}
		conn_process(c);
	}
}

static void accept_event(struct ev_handler *h, uint32_t events)
{
	struct listener *l = (struct listener *)h;

	(void)events;
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		if (L.n_conns >= MAX_CONNS || l->d->stopping) {
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->h.fn = conn_event;
		c->d = l->d;
		c->fd = fd;
		c->tcp = l->tcp;
		c->last = time(NULL);
		http_parser_init(&c->p, NULL);
		if (!l->tcp) {
			struct ucred cr;
			socklen_t len = sizeof(cr);

			c->root = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && cr.uid == 0;
		} else {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		c->next = L.conns;
		if (L.conns)
			L.conns->prev = c;
		L.conns = c;
		L.n_conns++;
		if (server_watch(l->d, fd, EPOLLIN | EPOLLRDHUP, &c->h) < 0)
			conn_close(c);
	}
}

static void signal_event(struct ev_handler *h, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)h;
	(void)events;
	while (read(L.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_info("signal %u: shutting down (tasks keep running)", si.ssi_signo);
			L.stop = true;
		}
	}
}

static void sweep_event(struct ev_handler *h, uint32_t events)
{
	uint64_t n;
	time_t now = time(NULL);

	(void)h;
	(void)events;
	if (read(L.timerfd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("timerfd: %s", strerror(errno));
	for (struct conn *c = L.conns, *next; c; c = next) {
		next = c->next;
		if (now - c->last > IDLE_TIMEOUT_S && !http_out_pending(&c->out))
			conn_close(c);
	}
}

static int listen_unix(struct berthd *d, struct berr **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->cfg.socket_path;
	cleanup_free char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return berr_set(err, ENAMETOOLONG, "socket %s: path too long", path);
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return berr_set(err, errno, "mkdir %s", dir);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	/* a live berthd answers on it: never steal its socket */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN) {
		close(fd);
		return berr_set(err, EADDRINUSE, "socket %s: another berthd is serving it", path);
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	unlink(path);
	{
		mode_t old = umask(0177);

		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
	}
	if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 512) < 0) {
		r = berr_set(err, errno, "listen on %s", path);
		close(fd);
		return r;
	}
	L.unix_l = (struct listener){ .h.fn = accept_event, .d = d, .fd = fd, .tcp = false };
	return server_watch(d, fd, EPOLLIN, &L.unix_l.h);
}

static int listen_tcp(struct berthd *d, struct berr **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *colon = strrchr(d->cfg.listen, ':');
	char addr[INET_ADDRSTRLEN];
	int one = 1, fd, r;

	/* berthd_config_parse checked the form */
	snprintf(addr, sizeof(addr), "%.*s", (int)(colon - d->cfg.listen), d->cfg.listen);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return berr_set(err, EINVAL, "listen: %s: not an IPv4 address", d->cfg.listen);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set(err, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0) {
		r = berr_set(err, errno, "listen on %s", d->cfg.listen);
		close(fd);
		return r;
	}
	L.tcp_l = (struct listener){ .h.fn = accept_event, .d = d, .fd = fd, .tcp = true };
	return server_watch(d, fd, EPOLLIN, &L.tcp_l.h);
}

int server_init(struct berthd *d, struct berr **err)
{
	struct itimerspec its = { .it_interval = { 5, 0 }, .it_value = { 5, 0 } };
	sigset_t mask;
	int r;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return berr_set(err, errno, "epoll_create1");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	L.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	L.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (L.sigfd < 0 || L.timerfd < 0 || timerfd_settime(L.timerfd, 0, &its, NULL) < 0)
		return berr_set(err, errno, "signalfd/timerfd");
	L.sig_h.fn = signal_event;
	L.sweep_h.fn = sweep_event;
	if ((r = server_watch(d, L.sigfd, EPOLLIN, &L.sig_h)) < 0 ||
	    (r = server_watch(d, L.timerfd, EPOLLIN, &L.sweep_h)) < 0)
		return berr_set(err, -r, "epoll_ctl");
	if ((r = listen_unix(d, err)) < 0)
		return r;
	if (d->cfg.listen && (r = listen_tcp(d, err)) < 0)
		return r;
	log_info("serving the ECS API on %s%s%s", d->cfg.socket_path,
		 d->cfg.listen ? " and SigV4 on " : "", d->cfg.listen ? d->cfg.listen : "");
	return 0;
}

int server_run(struct berthd *d, struct berr **err)
{
	struct epoll_event ev[64];

	while (!L.stop) {
		int n = epoll_wait(d->epfd, ev, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return berr_set(err, errno, "epoll_wait");
		}
		R.in_batch = true;
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = ev[i].data.ptr;

			if (!released(h))
				h->fn(h, ev[i].events);
		}
		release_batch();
		/* the batch's transactions are over: share what they wrote */
		cstate_flush(d);
	}
	/* graceful: no new connections; give pending responses a moment */
	d->stopping = true;
	if (L.unix_l.fd >= 0) {
		server_unwatch(d, L.unix_l.fd);
		close(L.unix_l.fd);
		L.unix_l.fd = -1;
		unlink(d->cfg.socket_path);
	}
	if (L.tcp_l.fd >= 0) {
		server_unwatch(d, L.tcp_l.fd);
		close(L.tcp_l.fd);
		L.tcp_l.fd = -1;
	}
	for (int rounds = 0; rounds < 20; rounds++) {
		bool pending = false;
		int n;

		for (struct conn *c = L.conns; c; c = c->next)
			pending |= http_out_pending(&c->out) > 0;
		if (!pending)
			break;
		n = epoll_wait(d->epfd, ev, 64, 100);
		R.in_batch = true;
		for (int i = 0; i < n; i++) {
			struct ev_handler *h = ev[i].data.ptr;

			if (!released(h) && h->fn == conn_event && (ev[i].events & EPOLLOUT))
				h->fn(h, EPOLLOUT);
		}
		release_batch();
	}
	return 0;
}

void server_fini(struct berthd *d)
{
	while (L.conns)
		conn_close(L.conns);
	if (L.unix_l.fd >= 0) {
		close(L.unix_l.fd);
		unlink(d->cfg.socket_path);
		L.unix_l.fd = -1;
	}
	if (L.tcp_l.fd >= 0)
		close(L.tcp_l.fd);
	L.tcp_l.fd = -1;
	if (L.sigfd >= 0)
		close(L.sigfd);
	if (L.timerfd >= 0)
		close(L.timerfd);
	L.sigfd = L.timerfd = -1;
	if (d->epfd >= 0)
		close(d->epfd);
	d->epfd = -1;
}
