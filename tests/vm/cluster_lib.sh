# tests/vm/cluster_lib.sh - several berthds in one guest, one cluster through
# etcd (issue 13). Sourced by a case after lib.sh:
#   . "${BERTH_LIB%/*}/cluster_lib.sh"
# (runner.sh exports BERTH_LIB; run.sh stages this file next to lib.sh and
# Debian's etcd binary in the guest's /bin).
#
# The layout (all of it inside the guest, removed by cl_down):
#   br-cl       a bridge in the guest's root netns, 10.77.0.1/24
#   etcd        Debian's etcd-server in the root netns: clients on
#               10.77.0.1:2379 ($CL_ETCD), peers on 10.77.0.1:2380, data in
#               $CL_DIR/etcd (kept across cl_etcd_restart)
#   host NAME   (cl_host_up NAME IDX, IDX 1-9) berthd in netns cl-NAME with
#               its own UTS namespace (hostname cl-NAME, so ec2InstanceId
#               berth-cl-NAME), reached by a veth (vcl-NAME in the root
#               netns on br-cl, eth0 in cl-NAME at 10.77.0.(10+IDX)/24,
#               default route via 10.77.0.1); its SigV4 listener on
#               10.77.0.(10+IDX):8080; its own root ($CL_DIR/state/NAME, on
#               one ext4 for all hosts), runDir, logDir, socket, cgroupRoot
#               (berth-test.CASE/NAME), task bridge bcl<IDX> with subnet
#               10.8<IDX>.0.0/24 and nftables table berthcl<IDX> (both
#               inside cl-NAME: they go with it); log in $BERTH_SCRATCH/NAME.log
#
# The AWS CLI runs on the machine outside the guest and reaches the guest
# only through QEMU's hostfwd 127.0.0.1:HOSTPORT -> guest :8080. One nft
# DNAT rule in the guest's root netns (table ip berthcl, chain pre: tcp
# dport 8080 arriving on eth0) sends that port to the host a call names
# (cl_fwd NAME rewrites the rule; a connection keeps the target it started
# with). No forwarding process, nothing on the real host's network. The
# host side is tests/vm/host/cluster_awscli.sh, run by lib.sh's hostcall:
# one call at a time, each a few seconds (the CLI's start-up on the host).
#
# berthd is started with `nsenter --net=/run/netns/cl-NAME`, not `ip netns
# exec`: that one gives the process a new mount namespace with a fresh
# /sys (no cgroup2 under it), and a berthd started again later would not
# see the mounts its predecessor made. Here every berthd shares the guest's
# mount namespace, as on three real hosts each has its own.
#
# Functions (names stable: other cluster cases use them):
#   cl_etcd_start / cl_etcd_stop / cl_etcd_restart, cl_etcd_pid
#   cl_etcd_kv PREFIX                 "KEY VALUE" lines, oldest key first
#   cl_etcd_count PREFIX              how many keys
#   cl_etcd_leader                    the instance id etcd's election names
#   cl_host_up NAME IDX, cl_host_start NAME, cl_host_kill NAME [SIG]
#   cl_host_pid NAME, cl_host_ip NAME, cl_instance_id NAME
#   cl_leader NAME                    whom NAME says leads (its log)
#   cl_leaders_agree                  every running host names one leader,
#                                     etcd's, and exactly one names itself
#   cl_berth NAME ARGS...             the berth CLI against NAME
#   cl_members NAME                   "ID CONNECTED STATUS" per instance NAME lists
#   cl_aws NAME ARGS...               the AWS CLI on the host against NAME
#   cl_awscall NAME MODE [WORD...]    a scenario of cluster_awscli.sh against NAME
#   cl_down, cl_assert_clean          tear everything down / check it is gone
#   cl_log_mark NAME, cl_log_since NAME MARK   the log after a point
# Variables a case may set before cl_host_up: CL_LEASE (seconds, default
# 4), CL_HOST_EXTRA (more berthd.json members, e.g. '"dns": {...}', added
# to every host's configuration).

CL_DIR=$BERTH_SCRATCH/cl
CL_BR=br-cl
CL_GW=10.77.0.1
CL_ETCD=http://$CL_GW:2379
CL_PREFIX=/berth
CL_LEASE=${CL_LEASE:-4}
CL_KEY=AKIDBERTHCLUSTER0013
CL_SECRET=berth-test-secret-cluster-0123456789
CL_CG=$BERTH_CGROUP/berth-test.$BERTH_CASE
CL_HOSTS=
CL_ETCD_PID=
_cl_up=

# _cl_setup: the bridge, the forwarder's table, ip_forward, the cgroup
# parent, the ext4 for the hosts' roots; once, undone by cl_down at exit
_cl_setup() {
	[ -n "$_cl_up" ] && return 0
	_cl_up=1
	command -v etcd >/dev/null || die "no etcd in the guest (run.sh stages the host's /usr/bin/etcd: scripts/setup.sh installs etcd-server)"
	mkdir -p "$CL_DIR" || die "mkdir $CL_DIR"
	ext4_dir "$CL_DIR/state" 1024
	on_exit cl_down
	_cl_fwd_was=$(cat /proc/sys/net/ipv4/ip_forward)
	ip link add "$CL_BR" type bridge || die "ip link add $CL_BR"
	ip addr add "$CL_GW/24" dev "$CL_BR" && ip link set "$CL_BR" up || die "address $CL_GW on $CL_BR"
	echo 1 > /proc/sys/net/ipv4/ip_forward || die "ip_forward"
	nft -f - <<NFT || die "nft table ip berthcl"
table ip berthcl {
	chain pre { type nat hook prerouting priority dstnat; policy accept; }
}
NFT
	if [ ! -d "$CL_CG" ]; then
		cg_enable_root
		mkdir "$CL_CG" || die "mkdir $CL_CG"
	fi
}

# ------------------------------------------------------------------ etcd

# cl_etcd_start: etcd on $CL_ETCD (data in $CL_DIR/etcd, kept), waits
# until /health says true
cl_etcd_start() {
	_cl_setup
	[ -n "$CL_ETCD_PID" ] && die "cl_etcd_start: etcd runs already (pid $CL_ETCD_PID)"
	etcd --name cl --data-dir "$CL_DIR/etcd" \
		--listen-client-urls "$CL_ETCD" --advertise-client-urls "$CL_ETCD" \
		--listen-peer-urls "http://$CL_GW:2380" --initial-advertise-peer-urls "http://$CL_GW:2380" \
		--initial-cluster "cl=http://$CL_GW:2380" --logger zap --log-outputs stderr \
		>> "$BERTH_SCRATCH/etcd.log" 2>&1 &
	CL_ETCD_PID=$!
	wait_until 60 _cl_etcd_healthy ||
		die "etcd did not become healthy at $CL_ETCD: $(tail -n 20 "$BERTH_SCRATCH/etcd.log")"
}
_cl_etcd_healthy() { timeout 3 wget -q -O - "$CL_ETCD/health" 2>/dev/null | grep -q '"health":"true"'; }

# cl_etcd_stop: SIGTERM, and wait until it is gone
cl_etcd_stop() {
	[ -n "$CL_ETCD_PID" ] || return 0
	_cl_end "$CL_ETCD_PID" TERM 20 || _cl_end "$CL_ETCD_PID" KILL 10
	CL_ETCD_PID=
}

# _cl_gone PID: the process has exited (a zombie counts: lib.sh's exit
# cleanups run in a subshell, where `wait` cannot reap the case's children)
_cl_gone() {
	[ -e "/proc/$1" ] || return 0
	[ "$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# _cl_end PID SIG SECONDS: signal PID, wait up to SECONDS until it is
# gone, reap it; fails when it is still there
_cl_end() {
	kill "-$2" "$1" 2>/dev/null
	wait_until "$3" _cl_gone "$1" || return 1
	wait "$1" 2>/dev/null
	return 0
}

# cl_etcd_restart [SECONDS]: stop, stay down SECONDS (default 0), start
cl_etcd_restart() {
	cl_etcd_stop
	[ "${1:-0}" = 0 ] || sleep "$1"
	cl_etcd_start
}

cl_etcd_pid() { echo "$CL_ETCD_PID"; }

# _cl_etcd_range PREFIX/ [EXTRA-JSON]: the JSON gateway's answer to a
# range over PREFIX/ (it must end in /: the range ends at PREFIX0), oldest
# key (create revision) first
_cl_etcd_range() {
	case $1 in */) ;; *) die "_cl_etcd_range: '$1' does not end in /" ;; esac
	_k=$(printf '%s' "$1" | base64 | tr -d '\n')
	_e=$(printf '%s0' "${1%/}" | base64 | tr -d '\n')
	timeout 5 wget -q -O - --post-data \
		"{\"key\":\"$_k\",\"range_end\":\"$_e\",\"sort_order\":\"ASCEND\",\"sort_target\":\"CREATE\"${2:-}}" \
		"$CL_ETCD/v3/kv/range"
}

# cl_etcd_kv PREFIX/: one line "KEY VALUE" per key under PREFIX, oldest
# first (newlines in a value become spaces); fails when etcd does not answer
cl_etcd_kv() {
	_r=$(_cl_etcd_range "$1") || return 1
	echo "$_r" | awk '{
		s = $0
		while (match(s, /"key":"[^"]*"/)) {
			k = substr(s, RSTART + 7, RLENGTH - 8); s = substr(s, RSTART + RLENGTH)
			v = ""
			e = index(s, "}"); t = e ? substr(s, 1, e) : s
			if (match(t, /"value":"[^"]*"/)) v = substr(t, RSTART + 9, RLENGTH - 10)
			print k, v
		} }' | while read -r _k _v; do
		printf '%s %s\n' "$(printf '%s' "$_k" | base64 -d)" "$(printf '%s' "$_v" | base64 -d | tr '\n' ' ')"
	done
}

# cl_etcd_count PREFIX/: how many keys are under PREFIX
cl_etcd_count() {
	_r=$(_cl_etcd_range "$1" ',"count_only":true') || return 1
	_cn=$(echo "$_r" | sed -n 's/.*"count":"\{0,1\}\([0-9]*\).*/\1/p')
	echo "${_cn:-0}"
}

# cl_etcd_leader: the instance id the election names (the oldest key under
# $CL_PREFIX/leader/); empty when there is no candidate
cl_etcd_leader() { cl_etcd_kv "$CL_PREFIX/leader/" | head -n 1 | cut -d' ' -f2; }

# ------------------------------------------------------------------ hosts

_cl_var() { eval "echo \"\${CL_${2}_$1:-}\""; }
_cl_known() { case " $CL_HOSTS " in *" $1 "*) return 0 ;; esac; die "no cluster host '$1' (hosts: $CL_HOSTS)"; }

# cl_host_up NAME IDX: netns cl-NAME, its veth on br-cl, its configuration,
# then cl_host_start. NAME: lower-case letters and digits; IDX: 1-9.
cl_host_up() {
	_un=$1 _i=$2
	case $_un in ''|*[!a-z0-9]*) die "cl_host_up: bad host name '$_un'" ;; esac
	case $_i in [1-9]) ;; *) die "cl_host_up $_un: IDX must be 1-9, got '$_i'" ;; esac
	_cl_setup
	case " $CL_HOSTS " in *" $_un "*) die "cl_host_up: host $_un exists" ;; esac
	CL_HOSTS="${CL_HOSTS:+$CL_HOSTS }$_un"
	_ip=10.77.0.$((10 + _i))
	eval "CL_IDX_$_un=$_i CL_IP_$_un=$_ip CL_PID_$_un="
	ip netns add "cl-$_un" || die "ip netns add cl-$_un"
	ip link add "vcl-$_un" type veth peer name eth0 netns "cl-$_un" || die "veth vcl-$_un"
	ip link set "vcl-$_un" master "$CL_BR" && ip link set "vcl-$_un" up || die "vcl-$_un on $CL_BR"
	ip -n "cl-$_un" link set lo up && ip -n "cl-$_un" addr add "$_ip/24" dev eth0 &&
		ip -n "cl-$_un" link set eth0 up && ip -n "cl-$_un" route add default via "$CL_GW" ||
		die "addresses in cl-$_un"
	_d=$CL_DIR/$_un
	mkdir -p "$_d/run" "$_d/logs" "$CL_DIR/state/$_un" || die "mkdir $_d"
	"$BERTH_BIN/berth" --root "$CL_DIR/state/$_un" image import "$BERTH_IMAGES/helper.oci.tar" >/dev/null ||
		die "import helper.oci.tar into host $_un's root"
	cat > "$_d/berthd.json" <<JSON
{ "root": "$CL_DIR/state/$_un", "runDir": "$_d/run", "logDir": "$_d/logs", "cgroupRoot": "$CL_CG/$_un",
  "socket": "$_d/berthd.sock", "listen": "$_ip:8080", "storage": "tmpfs",
  "serviceIntervalMilliseconds": 500,
  "credentials": [ { "accessKeyId": "$CL_KEY", "secretAccessKey": "$CL_SECRET" } ],
  "network": { "bridge": "bcl$_i", "subnet": "10.8$_i.0.0/24", "nftTable": "berthcl$_i" },
  "instance": { "attributes": { "zone": "zone-$_i" }, "availabilityZone": "us-east-1$(echo "$_i" | tr 1-9 a-i)" },
  "cluster": { "etcd": ["$CL_ETCD"], "prefix": "$CL_PREFIX", "leaseSeconds": $CL_LEASE }${CL_HOST_EXTRA:+,
  $CL_HOST_EXTRA} }
JSON
	"$BERTH_BIN/berthd" --config "$_d/berthd.json" --check > "$_d/check.out" 2>&1 ||
		die "berthd --check refused host $_un's configuration: $(cat "$_d/check.out")"
	cl_host_start "$_un"
}

# cl_host_start NAME: start NAME's berthd (same configuration and state)
# and wait until it has joined the cluster and serves its socket. Call it
# in the case's shell, not in $(...): the pid must be this shell's child.
cl_host_start() {
	_cl_known "$1"
	_p=$(_cl_var "$1" PID)
	[ -n "$_p" ] && kill -0 "$_p" 2>/dev/null && die "cl_host_start $1: berthd runs already (pid $_p)"
	_d=$CL_DIR/$1
	rm -f "$_d/berthd.sock"   # a kill -9 leaves it: waiting on it would not wait
	_j0=$(grep -c 'cluster: joined through etcd' "$BERTH_SCRATCH/$1.log" 2>/dev/null)
	echo "=== cl_host_start $1 at $(run_uptime)" >> "$BERTH_SCRATCH/$1.log"
	nsenter --net="/run/netns/cl-$1" unshare -u sh -c 'hostname "$1" && shift && exec "$@"' sh "cl-$1" \
		"$BERTH_BIN/berthd" --config "$_d/berthd.json" --log-level debug >> "$BERTH_SCRATCH/$1.log" 2>&1 &
	eval "CL_PID_$1=$!"
	_p=$!
	wait_until 60 _cl_started "$1" "${_j0:-0}" ||
		die "host $1's berthd did not join (pid $_p): $(grep -v ' api: ' "$BERTH_SCRATCH/$1.log" | tail -n 20)"
	[ "$(cat "/proc/$_p/comm" 2>/dev/null)" = berthd ] || die "host $1: pid $_p is not berthd"
}
_cl_started() {
	[ -n "$(cl_host_pid "$1")" ] || return 1
	test -S "$CL_DIR/$1/berthd.sock" || return 1
	[ "$(grep -c 'cluster: joined through etcd' "$BERTH_SCRATCH/$1.log")" -gt "$2" ]
}

# cl_host_kill NAME [SIG]: signal NAME's berthd (default TERM) and wait
# until it has exited (fails the case after 30 s)
cl_host_kill() {
	_cl_known "$1"
	_p=$(_cl_var "$1" PID)
	[ -n "$_p" ] || return 0
	_cl_end "$_p" "${2:-TERM}" 30 || die "host $1: berthd $_p still there 30 s after SIG${2:-TERM}"
	eval "CL_PID_$1="
	echo "=== cl_host_kill $1 ${2:-TERM} at $(run_uptime)" >> "$BERTH_SCRATCH/$1.log"
}

# cl_host_pid NAME: its berthd's pid; empty when it does not run
cl_host_pid() {
	_p=$(_cl_var "$1" PID)
	[ -n "$_p" ] && ! _cl_gone "$_p" && echo "$_p"
	true
}

# cl_host_ip NAME: its address (the API listens on it, port 8080)
cl_host_ip() { _cl_var "$1" IP; }

# cl_instance_id NAME: its container instance id (its log: "joined ... as ID")
cl_instance_id() {
	sed -n 's/.*cluster: joined through etcd .* as \([0-9a-f]*\) (prefix.*/\1/p' "$BERTH_SCRATCH/$1.log" | tail -n 1
}

# cl_host_of ID: the name of the host whose instance id is ID; empty if none
cl_host_of() {
	for _of_h in $CL_HOSTS; do [ "$(cl_instance_id "$_of_h")" = "$1" ] && echo "$_of_h"; done
	true
}

# cl_leader NAME: the instance id NAME says leads, from its log since its
# last start: its own id ("this instance is the leader"), X ("follows X"),
# empty (it lost etcd or its lease, or it does not run)
cl_leader() {
	[ -n "$(cl_host_pid "$1")" ] || return 0
	_lself=$(cl_instance_id "$1")
	awk -v self="$_lself" '
		/^=== cl_host_start / { who = "" }
		/cluster: this instance is the leader/ { who = self }
		/cluster: this instance follows / { w = $0; sub(/.*cluster: this instance follows /, "", w); sub(/[ ;(].*/, "", w); who = w }
		/cluster: this instance is no longer the leader/ { who = "" }
		/cluster: etcd unreachable/ || /cluster: lease lost/ { who = "" }
		END { print who }' "$BERTH_SCRATCH/$1.log"
}

# cl_leaders_agree: etcd names a leader, every running host says that one
# leads, and it is one of them (so exactly one says it leads itself)
cl_leaders_agree() {
	_ag_l=$(cl_etcd_leader) || return 1
	[ -n "$_ag_l" ] || return 1
	_ag_n=0
	for _ag_h in $CL_HOSTS; do
		[ -n "$(cl_host_pid "$_ag_h")" ] || continue
		[ "$(cl_leader "$_ag_h")" = "$_ag_l" ] || return 1
		[ "$(cl_instance_id "$_ag_h")" = "$_ag_l" ] && _ag_n=$((_ag_n + 1))
	done
	[ "$_ag_n" = 1 ]
}

# cl_leaders_say: what each host says, for messages
cl_leaders_say() {
	_say="etcd: '$(cl_etcd_leader 2>/dev/null)'"
	for _say_h in $CL_HOSTS; do
		_say="$_say; $_say_h ($(cl_instance_id "$_say_h")$([ -n "$(cl_host_pid "$_say_h")" ] || echo ', down')): '$(cl_leader "$_say_h")'"
	done
	echo "$_say"
}

# cl_log_mark NAME: a mark (the log's line count); cl_log_since NAME MARK:
# the log's lines after it
cl_log_mark() { wc -l < "$BERTH_SCRATCH/$1.log"; }
cl_log_since() { tail -n "+$(($2 + 1))" "$BERTH_SCRATCH/$1.log"; }

# cl_berth NAME ARGS...: the berth CLI against NAME's berthd
cl_berth() {
	_bh=$1; shift
	BERTH_SOCKET=$CL_DIR/$_bh/berthd.sock BERTH_RUN_DIR=$CL_DIR/$_bh/run "$BERTH_BIN/berth" "$@"
}

# cl_members NAME: the container instances NAME's berthd lists (berth
# instances --json), one line each: "ID CONNECTED STATUS", sorted by id
cl_members() {
	cl_berth "$1" --json instances > "$CL_DIR/members.$1.json" 2> "$CL_DIR/members.$1.err" || return 1
	# split containerInstances[] into its objects (depth 2), strings kept whole
	awk 'BEGIN { RS = "\001" } {
		n = length($0); depth = 0; instr = 0; rec = ""
		for (i = 1; i <= n; i++) {
			c = substr($0, i, 1)
			if (c == "\n") c = " "
			if (instr) { if (c == "\\") { rec = rec c substr($0, i + 1, 1); i++; continue } if (c == "\"") instr = 0 }
			else if (c == "\"") instr = 1
			else if (c == "{" || c == "[") { depth++ }
			else if (c == "}" || c == "]") {
				if (depth == 3 && c == "}") { print rec; rec = "" }
				depth--
			}
			if (depth >= 3) rec = rec c
		}
	}' "$CL_DIR/members.$1.json" | grep '"containerInstanceArn"' | while IFS= read -r _r; do
		_id=$(echo "$_r" | sed -n 's/.*"containerInstanceArn": *"[^"]*\/\([0-9a-f]*\)".*/\1/p')
		_c=$(echo "$_r" | sed -n 's/.*"agentConnected": *\(true\|false\).*/\1/p')
		_s=$(echo "$_r" | sed -n 's/.*"status": *"\([A-Z_]*\)".*/\1/p')
		echo "$_id ${_c:-?} ${_s:-?}"
	done | sort
}

# ------------------------------------------------------------------ AWS CLI

# cl_fwd NAME: the hostfwd's guest :8080 goes to NAME's listener from now on
cl_fwd() {
	_cl_known "$1"
	nft flush chain ip berthcl pre &&
		nft add rule ip berthcl pre iifname eth0 tcp dport 8080 dnat to "$(cl_host_ip "$1"):8080" ||
		die "cl_fwd $1: nft"
}

# cl_aws NAME ARGS...: the AWS CLI on the host (`aws ARGS...`, endpoint
# and credentials given) against NAME: prints its output (JSON compacted
# to one line; with --output text as it is; the last 60 lines at most),
# returns its exit status. Arguments travel hex-encoded, so any characters
# are fine (JMESPath in --query included).
cl_aws() {
	cl_fwd "$1"; shift
	_hex=
	for _aa in "$@"; do _hex="$_hex x$(printf '%s' "$_aa" | od -An -tx1 | tr -d ' \n')"; done
	# shellcheck disable=SC2086 # the words are hex
	hostcall cluster_awscli "$CL_KEY" "$CL_SECRET" cli $_hex
}

# cl_awscall NAME MODE [WORD...]: one of cluster_awscli.sh's scenarios
# against NAME (plain words only); prints its output, returns its status
cl_awscall() {
	cl_fwd "$1"; shift
	hostcall cluster_awscli "$CL_KEY" "$CL_SECRET" "$@"
}

# ------------------------------------------------------------------ teardown

# cl_down: everything above undone (idempotent): the hosts' tasks stopped,
# berthds stopped (TERM, then KILL after 20 s), whatever is left in their
# netns and cgroups killed, mounts under $CL_DIR unmounted, netns, veths,
# bridge, nft table and cgroups removed, etcd stopped, ip_forward restored.
# The case calls it itself before cl_assert_clean; on_exit runs it too.
cl_down() {
	[ -n "$_cl_up" ] || return 0
	for _dh in $CL_HOSTS; do
		[ -n "$(cl_host_pid "$_dh")" ] || continue
		cl_berth "$_dh" ps -q 2>/dev/null | xargs -r env BERTH_SOCKET="$CL_DIR/$_dh/berthd.sock" \
			BERTH_RUN_DIR="$CL_DIR/$_dh/run" "$BERTH_BIN/berth" stop --wait >/dev/null 2>&1
	done
	for _dh in $CL_HOSTS; do
		_dp=$(cl_host_pid "$_dh")
		[ -n "$_dp" ] || continue
		_cl_end "$_dp" TERM 20 || _cl_end "$_dp" KILL 10
		eval "CL_PID_$_dh="
	done
	for _dh in $CL_HOSTS; do
		[ -e "/run/netns/cl-$_dh" ] && ip netns pids "cl-$_dh" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		if [ -d "$CL_CG/$_dh" ]; then
			echo 1 > "$CL_CG/$_dh/cgroup.kill" 2>/dev/null
			wait_until 10 sh -c "! find '$CL_CG/$_dh' -name cgroup.procs -exec cat {} + | grep -q ."
			find "$CL_CG/$_dh" -depth -type d -exec rmdir {} \; 2>/dev/null
		fi
	done
	awk -v d="$CL_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r _m; do
		umount "$_m" 2>/dev/null || umount -l "$_m" 2>/dev/null
	done
	for _dh in $CL_HOSTS; do
		[ -e "/run/netns/cl-$_dh" ] && ip netns del "cl-$_dh"
		ip link show "vcl-$_dh" >/dev/null 2>&1 && ip link del "vcl-$_dh"
	done
	cl_etcd_stop
	ip link show "$CL_BR" >/dev/null 2>&1 && ip link del "$CL_BR"
	nft list table ip berthcl >/dev/null 2>&1 && nft delete table ip berthcl
	[ -n "${_cl_fwd_was:-}" ] && echo "$_cl_fwd_was" > /proc/sys/net/ipv4/ip_forward
	[ -d "$CL_CG" ] && rmdir "$CL_CG" 2>/dev/null
	_cl_up=
	true
}

# cl_assert_clean: after cl_down, nothing of the cluster is left: no netns
# cl-*, no link vcl-* or br-cl, no cgroup, no berthd, shim, container or
# etcd process, no table ip berthcl, nothing mounted under $CL_DIR
cl_assert_clean() {
	_left=
	for _h in $CL_HOSTS; do
		[ -e "/run/netns/cl-$_h" ] && _left="$_left netns cl-$_h;"
		ip link show "vcl-$_h" >/dev/null 2>&1 && _left="$_left link vcl-$_h;"
	done
	ip link show "$CL_BR" >/dev/null 2>&1 && _left="$_left bridge $CL_BR;"
	[ -d "$CL_CG" ] && _left="$_left cgroup $CL_CG ($(find "$CL_CG" -type d | tr '\n' ' '));"
	_p=$(pids_of berthd; pids_of berth-shim; pids_of etcd)
	[ -n "$_p" ] && _left="$_left processes $(echo $_p);"
	_p=$(pids_matching "$CL_DIR/")
	[ -n "$_p" ] && _left="$_left processes naming $CL_DIR: $(for _q in $_p; do tr '\0' ' ' < "/proc/$_q/cmdline"; echo; done);"
	nft list table ip berthcl >/dev/null 2>&1 && _left="$_left nft table ip berthcl;"
	_m=$(awk -v d="$CL_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts)
	[ -n "$_m" ] && _left="$_left mounts $(echo $_m);"
	[ -z "$_left" ] || die "left behind:$_left"
}
