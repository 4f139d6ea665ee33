# cgroup v2 is mounted, unified, and cpu/memory/pids can be enabled for a test cgroup.
# timeout: 60
magic=$(stat -f -c %t "$BERTH_CGROUP")   # CGROUP2_SUPER_MAGIC is 0x63677270
say "$BERTH_CGROUP has fs magic 0x$magic; root controllers: $(cat "$BERTH_CGROUP/cgroup.controllers")"
[ "$magic" = 63677270 ] || die "$BERTH_CGROUP is not a cgroup2 mount (magic 0x$magic)"
for c in cpu memory pids; do
	grep -qw "$c" "$BERTH_CGROUP/cgroup.controllers" || die "controller $c missing at the root"
done
cg=$(cg_make t)
say "$cg controllers: $(cat "$cg/cgroup.controllers")"
for c in cpu memory pids; do
	grep -qw "$c" "$cg/cgroup.controllers" || die "controller $c not enabled for $cg"
done
for f in cpu.max memory.max memory.swap.max memory.events pids.max cgroup.kill; do
	[ -e "$cg/$f" ] || die "$cg/$f missing"
done
