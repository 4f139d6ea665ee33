/* scheduler/schedexpr.h - EventBridge schedule expressions.
 *
 *   rate(value unit)     unit minute|minutes|hour|hours|day|days; value >= 1,
 *                        the singular unit exactly when value is 1
 *   cron(Minutes Hours Day-of-month Month Day-of-week Year)
 *                        , - * / in every field; ? L W in Day-of-month;
 *                        ? L # in Day-of-week; JAN-DEC, SUN-SAT (1 = SUN);
 *                        exactly one of Day-of-month and Day-of-week is ?;
 *                        years 1970-2199
 *   at(yyyy-mm-ddThh:mm:ss)   one time (EventBridge Scheduler)
 *
 * Parsed once (sched_expr_parse) into a compiled form; evaluated in UTC,
 * with no I/O and no clock: every function takes the time it reasons about.
 * docs/scheduler.md ("Schedule expressions") has the exact rules, berth's
 * choices where AWS says nothing, and the missed-runs policy. */
#ifndef BERTH_SCHEDULER_SCHEDEXPR_H
#define BERTH_SCHEDULER_SCHEDEXPR_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* the longest expression accepted (EventBridge: 256) */
#define SCHED_EXPR_MAX_LEN 256
#define SCHED_EXPR_YEAR_MIN 1970
#define SCHED_EXPR_YEAR_MAX 2199
/* 2200-01-01T00:00:00Z: nothing fires from then on */
#define SCHED_EXPR_TIME_END INT64_C(7258118400)
/* no fire time (an at() in the past, a cron whose years are over) */
#define SCHED_EXPR_NEVER INT64_C(-1)

enum sched_expr_kind {
	SCHED_EXPR_RATE,
	SCHED_EXPR_CRON,
	SCHED_EXPR_AT,
};

struct sched_expr;

/* How time runs for an expression.
 *   anchor: rate() fires at anchor + k x period (k >= 1), as an EventBridge
 *     rate schedule counts from its creation (or StartDate); it is also the
 *     origin of the scaled clock below.
 *   seconds_per_minute: 60 for real schedules (0 is taken as 60). A test
 *     configuration shortens every schedule: with 1, rate(1 minute) fires
 *     every second and cron(* * * * ? *) once a second. Time after the anchor
 *     runs 60/seconds_per_minute times faster for rate() and cron(): a
 *     cron() is evaluated on the "virtual" time anchor + (t - anchor) x 60 /
 *     seconds_per_minute. at() is an absolute time and never scaled. */
struct sched_expr_clock {
	int64_t anchor;
	int32_t seconds_per_minute;   /* 1..60 */
};

/* Parse text (at most SCHED_EXPR_MAX_LEN bytes). Errors quote the
 * expression and name the field or the position:
 *   cron(0 0 32 * ? *): field 3 (Day-of-month): "32" is out of range 1-31 */
int sched_expr_parse(const char *text, struct sched_expr **out, struct berr **err);
void sched_expr_free(struct sched_expr *e);

enum sched_expr_kind sched_expr_kind(const struct sched_expr *e);
const char *sched_expr_text(const struct sched_expr *e);
/* rate(): the period in (unscaled) seconds; 0 for the others */
int64_t sched_expr_rate_seconds(const struct sched_expr *e);
/* at(): the time; SCHED_EXPR_NEVER for the others */
int64_t sched_expr_at_time(const struct sched_expr *e);

/* The first fire time strictly after `after` (seconds since the epoch, UTC),
 * or SCHED_EXPR_NEVER. clk may be NULL (anchor 0, 60 seconds per minute). A
 * rate() with after < anchor answers anchor + period. */
int64_t sched_expr_next(const struct sched_expr *e, int64_t after, const struct sched_expr_clock *clk);

/* Missed runs: what to do when fire times went by unhandled (berthd was
 * down, or its loop was late). */
enum sched_expr_missed {
	/* run only the latest fire time, and only when it is at most
	 * `max_late` seconds old; every other one is skipped */
	SCHED_EXPR_SKIP_MISSED,
	/* run once, now, for the latest fire time, however late; the older ones
	 * are skipped */
	SCHED_EXPR_RUN_ONCE,
};

/* missed counts stop here (a rate(1 minute) down for years) */
#define SCHED_EXPR_COUNT_MAX 100000

struct sched_expr_due {
	bool run;              /* start a run now */
	int64_t fire_time;     /* the scheduled time that run stands for (when run) */
	int64_t missed;        /* fire times in (last_fire, now] not run (capped) */
	int64_t last_fire;     /* the caller's new last_fire: the latest fire time <= now,
	                        * or the old last_fire when none went by */
	int64_t next;          /* the first fire time after now, or SCHED_EXPR_NEVER */
};

/* Decide for the fire times in (last_fire, now]. last_fire is the latest fire
 * time already handled (run or skipped): for a new schedule, the time it was
 * created. Pure: the caller stores due->last_fire and wakes up at due->next. */
void sched_expr_due(const struct sched_expr *e, const struct sched_expr_clock *clk, int64_t last_fire,
                    int64_t now, enum sched_expr_missed policy, int64_t max_late,
                    struct sched_expr_due *due);

const char *sched_expr_missed_str(enum sched_expr_missed p);
/* "skip-missed" / "run-once"; false when neither */
bool sched_expr_missed_parse(const char *s, enum sched_expr_missed *out);

/* UTC calendar helpers (proleptic Gregorian), exposed for the tests and the
 * daemon's records. */
int64_t sched_expr_days_from_civil(int64_t y, int m, int d);
void sched_expr_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* "2026-11-21T22:10:00Z" into buf (at least 32 bytes) */
void sched_expr_format_time(int64_t t, char *buf, unsigned long size);

#endif
