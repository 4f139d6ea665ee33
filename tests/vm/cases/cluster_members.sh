# Three berthds, one cluster through etcd (issue 13, parts 1 and 2):
# membership and leader election. Each host in its own netns with its own
# state; etcd in the guest (tests/vm/cluster_lib.sh). The real AWS CLI
# (on the host machine) lists all three instances from each host; the
# oldest candidate leads; kill -9 of the leader hands the lead on within
# the lease and a tick, and the dead host shows agentConnected false; it
# comes back as the same instance, following; an etcd outage leaves every
# host serving, and afterwards the records are all there and connected;
# the one-host task basics (register, run, describe, stop) through the
# AWS CLI against one host (cluster_services goes through all three),
# checked on whichever host the task landed
# (its cgroup, its subnet, berth ps there) and described through another;
# nothing left afterwards.
# vm-only: netns, a bridge, nftables, ip_forward and etcd in the guest
# timeout: 420
. "${BERTH_LIB%/*}/cluster_lib.sh"
T0=$(run_uptime)
LEASE=$CL_LEASE
TICK=$(awk -v l="$LEASE" 'BEGIN { printf "%.2f", l / 3 }')

# ------------------------------------------------ 1. etcd and three hosts
cl_etcd_start
cl_host_up a 1
cl_host_up b 2
cl_host_up c 3
A=$(cl_instance_id a) B=$(cl_instance_id b) C=$(cl_instance_id c)
for h in a b c; do
	[ -n "$(cl_instance_id $h)" ] || die "host $h: no instance id in its log: $(grep cluster: "$BERTH_SCRATCH/$h.log")"
done
[ "$A" != "$B" ] && [ "$B" != "$C" ] && [ "$A" != "$C" ] || die "instance ids not distinct: $A $B $C"
say "etcd up; hosts a=$A b=$B c=$C (lease ${LEASE}s, tick ${TICK}s) at +$(run_add "$(run_uptime)" "-$T0")s"

# want_members DEAD: the "members" lines every host must answer (DEAD:
# the host whose agentConnected is false, or -)
want_members() {
	for _wh in a b c; do
		_wc=true; [ "$_wh" = "$1" ] && _wc=false
		echo "INSTANCE $(cl_instance_id $_wh) $_wc ACTIVE berth-cl-$_wh zone-$(_cl_var $_wh IDX)"
	done | sort
	echo "COUNT 3"
}
# check_members HOST DEAD: the AWS CLI against HOST lists and describes
# the three as want_members DEAD says
check_members() {
	_cr=0; _co=$(cl_awscall "$1" members) || _cr=$?
	[ "$_cr" = 0 ] || die "members through $1: rc $_cr: $_co"
	got=$(echo "$_co" | grep -E '^(INSTANCE|COUNT) ')
	[ "$got" = "$(want_members "$2")" ] || die "members through $1: got
$got
want
$(want_members "$2")"
}

# ------------------------------------------------ 2. every host lists all three
for h in a b c; do
	check_members $h -
	say "aws ecs list/describe-container-instances through $h: a, b, c, each agentConnected, ACTIVE, its zone"
done
rc=0; n=$(cl_aws b ecs list-container-instances --query 'length(containerInstanceArns)' --output text) || rc=$?
[ "$rc" = 0 ] && [ "$n" = 3 ] || die "aws ecs list-container-instances --query length(...) through b: rc $rc: $n"
[ "$(cl_etcd_count "$CL_PREFIX/instances/")" = 3 ] && [ "$(cl_etcd_count "$CL_PREFIX/alive/")" = 3 ] ||
	die "etcd: $(cl_etcd_kv "$CL_PREFIX/" | cut -c1-80)"
say "etcd holds 3 instance records and 3 alive keys"

# ------------------------------------------------ 3. one leader; kill -9 it
wait_until 10 cl_leaders_agree || die "no agreed leader: $(cl_leaders_say)"
L=$(cl_etcd_leader)
[ "$L" = "$A" ] || die "the leader is $L, not a ($A), the oldest candidate: $(cl_leaders_say)"
say "one leader: a ($A); b and c follow it"
ma=$(cl_log_mark a) mb=$(cl_log_mark b) mc=$(cl_log_mark c)
tk=$(run_uptime)
cl_host_kill a KILL
took_over() { cl_log_since b "$mb" | grep -q 'cluster: this instance is the leader' ||
	cl_log_since c "$mc" | grep -q 'cluster: this instance is the leader'; }
wait_until 30 took_over || die "nobody took over 30 s after the leader's kill -9: $(cl_leaders_say)"
dt=$(run_add "$(run_uptime)" "-$tk")
bound=$(awk -v l="$LEASE" -v t="$TICK" 'BEGIN { print l + t + 1 }')
run_cmp "$dt" '<=' "$bound" "takeover after kill -9 of the leader (s; lease + tick + 1 s for etcd's expiry check and the poll)"
wait_until 10 cl_leaders_agree || die "after the takeover: $(cl_leaders_say)"
[ "$(cl_etcd_leader)" = "$B" ] || die "the new leader is not b ($B), the oldest candidate left: $(cl_leaders_say)"
cl_log_since b "$mb" | grep -q "cluster: this instance is the leader" || die "b does not say it leads"
cl_log_since c "$mc" | grep -q "cluster: this instance follows $B" || die "c does not say it follows b: $(cl_log_since c "$mc" | grep cluster:)"
say "kill -9 of a: b leads after ${dt}s (bound ${bound}s), c follows b"
[ "$(cl_etcd_count "$CL_PREFIX/alive/")" = 2 ] || die "alive keys: $(cl_etcd_kv "$CL_PREFIX/alive/")"
check_members c a
say "aws ecs describe-container-instances through c: a agentConnected false, still ACTIVE; b, c connected"
[ "$(cl_members b | grep -c " false ")" = 1 ] && cl_members b | grep -q "^$A false " ||
	die "berth instances on b: $(cl_members b)"

# ------------------------------------------------ 4. a comes back
ma=$(cl_log_mark a)
cl_host_start a
[ "$(cl_instance_id a)" = "$A" ] || die "a came back as $(cl_instance_id a), not $A"
wait_until 10 cl_leaders_agree || die "after a's restart: $(cl_leaders_say)"
[ "$(cl_etcd_leader)" = "$B" ] || die "a's return moved the lead: $(cl_leaders_say)"
cl_log_since a "$ma" | grep -q "cluster: this instance follows $B" || die "a does not say it follows b: $(cl_log_since a "$ma" | grep cluster:)"
cl_log_since a "$ma" | grep -q "cluster: this instance is the leader" && die "a claimed the lead after its restart"
[ "$(cl_etcd_count "$CL_PREFIX/instances/")" = 3 ] && [ "$(cl_etcd_count "$CL_PREFIX/alive/")" = 3 ] ||
	die "etcd after a's return: $(cl_etcd_kv "$CL_PREFIX/" | cut -c1-80)"
check_members a -
say "a restarted: the same instance $A, connected again, follows b; 3 records, no duplicate"

# ------------------------------------------------ 5. etcd goes away and comes back
ma=$(cl_log_mark a) mb=$(cl_log_mark b) mc=$(cl_log_mark c)
cl_etcd_stop
noticed() { for h in a b c; do cl_log_since $h "$(eval echo \$m$h)" | grep -q 'cluster: etcd unreachable' || return 1; done; }
wait_until 20 noticed || die "not every host noticed etcd's absence: $(for h in a b c; do cl_log_since $h "$(eval echo \$m$h)" | grep cluster:; done)"
for h in a b c; do
	[ -z "$(cl_leader $h)" ] || die "$h names a leader ($(cl_leader $h)) without etcd"
	[ -n "$(cl_host_pid $h)" ] || die "$h's berthd exited without etcd: $(tail -n 5 "$BERTH_SCRATCH/$h.log")"
	m=$(cl_members $h) || die "berth instances on $h without etcd: $(cat "$CL_DIR/members.$h.err")"
	[ "$m" = "$(cl_instance_id $h) true ACTIVE" ] || die "berth instances on $h without etcd: $m"
	rc=0; n=$(cl_aws $h ecs list-container-instances --query 'length(containerInstanceArns)' --output text) || rc=$?
	[ "$rc" = 0 ] && [ "$n" = 1 ] || die "aws ecs list-container-instances through $h without etcd: rc $rc: $n"
done
say "etcd down: each host noticed, names no leader, and answers (berth instances, the AWS CLI: itself only)"
cl_etcd_start
back() { for h in a b c; do cl_log_since $h "$(eval echo \$m$h)" | grep -q 'cluster: etcd .* answers again' || return 1; done; }
wait_until 20 back || die "not every host saw etcd back: $(for h in a b c; do cl_log_since $h "$(eval echo \$m$h)" | grep cluster:; done)"
wait_until 10 cl_leaders_agree || die "after etcd's return: $(cl_leaders_say)"
[ "$(cl_etcd_count "$CL_PREFIX/instances/")" = 3 ] || die "instance records after etcd's restart: $(cl_etcd_kv "$CL_PREFIX/instances/" | cut -c1-80)"
all_connected() { for h in a b c; do [ "$(cl_members $h | grep -c ' true ACTIVE$')" = 3 ] || return 1; done; }
wait_until 10 all_connected || die "after etcd's return: $(for h in a b c; do echo "$h: $(cl_members $h | tr '\n' ';')"; done)"
check_members c -
say "etcd restarted: every host answered again, leader $(cl_host_of "$(cl_etcd_leader)"), 3 records kept, all connected"

# ------------------------------------------------ 6. the AWS CLI task basics through one host
# (through one host only: cluster_services drives the AWS CLI's services
# scenario through each of the three, and CI time is short)
for h in b; do
	rc=0; out=$(cl_awscall $h run "cl-basic-$h") || rc=$?
	[ "$rc" = 0 ] || die "run through $h: rc $rc: $out"
	set -- $(echo "$out" | grep '^TASK ')
	tid=$2 ci=$4 ip=$6
	owner=$(cl_host_of "$ci")
	[ -n "$owner" ] || die "run-task through $h: on container instance '$ci', not one of a b c: $out"
	[ -d "$CL_CG/$owner/$tid" ] || die "task $tid: no cgroup under $owner's cgroup root: $(ls "$CL_CG/$owner")"
	case $ip in "10.8$(_cl_var "$owner" IDX).0."*) ;; *) die "task $tid on $owner at '$ip', not in $owner's subnet" ;; esac
	cl_berth "$owner" ps -q | grep -q "^$(echo "$tid" | cut -c1-12)" || die "berth ps on $owner lacks $tid: $(cl_berth "$owner" ps)"
	# another host answers for it too (tasks are shared through etcd)
	o=$(echo "a b c a" | sed "s/.*$h \([a-c]\).*/\1/")
	rc=0; st=$(cl_aws "$o" ecs describe-tasks --cluster default --tasks "$tid" --query 'tasks[0].lastStatus' --output text) || rc=$?
	[ "$rc" = 0 ] && [ "$st" = RUNNING ] || die "aws ecs describe-tasks $tid through $o: rc $rc: $st"
	rc=0; out=$(cl_awscall $h stop "$tid") || rc=$?
	[ "$rc" = 0 ] && echo "$out" | grep -q "^STOPPED $tid" || die "stop through $h: rc $rc: $out"
	wait_until 10 test ! -d "$CL_CG/$owner/$tid" || die "task $tid's cgroup outlived the stop"
	say "through $h: register-task-definition, run-task -> $tid on $owner at $ip, RUNNING (through $o too); stop-task -> STOPPED"
done

# ------------------------------------------------ 7. nothing left
cl_down
cl_assert_clean
say "cl_down: no netns, veth, bridge, cgroup, mount, berthd, shim or etcd left; case took $(run_add "$(run_uptime)" "-$T0")s"
