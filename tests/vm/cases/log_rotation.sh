# Container log rotation (taskrun, docs/logs.md): a container with
# logConfiguration json-file max-size 64k / max-file 4 writes 3000 lines of
# 200 bytes as fast as it can (`spew`, ~800 KiB of records, a dozen
# rotations): exactly NAME.log and .1-.3 are left, each rotated file full
# to within one record of 64 KiB and none over it, NAME.log ends with the
# last line, and `berth logs` prints what is kept as one run of consecutive
# lines, oldest file first, ending at the last. max-file 1 keeps only
# NAME.log. With the default (10 MiB x 5), 20000 such lines (~5.4 MB) stay
# in one file, all of them, in order.
# timeout: 300
run_setup
S=$BERTH_SCRATCH
B=$BERTH_BIN/berth
# task ids as berth logs takes them (hex)
ROT=a0000000000000000000000000000001 ONE=a0000000000000000000000000000002
DFLT=a0000000000000000000000000000003
task() { # FAMILY LINES LOGCONFIG
	cat <<JSON
{ "family": "$1", "requiresCompatibilities": ["EC2"], "networkMode": "none",
  "containerDefinitions": [ { "name": "spew", "image": "berth-test/helper", "memory": 64,
    $3 "command": ["spew", "$2", "--bytes", "200"] } ] }
JSON
}
# size FILE: bytes; records FILE: stdout records in it; last FILE: its last stdout line's number
size() { wc -c < "$1" | tr -d ' '; }
records() { grep -c '"stream":"stdout"' "$1"; }
last_num() { grep '"stream":"stdout"' "$1" | tail -n 1 | sed -n 's/.*"log":"\([0-9]*\) .*/\1/p'; }
# consecutive FILE FIRST LAST: FILE's lines are "<10 digits> x..." numbered FIRST..LAST
consecutive() {
	awk -v first="$2" -v last="$3" '
		{ s = $1; sub(/^0+/, "", s); n = s + 0   # busybox awk reads 0...2200 as octal
		  if (NR == 1 && n != first) { print "first " n; bad = 1; exit }
		  if (NR > 1 && n != prev + 1) { print "after " prev ": " n; bad = 1; exit }
		  if (length($0) != 200) { print "line " n " has " length($0) " bytes"; bad = 1; exit }
		  prev = n }
		END { if (!bad && prev != last) { print "last " prev; bad = 1 } exit bad }' "$1"
}

# ---- 64k x 4: several rotations
task rot 3000 '"logConfiguration": { "logDriver": "json-file", "options": { "max-size": "64k", "max-file": "4" } },' > "$S/rot.json"
run_berth -q --task-id $ROT "$S/rot.json" > "$S/rot.out" 2>&1 || die "berth run rot: $(tail -n 5 "$S/rot.out")"
D=$RUN_LOGS/$ROT
ls "$D" > "$S/files"
[ "$(tr '\n' ' ' < "$S/files")" = "spew.log spew.log.1 spew.log.2 spew.log.3 " ] ||
	die "files in $D: $(tr '\n' ' ' < "$S/files") (want spew.log and .1-.3)"
rec=$(sed -n 1p "$D/spew.log.1" | wc -c | tr -d ' ')
[ "$rec" -gt 200 ] && [ "$rec" -lt 400 ] || die "a record is $rec bytes"
for f in spew.log.1 spew.log.2 spew.log.3; do
	n=$(size "$D/$f")
	[ "$n" -le 65536 ] || die "$f: $n bytes, over max-size 64k"
	[ "$n" -gt $((65536 - rec)) ] || die "$f: $n bytes: rotated before it was full"
done
[ "$(size "$D/spew.log")" -le 65536 ] || die "spew.log: $(size "$D/spew.log") bytes, over 64k"
[ "$(last_num "$D/spew.log")" = 0000003000 ] || die "spew.log does not end with line 3000: $(tail -n 1 "$D/spew.log")"
# the files are in order: each one starts right after the one before ended
prev=
for f in spew.log.3 spew.log.2 spew.log.1 spew.log; do
	first=$(grep -m 1 '"stream":"stdout"' "$D/$f" | sed -n 's/.*"log":"0*\([0-9][0-9]*\) .*/\1/p')
	[ -z "$prev" ] || [ "$first" = $((prev + 1)) ] || die "$f starts at line $first, the file before ended at $prev"
	prev=$(last_num "$D/$f" | sed 's/^0*//')
done
kept=0
for f in spew.log spew.log.1 spew.log.2 spew.log.3; do kept=$((kept + $(records "$D/$f"))); done
per=$((65536 / rec))
[ "$kept" -gt $((3 * per)) ] && [ "$kept" -le $((4 * per)) ] || die "$kept lines kept, want 3-4 files of $per"
"$B" logs --log-dir "$RUN_LOGS" $ROT > "$S/logs.out" 2> "$S/logs.err" || die "berth logs rot: $(cat "$S/logs.err")"
[ "$(wc -l < "$S/logs.out" | tr -d ' ')" = "$kept" ] || die "berth logs printed $(wc -l < "$S/logs.out") lines, the files hold $kept"
why=$(consecutive "$S/logs.out" $((3000 - kept + 1)) 3000) || die "berth logs across rotated files: $why"
grep -q '"spewed":3000' "$S/logs.err" || die "the stderr line is missing: $(cat "$S/logs.err")"
say "64k x 4: $kept of 3000 lines kept in 4 files of <= 64 KiB, berth logs prints lines $((3000 - kept + 1))-3000 in order"

# ---- max-file 1: only NAME.log, restarted at each rotation
task one 500 '"logConfiguration": { "logDriver": "json-file", "options": { "max-size": "16k", "max-file": "1" } },' > "$S/one.json"
run_berth -q --task-id $ONE "$S/one.json" > "$S/one.out" 2>&1 || die "berth run one: $(tail -n 5 "$S/one.out")"
[ "$(ls "$RUN_LOGS/$ONE")" = spew.log ] || die "max-file 1 left: $(ls "$RUN_LOGS/$ONE")"
[ "$(size "$RUN_LOGS/$ONE/spew.log")" -le 16384 ] || die "max-file 1: spew.log over 16k"
[ "$(last_num "$RUN_LOGS/$ONE/spew.log")" = 0000000500 ] || die "max-file 1: last line $(tail -n 1 "$RUN_LOGS/$ONE/spew.log")"

# ---- the default: 10 MiB x 5; 5.4 MB stays in one file
task dflt 20000 "" > "$S/dflt.json"
run_berth -q --task-id $DFLT "$S/dflt.json" > "$S/dflt.out" 2>&1 || die "berth run dflt: $(tail -n 5 "$S/dflt.out")"
[ "$(ls "$RUN_LOGS/$DFLT")" = spew.log ] || die "the default rotated: $(ls "$RUN_LOGS/$DFLT")"
n=$(size "$RUN_LOGS/$DFLT/spew.log")
[ "$n" -gt 5000000 ] && [ "$n" -le 10485760 ] || die "default: spew.log is $n bytes"
"$B" logs --log-dir "$RUN_LOGS" $DFLT > "$S/dflt.logs" 2>/dev/null || die "berth logs dflt"
why=$(consecutive "$S/dflt.logs" 1 20000) || die "default: berth logs: $why"
say "default: 20000 lines ($n bytes) in spew.log alone, all of them in order"
