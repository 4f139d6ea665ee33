/* fuzz_task: runtime/task task_def_parse on arbitrary bytes.
 *
 * The first byte picks the mode (bit 0: FARGATE or EC2) and whether the rest
 * is a task definition, or (bit 1) a task definition and RunTask overrides
 * split at the first NUL.
 * Invariants: no crash or leak; an error names the document and leaves
 * *out NULL; what is accepted holds what task.h promises (unique container
 * names, an essential container, references that resolve, Fargate's pairs
 * and refusals), and every warning names a path. */
#include "common/error.h"
#include "runtime/task/task.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WHAT "fuzz task"
#define OVR "fuzz ovr"

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int find(const struct task_def *td, const char *name)
{
	for (size_t i = 0; i < td->n_containers; i++)
		if (strcmp(td->containers[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void check_def(const struct task_def *td, enum task_mode mode)
{
	bool essential = false;
	int64_t cpu = 0;

	check(td->family && *td->family && strlen(td->family) <= 255);
	check(td->n_containers >= 1 && td->n_containers <= 10);
	check(td->warnings && td->warnings[td->n_warnings] == NULL);
	for (size_t w = 0; w < td->n_warnings; w++)
		check(strstr(td->warnings[w], ": unknown field, ignored") != NULL);
	for (size_t i = 0; i < td->n_containers; i++) {
		const struct task_container *c = &td->containers[i];

		check(find(td, c->name) == (int)i);
		check(c->image && *c->image);
		essential |= c->essential;
		cpu += c->cpu;
		check(td->memory == TASK_UNSET || c->memory <= td->memory);
		check(c->memory == TASK_UNSET || c->memory_reservation <= c->memory);
		check(td->memory != TASK_UNSET || c->memory != TASK_UNSET ||
		      c->memory_reservation != TASK_UNSET);
		for (size_t d = 0; d < c->n_depends_on; d++)
			check(find(td, c->depends_on[d].container_name) >= 0);
		for (size_t p = 0; p < c->n_port_mappings; p++) {
			const struct task_port_mapping *pm = &c->port_mappings[p];

			check(pm->container_port >= 1 && pm->container_port <= 65535);
			if (td->network_mode == TASK_NET_AWSVPC || td->network_mode == TASK_NET_HOST)
				check(pm->host_port == 0 || pm->host_port == pm->container_port);
		}
		if (c->health_check.set)
			check(c->health_check.command && c->health_check.command[1] &&
			      c->health_check.interval >= 5 && c->health_check.interval <= 300 &&
			      c->health_check.retries >= 1 && c->health_check.retries <= 10);
		if (mode == TASK_MODE_FARGATE)
			check(!c->privileged && c->linux_parameters.n_devices == 0);
	}
	check(essential);
	check(td->cpu == TASK_UNSET || cpu <= td->cpu);
	if (mode == TASK_MODE_FARGATE) {
		check(td->network_mode == TASK_NET_AWSVPC);
		check(td->cpu > 0 && td->memory > 0);
		check(td->pid_mode != TASK_NS_HOST && td->ipc_mode == TASK_NS_UNSET);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data + 1, *nul;
	struct task_def *td = (struct task_def *)1;
	struct berr *err = NULL;
	enum task_mode mode;
	int r;

	if (size == 0)
		return 0;
	mode = data[0] & 1 ? TASK_MODE_EC2 : TASK_MODE_FARGATE;
	nul = memchr(buf, '\0', size - 1);
	if ((data[0] & 2) && nul) {
		size_t n = (size_t)(nul - buf);

		r = task_def_parse_with_overrides(buf, n, WHAT, nul + 1, size - 2 - n, OVR, mode,
						  &td, &err);
	} else {
		r = task_def_parse(buf, size - 1, WHAT, mode, &td, &err);
	}
	if (r < 0) {
		const char *m = berr_msg(err);

		check(err != NULL && td == NULL);
		check(has_prefix(m, WHAT ": ") || has_prefix(m, "parse " WHAT ": ") ||
		      has_prefix(m, OVR ": ") || has_prefix(m, "parse " OVR ": ") ||
		      has_prefix(m, WHAT " with " OVR ": "));
		berr_clear(&err);
		return 0;
	}
	check(err == NULL && td != NULL);
	check_def(td, mode);
	task_def_free(td);
	return 0;
}
