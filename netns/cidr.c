/* netns/cidr.c - IPv4 prefix parsing and arithmetic. */
#include "netns/cidr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

uint32_t netns_cidr_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

uint32_t netns_cidr_broadcast(const struct netns_cidr *c)
{
	return c->net | ~netns_cidr_mask(c->prefix);
}

bool netns_cidr_contains(const struct netns_cidr *c, uint32_t ip)
{
	return (ip & netns_cidr_mask(c->prefix)) == c->net;
}

bool netns_cidr_overlaps(const struct netns_cidr *a, const struct netns_cidr *b)
{
	unsigned p = a->prefix < b->prefix ? a->prefix : b->prefix;

	return (a->net & netns_cidr_mask(p)) == (b->net & netns_cidr_mask(p));
}

/* Strict dotted quad: four decimal parts 0..255, no leading '+', no
 * leading zeros beyond "0" (inet_aton would read "010" as octal). */
static int parse_quad(const char *s, size_t len, uint32_t *out)
{
	uint32_t ip = 0;
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (digits == 1 && v == 0)
				return -1;
			v = v * 10 + (unsigned)(s[i] - '0');
			if (v > 255)
				return -1;
			digits++;
			i++;
		}
		if (digits == 0)
			return -1;
		ip = ip << 8 | v;
	}
	if (i != len)
		return -1;
	*out = ip;
	return 0;
}

int netns_ip_parse(const char *s, const char *what, uint32_t *out, struct berr **err)
{
	if (!s || parse_quad(s, strlen(s), out) < 0)
		return berr_set(err, EINVAL, "%s: \"%s\" is not an IPv4 address (want a.b.c.d)",
				what, berr_q(s ? s : ""));
	return 0;
}

int netns_cidr_parse(const char *s, const char *what, struct netns_cidr *out, struct berr **err)
{
	const char *slash;
	uint32_t ip;
	unsigned prefix = 32;

	if (!s)
		s = "";
	slash = strchr(s, '/');
	if (parse_quad(s, slash ? (size_t)(slash - s) : strlen(s), &ip) < 0)
		return berr_set(err, EINVAL, "%s: \"%s\" is not an IPv4 prefix (want a.b.c.d/len)",
				what, berr_q(s));
	if (slash) {
		const char *p = slash + 1;

		prefix = 0;
		if (!*p || (p[0] == '0' && p[1]) || strlen(p) > 2)
			goto bad_len;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				goto bad_len;
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > 32)
			goto bad_len;
	}
	if (ip & ~netns_cidr_mask(prefix)) {
		char buf[NETNS_CIDR_STRLEN];
		struct netns_cidr fix = { ip & netns_cidr_mask(prefix), prefix };

		return berr_set(err, EINVAL, "%s: \"%s\" has host bits set (did you mean %s?)",
				what, berr_q(s), netns_cidr_str(&fix, buf));
	}
	out->net = ip;
	out->prefix = prefix;
	return 0;
bad_len:
	return berr_set(err, EINVAL, "%s: \"%s\" has a bad prefix length (want 0 to 32)", what, berr_q(s));
}

char *netns_ip_str(uint32_t ip, char *buf)
{
	snprintf(buf, NETNS_IP_STRLEN, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return buf;
}

char *netns_cidr_str(const struct netns_cidr *c, char *buf)
{
	char ip[NETNS_IP_STRLEN];

	snprintf(buf, NETNS_CIDR_STRLEN, "%s/%u", netns_ip_str(c->net, ip), c->prefix);
	return buf;
}
