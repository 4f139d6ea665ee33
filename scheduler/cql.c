/* scheduler/cql.c - see cql.h. A hand-written recursive descent parser over
 * the expression text (the lexing depends on where we are: after a subject
 * "!in" is an operator, at the start of a term "!" is not), compiling into
 * an array of nodes. */
#include "scheduler/cql.h"
#include "scheduler/sched-internal.h"

#include "common/cleanup.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum subject {
	S_AGENT_CONNECTED,
	S_AGENT_VERSION,
	S_ATTRIBUTE,
	S_EC2_ID,
	S_REGISTERED_AT,
	S_RUNNING_TASKS,
	S_TASK_GROUP,
};

enum op {
	O_EQ, O_NE, O_GT, O_GE, O_LT, O_LE, O_EXISTS, O_NOT_EXISTS, O_IN, O_NOT_IN,
	O_MATCHES, O_NOT_MATCHES,
};

#define OPBIT(o) (1u << (o))
#define OPS_CMP (OPBIT(O_EQ) | OPBIT(O_NE) | OPBIT(O_GT) | OPBIT(O_GE) | OPBIT(O_LT) | OPBIT(O_LE))
#define OPS_SET (OPBIT(O_EQ) | OPBIT(O_NE) | OPBIT(O_IN) | OPBIT(O_NOT_IN) | OPBIT(O_MATCHES) | \
                 OPBIT(O_NOT_MATCHES))

static const struct {
	const char *name;
	enum subject s;
	unsigned ops;   /* valid operators (ECS's lists; task:group: berth's choice) */
} subjects[] = {
	{ "agentConnected", S_AGENT_CONNECTED, OPS_SET },
	{ "agentVersion", S_AGENT_VERSION, OPS_CMP },
	{ "ec2InstanceId", S_EC2_ID, OPS_SET },
	{ "registeredAt", S_REGISTERED_AT, OPS_CMP },
	{ "runningTasksCount", S_RUNNING_TASKS, OPS_CMP },
	{ "task:group", S_TASK_GROUP, OPS_SET | OPBIT(O_EXISTS) | OPBIT(O_NOT_EXISTS) },
};

static const struct {
	const char *sym, *word;
	enum op op;
} ops[] = {
	{ "==", "equals", O_EQ },
	{ "!=", "not_equals", O_NE },
	{ ">=", "greater_than_equal", O_GE },
	{ ">", "greater_than", O_GT },
	{ "<=", "less_than_equal", O_LE },
	{ "<", "less_than", O_LT },
	{ "!exists", "not_exists", O_NOT_EXISTS },
	{ NULL, "exists", O_EXISTS },
	{ "!in", "not_in", O_NOT_IN },
	{ NULL, "in", O_IN },
	{ "=~", "matches", O_MATCHES },
	{ "!~", "not_matches", O_NOT_MATCHES },
};

static const char *op_name(enum op op)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (ops[i].op == op)
			return ops[i].sym ? ops[i].sym : ops[i].word;
	return "?";
}

enum kind { N_AND, N_OR, N_NOT, N_LEAF };

struct node {
	enum kind kind;
	uint32_t a, b;            /* children (N_AND, N_OR: a, b; N_NOT: a) */
	/* N_LEAF */
	enum subject subject;
	enum op op;
	char *name;               /* attribute name */
	char **args;
	uint32_t nargs;
	int64_t *nums;            /* per arg: number, time; numeric[i] says if it is one */
	bool *numeric;
	bool has_re;
	regex_t re;
	/* resolved against the bound cluster */
	uint32_t name_id;
	uint32_t *arg_ids;
	uint8_t *re_cache;        /* per interned id: 0 unknown, 1 no, 2 yes */
	uint32_t re_cache_n;
};

struct sched_cql {
	char *text;
	struct node *nodes;
	uint32_t n, cap, root;
	bool dynamic;
	const struct sched_cluster *bound;
	uint32_t bound_gen;
};

/* ------------------------------------------------------------ parsing */

struct parser {
	const char *s;
	size_t pos;
	struct sched_cql *q;
	struct berr **err;
	int depth;
};

static void skip_ws(struct parser *p)
{
	while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos]))
		p->pos++;
}

/* what a token looks like, for "got ..." in messages */
static const char *token_at(const struct parser *p, size_t pos)
{
	const char *t = p->s + pos;
	size_t n = 0;

	if (!*t)
		return NULL;
	if (*t == '\'' || *t == '"') {   /* a quoted value, up to its closing quote */
		const char *e = strchr(t + 1, *t);

		n = e ? (size_t)(e - t) + 1 : strlen(t);
	} else if (strchr("()[],", *t))
		n = 1;
	else
		while (t[n] && !isspace((unsigned char)t[n]) && !strchr("()[],", t[n]))
			n++;
	return berr_qn(t, n);
}

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *what = NULL;
	const char *tok = token_at(p, pos);

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	if (tok)
		return berr_set(p->err, EINVAL, "at %zu: %s, got \"%s\"", pos + 1, what, tok);
	return berr_set(p->err, EINVAL, "at %zu: %s, got the end of the expression", pos + 1, what);
}

static uint32_t new_node(struct sched_cql *q, enum kind kind)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 8;
		q->nodes = xreallocarray(q->nodes, q->cap, sizeof(*q->nodes));
	}
	q->nodes[q->n] = (struct node){ .kind = kind, .name_id = SCHED_NONE };
	return q->n++;
}

static bool is_word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* a keyword (case-insensitive) at pos, not followed by a word character */
static bool keyword_at(const struct parser *p, size_t pos, const char *kw)
{
	size_t n = strlen(kw);

	return strncasecmp(p->s + pos, kw, n) == 0 && !is_word_char(p->s[pos + n]) &&
	       p->s[pos + n] != ':' && p->s[pos + n] != '.' && p->s[pos + n] != '-';
}

static bool value_stop(const char *s)
{
	return !*s || isspace((unsigned char)*s) || strchr("()[],'\"", *s) ||
	       (s[0] == '&' && s[1] == '&') || (s[0] == '|' && s[1] == '|');
}

/* One literal: '...' or "..." (backslash escapes the quote and itself), or
 * an unquoted run up to white space, ( ) [ ] , or && ||. */
static int parse_value(struct parser *p, char **out, const char *after)
{
	size_t start;
	char q;

	skip_ws(p);
	start = p->pos;
	q = p->s[p->pos];
	if (q == '\'' || q == '"') {
		size_t n = 0;
		char *v = xmalloc(strlen(p->s + start));

		for (p->pos++; p->s[p->pos] != q; p->pos++) {
			if (!p->s[p->pos]) {
				free(v);
				return fail(p, start, "unterminated quoted value");
			}
			if (p->s[p->pos] == '\\' && (p->s[p->pos + 1] == q || p->s[p->pos + 1] == '\\'))
				p->pos++;
			v[n++] = p->s[p->pos];
		}
		p->pos++;
		v[n] = '\0';
		*out = v;
		return 0;
	}
	while (!value_stop(p->s + p->pos))
		p->pos++;
	if (p->pos == start)
		return fail(p, start, "expected a value after \"%s\"", after);
	*out = xstrndup(p->s + start, p->pos - start);
	return 0;
}

static bool parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || !(isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1]))))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool sched_cql_parse_time(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	size_t n = strlen(s);
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return false;
	s += 10;
	if (*s) {
		if (*s != 'T' || !digits(s + 1, 2, &h) || s[3] != ':' || !digits(s + 4, 2, &mi) ||
		    s[6] != ':' || !digits(s + 7, 2, &sec))
			return false;
		if (h > 23 || mi > 59 || sec > 60)
			return false;
		s += 9;
		if (*s == 'Z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			sign = *s == '+' ? 1 : -1;
			if (!digits(s + 1, 2, &oh) || s[3] != ':' || !digits(s + 4, 2, &om) || oh > 23 || om > 59)
				return false;
			s += 6;
		}
		if (*s)
			return false;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
	return true;
}

static bool version_valid(const char *s)
{
	if (*s == 'v')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	for (; *s; s++) {
		if (*s == '.' && !isdigit((unsigned char)s[1]))
			return false;
		if (*s != '.' && !isdigit((unsigned char)*s))
			return false;
	}
	return true;
}

int sched_cql_version_cmp(const char *a, const char *b)
{
	if (*a == 'v')
		a++;
	if (*b == 'v')
		b++;
	while (*a || *b) {
		unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);

		if (x != y)
			return x < y ? -1 : 1;
		/* a missing part counts as 0: 1.14 == 1.14.0 */
		if (*a == '.')
			a++;
		else if (*a)
			break;
		if (*b == '.')
			b++;
		else if (*b)
			break;
	}
	return 0;
}

/* Java's \d \w \s (and their negations outside brackets) into POSIX ERE */
static char *translate_regex(const char *re, bool *ok)
{
	size_t n = strlen(re);
	char *out = xmalloc(n * 16 + 1), *o = out;
	bool bracket = false;

	*ok = true;
	for (const char *s = re; *s; s++) {
		if (*s == '\\' && s[1] && strchr("dDwWsS", s[1])) {
			static const char *const pos[] = { "[:digit:]", "[:alnum:]_", "[:space:]" };
			int k = s[1] == 'd' || s[1] == 'D' ? 0 : s[1] == 'w' || s[1] == 'W' ? 1 : 2;
			bool neg = isupper((unsigned char)s[1]);

			if (bracket) {
				if (neg)
					*ok = false;
				o += sprintf(o, "%s", pos[k]);
			} else {
				o += sprintf(o, "[%s%s]", neg ? "^" : "", pos[k]);
			}
			s++;
			continue;
		}
		if (*s == '\\' && s[1]) {
			*o++ = *s++;
			*o++ = *s;
			continue;
		}
		if (!bracket && *s == '[') {
			bracket = true;
			*o++ = *s;
			if (s[1] == '^')
				*o++ = *++s;
			if (s[1] == ']')
				*o++ = *++s;
			continue;
		}
		if (bracket && *s == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
			char close = s[1];
			const char *e = strchr(s + 2, close);

			if (e && e[1] == ']') {
				memcpy(o, s, e + 2 - s);
				o += e + 2 - s;
				s = e + 1;
				continue;
			}
		}
		if (bracket && *s == ']')
			bracket = false;
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

/* glibc's regcomp builds an automaton as large as the expansion of counted
 * repetitions ((a{100}){100} is 10,000 copies) and can take gigabytes: so
 * estimate the expansion and refuse big ones (and bounds above 255, POSIX's
 * RE_DUP_MAX), and refuse stacked quantifiers (Java's lazy a+? and
 * possessive a++ have no POSIX form; a** is an error in Java too). */
#define REGEX_MAX_NODES 10000

static bool is_quant(char c)
{
	return c == '*' || c == '+' || c == '?' || c == '{';
}

static long regex_seq(const char **pp, int depth, const char **why);

/* a quantifier at *pp: the repetition factor (1 when none) */
static long regex_quant(const char **pp, const char **why)
{
	const char *s = *pp;
	long factor = 1;
	bool any = false;

	while (is_quant(*s)) {
		long m, n;
		char *end;

		if (any) {
			*why = "a quantifier after a quantifier";
			return -1;
		}
		any = true;
		if (*s != '{') {
			factor = *s == '?' ? 1 : 2;
			s++;
			continue;
		}
		m = strtol(s + 1, &end, 10);
		if (end == s + 1 || m < 0) {
			*why = "a bad {m,n}";
			return -1;
		}
		n = m;
		if (*end == ',') {
			const char *t = end + 1;

			n = *t == '}' ? m + 1 : strtol(t, &end, 10);
			if (*t == '}')
				end = (char *)t;
		}
		if (*end != '}' || n < m || n > 255) {
			*why = "a bad {m,n} (at most 255)";
			return -1;
		}
		factor = n ? n : 1;
		s = end + 1;
	}
	*pp = s;
	return factor;
}

static long regex_atom(const char **pp, int depth, const char **why)
{
	const char *s = *pp;
	long size = 1;

	if (*s == '(') {
		s++;
		if (depth > 32) {
			*why = "groups nested too deep";
			return -1;
		}
		size = regex_seq(&s, depth + 1, why);
		if (size < 0)
			return -1;
		if (*s == ')')
			s++;
	} else if (*s == '[') {
		s++;
		if (*s == '^')
			s++;
		if (*s == ']')
			s++;
		while (*s && *s != ']') {
			if (*s == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
				const char *e = strchr(s + 2, s[1]);

				if (e && e[1] == ']') {
					s = e + 2;
					continue;
				}
			}
			s++;
		}
		if (*s)
			s++;
	} else if (*s == '\\' && s[1]) {
		s += 2;
	} else {
		s++;
	}
	*pp = s;
	return size;
}

static long regex_seq(const char **pp, int depth, const char **why)
{
	long total = 0;

	while (**pp && **pp != ')') {
		long a, q;

		if (**pp == '|') {
			(*pp)++;
			continue;
		}
		if (is_quant(**pp)) {   /* a quantifier with nothing before it: regcomp says */
			(*pp)++;
			/* but glibc may take it as a literal and repeat it by
			 * what follows: no stacked quantifiers there either */
			if (is_quant(**pp)) {
				*why = "a quantifier after a quantifier";
				return -1;
			}
			continue;
		}
		if ((a = regex_atom(pp, depth, why)) < 0 || (q = regex_quant(pp, why)) < 0)
			return -1;
		total += a * q;
		if (total > REGEX_MAX_NODES) {
			*why = "too large once its repetitions are expanded";
			return -1;
		}
	}
	return total;
}

static int compile_regex(struct parser *p, struct node *nd, size_t at)
{
	cleanup_free char *tr = NULL, *anchored = NULL;
	char msg[128];
	regex_t probe;
	bool ok;
	int rc;

	tr = translate_regex(nd->args[0], &ok);
	if (!ok)
		return fail(p, at, "regular expression: negated class inside [] is not supported");
	{
		const char *why = NULL, *walk = tr;
		long size;

		do {   /* unbalanced ) are left to regcomp; go on after them */
			size = regex_seq(&walk, 0, &why);
			/* glibc takes an unbalanced ) as a literal, which its
			 * quantifiers repeat: counted as one (a ) followed by 40
			 * +'s made regcomp use gigabytes: tests/fuzz fuzz_cql) */
			if (size >= 0 && *walk == ')') {
				walk++;
				if (regex_quant(&walk, &why) < 0)
					size = -1;
			}
		} while (size >= 0 && *walk);
		if (size < 0)
			return fail(p, at, "regular expression: %s", why);
	}
	/* compile it alone first: then it is balanced, and ^( )$ cannot change
	 * what it means */
	rc = regcomp(&probe, tr, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &probe, msg, sizeof(msg));
		return fail(p, at, "invalid regular expression (%s)", msg);
	}
	regfree(&probe);
	anchored = xasprintf("^(%s)$", tr);
	rc = regcomp(&nd->re, anchored, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &nd->re, msg, sizeof(msg));
		return fail(p, at, "invalid regular expression (%s)", msg);
	}
	nd->has_re = true;
	return 0;
}

static void add_arg(struct node *nd, char *v)
{
	nd->args = xreallocarray(nd->args, nd->nargs + 1, sizeof(*nd->args));
	nd->args[nd->nargs++] = v;
}

/* check one argument against its subject, fill nums/numeric */
static int check_arg(struct parser *p, struct node *nd, uint32_t i, size_t at)
{
	const char *v = nd->args[i];
	int64_t num;

	nd->numeric[i] = false;
	switch (nd->subject) {
	case S_AGENT_CONNECTED:
		if (nd->op == O_MATCHES || nd->op == O_NOT_MATCHES)
			return 0;
		if (strcasecmp(v, "true") && strcasecmp(v, "false"))
			return fail(p, at, "agentConnected takes true or false");
		nd->nums[i] = strcasecmp(v, "true") == 0;
		nd->numeric[i] = true;
		return 0;
	case S_AGENT_VERSION:
		if (!version_valid(v))
			return fail(p, at, "agentVersion takes a version like 1.14.5");
		return 0;
	case S_REGISTERED_AT:
		if (!sched_cql_parse_time(v, &num))
			return fail(p, at, "registeredAt takes a date: 2018-06-18T22:28:28+00:00, "
			                   "2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18");
		nd->nums[i] = num;
		nd->numeric[i] = true;
		return 0;
	case S_RUNNING_TASKS:
		if (!parse_int(v, &num) || num < 0)
			return fail(p, at, "runningTasksCount takes a whole number");
		nd->nums[i] = num;
		nd->numeric[i] = true;
		return 0;
	case S_ATTRIBUTE:
		if (parse_int(v, &num)) {
			nd->nums[i] = num;
			nd->numeric[i] = true;
		}
		return 0;
	case S_EC2_ID:
	case S_TASK_GROUP:
		return 0;
	}
	return 0;
}

static int parse_comparison(struct parser *p, uint32_t *out)
{
	size_t start, at;
	struct node *nd;
	cleanup_free char *subj = NULL;
	uint32_t id;
	unsigned valid = ~0u;
	enum subject s = S_ATTRIBUTE;
	bool found = false;
	int r;

	skip_ws(p);
	start = p->pos;
	while (p->s[p->pos] && !isspace((unsigned char)p->s[p->pos]) &&
	       !strchr("()[],!=<>~&|'\"", p->s[p->pos]))
		p->pos++;
	if (p->pos == start)
		return fail(p, start, "expected a subject (attribute:NAME, agentConnected, agentVersion, "
		                      "ec2InstanceId, registeredAt, runningTasksCount or task:group)");
	subj = xstrndup(p->s + start, p->pos - start);
	if (strncmp(subj, "attribute:", 10) == 0) {
		if (!sched_attr_name_valid(subj + 10))
			return fail(p, start + 10, "attribute name: 1-128 of letters, digits and -_/.\\");
		found = true;
	} else {
		for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
			if (strcmp(subj, subjects[i].name) == 0) {
				s = subjects[i].s;
				valid = subjects[i].ops;
				found = true;
			}
	}
	if (!found) {
		for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++)
			if (strcasecmp(subj, subjects[i].name) == 0)
				return fail(p, start, "unknown subject (subjects are case-sensitive: %s)",
				            subjects[i].name);
		if (strncasecmp(subj, "attribute:", 10) == 0)
			return fail(p, start, "unknown subject (subjects are case-sensitive: attribute:%s)",
			            subj + 10);
		return fail(p, start, "unknown subject (expected attribute:NAME, agentConnected, "
		                      "agentVersion, ec2InstanceId, registeredAt, runningTasksCount or task:group)");
	}

	/* operator */
	skip_ws(p);
	at = p->pos;
	enum op op = O_EQ;
	found = false;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !found; i++) {
		size_t n;

		if (ops[i].sym && ops[i].sym[0] == '!' && isalpha((unsigned char)ops[i].sym[1])) {
			/* !exists, !in: the word part must end there */
			if (p->s[at] == '!' && keyword_at(p, at + 1, ops[i].sym + 1)) {
				op = ops[i].op;
				p->pos = at + strlen(ops[i].sym);
				found = true;
			}
			continue;
		}
		if (ops[i].sym && strncmp(p->s + at, ops[i].sym, n = strlen(ops[i].sym)) == 0) {
			op = ops[i].op;
			p->pos = at + n;
			found = true;
		}
	}
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !found; i++)
		if (keyword_at(p, at, ops[i].word)) {
			op = ops[i].op;
			p->pos = at + strlen(ops[i].word);
			found = true;
		}
	if (!found)
		return fail(p, at, "expected an operator after \"%s\"", berr_q(subj));
	if (!(valid & OPBIT(op)))
		return fail(p, at, "operator %s is not valid for %s", op_name(op), berr_q(subj));

	id = new_node(p->q, N_LEAF);
	nd = &p->q->nodes[id];
	nd->subject = s;
	nd->op = op;
	if (s == S_ATTRIBUTE)
		nd->name = xstrdup(subj + 10);
	if (s == S_RUNNING_TASKS || s == S_TASK_GROUP)
		p->q->dynamic = true;
	*out = id;

	/* argument */
	if (op == O_EXISTS || op == O_NOT_EXISTS)
		return 0;
	skip_ws(p);
	at = p->pos;
	if (op == O_IN || op == O_NOT_IN) {
		char open = p->s[p->pos], close = open == '[' ? ']' : ')';

		if (open != '[' && open != '(')
			return fail(p, at, "expected a list [a, b, ...] after \"%s\"", op_name(op));
		p->pos++;
		for (;;) {
			char *v;
			size_t vat;

			skip_ws(p);
			vat = p->pos;
			if ((r = parse_value(p, &v, nd->nargs ? "," : op_name(op))) < 0)
				return r;
			nd = &p->q->nodes[id];
			add_arg(nd, v);
			nd->nums = xreallocarray(nd->nums, nd->nargs, sizeof(*nd->nums));
			nd->numeric = xreallocarray(nd->numeric, nd->nargs, sizeof(*nd->numeric));
			if ((r = check_arg(p, nd, nd->nargs - 1, vat)) < 0)
				return r;
			skip_ws(p);
			if (p->s[p->pos] == close) {
				p->pos++;
				return 0;
			}
			if (p->s[p->pos] != ',')
				return fail(p, p->pos, "expected \",\" or \"%c\" in the list", close);
			p->pos++;
		}
	}
	if (p->s[at] == '[' || p->s[at] == '(')
		return fail(p, at, "a list is only valid after in and not_in; expected a value after \"%s\"",
		            op_name(op));
	char *v;

	if ((r = parse_value(p, &v, op_name(op))) < 0)
		return r;
	nd = &p->q->nodes[id];
	add_arg(nd, v);
	nd->nums = xmalloc(sizeof(*nd->nums));
	nd->numeric = xmalloc(sizeof(*nd->numeric));
	if (op == O_MATCHES || op == O_NOT_MATCHES) {
		nd->numeric[0] = false;
		return compile_regex(p, nd, at);
	}
	return check_arg(p, nd, 0, at);
}

static int parse_or(struct parser *p, uint32_t *out);

static int parse_unary(struct parser *p, uint32_t *out)
{
	size_t at;
	int r;

	skip_ws(p);
	at = p->pos;
	if (++p->depth > SCHED_CQL_MAX_DEPTH)
		return fail(p, at, "nested deeper than %d", SCHED_CQL_MAX_DEPTH);
	if (p->s[at] == '!' || keyword_at(p, at, "not")) {
		uint32_t child, id;

		p->pos += p->s[at] == '!' ? 1 : 3;
		if ((r = parse_unary(p, &child)) < 0)
			return r;
		id = new_node(p->q, N_NOT);
		p->q->nodes[id].a = child;
		*out = id;
	} else if (p->s[at] == '(') {
		p->pos++;
		if ((r = parse_or(p, out)) < 0)
			return r;
		skip_ws(p);
		if (p->s[p->pos] != ')')
			return fail(p, p->pos, "expected \")\" to close the \"(\" at %zu", at + 1);
		p->pos++;
	} else if ((r = parse_comparison(p, out)) < 0) {
		return r;
	}
	p->depth--;
	return 0;
}

static int parse_and(struct parser *p, uint32_t *out)
{
	uint32_t left, right, id;
	int r;

	if ((r = parse_unary(p, &left)) < 0)
		return r;
	for (;;) {
		skip_ws(p);
		if (p->s[p->pos] == '&' && p->s[p->pos + 1] == '&')
			p->pos += 2;
		else if (keyword_at(p, p->pos, "and"))
			p->pos += 3;
		else
			break;
		if ((r = parse_unary(p, &right)) < 0)
			return r;
		id = new_node(p->q, N_AND);
		p->q->nodes[id].a = left;
		p->q->nodes[id].b = right;
		left = id;
	}
	*out = left;
	return 0;
}

static int parse_or(struct parser *p, uint32_t *out)
{
	uint32_t left, right, id;
	int r;

	if ((r = parse_and(p, &left)) < 0)
		return r;
	for (;;) {
		skip_ws(p);
		if (p->s[p->pos] == '|' && p->s[p->pos + 1] == '|')
			p->pos += 2;
		else if (keyword_at(p, p->pos, "or"))
			p->pos += 2;
		else
			break;
		if ((r = parse_and(p, &right)) < 0)
			return r;
		id = new_node(p->q, N_OR);
		p->q->nodes[id].a = left;
		p->q->nodes[id].b = right;
		left = id;
	}
	*out = left;
	return 0;
}

int sched_cql_compile(const char *expr, struct sched_cql **out, struct berr **err)
{
	struct sched_cql *q;
	struct parser p = { .s = expr, .err = err };
	size_t len = strlen(expr);
	int r;

	*out = NULL;
	if (len > SCHED_CQL_MAX_LEN)
		return berr_set(err, EINVAL, "expression is %zu characters long, the limit is %d", len,
		                SCHED_CQL_MAX_LEN);
	q = xzalloc(sizeof(*q));
	q->text = xstrdup(expr);
	p.q = q;
	skip_ws(&p);
	if (!expr[p.pos]) {
		sched_cql_free(q);
		return berr_set(err, EINVAL, "empty expression");
	}
	r = parse_or(&p, &q->root);
	if (r == 0) {
		skip_ws(&p);
		if (expr[p.pos])
			r = fail(&p, p.pos, expr[p.pos] == ')' ? "unbalanced \")\""
			                                       : "expected \"and\", \"or\" or the end");
	}
	if (r < 0) {
		sched_cql_free(q);
		return r;
	}
	*out = q;
	return 0;
}

void sched_cql_free(struct sched_cql *q)
{
	if (!q)
		return;
	for (uint32_t i = 0; i < q->n; i++) {
		struct node *nd = &q->nodes[i];

		if (nd->kind != N_LEAF)
			continue;
		free(nd->name);
		for (uint32_t j = 0; j < nd->nargs; j++)
			free(nd->args[j]);
		free(nd->args);
		free(nd->nums);
		free(nd->numeric);
		free(nd->arg_ids);
		free(nd->re_cache);
		if (nd->has_re)
			regfree(&nd->re);
	}
	free(q->nodes);
	free(q->text);
	free(q);
}

const char *sched_cql_text(const struct sched_cql *q)
{
	return q->text;
}

bool sched_cql_dynamic(const struct sched_cql *q)
{
	return q->dynamic;
}

/* ------------------------------------------------------------ evaluation */

static void bind(struct sched_cql *q, const struct sched_cluster *cl)
{
	for (uint32_t i = 0; i < q->n; i++) {
		struct node *nd = &q->nodes[i];

		if (nd->kind != N_LEAF)
			continue;
		nd->name_id = nd->name ? sched_cluster_lookup(cl, nd->name) : SCHED_NONE;
		if (nd->nargs && !nd->arg_ids)
			nd->arg_ids = xmalloc(nd->nargs * sizeof(*nd->arg_ids));
		for (uint32_t j = 0; j < nd->nargs; j++)
			nd->arg_ids[j] = sched_cluster_lookup(cl, nd->args[j]);
		if (nd->has_re) {
			/* ids are never reused: results cached for this cluster stay valid */
			uint32_t n = cl->nstrs;

			if (q->bound != cl) {
				free(nd->re_cache);
				nd->re_cache = NULL;
				nd->re_cache_n = 0;
			}
			nd->re_cache = xreallocarray(nd->re_cache, n ? n : 1, 1);
			if (n > nd->re_cache_n)
				memset(nd->re_cache + nd->re_cache_n, 0, n - nd->re_cache_n);
			nd->re_cache_n = n;
		}
	}
	q->bound = cl;
	q->bound_gen = cl->nstrs;
}

static bool re_match_id(const struct sched_cluster *cl, struct node *nd, uint32_t id)
{
	if (id < nd->re_cache_n) {
		if (!nd->re_cache[id])
			nd->re_cache[id] = regexec(&nd->re, cl->strs[id], 0, NULL, 0) == 0 ? 2 : 1;
		return nd->re_cache[id] == 2;
	}
	return regexec(&nd->re, cl->strs[id], 0, NULL, 0) == 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static bool cmp_result(enum op op, int c)
{
	switch (op) {
	case O_EQ: return c == 0;
	case O_NE: return c != 0;
	case O_GT: return c > 0;
	case O_GE: return c >= 0;
	case O_LT: return c < 0;
	case O_LE: return c <= 0;
	default: return false;
	}
}

/* the positive form of an operator and whether it is negated */
static enum op positive(enum op op, bool *neg)
{
	*neg = true;
	switch (op) {
	case O_NE: return O_EQ;
	case O_NOT_IN: return O_IN;
	case O_NOT_MATCHES: return O_MATCHES;
	default: *neg = false; return op;
	}
}

/* an interned value (attribute value, task group) against the leaf */
static bool test_id(const struct sched_cluster *cl, struct node *nd, enum op op, uint32_t id)
{
	switch (op) {
	case O_EQ:
		return id == nd->arg_ids[0];
	case O_IN:
		for (uint32_t j = 0; j < nd->nargs; j++)
			if (id == nd->arg_ids[j])
				return true;
		return false;
	case O_MATCHES:
		return re_match_id(cl, nd, id);
	default: {
		/* ordering: numbers when both sides are whole numbers, else strings */
		const char *v = cl->strs[id];
		int64_t num;

		if (nd->numeric[0] && parse_int(v, &num))
			return cmp_result(op, cmp_i64(num, nd->nums[0]));
		return cmp_result(op, strcmp(v, nd->args[0]));
	}
	}
}

static bool test_str(struct node *nd, enum op op, const char *v)
{
	switch (op) {
	case O_EQ:
		return strcmp(v, nd->args[0]) == 0;
	case O_IN:
		for (uint32_t j = 0; j < nd->nargs; j++)
			if (strcmp(v, nd->args[j]) == 0)
				return true;
		return false;
	case O_MATCHES:
		return regexec(&nd->re, v, 0, NULL, 0) == 0;
	default:
		return false;
	}
}

static bool test_num(struct node *nd, enum op op, int64_t v)
{
	if (op == O_IN) {
		for (uint32_t j = 0; j < nd->nargs; j++)
			if (v == nd->nums[j])
				return true;
		return false;
	}
	return cmp_result(op, cmp_i64(v, nd->nums[0]));
}

static bool eval_leaf(const struct sched_cluster *cl, struct node *nd, const struct sched_instance *in)
{
	bool neg, r = false;
	enum op op = positive(nd->op, &neg);
	uint32_t v;

	switch (nd->subject) {
	case S_ATTRIBUTE:
		if (nd->name_id == SCHED_NONE || !sched_instance_attr(in, nd->name_id, &v))
			return op == O_NOT_EXISTS;
		if (op == O_EXISTS || op == O_NOT_EXISTS)
			return op == O_EXISTS;
		/* comparisons need a value: "attribute:stack != prod" selects the
		 * instances that have stack, with another value (ECS) */
		if (v == SCHED_NONE)
			return false;
		r = test_id(cl, nd, op, v);
		break;
	case S_TASK_GROUP:
		if (op == O_EXISTS || op == O_NOT_EXISTS)
			return (in->ngroups > 0) == (op == O_EXISTS);
		/* true when some task on the instance is in a matching group */
		for (uint32_t i = 0; i < in->ngroups && !r; i++)
			r = neg ? !test_id(cl, nd, op, in->groups[i].group)
			        : test_id(cl, nd, op, in->groups[i].group);
		return r;
	case S_AGENT_CONNECTED:
		if (op == O_MATCHES)
			r = test_str(nd, op, in->agent_connected ? "true" : "false");
		else
			r = test_num(nd, op, in->agent_connected);
		break;
	case S_EC2_ID:
		r = test_str(nd, op, in->ec2_id);
		break;
	case S_AGENT_VERSION:
		if (!in->agent_version[0])
			return false;
		r = cmp_result(op, sched_cql_version_cmp(in->agent_version, nd->args[0]));
		break;
	case S_REGISTERED_AT:
		r = test_num(nd, op, in->registered_at);
		break;
	case S_RUNNING_TASKS:
		r = test_num(nd, op, in->running);
		break;
	}
	return neg ? !r : r;
}

static bool eval_node(struct sched_cql *q, const struct sched_cluster *cl, uint32_t i,
                      const struct sched_instance *in)
{
	struct node *nd = &q->nodes[i];

	switch (nd->kind) {
	case N_AND:
		return eval_node(q, cl, nd->a, in) && eval_node(q, cl, nd->b, in);
	case N_OR:
		return eval_node(q, cl, nd->a, in) || eval_node(q, cl, nd->b, in);
	case N_NOT:
		return !eval_node(q, cl, nd->a, in);
	case N_LEAF:
		break;
	}
	return eval_leaf(cl, nd, in);
}

bool sched_cql_eval(struct sched_cql *q, const struct sched_cluster *cl, uint32_t idx)
{
	if (q->bound != cl || q->bound_gen != cl->nstrs)
		bind(q, cl);
	return eval_node(q, cl, q->root, &cl->inst[idx]);
}
