/* fuzz_endpoint: the task endpoint's request parser and router
 * (runtime/creds/endpoint.c).
 *
 * Input: the bytes a client sends. Invariants: no crash or leak; the parser
 * gives the same verdict for the whole input as when fed every prefix in
 * turn up to its first complete or refused state (an incremental reader
 * sees the same request); a complete request's method and path lie inside
 * the input and its head length is at most the input's; every parsed
 * request gets a whole HTTP/1.1 response with a status line matching the
 * status returned and a Content-Length equal to the body's length; the
 * Authorization value, when there is one, lies inside the head. */
#include "common/xalloc.h"
#include "runtime/creds/endpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static json_t *creds(void *ctx, char **message)
{
	(void)ctx;
	(void)message;
	return json_pack("{s:s}", "AccessKeyId", "ASIAAAAAAAAAAAAAAAAA");
}

static json_t *meta(void *ctx, enum creds_ep_route route, const char *container, char **message)
{
	(void)ctx;
	if (route == CREDS_EP_CONTAINER_STATS) {
		*message = xstrdup("no stats");
		return NULL;
	}
	return json_pack("{s:s}", "Name", container ? container : "task");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ids[] = { "1b2c3d4e-0000-4000-8000-000000000001" };
	static const char *const names[] = { "web" };
	static const struct creds_ep_ops ops = { creds, meta, NULL };
	const struct creds_ep_config cfg = {
		.creds_id = "7d3a4b9e-1c2f-4a5b-8c6d-0e1f2a3b4c5d", .container_ids = ids, .container_names = names,
		.n_containers = 1, .rate = 1e9, .burst = 1e9,
		/* every other input is a host-mode endpoint: the token check too */
		.auth_token = size % 2 ? "t0k" : NULL,
	};
	const char *buf = (const char *)data;
	struct creds_ep_req req, preq;
	struct creds_ep *ep = NULL;
	int status = 0, pstatus = 0, r, pr = 0;
	size_t k;

	if (size > CREDS_EP_REQUEST_MAX + 64)
		return 0;
	r = creds_ep_parse(buf, size, &req, &status);
	/* the first prefix at which the parser decides */
	for (k = 0; k <= size; k++) {
		pr = creds_ep_parse(buf, k, &preq, &pstatus);
		if (pr != 0)
			break;
	}
	if (r == 0)
		check(pr == 0);
	if (pr == 1) {
		/* complete at k bytes: the same request with the whole input */
		check(r == 1 && req.head_len == preq.head_len && req.path_len == preq.path_len);
	}
	if (r != 1)
		return 0;
	check(req.head_len <= size);
	check(req.method >= buf && req.method + req.method_len <= buf + size);
	check(req.path >= buf && req.path + req.path_len <= buf + size);
	check(!req.auth || (req.auth >= buf && req.auth + req.auth_len <= buf + req.head_len));
	check(creds_ep_new(-1, &cfg, &ops, NULL, &ep, NULL) == 0);
	{
		size_t len = 0;
		char *out = creds_ep_respond(ep, &req, 1.0, &len, &status);
		char line[32];
		const char *body = strstr(out, "\r\n\r\n");
		const char *cl = strstr(out, "Content-Length: ");
		bool head = req.method_len == 4;

		snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
		check(len == strlen(out) && !strncmp(out, line, strlen(line)));
		check(body && cl && cl < body);
		check(head || strtoul(cl + 16, NULL, 10) == strlen(body + 4));
		free(out);
	}
	creds_ep_free(ep);
	return 0;
}
