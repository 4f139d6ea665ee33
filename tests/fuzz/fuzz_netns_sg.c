/* fuzz_netns_sg: netns_sg_config_parse on whatever JSON parses, and
 * netns_nft_render on what it accepts.
 * Invariants: no crash or leak; an error names the path it was given and
 * leaves the config empty; an accepted config holds what sg.h promises
 * (valid names, sorted and unique, a "default" group, ports only for tcp and
 * udp with from <= to, a source group that exists), and its rendering has a
 * set and a chain per group and ends the table. */
#include "common/error.h"
#include "common/xalloc.h"
#include "netns/nft.h"
#include "netns/sg.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PATH "securityGroups"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void check_config(const struct netns_sg_config *c)
{
	check(c->n_groups >= 1 && netns_sg_find(c, "default") != NULL);
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct netns_sg *g = &c->groups[i];

		check(netns_sg_name_valid(g->name));
		check(i == 0 || strcmp(c->groups[i - 1].name, g->name) < 0);
		check(g->n_rules <= NETNS_SG_MAX_RULES);
		for (size_t k = 0; k < g->n_rules; k++) {
			const struct netns_sg_rule *r = &g->rules[k];

			if (r->proto == NETNS_SG_TCP || r->proto == NETNS_SG_UDP)
				check(r->from_port >= 1 && r->from_port <= r->to_port);
			else
				check(r->from_port == 0 && r->to_port == 0);
			check(r->has_cidr == (r->source_group == NULL));
			if (r->has_cidr)
				check(r->cidr.prefix <= 32 &&
				      (r->cidr.net & ~netns_cidr_mask(r->cidr.prefix)) == 0);
			else
				check(netns_sg_find(c, r->source_group) != NULL);
		}
	}
}

static void check_render(const struct netns_sg_config *c)
{
	struct netns_nft_conf conf = { .table = "berth", .bridge = "berth0", .groups = c };
	char *text;
	size_t len;

	conf.subnet.net = 0x0a580000;
	conf.subnet.prefix = 16;
	text = netns_nft_render(&conf);
	len = strlen(text);
	check(strncmp(text, "table inet berth {\n", 19) == 0);
	check(len >= 2 && strcmp(text + len - 2, "}\n") == 0);
	for (size_t i = 0; i < c->n_groups; i++) {
		char *set = xasprintf("\tset m_%s {\n", c->groups[i].name);
		char *chain = xasprintf("\tchain sg_%s {\n", c->groups[i].name);

		check(strstr(text, set) != NULL && strstr(text, chain) != NULL);
		free(set);
		free(chain);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netns_sg_config c = { (struct netns_sg *)1, 1 };
	struct berr *err = NULL;
	json_error_t jerr;
	json_t *v;
	int r;

	v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v)
		return 0;
	r = netns_sg_config_parse(v, PATH, &c, &err);
	json_decref(v);
	if (r < 0) {
		check(err != NULL && strncmp(berr_msg(err), PATH, strlen(PATH)) == 0);
		check(c.groups == NULL && c.n_groups == 0);
		berr_clear(&err);
		return 0;
	}
	check(err == NULL);
	check_config(&c);
	check_render(&c);
	netns_sg_config_free(&c);
	return 0;
}
