# Stale cleanup after a crash: the tool is SIGKILLed after each step of
# create (--fault-step N --fault-crash); what it leaves (an entry, an image,
# a bound loop device, a mount, a quota limit, an overlay over the volume, a
# mount inside it) is found by `stale` and removed by `cleanup`, while a
# live task's volume is left alone and keeps working. Both mechanisms.
# timeout: 240
T=berth-ephemeral-tool

_leftovers() {
	grep -F " $1/" /proc/self/mountinfo | awk '{ print "mount " $5 }'
	for f in /sys/block/loop*/loop/backing_file; do
		[ -f "$f" ] && case $(cat "$f") in "$1"/*) echo "loop $f: $(cat "$f")" ;; esac
	done
	losetup -a | grep -F "$1/" | sed 's/^/losetup: /'
	find "$1" -mindepth 1 ! -name .lock | sed 's/^/file /'
}
# ... except the volume of the live task "keep"
leftovers() {
	_leftovers "$1" | grep -v -F "$1/keep"
}

xfs_base() {
	truncate -s 4G "$BERTH_SCRATCH/xfs.img" || die "truncate xfs.img"
	mkfs.xfs -q -f "$BERTH_SCRATCH/xfs.img" || die "mkfs.xfs"
	mkdir -p "$BERTH_SCRATCH/xfs"
	mount -o loop,prjquota "$BERTH_SCRATCH/xfs.img" "$BERTH_SCRATCH/xfs" || die "mount xfs prjquota"
	on_exit "umount '$BERTH_SCRATCH/xfs'"
}

# project ids with a limit or usage, other than 0 and the live one ($1)
quota_left() {
	xfs_quota -x -c 'report -p -n -N' "$BERTH_SCRATCH/xfs" | awk -v keep="#$1" '$1 != "#0" && $1 != keep && NF > 0'
}

mkdir -p "$BERTH_SCRATCH/lower"

run_mech() {
	mech=$1 base=$2 steps=$3
	opts="--base $base --mech $mech --min-mib 16 --max-mib 1024"
	say "--- $mech"
	on_exit "$T $opts cleanup"
	k=$($T $opts create keep 32) || die "create keep: $k"
	kp=$(json_field "$k" path)
	echo precious > "$kp/data"

	for n in $(seq 1 "$steps"); do
		$T $opts --fault-step "$n" --fault-crash create "crash$n" 32 >/dev/null 2>&1
		st=$?
		[ "$st" = 137 ] || die "step $n: the tool was not killed (status $st)"
	done
	# a crash with the task running: an overlay over its volume and a
	# mount inside it (a task volume), left behind
	c=$($T $opts create running 32) || die "create running: $c"
	rp=$(json_field "$c" path)
	mkdir -p "$rp/upper" "$rp/work" "$rp/vol" "$BERTH_SCRATCH/rootfs-running"
	mount -t tmpfs tmpfs "$rp/vol" || die "mount in volume"
	mount -t overlay overlay -o "lowerdir=$BERTH_SCRATCH/lower,upperdir=$rp/upper,workdir=$rp/work" "$BERTH_SCRATCH/rootfs-running" || die "overlay"
	on_exit "umount '$BERTH_SCRATCH/rootfs-running'"
	if [ "$mech" = loop ]; then
		# a loop device bound without autoclear (what LOOP_SET_FD leaves
		# when killed before LOOP_SET_STATUS64)
		mkdir -p "$base/orphan"
		truncate -s 16M "$base/orphan/disk.img"
		losetup -f "$base/orphan/disk.img" || die "losetup orphan"
	fi

	s=$($T $opts --alive keep stale) || die "stale: $s"
	say "stale: $s"
	echo "$s" | grep -q '"task":"keep"' && die "a live volume is listed as stale"
	echo "$s" | grep -q '"task":"running".*rootfs-running' || die "the overlay over 'running' is not listed"
	[ "$mech" = loop ] && { echo "$s" | grep -q '"task":"orphan","entry":true,"projid":0,"mounts":\[\],"loops":\[[0-9]' || die "the orphan loop device is not listed: $s"; }
	r=$($T $opts --alive keep cleanup) || die "cleanup: $r"
	say "cleanup: $r"
	left=$(leftovers "$base")
	[ -z "$left" ] || die "left after cleanup: $left"
	grep -q " $BERTH_SCRATCH/rootfs-running " /proc/self/mountinfo && die "overlay over a stale volume still mounted"

	# the live volume is intact and usable
	[ "$(cat "$kp/data")" = precious ] || die "the live volume lost its data"
	f=$($T fill "$kp" 1)
	[ -z "$(json_field "$f" errno)" ] || die "the live volume no longer takes writes: $f"
	u=$($T $opts usage keep) || die "usage keep: $u"
	if [ "$mech" = prjquota ]; then
		kid=$(json_field "$k" projid)
		q=$(quota_left "$kid")
		[ -z "$q" ] || die "project quotas left after cleanup: $q"
	fi
	# and cleanup without --alive takes it too
	r=$($T $opts cleanup) || die "final cleanup: $r"
	[ "$(json_field "$r" removed)" = 1 ] || die "final cleanup removed $r"
	[ -z "$(leftovers "$base")" ] && [ ! -e "$base/keep" ] || die "left after the final cleanup: $(leftovers "$base")"
}

run_mech loop "$BERTH_SCRATCH/loop-base" 7
xfs_base
run_mech prjquota "$BERTH_SCRATCH/xfs/vols" 4
q=$(quota_left 0)
[ -z "$q" ] || die "project quotas left: $q"
