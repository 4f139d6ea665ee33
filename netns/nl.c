/* netns/nl.c - rtnetlink requests over libmnl (see nl.h). */
#include "netns/nl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "common/xalloc.h"

/* Large enough for any single rtnetlink message the kernel sends for a
 * link (it sizes dump skbs up to 32 KiB); a bigger one is -ENOSPC. */
#define NL_RECV_BUF 32768
/* Requests are small: a veth create is well under 200 bytes. */
#define NL_SEND_BUF 1024
/* A dump that raced with a change (NLM_F_DUMP_INTR) is run again. */
#define NL_DUMP_TRIES 5

struct netns_nl {
	struct mnl_socket *sock;
	unsigned portid;
	uint32_t seq;
	char *rbuf;
};

int netns_nl_open(struct netns_nl **out, struct berr **err)
{
	struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	int one = 1;

	if (!sock)
		return berr_set(err, errno, "netlink: open NETLINK_ROUTE socket");
	if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;

		mnl_socket_close(sock);
		return berr_set(err, e, "netlink: bind NETLINK_ROUTE socket");
	}
	/* The kernel's own words in errors ("Attribute failed policy
	 * validation"), and acks that do not echo the whole request. Both are
	 * optional: an older kernel just gives less detail. */
	(void)mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof(one));

	struct netns_nl *nl = xzalloc(sizeof(*nl));

	nl->sock = sock;
	nl->portid = mnl_socket_get_portid(sock);
	nl->seq = (uint32_t)time(NULL);
	nl->rbuf = xmalloc(NL_RECV_BUF);
	*out = nl;
	return 0;
}

void netns_nl_close(struct netns_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl->rbuf);
	free(nl);
}

void netns_nl_closep(struct netns_nl **nl)
{
	netns_nl_close(*nl);
	*nl = NULL;
}

/* ---- request / answer ---- */

typedef void (*nl_msg_cb)(const struct nlmsghdr *nlh, void *data);

/* The NLMSGERR_ATTR_MSG of an extended ack, or NULL. */
static const char *extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);
	const struct nlattr *attr;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (off >= mnl_nlmsg_get_payload_len(nlh))
		return NULL;
	const void *tlvs = (const char *)e + off;

	mnl_attr_for_each_payload(tlvs, mnl_nlmsg_get_payload_len(nlh) - off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(attr);
	}
	return NULL;
}

static int nl_fail(struct berr **err, int code, const char *kmsg, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static int nl_fail(struct berr **err, int code, const char *kmsg, const char *fmt, va_list ap)
{
	char what[256];

	vsnprintf(what, sizeof(what), fmt, ap);
	if (kmsg && *kmsg)
		return berr_set(err, code, "netlink: %s (kernel: %s)", what, kmsg);
	return berr_set(err, code, "netlink: %s", what);
}

/* Send nlh and read the answer: each data message goes to cb; returns at the
 * ack (or NLMSG_DONE of a dump). -EAGAIN (no message) when a dump was
 * interrupted by a concurrent change. Replies to other sequence numbers (left
 * over from an earlier request) are skipped. */
static int nl_talkv(struct netns_nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data,
		    struct berr **err, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

static int nl_talkv(struct netns_nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data,
		    struct berr **err, const char *fmt, va_list ap)
{
	bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	bool intr = false;
	uint32_t seq;
	ssize_t n;

	if (++nl->seq == 0)
		nl->seq = 1;
	seq = nl->seq;
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = 0;
	/* A dump ends with NLMSG_DONE; an ack after it is not sent by every
	 * kernel, so dumps are not asked for one. */
	if (!dump)
		nlh->nlmsg_flags |= NLM_F_ACK;

	while (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0) {
		if (errno != EINTR)
			return nl_fail(err, errno, NULL, fmt, ap);
	}
	for (;;) {
		n = mnl_socket_recvfrom(nl->sock, nl->rbuf, NL_RECV_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENOSPC: a message larger than the buffer (truncated) */
			return nl_fail(err, errno, NULL, fmt, ap);
		}
		const struct nlmsghdr *m = (const struct nlmsghdr *)nl->rbuf;
		int len = (int)n;

		for (; mnl_nlmsg_ok(m, len); m = mnl_nlmsg_next(m, &len)) {
			if (m->nlmsg_seq != seq || (m->nlmsg_pid && m->nlmsg_pid != nl->portid))
				continue;
			if (m->nlmsg_flags & NLM_F_DUMP_INTR)
				intr = true;
			switch (m->nlmsg_type) {
			case NLMSG_NOOP:
			case NLMSG_OVERRUN:
				continue;
			case NLMSG_ERROR: {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);

				if (mnl_nlmsg_get_payload_len(m) < sizeof(*e))
					return nl_fail(err, EBADMSG, NULL, fmt, ap);
				if (e->error == 0)
					return 0;
				return nl_fail(err, -e->error, extack_msg(m), fmt, ap);
			}
			case NLMSG_DONE: {
				const int *e = mnl_nlmsg_get_payload(m);

				if (mnl_nlmsg_get_payload_len(m) >= sizeof(int) && *e < 0)
					return nl_fail(err, -*e, NULL, fmt, ap);
				if (intr)
					return -EAGAIN;
				return 0;
			}
			default:
				if (cb)
					cb(m, data);
			}
		}
	}
}

static int nl_talk(struct netns_nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data,
		   struct berr **err, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int nl_talk(struct netns_nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data,
		   struct berr **err, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = nl_talkv(nl, nlh, cb, data, err, fmt, ap);
	va_end(ap);
	return r;
}

/* A dump, run again while it races with changes. `reset` clears what the
 * callback collected. */
static int nl_dump(struct netns_nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data,
		   void (*reset)(void *), struct berr **err, const char *what)
{
	for (int i = 0;; i++) {
		int r = nl_talk(nl, nlh, cb, data, err, "%s", what);

		if (r != -EAGAIN || i + 1 == NL_DUMP_TRIES)
			return r == -EAGAIN ? berr_set(err, EAGAIN, "netlink: %s", what) : r;
		reset(data);
	}
}

static struct nlmsghdr *msg_start(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, NL_SEND_BUF);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

static int check_ifname(const char *name, const char *what, struct berr **err)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0)
		return berr_set(err, EINVAL, "netlink: %s: empty interface name", what);
	if (len >= IFNAMSIZ)
		return berr_set(err, EINVAL,
				"netlink: %s: interface name \"%s\" is %zu bytes, longer than %d",
				what, berr_q(name), len, IFNAMSIZ - 1);
	return 0;
}

/* ---- links ---- */

struct link_parse {
	struct netns_nl_link *out;
	bool found;
};

static bool attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (mnl_attr_get_payload_len(a) < sizeof(uint32_t))
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

static void copy_str_attr(const struct nlattr *a, char *dst, size_t size)
{
	size_t len = strnlen(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));

	if (len >= size)
		len = size - 1;
	memcpy(dst, mnl_attr_get_payload(a), len);
	dst[len] = '\0';
}

static void parse_linkinfo(const struct nlattr *li, struct netns_nl_link *out)
{
	const struct nlattr *a, *b;
	char slave_kind[16] = "";
	const struct nlattr *slave_data = NULL;

	mnl_attr_for_each_nested(a, li) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_INFO_KIND:
			copy_str_attr(a, out->kind, sizeof(out->kind));
			break;
		case IFLA_INFO_SLAVE_KIND:
			copy_str_attr(a, slave_kind, sizeof(slave_kind));
			break;
		case IFLA_INFO_SLAVE_DATA:
			slave_data = a;
			break;
		}
	}
	if (!slave_data || strcmp(slave_kind, "bridge") != 0)
		return;
	mnl_attr_for_each_nested(b, slave_data) {
		if (mnl_attr_get_type(b) == IFLA_BRPORT_ISOLATED && mnl_attr_get_payload_len(b) >= 1)
			out->isolated = mnl_attr_get_u8(b) ? 1 : 0;
	}
}

static void parse_link(const struct nlmsghdr *nlh, struct netns_nl_link *out)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	uint32_t v;

	memset(out, 0, sizeof(*out));
	out->isolated = -1;
	out->ifindex = ifi->ifi_index;
	out->flags = ifi->ifi_flags;
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			copy_str_attr(a, out->name, sizeof(out->name));
			break;
		case IFLA_MTU:
			if (attr_u32(a, &v))
				out->mtu = v;
			break;
		case IFLA_MASTER:
			if (attr_u32(a, &v))
				out->master = (int)v;
			break;
		case IFLA_ADDRESS:
			if (mnl_attr_get_payload_len(a) == sizeof(out->mac)) {
				memcpy(out->mac, mnl_attr_get_payload(a), sizeof(out->mac));
				out->has_mac = true;
			}
			break;
		case IFLA_LINKINFO:
			parse_linkinfo(a, out);
			break;
		}
	}
}

static void link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_parse *p = data;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifinfomsg))
		return;
	parse_link(nlh, p->out);
	p->found = true;
}

int netns_nl_link_get(struct netns_nl *nl, const char *name, struct netns_nl_link *out,
		      struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct link_parse p = { .out = out };
	int r;

	if ((r = check_ifname(name, "get link", err)) < 0)
		return r;
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	r = nl_talk(nl, nlh, link_cb, &p, err, "get link %s", name);
	if (r < 0)
		return r;
	if (!p.found)
		return berr_set(err, ENODEV, "netlink: get link %s", name);
	return 0;
}

int netns_nl_ifindex(struct netns_nl *nl, const char *name, struct berr **err)
{
	struct netns_nl_link l;
	int r = netns_nl_link_get(nl, name, &l, err);

	return r < 0 ? r : l.ifindex;
}

/* RTM_NEWLINK/RTM_SETLINK on an existing link by index; ifi_flags change. */
static struct nlmsghdr *link_msg(char *buf, uint16_t type, int ifindex, unsigned up_change,
				 unsigned up_flags)
{
	struct nlmsghdr *nlh = msg_start(buf, type, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_change = up_change;
	ifi->ifi_flags = up_flags;
	return nlh;
}

int netns_nl_link_up(struct netns_nl *nl, int ifindex, struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, ifindex, IFF_UP, IFF_UP);

	return nl_talk(nl, nlh, NULL, NULL, err, "set link %d up", ifindex);
}

int netns_nl_link_set_mtu(struct netns_nl *nl, int ifindex, unsigned mtu, struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, ifindex, 0, 0);

	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_talk(nl, nlh, NULL, NULL, err, "set link %d mtu %u", ifindex, mtu);
}

static void put_brport_isolated(struct nlmsghdr *nlh, bool isolated)
{
	struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	struct nlattr *sd;

	mnl_attr_put_strz(nlh, IFLA_INFO_SLAVE_KIND, "bridge");
	sd = mnl_attr_nest_start(nlh, IFLA_INFO_SLAVE_DATA);
	mnl_attr_put_u8(nlh, IFLA_BRPORT_ISOLATED, isolated ? 1 : 0);
	mnl_attr_nest_end(nlh, sd);
	mnl_attr_nest_end(nlh, li);
}

int netns_nl_brport_set_isolated(struct netns_nl *nl, int ifindex, bool isolated,
				 struct berr **err)
{
	char buf[NL_SEND_BUF];
	/* Slave data is applied by RTM_NEWLINK on an existing link (the
	 * changelink path); RTM_SETLINK ignores IFLA_LINKINFO. */
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, ifindex, 0, 0);

	put_brport_isolated(nlh, isolated);
	return nl_talk(nl, nlh, NULL, NULL, err, "set bridge port %d isolated %s", ifindex,
		       isolated ? "on" : "off");
}

int netns_nl_link_del(struct netns_nl *nl, const char *name, struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = msg_start(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct berr *e = NULL;
	int r;

	if ((r = check_ifname(name, "delete link", err)) < 0)
		return r;
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	r = nl_talk(nl, nlh, NULL, NULL, &e, "delete link %s", name);
	if (r == -ENODEV) {
		berr_free(e);
		return 0;
	}
	if (r < 0) {
		if (err) {
			berr_free(*err);
			*err = e;
		} else {
			berr_free(e);
		}
	}
	return r;
}

struct port_count {
	int master;
	int n;
};

static void port_cb(const struct nlmsghdr *nlh, void *data)
{
	struct port_count *pc = data;
	struct netns_nl_link l;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ifinfomsg))
		return;
	parse_link(nlh, &l);
	if (l.master == pc->master)
		pc->n++;
}

static void port_reset(void *data)
{
	((struct port_count *)data)->n = 0;
}

int netns_nl_count_ports(struct netns_nl *nl, int master_ifindex, struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETLINK, NLM_F_DUMP);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct port_count pc = { .master = master_ifindex };
	char what[64];
	int r;

	ifi->ifi_family = AF_UNSPEC;
	/* the kernel filters the dump by master; the callback checks anyway */
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_ifindex);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	snprintf(what, sizeof(what), "list ports of link %d", master_ifindex);
	r = nl_dump(nl, nlh, port_cb, &pc, port_reset, err, what);
	return r < 0 ? r : pc.n;
}

/* ---- addresses ---- */

int netns_nl_addr_add(struct netns_nl *nl, int ifindex, uint32_t addr, unsigned prefix,
		      struct berr **err)
{
	char buf[NL_SEND_BUF], ip[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct in_addr a = { .s_addr = htonl(addr) };
	struct berr *e = NULL;
	int r;

	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	if (prefix > 32)
		return berr_set(err, EINVAL, "netlink: add address %s/%u to link %d: bad prefix",
				ip, prefix, ifindex);
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(a), &a);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(a), &a);
	if (prefix < 31) {
		struct in_addr b = { .s_addr = htonl(addr | ~(prefix ? 0xffffffffu << (32 - prefix) : 0u)) };

		mnl_attr_put(nlh, IFA_BROADCAST, sizeof(b), &b);
	}
	r = nl_talk(nl, nlh, NULL, NULL, &e, "add address %s/%u to link %d", ip, prefix, ifindex);
	if (r == -EEXIST) {
		berr_free(e);
		return 0;
	}
	if (r < 0) {
		if (err) {
			berr_free(*err);
			*err = e;
		} else {
			berr_free(e);
		}
	}
	return r;
}

struct addr_list {
	int ifindex;
	struct netns_nl_addr *out;
	size_t max, n;
};

static void addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_list *al = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *local = NULL, *address = NULL;

	if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa) ||
	    ifa->ifa_family != AF_INET || (int)ifa->ifa_index != al->ifindex)
		return;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_payload_len(a) != sizeof(struct in_addr))
			continue;
		if (mnl_attr_get_type(a) == IFA_LOCAL)
			local = a;
		else if (mnl_attr_get_type(a) == IFA_ADDRESS)
			address = a;
	}
	if (!local)
		local = address;
	if (!local)
		return;
	if (al->n < al->max) {
		struct in_addr in;

		memcpy(&in, mnl_attr_get_payload(local), sizeof(in));
		al->out[al->n].addr = ntohl(in.s_addr);
		al->out[al->n].prefix = ifa->ifa_prefixlen;
	}
	al->n++;
}

static void addr_reset(void *data)
{
	((struct addr_list *)data)->n = 0;
}

int netns_nl_addr_list(struct netns_nl *nl, int ifindex, struct netns_nl_addr *out, size_t max,
		       struct berr **err)
{
	char buf[NL_SEND_BUF], what[64];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_list al = { .ifindex = ifindex, .out = out, .max = max };
	int r;

	ifa->ifa_family = AF_INET;
	ifa->ifa_index = (uint32_t)ifindex;
	snprintf(what, sizeof(what), "list addresses of link %d", ifindex);
	r = nl_dump(nl, nlh, addr_cb, &al, addr_reset, err, what);
	return r < 0 ? r : (int)al.n;
}

/* ---- routes ---- */

int netns_nl_route_add_default(struct netns_nl *nl, uint32_t gw, int ifindex, struct berr **err)
{
	char buf[NL_SEND_BUF], ip[INET_ADDRSTRLEN];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct in_addr g = { .s_addr = htonl(gw) };

	inet_ntop(AF_INET, &g, ip, sizeof(ip));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_GATEWAY, sizeof(g), &g);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return nl_talk(nl, nlh, NULL, NULL, err, "add default route via %s dev %d", ip, ifindex);
}

struct default_route {
	bool found;
	uint32_t gw;
	int oif;
};

static void route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct default_route *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	uint32_t table, v, gw = 0;
	int oif = 0;

	if (nlh->nlmsg_type != RTM_NEWROUTE || mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm) ||
	    rtm->rtm_family != AF_INET || rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST)
		return;
	table = rtm->rtm_table;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_TABLE:
			if (attr_u32(a, &v))
				table = v;
			break;
		case RTA_GATEWAY:
			if (mnl_attr_get_payload_len(a) == sizeof(struct in_addr)) {
				struct in_addr in;

				memcpy(&in, mnl_attr_get_payload(a), sizeof(in));
				gw = ntohl(in.s_addr);
			}
			break;
		case RTA_OIF:
			if (attr_u32(a, &v))
				oif = (int)v;
			break;
		}
	}
	if (table != RT_TABLE_MAIN || d->found)
		return;
	d->found = true;
	d->gw = gw;
	d->oif = oif;
}

static void route_reset(void *data)
{
	((struct default_route *)data)->found = false;
}

int netns_nl_route_get_default(struct netns_nl *nl, uint32_t *gw, int *oif, struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct default_route d = { 0 };
	int r;

	rtm->rtm_family = AF_INET;
	r = nl_dump(nl, nlh, route_cb, &d, route_reset, err, "list routes");
	if (r < 0)
		return r;
	if (!d.found)
		return 0;
	if (gw)
		*gw = d.gw;
	if (oif)
		*oif = d.oif;
	return 1;
}

/* ---- bridge ---- */

static int bridge_create(struct netns_nl *nl, const char *name, unsigned mtu, struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	struct nlattr *li;
	unsigned char mac[6];

	/* A fixed address: a bridge without one takes its lowest port's MAC
	 * and changes it as ports come and go. Locally administered, unicast. */
	if (getrandom(mac, sizeof(mac), 0) != (ssize_t)sizeof(mac))
		return berr_set(err, errno ? errno : EIO, "netlink: create bridge %s: random MAC",
				name);
	mac[0] = (unsigned char)((mac[0] & 0xfe) | 0x02);
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	mnl_attr_nest_end(nlh, li);
	return nl_talk(nl, nlh, NULL, NULL, err, "create bridge %s", name);
}

int netns_nl_bridge_ensure(struct netns_nl *nl, const char *name, uint32_t addr, unsigned prefix,
			   unsigned mtu, struct berr **err)
{
	char buf[NL_SEND_BUF];
	struct netns_nl_link l;
	struct netns_nl_addr addrs[16];
	bool have_addr = false;
	struct berr *e = NULL;
	int r, n;

	if ((r = check_ifname(name, "ensure bridge", err)) < 0)
		return r;
	r = netns_nl_link_get(nl, name, &l, &e);
	if (r == -ENODEV) {
		berr_clear(&e);
		r = bridge_create(nl, name, mtu, &e);
		if (r < 0 && r != -EEXIST)   /* EEXIST: someone else just made it */
			goto fail;
		berr_clear(&e);
		r = netns_nl_link_get(nl, name, &l, &e);
	} else if (r == 0 && strcmp(l.kind, "bridge") == 0 && l.has_mac) {
		/* pin the MAC of a bridge made elsewhere (a no-op when it is set) */
		struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, l.ifindex, 0, 0);

		mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(l.mac), l.mac);
		r = nl_talk(nl, nlh, NULL, NULL, &e, "pin address of bridge %s", name);
	}
	if (r < 0)
		goto fail;
	if (strcmp(l.kind, "bridge") != 0) {
		berr_clear(&e);
		return berr_set(err, EEXIST,
				"netlink: ensure bridge %s: a link of that name exists and is %s%s%s, "
				"not a bridge", name, l.kind[0] ? "of kind \"" : "a device without kind",
				l.kind, l.kind[0] ? "\"" : "");
	}

	n = netns_nl_addr_list(nl, l.ifindex, addrs, sizeof(addrs) / sizeof(addrs[0]), &e);
	if (n < 0)
		goto fail_n;
	for (int i = 0; i < n && i < (int)(sizeof(addrs) / sizeof(addrs[0])); i++)
		if (addrs[i].addr == addr && addrs[i].prefix == prefix)
			have_addr = true;
	if (!have_addr && (r = netns_nl_addr_add(nl, l.ifindex, addr, prefix, &e)) < 0)
		goto fail;

	/* MTU, up, and the IPv4 devconf of the pvlan design in one request:
	 * proxy_arp_pvlan answers ARP between isolated ports with the bridge's
	 * MAC, so task-to-task traffic is routed (and filtered) by the host. */
	struct nlmsghdr *nlh = link_msg(buf, RTM_SETLINK, l.ifindex, IFF_UP, IFF_UP);
	struct nlattr *spec, *inet, *conf;

	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	inet = mnl_attr_nest_start(nlh, AF_INET);
	conf = mnl_attr_nest_start(nlh, IFLA_INET_CONF);
	mnl_attr_put_u32(nlh, IPV4_DEVCONF_PROXY_ARP_PVLAN, 1);
	mnl_attr_put_u32(nlh, IPV4_DEVCONF_SEND_REDIRECTS, 0);
	mnl_attr_nest_end(nlh, conf);
	mnl_attr_nest_end(nlh, inet);
	mnl_attr_nest_end(nlh, spec);
	r = nl_talk(nl, nlh, NULL, NULL, &e, "configure bridge %s (mtu, up, proxy_arp_pvlan)", name);
	if (r < 0)
		goto fail;

	/* Proxy ARP answers to broadcast requests are held back a random
	 * time up to proxy_delay (default 80 jiffies, ~0.8 s): every first
	 * contact between two tasks would wait for it (measured: 0.35-1.1 s
	 * for a first TCP connect, 3 ms with 0). */
	struct nlattr *parms;
	struct ndtmsg *ndtm;

	nlh = msg_start(buf, RTM_SETNEIGHTBL, 0);
	ndtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndtm));
	ndtm->ndtm_family = AF_INET;
	mnl_attr_put_strz(nlh, NDTA_NAME, "arp_cache");
	parms = mnl_attr_nest_start(nlh, NDTA_PARMS);
	mnl_attr_put_u32(nlh, NDTPA_IFINDEX, (uint32_t)l.ifindex);
	mnl_attr_put_u64(nlh, NDTPA_PROXY_DELAY, 0);
	mnl_attr_nest_end(nlh, parms);
	r = nl_talk(nl, nlh, NULL, NULL, &e, "configure bridge %s (arp proxy_delay 0)", name);
	if (r < 0)
		goto fail;
	return l.ifindex;

fail_n:
	r = n;
fail:
	if (err) {
		berr_free(*err);
		*err = e;
	} else {
		berr_free(e);
	}
	return r;
}

/* ---- veth ---- */

int netns_nl_veth_create(struct netns_nl *nl, const char *host_name, const char *peer_name,
			 int peer_netns_fd, unsigned mtu, int master_ifindex, bool isolated,
			 struct berr **err)
{
	char buf[NL_SEND_BUF], what[64];
	struct nlmsghdr *nlh = msg_start(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi)), *peer;
	struct nlattr *li, *data, *pn;
	struct netns_nl_link l;
	int r;

	snprintf(what, sizeof(what), "create veth %s/%s", host_name ? host_name : "",
		 peer_name ? peer_name : "");
	if ((r = check_ifname(host_name, what, err)) < 0 ||
	    (r = check_ifname(peer_name, what, err)) < 0)
		return r;

	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host_name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (master_ifindex > 0)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_ifindex);
	li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* VETH_INFO_PEER: an ifinfomsg, then the peer's own link attributes */
	pn = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	peer = (struct ifinfomsg *)mnl_nlmsg_get_payload_tail(nlh);
	memset(peer, 0, sizeof(*peer));
	peer->ifi_family = AF_UNSPEC;
	nlh->nlmsg_len += MNL_ALIGN(sizeof(*peer));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
	if (peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	mnl_attr_nest_end(nlh, pn);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	r = nl_talk(nl, nlh, NULL, NULL, err, "%s", what);
	if (r < 0)
		return r;

	/* Isolation before up, so the port never forwards to another task.
	 * A separate request: the kernel ignores IFLA_INFO_SLAVE_DATA when it
	 * creates a link (checked on 6.18: silently "isolated off"); slave data
	 * is applied by RTM_NEWLINK on an existing link. */
	nlh = msg_start(buf, RTM_NEWLINK, 0);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, host_name);
	if (master_ifindex > 0 && isolated)
		put_brport_isolated(nlh, true);
	r = nl_talk(nl, nlh, NULL, NULL, err, "%s: set host end %sup", what,
		    master_ifindex > 0 && isolated ? "isolated, " : "");
	if (r < 0)
		goto undo;
	/* The ifindex, and proof of the isolation: a port that silently is not
	 * isolated would let tasks talk past the host's filters. */
	r = netns_nl_link_get(nl, host_name, &l, err);
	if (r < 0)
		goto undo;
	if (master_ifindex > 0 && isolated && l.isolated != 1) {
		r = berr_set(err, EOPNOTSUPP, "netlink: %s: bridge port did not become isolated",
			     what);
		goto undo;
	}
	return l.ifindex;

undo:
	(void)netns_nl_link_del(nl, host_name, NULL);
	return r;
}
