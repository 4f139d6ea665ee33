/* netns/sg.c - security-group configuration: model and strict JSON parser. */
#include "netns/sg.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/xalloc.h"

bool netns_sg_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NETNS_SG_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

const char *netns_sg_proto_name(enum netns_sg_proto p)
{
	switch (p) {
	case NETNS_SG_TCP:
		return "tcp";
	case NETNS_SG_UDP:
		return "udp";
	case NETNS_SG_ICMP:
		return "icmp";
	case NETNS_SG_ALL:
		break;
	}
	return "all";
}

void netns_sg_config_free(struct netns_sg_config *c)
{
	for (size_t i = 0; i < c->n_groups; i++) {
		struct netns_sg *g = &c->groups[i];

		for (size_t r = 0; r < g->n_rules; r++)
			free(g->rules[r].source_group);
		free(g->rules);
		free(g->name);
	}
	free(c->groups);
	c->groups = NULL;
	c->n_groups = 0;
}

const struct netns_sg *netns_sg_find(const struct netns_sg_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_groups; i++)
		if (strcmp(c->groups[i].name, name) == 0)
			return &c->groups[i];
	return NULL;
}

/* Refuse any key of obj (an object found at path) not in `known`. */
static int check_keys(const json_t *obj, const char *path, const char *const *known,
		      struct berr **err)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;

		for (const char *const *k = known; *k; k++)
			ok |= strcmp(key, *k) == 0;
		if (!ok) {
			cleanup_free char *p = bjson_path_key(path, key);

			return berr_set(err, 0, "%s: unknown field", p);
		}
	}
	return 0;
}

/* 1 with *out set when key is present, 0 when absent. */
static int get_port(const json_t *obj, const char *path, const char *key, uint16_t *out,
		    struct berr **err)
{
	int64_t v;
	int r = bjson_get_int(obj, path, key, false, &v, err);

	if (r <= 0)
		return r;
	if (v < 1 || v > 65535) {
		cleanup_free char *p = bjson_path_key(path, key);

		return berr_set(err, 0, "%s: must be 1..65535", p);
	}
	*out = (uint16_t)v;
	return 1;
}

static int parse_ports(const json_t *obj, const char *path, struct netns_sg_rule *rule,
		       struct berr **err)
{
	uint16_t port = 0, from = 0, to = 0;
	int has_port, has_from, has_to;
	bool ports;

	has_port = get_port(obj, path, "port", &port, err);
	if (has_port < 0)
		return has_port;
	has_from = get_port(obj, path, "fromPort", &from, err);
	if (has_from < 0)
		return has_from;
	has_to = get_port(obj, path, "toPort", &to, err);
	if (has_to < 0)
		return has_to;
	ports = has_port || has_from || has_to;

	if (rule->proto == NETNS_SG_ICMP || rule->proto == NETNS_SG_ALL) {
		if (ports) {
			cleanup_free char *p = bjson_path_key(path, has_port ? "port" :
							      has_from ? "fromPort" : "toPort");

			return berr_set(err, 0, "%s: not allowed with protocol %s", p,
					netns_sg_proto_name(rule->proto));
		}
		return 0;
	}
	if (!ports)
		return berr_set(err, 0, "%s: protocol %s needs \"port\" or \"fromPort\" and \"toPort\"",
				path, netns_sg_proto_name(rule->proto));
	if (has_port && (has_from || has_to))
		return berr_set(err, 0, "%s: give either \"port\" or \"fromPort\" and \"toPort\", not both",
				path);
	if (has_port) {
		rule->from_port = rule->to_port = port;
		return 0;
	}
	if (!has_from || !has_to) {
		cleanup_free char *p = bjson_path_key(path, has_from ? "toPort" : "fromPort");

		return berr_set(err, 0, "%s: required with \"%s\"", p,
				has_from ? "fromPort" : "toPort");
	}
	if (from > to)
		return berr_set(err, 0, "%s: fromPort %u is greater than toPort %u", path,
				from, to);
	rule->from_port = from;
	rule->to_port = to;
	return 0;
}

static int parse_rule(const json_t *obj, const char *path, const struct netns_sg_config *c,
		      struct netns_sg_rule *rule, struct berr **err)
{
	static const char *const known[] = { "protocol", "port", "fromPort", "toPort",
					     "cidr", "sourceGroup", NULL };
	const char *proto = NULL, *cidr = NULL, *group = NULL;
	int has_cidr, has_group, r;

	r = bjson_expect_object(obj, path, err);
	if (r < 0)
		return r;
	r = check_keys(obj, path, known, err);
	if (r < 0)
		return r;

	r = bjson_get_string(obj, path, "protocol", true, &proto, err);
	if (r < 0)
		return r;
	if (strcmp(proto, "tcp") == 0) {
		rule->proto = NETNS_SG_TCP;
	} else if (strcmp(proto, "udp") == 0) {
		rule->proto = NETNS_SG_UDP;
	} else if (strcmp(proto, "icmp") == 0) {
		rule->proto = NETNS_SG_ICMP;
	} else if (strcmp(proto, "all") == 0 || strcmp(proto, "-1") == 0) {
		rule->proto = NETNS_SG_ALL;
	} else {
		cleanup_free char *p = bjson_path_key(path, "protocol");

		return berr_set(err, 0, "%s: \"%s\" is not one of tcp, udp, icmp, all (or -1)",
				p, berr_q(proto));
	}
	r = parse_ports(obj, path, rule, err);
	if (r < 0)
		return r;

	has_cidr = bjson_get_string(obj, path, "cidr", false, &cidr, err);
	if (has_cidr < 0)
		return has_cidr;
	has_group = bjson_get_string(obj, path, "sourceGroup", false, &group, err);
	if (has_group < 0)
		return has_group;
	if (has_cidr == has_group)
		return berr_set(err, 0, "%s: give exactly one of \"cidr\" and \"sourceGroup\"",
				path);
	if (has_cidr) {
		cleanup_free char *p = bjson_path_key(path, "cidr");

		rule->has_cidr = true;
		return netns_cidr_parse(cidr, p, &rule->cidr, err);
	}
	if (!netns_sg_find(c, group)) {
		cleanup_free char *p = bjson_path_key(path, "sourceGroup");

		return berr_set(err, 0, "%s: \"%s\" is not a security group of this configuration",
				p, berr_q(group));
	}
	rule->source_group = xstrdup(group);
	return 0;
}

static int parse_group(const json_t *obj, const char *path, const struct netns_sg_config *c,
		       struct netns_sg *g, struct berr **err)
{
	static const char *const known[] = { "ingress", NULL };
	cleanup_free char *ipath = NULL;
	json_t *arr = NULL;
	size_t n;
	int r;

	r = bjson_expect_object(obj, path, err);
	if (r < 0)
		return r;
	r = check_keys(obj, path, known, err);
	if (r < 0)
		return r;
	r = bjson_get_array(obj, path, "ingress", false, &arr, err);
	if (r <= 0)
		return r;
	ipath = bjson_path_key(path, "ingress");
	n = json_array_size(arr);
	if (n > NETNS_SG_MAX_RULES)
		return berr_set(err, 0, "%s: %zu rules, at most %d allowed", ipath, n,
				NETNS_SG_MAX_RULES);
	g->rules = xcalloc(n ? n : 1, sizeof(*g->rules));
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *rpath = bjson_path_index(ipath, i);

		/* count it first: a half-parsed rule is freed with the rest */
		g->n_rules++;
		r = parse_rule(json_array_get(arr, i), rpath, c, &g->rules[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct netns_sg *)a)->name, ((const struct netns_sg *)b)->name);
}

/* AWS's default group: all traffic from its own members. */
static void add_implicit_default(struct netns_sg *g)
{
	g->rules = xcalloc(1, sizeof(*g->rules));
	g->n_rules = 1;
	g->rules[0].proto = NETNS_SG_ALL;
	g->rules[0].source_group = xstrdup(NETNS_SG_DEFAULT);
}

int netns_sg_config_parse(const json_t *obj, const char *path, struct netns_sg_config *out,
			  struct berr **err)
{
	struct netns_sg_config c = { 0 };
	const char *key;
	json_t *v;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (obj) {
		r = bjson_expect_object(obj, path, err);
		if (r < 0)
			return r;
		n = json_object_size(obj);
		if (n > NETNS_SG_MAX_GROUPS)
			return berr_set(err, 0, "%s: %zu security groups, at most %d allowed",
					path && *path ? path : "securityGroups", n,
					NETNS_SG_MAX_GROUPS);
	}

	/* names first: a rule may name any group as its source */
	c.groups = xcalloc(n + 1, sizeof(*c.groups));
	if (obj) {
		json_object_foreach((json_t *)obj, key, v) {
			if (!netns_sg_name_valid(key)) {
				cleanup_free char *p = bjson_path_key(path, key);

				netns_sg_config_free(&c);
				return berr_set(err, 0,
						"%s: a group name is 1 to %d of A-Z a-z 0-9 . _ -",
						p, NETNS_SG_NAME_MAX);
			}
			c.groups[c.n_groups++].name = xstrdup(key);
		}
	}
	if (!netns_sg_find(&c, NETNS_SG_DEFAULT))
		c.groups[c.n_groups++].name = xstrdup(NETNS_SG_DEFAULT);
	qsort(c.groups, c.n_groups, sizeof(*c.groups), cmp_group);

	for (size_t i = 0; i < c.n_groups; i++) {
		struct netns_sg *g = &c.groups[i];
		json_t *gv = obj ? json_object_get(obj, g->name) : NULL;
		cleanup_free char *gpath = NULL;

		if (!gv) {
			add_implicit_default(g);
			continue;
		}
		gpath = bjson_path_key(path, g->name);
		r = parse_group(gv, gpath, &c, g, err);
		if (r < 0) {
			netns_sg_config_free(&c);
			return r;
		}
	}
	*out = c;
	return 0;
}
