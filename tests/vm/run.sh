#!/bin/bash
# tests/vm/run.sh - run berth's privileged test cases inside a throwaway QEMU guest.
#
#   tests/vm/run.sh [options] [CASE...]      CASE = a file name in tests/vm/cases without .sh
#     -b, --build-dir DIR   berth build tree to take binaries and images from (default: build)
#     -o, --out DIR         where console.log, result.txt and the payload go (default: BUILD/vm)
#     -t, --timeout SEC     whole-run limit; QEMU is killed after it (default 900)
#         --mem MIB         guest memory (default 1024)
#         --keep            keep the staged payload tree
#         --extra-cases DIR also stage DIR/*.sh as cases (e.g. tests/bench/start's);
#                           repeatable; run them by name
#     -h, --help
#
# Guest: the Debian cloud kernel (resolved from linux-image-cloud-amd64, cached in
# $BERTH_VM_CACHE, default ~/.cache/berth-vm), an initramfs with busybox-static,
# berth's binaries and test images, iproute2, crun when the host has it (a
# benchmark peer), the kernel modules berth needs, and the cases. Software
# emulation (TCG); KVM is used only with BERTH_VM_KVM=1.
# Results come back on the second serial port: "TEST PASS|FAIL name" per case
# and "VMTEST-RESULT rc=N" (N = failed cases). Nothing on the host's cgroups,
# mounts or network is touched; guest networking is QEMU user mode with
# restrict=on (no packet leaves the machine) and two hostfwds on 127.0.0.1:
# HOSTPORT -> guest :8080 (host-side clients reach guest servers) and
# HOSTPORT2 -> guest :8081 (the host answers a case's HOSTCALL there).
#
# Exit status: number of failed cases (0 = all passed); 124 timeout; 125 no
# result (kernel panic, guest crash); 126 host-side setup error; 2 usage.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$SRC/build OUT= TIMEOUT=${BERTH_VM_TIMEOUT:-900} MEM=1024 KEEP=0
CASES=() EXTRA=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
	case $1 in
	-b|--build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
	-o|--out) OUT=$2; shift 2 ;;
	-t|--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--extra-cases) EXTRA+=("$(cd "$2" && pwd)"); shift 2 ;;
	-h|--help) usage; exit 0 ;;
	-*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) CASES+=("$1"); shift ;;
	esac
done
OUT=${OUT:-$BUILD/vm}
CACHE=${BERTH_VM_CACHE:-${HOME:-/root}/.cache/berth-vm}
MODULES="veth bridge br_netfilter overlay loop tun dummy xfs squashfs erofs fuse
 nf_tables nf_conntrack nf_nat nft_nat nft_masq nft_redir nft_chain_nat nft_ct nft_fib_inet
 nft_compat nft_reject_inet virtio_net virtio_blk virtio_pci virtio-rng"

T0=$(date +%s)
say() { echo "[vm +$(( $(date +%s) - T0 ))s] $*" >&2; }
fail_setup() { say "setup error: $*"; exit 126; }

case_known() { local d; for d in "$HERE/cases" "${EXTRA[@]}"; do [ -f "$d/$1.sh" ] && return 0; done; return 1; }
for c in "${CASES[@]}"; do
	case_known "$c" || { echo "run.sh: no case '$c' in $HERE/cases (names: $(cd "$HERE/cases" && ls *.sh | sed 's/\.sh$//' | tr '\n' ' '))" >&2; exit 2; }
done
for t in qemu-system-x86_64 busybox gzip python3; do
	command -v "$t" >/dev/null || [ -x "/bin/$t" ] || fail_setup "'$t' not found: run scripts/setup.sh --deps"
done
[ -x "$BUILD/bin/berth-testhelper" ] || fail_setup "$BUILD/bin/berth-testhelper missing: build first (cmake --build $BUILD)"
[ -x "$BUILD/tests/vm/berth-vm-poweroff" ] || fail_setup "$BUILD/tests/vm/berth-vm-poweroff missing: build first"

# ------------------------------------------------------------------ kernel
kernel_fetch() {
	local pkg
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	if [ -z "$pkg" ]; then   # package lists absent or stale
		apt-get -q -o DPkg::Lock::Timeout=600 update >&2 || true
		pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	fi
	[ -n "$pkg" ] || fail_setup "cannot resolve linux-image-cloud-amd64 to a kernel package"
	KVER=${pkg#linux-image-}
	KROOT=$CACHE/$pkg
	if [ ! -f "$KROOT/boot/vmlinuz-$KVER" ]; then
		say "downloading $pkg into $CACHE"
		mkdir -p "$CACHE"
		rm -f "$CACHE/${pkg}_"*.deb
		(cd "$CACHE" && apt-get -q -o APT::Sandbox::User=root download "$pkg") >&2 || fail_setup "apt-get download $pkg failed"
		rm -rf "$KROOT.part"
		dpkg-deb -x "$CACHE/${pkg}_"*.deb "$KROOT.part" || fail_setup "dpkg-deb -x $pkg failed"
		rm -f "$CACHE/${pkg}_"*.deb
		mv "$KROOT.part" "$KROOT"
	fi
	MODDIR=$KROOT/lib/modules/$KVER
	# the .deb has no modules.dep: its postinst would make one
	[ -f "$MODDIR/modules.dep" ] || busybox depmod -b "$KROOT" "$KVER" || fail_setup "depmod $KVER failed"
}

# ------------------------------------------------------------------ staging
STAGE=$OUT/root
# stage_elf FILE DESTDIR: a binary plus every shared library it loads, and the loader
stage_elf() {
	local f=$1 dir=$2
	install -D -m755 "$f" "$STAGE$dir/$(basename "$f")"
	stage_libs_of "$f"
}

# stage_dlopen SONAME: a library berth opens with dlopen (libcurl:
# common/curlload.h), which no program's ldd lists, and every library it loads
stage_dlopen() {
	local lib
	lib=$(PATH=/usr/sbin:/sbin:$PATH ldconfig -p | awk -v s="$1" '$1 == s && /x86-64/ { print $NF; exit }')
	[ -n "$lib" ] || fail_setup "$1 not found: run scripts/setup.sh --deps"
	install -D -m644 "$(readlink -f "$lib")" "$STAGE/lib/x86_64-linux-gnu/$1"
	stage_libs_of "$lib"
}

# stage_libs_of FILE: the shared libraries FILE loads, and the loader
stage_libs_of() {
	local f=$1 lib
	{ ldd "$f" 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' |
	while read -r lib; do
		case $lib in
		*/ld-linux*) install -D -m755 "$(readlink -f "$lib")" "$STAGE/lib64/$(basename "$lib")" ;;
		*) install -D -m644 "$(readlink -f "$lib")" "$STAGE/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
		esac
	done
}

# stage_modules MOD...: the modules and everything they depend on (modules.dep closure)
stage_modules() {
	local want paths
	want=$(echo "$@" | tr ' -' '\n_' | sed '/^$/d' | sort -u)
	paths=$(awk -v want="$want" '
		BEGIN { n = split(want, w, "\n"); for (i = 1; i <= n; i++) W[w[i]] = 1 }
		{ p = $1; sub(":$", "", p); m = p; sub(".*/", "", m); sub("\\.ko.*$", "", m); gsub("-", "_", m)
		  if (m in W) { print p; for (i = 2; i <= NF; i++) print $i; seen[m] = 1 } }
		END { for (m in W) if (!(m in seen)) print "builtin-or-missing:" m }' "$MODDIR/modules.dep" | sort -u)
	for m in $(echo "$paths" | sed -n 's/^builtin-or-missing://p'); do
		grep -q "/${m//_/[-_]}\.ko" "$MODDIR/modules.builtin" || fail_setup "kernel $KVER has no module $m"
	done
	for p in $(echo "$paths" | grep -v '^builtin-or-missing:'); do
		install -D -m644 "$MODDIR/$p" "$STAGE/lib/modules/$KVER/$p"
	done
	cp "$MODDIR"/modules.order "$MODDIR"/modules.builtin* "$STAGE/lib/modules/$KVER/"
	busybox depmod -b "$STAGE" "$KVER"
}

stage() {
	rm -rf "$STAGE"
	mkdir -p "$STAGE"/{bin,sbin,lib64,lib/x86_64-linux-gnu,etc,proc,sys,dev,run,tmp,root,berth/bin,berth/images,berth/cases}
	install -m755 "$(command -v busybox || echo /bin/busybox)" "$STAGE/bin/busybox"
	for a in $("$STAGE/bin/busybox" --list); do
		[ -e "$STAGE/bin/$a" ] || ln -s busybox "$STAGE/bin/$a"
	done
	rm -f "$STAGE/bin/ip" "$STAGE/sbin/ip"
	stage_elf "$(command -v ip || echo /sbin/ip)" /bin            # the real iproute2
	if command -v crun >/dev/null; then stage_elf "$(command -v crun)" /bin; fi   # tests/bench/start's peer
	local f
	# nft(8): the networking cases read back (and break on purpose) what berth writes
	f=$(PATH=/usr/sbin:/sbin:$PATH command -v nft) || fail_setup "nft not found: run scripts/setup.sh --deps (nftables)"
	stage_elf "$f" /bin
	# etcd (Debian's etcd-server): the cluster cases (tests/vm/cluster_lib.sh) start one
	if f=$(command -v etcd); then stage_elf "$f" /bin; fi
	# berth's own programs (dynamically linked) and static test tools
	for f in "$BUILD"/bin/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		stage_elf "$f" /berth/bin
	done
	# registry pulls and the etcd client open libcurl when they first need it
	stage_dlopen libcurl.so.4
	# test-only drivers (tests/tools): next to berth's programs in the guest
	for f in "$BUILD"/tests/tools/*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		stage_elf "$f" /berth/bin
	done
	# filesystem tools for ephemeral storage volumes
	for f in mke2fs mkfs.xfs xfs_quota xfs_io; do
		f=$(PATH=/usr/sbin:/sbin:/usr/bin:$PATH command -v "$f") || fail_setup "$f not found: run scripts/setup.sh --deps"
		rm -f "$STAGE/bin/$(basename "$f")"
		stage_elf "$f" /bin
	done
	ln -sf mke2fs "$STAGE/bin/mkfs.ext4"
	cp /etc/mke2fs.conf "$STAGE/etc/"
	install -m755 "$BUILD/tests/vm/berth-vm-poweroff" "$STAGE/bin/berth-vm-poweroff"
	if compgen -G "$BUILD/images/*.tar" >/dev/null; then
		cp "$BUILD"/images/*.tar "$STAGE/berth/images/"
		[ -f "$BUILD/images/digests.json" ] && cp "$BUILD/images/digests.json" "$STAGE/berth/images/"
	fi
	# the malicious image suite (tests/images/mkevil.py)
	if [ -f "$BUILD/images/evil/expect.txt" ]; then
		mkdir -p "$STAGE/berth/images/evil"
		cp "$BUILD"/images/evil/*.tar "$BUILD"/images/evil/expect.* "$STAGE/berth/images/evil/"
	fi
	cp "$HERE"/cases/*.sh "$STAGE/berth/cases/"
	mkdir -p "$STAGE/berth/examples"
	cp "$SRC"/examples/*.json "$STAGE/berth/examples/"
	local d
	for d in "${EXTRA[@]}"; do
		for f in "$d"/*.sh; do
			[ -e "$STAGE/berth/cases/$(basename "$f")" ] && fail_setup "extra case $f: a case of that name is staged already"
			cp "$f" "$STAGE/berth/cases/"
		done
	done
	install -m644 "$HERE/lib.sh" "$STAGE/berth/lib.sh"
	install -m644 "$HERE/cluster_lib.sh" "$STAGE/berth/cluster_lib.sh"
	install -m755 "$HERE/runner.sh" "$STAGE/berth/runner.sh"
	install -m755 "$HERE/guest/init" "$STAGE/init"
	printf 'root:x:0:0:root:/root:/bin/sh\n' > "$STAGE/etc/passwd"
	printf 'root:x:0:\n' > "$STAGE/etc/group"
	echo "$MODULES" | tr -s ' \n' ' ' > "$STAGE/berth/modules"
	stage_modules $MODULES
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ------------------------------------------------------------------ boot
mkdir -p "$OUT"
rm -f "$OUT"/console.log "$OUT"/result.txt "$OUT"/initrd.img "$OUT"/hostcalls.log "$OUT"/hostcall-*.log
kernel_fetch
say "kernel $KVER"
stage
(cd "$STAGE" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) | gzip -1 > "$OUT/initrd.img"
[ "$KEEP" = 1 ] || rm -rf "$STAGE"
say "initramfs $(du -h "$OUT/initrd.img" | cut -f1)"

HOSTPORT=$(free_port)
HOSTPORT2=$(free_port)
echo "$HOSTPORT" > "$OUT/hostport"
ONLY=$(IFS=,; echo "${CASES[*]:-}")
ACCEL=tcg,thread=multi
[ "${BERTH_VM_KVM:-0}" = 1 ] && ACCEL=kvm
CONSOLE=$OUT/console.log RESULT=$OUT/result.txt
: > "$RESULT"; : > "$CONSOLE"
QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
	-machine pc -accel "$ACCEL" -cpu max -smp 2 -m "$MEM"
	-kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$OUT/initrd.img"
	-append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic berth.only=$ONLY"
	-serial "file:$CONSOLE" -serial "file:$RESULT"
	-device virtio-rng-pci
	-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$HOSTPORT-:8080,hostfwd=tcp:127.0.0.1:$HOSTPORT2-:8081"
	-device virtio-net-pci,netdev=n0
	-device isa-debug-exit,iobase=0xf4,iosize=0x04)
say "booting (${ONLY:-all cases}; timeout ${TIMEOUT}s; 127.0.0.1:$HOSTPORT -> guest :8080, :$HOSTPORT2 -> :8081)"
timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$OUT/qemu.log" 2>&1 &
QPID=$!
cleanup() { kill "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; }
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# hostcall_answer CALL RC LOG: "HOSTCALL-DONE CALL rc=RC" and the log's last
# 60 lines to guest :8081 (a case listening there with lib.sh's hostcall)
hostcall_answer() {
	python3 - "$HOSTPORT2" "$@" <<'PY' || say "host call $1: no answer to the guest on :8081 (nothing listened there)"
import socket, sys, time
port, call, rc, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
try:
    tail = open(log, errors="replace").read().splitlines()[-60:]
except OSError:
    tail = []
msg = ("\n".join(tail) + f"\nHOSTCALL-DONE {call} rc={rc}\n").encode()
# QEMU accepts for the guest even when nothing listens there: the guest's
# listener says ACK first, so an answer is sent only to a listener
for _ in range(30):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.settimeout(5)
            if not s.recv(4).startswith(b"ACK"):
                raise OSError("no ACK")
            s.sendall(msg)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            while s.recv(1024):
                pass
            sys.exit(0)
    except OSError:
        time.sleep(1)
sys.exit(1)
PY
}

# hostcall_record N TEXT: what became of the guest's Nth HOSTCALL, in
# $OUT/hostcalls.log (ctest.sh shows a failed case the ones it made)
hostcall_record() { printf '%s\t%s\n' "$1" "$2" >> "$OUT/hostcalls.log"; }

# Follow the guest: stream its console, and serve HOSTCALL requests (a case
# asking the host to act, e.g. reach it through the hostfwd) as they appear.
served=0 shown=0
HOSTCALL_LIMIT=540   # s; the guest gives up at 600
while kill -0 "$QPID" 2>/dev/null; do
	n=$(wc -l < "$CONSOLE")
	if [ "$n" -gt "$shown" ]; then sed -n "$((shown + 1)),${n}p" "$CONSOLE" | tr -d '\r'; shown=$n; fi
	# whole lines only: a HOSTCALL line QEMU has written part of is read
	# at the next turn (taken early, its name was cut and the call lost).
	# One read of the file, judged as read: QEMU writes the serial port a
	# few bytes at a time, so asking "does it end in a newline?" and then
	# reading it again raced with its writes (a call cut that way was lost
	# and its case waited out HOSTCALL_TIMEOUT)
	snap=$(tr -d '\r' < "$RESULT"; echo .); snap=${snap%.}
	[[ $snap == *$'\n' ]] || snap=${snap%"${snap##*$'\n'}"}
	mapfile -t calls < <(printf '%s' "$snap" | sed -n 's/^HOSTCALL //p')
	while [ "$served" -lt "${#calls[@]}" ]; do
		read -r call args <<<"${calls[$served]}"; served=$((served + 1))
		if [[ $call =~ ^[a-z0-9_]+$ ]] && [ -x "$HERE/host/$call.sh" ]; then
			say "host call: $call $args"
			hc_t0=$(date +%s)
			hrc=0
			# bounded below the guest's wait (lib.sh HOSTCALL_TIMEOUT, 600 s), so
			# a call that hangs still answers, with its log's tail
			# shellcheck disable=SC2086 # args are words chosen by the case
			timeout -k 5 "$HOSTCALL_LIMIT" "$HERE/host/$call.sh" 127.0.0.1 "$HOSTPORT" $args \
				>"$OUT/hostcall-$call.log" 2>&1 || hrc=$?
			[ "$hrc" != 124 ] || echo "host call $call: killed after ${HOSTCALL_LIMIT}s" >> "$OUT/hostcall-$call.log"
			[ "$hrc" = 0 ] || say "host call $call exited $hrc: $(tail -n 3 "$OUT/hostcall-$call.log")"
			hostcall_record "$served" "$call: exit $hrc after $(( $(date +%s) - hc_t0 ))s"
			# the answer, for a case waiting on guest :8081 (lib.sh hostcall)
			hostcall_answer "$call" "$hrc" "$OUT/hostcall-$call.log" &
		else
			say "guest asked for unknown host call '$call'"
			hostcall_record "$served" "unknown call '$call'"
			# answered all the same, so the case fails now and says why
			echo "the host has no call '$call' (tests/vm/host/$call.sh)" > "$OUT/hostcall-unknown.log"
			hostcall_answer "$call" 127 "$OUT/hostcall-unknown.log" &
		fi
	done
	sleep 0.3
done
set +e; wait "$QPID"; qrc=$?; set -e
# host-call answers still trying to reach a guest that is gone
for j in $(jobs -p); do kill "$j" 2>/dev/null || true; done
trap - EXIT INT TERM
tr -d '\r' < "$CONSOLE" | sed -n "$((shown + 1)),\$p"

line=$(tr -d '\r' < "$RESULT" | grep -m1 '^VMTEST-RESULT ' || true)
if [ -z "$line" ]; then
	if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then say "TIMEOUT: no result after ${TIMEOUT}s"; rc=124
	else say "no VMTEST-RESULT from the guest (qemu status $qrc): kernel panic or crash?"; rc=125; fi
	say "last console lines:"; tail -n 40 "$CONSOLE" | tr -d '\r' | sed 's/^/    /' >&2
	[ -s "$OUT/qemu.log" ] && { say "qemu said:"; sed 's/^/    /' "$OUT/qemu.log" >&2; }
	exit $rc
fi
rc=${line#*rc=}; rc=${rc%% *}
passed=$(grep -c '^TEST PASS ' "$RESULT" || true)
failed=$(grep -c '^TEST FAIL ' "$RESULT" || true)
grep '^TEST FAIL ' "$RESULT" | tr -d '\r' >&2 || true
say "guest: $passed passed, $failed failed (qemu status $qrc)"
exit "$rc"
