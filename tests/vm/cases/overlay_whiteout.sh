# overlayfs honours whiteouts: one in a lower layer hides a file from the layer
# below, and deleting through the merged view creates one in the upper dir.
# timeout: 60
d=$BERTH_SCRATCH/ov
mkdir -p "$d/l1/dir" "$d/l2" "$d/upper" "$d/work" "$d/merged"
echo base > "$d/l1/kept"; echo gone > "$d/l1/hidden"; echo deleteme > "$d/l1/dir/f"
mknod "$d/l2/hidden" c 0 0 || die "mknod whiteout"
echo top > "$d/l2/new"
mount -t overlay overlay -o "lowerdir=$d/l2:$d/l1,upperdir=$d/upper,workdir=$d/work" "$d/merged" || die "mount overlay"
on_exit "umount '$d/merged'"
say "merged: $(ls "$d/merged" | tr '\n' ' ')"
[ -e "$d/merged/hidden" ] && die "whiteout in l2 did not hide l1/hidden"
[ "$(cat "$d/merged/kept")" = base ] || die "l1/kept not visible"
[ "$(cat "$d/merged/new")" = top ] || die "l2/new not visible"
rm "$d/merged/dir/f" || die "rm through overlay"
[ -c "$d/upper/dir/f" ] || die "deleting dir/f made no whiteout in upper"
set -- $(stat -c '%t %T' "$d/upper/dir/f")
[ "$1:$2" = 0:0 ] || die "whiteout is not a 0/0 character device ($1:$2)"
[ -f "$d/l1/dir/f" ] || die "lower layer changed"
say "upper after rm: $(ls -l "$d/upper/dir" | awk 'NR > 1 { print $1, $NF }')"
