# Bad input leaves nothing half-created: a failure injected after every
# step of create (no crash: the library's own rollback), a base dir that
# cannot be written, mkfs failing, a size the host filesystem cannot hold,
# a filesystem that cannot do project quotas, a task that already has a
# volume. Each is refused with a message that says why, and nothing of the
# new volume is left (no mount, loop device, file or quota limit).
# timeout: 180
T=berth-ephemeral-tool

_leftovers() {
	grep -F " $1/" /proc/self/mountinfo | awk '{ print "mount " $5 }'
	for f in /sys/block/loop*/loop/backing_file; do
		[ -f "$f" ] && case $(cat "$f") in "$1"/*) echo "loop $f: $(cat "$f")" ;; esac
	done
	losetup -a | grep -F "$1/" | sed 's/^/losetup: /'
	[ -d "$1" ] && find "$1" -mindepth 1 ! -name .lock | sed 's/^/file /'
}
# ... except the volume of the live task "keep"
leftovers() {
	_leftovers "$1" | grep -v -F "$1/keep"
}

mkfs_base() {   # mkfs_base NAME FSTYPE SIZE [MOUNTOPTS]: a filesystem of its own in the scratch dir
	truncate -s "$3" "$BERTH_SCRATCH/$1.img" || die "truncate $1"
	if [ "$2" = xfs ]; then mkfs.xfs -q -f "$BERTH_SCRATCH/$1.img" || die "mkfs.xfs $1"
	else mkfs.ext4 -q -F "$BERTH_SCRATCH/$1.img" || die "mkfs.ext4 $1"; fi
	mkdir -p "$BERTH_SCRATCH/$1"
	mount -o "loop${4:+,$4}" "$BERTH_SCRATCH/$1.img" "$BERTH_SCRATCH/$1" || die "mount $1"
	on_exit "umount '$BERTH_SCRATCH/$1'"
}

expect_fail() {   # expect_fail BASE PATTERN ARGS...: create fails saying PATTERN, nothing left
	_b=$1 _pat=$2; shift 2
	if _o=$($T --base "$_b" "$@"); then die "succeeded: $* -> $_o"; fi
	echo "$_o" | grep -q -e "$_pat" || die "$*: want '$_pat', got $_o"
	_l=$(leftovers "$_b")
	[ -z "$_l" ] || die "$*: left behind: $_l"
	say "refused as expected: $(json_field "$_o" error)"
}

M="--min-mib 16 --max-mib 33554432"

# -- every step, both mechanisms
b=$BERTH_SCRATCH/loop-base
on_exit "$T --base $b cleanup"
k=$($T --base "$b" $M create keep 32) || die "create keep: $k"
for n in 1 2 3 4 5 6 7; do
	expect_fail "$b" "injected fault after step $n" $M --fault-step $n create "f$n" 32
done
# step 8 does not exist: the create goes through
o=$($T --base "$b" $M --fault-step 8 create f8 32) || die "create with no fault reached: $o"
$T --base "$b" $M destroy f8 >/dev/null || die "destroy f8"

mkfs_base xfs xfs 2G prjquota
q=$BERTH_SCRATCH/xfs/vols
on_exit "$T --base $q --mech prjquota cleanup"
for n in 1 2 3 4; do
	expect_fail "$q" "injected fault after step $n" $M --mech prjquota --fault-step $n create "f$n" 32
done
ql=$(xfs_quota -x -c 'report -p -n -N' "$BERTH_SCRATCH/xfs" | awk '$1 != "#0" && NF > 0')
[ -z "$ql" ] || die "quota limits left by failed creates: $ql"

# -- the same task twice: refused, the first one untouched
expect_fail "$b" "already exists" $M create keep 32
echo still > "$(json_field "$k" path)/x" || die "the existing volume was harmed"

# -- a base dir that cannot be written (read-only filesystem)
mkdir -p "$BERTH_SCRATCH/ro"
mount -t tmpfs -o ro tmpfs "$BERTH_SCRATCH/ro" || die "mount ro tmpfs"
on_exit "umount '$BERTH_SCRATCH/ro'"
expect_fail "$BERTH_SCRATCH/ro/base" "Read-only file system" $M create t1 32
mount -o remount,rw "$BERTH_SCRATCH/ro" && mkdir "$BERTH_SCRATCH/ro/base" && mount -o remount,ro "$BERTH_SCRATCH/ro" || die "remount"
expect_fail "$BERTH_SCRATCH/ro/base" "Read-only file system" $M create t1 32

# -- mkfs fails half-way, after the image exists
expect_fail "$b" "exited with status 1" $M --mkfs /bin/false create t1 32
expect_fail "$b" "run .*/nope: No such file" $M --mkfs "$BERTH_SCRATCH/nope" create t1 32

# -- sizes the host filesystem cannot hold: ext4's largest file is 16 TiB
mkfs_base small ext4 64M
expect_fail "$BERTH_SCRATCH/small/base" "File too large" $M create big 20971520
# -- and a filesystem the size of which mkfs refuses (1 EiB of ext4 on tmpfs)
expect_fail "$b" "mkfs.ext4 on .* exited with status" --min-mib 16 --max-mib 2199023255552 create huge 1099511627776
# -- an xfs volume below xfs's minimum: refused before anything is made
expect_fail "$b" "xfs volumes need at least 300 MiB" $M --fs xfs create t1 100

# -- project quotas where there are none
expect_fail "$BERTH_SCRATCH/small/vols" "prjquota volumes need XFS" $M --mech prjquota create t1 32
mkfs_base noquota xfs 1G
expect_fail "$BERTH_SCRATCH/noquota/vols" "project quotas are not enforced" $M --mech prjquota create t1 32

$T --base "$b" $M destroy keep >/dev/null || die "destroy keep"
[ -z "$(leftovers "$b")" ] || die "left: $(leftovers "$b")"
