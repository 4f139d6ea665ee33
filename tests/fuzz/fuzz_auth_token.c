/* fuzz_auth_token: the token endpoint's answer (rootfs_auth_parse_token).
 *
 * Invariants: no crash or leak; an error names the "token response" and
 * returns no token; an accepted token is non-empty, printable ASCII without
 * spaces (it goes into an Authorization header as it is) and is one of the
 * document's "token" / "access_token" strings; expires_in is positive. */
#include "common/error.h"
#include "common/json.h"
#include "rootfs/registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tok = (char *)"x";
	int64_t exp = 0;
	struct berr *err = NULL;
	json_t *v;
	const char *t, *at;

	if (rootfs_auth_parse_token((const char *)data, size, &tok, &exp, &err) < 0) {
		check(err != NULL && (!strncmp(berr_msg(err), "token response", 14) ||
				      !strncmp(berr_msg(err), "parse token response", 20)));
		check(tok == NULL);
		berr_free(err);
		return 0;
	}
	check(err == NULL && tok != NULL && *tok != '\0' && exp > 0);
	for (const char *c = tok; *c; c++)
		check((unsigned char)*c > ' ' && (unsigned char)*c < 0x7f);
	/* the same bytes through jansson: the token is one of the two fields */
	v = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	check(v != NULL && json_is_object(v));
	t = json_string_value(json_object_get(v, "token"));
	at = json_string_value(json_object_get(v, "access_token"));
	check((t && !strcmp(t, tok)) || (at && !strcmp(at, tok)));
	if (t && *t)
		check(!strcmp(t, tok));   /* "token" wins when both are there */
	json_decref(v);
	free(tok);
	return 0;
}
