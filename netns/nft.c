/* netns/nft.c - see nft.h.
 *
 * One description of the ruleset (struct plan) is built from the config;
 * render() prints it as nft(8) text and apply() encodes the same plan as
 * netlink messages, so the two cannot drift apart. The encoding is the one
 * nft(8) itself uses for the same text (inet family: a `meta nfproto ipv4`
 * dependency before `ip` matches, `meta l4proto` before `tcp dport`), so
 * `nft list` prints back exactly what render() printed.
 *
 * Changes go in one NFNL_MSG_BATCH_BEGIN..END batch, which the kernel
 * applies atomically or not at all. Each message has its own sequence
 * number and a description, so an error the kernel reports for message N
 * becomes "nft: add rule to chain sg_web (tcp dport 80 accept): ...". The
 * kernel processes a batch synchronously inside sendmsg(), so when sendmsg
 * returns every error is already queued on the socket: reading until
 * EAGAIN collects them all (as nft(8) does). */
#include "netns/nft.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

/* "sg_" + a group name + NUL, and the fixed chain names */
#define NAME_LEN (NETNS_SG_NAME_MAX + 8)
#define TABLE_NAME_MAX 64
/* room reserved for one message; a rule message is well under 2 KiB */
#define MSG_MAX 16384
#define RECV_SIZE 32768
/* a batch whose generation went stale (another writer: with many tasks
 * starting, other shims add and remove set members all the time) is
 * rebuilt, after a short pause that grows */
#define APPLY_ATTEMPTS 24
/* a dump interrupted by a concurrent change is asked for again, this often */
#define NFT_DUMP_TRIES 16

/* nftables' ct state bits (NF_CT_STATE_BIT) */
#define CT_INVALID 1u
#define CT_ESTABLISHED 2u
#define CT_RELATED 4u

#define CHAIN_FORWARD "forward"
#define CHAIN_INGRESS "ingress"
#define CHAIN_POSTROUTING "postrouting"

/* ------------------------------------------------------------------ plan */

enum verdict { V_ACCEPT, V_DROP, V_JUMP, V_MASQ };

struct prule {
	const char *chain;
	uint32_t ct_state;              /* match "ct state & this != 0"; 0: none */
	bool saddr_prefix;              /* ip saddr <saddr> */
	struct netns_cidr saddr;
	char saddr_set[NAME_LEN];       /* ip saddr @set; "" none */
	char daddr_set[NAME_LEN];       /* ip daddr @set; "" none */
	int oif;                        /* 1: oifname == bridge, -1: !=, 0: none */
	uint8_t l4proto;                /* IPPROTO_*; 0: none */
	uint16_t dport_from, dport_to;  /* 0: none */
	bool counter;
	enum verdict verdict;
	char target[NAME_LEN];          /* V_JUMP */
};

struct pchain {
	char name[NAME_LEN];
	const char *type;               /* "filter" / "nat"; NULL: a regular chain */
	uint32_t hooknum;
	int32_t prio;
	const char *hook_name, *prio_name;
};

struct plan {
	const char *table, *bridge;
	char (*sets)[NAME_LEN];
	size_t n_sets;
	struct pchain *chains;
	size_t n_chains;
	struct prule *rules;
	size_t n_rules;
	struct netns_sg_config implicit;  /* when the conf has no groups */
};

static void plan_free(struct plan *p)
{
	free(p->sets);
	free(p->chains);
	free(p->rules);
	netns_sg_config_free(&p->implicit);
}

static struct prule *plan_rule(struct plan *p, const char *chain)
{
	struct prule *r = &p->rules[p->n_rules++];

	memset(r, 0, sizeof(*r));
	r->chain = chain;
	return r;
}

static struct pchain *plan_chain(struct plan *p, const char *name)
{
	struct pchain *ch = &p->chains[p->n_chains++];

	memset(ch, 0, sizeof(*ch));
	snprintf(ch->name, sizeof(ch->name), "%s", name);
	return ch;
}

static void plan_build(const struct netns_nft_conf *c, struct plan *p)
{
	const struct netns_sg_config *cfg = c->groups;
	struct pchain *ch;
	struct prule *r;
	size_t n_rules;

	memset(p, 0, sizeof(*p));
	p->table = c->table;
	p->bridge = c->bridge;
	if (!cfg) {
		/* parsing no object only adds the default group: cannot fail */
		netns_sg_config_parse(NULL, "", &p->implicit, NULL);
		cfg = &p->implicit;
	}

	n_rules = 1 + 2 + cfg->n_groups + 1 + 1;
	for (size_t i = 0; i < cfg->n_groups; i++)
		n_rules += cfg->groups[i].n_rules;
	p->sets = xcalloc(cfg->n_groups + 1, sizeof(*p->sets));
	p->chains = xcalloc(cfg->n_groups + 3, sizeof(*p->chains));
	p->rules = xcalloc(n_rules, sizeof(*p->rules));

	for (size_t i = 0; i < cfg->n_groups; i++)
		snprintf(p->sets[p->n_sets++], NAME_LEN, "m_%s", cfg->groups[i].name);

	ch = plan_chain(p, CHAIN_FORWARD);
	ch->type = "filter";
	ch->hooknum = NF_INET_FORWARD;
	ch->prio = 0;
	ch->hook_name = "forward";
	ch->prio_name = "filter";
	plan_chain(p, CHAIN_INGRESS);
	for (size_t i = 0; i < cfg->n_groups; i++) {
		char name[NAME_LEN];

		snprintf(name, sizeof(name), "sg_%s", cfg->groups[i].name);
		plan_chain(p, name);
	}
	ch = plan_chain(p, CHAIN_POSTROUTING);
	ch->type = "nat";
	ch->hooknum = NF_INET_POST_ROUTING;
	ch->prio = 100;
	ch->hook_name = "postrouting";
	ch->prio_name = "srcnat";

	/* forward: what goes out to the bridge goes to a task */
	r = plan_rule(p, CHAIN_FORWARD);
	r->oif = 1;
	r->verdict = V_JUMP;
	snprintf(r->target, NAME_LEN, "%s", CHAIN_INGRESS);

	r = plan_rule(p, CHAIN_INGRESS);
	r->ct_state = CT_ESTABLISHED | CT_RELATED;
	r->verdict = V_ACCEPT;
	r = plan_rule(p, CHAIN_INGRESS);
	r->ct_state = CT_INVALID;
	r->verdict = V_DROP;
	for (size_t i = 0; i < cfg->n_groups; i++) {
		r = plan_rule(p, CHAIN_INGRESS);
		snprintf(r->daddr_set, NAME_LEN, "m_%s", cfg->groups[i].name);
		r->verdict = V_JUMP;
		snprintf(r->target, NAME_LEN, "sg_%s", cfg->groups[i].name);
	}
	r = plan_rule(p, CHAIN_INGRESS);
	r->counter = true;
	r->verdict = V_DROP;

	for (size_t i = 0; i < cfg->n_groups; i++) {
		const struct netns_sg *g = &cfg->groups[i];
		/* chains [2, 2 + n_groups) are the groups', in the same order */
		const char *chain = p->chains[2 + i].name;

		for (size_t k = 0; k < g->n_rules; k++) {
			const struct netns_sg_rule *sr = &g->rules[k];

			r = plan_rule(p, chain);
			if (sr->has_cidr) {
				r->saddr_prefix = true;
				r->saddr = sr->cidr;
			} else {
				snprintf(r->saddr_set, NAME_LEN, "m_%s", sr->source_group);
			}
			switch (sr->proto) {
			case NETNS_SG_TCP:
				r->l4proto = IPPROTO_TCP;
				break;
			case NETNS_SG_UDP:
				r->l4proto = IPPROTO_UDP;
				break;
			case NETNS_SG_ICMP:
				r->l4proto = IPPROTO_ICMP;
				break;
			case NETNS_SG_ALL:
				break;
			}
			if (sr->proto == NETNS_SG_TCP || sr->proto == NETNS_SG_UDP) {
				r->dport_from = sr->from_port;
				r->dport_to = sr->to_port;
			}
			r->verdict = V_ACCEPT;
		}
	}

	r = plan_rule(p, CHAIN_POSTROUTING);
	r->saddr_prefix = true;
	r->saddr = c->subnet;
	r->oif = -1;
	r->verdict = V_MASQ;
}

/* ---------------------------------------------------------------- render */

static void rule_text(const struct plan *p, const struct prule *r, FILE *f)
{
	const char *sep = "";

#define WORD(...) do { fputs(sep, f); fprintf(f, __VA_ARGS__); sep = " "; } while (0)
	if (r->ct_state) {
		const char *comma = "";

		WORD("ct state ");
		if (r->ct_state & CT_INVALID) {
			fprintf(f, "%sinvalid", comma);
			comma = ",";
		}
		if (r->ct_state & CT_ESTABLISHED) {
			fprintf(f, "%sestablished", comma);
			comma = ",";
		}
		if (r->ct_state & CT_RELATED)
			fprintf(f, "%srelated", comma);
	}
	if (r->saddr_prefix) {
		char ip[NETNS_IP_STRLEN];

		if (r->saddr.prefix == 32)
			WORD("ip saddr %s", netns_ip_str(r->saddr.net, ip));
		else
			WORD("ip saddr %s/%u", netns_ip_str(r->saddr.net, ip), r->saddr.prefix);
	}
	if (r->saddr_set[0])
		WORD("ip saddr @%s", r->saddr_set);
	if (r->daddr_set[0])
		WORD("ip daddr @%s", r->daddr_set);
	if (r->oif)
		WORD("oifname %s\"%s\"", r->oif < 0 ? "!= " : "", p->bridge);
	if (r->l4proto == IPPROTO_ICMP)
		WORD("meta l4proto icmp");
	else if (r->l4proto && !r->dport_from)
		WORD("meta l4proto %s", r->l4proto == IPPROTO_TCP ? "tcp" : "udp");
	if (r->dport_from) {
		const char *proto = r->l4proto == IPPROTO_TCP ? "tcp" : "udp";

		if (r->dport_from == r->dport_to)
			WORD("%s dport %u", proto, r->dport_from);
		else
			WORD("%s dport %u-%u", proto, r->dport_from, r->dport_to);
	}
	if (r->counter)
		WORD("counter");
	switch (r->verdict) {
	case V_ACCEPT:
		WORD("accept");
		break;
	case V_DROP:
		WORD("drop");
		break;
	case V_JUMP:
		WORD("jump %s", r->target);
		break;
	case V_MASQ:
		WORD("masquerade");
		break;
	}
#undef WORD
}

static FILE *memstream(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (!f) {
		fprintf(stderr, "berth: out of memory (open_memstream)\n");
		abort();
	}
	return f;
}

static char *rule_string(const struct plan *p, const struct prule *r)
{
	char *buf = NULL;
	size_t len;
	FILE *f = memstream(&buf, &len);

	rule_text(p, r, f);
	fclose(f);
	return buf;
}

static char *plan_render(const struct plan *p)
{
	char *buf = NULL;
	size_t len;
	FILE *f = memstream(&buf, &len);
	const char *sep = "";

	fprintf(f, "table inet %s {\n", p->table);
	for (size_t i = 0; i < p->n_sets; i++) {
		fprintf(f, "%s\tset %s {\n\t\ttype ipv4_addr\n\t}\n", sep, p->sets[i]);
		sep = "\n";
	}
	for (size_t i = 0; i < p->n_chains; i++) {
		const struct pchain *ch = &p->chains[i];

		fprintf(f, "%s\tchain %s {\n", sep, ch->name);
		sep = "\n";
		if (ch->type)
			fprintf(f, "\t\ttype %s hook %s priority %s; policy accept;\n", ch->type,
				ch->hook_name, ch->prio_name);
		for (size_t k = 0; k < p->n_rules; k++) {
			if (strcmp(p->rules[k].chain, ch->name) != 0)
				continue;
			fputs("\t\t", f);
			rule_text(p, &p->rules[k], f);
			fputc('\n', f);
		}
		fputs("\t}\n", f);
	}
	fputs("}\n", f);
	fclose(f);
	return buf;
}

char *netns_nft_render(const struct netns_nft_conf *c)
{
	struct plan p;
	char *s;

	plan_build(c, &p);
	s = plan_render(&p);
	plan_free(&p);
	return s;
}

/* ------------------------------------------------------ expression encoding */

static void *nn(void *p, const char *what)
{
	if (!p) {
		fprintf(stderr, "berth: out of memory (%s)\n", what);
		abort();
	}
	return p;
}

static struct nftnl_expr *expr(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nn(nftnl_expr_alloc(name), "nftnl_expr_alloc");

	nftnl_rule_add_expr(r, e);
	return e;
}

static void put_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = expr(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
}

static void put_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr(r, "cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void put_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = expr(r, "payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
}

/* reg1 = reg1 & mask (len 4) */
static void put_and(struct nftnl_rule *r, uint32_t mask_mem)
{
	struct nftnl_expr *e = expr(r, "bitwise");
	uint32_t zero = 0;

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask_mem, sizeof(mask_mem));
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
}

static void put_lookup(struct nftnl_rule *r, const char *set)
{
	struct nftnl_expr *e = expr(r, "lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
}

/* `meta nfproto ipv4`: what nft puts before an ip match in an inet table */
static void put_ipv4(struct nftnl_rule *r)
{
	uint8_t proto = NFPROTO_IPV4;

	put_meta(r, NFT_META_NFPROTO);
	put_cmp(r, NFT_CMP_EQ, &proto, sizeof(proto));
}

static void put_ip_set(struct nftnl_rule *r, uint32_t offset, const char *set)
{
	put_payload(r, NFT_PAYLOAD_NETWORK_HEADER, offset, sizeof(uint32_t));
	put_lookup(r, set);
}

static struct nftnl_rule *rule_encode(const struct plan *p, const struct prule *pr)
{
	struct nftnl_rule *r = nn(nftnl_rule_alloc(), "nftnl_rule_alloc");

	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, p->table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, pr->chain);

	if (pr->ct_state) {
		struct nftnl_expr *e = expr(r, "ct");
		uint32_t zero = 0;

		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
		put_and(r, pr->ct_state);  /* ct state is a host-order u32 */
		put_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
	}
	if (pr->saddr_prefix || pr->saddr_set[0] || pr->daddr_set[0])
		put_ipv4(r);
	if (pr->saddr_prefix) {
		uint32_t net = htonl(pr->saddr.net);

		put_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, sizeof(uint32_t));
		if (pr->saddr.prefix < 32)
			put_and(r, htonl(netns_cidr_mask(pr->saddr.prefix)));
		put_cmp(r, NFT_CMP_EQ, &net, sizeof(net));
	}
	if (pr->saddr_set[0])
		put_ip_set(r, 12, pr->saddr_set);
	if (pr->daddr_set[0])
		put_ip_set(r, 16, pr->daddr_set);
	if (pr->oif) {
		char name[IFNAMSIZ] = { 0 };

		strncpy(name, p->bridge, sizeof(name) - 1);
		put_meta(r, NFT_META_OIFNAME);
		put_cmp(r, pr->oif > 0 ? NFT_CMP_EQ : NFT_CMP_NEQ, name, sizeof(name));
	}
	if (pr->l4proto) {
		put_meta(r, NFT_META_L4PROTO);
		put_cmp(r, NFT_CMP_EQ, &pr->l4proto, sizeof(pr->l4proto));
	}
	if (pr->dport_from) {
		uint16_t from = htons(pr->dport_from), to = htons(pr->dport_to);

		put_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, sizeof(uint16_t));
		if (pr->dport_from == pr->dport_to) {
			put_cmp(r, NFT_CMP_EQ, &from, sizeof(from));
		} else {
			/* cmp compares bytes: network order keeps the order */
			put_cmp(r, NFT_CMP_GTE, &from, sizeof(from));
			put_cmp(r, NFT_CMP_LTE, &to, sizeof(to));
		}
	}
	if (pr->counter)
		expr(r, "counter");
	if (pr->verdict == V_MASQ) {
		expr(r, "masq");
	} else {
		struct nftnl_expr *e = expr(r, "immediate");

		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT,
				   pr->verdict == V_ACCEPT ? NF_ACCEPT :
				   pr->verdict == V_DROP ? NF_DROP : (uint32_t)NFT_JUMP);
		if (pr->verdict == V_JUMP)
			nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, pr->target);
	}
	return r;
}

/* ----------------------------------------------------------------- batch */

struct batch {
	char *buf;
	size_t len, cap;
	uint32_t seq0;   /* sequence number of message 0 (BATCH_BEGIN) */
	char **what;     /* what[i] describes message i; NULL for begin/end */
	size_t n, n_cap;
};

static void batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->what[i]);
	free(b->what);
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

/* Zeroed room for one message at the end of the batch. */
static char *batch_room(struct batch *b)
{
	if (b->cap - b->len < MSG_MAX) {
		b->cap = (b->cap + MSG_MAX) * 2;
		b->buf = xrealloc(b->buf, b->cap);
	}
	memset(b->buf + b->len, 0, MSG_MAX);
	return b->buf + b->len;
}

static uint32_t batch_seq(const struct batch *b)
{
	return b->seq0 + (uint32_t)b->n;
}

/* Close the message at the end of the batch; takes `what`. */
static void batch_push(struct batch *b, struct nlmsghdr *nlh, char *what)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	if (b->n == b->n_cap) {
		b->n_cap = b->n_cap ? b->n_cap * 2 : 64;
		b->what = xreallocarray(b->what, b->n_cap, sizeof(*b->what));
	}
	b->what[b->n++] = what;
}

/* genid != 0: the kernel refuses the batch (ERESTART) if the ruleset
 * changed since that generation was read. */
static void batch_begin(struct batch *b, uint32_t genid)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(batch_room(b));
	struct nfgenmsg *nfg;

	b->seq0 = 1;
	nlh->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = batch_seq(b);
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
	if (genid)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	batch_push(b, nlh, NULL);
}

static void batch_end(struct batch *b)
{
	batch_push(b, nftnl_batch_end(batch_room(b), batch_seq(b)), NULL);
}

static struct nlmsghdr *batch_hdr(struct batch *b, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(batch_room(b), type, NFPROTO_INET, flags, batch_seq(b));
}

static void mnl_closep(struct mnl_socket **nl)
{
	if (*nl)
		mnl_socket_close(*nl);
}
#define cleanup_mnl __attribute__((cleanup(mnl_closep)))

static int nl_open(struct mnl_socket **out, struct berr **err)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	int one = 1;

	if (!nl)
		return berr_set(err, errno, "nft: open netlink socket");
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(nl);
		return berr_set(err, e, "nft: bind netlink socket");
	}
	/* errors without a copy of the request: small, so many fit */
	setsockopt(mnl_socket_get_fd(nl), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	*out = nl;
	return 0;
}

/* Send the batch; errs[i] (b->n entries) gets the errno the kernel
 * reported for message i, 0 for none. Returns 0 when nothing was reported
 * (the batch is committed), 1 when something was (it is not), negative
 * with *err set when the socket failed. */
static int batch_talk(struct mnl_socket *nl, const struct batch *b, int *errs, struct berr **err)
{
	int fd = mnl_socket_get_fd(nl);
	cleanup_free char *buf = xmalloc(RECV_SIZE);
	int sndbuf = 0, any = 0;
	socklen_t sl = sizeof(sndbuf);

	/* netlink takes the batch as one datagram: the send buffer must hold it */
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) == 0 &&
	    (size_t)sndbuf < b->len + 4096 && b->len < INT32_MAX / 2) {
		int want = (int)b->len + 4096;

		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
	}
	if (mnl_socket_sendto(nl, b->buf, b->len) < 0)
		return berr_set(err, errno, "nft: send batch of %zu messages", b->n);

	memset(errs, 0, b->n * sizeof(*errs));
	for (;;) {
		ssize_t got = recv(fd, buf, RECV_SIZE, MSG_DONTWAIT);
		int len;

		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			return berr_set(err, errno, "nft: read the replies to a batch");
		}
		len = (int)got;
		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e;
			uint32_t i = nlh->nlmsg_seq - b->seq0;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error == 0)
				continue;
			any = 1;
			if (i < b->n && !errs[i])
				errs[i] = -e->error;
			else if (i >= b->n && !errs[0])
				errs[0] = -e->error;  /* cannot place it: fail the batch */
		}
	}
	return any;
}

/* The first reported error as a berr naming its message. */
static int batch_error(const struct batch *b, const int *errs, const char *table,
		       struct berr **err)
{
	for (size_t i = 1; i < b->n; i++)
		if (errs[i] && b->what[i])
			return berr_set(err, errs[i], "nft: %s", b->what[i]);
	/* errors acked on BATCH_BEGIN are the batch's own: the commit failed */
	return berr_set(err, errs[0] ? errs[0] : EPROTO, "nft: commit changes to table inet %s",
			table);
}

/* Does buf hold the last message of a reply (NLMSG_DONE or an error)? */
static bool reply_ends(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR)
			return true;
	return false;
}

/* Request/response (dumps too): call cb for each reply until done.
 * -EINTR: a dump raced with a change of the ruleset (the kernel flagged a
 * part NLM_F_DUMP_INTR, libmnl stops there); the rest of it has been read,
 * so the caller can simply ask again. */
static int nl_request(struct mnl_socket *nl, const struct nlmsghdr *req, mnl_cb_t cb,
		      void *data)
{
	cleanup_free char *buf = xmalloc(RECV_SIZE);
	uint32_t portid = mnl_socket_get_portid(nl);
	bool intr = false;

	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(nl, buf, RECV_SIZE);
		int r;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (intr) {
			if (reply_ends(buf, (size_t)got))
				return -EINTR;
			continue;
		}
		r = mnl_cb_run(buf, (size_t)got, req->nlmsg_seq, portid, cb, data);
		if (r < 0 && errno == EINTR && (req->nlmsg_flags & NLM_F_DUMP)) {
			/* what the callback got so far is not to be trusted:
			 * read the rest of the dump away */
			if (reply_ends(buf, (size_t)got))
				return -EINTR;
			intr = true;
			continue;
		}
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nn(nftnl_gen_alloc(), "nftnl_gen_alloc");

	if (nftnl_gen_nlmsg_parse(nlh, g) == 0 && nftnl_gen_is_set(g, NFTNL_GEN_ID))
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

static int get_genid(struct mnl_socket *nl, uint32_t *genid, struct berr **err)
{
	char buf[256] = { 0 };
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, 1);
	int r;

	*genid = 0;
	r = nl_request(nl, nlh, gen_cb, genid);
	if (r < 0)
		return berr_set(err, r, "nft: read the ruleset generation");
	return 0;
}

int netns_nft_genid(uint32_t *genid, struct berr **err)
{
	struct mnl_socket *nl = NULL;
	int r = nl_open(&nl, err);

	if (r < 0)
		return r;
	r = get_genid(nl, genid, err);
	mnl_socket_close(nl);
	return r;
}

struct names {
	const char *table;
	bool is_set;
	char **v;
	size_t n;
};

static void names_free(struct names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
	n->v = NULL;
	n->n = 0;
}

static int names_cb(const struct nlmsghdr *nlh, void *data)
{
	struct names *n = data;
	const char *table = NULL, *name = NULL;
	struct nftnl_chain *c = NULL;
	struct nftnl_set *s = NULL;
	uint32_t family = 0;

	if (n->is_set) {
		s = nn(nftnl_set_alloc(), "nftnl_set_alloc");
		if (nftnl_set_nlmsg_parse(nlh, s) == 0) {
			table = nftnl_set_get_str(s, NFTNL_SET_TABLE);
			name = nftnl_set_get_str(s, NFTNL_SET_NAME);
			family = nftnl_set_get_u32(s, NFTNL_SET_FAMILY);
		}
	} else {
		c = nn(nftnl_chain_alloc(), "nftnl_chain_alloc");
		if (nftnl_chain_nlmsg_parse(nlh, c) == 0) {
			table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
			name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
			family = nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
		}
	}
	if (table && name && family == NFPROTO_INET && strcmp(table, n->table) == 0) {
		n->v = xreallocarray(n->v, n->n + 1, sizeof(*n->v));
		n->v[n->n++] = xstrdup(name);
	}
	if (s)
		nftnl_set_free(s);
	if (c)
		nftnl_chain_free(c);
	return MNL_CB_OK;
}

/* Names of the chains or sets of table inet <table>; none if it is absent. */
static int list_names(struct mnl_socket *nl, const char *table, bool sets, struct names *out,
		      struct berr **err)
{
	char buf[512] = { 0 };
	struct nlmsghdr *nlh;
	int r;

	out->table = table;
	out->is_set = sets;
	if (sets) {
		struct nftnl_set *s = nn(nftnl_set_alloc(), "nftnl_set_alloc");

		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET, NLM_F_DUMP, 2);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
	} else {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_INET, NLM_F_DUMP, 3);
	}
	/* a dump that raced with another change of the ruleset (other tasks
	 * starting and stopping change their set members all the time) */
	for (int i = 0; i < NFT_DUMP_TRIES; i++) {
		r = nl_request(nl, nlh, names_cb, out);
		if (r != -EINTR)
			break;
		names_free(out);
		/* let the writer finish its burst: 50 us, doubling up to 3.2 ms */
		usleep(50u << (i < 6 ? i : 6));
	}
	if (r == -ENOENT)  /* no such table */
		return 0;
	if (r < 0) {
		names_free(out);
		return berr_set(err, r, "nft: list the %s of table inet %s", sets ? "sets" : "chains",
				table);
	}
	return 0;
}

/* ------------------------------------------------------------ validation */

static bool name_chars(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' || *s == '-'))
			return false;
	return true;
}

static int check_table(const char *table, struct berr **err)
{
	if (!table || !name_chars(table, TABLE_NAME_MAX) ||
	    !((table[0] >= 'a' && table[0] <= 'z') || (table[0] >= 'A' && table[0] <= 'Z')))
		return berr_set(err, EINVAL,
				"nft: table name \"%s\": want a letter, then up to %d of A-Z a-z 0-9 _ . -",
				berr_q(table ? table : ""), TABLE_NAME_MAX - 1);
	return 0;
}

static int check_groups(const char *const *groups, size_t n, struct berr **err)
{
	for (size_t i = 0; i < n; i++)
		if (!groups[i] || !netns_sg_name_valid(groups[i]))
			return berr_set(err, EINVAL, "nft: security group \"%s\": not a valid group name",
					berr_q(groups[i] ? groups[i] : ""));
	return 0;
}

/* ----------------------------------------------------------------- apply */

static bool in_list(const char *name, const char *list, size_t n, size_t stride)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list + i * stride) == 0)
			return true;
	return false;
}

static void build_apply(const struct plan *p, uint32_t genid, const struct names *chains,
			const struct names *sets, struct batch *b)
{
	struct nlmsghdr *nlh;
	uint32_t set_id = 1;

	batch_begin(b, genid);

	{
		struct nftnl_table *t = nn(nftnl_table_alloc(), "nftnl_table_alloc");

		nftnl_table_set_str(t, NFTNL_TABLE_NAME, p->table);
		nlh = batch_hdr(b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		nftnl_table_nlmsg_build_payload(nlh, t);
		nftnl_table_free(t);
		batch_push(b, nlh, xasprintf("add table inet %s", p->table));
	}
	{
		/* DELRULE naming only the table flushes every chain in it; this
		 * also drops the references stale chains and sets still have */
		struct nftnl_rule *r = nn(nftnl_rule_alloc(), "nftnl_rule_alloc");

		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, p->table);
		nlh = batch_hdr(b, NFT_MSG_DELRULE, 0);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
		batch_push(b, nlh, xasprintf("flush table inet %s", p->table));
	}
	for (size_t i = 0; i < chains->n; i++) {
		struct nftnl_chain *c;
		bool keep = false;

		for (size_t k = 0; k < p->n_chains; k++)
			keep |= strcmp(chains->v[i], p->chains[k].name) == 0;
		if (keep)
			continue;
		c = nn(nftnl_chain_alloc(), "nftnl_chain_alloc");
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, p->table);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chains->v[i]);
		nlh = batch_hdr(b, NFT_MSG_DELCHAIN, 0);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftnl_chain_free(c);
		batch_push(b, nlh, xasprintf("delete chain %s", chains->v[i]));
	}
	for (size_t i = 0; i < sets->n; i++) {
		struct nftnl_set *s;

		if (in_list(sets->v[i], p->sets[0], p->n_sets, NAME_LEN))
			continue;
		s = nn(nftnl_set_alloc(), "nftnl_set_alloc");
		nftnl_set_set_str(s, NFTNL_SET_TABLE, p->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, sets->v[i]);
		nlh = batch_hdr(b, NFT_MSG_DELSET, 0);
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		batch_push(b, nlh, xasprintf("delete set %s", sets->v[i]));
	}
	for (size_t i = 0; i < p->n_sets; i++) {
		struct nftnl_set *s = nn(nftnl_set_alloc(), "nftnl_set_alloc");

		nftnl_set_set_str(s, NFTNL_SET_TABLE, p->table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, p->sets[i]);
		nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 7);  /* nft's ipv4_addr (TYPE_IPADDR) */
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, sizeof(uint32_t));
		nftnl_set_set_u32(s, NFTNL_SET_ID, set_id++);
		/* no NLM_F_EXCL: an existing set, and its elements, stay */
		nlh = batch_hdr(b, NFT_MSG_NEWSET, NLM_F_CREATE);
		nftnl_set_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		batch_push(b, nlh, xasprintf("add set %s", p->sets[i]));
	}
	for (size_t i = 0; i < p->n_chains; i++) {
		const struct pchain *ch = &p->chains[i];
		struct nftnl_chain *c = nn(nftnl_chain_alloc(), "nftnl_chain_alloc");

		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, p->table);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, ch->name);
		if (ch->type) {
			nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, ch->type);
			nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, ch->hooknum);
			nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, ch->prio);
			nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		}
		/* an existing chain is kept (its rules went with the flush) */
		nlh = batch_hdr(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftnl_chain_free(c);
		batch_push(b, nlh, xasprintf("add chain %s", ch->name));
	}
	for (size_t i = 0; i < p->n_rules; i++) {
		struct nftnl_rule *r = rule_encode(p, &p->rules[i]);
		cleanup_free char *text = rule_string(p, &p->rules[i]);

		nlh = batch_hdr(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
		nftnl_rule_nlmsg_build_payload(nlh, r);
		nftnl_rule_free(r);
		batch_push(b, nlh, xasprintf("add rule to chain %s (%s)", p->rules[i].chain, text));
	}
	batch_end(b);
}

int netns_nft_apply(const struct netns_nft_conf *c, struct berr **err)
{
	cleanup_mnl struct mnl_socket *nl = NULL;
	struct plan p;
	int r;

	r = check_table(c->table, err);
	if (r < 0)
		return r;
	if (!c->bridge || !name_chars(c->bridge, IFNAMSIZ - 1))
		return berr_set(err, EINVAL,
				"nft: bridge name \"%s\": want 1 to %d of A-Z a-z 0-9 _ . -",
				berr_q(c->bridge ? c->bridge : ""), IFNAMSIZ - 1);
	r = nl_open(&nl, err);
	if (r < 0)
		return r;

	plan_build(c, &p);
	for (int attempt = 1;; attempt++) {
		struct names chains = { 0 }, sets = { 0 };
		struct batch b = { 0 };
		cleanup_free int *errs = NULL;
		uint32_t genid;

		r = get_genid(nl, &genid, err);
		if (r >= 0)
			r = list_names(nl, c->table, false, &chains, err);
		if (r >= 0)
			r = list_names(nl, c->table, true, &sets, err);
		if (r >= 0) {
			build_apply(&p, genid, &chains, &sets, &b);
			errs = xcalloc(b.n, sizeof(*errs));
			r = batch_talk(nl, &b, errs, err);
			if (r > 0) {
				/* ERESTART on BATCH_BEGIN: someone changed the ruleset
				 * between our reads and the batch; read again */
				bool stale = errs[0] == ERESTART && attempt < APPLY_ATTEMPTS;

				r = stale ? 1 : batch_error(&b, errs, c->table, err);
			}
		}
		names_free(&chains);
		names_free(&sets);
		batch_free(&b);
		if (r != 1)
			break;
		/* 0.25, 0.5, 1, then 2 ms (and some jitter), so a writer's burst can end */
		usleep((useconds_t)(250 << (attempt < 4 ? attempt : 4)) / 2 +
		       (useconds_t)(getpid() % 250));
	}
	plan_free(&p);
	return r < 0 ? r : 0;
}

/* --------------------------------------------------------------- members */

static void build_members(const char *table, uint32_t ip, const char *const *groups, size_t n,
			  const bool *skip, bool add, struct batch *b)
{
	char ipstr[NETNS_IP_STRLEN];
	uint32_t key = htonl(ip);

	netns_ip_str(ip, ipstr);
	batch_begin(b, 0);
	for (size_t i = 0; i < n; i++) {
		struct nftnl_set *s;
		struct nftnl_set_elem *e;
		struct nlmsghdr *nlh;
		char name[NAME_LEN];

		if (skip[i])
			continue;
		snprintf(name, sizeof(name), "m_%s", groups[i]);
		s = nn(nftnl_set_alloc(), "nftnl_set_alloc");
		nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, name);
		e = nn(nftnl_set_elem_alloc(), "nftnl_set_elem_alloc");
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
		nftnl_set_elem_add(s, e);
		/* no NLM_F_EXCL: adding an element that is there already is fine */
		nlh = batch_hdr(b, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				add ? NLM_F_CREATE : 0);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
		batch_push(b, nlh, xasprintf("%s %s %s set %s (security group %s)",
					     add ? "add" : "delete", ipstr, add ? "to" : "from",
					     name, groups[i]));
	}
	batch_end(b);
}

/* One round of members(): 0 done, 1 send again (skip[] grew), negative error. */
static int members_round(struct mnl_socket *nl, const char *table, uint32_t ip,
			 const char *const *groups, size_t n, bool *skip, bool add,
			 struct berr **err)
{
	struct batch b = { 0 };
	cleanup_free int *errs = NULL;
	bool only_enoent = true;
	int r;

	build_members(table, ip, groups, n, skip, add, &b);
	errs = xcalloc(b.n, sizeof(*errs));
	r = batch_talk(nl, &b, errs, err);
	if (r <= 0)
		goto out;
	only_enoent = errs[0] == 0;
	for (size_t k = 1; k < b.n; k++)
		only_enoent &= errs[k] == 0 || errs[k] == ENOENT;
	if (only_enoent && !add) {
		/* message m (from 1) is the m-th group not skipped yet */
		for (size_t i = 0, m = 1; i < n; i++) {
			if (skip[i])
				continue;
			if (errs[m++] == ENOENT)
				skip[i] = true;
		}
		r = 1;
		goto out;
	}
	for (size_t k = 1; k < b.n && add; k++)
		if (errs[k] == ENOENT && b.what[k]) {
			r = berr_set(err, ENOENT, "nft: %s: no such set in table inet %s "
				     "(security group not configured?)", b.what[k], table);
			goto out;
		}
	r = batch_error(&b, errs, table, err);
out:
	batch_free(&b);
	return r;
}

/* del: a batch fails as a whole when one element is missing (6.1 has no
 * DESTROYSETELEM), and changes nothing; those are dropped and the rest sent
 * again, at most n rounds. */
static int members(const char *table, uint32_t ip, const char *const *groups, size_t n,
		   bool add, struct berr **err)
{
	cleanup_mnl struct mnl_socket *nl = NULL;
	cleanup_free bool *skip = NULL;
	int r;

	r = check_table(table, err);
	if (r < 0)
		return r;
	r = check_groups(groups, n, err);
	if (r < 0)
		return r;
	r = nl_open(&nl, err);
	if (r < 0)
		return r;
	skip = xcalloc(n + 1, sizeof(*skip));
	for (size_t round = 0; round <= n; round++) {
		bool any = false;

		for (size_t i = 0; i < n; i++)
			any |= !skip[i];
		if (!any)
			return 0;
		r = members_round(nl, table, ip, groups, n, skip, add, err);
		if (r <= 0)
			return r;
	}
	return berr_set(err, EPROTO, "nft: %s: the kernel keeps refusing the batch", add ? "add members" : "delete members");
}

int netns_nft_members_add(const char *table, uint32_t ip, const char *const *groups, size_t n,
			  struct berr **err)
{
	return members(table, ip, groups, n, true, err);
}

int netns_nft_members_del(const char *table, uint32_t ip, const char *const *groups, size_t n,
			  struct berr **err)
{
	return members(table, ip, groups, n, false, err);
}

/* ---------------------------------------------------------------- remove */

int netns_nft_remove(const char *table, struct berr **err)
{
	cleanup_mnl struct mnl_socket *nl = NULL;
	struct nftnl_table *t;
	struct nlmsghdr *nlh;
	struct batch b = { 0 };
	cleanup_free int *errs = NULL;
	int r;

	r = check_table(table, err);
	if (r < 0)
		return r;
	r = nl_open(&nl, err);
	if (r < 0)
		return r;
	batch_begin(&b, 0);
	t = nn(nftnl_table_alloc(), "nftnl_table_alloc");
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
	nlh = batch_hdr(&b, NFT_MSG_DELTABLE, 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	batch_push(&b, nlh, xasprintf("delete table inet %s", table));
	batch_end(&b);

	errs = xcalloc(b.n, sizeof(*errs));
	r = batch_talk(nl, &b, errs, err);
	if (r > 0)
		r = errs[1] == ENOENT ? 0 : batch_error(&b, errs, table, err);
	batch_free(&b);
	return r < 0 ? r : 0;
}

/* ---------------------------------------------------- local redirect */

int netns_nft_redirect_local(const char *table, uint32_t addr, uint16_t from_port, uint16_t to_port,
			     struct berr **err)
{
	cleanup_mnl struct mnl_socket *nl = NULL;
	cleanup_free int *errs = NULL;
	struct batch b = { 0 };
	struct nlmsghdr *nlh;
	uint32_t daddr = htonl(addr);
	uint16_t dport = htons(from_port), to = htons(to_port);
	uint8_t tcp = IPPROTO_TCP;
	int r;

	if ((r = check_table(table, err)) < 0)
		return r;
	if ((r = nl_open(&nl, err)) < 0)
		return r;
	batch_begin(&b, 0);
	{
		struct nftnl_table *t = nn(nftnl_table_alloc(), "nftnl_table_alloc");

		nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
		nlh = batch_hdr(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		nftnl_table_nlmsg_build_payload(nlh, t);
		nftnl_table_free(t);
		batch_push(&b, nlh, xasprintf("add table inet %s", table));
	}
	{
		struct nftnl_chain *c = nn(nftnl_chain_alloc(), "nftnl_chain_alloc");

		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "out");
		nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "nat");
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_OUT);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, -100);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
		nlh = batch_hdr(&b, NFT_MSG_NEWCHAIN, NLM_F_CREATE);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftnl_chain_free(c);
		batch_push(&b, nlh, xasprintf("add chain out (nat output)"));
	}
	{
		struct nftnl_rule *rl = nn(nftnl_rule_alloc(), "nftnl_rule_alloc");
		struct nftnl_expr *e;

		nftnl_rule_set_str(rl, NFTNL_RULE_TABLE, table);
		nftnl_rule_set_str(rl, NFTNL_RULE_CHAIN, "out");
		nftnl_rule_set_u32(rl, NFTNL_RULE_FAMILY, NFPROTO_INET);
		put_ipv4(rl);
		put_payload(rl, NFT_PAYLOAD_NETWORK_HEADER, 16, sizeof(daddr));   /* ip daddr */
		put_cmp(rl, NFT_CMP_EQ, &daddr, sizeof(daddr));
		put_meta(rl, NFT_META_L4PROTO);
		put_cmp(rl, NFT_CMP_EQ, &tcp, sizeof(tcp));
		put_payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, sizeof(dport));  /* tcp dport */
		put_cmp(rl, NFT_CMP_EQ, &dport, sizeof(dport));
		e = expr(rl, "immediate");
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &to, sizeof(to));
		e = expr(rl, "redir");
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MAX, NFT_REG_1);
		/* without "proto specified" the port registers are ignored and
		 * the connection goes to 127.0.0.1 on its original port */
		nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
		nlh = batch_hdr(&b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
		nftnl_rule_nlmsg_build_payload(nlh, rl);
		nftnl_rule_free(rl);
		batch_push(&b, nlh, xasprintf("add rule to chain out (redirect tcp dport %u to :%u)",
					      (unsigned)from_port, (unsigned)to_port));
	}
	batch_end(&b);
	errs = xcalloc(b.n, sizeof(*errs));
	r = batch_talk(nl, &b, errs, err);
	if (r > 0)
		r = batch_error(&b, errs, table, err);
	batch_free(&b);
	return r < 0 ? r : 0;
}
