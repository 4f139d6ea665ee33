# Launch failures come back as "container NAME: STEP: REASON (DETAIL)" and
# leave nothing behind (no process in the cgroup, no mount in our table);
# a hostile image's symlinks cannot send a mount target out of the root.
# timeout: 240
launch_setup
mounts_before=$(wc -l < /proc/self/mountinfo)

# expect_fail WANT ARGS...: the tool fails with status 125 and WANT in its message
expect_fail() {
	_want=$1; shift
	_out=$($LT --rootfs "$R" --cgroup "$cg" --name web "$@" 2>&1)
	_st=$?
	say "$* -> $_st: $_out"
	[ "$_st" = 125 ] || die "$*: status $_st, want 125 ($_out)"
	case $_out in *"$_want"*) ;; *) die "$*: want '$_want' in: $_out" ;; esac
	[ -z "$(cat "$cg/cgroup.procs")" ] || die "$*: processes left in the cgroup: $(cat "$cg/cgroup.procs")"
}
expect_fail "container web: exec: No such file or directory (executable file not found: /nope)" -- /nope
expect_fail "container web: exec: No such file or directory (executable file not found: nope)" -- nope
expect_fail "container web: exec: Permission denied (permission denied: /srv/hello.txt)" -- /srv/hello.txt
expect_fail "container web: working directory: Not a directory (/srv/hello.txt)" --cwd /srv/hello.txt -- berth-testhelper info
expect_fail "container web: bind rootfs: No such file or directory" --rootfs /nonexistent -- berth-testhelper info
expect_fail "container web: mount: No such file or directory (bind source /nonexistent)" --bind /nonexistent:/data -- berth-testhelper info
expect_fail "container web: exec: No such file or directory (executable file not found: nope)" --no-clone3 -- nope
# under berth-init the launch succeeds; the init reports and exits 127
out=$($LT --rootfs "$R" --cgroup "$cg" --init -- nope 2>&1)
st=$?
[ "$st" = 127 ] && [ "$out" = "berth-init: exec nope: No such file or directory" ] || die "--init nope: $st $out"
expect_fail "container web: exec nope: exec: No such file or directory (executable file not found: nope)" --exec nope -- berth-testhelper sleep 30

# a hostile rootfs: links that point out of the root (absolute and "..")
# as mount targets; the mounts land inside the root
H=$BERTH_SCRATCH/hostile
mkdir -p "$H"
cp -a "$R/." "$H/" || die "copy the rootfs"
ln -s /../../../../../tmp/berth-escape-target "$H/abs"
ln -s ../../../../../tmp/berth-escape-target "$H/rel"
rm -rf "$H/srv" && ln -s /../../../../etc "$H/srv"
mkdir -p "$BERTH_SCRATCH/vol" && echo volume > "$BERTH_SCRATCH/vol/marker"
rm -rf /tmp/berth-escape-target
out=$($LT --rootfs "$H" --cgroup "$cg" --bind "$BERTH_SCRATCH/vol:/abs/a" --bind "$BERTH_SCRATCH/vol:/rel/b" \
	--tmpfs /srv/t -- /bin/sh -c 'cat /tmp/berth-escape-target/a/marker /tmp/berth-escape-target/b/marker; grep -c " /etc/t " /proc/self/mountinfo' 2>&1) ||
	die "hostile rootfs: $out"
say "hostile rootfs: $out"
[ "$out" = "volume
volume
1" ] || die "hostile rootfs: the mounts did not land inside the root: $out"
[ -e /tmp/berth-escape-target ] && die "a mount target was created outside the root"
[ -e /etc/t ] && die "a mount target was created in the host's /etc"
[ -d "$H/tmp/berth-escape-target/a" ] || die "mount point not created inside the root"

[ "$(wc -l < /proc/self/mountinfo)" = "$mounts_before" ] || die "the launches changed our mount table"
