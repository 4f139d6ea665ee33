# After destroy nothing of a task's ephemeral volume remains: no mount, no
# loop device (sysfs backing_file, losetup -a), no file, no quota limit.
# Destroy says so when an overlay still holds the volume, and remove
# finishes the job once it is gone; removing what is already gone (or half
# gone) is fine. Both mechanisms, and loop devices bound the pre-5.8 way.
# timeout: 180
T=berth-ephemeral-tool

leftovers() {
	grep -F " $1/" /proc/self/mountinfo | awk '{ print "mount " $5 }'
	for f in /sys/block/loop*/loop/backing_file; do
		[ -f "$f" ] && case $(cat "$f") in "$1"/*) echo "loop $f: $(cat "$f")" ;; esac
	done
	losetup -a | grep -F "$1/" | sed 's/^/losetup: /'
	find "$1" -mindepth 1 ! -name .lock | sed 's/^/file /'
}

xfs_base() {
	truncate -s 4G "$BERTH_SCRATCH/xfs.img" || die "truncate xfs.img"
	mkfs.xfs -q -f "$BERTH_SCRATCH/xfs.img" || die "mkfs.xfs"
	mkdir -p "$BERTH_SCRATCH/xfs"
	mount -o loop,prjquota "$BERTH_SCRATCH/xfs.img" "$BERTH_SCRATCH/xfs" || die "mount xfs prjquota"
	on_exit "umount '$BERTH_SCRATCH/xfs'"
}

quota_left() {
	xfs_quota -x -c 'report -p -n -N' "$BERTH_SCRATCH/xfs" | awk '$1 != "#0" && NF > 0'
}

mkdir -p "$BERTH_SCRATCH/lower"
echo lower > "$BERTH_SCRATCH/lower/f"

run_mech() {
	mech=$1 base=$2
	opts="--base $base --mech $mech --min-mib 16 --max-mib 1024"
	say "--- $mech"
	on_exit "$T $opts cleanup"
	for t in t1 t2 t3; do
		v=$($T $opts create $t 32) || die "create $t: $v"
		p=$(json_field "$v" path)
		# what a task leaves: files, a copied-up overlay, a work dir
		mkdir -p "$p/upper" "$p/work" "$p/vol/data" "$BERTH_SCRATCH/m-$t"
		for i in 1 2 3 4 5; do echo "$t $i" > "$p/vol/data/f$i"; done
		mount -t overlay overlay -o "lowerdir=$BERTH_SCRATCH/lower,upperdir=$p/upper,workdir=$p/work" "$BERTH_SCRATCH/m-$t" || die "overlay $t"
		echo changed > "$BERTH_SCRATCH/m-$t/f"
		[ -f "$p/upper/f" ] || die "no copy-up into $p/upper"
	done
	[ -n "$(leftovers "$base")" ] || die "leftovers() sees nothing of live volumes"

	# t1: the normal way, overlay first
	umount "$BERTH_SCRATCH/m-t1" || die "umount m-t1"
	r=$($T $opts destroy t1) || die "destroy t1: $r"

	# t2: destroy while the overlay still uses it: an error that says why,
	# and remove finishes once the overlay is gone
	if r=$($T $opts destroy t2); then
		[ "$mech" = prjquota ] || die "destroy t2 with an overlay on it succeeded: $r"
		# prjquota: the files go under the overlay (rm works through); fine
	else
		say "destroy t2 under an overlay: $r"
		echo "$r" | grep -q -e "still holds" -e "busy" || die "unhelpful error: $r"
	fi
	umount "$BERTH_SCRATCH/m-t2" || die "umount m-t2"
	r=$($T $opts remove t2) || die "remove t2: $r"

	# t3: half gone already (unmounted behind berth's back), then removed twice
	umount "$BERTH_SCRATCH/m-t3" || die "umount m-t3"
	[ "$mech" = loop ] && { umount "$base/t3/fs" || die "umount t3 volume"; }
	r=$($T $opts remove t3) || die "remove half-gone t3: $r"
	r=$($T $opts remove t3) || die "remove t3 again: $r"
	if r=$($T $opts destroy t3); then die "destroy of a gone volume succeeded: $r"; fi

	left=$(leftovers "$base")
	[ -z "$left" ] || die "left after destroy: $left"
	[ -z "$(losetup -a | grep -F "$base")" ] || die "losetup -a still lists $base"
}

run_mech loop "$BERTH_SCRATCH/loop-base"
say "loop devices now: $(losetup -a | wc -l) bound"

# the pre-5.8 way of binding (LOOP_SET_FD + LOOP_SET_STATUS64): still
# autoclear, so unmounting frees the device
L="--base $BERTH_SCRATCH/legacy-base --min-mib 16 --max-mib 1024 --loop-legacy"
on_exit "$T $L cleanup"
v=$($T $L create old 32) || die "legacy create: $v"
dev=$(json_field "$v" device)
[ "$(cat "/sys/block/${dev#/dev/}/loop/autoclear")" = 1 ] || die "legacy binding without autoclear: $v"
f=$($T fill "$(json_field "$v" path)" 4)
[ -z "$(json_field "$f" errno)" ] || die "legacy volume not writable: $f"
$T $L destroy old >/dev/null || die "legacy destroy"
left=$(leftovers "$BERTH_SCRATCH/legacy-base")
[ -z "$left" ] || die "left after legacy destroy: $left"
xfs_base
run_mech prjquota "$BERTH_SCRATCH/xfs/vols"
q=$(quota_left)
[ -z "$q" ] || die "project quotas left: $q"
