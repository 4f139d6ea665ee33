/* fuzz_netns_state: the parsers behind netns state and configuration.
 *
 * The input is split on NUL bytes: part 0 goes to netns_cidr_parse, part 1
 * to netns_ip_parse, part 2 to netns_ports_parse_range, part 3 (raw bytes)
 * to resv_parse_owner (a reservation file's content). A missing part is
 * the whole input, so every parser sees every seed.
 * Invariants: whatever a parser accepts is canonical (formatting it gives
 * the input back: no leading zeros, no second spelling of one address, so
 * one address has one reservation file name); a prefix has no host bits;
 * a range has 1 <= lo <= hi; an owner is a valid task id and exactly the
 * content minus its "\n". */
#include "common/error.h"
#include "common/xalloc.h"
#include "netns/cidr.h"
#include "netns/ports.h"
#include "netns/resv.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cidr(const char *s)
{
	struct berr *err = NULL;
	struct netns_cidr c, again;
	char buf[NETNS_CIDR_STRLEN];

	if (netns_cidr_parse(s, "fuzz", &c, &err) < 0) {
		if (!err || err->code == 0)
			abort();
		berr_free(err);
		return;
	}
	if (c.prefix > 32 || (c.net & ~netns_cidr_mask(c.prefix)))
		abort();
	netns_cidr_str(&c, buf);
	if (strchr(s, '/') ? strcmp(buf, s) != 0
			   : (strncmp(buf, s, strlen(s)) != 0 || strcmp(buf + strlen(s), "/32") != 0))
		abort();   /* accepted a second spelling */
	if (netns_cidr_parse(buf, "fuzz", &again, NULL) < 0 || again.net != c.net ||
	    again.prefix != c.prefix)
		abort();
	if (!netns_cidr_contains(&c, c.net) || !netns_cidr_contains(&c, netns_cidr_broadcast(&c)) ||
	    !netns_cidr_overlaps(&c, &c))
		abort();
}

static void check_ip(const char *s)
{
	struct berr *err = NULL;
	char buf[NETNS_IP_STRLEN];
	uint32_t ip;

	if (netns_ip_parse(s, "fuzz", &ip, &err) < 0) {
		if (!err || err->code == 0)
			abort();
		berr_free(err);
		return;
	}
	if (strcmp(netns_ip_str(ip, buf), s) != 0)
		abort();
}

static void check_range(const char *s)
{
	struct berr *err = NULL;
	struct netns_port_range r, again;
	char buf[32];

	if (netns_ports_parse_range(s, &r, &err) < 0) {
		if (!err || err->code == 0)
			abort();
		berr_free(err);
		return;
	}
	if (r.lo == 0 || r.lo > r.hi)
		abort();
	snprintf(buf, sizeof(buf), "%u\t%u\n", r.lo, r.hi);
	if (netns_ports_parse_range(buf, &again, NULL) < 0 || again.lo != r.lo || again.hi != r.hi)
		abort();
}

static void check_owner(const uint8_t *p, size_t len)
{
	char owner[RESV_OWNER_MAX + 1];

	memset(owner, 'X', sizeof(owner));
	if (netns_resv_parse_owner((const char *)p, len, owner) < 0) {
		if (strcmp(owner, RESV_OWNER_UNKNOWN) != 0)
			abort();
		return;
	}
	if (!netns_resv_owner_ok(owner) || strlen(owner) + 1 != len || memcmp(owner, p, len - 1) != 0 ||
	    p[len - 1] != '\n')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part[4];
	size_t len[4], n = 0, start = 0;

	for (size_t i = 0; i <= size && n < 4; i++) {
		if (i == size || data[i] == '\0') {
			part[n] = data + start;
			len[n] = i - start;
			n++;
			start = i + 1;
		}
	}
	for (; n < 4; n++) {
		part[n] = data;
		len[n] = size;
	}
	/* the string parsers get NUL-terminated copies (a part has no NUL, the
	 * whole-input fallback may: xstrndup stops there) */
	{
		char *s = xstrndup((const char *)part[0], len[0]);

		check_cidr(s);
		free(s);
		s = xstrndup((const char *)part[1], len[1]);
		check_ip(s);
		free(s);
		s = xstrndup((const char *)part[2], len[2]);
		check_range(s);
		free(s);
	}
	check_owner(part[3], len[3]);
	return 0;
}
