# bench_start: start time of `berth run` against `crun run` (issue 4), and
# where berth's time goes. A VM case body: tests/bench/start/run.sh puts a
# generated prelude in front of it (BENCH_RUNS, BENCH_WARMUP, BENCH_PAUSE_MS,
# BENCH_SETTLE_MS, and $BERTH_SCRATCH/seccomp.json = berth's seccomp policy
# as OCI JSON, made by oci_seccomp.py: the guest has no python) and runs it
# with tests/vm/run.sh --extra-cases. Not a test: it fails only when
# something cannot run at all.
#
# The task: one container of berth-test/helper running `berth-testhelper
# exit 0`, networkMode none, EC2, task cpu 256 / memory 512, tmpfs storage.
# The crun bundle: the same image mounted with `berth image mount --rw`, the
# same process, namespaces (mount pid uts ipc cgroup net), capabilities
# (Docker's 14), no_new_privs, nofile 65535, mounts, masked and read-only
# paths, /etc/hosts|resolv.conf|hostname binds, seccomp policy, device
# filter and cgroup limits. tests/bench/README.md lists what still differs.
# timeout: 3600
: "${BENCH_RUNS:=30}" "${BENCH_WARMUP:=2}" "${BENCH_PAUSE_MS:=1000}" "${BENCH_SETTLE_MS:=2000}"
S=$BERTH_SCRATCH
B=$BERTH_BIN/berth
T=$BERTH_BIN/berth-bench-time
LT=$BERTH_BIN/berth-launch-tool
HOSTID=0123456789ab

command -v crun >/dev/null || die "crun is not in the guest: install it on the host (apt-get install crun; scripts/setup.sh --deps) so tests/vm/run.sh stages it"
[ -x "$T" ] || die "$T missing: build the berth-bench-time target"
[ -x "$LT" ] || die "$LT missing: build the berth-launch-tool target"
[ -s "$S/seccomp.json" ] || die "no $S/seccomp.json: run this through tests/bench/start/run.sh"
say "guest: $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu, $(crun --version | head -n1), runs=$BENCH_RUNS warmup=$BENCH_WARMUP pause=${BENCH_PAUSE_MS}ms settle<=${BENCH_SETTLE_MS}ms"

# ---------------------------------------------------------------- berth side
ext4_dir "$S/state" 512
"$B" --root "$S/state" image import "$BERTH_IMAGES/helper.oci.tar" >/dev/null || die "import helper.oci.tar"
RUN_CG=$BERTH_CGROUP/berth-bench.berth
on_exit "rmdir '$RUN_CG'"
mkdir -p "$S/run" "$S/logs" "$S/out"

task() { # FILE COMMAND-JSON
	cat > "$1" <<JSON
{
  "family": "bench-true",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    { "name": "app", "image": "berth-test/helper:latest", "essential": true,
      "command": $2 }
  ]
}
JSON
}
task "$S/task.json" '["exit", "0"]'
BR="$B --root $S/state run --cgroup-root $RUN_CG --run-dir $S/run --log-dir $S/logs --launch-type EC2"

# ----------------------------------------------------------------- crun side
# the files berth bind-mounts into a container, made the same way
mkdir -p "$S/etc"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$S/etc/hosts"
cat /etc/resolv.conf > "$S/etc/resolv.conf" 2>/dev/null || : > "$S/etc/resolv.conf"
echo "$HOSTID" > "$S/etc/hostname"

mkdir -p "$S/bundle/rootfs"
"$B" --root "$S/state" image mount --rw "$S/crun-rw" berth-test/helper "$S/bundle/rootfs" >/dev/null ||
	die "berth image mount for the crun bundle"
on_exit "'$B' --root '$S/state' image umount '$S/bundle/rootfs'"
CRUN="crun --cgroup-manager=cgroupfs --root=$S/crun-state"
CRUN_CG=$BERTH_CGROUP/berth-bench.crun
on_exit "rmdir '$CRUN_CG'"
on_exit "$CRUN delete -f bench"

# crun_config BUNDLE ARGS-JSON [noseccomp]: BUNDLE/config.json for a process
# with argv ARGS-JSON, set up as berth sets up the task's container (rootfs:
# the bundle above)
crun_config() {
	mkdir -p "$1"
	if [ "${3-}" = noseccomp ]; then _sc=; else _sc=",
    \"seccomp\": $(cat "$S/seccomp.json")"; fi
	_caps='"CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"'
	_nosuid='"nosuid","noexec","nodev"'
	cat > "$1/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": $2,
    "env": [ "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "BERTH_IMAGE=helper", "HOSTNAME=$HOSTID" ],
    "cwd": "/srv",
    "capabilities": { "bounding": [$_caps], "effective": [$_caps], "permitted": [$_caps] },
    "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 65535, "soft": 65535 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "$S/bundle/rootfs", "readonly": false },
  "hostname": "$HOSTID",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc", "options": [$_nosuid] },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [$_nosuid, "mode=1777", "size=67108864"] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": [$_nosuid] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [$_nosuid, "ro"] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": [$_nosuid, "ro"] },
    { "destination": "/etc/hosts", "type": "bind", "source": "$S/etc/hosts", "options": ["rbind", "rprivate"] },
    { "destination": "/etc/resolv.conf", "type": "bind", "source": "$S/etc/resolv.conf", "options": ["rbind", "rprivate"] },
    { "destination": "/etc/hostname", "type": "bind", "source": "$S/etc/hostname", "options": ["rbind", "rprivate"] }
  ],
  "linux": {
    "cgroupsPath": "/berth-bench.crun/bench",
    "resources": {
      "devices": [
        { "allow": false, "access": "rwm" },
        { "allow": true, "type": "c", "access": "m" },
        { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm" },
        { "allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm" },
        { "allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm" },
        { "allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm" },
        { "allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm" },
        { "allow": true, "type": "c", "major": 136, "access": "rwm" },
        { "allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm" }
      ],
      "memory": { "limit": 536870912, "swap": 536870912 },
      "cpu": { "quota": 25000, "period": 100000 },
      "pids": { "limit": 16384 }
    },
    "namespaces": [ { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                    { "type": "uts" }, { "type": "mount" }, { "type": "cgroup" } ],
    "maskedPaths": [ "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
      "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
      "/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware" ],
    "readonlyPaths": [ "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger" ]$_sc
  }
}
JSON
}

# ------------------------------------------------ the launcher alone (no supervisor)
mkdir -p "$S/lt-rootfs"
"$B" --root "$S/state" image mount --rw "$S/lt-rw" berth-test/helper "$S/lt-rootfs" >/dev/null ||
	die "berth image mount for berth-launch-tool"
on_exit "'$B' --root '$S/state' image umount '$S/lt-rootfs'"
touch "$S/lt-rootfs/etc/hosts" "$S/lt-rootfs/etc/resolv.conf" "$S/lt-rootfs/etc/hostname"
LTCG=$(cg_make lt)
echo "25000 100000" > "$LTCG/cpu.max"
echo 536870912 > "$LTCG/memory.max"
echo 0 > "$LTCG/memory.swap.max"
echo 16384 > "$LTCG/pids.max"
LTC="$LT --rootfs $S/lt-rootfs --cgroup $LTCG --hostname $HOSTID --cwd /srv --env BERTH_IMAGE=helper"
LTC="$LTC --bind $S/etc/hosts:/etc/hosts --bind $S/etc/resolv.conf:/etc/resolv.conf"
LTC="$LTC --bind $S/etc/hostname:/etc/hostname"

# ------------------------------------------------------------ same setup?
# The helper's `escape --all` (every attempt: mounts, unshare, keyctl, bpf,
# ptrace, /proc writes, mknod, ...) and `info` (capabilities, no_new_privs,
# seccomp mode, nofile, mounts) in all three; differences are printed.
say "--- equivalence check (berth-testhelper escape --all / info in each runtime)"
for what in escape info; do
	if [ $what = escape ]; then args='["escape", "--all"]'; else args='["info"]'; fi
	task "$S/task-$what.json" "$args"
	$BR --storage tmpfs "$S/task-$what.json" 2>"$S/$what.berth.err" | sed -n 's/^app | //p' > "$S/$what.berth"
	crun_config "$S/bundle" "[\"/usr/bin/berth-testhelper\", $(echo "$args" | sed 's/^\[//; s/\]$//')]"
	$CRUN run --bundle "$S/bundle" bench > "$S/$what.crun" 2>"$S/$what.crun.err"
	# shellcheck disable=SC2086,SC2046 # LTC and the arguments are words
	$LTC -- /usr/bin/berth-testhelper $(echo "$args" | tr -d '[],"') > "$S/$what.lt" 2>"$S/$what.lt.err"
	for r in berth crun lt; do
		[ -s "$S/$what.$r" ] || { cat "$S/$what.$r.err"; die "$r: no output from berth-testhelper $what"; }
	done
done
# escape: NAME -> result; the same in the three?
for r in berth crun lt; do
	sed -n 's/.*"escape":"\([^"]*\)","result":"\([^"]*\)".*/\1 \2/p' "$S/escape.$r" | sort > "$S/esc.$r"
done
n_esc=$(wc -l < "$S/esc.berth")
[ "$n_esc" -gt 10 ] || die "escape --all under berth gave $n_esc results: $(head -c 400 "$S/escape.berth")"
awk -v n="$n_esc" '
	FILENAME ~ /berth$/ { R[$1] = $2 "" } FILENAME ~ /crun$/ { C[$1] = $2 } FILENAME ~ /lt$/ { L[$1] = $2 }
	END {
		for (e in R) if (R[e] != C[e] || R[e] != L[e]) {
			printf "  escape %-22s berth=%s crun=%s launch-tool=%s\n", e, R[e], C[e], L[e]; d++ }
		printf "  escape --all: %d attempts, %d with different results\n", n, d + 0
	}' "$S/esc.berth" "$S/esc.crun" "$S/esc.lt"
grep ' allowed' "$S/esc.berth" | sed 's/^/  allowed under berth: /'
for r in berth crun lt; do
	i=$(cat "$S/info.$r")
	printf '  %-5s %s %s %s %s\n' "$r" "$(echo "$i" | grep -o '"bounding":"[0-9a-f]*"')" \
		"$(echo "$i" | grep -o '"no_new_privs":[a-z]*')" "$(echo "$i" | grep -o '"seccomp":[0-9]*')" \
		"$(echo "$i" | grep -o '"nofile":\[[^]]*\]')"
	echo "$i" | grep -o '"target":"[^"]*","fstype":"[^"]*"' | sed 's/"target":"\([^"]*\)","fstype":"\([^"]*\)"/\1(\2)/' |
		sort | tr '\n' ' ' > "$S/mnt.$r"
done
for r in crun lt; do
	if cmp -s "$S/mnt.berth" "$S/mnt.$r"; then
		say "  mounts: $r = berth ($(wc -w < "$S/mnt.berth") mounts)"
	else
		say "  mounts: berth: $(cat "$S/mnt.berth")"
		say "  mounts: $r:    $(cat "$S/mnt.$r")"
	fi
done

# ---------------------------------------------------------------- the runs
crun_config "$S/bundle" '["/usr/bin/berth-testhelper", "exit", "0"]'
crun_config "$S/bundle-noseccomp" '["/usr/bin/berth-testhelper", "exit", "0"]' noseccomp
# run LOOP NAME=CMD...: berth-bench-time over the commands, in turn
run() {
	_loop=$1; shift
	say "--- $_loop: $BENCH_RUNS runs each after $BENCH_WARMUP warm-up rounds, in turn, each $BENCH_PAUSE_MS ms after the last and on an idle guest"
	"$T" -n "$BENCH_RUNS" -w "$BENCH_WARMUP" -p "$BENCH_PAUSE_MS" -s "$BENCH_SETTLE_MS" -l "$S/out" \
		-r "$S/raw-$_loop.txt" -m "running bench-true" -m "started (pid" -m "exited with code" "$@" > "$S/times-$_loop.txt" ||
		die "a run failed (above)"
	sed 's/^/  | /' "$S/times-$_loop.txt"
	sed "s/^/RAW $_loop /" "$S/raw-$_loop.txt"      # run.sh keeps them in OUT_DIR/raw.txt
}
# 1. the comparison: berth, crun, berth, crun, ...
run ab "berth=$BR -q --storage tmpfs $S/task.json" "crun=$CRUN run --bundle $S/bundle bench"
# 2. where the time goes: variants, each round in this order
run variants "berth=$BR -q --storage tmpfs $S/task.json" \
	"berth-nolimits=$BR -q --storage tmpfs --no-limits $S/task.json" \
	"berth-loop=$BR -q --storage loop $S/task.json" \
	"launch-tool=$LTC -- /usr/bin/berth-testhelper exit 0" \
	"launch-tool-noseccomp=$LTC --no-seccomp -- /usr/bin/berth-testhelper exit 0" \
	"berth-run-help=$B run --help" \
	"berth-version=$B version" \
	"crun=$CRUN run --bundle $S/bundle bench" \
	"crun-noseccomp=$CRUN run --bundle $S/bundle-noseccomp bench" \
	"crun-version=crun --version"
say "  seccomp caches: berth $(ls "$S/state/cache/seccomp" 2>/dev/null | wc -l) file(s); crun state dir: $(ls -A "$S/crun-state" 2>/dev/null | tr '\n' ' ')"

# ------------------------------------------------------------------ report
# From the raw runs (NAME ROUND WALL_NS CPU_NS MARK1 MARK2 MARK3; the names of
# the first loop get "ab:"). The guest shares a loaded host, so single runs
# stray far (see p90): differences and ratios are taken per round (the runs
# of a round are seconds apart), then their median, which cancels slow
# drifts; phases come from the status line times within each run.
awk -v runs="$BENCH_RUNS" '
	function sort_(a, n,    i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	}
	function med(a, n) { sort_(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	function pct(a, n, q,    k) { sort_(a, n); k = int((n * q + 99) / 100); return a[k < 1 ? 1 : k] }
	# X[1..runs] = one value per round: wall or cpu of a; a - b or a / b
	# (walls of the same round); span b of the run of a (0: start .. mark 1,
	# 1: mark 1 .. 2, 2: mark 2 .. 3, 3: mark 3 .. end); mark 1 of a - wall of b
	function fill(kind, a, b,    r) {
		for (r = 0; r < runs; r++) {
			if (kind == "wall") X[r + 1] = W[a, r]
			else if (kind == "cpu") X[r + 1] = C[a, r]
			else if (kind == "diff") X[r + 1] = W[a, r] - W[b, r]
			else if (kind == "ratio") X[r + 1] = W[a, r] / W[b, r]
			else if (kind == "span") X[r + 1] = (b == 3 ? W[a, r] : M[a, b + 1, r]) - (b == 0 ? 0 : M[a, b, r])
			else if (kind == "setup") X[r + 1] = M[a, 1, r] - W[b, r]
		}
	}
	function m(kind, a, b) { fill(kind, a, b); return med(X, runs) }
	function p(kind, a, q) { fill(kind, a, ""); return pct(X, runs, q) }
	function row(text, v) { printf "RESULT   %-58s %8.1f\n", text, v }
	function table(names,    L, n, i, shown) {
		printf "RESULT   %-24s %9s %9s %9s %9s\n", "", "median", "p10", "p90", "cpu"
		n = split(names, L, " ")
		for (i = 1; i <= n; i++) {
			shown = L[i]; sub(/^ab:/, "", shown)
			printf "RESULT   %-24s %9.1f %9.1f %9.1f %9.1f\n", shown, m("wall", L[i]), p("wall", L[i], 10), p("wall", L[i], 90), m("cpu", L[i])
		}
	}
	{
		name = (FILENAME ~ /raw-ab/ ? "ab:" : "") $1
		W[name, $2] = $3 / 1e6; C[name, $2] = $4 / 1e6
		for (k = 1; k <= 3; k++) { M[name, k, $2] = $(4 + k) / 1e6; if ($(4 + k) < 0 && $1 ~ /^berth($|-nolimits|-loop)/) miss++ }
	}
	END {
		printf "RESULT berth run vs crun run: wall time per task, %d runs each, alternating\n", runs
		printf "RESULT (ms; TCG guest: absolute times are inflated, compare ratios)\n"
		table("ab:berth ab:crun")
		r = m("ratio", "ab:berth", "ab:crun")
		printf "RESULT berth/crun: %.2f (median of the per-round ratios; ratio of the medians %.2f, of the p10s %.2f)\n", r,
			m("wall", "ab:berth") / m("wall", "ab:crun"), p("wall", "ab:berth", 10) / p("wall", "ab:crun", 10)
		printf "RESULT goal berth/crun <= 1.00: %s\n", r <= 1.0 ? "met" : "NOT met"
		printf "RESULT\nRESULT variants, %d runs each, in turn (ms):\n", runs
		table("berth berth-nolimits berth-loop launch-tool launch-tool-noseccomp berth-run-help berth-version crun crun-noseccomp crun-version")
		printf "RESULT   (berth/crun in this loop: %.2f)\n", m("ratio", "berth", "crun")
		printf "RESULT\nRESULT where the time of berth run goes (ms, medians of per-run values; \"...\" = berth status lines)\n"
		printf "RESULT   %-46s %10s %12s %14s\n", "", "berth", "--no-limits", "--storage loop"
		split("start .. \"running\": exec, setup|\"running\" .. \"started\": launch|\"started\" .. \"exited\": container runs|\"exited\" .. end: teardown, exit", P, "|")
		for (k = 0; k <= 3; k++)
			printf "RESULT   %-46s %10.1f %12.1f %14.1f\n", P[k + 1], m("span", "berth", k), m("span", "berth-nolimits", k), m("span", "berth-loop", k)
		printf "RESULT   %-46s %10.1f %12.1f %14.1f\n", "total", m("wall", "berth"), m("wall", "berth-nolimits"), m("wall", "berth-loop")
		if (miss) printf "RESULT   (a status line was missing in %d runs: those spans are wrong)\n", miss
		printf "RESULT\nRESULT start .. \"running\" of berth, split (medians of per-round differences, ms):\n"
		row("exec of the berth binary (berth version)", m("wall", "berth-version"))
		row("argument parsing of run (berth run --help - berth version)", m("diff", "berth-run-help", "berth-version"))
		row("setup: parse, store, mount ns, storage, netns, cgroups,", m("setup", "berth", "berth-run-help"))
		printf "RESULT   %-58s\n", "  overlay, /etc files, spec, seccomp (\"running\" - run --help)"
		printf "RESULT differences (medians of per-round differences, ms):\n"
		row("cgroups: task + leaf, limits, removal (berth - --no-limits)", m("diff", "berth", "berth-nolimits"))
		row("loop storage: mkfs, loop, mount (--storage loop - tmpfs)", m("diff", "berth-loop", "berth"))
		row("launch-tool: seccomp compile + load (- its --no-seccomp)", m("diff", "launch-tool", "launch-tool-noseccomp"))
		row("supervisor over the launcher (berth - launch-tool)", m("diff", "berth", "launch-tool"))
		row("  against the launcher without seccomp (berth - launch-tool", m("diff", "berth", "launch-tool-noseccomp"))
		printf "RESULT   %-58s\n", "  --no-seccomp; berth loads its filter from its disk cache)"
		row("crun: seccomp compile + load (- crun without seccomp)", m("diff", "crun", "crun-noseccomp"))
		row("crun: exec of the crun binary (crun --version)", m("wall", "crun-version"))
	}
' "$S/raw-ab.txt" "$S/raw-variants.txt" > "$S/report.txt"
for l in ab variants; do sed -n "s/^settle: /RESULT settle, $l loop: /p" "$S/times-$l.txt"; done >> "$S/report.txt"
cat "$S/report.txt"
