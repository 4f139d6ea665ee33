# Used/reserved bytes (EphemeralStorageMetrics) agree with what was
# written, go down when it is deleted, and survive a re-open from another
# process (the reserved size is recovered from the volume). Both mechanisms.
# timeout: 120
T=berth-ephemeral-tool
MIB=1048576

xfs_base() {
	truncate -s 4G "$BERTH_SCRATCH/xfs.img" || die "truncate xfs.img"
	mkfs.xfs -q -f "$BERTH_SCRATCH/xfs.img" || die "mkfs.xfs"
	mkdir -p "$BERTH_SCRATCH/xfs"
	mount -o loop,prjquota "$BERTH_SCRATCH/xfs.img" "$BERTH_SCRATCH/xfs" || die "mount xfs prjquota"
	on_exit "umount '$BERTH_SCRATCH/xfs'"
}

within() {   # within VALUE LOW HIGH
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

run_mech() {
	mech=$1 base=$2
	opts="--base $base --mech $mech --min-mib 16 --max-mib 4096"
	say "--- $mech"
	on_exit "$T $opts cleanup"
	v=$($T $opts create u1 200) || die "create: $v"
	p=$(json_field "$v" path)
	u0=$($T $opts usage u1) || die "usage: $u0"
	used0=$(json_field "$u0" used)
	[ "$(json_field "$u0" reserved)" = $((200 * MIB)) ] || die "reserved is not 200 MiB: $u0"
	within "$used0" 0 $((MIB)) || die "a new volume uses $used0 bytes"

	f=$($T fill "$p" 48) || die "fill: $f"
	[ "$(json_field "$f" written)" = $((48 * MIB)) ] || die "short write: $f"
	u1=$($T $opts usage u1) || die "usage: $u1"
	used1=$(json_field "$u1" used)
	say "empty: $u0; after 48 MiB: $u1"
	within $((used1 - used0)) $((48 * MIB)) $((49 * MIB)) || die "48 MiB written, usage grew by $((used1 - used0))"

	# many small files: usage counts their blocks
	mkdir "$p/small"
	for i in $(seq 1 200); do echo "$i" > "$p/small/$i"; done
	sync
	u2=$(json_field "$($T $opts usage u1)" used)
	within $((u2 - used1)) $((200 * 4096)) $((200 * 4096 + 2 * MIB)) || die "200 small files: usage grew by $((u2 - used1))"

	rm -rf "$p/fill.bin" "$p/small"
	sync
	u3=$(json_field "$($T $opts usage u1)" used)
	say "after deleting: used $u3"
	within "$u3" 0 $((used0 + MIB)) || die "usage did not go down after deleting: $u3 (empty: $used0)"

	# another process re-opens it: same size, same answer
	o=$($T $opts open u1) || die "open: $o"
	[ "$(json_field "$o" size)" = $((200 * MIB)) ] || die "re-opened size differs: $o"
	[ "$(json_field "$o" path)" = "$p" ] || die "re-opened path differs: $o"
	$T $opts destroy u1 >/dev/null || die "destroy"
	if u=$($T $opts usage u1); then die "usage of a destroyed volume: $u"; fi
}

run_mech loop "$BERTH_SCRATCH/loop-base"
xfs_base
run_mech prjquota "$BERTH_SCRATCH/xfs/vols"
