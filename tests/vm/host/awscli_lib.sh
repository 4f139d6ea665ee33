# tests/vm/host/awscli_lib.sh: what the host scripts that drive a guest
# berthd with the real AWS CLI v2 share. Sourced with HOST PORT KEY SECRET
# as the script's first four arguments:
#   . "$(dirname "$0")/awscli_lib.sh" "$@"
# Gives: ecs ARGS... (the CLI against the guest), fail MSG, ok MSG,
# py CODE [ARGS...] (CODE with stdin's JSON as d), expect_error TYPE CMD...
# (the command fails naming that exception) and a scratch dir $WORK.
set -euo pipefail
HOST=$1 PORT=$2
export AWS_ACCESS_KEY_ID=$3 AWS_SECRET_ACCESS_KEY=$4 AWS_DEFAULT_REGION=us-east-1
export AWS_PAGER="" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
AWS=/usr/bin/aws
[ -x $AWS ] || { echo "FAIL: $AWS missing (scripts/setup.sh installs Debian's awscli)"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

ecs() { $AWS --endpoint-url "http://$HOST:$PORT" --output json --cli-read-timeout 60 ecs "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
# jq-free JSON checks: py CODE [ARGS...] reads stdin as `d` (ARGS in sys.argv[1:])
py() { local c=$1; shift; /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); $c" "$@"; }
# expect_error TYPE CMD...: the CLI fails and names the exception
expect_error() {
	local want=$1; shift
	if "$@" >"$WORK/out" 2>"$WORK/err"; then fail "$* succeeded; expected $want"; fi
	grep -q "($want)" "$WORK/err" || fail "$*: expected ($want), got: $(cat "$WORK/err")"
	ok "$want from: ${*:2:3}"
}
# `aws ecs wait ...` with the CLI's own waiters (same operation, acceptors and
# total time), polling every second instead of every 6 or 15 s: a copy of
# the CLI's ECS waiter model with delay 1 (maxAttempts scaled to keep
# delay * maxAttempts) in a data path botocore searches first
/usr/bin/python3 - "$WORK/data/ecs/2014-11-13" <<'EOF' || fail "cannot set up the 1 s ECS waiters"
import json, os, sys, awscli
src = os.path.join(os.path.dirname(awscli.__file__), "botocore", "data", "ecs", "2014-11-13", "waiters-2.json")
with open(src) as f:
    m = json.load(f)
for w in m["waiters"].values():
    w["maxAttempts"] = w["delay"] * w["maxAttempts"]
    w["delay"] = 1
os.makedirs(sys.argv[1])
with open(os.path.join(sys.argv[1], "waiters-2.json"), "w") as f:
    json.dump(m, f)
EOF
export AWS_DATA_PATH=$WORK/data
