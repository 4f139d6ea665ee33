/* cgroups/convert.c - ECS task definition values -> cgroup v2 file values. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cgroup.h"

int cg_cpu_max_from_units(int64_t units, char *buf, size_t len, struct berr **err)
{
	uint64_t quota;
	int n;

	if (units < 0)
		return berr_set(err, EINVAL, "cpu units %" PRId64 " for cpu.max: must not be negative", units);
	if (units == 0) {
		n = snprintf(buf, len, "max %llu", CG_CPU_PERIOD_US);
	} else {
		/* units/1024 CPUs of every period; beyond this the product overflows
		 * and no machine has that many CPUs anyway */
		if ((uint64_t)units > UINT64_MAX / CG_CPU_PERIOD_US)
			return berr_set(err, EINVAL, "cpu units %" PRId64 " for cpu.max: too large", units);
		quota = (uint64_t)units * CG_CPU_PERIOD_US / 1024;
		if (quota < CG_CPU_MIN_QUOTA_US)
			quota = CG_CPU_MIN_QUOTA_US;
		n = snprintf(buf, len, "%" PRIu64 " %llu", quota, CG_CPU_PERIOD_US);
	}
	if (n < 0 || (size_t)n >= len)
		return berr_set(err, ENOBUFS, "cpu.max value for %" PRId64 " cpu units: buffer of %zu bytes too small",
				units, len);
	return 0;
}

uint64_t cg_cpu_shares_normalize(bool have, int64_t shares)
{
	/* ECS: 0, 1 or no value become the kernel's minimum of 2 */
	if (!have || shares < (int64_t)CG_SHARES_MIN)
		return CG_SHARES_MIN;
	if ((uint64_t)shares > CG_SHARES_MAX)
		return CG_SHARES_MAX;
	return (uint64_t)shares;
}

uint64_t cg_cpu_weight_from_shares(uint64_t shares)
{
	if (shares < CG_SHARES_MIN)
		shares = CG_SHARES_MIN;
	if (shares > CG_SHARES_MAX)
		shares = CG_SHARES_MAX;
	return 1 + ((shares - 2) * 9999) / 262142;
}

int cg_mib_to_bytes(int64_t mib, const char *what, uint64_t *out, struct berr **err)
{
	if (mib < 0)
		return berr_set(err, EINVAL, "%s %" PRId64 " MiB: must not be negative", what, mib);
	if ((uint64_t)mib > UINT64_MAX / (1024 * 1024) - 1)
		return berr_set(err, EINVAL, "%s %" PRId64 " MiB: too large", what, mib);
	*out = (uint64_t)mib * 1024 * 1024;
	return 0;
}

int cg_swap_max_bytes(int64_t max_swap_mib, int swappiness, uint64_t *out, struct berr **err)
{
	if (swappiness < -1 || swappiness > 100)
		return berr_set(err, EINVAL, "swappiness %d: must be between 0 and 100", swappiness);
	if (max_swap_mib < -1)
		return berr_set(err, EINVAL, "maxSwap %" PRId64 ": must not be negative", max_swap_mib);
	if (max_swap_mib == -1 || swappiness == 0) {
		*out = 0;
		return 0;
	}
	return cg_mib_to_bytes(max_swap_mib, "maxSwap", out, err);
}
