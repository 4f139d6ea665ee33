/* tests/unit/scheduler/test_schedexpr.c - EventBridge schedule expressions:
 * the next fire times of valid ones (expected times written by hand from the
 * calendar, converted with libc's timegm, not with the code under test), the
 * exact error of invalid ones, the scaled test clock and the missed-runs
 * policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/error.h"
#include "scheduler/schedexpr.h"

/* "2026-11-21T22:10:00" (UTC) -> seconds; "never" -> SCHED_EXPR_NEVER */
static int64_t T(const char *s)
{
	struct tm tm = { 0 };

	if (strcmp(s, "never") == 0)
		return SCHED_EXPR_NEVER;
	if (sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	           &tm.tm_sec) != 6)
		fail_msg("bad time in the test: %s", s);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

static struct sched_expr *parse_ok(const char *text)
{
	struct sched_expr *e = NULL;
	struct berr *err = NULL;

	if (sched_expr_parse(text, &e, &err) < 0)
		fail_msg("%s: %s", text, berr_msg(err));
	return e;
}

/* an expression, a start, and the fire times that follow it, in order */
static const struct {
	const char *expr, *after;
	const char *want[4];
} valid[] = {
	/* AWS's examples */
	{ "cron(0 10 * * ? *)", "2026-11-21T22:10:00", { "2026-11-22T10:00:00", "2026-11-23T10:00:00" } },
	{ "cron(15 12 * * ? *)", "2026-01-01T12:15:00", { "2026-01-02T12:15:00", "2026-01-03T12:15:00" } },
	{ "cron(0 18 ? * MON-FRI *)", "2026-11-20T18:00:00",   /* a Friday, at the fire time: strictly after */
	  { "2026-11-23T18:00:00", "2026-11-24T18:00:00" } },
	{ "cron(0 8 1 * ? *)", "2026-11-21T22:10:00", { "2026-12-01T08:00:00", "2027-01-01T08:00:00" } },
	{ "cron(0/15 * * * ? *)", "2026-11-21T22:10:00",
	  { "2026-11-21T22:15:00", "2026-11-21T22:30:00", "2026-11-21T22:45:00", "2026-11-21T23:00:00" } },
	{ "cron(0/10 * ? * MON-FRI *)", "2026-11-20T23:55:00", { "2026-11-23T00:00:00", "2026-11-23T00:10:00" } },
	{ "cron(0/5 8-17 ? * MON-FRI *)", "2026-11-23T17:55:00", { "2026-11-24T08:00:00", "2026-11-24T08:05:00" } },
	{ "cron(0 9 ? * 2#1 *)", "2026-11-21T00:00:00", { "2026-12-07T09:00:00", "2027-01-04T09:00:00" } },
	/* seconds inside a minute: the next whole minute */
	{ "cron(* * * * ? *)", "2026-11-21T22:10:30", { "2026-11-21T22:11:00", "2026-11-21T22:12:00" } },
	{ "cron(1/10 * * * ? *)", "2026-11-21T22:00:00", { "2026-11-21T22:01:00", "2026-11-21T22:11:00" } },
	{ "cron(5,10-12,30/15 * * * ? *)", "2026-11-21T22:00:00",
	  { "2026-11-21T22:05:00", "2026-11-21T22:10:00", "2026-11-21T22:11:00", "2026-11-21T22:12:00" } },
	{ "cron(5,10-12,30/15 * * * ? *)", "2026-11-21T22:12:00",
	  { "2026-11-21T22:30:00", "2026-11-21T22:45:00", "2026-11-21T23:05:00" } },
	/* leap years: Feb 29 (2100 is not one) */
	{ "cron(0 0 29 2 ? *)", "2026-01-01T00:00:00", { "2028-02-29T00:00:00", "2032-02-29T00:00:00" } },
	{ "cron(0 0 29 2 ? 2100)", "2026-01-01T00:00:00", { "never" } },
	{ "cron(0 0 29 FEB ? 2100,2104)", "2026-01-01T00:00:00", { "2104-02-29T00:00:00", "never" } },
	{ "cron(0 0 29 2 ? 2000/100)", "1999-01-01T00:00:00", { "2000-02-29T00:00:00", "never" } },
	/* L: the last day of the month; L-n before it */
	{ "cron(0 0 L * ? *)", "2028-01-31T00:00:00", { "2028-02-29T00:00:00", "2028-03-31T00:00:00" } },
	{ "cron(0 0 L * ? *)", "2027-01-31T00:00:00", { "2027-02-28T00:00:00", "2027-03-31T00:00:00" } },
	{ "cron(0 0 L-2 * ? *)", "2026-11-21T00:00:00", { "2026-11-28T00:00:00", "2026-12-29T00:00:00" } },
	/* LW: the last weekday (Jan 31 2027 is a Sunday) */
	{ "cron(0 12 LW * ? *)", "2026-11-21T00:00:00",
	  { "2026-11-30T12:00:00", "2026-12-31T12:00:00", "2027-01-29T12:00:00" } },
	/* nW: the nearest weekday, never across the month (Aug 1 2026 is a
	 * Saturday: Monday the 3rd; Mar 15 2026 is a Sunday: Monday the 16th) */
	{ "cron(0 12 1W * ? *)", "2026-07-15T00:00:00", { "2026-08-03T12:00:00", "2026-09-01T12:00:00" } },
	{ "cron(0 12 15W 3 ? *)", "2026-01-01T00:00:00", { "2026-03-16T12:00:00", "2027-03-15T12:00:00" } },
	/* May 31 2026 is a Sunday and the last day: Friday the 29th */
	{ "cron(0 12 31W 5 ? *)", "2026-01-01T00:00:00", { "2026-05-29T12:00:00" } },
	/* 31W has no day in a 30-day month */
	{ "cron(0 12 31W * ? *)", "2026-11-01T00:00:00", { "2026-12-31T12:00:00", "2027-01-29T12:00:00" } },
	/* Day-of-week L forms: nL the last such day of the month, L alone SAT */
	{ "cron(0 12 ? * 6L *)", "2026-11-21T00:00:00", { "2026-11-27T12:00:00", "2026-12-25T12:00:00" } },
	/* July 2026 ends on a Friday: the 31st, not the 24th */
	{ "cron(0 12 ? * 6L *)", "2026-07-01T00:00:00", { "2026-07-31T12:00:00", "2026-08-28T12:00:00" } },
	{ "cron(0 12 ? * L *)", "2026-11-21T12:00:00", { "2026-11-28T12:00:00", "2026-12-05T12:00:00" } },
	/* #5: only months with a fifth Sunday (2026: Mar, May, Aug, Nov) */
	{ "cron(0 0 ? * 1#5 *)", "2026-06-01T00:00:00", { "2026-08-30T00:00:00", "2026-11-29T00:00:00" } },
	/* wrap-around ranges */
	{ "cron(30 23 ? * FRI-MON *)", "2026-11-21T00:00:00",
	  { "2026-11-21T23:30:00", "2026-11-22T23:30:00", "2026-11-23T23:30:00", "2026-11-27T23:30:00" } },
	{ "cron(0 22-1 * * ? *)", "2026-11-21T21:00:00",
	  { "2026-11-21T22:00:00", "2026-11-21T23:00:00", "2026-11-22T00:00:00", "2026-11-22T01:00:00" } },
	/* names in any case */
	{ "cron(0 0 1 jan,Jul ? *)", "2026-11-21T00:00:00", { "2027-01-01T00:00:00", "2027-07-01T00:00:00" } },
	{ "cron(0 0 ? * sat#2 *)", "2026-11-01T00:00:00", { "2026-11-14T00:00:00", "2026-12-12T00:00:00" } },
	/* the years run out */
	{ "cron(0 0 1 1 ? 2199)", "2199-01-01T00:00:00", { "never" } },
	{ "cron(0 0 31 12 ? 2199)", "2199-01-01T00:00:00", { "2199-12-31T00:00:00", "never" } },
	/* UTC has no DST: 02:30 exists on the US and EU change days, 24 h apart */
	{ "cron(30 2 * * ? *)", "2026-03-07T03:00:00",
	  { "2026-03-08T02:30:00", "2026-03-09T02:30:00" } },
	{ "cron(30 1 * * ? *)", "2026-10-24T02:00:00", { "2026-10-25T01:30:00", "2026-10-26T01:30:00" } },
	/* at(): once */
	{ "at(2026-12-25T08:00:00)", "2026-11-21T00:00:00", { "2026-12-25T08:00:00", "never" } },
	{ "at(2026-12-25T08:00:00)", "2026-12-25T08:00:00", { "never" } },
};

static void test_next_fire(void **state)
{
	(void)state;
	int bad = 0;

	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		struct sched_expr *e = parse_ok(valid[i].expr);
		int64_t t = T(valid[i].after);

		for (size_t k = 0; k < 4 && valid[i].want[k]; k++) {
			int64_t got = sched_expr_next(e, t, NULL), want = T(valid[i].want[k]);
			char gb[32] = "never";

			if (got != SCHED_EXPR_NEVER)
				sched_expr_format_time(got, gb, sizeof(gb));
			if (got != want) {
				print_error("%s after %s [%zu]: got %s, want %s\n", valid[i].expr, valid[i].after, k, gb,
				            valid[i].want[k]);
				bad++;
				break;
			}
			if (got == SCHED_EXPR_NEVER)
				break;
			t = got;
		}
		sched_expr_free(e);
	}
	assert_int_equal(bad, 0);
}

static const struct {
	const char *expr, *msg;
} invalid[] = {
	{ "cron(0 0 32 * ? *)", "cron(0 0 32 * ? *): field 3 (Day-of-month): \"32\" is out of range 1-31" },
	{ "cron(60 * * * ? *)", "cron(60 * * * ? *): field 1 (Minutes): \"60\" is out of range 0-59" },
	{ "cron(0 24 * * ? *)", "cron(0 24 * * ? *): field 2 (Hours): \"24\" is out of range 0-23" },
	{ "cron(0 0 * 13 ? *)", "cron(0 0 * 13 ? *): field 4 (Month): \"13\" is out of range 1-12" },
	{ "cron(0 0 ? * 0 *)", "cron(0 0 ? * 0 *): field 5 (Day-of-week): \"0\" is out of range 1-7" },
	{ "cron(0 0 * * ? 1969)", "cron(0 0 * * ? 1969): field 6 (Year): \"1969\" is out of range 1970-2199" },
	{ "cron(0 0 * * ? 2200)", "cron(0 0 * * ? 2200): field 6 (Year): \"2200\" is out of range 1970-2199" },
	{ "cron(0 0 0 * ? *)", "cron(0 0 0 * ? *): field 3 (Day-of-month): \"0\" is out of range 1-31" },
	{ "cron(0 0 * * * *)",
	  "cron(0 0 * * * *): one of Day-of-month (\"*\") and Day-of-week (\"*\") must be \"?\"" },
	{ "cron(0 0 1 * MON *)",
	  "cron(0 0 1 * MON *): one of Day-of-month (\"1\") and Day-of-week (\"MON\") must be \"?\"" },
	{ "cron(0 0 ? * ? *)", "cron(0 0 ? * ? *): Day-of-month and Day-of-week cannot both be \"?\"" },
	{ "cron(0 0 * * ?)",
	  "cron(0 0 * * ?): expected 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), got 5" },
	{ "cron(0 0 * * ? * *)",
	  "cron(0 0 * * ? * *): expected 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), got 7" },
	{ "cron(0 0 * JANX ? *)", "cron(0 0 * JANX ? *): field 4 (Month): \"JANX\" is not a month (1-12 or JAN-DEC)" },
	{ "cron(0 0 ? * FUN *)",
	  "cron(0 0 ? * FUN *): field 5 (Day-of-week): \"FUN\" is not a day of the week (1-7 or SUN-SAT)" },
	{ "cron(x 0 * * ? *)", "cron(x 0 * * ? *): field 1 (Minutes): \"x\" is not a number" },
	{ "cron(5L * * * ? *)",
	  "cron(5L * * * ? *): field 1 (Minutes): \"5L\": \"L\" is not allowed in Minutes (allowed: , - * /)" },
	{ "cron(? * * * ? *)",
	  "cron(? * * * ? *): field 1 (Minutes): \"?\" is not allowed in Minutes (allowed: , - * /)" },
	{ "cron(0 0 * 1#2 ? *)",
	  "cron(0 0 * 1#2 ? *): field 4 (Month): \"1#2\": \"#\" is not allowed in Month (allowed: , - * /)" },
	{ "cron(0 0 ? * 3#1,6#3 *)",
	  "cron(0 0 ? * 3#1,6#3 *): field 5 (Day-of-week): \"3#1,6#3\": # must be the only term of the field" },
	{ "cron(0 0 ? * 3#6 *)",
	  "cron(0 0 ? * 3#6 *): field 5 (Day-of-week): \"3#6\": the instance after \"#\" must be between 1 and 5" },
	{ "cron(0 0 1,L * ? *)",
	  "cron(0 0 1,L * ? *): field 3 (Day-of-month): \"1,L\": L or W must be the only term of the field" },
	{ "cron(0 0 32W * ? *)", "cron(0 0 32W * ? *): field 3 (Day-of-month): \"32\" is out of range 1-31" },
	{ "cron(0 0 L-31 * ? *)",
	  "cron(0 0 L-31 * ? *): field 3 (Day-of-month): \"L-31\": the offset from the last day must be between 1 and 30" },
	{ "cron(*/0 * * * ? *)",
	  "cron(*/0 * * * ? *): field 1 (Minutes): \"*/0\": the increment must be between 1 and 60" },
	{ "cron(0 */25 * * ? *)",
	  "cron(0 */25 * * ? *): field 2 (Hours): \"*/25\": the increment must be between 1 and 24" },
	{ "cron(0 0 * * ? 2030-2029)",
	  "cron(0 0 * * ? 2030-2029): field 6 (Year): \"2030-2029\": the range ends before it starts" },
	{ "cron(1,,2 * * * ? *)", "cron(1,,2 * * * ? *): field 1 (Minutes): \"1,,2\": empty term in a list" },
	{ "cron(0 0 1- * ? *)", "cron(0 0 1- * ? *): field 3 (Day-of-month): \"1-\": a range needs an end" },
	{ "cron(0 0 * * ? *", "cron(0 0 * * ? *: at 17: expected \")\" at the end" },
	{ "rate(0 minutes)", "rate(0 minutes): value must be at least 1, got \"0\"" },
	{ "rate(1 minutes)", "rate(1 minutes): the unit must be singular for a value of 1: \"minute\", not \"minutes\"" },
	{ "rate(5 minute)", "rate(5 minute): the unit must be plural for a value above 1: \"minutes\", not \"minute\"" },
	{ "rate(2 hour)", "rate(2 hour): the unit must be plural for a value above 1: \"hours\", not \"hour\"" },
	{ "rate(5 weeks)",
	  "rate(5 weeks): unknown unit \"weeks\" (expected minute, minutes, hour, hours, day or days)" },
	{ "rate(5 Minutes)",
	  "rate(5 Minutes): unknown unit \"Minutes\" (expected minute, minutes, hour, hours, day or days)" },
	{ "rate(5)", "rate(5): expected rate(value unit): the unit is missing" },
	{ "rate(-5 minutes)", "rate(-5 minutes): expected rate(value unit), value a whole number" },
	{ "rate(1.5 hours)", "rate(1.5 hours): expected rate(value unit), value a whole number" },
	{ "rate(5 minutes now)", "rate(5 minutes now): unexpected \"now\" after the unit" },
	{ "rate(1234567890 days)", "rate(1234567890 days): value \"1234567890\" is too large" },
	{ "at(2026-02-29T10:00:00)", "at(2026-02-29T10:00:00): \"2026-02-29\" is not a date" },
	{ "at(2026-12-25T24:00:00)", "at(2026-12-25T24:00:00): \"24:00:00\" is not a time of day" },
	{ "at(2026-12-25 08:00:00)", "at(2026-12-25 08:00:00): expected at(yyyy-mm-ddThh:mm:ss)" },
	{ "at(2200-01-01T00:00:00)", "at(2200-01-01T00:00:00): year 2200 is out of range 1970-2199" },
	{ "every 5 minutes",
	  "\"every 5 minutes\" is not a schedule expression: expected rate(value unit), cron(fields) or "
	  "at(yyyy-mm-ddThh:mm:ss)" },
	{ "Rate(5 minutes)",
	  "\"Rate(5 minutes)\" is not a schedule expression: expected rate(value unit), cron(fields) or "
	  "at(yyyy-mm-ddThh:mm:ss)" },
	{ "", "empty schedule expression" },
};

static void test_invalid(void **state)
{
	(void)state;
	int bad = 0;

	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		struct sched_expr *e = NULL;
		struct berr *err = NULL;
		int r = sched_expr_parse(invalid[i].expr, &e, &err);
		char want[512];

		if (r >= 0) {
			print_error("%s: parsed, want an error\n", invalid[i].expr);
			sched_expr_free(e);
			bad++;
			continue;
		}
		assert_null(e);
		assert_int_equal(r, -22);
		snprintf(want, sizeof(want), "%s: Invalid argument", invalid[i].msg);
		if (strcmp(berr_msg(err), want) != 0) {
			print_error("%s:\n  got  %s\n  want %s\n", invalid[i].expr, berr_msg(err), want);
			bad++;
		}
		berr_free(err);
	}
	assert_int_equal(bad, 0);
}

static void test_rate(void **state)
{
	(void)state;
	static const struct {
		const char *expr;
		int64_t period;
	} rates[] = { { "rate(1 minute)", 60 }, { "rate(5 minutes)", 300 }, { "rate(1 hour)", 3600 },
	              { "rate(12 hours)", 43200 }, { "rate(1 day)", 86400 }, { "rate(2 days)", 172800 } };
	int64_t anchor = T("2026-11-21T22:10:07");
	struct sched_expr_clock clk = { .anchor = anchor, .seconds_per_minute = 60 };

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct sched_expr *e = parse_ok(rates[i].expr);
		int64_t p = rates[i].period;

		assert_int_equal(sched_expr_kind(e), SCHED_EXPR_RATE);
		assert_int_equal(sched_expr_rate_seconds(e), p);
		/* counted from the anchor (the schedule's creation), not the clock's minutes */
		assert_int_equal(sched_expr_next(e, anchor, &clk), anchor + p);
		assert_int_equal(sched_expr_next(e, anchor - 1000, &clk), anchor + p);
		assert_int_equal(sched_expr_next(e, anchor + p - 1, &clk), anchor + p);
		assert_int_equal(sched_expr_next(e, anchor + p, &clk), anchor + 2 * p);
		assert_int_equal(sched_expr_next(e, anchor + 10 * p + 1, &clk), anchor + 11 * p);
		sched_expr_free(e);
	}
}

/* the test hook: seconds_per_minute shortens rate() and cron() alike */
static void test_scaled_clock(void **state)
{
	(void)state;
	struct sched_expr *r1 = parse_ok("rate(1 minute)"), *r5 = parse_ok("rate(5 minutes)");
	struct sched_expr *every = parse_ok("cron(* * * * ? *)"), *c5 = parse_ok("cron(0/5 * * * ? *)");
	struct sched_expr *at = parse_ok("at(2026-12-25T08:00:00)");
	struct sched_expr_clock one = { .anchor = 1000, .seconds_per_minute = 1 };
	struct sched_expr_clock tenth = { .anchor = 0, .seconds_per_minute = 6 };

	assert_int_equal(sched_expr_next(r1, 1000, &one), 1001);
	assert_int_equal(sched_expr_next(r1, 1001, &one), 1002);
	assert_int_equal(sched_expr_next(r5, 1000, &one), 1005);
	assert_int_equal(sched_expr_next(r5, 1007, &tenth), 1020);
	/* once per second; the anchor (1000) lies 40 s before a virtual minute
	 * (virtual 1020 is real 1000 + 20/60: 1001) */
	int64_t t = 1000;
	for (int k = 1; k <= 5; k++) {
		t = sched_expr_next(every, t, &one);
		assert_int_equal(t, 1000 + k);
	}
	/* every 5 virtual minutes at 10x: every 30 s */
	assert_int_equal(sched_expr_next(c5, 0, &tenth), 30);
	assert_int_equal(sched_expr_next(c5, 30, &tenth), 60);
	assert_int_equal(sched_expr_next(c5, 45, &tenth), 60);
	/* at() is absolute */
	assert_int_equal(sched_expr_next(at, 1000, &one), T("2026-12-25T08:00:00"));
	/* 0 means unscaled */
	struct sched_expr_clock zero = { .anchor = 1000, .seconds_per_minute = 0 };
	assert_int_equal(sched_expr_next(r1, 1000, &zero), 1060);
	sched_expr_free(r1);
	sched_expr_free(r5);
	sched_expr_free(every);
	sched_expr_free(c5);
	sched_expr_free(at);
}

static void test_missed_runs(void **state)
{
	(void)state;
	struct sched_expr *daily = parse_ok("cron(0 10 * * ? *)");
	struct sched_expr *r1 = parse_ok("rate(1 minute)");
	struct sched_expr *every = parse_ok("cron(* * * * ? *)");
	struct sched_expr *at = parse_ok("at(2026-12-25T08:00:00)");
	struct sched_expr_due d;
	int64_t day1 = T("2026-11-21T10:00:00"), day2 = T("2026-11-22T10:00:00"), day3 = T("2026-11-23T10:00:00");

	/* nothing due yet */
	sched_expr_due(daily, NULL, day1, day1 + 3600, SCHED_EXPR_SKIP_MISSED, 60, &d);
	assert_false(d.run);
	assert_int_equal(d.missed, 0);
	assert_int_equal(d.last_fire, day1);
	assert_int_equal(d.next, day2);

	/* on time (5 s late): both policies run it */
	for (int p = 0; p < 2; p++) {
		sched_expr_due(daily, NULL, day1, day2 + 5, (enum sched_expr_missed)p, 60, &d);
		assert_true(d.run);
		assert_int_equal(d.fire_time, day2);
		assert_int_equal(d.missed, 0);
		assert_int_equal(d.last_fire, day2);
		assert_int_equal(d.next, day3);
	}

	/* berthd was down from before day2 10:00 to day3 09:00 */
	sched_expr_due(daily, NULL, day1, day3 - 3600, SCHED_EXPR_SKIP_MISSED, 60, &d);
	assert_false(d.run);
	assert_int_equal(d.missed, 1);
	assert_int_equal(d.last_fire, day2);
	assert_int_equal(d.next, day3);
	sched_expr_due(daily, NULL, day1, day3 - 3600, SCHED_EXPR_RUN_ONCE, 60, &d);
	assert_true(d.run);
	assert_int_equal(d.fire_time, day2);
	assert_int_equal(d.missed, 0);
	assert_int_equal(d.last_fire, day2);

	/* down for an hour over a rate(1 minute) (anchor day1): 60 fire times;
	 * the latest (30 s old) runs under both policies, 59 are skipped */
	struct sched_expr_clock clk = { .anchor = day1, .seconds_per_minute = 60 };
	sched_expr_due(r1, &clk, day1, day1 + 3630, SCHED_EXPR_SKIP_MISSED, 60, &d);
	assert_true(d.run);
	assert_int_equal(d.fire_time, day1 + 3600);
	assert_int_equal(d.missed, 59);
	assert_int_equal(d.last_fire, day1 + 3600);
	assert_int_equal(d.next, day1 + 3660);
	/* with max_late 10 the latest is too old for skip-missed */
	sched_expr_due(r1, &clk, day1, day1 + 3630, SCHED_EXPR_SKIP_MISSED, 10, &d);
	assert_false(d.run);
	assert_int_equal(d.missed, 60);
	assert_int_equal(d.last_fire, day1 + 3600);

	/* a year of every-minute cron: counting stops at the cap, the latest
	 * fire time is still exact */
	int64_t y0 = T("2026-01-01T00:00:00"), y1 = T("2027-01-01T00:00:00");
	sched_expr_due(every, NULL, y0, y1 + 20, SCHED_EXPR_RUN_ONCE, 60, &d);
	assert_true(d.run);
	assert_int_equal(d.fire_time, y1);
	assert_int_equal(d.last_fire, y1);
	assert_int_equal(d.missed, SCHED_EXPR_COUNT_MAX);
	assert_int_equal(d.next, y1 + 60);

	/* a rate over years is arithmetic: exact counts */
	struct sched_expr_clock c0 = { .anchor = y0, .seconds_per_minute = 60 };
	sched_expr_due(r1, &c0, y0, y1, SCHED_EXPR_RUN_ONCE, 0, &d);
	assert_true(d.run);
	assert_int_equal(d.fire_time, y1);
	assert_int_equal(d.missed, 365 * 1440 - 1 > SCHED_EXPR_COUNT_MAX ? SCHED_EXPR_COUNT_MAX : 365 * 1440 - 1);

	/* at(): once, then never */
	int64_t xmas = T("2026-12-25T08:00:00");
	sched_expr_due(at, NULL, xmas - 86400, xmas + 1, SCHED_EXPR_SKIP_MISSED, 60, &d);
	assert_true(d.run);
	assert_int_equal(d.fire_time, xmas);
	assert_int_equal(d.next, SCHED_EXPR_NEVER);
	sched_expr_due(at, NULL, xmas, xmas + 86400, SCHED_EXPR_RUN_ONCE, 60, &d);
	assert_false(d.run);
	assert_int_equal(d.last_fire, xmas);

	enum sched_expr_missed m;
	assert_true(sched_expr_missed_parse("run-once", &m));
	assert_int_equal(m, SCHED_EXPR_RUN_ONCE);
	assert_true(sched_expr_missed_parse("skip-missed", &m));
	assert_int_equal(m, SCHED_EXPR_SKIP_MISSED);
	assert_false(sched_expr_missed_parse("catch-up", &m));
	assert_string_equal(sched_expr_missed_str(SCHED_EXPR_RUN_ONCE), "run-once");

	sched_expr_free(daily);
	sched_expr_free(r1);
	sched_expr_free(every);
	sched_expr_free(at);
}

/* the calendar helpers against libc over 1970-2199 */
static void test_calendar(void **state)
{
	(void)state;
	for (int64_t days = 0; days < 84000; days += 13) {
		time_t t = (time_t)(days * 86400);
		struct tm tm;
		int64_t y;
		int m, d;

		gmtime_r(&t, &tm);
		sched_expr_civil_from_days(days, &y, &m, &d);
		assert_int_equal(y, tm.tm_year + 1900);
		assert_int_equal(m, tm.tm_mon + 1);
		assert_int_equal(d, tm.tm_mday);
		assert_int_equal(sched_expr_days_from_civil(y, m, d), days);
	}
	char buf[32];
	sched_expr_format_time(T("2028-02-29T23:59:58"), buf, sizeof(buf));
	assert_string_equal(buf, "2028-02-29T23:59:58Z");
}

/* every next() answer is after `after`, matches, and nothing between matches:
 * checked minute by minute over a few weeks for expressions with every
 * special form */
static void test_no_skips(void **state)
{
	(void)state;
	static const char *const exprs[] = { "cron(0/7 1-3 ? * MON,WED,FRI *)", "cron(13 5 L * ? *)",
	                                      "cron(0 */6 15W * ? *)", "cron(30 0 ? * 2#3 *)", "cron(0 0 ? * 4L *)",
	                                      "cron(45 23 LW * ? *)" };
	int64_t start = T("2027-12-20T00:00:00");

	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct sched_expr *e = parse_ok(exprs[i]);
		int64_t next = sched_expr_next(e, start, NULL);

		/* for each minute m in (start, start + 70 days]: m fires iff it is the
		 * next of the previous answer */
		for (int64_t m = start + 60; m <= start + 70 * 86400; m += 60) {
			int64_t nm = sched_expr_next(e, m - 60, NULL);

			assert_true(nm > m - 60);
			if (nm == m) {
				assert_int_equal(m, next);
				next = sched_expr_next(e, m, NULL);
			} else {
				assert_true(next > m);
			}
		}
		sched_expr_free(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_fire),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_scaled_clock),
		cmocka_unit_test(test_missed_runs),
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_no_skips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
