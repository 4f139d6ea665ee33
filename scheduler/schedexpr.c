/* scheduler/schedexpr.c - see schedexpr.h */
#include "scheduler/schedexpr.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define NYEARS (SCHED_EXPR_YEAR_MAX - SCHED_EXPR_YEAR_MIN + 1)

enum dom_mode {
	DOM_SET,              /* the bitmap */
	DOM_LAST,             /* L, L-n: the last day minus dom_arg */
	DOM_LAST_WEEKDAY,     /* LW */
	DOM_NEAREST_WEEKDAY,  /* nW: the weekday nearest day dom_arg, in the month */
};

enum dow_mode {
	DOW_SET,              /* the bitmap (L alone: SAT) */
	DOW_LAST_IN_MONTH,    /* nL: the last weekday dow_day of the month */
	DOW_NTH,              /* n#k: the k-th weekday dow_day of the month */
};

struct cron {
	uint64_t min;          /* bits 0-59 */
	uint32_t hour;         /* bits 0-23 */
	uint32_t dom;          /* bits 1-31 */
	uint16_t month;        /* bits 1-12 */
	uint8_t dow;           /* bits 1-7, 1 = SUN */
	uint64_t year[(NYEARS + 63) / 64];   /* bit y - 1970 */
	bool dom_any, dow_any; /* ? */
	enum dom_mode dom_mode;
	int dom_arg;
	enum dow_mode dow_mode;
	int dow_day, dow_nth;
};

struct sched_expr {
	enum sched_expr_kind kind;
	char *text;
	int64_t rate;          /* seconds */
	int64_t at;
	struct cron cron;
};

/* ---- calendar ---------------------------------------------------------- */

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* days since 1970-01-01 of a proleptic Gregorian date (March-based years,
 * 400-year eras of 146097 days) */
int64_t sched_expr_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floordiv(y, 400);
	int64_t yoe = y - era * 400;                                  /* [0, 399] */
	int64_t mp = (m + 9) % 12;                                    /* March = 0 */
	int64_t doy = (153 * mp + 2) / 5 + d - 1;                     /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */

	return era * 146097 + doe - 719468;
}

void sched_expr_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	int64_t z = days + 719468;
	int64_t era = floordiv(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* 1 = SUN ... 7 = SAT; 1970-01-01 was a Thursday */
static int weekday(int64_t days)
{
	return (int)((days % 7 + 7 + 4) % 7) + 1;
}

void sched_expr_format_time(int64_t t, char *buf, unsigned long size)
{
	int64_t days = floordiv(t, 86400), secs = t - days * 86400, y;
	int m, d;

	sched_expr_civil_from_days(days, &y, &m, &d);
	snprintf(buf, size, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d, (int)(secs / 3600),
	         (int)(secs / 60 % 60), (int)(secs % 60));
}

/* ---- parsing ----------------------------------------------------------- */

enum field {
	F_MIN,
	F_HOUR,
	F_DOM,
	F_MONTH,
	F_DOW,
	F_YEAR,
	NFIELDS,
};

static const struct field_info {
	const char *name;
	int lo, hi;
	const char *wildcards;      /* as AWS lists them */
} fields[NFIELDS] = {
	[F_MIN] = { "Minutes", 0, 59, ", - * /" },
	[F_HOUR] = { "Hours", 0, 23, ", - * /" },
	[F_DOM] = { "Day-of-month", 1, 31, ", - * ? / L W" },
	[F_MONTH] = { "Month", 1, 12, ", - * /" },
	[F_DOW] = { "Day-of-week", 1, 7, ", - * ? L #" },
	[F_YEAR] = { "Year", SCHED_EXPR_YEAR_MIN, SCHED_EXPR_YEAR_MAX, ", - * /" },
};

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                           "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

struct parser {
	const char *text;     /* the whole expression, for messages */
	struct berr **err;
	enum field f;
	const char *term;     /* the term being parsed (NUL-terminated copy) */
};

static int field_fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int field_fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *what = NULL;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	return berr_set(p->err, EINVAL, "%s: field %d (%s): %s", berr_q(p->text), (int)p->f + 1,
	                fields[p->f].name, what);
}

static bool name_value(enum field f, const char *s, size_t len, int *v)
{
	const char *const *names = f == F_MONTH ? month_names : f == F_DOW ? day_names : NULL;
	int n = f == F_MONTH ? 12 : 7;

	if (!names || len != 3)
		return false;
	for (int i = 0; i < n; i++) {
		if (strncasecmp(s, names[i], 3) == 0) {
			*v = i + 1;
			return true;
		}
	}
	return false;
}

/* a value of the field at *s: digits, or a month or day name */
static int parse_value(struct parser *p, const char **s, int *out)
{
	const struct field_info *fi = &fields[p->f];
	const char *q = *s;

	if (isdigit((unsigned char)*q)) {
		long v = 0;
		size_t n = 0;

		while (isdigit((unsigned char)*q)) {
			if (n++ < 6)
				v = v * 10 + (*q - '0');
			q++;
		}
		if (n > 6 || v < fi->lo || v > fi->hi)
			return field_fail(p, "\"%s\" is out of range %d-%d", berr_qn(*s, (size_t)(q - *s)), fi->lo,
			                  fi->hi);
		*out = (int)v;
		*s = q;
		return 0;
	}
	while (isalpha((unsigned char)*q))
		q++;
	if (q > *s && name_value(p->f, *s, (size_t)(q - *s), out)) {
		*s = q;
		return 0;
	}
	if (q == *s)
		q += *q != '\0';
	if (p->f == F_MONTH)
		return field_fail(p, "\"%s\" is not a month (1-12 or JAN-DEC)", berr_qn(*s, (size_t)(q - *s)));
	if (p->f == F_DOW)
		return field_fail(p, "\"%s\" is not a day of the week (1-7 or SUN-SAT)", berr_qn(*s, (size_t)(q - *s)));
	return field_fail(p, "\"%s\" is not a number", berr_qn(*s, (size_t)(q - *s)));
}

static void set_bit(uint64_t *bits, int i)
{
	bits[i / 64] |= UINT64_C(1) << (i % 64);
}

static bool test_bit(const uint64_t *bits, int i)
{
	return (bits[i / 64] >> (i % 64)) & 1;
}

/* a plain term: * | v | v-w, each optionally /step; w < v wraps around
 * (FRI-MON, 22-2), except in Year */
static int parse_plain(struct parser *p, uint64_t *bits)
{
	const struct field_info *fi = &fields[p->f];
	const char *s = p->term;
	int from, to, step = 1, span = fi->hi - fi->lo + 1;
	bool star = false;

	if (*s == '*') {
		star = true;
		from = fi->lo;
		to = fi->hi;
		s++;
	} else {
		if (parse_value(p, &s, &from) < 0)
			return -EINVAL;
		to = from;
		if (*s == '-') {
			s++;
			if (*s == '\0')
				return field_fail(p, "\"%s\": a range needs an end", berr_q(p->term));
			if (parse_value(p, &s, &to) < 0)
				return -EINVAL;
			if (to < from && p->f == F_YEAR)
				return field_fail(p, "\"%s\": the range ends before it starts", berr_q(p->term));
		}
	}
	if (*s == '/') {
		const char *n = ++s;
		long v = 0;

		while (isdigit((unsigned char)*s)) {
			if (s - n < 6)
				v = v * 10 + (*s - '0');
			s++;
		}
		if (s == n || *s != '\0')
			return field_fail(p, "\"%s\": the increment after \"/\" must be a number", berr_q(p->term));
		if (v < 1 || v > span || s - n > 6)
			return field_fail(p, "\"%s\": the increment must be between 1 and %d", berr_q(p->term), span);
		step = (int)v;
		if (!star && to == from && p->term[strcspn(p->term, "-")] == '\0')
			to = fi->hi;    /* v/step: from v to the end of the field */
	}
	if (*s != '\0') {
		if (strchr("?LW#", *s))
			return field_fail(p, "\"%s\": \"%c\" is not allowed in %s (allowed: %s)", berr_q(p->term), *s,
			                  fi->name, fi->wildcards);
		return field_fail(p, "\"%s\": unexpected \"%s\"", berr_q(p->term), berr_q(s));
	}
	int count = (to - from + span) % span + 1;

	for (int k = 0; k < count; k += step)
		set_bit(bits, (from - fi->lo + k) % span + fi->lo - (p->f == F_YEAR ? SCHED_EXPR_YEAR_MIN : 0));
	return 0;
}

/* Day-of-month: L, L-n, LW, nW (each the whole field) */
static int parse_dom_special(struct parser *p, struct cron *c)
{
	const char *s = p->term;

	if (s[0] == 'L' || s[0] == 'l') {
		if (s[1] == '\0') {
			c->dom_mode = DOM_LAST;
			c->dom_arg = 0;
			return 0;
		}
		if ((s[1] == 'W' || s[1] == 'w') && s[2] == '\0') {
			c->dom_mode = DOM_LAST_WEEKDAY;
			return 0;
		}
		if (s[1] == '-' && isdigit((unsigned char)s[2])) {
			const char *q = s + 2;
			int v;

			if (parse_value(p, &q, &v) < 0)
				return -EINVAL;
			if (*q != '\0')
				return field_fail(p, "\"%s\": unexpected \"%s\"", berr_q(p->term), berr_q(q));
			if (v > 30)
				return field_fail(p, "\"%s\": the offset from the last day must be between 1 and 30",
				                  berr_q(p->term));
			c->dom_mode = DOM_LAST;
			c->dom_arg = v;
			return 0;
		}
		return field_fail(p, "\"%s\": L takes the forms L, L-n or LW", berr_q(p->term));
	}
	const char *q = s;
	int v;

	if (parse_value(p, &q, &v) < 0)
		return -EINVAL;
	if ((*q != 'W' && *q != 'w') || q[1] != '\0')
		return field_fail(p, "\"%s\": W takes the form nW (the weekday nearest day n)", berr_q(p->term));
	c->dom_mode = DOM_NEAREST_WEEKDAY;
	c->dom_arg = v;
	return 0;
}

/* Day-of-week: L, nL, n#k (each the whole field) */
static int parse_dow_special(struct parser *p, struct cron *c)
{
	const char *s = p->term, *q = s;
	int v;

	if ((s[0] == 'L' || s[0] == 'l') && s[1] == '\0') {
		c->dow_mode = DOW_SET;
		c->dow = 1u << 7;       /* the last day of the week: SAT */
		return 0;
	}
	if (parse_value(p, &q, &v) < 0)
		return -EINVAL;
	if ((*q == 'L' || *q == 'l') && q[1] == '\0') {
		c->dow_mode = DOW_LAST_IN_MONTH;
		c->dow_day = v;
		return 0;
	}
	if (*q == '#') {
		q++;
		if (!isdigit((unsigned char)q[0]) || q[1] != '\0' || q[0] < '1' || q[0] > '5')
			return field_fail(p, "\"%s\": the instance after \"#\" must be between 1 and 5", berr_q(p->term));
		c->dow_mode = DOW_NTH;
		c->dow_day = v;
		c->dow_nth = q[0] - '0';
		return 0;
	}
	return field_fail(p, "\"%s\": L takes the forms L or nL, # the form n#k", berr_q(p->term));
}

static int parse_field(struct parser *p, const char *field, struct cron *c)
{
	cleanup_free char *copy = xstrdup(field);
	uint64_t bits[(NYEARS + 63) / 64] = { 0 };
	bool special = false;
	size_t nterms = 1;

	for (const char *s = field; *s; s++)
		nterms += *s == ',';
	if (strcmp(field, "?") == 0) {
		if (p->f != F_DOM && p->f != F_DOW)
			return field_fail(p, "\"?\" is not allowed in %s (allowed: %s)", fields[p->f].name,
			                  fields[p->f].wildcards);
		if (p->f == F_DOM)
			c->dom_any = true;
		else
			c->dow_any = true;
		return 0;
	}
	if (p->f == F_DOM && strpbrk(field, "LlWw"))
		special = true;
	if (p->f == F_DOW && strpbrk(field, "#Ll"))   /* no day name has an L */
		special = true;
	if (special && nterms > 1) {
		p->term = field;
		return field_fail(p, "\"%s\": %s must be the only term of the field", berr_q(field),
		                  p->f == F_DOM ? "L or W" : strchr(field, '#') ? "#" : "L");
	}
	if (special) {
		p->term = field;
		return p->f == F_DOM ? parse_dom_special(p, c) : parse_dow_special(p, c);
	}
	for (char *save = NULL, *t = strtok_r(copy, ",", &save);; t = strtok_r(NULL, ",", &save)) {
		if (t == NULL)
			break;
		p->term = t;
		if (strcmp(t, "?") == 0)
			return field_fail(p, "\"?\" must be the whole field");
		if (parse_plain(p, bits) < 0)
			return -EINVAL;
	}
	switch (p->f) {
	case F_MIN: c->min = bits[0]; break;
	case F_HOUR: c->hour = (uint32_t)bits[0]; break;
	case F_DOM: c->dom = (uint32_t)bits[0]; break;
	case F_MONTH: c->month = (uint16_t)bits[0]; break;
	case F_DOW: c->dow = (uint8_t)bits[0]; break;
	case F_YEAR: memcpy(c->year, bits, sizeof(c->year)); break;
	case NFIELDS: break;
	}
	return 0;
}

static int parse_cron(const char *text, const char *body, struct cron *c, struct berr **err)
{
	struct parser p = { .text = text, .err = err };
	cleanup_free char *copy = xstrdup(body);
	char *f[NFIELDS + 1];
	size_t n = 0;

	for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == NFIELDS) {
			n++;
			break;
		}
		f[n++] = t;
	}
	if (n != NFIELDS) {
		size_t total = 0;
		cleanup_free char *again = xstrdup(body);

		for (char *save = NULL, *t = strtok_r(again, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
			total++;
		return berr_set(err, EINVAL,
		                "%s: expected 6 fields (Minutes Hours Day-of-month Month Day-of-week Year), got %zu",
		                berr_q(text), total);
	}
	for (int i = 0; i < NFIELDS; i++) {
		p.f = (enum field)i;
		for (const char *s = f[i]; *s; s++) {
			if (*s == ',' && (s == f[i] || s[1] == '\0' || s[1] == ',')) {
				p.term = f[i];
				return field_fail(&p, "\"%s\": empty term in a list", berr_q(f[i]));
			}
		}
		if (parse_field(&p, f[i], c) < 0)
			return -EINVAL;
	}
	if (c->dom_any == c->dow_any) {
		p.f = F_DOW;
		if (c->dom_any)
			return berr_set(err, EINVAL, "%s: Day-of-month and Day-of-week cannot both be \"?\"",
			                berr_q(text));
		return berr_set(err, EINVAL,
		                "%s: one of Day-of-month (\"%s\") and Day-of-week (\"%s\") must be \"?\"",
		                berr_q(text), berr_q(f[F_DOM]), berr_q(f[F_DOW]));
	}
	return 0;
}

static int parse_rate(const char *text, const char *body, int64_t *out, struct berr **err)
{
	static const struct {
		const char *one, *many;
		int64_t seconds;
	} units[] = { { "minute", "minutes", 60 }, { "hour", "hours", 3600 }, { "day", "days", 86400 } };
	const char *s = body, *num;
	long long v = 0;
	size_t ndig;

	while (*s == ' ')
		s++;
	num = s;
	while (isdigit((unsigned char)*s))
		s++;
	ndig = (size_t)(s - num);
	if (ndig == 0 || (*s != ' ' && *s != '\0'))
		return berr_set(err, EINVAL, "%s: expected rate(value unit), value a whole number", berr_q(text));
	for (size_t i = 0; i < ndig && i < 10; i++)
		v = v * 10 + (num[i] - '0');
	if (ndig > 9)
		return berr_set(err, EINVAL, "%s: value \"%s\" is too large", berr_q(text), berr_qn(num, ndig));
	if (v < 1)
		return berr_set(err, EINVAL, "%s: value must be at least 1, got \"%s\"", berr_q(text),
		                berr_qn(num, ndig));
	while (*s == ' ')
		s++;
	const char *unit = s;

	while (*s && *s != ' ')
		s++;
	size_t ulen = (size_t)(s - unit);

	while (*s == ' ')
		s++;
	if (ulen == 0)
		return berr_set(err, EINVAL, "%s: expected rate(value unit): the unit is missing", berr_q(text));
	if (*s != '\0')
		return berr_set(err, EINVAL, "%s: unexpected \"%s\" after the unit", berr_q(text), berr_q(s));
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		bool one = strlen(units[i].one) == ulen && strncmp(unit, units[i].one, ulen) == 0;
		bool many = strlen(units[i].many) == ulen && strncmp(unit, units[i].many, ulen) == 0;

		if (!one && !many)
			continue;
		if (v == 1 && many)
			return berr_set(err, EINVAL, "%s: the unit must be singular for a value of 1: \"%s\", not \"%s\"",
			                berr_q(text), units[i].one, units[i].many);
		if (v > 1 && one)
			return berr_set(err, EINVAL, "%s: the unit must be plural for a value above 1: \"%s\", not \"%s\"",
			                berr_q(text), units[i].many, units[i].one);
		*out = v * units[i].seconds;
		return 0;
	}
	return berr_set(err, EINVAL, "%s: unknown unit \"%s\" (expected minute, minutes, hour, hours, day or days)",
	                berr_q(text), berr_qn(unit, ulen));
}

static bool two(const char *s, int *v)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return false;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

static int parse_at(const char *text, const char *body, int64_t *out, struct berr **err)
{
	int y1, y2, mo, d, h, mi, se;

	if (strlen(body) != 19 || !two(body, &y1) || !two(body + 2, &y2) || body[4] != '-' || !two(body + 5, &mo) ||
	    body[7] != '-' || !two(body + 8, &d) || body[10] != 'T' || !two(body + 11, &h) || body[13] != ':' ||
	    !two(body + 14, &mi) || body[16] != ':' || !two(body + 17, &se))
		return berr_set(err, EINVAL, "%s: expected at(yyyy-mm-ddThh:mm:ss)", berr_q(text));
	int64_t y = y1 * 100 + y2;

	if (y < SCHED_EXPR_YEAR_MIN || y > SCHED_EXPR_YEAR_MAX)
		return berr_set(err, EINVAL, "%s: year %lld is out of range %d-%d", berr_q(text), (long long)y,
		                SCHED_EXPR_YEAR_MIN, SCHED_EXPR_YEAR_MAX);
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return berr_set(err, EINVAL, "%s: \"%s\" is not a date", berr_q(text), berr_qn(body, 10));
	if (h > 23 || mi > 59 || se > 59)
		return berr_set(err, EINVAL, "%s: \"%s\" is not a time of day", berr_q(text), berr_qn(body + 11, 8));
	*out = sched_expr_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

int sched_expr_parse(const char *text, struct sched_expr **out, struct berr **err)
{
	struct sched_expr *e;
	size_t len = strlen(text), plen;
	const char *open;
	cleanup_free char *body = NULL;
	int r;

	*out = NULL;
	if (len == 0)
		return berr_set(err, EINVAL, "empty schedule expression");
	if (len > SCHED_EXPR_MAX_LEN)
		return berr_set(err, EINVAL, "schedule expression is %zu characters long (at most %d)", len,
		                SCHED_EXPR_MAX_LEN);
	open = strchr(text, '(');
	plen = open ? (size_t)(open - text) : 0;
	enum sched_expr_kind kind;

	if (open && plen == 4 && strncmp(text, "rate", 4) == 0)
		kind = SCHED_EXPR_RATE;
	else if (open && plen == 4 && strncmp(text, "cron", 4) == 0)
		kind = SCHED_EXPR_CRON;
	else if (open && plen == 2 && strncmp(text, "at", 2) == 0)
		kind = SCHED_EXPR_AT;
	else
		return berr_set(err, EINVAL,
		                "\"%s\" is not a schedule expression: expected rate(value unit), cron(fields) or "
		                "at(yyyy-mm-ddThh:mm:ss)", berr_q(text));
	if (text[len - 1] != ')')
		return berr_set(err, EINVAL, "%s: at %zu: expected \")\" at the end", berr_q(text), len + 1);
	body = xstrndup(open + 1, len - plen - 2);
	if (strpbrk(body, "()"))
		return berr_set(err, EINVAL, "%s: at %zu: unexpected \"%c\"", berr_q(text),
		                plen + 2 + strcspn(body, "()"), body[strcspn(body, "()")]);
	e = xzalloc(sizeof(*e));
	e->kind = kind;
	e->at = SCHED_EXPR_NEVER;
	switch (kind) {
	case SCHED_EXPR_RATE: r = parse_rate(text, body, &e->rate, err); break;
	case SCHED_EXPR_CRON: r = parse_cron(text, body, &e->cron, err); break;
	case SCHED_EXPR_AT: r = parse_at(text, body, &e->at, err); break;
	default: r = -EINVAL; break;
	}
	if (r < 0) {
		free(e);
		return r;
	}
	e->text = xstrdup(text);
	*out = e;
	return 0;
}

void sched_expr_free(struct sched_expr *e)
{
	if (!e)
		return;
	free(e->text);
	free(e);
}

enum sched_expr_kind sched_expr_kind(const struct sched_expr *e)
{
	return e->kind;
}

const char *sched_expr_text(const struct sched_expr *e)
{
	return e->text;
}

int64_t sched_expr_rate_seconds(const struct sched_expr *e)
{
	return e->kind == SCHED_EXPR_RATE ? e->rate : 0;
}

int64_t sched_expr_at_time(const struct sched_expr *e)
{
	return e->kind == SCHED_EXPR_AT ? e->at : SCHED_EXPR_NEVER;
}

/* ---- evaluation -------------------------------------------------------- */

static bool dom_matches(const struct cron *c, int64_t y, int m, int d, int64_t days)
{
	int last = month_days(y, m);

	switch (c->dom_mode) {
	case DOM_SET:
		return (c->dom >> d) & 1;
	case DOM_LAST:
		return d == last - c->dom_arg;
	case DOM_LAST_WEEKDAY: {
		int wd = weekday(days - d + last);     /* weekday of the last day */
		int lw = wd == 1 ? last - 2 : wd == 7 ? last - 1 : last;

		return d == lw;
	}
	case DOM_NEAREST_WEEKDAY: {
		int n = c->dom_arg, target;

		if (n > last)
			return false;   /* 31W in a 30-day month: no day */
		int wd = weekday(days - d + n);
		if (wd == 7)        /* Saturday: Friday, or Monday when n is the 1st */
			target = n == 1 ? n + 2 : n - 1;
		else if (wd == 1)   /* Sunday: Monday, or Friday when n is the last day */
			target = n == last ? n - 2 : n + 1;
		else
			target = n;
		return d == target;
	}
	}
	return false;
}

static bool dow_matches(const struct cron *c, int64_t y, int m, int d, int64_t days)
{
	int wd = weekday(days);

	switch (c->dow_mode) {
	case DOW_SET:
		return (c->dow >> wd) & 1;
	case DOW_LAST_IN_MONTH:
		return wd == c->dow_day && d + 7 > month_days(y, m);
	case DOW_NTH:
		return wd == c->dow_day && (d - 1) / 7 + 1 == c->dow_nth;
	}
	return false;
}

static bool day_matches(const struct cron *c, int64_t y, int m, int d, int64_t days)
{
	if (!((c->month >> m) & 1))
		return false;
	return c->dom_any ? dow_matches(c, y, m, d, days) : dom_matches(c, y, m, d, days);
}

/* the first minute of the day (0..1439) at or after `from` that matches, or -1 */
static int first_time(const struct cron *c, int from)
{
	for (int h = from / 60; h < 24; h++) {
		if (!((c->hour >> h) & 1))
			continue;
		for (int mi = h == from / 60 ? from % 60 : 0; mi < 60; mi++) {
			if ((c->min >> mi) & 1)
				return h * 60 + mi;
		}
	}
	return -1;
}

/* the first matching time >= t (t on a minute boundary), in unscaled UTC */
static int64_t cron_next_at_or_after(const struct cron *c, int64_t t)
{
	int64_t days = floordiv(t, 86400), y;
	int m, d, from = (int)((t - days * 86400) / 60);

	if (t < 0) {
		days = 0;
		from = 0;
	}
	sched_expr_civil_from_days(days, &y, &m, &d);
	while (y <= SCHED_EXPR_YEAR_MAX) {
		if (y < SCHED_EXPR_YEAR_MIN || !test_bit(c->year, (int)(y - SCHED_EXPR_YEAR_MIN))) {
			/* to January 1st of the next year */
			y++;
			m = 1;
			d = 1;
			from = 0;
			days = sched_expr_days_from_civil(y, 1, 1);
			continue;
		}
		if (!((c->month >> m) & 1)) {
			days += month_days(y, m) - d + 1;
			from = 0;
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
			continue;
		}
		if (day_matches(c, y, m, d, days)) {
			int mt = first_time(c, from);

			if (mt >= 0)
				return days * 86400 + mt * 60;
		}
		days++;
		from = 0;
		if (++d > month_days(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	return SCHED_EXPR_NEVER;
}

static int32_t spm_of(const struct sched_expr_clock *clk)
{
	if (!clk || clk->seconds_per_minute <= 0 || clk->seconds_per_minute > 60)
		return 60;
	return clk->seconds_per_minute;
}

static int64_t anchor_of(const struct sched_expr_clock *clk)
{
	int64_t a = clk ? clk->anchor : 0;

	return a < 0 ? 0 : a > SCHED_EXPR_TIME_END ? SCHED_EXPR_TIME_END : a;
}

/* a rate()'s period in real seconds (scaled), at least 1 */
static int64_t rate_period(const struct sched_expr *e, const struct sched_expr_clock *clk)
{
	int64_t period = e->rate * spm_of(clk) / 60;

	return period < 1 ? 1 : period;
}

int64_t sched_expr_next(const struct sched_expr *e, int64_t after, const struct sched_expr_clock *clk)
{
	int64_t anchor = anchor_of(clk);
	int32_t spm = spm_of(clk);

	/* nothing fires from 2200 on; and this keeps the arithmetic small */
	if (after >= SCHED_EXPR_TIME_END)
		return SCHED_EXPR_NEVER;
	if (after < -SCHED_EXPR_TIME_END)
		after = -SCHED_EXPR_TIME_END;
	switch (e->kind) {
	case SCHED_EXPR_AT:
		return e->at > after ? e->at : SCHED_EXPR_NEVER;
	case SCHED_EXPR_RATE: {
		int64_t period = rate_period(e, clk);

		int64_t f = after < anchor ? anchor + period : anchor + (floordiv(after - anchor, period) + 1) * period;

		return f < SCHED_EXPR_TIME_END ? f : SCHED_EXPR_NEVER;
	}
	case SCHED_EXPR_CRON: {
		/* virtual time v(t) = anchor + floor((t - anchor) * 60 / spm); the
		 * first virtual fire time after v(after), mapped back with a ceiling,
		 * is the first real time after `after` whose virtual time fires */
		int64_t v = spm == 60 ? after : anchor + floordiv((after - anchor) * 60, spm);
		int64_t cand = (floordiv(v, 60) + 1) * 60;
		int64_t f = cron_next_at_or_after(&e->cron, cand);

		if (f == SCHED_EXPR_NEVER || spm == 60)
			return f;
		f = anchor - floordiv(-(f - anchor) * spm, 60);
		return f < SCHED_EXPR_TIME_END ? f : SCHED_EXPR_NEVER;
	}
	}
	return SCHED_EXPR_NEVER;
}

/* ---- missed runs ------------------------------------------------------- */

/* the latest fire time <= now, searching back from now in growing windows
 * (used only after SCHED_EXPR_COUNT_MAX fire times were walked) */
static int64_t latest_at_or_before(const struct sched_expr *e, const struct sched_expr_clock *clk, int64_t floor_t,
                                   int64_t now)
{
	static const int64_t windows[] = { 60, 3600, 86400, 32 * 86400, 367 * 86400, INT64_C(3700) * 86400, INT64_C(85000) * 86400 };

	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		int64_t b = now - windows[i] < floor_t ? floor_t : now - windows[i];
		int64_t x = sched_expr_next(e, b, clk);

		if (x == SCHED_EXPR_NEVER || x > now) {
			if (b == floor_t)
				break;
			continue;
		}
		for (int64_t y = sched_expr_next(e, x, clk); y != SCHED_EXPR_NEVER && y <= now; y = sched_expr_next(e, y, clk))
			x = y;
		return x;
	}
	return floor_t;
}

void sched_expr_due(const struct sched_expr *e, const struct sched_expr_clock *clk, int64_t last_fire,
                    int64_t now, enum sched_expr_missed policy, int64_t max_late,
                    struct sched_expr_due *due)
{
	int64_t n = 0, latest = SCHED_EXPR_NEVER;

	memset(due, 0, sizeof(*due));
	due->fire_time = SCHED_EXPR_NEVER;
	if (e->kind == SCHED_EXPR_RATE) {
		/* arithmetic: no walk over a long outage */
		int64_t first = sched_expr_next(e, last_fire, clk), period = rate_period(e, clk);

		if (first != SCHED_EXPR_NEVER && first <= now) {
			n = (now - first) / period + 1;
			latest = first + (n - 1) * period;
		}
	} else {
		for (int64_t t = sched_expr_next(e, last_fire, clk); t != SCHED_EXPR_NEVER && t <= now;
		     t = sched_expr_next(e, t, clk)) {
			latest = t;
			if (++n >= SCHED_EXPR_COUNT_MAX) {
				latest = latest_at_or_before(e, clk, t, now);
				n = SCHED_EXPR_COUNT_MAX + 1;   /* at least: missed reads the cap */
				break;
			}
		}
	}
	due->last_fire = latest == SCHED_EXPR_NEVER ? last_fire : latest;
	due->next = sched_expr_next(e, now, clk);
	if (n == 0)
		return;
	if (policy == SCHED_EXPR_RUN_ONCE || now - latest <= max_late) {
		due->run = true;
		due->fire_time = latest;
		due->missed = n - 1;
	} else {
		due->missed = n;
	}
	if (due->missed > SCHED_EXPR_COUNT_MAX)
		due->missed = SCHED_EXPR_COUNT_MAX;
}

const char *sched_expr_missed_str(enum sched_expr_missed p)
{
	return p == SCHED_EXPR_RUN_ONCE ? "run-once" : "skip-missed";
}

bool sched_expr_missed_parse(const char *s, enum sched_expr_missed *out)
{
	if (strcmp(s, "skip-missed") == 0)
		*out = SCHED_EXPR_SKIP_MISSED;
	else if (strcmp(s, "run-once") == 0)
		*out = SCHED_EXPR_RUN_ONCE;
	else
		return false;
	return true;
}
