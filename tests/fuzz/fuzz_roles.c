/* fuzz_roles: berthd.json's "roles" (runtime/creds/roles.c).
 *
 * Input: a JSON document; its "roles" and "roleCredentialsFile" members go
 * through creds_roles_parse (a top-level array is taken as "roles").
 * Invariants: no crash or leak; a refusal leaves the result empty and has a
 * message; an accepted set finds each of its roles by ARN, each ARN passes
 * creds_role_arn_valid, ARNs are unique, and evaluation of a fixed request
 * on each role gives a decision (static roles: an implicit deny). */
#include "common/error.h"
#include "runtime/creds/roles.h"

#include <jansson.h>
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
	json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	const json_t *roles, *file = NULL;
	struct creds_roles r;
	struct berr *err = NULL;

	if (!doc)
		return 0;
	roles = doc;
	if (json_is_object(doc)) {
		roles = json_object_get(doc, "roles");
		file = json_object_get(doc, "roleCredentialsFile");
	}
	if (creds_roles_parse(roles, file, &r, &err) < 0) {
		check(r.n == 0 && r.v == NULL && err && berr_msg(err)[0]);
	} else {
		for (size_t i = 0; i < r.n; i++) {
			enum creds_decision d;

			check(creds_roles_find(&r, r.v[i].arn) == &r.v[i]);
			check(creds_role_arn_valid(r.v[i].arn, NULL));
			d = creds_role_authorize(&r.v[i], "ecs:RunTask", "arn:aws:ecs:us-east-1:000000000000:cluster/x",
						 NULL);
			check(r.v[i].source == CREDS_SOURCE_BERTH || d == CREDS_DENY_IMPLICIT);
		}
		creds_roles_free(&r);
	}
	berr_free(err);
	json_decref(doc);
	return 0;
}
