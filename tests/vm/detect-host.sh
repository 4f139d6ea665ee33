#!/bin/sh
# Prints "direct" when privileged tests can run on this host itself (root, the
# unified cgroup v2 hierarchy with cpu, memory and pids), "vm" otherwise, and
# the reason on stderr.
cg=/sys/fs/cgroup
if [ "$(id -u)" != 0 ]; then echo "not root" >&2; echo vm; exit 0; fi
if [ "$(stat -f -c %t $cg 2>/dev/null)" != 63677270 ]; then   # CGROUP2_SUPER_MAGIC
	echo "$cg is not a cgroup2 mount (hybrid or v1 layout)" >&2; echo vm; exit 0
fi
for c in cpu memory pids; do
	grep -qw "$c" $cg/cgroup.controllers 2>/dev/null || { echo "cgroup v2 controller $c missing" >&2; echo vm; exit 0; }
done
echo "root on cgroup v2 with cpu, memory, pids" >&2
echo direct
