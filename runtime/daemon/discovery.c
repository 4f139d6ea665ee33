/* runtime/daemon/discovery.c - ECS service discovery (issue 12).
 *
 * The Cloud Map subset ECS service discovery needs, as the AWS CLI's
 * `servicediscovery` commands speak it (JSON 1.1, X-Amz-Target
 * Route53AutoNaming_v20170314.<Op>): private DNS namespaces and DNS
 * services. Every operation completes at once: an operation id answers
 * GetOperation with SUCCESS. Instances are not registered by hand: they
 * are the RUNNING and healthy tasks of the ECS services whose
 * `serviceRegistries` name a Cloud Map service (services.c publishes them
 * at every step). What is published is served by berthd's DNS responder
 * (dns.c) on the bridge's address, where awsvpc and bridge tasks'
 * resolv.conf points:
 *   <service>.<namespace>             A (each task's IP) and/or SRV
 *                                     "1 1 <port> <task id>.<service>.<namespace>"
 *   <task id>.<service>.<namespace>   A
 * Namespaces, services and operations are kept in the store (table
 * discovery); instances are derived from the tasks, never stored.
 * docs/berthd.md, "Service discovery". */
#include "runtime/daemon/discovery.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "runtime/daemon/api.h"
#include "runtime/daemon/daemon.h"
#include "runtime/daemon/dns.h"
#include "runtime/daemon/store.h"

#define SD_DEFAULT_SOA_TTL 15
#define SD_MAX_NAMESPACES 50
#define SD_MAX_SERVICES 1000

/* d->sd */
struct sd_state {
	json_t *ns;        /* {id: namespace doc} */
	json_t *svc;       /* {id: service doc} */
	json_t *ops;       /* {id: operation doc} */
	json_t *inst;      /* {service id: {"cluster/service": [instance summary]}} */
	struct dns_server *dns;
	char dns_addr[INET_ADDRSTRLEN];
	bool loaded;
};

static const char *sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_t *sd_fail(struct api_error *e, const char *type, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *sd_fail(struct api_error *e, const char *type, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	return api_fail(e, type, "%s", msg);
}

static struct sd_state *state(struct berthd *d)
{
	if (!d->sd) {
		d->sd = xzalloc(sizeof(*d->sd));
		d->sd->ns = json_object();
		d->sd->svc = json_object();
		d->sd->ops = json_object();
		d->sd->inst = json_object();
	}
	return d->sd;
}

/* "<prefix>" + n random lower-case letters and digits */
static char *new_id(const char *prefix, size_t n)
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz234567";
	uint8_t b[64];
	char *s;
	size_t pl = strlen(prefix);

	if (n > sizeof(b) || getrandom(b, n, 0) != (ssize_t)n)
		abort();   /* a small getrandom does not fail after boot */
	s = xmalloc(pl + n + 1);
	memcpy(s, prefix, pl);
	for (size_t i = 0; i < n; i++)
		s[pl + i] = al[b[i] & 31];
	s[pl + n] = 0;
	return s;
}

static char *sd_arn(const struct berthd *d, const char *kind, const char *id)
{
	return xasprintf("arn:aws:servicediscovery:%s:%s:%s/%s", d->cfg.region ? d->cfg.region : "us-east-1",
			 d->cfg.account_id ? d->cfg.account_id : "000000000000", kind, id);
}

/* A DNS name: labels of 1-63 letters, digits, '-' and '_', at most 253
 * characters, no leading or trailing dot. */
static bool dns_name_ok(const char *s, bool one_label)
{
	size_t n = strlen(s), label = 0;

	if (n < 1 || n > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (one_label || !label || !p[1])
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

/* one of the same name, case-insensitively */
static json_t *ns_by_name(struct sd_state *sd, const char *name)
{
	const char *id;
	json_t *v;

	json_object_foreach(sd->ns, id, v)
		if (!strcasecmp(sget(v, "Name") ?: "", name))
			return v;
	return NULL;
}

/* a or b is a or inside b (or the other way round) */
static bool names_nest(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la < lb) {
		const char *t = a;
		size_t tl = la;

		a = b, la = lb, b = t, lb = tl;
	}
	return !strcasecmp(a + la - lb, b) && (la == lb || a[la - lb - 1] == '.');
}

static char *fqdn_of(struct sd_state *sd, const json_t *svc)
{
	const json_t *ns = json_object_get(sd->ns, sget(svc, "NamespaceId") ?: "");

	return xasprintf("%s.%s", sget(svc, "Name") ?: "", ns ? sget(ns, "Name") ?: "" : "");
}

static uint32_t record_ttl(const json_t *svc, const char *type)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(svc, "DnsConfig"), "DnsRecords"), i, r)
		if (!strcmp(sget(r, "Type") ?: "", type))
			return (uint32_t)json_integer_value(json_object_get(r, "TTL"));
	return 0;
}

static bool has_record(const json_t *svc, const char *type)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(svc, "DnsConfig"), "DnsRecords"), i, r)
		if (!strcmp(sget(r, "Type") ?: "", type))
			return true;
	return false;
}

static size_t instance_count(struct sd_state *sd, const char *svc_id)
{
	json_t *per = json_object_get(sd->inst, svc_id), *v;
	const char *k;
	size_t n = 0;

	json_object_foreach(per, k, v)
		n += json_array_size(v);
	return n;
}

/* ------------------------------------------------------------ DNS side */

/* Hand the service's instances (all its ECS services') to the responder. */
static void dns_sync(struct berthd *d, const char *svc_id)
{
	struct sd_state *sd = state(d);
	const json_t *svc = json_object_get(sd->svc, svc_id);
	json_t *per = json_object_get(sd->inst, svc_id), *list, *v;
	cleanup_free char *fqdn = NULL;
	cleanup_berr struct berr *err = NULL;
	struct dns_instance *iv;
	const char *k;
	size_t n = instance_count(sd, svc_id), i, m = 0;
	uint32_t a_ttl, srv_ttl;
	bool srv;

	if (!sd->dns || !svc)
		return;
	fqdn = fqdn_of(sd, svc);
	srv = has_record(svc, "SRV");
	/* a TTL of 0 tells the responder not to publish that type: the
	 * records' TTLs are at least 1 (check_records) */
	a_ttl = record_ttl(svc, "A");
	srv_ttl = srv ? record_ttl(svc, "SRV") : 0;
	iv = xcalloc(n ? n : 1, sizeof(*iv));
	json_object_foreach(per, k, list) {
		json_array_foreach(list, i, v) {
			const json_t *at = json_object_get(v, "Attributes");
			const char *port = sget(at, "AWS_INSTANCE_PORT");

			if (m == n || inet_pton(AF_INET, sget(at, "AWS_INSTANCE_IPV4") ?: "", &iv[m].addr) != 1)
				continue;
			iv[m].id = sget(v, "Id");
			iv[m].port = port ? (uint16_t)atoi(port) : 0;
			m++;
		}
	}
	if (dns_service_set(sd->dns, fqdn, iv, m, a_ttl, srv_ttl,
			    !strcmp(sget(json_object_get(svc, "DnsConfig"), "RoutingPolicy") ?: "", "WEIGHTED")
			    ? DNS_WEIGHTED : DNS_MULTIVALUE, &err) < 0)
		log_warn("service discovery: publish %s: %s", fqdn, berr_msg(err));
	free(iv);
}

static void dns_add_namespace(struct berthd *d, const json_t *ns)
{
	struct sd_state *sd = state(d);
	cleanup_berr struct berr *err = NULL;
	const json_t *soa = json_object_get(json_object_get(json_object_get(ns, "Properties"),
							    "DnsProperties"), "SOA");

	if (sd->dns && dns_zone_add(sd->dns, sget(ns, "Name") ?: "",
				    (uint32_t)json_integer_value(json_object_get(soa, "TTL")), &err) < 0)
		log_warn("service discovery: namespace %s: %s", sget(ns, "Name"), berr_msg(err));
}

/* The nameservers of the host's resolv.conf: where names outside the
 * namespaces go unless "dns.upstreams" says otherwise. */
static size_t host_upstreams(struct sockaddr_in *up, size_t max)
{
	cleanup_free char *buf = NULL;
	cleanup_berr struct berr *err = NULL;
	char *line, *save = NULL;
	size_t len = 0, n = 0;

	if (fs_read_file("/etc/resolv.conf", &buf, &len, 64 << 10, &err) < 0)
		return 0;
	for (line = strtok_r(buf, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
		char ip[64];

		if (sscanf(line, " nameserver %63s", ip) != 1)
			continue;
		memset(&up[n], 0, sizeof(up[n]));
		up[n].sin_family = AF_INET;
		up[n].sin_port = htons(53);
		if (inet_pton(AF_INET, ip, &up[n].sin_addr) == 1)
			n++;
	}
	return n;
}

static void load(struct berthd *d)
{
	struct sd_state *sd = state(d);
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *docs = NULL;
	json_t *v;
	size_t i;

	if (sd->loaded)
		return;
	sd->loaded = true;
	if (store_discovery_list(d->st, &docs, &err) < 0) {
		log_error("service discovery: %s", berr_msg(err));
		return;
	}
	json_array_foreach(docs, i, v) {
		const char *kind = sget(v, "kind");
		json_t *doc = json_object_get(v, "doc");
		const char *id = sget(doc, "Id");

		if (!kind || !id)
			continue;
		if (!strcmp(kind, "namespace"))
			json_object_set(sd->ns, id, doc);
		else if (!strcmp(kind, "service"))
			json_object_set(sd->svc, id, doc);
		else if (!strcmp(kind, "operation"))
			json_object_set(sd->ops, id, doc);
	}
}

int discovery_start(struct berthd *d, struct berr **err)
{
	struct sd_state *sd = state(d);
	struct dns_config c = { .port = 53 };
	const char *id;
	json_t *v;
	int r;

	load(d);
	if (!d->cfg.dns_enabled || !d->cfg.have_net)
		return 0;
	c.listen.s_addr = htonl(d->cfg.net.subnet.net + 1);
	c.allow_net.s_addr = htonl(d->cfg.net.subnet.net);
	c.allow_prefix = (uint8_t)d->cfg.net.subnet.prefix;
	c.forward_timeout_ms = (unsigned)d->cfg.dns_timeout_ms;
	if (d->cfg.dns_upstreams) {
		for (char **u = d->cfg.dns_upstreams; *u && c.n_upstream < 4; u++) {
			char ip[INET_ADDRSTRLEN + 8];
			char *colon;
			struct sockaddr_in *a = &c.upstream[c.n_upstream];

			snprintf(ip, sizeof(ip), "%s", *u);
			memset(a, 0, sizeof(*a));
			a->sin_family = AF_INET;
			a->sin_port = htons(53);
			if ((colon = strchr(ip, ':'))) {
				*colon = 0;
				a->sin_port = htons((uint16_t)atoi(colon + 1));
			}
			if (inet_pton(AF_INET, ip, &a->sin_addr) == 1)
				c.n_upstream++;
		}
	} else {
		c.n_upstream = host_upstreams(c.upstream, 4);
	}
	inet_ntop(AF_INET, &c.listen, sd->dns_addr, sizeof(sd->dns_addr));
	r = dns_server_start(d, &c, &sd->dns, err);
	if (r < 0) {
		sd->dns = NULL;
		if (d->cfg.dns_enabled > 0)
			return berr_wrap(err, "dns: the responder on %s:53", sd->dns_addr);
		log_warn("dns: no responder for service discovery on %s:53 (tasks use the host's "
			 "resolv.conf): %s", sd->dns_addr, berr_msg(*err));
		berr_clear(err);
		return 0;
	}
	log_info("dns: answering tasks on %s:53 (%zu upstream%s)", sd->dns_addr, c.n_upstream,
		 c.n_upstream == 1 ? "" : "s");
	json_object_foreach(sd->ns, id, v)
		dns_add_namespace(d, v);
	json_object_foreach(sd->svc, id, v)
		dns_sync(d, id);
	return 0;
}

const char *discovery_dns_address(const struct berthd *d)
{
	return d->sd && d->sd->dns ? d->sd->dns_addr : NULL;
}

void discovery_free(struct berthd *d)
{
	struct sd_state *sd = d->sd;

	if (!sd)
		return;
	if (sd->dns)
		dns_server_stop(sd->dns);
	json_decref(sd->ns);
	json_decref(sd->svc);
	json_decref(sd->ops);
	json_decref(sd->inst);
	free(sd);
	d->sd = NULL;
}

/* ------------------------------------------------------------ store */

static int save(struct berthd *d, const char *kind, const json_t *doc, struct api_error *e)
{
	cleanup_berr struct berr *err = NULL;
	cleanup_json json_t *w = json_pack("{s:s, s:O}", "kind", kind, "doc", doc);

	if (store_discovery_put(d->st, sget(doc, "Id"), w, &err) < 0) {
		api_fail_berr(e, &err, "record %s", kind);
		return -1;
	}
	return 0;
}

static json_t *new_operation(struct berthd *d, const char *type, const char *target_type, const char *target,
			     struct api_error *e)
{
	cleanup_free char *a = new_id("", 32), *b = new_id("", 8);
	cleanup_free char *id = xasprintf("%s-%s", a, b);
	double now = api_now();
	cleanup_json json_t *op = json_pack("{s:s, s:s, s:s, s:f, s:f, s:{s:s}}", "Id", id, "Type", type,
					    "Status", "SUCCESS", "CreateDate", now, "UpdateDate", now,
					    "Targets", target_type, target);

	if (save(d, "operation", op, e) < 0)
		return NULL;
	json_object_set(state(d)->ops, id, op);
	return json_pack("{s:s}", "OperationId", id);
}

/* ------------------------------------------------------------ namespaces */

static json_t *ns_view(struct sd_state *sd, const json_t *ns, bool summary)
{
	json_t *o = json_deep_copy(ns);
	const char *id;
	json_t *v;
	int64_t n = 0;

	json_object_foreach(sd->svc, id, v)
		if (!strcmp(sget(v, "NamespaceId") ?: "", sget(ns, "Id") ?: ""))
			n++;
	json_object_set_new(o, "ServiceCount", json_integer(n));
	if (summary)
		json_object_del(o, "CreatorRequestId");
	return o;
}

json_t *api_sd_create_private_dns_namespace(struct berthd *d, json_t *in, struct api_error *e)
{
	struct sd_state *sd = state(d);
	const char *name = NULL, *vpc = NULL, *token = NULL, *desc = NULL, *id;
	json_t *tags = NULL, *props = NULL, *soa, *ttl, *v, *dup;
	cleanup_free char *nsid = NULL, *arn = NULL;
	cleanup_json json_t *ns = NULL;
	int64_t soa_ttl = SD_DEFAULT_SOA_TTL;
	json_t *res;

	load(d);
	if (api_get_string(in, "Name", true, &name, e) < 0 || api_get_string(in, "Vpc", true, &vpc, e) < 0 ||
	    api_get_string(in, "CreatorRequestId", false, &token, e) < 0 ||
	    api_get_string(in, "Description", false, &desc, e) < 0 ||
	    api_get_array(in, "Tags", false, &tags, e) < 0 ||
	    api_get_object(in, "Properties", false, &props, e) < 0)
		return NULL;
	if (!dns_name_ok(name, false))
		return sd_fail(e, "InvalidInput", "Name: \"%s\" is not a DNS name (labels of 1-63 letters, "
			       "digits, '-' or '_', at most 253 characters)", berr_q(name));
	if (!*vpc || strlen(vpc) > 64)
		return sd_fail(e, "InvalidInput", "Vpc: 1-64 characters (berth has one network; any id names it)");
	if (token && strlen(token) > 64)
		return sd_fail(e, "InvalidInput", "CreatorRequestId: at most 64 characters");
	if (desc && strlen(desc) > 1024)
		return sd_fail(e, "InvalidInput", "Description: at most 1024 characters");
	if (tags && json_array_size(tags))
		return sd_fail(e, "InvalidInput", "Tags: not supported yet by berth's service discovery");
	soa = json_object_get(json_object_get(props, "DnsProperties"), "SOA");
	if ((ttl = json_object_get(soa, "TTL"))) {
		if (!json_is_integer(ttl) || json_integer_value(ttl) < 0 || json_integer_value(ttl) > INT32_MAX)
			return sd_fail(e, "InvalidInput", "Properties.DnsProperties.SOA.TTL: 0-2147483647");
		soa_ttl = json_integer_value(ttl);
	}
	/* the same request again: its operation */
	if (token) {
		json_object_foreach(sd->ns, id, v)
			if (!strcmp(sget(v, "CreatorRequestId") ?: "", token) &&
			    !strcasecmp(sget(v, "Name") ?: "", name)) {
				json_object_foreach(sd->ops, id, dup)
					if (!strcmp(sget(dup, "Type") ?: "", "CREATE_NAMESPACE") &&
					    !strcmp(sget(json_object_get(dup, "Targets"), "NAMESPACE") ?: "",
						    sget(v, "Id") ?: ""))
						return json_pack("{s:s}", "OperationId", id);
			}
	}
	if ((v = ns_by_name(sd, name)))
		return sd_fail(e, "NamespaceAlreadyExists", "Namespace with name %s already exists (%s).", name,
			       sget(v, "Id"));
	json_object_foreach(sd->ns, id, v)
		if (names_nest(sget(v, "Name") ?: "", name))
			return sd_fail(e, "InvalidInput", "Name: %s overlaps namespace %s (%s): berth answers "
				       "each name from one namespace", name, sget(v, "Name"), id);
	if (json_object_size(sd->ns) >= SD_MAX_NAMESPACES)
		return sd_fail(e, "ResourceLimitExceeded", "at most %d namespaces", SD_MAX_NAMESPACES);
	nsid = new_id("ns-", 16);
	arn = sd_arn(d, "namespace", nsid);
	ns = json_pack("{s:s, s:s, s:s, s:s, s:{s:{s:s, s:{s:I}}}, s:f}", "Id", nsid, "Arn", arn, "Name", name,
		       "Type", "DNS_PRIVATE", "Properties", "DnsProperties", "HostedZoneId", nsid + 3, "SOA",
		       "TTL", (json_int_t)soa_ttl, "CreateDate", api_now());
	if (desc)
		json_object_set_new(ns, "Description", json_string(desc));
	if (token)
		json_object_set_new(ns, "CreatorRequestId", json_string(token));
	if (save(d, "namespace", ns, e) < 0)
		return NULL;
	json_object_set(sd->ns, nsid, ns);
	dns_add_namespace(d, ns);
	res = new_operation(d, "CREATE_NAMESPACE", "NAMESPACE", nsid, e);
	log_info("service discovery: namespace %s (%s) created (vpc %s)", name, nsid, vpc);
	return res;
}

json_t *api_sd_get_operation(struct berthd *d, json_t *in, struct api_error *e)
{
	const char *id = NULL;
	json_t *op;

	load(d);
	if (api_get_string(in, "OperationId", true, &id, e) < 0)
		return NULL;
	if (!(op = json_object_get(state(d)->ops, id)))
		return sd_fail(e, "OperationNotFound", "No operation found with ID %s", id);
	return json_pack("{s:O}", "Operation", op);
}

static json_t *need_ns(struct berthd *d, json_t *in, const char *key, struct api_error *e)
{
	const char *id = NULL;
	json_t *ns;

	load(d);
	if (api_get_string(in, key, true, &id, e) < 0)
		return NULL;
	if (!(ns = json_object_get(state(d)->ns, id)))
		return sd_fail(e, "NamespaceNotFound", "No namespace exists with ID: %s", id);
	return ns;
}

json_t *api_sd_get_namespace(struct berthd *d, json_t *in, struct api_error *e)
{
	json_t *ns = need_ns(d, in, "Id", e);

	return ns ? json_pack("{s:o}", "Namespace", ns_view(state(d), ns, false)) : NULL;
}

/* Filters [{Name, Values, Condition}]: does value v of filter `name` pass? */
static int filter_check(json_t *filters, const char *const *names, size_t nnames, struct api_error *e)
{
	json_t *f;
	size_t i;

	if (!filters)
		return 0;
	if (!json_is_array(filters))
		return sd_fail(e, "InvalidInput", "Filters: expected an array"), -1;
	json_array_foreach(filters, i, f) {
		const char *n = sget(f, "Name"), *c = sget(f, "Condition") ?: "EQ";
		json_t *vals = json_object_get(f, "Values");
		bool known = false;

		for (size_t k = 0; k < nnames; k++)
			known = known || (n && !strcmp(n, names[k]));
		if (!known)
			return sd_fail(e, "InvalidInput", "Filters[%zu].Name: %s is not supported by berth", i,
				       n ? n : "(missing)"), -1;
		if (!json_is_array(vals) || !json_array_size(vals))
			return sd_fail(e, "InvalidInput", "Filters[%zu].Values: at least one value", i), -1;
		if (strcmp(c, "EQ") && strcmp(c, "IN") && strcmp(c, "BEGINS_WITH"))
			return sd_fail(e, "InvalidInput", "Filters[%zu].Condition: EQ, IN or BEGINS_WITH", i), -1;
		if (!strcmp(c, "EQ") && json_array_size(vals) != 1)
			return sd_fail(e, "InvalidInput", "Filters[%zu]: EQ takes one value", i), -1;
	}
	return 0;
}

static bool filter_pass(json_t *filters, const char *name, const char *value)
{
	json_t *f, *x;
	size_t i, k;

	json_array_foreach(filters, i, f) {
		const char *c = sget(f, "Condition") ?: "EQ";
		bool any = false;

		if (strcmp(sget(f, "Name") ?: "", name))
			continue;
		json_array_foreach(json_object_get(f, "Values"), k, x) {
			const char *s = json_string_value(x) ?: "";

			if (!strcmp(c, "BEGINS_WITH") ? !strncasecmp(value, s, strlen(s)) : !strcasecmp(value, s))
				any = true;
		}
		if (!any)
			return false;
	}
	return true;
}

/* NextToken: the id to start after (ids sort as strings) */
static int page_args(json_t *in, const char **after, int64_t *max, struct api_error *e)
{
	*after = NULL;
	*max = 100;
	if (api_get_string(in, "NextToken", false, after, e) < 0 ||
	    api_get_int(in, "MaxResults", false, 1, 100, max, e) < 0)
		return -1;
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The ids of obj, sorted (borrowed; free the array) */
static const char **sorted_ids(json_t *obj, size_t *n)
{
	const char **v = xcalloc(json_object_size(obj) + 1, sizeof(*v)), *k;
	json_t *x;

	*n = 0;
	json_object_foreach(obj, k, x)
		v[(*n)++] = k;
	qsort(v, *n, sizeof(*v), id_cmp);
	return v;
}

json_t *api_sd_list_namespaces(struct berthd *d, json_t *in, struct api_error *e)
{
	static const char *const names[] = { "TYPE", "NAME" };
	struct sd_state *sd = state(d);
	json_t *filters = json_object_get(in, "Filters"), *out, *list;
	const char *after;
	const char **ids;
	int64_t max;
	size_t n, got = 0;

	load(d);
	if (page_args(in, &after, &max, e) < 0 || filter_check(filters, names, 2, e) < 0)
		return NULL;
	ids = sorted_ids(sd->ns, &n);
	list = json_array();
	out = json_pack("{s:o}", "Namespaces", list);
	for (size_t i = 0; i < n; i++) {
		json_t *ns = json_object_get(sd->ns, ids[i]);

		if (after && strcmp(ids[i], after) <= 0)
			continue;
		if (!filter_pass(filters, "TYPE", sget(ns, "Type") ?: "") ||
		    !filter_pass(filters, "NAME", sget(ns, "Name") ?: ""))
			continue;
		if ((int64_t)got == max) {
			json_object_set_new(out, "NextToken", json_string(ids[i - 1]));
			break;
		}
		json_array_append_new(list, ns_view(sd, ns, true));
		got++;
	}
	free(ids);
	return out;
}

json_t *api_sd_delete_namespace(struct berthd *d, json_t *in, struct api_error *e)
{
	struct sd_state *sd = state(d);
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *id = NULL;
	cleanup_free char *name = NULL;
	json_t *ns = need_ns(d, in, "Id", e), *v, *res;
	const char *sid;

	if (!ns)
		return NULL;
	id = xstrdup(sget(ns, "Id"));
	name = xstrdup(sget(ns, "Name") ?: "");
	json_object_foreach(sd->svc, sid, v)
		if (!strcmp(sget(v, "NamespaceId") ?: "", id))
			return sd_fail(e, "ResourceInUse", "Namespace %s has services (%s, ...): delete them first",
				       id, sget(v, "Name"));
	if (store_discovery_delete(d->st, id, &err) < 0)
		return api_fail_berr(e, &err, "delete namespace");
	if (sd->dns)
		dns_zone_remove(sd->dns, name);
	json_object_del(sd->ns, id);
	res = new_operation(d, "DELETE_NAMESPACE", "NAMESPACE", id, e);
	log_info("service discovery: namespace %s (%s) deleted", name, id);
	return res;
}

/* ------------------------------------------------------------ services */

static const char *const summary_keys[] = {
	"Id", "Arn", "Name", "Type", "Description", "InstanceCount", "DnsConfig", "HealthCheckConfig",
	"HealthCheckCustomConfig", "CreateDate", NULL,
};

static json_t *svc_view(struct sd_state *sd, const json_t *svc, bool summary)
{
	json_t *o = json_deep_copy(svc);

	json_object_set_new(o, "InstanceCount", json_integer((json_int_t)instance_count(sd, sget(svc, "Id"))));
	if (summary) {
		json_t *s = json_object(), *v;
		const char *k;

		json_object_foreach(o, k, v) {
			bool keep = false;

			for (size_t i = 0; summary_keys[i]; i++)
				keep = keep || !strcmp(k, summary_keys[i]);
			if (keep)
				json_object_set(s, k, v);
		}
		json_decref(o);
		o = s;
	}
	return o;
}

static int check_records(json_t *dc, json_t **records, const char **routing, struct api_error *e)
{
	json_t *r, *ttl;
	size_t i;
	bool seen_a = false, seen_srv = false;

	*routing = sget(dc, "RoutingPolicy") ?: "MULTIVALUE";
	if (strcmp(*routing, "MULTIVALUE") && strcmp(*routing, "WEIGHTED"))
		return sd_fail(e, "InvalidInput", "DnsConfig.RoutingPolicy: MULTIVALUE or WEIGHTED"), -1;
	*records = json_object_get(dc, "DnsRecords");
	if (!json_is_array(*records) || !json_array_size(*records))
		return sd_fail(e, "InvalidInput", "DnsConfig.DnsRecords: at least one record (A, SRV)"), -1;
	json_array_foreach(*records, i, r) {
		const char *t = sget(r, "Type");

		ttl = json_object_get(r, "TTL");
		if (!t)
			return sd_fail(e, "InvalidInput", "DnsConfig.DnsRecords[%zu].Type: required", i), -1;
		if (!strcmp(t, "AAAA") || !strcmp(t, "CNAME"))
			return sd_fail(e, "InvalidInput", "DnsConfig.DnsRecords[%zu].Type: %s records are not "
				       "supported yet by berth (its tasks have IPv4 addresses: A, SRV)", i, t), -1;
		if (strcmp(t, "A") && strcmp(t, "SRV"))
			return sd_fail(e, "InvalidInput", "DnsConfig.DnsRecords[%zu].Type: A or SRV", i), -1;
		/* Cloud Map takes 0; berth's responder publishes a type for a TTL of 1 or more */
		if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 || json_integer_value(ttl) > INT32_MAX)
			return sd_fail(e, "InvalidInput", "DnsConfig.DnsRecords[%zu].TTL: 1-2147483647 (berth "
				       "does not take 0)", i), -1;
		if ((!strcmp(t, "A") && seen_a) || (!strcmp(t, "SRV") && seen_srv))
			return sd_fail(e, "InvalidInput", "DnsConfig.DnsRecords: one %s record", t), -1;
		seen_a = seen_a || !strcmp(t, "A");
		seen_srv = seen_srv || !strcmp(t, "SRV");
	}
	return 0;
}

json_t *api_sd_create_service(struct berthd *d, json_t *in, struct api_error *e)
{
	struct sd_state *sd = state(d);
	const char *name = NULL, *nsid = NULL, *token = NULL, *desc = NULL, *type = NULL, *routing, *id;
	json_t *dc = NULL, *hc = NULL, *hcc = NULL, *tags = NULL, *records, *ns, *v;
	cleanup_free char *sid = NULL, *arn = NULL;
	cleanup_json json_t *svc = NULL;

	load(d);
	if (api_get_string(in, "Name", true, &name, e) < 0 ||
	    api_get_string(in, "NamespaceId", false, &nsid, e) < 0 ||
	    api_get_string(in, "CreatorRequestId", false, &token, e) < 0 ||
	    api_get_string(in, "Description", false, &desc, e) < 0 ||
	    api_get_string(in, "Type", false, &type, e) < 0 ||
	    api_get_object(in, "DnsConfig", false, &dc, e) < 0 ||
	    api_get_object(in, "HealthCheckConfig", false, &hc, e) < 0 ||
	    api_get_object(in, "HealthCheckCustomConfig", false, &hcc, e) < 0 ||
	    api_get_array(in, "Tags", false, &tags, e) < 0)
		return NULL;
	if (type)
		return sd_fail(e, "InvalidInput", "Type: HTTP services are not supported yet by berth (DNS only)");
	if (hc)
		return sd_fail(e, "InvalidInput", "HealthCheckConfig: Route 53 health checks are not supported "
			       "by berth; use HealthCheckCustomConfig (ECS reports its tasks' health)");
	if (tags && json_array_size(tags))
		return sd_fail(e, "InvalidInput", "Tags: not supported yet by berth's service discovery");
	if (!dc)
		return sd_fail(e, "InvalidInput", "DnsConfig: required (berth's services are DNS services)");
	if (!nsid)
		nsid = sget(dc, "NamespaceId");
	if (!nsid)
		return sd_fail(e, "InvalidInput", "NamespaceId: required");
	if (sget(dc, "NamespaceId") && strcmp(sget(dc, "NamespaceId"), nsid))
		return sd_fail(e, "InvalidInput", "DnsConfig.NamespaceId: not the NamespaceId of the request");
	if (!(ns = json_object_get(sd->ns, nsid)))
		return sd_fail(e, "NamespaceNotFound", "No namespace exists with ID: %s", nsid);
	if (!dns_name_ok(name, false) || strlen(name) + 1 + strlen(sget(ns, "Name") ?: "") > 253)
		return sd_fail(e, "InvalidInput", "Name: \"%s\" is not a DNS label (1-63 letters, digits, '-' "
			       "or '_'), or the name with its namespace is over 253 characters", berr_q(name));
	if (check_records(dc, &records, &routing, e) < 0)
		return NULL;
	if (token && strlen(token) > 64)
		return sd_fail(e, "InvalidInput", "CreatorRequestId: at most 64 characters");
	if (desc && strlen(desc) > 1024)
		return sd_fail(e, "InvalidInput", "Description: at most 1024 characters");
	if (hcc && (v = json_object_get(hcc, "FailureThreshold")) &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10))
		return sd_fail(e, "InvalidInput", "HealthCheckCustomConfig.FailureThreshold: 1-10");
	json_object_foreach(sd->svc, id, v) {
		if (strcmp(sget(v, "NamespaceId") ?: "", nsid) || strcasecmp(sget(v, "Name") ?: "", name))
			continue;
		if (token && !strcmp(sget(v, "CreatorRequestId") ?: "", token))
			return json_pack("{s:o}", "Service", svc_view(sd, v, false));
		return sd_fail(e, "ServiceAlreadyExists", "Service already exists: %s (%s)", name, id);
	}
	if (json_object_size(sd->svc) >= SD_MAX_SERVICES)
		return sd_fail(e, "ResourceLimitExceeded", "at most %d services", SD_MAX_SERVICES);
	sid = new_id("srv-", 16);
	arn = sd_arn(d, "service", sid);
	svc = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:O}, s:s, s:f}", "Id", sid, "Arn", arn, "Name", name,
			"NamespaceId", nsid, "DnsConfig", "NamespaceId", nsid, "RoutingPolicy", routing,
			"DnsRecords", records, "Type", "DNS_HTTP", "CreateDate", api_now());
	if (desc)
		json_object_set_new(svc, "Description", json_string(desc));
	if (token)
		json_object_set_new(svc, "CreatorRequestId", json_string(token));
	if (hcc)
		json_object_set_new(svc, "HealthCheckCustomConfig",
				    json_pack("{s:I}", "FailureThreshold",
					      (json_int_t)(json_integer_value(json_object_get(hcc, "FailureThreshold"))
							   ?: 1)));
	if (save(d, "service", svc, e) < 0)
		return NULL;
	json_object_set(sd->svc, sid, svc);
	dns_sync(d, sid);
	log_info("service discovery: service %s.%s (%s) created", name, sget(ns, "Name"), sid);
	return json_pack("{s:o}", "Service", svc_view(sd, svc, false));
}

static json_t *need_svc(struct berthd *d, json_t *in, const char *key, struct api_error *e)
{
	const char *id = NULL;
	json_t *svc;

	load(d);
	if (api_get_string(in, key, true, &id, e) < 0)
		return NULL;
	if (!(svc = json_object_get(state(d)->svc, id)))
		return sd_fail(e, "ServiceNotFound", "No service exists with ID: %s", id);
	return svc;
}

json_t *api_sd_get_service(struct berthd *d, json_t *in, struct api_error *e)
{
	json_t *svc = need_svc(d, in, "Id", e);

	return svc ? json_pack("{s:o}", "Service", svc_view(state(d), svc, false)) : NULL;
}

json_t *api_sd_list_services(struct berthd *d, json_t *in, struct api_error *e)
{
	static const char *const names[] = { "NAMESPACE_ID" };
	struct sd_state *sd = state(d);
	json_t *filters = json_object_get(in, "Filters"), *out, *list, *f;
	const char *after;
	const char **ids;
	int64_t max;
	size_t n, got = 0, i;

	load(d);
	if (page_args(in, &after, &max, e) < 0 || filter_check(filters, names, 1, e) < 0)
		return NULL;
	json_array_foreach(filters, i, f)
		if (!strcmp(sget(f, "Condition") ?: "EQ", "BEGINS_WITH"))
			return sd_fail(e, "InvalidInput", "Filters[%zu].Condition: NAMESPACE_ID takes EQ or IN", i);
	ids = sorted_ids(sd->svc, &n);
	list = json_array();
	out = json_pack("{s:o}", "Services", list);
	for (i = 0; i < n; i++) {
		json_t *svc = json_object_get(sd->svc, ids[i]);

		if (after && strcmp(ids[i], after) <= 0)
			continue;
		if (!filter_pass(filters, "NAMESPACE_ID", sget(svc, "NamespaceId") ?: ""))
			continue;
		if ((int64_t)got == max) {
			json_object_set_new(out, "NextToken", json_string(ids[i - 1]));
			break;
		}
		json_array_append_new(list, svc_view(sd, svc, true));
		got++;
	}
	free(ids);
	return out;
}

json_t *api_sd_delete_service(struct berthd *d, json_t *in, struct api_error *e)
{
	struct sd_state *sd = state(d);
	cleanup_berr struct berr *err = NULL;
	cleanup_free char *id = NULL, *fqdn = NULL;
	json_t *svc = need_svc(d, in, "Id", e);

	if (!svc)
		return NULL;
	id = xstrdup(sget(svc, "Id"));
	if (instance_count(sd, id))
		return sd_fail(e, "ResourceInUse", "Service %s has %zu registered instances (tasks of an ECS "
			       "service): delete or scale the ECS service to 0 first", id, instance_count(sd, id));
	fqdn = fqdn_of(sd, svc);
	if (store_discovery_delete(d->st, id, &err) < 0)
		return api_fail_berr(e, &err, "delete service");
	if (sd->dns)
		dns_service_remove(sd->dns, fqdn);
	json_object_del(sd->svc, id);
	json_object_del(sd->inst, id);
	log_info("service discovery: service %s (%s) deleted", fqdn, id);
	return json_object();
}

json_t *api_sd_list_instances(struct berthd *d, json_t *in, struct api_error *e)
{
	struct sd_state *sd = state(d);
	json_t *svc = need_svc(d, in, "ServiceId", e), *per, *l, *v, *all, *list, *out;
	const char *after, *k;
	int64_t max;
	size_t i, got = 0;

	if (!svc || page_args(in, &after, &max, e) < 0)
		return NULL;
	per = json_object_get(sd->inst, sget(svc, "Id"));
	all = json_array();
	json_object_foreach(per, k, l)
		json_array_foreach(l, i, v)
			json_array_append(all, v);
	list = json_array();
	out = json_pack("{s:o}", "Instances", list);
	/* instances: sorted by id, NextToken is the last one's */
	{
		size_t n = json_array_size(all);
		const char **ids = xcalloc(n + 1, sizeof(*ids));

		for (i = 0; i < n; i++)
			ids[i] = sget(json_array_get(all, i), "Id") ?: "";
		qsort(ids, n, sizeof(*ids), id_cmp);
		for (i = 0; i < n; i++) {
			if (after && strcmp(ids[i], after) <= 0)
				continue;
			if ((int64_t)got == max) {
				json_object_set_new(out, "NextToken", json_string(ids[i - 1]));
				break;
			}
			for (size_t j = 0; j < n; j++)
				if (!strcmp(sget(json_array_get(all, j), "Id") ?: "", ids[i])) {
					json_array_append(list, json_array_get(all, j));
					break;
				}
			got++;
		}
		free(ids);
	}
	json_decref(all);
	return out;
}

/* ------------------------------------------------------------ ECS side */

/* The Cloud Map service a registryArn names, or NULL */
static json_t *svc_by_arn(struct sd_state *sd, const char *arn)
{
	const char *id;
	json_t *v;

	json_object_foreach(sd->svc, id, v)
		if (!strcmp(sget(v, "Arn") ?: "", arn))
			return v;
	return NULL;
}

int discovery_check_registries(struct berthd *d, json_t *regs, const struct api_task_needs *needs,
			       json_t **out, struct api_error *e)
{
	struct sd_state *sd = state(d);
	json_t *r, *svc, *c, *pm;
	size_t i, k;

	load(d);
	*out = NULL;
	if (!regs || json_is_null(regs) || (json_is_array(regs) && !json_array_size(regs))) {
		*out = json_array();
		return 0;
	}
	if (!json_is_array(regs))
		return api_fail(e, "InvalidParameterException", "serviceRegistries: expected an array"), -1;
	if (json_array_size(regs) > 1)
		return api_fail(e, "InvalidParameterException", "serviceRegistries: at most one service registry "
				"per service"), -1;
	r = json_array_get(regs, 0);
	{
		const char *arn = sget(r, "registryArn"), *cname = sget(r, "containerName");
		json_t *port = json_object_get(r, "port"), *cport = json_object_get(r, "containerPort");
		bool found_c = false, found_p = false;
		json_t *norm;

		if (!arn)
			return api_fail(e, "InvalidParameterException", "serviceRegistries[0].registryArn: required "
					"(a Cloud Map service ARN, arn:aws:servicediscovery:...:service/srv-...)"), -1;
		if (!(svc = svc_by_arn(sd, arn)))
			return api_fail(e, "InvalidParameterException", "serviceRegistries[0].registryArn: no "
					"service discovery service %s (aws servicediscovery create-service)",
					arn), -1;
		if (!needs->awsvpc)
			return api_fail(e, "InvalidParameterException", "serviceRegistries: berth registers awsvpc "
					"tasks (their own IP); this task definition's networkMode is not awsvpc"), -1;
		if ((port && !json_is_null(port) && (!json_is_integer(port) || json_integer_value(port) < 1 ||
						     json_integer_value(port) > 65535)) ||
		    (cport && !json_is_null(cport) && (!json_is_integer(cport) || json_integer_value(cport) < 1 ||
						       json_integer_value(cport) > 65535)))
			return api_fail(e, "InvalidParameterException", "serviceRegistries[0]: port and "
					"containerPort are 1-65535"), -1;
		if (json_is_integer(port) && json_is_integer(cport))
			return api_fail(e, "InvalidParameterException", "serviceRegistries[0]: port or "
					"containerName and containerPort, not both"), -1;
		if (json_is_integer(cport) != (cname != NULL))
			return api_fail(e, "InvalidParameterException", "serviceRegistries[0]: containerName and "
					"containerPort go together"), -1;
		if (has_record(svc, "SRV") && !json_is_integer(port) && !json_is_integer(cport))
			return api_fail(e, "InvalidParameterException", "serviceRegistries[0]: the service "
					"discovery service has an SRV record: give port, or containerName and "
					"containerPort"), -1;
		if (cname) {
			json_array_foreach(json_object_get(needs->taskdef, "containerDefinitions"), i, c) {
				if (strcmp(sget(c, "name") ?: "", cname))
					continue;
				found_c = true;
				json_array_foreach(json_object_get(c, "portMappings"), k, pm)
					if (json_integer_value(json_object_get(pm, "containerPort")) ==
					    json_integer_value(cport))
						found_p = true;
			}
			if (!found_c || !found_p)
				return api_fail(e, "InvalidParameterException", "serviceRegistries[0]: the task "
						"definition has no container %s with a port mapping for "
						"containerPort %lld", cname, (long long)json_integer_value(cport)), -1;
		}
		norm = json_pack("{s:s}", "registryArn", arn);
		if (json_is_integer(port))
			json_object_set(norm, "port", port);
		if (cname) {
			json_object_set_new(norm, "containerName", json_string(cname));
			json_object_set(norm, "containerPort", cport);
		}
		*out = json_pack("[o]", norm);
	}
	return 0;
}

void discovery_publish(struct berthd *d, const char *cluster, const char *service, const json_t *registries,
		       const struct discovery_task *v, size_t n)
{
	struct sd_state *sd = state(d);
	cleanup_free char *key = xasprintf("%s/%s", cluster, service);
	cleanup_json json_t *touched = json_array();
	const char *sid;
	json_t *per, *r, *x;
	size_t i;

	load(d);
	/* what this ECS service published where its registries no longer point */
	json_object_foreach(sd->inst, sid, per) {
		bool still = false;
		const json_t *svc = json_object_get(sd->svc, sid);

		json_array_foreach(registries, i, r)
			if (svc && !strcmp(sget(r, "registryArn") ?: "", sget(svc, "Arn") ?: ""))
				still = true;
		if (!still && json_object_get(per, key)) {
			json_object_del(per, key);
			json_array_append_new(touched, json_string(sid));
		}
	}
	json_array_foreach(registries, i, r) {
		json_t *svc = svc_by_arn(sd, sget(r, "registryArn") ?: ""), *list, *old;
		cleanup_free char *port = NULL;
		const json_t *ns;

		if (!svc)
			continue;   /* its Cloud Map service was deleted: nothing to publish in */
		sid = sget(svc, "Id");
		ns = json_object_get(sd->ns, sget(svc, "NamespaceId") ?: "");
		if (json_is_integer(json_object_get(r, "port")))
			port = xasprintf("%lld", (long long)json_integer_value(json_object_get(r, "port")));
		else if (json_is_integer(json_object_get(r, "containerPort")))
			port = xasprintf("%lld", (long long)json_integer_value(json_object_get(r, "containerPort")));
		list = json_array();
		for (size_t k = 0; k < n; k++) {
			const char *fam = v[k].td_arn ? strstr(v[k].td_arn, "task-definition/") : NULL;
			cleanup_free char *family = fam ? xstrdup(fam + 16) : xstrdup("");

			if (strchr(family, ':'))
				*strchr(family, ':') = 0;
			json_t *at = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "AWS_INSTANCE_IPV4", v[k].ipv4,
					       "AWS_INIT_HEALTH_STATUS", "HEALTHY", "ECS_CLUSTER_NAME", cluster,
					       "ECS_SERVICE_NAME", service, "ECS_TASK_DEFINITION_FAMILY",
					       family, "REGION",
					       d->cfg.region ? d->cfg.region : "us-east-1");
			cleanup_free char *az = api_availability_zone(d);

			json_object_set_new(at, "AVAILABILITY_ZONE", json_string(az));
			if (port)
				json_object_set_new(at, "AWS_INSTANCE_PORT", json_string(port));
			json_array_append_new(list, json_pack("{s:s, s:o}", "Id", v[k].task_id, "Attributes", at));
		}
		if (!(per = json_object_get(sd->inst, sid))) {
			per = json_object();
			json_object_set_new(sd->inst, sid, per);
		}
		old = json_object_get(per, key);
		if ((old && json_equal(old, list)) || (!old && !n)) {
			json_decref(list);
			continue;
		}
		if (n)
			json_object_set_new(per, key, list);
		else {
			json_decref(list);
			json_object_del(per, key);
		}
		log_info("service discovery: %s.%s: %zu task%s of service %s", sget(svc, "Name"),
			 ns ? sget(ns, "Name") : "?", n, n == 1 ? "" : "s", service);
		json_array_append_new(touched, json_string(sid));
	}
	json_array_foreach(touched, i, x)
		dns_sync(d, json_string_value(x));
}
