#!/usr/bin/env bash
# tests/bench/netns/run.sh - per-task network setup and teardown: berth's
# in-process netlink (netns/ns.c, netns/nl.c) against Debian's CNI plugins
# (containernetworking-plugins: bridge + host-local IPAM) (issue 6).
#
#   tests/bench/netns/run.sh [-b BUILD_DIR] [-n COUNT] [-k BLOCKS]
#
# Runs as root, on the host, but only inside a network and mount namespace
# it makes itself (it re-executes itself under `unshare --net --mount
# --propagation private` and mounts private tmpfs on /run/netns - or on /run
# when the host has no /run/netns - on /var/lib/cni when that exists, and on
# its work directory): the host's links, routes and mounts are not touched.
#
# COUNT tasks (default 200) per side, in BLOCKS blocks (default 4) that
# alternate the order (berth then CNI, CNI then berth, ...) so that machine
# noise hits both; one warm-up block of 2 tasks each first (makes the bridges,
# pages the binaries in; not counted).
#   berth: `berth-netns-tool bench` (tests/tools/netns_tool.c), one process
#     per block: bridge bbr0 (10.98.0.0/16), then per task, in-process and
#     timed by the tool: netns create + bind mount + lo up, veth pair with
#     eth0 inside and the host end an isolated port on the bridge, address,
#     up, default route; then per task netns_ns_destroy (umount + unlink; the
#     kernel removes the netns and its veth afterwards, in batches: the tool
#     waits for that and reports it as veth_gone_ms, from the last destroy
#     until the bridge has no port left). The tool prints percentiles per
#     block: berth's p50 below is the median of the blocks' p50s, its p99 the
#     largest of the blocks' p99s; its mean is exact.
#   CNI: per task `ip netns add`, the loopback plugin (lo up, as berth does;
#     a CRI runtime runs it for every pod), the bridge plugin ADD (bridge cni0,
#     isGateway, host-local 10.99.0.0/16 with a default route, as berth);
#     then per task the bridge plugin DEL (deletes the veth, synchronously) and
#     `ip netns del`. Each command is timed alone from bash (EPOCHREALTIME
#     around it: includes bash's fork+exec of the binary, which any runtime
#     pays to run a plugin). Also timed per task, in the setup loop and not
#     counted in any sum: the bridge plugin with CNI_COMMAND=VERSION, which
#     does no work: the cost of spawning the plugin and starting Go.
# Prints per-task p50, p99, mean and total of each part, the ratios
# "setup: CNI/berth" (the bridge ADD alone against berth's whole setup: the
# figure most favourable to CNI; goal >= 5) and "teardown: CNI/berth", and
# checks that neither side left anything (nsfs mounts, files in the netns
# directories, veths, bridge ports, host-local reservations): exits 1 if
# something is left. Never fails on a time. Not part of ctest.
#
# Needs: root, unshare, ip (iproute2), /usr/lib/cni/{bridge,loopback,host-local}
# (apt-get install containernetworking-plugins; scripts/setup.sh --deps), and
# berth-netns-tool (cmake --build BUILD_DIR --target berth-netns-tool; built
# here when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../../.." && pwd)
build=${BERTH_BUILD:-$src/build}
count=200
blocks=4
cni=/usr/lib/cni

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }

while getopts "b:n:k:h" opt; do
	case $opt in
	b) build=$OPTARG ;;
	n) count=$OPTARG ;;
	k) blocks=$OPTARG ;;
	*) usage ;;
	esac
done
[[ $count =~ ^[1-9][0-9]*$ && $blocks =~ ^[1-9][0-9]*$ ]] || usage
((blocks <= count)) || { echo "run.sh: more blocks ($blocks) than tasks ($count)" >&2; exit 2; }
tool=$build/tests/tools/berth-netns-tool

# =============================================================== outside
if [ -z "${BERTH_BENCH_NETNS_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespaces, veths, mounts)" >&2; exit 1; }
	for p in bridge loopback host-local; do
		[ -x "$cni/$p" ] || { echo "run.sh: $cni/$p missing (apt-get install containernetworking-plugins)" >&2; exit 1; }
	done
	for c in unshare ip; do
		command -v $c >/dev/null || { echo "run.sh: needs $c" >&2; exit 1; }
	done
	if [ ! -x "$tool" ]; then
		echo "building berth-netns-tool in $build" >&2
		cmake --build "$build" --target berth-netns-tool -j2 >&2
	fi
	had_cni_dir=0
	[ -e /var/lib/cni ] && had_cni_dir=1
	work=$(mktemp -d /tmp/berth-bench-netns.XXXXXX)
	trap 'rmdir "$work" 2>/dev/null || rm -rf "$work"' EXIT
	rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git -C "$src" status --porcelain -- netns tests/tools/netns_tool.c 2>/dev/null)" ]; then
		rev="$rev (netns/ or the tool modified)"
	fi
	plugins=$(dpkg-query -W -f '${Version}' containernetworking-plugins 2>/dev/null || echo '?')
	echo "== tests/bench/netns: $(date -u +%F), berth $rev, containernetworking-plugins $plugins," \
	     "kernel $(uname -r), $(nproc) cpu (load $(cut -d' ' -f1-3 /proc/loadavg))"
	rc=0
	BERTH_BENCH_NETNS_INNER=$work unshare --net --mount --propagation private \
		bash "$0" -b "$build" -n "$count" -k "$blocks" || rc=$?
	# the private namespaces are gone with the child; the host must not
	# have gained anything (the tmpfs covered what was written)
	if [ "$had_cni_dir" = 0 ] && [ -e /var/lib/cni ]; then
		echo "LEFTOVER on the host: /var/lib/cni appeared" >&2
		rc=1
	fi
	if [ -n "$(ls -A "$work")" ]; then
		echo "LEFTOVER on the host: files in $work" >&2
		rc=1
	fi
	exit "$rc"
fi

# =============================================================== inside
work=$BERTH_BENCH_NETNS_INNER
links=$(ip -o link show | awk -F': ' '{print $2}' | tr '\n' ' ')
if [ "$links" != "lo " ]; then
	echo "run.sh: not in a fresh network namespace (links: $links)" >&2
	exit 1
fi
mount -t tmpfs -o mode=0700 bench-netns "$work"
if [ -d /run/netns ]; then
	mount -t tmpfs -o mode=0755 bench-netns /run/netns
else
	mount -t tmpfs -o mode=0755 bench-run /run    # private: /run/netns must not appear on the host
	mkdir /run/netns
fi
[ ! -d /var/lib/cni ] || mount -t tmpfs -o mode=0755 bench-cni /var/lib/cni
mkdir "$work/berth" "$work/ipam" "$work/raw"
raw=$work/raw

cat > "$work/bridge.json" <<EOF
{"cniVersion":"1.0.0","name":"benchnet","type":"bridge","bridge":"cni0","isGateway":true,
 "ipMasq":false,"ipam":{"type":"host-local","subnet":"10.99.0.0/16",
 "routes":[{"dst":"0.0.0.0/0"}],"dataDir":"$work/ipam"}}
EOF
cat > "$work/lo.json" <<'EOF'
{"cniVersion":"1.0.0","name":"benchlo","type":"loopback"}
EOF

now_us() { local t=$EPOCHREALTIME; echo "${t/./}"; }

die_cmd() {
	echo "run.sh: $1 failed:" >&2
	cat "$work/out" "$work/err" >&2
	exit 1
}

# cni_block TAG N: N tasks through the CNI plugins; appends microseconds per
# task to $raw/{nsadd,lo,add,del,nsdel}.TAG
cni_block() {
	local tag=$1 n=$2 i t0 t1 t2 t3 t4 id
	for ((i = 0; i < n; i++)); do
		id=bench-$tag-$i
		t0=${EPOCHREALTIME/./}
		ip netns add "$id" >"$work/out" 2>"$work/err" || die_cmd "ip netns add $id"
		t1=${EPOCHREALTIME/./}
		CNI_COMMAND=ADD CNI_CONTAINERID=$id CNI_NETNS=/run/netns/$id CNI_IFNAME=lo \
			CNI_PATH=$cni "$cni/loopback" <"$work/lo.json" >"$work/out" 2>"$work/err" ||
			die_cmd "loopback ADD $id"
		t2=${EPOCHREALTIME/./}
		CNI_COMMAND=ADD CNI_CONTAINERID=$id CNI_NETNS=/run/netns/$id CNI_IFNAME=eth0 \
			CNI_PATH=$cni "$cni/bridge" <"$work/bridge.json" >"$work/out" 2>"$work/err" ||
			die_cmd "bridge ADD $id"
		t3=${EPOCHREALTIME/./}
		CNI_COMMAND=VERSION "$cni/bridge" </dev/null >"$work/out" 2>"$work/err" ||
			die_cmd "bridge VERSION"
		t4=${EPOCHREALTIME/./}
		echo $((t1 - t0)) >>"$raw/nsadd.$tag"
		echo $((t4 - t3)) >>"$raw/version.$tag"
		echo $((t2 - t1)) >>"$raw/lo.$tag"
		echo $((t3 - t2)) >>"$raw/add.$tag"
	done
	for ((i = 0; i < n; i++)); do
		id=bench-$tag-$i
		t0=${EPOCHREALTIME/./}
		CNI_COMMAND=DEL CNI_CONTAINERID=$id CNI_NETNS=/run/netns/$id CNI_IFNAME=eth0 \
			CNI_PATH=$cni "$cni/bridge" <"$work/bridge.json" >"$work/out" 2>"$work/err" ||
			die_cmd "bridge DEL $id"
		t1=${EPOCHREALTIME/./}
		ip netns del "$id" >"$work/out" 2>"$work/err" || die_cmd "ip netns del $id"
		t2=${EPOCHREALTIME/./}
		echo $((t1 - t0)) >>"$raw/del.$tag"
		echo $((t2 - t1)) >>"$raw/nsdel.$tag"
	done
	# DEL removed the veths synchronously: nothing may be left on cni0
	t0=$(ip -o link show master cni0 2>/dev/null | wc -l)
	[ "$t0" = 0 ] || { echo "run.sh: $t0 ports left on cni0 after the DELs" >&2; exit 1; }
}

# json_num KEY: the number after "KEY": in $work/out
json_num() { grep -o "\"$1\":[0-9.]*" "$work/out" | cut -d: -f2; }

# berth_block TAG N: one berth-netns-tool bench run; appends "KEY VALUE" lines
# to $raw/berth.TAG
berth_block() {
	local tag=$1 n=$2 t0 t1 k
	t0=$(now_us)
	"$tool" bench --count "$n" --dir "$work/berth" --bridge bbr0 --subnet 10.98.0.0/16 \
		>"$work/out" 2>"$work/err" || die_cmd "berth-netns-tool bench --count $n"
	t1=$(now_us)
	for k in count setup_ms_total setup_us_p50 setup_us_p99 teardown_ms_total \
		 teardown_us_p50 veth_gone_ms; do
		local v
		v=$(json_num "$k")
		[ -n "$v" ] || die_cmd "berth-netns-tool output (no $k)"
		echo "$k $v" >>"$raw/berth.$tag"
	done
	echo "process_ms $(((t1 - t0) / 1000))" >>"$raw/berth.$tag"
	[ "$(json_num count)" = "$n" ] || die_cmd "berth-netns-tool output (count)"
}

echo "warm-up: 2 tasks each (not counted)" >&2
berth_block warm 2
cni_block warm 2

per=$((count / blocks))
extra=$((count % blocks))
for ((b = 0; b < blocks; b++)); do
	n=$per
	((b >= extra)) || n=$((n + 1))
	if ((b % 2 == 0)); then
		echo "block $((b + 1))/$blocks: berth $n, then CNI $n" >&2
		berth_block "$b" "$n"
		cni_block "$b" "$n"
	else
		echo "block $((b + 1))/$blocks: CNI $n, then berth $n" >&2
		cni_block "$b" "$n"
		berth_block "$b" "$n"
	fi
done

# ------------------------------------------------------------ statistics
# The tool prints its percentiles per block, so both sides are reduced the
# same way: p50 = the median of the blocks' p50s, p99 = the largest of the
# blocks' p99s (nearest rank, as the tool computes them: with blocks of 100
# tasks or fewer, a block's p99 is its maximum); mean and total are exact.
#
# cni_stats A [B...]: "p50 p99 mean total" in ms of the per-task sums of the
# series A, B, ... ($raw/A.BLOCK, microseconds, one line per task)
cni_stats() {
	local b s files
	for ((b = 0; b < blocks; b++)); do
		files=()
		for s in "$@"; do files+=("$raw/$s.$b"); done
		paste -d' ' "${files[@]}" |
			awk '{t = 0; for (i = 1; i <= NF; i++) t += $i; print t}' | sort -n |
			awk '{a[NR] = $1; s += $1}
			     END {print a[int((NR * 50 + 99) / 100)], a[int((NR * 99 + 99) / 100)], s, NR}'
	done | sort -n -k1,1 |
		awk '{p50[NR] = $1; if ($2 > p99) p99 = $2; s += $3; n += $4}
		     END {printf "%.3f %.3f %.3f %.1f\n", p50[int((NR + 1) / 2)] / 1e3,
			  p99 / 1e3, s / n / 1e3, s / 1e3}'
}
# series NAME: the lines of $raw/NAME.BLOCK over the counted blocks, in order
series() {
	local b
	for ((b = 0; b < blocks; b++)); do cat "$raw/$1.$b"; done
}
# berth_field KEY: the values of KEY over the counted blocks
berth_field() { series berth | awk -v k="$1" '$1 == k {print $2}'; }
med() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
maxv() { sort -g | tail -n 1; }
sumv() { awk '{s += $1} END {printf "%.1f\n", s}'; }

b_setup_total=$(berth_field setup_ms_total | sumv)
b_setup_p50=$(berth_field setup_us_p50 | med | awk '{printf "%.3f", $1 / 1e3}')
b_setup_p99=$(berth_field setup_us_p99 | maxv | awk '{printf "%.3f", $1 / 1e3}')
b_setup_mean=$(awk -v t="$b_setup_total" -v n="$count" 'BEGIN {printf "%.3f", t / n}')
b_td_total=$(berth_field teardown_ms_total | sumv)
b_td_p50=$(berth_field teardown_us_p50 | med | awk '{printf "%.3f", $1 / 1e3}')
b_td_mean=$(awk -v t="$b_td_total" -v n="$count" 'BEGIN {printf "%.3f", t / n}')
b_gone=$(berth_field veth_gone_ms | paste -sd' ')
b_proc=$(berth_field process_ms | paste -sd' ')

read -r c_nsadd_p50 c_nsadd_p99 c_nsadd_mean c_nsadd_total < <(cni_stats nsadd)
read -r c_lo_p50 c_lo_p99 c_lo_mean c_lo_total < <(cni_stats lo)
read -r c_add_p50 c_add_p99 c_add_mean c_add_total < <(cni_stats add)
read -r c_ver_p50 c_ver_p99 c_ver_mean c_ver_total < <(cni_stats version)
read -r c_setup_p50 c_setup_p99 c_setup_mean c_setup_total < <(cni_stats nsadd lo add)
read -r c_del_p50 c_del_p99 c_del_mean c_del_total < <(cni_stats del)
read -r c_nsdel_p50 c_nsdel_p99 c_nsdel_mean c_nsdel_total < <(cni_stats nsdel)
read -r c_td_p50 c_td_p99 c_td_mean c_td_total < <(cni_stats del nsdel)

row() { printf '  %-50s %8s %8s %8s %9s\n' "$@"; }
echo "per task, $count tasks each side in $blocks alternating blocks (ms; total = sum over the tasks)"
row "" p50 p99 mean total
echo " setup"
row "berth: netns + bind + lo + veth + addr + route" "$b_setup_p50" "$b_setup_p99" "$b_setup_mean" "$b_setup_total"
row "CNI: ip netns add" "$c_nsadd_p50" "$c_nsadd_p99" "$c_nsadd_mean" "$c_nsadd_total"
row "CNI: loopback plugin ADD (lo up)" "$c_lo_p50" "$c_lo_p99" "$c_lo_mean" "$c_lo_total"
row "CNI: bridge plugin ADD (veth, IPAM, addr, route)" "$c_add_p50" "$c_add_p99" "$c_add_mean" "$c_add_total"
row "CNI: all three" "$c_setup_p50" "$c_setup_p99" "$c_setup_mean" "$c_setup_total"
row "(CNI: bridge plugin VERSION: spawn + Go start only)" "$c_ver_p50" "$c_ver_p99" "$c_ver_mean" "$c_ver_total"
echo " teardown"
row "berth: umount + unlink of the netns" "$b_td_p50" "-" "$b_td_mean" "$b_td_total"
row "CNI: bridge plugin DEL (deletes the veth)" "$c_del_p50" "$c_del_p99" "$c_del_mean" "$c_del_total"
row "CNI: ip netns del" "$c_nsdel_p50" "$c_nsdel_p99" "$c_nsdel_mean" "$c_nsdel_total"
row "CNI: both" "$c_td_p50" "$c_td_p99" "$c_td_mean" "$c_td_total"
echo "  (p50: median of the blocks' p50s; p99: largest of the blocks' p99s, which is a"
echo "   block's maximum with blocks of 100 or fewer; the tool prints no teardown p99)"
echo "  berth, per block: veths gone (by the kernel) $b_gone ms after the last destroy;"
echo "   berth-netns-tool process wall time, with that wait: $b_proc ms"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.1f", a / b; else print "inf"}'; }
s_ratio=$(ratio "$c_add_p50" "$b_setup_p50")
echo "setup: CNI/berth = $s_ratio (bridge ADD alone against berth's whole setup, p50s; goal >= 5:" \
     "$(awk -v r="$s_ratio" 'BEGIN {print (r >= 5) ? "met" : "NOT met"}'))"
echo "  ratio of the means $(ratio "$c_add_mean" "$b_setup_mean"); with ip netns add and loopback:" \
     "p50s $(ratio "$c_setup_p50" "$b_setup_p50"), means $(ratio "$c_setup_mean" "$b_setup_mean")"
work_p50=$(awk -v a="$c_add_p50" -v v="$c_ver_p50" 'BEGIN {printf "%.3f", a - v}')
echo "  the bridge ADD's own work (its p50 - the VERSION p50, i.e. without spawning the plugin):" \
     "$work_p50 ms, $(ratio "$work_p50" "$b_setup_p50") x berth's setup"
echo "teardown: CNI/berth = $(ratio "$c_td_p50" "$b_td_p50") (DEL + ip netns del against umount + unlink," \
     "p50s; means $(ratio "$c_td_mean" "$b_td_mean"); DEL alone $(ratio "$c_del_p50" "$b_td_p50"))"
if awk -v t="$b_td_p50" 'BEGIN {exit !(t < 1)}'; then
	echo "berth's teardown does not hold up a task's stop: $b_td_p50 ms per task; the kernel" \
	     "removes the netns and veth afterwards, in batches (see the blocks above)"
else
	echo "berth's teardown takes $b_td_p50 ms per task (p50): it does hold up a task's stop"
fi

# ------------------------------------------------------------ leftovers
left=0
leftover() { echo "LEFTOVER: $*"; left=1; }
n=$(awk '$9 == "nsfs"' /proc/self/mountinfo | wc -l)
[ "$n" = 0 ] || leftover "$n nsfs mounts: $(awk '$9 == "nsfs" {print $5}' /proc/self/mountinfo | tr '\n' ' ')"
n=$(find /run/netns "$work/berth" -mindepth 1 | wc -l)
[ "$n" = 0 ] || leftover "$n files in /run/netns or $work/berth: $(find /run/netns "$work/berth" -mindepth 1 | head -5 | tr '\n' ' ')"
n=$(ip -o link show type veth | wc -l)
[ "$n" = 0 ] || leftover "$n veths: $(ip -o link show type veth | awk -F': ' '{print $2}' | head -5 | tr '\n' ' ')"
for br in bbr0 cni0; do
	n=$(ip -o link show master "$br" | wc -l)
	[ "$n" = 0 ] || leftover "$n ports on $br"
done
# host-local keeps a lock file and last_reserved_ip.N per network; a
# reservation is a file named after the address
n=$(find "$work/ipam" -type f ! -name lock ! -name 'last_reserved_ip.*' | wc -l)
[ "$n" = 0 ] || leftover "$n host-local reservations: $(find "$work/ipam" -type f ! -name lock ! -name 'last_reserved_ip.*' | head -5 | tr '\n' ' ')"
if [ "$left" = 0 ]; then
	echo "leftovers: none (no nsfs mounts, netns files, veths, bridge ports or IPAM reservations)"
fi
exit "$left"    # the mount and network namespaces go with this process
