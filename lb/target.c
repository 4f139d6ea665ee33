/* lb/target.c - see target.h. */
#include "lb/target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/xalloc.h"

#define NOT_IN_HEAP SIZE_MAX

void lb_tg_config_default(struct lb_tg_config *c, enum lb_hc_protocol protocol)
{
	memset(c, 0, sizeof(*c));
	c->algorithm = LB_ROUND_ROBIN;
	c->deregistration_delay_ms = 300000;
	c->hc.protocol = protocol;
	strcpy(c->hc.path, "/");
	c->hc.interval_ms = 30000;
	c->hc.timeout_ms = protocol == LB_HC_HTTP ? 5000 : 10000;
	c->hc.healthy_threshold = 5;
	c->hc.unhealthy_threshold = 2;
	c->hc.matcher.n = 1;
	c->hc.matcher.r[0].lo = c->hc.matcher.r[0].hi = 200;
}

static int code_of(const char *s, size_t n, uint16_t *out)
{
	if (n != 3)
		return -1;
	for (size_t i = 0; i < 3; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	*out = (uint16_t)((s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0'));
	return *out >= 200 && *out <= 499 ? 0 : -1;
}

int lb_hc_matcher_parse(const char *s, struct lb_hc_matcher *m, struct berr **err)
{
	const char *p = s;

	memset(m, 0, sizeof(*m));
	for (;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *dash = memchr(p, '-', n);
		uint16_t lo, hi;

		if (m->n == LB_MATCHER_MAX)
			return berr_set(err, EINVAL, "matcher \"%s\": more than %d parts", berr_q(s),
					LB_MATCHER_MAX);
		if (dash) {
			if (code_of(p, (size_t)(dash - p), &lo) < 0 ||
			    code_of(dash + 1, n - (size_t)(dash - p) - 1, &hi) < 0 || lo > hi)
				return berr_set(err, EINVAL, "matcher \"%s\": \"%s\" is not a range of "
						"codes 200-499", berr_q(s), berr_qn(p, n));
		} else if (code_of(p, n, &lo) < 0) {
			return berr_set(err, EINVAL, "matcher \"%s\": \"%s\" is not a code 200-499",
					berr_q(s), berr_qn(p, n));
		} else {
			hi = lo;
		}
		m->r[m->n].lo = lo;
		m->r[m->n].hi = hi;
		m->n++;
		if (!end)
			return 0;
		p = end + 1;
	}
}

bool lb_hc_matcher_match(const struct lb_hc_matcher *m, int status)
{
	for (size_t i = 0; i < m->n; i++)
		if (status >= m->r[i].lo && status <= m->r[i].hi)
			return true;
	return false;
}

int lb_tg_config_check(const struct lb_tg_config *c, struct berr **err)
{
	const struct lb_hc_config *h = &c->hc;

	if (h->interval_ms < 5000 || h->interval_ms > 300000)
		return berr_set(err, EINVAL, "HealthCheckIntervalSeconds: out of range [5, 300]");
	if (h->timeout_ms < 2000 || h->timeout_ms > 120000)
		return berr_set(err, EINVAL, "HealthCheckTimeoutSeconds: out of range [2, 120]");
	if (h->timeout_ms >= h->interval_ms)
		return berr_set(err, EINVAL, "HealthCheckTimeoutSeconds: must be less than "
				"HealthCheckIntervalSeconds");
	if (h->healthy_threshold < 2 || h->healthy_threshold > 10)
		return berr_set(err, EINVAL, "HealthyThresholdCount: out of range [2, 10]");
	if (h->unhealthy_threshold < 2 || h->unhealthy_threshold > 10)
		return berr_set(err, EINVAL, "UnhealthyThresholdCount: out of range [2, 10]");
	if (c->deregistration_delay_ms > 3600000)
		return berr_set(err, EINVAL, "deregistration_delay.timeout_seconds: out of range [0, 3600]");
	if (h->protocol == LB_HC_HTTP) {
		if (h->path[0] != '/')
			return berr_set(err, EINVAL, "HealthCheckPath: must start with /");
		for (const char *p = h->path; *p; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
				return berr_set(err, EINVAL, "HealthCheckPath: space or control character");
		if (h->matcher.n == 0)
			return berr_set(err, EINVAL, "Matcher.HttpCode: required");
	}
	if (c->algorithm != LB_ROUND_ROBIN && c->algorithm != LB_LEAST_OUTSTANDING)
		return berr_set(err, EINVAL, "load_balancing.algorithm.type: unknown");
	return 0;
}

int lb_parse_ipport(const char *s, int *family, uint8_t addr[16], uint16_t *port)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t n;
	long v;
	char *end;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - s - 1);
		if (n >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			return -EINVAL;
		*family = AF_INET6;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (n = (size_t)(colon - s)) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, n);
		host[n] = '\0';
		memset(addr, 0, 16);
		if (inet_pton(AF_INET, host, addr) != 1)
			return -EINVAL;
		*family = AF_INET;
	}
	if (colon[1] < '1' || colon[1] > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (*end || errno || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int lb_tg_init(struct lb_target_group *tg, const struct lb_tg_config *cfg, struct berr **err)
{
	int r;

	memset(tg, 0, sizeof(*tg));
	if ((r = lb_tg_config_check(cfg, err)) < 0)
		return r;
	tg->cfg = *cfg;
	return 0;
}

void lb_tg_destroy(struct lb_target_group *tg)
{
	free(tg->t);
	free(tg->rr);
	free(tg->heap);
	memset(tg, 0, sizeof(*tg));
}

static bool same(const struct lb_target *t, int family, const uint8_t *addr, uint16_t port)
{
	return t->family == family && t->port == port &&
	       memcmp(t->addr, addr, family == AF_INET ? 4 : 16) == 0;
}

static int find(const struct lb_target_group *tg, int family, const uint8_t *addr, uint16_t port)
{
	for (size_t i = 0; i < tg->n; i++)
		if (tg->t[i].state != LB_TARGET_UNUSED && same(&tg->t[i], family, addr, port))
			return (int)i;
	return -1;
}

int lb_tg_find(const struct lb_target_group *tg, const char *ipport)
{
	int family;
	uint8_t addr[16];
	uint16_t port;

	if (lb_parse_ipport(ipport, &family, addr, &port) < 0)
		return -1;
	return find(tg, family, addr, port);
}

static void start_initial(struct lb_target_group *tg, struct lb_target *t, uint64_t now)
{
	t->state = LB_TARGET_INITIAL;
	t->reason = LB_REASON_REGISTRATION_IN_PROGRESS;
	t->successes = t->failures = 0;
	t->probing = false;
	t->probe_seq++;
	t->next_probe = now;
	tg->dirty = true;
}

int lb_tg_register(struct lb_target_group *tg, const char *ipport, uint64_t now, struct berr **err)
{
	int family, i;
	uint8_t addr[16];
	uint16_t port;
	struct lb_target *t = NULL;

	if (lb_parse_ipport(ipport, &family, addr, &port) < 0)
		return berr_set(err, EINVAL, "target \"%s\": not ip:port", berr_q(ipport));
	i = find(tg, family, addr, port);
	if (i >= 0) {
		if (tg->t[i].state != LB_TARGET_DRAINING)
			return berr_set(err, EEXIST, "target %s: already registered", ipport);
		start_initial(tg, &tg->t[i], now);
		return i;
	}
	for (size_t k = 0; k < tg->n; k++)
		if (tg->t[k].state == LB_TARGET_UNUSED && tg->t[k].outstanding == 0) {
			t = &tg->t[k];
			break;
		}
	if (!t) {
		if (tg->n == tg->cap) {
			tg->cap = tg->cap ? tg->cap * 2 : 8;
			tg->t = xreallocarray(tg->t, tg->cap, sizeof(*tg->t));
			tg->rr = xreallocarray(tg->rr, tg->cap, sizeof(*tg->rr));
			tg->heap = xreallocarray(tg->heap, tg->cap, sizeof(*tg->heap));
		}
		t = &tg->t[tg->n++];
		memset(t, 0, sizeof(*t));
	}
	{
		uint32_t seq = t->probe_seq, gen = t->gen;

		memset(t, 0, sizeof(*t));
		t->probe_seq = seq;
		t->gen = gen + 1;
	}
	t->family = family;
	memcpy(t->addr, addr, 16);
	t->port = port;
	t->heap_pos = NOT_IN_HEAP;
	start_initial(tg, t, now);
	return (int)(t - tg->t);
}

static void unuse(struct lb_target_group *tg, struct lb_target *t)
{
	t->state = LB_TARGET_UNUSED;
	t->reason = LB_REASON_NONE;
	t->probing = false;
	tg->dirty = true;
}

int lb_tg_deregister(struct lb_target_group *tg, size_t idx, uint64_t now)
{
	struct lb_target *t;

	if (idx >= tg->n || tg->t[idx].state == LB_TARGET_UNUSED)
		return -ENOENT;
	t = &tg->t[idx];
	if (t->state == LB_TARGET_DRAINING)
		return 0;
	t->state = LB_TARGET_DRAINING;
	t->reason = LB_REASON_DEREGISTRATION;
	t->probing = false;
	t->probe_seq++;
	t->drain_until = now + tg->cfg.deregistration_delay_ms;
	tg->dirty = true;
	/* ELBv2 completes a deregistration at once when nothing is in flight */
	if (t->outstanding == 0)
		unuse(tg, t);
	return 0;
}

static bool probed(const struct lb_target *t)
{
	return t->state == LB_TARGET_INITIAL || t->state == LB_TARGET_HEALTHY ||
	       t->state == LB_TARGET_UNHEALTHY;
}

static void record(struct lb_target_group *tg, struct lb_target *t, bool ok,
		   enum lb_target_reason why)
{
	const struct lb_hc_config *h = &tg->cfg.hc;

	if (ok) {
		t->failures = 0;
		t->successes++;
		if (t->state != LB_TARGET_HEALTHY && t->successes >= h->healthy_threshold) {
			t->state = LB_TARGET_HEALTHY;
			t->reason = LB_REASON_NONE;
			tg->dirty = true;
		}
	} else {
		t->successes = 0;
		t->failures++;
		if (t->state != LB_TARGET_UNHEALTHY && t->failures >= h->unhealthy_threshold) {
			t->state = LB_TARGET_UNHEALTHY;
			tg->dirty = true;
		}
		if (t->state == LB_TARGET_UNHEALTHY)
			t->reason = why;
	}
}

size_t lb_tg_due(struct lb_target_group *tg, uint64_t now, struct lb_probe *out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < tg->n; i++) {
		struct lb_target *t = &tg->t[i];

		if (t->state == LB_TARGET_DRAINING && now >= t->drain_until) {
			unuse(tg, t);
			continue;
		}
		if (!probed(t))
			continue;
		if (t->probing && now >= t->probe_deadline) {
			t->probing = false;
			record(tg, t, false, LB_REASON_TIMEOUT);
		}
		if (!t->probing && now >= t->next_probe && k < max) {
			t->probing = true;
			t->probe_seq++;
			t->probe_deadline = now + tg->cfg.hc.timeout_ms;
			t->next_probe = now + tg->cfg.hc.interval_ms;
			out[k].target = i;
			out[k].seq = t->probe_seq;
			k++;
		}
	}
	return k;
}

void lb_tg_probe_result(struct lb_target_group *tg, size_t idx, uint32_t seq, uint64_t now,
			int outcome)
{
	struct lb_target *t;
	bool ok;
	enum lb_target_reason why = LB_REASON_FAILED_HEALTH_CHECKS;

	if (idx >= tg->n)
		return;
	t = &tg->t[idx];
	if (!probed(t) || !t->probing || t->probe_seq != seq)
		return;
	t->probing = false;
	if (now >= t->probe_deadline) {
		ok = false;
		why = LB_REASON_TIMEOUT;
	} else if (tg->cfg.hc.protocol == LB_HC_TCP) {
		ok = outcome == LB_PROBE_CONNECTED;
	} else if (outcome >= 100) {
		ok = lb_hc_matcher_match(&tg->cfg.hc.matcher, outcome);
		why = LB_REASON_RESPONSE_CODE_MISMATCH;
	} else {
		ok = false;
	}
	record(tg, t, ok, why);
}

uint64_t lb_tg_expire_drains(struct lb_target_group *tg, uint64_t now)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < tg->n; i++) {
		struct lb_target *t = &tg->t[i];

		if (t->state != LB_TARGET_DRAINING)
			continue;
		if (now >= t->drain_until)
			unuse(tg, t);
		else if (t->drain_until < next)
			next = t->drain_until;
	}
	return next;
}

int lb_tg_set_health(struct lb_target_group *tg, size_t idx, enum lb_target_state state,
		     enum lb_target_reason reason)
{
	struct lb_target *t;

	if (idx >= tg->n)
		return -ENOENT;
	t = &tg->t[idx];
	if (!probed(t) || (state != LB_TARGET_INITIAL && state != LB_TARGET_HEALTHY &&
			   state != LB_TARGET_UNHEALTHY))
		return -EINVAL;
	if (t->state != state)
		tg->dirty = true;
	t->state = state;
	t->reason = reason;
	return 0;
}

uint64_t lb_tg_next_event(const struct lb_target_group *tg)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < tg->n; i++) {
		const struct lb_target *t = &tg->t[i];
		uint64_t at = UINT64_MAX;

		if (t->state == LB_TARGET_DRAINING)
			at = t->drain_until;
		else if (probed(t))
			at = t->probing ? t->probe_deadline : t->next_probe;
		if (at < next)
			next = at;
	}
	return next;
}

/* ---------------------------------------------------------------- pickers */

static bool heap_less(const struct lb_target_group *tg, size_t a, size_t b)
{
	uint32_t x = tg->t[tg->heap[a]].outstanding, y = tg->t[tg->heap[b]].outstanding;

	return x < y || (x == y && tg->heap[a] < tg->heap[b]);
}

static void heap_swap(struct lb_target_group *tg, size_t a, size_t b)
{
	size_t x = tg->heap[a];

	tg->heap[a] = tg->heap[b];
	tg->heap[b] = x;
	tg->t[tg->heap[a]].heap_pos = a;
	tg->t[tg->heap[b]].heap_pos = b;
}

static void sift_down(struct lb_target_group *tg, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < tg->n_heap && heap_less(tg, l, m))
			m = l;
		if (r < tg->n_heap && heap_less(tg, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(tg, i, m);
		i = m;
	}
}

static void sift_up(struct lb_target_group *tg, size_t i)
{
	while (i > 0 && heap_less(tg, i, (i - 1) / 2)) {
		heap_swap(tg, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void rebuild(struct lb_target_group *tg)
{
	tg->n_rr = 0;
	for (size_t i = 0; i < tg->n; i++) {
		tg->t[i].heap_pos = NOT_IN_HEAP;
		if (tg->t[i].state == LB_TARGET_HEALTHY)
			tg->rr[tg->n_rr++] = i;
	}
	tg->fail_open = tg->n_rr == 0;
	if (tg->fail_open)
		for (size_t i = 0; i < tg->n; i++)
			if (tg->t[i].state == LB_TARGET_INITIAL || tg->t[i].state == LB_TARGET_UNHEALTHY)
				tg->rr[tg->n_rr++] = i;
	if (tg->rr_next >= tg->n_rr)
		tg->rr_next = 0;
	tg->n_heap = tg->n_rr;
	for (size_t k = 0; k < tg->n_heap; k++) {
		tg->heap[k] = tg->rr[k];
		tg->t[tg->heap[k]].heap_pos = k;
	}
	for (size_t k = tg->n_heap / 2; k-- > 0;)
		sift_down(tg, k);
	tg->dirty = false;
}

int lb_tg_pick(struct lb_target_group *tg)
{
	size_t idx;

	if (tg->dirty)
		rebuild(tg);
	if (tg->n_rr == 0)
		return -1;
	if (tg->cfg.algorithm == LB_LEAST_OUTSTANDING) {
		idx = tg->heap[0];
		tg->t[idx].outstanding++;
		sift_down(tg, 0);
	} else {
		idx = tg->rr[tg->rr_next];
		if (++tg->rr_next == tg->n_rr)
			tg->rr_next = 0;
		tg->t[idx].outstanding++;
	}
	return (int)idx;
}

void lb_tg_release(struct lb_target_group *tg, size_t idx)
{
	struct lb_target *t;

	if (idx >= tg->n || tg->t[idx].outstanding == 0)
		return;
	t = &tg->t[idx];
	t->outstanding--;
	if (!tg->dirty && t->heap_pos != NOT_IN_HEAP)
		sift_up(tg, t->heap_pos);
	if (t->state == LB_TARGET_DRAINING && t->outstanding == 0)
		unuse(tg, t);
}

const char *lb_target_state_name(enum lb_target_state s)
{
	switch (s) {
	case LB_TARGET_UNUSED:
		return "unused";
	case LB_TARGET_INITIAL:
		return "initial";
	case LB_TARGET_HEALTHY:
		return "healthy";
	case LB_TARGET_UNHEALTHY:
		return "unhealthy";
	case LB_TARGET_DRAINING:
		return "draining";
	}
	return "?";
}

const char *lb_target_reason_name(enum lb_target_reason r)
{
	switch (r) {
	case LB_REASON_NONE:
		return "";
	case LB_REASON_REGISTRATION_IN_PROGRESS:
		return "Elb.RegistrationInProgress";
	case LB_REASON_FAILED_HEALTH_CHECKS:
		return "Target.FailedHealthChecks";
	case LB_REASON_TIMEOUT:
		return "Target.Timeout";
	case LB_REASON_RESPONSE_CODE_MISMATCH:
		return "Target.ResponseCodeMismatch";
	case LB_REASON_DEREGISTRATION:
		return "Target.DeregistrationInProgress";
	}
	return "?";
}

int lb_weighted_pick(const uint32_t *weight, size_t n, uint64_t r)
{
	uint64_t total = 0, x;

	for (size_t i = 0; i < n; i++)
		total += weight[i];
	if (total == 0)
		return -1;
	/* r * total / 2^64: uniform over [0, total) without modulo bias to speak of */
	x = (uint64_t)(((unsigned __int128)r * total) >> 64);
	for (size_t i = 0; i < n; i++) {
		if (x < weight[i])
			return (int)i;
		x -= weight[i];
	}
	return (int)(n - 1);
}
