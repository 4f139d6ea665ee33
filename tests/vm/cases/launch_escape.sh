# The escape suite inside containers started by the launcher: in a default
# container every attempt is denied (setuid-gain and ptrace-pid1 cannot be
# tried by root as pid 1; they run again as uid 1000, the latter under
# berth-init); a privileged container (EC2) really has CAP_SYS_ADMIN and
# may mount.
# timeout: 300
launch_setup
SUID=/usr/bin/berth-testhelper-suid

# every line "denied", except the named attempts that say "inconclusive"
# with the given reason; exit status = number allowed = 0
check_escapes() {
	_what=$1 _out=$2 _st=$3; shift 3
	say "$_what:"
	echo "$_out" | sed 's/^/  /'
	[ "$_st" = 0 ] || die "$_what: $_st attempts allowed"
	[ "$(echo "$_out" | grep -c '"escape"')" -ge 20 ] || die "$_what: too few attempts ran"
	echo "$_out" | grep '"escape"' | while IFS= read -r _l; do
		case $_l in
		*'"result":"denied"'*) continue ;;
		esac
		_ok=0
		for _allowed in "$@"; do
			case $_l in *"\"escape\":\"${_allowed%%=*}\",\"result\":\"inconclusive\""*"${_allowed#*=}"*) _ok=1 ;; esac
		done
		[ $_ok = 1 ] || { echo "not denied: $_l"; exit 1; }
	done || die "$_what: an attempt was not denied"
}

out=$($LT --rootfs "$R" --cgroup "$cg" --hostname esc -- berth-testhelper escape --all --path $SUID 2>&1)
check_escapes "escape --all, root, pid 1" "$out" $? \
	"setuid-gain=already euid 0" "ptrace-pid1=we are pid 1 without a parent"

out=$($LT --rootfs "$R" --cgroup "$cg" --user 1000:1000 -- berth-testhelper escape --all --path $SUID 2>&1)
check_escapes "escape --all, uid 1000" "$out" $? "ptrace-pid1=we are pid 1 without a parent"
echo "$out" | grep -q '"escape":"setuid-gain","result":"denied"' || die "setuid-gain as 1000 not denied"

out=$($LT --rootfs "$R" --cgroup "$cg" --user 1000:1000 --init -- berth-testhelper escape ptrace-pid1 2>&1)
st=$?
say "ptrace-pid1 under berth-init as 1000: $out"
[ $st = 0 ] && echo "$out" | grep -q '"result":"denied"' || die "ptrace of berth-init (pid 1) not denied: $out"

# the denial is no_new_privs' doing: the setuid bit is there
[ "$(stat -c %a "$R$SUID")" = 4755 ] || die "$SUID lost its setuid bit"

# ------------------------------------------------------------ privileged (EC2)
out=$($LT --rootfs "$R" --cgroup "$cg" --privileged -- berth-testhelper info 2>&1) || die "privileged: $out"
echo "$out" | grep -q '"no_new_privs":false' || die "privileged: no_new_privs set: $out"
echo "$out" | grep -q '"seccomp":0' || die "privileged: seccomp filter loaded: $out"
echo "$out" | grep -q '"CAP_SYS_ADMIN"' || die "privileged: no CAP_SYS_ADMIN: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" --privileged -- berth-testhelper escape mount 2>&1)
say "privileged mount: $out"
echo "$out" | grep -q '"result":"allowed"' || die "privileged container cannot mount: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" --privileged -- /bin/sh -c 'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && grep " /mnt/t " /proc/self/mountinfo && umount /mnt/t' 2>&1) ||
	die "privileged: mount(8): $out"
out=$($LT --rootfs "$R" --cgroup "$cg" --privileged -- berth-testhelper escape mknod-block 2>&1)
echo "$out" | grep -q '"result":"allowed"' || die "privileged container cannot mknod: $out"
# a default container may mknod character devices (as in Docker) but the
# device filter lets it open none but its own (a tmpfs without nodev)
out=$($LT --rootfs "$R" --cgroup "$cg" --tmpfs-dev /devtest -- /bin/sh -c \
	'mknod /devtest/mem c 1 1 && echo made; head -c 1 /devtest/mem >/dev/null && echo read-mem; mknod /devtest/null c 1 3 && head -c 1 /devtest/null && echo read-null' 2>&1)
say "char devices: $out"
echo "$out" | grep -q made || die "mknod of a character device was refused: $out"
echo "$out" | grep -q read-mem && die "a mknod'ed /dev/mem could be read: $out"
echo "$out" | grep -q 'Operation not permitted' || die "/dev/mem: want EPERM from the device filter: $out"
echo "$out" | grep -q read-null || die "a mknod'ed null device could not be opened: $out"
# an EC2 device is bound and may be opened
out=$($LT --rootfs "$R" --cgroup "$cg" --device /dev/loop-control -- /bin/sh -c 'ls -l /dev/loop-control && head -c 0 /dev/loop-control && echo opened' 2>&1)
say "device: $out"
echo "$out" | grep -q opened || die "the task's device cannot be opened: $out"
