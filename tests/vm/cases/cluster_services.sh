# Three berthds, one cluster through etcd (issue 13): tasks and services
# shared, placed and kept across hosts, driven with the real AWS CLI
# against any of them (tests/vm/cluster_lib.sh: each berthd in its own
# network namespace with its own state; etcd in the guest).
#   1. run-task --count 3 with spread(instanceId) on one host: one task on
#      each instance, described RUNNING and stopped from that host.
#   2. The one-host services scenario (tests/vm/host/services_awscli.sh:
#      create, a killed container replaced, a rolling update checked at
#      every observation, the circuit breaker, delete), each phase against
#      another host.
#   3. A service spread over the three. The leader's berthd killed -9:
#      another host leads and the service is back to 3 RUNNING on the two
#      left within the lease + a tick + a scheduling pass + the time TCG
#      takes to start a task (16 s in all); the killed berthd started
#      again: its old task is stopped, never 4 RUNNING.
#   4. A follower stopped (SIGTERM): the same; started again: no duplicate.
#   5. etcd restarted: the same task definitions, services and tasks on
#      every host afterwards; the service still at 3.
# vm-only: three berthds with task networking, etcd
# timeout: 1200
run_setup 1024
. "${BERTH_LIB%/*}/cluster_lib.sh"
CL_LEASE=4

cl_etcd_start
cl_host_up a 1
cl_host_up b 2
cl_host_up c 3
wait_until 30 cl_leaders_agree || die "no agreed leader: $(cl_leaders_say)"
say "three hosts up; leader: $(cl_host_of "$(cl_etcd_leader)")"

# logs of every host, for a failure's message
cl_tails() { for _h in $CL_HOSTS; do echo "--- $_h:"; grep -v ' api: ' "$BERTH_SCRATCH/$_h.log" | tail -n 25; done; }
# svc NAME MODE [ARGS...]: cluster_svc_awscli.sh against host NAME
svc() {
	_h=$1; shift
	cl_fwd "$_h"
	rc=0
	hostcall cluster_svc_awscli "$CL_KEY" "$CL_SECRET" "$@" > "$BERTH_SCRATCH/svc.out" || rc=$?
	cat "$BERTH_SCRATCH/svc.out"
	[ "$rc" = 0 ] || die "cluster_svc_awscli $* against host $_h failed (rc $rc); $(cl_tails)"
}
# sphase HOST PHASE: one phase of the one-host services scenario against HOST
sphase() {
	cl_fwd "$1"
	rc=0
	hostcall services_awscli "$CL_KEY" "$CL_SECRET" "$2" || rc=$?
	[ "$rc" = 0 ] || die "services phase $2 against host $1 failed (rc $rc); $(cl_tails)"
	say "services phase $2 against host $1: passed"
}
leader() { cl_host_of "$(cl_etcd_leader)"; }
# a running host other than the ones named
other() { for _o in $CL_HOSTS; do case " $* " in *" $_o "*) ;; *) [ -n "$(cl_host_pid "$_o")" ] && { echo "$_o"; return; } ;; esac; done; }

# ------------------------------------------------------------ 1. spread
svc b spread | grep -q '^SPREAD ' || die "spread: no SPREAD line"

# ------------------------------------------------------------ 2. the one-host scenario
sphase a create
victim=$(pids_matching "sleep 601" | head -n 1)
[ -n "$victim" ] || die "no container of the service found"
kill -9 "$victim"
say "killed container process $victim"
sphase b replace
sphase c update
# what the leader did for the update (the AWS CLI above saw it from c)
grep -E "service web|task .* placed here" "$BERTH_SCRATCH/$(leader).log" | grep -v ' api: ' | tail -n 12 |
	sed 's/^/    leader: /'
sphase a breaker
sphase b delete

# ------------------------------------------------------------ 3. the leader dies
svc c create spread3 | tee "$BERTH_SCRATCH/spread3" | grep -c '^TASK' | grep -qx 3 || die "create spread3"
L=$(leader)
LID=$(cl_instance_id "$L")
grep -q " $LID\$" "$BERTH_SCRATCH/spread3" || die "the leader $L ($LID) has no task of spread3: $(cat "$BERTH_SCRATCH/spread3")"
S=$(other "$L")
say "killing the leader $L ($LID) with -9"
cl_host_kill "$L" KILL
wait_until 30 cl_leaders_agree || die "no new leader after $L died: $(cl_leaders_say)"
say "new leader: $(leader)"
# the bound: the lease (4 s) runs out, a tick sees it (1.3 s), one pass
# (0.5 s), and 10 s for TCG to start the replacement and the CLI to see it
# RUNNING (2-3 s on an idle machine)
BOUND=16
svc "$S" count spread3 3 "$LID" $BOUND | grep '^COUNT' > "$BERTH_SCRATCH/took" || die "count after the leader died"
say "spread3 back to 3 RUNNING off $L in $(cut -d' ' -f2 "$BERTH_SCRATCH/took") s after its berthd died"
cl_host_start "$L"
wait_until 30 cl_leaders_agree || die "no agreed leader after $L came back: $(cl_leaders_say)"
svc "$L" nodup spread3 3 "$LID" 3 | grep -q '^NODUP' || die "nodup after $L came back"
grep -q "was stopped by the cluster while this host was away" "$BERTH_SCRATCH/$L.log" ||
	die "$L did not say it stopped its replaced task: $(tail -n 30 "$BERTH_SCRATCH/$L.log")"

# ------------------------------------------------------------ 4. a follower stops
F=$(other "$(leader)")
FID=$(cl_instance_id "$F")
S=$(other "$F")
say "stopping follower $F ($FID)"
cl_host_kill "$F" TERM
svc "$S" count spread3 3 "$FID" $BOUND | grep '^COUNT' > "$BERTH_SCRATCH/took" || die "count after $F stopped"
say "spread3 back to 3 RUNNING off $F in $(cut -d' ' -f2 "$BERTH_SCRATCH/took") s after it stopped"
cl_host_start "$F"
svc "$F" nodup spread3 3 "$FID" 3 | grep -q '^NODUP' || die "nodup after $F came back"

# ------------------------------------------------------------ 5. etcd restarts
svc a snap etcd1 > /dev/null
cl_etcd_restart 2
wait_until 30 cl_leaders_agree || die "no agreed leader after etcd came back: $(cl_leaders_say)"
for h in a b c; do
	svc "$h" snap same etcd1 > "$BERTH_SCRATCH/after.$h"
done
svc a snap drop etcd1 > /dev/null
say "every host shows the same state after etcd restarted"
svc b count spread3 3 - 20 > /dev/null

# ------------------------------------------------------------ the end
svc c delete spread3
cl_down
cl_assert_clean
say "cluster services: passed"
