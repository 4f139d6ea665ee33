# The escape suite inside containers started by `berth run` itself (the
# product path: resolved spec, cgroup leaf with its device filter, seccomp
# from the cache, overlay root): in a default container every attempt is
# denied; setuid-gain (no_new_privs) is tried as uid 1000, where it means
# something. A privileged EC2 container has CAP_SYS_ADMIN and may mount.
# timeout: 200
run_setup
S=$BERTH_SCRATCH
SUID=/usr/bin/berth-testhelper-suid
cat > "$S/escape.json" <<JSON
{
  "family": "escape",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "512",
  "containerDefinitions": [
    { "name": "root", "image": "berth-test/helper", "essential": false,
      "command": ["escape", "--all", "--path", "$SUID"] },
    { "name": "app", "image": "berth-test/helper", "essential": false, "user": "app",
      "command": ["escape", "--all", "--path", "$SUID"] },
    { "name": "app-init", "image": "berth-test/helper", "essential": true, "user": "app",
      "linuxParameters": { "initProcessEnabled": true },
      "dependsOn": [ { "containerName": "root", "condition": "COMPLETE" },
                     { "containerName": "app", "condition": "COMPLETE" } ],
      "command": ["escape", "ptrace-pid1"] }
  ]
}
JSON
run_berth_json "$S/escape.json" > "$S/escape.result" 2> "$S/escape.err"
st=$?
sed 's/^/  /' "$S/escape.err"
[ "$st" = 0 ] || die "berth run exited $st (the essential container's result)"

# each container's exit status is the number of attempts allowed
for c in root app; do
	code=$(run_jget "$S/escape.result" exitCode "$c")
	[ -n "$code" ] || die "no exit code for $c"
	[ "$code" = 0 ] || die "$c: $code escape attempts allowed"
done
n=$(run_out "$S/escape.err" root | grep -c '"escape"')
[ "$n" -ge 25 ] || die "only $n attempts ran in the default container (want >= 25)"
# every line denied, except what root as pid 1 cannot try
run_out "$S/escape.err" root | grep '"escape"' | grep -v '"result":"denied"' |
	grep -v -e '"escape":"setuid-gain","result":"inconclusive"' -e '"escape":"ptrace-pid1","result":"inconclusive"' &&
	die "default container: an attempt was not denied"
run_out "$S/escape.err" app | grep '"escape"' | grep -v '"result":"denied"' |
	grep -v '"escape":"ptrace-pid1","result":"inconclusive"' && die "uid 1000: an attempt was not denied"
run_out "$S/escape.err" app | grep -q '"escape":"setuid-gain","result":"denied"' ||
	die "setuid-gain as uid 1000 was not denied"
run_out "$S/escape.err" app-init | grep -q '"escape":"ptrace-pid1","result":"denied"' ||
	die "ptrace of berth-init (pid 1) was not denied"
say "$n attempts, all denied"

# CVE-2019-5736 by the front door: a program path of /proc/self/exe is
# resolved while the exec is under way, when /proc/self/exe is still the
# process doing the exec. That is the sealed berth-init (exec mode), never
# the host's berth binary, which would answer `version`.
cat > "$S/selfexe.json" <<JSON
{
  "family": "selfexe",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "512",
  "containerDefinitions": [
    { "name": "app", "image": "berth-test/helper", "essential": true,
      "entryPoint": ["/proc/self/exe"], "command": ["version"] }
  ]
}
JSON
sum_before=$(sha256sum < "$BERTH_BIN/berth")
run_berth_json "$S/selfexe.json" > "$S/selfexe.result" 2> "$S/selfexe.err"
st=$?
sed 's/^/  /' "$S/selfexe.err"
grep -q "berth [0-9]" "$S/selfexe.err" && die "/proc/self/exe ran the berth binary inside the container"
grep -q "berth-init: exec version" "$S/selfexe.err" || die "/proc/self/exe did not run the sealed berth-init"
[ "$st" = 127 ] || die "/proc/self/exe task: berth run exited $st, want 127"
[ "$(sha256sum < "$BERTH_BIN/berth")" = "$sum_before" ] || die "the berth binary changed"
say "/proc/self/exe in a container is the sealed berth-init"

# ------------------------------------------------------------ privileged (EC2)
cat > "$S/priv.json" <<JSON
{
  "family": "privileged",
  "requiresCompatibilities": ["EC2"],
  "networkMode": "none",
  "memory": "512",
  "containerDefinitions": [
    { "name": "priv", "image": "berth-test/helper", "privileged": true,
      "entryPoint": ["/bin/sh", "-c"],
      "command": ["/usr/bin/berth-testhelper info && mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && grep -q ' /mnt/t ' /proc/self/mountinfo && umount /mnt/t && echo MOUNTED"] }
  ]
}
JSON
out=$(run_berth "$S/priv.json" 2>&1) || die "privileged task failed: $out"
echo "$out" | grep -q '"CAP_SYS_ADMIN"' || die "privileged: no CAP_SYS_ADMIN: $out"
echo "$out" | grep -q '"no_new_privs":false' || die "privileged: no_new_privs set"
echo "$out" | grep -q '"seccomp":0' || die "privileged: a seccomp filter was loaded"
echo "$out" | grep -q 'priv | MOUNTED' || die "privileged container could not mount: $out"
# Fargate refuses privileged with ECS's rule
sed -e 's/"EC2"/"FARGATE"/' -e 's/"networkMode": "none"/"networkMode": "awsvpc", "cpu": "256"/' "$S/priv.json" > "$S/priv-fg.json"
out=$(run_berth --launch-type FARGATE "$S/priv-fg.json" 2>&1) && die "FARGATE accepted a privileged container"
say "fargate: $out"
echo "$out" | grep -q 'privileged' || die "FARGATE error does not name privileged: $out"
run_assert_clean
