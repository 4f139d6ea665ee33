/* fuzz_etcd_json: the etcd client's response parsers (scheduler/etcd.c):
 * range and txn responses and the watch stream.
 *
 * Input: one byte that picks the parser (0 range, 1 txn, else watch
 * stream), one byte of chunk size for the stream, then the body.
 * Invariants: no crash, leak or sanitizer report; a refusal has a message
 * and a negative errno the header documents; a range result holds count >=
 * n, keys and NUL-terminated values; the watch stream gives the same events
 * and the same result whether the bytes come at once or in chunks, events
 * never go back in revision, and the next revision is past the last event;
 * after a failure the stream refuses more input. */
#include "common/error.h"
#include "scheduler/etcd.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_err(int r, struct berr **err)
{
	check(r == -EPROTO || r == -ERANGE || r == -ECANCELED || r == -EAGAIN);
	check(*err && berr_msg(*err)[0]);
	berr_clear(err);
}

static void check_kvs(const struct etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		check(kvs[i].key != NULL && kvs[i].value != NULL);
		check(kvs[i].value[kvs[i].value_len] == '\0');
	}
}

/* Feed text in chunks of `chunk` bytes (0: at once); events into *ev. */
static int run_stream(const char *text, size_t len, size_t chunk, struct etcd_event **ev, size_t *n,
		      int64_t *next)
{
	struct etcd_watch_stream *s = etcd_watch_stream_new(1 << 20);
	struct berr *err = NULL;
	int r = 0;

	etcd_watch_stream_set_next(s, 3);
	*ev = NULL;
	*n = 0;
	for (size_t off = 0; off < len || (off == 0 && len == 0);) {
		size_t k = chunk && len - off > chunk ? chunk : len - off;

		r = etcd_watch_stream_feed(s, text + off, k, &err);
		off += k;
		if (r < 0) {
			check_err(r, &err);
			/* a failed stream refuses input, EAGAIN excepted (the
			 * caller drops the connection then) */
			if (r != -EAGAIN) {
				check(etcd_watch_stream_feed(s, "\n", 1, &err) < 0);
				berr_clear(&err);
			}
			break;
		}
		if (len == 0)
			break;
	}
	struct etcd_event *got;
	size_t k = etcd_watch_stream_take(s, &got);
	*ev = got;
	*n = k;
	*next = etcd_watch_stream_next(s);
	etcd_watch_stream_free(s);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct berr *err = NULL;

	if (size < 2)
		return 0;
	uint8_t mode = data[0];
	size_t chunk = data[1];
	const char *text = (const char *)data + 2;
	size_t len = size - 2;

	if (mode == 0) {
		struct etcd_range_result r;
		int rc = etcd_parse_range_response(text, len, &r, &err);

		if (rc < 0) {
			check(rc == -EPROTO);
			check_err(rc, &err);
			check(r.kvs == NULL && r.n == 0);
			return 0;
		}
		check(r.count >= 0 && (uint64_t)r.count >= r.n);
		check_kvs(r.kvs, r.n);
		etcd_range_result_clear(&r);
		return 0;
	}
	if (mode == 1) {
		struct etcd_txn_result t;
		int rc = etcd_parse_txn_response(text, len, &t, &err);

		if (rc < 0) {
			check(rc == -EPROTO);
			check_err(rc, &err);
			check(t.results == NULL && t.n == 0);
			return 0;
		}
		for (size_t i = 0; i < t.n; i++) {
			check(t.results[i].type == ETCD_OP_PUT || t.results[i].type == ETCD_OP_RANGE ||
			      t.results[i].type == ETCD_OP_DELETE);
			check_kvs(t.results[i].kvs, t.results[i].n);
		}
		etcd_txn_result_clear(&t);
		return 0;
	}

	struct etcd_event *a, *b;
	size_t na, nb;
	int64_t nexta, nextb;
	int ra = run_stream(text, len, 0, &a, &na, &nexta);
	int rb = run_stream(text, len, chunk ? chunk : 1, &b, &nb, &nextb);

	check(ra == rb);
	check(na == nb);
	check(nexta == nextb);
	int64_t last = 2;
	for (size_t i = 0; i < na; i++) {
		check(a[i].type == b[i].type);
		check(strcmp(a[i].kv.key, b[i].kv.key) == 0);
		check(a[i].kv.mod_revision == b[i].kv.mod_revision);
		check(a[i].kv.mod_revision >= last);
		last = a[i].kv.mod_revision;
		check(a[i].kv.value[a[i].kv.value_len] == '\0');
	}
	if (na > 0)
		check(nexta > last);
	etcd_events_free(a, na);
	etcd_events_free(b, nb);
	return 0;
}
