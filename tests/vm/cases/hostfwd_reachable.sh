# A host-side client reaches a server in the guest through QEMU's hostfwd on
# 127.0.0.1 (how the AWS CLI and boto3 will reach berthd in the guest).
# vm-only
# timeout: 90
[ -n "${BERTH_RESULT_TTY:-}" ] || die "needs the VM harness (HOSTCALL goes over its result port)"
"$HELPER" http-server --port 8080 --log-requests --body "guest-token-$$" > "$BERTH_SCRATCH/http.out" 2>&1 &
srv=$!
on_exit "kill $srv"
wait_until 10 grep -q listening "$BERTH_SCRATCH/http.out" || die "http-server did not start"
echo "HOSTCALL hostfwd_get guest-token-$$" > "$BERTH_RESULT_TTY"
# the host answers by POSTing nothing: it GETs /from-host/<token>; we see it in our own log
wait_until 60 grep -q "from-host" "$BERTH_SCRATCH/http.out" || die "no request from the host arrived: $(cat "$BERTH_SCRATCH/http.out")"
say "$(grep from-host "$BERTH_SCRATCH/http.out" | head -n 1)"
