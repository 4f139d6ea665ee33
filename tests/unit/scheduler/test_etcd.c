/* tests/unit/scheduler/test_etcd.c - the etcd v3 client (scheduler/etcd.c)
 * against a real etcd (Debian etcd-server): the test starts /usr/bin/etcd
 * on 127.0.0.1 with free ports and a temporary data dir, and kills it in the
 * group teardown (and by PR_SET_PDEATHSIG should the test die). Without
 * /usr/bin/etcd the tests that need it are skipped, never passed; the pure
 * parser tests run anyway. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/xalloc.h"
#include "scheduler/etcd.h"
#include "tests/unit/etcd_fixture.h"


static struct {
	struct etcd_fixture fx;   /* tests/unit/etcd_fixture.h */
	struct etcd *c;
} g = { .fx.pid = -1 };

static int group_setup(void **state)
{
	const char *eps[2];
	struct berr *err = NULL;
	int r;

	(void)state;
	if ((r = etcd_fixture_init(&g.fx, "/tmp/berth-test-etcd-XXXXXX")) <= 0)
		return r;   /* 0: no etcd, the tests that need it skip */
	eps[0] = g.fx.url;
	eps[1] = NULL;
	if (etcd_open(eps, NULL, &g.c, &err) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	etcd_close(g.c);
	g.c = NULL;
	etcd_fixture_stop(&g.fx, SIGKILL);
	if (g.fx.dir[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g.fx.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", g.fx.dir);
	}
	return 0;
}

#define NEED_ETCD() ETCD_FIXTURE_NEED(&g.fx)

/* call must report into ok_err */
#define OK(call)                                                                     \
	do {                                                                         \
		struct berr *ok_err = NULL;                                          \
		int64_t ok_rc = (call);                                              \
		if (ok_rc < 0)                                                       \
			fail_msg("%s: %s", #call, berr_msg(ok_err));                 \
		berr_free(ok_err);                                                   \
	} while (0)

/* The events of w until n arrived (or timeout_ms): appended to *all. */
static size_t wait_events(struct etcd_watch *w, size_t n, int timeout_ms, struct etcd_event **all,
			  size_t *nall)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (*nall < n && now_ms() < deadline) {
		struct pollfd p = { .fd = etcd_watch_fd(w), .events = POLLIN };
		struct etcd_event *ev;
		size_t k;
		struct berr *err = NULL;

		poll(&p, 1, 100);
		int r = etcd_watch_poll(w, &ev, &k, &err);
		if (r < 0)
			fail_msg("watch poll: %s", berr_msg(err));
		if (k) {
			*all = xreallocarray(*all, *nall + k, sizeof(**all));
			memcpy(*all + *nall, ev, k * sizeof(*ev));
			*nall += k;
			free(ev);
		}
	}
	return *nall;
}

/* Pump w until it is (or is not) established. */
static void wait_established(struct etcd_watch *w, bool want, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (etcd_watch_established(w) != want) {
		struct pollfd p = { .fd = etcd_watch_fd(w), .events = POLLIN };
		struct etcd_event *ev;
		size_t k;
		struct berr *err = NULL;

		if (now_ms() > deadline)
			fail_msg("watch not %s within %d ms", want ? "established" : "broken", timeout_ms);
		poll(&p, 1, 100);
		if (etcd_watch_poll(w, &ev, &k, &err) < 0)
			fail_msg("watch poll: %s", berr_msg(err));
		assert_int_equal(k, 0);
	}
}

static int64_t current_revision(void)
{
	struct etcd_kv kv;
	int64_t rev = 0;

	OK(etcd_get(g.c, "no-such-key", &kv, &rev, &ok_err));
	assert_true(rev > 0);
	return rev;
}

static void test_kv(void **state)
{
	(void)state;
	NEED_ETCD();
	struct etcd_kv kv;
	int64_t rev1, rev2, rev;

	OK(etcd_put(g.c, "kv/a", "v\0x", 3, 0, &rev1, &ok_err));
	OK(etcd_put(g.c, "kv/b", "2", 1, 0, NULL, &ok_err));
	OK(etcd_put(g.c, "kv/c", "3", 1, 0, NULL, &ok_err));
	OK(etcd_put(g.c, "kv0", "outside", 7, 0, NULL, &ok_err)); /* just after the prefix "kv/" */
	OK(etcd_put(g.c, "kv/a", "v\0y", 3, 0, &rev2, &ok_err));
	assert_true(rev2 > rev1);

	struct berr *err = NULL;
	assert_int_equal(etcd_get(g.c, "kv/a", &kv, &rev, &err), 1);
	assert_string_equal(kv.key, "kv/a");
	assert_int_equal(kv.value_len, 3);
	assert_memory_equal(kv.value, "v\0y", 3);
	assert_int_equal(kv.create_revision, rev1);
	assert_int_equal(kv.mod_revision, rev2);
	assert_int_equal(kv.version, 2);
	assert_int_equal(kv.lease, 0);
	assert_true(rev >= rev2);
	etcd_kv_clear(&kv);
	assert_int_equal(etcd_get(g.c, "kv/zz", &kv, NULL, &err), 0);
	assert_null(kv.key);

	struct etcd_range_result res;
	OK(etcd_range(g.c, "kv/", NULL, &res, &ok_err));
	assert_int_equal(res.n, 3);
	assert_int_equal(res.count, 3);
	assert_false(res.more);
	assert_null(res.cont);
	assert_string_equal(res.kvs[0].key, "kv/a");
	assert_string_equal(res.kvs[1].key, "kv/b");
	assert_string_equal(res.kvs[2].key, "kv/c");
	assert_string_equal(res.kvs[2].value, "3");
	etcd_range_result_clear(&res);

	/* pages: limit 2, the second page reads at the first page's revision */
	struct etcd_range_opts ro = { .limit = 2 };
	OK(etcd_range(g.c, "kv/", &ro, &res, &ok_err));
	assert_int_equal(res.n, 2);
	assert_true(res.more);
	assert_non_null(res.cont);
	assert_string_equal(res.kvs[1].key, "kv/b");
	int64_t page_rev = res.revision;
	OK(etcd_put(g.c, "kv/d", "4", 1, 0, NULL, &ok_err)); /* after the snapshot: not in page 2 */
	OK(etcd_put(g.c, "kv/c", "changed", 7, 0, NULL, &ok_err));
	char *cont = xstrdup(res.cont);
	etcd_range_result_clear(&res);
	ro.cont = cont;
	OK(etcd_range(g.c, "kv/", &ro, &res, &ok_err));
	free(cont);
	assert_int_equal(res.n, 1);
	assert_false(res.more);
	assert_null(res.cont);
	assert_string_equal(res.kvs[0].key, "kv/c");
	assert_string_equal(res.kvs[0].value, "3");
	assert_int_equal(res.revision, page_rev);
	etcd_range_result_clear(&res);

	/* keys only */
	struct etcd_range_opts ko = { .keys_only = true };
	OK(etcd_range(g.c, "kv/", &ko, &res, &ok_err));
	assert_int_equal(res.n, 4);
	assert_int_equal(res.kvs[0].value_len, 0);
	etcd_range_result_clear(&res);

	/* the prefix "" is every key */
	struct etcd_range_opts all = { .limit = 1, .keys_only = true };
	OK(etcd_range(g.c, "", &all, &res, &ok_err));
	assert_int_equal(res.n, 1);
	assert_true(res.count >= 5);
	etcd_range_result_clear(&res);

	/* a bad continuation */
	ro.cont = "nonsense";
	assert_int_equal(etcd_range(g.c, "kv/", &ro, &res, &err), -EINVAL);
	berr_clear(&err);

	/* delete one, then the prefix; kv0 stays */
	assert_int_equal(etcd_delete(g.c, "kv/b", false, NULL, &err), 1);
	assert_int_equal(etcd_delete(g.c, "kv/b", false, NULL, &err), 0);
	assert_int_equal(etcd_delete(g.c, "kv/", true, &rev, &err), 3);
	assert_true(rev > rev2);
	OK(etcd_range(g.c, "kv/", NULL, &res, &ok_err));
	assert_int_equal(res.n, 0);
	assert_int_equal(res.count, 0);
	etcd_range_result_clear(&res);
	assert_int_equal(etcd_get(g.c, "kv0", &kv, NULL, &err), 1);
	etcd_kv_clear(&kv);
	assert_int_equal(etcd_delete(g.c, "kv0", false, NULL, &err), 1);
}

static void test_cas(void **state)
{
	(void)state;
	NEED_ETCD();
	struct berr *err = NULL;
	struct etcd_kv cur;
	int64_t rev1, rev2;

	assert_int_equal(etcd_create(g.c, "cas/k", "one", 3, 0, &rev1, &cur, &err), 1);
	assert_null(cur.key);
	/* create if absent: conflict, and the current value comes back */
	assert_int_equal(etcd_create(g.c, "cas/k", "two", 3, 0, NULL, &cur, &err), 0);
	assert_string_equal(cur.key, "cas/k");
	assert_string_equal(cur.value, "one");
	assert_int_equal(cur.mod_revision, rev1);
	etcd_kv_clear(&cur);
	/* update at a stale revision: conflict */
	assert_int_equal(etcd_update(g.c, "cas/k", "two", 3, 0, rev1 - 1, NULL, &cur, &err), 0);
	assert_string_equal(cur.value, "one");
	etcd_kv_clear(&cur);
	/* update at the right one */
	assert_int_equal(etcd_update(g.c, "cas/k", "two", 3, 0, rev1, &rev2, NULL, &err), 1);
	assert_true(rev2 > rev1);
	/* the old revision no longer matches */
	assert_int_equal(etcd_update(g.c, "cas/k", "three", 5, 0, rev1, NULL, NULL, &err), 0);
	/* update of an absent key: conflict, current zeroed */
	assert_int_equal(etcd_update(g.c, "cas/none", "x", 1, 0, 5, NULL, &cur, &err), 0);
	assert_null(cur.key);

	/* a general txn: value compare, several ops, both branches */
	struct etcd_cmp cmp = { .key = "cas/k", .target = ETCD_CMP_VALUE, .op = ETCD_EQUAL,
				.value = "two", .value_len = 3 };
	struct etcd_op ok_ops[] = {
		{ .type = ETCD_OP_PUT, .key = "cas/j", .value = "j", .value_len = 1 },
		{ .type = ETCD_OP_RANGE, .key = "cas/", .prefix = true },
		{ .type = ETCD_OP_DELETE, .key = "cas/k" },
	};
	struct etcd_op fail_ops[] = { { .type = ETCD_OP_RANGE, .key = "cas/k" } };
	struct etcd_txn_result tr;
	assert_int_equal(etcd_txn(g.c, &cmp, 1, ok_ops, 3, fail_ops, 1, &tr, &err), 0);
	assert_true(tr.succeeded);
	assert_int_equal(tr.n, 3);
	assert_int_equal(tr.results[0].type, ETCD_OP_PUT);
	assert_int_equal(tr.results[1].type, ETCD_OP_RANGE);
	assert_int_equal(tr.results[1].n, 2); /* the put of cas/j is seen within the txn */
	assert_string_equal(tr.results[1].kvs[0].key, "cas/j");
	assert_string_equal(tr.results[1].kvs[1].key, "cas/k");
	assert_int_equal(tr.results[2].type, ETCD_OP_DELETE);
	assert_int_equal(tr.results[2].deleted, 1);
	assert_true(tr.revision > rev2);
	etcd_txn_result_clear(&tr);
	/* the same txn again: cas/k is gone, the failure branch runs */
	assert_int_equal(etcd_txn(g.c, &cmp, 1, ok_ops, 3, fail_ops, 1, &tr, &err), 0);
	assert_false(tr.succeeded);
	assert_int_equal(tr.n, 1);
	assert_int_equal(tr.results[0].type, ETCD_OP_RANGE);
	assert_int_equal(tr.results[0].n, 0);
	etcd_txn_result_clear(&tr);
	/* the other operators and targets, on cas/j (version 1, no lease) */
	static const struct {
		struct etcd_cmp cmp;
		bool holds;
	} cmps[] = {
		{ { .key = "cas/j", .target = ETCD_CMP_VERSION, .op = ETCD_NOT_EQUAL, .number = 1 }, false },
		{ { .key = "cas/j", .target = ETCD_CMP_VERSION, .op = ETCD_NOT_EQUAL, .number = 2 }, true },
		{ { .key = "cas/j", .target = ETCD_CMP_VERSION, .op = ETCD_LESS, .number = 2 }, true },
		{ { .key = "cas/j", .target = ETCD_CMP_VERSION, .op = ETCD_LESS, .number = 1 }, false },
		{ { .key = "cas/j", .target = ETCD_CMP_LEASE, .op = ETCD_EQUAL, .number = 0 }, true },
		{ { .key = "cas/j", .target = ETCD_CMP_LEASE, .op = ETCD_GREATER, .number = 0 }, false },
		{ { .key = "cas/j", .target = ETCD_CMP_VALUE, .op = ETCD_NOT_EQUAL, .value = "j", .value_len = 1 }, false },
		{ { .key = "cas/j", .target = ETCD_CMP_VALUE, .op = ETCD_GREATER, .value = "i", .value_len = 1 }, true },
	};
	for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++) {
		assert_int_equal(etcd_txn(g.c, &cmps[i].cmp, 1, NULL, 0, NULL, 0, &tr, &err), 0);
		if (tr.succeeded != cmps[i].holds)
			fail_msg("compare %zu: got %d", i, tr.succeeded);
		etcd_txn_result_clear(&tr);
	}
	/* LEASE against a real lease id */
	int64_t lid;
	OK(etcd_lease_grant(g.c, 30, 0, &lid, NULL, &ok_err));
	OK(etcd_put(g.c, "cas/l", "l", 1, lid, NULL, &ok_err));
	struct etcd_cmp lc = { .key = "cas/l", .target = ETCD_CMP_LEASE, .op = ETCD_EQUAL, .number = lid };
	assert_int_equal(etcd_txn(g.c, &lc, 1, NULL, 0, NULL, 0, &tr, &err), 0);
	assert_true(tr.succeeded);
	etcd_txn_result_clear(&tr);
	OK(etcd_lease_revoke(g.c, lid, &ok_err));
	/* VERSION GREATER on a prefix */
	struct etcd_cmp vc = { .key = "cas/", .prefix = true, .target = ETCD_CMP_VERSION,
			       .op = ETCD_GREATER, .number = 0 };
	struct etcd_op del = { .type = ETCD_OP_DELETE, .key = "cas/", .prefix = true };
	assert_int_equal(etcd_txn(g.c, &vc, 1, &del, 1, NULL, 0, &tr, &err), 0);
	assert_true(tr.succeeded);
	assert_int_equal(tr.results[0].deleted, 1);
	etcd_txn_result_clear(&tr);
}

static void test_lease(void **state)
{
	(void)state;
	NEED_ETCD();
	struct berr *err = NULL;
	struct etcd_kv kv;
	int64_t id, granted, ttl, g2;

	OK(etcd_lease_grant(g.c, 30, 0, &id, &granted, &ok_err));
	assert_true(id != 0);
	assert_int_equal(granted, 30);
	OK(etcd_put(g.c, "lease/k", "v", 1, id, NULL, &ok_err));
	assert_int_equal(etcd_get(g.c, "lease/k", &kv, NULL, &err), 1);
	assert_int_equal(kv.lease, id);
	etcd_kv_clear(&kv);
	OK(etcd_lease_ttl(g.c, id, &ttl, &g2, &ok_err));
	assert_true(ttl > 0 && ttl <= 30);
	assert_int_equal(g2, 30);
	OK(etcd_lease_keepalive(g.c, id, &ttl, &ok_err));
	assert_int_equal(ttl, 30);
	/* a chosen id */
	int64_t id2;
	OK(etcd_lease_grant(g.c, 30, 0x1234, &id2, NULL, &ok_err));
	assert_int_equal(id2, 0x1234);
	OK(etcd_lease_revoke(g.c, id2, &ok_err));

	OK(etcd_lease_revoke(g.c, id, &ok_err));
	assert_int_equal(etcd_get(g.c, "lease/k", &kv, NULL, &err), 0);
	assert_int_equal(etcd_lease_keepalive(g.c, id, &ttl, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), g.fx.url));
	berr_clear(&err);
	assert_int_equal(etcd_lease_ttl(g.c, id, &ttl, NULL, &err), -ENOENT);
	berr_clear(&err);
	assert_int_equal(etcd_lease_revoke(g.c, id, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "lease not found"));
	berr_clear(&err);
	/* a put on a lease that is gone is refused, naming etcd's reason */
	assert_int_equal(etcd_put(g.c, "lease/k", "v", 1, id, NULL, &err), -ENOENT);
	assert_non_null(strstr(berr_msg(err), "lease/k"));
	berr_clear(&err);
}

static void test_lease_expiry(void **state)
{
	(void)state;
	NEED_ETCD();
	struct berr *err = NULL;
	struct etcd_kv kv;
	int64_t id, granted, ttl;

	OK(etcd_lease_grant(g.c, 2, 0, &id, &granted, &ok_err));
	assert_true(granted >= 2 && granted <= 3);
	OK(etcd_put(g.c, "expiry/k", "v", 1, id, NULL, &ok_err));
	int64_t t0 = now_ms();
	int r;
	while ((r = etcd_get(g.c, "expiry/k", &kv, NULL, &err)) == 1) {
		etcd_kv_clear(&kv);
		assert_true(now_ms() - t0 < 10000);
		sleep_ms(100);
	}
	assert_int_equal(r, 0);
	/* not before the TTL (etcd may be a little late, never early) */
	assert_true(now_ms() - t0 >= 1500);
	assert_int_equal(etcd_lease_keepalive(g.c, id, &ttl, &err), -ENOENT);
	berr_clear(&err);
}

static void expect_event(const struct etcd_event *ev, enum etcd_event_type type, const char *key,
			 const char *value)
{
	assert_int_equal(ev->type, type);
	assert_string_equal(ev->kv.key, key);
	if (value)
		assert_string_equal(ev->kv.value, value);
	assert_true(ev->kv.mod_revision > 0);
}

static void test_watch_resume(void **state)
{
	(void)state;
	NEED_ETCD();
	struct etcd_watch *w;
	struct etcd_event *ev = NULL;
	size_t n = 0;
	int64_t start = current_revision() + 1;
	struct etcd_watch_opts wo = { .key = "watch/", .prefix = true, .start_revision = start,
				      .prev_kv = true };

	OK(etcd_watch_open(g.c, &wo, &w, &ok_err));
	assert_int_equal(etcd_watch_revision(w), start);
	/* these happen before the stream even opens: start_revision covers them */
	OK(etcd_put(g.c, "watch/a", "1", 1, 0, NULL, &ok_err));
	OK(etcd_put(g.c, "watch/b", "2", 1, 0, NULL, &ok_err));
	OK(etcd_put(g.c, "elsewhere", "x", 1, 0, NULL, &ok_err));
	OK(etcd_delete(g.c, "watch/a", false, NULL, &ok_err));
	assert_int_equal(wait_events(w, 3, 10000, &ev, &n), 3);
	expect_event(&ev[0], ETCD_EVENT_PUT, "watch/a", "1");
	assert_int_equal(ev[0].kv.mod_revision, start);
	expect_event(&ev[1], ETCD_EVENT_PUT, "watch/b", "2");
	expect_event(&ev[2], ETCD_EVENT_DELETE, "watch/a", NULL);
	assert_int_equal(ev[2].kv.mod_revision, ev[1].kv.mod_revision + 2);
	assert_string_equal(ev[2].prev_kv.value, "1"); /* prev_kv asked for */
	int64_t last = ev[2].kv.mod_revision;
	assert_int_equal(etcd_watch_revision(w), last + 1);
	etcd_events_free(ev, n);
	ev = NULL;
	n = 0;
	wait_established(w, true, 5000);

	/* etcd goes away; the watch notices */
	etcd_fixture_stop(&g.fx, SIGTERM);
	wait_established(w, false, 10000);
	/* back on the same data dir; changes land before the watch reconnects
	 * (it only works inside etcd_watch_poll, which is not called here) */
	etcd_fixture_start(&g.fx);
	OK(etcd_put(g.c, "watch/c", "3", 1, 0, NULL, &ok_err));
	OK(etcd_delete(g.c, "watch/b", false, NULL, &ok_err));
	assert_int_equal(wait_events(w, 2, 15000, &ev, &n), 2);
	expect_event(&ev[0], ETCD_EVENT_PUT, "watch/c", "3");
	assert_int_equal(ev[0].kv.mod_revision, last + 1);
	expect_event(&ev[1], ETCD_EVENT_DELETE, "watch/b", NULL);
	assert_int_equal(ev[1].kv.mod_revision, last + 2);
	etcd_events_free(ev, n);
	ev = NULL;
	n = 0;
	/* and it goes on live */
	wait_established(w, true, 5000);
	OK(etcd_put(g.c, "watch/d", "4", 1, 0, NULL, &ok_err));
	assert_int_equal(wait_events(w, 1, 5000, &ev, &n), 1);
	expect_event(&ev[0], ETCD_EVENT_PUT, "watch/d", "4");
	assert_int_equal(ev[0].kv.mod_revision, last + 3);
	etcd_events_free(ev, n);
	etcd_watch_close(w);
	OK(etcd_delete(g.c, "watch/", true, NULL, &ok_err));
}

/* A watch from "now" (no start revision) learns its revision from etcd. */
static void test_watch_now(void **state)
{
	(void)state;
	NEED_ETCD();
	struct etcd_watch *w;
	struct etcd_event *ev = NULL;
	size_t n = 0;
	struct etcd_watch_opts wo = { .key = "now/k" };

	OK(etcd_put(g.c, "now/k", "before", 6, 0, NULL, &ok_err));
	OK(etcd_watch_open(g.c, &wo, &w, &ok_err));
	assert_int_equal(etcd_watch_revision(w), 0);
	wait_established(w, true, 5000);
	int64_t cur = current_revision();
	assert_int_equal(etcd_watch_revision(w), cur + 1);
	OK(etcd_put(g.c, "now/kk", "other key", 9, 0, NULL, &ok_err));
	OK(etcd_put(g.c, "now/k", "after", 5, 0, NULL, &ok_err));
	assert_int_equal(wait_events(w, 1, 5000, &ev, &n), 1);
	expect_event(&ev[0], ETCD_EVENT_PUT, "now/k", "after");
	assert_int_equal(ev[0].kv.mod_revision, cur + 2);
	assert_int_equal(ev[0].kv.version, 2);
	etcd_events_free(ev, n);
	etcd_watch_close(w);
	OK(etcd_delete(g.c, "now/", true, NULL, &ok_err));
}

static void test_compaction(void **state)
{
	(void)state;
	NEED_ETCD();
	struct berr *err = NULL;
	int64_t r1, r2, r3;

	OK(etcd_put(g.c, "compact/k", "1", 1, 0, &r1, &ok_err));
	OK(etcd_put(g.c, "compact/k", "2", 1, 0, &r2, &ok_err));
	OK(etcd_put(g.c, "compact/k", "3", 1, 0, &r3, &ok_err));
	struct etcd_range_opts ro = { .revision = r1 };
	struct etcd_range_result res;
	OK(etcd_range(g.c, "compact/", &ro, &res, &ok_err));
	assert_string_equal(res.kvs[0].value, "1");
	etcd_range_result_clear(&res);

	OK(etcd_compact(g.c, r3, true, &ok_err));
	assert_int_equal(etcd_range(g.c, "compact/", &ro, &res, &err), -ERANGE);
	assert_non_null(strstr(berr_msg(err), "compacted"));
	assert_non_null(strstr(berr_msg(err), g.fx.url));
	berr_clear(&err);
	/* compacting again below the compacted revision is refused */
	assert_int_equal(etcd_compact(g.c, r2, false, &err), -ERANGE);
	berr_clear(&err);

	/* a watch from before the compaction fails with the compact revision */
	struct etcd_watch *w;
	struct etcd_watch_opts wo = { .key = "compact/", .prefix = true, .start_revision = r1 };
	OK(etcd_watch_open(g.c, &wo, &w, &ok_err));
	int64_t deadline = now_ms() + 5000;
	int r = 0;
	while (now_ms() < deadline) {
		struct pollfd p = { .fd = etcd_watch_fd(w), .events = POLLIN };
		struct etcd_event *ev;
		size_t k;

		poll(&p, 1, 100);
		r = etcd_watch_poll(w, &ev, &k, &err);
		assert_int_equal(k, 0);
		if (r < 0)
			break;
	}
	assert_int_equal(r, -ERANGE);
	assert_non_null(strstr(berr_msg(err), "compacted"));
	assert_int_equal(etcd_watch_compact_revision(w), r3);
	berr_clear(&err);
	/* the watch stays dead */
	struct etcd_event *ev;
	size_t k;
	assert_int_equal(etcd_watch_poll(w, &ev, &k, &err), -ERANGE);
	berr_clear(&err);
	etcd_watch_close(w);
	OK(etcd_delete(g.c, "compact/", true, NULL, &ok_err));
}

static void test_election(void **state)
{
	(void)state;
	NEED_ETCD();
	const char *eps[] = { g.fx.url, NULL };
	struct etcd *a, *b;
	struct berr *err = NULL;
	struct etcd_kv leader;
	int64_t la, lb;

	OK(etcd_open(eps, NULL, &a, &ok_err));
	OK(etcd_open(eps, NULL, &b, &ok_err));
	OK(etcd_lease_grant(a, 30, 0, &la, NULL, &ok_err));
	OK(etcd_lease_grant(b, 30, 0, &lb, NULL, &ok_err));
	/* b's lease is the younger one (higher id, later key in key order),
	 * but b campaigns first: the leader goes by create_revision */
	assert_true((uint64_t)lb > (uint64_t)la);
	assert_int_equal(etcd_election_leader(a, "elect", &leader, &err), 0);
	assert_int_equal(etcd_election_campaign(b, "elect", lb, "host-b", 6, &err), 1);
	assert_int_equal(etcd_election_campaign(a, "elect", la, "host-a", 6, &err), 0);
	/* campaigning again keeps the place */
	assert_int_equal(etcd_election_campaign(b, "elect", lb, "host-b", 6, &err), 1);
	assert_int_equal(etcd_election_campaign(a, "elect", la, "host-a", 6, &err), 0);
	assert_int_equal(etcd_election_is_leader(a, "elect", lb, &err), 1);
	assert_int_equal(etcd_election_is_leader(b, "elect", la, &err), 0);
	assert_int_equal(etcd_election_leader(a, "elect", &leader, &err), 1);
	assert_string_equal(leader.value, "host-b");
	assert_int_equal(leader.lease, lb);
	char want[64];
	snprintf(want, sizeof(want), "elect/%" PRIx64, (uint64_t)lb);
	assert_string_equal(leader.key, want);
	etcd_kv_clear(&leader);
	/* a campaign without a lease is refused */
	assert_int_equal(etcd_election_campaign(a, "elect", 0, "x", 1, &err), -EINVAL);
	berr_clear(&err);

	/* a watches the election and sees b's key go when b's lease is revoked */
	struct etcd_watch *w;
	struct etcd_event *ev = NULL;
	size_t n = 0;
	struct etcd_watch_opts wo = { .key = "elect/", .prefix = true, .start_revision = current_revision() + 1 };
	OK(etcd_watch_open(a, &wo, &w, &ok_err));
	OK(etcd_lease_revoke(b, lb, &ok_err));
	assert_int_equal(wait_events(w, 1, 5000, &ev, &n), 1);
	expect_event(&ev[0], ETCD_EVENT_DELETE, want, NULL);
	etcd_events_free(ev, n);
	etcd_watch_close(w);
	assert_int_equal(etcd_election_is_leader(a, "elect", la, &err), 1);
	assert_int_equal(etcd_election_leader(b, "elect", &leader, &err), 1);
	assert_string_equal(leader.value, "host-a");
	etcd_kv_clear(&leader);

	/* resign: no leader left; resigning twice is fine */
	OK(etcd_election_resign(a, "elect", la, &ok_err));
	OK(etcd_election_resign(a, "elect", la, &ok_err));
	assert_int_equal(etcd_election_leader(b, "elect", &leader, &err), 0);
	OK(etcd_lease_revoke(a, la, &ok_err));
	etcd_close(a);
	etcd_close(b);
}

static void test_failover(void **state)
{
	(void)state;
	NEED_ETCD();
	int dead_fd;
	int dead = free_port(&dead_fd); /* bound, not listening: refused */
	char dead_url[64];
	snprintf(dead_url, sizeof(dead_url), "127.0.0.1:%d", dead);
	const char *eps[] = { dead_url, g.fx.url, NULL };
	struct etcd *c;
	struct berr *err = NULL;
	struct etcd_kv kv;

	OK(etcd_open(eps, NULL, &c, &ok_err));
	char want_dead[80];
	snprintf(want_dead, sizeof(want_dead), "http://%s", dead_url);
	assert_string_equal(etcd_endpoint(c), want_dead);
	OK(etcd_put(c, "failover/k", "v", 1, 0, NULL, &ok_err));
	assert_string_equal(etcd_endpoint(c), g.fx.url); /* sticks to the one that answered */
	assert_int_equal(etcd_get(c, "failover/k", &kv, NULL, &err), 1);
	etcd_kv_clear(&kv);

	/* a watch starts on the dead endpoint too (the client's current one is
	 * now the live one: use a fresh client) */
	struct etcd *c2;
	OK(etcd_open(eps, NULL, &c2, &ok_err));
	struct etcd_watch *w;
	struct etcd_event *ev = NULL;
	size_t n = 0;
	struct etcd_watch_opts wo = { .key = "failover/k", .start_revision = current_revision() + 1 };
	OK(etcd_watch_open(c2, &wo, &w, &ok_err));
	etcd_close(c2); /* the watch does not need its client */
	OK(etcd_put(g.c, "failover/k", "w", 1, 0, NULL, &ok_err));
	assert_int_equal(wait_events(w, 1, 5000, &ev, &n), 1);
	expect_event(&ev[0], ETCD_EVENT_PUT, "failover/k", "w");
	etcd_events_free(ev, n);
	etcd_watch_close(w);

	/* only dead endpoints: a quick error that names the endpoint */
	const char *deads[] = { dead_url, NULL };
	struct etcd_opts o = { .timeout_ms = 1000 };
	OK(etcd_open(deads, &o, &c2, &ok_err));
	int64_t t0 = now_ms();
	assert_int_equal(etcd_get(c2, "failover/k", &kv, NULL, &err), -ECONNREFUSED);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(berr_msg(err), want_dead));
	berr_clear(&err);
	etcd_close(c2);
	close(dead_fd);
	etcd_close(c);
	OK(etcd_delete(g.c, "failover/", true, NULL, &ok_err));
}

static void test_open_errors(void **state)
{
	(void)state;
	struct etcd *c = NULL;
	struct berr *err = NULL;
	const char *none[] = { NULL };
	const char *empty[] = { "", NULL };

	assert_int_equal(etcd_open(none, NULL, &c, &err), -EINVAL);
	berr_clear(&err);
	assert_int_equal(etcd_open(empty, NULL, &c, &err), -EINVAL);
	berr_clear(&err);
	const char *slash[] = { "https://etcd-a:2379/", NULL };
	assert_int_equal(etcd_open(slash, NULL, &c, &err), 0);
	assert_string_equal(etcd_endpoint(c), "https://etcd-a:2379");
	etcd_close(c);
}

/* ---- parsers, no etcd needed ---- */

static void test_parse_range(void **state)
{
	(void)state;
	struct etcd_range_result r;
	struct berr *err = NULL;
	const char *ok = "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"YS8x\",\"create_revision\":\"2\","
			 "\"mod_revision\":\"5\",\"version\":\"3\",\"value\":\"djE=\",\"lease\":\"99\"},"
			 "{\"key\":\"YS8y\"}],\"more\":true,\"count\":\"4\"}";

	assert_int_equal(etcd_parse_range_response(ok, strlen(ok), &r, &err), 0);
	assert_int_equal(r.revision, 7);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.count, 4);
	assert_true(r.more);
	assert_string_equal(r.kvs[0].key, "a/1");
	assert_string_equal(r.kvs[0].value, "v1");
	assert_int_equal(r.kvs[0].create_revision, 2);
	assert_int_equal(r.kvs[0].mod_revision, 5);
	assert_int_equal(r.kvs[0].version, 3);
	assert_int_equal(r.kvs[0].lease, 99);
	assert_string_equal(r.kvs[1].key, "a/2");
	assert_int_equal(r.kvs[1].value_len, 0);
	etcd_range_result_clear(&r);

	static const struct {
		const char *body, *msg;
	} bad[] = {
		{ "{\"kvs\":[{\"key\":\"!!\"}],\"count\":\"1\"}", "kvs[0].key: not base64" },
		{ "{\"kvs\":[{\"key\":\"YQ==\",\"version\":\"x1\"}],\"count\":\"1\"}", "kvs[0].version: \"x1\" is not an int64" },
		{ "{\"kvs\":[{\"key\":\"YQ==\"}]}", "count 0 is less than the 1 kvs" },
		{ "{\"kvs\":{}}", "kvs: expected array, got object" },
		{ "[1]", "expected object, got array" },
		{ "{\"header\":{\"revision\":true}}", "header.revision: expected int64 string, got boolean" },
		{ "{\"more\":\"yes\"}", "more: expected boolean" },
		{ "{", "not JSON" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(etcd_parse_range_response(bad[i].body, strlen(bad[i].body), &r, &err), -EPROTO);
		if (!strstr(berr_msg(err), bad[i].msg))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].body, berr_msg(err), bad[i].msg);
		assert_null(r.kvs);
		berr_clear(&err);
	}
}

static void test_parse_txn(void **state)
{
	(void)state;
	struct etcd_txn_result t;
	struct berr *err = NULL;
	const char *ok = "{\"header\":{\"revision\":\"4\"},\"succeeded\":true,\"responses\":[{\"response_put\":"
			 "{\"header\":{\"revision\":\"4\"}}},{\"response_delete_range\":{\"deleted\":\"2\"}},"
			 "{\"response_range\":{\"kvs\":[{\"key\":\"eA==\",\"value\":\"eQ==\"}],\"count\":\"1\"}}]}";

	assert_int_equal(etcd_parse_txn_response(ok, strlen(ok), &t, &err), 0);
	assert_true(t.succeeded);
	assert_int_equal(t.revision, 4);
	assert_int_equal(t.n, 3);
	assert_int_equal(t.results[0].type, ETCD_OP_PUT);
	assert_int_equal(t.results[1].type, ETCD_OP_DELETE);
	assert_int_equal(t.results[1].deleted, 2);
	assert_int_equal(t.results[2].type, ETCD_OP_RANGE);
	assert_string_equal(t.results[2].kvs[0].key, "x");
	assert_string_equal(t.results[2].kvs[0].value, "y");
	etcd_txn_result_clear(&t);
	/* succeeded false is left out by the gateway */
	const char *failed = "{\"header\":{\"revision\":\"9\"}}";
	assert_int_equal(etcd_parse_txn_response(failed, strlen(failed), &t, &err), 0);
	assert_false(t.succeeded);
	assert_int_equal(t.n, 0);
	etcd_txn_result_clear(&t);
	const char *nested = "{\"responses\":[{\"response_put\":{}},{\"response_txn\":{}}]}";
	assert_int_equal(etcd_parse_txn_response(nested, strlen(nested), &t, &err), -EPROTO);
	assert_non_null(strstr(berr_msg(err), "responses[1]: unknown response \"response_txn\""));
	assert_null(t.results);
	berr_clear(&err);
	const char *bad = "{\"responses\":[{\"response_range\":{\"kvs\":[{\"key\":1}],\"count\":\"1\"}}]}";
	assert_int_equal(etcd_parse_txn_response(bad, strlen(bad), &t, &err), -EPROTO);
	assert_non_null(strstr(berr_msg(err), "responses[0].response_range.kvs[0].key: expected base64 string"));
	berr_clear(&err);
}

static const char stream_text[] =
	"{\"result\":{\"header\":{\"revision\":\"4\"},\"created\":true}}\n"
	"{\"result\":{\"header\":{\"revision\":\"6\"},\"events\":[{\"kv\":{\"key\":\"YS8y\",\"create_revision\":\"5\","
	"\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"djI=\"}},{\"type\":\"DELETE\",\"kv\":{\"key\":\"YS8y\","
	"\"mod_revision\":\"6\"},\"prev_kv\":{\"key\":\"YS8y\",\"value\":\"djI=\"}}]}}\n"
	"\n"
	"{\"result\":{\"header\":{\"revision\":\"9\"}}}\n"
	"{\"result\":{\"header\":{\"revision\":\"10\"},\"events\":[{\"type\":\"PUT\",\"kv\":{\"key\":\"YQ==\","
	"\"mod_revision\":\"10\"}}]}}\n";

static void test_parse_watch_stream(void **state)
{
	(void)state;
	size_t len = strlen(stream_text);

	/* every cut of the text into two pieces gives the same events */
	for (size_t cut = 0; cut <= len; cut++) {
		struct etcd_watch_stream *s = etcd_watch_stream_new(0);
		struct berr *err = NULL;
		struct etcd_event *ev;

		assert_int_equal(etcd_watch_stream_feed(s, stream_text, cut, &err), 0);
		assert_int_equal(etcd_watch_stream_feed(s, stream_text + cut, len - cut, &err), 0);
		assert_true(etcd_watch_stream_created(s));
		size_t n = etcd_watch_stream_take(s, &ev);
		assert_int_equal(n, 3);
		assert_int_equal(ev[0].type, ETCD_EVENT_PUT);
		assert_string_equal(ev[0].kv.key, "a/2");
		assert_string_equal(ev[0].kv.value, "v2");
		assert_int_equal(ev[1].type, ETCD_EVENT_DELETE);
		assert_int_equal(ev[1].kv.mod_revision, 6);
		assert_string_equal(ev[1].prev_kv.value, "v2");
		assert_int_equal(ev[2].type, ETCD_EVENT_PUT);
		assert_int_equal(ev[2].kv.mod_revision, 10);
		assert_int_equal(etcd_watch_stream_next(s), 11);
		etcd_events_free(ev, n);
		etcd_watch_stream_free(s);
	}
	/* created from "now": next is header revision + 1; a progress
	 * notification advances it */
	struct etcd_watch_stream *s = etcd_watch_stream_new(0);
	struct berr *err = NULL;
	const char *m1 = "{\"result\":{\"header\":{\"revision\":\"4\"},\"created\":true}}\n";
	const char *m2 = "{\"result\":{\"header\":{\"revision\":\"8\"}}}\n";
	assert_int_equal(etcd_watch_stream_feed(s, m1, strlen(m1), &err), 0);
	assert_int_equal(etcd_watch_stream_next(s), 5);
	assert_int_equal(etcd_watch_stream_feed(s, m2, strlen(m2), &err), 0);
	assert_int_equal(etcd_watch_stream_next(s), 9);
	/* a partial line is kept until reset */
	assert_int_equal(etcd_watch_stream_feed(s, "{\"res", 5, &err), 0);
	etcd_watch_stream_reset(s);
	assert_false(etcd_watch_stream_created(s));
	assert_int_equal(etcd_watch_stream_feed(s, m2, strlen(m2), &err), 0);
	etcd_watch_stream_free(s);

	/* compaction, cancel, errors, disorder, size */
	static const struct {
		const char *text;
		int rc;
		const char *msg;
	} bad[] = {
		{ "{\"result\":{\"canceled\":true,\"compact_revision\":\"3\"}}\n", -ERANGE, "compacted (oldest kept: 3)" },
		{ "{\"result\":{\"canceled\":true,\"cancel_reason\":\"why\"}}\n", -ECANCELED, "cancelled by etcd: why" },
		{ "{\"error\":{\"grpc_code\":3,\"message\":\"bad\"}}\n", -EPROTO, "bad (code 3)" },
		{ "{\"error\":{\"grpc_code\":14,\"message\":\"closing\"}}\n", -EAGAIN, "closing (code 14)" },
		{ "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"9\"}},"
		  "{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"8\"}}]}}\n", -EPROTO, "revision 8 after 9" },
		{ "{\"result\":{\"events\":[{\"type\":\"MOVE\",\"kv\":{}}]}}\n", -EPROTO, "result.events[0].type: unknown" },
		{ "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\"}}]}}\n", -EPROTO, "mod_revision: missing" },
		{ "{}\n", -EPROTO, "neither result nor error" },
		{ "nonsense\n", -EPROTO, "not JSON" },
		{ "{\"result\":{\"events\":[]}}{\"result\":{}}\n", -EPROTO, "not JSON" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = etcd_watch_stream_new(0);
		etcd_watch_stream_set_next(s, 2);
		assert_int_equal(etcd_watch_stream_feed(s, bad[i].text, strlen(bad[i].text), &err), bad[i].rc);
		if (!strstr(berr_msg(err), bad[i].msg))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, berr_msg(err), bad[i].msg);
		berr_clear(&err);
		struct etcd_event *ev;
		assert_int_equal(etcd_watch_stream_take(s, &ev), 0);
		assert_null(ev);
		etcd_watch_stream_free(s);
	}
	/* a line over the limit */
	s = etcd_watch_stream_new(16);
	assert_int_equal(etcd_watch_stream_feed(s, "0123456789", 10, &err), 0);
	assert_int_equal(etcd_watch_stream_feed(s, "0123456789", 10, &err), -EPROTO);
	assert_non_null(strstr(berr_msg(err), "longer than 16 bytes"));
	berr_clear(&err);
	/* and nothing is accepted after a failure */
	assert_int_equal(etcd_watch_stream_feed(s, "\n", 1, &err), -EPROTO);
	berr_clear(&err);
	etcd_watch_stream_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_parse_txn),
		cmocka_unit_test(test_parse_watch_stream),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_cas),
		cmocka_unit_test(test_lease),
		cmocka_unit_test(test_lease_expiry),
		cmocka_unit_test(test_watch_now),
		cmocka_unit_test(test_election),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_compaction),
		cmocka_unit_test(test_watch_resume),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
