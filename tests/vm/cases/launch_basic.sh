# The launcher (runtime/container/launch.c) through berth-launch-tool: what a
# default container sees (pid 1, hostname, Docker's capabilities,
# no_new_privs, seccomp filter mode, fds 0-2 only, cwd, its own cgroup as
# the cgroup namespace root, masked and read-only /proc and /sys), users
# and groups, read-only root, the clone(2) fallback, berth-init, ctr_exec,
# and that nothing is left in the caller's mount table.
# timeout: 300
launch_setup
mounts_before=$(wc -l < /proc/self/mountinfo)
has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }

# --------------------------------------------------------- a default container
out=$($LT --rootfs "$R" --cgroup "$cg" --hostname box --cwd /srv -- berth-testhelper info 2>&1) ||
	die "default container: status $? $out"
say "info: $(echo "$out" | cut -c1-400)..."
for want in '"pid":1,' '"uid":0,"gid":0,' '"hostname":"box"' '"cwd":"/srv"' '"no_new_privs":true' \
	'"seccomp":2' '"fds":[0,1,2]' '"umask":"0022"' '"HOSTNAME":"box"' \
	'"effective":"00000000a80425fb","bounding":"00000000a80425fb"' '"inheritable":"0000000000000000"' \
	'"ambient":"0000000000000000"' '"nofile":[65535,65535]' '"cgroup":"0::/\n"' \
	'{"target":"/proc/sys","fstype":"proc","source":"proc","options":"ro,' \
	'{"target":"/sys","fstype":"sysfs","source":"sysfs","options":"ro,' \
	'{"target":"/sys/fs/cgroup","fstype":"cgroup2","source":"cgroup","options":"ro,' \
	'{"target":"/proc/kcore","fstype":"devtmpfs"' \
	'{"target":"/dev/pts","fstype":"devpts","source":"devpts","options":"rw,nosuid,noexec' \
	'{"target":"/dev/shm","fstype":"tmpfs","source":"shm","options":"rw,nosuid,nodev,noexec' \
	'{"target":"/dev/mqueue","fstype":"mqueue"' '{"target":"/dev/null","fstype":"devtmpfs"'; do
	has "$out" "$want" || die "info lacks $want: $out"
done
has "$out" '"effective_names":["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_NET_RAW","CAP_SYS_CHROOT","CAP_MKNOD","CAP_AUDIT_WRITE","CAP_SETFCAP"]' ||
	die "not Docker's 14 capabilities: $out"

# masked and read-only paths, /sys, devices, the new network namespace
out=$($LT --rootfs "$R" --cgroup "$cg" -- berth-testhelper cat --json /proc/kcore 2>&1)
has "$out" '"content":""' || die "/proc/kcore is not masked: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" -- berth-testhelper write /proc/sys/kernel/domainname x 2>&1) &&
	die "wrote /proc/sys: $out"
has "$out" EROFS || die "/proc/sys write: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" -- berth-testhelper write /sys/class/net/lo/mtu 65536 2>&1) &&
	die "wrote /sys: $out"
has "$out" EROFS || die "/sys write: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" -- /bin/sh -c 'echo hi > /dev/null && head -c 4 /dev/urandom | wc -c && ls /dev | tr "\n" " " && ls -l /dev/ptmx' 2>&1) ||
	die "devices: $out"
say "devices: $out"
has "$out" "4" || die "/dev/urandom: $out"
for d in null zero full random urandom tty ptmx fd stdin stdout stderr pts shm mqueue; do
	echo "$out" | grep -qw "$d" || die "no /dev/$d: $out"
done
has "$out" "-> pts/ptmx" || die "/dev/ptmx is not a link to pts/ptmx: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" -- /bin/ip -o link 2>&1) || die "ip link: $out"
[ "$(echo "$out" | wc -l)" = 1 ] && has "$out" "lo:" || die "not a new network namespace: $out"

# --------------------------------------------------------- users, groups, root
out=$($LT --rootfs "$R" --cgroup "$cg" --user 1000:1000 --groups 2000,3000 --cwd /home/app -- berth-testhelper info 2>&1) ||
	die "as 1000: $out"
for want in '"uid":1000,"gid":1000,"euid":1000,"egid":1000,"groups":[2000,3000]' '"cwd":"/home/app"' \
	'"effective":"0000000000000000"' '"permitted":"0000000000000000"' '"bounding":"00000000a80425fb"'; do
	has "$out" "$want" || die "as 1000: lacks $want: $out"
done
out=$($LT --rootfs "$R" --cgroup "$cg" --ro -- berth-testhelper write /srv/new.txt x 2>&1) && die "wrote a read-only root: $out"
has "$out" EROFS || die "read-only root: $out"
$LT --rootfs "$R" --cgroup "$cg" -- berth-testhelper write /srv/new.txt x >/dev/null 2>&1 || die "write to a read-write root"
[ -f "$BERTH_SCRATCH/rw/upper/srv/new.txt" ] || die "the write did not land in the overlay's upper dir"
out=$($LT --rootfs "$R" --cgroup "$cg" --cwd /made/by/launch -- berth-testhelper info 2>&1) || die "missing cwd: $out"
has "$out" '"cwd":"/made/by/launch"' || die "cwd not created: $out"

# ------------------------------------------------------------- in the cgroup
$LT --rootfs "$R" --cgroup "$cg" --print-pid -- berth-testhelper sleep 30 2> "$BERTH_SCRATCH/pid" &
lt=$!
wait_until 10 grep -q pid "$BERTH_SCRATCH/pid" || die "no pid printed: $(cat "$BERTH_SCRATCH/pid")"
pid=$(sed -n 's/{"pid":\([0-9]*\)}/\1/p' "$BERTH_SCRATCH/pid")
grep -qx "$pid" "$cg/cgroup.procs" || die "pid $pid is not in $cg: $(cat "$cg/cgroup.procs")"
[ "$(readlink /proc/$pid/ns/pid)" != "$(readlink /proc/self/ns/pid)" ] || die "no new pid namespace"
[ "$(readlink /proc/$pid/ns/cgroup)" != "$(readlink /proc/self/ns/cgroup)" ] || die "no new cgroup namespace"
[ "$(readlink /proc/$pid/ns/ipc)" != "$(readlink /proc/self/ns/ipc)" ] || die "no new ipc namespace"
# a second container joins the first one's pid and ipc namespaces (pidMode
# and ipcMode "task"): it is not pid 1 and sees the first one's process
out=$($LT --rootfs "$R" --cgroup "$cg" --pid /proc/$pid/ns/pid --ipc /proc/$pid/ns/ipc -- /bin/sh -c \
	'echo self=$$; cat /proc/1/cmdline | tr "\0" " "; echo; readlink /proc/self/ns/ipc' 2>&1) || die "join pid ns: $out"
say "joined: $out"
has "$out" "self=1" && die "the joining container is pid 1: $out"
has "$out" "berth-testhelper sleep 30" || die "pid 1 of the joined namespace is not the first container: $out"
has "$out" "$(readlink /proc/$pid/ns/ipc)" || die "ipc namespace not joined: $out"
kill -KILL "$pid"
wait $lt
st=$?
[ "$st" = 137 ] || die "killed container: tool status $st, want 137"

# ------------------------------------------- clone(2) fallback, init, exec, host ns
out=$($LT --rootfs "$R" --cgroup "$cg" --no-clone3 --hostname fb -- berth-testhelper info 2>&1) ||
	die "clone fallback: $out"
for want in '"pid":1,' '"hostname":"fb"' '"cgroup":"0::/\n"' '"seccomp":2'; do
	has "$out" "$want" || die "clone fallback: lacks $want: $out"
done
$LT --rootfs "$R" --cgroup "$cg" --init -- berth-testhelper exit 7
st=$?
[ "$st" = 7 ] || die "under berth-init: status $st, want 7"
out=$($LT --rootfs "$R" --cgroup "$cg" --init -- berth-testhelper info 2>&1) || die "init info: $out"
has "$out" '"pid":2,"ppid":1,' || die "under berth-init the program is not pid 2: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" --hostname box --cwd /srv --exec "berth-testhelper info" -- berth-testhelper sleep 30 2>&1) ||
	die "exec: $out"
for want in '"pid":2,' '"hostname":"box"' '"cwd":"/srv"' '"seccomp":2' '"no_new_privs":true' '"cgroup":"0::/\n"' \
	'"fds":[0,1,2]' '"effective":"00000000a80425fb"'; do
	has "$out" "$want" || die "exec: lacks $want: $out"
done
out=$($LT --rootfs "$R" --cgroup "$cg" --net host --uts "/proc/1/ns/uts" -- berth-testhelper info 2>&1) ||
	die "host network: $out"
has "$out" "\"hostname\":\"$(hostname)\"" || die "joined uts namespace: hostname differs: $out"
out=$($LT --rootfs "$R" --cgroup "$cg" --net host -- /bin/ip -o link 2>&1) || die "ip link (host): $out"
[ "$(echo "$out" | wc -l)" -gt 1 ] || die "host network: only $out"

# ------------------------------------------------------------------ nothing left
[ "$(wc -l < /proc/self/mountinfo)" = "$mounts_before" ] || die "the launches changed our mount table"
[ -z "$(cat "$cg/cgroup.procs")" ] || die "processes left in $cg: $(cat "$cg/cgroup.procs")"
say "all launches clean"
