# The task definitions in examples/ run as documented (this is also what the
# README's demo shows): hello prints its greeting and exits 0; in
# web-and-client the client waits for the web server's health check, fetches
# a page over the task's localhost, and its exit stops the task, the web
# server getting its stop signal.
# timeout: 120
run_setup
E=$BERTH_EXAMPLES
[ -f "$E/hello.json" ] || die "examples not staged at $E"

say "\$ berth run examples/hello.json"
out=$(run_berth "$E/hello.json" 2>&1)
st=$?
echo "$out" | sed 's/^/    /'
[ "$st" = 0 ] || die "hello exited $st"
echo "$out" | grep -q '^hello | {"argv":\["hello from a berth task"\]}' || die "hello did not greet"

say "\$ berth --json run examples/web-and-client.json"
run_berth_json "$E/web-and-client.json" > "$BERTH_SCRATCH/wc.json" 2> "$BERTH_SCRATCH/wc.err"
st=$?
sed 's/^/    /' "$BERTH_SCRATCH/wc.err"
sed 's/^/    /' "$BERTH_SCRATCH/wc.json"
[ "$st" = 0 ] || die "web-and-client exited $st"
grep -q 'web: health UNKNOWN -> HEALTHY' "$BERTH_SCRATCH/wc.err" || die "web never became HEALTHY"
grep -q '^client | ' "$BERTH_SCRATCH/wc.err" || die "client printed nothing"
grep -q '^web | {"signal":"SIGINT"' "$BERTH_SCRATCH/wc.err" || die "web did not get its stop signal (SIGINT)"
run_expect_j "$BERTH_SCRATCH/wc.json" stopCode EssentialContainerExited
run_expect_j "$BERTH_SCRATCH/wc.json" healthStatus web HEALTHY
run_expect_j "$BERTH_SCRATCH/wc.json" exitCode client 0
# the compiled seccomp filter is cached for the next task (runtime/container/seccomp.c)
ls "$RUN_ROOT"/cache/seccomp/*.bpf >/dev/null 2>&1 || die "no seccomp filter cached in $RUN_ROOT/cache/seccomp"
run_assert_clean
