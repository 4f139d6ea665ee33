# The malicious image suite (tests/images/mkevil.py, docs/images.md
# "Malicious images") as root on a real ext4 state dir: every crafted archive
# is refused with the expected reason (expect.txt), the store is left exactly
# empty, nothing beside it changes (a sentinel outside/ next to the state
# dir, aimed at by the relative escapes), no /berth-evil-* path appears,
# /etc/passwd is untouched and no mount is left. The clean controls import.
# Then OCI layout directories made hostile (a FIFO or a symlink where a file
# should be) get the same checks.
# timeout: 600
EVIL=$BERTH_IMAGES/evil
EXPECT=$EVIL/expect.txt
[ -f "$EXPECT" ] || die "no $EXPECT: build the evil-images target (tests/images)"
FS=$BERTH_SCRATCH/fs
ext4_dir "$FS" 256
BERTH=$BERTH_BIN/berth

# snap DIR: everything observable about DIR except DIR/state: names, type and
# mode, owner, size, mtime and ctime (ns; ctime catches xattrs, links, chmod),
# link count, inode, content, symlink target
snap() {
	(cd "$1" && find . -path ./state -prune -o -print | LC_ALL=C sort | while IFS= read -r p; do
		stat -c '%n %f %u:%g %s %y %z %h %i' "$p"
		if [ -L "$p" ]; then readlink "$p"; elif [ -f "$p" ]; then sha256sum < "$p"; fi
	done)
}
# sandbox N: a fresh case dir on the ext4 volume with the sentinel outside/
sandbox() {
	_d=$FS/$1
	mkdir -p "$_d/state" "$_d/outside/dir" || die "mkdir $_d"
	echo "outside the store" > "$_d/outside/sentinel"
	ln -s sentinel "$_d/outside/link"
	echo "$_d"
}
host_stat() { stat -c '%i %f %h %s %y %z' "$1" 2>/dev/null || echo absent; }

# what an opened, empty store looks like
ref=$(sandbox ref)
$BERTH --root "$ref/state" image ls >/dev/null || die "image ls on an empty root"
empty=$(cd "$ref/state" && find . | LC_ALL=C sort)

outside=$(sed -n 's/^outside|//p' "$EXPECT")
unchanged=$(sed -n 's/^unchanged|//p' "$EXPECT")
for o in $outside; do
	[ -e "$o" ] || [ -L "$o" ] && die "$o exists before the suite ran"
done

# check_import LABEL DIR SOURCE WANT [ARGS...]: import SOURCE into DIR/state
# (a sandbox); it must be refused with WANT in the error and leave nothing
failed=0
check_import() {
	label=$1 d=$2 src=$3 want=$4
	shift 4
	before=$(snap "$d")
	mounts=$(cat /proc/mounts)
	hosts=$(for u in $unchanged; do echo "$u $(host_stat "$u")"; done)
	errs=
	timeout 60 "$BERTH" --root "$d/state" image import "$@" "$src" </dev/null >"$BERTH_SCRATCH/out" 2>"$BERTH_SCRATCH/err"
	rc=$?
	[ "$rc" = 1 ] || errs="$errs; exit status $rc, want 1"
	grep -qF -- "$want" "$BERTH_SCRATCH/err" || errs="$errs; error lacks: $want"
	grep -qF -- "import $src" "$BERTH_SCRATCH/err" || errs="$errs; error does not name $src"
	grep -q imported "$BERTH_SCRATCH/out" && errs="$errs; stdout: $(cat "$BERTH_SCRATCH/out")"
	for s in blobs/sha256 layers images leases tmp; do
		[ -d "$d/state/images/$s" ] || { errs="$errs; store has no $s/"; continue; }
		left=$(ls -A "$d/state/images/$s")
		[ -z "$left" ] || errs="$errs; store $s/ not empty: $(echo $left | cut -c1-120)"
	done
	if [ -f "$d/state/images/refs.json" ] && grep -q : "$d/state/images/refs.json"; then
		errs="$errs; refs.json names images: $(cut -c1-120 "$d/state/images/refs.json")"
	fi
	got=$(cd "$d/state" && find . | grep -v '/refs\.json$' | LC_ALL=C sort)
	[ "$got" = "$empty" ] || errs="$errs; state dir is not an empty store: $(echo "$got" | grep -vxF "$empty" | head -3 | tr '\n' ' ')"
	after=$(snap "$d")
	[ "$after" = "$before" ] || errs="$errs; changed beside the store: $(printf '%s\n' "$after" | grep -vxF "$before" | head -3 | tr '\n' ' ')"
	[ "$(cat /proc/mounts)" = "$mounts" ] || errs="$errs; mounts changed: $(cat /proc/mounts | grep -vxF "$mounts" | tr '\n' ' ')"
	for o in $outside; do
		if [ -e "$o" ] || [ -L "$o" ]; then errs="$errs; $o exists"; rm -rf "$o"; fi
	done
	[ "$(for u in $unchanged; do echo "$u $(host_stat "$u")"; done)" = "$hosts" ] || errs="$errs; changed: $unchanged"
	if [ -n "$errs" ]; then
		say "FAIL $label${errs}"
		say "    berth said: $(cut -c1-400 "$BERTH_SCRATCH/err")"
		failed=$((failed + 1))
	else
		say "ok   $label: ...$(tr -d '\n' < "$BERTH_SCRATCH/err" | tail -c 150)"
	fi
	rm -rf "$d"
}

n=0
while IFS='|' read -r file args want; do
	case $file in outside|unchanged|control|'') continue ;; esac
	n=$((n + 1))
	# shellcheck disable=SC2086 # args are words (options and numbers)
	check_import "$file" "$(sandbox "case$n")" "$EVIL/$file" "$want" $args
done < "$EXPECT"
[ "$n" -ge 15 ] || die "expect.txt lists only $n cases"

for c in $(sed -n 's/^control|//p' "$EXPECT"); do
	d=$(sandbox "control-$c")
	out=$("$BERTH" --root "$d/state" image import "$EVIL/$c" 2>&1) || die "control $c does not import: $out"
	echo "$out" | grep -q "imported berth-evil/clean:latest" || die "control $c: $out"
	[ "$(ls "$d/state/images/layers" | grep -vc '\.json$')" = 2 ] || die "control $c: want 2 unpacked layers"
	"$BERTH" --root "$d/state" image ls | grep -q berth-evil/clean || die "control $c: not listed"
	say "ok   $c: clean control imports"
	rm -rf "$d"
done
# OCI layout directories made from the clean control, then made hostile:
# refused at once (a FIFO must not hang the import) and never read through
# a symlink (test_evil.py has the same cases)
mhex=$(tar -xOf "$EVIL/clean.oci.tar" index.json | sed -n 's/.*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p')
[ -n "$mhex" ] || die "no manifest digest in clean.oci.tar's index.json"
never="is a symlink or lies below one: files of an OCI layout are never read through symlinks"
layout_case() {   # NAME TAMPER WANT
	d=$(sandbox "$1")
	mkdir "$d/layout" && tar -xf "$EVIL/clean.oci.tar" -C "$d/layout" || die "unpack clean.oci.tar for $1"
	(cd "$d/layout" && eval "$2") || die "$1: $2"
	n=$((n + 1))
	check_import "$1" "$d" "$d/layout" "$3"
}
layout_case layout-index-fifo "rm index.json && mkfifo index.json" "index.json is not a regular file"
layout_case layout-oci-layout-fifo "rm oci-layout && mkfifo oci-layout" "oci-layout is not a regular file"
layout_case layout-manifest-fifo "rm blobs/sha256/$mhex && mkfifo blobs/sha256/$mhex" \
	"blobs/sha256/$mhex is not a regular file"
layout_case layout-index-symlink "rm index.json && ln -s /etc/passwd index.json" "index.json $never"
layout_case layout-blobs-symlink "mv blobs ../outside/blobs && ln -s ../outside/blobs blobs" \
	"blobs/sha256/$mhex $never"
layout_case layout-blob-symlinks "mkdir ../outside/copies && for b in blobs/sha256/*; do
	mv \$b ../outside/copies/ && ln -s ../../../outside/copies/\${b##*/} \$b || exit 1; done" \
	"blobs/sha256/$mhex $never"

grep -q "$FS/" /proc/mounts && die "mounts left under $FS: $(grep "$FS/" /proc/mounts)"
[ "$failed" = 0 ] || die "$failed of $n malicious archives and layouts were not handled as expected"
say "$n malicious archives and layouts refused, nothing left or touched"
