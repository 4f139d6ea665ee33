# A task's ephemeral volume filled from inside a container gives "No space
# left on device" there only: another task's volume and the host's /tmp keep
# taking writes, and df inside the container shows the task's own size. For
# the default mechanism (loop + ext4) and for prjquota (XFS project quota).
# timeout: 180
T=berth-ephemeral-tool
SIZE=64   # MiB

# an XFS filesystem mounted with prjquota, as an operator would give berth
xfs_base() {
	truncate -s 4G "$BERTH_SCRATCH/xfs.img" || die "truncate xfs.img"
	mkfs.xfs -q -f "$BERTH_SCRATCH/xfs.img" || die "mkfs.xfs"
	mkdir -p "$BERTH_SCRATCH/xfs"
	mount -o loop,prjquota "$BERTH_SCRATCH/xfs.img" "$BERTH_SCRATCH/xfs" || die "mount xfs prjquota"
	on_exit "umount '$BERTH_SCRATCH/xfs'"
}

# what is left of volumes under $1: mounts, loop devices, files
leftovers() {
	grep -F " $1/" /proc/self/mountinfo | awk '{ print "mount " $5 }'
	for f in /sys/block/loop*/loop/backing_file; do
		[ -f "$f" ] && case $(cat "$f") in "$1"/*) echo "loop $f: $(cat "$f")" ;; esac
	done
	losetup -a | grep -F "$1/" | sed 's/^/losetup: /'
	find "$1" -mindepth 1 ! -name .lock | sed 's/^/file /'
}

# a minimal container root: static busybox, /dev/zero
lower=$BERTH_SCRATCH/lower
mkdir -p "$lower/bin" "$lower/dev" "$lower/proc" "$lower/tmp"
cp /bin/busybox "$lower/bin/busybox" || die "copy busybox"
for a in sh dd stat cat rm sync grep; do ln -s busybox "$lower/bin/$a"; done
mknod "$lower/dev/zero" c 1 5 || die "mknod zero"

run_mech() {
	mech=$1 base=$2
	opts="--base $base --mech $mech --min-mib 16 --max-mib 1024"
	say "--- $mech on $base"
	on_exit "$T $opts cleanup"   # whatever a failure leaves
	a=$($T $opts create task-a $SIZE) || die "create task-a: $a"
	b=$($T $opts create task-b $SIZE) || die "create task-b: $b"
	pa=$(json_field "$a" path) pb=$(json_field "$b" path)
	say "task-a: $a"

	# the container: overlay with upper/work on task-a's volume, its own
	# mount and pid namespaces, chrooted
	root=$BERTH_SCRATCH/root-$mech
	mkdir -p "$pa/upper" "$pa/work" "$root"
	mount -t overlay overlay -o "lowerdir=$lower,upperdir=$pa/upper,workdir=$pa/work" "$root" || die "mount overlay"
	on_exit "umount '$root'"
	out=$(unshare -m -p -f chroot "$root" /bin/sh -c '
		echo "statfs $(stat -f -c "%b %S %a" /)"
		dd if=/dev/zero of=/fill bs=1M count=1000 2>&1 | grep -v records
		sync; echo "after $(stat -f -c "%a" /)"' 2>&1)
	say "container: $(echo "$out" | tr '\n' '|')"
	set -- $(echo "$out" | sed -n 's/^statfs //p')
	blocks=$1 bsize=$2
	[ -n "$blocks" ] && [ -n "$bsize" ] || die "no statfs from inside the container: $out"
	size_kib=$((blocks * bsize / 1024))
	[ "$size_kib" -ge $((SIZE * 1024)) ] && [ "$size_kib" -le $((SIZE * 1024 * 11 / 10 + 2048)) ] ||
		die "df inside the container shows $size_kib KiB for a $SIZE MiB volume"
	echo "$out" | grep -q "No space left on device" || die "the writer in the container did not get ENOSPC: $out"
	# the same from outside the container: the errno is ENOSPC, not EDQUOT
	f=$($T fill "$pa")
	say "more into task-a: $f"
	[ "$(json_field "$f" errno)" = ENOSPC ] || die "task-a: want ENOSPC, got $f"

	# task-b and the host still take writes
	f=$($T fill "$pb" 8)
	[ "$(json_field "$f" written)" = $((8 << 20)) ] && [ -z "$(json_field "$f" errno)" ] ||
		die "task-b could not write 8 MiB while task-a is full: $f"
	dd if=/dev/zero of=/tmp/ephemeral-host-ok bs=1M count=8 2>/dev/null || die "host /tmp not writable"
	[ "$(stat -c %s /tmp/ephemeral-host-ok)" = $((8 << 20)) ] || die "host /tmp write short"
	rm -f /tmp/ephemeral-host-ok
	u=$($T $opts usage task-a) || die "usage task-a: $u"
	say "task-a usage: $u"
	[ "$(json_field "$u" used)" -ge $(((SIZE - 2) << 20)) ] || die "task-a full, yet usage says $u"
	[ "$(json_field "$u" reserved)" = $((SIZE << 20)) ] || die "reserved is not $SIZE MiB: $u"

	umount "$root" || die "umount overlay"
	$T $opts destroy task-a >/dev/null || die "destroy task-a"
	$T $opts destroy task-b >/dev/null || die "destroy task-b"
	left=$(leftovers "$base")
	[ -z "$left" ] || die "left after destroy: $left"
}

run_mech loop "$BERTH_SCRATCH/loop-base"
xfs_base
run_mech prjquota "$BERTH_SCRATCH/xfs/vols"
q=$(xfs_quota -x -c 'report -p -n -N' "$BERTH_SCRATCH/xfs" | awk '$1 != "#0" && NF > 0')
[ -z "$q" ] || die "project quotas left: $q"
