/* runtime/container/caps.h - capability sets by name. */
#ifndef BERTH_RUNTIME_CONTAINER_CAPS_H
#define BERTH_RUNTIME_CONTAINER_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

/* Docker's default 14 (moby oci/caps/defaults.go): CHOWN, DAC_OVERRIDE,
 * FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP,
 * NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE. */
uint64_t ctr_caps_default(void);
/* Every capability this kernel knows (0..CAP_LAST_CAP as read from
 * /proc/sys/kernel/cap_last_cap, else the headers' CAP_LAST_CAP). */
uint64_t ctr_caps_all(void);
/* Highest capability number the running kernel knows. */
int ctr_cap_last(void);
/* "SYS_ADMIN" or "CAP_SYS_ADMIN" (any case) -> number; -1 when unknown. */
int ctr_cap_from_name(const char *name);
/* 12 -> "NET_ADMIN" (no CAP_ prefix); NULL when unknown. */
const char *ctr_cap_name(int cap);
/* default, + add, - drop; "ALL" in add gives every capability, in drop
 * removes every one (applied first, so drop ALL + add X keeps only X, as
 * Docker does). Unknown names are an error naming `what`. */
int ctr_caps_compute(const char *const *add, const char *const *drop, bool privileged,
		     const char *what, uint64_t *out, struct berr **err);

#endif
