/* rootfs/pull_names.c - the names of pull policies, failures and phases
 * (pull.h). Apart from pull.c so that programs which only name them
 * (berthd's configuration, berth-shim's task set-up) do not link the
 * pull itself, and with it libcurl. */
#include "rootfs/pull.h"

#include <string.h>

int rootfs_pull_policy_parse(const char *s, enum rootfs_pull_policy *out)
{
	/* ECS agent's ECS_IMAGE_PULL_BEHAVIOR says "prefer-cached" and "once"
	 * for what podman calls "missing" and Kubernetes "IfNotPresent" */
	if (!strcmp(s, "always") || !strcmp(s, "Always"))
		*out = ROOTFS_PULL_ALWAYS;
	else if (!strcmp(s, "if-not-present") || !strcmp(s, "missing") || !strcmp(s, "IfNotPresent") ||
		 !strcmp(s, "prefer-cached") || !strcmp(s, "once"))
		*out = ROOTFS_PULL_IF_NOT_PRESENT;
	else if (!strcmp(s, "never") || !strcmp(s, "Never"))
		*out = ROOTFS_PULL_NEVER;
	else
		return -1;
	return 0;
}

const char *rootfs_pull_policy_name(enum rootfs_pull_policy p)
{
	return p == ROOTFS_PULL_NEVER ? "never" : p == ROOTFS_PULL_IF_NOT_PRESENT ? "if-not-present" : "always";
}

static const char *const failure_names[] = {
	[ROOTFS_PULL_OK] = "ok", [ROOTFS_PULL_FAIL_OTHER] = "error",
	[ROOTFS_PULL_FAIL_NOT_FOUND] = "not-found", [ROOTFS_PULL_FAIL_AUTH] = "auth",
	[ROOTFS_PULL_FAIL_UNREACHABLE] = "unreachable", [ROOTFS_PULL_FAIL_VERIFY] = "verify",
	[ROOTFS_PULL_FAIL_UNSUPPORTED] = "unsupported",
};

const char *rootfs_pull_failure_name(enum rootfs_pull_failure f)
{
	return (size_t)f < sizeof(failure_names) / sizeof(failure_names[0]) ? failure_names[f] : "error";
}

enum rootfs_pull_failure rootfs_pull_failure_parse(const char *s)
{
	for (size_t i = 0; s && i < sizeof(failure_names) / sizeof(failure_names[0]); i++)
		if (failure_names[i] && !strcmp(s, failure_names[i]))
			return (enum rootfs_pull_failure)i;
	return ROOTFS_PULL_FAIL_OTHER;
}

const char *rootfs_pull_phase_name(enum rootfs_pull_phase p)
{
	static const char *const names[] = {
		[ROOTFS_PULL_PHASE_RESOLVE] = "resolve", [ROOTFS_PULL_PHASE_EXISTS] = "exists",
		[ROOTFS_PULL_PHASE_WAIT] = "wait", [ROOTFS_PULL_PHASE_DOWNLOAD] = "download",
		[ROOTFS_PULL_PHASE_RETRY] = "retry", [ROOTFS_PULL_PHASE_DOWNLOADED] = "downloaded",
		[ROOTFS_PULL_PHASE_UNPACK] = "unpack", [ROOTFS_PULL_PHASE_LAYER_DONE] = "done",
	};

	return (size_t)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}
