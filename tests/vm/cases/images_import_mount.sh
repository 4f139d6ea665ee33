# Both archive formats import; layers are shared between images; the mounted
# root honours whiteouts, opaque dirs, hardlinks, fifos, xattrs and setuid
# bits; read-only is read-only; rm waits for umount; prune empties the store.
# timeout: 300
ext4_dir "$BERTH_SCRATCH/state" 512
B="$BERTH_BIN/berth --root $BERTH_SCRATCH/state"
L=$BERTH_SCRATCH/state/images/layers
nlayers() { ls "$L" | grep -vc '\.json$'; }

out=$($B image import "$BERTH_IMAGES/helper.docker.tar") || die "import helper.docker.tar: $out"
say "$out"
[ "$(nlayers)" = 3 ] || die "helper: want 3 unpacked layers, have $(nlayers)"
out=$($B image import "$BERTH_IMAGES/web.oci.tar") || die "import web.oci.tar: $out"
say "$out"
echo "$out" | grep -q "2 layers, 1 unpacked, 1 shared" || die "web did not share the base layer: $out"
[ "$(nlayers)" = 4 ] || die "want 4 layers after web, have $(nlayers)"
out=$($B image import "$BERTH_IMAGES/helper.oci.tar") || die "import helper.oci.tar: $out"
echo "$out" | grep -q "3 layers, 0 unpacked, 3 shared" || die "oci copy of helper unpacked again: $out"
$B image ls | sed 's/^/  /'
$B --json image ls | grep -q '"berth-test/web:latest"' || die "image ls --json lacks web"
$B image inspect berth-test/web | grep -q '"User": "1000:1000"' || die "inspect: web's User"

mnt=$BERTH_SCRATCH/mnt
mkdir -p "$mnt"
$B image mount berth-test/helper "$mnt" || die "mount helper read-only"
on_exit "$B image umount '$mnt'"
[ -x "$mnt/usr/bin/berth-testhelper" ] || die "helper binary missing in the rootfs"
[ -e "$mnt/etc/motd" ] && die "whiteout: /etc/motd still visible"
[ "$(ls "$mnt/opt/old" | tr '\n' ' ')" = "new.txt " ] || die "opaque /opt/old shows: $(ls "$mnt/opt/old")"
[ "$(stat -c %i "$mnt/srv/hard/target.txt")" = "$(stat -c %i "$mnt/srv/hard/zlink.txt")" ] || die "hardlink is not a hardlink"
[ -p "$mnt/srv/fifo" ] || die "fifo is not a fifo"
[ "$(stat -c %a "$mnt/usr/bin/berth-testhelper-suid")" = 4755 ] || die "setuid bit lost: $(stat -c %a "$mnt/usr/bin/berth-testhelper-suid")"
[ "$(stat -c %a "$mnt/srv/setgid")" = 2755 ] || die "setgid bit lost"
[ "$(stat -c %u:%g "$mnt/home/app")" = 1000:1000 ] || die "ownership of /home/app: $(stat -c %u:%g "$mnt/home/app")"
if touch "$mnt/newfile" 2>/dev/null; then die "read-only mount took a write"; fi
$B image rm berth-test/helper:latest 2>"$BERTH_SCRATCH/rm.err" && die "rm succeeded while mounted"
grep -q "in use by task mount-" "$BERTH_SCRATCH/rm.err" || die "rm error: $(cat "$BERTH_SCRATCH/rm.err")"
$B image umount "$mnt" || die "umount"

$B image mount --rw "$BERTH_SCRATCH/rw" berth-test/web "$mnt" || die "mount web read-write"
echo changed > "$mnt/srv/www/index.html" || die "write through the overlay"
[ "$(cat "$BERTH_SCRATCH/rw/upper/srv/www/index.html")" = changed ] || die "write did not land in upper"
orig=$(cat "$L"/*/srv/www/index.html) || die "web layer has no index.html"
[ "$orig" = "<html><body>berth-test/web</body></html>" ] || die "write reached the image layer: $orig"
$B image umount "$mnt" || die "umount rw"

out=$($B image import "$BERTH_IMAGES/many.oci.tar") || die "import many: $out"
# 300 layers: more than one page of lowerdir=/proc/self/fd/N, so the bottom
# layers are joined in a nested read-only overlay first
$B image mount berth-test/many "$mnt" || die "mount the 300-layer image"
[ "$(cat "$mnt/layers/top")" = 299 ] || die "top layer does not win: $(cat "$mnt/layers/top")"
[ "$(ls "$mnt/layers" | grep -c '^[0-9]')" = 299 ] || die "not every layer is visible"
grep -q "$BERTH_SCRATCH/state/mounts/mount-.*/lower overlay" /proc/mounts || die "no nested lower overlay for 300 layers"
say "300-layer image mounted with a nested lower overlay"
$B image umount "$mnt" || die "umount many"
grep -q "$mnt\|/mounts/mount-" /proc/mounts && die "mounts left: $(grep "$mnt\|/mounts/mount-" /proc/mounts)"

for r in berth-test/helper berth-test/web berth-test/many; do $B image rm "$r" >/dev/null || die "rm $r"; done
out=$($B image prune) || die "prune"
say "$out"
[ "$(nlayers)" = 0 ] || die "prune left $(nlayers) layers"
[ -z "$(ls "$BERTH_SCRATCH/state/images/blobs/sha256")" ] || die "prune left blobs"
