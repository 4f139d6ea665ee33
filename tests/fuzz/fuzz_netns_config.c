/* libFuzzer harness: the network configuration (netns_config_parse), the
 * "network" object of berthd.json and of berth run --network-config. */
#include <stddef.h>
#include <stdint.h>

#include "netns/tasknet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = json_loadb((const char *)data, size, 0, NULL);
	struct netns_config c;
	struct berr *err = NULL;

	if (!v)
		return 0;
	netns_config_init(&c, "/fuzz");
	(void)netns_config_parse(v, "network", &c, &err);
	berr_free(err);
	netns_config_free(&c);
	json_decref(v);
	return 0;
}
