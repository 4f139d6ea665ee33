/* runtime/container/caps.c - capability names and the container's set. */
#include "runtime/container/caps.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const cap_names[] = {
	[CAP_CHOWN] = "CHOWN",
	[CAP_DAC_OVERRIDE] = "DAC_OVERRIDE",
	[CAP_DAC_READ_SEARCH] = "DAC_READ_SEARCH",
	[CAP_FOWNER] = "FOWNER",
	[CAP_FSETID] = "FSETID",
	[CAP_KILL] = "KILL",
	[CAP_SETGID] = "SETGID",
	[CAP_SETUID] = "SETUID",
	[CAP_SETPCAP] = "SETPCAP",
	[CAP_LINUX_IMMUTABLE] = "LINUX_IMMUTABLE",
	[CAP_NET_BIND_SERVICE] = "NET_BIND_SERVICE",
	[CAP_NET_BROADCAST] = "NET_BROADCAST",
	[CAP_NET_ADMIN] = "NET_ADMIN",
	[CAP_NET_RAW] = "NET_RAW",
	[CAP_IPC_LOCK] = "IPC_LOCK",
	[CAP_IPC_OWNER] = "IPC_OWNER",
	[CAP_SYS_MODULE] = "SYS_MODULE",
	[CAP_SYS_RAWIO] = "SYS_RAWIO",
	[CAP_SYS_CHROOT] = "SYS_CHROOT",
	[CAP_SYS_PTRACE] = "SYS_PTRACE",
	[CAP_SYS_PACCT] = "SYS_PACCT",
	[CAP_SYS_ADMIN] = "SYS_ADMIN",
	[CAP_SYS_BOOT] = "SYS_BOOT",
	[CAP_SYS_NICE] = "SYS_NICE",
	[CAP_SYS_RESOURCE] = "SYS_RESOURCE",
	[CAP_SYS_TIME] = "SYS_TIME",
	[CAP_SYS_TTY_CONFIG] = "SYS_TTY_CONFIG",
	[CAP_MKNOD] = "MKNOD",
	[CAP_LEASE] = "LEASE",
	[CAP_AUDIT_WRITE] = "AUDIT_WRITE",
	[CAP_AUDIT_CONTROL] = "AUDIT_CONTROL",
	[CAP_SETFCAP] = "SETFCAP",
	[CAP_MAC_OVERRIDE] = "MAC_OVERRIDE",
	[CAP_MAC_ADMIN] = "MAC_ADMIN",
	[CAP_SYSLOG] = "SYSLOG",
	[CAP_WAKE_ALARM] = "WAKE_ALARM",
	[CAP_BLOCK_SUSPEND] = "BLOCK_SUSPEND",
	[CAP_AUDIT_READ] = "AUDIT_READ",
	[38] = "PERFMON",
	[39] = "BPF",
	[40] = "CHECKPOINT_RESTORE",
};

#define N_NAMES ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

#define BIT(c) (1ULL << (c))

uint64_t ctr_caps_default(void)
{
	return BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) |
	       BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) |
	       BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) |
	       BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

int ctr_cap_last(void)
{
	static int last = -1;
	char buf[16];
	ssize_t n;
	int fd;

	if (last >= 0)
		return last;
	last = N_NAMES - 1;
	fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			int v = atoi(buf);
			if (v > 0 && v < 64)
				last = v;
		}
	}
	return last;
}

uint64_t ctr_caps_all(void)
{
	int last = ctr_cap_last();

	return last >= 63 ? ~0ULL : (BIT(last + 1) - 1);
}

int ctr_cap_from_name(const char *name)
{
	if (!name)
		return -1;
	if (!strncasecmp(name, "CAP_", 4))
		name += 4;
	for (int i = 0; i < N_NAMES; i++)
		if (cap_names[i] && !strcasecmp(cap_names[i], name))
			return i;
	return -1;
}

const char *ctr_cap_name(int cap)
{
	if (cap < 0 || cap >= N_NAMES)
		return NULL;
	return cap_names[cap];
}

static int apply(const char *const *names, bool add, const char *what, const char *field,
		 uint64_t *set, struct berr **err)
{
	for (size_t i = 0; names && names[i]; i++) {
		int c;

		if (!strcasecmp(names[i], "ALL") || !strcasecmp(names[i], "CAP_ALL")) {
			*set = add ? ctr_caps_all() : 0;
			continue;
		}
		c = ctr_cap_from_name(names[i]);
		if (c < 0)
			return berr_set(err, EINVAL, "%s: linuxParameters.capabilities.%s[%zu]: unknown capability \"%s\"",
					what, field, i, names[i]);
		if (add)
			*set |= BIT(c);
		else
			*set &= ~BIT(c);
	}
	return 0;
}

static bool has_all(const char *const *names)
{
	for (size_t i = 0; names && names[i]; i++)
		if (!strcasecmp(names[i], "ALL") || !strcasecmp(names[i], "CAP_ALL"))
			return true;
	return false;
}

int ctr_caps_compute(const char *const *add, const char *const *drop, bool privileged,
		     const char *what, uint64_t *out, struct berr **err)
{
	uint64_t set = ctr_caps_default();
	int r;

	if (privileged) {
		*out = ctr_caps_all();
		return 0;
	}
	/* Docker: with "ALL" in drop, the drop happens first and adds are kept;
	 * otherwise adds first, then drops. */
	if (has_all(drop)) {
		set = 0;
		r = apply(add, true, what, "add", &set, err);
		if (r < 0)
			return r;
		/* still validate the other drop names */
		uint64_t scratch = 0;
		r = apply(drop, false, what, "drop", &scratch, err);
		if (r < 0)
			return r;
	} else {
		r = apply(add, true, what, "add", &set, err);
		if (r < 0)
			return r;
		r = apply(drop, false, what, "drop", &set, err);
		if (r < 0)
			return r;
	}
	*out = set & ctr_caps_all();
	return 0;
}
