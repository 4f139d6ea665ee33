/* scheduler/etcd.c - etcd v3 client over the gRPC JSON gateway (etcd.h).
 *
 * Unary calls: one curl easy handle per client, blocking but bounded by the
 * timeouts. Watch: a curl multi handle driven through an epoll fd of its
 * own (curl's sockets and two timerfds: curl's timer and the reconnect
 * backoff), so the caller's loop sees one fd. Parsing is apart from I/O
 * (etcd_parse_*, etcd_watch_stream_*) for the fuzz harness. */
#include "scheduler/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/curlload.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"

#define ETCD_TIMEOUT_MS 5000
#define ETCD_CONNECT_TIMEOUT_MS 1000
#define ETCD_MAX_RESPONSE (64u << 20)
#define ETCD_BACKOFF_MIN_MS 100
#define ETCD_BACKOFF_MAX_MS 2000

/* ---- base64 (standard alphabet, padded) ---- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1);
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode s (padding optional); *out xmalloc'd and NUL-terminated. -1 when
 * s is not base64. */
static int b64_decode(const char *s, size_t slen, char **out, size_t *outlen)
{
	while (slen > 0 && s[slen - 1] == '=')
		slen--;
	if (slen % 4 == 1)
		return -1;
	char *buf = xmalloc(slen / 4 * 3 + 3);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < slen; i++) {
		int v = b64_value(s[i]);

		if (v < 0) {
			free(buf);
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
}

/* The end of the range of keys that start with prefix ("" -> "\0": every
 * key), base64. */
static char *prefix_end_b64(const char *prefix)
{
	size_t n = strlen(prefix);
	cleanup_free unsigned char *end = xmemdup(prefix, n + 1);

	while (n > 0 && end[n - 1] == 0xff)
		n--;
	if (n == 0)
		return b64_encode("", 1);
	end[n - 1]++;
	return b64_encode(end, n);
}

/* ---- JSON readers for the gateway's encoding ---- */

/* An int64 field: a JSON string of digits (or a plain integer); missing or
 * null is 0, as the gateway leaves out zero values. */
static int get_i64(const json_t *obj, const char *path, const char *key, int64_t *out,
		   struct berr **err)
{
	const json_t *v = json_object_get(obj, key);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		errno = 0;
		long long n = strtoll(s, &end, 10);

		if (*s && !*end && errno == 0 && (n >= 0 || s[0] == '-')) {
			*out = n;
			return 0;
		}
		return berr_set(err, EPROTO, "%s%s%s: \"%s\" is not an int64", path, *path ? "." : "", key,
				berr_q(s));
	}
	return berr_set(err, EPROTO, "%s%s%s: expected int64 string, got %s", path, *path ? "." : "", key,
			bjson_type_name(v));
}

static int get_bool(const json_t *obj, const char *path, const char *key, bool *out, struct berr **err)
{
	const json_t *v = json_object_get(obj, key);

	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return berr_set(err, EPROTO, "%s%s%s: expected boolean, got %s", path, *path ? "." : "", key,
				bjson_type_name(v));
	*out = json_is_true(v);
	return 0;
}

/* A bytes field: base64 in a string; missing is empty. */
static int get_bytes(const json_t *obj, const char *path, const char *key, char **out, size_t *len,
		     struct berr **err)
{
	const json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		*out = xstrdup("");
		*len = 0;
		return 0;
	}
	if (!json_is_string(v))
		return berr_set(err, EPROTO, "%s%s%s: expected base64 string, got %s", path, *path ? "." : "",
				key, bjson_type_name(v));
	if (b64_decode(json_string_value(v), json_string_length(v), out, len) < 0)
		return berr_set(err, EPROTO, "%s%s%s: not base64", path, *path ? "." : "", key);
	return 0;
}

/* An optional object member; missing or null gives NULL. */
static int get_obj(const json_t *obj, const char *path, const char *key, json_t **out, struct berr **err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return berr_set(err, EPROTO, "%s%s%s: expected object, got %s", path, *path ? "." : "", key,
				bjson_type_name(v));
	*out = v;
	return 0;
}

static int get_arr(const json_t *obj, const char *path, const char *key, json_t **out, struct berr **err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return berr_set(err, EPROTO, "%s%s%s: expected array, got %s", path, *path ? "." : "", key,
				bjson_type_name(v));
	*out = v;
	return 0;
}

static int header_revision(const json_t *obj, const char *path, int64_t *rev, struct berr **err)
{
	json_t *h;
	int r = get_obj(obj, path, "header", &h, err);

	*rev = 0;
	if (r < 0 || !h)
		return r;
	cleanup_free char *hp = bjson_path_key(path, "header");
	return get_i64(h, hp, "revision", rev, err);
}

void etcd_kv_clear(struct etcd_kv *kv)
{
	if (!kv)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void etcd_kvs_free(struct etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs && i < n; i++)
		etcd_kv_clear(&kvs[i]);
	free(kvs);
}

static int parse_kv(const json_t *o, const char *path, struct etcd_kv *kv, struct berr **err)
{
	size_t klen;
	int r;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(o))
		return berr_set(err, EPROTO, "%s: expected object, got %s", path, bjson_type_name(o));
	if ((r = get_bytes(o, path, "key", &kv->key, &klen, err)) < 0)
		return r;
	if ((r = get_bytes(o, path, "value", &kv->value, &kv->value_len, err)) < 0 ||
	    (r = get_i64(o, path, "create_revision", &kv->create_revision, err)) < 0 ||
	    (r = get_i64(o, path, "mod_revision", &kv->mod_revision, err)) < 0 ||
	    (r = get_i64(o, path, "version", &kv->version, err)) < 0 ||
	    (r = get_i64(o, path, "lease", &kv->lease, err)) < 0) {
		etcd_kv_clear(kv);
		return r;
	}
	return 0;
}

static int parse_kvs(const json_t *obj, const char *path, struct etcd_kv **kvs, size_t *n,
		     struct berr **err)
{
	json_t *arr;
	int r = get_arr(obj, path, "kvs", &arr, err);

	*kvs = NULL;
	*n = 0;
	if (r < 0 || !arr || json_array_size(arr) == 0)
		return r;
	struct etcd_kv *v = xcalloc(json_array_size(arr), sizeof(*v));
	cleanup_free char *kp = *path ? bjson_path_key(path, "kvs") : xstrdup("kvs");
	for (size_t i = 0; i < json_array_size(arr); i++) {
		cleanup_free char *ip = bjson_path_index(kp, i);

		if ((r = parse_kv(json_array_get(arr, i), ip, &v[i], err)) < 0) {
			etcd_kvs_free(v, i);
			return r;
		}
	}
	*kvs = v;
	*n = json_array_size(arr);
	return 0;
}

static int load_object(const char *what, const char *buf, size_t len, json_t **out, struct berr **err)
{
	json_error_t jerr;
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!v)
		return berr_set(err, EPROTO, "%s: not JSON: line %d, column %d: %s", what, jerr.line,
				jerr.column, jerr.text);
	if (!json_is_object(v)) {
		int r = berr_set(err, EPROTO, "%s: expected object, got %s", what, bjson_type_name(v));
		json_decref(v);
		return r;
	}
	*out = v;
	return 0;
}

void etcd_range_result_clear(struct etcd_range_result *r)
{
	if (!r)
		return;
	etcd_kvs_free(r->kvs, r->n);
	free(r->cont);
	memset(r, 0, sizeof(*r));
}

static int range_from_json(const json_t *o, const char *path, struct etcd_range_result *out,
			   struct berr **err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = header_revision(o, path, &out->revision, err)) < 0 ||
	    (r = get_i64(o, path, "count", &out->count, err)) < 0 ||
	    (r = get_bool(o, path, "more", &out->more, err)) < 0 ||
	    (r = parse_kvs(o, path, &out->kvs, &out->n, err)) < 0)
		return r;
	if (out->count < 0 || (uint64_t)out->count < out->n) {
		r = berr_set(err, EPROTO, "%s%scount %" PRId64 " is less than the %zu kvs returned", path,
			     *path ? "." : "", out->count, out->n);
		etcd_range_result_clear(out);
		return r;
	}
	return 0;
}

int etcd_parse_range_response(const char *buf, size_t len, struct etcd_range_result *out,
			      struct berr **err)
{
	cleanup_json json_t *o = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = load_object("range response", buf, len, &o, err)) < 0)
		return r;
	return range_from_json(o, "", out, err);
}

void etcd_txn_result_clear(struct etcd_txn_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->results && i < r->n; i++)
		etcd_kvs_free(r->results[i].kvs, r->results[i].n);
	free(r->results);
	memset(r, 0, sizeof(*r));
}

static int txn_from_json(const json_t *o, struct etcd_txn_result *out, struct berr **err)
{
	json_t *arr;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = header_revision(o, "", &out->revision, err)) < 0 ||
	    (r = get_bool(o, "", "succeeded", &out->succeeded, err)) < 0 ||
	    (r = get_arr(o, "", "responses", &arr, err)) < 0)
		return r;
	if (!arr || json_array_size(arr) == 0)
		return 0;
	out->results = xcalloc(json_array_size(arr), sizeof(*out->results));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *item = json_array_get(arr, i);
		cleanup_free char *ip = bjson_path_index("responses", i);
		struct etcd_op_result *res = &out->results[i];
		json_t *sub;

		out->n = i + 1;
		if (!json_is_object(item) || json_object_size(item) != 1) {
			r = berr_set(err, EPROTO, "%s: expected an object with one response", ip);
			goto fail;
		}
		if ((r = get_obj(item, ip, "response_range", &sub, err)) < 0)
			goto fail;
		if (sub) {
			struct etcd_range_result rr;
			cleanup_free char *sp = bjson_path_key(ip, "response_range");

			res->type = ETCD_OP_RANGE;
			if ((r = range_from_json(sub, sp, &rr, err)) < 0)
				goto fail;
			res->kvs = rr.kvs;
			res->n = rr.n;
			res->count = rr.count;
			continue;
		}
		if ((r = get_obj(item, ip, "response_put", &sub, err)) < 0)
			goto fail;
		if (sub) {
			res->type = ETCD_OP_PUT;
			continue;
		}
		if ((r = get_obj(item, ip, "response_delete_range", &sub, err)) < 0)
			goto fail;
		if (sub) {
			cleanup_free char *sp = bjson_path_key(ip, "response_delete_range");

			res->type = ETCD_OP_DELETE;
			if ((r = get_i64(sub, sp, "deleted", &res->deleted, err)) < 0)
				goto fail;
			continue;
		}
		r = berr_set(err, EPROTO, "%s: unknown response \"%s\"", ip,
			     berr_q(json_object_iter_key(json_object_iter((json_t *)item))));
		goto fail;
	}
	return 0;
fail:
	etcd_txn_result_clear(out);
	return r;
}

int etcd_parse_txn_response(const char *buf, size_t len, struct etcd_txn_result *out,
			    struct berr **err)
{
	cleanup_json json_t *o = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = load_object("txn response", buf, len, &o, err)) < 0)
		return r;
	return txn_from_json(o, out, err);
}

/* ---- errors ---- */

static int errno_of_grpc(int64_t code)
{
	switch (code) {
	case 1: return ECANCELED;   /* Canceled */
	case 3: return EINVAL;      /* InvalidArgument */
	case 4: return ETIMEDOUT;   /* DeadlineExceeded */
	case 5: return ENOENT;      /* NotFound */
	case 6: return EEXIST;      /* AlreadyExists */
	case 7: return EACCES;      /* PermissionDenied */
	case 8: return ENOSPC;      /* ResourceExhausted */
	case 9: return EINVAL;      /* FailedPrecondition */
	case 11: return ERANGE;     /* OutOfRange: compacted / future revision */
	case 14: return EAGAIN;     /* Unavailable */
	case 16: return EACCES;     /* Unauthenticated */
	default: return EIO;
	}
}

/* etcd's error in a body: {"error": "...", "message": "...", "code": N}
 * (unary) or {"error": {"grpc_code": N, "message": "...", ...}} (streams).
 * Returns true when found. */
static bool error_of(const json_t *o, const char **msg, int64_t *code)
{
	const json_t *e = json_object_get(o, "error");

	*msg = NULL;
	*code = 2;
	if (!e)
		return false;
	if (json_is_object(e)) {
		const json_t *m = json_object_get(e, "message");
		const json_t *c = json_object_get(e, "grpc_code");

		if (!c)
			c = json_object_get(e, "code");
		*msg = json_is_string(m) ? json_string_value(m) : "unknown error";
		if (json_is_integer(c))
			*code = json_integer_value(c);
		return true;
	}
	const json_t *m = json_object_get(o, "message");
	const json_t *c = json_object_get(o, "code");

	*msg = json_is_string(m) ? json_string_value(m) : json_is_string(e) ? json_string_value(e)
									    : "unknown error";
	if (json_is_integer(c))
		*code = json_integer_value(c);
	return true;
}

/* ---- the client ---- */

struct etcd {
	char **endpoints;
	size_t n;
	size_t cur;
	struct etcd_opts opts; /* strings owned */
	CURL *h;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
};

struct rbuf {
	char *data;
	size_t len, cap, max;
	bool overflow;
};

static size_t rbuf_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct rbuf *b = ud;
	size_t n = size * nmemb;

	if (n > b->max - b->len) {
		b->overflow = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static char *normalize_endpoint(const char *ep)
{
	size_t n = strlen(ep);

	while (n > 0 && ep[n - 1] == '/')
		n--;
	if (strstr(ep, "://"))
		return xstrndup(ep, n);
	cleanup_free char *e = xstrndup(ep, n);
	return xasprintf("http://%s", e);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void copy_opts(struct etcd_opts *dst, const struct etcd_opts *src)
{
	static const struct etcd_opts none;

	if (!src)
		src = &none;
	*dst = *src;
	if (dst->timeout_ms <= 0)
		dst->timeout_ms = ETCD_TIMEOUT_MS;
	if (dst->connect_timeout_ms <= 0)
		dst->connect_timeout_ms = ETCD_CONNECT_TIMEOUT_MS;
	if (dst->max_response == 0)
		dst->max_response = ETCD_MAX_RESPONSE;
	dst->ca_file = dup_or_null(src->ca_file);
	dst->cert_file = dup_or_null(src->cert_file);
	dst->key_file = dup_or_null(src->key_file);
}

static void free_opts(struct etcd_opts *o)
{
	free((char *)o->ca_file);
	free((char *)o->cert_file);
	free((char *)o->key_file);
}

/* Options shared by the unary handle and the watch handles. */
static void setup_handle(CURL *h, const struct etcd_opts *o, struct curl_slist *hdrs, char *errbuf)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 10L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	if (o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file)
		curl_easy_setopt(h, CURLOPT_SSLCERT, o->cert_file);
	if (o->key_file)
		curl_easy_setopt(h, CURLOPT_SSLKEY, o->key_file);
}

static struct curl_slist *json_headers(void)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");

	/* no "Expect: 100-continue" round trip for large bodies */
	return curl_slist_append(h, "Expect:");
}

int etcd_open(const char *const *endpoints, const struct etcd_opts *opts, struct etcd **out,
	      struct berr **err)
{
	size_t n = 0;

	while (endpoints && endpoints[n])
		n++;
	if (n == 0)
		return berr_set(err, EINVAL, "etcd: no endpoints");
	for (size_t i = 0; i < n; i++)
		if (!*endpoints[i])
			return berr_set(err, EINVAL, "etcd: endpoint %zu is empty", i + 1);
	if (curl_load(err) < 0)
		return berr_wrap(err, "etcd");
	struct etcd *c = xzalloc(sizeof(*c));
	c->endpoints = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		c->endpoints[i] = normalize_endpoint(endpoints[i]);
	c->n = n;
	copy_opts(&c->opts, opts);
	c->h = curl_easy_init();
	if (!c->h) {
		etcd_close(c);
		return berr_set(err, ENOMEM, "etcd: curl_easy_init");
	}
	c->hdrs = json_headers();
	setup_handle(c->h, &c->opts, c->hdrs, c->errbuf);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)c->opts.timeout_ms);
	curl_easy_setopt(c->h, CURLOPT_POST, 1L);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, rbuf_write);
	*out = c;
	return 0;
}

void etcd_close(struct etcd *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	strv_free(c->endpoints);
	free_opts(&c->opts);
	free(c);
}

const char *etcd_endpoint(const struct etcd *c)
{
	return c->endpoints[c->cur];
}

static int errno_of_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT: return ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT: return ETIMEDOUT;
	case CURLE_WRITE_ERROR: return EFBIG;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE: return EPROTO;
	default: return EIO;
	}
}

/* POST req to path on the current endpoint, failing over as etcd.h says.
 * *resp: the parsed 200 answer. */
static int etcd_call(struct etcd *c, const char *path, const json_t *req, bool idempotent,
		     json_t **resp, struct berr **err)
{
	cleanup_free char *body = bjson_dumps(req);
	int last = -EIO;

	for (size_t tries = 0; tries < c->n; tries++) {
		size_t idx = (c->cur + tries) % c->n;
		const char *ep = c->endpoints[idx];
		cleanup_free char *url = xasprintf("%s%s", ep, path);
		struct rbuf b = { .max = c->opts.max_response };
		long status = 0;
		curl_off_t sent = 0;

		c->errbuf[0] = '\0';
		curl_easy_setopt(c->h, CURLOPT_URL, url);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &b);
		CURLcode rc = curl_easy_perform(c->h);
		cleanup_free char *data = b.data;

		if (rc != CURLE_OK) {
			if (b.overflow)
				return berr_set(err, EFBIG, "etcd %s %s: response larger than %zu bytes", ep,
						path, c->opts.max_response);
			curl_easy_getinfo(c->h, CURLINFO_REQUEST_SIZE, &sent);
			last = berr_set(err, errno_of_curl(rc), "etcd %s %s: %s", ep, path,
					c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
			/* a write that may have reached etcd is not sent twice */
			if (sent == 0 || idempotent || rc == CURLE_COULDNT_CONNECT ||
			    rc == CURLE_COULDNT_RESOLVE_HOST)
				continue;
			return last;
		}
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
		cleanup_json json_t *o = NULL;
		cleanup_free char *what = xasprintf("etcd %s %s: HTTP %ld", ep, path, status);
		int r = load_object(what, data ? data : "", b.len, &o, err);
		if (r < 0)
			return r;
		const char *msg;
		int64_t code;
		if (status != 200 || error_of(o, &msg, &code)) {
			if (!error_of(o, &msg, &code))
				return berr_set(err, EPROTO, "%s: no error in the answer", what);
			last = berr_set(err, errno_of_grpc(code), "etcd %s %s: %s (code %" PRId64 ")", ep,
					path, berr_q(msg), code);
			if (code == 14) /* unavailable: this member cannot serve, the next may */
				continue;
			return last;
		}
		c->cur = idx;
		*resp = steal_pointer(&o);
		return 0;
	}
	if (c->n > 1)
		return berr_wrap(err, "etcd: none of %zu endpoints answered, last", c->n);
	return last;
}

static void set_b64(json_t *o, const char *field, const void *data, size_t len)
{
	cleanup_free char *s = b64_encode(data, len);

	json_object_set_new(o, field, json_string(s));
}

static void set_i64(json_t *o, const char *field, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%" PRId64, v);
	json_object_set_new(o, field, json_string(s));
}

/* key, and range_end when prefix */
static void set_key(json_t *o, const char *key, bool prefix)
{
	/* every key: from "\0" (the least key; "" is no key to etcd) */
	if (prefix && !*key)
		set_b64(o, "key", "", 1);
	else
		set_b64(o, "key", key, strlen(key));
	if (prefix) {
		cleanup_free char *end = prefix_end_b64(key);

		json_object_set_new(o, "range_end", json_string(end));
	}
}

/* ---- keys ---- */

int etcd_put(struct etcd *c, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *revision, struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	int64_t rev;
	int r;

	set_key(req, key, false);
	set_b64(req, "value", value, len);
	if (lease)
		set_i64(req, "lease", lease);
	if ((r = etcd_call(c, "/v3/kv/put", req, false, &resp, err)) < 0 ||
	    (r = header_revision(resp, "put response", &rev, err)) < 0)
		return berr_wrap(err, "put \"%s\"", berr_q(key));
	if (revision)
		*revision = rev;
	return 0;
}

/* A range request for key (or every key under it). */
static json_t *range_request(const char *key, bool prefix, int64_t limit, int64_t revision,
			     bool keys_only)
{
	json_t *req = json_object();

	set_key(req, key, prefix);
	if (limit > 0)
		set_i64(req, "limit", limit);
	if (revision > 0)
		set_i64(req, "revision", revision);
	if (keys_only)
		json_object_set_new(req, "keys_only", json_true());
	return req;
}

static int range_call(struct etcd *c, json_t *req, struct etcd_range_result *out, struct berr **err)
{
	cleanup_json json_t *resp = NULL;
	int r;

	if ((r = etcd_call(c, "/v3/kv/range", req, true, &resp, err)) < 0)
		return r;
	return range_from_json(resp, "range response", out, err);
}

int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, int64_t *revision,
	     struct berr **err)
{
	cleanup_json json_t *req = range_request(key, false, 0, 0, false);
	struct etcd_range_result res;
	int r;

	memset(kv, 0, sizeof(*kv));
	if ((r = range_call(c, req, &res, err)) < 0)
		return berr_wrap(err, "get \"%s\"", berr_q(key));
	if (revision)
		*revision = res.revision;
	if (res.n == 0) {
		etcd_range_result_clear(&res);
		return 0;
	}
	*kv = res.kvs[0];
	memset(&res.kvs[0], 0, sizeof(res.kvs[0]));
	etcd_range_result_clear(&res);
	return 1;
}

/* Continuation token: "<revision>:<base64 of the next start key>". */
static int parse_cont(const char *cont, int64_t *rev, char **key_b64, struct berr **err)
{
	char *end;
	char *k;
	size_t klen;

	errno = 0;
	long long v = strtoll(cont, &end, 10);
	if (errno || v <= 0 || *end != ':' || b64_decode(end + 1, strlen(end + 1), &k, &klen) < 0)
		return berr_set(err, EINVAL, "range: continuation \"%s\" is not one this client made",
				berr_q(cont));
	free(k);
	*rev = v;
	*key_b64 = xstrdup(end + 1);
	return 0;
}

int etcd_range(struct etcd *c, const char *prefix, const struct etcd_range_opts *opts,
	       struct etcd_range_result *out, struct berr **err)
{
	static const struct etcd_range_opts none;
	int64_t rev;
	int r;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &none;
	rev = opts->revision;
	cleanup_json json_t *req = range_request(prefix, true, opts->limit, rev, opts->keys_only);
	if (opts->cont) {
		cleanup_free char *start = NULL;

		if ((r = parse_cont(opts->cont, &rev, &start, err)) < 0)
			return r;
		json_object_set_new(req, "key", json_string(start));
		set_i64(req, "revision", rev);
	}
	if ((r = range_call(c, req, out, err)) < 0)
		return berr_wrap(err, "range \"%s\"", berr_q(prefix));
	if (rev > 0)
		out->revision = rev;
	if (out->more && out->n > 0) {
		const char *last = out->kvs[out->n - 1].key;
		size_t n = strlen(last);
		cleanup_free char *next = xmalloc(n + 1);

		memcpy(next, last, n + 1); /* the last key and a NUL: the least key after it */
		cleanup_free char *b = b64_encode(next, n + 1);
		out->cont = xasprintf("%" PRId64 ":%s", out->revision, b);
	}
	return 0;
}

int64_t etcd_delete(struct etcd *c, const char *key, bool prefix, int64_t *revision,
		    struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	int64_t deleted, rev;
	int r;

	set_key(req, key, prefix);
	if ((r = etcd_call(c, "/v3/kv/deleterange", req, false, &resp, err)) < 0 ||
	    (r = header_revision(resp, "delete response", &rev, err)) < 0 ||
	    (r = get_i64(resp, "delete response", "deleted", &deleted, err)) < 0)
		return berr_wrap(err, "delete \"%s\"%s", berr_q(key), prefix ? " (prefix)" : "");
	if (revision)
		*revision = rev;
	return deleted;
}

int etcd_compact(struct etcd *c, int64_t revision, bool physical, struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	int r;

	set_i64(req, "revision", revision);
	if (physical)
		json_object_set_new(req, "physical", json_true());
	if ((r = etcd_call(c, "/v3/kv/compaction", req, false, &resp, err)) < 0)
		return berr_wrap(err, "compact to revision %" PRId64, revision);
	return 0;
}

/* ---- transactions ---- */

static json_t *op_json(const struct etcd_op *op)
{
	json_t *o = json_object();
	json_t *wrap = json_object();

	switch (op->type) {
	case ETCD_OP_PUT:
		set_key(o, op->key, false);
		set_b64(o, "value", op->value ? op->value : "", op->value_len);
		if (op->lease)
			set_i64(o, "lease", op->lease);
		json_object_set_new(wrap, "request_put", o);
		break;
	case ETCD_OP_RANGE:
		set_key(o, op->key, op->prefix);
		if (op->limit > 0)
			set_i64(o, "limit", op->limit);
		json_object_set_new(wrap, "request_range", o);
		break;
	case ETCD_OP_DELETE:
	default:
		set_key(o, op->key, op->prefix);
		json_object_set_new(wrap, "request_delete_range", o);
		break;
	}
	return wrap;
}

static int cmp_json(const struct etcd_cmp *cmp, json_t **out, struct berr **err)
{
	static const char *const targets[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE" };
	static const char *const fields[] = { "version", "create_revision", "mod_revision", "value", "lease" };
	static const char *const ops[] = { "EQUAL", "NOT_EQUAL", "GREATER", "LESS" };

	if ((unsigned)cmp->target > ETCD_CMP_LEASE || (unsigned)cmp->op > ETCD_LESS)
		return berr_set(err, EINVAL, "txn: compare on \"%s\": bad target or operator",
				berr_q(cmp->key));
	json_t *o = json_object();
	set_key(o, cmp->key, cmp->prefix);
	json_object_set_new(o, "target", json_string(targets[cmp->target]));
	json_object_set_new(o, "result", json_string(ops[cmp->op]));
	if (cmp->target == ETCD_CMP_VALUE)
		set_b64(o, "value", cmp->value ? cmp->value : "", cmp->value_len);
	else
		set_i64(o, fields[cmp->target], cmp->number);
	*out = o;
	return 0;
}

int etcd_txn(struct etcd *c, const struct etcd_cmp *cmps, size_t ncmp,
	     const struct etcd_op *success, size_t nsuccess, const struct etcd_op *failure,
	     size_t nfailure, struct etcd_txn_result *out, struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	json_t *carr = json_array(), *sarr = json_array(), *farr = json_array();
	bool reads_only = true;
	int r;

	memset(out, 0, sizeof(*out));
	json_object_set_new(req, "compare", carr);
	json_object_set_new(req, "success", sarr);
	json_object_set_new(req, "failure", farr);
	for (size_t i = 0; i < ncmp; i++) {
		json_t *o = NULL;

		if ((r = cmp_json(&cmps[i], &o, err)) < 0)
			return r;
		json_array_append_new(carr, o);
	}
	for (size_t i = 0; i < nsuccess; i++) {
		json_array_append_new(sarr, op_json(&success[i]));
		reads_only &= success[i].type == ETCD_OP_RANGE;
	}
	for (size_t i = 0; i < nfailure; i++) {
		json_array_append_new(farr, op_json(&failure[i]));
		reads_only &= failure[i].type == ETCD_OP_RANGE;
	}
	if ((r = etcd_call(c, "/v3/kv/txn", req, reads_only, &resp, err)) < 0)
		return berr_wrap(err, "txn");
	if ((r = txn_from_json(resp, out, err)) < 0)
		return berr_wrap(err, "etcd %s /v3/kv/txn", etcd_endpoint(c));
	size_t want = out->succeeded ? nsuccess : nfailure;
	if (out->n != want) {
		etcd_txn_result_clear(out);
		return berr_set(err, EPROTO, "etcd %s /v3/kv/txn: %zu responses for %zu operations",
				etcd_endpoint(c), out->n, want);
	}
	return 0;
}

static int cas_put(struct etcd *c, const struct etcd_cmp *cmp, const char *key, const void *value,
		   size_t len, int64_t lease, int64_t *revision, struct etcd_kv *current,
		   struct berr **err)
{
	struct etcd_op put = { .type = ETCD_OP_PUT, .key = key, .value = value, .value_len = len,
			       .lease = lease };
	struct etcd_op get = { .type = ETCD_OP_RANGE, .key = key };
	struct etcd_txn_result res;
	int r;

	if (current)
		memset(current, 0, sizeof(*current));
	if ((r = etcd_txn(c, cmp, 1, &put, 1, &get, current ? 1 : 0, &res, err)) < 0)
		return r;
	if (res.succeeded) {
		if (revision)
			*revision = res.revision;
		etcd_txn_result_clear(&res);
		return 1;
	}
	if (current && res.n == 1 && res.results[0].n > 0) {
		*current = res.results[0].kvs[0];
		memset(&res.results[0].kvs[0], 0, sizeof(*current));
	}
	etcd_txn_result_clear(&res);
	return 0;
}

int etcd_create(struct etcd *c, const char *key, const void *value, size_t len, int64_t lease,
		int64_t *revision, struct etcd_kv *current, struct berr **err)
{
	struct etcd_cmp cmp = { .key = key, .target = ETCD_CMP_CREATE, .op = ETCD_EQUAL, .number = 0 };
	int r = cas_put(c, &cmp, key, value, len, lease, revision, current, err);

	return r < 0 ? berr_wrap(err, "create \"%s\"", berr_q(key)) : r;
}

int etcd_update(struct etcd *c, const char *key, const void *value, size_t len, int64_t lease,
		int64_t mod_revision, int64_t *revision, struct etcd_kv *current,
		struct berr **err)
{
	struct etcd_cmp cmp = { .key = key, .target = ETCD_CMP_MOD, .op = ETCD_EQUAL,
				.number = mod_revision };
	int r = cas_put(c, &cmp, key, value, len, lease, revision, current, err);

	return r < 0 ? berr_wrap(err, "update \"%s\" at revision %" PRId64, berr_q(key), mod_revision) : r;
}

/* ---- leases ---- */

int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t id, int64_t *id_out,
		     int64_t *granted_ttl, struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	int64_t got_id, ttl;
	int r;

	set_i64(req, "TTL", ttl_s);
	if (id)
		set_i64(req, "ID", id);
	if ((r = etcd_call(c, "/v3/lease/grant", req, false, &resp, err)) < 0 ||
	    (r = get_i64(resp, "lease grant response", "ID", &got_id, err)) < 0 ||
	    (r = get_i64(resp, "lease grant response", "TTL", &ttl, err)) < 0)
		return berr_wrap(err, "grant lease of %" PRId64 " s", ttl_s);
	const json_t *e = json_object_get(resp, "error");
	if (json_is_string(e) && *json_string_value(e))
		return berr_set(err, EIO, "grant lease of %" PRId64 " s: etcd %s: %s", ttl_s,
				etcd_endpoint(c), berr_q(json_string_value(e)));
	if (got_id == 0)
		return berr_set(err, EPROTO, "grant lease of %" PRId64 " s: etcd %s: no lease ID", ttl_s,
				etcd_endpoint(c));
	*id_out = got_id;
	if (granted_ttl)
		*granted_ttl = ttl;
	return 0;
}

int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	json_t *res;
	int64_t t;
	int r;

	set_i64(req, "ID", id);
	/* a stream of one message: the gateway answers {"result": {...}} */
	if ((r = etcd_call(c, "/v3/lease/keepalive", req, true, &resp, err)) < 0 ||
	    (r = get_obj(resp, "keepalive response", "result", &res, err)) < 0)
		return berr_wrap(err, "keep lease %" PRIx64 " alive", (uint64_t)id);
	if (!res)
		return berr_set(err, EPROTO, "keep lease %" PRIx64 " alive: etcd %s: no result",
				(uint64_t)id, etcd_endpoint(c));
	if ((r = get_i64(res, "keepalive response.result", "TTL", &t, err)) < 0)
		return berr_wrap(err, "keep lease %" PRIx64 " alive", (uint64_t)id);
	if (t <= 0)
		return berr_set(err, ENOENT, "keep lease %" PRIx64 " alive: etcd %s: lease expired or revoked",
				(uint64_t)id, etcd_endpoint(c));
	if (ttl)
		*ttl = t;
	return 0;
}

int etcd_lease_revoke(struct etcd *c, int64_t id, struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	int r;

	set_i64(req, "ID", id);
	if ((r = etcd_call(c, "/v3/lease/revoke", req, false, &resp, err)) < 0)
		return berr_wrap(err, "revoke lease %" PRIx64, (uint64_t)id);
	return 0;
}

int etcd_lease_ttl(struct etcd *c, int64_t id, int64_t *ttl, int64_t *granted,
		   struct berr **err)
{
	cleanup_json json_t *req = json_object();
	cleanup_json json_t *resp = NULL;
	int64_t t, g;
	int r;

	set_i64(req, "ID", id);
	if ((r = etcd_call(c, "/v3/lease/timetolive", req, true, &resp, err)) < 0 ||
	    (r = get_i64(resp, "timetolive response", "TTL", &t, err)) < 0 ||
	    (r = get_i64(resp, "timetolive response", "grantedTTL", &g, err)) < 0)
		return berr_wrap(err, "time to live of lease %" PRIx64, (uint64_t)id);
	if (t < 0)
		return berr_set(err, ENOENT, "time to live of lease %" PRIx64 ": etcd %s: lease expired or unknown",
				(uint64_t)id, etcd_endpoint(c));
	*ttl = t;
	if (granted)
		*granted = g;
	return 0;
}

/* ---- election ---- */

static char *candidate_key(const char *prefix, int64_t lease)
{
	return xasprintf("%s/%" PRIx64, prefix, (uint64_t)lease);
}

int etcd_election_leader(struct etcd *c, const char *prefix, struct etcd_kv *leader,
			 struct berr **err)
{
	cleanup_free char *dir = xasprintf("%s/", prefix);
	cleanup_json json_t *req = range_request(dir, true, 1, 0, false);
	struct etcd_range_result res;
	int r;

	memset(leader, 0, sizeof(*leader));
	json_object_set_new(req, "sort_order", json_string("ASCEND"));
	json_object_set_new(req, "sort_target", json_string("CREATE"));
	if ((r = range_call(c, req, &res, err)) < 0)
		return berr_wrap(err, "election \"%s\": leader", berr_q(prefix));
	if (res.n == 0) {
		etcd_range_result_clear(&res);
		return 0;
	}
	*leader = res.kvs[0];
	memset(&res.kvs[0], 0, sizeof(*leader));
	etcd_range_result_clear(&res);
	return 1;
}

int etcd_election_is_leader(struct etcd *c, const char *prefix, int64_t lease,
			    struct berr **err)
{
	cleanup_free char *key = candidate_key(prefix, lease);
	struct etcd_kv leader;
	int r = etcd_election_leader(c, prefix, &leader, err);

	if (r <= 0)
		return r;
	r = strcmp(leader.key, key) == 0 && leader.lease == lease;
	etcd_kv_clear(&leader);
	return r;
}

int etcd_election_campaign(struct etcd *c, const char *prefix, int64_t lease, const void *value,
			   size_t len, struct berr **err)
{
	cleanup_free char *key = candidate_key(prefix, lease);
	struct etcd_kv cur;
	int r;

	if (lease == 0)
		return berr_set(err, EINVAL, "election \"%s\": campaign needs a lease", berr_q(prefix));
	if ((r = etcd_create(c, key, value, len, lease, NULL, &cur, err)) < 0)
		return berr_wrap(err, "election \"%s\": campaign", berr_q(prefix));
	if (r == 0) {
		bool ours = cur.lease == lease;

		etcd_kv_clear(&cur);
		if (!ours)
			return berr_set(err, EEXIST, "election \"%s\": key %s exists with another lease",
					berr_q(prefix), berr_q(key));
	}
	return etcd_election_is_leader(c, prefix, lease, err);
}

int etcd_election_resign(struct etcd *c, const char *prefix, int64_t lease, struct berr **err)
{
	cleanup_free char *key = candidate_key(prefix, lease);
	int64_t r = etcd_delete(c, key, false, NULL, err);

	return r < 0 ? berr_wrap(err, "election \"%s\": resign", berr_q(prefix)) : 0;
}

/* ---- the watch stream parser ---- */

struct etcd_watch_stream {
	char *buf;            /* bytes of an unfinished line */
	size_t len, cap, max;
	struct etcd_event *ev;
	size_t nev, capev;
	int64_t next;         /* next revision expected */
	int64_t compact;
	bool created;
	int failed;           /* negative errno once failed */
};

void etcd_events_free(struct etcd_event *ev, size_t n)
{
	for (size_t i = 0; ev && i < n; i++) {
		etcd_kv_clear(&ev[i].kv);
		etcd_kv_clear(&ev[i].prev_kv);
	}
	free(ev);
}

struct etcd_watch_stream *etcd_watch_stream_new(size_t max_line)
{
	struct etcd_watch_stream *s = xzalloc(sizeof(*s));

	s->max = max_line ? max_line : ETCD_MAX_RESPONSE;
	return s;
}

void etcd_watch_stream_free(struct etcd_watch_stream *s)
{
	if (!s)
		return;
	free(s->buf);
	etcd_events_free(s->ev, s->nev);
	free(s);
}

size_t etcd_watch_stream_take(struct etcd_watch_stream *s, struct etcd_event **events)
{
	size_t n = s->nev;

	*events = n ? s->ev : NULL;
	if (!n)
		free(s->ev);
	s->ev = NULL;
	s->nev = s->capev = 0;
	return n;
}

int64_t etcd_watch_stream_next(const struct etcd_watch_stream *s)
{
	return s->next;
}

void etcd_watch_stream_set_next(struct etcd_watch_stream *s, int64_t rev)
{
	s->next = rev > 0 ? rev : 0;
}

bool etcd_watch_stream_created(const struct etcd_watch_stream *s)
{
	return s->created;
}

int64_t etcd_watch_stream_compact_revision(const struct etcd_watch_stream *s)
{
	return s->compact;
}

void etcd_watch_stream_reset(struct etcd_watch_stream *s)
{
	s->len = 0;
	s->created = false;
}

static int stream_fail(struct etcd_watch_stream *s, int r)
{
	s->failed = r;
	return r;
}

static int parse_event(const json_t *e, const char *path, struct etcd_event *ev, struct berr **err)
{
	const json_t *t = json_object_get(e, "type");
	json_t *kv, *prev;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(e))
		return berr_set(err, EPROTO, "%s: expected object, got %s", path, bjson_type_name(e));
	if (!t || json_is_null(t) || (json_is_string(t) && !strcmp(json_string_value(t), "PUT")) ||
	    (json_is_integer(t) && json_integer_value(t) == 0))
		ev->type = ETCD_EVENT_PUT;
	else if ((json_is_string(t) && !strcmp(json_string_value(t), "DELETE")) ||
		 (json_is_integer(t) && json_integer_value(t) == 1))
		ev->type = ETCD_EVENT_DELETE;
	else
		return berr_set(err, EPROTO, "%s.type: unknown event type", path);
	if ((r = get_obj(e, path, "kv", &kv, err)) < 0 || (r = get_obj(e, path, "prev_kv", &prev, err)) < 0)
		return r;
	if (!kv)
		return berr_set(err, EPROTO, "%s.kv: required", path);
	cleanup_free char *kp = bjson_path_key(path, "kv");
	if ((r = parse_kv(kv, kp, &ev->kv, err)) < 0)
		return r;
	if (ev->kv.mod_revision <= 0) {
		etcd_kv_clear(&ev->kv);
		return berr_set(err, EPROTO, "%s.kv.mod_revision: missing", path);
	}
	if (prev) {
		cleanup_free char *pp = bjson_path_key(path, "prev_kv");
		if ((r = parse_kv(prev, pp, &ev->prev_kv, err)) < 0) {
			etcd_kv_clear(&ev->kv);
			return r;
		}
	}
	return 0;
}

/* One message of the stream. */
static int stream_line(struct etcd_watch_stream *s, const char *line, size_t len, struct berr **err)
{
	cleanup_json json_t *o = NULL;
	json_t *res, *events;
	const char *msg;
	int64_t code, rev, compact;
	bool created, canceled;
	int r;

	if ((r = load_object("watch message", line, len, &o, err)) < 0)
		return stream_fail(s, r);
	if (error_of(o, &msg, &code)) {
		/* unavailable (a member going away): the caller reconnects */
		if (code == 14)
			return berr_set(err, EAGAIN, "watch: %s (code %" PRId64 ")", berr_q(msg), code);
		return stream_fail(s, berr_set(err, errno_of_grpc(code) == ERANGE ? ERANGE : EPROTO,
					       "watch: %s (code %" PRId64 ")", berr_q(msg), code));
	}
	if ((r = get_obj(o, "watch message", "result", &res, err)) < 0)
		return stream_fail(s, r);
	if (!res)
		return stream_fail(s, berr_set(err, EPROTO, "watch message: neither result nor error"));
	if ((r = header_revision(res, "result", &rev, err)) < 0 ||
	    (r = get_bool(res, "result", "created", &created, err)) < 0 ||
	    (r = get_bool(res, "result", "canceled", &canceled, err)) < 0 ||
	    (r = get_i64(res, "result", "compact_revision", &compact, err)) < 0 ||
	    (r = get_arr(res, "result", "events", &events, err)) < 0)
		return stream_fail(s, r);
	if (compact > 0) {
		s->compact = compact;
		return stream_fail(s, berr_set(err, ERANGE,
					       "watch: revision %" PRId64 " was compacted (oldest kept: %" PRId64 ")",
					       s->next, compact));
	}
	if (canceled) {
		const json_t *why = json_object_get(res, "cancel_reason");

		return stream_fail(s, berr_set(err, ECANCELED, "watch: cancelled by etcd%s%s",
					       json_is_string(why) ? ": " : "",
					       json_is_string(why) ? berr_q(json_string_value(why)) : ""));
	}
	if (created) {
		s->created = true;
		if (s->next == 0 && rev > 0)
			s->next = rev + 1;
	}
	size_t nev = events ? json_array_size(events) : 0;
	if (nev == 0) {
		/* a progress notification: everything up to rev was delivered */
		if (!created && s->created && s->next > 0 && rev >= s->next)
			s->next = rev + 1;
		return 0;
	}
	if (s->nev + nev > s->capev) {
		s->capev = (s->nev + nev) * 2;
		s->ev = xreallocarray(s->ev, s->capev, sizeof(*s->ev));
	}
	int64_t last = s->next - 1;
	size_t first = s->nev;
	for (size_t i = 0; i < nev; i++) {
		cleanup_free char *ep = bjson_path_index("result.events", i);
		struct etcd_event ev;

		if ((r = parse_event(json_array_get(events, i), ep, &ev, err)) < 0)
			goto fail;
		if (ev.kv.mod_revision < last) {
			r = berr_set(err, EPROTO, "%s: revision %" PRId64 " after %" PRId64, ep,
				     ev.kv.mod_revision, last);
			etcd_kv_clear(&ev.kv);
			etcd_kv_clear(&ev.prev_kv);
			goto fail;
		}
		last = ev.kv.mod_revision;
		s->ev[s->nev++] = ev;
	}
	s->next = last + 1;
	return 0;
fail:
	for (size_t i = first; i < s->nev; i++) {
		etcd_kv_clear(&s->ev[i].kv);
		etcd_kv_clear(&s->ev[i].prev_kv);
	}
	s->nev = first;
	return stream_fail(s, r);
}

int etcd_watch_stream_feed(struct etcd_watch_stream *s, const char *buf, size_t len,
			   struct berr **err)
{
	if (s->failed)
		return berr_set(err, -s->failed, "watch: stream failed before");
	if (len > s->max - s->len)
		return stream_fail(s, berr_set(err, EPROTO, "watch: message longer than %zu bytes", s->max));
	if (s->len + len + 1 > s->cap) {
		s->cap = (s->len + len + 1) * 2;
		s->buf = xrealloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;

	size_t start = 0;
	int r = 0;
	for (;;) {
		char *nl = memchr(s->buf + start, '\n', s->len - start);
		if (!nl)
			break;
		size_t ll = (size_t)(nl - (s->buf + start));
		size_t i = 0;

		while (i < ll && (s->buf[start + i] == ' ' || s->buf[start + i] == '\r' ||
				  s->buf[start + i] == '\t'))
			i++;
		if (i < ll)
			r = stream_line(s, s->buf + start, ll, err);
		start += ll + 1;
		if (r < 0)
			break;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
	return r;
}

/* ---- the watch ---- */

struct etcd_watch {
	char **endpoints;
	size_t n, cur;
	struct etcd_opts opts;
	char *key;
	bool prefix, prev_kv;
	int ep, curl_tfd, retry_tfd;
	CURLM *m;
	CURL *h;              /* the current stream, NULL between connections */
	struct curl_slist *hdrs;
	struct etcd_watch_stream *s;
	struct berr *fatal;   /* set once the watch is dead */
	struct berr *cut;     /* why the current stream was cut (feed failure) */
	int backoff_ms;
	unsigned failures;    /* streams ended since the last established one */
	char errbuf[CURL_ERROR_SIZE];
};

static void arm(int tfd, long ms)
{
	struct itimerspec its = { 0 };

	if (ms >= 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000L;
		if (ms == 0)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(tfd, 0, &its, NULL);
}

static void drain(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

static int watch_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct etcd_watch *w = userp;
	struct epoll_event ev = { .data.fd = fd };

	(void)e;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(w->ep, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
		epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

static int watch_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct etcd_watch *w = userp;

	(void)m;
	arm(w->curl_tfd, timeout_ms);
	return 0;
}

static size_t watch_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct etcd_watch *w = ud;
	size_t n = size * nmemb;
	struct berr *e = NULL;

	if (etcd_watch_stream_feed(w->s, p, n, &e) < 0) {
		berr_free(w->cut);
		w->cut = e;
		return 0; /* cut this stream */
	}
	return n;
}

static void watch_drop_handle(struct etcd_watch *w)
{
	if (!w->h)
		return;
	curl_multi_remove_handle(w->m, w->h);
	curl_easy_cleanup(w->h);
	w->h = NULL;
}

static void watch_connect(struct etcd_watch *w)
{
	cleanup_json json_t *req = json_object();
	json_t *cr = json_object();

	json_object_set_new(req, "create_request", cr);
	set_key(cr, w->key, w->prefix);
	if (etcd_watch_stream_next(w->s) > 0)
		set_i64(cr, "start_revision", etcd_watch_stream_next(w->s));
	if (w->prev_kv)
		json_object_set_new(cr, "prev_kv", json_true());
	json_object_set_new(cr, "progress_notify", json_true());
	cleanup_free char *body = bjson_dumps(req);
	cleanup_free char *url = xasprintf("%s/v3/watch", w->endpoints[w->cur]);

	watch_drop_handle(w);
	etcd_watch_stream_reset(w->s);
	w->h = curl_easy_init();
	if (!w->h) {
		log_warn("etcd watch %s: curl_easy_init failed; retrying", w->endpoints[w->cur]);
		arm(w->retry_tfd, w->backoff_ms);
		return;
	}
	w->errbuf[0] = '\0';
	setup_handle(w->h, &w->opts, w->hdrs, w->errbuf);
	curl_easy_setopt(w->h, CURLOPT_URL, url);
	curl_easy_setopt(w->h, CURLOPT_COPYPOSTFIELDS, body);
	curl_easy_setopt(w->h, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w->h, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->h, CURLOPT_PRIVATE, w);
	curl_multi_add_handle(w->m, w->h);
}

/* The current stream ended: decide between dead and reconnect. */
static void watch_ended(struct etcd_watch *w, CURLcode rc)
{
	const char *ep = w->endpoints[w->cur];
	long status = 0;

	curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
	bool was_created = etcd_watch_stream_created(w->s);
	watch_drop_handle(w);
	if (w->cut && berr_rc(w->cut) != -EAGAIN) {
		berr_clear(&w->fatal);
		w->fatal = w->cut;
		w->cut = NULL;
		berr_wrap(&w->fatal, "etcd %s", ep);
		return;
	}
	/* 502-504: a member starting or stopping, try again; other statuses
	 * mean the request itself is wrong */
	if (status != 0 && status != 200 && status != 502 && status != 503 && status != 504 && !w->cut) {
		berr_set(&w->fatal, EPROTO, "etcd %s /v3/watch: HTTP %ld", ep, status);
		return;
	}
	const char *why = w->cut ? berr_msg(w->cut)
		: rc != CURLE_OK ? (w->errbuf[0] ? w->errbuf : curl_easy_strerror(rc))
		: status != 200 ? "HTTP error" : "closed by etcd";
	/* one warning per outage, not one per retry */
	if (was_created || w->failures == 0)
		log_warn("etcd watch %s: stream ended (%s); resuming at revision %" PRId64, ep, why,
			 etcd_watch_stream_next(w->s));
	else
		log_debug("etcd watch %s: %s; retrying", ep, why);
	berr_clear(&w->cut);
	if (was_created) {
		w->backoff_ms = ETCD_BACKOFF_MIN_MS;
		w->failures = 0;
	}
	w->failures++;
	w->cur = (w->cur + 1) % w->n;
	/* a full round of endpoints without success waits longer each time */
	arm(w->retry_tfd, w->backoff_ms);
	if (w->cur == 0 || w->n == 1)
		w->backoff_ms = w->backoff_ms * 2 > ETCD_BACKOFF_MAX_MS ? ETCD_BACKOFF_MAX_MS : w->backoff_ms * 2;
}

int etcd_watch_open(const struct etcd *c, const struct etcd_watch_opts *opts,
		    struct etcd_watch **out, struct berr **err)
{
	if (!opts || !opts->key)
		return berr_set(err, EINVAL, "etcd watch: no key");
	struct etcd_watch *w = xzalloc(sizeof(*w));

	w->ep = w->curl_tfd = w->retry_tfd = -1;
	w->endpoints = xcalloc(c->n + 1, sizeof(char *));
	for (size_t i = 0; i < c->n; i++)
		w->endpoints[i] = xstrdup(c->endpoints[i]);
	w->n = c->n;
	w->cur = c->cur;
	copy_opts(&w->opts, &c->opts);
	w->key = xstrdup(opts->key);
	w->prefix = opts->prefix;
	w->prev_kv = opts->prev_kv;
	w->backoff_ms = ETCD_BACKOFF_MIN_MS;
	w->s = etcd_watch_stream_new(w->opts.max_response);
	etcd_watch_stream_set_next(w->s, opts->start_revision);
	w->hdrs = json_headers();
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->curl_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	w->retry_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->ep < 0 || w->curl_tfd < 0 || w->retry_tfd < 0) {
		int r = berr_set(err, errno, "etcd watch: epoll/timerfd");
		etcd_watch_close(w);
		return r;
	}
	struct epoll_event e1 = { .events = EPOLLIN, .data.fd = w->curl_tfd };
	struct epoll_event e2 = { .events = EPOLLIN, .data.fd = w->retry_tfd };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->curl_tfd, &e1) < 0 ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->retry_tfd, &e2) < 0) {
		int r = berr_set(err, errno, "etcd watch: epoll_ctl");
		etcd_watch_close(w);
		return r;
	}
	w->m = curl_multi_init();
	if (!w->m) {
		etcd_watch_close(w);
		return berr_set(err, ENOMEM, "etcd watch: curl_multi_init");
	}
	curl_multi_setopt(w->m, CURLMOPT_SOCKETFUNCTION, watch_socket_cb);
	curl_multi_setopt(w->m, CURLMOPT_SOCKETDATA, w);
	curl_multi_setopt(w->m, CURLMOPT_TIMERFUNCTION, watch_timer_cb);
	curl_multi_setopt(w->m, CURLMOPT_TIMERDATA, w);
	arm(w->retry_tfd, 0); /* connect on the first poll */
	*out = w;
	return 0;
}

void etcd_watch_close(struct etcd_watch *w)
{
	if (!w)
		return;
	if (w->m) {
		watch_drop_handle(w);
		curl_multi_cleanup(w->m);
	}
	if (w->ep >= 0)
		close(w->ep);
	if (w->curl_tfd >= 0)
		close(w->curl_tfd);
	if (w->retry_tfd >= 0)
		close(w->retry_tfd);
	curl_slist_free_all(w->hdrs);
	etcd_watch_stream_free(w->s);
	berr_free(w->fatal);
	berr_free(w->cut);
	strv_free(w->endpoints);
	free_opts(&w->opts);
	free(w->key);
	free(w);
}

int etcd_watch_fd(const struct etcd_watch *w)
{
	return w->ep;
}

int64_t etcd_watch_revision(const struct etcd_watch *w)
{
	return etcd_watch_stream_next(w->s);
}

int64_t etcd_watch_compact_revision(const struct etcd_watch *w)
{
	return etcd_watch_stream_compact_revision(w->s);
}

bool etcd_watch_established(const struct etcd_watch *w)
{
	return w->h && etcd_watch_stream_created(w->s);
}

int etcd_watch_poll(struct etcd_watch *w, struct etcd_event **events, size_t *n,
		    struct berr **err)
{
	struct epoll_event evs[16];
	int running = 0;

	*events = NULL;
	*n = 0;
	if (!w->fatal) {
		int k = epoll_wait(w->ep, evs, 16, 0);

		if (k < 0 && errno != EINTR)
			return berr_set(err, errno, "etcd watch: epoll_wait");
		for (int i = 0; i < k; i++) {
			int fd = evs[i].data.fd;

			if (fd == w->retry_tfd) {
				drain(fd);
				if (!w->h)
					watch_connect(w);
			} else if (fd == w->curl_tfd) {
				drain(fd);
				curl_multi_socket_action(w->m, CURL_SOCKET_TIMEOUT, 0, &running);
			} else {
				int flags = 0;

				if (evs[i].events & EPOLLIN)
					flags |= CURL_CSELECT_IN;
				if (evs[i].events & EPOLLOUT)
					flags |= CURL_CSELECT_OUT;
				if (evs[i].events & (EPOLLERR | EPOLLHUP))
					flags |= CURL_CSELECT_ERR;
				curl_multi_socket_action(w->m, fd, flags, &running);
			}
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(w->m, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == w->h)
				watch_ended(w, msg->data.result);
	}
	*n = etcd_watch_stream_take(w->s, events);
	if (*n > 0)
		return (int)*n; /* a failure comes with the next poll */
	if (w->fatal) {
		int r = berr_rc(w->fatal);

		berr_set(err, -r, "%s", berr_msg(w->fatal));
		/* berr_set appended strerror again: keep the stored text */
		if (err && *err) {
			free((*err)->msg);
			(*err)->msg = xstrdup(berr_msg(w->fatal));
		}
		return r;
	}
	return 0;
}
