# Deliberately failing case: proves a failing privileged test fails scripts/test.sh.
# timeout: 30
say "this case exists only to fail once"
[ "$(cat "$BERTH_CGROUP/cgroup.controllers" | wc -w)" -gt 1000 ] || die "deliberate failure: fewer than 1000 cgroup controllers"
