# Measures the two ephemeral storage mechanisms side by side (figures in
# docs/ephemeral-storage.md; TCG: compare ratios, not absolutes) and asserts
# the properties the choice rests on:
#  - loop volumes hold a writer to its size whatever it does, and direct I/O
#    is on where the backing filesystem can do it (XFS) and off where not (tmpfs)
#  - every create/destroy of 20 volumes per mechanism succeeds; usage is cheap
# It also reports (without asserting, kernels may change) whether an
# unprivileged file owner escapes an XFS project quota with FS_IOC_FSSETXATTR.
# timeout: 420
T=berth-ephemeral-tool
N=${EPHEMERAL_BENCH_N:-20}
NX=${EPHEMERAL_BENCH_NXFS:-5}   # loop+xfs: slow, and dominated (docs)
GIB20=20480   # MiB
MIB=1048576

mkfs_base() {   # mkfs_base NAME FSTYPE SIZE [MOUNTOPTS]
	truncate -s "$3" "$BERTH_SCRATCH/$1.img" || die "truncate $1"
	if [ "$2" = xfs ]; then mkfs.xfs -q -f "$BERTH_SCRATCH/$1.img" || die "mkfs.xfs $1"
	else mkfs.ext4 -q -F "$BERTH_SCRATCH/$1.img" || die "mkfs.ext4 $1"; fi
	mkdir -p "$BERTH_SCRATCH/$1"
	mount -o "loop${4:+,$4}" "$BERTH_SCRATCH/$1.img" "$BERTH_SCRATCH/$1" || die "mount $1"
	on_exit "umount '$BERTH_SCRATCH/$1'"
}
# the images live on the guest's tmpfs /tmp and XFS does not hand freed
# space back: drop each one when done with it
drop_base() {   # drop_base NAME OPTS: clean up its volumes, unmount, delete
	$T $2 cleanup >/dev/null
	umount "$BERTH_SCRATCH/$1" || die "umount $1"
	rm -f "$BERTH_SCRATCH/$1.img"
}
ms() { cut -d' ' -f1 /proc/uptime; }
elapsed_ms() { awk -v a="$1" -v b="$2" -v n="${3:-1}" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }'; }
field() { json_field "$1" "$2"; }
pfield() {   # pfield JSON OBJ KEY: "create_ms":{"p50":..} -> value
	echo "$1" | sed -n "s/.*\"$2\":{[^}]*\"$3\":\\([0-9.]*\\).*/\\1/p"
}
row() {   # row NAME JSON
	say "$(printf '%-28s create p50 %8s p90 %8s | destroy p50 %8s p90 %8s | usage %6s ns statfs %6s ns | dio %s' "$1" \
		"$(pfield "$2" create_ms p50)" "$(pfield "$2" create_ms p90)" \
		"$(pfield "$2" destroy_ms p50)" "$(pfield "$2" destroy_ms p90)" \
		"$(field "$2" usage_ns)" "$(field "$2" statfs_ns)" "$(field "$2" dio)")"
}
bench() {   # bench NAME ARGS...: run, check, print a row
	_name=$1; shift
	_o=$($T "$@") || die "$_name: $_o"
	echo "$_o" | grep -q '"create_ms":{"p50":[0-9]' || die "$_name: no figures: $_o"
	row "$_name" "$_o"
	echo "$_o" >> "$BERTH_SCRATCH/bench.jsonl"
	[ "$(echo "$(field "$_o" usage_ns)" | cut -d. -f1)" -lt 1000000 ] || die "$_name: usage takes over 1 ms"
}

say "== baseline under TCG: fork+exec of /bin/true, mkfs.ext4 of a 20 GiB sparse file"
t0=$(ms); for i in $(seq 1 10); do /bin/true; done; t1=$(ms)
say "fork+exec: $(elapsed_ms "$t0" "$t1" 10) ms each"
truncate -s 20G "$BERTH_SCRATCH/m.img"
t0=$(ms)
for i in $(seq 1 5); do
	mkfs.ext4 -q -F -T default -b 4096 -I 256 -m 0 -O ^has_journal,^resize_inode -E lazy_itable_init=1,lazy_journal_init=1 "$BERTH_SCRATCH/m.img" || die mkfs
done
t1=$(ms)
say "mkfs.ext4 (20 GiB, as berth runs it): $(elapsed_ms "$t0" "$t1" 5) ms each; file holds $(du -k "$BERTH_SCRATCH/m.img" | cut -f1) KiB"
t0=$(ms); mkfs.xfs -q -f -s size=4096 "$BERTH_SCRATCH/m.img" || die mkfs.xfs; t1=$(ms)
say "mkfs.xfs (20 GiB): $(elapsed_ms "$t0" "$t1") ms; file holds $(du -k "$BERTH_SCRATCH/m.img" | cut -f1) KiB"
rm -f "$BERTH_SCRATCH/m.img"

say "== $N volumes of 20 GiB each way (batch: all created, then all destroyed)"
L="--base $BERTH_SCRATCH/loop-base --min-mib 16 --max-mib 409600"
on_exit "$T $L cleanup"
bench "loop+ext4 (tmpfs host)" $L bench "$N" $GIB20
mkfs_base xfs xfs 8G prjquota
Q="--base $BERTH_SCRATCH/xfs/vols --mech prjquota --min-mib 16 --max-mib 409600"
on_exit "$T $Q cleanup"
bench "prjquota (xfs)" $Q bench "$N" $GIB20
bench "loop+xfs (cycle)" $L --fs xfs bench "$NX" $GIB20 --cycle
bench "loop+ext4, 500 files" $L bench "$N" $GIB20 --files 500
bench "prjquota, 500 files" $Q bench "$N" $GIB20 --files 500
bench "loop+ext4, 2000 files" $L bench 3 $GIB20 --files 2000
bench "prjquota, 2000 files" $Q bench 3 $GIB20 --files 2000

say "== host space per idle 20 GiB volume"
v=$($T $L create idle $GIB20) || die "create idle: $v"
say "loop+ext4: sparse file holds $(du -k "$BERTH_SCRATCH/loop-base/idle/disk.img" | cut -f1) KiB; df inside: $($T statfs "$(field "$v" path)")"
$T $L destroy idle >/dev/null || die "destroy idle"
v=$($T $L --fs xfs create idle $GIB20) || die "create idle xfs: $v"
say "loop+xfs: sparse file holds $(du -k "$BERTH_SCRATCH/loop-base/idle/disk.img" | cut -f1) KiB; df inside: $($T statfs "$(field "$v" path)")"
$T $L destroy idle >/dev/null || die "destroy idle xfs"
v=$($T $Q create idle $GIB20) || die "create idle prjquota: $v"
say "prjquota: df inside: $($T statfs "$(field "$v" path)")"
$T $Q destroy idle >/dev/null || die "destroy idle prjquota"
drop_base xfs "$Q"

say "== direct I/O: base dir on tmpfs (no O_DIRECT in 6.1) and on XFS"
mkfs_base host xfs 1G
H="--base $BERTH_SCRATCH/host/vols --min-mib 16 --max-mib 4096"
on_exit "$T $H cleanup"
for mode in dio nodio; do
	extra=; [ $mode = nodio ] && extra=--no-dio
	v=$($T $H $extra create w-$mode 512) || die "create w-$mode: $v"
	[ "$mode" = dio ] && [ "$(field "$v" dio)" != true ] && die "direct I/O is off on an XFS base: $v"
	[ "$mode" = nodio ] && [ "$(field "$v" dio)" != false ] && die "--no-dio yet direct I/O: $v"
	sync; echo 3 > /proc/sys/vm/drop_caches
	c0=$(awk '$1 == "Cached:" { c = $2 } $1 == "Shmem:" { s = $2 } END { print c - s }' /proc/meminfo)
	t0=$(ms)
	f=$($T fill "$(field "$v" path)" 128)
	t1=$(ms)
	c1=$(awk '$1 == "Cached:" { c = $2 } $1 == "Shmem:" { s = $2 } END { print c - s }' /proc/meminfo)
	[ "$(field "$f" written)" = $((128 * MIB)) ] || die "fill $mode: $f"
	say "$mode: 128 MiB + fsync in $(elapsed_ms "$t0" "$t1") ms; page cache (not shmem) grew $(((c1 - c0) / 1024)) MiB"
	$T $H destroy w-$mode >/dev/null || die "destroy w-$mode"
done
drop_base host "$H"
v=$($T $L create w-tmpfs 64) || die "create w-tmpfs: $v"
[ "$(field "$v" dio)" = false ] || die "direct I/O reported on on tmpfs (6.1 has no O_DIRECT there): $v"
$T $L destroy w-tmpfs >/dev/null

say "== isolation against a hostile file owner (uid 1000 moves its file to project 0)"
for mech in loop prjquota; do
	if [ $mech = loop ]; then O=$L; else
		mkfs_base shared xfs 320M prjquota
		O="--base $BERTH_SCRATCH/shared/vols --mech prjquota --min-mib 16 --max-mib 409600"
		on_exit "$T $O cleanup"
	fi
	a=$($T $O create esc-a 64) || die "create esc-a: $a"
	b=$($T $O create esc-b 64) || die "create esc-b: $b"
	pa=$(field "$a" path)
	mkdir "$pa/u" && chown 1000 "$pa/u"
	e=$($T escape-projid "$pa/u/e.bin" 0 1000)
	f=$($T fill "$(field "$b" path)" 1)
	say "$mech: escape attempt: $e; then another task writes 1 MiB: $(field "$f" errno) $(field "$f" error)"
	w=$(field "$e" written)
	if [ $mech = loop ]; then
		[ "$w" -le $((64 * MIB * 11 / 10)) ] || die "loop: a writer got $w bytes into a 64 MiB volume"
		[ -z "$(field "$f" errno)" ] || die "loop: filling one volume hurt another: $f"
	fi
	$T $O destroy esc-a >/dev/null || die "destroy esc-a"
	$T $O destroy esc-b >/dev/null || die "destroy esc-b"
done
drop_base shared "$O"
