/* scheduler/etcd.h - a small synchronous etcd v3 client (issue 13).
 *
 * Speaks etcd's gRPC JSON gateway (etcd 3.4: http://HOST:2379/v3/...) with
 * libcurl (one easy handle per client, connections kept alive) and jansson.
 * Keys and values travel base64-encoded, int64 fields as JSON strings; the
 * gateway leaves out fields that hold their zero value (count 0, succeeded
 * false, type PUT), and this code reads a missing field as zero.
 *
 * Every call is bounded: connecting by opts.connect_timeout_ms, a whole
 * request by opts.timeout_ms. berthd is single-threaded, so nothing here
 * waits without a bound; the watch (below) is driven from the caller's
 * epoll loop and never blocks.
 *
 * Endpoints fail over: a request that cannot reach an endpoint (refused,
 * unreachable, connect timeout), or that etcd answers with "unavailable"
 * (gRPC code 14: no leader, member stopping), goes to the next endpoint; a
 * client keeps using the endpoint that answered last. A request whose
 * transfer broke after it was sent is not sent again for writes (it may
 * have been applied); reads (range, lease time-to-live) are.
 *
 * Errors name the endpoint and the request, then etcd's message and gRPC
 * code: "etcd http://127.0.0.1:2379 /v3/kv/range: etcdserver: mvcc: required
 * revision has been compacted (code 11)". The errno in err->code: ERANGE
 * (compacted or future revision), ENOENT (lease not found), EINVAL
 * (refused request), EAGAIN (every endpoint unavailable), ECONNREFUSED /
 * ETIMEDOUT / EHOSTUNREACH (transport), EFBIG (response over max_response),
 * EPROTO (a response that does not parse), EIO otherwise.
 *
 * Keys are NUL-terminated strings (etcd keys are bytes; berth's keys are
 * text); values are bytes with a length (also NUL-terminated in results, for
 * convenience). Nothing here is thread-safe; one client per thread.
 */
#ifndef BERTH_SCHEDULER_ETCD_H
#define BERTH_SCHEDULER_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct etcd;

struct etcd_opts {
	int timeout_ms;         /* whole request; 0: 5000 */
	int connect_timeout_ms; /* TCP (and TLS) connect per endpoint; 0: 1000 */
	/* TLS, handed to curl as they are (CURLOPT_CAINFO, SSLCERT, SSLKEY);
	 * used with https:// endpoints. NULL: curl's defaults / no client cert. */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	size_t max_response;    /* bytes of one response (or one watch message); 0: 64 MiB */
};

/* endpoints: NULL-terminated list of base URLs ("http://10.0.0.1:2379",
 * "https://etcd-a:2379"); a bare "host:port" gets "http://". opts may be
 * NULL. Connects lazily: no request is made here. */
int etcd_open(const char *const *endpoints, const struct etcd_opts *opts, struct etcd **out,
	      struct berr **err);
void etcd_close(struct etcd *c);
/* The endpoint requests go to now (the last that answered). */
const char *etcd_endpoint(const struct etcd *c);

/* One key-value pair, as etcd stores it. */
struct etcd_kv {
	char *key;
	char *value;      /* value_len bytes, plus a NUL */
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;  /* 1 on create, +1 on each put */
	int64_t lease;    /* 0: none */
};
void etcd_kv_clear(struct etcd_kv *kv);
void etcd_kvs_free(struct etcd_kv *kvs, size_t n);

/* Put key = value (len bytes), attached to lease (0: none). *revision (may
 * be NULL) gets the store revision of the write. */
int etcd_put(struct etcd *c, const char *key, const void *value, size_t len, int64_t lease,
	     int64_t *revision, struct berr **err);

/* Get one key: 1 and *kv filled when it exists, 0 when it does not (kv
 * zeroed), negative on error. *revision (may be NULL): the store revision
 * the read saw. */
int etcd_get(struct etcd *c, const char *key, struct etcd_kv *kv, int64_t *revision,
	     struct berr **err);

struct etcd_range_opts {
	int64_t limit;    /* at most this many kvs per call; 0: no limit */
	int64_t revision; /* read at this revision; 0: the newest */
	bool keys_only;   /* values left out (value "" length 0) */
	/* Continue a paged read: the `cont` of the previous result. The next
	 * page starts after its last key and reads at its revision, so pages
	 * form one consistent snapshot (ERANGE if it was compacted meanwhile). */
	const char *cont;
};

struct etcd_range_result {
	struct etcd_kv *kvs; /* in key order */
	size_t n;
	int64_t count;       /* keys from this page's first key to the end of the range */
	int64_t revision;    /* revision the read saw (opts.revision when given) */
	bool more;           /* more keys follow (limit reached) */
	char *cont;          /* set when more: pass as opts.cont for the next page */
};
void etcd_range_result_clear(struct etcd_range_result *r);

/* All keys that start with prefix ("" is every key). opts may be NULL. */
int etcd_range(struct etcd *c, const char *prefix, const struct etcd_range_opts *opts,
	       struct etcd_range_result *out, struct berr **err);

/* Delete key, or every key under it when prefix is true. Returns the
 * number of keys deleted (>= 0). *revision as for etcd_put (may be NULL). */
int64_t etcd_delete(struct etcd *c, const char *key, bool prefix, int64_t *revision,
		    struct berr **err);

/* Compact the history up to revision (physical: wait until the space is
 * really reclaimed). Later reads and watches below it fail with ERANGE. */
int etcd_compact(struct etcd *c, int64_t revision, bool physical, struct berr **err);

/* ---- transactions ---- */

enum etcd_cmp_target {
	ETCD_CMP_VERSION,  /* number: the key's version (0: absent) */
	ETCD_CMP_CREATE,   /* number: create_revision (0: absent) */
	ETCD_CMP_MOD,      /* number: mod_revision (0: absent) */
	ETCD_CMP_VALUE,    /* value, value_len */
	ETCD_CMP_LEASE,    /* number: the key's lease */
};
enum etcd_cmp_op { ETCD_EQUAL, ETCD_NOT_EQUAL, ETCD_GREATER, ETCD_LESS };

struct etcd_cmp {
	const char *key;
	bool prefix;              /* the comparison holds for every key under key */
	enum etcd_cmp_target target;
	enum etcd_cmp_op op;
	int64_t number;
	const void *value;
	size_t value_len;
};

enum etcd_op_type { ETCD_OP_PUT, ETCD_OP_RANGE, ETCD_OP_DELETE };

struct etcd_op {
	enum etcd_op_type type;
	const char *key;
	bool prefix;              /* RANGE and DELETE: every key under key */
	const void *value;        /* PUT */
	size_t value_len;
	int64_t lease;            /* PUT */
	int64_t limit;            /* RANGE; 0: no limit */
};

struct etcd_op_result {
	enum etcd_op_type type;
	struct etcd_kv *kvs;      /* RANGE */
	size_t n;
	int64_t count;            /* RANGE: keys in range */
	int64_t deleted;          /* DELETE */
};

struct etcd_txn_result {
	bool succeeded;           /* every comparison held: the success ops ran */
	int64_t revision;         /* store revision after the txn */
	struct etcd_op_result *results; /* one per op of the branch that ran */
	size_t n;
};
void etcd_txn_result_clear(struct etcd_txn_result *r);

/* If every cmp holds, run success ops, else failure ops, atomically. */
int etcd_txn(struct etcd *c, const struct etcd_cmp *cmps, size_t ncmp,
	     const struct etcd_op *success, size_t nsuccess, const struct etcd_op *failure,
	     size_t nfailure, struct etcd_txn_result *out, struct berr **err);

/* Compare-and-swap helpers. Return 1 when written (*revision: the write's
 * revision), 0 on conflict (*current, if not NULL: the key as it is now,
 * zeroed when absent), negative on error. revision and current may be NULL.
 *   etcd_create: write only if key does not exist.
 *   etcd_update: write only if key's mod_revision == mod_revision. */
int etcd_create(struct etcd *c, const char *key, const void *value, size_t len, int64_t lease,
		int64_t *revision, struct etcd_kv *current, struct berr **err);
int etcd_update(struct etcd *c, const char *key, const void *value, size_t len, int64_t lease,
		int64_t mod_revision, int64_t *revision, struct etcd_kv *current,
		struct berr **err);

/* ---- leases ---- */

/* A lease of ttl_s seconds; id 0 lets etcd choose. *id_out: its id,
 * *granted_ttl (may be NULL): the TTL etcd granted (it may raise small ones). */
int etcd_lease_grant(struct etcd *c, int64_t ttl_s, int64_t id, int64_t *id_out,
		     int64_t *granted_ttl, struct berr **err);
/* Renew once (POST /v3/lease/keepalive with one message). *ttl (may be
 * NULL): the new TTL. -ENOENT when the lease has expired or was revoked. */
int etcd_lease_keepalive(struct etcd *c, int64_t id, int64_t *ttl, struct berr **err);
/* Revoke: every key attached to the lease is deleted. -ENOENT if unknown. */
int etcd_lease_revoke(struct etcd *c, int64_t id, struct berr **err);
/* Seconds left (*ttl) and granted (*granted, may be NULL); -ENOENT when the
 * lease has expired or does not exist. */
int etcd_lease_ttl(struct etcd *c, int64_t id, int64_t *ttl, int64_t *granted,
		   struct berr **err);

/* ---- watch ----
 *
 * A watch is one streaming POST /v3/watch on its own curl multi handle. It
 * owns an epoll fd (etcd_watch_fd) that becomes readable when there is
 * something to do; the caller adds that fd to its own epoll set (or polls
 * it) and calls etcd_watch_poll(), which never blocks, whenever it is
 * readable. A broken stream (etcd restarted, endpoint down) is reopened on
 * the next endpoint after a short backoff (100 ms doubling to 2 s), from
 * the revision after the last one delivered, so no event is lost or
 * repeated. Only a compacted start revision, a cancel by etcd or a
 * malformed message ends the watch (etcd_watch_poll fails; the watch is
 * then dead: close it, read the state anew, open a new watch). */

enum etcd_event_type { ETCD_EVENT_PUT, ETCD_EVENT_DELETE };

struct etcd_event {
	enum etcd_event_type type;
	struct etcd_kv kv;        /* DELETE: key and mod_revision (the deletion's) only */
	struct etcd_kv prev_kv;   /* with opts.prev_kv: the key before the event (zeroed if none) */
};
void etcd_events_free(struct etcd_event *ev, size_t n);

struct etcd_watch_opts {
	const char *key;
	bool prefix;              /* every key under key */
	int64_t start_revision;   /* first revision to deliver; 0: changes after now */
	bool prev_kv;
};

struct etcd_watch;

/* Start watching (the stream opens on the first etcd_watch_poll; the fd is
 * readable at once). Uses c's endpoints, timeouts and TLS settings; c may
 * be closed afterwards. */
int etcd_watch_open(const struct etcd *c, const struct etcd_watch_opts *opts,
		    struct etcd_watch **out, struct berr **err);
void etcd_watch_close(struct etcd_watch *w);
int etcd_watch_fd(const struct etcd_watch *w);
/* Do the pending work and hand over the events received, in revision
 * order: returns their number (>= 0; *events xmalloc'd, NULL when 0; free
 * with etcd_events_free). Fails with -ERANGE when the revision to resume
 * from was compacted (etcd_watch_compact_revision says to which revision),
 * -ECANCELED when etcd cancelled the watch, -EPROTO for a malformed
 * message. Transport errors are not failures: they are logged (log_warn)
 * and the watch reconnects. */
int etcd_watch_poll(struct etcd_watch *w, struct etcd_event **events, size_t *n,
		    struct berr **err);
/* The next revision the watch expects (after a reconnect it resumes here);
 * 0 until etcd confirmed a watch started at "now". */
int64_t etcd_watch_revision(const struct etcd_watch *w);
/* The compact revision etcd reported (after -ERANGE); 0 otherwise. */
int64_t etcd_watch_compact_revision(const struct etcd_watch *w);
/* etcd confirmed the watch on the current connection ("created"). */
bool etcd_watch_established(const struct etcd_watch *w);

/* ---- election ----
 *
 * Leader election on keys and a lease, laid out as etcd's own election
 * (clientv3/concurrency, the /v3/election gateway, `etcdctl elect`): each candidate
 * owns the key "<prefix>/<lease id in hex>", created only if absent and
 * attached to its lease; the leader is the candidate whose key has the
 * lowest create_revision. A candidate whose lease expires or is revoked
 * loses its key, and with it its place. Not the gateway's
 * /v3/election/campaign: that call blocks until the caller is leader, which
 * a single-threaded daemon cannot afford; here campaigning returns at once
 * and the caller learns of changes by watching the prefix (or by asking
 * etcd_election_leader again). */

/* Enter the election with value (len bytes, e.g. the instance id). Returns
 * 1 if this candidate is the leader now, 0 if another is, negative on
 * error. Idempotent: campaigning again with the same lease keeps its
 * place (and leaves the stored value as it was). */
int etcd_election_campaign(struct etcd *c, const char *prefix, int64_t lease, const void *value,
			   size_t len, struct berr **err);
/* The leader's key: 1 and *leader filled, 0 when there is no candidate. */
int etcd_election_leader(struct etcd *c, const char *prefix, struct etcd_kv *leader,
			 struct berr **err);
/* 1 when the candidate with this lease is the leader, 0 if not. */
int etcd_election_is_leader(struct etcd *c, const char *prefix, int64_t lease,
			    struct berr **err);
/* Leave the election (delete this candidate's key). 0 also when the key was
 * already gone. */
int etcd_election_resign(struct etcd *c, const char *prefix, int64_t lease, struct berr **err);

/* ---- parsers (pure: no I/O; the fuzz harness calls them) ---- */

/* A unary response body, as etcd_range/etcd_get/etcd_txn read them. */
int etcd_parse_range_response(const char *buf, size_t len, struct etcd_range_result *out,
			      struct berr **err);
int etcd_parse_txn_response(const char *buf, size_t len, struct etcd_txn_result *out,
			    struct berr **err);

/* The watch stream: bytes as they arrive, cut anywhere. Feed appends,
 * parses each complete line and keeps the rest for the next feed. Events go
 * to a queue taken with etcd_watch_stream_take. Returns 0, or negative
 * (ERANGE compacted, ECANCELED, EPROTO malformed or over max bytes); after
 * a failure the parser refuses everything. */
struct etcd_watch_stream;
struct etcd_watch_stream *etcd_watch_stream_new(size_t max_line);
void etcd_watch_stream_free(struct etcd_watch_stream *s);
int etcd_watch_stream_feed(struct etcd_watch_stream *s, const char *buf, size_t len,
			   struct berr **err);
/* Events parsed so far (and forgotten by the parser): count returned. */
size_t etcd_watch_stream_take(struct etcd_watch_stream *s, struct etcd_event **events);
/* Next revision to resume from (see etcd_watch_revision); set_next seeds it
 * (the watch's start revision). */
int64_t etcd_watch_stream_next(const struct etcd_watch_stream *s);
void etcd_watch_stream_set_next(struct etcd_watch_stream *s, int64_t rev);
bool etcd_watch_stream_created(const struct etcd_watch_stream *s);
int64_t etcd_watch_stream_compact_revision(const struct etcd_watch_stream *s);
/* Forget a partial line and the "created" flag (a new connection starts). */
void etcd_watch_stream_reset(struct etcd_watch_stream *s);

#endif
