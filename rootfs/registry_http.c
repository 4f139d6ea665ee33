/* rootfs/registry_http.c - see registry_http.h */
#include "rootfs/registry_http.h"
#include "common/cleanup.h"
#include "common/curlload.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "rootfs/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ACCEPT_MANIFESTS "Accept: " OCI_MT_MANIFEST ", " OCI_MT_INDEX ", " DOCKER_MT_MANIFEST ", " \
	DOCKER_MT_LIST
#define ERRBODY_MAX 4096
#define USER_AGENT "berth/0.1"

struct reg_client {
	const struct rootfs_pull_ref *ref;
	const struct rootfs_pull_opts *o;
	char *base;                 /* "https://host[:port]" or "http://..." */
	bool insecure, scheme_settled;
	struct rootfs_cred cred;
	bool have_cred;
	char *cred_source;          /* the file the credentials came from */
	char *authz;                /* "Authorization: ..." or NULL */
	enum rootfs_pull_failure fail;
	unsigned retries;
	double rate_t0;             /* max_recv_speed: when the first blob byte came */
	uint64_t rate_bytes;        /* blob bytes received since */
};

static int fail_as(struct reg_client *c, enum rootfs_pull_failure f, int r)
{
	c->fail = f;
	return r;
}

enum rootfs_pull_failure reg_client_failure(const struct reg_client *c)
{
	return c->fail;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double backoff_s(unsigned attempt)
{
	double d = 0.25;

	for (unsigned i = 1; i < attempt && d < 4; i++)
		d *= 2;
	return d;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static bool transient_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_COULDNT_RESOLVE_HOST:
		return true;
	default:
		return false;
	}
}

static bool transient_status(long st)
{
	return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

/* ---------------------------------------------------------------- client */

static int load_cred(struct reg_client *c, const char *path, bool must_exist, struct berr **err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	int r;

	if (path == NULL || c->have_cred)
		return 0;
	if (access(path, F_OK) < 0 && !must_exist)
		return 0;
	r = fs_read_file_at(AT_FDCWD, path, &buf, &len, 1u << 20, err);
	if (r < 0)
		return fail_as(c, ROOTFS_PULL_FAIL_OTHER, berr_wrap(err, "credentials"));
	r = rootfs_cred_lookup(buf, len, path, c->ref->registry, &c->cred, err);
	if (r < 0)
		return fail_as(c, ROOTFS_PULL_FAIL_OTHER, r);
	if (r == ROOTFS_CRED_FOUND) {
		c->have_cred = true;
		c->cred_source = xstrdup(path);
	} else if (r == ROOTFS_CRED_HELPER) {
		log_warn("%s: a credential helper (credsStore/credHelpers) would hold the credentials for %s; "
			 "helpers are not supported yet: pulling anonymously", path, c->ref->registry);
	}
	return 0;
}

int reg_client_new(const struct rootfs_pull_ref *ref, const struct rootfs_pull_opts *o,
		   struct reg_client **out, struct berr **err)
{
	struct reg_client *c;
	int r;

	r = curl_load(err);
	if (r < 0)
		return berr_wrap(err, "pull from %s", ref->registry);
	c = xzalloc(sizeof(*c));
	c->ref = ref;
	c->o = o;
	c->retries = o->retries ? o->retries : 5;
	for (const char *const *i = o->insecure; i && *i; i++) {
		cleanup_free char *n = rootfs_registry_host_normalize(*i);

		if (!strcmp(n, ref->registry))
			c->insecure = true;
	}
	c->base = xasprintf("https://%s", ref->endpoint);
	r = load_cred(c, o->credentials_file, false, err);
	if (r == 0)
		r = load_cred(c, o->docker_config, false, err);
	if (r < 0) {
		reg_client_free(c);
		return r;
	}
	*out = c;
	return 0;
}

void reg_client_free(struct reg_client *c)
{
	if (c == NULL)
		return;
	free(c->base);
	rootfs_cred_free(&c->cred);
	free(c->cred_source);
	if (c->authz)
		explicit_bzero(c->authz, strlen(c->authz));
	free(c->authz);
	free(c);
}

/* ---------------------------------------------------------------- responses */

struct resp {
	long status;
	char *www, *ctype, *crange;
	char *body;
	size_t len, max;
	bool too_big;
};

static void resp_reset_headers(struct resp *r)
{
	free(r->www);
	free(r->ctype);
	free(r->crange);
	r->www = r->ctype = r->crange = NULL;
}

static void resp_free(struct resp *r)
{
	resp_reset_headers(r);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void keep_header(char **slot, const char *v, size_t n)
{
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	while (n && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	free(*slot);
	*slot = xstrndup(v, n);
}

static void parse_header(struct resp *r, const char *line, size_t n)
{
	const char *colon;

	if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
		const char *sp = memchr(line, ' ', n);

		resp_reset_headers(r);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return;
	}
	colon = memchr(line, ':', n);
	if (colon == NULL)
		return;
#define IS(h) ((size_t)(colon - line) == strlen(h) && !strncasecmp(line, h, strlen(h)))
	if (IS("www-authenticate"))
		keep_header(&r->www, colon + 1, n - (size_t)(colon + 1 - line));
	else if (IS("content-type"))
		keep_header(&r->ctype, colon + 1, n - (size_t)(colon + 1 - line));
	else if (IS("content-range"))
		keep_header(&r->crange, colon + 1, n - (size_t)(colon + 1 - line));
#undef IS
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *data)
{
	parse_header(data, buf, size * nmemb);
	return size * nmemb;
}

static size_t on_body_mem(char *buf, size_t size, size_t nmemb, void *data)
{
	struct resp *r = data;
	size_t n = size * nmemb;

	if (r->len + n > r->max) {
		r->too_big = true;
		return 0;
	}
	r->body = xrealloc(r->body, r->len + n + 1);
	memcpy(r->body + r->len, buf, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* "MANIFEST_UNKNOWN: manifest unknown" from a distribution error body, or "". */
static char *registry_error_text(const char *body, size_t len)
{
	json_t *v, *e;
	char *out = NULL;

	if (body == NULL || len == 0)
		return xstrdup("");
	v = json_loadb(body, len, 0, NULL);
	e = json_array_get(json_object_get(v, "errors"), 0);
	if (json_is_object(e)) {
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));

		out = xasprintf(" (%s%s%s)", berr_q(code ? code : "?"), msg ? ": " : "", msg ? berr_q(msg) : "");
	}
	json_decref(v);
	return out ? out : xstrdup("");
}

/* ---------------------------------------------------------------- requests */

/* With --limit-rate, a small receive buffer: the kernel must not take in
 * the whole blob ahead of the reader (on loopback it would). */
static int small_rcvbuf(void *data, curl_socket_t fd, curlsocktype purpose)
{
	int sz = 32768;

	(void)data;
	if (purpose == CURLSOCKTYPE_IPCXN)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return CURL_SOCKOPT_OK;
}

static CURL *easy_new(struct reg_client *c, const char *url, struct curl_slist *hdrs, char *errbuf)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		abort();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* a redirect from HTTPS never goes to plain HTTP (blob storage redirects) */
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, c->insecure ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer: under 1 byte/s for 30 s */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->o->ca_file);
	if (c->o->max_recv_speed > 0)
		curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, small_rcvbuf);
	if (hdrs)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	return h;
}

static const char *curl_why(CURLcode rc, const char *errbuf)
{
	return errbuf[0] ? errbuf : curl_easy_strerror(rc);
}

static int authenticate(struct reg_client *c, const char *www, long status, struct berr **err);

/* GET base+path; follows the auth challenge once, retries transient
 * failures; the caller judges the final status. */
static int do_get(struct reg_client *c, const char *path, const char *accept, size_t max,
		  struct resp *r, struct berr **err)
{
	bool auth_done = false;
	unsigned attempt = 0;

	for (;;) {
		cleanup_free char *url = xasprintf("%s%s", c->base, path);
		struct curl_slist *hdrs = NULL;
		char errbuf[CURL_ERROR_SIZE];
		CURL *h;
		CURLcode rc;

		resp_free(r);
		r->max = max;
		if (accept)
			hdrs = curl_slist_append(hdrs, accept);
		if (c->authz)
			hdrs = curl_slist_append(hdrs, c->authz);
		h = easy_new(c, url, hdrs, errbuf);
		curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body_mem);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
		rc = curl_easy_perform(h);
		curl_easy_cleanup(h);
		curl_slist_free_all(hdrs);
		if (rc != CURLE_OK && r->too_big)
			return fail_as(c, ROOTFS_PULL_FAIL_OTHER,
				       berr_set(err, 0, "GET %s: response larger than %zu bytes", url, max));
		/* an insecure registry: HTTPS without verification first, then plain HTTP */
		if (rc != CURLE_OK && c->insecure && !c->scheme_settled && !strncmp(c->base, "https://", 8) &&
		    rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST) {
			log_debug("%s: HTTPS failed (%s), trying plain HTTP (insecure registry)", c->ref->registry,
				  curl_why(rc, errbuf));
			free(c->base);
			c->base = xasprintf("http://%s", c->ref->endpoint);
			c->scheme_settled = true;
			continue;
		}
		if (rc != CURLE_OK) {
			if (transient_curl(rc) && attempt < c->retries) {
				attempt++;
				log_debug("GET %s: %s; retry %u in %.2fs", url, curl_why(rc, errbuf), attempt,
					  backoff_s(attempt));
				sleep_s(backoff_s(attempt));
				continue;
			}
			return fail_as(c, ROOTFS_PULL_FAIL_UNREACHABLE,
				       berr_set(err, 0, "registry %s: GET %s: %s%s", c->ref->registry, url,
						curl_why(rc, errbuf), attempt ? " (after retries)" : ""));
		}
		c->scheme_settled = true;
		if ((r->status == 401 || (r->status == 403 && c->authz == NULL && r->www)) && !auth_done) {
			int ar = authenticate(c, r->www, r->status, err);

			if (ar < 0)
				return ar;
			auth_done = true;
			continue;
		}
		if (transient_status(r->status) && attempt < c->retries) {
			attempt++;
			sleep_s(backoff_s(attempt));
			continue;
		}
		return 0;
	}
}

static char *files_searched(struct reg_client *c)
{
	const char *a = c->o->credentials_file, *b = c->o->docker_config;

	if (a && b)
		return xasprintf("%s, %s", a, b);
	if (a || b)
		return xstrdup(a ? a : b);
	return xstrdup("no credentials file given");
}

static int fetch_token(struct reg_client *c, const struct rootfs_auth_challenge *ch, struct berr **err)
{
	const char *realm = rootfs_auth_param(ch, "realm"), *service = rootfs_auth_param(ch, "service");
	const char *scope = rootfs_auth_param(ch, "scope");
	cleanup_free char *defscope = xasprintf("repository:%s:pull", c->ref->repository);
	cleanup_free char *url = NULL, *token = NULL;
	struct resp r = { .max = 1u << 20 };
	char errbuf[CURL_ERROR_SIZE];
	char *es = NULL, *esc = NULL;
	int64_t expires = 0;
	CURL *h;
	CURLcode rc;
	int ret;

	if (realm == NULL || (strncmp(realm, "https://", 8) && strncmp(realm, "http://", 7)))
		return fail_as(c, ROOTFS_PULL_FAIL_AUTH,
			       berr_set(err, 0, "registry %s: bearer challenge without an http(s) realm",
					c->ref->registry));
	if (!strncmp(realm, "http://", 7) && !c->insecure)
		return fail_as(c, ROOTFS_PULL_FAIL_AUTH,
			       berr_set(err, 0, "registry %s: token realm %s is plain HTTP; allowed only for an insecure registry",
					c->ref->registry, berr_q(realm)));
	h = curl_easy_init();
	es = service ? curl_easy_escape(h, service, 0) : NULL;
	esc = curl_easy_escape(h, scope ? scope : defscope, 0);
	url = xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?", esc, es ? "&service=" : "",
			es ? es : "");
	curl_free(es);
	curl_free(esc);
	curl_easy_cleanup(h);
	h = easy_new(c, url, NULL, errbuf);
	if (c->have_cred) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, c->cred.username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->cred.password);
	}
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body_mem);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK) {
		ret = fail_as(c, ROOTFS_PULL_FAIL_UNREACHABLE,
			      berr_set(err, 0, "registry %s: token server %s: %s", c->ref->registry, berr_q(realm),
				       curl_why(rc, errbuf)));
		goto out;
	}
	if (r.status == 401 || r.status == 403) {
		cleanup_free char *files = files_searched(c);

		if (c->have_cred)
			ret = berr_set(err, 0, "registry %s: authentication failed: the token server refused user \"%s\" (credentials from %s; HTTP %ld)",
				       c->ref->registry, berr_q(c->cred.username), c->cred_source, r.status);
		else
			ret = berr_set(err, 0, "registry %s: authentication required and no credentials for it (searched: %s; HTTP %ld from the token server)",
				       c->ref->registry, files, r.status);
		ret = fail_as(c, ROOTFS_PULL_FAIL_AUTH, ret);
		goto out;
	}
	if (r.status != 200) {
		ret = fail_as(c, transient_status(r.status) ? ROOTFS_PULL_FAIL_UNREACHABLE : ROOTFS_PULL_FAIL_AUTH,
			      berr_set(err, 0, "registry %s: token server %s answered HTTP %ld", c->ref->registry,
				       berr_q(realm), r.status));
		goto out;
	}
	ret = rootfs_auth_parse_token(r.body, r.len, &token, &expires, err);
	if (ret < 0) {
		ret = fail_as(c, ROOTFS_PULL_FAIL_AUTH, berr_wrap(err, "registry %s", c->ref->registry));
		goto out;
	}
	if (c->authz)
		explicit_bzero(c->authz, strlen(c->authz));
	free(c->authz);
	c->authz = xasprintf("Authorization: Bearer %s", token);
	explicit_bzero(token, strlen(token));
	ret = 0;
out:
	resp_free(&r);
	return ret;
}

static int authenticate(struct reg_client *c, const char *www, long status, struct berr **err)
{
	struct rootfs_auth_challenge *ch = NULL;
	size_t n = 0;
	const struct rootfs_auth_challenge *bearer = NULL, *basic = NULL;
	int r;

	if (www == NULL)
		return fail_as(c, ROOTFS_PULL_FAIL_AUTH,
			       berr_set(err, 0, "registry %s: HTTP %ld without a WWW-Authenticate challenge",
					c->ref->registry, status));
	r = rootfs_auth_parse_www(www, &ch, &n, err);
	if (r < 0)
		return fail_as(c, ROOTFS_PULL_FAIL_AUTH, berr_wrap(err, "registry %s", c->ref->registry));
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(ch[i].scheme, "bearer") && !bearer)
			bearer = &ch[i];
		else if (!strcmp(ch[i].scheme, "basic") && !basic)
			basic = &ch[i];
	}
	if (bearer) {
		r = fetch_token(c, bearer, err);
	} else if (basic) {
		if (!c->have_cred) {
			cleanup_free char *files = files_searched(c);

			r = fail_as(c, ROOTFS_PULL_FAIL_AUTH,
				    berr_set(err, 0, "registry %s: authentication required (Basic) and no credentials for it (searched: %s)",
					     c->ref->registry, files));
		} else {
			cleanup_free char *up = xasprintf("%s:%s", c->cred.username, c->cred.password);
			cleanup_free char *b = rootfs_base64_encode(up, strlen(up));

			explicit_bzero(up, strlen(up));
			if (c->authz)
				explicit_bzero(c->authz, strlen(c->authz));
			free(c->authz);
			c->authz = xasprintf("Authorization: Basic %s", b);
			explicit_bzero(b, strlen(b));
			r = 0;
		}
	} else {
		r = fail_as(c, ROOTFS_PULL_FAIL_UNSUPPORTED,
			    berr_set(err, 0, "registry %s: unsupported authentication scheme \"%s\"", c->ref->registry,
				     berr_q(ch[0].scheme)));
	}
	rootfs_auth_challenges_free(ch, n);
	return r;
}

/* The common failure statuses of a GET, as an error. */
static int status_error(struct reg_client *c, const char *what, const struct resp *r, struct berr **err)
{
	cleanup_free char *txt = registry_error_text(r->body, r->len);

	if (r->status == 404)
		return fail_as(c, ROOTFS_PULL_FAIL_NOT_FOUND,
			       berr_set(err, 0, "registry %s: %s: not found%s", c->ref->registry, what, txt));
	if (r->status == 401 || r->status == 403) {
		if (c->have_cred)
			return fail_as(c, ROOTFS_PULL_FAIL_AUTH,
				       berr_set(err, 0, "registry %s: %s: authentication failed (HTTP %ld) for user \"%s\" (credentials from %s)%s",
						c->ref->registry, what, r->status, berr_q(c->cred.username),
						c->cred_source, txt));
		return fail_as(c, ROOTFS_PULL_FAIL_AUTH,
			       berr_set(err, 0, "registry %s: %s: access denied (HTTP %ld)%s", c->ref->registry, what,
					r->status, txt));
	}
	return fail_as(c, transient_status(r->status) ? ROOTFS_PULL_FAIL_UNREACHABLE : ROOTFS_PULL_FAIL_OTHER,
		       berr_set(err, 0, "registry %s: %s: HTTP %ld%s", c->ref->registry, what, r->status, txt));
}

int reg_get_manifest(struct reg_client *c, const char *reference, size_t max, char **body,
		     size_t *len, char **media_type, struct berr **err)
{
	cleanup_free char *path = xasprintf("/v2/%s/manifests/%s", c->ref->repository, reference);
	cleanup_free char *what = xasprintf("manifest %s:%s", c->ref->repository, reference);
	struct resp r = { 0 };
	int ret;

	if (strchr(reference, ':'))   /* a digest */
		what[strlen("manifest ") + strlen(c->ref->repository)] = '@';
	ret = do_get(c, path, ACCEPT_MANIFESTS, max, &r, err);
	if (ret == 0 && r.status != 200)
		ret = status_error(c, what, &r, err);
	if (ret == 0) {
		const char *ct = r.ctype ? r.ctype : "";

		*media_type = xstrndup(ct, strcspn(ct, "; \t"));
		*body = steal_pointer(&r.body);
		*len = r.len;
		if (*body == NULL)
			*body = xstrdup("");
	}
	resp_free(&r);
	return ret;
}

int reg_get_blob_mem(struct reg_client *c, const struct rootfs_digest *d, int64_t size, size_t max,
		     char **body, size_t *len, struct berr **err)
{
	char buf[ROOTFS_DIGEST_STR];
	cleanup_free char *path = xasprintf("/v2/%s/blobs/%s", c->ref->repository, rootfs_digest_str(d, buf));
	cleanup_free char *what = xasprintf("blob %s", buf);
	struct rootfs_digest got;
	struct resp r = { 0 };
	int ret;

	if (size > (int64_t)max)
		return fail_as(c, ROOTFS_PULL_FAIL_OTHER,
			       berr_set(err, 0, "%s: %lld bytes, more than the %zu allowed", what, (long long)size, max));
	ret = do_get(c, path, NULL, max, &r, err);
	if (ret == 0 && r.status != 200)
		ret = status_error(c, what, &r, err);
	if (ret == 0) {
		char a[ROOTFS_DIGEST_STR];

		rootfs_sha256_buf(r.body ? r.body : "", r.len, &got);
		if (size >= 0 && (int64_t)r.len != size)
			ret = fail_as(c, ROOTFS_PULL_FAIL_VERIFY,
				      berr_set(err, 0, "%s: the registry sent %zu bytes, the descriptor says %lld", what,
					       r.len, (long long)size));
		else if (!rootfs_digest_eq(&got, d))
			ret = fail_as(c, ROOTFS_PULL_FAIL_VERIFY,
				      berr_set(err, 0, "%s: content has digest %s: refused", what, rootfs_digest_str(&got, a)));
	}
	if (ret == 0) {
		*body = r.body ? steal_pointer(&r.body) : xstrdup("");
		*len = r.len;
	}
	resp_free(&r);
	return ret;
}

/* ---------------------------------------------------------------- blobs */

enum xstate { X_PENDING, X_ACTIVE, X_DONE };

struct fetch;

struct xfer {
	struct fetch *f;
	struct reg_blob_job *job;
	struct reg_client *c;
	enum xstate state;
	CURL *h;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	struct resp r;               /* headers; body only for error statuses */
	int fd;                      /* <hex>.part, flock()ed */
	struct rootfs_sha256 *hash;
	uint64_t have;               /* bytes in the file (hashed) */
	uint64_t start;              /* offset asked for in this attempt */
	bool checked;                /* status looked at for this attempt */
	unsigned attempts;
	bool auth_retried, waiting_reported;
	double retry_at, last_event;
	uint64_t attempt_bytes;
	struct berr *fail;           /* set by the write callback */
	enum rootfs_pull_failure fail_kind;
	char part[ROOTFS_SHA256_HEX + 8], done_name[ROOTFS_SHA256_HEX + 8];
};

struct fetch {
	struct reg_client *c;
	int dirfd;
	int blobs_fd;                /* the store's blobs/sha256, -1: none */
	size_t n_layers;
};

static void emit(struct fetch *f, const struct xfer *x, enum rootfs_pull_phase ph, uint64_t done)
{
	struct rootfs_pull_event ev = {
		.phase = ph, .layer = x->job->layer, .n_layers = f->n_layers, .blob = &x->job->digest,
		.done = done, .total = (uint64_t)x->job->size,
	};

	if (f->c->o->progress)
		f->c->o->progress(&ev, f->c->o->progress_data);
}

static void xfer_close(struct xfer *x)
{
	if (x->fd >= 0)
		close(x->fd);   /* also drops the flock */
	x->fd = -1;
	rootfs_sha256_free(x->hash);
	x->hash = NULL;
}

static size_t on_blob_data(char *buf, size_t size, size_t nmemb, void *data)
{
	struct xfer *x = data;
	size_t n = size * nmemb;
	char a[ROOTFS_DIGEST_STR];
	int r;

	if (!x->checked) {
		x->checked = true;
		if (x->r.status == 200 && x->start > 0) {
			/* the server ignored the Range: start over (at offset 0:
			 * the fd's position is still at the old end) */
			if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
				berr_set(&x->fail, errno, "truncate incoming blob %s", x->part);
				x->fail_kind = ROOTFS_PULL_FAIL_OTHER;
				return 0;
			}
			rootfs_sha256_reset(x->hash);
			x->have = 0;
			x->start = 0;
			x->job->resumed = false;
		} else if (x->r.status == 206) {
			unsigned long long a0 = 0;

			if (x->r.crange == NULL || sscanf(x->r.crange, "bytes %llu-", &a0) != 1 || a0 != x->start) {
				berr_set(&x->fail, 0, "blob %s: the registry answered a range from %llu with \"%s\"",
					 rootfs_digest_str(&x->job->digest, a), (unsigned long long)x->start,
					 berr_q(x->r.crange ? x->r.crange : ""));
				x->fail_kind = ROOTFS_PULL_FAIL_OTHER;
				return 0;
			}
		}
	}
	if (x->r.status != 200 && x->r.status != 206) {
		/* an error document: keep a little of it for the message */
		if (x->r.len + n <= ERRBODY_MAX) {
			x->r.body = xrealloc(x->r.body, x->r.len + n + 1);
			memcpy(x->r.body + x->r.len, buf, n);
			x->r.len += n;
			x->r.body[x->r.len] = '\0';
		}
		return n;
	}
	if (x->have + n > (uint64_t)x->job->size) {
		berr_set(&x->fail, 0, "blob %s: the registry sent more than the descriptor's %lld bytes: refused",
			 rootfs_digest_str(&x->job->digest, a), (long long)x->job->size);
		x->fail_kind = ROOTFS_PULL_FAIL_VERIFY;
		return 0;
	}
	r = fs_write_all(x->fd, buf, n);
	if (r < 0) {
		berr_set(&x->fail, -r, "write incoming blob %s", x->part);
		x->fail_kind = ROOTFS_PULL_FAIL_OTHER;
		return 0;
	}
	rootfs_sha256_update(x->hash, buf, n);
	x->have += n;
	x->attempt_bytes += n;
	x->job->downloaded += n;
	/* --limit-rate: curl's own limit does not hold on loopback; sleep off
	 * what is ahead of the schedule (all transfers together) */
	if (x->c->o->max_recv_speed > 0) {
		struct reg_client *c = x->c;
		double ahead;

		if (c->rate_bytes == 0)
			c->rate_t0 = now_s();
		c->rate_bytes += n;
		ahead = (double)c->rate_bytes / (double)c->o->max_recv_speed - (now_s() - c->rate_t0);
		if (ahead > 0)
			sleep_s(ahead > 1 ? 1 : ahead);
	}
	/* one curl_multi_perform may run a whole transfer: report from here too */
	if (now_s() - x->last_event >= 0.1) {
		x->last_event = now_s();
		emit(x->f, x, ROOTFS_PULL_PHASE_DOWNLOAD, x->have);
	}
	return n;
}

static size_t on_blob_header(char *buf, size_t size, size_t nmemb, void *data)
{
	struct xfer *x = data;

	parse_header(&x->r, buf, size * nmemb);
	return size * nmemb;
}

/* The whole blob is in the file: verify and publish as <hex>.done. */
static int xfer_finish(struct fetch *f, struct xfer *x, struct berr **err)
{
	struct rootfs_digest got;
	char a[ROOTFS_DIGEST_STR], b[ROOTFS_DIGEST_STR];

	rootfs_sha256_final(x->hash, &got);
	if (!rootfs_digest_eq(&got, &x->job->digest)) {
		unlinkat(f->dirfd, x->part, 0);
		xfer_close(x);
		return fail_as(f->c, ROOTFS_PULL_FAIL_VERIFY,
			       berr_set(err, 0, "blob %s: content has digest %s: refused and deleted",
					rootfs_digest_str(&x->job->digest, a), rootfs_digest_str(&got, b)));
	}
	if (fsync(x->fd) < 0 || fchmod(x->fd, 0444) < 0 ||
	    renameat(f->dirfd, x->part, f->dirfd, x->done_name) < 0) {
		int e = errno;

		xfer_close(x);
		return fail_as(f->c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, e, "keep downloaded blob %s", x->part));
	}
	xfer_close(x);
	x->state = X_DONE;
	x->job->done = true;
	emit(f, x, ROOTFS_PULL_PHASE_DOWNLOADED, (uint64_t)x->job->size);
	return 0;
}

/* Another pull has the blob: as <hex>.done, or moved into the store already
 * (it finished while we waited for its .part file). */
static bool xfer_elsewhere(struct fetch *f, struct xfer *x)
{
	if (faccessat(f->dirfd, x->done_name, F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
	    (f->blobs_fd < 0 || faccessat(f->blobs_fd, x->job->digest.hex, F_OK, AT_SYMLINK_NOFOLLOW) != 0))
		return false;
	x->state = X_DONE;
	x->job->done = true;
	x->job->elsewhere = true;
	emit(f, x, ROOTFS_PULL_PHASE_DOWNLOADED, (uint64_t)x->job->size);
	return true;
}

/* Take the .part file (or find the blob done); 1 when someone else holds it. */
static int xfer_claim(struct fetch *f, struct xfer *x, struct berr **err)
{
	struct stat st, st2;

	if (xfer_elsewhere(f, x))
		return 0;
	x->fd = openat(f->dirfd, x->part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (x->fd < 0)
		return fail_as(f->c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, errno, "open incoming blob %s", x->part));
	if (flock(x->fd, LOCK_EX | LOCK_NB) < 0) {
		close(x->fd);
		x->fd = -1;
		if (errno != EWOULDBLOCK)
			return fail_as(f->c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, errno, "lock incoming blob %s", x->part));
		return 1;
	}
	/* the holder before us may have finished (renamed it, or even moved it
	 * into the store) in between */
	if (faccessat(f->dirfd, x->done_name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
	    (f->blobs_fd >= 0 && faccessat(f->blobs_fd, x->job->digest.hex, F_OK, AT_SYMLINK_NOFOLLOW) == 0) ||
	    fstat(x->fd, &st) < 0 || fstatat(f->dirfd, x->part, &st2, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_ino != st2.st_ino) {
		if (fstatat(f->dirfd, x->part, &st2, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == st2.st_ino &&
		    st.st_size == 0)
			unlinkat(f->dirfd, x->part, 0);
		xfer_close(x);
		return xfer_claim(f, x, err);
	}
	x->hash = rootfs_sha256_new();
	x->have = 0;
	if (st.st_size > x->job->size) {
		if (ftruncate(x->fd, 0) < 0)
			return fail_as(f->c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, errno, "truncate %s", x->part));
	} else if (st.st_size > 0) {
		/* a previous pull's bytes: hash them, continue after them */
		char buf[1 << 16];
		ssize_t n;

		while ((n = read(x->fd, buf, sizeof(buf))) > 0) {
			rootfs_sha256_update(x->hash, buf, (size_t)n);
			x->have += (uint64_t)n;
		}
		if (n < 0)
			return fail_as(f->c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, errno, "read %s", x->part));
		log_debug("blob %s: resuming at %llu of %lld bytes", x->part, (unsigned long long)x->have,
			  (long long)x->job->size);
	}
	if (lseek(x->fd, (off_t)x->have, SEEK_SET) < 0)
		return fail_as(f->c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, errno, "seek %s", x->part));
	return 0;
}

static void xfer_start(struct fetch *f, struct xfer *x, CURLM *m)
{
	char buf[ROOTFS_DIGEST_STR];
	cleanup_free char *url = xasprintf("%s/v2/%s/blobs/%s", f->c->base, f->c->ref->repository,
					    rootfs_digest_str(&x->job->digest, buf));

	resp_free(&x->r);
	x->checked = false;
	x->start = x->have;
	x->attempt_bytes = 0;
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (f->c->authz)
		x->hdrs = curl_slist_append(x->hdrs, f->c->authz);
	if (x->have > 0) {
		char range[64];

		snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long)x->have);
		x->hdrs = curl_slist_append(x->hdrs, range);
		x->job->resumed = true;
	}
	x->h = easy_new(f->c, url, x->hdrs, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_blob_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_blob_data);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	curl_multi_add_handle(m, x->h);
	x->state = X_ACTIVE;
}

static void schedule_retry(struct fetch *f, struct xfer *x)
{
	if (x->attempt_bytes > 0)
		x->attempts = 0;   /* progress was made: a fresh budget */
	x->attempts++;
	x->retry_at = now_s() + backoff_s(x->attempts);
	x->state = X_PENDING;
	emit(f, x, ROOTFS_PULL_PHASE_RETRY, x->have);
}

/* A transfer ended; 0 (done, or scheduled again) or an error. */
static int xfer_ended(struct fetch *f, struct xfer *x, CURLcode rc, struct berr **err)
{
	char a[ROOTFS_DIGEST_STR];
	const char *d = rootfs_digest_str(&x->job->digest, a);
	long st = x->r.status;

	if (x->fail) {
		if (x->fail_kind == ROOTFS_PULL_FAIL_VERIFY)
			unlinkat(f->dirfd, x->part, 0);
		*err = x->fail;
		x->fail = NULL;
		xfer_close(x);
		return fail_as(f->c, x->fail_kind, -1);
	}
	if (rc != CURLE_OK) {
		if (transient_curl(rc) && (x->attempt_bytes > 0 || x->attempts < f->c->retries)) {
			log_debug("blob %s: %s after %llu bytes; retrying", d, curl_why(rc, x->errbuf),
				  (unsigned long long)x->have);
			schedule_retry(f, x);
			return 0;
		}
		xfer_close(x);
		return fail_as(f->c, ROOTFS_PULL_FAIL_UNREACHABLE,
			       berr_set(err, 0, "registry %s: blob %s: %s (after %u retries; %llu of %lld bytes kept for a resume)",
					f->c->ref->registry, d, curl_why(rc, x->errbuf), x->attempts,
					(unsigned long long)x->have, (long long)x->job->size));
	}
	if (st == 200 || st == 206) {
		if (x->have == (uint64_t)x->job->size)
			return xfer_finish(f, x, err);
		schedule_retry(f, x);   /* cut short */
		return 0;
	}
	if (st == 416) {
		if (x->have == (uint64_t)x->job->size)
			return xfer_finish(f, x, err);
		if (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0) {
			xfer_close(x);
			return fail_as(f->c, ROOTFS_PULL_FAIL_OTHER, berr_set(err, errno, "truncate %s", x->part));
		}
		rootfs_sha256_reset(x->hash);
		x->have = 0;
		schedule_retry(f, x);
		return 0;
	}
	if (st == 401 && !x->auth_retried) {
		int r;

		x->auth_retried = true;
		r = authenticate(f->c, x->r.www, st, err);
		if (r < 0) {
			xfer_close(x);
			return r;
		}
		x->state = X_PENDING;
		x->retry_at = 0;
		return 0;
	}
	if (transient_status(st) && x->attempts < f->c->retries) {
		schedule_retry(f, x);
		return 0;
	}
	xfer_close(x);
	{
		cleanup_free char *what = xasprintf("blob %s", d);

		return status_error(f->c, what, &x->r, err);
	}
}

int reg_fetch_blobs(struct reg_client *c, int incoming_fd, int blobs_fd, struct reg_blob_job *jobs,
		    size_t n, size_t n_layers, struct berr **err)
{
	struct fetch f = { .c = c, .dirfd = incoming_fd, .blobs_fd = blobs_fd, .n_layers = n_layers };
	struct xfer *xs = xcalloc(n ? n : 1, sizeof(*xs));
	size_t parallel = c->o->parallel ? c->o->parallel : 4, remaining = n;
	CURLM *m = curl_multi_init();
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		xs[i].f = &f;
		xs[i].job = &jobs[i];
		xs[i].c = c;
		xs[i].fd = -1;
		snprintf(xs[i].part, sizeof(xs[i].part), "%s.part", jobs[i].digest.hex);
		snprintf(xs[i].done_name, sizeof(xs[i].done_name), "%s.done", jobs[i].digest.hex);
	}
	while (remaining > 0 && r == 0) {
		size_t active = 0;
		double t = now_s();
		CURLMsg *msg;
		int running, left;

		for (size_t i = 0; i < n; i++)
			active += xs[i].state == X_ACTIVE;
		for (size_t i = 0; i < n && active < parallel && r == 0; i++) {
			struct xfer *x = &xs[i];

			if (x->state != X_PENDING || x->retry_at > t)
				continue;
			if (x->fd < 0) {
				r = xfer_claim(&f, x, err);
				if (r == 1) {   /* another pull has it: look again soon */
					if (!x->waiting_reported)
						emit(&f, x, ROOTFS_PULL_PHASE_WAIT, 0);
					x->waiting_reported = true;
					x->retry_at = t + 0.2;
					r = 0;
					continue;
				}
				if (r < 0)
					break;
				if (x->state == X_DONE) {
					remaining--;
					continue;
				}
				if (x->have == (uint64_t)x->job->size) {
					r = xfer_finish(&f, x, err);
					remaining--;
					continue;
				}
			}
			xfer_start(&f, x, m);
			emit(&f, x, ROOTFS_PULL_PHASE_DOWNLOAD, x->have);
			active++;
		}
		if (r < 0 || remaining == 0)
			break;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct xfer *x = NULL;
			CURLcode rc;

			if (msg->msg != CURLMSG_DONE)
				continue;
			/* msg lives in the easy handle: read it before the cleanup */
			rc = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(m, x->h);
			curl_easy_cleanup(x->h);
			x->h = NULL;
			x->state = X_PENDING;
			r = xfer_ended(&f, x, rc, err);
			if (r < 0)
				break;
			if (x->state == X_DONE)
				remaining--;
		}
		if (r < 0)
			break;
		t = now_s();
		for (size_t i = 0; i < n; i++)
			if (xs[i].state == X_ACTIVE && t - xs[i].last_event >= 0.1) {
				xs[i].last_event = t;
				emit(&f, &xs[i], ROOTFS_PULL_PHASE_DOWNLOAD, xs[i].have);
			}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (size_t i = 0; i < n; i++) {
		if (xs[i].h) {
			curl_multi_remove_handle(m, xs[i].h);
			curl_easy_cleanup(xs[i].h);
		}
		curl_slist_free_all(xs[i].hdrs);
		resp_free(&xs[i].r);
		berr_free(xs[i].fail);
		xfer_close(&xs[i]);
	}
	curl_multi_cleanup(m);
	free(xs);
	return r < 0 ? r : 0;
}
