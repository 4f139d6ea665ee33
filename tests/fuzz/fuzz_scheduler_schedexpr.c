/* fuzz_scheduler_schedexpr: schedule expressions (scheduler/schedexpr.c).
 *
 * Input: an expression (bytes up to the first NUL); after the NUL, 8 bytes
 * choose the time to start from and 1 byte the test clock's seconds per
 * minute, when present.
 * Invariants: no crash, leak or sanitizer report; a refusal has a message
 * that starts with the quoted expression (or is one of the whole-input
 * errors); an accepted expression keeps its text, and its fire times
 * strictly increase: next(t) > t, next(next(t) - 1) == next(t), nothing
 * fires at or after 2200; the missed-runs decision stays inside
 * (last_fire, now] and agrees between the two policies. */
#include "common/error.h"
#include "scheduler/schedexpr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = strndup((const char *)data, size);
	size_t len = strlen(text);
	struct sched_expr *e = NULL;
	struct berr *err = NULL;
	int64_t after = 1800000000;   /* 2027-01-15 */
	struct sched_expr_clock clk = { .anchor = 1790000000, .seconds_per_minute = 60 };

	if (len + 1 + 8 <= size) {
		uint64_t u;

		memcpy(&u, data + len + 1, 8);
		after = (int64_t)(u % (uint64_t)(SCHED_EXPR_TIME_END + 86400));   /* 1970 .. just past 2200 */
		if (len + 1 + 9 <= size)
			clk.seconds_per_minute = data[len + 9] % 61;
	}
	if (sched_expr_parse(text, &e, &err) < 0) {
		const char *m = berr_msg(err);

		check(e == NULL && err && m[0]);
		if (len == 0) {
			check(strncmp(m, "empty schedule expression", 25) == 0);
		} else if (len > SCHED_EXPR_MAX_LEN) {
			check(strncmp(m, "schedule expression is ", 23) == 0);
		} else {
			const char *q = berr_q(text);

			check(strncmp(m, q, strlen(q)) == 0 || (m[0] == '"' && strncmp(m + 1, q, strlen(q)) == 0));
		}
		berr_free(err);
		free(text);
		return 0;
	}
	check(strcmp(sched_expr_text(e), text) == 0);
	for (int scaled = 0; scaled < 2; scaled++) {
		const struct sched_expr_clock *c = scaled ? &clk : NULL;
		int64_t t = after;

		for (int k = 0; k < 4; k++) {
			int64_t n = sched_expr_next(e, t, c);

			if (n == SCHED_EXPR_NEVER)
				break;
			check(n > t && n < SCHED_EXPR_TIME_END);
			check(sched_expr_next(e, n - 1, c) == n);
			t = n;
		}
		/* an outage of up to ~5.5 hours */
		int64_t now = after + (int64_t)(after % 20000), first = sched_expr_next(e, after, c);
		struct sched_expr_due a, b;

		sched_expr_due(e, c, after, now, SCHED_EXPR_SKIP_MISSED, 60, &a);
		sched_expr_due(e, c, after, now, SCHED_EXPR_RUN_ONCE, 60, &b);
		check(a.last_fire == b.last_fire && a.next == b.next);
		check(a.last_fire >= after && a.last_fire <= (now > after ? now : after));
		check(a.next == SCHED_EXPR_NEVER || a.next > now);
		check(b.run == (first != SCHED_EXPR_NEVER && first <= now));
		if (b.run) {
			check(b.fire_time == b.last_fire && b.fire_time > after && b.fire_time <= now);
			check(a.run ? a.missed == b.missed : a.missed == b.missed + 1 || b.missed == SCHED_EXPR_COUNT_MAX);
		} else {
			check(!a.run && a.missed == 0 && b.missed == 0);
		}
	}
	sched_expr_free(e);
	free(text);
	return 0;
}
