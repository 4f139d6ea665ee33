/* lb/rules.c - see rules.h. */
#include "lb/rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/glob.h"
#include "common/xalloc.h"

#define MAX_PATTERN 128
#define MAX_HEADER_NAME 40
#define MAX_BODY 1024

/* common/glob.h's matcher, the one IAM policies use: greedy with one
 * backtrack point, bounded by (plen + 1) * (slen + 2) steps. */
bool lb_glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool icase)
{
	return glob_match(pat, plen, s, slen, icase, NULL);
}

/* ------------------------------------------------------------------ free */

static void action_free(struct lb_action *a)
{
	for (size_t i = 0; i < a->n_groups; i++)
		free(a->groups[i].arn);
	free(a->groups);
	free(a->content_type);
	free(a->body);
	free(a->protocol);
	free(a->host);
	free(a->port);
	free(a->path);
	free(a->query);
	memset(a, 0, sizeof(*a));
}

static void cond_free(struct lb_cond *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->pat)
			free(c->pat[i].s);
		if (c->kv) {
			free(c->kv[i].key.s);
			free(c->kv[i].value.s);
		}
	}
	free(c->pat);
	free(c->kv);
	free(c->cidr);
	free(c->header);
}

void lb_rules_free(struct lb_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++) {
		for (size_t k = 0; k < rs->rules[i].n_conds; k++)
			cond_free(&rs->rules[i].conds[k]);
		free(rs->rules[i].conds);
		action_free(&rs->rules[i].action);
	}
	free(rs->rules);
	action_free(&rs->default_action);
	free(rs);
}

static void ruleset_freep(struct lb_ruleset **p)
{
	lb_rules_free(*p);
}

/* --------------------------------------------------------------- parsing */

static const struct {
	const char *name;
	enum lb_cond_field field;
	const char *config; /* the *Config object's key */
} fields[] = {
	{ "path-pattern", LB_COND_PATH, "PathPatternConfig" },
	{ "host-header", LB_COND_HOST, "HostHeaderConfig" },
	{ "http-header", LB_COND_HEADER, "HttpHeaderConfig" },
	{ "http-request-method", LB_COND_METHOD, "HttpRequestMethodConfig" },
	{ "query-string", LB_COND_QUERY, "QueryStringConfig" },
	{ "source-ip", LB_COND_SOURCE_IP, "SourceIpConfig" },
};

static int values_array(const json_t *arr, const char *path, size_t *n, struct berr **err)
{
	if (!json_is_array(arr))
		return berr_set(err, EINVAL, "%s: expected array, got %s", path, bjson_type_name(arr));
	*n = json_array_size(arr);
	if (*n == 0)
		return berr_set(err, EINVAL, "%s: at least one value", path);
	if (*n > LB_RULE_MAX_VALUES)
		return berr_set(err, EINVAL, "%s: at most %d values", path, LB_RULE_MAX_VALUES);
	return 0;
}

static int pattern_of(const json_t *v, const char *path, size_t i, size_t max, bool empty_ok,
		      struct lb_pattern *out, struct berr **err)
{
	cleanup_free char *ip = bjson_path_index(path, i);
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return berr_set(err, EINVAL, "%s: expected string, got %s", ip, bjson_type_name(v));
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 && !empty_ok)
		return berr_set(err, EINVAL, "%s: empty", ip);
	if (len > max)
		return berr_set(err, EINVAL, "%s: longer than %zu characters", ip, max);
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f)
			return berr_set(err, EINVAL, "%s: control character in \"%s\"", ip, berr_q(s));
	out->s = xstrndup(s, len);
	out->len = len;
	return 0;
}

static int cidr_of(const char *s, const char *path, struct lb_cidr *c, struct berr **err)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	char *end;
	long bits;
	size_t alen;

	if (!slash || (alen = (size_t)(slash - s)) == 0 || alen >= sizeof(addr))
		return berr_set(err, EINVAL, "%s: \"%s\" is not a CIDR block (address/prefix)", path,
				berr_q(s));
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, addr, c->addr) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, c->addr) == 1)
		c->family = AF_INET6;
	else
		return berr_set(err, EINVAL, "%s: \"%s\" is not an IP address", path, berr_q(addr));
	errno = 0;
	if (slash[1] < '0' || slash[1] > '9')
		return berr_set(err, EINVAL, "%s: bad prefix length in \"%s\"", path, berr_q(s));
	bits = strtol(slash + 1, &end, 10);
	if (*end || errno || bits > (c->family == AF_INET ? 32 : 128))
		return berr_set(err, EINVAL, "%s: bad prefix length in \"%s\"", path, berr_q(s));
	c->prefix = (uint8_t)bits;
	/* host bits must be zero, as ELBv2 requires of a CIDR block */
	for (unsigned b = c->prefix; b < (c->family == AF_INET ? 32u : 128u); b++)
		if (c->addr[b / 8] & (0x80 >> (b % 8)))
			return berr_set(err, EINVAL, "%s: \"%s\" has bits set past the prefix", path,
					berr_q(s));
	return 0;
}

static bool valid_method_pattern(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_' || *s == '*' || *s == '?'))
			return false;
	return true;
}

static bool valid_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

static int parse_condition(const json_t *c, const char *path, struct lb_cond *out,
			   unsigned *seen, struct berr **err)
{
	const char *field;
	const json_t *cfg = NULL, *vals = NULL, *legacy;
	cleanup_free char *vpath = NULL;
	size_t f, n = 0;
	int r;

	if ((r = bjson_expect_object(c, path, err)) < 0)
		return r;
	if ((r = bjson_get_string(c, path, "Field", true, &field, err)) < 0)
		return r;
	for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
		if (strcmp(fields[f].name, field) == 0)
			break;
	if (f == sizeof(fields) / sizeof(fields[0]))
		return berr_set(err, EINVAL, "%s.Field: unknown field \"%s\"", path, berr_q(field));
	out->field = fields[f].field;
	/* http-header and query-string may repeat; the others appear once */
	if (out->field != LB_COND_HEADER && out->field != LB_COND_QUERY) {
		if (*seen & (1u << out->field))
			return berr_set(err, EINVAL, "%s.Field: %s given twice in one rule", path, field);
		*seen |= 1u << out->field;
	}
	if ((r = bjson_get_object(c, path, fields[f].config, false, (json_t **)&cfg, err)) < 0)
		return r;
	legacy = json_object_get(c, "Values");
	if (legacy && json_is_null(legacy))
		legacy = NULL;
	if (cfg) {
		cleanup_free char *cpath = bjson_path_key(path, fields[f].config);

		if (out->field == LB_COND_HEADER) {
			const char *name;

			if ((r = bjson_get_string(cfg, cpath, "HttpHeaderName", true, &name, err)) < 0)
				return r;
			if (!valid_token(name) || strlen(name) > MAX_HEADER_NAME)
				return berr_set(err, EINVAL, "%s.HttpHeaderName: \"%s\" is not a header name"
						" (a token of at most %d characters)", cpath, berr_q(name),
						MAX_HEADER_NAME);
			out->header = xstrdup(name);
		}
		if ((r = bjson_get_array(cfg, cpath, "Values", true, (json_t **)&vals, err)) < 0)
			return r;
		vpath = bjson_path_key(cpath, "Values");
		if (legacy) {
			/* ELBv2 shows both for path-pattern and host-header; they must agree */
			if (!json_equal((json_t *)legacy, (json_t *)vals))
				return berr_set(err, EINVAL, "%s.Values: differs from %s.Values", path,
						cpath);
		}
	} else if (legacy && (out->field == LB_COND_PATH || out->field == LB_COND_HOST)) {
		vals = legacy;
		vpath = bjson_path_key(path, "Values");
	} else {
		return berr_set(err, EINVAL, "%s.%s: required", path, fields[f].config);
	}
	if ((r = values_array(vals, vpath, &n, err)) < 0)
		return r;
	if (out->field == LB_COND_QUERY)
		out->kv = xcalloc(n, sizeof(*out->kv));
	else if (out->field == LB_COND_SOURCE_IP)
		out->cidr = xcalloc(n, sizeof(*out->cidr));
	else
		out->pat = xcalloc(n, sizeof(*out->pat));
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(vals, i);
		cleanup_free char *ip = bjson_path_index(vpath, i);

		out->n = i + 1; /* what is filled so far, for cond_free */
		switch (out->field) {
		case LB_COND_PATH:
		case LB_COND_HOST:
		case LB_COND_HEADER:
			if ((r = pattern_of(v, vpath, i, MAX_PATTERN, out->field == LB_COND_HEADER,
					    &out->pat[i], err)) < 0)
				return r;
			if (out->field == LB_COND_PATH && out->pat[i].s[0] != '/' &&
			    out->pat[i].s[0] != '*' && out->pat[i].s[0] != '?')
				return berr_set(err, EINVAL, "%s: a path pattern starts with /", ip);
			break;
		case LB_COND_METHOD:
			if ((r = pattern_of(v, vpath, i, 40, false, &out->pat[i], err)) < 0)
				return r;
			if (!valid_method_pattern(out->pat[i].s))
				return berr_set(err, EINVAL, "%s: \"%s\" is not a method (A-Z, '-', '_')",
						ip, berr_q(out->pat[i].s));
			break;
		case LB_COND_QUERY: {
			const char *key = NULL, *value;

			if ((r = bjson_expect_object(v, ip, err)) < 0 ||
			    (r = bjson_get_string(v, ip, "Key", false, &key, err)) < 0 ||
			    (r = bjson_get_string(v, ip, "Value", true, &value, err)) < 0)
				return r;
			if (key) {
				json_t *k = json_object_get(v, "Key");

				if ((r = pattern_of(k, ip, 0, MAX_PATTERN, false, &out->kv[i].key, err)) < 0)
					return r;
			}
			if ((r = pattern_of(json_object_get(v, "Value"), ip, 1, MAX_PATTERN, false,
					    &out->kv[i].value, err)) < 0)
				return r;
			break;
		}
		case LB_COND_SOURCE_IP:
			if (!json_is_string(v))
				return berr_set(err, EINVAL, "%s: expected string, got %s", ip,
						bjson_type_name(v));
			if ((r = cidr_of(json_string_value(v), ip, &out->cidr[i], err)) < 0)
				return r;
			break;
		}
	}
	return 0;
}

static int status_of(const char *s, const char *path, int lo, int hi, int *out, struct berr **err)
{
	if (strlen(s) != 3 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
	    s[2] > '9')
		return berr_set(err, EINVAL, "%s: \"%s\" is not a status code", path, berr_q(s));
	*out = atoi(s);
	if (*out < lo || *out > hi || (*out >= 300 && *out < 400))
		return berr_set(err, EINVAL, "%s: %d is not a 2XX, 4XX or 5XX status", path, *out);
	return 0;
}

/* "#{protocol}" etc. only; a '#' not starting one of them is an error */
static int check_template(const char *t, const char *path, struct berr **err)
{
	static const char *const keys[] = { "#{protocol}", "#{host}", "#{port}", "#{path}",
					    "#{query}" };

	for (const char *p = strchr(t, '#'); p; p = strchr(p + 1, '#')) {
		bool ok = false;

		for (size_t k = 0; k < 5; k++)
			if (strncmp(p, keys[k], strlen(keys[k])) == 0)
				ok = true;
		if (!ok)
			return berr_set(err, EINVAL, "%s: unknown substitution in \"%s\" (#{protocol}, "
					"#{host}, #{port}, #{path}, #{query})", path, berr_q(t));
	}
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return berr_set(err, EINVAL, "%s: space or control character in \"%s\"", path,
					berr_q(t));
	return 0;
}

static int redirect_field(const json_t *cfg, const char *path, const char *key, const char *def,
			  char **out, struct berr **err)
{
	const char *v = def;
	cleanup_free char *kp = bjson_path_key(path, key);
	int r;

	if ((r = bjson_get_string(cfg, path, key, false, &v, err)) < 0)
		return r;
	if (strlen(v) > MAX_PATTERN)
		return berr_set(err, EINVAL, "%s: longer than %d characters", kp, MAX_PATTERN);
	if ((r = check_template(v, kp, err)) < 0)
		return r;
	*out = xstrdup(v);
	return 0;
}

static int parse_action(const json_t *a, const char *path, struct lb_action *out,
			struct berr **err)
{
	const char *type;
	int r;

	if ((r = bjson_expect_object(a, path, err)) < 0 ||
	    (r = bjson_get_string(a, path, "Type", true, &type, err)) < 0)
		return r;
	if (strcmp(type, "forward") == 0) {
		const char *arn = NULL;
		json_t *fc = NULL, *tgs = NULL;

		out->type = LB_ACTION_FORWARD;
		if ((r = bjson_get_string(a, path, "TargetGroupArn", false, &arn, err)) < 0 ||
		    (r = bjson_get_object(a, path, "ForwardConfig", false, &fc, err)) < 0)
			return r;
		if (fc) {
			cleanup_free char *fp = bjson_path_key(path, "ForwardConfig");
			cleanup_free char *tp = bjson_path_key(fp, "TargetGroups");
			size_t n;
			uint64_t total = 0;

			if ((r = bjson_get_array(fc, fp, "TargetGroups", true, &tgs, err)) < 0)
				return r;
			n = json_array_size(tgs);
			if (n == 0 || n > LB_RULE_MAX_FORWARD_GROUPS)
				return berr_set(err, EINVAL, "%s: 1 to %d target groups", tp,
						LB_RULE_MAX_FORWARD_GROUPS);
			out->groups = xcalloc(n, sizeof(*out->groups));
			for (size_t i = 0; i < n; i++) {
				cleanup_free char *ip = bjson_path_index(tp, i);
				const json_t *g = json_array_get(tgs, i);
				const char *garn;
				int64_t w = 1;

				if ((r = bjson_expect_object(g, ip, err)) < 0 ||
				    (r = bjson_get_string(g, ip, "TargetGroupArn", true, &garn, err)) < 0 ||
				    (r = bjson_get_int_range(g, ip, "Weight", false, 0, 999, &w, err)) < 0)
					return r;
				for (size_t k = 0; k < i; k++)
					if (strcmp(out->groups[k].arn, garn) == 0)
						return berr_set(err, EINVAL, "%s.TargetGroupArn: \"%s\" given twice",
								ip, berr_q(garn));
				out->groups[i].arn = xstrdup(garn);
				out->groups[i].weight = (uint32_t)w;
				out->n_groups = i + 1;
				total += (uint64_t)w;
			}
			if (total == 0)
				return berr_set(err, EINVAL, "%s: the weights add up to 0", tp);
			if (arn && (n != 1 || strcmp(arn, out->groups[0].arn) != 0))
				return berr_set(err, EINVAL, "%s.TargetGroupArn: differs from ForwardConfig",
						path);
		} else if (arn) {
			out->groups = xcalloc(1, sizeof(*out->groups));
			out->groups[0].arn = xstrdup(arn);
			out->groups[0].weight = 1;
			out->n_groups = 1;
		} else {
			return berr_set(err, EINVAL, "%s: forward needs TargetGroupArn or ForwardConfig",
					path);
		}
		if (strlen(out->groups[0].arn) == 0)
			return berr_set(err, EINVAL, "%s: empty target group ARN", path);
	} else if (strcmp(type, "fixed-response") == 0) {
		json_t *fc;
		cleanup_free char *fp = bjson_path_key(path, "FixedResponseConfig");
		cleanup_free char *sp = bjson_path_key(fp, "StatusCode");
		const char *st, *ct = NULL, *body = NULL;
		static const char *const types[] = { "text/plain", "text/css", "text/html",
						     "application/javascript", "application/json" };

		out->type = LB_ACTION_FIXED_RESPONSE;
		if ((r = bjson_get_object(a, path, "FixedResponseConfig", true, &fc, err)) < 0 ||
		    (r = bjson_get_string(fc, fp, "StatusCode", true, &st, err)) < 0 ||
		    (r = bjson_get_string(fc, fp, "ContentType", false, &ct, err)) < 0 ||
		    (r = bjson_get_string(fc, fp, "MessageBody", false, &body, err)) < 0)
			return r;
		if ((r = status_of(st, sp, 200, 599, &out->status, err)) < 0)
			return r;
		if (ct) {
			size_t k;

			for (k = 0; k < 5 && strcmp(types[k], ct) != 0; k++)
				;
			if (k == 5)
				return berr_set(err, EINVAL, "%s.ContentType: \"%s\" is not one of text/plain, "
						"text/css, text/html, application/javascript, "
						"application/json", fp, berr_q(ct));
			out->content_type = xstrdup(ct);
		}
		if (body) {
			if (strlen(body) > MAX_BODY)
				return berr_set(err, EINVAL, "%s.MessageBody: longer than %d characters", fp,
						MAX_BODY);
			out->body = xstrdup(body);
		}
	} else if (strcmp(type, "redirect") == 0) {
		json_t *rc;
		cleanup_free char *rp = bjson_path_key(path, "RedirectConfig");
		const char *st;

		out->type = LB_ACTION_REDIRECT;
		if ((r = bjson_get_object(a, path, "RedirectConfig", true, &rc, err)) < 0 ||
		    (r = bjson_get_string(rc, rp, "StatusCode", true, &st, err)) < 0)
			return r;
		if (strcmp(st, "HTTP_301") == 0)
			out->status = 301;
		else if (strcmp(st, "HTTP_302") == 0)
			out->status = 302;
		else
			return berr_set(err, EINVAL, "%s.StatusCode: \"%s\" is not HTTP_301 or HTTP_302", rp,
					berr_q(st));
		if ((r = redirect_field(rc, rp, "Protocol", "#{protocol}", &out->protocol, err)) < 0 ||
		    (r = redirect_field(rc, rp, "Host", "#{host}", &out->host, err)) < 0 ||
		    (r = redirect_field(rc, rp, "Port", "#{port}", &out->port, err)) < 0 ||
		    (r = redirect_field(rc, rp, "Path", "/#{path}", &out->path, err)) < 0 ||
		    (r = redirect_field(rc, rp, "Query", "#{query}", &out->query, err)) < 0)
			return r;
		if (strcmp(out->protocol, "#{protocol}") != 0 && strcmp(out->protocol, "HTTP") != 0 &&
		    strcmp(out->protocol, "HTTPS") != 0)
			return berr_set(err, EINVAL, "%s.Protocol: \"%s\" is not HTTP, HTTPS or #{protocol}",
					rp, berr_q(out->protocol));
		if (strcmp(out->port, "#{port}") != 0) {
			char *end;
			long port = strtol(out->port, &end, 10);

			if (*end || out->port[0] < '1' || out->port[0] > '9' || port > 65535)
				return berr_set(err, EINVAL, "%s.Port: \"%s\" is not a port or #{port}", rp,
						berr_q(out->port));
		}
		if (out->path[0] != '/')
			return berr_set(err, EINVAL, "%s.Path: must start with /", rp);
		if (out->query[0] == '?')
			return berr_set(err, EINVAL, "%s.Query: without the leading ?", rp);
	} else {
		return berr_set(err, EINVAL, "%s.Type: unsupported action type \"%s\" (forward, "
				"fixed-response, redirect)", path, berr_q(type));
	}
	return 0;
}

/* One terminal action (ELBv2 allows authenticate-* before it; berth-lb has none). */
static int parse_actions(const json_t *arr, const char *path, struct lb_action *out,
			 struct berr **err)
{
	size_t n;
	int r;

	if (!json_is_array(arr))
		return berr_set(err, EINVAL, "%s: expected array, got %s", path, bjson_type_name(arr));
	n = json_array_size(arr);
	if (n != 1)
		return berr_set(err, EINVAL, "%s: exactly one action (forward, fixed-response or "
				"redirect), got %zu", path, n);
	{
		cleanup_free char *ip = bjson_path_index(path, 0);

		if ((r = parse_action(json_array_get(arr, 0), ip, out, err)) < 0) {
			action_free(out);
			return r;
		}
	}
	return 0;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct lb_rule *x = a, *y = b;

	return x->priority < y->priority ? -1 : x->priority > y->priority;
}

static int priority_of(const json_t *rule, const char *path, bool *is_default, uint32_t *out,
		       struct berr **err)
{
	const json_t *p = json_object_get(rule, "Priority");
	const json_t *d = json_object_get(rule, "IsDefault");
	int64_t v;

	*is_default = d && json_is_true(d);
	if (d && !json_is_boolean(d) && !json_is_null(d))
		return berr_set(err, EINVAL, "%s.IsDefault: expected boolean, got %s", path,
				bjson_type_name(d));
	if (json_is_string(p) && strcmp(json_string_value(p), "default") == 0) {
		*is_default = true;
		return 0;
	}
	if (*is_default) {
		if (!p || json_is_null(p))
			return 0;
		return berr_set(err, EINVAL, "%s.Priority: a default rule has priority \"default\"", path);
	}
	if (json_is_integer(p)) {
		v = json_integer_value(p);
	} else if (json_is_string(p)) {
		const char *s = json_string_value(p);
		char *end;

		if (*s < '0' || *s > '9')
			return berr_set(err, EINVAL, "%s.Priority: \"%s\" is not a number", path, berr_q(s));
		errno = 0;
		v = strtoll(s, &end, 10);
		if (*end || errno)
			return berr_set(err, EINVAL, "%s.Priority: \"%s\" is not a number", path, berr_q(s));
	} else {
		return berr_set(err, EINVAL, "%s.Priority: required (1 to %d)", path,
				LB_RULE_MAX_PRIORITY);
	}
	if (v < 1 || v > LB_RULE_MAX_PRIORITY)
		return berr_set(err, EINVAL, "%s.Priority: %lld out of range [1, %d]", path,
				(long long)v, LB_RULE_MAX_PRIORITY);
	*out = (uint32_t)v;
	return 0;
}

int lb_rules_compile(const json_t *doc, struct lb_ruleset **out, struct berr **err)
{
	__attribute__((cleanup(ruleset_freep))) struct lb_ruleset *rs = xzalloc(sizeof(*rs));
	json_t *rules = NULL, *defaults = NULL;
	bool have_default = false;
	size_t n;
	int r;

	if ((r = bjson_expect_object(doc, "", err)) < 0 ||
	    (r = bjson_get_array(doc, "", "Rules", false, &rules, err)) < 0)
		return r;
	defaults = json_object_get(doc, "DefaultActions");
	if (defaults && !json_is_null(defaults)) {
		if ((r = parse_actions(defaults, "DefaultActions", &rs->default_action, err)) < 0)
			return r;
		have_default = true;
	}
	n = rules ? json_array_size(rules) : 0;
	rs->rules = xcalloc(n ? n : 1, sizeof(*rs->rules));
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *rp = bjson_path_index("Rules", i);
		cleanup_free char *cp = bjson_path_key(rp, "Conditions");
		cleanup_free char *ap = bjson_path_key(rp, "Actions");
		const json_t *rule = json_array_get(rules, i);
		struct lb_rule *ru = &rs->rules[rs->n];
		json_t *conds = NULL, *acts;
		bool is_default;
		unsigned seen = 0;
		size_t nc;

		if ((r = bjson_expect_object(rule, rp, err)) < 0 ||
		    (r = priority_of(rule, rp, &is_default, &ru->priority, err)) < 0 ||
		    (r = bjson_get_array(rule, rp, "Conditions", false, &conds, err)) < 0 ||
		    (r = bjson_get_array(rule, rp, "Actions", true, &acts, err)) < 0)
			return r;
		nc = conds ? json_array_size(conds) : 0;
		if (is_default) {
			if (have_default)
				return berr_set(err, EINVAL, "%s: a second default rule", rp);
			if (nc)
				return berr_set(err, EINVAL, "%s.Conditions: a default rule has none", rp);
			if ((r = parse_actions(acts, ap, &rs->default_action, err)) < 0)
				return r;
			have_default = true;
			continue;
		}
		if (nc == 0)
			return berr_set(err, EINVAL, "%s: at least one condition", cp);
		for (size_t k = 0; k < rs->n; k++)
			if (rs->rules[k].priority == ru->priority)
				return berr_set(err, EINVAL, "%s.Priority: %u is also the priority of another "
						"rule", rp, ru->priority);
		rs->n++;
		ru->conds = xcalloc(nc, sizeof(*ru->conds));
		for (size_t k = 0; k < nc; k++) {
			cleanup_free char *kp = bjson_path_index(cp, k);

			ru->n_conds = k + 1;
			if ((r = parse_condition(json_array_get(conds, k), kp, &ru->conds[k], &seen,
						 err)) < 0)
				return r;
		}
		if ((r = parse_actions(acts, ap, &ru->action, err)) < 0)
			return r;
	}
	if (!have_default)
		return berr_set(err, EINVAL, "DefaultActions: required");
	qsort(rs->rules, rs->n, sizeof(*rs->rules), rule_cmp);
	*out = steal_pointer(&rs);
	return 0;
}

/* -------------------------------------------------------------- matching */

void lb_rule_req_from_http(struct lb_rule_req *r, const char *buf, const struct lb_http_head *h)
{
	r->method = buf + h->method_s.off;
	r->method_len = h->method_s.len;
	r->host = h->has_host ? buf + h->host.off : "";
	r->host_len = h->has_host ? h->host.len : 0;
	r->path = buf + h->path.off;
	r->path_len = h->path.len;
	r->query = h->has_query ? buf + h->query.off : NULL;
	r->query_len = h->has_query ? h->query.len : 0;
	r->buf = buf;
	r->head = h;
}

static bool any_pattern(const struct lb_cond *c, const char *s, size_t len, bool icase)
{
	for (size_t i = 0; i < c->n; i++)
		if (lb_glob_match(c->pat[i].s, c->pat[i].len, s, len, icase))
			return true;
	return false;
}

/* the host without ":port" ("[::1]:80" -> "[::1]") */
static size_t host_name_len(const char *h, size_t n)
{
	size_t i = n;

	while (i > 0 && h[i - 1] >= '0' && h[i - 1] <= '9')
		i--;
	if (i > 0 && h[i - 1] == ':' && (h[0] != '[' || (i >= 2 && h[i - 2] == ']')))
		return i - 1;
	return n;
}

static bool query_matches(const struct lb_cond *c, const char *q, size_t n)
{
	size_t i = 0;

	if (!q)
		return false;
	while (i <= n) {
		const char *pair = q + i, *amp = memchr(pair, '&', n - i);
		size_t plen = amp ? (size_t)(amp - pair) : n - i;
		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq ? (size_t)(eq - pair) : plen;
		const char *val = eq ? eq + 1 : pair + plen;
		size_t vlen = eq ? plen - klen - 1 : 0;

		if (plen) {
			for (size_t k = 0; k < c->n; k++) {
				const struct lb_kv_pattern *kv = &c->kv[k];

				if (kv->key.s) {
					if (eq && lb_glob_match(kv->key.s, kv->key.len, pair, klen, true) &&
					    lb_glob_match(kv->value.s, kv->value.len, val, vlen, true))
						return true;
				} else if (lb_glob_match(kv->value.s, kv->value.len, eq ? val : pair,
							 eq ? vlen : plen, true)) {
					/* a value alone matches a pair's value, or a bare word */
					return true;
				}
			}
		}
		i += plen + 1;
	}
	return false;
}

static bool cidr_contains(const struct lb_cidr *c, int family, const uint8_t *a)
{
	unsigned full = c->prefix / 8, rest = c->prefix % 8;

	if (family != c->family)
		return false;
	if (memcmp(c->addr, a, full) != 0)
		return false;
	return rest == 0 || ((c->addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool cond_matches(const struct lb_cond *c, const struct lb_rule_req *r)
{
	switch (c->field) {
	case LB_COND_PATH:
		if (r->path_len == 0)
			return any_pattern(c, "/", 1, false);
		return any_pattern(c, r->path, r->path_len, false);
	case LB_COND_HOST:
		return any_pattern(c, r->host, host_name_len(r->host, r->host_len), true);
	case LB_COND_METHOD:
		return any_pattern(c, r->method, r->method_len, false);
	case LB_COND_QUERY:
		return query_matches(c, r->query, r->query_len);
	case LB_COND_SOURCE_IP:
		for (size_t i = 0; i < c->n; i++)
			if (cidr_contains(&c->cidr[i], r->family, r->addr))
				return true;
		return false;
	case LB_COND_HEADER:
		if (!r->head)
			return false;
		for (uint32_t i = 0; i < r->head->n_headers; i++) {
			const struct lb_http_header *h = &r->head->headers[i];

			if (lb_http_span_caseeq(r->buf, h->name, c->header) &&
			    any_pattern(c, r->buf + h->value.off, h->value.len, true))
				return true;
		}
		return false;
	}
	return false;
}

const struct lb_action *lb_rules_match(const struct lb_ruleset *rs, const struct lb_rule_req *r,
				       uint32_t *priority)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct lb_rule *ru = &rs->rules[i];
		size_t k;

		for (k = 0; k < ru->n_conds && cond_matches(&ru->conds[k], r); k++)
			;
		if (k == ru->n_conds) {
			if (priority)
				*priority = ru->priority;
			return &ru->action;
		}
	}
	if (priority)
		*priority = 0;
	return &rs->default_action;
}

/* ------------------------------------------------------------- redirects */

struct sbuf {
	char *p;
	size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void expand(struct sbuf *b, const char *t, const struct lb_rule_req *r)
{
	char port[8];
	size_t hl = host_name_len(r->host, r->host_len);
	const char *path = r->path_len ? r->path : "/";
	size_t plen = r->path_len ? r->path_len : 1;

	snprintf(port, sizeof(port), "%u", r->port);
	while (*t) {
		if (strncmp(t, "#{protocol}", 11) == 0) {
			sb_add(b, r->https ? "HTTPS" : "HTTP", r->https ? 5 : 4);
			t += 11;
		} else if (strncmp(t, "#{host}", 7) == 0) {
			sb_add(b, r->host, hl);
			t += 7;
		} else if (strncmp(t, "#{port}", 7) == 0) {
			sb_add(b, port, strlen(port));
			t += 7;
		} else if (strncmp(t, "#{path}", 7) == 0) {
			/* ELBv2's #{path} is the path without its leading '/' */
			sb_add(b, path + 1, plen - 1);
			t += 7;
		} else if (strncmp(t, "#{query}", 8) == 0) {
			if (r->query)
				sb_add(b, r->query, r->query_len);
			t += 8;
		} else {
			sb_add(b, t, 1);
			t++;
		}
	}
}

char *lb_rules_redirect_location(const struct lb_action *a, const struct lb_rule_req *r)
{
	struct sbuf proto = { 0 }, port = { 0 }, out = { 0 };
	bool https;

	expand(&proto, a->protocol, r);
	expand(&port, a->port, r);
	https = strcasecmp(proto.p, "HTTPS") == 0;
	sb_add(&out, https ? "https://" : "http://", https ? 8 : 7);
	expand(&out, a->host, r);
	if (strcmp(port.p, https ? "443" : "80") != 0) {
		sb_add(&out, ":", 1);
		sb_add(&out, port.p, port.len);
	}
	expand(&out, a->path, r);
	{
		size_t before = out.len;

		sb_add(&out, "?", 1);
		expand(&out, a->query, r);
		if (out.len == before + 1) { /* empty query: no '?' */
			out.len = before;
			out.p[before] = '\0';
		}
	}
	free(proto.p);
	free(port.p);
	return out.p;
}
